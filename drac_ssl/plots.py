"""Figures for run folders and reports: training curves, confusion matrix, ROC, comparisons.

Every function draws on its own ``matplotlib.figure.Figure`` rendered by the Agg canvas,
never through ``pyplot``: nothing needs a display, no global backend is switched, and
figures are not kept alive in a global registry. Each writes one PNG atomically
(``drac_ssl.io.atomic_path``) and returns its path.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from drac_ssl.io import atomic_path
from drac_ssl.scale import default_grade_names
from drac_ssl.starting import import_keeping_random

__all__ = ["BAR_HATCHES", "CURVE_STYLES", "OKABE_ITO", "UNTESTED_GREY", "grade_label", "plot_comparison",
           "plot_confusion", "plot_history", "plot_monitor", "plot_roc", "roc_curves", "series_style", "text_colour"]

DPI = 120

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
"""The colours of the series a figure tells apart (ROC curves, comparison bars): Okabe & Ito's
palette for colour-blind readers ("Color Universal Design", 2008: blue, vermillion, bluish green,
reddish purple, orange, sky blue, black, yellow), its yellow last (faint on white). Colour is
never the only difference: each series also has its own line style and marker
(:data:`CURVE_STYLES`) or hatching (:data:`BAR_HATCHES`)."""

CURVE_STYLES = (("-", "o"), ("-.", "s"), (":", "^"), ((0, (6, 2, 1, 2, 1, 2)), "D"),
                ((0, (1, 1)), "v"), ((0, (8, 2)), "P"), ((0, (3, 2, 3, 5)), "X"), ((0, (10, 3, 2, 3)), "*"))
"""The (line style, marker) of each ROC curve in turn (:func:`plot_roc`), with
:data:`OKABE_ITO`'s colour: an accessibility review found the curves told apart by the default
colours alone. Plain dashes (``--``) are the chance line's."""

BAR_HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")
"""The hatching of each bar series in turn (:func:`plot_comparison`), with :data:`OKABE_ITO`'s
colour: the first plain, every other one its own pattern."""


def series_style(i: int) -> dict[str, Any]:
    """The i-th curve's matplotlib keywords (``color``, ``linestyle``, ``marker``): colour, line
    style and marker all differ from the curves before it, up to 8 curves."""
    line, marker = CURVE_STYLES[i % len(CURVE_STYLES)]
    return {"color": OKABE_ITO[i % len(OKABE_ITO)], "linestyle": line, "marker": marker}


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _count_words(n: int) -> str:
    """`` (n = 25)`` after a title, its spaces non-breaking: a wrapped title keeps it whole."""
    return f" (n\u00a0=\u00a0{n})"


TITLE_LINES = 3
"""The most lines a figure's title is wrapped onto (:func:`_fit_title`). A 300-character title
on a two-grade confusion matrix wrapped to 11 lines and did not settle in 8 passes: each line
the constrained layout gave the title it took from the axes, whose equal-aspect matrix
narrowed with them (and the title wrapped narrower still), the matrix squashed to a strip."""

TITLE_ROOM = 0.97
"""The share of the axes' width a title is wrapped to: the layout run again when the figure is
saved moves the axes by a pixel or two (a title that just fitted ran 1 px past a matrix)."""

ELLIPSIS = "\u2026"
"""Ends a title cut to :data:`TITLE_LINES` lines, before its count (``… (n = 25)``); the figure's
PNG keeps the whole title in its ``Title`` text (:func:`_save`)."""


