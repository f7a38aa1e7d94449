"""bench/retinamnist.py's raw-pixel floor: out of fold, and it learns what pixels say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def _write_oof(path: Path, ids: list[str], grades: np.ndarray, probs: np.ndarray, pred: np.ndarray,
               order: np.ndarray) -> None:
    """An ``oof.csv`` as the fine-tuning writes it (``drac_ssl.oof.oof_columns``), rows in ``order``."""
    from drac_ssl.oof import oof_columns

    k = probs.shape[1]
    lines = [",".join(oof_columns(k, "classification"))]
    for i in order:
        expected = float((probs[i] * np.arange(k)).sum())
        lines.append(",".join([ids[i], str(grades[i]), str(i % 5), *(f"{p:.6f}" for p in probs[i]),
                               f"{expected:.6f}", str(pred[i]), *("0.0" for _ in range(k))]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _probs(rng: np.random.Generator, grades: np.ndarray, k: int, signal: float) -> np.ndarray:
    logits = rng.normal(0, 1, (len(grades), k))
    logits[np.arange(len(grades)), grades] += signal
    p = np.exp(logits)
    return np.round(p / p.sum(axis=1, keepdims=True), 6)


def test_each_variant_minus_the_floor_is_the_paired_bootstrap_of_comparison_json(tmp_path: Path) -> None:
    """Issue #12's floor gap had no paired CI; it now gets the variants' own paired bootstrap
    (the same function, resamples and seed), whatever the order of a variant's oof.csv."""
    from bench.retinamnist import floor_paired
    from drac_ssl.metrics import paired_bootstrap_difference

    rng = np.random.default_rng(0)
    n, k = 200, 3
    grades = np.arange(n) % k
    ids = [f"img_{i:03d}.png" for i in range(n)]
    floor = _probs(rng, grades, k, 0.5)
    variants = {"scratch": _probs(rng, grades, k, 2.0), "vicreg": _probs(rng, grades, k, 0.5)}
    for name, probs in variants.items():  # the thresholds rule's grades, not the argmax
        _write_oof(tmp_path / "finetune" / name / "oof.csv", ids, grades, probs,
                   np.clip(probs.argmax(axis=1) - (np.arange(n) % 7 == 0), 0, k - 1), rng.permutation(n))
    result = floor_paired(tmp_path, ids, grades, floor, n_boot=200, seed=3, variants=tuple(variants))
    assert (result["resampling"], result["units"], result["n_boot"], result["seed"]) == ("images", n, 200, 3)
    for name, probs in variants.items():
        pred = np.clip(probs.argmax(axis=1) - (np.arange(n) % 7 == 0), 0, k - 1)
        expected = paired_bootstrap_difference(grades, probs, floor, pred, floor.argmax(axis=1),
                                               n_boot=200, seed=3)
        assert result["variants"][name] == expected
    better = result["variants"]["scratch"]["accuracy"]
    assert better["ci_low"] > 0 and better["a"] - better["b"] == better["difference"]
    level = result["variants"]["vicreg"]["auc_ovr"]
    assert level["ci_low"] < 0 < level["ci_high"]  # the same signal as the floor: no difference


def test_the_floor_pairing_resamples_the_twin_groups_the_folds_kept_whole(tmp_path: Path) -> None:
    from bench.retinamnist import floor_paired
    from drac_ssl.metrics import paired_bootstrap_difference

    rng = np.random.default_rng(1)
    n, k = 120, 3
    grades = np.arange(n) % k
    ids = [f"i{i}" for i in range(n)]
    groups = [f"group:{i // 2}" if i < 40 else f"image:i{i}" for i in range(n)]  # 20 pairs of twins
    floor, probs = _probs(rng, grades, k, 0.5), _probs(rng, grades, k, 1.5)
    _write_oof(tmp_path / "finetune" / "scratch" / "oof.csv", ids, grades, probs, probs.argmax(axis=1),
               np.arange(n))
    result = floor_paired(tmp_path, ids, grades, floor, n_boot=100, seed=0, groups=groups, variants=("scratch",))
    assert result["resampling"] == "groups" and result["units"] == 100
    assert result["variants"]["scratch"] == paired_bootstrap_difference(
        grades, probs, floor, probs.argmax(axis=1), floor.argmax(axis=1), n_boot=100, seed=0, groups=groups)
    images = floor_paired(tmp_path, ids, grades, floor, n_boot=100, seed=0, variants=("scratch",))
    assert images["variants"]["scratch"]["accuracy"]["ci_low"] != result["variants"]["scratch"]["accuracy"]["ci_low"]


