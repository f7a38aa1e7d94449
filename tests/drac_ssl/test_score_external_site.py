"""External validation with ``export --score`` (a trial: train on RetinaMNIST, grade 30
labelled APTOS images with the frozen bundle, score them): each finding here fails on the code
before its fix. No torch: a bundle folder here is its metadata.json and model card, the
submissions hand-written.

* F2: a Kaggle file (classes only) scored with RUN said "AUC of P(referable) 0.500" and an
  operating point "(P(referable) >= 0.000)" from one-hot stand-ins for its probabilities.
* F1: the bundle's deployed referral cut (``finetune.referral_target``, stored in its
  calibration, what the export's ``_referable.csv`` refers by) was never scored; only the
  submitted grades and in-sample cuts were, with the advice "to refer new images, set
  finetune.referral_target" though it was set.
* F4: the export's notes file was read for training and pretraining images but not for its
  out-of-distribution flag: 30 of 30 APTOS images "unlike the training images" went unsaid,
  and the chance warning's remedy was "more labelled images".
* F5: the score did not say what calibration was applied nor where it came from, nor how well
  calibrated the submitted probabilities were.
* F6: a paper needs the bundle that graded named (path and id) even without RUN, each grade's
  recall with an interval, and a word on grades never given (precision undefined).
* F3: the operating points' cuts, chosen on the scored images themselves, were said to be "on
  oof.csv's cross-fitted probabilities, not the bundle's"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drac_ssl import scoring
from drac_ssl.export import main as export_main
from drac_ssl.submission import (
    image_notes_path,
    referable_path,
    write_image_notes,
    write_referable,
    write_submission,
)

NAMES = ["No DR", "Mild", "Moderate", "Severe", "PDR"]
TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 0, 2]
GIVEN = [0, 0, 1, 3, 1, 2, 3, 2, 3, 3, 3, 3, 3, 4, 0, 0]
CASES = [f"im{i:02d}.png" for i in range(len(TRUE))]


def _probs(given: list[int], k: int = 5) -> np.ndarray:
    """Probabilities whose most probable grade is ``given``, P(referable) rising with it."""
    probs = np.full((len(given), k), 0.1 / (k - 1))
    for i, g in enumerate(given):
        probs[i, g] = 0.9
    return probs / probs.sum(1, keepdims=True)


def _labels(tmp_path: Path, grades: list[int] = TRUE) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text("id_code,diagnosis\n" + "".join(f"{c[:-4]},{g}\n" for c, g in zip(CASES, grades, strict=True)))
    return path


REFERRAL = {"target": "sensitivity:0.90", "metric": "sensitivity", "level": 0.9, "from_grade": 2, "cut": 0.5,
            "fitted_on": "out-of-fold outputs, the cut chosen to reach the target there (finetune.referral_target)"}
CALIBRATION = {"output": "classification", "temperature": 1.25, "thresholds": [0.5, 1.5, 2.5, 3.5],
               "decision": "argmax", "grade": "argmax_k P_k (the most probable calibrated grade)",
               "num_grades": 5, "referral": REFERRAL, "fitted_on": "out-of-fold outputs of 1200 images"}


def _bundle(folder: Path, calibration: dict | None = None, cut: int = 2) -> Path:
    folder.mkdir(parents=True)
    meta = {"class_names": NAMES, "variant": "vicreg", "created_utc": "2026-01-02T03:04:05+00:00",
            "cv_metrics": {"referable": {"from_grade": cut}}}
    if calibration is not None:
        meta["calibration"] = calibration
    (folder / "metadata.json").write_text(json.dumps(meta))
    (folder / "MODEL_CARD.md").write_text("card")
    return folder


# --------------------------------------------------------------------------------------
# F2: a Kaggle file has no probabilities: no AUC of P(referable), no operating points


def test_a_kaggle_file_gets_no_referable_auc_nor_operating_points(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = tmp_path / "kaggle.csv"
    sub.write_text("id_code,diagnosis\n" + "".join(f"{c[:-4]},{g}\n" for c, g in zip(CASES, GIVEN, strict=True)))
    bundle = _bundle(tmp_path / "bundle")
    out = tmp_path / "score.json"
    assert export_main([str(bundle), "--score", str(sub), "--labels", str(_labels(tmp_path)), "--grades", "5",
                        "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    (line,) = [x for x in printed.splitlines() if x.startswith("Referable DR")]
    assert f"AUC of P(referable) n/a ({scoring.KAGGLE_NO_PROBABILITIES}: no P(referable)" in line, line
    assert "no probabilities" in scoring.KAGGLE_NO_PROBABILITIES
    assert "P(referable) >=" not in line and "ROC curve" not in line, line
    assert "sensitivity 0.875 (7/8 images;" in line  # at the submitted grades: 7 of the 8 grade >= 2 found
    referable = json.loads(out.read_text())["referable"]
    assert referable["auc"] is None and referable["auc_ci95"] == [None, None]
    assert referable["sensitivity_at_specificity_90"] is None and referable["specificity_at_sensitivity_90_cut"] is None
    # a submission with probabilities keeps them
    drac = tmp_path / "drac.csv"
    write_submission(drac, CASES, _probs(GIVEN), GIVEN, num_grades=5)
    record = scoring.score(drac, _labels(tmp_path), n_boot=50, grade_names=NAMES, run_given=True, referable_from=2)
    assert record["referable"]["auc"] > 0.5 and record["referable"]["sensitivity_at_specificity_90"] is not None


def test_the_chance_warning_of_a_kaggle_file_speaks_of_its_grades_only(tmp_path: Path) -> None:
    """A Kaggle file has no probabilities: its chance warning said "Do not read its grades or
    probabilities"."""
    given = [3] * len(CASES)
    sub = tmp_path / "kaggle.csv"
    sub.write_text("id_code,diagnosis\n" + "".join(f"{c[:-4]},{g}\n" for c, g in zip(CASES, given, strict=True)))
    warning = scoring.score(sub, _labels(tmp_path), n_boot=50, num_grades=5)["chance_warning"]
    assert "Do not read its grades as a grading" in warning and "probabilities" not in warning, warning
    drac = tmp_path / "drac.csv"
    write_submission(drac, CASES, _probs(given), given, num_grades=5)
    warning = scoring.score(drac, _labels(tmp_path), n_boot=50, num_grades=5)["chance_warning"]
    assert "Do not read its grades or probabilities as a grading" in warning, warning


