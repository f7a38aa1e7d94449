"""The app's upload path says what the decoding path did to a file (issue #14 cases), built
from the real DRAC samples (skipped without them: tests/helpers/shared_data.py)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from shared_data import SHARED_DATA, missing_reason, need

from app.inputs import load_bytes

SAMPLES = SHARED_DATA / "drac_samples"


@pytest.fixture(scope="module")
def samples() -> list[np.ndarray]:
    need(SAMPLES, "the real DRAC samples")
    return [np.array(Image.open(SAMPLES / f"sample_{i}.png")) for i in range(3)]


def jpeg(array: np.ndarray, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "JPEG", quality=95, **kwargs)
    return buf.getvalue()


def test_orientation_is_applied_and_shown(samples: list[np.ndarray]) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    loaded = load_bytes(jpeg(np.rot90(samples[0], 1), exif=exif.tobytes()), "phone.jpg")
    assert np.abs(loaded.gray.astype(int) - samples[0]).mean() < 2
    assert any(w.startswith("Image file: Exif Orientation 6") for w in loaded.warnings)


def test_12_bit_range_is_used_and_shown(samples: list[np.ndarray]) -> None:
    ok, png = cv2.imencode(".png", samples[2].astype(np.uint16) * 16)
    loaded = load_bytes(png.tobytes(), "device.png")
    np.testing.assert_array_equal(loaded.gray, samples[2])
    (depth,) = [w for w in loaded.warnings if w.startswith("16-bit")]
    assert "12-bit" in depth and "value >> 4" in depth


def test_bytes_after_a_jpeg_are_not_a_rejection(samples: list[np.ndarray]) -> None:
    data = jpeg(samples[1])
    loaded = load_bytes(data + b"\r\n", "trailer.jpg")
    np.testing.assert_array_equal(loaded.gray, load_bytes(data, "clean.jpg").gray)
    assert any("2 byte(s) after the JPEG" in w for w in loaded.warnings)
    assert not any("truncated" in w for w in loaded.warnings)


def test_first_page_of_a_multi_page_tiff_is_said(samples: list[np.ndarray]) -> None:
    buf = io.BytesIO()
    frames = [Image.fromarray(s) for s in samples]
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    loaded = load_bytes(buf.getvalue(), "stack.tif")
    np.testing.assert_array_equal(loaded.gray, samples[0])
    assert any("multi-page TIFF with 3 frames: only the first is used" in w for w in loaded.warnings)


def test_the_ingest_the_export_and_the_upload_widgets_accept_the_same_image_files() -> None:
    """Three copies of the suffix list (ingest, export, app) could drift: a format added to the
    ingest alone would train on files the export then lists as not graded."""
    from app.inputs import FILE_TYPES, FORMAT_WORDS
    from data_prep.layout import IMAGE_SUFFIXES as INGEST
    from drac_ssl.grading.image_notes import IMAGE_SUFFIXES, OTHER_IMAGE_SUFFIXES, READ_FORMATS
    from drac_ssl.submission import IMAGE_SUFFIXES as EXPORT

    assert set(INGEST) == set(EXPORT) == set(FILE_TYPES) == set(IMAGE_SUFFIXES)
    assert FORMAT_WORDS == READ_FORMATS
    assert not set(IMAGE_SUFFIXES) & set(OTHER_IMAGE_SUFFIXES)  # read, or named as not read
    for suffix in IMAGE_SUFFIXES:  # every suffix read is a format the words name
        assert {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF"}.get(suffix, suffix[1:].upper()) in READ_FORMATS


def _png_of(array: np.ndarray, mode: str | None = None) -> bytes:
    image = Image.fromarray(array)
    buf = io.BytesIO()
    (image.convert(mode) if mode else image).save(buf, "PNG")
    return buf.getvalue()


def test_the_colour_to_grey_conversion_is_a_flag_of_the_decoder_and_its_words_stay() -> None:
    """The app learns that a file was read as grey from the decoder's ``grey_conversion``, not
    from the word "grayscale" in its notes (a review); the page's words are the same as
    before, word for word."""
    from app.inputs import sanity_warnings
    from data_prep.validate import inspect_image
    from drac_ssl.grading.image_notes import COLOUR_NOT_OCTA

    # the doubt ends saying what the model grades and where to go for fundus photographs
    assert "grades UW-OCTA scans only" in COLOUR_NOT_OCTA and "the guide \"Your own fundus photographs\"" in COLOUR_NOT_OCTA
    assert "docs/" not in COLOUR_NOT_OCTA  # a clinician trial: no file path on the page
    rng = np.random.default_rng(0)
    grey = (rng.random((300, 300)) * 255).astype(np.uint8)
    rgb = np.stack([grey, np.roll(grey, 1, 0), np.roll(grey, 2, 1)], -1)
    converted = "RGB image (converted to grayscale: luminance of the colour channels)"
    assert inspect_image(_png_of(rgb), "c.png").grey_conversion == converted
    assert inspect_image(_png_of(rgb), "c.png", channels=None).grey_conversion == ""
    assert inspect_image(_png_of(grey), "g.png").grey_conversion == ""
    assert load_bytes(_png_of(rgb), "c.png").grey_conversion == converted
    cases = {
        ("colour", "octa"): [f"Colour image: {converted}. {COLOUR_NOT_OCTA}."],
        ("colour", "fundus"): [f"Colour image: {converted}, as the training ingest converted "
                               "this grey model's images."],
        ("identical", "octa"): ["Colour-encoded file: RGB image (converted to grayscale: channels "
                                "identical, nothing lost)."],
        ("blank_identical", "fundus"): [
            "Blank or near-constant image (grey levels 17..17, its luminance, std 0.0): there is "
            "nothing to grade.",
            "Colour-encoded file: RGB image (converted to grayscale: channels identical, nothing "
            "lost)."],
        ("blank_colour", "octa"): [
            "Blank or near-constant image (grey levels 67..67, its luminance, std 0.0): there is "
            "no vessel pattern to grade.",
            f"Colour image: {converted}. {COLOUR_NOT_OCTA}."],
        ("palette", "octa"): ["Colour image: palette colour image (converted to grayscale: "
                              f"luminance of the colour channels). {COLOUR_NOT_OCTA}."],
    }
    files = {"colour": _png_of(rgb), "identical": _png_of(np.stack([grey] * 3, -1)),
             "blank_identical": _png_of(np.full((300, 300, 3), 17, np.uint8)),
             "blank_colour": _png_of(np.full((300, 300, 3), (200, 10, 10), np.uint8)),
             "palette": _png_of(rgb, "P")}
    for (name, kind), words in cases.items():
        assert load_bytes(files[name], f"{name}.png", kind=kind).warnings == words, (name, kind)
    # a decoder note that merely mentions the word is not taken for the conversion
    said = sanity_warnings(grey, mode="L", notes=["a note on grayscale data"], octa=False,
                           grey_conversion="")
    assert said == ["Image file: a note on grayscale data."]


APTOS = SAMPLES.parent / "aptos_samples" / "train_images"


def _png_image(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_a_thresholded_export_or_a_vessel_mask_is_flagged_as_not_the_image(
        samples: list[np.ndarray], predictor: object) -> None:
    """A review: a real DRAC scan thresholded (``(g > 128) * 255`` as mode L, or a 1-bit PNG)
    was graded PDR at P 0.996 with no warning; only a near-constant image was caught. An image
    of at most 4 grey levels is now said to be a thresholded export or a mask, as a doubt (the
    page's "may not be a UW-OCTA en-face image" list, the heading "Not reliably gradable"); it is
    graded, not refused (a mask still shows where vessels are; the clinician decides)."""
    from app.inputs import is_plain_note, refusal
    from app.server import _result_markdown

    g = samples[2]
    files = {"mask_l.png": Image.fromarray(((g > 128) * 255).astype(np.uint8)),
             "mask_1bit.png": Image.fromarray(g > 128),
             "mask_convert.png": Image.fromarray(g).convert("1", dither=Image.Dither.NONE)}
    for name, image in files.items():
        loaded = load_bytes(_png_image(image), name)
        (said,) = [w for w in loaded.warnings if "thresholded export or a vessel mask" in w]
        one_bit = "; a 1-bit file" if image.mode == "1" else ""
        assert said == (f"Only 2 grey levels (0 and 255{one_bit}): a thresholded export or a vessel "
                        f"mask, not a UW-OCTA en-face image; grade the original image."), said
        assert not is_plain_note(said) and refusal(loaded) == ""
        assert not any(w.startswith("Image file: 1-bit") for w in loaded.warnings)  # said once
        pred = predictor.predict_loaded(loaded, gradcam=False)  # type: ignore[attr-defined]
        assert said in pred.warnings
        markdown = _result_markdown(pred, predictor)  # type: ignore[arg-type]
        # not the image the model grades: the heading says so first (the grade second)
        heading = "### Not reliably gradable (a thresholded export or mask); untrained demo — model output: Grade"
        assert heading in markdown and markdown.index(said) < markdown.index(heading)
    four = load_bytes(_png_of((g // 64 * 85).astype(np.uint8)), "posterised.png", kind="fundus")
    assert "Only 4 grey levels (0, 85, 170 and 255): a thresholded export or a vessel mask, not a " \
           "grey fundus photograph; grade the original image." in four.warnings, four.warnings
    five = np.minimum(g // 51, 4).astype(np.uint8) * 60  # 5 levels: a coarse but real image
    assert not any("grey level" in w for w in load_bytes(_png_of(five), "five.png").warnings)
    for i, scan in enumerate(samples):
        assert not any("thresholded" in w for w in load_bytes(_png_of(scan), f"{i}.png").warnings)


def test_a_thresholded_colour_photograph_is_flagged_on_a_colour_model() -> None:
    """The same check per colour channel for a colour model: a real APTOS photograph with each
    channel thresholded has 2 levels per channel; the photograph itself, and its dithered
    palette copy (6 levels per channel, Pillow's web palette), are not flagged."""
    photos = sorted(APTOS.glob("*.png"))[:3]
    if not photos:
        pytest.skip(missing_reason("the real APTOS samples", APTOS))
    for path in photos:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        binary = ((rgb > 100) * 255).astype(np.uint8)
        loaded = load_bytes(_png_of(binary), "t.png", channels=3)
        (said,) = [w for w in loaded.warnings if "thresholded" in w]
        assert said.startswith("Only 2 levels per colour channel (0 and 255): a thresholded export "
                               "or a vessel mask, not a colour fundus photograph"), said
        for data in (path.read_bytes(), _png_of(rgb, "P")):
            assert not any("thresholded" in w for w in load_bytes(data, path.name, channels=3).warnings)


def test_a_refusal_says_what_the_decoder_did_to_the_file(samples: list[np.ndarray], predictor: object,
                                                         tmp_path: Path) -> None:
    """A review: a 2-page TIFF whose first page is blank was refused as "blank or near-constant",
    and the decoder's "multi-page TIFF with 2 frames: only the first is used", the reason it
    looked blank, was dropped (refusal ignored the image's notes). A refusal now ends with the
    decoder's findings as ``Image file: ...``, in the page, the batch rows and predict_file."""
    from app.inputs import InputRejected, refusal

    buf = io.BytesIO()
    Image.fromarray(np.zeros_like(samples[0])).save(buf, "TIFF", save_all=True,
                                                    append_images=[Image.fromarray(samples[0])])
    side = f"{samples[0].shape[1]}x{samples[0].shape[0]}"
    frames = f"Image file: multi-page TIFF with 2 frames: only the first is used (pages: {side}, {side} px)."
    said = refusal(load_bytes(buf.getvalue(), "stack.tif"))
    assert "blank or near-constant" in said and said.endswith(frames), said
    path = tmp_path / "stack.tif"
    path.write_bytes(buf.getvalue())
    with pytest.raises(InputRejected, match="only the first is used"):
        predictor.predict_file(path)  # type: ignore[attr-defined]
    noise = np.random.default_rng(0).integers(0, 256, (256, 256), dtype=np.uint8)
    said = refusal(load_bytes(_png_of(noise) + b"\r\n", "static.png"))
    assert "random noise" in said and "Image file: 2 byte(s) after the PNG's IEND" in said, said
    colour = np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    said = refusal(load_bytes(_png_of(colour), "c.png"))  # the conversion to grey: not a finding
    assert "random noise" in said and "Image file" not in said and "grayscale" not in said, said


def test_a_png_with_large_text_metadata_is_graded_not_called_damaged(samples: list[np.ndarray]) -> None:
    """A review: a valid PNG with 1.5 MB of compressed XMP text (``PngInfo().add_text(
    'XML:com.adobe.xmp', 'x' * 1_500_000, zip=True)``) was refused as "a damaged or truncated
    PNG ... Re-copy it": the app's header check took Pillow's "Decompressed data too large for
    PngImagePlugin.MAX_TEXT_CHUNK" for damage. It goes through the decoder's rule now
    (data_prep.decode.image_header): read as any PNG; above the decoder's raised limit, graded
    from OpenCV's pixels with a word on the metadata and how to strip it."""
    from PIL import PngImagePlugin

    from app.inputs import refusal

    info = PngImagePlugin.PngInfo()
    info.add_text("XML:com.adobe.xmp", "x" * 1_500_000, zip=True)
    buf = io.BytesIO()
    Image.fromarray(samples[1]).save(buf, "PNG", pnginfo=info)
    loaded = load_bytes(buf.getvalue(), "meta.png")
    np.testing.assert_array_equal(loaded.gray, samples[1])
    assert loaded.warnings == [] and loaded.file_format == "PNG" and refusal(loaded) == ""
    from data_prep.decode import TEXT_CHUNK_LIMIT

    huge = PngImagePlugin.PngInfo()
    huge.add_text("Comment", "x" * (TEXT_CHUNK_LIMIT + 1), zip=True)
    buf = io.BytesIO()
    Image.fromarray(samples[1]).save(buf, "PNG", pnginfo=huge)
    loaded = load_bytes(buf.getvalue(), "huge.png")
    np.testing.assert_array_equal(loaded.gray, samples[1])
    (said,) = loaded.warnings
    assert said.startswith("Image file: its PNG text metadata") and "not read" in said, said
