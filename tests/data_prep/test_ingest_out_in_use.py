"""``python -m data_prep ingest --out EXISTING`` wrote over a folder without a word (a CLI
review, data lost): over ``RUN/data`` of a trained run (the resumed training skipped the ingest
as "already done" and report.md counted 13 training images for a model trained on 60), and over
a manifest.csv in an unrelated folder. An ``--out`` is written now only when it is new, empty,
the leftovers of a failed ingest, or an earlier ingest of the same ``--root``; a run past its
ingest is refused with a new run as the fix; and a resume refuses a manifest another ingest
wrote anew since the run's ingest stage (the SHA-256 its ``stages.json`` records)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from png_bytes import walk_scan

from data_prep import ingest
from data_prep.__main__ import main as data_prep_main
from drac_ssl import preflight
from drac_ssl.config import DataConfig
from drac_ssl.io import sha256_file

SIZE = 32


def _source(folder: Path, n: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True)
    with open(folder / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image name", "DR grade"])
        for i in range(n):
            cv2.imwrite(str(folder / f"{i:03d}.png"), walk_scan(48, seed=seed + i))
            writer.writerow([f"{i:03d}.png", i % 3])
    return folder


def _ingest(root: Path, out: Path) -> int:
    return data_prep_main(["ingest", "--root", str(root), "--out", str(out), "--folds", "2",
                           "--cache-sizes", str(SIZE), "--workers", "1"])


def test_an_existing_out_is_written_only_when_it_is_the_same_datas_ingest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _source(tmp_path / "src", 12)
    out = tmp_path / "ingested"
    assert _ingest(root, out) == 0
    assert _ingest(root, out) == 0  # the same root again: the documented rerun
    other = _source(tmp_path / "other", 9, seed=50)
    before = (out / "manifest.csv").read_bytes()
    capsys.readouterr()
    assert _ingest(other, out) == 2
    err = capsys.readouterr().err
    assert f"{out}: --out exists and is not empty (it holds the ingest of another data root, {root})" in err, err
    assert "fix: give --out a new or empty folder" in err and "Traceback" not in err
    assert (out / "manifest.csv").read_bytes() == before
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    (unrelated / "manifest.csv").write_text("mine\n")
    assert _ingest(root, unrelated) == 2
    assert "(it holds manifest.csv)" in capsys.readouterr().err
    assert (unrelated / "manifest.csv").read_text() == "mine\n"
    failed = tmp_path / "failed"  # what a failed ingest leaves: written again once the data is fixed
    failed.mkdir()
    (failed / ingest.PROBLEMS_NAME).write_text("x\n")
    assert _ingest(root, failed) == 0 and (failed / "manifest.csv").is_file()


def test_the_data_of_a_run_past_its_ingest_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _source(tmp_path / "src", 12)
    data = tmp_path / "runs" / "trained" / "data"
    assert _ingest(root, data) == 0
    manifest = (data / "manifest.csv").read_bytes()
    (data.parent / "stages.json").write_text(json.dumps({"ingest": {"status": "done"},
                                                        "pretrain": {"status": "done"}}))
    capsys.readouterr()
    assert _ingest(root, data) == 2  # even the same root: the stages after it were made from it
    err = capsys.readouterr().err
    assert f"{data}: the data folder of the run {data.parent}, whose stages.json records its ingest, pretrain" in err, err
    assert f"fix: make a new run for this data: --out {tmp_path / 'runs' / 'trained-new' / 'data'}" in err, err
    assert (data / "manifest.csv").read_bytes() == manifest


def test_the_data_of_a_run_with_only_its_ingest_done_is_refused_too(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review: allowed before, a hand ingest there replaced the run's cache sizes and the resume
    then blamed 'the stages after it', of which there were none."""
    root = _source(tmp_path / "src", 12)
    data = tmp_path / "runs" / "r1" / "data"
    assert _ingest(root, data) == 0
    (data.parent / "stages.json").write_text(json.dumps({"ingest": {"status": "done"}}))
    capsys.readouterr()
    assert _ingest(root, data) == 2
    err = capsys.readouterr().err
    assert "whose stages.json records its ingest stage(s)" in err and "fix: make a new run" in err, err
    # final read F1: the fix trains on the new ingest, not on a phantom set the default stages make
    assert "-c CONFIG run.name=r1-new 'run.stages=[pretrain,umm,finetune,export]'" in err, err
    # final read F3: an ingest stage that failed or was interrupted is not in the way
    (data.parent / "stages.json").write_text(json.dumps({"ingest": {"status": "failed"}}))
    assert _ingest(root, data) == 0


