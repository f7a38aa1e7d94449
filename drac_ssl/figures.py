"""Figures for people: the one place that says how a number, an interval, a paired difference
and a Markdown table are written, for the fine-tuning's console, report.md, ``python -m
drac_ssl.compare``, the model card and the app.

Pure functions of plain values (a float, None, what JSON reads back), no numpy: a record read
back from ``metrics.json`` or ``comparison.json`` holds null where a figure was nan, and may
hold anything an older version wrote. The conventions, once for every caller:

* A figure is a finite real number (int, float, a numpy scalar), never a bool nor a string;
  anything else (None, nan, inf, True, ``"0.5"``) is written :data:`MISSING` (``n/a``).
* 3 decimals unless a caller asks for others (``seconds`` with 1).
* An interval is ``0.100..0.300``; a bound that is not 0 but would round to 0 gets more
  decimals (``-0.032..-0.0003``: it excludes 0, where ``-0.125..+0.000`` touches it); a
  difference and its bounds carry their sign
  (``+0.050 (+0.010..+0.090)``); a missing bound is :data:`MISSING` and the known one stays
  (``n/a..0.300``); both missing is :data:`MISSING`.
* A probability shown to a person (the app's result and its widget, the batch table's notes,
  the notes of a grade) is a whole percentage; the K probabilities of one image are rounded
  together so that they sum to 100 (:func:`whole_percentages`, largest-remainder rounding; equal
  values always alike, then within floor(K/2) of 100 for K grades: 99..101 for three, 98..102
  for five), and
  the ends are said as
  ``<1%`` and ``>99%`` (:func:`percent_texts`): never ``0%`` or ``100%``, which a model's
  probability never is; the app's batch table writes them so too, under ``P(k name) %``
  (:func:`app.server.table_columns`). Files for machines keep their decimals: the submission
  CSV's 6 (``P0..``), the notes CSV's 3.
* No evidence of grading better than chance (the QWK's 95% CI reaches 0) is said in one
  sentence, :func:`chance_words`, of a model's out-of-fold figures (the export, report.md, the
  model card, the app) and of a submission scored against held labels (``export --score``).
* An interval of width 0 (both bounds finite and equal) is not certainty: every bootstrap
  resample gave the same value. It is written ``not meaningful: <reason>``, the reason the
  caller knows (:func:`drac_ssl.metrics.degenerate_ci_reason` names one grade given to every
  image, say) or else :func:`constant_interval_reason`'s.

:mod:`drac_ssl.metrics` re-exports these names (its users imported them from there first).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["recall_ci_cell", "AUC_TWO_GRADES", "CHANCE_NEEDS", "INCONCLUSIVE_NEEDS", "KAPPA_TWO_GRADES", "KEEP_BEST_CAVEAT", "KEEP_SELECTION_GAP", "MISSING", "auc_words", "ece_with_reference", "ECE_REFERENCE_NOT_RECORDED", "kappa_name", "two_grades_of", "figure_with_ci", "bound_digits", "percent_text", "percent_texts", "referable_percent_text", "rounded_probabilities", "tie_words", "tied_grades", "whole_percentages", "chance_words", "ci_words", "constant_interval_reason", "figure_text",
           "finite_number", "finite_pair", "format_ci",
           "format_difference", "format_signed_interval", "format_with_ci", "interval_width_zero",
           "markdown_table", "screening_figure_words", "screening_figures_words", "signed_text"]

MISSING = "n/a"
"""How a figure that is absent or not a finite number is written."""


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a figure: absent (None, null in
    JSON), nan or inf, a bool (JSON's ``true`` is no metric), a string, anything that is not a
    real number. Numpy scalars count as numbers."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def figure_text(value: Any, digits: int = 3) -> str:
    """A figure for people with ``digits`` decimals (``0.812``), or :data:`MISSING` (``n/a``)
    for anything :func:`finite_number` does not take."""
    v = finite_number(value)
    return MISSING if v is None else f"{v:.{digits}f}"


def rounded_probabilities(probs: Sequence[Any], total: int) -> list[int]:
    """``probs`` (K probabilities of one image, summing to 1 within float rounding) as K whole
    numbers of ``total`` parts (100: percentages; 1000: thousandths): largest-remainder
    (Hamilton) rounding, each value floored and the parts left over given one each to the
    largest remainders; on equal remainders to the larger exact value first (so a larger
    probability never gets a smaller part), then to the lower grade. Equal values always get the
    same part: where the parts left over would split a group of equal values (0.455 / 0.09 /
    0.455 would be 46 / 9 / 45), each of them gets its own value rounded half up instead (46 / 9
    / 46; 0.005 / 0.005 / 0.99 is 1 / 1 / 99, not 1 / 0 / 99; 1/3 each is 33 / 33 / 33), still
    never a smaller part for a larger value. So the parts add up to exactly ``total`` unless
    equal values were split, and then to within floor(K/2) of it for K grades (at most 1 for
    three grades, 99..101 percent, 2 for five, 98..102; checked on every grid of 1/200 resp. 1/40
    and on random ties of 2 to 8 grades, in percent and thousandths), each
    part within 1 of its exact value, as without ties. The values are scaled by
    their own sum first (a row off by float rounding). Raises ValueError for no value, or one that
    is negative or not finite, or all zero."""
    values = [finite_number(p) for p in probs]
    if not values or any(v is None or v < 0 for v in values):
        raise ValueError(f"probabilities must be finite and >= 0, got {list(probs)!r}")
    given = [float(v) for v in values if v is not None]
    whole = sum(given)
    if whole <= 0:
        raise ValueError(f"probabilities must not all be 0, got {list(probs)!r}")
    exact = [v / whole * total for v in given]
    parts = [math.floor(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda k: (-(exact[k] - parts[k]), -exact[k], k))
    for k in order[:total - sum(parts)]:
        parts[k] += 1
    groups: dict[float, list[int]] = {}
    for k, value in enumerate(given):
        groups.setdefault(value, []).append(k)
    for members in groups.values():
        if len({parts[k] for k in members}) > 1:  # a tie split by the parts left over
            for k in members:
                parts[k] = math.floor(exact[k] + 0.5)
    return parts


def whole_percentages(probs: Sequence[Any]) -> list[int]:
    """:func:`rounded_probabilities` in percent: ``[0.034, 0.367, 0.599]`` -> ``[3, 37, 60]``
    (not 3 + 37 + 61 = 101, as rounding each alone gives); equal values alike
    (``[0.455, 0.09, 0.455]`` -> ``[46, 9, 46]``, 101: the one precision of the page, its
    widget's bars and labels, the batch table and its notes)."""
    return rounded_probabilities(probs, 100)


def _alone_percentages(probs: Sequence[Any]) -> list[int]:
    """Each of ``probs`` (scaled by their sum) as a whole percentage rounded alone, half up."""
    values = [float(v) for v in probs]
    whole = sum(values)
    return [math.floor(100 * v / whole + 0.5) for v in values]


def tied_grades(probs: Sequence[Any]) -> list[int]:
    """The grades of ``probs`` (K probabilities of one image) that tie for the largest at the
    precision people are shown, whole percentages, in grade order; one grade (the largest, the
    first of equal maxima) when none ties with it. A grade ties when its percentage equals the
    largest's either rounded alone (0.449 and 0.451 are both 45%) or rounded with the others
    (:func:`whole_percentages`: 0.333 / 0.334 / 0.333 reads 33 / 34 / 33, and 33 and 33 alone;
    equal values always read alike). The one tie
    rule of the app's sentences ("equally likely", the Borderline line's ``about 45% each``, the
    milder-grade warning, the notes CSV's ``most_likely_grade``) and the export's notes. Raises
    ValueError as :func:`rounded_probabilities` does."""
    together = whole_percentages(probs)
    alone = _alone_percentages(probs)
    values = [float(v) for v in probs]
    top = max(range(len(values)), key=values.__getitem__)
    return [k for k in range(len(values))
            if k == top or together[k] == together[top] or alone[k] == alone[top]]


def tie_words(probs: Sequence[Any], grades: Sequence[int]) -> str:
    """The figure of ``grades`` (two or more of ``probs``, tied: :func:`tied_grades`) in words:
    ``45% each`` when the texts shown beside them (:func:`percent_texts`) are equal, as for equal
    probabilities (0.455 / 0.09 / 0.455, shown 46 / 9 / 46: ``46% each``, the figure of the
    cells beside them); ``about 45% each`` when only each
    rounded alone is (0.333 / 0.334 / 0.333 is shown 33 / 34 / 33, each 33% alone), the
    percentage of the largest of them rounded alone."""
    shown = percent_texts(probs)
    if len({shown[k] for k in grades}) == 1:
        return f"{shown[grades[0]]} each"
    alone = _alone_percentages(probs)
    top = max(grades, key=lambda k: float(probs[k]))
    return f"about {percent_text(alone[top])} each"


def percent_text(percent: int) -> str:
    """A whole percentage as people read it: ``37%``; ``<1%`` for 0 and ``>99%`` for 100 (a
    model's probability is never exactly either)."""
    p = int(percent)
    return "<1%" if p <= 0 else ">99%" if p >= 100 else f"{p}%"


def percent_texts(probs: Sequence[Any]) -> list[str]:
    """The K probabilities of one image as people are shown them: :func:`whole_percentages`
    written by :func:`percent_text` (``['<1%', '37%', '63%']``): whole percentages adding up to
    100, except that equal probabilities always read alike (``['46%', '9%', '46%']`` for 0.455 /
    0.09 / 0.455, ``['1%', '1%', '99%']`` for 0.005 / 0.005 / 0.99, ``33%`` each for 1/3 each),
    their figures then adding up to within floor(K/2) of 100 (99..101 for three grades, 98..102
    for five: :func:`rounded_probabilities`). Raises ValueError as :func:`rounded_probabilities` does."""
    return [percent_text(p) for p in whole_percentages(probs)]


def referable_percent_text(probs: Sequence[Any], from_grade: int) -> str:
    """P(referable) of ``probs`` (K probabilities of one image) from grade ``from_grade`` (1 to
    K-1) as the page says it: the sum of the referable grades' whole percentages as
    :func:`percent_texts` shows them (0.496 / 0.010 / 0.168 / 0.158 / 0.168 from grade 2:
    17 + 16 + 17 = ``50%``, where 0.494 rounded alone says 49%), written by :func:`percent_text`,
    except where that text would contradict the figures beside it. Equal probabilities may make
    the shown figures add up to more than 100 (:func:`rounded_probabilities`), so that the sum
    reaches 100 while a milder grade shows 1% or more: 0.0184 / 0.2454 x 4 from grade 1 is
    shown 2% / 25% x 4, 0.01 / 0.495 / 0.495 1% / 50% / 50%; the text is then ``99%``, not
    ``>99%`` (true: 98.16%, 99%), as it is when two or more milder grades all show ``<1%`` but
    add up to 0.005 or more. Symmetrically, where two or more referable grades all show ``<1%``
    but add up to 0.005 or more (0.994 / 0.003 / 0.003 from grade 1, shown 100 / 0 / 0) it is
    ``1%``, not ``<1%``. One grade's own figure is never contradicted: one referable grade
    showing ``>99%`` keeps ``>99%``, the last grade alone reads as its own figure. Raises
    ValueError as :func:`rounded_probabilities` does, and for a ``from_grade`` outside 1..K-1."""
    shown = whole_percentages(probs)
    r = int(from_grade)
    if not 1 <= r < len(shown):
        raise ValueError(f"from_grade must be 1..{len(shown) - 1} for {len(shown)} grades, got {from_grade!r}")
    values = [float(v) for v in probs]
    tail = sum(values[r:]) / sum(values)
    total = sum(shown[r:])
    milder_shown = sum(shown[:r]) >= 1 or (r >= 2 and 1 - tail >= 0.005)
    if total >= 100 and max(shown[r:]) < 100 and milder_shown:
        return percent_text(99)
    if total <= 0 and len(shown) - r >= 2 and tail >= 0.005:
        return percent_text(1)
    return percent_text(total)


def signed_text(value: Any, digits: int = 3) -> str:
    """A difference for people, its sign always written (``+0.050``, ``-0.010``, ``+0.000``),
    or :data:`MISSING`."""
    v = finite_number(value)
    return MISSING if v is None else f"{v:+.{digits}f}"


def interval_width_zero(low: Any, high: Any) -> float | None:
    """The one value of an interval of width 0 (both bounds finite and equal), else None."""
    lo, hi = finite_number(low), finite_number(high)
    return lo if lo is not None and lo == hi else None


def constant_interval_reason(value: float) -> str:
    """Why an interval of width 0 at ``value`` tells nothing, when nothing more specific is
    known: ``every resample gives 0.000: no resample of these images changes it``."""
    return f"every resample gives {value:.3f}: no resample of these images changes it"


def bound_digits(value: Any, digits: int = 3, most: int = 6) -> int:
    """Decimals to write an interval's bound with: ``digits``, or more (up to ``most``) when a
    bound that is not 0 would round to 0 (``-0.00027`` is ``-0.0003``, not ``-0.000``: a CI
    ending there excludes 0, one ending at ``+0.000`` touches it)."""
    v = finite_number(value)
    if v is None or v == 0 or round(v, digits) != 0:
        return digits
    return max(digits, min(most, -math.floor(math.log10(abs(v)))))


def _interval(low: Any, high: Any, reason: str | None, text: Any) -> str:
    """:func:`format_ci`'s words with ``text`` writing each bound (more decimals for a bound
    that would round to 0 without being 0: :func:`bound_digits`)."""
    if not reason:
        value = interval_width_zero(low, high)
        reason = None if value is None else constant_interval_reason(value)
    if reason:
        return f"not meaningful: {reason}"
    if finite_number(low) is None and finite_number(high) is None:
        return MISSING
    low, high = (_denoised(v) for v in (low, high))
    return f"{text(low, bound_digits(low))}..{text(high, bound_digits(high))}"


def _denoised(value: Any) -> Any:
    """A bound closer to 0 than :func:`bound_digits`' most decimals can show (1e-17: float
    noise of a difference of two equal kappas) as 0, never ``-0.000000``."""
    v = finite_number(value)
    return 0.0 if v is not None and abs(v) < 5e-7 else value


def format_ci(low: Any, high: Any, reason: str | None = None) -> str:
    """An interval for people: ``0.100..0.300``; ``not meaningful: <reason>`` when ``reason``
    (e.g. :func:`drac_ssl.metrics.degenerate_ci_reason`'s) is given or the interval has width
    0 (then :func:`constant_interval_reason`); ``n/a..0.300`` with one bound missing or not
    finite, ``n/a`` with both."""
    return _interval(low, high, reason, figure_text)


def format_signed_interval(low: Any, high: Any, reason: str | None = None) -> str:
    """The interval of a difference, ``+0.010..+0.090``, in :func:`format_ci`'s words
    otherwise (``not meaningful: <reason>`` for width 0: ``+0.000..+0.000`` would read as
    certainty; ``n/a`` for a missing bound). The export choice's evidence is written with it
    (``drac_ssl.finetune._selection_evidence``: ``vicreg (+0.053, 95% CI -0.400..+0.400)``),
    stored as the fine-tuning summary's ``selection_evidence``, which report.md and the model
    card repeat as stored."""
    return _interval(low, high, reason, signed_text)


def format_with_ci(value: Any, low: Any, high: Any, reason: str | None = None,
                   signed: bool = False) -> str:
    """A figure and its interval in one cell: ``0.650 (0.600..0.700)``, with ``signed``
    ``+0.050 (+0.010..+0.090)``; ``0.000 (CI not meaningful: <reason>)`` for an interval of
    width 0 or with a ``reason``; ``0.650 (CI n/a)`` without an interval; :data:`MISSING`
    alone when the figure itself is missing."""
    shown = (signed_text if signed else figure_text)(value)
    if shown == MISSING:
        return MISSING
    interval = (format_signed_interval if signed else format_ci)(low, high, reason)
    said = interval == MISSING or interval.startswith("not meaningful")  # words, not bounds
    return f"{shown} ({'CI ' if said else ''}{interval})"


def recall_ci_cell(g: Mapping[str, Any]) -> str:
    """``0.842 (16/19; 0.624..0.945)`` for one grade's recall (a row of
    :func:`drac_ssl.metrics.recall_intervals`: ``n``, ``hits``, ``recall``, ``recall_ci95``,
    ``ci_method``, ``ci_n_eff``, ``ci_units``; ``export --score``'s ``per_grade``, report.md's
    and the model card's per-grade sensitivity): ``n/a`` for a grade without images; the interval's method said
    where it is not the header's plain Wilson score (``, bootstrap``; with patients ``16/19
    images; ..., n_eff 12.3 of 14 patients``; ``sites`` where the row's ``ci_unit`` is ``site``:
    a leave-one-site-out run's units)."""
    if not g.get("n"):
        return "n/a"
    method = g.get("ci_method")
    unit = " images" if method == "wilson_patients" else ""
    n_eff, units = g.get("ci_n_eff"), g.get("ci_units")
    how = (", bootstrap" if method == "bootstrap" else
           f", n_eff {n_eff:.1f}" + (f" of {units} {g.get('ci_unit') or 'patient'}{'' if units == 1 else 's'}"
                                     if isinstance(units, int) else "")
           if method == "wilson_patients" and isinstance(n_eff, int | float) else "")
    interval = format_ci(*(list(g.get("recall_ci95") or []) + [None, None])[:2])
    return f"{figure_text(g.get('recall'))} ({g.get('hits')}/{g.get('n')}{unit}; {interval}{how})"


def figure_with_ci(metrics: dict[str, Any], key: str, ci_key: str) -> str:
    """``metrics[key]`` for report.md (and export --score's figures line) with its stored
    bootstrap 95% CI ``metrics[ci_key]`` (``[low, high]``): ``0.812 (95% CI 0.780..0.841)``;
    ``n/a`` for a bound that is not a finite number, the interval "not meaningful" with its
    reason at width 0 (:func:`format_ci`); the figure alone for a run made before that interval
    was stored (``auc_ovo_ci95`` and ``accuracy_ci95`` since the stats audit, F3)."""
    shown = figure_text(metrics.get(key))
    stored = metrics.get(ci_key)
    if not isinstance(stored, list | tuple) or len(stored) < 2 or shown == figure_text(None):
        return shown
    return f"{shown} (95% CI {format_ci(stored[0], stored[1])})"


ECE_REFERENCE_NOT_RECORDED = ("no reference for a perfectly calibrated model recorded (made before "
                              "it was; the ECE of a few hundred images is biased upwards: rebuild or re-score "
                              "for the reference)")
"""What :func:`ece_with_reference` says of a record made before ``ece_if_calibrated`` was (its
``ece_ci95``, a percentile bootstrap interval that did not hold a perfect model's 0, is not
shown)."""


def ece_with_reference(record: Mapping[str, Any]) -> str:
    """The observed ECE ``record["ece"]`` beside the ECE a perfectly calibrated model with the
    same probabilities would show (``ece_if_calibrated``, its mean, and
    ``ece_if_calibrated_p95``: :func:`drac_ssl.metrics.ece_if_calibrated`), for the out-of-fold
    calibration line (report.md, the model card) and ``export --score``: ``0.039 (a perfectly
    calibrated model with these probabilities would show ECE ~0.036, 95th percentile 0.056: no
    miscalibration beyond chance shown)``; above the 95th percentile, ``miscalibrated beyond
    chance``. Three decimals, or as many more (up to six) as it takes for the ECE and the 95th
    percentile to differ when they round alike (``0.0561 ... 95th percentile 0.0558:
    miscalibrated beyond chance``, not ``0.056`` beside ``0.056``). A record without the
    reference (made before it was) says so (:data:`ECE_REFERENCE_NOT_RECORDED`);
    :data:`MISSING` alone for a missing ECE."""
    ece = finite_number(record.get("ece"))
    if ece is None:
        return MISSING
    mean, p95 = finite_number(record.get("ece_if_calibrated")), finite_number(record.get("ece_if_calibrated_p95"))
    if mean is None or p95 is None:
        return f"{figure_text(ece)} ({ECE_REFERENCE_NOT_RECORDED})"
    digits = next((d for d in range(3, 7) if figure_text(ece, d) != figure_text(p95, d)), 3)
    verdict = "miscalibrated beyond chance" if ece > p95 else "no miscalibration beyond chance shown"
    return (f"{figure_text(ece, digits)} (a perfectly calibrated model with these probabilities would show ECE "
            f"~{figure_text(mean, digits)}, 95th percentile {figure_text(p95, digits)}: {verdict})")


def auc_words(metrics: dict[str, Any], num_grades: int, drac: bool) -> str:
    """The AUCs of report.md's variant line and of export --score's figures line, each with its
    stored 95% CI (:func:`figure_with_ci`): ``0.812 (95% CI 0.780..0.841) (one-vs-one;
    one-vs-rest 0.806 (95% CI ...))``; ``drac`` (the run is on DRAC's kind of data,
    :func:`drac_ssl.report._drac_data`; False for export --score, whose labels are the user's)
    names the one-vs-one AUC as the challenge's tie-breaker, which it is for DRAC alone. With
    ``num_grades`` 2 the two AUCs are one number (:func:`drac_ssl.metrics.macro_ovo_auc` and
    :func:`drac_ssl.metrics.macro_ovr_auc` are both the ROC AUC of P1), given once and said
    to coincide."""
    ovo = figure_with_ci(metrics, "auc", "auc_ovo_ci95")
    if num_grades == 2:
        return f"{ovo} (with two grades one-vs-one and one-vs-rest coincide: the ROC AUC of P1)"
    tie_breaker = ", DRAC's tie-breaker" if drac else ""
    return (f"{ovo} (one-vs-one{tie_breaker}; one-vs-rest "
            f"{figure_with_ci(metrics, 'auc_ovr', 'auc_ovr_ci95')})")


def format_difference(value: Any, low: Any, high: Any, reason: str | None = None) -> str:
    """A paired difference and its interval for people, :func:`format_with_ci` signed:
    ``+0.050 (+0.010..+0.090)``, ``+0.000 (CI not meaningful: every resample gives 0.000:
    no resample of these images changes it)``, ``+0.050 (n/a..+0.090)``, ``n/a``. The
    fine-tuning's console, report.md's differences table and compare's tables write it."""
    return format_with_ci(value, low, high, reason, signed=True)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table as lines, then an empty line: ``header`` the column titles, ``rows``
    the cells (each written with ``str``, already formatted: a number here is no figure)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def finite_pair(values: Any) -> tuple[float, float] | None:
    """The first two entries of a stored interval (``[low, high]``) as floats, or None when
    it is absent or either bound is not a finite number."""
    if not isinstance(values, list | tuple) or len(values) < 2:
        return None
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values[:2]):
        return None
    return float(values[0]), float(values[1])


