"""``python -m drac_ssl.train --first-try`` (trial finding F5): the tiny first try's settings
(:data:`drac_ssl.trial_run.FIRST_TRY`) as one option, given before the user's own overrides,
and recorded in the run folder so that a resume or a ``run.reuse`` keeps them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from drac_ssl import io, preflight, run_state, runtime, train
from drac_ssl.commands import train_overrides, train_parser, train_preset
from drac_ssl.config import (
    ConfigError,
    get,
    list_configs_text,
    load_config,
    shipped_config_names,
    to_dict,
)
from drac_ssl.trial_run import (
    FIRST_TRY,
    FIRST_TRY_KEY,
    FIRST_TRY_OPTION,
    FIRST_TRY_SIZES,
    first_try_record,
    first_try_settings,
    first_try_words,
)

CONFIGS = train.PACKAGE_CONFIGS
KEYS = [word.split("=", 1)[0] for word in FIRST_TRY]


def _read(*argv: str) -> tuple[dict, preflight.Sources, list[preflight.Finding]]:
    """The configuration ``python -m drac_ssl.train ARGV`` reads, with its sources and findings."""
    args = train_parser().parse_intermixed_args(list(argv))
    cfg, sources, findings = preflight.read_config(args.config, train_overrides(args), train_preset(args))
    return to_dict(cfg), sources, findings


@pytest.mark.parametrize("config", ["drac", "fundus", str(CONFIGS / "default.yaml")])
def test_the_option_is_the_explicit_overrides_on_any_config(config: str) -> None:
    """Its configuration equals the overrides of FIRST_TRY typed on the same config; each it
    applied is named as the option's (default.yaml's own 128 px source and 64 px images are
    its values already: left as the file's, the same configuration)."""
    ours, sources, findings = _read("-c", config, FIRST_TRY_OPTION)
    assert findings == []
    assert ours == to_dict(load_config(config, list(FIRST_TRY)))
    assert ours != to_dict(load_config(config))  # it does set something
    assert ours["pretrain"]["max_steps_per_epoch"] == 3 and ours["run"]["keep_checkpoints"] is False
    applied = [w.split("=", 1)[0] for w in first_try_settings(load_config(config))]
    assert set(KEYS) - set(applied) <= set(FIRST_TRY_SIZES)
    for key in applied:  # the messages name where each came from as typed
        assert sources[key] == f"command line '{FIRST_TRY_OPTION}'", key
    assert len(FIRST_TRY) == 16 and all(purpose.strip() for purpose in FIRST_TRY.values())


@pytest.mark.parametrize("config", shipped_config_names())
def test_on_every_shipped_config_it_never_enlarges_an_image_and_leaves_no_monitor_or_warm_up(config: str) -> None:
    """Review F1: on mnist, cifar10, fashion_mnist and retinamnist the fixed 64 px views and
    128 px cache enlarged 28 / 32 px images, the k-NN monitor scored every test image (11
    minutes on mnist) and a config's warm-up was as long as the run. Now no size is larger
    than the config's own, the monitor and the warm-up are off, the config is consistent (no
    error or warning of a stage's setting or of the cache) and the run has its own folder."""
    ours, sources, findings = _read("-c", config, FIRST_TRY_OPTION)
    own = load_config(config)
    cfg = load_config(config, first_try_settings(own))
    assert findings == [] and ours == to_dict(cfg)
    for key in FIRST_TRY_SIZES:
        mine, theirs = get(cfg, key), get(own, key)
        assert (max(mine) <= max(theirs)) if isinstance(mine, list) else (mine <= theirs), (key, mine, theirs)
    assert ours["pretrain"]["knn_every"] == 0 and ours["pretrain"]["warmup_epochs"] == 0
    assert ours["run"]["name"] == "first-try" != own.run.name
    checked = preflight.check(cfg, Path("runs-that-do-not-exist") / "x", sources)
    assert not [f.line for f in checked if f.setting.startswith(("pretrain.", "finetune.", "umm."))
                or "cache" in f.line], config


