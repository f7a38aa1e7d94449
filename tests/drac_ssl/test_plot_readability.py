"""What an accessibility / data-visualisation review found hard to read in the package's figures,
checked on the figures' artists (texts, colours, axes), not on pixels: an untested grade's
confusion row read as a sensitivity of 0, white numbers on mid-blue cells, per-fold kappa panels
on scales of their own, a coloured swatch for an undefined ROC curve and a legend over the
curves, tab: colours and 7 pt legends on the monitor figure, x-small bar labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_hex, to_rgb
from matplotlib.font_manager import FontProperties

from drac_ssl import plots, report
from tests.drac_ssl.test_report import HEALTHY, _run

SMALL = FontProperties(size="small").get_size_in_points()


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    drawn: list[Any] = []
    monkeypatch.setattr(plots, "_save", lambda fig, path, *title: drawn.append(fig) or Path(path))
    return drawn


def _contrast(first: Any, second: Any) -> float:
    """WCAG 2's contrast ratio of two matplotlib colours."""
    def luminance(colour: Any) -> float:
        c = np.array(to_rgb(colour))
        c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return float(c @ [0.2126, 0.7152, 0.0722])
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _cells(ax: Any) -> dict[tuple[int, int], Any]:
    return {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}


def test_a_grade_without_images_is_a_grey_row_that_says_so(figures: list[Any], tmp_path: Path) -> None:
    """A grade with no images read "0 / 0%" in near-white, the look of "never predicted"."""
    plots.plot_confusion([[50, 5, 0], [6, 30, 4], [0, 0, 0]], tmp_path / "cm.png", ["Normal", "NPDR", "PDR"])
    ax = figures[0].axes[0]
    image = ax.images[0]
    masked = np.ma.getmaskarray(image.get_array())
    assert masked[2].all() and not masked[:2].any()
    assert to_hex(image.cmap.get_bad()) == to_hex(plots.UNTESTED_GREY)
    assert to_hex(plots.UNTESTED_GREY) != to_hex(image.cmap(0.0))  # not the "never predicted" colour
    cells = _cells(ax)
    assert [cells[2, j].get_text() for j in range(3)] == ["no\nimages"] * 3
    assert cells[0, 0].get_text() == "50\n91%"
    # each row says its grade as the pages do, and how many images it holds
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0 Normal\n(n=55)", "1 NPDR\n(n=40)", "2 PDR\n(n=0)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0 Normal", "1 NPDR", "2 PDR"]
    assert plots.grade_label(2, "2") == "2"  # numbered grades are not said twice


@pytest.mark.parametrize("cm", [[[50, 50], [45, 55]], [[60, 40], [30, 70]], [[72, 28], [100, 0]]])
def test_every_cell_s_numbers_have_4_5_to_1_contrast(figures: list[Any], tmp_path: Path, cm: list[list[int]]) -> None:
    """White text on cells of share 0.50-0.72 had 2.4-4.4:1."""
    plots.plot_confusion(cm, tmp_path / "cm.png", ["a", "b"])
    ax = figures[0].axes[0]
    image = ax.images[0]
    for (i, j), text in _cells(ax).items():
        cell = image.cmap(image.norm(image.get_array()[i, j]))
        assert _contrast(cell, text.get_color()) >= 4.5, (cm, i, j, text.get_color())
    assert plots.text_colour("white") == "black" and plots.text_colour("#08306b") == "white"


def test_fold_kappa_panels_share_one_range_and_loss_panels_keep_their_own(figures: list[Any],
                                                                          tmp_path: Path) -> None:
    """A flat 1-epoch fold spanning -0.04..0.04 filled its panel like a real curve."""
    rows = [{"epoch": e, "fold 0 val QWK": 0.01 * e, "fold 1 val QWK": 0.3 + 0.1 * e} for e in range(3)]
    plots.plot_history(rows, ["fold 0 val QWK", "fold 1 val QWK"], tmp_path / "q.png", ylim=report.KAPPA_YLIM)
    assert [ax.get_ylim() for ax in figures[0].axes] == [report.KAPPA_YLIM] * 2
    plots.plot_history([{"loss": 10.0 - e, "variance": 0.1 * e} for e in range(3)], ["loss", "variance"],
                       tmp_path / "l.png")
    loss, variance = figures[1].axes
    assert loss.get_ylim()[1] > 5 > variance.get_ylim()[1]


def test_report_draws_the_fold_kappas_on_one_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    vdir = run / "finetune" / "scratch"
    metrics = json.loads((vdir / "metrics.json").read_text())
    folds = [{"fold": k, "n_train": 24, "n_val": 6, "best_epoch": 0, "epochs_run": 1, "qwk": 0.1} for k in (0, 1)]
    (vdir / "metrics.json").write_text(json.dumps({**metrics, "folds": folds}))
    for fold in (0, 1):
        (vdir / f"fold{fold}.json").write_text(json.dumps({"history": [{"val_qwk": 0.02 * fold}]}))
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(report, "plot_history", lambda *a, **kw: calls.append(kw) or Path(a[2]))
    monkeypatch.setattr(report, "plot_confusion", lambda cm, path, *a, **kw: Path(path))  # not this
    monkeypatch.setattr(report, "plot_roc", lambda y, p, path, *a, **kw: Path(path))  # test's: 2 s to draw
    report._variant_section(run, run / "figures", "scratch")
    assert len(calls) == 1 and calls[0].get("ylim") == report.KAPPA_YLIM


