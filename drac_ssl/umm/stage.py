"""The UMM stage: ``run(cfg, run_dir) -> UMMResult`` (the orchestrator and the tests call it).

Chooses the pretrained VICReg model (``umm.start_from``, :mod:`drac_ssl.umm.source`),
freezes it up to ``umm.early_cut``, swaps the BatchNorm layers of the tuned part for
composable ones (:mod:`drac_ssl.umm.layers`) and hands one UMM step per batch
(:func:`drac_ssl.umm.step.umm_step`) to the training engine (:class:`drac_ssl.engine.Engine`:
resume, atomic checkpoints, early stopping on the last-layer rate reduction when
``umm.early_stop_on_rate_reduction``, history, TensorBoard, progress, non-finite stop).

The monitor: pretraining's rate-reduction monitor (:func:`drac_ssl.pretrain
.rate_reduction_monitor`, its fixed probe of ``pretrain.monitor_images`` images and views, eval
mode) measured at UMM's start and after every epoch (the :data:`PROBE_PREFIX` columns), so
UMM's curve continues pretraining's on one scale and the early stop watches a steady figure
(:data:`PROBE_KEY`); the unprefixed ``rate_reduction_*`` columns are means over the training
batches. Without a probe (``pretrain.monitor_images`` < 2) the early stop watches that mean.
Single process: the bi-level step is not wrapped in DDP.

The guard (issue #13): before the first step the SSL loss of the starting model is measured
on the first epoch's batches (no update; ``ssl_start``). After every epoch, when the epoch's
mean SSL loss exceeds ``(1 + umm.max_ssl_rise) * ssl_start`` (or, with
``umm.max_step_ratio > 0``, a parameter group's mean outer/inner step-norm ratio exceeds
it), UMM stops: the engine rolls back to the last epoch that passed (or the starting
weights), those weights are the stage's output (the best epoch's when early stopping on
the rate reduction), and ``metadata.json`` / the printed line say why. ``ssl_rise`` (the
relative rise) is a column of ``metrics.csv``.

Outputs in ``run_dir/umm``: ``backbone.safetensors``, ``vicreg_model.safetensors``,
``metadata.json`` (pretraining's format, stage ``umm``, plus ``umm``: the start checkpoint,
the objective, the groups with an outer step, the guard; ``start_note`` when it starts at
or before the pretraining monitor's peak, also printed: methods.md section 2 applies UMM past
it, :func:`drac_ssl.umm.source.start_note`), ``metrics.csv`` /
``metrics.jsonl``, ``plots/umm_rate_reduction.png``, ``umm_losses.png``,
``umm_steps.png``, ``umm_start.png`` (the pretraining monitor with its peak and the start
checkpoint), ``config.yaml`` and ``checkpoints/last.pt`` (every epoch, atomic, exact
resume); with ``run.tensorboard=true`` also TensorBoard scalars ``umm/<key>`` in
``tensorboard/``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from drac_ssl import pretrain
from drac_ssl.checkpoint import load_checkpoint, save_weights
from drac_ssl.collapse import stage_collapse_warning
from drac_ssl.config import (  # UMM's choices: config's _CHOICES holds them, re-exported here
    EARLY_CUTS,
    INNER_OPTIMIZERS,
    MEMBERSHIPS,
    OUTER_SIGNS,
    UMM_RANGES,
    Config,
    ConfigError,
    UMMConfig,
    check_choices,
    check_ranges,
    save_config,
    to_dict,
)
from drac_ssl.distributed import DistInfo
from drac_ssl.engine import Engine, Monitor, TrainingTask, checkpoint_kept_words
from drac_ssl.io import atomic_write_json, finite_number, sha256_file
from drac_ssl.losses.vicreg import VICRegLoss
from drac_ssl.models import VICRegModel
from drac_ssl.pretrain import MonitorProbe, build_monitor_probe, rate_reduction_monitor
from drac_ssl.runtime import (
    NonFiniteError,
    command_changes,
    environment_info,
    new_run_pairs,
    resolve_device,
    use_bf16,
)
from drac_ssl.starting import python_command
from drac_ssl.tensorboard_log import require_tensorboard
from drac_ssl.umm.layers import AfterCut, early_features, make_batch_norm_composable
from drac_ssl.umm.plots import plot_start_point
from drac_ssl.umm.plots import plot_umm_history as _plot_history
from drac_ssl.umm.source import (
    MONITOR_KEY,
    StartPoint,
    load_pretrained_model,
    pretrain_history,
    resolve_start,
    start_note,
    with_checkpoint_channels,
)
from drac_ssl.umm.step import (
    EarlyFeatureCache,
    UMMOptimizers,
    build_optimizers,
    effective_alpha,
    inner_objective,
    outer_step_groups,
    parameter_groups,
    step_keys,
    umm_step,
    with_next_batch,
)

__all__ = ["EARLY_CUTS", "INNER_OPTIMIZERS", "MEMBERSHIPS", "OUTER_SIGNS", "PROBE_KEY", "UMMNonFiniteError", "UMMResult", "check_settings", "feed_config",
           "run"]

PROBE_PREFIX = "probe_"
"""UMM's columns of pretraining's rate-reduction monitor (:func:`drac_ssl.pretrain
.rate_reduction_monitor` on the same fixed probe): ``probe_rate_reduction_last``,
``probe_rate_reduction_early``, ``probe_view_cosine_last``. The columns without the prefix
(``rate_reduction_last`` ...) are the means over UMM's training batches."""

