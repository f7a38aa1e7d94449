"""UMM on CIFAR-10 against its fair control, with ablations (issue #4).

Starts every variant from the same VICReg checkpoint (the model written by
``bench.cifar10_vicreg``: ``RUN/pretrain/vicreg_model.safetensors``) and evaluates the frozen
backbone on the CIFAR-10 test set with k-NN (k = 20, 200) and the linear probe of
methods.md section 3:

* ``checkpoint``: the VICReg checkpoint itself, untouched;
* ``control``: the fair control: the same layers (after the cut, and the expander) trained
  further for the same epochs, steps, batch and learning rate with the plain VICReg loss
  (``umm.use_rate_reduction=false umm.use_js=false``: only the inner SGD step);
* ``umm``: UMM as configured (cut after layer3, JS on, rate reduction maximised);
* ``no_js``, ``no_rate_reduction``, ``outer_minimize`` (the outer sign flipped),
  ``cut_layer2`` (and ``control_layer2``, its own fair control), ``outer_lr_1e-3`` (the
  config's outer learning rate instead of the bench's 1e-4).

Every variant runs through the package's own stage (``drac_ssl.umm.run``) with
``configs/cifar10.yaml`` plus the ``umm.*`` settings below, in its own run folder.
Writes ``bench/results/umm_ablation.json`` after each variant (a run cut short keeps what
it finished) and ``umm_ablation.png``.

    python -m bench.umm_ablation --checkpoint RUN/pretrain/vicreg_model.safetensors \
        [--data cifar10_jpeg.tar.xz] [--variants control,umm,...] [--name NAME] [umm.epochs=2 ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.cifar10_vicreg import eval_splits, evaluate_backbone, probe_protocol
from bench.common import RESULTS, SHARED, write_result
from drac_ssl import pretrain, umm
from drac_ssl.config import load_config, to_dict
from drac_ssl.runtime import resolve_device

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

VARIANTS: dict[str, list[str]] = {
    "control": ["umm.use_rate_reduction=false", "umm.use_js=false"],
    "umm": [],
    "no_js": ["umm.use_js=false"],
    "no_rate_reduction": ["umm.use_rate_reduction=false"],
    "outer_minimize": ["umm.outer_sign=minimize"],
    "cut_layer2": ["umm.early_cut=layer2"],
    "control_layer2": ["umm.early_cut=layer2", "umm.use_rate_reduction=false", "umm.use_js=false"],
    "outer_lr_1e-3": ["umm.outer_lr=1e-3"],
}
# batch as in pretraining; outer Adam lr 1e-4: at the config's 1e-3 one outer step multiplied the SSL
# loss of a CIFAR checkpoint by ~10 in a CPU smoke run (the variant outer_lr_1e-3 measures it on the GPU)
DEFAULT_UMM = ["umm.batch_size=256", "umm.epochs=1", "umm.outer_lr=1e-4"]
UMM_PAPER_VICREGL = {"before": 90.99, "after": 92.77, "gain": 1.78}  # ResNet-18, CIFAR-10 linear


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="VICReg model (backbone + expander) safetensors")
    parser.add_argument("--data", default=str(SHARED / "data" / "cifar10" / "cifar10_jpeg.tar.xz"))
    parser.add_argument("--variants", default="checkpoint," + ",".join(VARIANTS))
    parser.add_argument("--run-root", default="runs/bench-umm-ablation")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--name", default="umm_ablation", help="result file name (NAME.json, NAME.png)")
    parser.add_argument("--probe-epochs", type=int, default=100)
    parser.add_argument("--eval-limit", type=int, default=0, help="evaluate on about N images (smoke test)")
    parser.add_argument("overrides", nargs="*", help=f"settings for every variant (default {' '.join(DEFAULT_UMM)})")
    args = parser.parse_args()
    wanted = args.variants.split(",")
    unknown = [v for v in wanted if v != "checkpoint" and v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from checkpoint, {', '.join(VARIANTS)}")
    checkpoint = Path(args.checkpoint)
    base = [f"data.root={args.data}", *DEFAULT_UMM, *args.overrides]
    cfg0 = load_config(CONFIGS / "cifar10.yaml", base)
    device = resolve_device(cfg0.run.device)
    data = pretrain.load_pretrain_data(umm.feed_config(cfg0), None)
    train, test = eval_splits(args.data, args.eval_limit)
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
        write_result(args.name, {
            "what": "CIFAR-10 k-NN / linear-probe top-1 of the VICReg checkpoint, its fair control (plain VICReg "
                    "on the same layers for the same steps) and UMM with ablations, all from the same checkpoint",
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
            record(name, backbone, None, {"settings": "the VICReg checkpoint, untouched"})
            continue
        cfg = load_config(CONFIGS / "cifar10.yaml", [*base, *VARIANTS[name]])
        t0 = time.perf_counter()
        result = umm.run(cfg, Path(args.run_root) / name, data=data, checkpoint=checkpoint)
        seconds = time.perf_counter() - t0
        last = result.history[-1] if result.history else {}
        record(name, result.backbone_path, seconds, {
            "settings": VARIANTS[name] or ["(UMM as configured)"],
            "steps": last.get("step"),
            "final_epoch": {k: last.get(k) for k in ("ssl_loss", "js", "rate_reduction_early",
                                                     "rate_reduction_last", "outer_objective")},
        })
    _plot(rows, out_dir / f"{args.name}.png")


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


if __name__ == "__main__":
    main()
