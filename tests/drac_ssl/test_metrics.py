"""Tests of drac_ssl.metrics: hand-computed values on tiny examples, then properties."""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from drac_ssl import GRADE_NAMES
from drac_ssl.metrics import (
    PAIRED_METRICS as PAIRED,
)
from drac_ssl.metrics import (
    apply_thresholds,
    auc_undefined_reason,
    bootstrap_ci,
    bootstrap_resamples,
    bootstrap_scores,
    cluster_quality,
    degenerate_ci_reason,
    expected_grade,
    fit_kappa_thresholds,
    fit_temperature,
    fold_one_grade_words,
    format_ci,
    grading_report,
    knn_accuracy,
    macro_ovo_auc,
    macro_ovr_auc,
    one_grade_words,
    paired_bootstrap_difference,
    paired_difference,
    quadratic_weighted_kappa,
    softmax,
)

# ----------------------------------------------------------------------------- kappa


def test_qwk_hand_computed() -> None:
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0]
    # Observed confusion O (rows true, cols pred):   [[1,1,0],[0,2,0],[1,0,1]], N = 6
    # Row sums [2,2,2], column sums [2,3,1] -> expected E_ij = row_i * col_j / 6:
    #   every row of E is [2/3, 1, 1/3]
    # Weights w_ij = (i - j)^2 = [[0,1,4],[1,0,1],[4,1,0]]
    # sum w*O = (1*1) + 0 + (4*1) = 5
    # sum w*E = (1 + 4/3) + (2/3 + 1/3) + (8/3 + 1) = 7/3 + 1 + 11/3 = 7
    # kappa = 1 - 5/7 = 2/7
    assert quadratic_weighted_kappa(y_true, y_pred) == pytest.approx(2 / 7)
    assert quadratic_weighted_kappa(y_true, y_pred) == pytest.approx(
        cohen_kappa_score(y_true, y_pred, weights="quadratic"))


def test_qwk_perfect_and_reversed() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    assert quadratic_weighted_kappa(y, y) == pytest.approx(1.0)
    # pred = 2 - y: O = [[0,0,2],[0,2,0],[2,0,0]]; row and column sums all 2, so every
    # E_ij = 2*2/6 = 2/3 and sum w*E = (sum of weights 12) * 2/3 = 8;
    # sum w*O = 4*2 + 0*2 + 4*2 = 16 -> kappa = 1 - 16/8 = -1
    assert quadratic_weighted_kappa(y, 2 - y) == pytest.approx(-1.0)


def test_qwk_keeps_grade_distance_and_undefined_is_nan() -> None:
    # Only grades 0 and 2 used: still a 2-step error for quadratic weights. With one label
    # pair the weight scale cancels, so the value equals sklearn's default either way.
    y, p = [0, 0, 2, 2], [0, 2, 2, 2]
    assert quadratic_weighted_kappa(y, p) == pytest.approx(
        cohen_kappa_score(y, p, weights="quadratic"))
    assert math.isnan(quadratic_weighted_kappa([1, 1, 1], [1, 1, 1]))
    # the check's own words: numpy's broadcast error is a ValueError too, and [2] against
    # [0, 1, 2] broadcasts (kappa 0.0) where the length check is gone
    for short, long in (([0, 1], [0, 1, 2]), ([2], [0, 1, 2])):
        with pytest.raises(ValueError, match="differ in length"):
            quadratic_weighted_kappa(short, long)



def test_qwk_is_scikit_learns_to_the_bit_on_random_and_degenerate_data() -> None:
    """quadratic_weighted_kappa repeats cohen_kappa_score's steps on a bincount confusion
    matrix (scikit-learn's confusion_matrix was most of fit_kappa_thresholds' time): the
    same float, bit for bit, on random grades of K = 2..6, with absent grades, and nan
    exactly where scikit-learn's kappa is undefined."""
    import warnings

    rng = np.random.default_rng(7)
    cases = [([1, 1, 1], [1, 1, 1], 3), ([0], [0], 2), ([0, 0], [1, 1], 2), ([2, 2], [0, 0], 3)]
    for _ in range(300):
        k = int(rng.integers(2, 7))
        n = int(rng.integers(1, 40))
        y = rng.integers(0, k, n)
        p = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))  # mostly agreeing
        cases.append((y, p, k))
    for y, p, k in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = float(cohen_kappa_score(y, p, weights="quadratic", labels=np.arange(k)))
        got = quadratic_weighted_kappa(y, p, num_grades=k)
        assert (math.isnan(got) and math.isnan(want)) or got == want, (y, p, k, got, want)


# ----------------------------------------------------------------------------- AUC


def test_auc_perfectly_separable_is_one() -> None:
    y = [0, 1, 2, 0, 1, 2]
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]] * 2)
    # Every class's own column ranks all of its samples above every other class's: each
    # pairwise AUC is 1, so the macro one-vs-one mean is 1.
    assert macro_ovo_auc(y, probs) == pytest.approx(1.0)


def test_auc_partially_separable_hand_computed() -> None:
    y = [0, 0, 1, 1, 2, 2]
    probs = np.array([
        [0.6, 0.3, 0.1],  # grade 0
        [0.4, 0.4, 0.2],  # grade 0
        [0.5, 0.4, 0.1],  # grade 1
        [0.2, 0.6, 0.2],  # grade 1
        [0.1, 0.2, 0.7],  # grade 2
        [0.1, 0.3, 0.6],  # grade 2
    ])
    # One-vs-one (Hand & Till), pair (a, b): mean of AUC(a vs b on column a) and
    # AUC(b vs a on column b), on the samples of grades a and b only.
    # (0,1): column 0, grade-0 {.6,.4} vs grade-1 {.5,.2}: .6>.5, .6>.2, .4<.5, .4>.2 -> 3/4
    #        column 1, grade-1 {.4,.6} vs grade-0 {.3,.4}: 1 + 0.5 (tie) + 1 + 1 -> 3.5/4
    #        pair = (0.75 + 0.875) / 2 = 0.8125
    # (0,2): column 0 {.6,.4} vs {.1,.1} -> 1; column 2 {.7,.6} vs {.1,.2} -> 1; pair = 1
    # (1,2): column 1 {.4,.6} vs {.2,.3} -> 1; column 2 {.7,.6} vs {.1,.2} -> 1; pair = 1
    # macro = (0.8125 + 1 + 1) / 3 = 0.9375
    assert macro_ovo_auc(y, probs) == pytest.approx(0.9375)
    assert macro_ovo_auc(y, probs) == pytest.approx(
        roc_auc_score(y, probs, average="macro", multi_class="ovo"))


def test_auc_missing_class_is_nan_with_reason() -> None:
    y = [0, 0, 1, 1]
    probs = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1]])
    assert math.isnan(macro_ovo_auc(y, probs))
    reason = auc_undefined_reason(y, probs)
    assert reason is not None and "[2]" in reason
    assert auc_undefined_reason([0, 1, 2], np.eye(3)) is None


def test_auc_renormalises_float32_rows_and_rejects_logits() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    probs = (np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]] * 2) * (1 + 1e-5))
    assert macro_ovo_auc(y, probs) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="logits"):
        macro_ovo_auc(y, np.array([[2.0, -1.0, 0.5]] * 6))


# ----------------------------------------------------------------------------- report


def test_grading_report_keys_and_missing_class() -> None:
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    report = grading_report(y, probs)
    assert {"n", "qwk", "auc", "auc_note", "accuracy", "macro_f1", "precision", "recall",
            "f1", "confusion", "labels"} <= set(report)
    assert report["n"] == 4
    assert report["labels"] == [0, 1, 2]
    # argmax = [0, 1, 1, 2]; rows true 0/1/2, columns predicted 0/1/2
    assert report["confusion"] == [[1, 1, 0], [0, 1, 1], [0, 0, 0]]
    assert math.isnan(report["auc"]) and "absent" in report["auc_note"]
    assert report["accuracy"] == pytest.approx(0.5)
    assert set(report["precision"]) == set(GRADE_NAMES) == set(report["recall"])
    assert report["precision"]["Normal"] == pytest.approx(1.0)  # 1 predicted, 1 right
    assert report["recall"]["NPDR"] == pytest.approx(0.5)
    assert math.isnan(report["recall"]["PDR"])  # no true PDR: undefined, not 0
    assert report["precision"]["PDR"] == pytest.approx(0.0)  # predicted once, wrong
    # a grade >= K (the probs columns) is malformed input, named with K, not a zip() error or nan
    for call in (lambda: grading_report([0, 1, 3, 1], probs), lambda: macro_ovo_auc([0, 1, 3, 2], probs),
                 lambda: grading_report(y, probs, pred=[0, 1, 3, 1])):
        with pytest.raises(ValueError, match=r"holds grade 3, but probs has 3 columns \(grades 0..2\)"):
            call()
    # no image: said in our words (a review: scikit-learn's "Found empty input array" came out)
    for empty in (lambda: grading_report(np.array([], int), np.zeros((0, 3))),
                  lambda: grading_report([], None, pred=[])):
        with pytest.raises(ValueError, match="no graded images"):
            empty()


def test_grading_report_uses_given_pred() -> None:
    y = np.array([0, 1, 2])
    probs = np.eye(3)[[0, 0, 2]]
    report = grading_report(y, probs, pred=np.array([0, 1, 2]))
    assert report["qwk"] == pytest.approx(1.0)
    assert report["auc_note"] is None


# ----------------------------------------------------------------------------- bootstrap


def _noisy_grades(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.54, 0.35, 0.11])
    pred = np.clip(np.rint(y + rng.normal(0, 0.6, n)), 0, 2).astype(int)
    return y, pred


def test_bootstrap_contains_estimate_and_narrows() -> None:
    y_small, p_small = _noisy_grades(60, 0)
    y_big, p_big = _noisy_grades(600, 1)
    lo_s, hi_s = bootstrap_ci(y_small, p_small, n_boot=120)
    lo_b, hi_b = bootstrap_ci(y_big, p_big, n_boot=120)
    assert lo_s <= quadratic_weighted_kappa(y_small, p_small) <= hi_s
    assert lo_b <= quadratic_weighted_kappa(y_big, p_big) <= hi_b
    assert hi_b - lo_b < 0.6 * (hi_s - lo_s)  # ~ 1/sqrt(10) of the width
    assert bootstrap_ci(y_small, p_small, n_boot=30) == bootstrap_ci(y_small, p_small, n_boot=30)