CHANCE_NEEDS = "more labelled images, more training or another recipe"
"""What a model no better than chance needs, in every remedy of :func:`chance_words`' callers;
in place of it :data:`INCONCLUSIVE_NEEDS` where the interval also holds useful grading."""
INCONCLUSIVE_NEEDS = "more labelled images"
"""What an inconclusive result needs (the QWK's interval holds chance-level and useful grading):
images to tell, not another recipe (a trial user's 30 photographs read "another recipe" as a
verdict on the method)."""
CHANCE_REMEDY = f"it needs {CHANCE_NEEDS}."
"""The end of :func:`chance_words` about a model."""


KAPPA_TWO_GRADES = "Cohen's kappa (K=2: QWK equals it)"
"""The kappa's name where there are two grades: the quadratic weighted kappa of two grades is
Cohen's kappa (one disagreement weight), so report.md's, the model card's and the console's
headers and figures of a two-grade run name it so (:func:`kappa_name`)."""

KEEP_SELECTION_GAP = ("best − last, which mixes that optimism with what a tuned epoch honestly adds: "
                      "the two cannot be split")
"""What ``python -m bench.keep_selection`` measures of ``finetune.keep=best``'s optimism, and
what it cannot separate: the one wording of the settings' fix, the fine-tuning's protocol and
report.md's comparison (:data:`KEEP_BEST_CAVEAT`'s optimism)."""

