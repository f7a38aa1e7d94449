"""bench.umm_ablation: the variants of issue #13's protocol, their seeds, the summary over
seeds and the README table (pure parts; the protocol itself is a bench run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import summarize
from bench import umm_ablation as ua
from drac_ssl.config import load_config


def test_variants_cover_the_protocol_and_are_valid_settings() -> None:
    variants = ua.variant_settings([0.3, 3.0], ["pre13"])
    assert list(variants) == ["control", "umm", "no_js", "pairs", "alpha_0.3", "alpha_3", "pre13"]
    assert variants["control"] == ["umm.alpha=0"] and variants["umm"] == []
    for name, overrides in variants.items():
        cfg = load_config(None, overrides)  # every variant is a valid configuration
        if name == "control":
            assert cfg.umm.alpha == 0.0 and cfg.umm.outer_ssl and cfg.umm.use_rate_reduction
        if name == "pairs":
            assert cfg.umm.membership == "pairs"
    with pytest.raises(SystemExit, match="unknown extra variant"):
        ua.variant_settings([], ["magic"])
    assert ua.seeds_for("control", [0, 1, 2]) == [0, 1, 2] and ua.seeds_for("umm", [4, 5]) == [4, 5]
    assert ua.seeds_for("no_js", [0, 1, 2]) == [0]


def test_summary_means_over_seeds_and_gains_over_the_control() -> None:
    rows = {
        "control": [{"seed": 0, "cv_qwk": 0.70, "knn20_accuracy": 60.0},
                    {"seed": 1, "cv_qwk": 0.72, "knn20_accuracy": 62.0}],
        "umm": [{"seed": 0, "cv_qwk": 0.75, "knn20_accuracy": 59.0},
                {"seed": 1, "cv_qwk": 0.73, "knn20_accuracy": 61.0}],
        "no_js": [{"seed": 0, "cv_qwk": 0.60, "knn20_accuracy": None}],
    }
    summary = ua.summarise(rows)
    assert summary["means"]["control"]["cv_qwk"] == pytest.approx(0.71)
    assert summary["means"]["umm"]["cv_qwk_std"] == pytest.approx(0.0141)  # sample std, 4 digits
    assert summary["gain_over_control"]["umm"] == {"cv_qwk": pytest.approx(0.03), "knn20_accuracy": -1.0}
    assert summary["gain_over_control"]["no_js"] == {"cv_qwk": pytest.approx(-0.11)}


def test_readme_table_shows_a_measurement_and_never_a_smoke_run() -> None:
    rows = {"control": [{"seed": 0, "cv_qwk": 0.7, "cv_qwk_ci95": [0.6, 0.8], "settings": ["umm.alpha=0"]}],
            "umm": [{"seed": 0, "cv_qwk": 0.75, "cv_qwk_ci95": [0.65, 0.85], "settings": ["(UMM as configured)"],
                     "guard_fired": True, "stopped": "guard: the SSL loss rose 12% above"}]}
    record = {"dataset": "drac_phantom", "smoke": False, "variants": rows, **ua.summarise(rows),
              "pretraining": {"epochs_run": 50, "peak": {"epoch": 19}, "start": {"epoch": 49}, "passed_peak": True},
              "device": "cpu", "date_utc": "2026-12-01T00:00:00"}
    table = "\n".join(summarize.umm_protocol_table(record))
    assert "monitor peak at epoch 20, every variant from epoch 50;" in table
    assert "| control | umm.alpha=0 | 1 | 0.700 [0.600, 0.800] |" in table
    assert "+0.050" in table and "guard: the SSL loss rose 12% above" in table
    assert summarize.umm_protocol_table({**record, "smoke": True}) == []


def test_the_protocols_pretraining_time_comes_from_the_run_folders_stages_json(tmp_path: Path) -> None:
    """Timed around the pipeline call only, a rerun on a finished base run recorded seconds of
    nothing; stages.json keeps the stage's own time and its earlier attempts."""
    import json

    from bench.umm_ablation import pipeline_stage_time

    (tmp_path / "stages.json").write_text(json.dumps({"pretrain": {
        "status": "done", "seconds": 40.0, "seconds_earlier_attempts": 60.0, "attempts": 2}}), encoding="utf-8")
    got = pipeline_stage_time(tmp_path, "pretrain", existed=True, given=False)
    assert got == {"resumed": True, "reused": False, "status": "done", "seconds_last_attempt": 40.0,
                   "seconds_earlier_attempts": 60.0, "attempts": 2}
    assert pipeline_stage_time(tmp_path / "none", "pretrain", False, True)["attempts"] is None
