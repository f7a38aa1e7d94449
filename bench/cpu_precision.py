"""bf16 autocast against float32 for the VICReg training step on the CPU.

    python -m bench.cpu_precision [--steps 3] [--repeats 2] [--threads 1] [--name cpu_precision]

``pretrain.precision=auto`` trains in float32 on a CPU. CPUs with AMX (Intel Sapphire
Rapids and later: the ``amx_bf16`` flag in ``/proc/cpuinfo``) run bf16 convolutions in
hardware, so ``pretrain.precision=bf16`` (autocast for pretraining, UMM and fine-tuning; the
VICReg loss stays in float32) may be faster there. This script measures by how much, with
the package's own step (:func:`drac_ssl.pretrain.train_step`, ResNet-18 + expander, Adam)
on random normalised views already in memory (no data loading), for the image sizes of the
shipped configs: 224 px (``configs/drac.yaml``), 64 px (``configs/default.yaml``) and 28 px
(``configs/retinamnist.yaml``), each with NCHW and channels-last memory.

fp32 and bf16 alternate within each repeat (the order flips every repeat) and the figure is
the ratio of the median step times, so a busy neighbour on a shared CPU slows both alike. It
also reports the relative difference of the first step's VICReg loss between the two
precisions (same weights, same views), as a check that bf16 computes the same thing.

Writes ``bench/results/<name>.json`` with the command, device (with the AMX flags), versions
and date.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from bench.common import RESULTS, add_threads_argument, write_result
from drac_ssl import pretrain
from drac_ssl.config import load_config
from drac_ssl.losses.vicreg import VICRegLoss
from drac_ssl.models import build_vicreg_model
from drac_ssl.optim import build_optimizer
from drac_ssl.runtime import apply_thread_policy, cpu_bf16_flags
from drac_ssl.starting import python_command

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SETTINGS = {  # name: (config, channels, image size, batch)
    "drac_224px": ("drac.yaml", 1, 224, 16),
    "default_64px": ("default.yaml", 1, 64, 32),
    "retinamnist_28px": ("retinamnist.yaml", 3, 28, 64),
}


def measure(config: str, channels: int, size: int, batch: int, steps: int, repeats: int) -> dict[str, Any]:
    """Median seconds per step of fp32 and bf16 (x NCHW / channels-last) for one setting."""
    cfg = load_config(CONFIGS / config, [f"pretrain.backbone.in_channels={channels}"])
    torch.manual_seed(0)
    base = build_vicreg_model(cfg.pretrain)
    loss_fn = VICRegLoss.from_config(cfg.pretrain.loss)
    gen = torch.Generator().manual_seed(0)
    view_a = torch.randn(batch, channels, size, size, generator=gen)
    view_b = torch.randn(batch, channels, size, size, generator=gen)
    variants = [(bf16, cl) for cl in (False, True) for bf16 in (False, True)]
    times: dict[tuple[bool, bool], list[float]] = {v: [] for v in variants}
    first_loss: dict[bool, float] = {}
    for repeat in range(repeats):
        for bf16, cl in (variants if repeat % 2 == 0 else variants[::-1]):
            model = copy.deepcopy(base).train()
            if cl:
                model = model.to(memory_format=torch.channels_last)
            opt = build_optimizer(model, cfg.pretrain)
            terms, _, _ = pretrain.train_step(model, loss_fn, opt, view_a, view_b, bf16, cl)  # warm-up
            if repeat == 0 and not cl:
                first_loss[bf16] = float(terms.loss.detach())
            t0 = time.perf_counter()
            for _ in range(steps):
                pretrain.train_step(model, loss_fn, opt, view_a, view_b, bf16, cl)
            times[(bf16, cl)].append((time.perf_counter() - t0) / steps)
    med = {f"{'bf16' if b else 'fp32'}_{'channels_last' if c else 'nchw'}": round(statistics.median(t), 4)
           for (b, c), t in times.items()}
    return {
        "config": f"configs/{config}", "image_size": size, "batch_pairs": batch, "channels": channels,
        "seconds_per_step_median": med,
        "speedup_bf16_nchw": round(med["fp32_nchw"] / med["bf16_nchw"], 3),
        "speedup_bf16_channels_last": round(med["fp32_nchw"] / med["bf16_channels_last"], 3),
        "first_step_loss": {"fp32": round(first_loss[False], 5), "bf16": round(first_loss[True], 5),
                            "relative_difference": round(abs(first_loss[True] - first_loss[False])
                                                         / abs(first_loss[False]), 5)},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.cpu_precision"), allow_abbrev=False,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated: " + ", ".join(SETTINGS))
    parser.add_argument("--name", default="cpu_precision")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    add_threads_argument(parser)
    args = parser.parse_args(argv)
    threads = apply_thread_policy(args.threads)
    results = {}
    for name in args.settings.split(","):
        results[name] = row = measure(*SETTINGS[name], args.steps, args.repeats)
        print(f"[bench] {name}: {row['seconds_per_step_median']} s/step; bf16 speed-up "
              f"{row['speedup_bf16_nchw']}x (NCHW), {row['speedup_bf16_channels_last']}x (channels-last); "
              f"first loss differs by {row['first_step_loss']['relative_difference']:.2%}")
    write_result(args.name, {
        "what": "VICReg training step (drac_ssl.pretrain.train_step, ResNet-18 + expander, the config's "
                "optimizer) on the CPU: bf16 autocast vs float32, NCHW and channels-last, random views in "
                "memory, fp32/bf16 interleaved; speed-up = fp32 NCHW median / bf16 median",
        "cpu_bf16_flags": cpu_bf16_flags(),
        "threads": threads,
        "steps": args.steps, "repeats": args.repeats,
        "settings": results,
    }, args.out_dir)


if __name__ == "__main__":
    main()
