"""Per-patient referral beside the per-image one (a screening-programme statistician's report):
the package gave per-image sensitivity / specificity only, with counts whose unit was not said
("354 referable and 443 not", "148 of 200 referred"), which a programme reads as patients; on
an artificial pairing of RetinaMNIST images the per-image 0.901 / 0.422 were 0.947 / 0.202 per
patient. ``export --score`` with EyePACS-layout labels did not pair eyes as the ingest does,
and a plain CSV of ``<id>_left`` / ``<id>_right`` names split fellow eyes across folds without
a word. Each test fails on the code before the change (the functions, columns and words are
new)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drac_ssl.export import main as export_main
from drac_ssl.metrics import (
    PER_PATIENT_RULE,
    patient_referral,
    patient_screening,
    patient_screening_summary,
    referable_summary,
)
from drac_ssl.oof import REFERRAL_COLUMNS, oof_columns
from drac_ssl.submission import write_submission


def test_the_patient_rule_is_the_worse_eye_the_any_image_referral_and_the_max_score() -> None:
    # patient a: eyes 0/1 referable, referred 0/1; b: neither referable, one referred;
    # c: one image, referable, not referred
    units, truth, score, referred = patient_referral(
        ["b", "a", "a", "c", "b"], [0, 0, 1, 1, 0], [0.30, 0.20, 0.70, 0.40, 0.10], [1, 0, 1, 0, 0])
    assert units.tolist() == ["a", "b", "c"]
    assert truth.tolist() == [1, 0, 1]
    assert score.tolist() == [0.70, 0.30, 0.40]
    assert referred.tolist() == [1, 1, 0]
    with pytest.raises(ValueError, match="one value per image"):
        patient_referral(["a"], [0, 1], [0.1, 0.2], [0, 1])
    with pytest.raises(ValueError, match="referred must hold 0 or 1"):
        patient_referral(["a", "b"], [0, 1], [0.1, 0.2], [0, 2])
    # the first bad value and its index are named (a review: the message named neither)
    with pytest.raises(ValueError, match=r"image 1 \(0-based\) holds 2, and 1 more"):
        patient_referral(["a", "b", "c"], [0, 2, 3], [0.1, 0.2, 0.3], [0, 1, 1])
    with pytest.raises(ValueError, match="and 1 more image"):
        patient_referral(["a", "b", "c"], [0, 2, 3], [0.1, 0.2, 0.3], [0, 1, 1])


def test_per_patient_figures_differ_from_the_per_image_ones_and_say_their_unit() -> None:
    # 4 patients of 2 images, grades >= 2 referable; per image: 2 referable (both found), 6 not
    # (3 referred: specificity 3/6); per patient: p0 and p1 referable (both found), p2 and p3
    # not, each with one image referred: specificity 0/2
    y = [2, 0, 3, 0, 0, 0, 0, 0]
    referred = [1, 0, 1, 1, 1, 0, 0, 1]
    p_ref = [0.9, 0.1, 0.8, 0.6, 0.7, 0.2, 0.3, 0.65]
    patients = ["p0", "p0", "p1", "p1", "p2", "p2", "p3", "p3"]
    block = patient_screening(y, p_ref, referred, 2, patients, n_boot=20, seed=0)
    assert (block["unit"], block["n_patients"], block["n_images"]) == ("patients", 4, 8)
    assert (block["n_referable"], block["n_not"], block["n_referred"]) == (2, 2, 4)
    assert block["sensitivity_counts"] == [2, 2] and block["specificity_counts"] == [0, 2]
    assert block["sensitivity"] == 1.0 and block["specificity"] == 0.0
    assert block["sensitivity_ci_method"] == "wilson"  # small counts: the Wilson interval
    assert block["auc"] == 1.0  # max P(referable): 0.9, 0.8 against 0.7, 0.65
    assert block["rule"] == PER_PATIENT_RULE
    said = patient_screening_summary(block)
    assert "4 patients (8 images), 2 referable patients and 2 not: 4 of 4 patients referred" in said, said
    assert "sensitivity 1.000 (2/2 patients; 95% CI" in said and "specificity 0.000 (0/2 patients; 95% CI" in said
    assert "referred by the submitted grades (grade >= 2)" in said
    # the per-image sentence says images; with the block, the per-patient sentence follows it
    image_words = referable_summary({"rule": "referable = grade >= 2", "n_referable": 2, "n_not": 6,
                                     "auc": 0.9, "sensitivity": 1.0, "specificity": 0.5, "per_patient": block})
    assert "2 referable images and 6 not" in image_words and "; per patient, gradable images only (worse eye" in image_words
    # one side without a patient: no AUC, and the words say why
    alone = patient_screening([2, 3], [0.6, 0.7], [1, 1], 2, ["a", "b"], n_boot=10)
    assert "AUC of the patients' max P(referable) n/a (every one of the 2 patients is referable" in \
        patient_screening_summary(alone)


def test_oof_columns_gain_the_referral_columns_only_with_a_cut() -> None:
    plain = oof_columns(3, "classification", patients=True)
    assert not set(REFERRAL_COLUMNS) & set(plain)
    with_cut = oof_columns(3, "classification", patients=True, referral=True)
    assert with_cut[-4:] == [*REFERRAL_COLUMNS, "patient"]


NAMES = ["No DR", "Mild", "Moderate", "Severe", "PDR"]


def test_score_pairs_eyepacs_eyes_and_gives_the_per_patient_block(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """EyePACS-layout labels (``image,level``, ``10_left``): the eyes are one patient, as the
    ingest pairs them; the CIs resample patients and the per-patient referral is given."""
    truth = [2, 0, 0, 0, 3, 3, 0, 1, 2, 0, 0, 0]
    given = [2, 0, 2, 0, 3, 0, 1, 2, 0, 0, 0, 0]
    cases = [f"{10 + i // 2}_{'left' if i % 2 == 0 else 'right'}.jpeg" for i in range(len(truth))]
    probs = np.full((len(given), 5), 0.025)
    for i, g in enumerate(given):
        probs[i, g] = 0.9
    sub = tmp_path / "graded.csv"
    write_submission(sub, cases, probs, given, num_grades=5)
    labels = tmp_path / "trainLabels.csv"
    labels.write_text("image,level\n" + "".join(f"{c[:-5]},{g}\n" for c, g in zip(cases, truth, strict=True)))
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "metadata.json").write_text(json.dumps({"class_names": NAMES, "variant": "vicreg",
                                                      "cv_metrics": {"referable": {"from_grade": 2}}}))
    (bundle / "MODEL_CARD.md").write_text("card")
    out = tmp_path / "score.json"
    assert export_main([str(bundle), "--score", str(sub), "--labels", str(labels), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    record = json.loads(out.read_text())
    assert (record["ci_resamples"], record["ci_units"]) == ("patients", 6)
    block = record["referable"]["per_patient"]
    # patients 10 (2, 0: referable, found), 11 (0, 0: not, referred by 11_left's 2), 12 (3, 3:
    # found), 13 (0, 1: not, referred by 13_right's 2), 14 (2, 0: missed), 15 (0, 0: cleared)
    assert block["sensitivity_counts"] == [2, 3] and block["specificity_counts"] == [1, 3]
    assert (block["n_patients"], block["n_images"]) == (6, 12)
    assert "3 referable patients and 3 not: 4 of 6 patients referred" in printed, printed
    assert "referable images and" in printed
    assert any("EyePACS's ids" in n for n in record["label_notes"]), record["label_notes"]


def test_a_plain_csv_of_left_right_names_is_warned_not_silently_split(tmp_path: Path) -> None:
    from eye_pairs import ingest_eye_pairs

    result = ingest_eye_pairs(tmp_path, lambda n: f"{100 + n}")
    said = [w for w in result.warnings if "named <id>_OD/_OS" in w]
    assert len(said) == 1, result.warnings
    assert "20 of 20 training image ids" in said[0] and "--patient-column" in said[0]


# --------------------------------------------------------------------------------------
# The fine-tuning, end to end: three grades, patients of two images, a referral target


@pytest.fixture(scope="module")
def patient_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pretrained run (2 folds, 3 grades) whose manifest pairs its training images into
    patients of two (``P00``..``P14``)."""
    from fake_ingest import make_patient_run

    root = tmp_path_factory.mktemp("patient_run")
    make_patient_run(root)
    return root


