"""A damaged PNG is said in the package's words alone: OpenCV's libpng printed its own lines
(``libpng error: IDAT: CRC error``, ``bad adaptive filter value``, ``PNG input buffer is
incomplete``, ``libpng warning: iCCP: ...``) straight to stderr (file descriptor 2, which
``cv2.setLogLevel`` does not reach) beside the package's error. A PNG whose critical chunk fails
its CRC is now refused before any decoder reads it (:func:`data_prep.decode.png_crc_problem`),
and OpenCV is given only a PNG's pixel chunks. Captured at the file-descriptor level (capfd)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms
from png_bytes import cv2_png as _png
from png_bytes import png_chunk as _chunk
from png_bytes import smooth_scan as _scan

from app.inputs import InputRejected, load_bytes
from data_prep.decode import decode, png_crc_problem
from data_prep.flatten import is_colour
from drac_ssl.grading.predict import ImageReadError, read_image


def _no_libpng(capfd: pytest.CaptureFixture[str]) -> str:
    out, err = capfd.readouterr()
    assert "libpng" not in err and "libpng" not in out, err
    return err


def _damaged(data: bytes) -> bytes:
    """``data`` with 64 bytes inside its first IDAT flipped, the chunk's length and CRC kept: a
    copy that changed bytes (the structure stays complete, so OpenCV decoded it)."""
    at = data.index(b"IDAT") + 4 + 40
    return data[:at] + bytes(b ^ 0x55 for b in data[at:at + 64]) + data[at + 64:]


@pytest.mark.parametrize("how", ["truncated", "zero-filled tail", "bytes changed"])
def test_a_damaged_png_is_said_by_the_package_alone(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                   how: str) -> None:
    data = _png(_scan())
    damaged = {"truncated": data[:len(data) // 2],
               "zero-filled tail": data[:len(data) // 2] + bytes(len(data) - len(data) // 2),
               "bytes changed": _damaged(data)}[how]
    path = tmp_path / "scan 7.png"
    path.write_bytes(damaged)
    capfd.readouterr()

    with pytest.raises(ImageReadError) as raised:  # the export's and a user's own code's path
        read_image(path, 1)
    assert str(path) in str(raised.value)
    assert ("truncated PNG" if how == "truncated" else "corrupt PNG") in str(raised.value)
    _no_libpng(capfd)

    with pytest.raises(InputRejected) as rejected:  # the app's upload
        load_bytes(damaged, "scan 7.png")
    assert "scan 7.png" in str(rejected.value)
    _no_libpng(capfd)

    decoded = decode(damaged, str(path))  # the ingest's decoder
    assert decoded.pixels is None and [p.path for p in decoded.problems] == [str(path)]
    assert decoded.problems[0].severity == "error"
    _no_libpng(capfd)

    assert is_colour(path) is None  # python -m data_prep flatten: it read the file with cv2.imread
    _no_libpng(capfd)


def test_changed_bytes_name_the_chunk_that_fails_its_crc(capfd: pytest.CaptureFixture[str]) -> None:
    data = _png(_scan((64, 64, 3), np.uint16))  # 16-bit colour: OpenCV's decode, not Pillow's
    damaged = _damaged(data)
    problem = png_crc_problem(damaged, "a.png")
    assert problem is not None and problem.kind == "corrupt"
    assert problem.what.startswith("corrupt PNG (its IDAT chunk at byte ") and "fails its CRC check" in problem.what
    assert decode(damaged, "a.png").problems == [problem]
    assert png_crc_problem(data, "a.png") is None and png_crc_problem(b"GIF89a", "a.gif") is None
    assert decode(data, "a.png").pixels is not None
    _no_libpng(capfd)


def test_metadata_libpng_complains_about_never_reaches_it(capfd: pytest.CaptureFixture[str]) -> None:
    """An sRGB ICC profile in a grey PNG (valid for Pillow): libpng printed "libpng warning:
    iCCP: ... RGB color space not permitted on grayscale PNG" for a file decoded without a word
    of the package's. A damaged text chunk (its CRC wrong) likewise: Pillow refuses the file,
    OpenCV decodes it without the chunk."""
    grey = _scan()
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    import io

    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, "PNG", icc_profile=profile)
    decoded = decode(buf.getvalue(), "profiled.png")
    np.testing.assert_array_equal(decoded.pixels, grey)
    _no_libpng(capfd)

    data = _png(grey)
    text = _chunk(b"tEXt", b"Comment\x00scanned")
    broken = data[:33] + text[:-4] + b"\x00\x00\x00\x00" + data[33:]
    decoded = decode(broken, "text.png")
    np.testing.assert_array_equal(decoded.pixels, grey)
    _no_libpng(capfd)


def test_a_16_bit_colour_png_without_its_iend_is_decoded(capfd: pytest.CaptureFixture[str]) -> None:
    """Complete image data, the IEND chunk cut off: libpng failed at the end ("PNG input buffer
    is incomplete" on stderr) and the file was called corrupt; it is decoded with the note that
    every other format gets."""
    data = _png(_scan((64, 64, 3), np.uint16, seed=1))
    trns = _chunk(b"tRNS", struct.pack(">HHH", 1, 2, 3))  # not Pillow-free: OpenCV after Pillow's load
    cut = (data[:33] + trns + data[33:])[:-12]
    decoded = decode(cut, "cut.png")
    assert decoded.pixels is not None and decoded.pixels.shape == (64, 64, 3)
    assert any(p.kind == "trailing-data" and "no complete IEND" in p.what for p in decoded.problems)
    _no_libpng(capfd)
