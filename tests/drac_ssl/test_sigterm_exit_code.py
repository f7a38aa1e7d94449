"""A CLI review (F1): a SIGTERM (kill, a scheduler's limit) stopped ``python -m drac_ssl.train``
with exit code 143, ``python -m data_prep ingest`` / ``phantom`` / ``flatten`` with 130 (Ctrl-C's:
a script could not tell the two apart), and killed ``export``, ``compare`` and ``report`` by the
signal with nothing said. Each now stops as on Ctrl-C (its "interrupted ... rerun" line) and
exits 143. In-process: the command's own work is replaced by a SIGTERM to this process."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import data_prep.__main__ as data_prep_main
from data_prep import flatten, ingest, phantom
from drac_ssl import compare, export, name_tags, report, runtime, starting


class SigtermUnhandled(Exception):
    """Raised by the test's own SIGTERM handler: the command did not take SIGTERM as Ctrl-C."""


def _unhandled(signum: int, frame: object) -> None:
    raise SigtermUnhandled


@pytest.fixture
def sigterm_guarded(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A SIGTERM no command handles raises SigtermUnhandled here instead of killing pytest (and
    the SIGTERM remembered for the exit code is this test's own: later tests see Ctrl-C's 130)."""
    monkeypatch.setattr(starting, "_TERMINATED", [])
    before = signal.signal(signal.SIGTERM, _unhandled)
    before_int = signal.getsignal(signal.SIGINT)  # a command holding signals ignores Ctrl-C too
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
        signal.signal(signal.SIGINT, before_int)


def _sigterm(*args: object, **kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # the handler runs as os.kill returns


def _cases(tmp: Path) -> dict[str, tuple[list[tuple[object, str]], Callable[[], int]]]:
    (tmp / "root").mkdir()
    return {
        "ingest": ([(ingest, "refuse_early"), (ingest, "run")],
                   lambda: data_prep_main.main(["ingest", "--root", str(tmp / "root"), "--out", str(tmp / "out")])),
        "phantom": ([(phantom, "generate")], lambda: data_prep_main.main(["phantom", "--out", str(tmp / "ph")])),
        "flatten": ([(flatten, "flatten")],
                    lambda: data_prep_main.main(["flatten", "--root", str(tmp / "root"), "--out", str(tmp / "flat")])),
        "export": ([(runtime, "apply_thread_policy")],
                   lambda: export.main([str(tmp / "run"), "--images", str(tmp / "root"), "--out", str(tmp / "s.csv")])),
        "compare": ([(compare, "compare_runs")], lambda: compare.main([str(tmp / "a"), str(tmp / "b")])),
        "report": ([(report, "run_folder_problem")], lambda: report.main([str(tmp / "run")])),
    }


@pytest.mark.parametrize("command", ["ingest", "phantom", "flatten", "export", "compare", "report"])
def test_a_sigterm_stops_every_command_as_ctrl_c_with_exit_code_143(
        command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        sigterm_guarded: None) -> None:
    patched, call = _cases(tmp_path)[command]
    for module, name in patched[:-1]:
        monkeypatch.setattr(module, name, lambda *args, **kwargs: None)
    module, name = patched[-1]
    monkeypatch.setattr(module, name, _sigterm)
    assert call() == 143
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err, err
    if command == "flatten":  # which folder to remove (a review F5: "the output folder")
        assert f"output folder {tmp_path / 'flat'} is incomplete" in err, err
    assert signal.getsignal(signal.SIGTERM) is _unhandled  # the caller's handler given back


class _SignalledStderr(io.StringIO):
    """stderr whose first write gets a second SIGTERM: a scheduler's kill 20 ms after the first,
    while the command says it was interrupted (a review F1: exit -15, the line cut)."""

    signalled = False

    def write(self, text: str) -> int:
        if not self.signalled:
            self.signalled = True
            signal.raise_signal(signal.SIGTERM)  # its handler runs here, in this thread
        return super().write(text)


@pytest.mark.parametrize("command", ["ingest", "phantom", "flatten", "export", "compare", "report"])
def test_a_second_sigterm_while_stopping_cannot_kill_the_command(
        command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sigterm_guarded: None) -> None:
    patched, call = _cases(tmp_path)[command]
    for module, name in patched[:-1]:
        monkeypatch.setattr(module, name, lambda *args, **kwargs: None)
    module, name = patched[-1]
    monkeypatch.setattr(module, name, _sigterm)
    monkeypatch.setattr(starting, "_OWN_PROCESS", [True])  # as under python -m (run_command)
    stderr = _SignalledStderr()
    monkeypatch.setattr(sys, "stderr", stderr)
    try:
        code = call()
    except (KeyboardInterrupt, SigtermUnhandled) as exc:  # the second SIGTERM not held
        pytest.fail(f"the second SIGTERM escaped: {exc!r}")
    assert code == 143
    assert "interrupted" in stderr.getvalue()


def test_a_sigterm_after_the_command_finished_leaves_with_its_exit_code() -> None:
    # the interpreter's teardown (torch's atexit handlers) got the SIGTERM: exit -15, not 0
    script = ("import atexit, signal\n"
              "from drac_ssl.starting import run_command\n"
              "atexit.register(signal.raise_signal, signal.SIGTERM)\n"
              "run_command(lambda: 0)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done


def test_run_command_marks_the_process_as_the_commands_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # the other tests set _OWN_PROCESS themselves: run_command itself must set it, else a
    # command under python -m never holds a second signal (hold_signals_if_command)
    monkeypatch.setattr(starting, "_OWN_PROCESS", [])
    monkeypatch.setattr(starting, "exit_on_signal", lambda code: None)  # pytest's handlers kept
    with pytest.raises(SystemExit) as ended:
        starting.run_command(lambda: 0 if starting._OWN_PROCESS == [True] else 5)
    assert ended.value.code == 0


def test_a_sigterm_under_log_names_tag_exits_143(sigterm_guarded: None, capsys: pytest.CaptureFixture[str]) -> None:
    # a review (F3): tagged_console said Ctrl-C's 130 for a SIGTERM, in the block and while
    # the names were gathered
    environ = {name_tags.KEY_ENV: "9f3c0e7a51d24b86c0ffee1d2a7b5e43"}
    with pytest.raises(SystemExit) as ended:
        with starting.sigterm_as_ctrl_c(), name_tags.tagged_console(["Doe.png"], environ=environ):
            signal.raise_signal(signal.SIGTERM)
    assert ended.value.code == 143

    def gathered() -> list[str]:
        signal.raise_signal(signal.SIGTERM)
        return []

    with pytest.raises(SystemExit) as ended:
        with starting.sigterm_as_ctrl_c(), name_tags.tagged_console(gathered, environ=environ):
            pytest.fail("the block ran")
    assert ended.value.code == 143 and "interrupted" in capsys.readouterr().err


def test_a_second_sigterm_before_the_command_catches_the_first_is_ignored(
        sigterm_guarded: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # the window between the first SIGTERM's KeyboardInterrupt and the command's except (a
    # pool's shutdown while the stack unwinds): a second one there raised again, exit -2
    monkeypatch.setattr(starting, "_OWN_PROCESS", [True])
    with starting.sigterm_as_ctrl_c():
        try:
            signal.raise_signal(signal.SIGTERM)
        except KeyboardInterrupt:
            try:
                signal.raise_signal(signal.SIGTERM)
            except (KeyboardInterrupt, SigtermUnhandled) as exc:
                pytest.fail(f"the second SIGTERM escaped: {exc!r}")
    assert starting.interrupt_exit_code() == 143


def test_a_second_sigterm_after_a_deferred_one_is_ignored_too(
        sigterm_guarded: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # a reader of the cli_fx merge (F2): interrupts_deferred (export's renames) put
    # _sigterm_interrupts back and raised, so a second SIGTERM while unwinding raised again
    monkeypatch.setattr(starting, "_OWN_PROCESS", [True])
    with starting.sigterm_as_ctrl_c():
        try:
            with starting.interrupts_deferred():
                signal.raise_signal(signal.SIGTERM)  # held until the block ends
        except KeyboardInterrupt:
            try:
                signal.raise_signal(signal.SIGTERM)
            except (KeyboardInterrupt, SigtermUnhandled) as exc:
                pytest.fail(f"the second SIGTERM escaped: {exc!r}")
        else:
            pytest.fail("the held SIGTERM was not raised after the block")
    assert starting.interrupt_exit_code() == 143


def test_a_second_signal_while_scoring_stops_cannot_kill_it(
        monkeypatch: pytest.MonkeyPatch, sigterm_guarded: None) -> None:
    # a reader of the cli_fx merge (F7): export --score's except KeyboardInterrupt alone did not
    # hold further signals, as the six other commands' do
    import argparse

    from drac_ssl import commands, scoring

    class CtrlCWhileSaying(io.StringIO):  # a Ctrl-C after the SIGTERM, while the line is said
        def write(self, text: str) -> int:
            signal.raise_signal(signal.SIGINT)
            return super().write(text)

    monkeypatch.setattr(commands, "score_arguments_problem", _sigterm)
    monkeypatch.setattr(starting, "_OWN_PROCESS", [True])
    stderr = CtrlCWhileSaying()
    monkeypatch.setattr(sys, "stderr", stderr)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # sigterm_guarded gives pytest's back
    try:
        with starting.sigterm_as_ctrl_c():
            code = scoring.score_command(argparse.Namespace(), [])
    except (KeyboardInterrupt, SigtermUnhandled) as exc:
        pytest.fail(f"the second signal escaped: {exc!r}")
    assert code == 143 and "interrupted: nothing was scored" in stderr.getvalue()


def test_a_sigterm_while_starting_exits_143_with_one_line() -> None:
    # a reader of the cli_fx merge (F5): the exit tables say 143, but a SIGTERM during the
    # imports (before sigterm_as_ctrl_c) killed the command by the signal (-15), nothing said
    script = ("import os, signal, time\n"
              "from drac_ssl.starting import quiet_while_starting, started\n"
              "quiet_while_starting('report')\n"
              "os.kill(os.getpid(), signal.SIGTERM)\n"
              "time.sleep(5)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 143 and "[report] interrupted while starting" in done.stderr, done


def test_started_gives_sigterm_its_default_action_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(starting, "_PROG", [])
    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    before_int = signal.getsignal(signal.SIGINT)
    try:
        starting.quiet_while_starting("report")
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        starting.started()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, before)
        signal.signal(signal.SIGINT, before_int)
