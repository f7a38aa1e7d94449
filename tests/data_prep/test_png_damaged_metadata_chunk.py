"""A PNG whose metadata (ancillary) chunk fails its CRC check is read by one rule everywhere:
the chunk is left out and said, the pixels decoded (the PNG specification, 3rd ed. 13.1: a
decoder ignores an ancillary chunk it cannot use; the image data's own chunks pass their CRC
checks, so the pixels are those written). The app's upload refused such a file as "a damaged or
truncated PNG" (Pillow's header read failed on the CRC), while ``read_image`` graded it through
OpenCV with nothing said of the damage, and a damaged text chunk after the image data was
passed over in silence by all three. drac_ssl's phantom marker, a tEXt chunk, still marks a
phantom when a byte of its chunk changed but the marker is legible. Captured at the
file-descriptor level (capfd): no libpng line."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from png_bytes import png_chunk as _chunk

from app.inputs import load_bytes
from data_prep.decode import PHANTOM_TEXT, PHANTOM_TEXT_KEY, decode, image_header
from drac_ssl.grading.image_notes import FILE_FINDING, is_plain_note
from drac_ssl.grading.predict import read_image

OPENING = "damaged PNG metadata left out: "


def _grey() -> np.ndarray:
    coarse = np.random.default_rng(3).integers(0, 256, (16, 16), dtype=np.uint8)
    return cv2.resize(coarse, (320, 320), interpolation=cv2.INTER_LINEAR)


def _png(pixels: np.ndarray, **options: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", **options)
    return buf.getvalue()


def _text(key: str, value: str) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)
    return info


def _spans(data: bytes) -> list[tuple[bytes, int, int]]:
    out, pos = [], 8
    while pos + 8 <= len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        out.append((data[pos + 4:pos + 8], pos, pos + 12 + length))
        pos += 12 + length
    return out


def _damage(data: bytes, kind: bytes, where: str = "crc") -> bytes:
    """``data`` with its first ``kind`` chunk damaged, its length kept: the CRC changed
    (``crc``), or the last byte of its data (``tail``), or its sixth data byte (``head``)."""
    _, start, end = next(span for span in _spans(data) if span[0] == kind)
    at = {"crc": end - 4, "tail": end - 5, "head": start + 8 + 5}[where]
    return data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1:]


def _after_image_data(data: bytes, chunk: bytes) -> bytes:
    """``chunk`` put between the last IDAT and IEND."""
    return data[:-12] + chunk + data[-12:]


def _no_libpng(capfd: pytest.CaptureFixture[str]) -> None:
    out, err = capfd.readouterr()
    assert "libpng" not in err and "libpng" not in out, err


CASES = {  # name -> (bytes, severity at the ingest, words of the finding)
    "text before the image data": (
        lambda: _damage(_png(_grey(), pnginfo=_text("Comment", "scanned at clinic 4")), b"tEXt"),
        "note", "its tEXt chunk at byte 33 fails its CRC check"),
    "text after the image data": (
        lambda: _after_image_data(_png(_grey()), _chunk(b"tEXt", b"Comment\x00late")[:-1] + b"\x00"),
        "note", "so its text is not read"),
    "compressed text": (
        lambda: _damage(_png(_grey(), pnginfo=_zip_text()), b"zTXt", "tail"),
        "note", "its zTXt chunk"),
    "significant bits": (
        lambda: _damage(_png(_grey(), pnginfo=_raw(b"sBIT", b"\x08")), b"sBIT"),
        "warning", "what it says (significant bits) is not applied"),
}


def _zip_text() -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", "fundus, left eye " * 20, zip=True)
    return info


def _raw(kind: bytes, body: bytes) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add(kind, body)
    return info


@pytest.mark.parametrize("name", list(CASES))
def test_the_ingest_the_export_and_the_app_read_it_alike(
        tmp_path: Path, capfd: pytest.CaptureFixture[str], name: str) -> None:
    make, severity, words = CASES[name]
    data = make()
    path = tmp_path / "scan 3.png"
    path.write_bytes(data)
    grey = _grey()
    capfd.readouterr()

    decoded = decode(data, str(path))  # the ingest's decoder
    np.testing.assert_array_equal(decoded.pixels, grey)
    (said,) = [p for p in decoded.problems if p.kind == "metadata"]
    assert said.path == str(path) and said.severity == severity
    assert said.what.startswith(OPENING) and words in said.what, said.what
    assert "re-copy" in said.fix
    assert image_header(data) == ("PNG", (320, 320))  # the header read of the app and read_image
    _no_libpng(capfd)

    notes: list[str] = []
    pixels, warnings = read_image(path, 1, notes=notes)  # the export's and a user's own code's path
    np.testing.assert_array_equal(pixels, grey)
    finding = f"{path.name}: {FILE_FINDING}{said.what}."
    assert finding in [*notes, *warnings], (notes, warnings)
    _no_libpng(capfd)

    loaded = load_bytes(data, path.name, channels=1, kind="octa")  # the app's upload: not refused
    np.testing.assert_array_equal(loaded.gray, grey)
    (page,) = [w for w in loaded.warnings if w.startswith(FILE_FINDING + OPENING)]
    assert words in page and is_plain_note(page)  # a fact about the file, not a doubt
    _no_libpng(capfd)


def _phantom_png(where: str) -> bytes:
    data = _png(_grey(), pnginfo=_text(PHANTOM_TEXT_KEY, PHANTOM_TEXT))
    return _damage(data, b"tEXt", where)


def test_a_legible_phantom_marker_in_a_damaged_chunk_still_marks_the_file() -> None:
    for where in ("crc", "tail"):  # the marker's keyword and opening words intact
        data = _phantom_png(where)
        decoded = decode(data, "phantom.png")
        assert decoded.phantom and decoded.pixels is not None, where
        assert "phantom marker is still legible" in decoded.problems[0].what
        assert load_bytes(data, "phantom.png").phantom
    unmarked = _damage(_png(_grey(), pnginfo=_text("Comment", "synthetic phantom")), b"tEXt")
    assert not decode(unmarked, "comment.png").phantom  # another keyword is no marker
    intact = _png(_grey(), pnginfo=_text(PHANTOM_TEXT_KEY, PHANTOM_TEXT))
    assert decode(intact, "phantom.png").phantom and decode(intact, "phantom.png").problems == []


def test_an_illegible_marker_is_no_marker() -> None:
    """A changed byte in the marker's opening words: what the chunk said cannot be known."""
    decoded = decode(_phantom_png("head"), "phantom.png")
    assert not decoded.phantom and decoded.pixels is not None
    assert decoded.problems[0].what.startswith(OPENING) and "phantom" not in decoded.problems[0].what


def test_a_damaged_image_data_chunk_is_still_refused() -> None:
    data = _png(_grey(), pnginfo=_text("Comment", "scanned"))
    both = _damage(_damage(data, b"tEXt"), b"IDAT")
    decoded = decode(both, "scan.png")
    assert decoded.pixels is None
    assert [(p.severity, p.kind) for p in decoded.problems] == [("error", "corrupt")]
