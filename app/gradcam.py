"""Grad-CAM heatmaps of a fold ensemble (MONAI's hooks), how they are combined, and the overlay.

The method: Grad-CAM, R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh and D. Batra,
"Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization", ICCV 2017
(arXiv:1610.02391), its equation 1 and 2: channel weights ``w_c`` = the spatial mean of the class
score's gradient with respect to the layer's channel ``A_c``, map = ``ReLU(sum_c w_c A_c)``. The
code: MONAI's ``monai.visualize.GradCAM`` (``monai/visualize/class_activation_maps.py``, MONAI
>= 1.4 as pyproject.toml pins), whose forward / backward hooks give ``A`` and the gradient; what
this module changes of it (no ReLU before the folds are averaged, scaled by the maximum instead of
MONAI's inverting min-max) is said below. The maps (:class:`CamMap`): the signed map ``(h, w)``
float32 on the target layer's cells, in units of the explained score, and the heat ``(S, S)`` over
the model input in [0, 1] (1: the map's strongest evidence for the explained grade), put back on
the image for the overlay.

What the map is, and is not. A Grad-CAM map is a coarse attribution of ONE score (the
explained grade's logit, below) to the cells of one layer's feature map: ``sum_c w_c A_c`` with
``A_c`` the layer's channel c and ``w_c`` the spatial mean of ``d score / d A_c``. It is not a
lesion detector and it has not been validated against lesion annotations. On the heatmap bench's
test model with a planted cue, a bright spot (``bench/results/heatmap_sanity.json``, rerun with
``python -m bench.heatmap_sanity``: synthetic grey images, a frozen random-init ResNet-18, trained
fold heads; its figures say nothing about a real bundle's maps), the map's peak on its 7 x 7 cells
(the 4 flipped views averaged, as the app draws it with flip TTA; the identity view alone,
without: 81 and 21, below) was within one cell of the spot in 89 of 96 images with the conv head
(a randomly placed peak: 15 %, 361 of the 2401 peak-cue cell pairs; a map stuck on one cell: at
most 9 of 49) and on the spot's own cell in 47 of 96; with the linear
head within one cell in 40 of 96, and its maps of different images correlated +0.77 with one
another (an image-independent spatial habit; +0.12 with the conv head). Re-initialising the
weights top-down (the cascading randomisation of Adebayo et al. 2018, judged by the bench's own
rule (median |Spearman| < 0.5) on the signed maps' rank correlation with the trained model's, its
sign ignored: an inverted map has kept its structure) changed the conv head's maps at every step,
after the heads only just (median |rho| 0.49, every map then empty); the linear head's maps
stayed much as they were when its head alone was replaced (median rank correlation +0.79),
failing that sanity check, and again after ``layer4`` (+0.60), ``layer3`` (-0.52: inverted) and
the stem (-0.69). :data:`drac_ssl.grading.bundle.HEATMAP_CAVEAT` is the sentence the page, the docs
and the model card carry; :func:`drac_ssl.grading.bundle.heatmap_bench_words` the bench's (of the 4 views or of one).

What MONAI does here: the forward/backward hooks on the target layer that give ``A`` and the
gradient. :func:`signed_gradcam` is MONAI's ``GradCAM`` without its final ``ReLU`` (the signed
map ``sum_c w_c A_c``), so that several maps can be averaged before the ``ReLU`` (below).
MONAI's default postprocessing (``default_normalizer``) maps (min, max) to (1, 0), i.e. it
*inverts* the map; we divide by the map's maximum instead (:func:`combine_cams`), so 1 marks the regions
whose activation raises the explained score (the correct sign; ``tests/app/test_predict.py``
checks it on a model whose evidence is known).

The target layer: ``backbone.layer4`` (:data:`drac_ssl.grading.bundle.GRADCAM_TARGET_LAYER`,
the bundle's ``metadata["gradcam_target_layer"]``). It is the backbone's last feature map
(:data:`drac_ssl.grading.model.FEATURE_STAGE`), the one every head reads (the linear, MLP and
regression heads its global average pool, the conv head the map itself), so one layer serves
every head and, with a shared frozen backbone, is one map for every fold; and the prediction's
own forward pass already computes it, so the heatmap costs one backward pass through the heads
(:class:`FoldMapGradCAM`), not a second backbone pass. For the conv head it is NOT the last
convolutional layer, the usual Grad-CAM choice: ``head.conv`` (its 3 x 3 convolution, same
cells) is. At ``layer4`` the channel weights average the gradient through the head's
``reduce`` and ``conv`` blocks (BatchNorm, ReLU), a cruder linearisation of that head. The
bench compares them on its conv-head model, on 24 images with the spot: the map's hottest cell (the
4 views averaged, as the app) was the spot's own cell in 7 of 24 at ``layer4`` and 10 of 24 at
``head.conv`` (2 and 6 on the identity view alone), and occluding each cell in turn found it in 21
of 24 (a random cell is the spot's 1 time in 49); within one cell of it in 20, 23 and 23 of 24:
Grad-CAM at either layer finds the spot's neighbourhood, its cell less often than occlusion. A bundle may name another layer in its metadata; :class:`EnsembleGradCAM` then computes it
per whole fold model.

Combining the folds and views: Grad-CAM of the ensemble's mean logit. The grade averages the
fold models f = 1..F over the views v = 1..V it grades (V = 4 with flip TTA, 1 without; below);
the map explains the mean of the explained logit over both, ``s = mean_{f,v} s_{f,v}``, with
``s_{f,v}`` fold f's logit on view v. Its gradient with respect to fold f's layer4 map of view
v, ``A_{f,v}``, is ``(1/(F*V)) d s_{f,v} / d A_{f,v}``, so its Grad-CAM, with the folds' and
views' maps, each un-flipped onto the image, stacked as the channels of one layer (not Grad-CAM
at a layer of any one network), is

    ``CAM = ReLU( mean_{f,v} U_v( sum_c w_{f,v,c} A_{f,v,c} ) )``

with ``U_v`` the un-flip of view v (the identity for the identity view) and each fold and view
its own channel weights, ``w_{f,v,c}`` the spatial mean of ``d s_{f,v} / d A_{f,v,c}`` (an
un-flip leaves a spatial mean as it is; the 1/(F*V) of the mean score's gradient is the mean):
the ReLU of the mean of every fold's and view's signed (pre-ReLU) map, unscaled, then divided
once by its maximum (:func:`combine_cams`). With one view (no flip TTA) and a shared frozen
backbone (:attr:`drac_ssl.grading.bundle.Bundle.shared_backbone`, ``finetune.freeze: frozen``)
every fold's ``A`` is the same, and this is exactly Grad-CAM of the mean logit at
``backbone.layer4`` (the channel weights averaged over the folds);
``tests/app/test_gradcam_combination.py`` checks it against MONAI's own GradCAM of a model that
outputs the mean of two heads on one backbone, to 1e-6. With the 4 views, even on a shared
backbone, each view's map is another activation (of another input), so the stack of the
un-flipped views' maps is the layer, as with folds of their own backbones (``freeze: last`` or
``all``), which get the same formula: Grad-CAM of the mean logit with the folds' layer4 maps
stacked as the channels of one layer (not Grad-CAM at a layer of any one network); the same test
file checks it against MONAI's GradCAM of a model whose layer stacks two backbones' maps, to
1e-6, and ``tests/app/test_heatmap_claims.py`` computes the 4-view map of a demo bundle by hand
(autograd on each fold model and flipped view) against the app's, to 1e-4. Before 2026-12-05 each fold's
map was ReLU'd and scaled to [0, 1] on its own and then averaged: every fold counted equally
whatever its evidence. On the bench's conv-head model the two combinations, each of the identity
view, differ little: the folds' raw maxima differed by a median 2.7x, no fold's map was empty, the
old combination's maps correlated a median +0.99 with Grad-CAM of the mean logit, and their peak
was within one cell of the spot in 77 of 96 images (81 with Grad-CAM of the mean logit).

The flips: the grade averages the 4 flipped views (flip TTA), and so does the map
(:attr:`app.predict.Predictor.map_flips`): each view's signed map, flipped back onto the image,
enters the mean before the ReLU (:func:`combine_cams`), so the map is Grad-CAM of the score the
grade uses, the folds' and views' mean logit (the views' layer4 maps, in the image's orientation,
stacked as the channels of one layer), and it is flip-equivariant: the map of a mirrored image is
the mirrored map (``tests/app/test_predict.py``). The identity view alone, the app's map until
2026-12-05, is neither: a stride-32 network is not mirror-symmetric. By the convolution arithmetic
the receptive field of ``layer4`` cell i is centred near ``32 i`` px of the input, half a cell up
and left of the cell's centre ``32 i + 15.5`` (measured on the bench's backbone: cell (3, 3)'s at
(99.4, 101.0) px, its centre at 111.5), so the identity view's peak leans a cell down or right of
a spot in the lower or right half of its cell; a flipped view's map, flipped back, leans the
other way along the axis it was flipped on (the horizontal flip reverses the column lean, the
vertical flip the row lean, the flip of both axes both), and averaged over the 4 views the
leanings cancel. On the bench's conv-head model the identity view's peak was on the
spot's cell in 21 of 96 images and within one cell of it in 81, its row offsets +1 in 33 images
against -1 in 12; the 4 views averaged: 47 and 89, +1 in 16 against -1 in 11 (the linear head:
11 and 39 alone, 17 and 40 averaged), no map empty. The reasons first given for leaving the views
out were wrong: a one-off trial in which averaging them lost the cue did not reproduce, and it is
the identity view's map that lies about half a cell off, not the flipped views' once flipped
back. What it costs: the heads' one backward pass runs on 4 x as many stacked maps; on the
DRAC-shaped bundle (224 px, 5 folds, conv head; 1 thread on the project's 2-core machine) the
Grad-CAM step of the 4 views took a median 23.2 ms of the 0.155 s model time per image (idle
medians, ``bench/results/app_speed.json``). No committed result times the identity view's map
alone, so its cost is not compared here (an earlier one-off timing, with no script, is withdrawn).

The score explained: a classification head's raw logit of the explained grade (by default the
shown grade), averaged over the folds as above. The grade shown is NOT chosen by that score under the default
decision (``decision: thresholds``: the expected grade of the calibrated probabilities, cut at
the kappa-tuned thresholds, :class:`drac_ssl.grading.model.Calibration`), so the map explains
a different score from the one that chose the grade. A regression head's single output (the
predicted grade as a number: regions that push the grade up) is the score its thresholds cut.

Scale: the combined map is divided once by its own maximum, ``heat = ReLU(mean) / raw_max``
(0 = no positive evidence, 1 = this map's maximum; a map with no positive cell stays all zeros),
so its colours are relative to this map's maximum and carry no absolute strength, and a cell
drawn dark raised the score little (min-max scaling, used before, drew the weakest positive cell
as none). :attr:`CamMap.raw_max` keeps the maximum before scaling, taken at the target
layer's cells (before upsampling), in units of the explained score (for a linear head on
pooled features the signed cells sum exactly to the logit less its bias); the details JSON reports it, and no map is called "weak"
(:data:`RAW_MAX_NOTE` says why: no sound threshold exists).

Upsampling and placement: a map is upsampled to the model input bilinearly, or
nearest-neighbour when it is coarse (fewer than :data:`COARSE_CELLS` cells a side, as
``layer4`` of a 224 px input, 7 x 7: :func:`cam_upsampler`), and put back on the uploaded image
through the crop and padding the preprocessing applied (:func:`place_heatmap`; a fundus-crop
model reads only the disc's box).
"""

