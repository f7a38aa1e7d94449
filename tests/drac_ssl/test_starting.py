"""Ctrl-C while a command starts (imports) is one line, not a traceback; Ctrl-C while the
export grades or compare compares says what was (not) written (``drac_ssl.starting``)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drac_ssl import compare, export

REPO = Path(__file__).resolve().parents[2]


def _interrupted_while_importing(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Start ``command``, send SIGINT once torch or OpenCV is loaded (still importing), wait."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_ALBUMENTATIONS_UPDATE": "1"}
    # Ctrl-C as a terminal delivers it, whatever this test process inherited (a background
    # job of a script has SIGINT ignored, which its children would keep)
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 60
    while (maps.exists() and not any(lib in maps.read_text() for lib in ("libtorch", "cv2"))
           and time.monotonic() < deadline):
        time.sleep(0.01)
    if not maps.exists():
        time.sleep(0.3)  # no /proc: python is up, its imports most likely still running
    assert proc.poll() is None  # still starting: the signal reaches it
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see the imports")
@pytest.mark.parametrize(("module", "prog", "args"), [
    # a submission that exists: a missing one is said at once, before torch loads
    ("drac_ssl.export", "export", ["--check", "{submission}"]),
    ("drac_ssl.compare", "compare", ["runs/a"]),
    ("data_prep", "data_prep", ["ingest", "--root", "nowhere", "--out", "out"]),
    # a command that imports its stage (torch) in main, once a checkpoint that exists is given
    ("drac_ssl.umm", "umm", ["{checkpoint}", "--run-dir", "run"]),
])
def test_ctrl_c_while_a_command_starts_is_one_line(tmp_path: Path, module: str, prog: str,
                                                   args: list[str],
                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    if "{checkpoint}" in args:  # a missing one is said at once, before torch loads
        checkpoint = tmp_path_factory.mktemp("pretrain") / "vicreg_model.safetensors"
        checkpoint.write_bytes(b"")
        args = [str(checkpoint) if a == "{checkpoint}" else a for a in args]
    if "{submission}" in args:
        submission = tmp_path_factory.mktemp("team") / "team.csv"
        submission.write_text("case,class,P0,P1,P2\n")
        args = [str(submission) if a == "{submission}" else a for a in args]
    done = _interrupted_while_importing([sys.executable, "-m", module, *args], tmp_path)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr
    assert (f"[{prog}] interrupted while starting: nothing was run or written; rerun the same "
            "command to run it") in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_the_export_grades_says_the_csv_is_whole_or_untouched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "_predict_folder", interrupted)
    (tmp_path / "images").mkdir()
    code = export.main([str(tmp_path / "run"), "--images", str(tmp_path / "images"),
                        "--out", str(tmp_path / "team.csv")])
    err = capsys.readouterr().err
    assert code == 130 and "Traceback" not in err
    assert "[export] interrupted: the submission CSV and the files beside it are replaced together" in err


def test_ctrl_c_while_compare_reads_the_runs_is_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "compare_runs", interrupted)
    assert compare.main(["runs/a", "runs/b"]) == 130
    assert "[compare] interrupted while the runs were read and compared: nothing was written" \
        in capsys.readouterr().err


def test_interpreter_word_names_the_interpreter_as_the_shell_finds_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: the printed commands' expected strings are built with python_command(), the
    function under test; here its word is checked against fixed paths. An active venv (its
    python first on PATH): ``python``; a venv under the current folder not active:
    ``.venv/bin/python``; an interpreter outside it: its absolute path; a bare name in the
    current folder: ``./python`` (the shell would look a bare name up on PATH)."""
    from drac_ssl import starting

    monkeypatch.chdir(tmp_path)
    venv = str(tmp_path / ".venv" / "bin" / "python")
    on_path: list[str | None] = [None]
    monkeypatch.setattr(starting.shutil, "which", lambda name: on_path[0] if name == "python" else None)

    def word(executable: str, first_on_path: str | None) -> str:
        monkeypatch.setattr(starting.sys, "executable", executable)
        on_path[0] = first_on_path
        return starting.interpreter_word()

    assert word(venv, venv) == "python"
    assert word(venv, "/usr/bin/python") == os.path.join(".venv", "bin", "python")
    assert word(venv, None) == os.path.join(".venv", "bin", "python")
    outside = str(tmp_path.parent / "elsewhere" / "bin" / "python3")
    assert word(outside, "/usr/bin/python") == outside
    assert word(str(tmp_path / "python"), None) == os.path.join(".", "python")
    assert word("", "/usr/bin/python") == "python"
    spaced = str(tmp_path / "my env" / "bin" / "python")
    monkeypatch.setattr(starting.sys, "executable", spaced)
    assert starting.python_command("drac_ssl.train") == "'my env/bin/python' -m drac_ssl.train"


