"""The structure check that tells random noise from an image (a clinician review found
uniform noise graded "Normal" with no warning): :func:`app.inputs.neighbour_correlation`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.inputs import NOISE_CORRELATION, neighbour_correlation

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _scan(side: int = 128, seed: int = 0) -> np.ndarray:
    """A grey image with structure (smooth texture and a little noise): graded."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    img = 60 + 40 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + rng.normal(0, 12, (side, side))
    return np.clip(img, 0, 255).astype(np.uint8)


def _noise(side: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (side, side), dtype=np.uint8)


# --------------------------------------------------------------------------------------
# The structure statistic


@pytest.mark.parametrize("side", [64, 96, 300, 1000, 1024, 1400])
def test_noise_has_no_neighbour_correlation(side: int) -> None:
    # 300 and 1000 px: a non-integer resize (INTER_AREA) made neighbours of noise correlate
    # (0.2 at 300 px); the block mean keeps them independent
    assert abs(neighbour_correlation(_noise(side))) < 0.05
    colour = np.random.default_rng(1).integers(0, 256, (side, side, 3), dtype=np.uint8)
    assert abs(neighbour_correlation(colour)) < 0.05


def test_structured_images_correlate_far_above_the_threshold() -> None:
    assert neighbour_correlation(_scan(96)) > 2 * NOISE_CORRELATION
    assert neighbour_correlation(_scan(1024)) > 2 * NOISE_CORRELATION
    assert np.isnan(neighbour_correlation(np.zeros((1, 50), np.uint8)))  # undefined, not noise


def test_real_images_pass_the_structure_check() -> None:
    """The measured values the docstring gives: the 3 DRAC samples 0.66-0.68, the 30 APTOS
    photographs 0.34-0.75 (the threshold is under half the lowest)."""
    drac = sorted((SHARED / "drac_samples").glob("sample_*.png"))
    aptos = sorted((SHARED / "aptos_samples" / "train_images").glob("*.png"))
    if not drac or not aptos:
        pytest.skip(f"the real samples are not under {SHARED} (../shared beside the repo)")
    values = [neighbour_correlation(np.asarray(Image.open(p).convert("L"))) for p in drac + aptos]
    assert min(values) > 2 * NOISE_CORRELATION, values
    assert min(values[:3]) > 0.6


def test_a_phantom_image_passes_the_structure_check() -> None:
    from data_prep.phantom import phantom_image

    assert neighbour_correlation(phantom_image(0, 7, 1, size=256)) > 2 * NOISE_CORRELATION
