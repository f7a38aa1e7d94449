"""The CSVs written for people open in Excel on a German, French or Chinese Windows (review intl
F4): the export's ``<stem>_notes.csv`` and the app's ``grades_with_notes.csv`` carry a UTF-8
byte-order mark (without it Excel reads them in the local code page: ``MÃ¼ller``), the
submission beside them stays byte for byte the challenge's plain UTF-8, and every reader of the
notes files in the package takes the mark."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drac_ssl.submission import (
    check_submission,
    image_notes_path,
    read_image_notes,
    read_noted_classes,
    read_noted_grade_names,
    read_pretraining_notes,
    write_image_notes,
    write_submission,
)


def test_the_export_notes_file_has_a_bom_and_the_submission_none(tmp_path: Path) -> None:
    cases = ["Müller_01.png", "张三_02.png"]
    submission = write_submission(tmp_path / "grades.csv", cases, np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]]))
    raw = submission.read_bytes()
    assert raw.startswith(b"case,class,P0,P1,P2\n") and "Müller_01.png".encode() in raw
    notes = write_image_notes(image_notes_path(submission), cases, [0, 2], [["unlike the training images"], []],
                              [False, None], grade_names=["Normal", "NPDR", "PDR"],
                              bundle={"variant": "vicreg"})
    assert notes.read_bytes().startswith(b"\xef\xbb\xbfcase,class,"), notes.read_bytes()[:20]
    # the package's readers of the notes file take the mark
    assert read_image_notes(notes) == {"Müller_01.png": ("unlike the training images", False),
                                       "张三_02.png": ("", False)}  # None: unknown
    assert set(read_pretraining_notes(notes) or {}) == set(cases)
    assert read_noted_classes(notes) == {"Müller_01.png": "0", "张三_02.png": "2"}
    assert read_noted_grade_names(notes) is None  # grade 1 is named by no row: not clean
    assert check_submission(submission) == []


def test_a_notes_file_checked_as_a_submission_is_said_as_such_not_as_a_bom(tmp_path: Path) -> None:
    """Its byte-order mark is by design: the one problem says what the file is."""
    notes = write_image_notes(tmp_path / "grades_notes.csv", ["a.png"], [1], [[]], [False])
    said = check_submission(notes)
    assert len(said) == 1 and "not a submission" in said[0] and "byte-order mark" not in said[0], said
    plain = tmp_path / "plain.csv"
    plain.write_bytes(b"\xef\xbb\xbfcase,class,P0,P1,P2\na.png,0,1.0,0.0,0.0\n")
    assert any("byte-order mark" in line for line in check_submission(plain))  # a submission: still said


def test_the_app_notes_csv_has_a_bom(tmp_path: Path) -> None:
    from app.batch_csv import write_grades_for_people

    path = write_grades_for_people(tmp_path / "grades_with_notes.csv", [("Müller.png", 0, "")],
                                   np.array([[0.8, 0.1, 0.1]]), np.array([0]), ["Normal", "NPDR", "PDR"],
                                   unreliable=[[]], trained=[False], about="")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfcase,grade,grade_name,") and "Müller.png".encode() in raw
    said = check_submission(path)
    assert len(said) == 1 and "grades_with_notes.csv" in said[0] and "byte-order" not in said[0], said