def test_bootstrap_skips_degenerate_resamples() -> None:
    # 1 PDR among 12: about a third of resamples have no PDR and an undefined AUC.
    y = np.array([0] * 6 + [1] * 5 + [2])
    probs = softmax(np.stack([-(y - k) ** 2.0 for k in range(3)], axis=1))
    lo, hi = bootstrap_ci(y, probs, metric=macro_ovo_auc, n_boot=60)
    assert math.isfinite(lo) and math.isfinite(hi) and lo <= hi <= 1.0
    assert all(math.isnan(v) for v in bootstrap_ci([1, 1], [1, 1], n_boot=20))
    # a whole sample without PDR: AUC undefined (nan, not an error), as before
    assert all(math.isnan(v) for v in bootstrap_ci(y[:11], probs[:11], metric=macro_ovo_auc, n_boot=20))
    # wrong input is an error, not (nan, nan): probabilities to QWK, string labels
    with pytest.raises(ValueError, match="y_pred must be 1-D"):
        bootstrap_ci(y, probs, n_boot=20)
    with pytest.raises(ValueError, match="must hold integer grades"):
        bootstrap_ci(np.array(["a", "b"] * 6), y, n_boot=20)


def _rare_grade_set() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """40 images, 2 of them PDR (grade 2): about one resample in eight (0.95^40 = 0.13) holds
    neither, and the AUC is undefined on it. Grades, probabilities (n, 3), noisy grades."""
    y = np.array([0] * 22 + [1] * 16 + [2] * 2)
    rng = np.random.default_rng(3)
    probs = softmax(np.stack([-(y - k) ** 2.0 + rng.normal(0, 1.0, y.size) for k in range(3)], axis=1))
    pred = probs.argmax(axis=1)
    return y, probs, pred


def test_bootstrap_ci_counted_says_how_many_resamples_the_interval_rests_on() -> None:
    """Methods audit F6: resamples where a metric is undefined (the AUC when a grade is missing)
    were left out silently. bootstrap_ci_counted returns how many were used, exactly the
    resamples that hold every grade, and the same interval as bootstrap_ci."""
    from drac_ssl.metrics import bootstrap_ci_counted

    y, probs, pred = _rare_grade_set()
    n_boot = 400
    *ci, used = bootstrap_ci_counted(y, probs, macro_ovr_auc, n_boot=n_boot, seed=0)
    holding_pdr = sum(int((y[idx] == 2).any()) for idx in bootstrap_resamples(y.size, n_boot, seed=0))
    assert used == holding_pdr and 0 < used < n_boot  # about 13 % of the resamples lack PDR
    assert tuple(ci) == bootstrap_ci(y, probs, macro_ovr_auc, n_boot=n_boot, seed=0)
    # QWK is defined on every resample here (the true grades vary): all of them
    *qwk_ci, qwk_used = bootstrap_ci_counted(y, pred, n_boot=n_boot, seed=0)
    assert qwk_used == n_boot and tuple(qwk_ci) == bootstrap_ci(y, pred, n_boot=n_boot, seed=0)
    # the one-vs-one AUC (counted too, since the stats audit) and the slow path (a metric
    # without a counted form) count the same way
    holding = sum(int((y[idx] == 2).any()) for idx in bootstrap_resamples(y.size, 60, seed=0))
    *_, ovo_used = bootstrap_ci_counted(y, probs, macro_ovo_auc, n_boot=60, seed=0)
    *_, slow_used = bootstrap_ci_counted(y, probs, lambda a, b: macro_ovo_auc(a, b), n_boot=60, seed=0)
    assert ovo_used == slow_used == holding
    # nothing drawn, or nothing valid: (nan, nan, 0)
    assert bootstrap_ci_counted(y, probs, macro_ovr_auc, n_boot=0)[2] == 0
    lo, hi, none = bootstrap_ci_counted([1, 1], [1, 1], n_boot=20)
    assert math.isnan(lo) and math.isnan(hi) and none == 0


def test_referable_report_stores_how_many_resamples_its_auc_interval_used() -> None:
    from drac_ssl.metrics import referable_report

    y, probs, pred = _rare_grade_set()
    # referable = grade >= 2: the 2 PDR images are the only referable ones
    got = referable_report(y, probs, pred, 2, ["No DR", "Mild", "Moderate"], n_boot=300, seed=0)
    holding = sum(int((y[idx] == 2).any()) for idx in bootstrap_resamples(y.size, 300, seed=0))
    assert got["auc_ci95_resamples"] == holding < 300 and got["n_boot"] == 300
    assert referable_report(y, probs, pred, 1, ["No DR", "Mild", "Moderate"], n_boot=300)["auc_ci95_resamples"] == 300
    assert referable_report(y, probs, pred, 2, ["No DR", "Mild", "Moderate"])["auc_ci95_resamples"] is None


def test_kappa_of_a_constant_answer_is_zero_unless_the_truth_is_constant_too() -> None:
    """Methods audit F9: majority_grade_reference's docstring called kappa undefined for a
    constant answer. It is defined and 0 when the true grades vary (observed agreement equals
    chance agreement); only both sides constant is undefined. The stored 0.0 holds either way."""
    from drac_ssl.metrics import majority_grade_reference

    varying = np.array([0, 0, 0, 1, 2, 1])
    assert quadratic_weighted_kappa(varying, np.zeros(6, dtype=int), 3) == 0.0
    assert quadratic_weighted_kappa(varying, np.full(6, 2), 3) == 0.0
    assert math.isnan(quadratic_weighted_kappa(np.ones(4, dtype=int), np.ones(4, dtype=int), 3))
    assert majority_grade_reference(varying, ["Normal", "NPDR", "PDR"])["qwk"] == 0.0
    assert majority_grade_reference(np.ones(4, dtype=int), ["Normal", "NPDR", "PDR"])["qwk"] == 0.0
    doc = " ".join((majority_grade_reference.__doc__ or "").split())
    assert "defined and 0 whenever the true grades vary" in doc and "kappa is undefined, and" not in doc


def test_an_interval_of_width_zero_says_why_it_means_nothing() -> None:
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    one_grade = np.ones(8, dtype=int)
    lo, hi = bootstrap_ci(y, one_grade, n_boot=50)
    assert (lo, hi) == (0.0, 0.0)  # kappa 0 on every resample: the figures stay as they are
    reason = degenerate_ci_reason(lo, hi, y, one_grade, ["Normal", "NPDR", "PDR"])
    assert reason == "every image was given one grade (1 NPDR), so every resample gives 0.000"
    assert format_ci(lo, hi, reason) == f"not meaningful: {reason}"
    assert degenerate_ci_reason(lo, hi, y, one_grade).startswith("every image was given one grade (grade 1)")
    # without the grades, a generic reason; one true grade named as such
    assert format_ci(0.0, 0.0) == "not meaningful: every resample gives 0.000: no resample of these images changes it"
    assert degenerate_ci_reason(1.0, 1.0, np.zeros(4, dtype=int), np.array([0, 1, 0, 1])).startswith(
        "every image has one true grade (grade 0)")
    # a real interval, or none at all, is not degenerate
    lo, hi = bootstrap_ci(*_noisy_grades(60, 0), n_boot=50)
    assert lo < hi and degenerate_ci_reason(lo, hi) is None and format_ci(lo, hi) == f"{lo:.3f}..{hi:.3f}"
    assert degenerate_ci_reason(math.nan, math.nan) is None and format_ci(None, None) == "n/a"


DRAC = ["Normal", "NPDR", "PDR"]


def test_fold_one_grade_words_fires_when_each_fold_got_one_grade() -> None:
    # the trial: fold 0 all Normal, fold 1 all PDR, whatever the true grade; no grade reaches 95%
    folds = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    pred = np.where(folds == 0, 0, 2)
    assert one_grade_words(pred, DRAC) is None
    words = fold_one_grade_words(pred, folds, DRAC)
    assert words == ("within each fold every image was given one grade (fold 0: 0 Normal, fold 1: 2 PDR): "
                     "the grades say which fold an image fell in, not what it shows")
    # nearly: each fold's share is given; names optional
    folds = np.repeat([0, 1], 20)
    pred = np.where(folds == 0, 0, 2)
    pred[0] = 1
    assert fold_one_grade_words(pred, folds) == (
        "within each fold (nearly) every image was given one grade (fold 0: grade 0, 19 of 20; "
        "fold 1: grade 2): the grades say which fold an image fell in, not what it shows")
    assert fold_one_grade_words(pred, folds, min_share=1.0) is None
    # a fold of a single image says nothing and is left out; the words say so
    folds = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 0, 2, 2, 1])
    assert fold_one_grade_words(pred, folds, DRAC) == (
        "within each fold of 2 or more images every image was given one grade (fold 0: 0 Normal, "
        "fold 1: 2 PDR): the grades say which fold an image fell in, not what it shows")


def test_fold_one_grade_words_quiet_when_a_fold_varies_or_one_grade_overall() -> None:
    folds = np.array([0, 0, 0, 1, 1, 1])
    assert fold_one_grade_words([0, 0, 0, 2, 1, 2], folds, DRAC) is None  # fold 1 varied
    # every fold the same grade: one_grade_words says it (once), not this
    assert fold_one_grade_words([1] * 6, folds, DRAC) is None
    assert one_grade_words([1] * 6, DRAC) == "every image was given one grade (1 NPDR)"
    # nearly one grade overall though the folds differ: one_grade_words's words, not these
    folds = np.array([0] * 40 + [1] * 2)
    pred = np.array([0] * 40 + [2] * 2)
    assert one_grade_words(pred, DRAC) is not None and fold_one_grade_words(pred, folds, DRAC) is None
    # the folds agree on a grade but not enough images overall: no fold pattern to tell
    folds = np.array([0] * 20 + [1] * 20 + [2] * 3)
    pred = np.array([0] * 19 + [2] + [0] * 19 + [2] + [2, 1, 2])
    assert one_grade_words(pred, DRAC) is None and fold_one_grade_words(pred, folds, DRAC) is None
    # one fold only, no images, or folds of single images: nothing to say
    assert fold_one_grade_words([0, 0, 0], [0, 0, 0], DRAC) is None
    assert fold_one_grade_words([], [], DRAC) is None
    assert fold_one_grade_words([0, 2, 1], [0, 1, 2], DRAC) is None
    with pytest.raises(ValueError, match="folds"):
        fold_one_grade_words([0, 2, 1], [0, 1], DRAC)


