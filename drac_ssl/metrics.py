"""Grading and representation metrics, as pure functions on arrays.

Conventions (shared by every function here):

- Grades are integers ``0 .. K-1``, ``K >= 2`` the size of the data's grading scale (DRAC
  2022 Task 3: K = 3, 0 Normal, 1 NPDR, 2 PDR; the ICDR scale of the colour fundus sets:
  K = 5). ``y_true`` and ``y_pred`` have shape ``(n,)``; ``probs`` has shape ``(n, K)``
  with rows that sum to 1; ``logits`` has shape ``(n, K)``. Functions that need K and
  cannot read it from ``probs`` take ``num_grades``; where it is omitted the largest grade
  seen decides (DRAC's 3 grades are nobody's hidden default here).
- The challenge scores are computed exactly as the organisers do (``docs/drac.md``):
  ``cohen_kappa_score(y, pred, weights="quadratic")`` ranks, macro one-vs-one
  ``roc_auc_score(y, P, average="macro", multi_class="ovo")`` breaks ties. The macro
  one-vs-rest AUC (MedMNIST's "AUC") is reported beside it. The kappa passes
  ``labels=range(K)``: identical to the organisers' call whenever every grade appears in the
  labels or the predictions (DRAC's test set holds all three), it differs when a grade is
  absent from both, where scikit-learn's default numbers only the grades seen and so shortens
  the distance across the gap (``y = [0,0,2,3,4,4,0,2]``, ``pred = [0,2,2,4,4,3,0,0]``,
  K = 5: 0.7605 with ``labels=range(5)``, 0.8261 without). A small fold or subset lacking a
  grade is scored on the scale's real distances that way.
- A metric that is undefined on the given data (kappa when ``y_true`` and the predictions
  are one and the same single grade, or there is no image; AUC when a grade is absent from
  ``y_true``) returns ``float("nan")`` instead of raising, so that a small cross-validation
  fold does not crash a run; ``auc_undefined_reason`` says why. Kappa is defined, and 0.0 as
  scikit-learn's is, when only one side is a single grade or the two are different single
  grades (one true grade with varied predictions, varied grades all predicted as one).

The scores are scikit-learn's; this module only fixes labels, validates shapes and
handles the degenerate cases (the quadratic kappa repeats ``cohen_kappa_score``'s steps on a
confusion matrix counted with ``np.bincount``: the same bits, without its per-call label
validation; ``tests/drac_ssl/test_metrics.py`` compares the two). The bootstrap intervals score their resamples from how many
times each image was drawn (a few matrix products for all resamples instead of one
scikit-learn call each), checked against scikit-learn's value on the whole sample at every
call (see "resamples as counts" below and ``docs/design.md``). ``knn_accuracy`` is written
in torch so it runs on the GPU features of a pretraining run without a copy to the host.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import log_softmax
from scipy.special import softmax as _scipy_softmax

from drac_ssl.config import level_text  # re-exported: it was here
from drac_ssl.figures import (
    MISSING,
    ci_words,
    constant_interval_reason,
    figure_text,
    finite_number,
    format_ci,
    format_difference,
    format_signed_interval,
    interval_width_zero,
    screening_figure_words,
    screening_figures_words,
)
from drac_ssl.oof import resampling_kind
from drac_ssl.scale import default_grade_names
from drac_ssl.starting import import_keeping_random


def _sklearn_metric(name: str) -> Callable[..., Any]:
    """``sklearn.metrics.<name>``, imported on its first call: grading an image with a bundle
    (:func:`softmax`, :func:`expected_grade`, :func:`apply_thresholds`) then never imports
    scikit-learn (about 2 s and 100 MiB with pandas, which it imports; docs/python.md,
    "Offline")."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(import_keeping_random("sklearn.metrics"), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"scikit-learn's ``sklearn.metrics.{name}``, imported on the first call."
    return call


accuracy_score = _sklearn_metric("accuracy_score")
calinski_harabasz_score = _sklearn_metric("calinski_harabasz_score")
confusion_matrix = _sklearn_metric("confusion_matrix")
davies_bouldin_score = _sklearn_metric("davies_bouldin_score")
precision_recall_fscore_support = _sklearn_metric("precision_recall_fscore_support")
recall_score = _sklearn_metric("recall_score")
roc_auc_score = _sklearn_metric("roc_auc_score")
roc_curve = _sklearn_metric("roc_curve")

__all__ = [
    "accuracy_score",
    "apply_thresholds",
    "auc_undefined_reason",
    "binary_screening",
    "CountedMetricWarning",
    "bootstrap_ci",
    "bootstrap_ci_counted",
    "bootstrap_resamples",
    "cluster_quality",
    "degenerate_ci_reason",
    "figure_text",
    "format_ci",
    "format_difference",
    "format_signed_interval",
    "default_thresholds",
    "expected_grade",
    "fit_kappa_thresholds",
    "threshold_band_warning",
    "undefined_scores_quiet",
    "UNDEFINED_DIVISION",
    "THRESHOLD_GRADE_SHARE_MIN",
    "fit_temperature",
    "QWK_LARGEST_UNSTATED",
    "FOLD_MIN_IMAGES",
    "fold_one_grade_words",
    "one_grade_note",
    "stored_one_grade_note",
    "AFTER_CALIBRATION",
    "calibrated_one_grade_words",
    "grading_report",
    "kish_effective_n",
    "knn_accuracy",
    "macro_ovo_auc",
    "macro_ovr_auc",
    "MAJORITY_BY_DEFINITION",
    "majority_grade_reference",
    "one_grade_words",
    "ovr_auc_per_grade",
    "ovr_auc_per_grade_ci",
    "BootstrapScores",
    "bootstrap_scores",
    "paired_bootstrap_difference",
    "paired_difference",
    "quadratic_weighted_kappa",
    "referable_report",
    "referable_summary",
    "referable_words",
    "REFERRAL_RULE",
    "level_text",
    "operating_cut",
    "OPERATING_POINTS_NOTE",
    "OPERATING_POINTS_NOTE_REFERRAL",
    "operating_points_note",
    "p_referable",
    "referral_set",
    "OPERATING_CUTS_SCALE",
    "OPERATING_CUTS_SCALE_REFERRAL",
    "SCORED_CUTS_SCALE",
    "SCORED_OPERATING_POINTS_NOTE",
    "referral_report",
    "decision_screening",
    "recall_intervals",
    "brier_score",
    "brier_definition",
    "BRIER_WORDS",
    "expected_calibration_error",
    "ECE_BINS",
    "ece_if_calibrated",
    "ECE_CONSISTENCY_DRAWS",
    "referral_summary",
    "referral_words",
    "patient_referral",
    "REFERRAL_CUT_ENSEMBLE",
    "cut_text",
    "patient_screening",
    "patient_screening_summary",
    "PER_PATIENT_RULE",
    "UNGRADABLE_RECALL",
    "screening_figures_words",
    "screening_sensitivity",
    "screening_specificity",
    "softmax",
    "two_grade_decision_words",
    "two_grade_summary",
]


#: numpy's words for a 0/0 (a kappa on a one-grade sample, a recall of a grade no image has):
#: 1.x/2.x arrays say "divide", numpy >= 1.25's scalars "scalar divide"
UNDEFINED_DIVISION = r"invalid value encountered in (scalar )?divide"


@contextlib.contextmanager
def undefined_scores_quiet() -> Iterator[None]:
    """Silence the warnings of a score that is undefined on its sample, and only those.

    A bootstrap resample (or a small validation split) may hold a single grade, or no image of
    a grade: scikit-learn then warns ``UndefinedMetricWarning`` (an AUC, precision or recall
    scored nan or 0) and numpy a ``RuntimeWarning`` for the 0/0 of a kappa
    (:data:`UNDEFINED_DIVISION`); the callers score such a sample nan and say so themselves,
    so thousands of these warnings tell nothing. Other warnings pass, above all a library's
    ``DeprecationWarning`` and ``FutureWarning`` (a blanket ``simplefilter("ignore")`` hid
    those, so that a deprecation would show up only as a break), every other RuntimeWarning
    (an overflow in ``np.exp``, the mean of an empty slice: a bug, not an undefined score) and
    :class:`CountedMetricWarning`: the filters here match only the messages above."""
    undefined = import_keeping_random("sklearn.exceptions").UndefinedMetricWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", undefined)
        warnings.filterwarnings("ignore", message=UNDEFINED_DIVISION, category=RuntimeWarning)
        yield


def default_thresholds(num_grades: int) -> tuple[float, ...]:
    """Score cut points half-way between the grades: ``(0.5, 1.5, ..., K - 1.5)``, the
    ``K - 1`` thresholds that round an expected grade to the nearest grade.

    Raises:
        ValueError: ``num_grades < 2`` or not a whole number (2.5, ``"2.5"``, True; ``"3"`` is 3).
    """
    k = _whole_grades(num_grades)
    if k < 2:
        raise ValueError(f"a grading scale has at least 2 grades, got {num_grades}")
    return tuple(g + 0.5 for g in range(k - 1))


def _whole_grades(num_grades: Any, name: str = "num_grades") -> int:
    """``num_grades`` as an int, or ValueError when it is no whole number (2.5, ``"2.5"``, a
    bool): ``int()`` would silently take 2.5 for 2 grades. A string of a whole number (``"3"``,
    as a command line or a config file gives it) is read as ``int()`` reads it, as before."""
    if isinstance(num_grades, str):
        try:
            return int(num_grades)
        except ValueError:
            pass
    whole = isinstance(num_grades, int | np.integer) or (
        isinstance(num_grades, float | np.floating) and float(num_grades).is_integer())
    if isinstance(num_grades, bool | np.bool_) or not whole:
        raise ValueError(f"{name} must be a whole number of grades, got {num_grades!r}: pass an int, "
                         f"e.g. 5 for the ICDR scale")
    return int(num_grades)


DEFAULT_THRESHOLDS = default_thresholds(3)
"""``(0.5, 1.5)``: :func:`default_thresholds` of DRAC's three grades, the default of
:func:`apply_thresholds` when no thresholds are given (pass K's own for another scale)."""


# --------------------------------------------------------------------------- validation


def _one_d_fix(name: str, arr: np.ndarray, rows: str = "grades") -> str:
    """How to make ``arr`` the 1-D ``(n,)`` array ``name`` must be: a column ``(n, 1)``
    (MedMNIST's npz labels are so), a row ``(1, n)`` or a 2-D array of whole numbers that are
    not one-hot is raveled, never silently, as a wrong axis would grade nonsense; argmax is
    said only for ``rows`` of grades that look like probabilities or one-hot rows (each row
    non-negative, summing to 1): ``argmax(axis=1)`` of a row of grades gave one value, and the
    lengths no longer matched."""
    shape = arr.shape
    if len(shape) == 2 and shape[1] == 1:
        return (f"pass {name}.ravel() (or {name}[:, 0]): a column of {rows} (n, 1), as MedMNIST's "
                "npz labels are, is not raveled for you")
    probabilities = rows == "grades" and len(shape) == 2 and _rows_sum_to_one(arr)
    if len(shape) == 2 and shape[0] == 1:
        fix = f"pass {name}.ravel() (or {name}[0]): a row of {rows} (1, n), one per image, is not raveled for you"
        if probabilities:
            fix += f"; if it is one image's probabilities or one-hot row (1, K), {name}.argmax(axis=1)"
        return fix
    if probabilities:
        return (f"for probabilities or one-hot rows (n, K) pass {name}.argmax(axis=1), the grade of "
                "each row")
    if len(shape) == 2 and _whole_numbers(arr):
        return (f"if it holds one grade per image, in order, pass {name}.ravel() ({arr.size} values); "
                "its rows are no probabilities or one-hot rows (not summing to 1), which argmax(axis=1) would take")
    return f"pass one value per image, a 1-D array (n,) of {rows}"


def _rows_sum_to_one(arr: np.ndarray) -> bool:
    """Whether each row of the 2-D ``arr`` (K >= 2 columns) looks like probabilities or a
    one-hot row: finite, non-negative, summing to 1 (within 1e-3)."""
    if arr.shape[1] < 2 or not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        return False
    values = arr.astype(np.float64)
    return bool(np.all(np.isfinite(values)) and np.all(values >= 0)
                and np.allclose(values.sum(axis=1), 1.0, atol=1e-3))


def _whole_numbers(arr: np.ndarray) -> bool:
    """Whether ``arr`` holds only whole numbers (an integer or bool dtype, or integral floats)."""
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        return True
    if not np.issubdtype(arr.dtype, np.floating):
        return False
    return bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))