def test_a_variant_that_grades_other_images_is_not_paired_with_the_floor(tmp_path: Path) -> None:
    import pytest

    from bench.retinamnist import floor_paired

    rng = np.random.default_rng(2)
    grades = np.arange(30) % 3
    ids = [f"i{i}" for i in range(30)]
    probs = _probs(rng, grades, 3, 1.0)
    _write_oof(tmp_path / "finetune" / "scratch" / "oof.csv", ids, grades, probs, probs.argmax(axis=1),
               np.arange(29))
    with pytest.raises(ValueError, match=r"oof.csv: 1 of the 30 labelled images are not graded there \(first: i29\)"):
        floor_paired(tmp_path, ids, grades, probs, n_boot=10, seed=0, variants=("scratch",))
    _write_oof(tmp_path / "finetune" / "scratch" / "oof.csv", ids, (grades + 1) % 3, probs, probs.argmax(axis=1),
               np.arange(30))
    with pytest.raises(ValueError, match="reference grades differ"):
        floor_paired(tmp_path, ids, grades, probs, n_boot=10, seed=0, variants=("scratch",))


def test_the_floor_keeps_its_out_of_fold_probabilities_and_scores_them_once(tmp_path: Path) -> None:
    from bench.retinamnist import fit_pixel_floor, pixel_floor, write_floor_oof

    grades = np.arange(100) % 3
    folds = np.arange(100) % 5
    images = _images(grades, 30.0)
    fit = fit_pixel_floor(images, grades, folds)
    assert fit.probs.shape == (100, 3) and np.allclose(fit.probs.sum(axis=1), 1.0)
    assert pixel_floor(images, grades, folds, n_boot=20, fitted=fit) == {
        **pixel_floor(images, grades, folds, n_boot=20), "seconds": fit.seconds}
    path = tmp_path / "pixel_floor_oof.csv"
    write_floor_oof(path, [f"i{i}" for i in range(100)], grades, folds, fit.probs)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,grade,fold,P0,P1,P2,pred" and len(lines) == 101
    first = lines[1].split(",")
    assert first[:3] == ["i0", "0", "0"] and int(first[-1]) == int(fit.probs[0].argmax())
    # as written (review F5): each row's decimals sum to exactly 1, and the AUCs recomputed from
    # the CSV are the reported ones (the floor was scored on unrounded values, rows rounded apart)
    from decimal import Decimal

    from sklearn.metrics import roc_auc_score

    rows = [line.split(",") for line in lines[1:]]
    assert all(sum(Decimal(p) for p in row[3:6]) == 1 for row in rows), [
        row for row in rows if sum(Decimal(p) for p in row[3:6]) != 1][:3]
    written = np.array([[float(p) for p in row[3:6]] for row in rows])
    np.testing.assert_array_equal(written, fit.probs)
    reported = pixel_floor(images, grades, folds, n_boot=20, fitted=fit)
    assert roc_auc_score(grades, written, multi_class="ovo", average="macro") == reported["auc_ovo"]
    assert roc_auc_score(grades, written, multi_class="ovr", average="macro") == reported["auc_ovr"]
    assert [int(row[-1]) for row in rows] == written.argmax(axis=1).tolist()


def test_the_floor_oof_guards_formula_ids_as_finetunes_oof_does(tmp_path: Path) -> None:
    """Review F4: write_floor_oof wrote ids raw (=HYPERLINK(1).png ran in a spreadsheet); now as
    finetune's oof.csv: guarded, with the record that says so beside it, read back exactly."""
    from bench.common import keep_oof_copies
    from bench.retinamnist import write_floor_oof
    from drac_ssl.oof import read_oof

    ids = ["=HYPERLINK(1).png", "'q.png", "a.png"]
    path = tmp_path / "pixel_floor_oof.csv"
    write_floor_oof(path, ids, np.array([0, 1, 0]), np.array([0, 1, 0]),
                    np.array([[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]]))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["'=HYPERLINK(1).png", "''q.png", "a.png"]
    assert read_oof(path).ids == tuple(ids)
    # the copy kept for the result finds each image's resampling unit by its name
    kept = keep_oof_copies({"pixel_floor": path}, tmp_path / "out", "r.json",
                           units=dict(zip(ids, ["p1", "p2", "p3"], strict=True)))
    assert kept["pixel_floor"]["rows"] == 3


