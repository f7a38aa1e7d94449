"""Bool label arrays in drac_ssl.metrics (a carried gap): a referable flag ``y_true`` as a bool
array, the natural input of a two-grade task, was refused by every metric ("must hold integer
grades, got dtype bool"). On two grades False/True are grades 0/1 and score as the integers do;
on a scale of more grades a bool array is a flag passed as the grades, still refused with a fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import sklearn.metrics  # noqa: F401  # its one-off import (2-3 s) at collection, not in the first case

from drac_ssl import metrics

FLAGS = np.array([False, True, True, False, True, False])
CALLED = np.array([False, True, False, False, True, True])
GRADES_3 = np.array([0, 2, 1, 0, 1, 1])
PROBS = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])

TWO_GRADE_CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "quadratic_weighted_kappa": lambda y, p: metrics.quadratic_weighted_kappa(y, p, 2),
    "quadratic_weighted_kappa (K inferred)": lambda y, p: metrics.quadratic_weighted_kappa(y, p),
    "macro_ovo_auc": lambda y, p: metrics.macro_ovo_auc(y, PROBS),
    "macro_ovr_auc": lambda y, p: metrics.macro_ovr_auc(y, PROBS),
    "binary_screening": metrics.binary_screening,
    "brier_score": lambda y, p: metrics.brier_score(y, PROBS),
    "grading_report": lambda y, p: metrics.grading_report(y, PROBS, p)["qwk"],
}


@pytest.mark.parametrize("name", sorted(TWO_GRADE_CALLS))
def test_a_bool_label_array_scores_as_grades_0_and_1_on_two_grades(name: str) -> None:
    call = TWO_GRADE_CALLS[name]
    assert call(FLAGS, CALLED) == call(FLAGS.astype(int), CALLED.astype(int))


@pytest.mark.parametrize("call", [
    lambda: metrics.quadratic_weighted_kappa(FLAGS, CALLED, 3),
    lambda: metrics.quadratic_weighted_kappa(FLAGS, GRADES_3),  # K = 3 inferred
    lambda: metrics.macro_ovo_auc(FLAGS, np.full((6, 3), 1 / 3)),
    lambda: metrics.recall_intervals(FLAGS, CALLED.astype(int), 5),
    lambda: metrics.grading_report(FLAGS, None, GRADES_3),  # K = 3 inferred from pred
    lambda: metrics.grading_report(GRADES_3, None, FLAGS),  # ... from y_true
])
def test_a_bool_label_array_on_more_than_two_grades_is_refused_with_a_fix(call: Callable[[], Any]) -> None:
    with pytest.raises(ValueError, match=r"is a bool array \(True/False\), a two-grade label, but the scale has "
                                         r"\d grades: pass integer grades 0\.\.\d.*\.astype\(int\)"):
        call()


REFERRAL_CALLS: dict[str, Callable[[Any, int], dict[str, Any]]] = {
    "decision_screening": lambda y, r: metrics.decision_screening(y, CALLED.astype(int), r),
    "patient_screening": lambda y, r: metrics.patient_screening(y, np.full(6, 0.5), CALLED.astype(int), r,
                                                                np.arange(6)),
    "referral_report": lambda y, r: metrics.referral_report(y, CALLED.astype(int), r, "sensitivity", 0.9, 0.5,
                                                            {0: 0.5}),
}


@pytest.mark.parametrize("name", sorted(REFERRAL_CALLS))
def test_a_referable_flag_as_truth_scores_from_grade_1_and_is_refused_from_grade_2(name: str) -> None:
    """True is grade 1: from grade 2 no image would be referable (sensitivity nan, no word)."""
    call = REFERRAL_CALLS[name]
    flagged = call(FLAGS, 1)
    assert flagged["sensitivity"] == call(FLAGS.astype(int), 1)["sensitivity"] == 2 / 3
    with pytest.raises(ValueError, match=r"y_true is a bool array .* referable from grade >= 2 needs a scale "
                                         r"of at least 3 grades.*from_grade=1"):
        call(FLAGS, 2)
