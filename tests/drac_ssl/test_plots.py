"""Tests of drac_ssl.plots: every function writes a non-empty PNG that PIL can open."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drac_ssl import plots
from drac_ssl.plots import plot_comparison, plot_confusion, plot_history, plot_roc, roc_curves


@pytest.fixture(autouse=True)
def _real_figure_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests draw the figures as the package does, with constrained layout (the rest of
    the suite goes without it: tests/conftest.py)."""
    monkeypatch.setattr(plots, "_new_figure", getattr(plots._new_figure, "__wrapped__", plots._new_figure))


def test_the_package_s_figures_use_constrained_layout() -> None:
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    assert isinstance(plots._new_figure(3.0, 2.0).get_layout_engine(), ConstrainedLayoutEngine)


def _assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    assert not list(path.parent.glob(".*.tmp-*"))  # atomic write left nothing behind


def test_plot_history(tmp_path: Path) -> None:
    history = [{"epoch": e, "loss": 10 / (e + 1), "invariance": 1 / (e + 1),
                "rate_reduction_last": 5 + 0.1 * e} for e in range(8)]
    history[3]["loss"] = math.nan  # a gap, not a crash
    del history[4]["invariance"]
    path = plot_history(history, ["loss", "invariance", "rate_reduction_last", "absent"],
                        tmp_path / "runs" / "history.png", title="VICReg pretraining")
    assert path == tmp_path / "runs" / "history.png"
    _assert_png(path)
    with pytest.raises(ValueError):
        plot_history(history, [], tmp_path / "x.png")


def test_plot_confusion(tmp_path: Path) -> None:
    cm = [[50, 5, 0], [6, 30, 4], [0, 0, 0]]  # a fold without PDR: empty row, no division error
    _assert_png(plot_confusion(cm, tmp_path / "cm.png", title="Fold 0"))
    with pytest.raises(ValueError):  # the names say 3 grades, the matrix 2
        plot_confusion(np.zeros((2, 2)), tmp_path / "bad.png", ["Normal", "NPDR", "PDR"])
    with pytest.raises(ValueError):
        plot_confusion(np.zeros((2, 3)), tmp_path / "bad.png")


def test_plot_roc(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=120, p=[0.54, 0.35, 0.11])
    logits = np.eye(3)[y] * 2 + rng.normal(0, 1, (120, 3))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    _assert_png(plot_roc(y, probs, tmp_path / "roc.png"))
    # A grade absent from y_true is listed as undefined instead of failing
    _assert_png(plot_roc(y[y < 2], probs[y < 2], tmp_path / "roc_missing.png"))
    labels = [label for label, _, _ in roc_curves(y[y < 2], probs[y < 2], ("Normal", "NPDR", "PDR"))]
    assert labels[2] == "PDR vs rest: AUC undefined (no positives)" and labels[0].startswith("Normal vs rest: AUC 0.")


def test_two_grade_roc_is_one_curve_of_the_second_grade_against_the_first() -> None:
    """A two-grade run's plot showed two mirror-image curves (grade 0 vs rest is grade 1 vs
    rest with the roles swapped): one curve, the second grade's, as a binary ROC is drawn."""
    y = np.array([0, 0, 0, 1, 1, 1])
    p1 = np.array([0.1, 0.4, 0.35, 0.8, 0.3, 0.9])
    curves = roc_curves(y, np.stack([1 - p1, p1], axis=1), ("non-referable", "referable"))
    assert len(curves) == 1
    label, fpr, tpr = curves[0]
    assert label == "referable vs non-referable: AUC 0.778"  # 7 of the 9 pairs ordered right
    assert fpr[-1] == tpr[-1] == 1.0 and fpr[0] == tpr[0] == 0.0


def test_plot_comparison(tmp_path: Path) -> None:
    rows = [
        {"name": "scratch", "qwk": 0.71, "qwk_std": 0.04, "auc": 0.83, "auc_std": 0.02},
        {"name": "VICReg", "qwk": 0.76, "qwk_std": 0.03, "auc": 0.86},
        {"name": "VICReg+UMM", "qwk": 0.78, "auc": math.nan},
    ]
    _assert_png(plot_comparison(rows, ["qwk", "auc"], tmp_path / "compare.png"))
    _assert_png(plot_comparison([{"qwk": 0.5}], ["qwk"], tmp_path / "one.png"))


