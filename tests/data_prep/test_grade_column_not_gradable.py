"""A Messidor-2 trial (F1): a mistyped grade-column setting was offered another column
(``data.label_column`` -> ``data.image_column``, ``data.label`` -> ``data.unlabelled``), and a CSV
without the grade column was offered ``adjudicated_gradable`` as its grade column, which then
ingested with every ungradable photograph graded 0. Now the grade column's other names are
offered ``data.grade_column`` (drac_ssl.config.SETTING_SYNONYMS), Messidor-2's gradable and DME
columns are never offered as the grade column, and given as it they are one error naming the
column of DR grades (data_prep.labels.NOT_GRADE_COLUMNS)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from data_prep import validate
from data_prep.labels import NOT_GRADE_COLUMNS, column_suggestion, read_table
from data_prep.layout import GRADABLE_COLUMNS
from drac_ssl.config import GRADE_SCALES, UnknownSettingError, load_config

HEADER = ("image_id", "adjudicated_dr_grade", "adjudicated_dme", "adjudicated_gradable")
ROWS = [("a.png", "2", "0", "1"), ("b.png", "", "0", "0"), ("c.png", "0", "1", "1")]


def write(tmp_path: Path, header: tuple[str, ...] = HEADER) -> Path:
    keep = [HEADER.index(c) for c in header]
    path = tmp_path / "messidor_data.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *([r[i] for i in keep] for r in ROWS)])
    return path


@pytest.mark.parametrize("typed", ["label", "label_column", "labels", "diagnosis",
                                   "diagnosis_column", "level", "dr_grade", "grade"])
def test_the_grade_columns_other_names_are_offered_data_grade_column(typed: str) -> None:
    with pytest.raises(UnknownSettingError) as caught:
        load_config("fundus", [f"data.{typed}=adjudicated_dr_grade"])
    assert "Did you mean 'data.grade_column'?" in str(caught.value)
    assert "fix: data.grade_column=adjudicated_dr_grade" in str(caught.value)


def test_data_grade_given_a_scale_is_offered_data_grades() -> None:
    with pytest.raises(UnknownSettingError, match="Did you mean 'data.grades'"):
        load_config("fundus", ["data.grade=icdr"])


def test_the_gradable_and_dme_columns_are_never_offered_as_the_grade_column(tmp_path: Path) -> None:
    assert set(GRADABLE_COLUMNS.values()) <= set(NOT_GRADE_COLUMNS)
    table, _ = read_table(write(tmp_path, ("image_id", "adjudicated_dme", "adjudicated_gradable")))
    assert table is not None
    assert column_suggestion(table, "DR grade", "grade", ["image_id"]) is None
    assert column_suggestion(table, "adjudicated_grade", "grade", ["image_id"]) is None


@pytest.mark.parametrize("column", ["adjudicated_gradable", "adjudicated_dme"])
def test_a_gradable_column_given_as_the_grade_column_is_an_error_naming_the_grade(
        tmp_path: Path, column: str) -> None:
    table, problems = validate.read_labels(write(tmp_path), "image_id", column,
                                           grade_names=GRADE_SCALES["icdr"])
    assert table is None
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1 and f"the grade column {column!r}" in errors[0].what
    assert "--grade-column 'adjudicated_dr_grade'" in errors[0].fix


def test_the_scorer_refuses_the_gradable_column_as_the_true_grade(tmp_path: Path) -> None:
    """``export --score --grade-column adjudicated_gradable`` would score against gradability."""
    from drac_ssl import scoring

    with pytest.raises(scoring.ScoreError, match="the grade column 'adjudicated_gradable' says whether") as caught:
        scoring.read_grade_labels(write(tmp_path), GRADE_SCALES["icdr"], grade_column="adjudicated_gradable")
    assert "--grade-column 'adjudicated_dr_grade'" in str(caught.value)
