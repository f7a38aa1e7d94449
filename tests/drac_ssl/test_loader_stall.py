"""A tester under ``ulimit -v 4000000``: a data-loading worker hit ``RuntimeError: can't start
new thread`` (multiprocessing's resource_sharer) and the training then waited forever at 0%
CPU, its DataLoader given no ``timeout``. Every multi-worker loader of the training stages now
gives up after :data:`drac_ssl.runtime.LOADER_TIMEOUT_S` and says so in one line
(:class:`drac_ssl.runtime.LoaderStalled`): the likely cause, ``pretrain.num_workers=0``, a
with which the same command resumes, else a smaller batch or image size as a new run."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.utils.data._utils
from torch.utils.data import DataLoader, Dataset

from drac_ssl import finetune, pretrain, runtime
from drac_ssl.augment import TwoViewDataset
from drac_ssl.config import load_config
from drac_ssl.distributed import DistInfo


class _Blocks(torch.utils.data.Dataset):
    """A dataset whose items never come: each ``__getitem__`` blocks (in the worker)."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, key: object) -> torch.Tensor:
        time.sleep(60)  # ended by the loader's SIGTERM when it gives up
        return torch.zeros(1)


@pytest.fixture()
def tiny_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loader that waits 0.3 s for a batch, and ends its stuck workers 0.05 s later (torch's
    own join wait, 5 s, would make the test slow)."""
    monkeypatch.setattr(runtime, "LOADER_TIMEOUT_S", 0.3)
    monkeypatch.setattr(torch.utils.data._utils, "MP_STATUS_CHECK_INTERVAL", 0.05)


def _said(exc: pytest.ExceptionInfo[BaseException], batch_setting: str, image_setting: str) -> None:
    words = str(exc.value)
    assert "\n" not in words  # one line
    assert "stopped delivering batches" in words and "timed out" in words
    assert "pretrain.num_workers=0" in words and batch_setting in words and image_setting in words
    assert "same command with it resumes" in words and "run.reuse=RUN" in words


@pytest.mark.usefixtures("tiny_timeout")
def test_finetune_view_loader_says_workers_that_stopped_delivering() -> None:
    batches = finetune._view_loader(SimpleNamespace(workers=1), _Blocks(), np.arange(4), 0, 2)
    started = time.monotonic()
    with pytest.raises(runtime.LoaderStalled) as exc:
        next(iter(batches))
    assert time.monotonic() - started < 1.5
    _said(exc, "finetune.batch_size", "finetune.image_size")


@pytest.mark.usefixtures("tiny_timeout")
def test_pretrain_feed_says_workers_that_stopped_delivering(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TwoViewDataset, "__getitem__", _Blocks.__getitem__)
    cfg = load_config(None, [
        "pretrain.batch_size=2", "pretrain.num_workers=1", "pretrain.augment.image_size=16",
        "pretrain.augment.source_size=24", "pretrain.augment.recipe=octa", "pretrain.augment.on_gpu=false",
        "run.device=cpu"])
    images = np.zeros((4, 24, 24), dtype=np.uint8)
    feed = pretrain.TwoViewFeed(images, cfg, torch.device("cpu"), DistInfo(), stage="umm")
    try:
        with pytest.raises(runtime.LoaderStalled) as exc:
            next(feed.epoch(0))
    finally:
        feed.close()
    _said(exc, "umm.batch_size", "pretrain.augment.image_size")


class _LateOnce(torch.utils.data.Dataset):
    """A dataset whose first item comes late once (``late`` s, sleeping or ``busy`` computing),
    the rest at once: a job paused past the timeout (Slurm's suspend, ``kill -STOP``/``-CONT``),
    or a worker still at work."""

    def __init__(self, late: float, busy: bool = False) -> None:
        self.late, self.busy, self.done = late, busy, False

    def __len__(self) -> int:
        return 4

    def __getitem__(self, key: object) -> torch.Tensor:
        if not self.done:
            self.done = True
            end = time.monotonic() + self.late
            while time.monotonic() < end:
                if not self.busy:
                    time.sleep(end - time.monotonic())
        return torch.zeros(1)


@pytest.mark.usefixtures("tiny_timeout")
@pytest.mark.parametrize(("late", "busy"), [(0.45, False), (1.0, True)], ids=["paused", "busy"])
def test_a_pause_or_a_busy_worker_is_no_stall(late: float, busy: bool) -> None:
    """A pause longer than one window (0.3 s) then batches: waited for; a worker using CPU time
    for three windows: waited for too. Only no batch and no CPU time for a second window fails."""
    batches = finetune._view_loader(SimpleNamespace(workers=1), _LateOnce(late, busy), np.arange(4), 0, 2)
    assert [len(batch) for batch in batches] == [2, 2]


def test_timeout_leaves_a_slow_first_batch_alone() -> None:
    """Minutes, not seconds: a busy 2-core machine's first batch (workers started, images
    decoded and augmented) takes seconds."""
    assert runtime.LOADER_TIMEOUT_S >= 300


class _Dies(torch.utils.data.Dataset):
    """A dataset whose worker dies by ``signum`` at its first item."""

    def __init__(self, signum: int) -> None:
        self.signum = signum

    def __len__(self) -> int:
        return 4

    def __getitem__(self, key: object) -> torch.Tensor:
        os.kill(os.getpid(), self.signum)
        time.sleep(5)
        return torch.zeros(1)


@pytest.mark.usefixtures("tiny_timeout")
def test_a_worker_killed_by_sigkill_is_said_as_a_memory_limit() -> None:
    """SIGKILL: the out-of-memory killer's signal, said with the settings to lower."""
    batches = finetune._view_loader(SimpleNamespace(workers=1), _Dies(signal.SIGKILL), np.arange(4), 0, 2)
    with pytest.raises(runtime.LoaderStalled, match="stopped delivering batches") as exc:
        next(iter(batches))
    assert "DataLoader worker (pid" in str(exc.value.__cause__)


