"""Inference: images per second for the fold ensemble with TTA, on the GPU and on this CPU (issue #7).

Measures the package's own prediction path on a model bundle: every fold model of the
ensemble with flip TTA (the 4 views of a chunk of images in one forward pass; a backbone the
folds share runs once for all fold heads; channels-last weights on the CPU), the stored
calibration turning the mean output into probabilities and a grade.

* model: preprocessed input tensors ``(n, 1, 224, 224)`` -> probabilities, by
  :func:`drac_ssl.grading.predict.predict_tensors` (host -> device copy included);
* end to end: decoded 1024 x 1024 uint8 grey images -> probabilities, by
  :func:`drac_ssl.grading.predict.predict_images` (INTER_AREA resize to the 512 px cache size, to
  224 px, normalisation, then the model), the path of the command line and the app;
* preprocessing alone (:func:`drac_ssl.grading.predict.preprocess_image`) and PNG decoding
  (:func:`drac_ssl.grading.predict.read_image_any`) per image, to show where end-to-end time goes;
* on CUDA also the same ensemble under bf16 autocast (``predict.predict_raw(bf16=True)``, not what
  ``predict_tensors`` does today) and its largest probability difference from fp32.

The bundle is ``--bundle PATH`` (a run folder or its ``bundle/``) or, by default, an
untrained bundle of the DRAC recipe's shape (``configs/drac.yaml``: ResNet-18, 1 channel,
224 px from the 512 px cache, conv head, 5 folds, frozen backbone) written to a temporary
folder by :func:`app.demo_bundle.build_demo_bundle` through :func:`drac_ssl.grading.bundle.build_bundle`:
the same files and the same compute as a trained bundle. Images: the three DRAC samples of
../shared (1024 px PNG), decoded once and cycled, else synthetic 1024 px noise.

    python -m bench.inference [--device auto|cpu|cuda] [--images N] [--batch-size B]
                              [--bundle PATH] [--no-tta] [--out-dir DIR]

Writes ``bench/results/inference_<cpu|cuda>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.common import RESULTS, SHARED_DATA, add_threads_argument, write_result  # noqa: E402
from drac_ssl.config import load_config  # noqa: E402
from drac_ssl.export import PREDICT_CHUNK  # noqa: E402
from drac_ssl.grading import predict  # noqa: E402
from drac_ssl.grading.bundle import Bundle, BundleError, load_bundle  # noqa: E402
from drac_ssl.runtime import apply_thread_policy, resolve_device  # noqa: E402
from drac_ssl.starting import python_command  # noqa: E402

SAMPLES = SHARED_DATA / "drac_samples"
PREDICT_RAW_BATCH = predict.PREDICT_BATCH  # views per forward pass in predict_tensors
IMAGE_SIDE = 1024  # the DRAC UW-OCTA images


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def drac_recipe_bundle(folder: Path) -> tuple[Path, str]:
    """An untrained bundle of ``configs/drac.yaml``'s shape in ``folder``, in the real format."""
    from app.demo_bundle import build_demo_bundle

    cfg = load_config(REPO / "configs" / "drac.yaml")
    bundle = build_demo_bundle(folder / "run", image_size=cfg.finetune.image_size,
                               source_size=cfg.pretrain.augment.source_size,
                               n_folds=cfg.data.n_folds, head=cfg.finetune.head,
                               arch=cfg.pretrain.backbone.arch)
    return bundle, ("untrained bundle of the DRAC recipe's shape (configs/drac.yaml) written by "
                    "app.demo_bundle through drac_ssl.grading.bundle.build_bundle: random weights, the "
                    "real format and compute")


