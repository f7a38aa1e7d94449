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

__all__ = ["TIE_DIGITS", "VARIANT_PREFERENCE", "deciding_referral", "ranking_figures", "recorded_selection",
           "referral_selection_words", "select_variant", "selection_words", "short_selection"]

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


def deciding_referral(figures: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A variant's referral cut when it gave the grades (two grades and
    ``finetune.referral_target``: metrics.json's ``referral_decides_grade`` and
    ``referable.referral``, with ``metric`` and ``level``), else None."""
    referral = (figures.get("referable") or {}).get("referral") if isinstance(figures.get("referable"), Mapping) else None
    if not figures.get("referral_decides_grade") or not isinstance(referral, Mapping):
        return None
    if referral.get("metric") not in ("sensitivity", "specificity"):
        return None
    return referral


def _other(metric: str) -> str:
    return "specificity" if metric == "sensitivity" else "sensitivity"


def _referral_rank(figures: Mapping[str, Any], name: str) -> tuple[int, float, float, float, int]:
    """The rank of a variant whose referral cut gave the grades (:func:`select_variant`): its
    cut met the target out of fold (1) or not (0); then, having met it, the other figure
    (specificity for a sensitivity target), having missed it, the target's figure (how near it
    came); then the other of the two; the AUC (``auc``); the fixed order."""
    referral = deciding_referral(figures) or {}
    metric = str(referral.get("metric"))
    met = referral.get("target_met_out_of_fold") is True
    target, other = _finite(referral.get(metric)), _finite(referral.get(_other(metric)))
    first, second = (other, target) if met else (target, other)
    return int(met), first, second, _finite(figures.get("auc")), _order(name)


def select_variant(metrics: Mapping[str, Mapping[str, Any]], decision: str) -> tuple[str, str]:
    """The variant to export and the rule in words (:func:`selection_words`).

    Ranked by the benchmark's own order: with ``finetune.decision=thresholds`` by the
    out-of-fold QWK, a tie broken by the macro one-vs-one AUC (``auc``), as the DRAC 2022
    leaderboard breaks ties; with ``argmax`` by accuracy, a tie broken by the macro
    one-vs-rest AUC (``auc_ovr``), the pair MedMNIST reports. A tie on both goes to
    :data:`VARIANT_PREFERENCE`'s order. Figures equal to :data:`TIE_DIGITS` decimals tie; a
    missing or non-finite figure ranks last.

    When a referral cut gave every variant's grades (two grades and ``finetune.referral_target``:
    :func:`deciding_referral`), the screening target ranks them instead, out of fold: the
    variants whose cut met it first, by the other figure (specificity for a sensitivity
    target, sensitivity for a specificity one), then those that missed it, by how near they
    came (the target's figure); a tie goes to the other of the two, then to the higher AUC
    (``auc``), then to :data:`VARIANT_PREFERENCE`'s order. (The QWK of a cut's grades ranked
    them before: a variant that missed the target could win over one that met it.)

    Args:
        metrics: variant name -> its out-of-fold metrics (``qwk``, ``accuracy``, ``auc``,
            ``auc_ovr``; with a referral cut, metrics.json's ``referral_decides_grade`` and
            ``referable.referral``); at least one variant (ValueError otherwise).
        decision: ``finetune.decision``.
    """
    if not metrics:
        raise ValueError("no variants to select from")
    if all(deciding_referral(m) is not None for m in metrics.values()):
        selected = max(metrics, key=lambda name: _referral_rank(metrics[name], name))
        return selected, referral_selection_words(metrics, selected)
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


def referral_selection_words(metrics: Mapping[str, Mapping[str, Any]], selected: str) -> str:
    """Why ``selected`` was exported when a referral cut gave the grades (:func:`select_variant`'s
    rule), in words that say the target and the figure that chose, e.g. ``its referral cut met
    sensitivity >= 0.90 out of fold, with the highest specificity of those that did, 0.527
    (finetune.referral_target=sensitivity:0.90, the grade decision with two grades: ...)``;
    ``no variant's referral cut met ... ; the nearest, sensitivity 0.897 (...)`` when none met it;
    a tie said as one. The words before `` (finetune.referral_target=`` are the short form
    (:func:`short_selection`)."""
    mine = deciding_referral(metrics[selected]) or {}
    metric = str(mine.get("metric"))
    shown = str(mine.get("target") or "?").rpartition(":")[2]  # referral_report's "sensitivity:0.90"
    goal = f"{metric} >= {shown}"
    other = _other(metric)
    rank = {name: _referral_rank(m, name) for name, m in metrics.items()}
    met = rank[selected][0] == 1
    n_met = sum(1 for r in rank.values() if r[0] == 1)
    figure = other if met else metric
    value = rank[selected][1]
    if met and n_met == 1:
        said = f"its referral cut met {goal} out of fold, the only one to"
    elif met:
        said = f"its referral cut met {goal} out of fold, with the highest {figure} of those that did"
    else:
        said = f"no variant's referral cut met {goal} out of fold; its came nearest"
    if value != -2.0 and not (met and n_met == 1):
        said += f", {figure} {value:.3f}" if not met else f", {value:.3f}"
    tied = [n for n in metrics if n != selected and rank[n][:2] == rank[selected][:2]]
    if tied and value != -2.0:
        second = other if figure == metric else metric
        also = [n for n in tied if rank[n][2] == rank[selected][2]]
        auc = [n for n in also if rank[n][3] == rank[selected][3]]
        said += f", tied on it with {_names(tied)}"
        said += (f"; chosen by the higher {second}" if len(also) < len(tied) else
                 "; chosen by the higher AUC" if len(auc) < len(also) else
                 f"; chosen by the tie-break order {', '.join(VARIANT_PREFERENCE)}")
    return (f"{said} (finetune.referral_target={metric}:{shown}, the grade decision with two grades: the "
            f"variants whose cut met the target out of fold first, by their {other}, then those that missed "
            f"it, by their {metric}; a tie goes to the other figure, the higher AUC, then to "
            f"{', '.join(VARIANT_PREFERENCE)} in that order)")


DRAC_TIE_WORDS = ", as DRAC breaks ties"
"""What :func:`selection_words` says of its one-vs-one AUC tie-break: a DRAC fact, which the
report and the model card of a run on other data leave out (:func:`recorded_selection`'s
``drac``)."""


def short_selection(selection: str) -> str:
    """The words of a recorded selection (:func:`selection_words`, ``finetune/summary.json``'s
    ``selection``) before their ``(finetune.decision=...)`` part: ``highest out-of-fold QWK``,
    ``tied on out-of-fold QWK (0.000, with scratch and vicreg) and ...; chosen by the
    tie-break order vicreg_umm, vicreg, scratch``; a referral cut's words
    (:func:`referral_selection_words`) before their ``(finetune.referral_target=...)`` part;
    words of another form up to their first `` (``."""
    for marker in (" (finetune.decision=", " (finetune.referral_target="):
        if marker in selection:
            return selection.split(marker, 1)[0]
    return selection.split(" (", 1)[0]


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