def test_paired_difference_hand_computed_on_all_images() -> None:
    # The kappa example above: a grades [0,1,1,1,2,0] (QWK 2/7, 4 of 6 right), b is perfect.
    # AUC one-vs-rest of a's one-hot probabilities: grade 0: P0 = [1,0,0,0,0,1], positives
    # {1,0} against negatives {0,0,0,1}: (3 + 0.5 + 0 + 3 * 0.5) / 8 = 5/8; grade 1: 7/8;
    # grade 2: 6/8 -> mean 3/4. b's is 1.
    y = np.array([0, 0, 1, 1, 2, 2])
    pred_a = np.array([0, 1, 1, 1, 2, 0])
    diff = paired_bootstrap_difference(y, np.eye(3)[pred_a], np.eye(3)[y], pred_a, y, n_boot=50)
    assert diff["accuracy"]["difference"] == pytest.approx(4 / 6 - 1)
    assert diff["qwk"]["difference"] == pytest.approx(2 / 7 - 1)
    assert diff["auc_ovr"]["a"] == pytest.approx(3 / 4) and diff["auc_ovr"]["b"] == 1.0
    assert diff["auc_ovr"]["difference"] == pytest.approx(-1 / 4)
    for metric in diff.values():  # a is never better than b on any resample
        assert metric["ci_low"] <= metric["difference"] <= metric["ci_high"] <= 0.0


def test_paired_difference_of_identical_models_is_zero() -> None:
    y, pred = _noisy_grades(40, 0)
    probs = softmax(np.stack([-(pred - k) ** 2.0 for k in range(3)], axis=1))
    diff = paired_bootstrap_difference(y, probs, probs.copy(), pred, pred.copy(), n_boot=100)
    for metric in diff.values():
        assert (metric["difference"], metric["ci_low"], metric["ci_high"]) == (0.0, 0.0, 0.0)
        assert metric["resamples"] == 100


def test_paired_difference_of_a_clearly_better_model_excludes_zero_and_is_seeded() -> None:
    y = np.repeat([0, 1, 2], 10)
    rng = np.random.default_rng(0)
    worse = np.where(rng.random(30) < 0.6, (y + 1) % 3, y)  # most grades wrong
    probs_good = softmax(np.stack([-3.0 * (y - k) ** 2 for k in range(3)], axis=1))
    probs_bad = softmax(np.stack([-(worse - k) ** 2.0 for k in range(3)], axis=1))
    diff = paired_bootstrap_difference(y, probs_bad, probs_good, worse, y, n_boot=200, seed=3)
    for name, metric in diff.items():
        assert metric["ci_high"] < 0, name
    again = paired_bootstrap_difference(y, probs_bad, probs_good, worse, y, n_boot=200, seed=3)
    other = paired_bootstrap_difference(y, probs_bad, probs_good, worse, y, n_boot=200, seed=4)
    assert again == diff
    assert other["qwk"]["ci_low"] != diff["qwk"]["ci_low"]
    assert other["qwk"]["difference"] == diff["qwk"]["difference"]  # all images: no resampling


def test_paired_difference_skips_auc_on_resamples_without_a_grade() -> None:
    # 1 PDR among 12: about a third of resamples lack it, where the AUC is undefined
    y = np.array([0] * 6 + [1] * 5 + [2])
    probs = softmax(np.stack([-(y - k) ** 2.0 for k in range(3)], axis=1))
    flat = np.full((12, 3), 1 / 3)
    diff = paired_bootstrap_difference(y, probs, flat, y, np.zeros(12, dtype=int), n_boot=60)
    assert diff["accuracy"]["resamples"] == 60
    assert 20 < diff["auc_ovr"]["resamples"] < 60
    assert math.isfinite(diff["auc_ovr"]["ci_low"]) and diff["auc_ovr"]["ci_low"] > 0
    absent = paired_bootstrap_difference([0, 1, 0, 1], np.eye(3)[[0, 1, 0, 1]], np.full((4, 3), 1 / 3),
                                         [0, 1, 0, 1], [0, 0, 0, 0], n_boot=20)
    assert math.isnan(absent["auc_ovr"]["difference"]) and math.isnan(absent["auc_ovr"]["ci_low"])
    assert absent["accuracy"]["difference"] == 0.5


def test_scores_drawn_once_per_model_pair_to_the_last_bit() -> None:
    # three models compared pairwise: each model's resamples scored once give exactly the
    # differences and intervals of paired_bootstrap_difference on each pair
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2, 3, 4], 8)
    probs = [softmax(rng.normal(size=(40, 5)) + 2.0 * np.eye(5)[y] * s) for s in (0.5, 1.0, 2.0)]
    preds = [p.argmax(axis=1) for p in probs]
    scores = [bootstrap_scores(y, p, g, n_boot=80, seed=7) for p, g in zip(probs, preds, strict=True)]
    assert scores[0].resampled["qwk"].shape == (80,) and scores[0].n == 40
    for i, j in ((1, 0), (2, 0), (2, 1)):
        want = paired_bootstrap_difference(y, probs[i], probs[j], preds[i], preds[j], n_boot=80, seed=7)
        got = paired_difference(scores[i], scores[j])
        assert got == want  # no nan here: the five grades are in every resample's AUC or left out
    assert paired_difference(scores[2], scores[0])["auc_ovr"]["difference"] > 0
    with pytest.raises(ValueError, match="drawn differently"):
        paired_difference(scores[0], bootstrap_scores(y, probs[1], preds[1], n_boot=80, seed=8))
    with pytest.raises(ValueError, match="grade 5"):
        bootstrap_scores(y, probs[0], np.full(40, 5))
    # another order of the same images, or no fixed seed, would pair other images: refused
    with pytest.raises(ValueError, match="other true grades"):
        paired_difference(scores[0], bootstrap_scores(y[::-1], probs[1][::-1], preds[1][::-1],
                                                      n_boot=80, seed=7))
    for seed in (None, np.random.default_rng(7)):
        with pytest.raises(ValueError, match="seed must be an integer"):
            paired_bootstrap_difference(y, probs[0], probs[0], preds[0], preds[0], n_boot=5, seed=seed)



