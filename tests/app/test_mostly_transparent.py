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
