"""Shared by the bench scripts: the thread policy, and a result file with command, device,
versions, threads and date.

Importing this module applies the package's CPU thread policy
(:func:`drac_ssl.runtime.apply_thread_policy`: half the usable cores, 1..4, or
``OMP_NUM_THREADS`` when set), so every bench runs with threads set deliberately; scripts with
a ``--threads`` option (:func:`add_threads_argument`) apply that after parsing.
"""

from __future__ import annotations

import argparse
import sys
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
