"""Grad-CAM heatmaps of a fold ensemble with :class:`monai.visualize.GradCAM`, and the overlay.

What MONAI does here: forward/backward hooks on the target layer (the bundle's
``metadata["gradcam_target_layer"]``, ``backbone.layer4``), the channel weights as the
spatial mean of the gradients of the class score, ``ReLU(sum_c w_c A_c)`` and the bilinear
upsampling to the input size. What it does NOT do right for us: its default postprocessing
(``default_normalizer``) maps (min, max) to (1, 0), i.e. it *inverts* the map. We pass a
plain min-max normaliser instead, so 1 marks the regions whose activation raises the score
of the explained grade (the correct sign; ``tests/app/test_predict.py`` checks it on a
model whose evidence is known).

Ensemble: the CAM of every fold model on the identity view (no flip TTA), each normalised
to [0, 1], then averaged and normalised again. Two implementations of that one definition:

* :class:`FoldMapGradCAM`, what the app runs: ONE forward and ONE backward, through the fold
  heads only. The prediction pass (:func:`drac_ssl.grading.predict.ensemble_outputs` with
  ``keep_maps``) already computed every fold model's ``layer4`` map of the identity view (with
  a shared frozen backbone: one map for all folds). Grad-CAM needs the activations ``A`` of
  the target layer and the gradient of the class score with respect to ``A``, and that
  gradient only flows through what comes after the layer: the heads. So the maps, stacked
  ``(F, C, h, w)`` (row f for fold f), go through a small module whose target layer is an
  identity on that stack and whose output row f is fold f's head on row f
  (:class:`FoldHeads`); MONAI's GradCAM on it computes, in one backward pass, each fold's
  ``ReLU(sum_c w_fc A_fc)`` with ``w_fc`` the spatial mean of ``d score_f / d A_f`` (rows do
  not interact, so row f's gradient is fold f's alone), upsampled to the model input's size
  and min-max normalised per row. That is term by term what MONAI computes on each whole fold
  model; the backbone is not run again (and never gets hooks or gradients).
* :class:`EnsembleGradCAM`, the reference: MONAI's GradCAM on a deep copy of each whole fold
  model, one forward and backward (to the input) per fold. Used for a bundle whose
  ``gradcam_target_layer`` is not the backbone's ``layer4`` (the maps the prediction keeps),
  and by the tests, which check the one-pass heatmap against it.

The score explained: a classification head's logit of the shown grade; a regression head's
single output (the predicted grade as a number: regions that push the grade up).

Upsampling and placement: a map is upsampled to the model input bilinearly, or
nearest-neighbour when it is coarse (fewer than :data:`COARSE_CELLS` cells a side:
:func:`cam_upsampler`), and put back on the uploaded image through the crop and padding the
preprocessing applied (:func:`place_heatmap`; a fundus-crop model reads only the disc's box).
"""

from __future__ import annotations

import copy
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from data_prep.cache import RowGeometry

__all__ = ["COARSE_CELLS", "HEAT_COLORMAP", "EnsembleGradCAM", "FoldHeads", "FoldMapGradCAM", "cam_upsampler",
           "coarse_words", "heat_colours", "is_coarse", "minmax_normalizer", "overlay_heatmap", "place_heatmap",
           "region_words", "resize_heatmap", "strongest_heat", "strongest_words"]

COARSE_CELLS = 4
"""A Grad-CAM map with fewer cells than this on a side is coarse (:func:`is_coarse`): it is
upsampled nearest-neighbour, so that its cells stay visible, and the page says what so few
cells can tell. A ResNet's ``layer4`` has stride 32: a 64 px input gives 2 x 2 cells, where a
smooth (bilinear) stretch over a 1024 px image made one positive cell look like a localised
lesion."""


def is_coarse(cells: Sequence[int] | None) -> bool:
    """True for a map of fewer than :data:`COARSE_CELLS` cells on a side (a 1 x 1 map, which
    has no location at all, included)."""
    return cells is not None and min(int(c) for c in cells) < COARSE_CELLS


def coarse_words(cells: Sequence[int]) -> str:
    """What a coarse map (:func:`is_coarse`) of ``cells`` ``(h, w)`` can tell, e.g. "2 × 2 cells:
    it can say which quarter of the image, not which lesion"."""
    h, w = int(cells[0]), int(cells[1])
    n = h * w
    part = {2: "half", 4: "quarter", 9: "ninth"}.get(n)
    which = f"which {part} of the image" if part else f"which of its {n} blocks of the image"
    return f"{h} × {w} cells: it can say {which}, not which lesion"


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


