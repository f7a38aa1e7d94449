"""A notebook review: docs/python.md promised that ``multiprocessing.set_start_method(...)``
still works after a call off a terminal, but a training made a tqdm bar however it was
disabled (its ``multiprocessing`` lock) and its DataLoader workers started from the process's
default context: both fix the start method for good (``RuntimeError: context has already been
set`` when the host then chose one). The pretraining's steps (the engine's bar, the CPU feed's
worker processes), the fine-tuning's view loader and the k-NN embedding now leave it unset."""

from __future__ import annotations

import io
import multiprocessing
import multiprocessing.context
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from drac_ssl import finetune, pretrain
from drac_ssl.config import load_config
from drac_ssl.distributed import DistInfo
from drac_ssl.engine import Engine, Monitor, TrainingTask
from drac_ssl.evaluation import embed_images
from drac_ssl.runtime import worker_context


@pytest.fixture()
def start_method_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's default context as in a fresh host process: no start method chosen yet
    (the test process may have fixed it; the old one is given back after the test), and no
    thread left by an earlier test that could fix it meanwhile."""
    import tqdm._monitor
    import tqdm.auto
    import tqdm.std

    # no tqdm monitor thread either: an earlier test's bar started one, which tqdm keeps for the
    # process's life; it wakes every 10 s and takes tqdm's lock (tqdm_cls.get_lock()), making the
    # lock deleted below anew, which fixed the start method when a wake fell within the test (a
    # flaky 'fork' in a whole-suite run). Stopped first; the next bar starts a new one.
    for thread in threading.enumerate():
        if isinstance(thread, tqdm._monitor.TMonitor):
            thread.exit()
    monkeypatch.setattr(multiprocessing.context._default_context, "_actual_context", None)
    # and no tqdm made yet: the first one creates tqdm's multiprocessing lock, once per process
    for cls, name in ((tqdm.std.TqdmDefaultWriteLock, "mp_lock"), (tqdm.std.tqdm, "_lock"), (tqdm.auto.tqdm, "_lock")):
        if name in vars(cls):
            monkeypatch.delattr(cls, name)
    assert multiprocessing.get_start_method(allow_none=True) is None


class FeedTask(TrainingTask):
    """One epoch of two steps over the pretraining's CPU feed with 2 worker processes."""

    keys = watched = ("loss",)
    steps_per_epoch = 2
    pairs_per_step = 4

    def __init__(self) -> None:
        cfg = load_config(None, [
            "pretrain.batch_size=4", "pretrain.num_workers=2", "pretrain.max_steps_per_epoch=2",
            "pretrain.augment.image_size=16", "pretrain.augment.source_size=24", "pretrain.augment.recipe=octa",
            "pretrain.augment.on_gpu=false", "run.device=cpu"])
        images = np.random.default_rng(0).integers(0, 256, size=(8, 24, 24), dtype=np.uint8)
        self.feed = pretrain.TwoViewFeed(images, cfg, torch.device("cpu"), DistInfo())
        assert self.feed.workers == 2

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.feed.epoch(epoch)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        return {"loss": (batch[0] - batch[1]).abs().mean()}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        self.feed.close()


@pytest.mark.usefixtures("start_method_unset")
def test_pretraining_steps_with_workers_off_a_terminal_leave_the_start_method_unset(tmp_path: Path) -> None:
    """The engine's epoch (its bar: none off a terminal) over the CPU feed's workers."""
    result = Engine("pretrain", tmp_path, epochs=1, monitor=Monitor("loss", mode="min"), config={}, seed=0).run(FeedTask())
    assert result.stopped == "completed all epochs" and len(result.history) == 1
    assert multiprocessing.get_start_method(allow_none=True) is None


@pytest.mark.usefixtures("start_method_unset")
def test_the_fine_tuning_view_loader_and_the_knn_embedding_leave_the_start_method_unset() -> None:
    class Keyed(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
            return torch.full((2,), float(key[0])), key[0]

    loader = finetune._view_loader(SimpleNamespace(workers=2), Keyed(), np.arange(4), seed=1, batch_size=2)
    assert [y.tolist() for _, y in loader] == [[0, 1], [2, 3]]
    images = np.zeros((4, 8, 8), dtype=np.uint8)
    feats = embed_images(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)), images, "octa", 8,
                         torch.device("cpu"), batch_size=2, progress="k-NN")
    assert feats.shape == (4, 3)
    assert multiprocessing.get_start_method(allow_none=True) is None


@pytest.mark.usefixtures("start_method_unset")
def test_worker_context_is_the_hosts_choice_or_the_platforms_default() -> None:
    assert worker_context() is multiprocessing.get_context(multiprocessing.get_all_start_methods()[0])
    assert multiprocessing.get_start_method(allow_none=True) is None
    multiprocessing.set_start_method("spawn")
    assert worker_context() is multiprocessing.get_context("spawn")


def test_the_fixture_stops_a_tqdm_monitor_left_by_an_earlier_test(
        request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole-suite run failed once with 'fork': an earlier test's tqdm monitor thread woke
    within the test and made tqdm's lock anew. Here a monitor waking every 20 ms, as the
    earlier test leaves it (a bar made and closed), then the fixture: still unset 0.3 s on."""
    import tqdm.std

    context = multiprocessing.context._default_context
    monkeypatch.setattr(context, "_actual_context", context._actual_context)  # given back after
    for cls, name in ((tqdm.std.TqdmDefaultWriteLock, "mp_lock"), (tqdm.std.tqdm, "_lock")):
        if name in vars(cls):  # the bar below may make them: the ones before are given back
            monkeypatch.setattr(cls, name, vars(cls)[name])

    class EarlierBar(tqdm.std.tqdm):  # its own monitor (tqdm.std.tqdm's may be asleep for 10 s)
        monitor_interval, monitor = 0.02, None

    tqdm.std.tqdm.get_lock()  # on tqdm's class, as an earlier plain bar leaves it (not on EarlierBar)
    EarlierBar(total=1, file=io.StringIO()).close()
    assert EarlierBar.monitor is not None and EarlierBar.monitor.is_alive()
    request.getfixturevalue("start_method_unset")
    time.sleep(0.3)
    assert multiprocessing.get_start_method(allow_none=True) is None
    assert not EarlierBar.monitor.is_alive()