def test_a_run_with_patients_reports_the_per_patient_referral(patient_run: Path) -> None:
    import csv

    from fake_ingest import TINY_FINETUNE

    from drac_ssl import finetune
    from drac_ssl.config import load_config
    from drac_ssl.report import write_report

    settings = {**TINY_FINETUNE, "data.n_folds": "2", "finetune.compare_scratch": "false", "finetune.n_boot": "50",
                "finetune.referable_from": "1", "finetune.referral_target": "sensitivity:0.8"}
    result = finetune.run(load_config(None, [f"{k}={v}" for k, v in settings.items()]), patient_run)
    variant = result.variants["vicreg"]
    metrics = json.loads((variant.out_dir / "metrics.json").read_text())
    referral = metrics["referable"]["referral"]
    block = metrics["referable"]["per_patient"]
    with open(variant.oof_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    # oof.csv: P(referable), the fold's own cut and the decision, then the patient
    assert list(rows[0])[-4:] == ["P_referable", "referral_cut", "referred", "patient"]
    for r in rows:
        assert float(r["referral_cut"]) == referral["fold_cuts"][r["fold"]]
        assert float(r["P_referable"]) == pytest.approx(float(r["P1"]) + float(r["P2"]), abs=2e-6)
    # the per-patient block recomputed from oof.csv alone, by the rule of the report
    units, truth, _, referred = patient_referral([r["patient"] for r in rows],
                                                 [int(int(r["grade"]) >= 1) for r in rows],
                                                 [float(r["P_referable"]) for r in rows],
                                                 [int(r["referred"]) for r in rows])
    assert block["n_patients"] == units.size == 15 and block["n_images"] == 30
    assert block["n_referable"] == int(truth.sum()) and block["n_referred"] == int(referred.sum())
    assert block["sensitivity_counts"] == [int((referred[truth == 1]).sum()), int(truth.sum())]
    assert block["specificity_counts"] == [int((1 - referred[truth == 0]).sum()), int((truth == 0).sum())]
    report = write_report(patient_run).read_text()
    assert "; per patient, gradable images only (worse eye: a patient is referable if any of their images is, referred if any of " \
           "their images is referred by each fold's own referral cut" in report
    assert f"15 patients (30 images), {block['n_referable']} referable patients and {block['n_not']} not" in report
    assert "referable images and" in report
    # the deployed cut is said to be on single fold models, new images graded by the ensemble
    assert "fitted on the pooled out-of-fold outputs of single fold models, while new images are graded by the " \
           "fold ensemble (mean of the folds, with flips)" in report
    assert "cross-fitted on single fold models" not in report  # review F2: the deployed cut is not cross-fitted
    # three grades: the variant is chosen by QWK whatever the target, and the selection line says so
    assert "chosen by QWK; referral target not used to choose" in report


# --------------------------------------------------------------------------------------
# A review's findings on the per-patient block (F1-F9): each test fails on the code before


def test_blank_patient_ids_are_each_their_own_patient() -> None:
    """Review F5: oof.csv's patient cell is blank for an image without one, and the block is
    said to be recomputable from oof.csv alone; the blank ids were merged into one patient."""
    units, truth, _, referred = patient_referral(["", "", "x"], [1, 0, 0], [0.1, 0.2, 0.3], [0, 0, 1])
    assert units.size == 3 and sorted(truth.tolist()) == [0, 0, 1] and referred.sum() == 1
    units, _, _, _ = patient_referral([None, "  ", float("nan"), "x", "x"], [0] * 5, [0.1] * 5, [0] * 5)
    assert units.size == 4  # three blank images, one patient x of two
    block = patient_screening([2, 0, 0], [0.9, 0.1, 0.2], [1, 0, 0], 1, ["", "", ""])
    assert (block["n_patients"], block["n_referable"], block["n_not"]) == (3, 1, 2)


def test_ungradable_images_are_counted_apart_from_the_per_patient_block() -> None:
    """Review F1: an image left out as ungradable silently left its patient judged on the
    other eye, and a patient with no gradable image dropped out of the block unsaid."""
    assert "gradable images only" in PER_PATIENT_RULE
    # gradable: a (two images), b (one), one image without a patient; left out: a's third
    # image, c's only one, d's two, and one image without a patient
    y, p_ref, referred = [2, 0, 0, 1], [0.9, 0.1, 0.2, 0.4], [1, 0, 0, 0]
    block = patient_screening(y, p_ref, referred, 1, ["a", "a", "b", ""],
                              left_out=["a", "c", "d", "d", ""])
    assert block["n_patients"] == 3
    assert block["n_images_left_out"] == 5
    assert block["n_patients_image_left_out"] == 1  # a, judged on their other two images
    assert block["n_patients_none_gradable"] == 3  # c, d and the image without a patient
    said = patient_screening_summary(json.loads(json.dumps(block, default=float)))
    assert "per patient, gradable images only" in said
    assert ("5 images left out as ungradable, 1 patient counted here judged on their other images, "
            "3 patients with no gradable image not counted (screening programmes usually recall") in said
    unknown = patient_screening(y, p_ref, referred, 1, ["a", "a", "b", ""])
    assert unknown["n_images_left_out"] is None and "left out" not in patient_screening_summary(unknown)
    none = patient_screening(y, p_ref, referred, 1, ["a", "a", "b", ""], left_out=[])
    assert (none["n_images_left_out"], none["n_patients_none_gradable"]) == (0, 0)


def test_the_ingest_records_the_left_out_rows_patients_and_the_finetuning_reads_them(tmp_path: Path) -> None:
    """Review F1: the fine-tuning's block had no way to know the ungradable images' patients:
    the ingest summary's left_out_ungradable now records each row's patient."""
    from data_prep import ingest
    from drac_ssl.config import DataConfig
    from drac_ssl.finetune import left_out_patients

    root = tmp_path / "d"
    root.mkdir()
    rng = np.random.default_rng(4)
    lines = ["image name,DR grade,patient"]
    for i in range(20):
        name = f"img{i:02d}.jpg"
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((64, 64), Image.Resampling.BILINEAR).save(root / name)
        grade = "" if i in (0, 1, 2) else str(i % 5)  # p0's both images and p1's first: no grade
        lines.append(f"{name},{grade},p{i // 2}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    ingest.run(DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1,  # type: ignore[arg-type]
                          grades=["icdr"], patient_column="patient", ungradable="leave_out"), out, verbose=False)
    summary = json.loads((out / "ingest_summary.json").read_text())
    assert [r["patient"] for r in summary["left_out_ungradable"]] == ["p0", "p0", "p1"]
    assert left_out_patients(out) == ["patient:p0", "patient:p0", "patient:p1"]
    for row in summary["left_out_ungradable"]:  # an ingest before it recorded no patient
        row.pop("patient")
    (out / "ingest_summary.json").write_text(json.dumps(summary))
    assert left_out_patients(out) is None


