"""Helpers of ``bench/gpu_check.sh`` (the one prepared GPU check of issue #15).

    python bench/gpu_check.py fake-cifar PATH [--train-per-class N] [--test-per-class N]
    python bench/gpu_check.py plan --probe PROBE.json --seconds S [--max-epochs 100] [--min-epochs 10]
    python bench/gpu_check.py summary RESULTS_DIR

* ``fake-cifar``: a small CIFAR-10 archive in the real layout (``train/<class>/NNNN.jpg``,
  ``test/<class>/NNNN.jpg``, xz-compressed tar) of random JPEGs, for the CPU smoke run of
  the GPU check (the real 18 MB archive decodes in seconds, but a k-NN monitor over its
  60,000 images on a CPU would take minutes).
* ``plan``: how many CIFAR-10 epochs fit in ``S`` seconds, from the throughput probe's
  measured real-pipeline rate (prints one JSON line; ``epochs`` 0 = not even
  ``--min-epochs`` fit). The schedule always runs to its end, so a shortened run is a
  complete, shorter recipe, reported under its own epoch count, never as the 100-epoch
  figure.
* ``summary``: a short table of what the check measured (the device tool returns the end
  of the output, so this is printed last).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

# Seconds a CIFAR-10 pretraining run costs besides its epochs (issue #15 estimates; the
# first H100 run measured 0.5 s per epoch of checkpoints and monitors at batch 256):
STARTUP_S = 45.0  # imports, cached-array load, model build, compile from a warm cache
EVAL_S = 30.0  # final features, k-NN (k 20, 200) and the 100-epoch linear probe
PER_EPOCH_S = 0.25  # k-NN monitor every 5 epochs (~0.5 s), a checkpoint every 10 (~0.5 s), epoch-end read
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def fake_cifar(path: Path, train_per_class: int = 8, test_per_class: int = 4, seed: int = 0) -> Path:
    """Write a CIFAR-10-layout ``.tar.xz`` of random 32x32 JPEGs (each class a different mean colour)."""
    import cv2

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:xz") as tar:
        for split, count in (("train", train_per_class), ("test", test_per_class)):
            for label, cls in enumerate(CLASSES):
                for i in range(count):
                    colour = np.array([(label * 25) % 256, (label * 70) % 256, 255 - label * 25], np.float64)
                    image = np.clip(colour + rng.normal(0, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
                    ok, data = cv2.imencode(".jpg", image)
                    assert ok
                    info = tarfile.TarInfo(f"{split}/{cls}/{i:04d}.jpg")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data.tobytes()))
    return path


def plan(probe: dict[str, Any], seconds: float, max_epochs: int = 100, min_epochs: int = 10) -> dict[str, Any]:
    """Epochs of CIFAR-10 pretraining that fit in ``seconds`` at the probe's real-pipeline rate."""
    setting = probe["settings"].get("cifar_gpu_aug", {})
    if "real_pairs_per_s" not in setting:
        return {"epochs": None, "error": setting.get("error", "no cifar_gpu_aug setting in the probe")}
    epoch_s = setting["steps_per_epoch"] * setting["batch_size"] / setting["real_pairs_per_s"] + PER_EPOCH_S
    fit = math.floor((seconds - STARTUP_S - EVAL_S) / epoch_s)
    epochs = min(max_epochs, fit)
    return {
        "epochs": epochs if epochs >= min_epochs else 0,
        "predicted_epoch_s": round(epoch_s, 3),
        "predicted_run_s": round(STARTUP_S + EVAL_S + epochs * epoch_s, 1),
        "seconds_available": round(seconds, 1),
        "real_pairs_per_s": setting["real_pairs_per_s"],
        # the probe fell back to eager after a compiler error: the run must too
        "compile": "false" if "compile_error" in setting or not setting.get("compiled", True) else "auto",
    }


def _row(name: str, path: Path) -> list[str]:
    if not path.is_file():
        return [f"{name}: no result file ({path.name})"]
    data = json.loads(path.read_text())
    device = data.get("device")
    if name == "throughput":
        return [f"throughput {k}: FAILED {v['error']}" if "error" in v else
                f"throughput {k}: real {v['real_pairs_per_s']} / ceiling {v['ceiling_pairs_per_s']} pairs/s "
                f"= {v['ratio']} (batch {v['batch_size']}, compiled {v.get('compiled')}, first step "
                f"{v.get('first_step_s')} s; host syncs: {v.get('host_syncs_in_step')})"
                + (f"; compile failed: {v['compile_error']}" if "compile_error" in v else "")
                for k, v in data["settings"].items()] + [f"  device: {device}"]
    if name == "cifar":
        return [f"cifar10 {data['epochs']} epochs (batch {data.get('batch_size')}): linear {data['linear_probe_top1']} %, "
                f"k-NN@20 {data['knn_top1_k20']} %, k-NN@200 {data['knn_top1_k200']} %; pretraining "
                f"{data['pretrain_seconds']} s wall ({data.get('train_seconds')} s in epochs, first epoch "
                f"{data.get('first_epoch_seconds')} s); goals {data.get('goals')}; device {device}"]
    gains = data.get("gain_over_fair_control", {})
    rows = [f"umm {k}: linear {v['linear_probe_top1']} %, k-NN@20 {v['knn_top1_k20']} %"
            for k, v in data.get("variants", {}).items()]
    return rows + [f"umm gain over the fair control: {gains}"]


def summary(results: Path) -> str:
    lines = []
    for name, pattern in (("throughput", "pretrain_throughput_*.json"), ("cifar", "cifar10_vicreg_*.json"),
                          ("umm", "umm_ablation_*.json")):
        found = sorted(results.glob(pattern))
        lines += _row(name, found[-1]) if found else [f"{name}: not run or not finished"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", allow_abbrev=False,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    fake = sub.add_parser("fake-cifar", allow_abbrev=False)
    fake.add_argument("path", type=Path)
    fake.add_argument("--train-per-class", type=int, default=8)
    fake.add_argument("--test-per-class", type=int, default=4)
    pl = sub.add_parser("plan", allow_abbrev=False)
    pl.add_argument("--probe", type=Path, required=True)
    pl.add_argument("--seconds", type=float, required=True)
    pl.add_argument("--max-epochs", type=int, default=100)
    pl.add_argument("--min-epochs", type=int, default=10)
    sm = sub.add_parser("summary", allow_abbrev=False)
    sm.add_argument("results", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "fake-cifar":
        print(fake_cifar(args.path, args.train_per_class, args.test_per_class))
    elif args.cmd == "plan":
        print(json.dumps(plan(json.loads(args.probe.read_text()), args.seconds, args.max_epochs, args.min_epochs)))
    else:
        print(summary(args.results))


if __name__ == "__main__":
    sys.exit(main())
