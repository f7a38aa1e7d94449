"""An alpha channel of one value everywhere carries no mask (review formats F4): an RGBA export
at 50% opacity (alpha 128 in every pixel) was composited over black, its picture darkened by
half, and graded so (the grade could change) under a "100.0% transparent" warning. The decoder
(``data_prep.decode._composite``, the one place the ingest and grading handle alpha) ignores
it with a note; a real mask (alpha that varies) is composited as before."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from app.inputs import InputRejected, check_gradable, load_bytes
from data_prep import decode, validate
from drac_ssl.grading.image_notes import is_plain_note
from drac_ssl.grading.predict import read_image


def _png(array: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture()
def rgb() -> np.ndarray:
    rng = np.random.default_rng(4)
    base = np.cumsum(np.cumsum(rng.normal(size=(48, 48)), 0), 1)
    base = (255 * (base - base.min()) / np.ptp(base)).astype(np.uint8)
    return np.dstack([base, np.roll(base, 5, 0), base // 2])


@pytest.mark.parametrize("value", [128, 26, 254])
def test_a_constant_alpha_is_ignored_with_a_note(rgb: np.ndarray, value: int) -> None:
    data = _png(np.dstack([rgb, np.full(rgb.shape[:2], value, np.uint8)]), "RGBA")
    decoded = decode.decode(data, "half.png")
    np.testing.assert_array_equal(decoded.pixels, rgb)  # not darkened
    (said,) = [p for p in decoded.problems if p.kind == "alpha"]
    assert said.severity == "note" and said.what.startswith(decode.CONSTANT_ALPHA), said
    assert f"({value} of 255, {100 * (1 - value / 255):.1f}% transparent)" in said.what, said


@pytest.mark.parametrize("value", [0, 25])
def test_a_constant_alpha_that_hides_everything_is_composited_and_refused(rgb: np.ndarray, value: int) -> None:
    """Below 10% opacity (26 of 255) a constant alpha reads as "hide everything", not an
    export's opacity (review formats R2): composited over black as on main, never graded from
    the colour values the file hides; fully transparent (0), the app refuses it as blank."""
    data = _png(np.dstack([rgb, np.full(rgb.shape[:2], value, np.uint8)]), "RGBA")
    decoded = decode.decode(data, "clear.png")
    np.testing.assert_array_equal(decoded.pixels, np.rint(rgb * (value / 255)).astype(np.uint8))
    (said,) = [p for p in decoded.problems if p.kind == "alpha"]
    # it hides (nearly) all the picture: mostly transparent, a doubt where it is graded
    hidden = f"{100 * (1 - value / 255):.1f}%"
    assert said.severity == "warning" and said.what.startswith(
        f"{decode.MOSTLY_TRANSPARENT}: its alpha channel hides {hidden} of the picture"), said.what
    if value == 0:
        page = load_bytes(data, "clear.png", channels=3, kind="fundus")
        with pytest.raises(InputRejected, match="blank or near-constant"):
            check_gradable(page, "fundus", 3)


def test_the_constant_alpha_threshold_scales_to_16_bits(rgb: np.ndarray) -> None:
    grey = rgb[..., 0].astype(np.uint16) * 257
    for value, kept in ((6553, False), (6554, True)):  # 10% of 65535 = 6553.5
        array = np.dstack([grey, grey, grey, np.full_like(grey, value)])
        data = cv2.imencode(".png", array)[1].tobytes()  # Pillow writes no 16-bit RGBA PNG
        decoded = decode.decode(data, "deep.png")
        (said,) = [p for p in decoded.problems if p.kind == "alpha"]
        assert (said.severity == "note") is kept, (value, said)


def test_a_constant_grey_alpha_is_ignored_and_a_mask_still_composited(rgb: np.ndarray) -> None:
    grey = rgb[..., 0]
    decoded = decode.decode(_png(np.dstack([grey, np.full_like(grey, 128)]), "LA"), "la.png")
    np.testing.assert_array_equal(decoded.pixels, grey)
    assert [p.severity for p in decoded.problems if p.kind == "alpha"] == ["note"]
    # a real mask (alpha that varies): composited over black and warned, as before
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :12] = 128
    decoded = decode.decode(_png(np.dstack([rgb, alpha]), "RGBA"), "mask.png")
    expected = rgb.copy()
    expected[:, :12] = np.rint(rgb[:, :12] * (128 / 255)).astype(np.uint8)
    np.testing.assert_array_equal(decoded.pixels, expected)
    (said,) = [p for p in decoded.problems if p.kind == "alpha"]
    assert said.severity == "warning" and "25.0% of the pixels are (partly) transparent" in said.what


def test_the_ingest_and_grading_read_a_constant_alpha_alike(rgb: np.ndarray, tmp_path: Path) -> None:
    data = _png(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)]), "RGBA")
    path = tmp_path / "half.png"
    path.write_bytes(data)
    ingest = validate.inspect_image(data, str(path), channels=None)  # as a colour ingest
    notes: list[str] = []
    pixels, warnings = read_image(path, 3, notes=notes)
    np.testing.assert_array_equal(pixels, rgb)
    np.testing.assert_array_equal(ingest.pixels, pixels)
    assert [str(w) for w in warnings if "alpha" in str(w) or "transparent" in str(w)] == [], warnings
    assert any(decode.CONSTANT_ALPHA in str(n) for n in notes), notes
    page = load_bytes(data, "half.png", channels=3, kind="fundus")
    np.testing.assert_array_equal(page.pixels, rgb)
    said = [w for w in page.warnings if decode.CONSTANT_ALPHA in w]
    assert len(said) == 1 and is_plain_note(said[0]), page.warnings
