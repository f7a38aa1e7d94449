"""The exit code recorded for what stopped a run's stages (``invocations.jsonl``'s
``"ended": {"exit_code"}``), which a torchrun job script reads to decide whether to requeue:
75 a run busy in another process (try later), 2 bad settings or inputs (stop), 1 a failure,
130/143 an interrupt (docs/running.md, On a cluster)."""
from __future__ import annotations

import signal

import pytest

from drac_ssl import runtime, train
from drac_ssl.config import ConfigError
from drac_ssl.exit_codes import RUN_BUSY


def test_each_way_a_run_stops_is_recorded_with_the_code_the_command_returns() -> None:
    """Catches a busy run recorded as 2 ("don't requeue"): RunBusy is a ValueError, so a
    mapping that checks ValueError first (or maps it to 2) stops a job that should retry."""
    assert RUN_BUSY == 75
    assert train._exit_code_of(runtime.RunBusy("held by process 1")) == RUN_BUSY
    assert train._exit_code_of(ConfigError("bad")) == 2
    assert train._exit_code_of(ValueError("bad")) == 2
    assert train._exit_code_of(FileNotFoundError("gone")) == 2
    assert train._exit_code_of(PermissionError("no")) == 2
    assert train._exit_code_of(runtime.NonFiniteError("nan")) == 1
    assert train._exit_code_of(train.ProcessZeroFailed("p0")) == 1
    assert train._exit_code_of(RuntimeError("traceback")) == 1


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_is_recorded_with_its_signals_code(signum: int, code: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches an interrupt always recorded as 130: a SIGTERM (a scheduler's preemption) must
    read 143, which the job script requeues on."""
    monkeypatch.setattr(train, "interrupt_exit_code", lambda: code)  # as starting decides from the signal
    assert train._exit_code_of(KeyboardInterrupt()) == code