def test_the_deployed_cut_is_not_called_cross_fitted_and_cuts_print_as_stored() -> None:
    """Review F2 / F3: the deployed cut, fitted on the pooled out-of-fold outputs, was called
    cross-fitted; cuts were printed to 3 decimals beside oof.csv's 6-decimal P_referable
    (a row at 0.666728 referred by a cut printed 0.667)."""
    from drac_ssl.metrics import REFERRAL_CUT_ENSEMBLE, cut_text, referral_summary

    assert cut_text(0.666728) == "0.666728" and cut_text(None) == "n/a"
    assert not REFERRAL_CUT_ENSEMBLE.startswith("cross-fitted")
    assert "fitted on the pooled out-of-fold outputs of single fold models" in REFERRAL_CUT_ENSEMBLE
    said = referral_summary({"metric": "sensitivity", "level": 0.9, "cut": 0.301034,
                             "fold_cuts": {"0": 0.666728, "1": 0.5}, "sensitivity": 0.9, "specificity": 0.4})
    assert "fold cuts cross-fitted (fold 0 0.666728, fold 1 0.500000)" in said, said
    assert "the deployed cut, P(referable) >= 0.301034, refers new images: it was fitted on the pooled" in said
    assert "cross-fitted on single fold models" not in said


def test_score_pairs_eyepacs_columns_given_explicitly_and_warns_eye_names_without_patients(
        tmp_path: Path) -> None:
    """Review F6: EyePACS's image,level with --image-column / --grade-column given paired no
    eyes, and a plain CSV of 10_left names without a patient column said nothing."""
    from drac_ssl.scoring import read_grade_labels

    eyes = "10_left,0\n10_right,2\n11_left,0\n11_right,0\n"
    (tmp_path / "b.csv").write_text("image,level\n" + eyes)
    (tmp_path / "c.csv").write_text("id,grade\n" + eyes)
    rows = read_grade_labels(tmp_path / "b.csv", NAMES, image_column="image", grade_column="level")
    assert rows.patients == ["10", "10", "11", "11"]
    rows = read_grade_labels(tmp_path / "c.csv", NAMES, image_column="id", grade_column="grade")
    assert rows.patients == []
    said = [p for p in rows.problems if "named <id>_left/_right" in p.what]
    assert len(said) == 1 and said[0].severity == "warning" and "--patient-column" in said[0].fix
    assert "4 of 4 images of the label CSV" in said[0].what


