"""TIFF tags of every integer type (a security review of the decoded-bytes limit): libtiff reads
BitsPerSample, SamplesPerPixel, ImageWidth and ImageLength stored as BYTE, SSHORT or SLONG, so
the header reading before decoding must too; a tag present but not read is taken at its worst,
and a TIFF whose header gives no size is refused by the app, ``read_image`` and the ingest alike
(OpenCV would decode it with no limit)."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.inputs import InputRejected, load_bytes
from data_prep.cache import FileTask, process_file
from data_prep.decode import sample_layout, tiff_size
from drac_ssl.grading import read_image
from drac_ssl.grading.image_file import DEFAULT_LIMITS, LOCAL_FILE_LIMITS, content_refusal
from drac_ssl.grading.predict import ImageReadError

BYTE, SHORT, LONG, RATIONAL, SSHORT, SLONG, ASCII = 1, 3, 4, 5, 8, 9, 2
CODES = {BYTE: "B", SHORT: "H", LONG: "I", SSHORT: "h", SLONG: "i", RATIONAL: "I", ASCII: "B"}


def _header(width: int, height: int, bits: int = 32, samples: int = 3,
            types: dict[int, int] | None = None) -> bytes:
    """A classic little-endian TIFF of one IFD and no pixels, every value inline (BitsPerSample
    given once, which readers apply to every sample); ``types``: tag -> field type."""
    types = {256: LONG, 257: LONG, 258: SHORT, 277: SHORT, **(types or {})}
    values = {256: width, 257: height, 258: bits, 277: samples}
    entries = b""
    for tag in sorted(values):
        kind = types[tag]
        if kind == RATIONAL:  # 8 bytes: never inline; point past the end of the file
            value = struct.pack("<I", 10_000)
        elif kind == ASCII:  # the number as text
            value = str(values[tag]).encode()[:3].ljust(4, b"\0")
        else:
            value = struct.pack("<" + CODES[kind], values[tag]).ljust(4, b"\0")
        entries += struct.pack("<HHI", tag, kind, 1) + value
    return b"II*\x00" + struct.pack("<IH", 8, len(values)) + entries + b"\0" * 4


def _retyped(data: bytes, tag: int, kind: int, values: tuple[int, ...]) -> bytes:
    """``data`` (a classic little-endian TIFF) with ``tag`` rewritten in place as ``kind``,
    its ``values`` inline."""
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    out = bytearray(data)
    for i in range(count):
        at = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == tag:
            struct.pack_into("<HI", out, at + 2, kind, len(values))
            out[at + 8:at + 12] = struct.pack(f"<{len(values)}{CODES[kind]}", *values).ljust(4, b"\0")
            return bytes(out)
    raise AssertionError(f"no tag {tag}")


def test_a_real_float_rgb_tiff_with_byte_typed_tags_is_read_as_float_rgb() -> None:
    """The review's bypass: both tags rewritten to BYTE; OpenCV still decodes float32 RGB, so
    the header reading must say 3 channels of 4 bytes, not the defaults (1, 1)."""
    ok, encoded = cv2.imencode(".tiff", np.full((6, 9, 3), 0.5, np.float32))
    assert ok
    data = _retyped(_retyped(encoded.tobytes(), 258, BYTE, (32, 32, 32)), 277, BYTE, (3,))
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None and decoded.dtype == np.float32 and decoded.shape == (6, 9, 3)
    assert sample_layout(data) == (3, 4)


@pytest.mark.parametrize("kind", [BYTE, SSHORT, SLONG])
def test_a_6324_px_float_rgb_header_of_any_integer_type_is_refused(kind: int) -> None:
    data = _header(6324, 6324, types={258: kind, 277: kind})
    assert sample_layout(data) == (3, 4)
    header, refused = content_refusal(data, DEFAULT_LIMITS, upload=True)
    assert header == ("TIFF", 6324, 6324)
    assert refused is not None and refused.kind == "too-many-bytes" and "480 MB decoded" in refused.what


def test_a_sample_tag_present_but_not_read_is_taken_at_its_worst() -> None:
    """A RATIONAL BitsPerSample (or a negative SSHORT one) is no 1-bit image: 4 channels of
    64 bits are assumed, so that 3000 x 3000 px (288 MB) is refused."""
    assert sample_layout(_header(8, 8, types={258: RATIONAL})) == (3, 8)
    assert sample_layout(_header(8, 8, types={258: RATIONAL, 277: RATIONAL})) == (4, 8)
    assert sample_layout(_header(8, 8, bits=-1, types={258: SSHORT})) == (3, 8)
    assert sample_layout(_header(8, 8, samples=0)) == (4, 4)
    _, refused = content_refusal(_header(3000, 3000, types={258: RATIONAL, 277: RATIONAL}),
                                 LOCAL_FILE_LIMITS)
    assert refused is not None and "4 channels of 64 bits, 288 MB decoded" in refused.what
    # absent tags keep TIFF 6.0's defaults: 1 sample of 1 bit
    absent = b"II*\x00" + struct.pack("<IH", 8, 2) + struct.pack("<HHII", 256, 4, 1, 8) \
        + struct.pack("<HHII", 257, 4, 1, 8) + b"\0" * 4
    assert sample_layout(absent) == (1, 1)


def test_a_size_of_a_signed_type_is_read() -> None:
    assert tiff_size(_header(6324, 5000, types={256: SSHORT, 257: SLONG})) == (6324, 5000)
    _, refused = content_refusal(_header(6324, 6324, types={256: SSHORT, 257: SLONG}), DEFAULT_LIMITS)
    assert refused is not None and refused.kind == "too-many-bytes"


def test_a_tiff_whose_header_gives_no_size_is_refused_everywhere(tmp_path: Path) -> None:
    """ImageWidth as ASCII: no size, so no limit could hold; the app, ``read_image`` and the
    ingest refuse it with the same words, before decoding."""
    data = _header(6324, 6324, types={256: ASCII})
    assert tiff_size(data) is None
    with pytest.raises(InputRejected) as page:
        load_bytes(data, "scan.tif", DEFAULT_LIMITS, channels=3)
    assert str(page.value) == ("`scan.tif` is a TIFF file whose header does not give its size (damaged, "
                               "or a layout this app does not read). Re-export it as PNG.")
    path = tmp_path / "scan.tif"
    path.write_bytes(data)
    with pytest.raises(ImageReadError) as script:
        read_image(path, 3)
    assert str(script.value) == (f"{path}: a TIFF file whose header does not give its size (damaged, or a "
                                 "layout the package does not read) -> re-export it as PNG")
    record = process_file(FileTask(str(path), "scan.tif", (32,)))
    assert [(p.what, p.fix, p.kind) for p in record.problems(str(path)) if p.severity == "error"] == [
        (p.what, p.fix, p.kind) for p in script.value.problems]
    assert record.width == 0  # not decoded


def _renamed(data: bytes, tag: int, to: int) -> bytes:
    """``data`` (a classic little-endian TIFF) with ``tag``'s entry renamed ``to`` (a tag no
    reader knows), so that the file no longer has it."""
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    out = bytearray(data)
    for i in range(count):
        at = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == tag:
            struct.pack_into("<H", out, at, to)
            return bytes(out)
    raise AssertionError(f"no tag {tag}")


def test_a_float_rgb_tiff_without_samples_per_pixel_is_read_as_rgb() -> None:
    """A final read's bypass: with tag 277 gone, TIFF 6.0's default is 1 channel, but libtiff
    works out 3 from the photometric kind and decodes float32 RGB; the header reading takes the
    most any tag implies, so a 6324 px such header is refused as 480 MB decoded."""
    ok, encoded = cv2.imencode(".tiff", np.full((6, 9, 3), 0.5, np.float32))
    assert ok
    data = _renamed(encoded.tobytes(), 277, 65000)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None and decoded.dtype == np.float32 and decoded.shape == (6, 9, 3)
    assert sample_layout(data) == (3, 4)
    big = _retyped(_retyped(data, 256, LONG, (6324,)), 257, LONG, (6324,))
    header, refused = content_refusal(big, DEFAULT_LIMITS, upload=True)
    assert header == ("TIFF", 6324, 6324)
    assert refused is not None and refused.kind == "too-many-bytes" and "480 MB decoded" in refused.what
