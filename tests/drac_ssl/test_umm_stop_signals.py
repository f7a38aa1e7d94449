"""Stopping ``python -m drac_ssl.umm`` by signal, as the other commands stop (a session's open
item): a SIGTERM (kill, a scheduler's limit) killed it by the signal with nothing said and
``stages`` of its run folder unknown; now it says what was saved, as a Ctrl-C does, and exits
143 (130 stays Ctrl-C's). Its entries run through :func:`drac_ssl.starting.run_command`, so a
second signal while it stops cannot cut its line. And, for every command of its own process, a
second Ctrl-C while the first one's stop still unwinds (a checkpoint being written) is
answered with one "already stopping" line instead of a second KeyboardInterrupt (a traceback,
the save cut short)."""

from __future__ import annotations

import os
import runpy
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from drac_ssl import starting
from drac_ssl.umm import cli as umm_cli
from drac_ssl.umm import stage as umm_stage

ROOT = Path(__file__).resolve().parents[2]


class SignalUnhandled(Exception):
    """Raised by the test's own handler: the signal reached the caller's handler."""


def _unhandled(signum: int, frame: object) -> None:
    raise SignalUnhandled(signum)


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A SIGTERM nothing takes raises SignalUnhandled here instead of killing pytest; the
    process's SIGTERM record and its "already stopping" line are this test's own."""
    monkeypatch.setattr(starting, "_TERMINATED", [])
    monkeypatch.setattr(starting, "_SAID_STOPPING", [], raising=False)
    monkeypatch.setattr(starting, "_OWN_PROCESS", [])
    before = signal.signal(signal.SIGTERM, _unhandled)
    before_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
        signal.signal(signal.SIGINT, before_int)


def _umm_args(tmp_path: Path) -> list[str]:
    checkpoint = tmp_path / "start.pt"
    torch.save({"model": {"w": torch.zeros(1)}}, checkpoint)
    return [str(checkpoint), "--run-dir", str(tmp_path / "run"), "run.device=cpu"]


def _umm_run_killed(cfg, run_dir, **kwargs):  # type: ignore[no-untyped-def]
    """The stage, stopped by a SIGTERM in its first epoch (the handler runs as os.kill returns)."""
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("the SIGTERM did not stop the stage")


def test_a_sigterm_stops_umm_as_ctrl_c_with_exit_code_143(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        guarded: None) -> None:
    monkeypatch.setattr(umm_stage, "run", _umm_run_killed)  # cli.main imports it after parsing
    args = _umm_args(tmp_path)
    monkeypatch.setattr(sys, "argv", ["drac_ssl.umm", *args])
    assert umm_cli.main() == 143  # the command line's own call: the code, no traceback
    err = capsys.readouterr().err
    assert "[umm] interrupted" in err and "rerun the same command" in err, err
    assert signal.getsignal(signal.SIGTERM) is _unhandled  # not its own process: given back
    # a call from Python: said the same, then raised again carrying the command's code
    with pytest.raises(KeyboardInterrupt) as caught:
        umm_cli.main(args)
    assert caught.value.exit_code == 143  # type: ignore[attr-defined]
    assert starting._OWN_PROCESS == []  # a caller's process is not marked the command's own
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # a caller's Ctrl-C untouched


@pytest.mark.parametrize("entry", ["drac_ssl.umm", "drac_ssl.umm.cli"])
def test_umm_runs_as_the_commands_own_process(
        entry: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], guarded: None) -> None:
    # both entries (python -m drac_ssl.umm, and the cli module run as a script) mark the
    # process the command's own (a second signal held while it stops) and exit with main's code
    monkeypatch.setattr(sys, "argv", [entry, "--version"])  # main() answers it and exits 0
    with warnings.catch_warnings(), pytest.raises(SystemExit) as left:
        warnings.simplefilter("ignore", RuntimeWarning)  # runpy: drac_ssl.umm.cli already imported
        runpy.run_module(entry, run_name="__main__", alter_sys=True)
    assert left.value.code in (0, None)
    assert "drac_ssl " in capsys.readouterr().out
    assert starting._OWN_PROCESS == [True]  # guarded's own list: given back after the test


def test_a_second_sigterm_while_umm_stops_cannot_cut_its_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        guarded: None) -> None:
    def killed_twice(cfg, run_dir, **kwargs):  # type: ignore[no-untyped-def]
        try:
            _umm_run_killed(cfg, run_dir)
        finally:  # the stage's unwinding (its checkpoint, its lock): a scheduler's second kill
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(umm_stage, "run", killed_twice)
    monkeypatch.setattr(starting, "_OWN_PROCESS", [True])  # as under python -m (run_command)
    monkeypatch.setattr(sys, "argv", ["drac_ssl.umm", *_umm_args(tmp_path)])
    try:
        code = umm_cli.main()
    except (KeyboardInterrupt, SignalUnhandled) as exc:
        pytest.fail(f"the second SIGTERM escaped: {exc!r}")
    assert code == 143
    assert "[umm] interrupted" in capsys.readouterr().err


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_a_second_signal_while_a_ctrl_c_unwinds_is_not_raised(
        second: int, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], guarded: None) -> None:
    """A Ctrl-C, then another (or a SIGTERM) while the first one's stack unwinds (a checkpoint
    being written in a ``finally``), in a command's own process: the first decides the exit
    code (130), the second is not raised; a second Ctrl-C says the stop is under way, once."""
    monkeypatch.setattr(starting, "_OWN_PROCESS", [True])
    saved: list[str] = []
    with pytest.raises(KeyboardInterrupt), starting.sigterm_as_ctrl_c():
        try:
            os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C: raises as os.kill returns
        finally:
            os.kill(os.getpid(), second)  # pressed again while it saves
            os.kill(os.getpid(), second)
            saved.append("last.pt")  # the save goes on to its end
    assert saved == ["last.pt"]
    assert starting.interrupt_exit_code() == 130
    err = capfd.readouterr().err
    if second == signal.SIGINT:
        line = "already stopping; saving what was done, then the line that says what was saved"
        assert err.count(line) == 1, err
        # it ends with how to stop it at once, this process's id in it
        assert err.rstrip().endswith(f"(Ctrl-C again is ignored; to force: kill -9 {os.getpid()})"), err
        running = " ".join((ROOT / "docs" / "running.md").read_text(encoding="utf-8").split())
        assert f"{line} (Ctrl-C again is ignored; to force: kill -9 PID)" in running  # the line documented
    # the command's except then holds both until the exit
    starting.hold_signals_if_command()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_the_already_stopping_line_reaches_the_run_folders_console_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], guarded: None) -> None:
    """debts81: a second Ctrl-C's "already stopping" line was written to stderr's descriptor
    only, so the run folder's console.log (which copies sys.stderr) lacked it; it is appended
    there too, once, before the words the interrupt ends the log with."""
    from drac_ssl import runtime

    monkeypatch.setattr(starting, "_OWN_PROCESS", [True])
    monkeypatch.setattr(starting, "_PROG", ["train"])  # the command's name, whatever ran before
    log = tmp_path / "console.log"
    with pytest.raises(KeyboardInterrupt), runtime.console_log(log, "==== header ===="), \
            starting.sigterm_as_ctrl_c():
        try:
            print("[train] pretrain epoch 1", file=sys.stderr)
            os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # pressed again while it saves
    line = "already stopping; saving what was done, then the line that says what was saved"
    assert capfd.readouterr().err.count(line) == 1  # the terminal's, as before
    said = log.read_text(encoding="utf-8").splitlines()
    assert [n for n, text in enumerate(said) if line in text] == [2], said  # after the epoch's line
    assert said[2] == f"[train] {line} (Ctrl-C again is ignored; to force: kill -9 {os.getpid()})", said
    assert len(said) == 4 and "interrupted" in said[3], said  # the interrupt's words last
    assert starting._CONSOLE_LOG_FD == []  # forgotten with the log: a later file may reuse it


def test_the_already_stopping_line_starts_a_line_of_its_own_in_console_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], guarded: None) -> None:
    """debts81 F2: after output that had not ended its line (``progress 45%``), the log's
    "already stopping" line ran into it (``progress 45%[train] already stopping; ...``): it
    starts a line of its own, as the terminal's does (after the echoed ^C)."""
    from drac_ssl import runtime

    monkeypatch.setattr(starting, "_OWN_PROCESS", [True])
    monkeypatch.setattr(starting, "_PROG", ["train"])
    log = tmp_path / "console.log"
    with pytest.raises(KeyboardInterrupt), runtime.console_log(log, "==== header ===="), \
            starting.sigterm_as_ctrl_c():
        try:
            print("progress 45%", end="", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGINT)
        finally:
            os.kill(os.getpid(), signal.SIGINT)
    capfd.readouterr()
    said = log.read_text(encoding="utf-8").splitlines()
    assert said[1] == "progress 45%" and said[2].startswith("[train] already stopping; "), said


def test_train_command_marks_its_process_with_the_one_flag(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], guarded: None) -> None:
    """train's command line and the run_command commands (umm among them) share one flag of
    the command's own process (starting.mark_own_process), not train's own (argv None): so
    the first interrupt of ``python -m drac_ssl.train`` holds a second one while it unwinds."""
    from drac_ssl import preflight, train

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sys, "argv", ["train", "-c", "retinamnist"])
    monkeypatch.setattr(preflight, "read_config", interrupted)
    assert train.command_main() == 130
    assert starting._OWN_PROCESS == [True]
    assert "interrupted before any stage started" in capsys.readouterr().err