def test_an_eyepacs_folder_of_od_os_names_is_warned(tmp_path: Path) -> None:
    """Review F7: an EyePACS-format folder (trainLabels.csv, image,level) whose ids are
    <id>_OD / _OS returned before the eye-name warning; <id>_L / _R are warned too."""
    from data_prep import ingest
    from drac_ssl.config import DataConfig

    for suffixes, kind in ((("OD", "OS"), "_OD/_OS"), (("L", "R"), "_L/_R")):
        root = tmp_path / kind.replace("/", "")
        (root / "train").mkdir(parents=True)
        rng = np.random.default_rng(5)
        lines = ["image,level"]
        for i in range(20):
            name = f"{100 + i // 2}_{suffixes[i % 2]}"
            coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(coarse).resize((64, 64), Image.Resampling.BILINEAR).save(root / "train" / f"{name}.jpeg")
            lines.append(f"{name},{i % 5}")
        (root / "trainLabels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = ingest.run(DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1,  # type: ignore[arg-type]
                                       grades=["icdr"]), tmp_path / f"out{kind[1]}", verbose=False)
        said = [w for w in result.warnings if f"named <id>{kind}" in w]
        assert len(said) == 1, result.warnings


def test_a_two_grade_run_prints_the_per_patient_block_on_the_console() -> None:
    """Review F9: two-grade runs gave the per-patient block in report.md and the model card,
    not on the fine-tuning's console."""
    import contextlib
    import io
    from types import SimpleNamespace

    from drac_ssl import finetune

    block = patient_screening([1, 0, 0, 1], [0.9, 0.2, 0.6, 0.4], [1, 0, 1, 0], 1, ["a", "a", "b", "c"])
    referable = {"from_grade": 1, "n_referable": 2, "n_not": 2, "auc": 0.75, "auc_ci95": [0.5, 1.0],
                 "sensitivity": 0.5, "specificity": 0.5, "per_patient": block}
    metrics = {"decision": "thresholds", "class_names": ["no", "yes"], "qwk": 0.5, "qwk_ci95": [0.1, 0.9],
               "qwk_ci95_note": None, "auc": 0.75, "auc_ovr": 0.75, "accuracy": 0.5, "one_grade_note": None,
               "decision_rules": {"argmax": {"qwk": 0.4, "accuracy": 0.4}}, "folds": [],
               "referable": referable, "sensitivity": 0.5, "specificity": 0.5}
    ctx = SimpleNamespace(patients=None, num_grades=2, grades=np.array([0, 1]))
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        finetune._say_variant(ctx, "vicreg", metrics)  # type: ignore[arg-type]
    assert "[finetune] vicreg: referable DR per patient, gradable images only (worse eye" in printed.getvalue()
    assert "3 patients (4 images)" in printed.getvalue()


