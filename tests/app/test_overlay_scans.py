"""An OCTA researcher's review (F1): a grey UW-OCTA export saved as RGB with a small coloured
overlay (a scale bar) is grey to the ingest (tests/data_prep/test_octa_other_exports.py); the
app and the export read it as grey too, a doubt but not *not reliably gradable* (it was
flagged "a colour picture, not UW-OCTA"), while a colour picture stays flagged."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.inputs import load_bytes
from drac_ssl.grading.image_notes import COLOUR_OVERLAY, flagged_reasons
from drac_ssl.grading.predict import read_image


def _smooth_grey(size: int) -> np.ndarray:
    """A smooth grey scan, ``size`` x ``size`` uint8: 8 x 8 random levels 20..230 upsampled."""
    coarse = np.random.default_rng(0).uniform(20, 230, (8, 8)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.uint8)


def _scan_file(path: Path, colour: bool = False) -> Path:
    """A smooth grey scan saved as RGB PNG with a 6 x 6 px orange scale bar (0.9 % of the
    pixels); ``colour``: a tinted colour picture instead."""
    rgb = np.dstack([_smooth_grey(64)] * 3)
    if colour:
        rgb[..., 0] = np.clip(rgb[..., 0].astype(int) + 40, 0, 255)
    rgb[55:61, 55:61] = (0, 160, 255)  # BGR orange
    assert cv2.imwrite(str(path), rgb)
    return path



def _overlay_said(path: Path) -> tuple[str, list[str]]:
    """The app's one colour-overlay warning of the grey scan file ``path``, and all its warnings."""
    loaded = load_bytes(path.read_bytes(), path.name, channels=1, kind="octa")
    (said,) = [w for w in loaded.warnings if COLOUR_OVERLAY in w]
    return said, loaded.warnings


def test_the_app_and_the_export_read_a_scan_with_a_scale_bar_as_grey(tmp_path: Path) -> None:
    path = _scan_file(tmp_path / "scan.png")
    said, warnings = _overlay_said(path)
    assert "colour in only 0.9% of the pixels" in said, said
    assert flagged_reasons("", warnings) == [], warnings
    _, warned = read_image(path, 1, kind="octa")
    assert [w.split(": ", 1)[1] for w in warned] == [said]
    # a colour picture stays doubted as not UW-OCTA
    photo = _scan_file(tmp_path / "photo.png", colour=True)
    colour = load_bytes(photo.read_bytes(), photo.name, channels=1, kind="octa")
    assert flagged_reasons("", colour.warnings) == ["a colour picture, not UW-OCTA"], colour.warnings


