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
from drac_ssl.report import SITE_GAP, site_figures, site_lines, write_report


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
    assert "**Site A grades much worse than the pooled figure**: QWK 0.833 on its 4 images against 1.043" in text
    assert site_lines([], metrics, 8, 3) == []
    assert "The folds were stratified on grade x site." in text
    loso = "\n".join(site_lines([a, b], metrics, 8, 3, whole_sites=True))
    assert "Each site's images are in one fold (leave-one-site-out)" in loso and "stratified" not in loso


def test_site_scope_words_name_the_sites_and_counts() -> None:
    assert site_scope_words(None) == "" and site_scope_words({}) == ""
    assert site_scope_words({"A": 30, "B": 120}).startswith(
        "2 pooled sites, A (30 images) and B (120 images), the folds stratified on grade x site")


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
            "site (report.md gives the figures per site) (no external test set)") in " ".join(card.split())
    assert "this one data set" not in card
    prov.pop("train_sites")
    assert "this one data set" in _model_card({**meta, "data": prov, "trial_run": {"trial": False}})
