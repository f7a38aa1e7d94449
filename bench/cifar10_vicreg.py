"""CIFAR-10 VICReg correctness run (issue #3): ResNet-18, 100 epochs, k-NN and linear probe.

Pretrains with the package's own stage (``drac_ssl.pretrain.run``) and ``configs/cifar10.yaml``
on the full CIFAR-10 training set from ../shared (or --data / data.root=: one path for
pretraining and evaluation), then evaluates the frozen
backbone on the test set: k-NN top-1 (k = 20 and 200) and a linear probe (methods.md
section 3). Writes ``bench/results/cifar10_vicreg.json`` and a curve plot.

    python -m bench.cifar10_vicreg --epochs 100 [--out-dir DIR] [overrides ...]

Needs a GPU for the full run (goal: 100 epochs in under 4 minutes on one H200 at the
model-only ceiling; the first H100 run, before the recipe and speed fixes of issue #15, took
716 s). CPU smoke test (about a minute on one CPU thread once the archive is decoded; the
first run decodes it into ./data/cache, about a minute more; ``bench/gpu_check.sh cpu-smoke``
runs a similar one on a small fake archive)::

    python -m bench.cifar10_vicreg --epochs 1 --eval-limit 200 --run-dir /tmp/cifar10_smoke/run \
        --out-dir /tmp/cifar10_smoke pretrain.max_steps_per_epoch=2 pretrain.batch_size=32 \
        pretrain.compile=false

``--eval-limit N`` thins the evaluation and the k-NN monitor during pretraining alike
(``pretrain.knn_limit=N`` unless the command sets it; with the config's ``knn_limit: 0`` the
monitor scored all 60k images before the first step). A run that is not the
full protocol (fewer than 100 epochs, ``--eval-limit``, ``pretrain.max_steps_per_epoch``) is a
smoke run: by default it writes ``cifar10_vicreg_smoke.json`` / ``_curve.png`` (never the
committed figures), records ``"smoke": true`` and its reasons; ``bench/summarize.py`` leaves it
out of the README.

The seed report's 76.67 % (docs/methods.md section 3) is a reference, never a pass mark: the
result's ``seed_report_comparison`` says it is not comparable and lists why from the run's own
settings (:func:`seed_report_comparison`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import (
    RESULTS,
    data_root,
    monitor_limit_overrides,
    shortened_settings,
    smoke_result_name,
    write_result,
)
from bench.pretraining import evaluated_weights, run_bench_main, run_pretraining, speed_goal
from drac_ssl import pretrain
from drac_ssl.config import Config, load_config, to_dict
from drac_ssl.evaluation import embed_images, linear_probe, refuse_non_finite_features
from drac_ssl.metrics import knn_accuracy
from drac_ssl.models import build_backbone, load_local_weights
from drac_ssl.runtime import resolve_device, use_compile
from drac_ssl.starting import python_command

SEED_REPORT_LINEAR = 76.67  # VICReg ResNet-34, 100 epochs (project seed report)
SEED_REPORT_STATES = ("VICReg ResNet-34 on CIFAR-10, 100 epochs, LARS, batch 128: 76.67 % linear "
                      "(docs/methods.md section 3, unattributed); nothing else of its recipe or its probe")
"""All the seed report says of itself, quoted in every result's ``seed_report_comparison``."""
SEED_REPORT_SETTINGS = {"arch": "resnet34", "batch_size": 128, "optimizer": "lars", "epochs": 100}
"""The seed report's stated settings, in this package's config words (``pretrain.backbone.arch``,
``pretrain.batch_size``, ``pretrain.optimizer``, ``pretrain.epochs``)."""
PROBE_DIFFERENCE = "an un-augmented, standardised linear probe (the seed report names none)"
"""How this bench's probe (:func:`probe_protocol`) differs from the seed report's: in every run."""
PROTOCOL_EPOCHS = 100  # the full protocol; fewer epochs is a smoke run
GOAL_LINEAR_100 = 83.0  # issue #15: linear top-1 at 100 epochs
GOAL_SECONDS_100 = 240.0  # issue #15: 100 epochs of pretraining on one H200
UMM_PAPER_VICREGL_LINEAR = 90.99  # ResNet-18 VICRegL, UMM paper (long schedule)


