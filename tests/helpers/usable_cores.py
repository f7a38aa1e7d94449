"""Make :func:`drac_ssl.cpu_threads.usable_cores` see 2 usable cores on a 64-CPU machine, by the
affinity mask or by the cgroup CPU quota (``/sys/fs/cgroup/cpu.max``), for the tests of the
worker counts that must follow the usable cores, never ``os.cpu_count()``."""

from __future__ import annotations

import os

import pytest

from drac_ssl import cpu_threads


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


def two_usable_of_64(monkeypatch: pytest.MonkeyPatch, affinity: range, cpu_max: str) -> None:
    """64 CPUs, of which ``affinity`` are allowed and ``cpu_max`` is the quota (one case of
    :data:`USABLE_2_OF_64`): 2 usable cores, asserted."""
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(affinity), raising=False)
    monkeypatch.setattr(cpu_threads, "Path", _CpuMax(cpu_max))
    assert cpu_threads.usable_cores() == 2
