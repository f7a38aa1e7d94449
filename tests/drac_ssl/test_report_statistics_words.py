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


def _manifest(run: Path, patients: list[str], fold_groups: list[str] | None = None) -> None:
    """``run/data/manifest.csv`` of the 30 labelled images (``_variant``'s ids) with these
    ``patient`` (and ``fold_group``) columns, one value per image ('' for none)."""
    (run / "data").mkdir(parents=True, exist_ok=True)
    with open(run / "data" / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "grade", "split", "fold", "patient", "fold_group"])
        for i, g in enumerate(GRADES):
            writer.writerow([f"{i:03d}.png", g, "train", i % 5, patients[i], (fold_groups or [""] * 30)[i]])


def _report(tmp_path: Path, extra: dict[str, Any] | None = None, comparison: dict[str, Any] | None = None,
            training_data: str = "", layout: str | None = None,
            calibration: dict[str, Any] | None = None) -> str:
    """report.md of a hand-made run: scratch and VICReg with ``extra`` in their metrics.json,
    ``comparison`` in comparison.json, ``layout`` (e.g. ``drac``) in data/ingest_summary.json
    and ``calibration`` as VICReg's calibration.json; a data/manifest.csv written before stays."""
    run = tmp_path / "run"
    (run / "pretrain").mkdir(parents=True)
    if layout:
        (run / "data").mkdir(exist_ok=True)
        (run / "data" / "ingest_summary.json").write_text(json.dumps({"layout": layout}))
    (run / "pretrain" / "metadata.json").write_text(json.dumps(
        {"best_epoch": 0, "epochs_run": 1, "stopped": "completed", "metrics": {},
         **({"training_data": training_data} if training_data else {})}))
    rows = [_variant(run, "scratch", extra or {}), _variant(run, "vicreg", extra or {})]
    if calibration is not None:
        (run / "finetune" / "vicreg" / "calibration.json").write_text(json.dumps(calibration))
    diff = {m: {"difference": 0.01, "ci_low": -0.02, "ci_high": 0.04} for m in ("accuracy", "qwk", "auc_ovr")}
    (run / "finetune" / "comparison.json").write_text(json.dumps(
        {"rows": rows, "class_names": NAMES, "protocol": "5-fold", "umm_minus_vicreg": None,
         "pretrained_minus_scratch": {"vicreg": diff}, **(comparison or {})}))
    return write_report(run).read_text(encoding="utf-8")


def _first_line(text: str, heading: str) -> str:
    return text.rsplit(heading, 1)[1].strip().splitlines()[0]


INTERVALS = {"auc_ovo_ci95": [0.65, 0.75], "auc_ovr_ci95": [0.66, 0.76], "accuracy_ci95": [0.4, 0.6],
             "n_boot": 1000, "auc_ovo_ci95_resamples": 912, "auc_ovr_ci95_resamples": 912,
             "accuracy_ci95_resamples": 1000}


def test_each_figure_metrics_json_has_an_interval_for_is_printed_with_it(tmp_path: Path) -> None:
    """F3: the one-vs-one AUC, the one-vs-rest AUC and the accuracy each with its stored 95%
    CI; how many resamples the new ones used is said like the others', the two AUCs' in one
    sentence (review F6: they always use as many)."""
    text = _report(tmp_path, INTERVALS, layout="drac")
    line = _first_line(text, "### VICReg\n")
    assert ("AUC 0.700 (95% CI 0.650..0.750) (one-vs-one, DRAC's tie-breaker; one-vs-rest 0.710 "
            "(95% CI 0.660..0.760)), accuracy 0.500 (95% CI 0.400..0.600), macro F1 0.400;") in line, line
    assert "AUC OvO and OvR CIs from 912 of 1,000 resamples; the rest lacked a grade. Those" in text
    assert "AUC OvO CI from" not in text and "AUC OvR CI from" not in text
    assert "accuracy CI from" not in text.lower()  # all 1,000 used: nothing to say


