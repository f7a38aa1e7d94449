"""The one wording of a fix that starts a new run folder (:func:`drac_ssl.runtime.command_changes`):
"add run.name=X-2 ... to your command" when run.name was not typed on the command line,
"replace run.name=X with run.name=X-2 ..." when it was, in every refusal that offers one (the
changed run folder's, the pretraining's, UMM's and the fine-tuning's non-finite stops, the
edited config.yaml's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl import pretrain, runtime, train


def test_command_changes_adds_what_was_not_typed_and_replaces_what_was() -> None:
    pairs = [("run.name", "x-2"), ("run.reuse", "runs/x"), ("pretrain.lr", "0.001")]
    assert runtime.command_changes(pairs, {}) == "add run.name=x-2 run.reuse=runs/x pretrain.lr=0.001 to your command"
    assert runtime.command_changes(pairs, {"run.name": "run.name=x", "pretrain.lr": "pretrain.lr=0.01"}) == (
        "replace run.name=x with run.name=x-2 and replace pretrain.lr=0.01 with pretrain.lr=0.001 and "
        "add run.reuse=runs/x in your command")
    # a key already typed with the value the fix needs is neither added nor replaced
    assert runtime.command_changes(pairs, {"run.name": "run.name=x", "run.reuse": "run.reuse=runs/x"}) == (
        "replace run.name=x with run.name=x-2 and add pretrain.lr=0.001 in your command")
    # what else to add comes after the settings, either way
    assert runtime.command_changes(pairs[:2], {}, also="the changed setting") == (
        "add run.name=x-2 run.reuse=runs/x and the changed setting to your command")
    assert runtime.command_changes(pairs[:2], {"run.name": "run.name=x", "run.reuse": "run.reuse=old"},
                                   also="the changed setting") == (
        "replace run.name=x with run.name=x-2 and replace run.reuse=old with run.reuse=runs/x and add "
        "the changed setting in your command")


def test_a_stage_s_fix_reads_the_settings_typed_on_the_command_line_it_runs_under() -> None:
    """A stage knows its settings and run folder, not the command line: the words typed on it
    come from the block python -m drac_ssl.train runs its pipeline in (nothing outside one)."""
    pairs = [("run.name", "x-2")]
    assert runtime.command_changes(pairs) == "add run.name=x-2 to your command"
    with runtime.typed_settings({"run.name": "run.name=x"}):
        assert runtime.command_changes(pairs) == "replace run.name=x with run.name=x-2 in your command"
        assert runtime.command_changes(pairs, {}) == "add run.name=x-2 to your command"  # given: those
    assert runtime.command_changes(pairs) == "add run.name=x-2 to your command"  # the block is over


def test_the_pretraining_s_non_finite_fix_replaces_a_typed_run_name(tmp_path: Path) -> None:
    """The pretraining's non-finite stop (pretrain._new_run_words) said "add run.name=X-2 ...
    pretrain.lr=..." after a command that had typed run.name=X: X given twice."""
    run_dir = tmp_path / "runs" / "tiny"
    (run_dir / "pretrain" / "checkpoints").mkdir(parents=True)
    (run_dir / "stages.json").write_text("{}")  # a run folder of python -m drac_ssl.train
    last = run_dir / "pretrain" / "checkpoints" / "last.pt"
    assert pretrain._new_run_words(last, 0.01).endswith(
        f"finished ingest: add run.name=tiny-2 run.reuse={run_dir} pretrain.lr=0.001 to your command")
    with runtime.typed_settings({"run.name": "run.name=tiny", "pretrain.lr": "pretrain.lr=0.01"}):
        said = pretrain._new_run_words(last, 0.01)
    assert said.endswith(f"finished ingest: replace run.name=tiny with run.name=tiny-2 and replace "
                         f"pretrain.lr=0.01 with pretrain.lr=0.001 and add run.reuse={run_dir} in your "
                         f"command"), said


def test_the_pipeline_s_stages_word_their_fixes_with_the_settings_typed_for_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """train.run_pipeline sets the typed settings (its ``sources``) for everything it runs:
    the preflight's refusals and the stages' own fixes say replace for run.name=X typed."""
    from drac_ssl import preflight

    seen: list[str] = []

    def pipeline(*args: object, **kwargs: object) -> Path:
        seen.append(runtime.command_changes(runtime.new_run_pairs(tmp_path / "tiny")))
        return tmp_path

    monkeypatch.setattr(train, "_run_pipeline_main", pipeline)
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, ["run.name=tiny", "pretrain.epochs=3"])
    train.run_pipeline(cfg, sources)
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, ["pretrain.epochs=3"])
    train.run_pipeline(cfg, sources)
    reuse = tmp_path / "tiny"
    assert seen == [f"replace run.name=tiny with run.name=tiny-2 and add run.reuse={reuse} in your command",
                    f"add run.name=tiny-2 run.reuse={reuse} to your command"], seen
    assert runtime.command_changes([("run.name", "a")]) == "add run.name=a to your command"  # reset after