def _as_grades(y: Any, name: str, num_grades: int | None = None) -> np.ndarray:
    """Return ``y`` as a 1-D int64 array of non-negative integer grades, or raise ValueError
    (a 2-D ``(n, 1)`` column too: its message says ``y.ravel()``).

    A bool array is a two-grade label (False = grade 0, True = grade 1, e.g. a referable
    flag) and is taken as such unless ``num_grades`` (the scale's K, where the caller knows
    it) is not 2: True and False on a scale of more grades is a mistake (a referable flag
    passed as the grades), refused by :func:`_refuse_bool_beyond_two`."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n,), got shape {arr.shape}; {_one_d_fix(name, arr)}")
    if arr.dtype == np.bool_:
        _refuse_bool_beyond_two(name, num_grades)
        return arr.astype(np.int64)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not (np.issubdtype(arr.dtype, np.number) and np.all(np.isfinite(arr))
                and np.all(arr == np.round(arr))):
            raise ValueError(f"{name} must hold integer grades, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} holds a negative grade ({arr.min()}); grades are 0..K-1")
    return arr


def _refuse_bool_beyond_two(name: str, num_grades: int | None) -> None:
    """ValueError when ``name``, a bool array, is to be read on a scale of ``num_grades`` != 2
    grades (None: the scale is not known here, and False/True are grades 0 and 1 of any)."""
    if num_grades is not None and num_grades != 2:
        raise ValueError(
            f"{name} is a bool array (True/False), a two-grade label, but the scale has {num_grades} "
            f"grades: pass integer grades 0..{num_grades - 1} (e.g. the grade column, not a referable "
            f"flag), or score the two-grade task (num_grades=2, probabilities of 2 columns) "
            f"with {name}.astype(int)")


def _refuse_bool_among(num_grades: int, *named: tuple[str, Any]) -> None:
    """:func:`_refuse_bool_beyond_two` for each ``(name, array)`` that is a bool array, once
    the scale's ``num_grades`` is known only after the arrays were read (inferred from the
    largest grade seen beside them); None arrays are skipped."""
    for name, given in named:
        if given is not None and np.asarray(given).dtype == np.bool_:
            _refuse_bool_beyond_two(name, num_grades)


def _referral_truth(y_true: Any, from_grade: int) -> np.ndarray:
    """``y_true`` as grades for a referral from grade ``from_grade`` (``r``, already checked
    ``>= 1``): a bool array (a referable flag, True = grade 1) is the truth of ``r = 1`` only;
    for ``r >= 2`` the scale has at least ``r + 1`` grades and a flag passed as the grades
    would count no image referable (sensitivity nan): ValueError with the fix."""
    if np.asarray(y_true).dtype == np.bool_ and from_grade > 1:
        raise ValueError(
            f"y_true is a bool array (True/False), a two-grade label, but referable from grade >= "
            f"{from_grade} needs a scale of at least {from_grade + 1} grades, where True (grade 1) is "
            f"never referable: pass the integer grades (e.g. the grade column, not a referable flag), "
            f"or, with a referable flag as the truth, from_grade=1")
    return _as_grades(y_true, "y_true")


def _check_from_grade(from_grade: Any) -> int:
    """``from_grade`` as an int ``>= 1``, or ValueError (the scale is not known here:
    :func:`_check_referable_cut` checks the top where it is)."""
    r = int(from_grade)
    if r < 1:
        raise ValueError(f"from_grade must be >= 1 (grade 0 or above is every image), got {from_grade!r}")
    return r


def _columns(probs: Any) -> int | None:
    """The number of columns K of a 2-D ``probs`` (or logits), None for another shape (whose
    own check says what is wrong)."""
    shape = np.shape(probs)
    return int(shape[1]) if len(shape) == 2 else None


def _check_grades_within(y: np.ndarray, num_grades: int, name: str, scale_given: bool = False) -> None:
    """ValueError when grades ``y`` hold one outside ``0 .. num_grades-1`` (the ``probs``
    columns; ``scale_given``: the ``num_grades`` argument, no probabilities were passed):
    malformed input, not an undefined figure."""
    if y.size and int(y.max()) >= num_grades:
        if scale_given:
            raise ValueError(
                f"{name} holds grade {int(y.max())}, outside the {num_grades} grades 0..{num_grades - 1} "
                f"of num_grades={num_grades}: pass the scale's num_grades (5 for ICDR), or grades on this scale")
        raise ValueError(
            f"{name} holds grade {int(y.max())}, but probs has {num_grades} columns (grades "
            f"0..{num_grades - 1}): pass probabilities over every grade of the scale (K columns "
            f"for K grades), or grades on the probabilities' scale")


def _as_probs(probs: Any, n: int | None = None, name: str = "probs") -> np.ndarray:
    """Return ``probs`` as float64 ``(n, K)`` rows that sum to 1.

    Rows off by less than 1e-3 (float32 rounding) are clipped to [0, 1] and renormalised;
    anything else raises. Rows within 1e-12 of summing to 1 are kept as they are, so applying
    this twice gives what applying it once gives (a second renormalisation could move a value
    by one ulp, and so make or break a tie between two images' probabilities, which the AUC
    counts half).
    """
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError(f"{name} must have shape (n, K) with K >= 2, got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but y_true has {n} entries")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds NaN or infinite values")
    if arr.size and (arr.min() < -1e-9 or arr.max() > 1 + 1e-9):
        raise ValueError(f"{name} must lie in [0, 1] (got {arr.min():.4g}..{arr.max():.4g}); "
                         "pass softmax(logits), not logits")
    sums = arr.sum(axis=1)
    if arr.size and np.max(np.abs(sums - 1.0)) > 1e-3:
        worst = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(f"{name} rows must sum to 1; row {worst} sums to {sums[worst]:.6g}")
    off = (np.abs(sums - 1.0) > 1e-12) | (arr < 0.0).any(axis=1) | (arr > 1.0).any(axis=1)
    if not off.any():
        return arr
    clipped = np.clip(arr[off], 0.0, 1.0)
    out = arr.copy()
    out[off] = clipped / clipped.sum(axis=1, keepdims=True)
    return out


# --------------------------------------------------------------------------- challenge scores


def quadratic_weighted_kappa(y_true: Any, y_pred: Any, num_grades: int | None = None) -> float:
    """Quadratic weighted Cohen's kappa, the DRAC Task 3 ranking score.

    ``y_true``, ``y_pred``: integer grades, shape ``(n,)``; for two grades a bool array too
    (False = 0, True = 1, as the other metrics here take it; refused on a scale of more
    grades, where it is a referable flag passed as the grades). Computed as
    ``sklearn.metrics.cohen_kappa_score(weights="quadratic", labels=range(K))`` computes it,
    over the consecutive labels ``0 .. K-1`` (``K = num_grades``; omitted: up to the largest
    grade seen), so a grade absent from both arrays still keeps its distance
    (missing NPDR does not make Normal-vs-PDR a one-step error). Equals the organisers' score
    whenever the data use the grades present. Scikit-learn's steps are repeated on a
    confusion matrix counted with ``np.bincount`` (the same float64 operations in the same
    order, so the same bits; ``tests/drac_ssl/test_metrics.py`` checks it): its
    ``confusion_matrix`` validates the labels on every call, ~100x slower, and
    :func:`fit_kappa_thresholds` calls this thousands of times per fit. Returns nan when kappa is undefined (both raters use one and the
    same single grade, or ``n == 0``). Kappa with quadratic disagreement weights is Cohen's
    weighted kappa (Cohen 1968, "Weighted kappa: nominal scale agreement with provision for
    scaled disagreement or partial credit", Psychological Bulletin 70(4):213-220).

    Raises:
        ValueError: ``y_true`` / ``y_pred`` not 1-D (probabilities ``(n, K)`` given instead
            of grades: pass ``argmax`` or thresholded grades), not integer grades (strings,
            fractions, NaN), a negative grade, a bool array on a scale of more than 2
            grades, or the two of different lengths;
            ``num_grades`` given but below 2 (a grading scale has at least 2 grades; 0 was
            once taken as 2), or given with a grade outside ``0 .. num_grades-1`` (such a
            grade once widened the scale silently: grade 4 with ``num_grades=3`` scored on 5);
            ``num_grades`` no whole number (3.7 was once scored on 3 grades); or omitted with a
            grade above :data:`QWK_LARGEST_UNSTATED` (its confusion matrix is K x K: a grade of
            10**9 once asked for exabytes): pass ``num_grades``.
    """
    if num_grades is not None:
        num_grades = _whole_grades(num_grades)
    if num_grades is not None and num_grades < 2:
        raise ValueError(f"num_grades must be >= 2 (the grades of the scale), got {num_grades}; "
                         f"omit it to take the largest grade seen")
    yt = _as_grades(y_true, "y_true", num_grades)
    yp = _as_grades(y_pred, "y_pred", num_grades)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true {yt.shape} and y_pred {yp.shape} differ in length")
    if num_grades is not None:
        for name, grades in (("y_true", yt), ("y_pred", yp)):
            if grades.size and int(grades.max()) >= int(num_grades):
                raise ValueError(
                    f"{name} holds grade {int(grades.max())}, outside the {int(num_grades)} grades "
                    f"0..{int(num_grades) - 1} of num_grades={num_grades}: pass the scale's num_grades "
                    f"(5 for ICDR), map the grades onto this scale, or omit num_grades to take the "
                    f"largest grade seen")
    if yt.size == 0:
        return float("nan")
    top = num_grades - 1 if num_grades is not None else max(1, int(yt.max()), int(yp.max()))
    if num_grades is None and top > QWK_LARGEST_UNSTATED:
        raise ValueError(f"grade {top} is the largest seen and num_grades was not given: the kappa's "
                         f"confusion matrix would be {top + 1} x {top + 1}; pass num_grades (5 for ICDR), "
                         f"or map the values onto the scale's grades 0..K-1 first")
    if num_grades is None and top > 1:  # a bool beside grades above 1: a flag among grades
        _refuse_bool_among(top + 1, ("y_true", y_true), ("y_pred", y_pred))
    return _sklearn_qwk(yt, yp, top + 1)


QWK_LARGEST_UNSTATED = 2_000
"""The largest grade :func:`quadratic_weighted_kappa` takes as the scale's top when
``num_grades`` is omitted: a bound on memory, not on scales (its K x K float64 matrices, a few
alive at once, are 32 MB each at K = 2001, about 0.2 GB in all; a stray 10**9 asked for
exabytes). Pass ``num_grades`` for a larger scale."""


def _sklearn_qwk(yt: np.ndarray, yp: np.ndarray, k: int) -> float:
    """``cohen_kappa_score(yt, yp, weights="quadratic", labels=range(k))`` of scikit-learn
    1.x, step by step, for int64 grades ``yt``, ``yp`` ``(n,)`` in ``0 .. k-1``; nan where it
    is undefined (scikit-learn warns and returns its ``replace_undefined_by``)."""
    confusion = np.bincount(yt * k + yp, minlength=k * k).reshape(k, k).astype(np.float64)
    sum0 = np.sum(confusion, axis=0)
    sum1 = np.sum(confusion, axis=1)
    total = np.sum(sum0)
    if total == 0:
        return float("nan")
    expected = np.outer(sum0, sum1) / total
    w_mat = np.zeros([k, k], dtype=np.float64)
    w_mat += np.arange(k)
    w_mat = (w_mat - w_mat.T) ** 2
    numerator = np.sum(w_mat * confusion)
    denominator = np.sum(w_mat * expected)
    if denominator == 0:
        return float("nan")
    value = float(1 - numerator / denominator)
    return value if math.isfinite(value) else float("nan")


def auc_undefined_reason(y_true: Any, probs: Any) -> str | None:
    """Why the macro one-vs-one AUC is undefined for these data, or None when it is defined.

    One-vs-one AUC needs every grade ``0 .. K-1`` (``K = probs.shape[1]``) in ``y_true``.
    scikit-learn (checked on 1.9.1) raises without ``labels=``; with ``labels=`` given, its
    one-vs-one average silently leaves out the pairs of the missing grade (a perfectly
    separated sample of two of three grades scores 1.0, no warning) and its one-vs-rest warns
    and gives nan. Neither says which grade is missing, so ``macro_ovo_auc`` returns nan and
    this says why. ``y_true``: grades ``(n,)``; ``probs``: ``(n, K)`` (only its ``K`` is read).

    Raises:
        ValueError: ``y_true`` not 1-D non-negative integer grades (as
            :func:`quadratic_weighted_kappa`); ``probs`` not 2-D (a number of grades given
            in its place).
    """
    yt = _as_grades(y_true, "y_true", _columns(probs))
    if np.ndim(probs) != 2:
        raise ValueError(f"probs must have shape (n, K), got {np.shape(probs)}: pass the "
                         f"probabilities (only their K is read), not the number of grades")
    num_classes = np.asarray(probs).shape[-1]
    if yt.size and yt.max() >= num_classes:
        return f"y_true holds grade {yt.max()} but probs has only {num_classes} columns"
    missing = sorted(set(range(num_classes)) - set(yt.tolist()))
    if missing:
        return (f"grade(s) {missing} absent from y_true ({yt.size} samples): one-vs-one AUC "
                "needs every grade (one fold may lack a rare grade: pool the out-of-fold "
                "predictions; if all the labelled images lack it, check that data.grades is the "
                "scale of the labels)")
    return None


def _macro_auc(y_true: Any, probs: Any, multi_class: str) -> float:
    """sklearn's macro ``multi_class`` ("ovo" / "ovr") AUC over all K grades, nan when undefined;
    for K = 2 the binary AUC of ``P1`` (which both averages equal; sklearn's multi-class path
    refuses two columns)."""
    yt = _as_grades(y_true, "y_true", _columns(probs))
    p = _as_probs(probs, n=yt.size)
    _check_grades_within(yt, p.shape[1], "y_true")
    if auc_undefined_reason(yt, p) is not None:
        return float("nan")
    if p.shape[1] == 2:  # two grades: one-vs-one and one-vs-rest are both the AUC of P1
        return float(roc_auc_score(yt == 1, p[:, 1]))
    return float(roc_auc_score(yt, p, average="macro", multi_class=multi_class,
                               labels=np.arange(p.shape[1])))


def macro_ovo_auc(y_true: Any, probs: Any) -> float:
    """Macro one-vs-one ROC AUC (Hand & Till 2001), the DRAC Task 3 tie-breaker.

    ``y_true``: grades ``(n,)``; ``probs``: ``(n, K)`` class probabilities, rows sum to 1
    (rows off by < 1e-3 are renormalised). Computed with
    ``sklearn.metrics.roc_auc_score(average="macro", multi_class="ovo")``.

    Returns ``float("nan")`` when a grade is absent from ``y_true`` (common in a small
    fold); ``auc_undefined_reason(y_true, probs)`` gives the reason as a string.
    Raises ValueError for malformed input (shape mismatch, NaN, values outside [0, 1], a
    grade in ``y_true`` >= K, the number of columns).
    """
    return _macro_auc(y_true, probs, "ovo")


def macro_ovr_auc(y_true: Any, probs: Any) -> float:
    """Macro one-vs-rest ROC AUC: the mean over grades ``k`` of the AUC of ``P_k`` for
    ``y == k`` against ``y != k`` (the "AUC" of the MedMNIST benchmarks): the class-reference
    AUCs of Provost & Domingos 2000 ("Well-trained PETs: improving probability estimation
    trees", CeDER working paper IS-00-04, NYU), averaged without their prevalence weights
    (Fawcett 2006, "An introduction to ROC analysis", Pattern Recognition Letters
    27(8):861-874, sec. 9.2).

    ``y_true``: grades ``(n,)``; ``probs``: ``(n, K)``, rows sum to 1. Computed with
    ``sklearn.metrics.roc_auc_score(average="macro", multi_class="ovr")``. Returns nan when
    a grade is absent from ``y_true`` (see :func:`auc_undefined_reason`); ValueError for
    malformed input, as :func:`macro_ovo_auc`.
    """
    return _macro_auc(y_true, probs, "ovr")


def binary_screening(y_true: Any, pred: Any) -> dict[str, float]:
    """Sensitivity and specificity of a two-grade decision (grade 1 = the condition, e.g.
    referable DR): ``sensitivity`` = recall of grade 1 (TP / (TP + FN)), ``specificity`` =
    recall of grade 0 (TN / (TN + FP)), from ``sklearn.metrics.recall_score``.

    ``y_true``, ``pred``: grades ``(n,)`` in {0, 1}, or bool arrays (True = grade 1). A figure is nan when its grade has no
    image in ``y_true``. Raises ValueError for a grade outside {0, 1}."""
    yt = _as_grades(y_true, "y_true", 2)
    yp = _as_grades(pred, "pred", 2)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true {yt.shape} and pred {yp.shape} differ in shape")
    if yt.size and max(int(yt.max()), int(yp.max())) > 1:
        raise ValueError("binary_screening is for two grades (0 and 1); got a grade above 1")

    def recall(label: int) -> float:
        if not np.any(yt == label):
            return float("nan")
        return float(recall_score(yt, yp, pos_label=label, labels=[label], average="binary"))

    return {"sensitivity": recall(1), "specificity": recall(0)}


def screening_sensitivity(y_true: Any, pred: Any) -> float:
    """The sensitivity of a two-grade decision, :func:`binary_screening`'s (grades ``(n,)`` in
    {0, 1}; nan without an image of grade 1): a metric for :func:`bootstrap_ci`, which scores
    its resamples from counts.

    Raises:
        ValueError: as :func:`binary_screening`: grades not 1-D integers, a grade outside
            {0, 1}, or ``y_true`` and ``pred`` of different shapes."""
    return binary_screening(y_true, pred)["sensitivity"]


def screening_specificity(y_true: Any, pred: Any) -> float:
    """The specificity of a two-grade decision, :func:`binary_screening`'s (grades ``(n,)`` in
    {0, 1}; nan without an image of grade 0): a metric for :func:`bootstrap_ci`, which scores
    its resamples from counts.

    Raises:
        ValueError: as :func:`screening_sensitivity`."""
    return binary_screening(y_true, pred)["specificity"]


def p_referable(probs: Any, from_grade: int) -> np.ndarray:
    """``(n,)`` float64 P(referable): each row of ``probs`` ``(n, K)`` summed over the grades
    ``from_grade``..K-1 (ICDR: 2 = moderate NPDR or worse). The one definition that the
    bundle's referral (:meth:`drac_ssl.grading.model.ReferralTarget.probability`), the screening
    figures, ``oof.csv``'s ``P_referable`` and ``export --score`` use. Not clipped: a caller
    needing [0, 1] clips (float sums may exceed 1 by an ulp).

    Raises:
        ValueError: ``probs`` is not ``(n, K)`` rows of probabilities that sum to 1 (logits,
            NaN), or ``from_grade`` is not an integer in ``1 .. K-1`` (0 would make every image
            referable, K or above none, and a negative index only the last grades)."""
    k = _as_probs(probs).shape[1]  # the check only: the sum is of the values as given, unrenormalised
    r = _check_referable_cut(from_grade, k, None)
    return np.asarray(probs, dtype=np.float64)[:, r:].sum(axis=1)


def referable_words(from_grade: int, class_names: Sequence[str] | None = None) -> str:
    """The referable rule in words: ``'referable = grade >= 2 (Moderate or worse)'`` with the
    scale's ``class_names`` (grade ``g`` -> name), ``'referable = grade >= 2'`` without; on a
    two-grade scale ``'referable = grade 1 (referable)'`` (there is no worse grade)."""
    r = int(from_grade)
    if class_names is not None and len(class_names) == 2 and r == 1:
        return f"referable = grade 1 ({class_names[1]})"
    if class_names is not None and 0 <= r < len(class_names):
        return f"referable = grade >= {r} ({class_names[r]} or worse)"
    return f"referable = grade >= {r}"


def _check_referable_cut(from_grade: Any, num_grades: int, class_names: Sequence[str] | None) -> int:
    """``from_grade`` as an int in ``1 .. K-1``, or ValueError naming the scale."""
    names = list(class_names) if class_names is not None else list(default_grade_names(num_grades))
    if isinstance(from_grade, bool) or not isinstance(from_grade, int | np.integer) or \
            not 1 <= int(from_grade) <= num_grades - 1:
        raise ValueError(f"referable from grade >= {from_grade!r}: the cut must be 1..{num_grades - 1} "
                         f"on the {num_grades}-grade scale ({', '.join(f'{g} {n}' for g, n in enumerate(names))}); "
                         f"grade 0 or above is every image, and above {num_grades - 1} none")
    return int(from_grade)


OPERATING_LEVEL = 0.90
"""The sensitivity / specificity level of :func:`referable_report`'s operating points."""

WILSON_BELOW = 5
"""A sensitivity or specificity ``x / n`` with fewer than this many images on either side of
its count (``x`` or ``n - x`` below it: 15/15, 1/1, 2/40) gets the Wilson score interval
(:func:`wilson_interval`) instead of the bootstrap's in :func:`referable_report`: there the
percentile bootstrap collapses ([1, 1] for 15/15) or is too narrow, and the usual rule of
thumb for a normal approximation (``n p`` and ``n (1 - p)`` of at least 5) fails."""


