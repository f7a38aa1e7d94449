"""A DDR / IDRiD reviewer (F1): DDR writes 5 for an image its graders found ungradable, as
DeepDRiD does. A DDR ``train.txt`` made a CSV and read on ICDR was told "if the labels have 6
grades (0..5), give 6 names ...; or correct the rows to 0..4", ``--ungradable leave_out`` gave
the same error, and ``--grades "No DR, ..., PDR, Ungradable"`` was taken, training ungradable
photographs as a grade above PDR. Now the 5 is said as DeepDRiD's and DDR's ungradable mark
first (NA and ``--ungradable leave_out``), ``leave_out`` leaves those rows out as the DeepDRiD
layout does, and a grade named as an ungradable word is refused."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from data_prep import validate
from data_prep.ingest import check_settings
from data_prep.problems import IngestError
from drac_ssl.config import GRADE_SCALES, DataConfig, grades_problem

DDR_GRADES = [0, 1, 2, 3, 4, 5, 0, 2, 0, 1, 0, 2]  # DDR's lines: 5 only for ungradable


def read(tmp_path: Path, grades: list[int], header: tuple[str, str] = ("image name", "DR grade"),
         ungradable: str = "error") -> tuple[validate.LabelTable | None, list[validate.Problem]]:
    path = tmp_path / "train.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *((f"007-{i:04d}-000.jpg", g) for i, g in enumerate(grades))])
    return validate.read_labels(path, header[0], header[1], grade_names=GRADE_SCALES["icdr"],
                                ungradable=ungradable)


def errors(problems: list[validate.Problem]) -> list[validate.Problem]:
    return [p for p in problems if p.severity == "error"]


def test_ddrs_five_on_icdr_is_said_ungradable_before_a_sixth_grade(tmp_path: Path) -> None:
    (said,) = errors(read(tmp_path, DDR_GRADES + [5])[1])
    assert said.fix.startswith("if grade 5 marks an image its graders found ungradable (DeepDRiD's "
                               "and DDR's label for one), write NA"), said.fix
    assert said.fix.index("--ungradable leave_out") < said.fix.index("6 names"), said.fix


def test_leave_out_never_drops_a_five_as_it_is(tmp_path: Path) -> None:
    """A reviewer: a CSV half 1-based (its two PDR rows written 5), half 0-based, one NA, run
    with --ungradable leave_out --strict passed with "3 rows ... left out": the two PDR rows
    were dropped unseen. A 5 outside DeepDRiD's layout stays an error; the NA row alone is
    left out."""
    path = tmp_path / "labels.csv"
    grades = ["2", "3", "4", "5", "2", "3", "5", "4", "2", "3"] + ["0", "1", "2", "3", "4"] * 3 + ["NA"] + ["0"] * 4
    path.write_text("image,label\n" + "".join(f"img{i:02d}.png,{g}\n" for i, g in enumerate(grades)))
    table, problems = validate.read_labels(path, "image", "label", grade_names=GRADE_SCALES["icdr"],
                                           ungradable="leave_out")
    (said,) = errors(problems)
    assert "2 rows" in said.what and "5" in said.what, said.what
    assert table is not None and [row.name for row in table.left_out] == ["img25.png"]


def test_leave_out_keeps_refusing_a_stray_five_in_a_zero_to_four_csv(tmp_path: Path) -> None:
    _, problems = read(tmp_path, DDR_GRADES, ungradable="leave_out")
    (said,) = errors(problems)
    assert said.path.endswith(":7"), (said.path, said.what)
    assert said.fix.startswith("if grade 5 marks an image its graders found ungradable"), said.fix


def test_leave_out_keeps_refusing_a_five_in_aptos_columns(tmp_path: Path) -> None:
    """APTOS never writes 5: there it is a slip, never left out unseen."""
    _, problems = read(tmp_path, DDR_GRADES, ("id_code", "diagnosis"), ungradable="leave_out")
    (said,) = errors(problems)
    assert "DDR" not in said.fix


@pytest.mark.parametrize("name", ["Ungradable", "ungraded", "NA", "unknown", "Not gradable",
                                  # a reviewer: these passed the exact-word match
                                  "Ungradeable", "Ungradable image", "N.A.", "Not applicable"])
def test_a_grade_named_as_ungradable_is_refused(name: str) -> None:
    what, fix = grades_problem(["No DR", "Mild", "Moderate", "Severe", "PDR", name])
    assert what.startswith(f"names grade 5 {name!r}, which marks images that could not be graded"), what
    assert "data.grades=[icdr]" in fix and "data.ungradable=leave_out" in fix, fix


def test_none_stays_a_grade_zero_name() -> None:
    assert grades_problem(["None", "Mild", "Moderate", "Severe", "PDR"]) == ("", "")
    assert grades_problem(["No apparent retinopathy", "Mild NPDR", "Moderate NPDR", "Severe NPDR",
                           "Proliferative DR"]) == ("", "")


def test_the_ingest_says_the_refusal_in_its_flags() -> None:
    cfg = DataConfig(grades=["No DR", "Mild", "Moderate", "Severe", "PDR", "Ungradable"])
    with pytest.raises(IngestError) as raised:
        check_settings(cfg)
    message = str(raised.value)
    assert "names grade 5 'Ungradable'" in message and "--ungradable leave_out" in message, message


def test_ddrs_labels_on_the_default_scale_are_told_icdr_and_leave_out_first(tmp_path: Path) -> None:
    """DDR's labels (0..5) without --grades meet the plain folder's default, DRAC's 3 grades:
    "give 6 names" came first; now ICDR with the 5s left out does."""
    path = tmp_path / "labels.csv"
    path.write_text("image name,DR grade\n" + "".join(f"007-{i:04d}-000.jpg,{g}\n" for i, g in enumerate(DDR_GRADES)))
    _, problems = validate.read_labels(path, "image name", "DR grade", grade_names=GRADE_SCALES["drac"])
    (said,) = errors(problems)
    assert said.fix.startswith("if these are ICDR grades (0..4) whose 5 marks an image its graders found "
                               "ungradable (DeepDRiD's and DDR's label for one), pass --grades icdr, "
                               "write NA (or leave the cell empty) in the grade cells of the rows graded 5 "
                               "and rerun with --ungradable leave_out"), said.fix  # leave_out alone keeps a 5 an error
