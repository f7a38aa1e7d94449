"""Stage 4: cross-validated fine-tuning of a small grading head (K grades, grey or colour).

``run(cfg, run_dir) -> FinetuneResult`` is the whole stage; the orchestrator and the tests
both call it. For every *variant* of the backbone

* ``vicreg``: the VICReg backbone of ``run_dir/pretrain``,
* ``vicreg_umm``: the UMM backbone of ``run_dir/umm`` (when it exists and ``umm.enabled``),
* ``scratch``: the same architecture from random init (``finetune.compare_scratch``),

the same protocol runs: a head (``finetune.head``) on the backbone, the backbone frozen,
its last stage trainable, or all of it trainable at ``lr * backbone_lr_ratio``
(``finetune.freeze``; with ``finetune.head_warmup_epochs`` the pretrained variants first train
the head alone on the frozen backbone: LP-FT, Kumar et al., ICLR 2022), trained on the
labelled images of four folds and validated on the
fifth, for each fold of the manifest's ``fold`` column (assigned by the ingest, stratified
and grouped by patient when patients are known, and by image group when the ingest kept near
twins together: ``data.near_duplicate_mse``, the manifest's ``fold_group``). Test-split rows never enter training or
validation. Each fold keeps the weights after the last of ``finetune.epochs`` epochs
(``finetune.keep=last``, the default: no epoch is chosen on the fold that is then scored, so
the out-of-fold metrics carry no selection bias), or those of the epoch with the best
validation quadratic weighted kappa (early stopping with ``finetune.patience``;
``finetune.keep=best``: chosen on the scored fold, so its kappa is optimistic; ``bench/keep_selection.py``
indicates by how much: best − last, which mixes that optimism with what a tuned epoch honestly
adds, the two not to be split), or (``finetune.keep=inner``, honest early stopping) those of the epoch
with the best kappa on an inner split of the fold's training images
(``finetune.inner_fraction`` of them, grade-stratified, patients and near-twin groups kept
whole, the same for every variant: :func:`inner_split`), which the fold does not train on; its
validation images are then scored once, untouched by the choice.

The model itself (heads, :class:`~drac_ssl.grading.model.GradingModel`, its spec, the input
format and the class decision :class:`~drac_ssl.grading.model.Calibration`) lives in
:mod:`drac_ssl.grading.model`, which a bundle needs without this loop; the loss and its class
weights in :mod:`drac_ssl.losses.grading`. The out-of-fold metrics use
*cross-fitted* calibration: fold k's rows are calibrated with a temperature and thresholds
fitted on the other folds' out-of-fold predictions only (with ``finetune.label_fraction`` < 1
only those of the fold's own label draw), so fold k's rows never enter its own fit; the models
whose predictions it is fitted on were trained with fold k's labels, a second-order path by
which those labels still reach its calibration (docs/evaluation.md). The calibration fitted on all out-of-fold predictions (with a label fraction, those
of the images some fold was given) is the one stored for export (``calibration.json``).

The grading scale is the data's: K and the grade names come from the ingest summary
(:func:`drac_ssl.scale.read_ingest_facts`; DRAC's 3 grades when it records none), so heads
have K outputs, the calibration K - 1 thresholds and ``oof.csv`` the columns P0..P{K-1}.
The class decision (``finetune.decision``) is ``thresholds`` (the expected grade cut at the
kappa-tuned thresholds: DRAC's default) or ``argmax`` (the most probable calibrated grade,
which maximises accuracy); ``metrics.json`` reports QWK, accuracy and macro F1 of both rules
(cross-fitted) under ``decision_rules``, and the headline numbers and ``oof.csv``'s ``pred``
are the chosen rule's. The variant chosen for export has the best out-of-fold QWK
(``thresholds``) or accuracy (``argmax``).

Inputs: the ingest cache at ``pretrain.augment.source_size`` (grey ``(N, S, S)`` or RGB
``(N, S, S, 3)``: the backbone's channels must be the data's); training views from the
package's CPU augmentation (the ``pretrain.augment.recipe`` recipe, e.g. ``octa`` or
``fundus``, at ``finetune.image_size``, crop scale ``finetune.crop_scale``); evaluation
preprocessing is ``EvalDataset`` +
``build_eval_transform`` (INTER_AREA resize, normalisation), the very path that
:func:`drac_ssl.grading.predict.preprocess_image` replays. Test-time augmentation
(``finetune.tta``): the mean raw output over the four flips
:data:`drac_ssl.grading.predict.TTA_FLIPS`.

Speed: a frozen backbone runs once per variant, not once per epoch: the features of
``finetune.frozen_train_views`` augmented views (at most ``finetune.epochs``) of every labelled
image and of the flipped evaluation views are computed up front; each epoch the head sees
one of the stored views of each training image.

Outputs in ``run_dir/finetune/<variant>/``: ``oof.csv`` (id, grade, fold, P0..P{K-1},
score, pred, and the raw outputs; the probabilities rounded as a submission CSV rounds them,
6 decimals summing to 1, and every figure of them, the AUCs first, computed from those written
values, so that scikit-learn on the file gives the figure reported), ``folds.csv`` and
``metrics.json`` (per-fold and out-of-fold metrics, kappa with a bootstrap 95% CI of ``finetune.n_boot`` resamples: of the
patients, each with all its images, when the manifest names them (:func:`patient_groups`),
of the image groups the folds kept whole when the ingest kept near twins together
(``data.near_duplicate_mse``: its ``fold_group`` column), else of the images; ``ci_resamples``
/ ``ci_units`` say which; with ``finetune.referable_from`` (auto: grade >= 2 on the ICDR
scale, grade 1 with two grades), ``referable``: referable DR, grade >= r, of
:func:`drac_ssl.metrics.referable_report`, the CIs of its AUC, sensitivity and specificity on
the same resamples),
``calibration.json``, ``model.json`` (architecture and head width, input format, weight
files), ``fold{k}.safetensors`` (the head, and the backbone when it was trained; a frozen
backbone is stored once as ``backbone.safetensors``) and ``fold{k}.json`` (ids, history, raw
out-of-fold outputs: a rerun with the same settings reuses finished folds; :func:`_signature`
says which settings count). ``run_dir/finetune/comparison.{json,csv}`` holds the
side-by-side table (``comparison.json`` also each pretrained variant minus scratch on the same
out-of-fold images with a paired bootstrap 95% CI, ``pretrained_minus_scratch``, and VICReg +
UMM minus VICReg, ``umm_minus_vicreg``; with a referable cut, ``finetune.referable_from``,
each row's :data:`REFERABLE_COLUMNS` too; and ``majority_grade``, the figures of always
answering the most frequent grade of the out-of-fold labels,
:func:`drac_ssl.metrics.majority_grade_reference`: the floor report.md reads the variants
against) and ``summary.json`` the variant chosen for export.
"""

from __future__ import annotations

import copy
import csv
import functools
import hashlib
import io
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from drac_ssl import GRADE_NAMES, __version__, runtime
from drac_ssl.augment import (
    EvalDataset,
    ViewRecipe,
    build_view_transform,
    graham_fill,
    recipe_for,
    seed_worker,
)
from drac_ssl.bank_cache import BankCache, banked_features, view_inputs
from drac_ssl.checkpoint import save_weights
from drac_ssl.config import (
    DEFAULTS_BEFORE,
    FINETUNE_RANGES,
    AugmentConfig,
    Config,
    ConfigError,
    FinetuneConfig,
    check_ranges,
    layouts_in_words,
    referable_cut,
    referral_target,
    to_dict,
)
from drac_ssl.config import validate as validate_config
from drac_ssl.datasets import load_octa_cache
from drac_ssl.engine import Monitor
from drac_ssl.evaluation import stratified_split
from drac_ssl.figures import AUC_TWO_GRADES, KEEP_SELECTION_GAP, kappa_name
from drac_ssl.grading.bundle import (
    VARIANT_STAGE,
    ci_resampling_words,
    ci_units_words,
    freeze_words,
)
from drac_ssl.grading.model import (
    DECISIONS,
    DEFAULT_CROP_SCALE,
    FEATURE_STAGE,
    HEAD_WIDTH_SETTINGS,
    HEADS,
    Calibration,
    GradingModel,
    InputSpec,
    ModelSpec,
)
from drac_ssl.grading.predict import TTA_FLIPS, predict_raw
from drac_ssl.io import (
    atomic_write_json,
    atomic_write_text,
    read_json_dict,
    sha256_file,
)
from drac_ssl.losses.grading import class_weights_for, grading_loss
from drac_ssl.manifest import (
    labelled_rows,  # re-exported: bench/umm_ablation.py reads it here
    resampling_unit,
)
from drac_ssl.metrics import (
    REFERRAL_RULE,
    BootstrapScores,
    accuracy_score,
    apply_thresholds,
    binary_screening,
    bootstrap_ci_counted,
    bootstrap_scores,
    calibrated_one_grade_words,
    default_thresholds,
    degenerate_ci_reason,
    expected_grade,
    figure_text,
    format_ci,
    format_difference,
    format_signed_interval,
    grading_report,
    level_text,
    macro_ovo_auc,
    macro_ovr_auc,
    majority_grade_reference,
    one_grade_note,
    one_grade_words,
    operating_points_note,
    ovr_auc_per_grade_ci,
    p_referable,
    paired_difference,
    patient_screening,
    patient_screening_summary,
    quadratic_weighted_kappa,
    referable_report,
    referable_summary,
    referral_report,
    softmax,
    threshold_band_warning,
    two_grade_summary,
)
from drac_ssl.models import Backbone, BackboneArchitecture, PartialLoadWarning, load_local_weights
from drac_ssl.oof import (  # re-exported: the stage's public names before they moved to a layer
    OOF_FILE,
    OOF_RECORD,
    REFERABLE_COLUMNS,
    SCREENING_COLUMNS,
    ci_resampling,
    folds_taken_from,
    folds_taken_words,
    oof_columns,
    oof_csv_text,
    oof_record_fields,
    patient_groups,
    referable_columns,
    resampling_kind,
    site_cells,
    sites_as_patients,
)
from drac_ssl.optim import lr_at, param_groups, set_lr
from drac_ssl.run_state import (
    FOLDS_PLAN,
    OFFERED_FOLDS,
    TRAIN_VIEWS,
    fold_weights_problem,
    folds_saved_words,
)
from drac_ssl.runtime import (
    NonFiniteError,
    StageInterrupted,
    command_changes,
    dataloader_workers,
    epoch_seed,
    new_run_pairs,
    resolve_device,
    seed_everything,
    use_bf16,
    worker_context,
)
from drac_ssl.scale import describe_grades, read_ingest_facts
from drac_ssl.selection import VARIANT_PREFERENCE, deciding_referral, select_variant  # noqa: F401 - re-exported: they were here
from drac_ssl.submission import written_probabilities

__all__ = [
    "OFFERED_FOLDS",
    "REFERABLE_COLUMNS",
    "SCREENING_COLUMNS",
    "TRAIN_VIEWS",
    "VARIANTS",
    "FinetuneData",
    "FinetuneNonFiniteError",
    "FinetuneResult",
    "VariantResult",
    "backbone_sources",
    "check_settings",
    "ci_resampling",
    "epoch_order",
    "folds_taken_from",
    "inner_split",
    "folds_taken_words",
    "labelled_rows",
    "load_finetune_data",
    "monitor_score",
    "patient_groups",
    "referable_columns",
    "run",
    "select_variant",
    "spec_augment_config",
    "train_view_recipe",
    "train_view_transform",
    "view_keys",
]

VARIANTS = ("scratch", "vicreg", "vicreg_umm")
"""Backbone variants, in the order of the comparison table."""
EXTRACT_BATCH = 64

_FT_DEFAULTS = FinetuneConfig()


class FinetuneNonFiniteError(NonFiniteError):
    """A fold's training loss or validation outputs became NaN or infinite: the fold stopped
    and nothing of it was saved (no ``fold<k>.json`` or ``.safetensors``), so no later run
    reuses it; the folds saved before it are kept. The message names the variant, fold, epoch,
    learning rate and precision, and the fix (:func:`_non_finite_error`)."""


# --------------------------------------------------------------------------------------
# Sampling


def spec_augment_config(spec: InputSpec) -> AugmentConfig:
    """The :class:`~drac_ssl.config.AugmentConfig` of ``spec``'s transforms: its ``recipe``,
    ``image_size`` and ``source_size`` (pixels, square sides) and ``crop_scale`` (area fractions
    of the source image); every other augmentation setting is the default."""
    return AugmentConfig(recipe=spec.recipe, image_size=spec.image_size,
                         source_size=spec.source_size, crop_scale=list(spec.crop_scale))


def train_view_recipe(spec: InputSpec) -> ViewRecipe:
    """The augmentation recipe of ``spec``'s training views (:func:`drac_ssl.augment.recipe_for`
    of :func:`spec_augment_config`) with the spec's recorded normalisation statistics, rotated
    corners filled with 128 for Graham-filtered images (``spec.graham``:
    :func:`drac_ssl.augment.graham_fill`). Raises ValueError as ``recipe_for`` does."""
    return graham_fill(replace(recipe_for(spec_augment_config(spec)), mean=spec.mean, std=spec.std),
                       spec.graham)


def train_view_transform(spec: InputSpec, seed: int | None = None) -> Any:
    """One random training view of ``spec``'s input format: the ``recipe``'s CPU augmentation
    (:func:`drac_ssl.augment.build_view_transform`), an albumentations pipeline from a uint8
    ``(H, W)`` / ``(H, W, C)`` source image to a float32 ``(S, S)`` / ``(S, S, C)`` view normalised
    as :meth:`~drac_ssl.grading.model.InputSpec.eval_transform` normalises; ``seed`` seeds it."""
    return build_view_transform(spec_augment_config(spec), spec.channels,
                                recipe=train_view_recipe(spec), seed=seed)


def monitor_score(raw: np.ndarray, output: str) -> np.ndarray:
    """Uncalibrated score ``(n,)`` float64 for early stopping and the training's monitor: the
    expected grade ``sum_k k * P_k`` of ``softmax(logits)`` (temperature 1) for ``output ==
    "classification"`` and logits ``raw`` ``(n, K)``, else the regression output ``raw[:, 0]``
    of ``(n, 1)`` scores. No calibration is fitted yet when it is read (cut at
    :func:`drac_ssl.metrics.default_thresholds`)."""
    raw = np.asarray(raw, dtype=np.float64)
    return expected_grade(softmax(raw)) if output == "classification" else raw[:, 0]


def epoch_order(grades: np.ndarray, batch_size: int, class_balance: str, seed: int,
                num_grades: int | None = None) -> np.ndarray:
    """Positions of the training samples of one epoch: a permutation, or (``balanced_sampler``)
    ``n`` draws with replacement with probability ``1 / count(grade)``. A trailing batch of
    one sample is dropped (BatchNorm needs two)."""
    rng = np.random.default_rng(seed)
    n = len(grades)
    if class_balance == "balanced_sampler":
        counts = np.bincount(grades, minlength=num_grades or 0).astype(np.float64)
        w = 1.0 / counts[grades]
        order = rng.choice(n, size=n, replace=True, p=w / w.sum())
    else:
        order = rng.permutation(n)
    if len(order) > 1 and len(order) % batch_size == 1:
        order = order[:-1]
    return order


# --------------------------------------------------------------------------------------
# Data


@dataclass
class FinetuneData:
    """The ingest cache at ``source_size`` (uint8 grey ``(N, S, S)`` or RGB ``(N, S, S, 3)``),
    its manifest rows, and the scale and preprocessing the ingest recorded (DRAC's three
    grades, no fundus preprocessing by default)."""

    images: np.ndarray
    rows: list[dict[str, Any]]
    source_size: int
    description: str
    grade_names: tuple[str, ...] = GRADE_NAMES
    preprocessing: dict[str, bool] | None = None  # the ingest's fundus options (None: all off)
    # the patient of each label row the ingest left out as ungradable (data.ungradable=leave_out;
    # '' none named), in _patient_units' ids; None: the summary does not say (an older ingest)
    left_out_patients: list[str] | None = None

    @property
    def channels(self) -> int:
        """1 for grey ``(N, S, S)`` arrays, else the last axis."""
        return 1 if self.images.ndim == 3 else int(self.images.shape[-1])


def load_finetune_data(cfg: Config, data_dir: Path) -> FinetuneData:
    """The ingested images at ``pretrain.augment.source_size``, the manifest and the grade
    scale, channels and fundus preprocessing of ``data_dir/ingest_summary.json``."""
    if cfg.data.dataset != "drac":
        raise ValueError(
            f"the finetune stage grades ingested retinal images (data.dataset=drac: "
            f"{layouts_in_words()}); data.dataset={cfg.data.dataset!r}.\n"
            f"  fix: use data.dataset=drac, or evaluate generic datasets with k-NN / linear probes "
            f"(drac_ssl.evaluation)")
    size = cfg.pretrain.augment.source_size
    images, rows = load_octa_cache(data_dir, size)
    facts = read_ingest_facts(data_dir)
    n_lab = len(labelled_rows(rows))
    channels = 1 if images.ndim == 3 else int(images.shape[-1])
    if facts.recorded and channels != facts.channels:
        raise ValueError(f"{data_dir}: the ingest summary records {facts.channels} channel(s) but "
                         f"the cache holds {channels}; the ingest output is inconsistent, rerun "
                         f"the ingest stage")
    return FinetuneData(images, rows, size,
                        f"{facts.describe_images()}, {len(rows)} images "
                        f"({n_lab} labelled), {facts.num_grades} grades, {channels} channel(s), "
                        f"ingest at {data_dir}",
                        grade_names=facts.grade_names, preprocessing=dict(facts.preprocessing),
                        left_out_patients=left_out_patients(data_dir))


def left_out_patients(data_dir: Path) -> list[str] | None:
    """The patient of each label row ``data_dir/ingest_summary.json`` lists as left out
    ungradable (``left_out_ungradable``), as :func:`_patient_units` names them
    (``patient:<id>``, ``''`` for a row naming none: a patient of its own); ``[]`` when none
    was left out; None when the summary cannot be read or does not record a row's patient
    (an ingest before it did): the per-patient block then gives no such counts."""
    summary = read_json_dict(data_dir / "ingest_summary.json")
    if summary is None:
        return None
    rows = summary.get("left_out_ungradable") or []
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "patient" in r for r in rows):
        return None
    patients = [str(r["patient"] or "").strip() for r in rows]
    return [resampling_unit(p, "") if p else "" for p in patients]


# --------------------------------------------------------------------------------------
# Results


@dataclass
class VariantResult:
    """One variant's cross-validated fine-tuning (``finetune/<name>/``).

    Attributes:
        name: the variant (``scratch``, ``vicreg``, ``vicreg_umm``).
        out_dir: its folder; ``oof_path`` its ``oof.csv`` (:mod:`drac_ssl.oof`).
        metrics: ``metrics.json`` as written (JSON-safe: NaN as None): QWK, AUC OvO / OvR,
            accuracy, macro F1 with 95% bootstrap CIs, the confusion matrix, per-fold rows.
        folds: the per-fold rows (``metrics["folds"]``, ``folds.csv``).
        calibration: the cross-fitted temperature, thresholds and decision rule.
        seconds: wall time of the variant, in seconds.
        oof_probs: ``(n_labelled, K)`` cross-fitted out-of-fold probabilities.
        oof_pred: ``(n_labelled,)`` grades by ``finetune.decision``.
    """

    name: str
    out_dir: Path
    oof_path: Path
    metrics: dict[str, Any]
    folds: list[dict[str, Any]]
    calibration: Calibration
    seconds: float
    oof_probs: np.ndarray | None = None  # (n_lab, K) cross-fitted out-of-fold probabilities
    oof_pred: np.ndarray | None = None  # (n_lab,) grades by finetune.decision


