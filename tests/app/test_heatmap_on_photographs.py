"""The heat colour over a colour fundus photograph lets the photograph show through (an
accessibility review: at 0.85 * sqrt(heat) a heat of 0.25 was 43 % opaque, and the peak cell of
an APTOS photo kept 29 % of its brightness variation); the grey (OCTA) view is as it was."""

from __future__ import annotations

import numpy as np

from app.gradcam import COLOUR_PEAK_OPACITY, PEAK_OPACITY, blend_heat, heat_colours


def _kept(image: np.ndarray, heat: float) -> float:
    """The share of ``image``'s brightness variation left under a uniform ``heat``."""
    out = blend_heat(image, np.full(image.shape[:2], heat, np.float32)).astype(np.float64)
    return float(out.mean(-1).std() / image.astype(np.float64).mean(-1).std())


def test_a_colour_photograph_shows_through_the_heat() -> None:
    rng = np.random.default_rng(0)
    photo = np.clip(rng.normal([150, 80, 40], 25, (64, 64, 3)), 0, 255).astype(np.uint8)  # reddish fundus
    assert _kept(photo, 0.25) >= 0.8  # was 0.57
    assert _kept(photo, 1.0) >= 0.38  # was 0.15
    hot = blend_heat(photo, np.ones((64, 64), np.float32)).astype(np.float64)
    expected = (1 - COLOUR_PEAK_OPACITY) * photo + COLOUR_PEAK_OPACITY * heat_colours(np.ones(1))[0]
    assert np.abs(hot - expected).max() <= 1.0  # the peak's opacity, linear in the heat


def test_a_grey_image_keeps_its_overlay_even_as_three_equal_channels() -> None:
    grey = np.random.default_rng(1).integers(0, 255, (32, 32), np.uint8)
    heat = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    a = (PEAK_OPACITY * np.sqrt(heat))[..., None]
    expected = np.clip(np.dstack([grey] * 3) * (1 - a) + heat_colours(heat) * a, 0, 255).astype(np.uint8)
    assert np.array_equal(blend_heat(grey, heat), expected)
    assert np.array_equal(blend_heat(np.dstack([grey] * 3), heat), expected)