def _stand_in_retinamnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs the test from a folder of tmp_path where retinamnist.yaml's relative data.root
    (``../shared/data/retinamnist/retinamnist_public.npz``) names a tiny MedMNIST-shaped
    ``.npz`` (28 px RGB, grades 0..4): the preflight reads the file, and the test must not
    depend on the real data beside the clone (a trial in a clone without it failed)."""
    work = tmp_path / "work"
    work.mkdir()
    npz = Path(os.path.normpath(work / load_config("retinamnist").data.root))
    assert tmp_path in npz.parents, npz
    npz.parent.mkdir(parents=True)
    counts = {"train": 40, "val": 10, "test": 10}
    arrays = {f"{split}_images": np.zeros((n, 28, 28, 3), np.uint8) for split, n in counts.items()}
    arrays |= {f"{split}_labels": (np.arange(counts[split]) % 5).astype(np.uint8)[:, None]
               for split in ("train", "val")}
    np.savez(npz, **arrays)
    monkeypatch.chdir(work)


def test_a_28_px_config_keeps_its_sizes_and_the_record_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RetinaMNIST (28 px, cached as it is) keeps its cache, views and fine-tuning images at
    28 px (the ingest's own note had suggested data.cache_sizes=[28], which then met the
    preset's source_size=128); mnist keeps its 28 px views; the run's record names what
    was kept."""
    _stand_in_retinamnist(tmp_path, monkeypatch)
    rm, sources, findings = _read("-c", "retinamnist", FIRST_TRY_OPTION)
    assert findings == []
    assert (rm["data"]["cache_sizes"], rm["pretrain"]["augment"]["source_size"],
            rm["pretrain"]["augment"]["image_size"], rm["finetune"]["image_size"]) == ([28], 28, 28, 28)
    assert (rm["pretrain"]["knn_every"], rm["pretrain"]["warmup_epochs"], rm["data"]["n_folds"],
            rm["pretrain"]["max_steps_per_epoch"]) == (0, 0, 2, 3)
    record = train._first_try_applied(sources)
    assert record["kept"] == list(FIRST_TRY_SIZES) and record["replaced"] == []
    assert not any(w.startswith(FIRST_TRY_SIZES) for w in record["applied"])
    assert "the config's own data.cache_sizes pretrain.augment.source_size" in first_try_words(record)
    # the ingest's own fix, typed: no longer refused for the preset's 128 px source
    _, sources, findings = _read("-c", "retinamnist", FIRST_TRY_OPTION, "data.cache_sizes=[28]")
    cfg = load_config("retinamnist", [*first_try_settings(load_config("retinamnist")), "data.cache_sizes=[28]"])
    assert findings == [] and not [f for f in preflight.check(cfg, Path("runs-that-do-not-exist") / "x", sources)
                                   if f.severity == "error"]
    mnist, _, _ = _read("-c", "mnist", FIRST_TRY_OPTION)
    assert mnist["pretrain"]["augment"]["image_size"] == 28 and mnist["pretrain"]["knn_every"] == 0
    # drac and fundus: the preset's sizes, smaller than theirs
    for name in ("drac", "fundus"):
        ours, _, _ = _read("-c", name, FIRST_TRY_OPTION)
        assert (ours["data"]["cache_sizes"], ours["pretrain"]["augment"]["source_size"],
                ours["pretrain"]["augment"]["image_size"], ours["finetune"]["image_size"]) == ([128], 128, 64, 64)
    # the rule on a config of its own: a 28 px source under a larger cache keeps both, so the
    # copy its views are cut from stays cached
    own = load_config("fundus", ["data.cache_sizes=[28,512]", "pretrain.augment.source_size=28",
                                 "pretrain.augment.image_size=28", "finetune.image_size=28"])
    assert not any(w.startswith(FIRST_TRY_SIZES) for w in first_try_settings(own))


def test_the_run_folder_is_first_try_unless_run_name_is_typed() -> None:
    """Review F3: the first try took the config's own run folder (runs/retinamnist), where the
    full run after it was then refused. It has its own; a run.name typed wins."""
    ours, _, _ = _read("-c", "retinamnist", FIRST_TRY_OPTION)
    assert ours["run"]["name"] == "first-try"
    ours, sources, findings = _read("-c", "retinamnist", FIRST_TRY_OPTION, "run.name=mine")
    assert ours["run"]["name"] == "mine" and findings == []
    assert train._first_try_applied(sources)["replaced"] == ["run.name=mine"]


