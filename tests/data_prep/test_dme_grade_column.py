"""A Messidor-2 review (F3): ``adjudicated_dme`` given as the grade column was refused whatever
the scale, blocking a legitimate two-grade DME classifier (``--grade-column adjudicated_dme
--grades "[no DME, DME]"``), while IDRiD's ``Risk of macular edema`` was read on any scale. A
DME column is now refused only on a DR scale (ICDR, DRAC) or a scale of another number of
grades than its own (data_prep.labels.refused_grade_column), with a message that speaks of DME
and says how to grade it; ``adjudicated_gradable`` stays refused."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from data_prep import validate
from drac_ssl import scoring
from drac_ssl.config import GRADE_SCALES

HEADER = ("image_id", "adjudicated_dr_grade", "adjudicated_dme", "adjudicated_gradable")
ROWS = [("a.png", "2", "0", "1"), ("b.png", "0", "0", "1"), ("c.png", "0", "1", "1")]


def write(tmp_path: Path, header=HEADER, rows=ROWS) -> Path:
    path = tmp_path / "labels.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def errors(path: Path, column: str, grade_names) -> list[validate.Problem]:
    _, problems = validate.read_labels(path, header_image(path), column, grade_names=grade_names)
    return [p for p in problems if p.severity == "error"]


def header_image(path: Path) -> str:
    return path.read_text(encoding="utf-8").split(",", 1)[0]


def test_a_two_grade_dme_classifier_reads_adjudicated_dme(tmp_path: Path) -> None:
    table, problems = validate.read_labels(write(tmp_path), "image_id", "adjudicated_dme",
                                           grade_names=("no DME", "DME"))
    assert not [p for p in problems if p.severity == "error"], problems
    assert table is not None and [r.grade for r in table.rows] == [0, 0, 1]


@pytest.mark.parametrize("scale", [GRADE_SCALES["icdr"], GRADE_SCALES["drac"], ("a", "b", "c", "d")])
def test_adjudicated_dme_on_a_dr_scale_is_told_how_to_grade_dme(tmp_path: Path, scale) -> None:
    (said,) = errors(write(tmp_path), "adjudicated_dme", scale)
    assert "diabetic macular oedema (DME, 2 grades, 0..1)" in said.what
    assert "DR grade" not in said.what
    assert said.fix.startswith("to grade DR, pass the column of DR grades, --grade-column 'adjudicated_dr_grade'")
    assert said.fix.endswith('to grade DME instead, keep --grade-column adjudicated_dme and give its 2 '
                             'grades, --grades "[no DME, DME]"')


def test_idrids_risk_of_macular_edema_is_refused_on_a_dr_scale_and_read_on_its_own(tmp_path: Path) -> None:
    header = ("Image name", "Retinopathy grade", "Risk of macular edema ")
    rows = [("IDRiD_001", "2", "1"), ("IDRiD_002", "0", "0"), ("IDRiD_003", "4", "2")]
    path = write(tmp_path, header, rows)
    (said,) = errors(path, "Risk of macular edema", GRADE_SCALES["drac"])
    assert "(DME, 3 grades, 0..2), which --grades drac does not grade" in said.what
    assert "--grade-column 'Retinopathy grade'" in said.fix
    assert "keep --grade-column 'Risk of macular edema' and give its 3 grades" in said.fix
    assert not errors(path, "Risk of macular edema", ("no risk", "risk 1", "risk 2"))


def test_the_gradable_column_stays_refused_on_two_grades(tmp_path: Path) -> None:
    (said,) = errors(write(tmp_path), "adjudicated_gradable", ("ungradable", "gradable"))
    assert "says whether each image is gradable (1) or not (0)" in said.what
    assert said.fix.startswith("pass the column of DR grades, --grade-column 'adjudicated_dr_grade'")


def test_the_scorer_scores_a_dme_classifier_against_adjudicated_dme(tmp_path: Path) -> None:
    labels = scoring.read_grade_labels(write(tmp_path), ("no DME", "DME"), grade_column="adjudicated_dme")
    assert labels.grades == [0, 0, 1] and labels.grade_column == "adjudicated_dme"
    with pytest.raises(scoring.ScoreError, match="to grade DME instead"):
        scoring.read_grade_labels(write(tmp_path), GRADE_SCALES["icdr"], grade_column="adjudicated_dme")
