"""A CLI review (F3): the export's ``--grades K`` refused the comma list of names the ingest's
``--grades`` takes ("'Normal,NPDR,PDR' is no number of grades"), and the ingest's ``--grades 3``
was read as one grade named '3' ("grading needs at least 2") with no word of a count. The export
now counts the names; the ingest asks whether a count was meant and offers the scale of that
size."""

from __future__ import annotations

from pathlib import Path

import pytest

import data_prep.__main__ as data_prep_main
from drac_ssl.commands import export_parser
from drac_ssl.config import grades_problem


def test_the_export_counts_a_list_of_grade_names() -> None:
    args = export_parser().parse_args(["--check", "s.csv", "--grades", "No DR,Mild,Moderate,Severe,PDR"])
    assert args.grades == 5
    assert export_parser().parse_args(["--check", "s.csv", "--grades", "[Normal, NPDR, PDR]"]).grades == 3


def test_a_bare_number_given_as_the_grade_names_is_asked_about(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    what, fix = grades_problem(["5"])
    assert "a count of grades?" in what and fix.startswith("data.grades=[icdr] (No DR, Mild,"), (what, fix)
    what, fix = grades_problem(["4"])  # no scale of 4 grades: list them, or the scales
    assert fix.startswith("list the 4 grade names in order") and "drac (Normal, NPDR, PDR)" in fix, fix
    assert "e.g. data.grades=[G0, G1, G2, G3]" in fix, fix  # 4 names, not 3 (a review F5)
    (tmp_path / "root").mkdir()
    assert data_prep_main.main(["ingest", "--root", str(tmp_path / "root"), "--out", str(tmp_path / "o"),
                                "--grades", "3"]) == 2
    err = capsys.readouterr().err
    assert "a count of grades?" in err and '--grades "drac" (Normal, NPDR, PDR)' in err, err
