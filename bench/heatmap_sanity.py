"""Sanity checks of the app's Grad-CAM heat map on a model with a planted cue ->
``bench/results/heatmap_sanity.json``.

    python -m bench.heatmap_sanity           # the protocol: about 4.3 CPU minutes, one thread
    python -m bench.heatmap_sanity --smoke   # a smoke run (about 25 CPU s): heatmap_sanity_smoke.json

What the app's heat map (``app/gradcam.py``) does on a model whose evidence is known, measured
through the package's own code: the bundle is :func:`app.demo_bundle.build_demo_bundle`'s
(the real bundle format, loaded by :func:`drac_ssl.grading.bundle.load_bundle`), the grades and
``layer4`` maps come from :func:`drac_ssl.grading.predict.ensemble_outputs` (the maps of every
view it ran) and the maps from the app's :class:`app.gradcam.FoldMapGradCAM` (what
:meth:`app.predict.Predictor.predict` calls) and, for another layer,
:class:`app.gradcam.EnsembleGradCAM`. The run checks, on every test image, flips on and off,
that the Predictor gives the bench's grade and map (:func:`predictor_agreement`), and stops with
a RuntimeError when one differs (:func:`require_predictor_agreement`; raised, not asserted, so
``python -O`` keeps the check); the figures of both combinations are those of the very maps
checked.

**The model.** Grey 224 px images (the DRAC models' input, a 7 x 7 ``layer4`` map, cells of 32
px) of a smooth random texture at a random brightness; grade 1 ("spot") when a bright disc
(radius 8 px, +110 grey levels) is planted, its cell drawn uniformly from the 49 and its
centre uniformly in that cell; grade 0 ("no spot") otherwise. The bundle's ResNet-18 backbone
is random-init and frozen (``finetune.freeze: frozen``, the default, trains the heads alone;
no pretrained backbone is at hand here), shared by 3 fold heads. Each fold's head is trained
on the other folds' images (a minimal loop: Adam, the fine-tuning's default learning rate
1e-3, cross-entropy, batches of 32, fixed seeds) on the shared backbone's ``layer4`` maps,
once with the ``conv`` head (the default: it reads the map) and once with the ``linear``
head (the pooled features). Out-of-fold accuracy and the accuracy on new images (the app's
grade: the 4 flips averaged, as the bundle's cross-validation) say whether the model uses
the cue. These are figures of this test model: they say nothing about a real bundle's maps.

**1. Does the map find the cue?** On new images with the cue, the app's map explaining grade 1:
Grad-CAM of the score the grade uses, the folds' mean logit over the grade's views
(:attr:`app.predict.Predictor.map_flips`: with the flip TTA the bundle's cross-validation used,
the 4 views, each view's signed map flipped back, averaged before the ReLU; ``app_map_views``
in the result): its peak cell (the hottest of
the 7 x 7; an empty map, no positive cell, has none and counts as a miss) is a hit when it lies
within one cell of the cue's cell (Chebyshev distance <= 1, the king's move); also on the cue's
own cell, and the signed offsets of the peak from the cue (:func:`peak_offsets`). Chance: a
uniformly random peak lies within one cell of a uniformly random cue cell in 361 of 2401
pairs on 7 x 7 (:func:`chance_within_one_cell`), a map with a fixed habit (its peak always on
one inner cell) in at most 9 of 49 (:func:`habit_within_one_cell`, the worst case); the tests
are one-sided and exact, binomial against each rate, and Poisson-binomial against each image's
own chance (the neighbours of its cue's cell over 49). Also the mean pairwise Pearson
correlation of the maps of different images (an image-independent spatial habit raises it;
the cues are at random places).

**Where a cell looks.** The receptive field of ``layer4`` cell i is centred near ``32 i`` px,
half a cell up and left of the cell's centre ``32 i + 15.5`` (the convolution arithmetic;
measured: :func:`receptive_field_centre`, ``receptive_field`` in the result), so the identity
view's peak tends to sit a cell below / right of a spot in the lower / right half of its cell;
a flipped view's receptive fields lean the other way, and un-flipped and averaged with the
identity view's the two leanings cancel.

**The combinations**, on the same images (:func:`combinations`): the identity view alone, the
4 flipped views averaged (:func:`app.gradcam.combine_cams` with the flip TTA's views, each
view's signed map un-flipped, pre-ReLU maps averaged, as the grade averages the views: the
app's map with flip TTA), and
the fold combination used before 2026-12-05 (each fold's own map of the identity view scaled
to its maximum, then averaged); per combination the peaks on the cue's cell and within one
cell of it, their signed row and column offsets, empty maps, the maps' correlation, and for
the old combination how far the folds' raw maxima differ.

**2. Model randomisation** (the cascading randomisation of Adebayo et al. 2018, "Sanity
Checks for Saliency Maps", NeurIPS): the trained model's map against the map after
re-initialising the heads, then also ``layer4``, ``layer3``, ``layer2``, ``layer1`` and the
stem, top-down (fresh weights from the package's own builders, another seed). Per step, over
the images: the Spearman rank correlation of each image's map with the trained model's (the
signed cells, their absolute value, and the map as shown: ReLU, divided by its maximum), the
SSIM of the shown maps drawn at 224 px as the app draws a coarse map (nearest; MONAI's
``SSIMMetric``), the empty maps, and the hits. A map that does not change when the weights it
should depend on are replaced fails the check: by the bench's own rule (not the paper's, which
sets no threshold) a step passes when the median absolute Spearman correlation of the signed
maps is below 0.5 (:data:`PASS_BELOW`): an inverted but structured map (a correlation near -1)
passes no more than an unchanged one.

**3. Which layer (conv head).** The hottest cell of the map at ``layer4`` (the app's layer)
and at ``head.conv`` (the head's last convolution, the usual Grad-CAM choice; the app's
per-model :class:`app.gradcam.EnsembleGradCAM`), each of the identity view and of the 4 flips
averaged, and by occlusion (each cell in turn painted with the image's median grey; the cell
whose painting lowers the identity view's mean logit of grade 1 most: occluding whole cells of
the grid has no half-cell lean; MONAI's ``OcclusionSensitivity``, :func:`occlusion_drops`): the
images whose hottest cell is the cue's own cell (chance 1 in 49) and within one cell of it, and
the signed offsets.

Departures from the protocol (any of ``--train-images``, ``--test-images``, ``--layer-images``,
``--random-images``, ``--epochs``, ``--image-size``, or ``--smoke``) are a smoke run: the result
goes to ``heatmap_sanity_smoke.json`` with ``"smoke": true``. Deterministic: fixed
seeds, one torch and OpenCV thread.
"""

from __future__ import annotations

import argparse
import copy
import math
import tempfile
import time
import warnings
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.common import RESULTS, smoke_fields, smoke_result_name, write_result
from drac_ssl.starting import python_command

if TYPE_CHECKING:
    import torch

    from drac_ssl.grading.bundle import Bundle

