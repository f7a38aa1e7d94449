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


def _scan_file(path: Path, colour: bool = False) -> Path:
    """A smooth grey scan saved as RGB PNG with a 6 x 6 px orange scale bar (0.9 % of the
    pixels); ``colour``: a tinted colour picture instead."""
    coarse = np.random.default_rng(0).uniform(20, 230, (8, 8)).astype(np.float32)
    rgb = np.dstack([cv2.resize(coarse, (64, 64), interpolation=cv2.INTER_LINEAR).astype(np.uint8)] * 3)
    if colour:
        rgb[..., 0] = np.clip(rgb[..., 0].astype(int) + 40, 0, 255)
    rgb[55:61, 55:61] = (0, 160, 255)  # BGR orange
    assert cv2.imwrite(str(path), rgb)
    return path



def test_the_app_and_the_export_read_a_scan_with_a_scale_bar_as_grey(tmp_path: Path) -> None:
    path = _scan_file(tmp_path / "scan.png")
    loaded = load_bytes(path.read_bytes(), path.name, channels=1, kind="octa")
    (said,) = [w for w in loaded.warnings if COLOUR_OVERLAY in w]
    assert "colour in only 0.9% of the pixels" in said, said
    assert flagged_reasons("", loaded.warnings) == [], loaded.warnings
    _, warned = read_image(path, 1, kind="octa")
    assert [w.split(": ", 1)[1] for w in warned] == [said]
    # a colour picture stays doubted as not UW-OCTA
    photo = _scan_file(tmp_path / "photo.png", colour=True)
    colour = load_bytes(photo.read_bytes(), photo.name, channels=1, kind="octa")
    assert flagged_reasons("", colour.warnings) == ["a colour picture, not UW-OCTA"], colour.warnings