def test_a_misspelt_setting_the_option_also_sets_gets_its_own_fix() -> None:
    """Review F2: ``-c fundus --first-try pretrain.epoch=2`` was told "leave it out: ...
    pretrain.epochs, already given on this command line", as if the user had typed
    pretrain.epochs; without --first-try the fix is pretrain.epochs=2. The option's settings
    are not the user's typed ones (config.typed_keys, preflight.user_typed)."""
    for argv in (["-c", "fundus", FIRST_TRY_OPTION, "pretrain.epoch=2"], ["-c", "fundus", "pretrain.epoch=2"]):
        _, sources, findings = _read(*argv)
        (found,) = [f for f in findings if f.misspelt == "pretrain.epoch"]
        assert "fix: pretrain.epochs=2" in found.line and "already given" not in found.line, found.line
    args = train_parser().parse_intermixed_args(["-c", "fundus", FIRST_TRY_OPTION, "pretrain.epoch=2"])
    refusal = preflight.reading_refusal("fundus", train_overrides(args), train_preset(args))
    assert "fix: pretrain.epochs=2" in refusal and "already given" not in refusal
    _, sources, _ = _read("-c", "fundus", FIRST_TRY_OPTION, "run.name=ft", "pretrain.epochs=4")
    assert set(preflight.user_typed(sources)) == {"run.name", "pretrain.epochs"}


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
                      "replaced": mine, "kept": []}
    # a setting typed twice by the user is still warned of, as before
    _, _, findings = _read("-c", "fundus", FIRST_TRY_OPTION, "pretrain.epochs=2", "pretrain.epochs=4")
    assert [f.setting for f in findings] == ["pretrain.epochs"] and "given twice" in findings[0].line


def test_a_fix_adds_a_setting_to_the_option_rather_than_replacing_it() -> None:
    """A fix that changes a setting the option set says ``add key=value`` (which wins over the
    option), never ``replace --first-try with ...``, which would drop its other settings."""
    _, sources, _ = _read("-c", "fundus", FIRST_TRY_OPTION, "run.name=ft")
    typed = preflight.user_typed(sources)
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
    # review F1: "minutes on a CPU, any config" holds because no size grows; it says so
    assert ("only ever make images smaller: where the config's own is no larger (-c retinamnist's 28 px) "
            "it is kept") in option and all(key in option for key in FIRST_TRY_SIZES)
    assert f"First time on your data: add {FIRST_TRY_OPTION}" in text  # the epilog points to it
    listed = " ".join(list_configs_text().split())
    assert "never larger than the config's own, into run.out_dir/first-try; minutes on a CPU" in listed
    with pytest.raises(SystemExit) as stop:  # an option, not an override: --first-try=yes is refused
        train_parser().parse_intermixed_args([f"{FIRST_TRY_OPTION}=yes"])
    assert stop.value.code == 2


def _photographs(folder: Path, n: int = 20) -> Path:
    """A plain folder of ``n`` colour photographs (160 px) and its label CSV, ICDR grades 0..4
    in turn (18 photographs: 4, 4, 4, 3 and 3 a grade); the folder and its parents made here."""
    import cv2
    import numpy as np

    folder.mkdir(parents=True)
    rows = []
    for i in range(n):
        image = np.random.default_rng(i).integers(0, 255, (160, 160, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"eye_{i:03d}.png"), image)
        rows.append(f"eye_{i:03d}.png,{i % 5}")
    (folder / "labels.csv").write_text("image name,DR grade\n" + "\n".join(rows) + "\n")
    return folder