from __future__ import annotations

import copy
import functools
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from data_prep.colour_rule import GREY_SPREAD_LEVELS, OVERLAY_SHARE, colour_share
from drac_ssl.starting import import_keeping_random

if TYPE_CHECKING:
    from data_prep.cache import RowGeometry

__all__ = ["COARSE_CELLS", "COLOUR_PEAK_OPACITY", "FLAT_FLOOR_PERCENTILE", "FLAT_FLOOR_SHARE", "GREY_SPREAD_LEVELS",
           "HEAT_COLORMAP", "OUTLINE_SHARES", "PEAK_OPACITY", "RAW_MAX_NOTE", "STANDS_OUT_SHARE", "STRONGEST_SHARE", "CamMap",
           "EnsembleGradCAM", "FoldHeads", "FoldMapGradCAM", "blend_heat", "cam_upsampler", "cell_size_px",
           "coarse_words", "combine_cams", "draw_outlines", "heat_colours", "heat_outline", "hottest_parts",
           "is_coarse", "is_colour_image", "minmax_normalizer", "outline_masks", "outline_width", "overlay_heatmap",
           "place_heatmap", "read_box", "reads_box_only", "region_words", "resize_heatmap",
           "resolution_words", "signed_gradcam", "strongest_heat", "strongest_words"]

COARSE_CELLS = 8
"""A Grad-CAM map with fewer cells than this on a side is coarse (:func:`is_coarse`): it is
upsampled nearest-neighbour, so that its cells stay visible, and the page says what so few
cells can tell. A ResNet's ``layer4`` has stride 32: the DRAC models' 224 px input gives 7 x 7
cells (one cell about 146 px of a 1024 px upload), a 64 px input 2 x 2. A smooth (bilinear)
stretch of such a map over the upload drew a blob with the look of a localised lesion where
the map has one value per cell; 8 keeps a 448 px input's 14 x 14 map bilinear (cells of 1/14
of the image). Was 4 (7 x 7 was drawn smooth and said nothing of its cells): an
explainability trial."""

RAW_MAX_NOTE = ("the combined Grad-CAM map's maximum before scaling (cells of the target layer), in "
                "units of the explained score (logit): for a linear head on pooled features the "
                "signed cells sum to the logit less its bias. No threshold calls a map weak: a "
                "grade's logit has no absolute scale (softmax ignores a shift common to every "
                "grade's logit), so a large value need not favour the grade; comparable only "
                "between images of this bundle, as contributions to that logit")
"""What :attr:`CamMap.raw_max` is and why the app calls no map weak from it
(``details["heatmap"]["raw_max_note"]``)."""


