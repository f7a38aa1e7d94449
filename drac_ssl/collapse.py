"""Collapse of a self-supervised representation, read from a stage's recorded monitors.

:mod:`drac_ssl.pretrain` and :mod:`drac_ssl.umm.stage` record the monitors (``metadata.json``
``metrics``); :mod:`drac_ssl.report` says what they show. A layer: it imports no stage.
"""
from __future__ import annotations

from typing import Any

from drac_ssl.io import finite_number

__all__ = ["COLLAPSE_RATE_REDUCTION", "COLLAPSE_VARIANCE_SHARE", "COLLAPSE_VIEW_COSINE", "collapse_symptoms"]

COLLAPSE_RATE_REDUCTION = 0.5
"""Delta R (nats) below which the features tell images apart no better than two views of one
image. Delta R = R(all rows) - R_c(rows grouped per image) on L2-normalised features is 0
when every image maps to one direction (the collapse VICReg was built against: Bardes, Ponce,
LeCun, ICLR 2022) and small when different images are spread no more than two views of one
image. Measured on the eval-mode probe it is what a frozen backbone hands the head. Runs that
learnt have several nats (4 to 35 in ``bench/results/umm_protocol_*.json``); a collapsed
1-epoch run has about 0.001, and a trial's 3-epoch, 3-step run 0.11 (view cosine 0.9989),
no better; 0.5 sits eight times below the lowest run that learnt."""

COLLAPSE_VARIANCE_SHARE = 0.9
"""The VICReg variance term ``mean_k relu(gamma - std_k)`` at or above this share of
``gamma``: the embeddings' per-dimension standard deviation, capped at its target ``gamma``,
averages a tenth of the target or less, the paper's collapse symptom (std near 0; the term
is ``gamma - sqrt(eps)``, nearly ``gamma``, at full collapse)."""

COLLAPSE_VIEW_COSINE = 0.999
"""A view cosine this close to 1 is *reported* with a collapse, never a criterion alone: two
views of one image with the same features are what the invariance term asks for; only with
Delta R near 0 (different images alike too) is it the collapse."""


def collapse_symptoms(metrics: dict[str, Any], gamma: float = 1.0, stage: str = "vicreg") -> list[str]:
    """What in a stage's recorded monitors says the representation collapsed; [] when nothing does.

    ``metrics``: ``metadata.json``'s ``metrics`` of the pretraining (or UMM) stage, the
    best epoch's row: ``rate_reduction_last`` (Delta R of the last-layer features: the fixed
    probe's, eval mode, in pretraining; the training batches' in UMM), ``rate_reduction``
    (the training batches' Delta R, pairs membership; read when the probe is off),
    ``view_cosine_last`` and ``variance`` (the VICReg variance term). ``gamma``: the
    variance term's target std (``pretrain.loss.gamma``). ``stage``: ``"vicreg"`` or
    ``"umm"``, which says where ``rate_reduction_last`` was measured.

    Two symptoms, each a phrase of what was seen:

    - Delta R below :data:`COLLAPSE_RATE_REDUCTION`: the features tell the images apart no
      better than two views of one image (with a view cosine of at least
      :data:`COLLAPSE_VIEW_COSINE` the phrase says instead that every image gives nearly the
      same features);
    - the variance term at or above :data:`COLLAPSE_VARIANCE_SHARE` x ``gamma``: the
      embeddings' per-dimension std near 0.

    Absent or non-finite values are no evidence either way (never raises).
    """
    seen = []
    last = finite_number(metrics.get("rate_reduction_last"))
    where = "the probe" if stage != "umm" else "UMM's training batches"
    if last is None:
        last, where = finite_number(metrics.get("rate_reduction")), "the training batches"
    if last is not None and last < COLLAPSE_RATE_REDUCTION:
        cosine = finite_number(metrics.get("view_cosine_last"))
        meaning = (f" and view cosine {cosine:.4f}: every image gives nearly the same features"
                   if cosine is not None and cosine >= COLLAPSE_VIEW_COSINE
                   else ": the features tell the images apart no better than two views of one image")
        seen.append(f"rate reduction of {where} {last:.4f} (under {COLLAPSE_RATE_REDUCTION:g}; runs that "
                    f"learnt have several){meaning}")
    variance = finite_number(metrics.get("variance"))
    if variance is not None and gamma > 0 and variance >= COLLAPSE_VARIANCE_SHARE * gamma:
        seen.append(f"VICReg variance term {variance:.4f} of at most {gamma:g}: the embeddings' "
                    f"standard deviation per dimension (capped at its target {gamma:g}) averages "
                    f"{max(gamma - variance, 0.0):.2f}, near 0")
    return seen