PROBE_KEY = PROBE_PREFIX + MONITOR_KEY
"""The column UMM's early stopping watches (``umm.early_stop_on_rate_reduction``) when
pretraining's probe is on (``pretrain.monitor_images`` >= 2): the same figure, on the same
images and views, as the pretraining monitor ``umm.start_from`` reads."""


def uses_probe(cfg: Config) -> bool:
    """Whether UMM measures pretraining's probe: ``pretrain.monitor_images`` >= 2 (UMM has at
    least ``umm.batch_size`` >= 2 images, so the probe then holds at least 2)."""
    return cfg.pretrain.monitor_images >= 2


class UMMNonFiniteError(NonFiniteError):
    """A UMM loss became NaN or infinite; the run stopped, the last good checkpoint stays
    (a :class:`~drac_ssl.runtime.NonFiniteError`, a RuntimeError)."""


@dataclass
class UMMResult:
    """What :func:`run` returns (paths absolute when ``run_dir`` was).

    ``out_dir``: ``run_dir/umm``; ``backbone_path`` (``backbone.safetensors``, what the
    fine-tuning reads), ``model_path`` (``vicreg_model.safetensors``, backbone + expander)
    and ``metadata_path`` (``metadata.json``): written unless the run was interrupted;
    ``history``: one dict per epoch (the epoch means of :func:`~drac_ssl.umm.step.step_keys`,
    the probe's :data:`PROBE_PREFIX` columns and the engine's); ``best_epoch``: 0-based epoch of
    the highest last-layer rate reduction (the engine monitor's: :data:`PROBE_KEY`, or the
    batch mean without the probe; -1 before any); ``stopped``: why the run ended
    (``completed all epochs``, with ``: <the reason>`` when the patience ran out on the last
    epoch, the early-stopping message, ``guard: ...``, ``interrupted``);
    ``start``: the pretrained model UMM started from and why (:class:`StartPoint`);
    ``guard_fired``: the SSL-loss or step-ratio guard ended the run (the weights written
    are then those of the last epoch that passed it, or the best epoch's with
    ``umm.early_stop_on_rate_reduction``).
    """

    out_dir: Path
    backbone_path: Path
    model_path: Path
    metadata_path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    stopped: str = ""
    start: StartPoint | None = None
    guard_fired: bool = False


def check_settings(uc: UMMConfig) -> None:
    """Raise ConfigError for the first UMM setting outside its choices (``umm.*`` of
    :data:`drac_ssl.config._CHOICES`) or its range (:data:`drac_ssl.config.UMM_RANGES`: NaN
    and inf are outside every range), or a ``umm.batch_size`` below 2, each naming the
    setting, its value, what it must be and the fix (called by the stage and, before any stage
    runs, by :mod:`drac_ssl.preflight`, which reports every one from the same tables)."""
    cfg = Config(umm=uc)
    check_choices(cfg, "umm.")
    check_ranges(cfg, UMM_RANGES)
    for f in dataclasses.fields(uc):  # a setting without a range (umm.batch_size) given inf or NaN
        value = getattr(uc, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config: 'umm.{f.name}' is {value}, not a finite number.\n"
                              f"  fix: umm.{f.name}={getattr(UMMConfig(), f.name)} (the default)")
    if uc.batch_size < 2:  # the preflight's _check_umm_batch says why in full
        raise ConfigError(
            f"config: umm.batch_size must be >= 2 (VICReg's variance needs it), got {uc.batch_size}.\n"
            f"  fix: umm.batch_size={UMMConfig().batch_size} (the default)"
        )