KEEP_BEST_CAVEAT = ("chosen on the rows they score (finetune.keep=best: each fold's epoch picked by its "
                    "kappa on the validation fold that then scores it), so the kappa is optimistic; "
                    "finetune.keep=last (the default) chooses no epoch on them")
"""``finetune.keep=best``'s caveat where its figures are headlined: the train command's result
line and report.md's "Read this first" (small-set review F4: it was only in the comparison's
protocol, deep in the report); ``python -m bench.keep_selection`` indicates the optimism
(:data:`KEEP_SELECTION_GAP`)."""

AUC_TWO_GRADES = "AUC of P(referable)"
"""The one AUC of two grades (the one-vs-one and one-vs-rest AUCs are both the ROC AUC of P1 =
P(referable)): its name in report.md's, the model card's and the console's figures."""


def kappa_name(num_grades: int | None, short: bool = False) -> str:
    """``QWK``, or with two grades :data:`KAPPA_TWO_GRADES` (``short``: ``Cohen's kappa``, where a
    header or a note beside it says that the QWK equals it)."""
    if num_grades == 2:
        return "Cohen's kappa" if short else KAPPA_TWO_GRADES
    return "QWK"


def two_grades_of(figures: Mapping[str, Any]) -> bool:
    """Whether a figures record (a variant's ``metrics.json``, a bundle's ``cv_metrics``,
    ``export --score``'s record) is of two grades: its ``class_names`` or ``num_grades`` say 2,
    or, where neither is stored (a bundle's ``cv_metrics``), it holds the two-grade screening
    figures ``sensitivity`` / ``specificity``, which only a two-grade run stores at its top."""
    names = figures.get("class_names")
    if isinstance(names, list | tuple) and names:
        return len(names) == 2
    k = figures.get("num_grades")
    if isinstance(k, int) and not isinstance(k, bool):
        return k == 2
    return "sensitivity" in figures and "specificity" in figures


