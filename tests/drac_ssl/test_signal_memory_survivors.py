"""Mutants a reader's review left alive in the stop-signal, out-of-memory and loader-stall code:
each test here fails when its guard is removed."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import torch

from drac_ssl import runtime, starting


class _Pauses:
    """A DataLoader's iterator whose job was paused twice, apart: a timeout, a batch, a timeout,
    a batch."""

    def __init__(self) -> None:
        self.events = ["timeout", 1, "timeout", 2]

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        if not self.events:
            raise StopIteration
        event = self.events.pop(0)
        if event == "timeout":
            raise RuntimeError("DataLoader timed out after 600 seconds")
        return event


def test_two_separate_pauses_each_get_their_second_window() -> None:
    # the batch between them resets the count: neither pause is a stall
    assert list(runtime.loader_batches(_Pauses(), "pretrain", "pretrain.batch_size", "x")) == [1, 2]


def test_torch_out_of_memory_error_counts_by_its_type_whatever_its_words() -> None:
    exc = torch.OutOfMemoryError("HIP error: hipErrorOutOfMemory")  # no "CUDA out of memory" in it
    assert starting.is_out_of_memory(exc)
    assert starting.out_of_memory_words(exc, "fix it").startswith("out of GPU memory (OutOfMemoryError: HIP")


@pytest.fixture()
def handlers_kept(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The command's own process; SIGINT's and SIGTERM's handlers given back after."""
    monkeypatch.setattr(starting, "_OWN_PROCESS", [True])
    monkeypatch.setattr(starting, "_TERMINATED", [])
    kept = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGINT, kept[0])
    signal.signal(signal.SIGTERM, kept[1])


@pytest.mark.usefixtures("handlers_kept")
def test_a_ctrl_c_ignored_at_start_stays_ignored_once_stopping() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # started with & (or nohup)
    starting._first_interrupt_taken(signal.SIGTERM)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) is starting._later_sigterm


@pytest.mark.usefixtures("handlers_kept")
def test_a_callers_ctrl_c_handler_is_not_replaced() -> None:
    def callers(signum: int, frame: object) -> None:
        pass

    signal.signal(signal.SIGINT, callers)
    with starting.sigterm_as_ctrl_c():
        assert signal.getsignal(signal.SIGINT) is callers
    assert signal.getsignal(signal.SIGINT) is callers
