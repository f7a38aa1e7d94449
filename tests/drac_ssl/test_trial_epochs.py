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


COMMON = ["data.phantom_n_train=15", "data.phantom_n_test=3", "data.cache_sizes=[24]", "data.workers=1",
          "data.n_folds=2", "pretrain.batch_size=4", "pretrain.augment.image_size=16",
          "pretrain.augment.source_size=24", "run.device=cpu", "run.stages=[ingest,pretrain]"]
"""The tiny settings of a run of ingest + pretrain (:func:`_stub_pretraining`)."""


@pytest.fixture(scope="module")
def phantom_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The phantom set :data:`COMMON`'s ingest draws (its seed and sizes), drawn once for the
    module into a folder of its own that no test changes (about 2 CPU seconds a drawing)."""
    from data_prep import phantom

    data = train.load_config(train.DEFAULT_CONFIG, COMMON).data
    root = tmp_path_factory.mktemp("phantom") / "set"
    phantom.generate(root, n_train=data.phantom_n_train, n_test=data.phantom_n_test,
                     seed=data.phantom_seed, workers=data.workers, progress=False)
    return root


def _stub_pretraining(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, phantom_set: Path) -> tuple[Path, list[str]]:
    """A pretraining stage that only leaves the files run.reuse checks, a config file setting
    100 pretraining epochs, and the tiny settings of a run of ingest + pretrain (run in
    ``tmp_path``): ``(config, common)``. A copy of :func:`phantom_set` lies where the runs look
    for it, as an earlier run there leaves it: the ingest checks it and takes it (what these
    tests read is the runs' records, nothing of the drawing)."""
    import shutil

    def finished(cfg, run_dir):  # type: ignore[no-untyped-def]
        (run_dir / "pretrain").mkdir(exist_ok=True)
        for name in ("backbone.safetensors", "vicreg_model.safetensors"):  # what run.reuse checks is there
            (run_dir / "pretrain" / name).write_bytes(b"")
        return {}

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(train.STAGES, "pretrain", finished)
    shutil.copytree(phantom_set, tmp_path / train.phantom_root(train.load_config(train.DEFAULT_CONFIG, COMMON)))
    config = tmp_path / "long.yaml"
    config.write_text("pretrain:\n  epochs: 100\n")
    return config, list(COMMON)


def test_a_training_run_given_a_few_of_its_file_s_epochs_is_a_trial_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, phantom_set: Path) -> None:
    """End to end through python -m drac_ssl.train's main: the invocation line records the
    count typed and the file's, and the run folder then reads as a trial run."""
    config, common = _stub_pretraining(tmp_path, monkeypatch, phantom_set)
    assert train.main(["-c", str(config), *common, "run.name=short", "pretrain.epochs=2"]) == 0
    line = json.loads((tmp_path / "runs" / "short" / "invocations.jsonl").read_text().splitlines()[-1])
    assert line[INVOCATION_KEY] == {"pretrain.epochs": {"typed": 2, "file": 100, "config": str(config)}}, line
    record = trial_run_record(tmp_path / "runs" / "short")
    assert record is not None and record["trial"] is True, record
    assert f"given 2 of the 100 epochs {config} sets" in record["why"], record
    # the file's count: a full run, said nothing of
    assert train.main(["-c", str(config), *common, "run.name=full"]) == 0
    assert trial_run_record(tmp_path / "runs" / "full") == {"trial": False}


