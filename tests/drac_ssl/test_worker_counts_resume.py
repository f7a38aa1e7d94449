"""The worker counts are speed only (stage_settings.OUTPUT_ONLY_SETTINGS): another
``data.workers`` or ``pretrain.num_workers`` resumes a run folder and takes its stages with
``run.reuse``. Before, ``run.reuse=base data.workers=1`` took nothing and a rerun in the same
folder was refused as "made with a different configuration"."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_ingest import make_finished_run

from drac_ssl import train
from drac_ssl.config import load_config
from drac_ssl.stage_settings import OUTPUT_ONLY_SETTINGS, config_differences


@pytest.mark.parametrize("setting", ["data.workers=1", "pretrain.num_workers=0"])
def test_another_worker_count_resumes_and_reuses(tmp_path: Path, setting: str) -> None:
    base = make_finished_run(tmp_path / "runs" / "base")
    cfg = load_config(base / "config.yaml", [setting])
    assert train._existing_run_problem(cfg, base) == ""
    plan = train.plan_reuse(cfg, base, tmp_path / "runs" / "new")
    assert plan.stages == ("ingest", "pretrain", "umm") and plan.why == (), plan
    # a setting that changes the result is still refused, and channels_last is one
    changed = load_config(base / "config.yaml", ["pretrain.channels_last=false"])
    assert "pretrain.channels_last" in train._existing_run_problem(changed, base)


def test_the_worker_counts_are_output_only_and_the_kernel_settings_are_not() -> None:
    assert {"data.workers", "pretrain.num_workers"} <= set(OUTPUT_ONLY_SETTINGS)
    assert config_differences({"data": {"workers": 0}}, {"data": {"workers": 3}}) == []
    assert config_differences({"pretrain": {"compile": "auto"}}, {"pretrain": {"compile": "false"}})


def test_a_new_output_setting_on_a_finished_run_says_it_reaches_no_stage(tmp_path: Path) -> None:
    """F8: run.tensorboard=true on a finished run skipped every stage silently."""
    from drac_ssl import preflight

    base = make_finished_run(tmp_path / "runs" / "base")
    cfg = load_config(base / "config.yaml", ["run.tensorboard=true", "data.workers=1"])
    found = {f.setting: f for f in preflight.check(cfg, base) if f.severity == "warning"}
    for setting in ("run.tensorboard", "data.workers"):
        assert "applies to no stage" in found[setting].line and "not run again" in found[setting].line, \
            found[setting].line
    same = load_config(base / "config.yaml")
    assert not [f for f in preflight.check(same, base) if f.setting == "run.tensorboard"]


def test_a_rerun_names_only_the_stages_that_read_the_setting(tmp_path: Path) -> None:
    """Review F3: with finetune and export left, data.workers and run.tensorboard were said to
    apply "only to finetune, export", which never read them."""
    from drac_ssl import preflight

    base = make_finished_run(tmp_path / "runs" / "base")
    cfg = load_config(base / "config.yaml", ["run.tensorboard=true", "data.workers=1",
                                             "pretrain.num_workers=0", "run.threads=2"])
    found = {f.setting: f.line for f in preflight.check(cfg, base, stages=["finetune", "export"])
             if f.severity == "warning"}
    for setting, finished in (("data.workers", "ingest"), ("run.tensorboard", "pretrain, umm")):
        assert "applies to no stage" in found[setting] and "none reads it" in found[setting], found[setting]
        assert f"finished {finished} stage(s)" in found[setting], found[setting]
    assert "only to finetune, which still runs" in found["pretrain.num_workers"], found["pretrain.num_workers"]
    assert "only to finetune, export, which still run" in found["run.threads"], found["run.threads"]
    # a setting whose every reading stage still runs applies in full: nothing to warn of
    ingest_left = load_config(base / "config.yaml", ["data.workers=1"])
    assert "data.workers" not in {f.setting for f in preflight.check(ingest_left, base,
                                                                     stages=["ingest", "finetune"])}