def test_the_tie_breaker_is_named_only_for_drac_data(tmp_path: Path) -> None:
    """Review F6: "DRAC's tie-breaker" printed for APTOS or RetinaMNIST runs too; it is named
    when the data are DRAC's kind (drac_ssl.challenge.drac_scale, the leaderboard paragraph's
    rule), not for another layout nor a run folder without its ingest records."""
    for where, layout in (("aptos", "aptos"), ("none", None)):
        line = _first_line(_report(tmp_path / where, INTERVALS, layout=layout), "### VICReg\n")
        assert "AUC 0.700 (95% CI 0.650..0.750) (one-vs-one; one-vs-rest 0.710 (95% CI 0.660..0.760))" in line, line
        assert "tie-breaker" not in line


def test_with_two_grades_the_auc_is_given_once(tmp_path: Path) -> None:
    """Review F6: with K = 2 one-vs-one and one-vs-rest are the one ROC AUC of P1; printing both
    with the same interval read as two findings."""
    run = tmp_path / "run"
    (run / "pretrain").mkdir(parents=True)
    (run / "pretrain" / "metadata.json").write_text(json.dumps({"best_epoch": 0, "epochs_run": 1,
                                                                "stopped": "completed", "metrics": {}}))
    vdir = run / "finetune" / "vicreg"
    vdir.mkdir(parents=True)
    with open(vdir / "oof.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "grade", "fold", "P0", "P1", "score", "pred"])
        for i in range(20):
            writer.writerow([f"{i:03d}.png", i % 2, i % 5, 0.2 + 0.6 * (1 - i % 2), 0.8 - 0.6 * (1 - i % 2), i % 2, i % 2])
    metrics = {"qwk": 0.8, "qwk_ci95": [0.6, 0.88], "auc": 0.9, "auc_ovr": 0.9, "accuracy": 0.8, "macro_f1": 0.8,
               "class_names": ["no", "yes"], "decision": "thresholds", "folds": [],
               "calibration": {"temperature": 1.0, "thresholds": [0.5]}, **INTERVALS,
               "auc_ovo_ci95": [0.8, 0.95], "auc_ovr_ci95": [0.8, 0.95]}
    (vdir / "metrics.json").write_text(json.dumps(metrics))
    row = {"variant": "vicreg", "n": 20, "qwk": 0.8, "qwk_ci_low": 0.6, "qwk_ci_high": 0.88, "auc": 0.9,
           "auc_ovr": 0.9, "accuracy": 0.8, "macro_f1": 0.8, "seconds": 1.0}
    (run / "finetune" / "comparison.json").write_text(json.dumps(
        {"rows": [row], "class_names": ["no", "yes"], "protocol": "5-fold", "umm_minus_vicreg": None}))
    line = _first_line(write_report(run).read_text(encoding="utf-8"), "### VICReg\n")
    assert ("AUC 0.900 (95% CI 0.800..0.950) (with two grades one-vs-one and one-vs-rest coincide: the ROC AUC "
            "of P1), accuracy 0.800") in line, line
    assert line.count("0.900") == 1 and "one-vs-rest 0.900" not in line


def test_a_run_made_before_those_intervals_were_stored_prints_the_figures_alone(tmp_path: Path) -> None:
    line = _first_line(_report(tmp_path, layout="drac"), "### VICReg\n")
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
    assert "(the final calibration, fitted on all the out-of-fold outputs, applied back to them)" in section


def test_with_a_label_draw_the_in_sample_fit_is_said_to_be_the_drawn_images(tmp_path: Path) -> None:
    """Review F5: with finetune.label_fraction < 1 the final calibration is fitted only on the
    outputs of the images some fold's draw trained on (calibration.json's fitted_on), not on
    all the out-of-fold outputs as report.md said."""
    rules = {"thresholds": {"qwk": 0.766, "qwk_ci95": [0.7, 0.82], "accuracy": 0.5, "macro_f1": 0.4}}
    drawn = {"qwk_in_sample_thresholds": 0.776, "decision_rules": rules, "label_fraction": 0.25}
    fitted_on = ("out-of-fold outputs of 18 of the 30 labelled images (those some fold's finetune.label_fraction "
                 "draw trained on)")
    section = _report(tmp_path, drawn, calibration={"fitted_on": fitted_on}).rsplit("### VICReg\n", 1)[1]
    assert (f"In sample, the thresholds rule scores QWK 0.776 (the final calibration, fitted on the {fitted_on}, "
            "applied to all the out-of-fold outputs), against 0.766 cross-fitted") in section, section
    assert "fitted on all the out-of-fold outputs" not in section
    # a run without calibration.json's fitted_on: the setting named
    older = _report(tmp_path / "b", drawn).rsplit("### VICReg\n", 1)[1]
    assert ("(the final calibration, fitted only on the out-of-fold outputs of the images the folds' label draws "
            "trained on, finetune.label_fraction=0.25, applied to all the out-of-fold outputs)") in older


def test_a_ci_that_contains_0_is_read_as_consistent_with_no_difference(tmp_path: Path) -> None:
    """F6: "no evidence either way" misread an interval that does bound the difference."""
    text = _report(tmp_path)
    # review F3: "not supported" beyond the ends overstated an interval another run.seed can move
    assert ("(a CI that contains 0 is consistent with no difference; for these images and this one training, "
            "differences well beyond its ends are unlikely)") in text
    assert "not supported" not in text
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
    _manifest(tmp_path / "b" / "run", [f"P{i // 3}" for i in range(30)])
    patients = _report(tmp_path / "b", comparison={"ci_resamples": "patients", "ci_units": 10})
    assert IMAGE_UNIT_CAVEAT not in patients and "not independent" not in patients


def _caveat(text: str) -> str:
    return next(line for line in text.splitlines() if "not independent" in line)


def test_near_twins_joined_without_patients_keep_the_clustering_caveat(tmp_path: Path) -> None:
    """Review F4: data.near_duplicate_mse joined near twins without data.patient_column:
    ci_resamples is groups (drac_ssl.oof.resampling_kind), and the caveat vanished though no unit
    is a patient. It is said, adapted: near twins resampled together, other photographs not."""
    twins = [f"t{i // 2}" if i < 4 else "" for i in range(30)]
    _manifest(tmp_path / "run", [""] * 30, twins)
    said = _caveat(_report(tmp_path, comparison={"ci_resamples": "groups", "ci_units": 28}))
    assert said.startswith("The intervals take each image as its own unit, but for the near twins the ingest "
                           "joined (`data.near_duplicate_mse`), resampled together."), said
    assert "those images are not independent: the intervals are then too narrow" in said
    assert IMAGE_UNIT_CAVEAT != said


def test_images_without_a_patient_among_patients_are_counted_in_the_caveat(tmp_path: Path) -> None:
    """Review F4: a run where some rows name no patient resamples those images alone (ci_resamples
    patients, or groups with near twins): the caveat counts them."""
    some = [f"P{i // 3}" if i < 18 else "" for i in range(30)]
    _manifest(tmp_path / "a" / "run", some)
    said = _caveat(_report(tmp_path / "a", comparison={"ci_resamples": "patients", "ci_units": 18}))
    assert said.startswith("12 of the 30 images name no patient (the manifest's `patient` column empty for them): "
                           "the intervals take each of them as its own unit. If several of them come from one "
                           "patient or one eye (two photographs of an eye, both eyes of a patient, near copies), "
                           "those images are not independent"), said
    _manifest(tmp_path / "b" / "run", some, ["P0"] * 3 + [""] * 15 + ["t"] * 2 + [""] * 10)
    said = _caveat(_report(tmp_path / "b", comparison={"ci_resamples": "groups", "ci_units": 17}))
    assert ("the intervals take each of them as its own unit (or with the near twins the ingest joined it to, "
            "`data.near_duplicate_mse`).") in said