@dataclass
class FinetuneResult:
    """What :func:`run` returns: the stage's folder (``finetune/``), each variant's result,
    ``comparison.json`` / ``comparison.csv`` (the variants side by side, each pretrained one
    minus scratch with a paired bootstrap CI), the variant ``selected`` for export and the
    ``summary.json`` that records the selection and its evidence."""

    out_dir: Path
    variants: dict[str, VariantResult]
    comparison_path: Path
    comparison_csv: Path
    selected: str
    summary_path: Path


# --------------------------------------------------------------------------------------
# One variant


@dataclass
class _Context:
    """What every fold of every variant shares."""

    cfg: Config
    ft: FinetuneConfig
    data: FinetuneData
    spec: InputSpec
    device: torch.device
    bf16: bool
    workers: int
    lab: list[dict[str, Any]]  # labelled rows, manifest order
    cache_idx: np.ndarray  # (n_lab,) rows of data.images
    grades: np.ndarray  # (n_lab,)
    folds: np.ndarray  # (n_lab,)
    fold_ids: list[int]
    grade_names: tuple[str, ...] = GRADE_NAMES
    # (n_lab,) each labelled image's patient, or its image group when the ingest kept near twins
    # together (patient_groups): the bootstrap CIs resample them; None: no patients known and no
    # twins joined, they resample images
    patients: list[str] | None = None
    # the lowest referable grade (finetune.referable_from on this scale, config.referable_cut):
    # the referable-DR figures of each variant (two grades: 1, the grading's own decision);
    # None: not reported
    referable_from: int | None = None
    # finetune.referral_target as (metric, level) (config.referral_target): each variant's
    # referral cut on P(referable), cross-fitted as the kappa thresholds are; None: none
    referral: tuple[str, float] | None = None
    # the per-fold line has explained once what its "uncalibrated" validation kappa is, and
    # why it is 0 when the fold model gave every validation image one grade
    qwk_explained: bool = False
    one_grade_explained: bool = False
    # ... and why its training ended (the fold record's ``stopped``) in full, once
    stop_explained: bool = False
    eval_inputs: Tensor | None = None  # (n_lab, C, S, S), computed on first use
    # the frozen feature banks' inputs (CPU) and shared stage maps (device), for every
    # variant of the stage (drac_ssl.bank_cache)
    banks: BankCache = field(default_factory=BankCache)
    # each fold file's check (:func:`_weights_problem`), once per command: a damaged file is
    # hashed once, not again by the fold loop after the frozen banks' look ahead
    weights_problems: dict[tuple[str, int, int, str], str | None] = field(default_factory=dict)
    # the run folder: a fold's non-finite stop names it in its fix (run.reuse=RUN); None: "RUN"
    run_dir: Path | None = None
    # each variant's paired-bootstrap scores, drawn once for all its comparisons (_paired),
    # with the result they score (a variant run again in this context is scored again)
    bootstrap: dict[str, tuple[VariantResult, BootstrapScores]] = field(default_factory=dict)

    @property
    def num_grades(self) -> int:
        return len(self.grade_names)

    @property
    def seed(self) -> int:
        """The fine-tuning's seed: ``finetune.seed``, or ``run.seed`` when that is -1."""
        return self.ft.seed if self.ft.seed >= 0 else self.cfg.run.seed

    def train_positions(self, fold: int) -> np.ndarray:
        """Positions (into ``lab``) of the images fold ``fold`` trains on: every labelled image
        outside the fold, or with ``finetune.label_fraction`` < 1 a grade-stratified draw of
        that fraction of them (:func:`drac_ssl.evaluation.stratified_split`; at least one
        image per grade; seeded by the fine-tuning's seed and the fold, so every variant gets the same
        images). Sorted, int64."""
        return _train_draw(self.ft, self.seed, self.grades, self.folds, fold)

    def inner_positions(self, fold: int) -> np.ndarray:
        """Positions (into ``lab``) of fold ``fold``'s inner split under ``finetune.keep=inner``
        (:func:`inner_split` of :meth:`train_positions`: ``finetune.inner_fraction`` of them,
        grade-stratified, the units of ``patients`` kept whole, seeded by the fine-tuning's seed
        and the fold, so every variant gets the same split); empty under ``keep=last|best``.
        Sorted, int64.

        Raises:
            ValueError: the fold's training images cannot give an inner split
                (:func:`inner_split`; :func:`run` checks every fold before anything is written).
        """
        return _inner_draw(self.ft, self.seed, self.grades, self.folds, self.patients, fold)

    def fit_positions(self, fold: int) -> np.ndarray:
        """Positions (into ``lab``) fold ``fold``'s model is trained on: :meth:`train_positions`
        less the inner split (:meth:`inner_positions`, empty unless ``finetune.keep=inner``).
        Sorted, int64."""
        return np.setdiff1d(self.train_positions(fold), self.inner_positions(fold))


def _train_draw(ft: FinetuneConfig, seed: int, grades: np.ndarray, folds: np.ndarray, fold: int) -> np.ndarray:
    """:meth:`_Context.train_positions` of the labelled images' ``grades`` and ``folds`` (``(n,)``
    int each), ``seed`` the fine-tuning's seed."""
    pool = np.flatnonzero(folds != fold)
    fraction = ft.label_fraction
    if fraction >= 1.0 or pool.size == 0:
        return pool
    pool_grades = grades[pool]
    present = np.unique(pool_grades)
    n = min(pool.size, max(present.size, int(round(fraction * pool.size))))
    rng = np.random.default_rng([seed, fold, 1013])
    chosen = list(stratified_split(pool_grades, n, rng)[0])
    # a proportional draw can leave a rare grade out: it then takes the place of an image
    # of the grade drawn most often
    for g in present:
        if not np.any(pool_grades[chosen] == g):
            counts = np.bincount(pool_grades[chosen], minlength=int(pool_grades.max()) + 1)
            chosen.remove(next(i for i in chosen if pool_grades[i] == int(np.argmax(counts))))
            chosen.append(int(rng.choice(np.flatnonzero(pool_grades == g))))
    return pool[np.sort(np.asarray(chosen, dtype=np.int64))]


def _inner_draw(ft: FinetuneConfig, seed: int, grades: np.ndarray, folds: np.ndarray,
                patients: Sequence[str] | None, fold: int) -> np.ndarray:
    """:meth:`_Context.inner_positions` of the labelled images' ``grades``, ``folds`` and
    units (``patients``: :func:`drac_ssl.oof.patient_groups`, or None)."""
    if ft.keep != "inner":
        return np.zeros(0, dtype=np.int64)
    pool = _train_draw(ft, seed, grades, folds, fold)
    units = None if patients is None else [patients[i] for i in pool]
    chosen = inner_split(grades[pool], units, ft.inner_fraction,
                         np.random.default_rng([seed, fold, 2029]), where=f"fold {fold}")
    return pool[chosen]


def inner_split_problem(cfg: Config, rows: Sequence[dict[str, Any]]) -> str:
    """Why ``finetune.keep=inner`` cannot hold an inner split out of some fold's training images
    of the manifest ``rows`` (:func:`drac_ssl.manifest.read_manifest`'s; the labelled ones are
    cross-validated, :func:`drac_ssl.manifest.labelled_rows`), as the same draws
    :meth:`_Context.inner_positions` makes (the fine-tuning's seed, ``finetune.label_fraction``,
    the units of :func:`drac_ssl.oof.patient_groups`): the first such fold's reason, without
    a fix (the caller words it for its run folder); "" when every fold has one, or under
    ``keep=last|best``. Cheap: no image is read. :func:`run` checks it before anything is
    written, and the preflight when a manifest exists."""
    ft = cfg.finetune
    if ft.keep != "inner":
        return ""
    lab = labelled_rows(rows)
    grades = np.array([int(r["grade"]) for r in lab], dtype=np.int64)
    folds = np.array([int(r["fold"]) for r in lab], dtype=np.int64)
    patients = patient_groups(lab)
    seed = ft.seed if ft.seed >= 0 else cfg.run.seed
    for fold in sorted(set(folds.tolist())):
        try:
            _inner_draw(ft, seed, grades, folds, patients, fold)
        except ValueError as exc:
            return str(exc).partition("\n  fix: ")[0]
    return ""


def inner_split_fix(run_dir: Path | None, new_run: bool = True, typed: dict[str, str] | None = None) -> str:
    """The fix of an impossible inner split (:func:`inner_split_problem`): a rule that holds
    none out (``finetune.keep=last``), or more labelled images. ``new_run``: ``run_dir`` holds
    finished stages after the ingest, so it refuses the changed setting: the fix starts a new
    run that takes them (``run.name=NAME-2 run.reuse=RUN``, :func:`drac_ssl.runtime.command_changes`
    with ``typed``, the settings typed on the command line; None: those of the enclosing
    :func:`drac_ssl.runtime.typed_settings`)."""
    if not new_run:
        return "finetune.keep=last (the default: no epoch chosen), or add labelled images"
    pairs = new_run_pairs(run_dir) if run_dir is not None else [("run.name", "NEW"), ("run.reuse", "RUN")]
    return (f"start a new run that takes this one's finished stages instead of running them again, "
            f"with finetune.keep=last (the default: no epoch chosen): "
            f"{command_changes([*pairs, ('finetune.keep', 'last')], typed)} (this run folder refuses a "
            f"changed setting); or add labelled images")


def inner_split(grades: np.ndarray, units: Sequence[str] | None, fraction: float,
                rng: np.random.Generator, where: str = "the fold") -> np.ndarray:
    """The inner split of one fold's training images (``finetune.keep=inner``): positions
    (into ``grades``, sorted int64) of about ``fraction`` of them, held out of the fold's
    training to choose its epoch.

    The draw is of *units*: ``units`` (one per image: the patient or near-twin group the folds
    kept whole, :func:`drac_ssl.oof.patient_groups`), or each image its own unit when None, so a
    unit's images are all inner or all trained on. Each unit's grade is the highest grade of
    its images; ``round(fraction * n_units)`` units (at least one) are drawn stratified by that
    grade (:func:`drac_ssl.evaluation.stratified_split`), and a grade whose every unit was drawn
    gives one back. Then each *image* grade of the pool that no image left to train on holds
    (its images all in drawn units, e.g. a patient's grade-1 image beside a grade-2 one) gives
    back the smallest drawn unit holding it (fewest images, the first seen among equals), so
    every grade of the fold's training images is still trained on: a grade is never held out
    whole.

    Args:
        grades: ``(n,)`` int grades of the fold's training images.
        units: ``n`` unit names, or None.
        fraction: ``finetune.inner_fraction``, 0 < f <= 0.5.
        rng: seeded by the fine-tuning's seed and the fold (the same split for every variant).
        where: the fold, for the error.

    Raises:
        ValueError: fewer than two units to split (nothing would be left to train on or to
            choose the epoch on), or no unit left to hold out once every grade is trained on.
    """
    grades = np.asarray(grades, dtype=np.int64)
    names = [str(i) for i in range(len(grades))] if units is None else [str(u) for u in units]
    order = list(dict.fromkeys(names))  # first-seen order: a pure function of the rows' order
    index = {u: i for i, u in enumerate(order)}
    of_image = np.array([index[u] for u in names], dtype=np.int64)
    unit_grade = np.full(len(order), -1, dtype=np.int64)
    np.maximum.at(unit_grade, of_image, grades)
    if len(order) < 2:
        raise ValueError(
            f"finetune.keep=inner: {where} has {len(order)} training "
            f"{'image' if units is None else 'patient or image group'}(s), too few to hold an inner "
            f"split out of and still train on.\n  fix: finetune.keep=last (the default), or more "
            f"labelled images")
    n = min(len(order) - 1, max(1, int(round(fraction * len(order)))))
    picked = set(stratified_split(unit_grade, n, rng)[0].tolist())
    for g in np.unique(unit_grade):  # a grade drawn whole gives one unit back to training
        members = [u for u in np.flatnonzero(unit_grade == g).tolist()]
        if all(u in picked for u in members):
            picked.discard(int(rng.choice(members)))
    # a unit's grade is its highest: an image grade can still sit only in drawn units (a
    # patient's grade-1 image beside a grade-2 one); the smallest drawn unit holding it goes back
    sizes = np.bincount(of_image, minlength=len(order))
    for g in np.unique(grades):
        holders = sorted({int(u) for u in of_image[grades == g]})
        if all(u in picked for u in holders):
            picked.discard(min(holders, key=lambda u: (int(sizes[u]), u)))
    if not picked:  # every grade had a single unit: the draw gave them all back
        raise ValueError(
            f"finetune.keep=inner: {where}'s training images hold no "
            f"{'grade with two or more images' if units is None else 'patient or image group whose grades all have another to train on'}"
            f", so no inner split leaves every grade trained on.\n  fix: finetune.keep=last (the default), "
            f"or more labelled images")
    return np.flatnonzero(np.isin(of_image, sorted(picked))).astype(np.int64)


SMALL_INNER = 10
"""An inner split (``finetune.keep=inner``) of fewer images than this chooses each fold's epoch
on a kappa that one image moves a long way (a trial's 45 images in 2 folds held out 4 per
fold): :func:`inner_split_note` says so, as does an inner split without some grade of the
fold's training images, which :func:`inner_split` allows (it never holds a grade's last unit
out, so a rare grade of one or two patients is never in it). 10 as
:data:`drac_ssl.preflight.SMALL_GRADE`: the usual floor of events for a stable rate."""


def inner_split_note(ctx: _Context) -> str | None:
    """``finetune.keep=inner`` on a small set: ``epoch chosen on 4 images of 2 grades (fold 0's
    inner split, without any PDR image): prefer finetune.keep=last ...``, of the fold whose
    inner split lacks the most grades of its training images, then the smallest; None when
    every fold's inner split holds :data:`SMALL_INNER` images or more and every grade its
    training images hold, or under ``keep=last|best``."""
    if ctx.ft.keep != "inner":
        return None
    worst: tuple[int, int, int, list[int]] | None = None
    for fold in ctx.fold_ids:
        inner = ctx.inner_positions(fold)
        held = set(ctx.grades[inner].tolist())
        lacks = sorted(set(ctx.grades[ctx.train_positions(fold)].tolist()) - held)
        if inner.size >= SMALL_INNER and not lacks:
            continue
        case = (-len(lacks), int(inner.size), fold, lacks)
        if worst is None or case[:2] < worst[:2]:
            worst = case
    if worst is None:
        return None
    _, size, fold, lacks = worst
    inner = ctx.inner_positions(fold)
    n_grades = len(set(ctx.grades[inner].tolist()))
    without = (f", without any {' or '.join(str(ctx.grade_names[g]) for g in lacks)} image: a grade's "
               f"last {'patient' if ctx.patients is not None else 'image'} is never held out"
               if lacks else "")
    return (f"epoch chosen on {size} image{'' if size == 1 else 's'} of {n_grades} "
            f"grade{'' if n_grades == 1 else 's'} (fold {fold}'s inner split{without}): prefer "
            f"finetune.keep=last (the default: the last epoch, none chosen) on a set this small")


def _label_draw(ctx: _Context) -> tuple[str, float]:
    """With ``finetune.label_fraction`` < 1: words for what the folds train on (the counts
    actually drawn, which the floor of one image per grade can raise above the setting; under
    ``finetune.keep=inner`` the inner split is held out of the draw, and the words say both:
    each fold draws N, of which it trains on n) and the fraction in effect (drawn / training
    images, over all folds); ("", 1.0) otherwise."""
    fraction = ctx.ft.label_fraction
    if fraction >= 1.0:
        return "", 1.0
    drawn = [ctx.train_positions(f).size for f in ctx.fold_ids]
    pools = [int(np.sum(ctx.folds != f)) for f in ctx.fold_ids]
    effective = sum(drawn) / max(sum(pools), 1)

    def span(values: list[int]) -> str:
        return f"{min(values)}" if min(values) == max(values) else f"{min(values)}-{max(values)}"

    floor = (f"; {effective:.0%} in effect: at least one image of each grade is drawn"
             if abs(effective - fraction) > max(0.01, 0.1 * fraction) else "")
    setting = (f"(finetune.label_fraction={fraction:g}, a grade-stratified draw, the same for every "
               f"variant{floor})")
    if ctx.ft.keep == "inner":  # the inner split comes out of the draw: the fold trains on the rest
        trained = [ctx.fit_positions(f).size for f in ctx.fold_ids]
        return (f"each fold draws {span(drawn)} of its {span(pools)} training images {setting}, of "
                f"which its inner split is held out (finetune.keep=inner): it trains on "
                f"{span(trained)}", effective)
    return f"each fold trains on {span(drawn)} of its {span(pools)} training images {setting}", effective


def _scores(ctx: _Context, v: VariantResult) -> BootstrapScores:
    """The variant's :func:`drac_ssl.metrics.bootstrap_scores` on its out-of-fold images,
    scored once for all its comparisons (``ctx.bootstrap``)."""
    if v.name not in ctx.bootstrap or ctx.bootstrap[v.name][0] is not v:
        ctx.bootstrap[v.name] = (v, bootstrap_scores(ctx.grades, v.oof_probs, v.oof_pred,
                                                     n_boot=ctx.ft.n_boot, seed=ctx.seed,
                                                     groups=ctx.patients,
                                                     kind=resampling_kind(ctx.patients)))
    return ctx.bootstrap[v.name][1]


PAIRED_NAMES_TWO_GRADES = {"qwk": "Cohen's kappa", "auc_ovr": "AUC of P(referable)"}
"""The paired differences' figures as the console names them with two grades (more grades:
their keys, ``qwk``, ``auc_ovr``)."""


def _paired(ctx: _Context, a: VariantResult, b: VariantResult) -> dict[str, Any]:
    """``a`` minus ``b`` on the same out-of-fold images: accuracy and QWK of the graded images,
    macro AUC one-vs-rest, with a paired percentile bootstrap 95% CI
    (:func:`drac_ssl.metrics.paired_bootstrap_difference`, ``finetune.n_boot`` resamples, the
    fine-tuning's seed, of the patients when they are known (``ctx.patients``), else of the
    images; each variant's resamples are scored once, for all its comparisons); printed as
    one line."""
    t0 = time.perf_counter()
    diff = paired_difference(_scores(ctx, a), _scores(ctx, b))
    print(f"[finetune] {a.name} - {b.name}, paired bootstrap 95% CI"
          + (f" (resampling {ci_units_words(resampling_kind(ctx.patients), ctx.bootstrap[a.name][1].units, 'site' if sites_as_patients(ctx.lab) else '')})"
             if ctx.patients is not None else "")
          + ": "
          + "; ".join(f"{PAIRED_NAMES_TWO_GRADES.get(m, m) if ctx.num_grades == 2 else m} "
                      f"{format_difference(d['difference'], d['ci_low'], d['ci_high'])}"
                      for m, d in diff.items())
          + f" ({time.perf_counter() - t0:.1f} s)")
    return diff


def _minus_scratch(ctx: _Context, variants: dict[str, VariantResult]) -> dict[str, Any]:
    """Each pretrained variant minus scratch (:func:`_paired`): does pretraining help? Empty
    without a scratch variant."""
    base = variants.get("scratch")
    if base is None or base.oof_probs is None:
        return {}
    return {name: _paired(ctx, v, base) for name, v in variants.items()
            if name != "scratch" and v.oof_probs is not None}


def _umm_minus_vicreg(ctx: _Context, variants: dict[str, VariantResult]) -> dict[str, Any] | None:
    """VICReg + UMM minus VICReg (:func:`_paired`): does the UMM stage add to VICReg? None
    unless both variants ran."""
    umm, vicreg = variants.get("vicreg_umm"), variants.get("vicreg")
    if umm is None or vicreg is None or umm.oof_probs is None or vicreg.oof_probs is None:
        return None
    return _paired(ctx, umm, vicreg)


