"""P(referable) of a chance-level model: the app leaves the figure out and says why, and the
export's ``_referable.csv`` says it too (a review: the file was written for such a model
without a word), from one rule, :func:`drac_ssl.grading.bundle.referable_not_informative`,
whose words tell an interval that reaches 0.5 from one that is not recorded."""

from __future__ import annotations

import copy
import csv
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from drac_ssl import export
from drac_ssl.grading.bundle import referable_not_informative
from drac_ssl.submission import NOT_INFORMATIVE_COLUMN, REFERABLE_COLUMNS, write_submission

CHANCE = {"qwk": 0.01, "qwk_ci95": [-0.1, 0.12], "n": 30,
          "referable": {"from_grade": 2, "rule": "referable = grade >= 2 (Moderate or worse)",
                        "n_referable": 10, "n_not": 20, "auc": 0.5, "auc_ci95": [0.38, 0.62],
                        "auc_note": None, "sensitivity": 0.5, "specificity": 0.5}}
"""A bundle's ``cv_metrics`` no better than chance, its referable AUC's CI across 0.5."""


def _meta(**referable: Any) -> dict[str, Any]:
    cv = copy.deepcopy(CHANCE)
    cv["referable"].update(referable)
    return {"cv_metrics": cv}


def test_the_rule_says_a_missing_interval_and_one_across_chance_differently() -> None:
    below = referable_not_informative(_meta())
    assert "0.380..0.620" in below and "does not lie above 0.5 (chance)" in below
    wrong_way = referable_not_informative(_meta(auc=0.319, auc_ci95=[0.163, 0.451]))
    assert "ranks referable images below the others" in wrong_way and "0.163..0.451" in wrong_way
    assert "lies below 0.5 (chance)" in wrong_way and "nor of telling" not in wrong_way
    missing = referable_not_informative(_meta(auc=0.55, auc_ci95=[None, None]))
    assert "(0.550) has no 95% CI recorded" in missing and "above 0.5" not in missing
    undefined = referable_not_informative(_meta(auc=None, auc_ci95=[None, None],
                                                auc_note="none of the 30 images is referable"))
    assert "(n/a: none of the 30 images is referable) has no 95% CI recorded" in undefined
    # informative: the AUC's CI clear of 0.5 (the probabilities rank), even under the chance warning
    assert referable_not_informative(_meta(auc_ci95=[0.61, 0.8])) == ""


def _above_chance(**referable: Any) -> dict[str, Any]:
    """A bundle whose grades agree better than chance (QWK 95% CI above 0)."""
    meta = _meta(**referable)
    meta["cv_metrics"].update(qwk=0.6, qwk_ci95=[0.4, 0.75])
    return meta


def test_the_rule_judges_the_auc_interval_whatever_the_qwk() -> None:
    """A review: the rule returned "" for any model above chance, so P(referable) was shown as
    meaningful when its AUC's CI lay wholly below 0.5 (pointing the wrong way), and for a
    bundle with no ``qwk_ci95`` whatever its AUC interval said."""
    assert referable_not_informative(_above_chance(auc_ci95=[0.61, 0.8])) == ""
    wrong_way = referable_not_informative(_above_chance(auc=0.319, auc_ci95=[0.163, 0.451]))
    assert wrong_way.startswith("Although this model's grades agree better than chance, its "
                                "P(referable) ranks referable images below the others")
    assert "0.163..0.451" in wrong_way and "points the wrong way" in wrong_way
    across = referable_not_informative(_above_chance())
    assert "no evidence that this model's P(referable) tells referable images apart" in across
    assert "0.380..0.620" in across and "no evidence of grading better than chance" not in across
    missing = referable_not_informative(_above_chance(auc=0.7, auc_ci95=None))
    assert "(0.700) has no 95% CI recorded" in missing
    assert "no evidence that this probability tells referable images apart" in missing
    # no qwk_ci95 (no chance warning can be given): the AUC's interval still decides
    unjudged = _meta(auc=0.319, auc_ci95=[0.163, 0.451])
    del unjudged["cv_metrics"]["qwk_ci95"]
    assert "points the wrong way" in referable_not_informative(unjudged)
    del unjudged["cv_metrics"]["referable"]["auc_ci95"]
    assert "has no 95% CI recorded" in referable_not_informative(unjudged)
    unjudged["cv_metrics"]["referable"]["auc_ci95"] = [0.55, 0.9]
    assert referable_not_informative(unjudged) == ""
    # no referable figures at all: no P(referable) to judge
    assert referable_not_informative({"cv_metrics": {"qwk": 0.6, "qwk_ci95": [0.4, 0.75]}}) == ""
    assert referable_not_informative({}) == ""



@pytest.mark.parametrize("qwk_ci95", [None, [float("nan"), 0.7], "missing"])
def test_unknown_grades_get_no_claim_about_them(qwk_ci95: Any) -> None:
    """r4 F2: with no chance warning the sentence said "its grades agree better than chance",
    also when ``qwk_ci95`` was missing or non-finite (nothing known of the grades). Three
    states now: under the chance warning, better than chance (CI lower end > 0), unknown."""
    def unknown(**referable: Any) -> dict[str, Any]:
        meta = _meta(**referable)
        meta["cv_metrics"]["qwk"] = 0.6
        if qwk_ci95 == "missing":
            del meta["cv_metrics"]["qwk_ci95"]
        else:
            meta["cv_metrics"]["qwk_ci95"] = qwk_ci95
        return meta

    assert referable_not_informative(unknown(auc=0.319, auc_ci95=[0.163, 0.451])) == (
        "This model's P(referable) ranks referable images below the others: the 95% CI of its "
        "out-of-fold AUC, 0.163..0.451 (AUC 0.319), lies below 0.5 (chance), so as a referral "
        "score it points the wrong way")
    assert referable_not_informative(unknown()) == (
        "There is no evidence that this model's P(referable) tells referable images apart: the "
        "95% CI of its out-of-fold AUC, 0.380..0.620 (AUC 0.500), does not lie above 0.5 (chance)")