def _resume_differences(state: dict[str, Any], cfg: Config, source: Path, out_dir: Path,
                        source_sha256: str | None = None) -> list[str]:
    """What differs between a UMM checkpoint and this call: every setting the stage's output
    depends on (``data.*``, ``pretrain.*``, ``umm.*``, ``run.seed``: ``train.py``'s
    ``REUSABLE_STAGES["umm"]``, less the output-only settings; ``umm.epochs`` may grow) and
    the pretrained checkpoint, compared by content (:func:`_same_source`), so a moved or
    copied run folder resumes. ``out_dir / "checkpoints" / "last.pt"`` is the checkpoint
    ``state`` was read from: its file time bounds an older checkpoint's starting model."""
    from drac_ssl.stage_settings import stage_resume_differences

    diffs = stage_resume_differences("umm", state.get("config"), cfg, out_dir, may_change=("umm.epochs",))
    last = out_dir / "checkpoints" / "last.pt"
    saved_at = last.stat().st_mtime if last.is_file() else None
    if not _same_source(state, source, out_dir.parent, source_sha256, saved_at):
        if state.get("source_sha256"):
            why = (f" (other weights: SHA-256 {str(state['source_sha256'])[:12]} -> "
                   f"{(source_sha256 or _sha256_or_none(source))[:12]})")
        elif source.is_file() and not _written_by(source, saved_at):
            why = (f" ({last} records its starting model by path only (no source_sha256: an older "
                   f"checkpoint), and {source} was written after it: it may hold other weights)")
        else:
            why = ""
        diffs.append(f"checkpoint: {state['source']} -> {source}{why}")
    return diffs


def _sha256_or_none(path: Path) -> str:
    """``path``'s hex SHA-256, or ``"none"`` when it is no file (it cannot match a digest)."""
    return sha256_file(path) if path.is_file() else "none"


def _written_by(source: Path, saved_at: float | None) -> bool:
    """Whether the file ``source`` was last written no later than ``saved_at`` (a checkpoint's
    file time, seconds since the epoch; None: unknown, so False). ``mv`` and ``cp -a`` keep
    file times, so a moved run's starting model still predates its UMM checkpoint."""
    return saved_at is not None and source.is_file() and source.stat().st_mtime <= saved_at


def _same_source(state: dict[str, Any], source: Path, run_dir: Path, source_sha256: str | None = None,
                 saved_at: float | None = None) -> bool:
    """Whether a UMM checkpoint's ``state`` started from the weights in ``source``, so that the
    run folder ``run_dir`` may be moved, copied or renamed and still resume.

    A checkpoint records the SHA-256 of its starting weights (``source_sha256``): compared
    by content (``source_sha256`` here: ``source``'s digest when the caller has it). One
    saved before that records only the absolute, resolved path (``source``), accepted when
    the recorded file still exists (a copied run folder) and holds the same bytes; or, its
    bytes being unknown, when ``source`` was written no later than the checkpoint
    (``saved_at``, its file time: :func:`_written_by`) and either the recorded path is
    ``source``'s or it no longer exists (a moved or renamed folder) and ends with ``source``'s
    path inside ``run_dir`` (``pretrain/vicreg_model.safetensors``). A starting model written
    after the checkpoint (pretrained again, or another run's) is refused."""
    recorded = state.get("source")
    if state.get("source_sha256"):
        return state["source_sha256"] == (source_sha256 or _sha256_or_none(source))
    if recorded is None:
        return True
    old = Path(str(recorded))
    if recorded != str(source.resolve()) and old.is_file():
        return source.is_file() and sha256_file(old) == (source_sha256 or sha256_file(source))
    if not _written_by(source, saved_at):
        return False
    if recorded == str(source.resolve()):
        return True
    where = Path(os.path.abspath(source))
    if not where.is_relative_to(os.path.abspath(run_dir)):
        return False
    inside = where.relative_to(os.path.abspath(run_dir)).parts
    return old.parts[-len(inside):] == inside


def describe_objective(uc: UMMConfig) -> str:
    """The outer objective in words, e.g. ``F = L_ssl(theta') - 1 * Delta R(theta')``."""
    alpha = effective_alpha(uc)
    if not uc.use_rate_reduction:
        return "none (umm.use_rate_reduction=false: single-level training on L_in)"
    ssl = "L_ssl(theta')" if uc.outer_ssl else ""
    if alpha == 0.0:
        return f"F = {ssl or '0'}"
    sign = "-" if alpha > 0 else "+"
    return f"F = {ssl} {sign} {abs(alpha):g} * Delta R(theta')".replace("=  ", "= ")


def feed_config(cfg: Config) -> Config:
    """``cfg`` with the pretraining batch settings replaced by UMM's (for ``TwoViewFeed``)."""
    uc = cfg.umm
    return dataclasses.replace(
        cfg,
        pretrain=dataclasses.replace(
            cfg.pretrain,
            batch_size=uc.batch_size,
            max_steps_per_epoch=uc.max_steps_per_epoch,
            knn_every=0,
        ),
    )


