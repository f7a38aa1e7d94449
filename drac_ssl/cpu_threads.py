"""CPU threads of a process, without torch: the package's policy (how many) and OpenCV's share.

:func:`drac_ssl.runtime.apply_thread_policy` sets torch's and OpenCV's threads for the
commands that run torch (train, export, the app, the benches). ``python -m data_prep``
(ingest, phantom) runs no torch: OpenCV decodes and resizes (in this process; its workers run
one thread each, :mod:`data_prep.cache`), so it calls :func:`apply_opencv_threads`, the same
count by the same rule, and never imports torch (2-5 s of its start). Only the standard
library is imported at the top; OpenCV when the threads are set.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any


def usable_cores() -> int:
    """CPU cores this process may run on: its affinity mask (``taskset``, Slurm, Kubernetes
    cpusets), capped by a cgroup v2 CPU quota (``docker --cpus``) when one is set."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


MAX_DEFAULT_THREADS = 4
"""Upper bound of the default: ResNet-18 at batch 1 (the app) gains little beyond it, and the
cores beyond it are better left to DataLoader workers and to other processes."""

def default_threads(cores: int | None = None) -> int:
    """The package's default number of torch/OpenCV threads: half the usable cores, at least 1
    and at most :data:`MAX_DEFAULT_THREADS` (2 cores -> 1, 4 -> 2, 8 or more -> 4).

    Why not torch's own default (one thread per core): a parallel region of an intra-op
    operation ends when its slowest thread ends, and a thread that shares its core with
    another busy process waits for the scheduler, at every one of the ~100 operations of a
    ResNet forward pass. Measured on the shared 2-core development machine
    (``python -m bench.threads``, ``bench/results/threads.json``; 1-minute load average ~7,
    i.e. other people's jobs were running throughout), seconds per call, median of 5
    interleaved repeats:

    ===============================================  =========  ==========
    ResNet-18, CPU                                   1 thread   2 threads
    ===============================================  =========  ==========
    prediction, 1 x 1 x 224 x 224                    0.20       2.29
    prediction, one more busy process                0.31       2.32
    training step, 32 x 1 x 64 x 64                  1.37       7.15
    training step, one more busy process             1.65       6.11
    ===============================================  =========  ==========

    (the issue that asked for this policy saw one app prediction go from 0.08 s to 3.7 s the
    same way). With half the cores a process keeps its speed until its neighbours take more
    than the other half; with one thread, no number of neighbours can do worse than share
    its core fairly. The price on an idle machine is the speed-up of the cores left unused:
    at most 2x on 2 cores (perfect scaling; this machine was never idle to measure it).
    Serving (app, export) and training use the same rule: on a shared machine neither can
    assume idle cores, and the training stages' DataLoader workers want cores of their own.

    Override with ``run.threads`` / ``--threads N`` (any entry point) or the environment
    variable ``OMP_NUM_THREADS``.
    """
    cores = usable_cores() if cores is None else cores
    return max(1, min(MAX_DEFAULT_THREADS, cores // 2))


def thread_count(threads: int | None = None, cores: int | None = None) -> tuple[int, str]:
    """How many CPU threads the policy gives, and why: ``(N, source)``.

    ``threads``: ``N > 0`` is taken as it is (``setting``: ``run.threads`` / ``--threads``);
    ``0`` or None: ``OMP_NUM_THREADS`` when it is a positive integer, else
    :func:`default_threads` of ``cores`` (default :func:`usable_cores`). Raises ValueError
    for a negative ``threads``."""
    if threads is not None and threads < 0:
        raise ValueError(f"threads must be 0 (the default policy) or a positive count, got {threads}")
    if threads:
        return threads, "setting"
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isascii() and env.isdigit() and int(env) > 0:  # '３' is no count, '²' no int()
        return int(env), "OMP_NUM_THREADS"
    return default_threads(cores), "default"


def apply_opencv_threads(threads: int | None = None) -> dict[str, Any]:
    """Set OpenCV's threads of this process by :func:`thread_count`'s rule, torch left alone
    (not imported): for the commands that run no torch (``python -m data_prep``). Returns
    ``threads``, ``source``, ``usable_cores`` and ``opencv`` (what OpenCV then reports).
    Raises ValueError for a negative ``threads``."""
    import cv2

    n, source = thread_count(threads)
    cv2.setNumThreads(n)
    return {"threads": n, "source": source, "usable_cores": usable_cores(),
            "opencv": cv2.getNumThreads()}
