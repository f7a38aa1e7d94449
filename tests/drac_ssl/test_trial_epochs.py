"""Trial finding F11: a run whose pretrain.epochs (or finetune.epochs) typed on the command
line was far below its config file's value, with no step cap, was not called a trial run:
its report, bundle, model card and app read as a finished run's. The rule
(drac_ssl.trial_run): such a count below a quarter of the -c file's, the stage run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from drac_ssl import preflight, train
from drac_ssl.trial_run import INVOCATION_KEY, SHORT_FRACTION, trial_run_record, trial_run_words


def _run(tmp_path: Path, pretrain_epochs: int, finetune_epochs: int, *typed: dict[str, object],
         stages: tuple[str, ...] = ("pretrain", "finetune")) -> Path:
    """A run folder: config.yaml with the counts the stages ran, a folder per stage run, and
    one python -m drac_ssl.train line of invocations.jsonl per ``typed`` record."""
    run = tmp_path / "run"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({
        "pretrain": {"epochs": pretrain_epochs, "batch_size": 8, "max_steps_per_epoch": 0},
        "finetune": {"epochs": finetune_epochs}}))
    for stage in stages:
        (run / stage).mkdir()
    (run / "invocations.jsonl").write_text("".join(
        json.dumps({"tool": "drac_ssl.train", **({INVOCATION_KEY: t} if t else {})}) + "\n" for t in typed))
    return run


def _typed(key: str, typed: int, file: int) -> dict[str, object]:
    return {key: {"typed": typed, "file": file, "config": "configs/drac.yaml"}}


def test_epochs_typed_far_below_the_config_file_s_make_a_trial_run(tmp_path: Path) -> None:
    run = _run(tmp_path / "a", 2, 50, _typed("pretrain.epochs", 2, 100))
    record = trial_run_record(run)
    assert record == {"trial": True, "why": "the pretraining was given 2 of the 100 epochs configs/drac.yaml "
                                            "sets (pretrain.epochs=2 typed on the command line)"}, record
    assert trial_run_words(record).startswith("A trial run: the pretraining was given 2 of the 100 epochs")
    # the fine-tuning's count the same way
    run = _run(tmp_path / "b", 100, 1, _typed("finetune.epochs", 1, 50))
    assert "the fine-tuning was given 1 of the 50 epochs" in trial_run_record(run)["why"]
    # a quarter of the file's or more: a shorter run chosen, not a trial
    assert SHORT_FRACTION == 4
    run = _run(tmp_path / "c", 25, 50, _typed("pretrain.epochs", 25, 100))
    assert trial_run_record(run) == {"trial": False}
    # the stage not run here (a pretraining-free run): nothing to call short
    run = _run(tmp_path / "d", 2, 50, _typed("pretrain.epochs", 2, 100), stages=("finetune",))
    assert trial_run_record(run) == {"trial": False}
    # a resume that typed the file's count made it a full run (config.yaml says what ran);
    # one that typed nothing (-c RUN/config.yaml) leaves the first invocation's record in force
    run = _run(tmp_path / "e", 100, 50, _typed("pretrain.epochs", 2, 100), _typed("pretrain.epochs", 100, 100))
    assert trial_run_record(run) == {"trial": False}
    run = _run(tmp_path / "f", 2, 50, _typed("pretrain.epochs", 2, 100), {})
    assert trial_run_record(run)["trial"] is True
    # nothing typed, or a folder made before the record: no claim from the epochs
    run = _run(tmp_path / "g", 2, 50, {})
    assert trial_run_record(run) == {"trial": False}


def test_the_training_records_the_epochs_typed_with_the_config_file_s(tmp_path: Path) -> None:
    config = tmp_path / "long.yaml"
    config.write_text("pretrain:\n  epochs: 100\nfinetune:\n  epochs: 40\n")
    cfg, sources, _ = preflight.read_config(config, ["pretrain.epochs=2", "finetune.epochs=30"])
    assert train._epochs_typed(cfg, sources) == {
        "pretrain.epochs": {"typed": 2, "file": 100, "config": str(config)},
        "finetune.epochs": {"typed": 30, "file": 40, "config": str(config)}}
    cfg, sources, _ = preflight.read_config(config, ["run.name=x"])
    assert train._epochs_typed(cfg, sources) == {}  # the file's own counts: nothing typed


def test_a_training_run_given_a_few_of_its_file_s_epochs_is_a_trial_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end through python -m drac_ssl.train's main: the invocation line records the
    count typed and the file's, and the run folder then reads as a trial run."""
    def finished(cfg, run_dir):  # type: ignore[no-untyped-def]
        (run_dir / "pretrain").mkdir(exist_ok=True)
        return {}

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(train.STAGES, "pretrain", finished)
    config = tmp_path / "long.yaml"
    config.write_text("pretrain:\n  epochs: 100\n")
    common = ["data.phantom_n_train=15", "data.phantom_n_test=3", "data.cache_sizes=[24]", "data.workers=1",
              "data.n_folds=2", "pretrain.batch_size=4", "pretrain.augment.image_size=16",
              "pretrain.augment.source_size=24", "run.device=cpu", "run.stages=[ingest,pretrain]"]
    assert train.main(["-c", str(config), *common, "run.name=short", "pretrain.epochs=2"]) == 0
    line = json.loads((tmp_path / "runs" / "short" / "invocations.jsonl").read_text().splitlines()[-1])
    assert line[INVOCATION_KEY] == {"pretrain.epochs": {"typed": 2, "file": 100, "config": str(config)}}, line
    record = trial_run_record(tmp_path / "runs" / "short")
    assert record is not None and record["trial"] is True, record
    assert f"given 2 of the 100 epochs {config} sets" in record["why"], record
    # the file's count: a full run, said nothing of
    assert train.main(["-c", str(config), *common, "run.name=full"]) == 0
    assert trial_run_record(tmp_path / "runs" / "full") == {"trial": False}
