"""bench/retinamnist.py's raw-pixel floor: out of fold, and it learns what pixels say."""

from __future__ import annotations

import numpy as np

from bench.retinamnist import pixel_floor


def _images(grades: np.ndarray, signal: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(80, 30, (len(grades), 6, 6, 3))
    base[..., 0] += signal * grades[:, None, None]  # the grade reddens the image
    return np.clip(base, 0, 255).astype(np.uint8)


def test_floor_learns_a_pixel_signal_and_scores_out_of_fold() -> None:
    grades = np.arange(150) % 3
    folds = np.arange(150) % 5
    result = pixel_floor(_images(grades, 40.0), grades, folds, n_boot=50)
    assert result["n"] == 150 and result["accuracy"] > 0.85 and result["auc_ovr"] > 0.95
    assert result["qwk_ci95"][0] <= result["qwk"] <= result["qwk_ci95"][1]
    assert set(result["C_per_fold"]) == {0, 1, 2, 3, 4}
    # no signal: out-of-fold scores stay near chance (an in-sample fit of 108 pixels would not)
    noise = pixel_floor(_images(grades, 0.0, seed=1), np.random.default_rng(2).permutation(grades), folds,
                        n_boot=50)
    assert noise["accuracy"] < 0.5 and noise["auc_ovr"] < 0.65


def test_variant_row_counts_the_grades_given_out_of_fold() -> None:
    from bench.retinamnist import _variant_row

    confusion = [[5, 1, 0], [2, 0, 1], [0, 0, 3]]  # rows: true grade, columns: given
    metrics = {"n": 12, "decision": "argmax", "qwk": 0.5, "qwk_ci95": [0.1, 0.9], "accuracy": 0.67,
               "auc": 0.8, "auc_ovr": 0.8, "macro_f1": 0.5,
               "report": {"confusion": confusion, "class_names": ["Normal", "NPDR", "PDR"]}}
    row = _variant_row(metrics)
    assert row["grades_given_out_of_fold"] == {"Normal": 7, "NPDR": 1, "PDR": 4}
    assert row["confusion_true_by_given"] == confusion
    assert _variant_row({**metrics, "report": {}})["grades_given_out_of_fold"] is None
    assert "referable" not in row  # a run made before referable DR was reported
    referable = {"from_grade": 2, "auc": 0.8, "auc_ci95": [0.7, 0.9], "sensitivity": 0.6,
                 "specificity": 0.9}
    assert _variant_row({**metrics, "referable": referable})["referable"] == referable


def test_a_smoke_run_writes_its_submissions_under_its_own_name_not_over_the_committed_ones() -> None:
    """Review s52r F2: a shortened run said it wrote only retinamnist_smoke.json, but exported
    over the committed bench/results/retinamnist_submission_*.csv (the files the evaluator
    scores). The submissions are named after the result."""
    from pathlib import Path

    from bench.common import RESULTS, smoke_result_name
    from bench.retinamnist import VARIANTS, submission_path

    committed = {RESULTS / f"retinamnist_submission_{v}.csv" for v in VARIANTS}
    full = smoke_result_name("retinamnist", [])
    assert {submission_path(RESULTS, full, v) for v in VARIANTS} == committed
    smoke = smoke_result_name("retinamnist", ["pretrain.epochs=1 (the protocol's: 20)"])
    written = {submission_path(RESULTS, smoke, v) for v in VARIANTS}
    assert not written & committed and all(p.name.startswith("retinamnist_smoke_") for p in written)
    assert submission_path(Path("out"), "retinamnist_seed1", "vicreg") == Path("out/retinamnist_seed1_submission_vicreg.csv")