def smoke_reasons(epochs: int, eval_limit: int, max_steps_per_epoch: int, dataset: str = "cifar10",
                  probe_epochs: int = 100, shortened: Sequence[str] = ()) -> list[str]:
    """Why a run is not the full protocol (empty list: it is); any reason makes it a smoke run:
    fewer than 100 epochs, ``--eval-limit``, ``pretrain.max_steps_per_epoch``, another
    ``data.dataset``, fewer ``--probe-epochs`` than 100, or the other shortenings of
    ``configs/cifar10.yaml`` that :func:`bench.common.shortened_settings` finds (``shortened``:
    fewer ``*.epochs`` of another stage, a ``*.max_steps_per_epoch`` cap, fewer ``*.n_boot``
    draws). Other changes (a smaller batch, another learning rate) are not counted: they are
    a different protocol, not a shorter one, and the result file records every setting."""
    reasons = []
    if dataset != "cifar10":
        reasons.append(f"data.dataset={dataset}, not cifar10")
    if epochs < PROTOCOL_EPOCHS:
        reasons.append(f"{epochs} epoch(s), not {PROTOCOL_EPOCHS}")
    if eval_limit:
        reasons.append(f"--eval-limit {eval_limit}")
    if max_steps_per_epoch:
        reasons.append(f"pretrain.max_steps_per_epoch={max_steps_per_epoch}")
    if probe_epochs < 100:
        reasons.append(f"--probe-epochs {probe_epochs}, not 100")
    reasons += [r for r in shortened if not r.startswith(("pretrain.epochs=", "pretrain.max_steps_per_epoch=",
                                                           "data.dataset="))]
    return reasons


def result_name(name: str | None, reasons: list[str], out_dir: Path | None = None) -> str:
    """``name``, else ``cifar10_vicreg`` (the committed figures), or ``cifar10_vicreg_smoke`` for a
    smoke run, so a trial never overwrites the committed file by default; a chosen ``name`` over
    full figures in ``out_dir`` is refused (``smoke_result_name``)."""
    return smoke_result_name("cifar10_vicreg", reasons, name, out_dir=out_dir)


def _arch_words(arch: str) -> str:
    """``resnet18`` -> ``ResNet-18`` (the architecture as the papers write it)."""
    return f"ResNet-{arch[len('resnet'):]}" if arch.startswith("resnet") else arch


def seed_report_comparison(pretrain_settings: dict[str, Any], epochs_run: int,
                           reasons: Sequence[str] = ()) -> dict[str, Any]:
    """How a run's linear top-1 stands to the seed report's 76.67 %: not comparable, and why.

    The seed report states a handful of facts (:data:`SEED_REPORT_STATES`) and no probe, so no run of
    this bench is like for like with it: ``comparable`` is always false, and the record holds
    no verdict (an earlier ``beats_seed_report`` boolean read as pass or fail; review of the
    methods, F1). ``differences`` lists, from the run's own settings, each stated fact it
    departs from (architecture, batch, optimiser, epochs), then the probe
    (:data:`PROBE_DIFFERENCE`), then a smoke run's reasons.

    Args:
        pretrain_settings: the ``pretrain`` section of the resolved config as
            :func:`drac_ssl.config.to_dict` writes it (a result file's ``config["pretrain"]``
            gives the same record): ``backbone.arch``, ``batch_size``, ``optimizer`` are read.
        epochs_run: pretraining epochs the evaluated run had.
        reasons: :func:`smoke_reasons` (empty for the full protocol).

    Returns:
        ``{"comparable": False, "seed_report_linear_top1": 76.67, "seed_report_states": ...,
        "differences": [str, ...]}``.
    """
    seed = SEED_REPORT_SETTINGS
    arch = str((pretrain_settings.get("backbone") or {}).get("arch", "?"))
    differences = []
    if arch != seed["arch"]:
        differences.append(f"{_arch_words(arch)}, not {_arch_words(str(seed['arch']))}")
    batch = pretrain_settings.get("batch_size")
    if batch != seed["batch_size"]:
        differences.append(f"batch {batch}, not {seed['batch_size']}")
    optimizer = str(pretrain_settings.get("optimizer", "?"))
    if optimizer != seed["optimizer"]:
        differences.append(f"optimiser {optimizer}, not {str(seed['optimizer']).upper()}")
    if epochs_run != seed["epochs"]:
        differences.append(f"{epochs_run} epochs, not {seed['epochs']}")
    differences.append(PROBE_DIFFERENCE)
    if reasons:
        differences.append(f"a smoke run: {'; '.join(reasons)}")
    return {"comparable": False, "seed_report_linear_top1": SEED_REPORT_LINEAR,
            "seed_report_states": SEED_REPORT_STATES, "differences": differences}


