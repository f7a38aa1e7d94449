"""Tests that kill six mutants a mutation audit found the suite let live (line numbers at
c81ba6d8). Each test here failed with its mutation applied and passes without:

S1 finetune's per-patient block uses each fold's own referral cut (oof.csv ``referred``), not
   the deployed cut; S2 report.site_figures' per-site CIs resample patients; S3
   cache.recorded_root refuses hand-made records (and so does ingest.out_in_use); S4
   io.same_path follows a path that is itself a symbolic link; S5 oof.sites_as_patients needs
   every row's patient to be its site; S6 folds.site_dealt_folds deals in a seeded random
   order, each grade and each grade x site block within one of even per fold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_prep import cache, ingest
from data_prep.folds import site_dealt_folds
from drac_ssl.config import DataConfig
from drac_ssl.io import same_path
from drac_ssl.manifest import SITE_COLUMN
from drac_ssl.metrics import accuracy_score, bootstrap_ci
from drac_ssl.oof import sites_as_patients
from drac_ssl.report import site_figures

# --------------------------------------------------------------------------------------
# S2: per-site CIs resample the site's patients


def test_site_cis_resample_the_sites_patients_not_its_images() -> None:
    rng = np.random.default_rng(3)
    n = 40
    y = rng.integers(0, 3, n)
    # each patient's two images are both right or both wrong: resampling patients widens the CI
    right = np.repeat(rng.random(n // 2) < 0.6, 2)
    pred = np.where(right, y, (y + 1) % 3)
    probs = np.full((n, 3), 0.1)
    probs[np.arange(n), pred] = 0.8
    sites = ["A"] * 20 + ["B"] * 20
    patients = [f"p{i // 2}" for i in range(n)]
    out = {s["site"]: s for s in site_figures(y, probs, pred, sites, n_boot=200, seed=0, patients=patients)}
    for name, at in (("A", slice(0, 20)), ("B", slice(20, 40))):
        grouped = [float(v) for v in bootstrap_ci(y[at], pred[at], accuracy_score, n_boot=200, seed=0,
                                                  groups=patients[at])]
        alone = [float(v) for v in bootstrap_ci(y[at], pred[at], accuracy_score, n_boot=200, seed=0)]
        assert out[name]["accuracy_ci95"] == grouped
        assert grouped != alone  # the case tells the two apart


# --------------------------------------------------------------------------------------
# S3: a hand-made {"root": ...} is no ingest's record


def test_a_bare_root_record_is_not_a_recorded_root_and_its_folder_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    out = tmp_path / "out"
    (out / ingest.CACHE_DIR).mkdir(parents=True)
    (out / ingest.CACHE_DIR / cache.STATE_NAME).write_text(json.dumps({"root": str(data)}))
    assert cache.recorded_root(out / ingest.CACHE_DIR) is None
    cfg = DataConfig(root=str(data), n_folds=2, workers=1)
    # only a user's own manifest.csv beside the cache: refused, listed
    (out / ingest.MANIFEST_NAME).write_text("mine\n")
    why = ingest.out_in_use(cfg, out)
    assert "not empty" in why and "manifest.csv" in why
    # the same with a manifest.csv that begins with the ingest's header (what an ingest killed
    # before its summary leaves): the record is not an ingest's, so not "the same data's ingest"
    (out / ingest.MANIFEST_NAME).write_text(",".join(ingest.manifest_header()) + "\n")
    assert "not empty" in ingest.out_in_use(cfg, out)


# --------------------------------------------------------------------------------------
# S4: same_path of a symbolic link and its target


def test_same_path_follows_a_link_to_a_file_and_to_a_folder(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.csv").write_text("x\n")
    (real / "b.csv").write_text("x\n")
    (tmp_path / "l.csv").symlink_to(real / "a.csv")
    (tmp_path / "ld").symlink_to(real, target_is_directory=True)
    assert same_path(tmp_path / "l.csv", real / "a.csv")
    assert same_path(real / "a.csv", tmp_path / "l.csv")
    assert not same_path(tmp_path / "l.csv", real / "b.csv")
    assert same_path(tmp_path / "ld", real)
    assert same_path(tmp_path / "ld" / "a.csv", tmp_path / "l.csv")
    # a link not there yet: compared by real path
    (tmp_path / "gone").symlink_to(real / "missing.csv")
    assert same_path(tmp_path / "gone", real / "missing.csv")


# --------------------------------------------------------------------------------------
# S5: leave-one-site-out needs every row's patient to be its site


def test_one_row_whose_patient_is_its_site_is_not_leave_one_site_out() -> None:
    rows = [{SITE_COLUMN: "A", "patient": "A"}, {SITE_COLUMN: "A", "patient": "p1"},
            {SITE_COLUMN: "B", "patient": "p2"}]
    assert not sites_as_patients(rows)
    assert sites_as_patients([{SITE_COLUMN: "A", "patient": "A"}, {SITE_COLUMN: "B", "patient": "B"}])
    assert not sites_as_patients([{SITE_COLUMN: "", "patient": ""}])


# --------------------------------------------------------------------------------------
# S6: site_dealt_folds, seeded and dealt within one of even


def test_site_dealt_folds_are_shuffled_by_the_seed() -> None:
    grades = [0] * 20
    sites = ["A"] * 20
    one, two = site_dealt_folds(grades, sites, 5, 0), site_dealt_folds(grades, sites, 5, 1)
    assert not np.array_equal(one, two)
    assert np.array_equal(one, site_dealt_folds(grades, sites, 5, 0))  # a pure function
    for folds in (one, two):
        assert not np.array_equal(folds, np.arange(20) % 5)  # not dealt in file order
        assert np.bincount(folds, minlength=5).tolist() == [4] * 5


def test_site_dealt_folds_deal_each_grade_and_grade_site_block_within_one() -> None:
    rng = np.random.default_rng(0)
    sizes = {(0, "A"): 7, (0, "B"): 3, (0, "C"): 11, (1, "A"): 2, (1, "B"): 9, (1, "C"): 4,
             (2, "A"): 5, (2, "B"): 1, (2, "C"): 6}
    grades, sites = [], []
    for (g, s), m in sizes.items():
        grades += [g] * m
        sites += [s] * m
    order = rng.permutation(len(grades))  # the file order mixes the blocks
    y = np.asarray(grades)[order]
    site = np.asarray(sites)[order]
    k = 4
    for seed in (0, 1, 7):
        folds = site_dealt_folds(y, site.tolist(), k, seed)
        assert np.ptp(np.bincount(folds, minlength=k)) <= 1
        for g in range(3):
            assert np.ptp(np.bincount(folds[y == g], minlength=k)) <= 1, (seed, g)
            for s in "ABC":
                block = folds[(y == g) & (site == s)]
                assert np.ptp(np.bincount(block, minlength=k)) <= 1, (seed, g, s)


# --------------------------------------------------------------------------------------
# S1: the per-patient block refers by each fold's own cut (oof.csv's referred)


def test_the_per_patient_block_uses_each_folds_cut_not_the_deployed_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny run (2 folds, 3 grades, patients of two images, a referral target) whose
    deployed cut is forced to 1.0 (refers next to nothing) while each fold keeps its own fitted
    cut: the per-patient block must count oof.csv's ``referred`` grouped by patient."""
    import csv
    import dataclasses

    import torch
    from fake_ingest import TINY_FINETUNE, make_patient_run

    from drac_ssl import finetune
    from drac_ssl.config import load_config
    from drac_ssl.metrics import patient_referral

    root = tmp_path / "run"
    rows = make_patient_run(root)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        n_train = sum(r["split"] == "train" for r in rows)
        real_fit = finetune.Calibration.fit.__func__  # type: ignore[attr-defined]

        def fit(cls: type, raw: np.ndarray, grades: np.ndarray, *args: object, **kwargs: object) -> object:
            cal = real_fit(cls, raw, grades, *args, **kwargs)
            if len(grades) == n_train and cal.referral is not None:  # the deployed one: all folds' images
                cal = dataclasses.replace(cal, referral=dataclasses.replace(cal.referral, cut=1.0))
            return cal

        monkeypatch.setattr(finetune.Calibration, "fit", classmethod(fit))
        settings = {**TINY_FINETUNE, "data.n_folds": "2", "finetune.compare_scratch": "false", "finetune.n_boot": "20",
                    "finetune.referable_from": "1", "finetune.referral_target": "sensitivity:0.8"}
        result = finetune.run(load_config(None, [f"{k}={v}" for k, v in settings.items()]), root)
    finally:
        torch.set_num_threads(threads)
    variant = result.variants["vicreg"]
    metrics = json.loads((variant.out_dir / "metrics.json").read_text())
    assert metrics["referable"]["referral"]["cut"] == 1.0  # the forced deployed cut
    block = metrics["referable"]["per_patient"]
    with open(variant.oof_path, newline="", encoding="utf-8") as fh:
        oof = list(csv.DictReader(fh))
    patients = [r["patient"] for r in oof]
    truth = [int(int(r["grade"]) >= 1) for r in oof]
    p_ref = [float(r["P_referable"]) for r in oof]
    _, _, _, by_folds = patient_referral(patients, truth, p_ref, [int(r["referred"]) for r in oof])
    _, _, _, by_deployed = patient_referral(patients, truth, p_ref, [int(p >= 1.0) for p in p_ref])
    assert int(by_folds.sum()) != int(by_deployed.sum())  # the case tells the two cuts apart
    assert block["n_referred"] == int(by_folds.sum())