def test_the_three_states_of_the_grades_in_full_sentences() -> None:
    """r4 F2: the whole sentence for each state of the grades, an AUC interval across 0.5 and
    one below it."""
    assert referable_not_informative(_above_chance()) == (
        "There is no evidence that this model's P(referable) tells referable images apart: the "
        "95% CI of its out-of-fold AUC, 0.380..0.620 (AUC 0.500), does not lie above 0.5 "
        "(chance), although its grades agree better than chance")
    assert referable_not_informative(_above_chance(auc=0.319, auc_ci95=[0.163, 0.451])) == (
        "Although this model's grades agree better than chance, its P(referable) ranks referable "
        "images below the others: the 95% CI of its out-of-fold AUC, 0.163..0.451 (AUC 0.319), "
        "lies below 0.5 (chance), so as a referral score it points the wrong way")
    assert referable_not_informative(_meta()) == (
        "This model gives no evidence of grading better than chance, nor of telling referable "
        "images apart: the 95% CI of its out-of-fold AUC of P(referable), 0.380..0.620 (AUC "
        "0.500), does not lie above 0.5 (chance)")
    assert referable_not_informative(_meta(auc=0.319, auc_ci95=[0.163, 0.451])) == (
        "This model gives no evidence of grading better than chance, and its P(referable) ranks "
        "referable images below the others: the 95% CI of its out-of-fold AUC, 0.163..0.451 (AUC "
        "0.319), lies below 0.5 (chance), so as a referral score it points the wrong way")

def _bundle(meta: dict[str, Any]) -> Any:
    """What :func:`drac_ssl.export.write_referable_beside` reads of a bundle."""
    return SimpleNamespace(calibration=SimpleNamespace(num_grades=5), metadata=meta)


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture()
def submission(tmp_path: Path) -> Path:
    probs = np.random.default_rng(0).dirichlet(np.ones(5), size=4)
    return write_submission(tmp_path / "graded.csv", [f"{i}.png" for i in range(4)], probs,
                            probs.argmax(1), num_grades=5)


def test_the_referable_file_of_a_chance_level_model_says_it_on_every_row(submission: Path) -> None:
    meta = _meta()
    path, line = export.write_referable_beside(_bundle(meta), submission)
    assert path == export.referable_path(submission)
    header, rows = _read(path)
    assert header == [*REFERABLE_COLUMNS, NOT_INFORMATIVE_COLUMN]
    why = referable_not_informative(meta)
    assert len(rows) == 4 and all(r[NOT_INFORMATIVE_COLUMN] == why for r in rows)
    assert all(r["P_referable"] for r in rows)  # the figures are kept, not dropped
    assert f"; NOT INFORMATIVE: {why} (the app does not show this probability" in line
    assert NOT_INFORMATIVE_COLUMN in line

    # an informative model: the file and the line as before, three columns
    path, line = export.write_referable_beside(_bundle(_meta(auc_ci95=[0.61, 0.8])), submission)
    header, rows = _read(path)
    assert header == list(REFERABLE_COLUMNS) and "NOT INFORMATIVE" not in line


def test_probabilities_that_rank_referable_images_last_are_said_to_point_the_wrong_way() -> None:
    """The "ranks below chance" branch on a referable report made from made-up probabilities
    (a review: only a fine-tuning pinned to one lucky seed reached it from real figures): 20
    images on the five ICDR grades whose referable ones (grade >= 2) mostly get a lower
    P(referable) than the others, so the AUC and its bootstrap CI lie below 0.5."""
    from drac_ssl.metrics import referable_report

    y = np.array([0, 1, 2, 3, 4] * 4)
    referable = y >= 2
    p_referable = np.where(referable, 0.35, 0.65) + np.random.default_rng(0).uniform(-0.25, 0.25, len(y))
    probs = np.zeros((len(y), 5))
    probs[:, 4] = p_referable
    probs[:, 0] = 1 - p_referable
    pred = probs.argmax(axis=1)
    report = referable_report(y, probs, pred, 2, ["No DR", "Mild", "Moderate", "Severe", "PDR"],
                              n_boot=50, seed=0)
    assert 0 < report["auc"] < 0.5 and report["auc_ci95"][0] < report["auc_ci95"][1] < 0.5, report
    meta = {"cv_metrics": {**copy.deepcopy(CHANCE), "referable": report}}
    why = referable_not_informative(meta)
    assert why.startswith("This model gives no evidence of grading better than chance, and its "
                          "P(referable) ranks referable images below the others"), why
    lo, hi = report["auc_ci95"]
    assert f"{lo:.3f}..{hi:.3f} (AUC {report['auc']:.3f}), lies below 0.5 (chance)" in why
    assert "points the wrong way" in why
