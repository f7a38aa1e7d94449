"""The figures tell their series apart by more than colour (an accessibility review: the ROC
curves were solid lines in matplotlib's default colours, the comparison bars plain bars in
them): each ROC curve has its own line style and marker, each bar series its own hatching, in
Okabe & Ito's colour-blind-safe colours."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_hex

from drac_ssl import plots


def _figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    figures: list[Any] = []
    monkeypatch.setattr(plots, "_save", lambda fig, path, *title: figures.append(fig) or Path(path))
    return figures


def _line_styles(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The ``linestyle`` each ``Axes.plot`` call is given, by its label, recorded as the call is
    made (matplotlib's public ``Line2D.get_linestyle`` says ``--`` for every custom dash
    pattern, and its scaled pattern is private)."""
    from matplotlib.axes import Axes

    styles: dict[str, Any] = {}
    plot = Axes.plot

    def recording(self: Axes, *args: Any, **kwargs: Any) -> Any:
        styles[str(kwargs.get("label"))] = kwargs.get("linestyle")
        return plot(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", recording)
    return styles


def test_each_roc_curve_differs_in_line_style_and_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = _figures(monkeypatch)
    styles = _line_styles(monkeypatch)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 8)
    probs = rng.dirichlet(np.ones(5), size=y.size)
    plots.plot_roc(y, probs, tmp_path / "roc.png", class_names=[f"g{k}" for k in range(5)])
    (ax,) = figures[0].axes
    curves = [line for line in ax.get_lines() if line.get_label() != "chance"]
    assert len(curves) == 5
    for a, b in combinations(curves, 2):
        assert styles[a.get_label()] != styles[b.get_label()], (a.get_label(), b.get_label())
        assert a.get_marker() != b.get_marker()
        assert to_hex(a.get_color()) != to_hex(b.get_color())
    # the chance line's plain dashes are its own
    assert styles["chance"] == "--" and all(styles[c.get_label()] != "--" for c in curves)
    # every style the curves may take is distinct, and none is the chance line's
    assert len(set(plots.CURVE_STYLES)) == len(plots.CURVE_STYLES)
    assert len({line for line, _ in plots.CURVE_STYLES}) == len(plots.CURVE_STYLES)
    assert "--" not in {line for line, _ in plots.CURVE_STYLES}
    assert {to_hex(c.get_color()) for c in curves} <= {to_hex(c) for c in plots.OKABE_ITO}
    # the legend shows the same styles, so a reader matches the curve without its colour
    handles = figures[0].legends[0].legend_handles  # 5 grades: below the axes
    assert [h.get_marker() for h in handles[1:]] == [c.get_marker() for c in curves]


def test_each_bar_series_has_its_own_hatching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = _figures(monkeypatch)
    rows = [{"name": name, "qwk": 0.5 + i / 10, "auc": 0.7 + i / 20}
            for i, name in enumerate(["scratch", "VICReg", "VICReg+UMM", "ImageNet"])]
    plots.plot_comparison(rows, ["qwk", "auc"], tmp_path / "cmp.png")
    (ax,) = figures[0].axes
    series = [c for c in ax.containers if hasattr(c, "patches")]
    assert len(series) == 4
    hatches = [{bar.get_hatch() or "" for bar in c.patches} for c in series]
    assert all(len(h) == 1 for h in hatches)  # one pattern per series
    assert len({next(iter(h)) for h in hatches}) == 4  # and no two series share it
    colours = [to_hex(c.patches[0].get_facecolor()) for c in series]
    assert colours == [to_hex(c) for c in plots.OKABE_ITO[:4]]
    legend = figures[0].legends[0]
    assert [h.get_hatch() or "" for h in legend.legend_handles] == [next(iter(h)) for h in hatches]
