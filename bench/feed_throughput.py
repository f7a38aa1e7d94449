"""The pretraining data pipeline alone: image pairs per second that ``TwoViewFeed`` delivers.

No model: this measures how fast the feed can go, i.e. whether the data pipeline or the
model limits a training run (``bench/pretrain_throughput.py`` measures the two together
on a GPU). Input: the 512 px cache of the full-size phantom DRAC set (611 + 386 images,
generated once under ``data/phantom/`` and reused), crops to 224 px, batch 32 (the
``configs/drac.yaml`` recipe), so an epoch is 31 steps and a run crosses epoch boundaries
the way a DRAC pretraining does.

Settings:

* ``cpu_aug_<W>w``: albumentations in ``W`` DataLoader workers (the CPU path), for each
  ``--workers`` value; timed over ``--epochs`` whole epochs after the first batch (the
  first-batch latency is reported apart);
* ``batched_aug``: the batched-tensor augmentation (``augment.on_gpu=true``) on the
  device this script runs on, with the number of top-level torch operations one two-view
  batch issues (on a GPU each launches kernels; at batch 32 those launches, not the
  arithmetic, are its cost).

    python -m bench.feed_throughput [--workers 1,3] [--epochs 3] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import RESULTS, add_threads_argument, write_result
from drac_ssl import pretrain
from drac_ssl.config import Config, load_config
from drac_ssl.distributed import DistInfo
from drac_ssl.runtime import apply_thread_policy, dataloader_workers, resolve_device
from drac_ssl.starting import python_command

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def octa_cache(workdir: Path, n_train: int, n_test: int) -> np.ndarray:
    """The 512 px cache of the phantom set, ingested into ``workdir/ingest`` (incremental:
    a second run reuses it; the phantom set itself is kept under data/phantom)."""
    from data_prep import ingest, phantom
    from drac_ssl.datasets import load_octa_cache
    from drac_ssl.train import phantom_root

    cfg = load_config(CONFIGS / "drac.yaml", [f"data.phantom_n_train={n_train}", f"data.phantom_n_test={n_test}"])
    root = phantom_root(cfg)
    phantom.generate(root, n_train=n_train, n_test=n_test, seed=cfg.data.phantom_seed)
    ingest.run(dataclasses.replace(cfg.data, root=str(root), cache_sizes=[512]), workdir / "ingest")
    images, _ = load_octa_cache(workdir / "ingest", 512)
    return np.asarray(images)


def time_feed(cfg: Config, images: np.ndarray, epochs: int) -> dict[str, Any]:
    device = resolve_device(cfg.run.device)
    feed = pretrain.TwoViewFeed(images, cfg, device, DistInfo(rank=0, world_size=1, local_rank=0, is_main=True))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    start = time.perf_counter()
    first_batch_s, t0 = 0.0, 0.0
    epoch_seconds = []
    pairs = 0
    for epoch in range(epochs + 1):
        e0 = time.perf_counter()
        for i, (view_a, _view_b) in enumerate(feed.epoch(epoch)):
            if epoch == 0 and i == 0:
                sync()
                first_batch_s = time.perf_counter() - start
                t0 = time.perf_counter()
                continue
            pairs += view_a.shape[0]
        sync()
        epoch_seconds.append(round(time.perf_counter() - e0, 3))
    elapsed = time.perf_counter() - t0
    close = getattr(feed, "close", None)  # older versions of the feed had no stream to close
    if close is not None:
        close()
    return {
        "workers": feed.workers if not cfg.pretrain.augment.on_gpu else None,
        "steps_per_epoch": len(feed),
        "batch_size": cfg.pretrain.batch_size,
        "first_batch_seconds": round(first_batch_s, 3),
        "epoch_seconds": epoch_seconds,
        "pairs_timed": pairs,
        "pairs_per_s": round(pairs / elapsed, 1),
    }


def batched_ops(cfg: Config, images: np.ndarray) -> int:
    """Top-level torch operations of one two-view batch of the batched augmentation."""
    from torch.profiler import ProfilerActivity, profile

    from drac_ssl.augment import GpuTwoViewAugment, to_device_uint8

    device = resolve_device(cfg.run.device)
    aug = GpuTwoViewAugment(cfg.pretrain.augment, 1).to(device)
    batch = to_device_uint8(images[: cfg.pretrain.batch_size], device)
    generator = torch.Generator(device=device).manual_seed(0)
    aug(batch, generator=generator)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        aug(batch, generator=generator)
    return sum(1 for e in prof.events() if e.cpu_parent is None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.feed_throughput"), allow_abbrev=False,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default=str(max(1, dataloader_workers(-1))),
                        help="comma-separated DataLoader worker counts for the CPU path")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs timed after the first one (the first is timed too, less its first batch)")
    parser.add_argument("--octa-train", type=int, default=611)
    parser.add_argument("--octa-test", type=int, default=386)
    parser.add_argument("--skip-batched", action="store_true")
    parser.add_argument("--work-dir", default="", help="keep the ingest here and reuse it (default: a temp dir)")
    parser.add_argument("--name", default="", help="result name (default feed_throughput_<device type>)")
    parser.add_argument("--out-dir", default=str(RESULTS))
    add_threads_argument(parser)
    parser.add_argument("overrides", nargs="*", help="config overrides applied to every setting")
    args = parser.parse_intermixed_args(argv)  # overrides on both sides of the options
    apply_thread_policy(args.threads)
    settings: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        images = octa_cache(Path(args.work_dir or tmp), args.octa_train, args.octa_test)
        for w in (int(v) for v in args.workers.split(",")):
            cfg = load_config(CONFIGS / "drac.yaml", ["pretrain.augment.on_gpu=false", f"pretrain.num_workers={w}",
                                                      *args.overrides])
            settings[f"cpu_aug_{w}w"] = time_feed(cfg, images, args.epochs)
            print(f"[bench] cpu_aug_{w}w: {settings[f'cpu_aug_{w}w']}")
        if not args.skip_batched:
            cfg = load_config(CONFIGS / "drac.yaml", ["pretrain.augment.on_gpu=true", *args.overrides])
            settings["batched_aug"] = time_feed(cfg, images, args.epochs)
            settings["batched_aug"]["torch_ops_per_two_view_batch"] = batched_ops(cfg, images)
            print(f"[bench] batched_aug: {settings['batched_aug']}")
    device = resolve_device(load_config(CONFIGS / "drac.yaml", list(args.overrides)).run.device)
    write_result(args.name or f"feed_throughput_{device.type}", {
        "what": "image pairs per second delivered by the pretraining feed alone (no model): OCTA 512 px cache "
                "-> two 224 px views, batch 32, whole epochs after the first batch",
        "images": args.octa_train + args.octa_test,
        "torch_threads": torch.get_num_threads(),
        "settings": settings,
    }, Path(args.out_dir))


if __name__ == "__main__":
    main()
