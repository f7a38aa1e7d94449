"""The first signal of a command's own process decides its exit code, and stopping leaves no
traceback whatever arrives with it (a review of drac_ssl.starting's own-process handling):
a Ctrl-C and a SIGTERM arriving during one long C call printed ``OSError: Signal 15 ignored
due to race condition``; the second of two signals held by interrupts_deferred, and a handler
left behind by a command that ended normally, went unnoticed by the tests."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator

import pytest

from drac_ssl import starting


def _send(signum: int) -> None:
    """The signal to this (the main) thread: a process-wide os.kill may be taken by another
    thread of the process, and run before the next line sends the second signal."""
    signal.pthread_kill(threading.get_ident(), signum)


def _callers(signum: int, frame: object) -> None:
    raise AssertionError(f"signal {signum} reached the caller's handler")


@pytest.fixture
def own_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The command's own process (as under run_command), its records this test's own."""
    monkeypatch.setattr(starting, "_OWN_PROCESS", [True])
    monkeypatch.setattr(starting, "_TERMINATED", [])
    monkeypatch.setattr(starting, "_SAID_STOPPING", [])
    before = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
              signal.SIGTERM: signal.signal(signal.SIGTERM, _callers)}
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        for number, handler in before.items():
            signal.signal(number, handler)


def test_a_ctrl_c_and_a_sigterm_arriving_together_stop_without_a_traceback(
        own_process: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # both pending at once (the main thread in a long C call): CPython runs SIGINT's handler
    # first; it must not leave the pending SIGTERM a SIG_IGN that CPython reports as a race
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(KeyboardInterrupt), starting.sigterm_as_ctrl_c():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        _send(signal.SIGTERM)
        _send(signal.SIGINT)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        for _ in range(3):  # the pending handlers run between these lines
            pass
    starting.hold_signals_if_command()  # the command's except
    assert [getattr(u, "exc_value", u) for u in unraisable] == []
    # which came first cannot be known: the Ctrl-C, whose handler ran first, decides (running.md)
    assert starting.interrupt_exit_code() == 130


def test_a_ctrl_c_then_a_sigterm_held_by_a_deferred_block_exit_as_ctrl_c(own_process: None) -> None:
    # the first held signal decides the exit code, not the last
    with pytest.raises(KeyboardInterrupt), starting.sigterm_as_ctrl_c(), starting.interrupts_deferred():
        _send(signal.SIGINT)
        _send(signal.SIGTERM)
    assert starting.interrupt_exit_code() == 130
    with pytest.raises(KeyboardInterrupt), starting.sigterm_as_ctrl_c(), starting.interrupts_deferred():
        _send(signal.SIGTERM)  # and the other way round: SIGTERM's 143
        _send(signal.SIGINT)
    assert starting.interrupt_exit_code() == 143


def test_an_own_process_command_that_ends_normally_gives_both_handlers_back(own_process: None) -> None:
    with starting.sigterm_as_ctrl_c():
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler  # its own, while it runs
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is _callers