def test_score_per_patient_counts_ungradable_rows_and_names_the_decision_it_scored(tmp_path: Path) -> None:
    """Review F1 / F8 on ``export --score``: with ``--ungradable leave_out`` the per-patient
    block dropped the patients left without a gradable image unsaid, and when the export's
    ``_referable.csv`` referable column (the decision scored) disagreed with the cut, its
    ``referred_by`` still named "the bundle's deployed cut"."""
    from drac_ssl import scoring
    from drac_ssl.submission import referable_path, write_referable

    cases = [f"e{i:02d}.png" for i in range(8)]
    truth = ["2", "0", "0", "", "3", "0", "", ""]  # e03, e06, e07 ungradable
    patients = ["p0", "p0", "p1", "p1", "p2", "p2", "p3", "p3"]  # p3: no gradable image
    given = [2, 0, 0, 0, 3, 2, 0, 0]
    probs = np.full((8, 5), 0.025)
    for i, g in enumerate(given):
        probs[i, g] = 0.9
    sub = tmp_path / "graded.csv"
    write_submission(sub, cases, probs, given, num_grades=5)
    labels = tmp_path / "labels.csv"
    labels.write_text("image,grade,patient\n" + "".join(
        f"{c},{t},{p}\n" for c, t, p in zip(cases, truth, patients, strict=True)))
    calibration = {"output": "classification", "temperature": 1.0, "thresholds": [0.5, 1.5, 2.5, 3.5],
                   "decision": "argmax", "num_grades": 5,
                   "referral": {"target": "sensitivity:0.90", "metric": "sensitivity", "level": 0.9,
                                "from_grade": 2, "cut": 0.5}}
    record = scoring.score(sub, labels, image_column="image", grade_column="grade", patient_column="patient",
                           n_boot=20, grade_names=NAMES, run_given=True, referable_from=2,
                           calibration=calibration, ungradable="leave_out")
    block = record["referable"]["per_patient"]
    assert (block["n_patients"], block["n_images"]) == (3, 5)
    assert (block["n_images_left_out"], block["n_patients_image_left_out"], block["n_patients_none_gradable"]) \
        == (3, 1, 1)
    assert record["deployed_referral"]["per_patient"]["n_patients_none_gradable"] == 1
    said = "\n".join(scoring.score_lines(record))
    assert "1 patient with no gradable image not counted" in said
    # every row graded, and the export's _referable.csv refers none where the cut refers some
    labels.write_text("image,grade,patient\n" + "".join(
        f"{c},{t or 0},{p}\n" for c, t, p in zip(cases, truth, patients, strict=True)))
    write_referable(sub, 2, cut=0.5)
    flipped = referable_path(sub).read_text().replace(",1\n", ",0\n")  # the export referred none
    referable_path(sub).write_text(flipped)
    record = scoring.score(sub, labels, image_column="image", grade_column="grade", patient_column="patient",
                           n_boot=20, grade_names=NAMES, run_given=True, referable_from=2,
                           calibration=calibration)
    deployed = record["deployed_referral"]
    assert "decision_warning" in deployed
    assert deployed["per_patient"]["referred_by"] == deployed["decision_from"]
    assert "its referable column: the export's decision" in deployed["per_patient"]["referred_by"]
    assert deployed["per_patient"]["n_referred"] == 0


