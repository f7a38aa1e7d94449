"""How often the bundle's out-of-distribution check flags images -> ``bench/results/ood_check.json``.

    python -m bench.ood_check [--run-dir runs/bench-retinamnist --run-dir runs/default] [--name ood_check]

On finished runs (by default the RetinaMNIST run of ``python -m bench.retinamnist`` and the
default phantom UW-OCTA job of README command (1)), the check of :mod:`drac_ssl.grading.ood`
that each bundle carries (rebuilt here from the run folder into a temporary folder, so the
run is not touched) is applied to:

* the run's unlabelled test images (RetinaMNIST: the 400 of the official split; phantom:
  the generated test set): never used to fit the profile, the same kind as the training
  images, so none to very few should be flagged (the threshold is twice the 99th percentile
  of the training images' cross-fitted distances);
* for a colour run with an official ``val`` split (RetinaMNIST): its labelled validation
  photographs cropped by 1 and by 2 pixels a side (a 7 % and a 14 % zoom of a 28 px image)
  and turned by 90 degrees: the same kind of image, framed a little differently (the model
  grades them nearly as well: false alarms, if flagged);
* the 30 real APTOS 2019 photographs of ``../shared/data`` (full-size fundus photographs
  from other cameras, preprocessed differently from RetinaMNIST's 28 px images): images
  this model was not trained on;
* the 3 real DRAC UW-OCTA samples (grey scans, replicated to three channels);
* synthetic images: uniform noise, a flat mid-grey image, a cartoon (a blue field with a
  white bar), a black image.

For each set it records how many were flagged, the distances (min / median / max) and the
grades the model gave, all from :func:`drac_ssl.grading.predict.grade_images` (the path of
the export and the app's batch tab). The RetinaMNIST test labels are never read (the
evaluator holds them).

What the check costs: on the run's own test images, in interleaved repeats (``--repeats``),
the seconds of grading alone (``predict_images``), of grading with the check in one pass
(``grade_images``: the check reads the features of the grading's own backbone pass), and of
the two separate calls (``predict_images`` then ``unlike_training_images``, a second
backbone pass), the order rotating from repeat to repeat. Median seconds, and the median
(and range) of each repeat's ratio to grading alone; one torch thread.

Exploratory notes (how :mod:`drac_ssl.grading.ood` was chosen; measured on the same two
bundles with a throwaway script that is not part of the repository, so pointers, not
results): the 8 x 8 pooled input alone, at 1x the 99th
percentile, flagged every foreign image on RetinaMNIST but 39 % of its 1-px crops, and on the
phantom UW-OCTA bundle no noise image and no APTOS photograph at all; the backbone features
alone flagged everything foreign on the phantom bundle but no OCTA scan on RetinaMNIST
(ratios to the threshold 0.7); a profile fitted on training views (random crops, flips,
colour jitter) flagged nothing foreign on RetinaMNIST; standardising each dimension before
the Ledoit-Wolf fit made the 1-px crops more often flagged (4 % against 0 % at 2x).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.common import REPO, SHARED_DATA, write_result
from drac_ssl.starting import python_command

if TYPE_CHECKING:
    from drac_ssl.grading.bundle import Bundle


def _sets(channels: int) -> dict[str, list[tuple[str, np.ndarray]]]:
    from drac_ssl.grading.predict import read_image

    aptos = sorted((SHARED_DATA / "aptos_samples").rglob("*.png"))
    drac = sorted((SHARED_DATA / "drac_samples").glob("*.png"))
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


def _crops(images: list[np.ndarray]) -> dict[str, list[tuple[str, np.ndarray]]]:
    def crop(a: np.ndarray, p: int) -> np.ndarray:
        return np.ascontiguousarray(a[p:a.shape[0] - p, p:a.shape[1] - p])

    return {"val_cropped_1px_a_side": [(str(i), crop(a, 1)) for i, a in enumerate(images)],
            "val_cropped_2px_a_side": [(str(i), crop(a, 2)) for i, a in enumerate(images)],
            "val_turned_90_degrees": [(str(i), np.ascontiguousarray(np.rot90(a))) for i, a in enumerate(images)]}


def _cost(bundle: Bundle, images: list[np.ndarray], repeats: int) -> dict[str, object]:
    """Median seconds of grading ``images`` (ingested cache rows) alone, with the check in
    one pass, and with the check as a second call; interleaved repeats."""
    from drac_ssl.grading.predict import grade_images, predict_images, unlike_training_images

    ways = {"grading_alone": lambda: predict_images(bundle, images, ingested=True),
            "grading_and_check_one_pass": lambda: grade_images(bundle, images, ingested=True),
            "grading_then_check_two_calls": lambda: (
                predict_images(bundle, images, ingested=True),
                unlike_training_images(bundle, images, ingested=True))}
    names = list(ways)
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for way in ways.values():  # warm-up, not counted
        way()
    for r in range(repeats):
        for name in names[r % 3:] + names[:r % 3]:  # the order rotates from repeat to repeat
            t0 = time.perf_counter()
            ways[name]()
            seconds[name].append(time.perf_counter() - t0)
    base = np.array(seconds["grading_alone"])
    ratios = {name: np.array(v) / base for name, v in seconds.items()}  # per repeat
    return {"images": len(images), "repeats": repeats, "tta": True,
            "median_seconds": {name: round(float(np.median(v)), 3) for name, v in seconds.items()},
            "ratio_to_grading_alone": {name: round(float(np.median(r)), 3) for name, r in ratios.items()},
            "ratio_range": {name: [round(float(r.min()), 3), round(float(r.max()), 3)]
                            for name, r in ratios.items() if name != "grading_alone"},
            "seconds": {name: [round(t, 3) for t in v] for name, v in seconds.items()}}


def check_run(run_dir: Path, repeats: int = 5) -> dict[str, object]:
    """The figures of one run (see the module docstring)."""
    from drac_ssl.datasets import load_octa_cache
    from drac_ssl.grading.bundle import build_bundle, load_bundle
    from drac_ssl.grading.predict import grade_images

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = load_bundle(build_bundle(run_dir, out=Path(tmp) / "bundle"))
    build_seconds = time.perf_counter() - t0
    profile = bundle.input_profile
    if profile is None:
        raise SystemExit(f"error: the bundle of {run_dir} has no input profile "
                         f"({bundle.metadata.get('input_profile', {}).get('why')})")
    class_names = list(bundle.metadata["class_names"])
    images, rows = load_octa_cache(run_dir / "data", bundle.spec.source_size)
    test = [r for r in rows if r["split"] == "test"]
    sets: dict[str, list[tuple[str, np.ndarray]]] = {
        "own_test_images_unlabelled": [(r["id"], np.asarray(images[r["cache_index"]])) for r in test]}
    val = [np.asarray(images[r["cache_index"]]) for r in rows if r.get("origin") == "val"]
    if val and bundle.spec.channels == 3:
        sets.update(_crops(val))
    sets.update(_sets(bundle.spec.channels))
    results: dict[str, object] = {}
    for name, items in sets.items():
        arrays = [a for _, a in items]
        ingested = name == "own_test_images_unlabelled"
        graded = grade_images(bundle, arrays, ingested=ingested)
        assert graded.distance is not None and graded.unlike is not None
        results[name] = _summary([n for n, _ in items], graded.distance, graded.unlike,
                                 graded.classes, class_names)
        print(f"[ood] {run_dir.name}: {name}: {results[name]['flagged']} of {len(items)} flagged")  # type: ignore[index]
    cost = _cost(bundle, [a for _, a in sets["own_test_images_unlabelled"]], repeats)
    print(f"[ood] {run_dir.name}: the check costs {cost['ratio_to_grading_alone']}")
    return {"run_dir": str(run_dir), "variant": bundle.metadata["variant"],
            "data": bundle.metadata.get("data", {}).get("kind"),
            "profile": {"how": profile.describe(), "threshold": profile.threshold,
                        "percentile": profile.percentile, "margin": profile.margin,
                        "training_images": profile.n_images,
                        "seconds_to_build_bundle_with_profile": round(build_seconds, 2)},
            "sets": results, "cost_on_own_test_images": cost}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.ood_check"), allow_abbrev=False,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", action="append", metavar="RUN",
                        help="a finished run folder (repeatable; default: runs/bench-retinamnist "
                             "and runs/default)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="interleaved timing repeats of the check's cost (default 5)")
    parser.add_argument("--name", default="ood_check")
    parser.add_argument("--out-dir", default=str(REPO / "bench" / "results"))
    args = parser.parse_args(argv)
    runs = [Path(r) for r in (args.run_dir or [REPO / "runs" / "bench-retinamnist", REPO / "runs" / "default"])]
    for run_dir in runs:
        if not (run_dir / "finetune" / "summary.json").is_file():
            print(f"error: {run_dir} is not a finished run folder (no finetune/summary.json)\n  fix: "
                  f"python -m bench.retinamnist (runs/bench-retinamnist), bash scripts/run_default.sh "
                  f"(runs/default), or --run-dir RUN", file=sys.stderr)
            return 2
    if not (SHARED_DATA / "aptos_samples").is_dir():
        print(f"error: {SHARED_DATA} is missing: the APTOS and DRAC samples are read from there",
              file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    bundles = {run_dir.name: check_run(run_dir, args.repeats) for run_dir in runs}
    write_result(args.name, {
        "what": ("share of images the bundle's out-of-distribution check (drac_ssl.grading.ood) "
                 "flags, per set and per bundle; the model's grades of each set"),
        "expected": ("none to very few of a run's own test images and of slightly reframed "
                     "validation images; every image of another kind"),
        "bundles": bundles,
    }, Path(args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