class EnsembleGradCAM:
    """Grad-CAM of the mean of several models' CAMs.

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
        from monai.visualize import GradCAM

        if not models:
            raise ValueError("EnsembleGradCAM needs at least one model")
        self.target_layer = target_layer
        self.output = output
        self._lock = threading.Lock()
        self.last_cells: tuple[int, int] | None = None  # target layer's map size, last call
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
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._cams.append(GradCAM(nn_module=clone, target_layers=target_layer,
                                          upsampler=cam_upsampler, postprocessing=minmax_normalizer))

    def __call__(self, x: Tensor, class_idx: int) -> np.ndarray:
        """Heatmap ``(S, S)`` float32 in [0, 1] for one preprocessed input ``x`` ``(C, S, S)``
        (or ``(1, C, S, S)``); ``class_idx`` is the grade to explain (ignored for a
        regression head, whose single output is explained). All zeros when no region has
        positive evidence for the class (every fold's ``ReLU`` map is empty)."""
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[0] != 1:
            raise ValueError(f"expected one input (C, S, S), got {tuple(x.shape)}")
        idx = int(class_idx) if self.output == "classification" else 0
        maps = []
        with self._lock, torch.enable_grad():
            for cam in self._cams:
                inp = x.detach().clone().float().requires_grad_(True)
                m = cam(inp, class_idx=idx)  # (1, 1, S, S), min-max normalised
                maps.append(torch.as_tensor(m).detach().float()[0, 0])
                acti = cam.nn_module.activations.get(self.target_layer)
                if acti is not None:
                    self.last_cells = (int(acti.shape[-2]), int(acti.shape[-1]))
                cam.nn_module.activations.clear()  # do not keep the graph alive
                cam.nn_module.gradients.clear()
        mean = torch.stack(maps).mean(0)
        return np.clip(minmax_normalizer(mean[None].numpy())[0], 0.0, 1.0).astype(np.float32)


class FoldHeads(nn.Module):
    """Every fold model's part after the backbone's ``layer4``, one fold per row.

    ``forward(maps (F, C, h, w)) -> (F, out)``: row f is fold f's head on map f (the
    ``conv`` head reads the map, the others its global average pool: what
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
        if maps.shape[0] != len(self.heads):
            raise ValueError(f"expected one map per fold ({len(self.heads)}), got {maps.shape[0]}")
        rows = []
        for f, head in enumerate(self.heads):
            h = maps[f:f + 1]
            rows.append(head(h if self.reads_map[f] else torch.flatten(self.pool(h), 1)))
        return torch.cat(rows)


class FoldMapGradCAM:
    """One-pass Grad-CAM of a fold ensemble from the fold models' ``layer4`` maps (module
    docstring): MONAI's GradCAM on :class:`FoldHeads`.

    Args:
        models: the fold models (:class:`drac_ssl.grading.model.GradingModel`); their heads
            are copied once.
        output: ``classification`` (explain the logit of the given class) or ``regression``.

    Thread-safe: calls are serialised by a lock (MONAI keeps per-call state on the wrapper);
    a call costs a heads' forward and backward, milliseconds.
    """

    target_layer = "backbone.layer4"

    def __init__(self, models: Sequence[nn.Module], output: str = "classification") -> None:
        from monai.visualize import GradCAM

        if not models:
            raise ValueError("FoldMapGradCAM needs at least one model")
        self.output = output
        self.folds = len(models)
        self._lock = threading.Lock()
        self._size: tuple[int, int] = (1, 1)
        self.last_cells: tuple[int, int] | None = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._cam = GradCAM(nn_module=FoldHeads(models), target_layers="map",
                                upsampler=self._upsampler, postprocessing=minmax_normalizer)

    def _upsampler(self, _map_size: Sequence[int]) -> Callable[[Tensor], Tensor]:
        return cam_upsampler(self._size)  # to the model input, not to the map's size

    def from_maps(self, maps: Sequence[Tensor], class_idx: int,
                  input_size: tuple[int, int]) -> np.ndarray:
        """Heatmap ``input_size`` float32 in [0, 1] from each fold model's identity-view
        ``layer4`` map of ONE image (``maps[f]`` ``(C, h, w)`` or ``(1, C, h, w)``; the same
        tensor for every fold with a shared backbone), explaining ``class_idx`` (ignored for
        a regression head). All zeros when no fold has positive evidence for the class."""
        if len(maps) != self.folds:
            raise ValueError(f"expected {self.folds} maps (one per fold), got {len(maps)}")
        stacked = torch.stack([m.reshape(m.shape[-3:]) for m in maps]).detach().float()
        idx = int(class_idx) if self.output == "classification" else 0
        with self._lock, torch.enable_grad():
            self._size = (int(input_size[0]), int(input_size[1]))
            self.last_cells = (int(stacked.shape[-2]), int(stacked.shape[-1]))
            per_fold = self._cam(stacked.requires_grad_(True), class_idx=idx)  # (F, 1, S, S)
            self._cam.nn_module.activations.clear()  # do not keep the graph alive
            self._cam.nn_module.gradients.clear()
            self._cam.nn_module.score = None
        mean = torch.as_tensor(per_fold).detach().float()[:, 0].mean(0)
        return np.clip(minmax_normalizer(mean[None].numpy())[0], 0.0, 1.0).astype(np.float32)


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


HEAT_COLORMAP = cv2.COLORMAP_VIRIDIS
"""The heat colours: viridis, dark purple (cold) through teal and green to bright yellow
(hot). Perceptually uniform, and its lightness rises with the heat for normal vision and
for red-green colour-blind readers (deuteranopia, protanopia), so "brighter = more" holds for
everyone. Jet, used before, peaked in a dark red that such readers see as dark olive, nearly
as dark as OCTA's black background, with its lightest colour (yellow) in the middle of the
scale (``tests/app/test_accessibility.py`` checks the lightness under Machado 2009's
simulation)."""


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """RGB uint8 ``(..., 3)``: the colour of each heat value of ``heat`` (any shape, [0, 1];
    clipped) in :data:`HEAT_COLORMAP`: the overlay's colours, and the page's colour key."""
    h = np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)
    codes = np.round(h * 255).astype(np.uint8).reshape(1, -1)
    rgb = cv2.cvtColor(cv2.applyColorMap(codes, HEAT_COLORMAP), cv2.COLOR_BGR2RGB)
    return rgb.reshape(*h.shape, 3)


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)``: the image (grey ``(H, W)`` or RGB ``(H, W, 3)``) with
    ``heatmap`` (same ``(H, W)``, [0, 1]) in colour on top (:func:`heat_colours`); the colour's
    opacity grows with the heat, so cold regions show the image unchanged, and the strongest
    evidence is the brightest (yellow) colour."""
    if image.shape[:2] != heatmap.shape[:2]:
        raise ValueError(f"image {image.shape[:2]} and heatmap {heatmap.shape[:2]} differ in size")
    pixels = np.asarray(image, dtype=np.uint8)
    base = (pixels if pixels.ndim == 3 else cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)).astype(np.float32)
    h = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    colour = heat_colours(h).astype(np.float32)
    a = (alpha * np.sqrt(h))[..., None]
    return np.clip(base * (1 - a) + colour * a, 0, 255).astype(np.uint8)