def test_a_kappa_of_one_is_a_whole_dot_and_the_ticks_run_minus_1_to_1(figures: list[Any], tmp_path: Path) -> None:
    """A range of exactly -1..1 cut a fold's dot at 1.0 in half."""
    plots.plot_history([{"fold 0 val QWK": 1.0}, {"fold 0 val QWK": -1.0}], ["fold 0 val QWK"],
                       tmp_path / "q.png", ylim=report.KAPPA_YLIM)
    ax = figures[0].axes[0]
    low, high = ax.get_ylim()
    dot = ax.get_lines()[0].get_markersize() / 72 * figures[0].dpi  # its diameter, px
    px_per_unit = ax.get_window_extent().height / (high - low)
    assert (high - 1.0) * px_per_unit >= dot / 2 and (-1.0 - low) * px_per_unit >= dot / 2
    ticks = [t for t in ax.get_yticks() if low <= t <= high]
    assert ticks[0] == -1.0 and ticks[-1] == 1.0


def test_an_undefined_roc_curve_has_no_swatch_and_the_legend_avoids_the_curves(figures: list[Any],
                                                                              tmp_path: Path) -> None:
    y = np.array([0, 1] * 20)
    score = np.random.default_rng(0).uniform(0, 1, y.size) - 0.5 * y  # below chance: AUC 0.075
    probs = np.column_stack([2 - score, 1 + score, np.ones(y.size)])
    probs /= probs.sum(axis=1, keepdims=True)
    plots.plot_roc(y, probs, tmp_path / "roc.png", ["a", "b", "c"])
    fig = figures[0]
    ax = fig.axes[0]
    legend = ax.get_legend()
    handles = dict(zip([t.get_text() for t in legend.get_texts()], legend.legend_handles, strict=True))
    undefined = handles["c vs rest: AUC undefined (no positives)"]
    assert undefined.get_linestyle() == "None" and undefined.get_marker() in ("None", "", None)
    assert handles["a vs rest: AUC 0.075"].get_linestyle() != "None"
    # a below-chance curve runs through the lower right, where the legend sat: it covers no curve now
    fig.canvas.draw()
    box = legend.get_window_extent()
    for line in ax.get_lines():
        if len(line.get_xdata()) and line.get_label() != "chance":
            points = line.get_transform().transform(line.get_path().interpolated(100).vertices)
            assert not any(box.contains(*p) for p in points), line.get_label()


def test_with_four_grades_or_more_the_roc_legend_is_below_the_curves(figures: list[Any], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Five grades, one without images: six legend lines, and "best" still put them over curves."""
    monkeypatch.setattr(plots, "_new_figure", plots._new_figure.__wrapped__)  # the layout the PNG has
    y = np.arange(40) % 4
    probs = np.random.default_rng(0).dirichlet(np.ones(5), y.size)
    plots.plot_roc(y, probs, tmp_path / "roc.png", ["No DR", "Mild", "Moderate", "Severe", "PDR"])
    fig = figures[0]
    ax = fig.axes[0]
    fig.canvas.draw()
    assert ax.get_legend() is None and len(fig.legends) == 1
    box, axes_box = fig.legends[0].get_window_extent(), ax.get_window_extent()
    assert box.y1 <= axes_box.y0 and fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1)
    assert "PDR vs rest: AUC undefined (no positives)" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert axes_box.height >= 0.4 * fig.bbox.height  # the curves keep room


def test_monitor_markers_use_the_palette_with_a_readable_legend_and_a_y_label(figures: list[Any],
                                                                              tmp_path: Path) -> None:
    history = [{"epoch": e, "rate_reduction_last": 1.0 + e} for e in range(4)]
    plots.plot_monitor(history, ["rate_reduction_last"], {"peak": 3, "kept": 1}, tmp_path / "m.png")
    ax = figures[0].axes[0]
    marks = [line for line in ax.get_lines() if line.get_label() in ("peak", "kept")]
    assert {to_hex(line.get_color()) for line in marks} <= {to_hex(c) for c in plots.OKABE_ITO}
    assert all(t.get_fontsize() >= SMALL for t in ax.get_legend().get_texts())
    assert ax.get_ylabel() == "rate_reduction_last"


def test_comparison_bar_values_are_at_least_small(figures: list[Any], tmp_path: Path) -> None:
    plots.plot_comparison([{"name": "scratch", "qwk": 0.5}, {"name": "VICReg", "qwk": 0.6}], ["qwk"],
                          tmp_path / "c.png")
    values = [t for t in figures[0].axes[0].texts if t.get_text() in ("0.500", "0.600")]
    assert len(values) == 2 and all(t.get_fontsize() >= SMALL for t in values)
