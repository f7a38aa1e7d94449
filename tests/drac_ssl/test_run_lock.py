"""The run folder's lock: a lock held for a moment (``run_state.held_by`` looking whether a
training holds it) does not refuse a training, and that look opens the file for writing (an
NFS flock is a POSIX lock, which needs it)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from drac_ssl import run_state, runtime
from drac_ssl.io import try_lock


@pytest.mark.skipif(os.name == "nt", reason="flock: two opens of one file in one process conflict on POSIX")
def test_a_lock_held_for_a_moment_does_not_refuse_the_run(tmp_path: Path) -> None:
    """A review: held_by takes the lock for an instant; a training trying it then was refused
    as 'already running', naming nobody (3.6 % of attempts in a tight race). hold_run now
    waits up to LOCK_RETRY_S for a lock held that briefly."""
    fd = os.open(tmp_path / runtime.RUN_LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    assert try_lock(fd)  # another open of the file holds it, as held_by's does
    timer = threading.Timer(runtime.LOCK_RETRY_S / 5, os.close, args=(fd,))
    timer.start()
    try:
        with runtime.hold_run(tmp_path) as warnings:
            assert warnings == []
    finally:
        timer.join()
    # held longer than that: still refused, as a run in progress is
    fd = os.open(tmp_path / runtime.RUN_LOCK, os.O_RDWR)
    try:
        assert try_lock(fd)
        with pytest.raises(runtime.RunBusy), runtime.hold_run(tmp_path):
            pass
    finally:
        os.close(fd)


def test_held_by_opens_the_lock_for_writing_and_writes_nothing(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """On NFS an exclusive flock needs the file open for writing (flock(2)): a read-only look
    failed there, and every unfinished run read as 'still running'."""
    lock = tmp_path / runtime.RUN_LOCK
    lock.write_text('{"tool": "drac_ssl.train", "pid": 1}\n')
    before = lock.read_bytes()
    flags: list[int] = []
    real_open = os.open

    def spy(path, mode, *args):  # type: ignore[no-untyped-def]
        if Path(path) == lock:
            flags.append(mode)
        return real_open(path, mode, *args)

    monkeypatch.setattr(run_state.os, "open", spy)
    assert run_state.held_by(tmp_path) is None  # nobody holds it
    assert flags and flags[0] & os.O_ACCMODE == os.O_RDWR and not flags[0] & os.O_CREAT, flags
    assert lock.read_bytes() == before


def test_an_unfinished_run_is_busy_while_its_training_runs_else_refused() -> None:
    # one rule for the export's three refusals and bundle_folder's (each had its own): exit 75
    # (RunBusy, try again later) while a live training holds the run, else the caller's exit 2
    from drac_ssl.grading.bundle_folder import BundleBusy

    running = run_state.Unfinished("its training is still running", "wait", True)
    with pytest.raises(runtime.RunBusy, match="^RUN: not yet$"):
        running.refused("RUN: not yet")
    with pytest.raises(BundleBusy):
        running.refused("RUN: not yet", busy=BundleBusy)
    assert run_state.Unfinished("interrupted", "resume", False).refused("RUN: not yet") == "RUN: not yet"