def test_an_edited_config_yaml_s_fix_replaces_a_typed_run_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The edited-config refusal (stage_settings.edited_config_words) of run.reuse's source:
    "add run.name=base-2 run.reuse=... and the other values to your command" for a command
    that had typed run.name=new and run.reuse=SOURCE; now it replaces run.name and keeps the
    run.reuse typed as it must be."""
    from fake_ingest import make_edited_source

    saved = make_edited_source(tmp_path / "runs" / "base")
    source = saved.parent
    monkeypatch.chdir(tmp_path)
    with pytest.raises(train.ConfigError) as refused:  # called from code: nothing typed
        train.plan_reuse(train.load_config(saved, ["run.name=new"]), source, tmp_path / "runs" / "new")
    assert str(refused.value).endswith(
        f"add run.name=base-2 run.reuse={source} and the other values to your command"), refused.value
    code = train.main(["-c", str(saved), "run.name=new", f"run.reuse={source}"])
    err = capsys.readouterr().err
    assert code == 2 and f"{saved} does not say what the stages ran with" in err, err
    assert ("replace run.name=new with run.name=base-2 and add the other values in your command"
            in " ".join(err.split())), err
    assert "add run.name=" not in err, err


def test_the_preflight_s_fix_for_a_finished_stage_whose_output_is_gone_replaces_a_typed_run_name(
        tmp_path: Path) -> None:
    """preflight.redo_fix printed a whole command line holding ``run.name=done-2``, whatever the
    command had typed; it now words the new run folder as every new-run fix does: "replace
    run.name=done with run.name=done-2" when run.name=done was typed, "add ..." when not."""
    from fake_ingest import make_finished_run

    from drac_ssl import preflight

    run_dir = make_finished_run(tmp_path / "runs" / "done")
    (run_dir / "finetune" / "vicreg" / "fold1.safetensors").unlink()

    def fix(*typed: str) -> str:
        cfg, sources, _ = preflight.read_config(run_dir / "config.yaml", list(typed))
        found = [f for f in preflight.check(cfg, run_dir, sources) if f.severity == "error"]
        assert len(found) == 1 and "records the finetune stage as done" in found[0].what, found
        return found[0].fix

    assert fix().endswith(f"(and reuses its fine-tuning folds that are intact): add run.name=done-2 "
                          f"run.reuse={run_dir} to your command"), fix()
    typed = fix("run.name=done")
    assert typed.endswith(f"replace run.name=done with run.name=done-2 and add run.reuse={run_dir} in your "
                          f"command"), typed
    assert " -m drac_ssl.train" not in typed and "add run.name" not in typed, typed
    # the ingest's: a new run folder where every stage runs, run.reuse cleared when the config sets it
    manifest = [run_dir / "data" / "manifest.csv"]
    assert preflight.redo_fix(run_dir, "ingest", manifest, typed={"run.name": "run.name=done"}).endswith(
        "where every stage runs: replace run.name=done with run.name=done-2 in your command")
    assert preflight.redo_fix(run_dir, "ingest", manifest, reuse_set=True, typed={}).endswith(
        "where every stage runs: add run.name=done-2 run.reuse='' to your command")


def test_the_preflight_s_umm_start_fix_replaces_the_typed_run_name_and_start(tmp_path: Path) -> None:
    """umm.start_from=peak on a run folder whose pretraining checkpoints were removed: the fix
    printed a whole command line with ``run.name=x-2 ... umm.start_from=best``, which said
    run.name and umm.start_from twice beside a command that typed them; now it replaces them."""
    from drac_ssl import preflight

    run_dir = tmp_path / "x"
    (run_dir / "pretrain").mkdir(parents=True)
    (run_dir / "pretrain" / "vicreg_model.safetensors").write_bytes(b"")
    (run_dir / "stages.json").write_text('{"ingest": {"status": "done"}, "pretrain": {"status": "done", '
                                         '"checkpoints_removed": {"mib": 0.0}}}')

    def fix(*typed: str) -> str:
        cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, list(typed))
        found = [f for f in preflight.check(cfg, run_dir, sources, stages=["umm"])
                 if f.setting == "umm.start_from"]
        assert len(found) == 1 and "checkpoints were removed" in found[0].what, found
        return found[0].fix

    said = fix("run.name=x", "umm.start_from=peak")
    assert said.startswith(
        f"run UMM from the default start in a new run folder that takes this run's stages: replace run.name=x "
        f"with run.name=x-2 and replace umm.start_from=peak with umm.start_from=best and add "
        f"run.reuse={run_dir} in your command; "), said
    assert fix("umm.start_from=peak").startswith(
        f"run UMM from the default start in a new run folder that takes this run's stages: replace "
        f"umm.start_from=peak with umm.start_from=best and add run.name=x-2 run.reuse={run_dir} in your "
        f"command; "), fix("umm.start_from=peak")


def test_the_new_run_words_are_shell_quoted(tmp_path: Path) -> None:
    """Catches ``add run.name=my run-2 run.reuse=/tmp/my run to your command``: typed as
    printed, the shell split each value at its space (and read ``$``, ``'``). Each value that
    needs it is quoted, and the words read back by a POSIX shell are the settings."""
    import shlex

    run_dir = tmp_path / "o'brien $x run"
    said = runtime.command_changes(runtime.new_run_pairs(run_dir), {"run.name": "run.name=o'brien $x run"})
    assert said == (f"replace run.name={shlex.quote(run_dir.name)} with run.name={shlex.quote(run_dir.name + '-2')} "
                    f"and add run.reuse={shlex.quote(str(run_dir))} in your command"), said
    added = runtime.command_changes(runtime.new_run_pairs(run_dir), {}).removeprefix("add ").removesuffix(
        " to your command")
    assert shlex.split(added) == [f"run.name={run_dir.name}-2", f"run.reuse={run_dir}"], added
    assert runtime.command_changes([("run.name", "x-2"), ("run.reuse", "''")], {}) == (
        "add run.name=x-2 run.reuse='' to your command")  # kept as typed: no quotes around quotes
