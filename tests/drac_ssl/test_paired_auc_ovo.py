"""Stats audit F5: the paired differences covered accuracy, QWK and the one-vs-rest AUC, not
DRAC's tie-breaker, the macro one-vs-one AUC: a pair of models tied on QWK could not be told
apart on the challenge's own second figure."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from drac_ssl.metrics import (
    PAIRED_METRICS,
    bootstrap_resamples,
    bootstrap_scores,
    macro_ovo_auc,
    paired_bootstrap_difference,
)


def _models(n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    grades = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])
    sharp = np.eye(3)[grades] * 2.0 + rng.normal(0, 1.0, (n, 3))
    a = np.exp(sharp) / np.exp(sharp).sum(axis=1, keepdims=True)
    b = rng.dirichlet([1.0, 1.0, 1.0], size=n)
    return grades, a, b


def test_the_paired_difference_includes_the_one_vs_one_auc() -> None:
    """Catches a paired difference without ``auc_ovo``, or one whose figures are not the macro
    one-vs-one AUC of each model (scikit-learn's ``multi_class="ovo"``)."""
    grades, a, b = _models()
    result = paired_bootstrap_difference(grades, a, b, a.argmax(axis=1), b.argmax(axis=1), n_boot=200, seed=0)
    assert "auc_ovo" in PAIRED_METRICS and set(result) == set(PAIRED_METRICS)
    ovo = result["auc_ovo"]
    assert ovo["a"] == pytest.approx(roc_auc_score(grades, a, multi_class="ovo", average="macro"))
    assert ovo["b"] == pytest.approx(macro_ovo_auc(grades, b))
    assert ovo["difference"] == pytest.approx(ovo["a"] - ovo["b"])
    assert ovo["ci_low"] < ovo["difference"] < ovo["ci_high"] and ovo["resamples"] > 150
    assert ovo["ci_low"] > 0  # a model that grades against one that guesses


def test_each_resamples_one_vs_one_auc_is_scikit_learns() -> None:
    """Catches the counted one-vs-one AUC of a resample drifting from scikit-learn's score of that
    resample (a grade missing from it: nan, left out of the interval)."""
    grades, a, _ = _models(40)
    scores = bootstrap_scores(grades, a, a.argmax(axis=1), n_boot=30, seed=3)
    for value, idx in zip(scores.resampled["auc_ovo"], bootstrap_resamples(len(grades), 30, seed=3), strict=True):
        if len(set(grades[idx].tolist())) < 3:
            assert np.isnan(value)
        else:
            assert value == pytest.approx(roc_auc_score(grades[idx], a[idx], multi_class="ovo"), abs=1e-12)
