"""bench/bank_cache.py: the fine-tuning stage timed with the frozen feature banks' cache on and
off, in interleaved pairs, and the files the two write compared. A tiny run folder (fake ingest
of 30 images at 48 px, one VICReg and one UMM step, 2 fine-tuning epochs at 32 px); CPU, seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fake_ingest import TINY_FINETUNE, make_fake_ingest

from bench import bank_cache as bank_bench
from drac_ssl import bank_cache, pretrain, umm
from drac_ssl.config import load_config, save_config

UMM_STEP = {"umm.epochs": "1", "umm.batch_size": "8", "umm.max_steps_per_epoch": "1", "umm.early_cut": "layer3"}


def _prepared_run(root: Path) -> Path:
    """A run folder holding what the fine-tuning needs: ingest, pretraining, UMM, config.yaml."""
    cfg = load_config(None, [f"{k}={v}" for k, v in {**TINY_FINETUNE, **UMM_STEP,
                                                       "finetune.compare_scratch": "true"}.items()])
    make_fake_ingest(root)
    save_config(cfg, root / "config.yaml")
    pretrain.run(cfg, root)
    umm.run(cfg, root)
    return root


def test_both_ways_are_timed_in_pairs_and_write_the_same_results(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.common

    threads = torch.get_num_threads()
    run_dir = _prepared_run(tmp_path / "run")
    assert bank_bench.prepared(run_dir)
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    try:
        assert bank_bench.main(["--run-dir", str(run_dir), "--pairs", "1", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    record = json.loads((tmp_path / "bank_cache.json").read_text())
    assert record["preparation"] == {"run_dir": str(run_dir), "reused": True}
    (pair,) = record["pairs"]
    assert pair["order"] == ["on", "off"] and [r["cache"] for r in record["runs"]] == ["on", "off"]
    assert pair["ratio"] == round(pair["on_seconds"] / pair["off_seconds"], 3) == record["ratio_median"] > 0
    assert record["n_labelled_images"] == 30
    assert set(record["bank_seconds_median"]) == {"scratch", "vicreg", "vicreg_umm"}
    assert set(record["bank_seconds_median"]["vicreg_umm"]) == {"on_median", "off_median"}
    assert record["results_identical"] is True and record["problems"] == {}
    identical = record["files_identical_in_every_run"]
    for variant in ("scratch", "vicreg", "vicreg_umm"):
        assert f"{variant}/oof.csv" in identical and f"{variant}/fold0.safetensors" in identical
    assert record["bank_cache_bytes_on"] == bank_cache.BANK_CACHE_BYTES > 0  # put back after the off runs
    assert record["finetune_settings"]["freeze"] == "frozen" and record["command"]


def test_the_off_budget_is_read_when_a_cache_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bank_cache, "BANK_CACHE_BYTES", 0)
    assert bank_cache.BankCache().budget == 0
    monkeypatch.undo()
    assert bank_cache.BankCache().budget == bank_cache.BANK_CACHE_BYTES > 0


def test_results_must_match_bytewise_and_other_files_beyond_their_wall_times(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, seconds, grade in ((a, 1.5, 0), (b, 2.5, 0)):
        (folder / "vicreg").mkdir(parents=True)
        (folder / "vicreg" / "fold0.json").write_text(json.dumps({"qwk": 0.5, "seconds": seconds}))
        (folder / "vicreg" / "oof.csv").write_text(f"id,grade\nx,{grade}\n")
        (folder / "comparison.csv").write_text(f"variant,seconds\nvicreg,{seconds}\n")

    def look(folder: Path) -> tuple[dict[str, str], dict[str, object]]:
        files = bank_bench.stage_files(folder)
        return files, {n: bank_bench.without_wall_times(folder / n) for n in files if not bank_bench.must_match(n)}

    assert bank_bench.compare_runs(*look(a), *look(b)) == []  # wall times alone differ
    (b / "vicreg" / "oof.csv").write_text("id,grade\nx,1\n")
    (b / "vicreg" / "fold0.json").write_text(json.dumps({"qwk": 0.6, "seconds": 1.5}))
    (b / "vicreg" / "fold1.safetensors").write_bytes(b"\0")
    assert bank_bench.compare_runs(*look(a), *look(b)) == [
        "vicreg/fold1.safetensors: written by one run only",
        "vicreg/fold0.json: differs beyond its wall times",
        f"vicreg/oof.csv: bytes differ (sha256 {look(a)[0]['vicreg/oof.csv'][:12]} vs "
        f"{look(b)[0]['vicreg/oof.csv'][:12]})"]


def test_pairs_alternate_their_order_and_a_bad_count_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert bank_bench.pair_orders(3) == [("on", "off"), ("off", "on"), ("on", "off")]
    with pytest.raises(SystemExit):
        bank_bench.main(["--pairs", "0"])
    assert "--pairs must be >= 1, got 0" in capsys.readouterr().err


def test_the_results_row_shows_the_pairs_the_banks_and_whether_the_files_agree() -> None:
    from bench.summarize import bank_cache_rows

    record = {"n_labelled_images": 611, "finetune_settings": {"image_size": 64, "epochs": 8},
              "pairs": [{"on_seconds": 40.0, "off_seconds": 70.0}, {"on_seconds": 42.0, "off_seconds": 66.0}],
              "ratio_median": 0.6, "results_identical": True, "problems": {},
              "bank_seconds_median": {"vicreg": {"on_median": 9.0, "off_median": 12.0},
                                      "vicreg_umm": {"on_median": 2.0, "off_median": 12.5}},
              "command": "python -m bench.bank_cache", "date_utc": "2026-12-06T00:00:00", "device": "cpu"}
    (row,) = bank_cache_rows(record)
    assert "611 images at 64 px, 8 epochs, 2 interleaved pairs" in row
    assert "time on / off 0.6, median of the pairs' ratios (on / off: 40.0 / 70.0 s, 42.0 / 66.0 s)" in row
    assert "vicreg 12.0 -> 9.0 s, vicreg_umm 12.5 -> 2.0 s" in row
    assert "byte-identical in every run" in row
    record.update(results_identical=False, problems={"run 2 (off)": ["vicreg/oof.csv: bytes differ"]})
    (row,) = bank_cache_rows(record)
    assert "files DIFFER" in row and "vicreg/oof.csv" in row