def _wrapped_title(title: str, count: str, width: int) -> str:
    """``title`` and its ``count`` words wrapped at spaces to ``width`` characters a line, on at
    most :data:`TITLE_LINES` lines: one longer is cut at a word and ends with :data:`ELLIPSIS`
    and the count, which stays whole on the last line."""
    lines = textwrap.wrap(f"{title}{count}", width, break_long_words=False, break_on_hyphens=False)
    if len(lines) <= TITLE_LINES:
        return "\n".join(lines)
    placeholder = f" {ELLIPSIS}{count}"
    width = max(width, len(placeholder.lstrip()) + 1)  # textwrap needs room for the placeholder
    lines = textwrap.wrap(title, width, max_lines=TITLE_LINES, placeholder=placeholder,
                          break_long_words=False, break_on_hyphens=False)
    if not lines[-1].endswith(placeholder.lstrip()):
        # the title alone fitted its lines, its count did not (a review: "scratch (random init,
        # frozen: ...): out-of-fold confusion" on 3 lines at 29-31 characters, the count lost):
        # cut the last line at a word until the ellipsis and the count fit after it
        words = lines[-1].split(" ")
        while words and len(" ".join(words)) + len(placeholder) > width:
            words.pop()
        lines[-1] = " ".join(words) + placeholder if words else placeholder.lstrip()
    return "\n".join(lines)


def _fit_title(fig: Figure, ax: Any, title: str, n: int | None = None) -> str:
    """Set ``ax``'s title, ``title`` and its count of ``n`` images (:func:`_count_words`, when
    given), wrapped at spaces (:func:`_wrapped_title`) onto as many lines as it takes to lie
    within the axes' width once the constrained layout has placed them, at most
    :data:`TITLE_LINES`: a long variant label ("scratch (random init, frozen: random features +
    trained head): out-of-fold confusion (n = 25)") ran past the figure's edge and under the
    colour bar, clipped to "(n = 25". A title that fits stays on one line; a word longer than
    the axes is not cut. Returns the whole title (spaces plain), for the PNG's ``Title`` text
    (:func:`_save`)."""
    count = "" if n is None else _count_words(n)
    ax.set_title(f"{title}{count}")
    renderer = fig.canvas.get_renderer()
    engine = fig.get_layout_engine()  # constrained (None: the axes stay where they are)
    width = len(title) + len(count)
    for _ in range(8):  # each pass narrows the wrap by the measured overrun; two suffice in practice
        if engine is not None:
            engine.execute(fig)  # the axes where the saved figure has them, under this title
        ax.apply_aspect()  # an equal-aspect matrix is drawn narrower than the box the layout gives it
        box, room = ax.title.get_window_extent(renderer), ax.get_window_extent(renderer)
        if box.width <= TITLE_ROOM * room.width or width <= 1:
            break
        longest = max(len(line) for line in ax.get_title().split("\n"))
        width = max(1, min(width - 1, int(longest * TITLE_ROOM * room.width / box.width)))
        ax.set_title(_wrapped_title(title, count, width))
    return f"{title}{count}".replace("\u00a0", " ")


def _save(fig: Figure, path: str | os.PathLike[str], title: str | None = None) -> Path:
    """Write ``fig`` as a PNG at ``path`` (atomically), ``title`` (the whole title, however the
    figure wraps or cuts it) in the PNG's ``Title`` text when given."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Title": title} if title else None)
    return Path(path)


def _finite(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def _epoch_axis(ax: Any, epochs: Sequence[float]) -> None:
    """Whole-epoch ticks on ``ax``'s x axis. ``MaxNLocator(integer=True)`` alone falls back to
    fractional ticks when fewer than two whole numbers are in view (a 1-epoch run drew its dot
    on 0.945..1.050): one tick is enough, and a single epoch gets a view one epoch wide."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    finite = [e for e in epochs if math.isfinite(e)]
    if finite and max(finite) - min(finite) < 1:
        ax.set_xlim(min(finite) - 0.5, max(finite) + 0.5)