@pytest.mark.usefixtures("tiny_timeout")
def test_a_worker_that_crashed_is_no_memory_limit() -> None:
    """A segmentation fault is a crash, not a memory limit: torch's error as it is (a traceback)."""
    batches = finetune._view_loader(SimpleNamespace(workers=1), _Dies(signal.SIGSEGV), np.arange(4), 0, 2)
    with pytest.raises(RuntimeError, match="DataLoader worker") as exc:
        next(iter(batches))
    assert not isinstance(exc.value, runtime.LoaderStalled)


def test_workers_cpu_time_is_read_from_proc_or_said_unknown() -> None:
    """/proc/PID/stat's utime + stime of the workers; None where it cannot be read (then two
    timeouts in a row are a stall)."""
    if not Path(f"/proc/{os.getpid()}/stat").is_file():
        pytest.skip("no /proc")
    start = runtime.workers_cpu_seconds(SimpleNamespace(_workers=[SimpleNamespace(pid=os.getpid())]))
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    spent = runtime.workers_cpu_seconds(SimpleNamespace(_workers=[SimpleNamespace(pid=os.getpid())]))
    assert start is not None and spent is not None and spent > start
    assert runtime.workers_cpu_seconds(SimpleNamespace(_workers=[])) is None
    assert runtime.workers_cpu_seconds(SimpleNamespace(_workers=[SimpleNamespace(pid=2**22 + 7)])) is None


class _ExitsItself(Dataset):
    """A worker that quits by itself (a library's exit(3)), not killed by a signal."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> int:
        os._exit(3)


def test_a_worker_that_exits_by_itself_is_not_blamed_on_memory() -> None:
    """A review: torch's "exited unexpectedly" names no signal; a worker's own exit code 3 was
    said as "most likely a memory or thread limit" with batch-size advice."""
    with pytest.raises(runtime.LoaderStalled) as stalled:
        for _ in runtime.loader_batches(DataLoader(_ExitsItself(), num_workers=1), "finetune"):
            pass
    said = str(stalled.value)
    assert "a worker process exited by itself with code 3" in said and "its own message above says why" in said
    assert "memory" not in said and "finetune.batch_size" not in said
