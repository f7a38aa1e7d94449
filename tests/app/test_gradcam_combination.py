"""How the app combines the Grad-CAM maps of its fold models and flips (an explainability trial):
the combined map is Grad-CAM of the ensemble's mean logit, not a mean of separately scaled
maps; its units before scaling are those of the logit; and it is flip-equivariant.

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
    """With a shared backbone, the folds' signed maps averaged, then ReLU, then scaled once
    equals MONAI's Grad-CAM of the mean logit (the channel weights averaged over the folds), to
    float32 rounding: the one-pass path and the per-model path alike, and the raw maximum is
    MONAI's map's maximum before upsampling."""
    from monai.visualize import GradCAM

    folds = _folds()
    whole = _MeanLogit(folds).eval()
    monai_cam = GradCAM(nn_module=whole, target_layers="backbone.layer4", upsampler=cam_upsampler,
                        postprocessing=minmax_normalizer)
    fast = FoldMapGradCAM(folds)
    slow = EnsembleGradCAM(folds, "backbone.layer4")
    lit = 0
    for seed in range(3):
        x = _image(size, seed)
        maps = _view_maps(folds, x, ((),))
        for k in range(K):
            want = monai_cam(x[None].clone().requires_grad_(True), class_idx=k)[0, 0].detach().numpy()
            raw = float(monai_cam.compute_map(x[None].clone().requires_grad_(True), class_idx=k).max().detach())
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
