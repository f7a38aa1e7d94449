"""How often the bundle's out-of-distribution check flags images -> ``bench/results/ood_check.json``.

    python -m bench.ood_check [--run-dir runs/bench-retinamnist] [--name ood_check]

On a finished RetinaMNIST run (``python -m bench.retinamnist``, whose run folder is the
default), the check of :mod:`drac_ssl.grading.ood` that its bundle carries (rebuilt here
from the run folder into a temporary folder, so the run is not touched) is applied to:

* the 400 unlabelled RetinaMNIST test images: never used to fit the profile, the same kind
  as the training images, so about 1 % should be flagged (the threshold is the 99th
  percentile of the training images' cross-fitted distances);
* the 30 real APTOS 2019 photographs of ``../shared/data`` (full-size fundus photographs
  from other cameras, preprocessed differently from RetinaMNIST's 28 px images): images
  this model was not trained on;
* the 3 real DRAC UW-OCTA samples (grey scans, replicated to three channels);
* synthetic images: uniform noise, a flat mid-grey image, a cartoon (a blue field with a
  white bar), a black image.

For each set it records how many were flagged, the distances (min / median / max) and the
grades the model gave. The RetinaMNIST test labels are never read (the evaluator holds them).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import REPO, SHARED, write_result


def _sets(channels: int) -> dict[str, list[tuple[str, np.ndarray]]]:
    from drac_ssl.grading.predict import read_image

    aptos = sorted((SHARED / "data" / "aptos_samples").rglob("*.png"))
    drac = sorted((SHARED / "data" / "drac_samples").glob("*.png"))
    rng = np.random.default_rng(0)
    cartoon = np.zeros((300, 300, 3), np.uint8)
    cartoon[..., 2] = 200
    cartoon[120:180, 40:260] = 255
    synthetic = [("noise", rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)),
                 ("flat grey", np.full((300, 300, 3), 128, np.uint8)),
                 ("cartoon", cartoon), ("black", np.zeros((300, 300, 3), np.uint8))]
    if channels == 1:
        synthetic = [(n, a.mean(axis=2).astype(np.uint8)) for n, a in synthetic]
    return {"aptos_2019_photographs": [(p.name, read_image(p, channels)[0]) for p in aptos],
            "drac_uw_octa_samples": [(p.name, read_image(p, channels)[0]) for p in drac],
            "synthetic": synthetic}


def _summary(names: list[str], distances: np.ndarray, flagged: np.ndarray, grades: np.ndarray,
             class_names: list[str]) -> dict[str, object]:
    return {"n": len(names), "flagged": int(flagged.sum()),
            "flagged_share": round(float(flagged.mean()), 4) if len(names) else None,
            "distance_min_median_max": [round(float(v), 1) for v in
                                        np.percentile(distances, [0, 50, 100])] if len(names) else None,
            "grades_given": {class_names[g]: int(c) for g, c in
                             enumerate(np.bincount(grades, minlength=len(class_names))) if c},
            "flagged_names": [n for n, f in zip(names, flagged, strict=True) if f][:40]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "bench-retinamnist"),
                        help="a finished run folder of configs/retinamnist.yaml")
    parser.add_argument("--name", default="ood_check")
    parser.add_argument("--out-dir", default=str(REPO / "bench" / "results"))
    args = parser.parse_args(argv)

    from drac_ssl.datasets import load_octa_cache
    from drac_ssl.grading.bundle import build_bundle, load_bundle
    from drac_ssl.grading.predict import predict_images, unlike_training_images

    run_dir = Path(args.run_dir)
    if not (run_dir / "finetune" / "summary.json").is_file():
        print(f"error: {run_dir} is not a finished run folder (no finetune/summary.json)\n  fix: "
              f"python -m bench.retinamnist (writes runs/bench-retinamnist), or --run-dir RUN",
              file=sys.stderr)
        return 2
    if not (SHARED / "data" / "aptos_samples").is_dir():
        print(f"error: {SHARED / 'data'} is missing: the APTOS and DRAC samples are read from there",
              file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = load_bundle(build_bundle(run_dir, out=Path(tmp) / "bundle"))
    build_seconds = time.perf_counter() - t0
    profile = bundle.input_profile
    if profile is None:
        print(f"error: the bundle of {run_dir} has no input profile "
              f"({bundle.metadata.get('input_profile', {}).get('why')})", file=sys.stderr)
        return 2
    class_names = list(bundle.metadata["class_names"])
    results: dict[str, object] = {}

    images, rows = load_octa_cache(run_dir / "data", bundle.spec.source_size)
    test = [r for r in rows if r["split"] == "test"]
    test_images = [np.asarray(images[r["cache_index"]]) for r in test]
    checked = unlike_training_images(bundle, test_images, ingested=True)
    assert checked is not None
    _, grades = predict_images(bundle, test_images, ingested=True)
    results["retinamnist_test_images_unlabelled"] = _summary([r["id"] for r in test], *checked, grades,
                                                             class_names)
    for name, items in _sets(bundle.spec.channels).items():
        arrays = [a for _, a in items]
        checked = unlike_training_images(bundle, arrays)
        assert checked is not None
        _, grades = predict_images(bundle, arrays)
        results[name] = _summary([n for n, _ in items], *checked, grades, class_names)
        print(f"[ood] {name}: {results[name]['flagged']} of {len(items)} flagged")  # type: ignore[index]
    print(f"[ood] RetinaMNIST test images: {results['retinamnist_test_images_unlabelled']['flagged']} "  # type: ignore[index]
          f"of {len(test)} flagged")
    write_result(args.name, {
        "what": ("share of images the bundle's out-of-distribution check (drac_ssl.grading.ood) "
                 "flags, per set; the model's grades of each set"),
        "run_dir": str(run_dir), "variant": bundle.metadata["variant"],
        "profile": {"how": profile.describe(), "threshold": profile.threshold,
                    "percentile": profile.percentile, "training_images": profile.n_images,
                    "seconds_to_build_bundle_with_profile": round(build_seconds, 2)},
        "expected": ("about 1 % of the RetinaMNIST test images (same kind, never fitted); every "
                     "image of the other sets except possibly the black one (the app's blank-image "
                     "warning covers that)"),
        "sets": results,
    }, Path(args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
