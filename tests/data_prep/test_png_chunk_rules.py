"""What the decoder makes of a PNG's chunks (review of the jpegcheck merge):

* F4: a PNG whose only damage is its IEND chunk's CRC was refused as corrupt; IEND carries no
  data, so it is decoded, with a plain note.
* F5: a critical chunk the standard does not define (type's first letter upper case) was
  dropped silently (OpenCV is given the pixel chunks alone, Pillow skips it); the PNG
  specification has a decoder refuse such a file, and so does the package, in its own words.
* F8: the CRC walk reads the chunks through a view (no copy per chunk), and a PNG holding only
  the chunks OpenCV is given anyway reaches it as the file's own bytes, not a copy.

Captured at the file-descriptor level (capfd): libpng prints nothing of its own.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from png_bytes import cv2_png as _png
from png_bytes import png_chunk as _chunk
from png_bytes import smooth_scan

from app.inputs import InputRejected, load_bytes
from data_prep.decode import IEND_DAMAGED, _png_pixel_bytes, decode, png_structure
from drac_ssl.grading.image_notes import FILE_FINDING, is_plain_note
from drac_ssl.grading.predict import ImageReadError, read_image


def _scan(shape: tuple[int, ...] = (96, 96), dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    return smooth_scan(shape, dtype, seed, grid=12)


def _after_ihdr(data: bytes, chunk: bytes) -> bytes:
    return data[:33] + chunk + data[33:]


def _no_libpng(capfd: pytest.CaptureFixture[str]) -> None:
    out, err = capfd.readouterr()
    assert "libpng" not in err and "libpng" not in out, err


@pytest.mark.parametrize("kind", ["grey 8-bit", "16-bit colour with tRNS"])
def test_a_png_whose_only_damage_is_its_iend_crc_is_decoded_with_a_note(
        tmp_path: Path, capfd: pytest.CaptureFixture[str], kind: str) -> None:
    if kind == "grey 8-bit":  # OpenCV's fast path
        pixels = _scan()
        data = _png(pixels)
        expected = pixels
    else:  # Pillow loads it first, then OpenCV decodes the 16-bit colour
        pixels = _scan((64, 64, 3), np.uint16, seed=1)
        data = _after_ihdr(_png(pixels), _chunk(b"tRNS", struct.pack(">HHH", 1, 2, 3)))
        expected = (cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB) >> 8).astype(np.uint8)
    assert data.endswith(_chunk(b"IEND", b""))
    damaged = data[:-4] + bytes(b ^ 0xFF for b in data[-4:])
    capfd.readouterr()
    decoded = decode(damaged, "end.png")
    assert decoded.pixels is not None, [p.line for p in decoded.problems]
    np.testing.assert_array_equal(decoded.pixels, expected)
    (said,) = [p for p in decoded.problems if p.what == IEND_DAMAGED]
    assert said.severity == "note" and said.kind == "trailing-data"
    # the app and read_image grade it, the finding a plain note
    loaded = load_bytes(damaged, "end.png", channels=3 if pixels.ndim == 3 else 1)
    (finding,) = [w for w in loaded.warnings if w.startswith(FILE_FINDING) and "IEND" in w]
    assert is_plain_note(finding), finding
    path = tmp_path / "end.png"
    path.write_bytes(damaged)
    notes: list[str] = []
    read_image(path, 1, notes=notes)
    assert any("IEND fails its CRC check" in n for n in notes), notes
    _no_libpng(capfd)


def test_an_unknown_critical_chunk_is_refused_in_the_package_s_words(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    pixels = _scan()
    data = _png(pixels)
    strange = _after_ihdr(data, _chunk(b"ZzZz", b"\x01\x02\x03"))
    capfd.readouterr()
    decoded = decode(strange, "odd.png")
    assert decoded.pixels is None
    (problem,) = decoded.problems
    assert problem.severity == "error" and problem.kind == "format"
    assert problem.path == "odd.png" and "'ZzZz' chunk at byte 33" in problem.what
    assert "critical chunk no standard decoder knows" in problem.what
    assert problem.fix.startswith("re-export it as a standard PNG")
    path = tmp_path / "odd.png"
    path.write_bytes(strange)
    with pytest.raises(ImageReadError, match=r"odd\.png: PNG with a critical chunk .*'ZzZz'.*-> re-export it "
                                             r"as a standard PNG"):
        read_image(path, 1)
    with pytest.raises(InputRejected, match="ZzZz"):
        load_bytes(strange, "odd.png")
    # an unknown ancillary chunk (first letter lower case) may be skipped: decoded, as before
    ancillary = decode(_after_ihdr(data, _chunk(b"zzZz", b"\x01\x02\x03")), "fine.png")
    np.testing.assert_array_equal(ancillary.pixels, pixels)
    # PLTE is a standard critical chunk: a palette PNG is decoded
    buf = io.BytesIO()
    Image.fromarray(pixels).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(buf, "PNG")
    assert b"PLTE" in buf.getvalue()
    palette = decode(buf.getvalue(), "plte.png")
    assert palette.pixels is not None and palette.problems == []
    _no_libpng(capfd)


def test_opencv_gets_the_file_s_own_bytes_when_it_holds_only_pixel_chunks() -> None:
    data = _png(_scan())
    structure = png_structure(data)
    assert structure.kinds == {b"IHDR", b"IDAT", b"IEND"} and structure.end == len(data)
    assert _png_pixel_bytes(data, structure) is data  # no copy of a 1 MB scan
    # a metadata chunk, or bytes after IEND: a copy without them, as before
    texted = _after_ihdr(data, _chunk(b"tEXt", b"Comment\x00scanned"))
    assert _png_pixel_bytes(texted, png_structure(texted)) == data
    trailing = data + b"junk"
    assert _png_pixel_bytes(trailing, png_structure(trailing)) == data


def test_the_chunk_walk_finds_every_bad_crc_and_holds_no_view() -> None:
    data = _after_ihdr(_png(_scan()), _chunk(b"tEXt", b"Comment\x00scanned"))
    at = data.index(b"IDAT") + 20
    damaged = bytearray(data[:at] + bytes(b ^ 0x55 for b in data[at:at + 8]) + data[at + 8:])
    text_crc = data.index(b"tEXt") + 4 + len(b"Comment\x00scanned")
    damaged[text_crc] ^= 0xFF
    structure = png_structure(damaged)
    assert [kind for kind, _ in structure.bad_crc] == [b"tEXt", b"IDAT"]
    assert [kind for kind, _, _ in structure.spans] == [b"IHDR", b"tEXt", b"IDAT", b"IEND"]
    assert structure.png_depth == 8 and structure.png_colour_type == 0
    damaged.extend(b"more")  # a view left exported would make this raise BufferError
    assert png_structure(data).bad_crc == []
