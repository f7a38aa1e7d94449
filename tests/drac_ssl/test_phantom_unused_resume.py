"""On the phantom set (an empty ``data.root``) the settings of a real data set's files
(config.PHANTOM_UNUSED) are warned set but not used and the ingest takes their defaults.
Before, config.yaml kept the values given, so following the warning's fix (rerunning without
them) was refused as "made with a different configuration", and run.reuse took nothing."""

from __future__ import annotations

from pathlib import Path

from fake_ingest import make_finished_run

from drac_ssl import train
from drac_ssl.config import load_config, save_config
from drac_ssl.stage_settings import comparable, config_differences

GIVEN = ["data.root=''", "data.image_column=image", "data.layout=drac", "data.grade_column=g"]


def _phantom_run(tmp_path: Path) -> Path:
    base = make_finished_run(tmp_path / "runs" / "base")
    save_config(load_config(base / "config.yaml", GIVEN), base / "config.yaml")
    return base


def test_phantom_run_without_the_unused_settings_resumes_and_reuses(tmp_path: Path) -> None:
    base = _phantom_run(tmp_path)
    cfg = load_config(base / "config.yaml", ["data.image_column=image name", "data.layout=auto",
                                             "data.grade_column=DR grade"])
    assert train._existing_run_problem(cfg, base) == ""
    plan = train.plan_reuse(cfg, base, tmp_path / "runs" / "new")
    assert plan.stages[:1] == ("ingest",) and plan.why == (), plan
    # a setting the phantom ingest reads is still a change
    changed = load_config(base / "config.yaml", ["data.n_folds=3"])
    assert "data.n_folds" in train._existing_run_problem(changed, base)


def test_with_a_data_root_the_settings_still_compare() -> None:
    old = {"data": {"dataset": "drac", "root": "/x", "image_column": "image"}}
    new = {"data": {"dataset": "drac", "root": "/x", "image_column": "image name"}}
    assert config_differences(comparable(old), comparable(new))
    assert not config_differences(comparable({**old, "data": {**old["data"], "root": ""}}),
                                  comparable({**new, "data": {**new["data"], "root": ""}}))


def test_with_a_data_root_the_phantom_counts_and_seed_do_not_block_a_resume(tmp_path: Path) -> None:
    """data.phantom_seed and the phantom counts are warned set but not used with a data.root:
    rerunning with them changed or removed (the warning's fix) resumes the run and its
    stages, where it was refused as "resuming it would mix two configurations"."""
    from drac_ssl.config import to_dict
    from drac_ssl.stage_settings import stage_resume_differences

    base = make_finished_run(tmp_path / "runs" / "base")
    save_config(load_config(base / "config.yaml", ["data.phantom_seed=7", "data.phantom_n_test=5"]),
                base / "config.yaml")
    saved = to_dict(load_config(base / "config.yaml"))
    changed = load_config(base / "config.yaml", ["data.phantom_seed=3", "data.phantom_n_train=99"])
    assert train._existing_run_problem(changed, base) == ""
    for stage in ("ingest", "pretrain"):
        assert stage_resume_differences(stage, saved, changed, base / stage) == [], stage
    # the phantom set reads them: there they are still a change
    phantom = {"data": {"dataset": "drac", "root": "", "phantom_seed": 0}}
    assert config_differences(comparable(phantom), comparable({"data": {**phantom["data"], "phantom_seed": 3}}))
