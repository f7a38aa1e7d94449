"""``-c NAME``: a shipped config by its name (drac_ssl.config.config_file), from any folder.

A packaging trial: from an install, ``-c configs/retinamnist.yaml`` named nothing (the configs
were in the checkout only). Now ``-c retinamnist`` (or ``retinamnist.yaml``) reads the shipped
file wherever the command runs; a file given to -c always wins over a name (a folder never
does); an unknown name lists the names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from drac_ssl import commands, config, preflight
from drac_ssl.config import ConfigError, config_file, load_config, shipped_config_names, to_dict

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current folder outside the checkout, with no config files."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


SHIPPED = ["cifar10", "cifar10_init28", "default", "drac", "fashion_mnist", "fundus", "mnist",
           "retinamnist"]
"""The configs shipped in configs/, by name, written out: a config added or removed is a change
of what ``-c NAME`` takes (README, docs/configuration.md), made here too."""


def test_the_names_are_the_shipped_files() -> None:
    assert shipped_config_names() == SHIPPED


@pytest.mark.parametrize("given", ["retinamnist", "retinamnist.yaml"])
def test_a_bare_name_reads_the_shipped_config(elsewhere: Path, given: str) -> None:
    assert config_file(given) == CONFIGS / "retinamnist.yaml"
    assert to_dict(load_config(given)) == to_dict(load_config(CONFIGS / "retinamnist.yaml"))


def test_an_existing_path_wins_over_a_name(elsewhere: Path) -> None:
    (elsewhere / "retinamnist.yaml").write_text("pretrain:\n  epochs: 3\n", encoding="utf-8")
    (elsewhere / "drac").write_text("pretrain:\n  epochs: 4\n", encoding="utf-8")
    assert config_file("retinamnist.yaml") == Path("retinamnist.yaml")
    assert load_config("retinamnist.yaml").pretrain.epochs == 3
    assert load_config("drac").pretrain.epochs == 4  # a file named like a config, no suffix
    shipped = load_config(CONFIGS / "retinamnist.yaml").pretrain.epochs
    assert shipped != 3 and load_config("retinamnist").pretrain.epochs == shipped


def test_a_path_with_a_folder_part_is_never_taken_for_a_name(elsewhere: Path) -> None:
    for given in ("./retinamnist.yaml", "sub/retinamnist"):
        assert config_file(given) == Path(given)
        with pytest.raises(ConfigError, match="config file not found"):
            load_config(given)


def test_a_folder_never_takes_a_shipped_name(elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: a data folder ``retinamnist/`` in the current folder made ``-c retinamnist``
    fail (any existing path won over the name, and the folder did not read). A folder is never
    a config: the bare name is the shipped config, for ``--print-config`` too; a folder given
    with a folder part is refused, its fix naming the shipped config of that name."""
    (elsewhere / "retinamnist").mkdir()
    (elsewhere / "retinamnist.yaml").mkdir()
    for given in ("retinamnist", "retinamnist.yaml"):
        assert config_file(given) == CONFIGS / "retinamnist.yaml"
    assert load_config("retinamnist").data.layout == load_config(CONFIGS / "retinamnist.yaml").data.layout
    for given in ("./retinamnist", "retinamnist/", str(elsewhere / "retinamnist.yaml")):
        with pytest.raises(ConfigError) as info:
            config_file(given)
        message = str(info.value)
        assert "is a folder, not a config file" in message, message
        assert f"fix: -c retinamnist (the shipped config of that name, {CONFIGS / 'retinamnist.yaml'})" in message
        with pytest.raises(ConfigError, match="is a folder, not a config file"):
            load_config(given)
    # a folder with no shipped config of its name: said, with an example that exists
    (elsewhere / "data").mkdir()
    with pytest.raises(ConfigError, match=r"^data: is a folder here, not a config file, nor a config shipped"):
        config_file("data")
    with pytest.raises(ConfigError, match=r"is a folder, not a config file\.\n  fix: pass a YAML config file with -c, e.g. -c drac$"):
        config_file("./data")
    # --print-config: the shipped file by its name, the folder refused (exit 2, no traceback)
    with pytest.raises(SystemExit) as stop:
        commands.train_parser().parse_intermixed_args(["--print-config", "retinamnist"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == (CONFIGS / "retinamnist.yaml").read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        commands.train_parser().parse_intermixed_args(["--print-config", "./retinamnist"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "./retinamnist: is a folder, not a config file" in err and "fix: -c retinamnist" in err, err
    assert "Traceback" not in err


def test_an_unknown_name_is_an_error_listing_the_shipped_names(elsewhere: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config("retinamnst")
    message = str(info.value)
    assert message.startswith(f"retinamnst: no such config file in the current folder ({elsewhere})")
    assert f"the shipped configs, by name: {', '.join(shipped_config_names())}." in message
    assert "fix: -c retinamnist (a shipped config by name)" in message  # the close one
    with pytest.raises(ConfigError, match=r"fix: -c NAME \(a shipped config by name\)"):
        config_file("zzzz.yaml")
    with pytest.raises(ConfigError, match=r"fix: -c retinamnist \(a shipped config by name\)"):
        config_file("retinamnist.yml")  # the other suffix: the name it meant


def test_the_preflight_reads_a_name_and_its_sources_name_the_file(elsewhere: Path) -> None:
    """The settings' sources (FILE:LINE in every message) and the fixes' file are the shipped
    file, not the name; an unknown name is a finding (the file unread), not a traceback."""
    cfg, sources, findings = preflight.read_config("mnist", ["run.device=cpu"])
    assert findings == [] and cfg.data.dataset == "mnist"
    assert sources["data.dataset"].startswith(f"{CONFIGS / 'mnist.yaml'}:")
    assert sources.fixes.file == str(CONFIGS / "mnist.yaml")
    _, _, findings = preflight.read_config("mnst")
    assert [f.unread for f in findings] == [True] and "-c mnist" in findings[0].what


def test_list_configs_names_every_config_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        commands.train_parser().parse_intermixed_args(["--list-configs", "run.bogus=1"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ") and line[2] != " "]
    assert listed == shipped_config_names(), out
    assert "  retinamnist     RetinaMNIST (MedMNIST v2)\n" in out, out
    # a relative data path is read from the current folder: said, with what to set elsewhere
    assert "data.root: ../shared/data/mnist (from the current folder; elsewhere add data.root=" in out


def test_print_config_writes_the_file_as_it_is_and_an_unknown_name_exits_2(
        elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        commands.train_parser().parse_intermixed_args(["--print-config", "drac"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == (CONFIGS / "drac.yaml").read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        commands.train_parser().parse_intermixed_args(["--print-config", "drak"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "drak: no such config file" in err and "fix: --print-config drac" in err and "Traceback" not in err


def test_the_train_help_names_the_shipped_configs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        commands.train_parser().parse_intermixed_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"Shipped configs (-c NAME): {', '.join(shipped_config_names())};" in out
    assert "configs/default.yaml" not in out


def test_the_early_refusal_of_an_unknown_name_lists_the_names(
        elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``drac-ssl-train -c NAME`` answers before torch loads (commands.refuse_train_early)."""
    with pytest.raises(SystemExit) as stop:
        commands.refuse_train_early(["-c", "fundos", "run.device=cpu"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "fundos: no such config file" in err and "fix: -c fundus" in err


def test_a_run_from_a_name_says_and_records_the_file_it_read(
        elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The console says which file ``-c default`` read, and environment.json and the
    invocation's line record it (``config_file``): the command line (``argv``, typed) names
    only the name. An ingest of a few phantom images, seconds on a CPU."""
    from drac_ssl import train

    small = ["data.phantom_n_train=15", "data.phantom_n_test=3", "data.cache_sizes=[24]",
             "data.workers=1", "data.n_folds=2", "run.device=cpu", "run.stages=[ingest]"]
    try:
        assert train.main(["-c", "default", *small, "run.name=named"]) == 0
    finally:
        train.apply_thread_policy(1)
    out = capsys.readouterr().out
    assert f"[train] config: default is the shipped {CONFIGS / 'default.yaml'}\n" in out, out
    run = elsewhere / "runs" / "named"
    line = json.loads((run / "invocations.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert line["config_file"] == str(CONFIGS / "default.yaml")
    made = json.loads((run / "environment.json").read_text(encoding="utf-8"))
    assert made["config_file"] == str(CONFIGS / "default.yaml")
    assert "[train] config:" in (run / "console.log").read_text(encoding="utf-8")
    # a path: recorded as the absolute file, and not said again (the command line names it)
    (elsewhere / "mine.yaml").write_text((CONFIGS / "default.yaml").read_text(encoding="utf-8"),
                                         encoding="utf-8")
    try:
        assert train.main(["-c", "mine.yaml", *small, "run.name=path"]) == 0
    finally:
        train.apply_thread_policy(1)
    assert "[train] config:" not in capsys.readouterr().out
    line = json.loads((elsewhere / "runs" / "path" / "invocations.jsonl").read_text(
        encoding="utf-8").splitlines()[-1])
    assert line["config_file"] == str(elsewhere / "mine.yaml")


def test_the_help_and_docstring_say_a_file_wins_over_a_name_and_a_folder_never() -> None:
    """A review: -c's help and train's docstring still said "an existing path wins", which a
    folder of a shipped config's name is not (a data folder retinamnist/ leaves -c retinamnist
    the shipped config)."""
    from drac_ssl import train

    rule = "a file given to -c always wins over a name, a folder never does"
    for text in (commands.train_parser().format_help(), train.__doc__ or ""):
        said = " ".join(text.replace("``", "").split())
        assert rule in said and "existing path wins" not in said, said


def test_without_shipped_configs_a_name_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "PACKAGE_CONFIGS", tmp_path / "site-packages" / "drac_ssl" / "configs")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        config_file("drac")
    assert f"no shipped configs here ({config.NO_CONFIGS_WHY})" in str(info.value)
    assert "fix: -c PATH to a YAML file of your own, or reinstall drac_ssl" in str(info.value)


@pytest.mark.parametrize("name", ["mnist", "retinamnist"])  # a generic data set, a layout's file
@pytest.mark.parametrize("checkout", [True, False], ids=["checkout", "installed"])
def test_a_shipped_relative_data_root_missing_here_says_what_to_add(
        elsewhere: Path, monkeypatch: pytest.MonkeyPatch, checkout: bool, name: str) -> None:
    """The shipped configs' relative data paths (``../shared/data/mnist``) are read from the
    current folder, as ever: run elsewhere (or from an install), the missing root's fix says
    where they were written for and the data.root to add.

    The checkout is a made-up one with the data beside it (a stand-in: only its existence is
    read), so that the test holds in a clone without ../shared/data (a trial failed there)."""
    relative = load_config(CONFIGS / f"{name}.yaml").data.root
    repo = beside = None
    if checkout:
        repo = elsewhere / "made" / "checkout"
        beside = Path(os.path.normpath(repo / relative))
        assert elsewhere / "made" in beside.parents and not (elsewhere / relative).exists()
        beside.parent.mkdir(parents=True)
        beside.touch()
    monkeypatch.setattr(config, "CHECKOUT", repo)
    cfg, sources, _ = preflight.read_config(name, ["run.device=cpu"])
    (found,) = [f for f in preflight.check(cfg, elsewhere / "runs" / "x", sources, stages=["ingest"])
                if f.setting == "data.root"]
    said = f"{found.what} {found.fix}"
    assert "does not exist" in said, said
    assert f"the shipped {name}.yaml sets this relative path, read from the current folder" in said
    if repo is not None:
        assert f"run the command from {repo}, or add data.root={beside}" in said, said
    else:
        assert f"add data.root=/path/to/{Path(relative).name} (where your copy is" in said, said
    # typed on the command line: the user's own path, no word on the shipped file
    cfg, sources, _ = preflight.read_config(name, ["run.device=cpu", "data.root=nowhere"])
    (found,) = [f for f in preflight.check(cfg, elsewhere / "runs" / "x", sources, stages=["ingest"])
                if f.setting == "data.root"]
    assert "sets this relative path" not in f"{found.what} {found.fix}"


@pytest.mark.parametrize("inside", [True, False], ids=["from-the-checkout", "elsewhere"])
def test_a_missing_retinamnist_file_is_not_sought_where_it_is_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inside: bool) -> None:
    """A trial user, in a checkout with no ../shared beside it, was told "run the command from
    <checkout>" (where they were) "or add data.root=<checkout>/../shared/..." (which does not
    exist). Then the fix is a data.root of their own copy, and where the file comes from."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.setattr(config, "CHECKOUT", checkout)
    monkeypatch.chdir(checkout if inside else tmp_path)
    cfg, sources, _ = preflight.read_config("retinamnist", ["run.device=cpu"])
    (found,) = [f for f in preflight.check(cfg, tmp_path / "runs" / "x", sources, stages=["ingest"])
                if f.setting == "data.root"]
    said = " ".join(f"{found.what} {found.fix}".split())
    missing = (checkout / "../shared/data/retinamnist/retinamnist_public.npz").resolve()
    assert "run the command from" not in said and f"data.root={missing}" not in said, said
    assert "the file is not found beside the checkout" in said, said
    assert "add data.root=/path/to/retinamnist_public.npz (where your copy is; the file is RetinaMNIST of MedMNIST v2" in said, said


def test_an_empty_config_is_refused_not_the_default_run(
        elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: ``-c ''`` (``-c "$CONFIG"`` with CONFIG unset) was falsy, so the shipped default
    ran silently in its place. It is a usage error (exit 2) saying so, before anything runs."""
    from drac_ssl import train

    for argv in (["-c", ""], ["--config", " "], ["--config=", "run.device=cpu"]):
        for parse in (commands.train_parser().parse_intermixed_args, commands.refuse_train_early,
                      train.main):
            with pytest.raises(SystemExit) as stop:
                parse(argv)
            assert stop.value.code == 2, (argv, parse)
            err = capsys.readouterr().err
            assert "was given an empty value" in err and "so no config file is named" in err, err
            assert "fix: " in err and " NAME (a shipped config: cifar10, " in err, err
    assert not (elsewhere / "runs").exists()
    for argv, value in ((["--print-config", ""], ""), (["--print-config= "], " ")):  # in its own name
        with pytest.raises(SystemExit) as stop:
            commands.train_parser().parse_intermixed_args(argv)
        assert stop.value.code == 2, argv
        out, err = capsys.readouterr()
        assert out == "" and f"error: --print-config was given an empty value ({value!r}:" in err, err
        assert "fix: --print-config NAME (a shipped config: cifar10, " in err and "-c ''" not in err, err
    with pytest.raises(ConfigError, match="an empty config name"):  # from Python
        load_config("")


def test_a_tilde_in_the_config_path_is_the_home_folder(
        elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``-c '~/x.yaml'`` (quoted: the shell left the tilde) reads ``$HOME/x.yaml``, as a
    ``data.root`` with a tilde is read."""
    home = elsewhere / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (home / "x.yaml").write_text("pretrain:\n  epochs: 5\n", encoding="utf-8")
    assert config_file("~/x.yaml") == home / "x.yaml"
    assert load_config("~/x.yaml").pretrain.epochs == 5
    cfg, sources, findings = preflight.read_config("~/x.yaml")
    assert findings == [] and cfg.pretrain.epochs == 5
    assert sources.fixes.file == str(home / "x.yaml")
    with pytest.raises(ConfigError, match=f"{home / 'nope.yaml'}: config file not found"):
        load_config("~/nope.yaml")


def test_a_local_file_with_a_shipped_name_is_read_and_said(
        elsewhere: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: a ``./drac.yaml`` silently replaced the shipped ``drac.yaml`` for ``-c
    drac.yaml``. The local file is still read (a file wins), and the console says so: which
    file is read, which shipped one it stands in for, and how to read that one."""
    from drac_ssl import train

    (elsewhere / "drac.yaml").write_text("pretrain:\n  epochs: 3\n", encoding="utf-8")
    cfg, sources, _ = preflight.read_config("drac.yaml", ["run.device=cpu"])
    assert cfg.pretrain.epochs == 3
    said = train._named_config_line("drac.yaml", sources)
    assert said == [f"[train] config: drac.yaml is the file in the current folder "
                    f"({elsewhere / 'drac.yaml'}), which is read, not the shipped config drac "
                    f"({CONFIGS / 'drac.yaml'}); for that one: -c {CONFIGS / 'drac.yaml'}"], said
    # no local file: the shipped one, said as before; a path with a folder part: nothing said
    _, sources, _ = preflight.read_config("mnist.yaml", ["run.device=cpu"])
    assert train._named_config_line("mnist.yaml", sources) == [
        f"[train] config: mnist.yaml is the shipped {CONFIGS / 'mnist.yaml'}"]
    _, sources, _ = preflight.read_config("./drac.yaml", ["run.device=cpu"])
    assert train._named_config_line("./drac.yaml", sources) == []
    monkeypatch.chdir(CONFIGS)  # the shipped file itself, run from its folder: nothing to say
    assert config.shadowed_shipped_config("drac.yaml") is None
    monkeypatch.chdir(CONFIGS.parent)  # nor by its path from the checkout (a review: ./ was lost)
    for given in ("./configs/drac.yaml", "configs/drac.yaml", str(CONFIGS / "drac.yaml")):
        _, sources, _ = preflight.read_config(given, ["run.device=cpu"])
        assert train._named_config_line(given, sources) == [], given
    monkeypatch.chdir(elsewhere)
    # --print-config: stdout is the local file (copied out as it is), stderr says which it is
    with pytest.raises(SystemExit) as stop:
        commands.train_parser().parse_intermixed_args(["--print-config", "drac.yaml"])
    assert stop.value.code == 0
    out, err = capsys.readouterr()
    assert out == "pretrain:\n  epochs: 3\n"
    assert "note: drac.yaml is the file in the current folder" in err and "not the shipped config drac" in err


def _run_of(folder: Path, cwd: Path, config_word: str, read: Path) -> Path:
    """A run folder whose training ``-c CONFIG_WORD``, run in ``cwd``, read ``read`` and was
    interrupted in its pretraining."""
    run = folder / "runs" / "r"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("run:\n  stages: [ingest, pretrain]\n", encoding="utf-8")
    (run / "stages.json").write_text(json.dumps({"ingest": {"status": "done"},
                                                 "pretrain": {"status": "interrupted"}}), encoding="utf-8")
    line = {"tool": "drac_ssl.train", "pid": 1, "host": "elsewhere", "cwd": str(cwd),
            "argv": ["python", "-m", "drac_ssl.train", "-c", config_word, "run.name=r"],
            "config_file": str(read), "ended": {"outcome": "interrupted", "stage": "pretrain"}}
    (run / "invocations.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    return run


def test_the_resume_command_names_the_file_the_run_read_when_its_name_now_reads_another(
        elsewhere: Path) -> None:
    """A run made with ``-c drac.yaml`` read the shipped file; a ``./drac.yaml`` written since
    would be read by its recorded command: the command that finishes the run names the
    recorded file (``config_file``) instead, and says why; the same file: the words as typed."""
    from drac_ssl import report, run_state

    run = _run_of(elsewhere, elsewhere, "drac.yaml", CONFIGS / "drac.yaml")
    assert run_state.resume_command_and_note(run) == (
        "python -m drac_ssl.train -c drac.yaml run.name=r", "")
    (elsewhere / "drac.yaml").write_text("pretrain:\n  epochs: 3\n", encoding="utf-8")
    command, note = run_state.resume_command_and_note(run)
    assert command == f"python -m drac_ssl.train -c {CONFIGS / 'drac.yaml'} run.name=r"
    assert note == (f"its -c drac.yaml now reads {elsewhere / 'drac.yaml'} from {elsewhere}, not "
                    f"the file the run read, so the command names that file "
                    f"({CONFIGS / 'drac.yaml'}, invocations.jsonl's config_file)")
    assert run_state.resume_command(run) == command
    # what export RUN and report.md say carry the note
    what, fix = run_state.unfinished_words(run, "pretrain")
    assert f"{command} ({note}); then rerun this command" in fix, fix
    assert f"`cd {elsewhere} && {command}` ({note})" in report._unfinished_item(run)
    # the other forms of the option (-c=X: argparse reads X, a review), each as argparse reads it
    shipped = str(CONFIGS / "drac.yaml")
    for typed, resumed in ((["--config", "drac.yaml"], ["--config", shipped]),
                           (["--config=drac.yaml"], [f"--config={shipped}"]),
                           (["-cdrac.yaml"], [f"-c{shipped}"]), (["-c=drac.yaml"], [f"-c={shipped}"])):
        assert commands.train_parser().parse_intermixed_args(typed).config == "drac.yaml", typed
        line = json.loads((run / "invocations.jsonl").read_text(encoding="utf-8"))
        line["argv"] = ["python", "-m", "drac_ssl.train", *typed, "run.name=r"]
        (run / "invocations.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
        assert run_state.resume_command(run) == f"python -m drac_ssl.train {' '.join(resumed)} run.name=r", typed
        assert commands.train_parser().parse_intermixed_args(resumed).config == shipped, resumed
    # and a run that read the local file: left as typed
    local = _run_of(elsewhere / "b", elsewhere, "drac.yaml", elsewhere / "drac.yaml")
    assert run_state.resume_command_and_note(local) == ("python -m drac_ssl.train -c drac.yaml run.name=r", "")


@pytest.mark.parametrize("recorded", [True, False], ids=["config_file", "made_before_config_file"])
def test_the_resume_command_reads_the_runs_config_yaml_when_its_file_is_gone_and_the_name_is_shipped(
        elsewhere: Path, recorded: bool) -> None:
    """A review: a run whose ``-c drac.yaml`` read ``./drac.yaml``, since deleted, was resumed
    with ``-c drac.yaml`` as typed, which now reads the shipped drac.yaml silently (a run made
    before config_file was recorded too: ``-c`` was a path from its folder then). The command
    reads the run's own config.yaml instead, and the note says why."""
    from drac_ssl import run_state

    local = elsewhere / "drac.yaml"
    run = _run_of(elsewhere, elsewhere, "drac.yaml", local)
    if not recorded:
        line = json.loads((run / "invocations.jsonl").read_text(encoding="utf-8"))
        del line["config_file"]
        (run / "invocations.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    local.write_text("pretrain:\n  epochs: 3\n", encoding="utf-8")
    assert run_state.resume_command_and_note(run) == ("python -m drac_ssl.train -c drac.yaml run.name=r", "")
    local.unlink()
    command, note = run_state.resume_command_and_note(run)
    assert command == f"python -m drac_ssl.train -c {run.resolve() / 'config.yaml'} run.name=r"
    said = ("invocations.jsonl's config_file" if recorded else
            "the file -c named from there when the run was made, before its config_file was recorded")
    assert note == (f"the file the run read ({local}, {said}) is gone and its -c drac.yaml now reads "
                    f"{CONFIGS / 'drac.yaml'} from {elsewhere} in its place, so the command reads the "
                    f"run's own config.yaml (its settings, overrides included)")
    # gone, and the word names no shipped config: as typed (its command says the file is missing)
    mine = _run_of(elsewhere / "b", elsewhere, "mine.yaml", elsewhere / "mine.yaml")
    assert run_state.resume_command_and_note(mine) == ("python -m drac_ssl.train -c mine.yaml run.name=r", "")


@pytest.mark.parametrize(("typed", "umm_too"), [
    (["--conf", "drac.yaml"], True), (["--confi=drac.yaml"], True), (["--con", "drac.yaml"], True),
    (["--run", "runs/x"], True), (["--list-conf"], False), (["--print-conf", "drac"], False),
    (["--thr", "2"], False)])
def test_an_abbreviated_option_is_refused(
        elsewhere: Path, typed: list[str], umm_too: bool, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: argparse took ``--conf X`` and ``--confi=X`` for ``--config`` (abbreviations),
    forms the resume command's reading of the recorded command line (run_state._config_word)
    did not know. The train and umm parsers take options written in full: an abbreviation is
    an unrecognised argument (exit 2); ``umm_too``: an abbreviation of one of umm's options
    (``--run`` for ``--run-dir``)."""
    from drac_ssl.umm import cli as umm_cli

    (elsewhere / "ckpt.safetensors").write_bytes(b"")
    parses = [commands.train_parser().parse_intermixed_args]
    if umm_too:
        parses.append(lambda argv: umm_cli.main(["ckpt.safetensors", *argv]))
    for parse in parses:
        with pytest.raises(SystemExit) as stop:
            parse(typed)
        assert stop.value.code == 2, (typed, parse)
        assert "unrecognized arguments: " + typed[0] in capsys.readouterr().err


def test_report_md_names_the_config_file_the_run_read(tmp_path: Path) -> None:
    """report.md's first lines (what made the run) name the file ``-c`` read, which the command
    (``-c drac``) does not: environment.json's ``config_file``."""
    from drac_ssl import report

    run = tmp_path / "run"
    run.mkdir()
    (run / "environment.json").write_text(json.dumps(
        {"command": "python -m drac_ssl.train -c drac", "cwd": "/somewhere",
         "config_file": str(CONFIGS / "drac.yaml")}), encoding="utf-8")
    line = report.provenance_line(run)
    assert (f"by `python -m drac_ssl.train -c drac` (in `/somewhere`), reading the config file "
            f"`{CONFIGS / 'drac.yaml'}`") in line, line
    (run / "environment.json").write_text(json.dumps({"command": "python -m drac_ssl.train"}), encoding="utf-8")
    assert "config file" not in report.provenance_line(run)  # a run recorded before config_file


def test_the_umm_command_says_when_a_local_file_stands_in_for_a_shipped_config(
        elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``drac-ssl-umm -c drac.yaml`` with a ``./drac.yaml`` reads the local file and says so, as
    train does (the ``[umm] config:`` line had no test); a path with a folder part says nothing."""
    from drac_ssl.umm import cli as umm_cli

    (elsewhere / "drac.yaml").write_text((CONFIGS / "drac.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (elsewhere / "ckpt.safetensors").write_bytes(b"not a checkpoint at all")
    assert umm_cli.main(["ckpt.safetensors", "-c", "drac.yaml", "run.device=cpu"]) == 2  # the file is refused
    out, err = capsys.readouterr()
    assert (f"[umm] config: drac.yaml is the file in the current folder ({elsewhere / 'drac.yaml'}), which is "
            f"read, not the shipped config drac ({CONFIGS / 'drac.yaml'}); for that one: -c "
            f"{CONFIGS / 'drac.yaml'}") in out, out
    assert "not a safetensors or PyTorch file" in err
    assert umm_cli.main(["ckpt.safetensors", "-c", "./drac.yaml", "run.device=cpu"]) == 2
    out, _ = capsys.readouterr()
    # the one config line, no shadow line (the threads line follows it since umm applies run.threads)
    assert out.splitlines()[0] == "[umm] config: drac.yaml + run.device=cpu", out
    assert "read, not the shipped config" not in out and "config" not in "".join(out.splitlines()[1:]), out
