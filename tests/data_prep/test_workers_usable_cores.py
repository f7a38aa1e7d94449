"""``data.workers=0`` (the default, which ``python -m drac_ssl.train`` passes to the phantom
set's generation and to the ingest's decoding): the usable cores, never the machine's CPUs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_prep import cache, phantom
from drac_ssl.config import DataConfig
from tests.helpers.usable_cores import USABLE_2_OF_64, two_usable_of_64


@pytest.mark.parametrize("affinity, cpu_max", USABLE_2_OF_64)
def test_the_ingests_default_workers_are_the_usable_cores(
        monkeypatch: pytest.MonkeyPatch, affinity: range, cpu_max: str) -> None:
    """Review (libfix) F3: cache.resolve_workers(0) read the affinity mask but not the cgroup
    quota (64 decoding processes under ``docker --cpus 2``)."""
    two_usable_of_64(monkeypatch, affinity, cpu_max)
    assert DataConfig().workers == 0
    assert cache.resolve_workers(DataConfig().workers) == 2
    assert cache.resolve_workers(5) == 5


@pytest.mark.parametrize("affinity, cpu_max", USABLE_2_OF_64)
def test_the_phantom_sets_default_workers_are_the_usable_cores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, affinity: range, cpu_max: str) -> None:
    """Review (libfix) F3: phantom.generate(workers=0), which ``python -m drac_ssl.train`` calls
    with ``data.workers`` for an empty ``data.root``, started os.cpu_count() processes: 64 on 2
    usable cores. The pool is replaced by one that maps in this process and records its size."""
    two_usable_of_64(monkeypatch, affinity, cpu_max)
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
