"""The one decoding path (``data_prep.validate.inspect_image``): every property of an image
file that changes what its pixels mean or which pixels are read, each with its message.

Inputs are built in the test from the real DRAC samples (skipped without them:
tests/helpers/shared_data.py says where they are looked for), except the pure checks of the orientation table and the JPEG end finder."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from data_prep import decode, validate
from data_prep.decode import jpeg_end, orient

INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


# --------------------------------------------------------------------------------------
# Builders


def encode(image: Image.Image | np.ndarray, fmt: str, **kw: object) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def cv_png(array: np.ndarray) -> bytes:
    """A PNG written by OpenCV (keeps 16-bit colour, BGR order in, RGB in the file)."""
    if array.ndim == 3:
        array = array[..., ::-1]
    ok, data = cv2.imencode(".png", np.ascontiguousarray(array))
    assert ok
    return data.tobytes()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def with_chunk(png: bytes, kind: bytes, body: bytes) -> bytes:
    """``png`` with one more ancillary chunk right after IHDR."""
    ihdr_end = 8 + 12 + int.from_bytes(png[8:12], "big")
    return png[:ihdr_end] + chunk(kind, body) + png[ihdr_end:]


def interlaced_png(gray: np.ndarray) -> bytes:
    """An 8-bit grey Adam7-interlaced PNG (Pillow and OpenCV cannot write one)."""
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
              (1, 0, 2, 2), (0, 1, 1, 2))
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = gray[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    height, width = gray.shape
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def exif(orientation: int) -> bytes:
    tags = Image.Exif()
    tags[0x0112] = orientation
    return tags.tobytes()


def kinds(decoded: validate.DecodedImage, severity: str | None = None) -> set[str]:
    return {p.kind for p in decoded.problems if severity is None or p.severity == severity}


def messages(decoded: validate.DecodedImage) -> str:
    return "\n".join(p.line for p in decoded.problems)


@pytest.fixture(scope="module")
def octa(drac_samples: list[np.ndarray]) -> np.ndarray:
    """A non-square 384 x 256 crop of real sample 0 (orientations 5-8 swap its sides)."""
    return np.ascontiguousarray(drac_samples[0][200:456, 300:684])


def jpeg_error(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# --------------------------------------------------------------------------------------
# Orientation


def test_orientation_table_matches_pillow() -> None:
    """``orient`` is Pillow's ``ImageOps.exif_transpose`` for all eight values."""
    stored = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    for value in range(1, 9):
        oracle = ImageOps.exif_transpose(Image.open(io.BytesIO(encode(stored, "PNG",
                                                                      exif=exif(value)))))
        np.testing.assert_array_equal(orient(stored, value), np.asarray(oracle), err_msg=str(value))


def test_issue_case_jpeg_with_exif_orientation_6(drac_samples: list[np.ndarray]) -> None:
    """sample_0 rotated 90 degrees counter-clockwise, saved as JPEG with 0x0112 = 6: decoded
    upright, equal to the original within JPEG error, and said."""
    original = drac_samples[0]
    data = encode(np.rot90(original, 1), "JPEG", quality=95, exif=exif(6))
    decoded = validate.inspect_image(data, "phone.jpg")
    assert decoded.gray is not None and decoded.gray.shape == original.shape
    assert jpeg_error(decoded.gray, original) < 2.0
    sideways = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert jpeg_error(sideways, original) > 20  # what was read before: on its side
    assert "Exif Orientation 6" in messages(decoded) and "clockwise" in messages(decoded)
    assert kinds(decoded, "note") == {"orientation"} and not kinds(decoded, "error")