def plot_history(
    history: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    path: str | os.PathLike[str],
    title: str = "Training history",
    baselines: Mapping[str, tuple[str, float]] | None = None,
    ylim: tuple[float, float] | None = None,
) -> Path:
    """One subplot per key of ``history`` against the epoch; writes a PNG at ``path``.

    ``history``: one dict per logged epoch (e.g. the JSON lines of a run); the x value is
    its 0-based ``"epoch"`` entry (else its position) plus 1, so the axis counts epochs from 1
    as the console, ``stages.json`` and the report do, with integer ticks. ``keys``: the entries to draw
    (loss terms, ``rate_reduction_early`` / ``rate_reduction_last``, ``knn_top1`` ...);
    epochs where a key is missing or not finite are skipped, so a monitor logged every N
    epochs (``knn_top1``) is drawn as a line through its points, with markers.
    ``baselines``: ``{key: (label, value)}``, a dashed horizontal line with a legend in that
    key's subplot (the k-NN top-1 of the starting backbone).
    ``ylim``: ``(low, high)``, one y range shared by every subplot (the folds' kappas on -1..1,
    so folds compare and a flat curve is not blown up to fill its panel, as an accessibility
    review found); else each subplot scales its own y axis (loss terms of different sizes).
    """
    if not keys:
        raise ValueError("plot_history needs at least one key to plot")
    epochs = [_finite(h.get("epoch", i)) + 1 for i, h in enumerate(history)]
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig = _new_figure(4.2 * ncols, 3.2 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, sharey=ylim is not None)).ravel()
    if ylim is not None:
        axes[0].set_ylim(*ylim)
    for ax, key in zip(axes, keys, strict=False):
        points = [(x, v) for x, v in zip(epochs, (_finite(h.get(key)) for h in history), strict=True)
                  if math.isfinite(v)]
        xs, values = [x for x, _ in points], [v for _, v in points]
        ax.plot(xs, values, marker="o" if len(points) <= 30 else None, markersize=3)
        if baselines and key in baselines and math.isfinite(_finite(baselines[key][1])):
            label, level = baselines[key]
            ax.axhline(level, color="0.4", linestyle="--", linewidth=1, label=f"{label}: {level:.2f}")
            ax.legend(loc="best", fontsize="small")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        _epoch_axis(ax, epochs)
        ax.set_ylabel(key)
        ax.grid(True, alpha=0.3)
        if not values:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return _save(fig, path, title)


def plot_monitor(
    history: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    markers: Mapping[str, int],
    path: str | os.PathLike[str],
    title: str = "Monitor",
) -> Path:
    """Monitor curves with marked epochs: one subplot per key of ``history`` against the
    1-based epoch, and a vertical line at every ``markers`` entry (label -> 0-based epoch;
    e.g. the monitor's peak and the checkpoint a later stage started from). Keys without a
    finite value are left out; the markers in :data:`OKABE_ITO`'s colours, each with its own
    line style. Writes a PNG at ``path``."""
    keys = [k for k in keys if any(math.isfinite(_finite(h.get(k))) for h in history)]
    fig = _new_figure(4.2 * max(1, len(keys)), 3.4)
    axes = fig.subplots(1, max(1, len(keys)), squeeze=False)[0]
    styles = [(OKABE_ITO[2], "--"), (OKABE_ITO[1], ":"), (OKABE_ITO[3], "-.")]
    for ax, key in zip(axes, keys, strict=False):
        points = [(_finite(h.get("epoch", i)) + 1, _finite(h.get(key))) for i, h in enumerate(history)]
        points = [(x, v) for x, v in points if math.isfinite(x) and math.isfinite(v)]
        ax.plot([x for x, _ in points], [v for _, v in points],
                marker="o" if len(points) <= 40 else None, markersize=3, label=key)
        for i, (label, epoch) in enumerate(markers.items()):
            colour, style = styles[i % len(styles)]
            ax.axvline(epoch + 1, color=colour, linestyle=style, label=label)
        ax.set_xlabel("epoch")
        _epoch_axis(ax, [x for x, _ in points] + [e + 1 for e in markers.values()])  # no epoch 1.2
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    if not keys:
        axes[0].text(0.5, 0.5, "no monitor values", ha="center", va="center", transform=axes[0].transAxes)
    fig.suptitle(title)
    return _save(fig, path, title)


def grade_label(k: int, name: str) -> str:
    """Grade ``k``'s tick label, ``'2 Moderate'`` as the pages and tables say it; a name that is
    its own number (``'2'``, :func:`drac_ssl.scale.default_grade_names`) once."""
    return name if name == str(k) else f"{k} {name}"