# --------------------------------------------------------------------------------------
# F3: the operating points of a score are chosen on the scored images, not on oof.csv


def test_the_operating_points_of_a_score_are_said_to_be_chosen_on_the_scored_images(tmp_path: Path) -> None:
    drac = tmp_path / "drac.csv"
    write_submission(drac, CASES, _probs(GIVEN), GIVEN, num_grades=5)
    record = scoring.score(drac, _labels(tmp_path), n_boot=50, grade_names=NAMES, run_given=True, referable_from=2)
    (line,) = [x for x in scoring.score_lines(record) if x.startswith("Referable DR")]
    assert "oof.csv" not in line, line
    # review F5: in-sample said once; no bundle known, so no word of its cut
    assert line.count("in-sample") == 1 and "(those cuts are no rule for new images)" in line, line
    assert "bundle's cut" not in line, line
    note = record["referable"]["operating_points_note"]
    assert "oof.csv" not in note and "chosen on these scored images themselves" in note
    # the fine-tuning's words are unchanged
    from drac_ssl.metrics import OPERATING_CUTS_SCALE, SCORED_CUTS_SCALE, referable_summary

    assert f"({OPERATING_CUTS_SCALE})" in referable_summary(record["referable"])
    assert f"({SCORED_CUTS_SCALE})" in referable_summary(record["referable"], cuts_scale=SCORED_CUTS_SCALE)


# --------------------------------------------------------------------------------------
# F1: the bundle's deployed referral cut, re-used on the scored images


def _scored(tmp_path: Path, capsys: pytest.CaptureFixture[str], bundle: Path, sub: Path) -> tuple[str, dict]:
    """``python -m drac_ssl.export BUNDLE --score SUB --labels L --json tmp_path/score.json``,
    asserted to exit 0: its printed text and its JSON record."""
    out = tmp_path / "score.json"
    assert export_main([str(bundle), "--score", str(sub), "--labels", str(_labels(tmp_path)),
                        "--json", str(out)]) == 0
    return capsys.readouterr().out, json.loads(out.read_text())


def _referable_probs() -> np.ndarray:
    """P(referable) = P2 + P3 + P4 of each case: 0.2 for the images given grade 0 or 1, 0.7
    for the others, and 0.45 (under the cut 0.5, above the in-sample cuts) for im15, a true
    grade 2 given grade 0."""
    probs = _probs(GIVEN)
    probs[15] = [0.5, 0.05, 0.15, 0.15, 0.15]
    return probs


