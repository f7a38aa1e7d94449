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


def left_out_problems(tmp_path: Path, header: str, grades: list[str]) -> list[validate.Problem]:
    """read_labels' problems for ``grades`` (NA left out: --ungradable leave_out) on ICDR."""
    path = tmp_path / "train.csv"
    path.write_text(f"{header}\n" + "".join(f"img{i},{g}\n" for i, g in enumerate(grades)))
    image, grade = header.split(",")
    return validate.read_labels(path, image, grade, grade_names=GRADE_SCALES["icdr"],
                                ungradable="leave_out")[1]


def test_fives_made_na_and_left_out_leaving_no_grade_zero_point_back_to_one_based(tmp_path: Path) -> None:
    """Followed on a +1 APTOS CSV, "write NA for the 5s, --ungradable leave_out" kept 1..4 as
    No DR..Severe, every row a grade high, every PDR row gone: a warning (fatal with --strict),
    pointing back to the 1-based reading. Not an error (a second reviewer, F1): a 0-based
    referable-only subset graded 1..4 beside truly ungradable NA cells writes the same and was
    stopped with nothing written; the warning names what works for it."""
    # the APTOS rows in a plain CSV's columns, where 5 was told ungradable
    problems = left_out_problems(tmp_path, "image,label", ["1", "2", "3", "4", "NA"] * 6)
    assert not [p for p in problems if p.severity == "error"], problems
    (said,) = [p for p in problems if "no row left is graded 0" in p.what]
    assert said.severity == "warning"
    assert "6 rows were left out as ungradable (e.g. line 6, img4) and no row left is graded 0" in said.what
    assert "1-based" in said.what and said.fix.startswith("if the labels are 1-based, the left-out rows were grade 5"), said.fix
    assert "put 5 back in their label cells, then subtract 1 from the label column" in said.fix
    assert ("if they are 0-based (a set without No DR images, the left-out rows truly ungradable), the "
            "ingest goes on without grade 0" in said.fix), said.fix
    assert ("renumber the label column's grades so that they run 0..3 (1 -> 0, 2 -> 1, 3 -> 2, 4 -> 3, "
            'in this order), and pass --grades "Mild,Moderate,Severe,PDR"' in said.fix), said.fix
    assert said.fix.endswith("or delete the NA rows from the label CSV"), said.fix


def test_one_to_four_left_beside_na_in_aptos_columns_get_no_one_based_warning(tmp_path: Path) -> None:
    """APTOS's and EyePACS's columns (id_code, diagnosis) were never told "5 may be ungradable"
    (only "subtract 1"), so 1..4 beside NA there is no 1-based PDR made NA: no such message."""
    problems = left_out_problems(tmp_path, "id_code,diagnosis", ["1", "2", "3", "4", "NA"] * 6)
    assert not [p for p in problems if "no row left is graded 0" in p.what], problems


def test_grades_left_below_the_top_grade_get_no_one_based_warning(tmp_path: Path) -> None:
    """1..3 beside NA does not reach PDR (4): not labels written 1..5 whose 5s were made NA."""
    problems = left_out_problems(tmp_path, "image,label", ["1", "2", "3", "NA"] * 6)
    assert not [p for p in problems if "no row left is graded 0" in p.what], problems
