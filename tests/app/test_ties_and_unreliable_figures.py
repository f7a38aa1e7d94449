"""One tie rule for every sentence that compares grades, no figure read for an image not reliably
gradable, and P(referable) as the sum of the percentages shown (a review of the clinician
wording: "cannot tell 0 Normal from 2 PDR (46% vs 45%)" beside "equally likely"; "The single most
likely grade is 0 Normal (60%)" under a "Not reliably gradable" heading; P(referable) 50% under
grades shown as 17% + 17% + 17%)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.batch_csv import most_likely_cell, write_grades_for_people
from app.predict import Predictor, borderline_words
from app.server import (
    _rare_grades_line,
    _result_markdown,
    milder_than_most_likely,
    probabilities_note,
)
from drac_ssl.figures import rounded_probabilities, tie_words, tied_grades, whole_percentages
from drac_ssl.grading.image_notes import decision_words
from tests.helpers.app_fixtures import icdr_bundle_reporting_referable, result_said, trained_demo

NAMES = ["Normal", "NPDR", "PDR"]
UNLIKE = "Unlike the training images: far from every one of them on the model's features."


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Predictor:
    """The demo bundle without its ``demo`` key: a bundle the app takes for trained."""
    return trained_demo(tmp_path_factory.mktemp("trained"))


def test_the_tie_rule_counts_percentages_rounded_alone_or_together() -> None:
    assert tied_grades([0.449, 0.451, 0.10]) == [0, 1]  # 45% and 45% each alone
    assert tied_grades([1 / 3, 1 / 3, 1 / 3]) == [0, 1, 2]  # shown 33 / 33 / 33
    assert tied_grades([0.455, 0.09, 0.455]) == [0, 2]
    assert tied_grades([0.44, 0.46, 0.10]) == [1]
    assert tie_words([0.449, 0.451, 0.10], [0, 1]) == "45% each"
    # equal values alike: 46 / 9 / 46 (not 46 / 9 / 45, which added up to 100)
    assert whole_percentages([0.455, 0.09, 0.455]) == [46, 9, 46]
    assert tie_words([0.455, 0.09, 0.455], [0, 2]) == "46% each"
    assert tie_words([0.333, 0.334, 0.333], [0, 1, 2]) == "about 33% each"  # shown 33 / 34 / 33


def test_equal_remainders_go_to_the_larger_value_first() -> None:
    # eighths (exact in binary): 0.5 and 1.5 parts have the same remainder; the one part left
    # goes to the larger value, where the grade order alone gave it to the smaller (1 / 1 / 6)
    assert rounded_probabilities([0.0625, 0.1875, 0.75], 8) == [0, 2, 6]
    # equal values are never split: each its own value rounded half up (101)
    assert rounded_probabilities([0.455, 0.09, 0.455], 100) == [46, 9, 46]


def test_borderline_and_decision_words_say_one_tie() -> None:
    probs = [0.455, 0.09, 0.455]
    line = borderline_words(probs, NAMES)
    assert line == "Borderline: the model cannot tell 0 Normal from 2 PDR on this image (46% each)."
    words = decision_words(probs, 1, NAMES, "thresholds")
    assert words.startswith("0 Normal and 2 PDR are equally likely (46% each); "), words
    assert tied_grades(probs) == [0, 2] and not milder_than_most_likely(np.array(probs), 1)
    # not a tie: the percentages shown, as before
    assert borderline_words([0.44, 0.46, 0.10], NAMES) == ("Borderline: the model cannot tell 0 Normal from "
                                                           "1 NPDR on this image (44% vs 46%).")


def test_an_image_not_reliably_gradable_has_no_line_that_reads_its_percentages(trained: Predictor) -> None:
    for probs in ([0.6, 0.3, 0.1], [0.45, 0.10, 0.45]):
        markdown = result_said(trained, probs, 1, (UNLIKE,))
        assert "### Not reliably gradable" in markdown, markdown
        for said in ("most likely", "equally likely", "%", "Probabilities:", "P(referable"):
            assert said not in markdown, (said, markdown)
    # the same probabilities of a reliable image: the decision line and the percentages
    reliable = result_said(trained, [0.6, 0.3, 0.1], 1)
    assert "The single most likely grade is 0 Normal (60%)" in reliable, reliable


def test_p_referable_is_the_sum_of_the_percentages_shown(tmp_path: Path, one_thread: None) -> None:
    bundle_dir, _ = icdr_bundle_reporting_referable(tmp_path / "run")
    five = Predictor(bundle_dir, gradcam=False)
    pred = five.predict(np.full((40, 40, 3), 90, np.uint8))
    probs = np.array([0.496, 0.010, 0.168, 0.158, 0.168])  # grades 2..4: 17 + 16 + 17 = 50; alone 49
    assert round(100 * probs[2:].sum()) == 49 and sum(whole_percentages(probs)[2:]) == 50
    page = _result_markdown(replace(pred, grade=0, grade_name="No DR", probs=probs, warnings=[]), five)
    assert "**50%**, the sum of the percentages shown for those grades" in page, page
    assert "3 Severe NPDR **16%** · 4 PDR **17%**" in page, page
    assert "or worse) **49%**" not in page
    tied = np.array([0.01, 0.003, 0.465, 0.465, 0.057])  # shown 1 / 0 / 47 / 47 / 6: 100 from grade 2
    assert sum(whole_percentages(tied)[2:]) == 100
    page = _result_markdown(replace(pred, grade=2, grade_name="Moderate", probs=tied, warnings=[]), five)
    assert "or worse) **99%**, the sum of the percentages shown" in page, page  # not >99% beside 1%
    flagged = _result_markdown(replace(pred, grade=0, grade_name="No DR", probs=probs, warnings=[UNLIKE]), five)
    assert "P(referable" not in flagged and "50%" not in flagged


def _rows(tmp_path: Path, probs: list[list[float]], classes: list[int], unreliable: list[list[str]]) -> list[dict[str, Any]]:
    path = write_grades_for_people(tmp_path / "notes.csv", [(f"{i}.png", i, "") for i in range(len(probs))],
                                   np.array(probs), np.array(classes), NAMES, unreliable,
                                   [False] * len(probs), "")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_notes_csv_names_every_tied_grade_and_blanks_unreliable_figures(tmp_path: Path) -> None:
    rows = _rows(tmp_path, [[0.455, 0.09, 0.455], [0.6, 0.3, 0.1], [0.1, 0.3, 0.6]], [1, 1, 1],
                 [[], [], ["unlike the training images"]])
    assert rows[0]["most_likely_grade"] == "0 Normal or 2 PDR"
    assert rows[1]["most_likely_grade"] == "0 Normal" and rows[1]["P_Normal"] == "0.600"
    assert [rows[2][c] for c in ("P_Normal", "P_NPDR", "P_PDR", "most_likely_grade", "grade")] == [""] * 5
    assert rows[2]["model_output_only"] == "1 NPDR"
    assert most_likely_cell([1 / 3, 1 / 3, 1 / 3], NAMES) == "0 Normal or 1 NPDR or 2 PDR"


def test_people_read_the_grade_names_of_the_page(tmp_path: Path, one_thread: None) -> None:
    """ICDR's recorded short names (``Severe``) stay in machine fields; sentences say the page's."""
    bundle_dir, _ = icdr_bundle_reporting_referable(tmp_path / "run")
    five = Predictor(bundle_dir, gradcam=False)
    pred = five.predict(np.full((40, 40, 3), 90, np.uint8))
    tied = replace(pred, probs=np.array([0.05, 0.05, 0.10, 0.40, 0.40]), warnings=[])
    assert tied.borderline == ("Borderline: the model cannot tell 3 Severe NPDR from 4 PDR on this image "
                               "(40% each).")
    meta = {"per_grade": [{"grade": 3, "name": "Severe", "images": 40, "found": 1, "recall": 1 / 40}]}
    line = _rare_grades_line(meta, five.grade_names)
    assert "rarely found Severe NPDR (1 of 40)" in line, line
    assert "rarely found Severe (1 of 40)" in _rare_grades_line(meta)  # the table's own name without them


def test_the_note_under_the_widget_says_whose_population_it_is_not(trained: Predictor) -> None:
    """A bundle trained on patients' images: "not on patients" was false; not on yours (the
    phantom wording, tests/app/test_clinician_wording.py, stays)."""
    assert not trained.trained_on_phantoms and not trained.untrained
    note = probabilities_note(trained)
    assert "not on your patients or this clinic's population" in note and "not on patients" not in note, note
