"""UMM against its fair control, from the over-trained checkpoint, with ablations (issue #13).

The protocol of issue #13, on one dataset (``--dataset``):

1. **Pretrain long enough to pass the monitor's peak**: the package's own pipeline
   (``drac_ssl.train.run_pipeline``, stages ``ingest`` + ``pretrain``, early stopping off)
   in ``RUN_ROOT/base``; pretraining records the label-free rate-reduction monitor every
   epoch and keeps ``checkpoints/monitor_peak.pt`` and ``last.pt``
   (:mod:`drac_ssl.pretrain`). The start checkpoint is ``umm.start_from=past_peak``'s
   (:func:`drac_ssl.umm.choose_start`); when the run has not passed its peak the bench says
   so in the result file and uses the last checkpoint.
2. **Variants, all from that same checkpoint, for the same number of steps**
   (``umm.epochs`` x ``umm.max_steps_per_epoch``, the guard on as shipped; a variant the
   guard stops says so and how many steps it ran):

   * ``early_stopped`` (a): the monitor-peak checkpoint, no UMM;
   * ``overtrained`` (b): the start checkpoint itself, no UMM;
   * ``control`` (c): the fair control, ``umm.alpha=0`` (the same two-level step);
   * ``umm`` (d): UMM as configured (defaults: alpha 1, soft membership, JS on);
   * ``no_js`` (e): ``umm.use_js=false``;
   * ``pairs`` (f): ``umm.membership=pairs`` (hard pairs vs the soft default of ``umm``);
   * ``alpha_<a>`` (g): ``umm.alpha=<a>`` for every ``--alphas`` value;
   * on request: ``single_level`` (``umm.use_rate_reduction=false``) and ``pre13`` (the
     objective before issue #13: ``-Delta R`` alone with pairs, SGD inside at 1e-3, Adam
     outside at 1e-3).

   ``control`` and ``umm`` run for every ``--seeds`` value (``run.seed``: the order and
   the views of the UMM batches), the others for the first seed.
3. **Scores of every backbone**:

   * graded sets (``drac_phantom``, ``retinamnist``): the package's 5-fold cross-validated
     fine-tuning (``drac_ssl.finetune.run``: out-of-fold QWK with its bootstrap 95% CI, AUC,
     accuracy; same folds, head and budget for every variant), and k-NN (k = 20) / linear
     probe out-of-fold accuracy on the frozen features of the labelled pool (same folds);
   * ``cifar10``: k-NN (k = 20, 200) and linear probe on the test split
     (``bench.cifar10_vicreg.evaluate_backbone``).

   ``gain_over_control``: each variant minus the control (means over seeds).
   RetinaMNIST also writes the test-set submissions of ``control`` and ``umm`` (first
   seed) to ``retinamnist_umm_submission_{control,umm}.csv`` for the hidden labels.

Writes ``<out-dir>/umm_protocol_<dataset>.json`` after every variant (a run cut short keeps
what it finished) and ``umm_protocol_<dataset>.png``. ``--smoke``: a few steps of
everything, to check the wiring (never a result).

Datasets: ``drac_phantom`` (the embedded phantom UW-OCTA set, ``configs/default.yaml``),
``retinamnist`` (``../shared/data/retinamnist/retinamnist_public.npz``, the recipe of
``configs/retinamnist.yaml``), ``cifar10`` (``configs/cifar10.yaml``; ``--base RUN`` reuses a
pretrained run folder, e.g. the GPU session's).

    python -m bench.umm_ablation --dataset drac_phantom --smoke
    python -m bench.umm_ablation --dataset retinamnist --pretrain-epochs 200 --umm-epochs 10 \\
        --umm-steps 20 --seeds 0,1,2 --alphas 0.3,3

**The quick CIFAR-10 check** (``--checkpoint``; what ``bench/gpu_check.sh`` and
``bench/gpu_session.sh`` run): every named variant (``control`` = ``umm.alpha=0``, ``umm``,
``no_js``, ``single_level``, ``pairs``, ``outer_minimize``, ``cut_layer2`` /
``control_layer2``, ``outer_lr_1e-3``) from the given VICReg checkpoint, k-NN / linear probe
on the CIFAR-10 test set, in ``RUN_ROOT/<variant>``; writes ``NAME.json`` / ``NAME.png``
(``--name``, default ``umm_ablation``):

    python -m bench.umm_ablation --checkpoint RUN/pretrain/vicreg_model.safetensors \\
        [--data cifar10_jpeg.tar.xz] [--variants control,umm,...] [--name NAME] [umm.epochs=2 ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import (
    RESULTS,
    SHARED_DATA,
    data_root,
    given_backbone_epochs,
    smoke_fields,
    smoke_result_name,
    weights_metadata,
    write_result,
)
from drac_ssl import pretrain, umm
from drac_ssl.checkpoint import load_checkpoint, save_weights
from drac_ssl.config import Config, ConfigError, load_config, to_dict
from drac_ssl.run_state import read_stages_record
from drac_ssl.runtime import resolve_device
from drac_ssl.starting import python_command

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DATASETS = ("drac_phantom", "retinamnist", "cifar10")
RETINAMNIST_NPZ = SHARED_DATA / "retinamnist" / "retinamnist_public.npz"

BASE: dict[str, tuple[str, list[str]]] = {
    # dataset -> (config file, overrides); pretraining runs without early stopping so it can
    # pass the monitor's peak, with the k-NN monitor where labels exist
    "drac_phantom": ("default.yaml", ["pretrain.patience=0", "pretrain.knn_every=5"]),
    # RetinaMNIST: the package's own recipe (configs/retinamnist.yaml: RGB 28 px, ImageNet-stem
    # ResNet-18, full fine-tuning, fixed schedule, argmax), early stopping off
    "retinamnist": ("retinamnist.yaml", [
        f"data.root={RETINAMNIST_NPZ}", "pretrain.patience=0", "pretrain.knn_every=5"]),
    "cifar10": ("cifar10.yaml", ["pretrain.patience=0", "pretrain.knn_every=10"]),
}
SMOKE: dict[str, list[str]] = {
    "pretrain": ["pretrain.epochs=3", "pretrain.max_steps_per_epoch=2", "pretrain.monitor_images=16",
                 "pretrain.knn_every=1", "pretrain.num_workers=0", "pretrain.compile=false"],
    "umm": ["umm.epochs=2", "umm.max_steps_per_epoch=1", "umm.batch_size=8"],
    "finetune": ["finetune.epochs=2", "finetune.n_boot=50",
                 "finetune.frozen_train_views=1", "finetune.compare_scratch=false"],
}


def variant_settings(alphas: Sequence[float], extras: Sequence[str] = ()) -> dict[str, list[str]]:
    """The UMM variants of the module docstring: name -> ``umm.*`` overrides."""
    out: dict[str, list[str]] = {
        "control": ["umm.alpha=0"],
        "umm": [],
        "no_js": ["umm.use_js=false"],
        "pairs": ["umm.membership=pairs"],
    }
    for a in alphas:
        out[f"alpha_{a:g}"] = [f"umm.alpha={a:g}"]
    optional = {
        "single_level": ["umm.use_rate_reduction=false"],
        "pre13": ["umm.outer_ssl=false", "umm.membership=pairs", "umm.inner_optimizer=sgd",
                  "umm.inner_lr=1e-3", "umm.outer_lr=1e-3"],
    }
    for name in extras:
        if name not in optional:
            raise SystemExit(f"unknown extra variant {name!r}; choose from {', '.join(optional)}")
        out[name] = optional[name]
    return out


def seeds_for(name: str, seeds: Sequence[int]) -> list[int]:
    """``control`` and ``umm`` run for every seed, the other variants for the first."""
    return list(seeds) if name in ("control", "umm") else list(seeds[:1])


def _readiness(dataset: str, overrides: list[str], run_root: Path) -> None:
    """Stop before any work when the configuration cannot run (the package's preflight of every
    stage the protocol uses) or the RetinaMNIST file is missing."""
    if dataset == "retinamnist" and not RETINAMNIST_NPZ.is_file():
        raise SystemExit(f"RetinaMNIST not found at {RETINAMNIST_NPZ} (../shared/data/retinamnist/)")
    try:
        cfg = load_config(CONFIGS / BASE[dataset][0], overrides)
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    if dataset == "cifar10":
        return
    from drac_ssl import preflight

    stages = ["ingest", "pretrain", "umm", "finetune", "export"]
    errors = [f for f in preflight.check(cfg, run_root / "base", stages=stages) if f.severity == "error"]
    if errors:
        raise SystemExit("the protocol's configuration cannot run:\n" + "\n".join(f"  {f.line}" for f in errors))


# --------------------------------------------------------------------------------------
# Scoring


def _backbone_files(source: Path, meta_source: Path, dest: Path) -> Path:
    """``dest/pretrain/{backbone.safetensors,metadata.json}`` from a .pt checkpoint or a
    stage folder's backbone: the layout ``drac_ssl.finetune.run`` reads."""
    out = dest / "pretrain"
    out.mkdir(parents=True, exist_ok=True)
    if source.suffix == ".pt":
        state = load_checkpoint(source)["model"]
        save_weights(out / "backbone.safetensors",
                     {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")},
                     {"format": "drac_ssl backbone v1"})
    else:
        shutil.copyfile(source, out / "backbone.safetensors")
    shutil.copyfile(meta_source, out / "metadata.json")
    return out / "backbone.safetensors"


def _link_data(base: Path, dest: Path) -> None:
    link = dest / "data"
    if not link.exists():
        link.symlink_to((base / "data").resolve(), target_is_directory=True)


def probe_scores(cfg: Config, backbone_path: Path, ft_data: Any, device: torch.device) -> dict[str, float]:
    """Out-of-fold k-NN (k = 20) and linear-probe accuracy (%) of the frozen features of the
    labelled pool, on the manifest's folds."""
    from drac_ssl import finetune
    from drac_ssl.config import with_data_channels
    from drac_ssl.evaluation import linear_probe, refuse_non_finite_features
    from drac_ssl.metrics import knn_accuracy
    from drac_ssl.models import build_backbone, load_local_weights

    cfg = with_data_channels(cfg, ft_data.channels, ft_data.description)  # in_channels 0: the data's
    backbone = build_backbone(cfg.pretrain.backbone)
    load_local_weights(backbone, backbone_path)
    backbone = backbone.to(device)
    rows = finetune.labelled_rows(ft_data.rows)
    images = np.stack([np.asarray(ft_data.images[int(r["cache_index"])]) for r in rows])
    grades = torch.as_tensor([int(r["grade"]) for r in rows])
    folds = np.array([int(r["fold"]) for r in rows])
    aug = cfg.pretrain.augment
    feats = pretrain.embed_images(backbone, images, aug.recipe, aug.image_size, device).cpu()
    refuse_non_finite_features(str(backbone_path), feats)  # knn_accuracy: nan, and round(n * nan) a bare ValueError
    knn_hits = probe_hits = 0
    for fold in sorted(set(folds.tolist())):
        test, train = folds == fold, folds != fold
        n = int(test.sum())
        knn_hits += round(n * knn_accuracy(feats[train], grades[train], feats[test], grades[test], k=20,
                                           num_classes=int(grades.max()) + 1))
        probe = linear_probe(feats[train], grades[train], feats[test], grades[test], epochs=100)
        probe_hits += round(n * probe.top1 / 100)
    return {"knn20_accuracy": round(100 * knn_hits / len(rows), 2),
            "linear_probe_accuracy": round(100 * probe_hits / len(rows), 2)}


def graded_scores(cfg: Config, base: Path, backbone: Path, meta: Path, score_dir: Path, ft_data: Any,
                  device: torch.device, submission: Path | None = None) -> dict[str, Any]:
    """CV fine-tuning (the package's finetune stage on a folder holding only this backbone)
    and the frozen-feature probes; with ``submission``, also the export stage's test CSV."""
    from drac_ssl import finetune

    path = _backbone_files(backbone, meta, score_dir)
    _link_data(base, score_dir)
    score_cfg = dataclasses.replace(
        cfg, umm=dataclasses.replace(cfg.umm, enabled=False),
        finetune=dataclasses.replace(cfg.finetune, compare_scratch=False))
    t0 = time.perf_counter()
    result = finetune.run(score_cfg, score_dir)
    row = next(r for r in result_rows(result.comparison_path) if r["variant"] == "vicreg")
    scores: dict[str, Any] = {
        "cv_qwk": _round(row["qwk"]), "cv_qwk_ci95": [_round(row["qwk_ci_low"]), _round(row["qwk_ci_high"])],
        "cv_auc": _round(row["auc"]), "cv_accuracy": _round(row["accuracy"]),
        "cv_qwk_fold_mean": _round(row["qwk_fold_mean"]), "cv_qwk_fold_std": _round(row["qwk_fold_std"]),
    }
    scores.update(probe_scores(cfg, path, ft_data, device))
    scores["score_seconds"] = round(time.perf_counter() - t0, 1)
    if submission is not None:
        from drac_ssl import export

        written = export.run(score_cfg, score_dir).submission_path
        if written is not None:
            shutil.copyfile(written, submission)
            scores["submission"] = str(submission)
    return scores


def result_rows(path: Path) -> list[dict[str, Any]]:
    import json

    return json.loads(path.read_text(encoding="utf-8"))["rows"]


def _round(value: Any, digits: int = 4) -> Any:
    return round(float(value), digits) if isinstance(value, (int, float)) and math.isfinite(value) else None


# --------------------------------------------------------------------------------------
# Summary


SCORE_KEYS = ("cv_qwk", "cv_auc", "knn20_accuracy", "linear_probe_accuracy",
              "knn_top1_k20", "knn_top1_k200", "linear_probe_top1")


def summarise(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per variant: the mean of every score over its seeds (and the spread), and the gain
    over the control's mean."""
    means: dict[str, dict[str, Any]] = {}
    for name, runs in rows.items():
        entry: dict[str, Any] = {"seeds": [r.get("seed") for r in runs]}
        for key in SCORE_KEYS:
            values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
            if values:
                entry[key] = round(float(np.mean(values)), 4)
                if len(values) > 1:
                    entry[f"{key}_std"] = round(float(np.std(values, ddof=1)), 4)
        means[name] = entry
    control = means.get("control", {})
    gains = {name: {key: round(m[key] - control[key], 4) for key in SCORE_KEYS if key in m and key in control}
             for name, m in means.items() if name != "control" and control}
    return {"means": means, "gain_over_control": gains}


def plot(rows: dict[str, list[dict[str, Any]]], path: Path, dataset: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(rows)
    keys = [k for k in ("cv_qwk", "knn20_accuracy", "linear_probe_accuracy", "knn_top1_k20", "linear_probe_top1")
            if any(isinstance(r.get(k), (int, float)) for runs in rows.values() for r in runs)]
    if not names or not keys:
        return
    fig = Figure(figsize=(1.0 * len(names) + 3, 3.2 * len(keys)), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(keys), 1, squeeze=False)[:, 0]
    for ax, key in zip(axes, keys, strict=True):
        for x, name in enumerate(names):
            values = [r[key] for r in rows[name] if isinstance(r.get(key), (int, float))]
            if values:
                ax.bar(x, float(np.mean(values)), color="tab:orange" if name == "control" else "tab:blue")
                ax.plot([x] * len(values), values, "k.", markersize=5)
            if key == "cv_qwk":
                for r in rows[name]:
                    ci = r.get("cv_qwk_ci95")
                    if ci and None not in ci:
                        ax.plot([x, x], ci, color="grey", linewidth=1)
        values = [r[key] for runs in rows.values() for r in runs if isinstance(r.get(key), (int, float))]
        spread = max(values) - min(values) if values else 0.0
        ax.set_ylim(max(0.0, min(values) - max(spread, 0.05 * abs(min(values)))), None)
        ax.set_xticks(range(len(names)), names, rotation=20)
        ax.set_ylabel(key)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"UMM ablation on {dataset}, every variant from one pretraining checkpoint\n"
                 f"bars: mean over seeds, dots: seeds, grey: QWK 95% CI; orange: the fair control")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


# --------------------------------------------------------------------------------------
# The protocol


def pipeline_stage_time(run: Path, stage: str, existed: bool, given: bool) -> dict[str, Any]:
    """A pipeline stage's time from the run folder's ``stages.json`` (``drac_ssl.train`` keeps
    the last attempt's ``seconds`` and ``seconds_earlier_attempts`` / ``attempts`` of a resumed
    stage), with ``resumed`` (the folder was there before this invocation) and ``reused`` (a
    ``--base`` run: nothing ran here), so an invocation's seconds are never read as the stage's."""
    entry = read_stages_record(run).get(stage) or {}  # none or damaged: no time known
    return {"resumed": existed, "reused": given, "status": entry.get("status"),
            "seconds_last_attempt": entry.get("seconds"),
            "seconds_earlier_attempts": entry.get("seconds_earlier_attempts", 0.0 if entry else None),
            "attempts": entry.get("attempts", 1 if entry else None)}


def protocol_main(argv: list[str] | None = None) -> None:
    """The protocol of issue #13 (``--dataset``): module docstring."""
    parser = argparse.ArgumentParser(prog=python_command("bench.umm_ablation"), allow_abbrev=False,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--smoke", action="store_true", help="a few steps of everything (wiring check)")
    parser.add_argument("--pretrain-epochs", type=int, default=100)
    parser.add_argument("--umm-epochs", type=int, default=10)
    parser.add_argument("--umm-steps", type=int, default=20, help="umm.max_steps_per_epoch")
    parser.add_argument("--seeds", default="0,1", help="seeds of control and umm (the others: the first)")
    parser.add_argument("--alphas", default="0.3,3", help="umm.alpha values of the alpha_<a> variants")
    parser.add_argument("--variants", default="", help="only these (comma-separated; early_stopped, "
                        "overtrained and the UMM variants)")
    parser.add_argument("--extra", default="", help="optional variants: single_level, pre13")
    parser.add_argument("--base", default="", help="an existing pretrained run folder (skip step 1)")
    parser.add_argument("--run-root", default="")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--probe-epochs", type=int, default=100, help="cifar10: linear probe epochs")
    parser.add_argument("--eval-limit", type=int, default=0, help="cifar10: about N evaluation images")
    parser.add_argument("overrides", nargs="*", help="section.key=value settings for every run")
    args = parser.parse_intermixed_args(argv)

    dataset = args.dataset
    config_file, base_overrides = BASE[dataset]
    seeds = [int(s) for s in args.seeds.split(",") if s != ""]
    alphas = [float(a) for a in args.alphas.split(",") if a != ""]
    variants = variant_settings(alphas, [e for e in args.extra.split(",") if e])
    wanted = [v for v in args.variants.split(",") if v] or ["early_stopped", "overtrained", *variants]
    unknown = [v for v in wanted if v not in ("early_stopped", "overtrained", *variants)]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from early_stopped, overtrained, "
                         f"{', '.join(variants)}")
    reasons = protocol_smoke_reasons(args.smoke, args.eval_limit, args.probe_epochs,
                                     [v for v in ("early_stopped", "overtrained", *variants) if v not in wanted])
    run_root = Path(args.run_root or f"runs/bench-umm-{dataset}{'-smoke' if args.smoke else ''}")
    umm_settings = [f"umm.epochs={args.umm_epochs}", f"umm.max_steps_per_epoch={args.umm_steps}"]
    settings = [*base_overrides, f"pretrain.epochs={args.pretrain_epochs}", *umm_settings]
    if args.smoke:
        settings += [*SMOKE["pretrain"], *SMOKE["umm"], *(SMOKE["finetune"] if dataset != "cifar10" else [])]
    settings += list(args.overrides)
    _readiness(dataset, settings, run_root)
    config_path = CONFIGS / config_file
    cfg0 = load_config(config_path, [*settings, f"run.out_dir={run_root}", "run.name=base",
                                     "run.stages=[ingest,pretrain]"])
    device = resolve_device(cfg0.run.device)

    # 1. pretraining past the monitor's peak (the package's pipeline, resumable)
    t0 = time.perf_counter()
    existed = (Path(args.base) if args.base else run_root / "base").joinpath("stages.json").is_file()
    if args.base:
        base = Path(args.base)
    else:
        from drac_ssl import train

        try:
            base = train.run_pipeline(cfg0)
        except (ConfigError, FileNotFoundError, ValueError) as exc:
            raise SystemExit(f"error: {exc}") from None
    pretrain_seconds = round(time.perf_counter() - t0, 1)
    history = umm.source.pretrain_history(base / "pretrain")
    peak = umm.resolve_start(base, None, "peak")
    try:
        start = umm.resolve_start(base, None, "past_peak", cfg0.umm.past_peak_drop)
        passed, start_note = True, start.reason
    except ValueError as exc:
        start = umm.resolve_start(base, None, "last")
        passed, start_note = False, f"not past the peak, UMM starts from the last checkpoint: {exc}"
    print(f"[bench] start checkpoint: {start.path} ({start_note})")

    # data, once
    data = pretrain.load_pretrain_data(umm.feed_config(cfg0), base / "data" if dataset != "cifar10" else None)
    ft_data = cifar_splits = None
    if dataset == "cifar10":
        from bench.cifar10_vicreg import eval_splits, evaluate_backbone, probe_protocol

        cifar_splits = eval_splits(cfg0.data.root, args.eval_limit)
    else:
        from drac_ssl import finetune

        ft_data = finetune.load_finetune_data(cfg0, base / "data")

    out_dir = Path(args.out_dir)
    name = smoke_result_name(f"umm_protocol_{dataset}", reasons)
    if reasons:
        print(f"[bench] smoke run ({'; '.join(reasons)}): checks that the protocol runs; writes {name}.json")
    rows: dict[str, list[dict[str, Any]]] = {}

    def score(variant: str, seed: int, backbone: Path, meta: Path, extra: dict[str, Any]) -> None:
        sub = None
        if dataset == "retinamnist" and variant in ("control", "umm") and seed == seeds[0]:
            sub = out_dir / f"retinamnist_umm_submission_{variant}.csv"
        if dataset == "cifar10":
            assert cifar_splits is not None
            s = evaluate_backbone(cfg0, backbone if backbone.suffix != ".pt" else
                                  _backbone_files(backbone, meta, run_root / "score" / variant),
                                  *cifar_splits, device, args.probe_epochs)
            scores = {"knn_top1_k20": round(s["knn_top1_k20"], 2), "knn_top1_k200": round(s["knn_top1_k200"], 2),
                      "linear_probe_top1": round(s["probe"].top1, 2)}
        else:
            scores = graded_scores(cfg0, base, backbone, meta, run_root / "score" / f"{variant}-s{seed}",
                                   ft_data, device, sub)
        rows.setdefault(variant, []).append({"seed": seed, **scores, **extra})
        print(f"[bench] {variant} seed {seed}: {rows[variant][-1]}")
        summary = summarise(rows)
        write_result(name, {
            "what": f"issue #13 protocol on {dataset}: every variant from one pretraining checkpoint past the "
                    f"rate-reduction monitor's peak, the same UMM steps; scored by "
                    + ("k-NN / linear probe on the test split" if dataset == "cifar10" else
                       "5-fold CV fine-tuning (out-of-fold QWK, bootstrap 95% CI) and out-of-fold k-NN / "
                       "linear-probe accuracy of the labelled pool"),
            **smoke_fields(reasons),
            "dataset": dataset,
            "settings_for_every_run": settings,
            "pretraining": {"run": str(base), "epochs_run": len(history), "seconds": pretrain_seconds,
                            "seconds_note": "wall time of this invocation's pipeline call (0 with --base); the "
                                            "stage's own time and earlier attempts: stage_time",
                            "stage_time": pipeline_stage_time(base, "pretrain", existed, bool(args.base)),
                            "monitor": [{k: r.get(k) for k in ("epoch", "loss", "rate_reduction_last",
                                                                "rate_reduction_early", "knn_top1")}
                                        for r in history],
                            "peak": peak.to_json(), "start": start.to_json(), "passed_peak": passed,
                            "start_note": start_note},
            "variants": rows,
            "variant_settings": {k: v for k, v in variants.items() if k in wanted},
            "seeds": seeds,
            **summary,
            **({"linear_probe_protocol": probe_protocol(0.1, args.probe_epochs)} if dataset == "cifar10" else {}),
            "config": to_dict(cfg0),
        }, out_dir)
        plot(rows, out_dir / f"{name}.png", dataset)

    meta = base / "pretrain" / "metadata.json"
    if "early_stopped" in wanted:
        score("early_stopped", seeds[0], peak.path, meta,
              {"settings": f"the monitor-peak checkpoint (pretraining epoch {(peak.epoch or 0) + 1}), no UMM"})
    if "overtrained" in wanted:
        score("overtrained", seeds[0], start.path, meta,
              {"settings": f"the start checkpoint (pretraining epoch {(start.epoch or 0) + 1}), no UMM"})
    for variant, overrides in variants.items():
        if variant not in wanted:
            continue
        for seed in seeds_for(variant, seeds):
            cfg = load_config(config_path, [*settings, *overrides, f"run.seed={seed}"])
            t1 = time.perf_counter()
            result = umm.run(cfg, run_root / f"{variant}-s{seed}", data=data, checkpoint=start)
            last = result.history[-1] if result.history else {}
            score(variant, seed, result.backbone_path, result.metadata_path, {
                "settings": overrides or ["(UMM as configured)"],
                "umm_seconds": round(time.perf_counter() - t1, 1),
                "steps_run": last.get("step"), "stopped": result.stopped, "guard_fired": result.guard_fired,
                "final_epoch": {k: last.get(k) for k in ("ssl_loss", "ssl_rise", "outer_ssl_loss",
                                                         "rate_reduction_early", "rate_reduction_last",
                                                         "view_cosine_last", "outer_rate_reduction",
                                                         "probe_rate_reduction_last",
                                                         *[f"step_ratio_{g}" for g in ("layer4", "expander")])},
            })


# --------------------------------------------------------------------------------------
# The quick CIFAR-10 check from a given checkpoint (bench/gpu_check.sh, bench/gpu_session.sh)


QUICK_VARIANTS: dict[str, list[str]] = {
    # the fair control of issue #13 (before: umm.use_rate_reduction=false umm.use_js=false,
    # single-level plain VICReg on the same layers; now the variant single_level)
    "control": ["umm.alpha=0"],
    "umm": [],
    "no_js": ["umm.use_js=false"],
    "single_level": ["umm.use_rate_reduction=false", "umm.use_js=false"],
    "pairs": ["umm.membership=pairs"],
    "outer_minimize": ["umm.outer_sign=minimize"],
    "cut_layer2": ["umm.early_cut=layer2"],
    "control_layer2": ["umm.early_cut=layer2", "umm.alpha=0"],
    "outer_lr_1e-3": ["umm.outer_lr=1e-3"],
}
# batch as in pretraining (umm.inner_lr = umm.outer_lr = 1e-4 are the defaults since issue #13)
DEFAULT_UMM = ["umm.batch_size=256", "umm.epochs=1"]
UMM_PAPER_VICREGL = {"before": 90.99, "after": 92.77, "gain": 1.78}  # ResNet-18, CIFAR-10 linear


def quick_main(argv: list[str] | None = None) -> None:
    """The quick CIFAR-10 check (``--checkpoint``): module docstring."""
    parser = argparse.ArgumentParser(prog=python_command("bench.umm_ablation"), allow_abbrev=False,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="VICReg model (backbone + expander) safetensors")
    parser.add_argument("--data", default=None,
                        help="the CIFAR-10 archive, for UMM and evaluation alike (default: data.root of the "
                             "overrides, else configs/cifar10.yaml's); a data.root= that disagrees is an error")
    parser.add_argument("--variants", default="checkpoint," + ",".join(QUICK_VARIANTS))
    parser.add_argument("--run-root", default="runs/bench-umm-ablation")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--name", default=None, help="result file name (NAME.json, NAME.png; default umm_ablation, "
                        "for a smoke run, --eval-limit or fewer --probe-epochs than 100, umm_ablation_smoke)")
    parser.add_argument("--probe-epochs", type=int, default=100)
    parser.add_argument("--eval-limit", type=int, default=0, help="evaluate on about N images (smoke test)")
    parser.add_argument("overrides", nargs="*", help=f"settings for every variant (default {' '.join(DEFAULT_UMM)})")
    args = parser.parse_intermixed_args(argv)
    from bench.cifar10_vicreg import eval_splits, evaluate_backbone, probe_protocol

    wanted = args.variants.split(",")
    unknown = [v for v in wanted if v != "checkpoint" and v not in QUICK_VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from checkpoint, {', '.join(QUICK_VARIANTS)}")
    checkpoint = Path(args.checkpoint)
    reasons = protocol_smoke_reasons(False, args.eval_limit, args.probe_epochs,
                                     [v for v in ("checkpoint", *QUICK_VARIANTS) if v not in wanted])
    name_out = smoke_result_name("umm_ablation", reasons, args.name, out_dir=Path(args.out_dir))
    if reasons:
        print(f"[bench] smoke run ({'; '.join(reasons)}): checks that the protocol runs; writes {name_out}.json")
    try:
        data_path = data_root(CONFIGS / "cifar10.yaml", args.data, args.overrides)
    except ValueError as exc:
        parser.error(str(exc))
    base = [f"data.root={data_path}", *DEFAULT_UMM, *args.overrides]
    cfg0 = load_config(CONFIGS / "cifar10.yaml", base)
    device = resolve_device(cfg0.run.device)
    data = pretrain.load_pretrain_data(umm.feed_config(cfg0), None)
    train, test = eval_splits(cfg0.data.root, args.eval_limit)
    out_dir = Path(args.out_dir)
    rows: dict[str, Any] = {}

    def record(name: str, backbone: Path, seconds: float | None, extra: dict[str, Any]) -> None:
        t0 = time.perf_counter()
        scores = evaluate_backbone(cfg0, backbone, train, test, device, args.probe_epochs)
        rows[name] = {
            "knn_top1_k20": round(scores["knn_top1_k20"], 2),
            "knn_top1_k200": round(scores["knn_top1_k200"], 2),
            "linear_probe_top1": round(scores["probe"].top1, 2),
            "umm_seconds": None if seconds is None else round(seconds, 1),
            "eval_seconds": round(time.perf_counter() - t0, 1),
            **extra,
        }
        print(f"[bench] {name}: {rows[name]}")
        summary = _gains(rows)
        write_result(name_out, {
            **smoke_fields(reasons),
            "what": "CIFAR-10 k-NN / linear-probe top-1 of the VICReg checkpoint, its fair control (umm.alpha=0, "
                    "the same two-level steps) and UMM with ablations, all from the same checkpoint",
            "checkpoint": str(checkpoint),
            "settings_for_every_variant": base[1:],
            "variants": rows,
            "gain_over_fair_control": summary,
            "umm_paper_vicregl_resnet18_linear": UMM_PAPER_VICREGL,
            "linear_probe_protocol": probe_protocol(scores["probe"].lr, args.probe_epochs),
            "eval_images": {"train": len(train.images), "test": len(test.images)},
            "config": to_dict(cfg0),
        }, out_dir)

    for name in wanted:
        if name == "checkpoint":
            backbone = checkpoint.with_name("backbone.safetensors")
            record(name, backbone, None, {"settings": "the VICReg checkpoint, untouched",
                                          **given_backbone_epochs(weights_metadata(backbone))})
            continue
        cfg = load_config(CONFIGS / "cifar10.yaml", [*base, *QUICK_VARIANTS[name]])
        t0 = time.perf_counter()
        result = umm.run(cfg, Path(args.run_root) / name, data=data, checkpoint=checkpoint)
        seconds = time.perf_counter() - t0
        last = result.history[-1] if result.history else {}
        record(name, result.backbone_path, seconds, {
            "settings": QUICK_VARIANTS[name] or ["(UMM as configured)"],
            "steps": last.get("step"),
            "final_epoch": {k: last.get(k) for k in ("ssl_loss", "js", "rate_reduction_early",
                                                     "rate_reduction_last", "outer_objective")},
        })
    _plot(rows, out_dir / f"{name_out}.png")


def protocol_smoke_reasons(smoke: bool, eval_limit: int, probe_epochs: int, left_out: Sequence[str]) -> list[str]:
    """Why a run is not the full protocol (empty: it is): ``--smoke``, ``--eval-limit``, fewer
    ``--probe-epochs`` than 100, or variants left out by ``--variants`` (``left_out``)."""
    out = ["--smoke"] if smoke else []
    if eval_limit:
        out.append(f"--eval-limit {eval_limit}")
    if probe_epochs < 100:
        out.append(f"--probe-epochs {probe_epochs}, not 100")
    if left_out:
        out.append(f"--variants without {','.join(left_out)}")
    return out


def _gains(rows: dict[str, Any]) -> dict[str, Any]:
    """Linear / k-NN points of each UMM variant over the fair control with the same cut."""
    out: dict[str, Any] = {}
    for name, row in rows.items():
        if name in ("checkpoint", "control", "control_layer2"):
            continue
        control = rows.get("control_layer2" if name == "cut_layer2" else "control")
        if control is None:
            continue
        out[name] = {
            "linear_points": round(row["linear_probe_top1"] - control["linear_probe_top1"], 2),
            "knn20_points": round(row["knn_top1_k20"] - control["knn_top1_k20"], 2),
        }
    return out


def _plot(rows: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 3.5))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [rows[n]["linear_probe_top1"] for n in names], width=0.4, label="linear probe")
    ax.bar([x + 0.2 for x in xs], [rows[n]["knn_top1_k20"] for n in names], width=0.4, label="k-NN (k=20)")
    low = min(min(r["linear_probe_top1"], r["knn_top1_k20"]) for r in rows.values())
    ax.set_ylim(max(0.0, low - 5), None)
    ax.set_xticks(list(xs), names, rotation=20)
    ax.set_ylabel("CIFAR-10 test top-1 (%)")
    ax.set_title("UMM vs its fair control, from one VICReg checkpoint")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """``--checkpoint``: the quick CIFAR-10 check; otherwise the protocol (``--dataset``)."""
    from bench.pretraining import run_bench_main

    args = sys.argv[1:] if argv is None else argv
    quick = any(a == "--checkpoint" or a.startswith("--checkpoint=") for a in args)
    run_bench_main(quick_main if quick else protocol_main, args)  # a Ctrl-C: what was saved, exit code 130


if __name__ == "__main__":
    main()