IMAGE_SIZE = 224
"""The model input (px): the DRAC models', whose ``layer4`` map is 7 x 7 cells of 32 px."""
CELL_PX = 32
"""A ``layer4`` cell's side (px of the model input): a ResNet's stride there."""
FOLDS = 3
GRADE_NAMES = ("no spot", "spot")
CUE = 1
"""The grade of an image with the cue, and the grade each map explains."""
SPOT_RADIUS = 8
"""The planted spot's radius (px)."""
SPOT_CONTRAST = 110.0
"""How much brighter the spot is than the texture under it (grey levels)."""
HEADS = ("conv", "linear")
TRAIN_IMAGES = 480
"""Training images (half with the cue), each in one of :data:`FOLDS` folds."""
TEST_IMAGES = 96
"""New images with the cue (localisation), and as many without (accuracy)."""
LAYER_IMAGES = 24
"""Images with the cue of the layer comparison (occlusion: 49 forward passes each)."""
RANDOM_IMAGES = 32
"""Images with the cue of the randomisation check."""
EPOCHS = 30
LR = 1e-3
BATCH = 32
SEED = 0
PASS_BELOW = 0.5
"""A randomisation step passes when the median absolute Spearman correlation of the signed
maps with the trained model's falls below this (the map changed with the weights; an inverted
map has not): the bench's own rule."""
CASCADE = ("head", "backbone.layer4", "backbone.layer3", "backbone.layer2", "backbone.layer1",
           "backbone.stem")
"""The cascading randomisation's steps, top-down; ``backbone.stem`` is ``conv1`` and ``bn1``."""


# --------------------------------------------------------------------------------------
# Pure helpers


def chebyshev(a: Sequence[int], b: Sequence[int]) -> int:
    """The Chebyshev (king's move) distance between two cells ``(row, column)``."""
    return max(abs(int(a[0]) - int(b[0])), abs(int(a[1]) - int(b[1])))


def within_one_cell(peak: Sequence[int] | None, cue: Sequence[int]) -> bool:
    """Whether the map's peak cell lies within one cell of the cue's (Chebyshev <= 1); an
    empty map (``peak`` None) never does."""
    return peak is not None and chebyshev(peak, cue) <= 1


def neighbourhood(cell: Sequence[int], grid: Sequence[int]) -> int:
    """How many cells of a ``grid`` ``(h, w)`` lie within one cell of ``cell`` (itself
    included): 9 inside, 6 on an edge, 4 in a corner."""
    h, w = int(grid[0]), int(grid[1])
    r, c = int(cell[0]), int(cell[1])
    if not (0 <= r < h and 0 <= c < w):
        raise ValueError(f"cell {tuple(cell)} is outside a {h} x {w} grid")
    return (min(r + 1, h - 1) - max(r - 1, 0) + 1) * (min(c + 1, w - 1) - max(c - 1, 0) + 1)


def chance_within_one_cell(grid: Sequence[int]) -> Fraction:
    """The exact chance that a uniformly random peak cell lies within one cell of a uniformly
    random cue cell on ``grid`` ``(h, w)``: the pairs within one cell over all pairs (361 /
    2401 on 7 x 7)."""
    h, w = int(grid[0]), int(grid[1])
    pairs = sum(neighbourhood((r, c), grid) for r in range(h) for c in range(w))
    return Fraction(pairs, (h * w) ** 2)


def habit_within_one_cell(grid: Sequence[int]) -> Fraction:
    """The largest chance that a map with a fixed habit (its peak always on one cell, whatever
    the image) lies within one cell of a uniformly random cue cell on ``grid`` ``(h, w)``: the
    largest neighbourhood over the cells (9 / 49 on 7 x 7: a peak fixed on an inner cell), the
    worst case of a map that ignores the image, against :func:`chance_within_one_cell`'s
    uniformly random peak."""
    h, w = int(grid[0]), int(grid[1])
    return Fraction(max(neighbourhood((r, c), grid) for r in range(h) for c in range(w)), h * w)


def peak_offsets(peaks: Sequence[Sequence[int] | None], cues: Sequence[Sequence[int]]) -> dict[str, Any]:
    """The signed offsets of the peak cells from the cue cells, ``peak - cue`` in cells (row: +1
    is one cell below the cue; column: +1 one cell to its right), over the non-empty maps:
    ``row`` and ``column`` count each offset (``{"-1": 11, "0": 69, "+1": 16}``),
    ``mean_row`` / ``mean_column`` their means (None without a peak), ``n`` the peaks counted.
    A map whose peak sits half a cell off its cue leans one way: more ``+1`` than ``-1``."""
    pairs = [(int(p[0]) - int(c[0]), int(p[1]) - int(c[1]))
             for p, c in zip(peaks, cues, strict=True) if p is not None]

    def counts(values: list[int]) -> dict[str, int]:
        return {(f"+{v}" if v > 0 else str(v)): values.count(v) for v in sorted(set(values))}

    rows, cols = [r for r, _ in pairs], [c for _, c in pairs]
    return {"n": len(pairs), "row": counts(rows), "column": counts(cols),
            "mean_row": _r(float(np.mean(rows))) if rows else None,
            "mean_column": _r(float(np.mean(cols))) if cols else None}


def poisson_binomial_tail(probabilities: Sequence[float], k: int) -> float:
    """``P(X >= k)`` for X the number of successes of independent trials with the given
    success ``probabilities``: the sum of SciPy's exact Poisson-binomial probabilities
    (``scipy.stats.poisson_binom(...).pmf``) from ``k`` to the number of trials; 1 for ``k`` <= 0.
    Not SciPy's ``sf``: in SciPy 1.17 it is one minus the distribution function, so a tail
    below about 1e-15 comes out as 0 or as rounding noise (the conv head's 89 of 96 peaks,
    1.65e-64, gave 0.0)."""
    from scipy.stats import poisson_binom

    n = len(probabilities)
    if int(k) <= 0:
        return 1.0
    if int(k) > n:
        return 0.0
    pmf = poisson_binom(list(probabilities)).pmf(np.arange(int(k), n + 1))
    return float(min(1.0, np.sum(pmf)))


def peak_cell(heat: np.ndarray) -> tuple[int, int] | None:
    """The hottest cell ``(row, column)`` of a map ``(h, w)`` (the first in reading order on
    a tie); None for an empty map (no cell above 0)."""
    a = np.asarray(heat, dtype=np.float64)
    if not a.size or float(a.max()) <= 0.0:
        return None
    r, c = np.unravel_index(int(np.argmax(a)), a.shape)
    return int(r), int(c)


