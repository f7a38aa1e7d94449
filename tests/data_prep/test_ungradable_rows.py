"""Label rows marked ungradable two ways in one file, a gradable column's 0 (Messidor-2's
``adjudicated_gradable``) and the layout's ungradable grade (DeepDRiD's 5): one rule
(``data_prep.validate._ungradable_row``) files both, refused and kept under
``data.ungradable=error``, left out under ``leave_out``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from data_prep import validate
from drac_ssl.config import GRADE_SCALES

ROWS = [("000.png", "1", "1"), ("001.png", "2", "0"), ("002.png", "5", "1"), ("003.png", "0", "1")]


def read(tmp_path: Path, ungradable: str) -> tuple[validate.LabelTable, list[validate.Problem]]:
    path = tmp_path / "labels.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("image name", "DR grade", "adjudicated_gradable"), *ROWS])
    table, problems = validate.read_labels(path, "image name", "DR grade",
                                           grade_names=GRADE_SCALES["icdr"], ungradable=ungradable,
                                           marked_ungradable=(5, "DeepDRiD"))
    assert table is not None
    return table, problems


def test_both_marks_are_refused_and_kept_under_error(tmp_path: Path) -> None:
    table, problems = read(tmp_path, "error")
    assert [(r.name, r.grade) for r in table.rows] == [
        ("000.png", 1), ("001.png", None), ("002.png", None), ("003.png", 0)]
    assert table.left_out == []
    errors = sorted(p.what for p in problems if p.severity == "error")
    assert errors == ["001.png is marked ungradable (adjudicated_gradable 0), although its grade "
                      "cell holds '2'",
                      "002.png has grade 5, DeepDRiD's label for an image its graders found ungradable"]


def test_both_marks_are_left_out_under_leave_out(tmp_path: Path) -> None:
    table, problems = read(tmp_path, "leave_out")
    assert [r.name for r in table.rows] == ["000.png", "003.png"]
    assert [(r.name, r.marked_by) for r in table.left_out] == [
        ("001.png", "adjudicated_gradable 0"), ("002.png", "")]
    assert not [p for p in problems if p.severity == "error"]


@pytest.mark.parametrize("setting", ["error", "leave_out"])
def test_the_one_rule_files_a_row(setting: str) -> None:
    row = validate.LabelRow("001.png", None, "", 2, "5", "")
    left_out: list[validate.LabelRow] = []
    refused: list[validate.LabelRow] = []
    rows: list[validate.LabelRow] = []
    validate._ungradable_row(row, setting, left_out, refused, rows)
    assert (left_out, refused, rows) == (([row], [], []) if setting == "leave_out" else ([], [row], [row]))