def _selection_evidence(ctx: _Context, variants: dict[str, VariantResult], selected: str,
                        decision: str) -> str:
    """Whether the paired bootstrap shows the ``selected`` variant better than each other one
    on the figure that selected it (QWK for ``thresholds``, accuracy for ``argmax``), in words:
    "" when every difference's 95% CI lies above 0 (or there is nothing to compare with), else
    which variants it was not shown better than. A trial's run exported a randomly
    initialised, frozen backbone on a QWK 0.053 against 0.000, both CIs spanning -0.4..0.4.
    "" too when a referral cut's figures selected it (:func:`drac_ssl.selection.select_variant`
    under two grades and ``finetune.referral_target``): the paired bootstrap compares QWK,
    accuracy and AUC, not those figures, whose CIs metrics.json gives per variant."""
    metric = "qwk" if decision == "thresholds" else "accuracy"
    best = variants.get(selected)
    if best is None or best.oof_probs is None:
        return ""
    if deciding_referral(getattr(best, "metrics", None) or {}) is not None:  # the referral figures chose: no paired QWK says it
        return ""
    level = []
    for name, other in variants.items():
        if name == selected or other.oof_probs is None:
            continue
        d = paired_difference(_scores(ctx, best), _scores(ctx, other))[metric]
        if not (math.isfinite(d["ci_low"]) and d["ci_low"] > 0):
            level.append(f"{name} ({d['difference']:+.3f}, 95% CI "
                         f"{format_signed_interval(d['ci_low'], d['ci_high'])})")
    if not level:
        return ""
    said = kappa_name(ctx.num_grades, short=True) if metric == "qwk" else "accuracy"
    return (f"not shown better than {', '.join(level)}: the paired 95% CI of its {said} minus "
            f"theirs reaches 0, so which of them is exported is not evidence of the better one")


OLD_VIEWS_WORDS = ("trained by an older drac_ssl whose training views depended on the worker count "
                   "(pretrain.num_workers)")
"""Why a fold record without :data:`TRAIN_VIEWS` is trained again, as the console says it."""


def _older_code_fold(record: dict[str, Any] | None, accepted: set[str]) -> bool:
    """Whether a finished fold record (``fold<k>.json``) was trained by the code before
    :data:`TRAIN_VIEWS` and its signature is not among ``accepted``: it is trained again
    because of that code, which the console says rather than "their settings or inputs differ:
    the signature" (an upgrade review: reused folds of an old run were said to differ though
    the user changed nothing; that code's signature differs too). A record whose signature is
    accepted goes through the reuse checks in their order (non-finite outputs first)."""
    return (record is not None and "signature" in record and record.get("train_views") != TRAIN_VIEWS
            and record.get("signature") not in accepted)


VIEW_SEED_TAG = 0x5EED_715
"""Mixed into :func:`view_keys`'s generator seed: the views' stream is not the epoch order's."""


def view_keys(positions: np.ndarray, seed: int) -> list[tuple[int, int]]:
    """``[(position, view seed), ...]``: each of ``positions`` (dataset indices, in the order
    the DataLoader is to deliver them; an index may repeat, as in a balanced epoch) with its
    own augmentation seed in ``[0, 2**31 - 1)``, drawn in order from a generator seeded by
    ``(seed, VIEW_SEED_TAG)`` (``seed``: the fine-tuning's :func:`~drac_ssl.runtime.epoch_seed`
    of the run seed, epoch and fold, which :func:`epoch_order` also takes; the tag keeps the
    two streams apart): a pure function of its arguments. A DataLoader given these keys as its sampler
    hands each to :class:`~drac_ssl.augment.EvalDataset` as ``dataset[(position, seed)]``, so a
    view depends on its image and key only, not on the worker that draws it (pretraining's
    :func:`drac_ssl.pretrain.epoch_sample_keys` does the same)."""
    order = np.asarray(positions, dtype=np.int64)
    seeds = np.random.default_rng([int(seed), VIEW_SEED_TAG]).integers(0, 2**31 - 1, size=len(order))
    return list(zip(order.tolist(), seeds.tolist(), strict=True))


def _view_loader(ctx: _Context, dataset: EvalDataset, positions: np.ndarray, seed: int,
                 batch_size: int, pin_memory: bool = False) -> Iterator[Any]:
    """The batches of a DataLoader over ``dataset`` that delivers ``positions`` in order, each
    with its own augmentation seed (:func:`view_keys` of ``seed``), in ``ctx.workers``
    processes; workers that stop delivering raise :class:`~drac_ssl.runtime.LoaderStalled`
    (after two windows of :data:`~drac_ssl.runtime.LOADER_TIMEOUT_S` with no batch and no
    worker CPU time, or at once when one was killed by SIGKILL or SIGBUS)."""
    loader = DataLoader(dataset, batch_size=batch_size, sampler=view_keys(positions, seed),
                        num_workers=ctx.workers, worker_init_fn=seed_worker if ctx.workers else None,
                        generator=torch.Generator().manual_seed(seed), pin_memory=pin_memory,
                        # the host's (or the platform's) start method, not fixed for the host's process
                        multiprocessing_context=worker_context() if ctx.workers else None,
                        timeout=runtime.LOADER_TIMEOUT_S if ctx.workers else 0)
    return runtime.loader_batches(loader, "finetune")  # its settings: starting.LOADER_SETTINGS


def _stack_inputs(ctx: _Context, transform: Any, positions: np.ndarray, seed: int) -> Iterator[Tensor]:
    """Preprocessed input batches of the labelled images at ``positions`` (in order); a random
    ``transform`` draws each image's view from its own seed (:func:`view_keys` of ``seed``)."""
    dataset = EvalDataset(ctx.data.images, transform, indices=ctx.cache_idx[positions])
    for x, _ in _view_loader(ctx, dataset, np.arange(len(positions)), seed,
                             max(ctx.ft.batch_size, EXTRACT_BATCH)):
        yield x


def _eval_inputs(ctx: _Context) -> Tensor:
    if ctx.eval_inputs is None:
        positions = np.arange(len(ctx.lab))
        ctx.eval_inputs = torch.cat(list(_stack_inputs(ctx, ctx.spec.eval_transform(), positions, 0)))
    return ctx.eval_inputs


def _view_inputs(ctx: _Context, seed: int) -> list[Tensor]:
    """The input batches of training view ``seed`` (:func:`_stack_inputs` of
    :func:`train_view_transform` of ``seed``), drawn once per stage while they fit the bank cache's budget
    (:func:`drac_ssl.bank_cache.view_inputs`: kept as CPU clones)."""
    positions = np.arange(len(ctx.lab))
    return view_inputs(ctx.banks, seed,
                       lambda: _stack_inputs(ctx, train_view_transform(ctx.spec, seed), positions, seed))


def _features(model: GradingModel, view: tuple[Any, ...], inputs: Callable[[], list[Tensor]],
              flips: Sequence[tuple[int, ...]], ctx: _Context,
              digests: tuple[str, ...] | None = None) -> Tensor:
    """Head inputs ``(len(flips), n, ...)`` of a frozen backbone, on the device, for the input
    batches ``inputs()`` of ``view`` (a key naming them: ``("train", seed)``, ``("eval",)``),
    with the stage maps ``ctx.banks`` shares between variants
    (:func:`drac_ssl.bank_cache.banked_features`; ``digests``: the backbone's
    :meth:`~drac_ssl.models.Backbone.stage_digests`, None: computed here). Bit-identical to
    ``model.features`` on the same batches."""
    model.eval()
    backbone = model.backbone
    digests = backbone.stage_digests() if digests is None else digests
    stop = backbone.stage_names.index(FEATURE_STAGE) + 1  # the map the head's features come from
    return banked_features(backbone, model.features_from_map, digests[:stop], stop, view, inputs, flips,
                           ctx.banks, ctx.device, ctx.bf16)


@dataclass
class _FeatureBank:
    train_views: Tensor  # (V, n_lab, ...) features of V augmented views
    eval_views: Tensor  # (len(flips), n_lab, ...) features of the eval view and its flips


def _feature_bank(model: GradingModel, ctx: _Context) -> _FeatureBank:
    """The frozen backbone's head inputs: ``finetune.frozen_train_views`` augmented views (at
    most ``finetune.epochs``) and the eval view with its TTA flips, of every labelled image;
    the inputs and the stage maps shared with the stage's other variants come from
    ``ctx.banks`` (:class:`~drac_ssl.bank_cache.BankCache`), told when the bank is built
    (:meth:`~drac_ssl.bank_cache.BankCache.finished`: the last announced one lets it go)."""
    n_views = max(1, min(ctx.ft.frozen_train_views, ctx.ft.epochs))
    digests = model.backbone.stage_digests()
    views = []
    for v in range(n_views):
        seed = epoch_seed(ctx.seed, 10_000 + v)
        views.append(_features(model, ("train", seed), functools.partial(_view_inputs, ctx, seed),
                               [()], ctx, digests)[0])
    flips = TTA_FLIPS if ctx.ft.tta else TTA_FLIPS[:1]
    eval_views = _features(model, ("eval",), lambda: list(_eval_inputs(ctx).split(EXTRACT_BATCH)),
                           flips, ctx, digests)
    ctx.banks.finished(digests)
    return _FeatureBank(torch.stack(views), eval_views)


def _announce_backbones(ctx: _Context, spec: ModelSpec, sources: dict[str, Path | None],
                        finetune_dir: Path) -> None:
    """Announce to ``ctx.banks`` (:meth:`~drac_ssl.bank_cache.BankCache.expect`) the stage
    digests of every pretrained variant's backbone (``sources``' weights) that has a fold to
    train (a variant whose folds in ``finetune_dir/<variant>`` are all reused builds no bank),
    so that the first of two that share their earlier stages keeps those stages' maps for the
    second. Only for ``finetune.freeze=frozen`` (the feature banks). The backbones are built
    with the global random state saved and restored, so the draws of the stage are as without
    it; a source that does not load is not announced, silently (the variant's own load, in
    :func:`_sign_and_build`, says why), and the load's warnings are left to that load too."""
    if ctx.ft.freeze != "frozen":
        return
    for variant, source in sources.items():
        if source is None:  # scratch: a random init shares no stage with pretrained weights
            continue
        out_dir = finetune_dir / variant
        try:
            _, accepted = _fold_signatures(ctx, variant, source, spec, out_dir)
            if all(_fold_reusable(read_json_dict(out_dir / f"fold{fold}.json"), accepted,
                                  out_dir / f"fold{fold}.safetensors", ctx.weights_problems)
                   for fold in ctx.fold_ids):
                continue
            with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
                warnings.simplefilter("ignore", PartialLoadWarning)  # its own load says them
                backbone = spec.build_backbone()
                load_local_weights(backbone, source, strict=True)
        except (OSError, ValueError):  # a missing or mismatched file: _sign_and_build reports it
            continue
        ctx.banks.expect(backbone.stage_digests())


def _apply_freeze(model: GradingModel, freeze: str) -> None:
    if freeze == "frozen":
        model.backbone.freeze_until(FEATURE_STAGE)
    elif freeze == "last":
        model.backbone.freeze_until("layer3")
    elif freeze == "all":
        model.backbone.unfreeze()
    else:
        raise ValueError(f"unknown finetune.freeze {freeze!r}; choose frozen, last or all.")


def _optimizer(model: GradingModel, ft: FinetuneConfig) -> torch.optim.Optimizer:
    groups = param_groups(model.head, ft.weight_decay, ft.decay_bias_and_norm)
    for g in groups:
        g["lr_scale"] = 1.0
    if any(p.requires_grad for p in model.backbone.parameters()):
        for g in param_groups(model.backbone, ft.weight_decay, ft.decay_bias_and_norm):
            g["lr_scale"] = ft.backbone_lr_ratio
            g["name"] = f"backbone_{g['name']}"
            groups.append(g)
    return torch.optim.Adam(groups, lr=ft.lr)


