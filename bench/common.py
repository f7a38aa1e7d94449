"""Shared by the bench scripts: write a result file with command, device, versions and date."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SHARED = REPO.parent / "shared"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def write_result(name: str, figures: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write ``bench/results/<name>.json`` (or into ``out_dir``) with the run's environment."""
    from drac_ssl.io import atomic_write_json
    from drac_ssl.runtime import environment_info

    env = environment_info()
    record = {
        "benchmark": name,
        "command": env.pop("command"),
        "device": env.pop("device"),
        "date_utc": env.pop("date_utc"),
        "environment": env,
        **figures,
    }
    path = (out_dir or RESULTS) / f"{name}.json"
    atomic_write_json(path, record)
    print(f"[bench] wrote {path}")
    return path