def mean_pairwise_correlation(maps: Sequence[np.ndarray]) -> tuple[float | None, int]:
    """The mean Pearson correlation over all pairs of ``maps`` (each flattened), and how many
    maps entered (a constant map, e.g. empty, has no correlation and is left out); None with
    fewer than two."""
    rows = [np.asarray(m, dtype=np.float64).ravel() for m in maps]
    rows = [r for r in rows if r.std() > 0]
    if len(rows) < 2:
        return None, len(rows)
    corr = np.corrcoef(np.stack(rows))
    return float(corr[np.triu_indices(len(rows), 1)].mean()), len(rows)


def cue_image(rng: np.random.Generator, cue: bool, size: int = IMAGE_SIZE,
              cells: int = 7) -> tuple[np.ndarray, tuple[int, int] | None]:
    """A grey uint8 image ``(size, size)``: a smooth random texture at a random brightness,
    with, when ``cue``, a bright disc (:data:`SPOT_RADIUS`, :data:`SPOT_CONTRAST`) whose cell
    of a ``cells`` x ``cells`` grid is drawn uniformly and its centre uniformly in that cell.
    Returns the image and the cue's cell ``(row, column)`` (None without a cue)."""
    import cv2

    texture = rng.normal(0.0, 1.0, (max(2, size // 16),) * 2).astype(np.float32)
    image = (cv2.resize(texture, (size, size), interpolation=cv2.INTER_CUBIC) * 18.0
             + rng.uniform(60.0, 140.0) + rng.normal(0.0, 10.0, (size, size)))
    cell = None
    if cue:
        step = size / cells
        cell = (int(rng.integers(0, cells)), int(rng.integers(0, cells)))
        cy, cx = (cell[0] + rng.uniform()) * step, (cell[1] + rng.uniform()) * step
        yy, xx = np.mgrid[0:size, 0:size]
        image = np.where((yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2 <= SPOT_RADIUS ** 2,
                         image + SPOT_CONTRAST, image)
    return np.clip(np.round(image), 0, 255).astype(np.uint8), cell


def binomial_upper_p(hits: int, n: int, p: float) -> float:
    """One-sided exact binomial p-value ``P(X >= hits)``, X ~ Binomial(n, p)."""
    from scipy.stats import binomtest

    return float(binomtest(int(hits), int(n), float(p), alternative="greater").pvalue)


def shown_cells(cam: Any) -> np.ndarray:
    """The map as the app shows it, at its cells ``(h, w)``: ``ReLU(signed)`` divided by its
    maximum (:func:`app.gradcam.combine_cams` before the upsampling), all zeros when empty."""
    cells = np.maximum(np.asarray(cam.signed, dtype=np.float64), 0.0)
    return cells / cam.raw_max if cam.raw_max > 0 else np.zeros_like(cells)


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), digits)


def _p(x: float) -> float:
    """A p-value to 3 significant digits (a small one stays visible: 2.5e-37, not 0.0)."""
    return float(f"{float(x):.3g}")


def _spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, quartiles, mean and count of the finite ``values``."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if not v.size:
        return {"n": 0, "median": None, "q1": None, "q3": None, "mean": None}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"n": int(v.size), "median": _r(med), "q1": _r(q1), "q3": _r(q3), "mean": _r(v.mean())}


# --------------------------------------------------------------------------------------
# The model


def _bundle(root: Path, head: str, folds: int, image_size: int) -> Bundle:
    from app.demo_bundle import build_demo_bundle
    from drac_ssl.grading.bundle import load_bundle

    return load_bundle(build_demo_bundle(root / head, image_size=image_size, source_size=image_size,
                                         n_folds=folds, head=head, seed=SEED,
                                         grade_names=GRADE_NAMES, channels=1))


def _inputs(bundle: Bundle, images: Sequence[np.ndarray]) -> torch.Tensor:
    import torch

    from drac_ssl.grading.predict import preprocess_image

    return torch.stack([preprocess_image(a, bundle.metadata) for a in images])


def _layer4_maps(bundle: Bundle, x: torch.Tensor) -> torch.Tensor:
    """The shared backbone's ``layer4`` maps ``(n, C, h, w)`` of inputs ``x`` (the prediction
    pass's own, :func:`ensemble_outputs` with ``keep_maps``, no flips), contiguous, on the CPU."""
    import torch

    from drac_ssl.grading.predict import ensemble_outputs

    parts = []
    for start in range(0, len(x), BATCH):
        out = ensemble_outputs(bundle, x[start:start + BATCH], tta=False, keep_maps=True)
        parts.append(_kept_maps(out)[0][:, 0].detach().cpu().contiguous(memory_format=torch.contiguous_format).clone())
    return torch.cat(parts)


def _kept_maps(out: Any) -> list[torch.Tensor]:
    """The ``layer4`` maps of :func:`ensemble_outputs` called with ``keep_maps``; a RuntimeError
    when it kept none (the bench reads every view's map)."""
    if out.maps is None:
        raise RuntimeError("ensemble_outputs(..., keep_maps=True) returned no maps: the heatmap bench "
                           "needs every fold model's layer4 maps of every view")
    return out.maps


def train_heads(bundle: Bundle, maps: torch.Tensor, grades: np.ndarray, fold_of: np.ndarray,
                epochs: int) -> dict[str, Any]:
    """Train each fold model's head in place on the ``layer4`` ``maps`` of the images of the
    other folds (``fold_of``); the backbone stays frozen. Returns the out-of-fold accuracy and
    the last epoch's mean training loss per fold."""
    import torch
    import torch.nn.functional as F

    y = torch.as_tensor(grades, dtype=torch.long)
    folds = []
    correct = 0
    for k, model in enumerate(bundle.models):
        head = model.head
        torch.manual_seed(SEED + 100 + k)
        head.train()
        for p in head.parameters():
            p.requires_grad_(True)
        opt = torch.optim.Adam(head.parameters(), lr=LR)
        rows = np.flatnonzero(fold_of != k)
        order = np.random.default_rng(SEED + 200 + k)
        losses: list[float] = []
        for _ in range(epochs):
            losses = []
            perm = rows[order.permutation(len(rows))]
            for start in range(0, len(perm), BATCH):
                b = torch.as_tensor(perm[start:start + BATCH])
                loss = F.cross_entropy(head(model.features_from_map(maps[b])), y[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
        head.eval()
        for p in head.parameters():
            p.requires_grad_(False)
        val = torch.as_tensor(np.flatnonzero(fold_of == k))
        with torch.no_grad():
            hit = int((head(model.features_from_map(maps[val])).argmax(1) == y[val]).sum())
        correct += hit
        folds.append({"fold": k, "n_val": len(val), "val_accuracy": _r(hit / max(1, len(val))),
                      "last_epoch_loss": _r(float(np.mean(losses)) if losses else None)})
    return {"out_of_fold_accuracy": _r(correct / len(grades)), "folds": folds}


IDENTITY: tuple[tuple[int, ...], ...] = ((),)
"""The identity view alone, as :func:`app.gradcam.combine_cams` takes it."""


def _prediction_pass(bundle: Bundle, images: Sequence[np.ndarray], tta: bool
                     ) -> tuple[list[list[torch.Tensor]], np.ndarray]:
    """What :meth:`app.predict.Predictor.predict` computes before its map, for each of
    ``images``: each fold model's ``layer4`` maps of the views, ``(V, C, h, w)`` (V = 4 with
    ``tta``, view v flipped along ``TTA_FLIPS[v]``, identity first; :func:`ensemble_outputs`
    with ``keep_maps``), and the grades of the same pass (the bundle's calibration, the views
    averaged as the grade averages them)."""
    from drac_ssl.grading.predict import ensemble_outputs

    x = _inputs(bundle, images)
    views, grades = [], []
    for start in range(0, len(x), BATCH):
        out = ensemble_outputs(bundle, x[start:start + BATCH], tta=tta, keep_maps=True)
        _, _, classes = bundle.calibration.decide(out.raw)
        grades.extend(int(g) for g in classes)
        maps = _kept_maps(out)
        views.extend([m[i] for m in maps] for i in range(len(classes)))
    return views, np.asarray(grades)


def _maps_of(cam: Any, views: Sequence[Sequence[torch.Tensor]], flips: Sequence[Sequence[int]],
             size: Sequence[int]) -> list[Any]:
    """Each image's map explaining :data:`CUE` (:class:`app.gradcam.CamMap`) from its views'
    maps (:func:`_prediction_pass`): the first ``len(flips)`` views, flipped along ``flips``
    (``IDENTITY``: the identity view alone; ``TTA_FLIPS``: the 4 views, un-flipped and averaged)."""
    return [cam.from_maps([m[:len(flips)] for m in per_fold], CUE, tuple(size), flips) for per_fold in views]


def _said_of(cells: Sequence[np.ndarray], cues: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """Of shown maps ``(h, w)`` (:func:`shown_cells`) and their cues: peaks on the cue's cell and
    within one cell of it, empty maps, the signed offsets of the peaks (:func:`peak_offsets`) and
    the maps' mean pairwise correlation."""
    peaks = [peak_cell(c) for c in cells]
    corr, used = mean_pairwise_correlation(cells)
    return {"hits_on_the_cue_cell": int(sum(p is not None and tuple(p) == tuple(c)
                                            for p, c in zip(peaks, cues, strict=True))),
            "hits_within_one_cell": int(sum(within_one_cell(p, c) for p, c in zip(peaks, cues, strict=True))),
            "empty_maps": sum(p is None for p in peaks),
            "peak_minus_cue": peak_offsets(peaks, cues),
            "mean_pairwise_correlation_of_maps": _r(corr), "maps_correlated": used}


def localisation(maps: Sequence[Any], cues: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """Hits (peak within one cell of the cue), empty maps, the exact tests against chance (a
    uniformly random peak, and the worst case of a fixed habit, :func:`habit_within_one_cell`),
    the mean distance and the signed offsets of the peak from the cue, and the maps' mean
    pairwise correlation."""
    grid = tuple(maps[0].cells)
    peaks = [peak_cell(shown_cells(m)) for m in maps]
    hits = [within_one_cell(p, c) for p, c in zip(peaks, cues, strict=True)]
    exact = [p is not None and tuple(p) == tuple(c) for p, c in zip(peaks, cues, strict=True)]
    n = len(maps)
    chance = chance_within_one_cell(grid)
    habit = habit_within_one_cell(grid)
    own = [neighbourhood(c, grid) / (grid[0] * grid[1]) for c in cues]
    corr, used = mean_pairwise_correlation([shown_cells(m) for m in maps])
    distances = [chebyshev(p, c) for p, c in zip(peaks, cues, strict=True) if p is not None]
    return {"n": n, "grid": list(grid), "views": int(maps[0].views), "hits_within_one_cell": int(sum(hits)),
            "rate_within_one_cell": _r(sum(hits) / n),
            "hits_on_the_cue_cell": int(sum(exact)), "rate_on_the_cue_cell": _r(sum(exact) / n),
            "empty_maps": sum(p is None for p in peaks),
            "chance_within_one_cell": f"{chance.numerator}/{chance.denominator}",
            "chance_rate": _r(float(chance)),
            "chance_rate_of_these_cues": _r(float(np.mean(own))),
            "p_binomial_vs_chance": _p(binomial_upper_p(sum(hits), n, float(chance))),
            "p_poisson_binomial_vs_these_cues": _p(poisson_binomial_tail(own, sum(hits))),
            "habit_within_one_cell_worst_case": f"{habit.numerator}/{habit.denominator}",
            "habit_rate_worst_case": _r(float(habit)),
            "p_binomial_vs_habit_worst_case": _p(binomial_upper_p(sum(hits), n, float(habit))),
            "p_on_the_cue_cell_vs_1_in_cells": _p(binomial_upper_p(sum(exact), n, 1 / (grid[0] * grid[1]))),
            "mean_chebyshev_distance_peak_to_cue": _r(float(np.mean(distances)) if distances else None),
            "peak_minus_cue": peak_offsets(peaks, cues),
            "mean_pairwise_correlation_of_maps": _r(corr), "maps_correlated": used}


def combinations(bundle: Bundle, output: str, identity_views: Sequence[Sequence[torch.Tensor]],
                 identity_maps: Sequence[Any], flip_maps: Sequence[Any], cues: Sequence[tuple[int, int]],
                 size: Sequence[int]) -> dict[str, Any]:
    """The app's choices of combination, on the same images: the identity view alone
    (``identity_maps``, :func:`_maps_of` the maps of a pass without flips, ``identity_views``)
    against the 4 flipped views averaged (``flip_maps``, of a pass with the flips:
    :func:`app.gradcam.combine_cams` with :data:`TTA_FLIPS`, each view's signed map un-flipped,
    pre-ReLU maps averaged, as the grade averages the views), the very maps
    :func:`predictor_agreement` checked cell by cell against the Predictor's, flips off and on;
    and the fold combination used before 2026-12-05 (each fold's own map
    of the identity view, :class:`app.gradcam.FoldMapGradCAM` of that fold alone, scaled to its
    maximum, then averaged) against Grad-CAM of the mean logit. Per combination
    (:func:`_said_of`): peaks on the cue's cell and within one cell of it, empty maps, the
    signed offsets of the peaks, the maps' mean pairwise correlation; for the folds also each
    image's correlation of the old map with the identity view's Grad-CAM of the mean logit,
    the ratio of the folds' largest to smallest raw maximum (median over the images whose
    every fold map is lit) and the fold maps that were empty."""
    from app.gradcam import FoldMapGradCAM

    if {int(m.views) for m in identity_maps} != {1} or {int(m.views) for m in flip_maps} != {4}:
        raise ValueError("combinations: identity_maps must be maps of the identity view alone and flip_maps "
                         "of the 4 flipped views averaged (_maps_of with IDENTITY and TTA_FLIPS)")
    fold_cams = [FoldMapGradCAM([model], output) for model in bundle.models]
    identity = [shown_cells(m) for m in identity_maps]
    flipped = [shown_cells(m) for m in flip_maps]
    old, with_identity, ratios = [], [], []
    empty_fold_maps = 0
    for per_fold, mean_map in zip(identity_views, identity, strict=True):
        maps = [c.from_maps([m[:1]], CUE, tuple(size)) for c, m in zip(fold_cams, per_fold, strict=True)]
        empty_fold_maps += sum(m.raw_max <= 0 for m in maps)
        maxima = [m.raw_max for m in maps]
        if min(maxima) > 0:
            ratios.append(max(maxima) / min(maxima))
        old.append(np.mean([shown_cells(m) for m in maps], axis=0))
        pair = (mean_map.ravel(), old[-1].ravel())
        with_identity.append(float(np.corrcoef(*pair)[0, 1]) if min(np.ptp(v) for v in pair) > 0 else float("nan"))
    return {"n": len(cues),
            "identity_view": _said_of(identity, cues),
            "four_flips_averaged": _said_of(flipped, cues),
            "folds_scaled_then_averaged_before_2026_12_05": {
                **_said_of(old, cues), "views": "the identity view",
                "correlation_with_the_identity_views_map": _spread(with_identity),
                "fold_raw_max_ratio_largest_to_smallest": _spread(ratios),
                "empty_fold_maps": int(empty_fold_maps), "fold_maps": len(cues) * len(bundle.models)}}


def predictor_agreement(bundle: Bundle, images: Sequence[np.ndarray], tta: bool, maps: Sequence[Any],
                        grades: np.ndarray) -> dict[str, Any]:
    """Whether :meth:`app.predict.Predictor.predict` (flip TTA ``tta``, explaining
    :data:`CUE`) gives each of ``images`` the bench's grade and map: the page's heatmap (the
    model input's size here: no crop, a coarse map drawn as its cells) read at each cell's
    centre against the bench's shown map (:func:`shown_cells`, to 1e-5). Counts of the images
    that agree."""
    from app.predict import Predictor

    predictor = Predictor(bundle, tta=tta)
    same_grade = same_map = 0
    for image, cam, grade in zip(images, maps, grades, strict=True):
        said = predictor.predict(image, explain=CUE)
        step = image.shape[0] // cam.cells[0]  # a cell's pixels
        same_grade += int(said.grade == int(grade))
        same_map += int(said.heatmap is not None and bool(np.allclose(
            said.heatmap[step // 2::step, step // 2::step], shown_cells(cam), atol=1e-5)))
    return {"n": len(images), "tta": tta, "same_grade": same_grade, "same_map": same_map}


def require_predictor_agreement(said: dict[str, Any]) -> None:
    """Stop the bench when :func:`predictor_agreement`'s counts ``said`` show an image whose
    Predictor grade or map differs from the bench's: a RuntimeError naming the counts (the
    figures would not be the app's). Raised, not asserted: ``python -O`` strips asserts."""
    if said["same_grade"] != said["n"] or said["same_map"] != said["n"]:
        raise RuntimeError(f"the Predictor's grade or map differs from the bench's on "
                           f"{said['n'] - min(said['same_grade'], said['same_map'])} of {said['n']} images "
                           f"(flip TTA {said['tta']}): {said}; the bench's figures would not be the app's map's")


def receptive_field_centre(bundle: Bundle, images: Sequence[np.ndarray], cell: Sequence[int]) -> dict[str, Any]:
    """Where the input pixels that move ``layer4`` cell ``cell`` ``(row, column)`` lie: the
    centroid of ``|d sum_c A_c[cell] / d input|`` over ``images`` (the shared backbone, eval
    mode; pixel (0, 0) the top-left pixel's centre), against the cell's own centre
    (``32 i + 15.5`` px). By the convolution arithmetic (each stride-2 stage's 3 x 3 kernel with
    padding 1, the stem's 7 x 7 with 3) the receptive field of cell i is centred at ``32 i``:
    half a cell up and left of the cell's centre."""
    import torch

    from drac_ssl.grading.model import FEATURE_STAGE

    backbone = bundle.shared_backbone
    if backbone is None:
        raise RuntimeError("receptive_field_centre needs a bundle whose folds share one frozen backbone "
                           "(Bundle.shared_backbone)")
    x = _inputs(bundle, images).clone().requires_grad_(True)
    with torch.enable_grad():
        fmap = backbone.forward_until(x, FEATURE_STAGE)
        (grad,) = torch.autograd.grad(fmap[:, :, int(cell[0]), int(cell[1])].sum(), x)
    weight = grad.detach().abs().sum(dim=(0, 1)).double().numpy()  # (S, S)
    rows, cols = np.mgrid[0:weight.shape[0], 0:weight.shape[1]]
    total = float(weight.sum())
    step = weight.shape[0] / fmap.shape[-2]
    return {"cell": [int(cell[0]), int(cell[1])], "images": len(images),
            "centre_px": [_r(float((rows * weight).sum() / total), 1), _r(float((cols * weight).sum() / total), 1)],
            "cell_centre_px": [_r(int(cell[0]) * step + step / 2 - 0.5, 1), _r(int(cell[1]) * step + step / 2 - 0.5, 1)],
            "by_the_arithmetic_px": [int(cell[0]) * step, int(cell[1]) * step],
            "how": "centroid of |d sum_c layer4[c, cell] / d input| (row, column; pixel centres at integers)"}


# --------------------------------------------------------------------------------------
# Model randomisation


def _reinitialise(bundle: Bundle, step: str, seed: int) -> None:
    """Replace the weights of ``step`` (:data:`CASCADE`) in every fold model of ``bundle`` (in
    place; the shared backbone once) by fresh ones from the package's own builders."""
    import torch

    from drac_ssl.grading.model import ModelSpec

    model_spec = ModelSpec.from_dict(bundle.metadata["model"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if step == "head":
            for model in bundle.models:
                model.head.load_state_dict(model_spec.build_head().state_dict())
            return
        fresh = model_spec.build_backbone()
    names = ["conv1", "bn1"] if step == "backbone.stem" else [step.split(".", 1)[1]]
    done: set[int] = set()
    for model in bundle.models:
        if id(model.backbone) in done:
            continue
        done.add(id(model.backbone))
        for name in names:
            target = model.backbone.get_submodule(name)
            target.load_state_dict(fresh.get_submodule(name).state_dict())


def _ssim_of_shown(a: np.ndarray, b: np.ndarray, size: int) -> float:
    """SSIM (MONAI's, data range 1) of two shown maps ``(h, w)`` drawn at ``size`` px as the app
    draws a coarse map (nearest)."""
    import torch
    from monai.metrics import SSIMMetric

    from app.gradcam import cam_upsampler

    up = cam_upsampler((size, size))
    pair = [up(torch.as_tensor(m, dtype=torch.float32)[None, None]) for m in (a, b)]
    return float(SSIMMetric(spatial_dims=2, data_range=1.0)(pair[0], pair[1]).item())


def randomisation(bundle: Bundle, images: Sequence[np.ndarray], cues: Sequence[tuple[int, int]],
                  output: str, flips: Sequence[Sequence[int]]) -> dict[str, Any]:
    """Cascading randomisation (:data:`CASCADE`) of a copy of ``bundle``: per step, each
    image's map (the app's: the views ``flips`` averaged) against the trained model's. A step
    passes when the median absolute Spearman correlation of the signed maps is below
    :data:`PASS_BELOW` (the bench's own rule): an inverted map (a correlation near -1) has not
    lost its structure, and passes no more than an unchanged one."""
    from scipy.stats import spearmanr

    from app.gradcam import FoldMapGradCAM

    size = tuple(_inputs(bundle, images[:1]).shape[-2:])
    tta = len(flips) > 1
    trained = _maps_of(FoldMapGradCAM(bundle.models, output), _prediction_pass(bundle, images, tta)[0], flips, size)
    work = copy.deepcopy(bundle)
    steps = []
    for i, step in enumerate(CASCADE):
        _reinitialise(work, step, SEED + 1000 + i)
        maps = _maps_of(FoldMapGradCAM(work.models, output), _prediction_pass(work, images, tta)[0], flips, size)
        signed = [float(spearmanr(t.signed.ravel(), m.signed.ravel()).statistic)
                  if np.ptp(t.signed) > 0 and np.ptp(m.signed) > 0 else float("nan")
                  for t, m in zip(trained, maps, strict=True)]
        shown = [float(spearmanr(shown_cells(t).ravel(), shown_cells(m).ravel()).statistic)
                 if np.ptp(shown_cells(t)) > 0 and np.ptp(shown_cells(m)) > 0 else float("nan")
                 for t, m in zip(trained, maps, strict=True)]
        ssim = [_ssim_of_shown(shown_cells(t), shown_cells(m), size[0]) for t, m in zip(trained, maps, strict=True)]
        hits = sum(within_one_cell(peak_cell(shown_cells(m)), c) for m, c in zip(maps, cues, strict=True))
        absolute = _spread([abs(v) for v in signed])
        steps.append({"randomised_up_to": step, "spearman_signed": _spread(signed),
                      "abs_spearman_signed": absolute, "spearman_shown": _spread(shown),
                      "ssim_shown": _spread(ssim), "empty_maps": sum(peak_cell(shown_cells(m)) is None for m in maps),
                      "hits_within_one_cell": int(hits),
                      "passes": None if absolute["median"] is None else bool(absolute["median"] < PASS_BELOW)})
    return {"n": len(images), "views": len(flips),
            "pass_rule": f"median |Spearman| of the signed maps < {PASS_BELOW} (the bench's own rule)",
            "trained_hits_within_one_cell": int(sum(within_one_cell(peak_cell(shown_cells(m)), c)
                                                    for m, c in zip(trained, cues, strict=True))),
            "trained_empty_maps": sum(peak_cell(shown_cells(m)) is None for m in trained),
            "steps": steps, "every_step_passes": all(s["passes"] for s in steps)}


# --------------------------------------------------------------------------------------
# Which layer (conv head)


def occlusion_drops(bundle: Bundle, image: np.ndarray, cells: int) -> np.ndarray:
    """How much painting each cell of a ``cells`` x ``cells`` grid of a grey uint8 ``image``
    ``(S, S)`` with the image's median grey (``int(np.median(image))``, grey levels) lowers the
    fold ensemble's mean logit of :data:`CUE` on the identity view: ``(cells, cells)`` float64,
    ``drop[r, c] = score(image) - score(image with cell (r, c) painted)``, in logits (a cell
    whose painting lowers the score most has the largest drop).

    Computed by MONAI's :class:`monai.visualize.OcclusionSensitivity` (Zeiler and Fergus 2014's
    occlusion, here with ``mask_size`` one cell, ``overlap`` 0, so its sliding window visits the
    ``cells`` x ``cells`` cells once each, no two overlapping; ``mode`` the fill value as a
    constant; ``activate`` False, the raw logits) of the score
    ``mean over the fold models of ensemble_outputs(..., tta=False).raw``. MONAI paints the
    model input, where the bench's own code until 2026-12-05 painted the uint8 image before
    :func:`drac_ssl.grading.predict.preprocess_image`: the same input when the preprocessing is
    pointwise, as for the bench's bundles (grey, no fundus step, the image at the source and the
    model size, so no resize: ``(x / 255 - mean) / std``); the fill is the model input of an
    image of the fill grey, and ``tests/bench/test_heatmap_sanity.py`` checks every cell against
    the painted image graded by each fold model directly. The input is handed to MONAI in
    float64 (MONAI's map takes the input's dtype; the models get it back in float32, exactly, as
    every value was a float32) so the map keeps the ensemble's float64 logits.

    Raises ValueError for an image MONAI's painting would not match: not grey, not at the
    bundle's model size, a bundle whose preprocessing resizes (source size other than model
    size) or replays a fundus step, or a size not a multiple of ``cells``."""
    import torch
    from monai.visualize import OcclusionSensitivity

    from drac_ssl.grading.predict import ensemble_outputs, input_spec_of

    spec = input_spec_of(bundle.metadata)
    side = spec.image_size
    if (image.ndim != 2 or image.dtype != np.uint8 or image.shape != (side, side) or spec.channels != 1
            or spec.source_size != side or spec.replays_fundus_preprocessing or side % cells):
        raise ValueError(
            f"occlusion_drops paints the model input, the same as painting the image only when the "
            f"preprocessing is pointwise: it needs a grey uint8 image at the model size {side} x {side} "
            f"(got {image.dtype} {image.shape}), a 1-channel bundle whose source size is its model size and "
            f"replays no fundus step (channels {spec.channels}, source size {spec.source_size}, fundus step "
            f"{spec.replays_fundus_preprocessing}), and a size that is a multiple of {cells} cells")
    fill = int(np.median(image))
    x = _inputs(bundle, [image]).double()  # (1, 1, S, S)
    fill_in_input = float(_inputs(bundle, [np.full_like(image, fill)]).flatten()[0])

    def mean_logit(batch: torch.Tensor) -> torch.Tensor:
        raw = ensemble_outputs(bundle, batch.float(), tta=False).raw
        return torch.from_numpy(np.mean(raw, axis=0))

    step = side // cells
    occlusion = OcclusionSensitivity(mean_logit, mask_size=step, n_batch=BATCH, verbose=False,
                                     mode=fill_in_input, overlap=0.0, activate=False)
    with warnings.catch_warnings():  # MONAI 1.6.1 indexes with lists, which torch warns of
        warnings.filterwarnings("ignore", "Using a non-tuple sequence for multidimensional indexing",
                                UserWarning)
        occluded, _ = occlusion(x)  # (1, K, S, S): each pixel the score with its cell painted
    scores = torch.as_tensor(occluded)[0, CUE, ::step, ::step].double().numpy()
    if scores.shape != (cells, cells):
        raise RuntimeError(f"MONAI's occlusion map gave {scores.shape[0]} x {scores.shape[1]} cells, "
                           f"not {cells} x {cells}")
    return float(mean_logit(x)[0, CUE]) - scores


def _occlusion_peaks(bundle: Bundle, images: Sequence[np.ndarray], cells: int) -> list[tuple[int, int]]:
    """Per image, the cell whose painting with the image's median grey lowers the ensemble's
    mean logit of :data:`CUE` most (:func:`occlusion_drops`; the first in reading order on a
    tie)."""
    peaks = []
    for image in images:
        drops = occlusion_drops(bundle, image, cells)
        r, c = np.unravel_index(int(np.argmax(drops)), drops.shape)
        peaks.append((int(r), int(c)))
    return peaks


def layer_comparison(bundle: Bundle, images: Sequence[np.ndarray], cues: Sequence[tuple[int, int]],
                     app_flips: Sequence[Sequence[int]]) -> dict[str, Any]:
    """The conv head's hottest cell at ``layer4`` (the app's layer) and at ``head.conv``
    (:class:`app.gradcam.EnsembleGradCAM`), each on the identity view alone and with the 4
    flipped views averaged, and by occlusion (the identity view's score), against the cue's
    cell; ``app_map`` names the app's (``layer4`` with the views ``app_flips``)."""
    from app.gradcam import EnsembleGradCAM, FoldMapGradCAM
    from drac_ssl.grading.predict import TTA_FLIPS

    n = len(images)
    x = _inputs(bundle, images)
    size = tuple(x.shape[-2:])
    cam = FoldMapGradCAM(bundle.models, "classification")
    per_model = EnsembleGradCAM(bundle.models, "head.conv", "classification")
    shown: dict[str, list[np.ndarray]] = {}
    for name, flips in (("identity_view", IDENTITY), ("four_flips_averaged", TTA_FLIPS)):
        views, _ = _prediction_pass(bundle, images, len(flips) > 1)
        shown[f"layer4_{name}"] = [shown_cells(m) for m in _maps_of(cam, views, flips, size)]
        shown[f"head.conv_{name}"] = [shown_cells(per_model(x[i], CUE, flips)) for i in range(n)]
    grid = shown["layer4_identity_view"][0].shape
    cells = grid[0] * grid[1]
    app = "layer4_" + ("four_flips_averaged" if len(app_flips) > 1 else "identity_view")
    out: dict[str, Any] = {"n": n, "chance_on_the_cue_cell": f"1/{cells}", "app_map": app}
    for name, maps in shown.items():
        said = _said_of(maps, cues)
        out[name] = {"on_the_cue_cell": said["hits_on_the_cue_cell"], "within_one_cell": said["hits_within_one_cell"],
                     "empty_maps": said["empty_maps"], "peak_minus_cue": said["peak_minus_cue"],
                     "p_on_the_cue_cell_vs_1_in_cells": _p(binomial_upper_p(said["hits_on_the_cue_cell"], n, 1 / cells))}
    peaks = _occlusion_peaks(bundle, images, grid[0])
    on = sum(tuple(p) == tuple(c) for p, c in zip(peaks, cues, strict=True))
    out["occlusion"] = {"on_the_cue_cell": int(on),
                        "within_one_cell": int(sum(within_one_cell(p, c) for p, c in zip(peaks, cues, strict=True))),
                        "empty_maps": 0, "peak_minus_cue": peak_offsets(peaks, cues), "views": "the identity view",
                        "p_on_the_cue_cell_vs_1_in_cells": _p(binomial_upper_p(on, n, 1 / cells))}
    return out


# --------------------------------------------------------------------------------------


def smoke_reasons(args: argparse.Namespace) -> list[str]:
    """Why a run is not the protocol (empty: it is)."""
    out = ["--smoke"] if args.smoke else []
    for option, value, default in (("--train-images", args.train_images, TRAIN_IMAGES),
                                   ("--test-images", args.test_images, TEST_IMAGES),
                                   ("--layer-images", args.layer_images, LAYER_IMAGES),
                                   ("--random-images", args.random_images, RANDOM_IMAGES),
                                   ("--epochs", args.epochs, EPOCHS),
                                   ("--image-size", args.image_size, IMAGE_SIZE)):
        if value != default:
            out.append(f"{option} {value}, not {default}")
    return out


SMOKE = {"train_images": 48, "test_images": 8, "layer_images": 2, "random_images": 4, "epochs": 3}
"""What ``--smoke`` sets (unless given)."""


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The three checks (module docstring); the figures of the result file."""
    import torch

    from app.gradcam import FoldMapGradCAM
    from app.predict import Predictor
    from drac_ssl.grading.predict import TTA_FLIPS, resolve_tta

    t0, cpu0 = time.perf_counter(), time.process_time()
    seconds: dict[str, float] = {}
    rng = np.random.default_rng(SEED)
    grades = np.arange(args.train_images) % 2
    cells = args.image_size // CELL_PX
    size = (args.image_size, args.image_size)
    train = [cue_image(rng, bool(g), args.image_size, cells)[0] for g in grades]
    fold_of = np.random.default_rng(SEED + 1).permutation(args.train_images) % FOLDS
    test_rng = np.random.default_rng(SEED + 2)
    test = [cue_image(test_rng, True, args.image_size, cells) for _ in range(args.test_images)]
    plain = [cue_image(test_rng, False, args.image_size, cells)[0] for _ in range(args.test_images)]
    images, cues = [a for a, _ in test], [c for _, c in test]
    figures: dict[str, Any] = {"heads": {}}
    with tempfile.TemporaryDirectory() as tmp:
        bundles = {head: _bundle(Path(tmp), head, FOLDS, args.image_size) for head in HEADS}
        first, second = (bundles[head].shared_backbone for head in HEADS[:2])
        if first is None or second is None or not all(
                torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(),
                                                   strict=True)):
            raise RuntimeError(f"the {HEADS[0]} and {HEADS[1]} heads' bundles must share one frozen backbone "
                               f"(the same seed's weights): the heads' figures compare the heads alone")
        t = time.perf_counter()
        maps = _layer4_maps(bundles[HEADS[0]], _inputs(bundles[HEADS[0]], train))
        seconds["layer4_maps_of_the_training_images"] = time.perf_counter() - t
        figures["receptive_field"] = receptive_field_centre(bundles[HEADS[0]], images[:8], (cells // 2, cells // 2))
        for head, bundle in bundles.items():
            t = time.perf_counter()
            training = train_heads(bundle, maps, grades, fold_of, args.epochs)
            seconds[f"train_{head}"] = time.perf_counter() - t
            output = bundle.calibration.output
            tta = resolve_tta(None, bundle)  # the app's default: flips as the bundle's CV
            app_flips = Predictor(bundle, tta=tta).map_flips  # the app's map: the grade's views
            cam = FoldMapGradCAM(bundle.models, output)
            t = time.perf_counter()
            flip_views, flip_grades = _prediction_pass(bundle, images, True)
            identity_views, identity_grades = _prediction_pass(bundle, images, False)
            _, plain_grades = _prediction_pass(bundle, plain, tta)
            by_views = {len(IDENTITY): _maps_of(cam, identity_views, IDENTITY, size),
                        len(TTA_FLIPS): _maps_of(cam, flip_views, TTA_FLIPS, size)}
            # the app's own Predictor gives every image the same grade and map, flips on (the 4
            # views averaged) and off (the identity view)
            agree = {"flips_on": predictor_agreement(bundle, images, True, by_views[len(TTA_FLIPS)], flip_grades),
                     "flips_off": predictor_agreement(bundle, images, False, by_views[1], identity_grades)}
            for said in agree.values():
                require_predictor_agreement(said)
            app_maps = by_views[len(app_flips)]
            entry = {"training": training, "flip_tta": tta, "app_map_views": len(app_flips),
                     "accuracy_new_images_with_cue": _r(float(np.mean((flip_grades if tta else identity_grades) == CUE))),
                     "accuracy_new_images_without_cue": _r(float(np.mean(plain_grades == 0))),
                     "map_equals_predictor": agree,
                     "localisation": localisation(app_maps, cues)}
            # the figures of the maps the Predictor was just checked against, flips off and on
            entry["combinations"] = combinations(bundle, output, identity_views, by_views[len(IDENTITY)],
                                                 by_views[len(TTA_FLIPS)], cues, size)
            seconds[f"localisation_{head}"] = time.perf_counter() - t
            t = time.perf_counter()
            k = args.random_images
            entry["randomisation"] = randomisation(bundle, images[:k], cues[:k], output, app_flips)
            seconds[f"randomisation_{head}"] = time.perf_counter() - t
            if head == "conv":
                t = time.perf_counter()
                k = args.layer_images
                entry["layers"] = layer_comparison(bundle, images[:k], cues[:k], app_flips)
                seconds["layers_conv"] = time.perf_counter() - t
            figures["heads"][head] = entry
            loc, combos = entry["localisation"], entry["combinations"]
            print(f"[heatmap] {head} head: accuracy with cue {entry['accuracy_new_images_with_cue']}, "
                  f"without {entry['accuracy_new_images_without_cue']}; the app's map ({len(app_flips)} view(s)): "
                  f"peak within one cell of the cue {loc['hits_within_one_cell']} of {loc['n']} (chance "
                  f"{loc['chance_rate']}, p {loc['p_binomial_vs_chance']}), on its cell {loc['hits_on_the_cue_cell']}; "
                  + "; ".join(f"{name}: on {c['hits_on_the_cue_cell']}, within {c['hits_within_one_cell']}, "
                              f"rows {c['peak_minus_cue']['row']}" for name, c in combos.items() if name != "n"),
                  flush=True)
    figures["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    figures["wall_seconds"] = round(time.perf_counter() - t0, 1)
    figures["cpu_seconds"] = round(time.process_time() - cpu0, 1)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.heatmap_sanity"), allow_abbrev=False,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-images", type=int, default=None, help=f"training images (default {TRAIN_IMAGES})")
    parser.add_argument("--test-images", type=int, default=None,
                        help=f"new images with the cue, and as many without (default {TEST_IMAGES})")
    parser.add_argument("--layer-images", type=int, default=None,
                        help=f"images of the layer comparison (default {LAYER_IMAGES})")
    parser.add_argument("--random-images", type=int, default=None,
                        help=f"images of the randomisation check (default {RANDOM_IMAGES})")
    parser.add_argument("--epochs", type=int, default=None, help=f"epochs of each head (default {EPOCHS})")
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE,
                        help=f"the model input, px, a multiple of {CELL_PX} from {3 * CELL_PX} (default "
                             f"{IMAGE_SIZE}: 7 x 7 cells)")
    parser.add_argument("--smoke", action="store_true",
                        help="a smoke run: " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in SMOKE.items())
                             + " (those not given); writes heatmap_sanity_smoke.json")
    parser.add_argument("--name", default=None,
                        help="result name (default heatmap_sanity; a departure from the protocol adds _smoke)")
    parser.add_argument("--out-dir", default=str(RESULTS))
    args = parser.parse_args(argv)
    defaults = {"train_images": TRAIN_IMAGES, "test_images": TEST_IMAGES, "layer_images": LAYER_IMAGES,
                "random_images": RANDOM_IMAGES, "epochs": EPOCHS}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, SMOKE[key] if args.smoke else value)
        if getattr(args, key) < (2 if key.endswith("images") else 1):
            parser.error(f"--{key.replace('_', '-')} must be at least {2 if key.endswith('images') else 1}")
    args.test_images = max(args.test_images, args.layer_images, args.random_images)
    if args.image_size % CELL_PX or args.image_size < 3 * CELL_PX:
        parser.error(f"--image-size must be a multiple of {CELL_PX} from {3 * CELL_PX} (3 x 3 cells), "
                     f"got {args.image_size}")
    from drac_ssl.runtime import apply_thread_policy

    apply_thread_policy(1)
    reasons = smoke_reasons(args)
    out_dir = Path(args.out_dir)
    name = smoke_result_name("heatmap_sanity", reasons, args.name, out_dir=out_dir)
    figures = run(args)
    write_result(name, {
        "what": ("the app's Grad-CAM heat map on a model with a planted cue (a bright spot): does "
                 "its peak find the cue, does it change when the weights are randomised "
                 "(Adebayo et al. 2018's cascading randomisation, judged by the bench's own rule), "
                 "and which layer finds the cue (conv head); a test model on synthetic images with a "
                 "random frozen backbone: it says nothing about a real bundle's maps"),
        "model": {"images": f"grey {IMAGE_SIZE} px, a smooth random texture; grade 1 when a bright "
                            f"disc (radius {SPOT_RADIUS} px, +{SPOT_CONTRAST:g} grey levels) is "
                            f"planted in a uniformly drawn cell of 7 x 7",
                  "backbone": "ResNet-18, random init, frozen (finetune.freeze: frozen), shared by the folds",
                  "folds": FOLDS, "heads": list(HEADS), "train_images": args.train_images,
                  "epochs": args.epochs, "lr": LR, "batch": BATCH, "seed": SEED,
                  "explained_grade": CUE,
                  "flip_tta": "the app's default, as each bundle's cross-validation (heads.*.flip_tta)"},
        "protocol": {"test_images_with_cue": args.test_images, "test_images_without_cue": args.test_images,
                     "randomisation_images": args.random_images, "layer_images": args.layer_images},
        **figures,
        **smoke_fields(reasons),
    }, out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
