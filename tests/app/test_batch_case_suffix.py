"""The app's batch tab and the export refuse one file alike: an image named otherwise than as
an image (a QA test, F2).

A JPEG named ``x.heic`` was graded by the batch tab and written to its CSV as the case
``x.heic``, while ``python -m drac_ssl.export --images`` refuses it ("so it cannot be a case
-> rename it x.jpg"); so was one named ``.jfif`` (``.jpe``), which the export refuses too. The
batch now says NOT GRADED with the export's words and fix; the single-image tab, which writes no
case, still grades it with its note.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.server import AppSettings, _grade_batch
from drac_ssl.submission import image_name_problem, read_folder


def _jpeg() -> bytes:
    yy, xx = np.mgrid[:64, :64]
    buf = io.BytesIO()
    Image.fromarray(((np.sin(xx / 3) + np.cos(yy / 5)) * 50 + 128).astype(np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def test_the_batch_refuses_a_jpeg_named_heic_or_jfif_as_the_export_does(predictor: Any, tmp_path: Path) -> None:
    names = ("x.heic", "y.jfif", "z.JPG")
    for name in names:
        (tmp_path / name).write_bytes(_jpeg())
    # the export's refusals: (file, why, fix) of the files it cannot grade
    export_said = {path.name: (why, fix) for path, why, fix in read_folder(tmp_path).others}
    assert sorted(export_said) == ["x.heic", "y.jfif"], export_said
    _, rows, csv_path, _ = _grade_batch(predictor, AppSettings(gradcam=False), [str(tmp_path / n) for n in names])
    notes = {row[0]: (row[1], row[-1]) for row in rows}
    for name, stem in (("x.heic", "x"), ("y.jfif", "y")):
        grade, said = notes[name]
        why, fix = export_said[name]
        assert image_name_problem(tmp_path / name) == (why, fix)
        assert grade is None and said == f"{name}: {why}; {fix}, and grade it again.", said
        assert "so it cannot be a case" in why and fix == f"rename it {stem}.jpg"
    assert notes["z.JPG"][0] is not None  # an image suffix in upper case is one
    assert csv_path is not None and Path(csv_path).name == "grades_INCOMPLETE.csv"
    assert 'x.heic,,,,,"NOT GRADED: x.heic: is a JPEG image' in Path(csv_path).read_text(encoding="utf-8")


def test_the_single_tab_still_grades_it_with_its_note(predictor: Any, tmp_path: Path) -> None:
    (tmp_path / "x.heic").write_bytes(_jpeg())
    assert image_name_problem(tmp_path / "x.png") is None  # named as an image: no question
    prediction = predictor.predict_file(tmp_path / "x.heic")
    assert prediction.grade is not None
    assert any("a JPEG file, though named .heic" in w for w in prediction.warnings), prediction.warnings


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_a_backup_copys_fix_names_the_image_it_was(tmp_path: Path) -> None:
    """Reviewer F4: ``e.jpg.bak`` was told "rename it e.jpg.jpg"; its name holds the image's."""
    cases = {"e.jpg.bak": (_jpeg(), "e.jpg"), "f.JPEG.orig": (_jpeg(), "f.JPEG"),
             "g.png.bak": (_jpeg(), "g.jpg"), "h.tif.old": (_png(), "h.png"), "scan.dat": (_png(), "scan.png"),
             "x.heic": (_jpeg(), "x.jpg")}
    for name, (data, renamed) in cases.items():
        (tmp_path / name).write_bytes(data)
        problem = image_name_problem(tmp_path / name)
        assert problem is not None and problem[1] == f"rename it {renamed}", (name, problem)


def test_a_rename_fix_never_names_a_file_that_is_there(predictor: Any, tmp_path: Path) -> None:
    """Reader F1: beside ``x.jpg``, ``x.heic`` and ``x.png.bak`` (both JPEGs) were each told
    "rename it x.jpg", which overwrites the image there (the export, the batch, one file alone)."""
    names = ("x.heic", "x.jpg", "x.png.bak")
    for name in names:
        (tmp_path / name).write_bytes(_jpeg())
    fixes = {path.name: fix for path, _, fix in read_folder(tmp_path).others}
    assert fixes == {"x.heic": "x.jpg exists: keep one, or rename it x_2.jpg",
                     "x.png.bak": "x.jpg exists: keep one, or rename it x_3.jpg"}, fixes
    problem = image_name_problem(tmp_path / "x.heic")  # alone: its folder's names
    assert problem is not None and problem[1] == "x.jpg exists: keep one, or rename it x_2.jpg"
    _, rows, _, _ = _grade_batch(predictor, AppSettings(gradcam=False), [str(tmp_path / n) for n in names])
    said = {row[0]: row[-1] for row in rows}
    assert "x.jpg exists: keep one, or rename it x_2.jpg, and grade it again." in said["x.heic"], said
    assert "rename it x_3.jpg, and grade it again." in said["x.png.bak"], said
    # no x.jpg there: the first is told x.jpg, the second not the same name
    (tmp_path / "x.jpg").unlink()
    fixes = {path.name: fix for path, _, fix in read_folder(tmp_path).others}
    assert fixes == {"x.heic": "rename it x.jpg", "x.png.bak": "rename it x_2.jpg"}, fixes
