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


def test_a_coloured_mark_on_a_grey_image_keeps_the_grey_overlay() -> None:
    """One coloured pixel (an OCTA image's red arrow, scale bar or watermark) switched a grey
    image to the photograph's rule; JPEG's chroma noise of a few grey levels must not either."""
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 255, (50, 50), np.uint8)
    heat = np.linspace(0, 1, 50 * 50, dtype=np.float32).reshape(50, 50)
    marked = np.dstack([grey] * 3)
    marked[:3, :5] = (255, 0, 0)  # a red arrow on 0.6 % of the pixels
    marked[10:, :] = np.clip(marked[10:, :].astype(np.int16) + rng.integers(-4, 5, (40, 50, 3)), 0, 255)
    a = (PEAK_OPACITY * np.sqrt(heat))[..., None]
    expected = np.clip(marked * (1 - a) + heat_colours(heat) * a, 0, 255).astype(np.uint8)
    assert np.array_equal(blend_heat(marked, heat), expected)
    marked[:, :5] = (255, 0, 0)  # a tenth of the image coloured: a colour image
    assert not np.array_equal(blend_heat(marked, heat)[:, 5:], expected[:, 5:])


def test_the_heatmap_and_the_grading_agree_on_an_overlaid_grey_image() -> None:
    """1.5 % red pixels on grey: the grading calls it a grey picture with a coloured overlay
    (data_prep.colour_rule.is_overlay); the heatmap blended it as colour (its own 1 % threshold,
    a reader): one threshold, the overlay's."""
    from app.gradcam import is_colour_image
    from data_prep.colour_rule import colour_share, is_overlay

    marked = np.dstack([np.full((40, 50), 120, np.uint8)] * 3)
    marked[:3, :10] = (255, 0, 0)  # 30 of 2000 pixels
    share = colour_share(marked)
    assert share == 0.015 and is_overlay(True, share)
    assert not is_colour_image(marked)
    marked[:4, :10] = (255, 0, 0)  # 2 %: a colour picture to both
    assert is_colour_image(marked) and not is_overlay(True, colour_share(marked))
