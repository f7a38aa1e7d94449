"""Performance review F2: importing ``monai.visualize`` costs ~2 s of CPU (it loads
tensorboard, scikit-learn, matplotlib), and the app did it while building its Predictor, before
it listened, nearly doubling the time to its first grade. The Grad-CAM wrappers now build
MONAI's hooks on their first map (the same maps), and still say a missing MONAI when made."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

import app.gradcam as gradcam
from app.gradcam import EnsembleGradCAM, FoldMapGradCAM


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer4 = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(x)


class _Head(nn.Module):
    uses_map = False

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc(h)


class _Fold(nn.Module):
    def __init__(self, backbone: _Backbone) -> None:
        super().__init__()
        self.backbone, self.head = backbone, _Head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x).mean(dim=(2, 3)))


def _folds() -> list[_Fold]:
    torch.manual_seed(0)
    backbone = _Backbone().eval()
    return [_Fold(backbone).eval(), _Fold(backbone).eval()]


class _GradCAM:
    """Stands in for ``monai.visualize.GradCAM`` (its real import takes seconds; the maps
    against MONAI's are tests/app/test_gradcam_combination.py's)."""

    def __init__(self, nn_module: nn.Module, target_layers: str) -> None:
        self.nn_module, self.target_layers = nn_module, target_layers


@pytest.fixture
def imports(monkeypatch) -> list[str]:
    """The modules :mod:`app.gradcam` imports through ``import_keeping_random`` from now on."""
    seen: list[str] = []
    monkeypatch.setattr(gradcam, "import_keeping_random",
                        lambda name: seen.append(name) or SimpleNamespace(GradCAM=_GradCAM))
    gradcam._signed_gradcam_class.cache_clear()
    yield seen
    gradcam._signed_gradcam_class.cache_clear()


def test_monai_is_imported_on_the_first_map_not_when_the_wrappers_are_made(imports: list[str]) -> None:
    folds = _folds()
    one_pass, per_model = FoldMapGradCAM(folds), EnsembleGradCAM(folds, "backbone.layer4")
    assert imports == []  # nothing of MONAI yet: the app listens and grades without it
    cam = one_pass._cam  # what from_maps takes first
    assert imports == ["monai.visualize"] and isinstance(cam, _GradCAM)
    assert cam.target_layers == "map" and isinstance(cam.nn_module, gradcam.FoldHeads)
    assert one_pass._cam is cam  # the hooks are built once
    cams = [lazy.get() for lazy in per_model._cams]
    assert [c.target_layers for c in cams] == ["backbone.layer4"] * 2
    assert all(c.nn_module is not f for c, f in zip(cams, folds, strict=True))  # on the copies
    assert imports == ["monai.visualize"]  # one import (functools.cache)


def test_a_missing_monai_is_said_when_the_wrappers_are_made(monkeypatch) -> None:
    real = gradcam.importlib.util.find_spec
    monkeypatch.setattr(gradcam.importlib.util, "find_spec",
                        lambda name, *a: None if name == "monai" else real(name, *a))
    for make in (lambda: FoldMapGradCAM(_folds()), lambda: EnsembleGradCAM(_folds(), "backbone.layer4")):
        with pytest.raises(ModuleNotFoundError, match="No module named 'monai'"):
            make()