def is_coarse(cells: Sequence[int] | None) -> bool:
    """True for a map of fewer than :data:`COARSE_CELLS` cells on a side (a 1 x 1 map, which
    has no location at all, included)."""
    return cells is not None and min(int(c) for c in cells) < COARSE_CELLS


def coarse_words(cells: Sequence[int], frame: Sequence[int] | None = None) -> str:
    """What a coarse map (:func:`is_coarse`) of ``cells`` ``(h, w)`` can tell, e.g. "2 × 2 cells:
    it can say which quarter of the image, not which lesion"; "7 × 7 cells: it can say which of
    its 49 blocks of the image, not which lesion". With the ``frame`` ``(height, width)`` px the
    model input shows, the cells' size too (:func:`resolution_words`): "7 × 7 cells, each about
    146 px of this image: it can say ..."."""
    h, w = int(cells[0]), int(cells[1])
    n = h * w
    part = {2: "half", 4: "quarter", 9: "ninth"}.get(n)
    which = f"which {part} of the image" if part else f"which of its {n} blocks of the image"
    said = resolution_words(cells, frame) if frame is not None else f"{h} × {w} cells"
    return f"{said}: it can say {which}, not which lesion"


def cell_size_px(cells: Sequence[int], frame: Sequence[int]) -> tuple[float, float]:
    """``(width, height)`` in image pixels of one cell of a map of ``cells`` ``(h, w)`` laid over
    the padded frame ``frame`` ``(height, width)`` px that the model input shows
    (:attr:`data_prep.cache.RowGeometry.frame`; the whole image when it was not cropped)."""
    return float(frame[1]) / int(cells[1]), float(frame[0]) / int(cells[0])


def resolution_words(cells: Sequence[int], frame: Sequence[int]) -> str:
    """The map's resolution on the image: "7 × 7 cells, each about 146 px of this image"; a
    squeezed (not square) image's cells "each about 185 × 146 px (width × height) of this
    image" (:func:`cell_size_px`)."""
    cw, ch = cell_size_px(cells, frame)
    size = (f"{round(cw)} px" if abs(cw - ch) <= max(1.0, 0.02 * max(cw, ch))
            else f"{round(cw)} × {round(ch)} px (width × height)")
    return f"{int(cells[0])} × {int(cells[1])} cells, each about {size} of this image"


def cam_upsampler(size: Sequence[int]) -> Callable[[Tensor], Tensor]:
    """The upsampling of a Grad-CAM map ``(n, 1, h, w)`` to ``size`` (MONAI's ``upsampler``
    argument): bilinear (MONAI's default) for a fine map, nearest-neighbour for a coarse one
    (:func:`is_coarse`), whose cells then stay cells."""
    out = tuple(int(v) for v in size)

    def up(x: Tensor) -> Tensor:
        if is_coarse(x.shape[-2:]):
            return torch.nn.functional.interpolate(x, size=out, mode="nearest")
        return torch.nn.functional.interpolate(x, size=out, mode="bilinear", align_corners=False)

    return up


