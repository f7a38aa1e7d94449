"""Scoring against a label CSV with a gradable column (Messidor-2's ``adjudicated_gradable``,
review s57r2 F2): the ingest refuses or leaves out a row marked 0 whatever its grade cell holds;
the scorer read no such column, so a graded row the graders found ungradable was scored
without a word. It is refused now, as DeepDRiD's grade 5 is."""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl import scoring
from drac_ssl.config import SCORED_LAYOUTS

HEADER = "image_id,adjudicated_dr_grade,adjudicated_dme,adjudicated_gradable\n"


def messidor_csv(path: Path, marks: dict[int, str]) -> tuple[Path, list[str], list[int]]:
    """A Messidor-2 style label CSV of 10 images graded ``i % 5``, adjudicated_gradable 1
    except ``marks`` (row -> cell)."""
    cases = [f"2005_{i:03d}.png" for i in range(10)]
    grades = [i % 5 for i in range(10)]
    path.write_text(HEADER + "".join(f"{c},{g},0,{marks.get(i, '1')}\n"
                                     for i, (c, g) in enumerate(zip(cases, grades, strict=True))))
    return path, cases, grades


def submission(path: Path, cases: list[str], classes: list[int]) -> Path:
    path.write_text("case,class,P0,P1,P2,P3,P4\n" + "".join(
        f"{c},{g}," + ",".join("0.6" if k == g else "0.1" for k in range(5)) + "\n"
        for c, g in zip(cases, classes, strict=True)))
    return path


def test_messidor2_columns_are_read_without_flags(tmp_path: Path) -> None:
    """``export --score --labels messidor_data.csv``: image_id and adjudicated_dr_grade found
    by themselves (SCORED_LAYOUTS), as the ingest's layout reads them."""
    assert "messidor2" in SCORED_LAYOUTS
    labels, cases, grades = messidor_csv(tmp_path / "messidor_data.csv", {})
    record = scoring.score(submission(tmp_path / "team.csv", cases, grades), labels, n_boot=20)
    assert record["accuracy"] == 1.0
    assert record["label_columns"]["grade"] == "adjudicated_dr_grade" and record["label_layout"] == "messidor2"


def test_a_graded_row_marked_ungradable_is_refused_as_the_ingest_refuses_it(tmp_path: Path) -> None:
    labels, cases, grades = messidor_csv(tmp_path / "messidor_data.csv", {3: "0", 6: "0"})
    sub = submission(tmp_path / "team.csv", cases, grades)
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20)
    text = str(caught.value)
    assert (f"{labels}: 2 rows are marked ungradable (adjudicated_gradable 0), e.g. line 5 "
            "(2005_003.png) and line 8 (2005_006.png); 2 of them have a grade beside the mark") in text, text
    assert ("delete those rows and the submission's rows of their images: an image its graders "
            "found ungradable has no true grade to score against; or, if the grade holds, set its "
            "adjudicated_gradable to 1") in text, text
    # the scorer's own way out (a Messidor-2 trial, F3), never the ingest's words
    assert "or --ungradable leave_out leaves out every label row without a true grade" in text, text
    # those rows deleted: scored
    kept = [i for i in range(10) if i not in (3, 6)]
    labels.write_text(HEADER + "".join(f"{cases[i]},{grades[i]},0,1\n" for i in kept))
    sub = submission(tmp_path / "kept.csv", [cases[i] for i in kept], [grades[i] for i in kept])
    assert scoring.score(sub, labels, n_boot=20)["accuracy"] == 1.0


def test_a_gradable_cell_neither_1_nor_0_is_an_error(tmp_path: Path) -> None:
    labels, cases, grades = messidor_csv(tmp_path / "messidor_data.csv", {2: "yes"})
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(submission(tmp_path / "team.csv", cases, grades), labels, n_boot=20)
    assert (f"{labels}:4: adjudicated_gradable 'yes' of 2005_002.png is neither 1 (gradable) nor 0 "
            "(ungradable)") in str(caught.value), str(caught.value)


def test_a_gradable_column_is_read_beside_columns_named_by_hand(tmp_path: Path) -> None:
    """Any CSV with the column, as the ingest reads it wherever a label CSV has it."""
    labels = tmp_path / "labels.csv"
    labels.write_text("name,dr,adjudicated_gradable\n" + "".join(
        f"{i}.png,{i % 5},{0 if i == 1 else 1}\n" for i in range(10)))
    sub = submission(tmp_path / "team.csv", [f"{i}.png" for i in range(10)], [i % 5 for i in range(10)])
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, image_column="name", grade_column="dr", n_boot=20)
    assert "1.png is marked ungradable (adjudicated_gradable 0), although its grade cell holds '1'" \
        in str(caught.value), str(caught.value)


@pytest.mark.parametrize("cell", ["NA", "nan", ""])
def test_an_na_gradable_cell_says_nothing_as_an_empty_one(tmp_path: Path, cell: str) -> None:
    """Review s57r2 F9: an NA / nan mark (pandas writes a missing value so) was an error while
    an empty one was ignored; both say nothing now, in the scorer as in the ingest."""
    labels, cases, grades = messidor_csv(tmp_path / "messidor_data.csv", {2: cell, 7: cell})
    record = scoring.score(submission(tmp_path / "team.csv", cases, grades), labels, n_boot=20)
    assert record["accuracy"] == 1.0 and record["n"] == 10, record
