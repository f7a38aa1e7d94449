"""Shared by the bench scripts: the thread policy, and a result file with command, device,
versions, threads and date.

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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SHARED = REPO.parent / "shared"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from drac_ssl.runtime import apply_thread_policy  # noqa: E402

apply_thread_policy(None)


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` (0 = the package's policy); pass the parsed value to
    :func:`apply_thread_policy`."""
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="CPU threads of torch and OpenCV (0: the package's policy, half the "
                             "cores, 1..4, or OMP_NUM_THREADS)")


def write_result(name: str, figures: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write ``bench/results/<name>.json`` (or into ``out_dir``) with the run's environment,
    including the threads the measuring process ran with."""
    from drac_ssl.io import atomic_write_json
    from drac_ssl.runtime import environment_info

    env = environment_info()
    record = {
        "benchmark": name,
        "command": env.pop("command"),
        "device": env.pop("device"),
        "date_utc": env.pop("date_utc"),
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