class _JobStarted(Exception):
    """Raised in place of the main job's subprocess: the bench got past its checks."""


def _start_main(monkeypatch: Any, tmp_path: Path, argv: list[str]) -> None:
    """``bench.retinamnist.main(argv)`` up to the main job, which is not run (an empty stand-in
    for the data; the job's subprocess raises :class:`_JobStarted`)."""
    from bench import retinamnist

    fake = tmp_path / "retinamnist_public.npz"
    fake.write_bytes(b"")
    monkeypatch.setattr(retinamnist, "NPZ", fake)

    def job(*args: object, **kwargs: object) -> None:
        raise _JobStarted

    monkeypatch.setattr(retinamnist.subprocess, "run", job)
    retinamnist.main([*argv, "--out-dir", str(tmp_path), "--run-dir", str(tmp_path / "run")])


def test_a_run_that_changes_the_protocol_needs_a_name_of_its_own_before_the_job(
        tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    """A contributor's ``python -m bench.retinamnist umm.enabled=false`` ran the whole 40-minute
    job, found no departure (a bool is not a shortened setting) and would have written over the
    committed retinamnist.json. A setting that changes the job (which variants it has, which
    stages run, how they are pretrained) is refused under the protocol's name, and under a smoke
    run's (``*_smoke``), before the job starts; under a name of its own the job starts. A
    compiled pretraining (a speed setting) is neither. A shortening under --name retinamnist is
    refused too, with the fix a smoke run needs: no --name."""
    import pytest

    for argv in (["umm.enabled=false"], ["umm.enabled=false", "--name", "retinamnist"],
                 ["pretrain.loss.sim_coeff=5"], ["run.stages=[ingest,pretrain]"]):
        with pytest.raises(SystemExit, match=r"(?s)changes the benchmark's protocol.*--name retinamnist_mine"):
            _start_main(monkeypatch, tmp_path, argv)
    with pytest.raises(SystemExit, match=r"umm\.enabled=False \(the protocol's: True\)"):
        _start_main(monkeypatch, tmp_path, ["umm.enabled=false"])
    with pytest.raises(SystemExit, match=r"--name retinamnist_smoke ends in _smoke, kept for smoke runs"):
        _start_main(monkeypatch, tmp_path, ["umm.enabled=false", "--name", "retinamnist_smoke"])
    for argv in (["pretrain.epochs=10", "--name", "retinamnist"],
                 ["--name", "retinamnist", "pretrain.epochs=1", "finetune.epochs=1"]):
        with pytest.raises(SystemExit, match=r"(?s)shortens the benchmark's protocol.*fix: leave --name out "
                                             r"\(a smoke run writes retinamnist_smoke\.json\)"):
            _start_main(monkeypatch, tmp_path, argv)
    for argv in (["umm.enabled=false", "--name", "retinamnist_no_umm"], ["pretrain.epochs=1"],
                 ["pretrain.compile=true"]):  # a named experiment, a smoke run, a speed setting
        with pytest.raises(_JobStarted):
            _start_main(monkeypatch, tmp_path, argv)
        out = capsys.readouterr().out  # said before the job, with the file it writes
        assert ("an experiment, not the protocol (umm.enabled=False (the protocol's: True)): writes "
                "retinamnist_no_umm.json" in out) is ("umm.enabled=false" in argv), out
        assert ("smoke run" in out) is ("pretrain.epochs=1" in argv), out
        assert ("an experiment" in out) is ("umm.enabled=false" in argv), out


def test_a_refused_fresh_run_leaves_the_run_folder(tmp_path: Path, monkeypatch: Any) -> None:
    """``--fresh`` deleted the run folder before the protocol check refused the run: a refused
    ``--fresh umm.enabled=false`` wiped a finished 40-minute job. Every refusal comes first."""
    import pytest

    finished = tmp_path / "run" / "finetune" / "summary.json"
    finished.parent.mkdir(parents=True)
    finished.write_text("{}", encoding="utf-8")
    with pytest.raises(SystemExit, match="changes the benchmark's protocol"):
        _start_main(monkeypatch, tmp_path, ["--fresh", "umm.enabled=false"])
    assert finished.is_file()
    with pytest.raises(_JobStarted):  # an accepted --fresh run deletes it
        _start_main(monkeypatch, tmp_path, ["--fresh", "pretrain.epochs=1"])
    assert not finished.exists()


def test_the_protocol_is_compared_as_the_job_runs_it(monkeypatch: Any) -> None:
    """run.device and data.root were compared by spelling: ``run.device=cpu`` was refused
    against the protocol's ``auto`` on a CPU host, while a plain run on a GPU host (auto:
    cuda) went unflagged under the protocol's name though the protocol was timed on a CPU; the
    config's own relative data.root was refused against the bench's absolute path."""
    import os

    from bench import retinamnist
    from bench.common import REPO
    from drac_ssl import runtime
    from drac_ssl.config import load_config, to_dict

    relative = "../shared/data/retinamnist/retinamnist_public.npz"

    def config(*overrides: str) -> dict[str, Any]:
        return to_dict(load_config(retinamnist.CONFIG, [*overrides]))

    protocol = config(f"data.root={os.path.normpath(REPO / relative)}")
    monkeypatch.setattr(runtime, "resolve_device", lambda device: "cpu" if device == "auto" else device)
    assert retinamnist.protocol_changes(protocol, config("run.device=cpu", f"data.root={relative}"),
                                        cwd=str(REPO)) == []
    assert retinamnist.protocol_changes(protocol, config("run.device=cuda"), cwd=str(REPO)) == [
        "run.device='cuda' (the protocol's: 'cpu')"]
    monkeypatch.setattr(runtime, "resolve_device", lambda device: "cuda" if device == "auto" else device)
    assert retinamnist.protocol_changes(protocol, protocol, cwd=str(REPO)) == [
        "run.device='cuda' (the protocol's: 'cpu')"]


def test_the_export_follows_the_variants_the_run_fine_tuned(tmp_path: Path, monkeypatch: Any) -> None:
    """The bench exported a fixed list of three variants after the job, so a run without UMM
    failed there (BundleError on vicreg_umm) after its 40 minutes: it exports the variants the
    run's finetune/summary.json lists."""
    import json
    from types import SimpleNamespace

    import pytest

    from bench import retinamnist
    from drac_ssl import export

    run = tmp_path / "run"
    with pytest.raises(SystemExit, match=r"summary\.json: missing"):
        retinamnist.run_variants(run)
    (run / "finetune").mkdir(parents=True)
    (run / "finetune" / "summary.json").write_text(json.dumps(
        {"selected": "vicreg", "variants": {"scratch": {"dir": "scratch"}, "vicreg": {"dir": "vicreg"}}}))
    assert retinamnist.run_variants(run) == ["scratch", "vicreg"]
    asked: list[str] = []

    def fake_export(cfg: object, run_dir: Path, *, variant: str, submission_path: Path) -> SimpleNamespace:
        asked.append(variant)
        submission_path.write_text("case,class\n", encoding="utf-8")
        return SimpleNamespace(n_test=0, image_notes_path=None, n_flagged=0)

    monkeypatch.setattr(export, "run", fake_export)
    made = retinamnist.export_submissions(None, run, tmp_path, "retinamnist_no_umm", retinamnist.run_variants(run))
    assert asked == ["scratch", "vicreg"] and list(made) == asked
    assert made["vicreg"]["file"].endswith("retinamnist_no_umm_submission_vicreg.csv") and made["vicreg"]["rows"] == 0


def test_a_run_without_umm_goes_through_the_bench_after_its_job(tmp_path: Path, monkeypatch: Any) -> None:
    """After the job the bench paired a fixed list of three variants with the floor, kept their
    out-of-fold files and wrote their rows, so a run without UMM (``umm.enabled=false``) failed
    on vicreg_umm after its 40 minutes. Here the job's subprocess writes a run folder as one
    without UMM leaves it (stages.json, finetune/summary.json and comparison.json, each
    variant's oof.csv and metrics.json), and the bench's own code after the job runs on it."""
    import json
    import subprocess
    from types import SimpleNamespace

    from bench import retinamnist
    from drac_ssl import datasets, export

    run, out, k = tmp_path / "run", tmp_path / "out", 5
    ids = [f"r{i}" for i in range(20)]
    grades, folds = np.arange(20) % k, np.arange(20) % 5
    probs = np.full((20, k), 0.1)
    probs[np.arange(20), grades] = 0.6
    metrics = {"n": 20, "decision": "argmax", "qwk": 0.5, "qwk_ci95": [0.4, 0.6], "accuracy": 0.5,
               "auc": 0.7, "auc_ovr": 0.7, "macro_f1": 0.5}

    def job(*args: object, **kwargs: object) -> subprocess.CompletedProcess:
        for variant in ("scratch", "vicreg"):
            retinamnist.write_floor_oof(run / "finetune" / variant / "oof.csv", ids, grades, folds, probs)
            (run / "finetune" / variant / "metrics.json").write_text(json.dumps(metrics))
        (run / "finetune" / "summary.json").write_text(json.dumps(
            {"selected": "vicreg", "variants": {"scratch": {}, "vicreg": {}}}))
        (run / "finetune" / "comparison.json").write_text(json.dumps({"pretrained_minus_scratch": {}}))
        (run / "pretrain").mkdir()
        (run / "pretrain" / "metadata.json").write_text(json.dumps({"epochs_run": 1}))
        (run / "stages.json").write_text(json.dumps({s: {"status": "done", "seconds": 1.0}
                                                    for s in ("ingest", "pretrain", "finetune", "export")}))
        return subprocess.CompletedProcess([], 0)

    def fake_export(cfg: object, run_dir: Path, *, variant: str, submission_path: Path) -> SimpleNamespace:
        submission_path.parent.mkdir(parents=True, exist_ok=True)
        submission_path.write_text("case,class\n", encoding="utf-8")
        return SimpleNamespace(n_test=0, image_notes_path=None, n_flagged=0)

    rows = [{"id": i, "grade": int(g), "fold": int(f), "split": "train", "cache_index": n}
            for n, (i, g, f) in enumerate(zip(ids, grades, folds, strict=True))]
    monkeypatch.setattr(retinamnist.subprocess, "run", job)
    monkeypatch.setattr(export, "run", fake_export)
    monkeypatch.setattr(datasets, "load_octa_cache", lambda *a: (np.zeros((20, 28, 28, 3), np.uint8), rows))
    monkeypatch.setattr(retinamnist, "fit_pixel_floor", lambda *a, **kw: retinamnist.FloorFit(probs, {}, 0.0))
    monkeypatch.setattr(retinamnist, "pixel_floor", lambda *a, **kw: {  # the floor's own figures: tested above
        **{key: metrics[key] for key in ("qwk", "qwk_ci95", "accuracy", "auc_ovr")}, "auc_ovo": 0.7, "seconds": 0.0})
    written: dict[str, Any] = {}  # the result as the bench writes it, without the environment's record
    monkeypatch.setattr(retinamnist, "write_result", lambda name, figures, out_dir: written.update({name: figures}))
    fake = tmp_path / "retinamnist_public.npz"
    fake.write_bytes(b"")
    monkeypatch.setattr(retinamnist, "NPZ", fake)
    retinamnist.main(["umm.enabled=false", "finetune.n_boot=20", "--name", "retinamnist_no_umm",
                      "--out-dir", str(out), "--run-dir", str(run)])
    result = written["retinamnist_no_umm"]
    assert list(result["variants"]) == ["scratch", "vicreg"]
    assert list(result["pixel_floor"]["paired"]["variants"]) == ["scratch", "vicreg"]
    assert sorted(result["oof_files"]) == ["pixel_floor", "scratch", "vicreg"]
    assert sorted(p.name for p in out.glob("*_oof_*.csv")) == [
        f"retinamnist_no_umm_oof_{label}.csv" for label in ("pixel_floor", "scratch", "vicreg")]
    assert sorted(result["submissions"]) == ["scratch", "vicreg"]
    assert "ingest, VICReg, 5-fold CV fine-tuning of scratch / VICReg, export" in result["what"], result["what"]
    assert "umm.enabled=False (the protocol's: True)" in result["protocol_departures"]