def _state_copy(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _non_finite_rows(raw: Any) -> tuple[int, int]:
    """``(rows holding NaN or inf, rows)`` of raw outputs ``(n, R)`` (a fold record's
    ``val_raw``, where ``_json_safe`` wrote them as nulls); ``(0, 0)`` for anything not
    ``(n, R)`` numbers (not this check's business)."""
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        return 0, 0
    if arr.ndim != 2:
        return 0, 0
    return int((~np.isfinite(arr).all(axis=1)).sum()), len(arr)


def _non_finite_error(ctx: _Context, label: str, epoch: int, what: str, lr: float,
                      backbone_trains: bool) -> FinetuneNonFiniteError:
    """The error that stops fold ``label`` (``"vicreg fold 0 (1/5)"``) in ``epoch`` (0-based)
    on a non-finite value (``what`` says which), worded as pretrain's and UMM's non-finite
    stops: where, the learning rate ``lr`` of that step and its settings, the precision and
    the setting that gives it (``pretrain.precision``, which the fine-tuning follows), what
    was kept, and the fix. ``backbone_trains``: the backbone's layers were trained in that
    epoch (at ``lr x finetune.backbone_lr_ratio``).

    The fix is a new run folder that takes this run's finished stages (``run.name=RUN-2
    run.reuse=RUN`` with the changed setting, as the preflight's refusal of a changed
    configuration words it): this run folder refuses a changed setting, and the same
    command with the same settings diverges again."""
    ft, cfg = ctx.ft, ctx.cfg
    ratio = (f"; the backbone's layers at x finetune.backbone_lr_ratio={ft.backbone_lr_ratio:g}"
             if backbone_trains else "")
    precision = "bf16" if ctx.bf16 else "fp32"
    run_dir = ctx.run_dir
    new_run = new_run_pairs(run_dir) if run_dir is not None else [("run.name", "NEW"), ("run.reuse", "RUN")]
    fix = (f"start a new run that takes this one's finished stages instead of running them again, "
           f"with a lower learning rate: {command_changes([*new_run, ('finetune.lr', f'{ft.lr / 10:g}')])}"
           + (" (or a lower finetune.backbone_lr_ratio)" if backbone_trains else "")
           + " (this run folder refuses a changed setting, and with the same settings the fold "
             "diverges again)")
    if ctx.bf16:
        fix += (f"; or {command_changes([*new_run, ('pretrain.precision', 'fp32')])} (the fine-tuning's bf16 autocast "
                f"follows it; the new run then pretrains again, as its pretraining settings differ)")
    return FinetuneNonFiniteError(
        f"[finetune] {label}, epoch {epoch + 1} of {ft.epochs}: {what}.\n"
        f"  Learning rate {lr:.3g} at that step (finetune.lr={ft.lr:g}, cosine schedule{ratio}); "
        f"precision {precision} (pretrain.precision={cfg.pretrain.precision} on {ctx.device.type}); "
        f"head {ft.head}, finetune.freeze={ft.freeze}.\n"
        f"  Nothing of this fold was saved, so no run reuses it; the folds saved before it are kept.\n"
        f"  fix: {fix}; or check the input data.")


def _fit_fold(
    ctx: _Context,
    model: GradingModel,
    trainable: nn.Module,
    batches: Callable[[int], Iterator[tuple[Tensor, Tensor]]],
    forward: Callable[[Tensor], Tensor],
    validate: Callable[[], np.ndarray],
    y_val: np.ndarray,
    class_weights: Tensor | None,
    steps_per_epoch: int,
    label: str,
    head_warmup_epochs: int = 0,
) -> tuple[dict[str, Tensor], list[dict[str, Any]], int, str, str | None]:
    """The epoch loop of one fold with early stopping on the validation kappa
    (``finetune.keep=best``: the epoch of the highest kappa, the lowest validation loss among
    equal kappas), or all ``finetune.epochs`` epochs keeping the last one's weights
    (``keep=last``: the validation fold is scored every epoch for the history, never used
    to choose). Under ``keep=inner`` ``validate`` and ``y_val`` are the fold's inner split
    (:meth:`_Context.inner_positions`), not its validation fold, and the rule is ``best``'s
    on them; the history then records ``inner_loss`` / ``inner_qwk`` in place of
    ``val_loss`` / ``val_qwk`` (the validation fold is not scored in the loop at all).

    The first ``head_warmup_epochs`` epochs train the head alone: the whole backbone is frozen
    (batch-norm statistics too), then ``finetune.freeze`` applies again (LP-FT, Kumar et al.,
    ICLR 2022). The optimizer and the learning-rate schedule span all epochs; with
    ``keep=best`` the warm-up epochs are never kept and do not count towards the patience,
    so the backbone is always fine-tuned.

    Returns the kept epoch's state of ``trainable``, the history, that epoch, why training
    stopped and the kept epoch's one-grade words (:func:`drac_ssl.metrics.one_grade_words` of
    its validation grades; None when they differ), for the fold line :func:`_fold_line`
    prints once the fold is saved.

    Raises:
        FinetuneNonFiniteError: a step's training loss (read back every step) or an epoch's
            validation outputs (``keep=inner``: the inner split's) hold NaN or inf: the fold
            stops there, nothing of it is kept.
    """
    ft = ctx.ft
    kind = HEADS[ft.head]
    optimizer = _optimizer(model, ft)
    total = max(1, ft.epochs * steps_per_epoch)
    y_val_t = torch.as_tensor(y_val, dtype=torch.long)
    best_state: dict[str, Tensor] | None = None
    best_val_loss = math.inf
    monitor = Monitor("val_qwk", mode="max", min_delta=1e-9, patience=ft.patience)
    kappa_epoch = -1  # the epoch the validation kappa last improved (the tie rule moves best_epoch only)
    stopped_early = False
    history: list[dict[str, Any]] = []
    one_grade: list[str | None] = []  # per epoch: "every image was given one grade (1 NPDR)", or None
    step = 0
    lr = ft.lr
    for epoch in range(ft.epochs):
        t0 = time.perf_counter()
        if head_warmup_epochs and epoch == 0:
            model.backbone.freeze_until(FEATURE_STAGE)  # the head alone on the pretrained features
        elif head_warmup_epochs and epoch == head_warmup_epochs:
            _apply_freeze(model, ft.freeze)
            print(f"[finetune] {label}: head warm-up done after {head_warmup_epochs} epochs; "
                  f"fine-tuning the backbone too (finetune.freeze={ft.freeze})")
        trainable.train()
        backbone_trains = any(p.requires_grad for p in model.backbone.parameters())
        loss_sum, n_seen = 0.0, 0
        for i, (inputs, grade) in enumerate(batches(epoch)):
            lr = lr_at(step, total_steps=total, warmup_steps=0, base_lr=ft.lr, schedule="cosine")
            set_lr(optimizer, lr)
            grade = grade.to(ctx.device)
            with torch.autocast(device_type=ctx.device.type, dtype=torch.bfloat16, enabled=ctx.bf16):
                output = forward(inputs.to(ctx.device))
            loss = grading_loss(output, grade, kind, class_weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_value = float(loss.detach())  # the step's one read-back, which the sum needed anyway
            if not math.isfinite(loss_value):  # stop here: a NaN fold must not be kept nor reused
                raise _non_finite_error(ctx, label, epoch, f"the training loss became non-finite "
                                        f"({loss_value}) at step {i + 1} of {steps_per_epoch}", lr,
                                        backbone_trains)
            loss_sum += loss_value * len(grade)
            n_seen += len(grade)
            step += 1
        raw_val = validate()
        n_bad, n_val = _non_finite_rows(raw_val)
        if n_bad:  # a finite loss whose last step left weights that give NaN/inf
            scored = "the inner split's outputs" if ft.keep == "inner" else "the validation outputs"
            raise _non_finite_error(ctx, label, epoch, f"{scored} became non-finite "
                                    f"({n_bad} of {n_val} images) after the epoch's steps, whose mean "
                                    f"training loss was finite ({loss_sum / max(n_seen, 1):.4g})", lr,
                                    backbone_trains)
        val_loss = float(grading_loss(torch.as_tensor(raw_val, dtype=torch.float32), y_val_t, kind,
                                      None if class_weights is None else class_weights.cpu()))
        val_grades = apply_thresholds(monitor_score(raw_val, kind), default_thresholds(ctx.num_grades))
        qwk = quadratic_weighted_kappa(y_val, val_grades, ctx.num_grades)
        # said on the fold line, not stored: the files keep the kappa alone
        one_grade.append(one_grade_words(val_grades, ctx.grade_names, min_share=1.0))
        split = _selection_split(ft)
        history.append({"epoch": epoch, "lr": lr, "head_only": epoch < head_warmup_epochs,
                        "train_loss": loss_sum / max(n_seen, 1),
                        f"{split}_loss": val_loss, f"{split}_qwk": qwk,
                        "seconds": round(time.perf_counter() - t0, 3)})
        if ft.keep == "last":
            continue  # no epoch is chosen on the validation fold: the last one's weights are kept
        if epoch < head_warmup_epochs:
            continue  # the head-only warm-up is neither kept nor counted towards the patience
        value = qwk if math.isfinite(qwk) else -2.0
        # an equal kappa with a lower validation loss is kept too (a kappa that never moves, as
        # on a fold the model grades all alike, would otherwise keep the first epoch); it does
        # not restart the patience: the kappa did not improve
        tie = value == monitor.best and val_loss < best_val_loss
        improved = monitor.update(value, epoch)  # the first epoch always
        kappa_epoch = epoch if improved else kappa_epoch
        if improved or tie:
            best_state, best_val_loss, monitor.best_epoch = _state_copy(trainable), val_loss, epoch
        if monitor.should_stop:
            stopped_early = epoch + 1 < ft.epochs  # the patience running out on the last epoch ends nothing early
            break
    if ft.keep == "last":
        best_state, monitor.best_epoch = _state_copy(trainable), len(history) - 1
    assert best_state is not None
    best_epoch = monitor.best_epoch
    stopped = _fold_stop_words(ft, len(history), best_epoch, kappa_epoch, stopped_early)
    return best_state, history, best_epoch, stopped, one_grade[best_epoch]


def _fold_line(ctx: _Context, label: str, history: list[dict[str, Any]], best_epoch: int, stopped: str,
               one_grade: str | None, val_qwk: float = math.nan) -> str:
    """The console line of a trained fold (``label``: ``vicreg fold 0 (1/5)``): the epoch kept
    of those run and set, why (``stopped``, :func:`_fold_stop_words`), and its validation
    kappa (:func:`_uncalibrated_words`; under ``finetune.keep=inner`` the kept epoch's inner
    kappa, then ``val_qwk``, the validation fold's kappa scored once after the choice;
    ``one_grade`` then of the validation grades). Printed only once the fold is saved
    (:func:`_train_and_save_fold`): a trial saw the line of a fold that a Ctrl-C during its
    final validation pass then left unsaved ("vicreg 0 of 2" folds saved)."""
    ft = ctx.ft
    stopped = _stop_console_words(ctx, stopped)
    if ft.keep == "inner":  # the inner kappa chose the epoch; the validation fold scored once
        return (f"[finetune] {label}: best inner-split epoch {best_epoch + 1} of {len(history)} run "
                f"({ft.epochs} set; {stopped}) inner QWK {history[best_epoch]['inner_qwk']:.3f}, "
                f"val {kappa_name(ctx.num_grades, short=True)} {val_qwk:.3f} {_uncalibrated_words(ctx, one_grade)}")
    return (f"[finetune] {label}: {'kept' if ft.keep == 'last' else 'best'} epoch {best_epoch + 1} of "
            f"{len(history)} run ({ft.epochs} set; {stopped}) "
            f"val {kappa_name(ctx.num_grades, short=True)} {history[best_epoch]['val_qwk']:.3f} {_uncalibrated_words(ctx, one_grade)}")


def _stop_console_words(ctx: _Context, stopped: str) -> str:
    """The fold line's words on why the fold's training ended (``stopped``,
    :func:`_fold_stop_words`, the fold record's): in full on the stage's first fold line, which
    sets ``ctx.stop_explained``; on later lines without what is the same for every fold: under
    ``finetune.keep=last`` ``keep=last`` alone, under ``keep=inner`` without
    :data:`INNER_CHOICE_WORDS` (the early stop and the tie rule, a fold's own, stay). A new
    user read the keep=last sentence on all 15 fold lines of the default job."""
    if not ctx.stop_explained:
        ctx.stop_explained = True
        return stopped
    if ctx.ft.keep == "last":
        return "keep=last"
    return stopped.removesuffix(INNER_CHOICE_WORDS)


def calibrated_folds_words(metrics: dict[str, Any], num_grades: int | None = None) -> str | None:
    """The variant's per-fold QWK after the cross-fitted calibration (``metrics["folds"]``'s
    ``qwk``, folds.csv's), for the console beside the out-of-fold figure, e.g. ``per-fold QWK,
    calibrated as folds.csv: 0.701, 0.655, n/a ...; the fold lines' val QWK above is
    uncalibrated``; None when no fold has one. With two grades (``num_grades`` 2) the figure is
    named Cohen's kappa (:func:`drac_ssl.figures.kappa_name`)."""
    folds = metrics.get("folds") or []
    values = [f.get("qwk") for f in folds if isinstance(f, dict)]
    if not values:
        return None
    name = kappa_name(num_grades, short=True)
    return (f"per-fold {name}, calibrated as folds.csv: {', '.join(figure_text(v) for v in values)}; "
            f"the fold lines' val {name} above is uncalibrated")


def _selection_split(ft: FinetuneConfig) -> str:
    """The split a fold's epochs are scored on in its loop, as the history's keys name it
    (``<split>_loss``, ``<split>_qwk``): ``inner`` under ``finetune.keep=inner`` (the inner
    split of the fold's training images), else ``val`` (the validation fold)."""
    return "inner" if ft.keep == "inner" else "val"


def _uncalibrated_words(ctx: _Context, one_grade: str | None) -> str:
    """The words after a fold line's validation kappa, e.g. ``"(uncalibrated)"``. The first
    fold line of the stage says what the figure is (the expected grade cut at the fixed
    thresholds 0.5, 1.5, ..., before the cross-fitted calibration) and where the calibrated
    figures are; ``one_grade`` (:func:`drac_ssl.metrics.one_grade_words` of the kept epoch's
    validation grades, None when they differ) is named on every line it holds for, as the
    uncalibrated grades' (``(uncalibrated: every image was given one grade (1 NPDR))``), and the
    first time with why the kappa is then 0. ``ctx``: its ``num_grades``, and the flags
    ``qwk_explained`` and ``one_grade_explained``, which this sets."""
    words = []
    if not ctx.qwk_explained:
        words.append(": the expected grade cut at 0.5 (with two grades, Cohen's kappa)" if ctx.num_grades == 2
                     else ": the expected grade cut at the fixed thresholds 0.5, 1.5, ...")
    if one_grade is not None:  # of the uncalibrated grades: "(uncalibrated: every image was given ...)"
        # (the variant's warning after the last fold says the out-of-fold grades after the
        # calibration, which can differ: a trial read the two as a contradiction)
        words.append(f"{'; ' if words else ': '}{one_grade}" + ("" if ctx.one_grade_explained else
                                         ", so its kappa is 0 whatever order the model's scores put "
                                         "the images in, common after short training and before the "
                                         "thresholds are fitted"))
        ctx.one_grade_explained = True
    if not ctx.qwk_explained:
        words.append("; judge the variant by its out-of-fold QWK after the last fold (folds.csv and the "
                     "metrics give the calibrated, cross-fitted figures)")
    ctx.qwk_explained = True  # the next folds' lines say only "(uncalibrated)"
    return "(uncalibrated" + "".join(words) + ")"


def _fold_stop_words(ft: FinetuneConfig, epochs_run: int, best_epoch: int, kappa_epoch: int,
                     stopped_early: bool) -> str:
    """Why a fold's training ended and why its kept epoch was kept, in the words of the rule
    of :func:`_fit_fold` (epochs 0-based here, 1-based in the words): ``keep=last``: the last
    epoch, none chosen; ``keep=best`` (``keep=inner``: the same on the inner split's kappa and
    loss): the epoch ``kappa_epoch`` where the validation kappa
    last rose, or a later one ``best_epoch`` with the same kappa and a lower validation loss
    (the tie rule); early stopping when ``finetune.patience`` epochs after ``kappa_epoch``
    brought no better kappa before ``finetune.epochs`` ran out (``stopped_early``). Stored
    as the fold record's ``stopped``."""
    if ft.keep == "last":
        return "finetune.keep=last: the last epoch's weights, no epoch chosen on the validation fold"
    split = "inner-split" if ft.keep == "inner" else "validation"
    words = (f"stopped early: no better {split} kappa since epoch {kappa_epoch + 1} "
             f"(finetune.patience={ft.patience})" if stopped_early else
             f"all {epochs_run} epochs run; the best {split} kappa first reached at epoch {kappa_epoch + 1}")
    if best_epoch != kappa_epoch:
        words += (f"; epoch {best_epoch + 1} kept: the same kappa as epoch {kappa_epoch + 1}, ties broken "
                  f"by the lower {split} loss")
    if ft.keep == "inner":
        words += INNER_CHOICE_WORDS
    return words


INNER_CHOICE_WORDS = "; chosen on the inner split, the validation fold scored once after"
"""How :func:`_fold_stop_words` ends under ``finetune.keep=inner`` (the same for every fold:
the console says it once, :func:`_stop_console_words`)."""


def _run_fold(ctx: _Context, spec: ModelSpec, backbone: Backbone, fold: int,
              bank: Callable[[GradingModel], _FeatureBank], label: str, head_warmup_epochs: int = 0
              ) -> tuple[GradingModel, np.ndarray, list[dict[str, Any]], int, str, str | None]:
    """Train fold ``fold`` from a copy of ``backbone`` and a new head; return the best model,
    its raw validation outputs (TTA), the history, the best epoch, the stop reason and the
    kept epoch's one-grade words (:func:`_fit_fold`).
    ``head_warmup_epochs``: see :func:`_fit_fold` (the full-model path only).

    Under ``finetune.keep=inner`` the model trains on :meth:`_Context.fit_positions` and its
    epochs are scored on the inner split (:meth:`_Context.inner_positions`), which chooses the
    kept one; the validation fold is scored once, after, with the kept weights, and the
    one-grade words are then of its grades."""
    ft = ctx.ft
    seed_everything(ctx.seed + fold)
    model = spec.build(copy.deepcopy(backbone))
    _apply_freeze(model, ft.freeze)
    model.to(ctx.device)
    train_pos = ctx.fit_positions(fold)
    val_pos = np.flatnonzero(ctx.folds == fold)
    # the images each epoch is scored on: the inner split (keep=inner), else the validation fold
    pick_pos = ctx.inner_positions(fold) if ft.keep == "inner" else val_pos
    y_train, y_pick = ctx.grades[train_pos], ctx.grades[pick_pos]
    k = ctx.num_grades
    weights = (torch.as_tensor(class_weights_for(y_train, k), dtype=torch.float32, device=ctx.device)
               if ft.class_balance == "weighted_loss" else None)
    n_batches = math.ceil(len(epoch_order(y_train, ft.batch_size, ft.class_balance, 0, k)) / ft.batch_size)

    def order(epoch: int) -> np.ndarray:
        return epoch_order(y_train, ft.batch_size, ft.class_balance,
                           epoch_seed(ctx.seed, epoch, 1 + fold), k)

    if ft.freeze == "frozen":
        features = bank(model)
        head = model.head

        def batches(epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
            positions = train_pos[order(epoch)]
            rng = np.random.default_rng(epoch_seed(ctx.seed, epoch, 101 + fold))
            view = torch.as_tensor(rng.integers(0, features.train_views.shape[0], len(positions)))
            pos_t = torch.as_tensor(positions)
            grades_t = torch.as_tensor(ctx.grades[positions], dtype=torch.long)
            for s in range(0, len(positions), ft.batch_size):
                v, p = view[s:s + ft.batch_size], pos_t[s:s + ft.batch_size]
                yield features.train_views[v.to(features.train_views.device),
                                           p.to(features.train_views.device)], grades_t[s:s + ft.batch_size]

        @torch.no_grad()
        def head_raw(positions: np.ndarray, n_flips: int) -> np.ndarray:
            head.eval()
            pos = torch.as_tensor(positions).to(features.eval_views.device)
            outs = [head(features.eval_views[i, pos]).float() for i in range(n_flips)]
            return (torch.stack(outs).mean(0)).cpu().double().numpy()

        best, history, best_epoch, stopped, one_grade = _fit_fold(
            ctx, model, head, batches, head, lambda: head_raw(pick_pos, 1), y_pick, weights, n_batches, label)
        head.load_state_dict(best)
        raw_val = head_raw(val_pos, features.eval_views.shape[0])
    else:
        labels_full = np.full(len(ctx.data.images), -1, dtype=np.int64)
        labels_full[ctx.cache_idx] = ctx.grades
        dataset = EvalDataset(ctx.data.images, train_view_transform(ctx.spec), labels_full,
                              indices=ctx.cache_idx[train_pos])
        inputs = _eval_inputs(ctx)[torch.as_tensor(val_pos)]
        pick_inputs = inputs if ft.keep != "inner" else _eval_inputs(ctx)[torch.as_tensor(pick_pos)]

        def batches(epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
            yield from _view_loader(ctx, dataset, order(epoch), epoch_seed(ctx.seed, epoch, 1 + fold),
                                    ft.batch_size, pin_memory=ctx.device.type == "cuda")

        best, history, best_epoch, stopped, one_grade = _fit_fold(
            ctx, model, model, batches, model,
            lambda: predict_raw(model, pick_inputs, False, ctx.device, bf16=ctx.bf16),
            y_pick, weights, n_batches, label, head_warmup_epochs)
        model.load_state_dict(best)
        raw_val = predict_raw(model, inputs, ft.tta, ctx.device, bf16=ctx.bf16)
    model.eval()
    if ft.keep == "inner":  # the kept epoch's one grade is the validation fold's, as under best|last
        one_grade = one_grade_words(_uncalibrated_grades(ctx, raw_val), ctx.grade_names, min_share=1.0)
    return model, raw_val, history, best_epoch, stopped, one_grade


def _uncalibrated_grades(ctx: _Context, raw: np.ndarray) -> np.ndarray:
    """``(n,)`` grades of raw outputs ``(n, R)``: the expected grade cut at the fixed thresholds
    0.5, 1.5, ... (the fold line's uncalibrated kappa)."""
    return apply_thresholds(monitor_score(raw, HEADS[ctx.ft.head]), default_thresholds(ctx.num_grades))


def _file_stamp(path: Path) -> str:
    if not path.is_file():
        return "none"
    st = path.stat()
    return f"{st.st_size}-{st.st_mtime_ns}"


_UNSIGNED_SETTINGS = ("compare_scratch", "n_boot", "decision", "referable_from", "referral_target")
"""``finetune`` settings that change no fold's training (which variants run; the bootstrap of
the metrics, the class decision, the referable cut and the referral target, recomputed on every
run), so they never make finished folds stale."""
_ADDED_SETTINGS = ("crop_scale", "frozen_train_views", "mlp_hidden", "conv_head_channels", "keep",
                   "head_warmup_epochs", "label_fraction", "decay_bias_and_norm")
"""``finetune`` settings that were module constants when earlier runs were made: at the old
constant (:data:`_OLD_CONSTANTS`) they stay out of the signature, so those runs' fold results
are still reused; any other value changes it."""
_OLD_CONSTANTS = {k.split(".", 1)[1]: v for k, v in DEFAULTS_BEFORE.items() if k.startswith("finetune.")}
"""The value an added setting had as a constant where it is not its default today: ``keep``
was ``best`` (and, as the default, unsigned) until December 2026, so a default run now
(``last``) signs its folds and never takes the folds of a run made under ``best``. The other
added settings' constants are their defaults."""


def _signed_settings(ft: dict[str, Any], scratch: bool, unused_widths: bool = False,
                     unused_patience: bool = False) -> dict[str, Any]:
    """The ``finetune`` settings ``ft`` (a mapping as :func:`to_dict` gives it, or a saved
    ``config.yaml``'s section) that a fold's signature holds (:func:`_signature`): not those
    that change no fold (:data:`_UNSIGNED_SETTINGS`), an added setting at its old constant
    (:data:`_ADDED_SETTINGS`), the widths of the heads not chosen, ``head_warmup_epochs`` for
    ``scratch``, ``patience`` under ``keep: last``, ``inner_fraction`` unless ``keep: inner``
    (only that rule reads it: runs made before it existed keep their signature) nor ``seed``
    (the seed in effect is signed apart); ``unused_widths`` / ``unused_patience`` keep those
    two as older runs signed them."""
    defaults = {**json.loads(json.dumps(to_dict(FinetuneConfig()))), **_OLD_CONSTANTS}
    settings = {k: v for k, v in ft.items()
                if k not in _UNSIGNED_SETTINGS and not (k in _ADDED_SETTINGS and v == defaults.get(k))}
    if not unused_widths:
        for head, key in HEAD_WIDTH_SETTINGS.items():
            if head != ft.get("head"):
                settings.pop(key, None)
    if scratch:  # scratch never warms its head up alone (nothing pretrained to keep)
        settings.pop("head_warmup_epochs", None)
    if ft.get("keep") == "last" and not unused_patience:  # no early stop: the patience is not read
        settings.pop("patience", None)
    if ft.get("keep") != "inner":  # no inner split: the fraction is not read
        settings.pop("inner_fraction", None)
    settings.pop("seed", None)  # the seed in effect is signed apart, whichever setting gave it
    return settings


def _signature(ctx: _Context, variant: str, source: Path | None, spec: ModelSpec,
               run_dir: Path | None = None, legacy: bool = False, unused_widths: bool = False,
               unused_patience: bool = False, source_sha256: str | None = None) -> str:
    """A hash of everything a fold's result depends on: a fold record with another
    signature is retrained, not reused.

    The pretrained ``source`` is signed by its path relative to ``run_dir`` (when it lies
    inside it) and the SHA-256 of its bytes, so a run folder that is moved or copied keeps
    its finished folds. ``legacy=True`` gives the signature runs made before that (absolute
    path, size and modification time), still accepted so those runs' folds are reused.
    The width settings of the heads not chosen (``finetune.mlp_hidden`` with the conv head)
    change no fold and are not signed; ``unused_widths=True`` gives the signature of runs
    made when they were (also accepted). Likewise ``finetune.patience`` under
    ``finetune.keep=last``, which runs every epoch (the preflight's advice to
    leave an unused patience out would otherwise retrain finished folds);
    ``unused_patience=True`` gives the signature of keep=last runs made when it was signed.
    ``source_sha256``: the source's digest when the caller has it (it signs several variants
    of one source); read from the file otherwise. Under ``finetune.keep=inner`` each fold's
    inner split (its ids, :meth:`_Context.inner_positions`) is signed too, so a fold is reused
    only with the same inner split: the same ``finetune.inner_fraction``, seed and units
    (patients, near-twin groups); the other rules' signatures are as before.
    """
    settings = _signed_settings(json.loads(json.dumps(to_dict(ctx.ft))), source is None,
                                unused_widths, unused_patience)
    if ctx.bf16:  # bf16 autocast changes the results; fp32 folds (all CPU runs) sign as before
        settings["bf16_autocast"] = True
    # the input spec's train_crop_scale is finetune.crop_scale, signed above; the ingest's
    # fundus options are recorded only when one is on (an older run's signature holds)
    input_meta = {k: v for k, v in ctx.spec.to_metadata().items() if k != "train_crop_scale"}
    # the stem stride joined the spec later: at 1 (the only stride then) an older run's holds
    spec_dict = {k: v for k, v in spec.to_dict().items() if not (k == "stem_stride" and v == 1)}
    if source is None:
        source_id = None
    elif legacy:
        source_id = [str(source), _file_stamp(source)]
    else:
        # absolute but not resolved: a pretrain/ that is a link into another run is still "inside"
        where = Path(os.path.abspath(source))
        if run_dir is not None and where.is_relative_to(os.path.abspath(run_dir)):
            where = where.relative_to(os.path.abspath(run_dir))
        if source_sha256 is None:
            source_sha256 = sha256_file(source) if source.is_file() else "none"
        source_id = {"path": where.as_posix(), "sha256": source_sha256}
    blob = json.dumps({"finetune": settings, "seed": ctx.seed, "variant": variant,
                       "source": source_id,
                       "spec": spec_dict, "input": input_meta,
                       "ids": [r["id"] for r in ctx.lab], "folds": ctx.folds.tolist(),
                       "grades": ctx.grades.tolist(),
                       **({"inner_split": {str(f): [ctx.lab[i]["id"] for i in ctx.inner_positions(f)]
                                           for f in ctx.fold_ids}} if ctx.ft.keep == "inner" else {})},
                      sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _calibration_fitted_on(n_given: int, n_labelled: int) -> str:
    """``calibration.json``'s ``fitted_on``: the images whose out-of-fold outputs the
    deployed calibration was fitted on (with ``finetune.label_fraction`` < 1 only those some
    fold trained on, the union of the folds' draws, not every labelled image)."""
    if n_given == n_labelled:
        return f"out-of-fold outputs of {n_labelled} images"
    return (f"out-of-fold outputs of {n_given} of the {n_labelled} labelled images (those some "
            f"fold's finetune.label_fraction draw trained on)")


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    return value


def _json_safe(obj: Any) -> Any:
    """NaN/inf -> None, so the JSON files are standard JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    return obj


def _folds_interrupted(saved: dict[str, list[int]], variants: Sequence[str], n_folds: int) -> StageInterrupted:
    """What a Ctrl-C during the fine-tuning leaves: the folds saved per variant (``saved``, of
    ``n_folds`` each for the ``variants`` in order), which the same command reuses
    (:func:`drac_ssl.run_state.folds_saved_words`, the words a killed fine-tuning's count on
    disk is said in too)."""
    return StageInterrupted(*folds_saved_words(saved, list(variants), n_folds))


@dataclass
class _FoldSetup:
    """What every fold of one variant starts from (:func:`_sign_and_build`)."""

    signature: str  # the signature a fold trained now is recorded with
    accepted: set[str]  # the signatures whose finished fold records are reused (this one and older forms)
    backbone: Backbone  # the pretrained (or seeded random) backbone every fold starts from
    frozen: bool  # finetune.freeze=frozen: the folds train heads only, on one shared backbone file
    head_warmup: int  # epochs the head trains alone first (0 for scratch: nothing to keep)
    shared_backbone: Path  # <variant>/backbone.safetensors: the frozen backbone all folds share
    scratch: bool = False  # no pretrained source: the variant trains from a random init


def _fold_signatures(ctx: _Context, variant: str, source: Path | None, spec: ModelSpec,
                     out_dir: Path) -> tuple[str, set[str]]:
    """``(signature, accepted)``: the signature a fold of ``variant`` (its folder ``out_dir``,
    ``<run>/finetune/<variant>``) trained now is recorded with (:func:`_signature`), and the
    signatures whose finished fold records are reused (it and its older forms). Reads
    ``source`` (hashed once); draws nothing."""
    run_dir = out_dir.parent.parent  # <run>/finetune/<variant>
    digest = None if source is None else sha256_file(source) if source.is_file() else "none"  # hashed once
    signature = _signature(ctx, variant, source, spec, run_dir, source_sha256=digest)
    # a fold finished before sources were signed by content (absolute path + file stamp), or
    # before the unused heads' width settings left the signature, or when keep=last signed
    # the patience it does not read
    accepted = {_signature(ctx, variant, source, spec, run_dir, unused_widths=widths, unused_patience=patience,
                           source_sha256=digest)
                for widths in (False, True) for patience in (False, True)}
    if source is not None:
        accepted |= {_signature(ctx, variant, source, spec, legacy=True, unused_widths=widths,
                                unused_patience=patience)
                     for widths in (False, True) for patience in (False, True)}
    return signature, accepted


def _fold_reusable(record: dict[str, Any] | None, accepted: set[str], weights_path: Path,
                   problems: dict[tuple[str, int, int, str], str | None]) -> bool:
    """Whether a fold's finished record is reused (:func:`_train_folds`): its signature
    accepted, its weights file present and whole (:func:`~drac_ssl.run_state.fold_weights_problem`,
    remembered in ``problems``: :func:`_weights_problem`), its validation outputs finite and its
    training views drawn per image (:data:`~drac_ssl.run_state.TRAIN_VIEWS`)."""
    return (record is not None and record.get("signature") in accepted and weights_path.is_file()
            and not _non_finite_rows(record.get("val_raw"))[0] and record.get("train_views") == TRAIN_VIEWS
            and _weights_problem(record, weights_path, problems) is None)


def _weights_problem(record: dict[str, Any], weights_path: Path,
                     problems: dict[tuple[str, int, int, str], str | None]) -> str | None:
    """:func:`~drac_ssl.run_state.fold_weights_problem` of the fold file ``weights_path``, taken
    from ``problems`` (``_Context.weights_problems``) when it was checked already as it is now
    (same path, size, modification time and recorded ``weights_file``), else checked and
    remembered there: a damaged file is hashed once per command.

    Raises:
        OSError: the file cannot be stat'ed (gone)."""
    stat = weights_path.stat()
    key = (str(weights_path), stat.st_size, stat.st_mtime_ns, json.dumps(record.get("weights_file"), sort_keys=True))
    if key not in problems:
        problems[key] = fold_weights_problem(record, weights_path)
    return problems[key]


def _weights_content(path: Path) -> dict[str, Any]:
    """What a fold record holds of its weights file (``weights_file``): ``{"bytes", "sha256",
    "mtime_ns"}``, checked on reuse by :func:`~drac_ssl.run_state.fold_weights_problem`."""
    stat = path.stat()
    return {"bytes": stat.st_size, "sha256": sha256_file(path), "mtime_ns": stat.st_mtime_ns}


def _sign_and_build(ctx: _Context, variant: str, source: Path | None, spec: ModelSpec,
                    out_dir: Path) -> _FoldSetup:
    """Sign the variant's folds and build the backbone they start from.

    Creates ``out_dir`` (``<run>/finetune/<variant>``); signs the folds (:func:`_signature`,
    with the older forms still accepted so finished folds are reused); seeds the fine-tuning's
    seed and builds the backbone (scratch: one random init shared by all folds; else
    ``source``'s weights, loaded strictly). With ``finetune.freeze=frozen`` the backbone is
    written once to ``backbone.safetensors``, which every fold's weights list; otherwise any
    such file is removed. The seeding comes first, so the random draws of the backbone's
    initialisation and of the folds after it come in a fixed order.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    signature, accepted = _fold_signatures(ctx, variant, source, spec, out_dir)
    seed_everything(ctx.seed)  # scratch: one random init shared by all folds
    backbone = spec.build_backbone()
    if source is not None:
        load_local_weights(backbone, source, strict=True)
    frozen = ctx.ft.freeze == "frozen"
    # LP-FT only where there are pretrained features to keep; scratch fine-tunes as before
    head_warmup = ctx.ft.head_warmup_epochs if source is not None else 0
    shared_backbone = out_dir / "backbone.safetensors"
    if frozen:
        save_weights(shared_backbone, {f"backbone.{k}": v for k, v in backbone.state_dict().items()},
                     {"format": "drac_ssl grading backbone v1"})
    else:
        shared_backbone.unlink(missing_ok=True)
    return _FoldSetup(signature, accepted, backbone, frozen, head_warmup, shared_backbone, source is None)


@dataclass
class _FoldOutputs:
    """A variant's finished folds (:func:`_train_folds`)."""

    # (n_lab, R) float64: each labelled image's raw output (R logits, or 1 score) from the one
    # fold model that held it out; rows in ``ctx.lab`` order
    raw_all: np.ndarray
    records: list[dict[str, Any]]  # each fold's record (fold<k>.json), in ctx.fold_ids order
    taken_from: dict[str, list[int]]  # run folder -> the folds reused from it (run.reuse)


def _reuse_fold(variant: str, fold: int, out_dir: Path, record_path: Path, record: dict[str, Any],
                offered: dict[str, Any], signature: str) -> str | None:
    """Take a finished fold record (its signature accepted, its weights present): print that
    it is reused, and re-sign an older record (and its run.reuse offer) with ``signature`` so
    the folder can move. Returns the run folder it was trained in when run.reuse offered it,
    None when it is this run's own (a resumed attempt). Rewrites ``record`` and ``offered``
    in place and on disk when it re-signs."""
    origin = offered.get(record_path.name)
    trained_in = (origin.get("trained_in") if isinstance(origin, dict)
                  and origin.get("signature") == record.get("signature") else None)
    print(f"[finetune] {variant} fold {fold}: reusing {record_path.name}"
          + (f" (trained in {trained_in}, offered by run.reuse: the same settings and "
             f"inputs)" if trained_in else ""))
    if record["signature"] != signature:  # re-sign an older record: the folder can now move
        if trained_in:  # and its offer first: a later pass and a reuse of this run match it
            offered[record_path.name] = {**origin, "signature": signature}
            atomic_write_json(out_dir / OFFERED_FOLDS, offered)
        record["signature"] = signature
        atomic_write_json(record_path, record)
    return trained_in


def _train_and_save_fold(ctx: _Context, variant: str, spec: ModelSpec, setup: _FoldSetup, fold: int,
                         position: int, bank: Callable[[GradingModel], _FeatureBank],
                         train_pos: np.ndarray, train_ids: list[str], val_ids: list[str],
                         weights_path: Path, inner_ids: Sequence[str] = ()) -> dict[str, Any]:
    """Train fold ``fold`` (:func:`_run_fold`; ``position`` its 0-based place among the folds,
    for the console) on the images at ``train_pos`` (into ``ctx.lab``), save its weights (the
    head only when the backbone is frozen) to ``weights_path`` and its record to
    ``fold<k>.json`` beside them. Returns the record: signature, epochs, the ids it trained
    and was validated on, ``val_raw`` (n_val, R), the raw outputs on its held-out images.
    Under ``finetune.keep=inner`` also ``inner_ids`` (the inner split that chose the epoch,
    none of them in ``train_ids``), ``n_inner`` and ``val_qwk_uncalibrated`` (the validation
    fold's kappa at the fixed thresholds, scored once with the kept weights; the history holds
    the inner split's figures, not the validation fold's).

    Raises:
        FinetuneNonFiniteError: the training loss or the validation outputs became NaN or
            inf (:func:`_fit_fold`, or the kept model's final outputs here); nothing is saved.
    """
    t0 = time.perf_counter()
    label = f"{variant} fold {fold} ({position + 1}/{len(ctx.fold_ids)})"
    model, raw_val, history, best_epoch, stopped, one_grade = _run_fold(
        ctx, spec, setup.backbone, fold, bank, label, setup.head_warmup)
    n_bad, n_val = _non_finite_rows(raw_val)
    if n_bad:  # the kept epoch's outputs were finite in its epoch; with TTA (flips) they are not
        raise _non_finite_error(ctx, label, best_epoch, f"the kept epoch's final validation outputs "
                                f"(finetune.tta={str(ctx.ft.tta).lower()}) are non-finite ({n_bad} of "
                                f"{n_val} images)", history[best_epoch]["lr"],
                                any(p.requires_grad for p in model.backbone.parameters()))
    state = model.state_dict()
    if setup.frozen:
        state = {k: v for k, v in state.items() if k.startswith("head.")}
    save_weights(weights_path, state, {"format": "drac_ssl grading fold v1"})
    weights_file = _weights_content(weights_path)  # checked on reuse: a cut-short file is retrained
    inner: dict[str, Any] = {}
    val_qwk = math.nan
    if ctx.ft.keep == "inner":
        val_pos = np.flatnonzero(ctx.folds == fold)
        val_qwk = quadratic_weighted_kappa(ctx.grades[val_pos], _uncalibrated_grades(ctx, raw_val),
                                           ctx.num_grades)
        inner = {"inner_ids": list(inner_ids), "n_inner": len(inner_ids), "val_qwk_uncalibrated": val_qwk}
    record = {
        "fold": fold, "signature": setup.signature, "best_epoch": best_epoch,
        "epochs_counted_from": 0,  # best_epoch and history's epochs; "stopped" counts from 1
        "epochs_run": len(history), "stopped": stopped,
        "seconds": round(time.perf_counter() - t0, 3),
        "n_train": len(train_ids), "n_val": len(val_ids),
        "train_grade_counts": np.bincount(ctx.grades[train_pos], minlength=ctx.num_grades).tolist(),
        "train_ids": train_ids, "val_ids": val_ids,
        "val_raw": raw_val.tolist(), "history": history, "train_views": TRAIN_VIEWS,
        "weights": ([setup.shared_backbone.name] if setup.frozen else []) + [weights_path.name],
        "weights_file": weights_file,
        **inner,
    }
    atomic_write_json(weights_path.with_name(f"fold{fold}.json"), _json_safe(record))
    print(_fold_line(ctx, label, history, best_epoch, stopped, one_grade, val_qwk))  # said once it is saved
    return record


def _offered_differences(offered: dict[str, Any], ft: FinetuneConfig, scratch: bool = False) -> list[str]:
    """The ``finetune`` settings in which the run folders whose folds run.reuse ``offered``
    (``trained_in``) differ from this fine-tuning's ``ft``, as ``"finetune.head: 'linear' ->
    'mlp'"`` lines read from their saved ``config.yaml``: only those a fold's signature holds
    on either side (:func:`_signed_settings`; ``scratch``: the variant trains from scratch);
    [] when none differ or no config can be read. The signature's other inputs (the
    pretrained model, the images, their folds, the seed in effect) may differ too, which the
    settings cannot tell: the caller words it as settings *or* inputs."""
    from drac_ssl.config import read_saved_config
    from drac_ssl.stage_settings import (
        comparable,
        config_differences,
        parse_difference_line,
        saved_settings,
    )

    folders = sorted({str(o["trained_in"]) for o in offered.values()
                      if isinstance(o, dict) and o.get("trained_in")})
    mine = json.loads(json.dumps(to_dict(ft)))
    new = comparable({"finetune": to_dict(ft)})
    diffs: list[str] = []
    for folder in folders:
        saved = read_saved_config(folder)
        if not saved:
            continue
        theirs = saved_settings(saved).get("finetune") or {}
        signed = set(_signed_settings(mine, scratch)) | (
            set(_signed_settings(theirs, scratch)) if isinstance(theirs, dict) else set())
        old = comparable({"finetune": theirs})
        diffs += [d for d in config_differences(old, new) if d not in diffs
                  and parse_difference_line(d)[0].removeprefix("finetune.").split(".")[0] in signed]
    return diffs


DAMAGED_WORDS = "their weights file was cut short or damaged after it was saved"


def _say_reuse(variant: str, n_folds: int, offered: dict[str, Any], taken_from: dict[str, list[int]],
               resumed: list[int], not_finite: Sequence[int] = (), differ: Sequence[str] = (),
               old_views: Sequence[int] = (), damaged: Sequence[int] = ()) -> None:
    """Print how many of the folds run.reuse ``offered`` were taken (``taken_from``), and with
    a resumed attempt how many were this run's own (``resumed``) or trained now. Offered
    folds trained again because their validation outputs are not finite (``not_finite``) or
    because the code before :data:`TRAIN_VIEWS` trained them (``old_views``) or because their
    weights file is cut short or damaged (``damaged``) are counted apart
    from those whose settings or inputs differ; ``differ``: the settings that differ, when
    known (:func:`_offered_differences`), named instead of "the signature", or beside the
    older-code reason when no other fold was retrained for its signature (a fold of that code
    whose settings were changed too: a review of oldrun_fx, F3)."""
    n_taken = sum(len(folds) for folds in taken_from.values())
    n_bad, n_old, n_damaged = len(not_finite), len(old_views), len(damaged)
    n_differ = (len(offered) - n_taken - n_bad - n_old - n_damaged  # retrained for their signature
                - sum(f"fold{fold}.json" in offered for fold in resumed))
    old_words = OLD_VIEWS_WORDS + (f"; their settings differ from this run's too: {', '.join(differ)}"
                                   if differ and n_differ <= 0 else "")
    its = "its" if n_bad == 1 else "their"
    if resumed:  # a resumed attempt: its own folds are neither taken nor retrained now
        n_trained = n_folds - n_taken - len(resumed)
        print(f"[finetune] {variant}: {len(resumed)} fold(s) resumed from this run's earlier "
              f"attempt; {n_taken} of the {len(offered)} offered by run.reuse taken"
              + (f"; {n_trained} trained here" if n_trained else "")
              + (f" ({n_bad} offered by run.reuse: {its} validation outputs were not finite)"
                 if n_bad else "")
              + (f" ({n_old} offered by run.reuse: {old_words})" if n_old else "")
              + (f" ({n_damaged} offered by run.reuse: {DAMAGED_WORDS})" if n_damaged else ""))
    else:
        print(f"[finetune] {variant}: {n_taken} of the {len(offered)} fold(s) offered by run.reuse reused"
              + (f"; {n_bad} retrained here: {its} validation outputs were not finite" if n_bad else "")
              + (f"; {n_old} retrained here: {old_words}" if n_old else "")
              + (f"; {n_damaged} retrained here: {DAMAGED_WORDS}" if n_damaged else "")
              + ((f"; {n_differ} retrained here (their settings or inputs differ from this run's; "
                  f"settings that differ: {', '.join(differ)})" if differ else
                  f"; {n_differ} retrained here (their settings or inputs differ from this run's: "
                  f"the signature)") if n_differ > 0 else ""))


def _train_folds(ctx: _Context, variant: str, spec: ModelSpec, out_dir: Path, setup: _FoldSetup,
                 saved_folds: dict[str, list[int]] | None) -> _FoldOutputs:
    """Every fold of the variant, in ``ctx.fold_ids`` order: a finished record in ``out_dir``
    with an accepted signature and its weights is reused (:func:`_reuse_fold`), unless its
    validation outputs hold NaN or inf (a line says so); any other fold is trained and saved
    (:func:`_train_and_save_fold`, which stops on a non-finite value and then saves nothing).
    Fold k trains on ``ctx.train_positions(k)`` and is validated on fold k's images; it
    refuses a fold whose training and validation ids meet. Each fold saved is added to ``saved_folds[variant]``.

    Returns the out-of-fold raw outputs ``(n_lab, R)`` (each image's row from the fold that
    held it out), the records, and the folds taken from run.reuse's folders.
    """
    bank_cache: dict[str, _FeatureBank] = {}

    def bank(model: GradingModel) -> _FeatureBank:
        if "bank" not in bank_cache:
            t0 = time.perf_counter()
            bank_cache["bank"] = _feature_bank(model, ctx)
            print(f"[finetune] {variant}: frozen-backbone features of {len(ctx.lab)} images "
                  f"in {time.perf_counter() - t0:.1f} s")
        return bank_cache["bank"]

    n_lab = len(ctx.lab)
    raw_all: np.ndarray | None = None
    fold_records: list[dict[str, Any]] = []
    offered = read_json_dict(out_dir / OFFERED_FOLDS) or {}
    taken_from: dict[str, list[int]] = {}  # run folder -> the folds reused from it (run.reuse)
    resumed: list[int] = []  # folds read back from this run's earlier attempt (not offered)
    not_finite: list[int] = []  # folds offered by run.reuse trained again: outputs not finite
    old_views: list[int] = []  # ... and those trained by the code whose views followed the workers
    damaged: list[int] = []  # ... and those whose weights file is cut short or damaged
    old_unsigned = False  # an offered fold of that code whose signature is not accepted either
    for k_i, fold in enumerate(ctx.fold_ids):
        record_path = out_dir / f"fold{fold}.json"
        weights_path = out_dir / f"fold{fold}.safetensors"
        record = read_json_dict(record_path)
        train_pos = ctx.fit_positions(fold)  # less the inner split under keep=inner
        inner_pos = ctx.inner_positions(fold)
        val_pos = np.flatnonzero(ctx.folds == fold)
        train_ids = [ctx.lab[i]["id"] for i in train_pos]
        inner_ids = [ctx.lab[i]["id"] for i in inner_pos]
        val_ids = [ctx.lab[i]["id"] for i in val_pos]
        if set(train_ids) & set(val_ids):  # cannot happen by construction; never allow it
            raise RuntimeError(f"fold {fold}: ids in both training and validation")
        if set(inner_ids) & (set(train_ids) | set(val_ids)):  # likewise
            raise RuntimeError(f"fold {fold}: inner-split ids also in training or validation")
        # a fold of the code before TRAIN_VIEWS whose signature is not accepted either is
        # retrained for that code whatever else differs (_older_code_fold)
        older = _older_code_fold(record, setup.accepted)
        reusable = record is not None and (older or (record.get("signature") in setup.accepted
                                                     and weights_path.is_file()))
        if reusable:  # the checks of _fold_reusable, in turn, each weights file checked once
            n_bad, n_val = (0, 0) if older else _non_finite_rows(record.get("val_raw"))
            why, tally = None, not_finite  # the list the fold is added to when offered
            if older:
                why, tally = OLD_VIEWS_WORDS, old_views
                old_unsigned = old_unsigned or record_path.name in offered
            elif n_bad:  # saved before a non-finite fold was stopped: reused, it failed every rerun
                why, tally = (f"its validation outputs are not finite ({n_bad} of {n_val} images: saved by "
                              f"a version that did not stop a fold on non-finite values)"), not_finite
            elif (problem := _weights_problem(record, weights_path, ctx.weights_problems)) is not None:
                why, tally = (f"{out_dir / weights_path.name}: {problem} (cut short or damaged after it "
                              f"was saved)"), damaged
            elif record.get("train_views") != TRAIN_VIEWS:
                why, tally = OLD_VIEWS_WORDS, old_views
            if why is not None:
                print(f"[finetune] {variant} fold {fold}: {record_path.name} is not reused: {why}: training it again")
                if record_path.name in offered:
                    tally.append(fold)
                record, reusable = None, False
        if reusable:
            trained_in = _reuse_fold(variant, fold, out_dir, record_path, record, offered, setup.signature)
            if trained_in:
                taken_from.setdefault(str(trained_in), []).append(fold)
            else:
                resumed.append(fold)
        else:
            record = _train_and_save_fold(ctx, variant, spec, setup, fold, k_i, bank, train_pos,
                                          train_ids, val_ids, weights_path, inner_ids)
        if saved_folds is not None:
            saved_folds.setdefault(variant, []).append(fold)
        raw_val = np.asarray(record["val_raw"], dtype=np.float64)
        if raw_all is None:
            raw_all = np.zeros((n_lab, raw_val.shape[1]))
        raw_all[val_pos] = raw_val
        fold_records.append(record)
    assert raw_all is not None
    if offered:  # run.reuse offered folds: say how many were taken (a trial saw none taken, unsaid)
        n_taken = sum(len(folds) for folds in taken_from.values())
        differ = (_offered_differences(offered, ctx.ft, scratch=setup.scratch)  # the settings changed too
                  if old_unsigned or len(offered) > n_taken + len(not_finite) + len(old_views) + len(damaged)
                  else [])
        _say_reuse(variant, len(ctx.fold_ids), offered, taken_from, resumed, not_finite, differ, old_views,
                   damaged)
    return _FoldOutputs(raw_all, fold_records, taken_from)


@dataclass
class _CrossFit:
    """The cross-fitted calibration of a variant's out-of-fold outputs
    (:func:`_cross_fit_calibration`); ``n_lab`` rows in ``ctx.lab`` order."""

    probs: np.ndarray  # (n_lab, K) float64: calibrated probabilities, as oof.csv writes them (6 decimals)
    score: np.ndarray  # (n_lab,) float64: the continuous score the kappa thresholds cut
    preds: dict[str, np.ndarray]  # decision rule (DECISIONS) -> (n_lab,) int64 grades
    fold_cuts: dict[int, list[float]]  # fold -> the kappa thresholds fitted for it
    given: np.ndarray  # sorted positions of the images some fold trained on
    calibration: Calibration  # the deployed one: fitted on the out-of-fold outputs of ``given``
    decision: str  # finetune.decision
    # finetune.referral_target: (n_lab,) int64, each image referred (1) or not by the referral
    # cut fitted for its fold, and fold -> that cut; None / {} without a target
    referred: np.ndarray | None = None
    referral_cuts: dict[int, float] = field(default_factory=dict)

    @property
    def pred(self) -> np.ndarray:
        """(n_lab,) int64: the grades by ``finetune.decision``, or with two grades and a
        referral target by the fold's referral cut (:attr:`Calibration.referral_decides`)."""
        if self.referred is not None and self.calibration.referral_decides:
            return self.referred
        return self.preds[self.decision]


def _cross_fit_calibration(ctx: _Context, raw_all: np.ndarray, kind: str,
                           referral: tuple[str, float] | None = None) -> _CrossFit:
    """Cross-fitted calibration (temperature and kappa thresholds, and with ``referral`` the
    referral cut) for the reported out-of-fold figures, for both class decisions.

    Rule: fold k's rows are calibrated by a :class:`Calibration` fitted only on the
    out-of-fold outputs of the images fold k's model was given labels for
    (``ctx.train_positions(k)``: every other fold's images, or with
    ``finetune.label_fraction`` < 1 only its draw of them), so fold k's rows never enter its
    own fit (nor do labels its model was not given, as fit targets). The models whose outputs
    it is fitted on, those of the folds j != k, were each trained with fold k's labels: a
    second-order path by which fold k's labels still reach its calibration. The deployed
    calibration is fitted on the images any fold was given (all of them without a label draw).
    The referral cut (``finetune.referral_target``, ``referral`` ``(metric, level)`` on
    P(referable) of grades >= ``ctx.referable_from``) follows the same rule: fold k's images are
    referred by the cut :meth:`Calibration.fit` chose on the same rows as its thresholds
    (under their temperature), never on fold k's own; the deployed cut on all of them.

    Args:
        raw_all: ``(n_lab, R)`` out-of-fold raw outputs (:func:`_train_folds`).
        kind: the head's output (``classification`` or ``regression``).
        referral: ``(metric, level)`` of ``finetune.referral_target``; None: no referral cut.

    Returns:
        probabilities ``(n_lab, K)`` as ``oof.csv`` writes them (6 decimals, rows summing to
        1: :func:`drac_ssl.submission.written_probabilities`; the grades are decided on the
        unrounded ones, the referral on the written ones), scores ``(n_lab,)`` and grades ``(n_lab,)`` per decision
        rule (each rule alone, without the referral cut), each fold's thresholds, the deployed
        calibration and, with ``referral``, each image's out-of-fold referral and each fold's cut.
    """
    k = ctx.num_grades
    decision = ctx.ft.decision
    n_lab = len(ctx.lab)
    probs = np.zeros((n_lab, k))
    score = np.zeros(n_lab)
    preds = {rule: np.zeros(n_lab, dtype=np.int64) for rule in DECISIONS}
    fold_cuts: dict[int, list[float]] = {}
    # fold k is calibrated on the labels its model was given: every other fold's images, or
    # with finetune.label_fraction < 1 only its draw of them (a review found the calibration
    # fitted on all other-fold labels, 24 where the fold trained on 6, which a low-label
    # figure must not have); the deployed calibration on the labels any fold was given
    given_to = {fold: ctx.train_positions(fold) for fold in ctx.fold_ids}  # each fold's labels
    target = None if referral is None else (*referral, ctx.referable_from)
    referred = None if referral is None else np.zeros(n_lab, dtype=np.int64)
    referral_cuts: dict[int, float] = {}
    for fold in ctx.fold_ids:
        inside, known = ctx.folds == fold, given_to[fold]
        cal_k = Calibration.fit(raw_all[known], ctx.grades[known], kind, k, decision, target)
        probs[inside], score[inside] = cal_k.probs_and_scores([raw_all[inside]])
        for rule in DECISIONS:  # each rule's own grades (with two grades the referral cut decides)
            preds[rule][inside] = cal_k.without_referral().with_decision(rule).grades_of(
                probs[inside], score[inside])
        fold_cuts[fold] = list(cal_k.thresholds)
        # referred on the 6-decimal P as oof.csv writes them, against the cut in millionths
        # (ReferralCut.refer: written_units vs cut_units), as the export and the app refer
        if referred is not None and cal_k.referral is not None:
            referred[inside] = cal_k.referral.refer(probs[inside])
            referral_cuts[fold] = cal_k.referral.cut
    given = np.unique(np.concatenate(list(given_to.values())))
    calibration = Calibration.fit(raw_all[given], ctx.grades[given], kind, k, decision, target)
    # the probabilities as oof.csv holds them (6 decimals, as a submission CSV): every figure
    # of them (the AUCs, their CIs, the paired differences) is then the one a user recomputes
    # from the file; the grades were decided above, on the unrounded ones, and an exact tie's
    # rounding remainder goes to the grade oof.csv writes as pred (not the first tied one)
    fit = _CrossFit(probs, score, preds, fold_cuts, given, calibration, decision, referred, referral_cuts)
    fit.probs = written_probabilities(probs, classes=fit.pred)
    return fit


def _per_fold_figures(ctx: _Context, fold_records: list[dict[str, Any]], fit: _CrossFit) -> list[dict[str, Any]]:
    """One row per fold (metrics.json's ``folds``, folds.csv): the fold's training facts from
    its record and its figures on its own images from the cross-fitted ``fit``
    (``thresholds_cross_fitted``: the thresholds fitted for it on the other folds' outputs).
    The uncalibrated kappa at the fixed thresholds: ``best_val_qwk_uncalibrated`` under
    ``finetune.keep=best|last`` (the kept epoch's, scored in the epoch loop without the
    test-time flips); under ``keep=inner`` ``best_inner_qwk_uncalibrated`` (the kept epoch's on
    the inner split, in the loop), ``val_qwk_uncalibrated`` (the validation fold's, scored once
    with the kept weights and the flips of ``finetune.tta``, as the calibrated figures) and
    ``n_inner`` (the inner split's images: ``n_train + n_inner + n_val`` are the fold's)."""
    y, pred, names = ctx.grades, fit.pred, list(ctx.grade_names)
    per_fold: list[dict[str, Any]] = []
    for record in fold_records:
        inside = ctx.folds == record["fold"]
        r = grading_report(y[inside], fit.probs[inside], pred[inside], names)
        kept = record["history"][record["best_epoch"]]
        # keep=best|last: the kept epoch's in-loop validation kappa (no test-time flips);
        # keep=inner: the history is the inner split's (in-loop, no flips), and the validation
        # kappa was scored once after, with the flips finetune.tta says: its own key, as it is
        # not the in-loop figure best_val_qwk_uncalibrated names
        if "inner_qwk" in kept:
            uncalibrated = {"n_inner": record.get("n_inner"), "best_inner_qwk_uncalibrated": kept.get("inner_qwk"),
                            "val_qwk_uncalibrated": record.get("val_qwk_uncalibrated")}
        else:
            uncalibrated = {"best_val_qwk_uncalibrated": kept.get("val_qwk")}
        per_fold.append({"fold": record["fold"], "n_train": record["n_train"], "n_val": record["n_val"],
                         "best_epoch": record["best_epoch"], "epochs_counted_from": 0,
                         "epochs_run": record["epochs_run"],
                         "qwk": r["qwk"], "auc": r["auc"], "auc_ovr": r["auc_ovr"],
                         "accuracy": r["accuracy"], "macro_f1": r["macro_f1"],
                         **uncalibrated,
                         "thresholds_cross_fitted": fit.fold_cuts[record["fold"]],
                         **({"referral_cut_cross_fitted": fit.referral_cuts[record["fold"]]}
                            if record["fold"] in fit.referral_cuts else {}),
                         "seconds": record["seconds"], "stopped": record["stopped"]})
    return per_fold


def _inner_words(ft: FinetuneConfig, patients: Sequence[str] | None) -> str:
    """``finetune.keep=inner``'s split and rule in words (the protocol of metrics.json,
    comparison.json and the model card); ``patients``: the units the folds kept whole
    (:func:`drac_ssl.oof.patient_groups`), said only when there are some (None: every image
    its own unit)."""
    kind = resampling_kind(patients)
    whole = ("" if patients is None else ", patients and near-twin groups kept whole" if kind == "groups"
             else ", patients kept whole")
    return (f"finetune.inner_fraction={ft.inner_fraction:g} of each fold's training images held out, "
            f"grade-stratified{whole}, the same for every variant; "
            f"the lowest inner loss among equal kappas; early stopping with "
            f"finetune.patience={ft.patience}")


def _protocol_words(ctx: _Context, draw_words: str) -> str:
    """The protocol of the out-of-fold figures in words (metrics.json's ``protocol_words``,
    before the CI's words); ``draw_words``: :func:`_label_draw`'s words, "" without a draw."""
    return ("out-of-fold predictions of every labelled image"
            + (f"; {draw_words}" if draw_words else "")
            + (", each fold's model after its last epoch (finetune.keep=last: no epoch "
               "chosen on the validation fold)" if ctx.ft.keep == "last" else
               f", each fold's model from the epoch with the best kappa on an inner split of its "
               f"training images (finetune.keep=inner: {_inner_words(ctx.ft, ctx.patients)}), the validation fold "
               f"scored once with those weights, untouched by the choice" if ctx.ft.keep == "inner" else
               ", each fold's model from the epoch with the best validation kappa "
               "(finetune.keep=best: chosen on the fold it scores, so its kappa is optimistic by an amount not the "
               f"same for every variant, which python -m bench.keep_selection indicates ({KEEP_SELECTION_GAP}); "
               "finetune.keep=last, the default, chooses nothing)")
            + "; temperature and kappa thresholds cross-fitted (fold k calibrated on the "
            "other folds' out-of-fold outputs"
            + (", only those of the images in its draw" if draw_words else "")
            + f"); {_grades_by_words(ctx)}")


def _referral_decides(ctx: _Context) -> bool:
    """Whether the referral cut gives the grades: two grades and ``finetune.referral_target``
    (:attr:`drac_ssl.grading.model.Calibration.referral_decides`)."""
    return getattr(ctx, "referral", None) is not None and ctx.num_grades == 2  # a bare context: none


def _grades_by_words(ctx: _Context) -> str:
    """What gives the out-of-fold grades, in the protocol's words: ``grades by
    finetune.decision=thresholds``, or with two grades and a referral target ``grades by the
    referral cut (finetune.referral_target=sensitivity:0.90: grade 1 when P1 >= the cut
    cross-fitted for the image's fold; finetune.decision=thresholds not used)``."""
    if not _referral_decides(ctx):
        return f"grades by finetune.decision={ctx.ft.decision}"
    metric, level = ctx.referral  # type: ignore[misc]
    return (f"grades by the referral cut (finetune.referral_target={metric}:{level_text(level)}: grade 1 when "
            f"P1 >= the cut cross-fitted for the image's fold; finetune.decision={ctx.ft.decision} not used)")


def _score_variant(ctx: _Context, variant: str, trained: _FoldOutputs, fit: _CrossFit,
                   t_start: float) -> dict[str, Any]:
    """The variant's metrics (metrics.json before :func:`_json_safe`) from its cross-fitted
    out-of-fold predictions: QWK, AUCs, accuracy, macro F1 on all ``n_lab`` images; the
    bootstrap 95% CIs (``finetune.n_boot`` resamples seeded by the fine-tuning's seed, of the
    image groups the folds kept whole or the patients when known, else of the images), each
    with how many resamples it used: of the QWK under each decision rule (``qwk_ci95``,
    ``decision_rules.<rule>.qwk_ci95``), the one-vs-rest AUC (``auc_ovr_ci95``), the
    one-vs-one AUC (``auc_ovo_ci95``), the accuracy of the grades given (``accuracy_ci95``) and
    the referable AUC (``referable.auc_ci95``, with ``finetune.referable_from``); the
    referable-DR figures; the per-fold rows; the in-sample QWK of the deployed thresholds
    (optimistic, said so); the protocol in words. Every bootstrap is drawn from the same
    seed (``ctx.seed``) and units, so all resample the same images, in the order QWK, AUC OvR,
    AUC OvO, accuracy, referable, the other rule's QWK. ``t_start``: when the variant started
    (``seconds``)."""
    k = ctx.num_grades
    decision = ctx.ft.decision
    raw_all, probs, preds, pred = trained.raw_all, fit.probs, fit.preds, fit.pred
    calibration = fit.calibration
    n_lab = len(ctx.lab)
    y = ctx.grades
    names = list(ctx.grade_names)
    qwk_k = functools.partial(quadratic_weighted_kappa, num_grades=k)
    report = grading_report(y, probs, pred, names)
    # patients known: the resamples draw patients with all their images (their images are
    # not independent); else images, exactly as before
    resampling = ci_resampling(ctx.patients, n_lab, sites_as_patients(ctx.lab))
    # each interval with how many resamples it rests on: those where the metric is undefined
    # (AUC: a resample lacking a grade) are left out, and report.md says so (audit F6)
    *qwk_ci, qwk_used = bootstrap_ci_counted(y, pred, qwk_k, n_boot=ctx.ft.n_boot, seed=ctx.seed,
                                             groups=ctx.patients)
    # the probabilities' ranking has its own interval: a QWK CI that reaches 0 beside an AUC
    # well above 0.5 read as a contradiction to a trial (chance_warning words both)
    # the other figures report.md gives, on the same resamples (stats audit F3): the one-vs-one
    # AUC (DRAC's tie-breaker) and the accuracy of the grades given. A grade of the scale without
    # a labelled image leaves both AUCs undefined on every resample (auc_note says why): no
    # interval, as export --score gives none (binary labels on ICDR's 5 grades crashed here)
    no_auc = (float("nan"), float("nan"), 0)
    *auc_ovr_ci, auc_ovr_used = no_auc if report["auc_note"] else bootstrap_ci_counted(
        y, probs, macro_ovr_auc, n_boot=ctx.ft.n_boot, seed=ctx.seed, groups=ctx.patients)
    *auc_ovo_ci, auc_ovo_used = no_auc if report["auc_note"] else bootstrap_ci_counted(
        y, probs, macro_ovo_auc, n_boot=ctx.ft.n_boot, seed=ctx.seed, groups=ctx.patients)
    *accuracy_ci, accuracy_used = bootstrap_ci_counted(y, pred, accuracy_score, n_boot=ctx.ft.n_boot,
                                                       seed=ctx.seed, groups=ctx.patients)
    # each grade's one-vs-rest AUC with the images (and resampled units) it rests on and its
    # interval, on the same resamples: a rare grade's AUC of 3 images read as firm (small-set review F2)
    per_grade_ci = ovr_auc_per_grade_ci(y, probs, n_boot=ctx.ft.n_boot, seed=ctx.seed, groups=ctx.patients)
    per_grade_n = {name: int(np.sum(np.asarray(y) == g)) for g, name in enumerate(names)}
    per_grade_units = (None if ctx.patients is None else
                       {name: len({u for u, t in zip(ctx.patients, y, strict=True) if int(t) == g})
                        for g, name in enumerate(names)})
    # an interval of width 0 (e.g. every image given one grade: kappa 0 on every resample)
    # is not certainty; the figures stay, the note says why they mean nothing
    qwk_ci_note = degenerate_ci_reason(*qwk_ci, y, pred, names, out_of_fold=True)
    # (nearly) every image one grade, overall or within each fold (one model per fold, each
    # giving its fold one grade): the grades say next to nothing about the images
    one_grade = one_grade_note(pred, ctx.folds, names)
    # referable DR (grade >= r): the screening figure beside the grades, its AUC's CI drawn as
    # the others (same resamples, patients when known)
    referable = (None if ctx.referable_from is None else
                 referable_report(y, probs, pred, ctx.referable_from, names, n_boot=ctx.ft.n_boot,
                                  seed=ctx.seed, groups=ctx.patients))
    # finetune.referral_target: the cross-fitted referral cut's figures out of fold, on the same
    # resamples (with two grades they are the grades' own: the cut decides them)
    if referable is not None and fit.referred is not None and calibration.referral is not None:
        referable["referral"] = referral_report(
            y, fit.referred, ctx.referable_from, calibration.referral.metric, calibration.referral.level,
            calibration.referral.cut, fit.referral_cuts, n_boot=ctx.ft.n_boot, seed=ctx.seed,
            groups=ctx.patients)
        referable["operating_points_note"] = operating_points_note(referable)  # no advice to set it
    # patients known (the manifest's patient column): the per-patient referral beside the
    # per-image one (a patient referable / referred if any of their images is; out of fold, each
    # fold's own referral cut, else the submitted grades)
    # leave-one-site-out (the site as the patient column): each "patient" is a site, and a
    # site referable if any of its images is says nothing: no per-patient block
    loso = sites_as_patients(ctx.lab)
    patient_ids = None if loso else _patient_units(ctx.lab)
    if referable is not None and loso:  # the Wilson intervals' units are sites (screening_figure_words)
        referable["ci_unit"] = "site"
        if isinstance(referable.get("referral"), dict):
            referable["referral"]["ci_unit"] = "site"
    if referable is not None and patient_ids is not None:
        by_cut = fit.referred is not None and calibration.referral is not None
        # gradable images only: those the ingest left out as ungradable are counted apart
        referable["per_patient"] = patient_screening(
            y, p_referable(probs, ctx.referable_from), fit.referred if by_cut else (np.asarray(pred) >= ctx.referable_from).astype(np.int64),
            ctx.referable_from, patient_ids, n_boot=ctx.ft.n_boot, seed=ctx.seed,
            cut_words="each fold's own referral cut (cross-fitted: fold_cuts)" if by_cut else "",
            left_out=getattr(ctx.data, "left_out_patients", None))
    # each rule's figures are its own grades' (fit.preds: the rule alone, never the referral
    # cut); the headline's are the grades given: finetune.decision's, or with two grades and a
    # referral target the cut's, then its own entry, REFERRAL_RULE (a review found the cut's
    # figures filed under decision_rules.thresholds)
    deciding = fit.referred is not None and calibration.referral_decides
    rules: dict[str, dict[str, Any]] = {}
    for rule in DECISIONS:
        given = rule == decision and not deciding  # the headline's grades are this rule's
        r = report if given else grading_report(y, probs, preds[rule], names)
        *rule_ci, rule_used = (*qwk_ci, qwk_used) if given else bootstrap_ci_counted(
            y, preds[rule], qwk_k, n_boot=ctx.ft.n_boot, seed=ctx.seed, groups=ctx.patients)
        rules[rule] = {"qwk": r["qwk"], "accuracy": r["accuracy"], "macro_f1": r["macro_f1"],
                       "qwk_ci95": list(rule_ci), "qwk_ci95_resamples": rule_used,
                       "qwk_ci95_note": degenerate_ci_reason(*rule_ci, y, preds[rule], names, out_of_fold=True),
                       "selected": given}
    if deciding and calibration.referral is not None:
        rules[REFERRAL_RULE] = {"qwk": report["qwk"], "accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
                                "qwk_ci95": list(qwk_ci), "qwk_ci95_resamples": qwk_used,
                                "qwk_ci95_note": qwk_ci_note, "selected": True,
                                "target": calibration.referral.target}
    # the final thresholds' in-sample kappa, whichever rule decides (it held argmax's under
    # finetune.decision=argmax, as a review found, and the referral cut's with two grades)
    _, _, pred_in_sample = calibration.without_referral().with_decision("thresholds").decide([raw_all])
    # thresholds that (nearly) never give a labelled grade are said, not changed (a trial:
    # 1.7235 and 1.7307, grade 1 given to 3 of 1080 images, without a word); measured on the
    # deployed thresholds' in-sample grades, not the out-of-fold ones (90 of 1080 there)
    # (not when a two-grade referral cut gives the grades: the thresholds then give none)
    band_warning = (threshold_band_warning(calibration.thresholds, y, pred_in_sample, names)
                    if decision == "thresholds" and not deciding else None)
    per_fold = _per_fold_figures(ctx, trained.records, fit)
    fold_qwk = np.array([f["qwk"] for f in per_fold], dtype=np.float64)
    draw_words, draw_fraction = _label_draw(ctx)
    protocol_words = _protocol_words(ctx, draw_words)
    ci_words = ci_resampling_words(resampling, ctx.ft.n_boot, ctx.seed)
    return {
        "variant": variant,
        "n": report["n"],
        "class_names": names,
        "decision": decision,
        "qwk": report["qwk"], "qwk_ci95": list(qwk_ci), "qwk_ci95_note": qwk_ci_note,
        # how many of the n_boot resamples each interval used (the others: metric undefined)
        "n_boot": ctx.ft.n_boot, "qwk_ci95_resamples": qwk_used,
        "one_grade_note": one_grade,
        **resampling,
        "folds_taken_from": trained.taken_from,
        "auc": report["auc"], "auc_ovr": report["auc_ovr"], "auc_ovr_ci95": list(auc_ovr_ci),
        "auc_ovr_ci95_resamples": auc_ovr_used,
        "auc_ovo_ci95": list(auc_ovo_ci), "auc_ovo_ci95_resamples": auc_ovo_used,
        "auc_per_grade": report["auc_per_grade"],
        # per grade: its labelled images, the resampled units (patients, or image groups) among
        # them (absent when the resamples are of images), the AUC's 95% CI and its resamples
        "auc_per_grade_n": per_grade_n,
        **({"auc_per_grade_units": per_grade_units} if per_grade_units is not None else {}),
        "auc_per_grade_ci95": {name: [lo, hi] for name, (lo, hi, _) in zip(names, per_grade_ci, strict=True)},
        "auc_per_grade_ci95_resamples": {name: used for name, (_, _, used) in zip(names, per_grade_ci, strict=True)},
        "auc_note": report["auc_note"],
        "accuracy": report["accuracy"], "accuracy_ci95": list(accuracy_ci),
        "accuracy_ci95_resamples": accuracy_used, "macro_f1": report["macro_f1"],
        "decision_rules": rules,
        "qwk_fold_mean": float(np.nanmean(fold_qwk)) if np.isfinite(fold_qwk).any() else float("nan"),
        # the sample SD over the folds (ddof=1), as a spread across folds is usually given
        "qwk_fold_std": (float(np.nanstd(fold_qwk, ddof=1)) if np.isfinite(fold_qwk).sum() >= 2
                         else float("nan")),
        # the mean and SD are over the folds whose kappa is defined (a fold where both the
        # grades and the answers are one grade has none): how many, of how many (audit F8)
        "qwk_fold_defined": int(np.isfinite(fold_qwk).sum()), "qwk_fold_count": int(fold_qwk.size),
        "qwk_fold_std_ddof": 1,  # said beside it: older versions wrote the population SD (ddof=0)
        "qwk_in_sample_thresholds": quadratic_weighted_kappa(y, pred_in_sample, k),
        # a labelled grade the deployed thresholds (nearly) never give in-sample, else null
        "threshold_band_warning": band_warning,
        "report": report,
        "folds": per_fold,
        "calibration": calibration.to_dict(),
        "keep": ctx.ft.keep,
        **({"inner_fraction": ctx.ft.inner_fraction, "inner_split_note": inner_split_note(ctx)}
           if ctx.ft.keep == "inner" else {}),
        **(binary_screening(y, pred) if k == 2 else {}),  # two grades: a screening decision
        # finetune.referable_from: grade >= r as the screening decision (two grades: r = 1, the
        # same sensitivity and specificity as above, with their CIs, the AUC's and its operating points)
        **({"referable": referable} if referable is not None else {}),
        # two grades with finetune.referral_target: the grades given (qwk, accuracy, oof.csv's
        # pred, sensitivity and specificity) are the referral cut's, not finetune.decision's
        # (decision_rules: each rule's own figures, and the cut's as decision_rules.referral)
        **({"referral_decides_grade": True} if deciding else {}),
        "label_fraction": ctx.ft.label_fraction,
        "label_fraction_in_effect": draw_fraction,
        "seed": ctx.seed,
        # the seed the CIs' resamples were drawn from (the fine-tuning's): named, not implied
        "bootstrap_seed": ctx.seed,
        "protocol": protocol_words + (
                     (" (decision_rules: both rules, each alone, and the referral cut that gives the grades "
                      "(referral), on the same cross-fitted probabilities); " if deciding else
                      " (decision_rules: both rules on the same cross-fitted probabilities); ")
                     + "qwk_in_sample_thresholds uses the final calibration fitted on all out-of-fold "
                     + ("(with the label draws: the drawn images') " if draw_words else "")
                     + f"outputs and is optimistic; qwk_ci95: {ci_words}; "
                     "auc_ovo_ci95 / accuracy_ci95: the same resamples' intervals of the one-vs-one AUC "
                     "(auc) and the accuracy; qwk_ci95_resamples / auc_ovr_ci95_resamples / "
                     "auc_ovo_ci95_resamples / accuracy_ci95_resamples (and referable.auc_ci95_resamples): how "
                     "many of the n_boot resamples each interval used, the others left out because the "
                     "metric is undefined on them (e.g. the AUC on a resample lacking a grade); "
                     "qwk_ci95_note: why an interval of width 0 means nothing (e.g. every image given "
                     "one grade), else null; one_grade_note: (nearly) every image given one grade, "
                     "overall or within each fold, else null; threshold_band_warning: a labelled grade "
                     "the deployed thresholds give no image, or under 1% of the images (and under "
                     "half its labelled count), in-sample, with its band as information, else null"),
        # the same without the notes on metrics.json's own fields: for people (the model card)
        "protocol_words": protocol_words + f"; the {kappa_name(ctx.num_grades, short=True)}'s 95% CI: {ci_words}",
        "tta": ctx.ft.tta,
        "seconds": round(time.perf_counter() - t_start, 3),
    }


def _patient_units(rows: Sequence[dict[str, Any]]) -> list[str] | None:
    """Each manifest row's patient for the per-patient figures (``patient:<id>``, a row without
    one its own ``image:<id>``); None when no row names a patient."""
    patients = [str(r.get("patient") or "").strip() for r in rows]
    if not any(patients):
        return None
    return [resampling_unit(p, r.get("id")) for p, r in zip(patients, rows, strict=True)]


def _write_variant_files(ctx: _Context, variant: str, source: Path | None, spec: ModelSpec,
                         out_dir: Path, trained: _FoldOutputs, fit: _CrossFit,
                         metrics: dict[str, Any]) -> Path:
    """Write the variant's files in ``out_dir``, in this order: ``oof.csv`` (one row per
    labelled image, ``ctx.lab`` order: id, grade, fold, K probabilities, score, grade given,
    the raw outputs; 6 decimals; the manifest's patient last when it names any; names guarded: :func:`drac_ssl.oof.oof_csv_text`),
    ``folds.csv``, ``metrics.json`` (removed before oof.csv is written; with
    ``formula_cells_guarded: true`` and ``oof_sha256``, which say this oof.csv's
    names are guarded: :func:`drac_ssl.oof.oof_cells_guarded`), ``calibration.json`` (the
    deployed calibration and what it was fitted on) and ``model.json`` (what a bundle is
    built from, with each fold weight file's SHA-256 as it is now). Returns oof.csv's path."""
    k = ctx.num_grades
    y, probs, score, pred, raw_all = ctx.grades, fit.probs, fit.score, fit.pred, trained.raw_all
    # the manifest's patients, last, when it names any: per-patient figures from oof.csv alone
    patients = [str(r.get("patient") or "").strip() for r in ctx.lab]
    named = any(patients)
    # a referral cut: each row's P(referable), its fold's own cut and the decision, so that a
    # per-patient analysis needs no digging in metrics.json
    r_from = ctx.referable_from
    referral = fit.referred is not None and bool(fit.referral_cuts) and r_from is not None

    p_ref = p_referable(probs, r_from) if referral and r_from is not None else None

    def referral_cells(i: int) -> list[Any]:
        if p_ref is None or fit.referred is None:
            return []
        cut = fit.referral_cuts.get(int(ctx.folds[i]))
        return [f"{float(p_ref[i]):.6f}", "" if cut is None else repr(float(cut)),
                int(fit.referred[i])]

    sites = site_cells(ctx.lab)
    # the id, patient and site cells guarded against a spreadsheet formula (drac_ssl.io.guarded_cell;
    # drac_ssl.oof's readers give them back exactly)
    oof_rows = [[str(r["id"]), int(y[i]), int(ctx.folds[i]), *(f"{p:.6f}" for p in probs[i]),
                 f"{score[i]:.6f}", int(pred[i]), *(f"{v:.6f}" for v in raw_all[i]),
                 *referral_cells(i), *([str(patients[i])] if named else []),
                 *([sites[i]] if sites else [])]
                for i, r in enumerate(ctx.lab)]
    header = oof_columns(k, spec.output, patients=named, referral=referral, sites=bool(sites))
    oof_path = out_dir / OOF_FILE
    # the old record goes first: a rerun killed before the new one is written leaves no
    # metrics.json that an older run wrote (without the guard) beside the new, guarded oof.csv
    (out_dir / OOF_RECORD).unlink(missing_ok=True)
    atomic_write_text(oof_path, oof_csv_text(header, oof_rows))
    # keep=inner: the inner split's images too, so train + inner + val are the fold's images
    fold_cols = ["fold", "n_train", *(["n_inner"] if ctx.ft.keep == "inner" else []), "n_val", "best_epoch",
                 "epochs_run", "qwk", "auc", "accuracy", "macro_f1", "seconds"]
    atomic_write_text(out_dir / "folds.csv",
                      _csv_text(fold_cols, [[_fmt(f[c]) for c in fold_cols] for f in metrics["folds"]]))
    # says oof.csv's names are guarded, for this very file (its SHA-256: drac_ssl.oof.oof_cells_guarded):
    # an oof.csv of a run before the guard has no such fields and is read as written
    atomic_write_json(out_dir / OOF_RECORD, {**_json_safe(metrics), **oof_record_fields(oof_path)})
    atomic_write_json(out_dir / "calibration.json",
                      {**fit.calibration.to_dict(),
                       "fitted_on": _calibration_fitted_on(fit.given.size, len(ctx.lab))})
    fold_records = trained.records
    weight_hashes = {n: sha256_file(out_dir / n) for n in sorted({n for r in fold_records for n in r["weights"]})}
    atomic_write_json(out_dir / "model.json", {
        "format": "drac_ssl grading model v1",
        "variant": variant,
        "backbone_source": None if source is None else str(source),
        "freeze": ctx.ft.freeze,
        "model": spec.to_dict(),
        "class_names": list(ctx.grade_names),
        "input": ctx.spec.to_metadata(),
        # each weight file's hash as it is now: a rerun interrupted after it replaced a fold's
        # weights leaves them unlike this record, and no bundle is built from the mix
        "folds": [{"fold": r["fold"], "weights": r["weights"],
                   "sha256": {n: weight_hashes[n] for n in r["weights"]}} for r in fold_records],
        "tta": ctx.ft.tta,
        "finetune": to_dict(ctx.ft),
        "package_version": __version__,
    })
    return oof_path


def _absent_grade_words(ctx: _Context, names: Sequence[str]) -> str:
    """Why the AUCs are n/a when a grade of the scale has no labelled image (``"; no labelled
    image of grade 2 (Moderate), grade 3 (Severe), ..."``), else "": the console said ``AUC OvO
    nan`` for binary labels on ICDR's five grades."""
    from data_prep.grades import grade_label

    absent = sorted(set(range(ctx.num_grades)) - set(np.asarray(ctx.grades).tolist()))
    if not absent:
        return ""
    return (f"; no labelled image of {', '.join(grade_label(g, names) for g in absent)}, and the AUCs "
            f"need every grade: is data.grades the scale of these labels?")


def _say_variant(ctx: _Context, variant: str, metrics: dict[str, Any]) -> None:
    """Print the variant's out-of-fold figures (:func:`_score_variant`'s ``metrics``): QWK with
    its CI, AUCs and accuracy under the selected rule and the other rule's; the referable-DR
    line, the two-grade screening line and the one-grade warning where they apply."""
    decision, names = metrics["decision"], metrics["class_names"]
    referable, one_grade = metrics.get("referable"), metrics["one_grade_note"]
    rules = metrics["decision_rules"]
    if REFERRAL_RULE in rules:  # two grades and a referral target: the cut gave the grades
        alone = "; ".join(f"{rule} {kappa_name(ctx.num_grades, short=True)} {rules[rule]['qwk']:.3f}, accuracy "
                          f"{rules[rule]['accuracy']:.3f}" for rule in DECISIONS)
        rule_words = (f"the referral cut, finetune.referral_target={rules[REFERRAL_RULE]['target']}; "
                      f"finetune.decision's rules alone: {alone}")
    else:
        other = rules["argmax" if decision == "thresholds" else "thresholds"]
        rule_words = (f"{decision}; the other rule: {kappa_name(ctx.num_grades, short=True)} {other['qwk']:.3f}, accuracy "
                      f"{other['accuracy']:.3f}")
    two = ctx.num_grades == 2  # one AUC, P(referable)'s; the kappa by its name (a Messidor-2 trial, F4/F5)
    aucs = (f"{AUC_TWO_GRADES} {figure_text(metrics['auc_ovr'])}" if two else
            f"AUC OvO {figure_text(metrics['auc'])} (one-vs-rest "
            f"{figure_text(metrics['auc_ovr'])}{_absent_grade_words(ctx, names)})")
    print(f"[finetune] {variant}: out-of-fold {kappa_name(ctx.num_grades)} {metrics['qwk']:.3f} "
          f"(95% CI {format_ci(*metrics['qwk_ci95'], metrics['qwk_ci95_note'])}"
          + (f", resampling {ci_units_words(metrics['ci_resamples'], metrics['ci_units'], metrics.get('ci_unit') or '')}"
             if ctx.patients is not None else "")
          + f"), {aucs}, accuracy {metrics['accuracy']:.3f} [{rule_words}]")
    if (folds := calibrated_folds_words(metrics, ctx.num_grades)) is not None:  # beside the uncalibrated fold lines
        print(f"[finetune] {variant}: {folds}")
    if ctx.num_grades == 2:  # a trial: two-grade runs printed no screening figure
        # report.md's words: at the cross-fitted thresholds, each fold's listed, the deployed
        # one apart; the referable AUC said once, as the AUC above
        print(f"[finetune] {variant}: {two_grade_summary(_json_safe(metrics), names)}")
        per_patient = (referable or {}).get("per_patient")
        if isinstance(per_patient, dict):  # report.md and the model card give it too
            print(f"[finetune] {variant}: referable DR {patient_screening_summary(_json_safe(per_patient))}")
    elif referable is not None:
        print(f"[finetune] {variant}: referable DR: {referable_summary(_json_safe(referable))}")
    if one_grade:
        print(f"[finetune] {variant}: warning: {calibrated_one_grade_words(one_grade)}; this variant "
              f"learnt next to nothing about grading")
    if metrics.get("threshold_band_warning"):  # report.md says it too
        print(f"[finetune] {variant}: warning: {metrics['threshold_band_warning']}")


def _plan_signatures(finetune_dir: Path, variant: str, accepted: set[str]) -> None:
    """Add ``variant``'s accepted fold signatures to the attempt's plan
    (:data:`drac_ssl.run_state.FOLDS_PLAN`, written by :func:`run`), so that what a killed
    fine-tuning saved counts only the folds its resume would reuse
    (:func:`drac_ssl.run_state.finetune_saved_on_disk`). Nothing without a plan file."""
    path = finetune_dir / FOLDS_PLAN
    plan = read_json_dict(path)
    if plan is None:
        return
    signatures = plan.get("signatures") if isinstance(plan.get("signatures"), dict) else {}
    atomic_write_json(path, {**plan, "signatures": {**signatures, variant: sorted(accepted)}})


def _run_variant(ctx: _Context, variant: str, source: Path | None, spec: ModelSpec,
                 out_dir: Path, saved_folds: dict[str, list[int]] | None = None) -> VariantResult:
    """All folds of one variant, then its out-of-fold predictions, metrics and calibration.
    Each fold saved (trained, or reused from an earlier attempt) is added to
    ``saved_folds[variant]`` as it is, for what a Ctrl-C says (:func:`_folds_interrupted`).

    The steps, in this order (the order of the random draws and of the console lines):
    sign the folds and build the backbone (:func:`_sign_and_build`); train or reuse the folds
    (:func:`_train_folds`); cross-fit the calibration, fold k's on the other folds' outputs
    only (:func:`_cross_fit_calibration`); score with the bootstraps (:func:`_score_variant`);
    write the files (:func:`_write_variant_files`); print the figures (:func:`_say_variant`).
    """
    t_start = time.perf_counter()
    setup = _sign_and_build(ctx, variant, source, spec, out_dir)
    _plan_signatures(out_dir.parent, variant, setup.accepted)
    trained = _train_folds(ctx, variant, spec, out_dir, setup, saved_folds)
    fit = _cross_fit_calibration(ctx, trained.raw_all, spec.output, ctx.referral)
    metrics = _score_variant(ctx, variant, trained, fit, t_start)
    oof_path = _write_variant_files(ctx, variant, source, spec, out_dir, trained, fit, metrics)
    _say_variant(ctx, variant, metrics)
    return VariantResult(variant, out_dir, oof_path, _json_safe(metrics), metrics["folds"], fit.calibration,
                         metrics["seconds"], fit.probs, fit.pred)


# --------------------------------------------------------------------------------------
# The stage


def backbone_sources(cfg: Config, run_dir: Path) -> dict[str, Path | None]:
    """Variant -> backbone weights (None: random init), in :data:`VARIANTS` order."""
    pretrained = run_dir / VARIANT_STAGE["vicreg"] / "backbone.safetensors"
    if not pretrained.is_file():
        raise FileNotFoundError(
            f"fine-tuning needs the pretrained backbone, but {pretrained} does not exist.\n"
            f"  fix: run the pretrain stage first (run.stages=[ingest,pretrain,umm,finetune])")
    sources: dict[str, Path | None] = {}
    if cfg.finetune.compare_scratch:
        sources["scratch"] = None
    sources["vicreg"] = pretrained
    umm = run_dir / VARIANT_STAGE["vicreg_umm"] / "backbone.safetensors"
    if cfg.umm.enabled and umm.is_file():
        sources["vicreg_umm"] = umm
    return sources


def _model_spec(cfg: Config, metadata_path: Path, data_channels: int = 1,
                num_grades: int = len(GRADE_NAMES)) -> ModelSpec:
    """Architecture from the pretrained backbone's metadata.json (config as fallback; a
    configured ``in_channels`` of 0 means the data's), with ``num_grades`` outputs."""
    arch = BackboneArchitecture.from_config(cfg.pretrain.backbone, data_channels)
    meta = read_json_dict(metadata_path)
    if meta is not None:
        arch = BackboneArchitecture.from_metadata(meta, fallback=arch)
    ft = cfg.finetune
    width = getattr(ft, HEAD_WIDTH_SETTINGS[ft.head]) if ft.head in HEAD_WIDTH_SETTINGS else None
    return ModelSpec(arch=arch.arch, in_channels=arch.in_channels, cifar_stem=arch.cifar_stem,
                     stem_stride=arch.stem_stride, head=ft.head, dropout=ft.dropout, num_grades=num_grades, head_width=width)


def check_settings(cfg: Config) -> None:
    """The package's config checks (choices, ranges) plus the fine-tuning's own: the number
    ranges of :data:`drac_ssl.config.FINETUNE_RANGES` (the preflight reports them all from the
    same table), the decision, the crop scale. Raises ConfigError on the first problem (called
    by the stage and, before any stage runs, by :mod:`drac_ssl.preflight`)."""
    validate_config(cfg)
    check_ranges(cfg, FINETUNE_RANGES)
    ft = cfg.finetune
    if ft.decision not in DECISIONS:
        raise ConfigError(f"config: finetune.decision={ft.decision!r} is not one of "
                          f"{', '.join(DECISIONS)}.\n  fix: finetune.decision=thresholds")
    scale = ft.crop_scale
    if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
        raise ConfigError(f"config: finetune.crop_scale must be [low, high] with 0 < low <= high "
                          f"<= 1 (area fractions of the image), got {scale}.\n"
                          f"  fix: finetune.crop_scale={list(DEFAULT_CROP_SCALE)} (the default)")


FROZEN_SCRATCH_WORDS = "random init kept frozen: random features under a trained head"
"""What ``scratch`` is under ``finetune.freeze=frozen``, after its name in the fine-tuning's
first line (:func:`variants_words`; report.md and the model card title it
:data:`drac_ssl.grading.bundle.FROZEN_SCRATCH_TITLE`)."""


def variants_words(names: Sequence[str], freeze: str) -> str:
    """The variants of the fine-tuning's first line, ``variants scratch, vicreg, vicreg_umm``;
    under ``finetune.freeze=frozen`` scratch says what it is once, after its name:
    ``variants scratch (random init kept frozen: ...), vicreg``."""
    return "variants " + ", ".join(
        f"{name} ({FROZEN_SCRATCH_WORDS})" if name == "scratch" and freeze == "frozen" else name
        for name in names)


def run(cfg: Config, run_dir: str | Path, data: FinetuneData | None = None) -> FinetuneResult:
    """Cross-validated fine-tuning of every variant; outputs in ``run_dir/finetune``.

    Args:
        cfg: the resolved configuration (``cfg.finetune``; input format from
            ``cfg.pretrain.augment``; architecture from the backbone's ``metadata.json``).
        run_dir: the run folder, with ``data/`` (ingest), ``pretrain/`` and optionally ``umm/``.
        data: the images and manifest rows (default: :func:`load_finetune_data` of
            ``run_dir/data``).

    Raises:
        FileNotFoundError: no pretrained backbone or no ingest output.
        ValueError: bad settings, fewer than two folds of labelled images, or (under
            ``finetune.keep=inner``) a fold without an inner split (:func:`inner_split_problem`),
            all found before anything is written.
    """
    ft = cfg.finetune
    check_settings(cfg)
    run_dir = Path(run_dir)
    out_dir = run_dir / "finetune"
    sources = backbone_sources(cfg, run_dir)
    if data is None:
        data = load_finetune_data(cfg, run_dir / "data")
    shape = tuple(data.images.shape)
    size = data.source_size
    if not (len(shape) == 3 or (len(shape) == 4 and shape[3] == 3)) or shape[1:3] != (size, size):
        raise ValueError(f"finetune data must be uint8 grey (N, {size}, {size}) or RGB (N, {size}, "
                         f"{size}, 3) images, got {shape}")
    names = tuple(data.grade_names)
    if len(names) < 2:
        raise ValueError(f"a grading scale needs at least 2 grades, got {names}")
    referable_from = referable_cut(ft.referable_from, names)  # before any training: a bad cut stops here
    referral = referral_target(ft.referral_target)
    if referral is not None and referable_from is None:  # a referral cut needs P(referable)
        raise ConfigError(f"config: finetune.referral_target={ft.referral_target} sets a cut on "
                          f"P(referable), but finetune.referable_from={ft.referable_from} gives no "
                          f"referable grades on this scale ({describe_grades(names)}).\n"
                          f"  fix: finetune.referable_from=R (referable = grade >= R, 1..{len(names) - 1}), "
                          f"or finetune.referral_target=off")
    if referral is not None:  # the cut needs both kinds of labelled image: said before any training
        refers = [int(r["grade"]) >= referable_from for r in labelled_rows(data.rows)]
        if refers and (all(refers) or not any(refers)):
            raise ConfigError(f"config: finetune.referral_target={ft.referral_target} sets a cut on "
                              f"P(referable), but {'all' if all(refers) else 'none'} of the {len(refers)} "
                              f"labelled images are referable (grade >= {referable_from}, "
                              f"finetune.referable_from={ft.referable_from}, {describe_grades(names)}).\n"
                              f"  fix: finetune.referable_from=R with labelled images on both sides of R, "
                              f"or finetune.referral_target=off")
    model_spec = _model_spec(cfg, run_dir / "pretrain" / "metadata.json", data.channels, len(names))
    if model_spec.in_channels != data.channels:
        raise ValueError(
            f"the pretrained backbone reads {model_spec.in_channels} channel(s) but the ingested "
            f"images have {data.channels} ({'RGB' if data.channels == 3 else 'grey'}); nothing is "
            f"converted silently.\n  fix: pretrain again on this data (run.stages=[pretrain,umm,"
            f"finetune,export], pretrain.backbone.in_channels=0 takes the data's channels), or "
            f"re-ingest with data.channels={model_spec.in_channels}")
    # the ingest's fundus options, every key of DEFAULT_PREPROCESSING (none named here, so none
    # can be left out: the model is replayed on uploads as it was trained)
    spec_in = replace(InputSpec.from_config(cfg), source_size=data.source_size,
                      channels=model_spec.in_channels).with_ingest_preprocessing(data.preprocessing)
    if ft.image_size > data.source_size:
        print(f"[finetune] warning: finetune.image_size={ft.image_size} is larger than the cached "
              f"source size {data.source_size}: the images are upsampled; set "
              f"pretrain.augment.source_size to a cached size >= {ft.image_size}")
    lab = labelled_rows(data.rows)
    fold_ids = sorted({int(r["fold"]) for r in lab})
    if len(fold_ids) < 2:
        raise ValueError(
            f"cross-validation needs labelled images in at least two folds; the manifest has "
            f"{len(lab)} labelled image(s) in fold(s) {fold_ids}.\n  fix: rerun the ingest with "
            f"data.n_folds=5 and a labelled training set")
    device = resolve_device(cfg.run.device)
    ctx = _Context(
        cfg=cfg, ft=ft, data=data, spec=spec_in, device=device, bf16=use_bf16(cfg, device),
        workers=dataloader_workers(cfg.pretrain.num_workers), lab=lab,
        cache_idx=np.array([int(r["cache_index"]) for r in lab], dtype=np.int64),
        grades=np.array([int(r["grade"]) for r in lab], dtype=np.int64),
        folds=np.array([int(r["fold"]) for r in lab], dtype=np.int64), fold_ids=fold_ids,
        grade_names=names, patients=patient_groups(lab), referable_from=referable_from,
        referral=referral, run_dir=run_dir)
    if ctx.grades.size and int(ctx.grades.max()) >= len(names):
        raise ValueError(f"the manifest holds grade {int(ctx.grades.max())} but the ingest recorded "
                         f"{len(names)} grades ({describe_grades(names)}); rerun the ingest stage")
    # keep=inner: every fold's inner split drawn now, not after the first variant's folds
    problem = inner_split_problem(cfg, lab)
    if problem:
        raise ValueError(f"{problem}\n  fix: {inner_split_fix(run_dir)}")
    inner_note = inner_split_note(ctx)  # keep=inner on a small set (small-set review F3)
    print(f"[finetune] {len(lab)} labelled images in {len(fold_ids)} folds, {len(names)} grades "
          f"({describe_grades(names)}), {data.channels} channel(s); head {ft.head}, "
          f"{freeze_words(ft.freeze)} (finetune.freeze={ft.freeze}), decision {ft.decision}; "
          f"{variants_words(list(sources), ft.freeze)}"
          + (f"; pretrained variants train the head alone for the first {ft.head_warmup_epochs} "
             f"epochs (finetune.head_warmup_epochs, LP-FT)" if ft.head_warmup_epochs else "")
          + (f"; {_label_draw(ctx)[0]}, and is scored on its whole validation fold"
             if ft.label_fraction < 1 else ""))
    if inner_note:
        print(f"[finetune] note: finetune.keep=inner: {inner_note}")
    _announce_backbones(ctx, model_spec, sources, out_dir)
    variants: dict[str, VariantResult] = {}
    saved_folds: dict[str, list[int]] = {}  # variant -> its folds saved (trained or reused) so far
    # what this attempt trains: a killed one's saved folds are counted on disk against it
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / FOLDS_PLAN, {"variants": list(sources), "folds": fold_ids, "signatures": {}})
    try:
        for name, source in sources.items():
            variants[name] = _run_variant(ctx, name, source, model_spec, out_dir / name, saved_folds)
        ctx.banks.clear()  # nothing kept outlives the variants (an announced bank never built included)
        differences = _minus_scratch(ctx, variants)  # bootstraps: seconds to minutes
        umm_minus_vicreg = _umm_minus_vicreg(ctx, variants)
    except KeyboardInterrupt:
        raise _folds_interrupted(saved_folds, list(sources), len(fold_ids)) from None

    columns = ["variant", "n", "qwk", "qwk_ci_low", "qwk_ci_high", "auc", "accuracy", "macro_f1",
               "qwk_fold_mean", "qwk_fold_std", "seconds", "auc_ovr", "decision"]
    table = []
    for name, v in variants.items():
        m = v.metrics
        lo, hi = m["qwk_ci95"]
        table.append({"variant": name, "n": m["n"], "qwk": m["qwk"], "qwk_ci_low": lo, "qwk_ci_high": hi,
                      "qwk_ci_note": m.get("qwk_ci95_note"), "one_grade_note": m.get("one_grade_note"),
                      "auc": m["auc"], "auc_ovr": m["auc_ovr"], "accuracy": m["accuracy"],
                      "macro_f1": m["macro_f1"], "qwk_fold_mean": m["qwk_fold_mean"],
                      "qwk_fold_std": m["qwk_fold_std"], "qwk_fold_std_ddof": m.get("qwk_fold_std_ddof"),
                      "qwk_fold_defined": m.get("qwk_fold_defined"), "qwk_fold_count": m.get("qwk_fold_count"),
                      "decision": m["decision"],
                      "seconds": m["seconds"], "decision_rules": m["decision_rules"],
                      **referable_columns(m.get("referable")),
                      # two grades: the screening decision's figures (a trial found none here)
                      **{c: m[c] for c in SCREENING_COLUMNS if c in m}})
    if any("referable_auc" in row for row in table):  # a referable cut (ICDR): its figures, else no columns
        columns += list(REFERABLE_COLUMNS)
        table = [{**row, **{c: row.get(c) for c in REFERABLE_COLUMNS}} for row in table]
    if any("sensitivity" in row for row in table):
        columns += list(SCREENING_COLUMNS)
        table = [{**row, **{c: row.get(c) for c in SCREENING_COLUMNS}} for row in table]
    comparison_path = out_dir / "comparison.json"
    comparison_csv = out_dir / "comparison.csv"
    resampling = ci_resampling(ctx.patients, len(lab), sites_as_patients(lab))
    atomic_write_json(comparison_path, _json_safe({
        "columns": columns, "rows": table,
        **resampling,
        "pretrained_minus_scratch": differences,
        "umm_minus_vicreg": umm_minus_vicreg,
        # the floor the table is read against: always the most frequent grade, labels alone
        "majority_grade": majority_grade_reference(ctx.grades, names),
        "class_names": list(names),
        "protocol": (f"{len(fold_ids)}-fold cross-validation, head {ft.head}, backbone {ft.freeze}, "
                     f"same folds, head and budget for every variant"
                     + (f" (the pretrained ones train the head alone for the first "
                        f"{ft.head_warmup_epochs} epochs: LP-FT)" if ft.head_warmup_epochs else "")
                     + (f"; {_label_draw(ctx)[0]}" if ft.label_fraction < 1 else "")
                     + ("; each fold's model from the epoch with the best validation kappa on the "
                        "fold it then scores (finetune.keep=best), so the figures below were chosen on "
                        "the rows they score: the kappa, which chose the epoch, is optimistic, the "
                        "others off by an amount of either sign, neither the same for every variant "
                        f"(python -m bench.keep_selection indicates it: {KEEP_SELECTION_GAP}; finetune.keep=last, the "
                        "default, chooses nothing)" if ft.keep == "best" else
                        f"; each fold's model from the epoch with the best kappa on an inner split of "
                        f"its training images (finetune.keep=inner: {_inner_words(ft, ctx.patients)}), so no figure "
                        f"below was chosen on the rows it scores" if ft.keep == "inner" else
                        "; each fold's model after its last epoch (finetune.keep=last: no epoch "
                        "chosen on the fold it scores)")
                     + "; metrics on out-of-fold "
                     f"predictions with cross-fitted calibration, {_grades_by_words(ctx)}; AUC: macro one-vs-one (auc) and one-vs-rest (auc_ovr); 95% CI: "
                     f"{ci_resampling_words(resampling, ft.n_boot, ctx.seed)}"),
        "bootstrap_seed": ctx.seed}))
    atomic_write_text(comparison_csv, _csv_text(columns, [[_fmt(row[c]) for c in columns] for row in table]))

    selected, selection = select_variant({n: v.metrics for n, v in variants.items()}, ft.decision)
    evidence = _selection_evidence(ctx, variants, selected, ft.decision)
    summary_path = out_dir / "summary.json"
    atomic_write_json(summary_path, _json_safe({
        "selected": selected,
        "selection": selection,
        "selection_evidence": evidence,
        "variants": {n: {"dir": n, "qwk": v.metrics["qwk"], "auc": v.metrics["auc"],
                         "auc_ovr": v.metrics["auc_ovr"], "accuracy": v.metrics["accuracy"],
                         # two grades and finetune.referral_target: the figures that ranked them
                         **({"referral": {key: referral.get(key) for key in (
                             "target", "sensitivity", "specificity", "target_met_out_of_fold")}}
                            if (referral := deciding_referral(v.metrics)) is not None else {})}
                     for n, v in variants.items()},
        "class_names": list(names), "decision": ft.decision,
        "data": data.description,
        "n_labelled": len(lab), "folds": fold_ids,
    }))
    print(f"[finetune] comparison -> {comparison_csv}; selected for export: {selected}"
          + (f" ({evidence})" if evidence else ""))
    return FinetuneResult(out_dir, variants, comparison_path, comparison_csv, selected, summary_path)