def _nothing_more_run(run_dir: Path, refused_at_least: int) -> None:
    """The run's two invocations of record (the first try and its resume) and nothing else run:
    every later line of ``invocations.jsonl`` is a refusal, recorded with exit code 2 for a
    torchrun job script that reads the last line's code (:data:`drac_ssl.io.REFUSED_NOTE`)."""
    recorded = [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert len(io.invocations(run_dir / "invocations.jsonl")) == 2 and len(recorded) >= 2 + refused_at_least
    assert all(r["ended"]["note"] == io.REFUSED_NOTE and r["ended"]["exit_code"] == 2 for r in recorded[2:])


def test_the_run_records_the_option_and_a_resume_or_reuse_without_it_is_told_to_add_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The run folder says it was made with --first-try (config.yaml's comment, its line of
    invocations.jsonl, the command that finishes it); rerunning the command resumes it; the
    same command without the option, or a run.reuse of it without the option, is refused
    (its settings differ), never run silently with the config file's full-size settings: the
    same command without it, the full run, is told first to start beside it (review F3:
    "add --first-try" came first, and the cached-size check offered the first try's 128 px
    source as the fix of the full run's 512), a run.reuse of it "add --first-try"."""
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
    assert "(finetune.epochs=3 run.name=ft typed in their places): the tiny first try, its figures mean nothing" in said
    run_dir = out / "ft"
    text = (run_dir / "config.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[1].startswith(f"# {FIRST_TRY_OPTION} applied data.cache_sizes=[128] data.n_folds=2 ")
    assert train.read_yaml(text) == to_dict(load_config("fundus", [*FIRST_TRY, *own]))
    (line,) = [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert line[FIRST_TRY_KEY]["replaced"] == ["finetune.epochs=3", "run.name=ft"] and FIRST_TRY_OPTION in line["argv"]
    assert line["epochs_typed"]["pretrain.epochs"]["option"] == FIRST_TRY_OPTION
    assert first_try_record(run_dir) == line[FIRST_TRY_KEY]
    assert f" {FIRST_TRY_OPTION} " in run_state.resume_command(run_dir)

    # the same command again: a resume (nothing differs), the record kept
    assert run(command) == 0, capsys.readouterr().err
    assert "made with a different configuration" not in capsys.readouterr().err
    assert (run_dir / "config.yaml").read_text(encoding="utf-8").splitlines()[1] == text.splitlines()[1]
    # without the option: refused, a folder of its own first, the option second, nothing run
    dropped = [w for w in command if w != FIRST_TRY_OPTION]
    for full in (dropped, [w for w in dropped if not w.startswith("run.stages=")]):  # every stage too
        assert run(full) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "this run folder was made with a different configuration" in err and "data.cache_sizes: [128] -> [256, 512]" in err
        assert (f"fix: start the full run beside it: replace run.name=ft with run.name=ft-2 in your command ({run_dir} "
                f"is a tiny first try, made with {FIRST_TRY_OPTION}; this command has none); or add {FIRST_TRY_OPTION} "
                f"to your command to resume that first try") in err, err
        assert "not a cached size" not in err and "source_size=128" not in err, err  # the new run caches 256, 512
    _nothing_more_run(run_dir, refused_at_least=2)
    # a first try of another configuration in the same folder (a trial user: -c retinamnist
    # --first-try after -c fundus --first-try, both in first-try): a folder of its own first,
    # before the saved config, and the many differences shortened
    assert run(["-c", "retinamnist", FIRST_TRY_OPTION, f"run.out_dir={out}", "run.name=ft",
                "run.stages=[ingest]", "data.workers=1"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (f"fix: start this first try beside it: replace run.name=ft with run.name=ft-2 in your command "
            f"({run_dir} is an earlier {FIRST_TRY_OPTION} of another configuration); or rerun with its "
            f"saved config:") in err, err
    assert f"more (all of them: compare {run_dir / 'config.yaml'})" in err, err
    assert err.index("run.name=ft-2") < err.index("saved config")
    _nothing_more_run(run_dir, refused_at_least=2)
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
    cfg, sources, findings = preflight.read_config(args.config, train_overrides(args), train_preset(args))
    assert findings == [] and cfg.pretrain.augment.source_size == 128
    lines = [f.line for f in preflight.check(cfg, Path("runs-that-do-not-exist") / "x", sources)
             if f.setting == "pretrain.augment.source_size" and f.severity == "error"]
    assert lines and f"command line '{FIRST_TRY_OPTION}'" in lines[0], lines
    with pytest.raises(ConfigError):  # a misspelt setting after it is still refused
        load_config("fundus", [*FIRST_TRY, "pretrain.epoch=2"])


@pytest.mark.parametrize("argv", [["--print-config", "fundus", FIRST_TRY_OPTION],
                                  [FIRST_TRY_OPTION, "--print-config=fundus"],
                                  ["--print-config", "fundus", "pretrain.epochs=2"],
                                  ["-c", "drac", "--print-config", "fundus"],
                                  ["--threads=2", "--print-config", "fundus", "run.name=x"],
                                  ["pretrain.epochs=2", "--config=drac", "--print-config=fundus", FIRST_TRY_OPTION],
                                  # an option typed twice: both named, not the last alone
                                  ["--print-config", "fundus", "--threads", "2", "--threads", "3"],
                                  ["--threads=2", "-c", "drac", "--print-config", "fundus", "--threads", "3"]])
def test_print_config_refuses_what_it_would_ignore(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Review F5: ``--print-config NAME --first-try`` printed the file without the preset and said
    nothing; an override or -c beside it was ignored alike. Each is a usage error (exit 2,
    nothing on stdout) that names what would be ignored; --print-config alone still prints.
    An option typed twice (``--threads 2 --threads 3``) was named by its last use alone;
    every use is named now."""
    with pytest.raises(SystemExit) as stop:
        train_parser().parse_intermixed_args(argv)
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and out == ""
    others = " ".join(w for w in argv if not w.startswith("--print-config") and w != "fundus")
    err = " ".join(err.split())
    assert f"--print-config prints the config file fundus as it is and takes nothing else: {others} would not" in err
    assert "fix: " in err and "--print-config fundus > my.yaml alone" in err
    with pytest.raises(SystemExit) as stop:
        train_parser().parse_intermixed_args(["--print-config", "fundus"])
    assert stop.value.code == 0 and capsys.readouterr().out == (CONFIGS / "fundus.yaml").read_text(encoding="utf-8")


def test_its_end_names_what_the_full_run_would_stop_for_and_the_command_carries_the_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial user's first try on 30 photographs passed at its batch of 8; the full run (the
    same command without --first-try) was refused at once for fundus.yaml's batch of 32. The
    first try's end now says so, from its ingest's counts, and the full run's command carries
    the one-setting fixes; a full run that would pass gets nothing extra."""
    typed: list[str] = []
    monkeypatch.setattr(runtime, "command_argv", lambda: [".venv/bin/python", "-m", "drac_ssl.train", *typed])
    photos = _photographs(tmp_path / "photos", n=30)  # 6 a grade: enough for fundus.yaml's 5 folds
    own = [f"data.root={photos}", f"run.out_dir={tmp_path / 'runs'}", "run.name=ft", "data.workers=1",
           "pretrain.batch_size=64"]  # typed: its fix replaces it in the command
    typed[:] = ["-c", "fundus", FIRST_TRY_OPTION, *own, "run.stages=[ingest]"]
    assert train.main(typed) == 0, capsys.readouterr().err
    said = capsys.readouterr().out
    assert "would stop" not in said  # its full run, ingest alone, passes: nothing extra said
    run_dir = tmp_path / "runs" / "ft"

    def lines(*more: str) -> list[str]:  # the end of a first try of the whole pipeline
        args = train_parser().parse_intermixed_args(["-c", "fundus", FIRST_TRY_OPTION, *own, *more])
        _, sources, _ = preflight.read_config(CONFIGS / "fundus.yaml", train_overrides(args), train_preset(args))
        return train.full_run_lines(run_dir, sources)

    found = lines()
    notes = [line for line in found if line.startswith(f"note: the full run (without {FIRST_TRY_OPTION}) would stop: ")]
    assert len(notes) == 2, found
    assert "pretrain.batch_size=64 (command line" in notes[0] and "larger than the 30 images" in notes[0]
    assert "fix: pretrain.batch_size=16" in notes[0]
    assert "umm.batch_size=32" in notes[1] and "fix: umm.batch_size=16" in notes[1]
    (command,) = [line for line in found if line.startswith("next: the full run, with these fixes: ")]
    words = command.split(": ", 1)[1].split()
    assert FIRST_TRY_OPTION not in words and words[-1] == "umm.batch_size=16" and f"data.root={photos}" in words
    assert "pretrain.batch_size=16" in words and "pretrain.batch_size=64" not in words  # in its place
    # the typed run.name is the first try's own folder, which the full run would be refused in
    assert "run.name=ft-2" in words and "run.name=ft" not in words, words
    assert any(line.startswith("note: the full run needs a folder of its own: run.name=ft ") for line in found)
    # batches typed small enough for 30 images: only the folder is said, the command carries it
    (command,) = [line for line in lines("pretrain.batch_size=16", "umm.batch_size=16") if line.startswith("next:")]
    # (the command is the run's recorded one, typed without these batches: only run.name changes)
    assert command.startswith("next: the full run, with this fix: ") and "run.name=ft-2" in command.split(), command
    assert not any("would stop" in line for line in lines("pretrain.batch_size=16", "umm.batch_size=16"))
