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


def test_one_to_four_left_beside_na_are_told_the_one_based_reading(tmp_path: Path) -> None:
    """A second reviewer (F3): labels 1..4 beside NA under --ungradable leave_out scored "1 label
    row without a true grade left out" with no word, where the ingest says they may be labels
    written 1..5 whose PDR was made NA, every true grade one too high: the same hint, a note."""
    grades = [1, 2, 3, 4] * 3 + ["NA"]  # not DDR's names (a DDR subset's NA is its ungradable 5)
    labels = tmp_path / "l14.csv"
    labels.write_text("image name,DR grade\n" + "".join(f"img{i}.jpg,{g}\n" for i, g in enumerate(grades)))
    sub = tmp_path / "T2.csv"
    sub.write_text("case,class,P0,P1,P2,P3,P4\n" + "".join(
        f"img{i}.jpg,{i % 5}," + ",".join("0.6" if k == i % 5 else "0.1" for k in range(5)) + "\n"
        for i in range(len(grades))))
    record = scoring.score(sub, labels, n_boot=20, ungradable="leave_out")
    (said,) = [n for n in record["label_notes"] if "no row left is graded 0" in n]
    assert ("1 row was left out as ungradable (e.g. line 14, img12.jpg) and no row left is "
            "graded 0: the grades left run 1..4, as labels written 1-based") in said, said
    assert "put 5 back in their DR grade cells, then subtract 1 from the DR grade column" in said, said
    assert "if they are 0-based" in said and "nothing to do (the set holds no No DR image" in said, said