STRONGEST_SHARE = 0.9
"""The strongest heat (:func:`strongest_heat`): the pixels at or above this share of the map's
maximum, in the connected part of them that holds the maximum."""

_ROWS = ("upper", "centre", "lower")
_COLUMNS = ("left", "centre", "right")


def region_words(x_fraction: float, y_fraction: float) -> str:
    """Where a point ``(x, y)`` (fractions of the image's width and height, 0 = left / top) lies,
    in a 3 x 3 grid of the image: "upper left", "upper centre", "centre left", "centre",
    "lower right" ..."""
    row = _ROWS[min(2, max(0, int(y_fraction * 3)))]
    col = _COLUMNS[min(2, max(0, int(x_fraction * 3)))]
    return "centre" if row == col == "centre" else f"{row} {col}"


def strongest_heat(heatmap: np.ndarray) -> dict[str, object] | None:
    """Where a heatmap ``(H, W)`` (image coordinates, as :func:`place_heatmap` gives it) is
    strongest: the centroid of the connected part (4-connected: cells touching at a corner are
    two parts) of its pixels at or above :data:`STRONGEST_SHARE` of its maximum that holds the
    maximum (a coarse map's hot cell: the cell's centre, not its corner); when that centroid
    falls outside the part (a ring), the part's pixel nearest to it. A dict ``x``, ``y``
    (pixels, 0 = left / top), ``x_fraction``, ``y_fraction`` (of the width and height, 3
    decimals) and ``region`` (:func:`region_words`); None for an empty map (no positive heat)."""
    heat = np.asarray(heatmap, dtype=np.float32)
    top = float(heat.max()) if heat.size else 0.0
    if top <= 0.0:
        return None
    mask = (heat >= STRONGEST_SHARE * top).astype(np.uint8)
    _, labels, _, centroids = cv2.connectedComponentsWithStats(mask, connectivity=4)
    part = int(labels.flat[int(np.argmax(heat))])
    cx, cy = (float(v) for v in centroids[part])
    h, w = heat.shape[:2]
    if labels[min(h - 1, round(cy)), min(w - 1, round(cx))] != part:  # not on the hot part: a ring
        ys, xs = np.nonzero(labels == part)
        nearest = int(np.argmin((xs - cx) ** 2 + (ys - cy) ** 2))
        cx, cy = float(xs[nearest]), float(ys[nearest])
    xf, yf = (cx + 0.5) / w, (cy + 0.5) / h
    return {"x": round(cx), "y": round(cy), "x_fraction": round(xf, 3), "y_fraction": round(yf, 3),
            "region": region_words(xf, yf)}


def strongest_words(where: dict[str, object]) -> str:
    """The sentence part of :func:`strongest_heat`'s result: "strongest in the upper left of the
    image (about 20% across, 15% down)"."""
    return (f"strongest in the {where['region']} of the image (about "
            f"{round(100 * float(where['x_fraction']))}% across, "
            f"{round(100 * float(where['y_fraction']))}% down)")
