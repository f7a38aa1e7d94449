"""Seconds per bootstrap: the counted resamples of drac_ssl.metrics against the loop that called
scikit-learn once per resample (what every fine-tuning stage, ``compare`` and the RetinaMNIST
benchmark ran before), and the largest difference between their values.

    python -m bench.bootstrap_speed                  # 1000 resamples, 3 interleaved repeats
    python -m bench.bootstrap_speed --n-boot 200 --repeats 1

Cases (synthetic grades and probabilities of a model that is right about 60% of the time, the
sizes of the package's data): the DRAC 2022 training set (611 images, K = 3, each image its
own unit), the same with patients (611 images of 306 patients: the cluster bootstrap), and the
RetinaMNIST cross-validation pool (1,200 images, K = 5). For each case and method it times
:func:`drac_ssl.metrics.bootstrap_scores` (accuracy, QWK and macro one-vs-rest AUC of every
resample, and the one-vs-one AUC since the stats audit's F5, after bootstrap_speed.json was
measured: one variant's share of the paired comparisons) and the QWK interval of
:func:`drac_ssl.metrics.bootstrap_ci` (what each decision rule's interval costs).

``loop`` is the earlier code path, kept here as the reference: the package's scikit-learn
wrappers (``quadratic_weighted_kappa``, ``macro_ovr_auc``, ``accuracy_score``) called on each
resample's images, with scikit-learn's parameter checks off as the package ran them. Repeats
interleave the two methods in a random order, so drift of a shared machine's load spreads over
both; a figure is the median over repeats, and the speed-up is the ratio of medians measured in
the same run. Writes ``bench/results/bootstrap_speed.json``.
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import time
from typing import Any

import numpy as np

from bench.common import load_average, write_result
from drac_ssl.starting import python_command


def case(n: int, k: int, patients: int | None, seed: int) -> dict[str, Any]:
    from drac_ssl.metrics import softmax

    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    right = rng.random(n) < 0.6
    pred = np.where(right, y, np.clip(y + rng.choice([-1, 1], size=n), 0, k - 1))
    probs = softmax(rng.normal(size=(n, k)) + 2.0 * np.eye(k)[pred])
    groups = None if patients is None else np.sort(rng.integers(0, patients, size=n))
    return {"y": y, "probs": probs, "pred": pred, "groups": groups, "k": k}


def loop_scores(c: dict[str, Any], n_boot: int, seed: int) -> np.ndarray:
    """The earlier path: scikit-learn on each resample (``_resampled_scores`` before the counts)."""
    import sklearn
    from sklearn.metrics import accuracy_score

    from drac_ssl.metrics import (
        bootstrap_resamples,
        macro_ovo_auc,
        macro_ovr_auc,
        quadratic_weighted_kappa,
        undefined_scores_quiet,
    )

    y, probs, pred, k = c["y"], c["probs"], c["pred"], c["k"]
    rows = []
    with undefined_scores_quiet(), sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        for idx in bootstrap_resamples(y.size, n_boot, seed, c["groups"]):
            rows.append((accuracy_score(y[idx], pred[idx]), quadratic_weighted_kappa(y[idx], pred[idx], k),
                         macro_ovr_auc(y[idx], probs[idx]), macro_ovo_auc(y[idx], probs[idx])))
    return np.array(rows, dtype=np.float64)


def loop_qwk_ci(c: dict[str, Any], n_boot: int, seed: int) -> tuple[float, float]:
    """The earlier QWK interval: a metric the counted path does not know is called per resample."""
    from drac_ssl.metrics import bootstrap_ci, quadratic_weighted_kappa

    k = c["k"]
    return bootstrap_ci(c["y"], c["pred"], lambda a, b: quadratic_weighted_kappa(a, b, k),
                        n_boot=n_boot, seed=seed, groups=c["groups"])


def counted_scores(c: dict[str, Any], n_boot: int, seed: int) -> np.ndarray:
    from drac_ssl.metrics import PAIRED_METRICS, bootstrap_scores

    s = bootstrap_scores(c["y"], c["probs"], c["pred"], n_boot=n_boot, seed=seed, groups=c["groups"])
    return np.stack([s.resampled[m] for m in PAIRED_METRICS], axis=1)


def counted_qwk_ci(c: dict[str, Any], n_boot: int, seed: int) -> tuple[float, float]:
    from drac_ssl.metrics import bootstrap_ci, quadratic_weighted_kappa

    return bootstrap_ci(c["y"], c["pred"], functools.partial(quadratic_weighted_kappa, num_grades=c["k"]),
                        n_boot=n_boot, seed=seed, groups=c["groups"])


def _max_difference(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not np.array_equal(np.isnan(a), np.isnan(b)):
        return float("inf")
    both = ~np.isnan(a)
    return float(np.max(np.abs(a[both] - b[both]))) if both.any() else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.bootstrap_speed"), allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-boot", type=int, default=1000, help="resamples per bootstrap (default 1000, "
                                                                 "finetune.n_boot's default)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (default 3)")
    parser.add_argument("--name", default="bootstrap_speed")
    args = parser.parse_args(argv)
    cases = {"drac_611_images_k3": case(611, 3, None, 0),
             "drac_611_images_306_patients_k3": case(611, 3, 306, 1),
             "retinamnist_1200_images_k5": case(1200, 5, None, 2)}
    methods = {"scores": {"loop": loop_scores, "counted": counted_scores},
               "qwk_ci": {"loop": loop_qwk_ci, "counted": counted_qwk_ci}}
    times: dict[tuple[str, str, str], list[float]] = {}
    values: dict[tuple[str, str, str], Any] = {}
    order = random.Random(0)
    load_start = load_average()
    for repeat in range(args.repeats):
        for name, c in cases.items():
            for what, pair in methods.items():
                for method in order.sample(list(pair), len(pair)):
                    start = time.perf_counter()
                    values[(name, what, method)] = pair[method](c, args.n_boot, 0)
                    times.setdefault((name, what, method), []).append(time.perf_counter() - start)
            print(f"[bootstrap_speed] repeat {repeat + 1}/{args.repeats}: {name} done", flush=True)
    results: dict[str, Any] = {}
    for name in cases:
        for what in methods:
            loop = statistics.median(times[(name, what, "loop")])
            counted = statistics.median(times[(name, what, "counted")])
            results.setdefault(name, {})[what] = {
                "loop_seconds": round(loop, 4), "counted_seconds": round(counted, 4),
                "speedup": round(loop / counted, 1),
                "max_abs_difference": _max_difference(values[(name, what, "loop")],
                                                      values[(name, what, "counted")]),
            }
            print(f"  {name:34s} {what:7s} loop {loop:7.3f} s  counted {counted:7.4f} s  "
                  f"x{loop / counted:6.1f}  max |diff| {results[name][what]['max_abs_difference']:.1e}")
    write_result(args.name, {
        "what": "seconds per bootstrap of n_boot resamples: drac_ssl.metrics' counted resamples vs "
                "the earlier loop of scikit-learn calls per resample (interleaved, median of repeats)",
        "n_boot": args.n_boot, "repeats": args.repeats,
        "load_average_1_5_15_min": {"start": load_start, "end": load_average()},
        "cases": results,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
