"""A Messidor-2 trial (F5): a mistyped --patient-column stopped the label reading before the
rows were read, so an out-of-range grade was said only on the next run. The rows are now read
against the other columns all the same (data_prep.validate.read_labels), every problem in one
pass; no table comes back without its patients."""

from __future__ import annotations

import csv
from pathlib import Path

from data_prep import validate
from drac_ssl.config import GRADE_SCALES


def test_a_missing_patient_column_and_a_bad_grade_are_said_in_one_pass(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("image_id", "adjudicated_dr_grade", "examination"),
                                  ("a.png", "2", "1"), ("b.png", "7", "1"), ("c.png", "0", "2")])
    table, problems = validate.read_labels(path, "image_id", "adjudicated_dr_grade", patient_column="patient",
                                           grade_names=GRADE_SCALES["icdr"])
    assert table is None
    said = [(p.path, p.what) for p in problems if p.severity == "error"]
    assert [what.split(" (")[0] for _, what in said] == ["no patient column 'patient'",
                                                         "grade 7 of b.png is outside {0, 1, 2, 3, 4}"]
    assert said[1][0] == f"{path}:3"
