"""Stats audit F3: the QWK passes ``labels=range(K)``, which differs from the organisers'
``cohen_kappa_score(y, pred, weights="quadratic")`` when a grade is absent from both the labels
and the predictions; drac_ssl/metrics.py and docs/evaluation.md said "exactly as the organisers
do" / "scikit-learn's figures" without it. Their worked example is held to the code."""
from __future__ import annotations

from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from drac_ssl import metrics
from drac_ssl.metrics import quadratic_weighted_kappa

REPO = Path(__file__).resolve().parents[2]
Y, PRED = [0, 0, 2, 3, 4, 4, 0, 2], [0, 2, 2, 4, 4, 3, 0, 0]  # grade 1 in neither


def test_the_documented_example_is_what_the_code_and_scikit_learn_give() -> None:
    ours = quadratic_weighted_kappa(Y, PRED, 5)
    organisers = cohen_kappa_score(Y, PRED, weights="quadratic")
    assert f"{ours:.4f}" == "0.7605" and f"{organisers:.4f}" == "0.8261"
    assert ours == cohen_kappa_score(Y, PRED, weights="quadratic", labels=list(range(5)))
    module = " ".join((metrics.__doc__ or "").split())
    evaluation = " ".join((REPO / "docs" / "evaluation.md").read_text(encoding="utf-8").split())
    for text in (module, evaluation):
        assert "labels=range(K)" in text and "0.7605" in text and "0.8261" in text
