"""A figure's title lies inside the figure and clear of its colour bar (user trial F6).

report/{scratch,vicreg,vicreg_umm}_confusion.png of the tiny run showed "... (n = 25": the
variant label pushed the one-line title past the figure's edge and under the colour bar. The
title is now wrapped to the axes' width. Each figure is rendered with the longest variant label
(scratch under a frozen backbone) and the title's box, measured by the Agg renderer, checked.

A review: a 300-character title on a two-grade matrix wrapped to 11 lines and did not settle
(the layout took each line from the axes, the equal-aspect matrix narrowed, the title wrapped
narrower still), the matrix squashed; and the comparison figure's count was the report's own
``n = 25 images``, free to break. The title now has at most plots.TITLE_LINES lines (cut with an
ellipsis, the count kept, the whole title in the PNG's ``Title`` text), measured against the
matrix as drawn, and the comparison says its count as the others do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from test_compare import make_run

from drac_ssl import plots
from drac_ssl.grading.bundle import FROZEN_SCRATCH_TITLE, VARIANT_TITLES, variant_title
from drac_ssl.report import write_report

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
    monkeypatch.setattr(plots, "_save", lambda fig, path, *title: (figures.append(fig), save(fig, path, *title))[1])
    return figures


def _title_inside(fig: Any) -> str:
    """The one titled axes' title, after checking it lies inside the figure, within the axes'
    width as drawn, and overlaps no other axes."""
    renderer = fig.canvas.get_renderer()
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert len(titled) == 1
    ax = titled[0]
    box = ax.title.get_window_extent(renderer)
    assert box.width <= ax.get_window_extent(renderer).width + 0.5, (box, ax.get_title())
    assert ax.get_title().count("\n") < plots.TITLE_LINES, ax.get_title()
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


LONG = " ".join(f"label{i:02d}" for i in range(60))[:300]  # 300 characters, no word cut


@pytest.mark.parametrize("k", sorted(SCALES))
def test_a_300_character_title_is_cut_to_a_few_lines_and_the_matrix_stays_square_and_large(
        k: int, drawn: list[Any], tmp_path: Path) -> None:
    path = plots.plot_confusion(np.ones((k, k)) * 5, tmp_path / "cm.png", SCALES[k], title=LONG)
    fig = drawn[0]
    title = _title_inside(fig)
    count = f"(n\u00a0=\u00a0{5 * k * k})"
    assert title.count("\n") == plots.TITLE_LINES - 1 and title.endswith(f" {plots.ELLIPSIS} {count}"), title
    kept = title.removesuffix(f" {plots.ELLIPSIS} {count}").replace("\n", " ")
    assert LONG.startswith(kept + " "), title  # cut at a word, every word before it kept
    renderer = fig.canvas.get_renderer()
    matrix = next(ax for ax in fig.axes if ax.get_title()).get_window_extent(renderer)
    assert abs(matrix.width - matrix.height) < 1 and matrix.height >= 0.5 * fig.bbox.height, (matrix, fig.bbox)
    # the whole title, plain spaces, in the PNG
    assert Image.open(path).text["Title"] == f"{LONG} (n = {5 * k * k})"


def _comparison_rows(names: list[str]) -> list[dict[str, Any]]:
    return [{"name": name, "qwk": 0.5, "qwk_ci_low": 0.3, "qwk_ci_high": 0.7, "auc_ovo": 0.8} for name in names]


def test_the_comparison_title_fits_and_keeps_its_count_whole(drawn: list[Any], tmp_path: Path) -> None:
    rows = _comparison_rows([LONGEST, VARIANT_TITLES["vicreg"]])
    plots.plot_comparison(rows, ["qwk", "auc_ovo"], tmp_path / "c.png",
                          f"{LONGEST}: out-of-fold metrics per backbone variant, QWK with its 95% CI", n=25)
    title = _title_inside(drawn[0])
    assert "\n" in title and title.endswith("(n\u00a0=\u00a025)"), title
    plots.plot_comparison(rows, ["qwk", "auc_ovo"], tmp_path / "long.png", LONG, n=25)
    title = _title_inside(drawn[1])
    assert title.endswith(f" {plots.ELLIPSIS} (n\u00a0=\u00a025)"), title
    assert Image.open(tmp_path / "long.png").text["Title"] == f"{LONG} (n = 25)"


def test_report_md_s_comparison_figure_says_its_count_as_the_others(drawn: list[Any], tmp_path: Path) -> None:
    write_report(make_run(tmp_path, "tiny", n=24))
    titles = [ax.get_title() for fig in drawn for ax in fig.axes if ax.get_title()]
    compared = [t for t in titles if t.startswith("Out-of-fold metrics per backbone variant")]
    assert len(compared) == 1 and compared[0].replace("\n", " ") == (
        "Out-of-fold metrics per backbone variant, QWK with its 95% CI (n\u00a0=\u00a024)"), titles


FROZEN_CONFUSION = f"{variant_title('scratch', 'frozen')}: out-of-fold confusion"


def test_a_title_that_fits_its_lines_alone_is_still_cut_to_keep_its_count(
        drawn: list[Any], tmp_path: Path) -> None:
    """A review: the title and its count needed 4 lines, the title alone fitted 3, so the cut
    added no ellipsis and the count "(n = 14)" was lost from the two-grade matrix's title."""
    plots.plot_confusion(np.eye(2) * 7, tmp_path / "cm.png", ["no referable DR", "referable DR"],
                         title=FROZEN_CONFUSION)
    title = _title_inside(drawn[0])
    assert title.endswith("(n\u00a0=\u00a014)"), title
    kept = title.removesuffix(" (n\u00a0=\u00a014)").removesuffix(f" {plots.ELLIPSIS}").replace("\n", " ")
    assert FROZEN_CONFUSION.startswith(kept), title


@pytest.mark.parametrize("title", [FROZEN_CONFUSION, LONG])
def test_every_width_keeps_the_count_whole_on_at_most_the_title_lines(title: str) -> None:
    count = plots._count_words(14)
    for width in range(1, len(title) + len(count) + 2):
        wrapped = plots._wrapped_title(title, count, width)
        lines = wrapped.split("\n")
        assert len(lines) <= plots.TITLE_LINES and lines[-1].endswith(count.strip()), (width, wrapped)
        if wrapped.replace("\n", " ") != f"{title}{count}":  # cut: at a word, then the ellipsis
            kept = wrapped.removesuffix(f"{plots.ELLIPSIS}{count}").strip().replace("\n", " ")
            assert f"{title} ".startswith(f"{kept} ".lstrip()), (width, wrapped)
            assert wrapped.endswith(f"{plots.ELLIPSIS}{count}"), (width, wrapped)
        shortest = len(f"{plots.ELLIPSIS}{count}") + 1  # the narrowest a cut title is wrapped to
        longest_word = max(len(word) for word in f"{title}{count}".split(" "))
        assert max(len(line) for line in lines) <= max(width, shortest, longest_word), (width, wrapped)
