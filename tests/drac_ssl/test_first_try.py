"""``python -m drac_ssl.train --first-try`` (trial finding F5): the tiny first try's settings
(:data:`drac_ssl.trial_run.FIRST_TRY`) as one option, given before the user's own overrides,
and recorded in the run folder so that a resume or a ``run.reuse`` keeps them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drac_ssl import preflight, run_state, runtime, train
from drac_ssl.commands import train_overrides, train_parser
from drac_ssl.config import ConfigError, load_config, to_dict
from drac_ssl.trial_run import FIRST_TRY, FIRST_TRY_KEY, FIRST_TRY_OPTION, first_try_record

CONFIGS = train.PACKAGE_CONFIGS
KEYS = [word.split("=", 1)[0] for word in FIRST_TRY]


def _read(*argv: str) -> tuple[dict, preflight.Sources, list[preflight.Finding]]:
    """The configuration ``python -m drac_ssl.train ARGV`` reads, with its sources and findings."""
    args = train_parser().parse_intermixed_args(list(argv))
    cfg, sources, findings = preflight.read_config(args.config, train_overrides(args))
    return to_dict(cfg), sources, findings


@pytest.mark.parametrize("config", ["drac", "fundus", str(CONFIGS / "default.yaml")])
def test_the_option_is_the_explicit_overrides_on_any_config(config: str) -> None:
    """Its configuration equals the 13 overrides the README pasted, typed on the same config."""
    ours, sources, findings = _read("-c", config, FIRST_TRY_OPTION)
    assert findings == []
    assert ours == to_dict(load_config(config, list(FIRST_TRY)))
    assert ours != to_dict(load_config(config))  # it does set something
    assert ours["pretrain"]["max_steps_per_epoch"] == 3 and ours["run"]["keep_checkpoints"] is False
    for key in KEYS:  # the messages name where each came from as typed
        assert sources[key] == f"command line '{FIRST_TRY_OPTION}'", key
    assert len(FIRST_TRY) == 13 and all(purpose.strip() for purpose in FIRST_TRY.values())


@pytest.mark.parametrize("where", ["after", "before"])
def test_a_setting_the_user_types_wins_over_the_option_without_a_warning(where: str) -> None:
    """``section.key=value`` typed anywhere on the command line wins over --first-try's own
    value of that setting, and is no "given twice" warning (it is what the user asked for)."""
    mine = ["pretrain.epochs=2", "finetune.image_size=96"]
    argv = ["-c", "fundus", FIRST_TRY_OPTION, *mine] if where == "after" else ["-c", "fundus", *mine, FIRST_TRY_OPTION]
    ours, sources, findings = _read(*argv)
    assert findings == [], [f.line for f in findings]
    assert ours == to_dict(load_config("fundus", [*FIRST_TRY, *mine]))
    assert (ours["pretrain"]["epochs"], ours["finetune"]["image_size"]) == (2, 96)
    assert ours["pretrain"]["max_steps_per_epoch"] == 3  # the rest of the preset stays
    assert sources["pretrain.epochs"] == "command line 'pretrain.epochs=2'"
    # the record of the run: what the preset applied, what was typed in its place
    record = train._first_try_applied(sources)
    assert record == {"applied": [w for w in FIRST_TRY if not w.startswith(("pretrain.epochs=", "finetune.image_size="))],
                      "replaced": mine}
    # a setting typed twice by the user is still warned of, as before
    _, _, findings = _read("-c", "fundus", FIRST_TRY_OPTION, "pretrain.epochs=2", "pretrain.epochs=4")
    assert [f.setting for f in findings] == ["pretrain.epochs"] and "given twice" in findings[0].line


def test_a_fix_adds_a_setting_to_the_option_rather_than_replacing_it() -> None:
    """A fix that changes a setting the option set says ``add key=value`` (which wins over the
    option), never ``replace --first-try with ...``, which would drop its other settings."""
    _, sources, _ = _read("-c", "fundus", FIRST_TRY_OPTION, "run.name=ft")
    typed = preflight.typed_words(sources)
    assert typed == {"run.name": "run.name=ft"}
    assert runtime.command_changes([("run.name", "ft-2"), ("pretrain.epochs", "5")], typed) == (
        "replace run.name=ft with run.name=ft-2 and add pretrain.epochs=5 in your command")


def test_help_says_what_it_sets_what_it_checks_and_that_its_figures_mean_nothing() -> None:
    text = " ".join(train_parser().format_help().split())
    option = text.split(f"{FIRST_TRY_OPTION} the tiny first try", 1)[1]  # its own entry
    for word in FIRST_TRY:
        assert word in option, word
    assert "its figures mean nothing" in option and "checks your data" in option and "every stage" in option
    assert "a section.key=value you type wins" in option
    assert f"First time on your data: add {FIRST_TRY_OPTION}" in text  # the epilog points to it
    with pytest.raises(SystemExit) as stop:  # an option, not an override: --first-try=yes is refused
        train_parser().parse_intermixed_args([f"{FIRST_TRY_OPTION}=yes"])
    assert stop.value.code == 2


def _photographs(folder: Path, n: int = 20) -> Path:
    """A plain folder of ``n`` colour photographs (160 px) and its label CSV, ICDR grades 0..4."""
    import cv2
    import numpy as np

    folder.mkdir()
    rows = []
    for i in range(n):
        image = np.random.default_rng(i).integers(0, 255, (160, 160, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"eye_{i:03d}.png"), image)
        rows.append(f"eye_{i:03d}.png,{i % 5}")
    (folder / "labels.csv").write_text("image name,DR grade\n" + "\n".join(rows) + "\n")
    return folder


def test_the_run_records_the_option_and_a_resume_or_reuse_without_it_is_told_to_add_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The run folder says it was made with --first-try (config.yaml's comment, its line of
    invocations.jsonl, the command that finishes it); rerunning the command resumes it; the
    same command without the option, or a run.reuse of it without the option, is refused
    (its settings differ) with "add --first-try" as the first fix, never run silently with
    the config file's full-size settings."""
    typed: list[str] = []  # the words of the command a shell started: its record's argv
    monkeypatch.setattr(runtime, "command_argv", lambda: [".venv/bin/python", "-m", "drac_ssl.train", *typed])

    def run(argv: list[str]) -> int:
        typed[:] = argv
        return train.main(argv)

    photos = _photographs(tmp_path / "photos")
    out = tmp_path / "runs"
    own = [f"data.root={photos}", f"run.out_dir={out}", "run.name=ft", "run.stages=[ingest]", "data.workers=1",
           "finetune.epochs=3"]
    command = ["-c", "fundus", FIRST_TRY_OPTION, *own]
    assert run(command) == 0, capsys.readouterr().err
    said = capsys.readouterr().out
    assert f"[train] {FIRST_TRY_OPTION} applied data.cache_sizes=[128] " in said
    assert "(finetune.epochs=3 typed in its place): the tiny first try, its figures mean nothing" in said
    run_dir = out / "ft"
    text = (run_dir / "config.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[1].startswith(f"# {FIRST_TRY_OPTION} applied data.cache_sizes=[128] data.n_folds=2 ")
    assert train.read_yaml(text) == to_dict(load_config("fundus", [*FIRST_TRY, *own]))
    (line,) = [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert line[FIRST_TRY_KEY]["replaced"] == ["finetune.epochs=3"] and FIRST_TRY_OPTION in line["argv"]
    assert line["epochs_typed"]["pretrain.epochs"]["option"] == FIRST_TRY_OPTION
    assert first_try_record(run_dir) == line[FIRST_TRY_KEY]
    assert f" {FIRST_TRY_OPTION} " in run_state.resume_command(run_dir)

    # the same command again: a resume (nothing differs), the record kept
    assert run(command) == 0, capsys.readouterr().err
    assert "made with a different configuration" not in capsys.readouterr().err
    assert (run_dir / "config.yaml").read_text(encoding="utf-8").splitlines()[1] == text.splitlines()[1]
    # without the option: refused, the option named as the fix, nothing run
    dropped = [w for w in command if w != FIRST_TRY_OPTION]
    assert run(dropped) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "this run folder was made with a different configuration" in err and "data.cache_sizes: [128] -> [256, 512]" in err
    assert (f"fix: add {FIRST_TRY_OPTION} to your command ({run_dir} was made with it, this command has none) "
            "to resume it; or choose another run.name") in err
    assert len((run_dir / "invocations.jsonl").read_text().splitlines()) == 2
    # a resume from the run's own config.yaml, a stage to run again (config.yaml rewritten):
    # the values are the file's, and its comment is kept from the run's records
    (run_dir / "stages.json").unlink()
    (run_dir / "config.yaml").write_text(text.replace(text.splitlines()[1] + "\n", ""), encoding="utf-8")
    assert run(["-c", str(run_dir / "config.yaml"), f"run.out_dir={out}", "run.name=ft"]) == 0
    assert "stage ingest: done" in capsys.readouterr().out
    assert (run_dir / "config.yaml").read_text(encoding="utf-8") == text
    # run.reuse of it without the option: nothing to take, the option named first
    reuse = [*dropped[:-3], "run.name=ft-2", f"run.reuse={run_dir}", "run.stages=[ingest]", "data.workers=1"]
    assert run(reuse) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"fix: add {FIRST_TRY_OPTION} to your command ({run_dir} was made with it, this command has none); or make" in err
    assert not (out / "ft-2").exists()


def test_a_first_try_setting_refused_with_the_users_names_the_option() -> None:
    """Where a value of the preset is refused in combination with the user's (its source size
    not among the cache sizes the user typed), the message names --first-try as its source."""
    args = train_parser().parse_intermixed_args(["-c", "fundus", FIRST_TRY_OPTION, "data.cache_sizes=[256]"])
    cfg, sources, findings = preflight.read_config(args.config, train_overrides(args))
    assert findings == [] and cfg.pretrain.augment.source_size == 128
    lines = [f.line for f in preflight.check(cfg, Path("runs-that-do-not-exist") / "x", sources)
             if f.setting == "pretrain.augment.source_size" and f.severity == "error"]
    assert lines and f"command line '{FIRST_TRY_OPTION}'" in lines[0], lines
    with pytest.raises(ConfigError):  # a misspelt setting after it is still refused
        load_config("fundus", [*FIRST_TRY, "pretrain.epoch=2"])
