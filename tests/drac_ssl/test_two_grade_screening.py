"""A two-grade set (grade 1 referable) gets what a referable cut gives on more grades: the
export's ``_referable.csv`` (one rule with the app, :func:`drac_ssl.grading.bundle.referable_cut_of`)
and, per image, P(grade 1) against the referral threshold in the grade's note
(:func:`drac_ssl.grading.image_notes.decision_words`), where it said "the single most likely
grade is 1 referable (P 0.51); the model's overall score ... falls in the 0 non-referable range"
(an OCTA researcher's findings)."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from drac_ssl import export
from drac_ssl.grading.bundle import referable_cut_of
from drac_ssl.grading.image_notes import decision_words
from drac_ssl.submission import REFERABLE_COLUMNS, write_submission

TWO = ["non-referable", "referable"]


@pytest.mark.parametrize(("probs", "grade", "words"), [
    ([0.491, 0.509], 0, "P(referable) 0.509 is below the referral threshold 0.512, so the grade shown is "
                        "0 non-referable"),
    ([0.505, 0.495], 1, "P(referable) 0.495 is at or above the referral threshold 0.470, so the grade shown "
                        "is 1 referable"),
])
def test_the_note_of_two_grades_says_p_referable_against_the_threshold(
        probs: list[float], grade: int, words: str) -> None:
    threshold = 0.512 if grade == 0 else 0.47
    said = decision_words(probs, grade, TWO, "thresholds", thresholds=[threshold])
    assert said == f"{words} (the threshold was tuned on the out-of-fold outputs and need not be 0.5)."
    assert "most likely" not in said and "range" not in said
    # figures that print alike at 3 decimals get another
    assert "0.5118 is below the referral threshold 0.5120" in decision_words(
        [0.4882, 0.5118], 0, TWO, "thresholds", thresholds=[0.512])
    # the grade that is also the most probable: nothing to say, as before
    assert decision_words([0.3, 0.7], 1, TWO, "thresholds", thresholds=[0.512]) == ""
    assert decision_words(probs, grade, TWO, "argmax", thresholds=[threshold]) == ""
    # a regression head's threshold cuts its score, not P1: the former words
    assert decision_words(probs, grade, TWO, "thresholds", True, [threshold]).startswith(
        f"The single most likely grade is {1 - grade} ")


def test_the_note_names_no_percentage_when_the_calibration_failed() -> None:
    """A review: under a failed calibration (the temperature at its bound: flat percentages) the
    app's decision line read "0 Normal, 1 NPDR and 2 PDR are equally likely (P 0.33 each)" below
    the warning to ignore the percentages. ``calibrated=False`` says the grade and why without
    a figure, for two grades (the referral threshold), more grades and a regression head."""
    three = ["Normal", "NPDR", "PDR"]
    flat = [0.3334, 0.3333, 0.3333]
    said = decision_words(flat, 1, three, "thresholds", calibrated=False)
    assert said == ("The grade shown is 1 NPDR: the model's overall score, which weighs all grades, falls "
                    "in its range; the percentages cannot say which grade is most likely, as they are "
                    "not calibrated."), said
    assert "%" in decision_words(flat, 1, three, "thresholds")  # calibrated: the figures, as before
    two = decision_words([0.491, 0.509], 0, TWO, "thresholds", thresholds=[0.512], calibrated=False)
    assert two.startswith("The grade shown is 0 non-referable: the model's output for referable is below "
                          "the referral threshold tuned on the out-of-fold outputs;"), two
    score = decision_words(flat, 2, three, "thresholds", True, [0.5, 1.5], calibrated=False)
    assert "the model's score falls in its range" in score
    for words in (said, two, score):
        assert not any(ch.isdigit() for ch in words.split(":", 1)[1]), words  # no figure after the grade
    assert decision_words([0.2, 0.8, 0.0], 1, three, "thresholds", calibrated=False) == ""  # nothing to explain
    assert decision_words(flat, 1, three, "argmax", calibrated=False) == ""


def test_the_note_of_three_or_more_grades_is_unchanged() -> None:
    names = ["Normal", "NPDR", "PDR"]
    want = ("The single most likely grade is 1 NPDR (54%); the model's overall score, which weighs all "
            "grades, falls in the 0 Normal range, the grade shown.")
    assert decision_words([0.40, 0.54, 0.06], 0, names, "thresholds") == want
    assert decision_words([0.40, 0.54, 0.06], 0, names, "thresholds", thresholds=[0.6, 1.5]) == want
    icdr = ["No DR", "Mild", "Moderate", "Severe", "PDR"]
    assert decision_words([0.1, 0.45, 0.45, 0.0, 0.0], 2, icdr, "thresholds",
                          thresholds=[0.5, 1.5, 2.5, 3.5]).startswith("1 Mild and 2 Moderate are equally likely")


def test_a_two_grade_bundle_writes_p_referable_beside_its_submission(tmp_path: Path) -> None:
    """referable_cut_of gave None for two grades, so the export wrote no _referable.csv: grade 1
    is the cut now (P_referable = P1, referable = the class)."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(2), size=5)
    classes = (probs[:, 1] >= 0.512).astype(int)
    submission = write_submission(tmp_path / "graded.csv", [f"{i}.png" for i in range(5)], probs, classes,
                                  num_grades=2)
    meta = {"cv_metrics": {"qwk": 0.4, "qwk_ci95": [0.1, 0.6],
                           "referable": {"from_grade": 1, "rule": "referable = grade 1 (referable)",
                                         "auc": 0.8, "auc_ci95": [0.7, 0.9]}}}
    assert referable_cut_of(meta, 2) == 1
    bundle = SimpleNamespace(calibration=SimpleNamespace(num_grades=2), metadata=meta)
    path, line = export.write_referable_beside(bundle, submission)
    assert path == export.referable_path(submission)
    assert "referable DR (referable = grade 1 (referable)): P_referable = P1 and referable = 1 when class >= 1" in line
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(REFERABLE_COLUMNS)
    assert [float(r["P_referable"]) for r in rows] == pytest.approx(probs[:, 1], abs=1e-6)
    assert [int(r["referable"]) for r in rows] == classes.tolist()
    # a bundle built before two grades had their cut records none: still none
    assert referable_cut_of({"cv_metrics": {}}, 2) is None
    assert referable_cut_of({"cv_metrics": {"referable": {"from_grade": 2}}}, 2) is None
