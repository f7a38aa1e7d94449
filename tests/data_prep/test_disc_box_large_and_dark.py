""":func:`data_prep.fundus.disc_box` on photographs larger than its 512 px search copy, and on
dark ones (a retinal-image review):

* the box found on the copy is scaled back with one factor, as bundles trained with
  data.fundus_crop expect (up to ~3 px of disc lost or border kept at an edge: documented);
* a photograph so dark that the floor 7 sets the threshold, not a tenth of its mean, gets a
  per-image note at the ingest's cache (the crop may cut off the disc's dim rim)."""

from __future__ import annotations

import cv2
import numpy as np

from data_prep.cache import CacheOptions, cache_rows
from data_prep.fundus import MASK_SIZE, disc_box, find_disc


def _photo(width: int, height: int, centre: tuple[int, int], radius: int, level: int = 160) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    cv2.circle(image, centre, radius, (level, level // 2, level // 4), -1)
    return image


def _bright_box(image: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(image.max(axis=2))
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_a_large_photograph_keeps_the_box_bundles_were_trained_with() -> None:
    # The copy is 512 x 340; one factor 4 scales its box back, so the disc cut by the bottom
    # edge (bright to row 1362) ends at 1360: the documented limitation, kept so bundles trained
    # with data.fundus_crop grade as before (a per-axis box would end at 1362).
    image = _photo(2048, 1362, (1024, 1000), 700)
    assert max(image.shape) > MASK_SIZE
    assert _bright_box(image) == (324, 300, 1725, 1362)
    assert disc_box(image) == (324, 300, 1724, 1360)


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


def test_grading_a_dark_photograph_keeps_the_ingests_note_to_itself() -> None:
    # grading warns only of what the ingest warned of; the dark note was a note there
    from drac_ssl.grading.model import InputSpec
    from drac_ssl.grading.predict import preprocess_image

    spec = InputSpec(channels=3, source_size=64, image_size=32, recipe="fundus", mean=(0.5,) * 3,
                     std=(0.25,) * 3, fundus_crop=True)
    dark = (_photo(300, 240, (150, 120), 110) * 0.1).astype(np.uint8)
    _, found = cache_rows(dark, [64], spec.cache_options(), "dark.png")
    assert [p for p in found if p.kind == "fundus-dark"]  # the ingest would note it
    notes: list[str] = []
    x = preprocess_image(dark, {"input": spec.to_metadata()}, notes=notes)
    assert x.shape == (3, 32, 32)
    assert not [n for n in notes if "may cut off the disc" in n], notes