def text_colour(rgb: Any) -> str:
    """``'white'`` or ``'black'``, the text colour with the higher WCAG 2 contrast on the colour
    ``rgb`` (any matplotlib colour): white only where its contrast beats black's, so a count
    on a cell of any colour has at least 4.5:1 (white on mid blue had 2.4:1)."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(rgb)]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "white" if 1.05 / (luminance + 0.05) > (luminance + 0.05) / 0.05 else "black"


UNTESTED_GREY = "0.85"
"""The colour of a confusion-matrix row whose true grade has no images (:func:`plot_confusion`):
grey, not the near-white of "never predicted", which read as a sensitivity of 0."""


def plot_confusion(
    cm: Any,
    path: str | os.PathLike[str],
    class_names: Sequence[str] | None = None,
    title: str = "Confusion matrix",
) -> Path:
    """Confusion matrix ``(K, K)`` (rows = true grade, columns = predicted grade, as
    ``sklearn.metrics.confusion_matrix`` and ``grading_report["confusion"]``); each cell
    shows the count and the share of its true grade (row-normalised), which sets the
    colour, in black or white text (:func:`text_colour`). Each row's tick label says its grade
    and its count of images under it (``2 Moderate``, ``(n=40)``); a grade without images is a grey row
    (:data:`UNTESTED_GREY`) that says "no images" in every cell: never tested, not never found.
    ``class_names``: the K grade names (default: K from ``cm``,
    :func:`drac_ssl.scale.default_grade_names`). Writes a PNG at ``path``."""
    counts = np.asarray(cm, dtype=np.float64)
    if class_names is None:
        class_names = default_grade_names(counts.shape[0] if counts.ndim == 2 else 0)
    k = len(class_names)
    if counts.shape != (k, k):
        raise ValueError(f"cm must be ({k}, {k}) for class names {tuple(class_names)}, "
                         f"got {counts.shape}")
    row_sums = counts.sum(axis=1, keepdims=True)
    share = np.ma.masked_where(np.broadcast_to(row_sums == 0, counts.shape),
                               np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0))
    fig = _new_figure(1.4 * k + 2.2, 1.3 * k + 1.6)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap=colormaps["Blues"].with_extremes(bad=UNTESTED_GREY), vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of true grade")
    untested = np.ma.getmaskarray(share)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, "no\nimages" if untested[i, j] else f"{counts[i, j]:.0f}\n{100 * share[i, j]:.0f}%",
                    ha="center", va="center",
                    color=text_colour(UNTESTED_GREY if untested[i, j] else image.cmap(image.norm(share[i, j]))))
    names = [grade_label(g, name) for g, name in enumerate(class_names)]
    ax.set_xticks(range(k), labels=names)
    ax.set_yticks(range(k), labels=[f"{name}\n(n={n:.0f})" for name, n in zip(names, row_sums[:, 0], strict=True)])
    ax.set_xlabel("predicted grade")
    ax.set_ylabel("true grade")
    return _save(fig, path, _fit_title(fig, ax, title, int(counts.sum())))


def roc_curves(y: np.ndarray, probs: np.ndarray,
               class_names: Sequence[str]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The curves :func:`plot_roc` draws, as ``(legend label, fpr, tpr)``: one per grade
    (column k of ``probs`` ``(n, K)`` against ``y == k``), or for two grades the one curve of
    the second grade against the first (the first grade's curve is its mirror image and adds
    nothing). A grade without positives or negatives gets an empty curve labelled undefined."""
    sklearn_metrics = import_keeping_random("sklearn.metrics")
    roc_auc_score, roc_curve = sklearn_metrics.roc_auc_score, sklearn_metrics.roc_curve
    curves = []
    for c, name in enumerate(class_names):
        if len(class_names) == 2 and c == 0:
            continue
        positive = y == c
        rest = f"vs {class_names[0]}" if len(class_names) == 2 else "vs rest"
        if positive.all() or not positive.any():
            lacking = "negatives" if positive.any() else "positives"
            curves.append((f"{name} {rest}: AUC undefined (no {lacking})", np.empty(0), np.empty(0)))
            continue
        fpr, tpr, _ = roc_curve(positive, probs[:, c])
        auc = roc_auc_score(positive, probs[:, c])
        curves.append((f"{name} {rest}: AUC {auc:.3f}", fpr, tpr))
    return curves


