"""Figures per site (``data.site_column``): a multi-site review pooled APTOS and RetinaMNIST
images; report.md gave one pooled QWK 0.324 that hid site A at -0.333 and site B at 0.408, and
the model card said "Cross-validated on this one data set". Now the manifest's ``site`` column
reaches ``oof.csv``, report.md has a table per site (and a sentence for a site much worse than
pooled), and the model card names the sites and their counts."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_ingest import TINY_FINETUNE, make_fake_ingest

from drac_ssl import finetune, pretrain
from drac_ssl.config import load_config
from drac_ssl.grading.bundle import data_provenance, site_scope_words
from drac_ssl.report import SITE_GAP, SITE_MIN_IMAGES, site_figures, site_lines, write_report


def test_site_figures_of_a_tiny_oof_by_hand() -> None:
    # site A: truth 0,1,2,2 given 0,2,2,2 (K = 3, weights (i-j)^2/4): observed weighted
    # disagreement 0.25/4 = 1/16; margins truth (1,1,2), given (1,0,3): expected
    # (1*1*1 + 1*1*0.25 + 1*3*0.25 + 2*1*1)... = 6/16; QWK = 1 - (1/16)/(6/16) = 5/6
    # site B: truth 0,0,1,1 given 0,0,1,1: QWK 1, accuracy 1, but no grade 2: AUC n/a
    grades = [0, 1, 2, 2, 0, 0, 1, 1]
    pred = [0, 2, 2, 2, 0, 0, 1, 1]
    probs = np.eye(3)[pred] * 0.7 + 0.1
    sites = ["A"] * 4 + ["B"] * 4
    a, b = site_figures(grades, probs, pred, sites, n_boot=200)
    assert (a["site"], a["n"], b["site"], b["n"]) == ("A", 4, "B", 4)
    assert a["qwk"] == pytest.approx(5 / 6) and a["accuracy"] == pytest.approx(3 / 4)
    assert b["qwk"] == pytest.approx(1.0) and b["auc"] is None and "absent" in b["auc_note"]
    low, high = a["accuracy_ci95"]
    assert low is not None and high is not None and low <= 0.75 <= high
    # the same resamples as bootstrap_ci gives the site's images (the pooled figure's method)
    from drac_ssl.metrics import accuracy_score, bootstrap_ci

    assert a["accuracy_ci95"] == list(bootstrap_ci(np.array(grades[:4]), np.array(pred[:4]), accuracy_score,
                                                   n_boot=200, seed=0))
    # patients: each site's patients are the units
    grouped = site_figures(grades, probs, pred, sites, n_boot=200, patients=["p0", "p0", "p1", "p1"] + [""] * 4)
    assert grouped[0]["qwk"] == a["qwk"]

    metrics = {"qwk": 0.9, "qwk_ci95": [0.5, 1.0], "accuracy": 0.875, "accuracy_ci95": [0.6, 1.0], "n_boot": 200}
    lines = site_lines([a, b], metrics, 8, 3)
    text = "\n".join(lines)
    assert lines[0] == "#### Figures per site"
    assert "| site | images | QWK (95% CI) | accuracy (95% CI) | AUC (one-vs-one) (95% CI) |" in text
    assert "| A | 4 | 0.833 (" in text and "| B | 4 | 1.000 (" in text
    assert "| all sites (pooled) | 8 | 0.900 (0.500..1.000) | 0.875 (0.600..1.000) | n/a |" in text
    assert "n/a (a grade absent at this site)" in text
    assert "much worse" not in text  # 0.9 - 0.833 < SITE_GAP
    metrics["qwk"] = 5 / 6 + SITE_GAP + 0.01
    text = "\n".join(site_lines([a, b], metrics, 8, 3))
    assert "much worse" not in text  # 4 images: too few to call (SITE_MIN_IMAGES)
    assert site_lines([], metrics, 8, 3) == []
    assert "The folds were stratified on grade x site." in text
    loso = "\n".join(site_lines([a, b], metrics, 8, 3, whole_sites=True))
    assert "Each site's images are in one fold (leave-one-site-out)" in loso and "stratified" not in loso


def test_a_site_of_one_true_grade_or_few_images_is_never_called_much_worse() -> None:
    """A review: a site whose images all had one true grade got kappa 0.000 and the bold "much
    worse than pooled" sentence, as did a 1-image site. Now its kappa is n/a (one grade at this
    site), and a site is said only with SITE_MIN_IMAGES images or more and its CI's upper bound
    below the pooled kappa, the CI in the sentence."""
    rng = np.random.default_rng(0)
    bad_truth = np.tile([0, 1, 2], 10)  # 30 images of 3 grades, graded at random: kappa near 0
    bad_given = rng.permutation(bad_truth)
    grades = [0] * 12 + [1] + bad_truth.tolist()
    pred = [1] * 12 + [2] + bad_given.tolist()
    sites = ["one|grade"] * 12 + ["single"] + ["bad"] * 30
    probs = np.eye(3)[pred] * 0.7 + 0.1
    figures = {f["site"]: f for f in site_figures(grades, probs, pred, sites, n_boot=200)}
    assert figures["one|grade"]["n_grades"] == 1 and not np.isfinite(figures["one|grade"]["qwk"])
    bad = figures["bad"]
    assert bad["n"] >= SITE_MIN_IMAGES and bad["qwk_ci95"][1] < 0.9
    metrics = {"qwk": 0.9, "qwk_ci95": [0.8, 0.95], "n_boot": 200}
    text = "\n".join(site_lines(list(figures.values()), metrics, 43, 3))
    assert "| one\\|grade | 12 | n/a (one grade at this site) |" in text  # escaped: one cell
    assert "| single | 1 | n/a (one grade at this site) |" in text
    said = [line for line in text.splitlines() if "much worse" in line]
    assert len(said) == 1 and said[0].startswith("**Site bad grades much worse than the pooled figure**: QWK "
                                                 f"{bad['qwk']:.3f} ({bad['qwk_ci95'][0]:.3f}..{bad['qwk_ci95'][1]:.3f})"
                                                 " on its 30 images")
    # a CI reaching the pooled figure: not said, however low the point figure
    metrics["qwk"] = bad["qwk_ci95"][1]
    assert metrics["qwk"] - bad["qwk"] >= SITE_GAP  # the old rule would have said it
    assert "much worse" not in "\n".join(site_lines(list(figures.values()), metrics, 43, 3))


def test_per_site_cis_resample_the_pooled_ci_s_units(tmp_path: Path) -> None:
    """A review: the per-site CIs read oof.csv's patient column only, not the near-twin groups
    the pooled CI resamples (patient_groups of the manifest). Now they take the manifest's."""
    from drac_ssl.oof import oof_units

    data = tmp_path / "run" / "data"
    data.mkdir(parents=True)
    rows = [{"id": f"i{k}", "path": f"i{k}.png", "grade": str(k % 2), "split": "train", "fold": str(k % 2),
             "patient": "", "fold_group": "g" if k < 2 else ""} for k in range(4)]
    with open(data / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    units, what = oof_units(tmp_path / "run", tmp_path / "run" / "finetune" / "v", ["i3", "i0", "i1", "i2"])
    assert what == "patients and near-twin groups"
    assert units == ["image:i3", "group:g", "group:g", "image:i2"]


def test_per_site_cis_use_the_run_s_seed_as_the_pooled_cis_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: report.md's per-site CIs were drawn with seed 0 while the pooled CIs beside them
    used the run's seed (metrics.json "seed"). Now both use the run's."""
    import types

    import drac_ssl.oof as oof_module
    from drac_ssl import report

    seen = {}

    def figures(*args: object, **kwargs: object) -> list:
        seen.update(kwargs)
        return []

    monkeypatch.setattr(oof_module, "read_oof_column", lambda path, column: ["A", "B"] if column == "site" else None)
    monkeypatch.setattr(report, "oof_units", lambda *a: (None, "images"))
    monkeypatch.setattr(report, "_site_folds", lambda *a: "")
    monkeypatch.setattr(report, "site_lines", lambda *a, **k: [])
    monkeypatch.setattr(report, "site_figures", figures)
    oof = types.SimpleNamespace(ids=["a", "b"], grades=np.array([0, 1]), probs=np.eye(2), pred=np.array([0, 1]),
                                folds=np.array([0, 1]))
    report._site_section(tmp_path, tmp_path, oof, {"n_boot": 50, "seed": 7})
    assert seen["seed"] == 7 and seen["n_boot"] == 50


def test_site_scope_words_name_the_sites_and_counts() -> None:
    assert site_scope_words(None) == "" and site_scope_words({}) == ""
    assert site_scope_words({"A": 30, "B": 120}).startswith(
        "2 pooled sites, A (30 images) and B (120 images), the folds stratified on grade x site")
    # leave-one-site-out: no grade x site stratification, and its CIs resample the sites
    loso = site_scope_words({"A": 30, "B": 120}, "whole")
    assert "each site in its own fold (leave-one-site-out), so its CIs resample the few sites" in loso
    assert "stratified" not in loso
    assert "stratified on grade alone" in site_scope_words({"A": 30}, "grades")
    assert site_scope_words({"Lyon, FR": 3, "B": 1}).startswith('2 pooled sites, "Lyon, FR" (3 images) and B (1 image)')


@pytest.fixture(scope="module")
def site_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake ingest of 30 labelled images with a ``site`` column (A: the first 15), one
    VICReg step and the tiny fine-tuning (CPU, seconds)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("sites")
        make_fake_ingest(root)
        manifest = root / "data" / "manifest.csv"
        with open(manifest, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        train = [r for r in rows if r["split"] == "train"]
        for row in rows:
            row["site"] = ("A" if train.index(row) < 15 else "B") if row["split"] == "train" else ""
        with open(manifest, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        cfg = load_config(None, [f"{k}={v}" for k, v in TINY_FINETUNE.items()])
        pretrain.run(cfg, root)
        finetune.run(cfg, root)
    finally:
        torch.set_num_threads(threads)
    return root


def test_the_site_column_reaches_oof_csv_report_md_and_the_card_s_data(site_run: Path) -> None:
    with open(site_run / "data" / "manifest.csv", newline="", encoding="utf-8") as fh:
        site_of = {r["id"]: r["site"] for r in csv.DictReader(fh) if r["split"] == "train"}
    oof_path = next((site_run / "finetune").glob("*/oof.csv"))
    with open(oof_path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header, rows = list(reader.fieldnames or []), list(reader)
    assert header[-1] == "site" and "patient" not in header
    assert {r["id"]: r["site"] for r in rows} == site_of
    report = write_report(site_run).read_text()
    assert "#### Figures per site" in report
    assert "| A | 15 | " in report and "| B | 15 | " in report and "| all sites (pooled) | 30 | " in report
    prov = data_provenance(site_run / "data")
    assert prov["train_sites"] == {"A": 15, "B": 15}
    # the model card names the sites instead of "this one data set"
    import json

    from app.demo_bundle import build_demo_bundle
    from drac_ssl.grading.bundle import _model_card

    bundle = build_demo_bundle(site_run.parent / "demo" / "run", image_size=32, source_size=64)
    meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
    meta.pop("demo")
    card = _model_card({**meta, "data": prov, "trial_run": {"trial": False}})
    assert ("Cross-validated on 2 pooled sites, A (15 images) and B (15 images), the folds stratified on grade x "
            "site (report.md gives the figures per site), with no external test set") in " ".join(card.split())
    assert "this one data set" not in card
    # an auditor: without data.site_column neither said that no subgroup was looked at
    from drac_ssl.grading.bundle import NO_SUBGROUP_WORDS

    assert NO_SUBGROUP_WORDS not in card and NO_SUBGROUP_WORDS not in report
    prov.pop("train_sites")
    unsited = _model_card({**meta, "data": prov, "trial_run": {"trial": False}})
    assert "this one data set" in unsited
    assert f"- {NO_SUBGROUP_WORDS}." in unsited


def test_the_weak_check_rule_is_one_function_for_the_app_and_the_score(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: the weak input-check rule was written twice (grading's ood_check_caveat and
    scoring's bundle_check_weak). Both now call drac_ssl.trial_run.input_check_weak, so a change
    of the rule reaches both."""
    import json

    from drac_ssl import trial_run
    from drac_ssl.grading.bundle import ood_check_caveat
    from drac_ssl.scoring import bundle_check_weak

    meta = {"input_profile": {"file": "input_profile.npz", "weak": True}}
    (tmp_path / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    assert trial_run.input_check_weak(meta) and not trial_run.input_check_weak({"input_profile": {"weak": True}})
    assert ood_check_caveat(meta) and bundle_check_weak({"bundle": str(tmp_path)})
    monkeypatch.setattr(trial_run, "input_check_weak", lambda meta: False)
    assert ood_check_caveat(meta) == "" and not bundle_check_weak({"bundle": str(tmp_path)})


def test_the_per_site_table_says_how_the_ingest_made_the_folds(tmp_path: Path) -> None:
    """A final read: report.md's table said "The folds were stratified on grade x site." when
    the ingest fell back to grade alone (``ingest_summary.json``'s ``sites.folds`` ==
    ``grades``) while the model card said the truth; and the "Read this first" item of a site
    much worse linked two "Figures per site" headings of unnamed variants. Now the table reads
    the ingest's record (guessing from the folds only without one) and its heading names the
    variant."""
    import json

    from drac_ssl.report import _site_folds

    a = {"site": "A", "n": 4, "n_grades": 3, "qwk": 0.8, "qwk_ci95": [0.5, 0.9], "accuracy": 0.7,
         "accuracy_ci95": [0.5, 0.9], "auc": None, "auc_ci95": [None, None]}
    metrics = {"qwk": 0.9, "qwk_ci95": [0.5, 1.0], "accuracy": 0.875, "accuracy_ci95": [0.6, 1.0]}
    text = "\n".join(site_lines([a], metrics, 4, 3, site_folds="grades", variant="VICReg"))
    assert "The folds were stratified on grade alone (grade x site folds spread the grades" in text
    assert "grade x site." not in text and text.startswith("#### Figures per site: VICReg")
    assert "leave-one-site-out" in "\n".join(site_lines([a], metrics, 4, 3, site_folds="whole"))
    folds, sites = np.array([0, 1, 0, 1]), ["A", "A", "B", "B"]
    assert _site_folds(tmp_path, folds, sites) == "sites"  # no record: guessed from the folds
    assert _site_folds(tmp_path, np.array([0, 0, 1, 1]), sites) == "whole"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ingest_summary.json").write_text(json.dumps({"sites": {"folds": "grades"}}))
    assert _site_folds(tmp_path, folds, sites) == "grades"


def test_leave_one_site_out_counts_sites_not_patients(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A final read: with ``--patient-column site --site-column site`` (sites.folds ``whole``)
    every site was counted as one patient: a per-patient referral block over "2 patients",
    "grouped by patient ... 2 patients" and "resampling 2 patients". Now the per-patient block
    is left out and the words say sites."""
    import json

    from drac_ssl.report import write_report

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("loso")
        make_fake_ingest(root, n_folds=2)
        manifest = root / "data" / "manifest.csv"
        with open(manifest, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        train = [r for r in rows if r["split"] == "train"]
        for row in rows:
            site = ("A" if train.index(row) < 15 else "B") if row["split"] == "train" else ""
            row.update(site=site, patient=site, **({"fold": "0" if site == "A" else "1"} if site else {}))
        with open(manifest, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        summary_path = root / "data" / "ingest_summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        summary["sites"] = {"column": "site", "folds": "whole"}
        summary_path.write_text(json.dumps(summary))
        settings = {**TINY_FINETUNE, "data.n_folds": "2", "finetune.compare_scratch": "false",
                    "finetune.n_boot": "50", "finetune.referable_from": "1",
                    "finetune.referral_target": "sensitivity:0.8"}
        cfg = load_config(None, [f"{k}={v}" for k, v in settings.items()])
        pretrain.run(cfg, root)
        result = finetune.run(cfg, root)
    finally:
        torch.set_num_threads(threads)
    metrics = json.loads((result.variants["vicreg"].out_dir / "metrics.json").read_text())
    assert "per_patient" not in metrics["referable"]  # was: a block over 2 "patients"
    assert metrics["ci_resamples"] == "patients" and metrics["ci_unit"] == "site" and metrics["ci_units"] == 2
    assert "of the 2 sites (leave-one-site-out" in metrics["protocol"]
    report = write_report(root).read_text()
    assert "2 patients" not in report and "per patient, gradable images only" not in report
    # the referral target's cut, per site (oof.csv's referred)
    assert "| referral sensitivity (95% CI) | referral specificity (95% CI) |" in report
    prov = data_provenance(root / "data")
    from drac_ssl.grading.bundle import fold_grouping_words

    words = fold_grouping_words(prov, metrics)
    assert "grouped by site (leave-one-site-out), 2 sites" in words and "resample sites (2 sites" in words


def test_per_site_referral_sensitivity_and_specificity_with_wilson_cis() -> None:
    """A final read: with a referral target, per-site tables had no referral figures though
    oof.csv has ``referred``. Site A: referable (grade >= 1) 3 images, 2 referred; not
    referable 1, not referred. Site B: no referable image."""
    from drac_ssl.metrics import wilson_interval
    from drac_ssl.report import site_referral

    grades, referred, sites = [1, 2, 1, 0, 0, 0], ["1", "1", "0", "0", "1", "0"], ["A"] * 4 + ["B"] * 2
    got = site_referral(grades, referred, sites, 1)
    assert got["A"]["sensitivity"] == [2 / 3, 2, 3, *wilson_interval(2, 3)]
    assert got["A"]["specificity"] == [1.0, 1, 1, *wilson_interval(1, 1)]
    assert got["B"]["sensitivity"] == [None, 0, 0, None, None] and got["B"]["specificity"][:3] == [0.5, 1, 2]
    figures = [{"site": s, "n": n, "n_grades": 2, "qwk": 0.5, "qwk_ci95": [0.1, 0.9], "accuracy": 0.5,
                "accuracy_ci95": [0.1, 0.9], "auc": None, "auc_ci95": [None, None]} for s, n in (("A", 4), ("B", 2))]
    metrics = {"qwk": 0.5, "accuracy": 0.5, "referable": {"from_grade": 1, "referral": {
        "sensitivity": 2 / 3, "sensitivity_ci95": [0.2, 0.9], "sensitivity_counts": [2, 3]}}}
    text = "\n".join(site_lines(figures, metrics, 6, 3, referral=got))
    assert "0.667 (" in text and " 2/3 |" in text and "n/a (no referable image)" in text
    assert "| all sites (pooled) | 6 |" in text and "0.667 (0.200..0.900) 2/3" in text