class _UMMTraining(TrainingTask):
    """One UMM epoch for the :class:`~drac_ssl.engine.Engine`: the bi-level step, its logs
    and the guard."""

    def __init__(self, cfg: Config, model: VICRegModel, head: AfterCut,
                 tuned: dict[str, torch.nn.Parameter], optimizers: UMMOptimizers,
                 loss_fn: VICRegLoss, feed: pretrain.TwoViewFeed, bf16: bool, source: Path,
                 out_dir: Path, device: torch.device, probe_images: Any = None) -> None:
        self.cfg, self.uc, self.model, self.head, self.tuned = cfg, cfg.umm, model, head, tuned
        self.device = device
        self.probe_images = probe_images  # None: no probe (pretrain.monitor_images < 2)
        self.probe: MonitorProbe | None = None
        self.probe_start: dict[str, float] | None = None
        self.out_dir = out_dir
        self.optimizers, self.loss_fn, self.feed, self.bf16, self.source = (
            optimizers, loss_fn, feed, bf16, source)
        self.source_sha256 = _sha256_or_none(source)  # the checkpoint's record: a moved folder resumes
        self.steps_per_epoch = len(feed)
        self.pairs_per_step = self.uc.batch_size
        self.groups = list(parameter_groups(list(tuned)))
        self.keys = step_keys(self.groups)
        self.watched = ["ssl_loss", "inner_loss", "rate_reduction_last"] + (
            ["outer_objective"] if self.uc.use_rate_reduction else [])
        self.ssl_start: float | None = None
        self.guard_reason = ""
        self.early_cache = EarlyFeatureCache()  # outer_batch=next: step i's outer batch is step i+1's inner

    def batches(self, epoch: int) -> Iterator[Any]:
        """The epoch's batches of two views; with ``umm.outer_batch=next`` each paired with the
        next one (:func:`~drac_ssl.umm.step.with_next_batch`), F's batch."""
        if self.uc.outer_on_next_batch:
            return with_next_batch(self.feed.epoch(epoch))
        return self.feed.epoch(epoch)

    def begin_epoch(self, epoch: int) -> None:
        if self.probe_images is not None and self.probe_start is None:
            self.probe_start = self.measure_probe()
            print(f"[umm] rate reduction of the starting model on pretraining's probe "
                  f"({len(self.probe.indices)} images): last {self.probe_start['rate_reduction_last']:.4f}, "
                  f"early {self.probe_start['rate_reduction_early']:.4f} (the figure pretraining's "
                  f"monitor logs)")
        if self.ssl_start is None:
            self.ssl_start = self.measure_ssl_start()
            print(f"[umm] SSL loss of the starting model on the first epoch's batches: "
                  f"{self.ssl_start:.4f}")
        self.head.train()
        if not self.uc.tune_expander:
            self.model.expander.eval()
        self.early_cache.clear()

    def measure_probe(self) -> dict[str, float]:
        """Pretraining's monitor (:func:`drac_ssl.pretrain.rate_reduction_monitor`) on its fixed
        probe: the same ``pretrain.monitor_images`` images and views (seed ``run.seed``), eval
        mode, so UMM's figures continue pretraining's curve on its scale. Draws on no random
        generator of the training (the probe's views come from their own seeds)."""
        if self.probe is None:
            self.probe = build_monitor_probe(self.probe_images, self.cfg)
        return rate_reduction_monitor(self.model.backbone, self.probe, self.cfg, self.device, self.bf16)

    @torch.no_grad()
    def measure_ssl_start(self) -> float:
        """The mean SSL loss of the starting model on epoch 0's batches (train-mode batch
        statistics, as in the steps; running statistics untouched; no update)."""
        self.head.train()
        if not self.uc.tune_expander:
            self.model.expander.eval()
        state = {**{k: b.detach().clone() for k, b in self.head.named_buffers()},
                 **dict(self.head.named_parameters())}
        total, count = 0.0, 0
        for view_a, view_b in self.feed.epoch(0):
            h_a = early_features(self.model, view_a, self.uc.early_cut, self.bf16)
            h_b = early_features(self.model, view_b, self.uc.early_cut, self.bf16)
            terms = inner_objective(self.head, h_a, h_b, self.loss_fn, beta=self.uc.beta,
                                    use_js=False, state=state, monitor_js=False)
            total += float(terms.ssl.loss)
            count += 1
        return total / max(count, 1)

    def step(self, batch: Any, step: int) -> dict[str, torch.Tensor]:
        outer_views = None
        if self.uc.outer_on_next_batch:
            batch, outer_views = batch
        view_a, view_b = batch
        return umm_step(self.model, self.head, self.tuned, view_a, view_b, self.uc, self.loss_fn,
                        self.optimizers, self.bf16, outer_views=outer_views, early_cache=self.early_cache)

    def epoch_monitors(self, epoch: int, row: dict[str, Any]) -> dict[str, Any]:
        self.early_cache.clear()  # the last step's outer batch, the epoch's first: not used again
        out: dict[str, Any] = {}
        if self.ssl_start and row.get("ssl_loss") is not None:
            out["ssl_rise"] = round(row["ssl_loss"] / self.ssl_start - 1.0, 6)
        if self.probe_images is not None:
            out.update({PROBE_PREFIX + k: v for k, v in self.measure_probe().items()})
        return out

    def guard(self, epoch: int, row: dict[str, Any]) -> str | None:
        uc = self.uc
        rise = row.get("ssl_rise")
        if uc.max_ssl_rise > 0 and rise is not None and rise > uc.max_ssl_rise:
            self.guard_reason = (
                f"guard: the SSL loss rose {100 * rise:.1f}% above its start value "
                f"{self.ssl_start:.4g} (epoch mean {row['ssl_loss']:.4g}; limit "
                f"umm.max_ssl_rise={uc.max_ssl_rise}) in epoch {epoch + 1}")
            return self.guard_reason
        if uc.max_step_ratio > 0:
            high = {g: row.get(f"step_ratio_{g}") for g in self.groups}
            high = {g: v for g, v in high.items() if v is not None and v > uc.max_step_ratio}
            if high:
                self.guard_reason = (
                    f"guard: the outer step outgrew the inner one in epoch {epoch + 1} ("
                    + ", ".join(f"{g} {v:.3g}x" for g, v in high.items())
                    + f"; limit umm.max_step_ratio={uc.max_step_ratio})")
                return self.guard_reason
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizers": self.optimizers.state_dict(),
                "source": str(self.source.resolve()), "source_sha256": self.source_sha256,
                "ssl_start": self.ssl_start,
                "probe_start": self.probe_start}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizers.load_state_dict(state["optimizers"])
        if state.get("ssl_start") is not None:
            self.ssl_start = float(state["ssl_start"])
        if state.get("probe_start") is not None:
            self.probe_start = dict(state["probe_start"])

    def best_state(self) -> dict[str, Any] | None:
        return {"model": self.model.state_dict()} if self.uc.early_stop_on_rate_reduction else None

    def check_resume(self, state: dict[str, Any]) -> None:
        self._check_settings(state)
        if self.probe_images is not None and any(PROBE_KEY not in row for row in state.get("history", [])):
            last = self.out_dir / "checkpoints" / "last.pt"
            if not self.uc.early_stop_on_rate_reduction:
                # the monitor decides nothing: resume, its state started afresh on the probe's scale
                # (the engine reads it after this check), the probe's start not measured (the
                # weights are past it)
                state.update({"best_probe_rate_reduction": -math.inf, "best_epoch": -1, "bad_epochs": 0})
                self.probe_start = {"note": "not measured: resumed from a checkpoint saved before UMM "
                                            "measured pretraining's probe; its columns start at the "
                                            "resumed epoch"}
                print(f"[umm] note: {last} was saved before UMM measured pretraining's probe: "
                      f"its probe_* columns start at the resumed epoch (umm.early_stop_on_rate_reduction "
                      f"is off, so nothing is decided on them)")
                return
            raise ConfigError(
                f"{last}: this UMM run was saved before UMM measured its rate reduction on "
                f"pretraining's probe ({PROBE_KEY}); its early-stopping state holds the mean over "
                f"its training batches, another scale, and resuming would compare the two.\n"
                f"  fix: delete {self.out_dir} to run UMM again (its epochs are re-run), or give this "
                f"run its own folder: {python_command('drac_ssl.umm')} ... --run-dir NEW")

    def _check_settings(self, state: dict[str, Any]) -> None:
        """Refuse a checkpoint made with other settings (:func:`_resume_differences`)."""
        diffs = _resume_differences(state, self.cfg, self.source, self.out_dir, self.source_sha256)
        if diffs:
            run_dir = self.out_dir.parent
            reuse = (f", or {python_command('drac_ssl.train')} ... run.name=NEW run.reuse={run_dir} (takes the "
                     f"finished stages whose settings are equal)"
                     if (run_dir / "stages.json").is_file() else "")  # a run folder of drac_ssl.train
            raise ConfigError(
                f"{self.out_dir / 'checkpoints' / 'last.pt'}: this UMM run was made with other "
                f"settings (old -> new); resuming it would mix two configurations in one run:\n  "
                + "\n  ".join(diffs)
                + f"\n  fix: rerun with the settings it was made with (-c {self.out_dir / 'config.yaml'}); "
                f"or give the new settings their own folder: {python_command('drac_ssl.umm')} ... --run-dir NEW"
                f"{reuse}; or delete {self.out_dir} to start over.")

    def non_finite(self, epoch: int, means: dict[str, float], bad: list[str], last: Path) -> Exception:
        return UMMNonFiniteError(
            f"[umm] epoch {epoch + 1}: non-finite {', '.join(bad)} (epoch means: "
            + ", ".join(f"{k}={means[k]:.4g}" for k in self.keys)
            + f").\n  {checkpoint_kept_words(last)}\n"
            f"  fix: lower umm.outer_lr / umm.inner_lr / umm.alpha / umm.beta, or try "
            f"umm.hypergradient=neumann umm.neumann_steps=0; {self._new_folder_words()}.")

    def _new_folder_words(self) -> str:
        """Where a changed UMM setting can run: this folder refuses it (and the same settings
        diverge again), so a new one: a run of ``python -m drac_ssl.train`` taking this run's
        finished stages (``run.reuse``), or ``python -m drac_ssl.umm --run-dir NEW``."""
        run_dir = self.out_dir.parent
        if (run_dir / "stages.json").is_file():  # a run folder of python -m drac_ssl.train
            return (f"this run folder refuses a changed setting, so start a new one that takes "
                    f"its finished stages: "
                    f"{command_changes(new_run_pairs(run_dir), also='the changed setting')}")
        return ("this folder refuses a changed setting: give the new settings their own, "
                f"{python_command('drac_ssl.umm')} ... --run-dir NEW")

    def describe(self, row: dict[str, Any]) -> str:
        def num(key: str, fmt: str = ".3f") -> str:
            value = row.get(key)
            return "nan" if value is None else format(value, fmt)

        ratios = " ".join(f"{g} {num(f'step_ratio_{g}', '.2g')}" for g in self.groups)
        outer = (f" F(theta') {num('outer_objective')} dR(theta') {num('outer_rate_reduction')}"
                 f" outer/inner step {ratios}" if self.uc.use_rate_reduction else "")
        rise = f" ({100 * row['ssl_rise']:+.1f}%)" if row.get("ssl_rise") is not None else ""
        probe = f" probe dR last {num(PROBE_KEY)}" if PROBE_KEY in row else ""
        return (f"[umm] epoch {row['epoch'] + 1}/{self.uc.epochs} ssl {num('ssl_loss', '.4f')}{rise} "
                f"js {num('js', '.4f')} dR early {num('rate_reduction_early')} last "
                f"{num('rate_reduction_last')} view cos {num('view_cosine_last')}{probe}{outer} "
                f"{row['pairs_per_second']:.1f} pairs/s")

    def close(self) -> None:
        self.feed.close()  # stops the DataLoader workers of the CPU stream


