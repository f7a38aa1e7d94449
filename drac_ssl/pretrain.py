"""Stage 2: VICReg pretraining of the backbone (methods.md section 1).

``run(cfg, run_dir) -> PretrainResult`` is the whole stage: the orchestrator
(``python -m drac_ssl.train``) and the tests both call it. This module supplies the VICReg
step (:func:`train_step`), what it logs and its monitors; the epoch loop around it is the
package's training engine (:class:`drac_ssl.engine.Engine`), shared with UMM:

* the learning rate is a pure function of the global step (``optim.lr_at``), and each
  epoch's data order and augmentation draws are pure functions of (seed, epoch, rank), so
  resuming from ``checkpoints/last.pt`` replays exactly what an uninterrupted run does;
* a full checkpoint (model, optimiser, epoch, step, RNG, history, config) is written
  atomically every ``checkpoint_every`` epochs, after the last and on an early stop
  (``Engine(checkpoint_every=...)``), and loaded with ``weights_only=True``; the best epoch's
  weights wait on the device until then; early stopping on the epoch loss
  (``pretrain.patience``, ``pretrain.min_delta``);
* a non-finite loss stops the run with a diagnostic; the last good checkpoint is kept;
* bf16 autocast and channels-last on CUDA, ``torch.compile`` (``pretrain.compile``: auto =
  on CUDA); ``torchrun`` DDP with a gather-with-gradient so the variance/covariance terms
  see the global batch, SyncBatchNorm on CUDA (:func:`sync_batchnorm`), epoch means over all
  processes; ``pretrain.batch_size`` is per process (the global batch is ``world_size`` times
  it, at the same ``pretrain.lr``);
* no value is read back to the host inside an epoch: the loss terms and monitors are summed
  on the device and read once at the epoch's end (a non-finite loss is caught there);
* label-free monitors (methods.md section 2):
  - ``rate_reduction``: Delta R with the hard ``pairs`` membership of the backbone
    features of every training batch (train mode), averaged over the epoch; cheap, kept for
    continuity with earlier runs;
  - ``rate_reduction_last`` / ``rate_reduction_early`` (and ``view_cosine_last``): **the
    monitor** UMM's ``start_from`` reads: after every epoch, Delta R with ``umm.membership``
    (soft by default, :mod:`drac_ssl.losses.mcr2`) of the pooled last-layer and
    ``umm.early_cut`` features of a fixed probe, ``pretrain.monitor_images`` images drawn
    once (seed ``run.seed``) with two views each from fixed per-image seeds, in eval mode. The
    same images and views every epoch, so the curve moves only with the weights; the paper
    finds it tracks linear accuracy and peaks where the model starts to memorise;
  - k-NN accuracy every ``knn_every`` epochs when labels exist (methods.md section 3), on
    images kept on the device (``evaluation.KnnMonitor``), and once of the starting backbone
    before any step (console, ``metadata.json`` ``knn_start_top1``, a dashed line in the
    monitors' plot: the epochs are read against it; an untrained ResNet already scores far
    above chance); ``pretrain.knn_limit=N`` scores
    only images ``i * n // N`` (i = 0..N-1) of each labelled split (:func:`knn_subset`), said
    on the console and in ``metadata.json`` (``knn_monitor``; an ingested folder's monitor
    scores fold 0's graded images against the other folds', and ``knn_monitor`` records
    ``test_fold``, ``train_images`` and ``test_images`` whatever the limit); asked for where it cannot run
    (fewer than two grades among the graded images, or no labels), it is off and one console
    line says why (:attr:`PretrainData.knn_off`);
* weights kept: ``checkpoints/last.pt``, ``checkpoints/best.pt`` (lowest epoch loss,
  exported as ``vicreg_model.safetensors``) and ``checkpoints/monitor_peak.pt`` (the epoch
  of the highest ``rate_reduction_last``, written when it is measured: the early-stopped
  checkpoint; UMM's ``start_from=peak``);
* outputs: ``backbone.safetensors`` + ``metadata.json``, ``metrics.csv`` / ``metrics.jsonl``
  and ``plots/pretrain_*.png``; with ``run.tensorboard=true`` also TensorBoard scalars in
  ``tensorboard/`` (``drac_ssl.tensorboard_log``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from drac_ssl import PRETRAIN_METHOD, __version__, runtime
from drac_ssl.augment import (
    GpuTwoViewAugment,
    TwoViewDataset,
    ViewRecipe,
    build_view_transform,
    graham_fill,
    recipe_for,
    seed_worker,
    to_device_uint8,
)
from drac_ssl.checkpoint import load_checkpoint, save_checkpoint, save_weights
from drac_ssl.collapse import (  # re-exported: the stage's public names before they moved to a layer
    COLLAPSE_RATE_REDUCTION,
    COLLAPSE_VARIANCE_SHARE,
    COLLAPSE_VIEW_COSINE,
    collapse_symptoms,
    stage_collapse_warning,
)
from drac_ssl.config import Config, ConfigError, to_dict, with_data_channels
from drac_ssl.datasets import GENERIC_DATASETS, load_generic, load_octa_cache, normalization_for
from drac_ssl.distributed import DistInfo, gather_with_grad, init_distributed, on_main
from drac_ssl.engine import Engine, Monitor, TrainingTask, checkpoint_kept_words, task_room
from drac_ssl.evaluation import KnnMonitor, embed_images
from drac_ssl.io import atomic_write_json, read_json_dict
from drac_ssl.losses.mcr2 import rate_reduction
from drac_ssl.losses.vicreg import VICRegLoss, VICRegTerms
from drac_ssl.models import ARCHS, VICRegModel, build_vicreg_model
from drac_ssl.optim import build_optimizer, lr_at, set_lr
from drac_ssl.runtime import (
    NonFiniteError,
    command_changes,
    dataloader_workers,
    environment_info,
    epoch_seed,
    new_run_pairs,
    resolve_device,
    use_bf16,
    use_compile,
    worker_context,
)
from drac_ssl.starting import python_command
from drac_ssl.tensorboard_log import require_tensorboard

TERMS = ("loss", "invariance", "variance", "covariance", "rate_reduction")
"""The columns a pretraining step logs (epoch means in ``metrics.csv``): the fields of the
loss's NamedTuple (:class:`~drac_ssl.losses.vicreg.VICRegTerms`, ``loss`` first), then
``rate_reduction`` (pairs Delta R of the training batch's backbone features). The console
line, the non-finite error and the loss plot read the term names from here (through the
task's ``keys``, which :class:`_VICRegTraining` takes, as ``backbone_metadata`` takes its
``terms``), so another objective's terms need no edit there (docs/design.md, "Adding a
self-supervised method")."""
LOSS_NAME = PRETRAIN_METHOD  # the objective's name in the console, the non-finite error, the plot title
TERM_ABBREVIATIONS = {"invariance": "inv", "variance": "var", "covariance": "cov"}
"""Short console names of loss terms (a term not listed is printed under its own name)."""
MONITOR_KEYS = ("rate_reduction_last", "rate_reduction_early", "view_cosine_last")
PEAK_CHECKPOINT = "monitor_peak.pt"
CONSOLE_GLOSSARY = "docs/running.md#reading-the-pretraining-console"
"""Where the epoch line's fields (loss terms, the two rate reductions, k-NN, pairs/s) are
defined, with their units; the first epoch's line names it."""

# embed_images (the deterministic evaluation features) and KnnMonitor live in
# drac_ssl.evaluation; both stay importable from here (pretrain.embed_images).
__all__ = ["COLLAPSE_RATE_REDUCTION", "COLLAPSE_VARIANCE_SHARE", "COLLAPSE_VIEW_COSINE", "KnnMonitor",
           "NonFiniteLossError", "PretrainData", "PretrainResult", "TwoViewFeed", "collapse_symptoms",
           "embed_images", "epoch_order", "held_out_words", "knn_record", "knn_subset", "load_pretrain_data", "normalization_name", "run", "sync_batchnorm",
           "train_step", "use_bf16", "view_recipe"]


KNN_NOT_FINITE_WORDS = "not scored: the backbone's features are not finite (NaN or inf)"
"""The console's words for a k-NN monitor figure that is nan (:func:`drac_ssl.metrics.knn_accuracy`
of non-finite features): the loss can stay finite while the eval-mode features, which use the
batch-norm running statistics, overflow. Such a figure is kept out of the reports' k-NN lines."""


def knn_record(value: float) -> float | None:
    """A k-NN monitor figure (top-1 in %) as ``metrics.jsonl`` and ``metadata.json`` record it:
    rounded to 3 decimals, or None (JSON null) for the nan of non-finite features
    (:func:`drac_ssl.metrics.knn_accuracy`): ``json.dumps`` writes a nan as a bare ``NaN``,
    which strict JSON parsers refuse, and the losses' non-finite epoch means are null too."""
    return round(float(value), 3) if math.isfinite(value) else None


class NonFiniteLossError(NonFiniteError):
    """The VICReg loss became NaN or infinite; the run stopped, the last good checkpoint stays
    (a :class:`~drac_ssl.runtime.NonFiniteError`, a RuntimeError)."""


@dataclass
class PretrainData:
    """What pretraining reads: an unlabelled image pool and optional labelled k-NN splits.

    Images are uint8, (N, H, W) grayscale or (N, H, W, 3) RGB; the backbone reads their
    channels (:attr:`channels`). ``facts``: what the ingest recorded (grades, channels,
    preprocessing; :meth:`drac_ssl.scale.IngestFacts.to_dict`), None for generic data sets.
    """

    images: np.ndarray
    description: str
    knn_train: tuple[np.ndarray, np.ndarray] | None = None
    knn_test: tuple[np.ndarray, np.ndarray] | None = None
    facts: dict[str, Any] | None = None
    knn_off: str = ""
    """Why the k-NN monitor ``pretrain.knn_every`` asks for cannot run on these images (no
    image graded, one grade only, no labels), said once on the console by :func:`run`; ""
    when it runs or was not asked for."""
    splits: dict[str, int] | None = None
    """A generic data set's split sizes as read: ``{"train": N}``, and ``"test"`` when the
    k-NN monitor read the test split (``metadata.json`` ``splits``, the report's data
    section); None for an ingested folder (its ingest records them)."""
    knn_test_fold: int | None = None
    """The fold whose graded images the k-NN monitor scores against the other folds' (an
    ingested folder whose monitor runs: 0); None for a generic data set (its test split) and
    when the monitor is off. When set, :func:`run` records the monitor's image counts in
    ``metadata.json`` ``knn_monitor`` (``test_fold``, ``train_images``, ``test_images``) at
    every ``pretrain.knn_limit``, for the noise band of
    :func:`drac_ssl.report.knn_start_comparison`; not ``splits.test``, which would read as the
    challenge's test split. Runs made before have no count: their k-NN figure is read without
    a noise band."""
    pool_test_copies: int = 0
    """The ``data.unlabelled`` images left out here under ``pretrain.use_test_images=false`` as
    copies (bytes or pixels) of test images that the ingest kept (:func:`_without_test_images`:
    an older ingest's); 0 otherwise. ``last.pt`` records it, so that a resume of a pretraining
    begun before such copies were left out says its pool changed (:meth:`_VICRegTraining.check_resume`)."""

    @property
    def channels(self) -> int:
        """1 for grey ``(N, H, W)`` images, else the last axis (3 for RGB)."""
        return 1 if self.images.ndim == 3 else int(self.images.shape[-1])


@dataclass
class PretrainResult:
    out_dir: Path
    backbone_path: Path
    metadata_path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    stopped: str = ""


# --------------------------------------------------------------------------------------
# Data


def default_cache_dir() -> Path:
    return Path("data") / "cache"


def _without_test_images(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """``rows`` (manifest rows, :func:`drac_ssl.datasets.load_octa_cache`) without the test
    images and without the ``unlabelled`` images that hold a test image's bytes (``sha256``) or
    pixels (``pixels_sha256``), by the ingest's rule (:func:`data_prep.copies.copy_keys`): the
    ingest leaves such copies out of the pool (:func:`data_prep.ingest._pool_copies`); an
    ingest of an older version kept those of the same pixels. Returns the rows kept and the
    number of pool copies left out here."""
    from data_prep.copies import copy_keys  # stdlib only

    def keys(row: dict[str, Any]) -> set[str]:
        return set(copy_keys(row.get("sha256"), row.get("pixels_sha256")))

    digests = set().union(*(keys(r) for r in rows if r["split"] == "test"))
    copies = {id(r) for r in rows if r["split"] == "unlabelled" and keys(r) & digests}
    return [r for r in rows if r["split"] != "test" and id(r) not in copies], len(copies)


def held_out_words(n_test: int, n_copies: int, n_pool: int, summary: dict[str, Any]) -> str:
    """What ``pretrain.use_test_images=false`` left out, in words true of the pool too: the
    ``n_test`` test images; the ``n_copies`` pool images of a test image's bytes or pixels left
    out here (an older ingest's); the pool images ``summary`` (``ingest_summary.json``) records
    as near twins of test images (``unlabelled_near_test``: kept), or, with ``n_pool`` pool
    images, that near copies (a re-encoding, a resize) were not looked for: with
    ``data.near_duplicate_mse`` off, or on by an older ingest that compared the pool with the
    training images only (no ``unlabelled_near_test`` key; an empty list: looked for, none)."""
    words = f"{n_test} test images left out: pretrain.use_test_images=false"
    if n_copies:
        words += f"; {n_copies} ungraded copies of them too"
    near = len(summary.get("unlabelled_near_test") or ())
    if near:
        words += (f"; but {near} ungraded image{'s are near copies' if near != 1 else ' is a near copy'} "
                  "of test images, kept (data.near_duplicate_mse: not provably the same picture)")
    elif n_pool and not summary.get("near_duplicates"):
        words += ("; the ingest left out ungraded copies of them, but not near copies (a "
                  "re-encoding, a resize): data.near_duplicate_mse=0 does not look for them")
    elif n_pool and "unlabelled_near_test" not in summary:
        words += ("; the ingest left out ungraded copies of them, but did not look for near copies "
                  "(a re-encoding, a resize) among the ungraded images: an older ingest compared "
                  "them with the training images only under data.near_duplicate_mse; ingest again "
                  "to compare them with the test images")
    return words


def load_pretrain_data(cfg: Config, data_dir: Path | None) -> PretrainData:
    """The image pool for ``cfg.data.dataset``.

    DRAC (any ingested data set): every ingested image, training, test and the
    ``data.unlabelled`` folders' (labels are not used to pretrain: transductive on the test
    images), from the cached ``source_size`` copy; with ``pretrain.use_test_images=false`` the
    test images are left out, so they stay unseen. k-NN monitor on fold 0 vs the other folds when labelled. The description says
    which splits were used. Generic datasets: the training split unlabelled; k-NN from train
    to the test split.
    """
    aug = cfg.pretrain.augment
    if cfg.data.dataset == "drac":
        if data_dir is None:
            raise ValueError("DRAC pretraining needs the ingest output folder (run the ingest stage first).")
        images, rows = load_octa_cache(data_dir, aug.source_size)
        n_test = sum(1 for r in rows if r["split"] == "test")
        n_pool = sum(1 for r in rows if r["split"] == "unlabelled")  # data.unlabelled
        left_out, n_copies = "", 0
        if not cfg.pretrain.use_test_images and n_test:
            rows, n_copies = _without_test_images(rows)
            n_pool -= n_copies
            keep = np.array(sorted(int(r["cache_index"]) for r in rows), dtype=np.int64)
            images = np.asarray(images[keep])
            position = {int(c): i for i, c in enumerate(keep)}
            rows = [{**r, "cache_index": position[int(r["cache_index"])]} for r in rows]
            summary = read_json_dict(data_dir / "ingest_summary.json") or {}
            left_out = f" ({held_out_words(n_test, n_copies, n_pool, summary)})"
        splits = ("training and test images" if n_test and not left_out
                  else f"training images{' only' if left_out and not n_pool else ''}")
        pool = f" and {n_pool} ungraded ones (data.unlabelled)" if n_pool else ""
        splits = f"{splits}{pool}, no labels{left_out}"
        knn_train = knn_test = None
        labelled = [r for r in rows if r["grade"] is not None]
        grades = {r["grade"] for r in labelled}
        knn_off = ""
        if cfg.pretrain.knn_every and len(grades) < 2:  # a k-NN accuracy needs two grades
            knn_off = ("no image is graded" if not labelled else
                       f"the graded images all have one grade ({len(labelled)} of grade {next(iter(grades))})")
            knn_off += "; it needs graded images of two grades at least"
        elif cfg.pretrain.knn_every:
            test_idx = np.array([r["cache_index"] for r in labelled if r["fold"] == 0])
            train_idx = np.array([r["cache_index"] for r in labelled if r["fold"] != 0])
            grade = {r["cache_index"]: r["grade"] for r in labelled}
            knn_train = (images[np.sort(train_idx)], np.array([grade[i] for i in np.sort(train_idx)]))
            knn_test = (images[np.sort(test_idx)], np.array([grade[i] for i in np.sort(test_idx)]))
        from drac_ssl.scale import read_ingest_facts

        facts = read_ingest_facts(data_dir)
        kind = facts.describe_images()
        return PretrainData(
            images=images,
            description=f"{kind}, {len(rows)} images ({len(labelled)} labelled; {splits}), "
                        f"ingest at {data_dir}",
            pool_test_copies=n_copies,
            knn_train=knn_train,
            knn_test=knn_test,
            facts=facts.to_dict(),
            knn_off=knn_off,
            knn_test_fold=0 if knn_test is not None else None,
        )
    train = load_generic(cfg.data.dataset, cfg.data.root, "train", cache_dir=default_cache_dir())
    knn_train = knn_test = None
    knn_off = (f"the {cfg.data.dataset} train split has no labels"
               if cfg.pretrain.knn_every and train.labels is None else "")
    if cfg.pretrain.knn_every and train.labels is not None:
        test = load_generic(cfg.data.dataset, cfg.data.root, "test", cache_dir=default_cache_dir())
        knn_train = (train.images, train.labels)
        knn_test = (test.images, test.labels)
    return PretrainData(
        images=train.images,
        description=f"{cfg.data.dataset} train split ({len(train.images)} images) from {cfg.data.root}",
        knn_train=knn_train,
        knn_test=knn_test,
        knn_off=knn_off,
        splits={"train": len(train.images), **({"test": len(knn_test[0])} if knn_test is not None else {})},
    )


def knn_subset(images: np.ndarray, labels: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` evenly spaced images of a labelled split, ``(images, labels)``: those
    at ``i * n // limit`` for ``i = 0..limit-1`` (``n = len(images)``), in the split's order;
    the split itself when ``limit`` is 0 or at least ``n`` (``pretrain.knn_limit``)."""
    n = len(images)
    if not limit or limit >= n:
        return images, labels
    keep = np.arange(limit, dtype=np.int64) * n // limit
    return np.asarray(images[keep]), np.asarray(labels)[keep]


class TwoViewFeed:
    """Yields (view_a, view_b) float batches on the device, one epoch at a time.

    Each epoch's order and augmentation draws depend only on (seed, epoch, rank), not on the
    number of DataLoader workers. Under DDP each rank takes every world_size-th sample of
    the shared permutation.

    GPU augmentation (``augment.on_gpu``): the uint8 images live on the device and
    :class:`GpuTwoViewAugment` makes both views of a batch from one seeded generator.

    CPU augmentation (albumentations in DataLoader workers): ONE DataLoader iterator streams
    epoch after epoch, so the workers keep prefetching across epoch boundaries instead of
    being restarted (and the GPU starved) at every epoch; DRAC has only ~31 steps per
    epoch. Every sample carries its own seed, ``dataset[(index, seed)]``, so the views are
    the same whatever the worker count or timing. The stream restarts only when an epoch
    other than the next one is asked for (resume, an abandoned epoch). Call :meth:`close`
    to stop the workers.
    """

    def __init__(self, images: np.ndarray, cfg: Config, device: torch.device, dist: DistInfo,
                 stage: str = "pretrain") -> None:
        # stage: whose batch size a loader that stalls names (UMM's feed is given umm.batch_size)
        self.cfg, self.device, self.dist, self.stage = cfg, device, dist, stage
        pc = cfg.pretrain
        self.n = len(images)
        self.per_rank = self.n // dist.world_size
        self.batch_size = pc.batch_size
        if self.per_rank < self.batch_size:
            raise ValueError(
                f"pretrain.batch_size={pc.batch_size} is larger than the {self.per_rank} images each "
                f"process sees.\n  fix: pretrain.batch_size={max(2, self.per_rank)} or add images."
            )
        self.steps = self.per_rank // self.batch_size
        if pc.max_steps_per_epoch:
            self.steps = min(self.steps, pc.max_steps_per_epoch)
        self.on_gpu = pc.augment.on_gpu
        self.workers = 0
        channels = 1 if images.ndim == 3 else images.shape[-1]
        if self.on_gpu:
            self.images_dev = to_device_uint8(np.asarray(images), device)
            self.gpu_augment = GpuTwoViewAugment(pc.augment, channels, view_recipe(cfg)).to(device)
        else:
            self.dataset = TwoViewDataset(images, build_view_transform(pc.augment, channels,
                                                                       recipe=view_recipe(cfg)))
            self.workers = dataloader_workers(pc.num_workers)
        self._stream: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._next_epoch: int | None = None  # the epoch the open stream will deliver next

    def __len__(self) -> int:
        return self.steps

    def _indices(self, epoch: int) -> torch.Tensor:
        return epoch_order(self.n, self.steps * self.batch_size, self.cfg.run.seed, epoch, self.dist)

    def _open_stream(self, epoch: int) -> None:
        self.close()
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=_KeyStream(self.n, self.steps * self.batch_size, self.cfg.run.seed, self.dist, epoch),
            num_workers=self.workers,
            worker_init_fn=seed_worker if self.workers else None,
            # the workers' base seed comes from here, not from torch's global RNG (left as is)
            generator=torch.Generator().manual_seed(epoch_seed(self.cfg.run.seed, epoch, self.dist.rank)),
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if self.workers else None,
            # the host's (or the platform's) start method, not fixed for the host's process
            multiprocessing_context=worker_context() if self.workers else None,
            # a worker that stops delivering (a thread or memory limit) is said, not waited on forever
            timeout=runtime.LOADER_TIMEOUT_S if self.workers else 0,
        )
        self._stream = runtime.loader_batches(loader, self.stage)  # its settings: starting.LOADER_SETTINGS
        self._next_epoch = epoch

    def close(self) -> None:
        """Stop the DataLoader workers of the CPU stream (a later epoch reopens it)."""
        self._stream, self._next_epoch = None, None

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.on_gpu:
            idx = self._indices(epoch)
            seed = epoch_seed(self.cfg.run.seed, epoch, self.dist.rank)
            g = torch.Generator(device=self.device).manual_seed(seed)
            idx_dev = idx.to(self.device)
            for b in range(self.steps):
                batch = self.images_dev[idx_dev[b * self.batch_size : (b + 1) * self.batch_size]]
                yield self.gpu_augment(batch, generator=g)
            return
        if self._stream is None or self._next_epoch != epoch:
            self._open_stream(epoch)
        assert self._stream is not None
        self._next_epoch = None  # until this epoch has been read to its end
        for _ in range(self.steps):
            view_a, view_b = next(self._stream)
            yield (view_a.to(self.device, non_blocking=True), view_b.to(self.device, non_blocking=True))
        self._next_epoch = epoch + 1


def epoch_order(n: int, count: int, seed: int, epoch: int, dist: DistInfo) -> torch.Tensor:
    """The first ``count`` image indices of ``epoch`` on this rank: every world_size-th
    entry of one permutation of ``n`` shared by all ranks (a pure function of its arguments)."""
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    perm = torch.randperm(n, generator=g)
    return perm[dist.rank :: dist.world_size][:count]


def epoch_sample_keys(n: int, count: int, seed: int, epoch: int, dist: DistInfo) -> list[tuple[int, int]]:
    """:func:`epoch_order` with an augmentation seed for each sample: ``[(index, seed), ...]``."""
    idx = epoch_order(n, count, seed, epoch, dist)
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch, dist.rank))
    seeds = torch.randint(0, 2**31 - 1, (len(idx),), generator=g)
    return list(zip(idx.tolist(), seeds.tolist(), strict=True))


class _KeyStream(torch.utils.data.Sampler):
    """The sampler of :class:`TwoViewFeed`'s CPU stream: the :func:`epoch_sample_keys` of
    epoch after epoch, without end, from ``first_epoch`` on."""

    def __init__(self, n: int, count: int, seed: int, dist: DistInfo, first_epoch: int) -> None:
        self.n, self.count, self.seed, self.dist, self.first_epoch = n, count, seed, dist, first_epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.first_epoch
        while True:
            yield from epoch_sample_keys(self.n, self.count, self.seed, epoch, self.dist)
            epoch += 1


# --------------------------------------------------------------------------------------
# The rate-reduction monitor


@dataclass
class MonitorProbe:
    """The fixed probe of the rate-reduction monitor: two views ``(K, C, S, S)`` of ``K``
    images chosen once, from fixed per-image seeds (CPU tensors)."""

    view_a: torch.Tensor
    view_b: torch.Tensor
    indices: np.ndarray


def build_monitor_probe(images: np.ndarray, cfg: Config) -> MonitorProbe | None:
    """``pretrain.monitor_images`` images (seed ``run.seed``) with two training-recipe views
    each; None when the monitor is off or there are fewer than 2 images."""
    k = min(cfg.pretrain.monitor_images, len(images))
    if k < 2:
        return None
    rng = np.random.default_rng([cfg.run.seed, 0x5EED])
    indices = np.sort(rng.choice(len(images), size=k, replace=False))
    seeds = rng.integers(0, 2**31 - 1, size=k)
    channels = 1 if images.ndim == 3 else images.shape[-1]
    dataset = TwoViewDataset(images, build_view_transform(cfg.pretrain.augment, channels,
                                                          recipe=view_recipe(cfg)))
    pairs = [dataset[(int(i), int(seed))] for i, seed in zip(indices, seeds, strict=True)]
    return MonitorProbe(torch.stack([a for a, _ in pairs]), torch.stack([b for _, b in pairs]), indices)


@torch.no_grad()
def rate_reduction_monitor(backbone: nn.Module, probe: MonitorProbe, cfg: Config, device: torch.device,
                           autocast: bool, batch_size: int = 256) -> dict[str, float]:
    """``rate_reduction_last`` / ``rate_reduction_early`` / ``view_cosine_last`` of the probe
    (module docstring): Delta R with ``umm.membership`` of the pooled last-stage and
    ``umm.early_cut`` features of the two views, eval mode."""
    uc = cfg.umm
    was_training = backbone.training
    backbone.eval()
    last_name = backbone.stage_names[-1]
    feats: dict[str, list[torch.Tensor]] = {"a_last": [], "b_last": [], "a_early": [], "b_early": []}
    for start in range(0, len(probe.indices), batch_size):
        for side, views in (("a", probe.view_a), ("b", probe.view_b)):
            x = views[start:start + batch_size].to(device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
                stages = backbone.forward_stages(x)
            feats[f"{side}_last"].append(stages[last_name].float())
            feats[f"{side}_early"].append(stages[uc.early_cut].float())
    backbone.train(was_training)
    out = {}
    for where in ("last", "early"):
        a, b = torch.cat(feats[f"a_{where}"]), torch.cat(feats[f"b_{where}"])
        rr = rate_reduction(a, b, uc.eps2, membership=uc.membership, temperature=uc.membership_temperature)
        out[f"rate_reduction_{where}"] = round(float(rr.delta), 6)
        if where == "last":
            out["view_cosine_last"] = round(float(torch.nn.functional.cosine_similarity(a, b).mean()), 6)
    return out


# --------------------------------------------------------------------------------------
# Outputs


def _loss_terms(keys: Sequence[str]) -> list[str]:
    """The loss's own terms among a step's logged ``keys`` (:data:`TERMS`): every key but
    ``loss`` and the ``rate_reduction`` monitor, in their order."""
    return [k for k in keys if k not in ("loss", "rate_reduction")]


def _plot_history(out_dir: Path, history: list[dict[str, Any]], knn_start: float | None = None,
                  terms: Sequence[str] = TERMS, loss_name: str = LOSS_NAME) -> None:
    from drac_ssl.plots import plot_history

    plot_history(history, ["loss", *_loss_terms(terms)], out_dir / "plots" / "pretrain_loss.png",
                 f"{loss_name} loss terms per epoch")
    monitors = [k for k in ("rate_reduction_last", "rate_reduction_early", "view_cosine_last", "rate_reduction",
                            "knn_top1", "lr") if any(k in r for r in history)]
    plot_history(history, monitors, out_dir / "plots" / "pretrain_monitors.png",
                 "Label-free rate reduction (probe: last / early; training batches: pairs)"
                 + (", k-NN top-1" if "knn_top1" in monitors else "") + ", lr",
                 baselines={"knn_top1": ("starting backbone", knn_start)} if knn_start is not None else None)


def normalization_name(cfg: Config) -> str:
    """The name whose statistics (:func:`~drac_ssl.datasets.normalization_for`) normalise the
    pretraining's views, its k-NN monitor and the ``normalization`` its ``metadata.json``
    records: a generic data set's own (``data.dataset``: Fashion-MNIST's mean 0.286 / std
    0.353 differ from the ``mnist`` recipe's 0.1307 / 0.3081), else the augmentation recipe's
    (an ingested folder, ``data.dataset=drac``: ``octa`` or ``fundus``)."""
    dataset = cfg.data.dataset
    return dataset if dataset in GENERIC_DATASETS else cfg.pretrain.augment.recipe


def view_recipe(cfg: Config) -> ViewRecipe:
    """The pretraining's :class:`~drac_ssl.augment.ViewRecipe`: ``pretrain.augment`` with the
    statistics of :func:`normalization_name`; rotated corners filled with the Graham filter's
    background (128) when the cached images are Graham-filtered (``data.graham``:
    :func:`~drac_ssl.augment.graham_fill`)."""
    return graham_fill(recipe_for(cfg.pretrain.augment, dataset=normalization_name(cfg)), cfg.data.graham)


def _statistics(cfg: Config) -> dict[str, list[float]]:
    """``{"mean": [...], "std": [...]}`` the pretraining normalises with (``last.pt`` records it)."""
    mean, std = normalization_for(normalization_name(cfg))
    return {"mean": list(mean), "std": list(std)}


def _statistics_words(stats: dict[str, Any]) -> str:
    """``mean [0.286] std [0.353]``."""
    return " ".join(f"{k} [{', '.join(f'{float(v):g}' for v in stats.get(k, []))}]" for k in ("mean", "std"))


def backbone_metadata(cfg: Config, data: PretrainData, history: list[dict[str, Any]], best_epoch: int,
                      stage: str = "vicreg", terms: Sequence[str] = TERMS) -> dict[str, Any]:
    """MONAI-bundle-style description of what the weights expect (metadata.json). ``terms``:
    the logged columns of the loss (the training task's ``keys``, :data:`TERMS` for VICReg)
    whose values at ``best_epoch`` its ``metrics`` record, beside the monitors'; ``cpu_threads``:
    the CPU threads this process trains with (``config``'s ``run.threads`` is the setting,
    0 for half the cores)."""
    pc = cfg.pretrain
    mean, std = normalization_for(normalization_name(cfg))
    best = next((r for r in history if r["epoch"] == best_epoch), history[-1] if history else {})
    return {
        "format": "drac_ssl backbone v1",
        "package_version": __version__,
        "stage": stage,
        "architecture": {
            "backbone": pc.backbone.arch,
            "cifar_stem": pc.backbone.cifar_stem,
            "stem_stride": pc.backbone.stem_stride,
            "feature_dim": ARCHS[pc.backbone.arch],
            "expander": pc.expander,
        },
        "input": {
            "channels": pc.backbone.in_channels,
            "size": [pc.augment.image_size, pc.augment.image_size],
            "value_range": "uint8 0..255, divided by 255, then normalised",
            "normalization": {"mean": list(mean), "std": list(std)},
            "recipe": pc.augment.recipe,
        },
        "training_data": data.description,
        # the backbone's starting weights (pretrain.backbone.weights): "" = random initialisation
        "initial_weights": pc.backbone.weights,
        "data": data.facts or {"channels": data.channels},
        "best_epoch": best_epoch,
        "epochs_counted_from": 0,  # best_epoch is the epoch's index; the console counts from 1
        "metrics": {k: best.get(k) for k in (*terms, *MONITOR_KEYS, "knn_top1") if k in best},
        "epochs_run": len(history),
        **({"splits": data.splits} if data.splits is not None else {}),
        # run.threads as applied (config's 0: half the cores), by the attempt that finished
        # the stage; each attempt's: the run's stages.json (cpu_threads)
        "cpu_threads": torch.get_num_threads(),
        "config": to_dict(cfg),
    }


# --------------------------------------------------------------------------------------
# The stage


def train_step(
    model: nn.Module,
    loss_fn: VICRegLoss,
    optimizer: torch.optim.Optimizer,
    view_a: torch.Tensor,
    view_b: torch.Tensor,
    bf16: bool,
    channels_last: bool,
) -> tuple[VICRegTerms, torch.Tensor, torch.Tensor]:
    """One VICReg step on two views (B, C, H, W): forward both, loss in float32, update.

    Returns the loss terms and the backbone features of both views (for monitors). The
    benchmark's model-only ceiling calls this very function on tensors already on the device.
    """
    if channels_last:
        view_a = view_a.contiguous(memory_format=torch.channels_last)
        view_b = view_b.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device_type=view_a.device.type, dtype=torch.bfloat16, enabled=bf16):
        feat_a, z_a = model(view_a)
        feat_b, z_b = model(view_b)
    terms = loss_fn(z_a, z_b)
    optimizer.zero_grad(set_to_none=True)
    terms.loss.backward()
    optimizer.step()
    return terms, feat_a, feat_b


def _new_run_words(last: Path, lr: float) -> str:
    """Where a changed pretraining setting can run: not in this run folder (it refuses a
    changed setting, and the same settings diverge again), but in a new one that takes its
    finished ingest (``run.reuse``), as the preflight's refusal of a changed configuration
    words it. ``last``: the stage's ``checkpoints/last.pt`` (the run folder two levels up)."""
    run_dir = Path(last).parent.parent.parent
    if (run_dir / "stages.json").is_file():  # a python -m drac_ssl.train run folder
        return (f"this run folder refuses a changed setting, so start a new one that takes its "
                f"finished ingest: "
                f"{command_changes([*new_run_pairs(run_dir), ('pretrain.lr', f'{lr / 10:g}')])}")
    return "a changed setting needs a new run folder (this one refuses it)"


class _VICRegTraining(TrainingTask):
    """One VICReg epoch for the :class:`~drac_ssl.engine.Engine`: the step, its logged terms
    and the label-free / k-NN monitors.

    ``keys``: the columns :meth:`step` logs, the loss's NamedTuple fields (``loss`` first) then
    ``rate_reduction`` (:data:`TERMS`, VICReg's); ``loss_name``: the objective's name in the
    console line, the non-finite error and the loss plot (:data:`LOSS_NAME`). Another loss
    passes its own; nothing else in the task names VICReg's terms."""

    watched = ("loss",)

    def __init__(self, cfg: Config, model: VICRegModel, optimizer: torch.optim.Optimizer,
                 loss_fn: VICRegLoss, data: PretrainData, device: torch.device, bf16: bool,
                 channels_last: bool, dist: DistInfo, *, keys: Sequence[str] = TERMS,
                 loss_name: str = LOSS_NAME) -> None:
        pc = cfg.pretrain
        self.keys: Sequence[str] = tuple(keys)
        self.loss_name = loss_name
        self.cfg, self.pc, self.model, self.train_model = cfg, pc, model, model
        self.optimizer, self.loss_fn, self.data = optimizer, loss_fn, data
        self.device, self.bf16, self.channels_last = device, bf16, channels_last
        self.pairs_per_step = pc.batch_size * dist.world_size
        self.lr = pc.lr
        self.feed: TwoViewFeed | None = None
        self.knn: KnnMonitor | None = None
        self.probe: MonitorProbe | None = None
        self.monitor_best = -math.inf  # the highest rate_reduction_last so far (monitor_peak.pt)
        # k-NN top-1 (%) of the starting backbone, before any step (None: no k-NN monitor, or a
        # run resumed from a checkpoint saved before this was recorded)
        self.knn_start: float | None = None
        self.ckpt_dir: Path | None = None

    def attach(self, train_model: nn.Module, feed: TwoViewFeed, knn: KnnMonitor | None = None) -> None:
        """The module the steps run (DDP / compiled wrapper of the model), the feed and the
        k-NN monitor (None: no k-NN column)."""
        self.train_model, self.feed, self.knn = train_model, feed, knn
        self.steps_per_epoch = len(feed)
        self.total_steps = self.pc.epochs * len(feed)
        self.warmup_steps = self.pc.warmup_epochs * len(feed)

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        assert self.feed is not None, "attach() the feed first"
        return self.feed.epoch(epoch)

    def begin_epoch(self, epoch: int) -> None:
        if epoch == 0 and self.knn is not None and self.knn_start is None:
            # the k-NN figure an untrained backbone already reaches (a random ResNet's features
            # separate MNIST's digits well): the epochs' k-NN is read against it. Epoch 0 is only
            # begun by a fresh run; a Ctrl-C here leaves no epoch, and the rerun measures again.
            self.knn_start = round(self.knn(self.model.backbone, self.bf16, self.channels_last), 3)
            weights = self.pc.backbone.weights
            # a weights file may hold NaN; a random start has none, so its eval-mode features overflowed
            check = (f"check pretrain.backbone.weights: {weights} may hold NaN or inf" if weights else
                     "a random start: the eval-mode features, which use the batch-norm running statistics, "
                     "overflowed; check the images' normalisation, or try pretrain.precision=fp32")
            figure = (f"{self.knn_start:.2f}% (k {self.pc.knn_k}; read the epochs' k-NN against it)"
                      if math.isfinite(self.knn_start) else f"{KNN_NOT_FINITE_WORDS} ({check})")
            print(f"[pretrain] k-NN top-1 of the starting backbone, before any step: {figure}")
        self.train_model.train()

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        pc = self.pc
        self.lr = lr_at(step, total_steps=self.total_steps, warmup_steps=self.warmup_steps,
                        base_lr=pc.lr, schedule=pc.schedule, min_lr_ratio=pc.min_lr_ratio)
        set_lr(self.optimizer, self.lr)
        terms, feat_a, feat_b = train_step(self.train_model, self.loss_fn, self.optimizer, *batch,
                                           self.bf16, self.channels_last)
        with torch.no_grad():
            rr = rate_reduction(feat_a.detach().float(), feat_b.detach().float(), membership="pairs").delta
        return {**terms._asdict(), "rate_reduction": rr}  # the keys of TERMS

    def epoch_fields(self, epoch: int) -> dict[str, Any]:
        return {"lr": self.lr}

    def epoch_monitors(self, epoch: int, row: dict[str, Any]) -> dict[str, Any]:
        pc = self.pc
        out: dict[str, Any] = {}
        if pc.monitor_images:
            if self.probe is None:
                self.probe = build_monitor_probe(self.data.images, self.cfg)
            if self.probe is not None:
                out.update(rate_reduction_monitor(self.model.backbone, self.probe, self.cfg, self.device,
                                                  self.bf16))
                value = out["rate_reduction_last"]
                if math.isfinite(value) and value > self.monitor_best and self.ckpt_dir is not None:
                    self.monitor_best = value
                    ckpt_dir = self.ckpt_dir
                    save_checkpoint(ckpt_dir / PEAK_CHECKPOINT, {
                        "model": self.model.state_dict(), "epoch": epoch,
                        "rate_reduction_last": value, "config": to_dict(self.cfg)},
                        room=lambda: task_room(ckpt_dir, self))
        if self.knn is not None and pc.knn_every and (
                (epoch + 1) % pc.knn_every == 0 or epoch + 1 == pc.epochs):
            out["knn_top1"] = knn_record(self.knn(self.model.backbone, self.bf16, self.channels_last))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "knn_start_top1": self.knn_start, "normalization": _statistics(self.cfg),
                "pool_test_copies": self.data.pool_test_copies}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.knn_start = state.get("knn_start_top1")
        values = [r.get("rate_reduction_last") for r in state.get("history", [])]
        values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        self.monitor_best = max(values, default=-math.inf)

    def best_state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict()}

    def extra_checkpoints(self) -> dict[str, dict[str, Any]]:
        # monitor_peak.pt, the model's weights, written when the monitor peaks (review F1: the
        # free-space warning left it out, 45 MB for the tiny configuration)
        if not self.pc.monitor_images or self.ckpt_dir is None:
            return {}
        return {PEAK_CHECKPOINT: {"model": self.model.state_dict()}}

    def check_resume(self, state: dict[str, Any]) -> None:
        """Refuse ``last.pt`` made with other settings the pretraining's output depends on
        (``stage_settings.REUSABLE_STAGES["pretrain"]``: ``data.*``, ``pretrain.*``,
        ``run.seed`` and the monitor's UMM settings; ``pretrain.epochs`` may grow). One printed
        line when ``last.pt`` predates :attr:`PretrainData.pool_test_copies` (no such key) and
        this loading left pool copies of test images out: the older code pretrained on them, so
        the resumed run's pool and epoch order are not the interrupted run's."""
        from drac_ssl.stage_settings import stage_resume_differences

        assert self.ckpt_dir is not None, "set ckpt_dir before resuming"
        out_dir = self.ckpt_dir.parent
        diffs = stage_resume_differences("pretrain", state.get("config"), self.cfg, out_dir,
                                         may_change=("pretrain.epochs",))
        if diffs:
            config = out_dir.parent / "config.yaml"  # the run folder's (python -m drac_ssl.train)
            saved = f" ({python_command('drac_ssl.train')} -c {config})" if config.is_file() else ""
            reuse = (f" (add run.reuse={out_dir.parent} to take its finished ingest)"
                     if (out_dir.parent / "stages.json").is_file() else "")
            raise ConfigError(
                f"{self.ckpt_dir / 'last.pt'}: this pretraining was made with other settings "
                f"(old -> new); resuming it would mix two configurations in one run:\n  "
                + "\n  ".join(diffs)
                + f"\n  fix: rerun with the settings it was made with{saved}; or start a new run "
                f"folder (run.name=NEW){reuse}; or delete {out_dir} to start over.")
        self._check_resumed_statistics(state, out_dir)
        copies = self.data.pool_test_copies
        if copies and "pool_test_copies" not in state:  # begun by a version that kept them
            print(f"[pretrain] {self.ckpt_dir / 'last.pt'} was begun by an older version that "
                  f"pretrained on {copies} ungraded image{'s' if copies != 1 else ''} with a test "
                  f"image's bytes or pixels; this version leaves {'them' if copies != 1 else 'it'} "
                  f"out (pretrain.use_test_images=false), so the resume has another pool and epoch "
                  f"order and does not replay the interrupted run exactly (delete {out_dir} to "
                  f"pretrain on one pool throughout)")

    def _check_resumed_statistics(self, state: dict[str, Any], out_dir: Path) -> None:
        """Refuse ``last.pt`` whose views were normalised with other statistics than this code
        uses for the same settings: a Fashion-MNIST pretraining begun before it got its own
        (``last.pt`` without ``normalization``: the recipe's, ``mnist``) would switch
        statistics mid-run."""
        then = state.get("normalization")
        if not isinstance(then, dict):  # a checkpoint from before it was recorded: the recipe's
            saved = state.get("config") if isinstance(state.get("config"), dict) else {}
            recipe = ((saved.get("pretrain") or {}).get("augment") or {}).get("recipe") \
                or self.pc.augment.recipe
            mean, std = normalization_for(str(recipe))
            then = {"mean": list(mean), "std": list(std)}
        now = _statistics(self.cfg)
        if [float(v) for v in then.get("mean", [])] == now["mean"] and \
                [float(v) for v in then.get("std", [])] == now["std"]:
            return
        dataset = self.cfg.data.dataset
        raise ConfigError(
            f"{self.ckpt_dir / 'last.pt'}: this pretraining began with its views normalised by "
            f"{_statistics_words(then)}; this version normalises data.dataset={dataset} by "
            f"{_statistics_words(now)} (its own statistics, no longer the {self.pc.augment.recipe} "
            f"recipe's): resuming would switch statistics mid-run.\n"
            f"  fix: start a new run folder (run.name=NEW) to pretrain with {dataset}'s statistics; "
            f"or finish this one with the drac_ssl version that began it; or delete {out_dir} to "
            f"start over.")

    def non_finite(self, epoch: int, means: dict[str, float], bad: list[str], last: Path) -> Exception:
        return NonFiniteLossError(
            f"[pretrain] epoch {epoch + 1}: the {self.loss_name} loss became non-finite "
            f"(epoch means so far: " + ", ".join(f"{k}={means[k]:.4g}" for k in self.keys)
            + f"; lr={self.lr:.3g}, precision={'bf16' if self.bf16 else 'fp32'}).\n"
            f"  {checkpoint_kept_words(last)}\n"
            f"  fix: lower pretrain.lr (the DRAC recipe overfits above 0.02), check the input data, "
            f"or use pretrain.precision=fp32; {_new_run_words(last, self.pc.lr)}."
        )

    def describe(self, row: dict[str, Any]) -> str:
        extra = ""
        if "knn_top1" in row:  # None (null in metrics.jsonl), or an older nan: not scored
            knn = row["knn_top1"]
            extra = (f", k-NN {knn:.2f}%" if knn is not None and math.isfinite(knn) else
                     f", k-NN {KNN_NOT_FINITE_WORDS}")
        if row.get("rate_reduction_last") is not None:
            extra += (f", monitor dR last {row['rate_reduction_last']:.2f} early "
                      f"{row['rate_reduction_early']:.2f}")
        terms = " ".join(f"{TERM_ABBREVIATIONS.get(k, k)} {row[k]:.4f}" for k in _loss_terms(self.keys))
        terms = f"({terms}) " if terms else ""
        line = (f"[pretrain] epoch {row['epoch'] + 1}/{self.pc.epochs} loss {row['loss']:.4f} {terms}"
                f"rate-reduction {row['rate_reduction']:.2f}{extra} "
                f"{row['pairs_per_second']:.0f} pairs/s")
        if row["epoch"] == 0:  # once per run: what each field is, and its unit
            line += f"\n[pretrain] what these fields are: {CONSOLE_GLOSSARY}"
        return line

    def close(self) -> None:
        if self.feed is not None:
            self.feed.close()  # stops the DataLoader workers of the CPU stream


SYNC_BATCHNORM_DEVICES = ("cuda",)
"""Devices whose DDP pretraining synchronises BatchNorm: torch's SyncBatchNorm refuses CPU
tensors ("SyncBatchNorm expected input tensor to be on GPU"), so gloo on the CPU keeps
per-process statistics."""


def sync_batchnorm(model: nn.Module, dist: DistInfo, device: torch.device) -> nn.Module:
    """``model`` with every BatchNorm a :class:`torch.nn.SyncBatchNorm` when the pretraining runs
    on several processes on a CUDA device (:data:`SYNC_BATCHNORM_DEVICES`), as the official
    VICReg code does: each BatchNorm then normalises with the statistics of the global batch,
    not of each process's ``pretrain.batch_size`` images, so the trained model does not depend
    on how the batch is split. The same parameter and buffer objects (the optimiser, the
    checkpoints' keys and the exported weights are unchanged; evaluation mode never
    synchronises). Otherwise ``model`` itself, untouched (a single process: bit-identical)."""
    if dist.world_size > 1 and device.type in SYNC_BATCHNORM_DEVICES:
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def run(cfg: Config, run_dir: str | Path, data: PretrainData | None = None,
        stop_after_epoch: int | None = None) -> PretrainResult:
    """Pretrain with VICReg; resume from ``run_dir/pretrain/checkpoints/last.pt`` if present.

    The backbone's input channels are the data's (``pretrain.backbone.in_channels`` 0, the
    default); a configured 1 or 3 that contradicts the images raises
    :class:`~drac_ssl.config.ConfigError` naming both. ``stop_after_epoch`` ends the call
    after that epoch (0-based) as if interrupted: used by tests of exact resumption.
    """
    if cfg.run.tensorboard:
        require_tensorboard()
    run_dir = Path(run_dir)
    out_dir = run_dir / "pretrain"
    if data is None:
        data = load_pretrain_data(cfg, run_dir / "data")
    # the backbone reads the data's channels (in_channels 0), or the config must agree
    cfg = with_data_channels(cfg, data.channels, data.description)
    pc = cfg.pretrain
    dist = init_distributed()
    device = resolve_device(cfg.run.device, dist.local_rank)
    # checkpoints every pretrain.checkpoint_every epochs; the loss is checked for NaN/inf at
    # the epoch's end only (no host read inside an epoch)
    engine = Engine("pretrain", out_dir, epochs=pc.epochs, config=to_dict(cfg), seed=cfg.run.seed,
                    is_main=dist.is_main, tensorboard=cfg.run.tensorboard,
                    checkpoint_every=pc.checkpoint_every, non_finite_check_every=0,
                    distributed=dist.world_size > 1,
                    monitor=Monitor("loss", mode="min", min_delta=pc.min_delta, patience=pc.patience,
                                    state_key="best_loss",
                                    stop_message="early stopping: no improvement of the epoch "
                                                 "loss for {patience} epochs"))
    bf16 = use_bf16(cfg, device)
    channels_last = pc.channels_last and device.type == "cuda"

    model: VICRegModel = sync_batchnorm(build_vicreg_model(pc).to(device), dist, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, pc)
    loss_fn = VICRegLoss.from_config(pc.loss, gather=gather_with_grad if dist.world_size > 1 else None)
    task = _VICRegTraining(cfg, model, optimizer, loss_fn, data, device, bf16, channels_last, dist)
    task.ckpt_dir = engine.ckpt_dir
    resumed = engine.resume(task, map_location=device)
    if pc.backbone.weights and not resumed and dist.is_main:
        print(f"[pretrain] the backbone starts from {pc.backbone.weights} (pretrain.backbone.weights); "
              f"the expander starts random")

    train_model: nn.Module = model
    if dist.world_size > 1:
        # broadcast_buffers=False: each step forwards the two views separately, and DDP's
        # default copies process 0's BatchNorm running statistics into every process before
        # each forward, in place; torch 2.11's CPU BatchNorm keeps those tensors for its
        # backward, so the second view's copy failed the first view's backward ("modified by
        # an inplace operation"). Process 0 is the source of that copy and the only process
        # whose model is saved, so its weights and statistics are the same either way; on
        # CUDA, SyncBatchNorm gives every process the same statistics.
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)
    if use_compile(pc.compile, device):
        train_model = torch.compile(train_model)

    feed = TwoViewFeed(data.images, cfg, device, dist)
    knn = None  # built once: the labelled images go to the device here, not every monitor epoch
    # what pretrain.knn_limit kept, and on an ingested folder always what the monitor scored
    # (None: a generic set's every image, its sizes in splits)
    knn_scope: dict[str, int] | None = None
    if pc.knn_every and data.knn_off and dist.is_main:
        print(f"[pretrain] k-NN monitor off (pretrain.knn_every={pc.knn_every}): {data.knn_off}")
    if pc.knn_every and data.knn_train is not None and data.knn_test is not None and dist.is_main:
        knn_train = knn_subset(*data.knn_train, pc.knn_limit)
        knn_test = knn_subset(*data.knn_test, pc.knn_limit)
        if pc.knn_limit:
            knn_scope = {"knn_limit": pc.knn_limit, "train_images": len(knn_train[0]),
                         "of_train": len(data.knn_train[0]), "test_images": len(knn_test[0]),
                         "of_test": len(data.knn_test[0])}
            print(f"[pretrain] k-NN monitor on {knn_scope['train_images']} of {knn_scope['of_train']} "
                  f"training and {knn_scope['test_images']} of {knn_scope['of_test']} test images "
                  f"(pretrain.knn_limit={pc.knn_limit}, evenly spaced)")
        if data.knn_test_fold is not None:  # fold 0's graded images, not the challenge's test split
            knn_scope = {"test_fold": data.knn_test_fold, "train_images": len(knn_train[0]),
                         "test_images": len(knn_test[0]), **(knn_scope or {})}
        knn = KnnMonitor(knn_train, knn_test, normalization_name(cfg), pc.augment.image_size, device,
                         k=pc.knn_k)
    task.attach(train_model, feed, knn)
    if dist.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out_dir / "environment.json",
                          {**environment_info(), "dataloader_workers": feed.workers})
    result = engine.run(task, stop_after_epoch)
    backbone_path, metadata_path = out_dir / "backbone.safetensors", out_dir / "metadata.json"
    if result.stopped == "interrupted":
        return PretrainResult(out_dir, backbone_path, metadata_path, result.history,
                              result.best_epoch, "interrupted")

    history, best_epoch, stopped = result.history, result.best_epoch, result.stopped
    ckpt_dir = engine.ckpt_dir

    def export() -> None:
        best_state = load_checkpoint(ckpt_dir / "best.pt")["model"] if (ckpt_dir / "best.pt").exists() \
            else model.state_dict()
        backbone_state = {k[len("backbone."):]: v for k, v in best_state.items() if k.startswith("backbone.")}
        meta = backbone_metadata(cfg, data, history, best_epoch, terms=task.keys)
        meta["stopped"] = stopped
        if knn_scope is not None:
            meta["knn_monitor"] = knn_scope
        if task.knn_start is not None:  # null: measured, but not scored (its features were not finite)
            meta["knn_start_top1"] = knn_record(task.knn_start)
        save_weights(backbone_path, backbone_state, {"format": "drac_ssl backbone v1"})
        save_weights(out_dir / "vicreg_model.safetensors", best_state)
        atomic_write_json(metadata_path, meta)
        _plot_history(out_dir, history, knn_start=task.knn_start, terms=task.keys, loss_name=task.loss_name)
        print(f"[pretrain] {stopped}; best epoch {best_epoch + 1} -> {backbone_path}")
        # report.md's warning, in the same words, and the run's clause if it is a trial
        if words := stage_collapse_warning(meta, "pretrain", run_dir):
            print(f"[pretrain] warning: {words}")

    # rank 0 exports while the other processes wait: none returns before the weights exist
    on_main(export, "the pretraining export")
    return PretrainResult(out_dir, backbone_path, metadata_path, history, best_epoch, stopped)
