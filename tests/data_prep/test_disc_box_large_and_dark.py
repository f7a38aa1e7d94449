""":func:`data_prep.fundus.disc_box` on photographs larger than its 512 px search copy, and on
dark ones (a retinal-image review):

* the box found on the copy is scaled back per axis: the copy's sides are rounded separately,
  so one shared scale cut up to a few pixels of a disc cut by the frame (2048 x 1362: the copy
  is 512 x 340, 1362 / 340 = 4.006 px a copy pixel down, not 4);
* a photograph so dark that the floor 7 sets the threshold, not a tenth of its mean, gets a
  per-image note at the ingest's cache (the crop may cut off the disc's dim rim)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from data_prep.cache import CacheOptions, cache_rows
from data_prep.fundus import MASK_SIZE, disc_box, find_disc


def _photo(width: int, height: int, centre: tuple[int, int], radius: int, level: int = 160) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    cv2.circle(image, centre, radius, (level, level // 2, level // 4), -1)
    return image


def _bright_box(image: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(image.max(axis=2))
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize("width,height,centre,radius", [
    (2048, 1362, (1024, 1000), 700),   # cut by the bottom edge; the copy's height rounded down
    (1362, 2048, (1000, 1024), 700),   # the same on its side
    (1500, 1101, (740, 560), 520),
    (3001, 2003, (1500, 1000), 990),
])
def test_the_box_of_a_large_photograph_holds_the_whole_disc(width: int, height: int,
                                                             centre: tuple[int, int], radius: int) -> None:
    image = _photo(width, height, centre, radius)
    assert max(width, height) > MASK_SIZE
    x0, y0, x1, y1 = disc_box(image)
    bx0, by0, bx1, by1 = _bright_box(image)
    assert x0 <= bx0 and y0 <= by0 and x1 >= bx1 and y1 >= by1, ((x0, y0, x1, y1), (bx0, by0, bx1, by1))
    # and at most about two copy pixels of surround (one widened, one of the copy's edge)
    step = max(width, height) / MASK_SIZE
    assert max(bx0 - x0, by0 - y0, x1 - bx1, y1 - by1) <= 2 * step + 1


def test_a_small_photograph_keeps_its_exact_box() -> None:
    image = _photo(320, 224, (160, 112), 100)
    assert disc_box(image) == _bright_box(image)  # no copy, no widening: as before


def test_a_dark_photograph_gets_a_note_and_a_bright_one_none() -> None:
    options = CacheOptions(target="native", fundus_crop=True)
    bright = _photo(300, 240, (150, 120), 110)
    dark = (bright * 0.1).astype(np.uint8)  # a tenth of its mean is below 7
    assert not find_disc(bright).floored and find_disc(dark).floored
    _, found = cache_rows(bright, [32], options, "bright.png")
    assert not [p for p in found if p.kind == "fundus-dark"]
    _, found = cache_rows(dark, [32], options, "dark.png")
    [said] = [p for p in found if p.kind == "fundus-dark"]
    assert said.severity == "note" and said.path == "dark.png" and "may cut off the disc" in said.what
