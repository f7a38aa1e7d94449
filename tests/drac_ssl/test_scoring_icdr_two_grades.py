"""``export --score`` of a two-grade (referable DR) submission against ICDR labels, and
``--ungradable leave_out`` (a Messidor-2 trial, F2 and F3).

A K=2 bundle scored against Messidor-2's ``adjudicated_dr_grade`` read ICDR grade 1 (mild) as
grade 1 (referable) without a word when the held-out rows held only 0 and 1; with a 4 among
them only the 4-rows were refused. Such a column is refused now, naming
``--labels-referable-from N``, which maps grade >= N to 1 and says how many rows became what.
A label row without a true grade (adjudicated_gradable 0, an empty cell) had to be deleted by
hand from both files; ``--ungradable leave_out`` leaves it and its image's submission row out,
as the ingest's option does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drac_ssl import scoring
from drac_ssl.export import main as export_main

HEADER = "image_id,adjudicated_dr_grade,adjudicated_dme,adjudicated_gradable,referable\n"


def messidor_csv(path: Path, grades: list[str], gradable: dict[int, str] | None = None) -> tuple[Path, list[str]]:
    """A Messidor-2 style label CSV, one row per grade cell of ``grades`` (a ``referable``
    column beside it: grade >= 2), adjudicated_gradable 1 except ``gradable``."""
    gradable = gradable or {}
    cases = [f"IM{i:04d}.JPG" for i in range(len(grades))]
    path.write_text(HEADER + "".join(
        f"{c},{g},0,{gradable.get(i, '1')},{int(g.strip() != '' and int(g) >= 2) if g.strip() else ''}\n"
        for i, (c, g) in enumerate(zip(cases, grades, strict=True))), encoding="utf-8")
    return path, cases


def binary_submission(path: Path, cases: list[str], p1: list[float], cut: float = 0.5) -> Path:
    path.write_text("case,class,P0,P1\n" + "".join(
        f"{c},{int(p >= cut)},{1 - p:.6f},{p:.6f}\n" for c, p in zip(cases, p1, strict=True)))
    return path


def test_a_two_grade_submission_is_refused_against_an_icdr_column_of_zeros_and_ones(tmp_path: Path) -> None:
    """The trial's heldout_icdr01b.csv: ICDR grades 0 and 1 only, which the old scorer read as
    non-referable / referable without a word."""
    labels, cases = messidor_csv(tmp_path / "heldout.csv", ["1", "0", "0", "0", "1", "1"])
    sub = binary_submission(tmp_path / "grades.csv", cases, [0.9, 0.1, 0.2, 0.1, 0.8, 0.7])
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20)
    text = str(caught.value)
    assert "'adjudicated_dr_grade'" in text and "Messidor-2's ICDR grade column" in text, text
    assert "the rows hold only 0 and 1, so nothing was scored" in text, text
    # Final read F5: N = 1 first, since N = 2 on rows of 0/1 only is refused in turn
    assert "add --labels-referable-from 1 if they are the model's two grades" in text, text
    assert "--labels-referable-from 2" not in text and "--grade-column NAME" in text, text
    with pytest.raises(scoring.ScoreError, match="holds only 0/1"):
        scoring.score(sub, labels, n_boot=20, labels_referable_from=2)
    assert scoring.score(sub, labels, n_boot=20, labels_referable_from=1)["accuracy"] == 1.0


def test_an_icdr_column_with_higher_grades_names_n_two(tmp_path: Path) -> None:
    labels, cases = messidor_csv(tmp_path / "heldout.csv", ["1", "0", "2", "0", "4", "1"])
    sub = binary_submission(tmp_path / "grades.csv", cases, [0.9, 0.1, 0.2, 0.1, 0.8, 0.7])
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20)
    text = str(caught.value)
    assert "Messidor-2's ICDR grades" in text and "ICDR grade 1 (Mild) would be scored as grade 1" in text, text
    assert "add --labels-referable-from 2" in text and "--grade-column NAME" in text, text


@pytest.mark.parametrize(("header", "layout"), [("id_code,diagnosis", "APTOS"), ("image,level", "EyePACS"),
                                                ("Image name,Retinopathy grade", "IDRiD")])
def test_every_known_icdr_column_is_refused_against_two_grades(tmp_path: Path, header: str, layout: str) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(header + "\n" + "".join(f"{i}.png,{i % 2}\n" for i in range(6)))
    sub = binary_submission(tmp_path / "team.csv", [f"{i}.png" for i in range(6)], [0.2, 0.8] * 3)
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20)
    assert f"{layout}'s ICDR grade column" in str(caught.value), str(caught.value)


def test_labels_referable_from_maps_icdr_grades_and_says_how_many(tmp_path: Path) -> None:
    """The trial's heldout_labels.csv (0, 1 and 4): 4 -> 1, 0 and 1 -> 0, then scored."""
    labels, cases = messidor_csv(tmp_path / "heldout.csv", ["4", "0", "0", "0", "4", "1", "2", "3"])
    truth = [1, 0, 0, 0, 1, 0, 1, 1]
    sub = binary_submission(tmp_path / "grades.csv", cases, [0.9, 0.1, 0.2, 0.1, 0.8, 0.3, 0.6, 0.7])
    record = scoring.score(sub, labels, n_boot=20, labels_referable_from=2)
    assert record["accuracy"] == 1.0 and record["confusion"] == [[4, 0], [0, 4]], record
    assert record["labels_mapped"]["rows_per_grade"] == {"0": 3, "1": 1, "2": 1, "3": 1, "4": 2}
    assert record["labels_mapped"]["rows_per_class"] == {"0": 4, "1": 4}
    assert record["label_notes"][0].startswith("8 label rows read as ICDR grades and mapped to the submission's "
                                               "two grades (--labels-referable-from 2): ICDR grade >= 2 -> 1"), \
        record["label_notes"]
    # the cut is the user's: from 3, the grade-2 image is grade 0 and the model's 0.6 a false referral
    record = scoring.score(sub, labels, n_boot=20, labels_referable_from=3)
    assert record["confusion"] == [[4, 1], [0, 3]] and sum(truth) == 4, record