USEFUL_QWK = 0.4
"""A QWK from which a reader would call the grading useful (Landis and Koch's "moderate"
agreement begins at 0.41): a CI reaching 0 whose upper end is at or above it holds both
chance-level and useful grading, and :func:`chance_words` says the result is inconclusive (a
trial user's 30 photographs, QWK 0.186, 95% CI -0.138..0.483, read "no evidence ... it needs
more labelled images" as the method failing)."""


def chance_words(figures: Mapping[str, Any], subject: str = "this model",
                 qwk_words: str = "out-of-fold QWK", remedy: str = CHANCE_REMEDY,
                 probabilities: bool = True) -> str | None:
    """The sentence saying that ``figures`` give no evidence of grading better than chance, or
    None when they do (or hold no QWK and interval).

    ``figures``: a record with ``qwk``, ``qwk_ci95`` (``[low, high]``, the bootstrap 95% CI)
    and optionally ``qwk_ci95_note`` (why an interval of width 0 is not meaningful),
    ``auc_ovr`` / ``auc`` (macro one-vs-rest / one-vs-one AUC) and ``auc_ovr_ci95``: a
    variant's ``metrics.json``, a bundle's ``cv_metrics``, ``export --score``'s record. The
    rule: the CI's lower end is at or below 0 (QWK 0 = chance agreement). When the one-vs-rest
    AUC's CI lies above 0.5 the sentence says that the probabilities do rank the images better
    than chance while the grades do not yet agree. When the interval reaches
    :data:`USEFUL_QWK` too, it says that the interval holds both chance-level and useful grading,
    so the result is inconclusive, not evidence that the method fails, and the remedy's
    :data:`CHANCE_NEEDS` becomes :data:`INCONCLUSIVE_NEEDS`. ``subject`` (``this model``, ``this
    submission``), ``qwk_words`` (what the QWK is: ``out-of-fold QWK``, ``QWK``) and
    ``remedy`` (after "Do not read its grades ... as a grading; ") word it for its caller.
    ``probabilities``: False for what gives grades only (a Kaggle file): "Do not read its
    grades", not "its grades or probabilities". Two grades (:func:`two_grades_of`): the kappa
    is named :data:`KAPPA_TWO_GRADES` and the one AUC :data:`AUC_TWO_GRADES`, never "macro AUC
    one-vs-rest" (the same number as the one-vs-one). With both AUCs stored the one-vs-one
    (``auc``: the ``result:`` line's, DRAC's tie-breaker) is said too, labelled."""
    qwk = figures.get("qwk")
    ci = finite_pair(figures.get("qwk_ci95"))
    if not isinstance(qwk, int | float) or ci is None or ci[0] > 0:
        return None
    two = two_grades_of(figures)
    if two:
        qwk_words = qwk_words.replace("QWK", KAPPA_TWO_GRADES)
    kind = "one-vs-rest" if isinstance(figures.get("auc_ovr"), int | float) else "one-vs-one"
    auc_name = AUC_TWO_GRADES if two else f"macro AUC {kind}"
    auc = figures.get("auc_ovr", figures.get("auc"))
    # both AUCs stored: the one-vs-one too, labelled, the one the result line and DRAC's tie-break give
    ovo = figures.get("auc") if kind == "one-vs-rest" and not two else None
    ovo_text = (f"one-vs-one {ovo:.3f}" if isinstance(ovo, int | float) and math.isfinite(ovo) else "")
    auc_text = (f", {auc_name} {auc:.3f}, {ovo_text} (0.5 = chance)" if ovo_text
                and isinstance(auc, int | float) and math.isfinite(auc) else
                f", {auc_name} {auc:.3f} (0.5 = chance)" if isinstance(auc, int | float) and math.isfinite(auc)
                else "")
    note = figures.get("qwk_ci95_note")
    where = "reaches 0" if ci[1] >= 0 else "lies below 0 (worse than chance)"
    ci_text = (f"95% CI {format_ci(ci[0], ci[1])} {where}" if not note and ci[0] != ci[1]
               else f"its CI {format_ci(ci[0], ci[1], note)}")
    said = f"No evidence that {subject} grades better than chance: {qwk_words} {qwk:.3f}, {ci_text}"
    kappa = kappa_name(2 if two else None, short=True)
    inconclusive = (f"; the {kappa}'s interval holds both chance-level and useful grading ({kappa} {USEFUL_QWK:g} "
                    f"or more), so the result is inconclusive, not evidence that the method fails"
                    if ci[1] >= USEFUL_QWK and ci[0] != ci[1] else "")  # too few images to tell
    if inconclusive:  # not "or another recipe" beside "not evidence that the method fails"
        remedy = remedy.replace(CHANCE_NEEDS, INCONCLUSIVE_NEEDS)
    auc_ci = finite_pair(figures.get("auc_ovr_ci95")) if kind == "one-vs-rest" else None
    if auc_ci is not None and auc_ci[0] > 0.5:
        return (f"{said}{inconclusive}. Its probabilities do rank the images better than chance ({auc_name} "
                f"{auc:.3f}, 95% CI {format_ci(auc_ci[0], auc_ci[1])}, above 0.5"
                f"{f'; {ovo_text}' if ovo_text else ''}), but "
                f"its grades do not yet agree with the true grades beyond chance. Do not read its "
                f"grades as a grading; {remedy}")
    read = "its grades or probabilities" if probabilities else "its grades"
    return f"{said}{auc_text}{inconclusive}. Do not read {read} as a grading; {remedy}"