def _text_jpeg(path: Path) -> Path:
    """A smooth grey scan as RGB with 2 lines of yellow text, saved as a quality-95 JPEG: colour
    in 2.4 % of the pixels counting any 1-level difference (chroma noise), 1.3 % by the levels
    rule (data_prep.colour_rule)."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(np.dstack([_smooth_grey(384)] * 3))
    draw = ImageDraw.Draw(image)
    for line in range(2):
        draw.text((4, 4 + 12 * line), "3x3 mm OD 2026-12-07", fill=(255, 255, 0))
    image.save(path, "JPEG", quality=95)
    return path


def test_a_jpeg_scan_with_a_text_header_is_read_as_grey(tmp_path: Path) -> None:
    said, warnings = _overlay_said(_text_jpeg(tmp_path / "scan.jpg"))
    assert "colour in only 1.3% of the pixels" in said, said
    assert flagged_reasons("", warnings) == [], warnings


def test_a_tiff_with_a_preview_page_is_not_flagged(tmp_path: Path) -> None:
    import io

    from PIL import Image, TiffImagePlugin

    from drac_ssl.grading.image_notes import is_plain_note

    scan = Image.fromarray(np.random.default_rng(1).integers(0, 256, (256, 256), dtype=np.uint8))
    buf = io.BytesIO()
    with TiffImagePlugin.AppendingTiffWriter(buf) as writer:
        scan.save(writer, "TIFF")
        writer.newFrame()
        scan.resize((128, 128)).save(writer, "TIFF", tiffinfo={254: 1})  # a declared preview
        writer.newFrame()
    loaded = load_bytes(buf.getvalue(), "export.tif", channels=1, kind="octa")
    (pages,) = [w for w in loaded.warnings if "multi-page TIFF" in w]
    assert is_plain_note(pages) and "others being a preview" in pages, pages
    assert flagged_reasons("", loaded.warnings) == [], loaded.warnings
    (tmp_path / "export.tif").write_bytes(buf.getvalue())
    _, said = read_image(tmp_path / "export.tif", 1, kind="octa")
    assert flagged_reasons(False, [w.split(": ", 1)[1] for w in said]) == []


def test_a_fundus_model_doubts_a_grey_scan_with_a_scale_bar(tmp_path: Path) -> None:
    from drac_ssl.grading.image_notes import OVERLAID_GREY, doubt_kind

    path = _scan_file(tmp_path / "scan.png")
    loaded = load_bytes(path.read_bytes(), path.name, channels=3, kind="fundus", grey_trained=(0, 100))
    (said,) = [w for w in loaded.warnings if w.startswith(OVERLAID_GREY)]
    assert "colour in only 0.9% of the pixels" in said and doubt_kind(said) == "grey image for a colour model"
    assert flagged_reasons("", loaded.warnings) == [], loaded.warnings
    _, warned = read_image(path, 3, kind="fundus", grey_trained=(0, 100))
    assert [w.split(": ", 1)[1] for w in warned] == [said]
    photo = _scan_file(tmp_path / "photo.png", colour=True)  # a colour picture: nothing said
    assert load_bytes(photo.read_bytes(), photo.name, channels=3, kind="fundus", grey_trained=(0, 100)).warnings == []


def test_a_tinted_grey_picture_without_an_overlay_is_not_called_overlaid(tmp_path: Path) -> None:
    """A grey picture whose channels differ only by a tint of +3 levels (within the levels rule:
    colour in 0.0 % of its pixels) has no overlay: the app, the export and the ingest do not say
    "colour in 0.0% of the pixels" (a reader's finding F1), but what they said before overlays."""
    from types import SimpleNamespace

    from data_prep.ingest import _overlaid
    from drac_ssl.grading.image_notes import COLOUR_NOT_OCTA, OVERLAID_GREY

    coarse = np.random.default_rng(0).uniform(20, 230, (8, 8)).astype(np.float32)
    rgb = np.dstack([cv2.resize(coarse, (64, 64), interpolation=cv2.INTER_LINEAR).astype(np.uint8)] * 3)
    rgb[..., 2] += 3  # a red tint (BGR)
    path = tmp_path / "tinted.png"
    assert cv2.imwrite(str(path), rgb)
    loaded = load_bytes(path.read_bytes(), path.name, channels=3, kind="fundus", grey_trained=(0, 100))
    assert not [w for w in loaded.warnings if w.startswith(OVERLAID_GREY)], loaded.warnings
    _, warned = read_image(path, 3, kind="fundus", grey_trained=(0, 100))
    assert not [w for w in warned if OVERLAID_GREY in w], warned
    grey = load_bytes(path.read_bytes(), path.name, channels=1, kind="octa")
    assert [w for w in grey.warnings if COLOUR_NOT_OCTA in w] and not [
        w for w in grey.warnings if COLOUR_OVERLAY in w], grey.warnings
    _, warned = read_image(path, 1, kind="octa")
    assert [w for w in warned if COLOUR_NOT_OCTA in w], warned
    assert not _overlaid(SimpleNamespace(colour=True, colour_share=0.0))
    assert _overlaid(SimpleNamespace(colour=True, colour_share=0.009))
