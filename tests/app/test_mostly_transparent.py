"""A mostly transparent image is not reliably gradable (a QA test, F1).

An LA or RGBA PNG with alpha 0 on 96% (or 50%) of its pixels was composited over black and
graded as fine: the decoder's "(partly) transparent" warning was a plain note on the app's
page and in its batch, a ``note:`` the export did not count as FLAGGED. Above
``data_prep.decode.MOSTLY_TRANSPARENT_SHARE`` of the picture hidden it is now a doubt with the
reason "mostly transparent", as a 1-bit mask or a multi-page TIFF is; below it stays a note.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app.inputs import load_bytes
from app.server import AppSettings, _grade_batch
from data_prep import decode
from drac_ssl import export
from drac_ssl.grading.image_notes import MOSTLY_TRANSPARENT_FINDING, flagged_reasons, is_plain_note
from drac_ssl.grading.predict import read_image
from drac_ssl.runtime import EXIT_FLAGGED


def _png(hidden: float, mode: str = "LA") -> bytes:
    """A 64 px textured picture whose first ``hidden`` share of pixels has alpha 0."""
    yy, xx = np.mgrid[:64, :64]
    grey = ((np.sin(xx / 3) + np.cos(yy / 5)) * 50 + 128).astype(np.uint8)
    alpha = np.full(grey.shape, 255, np.uint8)
    alpha.flat[: int(hidden * alpha.size)] = 0
    layers = [grey, alpha] if mode == "LA" else [grey, grey // 2, grey, alpha]
    buf = io.BytesIO()
    Image.fromarray(np.dstack(layers), mode).save(buf, "PNG")
    return buf.getvalue()


def test_the_words_the_reason_matches_are_the_decoders() -> None:
    assert MOSTLY_TRANSPARENT_FINDING == f"{decode.MOSTLY_TRANSPARENT}: "
    assert 0.215 < decode.MOSTLY_TRANSPARENT_SHARE < 0.5  # a round field's corners stay a note; half does not


@pytest.mark.parametrize(("hidden", "mode"), [(0.96, "LA"), (0.5, "RGBA"), (0.3, "LA")])
def test_a_mostly_transparent_file_is_not_reliably_gradable_in_the_app_and_the_export(
        hidden: float, mode: str, tmp_path: Path) -> None:
    data = _png(hidden, mode)
    for channels, kind in ((1, "octa"), (3, "fundus")):
        loaded = load_bytes(data, "x.png", channels=channels, kind=kind)
        (said,) = [w for w in loaded.warnings if "transparent" in w]
        assert said.startswith(f"Image file: {MOSTLY_TRANSPARENT_FINDING}its alpha channel hides "
                               f"{100 * hidden:.1f}% of the picture"), said
        assert not is_plain_note(said)
        assert "mostly transparent" in flagged_reasons("", loaded.warnings)
        # the export: a warning (not a note), with the same words and the same reason
        (tmp_path / "x.png").write_bytes(data)
        notes: list[str] = []
        _, warnings = read_image(tmp_path / "x.png", channels, kind=kind, notes=notes)
        assert f"x.png: {said}" in warnings and not [n for n in notes if "transparent" in n]
        assert "mostly transparent" in flagged_reasons(False, [w.split(": ", 1)[1] for w in warnings])


def test_a_small_transparent_part_stays_a_plain_note() -> None:
    loaded = load_bytes(_png(0.2), "x.png", channels=1, kind="octa")
    (said,) = [w for w in loaded.warnings if "transparent" in w]
    assert said.startswith("Image file: 20.0% of the pixels are (partly) transparent") and is_plain_note(said)
    assert flagged_reasons("", loaded.warnings) == []


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "hidden.png").write_bytes(_png(0.96))
    (folder / "some.png").write_bytes(_png(0.2))
    return folder


def test_the_batch_tab_flags_it(predictor: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    _, rows, _, _ = _grade_batch(predictor, AppSettings(gradcam=False),
                                 [str(folder / "hidden.png"), str(folder / "some.png")])
    notes = {row[0]: row[-1] for row in rows}
    assert notes["hidden.png"].startswith("NOT RELIABLY GRADABLE: mostly transparent."), notes
    assert "Note: Image file: 20.0% of the pixels" in notes["some.png"], notes
    assert "NOT RELIABLY GRADABLE" not in notes["some.png"]


def test_the_export_flags_it(predictor: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path)
    run = Path(predictor.bundle.path).parent
    capsys.readouterr()
    assert export.main([str(run), "--images", str(folder), "--out", str(tmp_path / "x.csv")]) == EXIT_FLAGGED
    out = capsys.readouterr()
    assert "warning: hidden.png: Image file: mostly transparent: " in out.err
    assert "note: some.png: Image file: 20.0% of the pixels" in out.err
    assert "FLAGGED: 1 of the 2 graded image(s) is not reliably gradable (1 mostly transparent)" in out.out


def _rgba(picture: np.ndarray, alpha: np.ndarray) -> bytes:
    layers = [picture, alpha] if picture.ndim == 2 else [*np.moveaxis(picture, 2, 0), alpha]
    buf = io.BytesIO()
    Image.fromarray(np.dstack(layers).astype(np.uint8), "LA" if picture.ndim == 2 else "RGBA").save(buf, "PNG")
    return buf.getvalue()


def _texture(height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width]
    return ((np.sin(xx / 3) + np.cos(yy / 5)) * 50 + 128).astype(np.uint8)


def _fundus(height: int, width: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """A colour disc of ``radius`` px centred in a black ``height`` x ``width`` frame, and the
    alpha that makes the black surround transparent."""
    yy, xx = np.mgrid[:height, :width]
    disc = (yy - height / 2 + 0.5) ** 2 + (xx - width / 2 + 0.5) ** 2 <= radius ** 2
    grey = _texture(height, width)
    return np.dstack([grey, grey // 2, grey // 4]) * disc[..., None], np.where(disc, 255, 0)


@pytest.mark.parametrize(("height", "width", "radius"), [
    (120, 160, 60),  # a disc in a 4:3 frame: 41 % of the picture hidden, 21 % of the disc's box
    (90, 160, 45),  # 16:9: 56 %
    (120, 120, 54),  # a Ben-Graham crop (0.9 of the half side) in a square: 36 %
    (100, 160, 62),  # the disc cut at top and bottom: 12 % of its box
])
def test_a_fundus_photographs_transparent_black_surround_stays_a_plain_note(
        height: int, width: int, radius: float, tmp_path: Path) -> None:
    """Reviewer F1: composited over black it is the opaque file pixel for pixel (same grade),
    so it is no doubt, however much of a wide frame the surround is."""
    rgb, alpha = _fundus(height, width, radius)
    data = _rgba(rgb, alpha)
    decoded = decode.decode(data, "f.png")
    np.testing.assert_array_equal(decoded.pixels, rgb)
    (said,) = [p for p in decoded.problems if p.kind == "alpha"]
    assert "of the pixels are (partly) transparent" in said.what, said.what
    loaded = load_bytes(data, "f.png", channels=3, kind="fundus")
    assert "mostly transparent" not in flagged_reasons("", loaded.warnings)
    assert [w for w in loaded.warnings if "transparent" in w and is_plain_note(w)], loaded.warnings
    # the export: a note, not a warning counted in FLAGGED (its exit-0 path)
    (tmp_path / "f.png").write_bytes(data)
    notes: list[str] = []
    _, warnings = read_image(tmp_path / "f.png", 3, kind="fundus", notes=notes)
    assert [n for n in notes if "transparent" in n] and not [w for w in warnings if "transparent" in w]


def test_a_grey_scan_cut_at_the_side_is_doubted() -> None:
    """A UW-OCTA scan with its left 40 % alpha 0: nothing is hidden inside the visible box, but
    a grey scan fills its square (40 % of the frame hidden)."""
    grey = _texture(100, 100)
    alpha = np.full(grey.shape, 255)
    alpha[:, :40] = 0
    loaded = load_bytes(_rgba(grey, alpha), "cut.png", channels=1, kind="octa")
    (said,) = [w for w in loaded.warnings if "transparent" in w]
    assert said.startswith(f"Image file: {MOSTLY_TRANSPARENT_FINDING}its alpha channel hides 40.0% "
                           "of the picture, 0.0% inside the box of its visible pixels"), said
    assert "mostly transparent" in flagged_reasons("", loaded.warnings)


def test_a_grey_scan_on_a_transparent_padding_is_doubted_as_a_margin() -> None:
    """All of the scan is visible: said as a margin, never as 'read from the N% left visible'."""
    canvas, alpha = np.zeros((160, 160), np.uint8), np.zeros((160, 160), np.uint8)
    canvas[30:130, 30:130], alpha[30:130, 30:130] = _texture(100, 100), 255
    loaded = load_bytes(_rgba(canvas, alpha), "pad.png", channels=1, kind="octa")
    (said,) = [w for w in loaded.warnings if "transparent" in w]
    assert said.startswith(f"Image file: {MOSTLY_TRANSPARENT_FINDING}a transparent margin around the "
                           "image (60.9% of the frame)"), said
    assert "left visible" not in said and "hides" not in said
    assert "mostly transparent" in flagged_reasons("", loaded.warnings)


@pytest.mark.parametrize("where", ["a side", "inside the visible box"])
def test_a_quarter_exactly_hidden_stays_a_plain_note(where: str) -> None:
    """The rule is strictly above MOSTLY_TRANSPARENT_SHARE: a colour picture with its left 25.0 %
    hidden (a rectangle left visible), or 25.0 % of its visible box hidden (with a transparent
    margin far more of the whole picture is hidden), stays a note."""
    grey = _texture(100, 120)
    alpha = np.full(grey.shape, 255)
    if where == "a side":
        alpha[:, :30] = 0  # 30 of 120 columns: 25.0 % of the frame
    else:
        grey[:, 100:] = grey[25:75, 25:75] = 0
        alpha[:, 100:] = alpha[25:75, 25:75] = 0  # 50 x 50 of the 100 x 100 visible box: 25.0 %
    picture = np.dstack([grey, grey // 2, grey // 3])
    (said,) = [p for p in decode.decode(_rgba(picture, alpha), "q.png").problems if p.kind == "alpha"]
    assert "of the pixels are (partly) transparent" in said.what, said.what
    alpha[:, 30] = alpha[25:75, 75] = 0  # a little more hidden: over the quarter, doubted
    (said,) = [p for p in decode.decode(_rgba(picture, alpha), "q.png").problems if p.kind == "alpha"]
    assert said.what.startswith(decode.MOSTLY_TRANSPARENT), said.what


def test_a_grey_scan_on_a_margin_of_a_quarter_exactly_stays_a_plain_note() -> None:
    """The grey margin check is strictly above the quarter too (a 200 x 120 frame, the scan
    180 x 90 inside it: 25.0 % of the frame hidden); one row more hidden is doubted."""
    canvas, alpha = np.zeros((200, 120), np.uint8), np.zeros((200, 120), np.uint8)
    canvas[10:190, 10:110], alpha[10:190, 10:110] = _texture(180, 100), 255
    (said,) = [p for p in decode.decode(_rgba(canvas, alpha), "m.png").problems if p.kind == "alpha"]
    assert "of the pixels are (partly) transparent" in said.what, said.what
    alpha[10, 10:110] = 0
    (said,) = [p for p in decode.decode(_rgba(canvas, alpha), "m.png").problems if p.kind == "alpha"]
    assert said.what.startswith(f"{decode.MOSTLY_TRANSPARENT}: a transparent margin"), said.what


def _verdict(data: bytes) -> str:
    (said,) = [p for p in decode.decode(data, "v.png").problems if p.kind == "alpha"]
    return "doubt" if said.what.startswith(decode.MOSTLY_TRANSPARENT) else "note"


def _palette(picture: np.ndarray, alpha: np.ndarray) -> bytes:
    """An RGBA picture stored as a palette PNG with a tRNS chunk (alpha per palette entry)."""
    buf = io.BytesIO()
    Image.fromarray(np.dstack([picture, alpha]).astype(np.uint8), "RGBA").quantize(
        64, method=Image.Quantize.FASTOCTREE).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("store", [_rgba, _palette])
def test_the_colour_under_alpha_0_never_changes_the_verdict(store: Any) -> None:
    """Reader F2: the verdict read the colour nobody sees. Pairs that are pixel-identical
    composited over black get the same words: a fundus disc on a transparent surround with
    white or black under alpha 0 (a note), a colour picture with its top half hidden whose
    hidden colour was kept or zeroed by an optimiser (a doubt)."""
    rgb, alpha = _fundus(120, 160, 60)
    white = np.where(alpha[..., None] > 0, rgb, 255)
    assert _verdict(store(rgb, alpha)) == _verdict(store(white, alpha)) == "note"
    grey = _texture(100, 100)
    kept = np.dstack([grey, grey // 2, grey // 3])
    half = np.full(grey.shape, 255)
    half[:50] = 0
    zeroed = kept * (half[..., None] > 0)
    assert _verdict(store(kept, half)) == _verdict(store(zeroed, half)) == "doubt"


@pytest.mark.parametrize("cut", [40, 60])
def test_a_colour_picture_cut_with_a_feathered_edge_is_doubted(cut: int) -> None:
    """A review of mend_b80: a colour picture cut onto a transparent margin whose edge ramps
    from 0 to full opacity over 20 px (a common export setting) passed as a plain note, the
    ramp making its box look less than rectangular; the shape is read at half opacity."""
    colour = np.dstack([_texture(100, 100), _texture(100, 100)[::-1], np.full((100, 100), 90)])
    alpha = np.full((100, 100), 255.0)
    alpha[:, :cut] = 0
    alpha[:, cut:cut + 20] = np.linspace(0, 255, 20)
    loaded = load_bytes(_rgba(colour, alpha), "feathered.png", channels=3, kind="fundus")
    (said,) = [w for w in loaded.warnings if "transparent" in w]
    assert said.startswith(f"Image file: {MOSTLY_TRANSPARENT_FINDING}its alpha channel hides"), said
    assert "mostly transparent" in flagged_reasons("", loaded.warnings)
