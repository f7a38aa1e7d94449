"""Which fine-tuned variant a run exports, and why in words (standard library only).

:func:`select_variant` ranks the variants by the benchmark's own order (the fine-tuning
records its choice and words in ``finetune/summary.json``); :func:`selection_words` says it
again from recorded figures, so that a bundle built from a summary written before the tie
words, and the export of such a bundle (its ``metadata.json`` ``comparison`` rows), say a tie
as a tie: a trial's variants all at QWK 0.000, two of them tied on AUC too, were said to be
chosen by the "highest out-of-fold QWK". The fine-tuning (a stage) and the bundle, the
export and the report (inference and readers) share it; it imports nothing of theirs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["TIE_DIGITS", "VARIANT_PREFERENCE", "ranking_figures", "recorded_selection", "select_variant",
           "selection_words", "short_selection"]

VARIANT_PREFERENCE = ("vicreg_umm", "vicreg", "scratch")
"""The order that breaks a tie on both of :func:`select_variant`'s figures."""

TIE_DIGITS = 9
"""Figures equal to this many decimals are a tie (an AUC of 0.5444444444444445 against
0.5444444444444444 is the same figure computed two ways, not a lead)."""


def ranking_figures(decision: str) -> tuple[str, str, str, str]:
    """``(key, tie key, key's words, tie key's words)`` of ``finetune.decision``: the figures
    that rank the variants (:func:`select_variant`), for whoever says the selected one's:
    ``("qwk", "auc", "QWK", "AUC one-vs-one")`` for ``thresholds``, ``("accuracy", "auc_ovr",
    "accuracy", "AUC one-vs-rest")`` for ``argmax`` (any other value: argmax's)."""
    if decision == "thresholds":
        return "qwk", "auc", "QWK", "AUC one-vs-one"
    return "accuracy", "auc_ovr", "accuracy", "AUC one-vs-rest"