def test_score_gives_the_figures_of_the_bundle_s_deployed_referral_cut(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = tmp_path / "graded.csv"
    write_submission(sub, CASES, _referable_probs(), GIVEN, num_grades=5)
    bundle = _bundle(tmp_path / "bundle", CALIBRATION)
    printed, record = _scored(tmp_path, capsys, bundle, sub)
    (line,) = [x for x in printed.splitlines() if x.startswith("Referral at the bundle's deployed cut")]
    assert line.startswith("Referral at the bundle's deployed cut (the bundle's deployed cut re-used, not "
                           "re-fitted): refer when P(referable) >= 0.500000 (referable = grade >= 2 (Moderate or "
                           "worse); set for sensitivity:0.90 on the training's out-of-fold outputs), P(referable) "
                           f"from {sub} (P2+P3+P4): 10 of 16 images referred; sensitivity 0.875 (7/8 images; 95% CI "), line
    assert "specificity 0.625 (5/8 images; 95% CI" in line and "Wilson score" in line
    (referable,) = [x for x in printed.splitlines() if x.startswith("Referable DR")]
    assert "set finetune.referral_target" not in referable  # it was set: the cut is scored next
    assert "(those cuts are no rule for new images; not the bundle's cut, which is scored next)" in referable
    deployed = record["deployed_referral"]
    assert deployed["cut"] == 0.5 and deployed["from_grade"] == 2 and deployed["target"] == "sensitivity:0.90"
    assert deployed["reused"] == "the bundle's deployed cut re-used, not re-fitted"
    assert deployed["sensitivity_counts"] == [7, 8] and deployed["specificity_counts"] == [5, 8]
    assert deployed["n_referred"] == 10 and deployed["sensitivity_ci_method"] == "wilson"
    assert all(0 <= v <= 1 for v in deployed["sensitivity_ci95"] + deployed["specificity_ci95"])

    # the export's _referable.csv beside it is read first: its P_referable and its referable
    # column, the decision the export made
    write_referable(sub, 2, cut=0.5)
    lowered = referable_path(sub).read_text().replace("im15.png,0.450000,0", "im15.png,0.500000,1")
    referable_path(sub).write_text(lowered)
    record = scoring.score(sub, _labels(tmp_path), n_boot=50, grade_names=NAMES, run_given=True,
                           referable_from=2, calibration=CALIBRATION)
    assert record["deployed_referral"]["sensitivity_counts"] == [8, 8]
    assert record["deployed_referral"]["p_referable_from"] == f"{referable_path(sub)} (its P_referable column)"
    assert "decision_warning" not in record["deployed_referral"]
    # a referable column that refers none (the export referred otherwise): its count is the one
    # reported, and the disagreement with the cut is said (review F1: "16 of 16 referred" was
    # said of a file whose every row was referable=0)
    referable_path(sub).write_text(lowered.replace(",1\n", ",0\n"))
    record = scoring.score(sub, _labels(tmp_path), n_boot=50, grade_names=NAMES, run_given=True,
                           referable_from=2, calibration=CALIBRATION)
    deployed = record["deployed_referral"]
    assert deployed["n_referred"] == 0 and deployed["n_referred_by_cut"] == 11
    assert deployed["sensitivity_counts"] == [0, 8] and deployed["specificity_counts"] == [8, 8]
    assert deployed["decision_warning"].startswith(f"{referable_path(sub)}'s referable column refers 0 of 16, the "
                                                   "cut P(referable) >= 0.500000 on its P_referable 11")
    lines = scoring.score_lines(record)
    (line,) = [x for x in lines if x.startswith("Referral at the bundle's deployed cut")]
    assert "(its P_referable column), referred as its referable column says (the export's decision): 0 of 16 " \
        "images referred;" in line, line
    assert f"warning: {deployed['decision_warning']}" in lines
    referable_path(sub).write_text(lowered)
    # a Kaggle file: scored from its _referable.csv, else said why not
    kaggle = tmp_path / "kaggle.csv"
    kaggle.write_text("id_code,diagnosis\n" + "".join(f"{c[:-4]},{g}\n" for c, g in zip(CASES, GIVEN, strict=True)))
    record = scoring.score(kaggle, _labels(tmp_path), n_boot=50, grade_names=NAMES, run_given=True,
                           referable_from=2, calibration=CALIBRATION)
    assert record["deployed_referral"]["note"].startswith("a Kaggle file has no probabilities, and no "
                                                          "kaggle_referable.csv beside it")
    referable_path(kaggle).write_text("case,P_referable,referable\n" + "".join(
        f"{c[:-4]},{line.split(',')[1]},{line.split(',')[2]}\n"
        for c, line in zip(CASES, lowered.splitlines()[1:], strict=True)))
    record = scoring.score(kaggle, _labels(tmp_path), n_boot=50, grade_names=NAMES, run_given=True,
                           referable_from=2, calibration=CALIBRATION)
    assert record["deployed_referral"]["sensitivity_counts"] == [8, 8]
    assert record["deployed_referral"]["n_referred"] == 11 and "decision_warning" not in record["deployed_referral"]


def test_the_referable_file_is_read_by_score_as_the_check_tells_it(tmp_path: Path) -> None:
    """A final read, D4: ``--score`` stated the referable file's header and the millionths again
    (``["case", "P_referable", "referable"]``, ``round(value * 10**6)``); it reads them with
    submission's own (is_referable_header, probability_units): a header the check names the
    referable file, its names' case aside, is that file to ``--score`` too."""
    from drac_ssl.submission import (
        check_submission,
        format_units,
        is_referable_header,
        probability_units,
    )

    sub = tmp_path / "graded.csv"
    write_submission(sub, CASES, _referable_probs(), GIVEN, num_grades=5)
    write_referable(sub, 2, cut=0.5)
    text = referable_path(sub).read_text()
    units = [int(line.split(",")[1].replace(".", "")) for line in text.splitlines()[1:]]
    written = np.array([[float(v) for v in line.split(",")[2:]] for line in sub.read_text().splitlines()[1:]])
    assert units == probability_units(written[:, 2:]).sum(axis=1).tolist()  # P2+P3+P4 in millionths, exactly
    assert [format_units(u) for u in units] == [line.split(",")[1] for line in text.splitlines()[1:]]
    assert format_units(306000) == "0.306000" and int(probability_units(0.306)) == 306000
    shouted = text.replace("case,P_referable,referable", "Case,P_Referable,Referable", 1)
    referable_path(sub).write_text(shouted)
    assert is_referable_header(shouted.splitlines()[0].split(","))
    assert any("referable-DR file" in str(p) for p in check_submission(referable_path(sub)))
    record = scoring.score(sub, _labels(tmp_path), n_boot=20, grade_names=NAMES, run_given=True,
                           referable_from=2, calibration=CALIBRATION)
    assert record["deployed_referral"]["p_referable_from"] == f"{referable_path(sub)} (its P_referable column)"


def test_a_referable_file_with_a_column_added_is_still_read_by_score(tmp_path: Path) -> None:
    """A review, F2: the referable file's header was matched whole, so a ``comment`` column a
    spreadsheet added made ``--score`` skip the file, sum the submission's columns and drop the
    export's decision (by class here: 10 referred); its known columns are a prefix, case aside."""
    from drac_ssl.submission import check_submission, is_referable_header

    sub = tmp_path / "graded.csv"
    write_submission(sub, CASES, _referable_probs(), GIVEN, num_grades=5)
    write_referable(sub, 2, cut=None)  # the export referred by class
    lines = referable_path(sub).read_text().splitlines()
    edited = ["Case,P_Referable,Referable,comment"] + [line + ",ok" for line in lines[1:]]
    referable_path(sub).write_text("\n".join(edited) + "\n")
    assert is_referable_header(edited[0].split(","))
    assert not is_referable_header(["case", "P_referable"]) and not is_referable_header(["case", "P0", "P1"])
    assert any("referable-DR file" in str(p) for p in check_submission(referable_path(sub)))
    record = scoring.score(sub, _labels(tmp_path), n_boot=20, grade_names=NAMES, run_given=True,
                           referable_from=2, calibration=CALIBRATION)
    deployed = record["deployed_referral"]
    assert deployed["p_referable_from"] == f"{referable_path(sub)} (its P_referable column)"
    assert deployed["decision_from"].startswith(f"{referable_path(sub)} (its referable column"), deployed
    assert deployed["n_referred"] == 10, deployed


def test_a_run_that_did_not_grade_the_submission_is_not_said_to_have_graded_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F1: with RUN another model than the one the export's notes file names, "Graded
    by", "Calibration applied" and the deployed cut's figures (30 of 30 referred, where the
    export's _referable.csv referred 0 of 30) were claimed for RUN's bundle."""
    from drac_ssl.io import sha256_file

    sub = tmp_path / "graded.csv"
    write_submission(sub, CASES, _referable_probs(), GIVEN, num_grades=5)
    write_image_notes(image_notes_path(sub), CASES, GIVEN, [[]] * len(CASES), [False] * len(CASES),
                      bundle={"metadata_sha256": "0123456789ab", "variant": "simclr", "created_utc": "2026-01-01"})
    bundle = _bundle(tmp_path / "bundle", CALIBRATION)
    digest = sha256_file(bundle / "metadata.json")[:12]
    out = tmp_path / "score.json"
    assert export_main([str(bundle), "--score", str(sub), "--labels", str(_labels(tmp_path)),
                        "--json", str(out)]) == 0
    captured = capsys.readouterr()
    printed = captured.out.splitlines()
    (graded,) = [x for x in printed if x.startswith("Graded by")]
    assert graded.startswith("Graded by: the bundle metadata_sha256=0123456789ab, variant=simclr"), graded
    said = f"RUN's bundle {bundle} (metadata_sha256={digest}) is not the one that graded"
    assert said in graded, graded
    # a final read, D5: checked once and said once (it was said four times: the Graded by line, a
    # stderr warning from a second check, the calibration and the deployed-cut lines)
    assert (captured.out + captured.err).count("is not the one that") == 1, captured.out + captured.err
    assert (captured.out + captured.err).count(f"metadata_sha256={digest}") == 1, captured.out + captured.err
    assert "may be another model's" in graded and "not reported as applied" in graded, graded
    assert not any(x.startswith("Calibration applied (from") for x in printed), printed
    (deployed_line,) = [x for x in printed if x.startswith("Referral at the bundle's deployed cut")]
    assert "referred;" not in deployed_line and "so its referral cut was not the one applied" in deployed_line
    (referable,) = [x for x in printed if x.startswith("Referable DR")]
    assert "bundle's cut" not in referable and "scored next" not in referable, referable
    record = json.loads(out.read_text())
    assert record["graded_by"]["metadata_sha256"] == "0123456789ab" and record["graded_by"]["bundle"] is None
    assert record["graded_by"]["run_bundle"] == {"bundle": str(bundle), "metadata_sha256": digest}
    assert record["deployed_referral"]["withheld"] is True and "n_referred" not in record["deployed_referral"]
    assert "temperature" not in record["calibration"] and "not the one applied" in record["calibration"]["note"]
    # the notes naming RUN's own bundle: RUN graded, its calibration and cut are reported
    write_image_notes(image_notes_path(sub), CASES, GIVEN, [[]] * len(CASES), [False] * len(CASES),
                      bundle={"metadata_sha256": digest, "variant": "vicreg", "created_utc": "2026-01-02"})
    assert export_main([str(bundle), "--score", str(sub), "--labels", str(_labels(tmp_path)),
                        "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["graded_by"]["bundle"] == str(bundle) and "run_bundle" not in record["graded_by"]
    assert record["calibration"]["temperature"] == 1.25 and record["deployed_referral"]["n_referred"] == 10


def test_score_itself_withholds_the_calibration_of_a_run_that_did_not_grade(tmp_path: Path) -> None:
    """A Python caller of score() gives graded_by = grading_bundle(sub, RUN) and calibration =
    model_calibration(sub, RUN) but no run_not_grader: RUN's calibration and deployed cut were
    reported as applied though the notes file names another bundle (the guard was in
    score_command only)."""
    from drac_ssl.io import sha256_file

    sub = tmp_path / "graded.csv"
    write_submission(sub, CASES, _referable_probs(), GIVEN, num_grades=5)
    write_image_notes(image_notes_path(sub), CASES, GIVEN, [[]] * len(CASES), [False] * len(CASES),
                      bundle={"metadata_sha256": "0123456789ab", "variant": "simclr", "created_utc": "2026-01-01"})
    bundle = _bundle(tmp_path / "bundle", CALIBRATION)
    graded_by = scoring.grading_bundle(sub, str(bundle))
    assert graded_by["run_bundle"]["metadata_sha256"] == sha256_file(bundle / "metadata.json")[:12]
    record = scoring.score(sub, _labels(tmp_path), n_boot=20, grade_names=NAMES, run_given=True,
                           referable_from=2, calibration=scoring.model_calibration(sub, str(bundle)),
                           calibration_from=str(bundle / "metadata.json"), graded_by=graded_by)
    assert record["deployed_referral"]["withheld"] is True and "n_referred" not in record["deployed_referral"]
    assert "temperature" not in record["calibration"], record["calibration"]
    assert record["calibration"]["note"].startswith(scoring.RUN_NOT_GRADER_SEE)  # graded_by's note says why
    assert scoring.run_not_grader_words(graded_by) in record["graded_by"]["note"]
    assert "not the one applied" in record["calibration"]["note"]
    # a caller's own words are kept as given
    record = scoring.score(sub, _labels(tmp_path), n_boot=20, grade_names=NAMES, run_given=True,
                           referable_from=2, graded_by=graded_by, run_not_grader="another model graded")
    assert record["calibration"]["note"].startswith("another model graded, so its calibration")


def test_a_bundle_without_a_referral_cut_keeps_the_advice_to_set_one(tmp_path: Path) -> None:
    sub = tmp_path / "graded.csv"
    write_submission(sub, CASES, _referable_probs(), GIVEN, num_grades=5)
    plain = {k: v for k, v in CALIBRATION.items() if k != "referral"}
    record = scoring.score(sub, _labels(tmp_path), n_boot=50, grade_names=NAMES, run_given=True,
                           referable_from=2, calibration=plain)
    assert not any(x.startswith("Referral at the bundle's") for x in scoring.score_lines(record))
    (line,) = [x for x in scoring.score_lines(record) if x.startswith("Referable DR")]
    assert "to refer new images by a cut of P(referable), train with finetune.referral_target" in line
    assert "not the bundle's cut" not in line and line.count("in-sample") == 1, line  # review F5


def test_decision_screening_counts_a_decision_by_hand() -> None:
    from drac_ssl.metrics import decision_screening

    # grades >= 1 referable: 3 referable (2 referred), 3 not (1 referred)
    got = decision_screening([0, 0, 0, 1, 2, 2], [0, 1, 0, 1, 1, 0], 1, n_boot=20)
    assert got["n_referable"] == 3 and got["n_not"] == 3 and got["n_referred"] == 3
    assert got["sensitivity"] == pytest.approx(2 / 3) and got["sensitivity_counts"] == [2, 3]
    assert got["specificity"] == pytest.approx(2 / 3) and got["specificity_counts"] == [2, 3]
    assert got["sensitivity_ci_method"] == "wilson"  # a small count
    with pytest.raises(ValueError, match="referred must hold 0"):
        decision_screening([0, 1], [0, 2], 1)


# --------------------------------------------------------------------------------------
# F4: the images the export flagged as unlike the training images


def test_score_counts_the_images_flagged_unlike_the_training_images(tmp_path: Path) -> None:
    sub = tmp_path / "graded.csv"
    given = [3] * len(CASES)  # one grade for all: the chance warning comes
    write_submission(sub, CASES, _probs(given), given, num_grades=5)
    unlike = ["unlike the training images"]
    reasons = [unlike] * 9 + [["unlike the training images", "far smaller than the model's input"]] + [[]] * 6
    write_image_notes(image_notes_path(sub), CASES, given, reasons, [False] * len(CASES))
    record = scoring.score(sub, _labels(tmp_path), n_boot=50, grade_names=NAMES)
    told = record["unlike_training_images"]
    assert told["n"] == 10 and told["of"] == 16 and told["most"] is True
    lines = scoring.score_lines(record)
    assert any(x.startswith("10 of 16 scored images flagged as unlike the training images (the export's input "
                            f"check, {image_notes_path(sub)}): most were") for x in lines), lines
    assert "suspect domain shift first: another camera, site or preprocessing" in record["chance_warning"]
    assert record["chance_warning"].index("domain shift") < record["chance_warning"].index("more labelled images")
    # few flagged: counted, the usual remedy
    write_image_notes(image_notes_path(sub), CASES, given, [unlike] * 2 + [[]] * 14, [False] * len(CASES))
    record = scoring.score(sub, _labels(tmp_path), n_boot=50, grade_names=NAMES)
    assert record["unlike_training_images"]["n"] == 2 and not record["unlike_training_images"]["most"]
    assert "domain shift" not in record["chance_warning"]
    # no notes file: nothing tells
    image_notes_path(sub).unlink()
    assert "unlike_training_images" not in scoring.score(sub, _labels(tmp_path), n_boot=50, grade_names=NAMES)


def test_a_weak_check_s_count_of_none_flagged_does_not_rule_out_domain_shift(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A multi-site review: APTOS images graded by a RetinaMNIST trial bundle (its input check
    weak) were scored "0 of N scored images flagged as unlike the training images", and the
    remedies named no domain shift. With a weak check the count says it rules nothing out, and
    the remedy names domain shift; a sound check keeps the old words."""
    sub = tmp_path / "graded.csv"
    given = [3] * len(CASES)  # one grade for all: the chance warning comes
    write_submission(sub, CASES, _probs(given), given, num_grades=5)
    write_image_notes(image_notes_path(sub), CASES, given, [[]] * len(CASES), [False] * len(CASES))
    bundle = _bundle(tmp_path / "bundle")
    meta = json.loads((bundle / "metadata.json").read_text())
    meta["input_profile"] = {"file": "input_profile.npz", "weak": True, "weak_reasons": ["few_images"]}
    (bundle / "metadata.json").write_text(json.dumps(meta))
    printed, record = _scored(tmp_path, capsys, bundle, sub)
    (line,) = [x for x in printed.splitlines() if "scored images flagged as unlike" in x]
    assert line.startswith("0 of 16 scored images flagged as unlike the training images"), line
    assert "the check is weak for this bundle: 0 flagged does not rule out domain shift" in line, line
    assert record["unlike_training_images"]["weak"] is True
    assert "domain shift" in record["chance_warning"], record["chance_warning"]
    assert record["chance_warning"].endswith(scoring.WEAK_CHECK_REMEDY)
    # a sound check: the count and remedy as before
    meta["input_profile"]["weak"] = False
    (bundle / "metadata.json").write_text(json.dumps(meta))
    printed, record = _scored(tmp_path, capsys, bundle, sub)
    assert "weak" not in record["unlike_training_images"]
    assert "domain shift" not in record["chance_warning"]
    assert not scoring.bundle_check_weak(None) and not scoring.bundle_check_weak({"bundle": None})
    # the same test as the export's and the app's (ood_check_caveat), without loading torch
    from drac_ssl.grading.bundle import ood_check_caveat

    for profile in ({"file": "p.npz", "weak": True}, {"file": "p.npz", "weak": False}, {"weak": True}, None):
        meta["input_profile"] = profile
        (bundle / "metadata.json").write_text(json.dumps(meta))
        assert scoring.bundle_check_weak({"bundle": str(bundle)}) is bool(ood_check_caveat(meta)), profile


# --------------------------------------------------------------------------------------
# F5: the calibration applied, where it came from, and how calibrated the probabilities are


def test_brier_score_by_hand() -> None:
    from drac_ssl.metrics import brier_score

    # grade 0 given [0.5, 0.5, 0]: 0.25 + 0.25; grade 2 given [0, 0, 1]: 0; grade 1 given [1, 0, 0]: 2
    assert brier_score([0], [[0.5, 0.5, 0.0]]) == pytest.approx(0.5)
    assert brier_score([0, 2, 1], [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]) == pytest.approx(2.5 / 3)
    assert brier_score([0, 1], np.full((2, 4), 0.25)) == pytest.approx(1 - 1 / 4)  # uniform: 1 - 1/K
    with pytest.raises(ValueError):
        brier_score([3], [[0.5, 0.5, 0.0]])


@pytest.mark.parametrize("k", [2, 3, 5])
def test_brier_score_is_scikit_learn_s(k: int) -> None:
    """Review F2: with two grades the score was the multi-class sum, twice the usual binary
    Brier score (scikit-learn's brier_score_loss(y, P1)); K > 2 keeps the multi-class one."""
    from sklearn.metrics import brier_score_loss

    from drac_ssl.metrics import brier_definition, brier_score

    rng = np.random.default_rng(k)
    probs = rng.dirichlet(np.ones(k), size=40)
    y = rng.integers(0, k, size=40)
    expected = (brier_score_loss(y, probs[:, 1]) if k == 2 else
                brier_score_loss(y, probs, labels=list(range(k))))
    assert brier_score(y, probs) == pytest.approx(expected)
    assert brier_definition(k) == ("binary" if k == 2 else "multiclass")
    if k == 2:
        assert brier_score([0], [[0.8, 0.2]]) == pytest.approx(0.04)  # not 0.08


def test_a_two_grade_score_gives_the_binary_brier_score_and_says_so(tmp_path: Path) -> None:
    from sklearn.metrics import brier_score_loss

    truth = [0, 1, 1, 0, 1, 0, 1, 1]
    p1 = np.array([0.2, 0.7, 0.4, 0.1, 0.9, 0.6, 0.8, 0.3])
    cases = [f"im{i}.png" for i in range(len(truth))]
    sub = tmp_path / "two.csv"
    write_submission(sub, cases, np.stack([1 - p1, p1], axis=1), (p1 >= 0.5).astype(int), num_grades=2)
    labels = tmp_path / "labels.csv"
    # DRAC's columns: 0/1 in an ICDR column (APTOS's diagnosis) is refused against two grades
    labels.write_text("image name,DR grade\n" + "".join(f"im{i},{g}\n" for i, g in enumerate(truth)))
    record = scoring.score(sub, labels, n_boot=50)
    measures = record["calibration_measures"]
    assert measures["brier"] == pytest.approx(brier_score_loss(truth, p1))
    assert measures["brier_definition"] == "binary"
    assert "the usual binary one, of P1" in measures["words"] and "0 best, 1 worst" in measures["words"]
    (line,) = [x for x in scoring.score_lines(record) if x.startswith("Calibration of the submitted")]
    assert "the usual binary one, of P1" in line and "multi-class" not in line.split("half the")[0], line


def test_expected_calibration_error_by_hand() -> None:
    from drac_ssl.metrics import expected_calibration_error

    # two images at confidence 0.8, one right: one bin, |0.5 - 0.8|
    assert expected_calibration_error([0, 1], [[0.8, 0.2], [0.8, 0.2]]) == pytest.approx(0.3)
    # bins (0.5, 0.6] and (0.9, 1]: 0.55 right -> |1 - 0.55| = 0.45; 0.95 wrong -> |0 - 0.95|;
    # weighted 1/2 each: (0.45 + 0.95) / 2
    assert expected_calibration_error([0, 1], [[0.55, 0.45], [0.95, 0.05]]) == pytest.approx(0.7)
    # the bin edge: 0.6 lies in (0.5, 0.6] with 0.55: one bin, acc 1/2, conf 0.575
    assert expected_calibration_error([0, 1], [[0.55, 0.45], [0.6, 0.4]]) == pytest.approx(0.075)
    # 0.1 * 7 (0.7000000000000001 in floats) closes (0.6, 0.7], with 0.65: acc 1/2, conf 0.675
    edge = 0.1 * 7
    assert expected_calibration_error([0, 1], [[0.65, 0.35], [edge, 1 - edge]]) == pytest.approx(0.175)
    # one bin: the mean confidence against the accuracy
    assert expected_calibration_error([0, 1], [[0.55, 0.45], [0.6, 0.4]], n_bins=1) == pytest.approx(0.075)
    assert expected_calibration_error([0, 1], [[1.0, 0.0], [0.0, 1.0]]) == 0.0  # perfectly calibrated
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([0], [[1.0, 0.0]], n_bins=0)


def test_score_names_the_calibration_applied_and_measures_the_probabilities(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl.metrics import bootstrap_ci, brier_score, ece_if_calibrated

    sub = tmp_path / "graded.csv"
    write_submission(sub, CASES, _referable_probs(), GIVEN, num_grades=5)
    bundle = _bundle(tmp_path / "bundle", CALIBRATION)
    printed, record = _scored(tmp_path, capsys, bundle, sub)
    out = tmp_path / "score.json"  # for the older bundle below
    (line,) = [x for x in printed.splitlines() if x.startswith("Calibration applied")]
    assert line == (f"Calibration applied (from {bundle / 'metadata.json'}, fitted on out-of-fold outputs of 1200 "
                    "images, re-used unchanged: nothing was re-fitted on the scored images): temperature 1.250; "
                    "grade = argmax_k P_k (the most probable calibrated grade) (thresholds 0.500000, 1.500000, "
                    "2.500000, 3.500000 stored, unused by the argmax decision); referral cut P(referable) >= 0.500000 (grade >= 2, "
                    "set for sensitivity:0.90).")
    cal = record["calibration"]
    assert cal["source"] == str(bundle / "metadata.json") and cal["temperature"] == 1.25
    assert cal["fitted_on"] == "out-of-fold outputs of 1200 images" and cal["referral"]["cut"] == 0.5
    measures = record["calibration_measures"]
    assert measures["brier_definition"] == "multiclass" and "(0 best, 2 worst)" in measures["words"]
    y, probs = np.array(TRUE), np.loadtxt(sub, delimiter=",", skiprows=1, usecols=range(2, 7))
    assert measures["brier"] == pytest.approx(brier_score(y, probs))
    assert measures["brier_ci95"] == pytest.approx(list(bootstrap_ci(y, probs, brier_score, n_boot=1000, seed=0)))
    assert measures["brier_ci95"][0] < measures["brier"] < measures["brier_ci95"][1]
    # stats audit F1: no percentile CI for the ECE (it missed a perfect model's 0), the ECE a
    # perfectly calibrated model with these probabilities would show instead
    assert measures["ece_bins"] == 10 and "ece_ci95" not in measures
    assert (measures["ece_if_calibrated"], measures["ece_if_calibrated_p95"]) == pytest.approx(
        ece_if_calibrated(probs, seed=0))
    (said,) = [x for x in printed.splitlines() if x.startswith("Calibration of the submitted probabilities")]
    assert said.startswith(f"Calibration of the submitted probabilities: Brier score {measures['brier']:.3f} (95% CI ")
    assert "10 equal-width bins" in said
    assert (f"ECE {measures['ece']:.3f} (a perfectly calibrated model with these probabilities would show ECE "
            f"~{measures['ece_if_calibrated']:.3f}, 95th percentile {measures['ece_if_calibrated_p95']:.3f}: ") in said, said
    # without the bundle: said unknown; a Kaggle file: no measures
    bare = scoring.score(sub, _labels(tmp_path), n_boot=20, grade_names=NAMES)
    assert bare["calibration"]["note"].startswith("the bundle that graded was not found")
    # review F4: a RUN whose bundle records no calibration was said "not found (no RUN, ...)"
    old = _bundle(tmp_path / "old_bundle")
    assert export_main([str(old), "--score", str(sub), "--labels", str(_labels(tmp_path)), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["calibration"]["note"] == (
        f"the bundle ({old / 'metadata.json'}) records no calibration (made by an older version of drac_ssl?): "
        "the calibration applied cannot be named")
    kaggle = tmp_path / "kaggle.csv"
    kaggle.write_text("id_code,diagnosis\n" + "".join(f"{c[:-4]},{g}\n" for c, g in zip(CASES, GIVEN, strict=True)))
    assert "calibration_measures" not in scoring.score(kaggle, _labels(tmp_path), n_boot=20, num_grades=5)


# --------------------------------------------------------------------------------------
# F6: the bundle that graded named; each grade's recall with its Wilson interval


def test_score_names_the_bundle_that_graded_and_gives_each_grade_s_recall(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl.io import sha256_file
    from drac_ssl.metrics import wilson_interval

    sub = tmp_path / "graded.csv"
    given = [g if g != 4 else 3 for g in GIVEN]  # PDR never given
    write_submission(sub, CASES, _probs(given), given, num_grades=5)
    bundle = _bundle(tmp_path / "bundle", CALIBRATION)
    digest = sha256_file(bundle / "metadata.json")[:12]
    text, record = _scored(tmp_path, capsys, bundle, sub)
    printed = text.splitlines()
    assert printed[2] == (f"Graded by: bundle {bundle} (metadata_sha256={digest}, variant=vicreg, "
                          "created_utc=2026-01-02T03:04:05+00:00).")
    assert record["graded_by"]["bundle"] == str(bundle) and record["graded_by"]["metadata_sha256"] == digest
    # Mild, by hand: true at im04..im06, given 1, 2, 3 (one found); given 1 at im02 and im04
    mild = record["per_grade"]["Mild"]
    assert (mild["n"], mild["hits"], mild["given"]) == (3, 1, 2)
    assert mild["recall"] == pytest.approx(1 / 3) and mild["recall_ci95"] == pytest.approx(list(wilson_interval(1, 3)))
    assert mild["precision"] == pytest.approx(0.5)
    pdr = record["per_grade"]["PDR"]
    assert pdr["given"] == 0 and pdr["precision"] is None and pdr["recall"] == 0.0
    assert record["never_given"] == ["grade 4 (PDR) was never given: its precision is undefined"]
    assert "| 1 Mild | 3 | 2 | 0.333 (1/3; 0.061..0.792) | 0.500 |" in printed
    assert "Note: Grade 4 (PDR) was never given: its precision is undefined." in printed

    # without RUN: the bundle the export's notes file names, its hash and variant
    write_image_notes(image_notes_path(sub), CASES, given, [[]] * len(CASES), [False] * len(CASES),
                      bundle={"metadata_sha256": digest, "variant": "vicreg", "created_utc": "2026-01-02"})
    told = scoring.grading_bundle(sub)
    assert told is not None and told["bundle"] is None and told["metadata_sha256"] == digest
    capsys.readouterr()
    assert export_main(["--score", str(sub), "--labels", str(_labels(tmp_path))]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("Graded by")]
    assert line.startswith(f"Graded by: the bundle metadata_sha256={digest}, variant=vicreg, created_utc=2026-01-02, "
                           f"as {image_notes_path(sub)} (its bundle column) names it"), line
    # nothing tells: said
    image_notes_path(sub).unlink()
    record = scoring.score(sub, _labels(tmp_path), n_boot=20, grade_names=NAMES)
    assert record["graded_by"]["note"].startswith("the bundle that graded is not known")


def test_two_grades_give_each_grade_the_screening_line_s_interval(tmp_path: Path) -> None:
    """Review F3: with two grades the per-grade table gave 16/21 a Wilson interval while the
    screening line gave the same 16/21 specificity a bootstrap one; and with patients the
    header said "Wilson score" where the interval is on Kish's effective n."""
    rng = np.random.default_rng(3)
    truth = np.array([0, 1] * 20)
    given = truth.copy()
    given[:14] = 1 - given[:14]  # 7 errors on each side: the counts allow the bootstrap
    p1 = np.where(given == 1, 0.6, 0.2) + rng.uniform(0, 0.2, size=40)
    cases = [f"im{i:02d}.png" for i in range(40)]
    sub = tmp_path / "two.csv"
    write_submission(sub, cases, np.stack([1 - p1, p1], axis=1), given, num_grades=2)
    labels = tmp_path / "labels.csv"
    labels.write_text("image name,DR grade,patient\n" + "".join(f"im{i:02d},{g},p{i // 3}\n"
                                                                  for i, g in enumerate(truth)))
    for patients in (None, "patient"):
        record = scoring.score(sub, labels, n_boot=200, patient_column=patients)
        referable = record["referable"]
        assert "bootstrap" in {referable["sensitivity_ci_method"], referable["specificity_ci_method"]}
        for grade, figure in (("1", "sensitivity"), ("0", "specificity")):
            row = record["per_grade"][grade]
            assert [row["hits"], row["n"]] == referable[f"{figure}_counts"]
            assert row["recall_ci95"] == pytest.approx(referable[f"{figure}_ci95"])
            assert row["ci_method"] == referable[f"{figure}_ci_method"] and row["ci_as"] == figure
        lines = scoring.score_lines(record)
        (header,) = [x for x in lines if x.startswith("Per grade")]
        assert "95% CI as the screening line's: the bootstrap's where the row says so" in header, header
        assert any(x.endswith(", bootstrap) | " + f"{record['per_grade'][g]['precision']:.3f} |")
                   for x in lines for g in ("0", "1")), lines
    # more grades, with patients: the header says the effective n
    three = tmp_path / "three.csv"
    g3 = [0, 0, 1, 1, 2, 2, 0, 1, 2, 2, 1, 0]
    write_submission(three, [f"im{i:02d}.png" for i in range(12)], _probs(g3, 3), g3, num_grades=3)
    labels3 = tmp_path / "labels3.csv"
    labels3.write_text("id_code,diagnosis,patient\n" + "".join(f"im{i:02d},{g},p{i // 2}\n"
                                                                for i, g in enumerate(g3)))
    record = scoring.score(three, labels3, n_boot=50, patient_column="patient")
    (header,) = [x for x in scoring.score_lines(record) if x.startswith("Per grade")]
    assert "95% CI Wilson score on an effective n of each grade's images (Kish's" in header, header
    first = next(iter(record["per_grade"].values()))  # grade 0: images of p0, p0, p3, p5
    assert first["ci_method"] == "wilson_patients" and first["ci_units"] == 3
    row = [x for x in scoring.score_lines(record) if x.startswith("| 0 ")][-1]  # the per-grade table
    assert "| 4 | 4 | 1.000 (4/4 images; " in row, row
    assert f"..1.000, n_eff {first['ci_n_eff']:.1f} of 3 patients) |" in row, row


def test_recall_intervals_by_hand() -> None:
    from drac_ssl.metrics import kish_effective_n, recall_intervals, wilson_interval

    got = recall_intervals([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], 3)
    assert [(g["n"], g["hits"], g["given"]) for g in got] == [(2, 1, 2), (3, 2, 3), (0, 0, 0)]
    assert got[1]["recall_ci95"] == pytest.approx(list(wilson_interval(2, 3))) and got[1]["ci_method"] == "wilson"
    assert np.isnan(got[2]["recall"]) and all(np.isnan(got[2]["recall_ci95"]))
    # patients: grade 1's images are of patients a, a, b: Kish's n_eff 9 / 5
    grouped = recall_intervals([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], 3, groups=["p", "q", "a", "a", "b"])
    n_eff = kish_effective_n(["a", "a", "b"])
    assert n_eff == pytest.approx(1.8) and grouped[1]["ci_method"] == "wilson_patients"
    assert grouped[1]["recall_ci95"] == pytest.approx(list(wilson_interval(2 / 3 * n_eff, n_eff)))
