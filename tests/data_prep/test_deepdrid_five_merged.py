"""A Messidor-2 / DeepDRiD trial (F3): a flat DeepDRiD copy read as a plain folder, its eye
columns merged as docs/data.md said, kept DeepDRiD's ungradable grade 5, and was told "give 6
names in --grades": a sixth ICDR grade for ungradable photographs. Now the 5 is said as
DeepDRiD's ungradable label, the fix NA and ``--ungradable leave_out``
(data_prep.validate.layout_ungradable_fix); docs/data.md's merge maps 5 to NA, and a 5 so
merged is no row whose grade differs from its own eye's cell."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from data_prep import validate
from drac_ssl.config import GRADE_SCALES

HEADER = ("patient_id", "image_id", "left_eye_DR_Level", "right_eye_DR_Level", "grade")


def read(tmp_path: Path, rows: list[tuple[str, ...]], header: tuple[str, ...] = HEADER,
         ungradable: str = "error") -> list[validate.Problem]:
    path = tmp_path / "labels.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    _, problems = validate.read_labels(path, "image_id", "grade", grade_names=GRADE_SCALES["icdr"],
                                       ungradable=ungradable)
    return problems


def errors(problems: list[validate.Problem]) -> list[validate.Problem]:
    return [p for p in problems if p.severity == "error"]


def test_deepdrids_five_in_a_merged_column_is_told_ungradable_not_a_sixth_grade(tmp_path: Path) -> None:
    rows = [("1", "1_l1", "2", "", "2"), ("1", "1_r1", "", "5", "5"), ("2", "2_l1", "0", "", "0")]
    (said,) = errors(read(tmp_path, rows))
    assert said.fix.startswith("grade 5 is DeepDRiD's label for an image its graders found ungradable")
    assert "--ungradable leave_out" in said.fix and "6 names" not in said.fix


def test_a_five_on_icdr_without_the_eye_columns_gets_both_readings(tmp_path: Path) -> None:
    rows = [("a.png", "2"), ("b.png", "5"), ("c.png", "0"), ("d.png", "1")]
    (said,) = errors(read(tmp_path, rows, ("image_id", "grade")))
    assert said.fix.startswith("if grade 5 marks an image its graders found ungradable")
    assert "write NA (or leave the cell empty) in that row's grade cell" in said.fix
    assert said.fix.endswith("; else use 0 (No DR), 1 (Mild), 2 (Moderate), 3 (Severe) or 4 (PDR), "
                             "or, if the labels have 6 grades (0..5), give 6 names in --grades")


def test_the_docs_merge_of_five_to_na_is_left_out_without_a_per_eye_note(tmp_path: Path) -> None:
    rows = [("1", "1_l1", "2", "", "2"), ("1", "1_r1", "", "5", "NA"), ("2", "2_l1", "0", "", "0")]
    problems = read(tmp_path, rows, ungradable="leave_out")
    assert not errors(problems)
    assert not [p for p in problems if "own eye" in p.what], [p.what for p in problems]


def test_the_docs_merge_line_maps_five_to_na(tmp_path: Path) -> None:
    """docs/data.md's pandas line, run as written on a CSV with a 5, writes the empty cell the
    test above reads."""
    pd = pytest.importorskip("pandas")
    text = " ".join((Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text(encoding="utf-8").split())
    line = "t['grade'] = t.left_eye_DR_Level.fillna(t.right_eye_DR_Level).astype('Int64').replace(5, pd.NA)"
    assert f"`{line}`" in text
    t = pd.DataFrame({"left_eye_DR_Level": [2, None], "right_eye_DR_Level": [None, 5]})
    exec(line, {"pd": pd, "t": t})  # noqa: S102 - the documented line itself
    assert t.to_csv(index=False).splitlines()[1:] == ["2.0,,2", ",5.0,"]