def test_a_run_from_a_trial_s_config_yaml_or_taking_its_stages_is_a_trial_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, phantom_set: Path) -> None:
    """The README's new run from a trial's own config.yaml (``-c TRIAL/config.yaml run.name=B
    run.reuse=TRIAL``) typed no epochs: the short count is in that file, so B's pretraining,
    taken from the trial, read as a full run's. The trial's record is carried forward: into
    the stage's stages.json entry by run.reuse, and into B's invocation line by -c."""
    config, common = _stub_pretraining(tmp_path, monkeypatch, phantom_set)
    assert train.main(["-c", str(config), *common, "run.name=first-try", "pretrain.epochs=2"]) == 0
    trial = Path("runs") / "first-try"
    # run.reuse of the trial from its own config.yaml: the taken pretraining is the trial's
    assert train.main(["-c", str(trial / "config.yaml"), "run.name=b", f"run.reuse={trial}"]) == 0
    stages = json.loads((tmp_path / "runs" / "b" / "stages.json").read_text())
    source = stages["pretrain"]["reused_from"]
    assert Path(source).resolve() == trial.resolve(), source
    assert stages["pretrain"][INVOCATION_KEY] == {"pretrain.epochs": {
        "typed": 2, "file": 100, "config": str(config), "ran": 2, "in": source}}, stages["pretrain"]
    record = trial_run_record(tmp_path / "runs" / "b")
    assert record == {"trial": True, "why": f"the pretraining was given 2 of the 100 epochs {config} sets "
                                            f"(pretrain.epochs=2 typed on the command line of {source}, whose "
                                            f"pretraining run.reuse took)"}, record
    # its bundle, model card, app and export read this record (trial_run_words)
    assert trial_run_words(record).startswith("A trial run: the pretraining was given 2 of the 100 epochs")
    # a new run from the trial's config.yaml without run.reuse trains 2 epochs itself: judged
    # against the file the trial was given, not the config.yaml it left (2 of 2)
    assert train.main(["-c", str(trial / "config.yaml"), "run.name=c"]) == 0
    line = json.loads((tmp_path / "runs" / "c" / "invocations.jsonl").read_text().splitlines()[-1])
    assert line[INVOCATION_KEY] == {"pretrain.epochs": {"typed": 2, "file": 100, "config": str(config),
                                                        "via": str(trial)}}, line
    record = trial_run_record(tmp_path / "runs" / "c")
    assert record is not None and record["trial"] is True, record
    assert f"typed on the command line of {trial}, whose config.yaml this run was started from" in record["why"]
    # a count typed on a trial's config.yaml is judged against the trial's file too: 3 of 100
    assert train.main(["-c", str(trial / "config.yaml"), "run.name=d", "pretrain.epochs=3"]) == 0
    record = trial_run_record(tmp_path / "runs" / "d")
    assert record is not None and "given 3 of the 100 epochs" in record["why"], record
    # the full count typed on it: a full run
    assert train.main(["-c", str(trial / "config.yaml"), "run.name=e", "pretrain.epochs=100"]) == 0
    assert trial_run_record(tmp_path / "runs" / "e") == {"trial": False}
    # a rerun of the trial from its own config.yaml typing nothing: still the trial's record only
    assert train.main(["-c", str(trial / "config.yaml")]) == 0
    lines = (tmp_path / trial / "invocations.jsonl").read_text().splitlines()
    assert INVOCATION_KEY not in json.loads(lines[-1]), lines[-1]
    assert trial_run_record(tmp_path / trial)["trial"] is True


def test_a_count_first_try_set_is_said_so_in_a_run_that_takes_it_or_starts_from_its_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, phantom_set: Path) -> None:
    """Review F4: a first try's pretrain.epochs=1, set by --first-try, read "typed on the
    command line of runs/first-try" in a run that took its pretraining (run.reuse: the ``in``
    record) or started from its config.yaml (the ``via`` record): the option is carried with
    the record and said, as the first try's own report says it."""
    config, common = _stub_pretraining(tmp_path, monkeypatch, phantom_set)
    assert train.main(["-c", str(config), "--first-try", *common]) == 0
    trial = Path("runs") / "first-try"
    assert "pretrain.epochs=1 set by --first-try on the command line)" in trial_run_record(trial)["why"]
    assert train.main(["-c", str(trial / "config.yaml"), "run.name=b", f"run.reuse={trial}"]) == 0
    stages = json.loads((tmp_path / "runs" / "b" / "stages.json").read_text())
    source = stages["pretrain"]["reused_from"]
    assert stages["pretrain"][INVOCATION_KEY]["pretrain.epochs"]["option"] == "--first-try"
    record = trial_run_record(tmp_path / "runs" / "b")
    assert record is not None and (f"(pretrain.epochs=1 set by --first-try on the command line of {source}, "
                                   f"whose pretraining run.reuse took)") in record["why"], record
    assert train.main(["-c", str(trial / "config.yaml"), "run.name=c"]) == 0
    line = json.loads((tmp_path / "runs" / "c" / "invocations.jsonl").read_text().splitlines()[-1])
    assert line[INVOCATION_KEY]["pretrain.epochs"] == {"typed": 1, "file": 100, "config": str(config),
                                                      "via": str(trial), "option": "--first-try"}, line
    record = trial_run_record(tmp_path / "runs" / "c")
    assert record is not None and (f"(pretrain.epochs=1 set by --first-try on the command line of {trial}, "
                                   f"whose config.yaml this run was started from)") in record["why"], record
    assert "typed on the command line" not in record["why"]
