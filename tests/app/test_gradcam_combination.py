"""How the app combines the Grad-CAM maps of its fold models and flips (an explainability trial):
the combined map is Grad-CAM of the ensemble's mean logit, not a mean of separately scaled
maps (with a shared backbone, and with the folds' own backbones stacked as the channels of one
layer); its units before scaling are those of the logit; it is divided by its maximum (0 = no
positive evidence); and it is flip-equivariant.

A tiny model stands in for a bundle: one backbone (its ``layer4`` a convolution + ReLU, as a
ResNet stage ends) shared by two fold heads, one reading the pooled features (``linear``) and
one reading the map (``conv``, like :class:`drac_ssl.grading.model.ConvHead`). The reference is
MONAI's own :class:`monai.visualize.GradCAM`, untouched, on a module whose output is the mean of
the two heads' logits.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from app.gradcam import (
    EnsembleGradCAM,
    FoldMapGradCAM,
    cam_upsampler,
    combine_cams,
    minmax_normalizer,
)
from drac_ssl.grading.predict import TTA_FLIPS

K = 3  # grades


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 6, 3, stride=2, padding=1), nn.ReLU())
        self.layer4 = nn.Sequential(nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return self.layer4(self.stem(x))


class _LinearHead(nn.Module):
    uses_map = False

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, K)

    def forward(self, h: Tensor) -> Tensor:
        return self.fc(h)


class _ConvHead(nn.Module):
    uses_map = True

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(8, 5, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(5, K)

    def forward(self, h: Tensor) -> Tensor:
        return self.fc(self.conv(h).mean(dim=(2, 3)))


class _Fold(nn.Module):
    """A fold model as :class:`FoldHeads` reads one: ``backbone``, ``head`` (``uses_map``)."""

    def __init__(self, backbone: _Backbone, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: Tensor) -> Tensor:
        m = self.backbone(x)
        return self.head(m if self.head.uses_map else m.mean(dim=(2, 3)))


class _MeanLogit(nn.Module):
    """The ensemble as one model: the mean of the folds' logits, the shared backbone run once
    (MONAI's hooks keep the last activation and gradient of the layer: a backbone run once per
    fold would leave one fold's gradient)."""

    def __init__(self, folds: list[_Fold]) -> None:
        super().__init__()
        self.backbone = folds[0].backbone
        self.heads = nn.ModuleList(f.head for f in folds)

    def forward(self, x: Tensor) -> Tensor:
        m = self.backbone(x)
        return torch.stack([h(m if h.uses_map else m.mean(dim=(2, 3))) for h in self.heads]).mean(0)


def _folds(seed: int = 0) -> list[_Fold]:
    torch.manual_seed(seed)
    backbone = _Backbone().eval()
    return [_Fold(backbone, _LinearHead()).eval(), _Fold(backbone, _ConvHead()).eval()]


def _image(size: int, seed: int) -> Tensor:
    return torch.randn(1, size, size, generator=torch.Generator().manual_seed(seed))


def _view_maps(folds: list[_Fold], x: Tensor, flips: tuple[tuple[int, ...], ...]) -> list[Tensor]:
    """Each fold's layer4 maps of the flipped views of ``x`` ``(C, S, S)``: ``(V, C, h, w)``."""
    views = torch.stack([x.flip(dims) if dims else x for dims in flips])
    with torch.no_grad():
        return [f.backbone(views) for f in folds]


@pytest.mark.parametrize("size", [36, 20], ids=["9x9-bilinear", "5x5-cells"])
def test_the_combined_map_is_gradcam_of_the_mean_logit(size: int) -> None:
    """With a shared backbone, the folds' signed maps averaged, then ReLU, then divided once by
    the maximum at the cells equals MONAI's Grad-CAM of the mean logit (the channel weights
    averaged over the folds) divided by its map's maximum before upsampling, to float32
    rounding: the one-pass path and the per-model path alike, and the raw maximum is that
    maximum."""
    from monai.visualize import GradCAM

    folds = _folds()
    whole = _MeanLogit(folds).eval()
    monai_cam = GradCAM(nn_module=whole, target_layers="backbone.layer4", upsampler=cam_upsampler,
                        postprocessing=lambda m: m)
    fast = FoldMapGradCAM(folds)
    slow = EnsembleGradCAM(folds, "backbone.layer4")
    lit = 0
    for seed in range(3):
        x = _image(size, seed)
        maps = _view_maps(folds, x, ((),))
        for k in range(K):
            up = monai_cam(x[None].clone().requires_grad_(True), class_idx=k)[0, 0].detach().numpy()
            raw = float(monai_cam.compute_map(x[None].clone().requires_grad_(True), class_idx=k).max().detach())
            want = up / raw if raw > 0 else np.zeros_like(up)
            for got in (fast.from_maps(maps, k, (size, size)), slow(x, k)):
                assert got.heat.shape == (size, size) and got.views == 1
                np.testing.assert_allclose(got.heat, want, rtol=0, atol=1e-6)
                assert got.raw_max == pytest.approx(raw, rel=1e-5, abs=1e-9)
            lit += int(float(want.max()) > 0.5)
    assert lit >= 3  # maps with evidence were compared, not only empty ones
    # what the app did before (each fold ReLU'd and scaled alone, then averaged) is another map
    x = _image(size, 0)
    per_fold = [GradCAM(nn_module=f, target_layers="backbone.layer4", upsampler=cam_upsampler,
                        postprocessing=minmax_normalizer)(x[None].clone().requires_grad_(True), class_idx=1)
                for f in folds]
    old = minmax_normalizer(torch.stack(per_fold).mean(0))[0, 0].detach().numpy()
    new = fast.from_maps(_view_maps(folds, x, ((),)), 1, (size, size)).heat
    assert float(np.abs(old - new).max()) > 0.01


def test_a_linear_heads_signed_cells_sum_to_its_logit_less_the_bias() -> None:
    """The unit of the raw map (app.gradcam.RAW_MAX_NOTE): for a linear head on pooled
    features, Grad-CAM's signed cells add up to the logit less its bias."""
    linear = _folds(seed=1)[:1]
    cam = FoldMapGradCAM(linear)
    x = _image(36, 5)
    maps = _view_maps(linear, x, ((),))
    with torch.no_grad():
        logits = linear[0](x[None])[0]
    for k in range(K):
        got = cam.from_maps(maps, k, (36, 36))
        bias = float(linear[0].head.fc.bias[k].detach())
        assert float(got.signed.sum()) == pytest.approx(float(logits[k]) - bias, rel=1e-5, abs=1e-6)
        assert got.raw_max == pytest.approx(max(0.0, float(got.signed.max())), rel=1e-6)


class _StackedLayers(nn.Module):
    """Folds with their own backbones as one model: the folds' layer4 maps stacked as the
    channels of one layer (``stack``), each fold's head reading its own channels; the output is
    the mean of the folds' logits."""

    def __init__(self, folds: list[_Fold]) -> None:
        super().__init__()
        self.folds = nn.ModuleList(folds)
        self.stack = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        maps = [f.backbone(x) for f in self.folds]
        stacked = self.stack(torch.cat(maps, 1)).split([m.shape[1] for m in maps], 1)
        return torch.stack([f.head(m if f.head.uses_map else m.mean(dim=(2, 3)))
                            for f, m in zip(self.folds, stacked, strict=True)]).mean(0)


def test_separate_backbones_get_gradcam_of_the_mean_logit_at_the_stacked_layer() -> None:
    """Folds with their own backbones (``freeze: last`` or ``all``): the per-model path's map
    equals MONAI's Grad-CAM of the mean logit at a layer that stacks the folds' layer4 maps as
    its channels (a review measured 1.8e-7), not Grad-CAM at a layer of any one network."""
    from monai.visualize import GradCAM

    torch.manual_seed(0)
    folds = [_Fold(_Backbone(), _LinearHead()).eval(), _Fold(_Backbone(), _ConvHead()).eval()]
    assert folds[0].backbone is not folds[1].backbone
    ref = GradCAM(nn_module=_StackedLayers(folds).eval(), target_layers="stack",
                  upsampler=cam_upsampler, postprocessing=lambda m: m)
    slow = EnsembleGradCAM(folds, "backbone.layer4")
    lit = 0
    for seed in range(4):
        x = _image(36, seed)
        for k in range(K):
            up = ref(x[None].clone().requires_grad_(True), class_idx=k)[0, 0].detach().numpy()
            raw = float(ref.compute_map(x[None].clone().requires_grad_(True), class_idx=k).max().detach())
            got = slow(x, k)
            np.testing.assert_allclose(got.heat, up / raw if raw > 0 else np.zeros_like(up), rtol=0, atol=1e-6)
            assert got.raw_max == pytest.approx(raw, rel=1e-5, abs=1e-9)
            lit += int(raw > 0)
    assert lit >= 3  # maps with evidence were compared


@pytest.mark.parametrize("flip", [(-1,), (-2,), (-2, -1)], ids=["horizontal", "vertical", "both"])
def test_the_map_over_the_flips_is_flip_equivariant(flip: tuple[int, ...]) -> None:
    """The views of a flipped image are the views of the image, in another order; each view's
    map un-flipped, their mean is the flipped mean: the map of a flipped image is the flipped map
    (the identity view alone would not do: the network is not mirror-symmetric). The per-model
    path, given the same views, agrees."""
    folds = _folds(seed=2)
    fast = FoldMapGradCAM(folds)
    slow = EnsembleGradCAM(folds, "backbone.layer4")
    x = _image(36, 7)
    xf = x.flip(flip)
    for k in range(K):
        a = fast.from_maps(_view_maps(folds, x, TTA_FLIPS), k, (36, 36), TTA_FLIPS)
        b = fast.from_maps(_view_maps(folds, xf, TTA_FLIPS), k, (36, 36), TTA_FLIPS)
        assert a.views == b.views == 4
        np.testing.assert_allclose(b.heat, np.flip(a.heat, [d + 2 for d in flip]), rtol=0, atol=1e-5)
        assert b.raw_max == pytest.approx(a.raw_max, rel=1e-5, abs=1e-9)
        np.testing.assert_allclose(slow(x, k, TTA_FLIPS).heat, a.heat, rtol=0, atol=1e-5)
    one = [fast.from_maps(_view_maps(folds, v, ((),)), 0, (36, 36)).heat for v in (x, xf)]
    assert float(np.abs(one[1] - np.flip(one[0], [d + 2 for d in flip])).max()) > 1e-3


def test_combine_cams_unflips_each_view_and_checks_the_views() -> None:
    """A hand-made case: one fold, the identity view hot in its top-left cell and the
    horizontally flipped view hot in its top-right cell (the same place of the image) add up;
    a negative cell is cut by the ReLU only after the mean."""
    signed = torch.zeros(1, 2, 2, 2)
    signed[0, 0, 0, 0] = 1.0
    signed[0, 1, 0, 1] = 3.0  # un-flipped: top left
    signed[0, 0, 1, 1] = -2.0
    signed[0, 1, 1, 0] = 4.0  # un-flipped: bottom right, mean +1 (ReLU after the mean keeps it)
    got = combine_cams(signed, ((), (-1,)), (2, 2))
    np.testing.assert_allclose(got.signed, [[2.0, 0.0], [0.0, 1.0]])
    assert got.raw_max == 2.0 and got.cells == (2, 2)
    np.testing.assert_allclose(got.heat, [[1.0, 0.0], [0.0, 0.5]])
    with pytest.raises(ValueError, match="views"):
        combine_cams(signed, ((),), (2, 2))


def test_the_heat_is_the_map_over_its_maximum_not_min_max() -> None:
    """``heat = ReLU(mean) / raw_max``: 0 = no positive evidence, 1 = the maximum, so the
    weakest positive cell of an all-positive map is not drawn as none (min-max scaling drew it
    at 0 while the page said uncoloured parts raised the score little or not at all); a map
    with no positive cell stays all zeros."""
    positive = combine_cams(torch.tensor([[1.0, 2.0], [3.0, 4.0]])[None, None], ((),), (2, 2))
    np.testing.assert_allclose(positive.heat, [[0.25, 0.5], [0.75, 1.0]], rtol=0, atol=1e-7)
    assert positive.raw_max == 4.0
    assert float(minmax_normalizer(np.array([[1.0, 2.0], [3.0, 4.0]])[None])[0, 0, 0]) == 0.0  # what min-max drew
    # bilinear (a 9 x 9 map is fine): never above the maximum at the cells, and 1 where a cell
    # centre lands on a pixel
    grid = torch.arange(1.0, 82.0).reshape(1, 1, 9, 9)
    fine = combine_cams(grid, ((),), (9, 9))
    np.testing.assert_allclose(fine.heat, grid[0, 0].numpy() / 81.0, rtol=0, atol=1e-6)
    assert float(combine_cams(grid, ((),), (36, 36)).heat.max()) <= 1.0
    empty = combine_cams(-torch.ones(1, 1, 2, 2), ((),), (4, 4))
    assert empty.raw_max == 0.0 and not empty.heat.any() and empty.heat.dtype == np.float32
