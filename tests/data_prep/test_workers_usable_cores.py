"""``data.workers=0`` (the default, which ``python -m drac_ssl.train`` passes to the phantom
set's generation and to the ingest's decoding): the usable cores, never the machine's CPUs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_prep import cache, phantom
from drac_ssl import cpu_threads
from drac_ssl.config import DataConfig


class _CpuMax:
    """A stand-in for cpu_threads' ``Path`` whose ``/sys/fs/cgroup/cpu.max`` reads ``text``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self, where: str) -> _CpuMax:
        assert where == "/sys/fs/cgroup/cpu.max", where
        return self

    def read_text(self) -> str:
        return self.text


USABLE_2_OF_64 = [
    (range(2), "max 100000"),  # taskset -c 0,1 / a 2-core Slurm job on a 64-CPU node
    (range(64), "200000 100000"),  # docker --cpus 2 on a 64-CPU node
]


def _two_of_64(monkeypatch: pytest.MonkeyPatch, affinity: range, cpu_max: str) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(affinity), raising=False)
    monkeypatch.setattr(cpu_threads, "Path", _CpuMax(cpu_max))
    assert cpu_threads.usable_cores() == 2


@pytest.mark.parametrize("affinity, cpu_max", USABLE_2_OF_64)
def test_the_ingests_default_workers_are_the_usable_cores(
        monkeypatch: pytest.MonkeyPatch, affinity: range, cpu_max: str) -> None:
    """Review (libfix) F3: cache.resolve_workers(0) read the affinity mask but not the cgroup
    quota (64 decoding processes under ``docker --cpus 2``)."""
    _two_of_64(monkeypatch, affinity, cpu_max)
    assert DataConfig().workers == 0
    assert cache.resolve_workers(DataConfig().workers) == 2
    assert cache.resolve_workers(5) == 5


@pytest.mark.parametrize("affinity, cpu_max", USABLE_2_OF_64)
def test_the_phantom_sets_default_workers_are_the_usable_cores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, affinity: range, cpu_max: str) -> None:
    """Review (libfix) F3: phantom.generate(workers=0), which ``python -m drac_ssl.train`` calls
    with ``data.workers`` for an empty ``data.root``, started os.cpu_count() processes: 64 on 2
    usable cores. The pool is replaced by one that maps in this process and records its size."""
    _two_of_64(monkeypatch, affinity, cpu_max)
    started: list[int] = []

    @contextlib.contextmanager
    def pool_here(n: int, **_: object) -> Iterator[object]:
        started.append(n)

        class _Here:
            @staticmethod
            def map(fn: object, tasks: list[object], chunksize: int = 1) -> Iterator[object]:
                return map(fn, tasks)  # type: ignore[arg-type]

        yield _Here()

    monkeypatch.setattr(phantom, "spawn_pool", pool_here)
    phantom.generate(tmp_path / "set", n_train=6, n_test=2, seed=3, workers=DataConfig().workers,
                     size=64, progress=False)
    assert started == [2]