def plot_roc(
    y_true: Any,
    probs: Any,
    path: str | os.PathLike[str],
    class_names: Sequence[str] | None = None,
    title: str = "ROC, one grade vs the rest",
) -> Path:
    """One-vs-rest ROC curve per grade (``sklearn.metrics.roc_curve`` on column k of
    ``probs`` ``(n, K)`` against ``y_true == k``), AUC in the legend; each curve with its own
    colour, line style and marker (:func:`series_style`). A grade without
    positives or negatives in ``y_true`` is listed as undefined, with no line or marker in the
    legend; the legend goes where it covers the fewest curves, below the axes for 4 grades or
    more (no place inside is then free of them). The challenge's macro
    one-vs-one AUC (``drac_ssl.metrics.macro_ovo_auc``) is a different average; this plot
    shows where each grade is separated well. ``class_names``: the K grade names (default:
    K from ``probs``). Two grades: one curve, the second grade against the first
    (:func:`roc_curves`). Writes a PNG at ``path``."""
    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    p = np.asarray(probs, dtype=np.float64)
    if class_names is None:
        class_names = default_grade_names(p.shape[1] if p.ndim == 2 else 0)
    k = len(class_names)
    if p.ndim != 2 or p.shape != (y.size, k):
        raise ValueError(f"probs must be (n, {k}) with n = len(y_true) = {y.size}, "
                         f"got {p.shape}")
    fig = _new_figure(5.2, 4.6)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    for i, (label, fpr, tpr) in enumerate(roc_curves(y, p, class_names)):
        if not fpr.size:  # undefined: a legend line without a swatch, as no curve is drawn
            ax.add_line(Line2D([], [], linestyle="none", label=label))
            continue
        # markers every tenth of the curve's length: a step curve of 500 points stays a line
        ax.plot(fpr, tpr, linewidth=1.8, label=label, markersize=5, markevery=0.1, **series_style(i))
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    if k >= 4:  # 5+ entries: no place inside is free of curves (a review); below the axes, as plot_comparison
        fig.set_figheight(4.6 + 0.2 * (k + 1))
        fig.legend(loc="outside lower center", fontsize="small")
    whole = _fit_title(fig, ax, title, y.size)
    if k < 4:
        ax.legend(loc="best", fontsize="small")  # where it covers the fewest curves
    ax.grid(True, alpha=0.3)
    return _save(fig, path, whole)