def _finite(value: Any) -> float:
    """A figure rounded to :data:`TIE_DIGITS` decimals; -2.0 (below any) when missing or not finite."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return round(float(value), TIE_DIGITS) if ok else -2.0


def _order(name: str) -> int:
    return -VARIANT_PREFERENCE.index(name) if name in VARIANT_PREFERENCE else -len(VARIANT_PREFERENCE)


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def select_variant(metrics: Mapping[str, Mapping[str, Any]], decision: str) -> tuple[str, str]:
    """The variant to export and the rule in words (:func:`selection_words`).

    Ranked by the benchmark's own order: with ``finetune.decision=thresholds`` by the
    out-of-fold QWK, a tie broken by the macro one-vs-one AUC (``auc``), as the DRAC 2022
    leaderboard breaks ties; with ``argmax`` by accuracy, a tie broken by the macro
    one-vs-rest AUC (``auc_ovr``), the pair MedMNIST reports. A tie on both goes to
    :data:`VARIANT_PREFERENCE`'s order. Figures equal to :data:`TIE_DIGITS` decimals tie; a
    missing or non-finite figure ranks last.

    Args:
        metrics: variant name -> its out-of-fold metrics (``qwk``, ``accuracy``, ``auc``,
            ``auc_ovr``); at least one variant (ValueError otherwise).
        decision: ``finetune.decision``.
    """
    if not metrics:
        raise ValueError("no variants to select from")
    key, tie_key, _, _ = ranking_figures(decision)

    def rank(name: str) -> tuple[float, float, int]:
        return _finite(metrics[name].get(key)), _finite(metrics[name].get(tie_key)), _order(name)

    selected = max(metrics, key=rank)
    return selected, selection_words(metrics, decision, selected)


def selection_words(metrics: Mapping[str, Mapping[str, Any]], decision: str, selected: str) -> str:
    """Why ``selected`` was exported, in words, given every variant's figures ``metrics`` (as
    :func:`select_variant` reads them).

    * it leads on the first figure: ``highest out-of-fold QWK (finetune.decision=thresholds; a
      tie goes to the higher AUC one-vs-one, as DRAC breaks ties, then to vicreg_umm, vicreg,
      scratch in that order)``, the words runs have always recorded;
    * tied on it, ahead on the second: ``tied on out-of-fold QWK (0.000, with scratch and
      vicreg); chosen by the higher AUC one-vs-one, as DRAC breaks ties
      (finetune.decision=thresholds)``;
    * tied on both: ``tied on out-of-fold QWK (0.000, with scratch and vicreg) and AUC
      one-vs-one (0.544, with vicreg); chosen by the tie-break order vicreg_umm, vicreg,
      scratch (finetune.decision=thresholds)``.

    The words before `` (finetune.decision=`` are the short form the export prints
    (:func:`short_selection`)."""
    key, tie_key, key_words, tie_words = ranking_figures(decision)
    drac = DRAC_TIE_WORDS if tie_key == "auc" else ""
    mine = metrics.get(selected) or {}
    value, tie_value = _finite(mine.get(key)), _finite(mine.get(tie_key))
    tied = [n for n in metrics if n != selected and _finite(metrics[n].get(key)) == value]
    if not tied or value == -2.0:
        return (f"highest out-of-fold {key_words} (finetune.decision={decision}; a tie goes to the "
                f"higher {tie_words}{drac}, then to {', '.join(VARIANT_PREFERENCE)} in that order)")
    first = f"tied on out-of-fold {key_words} ({value:.3f}, with {_names(tied)})"
    both = [n for n in tied if _finite(metrics[n].get(tie_key)) == tie_value]
    if not both or tie_value == -2.0:
        return f"{first}; chosen by the higher {tie_words}{drac} (finetune.decision={decision})"
    return (f"{first} and {tie_words} ({tie_value:.3f}, with {_names(both)}); chosen by the "
            f"tie-break order {', '.join(VARIANT_PREFERENCE)} (finetune.decision={decision})")


DRAC_TIE_WORDS = ", as DRAC breaks ties"
"""What :func:`selection_words` says of its one-vs-one AUC tie-break: a DRAC fact, which the
report and the model card of a run on other data leave out (:func:`recorded_selection`'s
``drac``)."""


def short_selection(selection: str) -> str:
    """The words of a recorded selection (:func:`selection_words`, ``finetune/summary.json``'s
    ``selection``) before their ``(finetune.decision=...)`` part: ``highest out-of-fold QWK``,
    ``tied on out-of-fold QWK (0.000, with scratch and vicreg) and ...; chosen by the
    tie-break order vicreg_umm, vicreg, scratch``; words of another form up to their first
    `` (``."""
    marker = " (finetune.decision="
    return selection.split(marker, 1)[0] if marker in selection else selection.split(" (", 1)[0]


def recorded_selection(selection: str, metrics: Any, decision: Any, selected: str, drac: bool = True) -> str:
    """A recorded ``selection`` (``finetune/summary.json``'s, a bundle's ``metadata.json``'s)
    as :func:`selection_words` says it now: the words of a run made before them ("highest
    out-of-fold QWK (...)", said of a tie too) are said again from ``metrics`` (variant ->
    figures: the summary's ``variants``, or the bundle's ``comparison`` rows keyed by their
    ``variant``) and ``decision`` when those hold ``selected`` and another variant and it was a
    tie (the rule's words alone then: a bundle's ``"; not shown better than ..."`` evidence
    after them is not kept); anything else (another form, too few figures, no tie) is returned
    as it is. ``drac`` False (a run on other data than DRAC's, :func:`drac_ssl.challenge.drac_scale`):
    without :data:`DRAC_TIE_WORDS`, the rule being this package's choice there (a screening
    trial's binary run read "as DRAC breaks ties")."""
    said = _recorded_selection(selection, metrics, decision, selected)
    return said if drac else said.replace(DRAC_TIE_WORDS, "")


def _recorded_selection(selection: str, metrics: Any, decision: Any, selected: str) -> str:
    """:func:`recorded_selection` with the DRAC words as recorded."""
    if (not selection.startswith("highest out-of-fold") or not isinstance(metrics, Mapping)
            or selected not in metrics or len(metrics) < 2 or decision not in ("thresholds", "argmax")):
        return selection
    if not all(isinstance(v, Mapping) for v in metrics.values()):
        return selection
    words = selection_words(metrics, decision, selected)
    return selection if words.startswith("highest out-of-fold") else words