def test_labels_referable_from_names_its_limits(tmp_path: Path) -> None:
    labels, cases = messidor_csv(tmp_path / "heldout.csv", ["4", "0", "1", "2"])
    sub = binary_submission(tmp_path / "grades.csv", cases, [0.9, 0.1, 0.2, 0.6])
    with pytest.raises(scoring.ScoreError, match=r"must be an ICDR grade 1\.\.4"):
        scoring.score(sub, labels, n_boot=20, labels_referable_from=5)
    three = tmp_path / "three.csv"
    three.write_text("case,class,P0,P1,P2\n" + "".join(f"{c},0,0.8,0.1,0.1\n" for c in cases))
    with pytest.raises(scoring.ScoreError, match="maps ICDR labels to two grades"):
        scoring.score(three, labels, n_boot=20, labels_referable_from=2)


def test_the_refusal_suggests_the_cut_the_model_was_trained_with(tmp_path: Path) -> None:
    labels, cases = messidor_csv(tmp_path / "heldout.csv", ["4", "0", "1", "3"])
    sub = binary_submission(tmp_path / "grades.csv", cases, [0.9, 0.1, 0.2, 0.6])
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20, trained_referable_from=3, run_given=True)
    text = str(caught.value)
    assert "add --labels-referable-from 3" in text and "data.referable_from=3" in text, text
    assert "only a suggestion" not in text, text


def test_the_cut_of_a_run_that_did_not_grade_is_said_to_be_only_a_suggestion(tmp_path: Path) -> None:
    """``export RUN --score`` where the notes file names another bundle than RUN's: RUN's
    ``data.referable_from`` is not the grading model's, so the refusal says N is RUN's and only
    a suggestion (it was stated as the model's training cut)."""
    labels, cases = messidor_csv(tmp_path / "heldout.csv", ["4", "0", "1", "3"])
    sub = binary_submission(tmp_path / "grades.csv", cases, [0.9, 0.1, 0.2, 0.6])
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20, trained_referable_from=3, run_given=True,
                      run_not_grader="RUN's bundle runs/x/bundle is not the one that graded")
    text = str(caught.value)
    assert "add --labels-referable-from 3" in text, text
    assert "RUN's bundle did not grade this submission" in text and "3 is only a suggestion" in text, text


def test_a_zero_one_column_beside_it_is_scored_and_wider_plain_labels_name_the_option(tmp_path: Path) -> None:
    labels, cases = messidor_csv(tmp_path / "heldout.csv", ["4", "0", "1", "3"])
    sub = binary_submission(tmp_path / "grades.csv", cases, [0.9, 0.1, 0.2, 0.6])
    assert scoring.score(sub, labels, n_boot=20, grade_column="referable")["accuracy"] == 1.0
    plain = tmp_path / "plain.csv"  # no known column: grades beyond 0/1 are an error naming the option
    plain.write_text("image,dr\n" + "".join(f"{c},{g}\n" for c, g in zip(cases, [4, 0, 1, 3, ], strict=True)))
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, plain, image_column="image", grade_column="dr", n_boot=20)
    assert "--labels-referable-from 2" in str(caught.value), str(caught.value)


