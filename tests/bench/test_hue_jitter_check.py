"""bench/hue_jitter_check.py: the GPU path's hue jitter against torchvision's adjust_hue, and
the figures the docstrings and docs/cifar10_recipe.md quote from its committed result."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from bench import hue_jitter_check
from bench.summarize import hue_jitter_check_rows

REPO = Path(__file__).resolve().parents[2]
RESULT = REPO / "bench" / "results" / "hue_jitter_check.json"


@pytest.mark.parametrize("h", [0.1, -0.05])
def test_the_bench_sets_the_packages_hue_draw_to_h(h: float) -> None:
    """yiq_hue is the package's _jitter with its hue draw at h: the YIQ rotation by 2 pi h
    itself (a changed order of draws in _jitter would move HUE_ROW and fail here)."""
    from drac_ssl.augment import GpuTwoViewAugment
    from drac_ssl.config import AugmentConfig

    x = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    aug = GpuTwoViewAugment(AugmentConfig(recipe="cifar", image_size=4, crop_scale=[0.2, 1.0]), 3)
    c, s = math.cos(2 * math.pi * h), math.sin(2 * math.pi * h)
    rot = torch.tensor([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=torch.float32)
    expected = torch.einsum("ij,njhw->nihw", aug.yiq_to_rgb @ rot @ aug.rgb_to_yiq, x).clamp(0, 1)
    torch.testing.assert_close(hue_jitter_check.yiq_hue(x, h), expected, atol=1e-5, rtol=0)


def test_the_yiq_rotation_turns_against_hsv_and_is_no_approximation_of_it() -> None:
    figures = hue_jitter_check.measure(4096, [0.1], seed=3)
    row = figures["shifts"]["0.1"]
    assert row["hsv_hue_change"]["package_plus_h"] < -0.05 < 0.05 < row["hsv_hue_change"]["torchvision_plus_h"]
    assert row["same_sign"]["mean"] > row["no_shift"]["mean"] > row["opposite_sign"]["mean"]
    (line, *_) = hue_jitter_check_rows({"colours": 4096, **figures})
    assert "h = 0.1" in line and f"+h max {row['same_sign']['max']}" in line, line


def test_the_quoted_figures_are_the_committed_results() -> None:
    at = json.loads(RESULT.read_text(encoding="utf-8"))["shifts"]["0.1"]
    same, flipped, none = (at[k] for k in ("same_sign", "opposite_sign", "no_shift"))
    doc = " ".join((REPO / "docs" / "cifar10_recipe.md").read_text(encoding="utf-8").split())
    assert (f"at h = 0.1, max {same['max']:.2f} and mean {same['mean']:.2f} apart per channel from torchvision's "
            f"`adjust_hue` (it turns the other way; with the sign flipped max {flipped['max']:.2f}, mean "
            f"{flipped['mean']:.3f}, against mean {none['mean']:.2f} for no shift at all") in doc
    source = (REPO / "drac_ssl" / "augment.py").read_text(encoding="utf-8")
    words = " ".join(re.sub(r"^\s+", "", source, flags=re.M).split())
    assert (f"``+h`` max {same['max']:.2f}, mean {same['mean']:.2f}; ``-h`` max {flipped['max']:.2f}, mean "
            f"{flipped['mean']:.3f}; no shift at all, mean {none['mean']:.2f}") in words
