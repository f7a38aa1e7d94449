"""The UMM stage's figures: rate reduction, losses, step norms, and where UMM started from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drac_ssl.umm.source import MONITOR_KEY, StartPoint, monitor_peak

__all__ = ["plot_start_point", "plot_umm_history"]


def plot_umm_history(out_dir: Path, history: list[dict[str, Any]], groups: Sequence[str] = ()) -> None:
    """``plots/umm_rate_reduction.png``, ``umm_losses.png`` and ``umm_steps.png``."""
    from drac_ssl.plots import plot_history

    plot_history(
        history,
        ["probe_rate_reduction_last", "probe_rate_reduction_early",
         "rate_reduction_early", "rate_reduction_last", "outer_rate_reduction",
         "coding_rate_last", "compress_rate_last", "view_cosine_last"],
        out_dir / "plots" / "umm_rate_reduction.png",
        "UMM: rate reduction (Delta R = R - R_c) on pretraining's probe (probe_*) and as the mean "
        "of the training batches at theta, Delta R at theta', view cosine",
    )
    plot_history(
        history,
        ["ssl_loss", "outer_ssl_loss", "outer_objective", "js", "invariance", "variance"],
        out_dir / "plots" / "umm_losses.png",
        "UMM: SSL loss at theta and theta', outer objective F, JS and VICReg terms",
    )
    steps = [f"step_ratio_{g}" for g in groups] + ["inner_step_norm", "outer_step_norm", "ssl_rise"]
    plot_history(history, steps, out_dir / "plots" / "umm_steps.png",
                 "UMM: outer / inner step-norm ratio per parameter group, step norms, SSL-loss rise")


def plot_start_point(pretrain_history: list[dict[str, Any]], start: StartPoint,
                     path: str | Path) -> Path:
    """The pretraining monitor per epoch (``rate_reduction_last``, ``rate_reduction_early``,
    ``knn_top1`` where logged) with its peak and the epoch UMM started from marked."""
    from drac_ssl.plots import plot_monitor

    markers: dict[str, int] = {}
    peak = monitor_peak(pretrain_history)
    if peak is not None:
        markers[f"monitor peak (epoch {peak[0] + 1})"] = peak[0]
    if start.epoch is not None:
        markers[f"UMM start: {start.rule} (epoch {start.epoch + 1})"] = start.epoch
    return plot_monitor(pretrain_history, [MONITOR_KEY, "rate_reduction_early", "knn_top1"], markers,
                        path, "Pretraining's label-free rate-reduction monitor and where UMM started")