def wilson_interval(successes: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """The Wilson score ``(1 - alpha)`` interval of a proportion ``successes / n`` (Wilson,
    JASA 1927; recommended for small samples and proportions near 0 or 1 by Brown, Cai &
    DasGupta, Statistical Science 2001): never of width 0, inside [0, 1]; 15/15 gives
    0.796..1.000, 0/1 gives 0.000..0.793. ``successes`` and ``n`` may be fractional (an
    effective sample size). ``(nan, nan)`` for ``n <= 0``. Raises ValueError for ``alpha``
    outside (0, 1) or ``successes`` outside ``0 .. n``."""
    from statistics import NormalDist

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in 0..n ({n}), got {successes}")
    z = NormalDist().inv_cdf(1 - alpha / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # exact at the ends: 15/15's upper bound is 1, not 0.9999999999999999
    return (0.0 if successes == 0 else max(0.0, centre - half),
            1.0 if successes == n else min(1.0, centre + half))


def kish_effective_n(groups: Any) -> float:
    """Kish's effective sample size ``(sum m_i)^2 / sum(m_i^2)`` of images clustered in
    patients, ``groups`` ``(n,)`` a patient id per image, ``m_i`` each patient's number of
    images (Kish, Survey Sampling 1965, the design effect of unequal cluster sizes with
    images of one patient taken as fully correlated): between 1 and the number of patients,
    equal to it when every patient has the same number of images; 15 images from 8 patients
    of sizes 8, 1, 1, 1, 1, 1, 1, 1 give 225 / 71 = 3.17. 0.0 for no images."""
    sizes = np.unique(np.asarray(groups), return_counts=True)[1].astype(np.float64)
    return float(sizes.sum() ** 2 / (sizes ** 2).sum()) if sizes.size else 0.0


def _screening_interval(hits: np.ndarray, groups: np.ndarray | None, boot: list[float],
                        n_boot: int, alpha: float) -> tuple[list[float], str, int | None, float | None]:
    """The interval of one screening figure, ``hits`` ``(n,)`` 0/1 (1: the image was found /
    cleared) over the images of its side, ``groups`` their patient ids (None: independent),
    ``boot`` its bootstrap interval: ``(interval, method, units, n_eff)``. The bootstrap's
    (``"bootstrap"``) unless the count is small (:data:`WILSON_BELOW`) or the bootstrap's
    interval has width 0 or is missing: then the Wilson score interval (:func:`wilson_interval`)
    of ``x / n`` (``"wilson"``, ``units`` and ``n_eff`` None) or, with patients, of the same
    proportion on Kish's effective sample size of these images (:func:`kish_effective_n`,
    ``x`` scaled by ``n_eff / n``; ``"wilson_patients"``, ``units`` the number of patients
    among these images, ``n_eff`` the effective size): a patient's images are not
    independent, and ``n_eff`` counts a patient with many images as less than that many;
    it is at most the number of patients, equal only when every patient has as many images.
    No interval (nan) without ``n_boot`` or images."""
    n, x = int(hits.size), int(hits.sum())
    if n_boot <= 0 or n == 0:
        return [float("nan"), float("nan")], "bootstrap", None, None
    collapsed = not all(math.isfinite(v) for v in boot) or boot[0] == boot[1]
    if not collapsed and x >= WILSON_BELOW and n - x >= WILSON_BELOW:
        return boot, "bootstrap", None, None
    if groups is None:
        return [float(v) for v in wilson_interval(x, n, alpha)], "wilson", None, None
    units = int(np.unique(groups).size)
    n_eff = kish_effective_n(groups)
    # x / n * n_eff can pass n_eff by a rounding error at x == n
    successes = n_eff if x == n else x / n * n_eff
    return ([float(v) for v in wilson_interval(successes, n_eff, alpha)], "wilson_patients", units,
            n_eff)


def operating_cut(truth: Any, score: Any, metric: str, level: float) -> tuple[float, float, float]:
    """The cut ``c`` on ``score`` (refer when ``score >= c``) that reaches ``metric >= level``
    on these images with the best other figure, read off the ROC curve
    (``sklearn.metrics.roc_curve`` with every cut point, ``drop_intermediate=False``): for
    ``metric="sensitivity"`` the most specific cut whose sensitivity is at least ``level``, and
    of the cuts with that specificity the most sensitive (the lowest); for ``"specificity"`` the
    most sensitive cut whose specificity is at least ``level``, and of the cuts with that
    sensitivity the most specific (the highest). No other cut beats it on both figures (a flat
    stretch of the ROC curve: the highest cut reaching sensitivity 0.9 can have the
    specificity of a lower cut that finds every referable image); ``level`` is compared with a
    tolerance of 1e-12.

    Args:
        truth: ``(n,)`` 0/1 (or bool), 1 = referable.
        score: ``(n,)`` the referral score, e.g. P(referable) = P_r + ... + P_{K-1}.
        metric: ``sensitivity`` or ``specificity``.
        level: in (0, 1).

    Returns:
        ``(cut, sensitivity, specificity)``: the cut is one of ``score``'s values (so
        ``score >= cut`` gives exactly these figures on these images), or, where no image can
        be referred (a specificity level that only referring none reaches), the next float
        above the largest score; ``(nan, nan, nan)`` when the images are all on one side.
        The cut is chosen on the images it is scored on: its figures here are in-sample.

    Raises:
        ValueError: another ``metric``, ``level`` outside (0, 1), shapes that differ.
    """
    if metric not in ("sensitivity", "specificity"):
        raise ValueError(f"operating_cut: metric must be sensitivity or specificity, got {metric!r}")
    if not 0 < level < 1:
        raise ValueError(f"operating_cut: level must be in (0, 1), got {level}")
    t = np.asarray(truth).astype(bool).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    if t.shape != s.shape:
        raise ValueError(f"operating_cut: truth {t.shape} and score {s.shape} differ in shape")
    if not t.any() or t.all():
        return float("nan"), float("nan"), float("nan")
    fpr, tpr, cuts = roc_curve(t.astype(np.int64), s, drop_intermediate=False)
    spec = 1.0 - fpr
    # the points run from the highest cut down, fpr and tpr never falling; where the curve is
    # flat (several cuts of one fpr, or of one tpr) the first point reaching the level can be
    # beaten on both figures by a neighbour: take the best of its flat stretch (review F3)
    if metric == "sensitivity":  # the first point reaching the level: the lowest fpr that does;
        first = int(np.flatnonzero(tpr >= level - 1e-12)[0])
        i = int(np.flatnonzero(fpr == fpr[first])[-1])  # at that fpr, the highest tpr
    else:  # the last point keeping the specificity level: the highest tpr that does;
        last = int(np.flatnonzero(spec >= level - 1e-12)[-1])
        i = int(np.flatnonzero(tpr == tpr[last])[0])  # at that tpr, the lowest fpr
    cut = float(cuts[i])
    if not math.isfinite(cut):  # roc_curve's first point refers none: a cut above every score
        cut = float(np.nextafter(float(s.max()), np.inf))
    return cut, float(tpr[i]), float(spec[i])


_OOF_OPERATING_POINTS = ("sensitivity_at_specificity_90_cut / specificity_at_sensitivity_90_cut: the "
                         "P(referable) cut of each operating point (P_r + ... + P_{K-1} of oof.csv's "
                         "probabilities at or above the cut gives its figures there), chosen on the same "
                         "out-of-fold predictions it is scored on: in-sample, so its figures are "
                         "optimistic for new images; on oof.csv's cross-fitted probabilities (each fold's "
                         "temperature), not the bundle's, so not a rule for new images: ")

OPERATING_POINTS_NOTE = (_OOF_OPERATING_POINTS + "to refer new images, set finetune.referral_target, which "
                         "cross-fits a cut and stores it in the bundle")
"""What :func:`referable_report`'s operating-point cuts are, stored beside them
(``operating_points_note``), for a run without ``finetune.referral_target``; with it,
:data:`OPERATING_POINTS_NOTE_REFERRAL` (:func:`operating_points_note`)."""

OPERATING_POINTS_NOTE_REFERRAL = (_OOF_OPERATING_POINTS + "new images are referred by the referral cut of "
                                  "finetune.referral_target, cross-fitted and stored in the bundle (referral)")
""":data:`OPERATING_POINTS_NOTE` of a run with ``finetune.referral_target`` set: the advice to
set it would be wrong there, as in the console's words (:data:`OPERATING_CUTS_SCALE_REFERRAL`)."""


def referral_set(referable: dict[str, Any]) -> bool:
    """Whether a :func:`referable_report` (as returned, or read back from ``metrics.json``)
    carries the figures of ``finetune.referral_target``'s cut (``referral``): the one test of
    the console's, report.md's and the model card's words (:func:`referable_summary`,
    :func:`two_grade_summary`) and of the note stored in ``metrics.json``
    (:func:`operating_points_note`)."""
    return isinstance(referable.get("referral"), dict)


def operating_points_note(referable: dict[str, Any]) -> str:
    """The ``operating_points_note`` of a run's referable figures: :data:`OPERATING_POINTS_NOTE`,
    or :data:`OPERATING_POINTS_NOTE_REFERRAL` when ``finetune.referral_target`` is set
    (:func:`referral_set`); the fine-tuning stores it once the referral's figures are attached
    (a final read: ``metrics.json`` advised setting the target where it was set)."""
    return OPERATING_POINTS_NOTE_REFERRAL if referral_set(referable) else OPERATING_POINTS_NOTE


def _decided_screening(truth: np.ndarray, decided: np.ndarray, n_boot: int, alpha: float, seed: int,
                       groups: Any) -> dict[str, Any]:
    """Sensitivity and specificity of a referral decision ``decided`` ``(n,)`` 0/1 against
    ``truth`` ``(n,)`` 0/1, with their counts and intervals, as :func:`referable_report` gives
    them (the bootstrap of ``n_boot`` resamples from ``seed``, ``groups`` the patients; the
    Wilson interval for a small count: :func:`_screening_interval`)."""
    ids = None if groups is None else np.asarray(groups)
    screening_ci: dict[str, Any] = {}
    for name, metric, side in (("sensitivity", screening_sensitivity, 1),
                               ("specificity", screening_specificity, 0)):
        boot = ([float(v) for v in bootstrap_ci(truth, decided, metric, n_boot=n_boot, alpha=alpha,
                                                seed=seed, groups=groups)]
                if n_boot > 0 else [float("nan"), float("nan")])
        on = truth == side
        hits = (decided[on] == side).astype(np.int64)
        interval, method, units, n_eff = _screening_interval(hits, None if ids is None else ids[on],
                                                             boot, n_boot, alpha)
        screening_ci.update({f"{name}_ci95": interval, f"{name}_counts": [int(hits.sum()), int(hits.size)],
                             f"{name}_ci_method": method, f"{name}_ci_units": units,
                             f"{name}_ci_n_eff": n_eff})
    return {**binary_screening(truth, decided), **screening_ci}


def _referral_decisions(referred: Any, yt: np.ndarray) -> np.ndarray:
    """``referred`` (one 0/1 decision per image of ``yt``) as int64; ValueError for another
    shape or a value not 0/1."""
    decided = np.asarray(referred)
    if decided.shape != yt.shape:
        raise ValueError(f"y_true {yt.shape} and referred {decided.shape} differ in shape")
    if decided.size and not np.isin(decided, (0, 1)).all():
        raise ValueError("referred must hold 0 (not referred) or 1 (referred) per image")
    return decided.astype(np.int64)


def decision_screening(y_true: Any, referred: Any, from_grade: int, n_boot: int = 0, alpha: float = 0.05,
                       seed: int = 0, groups: Any = None) -> dict[str, Any]:
    """Sensitivity and specificity of a referral decision already made, e.g. a bundle's stored
    referral cut applied to new images (``export --score``: the cut re-used, not re-fitted),
    with their counts and 95% intervals as :func:`referable_report` gives them for the
    submitted grades (the bootstrap of ``n_boot`` resamples from ``seed``, the cluster
    bootstrap with ``groups``; the Wilson score interval for a small count or a collapsed
    bootstrap: :func:`_screening_interval`).

    Args:
        y_true: true grades ``(n,)``, integers ``0 .. K-1`` (a bool referable flag for
            ``from_grade=1``).
        referred: ``(n,)`` 0/1, 1 = referred.
        from_grade: ``r``, the lowest referable grade (truth: ``y_true >= r``), ``>= 1``.
        n_boot, alpha, seed, groups: the intervals, as :func:`referable_report`'s.

    Returns:
        ``from_grade``, ``n_referable`` / ``n_not`` (true grade ``>= r`` / below),
        ``n_referred`` (images referred), and :func:`referable_report`'s ``sensitivity`` /
        ``specificity`` keys with ``_counts``, ``_ci95``, ``_ci_method``, ``_ci_units`` and
        ``_ci_n_eff`` (nan, and no interval, for a side without images).

    Raises:
        ValueError: malformed grades, shapes that differ, a ``referred`` value not 0/1, a
            ``from_grade`` below 1, a bool ``y_true`` (a referable flag) with ``from_grade >= 2``.
    """
    r = _check_from_grade(from_grade)
    yt = _referral_truth(y_true, r)
    decided = _referral_decisions(referred, yt)
    truth = (yt >= r).astype(np.int64)
    return {"from_grade": r, "n_referable": int(truth.sum()), "n_not": int(truth.size - truth.sum()),
            "n_referred": int(decided.sum()), **_decided_screening(truth, decided, n_boot, alpha, seed, groups)}


def recall_intervals(y_true: Any, pred: Any, num_grades: int, alpha: float = 0.05,
                     groups: Any = None) -> list[dict[str, Any]]:
    """Each grade's recall (sensitivity: the share of its true images given that grade) with
    its Wilson score ``(1 - alpha)`` interval (:func:`wilson_interval`), or, with ``groups``
    (a patient id per image), the Wilson interval of the same proportion on Kish's effective
    sample size of that grade's images (:func:`kish_effective_n`), the small-count rule of
    :func:`referable_report`'s sensitivity (:func:`_screening_interval`); per-grade counts of an
    external validation are small, where the percentile bootstrap collapses.

    Args:
        y_true: true grades ``(n,)``; pred: the submitted grades ``(n,)``; both ``0 .. K-1``.
        num_grades: K.
        alpha, groups: as above.

    Returns:
        One dict per grade ``0 .. K-1``: ``grade``, ``n`` (true images), ``hits`` (of them given
        it), ``given`` (images given it), ``recall`` (nan for ``n == 0``), ``recall_ci95``
        (``[nan, nan]`` for ``n == 0``), ``ci_method`` (``wilson`` or ``wilson_patients``),
        ``ci_n_eff`` (the effective size, ``wilson_patients`` only, else None) and ``ci_units``
        (the patients among the grade's images, ``wilson_patients`` only, else None).

    Raises:
        ValueError: malformed grades, lengths that differ, a grade ``>= num_grades``,
            ``num_grades`` no whole number.
    """
    k = _whole_grades(num_grades)
    yt, yp = _as_grades(y_true, "y_true", k), _as_grades(pred, "pred", k)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true {yt.shape} and pred {yp.shape} differ in shape")
    _check_grades_within(yt, k, "y_true", scale_given=True)
    _check_grades_within(yp, k, "pred", scale_given=True)
    ids = None if groups is None else np.asarray(groups)
    out: list[dict[str, Any]] = []
    for g in range(k):
        on = yt == g
        hits = (yp[on] == g).astype(np.int64)
        nan2 = [float("nan"), float("nan")]
        # no bootstrap interval given (n_boot 1, nan): the Wilson interval, by images or patients
        interval, method, units, n_eff = (_screening_interval(hits, None if ids is None else ids[on], nan2, 1,
                                                              alpha) if hits.size else (nan2, "wilson", None, None))
        out.append({"grade": g, "n": int(hits.size), "hits": int(hits.sum()), "given": int((yp == g).sum()),
                    "recall": float(hits.mean()) if hits.size else float("nan"), "recall_ci95": interval,
                    "ci_method": method, "ci_n_eff": n_eff, "ci_units": units})
    return out


def patient_referral(patients: Any, referable: Any, p_referable: Any, referred: Any
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The per-patient screening rule, from per-image arrays (pure: no I/O, no randomness).

    A patient is *referable* if any of their images is (worse eye: the usual truth of a
    screening programme, which grades the visit by its worse eye), *referred* if any of their
    images is referred, and their score is ``P_patient = max P(referable)`` over their images
    (so referring when ``P_patient >= c`` is referring when any image is at or above ``c``).

    Args:
        patients: ``(n,)`` one patient id per image (any hashable text); a blank id (``""``,
            None, or text of spaces only: oof.csv's cell for an image whose patient is unknown)
            is a patient of its own per image, never one patient of all the blank ones.
        referable: ``(n,)`` 0/1, each image's truth (grade ``>= r``).
        p_referable: ``(n,)`` float, each image's ``P(referable)``.
        referred: ``(n,)`` 0/1, each image's referral decision.

    Returns:
        ``(units, truth, score, decided)``, each ``(m,)`` for the ``m`` distinct patients in
        sorted order of their ids: the ids (str), the worse-eye truth (int64 0/1), the
        maximum P(referable) (float64) and the any-image referral (int64 0/1).

    Raises:
        ValueError: arrays of different lengths, a ``referable`` or ``referred`` value not 0/1.
    """
    ids = np.asarray([_patient_id(p, i) for i, p in enumerate(np.asarray(patients, dtype=object).ravel())],
                     dtype=object)
    truth = np.asarray(referable).ravel()
    score = np.asarray(p_referable, dtype=np.float64).ravel()
    decided = np.asarray(referred).ravel()
    if not ids.size == truth.size == score.size == decided.size:
        raise ValueError(f"patients ({ids.size}), referable ({truth.size}), p_referable ({score.size}) "
                         f"and referred ({decided.size}) must have one value per image each")
    for name, values in (("referable", truth), ("referred", decided)):
        bad = np.flatnonzero(~np.isin(values, (0, 1)))
        if bad.size:
            first = values[bad[0]].item() if isinstance(values[bad[0]], np.generic) else values[bad[0]]
            raise ValueError(f"{name} must hold 0 or 1 per image; image {int(bad[0])} (0-based) holds "
                             f"{first!r}" + (f", and {bad.size - 1} more image(s) other values" if bad.size > 1 else "")
                             + ": give each image's 0/1 (1: referable / referred)")
    units, inverse = np.unique(ids.astype(str), return_inverse=True)
    m = units.size
    out_truth = np.zeros(m, dtype=np.int64)
    out_decided = np.zeros(m, dtype=np.int64)
    out_score = np.full(m, -np.inf)
    np.maximum.at(out_truth, inverse, truth.astype(np.int64))
    np.maximum.at(out_decided, inverse, decided.astype(np.int64))
    np.maximum.at(out_score, inverse, score)
    return units.astype(str), out_truth, out_score, out_decided


def _patient_id(patient: Any, position: int) -> str:
    """A patient id as text; a blank one (None, ``""``, spaces, NaN as pandas reads an empty
    cell) the image's own, ``"\\0image <position>"`` (no real id starts with a NUL)."""
    # not resampling_unit / data_prep.folds.patient_unit: callers pass their units or raw cells (NaN, spaces), by position
    if patient is None or (isinstance(patient, float) and math.isnan(patient)) or not str(patient).strip():
        return f"\0image {position}"
    return str(patient)


PER_PATIENT_RULE = ("per patient, on the gradable images only: a patient is referable if any of their images "
                    "is (worse eye), referred if any of their images is referred, scored by the maximum "
                    "P(referable) over their images; an image left out as ungradable counts for nothing, so "
                    "a patient with one is judged on their other images and a patient with none gradable is "
                    "not counted (n_patients_image_left_out, n_patients_none_gradable)")
"""The words of :func:`patient_screening`'s rule (metrics.json's ``per_patient.rule``)."""

UNGRADABLE_RECALL = ("screening programmes usually recall a patient with an ungradable image, to "
                     "re-photograph or refer them")
"""Said beside the counts of patients with images left out as ungradable (:func:`patient_screening_summary`)."""


def patient_screening(y_true: Any, p_referable: Any, referred: Any, from_grade: int, patients: Any,
                      n_boot: int = 0, alpha: float = 0.05, seed: int = 0,
                      cut_words: str = "", left_out: Any = None) -> dict[str, Any]:
    """The per-patient referral figures beside the per-image ones (:func:`patient_referral`'s
    rule), as a JSON-ready dict (metrics.json's ``referable.per_patient``, ``export --score``'s).

    Args:
        y_true: true grades ``(n,)`` per image, ``0 .. K-1``.
        p_referable: ``(n,)`` each image's ``P(referable) = P_r + ... + P_{K-1}``, in [0, 1].
        referred: ``(n,)`` 0/1 per image, the decision as deployed (the submitted grades
            ``>= r``, or the referral cut: out of fold each fold's own cut).
        from_grade: ``r >= 1``.
        patients: ``(n,)`` patient id per image (unknown: a unique id per image).
        n_boot, alpha, seed: the intervals: the patients are the units, each independent, so
            the bootstrap resamples patients (:func:`bootstrap_ci` without groups on the
            per-patient arrays), the Wilson score interval for a small count.
        cut_words: what referred an image, for ``referred_by`` (e.g. ``each fold's own
            referral cut``); "" the submitted grades.
        left_out: the patient of each image left out as ungradable (no true grade:
            ``data.ungradable=leave_out``, ``export --score --ungradable leave_out``), ids as
            ``patients``' (a blank one its own patient); ``[]`` none was; None: not known (an
            older ingest), the three counts below are then None. The figures are on the
            gradable images only: these images count for nothing.

    Returns:
        ``unit`` (``"patients"``), ``rule`` (:data:`PER_PATIENT_RULE`), ``referred_by``,
        ``n_patients``, ``n_images``, ``from_grade``, ``n_referable`` / ``n_not`` /
        ``n_referred`` (patients), ``auc`` of the patients' max P(referable) with ``auc_ci95``
        (nan with a side empty), and :func:`referable_report`'s ``sensitivity`` /
        ``specificity`` keys (``_counts`` in patients, ``_ci95``, ``_ci_method``);
        ``n_images_left_out`` (``left_out``'s images), ``n_patients_image_left_out`` (patients
        counted here with at least one image left out: judged on their other images) and
        ``n_patients_none_gradable`` (patients whose every image was left out: not counted).

    Raises:
        ValueError: as :func:`patient_referral`, malformed grades, ``from_grade`` below 1,
            a bool ``y_true`` (a referable flag) with ``from_grade >= 2``, ``p_referable`` of
            another length or not finite.
    """
    r = _check_from_grade(from_grade)
    yt = _referral_truth(y_true, r)
    s = np.clip(np.asarray(p_referable, dtype=np.float64).ravel(), 0.0, 1.0)
    if s.shape != yt.shape or not np.isfinite(s).all():
        raise ValueError(f"p_referable must hold one finite number per image ({yt.size}), got shape {s.shape}")
    decided = _referral_decisions(referred, yt)
    units, truth, score, by_patient = patient_referral(patients, (yt >= r).astype(np.int64), s, decided)
    n_ref = int(truth.sum())
    n_not = int(truth.size - n_ref)
    auc = float("nan")
    ci = [float("nan"), float("nan")]
    auc_note = (None if n_ref and n_not else
                f"{'every one' if n_ref else 'none'} of the {units.size} patients is referable: the AUC needs both")
    if n_ref and n_not:
        auc = float(roc_auc_score(truth, score))
        if n_boot > 0:
            two = np.stack([1.0 - score, score], axis=1)
            *ci, _ = bootstrap_ci_counted(truth, two, macro_ovr_auc, n_boot=n_boot, alpha=alpha, seed=seed)
    if left_out is None:
        n_out = with_out = none_gradable = None
    else:
        out_ids = {_patient_id(p, -1 - i) for i, p in enumerate(np.asarray(left_out, dtype=object).ravel())}
        n_out = int(np.asarray(left_out, dtype=object).size)
        counted_ids = set(units.tolist())
        with_out = len(out_ids & counted_ids)
        none_gradable = len(out_ids - counted_ids)
    return {"unit": "patients", "rule": PER_PATIENT_RULE,
            "referred_by": cut_words or f"the submitted grades (grade >= {r})",
            "n_patients": int(units.size), "n_images": int(yt.size), "from_grade": r,
            "n_images_left_out": n_out, "n_patients_image_left_out": with_out,
            "n_patients_none_gradable": none_gradable,
            "n_referable": n_ref, "n_not": n_not, "n_referred": int(by_patient.sum()),
            "auc": auc, "auc_note": auc_note, "auc_ci95": [float(ci[0]), float(ci[1])],
            **_decided_screening(truth, by_patient, n_boot, alpha, seed, None)}


def patient_screening_summary(block: dict[str, Any]) -> str:
    """One sentence of :func:`patient_screening`'s figures (as returned or read back from
    JSON), every count with its unit: ``'per patient, gradable images only (worse eye: a patient is referable if any
    of their images is, referred if any of their images is referred at each fold's own
    referral cut), 100 patients (200 images), 40 referable patients and 60 not: 45 of 100
    patients referred; sensitivity 0.950 (38/40 patients; 95% CI ...), specificity ...; AUC
    of the patients' max P(referable) 0.910'``."""
    auc = figure_text(block.get("auc"))
    shown = format_ci(*(list(block.get("auc_ci95") or [None, None]) + [None, None])[:2])
    return (f"per patient, gradable images only (worse eye: a patient is referable if any of their images is, referred if any of "
            f"their images is referred by {block.get('referred_by', '?')}), {block.get('n_patients', '?')} "
            f"patients ({block.get('n_images', '?')} images), {block.get('n_referable', '?')} referable "
            f"patients and {block.get('n_not', '?')} not: {block.get('n_referred', '?')} of "
            f"{block.get('n_patients', '?')} patients referred; {screening_figures_words(block, unit='patients')}"
            f"; AUC of the patients' max P(referable) {auc}"
            + (f" ({block['auc_note']})" if auc == MISSING and block.get("auc_note") else "")
            + (f" (95% CI {shown})" if shown != MISSING else "")
            + _left_out_patients_words(block))


def _left_out_patients_words(block: dict[str, Any]) -> str:
    """``'; gradable images only: 3 images left out as ungradable, 2 patients counted here
    judged on their other images, 1 patient with no gradable image not counted (screening
    programmes usually recall ...)'``; ``''`` when none was left out or it is not known."""
    n_out = block.get("n_images_left_out")
    if not isinstance(n_out, int) or n_out <= 0:
        return ""
    with_out, none = block.get("n_patients_image_left_out") or 0, block.get("n_patients_none_gradable") or 0
    return (f"; gradable images only: {counted_units(n_out, 'image')} left out as ungradable, "
            f"{counted_units(with_out, 'patient')} counted here judged on their other images, "
            f"{counted_units(none, 'patient')} with no gradable image not counted ({UNGRADABLE_RECALL})")


REFERRAL_RULE = "referral"
"""The key of metrics.json's ``decision_rules`` that holds the figures of the grades a referral
cut gave (two grades and ``finetune.referral_target``: the cut is the grade decision), beside
each rule of ``finetune.decision`` alone; absent otherwise."""


def referral_report(y_true: Any, referred: Any, from_grade: int, metric: str, level: float, cut: float,
                    fold_cuts: dict[int, float], n_boot: int = 0, alpha: float = 0.05, seed: int = 0,
                    groups: Any = None) -> dict[str, Any]:
    """The cross-fitted figures of a referral cut set for a screening target
    (``finetune.referral_target``), as a JSON-ready dict (metrics.json's
    ``referable.referral``).

    Args:
        y_true: true grades ``(n,)``, integers ``0 .. K-1``.
        referred: ``(n,)`` 0/1: each image referred out of fold, P(referable) at or above the
            cut fitted for its fold on the other folds' out-of-fold outputs.
        from_grade: ``r``, the lowest referable grade.
        metric, level: the target (``sensitivity`` or ``specificity`` at least ``level``).
        cut: the deployed cut (fitted on the pooled out-of-fold outputs: what new images are
            referred by; not cross-fitted, only ``fold_cuts`` are).
        fold_cuts: fold -> the cut its images were referred by.
        n_boot, alpha, seed, groups: the intervals, as :func:`referable_report`'s.

    Returns:
        ``target`` (``sensitivity:0.90``), ``metric``, ``level``, ``from_grade``, ``cut``,
        ``fold_cuts`` (fold as text -> cut), the ``sensitivity`` / ``specificity`` reached out
        of fold with counts and 95% CIs (the keys of :func:`referable_report`'s),
        ``target_met_out_of_fold`` (the cross-fitted figure of ``metric`` at least ``level``;
        None when it is undefined) and ``protocol`` in words.

    Raises:
        ValueError: malformed grades, shapes that differ, a ``referred`` value not 0/1, a
            ``from_grade`` below 1, a bool ``y_true`` (a referable flag) with ``from_grade >= 2``.
    """
    r = _check_from_grade(from_grade)
    yt = _referral_truth(y_true, r)
    decided = _referral_decisions(referred, yt)
    truth = (yt >= r).astype(np.int64)
    figures = _decided_screening(truth, decided, n_boot, alpha, seed, groups)
    reached = figures[metric]
    target = f"{metric}:{level_text(level)}"
    return {"target": target, "metric": metric, "level": float(level), "from_grade": r, "cut": float(cut),
            "fold_cuts": {str(f): float(c) for f, c in sorted(fold_cuts.items())},
            **figures,
            "target_met_out_of_fold": None if not math.isfinite(reached) else bool(reached >= level - 1e-12),
            "protocol": (f"finetune.referral_target={target}: refer when P(referable) >= the cut; each "
                         f"fold's images referred by the cut fitted on the other folds' out-of-fold "
                         f"outputs ({_cut_rule_words(metric, level)} there), as the kappa thresholds "
                         f"are cross-fitted; sensitivity and specificity are those reached out of "
                         f"fold, with 95% CIs on the metrics' resamples; cut: fitted by the same rule on the "
                         f"pooled out-of-fold outputs (not cross-fitted), the one new images are referred by")}


def _cut_rule_words(metric: str, level: float) -> str:
    """How :func:`operating_cut` chooses, in words: ``the most specific cut with sensitivity >=
    0.90 (of those, the most sensitive)``."""
    return (f"the most specific cut with sensitivity >= {level_text(level)} (of those, the most sensitive)"
            if metric == "sensitivity" else
            f"the most sensitive cut with specificity >= {level_text(level)} (of those, the most specific)")


def referral_words(referral: dict[str, Any]) -> str:
    """``'sensitivity >= 0.90'``: the target of a stored referral cut (:func:`referral_report`'s
    ``metric`` and ``level``, or a bundle calibration's ``referral``)."""
    level = referral.get("level")
    shown = level_text(float(level)) if isinstance(level, int | float) and not isinstance(level, bool) else "?"
    return f"{referral.get('metric', '?')} >= {shown}"


def cut_text(cut: Any) -> str:
    """A referral cut as stored, 6 decimals (``0.666728``), or :data:`MISSING`: printed beside
    oof.csv's and ``_referable.csv``'s 6-decimal ``P_referable`` (a row at ``0.666728`` is
    referred by a cut of ``0.666728``; ``0.667`` would read as if it were not)."""
    value = finite_number(cut)
    return MISSING if value is None else f"{value:.6f}"


def referral_summary(referral: dict[str, Any]) -> str:
    """One sentence of :func:`referral_report`'s figures (as returned or read back from JSON):
    ``'referral cut for sensitivity >= 0.90 (finetune.referral_target), fold cuts cross-fitted
    (fold 0 0.312000, fold 1 0.287113): out of fold sensitivity 0.897 (...), specificity 0.410
    (...); the deployed cut, P(referable) >= 0.301034, refers new images: it was fitted on the
    pooled out-of-fold outputs of single fold models, while ...'``; cuts to 6 decimals as
    stored (:func:`cut_text`); says when the figure out of fold falls short of the target."""
    cuts = ", ".join(f"fold {f} {cut_text(c)}" for f, c in (referral.get("fold_cuts") or {}).items())
    short = ""
    if referral.get("target_met_out_of_fold") is False:
        short = (" (short of the target out of fold: a cut fitted on some images need not reach it on "
                 "others)")
    return (f"referral cut for {referral_words(referral)} (finetune.referral_target), fold cuts cross-fitted"
            + (f" ({cuts})" if cuts else "")
            + f": out of fold {screening_figures_words(referral)}{short}; the deployed cut, "
            f"P(referable) >= {cut_text(referral.get('cut'))}, refers new images: it was "
            f"{REFERRAL_CUT_ENSEMBLE}")


REFERRAL_CUT_ENSEMBLE = ("fitted on the pooled out-of-fold outputs of single fold models, while new images "
                         "are graded by the fold ensemble (mean of the folds, with flips): its figures on new "
                         "images are not measured here (only the fold cuts are cross-fitted)")
"""Said beside a deployed referral cut (:func:`referral_summary`, report.md, the model card): the
cut was chosen on one fold model's outputs per image, a new image's P(referable) is the fold
ensemble's (docs/design.md, "the ensemble itself has no out-of-fold figure")."""


def referable_report(y_true: Any, probs: Any, pred: Any, from_grade: int,
                     class_names: Sequence[str] | None = None, n_boot: int = 0, alpha: float = 0.05,
                     seed: int = 0, groups: Any = None) -> dict[str, Any]:
    """The referable-DR screening figures of a K-grade grading, as a JSON-ready dict.

    Screening programmes and papers report, beside the ICDR grades, the binary decision
    "referable DR": ICDR grade >= 2, moderate non-proliferative DR or worse (Gulshan et al.,
    JAMA 2016; Krause et al., Ophthalmology 2018; the ICO Guidelines for Diabetic Eye Care).
    Here the cut is ``from_grade`` (``r``), any grade ``1 .. K-1``.

    Args:
        y_true: true grades ``(n,)``, integers ``0 .. K-1``.
        probs: class probabilities ``(n, K)``, rows sum to 1 (``K = probs.shape[1]``).
        pred: the submitted grades ``(n,)`` (the class decision, e.g. thresholded expected
            grades), whose ``pred >= r`` is the screening decision.
        from_grade: ``r``, the lowest referable grade, ``1 <= r <= K-1``.
        class_names: the names of grades ``0 .. K-1`` (for the words; default numbers).
        n_boot, alpha, seed, groups: the percentile bootstrap ``(1 - alpha)`` interval of the
            AUC (:func:`bootstrap_ci`: ``n_boot`` resamples of ``numpy.random.default_rng
            (seed)``; ``groups`` ``(n,)`` a patient id per image: the cluster bootstrap);
            ``n_boot = 0``: no interval (nan, nan).

    Returns:
        ``from_grade``; ``rule`` (:func:`referable_words`); ``n_referable`` / ``n_not``
        (images with ``y >= r`` / below); ``auc``: the ROC AUC (scikit-learn's
        ``roc_auc_score``) of ``P(referable) = P_r + ... + P_{K-1}`` against ``y >= r``, nan
        when one side has no image, ``auc_note`` then says why (else None); ``auc_ci95``
        ``[low, high]``: its bootstrap interval (resamples with one side missing left out, as
        :func:`bootstrap_ci` does; ``auc_ci95_resamples``: how many of the ``n_boot``
        resamples it used, :func:`bootstrap_ci_counted`, None when none was drawn; ``n_boot``
        as given), scored from counts (the binary AUC of ``s`` is the macro
        one-vs-rest AUC of the two columns ``[1 - s, s]``, :func:`macro_ovr_auc`'s counted
        path), so it equals scikit-learn's on each resample; ``sensitivity`` /
        ``specificity``: :func:`binary_screening` of ``pred >= r`` against ``y >= r``, at the
        submitted grades, not at an operating point tuned on ``P(referable)``;
        ``sensitivity_counts`` / ``specificity_counts`` ``[x, n]``: the referable images found
        of those referable, the others cleared of those not; ``sensitivity_ci95`` /
        ``specificity_ci95`` ``[low, high]``: their bootstrap intervals on the same resamples
        as the AUC's (:func:`screening_sensitivity` / :func:`screening_specificity`, scored
        from counts; nan, nan without ``n_boot``), except for a small count (``x`` or
        ``n - x`` below :data:`WILSON_BELOW`: 15/15, 1/1) or a bootstrap interval of width 0,
        where the percentile bootstrap collapses: then the Wilson score interval
        (:func:`wilson_interval`) of ``x / n``, or, with ``groups``, of the same proportion
        on Kish's effective sample size of those images (:func:`kish_effective_n`:
        ``(sum m_i)^2 / sum(m_i^2)`` over their patients' image counts ``m_i``, at most the
        number of patients; an image-level Wilson interval would treat a patient's two eyes
        as independent, and the number of patients overstates it when patients have unequal
        numbers of images); ``sensitivity_ci_method`` / ``specificity_ci_method`` say which
        (``bootstrap``, ``wilson``, ``wilson_patients``), ``sensitivity_ci_units`` /
        ``specificity_ci_units`` the patients among those images and
        ``sensitivity_ci_n_eff`` / ``specificity_ci_n_eff`` the effective size
        (``wilson_patients`` only, else None);
        ``sensitivity_at_specificity_90`` / ``specificity_at_sensitivity_90``: the operating
        points reviewers ask for, read off the ROC curve of ``P(referable)``
        (``sklearn.metrics.roc_curve``): the highest sensitivity among the cuts with
        specificity >= 0.90, and the highest specificity among those with sensitivity >= 0.90
        (nan with the AUC). The cut is chosen on the images it is scored on: optimistic.
        ``sensitivity_at_specificity_90_cut`` / ``specificity_at_sensitivity_90_cut``: the
        P(referable) cut of each (:func:`operating_cut`: refer when P(referable) >= it, which
        gives exactly those figures on these images), in-sample as the figures are;
        ``operating_points_note`` (:data:`OPERATING_POINTS_NOTE`) says so.

    Raises:
        ValueError: ``from_grade`` outside ``1 .. K-1`` (the message names the scale),
            malformed grades or probabilities, shapes that differ.
    """
    yt = _as_grades(y_true, "y_true", _columns(probs))
    p = _as_probs(probs, n=yt.size)
    k = p.shape[1]
    if class_names is not None and len(class_names) != k:
        raise ValueError(f"probs has {k} columns but {len(class_names)} class names were given "
                         f"({', '.join(class_names)})")
    r = _check_referable_cut(from_grade, k, class_names)
    yp = _as_grades(pred, "pred", k)
    _check_paired_inputs(yt, k, {"pred": yp})
    truth = (yt >= r).astype(np.int64)
    # P(referable); clipped so the two columns [1 - s, s] are probabilities as they stand
    s = np.clip(p_referable(p, r), 0.0, 1.0)
    n_ref = int(truth.sum())
    n_not = int(yt.size - n_ref)
    rule = referable_words(r, class_names)
    sens90 = spec90 = sens90_cut = spec90_cut = float("nan")
    if n_ref and n_not:
        auc, note = float(roc_auc_score(truth, s)), None
        # every cut point (operating_cut: the default drop_intermediate=True drops collinear
        # points, which are real operating points and can be the best one at the 90 % level),
        # with the cut that gives it on these probabilities, so that the figure can be checked
        # on oof.csv (not a cut for new images, whose probabilities are the bundle's:
        # finetune.referral_target fits one for them)
        sens90_cut, sens90, _ = operating_cut(truth, s, "specificity", OPERATING_LEVEL)
        spec90_cut, _, spec90 = operating_cut(truth, s, "sensitivity", OPERATING_LEVEL)
    else:
        auc = float("nan")
        note = (f"every one of the {yt.size} images is referable (grade >= {r})" if n_ref
                else f"none of the {yt.size} images is referable (grade >= {r})")
        note += ": the AUC needs referable and non-referable images"
    used: int | None = None  # no bootstrap drawn: no count
    if n_boot > 0 and note is None:
        two = np.stack([1.0 - s, s], axis=1)
        *ci, used = bootstrap_ci_counted(truth, two, macro_ovr_auc, n_boot=n_boot, alpha=alpha, seed=seed,
                                         groups=groups)
    else:
        ci = [float("nan"), float("nan")]
    decided = (yp >= r).astype(np.int64)
    # the decision's sensitivity and specificity with their intervals, each drawn from the same
    # seed as the AUC's (the same resamples; a resample without a referable, or without a
    # non-referable, image is left out of that figure's interval)
    # a small count, or a bootstrap interval of width 0 (15/15: [1, 1]): the Wilson interval
    return {"from_grade": r, "rule": rule, "n_referable": n_ref, "n_not": n_not,
            "auc": auc, "auc_note": note, "auc_ci95": [float(ci[0]), float(ci[1])],
            "auc_ci95_resamples": used, "n_boot": int(n_boot),
            **_decided_screening(truth, decided, n_boot, alpha, seed, groups),
            "sensitivity_at_specificity_90": sens90, "specificity_at_sensitivity_90": spec90,
            "sensitivity_at_specificity_90_cut": sens90_cut, "specificity_at_sensitivity_90_cut": spec90_cut,
            "operating_points_note": OPERATING_POINTS_NOTE}


def referable_summary(referable: dict[str, Any], cuts_scale: str = "") -> str:
    """One sentence of :func:`referable_report`'s figures (as returned, or read back from JSON,
    where nan is null), the words the fine-tuning's console, report.md and the model card share:
    ``'referable = grade >= 2 (Moderate or worse), 12 referable and 18 not: AUC of
    P(referable) 0.912 (95% CI 0.850..0.960); at the submitted grades (not an operating point
    tuned on P(referable)) sensitivity 0.800, specificity 0.900'``; an undefined AUC is
    ``n/a (<auc_note>)``. ``cuts_scale``: what the operating points' cuts are on, said after
    them; "" the fine-tuning's :data:`OPERATING_CUTS_SCALE` (``export --score`` passes
    :data:`SCORED_CUTS_SCALE`: its cuts are chosen on the scored images, not on oof.csv)."""
    num = figure_text
    ci = list(referable.get("auc_ci95") or [None, None])[:2]
    auc = num(referable.get("auc"))
    if auc == "n/a":
        note = referable.get("auc_note")
        auc_text = f"n/a ({note})" if note else "n/a"
    else:
        shown = format_ci(*ci)
        auc_text = auc + (f" (95% CI {shown})" if shown != "n/a" else "")
    points = _operating_points_words(referable, "the ROC curve of P(referable)", "P(referable)",
                                     cuts_scale or OPERATING_CUTS_SCALE)
    referral = referable.get("referral")
    return (f"{referable.get('rule') or referable_words(int(referable.get('from_grade', 0)))}, "
            f"{referable.get('n_referable', '?')} referable images and {referable.get('n_not', '?')} not: "
            f"AUC of P(referable) {auc_text}; at the submitted grades (not an operating point tuned "
            f"on P(referable)) {screening_figures_words(referable)}{points}"
            + (f"; {referral_summary(referral)}" if isinstance(referral, dict) else "")
            + (f"; {patient_screening_summary(referable['per_patient'])}"
               if isinstance(referable.get("per_patient"), dict) else ""))


def _cut_words(referable: dict[str, Any], key: str, score: str = "P(referable)") -> str:
    """`` (P(referable) >= 0.612345)``: the stored cut of an operating point to 6 decimals
    (:func:`cut_text`, as docs/evaluation.md says cuts are printed: a cut of 0.600593 said as
    0.601 read as if an image at 0.6006 met it), "" for a run stored before the cuts were (or
    an undefined one)."""
    cut = finite_number(referable.get(key))
    return f" ({score} >= {cut_text(cut)})" if cut is not None else ""


OPERATING_CUTS_SCALE = ("those cuts are on oof.csv's cross-fitted probabilities, not the bundle's: to "
                        "refer new images, set finetune.referral_target")
"""Said after the operating points' cuts (:func:`referable_summary`, :func:`two_grade_summary`)
of a run without ``finetune.referral_target``: each fold's rows in ``oof.csv`` are under that
fold's cross-fitted temperature, a bundle's probabilities under the one fitted on all of them,
so a cut read off the former is no rule for the latter; ``finetune.referral_target`` fits one
for it. A run with it set (``referable["referral"]``) gets :data:`OPERATING_CUTS_SCALE_REFERRAL`."""

OPERATING_CUTS_SCALE_REFERRAL = ("those cuts are on oof.csv's cross-fitted probabilities, not the bundle's: "
                                 "new images are referred by the referral cut of finetune.referral_target")
""":data:`OPERATING_CUTS_SCALE`'s words for a run with ``finetune.referral_target`` set: the
advice to set it would be wrong there; its cut is said after (:func:`referral_summary`, or the
two-grade sentence's deployed cut)."""

SCORED_CUTS_SCALE = "those cuts are no rule for new images"
"""What ``export --score``'s operating-point cuts are (:func:`referable_summary`'s ``cuts_scale``),
after "with the cut chosen on these same images (in-sample, optimistic)" has said they are read
off the ROC curve of the submission's own P(referable) on the very images scored (their
figures flatter a cut that would be fixed before seeing these images): no rule for new images.
``export --score`` adds what it knows of the bundle's own referral cut (scored next, or none)."""

SCORED_OPERATING_POINTS_NOTE = ("sensitivity_at_specificity_90_cut / specificity_at_sensitivity_90_cut: the "
                                "P(referable) cut of each operating point (P_r + ... + P_{K-1} of the "
                                "submission's probabilities at or above the cut gives its figures there), "
                                "chosen on these scored images themselves: in-sample, so its figures are "
                                "optimistic, and no rule for new images (a bundle's own referral cut, when "
                                "it has one, is scored as deployed_referral)")
"""The ``operating_points_note`` of ``export --score``'s referable figures, in place of
:data:`OPERATING_POINTS_NOTE` (which speaks of ``oof.csv``)."""


def _operating_points_words(referable: dict[str, Any], curve: str, score: str,
                            scale: str = OPERATING_CUTS_SCALE) -> str:
    """``; on <curve>, with the cut chosen on these same images (in-sample, optimistic):
    sensitivity 0.356 at specificity >= 0.90 (P1 >= 0.535), specificity ...`` then ``scale``
    (what the cuts are on: :data:`OPERATING_CUTS_SCALE`, or :data:`SCORED_CUTS_SCALE`); "" for
    a run stored before the operating points were. A run stored before their cuts were keeps its
    words exactly: ``(optimistic)``, no cuts, no note."""
    if finite_number(referable.get("sensitivity_at_specificity_90")) is None:
        return ""
    if scale == OPERATING_CUTS_SCALE and referral_set(referable):  # the target is set
        scale = OPERATING_CUTS_SCALE_REFERRAL
    keys = ("sensitivity_at_specificity_90_cut", "specificity_at_sensitivity_90_cut")
    cuts = any(finite_number(referable.get(key)) is not None for key in keys)
    return (f"; on {curve}, with the cut chosen on these same images "
            f"({'in-sample, optimistic' if cuts else 'optimistic'}): "
            f"sensitivity {figure_text(referable.get('sensitivity_at_specificity_90'))} at specificity "
            f">= 0.90{_cut_words(referable, keys[0], score)}, specificity "
            f"{figure_text(referable.get('specificity_at_sensitivity_90'))} at sensitivity "
            f">= 0.90{_cut_words(referable, keys[1], score)}" + (f" ({scale})" if cuts else ""))


def grade_name_words(names: Sequence[str] | None, grade: int) -> str:
    """``", NAME"``, the name of ``grade`` of a two-grade scale as the screening sentences put it
    after the number (``referable = grade 1, referable``); "" when the names are not known
    (None) or are the bare numbers (``["0", "1"]``: "grade 1, 1" says nothing)."""
    if names is None or [str(n) for n in names] == ["0", "1"] or not 0 <= grade < len(names):
        return ""
    return f", {names[grade]}"


def two_grade_decision_words(figures: dict[str, Any], names: Sequence[str] | None, rule: str,
                             counts: bool = True) -> str:
    """The sentence of a two-grade screening decision that the fine-tuning's console, report.md,
    the model card (:func:`two_grade_summary`) and ``export --score`` share: ``Two grades, read as
    a screening decision (referable = grade 1, referable: 25 images of grade 1 and 35 of grade
    0), RULE: sensitivity 0.800 (20/25 images; 95% CI 0.640..0.960) (images of grade 1, referable,
    found), specificity 0.743 (26/35 images; 95% CI ...) (grade 0, non-referable, cleared).``

    ``figures``: :func:`referable_report`'s (or, ``counts`` False, a run's older
    ``sensitivity`` / ``specificity`` alone: no counts of images said); ``names``: grades 0 and
    1, None (or the bare numbers) when not known: the grades are then said by number only;
    ``rule``: how the decision was made (``out of fold, at cross-fitted thresholds ...``, ``by
    the submission's class column``)."""
    one, zero = grade_name_words(names, 1), grade_name_words(names, 0)
    said = (f": {figures.get('n_referable', '?')} images of grade 1 and {figures.get('n_not', '?')} "
            f"of grade 0" if counts else "")
    return (f"Two grades, read as a screening decision (referable = grade 1{one}{said}), {rule}: "
            f"{screening_figure_words(figures, 'sensitivity')} (images of grade 1{one}{',' if one else ''} found), "
            f"{screening_figure_words(figures, 'specificity')} (grade 0{zero}{',' if zero else ''} cleared).")


def two_grade_summary(cv: dict[str, Any], names: Sequence[str],
                      calibration: dict[str, Any] | None = None, auc_said: bool = False) -> str:
    """The screening figures of a two-grade grading in one paragraph, the words report.md, the
    fine-tuning's console, ``python -m drac_ssl.compare`` and the model card share.

    ``cv``: a variant's ``metrics.json`` (or a bundle's ``cv_metrics``): ``decision``,
    ``folds`` (each fold's ``thresholds_cross_fitted``), ``sensitivity`` / ``specificity``
    and, for runs since two grades are a referable cut (``finetune.referable_from``: grade 1),
    ``referable`` (:func:`referable_report`: the AUC with its CI, the CIs of sensitivity and
    specificity, the operating points). ``names``: grades 0 and 1. ``calibration``: the
    deployed calibration (``thresholds``, ``output``, ``decision``); default ``cv``'s own.

    The figures are read where they were made: at the cross-fitted thresholds (and
    temperatures), each fold's fitted without its images, listed per fold; the deployed
    threshold, fitted on all out-of-fold outputs, is named apart, as the rule new images are
    graded by, whose figures on ``oof.csv`` are not these (a researcher applied it to
    ``oof.csv``'s P1 and got other figures than the report's). With two grades the AUC of
    P(referable) = P1 is the one-vs-one and one-vs-rest AUC: said once, as such; ``auc_said``:
    the caller's headline already gives it with its CI (the model card), so only its ROC
    curve's operating points are said here."""
    cal = calibration if isinstance(calibration, dict) else cv.get("calibration")
    cal = cal if isinstance(cal, dict) else {}
    decision = cv.get("decision") or cal.get("decision") or "thresholds"
    regression = cal.get("output", "classification") == "regression"
    score = "the regression score" if regression else "P1"
    referable = cv.get("referable") if isinstance(cv.get("referable"), dict) else None
    figures = referable if referable is not None else cv
    referral = (referable or {}).get("referral")
    if isinstance(referral, dict) and cv.get("referral_decides_grade"):  # finetune.referral_target
        listed = ", ".join(f"fold {f} {cut_text(c)}" for f, c in (referral.get("fold_cuts") or {}).items())
        rule = (f"out of fold, at cross-fitted referral cuts set for {referral_words(referral)} "
                f"(finetune.referral_target={referral.get('target')}: each fold's images are grade 1 when "
                f"P1 is at or above that fold's cut, chosen as "
                f"{_cut_rule_words(str(referral.get('metric')), float(referral.get('level') or 0.5))}, "
                f"on the other folds' out-of-fold outputs: " + (listed or "per fold, not recorded") + ")")
        short = (f" Out of fold the cut fell short of its target ({referral_words(referral)})."
                 if referral.get("target_met_out_of_fold") is False else "")
        after = (f"{short} Each fold's cut applied to its rows' P1 in oof.csv gives these figures. The deployed "
                 f"referral cut, grade 1 when P1 >= {cut_text(referral.get('cut'))}, was chosen by the same rule "
                 f"and grades new images: it is on the bundle's P1 (under the temperature fitted on all of "
                 f"those outputs), not on oof.csv's cross-fitted P1; it was {REFERRAL_CUT_ENSEMBLE}.")
    elif decision == "thresholds":
        cuts = [(f.get("fold"), (list(f.get("thresholds_cross_fitted") or []) + [None])[0])
                for f in cv.get("folds") or [] if isinstance(f, dict)]
        # the cuts as stored (cut_text, 6 decimals): a P1 of 0.6006 against 0.600593 printed as 0.601
        listed = ", ".join(f"fold {fold} {cut_text(t)}" for fold, t in cuts if finite_number(t) is not None)
        how = ("" if regression else ", under that fold's temperature,")
        rule = (f"out of fold, at cross-fitted thresholds (each fold's images are grade 1 when "
                f"{score}{how} is at or above that fold's threshold, fitted without its images: "
                + (listed or "per fold, not recorded") + ")")
        deployed = (list(cal.get("thresholds") or []) + [None])[0]
        column = "score" if regression else "P1"
        after = (f" The deployed threshold, grade 1 when {score} >= {cut_text(deployed)}, was fitted "
                 f"on all out-of-fold outputs: it grades new images, and applied to oof.csv's "
                 f"{column} it gives other (in-sample) figures than these."
                 if finite_number(deployed) is not None else "")
    elif decision == "argmax":
        rule, after = "out of fold, grade 1 when P1 > P0 (the more probable grade)", ""
    else:
        rule, after = f"out of fold, by `{decision}`", ""
    text = two_grade_decision_words(figures, names, rule, counts=referable is not None) + after
    if referable is None:  # a run made before two grades were a referable cut
        return (text + " QWK is Cohen's kappa here, and the one-vs-one and one-vs-rest AUCs are "
                       "the same ROC AUC of P1.")
    auc = figure_text(referable.get("auc"))
    if auc == MISSING:
        note = referable.get("auc_note")
        auc_text = f"n/a ({note})" if note else MISSING
    else:
        auc_text = auc + ci_words(referable.get("auc_ci95"))
    points = _operating_points_words(referable, "its ROC curve", "P1")
    if auc_said:  # the AUC with its CI given beside the kappa already (the model card's headline)
        curve = f" On the ROC curve of P(referable) = P1{points[1:]}." if points else ""
        return f"{text}{curve} QWK is Cohen's kappa here."
    return (f"{text} AUC of P(referable) = P1 {auc_text}: with two grades this is the one-vs-one "
            f"and the one-vs-rest AUC too, one number{points}. QWK is Cohen's kappa here.")


def ovr_auc_per_grade(y_true: Any, probs: Any) -> list[float]:
    """One-vs-rest AUC of each grade ``k``: ``roc_auc_score(y == k, P_k)``, a list of K
    floats (nan for a grade with no positive or no negative sample). ``y_true``: grades
    ``(n,)``; ``probs``: ``(n, K)``, rows sum to 1.

    Raises:
        ValueError: malformed input, as :func:`macro_ovo_auc` (not 1-D integer grades,
            ``probs`` not ``(n, K)`` probabilities, a grade ``>= K``)."""
    yt = _as_grades(y_true, "y_true", _columns(probs))
    p = _as_probs(probs, n=yt.size)
    _check_grades_within(yt, p.shape[1], "y_true")
    out = []
    for k in range(p.shape[1]):
        positive = yt == k
        out.append(float(roc_auc_score(positive, p[:, k])) if 0 < positive.sum() < yt.size
                   else float("nan"))
    return out


def ovr_auc_per_grade_ci(y_true: Any, probs: Any, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
                         groups: Any = None) -> list[tuple[float, float, int]]:
    """The percentile bootstrap ``(1 - alpha)`` interval of each grade's one-vs-rest AUC
    (:func:`ovr_auc_per_grade`: ``P_k`` against ``y == k``), with how many resamples it used:
    a list of K ``(low, high, used)``. Each is :func:`bootstrap_ci_counted` of the two columns
    ``[1 - P_k, P_k]`` against ``y == k`` with :func:`macro_ovr_auc` (with two columns, the AUC
    of the second), so every grade is drawn from the same ``seed`` and ``groups`` (``(n,)``, a
    patient id per image: the cluster bootstrap) as the run's other intervals, the same
    resamples; a resample without an image of the grade, or with only it, is left out.
    ``(nan, nan, 0)`` for a grade with no positive or no negative image. ``y_true``: grades
    ``(n,)``; ``probs``: ``(n, K)``, rows sum to 1.

    Raises:
        ValueError: malformed input, as :func:`ovr_auc_per_grade`; malformed ``groups``."""
    yt = _as_grades(y_true, "y_true", _columns(probs))
    p = _as_probs(probs, n=yt.size)
    _check_grades_within(yt, p.shape[1], "y_true")
    out: list[tuple[float, float, int]] = []
    for k in range(p.shape[1]):
        positive = (yt == k).astype(np.int64)
        if not 0 < positive.sum() < yt.size:
            out.append((float("nan"), float("nan"), 0))
            continue
        s = np.clip(p[:, k], 0.0, 1.0)
        low, high, used = bootstrap_ci_counted(positive, np.stack([1.0 - s, s], axis=1), macro_ovr_auc,
                                               n_boot=n_boot, alpha=alpha, seed=seed, groups=groups)
        out.append((low, high, used))
    return out


def grading_report(y_true: Any, probs: Any | None, pred: Any | None = None,
                   class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """All grading numbers of one evaluation, as a JSON-ready dict.

    Args:
        y_true: true grades ``(n,)``.
        probs: class probabilities ``(n, K)``, or None when only hard grades exist (then
            ``pred`` is required and the AUCs are nan).
        pred: the submitted grades ``(n,)``; default ``argmax(probs)``. Pass thresholded
            expected grades here when the class decision is tuned separately.
        class_names: names of grades 0..K-1 (K = their number); default: K from ``probs``
            (or the largest grade seen) and :func:`drac_ssl.scale.default_grade_names`.

    Returns:
        ``n``, ``qwk``, ``auc`` (macro one-vs-one, DRAC's tie-breaker; also as ``auc_ovo``),
        ``auc_ovr`` (macro one-vs-rest), ``auc_per_grade`` (one-vs-rest AUC keyed by grade
        name), ``auc_note`` (None, or why the AUCs are nan), ``accuracy``, ``macro_f1``
        (mean over grades where F1 is defined), per-grade ``precision``, ``recall`` and
        ``f1`` keyed by grade name (nan where undefined: no prediction / no true sample of
        that grade), ``confusion`` (list of K lists, rows = true grade, columns = predicted
        grade, always all K labels), ``labels`` and ``class_names``. A figure that is
        undefined on these data (an AUC with a grade absent from ``y_true``; kappa when
        ``y_true`` and ``pred`` are one and the same single grade) is nan, not an error; kappa
        is 0.0, as scikit-learn's, when only one side is a single grade or the two are
        different single grades.

    Raises:
        ValueError: malformed input: ``y_true`` / ``pred`` not 1-D non-negative integer
            grades of one length (a bool array, a two-grade label, only on a scale of 2), ``probs`` not ``(n, K)`` probabilities (rows sum to 1,
            values in [0, 1]), a grade >= K (the ``probs`` columns or the number of
            ``class_names``; the message names the grade and K), ``class_names`` of another
            length than the ``probs`` columns, or neither ``probs`` nor ``pred``; no image
            (n = 0: every figure would be undefined).
    """
    k = _columns(probs) if probs is not None else (len(class_names) if class_names is not None else None)
    yt = _as_grades(y_true, "y_true", k)
    if yt.size == 0:
        raise ValueError("grading_report: no graded images (y_true is empty): nothing to evaluate")
    p = _as_probs(probs, n=yt.size) if probs is not None else None
    if p is not None:
        _check_grades_within(yt, p.shape[1], "y_true")
    if pred is None:
        if p is None:
            raise ValueError("grading_report needs probs or pred")
        yp = p.argmax(axis=1).astype(np.int64)
    else:
        yp = _as_grades(pred, "pred", k)
        if yp.shape != yt.shape:
            raise ValueError(f"pred {yp.shape} and y_true {yt.shape} differ in length")
        if p is not None:
            _check_grades_within(yp, p.shape[1], "pred")
    if class_names is not None:
        num_classes = len(class_names)
        if p is not None and p.shape[1] != num_classes:
            raise ValueError(f"probs has {p.shape[1]} columns but {num_classes} class names "
                             f"were given ({', '.join(class_names)})")
        seen = max(int(yt.max(initial=0)), int(yp.max(initial=0)))
        if seen >= num_classes:
            raise ValueError(f"grade {seen} found, but the scale has {num_classes} grades "
                             f"({', '.join(class_names)})")
    else:
        num_classes = p.shape[1] if p is not None else 2
        num_classes = max(num_classes, int(yt.max(initial=0)) + 1, int(yp.max(initial=0)) + 1)
        _refuse_bool_among(num_classes, ("y_true", y_true), ("pred", pred))
    labels = list(range(num_classes))
    names = list(class_names) if class_names is not None else list(default_grade_names(num_classes))

    if p is None:
        auc = auc_ovr = float("nan")
        auc_note: str | None = "no probabilities given"
        per_grade = [float("nan")] * num_classes
    else:
        auc_note = auc_undefined_reason(yt, p)
        auc = macro_ovo_auc(yt, p) if auc_note is None else float("nan")
        auc_ovr = macro_ovr_auc(yt, p) if auc_note is None else float("nan")
        per_grade = ovr_auc_per_grade(yt, p)

    with undefined_scores_quiet():
        precision, recall, f1, _ = precision_recall_fscore_support(
            yt, yp, labels=labels, average=None, zero_division=np.nan)
        macro_f1 = float(np.nanmean(f1)) if np.any(np.isfinite(f1)) else float("nan")
    cm = confusion_matrix(yt, yp, labels=labels)
    return {
        "n": int(yt.size),
        "qwk": quadratic_weighted_kappa(yt, yp, num_classes),
        "auc": auc,
        "auc_ovo": auc,
        "auc_ovr": auc_ovr,
        "auc_per_grade": {name: v for name, v in zip(names, per_grade, strict=True)},
        "auc_note": auc_note,
        "accuracy": float(accuracy_score(yt, yp)),
        "macro_f1": macro_f1,
        "precision": {name: float(v) for name, v in zip(names, precision, strict=True)},
        "recall": {name: float(v) for name, v in zip(names, recall, strict=True)},
        "f1": {name: float(v) for name, v in zip(names, f1, strict=True)},
        "confusion": cm.astype(int).tolist(),
        "labels": labels,
        "class_names": names,
    }


MAJORITY_BY_DEFINITION = ("a constant answer agrees with the grades no better than chance (QWK 0) "
                          "and ranks no image above another (AUC 0.5)")
"""Why :func:`majority_grade_reference`'s QWK and AUCs are not computed: for a reader."""


def majority_grade_reference(y_true: Any, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """The figures of always answering the most frequent grade of ``y_true``: the floor a
    grading model's out-of-fold figures are read against, from the labels alone (no model).

    Args:
        y_true: the reference grades ``(n,)``, ``n >= 1`` (the out-of-fold labels).
        class_names: names of grades 0..K-1; default :func:`drac_ssl.scale.default_grade_names`
            of the largest grade seen + 1 (at least 2).

    Returns:
        ``grade`` (the most frequent grade; the lowest of those tied), ``name``, ``tied`` (the
        names of every grade as frequent as it, in grade order, itself among them: more than
        one, a tie), ``images``
        (how many images have it), ``n``, ``accuracy`` (``images / n``), ``macro_f1`` (as
        :func:`grading_report` computes it for the variants: the mean over the grades where F1
        is defined, so the absent grades of a small set are left out alike), ``qwk`` 0.0 and
        ``auc`` / ``auc_ovr`` / ``referable_auc`` 0.5 by definition (:data:`MAJORITY_BY_DEFINITION`;
        not computed). Kappa of a constant answer is defined and 0 whenever the true grades
        vary: its observed agreement equals the agreement expected by chance from the two
        marginals (:func:`quadratic_weighted_kappa` gives 0.0 there). Only when the true grades
        are one grade too, the majority's own, is kappa undefined (0/0, nan from
        :func:`quadratic_weighted_kappa`); 0.0 is stored then as well, as the no-better-than-
        chance floor. The AUCs of a constant score are 0.5 (every pair a tie). With
        two grades the screening decision's ``sensitivity`` and ``specificity``
        (:func:`binary_screening`: 0 and 1 when the majority is grade 0).

    Raises:
        ValueError: no grade, or grades that are not non-negative integers, or a grade the
            ``class_names`` do not name.
    """
    yt = _as_grades(y_true, "y_true", len(class_names) if class_names is not None else None)
    if yt.size == 0:
        raise ValueError("majority_grade_reference: no graded images (y_true is empty)")
    k = len(class_names) if class_names is not None else max(2, int(yt.max()) + 1)
    if int(yt.max()) >= k:
        raise ValueError(f"majority_grade_reference: grade {int(yt.max())} found, but the scale has {k} "
                         f"grades ({', '.join(map(str, class_names or ()))})")
    names = list(class_names) if class_names is not None else list(default_grade_names(k))
    counts = np.bincount(yt, minlength=k)
    grade = int(counts.argmax())  # the first of those tied: the lowest grade
    pred = np.full_like(yt, grade)
    report = grading_report(yt, None, pred, names)
    out: dict[str, Any] = {"grade": grade, "name": names[grade], "images": int(counts[grade]), "n": int(yt.size),
                           "accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
                           "qwk": 0.0, "auc": 0.5, "auc_ovr": 0.5, "referable_auc": 0.5,
                           "by_definition": MAJORITY_BY_DEFINITION,
                           # every grade as frequent as it (itself first): more than one, a tie
                           "tied": [names[g] for g in np.flatnonzero(counts == counts[grade]).tolist()]}
    if k == 2:
        out.update(binary_screening(yt, pred))
    return out


@dataclass(frozen=True)
class _Units:
    """The resampling units of a bootstrap over ``n`` images: ``count`` patients, numbered
    0.. in the order of their first image; ``order`` ``(n,)`` the image positions patient by
    patient (each patient's images in row order), ``starts`` / ``sizes`` ``(count,)`` where
    each patient's run of ``order`` begins and how long it is; ``digest``: of the numbering,
    so two models' resamples are known to be drawn over the same patients; ``kind``: what the
    units are (a key of :data:`RESAMPLING_UNITS`)."""

    count: int
    order: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    grouped: bool
    digest: str
    kind: str = "images"


RESAMPLING_UNITS = {"patients": "patient", "groups": "image group", "images": "image"}
"""The noun of one bootstrap unit for each kind ``ci_resamples`` records (:func:`bootstrap_scores`
``kind``, :func:`drac_ssl.oof.resampling_kind`): patients, the image groups the folds kept whole
(near twins joined with their patients, ``data.near_duplicate_mse``), or images."""


def counted_units(n: int, noun: str) -> str:
    """``n`` bootstrap units of ``noun`` (a value of :data:`RESAMPLING_UNITS`): ``23 patients``,
    ``1 image group``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _units(groups: Any, n: int, kind: str | None = None) -> _Units:
    """:class:`_Units` of ``groups`` (one patient id per image, ``(n,)``), or of the ``n``
    images as their own units when ``groups`` is None; ``kind``: what they are (a key of
    :data:`RESAMPLING_UNITS`; None: :func:`drac_ssl.oof.resampling_kind` of ``groups``).
    ValueError for malformed groups, or a ``kind`` that is not theirs."""
    kind = resampling_kind(groups) if kind is None else kind
    allowed = ("images",) if groups is None else ("patients", "groups")
    if kind not in allowed:
        raise ValueError(f"kind={kind!r} does not say what {'no groups' if groups is None else 'groups'} "
                         f"are: give {' or '.join(repr(k) for k in allowed)}")
    if groups is None:
        codes = np.arange(n, dtype=np.int64)
    else:
        g = np.asarray(groups)
        if g.ndim != 1:
            raise ValueError(f"groups has shape {g.shape}: give one patient id per image, shape ({n},)")
        if g.shape[0] != n:
            raise ValueError(f"groups has {g.shape[0]} entries but there are {n} images: give one "
                             f"patient id per image, in the order of y_true")
        missing = [i for i, v in enumerate(g.tolist()) if v is None or (isinstance(v, float) and math.isnan(v))]
        if missing:
            raise ValueError(f"groups[{missing[0]}] is missing ({g[missing[0]]!r}; {len(missing)} such): "
                             f"every image needs a patient id (an image without one: give it an id of "
                             f"its own, e.g. the image's)")
        try:
            uniq, first, inverse = np.unique(g, return_index=True, return_inverse=True)
        except TypeError as exc:
            raise ValueError(f"groups mixes ids that cannot be compared ({exc}): give the patient "
                             f"ids as strings") from None
        rank = np.empty(uniq.size, dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(uniq.size)
        codes = rank[np.asarray(inverse).reshape(-1)]
    count = int(codes.max()) + 1 if codes.size else 0
    sizes = np.bincount(codes, minlength=count).astype(np.int64)
    digest = hashlib.sha256(np.ascontiguousarray(codes, dtype=np.int64).tobytes()).hexdigest()
    return _Units(count, np.argsort(codes, kind="stable"), np.cumsum(sizes) - sizes, sizes,
                  groups is not None, digest, kind)


def _draw(rng: np.random.Generator, n: int, units: _Units) -> np.ndarray:
    """One resample: ``n`` image positions drawn with replacement (no groups: exactly the
    draw of earlier versions), or ``units.count`` patients drawn with replacement, each with
    all its images."""
    if not units.grouped:
        return rng.integers(0, n, size=n)
    chosen = rng.integers(0, units.count, size=units.count)
    sizes = units.sizes[chosen]
    ends = np.cumsum(sizes)
    within = np.arange(int(ends[-1])) - np.repeat(ends - sizes, sizes)
    return units.order[np.repeat(units.starts[chosen], sizes) + within]


def _resamples(n: int, n_boot: int, seed: int, units: _Units) -> Iterator[np.ndarray]:
    """The ``n_boot`` draws of ``numpy.random.default_rng(seed)`` over ``units`` (nothing for
    ``n == 0``): the one loop behind every bootstrap here, so all draw alike."""
    if n == 0:
        return
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield _draw(rng, n, units)


# --------------------------------------------------------------------------- resamples as counts
# A bootstrap resample is a multiset of the n images: what each metric here needs of it is how
# many times each image was drawn. Scoring 1000 resamples as a (1000, n) count matrix takes a
# few matrix products instead of 1000 calls into scikit-learn, whose input checks made the
# per-resample loop take 7-11 ms a resample (bench/results/bootstrap_speed.json).
# scikit-learn stays the reference: every figure reported for all n images is its, and each
# bootstrap below checks that the counted metric gives scikit-learn's value on the whole
# sample before trusting it.

_COUNT_CELLS = 1 << 20
"""At most this many cells in one array of a chunk of resamples (8 MiB of float64): a chunk
holds ``_COUNT_CELLS // max(n, K * K)`` resamples, and the counted metrics build a handful of
arrays of that size at once (about 60 MiB at the peak for any n; 1000 resamples of 35,000
images are 34 chunks)."""


def _count_chunks(n: int, resamples: Iterator[np.ndarray], width: int = 0) -> Iterator[np.ndarray]:
    """The ``resamples`` (arrays of image positions ``0 .. n-1``) as float64 count matrices
    ``(b, n)``: entry ``[r, i]`` is how many times resample ``r`` drew image ``i``; chunks of
    ``_COUNT_CELLS // max(n, width)`` resamples (``width``: the widest per-resample array the
    metric builds, ``K * K`` for the confusion matrices), in the order of ``resamples``.
    Integer counts are exact in float64, so the sums below are exact up to 2**53."""
    per_chunk = max(1, _COUNT_CELLS // max(n, width, 1))
    chunk: list[np.ndarray] = []
    for idx in resamples:
        chunk.append(idx)
        if len(chunk) == per_chunk:
            yield _counts(n, chunk)
            chunk = []
    if chunk:
        yield _counts(n, chunk)


def _counts(n: int, chunk: list[np.ndarray]) -> np.ndarray:
    rows = np.repeat(np.arange(len(chunk), dtype=np.int64), [idx.size for idx in chunk])
    flat = rows * n + np.concatenate(chunk).astype(np.int64)
    return np.bincount(flat, minlength=len(chunk) * n).reshape(len(chunk), n).astype(np.float64)


def _sums_by_value(counts: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``keys`` ``(m,)`` in ascending order, and for each resample the counts of
    the images holding each, ``(b, m)``: ``counts`` ``(b, n)`` summed over runs of equal key.
    No image (``n == 0``): no key, ``(b, 0)`` counts (``numpy.add.reduceat`` has no empty
    form: a pair of grades without an image once crashed the bootstrap here)."""
    if keys.size == 0:
        return keys[:0], np.zeros((counts.shape[0], 0))
    order = np.argsort(keys, kind="stable")
    ranked = keys[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    return ranked[starts], np.add.reduceat(counts[:, order], starts, axis=1)


def _counted_accuracy(counts: np.ndarray, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Accuracy of each resample ``(b,)`` from ``counts`` ``(b, n)``; nan for an empty one."""
    total = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts @ (y == pred).astype(np.float64) / total, np.nan)


def _counted_qwk(counts: np.ndarray, y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Quadratic weighted kappa of each resample ``(b,)`` over the labels ``0 .. k-1`` (every
    grade of ``y`` and ``pred`` below ``k``), in the steps of scikit-learn's
    ``cohen_kappa_score(weights="quadratic")``: the confusion matrix, its margins' outer
    product over the total as the expected matrix, ``1 - sum(W * C) / sum(W * E)``; nan where
    scikit-learn returns its undefined value (an empty resample, or one common label)."""
    cells, drawn = _sums_by_value(counts, y * k + pred)  # the confusion cell of each image
    confusion = np.zeros((counts.shape[0], k * k))
    confusion[:, cells] = drawn
    confusion = confusion.reshape(-1, k, k)  # [r, true, predicted]
    sum0 = confusion.sum(axis=1)
    sum1 = confusion.sum(axis=2)
    total = sum0.sum(axis=1)
    grades = np.arange(k, dtype=np.float64)
    weights = (grades[None, :] - grades[:, None]) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = sum0[:, :, None] * sum1[:, None, :] / total[:, None, None]
        observed = (weights * confusion).sum(axis=(1, 2))
        chance = (weights * expected).sum(axis=(1, 2))
        kappa = 1.0 - observed / chance
    return np.where((total > 0) & (chance != 0) & np.isfinite(kappa), kappa, np.nan)


def _counted_binary_auc(counts: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The ROC AUC of ``score`` ``(m,)`` for ``positive`` ``(m,)`` (bool) against the other
    images, in each resample ``(b,)`` from ``counts`` ``(b, m)``, as the Mann-Whitney
    statistic: the share of (positive, negative) pairs, counted with multiplicity, whose score
    is higher for the positive, ties half (Hanley & McNeil 1982: the area under the ROC curve);
    nan for a resample without a positive or without a negative."""
    _, pos = _sums_by_value(counts * positive, score)  # per run of tied scores
    _, drawn = _sums_by_value(counts, score)
    neg = drawn - pos
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, (pos * (below + 0.5 * neg)).sum(axis=1) / pairs, np.nan)


def _counted_ovr_auc(counts: np.ndarray, y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Macro one-vs-rest AUC of each resample ``(b,)`` (:func:`macro_ovr_auc`; K = 2: the AUC
    of ``P1``): for grade ``c``, :func:`_counted_binary_auc` of ``P_c`` for ``y == c``
    against the rest, then the mean over grades. nan when a resample lacks a grade, as
    :func:`auc_undefined_reason` rules (that grade's own AUC is nan, and so is the mean)."""
    k = probs.shape[1]
    per_grade = [_counted_binary_auc(counts, y == c, probs[:, c]) for c in ([1] if k == 2 else range(k))]
    return np.mean(per_grade, axis=0)


def _counted_ovo_auc(counts: np.ndarray, y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Macro one-vs-one AUC of each resample ``(b,)`` (:func:`macro_ovo_auc`, Hand & Till
    2001), in the steps of scikit-learn's ``roc_auc_score(multi_class="ovo",
    average="macro")``: for each pair of grades ``a < b``, on the images of those two grades
    only, the mean of the AUC of ``P_a`` for ``a`` against ``b`` and of ``P_b`` for ``b``
    against ``a`` (:func:`_counted_binary_auc`); then the mean over the ``K (K - 1) / 2``
    pairs. K = 2: the AUC of ``P1``, as :func:`macro_ovo_auc`. nan when a resample lacks a
    grade (:func:`auc_undefined_reason`), so in every resample when the data lack one; a pair
    of grades neither of which has an image is nan without being scored (it has no image to
    rank), as a pair with one of them missing is."""
    k = probs.shape[1]
    if k == 2:
        return _counted_binary_auc(counts, y == 1, probs[:, 1])
    per_pair = []
    for a in range(k):
        for b in range(a + 1, k):
            mask = (y == a) | (y == b)
            if not mask.any():  # two grades without an image (binary labels on a 5-grade scale)
                per_pair.append(np.full(counts.shape[0], np.nan))
                continue
            sub = counts[:, mask]
            per_pair.append((_counted_binary_auc(sub, y[mask] == a, probs[mask, a])
                             + _counted_binary_auc(sub, y[mask] == b, probs[mask, b])) / 2)
    return np.mean(per_pair, axis=0)


def _counted_recall(counts: np.ndarray, of: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """The recall of one grade in each resample ``(b,)`` from ``counts`` ``(b, n)``: the images
    of that grade (``of`` ``(n,)`` bool) drawn with the right decision (``hit``) over those of
    it drawn (:func:`screening_sensitivity`, :func:`screening_specificity`); nan for a resample
    without an image of that grade, as scikit-learn's recall is undefined there."""
    total = counts @ of.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts @ (of & hit).astype(np.float64) / total, np.nan)


class CountedMetricWarning(RuntimeWarning):
    """A bootstrap's counted metric disagreed with scikit-learn on the whole sample, so its
    resamples were scored with scikit-learn instead (correct, slower): a bug to report."""


def _counted_agrees(counted: Callable[[np.ndarray], np.ndarray], n: int, reference: Sequence[float],
                    names: Sequence[str]) -> bool:
    """Whether ``counted`` on all ``n`` images once each gives the ``reference``
    (scikit-learn's) values to 1e-9, nan where they are nan: a resample's counted score is
    then scikit-learn's score of that resample. If not, a :class:`CountedMetricWarning` says
    so and the caller scores each resample with scikit-learn, so a run is slower, not
    stopped or wrong."""
    got = np.asarray(counted(np.ones((1, n))), dtype=np.float64).reshape(-1)
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    bad = [name for name, g, r in zip(names, got, ref, strict=True)
           if not (np.isnan(g) and np.isnan(r)) and not abs(g - r) <= 1e-9]
    if bad:
        warnings.warn(f"the bootstrap's counted {', '.join(bad)} ({got.tolist()}) differs from "
                      f"scikit-learn's on the whole sample ({ref.tolist()}); its {n} images' "
                      f"resamples are scored with scikit-learn instead (slower, the same values as "
                      f"before). A bug in drac_ssl.metrics: please report it with the data's shape",
                      CountedMetricWarning, stacklevel=3)
    return not bad


def _counted_metric(metric: Callable[..., float], y_true: np.ndarray, y_pred: np.ndarray
                    ) -> tuple[Callable[[np.ndarray], np.ndarray], int] | None:
    """The counted form of ``metric`` on these data, for :func:`bootstrap_ci`: for
    :func:`quadratic_weighted_kappa` (also as ``functools.partial(..., num_grades=k)``),
    :func:`macro_ovr_auc`, :func:`macro_ovo_auc`, ``accuracy_score`` (this module's, on
    grades), :func:`screening_sensitivity` and :func:`screening_specificity`;
    None for any other metric, or data the metric would refuse
    (:func:`bootstrap_ci` has then already raised the metric's own ValueError on the whole
    sample, so this never hides an input error). With it, the widest array it
    builds per resample (``K * K``: :func:`_count_chunks`' ``width``)."""
    func, keywords = metric, {}
    if isinstance(metric, functools.partial) and not metric.args:
        func, keywords = metric.func, dict(metric.keywords)
    try:
        if func is quadratic_weighted_kappa and set(keywords) <= {"num_grades"}:
            y, pred = _as_grades(y_true, "y_true"), _as_grades(y_pred, "y_pred")
            if y.shape != pred.shape or y.size == 0:
                return None
            k = max(int(keywords.get("num_grades") or 2) - 1, int(y.max()), int(pred.max())) + 1
            return functools.partial(_counted_qwk, y=y, pred=pred, k=k), k * k
        if func in (macro_ovr_auc, macro_ovo_auc) and not keywords:
            y = _as_grades(y_true, "y_true")
            probs = _as_probs(y_pred, n=y.size)
            if y.size == 0 or y.max() >= probs.shape[1]:
                return None
            counted = _counted_ovr_auc if func is macro_ovr_auc else _counted_ovo_auc
            return functools.partial(counted, y=y, probs=probs), probs.shape[1]
        if func is accuracy_score and not keywords:
            y, pred = _as_grades(y_true, "y_true"), _as_grades(y_pred, "y_pred")
            if y.shape != pred.shape or y.size == 0:
                return None
            return functools.partial(_counted_accuracy, y=y, pred=pred), 1
        if func in (screening_sensitivity, screening_specificity) and not keywords:
            y, pred = _as_grades(y_true, "y_true"), _as_grades(y_pred, "y_pred")
            if y.shape != pred.shape or y.size == 0 or max(int(y.max()), int(pred.max())) > 1:
                return None
            label = 1 if func is screening_sensitivity else 0
            return functools.partial(_counted_recall, of=y == label, hit=pred == label), 1
    except (ValueError, TypeError):
        return None
    return None


def bootstrap_resamples(n: int, n_boot: int, seed: int = 0, groups: Any = None) -> Iterator[np.ndarray]:
    """The resamples of :func:`bootstrap_ci`, :func:`bootstrap_scores` and
    :func:`paired_bootstrap_difference`: ``n_boot`` int64 arrays of image positions
    ``0 .. n-1``, drawn by ``numpy.random.default_rng(seed)``.

    ``groups`` None: each resample is ``n`` images drawn with replacement (each image its own
    unit). ``groups`` ``(n,)``, a patient id per image (any ids numpy can sort: strings or
    integers; none missing): the cluster bootstrap. Each resample draws as many patients as
    there are, with replacement, and takes all the images of each (patient by patient, each
    patient's images in row order), so a resample holds whole patients and its size varies
    (Field & Welsh 2007, "Bootstrapping clustered data", JRSS B 69(3):369-390, the
    cluster bootstrap; Davison & Hinkley 1997, Bootstrap Methods and their Application,
    sec. 3.8). Patients are numbered by their first image, so with every image its own patient
    the draws are exactly those of ``groups=None``, to the last bit. Nothing for ``n == 0``.

    Raises:
        ValueError: ``n_boot < 0``, or ``groups`` not of shape ``(n,)``, with a missing id
            (None, nan) or ids that cannot be compared.
    """
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    yield from _resamples(n, n_boot, seed, _units(groups, n))


def bootstrap_ci(
    y_true: Any,
    y_pred: Any,
    metric: Callable[[np.ndarray, np.ndarray], float] = quadratic_weighted_kappa,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    groups: Any = None,
) -> tuple[float, float]:
    """Percentile bootstrap ``(1 - alpha)`` confidence interval of ``metric(y_true, y_pred)``:
    ``(low, high)`` of :func:`bootstrap_ci_counted`, which says too how many of the ``n_boot``
    resamples the interval rests on (the others left out as undefined). Same arguments, the
    same interval to the last bit.

    Raises:
        ValueError: as :func:`bootstrap_ci_counted`: ``y_true`` and ``y_pred`` of different
            lengths, ``alpha`` outside (0, 1), malformed ``groups``, or ``metric``'s own
            ValueError on the whole sample."""
    low, high, _ = bootstrap_ci_counted(y_true, y_pred, metric, n_boot=n_boot, alpha=alpha, seed=seed,
                                        groups=groups)
    return low, high


def bootstrap_ci_counted(
    y_true: Any,
    y_pred: Any,
    metric: Callable[[np.ndarray, np.ndarray], float] = quadratic_weighted_kappa,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    groups: Any = None,
) -> tuple[float, float, int]:
    """Percentile bootstrap ``(1 - alpha)`` confidence interval of ``metric(y_true, y_pred)``,
    with the number of resamples it used: ``(low, high, used)``, ``0 <= used <= n_boot``.

    Resamples the ``n`` rows with replacement ``n_boot`` times (``numpy.random.default_rng
    (seed)``, so the interval is reproducible). ``y_pred`` may be grades ``(n,)`` or
    probabilities ``(n, K)`` (e.g. ``metric=macro_ovo_auc``); it is indexed along axis 0.
    ``groups`` ``(n,)``: a patient id per image; the resamples then draw patients with
    replacement, each with all its images (the cluster bootstrap of
    :func:`bootstrap_resamples`: images of one patient are not independent, and resampling
    them as if they were gives too narrow an interval). None (the default): each image its
    own unit, the resamples of earlier versions to the last bit. QWK
    (:func:`quadratic_weighted_kappa`, also as ``functools.partial(..., num_grades=k)``),
    :func:`macro_ovr_auc`, :func:`macro_ovo_auc`, this module's ``accuracy_score`` (scikit-learn's,
    on grades), :func:`screening_sensitivity` and :func:`screening_specificity` are
    scored for all resamples at once from how many times each image was drawn (equal to scikit-learn's per-resample values within about 1e-15, checked on the
    whole sample at each call); any other metric is called on each resample.
    The interval is the percentile bootstrap (Efron & Tibshirani 1993, An Introduction to the
    Bootstrap, ch. 13): the ``alpha / 2`` and ``1 - alpha / 2`` percentiles of the resamples'
    values.

    ``metric`` is first called once on the whole sample, and a ValueError there propagates:
    it is the input's (probabilities given to the default QWK, which takes grades; string
    labels), not a degenerate resample. A whole-sample value that is nan (a metric that
    returns nan where it is undefined, e.g. :func:`macro_ovo_auc` with a grade absent from
    ``y_true``) is no error: the resamples are still drawn. Degenerate resamples, where the
    metric is undefined (non-finite or raises ValueError, e.g. a resample without PDR for
    AUC), are left out, and ``used`` counts those that were not: an interval from fewer than
    ``n_boot`` resamples rests only on those that hold what the metric needs (for an AUC,
    every grade), which over-represents the resamples rich in a rare grade; callers store
    ``used`` beside the interval (``metrics.json``'s ``qwk_ci95_resamples``,
    ``auc_ovr_ci95_resamples``, ``auc_ovo_ci95_resamples``, ``accuracy_ci95_resamples``,
    ``referable.auc_ci95_resamples``) and report.md says it when it
    is below ``n_boot``. Returns ``(nan, nan, 0)`` if none is valid (or ``n == 0``,
    ``n_boot < 1``).

    Raises:
        ValueError: ``y_true`` and ``y_pred`` of different lengths, ``alpha`` outside (0, 1),
            malformed ``groups`` (:func:`bootstrap_resamples`), or whatever ValueError
            ``metric`` raises on the whole sample (e.g. :func:`quadratic_weighted_kappa`:
            ``y_pred must be 1-D`` for probabilities, ``must hold integer grades``).
    """
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    if yt.shape[0] != yp.shape[0]:
        raise ValueError(f"y_true has {yt.shape[0]} rows, y_pred has {yp.shape[0]}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    n = yt.shape[0]
    units = _units(groups, n)
    if n == 0 or n_boot < 1:
        return float("nan"), float("nan"), 0
    with undefined_scores_quiet():
        # the whole sample first: a ValueError here is the input's (probabilities given to
        # QWK, string labels) and propagates; only a resample's ValueError means "degenerate"
        whole = float(metric(yt, yp))
    stats: list[float] = []
    fast = _counted_metric(metric, yt, yp)
    if fast is not None:
        if not _counted_agrees(fast[0], n, [whole], [getattr(metric, "__name__", "metric")]):
            fast = None
    with undefined_scores_quiet():
        if fast is not None:
            counted, width = fast
            for counts in _count_chunks(n, _resamples(n, n_boot, seed, units), width):
                values = counted(counts)
                stats.extend(values[np.isfinite(values)].tolist())
        else:
            for idx in _resamples(n, n_boot, seed, units):
                try:
                    value = float(metric(yt[idx], yp[idx]))
                except ValueError:
                    continue
                if math.isfinite(value):
                    stats.append(value)
    if not stats:
        return float("nan"), float("nan"), 0
    lo, hi = np.percentile(stats, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi), len(stats)


def degenerate_ci_reason(low: Any, high: Any, y_true: Any = None, y_pred: Any = None,
                         grade_names: Sequence[str] | None = None, out_of_fold: bool = False) -> str | None:
    """Why a bootstrap interval ``low..high`` (of :func:`bootstrap_ci`) tells nothing, or None
    when it is an interval.

    An interval of width 0 (``low == high``, both finite) is not certainty: every resample
    gave the same value, which happens when the data cannot vary the metric at all, above
    all when a model gave every image one grade (its kappa is then 0 on every resample).
    ``y_true`` / ``y_pred`` (grades ``(n,)``, optional) make the reason specific: one
    submitted grade, or one true grade; without them, or otherwise, the reason says only
    that every resample gave the same value. ``grade_names`` (grade ``g`` -> name) names
    the one grade. Returns a phrase such as ``"every image was given one grade (1 Mild), so
    every resample gives 0.000"``; with ``out_of_fold`` (``y_pred`` a variant's out-of-fold
    grades) the one grade is said of them, as the variant's warning says it
    (:func:`calibrated_one_grade_words`: "after the cross-fitted calibration, every image was
    given ..."), not to be read as the fold lines' uncalibrated grades. It never raises on
    absent or non-finite bounds (None).
    """
    lo = interval_width_zero(low, high)
    if lo is None:
        return None
    value = f"every resample gives {lo:.3f}"
    one_pred = one_grade_words(y_pred, grade_names, min_share=1.0) if y_pred is not None else None
    if one_pred:
        return f"{calibrated_one_grade_words(one_pred) if out_of_fold else one_pred}, so {value}"
    if y_true is not None:
        distinct = np.unique(np.asarray(y_true))
        if distinct.size == 1:
            return f"every image has one true grade ({_grade_name(int(distinct[0]), grade_names)}), so {value}"
    return constant_interval_reason(lo)


ONE_GRADE_SHARE = 0.95
"""A model that gives at least this share of the images one grade has learnt next to no
grading: its kappa is near 0 by construction, and a difference against it measures the
other model, not the change between the two (e.g. what pretraining added). 0.95 leaves
room for a stray image or two in a few dozen, and is far above the commonest grade's share
of DRAC 2022's training set (329 of 611 Normal, 54%), so it does not fire on a model that
merely favours the commonest grade of such data."""


def _grade_name(g: int, grade_names: Sequence[str] | None) -> str:
    return f"{g} {grade_names[g]}" if grade_names is not None and 0 <= g < len(grade_names) else f"grade {g}"


def one_grade_words(y_pred: Any, grade_names: Sequence[str] | None = None,
                    min_share: float = ONE_GRADE_SHARE) -> str | None:
    """Say that (nearly) every image was given one grade, or None.

    ``y_pred``: the predicted grades ``(n,)`` (e.g. a variant's out-of-fold ``pred``);
    ``grade_names``: grade ``g`` -> name; ``min_share``: the share of the images the
    commonest predicted grade must reach (default :data:`ONE_GRADE_SHARE`; 1.0 = all).
    Returns ``"every image was given one grade (1 NPDR)"`` when all are, ``"29 of the 30
    images (97%) were given one grade (1 NPDR)"`` when at least ``min_share`` are, None
    otherwise or for no images. The same words as :func:`degenerate_ci_reason`'s.
    """
    values = np.asarray(y_pred).reshape(-1)
    if values.size == 0:
        return None
    grades, counts = np.unique(values, return_counts=True)
    top = int(np.argmax(counts))
    k, n = int(counts[top]), int(values.size)
    if k < min_share * n:
        return None
    name = _grade_name(int(grades[top]), grade_names)
    if k == n:
        return f"every image was given one grade ({name})"
    return f"{k} of the {n} images ({100 * k / n:.0f}%) were given one grade ({name})"


FOLD_MIN_IMAGES = 2
"""A fold needs at least this many out-of-fold images for :func:`fold_one_grade_words` to read
its grades: one image is always "one grade"."""


def fold_one_grade_words(y_pred: Any, folds: Any, grade_names: Sequence[str] | None = None,
                         min_share: float = ONE_GRADE_SHARE) -> str | None:
    """Say that within each fold (nearly) every image was given one grade, the grade
    differing from fold to fold, or None.

    Out-of-fold grades come from one model per fold; a model that learnt nothing gives its
    fold's images one grade, often another one than the next fold's model, so no grade
    reaches :data:`ONE_GRADE_SHARE` overall and :func:`one_grade_words` stays silent, while
    the grades still tell only which fold an image fell in (its kappa is near 0).

    ``y_pred``: the predicted grades ``(n,)`` (e.g. a variant's out-of-fold ``pred``);
    ``folds``: each image's fold ``(n,)`` (``oof.csv``'s ``fold``); ``grade_names``: grade
    ``g`` -> name; ``min_share``: the share of a fold's images its commonest predicted grade
    must reach (1.0 = all). Folds of fewer than :data:`FOLD_MIN_IMAGES` images are left out
    (the words then say ``within each fold of 2 or more images``). Returns e.g. ``"within
    each fold every image was given one grade (fold 0: 0 Normal, fold 1: 2 PDR): the grades
    say which fold an image fell in, not what it shows"`` (``(nearly) every image`` and
    ``fold 0: 0 Normal, 19 of 20`` where a fold's grade is not all of its images') when at
    least two folds are read, each reaches ``min_share`` and they were given at least two
    different grades; None otherwise, and None when :func:`one_grade_words` (same
    ``min_share``) fires, so that one grade for (nearly) all images is said once, in its
    words. Raises ValueError when ``y_pred`` and ``folds`` differ in length.
    """
    values = np.asarray(y_pred).reshape(-1)
    fold_of = np.asarray(folds).reshape(-1)
    if values.shape != fold_of.shape:
        raise ValueError(f"y_pred has {values.size} grades but folds {fold_of.size} entries: one fold per image")
    if values.size == 0 or one_grade_words(values, grade_names, min_share) is not None:
        return None
    parts: list[str] = []
    tops: set[int] = set()
    left_out = False
    nearly = False
    for fold in np.unique(fold_of):
        inside = values[fold_of == fold]
        if inside.size < FOLD_MIN_IMAGES:
            left_out = True
            continue
        grades, counts = np.unique(inside, return_counts=True)
        top = int(np.argmax(counts))
        k, n = int(counts[top]), int(inside.size)
        if k < min_share * n:
            return None
        tops.add(int(grades[top]))
        name = _grade_name(int(grades[top]), grade_names)
        nearly |= k < n
        parts.append(f"fold {fold}: {name}" + (f", {k} of {n}" if k < n else ""))
    if len(parts) < 2 or len(tops) < 2:
        return None
    where = f"within each fold of {FOLD_MIN_IMAGES} or more images" if left_out else "within each fold"
    every = "(nearly) every image" if nearly else "every image"
    sep = "; " if nearly else ", "
    return (f"{where} {every} was given one grade ({sep.join(parts)}): the grades say which fold an "
            f"image fell in, not what it shows")


def one_grade_note(y_pred: Any, folds: Any = None, grade_names: Sequence[str] | None = None) -> str | None:
    """:func:`one_grade_words` of the out-of-fold grades ``y_pred`` ``(n,)``, else, with their
    ``folds`` ``(n,)`` (None: not known), :func:`fold_one_grade_words`: the words the
    fine-tuning, report.md and compare all say of a variant whose grades tell next to nothing
    about the images; None when neither fires.

    Raises:
        ValueError: ``folds`` given with another length than ``y_pred``; grades that are not
            numbers (``int()``'s ValueError / TypeError)."""
    return one_grade_words(y_pred, grade_names) or (
        fold_one_grade_words(y_pred, folds, grade_names) if folds is not None else None)


AFTER_CALIBRATION = "after the cross-fitted calibration"
"""Which grades :func:`one_grade_note` describes: the out-of-fold grades, fold k's cut at the
thresholds fitted on the other folds (the fine-tuning's variant warning, report.md, compare,
and :func:`degenerate_ci_reason` of those grades). A trial read "every image was given one
grade (2 Moderate)" on each fold line, then "within each fold every image was given one grade
(fold 0: 3 Severe, fold 1: 0 No DR)", as a contradiction: each now says which grades it is
about, the fold lines "(uncalibrated: every image was given one grade ...)"."""


def calibrated_one_grade_words(note: str) -> str:
    """``note`` (:func:`one_grade_note`'s words, or a run's stored ``one_grade_note``) said of
    the out-of-fold grades: ``"after the cross-fitted calibration, every image was given one
    grade (1 NPDR)"``; a note that says so already is returned as it is."""
    return note if note.startswith(AFTER_CALIBRATION) else f"{AFTER_CALIBRATION}, {note}"


def stored_one_grade_note(record: dict[str, Any], y_pred: Any, folds: Any = None,
                          grade_names: Sequence[str] | None = None) -> str | None:
    """The :func:`one_grade_note` a run stored in ``record`` (a variant's ``metrics.json``, a
    row of ``comparison.json``: ``one_grade_note``, null when there was none), else, for a run
    made before it was stored, :func:`one_grade_note` of its out-of-fold grades ``y_pred``
    ``(n,)`` and ``folds`` ``(n,)``: report.md and compare read it alike, so they never say
    two things of one run."""
    if "one_grade_note" in record:
        note = record["one_grade_note"]
        return note if isinstance(note, str) and note else None
    return one_grade_note(y_pred, folds, grade_names)


PAIRED_METRICS = ("accuracy", "qwk", "auc_ovr", "auc_ovo")
"""The metrics :func:`paired_bootstrap_difference` compares, named as in :func:`grading_report`:
the macro one-vs-one AUC, DRAC's tie-breaker, since the stats audit (F5); records made before
hold the first three."""


def paired_bootstrap_difference(
    y_true: Any,
    probs_a: Any,
    probs_b: Any,
    pred_a: Any,
    pred_b: Any,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    groups: Any = None,
) -> dict[str, dict[str, float]]:
    """Difference ``a - b`` of two models graded on the same images, with a paired percentile
    bootstrap ``(1 - alpha)`` confidence interval, for accuracy, QWK and the macro one-vs-rest
    and one-vs-one AUCs.

    Args:
        y_true: true grades ``(n,)``, integers ``0 .. K-1``.
        probs_a, probs_b: each model's class probabilities ``(n, K)``, rows sum to 1, row ``i``
            of both for image ``i`` (``K = probs_a.shape[1]``, the same for ``probs_b``).
        pred_a, pred_b: each model's submitted grades ``(n,)`` (e.g. thresholded expected
            grades, not necessarily ``argmax(probs)``).
        n_boot: bootstrap resamples; alpha: 0.05 for a 95% interval; seed: an integer, of
            ``numpy.random.default_rng``, so the interval is reproducible.
        groups: ``(n,)`` a patient id per image, or None (each image its own unit): with
            patients, each resample draws patients with replacement and takes all their
            images (the cluster bootstrap of :func:`bootstrap_resamples`), the same patients
            for both models.

    Accuracy and QWK (:func:`quadratic_weighted_kappa` over the K grades) score the given
    grades, the AUCs (:func:`macro_ovr_auc`, :func:`macro_ovo_auc`) the probabilities, exactly as
    :func:`grading_report` does. Each resample draws ``n`` images with replacement (with
    ``groups``: the patients, each with all its images), and the SAME images score both models (paired: what the two share, the images, cancels out of the
    difference). The interval is the ``alpha/2`` and ``1 - alpha/2`` percentiles of the
    resampled differences (Efron & Tibshirani 1993, An Introduction to the Bootstrap, ch. 13;
    the resampling of :func:`bootstrap_ci`). A resample on which a metric is undefined for
    either model is left out of that metric's interval, as :func:`bootstrap_ci` does: for the
    AUC, a resample that lacks a grade (:func:`macro_ovr_auc` is nan, see
    :func:`auc_undefined_reason`); for QWK, one where kappa is undefined. So a rare grade makes
    the AUC's interval rest on the resamples that contain it, which ``resamples`` counts.

    Returns:
        For each of :data:`PAIRED_METRICS` (``accuracy``, ``qwk``, ``auc_ovr``, ``auc_ovo``): ``a``, ``b``
        (the metric on all ``n`` images), ``difference`` (``a - b``), ``ci_low``, ``ci_high``
        and ``resamples`` (how many resamples the interval used). nan where undefined (e.g. the
        AUC when a grade is absent from ``y_true``, or ``n == 0``).

    The same as :func:`paired_difference` of the two models' :func:`bootstrap_scores` with
    the same ``n_boot`` and ``seed``, to the last bit: a caller that compares one model with
    several others scores each model's resamples once that way.

    Raises:
        ValueError: shapes that differ, a grade outside ``0 .. K-1``, malformed probabilities,
            ``n_boot < 0``, ``alpha`` outside (0, 1), a ``seed`` that is not an integer (None
            or a Generator would draw other resamples for each model) or malformed ``groups``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    yt = _as_grades(y_true, "y_true", _columns(probs_a))
    pa = _as_probs(probs_a, n=yt.size, name="probs_a")
    pb = _as_probs(probs_b, n=yt.size, name="probs_b")
    if pa.shape != pb.shape:
        raise ValueError(f"probs_a {pa.shape} and probs_b {pb.shape} differ in shape")
    ga = _as_grades(pred_a, "pred_a", pa.shape[1])
    gb = _as_grades(pred_b, "pred_b", pa.shape[1])
    _check_paired_inputs(yt, pa.shape[1], {"pred_a": ga, "pred_b": gb})
    units = _units(groups, yt.size)
    return paired_difference(_resampled_scores(yt, pa, ga, n_boot, seed, units),
                             _resampled_scores(yt, pb, gb, n_boot, seed, units), alpha)


@dataclass(frozen=True)
class BootstrapScores:
    """One model's :data:`PAIRED_METRICS` on ``n`` graded images, and on each of ``n_boot``
    bootstrap resamples of them (:func:`bootstrap_scores`).

    ``whole``: each metric on all ``n`` images (nan where undefined). ``resampled``: each
    metric's float64 values, resample by resample, shape ``(n_boot,)`` (``(0,)`` when
    ``n == 0``), nan where undefined. The resamples are fixed by ``(n, n_boot, seed)`` and the
    units they draw (``grouping``: a digest of the patient of each image, numbered by first
    image; the images themselves when no patients were given), the true grades by ``labels``
    (a digest of ``y_true`` in its order): two models' scores that agree on all five were
    computed on the same resamples, so :func:`paired_difference` can pair them. ``units``:
    how many units each resample draws (the patients, or ``n`` images); ``by_patient``:
    whether they are groups of images (``groups`` given); ``kind``: what they are, as
    ``ci_resamples`` records it (a key of :data:`RESAMPLING_UNITS`: ``patients``, ``groups``,
    the image groups the folds kept whole, or ``images``; '' in scores made without it, said
    as "patients or image groups" when grouped)."""

    whole: dict[str, float]
    resampled: dict[str, np.ndarray]
    n: int
    n_boot: int
    seed: int
    labels: str
    units: int = 0
    by_patient: bool = False
    grouping: str = ""
    kind: str = ""


def _check_paired_inputs(yt: np.ndarray, k: int, preds: dict[str, np.ndarray]) -> None:
    for name, grades in (*preds.items(), ("y_true", yt)):
        if grades.shape != yt.shape:
            raise ValueError(f"{name} has shape {grades.shape} but y_true has {yt.shape}")
        if grades.size and grades.max() >= k:
            raise ValueError(f"{name} holds grade {grades.max()} but the probabilities have {k} "
                             f"columns (grades 0..{k - 1})")


def _resampled_scores(yt: np.ndarray, probs: np.ndarray, pred: np.ndarray, n_boot: int,
                      seed: int, units: _Units) -> BootstrapScores:
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    sklearn = import_keeping_random("sklearn")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        # None or a Generator would draw other images for each model: nothing would pair them
        raise ValueError(f"seed must be an integer (the same draws for every model), got {seed!r}")
    seed = int(seed)
    k = probs.shape[1]

    def scores(idx: np.ndarray) -> tuple[float, float, float, float]:
        y = yt[idx]
        if y.size == 0:
            return float("nan"), float("nan"), float("nan"), float("nan")
        return (float(accuracy_score(y, pred[idx])), quadratic_weighted_kappa(y, pred[idx], k),
                macro_ovr_auc(y, probs[idx]), macro_ovo_auc(y, probs[idx]))

    def counted(counts: np.ndarray) -> np.ndarray:
        return np.stack([_counted_accuracy(counts, yt, pred), _counted_qwk(counts, yt, pred, k),
                         _counted_ovr_auc(counts, yt, probs), _counted_ovo_auc(counts, yt, probs)], axis=1)

    n = yt.size
    # inputs checked by the callers: scikit-learn's own checks only cost time
    with undefined_scores_quiet(), sklearn.config_context(assume_finite=True,
                                                         skip_parameter_validation=True):
        whole = scores(np.arange(n))
    if not n or _counted_agrees(counted, n, whole, PAIRED_METRICS):
        values = np.concatenate([np.zeros((0, len(PAIRED_METRICS))),
                                 *(counted(c) for c in _count_chunks(n, _resamples(n, n_boot, seed, units), k * k))])
    else:  # scikit-learn on each resample, as before the counts
        with undefined_scores_quiet(), sklearn.config_context(assume_finite=True,
                                                             skip_parameter_validation=True):
            values = np.array([scores(idx) for idx in _resamples(n, n_boot, seed, units)],
                              dtype=np.float64).reshape(-1, len(PAIRED_METRICS))
    labels = hashlib.sha256(np.ascontiguousarray(yt, dtype=np.int64).tobytes()).hexdigest()
    return BootstrapScores(dict(zip(PAIRED_METRICS, whole, strict=True)),
                           {m: values[:, i] for i, m in enumerate(PAIRED_METRICS)}, n, n_boot, seed,
                           labels, units.count, units.grouped, units.digest, units.kind)


def bootstrap_scores(y_true: Any, probs: Any, pred: Any, n_boot: int = 1000,
                     seed: int = 0, groups: Any = None, kind: str | None = None) -> BootstrapScores:
    """One model's accuracy and QWK of its grades ``pred`` ``(n,)`` and macro one-vs-rest and
    one-vs-one AUCs of its probabilities ``probs`` ``(n, K)`` against ``y_true`` ``(n,)``, on all ``n`` images and
    on each of ``n_boot`` resamples drawn with replacement by ``numpy.random.default_rng(seed)``
    (the draws of :func:`paired_bootstrap_difference`). ``groups`` ``(n,)``, a patient id per
    image: each resample draws the patients with replacement, each with all its images (the
    cluster bootstrap of :func:`bootstrap_resamples`); None: each image its own unit. ``kind``:
    what the units of ``groups`` are, as ``ci_resamples`` records it (``patients``, or
    ``groups``: the image groups the folds kept whole, near twins joined with their patients),
    carried in the scores so that :func:`paired_difference`'s refusal names them; None:
    :func:`drac_ssl.oof.resampling_kind` of ``groups`` (``images`` without them). Pair two
    models' scores, drawn with the same ``n_boot``, ``seed`` and ``groups``, with
    :func:`paired_difference`.

    Raises:
        ValueError: shapes that differ, a grade outside ``0 .. K-1``, malformed
            probabilities, ``n_boot < 0``, a ``seed`` that is not an integer (None or a
            Generator would draw other resamples for each model), malformed ``groups``, or a
            ``kind`` that is not theirs (``patients`` or ``groups`` with ``groups``, ``images``
            without).
    """
    yt = _as_grades(y_true, "y_true", _columns(probs))
    p = _as_probs(probs, n=yt.size, name="probs")
    g = _as_grades(pred, "pred", p.shape[1])
    _check_paired_inputs(yt, p.shape[1], {"pred": g})
    return _resampled_scores(yt, p, g, n_boot, seed, _units(groups, yt.size, kind))


def paired_difference(a: BootstrapScores, b: BootstrapScores, alpha: float = 0.05
                      ) -> dict[str, dict[str, float]]:
    """``a - b`` with a paired percentile bootstrap ``(1 - alpha)`` interval from two models'
    :func:`bootstrap_scores` on the same images and resamples; the result of
    :func:`paired_bootstrap_difference` (see there), to the last bit.

    Raises:
        ValueError: ``alpha`` outside (0, 1), or scores of other resamples (``n``, ``n_boot``,
            ``seed`` or the patients drawn differ) or of other true grades (``labels``):
            nothing pairs them.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if (a.n, a.n_boot, a.seed) != (b.n, b.n_boot, b.seed):
        raise ValueError(f"the two models' bootstrap scores were drawn differently (n, n_boot, seed: "
                         f"{(a.n, a.n_boot, a.seed)} and {(b.n, b.n_boot, b.seed)}): nothing pairs them")
    if a.grouping != b.grouping:
        def drawn(s: BootstrapScores) -> str:  # scores made without a kind: patients or image groups
            if not s.by_patient:
                return f"{s.n} images"
            noun = RESAMPLING_UNITS.get(s.kind)
            return f"{s.units} groups (patients or image groups)" if noun is None else counted_units(s.units, noun)
        raise ValueError(f"the two models' bootstrap scores were drawn differently (over {drawn(a)} "
                         f"and over {drawn(b)}, or other groups): nothing pairs them; give both "
                         f"the same groups")
    if a.labels != b.labels:
        raise ValueError("the two models' bootstrap scores are of other true grades (or the same "
                         "images in another order): nothing pairs them")
    out: dict[str, dict[str, float]] = {}
    for metric in PAIRED_METRICS:
        wa, wb = a.whole[metric], b.whole[metric]
        diffs = a.resampled[metric] - b.resampled[metric]
        diffs = diffs[np.isfinite(diffs)]
        lo, hi = (np.percentile(diffs, [100 * alpha / 2, 100 * (1 - alpha / 2)]) if diffs.size
                  else (float("nan"), float("nan")))
        out[metric] = {"a": wa, "b": wb, "difference": wa - wb, "ci_low": float(lo), "ci_high": float(hi),
                       "resamples": int(diffs.size)}
    return out


# --------------------------------------------------------------------------- class decision


def expected_grade(probs: Any) -> np.ndarray:
    """Expected grade ``sum_k k * P_k`` of each row of ``probs`` ``(n, K)``; shape ``(n,)``.

    A continuous score in ``[0, K-1]`` for ``apply_thresholds``: it uses the order of the
    grades, which kappa rewards and argmax ignores. Rows off by less than 1e-3 from summing
    to 1 (float32 rounding) are renormalised first.

    Raises:
        ValueError: ``probs`` not ``(n, K)`` with ``K >= 2``, holding NaN or inf, values
            outside [0, 1] (logits given: pass ``softmax(logits)``), or a row that does not
            sum to 1 (within 1e-3).
    """
    p = _as_probs(probs)
    return p @ np.arange(p.shape[1], dtype=np.float64)


def apply_thresholds(scores: Any, thresholds: Sequence[float] | None = None) -> np.ndarray:
    """Grades ``(n,)`` int64 from continuous scores ``(n,)`` and increasing thresholds.

    ``grade = number of thresholds t with score >= t``; with the default
    :data:`DEFAULT_THRESHOLDS` ``(0.5, 1.5)`` this rounds the expected grade to the nearest
    grade (a score exactly on a threshold goes up). The default is DRAC's three grades: for K
    grades pass K-1 thresholds (``default_thresholds(K)`` or :func:`fit_kappa_thresholds`).
    With thresholds given, a score above the last one is the top grade (a regression output
    may overshoot it); with the default, a score above 2.5 cannot be an expected grade on
    DRAC's scale and is refused (below).

    Raises:
        ValueError: ``scores`` not 1-D; a score not finite (NaN, +-inf: the outputs of a model
            whose training diverged; ``np.digitize`` would give NaN the top grade, which no
            threshold rule says); thresholds not finite and strictly increasing; or, with the
            default thresholds, a score above ``len(DEFAULT_THRESHOLDS) + 0.5`` = 2.5: the
            scores come from more than three grades (expected grades of K = 5 up to 4 would
            otherwise silently become grade 2). Pass K-1 thresholds.
    """
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(DEFAULT_THRESHOLDS if thresholds is None else thresholds, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D (n,), got shape {s.shape}; {_one_d_fix('scores', s, 'scores')}")
    bad = np.flatnonzero(~np.isfinite(s))
    if bad.size:
        raise ValueError(f"apply_thresholds: {bad.size} of {s.size} scores are not finite (first at "
                         f"row {int(bad[0])}: {s[bad[0]]}); a NaN or infinite score has no grade: the "
                         f"outputs it came from are broken (e.g. a model whose training diverged)")
    if t.ndim != 1 or t.size == 0 or np.any(np.diff(t) <= 0) or not np.all(np.isfinite(t)):
        got = (tuple(float(v) for v in t) if t.ndim == 1 else f"an array of shape {t.shape}")
        raise ValueError(f"thresholds must be a finite, strictly increasing sequence (K-1 cuts), got {got}")
    top = len(t) + 0.5
    if thresholds is None and s.size and s.max() > top:
        raise ValueError(
            f"apply_thresholds: a score of {s.max():.4g} exceeds {top:g}, impossible for an "
            f"expected grade on the scale of the default thresholds {tuple(float(v) for v in t)} "
            f"(DRAC's grades 0..{len(t)}): these scores come from more grades, or from a "
            f"regression head that overshoots the scale.\n"
            f"  fix: pass K-1 thresholds for K grades, e.g. "
            f"apply_thresholds(scores, default_thresholds(K)) (a score above the last "
            f"threshold given is the top grade)")
    return np.digitize(s, t, right=False).astype(np.int64)


def _threshold_candidates(scores: np.ndarray, count: int = 2) -> np.ndarray:
    """Every distinct cut of ``scores``: the midpoints between consecutive distinct scores,
    plus one below and one above all scores (so a grade may also receive no sample); more
    cuts above all scores when fewer than ``count`` would exist (K - 1 thresholds need
    K - 1 distinct cuts even when the scores take fewer values)."""
    uniq = np.unique(scores)
    mids = (uniq[:-1] + uniq[1:]) / 2
    span = max(float(uniq[-1] - uniq[0]), 1.0)
    cand = np.concatenate([[uniq[0] - 0.01 * span], mids, [uniq[-1] + 0.01 * span]])
    if cand.size < count:
        extra = uniq[-1] + 0.01 * span * np.arange(2, count - cand.size + 2)
        cand = np.concatenate([cand, extra])
    return cand


def fit_kappa_thresholds(
    scores: Any, y_true: Any, max_candidates: int = 100, max_sweeps: int = 20,
    num_grades: int | None = None,
) -> tuple[float, ...]:
    """Thresholds ``(t_0, ..., t_{K-2})``, strictly increasing, for ``apply_thresholds``,
    found by a coordinate search for the highest quadratic kappa: a local optimum, not always
    the global one (on small sets it can miss it by a wide margin; on the default job's
    out-of-fold scores a brute force over the same cuts gains 0.001-0.002 QWK).

    Fit them on out-of-fold scores (e.g. ``expected_grade`` of out-of-fold probabilities),
    never on the fold being evaluated. ``scores`` ``(n,)`` float, ``y_true`` ``(n,)`` grades
    in ``0 .. K-1``; ``K = num_grades`` (omitted: the largest grade in ``y_true`` + 1, at
    least 2).

    Method: the candidate cuts are the midpoints between consecutive distinct scores (plus
    one below and one above all scores), i.e. every distinct partition. A coordinate search
    moves each threshold in turn, ``t_0`` first, to the candidate of highest sklearn
    quadratic kappa between its neighbours, moving only on a strict improvement, until a
    sweep changes nothing: first on a quantile-spaced grid of at most ``max_candidates``
    cuts, then on every cut between the grid neighbours of the coarse optimum. It starts
    from (a) the default ``(0.5, 1.5, ...)`` and (b) the cuts that reproduce the true grade
    frequencies and keeps the better result (ties: (a)). Deterministic, no random restarts;
    a few hundred kappa evaluations for n = 611 and K = 3.

    Raises:
        ValueError: ``scores`` not numbers of shape ``(n,)``, or of another length than
            ``y_true``; ``scores`` empty or not all finite (NaN, +-inf); ``y_true`` not 1-D
            non-negative integer grades; ``num_grades < 2``; a grade in ``y_true`` >= K.
    """
    s = np.asarray(scores, dtype=np.float64)
    yt = _as_grades(y_true, "y_true", None if num_grades is None else int(num_grades))
    if s.ndim != 1 or s.shape != yt.shape:
        raise ValueError(f"scores {s.shape} and y_true {yt.shape} must both be (n,)")
    if s.size == 0 or not np.all(np.isfinite(s)):
        raise ValueError("scores must be non-empty and finite")
    k = int(num_grades) if num_grades is not None else max(int(yt.max()) + 1, 2)
    if k < 2:
        raise ValueError(f"num_grades must be >= 2, got {num_grades}")
    if yt.max() >= k:
        raise ValueError(f"y_true must hold grades 0..{k - 1}, found {yt.max()}")
    n_cuts = k - 1
    cand = _threshold_candidates(s, n_cuts)  # always >= max(2, K - 1) cuts
    m = cand.size
    coarse = np.unique(np.round(np.linspace(0, m - 1, min(m, max(int(max_candidates), 2, n_cuts))))
                       .astype(np.int64))
    cache: dict[tuple[int, ...], float] = {}

    def kappa_at(idx: tuple[int, ...]) -> float:
        if idx not in cache:
            value = quadratic_weighted_kappa(yt, apply_thresholds(s, tuple(cand[list(idx)])), k)
            cache[idx] = value if math.isfinite(value) else -math.inf
        return cache[idx]

    def search(idx: tuple[int, ...], grid: np.ndarray) -> tuple[float, tuple[int, ...]]:
        best = kappa_at(idx)
        for _ in range(max_sweeps):
            moved = False
            for pos in range(n_cuts):
                low = idx[pos - 1] if pos > 0 else -1
                high = idx[pos + 1] if pos + 1 < n_cuts else m
                for j in grid[(grid > low) & (grid < high)]:
                    trial = idx[:pos] + (int(j),) + idx[pos + 1:]
                    if kappa_at(trial) > best + 1e-12:
                        best, idx, moved = kappa_at(trial), trial, True
            if not moved:
                break
        return best, idx

    def window(i: int) -> np.ndarray:
        pos = int(np.searchsorted(coarse, i))
        lo = coarse[max(pos - 1, 0)]
        hi = coarse[min(pos + 1, coarse.size - 1)]
        return np.arange(lo, hi + 1)

    def nearest(value: float) -> int:
        return int(coarse[np.argmin(np.abs(cand[coarse] - value))])

    def increasing(idx: list[int]) -> tuple[int, ...]:
        """Starting cuts snapped onto one grid point are separated: each moves up to the
        next grid point, and those stuck at the top move down below their neighbour."""
        for pos in range(1, n_cuts):
            if idx[pos] <= idx[pos - 1]:
                above = coarse[coarse > idx[pos - 1]]
                idx[pos] = int(above[0]) if above.size else int(coarse[-1])
        for pos in range(n_cuts - 2, -1, -1):
            if idx[pos] >= idx[pos + 1]:
                idx[pos] = int(coarse[coarse < idx[pos + 1]][-1])
        return tuple(idx)

    frac = np.cumsum(np.bincount(yt, minlength=k))[:-1] / yt.size
    quant = np.quantile(s, frac)
    results = []
    for start in ([nearest(t) for t in default_thresholds(k)], [nearest(q) for q in quant]):
        _, idx = search(increasing(start), coarse)
        refine = functools.reduce(np.union1d, [window(i) for i in idx])
        results.append(search(idx, refine))
    best = max(range(len(results)), key=lambda r: (results[r][0], -r))
    _, idx = results[best]
    return tuple(float(cand[i]) for i in idx)


THRESHOLD_GRADE_SHARE_MIN = 0.01
"""The share of the images below which the grade the deployed thresholds give a labelled grade
is said by :func:`threshold_band_warning` (with fewer than half the images that grade
labelled): a hundredth of the images."""


def threshold_band_warning(thresholds: Sequence[float], y_true: Any, y_pred: Any,
                           grade_names: Sequence[str] | None = None) -> str | None:
    """The warning on kappa-tuned thresholds that (nearly) never give a grade some labelled
    image has: ``y_pred`` ``(n,)`` the grades the deployed ``thresholds`` give the images they
    were fitted on (the in-sample grades: ``apply_thresholds(score, thresholds)``, what the
    bundle then gives), ``y_true`` ``(n,)`` the labels; a grade with labelled images is said
    when no image is given it, or fewer than :data:`THRESHOLD_GRADE_SHARE_MIN` of the ``n`` images and
    fewer than half its labelled count (a rare grade given about as often as labelled is not
    said). Each grade said gets its band between two thresholds (grade ``g`` of ``1 .. K-2``:
    ``t_g - t_{g-1}``, on the score's scale), as information only: a narrow band may hold many
    images where the scores crowd (a trial's 0.0083 band held 9 of 30 images) and a wider one
    none (bands of 0.011-0.013 holding none). None when no grade is said.
    :func:`fit_kappa_thresholds` maximises the QWK with no constraint on the bands (none is
    documented for it, nor for DRAC's or Kaggle's kappa-tuned thresholds: an optimum may skip a
    grade), so such thresholds are kept and said. The out-of-fold grades (thresholds fitted
    within each fold) are not the measure: a trial's grade 1, band 0.0072, was 90 of 1080
    out-of-fold grades but 3 of 1080 with the deployed thresholds. ``grade_names``: the grades'
    names (None: the numbers). Raises ValueError for thresholds that are not increasing, or
    ``y_true`` and ``y_pred`` of different lengths."""
    t = np.asarray(list(thresholds), dtype=np.float64)
    if t.ndim != 1 or np.any(np.diff(t) < 0):
        raise ValueError(f"thresholds must be increasing, got {tuple(float(v) for v in t)}")
    k = t.size + 1
    names = list(grade_names) if grade_names is not None else [str(g) for g in range(k)]
    yt, yp = np.asarray(y_true, dtype=np.int64).ravel(), np.asarray(y_pred, dtype=np.int64).ravel()
    if yt.size != yp.size:
        raise ValueError(f"{yt.size} labels and {yp.size} grades: give one grade per labelled image")
    n = int(yp.size)

    def grade(g: int) -> str:
        return f"{g} ({names[g]})" if g < len(names) and names[g] != str(g) else str(g)

    said = []
    for g in range(k):
        labelled, given = int(np.sum(yt == g)), int(np.sum(yp == g))
        if not labelled or (given and (given >= THRESHOLD_GRADE_SHARE_MIN * n or given >= labelled / 2)):
            continue
        band = f"; its band {t[g] - t[g - 1]:.4g} of the score" if 0 < g < k - 1 else ""
        said.append(f"grade {grade(g)} to " + (f"{given} of the {n} images ({100 * given / n:.2g}%; "
                                                if given else f"none of the {n} images (")
                    + f"{labelled} labelled{band})")
    if not said:
        return None
    return ("the kappa-tuned thresholds (" + ", ".join(f"{v:.6g}" for v in t) + ") give "
            + "; ".join(said) + " in-sample: the thresholds rule (nearly) never gives "
            + ("that grade" if len(said) == 1 else "those grades")
            + "; the thresholds maximise the out-of-fold QWK and are kept as fitted "
            "(finetune.decision=argmax gives the most probable grade instead)")


# --------------------------------------------------------------------------- calibration

ECE_BINS = 10
"""Bins of :func:`expected_calibration_error`: equal-width on the top-class confidence,
``(0, 0.1], (0.1, 0.2], ..., (0.9, 1]`` (Guo et al. 2017's 15 is no better on a few dozen
images; 10 is the common choice of small external validations)."""


def brier_definition(num_grades: int) -> str:
    """Which Brier score :func:`brier_score` gives for ``num_grades`` grades: ``"binary"`` for
    two (the usual binary one, of P1), ``"multiclass"`` for more (scikit-learn's
    ``brier_score_loss(..., scale_by_half="auto")`` convention)."""
    return "binary" if int(num_grades) == 2 else "multiclass"


BRIER_WORDS = {
    "binary": "the usual binary one, of P1 (the higher grade): the mean over images of "
              "(P1 - [true grade = 1])^2 (0 best, 1 worst; half the multi-class score)",
    "multiclass": "the multi-class one, the mean over images of sum_k (P_k - [true grade = k])^2 "
                  "(0 best, 2 worst)",
}
"""How each :func:`brier_definition` is said beside the figure."""


def brier_score(y_true: Any, probs: Any) -> float:
    """The Brier score (Brier, Monthly Weather Review 1950), as scikit-learn's
    ``brier_score_loss`` gives it by default (``scale_by_half="auto"``): with two grades the
    usual binary score of P1, the mean over images of ``(P_1 - [y == 1])^2`` (0 best, 1
    worst; ``brier_score_loss(y, probs[:, 1])``); with ``K > 2`` the multi-class score, the
    mean of ``sum_k (P_k - [y == k])^2``, the squared distance of each row of probabilities to
    the one-hot true grade (0 best, 2 worst; ``1 - 1/K`` for the uniform ``1/K`` whatever the
    truth). The multi-class sum of two grades is twice the binary score, which is why two
    grades get the binary one (:func:`brier_definition` names it). One image of true grade 0
    given ``[0.5, 0.5, 0]`` scores ``0.25 + 0.25 = 0.5``; given ``[0.8, 0.2]``, ``0.04``.

    Args:
        y_true: true grades ``(n,)``, integers ``0 .. K-1``.
        probs: ``(n, K)`` probabilities, rows summing to 1.

    Returns:
        The score (lower is better); nan for no image.

    Raises:
        ValueError: malformed grades or probabilities, a grade ``>= K``, lengths that differ.
    """
    yt = _as_grades(y_true, "y_true", _columns(probs))
    p = _as_probs(probs, n=yt.size)
    _check_grades_within(yt, p.shape[1], "y_true")
    if yt.size == 0:
        return float("nan")
    if p.shape[1] == 2:  # the binary score: half the two-grade sum, whose two terms are equal
        return float(((p[:, 1] - (yt == 1)) ** 2).mean())
    onehot = np.eye(p.shape[1])[yt]
    return float(((p - onehot) ** 2).sum(axis=1).mean())


def expected_calibration_error(y_true: Any, probs: Any, n_bins: int = ECE_BINS) -> float:
    """The expected calibration error of the top-class confidence (Naeini, Cooper & Hauskrecht,
    AAAI 2015; Guo et al., "On Calibration of Modern Neural Networks", ICML 2017, eq. 3):
    ``sum_b |B_b| / n * |acc(B_b) - conf(B_b)|`` over ``n_bins`` equal-width bins of the
    confidence ``max_k P_k`` (bin ``b`` holds confidences in ``(b / n_bins, (b + 1) / n_bins]``,
    a confidence of 0 the first), ``acc`` the share of the bin's images whose most probable
    grade (``argmax_k P_k``, the first on a tie; not a thresholded decision) is the true one,
    ``conf`` their mean confidence. 0 when confidence matches accuracy in every bin. Two
    images at confidence 0.8, one right: one bin, ``|0.5 - 0.8| = 0.3``.

    Args:
        y_true: true grades ``(n,)``, integers ``0 .. K-1``.
        probs: ``(n, K)`` probabilities, rows summing to 1.
        n_bins: how many equal-width bins (>= 1).

    Returns:
        The error, in ``[0, 1]``; nan for no image.

    Raises:
        ValueError: malformed grades or probabilities, a grade ``>= K``, ``n_bins < 1``.
    """
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    yt = _as_grades(y_true, "y_true", _columns(probs))
    p = _as_probs(probs, n=yt.size)
    _check_grades_within(yt, p.shape[1], "y_true")
    if yt.size == 0:
        return float("nan")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == yt).astype(np.float64)
    bins = _confidence_bins(confidence, n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, correct, n_bins) - np.bincount(bins, confidence, n_bins))
    return float(gap.sum() / yt.size) if counts.sum() else float("nan")


def _confidence_bins(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """The ECE's bin of each confidence ``(n,)``: ``0 .. n_bins-1`` of ``n_bins`` equal-width
    bins of ``(0, 1]``, each closed at its upper edge (``(n,)`` int64)."""
    # 0.1 * 7 is 0.7000000000000001 in floats: a confidence at an edge within 1e-9 stays in the bin it closes
    return np.clip(np.ceil(confidence * n_bins - 1e-9).astype(np.int64) - 1, 0, int(n_bins) - 1)


ECE_CONSISTENCY_DRAWS = 1000
"""Draws of :func:`ece_if_calibrated` (its 95th percentile moves between seeds by a standard
deviation of 0.0005 at n = 611, 0.0024 at n = 60: ``python -m bench.ece_reference``)."""


def ece_if_calibrated(probs: Any, n_bins: int = ECE_BINS, n_draws: int = ECE_CONSISTENCY_DRAWS,
                      seed: int = 0) -> tuple[float, float]:
    """The ECE a perfectly calibrated model with these predictions would show: consistency
    resampling (Bröcker & Smith, "Increasing the reliability of reliability diagrams", Weather
    and Forecasting 22(3), 2007). Each draw takes every image's grade from its own row of
    ``probs`` (the null hypothesis: the probabilities are right) and recomputes
    :func:`expected_calibration_error`; returns the mean and the 95th percentile of the
    ``n_draws`` ECEs. The ECE of a finite sample is biased upwards (perfectly calibrated
    simulated models: 0.087 at n = 60, 0.029 at n = 611, on average), and a percentile
    bootstrap CI around the observed ECE does not hold the true 0 (0 of 100 such CIs at either
    n; ``python -m bench.ece_reference``, ``bench/results/ece_reference.json``):
    read the observed ECE against this reference instead, an ECE above the 95th percentile
    being miscalibration beyond chance.

    Only whether the drawn grade is the top one enters the ECE, and a grade drawn from row
    ``P`` is ``argmax P`` with probability ``max P`` (the confidence): each draw is one
    Bernoulli(confidence) per image, all draws at once (one array operation, no loop per draw).

    Args:
        probs: ``(n, K)`` probabilities, rows summing to 1.
        n_bins: the ECE's equal-width bins (>= 1), :data:`ECE_BINS` as the observed ECE's.
        n_draws: how many draws (>= 1).
        seed: of ``numpy.random.default_rng``: the same seed, the same figures.

    Returns:
        ``(mean, p95)``, in ``[0, 1]``; ``(nan, nan)`` for no image.

    Raises:
        ValueError: malformed probabilities, ``n_bins < 1`` or ``n_draws < 1``.
    """
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if int(n_draws) < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    p = _as_probs(probs)
    n = p.shape[0]
    if n == 0:
        return float("nan"), float("nan")
    confidence = p.max(axis=1)
    bins = _confidence_bins(confidence, n_bins)
    in_bin = np.zeros((n, int(n_bins)))
    in_bin[np.arange(n), bins] = 1.0
    confidence_sums = confidence @ in_bin
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // n)  # at most ~16 MB of draws at a time
    eces = []
    for start in range(0, int(n_draws), chunk):
        right = rng.random((min(chunk, int(n_draws) - start), n)) < confidence
        eces.append(np.abs(right @ in_bin - confidence_sums).sum(axis=1) / n)
    draws = np.concatenate(eces)
    return float(draws.mean()), float(np.percentile(draws, 95))


def softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """Row-wise ``softmax(logits / temperature)``; ``logits`` ``(n, K)`` -> ``(n, K)`` float64.

    Numerically stable (scipy.special.softmax subtracts the row maximum). NaN or inf
    logits are not refused: their rows come out NaN.

    Raises:
        ValueError: ``temperature`` not > 0 (NaN included).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(logits, dtype=np.float64)
    return _scipy_softmax(z / temperature, axis=-1)


TEMPERATURE_BOUNDS = (1e-2, 1e2)
"""Where :func:`fit_temperature` searches ``T`` (by default)."""


def temperature_at_bound(temperature: Any) -> bool:
    """Whether a fitted temperature sits at the edge of :data:`TEMPERATURE_BOUNDS` (within 1 %
    of either end): the raw outputs could not be calibrated, which report.md and the model
    card both say (printing the value). ``temperature``: any real number (numpy scalars
    too). False for a value that is not a finite number (None, NaN, +-inf, a bool, a string):
    :func:`fit_temperature` never returns one, and neither caller could say what it means."""
    value = finite_number(temperature)
    if value is None:
        return False
    low, high = TEMPERATURE_BOUNDS
    return not 1.01 * low < value < 0.99 * high


def fit_temperature(logits: Any, y_true: Any, bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """Temperature ``T > 0`` minimising the NLL of ``softmax(logits / T)`` (Guo et al. 2017).

    ``logits`` ``(n, K)``, ``y_true`` ``(n,)`` grades. Fit on held-out (out-of-fold) logits.
    Optimises ``log T`` with ``scipy.optimize.minimize_scalar(method="bounded")`` inside
    ``bounds`` (T); ``T > 1`` softens over-confident predictions. Temperature scaling does
    not change argmax, hence neither accuracy nor an argmax-kappa. Returns ``T`` within
    ``bounds`` (one at its edge: :func:`temperature_at_bound`).

    Raises:
        ValueError: ``logits`` not ``(n, K)`` with ``n = len(y_true) > 0``; ``y_true`` not
            1-D non-negative integer grades, or holding a grade >= K; NaN or infinite
            logits; ``bounds`` not ``0 < low < high``; ``logits`` that are probabilities
            (every value in [0, 1] and every row summing to 1 within 1e-6: softmax outputs,
            whose temperature would be fitted on the wrong scale; pass the logits).
    """
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits, dtype=np.float64)
    yt = _as_grades(y_true, "y_true", _columns(z))
    if z.ndim != 2 or z.shape[0] != yt.size or yt.size == 0:
        raise ValueError(f"logits must be (n, K) with n = len(y_true) > 0, got {z.shape}")
    if yt.max() >= z.shape[1]:
        raise ValueError(f"y_true holds grade {yt.max()} but logits has {z.shape[1]} columns")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits hold NaN or infinite values")
    if z.min() >= 0.0 and z.max() <= 1.0 and np.allclose(z.sum(axis=1), 1.0, rtol=0.0, atol=1e-6):
        raise ValueError(f"logits look like probabilities (every value in [0, 1], every row of the "
                         f"{z.shape[0]} summing to 1): a temperature is fitted on the logits, not on "
                         f"softmax(logits); pass the model's raw outputs (log(probs) if only "
                         f"probabilities are kept)")
    lo, hi = bounds
    if not 0 < lo < hi:
        raise ValueError(f"bounds must satisfy 0 < low < high, got {bounds}")
    rows = np.arange(yt.size)

    def nll(log_t: float) -> float:
        return float(-log_softmax(z / math.exp(log_t), axis=1)[rows, yt].mean())

    res = minimize_scalar(nll, bounds=(math.log(lo), math.log(hi)), method="bounded",
                          options={"xatol": 1e-6})
    return float(math.exp(res.x))


# --------------------------------------------------------------------------- representations


def knn_accuracy(
    train_feats: Any,
    train_labels: Any,
    test_feats: Any,
    test_labels: Any,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> float:
    """Weighted k-NN top-1 accuracy of frozen features (Wu et al. 2018; DINO's ``eval_knn``).

    Features ``(n, d)`` (torch tensors on any device, or numpy arrays), labels ``(n,)`` ints,
    classes ``0 .. num_classes-1`` (``num_classes`` omitted: the largest label of either split
    + 1). Protocol (methods.md section 3): L2-normalise, cosine similarity of each test row
    to all train rows, keep the top ``k`` neighbours (``min(k, n_train)``), weight each by
    ``exp(sim / temperature)`` and predict the class with the largest summed weight (ties:
    lowest class). Runs on the device of ``train_feats`` in float32, ``chunk_size`` test
    rows at a time so memory stays ``O(chunk_size * n_train)``. The weights are computed as
    ``exp((sim - max sim) / T)``, the same vote up to a per-row factor, to avoid overflow.
    Returns the fraction of test rows whose vote is their label, a float in [0, 1]; nan when
    any feature of either split is NaN or inf (a diverged backbone, or one whose eval-mode
    statistics overflowed): such features vote for nothing, and an argmax over their nan
    votes picks class 0 for every row, so the share of class 0 among the test labels would
    read as an accuracy. Checked after the labels, so a
    label error is still raised.

    Raises:
        ValueError: ``k < 1``, ``temperature <= 0`` or ``chunk_size < 1``; features not
            ``(n, d)`` with the same ``d``; not one label per feature row; an empty split; a
            label outside ``0 .. num_classes-1`` in either split (e.g. -1, an unlabelled row
            as :class:`~drac_ssl.augment.EvalDataset` gives it: leave such rows out); a label
            that is not a whole number (``int`` would cut 0.7 to class 0).
    """
    import torch
    import torch.nn.functional as F

    if k < 1 or not temperature > 0 or chunk_size < 1:
        raise ValueError(f"need k >= 1, temperature > 0, chunk_size >= 1; got {k}, "
                         f"{temperature}, {chunk_size}")
    with torch.no_grad():
        train = torch.as_tensor(train_feats)
        device = train.device
        test = torch.as_tensor(test_feats).to(device)
        # shapes first: F.normalize of a 1-D tensor is an IndexError that names neither
        if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
            raise ValueError(f"features must be (n, d) with equal d, got {tuple(train.shape)} "
                             f"and {tuple(test.shape)}")
        train, test = train.float(), test.float()
        labels = {}
        for name, given in (("train_labels", train_labels), ("test_labels", test_labels)):
            y = torch.as_tensor(given).to(device).reshape(-1)
            if y.is_floating_point() and y.numel() and not bool((y == y.round()).all().item()):
                row = int((y != y.round()).nonzero()[0, 0].item())
                raise ValueError(f"knn_accuracy: {name} hold {float(y[row].item())!r} (row {row}), not a "
                                 f"class: labels are whole numbers 0..num_classes-1 (a float label is "
                                 f"not cut to an integer)")
            labels[name] = y.long()
        y_train, y_test = labels["train_labels"], labels["test_labels"]
        if y_train.numel() != train.shape[0] or y_test.numel() != test.shape[0]:
            raise ValueError("each feature row needs exactly one label")
        if train.shape[0] == 0 or test.shape[0] == 0:
            raise ValueError("knn_accuracy needs at least one train and one test row")
        if num_classes is None:
            num_classes = int(max(y_train.max().item(), y_test.max().item())) + 1
        for name, y in (("train_labels", y_train), ("test_labels", y_test)):
            outside = ((y < 0) | (y >= num_classes)).nonzero()
            if outside.numel():  # one read-back, as the inferred num_classes costs
                row = int(outside[0, 0].item())
                raise ValueError(
                    f"knn_accuracy: {name} hold label {int(y[row].item())} (row {row}, "
                    f"{outside.shape[0]} such row(s)); labels are classes 0..{num_classes - 1} "
                    f"(num_classes={num_classes}). An unlabelled row (-1, as EvalDataset gives "
                    f"it) has no class to vote for or to be scored against: leave it out of both "
                    f"splits")
        if not bool((torch.isfinite(train).all() & torch.isfinite(test).all()).item()):
            return math.nan
        train, test = F.normalize(train, dim=1), F.normalize(test, dim=1)
        k_eff = min(int(k), train.shape[0])
        correct = 0
        for start in range(0, test.shape[0], chunk_size):
            block = test[start:start + chunk_size]
            sim = block @ train.T  # (b, n_train) cosine similarities
            top_sim, top_idx = sim.topk(k_eff, dim=1)
            weights = ((top_sim - top_sim[:, :1]) / temperature).exp()
            votes = torch.zeros(block.shape[0], num_classes, device=device)
            votes.scatter_add_(1, y_train[top_idx], weights)
            pred = votes.argmax(dim=1)
            correct += int((pred == y_test[start:start + chunk_size]).sum().item())
    return correct / test.shape[0]


def cluster_quality(feats: Any, labels: Any) -> dict[str, float]:
    """Davies-Bouldin (lower is better) and Calinski-Harabasz (higher is better) indices of
    features ``(n, d)`` grouped by their true ``labels`` ``(n,)`` (sklearn.metrics).

    Accepts numpy arrays or torch tensors (moved to the host). Both are nan when undefined
    (fewer than 2 distinct labels, or every sample its own label).

    Raises:
        ValueError: ``feats`` not ``(n, d)`` with ``n = len(labels)``, or not numbers.
    """
    if hasattr(feats, "detach"):
        feats = feats.detach().float().cpu().numpy()
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    x = np.asarray(feats, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.size:
        raise ValueError(f"feats must be (n, d) with n = len(labels), got {x.shape}, {y.shape}")
    n_labels = np.unique(y).size
    if not 2 <= n_labels < y.size:
        return {"davies_bouldin": float("nan"), "calinski_harabasz": float("nan")}
    return {
        "davies_bouldin": float(davies_bouldin_score(x, y)),
        "calinski_harabasz": float(calinski_harabasz_score(x, y)),
    }
