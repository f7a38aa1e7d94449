"""The UMM stage's figures: rate reduction of the early and last features, the inner losses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_umm_history"]


def plot_umm_history(out_dir: Path, history: list[dict[str, Any]]) -> None:
    from drac_ssl.plots import plot_history

    rr_keys = ["rate_reduction_early", "rate_reduction_last"]
    if any(r.get("outer_objective") is not None for r in history):
        rr_keys.append("outer_objective")
    plot_history(
        history,
        rr_keys,
        out_dir / "plots" / "umm_rate_reduction.png",
        "UMM: rate reduction of early and last features (outer objective: Delta R at theta')",
    )
    plot_history(
        history,
        ["ssl_loss", "js", "inner_loss", "invariance", "variance", "covariance"],
        out_dir / "plots" / "umm_losses.png",
        "UMM: inner objective L_ssl + beta * JS and its terms",
    )