def verdict_lines(linear_top1: float, epochs_run: int, goals: dict[str, Any], comparison: dict[str, Any],
                  pretrain_seconds: float) -> list[str]:
    """The console's closing block (lines without the ``[bench]`` prefix): what the bench judges
    and its marks (issue #15: linear top-1 >= :data:`GOAL_LINEAR_100` % at 100 epochs, 100 epochs
    of pretraining under :data:`GOAL_SECONDS_100` s), this run's figures and verdicts (``goals``
    as the result file records them: True, False or ``"not applicable: ..."``), and the reference
    figure (``comparison``: :func:`seed_report_comparison`) with why it is not comparable. The
    console ended on the k-NN and linear figures alone, with no mark or reference beside them.
    The speed line names the run's device (``goals["measured_on"]``); off an H200 its seconds are
    "not comparable" with the H200 mark, whatever the record's boolean says."""
    def said(goal: bool | str) -> str:
        if isinstance(goal, str):
            return "not judged (" + goal.removeprefix("not applicable: ") + ")"
        return "met" if goal else "not met"

    measured_on = str(goals.get("measured_on") or "an unrecorded device")
    speed = goals["pretrain_100_epochs_under_240_s"]
    speed_said = (said(speed) if isinstance(speed, str) or "H200" in measured_on.upper()
                  else "not comparable (the mark is for an H200)")

    smoke = [d for d in comparison["differences"] if d.startswith("a smoke run")]
    differences = [d for d in comparison["differences"] if d not in smoke]
    return ["verdict:",
            f"  mark: linear top-1 >= {GOAL_LINEAR_100:g} % after {PROTOCOL_EPOCHS} epochs (issue #15); this run "
            f"{linear_top1:.2f} % after {epochs_run} epoch(s): "
            f"{said(goals['linear_top1_at_100_epochs_ge_83'])}",
            f"  mark: {PROTOCOL_EPOCHS} epochs of pretraining under {GOAL_SECONDS_100:g} s on one H200; this run "
            f"{pretrain_seconds:.1f} s (this run on {measured_on}): {speed_said}",
            f"  reference: the seed report's {comparison['seed_report_linear_top1']:.2f} % linear (VICReg ResNet-34, "
            f"100 epochs): not comparable ({'; '.join(differences)})",
            "  not shown: " + ("how good the features are: a smoke run checks that the protocol runs"
                               if smoke else "whether it repeats: one pretraining at one seed")]


def knn_ks(n_train: int, ks: tuple[int, ...] = (20, 200)) -> tuple[int, ...]:
    """The k of k-NN worth scoring: k below the number of training images (at k >= that the
    vote runs over every image and says nothing about the features)."""
    return tuple(k for k in ks if k < n_train)


def _pct(x: float | None) -> str:
    return "skipped (k >= training images)" if x is None else f"{x:.2f}%"


