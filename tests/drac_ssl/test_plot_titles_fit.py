"""A figure's title lies inside the figure and clear of its colour bar (user trial F6).

report/{scratch,vicreg,vicreg_umm}_confusion.png of the tiny run showed "... (n = 25": the
variant label pushed the one-line title past the figure's edge and under the colour bar. The
title is now wrapped to the axes' width. Each figure is rendered with the longest variant label
(scratch under a frozen backbone) and the title's box, measured by the Agg renderer, checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drac_ssl import plots
from drac_ssl.grading.bundle import FROZEN_SCRATCH_TITLE, VARIANT_TITLES

SCALES = {2: ["Normal", "DR"], 3: ["Normal", "NPDR", "PDR"], 5: ["No DR", "Mild", "Moderate", "Severe", "PDR"]}
LONGEST = max([FROZEN_SCRATCH_TITLE, *VARIANT_TITLES.values()], key=len)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the plots save, as they are saved, laid out by the package's own engine
    (constrained layout: tests/conftest.py leaves it out elsewhere; where the axes and the
    title land is what these tests look at)."""
    monkeypatch.setattr(plots, "_new_figure", getattr(plots._new_figure, "__wrapped__", plots._new_figure))
    figures: list[Any] = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (figures.append(fig), save(fig, path))[1])
    return figures


def _title_inside(fig: Any) -> str:
    """The one titled axes' title, after checking it lies inside the figure and overlaps no other axes."""
    renderer = fig.canvas.get_renderer()
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert len(titled) == 1
    ax = titled[0]
    box = ax.title.get_window_extent(renderer)
    figure = fig.bbox
    assert figure.x0 <= box.x0 and box.x1 <= figure.x1 and figure.y0 <= box.y0 and box.y1 <= figure.y1, (
        box, figure, ax.get_title())
    for other in fig.axes:  # the colour bar beside the matrix
        if other is not ax:
            assert not other.get_window_extent(renderer).overlaps(box), ax.get_title()
    return ax.get_title()


@pytest.mark.parametrize("k", sorted(SCALES))
def test_the_confusion_and_roc_titles_fit_with_the_longest_variant_label(
        k: int, drawn: list[Any], tmp_path: Path) -> None:
    names = SCALES[k]
    plots.plot_confusion(np.ones((k, k)) * 5, tmp_path / "cm.png", names, title=f"{LONGEST}: out-of-fold confusion")
    y = np.arange(25) % k
    plots.plot_roc(y, np.full((25, k), 1.0 / k), tmp_path / "roc.png", names, title=f"{LONGEST}: out-of-fold ROC")
    for fig, what, n in zip(drawn, ("confusion", "ROC"), (5 * k * k, 25), strict=True):
        title = _title_inside(fig)
        assert "\n" in title, title  # wrapped: every word kept, the count whole on its line
        assert title.replace("\n", " ") == f"{LONGEST}: out-of-fold {what} (n\u00a0=\u00a0{n})", title


def test_a_short_title_stays_on_one_line(drawn: list[Any], tmp_path: Path) -> None:
    plots.plot_confusion(np.ones((5, 5)), tmp_path / "cm.png", SCALES[5],
                         title=f"{VARIANT_TITLES['vicreg_umm']}: out-of-fold confusion")
    assert _title_inside(drawn[0]) == "VICReg + UMM: out-of-fold confusion (n\u00a0=\u00a025)"
