"""``drac_ssl.train.main()`` called from Python (a notebook, a script) gives SIGINT's and
SIGTERM's handlers back to the caller however it ends: an interrupted run ignored further
Ctrl-C on its way out (hold_signals_for_exit) and never put the caller's handler back, so a
notebook user who had interrupted a run could no longer interrupt anything. The checks are in
the test body: conftest's autouse fixture restores the handlers only after it."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator

import pytest
from interrupted_train import interrupted_main

from drac_ssl import preflight, starting, train
from drac_ssl.starting import hold_signals_for_exit


def _int(signum: int, frame: object) -> None:
    raise AssertionError("the caller's SIGINT handler was called")


def _term(signum: int, frame: object) -> None:
    raise AssertionError("the caller's SIGTERM handler was called")


@pytest.fixture()
def callers_handlers() -> Iterator[dict[int, Callable[[int, object], None]]]:
    """A caller's own handlers, installed for the test (conftest gives the old ones back)."""
    handlers = {signal.SIGINT: _int, signal.SIGTERM: _term}
    for number, handler in handlers.items():
        signal.signal(number, handler)
    yield handlers


def _now() -> dict[int, object]:
    return {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}


@pytest.mark.parametrize("argv", [None, ["-c", "retinamnist"]], ids=["argv-None", "argv-given"])
def test_an_interrupted_main_gives_the_callers_handlers_back(
        argv: list[str] | None, callers_handlers: dict[int, object], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C while the settings are checked: 130 (with ``argv``, the KeyboardInterrupt raised
    again, carrying it), and the caller's handlers, not SIG_IGN (the old code's, with ``argv``
    None, the command line's own parse)."""
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sys, "argv", ["train", "-c", "retinamnist"])
    monkeypatch.setattr(preflight, "read_config", interrupted)
    assert (train.main(argv) if argv is None else interrupted_main(argv)) == 130
    assert "interrupted before any stage started" in capsys.readouterr().err
    assert _now() == callers_handlers
    assert starting._OWN_PROCESS == []  # a caller's process is not marked the command's own


@pytest.mark.parametrize("leaving", [SystemExit(2), RuntimeError("a bug")], ids=["SystemExit", "exception"])
def test_main_gives_the_callers_handlers_back_when_it_raises(
        leaving: BaseException, callers_handlers: dict[int, object], monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever replaced them inside (here: the exit path's hold), a SystemExit or an exception
    out of main() leaves the caller's handlers in place."""
    def held_then_left(*args: object, **kwargs: object) -> None:
        hold_signals_for_exit()
        raise leaving

    monkeypatch.setattr(preflight, "read_config", held_then_left)
    with pytest.raises(type(leaving)):
        train.main(["-c", "retinamnist"])
    assert _now() == callers_handlers


def test_a_bad_configuration_leaves_the_callers_handlers(
        callers_handlers: dict[int, object], capsys: pytest.CaptureFixture[str]) -> None:
    """A usage error (argparse's SystemExit) and a configuration that does not read (exit 2)."""
    with pytest.raises(SystemExit):
        train.main(["--no-such-option"])
    assert _now() == callers_handlers
    assert train.main(["-c", "no_such_config_anywhere"]) == 2
    assert _now() == callers_handlers
    capsys.readouterr()


def test_the_command_keeps_the_signals_held_after_an_interrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's own process (command_main, then exit_with): after an interrupt further
    Ctrl-C stays ignored until exit_with installs the teardown's handlers, so a second Ctrl-C
    cannot cut the line nor raise a traceback between the two (not given back as main's are)."""
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(starting, "_OWN_PROCESS", [])  # command_main marks it: this test's own
    monkeypatch.setattr(sys, "argv", ["train", "-c", "retinamnist"])
    monkeypatch.setattr(preflight, "read_config", interrupted)
    assert train.command_main() == 130
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["Ctrl-C", "SIGTERM"])
def test_an_interrupted_command_keeps_sigterm_ignored_too_until_exit_with(
        signum: int, code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: sigterm_as_ctrl_c gave SIGTERM's default back when the command's work returned,
    undoing the way out's hold, so a SIGTERM between that and exit_with killed the process by
    signal (atexit skipped) though command_main's docstring said it stayed ignored. Both stay
    SIG_IGN after an interrupted command_main, whichever signal stopped it."""
    import os

    def interrupted(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signum)  # Ctrl-C, or a kill: raises KeyboardInterrupt here
        raise AssertionError("the signal did not interrupt")

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a process's own: death by signal if given back
    monkeypatch.setattr(starting, "_OWN_PROCESS", [])  # command_main marks it: this test's own
    monkeypatch.setattr(sys, "argv", ["train", "-c", "retinamnist"])
    monkeypatch.setattr(preflight, "read_config", interrupted)
    assert train.command_main() == code
    assert _now() == {signal.SIGINT: signal.SIG_IGN, signal.SIGTERM: signal.SIG_IGN}
    assert "interrupted" in capsys.readouterr().err


def test_sigterm_as_ctrl_c_gives_the_previous_handler_back_unless_the_block_set_another() -> None:
    from drac_ssl.starting import sigterm_as_ctrl_c

    signal.signal(signal.SIGTERM, _term)
    with sigterm_as_ctrl_c():
        assert signal.getsignal(signal.SIGTERM) is not _term
    assert signal.getsignal(signal.SIGTERM) is _term
    with sigterm_as_ctrl_c():
        hold_signals_for_exit()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN


def test_an_interrupted_call_with_argv_raises_after_saying_it(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A notebook review: "Interrupt kernel" during ``train.main([...])`` returned 130, and
    "Run All" carried on into the next cells with a half-finished run. Called with an ``argv``
    the interrupt is said as the command says it, then raised again with the command's code;
    the command's own process (``command_main``) still returns 130 (the test above)."""
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(preflight, "read_config", interrupted)
    with pytest.raises(KeyboardInterrupt) as caught:
        train.main(["-c", "retinamnist"])
    assert caught.value.exit_code == 130
    assert "[train] interrupted before any stage started" in capsys.readouterr().err
    assert starting._OWN_PROCESS == []  # a notebook's process is not the command's own