@pytest.mark.parametrize("damaged", [b"", b'{"ingest": {"status": "do', b"\xff{}", b"[]"])
def test_the_data_of_a_run_with_a_damaged_stages_json_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], damaged: bytes) -> None:
    """Review R1 (data lost): a damaged stages.json read as no stage done, so a hand ingest into
    a trained run's data/ replaced its manifest, summary and cache (rc 0)."""
    root = _source(tmp_path / "src", 12)
    data = tmp_path / "runs" / "trained" / "data"
    assert _ingest(root, data) == 0
    kept = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    (data.parent / "stages.json").write_bytes(damaged)
    capsys.readouterr()
    assert _ingest(root, data) == 2
    err = capsys.readouterr().err
    assert f"{data}: the data folder of the run {data.parent}, whose stages.json is damaged (" in err, err
    assert f"fix: make a new run for this data: --out {tmp_path / 'runs' / 'trained-new' / 'data'}" in err, err
    assert "Traceback" not in err
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == kept


def test_a_medmnist_folder_ingested_again_is_the_same_root(tmp_path: Path) -> None:
    """Review: a MedMNIST folder's summary records the .npz it found as its root, so running the
    identical command again was refused as 'the ingest of another data root'."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mm"
    folder.mkdir()
    np.savez(folder / "retinamnist.npz", train_images=rng.integers(0, 256, (20, 28, 28, 3), dtype=np.uint8),
             train_labels=(np.arange(20) % 5).reshape(-1, 1).astype(np.uint8),
             test_images=rng.integers(0, 256, (4, 28, 28, 3), dtype=np.uint8))
    out = tmp_path / "outm"
    assert _ingest(folder, out) == 0
    assert _ingest(folder, out) == 0


def test_a_resume_refuses_a_manifest_written_anew_since_the_ingest_stage(tmp_path: Path) -> None:
    root = _source(tmp_path / "src", 12)
    run_dir = tmp_path / "runs" / "run"
    cfg = DataConfig(root=str(root), n_folds=2, cache_sizes=[SIZE], workers=1)
    data = run_dir / "data"
    ingest.run(cfg, data, verbose=False)
    (run_dir / "stages.json").write_text(json.dumps({"ingest": {
        "status": "done", "seconds": 1.0, "outputs": {"manifest_sha256": sha256_file(data / "manifest.csv")}}}))
    config, sources, _ = preflight.read_config(None, [f"data.root={root}", "data.n_folds=2",
                                                     f"data.cache_sizes=[{SIZE}]", "pretrain.batch_size=4",
                                                     "umm.batch_size=4", f"run.out_dir={run_dir.parent}",
                                                     f"run.name={run_dir.name}"])

    def errors() -> list[str]:
        return [f.line for f in preflight.check(config, run_dir, sources, stages=["pretrain"])
                if f.severity == "error" and "stages.json recorded when the ingest stage finished" in f.line]

    assert errors() == []
    # another ingest (another root) wrote manifest and summary anew: consistent with each other
    ingest.run(DataConfig(root=str(_source(tmp_path / "other", 9, seed=50)), n_folds=2, cache_sizes=[SIZE],
                          workers=1), data, verbose=False)
    (said,) = errors()
    assert f"records the ingest stage as done, but {data / 'manifest.csv'} is not what it wrote" in said, said
    assert "another ingest wrote it anew since" in said and "run.name=run-2" in said, said


def test_one_rule_says_whether_two_paths_are_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``drac_ssl.io.same_path`` is the one rule of path sameness (the ingest's ``--out`` check,
    the resume's path settings, the export's own files): the same inode when both exist, else
    the normalised real paths; a path not made yet under a linked folder is the same as through
    the folder itself (the resume's old rule said no: samefile of a missing path failed)."""
    from drac_ssl.io import same_path
    from drac_ssl.stage_settings import _same_path

    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    (real / "a.csv").write_text("x\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert same_path(tmp_path / "link" / "a.csv", real / "a.csv")
    assert same_path("real/a.csv", real / ".." / "real" / "a.csv")
    assert same_path(tmp_path / "link" / "new.csv", real / "new.csv")  # neither exists yet
    assert _same_path(str(tmp_path / "link" / "new"), str(real / "new"))
    assert not same_path(real / "a.csv", real / "b.csv")
    assert not same_path(real / "a.csv", real)
