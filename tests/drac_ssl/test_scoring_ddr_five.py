"""A DDR reviewer (F1): DDR's labelled test set writes 5 for an image its graders found
ungradable. ``export --score --labels test.csv`` (its ``test.txt`` made a CSV) said
``test.csv:4: grade 5 ... -> correct it to 0..4``; now the 5 is said as DeepDRiD's and DDR's
ungradable mark first, and ``--ungradable leave_out`` leaves those rows out, as the ingest
does."""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl import scoring

GRADES = [0, 1, 2, 5, 3, 4, 0, 1, 2, 3, 4, 0, 5]


def files(tmp_path: Path, header: str = "image name,DR grade") -> tuple[Path, Path]:
    cases = [f"007-{i:04d}-000.jpg" for i in range(len(GRADES))]
    labels = tmp_path / "test.csv"
    labels.write_text(f"{header}\n" + "".join(f"{c},{g}\n" for c, g in zip(cases, GRADES, strict=True)))
    sub = tmp_path / "team.csv"
    sub.write_text("case,class,P0,P1,P2,P3,P4\n" + "".join(
        f"{c},{min(g, 4)}," + ",".join("0.6" if k == min(g, 4) else "0.1" for k in range(5)) + "\n"
        for c, g in zip(cases, GRADES, strict=True)))
    return sub, labels


def test_ddrs_five_is_said_ungradable_not_corrected_to_a_grade(tmp_path: Path) -> None:
    sub, labels = files(tmp_path)
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20)
    text = str(caught.value)
    assert (f"{labels}: 2 rows have grade 5, outside 0..4, the submission's scale") in text, text
    assert ("-> if grade 5 marks an image its graders found ungradable (DeepDRiD's and DDR's label "
            "for one): delete those rows") in text, text
    assert "or write NA in their grade cells and rerun with --ungradable leave_out" in text, text


def test_leave_out_refuses_a_five_as_it_is_and_leaves_out_its_na(tmp_path: Path) -> None:
    """A stray 5 in a 0..4 CSV was dropped unseen by --ungradable leave_out; it stays an error,
    told to write NA, after which leave_out leaves the rows out."""
    sub, labels = files(tmp_path)
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20, ungradable="leave_out")
    assert "write NA in their grade cells and rerun with --ungradable leave_out" in str(caught.value)
    labels.write_text(labels.read_text().replace(",5\n", ",NA\n"))
    record = scoring.score(sub, labels, n_boot=20, ungradable="leave_out")
    assert record["n"] == len(GRADES) - 2 and record["left_out_ungradable"] == 2


def test_a_five_in_aptos_columns_gets_no_ungradable_reading(tmp_path: Path) -> None:
    sub, labels = files(tmp_path, "id_code,diagnosis")
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20, ungradable="leave_out")
    assert "DDR" not in str(caught.value)
