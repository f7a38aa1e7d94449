"""The limit of decoded bytes (a hospital security review, F2): a 0.6 MB deflate float32 RGB
TIFF of 6324 x 6324 px was within 40 megapixels, so accepted, and took the app's peak memory
from 1.1 to 2.5 GiB. Width x height x channels x bytes per sample, from the header before
decoding, is now limited too, in the one rule of the app, ``read_image`` and the ingest."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from app.inputs import InputRejected, load_bytes
from data_prep.decode import sample_layout
from drac_ssl.grading import InputLimits, read_image
from drac_ssl.grading.image_file import (
    DECODED_BYTES_PER_PIXEL,
    DEFAULT_LIMITS,
    LOCAL_FILE_LIMITS,
    content_refusal,
    decoded_refusal,
)
from drac_ssl.grading.predict import ImageReadError


def _tiff_header(width: int, height: int, bits: tuple[int, ...], sample_format: int = 3) -> bytes:
    """A classic little-endian TIFF of one IFD and no pixel data: what a header declares is
    all that is read before the refusal (so a 6324 px float image costs nothing to test)."""
    n = len(bits)
    bits_at = 8 + 2 + 12 * 5 + 4  # after the IFD
    fmt_at = bits_at + 2 * n
    entries = [(256, 4, 1, width), (257, 4, 1, height),
               (258, 3, n, bits[0] if n <= 2 else bits_at), (277, 3, 1, n),
               (339, 3, n, sample_format if n <= 2 else fmt_at)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0" * 4
    tail = struct.pack(f"<{n}H", *bits) + struct.pack(f"<{n}H", *[sample_format] * n) if n > 2 else b""
    return b"II*\x00" + struct.pack("<I", 8) + ifd + tail


def _png_header(width: int, height: int, depth: int, colour_type: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(
        ">IIBBBBB", width, height, depth, colour_type, 0, 0, 0) + b"\0" * 4


def _encoded(ext: str, image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def test_the_sample_layout_is_read_from_each_formats_header() -> None:
    pil = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 4), np.uint8), "RGBA").save(pil, "BMP")
    cases = {
        "float32 RGB TIFF": (_encoded(".tiff", np.zeros((6, 9, 3), np.float32)), (3, 4)),
        "16-bit RGB TIFF": (_encoded(".tiff", np.zeros((6, 9, 3), np.uint16)), (3, 2)),
        "8-bit grey TIFF": (_encoded(".tiff", np.zeros((6, 9), np.uint8)), (1, 1)),
        "16-bit RGB PNG": (_encoded(".png", np.zeros((6, 9, 3), np.uint16)), (3, 2)),
        "8-bit RGBA PNG": (_encoded(".png", np.zeros((6, 9, 4), np.uint8)), (4, 1)),
        "grey JPEG": (_encoded(".jpg", np.zeros((6, 9), np.uint8)), (1, 1)),
        "colour JPEG": (_encoded(".jpg", np.zeros((6, 9, 3), np.uint8)), (3, 1)),
        "24-bit BMP": (_encoded(".bmp", np.zeros((6, 9, 3), np.uint8)), (3, 1)),
        "32-bit BMP": (pil.getvalue(), (4, 1)),
        "crafted float RGB TIFF header": (_tiff_header(6324, 6324, (32, 32, 32)), (3, 4)),
    }
    assert {name: sample_layout(data) for name, (data, _) in cases.items()} == {
        name: layout for name, (_, layout) in cases.items()}
    for data in (b"", b"hello", b"II*\x00\x08\x00", b"GIF89a" + b"\0" * 20):
        assert sample_layout(data) is None


def test_the_reviews_float_tiff_is_refused_before_decoding_in_the_apps_and_the_scripts_words(
        tmp_path: Path) -> None:
    header = _tiff_header(6324, 6324, (32, 32, 32))  # 40.0 megapixels: within the pixel limit
    assert DEFAULT_LIMITS.decoded_limit == LOCAL_FILE_LIMITS.decoded_limit == 240_000_000
    found, refused = content_refusal(header, DEFAULT_LIMITS, upload=True)
    assert found == ("TIFF", 6324, 6324) and refused is not None and refused.kind == "too-many-bytes"
    with pytest.raises(InputRejected) as page:
        load_bytes(header, "scan.tif", DEFAULT_LIMITS, channels=3)
    assert str(page.value) == (
        "`scan.tif` is 6324 x 6324 px of 3 channels of 32 bits, 480 MB decoded, above the limit of "
        "240 MB that the app decodes. Convert it to an 8- or 16-bit PNG, or downscale it first (to "
        "at most 4472 x 4472 px at this shape).")
    path = tmp_path / "scan.tif"
    path.write_bytes(header)
    with pytest.raises(ImageReadError, match=r"scan\.tif: 6324 x 6324 px of 3 channels of 32 bits, 480 MB "
                                             r"decoded, above the limit of 240 MB decoded per image -> "
                                             r"convert it to an 8- or 16-bit PNG"):
        read_image(path, 3)


def test_a_16_bit_rgb_image_at_the_pixel_limit_passes_and_a_larger_layout_does_not() -> None:
    """The limit is 16-bit RGB at the pixel limit (6 bytes a pixel): the app's documented 6300 px
    16-bit RGB PNG (1.7 GiB peak) is read; 16-bit RGBA of the same size and float32 RGB above
    20 megapixels are not."""
    assert DECODED_BYTES_PER_PIXEL == 6
    assert decoded_refusal(_png_header(6300, 6300, 16, 2), 6300, 6300, DEFAULT_LIMITS) is None
    assert decoded_refusal(_png_header(6324, 6324, 16, 2), 6324, 6324, DEFAULT_LIMITS) is None
    rgba = decoded_refusal(_png_header(6300, 6300, 16, 6), 6300, 6300, DEFAULT_LIMITS)
    assert rgba is not None and "4 channels of 16 bits, 318 MB decoded" in rgba.what
    # it is a 16-bit PNG already: the fix is to drop its alpha or go to 8-bit
    assert rgba.fix.startswith("drop the alpha channel or convert it to 8-bit, or downscale it first")
    assert decoded_refusal(_tiff_header(4472, 4472, (32, 32, 32)), 4472, 4472, DEFAULT_LIMITS) is None
    assert decoded_refusal(_tiff_header(4473, 4473, (32, 32, 32)), 4473, 4473, DEFAULT_LIMITS) is not None
    # the limit follows --max-megapixels, unless given itself
    assert InputLimits(max_pixels=10_000).decoded_limit == 60_000
    assert InputLimits(max_pixels=10_000, max_decoded_bytes=10**9).decoded_limit == 10**9


def test_a_real_float_tiff_is_refused_then_read_with_larger_limits(tmp_path: Path) -> None:
    """Small limits, a real file: refused above them (nothing decoded), read when the caller's
    limits hold it, as :class:`InputLimits` says."""
    image = np.linspace(0, 1, 80 * 80 * 3, dtype=np.float32).reshape(80, 80, 3)
    path = tmp_path / "float.tif"
    path.write_bytes(_encoded(".tiff", image))  # 76,800 bytes decoded
    small = InputLimits(max_pixels=10_000)  # 60,000 decoded bytes
    with pytest.raises(ImageReadError, match=r"80 x 80 px of 3 channels of 32 bits, 0\.0768 MB decoded, above the limit of 0\.06 MB decoded per image"):
        read_image(path, 3, limits=small)
    pixels, _ = read_image(path, 3, limits=InputLimits(max_pixels=10_000, max_decoded_bytes=80_000))
    assert pixels.shape == (80, 80, 3)
