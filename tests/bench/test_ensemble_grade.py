"""``bench/ensemble_grade.py`` scores three rules of turning the fold models' outputs into a grade
against the phantom test set's hidden grades: its parts, on hand-computed values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.ensemble_grade import (
    fold_grades,
    grade_figures,
    lower_median,
    paired_qwk_difference,
    phantom_test_grades,
    severity_vs_most_likely,
    submission_check,
)
from drac_ssl.config import Config
from drac_ssl.grading.model import Calibration


def test_the_median_of_fold_grades_is_a_grade() -> None:
    grades = np.array([[0, 2, 1, 2], [1, 2, 0, 0], [2, 1, 0, 1], [1, 0, 2, 2], [1, 2, 2, 0]])
    assert lower_median(grades).tolist() == [1, 2, 1, 1]
    assert lower_median(np.array([[0, 2], [2, 1]])).tolist() == [0, 1]  # even: the milder middle


def test_each_fold_model_is_cut_with_the_deployed_calibration() -> None:
    cal = Calibration("classification", 1.0, (0.5, 1.5), "argmax")  # the bundle's decision aside
    big = 20.0
    raw = [np.array([[big, 0, 0], [0, 0, big]]), np.array([[0, big, 0], [0, 0, big]])]
    assert fold_grades(raw, cal).tolist() == [[0, 2], [1, 2]]
    # the expected grade cut at the thresholds, not the argmax: 0.45 / 0.1 / 0.45 -> 1.0 -> grade 1
    even = [np.log(np.array([[0.45, 0.1, 0.45]]))]
    assert fold_grades(even, cal).tolist() == [[1]]


def test_milder_and_more_severe_are_counted_against_the_argmax() -> None:
    probs = np.array([[0.1, 0.3, 0.6], [0.5, 0.4, 0.1], [0.2, 0.5, 0.3], [0.7, 0.2, 0.1]])
    said = severity_vs_most_likely(np.array([1, 1, 1, 0]), probs)
    assert said == {"milder_than_most_likely": 1, "more_severe_than_most_likely": 1,
                    "share_milder": 0.25, "share_more_severe": 0.25}


def test_the_figures_of_a_rule() -> None:
    truth = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    pred = np.array([0, 1, 1, 1, 1, 2, 2, 2])
    f = grade_figures(truth, pred, 3, ["Normal", "NPDR", "PDR"])
    assert f["per_grade"]["2 PDR"] == {"images": 4, "found": 3, "sensitivity": 0.75, "shown_milder": 1,
                                       "shown_more_severe": 0}
    assert f["per_grade"]["0 Normal"]["shown_more_severe"] == 1
    assert f["accuracy"] == 0.75 and f["grade_counts"] == [1, 4, 3]
    assert f["confusion_rows_truth_cols_shown"] == [[1, 1, 0], [0, 2, 0], [0, 1, 3]]
    low, high = f["qwk_ci95"]
    assert low <= f["qwk"] <= high
    probs = np.full((8, 3), 0.1) + 0.7 * np.eye(3)[pred]  # rows sum to 1; the AUC is not reported
    same = paired_qwk_difference(truth, pred, pred, probs)
    assert same["difference"] == 0 and same["ci95"] == [0, 0]
    better = paired_qwk_difference(truth, truth, pred, probs)
    assert better["difference"] > 0 and better["ci95"][0] >= 0 and better["resamples"] <= 2000


def test_the_hidden_grades_are_the_phantom_plans() -> None:
    from data_prep.phantom import plan_phantom

    cfg = Config()
    plan = plan_phantom(cfg.data.phantom_n_train, cfg.data.phantom_n_test, cfg.data.phantom_seed)
    ids = [plan.test[3].name.removesuffix(".png"), plan.test[0].name.removesuffix(".png")]
    assert phantom_test_grades(cfg, ids).tolist() == [plan.test[3].grade, plan.test[0].grade]
    with pytest.raises(SystemExit, match="not in the phantom plan"):
        phantom_test_grades(cfg, [plan.train[0].name.removesuffix(".png")])


def test_the_bench_stops_unless_its_grades_are_the_submissions(tmp_path: Path) -> None:
    """It scores the rule the run deployed, or nothing (it only recorded how many agreed)."""
    path = tmp_path / "submission.csv"
    path.write_text("case,class,P0,P1,P2\n001.png,0,0.8,0.1,0.1\n002.png,2,0.1,0.2,0.7\n", encoding="utf-8")
    ids = ["001.png", "002.png"]
    assert submission_check(path, ids, np.array([0, 2])) == "2 of 2"
    with pytest.raises(SystemExit, match=r"differ from the submission for 1 of 2 test images \(first: case "
                                         r"002.png is graded 1 here and has class 2 there\)"):
        submission_check(path, ids, np.array([0, 1]))
    with pytest.raises(SystemExit, match=r"case 003.png is graded 0 here and is not in it"):
        submission_check(path, [*ids, "003.png"], np.array([0, 2, 0]))
    with pytest.raises(SystemExit, match="not found: the bench checks its grades"):
        submission_check(tmp_path / "missing.csv", ids, np.array([0, 2]))
