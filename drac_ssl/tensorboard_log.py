"""Optional TensorBoard scalars of the per-epoch history (``run.tensorboard=true``).

``metrics.csv`` / ``metrics.jsonl`` stay the record of a stage; with ``run.tensorboard=true``
the pretrain and UMM stages also write the same numbers to ``<run_dir>/<stage>/tensorboard/``
for ``tensorboard --logdir runs/<name>``:

* one tag ``<stage>/<key>`` per numeric field of an epoch row (``pretrain/loss``,
  ``pretrain/knn_top1``, ``umm/rate_reduction_last``, ``umm/epoch``, ...); ``None`` (a
  non-finite UMM value), text and booleans are skipped;
* the x-axis is the row's ``step``: the global optimiser step at the end of that epoch, the
  ``step`` column of metrics.csv (the 0-based ``epoch`` is a scalar of its own);
* like metrics.csv, the log is rewritten from the whole history after every epoch: a new
  event file is written, then the older event files of that folder are deleted. A resumed
  run (history restored from its checkpoint) or a restarted one therefore has exactly one
  point per epoch and no point of an older attempt, whatever reads the folder. The new file
  also starts with a purge marker (``purge_step``) at its first step, so a TensorBoard that
  is already watching drops the points it had loaded. Wall times are those of the last
  rewrite: plot against STEP.

TensorBoard is an optional dependency (``pip install -e ".[tensorboard]"``);
:func:`require_tensorboard` fails with the fix before any training starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from drac_ssl.config import ConfigError

EVENT_FILES = "events.out.tfevents.*"


def require_tensorboard() -> None:
    """Raise ConfigError with the fix when ``torch.utils.tensorboard`` cannot be imported."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except Exception as exc:  # ImportError, or a protobuf that does not match tensorboard
        raise ConfigError(
            f"run.tensorboard=true, but TensorBoard cannot be imported ({type(exc).__name__}: {exc}).\n"
            '  fix: pip install tensorboard (or pip install -e ".[tensorboard]"), '
            "or set run.tensorboard=false"
        ) from None


def scalar_points(stage: str, history: Sequence[Mapping[str, Any]]) -> list[tuple[str, float, int]]:
    """``(tag, value, step)`` for every numeric field of every epoch row, in row order.

    The tag is ``<stage>/<key>``; the x-axis is the row's ``step``, which is therefore not a
    scalar itself. Booleans, text and ``None`` are skipped.
    """
    points = []
    for row in history:
        step = int(row["step"])
        for key, value in row.items():
            if key == "step" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            points.append((f"{stage}/{key}", float(value), step))
    return points


def write_tensorboard(log_dir: Path, stage: str, history: Sequence[Mapping[str, Any]]) -> None:
    """Rewrite ``log_dir`` as one event file holding :func:`scalar_points` of ``history``.

    The new file is complete before the older event files are deleted, so an interruption
    leaves the old log or the new one, never none.
    """
    points = scalar_points(stage, history)
    if not points:
        return
    from torch.utils.tensorboard import SummaryWriter

    log_dir.mkdir(parents=True, exist_ok=True)
    older = list(log_dir.glob(EVENT_FILES))
    writer = SummaryWriter(str(log_dir), purge_step=min(step for _, _, step in points))
    try:
        for tag, value, step in points:
            writer.add_scalar(tag, value, step)
    finally:
        writer.close()
    for path in older:
        path.unlink(missing_ok=True)