def ci_words(interval: Any) -> str:
    """`` (95% CI 0.600..0.950)`` (:func:`format_ci`, a leading space) for a stored ``[low,
    high]``, as JSON reads it back; "" when none is stored (None, nan, too short)."""
    values = list(interval) if isinstance(interval, list | tuple) else []
    shown = format_ci(*(values + [None, None])[:2])
    return "" if shown == MISSING else f" (95% CI {shown})"


def screening_figure_words(figures: Mapping[str, Any], name: str, unit: str = "") -> str:
    """``'sensitivity 0.800 (12/15 images; 95% CI 0.600..0.950)'``: one figure (``name``:
    ``sensitivity`` or ``specificity``) of :func:`drac_ssl.metrics.referable_report`'s, with
    its count ``x/n`` where ``{name}_counts`` holds it and its interval where ``{name}_ci95``
    does, named when it is not the bootstrap's (``{name}_ci_method``): ``(15/15; 95% CI
    0.796..1.000, Wilson score)``; with patients (``wilson_patients``), the count is said in
    images and the interval's effective n (``{name}_ci_n_eff``, Kish's) and patients
    (``{name}_ci_units``) named: ``(15/15 images; 95% CI 0.452..1.000, Wilson score on an
    effective n of 3.2 (Kish; 8 patients))`` for 15 images from 8 patients of sizes 8, 1, 1,
    1, 1, 1, 1, 1. A run stored before the effective n (its interval on the number of
    patients) reads ``Wilson score on the 8 patients``. Runs made before the counts were
    stored get the figure and interval alone. ``figures``' ``ci_unit`` ``site`` (leave-one-site-out:
    the patients are sites) says sites instead. ``unit``: the counts' unit said after them
    (``patients`` for :func:`drac_ssl.metrics.patient_screening`'s figures), default
    ``images`` (``(12/15 images; 95% CI ...)``: every count says its unit)."""
    counts = figures.get(f"{name}_counts")
    method = figures.get(f"{name}_ci_method")
    unit = f" {unit}" if unit else " images"  # every count says its unit (docs/evaluation.md)
    count = (f"{counts[0]}/{counts[1]}{unit}" if isinstance(counts, list | tuple) and len(counts) == 2
             and all(isinstance(v, int) and not isinstance(v, bool) for v in counts) else "")
    values = figures.get(f"{name}_ci95")
    values = list(values) if isinstance(values, list | tuple) else []
    shown = format_ci(*(values + [None, None])[:2])
    units = figures.get(f"{name}_ci_units")
    n_eff = figures.get(f"{name}_ci_n_eff")
    patients = isinstance(units, int) and not isinstance(units, bool)
    noun = "site" if figures.get("ci_unit") == "site" else "patient"  # leave-one-site-out
    if method == "wilson_patients" and patients and isinstance(n_eff, int | float) \
            and not isinstance(n_eff, bool) and math.isfinite(n_eff):
        how = (f", Wilson score on an effective n of {n_eff:.1f} (Kish; {units} "
               f"{noun}{'' if units == 1 else 's'})")
    elif method == "wilson_patients" and patients:  # stored before the effective n
        how = f", Wilson score on the {units} {noun}s"
    else:
        how = ", Wilson score" if method in ("wilson", "wilson_patients") else ""
    interval = f"95% CI {shown}{how}" if shown != MISSING else ""
    inside = "; ".join(x for x in (count, interval) if x)
    return f"{name} {figure_text(figures.get(name))}" + (f" ({inside})" if inside else "")


def screening_figures_words(figures: dict[str, Any], unit: str = "") -> str:
    """``'sensitivity 0.800 (12/15 images; 95% CI 0.600..0.950), specificity 0.900 (18/20 images; 95% CI
    ...)'`` from :func:`drac_ssl.metrics.referable_report`'s figures (as returned or read back
    from JSON; a bundle's ``cv_metrics.referable``), each as :func:`screening_figure_words`
    says it: its count where stored, an interval only where ``sensitivity_ci95`` /
    ``specificity_ci95`` hold one (runs made before they were stored, and ``n_boot = 0``, have
    none), named when it is the Wilson score interval."""
    return ", ".join(screening_figure_words(figures, name, unit) for name in ("sensitivity", "specificity"))
