"""Near-duplicate images across RetinaMNIST's cross-validation folds (review s52r F1).

    python -m bench.near_duplicates [--npz PATH] [--threshold 1e-4] [--no-floor]

RetinaMNIST's ``.npz`` carries no patient id, so the ingest makes its folds per image
(``data_prep.folds.assign_folds``, stratified by grade, ``data.n_folds=5``,
``data.fold_seed=0``: the folds of ``configs/retinamnist.yaml`` and ``bench/retinamnist.py``).
An image and its near twin (another photograph of the same eye, or the same photograph
resized twice) can then sit in different folds: the fold that validates one has trained on
the other, and the out-of-fold figures get credit for memory. This script measures how often:

* each labelled image's nearest labelled neighbour by mean squared pixel difference (pixels
  scaled to 0..1, all 28 x 28 x 3 values): how many have a neighbour closer than
  ``--threshold`` (a near twin), whether the twin has the same grade and whether it sits in
  another fold;
* the same distance from each of the 400 test images to the labelled pool, so that one can
  see whether the hidden test split holds such twins of labelled images (if not, the
  out-of-fold figures can sit above what the test split gives, for this reason alone);
* what it does to two models that need no training run, out of fold on the per-image folds
  and on folds that keep each group of twins together (``assign_folds`` with the groups as
  patients: ``StratifiedGroupKFold``): a 1-nearest-neighbour on the raw pixels (pure
  memory: the upper end of the effect) and the pixel floor of ``bench/retinamnist.py``
  (logistic regression; ``--no-floor`` skips it, about a minute and a half each), the 1-NN
  also on :data:`FOLD_SEEDS` splits of each kind, since another split alone moves the
  figures. The networks' own change is not measured here (it needs their fine-tuning rerun
  on the grouped folds).

The distance and the grouping are :mod:`data_prep.near_duplicates`, the same the ingest uses
for ``data.near_duplicate_mse`` (which keeps such groups in one fold in a run; there on the
cached copies, here on the ``.npz``'s pixels, the same at RetinaMNIST's 28 px).

Writes ``bench/results/near_duplicates_retinamnist.json``. The threshold is a choice, not a
fact of the data: the file records the counts at several thresholds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import shared_data_folder, write_result
from data_prep.near_duplicates import (
    comparison_rows,
    near_duplicate_groups,
    nearest_neighbours,
    twin_groups,
)
from drac_ssl.starting import python_command

# the distance and the grouping are the ingest's own (data.near_duplicate_mse): one implementation
__all__ = ["near_duplicate_groups", "nearest_neighbours", "one_nn_accuracy", "twin_groups", "main"]

FOLD_SEEDS = 10
"""Fold splits of each kind on which the 1-NN is repeated (``data.fold_seed`` 0..9)."""

THRESHOLDS = (1e-4, 3e-4, 1e-3)
"""Mean squared pixel differences (0..1 scale) at which the twins are counted; 1e-4 is an
RMS difference of 1 % of the range (2.6 grey levels of 255)."""


def one_nn_accuracy(x: np.ndarray, grades: np.ndarray, folds: np.ndarray) -> float:
    """Out-of-fold accuracy of a 1-nearest-neighbour on the rows of ``x``: each row of fold
    ``f`` takes the grade of its nearest row in the other folds
    (``sklearn.model_selection.cross_val_predict`` of ``KNeighborsClassifier(1)``)."""
    from sklearn.model_selection import PredefinedSplit, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    pred = cross_val_predict(KNeighborsClassifier(n_neighbors=1, algorithm="brute"), x, grades,
                             cv=PredefinedSplit(folds))
    return float((pred == grades).mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.near_duplicates"), allow_abbrev=False, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--npz", default=None, help="the MedMNIST file (default: the shared data's "
                        "retinamnist/retinamnist_public.npz)")
    parser.add_argument("--threshold", type=float, default=THRESHOLDS[0],
                        help="mean squared pixel difference (0..1 scale) below which two images are twins")
    parser.add_argument("--n-folds", type=int, default=5)
    parser.add_argument("--fold-seed", type=int, default=0)
    parser.add_argument("--no-floor", action="store_true", help="skip the logistic-regression floor")
    parser.add_argument("--name", default="near_duplicates_retinamnist")
    parser.add_argument("--out-dir", type=Path, default=None, help="where the result goes (default bench/results)")
    args = parser.parse_args(argv)

    from data_prep.folds import assign_folds

    npz = Path(args.npz) if args.npz else shared_data_folder() / "retinamnist" / "retinamnist_public.npz"
    if not npz.is_file():
        raise SystemExit(f"{npz}: no such file; fix: --npz PATH to retinamnist_public.npz, or set "
                         f"DRAC_SSL_SHARED_DATA to the folder that holds retinamnist/")
    t0 = time.perf_counter()
    with np.load(npz) as data:
        images = np.concatenate([data["train_images"], data["val_images"]])
        grades = np.concatenate([data["train_labels"], data["val_labels"]]).ravel().astype(np.int64)
        test = data["test_images"]
    x = comparison_rows(images)  # 28 px: as they are, / 255
    t = comparison_rows(test)
    folds, _ = assign_folds(grades, args.n_folds, args.fold_seed)
    index, distance = nearest_neighbours(x)
    test_index, test_distance = nearest_neighbours(t, x)

    def counts(threshold: float) -> dict[str, Any]:
        twin = distance < threshold
        return {"threshold_mse": threshold, "images_with_a_twin": int(twin.sum()),
                "twin_same_grade": int((grades[index] == grades)[twin].sum()),
                "twin_in_another_fold": int((folds[index] != folds)[twin].sum()),
                "test_images_with_a_labelled_twin": int((test_distance < threshold).sum())}

    groups = near_duplicate_groups(x, args.threshold)  # every pair below it linked, as the ingest
    grouped, _ = assign_folds(grades, args.n_folds, args.fold_seed, patients=[str(g) for g in groups])
    effect: dict[str, Any] = {
        "one_nn_accuracy": {"per_image_folds": one_nn_accuracy(x, grades, folds),
                            "twins_kept_together": one_nn_accuracy(x, grades, grouped)}}
    # another fold split alone moves the figures: the 1-NN (seconds) on FOLD_SEEDS splits of
    # each kind separates the twins' effect from the split's noise
    spread = {}
    for kind, patients in (("per_image_folds", None), ("twins_kept_together", [str(g) for g in groups])):
        accs = [one_nn_accuracy(x, grades, assign_folds(grades, args.n_folds, s, patients=patients)[0])
                for s in range(FOLD_SEEDS)]
        spread[kind] = {"mean": float(np.mean(accs)), "sd": float(np.std(accs, ddof=1)), "per_seed": accs}
    effect["one_nn_accuracy_over_fold_seeds"] = {"fold_seeds": f"0..{FOLD_SEEDS - 1}", **spread}
    if not args.no_floor:
        from bench.retinamnist import pixel_floor

        floors = {"per_image_folds": pixel_floor(images, grades, folds, seed=0, n_boot=200),
                  "twins_kept_together": pixel_floor(images, grades, grouped, seed=0, n_boot=200)}
        effect["pixel_floor"] = {k: {m: f[m] for m in ("accuracy", "qwk", "auc_ovr")} for k, f in floors.items()}
    order = np.argsort(distance)[:5]
    names = [f"train_{i:04d}.png" for i in range(len(images) - 120)] + [f"val_{i:04d}.png" for i in range(120)]
    figures = {
        "what": "each labelled RetinaMNIST image's nearest labelled neighbour (mean squared difference of "
                "the 28x28x3 pixels on a 0..1 scale), its grade and fold on the per-image folds the ingest "
                f"makes (n_folds {args.n_folds}, fold_seed {args.fold_seed}); the test images' nearest "
                "labelled neighbour; two untrained models out of fold on those folds and on folds that keep "
                "each group of twins together",
        "data": str(npz),
        "labelled_images": len(images), "test_images": len(test),
        "counts": [counts(th) for th in sorted({*THRESHOLDS, args.threshold})],
        "grouping_threshold_mse": args.threshold,
        "twin_groups": int(sum(1 for g in np.unique(groups) if (groups == g).sum() > 1)),
        "nearest_test_to_labelled_mse": float(test_distance.min()),
        "nearest_labelled_pair_mse": float(distance.min()),
        "closest_pairs": [{"image": names[i], "twin": names[index[i]], "mse": float(distance[i]),
                           "grades": [int(grades[i]), int(grades[index[i]])],
                           "folds": [int(folds[i]), int(folds[index[i]])]} for i in order],
        "effect": effect,
        "not_measured": "the networks' out-of-fold figures on the grouped folds (their fine-tuning rerun)",
        "seconds": round(time.perf_counter() - t0, 1),
    }
    for c in figures["counts"]:
        print(f"[near-duplicates] MSE < {c['threshold_mse']:g}: {c['images_with_a_twin']} labelled images "
              f"with a twin ({c['twin_same_grade']} same grade, {c['twin_in_another_fold']} in another fold); "
              f"{c['test_images_with_a_labelled_twin']} test images with a labelled twin")
    print(f"[near-duplicates] effect: {effect}")
    write_result(args.name, figures, args.out_dir)


if __name__ == "__main__":
    main()
