"""The devices this package runs on, and the words for one the machine lacks: one policy for
every device check (:func:`drac_ssl.runtime.resolve_device`, behind ``run.device`` and the
export's ``--device``; the preflight's ``run.device`` check; and
:func:`drac_ssl.grading.bundle.usable_device`, behind ``load_bundle`` and ``Predictor``).
Each check raises its own exception (or adds its own finding) and says its own fix, in the
setting's or argument's words; what the machine lacks is said here, once. Imports torch only,
so the inference side reaches no training code through it."""

from __future__ import annotations

import torch

__all__ = ["DEVICE_TYPES", "cuda_shortfall"]

DEVICE_TYPES = ("cpu", "cuda")
"""The torch device types this package runs on: the CPU and NVIDIA GPUs. Other types torch
knows (``mps``, ``xpu``, ``meta``, ...) are refused by every check: the package has never been
run on them (and ``meta`` holds no values)."""


def cuda_shortfall(index: int | None) -> tuple[str, bool] | None:
    """What this machine lacks for CUDA device ``index`` (None: the current one), or None where
    that device can be used. Otherwise ``(problem, no_cuda)``: ``("this machine has no usable
    CUDA device (torch 2.5.1, a CPU-only build: torch.cuda.is_available() is False)", True)``
    where CUDA cannot be used at all (a CPU-only build of torch, no NVIDIA driver; the fix: the
    CPU), ``("this machine has 2 CUDA device(s), numbered from 0", False)`` for an index it
    lacks (the fix: ``cuda:0``)."""
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        return (f"this machine has no usable CUDA device (torch {torch.__version__}, {build}: "
                f"torch.cuda.is_available() is False)", True)
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        return f"this machine has {count} CUDA device(s), numbered from 0", False
    return None
