"""Shared by the bench scripts: the thread policy, and a result file with command, device,
versions, threads, the code measured and when.

The code a run measured is the code at its start: importing this module (the first thing a
bench script does) records the commit, whether the checkout had uncommitted changes and the
time (:data:`RUN_START`); :func:`write_result` writes them beside the same at the end, so a
commit or an edit made while a long run went on shows in its result file.

Importing this module applies the package's CPU thread policy
(:func:`drac_ssl.runtime.apply_thread_policy`: half the usable cores, 1..4, or
``OMP_NUM_THREADS`` when set), so every bench runs with threads set deliberately; scripts with
a ``--threads`` option (:func:`add_threads_argument`) apply that after parsing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SHARED = REPO.parent / "shared"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import drac_ssl.runtime as _runtime  # noqa: E402
from drac_ssl.runtime import apply_thread_policy  # noqa: E402

apply_thread_policy(None)


@dataclass(frozen=True)
class RunStart:
    """When a bench run started and the code it started with."""

    started_utc: str
    """ISO 8601, UTC, seconds."""
    git_commit: str
    """Short commit of the checkout the package runs from ("unknown" without git)."""
    git_dirty: bool | None
    """Whether tracked files differed from that commit (None: unknown)."""


def run_start() -> RunStart:
    """The time and the checkout's commit and dirty flag now (two git calls)."""
    import datetime as dt

    return RunStart(dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), _runtime.git_commit(),
                    _runtime.git_dirty())


RUN_START = run_start()
"""Taken when a bench script imports this module, i.e. at the start of its run."""


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` (0 = the package's policy); pass the parsed value to
    :func:`apply_thread_policy`."""
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="CPU threads of torch and OpenCV (0: the package's policy, half the "
                             "cores, 1..4, or OMP_NUM_THREADS)")


def write_result(name: str, figures: dict[str, Any], out_dir: Path | None = None,
                 started: RunStart | None = None) -> Path:
    """Write ``bench/results/<name>.json`` (or into ``out_dir``) with the run's environment,
    including the threads the measuring process ran with.

    ``started``: the run's start (default :data:`RUN_START`, when the script imported this
    module). ``environment.git_commit`` / ``git_dirty`` are the code at that start (what was
    measured); ``git_commit_at_end`` / ``git_dirty_at_end`` the same when the result is written
    (they differ when a commit or an edit came during the run). ``started_utc`` and
    ``finished_utc`` bound the run; ``date_utc`` is ``finished_utc`` (as in files written before
    the start was recorded, whose commit is the one at their end).
    """
    from drac_ssl.io import atomic_write_json

    start = started or RUN_START
    env = _runtime.environment_info()
    finished = env.pop("date_utc")
    env["git_commit_at_end"], env["git_dirty_at_end"] = env["git_commit"], env["git_dirty"]
    env["git_commit"], env["git_dirty"] = start.git_commit, start.git_dirty
    record = {
        "benchmark": name,
        "command": env.pop("command"),
        "device": env.pop("device"),
        "date_utc": finished,
        "started_utc": start.started_utc,
        "finished_utc": finished,
        "threads": env.pop("threads"),
        "environment": env,
        **figures,
    }
    path = (out_dir or RESULTS) / f"{name}.json"
    atomic_write_json(path, record)
    print(f"[bench] wrote {path}")
    return path


NEIGHBOUR = """
import torch
torch.set_num_threads(1)
conv = torch.nn.Conv2d(64, 64, 3, padding=1)
x = torch.randn(8, 64, 56, 56)
with torch.inference_mode():
    while True:
        conv(x)
"""
NEIGHBOUR_NOTE = ("one other process keeping one core busy with single-threaded convolutions "
                  "(torch Conv2d 64->64, 8 x 64 x 56 x 56, in a loop), as another worker's job does")


def start_neighbour() -> subprocess.Popen[bytes]:
    """One process that keeps one core busy (single-threaded convolutions) until stopped."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", NEIGHBOUR], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.0)  # import torch and reach the loop
    if proc.poll() is not None:
        raise RuntimeError("the busy-neighbour process exited at once")
    return proc


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Terminate ``proc``; kill it if it has not exited after ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def busy_neighbour(on: bool = True) -> Iterator[subprocess.Popen[bytes] | None]:
    """:func:`start_neighbour` for the duration of the ``with`` block (nothing when not ``on``)."""
    proc = start_neighbour() if on else None
    try:
        yield proc
    finally:
        if proc is not None:
            stop_process(proc)


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None