def test_every_command_s_usage_names_the_interpreter_that_runs_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: the usage lines (argparse's ``prog``) of the commands said a bare ``python -m
    MODULE`` where the fixes say ``.venv/bin/python -m MODULE`` (a venv not active: a bare
    ``python`` is another interpreter or none). Each names the running interpreter now, as
    :func:`drac_ssl.starting.python_command` does, and so do the examples of its help."""
    from app.__main__ import parse_args as app_args
    from app.demo_bundle import main as demo_main
    from data_prep.__main__ import main as data_prep_main
    from drac_ssl import commands, settings_table, starting, submission
    from drac_ssl.umm.cli import main as umm_main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(starting.sys, "executable", str(tmp_path / ".venv" / "bin" / "python"))
    monkeypatch.setattr(starting.shutil, "which", lambda name: "/usr/bin/python")
    monkeypatch.setattr(starting.sys, "argv", [str(REPO / "drac_ssl" / "train.py")])  # python -m
    venv = os.path.join(".venv", "bin", "python")

    def usage(run: object, module: str) -> str:
        with pytest.raises(SystemExit) as done:
            run(["--help"])  # type: ignore[operator]
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: {venv} -m {module} "), out[:200]
        return out

    for parser, module in ((commands.export_parser(), "drac_ssl.export"),
                           (commands.compare_parser(), "drac_ssl.compare"),
                           (commands.report_parser(), "drac_ssl.report"),
                           (commands.train_parser(), "drac_ssl.train")):
        out = usage(parser.parse_args, module)
        assert not re.search(rf"(?<![/\w])python -m {module}\b", out), out  # its examples too
    for run, module in ((umm_main, "drac_ssl.umm"), (submission.main, "drac_ssl.submission"),
                        (settings_table.main, "drac_ssl.settings_table"), (data_prep_main, "data_prep"),
                        (app_args, "app"), (demo_main, "app.demo_bundle")):
        out = usage(run, module)
        assert not re.search(rf"(?<![/\w])python -m {module}\b", out), out
    # the fix of options before the subcommand repeats the same command
    with pytest.raises(SystemExit):
        data_prep_main(["--root", "X"])
    assert f"{venv} -m data_prep ingest --root X" in capsys.readouterr().err


def test_the_console_scripts_listed_are_pyprojects() -> None:
    import tomllib

    from drac_ssl.starting import CONSOLE_SCRIPTS

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert sorted(CONSOLE_SCRIPTS) == sorted(scripts)


def test_a_console_script_run_records_the_script_without_the_interpreter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A packaging review (F6): after ``drac-ssl-train ...`` the ``next:`` hint and the recorded
    command said ``/venv/bin/python3.11 /venv/bin/drac-ssl-train ...``. The script is named as
    typed: its bare name when PATH finds that very file, else its path (relative under the
    current folder), never behind the interpreter."""
    import types

    from drac_ssl import runtime, starting

    monkeypatch.chdir(tmp_path)
    script = tmp_path / "my venv" / "bin" / "drac-ssl-train"
    script.parent.mkdir(parents=True)
    on_path: dict[str, str] = {}
    monkeypatch.setattr(starting.shutil, "which", lambda name: on_path.get(name))
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # a script: no __spec__
    monkeypatch.setattr(sys, "argv", [str(script), "-c", "own.yaml", "--first-try"])
    assert runtime.command_argv() == [os.path.join("my venv", "bin", "drac-ssl-train"), "-c", "own.yaml",
                                      "--first-try"]
    assert runtime.command_line() == "'my venv/bin/drac-ssl-train' -c own.yaml --first-try"
    on_path["drac-ssl-train"] = str(script)  # the venv is active
    assert runtime.command_line() == "drac-ssl-train -c own.yaml --first-try"
    on_path["drac-ssl-train"] = "/usr/local/bin/drac-ssl-train"  # another install first on PATH
    assert runtime.command_argv()[0] == os.path.join("my venv", "bin", "drac-ssl-train")
    monkeypatch.chdir(tmp_path / "my venv")
    outside = "/opt/drac/bin/drac-ssl-export.exe"
    assert starting.console_script_word(outside) == outside
    assert starting.console_script_word(str(tmp_path / "my venv" / "drac-ssl-app")) == os.path.join(".", "drac-ssl-app")
    for other in ("/venv/bin/drac-ssl-training", "ft.py", "", "/usr/bin/python3"):
        assert starting.console_script_word(other) is None, other
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "ft.py"), "x"])  # the user's own script: as before
    assert runtime.command_argv()[1:] == [str(tmp_path / "ft.py"), "x"]


def test_a_training_started_with_sigint_ignored_says_to_stop_it_with_sigterm(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reproducibility review: started with ``&`` from a script a run ignores SIGINT (POSIX),
    so ``kill -INT`` did nothing and nothing said why; the start now does. A later review: the
    note blamed nohup (which ignores SIGHUP only) and was printed at import, before a
    ``--help``'s usage text: it is printed by started(), once the command runs, and kept for
    the run's console.log."""
    from drac_ssl import runtime, starting

    monkeypatch.setattr(starting, "_SAID_AT_START", [])
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        starting.quiet_while_starting("train")
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # left ignored, as the user's shell set it
        assert capsys.readouterr().err == ""  # --help, --version: answered before started(), no note
        starting.started()
        starting.started()  # once
        starting.quiet_while_starting("report")  # a short command: nothing to stop
        starting.started()
    finally:
        signal.signal(signal.SIGINT, before)
    note = (f"[train] note: Ctrl-C (SIGINT) is ignored in this process (started with & from a script: no job "
            f"control); stop it with SIGTERM: kill {os.getpid()}")
    said = capsys.readouterr().err.splitlines()
    assert said == [note], said
    with runtime.console_log(tmp_path / "console.log", "==== header ====", ["[train] CPU threads: 1"]):
        pass
    assert (tmp_path / "console.log").read_text().splitlines() == ["==== header ====", note, "[train] CPU threads: 1"]
