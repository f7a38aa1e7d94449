"""Grade cells a spreadsheet export writes (a clinic data manager's finding F4): Excel's error
values (``#N/A``, German ``#NV``) are no-grade cells as ``nan`` is; ``1_0`` and ``0_2`` are no
numbers (Python's ``float`` read them as 10 and 2); a misspelt grade name keeps its hint when
``--grades`` is given beside words of no scale."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_prep import validate
from data_prep.labels import parse_grade

ICDR = ("No DR", "Mild", "Moderate", "Severe", "PDR")


@pytest.mark.parametrize("cell, grade", [("2", 2), (" 2 ", 2), ("2.0", 2), ("2,0", 2), ("+3", 3),
                                         ("2.", 2), ('"1"', 1), ("1_0", None), ("0_2", None),
                                         ("2.00E+00", 2), ("1e1", 10), ("inf", None), ("nan", None), ("٣", None),
                                         ("2.5", None), ("1,0,0", None), ("1 0", None)])
def test_only_plain_numerals_are_grades(cell: str, grade: int | None) -> None:
    assert parse_grade(cell) == grade


@pytest.mark.parametrize("cell", ["#N/A", "#NV", "#VALUE!", "#REF!", "#DIV/0!", "#NAME?", " #n/a "])
def test_spreadsheet_error_values_are_no_grade_cells(cell: str) -> None:
    assert validate.is_ungraded(cell)


def read(tmp_path: Path, cells: list[str], **options: object) -> tuple[validate.LabelTable | None, list]:
    csv_path = tmp_path / "labels.csv"
    rows = [f"e{i:02d}.jpg;{cell}" for i, cell in enumerate(cells)]
    csv_path.write_text("\n".join(["image name;DR grade", *rows]) + "\n", encoding="utf-8")
    return validate.read_labels(csv_path, "image name", "DR grade", "", ICDR, **options)  # type: ignore[arg-type]


def test_error_values_get_the_nan_cell_s_fix_and_odd_numerals_are_quoted(tmp_path: Path) -> None:
    table, problems = read(tmp_path, ["0", "1", "2", "3", "4", "#N/A", "nan", "1_0", "0_2"],
                           scale_given=True)
    by_line = {p.path.rsplit(":", 1)[1]: p for p in problems if p.severity == "error"}
    assert set(by_line) == {"7", "8", "9", "10"}, problems
    assert by_line["7"].what == "e05.jpg has no grade ('#N/A', a spreadsheet error value; an ungradable image?)"
    assert by_line["7"].fix == by_line["8"].fix and "--ungradable leave_out" in by_line["7"].fix
    assert by_line["9"].what.startswith("grade '1_0' of e07.jpg is not a plain whole number")
    assert by_line["10"].what.startswith("grade '0_2' of e08.jpg is not a plain whole number")
    assert "outside" not in " ".join(p.what for p in problems)  # '1_0' is not grade 10
    left, _ = read(tmp_path, ["0", "1", "#NV", "#VALUE!"], ungradable="leave_out")
    assert left is not None and [r.written for r in left.left_out] == ["#NV", "#VALUE!"]


def test_with_a_scale_given_a_misspelling_keeps_its_hint_beside_other_words(tmp_path: Path) -> None:
    _, problems = read(tmp_path, ["0", "1", "2", "Sever", "Referable", "4"], scale_given=True)
    sever = next(p for p in problems if "'Sever'" in p.what)
    assert sever.fix.startswith("a misspelt grade name? 'Sever' for 'Severe' (grade 3)"), sever.fix
    other = next(p for p in problems if "'Referable'" in p.what)
    assert "'Sever'" not in other.fix and "NAME0" not in sever.fix


def test_a_grade_spelt_otherwise_is_quoted_as_written(tmp_path: Path) -> None:
    """Review F5: ``1e1`` is read as 10, but 'grade 10' is found nowhere in the CSV: the
    message quotes the cell, and says what it was read as; one row or several."""
    _, problems = read(tmp_path, ["0", "1", "2", "3", "4", "1e1"], scale_given=True)
    (outside,) = [p for p in problems if p.severity == "error"]
    assert outside.what.startswith("grade '1e1' (read as 10) of e05.jpg is outside {0, 1, 2, 3, 4}"), outside.what
    _, problems = read(tmp_path, ["0", "1", "2", "3", "4", "1e1", "7"], scale_given=True)
    (outside,) = [p for p in problems if p.severity == "error"]
    assert "line 7 (e05.jpg, grade '1e1' (read as 10)) and line 8 (e06.jpg, grade 7)" in outside.what, outside.what


@pytest.mark.parametrize("scale_given", [True, False])
@pytest.mark.parametrize("cell", ["inf", "-Infinity", "¹"])
def test_a_number_in_another_spelling_gets_the_plain_number_message(tmp_path: Path, cell: str,
                                                                   scale_given: bool) -> None:
    """Review F5: ``inf`` and a superscript ``¹`` were taken for grade words, whose fix said
    'pass --grades', even when --grades was given."""
    _, problems = read(tmp_path, ["0", "1", "2", "3", "4", cell], scale_given=scale_given)
    (bad,) = [p for p in problems if p.severity == "error"]
    assert bad.what.startswith(f"grade {cell!r} of e05.jpg is not a plain whole number"), bad.what
    assert bad.fix.startswith("write the grade as a plain number") and "--grades" not in bad.fix, bad.fix