def eval_splits(data: str, eval_limit: int = 0) -> tuple[Any, Any]:
    """CIFAR-10 train and test splits (evenly thinned to about ``eval_limit`` images for smoke tests)."""
    from drac_ssl.datasets import load_generic

    train = load_generic("cifar10", data, "train", cache_dir=pretrain.default_cache_dir())
    test = load_generic("cifar10", data, "test", cache_dir=pretrain.default_cache_dir())
    if eval_limit:
        for split in (train, test):  # evenly spaced, so every class is present
            keep = slice(None, None, max(1, len(split.images) // eval_limit))
            split.images, split.labels = split.images[keep], split.labels[keep]
    return train, test


def evaluate_backbone(cfg: Config, backbone_path: str | Path, train: Any, test: Any, device: torch.device,
                      probe_epochs: int = 100) -> dict[str, Any]:
    """k-NN (k = 20, 200) and linear-probe top-1 (%) of a frozen backbone (methods.md section 3).
    k is capped at the training images; ``knn_ks`` says which k mean something."""
    backbone = build_backbone(cfg.pretrain.backbone)
    load_local_weights(backbone, backbone_path)
    backbone = backbone.to(device)
    bf16 = pretrain.use_bf16(cfg, device)
    channels_last = cfg.pretrain.channels_last and device.type == "cuda"
    if channels_last:
        backbone = backbone.to(memory_format=torch.channels_last)
    aug = cfg.pretrain.augment
    ftr = embed_images(backbone, train.images, aug.recipe, aug.image_size, device, autocast=bf16,
                       channels_last=channels_last)
    fte = embed_images(backbone, test.images, aug.recipe, aug.image_size, device, autocast=bf16,
                       channels_last=channels_last)
    refuse_non_finite_features(str(backbone_path), ftr, fte)  # k-NN: nan%, the probe: a believable 10.0
    ytr = torch.as_tensor(train.labels, device=device)
    yte = torch.as_tensor(test.labels, device=device)
    return {
        "knn_top1_k20": 100 * float(knn_accuracy(ftr, ytr, fte, yte, k=20)),
        "knn_top1_k200": 100 * float(knn_accuracy(ftr, ytr, fte, yte, k=200)),
        "probe": linear_probe(ftr, ytr, fte, yte, epochs=probe_epochs),
    }


def probe_protocol(probe_lr: float, probe_epochs: int) -> str:
    return (f"frozen pre-expander features of un-augmented images, standardised; SGD m0.9 "
            f"lr {probe_lr} cosine, {probe_epochs} epochs, wd 1e-6")


def time_to_accuracy(history: list[dict[str, Any]], targets: tuple[float, ...] = (80.0, 85.0)) -> dict[str, Any]:
    """Training minutes (sum of epoch times, monitors excluded) until the k-NN monitor first reaches each target."""
    out: dict[str, Any] = {}
    for target in targets:
        elapsed, hit = 0.0, None
        for row in history:
            elapsed += row["seconds"]
            if row.get("knn_top1") is not None and row["knn_top1"] >= target:
                hit = {"epoch": row["epoch"] + 1, "minutes": round(elapsed / 60, 2), "knn_top1": row["knn_top1"]}
                break
        out[f"knn_{target:g}"] = hit or "not reached"
    return out


def main(argv: list[str] | None = None) -> None:
    """The command; a Ctrl-C ends with what was saved and how to resume (exit code 130)."""
    run_bench_main(_main, argv)


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.cifar10_vicreg"), allow_abbrev=False, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--data", default=None,
                        help="the CIFAR-10 archive, for pretraining and evaluation alike (default: data.root of "
                             "the command's overrides, else configs/cifar10.yaml's, ../shared/data/cifar10/"
                             "cifar10_jpeg.tar.xz beside the repository); a data.root= that disagrees is an error")
    parser.add_argument("--run-dir", default="runs/bench-cifar10")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--name", default=None,
                        help="result name (default: cifar10_vicreg; for a smoke run cifar10_vicreg_smoke)")
    parser.add_argument("--probe-epochs", type=int, default=100)
    parser.add_argument("--eval-limit", type=int, default=0,
                        help="evaluate on about N evenly spaced images of each split (every class present; "
                             "CPU smoke test), and the k-NN monitor during pretraining too (pretrain.knn_limit=N "
                             "unless given); k-NN@k is recorded as null when k >= the training images kept, "
                             "as its vote would run over all of them; 0 = all")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_intermixed_args(argv)  # overrides on both sides of the options

    config = Path(__file__).resolve().parents[1] / "configs" / "cifar10.yaml"
    try:
        data = data_root(config, args.data, args.overrides)
    except ValueError as exc:
        parser.error(str(exc))
    cfg = load_config(config, [f"data.root={data}", f"pretrain.epochs={args.epochs}",
                               *monitor_limit_overrides(args.eval_limit, args.overrides), *args.overrides])
    reasons = smoke_reasons(cfg.pretrain.epochs, args.eval_limit, cfg.pretrain.max_steps_per_epoch,
                            cfg.data.dataset, args.probe_epochs,
                            shortened_settings(to_dict(load_config(config)), to_dict(cfg)))
    name = result_name(args.name, reasons, Path(args.out_dir))
    if reasons:
        print(f"[bench] smoke run ({'; '.join(reasons)}): checks that the protocol runs, not accuracy; "
              f"writes {name}.json")
    run = run_pretraining(cfg, args.run_dir)
    result, pretrain_seconds = run.result, run.seconds

    device = resolve_device(cfg.run.device)
    train, test = eval_splits(cfg.data.root, args.eval_limit)
    t1 = time.perf_counter()
    scores = evaluate_backbone(cfg, result.backbone_path, train, test, device, args.probe_epochs)
    eval_seconds = time.perf_counter() - t1
    usable = knn_ks(len(train.images))  # k-NN@k over every training image means nothing: null
    knn20, knn200, probe = (scores["knn_top1_k20"] if 20 in usable else None,
                            scores["knn_top1_k200"] if 200 in usable else None, scores["probe"])
    print(f"[bench] CIFAR-10 after {len(result.history)} epochs (evaluated: epoch {result.best_epoch + 1}, "
          f"{evaluated_weights(result.out_dir, result.best_epoch)['evaluated_checkpoint']}): k-NN@20 {_pct(knn20)}, "
          f"k-NN@200 {_pct(knn200)}, linear {probe.top1:.2f}%")

    train_seconds = sum(r["seconds"] for r in result.history)
    epochs_run = len(result.history)
    pc = cfg.pretrain
    curve = [{k: r.get(k) for k in ("epoch", "loss", "invariance", "variance", "covariance",
                                    "rate_reduction", "knn_top1", "lr", "seconds", "pairs_per_second")}
             for r in result.history]
    from drac_ssl.plots import plot_history

    out_dir = Path(args.out_dir)
    # the monitor's k-NN of the starting backbone (pretrain/metadata.json; absent without the monitor)
    knn_start = json.loads(Path(result.metadata_path).read_text()).get("knn_start_top1")
    plot_history(result.history, [k for k in ("loss", "rate_reduction", "knn_top1") if k in result.history[-1]],
                 out_dir / f"{name}_curve.png", f"CIFAR-10 VICReg ResNet-18 ({len(result.history)} epochs)",
                 baselines={"knn_top1": ("starting backbone", knn_start)} if knn_start is not None else None)
    goals = {
        "linear_top1_at_100_epochs_ge_83": (probe.top1 >= GOAL_LINEAR_100)
                                           if epochs_run == 100 and not reasons
                                           else f"not applicable: {'; '.join(reasons) or f'{epochs_run} epochs'}",
        "pretrain_100_epochs_under_240_s": speed_goal(pretrain_seconds < GOAL_SECONDS_100, epochs_run,
                                                      PROTOCOL_EPOCHS, reasons, run),
        "measured_on": str(torch.cuda.get_device_name(0)) if device.type == "cuda" else "cpu",
    }
    comparison = seed_report_comparison(to_dict(cfg)["pretrain"], epochs_run, reasons)
    write_result(name, {
        "smoke": bool(reasons),
        "smoke_reasons": reasons,
        "dataset": "CIFAR-10 (50k train unlabelled for pretraining; 10k test)",
        "model": "ResNet-18 (CIFAR stem), VICReg, expander " + cfg.pretrain.expander,
        "epochs": epochs_run,
        **evaluated_weights(result.out_dir, result.best_epoch),
        "batch_size": pc.batch_size,
        "lr": pc.lr,
        "optimizer": f"{pc.optimizer} (eta {pc.lars_eta}, clip_lr {pc.lars_clip_lr})" if pc.optimizer == "lars"
                     else pc.optimizer,
        "precision": "bf16" if pretrain.use_bf16(cfg, device) else "fp32",
        "compiled": use_compile(pc.compile, device),
        "pretrain_seconds": round(pretrain_seconds, 1),
        "pretrain_seconds_note": "wall time of pretrain.run in this invocation: data load, compile, every epoch, "
                                 "k-NN monitors, checkpoints; after a resume (resumed true) only part of the "
                                 "pretraining, the rest in pretraining.seconds_earlier_attempts",
        "resumed": run.resumed,
        "pretraining": run.record(),
        "train_seconds": round(train_seconds, 1),
        "first_epoch_seconds": result.history[0]["seconds"] if result.history else None,
        "median_epoch_seconds": round(float(np.median([r["seconds"] for r in result.history])), 3)
                                if result.history else None,
        "eval_seconds": round(eval_seconds, 1),
        "eval_images": {"train": len(train.images), "test": len(test.images)},
        "knn_top1_k20": None if knn20 is None else round(knn20, 2),
        "knn_top1_k200": None if knn200 is None else round(knn200, 2),
        "linear_probe_top1": round(probe.top1, 2),
        "linear_probe_protocol": probe_protocol(probe.lr, probe.epochs),
        "time_to_knn_accuracy": time_to_accuracy(result.history),
        "monitor_knn_top1_start": knn_start,
        "monitor_knn_top1_start_note": "the k-NN monitor (pretrain.knn_k, pretrain.knn_limit) on the starting "
                                       "backbone before any step: the curve's figures read against it",
        "time_to_accuracy_note": "training time only (sum of epoch times; k-NN monitor and checkpoints excluded), "
                                 "resolution = the k-NN monitor interval (pretrain.knn_every)",
        "baselines": {"seed_report_linear_resnet34_100ep": SEED_REPORT_LINEAR,
                      "umm_paper_vicregl_resnet18_linear": UMM_PAPER_VICREGL_LINEAR},
        "seed_report_comparison": comparison,
        "goals": goals,
        "curve": curve,
        "config": to_dict(cfg),
    }, out_dir)
    print("\n".join(f"[bench] {line}" for line in verdict_lines(probe.top1, epochs_run, goals, comparison,
                                                                 pretrain_seconds)))


if __name__ == "__main__":
    main()