@pytest.mark.parametrize("k, n, groups", [(2, 30, False), (3, 14, False), (5, 60, True), (5, 9, False)])
def test_every_resample_scores_what_scikit_learn_scores_on_it(k: int, n: int, groups: bool) -> None:
    """The bootstraps score all resamples at once from counts; each value must be
    scikit-learn's on that resample's images (ties, repeated images, a grade or a whole
    rater missing, patients), as the loop over resamples gave before."""
    from sklearn.metrics import accuracy_score

    rng = np.random.default_rng(k * 100 + n)
    y = rng.integers(0, k, size=n)
    y[:k] = np.arange(k)  # every grade at least once in the whole sample
    # coarse probabilities (many ties) and grades that often agree with y
    probs = softmax(np.round(rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y], 0))
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, size=n))
    patients = rng.integers(0, max(2, n // 3), size=n) if groups else None
    scores = bootstrap_scores(y, probs, pred, n_boot=150, seed=1, groups=patients)
    qwk_ci = bootstrap_ci(y, pred, functools.partial(quadratic_weighted_kappa, num_grades=k),
                          n_boot=150, seed=1, groups=patients)
    auc_ci = bootstrap_ci(y, probs, macro_ovr_auc, n_boot=150, seed=1, groups=patients)
    want: dict[str, list[float]] = {"accuracy": [], "qwk": [], "auc_ovr": []}
    for idx in bootstrap_resamples(n, 150, seed=1, groups=patients):  # the loop of earlier versions
        want["accuracy"].append(accuracy_score(y[idx], pred[idx]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an undefined kappa: scikit-learn warns, gives nan
            want["qwk"].append(quadratic_weighted_kappa(y[idx], pred[idx], k))
        want["auc_ovr"].append(macro_ovr_auc(y[idx], probs[idx]))
    for metric, values in want.items():
        np.testing.assert_allclose(scores.resampled[metric], values, rtol=0, atol=1e-12, err_msg=metric)
    assert np.isnan(scores.resampled["auc_ovr"]).any() == (n < 20)  # tiny sets lose a grade
    # the intervals are the percentiles of the same values, degenerate resamples left out
    for ci, metric in ((qwk_ci, "qwk"), (auc_ci, "auc_ovr")):
        kept = np.array(want[metric])[np.isfinite(want[metric])]
        np.testing.assert_allclose(ci, np.percentile(kept, [2.5, 97.5]), rtol=0, atol=1e-12)
    # any other metric is still called on each resample: the same interval
    slow = bootstrap_ci(y, pred, lambda a, b: quadratic_weighted_kappa(a, b, num_grades=k),
                        n_boot=150, seed=1, groups=patients)
    np.testing.assert_allclose(slow, qwk_ci, rtol=0, atol=1e-12)



def test_probabilities_renormalised_into_a_tie_score_as_scikit_learn_scored_them() -> None:
    """A review found rows that one renormalisation leaves 1 ulp apart and a second makes a tie
    (P1 0.6000000000000001 vs 0.6): the counted AUC must score what macro_ovr_auc scores (the
    rows renormalised once more), not raise or differ by a tie's half."""
    probs = np.array([[0.25, 0.25, 0.5], [0.4, 0.1, 0.5], [9 / 19, 8 / 19, 2 / 19], [0.3, 0.6, 0.1],
                      [3 / 11, 4 / 11, 4 / 11], [0.2, 0.6, 0.2]])
    y = np.array([0, 1, 2, 2, 2, 1])
    diff = paired_bootstrap_difference(y, probs, probs, y, y, n_boot=10)
    assert diff["auc_ovr"]["a"] == pytest.approx(macro_ovr_auc(y, probs), abs=1e-15)
    # float32 softmax of coarse logits, as the fine-tuning's out-of-fold probabilities are
    rng = np.random.default_rng(3)
    for _ in range(5):
        y = rng.integers(0, 3, size=300)
        logits = np.round(rng.normal(size=(300, 3)) + 2.0 * np.eye(3)[y]).astype(np.float32)
        probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
        scores = bootstrap_scores(y, probs, probs.argmax(axis=1), n_boot=40, seed=0)
        want = [macro_ovr_auc(y[idx], probs[idx]) for idx in bootstrap_resamples(300, 40, seed=0)]
        np.testing.assert_allclose(scores.resampled["auc_ovr"], want, rtol=0, atol=1e-12)


def test_a_counted_metric_that_disagrees_with_scikit_learn_warns_and_the_loop_scores(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard: a counted metric off on the whole sample must not stop a run nor give wrong
    intervals; it warns (a bug to report) and scores each resample with scikit-learn."""
    from drac_ssl import metrics

    rng = np.random.default_rng(5)
    y = np.repeat([0, 1, 2], 10)
    probs = softmax(rng.normal(size=(30, 3)) + 2.0 * np.eye(3)[y])
    pred = probs.argmax(axis=1)
    want_scores = bootstrap_scores(y, probs, pred, n_boot=30, seed=2)
    want_ci = bootstrap_ci(y, pred, functools.partial(quadratic_weighted_kappa, num_grades=3), n_boot=30)
    monkeypatch.setattr(metrics, "_counted_ovr_auc", lambda counts, y, probs: np.full(len(counts), 0.5))
    monkeypatch.setattr(metrics, "_counted_qwk", lambda counts, y, pred, k: np.full(len(counts), 0.5))
    with pytest.warns(metrics.CountedMetricWarning, match="auc_ovr"):
        got = bootstrap_scores(y, probs, pred, n_boot=30, seed=2)
    for metric in PAIRED:
        np.testing.assert_allclose(got.resampled[metric], want_scores.resampled[metric], rtol=0, atol=1e-12)
    with pytest.warns(metrics.CountedMetricWarning, match="scored with scikit-learn instead"):
        ci = bootstrap_ci(y, pred, functools.partial(quadratic_weighted_kappa, num_grades=3), n_boot=30)
    np.testing.assert_allclose(ci, want_ci, rtol=0, atol=1e-12)

def test_paired_difference_refuses_mismatched_inputs() -> None:
    y = np.array([0, 1, 2])
    probs = np.eye(3)
    with pytest.raises(ValueError, match="probs_b"):
        paired_bootstrap_difference(y, probs, probs[:2], y, y)
    with pytest.raises(ValueError, match="pred_b"):
        paired_bootstrap_difference(y, probs, probs, y, y[:2])
    with pytest.raises(ValueError, match="grade 3"):
        paired_bootstrap_difference(y, probs, probs, y, np.array([0, 1, 3]))


# ----------------------------------------------------------------------------- patient-level bootstrap


def _accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(y == pred))


def test_distinct_patients_resample_exactly_as_images() -> None:
    # one image per patient: the cluster bootstrap is the image bootstrap, to the last bit
    y, pred = _noisy_grades(50, 3)
    probs = softmax(np.stack([-(pred - k) ** 2.0 for k in range(3)], axis=1))
    patients = [f"P{i:03d}" for i in range(50)]
    assert bootstrap_ci(y, pred, n_boot=80, seed=5, groups=patients) == bootstrap_ci(y, pred, n_boot=80, seed=5)
    grouped = bootstrap_scores(y, probs, pred, n_boot=80, seed=5, groups=patients)
    plain = bootstrap_scores(y, probs, pred, n_boot=80, seed=5)
    for metric in plain.resampled:
        np.testing.assert_array_equal(grouped.resampled[metric], plain.resampled[metric])
    assert paired_difference(grouped, plain) == paired_bootstrap_difference(y, probs, probs, pred, pred,
                                                                            n_boot=80, seed=5)
    assert (grouped.units, plain.units) == (50, 50)
    draws = list(bootstrap_resamples(50, 3, seed=5))
    rng = np.random.default_rng(5)
    for idx in draws:  # groups=None: numpy's draws of n images, as before
        np.testing.assert_array_equal(idx, rng.integers(0, 50, size=50))


def test_two_patients_of_identical_images_give_a_wider_interval() -> None:
    # patient A: 3 images graded right, patient B: 3 images graded wrong. Resampling the two
    # patients gives accuracy 1 (A, A), 0.5 (A, B or B, A) or 0 (B, B), each of A, A and B, B
    # a quarter of the time, so the 2.5th and 97.5th percentiles are 0 and 1. Resampling the
    # six images as if independent gives k/6 with k ~ Binomial(6, 1/2): 0 or 1 only 1/64 of
    # the time each, under 2.5%, so that interval lies inside (0, 1).
    y = np.zeros(6, dtype=int)
    pred = np.array([0, 0, 0, 1, 1, 1])
    patients = ["A", "A", "A", "B", "B", "B"]
    assert bootstrap_ci(y, pred, _accuracy, n_boot=400, seed=0, groups=patients) == (0.0, 1.0)
    lo, hi = bootstrap_ci(y, pred, _accuracy, n_boot=400, seed=0)
    assert 0.0 < lo < hi < 1.0


def test_duplicated_images_of_a_patient_add_nothing_to_a_patient_resample() -> None:
    # each patient's image twice: a patient resample is a resample of the single images with
    # every image doubled (kappa and accuracy unchanged by doubling), so its interval is the
    # image interval of the undoubled set; resampling the doubled images as independent is
    # narrower (about 1/sqrt(2)), the too-narrow interval the report warned of
    y, pred = _noisy_grades(40, 4)
    doubled_y, doubled_pred = np.repeat(y, 2), np.repeat(pred, 2)
    patients = np.repeat(np.arange(40), 2)
    cluster = bootstrap_ci(doubled_y, doubled_pred, n_boot=300, seed=1, groups=patients)
    np.testing.assert_allclose(cluster, bootstrap_ci(y, pred, n_boot=300, seed=1), rtol=0, atol=1e-12)
    lo, hi = bootstrap_ci(doubled_y, doubled_pred, n_boot=300, seed=1)
    assert hi - lo < 0.85 * (cluster[1] - cluster[0])


def test_each_resample_holds_whole_patients() -> None:
    # patients of 1, 2 and 3 images, interleaved in the order of the rows
    patients = np.array(["c", "a", "b", "c", "b", "c"])
    members = {p: np.flatnonzero(patients == p).tolist() for p in "abc"}
    seen: list[np.ndarray] = []
    for idx in bootstrap_resamples(6, 200, seed=2, groups=patients):
        seen.append(idx)
        chosen = [patients[i] for i in idx]
        rest = list(idx)
        while rest:  # the rows come patient by patient, each patient's rows whole, in row order
            block = members[patients[rest[0]]]
            assert rest[:len(block)] == block
            rest = rest[len(block):]
        assert len({*chosen}) <= 3
    assert {len(idx) for idx in seen} >= {3, 6, 9}  # 3 patients drawn: 3 (a, a, a) .. 9 (c, c, c)
    # the metric sees exactly the drawn rows: the same draws through bootstrap_ci
    calls: list[np.ndarray] = []

    def spy(y: np.ndarray, _: np.ndarray) -> float:
        calls.append(y.copy())
        return 0.0

    bootstrap_ci(np.arange(6), np.zeros(6), spy, n_boot=200, seed=2, groups=patients)
    # the whole sample first (its ValueError would be the input's), then the 200 resamples
    assert np.array_equal(calls[0], np.arange(6))
    assert len(calls) == 201 and all(np.array_equal(a, b) for a, b in zip(calls[1:], seen, strict=True))


def test_paired_patient_resamples_pair_two_models() -> None:
    y = np.repeat([0, 1, 2], 8)
    patients = np.repeat(np.arange(12), 2)
    rng = np.random.default_rng(6)
    probs = [softmax(rng.normal(size=(24, 3)) + s * np.eye(3)[y]) for s in (0.5, 2.0)]
    preds = [p.argmax(axis=1) for p in probs]
    scores = [bootstrap_scores(y, p, g, n_boot=60, seed=3, groups=patients)
              for p, g in zip(probs, preds, strict=True)]
    assert scores[0].units == 12
    want = paired_bootstrap_difference(y, probs[1], probs[0], preds[1], preds[0], n_boot=60, seed=3,
                                       groups=patients)
    assert paired_difference(scores[1], scores[0]) == want
    same = paired_bootstrap_difference(y, probs[0], probs[0], preds[0], preds[0], n_boot=60, seed=3,
                                       groups=patients)
    assert all((m["ci_low"], m["ci_high"]) == (0.0, 0.0) for m in same.values())
    # scores drawn over images, or over other patients, pair nothing
    with pytest.raises(ValueError, match=r"drawn differently \(over 12 patients and over 24 images, or other "
                                         r"groups\)"):
        paired_difference(scores[1], bootstrap_scores(y, probs[0], preds[0], n_boot=60, seed=3))
    with pytest.raises(ValueError, match="drawn differently"):
        paired_difference(scores[1], bootstrap_scores(y, probs[0], preds[0], n_boot=60, seed=3,
                                                      groups=np.arange(24) // 3))


def test_unpaired_scores_name_the_units_each_was_drawn_over() -> None:
    """paired_difference's refusal said "12 groups (patients or image groups)": the scores did
    not carry what their units were. They do now (bootstrap_scores' kind, or the ``group:``
    ids of drac_ssl.oof.patient_groups), and the message names patients or image groups."""
    y = np.repeat([0, 1, 2], 8)
    probs = softmax(np.random.default_rng(6).normal(size=(24, 3)))
    pred = probs.argmax(axis=1)
    patients = bootstrap_scores(y, probs, pred, n_boot=20, seed=3, groups=np.repeat(np.arange(12), 2))
    groups = bootstrap_scores(y, probs, pred, n_boot=20, seed=3, groups=np.arange(24) // 3, kind="groups")
    assert (patients.kind, groups.kind) == ("patients", "groups")
    with pytest.raises(ValueError, match=r"drawn differently \(over 12 patients and over 8 image groups, or "
                                         r"other groups\)"):
        paired_difference(patients, groups)
    # the ids of drac_ssl.oof.patient_groups say it without a kind: group:<name> units are image groups
    named = bootstrap_scores(y, probs, pred, n_boot=20, seed=3, groups=[f"group:g{i // 6}" for i in range(24)])
    assert named.kind == "groups" and named.units == 4
    with pytest.raises(ValueError, match=r"over 4 image groups and over 12 patients"):
        paired_difference(named, patients)
    assert bootstrap_scores(y, probs, pred, n_boot=20, seed=3).kind == "images"
    # scores made without a kind (as before it was carried) keep the words that cover both
    older = dataclasses.replace(patients, kind="")
    with pytest.raises(ValueError, match=r"over 12 groups \(patients or image groups\) and over 8 image groups"):
        paired_difference(older, groups)
    for kind, given in (("images", np.arange(24)), ("patient", np.arange(24)), ("groups", None)):
        with pytest.raises(ValueError, match=f"kind={kind!r} does not say what"):
            bootstrap_scores(y, probs, pred, n_boot=20, seed=3, groups=given, kind=kind)


def test_patient_groups_are_checked() -> None:
    y = np.array([0, 1, 2, 1])
    with pytest.raises(ValueError, match="groups has 3 entries but there are 4 images"):
        bootstrap_ci(y, y, groups=["a", "a", "b"])
    with pytest.raises(ValueError, match="one patient id per image"):
        bootstrap_scores(y, np.eye(3)[y], y, groups=np.zeros((4, 1)))
    with pytest.raises(ValueError, match="groups\\[2\\] is missing"):
        paired_bootstrap_difference(y, np.eye(3)[y], np.eye(3)[y], y, y, groups=["a", "a", None, "b"])
    with pytest.raises(ValueError, match="groups\\[1\\] is missing"):
        bootstrap_ci(y, y, groups=[1.0, math.nan, 2.0, 2.0])
    with pytest.raises(ValueError, match="n_boot"):
        list(bootstrap_resamples(4, -1))


# ----------------------------------------------------------------------------- thresholds


def test_expected_grade_and_apply_thresholds() -> None:
    probs = np.array([[1.0, 0.0, 0.0], [0.2, 0.5, 0.3], [0.0, 0.2, 0.8]])
    # 0*P0 + 1*P1 + 2*P2: 0, 0.5 + 0.6 = 1.1, 0.2 + 1.6 = 1.8
    np.testing.assert_allclose(expected_grade(probs), [0.0, 1.1, 1.8])
    np.testing.assert_array_equal(apply_thresholds([0.0, 0.49, 0.5, 1.49, 1.5, 2.0]),
                                  [0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match=r"strictly increasing sequence \(K-1 cuts\), got \(1\.5, 0\.5\)$"):
        apply_thresholds([0.1], (1.5, 0.5))  # plain numbers, no np.float64(...)
    with pytest.raises(ValueError, match=r"got an array of shape \(1, 2\)$"):
        apply_thresholds([0.1], [[0.5, 1.5]])
    # expected grades of K = 5 with DRAC's default thresholds: refused, not silently grade 2
    five = expected_grade(np.eye(5)[[0, 4]])
    with pytest.raises(ValueError, match=r"(?s)a score of 4 exceeds 2.5.*pass K-1 thresholds"):
        apply_thresholds(five)
    np.testing.assert_array_equal(apply_thresholds(five, (0.5, 1.5, 2.5, 3.5)), [0, 4])
    assert apply_thresholds([2.9], (0.5, 1.5)).tolist() == [2]  # given thresholds: overshoot is the top grade


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("thresholds", [None, (0.5, 1.5)])
def test_apply_thresholds_refuses_a_non_finite_score(bad: float, thresholds: tuple[float, ...] | None) -> None:
    """A review: apply_thresholds([nan, 0.2, 3.0], (0.5, 1.5)) gave [2, 0, 2] (np.digitize puts
    NaN above every threshold), against 'grade = number of thresholds t with score >= t': a
    diverged model's NaN outputs became top grades. -inf has an order (grade 0) but is no
    score either."""
    scores = [bad, 0.2, 2.0]
    with pytest.raises(ValueError, match=r"1 of 3 scores are not finite \(first at row 0: -?(nan|inf)\); a NaN or infinite score has no grade"):
        apply_thresholds(scores, thresholds)


def test_fit_kappa_thresholds_on_ordinal_scores() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=150, p=[0.54, 0.35, 0.11])
    # Perfectly ordinal but squeezed into [0, 0.6]: the default (0.5, 1.5) fails.
    scores = 0.2 * y + rng.uniform(0.0, 0.15, size=y.size)
    assert quadratic_weighted_kappa(y, apply_thresholds(scores)) < 0.5
    t0, t1 = fit_kappa_thresholds(scores, y)
    assert t0 < t1
    assert quadratic_weighted_kappa(y, apply_thresholds(scores, (t0, t1))) == pytest.approx(1.0)
    assert fit_kappa_thresholds(scores, y) == (t0, t1)  # deterministic


def test_fit_kappa_thresholds_improves_noisy_scores() -> None:
    rng = np.random.default_rng(1)
    y = rng.choice(3, size=200, p=[0.54, 0.35, 0.11])
    scores = 0.5 * y + 0.3 + rng.normal(0, 0.25, size=y.size)
    t = fit_kappa_thresholds(scores, y)
    fitted = quadratic_weighted_kappa(y, apply_thresholds(scores, t))
    assert fitted >= quadratic_weighted_kappa(y, apply_thresholds(scores)) - 1e-12


# ----------------------------------------------------------------------------- temperature


def test_softmax_rows_and_temperature() -> None:
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    p = softmax(logits)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.all(np.isfinite(p))
    assert softmax(logits[1:], temperature=1e6).max() == pytest.approx(1 / 3, abs=1e-5)


@pytest.mark.parametrize("true_t", [0.5, 2.0])
def test_fit_temperature_recovers_known_temperature(true_t: float) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 3.0, size=(4000, 3))
    # Labels drawn from softmax(logits / T): the NLL-optimal temperature is T.
    probs = softmax(logits, temperature=true_t)
    y = (rng.random(len(probs))[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    assert fit_temperature(logits, y) == pytest.approx(true_t, rel=0.10)


@pytest.mark.parametrize(("temperature", "at_bound"), [
    (1e-2, True), (0.0100999, True), (99.5, True), (100.0, True), (np.float32(100.0), True),
    (1.0, False), (0.0102, False), (98.0, False),
    (float("nan"), False), (float("inf"), False), (None, False), (True, False), ("100", False),
])
def test_temperature_at_bound_is_false_for_what_is_not_a_finite_number(
        temperature: object, at_bound: bool) -> None:
    """An audit: NaN was "at the bound" although the docstring says False for a value that is
    not a number; report.md and the model card would then say "temperature (n/a) sits at the
    edge of its search range"."""
    from drac_ssl.metrics import temperature_at_bound

    assert temperature_at_bound(temperature) is at_bound


# ----------------------------------------------------------------------------- k-NN, clusters


def _clusters(n_per: int, dim: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:3] * 5.0
    feats = np.concatenate([c + rng.normal(0, spread, (n_per, dim)) for c in centres])
    labels = np.repeat(np.arange(3), n_per)
    return feats.astype(np.float32), labels


def test_knn_separated_clusters_is_perfect() -> None:
    train, y_train = _clusters(100, 16, 0.3, 0)
    test, y_test = _clusters(50, 16, 0.3, 1)
    acc = knn_accuracy(torch.from_numpy(train), torch.from_numpy(y_train),
                       torch.from_numpy(test), torch.from_numpy(y_test), k=20)
    assert acc == 1.0
    # numpy input, tiny chunks and k > n_train give the same answer
    assert knn_accuracy(train, y_train, test, y_test, k=500, chunk_size=7) == 1.0


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize(("bad", "num_classes"), [(-1, None), (-1, 3), (3, 3), (7, 3)])
def test_knn_refuses_a_label_outside_the_classes(split: str, bad: int, num_classes: int | None) -> None:
    """An audit: a -1 label (unlabelled, as EvalDataset gives it) among the test labels was
    silently counted as a miss, among the train labels it failed inside scatter_add_."""
    train, y_train = _clusters(10, 8, 0.3, 0)
    test, y_test = _clusters(5, 8, 0.3, 1)
    labels = {"train": y_train.copy(), "test": y_test.copy()}
    labels[split][2] = bad
    with pytest.raises(ValueError, match=rf"{split}_labels hold(s)? .*{bad}.*row 2.*0\.\.2"):
        knn_accuracy(train, labels["train"], test, labels["test"], k=5, num_classes=num_classes)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize("split", ["train", "test"])
def test_knn_of_non_finite_features_is_nan_not_an_accuracy(split: str, bad: float) -> None:
    """A property test: NaN features voted for nothing, argmax picked class 0, and the monitor
    showed class 0's share of the test labels (0.3333 here) as a believable accuracy. Label
    errors are still raised first."""
    feats = {"train": np.ones((5, 4)), "test": np.ones((3, 4))}
    feats[split][1, 2] = bad
    y_train, y_test = np.arange(5) % 2, np.array([0, 1, 1])
    assert math.isnan(knn_accuracy(feats["train"], y_train, feats["test"], y_test, k=3))
    assert math.isnan(knn_accuracy(np.full((5, 4), np.nan), y_train, np.ones((3, 4)), y_test, k=3))
    with pytest.raises(ValueError, match="test_labels hold"):
        knn_accuracy(feats["train"], y_train, feats["test"], np.array([0, 1, -1]), k=3)


def test_knn_shuffled_labels_near_chance() -> None:
    train, y_train = _clusters(300, 16, 0.3, 0)
    test, y_test = _clusters(200, 16, 0.3, 1)
    shuffled = np.random.default_rng(2).permutation(y_train)
    acc = knn_accuracy(train, shuffled, test, y_test, k=20, num_classes=3)
    assert abs(acc - 1 / 3) < 0.1


def test_knn_weights_do_not_overflow_at_small_temperature() -> None:
    train, y_train = _clusters(30, 8, 0.3, 0)
    assert knn_accuracy(train, y_train, train, y_train, k=5, temperature=1e-4) == 1.0


def test_cluster_quality_orders_separated_above_mixed() -> None:
    feats, labels = _clusters(100, 16, 0.5, 0)
    separated = cluster_quality(feats, labels)
    mixed = cluster_quality(feats, np.random.default_rng(0).permutation(labels))
    assert separated["davies_bouldin"] < mixed["davies_bouldin"]
    assert separated["calinski_harabasz"] > mixed["calinski_harabasz"]
    from_torch = cluster_quality(torch.from_numpy(feats), torch.from_numpy(labels))
    assert from_torch["davies_bouldin"] == pytest.approx(separated["davies_bouldin"], rel=1e-5)
    assert all(math.isnan(v) for v in cluster_quality(feats, np.zeros(len(feats))).values())


def test_two_grades_give_the_binary_auc_and_a_full_report() -> None:
    from drac_ssl.metrics import grading_report, macro_ovo_auc, macro_ovr_auc

    y = np.array([0, 0, 1, 1])
    p1 = np.array([0.1, 0.6, 0.4, 0.9])  # pairs (neg, pos): 0.1<0.4, 0.1<0.9, 0.6>0.4, 0.6<0.9 -> 3/4
    probs = np.stack([1 - p1, p1], axis=1)
    assert macro_ovo_auc(y, probs) == pytest.approx(0.75) == macro_ovr_auc(y, probs)
    report = grading_report(y, probs, class_names=["no referable DR", "referable DR"])
    assert report["auc"] == pytest.approx(0.75) and report["auc_ovr"] == pytest.approx(0.75)
    assert report["auc_per_grade"] == pytest.approx({"no referable DR": 0.75, "referable DR": 0.75})


def test_binary_screening_is_sensitivity_and_specificity() -> None:
    from drac_ssl.metrics import binary_screening

    # grade 1 found in 2 of 3, grade 0 cleared in 1 of 2
    assert binary_screening([0, 0, 1, 1, 1], [0, 1, 1, 1, 0]) == pytest.approx(
        {"sensitivity": 2 / 3, "specificity": 1 / 2})
    no_positive = binary_screening([0, 0], [0, 1])
    assert math.isnan(no_positive["sensitivity"]) and no_positive["specificity"] == 0.5
    with pytest.raises(ValueError, match="two grades"):
        binary_screening([0, 2], [0, 1])


# --------------------------------------------------------------------------- referable DR
ICDR_NAMES = ("No DR", "Mild", "Moderate", "Severe", "PDR")
# 8 images on the ICDR scale, referable = grade >= 2; P(referable) = P2 + P3 + P4 = s, the
# rows ((1-s)/2, (1-s)/2, s/2, s/4, s/4) in exact binary fractions. Referable images (2, 3, 4,
# 7) have s = .75, .5, .875, .375, the others (0, 1, 5, 6) .125, .25, .5, .625. By hand, of the
# 16 (referable, not) pairs: .75 beats 4, .5 beats 2 and ties 1 (1/2), .875 beats 4, .375 beats
# 2: AUC = 12.5 / 16 = 25/32. The submitted grades call 2, 4, 7 and (wrongly) 1 and 5
# referable: sensitivity 3/4 (image 3 missed), specificity 2/4 (0 and 6 cleared).
REF_Y = np.array([0, 1, 2, 3, 4, 0, 1, 2])
REF_S = np.array([.125, .25, .75, .5, .875, .5, .625, .375])
REF_P = np.stack([(1 - REF_S) / 2, (1 - REF_S) / 2, REF_S / 2, REF_S / 4, REF_S / 4], axis=1)
REF_PRED = np.array([0, 2, 2, 1, 4, 2, 1, 3])


def test_referable_report_by_hand() -> None:
    from drac_ssl.metrics import referable_report

    got = referable_report(REF_Y, REF_P, REF_PRED, 2, ICDR_NAMES)
    assert got["from_grade"] == 2
    assert got["rule"] == "referable = grade >= 2 (Moderate or worse)"
    assert (got["n_referable"], got["n_not"]) == (4, 4)
    assert got["auc"] == pytest.approx(25 / 32) and got["auc_note"] is None
    assert got["sensitivity"] == pytest.approx(3 / 4) and got["specificity"] == pytest.approx(1 / 2)
    assert got["auc"] == pytest.approx(roc_auc_score(REF_Y >= 2, REF_S))
    # no bootstrap asked: no interval
    assert got["auc_ci95"] == [None, None] or all(math.isnan(v) for v in got["auc_ci95"])
    # grade >= 1 ("any DR") on the same images: other truth, other score
    any_dr = referable_report(REF_Y, REF_P, REF_PRED, 1, ICDR_NAMES)
    assert any_dr["rule"] == "referable = grade >= 1 (Mild or worse)"
    assert (any_dr["n_referable"], any_dr["n_not"]) == (6, 2)
    assert any_dr["auc"] == pytest.approx(roc_auc_score(REF_Y >= 1, REF_P[:, 1:].sum(axis=1)))
    # without names the grades are numbers
    assert referable_report(REF_Y, REF_P, REF_PRED, 2)["rule"] == "referable = grade >= 2"


def test_referable_operating_points_count_every_cut_of_tied_scores() -> None:
    """sklearn's roc_curve drops collinear points by default; they are real cut points. Twenty
    distinct scores, each held by one referable and one non-referable image: cutting above the
    top two scores finds 2 of 20 referable images at specificity 18/20 = 0.90, so the
    sensitivity at specificity >= 0.90 is 0.10 (a review got 0.05 from the dropped points)."""
    from drac_ssl.metrics import referable_report

    scores = np.repeat(np.linspace(0.05, 0.95, 20), 2)
    y = np.tile([0, 4], 20)  # grade 4 referable, grade 0 not
    p = np.stack([1 - scores, np.zeros(40), np.zeros(40), np.zeros(40), scores], axis=1)
    got = referable_report(y, p, np.where(scores > 0.5, 4, 0), 2, ICDR_NAMES)
    assert got["sensitivity_at_specificity_90"] == pytest.approx(0.10)
    assert got["specificity_at_sensitivity_90"] == pytest.approx(0.10)


def test_referable_auc_is_nan_with_a_reason_when_one_side_has_no_image() -> None:
    from drac_ssl.metrics import referable_report

    keep = REF_Y >= 2
    got = referable_report(REF_Y[keep], REF_P[keep], REF_PRED[keep], 2, ICDR_NAMES, n_boot=20)
    assert math.isnan(got["auc"]) and (got["n_referable"], got["n_not"]) == (4, 0)
    assert got["auc_note"] == ("every one of the 4 images is referable (grade >= 2): the AUC needs "
                               "referable and non-referable images")
    assert got["sensitivity"] == pytest.approx(3 / 4) and math.isnan(got["specificity"])
    assert all(math.isnan(v) for v in got["auc_ci95"])
    none = referable_report(REF_Y[~keep], REF_P[~keep], REF_PRED[~keep], 2, ICDR_NAMES)
    assert math.isnan(none["auc"]) and "none of the 4 images is referable" in none["auc_note"]


@pytest.mark.parametrize("cut", [0, 5, -1])
def test_referable_cut_outside_the_scale_is_refused_naming_it(cut: int) -> None:
    from drac_ssl.metrics import referable_report

    with pytest.raises(ValueError, match=r"grade >= .* must be 1\.\.4 on the 5-grade scale "
                                         r"\(0 No DR, 1 Mild, 2 Moderate, 3 Severe, 4 PDR\)"):
        referable_report(REF_Y, REF_P, REF_PRED, cut, ICDR_NAMES)


@pytest.mark.parametrize("groups", [False, True])
def test_referable_auc_ci_is_scikit_learns_on_the_same_resamples_and_counted(
        groups: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The interval of the referable AUC: the percentiles of scikit-learn's binary AUC of
    P(referable) on each resample (one side missing: left out), with patients when given;
    scored from counts, so scikit-learn is called on the whole sample only, not per resample."""
    import drac_ssl.metrics as m

    rng = np.random.default_rng(7)
    n = 40
    y = rng.integers(0, 5, size=n)
    probs = softmax(np.round(rng.normal(size=(n, 5)) + 1.5 * np.eye(5)[y], 0))  # many ties
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, 5, size=n))
    patients = rng.integers(0, 14, size=n) if groups else None
    s = probs[:, 2:].sum(axis=1)
    want = []
    for idx in bootstrap_resamples(n, 60, seed=3, groups=patients):
        truth = y[idx] >= 2
        if 0 < truth.sum() < truth.size:
            want.append(roc_auc_score(truth, s[idx]))
    calls = {"n": 0}
    real = m.roc_auc_score

    def counting(*args: object, **kwargs: object) -> float:
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(m, "roc_auc_score", counting)
    got = m.referable_report(y, probs, pred, 2, ICDR_NAMES, n_boot=60, seed=3, groups=patients)
    np.testing.assert_allclose(got["auc_ci95"], np.percentile(want, [2.5, 97.5]), rtol=0, atol=1e-12)
    assert got["auc_ci95"][0] <= got["auc"] <= got["auc_ci95"][1]
    assert calls["n"] <= 3  # the whole sample (and its check), never each of the 60 resamples


@pytest.mark.parametrize("groups", [False, True])
def test_referable_sensitivity_and_specificity_have_cis_on_the_aucs_resamples_counted(
        groups: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The referable report lacked intervals on its sensitivity and specificity (an OCTA
    researcher's two-grade set): the percentiles of scikit-learn's recall of each side at the
    submitted grades on each resample (a resample without that side left out), drawn as the
    AUC's (same seed, patients when given), scored from counts, not per resample."""
    from sklearn.metrics import recall_score

    import drac_ssl.metrics as m

    rng = np.random.default_rng(11)
    n = 50
    y = rng.integers(0, 5, size=n)
    probs = softmax(rng.normal(size=(n, 5)) + 1.5 * np.eye(5)[y])
    # errors enough on both sides (24/34, 9/16): the bootstrap's interval, not Wilson's
    pred = np.where(rng.random(n) < 0.3, y, rng.integers(0, 5, size=n))
    patients = rng.integers(0, 16, size=n) if groups else None
    truth, decided = (y >= 2).astype(int), (pred >= 2).astype(int)
    want: dict[str, list[float]] = {"sensitivity": [], "specificity": []}
    for idx in bootstrap_resamples(n, 80, seed=4, groups=patients):
        for name, label in (("sensitivity", 1), ("specificity", 0)):
            if (truth[idx] == label).any():
                want[name].append(recall_score(truth[idx], decided[idx], pos_label=label))
    calls = {"n": 0}
    real = m.recall_score

    def counting(*args: object, **kwargs: object) -> float:
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(m, "recall_score", counting)
    got = m.referable_report(y, probs, pred, 2, ICDR_NAMES, n_boot=80, seed=4, groups=patients)
    for name in ("sensitivity", "specificity"):
        assert got[f"{name}_ci_method"] == "bootstrap" and got[f"{name}_ci_units"] is None
        np.testing.assert_allclose(got[f"{name}_ci95"], np.percentile(want[name], [2.5, 97.5]), rtol=0, atol=1e-12)
        assert got[f"{name}_ci95"][0] <= got[name] <= got[f"{name}_ci95"][1]
    assert calls["n"] <= 12  # the whole sample's figures and checks, never each of the 80 resamples
    assert all(math.isnan(v) for v in m.referable_report(y, probs, pred, 2, ICDR_NAMES)["sensitivity_ci95"])
    said = m.referable_summary(got)
    assert got["sensitivity_counts"] == [24, 34] and got["specificity_counts"] == [9, 16]
    assert (f"sensitivity {got['sensitivity']:.3f} (24/34 images; 95% CI {m.format_ci(*got['sensitivity_ci95'])}), "
            f"specificity {got['specificity']:.3f} (9/16 images; 95% CI {m.format_ci(*got['specificity_ci95'])})") in said


def test_a_sensitivity_or_specificity_near_0_or_1_gets_the_wilson_interval_with_its_count() -> None:
    """Review s58r3 F6: the bootstrap intervals of sensitivity and specificity collapsed at 0
    or 1 (15/15 -> [1, 1], "CI not meaningful"; one referable image -> [1, 1]). A small count
    (fewer than WILSON_BELOW images on either side of x/n) or a collapsed interval now gets the
    Wilson score interval (scipy's binomtest agrees), said with x/n; with patients, the Wilson
    interval counts each patient once (wider, never the images' as if independent)."""
    from scipy.stats import binomtest

    from drac_ssl.metrics import WILSON_BELOW, referable_report, referable_summary, wilson_interval

    names = ["non-referable", "referable"]
    for x, n in ((15, 15), (0, 1), (1, 1), (9, 19), (2, 40)):
        want = binomtest(x, n).proportion_ci(method="wilson")
        np.testing.assert_allclose(wilson_interval(x, n), (want.low, want.high), atol=1e-12)
    assert wilson_interval(15, 15)[1] == 1.0 and wilson_interval(0, 3)[0] == 0.0
    y = np.array([0] * 15 + [1])  # one referable image, found; 15 others, all cleared
    p1 = np.r_[np.linspace(0.1, 0.4, 15), 0.9]
    got = referable_report(y, np.stack([1 - p1, p1], axis=1), (p1 >= 0.5).astype(int), 1, names,
                           n_boot=200, seed=0)
    assert got["sensitivity_counts"] == [1, 1] and got["specificity_counts"] == [15, 15]
    for name, (x, n) in (("sensitivity", (1, 1)), ("specificity", (15, 15))):
        assert got[f"{name}_ci_method"] == "wilson"
        np.testing.assert_allclose(got[f"{name}_ci95"], wilson_interval(x, n), atol=1e-12)
        assert got[f"{name}_ci95"][0] < got[f"{name}_ci95"][1] == 1.0
    said = referable_summary(got)
    assert "sensitivity 1.000 (1/1 images; 95% CI 0.207..1.000, Wilson score)" in said, said
    assert "specificity 1.000 (15/15 images; 95% CI 0.796..1.000, Wilson score)" in said, said
    assert "not meaningful" not in said.split("at the submitted grades")[1]  # the AUC's may be
    # patients: both eyes of each of 8 patients cleared, the referable image its own patient
    patients = np.r_[np.arange(15) // 2, 99]
    grouped = referable_report(y, np.stack([1 - p1, p1], axis=1), (p1 >= 0.5).astype(int), 1,
                               names, n_boot=200, seed=0, groups=patients)
    assert grouped["specificity_ci_method"] == "wilson_patients" and grouped["specificity_ci_units"] == 8
    n_eff = 15 ** 2 / (7 * 2 ** 2 + 1)  # Kish: seven patients of 2 images, one of 1
    assert grouped["specificity_ci_n_eff"] == pytest.approx(n_eff)
    np.testing.assert_allclose(grouped["specificity_ci95"], wilson_interval(n_eff, n_eff), atol=1e-12)
    assert grouped["specificity_ci95"][0] < got["specificity_ci95"][0]  # wider than the images'
    assert ("specificity 1.000 (15/15 images; 95% CI 0.669..1.000, Wilson score on an effective n of "
            "7.8 (Kish; 8 patients))") in referable_summary(grouped)
    # without n_boot: no interval at all, the count still said
    bare = referable_report(y, np.stack([1 - p1, p1], axis=1), (p1 >= 0.5).astype(int), 1, names)
    assert all(math.isnan(v) for v in bare["specificity_ci95"])
    assert "specificity 1.000 (15/15 images)" in referable_summary(bare)
    assert WILSON_BELOW == 5


def test_the_patients_wilson_interval_uses_kish_effective_n_not_the_number_of_patients() -> None:
    """Review r5 F3: 15 images from 8 patients of sizes 8, 1, 1, 1, 1, 1, 1, 1 have an
    effective n of 225 / 71 = 3.17 (Kish), not 8: the Wilson lower bound of 15/15 is 0.452,
    not the 0.676 of 8 patients the words called conservative."""
    from scipy.stats import norm

    from drac_ssl.figures import screening_figure_words
    from drac_ssl.metrics import kish_effective_n, referable_report

    patients = np.r_[np.zeros(8, int), np.arange(1, 8), 99]
    assert kish_effective_n(patients[:15]) == pytest.approx(225 / 71)
    assert kish_effective_n(np.arange(15) // 3) == pytest.approx(5.0)  # equal sizes: the patients
    assert kish_effective_n(np.array([], int)) == 0.0
    y = np.array([0] * 15 + [1])
    p1 = np.r_[np.linspace(0.1, 0.4, 15), 0.9]
    got = referable_report(y, np.stack([1 - p1, p1], axis=1), (p1 >= 0.5).astype(int), 1,
                           ["non-referable", "referable"], n_boot=200, seed=0, groups=patients)
    assert (got["specificity_ci_method"], got["specificity_ci_units"]) == ("wilson_patients", 8)
    assert got["specificity_ci_n_eff"] == pytest.approx(225 / 71)
    z2 = norm.ppf(0.975) ** 2
    low = (225 / 71) / (225 / 71 + z2)  # Wilson's lower bound of x = n: n / (n + z^2)
    assert low == pytest.approx(0.452, abs=5e-4)
    np.testing.assert_allclose(got["specificity_ci95"], [low, 1.0], atol=1e-12)
    assert screening_figure_words(got, "specificity") == (
        "specificity 1.000 (15/15 images; 95% CI 0.452..1.000, Wilson score on an effective n of 3.2 "
        "(Kish; 8 patients))")
    # the referable image is its own patient: effective n 1
    assert got["sensitivity_ci_n_eff"] == 1.0 and "effective n of 1.0 (Kish; 1 patient))" in \
        screening_figure_words(got, "sensitivity")
    # a run stored before the effective n: its interval was on the patients, said so
    old = {k: v for k, v in got.items() if not k.endswith("_ci_n_eff")}
    assert "Wilson score on the 8 patients)" in screening_figure_words(old, "specificity")


def test_two_grades_are_their_own_referable_cut_in_words() -> None:
    from drac_ssl.metrics import referable_report, referable_words

    assert referable_words(1, ["non-referable", "referable"]) == "referable = grade 1 (referable)"
    assert referable_words(1, ["Normal", "NPDR", "PDR"]) == "referable = grade >= 1 (NPDR or worse)"
    y = np.array([0, 1, 1, 0, 1, 0])
    p1 = np.array([0.2, 0.7, 0.4, 0.6, 0.9, 0.1])
    got = referable_report(y, np.stack([1 - p1, p1], axis=1), (p1 >= 0.5).astype(int), 1,
                           ["non-referable", "referable"])
    # the binary AUC of P1 is the macro AUC of two grades
    assert got["auc"] == pytest.approx(roc_auc_score(y, p1)) and got["rule"] == "referable = grade 1 (referable)"
    assert (got["sensitivity"], got["specificity"]) == pytest.approx((2 / 3, 2 / 3))


def test_referable_summary_says_the_rule_the_counts_and_where_the_sensitivity_is_read() -> None:
    import json

    from drac_ssl.metrics import referable_report, referable_summary

    got = referable_report(REF_Y, REF_P, REF_PRED, 2, ICDR_NAMES)
    got["auc_ci95"] = [0.5, 0.9]
    assert referable_summary(got) == (
        "referable = grade >= 2 (Moderate or worse), 4 referable images and 4 not: AUC of P(referable) 0.781 "
        "(95% CI 0.500..0.900); at the submitted grades (not an operating point tuned on P(referable)) "
        "sensitivity 0.750 (3/4 images), specificity 0.500 (2/4 images); on the ROC curve of P(referable), with the cut chosen "
        "on these same images (in-sample, optimistic): sensitivity 0.500 at specificity >= 0.90 "
        "(P(referable) >= 0.750000), specificity 0.500 at sensitivity >= 0.90 (P(referable) >= 0.375000) (those "
        "cuts are on oof.csv's cross-fitted probabilities, not the bundle's: to refer new images, set "
        "finetune.referral_target)")
    # a cut as stored, 6 decimals (an auditor: 0.600593 printed as ">= 0.601" read as if an
    # image at 0.6006 met it)
    assert "(P(referable) >= 0.600593)" in referable_summary({**got, "sensitivity_at_specificity_90_cut": 0.600593})
    # a run stored before the cuts were keeps its words exactly (review F8)
    no_cuts = {k: v for k, v in got.items() if not k.endswith("_90_cut")}
    assert referable_summary(no_cuts).endswith(
        "sensitivity 0.750 (3/4 images), specificity 0.500 (2/4 images); on the ROC curve of P(referable), with the cut chosen "
        "on these same images (optimistic): sensitivity 0.500 at specificity >= 0.90, specificity "
        "0.500 at sensitivity >= 0.90")
    # by hand: referable P .75 .5 .875 .375, the others .125 .25 .5 .625: specificity >= 0.9 of
    # 4 needs a cut above .625 (2 of 4 referable found): the next score, .75; sensitivity >= 0.9
    # a cut at .375 (2 of the 4 others above it)
    assert (got["sensitivity_at_specificity_90"], got["specificity_at_sensitivity_90"]) == (0.5, 0.5)
    assert (got["sensitivity_at_specificity_90_cut"], got["specificity_at_sensitivity_90_cut"]) == (0.75, 0.375)
    # metrics.json of an older run: no operating points, nor their cuts
    old_run = {k: v for k, v in got.items() if not k.endswith(("_90", "_90_cut"))}
    assert referable_summary(old_run).endswith("sensitivity 0.750 (3/4 images), specificity 0.500 (2/4 images)")
    older = {k: v for k, v in old_run.items() if not k.endswith("_counts")}  # before the counts
    assert referable_summary(older).endswith("sensitivity 0.750, specificity 0.500")
    keep = REF_Y >= 2  # read back from JSON: nan is null
    undefined = json.loads(json.dumps(referable_report(REF_Y[keep], REF_P[keep], REF_PRED[keep], 2, ICDR_NAMES),
                                      allow_nan=True).replace("NaN", "null"))
    assert ("AUC of P(referable) n/a (every one of the 4 images is referable (grade >= 2): the AUC needs "
            "referable and non-referable images); at the submitted") in referable_summary(undefined)
    assert "specificity n/a" in referable_summary(undefined)


def test_a_difference_with_an_interval_of_width_0_is_never_printed_as_one() -> None:
    # a docs review: the fine-tuning log and the export choice printed +0.000 (+0.000..+0.000)
    # (read as certainty) where report.md said "CI not meaningful: width 0"; report.md, compare,
    # the console and the export choice now all give the reason (drac_ssl.figures: one wording)
    from drac_ssl.metrics import format_difference, format_signed_interval

    assert format_difference(0.05, 0.01, 0.09) == "+0.050 (+0.010..+0.090)"
    assert format_difference(0.0, 0.0, 0.0) == "+0.000 (CI not meaningful: every resample gives 0.000: no resample of these images changes it)"
    assert format_difference(-0.1, -0.2, float("nan")) == "-0.100 (-0.200..n/a)"
    assert format_difference(None, None, None) == "n/a"
    assert format_signed_interval(0.0, 0.0) == "not meaningful: every resample gives 0.000: no resample of these images changes it"
    assert format_signed_interval(-0.01, 0.02) == "-0.010..+0.020"


def test_knn_accuracy_checks_shapes_first_and_refuses_fractional_labels() -> None:
    """1-D features were ``F.normalize``'s IndexError ("Dimension out of range"), before the
    shape check that names them; a label of 0.7 was cut to class 0 without a word. Whole
    float labels (1.0, as a float array holds them) still count as their class."""
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(6, 4)).astype(np.float32)
    labels = np.array([0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"features must be \(n, d\) with equal d, got \(4,\)"):
        knn_accuracy(feats[0], labels[:1], feats, labels)
    with pytest.raises(ValueError, match=r"test_labels hold 0.7 \(row 2\), not a class"):
        knn_accuracy(feats, labels, feats[:3], np.array([0.0, 1.0, 0.7]), k=1)
    with pytest.raises(ValueError, match=r"train_labels hold nan \(row 0\)"):
        knn_accuracy(feats, np.r_[np.nan, labels[1:]], feats, labels, k=1)
    assert knn_accuracy(feats, labels.astype(np.float64), feats, labels, k=1) == 1.0


def test_qwk_refuses_a_scale_of_fewer_than_two_grades() -> None:
    """``num_grades=0`` was taken as 2 (``num_grades or 2``) without a word."""
    for k in (0, 1, -3):
        with pytest.raises(ValueError, match=f"num_grades must be >= 2 .*got {k}"):
            quadratic_weighted_kappa([0, 1], [0, 1], num_grades=k)
    assert quadratic_weighted_kappa([0, 1], [0, 1], num_grades=3) == 1.0


def test_ovr_auc_per_grade_refuses_a_grade_beyond_the_probabilities() -> None:
    """Grade 3 against three columns was counted as a negative of every grade; it is the
    malformed input that :func:`macro_ovr_auc` refuses."""
    from drac_ssl.metrics import ovr_auc_per_grade

    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    with pytest.raises(ValueError, match="y_true holds grade 3, but probs has 3 columns"):
        ovr_auc_per_grade([0, 1, 2, 3], probs)
    assert ovr_auc_per_grade([0, 1, 2, 2], probs) == pytest.approx([1.0, 1.0, 1.0])


def test_ece_keeps_the_0_9_and_1_0_confidence_bins_apart() -> None:
    """Bins are (0.8, 0.9] and (0.9, 1]: a wrong answer at 0.85 and a right one at 0.95 are two
    bins, |0.85 - 0| and |0.95 - 1| weighted 1/2 each (mutation M14: bin index shifted by one
    merged them)."""
    from drac_ssl.metrics import expected_calibration_error

    assert expected_calibration_error([1, 1], [[0.85, 0.15], [0.05, 0.95]]) == pytest.approx(0.45)


def test_expected_grade_refuses_rows_off_by_more_than_1e_3() -> None:
    """A row summing to 0.995 is not a probability row (mutation M05: tolerance 1e-1)."""
    from drac_ssl.metrics import expected_grade

    with pytest.raises(ValueError, match="sum to 1"):
        expected_grade([[0.5, 0.3, 0.195]])


def test_qwk_refuses_a_grade_outside_the_num_grades_it_is_given() -> None:
    """Stats audit F4: grade 4 with ``num_grades=3`` widened the scale to 5 grades silently
    (a mislabelled ICDR grade scored on DRAC's scale); now a ValueError says which value and
    how to fix it. Without ``num_grades`` the largest grade seen still decides."""
    from drac_ssl.metrics import quadratic_weighted_kappa

    with pytest.raises(ValueError, match=r"y_true holds grade 4, outside the 3 grades 0\.\.2 of num_grades=3"):
        quadratic_weighted_kappa([0, 1, 2, 4, 0, 2], [0, 1, 2, 2, 0, 2], num_grades=3)
    with pytest.raises(ValueError, match=r"y_pred holds grade 3, outside the 3 grades.*omit num_grades"):
        quadratic_weighted_kappa([0, 1, 2, 2], [0, 1, 2, 3], 3)
    y, p = [0, 1, 2, 4, 0, 2], [0, 1, 2, 2, 0, 2]
    assert quadratic_weighted_kappa(y, p) == pytest.approx(
        cohen_kappa_score(y, p, weights="quadratic", labels=list(range(5))))
    assert quadratic_weighted_kappa(y, p, 5) == quadratic_weighted_kappa(y, p)


def test_a_column_of_grades_is_refused_with_its_fix() -> None:
    """A trial user passed MedMNIST's npz labels, shape (n, 1), and read "y_true must be 1-D (n,),
    got shape (120, 1)" with no fix, unlike the package's other messages. The message gives
    ``y_true.ravel()``; the column is still refused, not raveled for the caller."""
    y = np.array([0, 1, 2, 1] * 30).reshape(120, 1)
    probs = softmax(np.stack([-(y[:, 0] - k) ** 2.0 for k in range(3)], axis=1))
    with pytest.raises(ValueError) as column:
        macro_ovo_auc(y, probs)
    assert str(column.value) == ("y_true must be 1-D (n,), got shape (120, 1); pass y_true.ravel() (or "
                                 "y_true[:, 0]): a column of grades (n, 1), as MedMNIST's npz labels are, "
                                 "is not raveled for you")
    assert macro_ovo_auc(y.ravel(), probs) == macro_ovo_auc(y[:, 0], probs) == 1.0  # the fix works
    with pytest.raises(ValueError, match=r"got shape \(120, 3\); for probabilities or one-hot rows \(n, K\) "
                                         r"pass y_pred.argmax\(axis=1\), the grade of each row"):
        quadratic_weighted_kappa(y.ravel(), probs)
    with pytest.raises(ValueError, match=r"scores must be 1-D \(n,\), got shape \(120, 1\); pass scores.ravel\(\)"):
        apply_thresholds(y.astype(float))


def test_a_row_of_grades_is_told_ravel_not_argmax() -> None:
    """A review: a row of grades, shape (1, n), was told ``argmax(axis=1)``, which gives one
    value, and the lengths no longer matched. A row, or whole numbers that are no one-hot
    rows, is told ``.ravel()``, which works; argmax only for rows that sum to 1."""
    y = np.array([0, 1, 2, 1] * 5)
    row = y.reshape(1, 20)
    with pytest.raises(ValueError) as told:
        quadratic_weighted_kappa(y, row)
    assert ("got shape (1, 20); pass y_pred.ravel() (or y_pred[0]): a row of grades (1, n), one per image"
            in str(told.value)) and "argmax" not in str(told.value), str(told.value)
    assert quadratic_weighted_kappa(y, row.ravel()) == 1.0  # the fix works
    with pytest.raises(ValueError, match=r"got shape \(4, 5\); if it holds one grade per image, in order, "
                                         r"pass y_true.ravel\(\) \(20 values\)"):
        quadratic_weighted_kappa(y.reshape(4, 5), y)
    one_image = np.array([[0.2, 0.5, 0.3]])  # one image's probabilities: both readings said
    with pytest.raises(ValueError, match=r"pass y_pred.ravel\(\) .*; if it is one image's probabilities or "
                                         r"one-hot row \(1, K\), y_pred.argmax\(axis=1\)"):
        quadratic_weighted_kappa([1], one_image)
