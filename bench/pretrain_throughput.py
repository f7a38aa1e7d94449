"""Pretraining throughput: the real data pipeline against the model-only ceiling (issues #3, #7).

For each setting, in the same script run, with the same model, batch size, precision and
memory format:

* ceiling: ``pretrain.train_step`` fed from normalised tensors already on the device (no
  data loading, no augmentation): the fastest this training step can go;
* real: the package's own ``TwoViewFeed`` (decode-free cached uint8 images -> two augmented
  views, on CPU workers with albumentations or batched on the GPU) feeding the same step.

Reports image pairs per second for both and their ratio (goal: >= 0.8), each setting with
its config's precision, memory format and ``pretrain.compile`` (the compile's one-off cost
is measured apart, as ``compile_warmup_s``). On CUDA it also runs a few steps of the real
loop body (feed, lr, step, monitors) under ``torch.cuda.set_sync_debug_mode("error")``
and reports whether any operation made the host wait for the GPU (``host_syncs_in_step``).
Settings: OCTA 224 px crops of the 512 px cache of a phantom DRAC ingest (CPU and GPU
augmentation; configs/drac.yaml), CIFAR-10 32 px (GPU augmentation; configs/cifar10.yaml).

    python -m bench.pretrain_throughput [--steps 60] [--out-dir DIR] [--name NAME] [overrides ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import RESULTS, SHARED_DATA, add_threads_argument, write_result
from drac_ssl import pretrain
from drac_ssl.config import Config, load_config, with_data_channels
from drac_ssl.distributed import DistInfo
from drac_ssl.losses.mcr2 import rate_reduction
from drac_ssl.losses.vicreg import VICRegLoss
from drac_ssl.models import build_vicreg_model
from drac_ssl.optim import build_optimizer, lr_at, set_lr
from drac_ssl.runtime import apply_thread_policy, resolve_device, use_compile
from drac_ssl.starting import python_command

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loop_body(model: torch.nn.Module, loss_fn: VICRegLoss, opt: torch.optim.Optimizer, view_a: torch.Tensor,
              view_b: torch.Tensor, bf16: bool, channels_last: bool, sums: torch.Tensor, step: int,
              cfg: Config) -> None:
    """What ``pretrain.run`` does per step besides the feed: the VICReg task's step (lr, step,
    rate-reduction monitor) and the engine's on-device sums (``drac_ssl.engine.Engine._epoch``
    with ``non_finite_check_every=0``), kept in step with both by hand."""
    pc = cfg.pretrain
    set_lr(opt, lr_at(step, total_steps=100_000, warmup_steps=pc.warmup_epochs, base_lr=pc.lr,
                      schedule=pc.schedule, min_lr_ratio=pc.min_lr_ratio))
    terms, feat_a, feat_b = pretrain.train_step(model, loss_fn, opt, view_a, view_b, bf16, channels_last)
    with torch.no_grad():
        rr = rate_reduction(feat_a.detach().float(), feat_b.detach().float(), membership="pairs").delta
    logs = [terms.loss, terms.invariance, terms.variance, terms.covariance, rr]
    with torch.no_grad():
        sums += torch.stack([v.detach().double() for v in logs])


def sync_check(feed: pretrain.TwoViewFeed, body: Any, device: torch.device, steps: int = 5) -> str:
    """Run ``steps`` iterations (feed + loop body) after an epoch's first batch (whose index
    upload is the epoch's one allowed sync) with torch's sync debug mode set to error."""
    if device.type != "cuda":
        return "not checked (needs CUDA)"
    it = iter(feed.epoch(10_000))
    next(it)
    steps = min(steps, len(feed) - 1)
    torch.cuda.synchronize(device)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for k in range(steps):
            body(*next(it), 10_000 + k)
        verdict = f"none in {steps} steps (torch.cuda.set_sync_debug_mode('error'))"
    except RuntimeError as exc:
        verdict = f"synchronising operation: {str(exc).splitlines()[0][:300]}"
    finally:
        torch.cuda.set_sync_debug_mode(0)
        feed.close()
    torch.cuda.synchronize(device)
    return verdict


def measure(cfg: Config, images: np.ndarray, steps: int, warmup: int) -> dict[str, Any]:
    device = resolve_device(cfg.run.device)
    cfg = with_data_channels(cfg, 1 if images.ndim == 3 else int(images.shape[-1]), "the benchmark images")
    pc = cfg.pretrain
    bf16 = pretrain.use_bf16(cfg, device)
    channels_last = pc.channels_last and device.type == "cuda"
    compiled = use_compile(pc.compile, device)
    one = DistInfo(rank=0, world_size=1, local_rank=0, is_main=True)

    torch.manual_seed(0)
    model = build_vicreg_model(pc).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn, opt = VICRegLoss.from_config(pc.loss), build_optimizer(model, pc)
    step_model = torch.compile(model) if compiled else model
    sums = torch.zeros(5, device=device, dtype=torch.float64)
    counter = {"step": 0}

    def body(view_a: torch.Tensor, view_b: torch.Tensor, step: int | None = None) -> None:
        counter["step"] += 1
        loop_body(step_model, loss_fn, opt, view_a, view_b, bf16, channels_last, sums,
                  counter["step"] if step is None else step, cfg)

    # ceiling: inputs already on the device, rotating among 8 pre-made batches. Measured
    # before AND after the real pipeline (on the same warmed-up model) and averaged, so GPU
    # clock ramp-up or cuDNN autotuning early in the run cannot favour either side; the first
    # H100 run, ceiling first only, had the real CIFAR pipeline at 1.12x its "ceiling".
    channels = pc.backbone.in_channels
    size = pc.augment.image_size
    batches = [torch.randn(pc.batch_size, channels, size, size, device=device) for _ in range(8)]

    t_first = time.perf_counter()
    body(batches[0], batches[1])  # the first step compiles (when compiled) and autotunes cuDNN
    _sync(device)
    first_step_s = time.perf_counter() - t_first

    def ceiling_rate() -> float:
        for i in range(warmup):
            body(batches[i % 8], batches[(i + 1) % 8])
        _sync(device)
        t0 = time.perf_counter()
        for i in range(steps):
            body(batches[i % 8], batches[(i + 1) % 8])
        _sync(device)
        return steps * pc.batch_size / (time.perf_counter() - t0)

    ceiling_before = ceiling_rate()

    # real pipeline, same model
    feed = pretrain.TwoViewFeed(images, cfg, device, one)
    needed = warmup + steps
    done, t0 = 0, 0.0
    epoch = 0
    while done < needed:
        for view_a, view_b in feed.epoch(epoch):
            body(view_a, view_b)
            done += 1
            if done == warmup:
                _sync(device)
                t0 = time.perf_counter()
            if done == needed:
                break
        epoch += 1
    _sync(device)
    real = steps * pc.batch_size / (time.perf_counter() - t0)
    feed.close()  # CPU workers still prefetching would compete with the second ceiling run
    ceiling_after = ceiling_rate()
    syncs = sync_check(feed, body, device)
    ceiling = (ceiling_before + ceiling_after) / 2
    if not torch.isfinite(sums).all():
        raise RuntimeError(f"non-finite loss during the throughput run: {sums.tolist()}")
    return {
        "batch_size": pc.batch_size,
        "image_size": size,
        "channels": channels,
        "images_in_pool": len(images),
        "precision": "bf16" if bf16 else "fp32",
        "channels_last": channels_last,
        "compiled": compiled,
        "optimizer": pc.optimizer,
        "first_step_s": round(first_step_s, 2),
        "augmentation": "gpu (batched tensors)" if pc.augment.on_gpu else
                        f"cpu albumentations, {feed.workers} DataLoader workers",
        "steps_timed": steps,
        "ceiling_pairs_per_s": round(ceiling, 1),
        "ceiling_before_after": [round(ceiling_before, 1), round(ceiling_after, 1)],
        "steps_per_epoch": len(feed),
        "real_pairs_per_s": round(real, 1),
        "ratio": round(real / ceiling, 3),
        "host_syncs_in_step": syncs,
    }


def measure_or_record(cfg: Config, images: np.ndarray, steps: int, warmup: int) -> dict[str, Any]:
    """:func:`measure`, or ``{"error": ...}`` so that one failing setting does not lose the
    others; a failure with ``torch.compile`` is measured again without it (a check lent a
    GPU for minutes must not end on a compiler error), and says so in ``compile_error``."""
    try:
        return measure(cfg, images, steps, warmup)
    except Exception as exc:  # noqa: BLE001 - reported in the result file
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"[:500]
        device = resolve_device(cfg.run.device)
        if not use_compile(cfg.pretrain.compile, device):
            return {"error": error}
    eager = dataclasses.replace(cfg, pretrain=dataclasses.replace(cfg.pretrain, compile="false"))
    try:
        return {**measure(eager, images, steps, warmup), "compile_error": error}
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"[:500], "compile_error": error}


def octa_images(n_train: int, n_test: int, workdir: Path, source: str = "phantom") -> np.ndarray:
    """The 512 px cache of the phantom DRAC set (the set itself is generated once under
    data/phantom and reused, as by ``bench.feed_throughput``), or ``source="synthetic"``:
    smoothed noise of the same shape and dtype (every augmentation costs the same on any
    content; for smoke runs, which need not generate and ingest a phantom set)."""
    if source == "synthetic":
        import cv2

        rng = np.random.default_rng(0)
        noise = rng.integers(0, 256, size=(n_train + n_test, 64, 64), dtype=np.uint8)
        return np.stack([cv2.resize(im, (512, 512), interpolation=cv2.INTER_CUBIC) for im in noise])
    from bench.feed_throughput import octa_cache

    return octa_cache(workdir, n_train, n_test)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.pretrain_throughput"), allow_abbrev=False, description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--octa-train", type=int, default=611)
    parser.add_argument("--octa-test", type=int, default=386)
    parser.add_argument("--octa-source", choices=("phantom", "synthetic"), default="phantom")
    parser.add_argument("--cifar", default=str(SHARED_DATA / "cifar10" / "cifar10_jpeg.tar.xz"))
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--name", default="pretrain_throughput", help="result file name (NAME.json)")
    parser.add_argument("--settings", default="octa_cpu_aug,octa_gpu_aug,cifar_gpu_aug")
    add_threads_argument(parser)
    parser.add_argument("overrides", nargs="*", help="config overrides applied to every setting")
    args = parser.parse_intermixed_args(argv)  # overrides on both sides of the options
    apply_thread_policy(args.threads)
    wanted = args.settings.split(",")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if any(s.startswith("octa") for s in wanted):
            images = octa_images(args.octa_train, args.octa_test, Path(tmp), args.octa_source)
            for name, on_gpu in (("octa_cpu_aug", False), ("octa_gpu_aug", True)):
                if name in wanted:
                    cfg = load_config(CONFIGS / "drac.yaml", [f"pretrain.augment.on_gpu={on_gpu}", *args.overrides])
                    results[name] = measure_or_record(cfg, images, args.steps, args.warmup)
                    print(f"[bench] {name}: {results[name]}")
    if "cifar_gpu_aug" in wanted:
        from drac_ssl.datasets import load_generic

        train = load_generic("cifar10", args.cifar, "train", cache_dir=pretrain.default_cache_dir())
        cfg = load_config(CONFIGS / "cifar10.yaml", [f"data.root={args.cifar}", *args.overrides])
        results["cifar_gpu_aug"] = measure_or_record(cfg, train.images, args.steps, args.warmup)
        print(f"[bench] cifar_gpu_aug: {results['cifar_gpu_aug']}")
    octa_pool = (f"{args.octa_train + args.octa_test} images of 512 px, "
                 + ("a phantom DRAC set" if args.octa_source == "phantom" else "synthetic noise"))
    write_result(args.name, {
        "octa_images": octa_pool if any(s.startswith("octa") for s in wanted) else None,
        "what": "image pairs per second of one VICReg training step: real data pipeline vs model-only "
                "ceiling (same model, batch, precision, compile), measured in the same run",
        "goal": "real / ceiling >= 0.8",
        "settings": results,
    }, Path(args.out_dir))


if __name__ == "__main__":
    main()