@pytest.mark.parametrize("value", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG eXIf", "TIFF"])
def test_every_orientation_in_every_format(octa: np.ndarray, value: int, fmt: str) -> None:
    stored = orient(octa, INVERSE[value])  # what a camera writes for this tag
    if fmt == "JPEG":
        data = encode(stored, "JPEG", quality=95, exif=exif(value))
    elif fmt == "PNG eXIf":
        data = encode(stored, "PNG", exif=exif(value))
    else:
        data = encode(stored, "TIFF", tiffinfo={274: value})
    decoded = validate.inspect_image(data, f"o{value}", expected_side=None)
    assert decoded.gray is not None and decoded.gray.shape == octa.shape
    assert (decoded.width, decoded.height) == (octa.shape[1], octa.shape[0])
    if fmt == "JPEG":
        assert jpeg_error(decoded.gray, octa) < 2.0
    else:
        np.testing.assert_array_equal(decoded.gray, octa)
    said = [p for p in decoded.problems if p.kind == "orientation"]
    assert len(said) == (value != 1)
    if value != 1:
        assert f"Orientation {value}" in said[0].what and said[0].severity == "note"


def test_orientation_of_16_bit_colour_png(drac_samples: list[np.ndarray]) -> None:
    """The OpenCV path (16-bit colour) is turned upright too."""
    rgb = np.dstack(drac_samples)[100:300, 100:400]
    stored = orient(rgb.astype(np.uint16) * 257, 8)  # Orientation 6 undoes a CCW turn
    png = cv_png(stored)
    assert exif(6).startswith(b"Exif\x00\x00")
    png = png[:-12] + chunk(b"eXIf", exif(6)[6:]) + png[-12:]  # eXIf before IEND
    decoded = validate.inspect_image(png, "deep.png", channels=None, expected_side=None)
    assert decoded.pixels is not None and decoded.colour
    np.testing.assert_array_equal(decoded.pixels, rgb)
    assert "orientation" in kinds(decoded, "note")


def test_invalid_orientation_is_ignored_and_said(octa: np.ndarray) -> None:
    decoded = validate.inspect_image(encode(octa, "PNG", exif=exif(9)), "x.png", expected_side=None)
    np.testing.assert_array_equal(decoded.gray, octa)
    assert "not a valid value" in messages(decoded) and "orientation" in kinds(decoded, "warning")


# --------------------------------------------------------------------------------------
# Bit depth


def test_issue_case_12_bit_data_in_a_16_bit_png(drac_samples: list[np.ndarray]) -> None:
    """sample_2 as uint16 * 16 (0..4080, as device exports): graded like the 8-bit file."""
    original = drac_samples[2]
    decoded = validate.inspect_image(cv_png(original.astype(np.uint16) * 16), "s2.png")
    np.testing.assert_array_equal(decoded.gray, original)
    text = messages(decoded)
    assert "16-bit image" in text and "12-bit" in text and "4080" in text and "sBIT" in text
    assert kinds(decoded, "warning") == {"bit-depth"}


@pytest.mark.parametrize(("scale", "words"), [(256, "the full 16-bit range"), (4, "read as 10-bit data"),
                                              (64, "read as 14-bit data"), (1, "8-bit values in a 16-bit file"),
                                              (257, "every value a multiple of 257: 8-bit values stored x257")])
def test_the_used_range_is_detected(drac_samples: list[np.ndarray], scale: int, words: str) -> None:
    """Each range in its own words: every such message starts "16-bit image" and ends "export
    8-bit", so a bare "16-bit" / "8-bit" in the text (the old assert) held whatever was said."""
    original = drac_samples[1]
    decoded = validate.inspect_image(cv_png(original.astype(np.uint16) * scale), "d.png")
    np.testing.assert_array_equal(decoded.gray, original)
    assert words in messages(decoded), messages(decoded)


def test_png_sbit_chunk_is_honoured(drac_samples: list[np.ndarray]) -> None:
    """sBIT decides instead of the maximum: 12 significant bits unscaled -> >> 4; sBIT 16 on
    the same values says they are a dark 16-bit image -> >> 8."""
    original = drac_samples[0]
    raw12 = cv_png(original.astype(np.uint16) * 16)
    twelve = validate.inspect_image(with_chunk(raw12, b"sBIT", b"\x0c"), "s12.png")
    np.testing.assert_array_equal(twelve.gray, original)
    assert "sBIT chunk says 12" in messages(twelve)
    sixteen = validate.inspect_image(with_chunk(raw12, b"sBIT", b"\x10"), "s16.png")
    np.testing.assert_array_equal(sixteen.gray, (original.astype(np.uint16) * 16) >> 8)
    assert "all 16 bits" in messages(sixteen)
    scaled = cv_png((original.astype(np.uint16) * 16) * 16)  # 12 bits scaled up per the spec
    spec = validate.inspect_image(with_chunk(scaled, b"sBIT", b"\x0c"), "spec.png")
    np.testing.assert_array_equal(spec.gray, original)


def test_16_bit_tiff_and_16_bit_colour(drac_samples: list[np.ndarray]) -> None:
    original = drac_samples[2]
    tiff = encode(Image.fromarray(original.astype(np.uint16) * 16), "TIFF")
    np.testing.assert_array_equal(validate.inspect_image(tiff, "t.tif").gray, original)
    rgb = np.dstack(drac_samples)
    colour = validate.inspect_image(cv_png(rgb.astype(np.uint16) * 16), "c.png", channels=None)
    assert colour.colour and colour.pixels is not None
    np.testing.assert_array_equal(colour.pixels, rgb)  # RGB order, all 8 bits, not the high byte
    assert "12-bit" in messages(colour)


def test_float_tiff(drac_samples: list[np.ndarray]) -> None:
    original = drac_samples[0]
    unit = encode(Image.fromarray(original.astype(np.float32) / 255.0, "F"), "TIFF")
    decoded = validate.inspect_image(unit, "f.tif")
    np.testing.assert_array_equal(decoded.gray, original)
    assert "float image" in messages(decoded) and "scaled by 255" in messages(decoded)
    negative = encode(Image.fromarray(original.astype(np.float32) - 10.0, "F"), "TIFF")
    bad = validate.inspect_image(negative, "n.tif")
    assert bad.pixels is None and "negative values" in messages(bad)


# --------------------------------------------------------------------------------------
# Data after a complete image, and real truncation


@pytest.mark.parametrize("trailer", [b"\r\n", b"\x00" * 64, b"SAMSUNG-TRAILER" * 40])
@pytest.mark.parametrize("fmt", ["JPEG", "progressive JPEG", "PNG"])
def test_bytes_after_a_complete_image_are_a_note(drac_samples: list[np.ndarray], fmt: str,
                                                 trailer: bytes) -> None:
    original = drac_samples[1]
    if fmt == "PNG":
        data = encode(original, "PNG")
    else:
        data = encode(original, "JPEG", quality=90, progressive=fmt.startswith("progressive"))
    clean = validate.inspect_image(data, "clean")
    decoded = validate.inspect_image(data + trailer, "phone")
    np.testing.assert_array_equal(decoded.gray, clean.gray)
    assert kinds(decoded, "note") == {"trailing-data"} and not kinds(decoded, "error")
    text = messages(decoded)
    assert f"{len(trailer)} byte(s) after the" in text and "truncated" not in text


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "BMP"])
def test_a_real_truncation_stays_an_error(drac_samples: list[np.ndarray], fmt: str) -> None:
    data = encode(drac_samples[0], fmt)
    decoded = validate.inspect_image(data[:len(data) // 2], f"cut.{fmt.lower()}")
    assert decoded.pixels is None
    assert f"truncated {fmt}" in messages(decoded) and kinds(decoded) == {"truncated"}


def test_jpeg_end_skips_segments_that_hold_an_embedded_jpeg(octa: np.ndarray) -> None:
    """An Exif thumbnail (a whole JPEG inside APP1) does not end the image."""
    data = encode(octa, "JPEG")
    thumbnail = encode(octa[::8, ::8], "JPEG")
    app1 = b"Exif\x00\x00" + thumbnail
    with_thumbnail = data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]
    assert jpeg_end(with_thumbnail) == len(with_thumbnail)
    assert jpeg_end(with_thumbnail + b"tail") == len(with_thumbnail)
    assert jpeg_end(with_thumbnail[:-10]) is None


# --------------------------------------------------------------------------------------
# Palette, alpha, grey + alpha, colour spaces


def test_palette_and_alpha(drac_samples: list[np.ndarray]) -> None:
    original = drac_samples[0]
    palette = Image.fromarray(original, "P")
    palette.putpalette([v for i in range(256) for v in (i, i, i)])
    decoded = validate.inspect_image(encode(palette, "PNG"), "p.png")
    np.testing.assert_array_equal(decoded.gray, original)
    assert not decoded.colour and {p.severity for p in decoded.problems} == {"note"}
    assert "channels identical, nothing lost" in messages(decoded)

    opaque = np.dstack([original, np.full_like(original, 255)])
    quiet = validate.inspect_image(encode(Image.fromarray(opaque, "LA"), "PNG"), "la.png")
    np.testing.assert_array_equal(quiet.gray, original)
    assert not quiet.problems  # a fully opaque alpha is dropped silently

    alpha = np.full_like(original, 255)
    alpha[:, :256] = 0  # the left quarter transparent
    rgba = np.dstack([original, original, original, alpha])
    composited = validate.inspect_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"), "a.png")
    expected = original.copy()
    expected[:, :256] = 0
    np.testing.assert_array_equal(composited.gray, expected)
    assert "25.0% of the pixels are (partly) transparent" in messages(composited)
    assert "over black" in messages(composited) and "alpha" in kinds(composited, "warning")
    assert "the grade may differ from the opaque image's" in messages(composited)  # why it matters


@pytest.mark.parametrize(("data", "words"), [
    # text is never quoted (security review F3: a patient's name in console.log)
    (b"referral letter for patient 12\nplease grade\n", "plain text"),
    (b"short\n", "plain text"),
    # a UTF-8 file with a byte-order mark (Excel's "CSV UTF-8"): text, not "bytes ef bb bf 50 ..."
    (b"\xef\xbb\xbfPhone,grade\r\n", "plain text"),
    # a character cut in two by the 48 bytes read is still text
    (b"x" * 47 + "\u00fc".encode() + b" tail", "plain text"),
    (b"<!DOCTYPE html><html><body>Patient Jane", "plain text (an HTML page: a download that saved "
                                                 "a web page instead of the image?)"),
    (b'{"patient": "Jane Doe"}', "plain text (JSON?)"),
    ("Patient: Jane".encode("utf-16"), "plain text (UTF-16)"),
    (b"%PDF-1.7\n%\xe2\xe3", "a PDF document"),
    (b"PK\x03\x04\x14\x00", "a ZIP archive (e.g. a .docx or .xlsx)"),
    (b"\x00" * 128 + b"DICM" + b"\x02" * 8, "a DICOM file (export the image as PNG or TIFF from the viewer)"),
    (bytes(range(12)), "an unknown format"),  # no bytes in hex: they could spell letters
    (b"", "an empty file"),
])
def test_a_file_that_is_not_an_image_is_said_in_words(data: bytes, words: str) -> None:
    """Not "the content starts with b'referral'" (a Python bytes value) but what it seems to be."""
    assert decode.content_words(data) == words
    if data:  # an empty file has its own error ("empty file (0 bytes)")
        assert f"not an image (it holds {words})" in messages(validate.inspect_image(data, "x.png"))


@pytest.mark.parametrize(("fmt", "cut", "kw"), [
    ("JPEG", 300, {"quality": 95}), ("PNG", 20, {}), ("TIFF", 6, {}), ("BMP", 20, {}),
])
def test_an_image_cut_short_in_its_header_is_named_by_its_signature(
        aptos_dir: Path, fmt: str, cut: int, kw: dict) -> None:
    """A new-user review: a JPEG cut at 300 bytes (inside its header) was "not an image (it
    holds bytes ff d8 ff e0 ...)", while cut at 2,000 bytes it was a "truncated JPEG". A file
    that starts with an image format's signature but opens in no decoder is a damaged or
    truncated file of that format, with the re-copy fix."""
    photo = Image.open(next((aptos_dir / "train_images").glob("*.png"))).convert("RGB")
    data = encode(photo, fmt, **kw)[:cut]
    said = messages(validate.inspect_image(data, f"x.{fmt.lower()}", channels=None))
    if fmt == "TIFF":  # no cheap end check: neutral words
        assert (f"a damaged or truncated {fmt} (its first bytes are a {fmt}'s, but it cannot be "
                "decoded) -> re-copy it") in said, said
        assert "(the file is incomplete)" not in said, said
    else:  # no end marker (JPEG EOI, PNG IEND) or shorter than a BMP's declared size
        assert (f"a truncated {fmt} (its first bytes are a {fmt}'s, but the file ends before "
                f"its end") in said and "-> re-copy it" in said, said
    assert "not an image" not in said and "it holds bytes" not in said, said
    assert decode.content_words(data) == f"the first bytes of a {fmt} image, damaged or cut short"


def test_a_complete_jpeg_that_cannot_be_decoded_is_not_called_truncated(aptos_dir: Path) -> None:
    """A maintainer review: a complete JPEG of a variant no decoder here reads (JPEG-LS: its
    frame marker ff f7 instead of baseline's ff c0; the file ends with its EOI ff d9) was
    "a damaged or truncated JPEG -> re-copy it (the file is incomplete)": re-copying gives
    the same file. With its end marker (trailing zero padding ignored) it is said to be an
    undecodable variant, with the conversion to make; cut short, it is still truncated."""
    photo = Image.open(next((aptos_dir / "train_images").glob("*.png"))).convert("RGB")
    data = encode(photo, "JPEG", quality=95)
    at = data.index(b"\xff\xc0")
    variant = data[:at] + b"\xff\xf7" + data[at + 2:]
    for complete in (variant, variant + b"\x00" * 64):
        said = messages(validate.inspect_image(complete, "x.jpg", channels=None))
        assert ("a JPEG that cannot be decoded (an unsupported variant such as lossless JPEG or "
                "JPEG-LS?) -> convert it to PNG with the tool that wrote it") in said, said
        assert "truncated" not in said and "incomplete" not in said and "re-copy" not in said, said
    said = messages(validate.inspect_image(variant[:len(variant) // 2], "x.jpg", channels=None))
    assert "a truncated JPEG" in said and "-> re-copy it" in said, said


def test_text_starting_like_a_bmp_is_still_text() -> None:
    """BMP's signature is two letters ("BM"): only with its reserved zero bytes is it a BMP."""
    assert decode.content_words(b"BMI table of the cohort\n") == "plain text"
    assert decode.damaged_image_format(b"BMI table of the cohort\n") is None


def test_cmyk_jpeg_is_converted_and_said(drac_samples: list[np.ndarray]) -> None:
    original = drac_samples[1]
    cmyk = Image.fromarray(np.dstack([original] * 3)).convert("CMYK")
    decoded = validate.inspect_image(encode(cmyk, "JPEG", quality=95), "print.jpg")
    assert decoded.gray is not None and jpeg_error(decoded.gray, original) < 3.0
    assert "CMYK" in messages(decoded) and "colour-space" in kinds(decoded, "warning")


def test_mode_1_and_min_is_white(drac_samples: list[np.ndarray]) -> None:
    original = drac_samples[2]
    binary = original > 128
    decoded = validate.inspect_image(encode(Image.fromarray(binary), "PNG"), "b.png")
    np.testing.assert_array_equal(decoded.gray, binary.astype(np.uint8) * 255)
    # a 1-bit file is said (a review: a thresholded scan was graded with no word of it)
    (said,) = [p for p in decoded.problems if p.what.startswith(decode.ONE_BIT_NOTE)]
    assert said.severity == "note" and said.kind == "bit-depth" and "0 and 255" in said.what
    assert decoded.mode == "1"
    data = bytearray(encode(255 - original, "TIFF"))
    offset = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[offset:offset + 2])[0]):
        entry = offset + 2 + 12 * i
        if struct.unpack("<H", data[entry:entry + 2])[0] == 262:  # PhotometricInterpretation
            data[entry + 8:entry + 10] = struct.pack("<H", 0)  # MinIsWhite
    np.testing.assert_array_equal(validate.inspect_image(bytes(data), "w.tif").gray, original)


# --------------------------------------------------------------------------------------
# Several frames


def test_multi_frame_files_use_the_first_frame(drac_samples: list[np.ndarray]) -> None:
    frames = [Image.fromarray(s) for s in drac_samples]
    files = {
        "animated PNG": encode(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        "multi-page TIFF": encode(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "animated GIF": encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
    }
    for name, data in files.items():
        decoded = validate.inspect_image(data, name)
        np.testing.assert_array_equal(decoded.gray, drac_samples[0], err_msg=name)
        unit = "pages" if name == "multi-page TIFF" else "frames"
        assert f"{name} with 3 {unit}: only the first is used" in messages(decoded), name
        assert "frames" in kinds(decoded, "warning")
    mpo = encode(frames[0], "MPO", save_all=True, append_images=frames[1:2], quality=95)
    primary = validate.inspect_image(mpo, "stereo.jpg")
    assert jpeg_error(primary.gray, drac_samples[0]) < 2.0
    assert "multi-picture JPEG (MPO) with 2 pictures" in messages(primary)
    assert kinds(primary) == {"frames"} and kinds(primary, "note") == {"frames"}


# --------------------------------------------------------------------------------------
# Interlaced / progressive; what cannot be honoured


def test_interlaced_png_and_progressive_jpeg_decode_fully(drac_samples: list[np.ndarray]) -> None:
    original = drac_samples[0]
    decoded = validate.inspect_image(interlaced_png(original), "adam7.png")
    np.testing.assert_array_equal(decoded.gray, original)
    assert not decoded.problems
    baseline = validate.inspect_image(encode(original, "JPEG", quality=90), "b.jpg")
    progressive = validate.inspect_image(encode(original, "JPEG", quality=90, progressive=True),
                                         "p.jpg")
    assert jpeg_error(progressive.gray, original) < 2.0 and not progressive.problems
    assert jpeg_error(progressive.gray, baseline.gray) < 1.0


def test_colour_profiles_and_gamma_are_said_not_applied(drac_samples: list[np.ndarray]) -> None:
    rgb = np.dstack(drac_samples)[::4, ::4]
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    other = ImageCms.ImageCmsProfile(ImageCms.createProfile("XYZ")).tobytes()
    quiet = validate.inspect_image(encode(rgb, "PNG", icc_profile=srgb), "s.png", channels=None,
                                   expected_side=None)
    assert not quiet.problems
    loud = validate.inspect_image(encode(rgb, "JPEG", icc_profile=other), "x.jpg", channels=None,
                                  expected_side=None)
    assert "ICC colour profile" in messages(loud) and "not applied" in messages(loud)
    assert "colour-profile" in kinds(loud, "warning")
    gamma = with_chunk(encode(rgb, "PNG"), b"gAMA", struct.pack(">I", 100000))
    linear = validate.inspect_image(gamma, "g.png", channels=None, expected_side=None)
    assert "PNG gAMA 1 " in messages(linear) and linear.pixels is not None
    np.testing.assert_array_equal(linear.pixels, rgb)  # pixel values used as stored


def test_non_square_pixels_are_said(drac_samples: list[np.ndarray]) -> None:
    decoded = validate.inspect_image(encode(drac_samples[0], "PNG", dpi=(72, 144)), "d.png")
    assert "non-square pixels" in messages(decoded) and "pixel-aspect" in kinds(decoded, "warning")
    np.testing.assert_array_equal(decoded.gray, drac_samples[0])


# --------------------------------------------------------------------------------------
# Channels and the rest of the path


def test_channels_asked_for(drac_samples: list[np.ndarray]) -> None:
    rgb = np.dstack(drac_samples)
    data = encode(rgb, "PNG")
    grey = validate.inspect_image(data, "c.png", channels=1)
    assert grey.pixels is not None and grey.pixels.shape == (1024, 1024) and grey.colour
    np.testing.assert_array_equal(grey.pixels, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    assert "RGB image (converted to grayscale" in messages(grey)
    native = validate.inspect_image(data, "c.png", channels=None)
    np.testing.assert_array_equal(native.pixels, rgb)
    assert not native.problems
    replicated = validate.inspect_image(encode(drac_samples[0], "PNG"), "g.png", channels=3)
    assert replicated.pixels is not None and replicated.pixels.shape == (1024, 1024, 3)
    assert "replicated to 3 identical channels" in messages(replicated)
    red = rgb.copy()
    red[..., 1:] = 0
    red_only = validate.inspect_image(encode(red, "PNG"), "r.png", channels=None)
    assert red_only.colour and red_only.pixels is not None
    assert not np.array_equal(red_only.pixels, np.dstack([red_only.gray] * 3))


def test_bad_bytes_never_raise() -> None:
    for data, fragment in [(b"", "empty file"), (b"hello world", "not an image"),
                           (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "a truncated PNG")]:
        decoded = validate.inspect_image(data, "x")
        assert decoded.pixels is None and fragment in messages(decoded)
    assert decode.to_uint8(np.array([[1.0, np.nan]], np.float32), "x")[0] is None


def test_a_tiffs_size_is_read_from_its_header_and_an_unreadable_tiff_is_named_a_tiff() -> None:
    """The app checks a TIFF Pillow cannot open against its size limits before OpenCV decodes
    it (:func:`data_prep.decode.tiff_size`, the first IFD's ImageWidth / ImageLength); a TIFF
    that neither decoder reads was called "not an image (it holds bytes 49 49 2a 00 ...)",
    its own signature: now it is named a TIFF, with a fix."""
    grey = np.zeros((30, 70), np.uint8)
    for fmt, kw in (("TIFF", {}), ("TIFF", {"compression": "tiff_deflate"})):
        data = encode(grey, fmt, **kw)
        assert decode.is_tiff(data) and decode.tiff_size(data) == (70, 30)
    ok, float_rgb = cv2.imencode(".tiff", np.zeros((12, 34, 3), np.float32))  # IFD at the end
    assert decode.tiff_size(float_rgb.tobytes()) == (34, 12)
    # BigTIFF, big-endian: one IFD with ImageWidth (SHORT) and ImageLength (LONG8)
    entries = struct.pack(">HHQQ", 256, 3, 1, 500 << 48) + struct.pack(">HHQQ", 257, 16, 1, 600)
    bigtiff = b"MM\x00+" + struct.pack(">HHQ", 8, 0, 16) + struct.pack(">Q", 2) + entries
    assert decode.is_tiff(bigtiff) and decode.tiff_size(bigtiff) == (500, 600)
    for data in (b"II*\x00\x08\x00", b"II*\x00" + struct.pack("<IH", 8, 0), encode(grey, "PNG")):
        assert decode.tiff_size(data) is None  # cut short, no size tags, no TIFF
    unreadable = bytearray(float_rgb.tobytes())  # Compression set to a value no decoder knows
    (ifd,) = struct.unpack_from("<I", unreadable, 4)
    for i in range(struct.unpack_from("<H", unreadable, ifd)[0]):
        if struct.unpack_from("<H", unreadable, ifd + 2 + 12 * i)[0] == 259:
            struct.pack_into("<HIH", unreadable, ifd + 4 + 12 * i, 3, 1, 60000)
    assert decode.tiff_size(bytes(unreadable)) == (34, 12)
    found = validate.inspect_image(bytes(unreadable), "odd.tif")
    assert found.pixels is None and found.file_format == "TIFF"
    assert "a TIFF file that neither Pillow nor OpenCV can decode" in messages(found)
    assert "not an image" not in messages(found) and "re-export it as PNG" in messages(found)


def test_opencv_paths_16_bit_colour_tiff_float_rgb_tiff_and_16_bit_grey_alpha(
        octa: np.ndarray) -> None:
    """What Pillow narrows or cannot open: 16-bit RGB TIFF, float RGB TIFF, 16-bit grey+alpha."""
    rgb = np.dstack([octa, octa[::-1], octa[:, ::-1]])
    ok, tiff16 = cv2.imencode(".tiff", rgb[..., ::-1].astype(np.uint16) * 16)
    deep = validate.inspect_image(tiff16.tobytes(), "t16.tif", channels=None, expected_side=None)
    np.testing.assert_array_equal(deep.pixels, rgb)
    assert "12-bit" in messages(deep)
    ok, tiff_float = cv2.imencode(".tiff", rgb[..., ::-1].astype(np.float32) / 255)
    floating = validate.inspect_image(tiff_float.tobytes(), "f.tif", channels=None,
                                      expected_side=None)
    np.testing.assert_array_equal(floating.pixels, rgb)
    assert "decoded by OpenCV" in messages(floating) and "float image" in messages(floating)
    grey_alpha = np.dstack([octa.astype(np.uint16) * 16, np.full(octa.shape, 65535, np.uint16)])
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in grey_alpha)
    ihdr = struct.pack(">IIBBBBB", octa.shape[1], octa.shape[0], 16, 4, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
           + chunk(b"IEND", b""))
    la16 = validate.inspect_image(png, "la16.png", expected_side=None)
    np.testing.assert_array_equal(la16.gray, octa)
    assert "alpha" not in kinds(la16)  # opaque
    bmp = validate.inspect_image(encode(octa, "BMP"), "b.bmp", expected_side=None)
    np.testing.assert_array_equal(bmp.gray, octa)
    assert not bmp.problems


# --------------------------------------------------------------------------------------
# Large text metadata


XMP_ORIENTATION_6 = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
                     '02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
                     'tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')


def test_a_png_with_large_text_metadata_is_decoded_as_any_png(drac_samples: list[np.ndarray]) -> None:
    """A review: a valid PNG whose compressed XMP text holds 1.5 MB was called "a damaged or
    truncated PNG" by the app (Pillow's open raised "Decompressed data too large for
    PngImagePlugin.MAX_TEXT_CHUNK", 1 MB) and read by the ingest through its OpenCV fallback,
    its metadata unread. The decoder now reads text chunks up to decode.TEXT_CHUNK_LIMIT (the
    limit raised only while such a file is decoded, Pillow's own restored): an orientation in
    that XMP is honoured. Above it, OpenCV decodes the pixels and a note says the metadata was
    not read (orientation unchecked) and how to strip it."""
    from PIL import ImageFile, PngImagePlugin

    original = np.ascontiguousarray(drac_samples[0][:256, :384])
    info = PngImagePlugin.PngInfo()
    info.add_text("XML:com.adobe.xmp", XMP_ORIENTATION_6 + " " * 1_500_000, zip=True)
    data = encode(np.rot90(original, 1), "PNG", pnginfo=info)  # shown upright by Orientation 6
    decoded = validate.inspect_image(data, "meta.png", expected_side=None)
    np.testing.assert_array_equal(decoded.gray, original)
    assert kinds(decoded) == {"orientation"}, messages(decoded)  # no "Pillow cannot open" note
    assert PngImagePlugin.MAX_TEXT_CHUNK == ImageFile.SAFEBLOCK  # Pillow's default restored
    huge = PngImagePlugin.PngInfo()
    huge.add_text("Comment", "x" * (decode.TEXT_CHUNK_LIMIT + 1), zip=True)
    decoded = validate.inspect_image(encode(original, "PNG", pnginfo=huge), "huge.png", expected_side=None)
    np.testing.assert_array_equal(decoded.gray, original)
    (said,) = decoded.problems
    assert said.severity == "note" and said.kind == "metadata", said.line
    assert "text metadata" in said.what and "16 MB" in said.what and "not read" in said.what
    assert "strip" in said.fix and "exiftool" in said.fix
    assert PngImagePlugin.MAX_TEXT_CHUNK == ImageFile.SAFEBLOCK


def test_a_text_file_in_the_image_folder_is_never_quoted_in_the_ingests_words() -> None:
    """Security review F3: a clinical note saved as scan.png was reported as ``not an image (it
    holds text "Patient: Jane Doe DOB 19...")`` on the console and in the run's console.log."""
    said = messages(validate.inspect_image(b"Patient: Jane Doe DOB 1961-02-03\n", "scan.png"))
    assert "not an image (it holds plain text)" in said, said
    assert "Jane" not in said and "Patient" not in said, said


@pytest.mark.parametrize("data", ["Bericht für Müller, geb. 1970".encode("latin-1"),
                                  "Patient: Jane Doe".encode("cp1252") + b"\x81\x00\x01"])
def test_a_single_byte_text_file_is_never_described_by_its_letters_in_hex(data: bytes) -> None:
    """Review F6: a Latin-1 / Windows-1252 note without BOM named scan.png was said as
    ``bytes 42 65 72 69 ...``, its first letters (a patient's text) in hex; now plain text or an
    unknown format, without bytes. Binary bytes neither (review F1: they spelled letters too)."""
    from data_prep.decode import content_words

    said = content_words(data)
    assert said in ("plain text", "an unknown format (its first bytes are text)"), said
    assert data[:8].hex(" ") not in said and not said.startswith("bytes")
    assert content_words(b"\x00\x01\x02\x03abc") == "an unknown format"


@pytest.mark.parametrize("data", ["\u201cM\u00fcller\u201d, Befund vom 3.4.".encode("cp1252"),
                                  b"Jane\x07Doe, born 1970, left eye"])
def test_text_with_a_windows_1252_quote_or_a_control_byte_is_never_shown_in_hex(data: bytes) -> None:
    """Review F1: a Windows-1252 note starting with a curly quote (0x93: “Müller”) and a text
    with one control byte in its first 8 were still said as ``bytes 93 4d fc 6c 6c 65 72 94``
    (“Müller”) and ``bytes 4a 61 6e 65 07 44 6f 65`` (Jane.Doe): no byte is shown now."""
    from data_prep.decode import content_words

    said = content_words(data)
    assert said in ("plain text", "an unknown format (its first bytes are text)"), said
    assert not said.startswith("bytes") and data[:4].hex(" ") not in said


def test_an_xml_file_is_said_plain_text_xml() -> None:
    """Mutation audit M25: an XML start (``<?xml``) is told as such, never by its words."""
    from data_prep.decode import content_words

    assert content_words(b'<?xml version="1.0"?>\n<note>Patient: Jane Doe</note>\n') == "plain text (XML)"
