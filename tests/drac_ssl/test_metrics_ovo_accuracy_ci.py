"""The bootstrap CIs of the one-vs-one AUC and the accuracy (stats audit F3): report.md gave
them without an interval. Each is checked against an independent loop: the same resamples
(``bootstrap_resamples``), scikit-learn's figure on each, undefined ones left out, the 2.5th
and 97.5th percentiles."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score as sk_accuracy
from sklearn.metrics import roc_auc_score

from drac_ssl import metrics
from drac_ssl.metrics import (
    accuracy_score,
    bootstrap_ci_counted,
    bootstrap_resamples,
    macro_ovo_auc,
    softmax,
)


def _sklearn_ovo(y: np.ndarray, probs: np.ndarray) -> float:
    """scikit-learn's macro one-vs-one AUC of one resample, nan when it lacks a grade (K = 2:
    the AUC of P1), written here without drac_ssl's wrappers (the rows given sum to 1 within
    1e-12, which drac_ssl takes as they are: renormalising them here could make or break a tie)."""
    k = probs.shape[1]
    if len(set(y.tolist())) < k:
        return float("nan")
    if k == 2:
        return float(roc_auc_score(y == 1, probs[:, 1]))
    return float(roc_auc_score(y, probs, multi_class="ovo", average="macro", labels=np.arange(k)))


def _loop_ci(values: list[float]) -> tuple[float, float, int]:
    kept = np.array([v for v in values if np.isfinite(v)])
    low, high = np.percentile(kept, [2.5, 97.5])
    return float(low), float(high), kept.size


def test_the_ovo_auc_and_accuracy_intervals_of_a_tiny_hand_made_set() -> None:
    """Eight images, three grades, ties in the probabilities: the counted interval is the loop's."""
    y = np.array([0, 0, 1, 1, 2, 2, 0, 2])
    probs = np.array([[0.6, 0.3, 0.1], [0.5, 0.3, 0.2], [0.3, 0.4, 0.3], [0.5, 0.3, 0.2],
                      [0.1, 0.3, 0.6], [0.2, 0.4, 0.4], [0.4, 0.4, 0.2], [0.3, 0.3, 0.4]])
    pred = probs.argmax(axis=1)
    # the whole sample by hand for accuracy: 6 of 8 right (images 3 and 5 are wrong)
    assert accuracy_score(y, pred) == pytest.approx(6 / 8)
    ovo = bootstrap_ci_counted(y, probs, macro_ovo_auc, n_boot=300, seed=4)
    acc = bootstrap_ci_counted(y, pred, accuracy_score, n_boot=300, seed=4)
    draws = list(bootstrap_resamples(8, 300, seed=4))
    want_ovo = _loop_ci([_sklearn_ovo(y[i], probs[i]) for i in draws])
    want_acc = _loop_ci([float(sk_accuracy(y[i], pred[i])) for i in draws])
    np.testing.assert_allclose(ovo[:2], want_ovo[:2], rtol=0, atol=1e-12)
    np.testing.assert_allclose(acc[:2], want_acc[:2], rtol=0, atol=1e-12)
    assert ovo[2] == want_ovo[2] < 300  # resamples lacking a grade are left out, and counted
    assert acc[2] == want_acc[2] == 300  # accuracy is defined on every resample
    assert acc[0] < 6 / 8 < acc[1]


@pytest.mark.parametrize("k, n, groups", [(2, 25, False), (3, 30, True), (5, 60, False)])
def test_every_resample_of_the_counted_ovo_auc_is_scikit_learns(k: int, n: int, groups: bool) -> None:
    """Per resample, not only the percentiles: K = 2 (the AUC of P1), 3 and 5, coarse
    probabilities (ties), patients."""
    rng = np.random.default_rng(k * 10 + n)
    y = rng.integers(0, k, size=n)
    y[:k] = np.arange(k)
    probs = softmax(np.round(rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y], 0))
    patients = rng.integers(0, n // 3, size=n) if groups else None
    draws = list(bootstrap_resamples(n, 120, seed=2, groups=patients))
    counted = np.concatenate([metrics._counted_ovo_auc(counts, y, probs)
                              for counts in metrics._count_chunks(n, iter(draws), k)])
    want = [_sklearn_ovo(y[i], probs[i]) for i in draws]
    np.testing.assert_allclose(counted, want, rtol=0, atol=1e-12)
    low, high, used = bootstrap_ci_counted(y, probs, macro_ovo_auc, n_boot=120, seed=2, groups=patients)
    np.testing.assert_allclose((low, high, used), _loop_ci(want), rtol=0, atol=1e-12)


def test_a_counted_ovo_auc_that_disagrees_warns_and_the_loop_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fence of the counted path covers the new metric too: a wrong counted value on the
    whole sample warns and the interval is the per-resample loop's, unchanged."""
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 8)
    probs = softmax(rng.normal(size=(24, 3)) + 1.0 * np.eye(3)[y])
    want = bootstrap_ci_counted(y, probs, macro_ovo_auc, n_boot=40, seed=0)
    monkeypatch.setattr(metrics, "_counted_ovo_auc", lambda counts, y, probs: np.full(len(counts), 0.5))
    with pytest.warns(metrics.CountedMetricWarning, match="macro_ovo_auc"):
        got = bootstrap_ci_counted(y, probs, macro_ovo_auc, n_boot=40, seed=0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
