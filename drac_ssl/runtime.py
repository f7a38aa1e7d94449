"""Device choice, seeding, and a description of the machine for run folders and benchmarks."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import random
import subprocess
import sys
from typing import Any

import numpy as np
import torch


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` -> the local CUDA device when there is one, else the CPU."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"run.device={name!r} but this machine has no usable CUDA device.\n"
            f"  fix: run.device=auto (or cpu)"
        )
    return device


def use_compile(setting: str, device: torch.device) -> bool:
    """Whether ``PretrainConfig.compile`` (``auto | true | false``) compiles on ``device``:
    ``auto`` compiles on CUDA only (where a long run repays the ~40 s of compilation)."""
    if setting not in ("auto", "true", "false"):
        raise ValueError(f"compile setting must be auto, true or false, got {setting!r}")
    return device.type == "cuda" if setting == "auto" else setting == "true"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A seed that is a pure function of (run seed, epoch, rank): resuming needs no RNG replay."""
    return (seed * 1_000_003 + epoch * 9_176 + rank * 7_919) % 2**31


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    """Short commit of the checkout this package runs from (not of the working directory)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def command_line() -> str:
    """The command as the user typed it: ``python -m pkg.mod args`` for module runs."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    argv = ["-m", spec.name, *sys.argv[1:]] if spec is not None and spec.name else sys.argv
    return " ".join(["python", *argv])


def environment_info() -> dict[str, Any]:
    """What ran this: device, versions, date. Stored in run folders and bench results."""
    import cv2
    import sklearn
    import torchvision

    info: dict[str, Any] = {
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "scikit_learn": sklearn.__version__,
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "git_commit": git_commit(),
        "command": command_line(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
        info["cuda"] = torch.version.cuda
    else:
        info["gpu"] = None
    info["device"] = info["gpu"] or f"CPU: {info['cpu']} x{info['cpu_cores']}"
    return info
