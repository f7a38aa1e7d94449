"""The UMM stage: ``run(cfg, run_dir) -> UMMResult`` (the orchestrator and the tests call it).

Loads the pretrained VICReg model (:mod:`drac_ssl.umm.source`), freezes it up to
``umm.early_cut``, swaps the BatchNorm layers of the tuned part for composable ones
(:mod:`drac_ssl.umm.layers`) and hands one UMM step per batch (:func:`drac_ssl.umm.step.umm_step`)
to the training engine (:class:`drac_ssl.engine.Engine`: resume, atomic checkpoints, early
stopping on the last-layer rate reduction when ``umm.early_stop_on_rate_reduction``,
history, TensorBoard, progress, non-finite stop). Single process: the bi-level step is not
wrapped in DDP.

Outputs in ``run_dir/umm``: ``backbone.safetensors``, ``vicreg_model.safetensors``,
``metadata.json`` (pretraining's format, stage ``umm``), ``metrics.csv`` /
``metrics.jsonl``, ``plots/umm_rate_reduction.png``, ``plots/umm_losses.png``,
``config.yaml`` and ``checkpoints/last.pt`` (every epoch, atomic, exact resume); with
``run.tensorboard=true`` also TensorBoard scalars ``umm/<key>`` in ``tensorboard/``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from drac_ssl import pretrain
from drac_ssl.checkpoint import load_checkpoint, save_weights
from drac_ssl.config import Config, ConfigError, UMMConfig, save_config, to_dict
from drac_ssl.distributed import DistInfo
from drac_ssl.engine import Engine, Monitor, TrainingTask
from drac_ssl.io import atomic_write_json
from drac_ssl.losses.vicreg import VICRegLoss
from drac_ssl.models import VICRegModel
from drac_ssl.runtime import environment_info, resolve_device, use_bf16
from drac_ssl.tensorboard_log import require_tensorboard
from drac_ssl.umm.bilevel import HVP_MODES, HYPERGRADIENTS
from drac_ssl.umm.layers import AfterCut, make_batch_norm_composable
from drac_ssl.umm.plots import plot_umm_history as _plot_history
from drac_ssl.umm.source import load_pretrained_model, resolve_checkpoint
from drac_ssl.umm.step import STEP_KEYS, UMMOptimizers, build_optimizers, umm_step

__all__ = ["EARLY_CUTS", "UMMNonFiniteError", "UMMResult", "feed_config", "run"]

EARLY_CUTS = ("layer2", "layer3")
INNER_OPTIMIZERS = ("sgd", "adam")
OUTER_SIGNS = ("maximize", "minimize")


class UMMNonFiniteError(RuntimeError):
    """A UMM loss became NaN or infinite; the run stopped, the last good checkpoint stays."""


@dataclass
class UMMResult:
    out_dir: Path
    backbone_path: Path
    model_path: Path
    metadata_path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    stopped: str = ""


def _validate(uc: UMMConfig) -> None:
    checks = {
        "umm.early_cut": (uc.early_cut, EARLY_CUTS),
        "umm.hypergradient": (uc.hypergradient, HYPERGRADIENTS),
        "umm.hvp": (uc.hvp, HVP_MODES),
        "umm.inner_optimizer": (uc.inner_optimizer, INNER_OPTIMIZERS),
        "umm.outer_sign": (uc.outer_sign, OUTER_SIGNS),
    }
    for key, (value, choices) in checks.items():
        if value not in choices:
            raise ConfigError(
                f"config: {key}={value!r} is not one of {', '.join(choices)}.\n  fix: {key}={choices[0]}"
            )
    if uc.batch_size < 2:
        raise ConfigError(
            f"config: umm.batch_size must be >= 2 (VICReg's variance needs it), got {uc.batch_size}."
        )
    for key, value in {
        "umm.epochs": uc.epochs,
        "umm.inner_lr": uc.inner_lr,
        "umm.eps2": uc.eps2,
        "umm.fd_radius": uc.fd_radius,
    }.items():
        if not value > 0:
            raise ConfigError(f"config: {key} must be > 0, got {value}.")
    for key, value in {
        "umm.outer_lr": uc.outer_lr,
        "umm.beta": uc.beta,
        "umm.neumann_steps": uc.neumann_steps,
        "umm.patience": uc.patience,
        "umm.max_steps_per_epoch": uc.max_steps_per_epoch,
    }.items():
        if value < 0:
            raise ConfigError(f"config: {key} must be >= 0, got {value}.")


def _resume_differences(state: dict[str, Any], cfg: Config, source: Path) -> list[str]:
    """What differs between a UMM checkpoint and this call (``umm.epochs`` may grow)."""
    old = state.get("config", {}).get("umm", {})
    new = to_dict(cfg)["umm"]
    diffs = [
        f"umm.{k}: {old.get(k)!r} -> {v!r}"
        for k, v in new.items()
        if k != "epochs" and old.get(k) != v
    ]
    if state.get("source") not in (None, str(source.resolve())):
        diffs.append(f"checkpoint: {state['source']} -> {source}")
    return diffs


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
    """One UMM epoch for the :class:`~drac_ssl.engine.Engine`: the bi-level step and its logs."""

    keys = STEP_KEYS

    def __init__(self, cfg: Config, model: VICRegModel, head: AfterCut,
                 tuned: dict[str, torch.nn.Parameter], optimizers: UMMOptimizers,
                 loss_fn: VICRegLoss, feed: pretrain.TwoViewFeed, bf16: bool, source: Path,
                 out_dir: Path) -> None:
        self.cfg, self.uc, self.model, self.head, self.tuned = cfg, cfg.umm, model, head, tuned
        self.out_dir = out_dir
        self.optimizers, self.loss_fn, self.feed, self.bf16, self.source = (
            optimizers, loss_fn, feed, bf16, source)
        self.steps_per_epoch = len(feed)
        self.pairs_per_step = self.uc.batch_size
        self.watched = ["ssl_loss", "inner_loss", "rate_reduction_last"] + (
            ["outer_objective"] if self.uc.use_rate_reduction else [])

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.feed.epoch(epoch)

    def begin_epoch(self, epoch: int) -> None:
        self.head.train()
        if not self.uc.tune_expander:
            self.model.expander.eval()

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        view_a, view_b = batch
        return umm_step(self.model, self.head, self.tuned, view_a, view_b, self.uc, self.loss_fn,
                        self.optimizers, self.bf16)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizers": self.optimizers.state_dict(),
                "source": str(self.source.resolve())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizers.load_state_dict(state["optimizers"])

    def best_state(self) -> dict[str, Any] | None:
        return {"model": self.model.state_dict()} if self.uc.early_stop_on_rate_reduction else None

    def check_resume(self, state: dict[str, Any]) -> None:
        diffs = _resume_differences(state, self.cfg, self.source)
        if diffs:
            raise ConfigError(
                f"{self.out_dir / 'checkpoints' / 'last.pt'}: this UMM run was made with other "
                f"settings:\n  " + "\n  ".join(diffs)
                + f"\n  fix: give the ablation its own folder (python -m drac_ssl.umm ... --run-dir NEW) "
                f"or delete {self.out_dir} to start over.")

    def non_finite(self, epoch: int, means: dict[str, float], bad: list[str], last: Path) -> Exception:
        return UMMNonFiniteError(
            f"[umm] epoch {epoch + 1}: non-finite {', '.join(bad)} (epoch means: "
            + ", ".join(f"{k}={means[k]:.4g}" for k in STEP_KEYS)
            + f").\n  The last good checkpoint {last} is kept.\n"
            f"  fix: lower umm.outer_lr / umm.inner_lr / umm.beta, or try umm.hypergradient=neumann "
            f"umm.neumann_steps=0.")

    def describe(self, row: dict[str, Any]) -> str:
        outer = (f" outer dR(theta') {row['outer_objective']:.3f}"
                 if row["outer_objective"] is not None else "")
        return (f"[umm] epoch {row['epoch'] + 1}/{self.uc.epochs} ssl {row['ssl_loss']:.4f} "
                f"js {row['js']:.4f} dR early {row['rate_reduction_early']:.3f} "
                f"last {row['rate_reduction_last']:.3f}{outer} {row['pairs_per_second']:.1f} pairs/s")

    def close(self) -> None:
        self.feed.close()  # stops the DataLoader workers of the CPU stream


def run(
    cfg: Config,
    run_dir: str | Path,
    data: pretrain.PretrainData | None = None,
    checkpoint: str | Path | None = None,
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
        checkpoint: the pretrained model (default ``run_dir/pretrain/vicreg_model.safetensors``).
        stop_after_epoch: end after that epoch (0-based) as if interrupted (resume tests).
        data_dir: the ingest output for DRAC when ``data`` is None (default ``run_dir/data``).

    Raises:
        FileNotFoundError: no pretrained model.
        ValueError: the checkpoint does not match the configured architecture, or the batch
            is larger than the data.
        ConfigError: bad UMM settings, or ``run_dir/umm`` holds a run with other settings.
        UMMNonFiniteError: a loss became NaN/inf (the last good checkpoint is kept).
    """
    uc = cfg.umm
    _validate(uc)
    if cfg.run.tensorboard:
        require_tensorboard()
    run_dir = Path(run_dir)
    out_dir = run_dir / "umm"
    source = resolve_checkpoint(run_dir, checkpoint)
    device = resolve_device(cfg.run.device)
    engine = Engine("umm", out_dir, epochs=uc.epochs, config=to_dict(cfg), seed=cfg.run.seed,
                    tensorboard=cfg.run.tensorboard,
                    monitor=Monitor("rate_reduction_last", mode="max",
                                    patience=uc.patience if uc.early_stop_on_rate_reduction else 0,
                                    state_key="best_rate_reduction",
                                    stop_message="early stopping: the last-layer rate reduction "
                                                 "did not improve for {patience} epochs"))
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
    if len(data.images) < uc.batch_size:
        raise ValueError(
            f"umm.batch_size={uc.batch_size} is larger than the {len(data.images)} images.\n"
            f"  fix: umm.batch_size={max(2, len(data.images))} or add images."
        )
    feed = pretrain.TwoViewFeed(data.images, feed_cfg, device, DistInfo())
    task = _UMMTraining(cfg, model, head, tuned, optimizers, loss_fn, feed, bf16, source, out_dir)
    engine.resume(task, map_location=device)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out_dir / "config.yaml")
    atomic_write_json(out_dir / "environment.json", environment_info())
    print(
        f"[umm] {source} -> {out_dir}: frozen up to {uc.early_cut}, tuning "
        f"{sum(p.numel() for p in tuned.values()):,} parameters ({uc.hypergradient}"
        f"{f' K={uc.neumann_steps}' if uc.hypergradient == 'neumann' else ''}, hvp {uc.hvp}, "
        f"JS {'on' if uc.use_js else 'off'}, rate reduction {uc.outer_sign if uc.use_rate_reduction else 'off'})"
    )
    result = engine.run(task, stop_after_epoch)
    backbone_path, model_path, metadata_path = (
        out_dir / "backbone.safetensors",
        out_dir / "vicreg_model.safetensors",
        out_dir / "metadata.json",
    )
    if result.stopped == "interrupted":
        return UMMResult(out_dir, backbone_path, model_path, metadata_path, result.history,
                         result.best_epoch, "interrupted")

    history, best_epoch, stopped = result.history, result.best_epoch, result.stopped
    best_path = engine.best
    use_best = uc.early_stop_on_rate_reduction and best_path.exists()
    final_state = load_checkpoint(best_path)["model"] if use_best else model.state_dict()
    out_epoch = best_epoch if use_best else (history[-1]["epoch"] if history else -1)
    backbone_state = {
        k[len("backbone.") :]: v for k, v in final_state.items() if k.startswith("backbone.")
    }
    meta = pretrain.backbone_metadata(cfg, data, history, out_epoch, stage="umm")
    chosen = next((r for r in history if r["epoch"] == out_epoch), {})
    meta["metrics"] = {k: chosen.get(k) for k in STEP_KEYS if k in chosen}
    meta["stopped"] = stopped
    stages = list(model.backbone.stage_names)
    meta["umm"] = {
        "source": str(source.resolve()),
        "early_cut": uc.early_cut,
        "tuned": stages[stages.index(uc.early_cut) + 1 :]
        + (["expander"] if uc.tune_expander else []),
        "weights": "best last-layer rate reduction" if use_best else "last epoch",
    }
    save_weights(backbone_path, backbone_state, {"format": "drac_ssl backbone v1"})
    save_weights(model_path, final_state)
    atomic_write_json(metadata_path, meta)
    if history:
        _plot_history(out_dir, history)
    print(f"[umm] {stopped}; weights of epoch {out_epoch + 1} -> {backbone_path}")
    return UMMResult(out_dir, backbone_path, model_path, metadata_path, history, out_epoch, stopped)