def minmax_normalizer(x: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """Scale each sample of ``x`` ``(n, ...)`` linearly to [0, 1]: min -> 0, max -> 1 (a
    constant map becomes all zeros). Same type (and device) as ``x``."""
    t = torch.as_tensor(x).detach().float()
    flat = t.reshape(t.shape[0], -1)
    lo = flat.min(dim=1, keepdim=True).values
    hi = flat.max(dim=1, keepdim=True).values
    span = hi - lo
    out = torch.where(span > 1e-12, (flat - lo) / span.clamp_min(1e-12), torch.zeros_like(flat))
    out = out.reshape(t.shape)
    return out.numpy() if isinstance(x, np.ndarray) else out.to(torch.as_tensor(x).device)


@functools.cache
def _signed_gradcam_class() -> type:
    """:class:`monai.visualize.GradCAM` without its final ``ReLU`` (MONAI imported on first use:
    it takes seconds, and the page's colours need none of it)."""
    GradCAM = import_keeping_random("monai.visualize").GradCAM

    class SignedGradCAM(GradCAM):
        def compute_map(self, x: Tensor, class_idx: int | None = None, retain_graph: bool = False,
                        layer_idx: int = -1, **kwargs: object) -> Tensor:  # type: ignore[override]
            _, acti, grad = self.nn_module(x, class_idx=class_idx, retain_graph=retain_graph, **kwargs)
            acti, grad = acti[layer_idx], grad[layer_idx]
            b, c, *spatial = grad.shape
            weights = grad.view(b, c, -1).mean(2).view(b, c, *[1] * len(spatial))
            return (weights * acti).sum(1, keepdim=True)  # MONAI's map, before its F.relu

    return SignedGradCAM


def signed_gradcam(model: nn.Module, target_layer: str) -> Any:
    """MONAI's :class:`monai.visualize.GradCAM` on ``model`` at ``target_layer``, except that its
    ``compute_map(x (n, ...), class_idx)`` gives the signed map ``sum_c w_c A_c`` ``(n, 1, h, w)``
    at the target layer's cells (MONAI's own hooks and channel weights ``w_c``, the spatial mean
    of the gradient of the class score), without MONAI's final ``ReLU``: maps are averaged
    before the ``ReLU`` (:func:`combine_cams`)."""
    with warnings.catch_warnings():
        # MONAI's "Not all target_layers exist" (a UserWarning): the callers check the layer
        # first and say what to fix; other warnings (a deprecation in MONAI or torch) show
        warnings.filterwarnings("ignore", message="Not all target_layers exist", category=UserWarning)
        return _signed_gradcam_class()(nn_module=model, target_layers=target_layer)


@dataclass(frozen=True)
class CamMap:
    """One combined Grad-CAM map (:func:`combine_cams`).

    ``heat``: ``(S, S)`` float32 in [0, 1] over the model input, ``ReLU(signed)`` upsampled and
    divided by ``raw_max`` (0 = no positive evidence, 1 = this map's maximum; all zeros when no
    cell has positive evidence); ``signed``: ``(h, w)`` float32, the mean of the folds' and
    views' signed maps at the target layer's cells, before the ReLU (units of the explained
    score); ``raw_max``: the maximum of ``ReLU(signed)`` taken at the target layer's cells
    (before upsampling), the map's largest value before scaling (0.0 for an empty map;
    :data:`RAW_MAX_NOTE`); ``views``:
    the views combined (4 with the app's flip TTA, as the grade combines them; 1: the identity
    view alone)."""

    heat: np.ndarray
    signed: np.ndarray
    raw_max: float
    views: int

    @property
    def cells(self) -> tuple[int, int]:
        """``(h, w)``: the target layer's map size."""
        return int(self.signed.shape[0]), int(self.signed.shape[1])


def combine_cams(signed: Tensor, flips: Sequence[Sequence[int]], size: Sequence[int]) -> CamMap:
    """The ensemble's map from signed per-fold, per-view maps ``signed`` ``(F, V, h, w)`` (view v
    of the input flipped along ``flips[v]``, dims of an ``(..., H, W)`` tensor as
    :data:`drac_ssl.grading.predict.TTA_FLIPS` gives them, ``()`` for the identity): each view
    un-flipped, the mean over folds and views, then ``ReLU``, then upsampled to ``size``
    ``(S, S)`` (:func:`cam_upsampler`) and divided once by its maximum at the cells,
    ``heat = ReLU(mean) / raw_max``: 0 = no positive evidence, 1 = the map's maximum, so a cell
    of half the maximum's evidence is drawn at 0.5 (not min-max: the weakest positive cell is
    not drawn as none); a map with no positive cell stays all zeros.
    Grad-CAM of the mean logit (module docstring). The app passes the grade's own views
    (:attr:`app.predict.Predictor.map_flips`: the 4 flips with flip TTA, ``((),)`` without), so
    the map explains the score the grade uses; the identity view alone leans half a cell (module
    docstring). Raises ValueError when the views and ``flips`` differ in number."""
    s = torch.as_tensor(signed).detach().float()
    if s.ndim != 4 or s.shape[1] != len(flips):
        raise ValueError(f"expected signed maps (folds, {len(flips)} views, h, w), got {tuple(s.shape)}")
    aligned = torch.stack([s[:, v].flip(tuple(dims)) if dims else s[:, v] for v, dims in enumerate(flips)], 1)
    mean = aligned.mean(dim=(0, 1))
    cam = torch.relu(mean)
    raw_max = float(cam.max())  # at the cells, before upsampling
    up = cam_upsampler(size)(cam[None, None])[0, 0].numpy()
    if raw_max > 0.0:  # 0 = no positive evidence, 1 = the maximum (bilinear never exceeds it)
        heat = np.clip(up / raw_max, 0.0, 1.0).astype(np.float32)
    else:  # no cell has positive evidence: an empty map
        heat = np.zeros(up.shape, np.float32)
    return CamMap(heat=heat, signed=mean.numpy().astype(np.float32), raw_max=raw_max, views=len(flips))


class EnsembleGradCAM:
    """Grad-CAM of a fold ensemble's mean logit from each whole fold model: MONAI's hooks
    (:func:`signed_gradcam`) on a deep copy of each model, one forward and backward (to the
    input) per fold for all the views, combined by :func:`combine_cams`.

    Args:
        models: the fold models (``forward(x (n, C, S, S)) -> (n, K)`` logits or ``(n, 1)``);
            each is deep-copied and put in eval mode.
        target_layer: dotted module name, e.g. ``backbone.layer4``.
        output: ``classification`` (explain the logit of the given class) or ``regression``
            (explain the single output).

    Thread-safe: calls are serialised by a lock (the hooks keep per-call state).
    """

    def __init__(self, models: Sequence[nn.Module], target_layer: str,
                 output: str = "classification") -> None:
        if not models:
            raise ValueError("EnsembleGradCAM needs at least one model")
        self.target_layer = target_layer
        self.output = output
        self._lock = threading.Lock()
        self._cams = []
        for model in models:
            names = {name for name, _ in model.named_modules()}
            if target_layer not in names:
                raise ValueError(f"Grad-CAM target layer {target_layer!r} is not a module of the "
                                 f"model (e.g. {', '.join(sorted(names)[1:6])} ...); fix "
                                 f"gradcam_target_layer in the bundle's metadata.json")
            clone = copy.deepcopy(model).eval()
            for p in clone.parameters():
                p.requires_grad_(True)
            self._cams.append(signed_gradcam(clone, target_layer))

    def __call__(self, x: Tensor, class_idx: int, flips: Sequence[Sequence[int]] = ((),)) -> CamMap:
        """The map (:class:`CamMap`, ``heat`` ``(S, S)``) of one preprocessed input ``x``
        ``(C, S, S)`` (or ``(1, C, S, S)``); ``class_idx`` is the grade to explain (ignored for
        a regression head, whose single output is explained); ``flips``: the views, as
        :func:`combine_cams` takes them (``TTA_FLIPS`` with flip TTA)."""
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[0] != 1:
            raise ValueError(f"expected one input (C, S, S), got {tuple(x.shape)}")
        idx = int(class_idx) if self.output == "classification" else 0
        views = torch.cat([x.flip(tuple(dims)) if dims else x for dims in flips]).detach().float()
        signed = []
        with self._lock, torch.enable_grad():
            for cam in self._cams:
                m = cam.compute_map(views.clone().requires_grad_(True), class_idx=idx)  # (V, 1, h, w)
                signed.append(m.detach()[:, 0])
                cam.nn_module.activations.clear()  # do not keep the graph alive
                cam.nn_module.gradients.clear()
                cam.nn_module.score = None
        return combine_cams(torch.stack(signed), flips, x.shape[-2:])


class FoldHeads(nn.Module):
    """Every fold model's part after the backbone's ``layer4``, one fold per block of rows.

    ``forward(maps (F * V, C, h, w)) -> (F * V, out)``, fold-major: rows ``f * V .. f * V + V -
    1`` are fold f's (its V views), and go through fold f's head (the ``conv`` head reads the
    map, the others its global average pool: what
    :meth:`drac_ssl.grading.model.GradingModel.features_from_map` does). ``self.map`` is an
    identity on the stacked maps: the Grad-CAM target layer. The heads are deep copies with
    ``requires_grad`` off (a backward pass leaves nothing on the bundle's modules and
    accumulates no parameter gradients)."""

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        self.map = nn.Identity()
        self.heads = nn.ModuleList(copy.deepcopy(model.head).eval() for model in models)
        self.reads_map = [bool(getattr(model.head, "uses_map", False)) for model in models]
        self.pool = nn.AdaptiveAvgPool2d(1)  # the backbone's pooling (Backbone._pool)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, maps: Tensor) -> Tensor:
        maps = self.map(maps)
        folds = len(self.heads)
        if maps.shape[0] % folds:
            raise ValueError(f"expected the same number of maps for each of the {folds} folds, "
                             f"got {maps.shape[0]}")
        views = maps.shape[0] // folds
        rows = []
        for f, head in enumerate(self.heads):
            h = maps[f * views:(f + 1) * views]
            rows.append(head(h if self.reads_map[f] else torch.flatten(self.pool(h), 1)))
        return torch.cat(rows)


class FoldMapGradCAM:
    """One-pass Grad-CAM of a fold ensemble's mean logit from the fold models' ``layer4`` maps
    (module docstring): MONAI's hooks (:func:`signed_gradcam`) on :class:`FoldHeads`, combined
    by :func:`combine_cams`.

    The prediction pass (:func:`drac_ssl.grading.predict.ensemble_outputs` with ``keep_maps``)
    already computed every fold model's ``layer4`` maps of every view it ran (with a shared
    frozen backbone: one map per view for all folds). Grad-CAM needs those activations ``A`` and the gradient of
    the explained score with respect to ``A``, and that gradient only flows through what comes
    after the layer: the heads. So the maps, stacked fold-major, go through :class:`FoldHeads`,
    whose target layer is an identity on the stack; one backward pass gives every fold's and
    view's signed map (rows do not interact, so row r's gradient is its own head's alone):
    term by term what MONAI computes on each whole fold model and view
    (:class:`EnsembleGradCAM`, which the tests check it against). The backbone is not run again
    (and never gets hooks or gradients).

    Args:
        models: the fold models (:class:`drac_ssl.grading.model.GradingModel`); their heads
            are copied once.
        output: ``classification`` (explain the logit of the given class) or ``regression``.

    Thread-safe: calls are serialised by a lock (MONAI keeps per-call state on the wrapper);
    a call costs the heads' forward and backward on the F x V stacked maps, milliseconds.
    """

    target_layer = "backbone.layer4"

    def __init__(self, models: Sequence[nn.Module], output: str = "classification") -> None:
        if not models:
            raise ValueError("FoldMapGradCAM needs at least one model")
        self.output = output
        self.folds = len(models)
        self._lock = threading.Lock()
        self._cam = signed_gradcam(FoldHeads(models), "map")

    def from_maps(self, maps: Sequence[Tensor], class_idx: int, input_size: Sequence[int],
                  flips: Sequence[Sequence[int]] = ((),)) -> CamMap:
        """The map (:class:`CamMap`, ``heat`` of ``input_size``) of ONE image from each fold
        model's ``layer4`` maps of its views: ``maps[f]`` ``(V, C, h, w)``, view v of the input
        flipped along ``flips[v]`` (``(C, h, w)`` for the identity view alone; the same tensor
        for every fold with a shared backbone), explaining ``class_idx`` (ignored for a
        regression head). Raises ValueError for another number of maps than folds, or of views
        than ``flips``."""
        if len(maps) != self.folds:
            raise ValueError(f"expected {self.folds} maps (one per fold), got {len(maps)}")
        views = len(flips)
        per_fold = [m.reshape(-1, *m.shape[-3:]) for m in maps]
        if any(m.shape[0] != views for m in per_fold):
            raise ValueError(f"expected {views} view(s) per fold for flips {list(flips)}, got "
                             f"{[m.shape[0] for m in per_fold]}")
        stacked = torch.cat(per_fold).detach().float()  # (F * V, C, h, w), fold-major
        idx = int(class_idx) if self.output == "classification" else 0
        with self._lock, torch.enable_grad():
            signed = self._cam.compute_map(stacked.requires_grad_(True), class_idx=idx)  # (F * V, 1, h, w)
            self._cam.nn_module.activations.clear()  # do not keep the graph alive
            self._cam.nn_module.gradients.clear()
            self._cam.nn_module.score = None
        return combine_cams(signed.detach()[:, 0].unflatten(0, (self.folds, views)), flips, input_size)


def resize_heatmap(heatmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A heatmap ``(S, S)`` stretched over ``(H, W)`` (bilinear), clipped to [0, 1]: right only
    for an image the model saw whole, squeezed to a square; :func:`place_heatmap` puts a map
    back through the crop and padding the preprocessing applied."""
    h, w = int(shape[0]), int(shape[1])
    out = cv2.resize(np.asarray(heatmap, dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0)


def place_heatmap(heatmap: np.ndarray, geometry: RowGeometry, shape: tuple[int, int],
                  nearest: bool = False) -> np.ndarray:
    """A heatmap over the model input ``(S, S)`` put back on the image ``shape`` ``(H, W)``
    through the preprocessing's ``geometry`` (:class:`data_prep.cache.RowGeometry`, from
    :func:`drac_ssl.grading.predict.preprocess_image`): the input shows the padded frame of
    the crop box resized to ``S x S``, so the map is resized to that frame, its padding
    dropped, the rest placed over the box, and everything outside the box (what the model did
    not read) is 0. Bilinear, or nearest-neighbour with ``nearest`` (a coarse map's cells,
    :func:`is_coarse`); pixel centres map to pixel centres, as ``cv2.resize`` maps them, so
    without a crop this is :func:`resize_heatmap`. float32 ``(H, W)`` in [0, 1]."""
    src = np.asarray(heatmap, dtype=np.float32)
    h, w = int(shape[0]), int(shape[1])
    x0, y0, x1, y1 = geometry.box
    top, _, left, _ = geometry.margins
    frame_h, frame_w = geometry.frame
    ax, ay = src.shape[1] / frame_w, src.shape[0] / frame_h
    # image pixel (x, y) -> map pixel (u, v), centres to centres
    matrix = np.array([[ax, 0.0, (left - x0 + 0.5) * ax - 0.5],
                       [0.0, ay, (top - y0 + 0.5) * ay - 0.5]], dtype=np.float64)
    flags = (cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(src, matrix, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    out[:max(0, y0)] = 0.0
    out[max(0, y1):] = 0.0
    out[:, :max(0, x0)] = 0.0
    out[:, max(0, x1):] = 0.0
    return np.clip(out, 0.0, 1.0)


STRONGEST_SHARE = 0.9
"""The strongest heat (:func:`strongest_heat`): the pixels at or above this share of the map's
maximum (within 10% of it), in the connected part of them that holds the maximum."""

HEAT_COLORMAP = cv2.COLORMAP_VIRIDIS
"""The heat colours: viridis, dark purple (cold) through teal and green to bright yellow
(hot). Perceptually uniform, and the colours themselves get lighter with the heat for normal
vision and for red-green colour-blind readers (deuteranopia, protanopia). Jet, used before,
peaked in a dark red that such readers see as dark olive, with its lightest colour (yellow) in
the middle of the scale. Blended over a bright image, no colour map's lightness can rise with the
heat (a dark purple over light grey is darker than the grey), and a red-green colour-blind reader
sees viridis's mid-scale teal as plain grey: the outlines (:data:`OUTLINE_SHARES`), not the
colour, are what marks the strongest heat on every image and for every reader
(``tests/app/test_accessibility.py``)."""

PEAK_OPACITY = 0.85
"""The heat colour's opacity at the map's maximum (:func:`overlay_heatmap`): the hottest pixels
show nearly the colour key's own bright yellow, with a trace of the image under them (the image
itself is beside the overlay). It was 0.55, and the peak on OCTA's black background was an olive
(CIE L* 52.6) that the key never shows. A grey image's (OCTA's) rule; a colour image's is
:data:`COLOUR_PEAK_OPACITY`."""

COLOUR_PEAK_OPACITY = 0.6
"""The heat colour's opacity at the map's maximum over a colour image (a fundus photograph;
:func:`blend_heat`), growing linearly with the heat: ``0.6 * heat``. The grey images' rule,
``0.85 * sqrt(heat)`` (:data:`PEAK_OPACITY`), hid the photograph (an accessibility review: a
heat of 0.25 was 43 % opaque, and the peak cell of an APTOS photo kept 29 % of its brightness
variation); now a heat of 0.25 is 15 % opaque and the peak keeps 40 % of the photograph. The
outlines, not the colour, mark the strongest heat."""


def is_colour_image(image: np.ndarray) -> bool:
    """Whether ``image`` (uint8, grey ``(H, W)`` or RGB ``(H, W, 3)``) is a colour one (for
    :func:`blend_heat`'s :data:`COLOUR_PEAK_OPACITY` rule): at least
    :data:`data_prep.colour_rule.OVERLAY_SHARE` of its pixels with channels more than
    :data:`GREY_SPREAD_LEVELS` apart. A grey image, or an RGB one with a small coloured mark on
    grey (one coloured pixel, an OCTA scan's red arrow, scale bar or watermark, switched a grey
    image to it: a review), is not. The grading's threshold of a grey picture with a coloured
    overlay (:func:`data_prep.colour_rule.is_overlay`), so that the heatmap and the grading's
    words agree on an image: with an own 1 % threshold an image with 1.5 % red pixels was
    blended as colour while the grading called it a grey picture with an overlay (a reader)."""
    return colour_share(np.asarray(image)) >= OVERLAY_SHARE  # the ingest's rule of a colour picture


OUTLINE_SHARES = {"dashed": 0.5, "solid": STRONGEST_SHARE, "dotted": STRONGEST_SHARE}
"""The outlines drawn on the overlay (:func:`overlay_heatmap`, :func:`outline_masks`), as shares of
the map's maximum: a solid line around the connected part of the pixels within 10% of it
(:data:`STRONGEST_SHARE`) that holds the maximum, the part :func:`strongest_heat` names; a dotted
line around any other part within 10% of it (a second hot spot, not the one named: an
accessibility review found two blobs, 1.0 and 0.95, both outlined solid while the words named
one); a dashed line around the pixels at half of it or more. Each is drawn just outside what it
outlines (:func:`draw_outlines`), white on a dark edge, so that it stands out on a black, a grey
or a bright image alike and for every colour vision: the colours alone did not (over a light grey
image a heat of 0.6 looked like one of 0.1, and under deuteranopia mid heat turned plain grey,
reading as "no evidence")."""


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """RGB uint8 ``(..., 3)``: the colour of each heat value of ``heat`` (any shape, [0, 1];
    clipped) in :data:`HEAT_COLORMAP`: the overlay's colours, and the page's colour key."""
    h = np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)
    codes = np.round(h * 255).astype(np.uint8).reshape(1, -1)
    rgb = cv2.cvtColor(cv2.applyColorMap(codes, HEAT_COLORMAP), cv2.COLOR_BGR2RGB)
    return rgb.reshape(*h.shape, 3)


def outline_width(shape: Sequence[int]) -> int:
    """The white core of an outline, in pixels, for an overlay of ``shape`` ``(H, W, ...)``: 2,
    and one pixel more per 384 px of the shorter side from 960 px (2 on the page's pictures, at
    most 768 px a side); the dark edge adds one pixel on each side. A 1 px core inside its 3 px
    edge read as a black line (an accessibility review), not the white line the caption names."""
    return max(2, round(min(int(shape[0]), int(shape[1])) / 384))


def hottest_parts(heatmap: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The strongest heat of ``heatmap`` ``(H, W)``: ``(hot, part)``, bool masks ``(H, W)`` of the
    pixels at or above :data:`STRONGEST_SHARE` of its maximum and of their 4-connected part
    (cells touching at a corner are two parts) that holds the maximum (the first of equal maxima,
    ``argmax``); the one rule of :func:`strongest_heat`'s words and the overlay's solid line
    (:func:`outline_masks`). None for a map with no positive, finite maximum."""
    heat = np.asarray(heatmap, dtype=np.float32)
    top = float(heat.max()) if heat.size else 0.0
    if not np.isfinite(top) or top <= 0.0:
        return None
    hot = heat >= STRONGEST_SHARE * top
    _, labels = cv2.connectedComponents(hot.astype(np.uint8), connectivity=4)
    return hot, labels == labels.flat[int(np.argmax(heat))]


def _to_shape(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A bool ``mask`` brought to ``shape`` ``(H, W)``: a pixel there is in it when any of the pixels
    it covers is (INTER_AREA's share above 0, so a part a pixel wide in the full map still shows
    when the picture is smaller); nearest neighbour when ``shape`` is larger."""
    if mask.shape == shape:
        return mask
    m = mask.astype(np.float32)
    if shape[0] <= mask.shape[0] and shape[1] <= mask.shape[1]:
        return cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_AREA) > 0
    return cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0


def outline_masks(heatmap: np.ndarray, shape: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """What each outline of :data:`OUTLINE_SHARES` surrounds, as bool masks ``(H, W)`` of
    ``shape`` (default the map's own): ``dashed`` the pixels at half the maximum or more, ``solid``
    the part within 10% of it that holds the maximum (:func:`hottest_parts`, the part the words
    name), ``dotted`` the other parts within 10% of it. Computed on ``heatmap`` ``(h, w)`` as
    given (the full-size map :func:`strongest_heat` reads), then brought to ``shape``
    (:func:`_to_shape`), so the lines and the words agree on which part holds the maximum at any
    picture size. All empty for a map with no positive, finite maximum."""
    heat = np.asarray(heatmap, dtype=np.float32)
    size = tuple(shape) if shape is not None else heat.shape[:2]
    parts = hottest_parts(heat)
    if parts is None:
        empty = np.zeros(size, bool)
        return {"dashed": empty, "dotted": empty, "solid": empty}
    hot, part = parts
    half = heat >= OUTLINE_SHARES["dashed"] * float(heat.max())
    return {"dashed": _to_shape(half, size), "dotted": _to_shape(hot & ~part, size),
            "solid": _to_shape(part, size)}


def heat_outline(mask: np.ndarray, gap: int = 0) -> list[np.ndarray]:
    """The outlines of the bool ``mask`` ``(H, W)`` grown by ``gap`` pixels (an elliptical kernel
    of radius ``gap``; 0: the mask's own boundary): OpenCV contours (each an ``(N, 1, 2)`` int32
    array of ``(x, y)`` pixels, every pixel of the boundary, holes included: a ring has an inner
    line). An empty list for an empty mask."""
    m = np.asarray(mask, dtype=np.uint8)
    if not m.any():
        return []
    if gap > 0:
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1, 2 * gap + 1)))
    contours, _ = cv2.findContours(m, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    return list(contours)


def _inside_runs(contour: np.ndarray, shape: tuple[int, int]) -> list[tuple[np.ndarray, bool]]:
    """``contour``'s pixels off the picture's border, in runs ``(points (N, 2), closed)``: a part
    that runs off the picture gets no line along the border (there the line would lie on the part
    itself); a contour that never touches the border is one closed run."""
    points = contour.reshape(-1, 2)
    h, w = shape
    inside = (points[:, 0] > 0) & (points[:, 1] > 0) & (points[:, 0] < w - 1) & (points[:, 1] < h - 1)
    if inside.all():
        return [(points, True)]
    start = int(np.argmin(inside))  # a border pixel: the runs start after it
    points, inside = np.roll(points, -start, axis=0), np.roll(inside, -start)
    runs, current = [], []
    for point, keep in zip(points, inside, strict=True):
        if keep:
            current.append(point)
        elif current:
            runs.append((np.array(current), False))
            current = []
    if current:
        runs.append((np.array(current), False))
    return runs


def _pieces(points: np.ndarray, drawn: int, left: int) -> list[np.ndarray]:
    """``points`` ``(N, 2)`` (a line's pixels in order) in runs of ``drawn`` pixels, ``left`` left out
    between two runs."""
    return [points[i:i + drawn] for i in range(0, len(points), drawn + left)]


def draw_outlines(rgb: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """``rgb`` (uint8 ``(H, W, 3)``, changed in place and returned) with the outlines of
    :func:`outline_masks` (``heatmap`` ``(h, w)``, any size: the masks are brought to ``rgb``'s):
    each a white line of :func:`outline_width` on a black one two pixels wider, so that it has
    contrast against any image, drawn around the region grown by its half-width and 2 px more, so
    that the line lies outside it and leaves every pixel of it (the peak included) as the colours
    show it; none along the picture's border. The 50 % line dashed (runs of 4 widths + 2 drawn, as
    many left out), the other parts within 10 % dotted (a short run each 2 widths + 6 pixels), the
    part holding the maximum solid, drawn last (on top)."""
    width = outline_width(rgb.shape)
    gap = (width + 2) // 2 + 2
    shape = rgb.shape[:2]
    pattern = {"dashed": (4 * width + 2, 4 * width + 2), "dotted": (2, 2 * width + 6)}
    for style, mask in outline_masks(heatmap, shape).items():  # dashed, dotted, then solid
        runs = [run for c in heat_outline(mask, gap) for run in _inside_runs(c, shape)]
        if style in pattern:
            runs = [(piece, False) for points, _ in runs for piece in _pieces(points, *pattern[style])]
        for colour, thickness in (((0, 0, 0), width + 2), ((255, 255, 255), width)):
            for points, closed in runs:
                cv2.polylines(rgb, [points.reshape(-1, 1, 2).astype(np.int32)], isClosed=closed,
                              color=colour, thickness=thickness)
    return rgb


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, alpha: float | None = None) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)``: the image (grey ``(H, W)`` or RGB ``(H, W, 3)``) with
    ``heatmap`` (same ``(H, W)``, [0, 1]) in colour on top (:func:`heat_colours`) and outlined
    (:func:`draw_outlines`: dashed at half the map's maximum, solid around the part within 10% of
    it that holds the maximum, dotted around any other part within 10% of it). The colour's
    opacity (:func:`blend_heat`) is ``0.85 * sqrt(heat)`` on a grey image (:data:`PEAK_OPACITY`),
    so cold regions show the image unchanged and the hottest nearly the key's bright yellow, and
    ``0.6 * heat`` on a colour one (:data:`COLOUR_PEAK_OPACITY`), so a fundus photograph shows
    through; ``alpha``, when given, replaces the 0.85 or 0.6. An empty map draws nothing. The colour's lightness over a bright image does not rise with the heat (see
    :data:`HEAT_COLORMAP`): the outlines mark the strongest heat."""
    if image.shape[:2] != heatmap.shape[:2]:
        raise ValueError(f"image {image.shape[:2]} and heatmap {heatmap.shape[:2]} differ in size")
    return draw_outlines(blend_heat(image, heatmap, alpha), heatmap)


def blend_heat(image: np.ndarray, heatmap: np.ndarray, alpha: float | None = None) -> np.ndarray:
    """:func:`overlay_heatmap` without the outlines: RGB uint8 ``(H, W, 3)``, the image (grey
    ``(H, W)`` or RGB) with each pixel's heat colour (:func:`heat_colours`) blended on (heat
    clipped to [0, 1]) at opacity ``alpha * sqrt(heat)`` on a grey image (an RGB one with equal
    channels, or a small coloured mark on grey, included: :func:`is_colour_image`; ``alpha``
    default :data:`PEAK_OPACITY`) and ``alpha * heat`` on a colour one (default
    :data:`COLOUR_PEAK_OPACITY`)."""
    pixels = np.asarray(image, dtype=np.uint8)
    base = (pixels if pixels.ndim == 3 else cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)).astype(np.float32)
    h = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    colour = heat_colours(h).astype(np.float32)
    if is_colour_image(pixels):  # a colour photograph shows through
        a = ((COLOUR_PEAK_OPACITY if alpha is None else alpha) * h)[..., None]
    else:
        a = ((PEAK_OPACITY if alpha is None else alpha) * np.sqrt(h))[..., None]
    return np.ascontiguousarray(np.clip(base * (1 - a) + colour * a, 0, 255).astype(np.uint8))


STANDS_OUT_SHARE = 0.5
"""A map is flat, and no region is named (:func:`strongest_heat`), only when its hot pixels (at or
above :data:`STRONGEST_SHARE` of its maximum, every part of them) cover more than this share of
the part of the image the model read, and the rest of that part is warm too
(:data:`FLAT_FLOOR_PERCENTILE`, :data:`FLAT_FLOOR_SHARE`). A nearly flat map's hot part is most
of the image, and its centroid the image's middle whatever the map shows: a trial's 2 x 2 map of
cells 1.0, 0.992, 0.992 and 0.998, hottest in the upper left, was said "strongest in the centre
of the image". Half: a hot part over more than half of the image singles out no part of it.
When the rest is cold the map is not flat, yet no region is named either: the heat is said to be
spread over that share (``spread``). A review found naming one wrong twice: a map flat over a
fundus disc with cold corners (a disc of 7 x 7 cells at 0.97 in a square box, 0.05 outside it,
about a fifth of the box) was "strongest in the centre", the trial's failure back; and the left 4
columns at 0.92 with one cell at 1.0 in the lower right was "strongest in the lower right (59%
...)", a share of a majority that region does not hold."""

FLAT_FLOOR_PERCENTILE = 10
"""The percentile of the heat inside the part of the image the model read that tells whether
the part outside a hot majority is warm too (:data:`FLAT_FLOOR_SHARE`). The 10th, not the
minimum: a thin cooler rim (the bilinear edge of a 7 x 7 map, the corners of a fundus disc's
box) does not make a flat map stand out; a cold remainder of a tenth of the part read or more
does."""

FLAT_FLOOR_SHARE = 0.5
"""A map whose hot pixels cover more than :data:`STANDS_OUT_SHARE` of the part read is flat (no
region stands out, none is named) when its :data:`FLAT_FLOOR_PERCENTILE` th percentile there
is at least this share of the map's maximum; below it, the heat is spread over the hot majority,
with a cooler remainder (:func:`strongest_heat`'s ``spread``), and no region is named either. A review found the hot share alone wrong: a map whose upper
55% was 0.95 and lower 45% 0.05 was said "No region stands out" (its rest is cold: the heat
is spread, not flat, and is now said so), as was a 7 x 7 map with its left 4 columns at 0.95 and the rest at 0.1, drawn bilinear
over 448 px (51% hot)."""

_ROWS = ("upper", "centre", "lower")
_COLUMNS = ("left", "centre", "right")


def region_words(x_fraction: float, y_fraction: float) -> str:
    """Where a point ``(x, y)`` (fractions of the image's width and height, 0 = left / top) lies,
    in a 3 x 3 grid of the image: "upper left", "upper centre", "centre left", "centre",
    "lower right" ..."""
    row = _ROWS[min(2, max(0, int(y_fraction * 3)))]
    col = _COLUMNS[min(2, max(0, int(x_fraction * 3)))]
    return "centre" if row == col == "centre" else f"{row} {col}"


def read_box(box: Sequence[int] | None, shape: Sequence[int]) -> tuple[int, int, int, int]:
    """The part of an image of ``shape`` ``(H, W, ...)`` that the model read, ``box``
    ``(x0, y0, x1, y1)`` (:attr:`data_prep.cache.RowGeometry.box`; None: the whole image), clipped
    to the image: what :func:`strongest_heat` takes the hot share of."""
    h, w = int(shape[0]), int(shape[1])
    x0, y0, x1, y1 = box if box is not None else (0, 0, w, h)
    return max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))


def reads_box_only(box: Sequence[int] | None, shape: Sequence[int]) -> bool:
    """True when ``box`` (clipped, :func:`read_box`) is not the whole image of ``shape`` ``(H, W,
    ...)``: the model read only a fundus disc's box and the map is 0 outside it (what
    :func:`strongest_heat`'s ``read_whole_image`` false says, decided for a map with no place
    too: an empty map, NaN heat)."""
    return read_box(box, shape) != (0, 0, int(shape[1]), int(shape[0]))


def strongest_heat(heatmap: np.ndarray,
                   box: tuple[int, int, int, int] | None = None) -> dict[str, object] | None:
    """Where a heatmap ``(H, W)`` (image coordinates, as :func:`place_heatmap` gives it) is
    strongest, if anywhere: ``box`` ``(x0, y0, x1, y1)`` is the part of the image the model read
    (:attr:`data_prep.cache.RowGeometry.box`; None: the whole image), outside which the map is 0.

    Its hot pixels are those at or above :data:`STRONGEST_SHARE` of its maximum. When they cover
    more than :data:`STANDS_OUT_SHARE` of the box and the rest of the box is warm too (its
    :data:`FLAT_FLOOR_PERCENTILE` th percentile at least :data:`FLAT_FLOOR_SHARE` of the
    maximum), the map is flat: no region stands out, and none is named. When they cover more
    than that share and the rest is cooler, the heat is spread over that majority (``spread``
    true) and no region is named either: a hot majority's centroid is the middle of the part
    read whatever the map shows (a map flat over a fundus disc with cold corners was said
    "strongest in the centre"), and its connected part holding the maximum may hold little of
    it. Otherwise (at most half of the part read hot) the place is the centroid of the connected part
    (4-connected: cells touching at a corner are two parts) of the hot pixels that holds the
    maximum (:func:`hottest_parts`; a coarse map's hot cell: the cell's centre, not its corner),
    the part the overlay outlines solid; another hot part is not named (the overlay outlines it
    dotted, :data:`OUTLINE_SHARES`); when that centroid
    falls outside the part (a ring), the part's pixel nearest to it: the region named always
    holds hot pixels.

    A dict with the same keys either way: ``hot_share`` (float, the share of the box's pixels
    that are hot, rounded down to 3 decimals), ``read_whole_image`` (bool: the box is the whole
    image, so ``hot_share`` is of the whole map; false: of the box alone), ``stands_out``
    (bool: a region is named), ``spread`` (bool: more than half of the part read is hot and the
    rest cooler; false for a flat map and for a named region), ``x``, ``y`` (int pixels, 0 = left / top), ``x_fraction``, ``y_fraction`` (float,
    of the width and height, 3 decimals) and ``region`` (str, :func:`region_words`), these five
    None when no region is named (a flat map, a spread one). None for an empty map (no positive heat) and for one whose
    maximum is not finite (NaN or infinite heat, a model's fault: no place can be read from it,
    and a NaN maximum would leave no pixel hot, the region named holding none)."""
    heat = np.asarray(heatmap, dtype=np.float32)
    top = float(heat.max()) if heat.size else 0.0
    if not np.isfinite(top) or top <= 0.0:
        return None
    h, w = heat.shape[:2]
    mask = (heat >= STRONGEST_SHARE * top).astype(np.uint8)
    x0, y0, x1, y1 = read_box(box, heat.shape)
    whole = not reads_box_only(box, heat.shape)
    read = max(1, (x1 - x0) * (y1 - y0))
    hot = int(mask[y0:y1, x0:x1].sum())
    hot_share = (hot * 1000 // read) / 1000  # rounded down: 1.0 only when every pixel read is hot
    if hot > STANDS_OUT_SHARE * read:
        # "lower": a pixel's own heat, never one interpolated from a -inf pixel
        floor = float(np.percentile(heat[y0:y1, x0:x1], FLAT_FLOOR_PERCENTILE, method="lower"))
        return {"hot_share": hot_share, "read_whole_image": whole, "stands_out": False,
                "spread": floor < FLAT_FLOOR_SHARE * top, "x": None, "y": None, "x_fraction": None,
                "y_fraction": None, "region": None}
    _, part = hottest_parts(heat)  # the overlay's solid line surrounds the same part
    ys, xs = np.nonzero(part)
    cx, cy = float(xs.mean()), float(ys.mean())
    if not part[min(h - 1, round(cy)), min(w - 1, round(cx))]:  # not on the hot part: a ring
        nearest = int(np.argmin((xs - cx) ** 2 + (ys - cy) ** 2))
        cx, cy = float(xs[nearest]), float(ys[nearest])
    xf, yf = (cx + 0.5) / w, (cy + 0.5) / h
    return {"hot_share": hot_share, "read_whole_image": whole, "stands_out": True, "spread": False,
            "x": round(cx),
            "y": round(cy), "x_fraction": round(xf, 3), "y_fraction": round(yf, 3),
            "region": region_words(xf, yf)}


def strongest_words(where: dict[str, object]) -> str:
    """:func:`strongest_heat`'s result as a sentence, in a 3 x 3 grid of the image only: "The heat
    is strongest in the upper centre of the image." (at most half of the part of the image the
    model read is hot); when more than half of that part is hot and the rest cooler
    (``spread``), no region, with that share: "The heat is spread over 75% of the map (within
    10% of its strongest heat); the rest is cooler."; when no region stands out (a flat map:
    the rest warm too), that, and how much of the map is hot: "No region stands out: every part
    of the map is within 10% of its strongest heat." (or "... 72% of the map ..."). The share
    is of the box the model read (``read_whole_image`` false: a fundus disc's box), so it is
    said of "the part of the image the model read", not of the map, most of which may be
    outside the box and cold ("all of the part of the image the model read is within ...").
    The share is rounded down, never "100%" for a map with a cooler pixel, and a share over
    half that rounds down to 50% is "more than half". A result written before ``spread`` (no
    key) with no region is a flat map's. No percentages of a place: a cell of the 224 px
    models' ``layer4`` map is a seventh of the image, and "about 50% across, 22% down" claimed
    a precision the map does not have (an explainability trial);
    ``details["heatmap"]["strongest"]`` keeps the pixels."""
    whole = where.get("read_whole_image", True) is not False  # a result written before the key: the map
    read = "the map" if whole else "the part of the image the model read"
    hot = where.get("hot_share")
    share = float(hot) if isinstance(hot, (int, float)) else 0.0
    percent = round(share * 1000) // 10  # hot_share is in thousandths, rounded down
    within = f"within {1 - STRONGEST_SHARE:.0%} of its strongest heat"
    if where.get("region"):
        return f"The heat is strongest in the {where['region']} of the image."
    if share >= 1.0:
        part = f"every part of {read}" if whole else f"all of {read}"
    else:
        part = f"{percent}% of {read}" if percent > 50 else f"more than half of {read}"
    if where.get("spread") is True:
        return f"The heat is spread over {part} ({within}); the rest is cooler."
    return f"No region stands out: {part} is {within}."
