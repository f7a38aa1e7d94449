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


def test_one_based_labels_with_deepdrids_image_column_are_not_told_ungradable(tmp_path: Path) -> None:
    (said,) = errors(tmp_path, ("image_id", "grade"), [1, 2, 3, 4, 5] * 6)
    assert said.fix.startswith("subtract 1 from the grade column"), said.fix


def test_a_stray_five_in_an_aptos_csv_gets_no_deepdrid_reading(tmp_path: Path) -> None:
    (said,) = errors(tmp_path, ("id_code", "diagnosis"), [0, 1, 2, 3, 4] * 6 + [5])
    assert "DeepDRiD" not in said.fix and "graders found ungradable" not in said.fix, said.fix


def test_a_five_beside_deepdrids_image_column_and_grade_zero_keeps_both_readings(tmp_path: Path) -> None:
    (said,) = errors(tmp_path, ("image_id", "grade"), [0, 1, 2, 3, 4] * 6 + [5])
    assert said.fix.startswith("if grade 5 marks an image its graders found ungradable (DeepDRiD's")


def test_one_to_five_in_the_default_columns_are_told_the_shift_first(tmp_path: Path) -> None:
    """A reviewer: branch ddr81 told 1..5 labels in the default columns 'ungradable first'
    again, the trap above; the shift is first, no DDR reading without DDR's file names."""
    (said,) = errors(tmp_path, ("image name", "DR grade"), [1, 2, 3, 4, 5] * 6)
    assert said.fix.startswith("subtract 1 from the DR grade column, in a spreadsheet"), said.fix
    assert "ungradable" not in said.fix


def test_fives_made_na_and_left_out_leaving_no_grade_zero_point_back_to_one_based(tmp_path: Path) -> None:
    """Followed on a +1 APTOS CSV, "write NA for the 5s, --ungradable leave_out" kept 1..4 as
    No DR..Severe, every row a grade high, every PDR row gone: an error, pointing back to the
    1-based reading."""
    path = tmp_path / "train.csv"  # the APTOS rows in a plain CSV's columns, where 5 was told ungradable
    path.write_text("image,label\n" + "".join(f"img{i},{g}\n" for i, g in enumerate(["1", "2", "3", "4", "NA"] * 6)))
    _, problems = validate.read_labels(path, "image", "label", grade_names=GRADE_SCALES["icdr"],
                                       ungradable="leave_out")
    (said,) = [p for p in problems if p.severity == "error"]
    assert "6 rows were left out as ungradable (e.g. line 6, img4) and no row left is graded 0" in said.what
    assert "1-based" in said.what and said.fix.startswith("if the labels are 1-based, the left-out rows were grade 5"), said.fix
    assert "put 5 back in their label cells, then subtract 1 from the label column" in said.fix