def run(
    cfg: Config,
    run_dir: str | Path,
    data: pretrain.PretrainData | None = None,
    checkpoint: str | Path | StartPoint | None = None,
    stop_after_epoch: int | None = None,
    data_dir: str | Path | None = None,
) -> UMMResult:
    """Run (or resume) UMM; returns the output paths and the per-epoch history.

    Args:
        cfg: the resolved configuration (``cfg.umm`` and the model/augmentation of
            ``cfg.pretrain``).
        run_dir: the run folder; outputs go to ``run_dir/umm``; resumes from
            ``run_dir/umm/checkpoints/last.pt`` when present.
        data: the image pool (default: :func:`drac_ssl.pretrain.load_pretrain_data`).
        checkpoint: the pretrained model (a path, or a :class:`StartPoint` already
            resolved, e.g. in another run folder); default: the one ``umm.start_from`` picks
            in ``run_dir/pretrain`` (:mod:`drac_ssl.umm.source`).
        stop_after_epoch: end after that epoch (0-based) as if interrupted (resume tests).
        data_dir: the ingest output for DRAC when ``data`` is None (default ``run_dir/data``).

    Raises:
        FileNotFoundError: no pretrained model: ``checkpoint`` is not a file, the one
            ``umm.start_from`` picks does not exist (not pretrained yet, or its
            ``checkpoints/`` removed: ``run.keep_checkpoints=false``).
        ValueError: ``umm.start_from`` cannot be met (``peak`` / ``past_peak`` without the
            rate-reduction monitor in the pretraining history; ``past_peak`` before the
            pretraining passed the peak by ``umm.past_peak_drop``); the checkpoint's
            architecture does not match the configuration, or it does not load into the
            VICReg model (e.g. a ``backbone.safetensors`` without expander); ``umm.batch_size``
            larger than the number of images.
        ConfigError: a UMM setting outside its choices or range (:func:`check_settings`:
            ``umm.early_cut``, ``hypergradient``, ``hvp``, ``inner_optimizer``,
            ``outer_sign``, ``membership``, ``start_from``; a float setting that is NaN or
            inf; ``umm.alpha`` out of its range; ``batch_size < 2``; ``epochs``,
            ``inner_lr``, ``eps2``, ``fd_radius``, ``membership_temperature`` not > 0;
            ``outer_lr``, ``beta``, ``neumann_steps``, ``patience``,
            ``max_steps_per_epoch``, ``max_ssl_rise``, ``max_step_ratio`` < 0;
            ``past_peak_drop`` outside [0, 1)); ``run.tensorboard`` without an importable
            TensorBoard; a pretrained model that reads other channels than the data; or
            ``run_dir/umm`` holds a checkpoint made with other settings (resume refused).
        RuntimeError: ``run.device`` is not a device this machine has
            (:func:`drac_ssl.runtime.resolve_device`).
        UMMNonFiniteError: a loss became NaN/inf (the last good checkpoint is kept).
    """
    uc = cfg.umm
    check_settings(uc)
    if cfg.run.tensorboard:
        require_tensorboard()
    run_dir = Path(run_dir)
    out_dir = run_dir / "umm"
    start = checkpoint if isinstance(checkpoint, StartPoint) else \
        resolve_start(run_dir, checkpoint, uc.start_from, uc.past_peak_drop)
    source = start.path
    cfg = with_checkpoint_channels(cfg, source)  # in_channels 0: the pretrained backbone's
    device = resolve_device(cfg.run.device)
    probe = uses_probe(cfg)
    engine = Engine("umm", out_dir, epochs=uc.epochs, config=to_dict(cfg), seed=cfg.run.seed,
                    tensorboard=cfg.run.tensorboard,
                    monitor=Monitor(PROBE_KEY if probe else MONITOR_KEY, mode="max",
                                    patience=uc.patience if uc.early_stop_on_rate_reduction else 0,
                                    state_key="best_probe_rate_reduction" if probe else "best_rate_reduction",
                                    stop_message="early stopping: the last-layer rate reduction "
                                                 + ("on pretraining's probe " if probe else "")
                                                 + "did not improve for {patience} epochs"))
    bf16 = use_bf16(cfg, device)

    model = load_pretrained_model(cfg, source).to(device)
    model.backbone.freeze_until(uc.early_cut)
    if not uc.tune_expander:
        for p in model.expander.parameters():
            p.requires_grad_(False)
    for stage in model.backbone.stage_modules(uc.early_cut):
        make_batch_norm_composable(stage)  # exact third derivatives (see ComposableBatchNorm)
    make_batch_norm_composable(model.expander)
    head = AfterCut(model, uc.early_cut)
    tuned = {name: p for name, p in head.named_parameters() if p.requires_grad}
    optimizers = build_optimizers(list(tuned.values()), uc)
    loss_fn = VICRegLoss.from_config(cfg.pretrain.loss)

    feed_cfg = feed_config(cfg)
    if data is None:
        data = pretrain.load_pretrain_data(
            feed_cfg, Path(data_dir) if data_dir is not None else run_dir / "data"
        )
    # the pretrained backbone must read the data's channels: a clear error otherwise
    if data.channels != cfg.pretrain.backbone.in_channels:
        raise ConfigError(
            f"{source}: the pretrained model reads {cfg.pretrain.backbone.in_channels} channel(s) "
            f"but the data ({data.description}) has {data.channels}; nothing is converted "
            f"silently.\n  fix: pretrain again on this data (run.stages=[pretrain,umm,...]), or "
            f"re-ingest it with data.channels={cfg.pretrain.backbone.in_channels}")
    if len(data.images) < uc.batch_size:
        raise ValueError(
            f"umm.batch_size={uc.batch_size} is larger than the {len(data.images)} images.\n"
            f"  fix: umm.batch_size={max(2, len(data.images))} or add images."
        )
    feed = pretrain.TwoViewFeed(data.images, feed_cfg, device, DistInfo(), stage="umm")
    if uc.outer_on_next_batch and len(feed) < 2:
        # name only the setting(s) that leave one batch: the images, or the step cap
        fixes = []
        if len(data.images) // uc.batch_size < 2:  # two batches of 2 or more need 4 images
            fixes.append(f"umm.batch_size={len(data.images) // 2} (two batches or more)" if len(data.images) >= 4
                         else f"4 images or more (two batches of 2; {len(data.images)} give one)")
        if uc.max_steps_per_epoch == 1:
            fixes.append("umm.max_steps_per_epoch=0 (the full epoch) or >= 2")
        fixes.append("umm.outer_batch=same")
        raise ValueError(
            f"umm.outer_batch=next takes F on the epoch's next batch, but an epoch here has "
            f"{len(feed)} batch ({len(data.images)} images, umm.batch_size={uc.batch_size}, "
            f"umm.max_steps_per_epoch={uc.max_steps_per_epoch}): it would be the same batch.\n"
            f"  fix: {', or '.join(fixes)}")
    task = _UMMTraining(cfg, model, head, tuned, optimizers, loss_fn, feed, bf16, source, out_dir,
                        device, probe_images=data.images if probe else None)
    engine.resume(task, map_location=device)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out_dir / "config.yaml")
    atomic_write_json(out_dir / "environment.json", environment_info())
    groups = task.groups
    stepped = outer_step_groups(uc, groups) if uc.use_rate_reduction else []
    objective = describe_objective(uc)
    print(
        f"[umm] {source} ({start.rule}: {start.reason}) -> {out_dir}: frozen up to {uc.early_cut}, "
        f"tuning {sum(p.numel() for p in tuned.values()):,} parameters; outer objective "
        f"{objective}, membership {uc.membership}"
        f"{f' (tau {uc.membership_temperature:g})' if uc.membership == 'soft' else ''}, outer step on "
        f"{', '.join(stepped) or 'nothing'}"
        f"{' (F on the next batch)' if uc.outer_on_next_batch else ''}"
        f"{' (Delta R on the expander outputs)' if uc.rate_reduction_on == 'embedding' and uc.use_rate_reduction else ''}"
        f"; {uc.hypergradient}"
        f"{f' K={uc.neumann_steps}' if uc.hypergradient == 'neumann' else ''}, hvp {uc.hvp}, "
        f"JS {'on' if uc.use_js else 'off'}, {uc.inner_optimizer}/adam lr {uc.inner_lr:g}/{uc.outer_lr:g}"
    )
    pretrain_rows = pretrain_history(run_dir / "pretrain") or pretrain_history(source.parent) \
        or pretrain_history(source.parent.parent)
    monitored = [int(r["epoch"]) for r in pretrain_rows if finite_number(r.get(MONITOR_KEY)) is not None]
    note = start_note(start, max(monitored, default=None))
    if note:  # methods.md section 2: UMM is meant for a model past the monitor's peak
        print(f"[umm] note: {note}")
    result = engine.run(task, stop_after_epoch)
    backbone_path, model_path, metadata_path = (
        out_dir / "backbone.safetensors",
        out_dir / "vicreg_model.safetensors",
        out_dir / "metadata.json",
    )
    history, best_epoch, stopped = result.history, result.best_epoch, result.stopped
    guard_fired = stopped.startswith("guard:")
    if stopped == "interrupted":
        return UMMResult(out_dir, backbone_path, model_path, metadata_path, history,
                         best_epoch, "interrupted", start, guard_fired)

    best_path = engine.best
    use_best = uc.early_stop_on_rate_reduction and best_path.exists()
    final_state = load_checkpoint(best_path)["model"] if use_best else model.state_dict()
    if use_best:
        out_epoch = best_epoch
    elif guard_fired:  # the engine rolled the model back to the last epoch that passed
        out_epoch = int(load_checkpoint(engine.last)["epoch"])
    else:
        out_epoch = history[-1]["epoch"] if history else -1
    backbone_state = {
        k[len("backbone.") :]: v for k, v in final_state.items() if k.startswith("backbone.")
    }
    meta = pretrain.backbone_metadata(cfg, data, history, out_epoch, stage="umm")
    chosen = next((r for r in history if r["epoch"] == out_epoch), {})
    meta["metrics"] = {k: chosen.get(k) for k in [*task.keys, *(k for k in chosen if k.startswith(PROBE_PREFIX))]
                       if k in chosen}
    meta["stopped"] = stopped
    stages = list(model.backbone.stage_names)
    meta["umm"] = {
        "source": str(source.resolve()),
        "source_sha256": task.source_sha256,
        "start": start.to_json(),
        "early_cut": uc.early_cut,
        "tuned": stages[stages.index(uc.early_cut) + 1 :]
        + (["expander"] if uc.tune_expander else []),
        "outer_objective": objective,
        "membership": uc.membership,
        "membership_temperature": uc.membership_temperature,
        "outer_batch": uc.outer_batch,
        "rate_reduction_on": uc.rate_reduction_on,
        "outer_step_groups": stepped,
        "excluded_from_outer_step": [g for g in groups if g not in stepped],
        "ssl_start": task.ssl_start,
        "monitor": (f"{PROBE_KEY} (pretraining's rate-reduction monitor: its fixed probe of "
                    f"{min(cfg.pretrain.monitor_images, len(data.images))} images, eval mode)" if probe
                    else f"{MONITOR_KEY} (the mean over the epoch's training batches: "
                         f"pretrain.monitor_images < 2, no probe)"),
        "probe_start": task.probe_start,
        "guard": {"max_ssl_rise": uc.max_ssl_rise, "max_step_ratio": uc.max_step_ratio,
                  "fired": guard_fired, "reason": stopped if guard_fired else ""},
        "weights": ("best last-layer rate reduction" if use_best else
                    f"epoch {out_epoch + 1}, the last that passed the guard" if guard_fired and out_epoch >= 0
                    else "the starting weights (the first epoch failed the guard)" if guard_fired
                    else "last epoch"),
    }
    if note:
        meta["umm"]["start_note"] = note
    save_weights(backbone_path, backbone_state, {"format": "drac_ssl backbone v1"})
    save_weights(model_path, final_state)
    atomic_write_json(metadata_path, meta)
    if history:
        _plot_history(out_dir, history, groups)
    if pretrain_rows:
        plot_start_point(pretrain_rows, start, out_dir / "plots" / "umm_start.png")
    print(f"[umm] {stopped}; weights of {meta['umm']['weights']} -> {backbone_path}")
    # report.md's warning, in the same words, and the run's clause if it is a trial
    if words := stage_collapse_warning(meta, "umm", run_dir):
        print(f"[umm] warning: {words}")
    return UMMResult(out_dir, backbone_path, model_path, metadata_path, history, out_epoch,
                     stopped, start, guard_fired)