def plot_comparison(
    rows: Sequence[Mapping[str, Any]],
    metric_keys: Sequence[str],
    path: str | os.PathLike[str],
    title: str = "Comparison",
    label_key: str = "name",
    metric_labels: Mapping[str, str] | None = None,
    n: int | None = None,
) -> Path:
    """Grouped bar chart: one group per metric in ``metric_keys``, one bar per row, each row's
    bars in their own colour and hatching (:data:`OKABE_ITO`, :data:`BAR_HATCHES`).

    ``rows``: e.g. ``[{"name": "scratch", "qwk": 0.71, "qwk_std": 0.03, "auc": ...},
    {"name": "VICReg", ...}, {"name": "VICReg+UMM", ...}]``; the bar label is
    ``row[label_key]`` (else ``row i``), an error bar is drawn where a ``"<metric>_std"``
    entry exists (± std) or ``"<metric>_ci_low"`` and ``"<metric>_ci_high"`` do (the
    interval, e.g. a 95% CI; it wins over a std), and each bar carries its value. The y axis
    says which kind of bar is drawn, naming the metrics that have one when not all do.
    ``metric_labels``: metric key -> its name on the axis (e.g. ``{"auc_ovo": "AUC
    (one-vs-one)"}``; else the key). Missing metrics leave an empty slot. ``n``: the images
    every row is measured on, said after the title as the confusion and ROC figures say it
    (`` (n = 25)``, kept whole when the title wraps). Writes a PNG at ``path``.
    """
    if not rows or not metric_keys:
        raise ValueError("plot_comparison needs at least one row and one metric key")
    n_rows, n_metrics = len(rows), len(metric_keys)
    width = 0.8 / n_rows
    x = np.arange(n_metrics, dtype=np.float64)
    fig = _new_figure(max(5.0, 1.2 * n_metrics * max(1.0, n_rows / 2) + 2.0), 4.4)
    ax = fig.add_subplot()
    kinds: set[str] = set()
    names = [str((metric_labels or {}).get(key, key)) for key in metric_keys]
    with_bars: dict[str, set[str]] = {"ci": set(), "std": set()}  # kind -> the metrics it is drawn on
    for r, row in enumerate(rows):
        values = np.array([_finite(row.get(key)) for key in metric_keys])
        stds = np.array([_finite(row.get(f"{key}_std")) for key in metric_keys])
        lows = np.array([_finite(row.get(f"{key}_ci_low")) for key in metric_keys])
        highs = np.array([_finite(row.get(f"{key}_ci_high")) for key in metric_keys])
        has_ci = np.isfinite(lows) & np.isfinite(highs) & np.isfinite(values)
        has_std = np.isfinite(stds) & ~has_ci
        below = np.where(has_ci, values - lows, np.where(has_std, stds, np.nan))
        above = np.where(has_ci, highs - values, np.where(has_std, stds, np.nan))
        drawn = has_ci | has_std
        kinds |= ({"ci"} if has_ci.any() else set()) | ({"std"} if has_std.any() else set())
        with_bars["ci"] |= {names[i] for i in np.flatnonzero(has_ci)}
        with_bars["std"] |= {names[i] for i in np.flatnonzero(has_std)}
        offsets = x - 0.4 + width * (r + 0.5)
        bars = ax.bar(offsets, np.nan_to_num(values), width=width * 0.95,
                      label=str(row.get(label_key, f"row {r}")),
                      color=OKABE_ITO[r % len(OKABE_ITO)], hatch=BAR_HATCHES[r % len(BAR_HATCHES)],
                      edgecolor="0.15", linewidth=0.6,
                      yerr=np.stack([np.clip(below, 0, None), np.clip(above, 0, None)]) if drawn.any() else None,
                      capsize=3 if drawn.any() else 0)
        for bar, value, up in zip(bars, values, above, strict=True):
            top = (value + up if math.isfinite(up) else value) if math.isfinite(value) else 0.0
            ax.annotate(f"{value:.3f}" if math.isfinite(value) else "n/a",
                        (bar.get_x() + bar.get_width() / 2, top), xytext=(0, 3),
                        textcoords="offset points", ha="center", va="bottom",
                        fontsize="small")
    ax.set_xticks(x, labels=names)
    ax.set_xlabel("metric")
    drawn_on = with_bars["ci"] | with_bars["std"]
    if drawn_on and drawn_on != set(names):  # not every metric has bars: say which do
        said = [f"{', '.join(n for n in names if n in with_bars[kind])}: {words}"
                for kind, words in (("ci", "95% CI"), ("std", "± std")) if with_bars[kind]]
        ax.set_ylabel(f"value (error bars: {'; '.join(said)})")
    else:
        ax.set_ylabel("value" + {frozenset(): "", frozenset({"std"}): " (mean ± std)",
                                 frozenset({"ci"}): " (error bars: 95% CI)",
                                 frozenset({"ci", "std"}): " (error bars: 95% CI, or ± std)"}[frozenset(kinds)])
    fig.legend(loc="outside lower center", ncols=min(n_rows, 4), fontsize="small")
    ax.grid(True, axis="y", alpha=0.3)
    ax.margins(y=0.15)
    return _save(fig, path, _fit_title(fig, ax, title, n))