def test_a_kaggle_file_gets_the_per_patient_block_at_its_grades_without_an_auc(tmp_path: Path) -> None:
    """Review F9's second part: a Kaggle file (classes only) scored against labels naming
    patients gave no per-patient block; its grades refer patients as any submission's do."""
    from drac_ssl import scoring

    kaggle = tmp_path / "kaggle.csv"
    given = [2, 0, 0, 0, 3, 0]
    kaggle.write_text("id_code,diagnosis\n" + "".join(f"e{i},{g}\n" for i, g in enumerate(given)))
    labels = tmp_path / "labels.csv"
    labels.write_text("image,grade,patient\n" + "".join(
        f"e{i},{t},p{i // 2}\n" for i, t in enumerate([2, 0, 2, 0, 0, 0])))
    record = scoring.score(kaggle, labels, image_column="image", grade_column="grade", patient_column="patient",
                           n_boot=20, grade_names=NAMES, run_given=True, referable_from=2)
    block = record["referable"]["per_patient"]
    # p0 (2, 0) referable and referred; p1 (2, 0) referable, missed; p2 (0, 0) not, referred by e4's 3
    assert block["sensitivity_counts"] == [1, 2] and block["specificity_counts"] == [0, 1]
    assert block["auc"] is None and "no P(referable) to rank the patients" in block["auc_note"]


