"""Collapse of a self-supervised representation, read from a stage's recorded monitors.

:mod:`drac_ssl.pretrain` and :mod:`drac_ssl.umm.stage` record the monitors (``metadata.json``
``metrics``); :mod:`drac_ssl.report` says what they show, and the console says the same
warning (:func:`collapse_warning`): at the end of the stage (:func:`console_collapse_warning`)
and after the run's ``[train] result:`` line (:func:`run_collapse_warnings`), each with the one
clause (:func:`expected_collapse_clause`) that says the collapse of a pretraining cut short (a
trial's) is expected. A layer: it imports no stage.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from data_prep.problems import counted
from drac_ssl import PRETRAIN_METHOD
from drac_ssl.io import finite_number, read_json_dict
from drac_ssl.trial_run import pretraining_cut_short, recorded_pool, standing_first_try

__all__ = ["COLLAPSE_RATE_REDUCTION", "COLLAPSE_VARIANCE_SHARE", "COLLAPSE_VIEW_COSINE", "EXPECTED_IN_FIRST_TRY",
           "EXPECTED_IN_TRIAL_RUN", "FEW_IMAGES_TO_PRETRAIN", "FIRST_TRYS_PRETRAINING", "SSL_STAGE_TITLES", "collapse_symptoms", "collapse_warning",
           "console_collapse_warning", "expected_collapse_clause", "recorded_gamma", "run_collapse_warnings",
           "stage_collapse_warning"]

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


SSL_STAGE_TITLES = {"pretrain": PRETRAIN_METHOD, "umm": "UMM"}
"""The self-supervised stages whose monitors are checked, by folder, and the name the report's
heading and the warning give each representation (the pretraining's:
:data:`drac_ssl.PRETRAIN_METHOD`)."""


def recorded_gamma(meta: dict[str, Any]) -> float:
    """The VICReg variance term's target std (``pretrain.loss.gamma``) a stage's ``metadata.json``
    recorded; 1.0, the default, when it records none (or not a finite number)."""
    config = meta.get("config")
    pretrain = config.get("pretrain") if isinstance(config, dict) else None
    loss = pretrain.get("loss") if isinstance(pretrain, dict) else None
    try:
        gamma = float(loss.get("gamma", 1.0)) if isinstance(loss, dict) else 1.0
    except (TypeError, ValueError):
        return 1.0
    return gamma if math.isfinite(gamma) else 1.0


def collapse_warning(meta: dict[str, Any], stage: str, *, markdown: bool = False) -> str:
    """The warning on a self-supervised stage whose recorded monitors show a collapsed
    representation (:func:`collapse_symptoms` of ``meta``, its ``metadata.json``: its best
    epoch's ``metrics`` and ``pretrain.loss.gamma``, :func:`recorded_gamma`); "" when they show
    none. ``stage``: ``"pretrain"`` or ``"umm"`` (:data:`SSL_STAGE_TITLES`). What was seen, what
    it means (the features carry little information about the images, so the fine-tuning
    figures of the variants built on it, the VICReg variants or, for ``"umm"``, the VICReg +
    UMM variant, measure mostly the head and the fine-tuning) and what to do, in the stage's
    own settings (:class:`drac_ssl.config.PretrainConfig`'s ``pretrain.epochs``,
    ``pretrain.batch_size``, ``pretrain.lr``; :class:`drac_ssl.config.UMMConfig`'s
    ``umm.epochs``, ``umm.batch_size``, ``umm.inner_lr`` and ``umm.outer_lr``, and the
    pretraining UMM starts from). ``markdown``: report.md's wording (bold, the
    settings as code, the figures "below"); else the console's plain words, which its
    ``warning:`` lines (pretraining's and UMM's last line, the run's result lines) prefix and
    :func:`expected_collapse_clause` ends (:func:`console_collapse_warning`)."""
    metrics = meta.get("metrics")
    seen = collapse_symptoms(metrics if isinstance(metrics, dict) else {}, gamma=recorded_gamma(meta),
                             stage="umm" if stage == "umm" else "vicreg")
    if not seen:
        return ""
    title = SSL_STAGE_TITLES.get(stage, stage)

    def code(setting: str) -> str:
        return f"`{setting}`" if markdown else setting

    head = (f"**The {title} representation looks collapsed**" if markdown
            else f"the {title} representation looks collapsed")
    below = " below" if markdown else ""
    section, stopped = ("umm" if stage == "umm" else "pretrain"), ""
    settings = _recorded_settings(meta, section)
    n_images, batch = recorded_pool(meta), _whole(settings.get("batch_size"))
    # a larger batch only where one fits the pool (batches are full: a batch over the pool has no step)
    fits = n_images is None or batch is None or 2 * batch <= n_images
    larger = (f" or with a larger batch ({code(f'{section}.batch_size')})" if fits else
              f" (its batch, {code(f'{section}.batch_size={batch}')}, is the largest {n_images} images allow)")
    if stage == "umm":  # UMM's own settings (config.UMMConfig); only the variant it trains is hit
        meaning = (f"the fine-tuning figures of the {PRETRAIN_METHOD} + UMM variant{below} measure mostly the head and "
                   f"the fine-tuning, not UMM's re-tuning")
        fix = (f"Re-tune UMM for more epochs ({code('umm.epochs')}){larger}, and check its learning rates "
               f"({code('umm.inner_lr')}, {code('umm.outer_lr')}); if the {PRETRAIN_METHOD} representation it "
               f"starts from looks collapsed too, mend the pretraining first")
    else:
        meaning = (f"the fine-tuning figures of the {PRETRAIN_METHOD} variants{below} measure mostly the head and the "
                   f"fine-tuning, not the pretraining")
        epochs, patience, run = (_whole(settings.get("epochs")), _whole(settings.get("patience")),
                                 _whole(meta.get("epochs_run")))
        early = (str(meta.get("stopped") or "").startswith("early stopping") and patience and run and epochs)
        stopped = (f"it stopped early, at epoch {run} of {epochs}, after {code(f'pretrain.patience={patience}')} "
                   f"epochs without a lower epoch loss" if early else "")
        if stopped:
            # more epochs change nothing: the loss stopped it (a trial user, 12 of 100 epochs run)
            fix = (f"As {stopped}, more epochs ({code('pretrain.epochs')}) alone change nothing: raise "
                   f"{code('pretrain.patience')} (0 turns early stopping off)"
                   f"{', or pretrain with a larger batch (' + code('pretrain.batch_size') + ')' if fits else larger}"
                   f", and check the learning rate ({code('pretrain.lr')})")
        else:
            fix = (f"Pretrain for more epochs ({code('pretrain.epochs')}){larger}, and check the learning rate "
                   f"({code('pretrain.lr')})")
    if n_images is not None and n_images < FEW_IMAGES_TO_PRETRAIN:  # no setting mends that
        said = [f"{counted(n_images // batch, 'step')} an epoch at batch {batch}" if batch else "", stopped]
        scratch = code("scratch")
        said = f" ({'; '.join(w for w in said if w)})" if any(said) else ""
        fix = (f"On {n_images} images{said}, self-supervised learning cannot be expected to learn features "
               f"that help the grading, whatever its settings: what counts is the comparison with {scratch} "
               f"(random features under a trained head){below or ' in report.md'}: a variant no better than "
               f"{scratch} gained nothing from it")
    return f"{head}: {'; '.join(seen)}. Its features then carry little information about the images, so {meaning}. {fix}."


FEW_IMAGES_TO_PRETRAIN = 300
"""A pool of fewer images than this gets no setting as the fix of a collapse (:func:`collapse_warning`):
a judgement, not a measurement. A trial user's 30 fundus photographs pretrained one step an epoch
(batch 16) and stopped early at epoch 12 of 100; more epochs changed nothing and a larger batch
was refused (larger than the pool). The scratch comparison of the fine-tuning is what tells."""


def _recorded_settings(meta: dict[str, Any], section: str) -> dict[str, Any]:
    """The ``section`` (``pretrain``, ``umm``) of the ``config`` a stage's ``metadata.json`` recorded; {}."""
    config = meta.get("config")
    found = config.get(section) if isinstance(config, dict) else None
    return found if isinstance(found, dict) else {}


def _whole(value: Any) -> int | None:
    """``value`` as a positive whole number, else None (a damaged record is no evidence)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


EXPECTED_IN_FIRST_TRY = " (expected in a first try: its pretraining is a few steps)"
"""What the console adds to a collapse warning of a run folder made with ``--first-try`` whose
pretraining is the first try's own (:func:`expected_collapse_clause`)."""

EXPECTED_IN_TRIAL_RUN = " (expected in a trial run: its pretraining was cut short)"
"""What the console adds to a collapse warning of another run whose pretraining was cut short
(:func:`expected_collapse_clause`)."""

FIRST_TRYS_PRETRAINING = ("pretrain.epochs", "pretrain.max_steps_per_epoch")
"""The settings that make a first try's pretraining a few steps (one epoch of at most 3; its
:data:`drac_ssl.trial_run.FIRST_TRY`): typed in place of one of them, the pretraining is the
user's, not the first try's."""


def expected_collapse_clause(run_dir: str | os.PathLike[str]) -> str:
    """The clause the console adds to every collapse warning of the run folder ``run_dir``,
    said of a standing first try's own pretraining, or of another run's pretraining that was
    itself cut short
    (:func:`drac_ssl.trial_run.pretraining_cut_short`: its step cap left less than an epoch,
    or its epochs were typed or set far below its config file's, as the stage ran them):

    * :data:`EXPECTED_IN_FIRST_TRY` when the folder's run is a ``--first-try`` one
      (:func:`drac_ssl.trial_run.standing_first_try`: its ``config.yaml`` still holds what
      that option set) that left the pretraining's epochs and step cap as it set them, cut
      or not by the rules above (a config of 3 epochs or a pool the cap does not cut still
      pretrains one epoch of a few steps);
    * :data:`EXPECTED_IN_TRIAL_RUN` for another run whose pretraining was cut short;
    * '' else: a full pretraining, even in a run whose fine-tuning alone was typed short or
      that ``run.reuse`` gave a full pretraining (a collapse there is a fault to mend, review
      F1), or a full run in a folder an earlier ``--first-try`` stopped in (review F2); also
      a folder with neither the pretraining's record nor a readable ``config.yaml``.

    One clause for the pretraining's, UMM's (built on that pretraining) and the run's result
    lines (a trial user read the warning after a 3-step first try as a fault); the rule and
    report.md's words stay as they are. Read when said: the pretraining's and UMM's record
    (``metadata.json``, its ``config`` and pool size) is written before their line."""
    first_try = standing_first_try(run_dir)
    typed_instead = {str(w).split("=", 1)[0] for w in (first_try or {}).get("replaced") or []}
    if first_try is not None and not typed_instead & set(FIRST_TRYS_PRETRAINING):
        # the first try's own pretraining (one epoch of a few steps) even where neither rule
        # below calls it cut: a config of 3 epochs, a pool too small for the step cap to cut
        # (a review found such a first try lost its clause)
        return EXPECTED_IN_FIRST_TRY
    if not pretraining_cut_short(run_dir):
        return ""
    return EXPECTED_IN_TRIAL_RUN


def console_collapse_warning(meta: dict[str, Any], stage: str, run_dir: str | os.PathLike[str]) -> str:
    """What the console says after a self-supervised stage of the run folder ``run_dir`` whose
    record ``meta`` (its ``metadata.json``) shows a collapse: :func:`collapse_warning`'s plain
    words and :func:`expected_collapse_clause`; '' when the monitors show none. The words of
    the pretraining's and UMM's ``warning:`` line, and of the run's (:func:`run_collapse_warnings`)."""
    words = collapse_warning(meta, stage)
    return f"{words}{expected_collapse_clause(run_dir)}" if words else ""


_SAID_BY_THE_STAGE: set[tuple[str, str]] = set()
"""(run folder, stage) whose collapse warning this run printed at the end of the stage
(:func:`stage_collapse_warning`): the run's result lines then point at it, not repeat it.
Emptied as each run starts (:func:`forget_stage_warnings`)."""


def forget_stage_warnings() -> None:
    """Forget the stage warnings this process printed (:func:`stage_collapse_warning`): called
    as a run starts (:func:`drac_ssl.train.run_pipeline`), so that a second run of the same
    folder in one process (a script, a notebook) whose stages were already done says their
    warnings in full, not "the [pretrain] warning above" with nothing above."""
    _SAID_BY_THE_STAGE.clear()


def stage_collapse_warning(meta: dict[str, Any], stage: str, run_dir: str | os.PathLike[str]) -> str:
    """:func:`console_collapse_warning`, for the stage's own ``warning:`` line (pretraining's,
    UMM's), remembered as said in this process so that :func:`run_collapse_warnings` does not
    print the same paragraph again after the run's result line (a trial user saw it twice)."""
    words = console_collapse_warning(meta, stage, run_dir)
    if words:
        _SAID_BY_THE_STAGE.add((str(Path(run_dir).resolve()), stage))
    return words


def run_collapse_warnings(run_dir: str | os.PathLike[str]) -> list[str]:
    """The console's :func:`console_collapse_warning` of each self-supervised stage of the run
    folder ``run_dir`` (``pretrain/metadata.json``, ``umm/metadata.json``) whose recorded
    monitors show a collapse, in stage order; [] when none does or no stage left its record.
    A stage that said it in full in this process (:func:`stage_collapse_warning`: it ran in
    this invocation) gets one short line pointing at it, with the trial clause
    (:func:`expected_collapse_clause`); a stage run earlier (a resumed run) gets the full words."""
    said = []
    for stage in SSL_STAGE_TITLES:
        meta = read_json_dict(Path(run_dir) / stage / "metadata.json")
        if meta is None or not (words := console_collapse_warning(meta, stage, run_dir)):
            continue
        if (str(Path(run_dir).resolve()), stage) in _SAID_BY_THE_STAGE:
            words = (f"the {SSL_STAGE_TITLES[stage]} representation looks collapsed: the [{stage}] warning "
                     f"above says what was seen and what to do{expected_collapse_clause(run_dir)}")
        said.append(words)
    return said
