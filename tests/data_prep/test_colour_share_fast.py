"""Performance review F1: :func:`data_prep.colour_rule.colour_share` reads the three channel
planes elementwise (numpy's max/min over a length-3 last axis was ~30x slower), and the app and
:func:`drac_ssl.grading.predict.read_image` take the decoder's share instead of measuring each
image again (the app measured a 1024 px upload 4 times per grade). The share stays the same,
but for uint32/uint64 levels of 2**31 or more, which the formula before wrapped."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import drac_ssl.grading.predict as grading_predict
from app.inputs import load_bytes
from data_prep.colour_rule import GREY_SPREAD_LEVELS, colour_share
from drac_ssl.grading.predict import read_image


def _reference_share(pixels: np.ndarray) -> float:
    """The formula before the review, word for word."""
    if pixels.ndim < 3 or pixels.shape[2] < 3 or pixels.size == 0:
        return 0.0
    rgb = pixels[..., :3]
    spread = rgb.max(axis=-1).astype(np.int32) - rgb.min(axis=-1)
    return float(np.count_nonzero(spread > GREY_SPREAD_LEVELS)) / spread.size


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("channels", [3, 4])  # RGB, and RGBA (its alpha is not a colour channel)
def test_the_share_is_the_formula_s_for_every_dtype(dtype: type, channels: int) -> None:
    rng = np.random.default_rng(channels)
    info = np.finfo(dtype) if np.dtype(dtype).kind == "f" else np.iinfo(dtype)
    low, high = (-300.0, 300.0) if np.dtype(dtype).kind == "f" else (max(info.min, -300), min(info.max, 300))
    grey = rng.uniform(low, high, (37, 41, 1))
    # a grey picture with near-grey noise, so that spreads sit around the threshold, a corner
    # of full-range colour, and the extremes of the dtype
    pixels = np.concatenate([grey] * channels, axis=2) + rng.normal(0, GREY_SPREAD_LEVELS, (37, 41, channels))
    pixels[:8, :8] = rng.uniform(low, high, (8, 8, channels))
    pixels = np.clip(pixels, low, high).astype(dtype)
    pixels[0, 0, :3] = (info.max, info.min, info.max) if np.dtype(dtype).kind != "f" else (255.5, 0.4, 3)
    assert 0.0 < _reference_share(pixels) < 1.0
    assert colour_share(pixels) == _reference_share(pixels)
    view = pixels[::2, 1::3]  # a strided view, as a crop hands it over
    assert colour_share(view) == _reference_share(view)


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
def test_wide_unsigned_levels_are_not_wrapped(dtype: type) -> None:
    """A review (F6): the formula before cast the high channel to int32, so a level of 2**31 or
    more wrapped negative and a strongly coloured pixel counted as grey; the share is now the
    exact one, counted here with Python's integers."""
    top = int(np.iinfo(dtype).max)
    pixels = np.array([[[3_000_000_000, 0, 0], [top, top - GREY_SPREAD_LEVELS, top],  # colour, grey
                        [top, 2**31, 7], [10, 10 + GREY_SPREAD_LEVELS + 1, 10]]], dtype)  # colour, colour
    exact = sum(max(p) - min(p) > GREY_SPREAD_LEVELS for p in pixels.reshape(-1, 3).tolist()) / 4
    assert exact == 0.75
    assert colour_share(pixels) == exact
    assert _reference_share(pixels) < exact  # what the formula before said: the wrapped ones grey


def test_grey_and_empty_pictures_have_no_colour() -> None:
    for pixels in (np.zeros((5, 5), np.uint8), np.zeros((5, 5, 1), np.uint8), np.zeros((0, 4, 3), np.uint8),
                   np.full((4, 4, 3), 200, np.uint8)):
        assert colour_share(pixels) == _reference_share(pixels) == 0.0


def _overlaid_scan(path: Path) -> Path:
    """A grey 64 px scan saved as RGB PNG with a 6 x 6 px orange scale bar (0.9 % colour)."""
    grey = cv2.resize(np.random.default_rng(0).uniform(20, 230, (8, 8)).astype(np.float32), (64, 64))
    rgb = np.dstack([grey.astype(np.uint8)] * 3)
    rgb[55:61, 55:61] = (0, 160, 255)
    assert cv2.imwrite(str(path), rgb)
    return path


def test_the_decoder_s_share_is_taken_not_measured_again(tmp_path: Path, monkeypatch) -> None:
    path = _overlaid_scan(tmp_path / "scan.png")
    before = read_image(path, 3)
    loaded = load_bytes(path.read_bytes(), path.name, channels=3)
    expected = loaded.for_channels(3)
    calls: list[tuple[int, ...]] = []
    measured = grading_predict.colour_share
    monkeypatch.setattr(grading_predict, "colour_share", lambda a: calls.append(a.shape) or measured(a))
    assert np.array_equal(loaded.for_channels(3), expected)
    after = read_image(path, 3)
    assert calls == []  # each file's share came from its decoder
    assert np.array_equal(after[0], before[0]) and after[1:] == before[1:]
    assert loaded.colour_share == measured(np.asarray(loaded.pixels)) > 0
