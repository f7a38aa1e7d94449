"""report.md's statistical wording (stats audit F3-F7) on hand-made run folders: the
intervals of every figure metrics.json holds one for, the in-sample thresholds' QWK beside the
cross-fitted one, what a CI that contains 0 says, the per-image unit's caveat, and what
pretraining saw that scratch did not. No training: only the files the report reads."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from drac_ssl.report import IMAGE_UNIT_CAVEAT, write_report

NAMES = ["Normal", "NPDR", "PDR"]
GRADES = [i % 3 for i in range(30)]


def _variant(run: Path, name: str, extra: dict[str, Any]) -> dict[str, Any]:
    vdir = run / "finetune" / name
    vdir.mkdir(parents=True)
    with open(vdir / "oof.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "grade", "fold", "P0", "P1", "P2", "score", "pred"])
        for i, g in enumerate(GRADES):
            probs = [0.1, 0.1, 0.1]
            probs[g] = 0.8
            writer.writerow([f"{i:03d}.png", g, i % 5, *probs, g, g])
    metrics = {"qwk": 0.766, "qwk_ci95": [0.7, 0.82], "auc": 0.7, "auc_ovr": 0.71, "accuracy": 0.5,
               "macro_f1": 0.4, "class_names": NAMES, "decision": "thresholds", "folds": [],
               "calibration": {"temperature": 1.0, "thresholds": [0.5, 1.5]}, **extra}
    (vdir / "metrics.json").write_text(json.dumps(metrics))
    return {"variant": name, "n": 30, "qwk": 0.766, "qwk_ci_low": 0.7, "qwk_ci_high": 0.82, "auc": 0.7,
            "auc_ovr": 0.71, "accuracy": 0.5, "macro_f1": 0.4, "seconds": 1.0}


def _report(tmp_path: Path, extra: dict[str, Any] | None = None, comparison: dict[str, Any] | None = None,
            training_data: str = "") -> str:
    run = tmp_path / "run"
    (run / "pretrain").mkdir(parents=True)
    (run / "pretrain" / "metadata.json").write_text(json.dumps(
        {"best_epoch": 0, "epochs_run": 1, "stopped": "completed", "metrics": {},
         **({"training_data": training_data} if training_data else {})}))
    rows = [_variant(run, "scratch", extra or {}), _variant(run, "vicreg", extra or {})]
    diff = {m: {"difference": 0.01, "ci_low": -0.02, "ci_high": 0.04} for m in ("accuracy", "qwk", "auc_ovr")}
    (run / "finetune" / "comparison.json").write_text(json.dumps(
        {"rows": rows, "class_names": NAMES, "protocol": "5-fold", "umm_minus_vicreg": None,
         "pretrained_minus_scratch": {"vicreg": diff}, **(comparison or {})}))
    return write_report(run).read_text(encoding="utf-8")


def _first_line(text: str, heading: str) -> str:
    return text.rsplit(heading, 1)[1].strip().splitlines()[0]


def test_each_figure_metrics_json_has_an_interval_for_is_printed_with_it(tmp_path: Path) -> None:
    """F3: the one-vs-one AUC (DRAC's tie-breaker), the one-vs-rest AUC and the accuracy each
    with its stored 95% CI; how many resamples the new ones used is said like the others'."""
    text = _report(tmp_path, {"auc_ovo_ci95": [0.65, 0.75], "auc_ovr_ci95": [0.66, 0.76],
                              "accuracy_ci95": [0.4, 0.6], "n_boot": 1000, "auc_ovo_ci95_resamples": 912,
                              "accuracy_ci95_resamples": 1000})
    line = _first_line(text, "### VICReg\n")
    assert ("AUC 0.700 (95% CI 0.650..0.750) (one-vs-one, DRAC's tie-breaker; one-vs-rest 0.710 "
            "(95% CI 0.660..0.760)), accuracy 0.500 (95% CI 0.400..0.600), macro F1 0.400;") in line, line
    assert "AUC OvO CI from 912 of 1,000 resamples; the rest lacked a grade." in text
    assert "accuracy CI from" not in text.lower()  # all 1,000 used: nothing to say


def test_a_run_made_before_those_intervals_were_stored_prints_the_figures_alone(tmp_path: Path) -> None:
    line = _first_line(_report(tmp_path), "### VICReg\n")
    assert "AUC 0.700 (one-vs-one, DRAC's tie-breaker; one-vs-rest 0.710), accuracy 0.500, macro F1" in line, line


def test_the_in_sample_thresholds_qwk_stands_beside_the_cross_fitted_one(tmp_path: Path) -> None:
    """F5: metrics.json's qwk_in_sample_thresholds was never shown; with it, what cross-fitting
    leaves open (the other folds' models saw fold k's labels) and what would close it."""
    rules = {"thresholds": {"qwk": 0.766, "qwk_ci95": [0.7, 0.82], "accuracy": 0.5, "macro_f1": 0.4},
             "argmax": {"qwk": 0.75, "qwk_ci95": [0.68, 0.81], "accuracy": 0.52, "macro_f1": 0.41}}
    text = _report(tmp_path, {"qwk_in_sample_thresholds": 0.776, "decision_rules": rules})
    section = text.rsplit("### VICReg\n", 1)[1]
    assert "In sample, the thresholds rule scores QWK 0.776" in section
    assert "against 0.766 cross-fitted" in section
    assert "were trained on fold k's labels; nested cross-validation" in section
    # the argmax decision: the thresholds rule's own cross-fitted figure, not the argmax one
    argmax = _report(tmp_path / "b", {"qwk_in_sample_thresholds": 0.776, "decision": "argmax", "qwk": 0.75,
                                      "decision_rules": rules})
    assert "against 0.766 cross-fitted" in argmax.rsplit("### VICReg\n", 1)[1]
    assert "In sample" not in _report(tmp_path / "c")  # an older run without the figure


def test_a_ci_that_contains_0_is_read_as_consistent_with_no_difference(tmp_path: Path) -> None:
    """F6: "no evidence either way" misread an interval that does bound the difference."""
    text = _report(tmp_path)
    assert ("(a CI that contains 0 is consistent with no difference; differences beyond its ends are "
            "not supported)") in text
    assert "touches 0, so it too is consistent with no difference" in text
    assert "no evidence either" not in text


def test_the_comparison_says_the_pretrained_variants_saw_the_scored_images_unlabelled(tmp_path: Path) -> None:
    """F7: a transductive advantage scratch does not have; the test images named only when the
    pretraining's own record says it used them."""
    text = _report(tmp_path, training_data="colour fundus photographs, 1600 images (1200 labelled; training "
                                           "and test images, no labels), ingest at /x")
    table_end = text.split("| VICReg |", 1)[1]
    said = next(line for line in table_end.splitlines() if line.startswith("VICReg: pretraining saw"))
    assert ("VICReg: pretraining saw, without labels, every image this table scores (the images of all the "
            "folds) and the test images; scratch saw none of them before its fine-tuning. That is a "
            "transductive advantage") in said
    alone = _report(tmp_path / "b", training_data="1200 images (training images only)")
    assert "every image this table scores (the images of all the folds); scratch saw none" in alone


def test_images_as_their_own_units_carry_the_clustering_caveat_patients_do_not(tmp_path: Path) -> None:
    """F4: "each its own unit" is an assumption several photographs per eye break."""
    text = _report(tmp_path, comparison={"ci_resamples": "images", "ci_units": 30})
    assert IMAGE_UNIT_CAVEAT in text
    assert "the intervals are then too narrow, and the figures optimistic" in IMAGE_UNIT_CAVEAT
    assert "twin_folds_retinamnist.json" in IMAGE_UNIT_CAVEAT
    assert (Path(__file__).resolve().parents[2] / "bench/results/twin_folds_retinamnist.json").is_file()
    patients = _report(tmp_path / "b", comparison={"ci_resamples": "patients", "ci_units": 12})
    assert IMAGE_UNIT_CAVEAT not in patients