def test_ungradable_leave_out_leaves_the_rows_and_their_images_out(tmp_path: Path) -> None:
    """The trial's heldout_icdr01.csv: one image marked adjudicated_gradable 0; and an empty
    cell, and an ungradable row whose image the submission does not grade."""
    labels, cases = messidor_csv(tmp_path / "heldout.csv", ["4", "0", "0", "", "4", "1", "2"], {4: "0", 6: "0"})
    sub = binary_submission(tmp_path / "grades.csv", cases[:6], [0.9, 0.1, 0.2, 0.5, 0.1, 0.3])
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20, labels_referable_from=2)
    assert "or --ungradable leave_out leaves out every label row without a true grade" in str(caught.value)
    record = scoring.score(sub, labels, n_boot=20, labels_referable_from=2, ungradable="leave_out")
    assert record["n"] == 4 and record["left_out_ungradable"] == 3, record
    assert record["accuracy"] == 1.0, record  # the 0.1 given to the grade-4 image marked ungradable is not scored
    said = " ".join(record["label_notes"])
    assert "3 rows without a true grade" in said and "heldout.csv:5 IM0003.JPG" in said, said
    # a graded row and an ungradable row of one image: which is right?
    labels.write_text(labels.read_text(encoding="utf-8") + "IM0003.JPG,2,0,1,1\n", encoding="utf-8")
    with pytest.raises(scoring.ScoreError, match="has no true grade here"):
        scoring.score(sub, labels, n_boot=20, labels_referable_from=2, ungradable="leave_out")


def test_the_command_takes_both_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels, cases = messidor_csv(tmp_path / "heldout.csv", ["4", "0", "0", "0", "4", "1"], {4: "0"})
    sub = binary_submission(tmp_path / "grades.csv", cases, [0.9, 0.1, 0.2, 0.1, 0.8, 0.3])
    assert export_main(["--score", str(sub), "--labels", str(labels)]) == 2
    assert "--labels-referable-from 2" in capsys.readouterr().err
    out = tmp_path / "score.json"
    assert export_main(["--score", str(sub), "--labels", str(labels), "--labels-referable-from", "2",
                        "--ungradable", "leave_out", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert "5 cases, 2 grades" in captured.out and "1 label row without a true grade left out" in captured.out
    assert "ICDR grades mapped to two: grade >= 2 -> 1, else 0 (--labels-referable-from 2)" in captured.out, \
        captured.out
    assert "note: 5 label rows read as ICDR grades" in captured.err, captured.err
    record = json.loads(out.read_text())
    assert record["labels_mapped"]["referable_from"] == 2 and record["left_out_ungradable"] == 1
    assert export_main(["--labels-referable-from", "2"]) == 2  # a --score option alone


def test_a_column_of_zeros_and_ones_is_not_mapped_to_all_grade_zero(tmp_path: Path) -> None:
    """Review F1: ``--labels-referable-from 2`` on a column already of 0/1 labels made every row
    grade 0 without a word; it stops now, naming the two ways out."""
    labels, cases = messidor_csv(tmp_path / "heldout.csv", ["4", "0", "1", "3"])
    sub = binary_submission(tmp_path / "grades.csv", cases, [0.9, 0.1, 0.2, 0.6])
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20, grade_column="referable", labels_referable_from=2)
    text = str(caught.value)
    assert "column 'referable' holds only 0/1 (4 rows): already two grades?" in text, text
    assert "drop --labels-referable-from" in text and "--labels-referable-from 1 (keeps them as they are)" in text
    with pytest.raises(scoring.ScoreError, match=r"no row of column 'adjudicated_dr_grade' is ICDR grade >= 4 "
                                                 r"\(the highest read is 3\)"):
        scoring.score(sub, messidor_csv(tmp_path / "low.csv", ["3", "0", "1", "2"])[0], n_boot=20,
                      labels_referable_from=4)
    # N = 1 keeps 0/1 as they are
    record = scoring.score(sub, labels, n_boot=20, grade_column="referable", labels_referable_from=1)
    assert record["accuracy"] == 1.0, record


def test_the_refusal_reads_n_one_as_a_column_already_of_zeros_and_ones(tmp_path: Path) -> None:
    """Review F7: the refusal also catches one's own 0/1 kept in a known ICDR column: N = 1 is
    said as the way to keep them."""
    labels, cases = messidor_csv(tmp_path / "heldout.csv", ["1", "0", "0", "1"])
    sub = binary_submission(tmp_path / "grades.csv", cases, [0.9, 0.1, 0.2, 0.8])
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20)
    assert ("add --labels-referable-from 1 if they are the model's two grades, your own 0/1 (keeps them as "
            "they are)") in str(caught.value), str(caught.value)
    labels, cases = messidor_csv(tmp_path / "high.csv", ["1", "0", "3", "1"])
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(binary_submission(tmp_path / "g2.csv", cases, [0.9, 0.1, 0.2, 0.8]), labels, n_boot=20)
    assert ("--labels-referable-from 1: the column 'adjudicated_dr_grade' already holds 0/1 of your own, the "
            "model's two grades (keeps them as they are)") in str(caught.value), str(caught.value)