def test_score_words_the_eyepacs_pairing_and_warns_eye_names_without_patients(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A docs trial: the Labels line presented EyePACS's pairing as a column named '(EyePACS
    image ids ...)', and --score printed its eye-name warning as 'note:' where the ingest (and
    docs/evaluation.md) warn."""
    cases = [f"{10 + i // 2}_{'left' if i % 2 == 0 else 'right'}.jpeg" for i in range(12)]
    given = [i % 5 for i in range(12)]
    probs = np.full((12, 5), 0.025)
    for i, g in enumerate(given):
        probs[i, g] = 0.9
    sub = tmp_path / "graded.csv"
    write_submission(sub, cases, probs, given, num_grades=5)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "metadata.json").write_text(json.dumps({"class_names": NAMES, "variant": "vicreg",
                                                      "cv_metrics": {"referable": {"from_grade": 2}}}))
    (bundle / "MODEL_CARD.md").write_text("card")
    rows = "".join(f"{c[:-5]},{g}\n" for c, g in zip(cases, given, strict=True))
    (tmp_path / "trainLabels.csv").write_text("image,level\n" + rows)
    assert export_main([str(bundle), "--score", str(sub), "--labels", str(tmp_path / "trainLabels.csv")]) == 0
    printed = capsys.readouterr().out
    assert "and patients: paired from EyePACS image ids (<patient>_left / _right)" in printed, printed
    assert "'(EyePACS" not in printed
    (tmp_path / "plain.csv").write_text("id,grade\n" + rows)
    assert export_main([str(bundle), "--score", str(sub), "--labels", str(tmp_path / "plain.csv"),
                        "--image-column", "id", "--grade-column", "grade"]) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "no patient column is given" in line]
    assert len(said) == 1 and said[0].startswith("warning: "), err


def test_an_image_without_a_patient_is_its_own_unit_spelled_the_same_everywhere() -> None:
    # one spelling (drac_ssl.manifest.resampling_unit) for the out-of-fold CIs, the fine-tuning's
    # per-patient figures and the scoring's cluster bootstrap: a patient named as another image
    # (here 'p1') stays a unit apart from it, and every image of its own sorts before every
    # patient (patient_referral orders its patients by id: the per-patient CIs' resamples)
    from drac_ssl import finetune, scoring
    from drac_ssl.manifest import resampling_unit
    from drac_ssl.oof import patient_groups

    rows = [{"id": "a", "patient": "p1"}, {"id": "b", "patient": ""}, {"id": "p1", "patient": ""}]
    units = ["patient:p1", "image:b", "image:p1"]
    assert [resampling_unit(r["patient"], r["id"]) for r in rows] == units
    assert patient_groups(rows) == units
    assert finetune._patient_units(rows) == units
    labels = scoring.LabelRows(Path("labels.csv"), [r["id"] for r in rows], [0, 1, 2], [2, 3, 4], "image",
                               "grade", "", "", patients=[r["patient"] for r in rows], patient_column="patient")
    groups, notes = scoring._patient_groups(labels, [0, 1, 2])
    assert groups is not None and groups.tolist() == units and len(notes) == 1
    assert sorted(units) == ["image:b", "image:p1", "patient:p1"]
    assert patient_referral(units, [1, 0, 1], [0.9, 0.1, 0.8], [1, 0, 1])[0].tolist() == sorted(units)