def source_images(n: int, seed: int = 0) -> tuple[list[np.ndarray], str, float | None]:
    """``n`` decoded uint8 grey 1024 px images, a description, and the PNG decode time per image (s)."""
    paths = [SAMPLES / f"sample_{i}.png" for i in range(3)]
    if all(p.is_file() for p in paths):
        t0 = time.perf_counter()
        decoded = [predict.read_image_any(p) for p in paths]
        decode_s = (time.perf_counter() - t0) / len(paths)
        note = (f"the {len(paths)} DRAC samples of {SAMPLES} ({decoded[0].shape[1]} x "
                f"{decoded[0].shape[0]} grey PNG), decoded once, cycled")
    else:
        rng = np.random.default_rng(seed)
        decoded = [rng.integers(0, 256, (IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8) for _ in range(3)]
        decode_s = None
        note = f"synthetic {IMAGE_SIDE} x {IMAGE_SIDE} uint8 noise (no DRAC samples at {SAMPLES})"
    return [decoded[i % len(decoded)] for i in range(n)], note, decode_s


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def chunks(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices of at most ``batch_size`` covering ``range(n)``."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    return [slice(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


def images_per_second(fn: Callable[[slice], Any], n: int, batch_size: int, warmup: int,
                      device: torch.device) -> tuple[float, float]:
    """Call ``fn`` on the batches of ``range(n)`` after an untimed call on the first
    ``warmup`` images (none for 0); ``(images per second, seconds)``."""
    parts = chunks(n, batch_size)
    if warmup > 0:
        fn(slice(0, min(warmup, n)))
    _sync(device)
    t0 = time.perf_counter()
    for part in parts:
        fn(part)
    _sync(device)
    seconds = time.perf_counter() - t0
    return n / seconds, seconds


def bf16_ensemble(bundle: Bundle, inputs: torch.Tensor, tta: bool) -> np.ndarray:
    """``predict_tensors``'s probabilities with every model under bf16 autocast."""
    raw = [predict.predict_raw(m, inputs, tta, bundle.device, bf16=True) for m in bundle.models]
    probs, _, _ = bundle.calibration.decide(raw)
    return probs


def backbone_passes(bundle: Bundle, tta: bool) -> int:
    """Backbone forward passes per image: once per flip when the folds share a frozen backbone."""
    flips = len(predict.TTA_FLIPS) if tta else 1
    return flips if bundle.shared_backbone is not None else len(bundle.models) * flips


def measure(bundle: Bundle, images: Sequence[np.ndarray], batch_size: int, tta: bool,
            warmup: int, bf16: bool) -> dict[str, Any]:
    device = bundle.device
    n = len(images)
    t0 = time.perf_counter()
    inputs = torch.stack([predict.preprocess_image(im, bundle.metadata) for im in images])
    preprocess_s = time.perf_counter() - t0
    print(f"[inference] preprocessed {n} images in {preprocess_s:.1f} s -> {tuple(inputs.shape)}",
          flush=True)

    model_ips, model_s = images_per_second(
        lambda s: predict.predict_tensors(bundle, inputs[s], tta), n, batch_size, warmup, device)
    print(f"[inference] model (tensors -> probabilities): {model_ips:.2f} images/s", flush=True)
    e2e_ips, e2e_s = images_per_second(
        lambda s: predict.predict_images(bundle, images[s], tta), n, batch_size, warmup, device)
    print(f"[inference] end to end (decoded {images[0].shape[0]} px -> probabilities): "
          f"{e2e_ips:.2f} images/s", flush=True)
    passes = backbone_passes(bundle, tta)
    out: dict[str, Any] = {
        "model_images_per_s": round(model_ips, 2),
        "model_seconds": round(model_s, 3),
        "model_backbone_passes_per_s": round(model_ips * passes, 1),
        "end_to_end_images_per_s": round(e2e_ips, 2),
        "end_to_end_seconds": round(e2e_s, 3),
        "preprocess_images_per_s": round(n / preprocess_s, 1),
        "preprocess_ms_per_image": round(1000 * preprocess_s / n, 2),
    }
    if bf16:
        bf16_ips, bf16_s = images_per_second(
            lambda s: bf16_ensemble(bundle, inputs[s], tta), n, batch_size, warmup, device)
        k = min(n, batch_size)
        ref, _, _ = predict.predict_tensors(bundle, inputs[:k], tta)
        diff = float(np.abs(bf16_ensemble(bundle, inputs[:k], tta) - ref).max())
        out.update({"model_bf16_images_per_s": round(bf16_ips, 2),
                    "model_bf16_seconds": round(bf16_s, 3),
                    "bf16_max_abs_prob_diff_vs_fp32": round(diff, 6),
                    "bf16_note": "same ensemble, every fold model run separately (one backbone pass per "
                                 "fold and flip) under torch.autocast(bfloat16) via predict.predict_raw(bf16=True); "
                                 "predict_tensors itself runs fp32"})
        print(f"[inference] model under bf16 autocast: {bf16_ips:.2f} images/s "
              f"(max |dP| vs fp32 {diff:.2e})", flush=True)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.inference"), allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", default=None,
                        help="run folder or bundle folder (default: an untrained DRAC-recipe bundle)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--images", type=int, default=0,
                        help="images timed per measurement (default 64 on CPU, 512 on CUDA)")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="images per predict_tensors / predict_images call (default 32 on CPU, "
                             "as the command line; 64 on CUDA)")
    parser.add_argument("--warmup", type=int, default=-1,
                        help="images of the untimed call before each timing (default: one batch on "
                             "CUDA, 4 images on CPU, where a full batch takes a minute)")
    parser.add_argument("--no-tta", action="store_true", help="identity view only")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 measurement on CUDA")
    add_threads_argument(parser)
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--name", default=None, help="result name (default inference_<cpu|cuda>)")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    apply_thread_policy(args.threads)
    cuda = device.type == "cuda"
    n = args.images or (512 if cuda else 64)
    batch_size = args.batch_size or (64 if cuda else PREDICT_CHUNK)
    tta = not args.no_tta
    warmup = args.warmup if args.warmup >= 0 else (batch_size if cuda else 4)
    load_before = _load_average()
    with tempfile.TemporaryDirectory(prefix="drac_inference_") as tmp:
        if args.bundle:
            bundle_path, bundle_note = Path(args.bundle), "given with --bundle"
        else:
            bundle_path, bundle_note = drac_recipe_bundle(Path(tmp))
        try:
            bundle = load_bundle(bundle_path, device)
        except (BundleError, FileNotFoundError) as exc:  # a wrong or damaged --bundle
            print(f"error: {exc}", file=sys.stderr)
            return 2
        images, images_note, decode_s = source_images(n)
        meta = bundle.metadata
        print(f"[inference] {len(bundle.models)}-fold {meta['model']['arch']} "
              f"{meta['model']['head']}-head ensemble, {meta['input']['size'][0]} px, "
              f"TTA {'on' if tta else 'off'}, on {device}, {n} images, batch {batch_size}", flush=True)
        results = measure(bundle, images, batch_size, tta, warmup, bf16=cuda and not args.no_bf16)
    results["decode_png_ms_per_image"] = None if decode_s is None else round(1000 * decode_s, 1)
    flips = len(predict.TTA_FLIPS) if tta else 1
    name = args.name or f"inference_{'cuda' if cuda else 'cpu'}"
    write_result(name, {
        "what": ("images per second of the fold ensemble with flip TTA through the package's "
                 "prediction path: model = grading.predict.predict_tensors on preprocessed tensors; end to "
                 "end = grading.predict.predict_images on decoded uint8 images (preprocessing included, "
                 "PNG decoding not)"),
        "bundle": {
            "path": None if not args.bundle else str(bundle_path), "source": bundle_note,
            "arch": meta["model"]["arch"], "head": meta["model"]["head"],
            "freeze": meta.get("freeze"), "input": {k: meta["input"][k] for k in
                                                   ("channels", "size", "source_size")},
        },
        "folds": len(bundle.models),
        "tta": tta,
        "tta_flips": flips,
        "backbone_shared_by_folds": bundle.shared_backbone is not None,
        "backbone_passes_per_image": backbone_passes(bundle, tta),
        "head_passes_per_image": len(bundle.models) * flips,
        "precision": "fp32 (predict_tensors)",
        "device_kind": device.type,
        "images": n,
        "images_source": images_note,
        "batch_size": batch_size,
        "model_batch_views": min(batch_size, max(1, PREDICT_RAW_BATCH // flips)) * flips,
        "channels_last": bundle.channels_last,
        "warmup_images": warmup,
        "torch_threads": torch.get_num_threads(),
        "host_load_average_1m": {"before": load_before, "after": _load_average(),
                                 "note": "other processes on the host slow a CPU measurement down"},
        "results": results,
    }, Path(args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
