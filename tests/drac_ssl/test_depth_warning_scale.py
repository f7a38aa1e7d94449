"""The bit-depth doubt compares the scale of a file's values, not its container (review of the
bitdepth merge, F3): it compared ``(file, bits used)``, so it fired on an 8-bit picture saved at
16 bits as ``value * 257`` (which decodes to exactly the 8-bit pixels), on a 16-bit file holding
8-bit values as they are, and on a 1-bit mask beside its own "Only 2 grey levels" warning.

* the decoder reads 16-bit samples that are all multiples of 257 as 8-bit data, exactly, however
  dim (a dim one was read as 14-bit data and brightened 4 times);
* :func:`~drac_ssl.grading.image_notes.other_depth_warning` says nothing when the bits used
  equal a training group's, nor of a 1-bit file; it still doubts a dim 12-bit-in-16 scan for a
  model trained on full-range 16-bit scans (the case it was built for).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from data_prep.decode import X257_WORDS, decode, sample_depth
from drac_ssl.grading.image_notes import OTHER_DEPTH, other_depth_warning
from drac_ssl.grading.predict import read_image

EIGHT_BIT = (("8-bit", 8, 30),)
FULL_16 = (("16-bit", 16, 30),)


def _smooth(seed: int = 0) -> np.ndarray:
    """A smooth picture in 0..1 (float64): neither blank nor a few levels."""
    rng = np.random.default_rng(seed)
    smooth = cv2.resize(rng.uniform(0.0, 1.0, (8, 8)).astype(np.float32), (64, 64)).astype(np.float64)
    return (smooth - smooth.min()) / (smooth.max() - smooth.min())


def _picture(top: int, seed: int = 0) -> np.ndarray:
    """:func:`_smooth` as uint8 values 0..top."""
    return np.round(_smooth(seed) * top).astype(np.uint8)


def _png(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def _depth_said(path: Path, trained: tuple[tuple[str, int, int], ...]) -> tuple[np.ndarray, list[str]]:
    image, said = read_image(path, 1, kind="octa", bit_depths=trained)
    return image, [w for w in said if OTHER_DEPTH in w]


@pytest.mark.parametrize("top", [255, 50])
def test_an_8_bit_picture_saved_as_value_x_257_is_8_bit_data(tmp_path: Path, top: int) -> None:
    picture = _picture(top)
    path = _png(tmp_path / "x257.png", picture.astype(np.uint16) * 257)
    decoded = decode(path.read_bytes(), str(path))
    np.testing.assert_array_equal(decoded.pixels, picture)  # the 8-bit values exactly, even dim
    (finding,) = [p.what for p in decoded.problems if p.kind == "bit-depth"]
    assert X257_WORDS in finding, finding
    depth = sample_depth(decoded.mode, [finding])
    assert depth.scaling == ("16-bit", 8) and depth.guessed
    image, warned = _depth_said(path, EIGHT_BIT)
    np.testing.assert_array_equal(image, picture)
    assert warned == []


def test_a_16_bit_file_holding_8_bit_values_is_not_doubted_on_an_8_bit_model(tmp_path: Path) -> None:
    path = _png(tmp_path / "as_is.png", _picture(255).astype(np.uint16))
    assert _depth_said(path, EIGHT_BIT)[1] == []
    # but on a model trained on full-range 16-bit scans its values are on another scale
    (warned,) = _depth_said(path, FULL_16)[1]
    assert warned.startswith(f"as_is.png: {OTHER_DEPTH}: this file is 16-bit read as 8-bit data, ")


def test_a_1_bit_mask_gets_its_few_levels_warning_alone(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "mask.png"
    Image.fromarray(_picture(255) > 128).convert("1").save(path)
    for trained in (EIGHT_BIT, FULL_16):
        _, said = read_image(path, 1, kind="octa", bit_depths=trained)
        assert len(said) == 1 and said[0].words.startswith("Only 2 grey levels"), said
    assert other_depth_warning(("1-bit", 1), EIGHT_BIT) == ""


def test_the_dim_scan_and_other_scales_are_still_doubted(tmp_path: Path) -> None:
    dim = _png(tmp_path / "dim.png", np.round(_smooth() * 3000).astype(np.uint16))
    (warned,) = _depth_said(dim, FULL_16)[1]
    assert warned.startswith(f"dim.png: {OTHER_DEPTH}: this file is 16-bit read as 12-bit data, ")
    full = _png(tmp_path / "full.png", np.round(_smooth() * 65535).astype(np.uint16))
    assert _depth_said(full, FULL_16)[1] == []
    assert len(_depth_said(full, EIGHT_BIT)[1]) == 1  # >> 8 where the training images were used as they are
    # the same bits used, whatever the container or the number of groups
    assert other_depth_warning(("32-bit", 16), FULL_16) == ""
    assert other_depth_warning(("float", 8), EIGHT_BIT) == ""
    assert other_depth_warning(("16-bit", 8), (*FULL_16, ("8-bit", 8, 3))) == ""