def test_plot_comparison_says_which_error_bars_it_draws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A y axis that promised "mean ± std" over bars without any misled a reader into a ranking;
    a CI is drawn asymmetrically, and the label names what is drawn."""
    from drac_ssl import plots

    figures = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path, *title: (figures.append(fig), save(fig, path, *title))[1])
    ci = [{"name": "a", "qwk": 0.5, "qwk_ci_low": 0.3, "qwk_ci_high": 0.6, "auc": 0.7},
          {"name": "b", "qwk": 0.4, "qwk_ci_low": 0.1, "qwk_ci_high": 0.45, "auc": 0.6}]
    _assert_png(plot_comparison(ci, ["qwk", "auc"], tmp_path / "ci.png"))
    _assert_png(plot_comparison([{"qwk": 0.5, "auc": 0.7}], ["qwk", "auc"], tmp_path / "plain.png"))
    _assert_png(plot_comparison([{"qwk": 0.5, "qwk_std": 0.1}], ["qwk"], tmp_path / "std.png"))
    labels = [fig.axes[0].get_ylabel() for fig in figures]
    assert labels == ["value (error bars: qwk: 95% CI)", "value", "value (mean ± std)"]  # auc has none
    segments = [seg for c in figures[0].axes[0].collections for seg in c.get_segments() if len(seg)]
    spans = sorted((round(float(s[0][1]), 3), round(float(s[1][1]), 3)) for s in segments)
    assert spans == [(0.1, 0.45), (0.3, 0.6)]  # from ci_low to ci_high, not symmetric


def test_plot_history_draws_a_monitor_logged_every_few_epochs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # k-NN is logged every 5 epochs: the other rows lack the key. The points must be joined
    # into one visible line (on the first GPU run each point was isolated: an empty panel).
    import drac_ssl.plots as plots

    figures = []
    real_save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path, *title: figures.append(fig) or real_save(fig, path, *title))
    history = [{"epoch": e, "loss": 20 - e * 0.1} for e in range(20)]
    for e in (4, 9, 14, 19):
        history[e]["knn_top1"] = 50.0 + e
    _assert_png(plot_history(history, ["loss", "knn_top1"], tmp_path / "h.png"))
    knn_axes = [ax for ax in figures[0].axes if ax.get_title() == "knn_top1"]
    (line,) = knn_axes[0].get_lines()
    assert list(line.get_xdata()) == [5, 10, 15, 20]  # epochs counted from 1
    assert list(line.get_ydata()) == [54.0, 59.0, 64.0, 69.0]
    assert line.get_marker() == "o"


def test_plot_history_counts_epochs_from_one_with_whole_ticks(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from drac_ssl import plots

    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path, *title: figures.append(fig) or Path(path))
    plot_history([{"epoch": e, "val QWK": 0.1 * e} for e in range(3)], ["val QWK"], tmp_path / "v.png")
    ax = figures[0].axes[0]
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]  # the report's "best epoch 2" is x = 2
    ticks = ax.xaxis.get_major_locator().tick_values(1, 3)
    assert all(float(t).is_integer() for t in ticks)  # no tick at epoch 1.5


def test_plot_monitor_of_a_two_epoch_run_has_whole_epoch_ticks(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial's 2-epoch pretraining drew its monitor at epochs 0.8, 1.2, 1.4 ..."""
    from drac_ssl import plots

    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path, *title: figures.append(fig) or Path(path))
    plots.plot_monitor([{"epoch": 0, "knn_top1": 0.4}, {"epoch": 1, "knn_top1": 0.5}], ["knn_top1"],
                       {"peak": 1}, tmp_path / "m.png")
    ax = figures[0].axes[0]
    ticks = ax.xaxis.get_major_locator().tick_values(0.95, 2.05)
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks


def test_a_one_epoch_history_has_whole_epoch_ticks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit: the UMM plots of a 1-epoch run showed a dot on an axis 0.945..1.050.
    MaxNLocator(integer=True) falls back to fractions with fewer than two whole numbers in view."""
    from drac_ssl import plots

    figures = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path, *title: (figures.append(fig), save(fig, path, *title))[1])
    plot_history([{"epoch": 0, "loss": 3.0}], ["loss"], tmp_path / "one.png")
    plots.plot_monitor([{"epoch": 0, "rate_reduction_last": 1.0}], ["rate_reduction_last"], {}, tmp_path / "m.png")
    for fig in figures:
        ax = fig.axes[0]
        low, high = ax.get_xlim()
        shown = [t for t in ax.get_xticks() if low <= t <= high]
        assert shown == [1.0], (shown, (low, high))


def test_the_comparison_names_the_metrics_with_error_bars_and_n(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit: 'error bars: 95% CI' on the y axis while only QWK had them."""
    from drac_ssl import plots

    figures = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path, *title: (figures.append(fig), save(fig, path, *title))[1])
    rows = [{"name": "a", "qwk": 0.5, "qwk_ci_low": 0.3, "qwk_ci_high": 0.6, "auc_ovo": 0.7}]
    plot_comparison(rows, ["qwk", "auc_ovo"], tmp_path / "c.png", "t",
                    metric_labels={"qwk": "QWK", "auc_ovo": "AUC (one-vs-one)"})
    ax = figures[0].axes[0]
    assert ax.get_ylabel() == "value (error bars: QWK: 95% CI)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["QWK", "AUC (one-vs-one)"]
