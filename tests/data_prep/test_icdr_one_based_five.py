"""ICDR labels written 1..5 (an APTOS train.csv with every grade +1) were told first "if grade
5 marks an image its graders found ungradable (DeepDRiD's label ...), write NA"; followed, it
dropped every PDR row and left the others off by one. DeepDRiD's ungradable reading
(data_prep.validate.layout_ungradable_fix) is now said only beside the out-of-scale fix, when
0 is among the grades and the CSV has a DeepDRiD column; 1-based labels are told only to
subtract 1."""

from __future__ import annotations

import csv
from pathlib import Path

from data_prep import validate
from drac_ssl.config import GRADE_SCALES


def errors(tmp_path: Path, header: tuple[str, str], grades: list[int]) -> list[validate.Problem]:
    path = tmp_path / "train.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *((f"img{i}", g) for i, g in enumerate(grades))])
    _, problems = validate.read_labels(path, header[0], header[1], grade_names=GRADE_SCALES["icdr"])
    return [p for p in problems if p.severity == "error"]


def test_icdr_grades_written_one_to_five_are_told_to_subtract_one_only(tmp_path: Path) -> None:
    (said,) = errors(tmp_path, ("id_code", "diagnosis"), [1, 2, 3, 4, 5] * 6)
    assert "1-based" in said.what
    assert said.fix.startswith("subtract 1 from the diagnosis column"), said.fix
    assert "ungradable" not in said.fix and "DeepDRiD" not in said.fix


def test_one_to_five_outside_a_never_five_layout_gets_both_readings_the_shift_last(tmp_path: Path) -> None:
    """A DDR reviewer (F2) followed the shift on a DDR subset without grade 0: its ungradable 5
    became PDR. Outside the columns of a layout that never writes 5 (APTOS's, above), 1..5 is
    either reading: the ungradable one first, told not to subtract; the shift only for labels
    known 1-based, its command still the fix's last line."""
    (said,) = errors(tmp_path, ("image_id", "grade"), [1, 2, 3, 4, 5] * 6)
    assert said.fix.startswith("if grade 5 marks an image its graders found ungradable"), said.fix
    assert "do not subtract" in said.fix and "only if the labels are 1-based" in said.fix
    assert said.fix.splitlines()[-1].lstrip().startswith("python")


def test_a_stray_five_in_an_aptos_csv_gets_no_deepdrid_reading(tmp_path: Path) -> None:
    (said,) = errors(tmp_path, ("id_code", "diagnosis"), [0, 1, 2, 3, 4] * 6 + [5])
    assert "DeepDRiD" not in said.fix and "graders found ungradable" not in said.fix, said.fix


def test_a_five_beside_deepdrids_image_column_and_grade_zero_keeps_both_readings(tmp_path: Path) -> None:
    (said,) = errors(tmp_path, ("image_id", "grade"), [0, 1, 2, 3, 4] * 6 + [5])
    assert said.fix.startswith("if grade 5 marks an image its graders found ungradable (DeepDRiD's")
