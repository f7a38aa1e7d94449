"""The ECE of perfectly calibrated models, its old percentile bootstrap CI and
:func:`drac_ssl.metrics.ece_if_calibrated`'s reference, by simulation ->
``bench/results/ece_reference.json``.

    python -m bench.ece_reference                 # n = 60, 611; 100 data sets each; about 30 s on 1 core
    python -m bench.ece_reference --reps 20 --name ece_reference_smoke

The figures docs/evaluation.md ("Calibration and per grade") and the ECE's docstrings cite: a
finite sample's ECE is biased upwards, so the percentile bootstrap 95% CI the package printed
before (:func:`drac_ssl.metrics.bootstrap_ci` of :func:`drac_ssl.metrics.expected_calibration_error`)
did not hold a perfect model's true ECE of 0, and the reference that replaced it
(:func:`drac_ssl.metrics.ece_if_calibrated`, consistency resampling) should put the observed ECE
above its 95th percentile about 5 % of the time. The simulated model is
bench/bootstrap_coverage.py's (DRAC's grade shares, a latent score, softmax probabilities over 3
grades), with each image's grade then drawn from its own probabilities: the probabilities are
right, so the true ECE is 0. For each size ``n``, ``reps`` data sets of ``n`` images get the
observed ECE (10 bins), its old CI (``n_boot`` resamples of the images, seeded by the
repetition) and the reference (1000 draws, seeded by the repetition); the first data set's
reference is drawn under 20 seeds too, for the spread of its 95th percentile. ``*_mc_se``: the Monte
Carlo standard error of a share, ``sqrt(p (1 - p) / reps)``.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from bench.bootstrap_coverage import add_simulation_arguments, draw
from bench.common import write_result
from drac_ssl.starting import python_command

SEED_SPREAD_SEEDS = 20
"""Seeds of ``ece_if_calibrated`` on one data set per size: how far its 95th percentile moves
between seeds (``reference_p95_seed_sd``, ``reference_p95_seed_range``)."""


def calibrated(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of a perfectly calibrated 3-grade model: grades ``(n,)`` drawn from the
    probabilities ``(n, 3)`` of bench/bootstrap_coverage.py's model."""
    _, probs, _ = draw(n, rng)
    grades = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, 2)
    return grades, probs


def size(n: int, reps: int, n_boot: int, rng: np.random.Generator) -> dict[str, Any]:
    """The observed ECEs, the old CIs' coverage of 0 and the reference's false alarms of ``reps``
    perfectly calibrated data sets of ``n`` images."""
    from drac_ssl.metrics import bootstrap_ci, ece_if_calibrated, expected_calibration_error

    eces, held, above, means, p95s = [], 0, 0, [], []
    start = time.perf_counter()
    for rep in range(reps):
        grades, probs = calibrated(n, rng)
        ece = expected_calibration_error(grades, probs)
        low, high = bootstrap_ci(grades, probs, expected_calibration_error, n_boot=n_boot, seed=rep)
        mean, p95 = ece_if_calibrated(probs, seed=rep)
        eces.append(ece)
        held += bool(low <= 0.0 <= high)
        above += bool(ece > p95)
        means.append(mean)
        p95s.append(p95)
        if rep == 0:  # the reference's 95th percentile across seeds, on the first data set
            seeds = [ece_if_calibrated(probs, seed=s)[1] for s in range(SEED_SPREAD_SEEDS)]
    h, a = held / reps, above / reps
    return {"n": n, "reps": reps, "ece_mean": round(float(np.mean(eces)), 4),
            "ece_median": round(float(np.median(eces)), 4),
            "old_ci_held_0": held, "old_ci_coverage": round(h, 4), "old_ci_mc_se": round(math.sqrt(h * (1 - h) / reps), 4),
            "reference_mean": round(float(np.mean(means)), 4), "reference_p95_mean": round(float(np.mean(p95s)), 4),
            "above_reference_p95": above, "false_alarm_share": round(a, 4),
            "false_alarm_mc_se": round(math.sqrt(a * (1 - a) / reps), 4),
            "reference_p95_seed_sd": round(float(np.std(seeds, ddof=1)), 4),
            "reference_p95_seed_range": round(float(np.ptp(seeds)), 4),
            "seconds": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.ece_reference"), allow_abbrev=False,
                                     description=__doc__.split("\n\n")[0])
    add_simulation_arguments(parser, "ece_reference", [60, 611], 100, "old CI")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    sizes = []
    for n in args.sizes:
        sizes.append(size(n, args.reps, args.n_boot, rng))
        s = sizes[-1]
        print(f"  n={n:5d}: ECE mean {s['ece_mean']:.3f} (true 0); old 95% CI held 0 in {s['old_ci_held_0']} of "
              f"{s['reps']}; reference mean {s['reference_mean']:.3f}, p95 {s['reference_p95_mean']:.3f}, "
              f"ECE above it in {s['above_reference_p95']} of {s['reps']}; {s['seconds']} s", flush=True)
    write_result(args.name, {
        "what": "the ECE (10 bins) of perfectly calibrated simulated 3-grade models (true ECE 0): its old "
                "percentile bootstrap 95% CI's coverage of 0 (drac_ssl.metrics.bootstrap_ci) and how often "
                "it passes the 95th percentile of drac_ssl.metrics.ece_if_calibrated",
        "simulation": {"model": "bench/bootstrap_coverage.py's probabilities; each grade drawn from its own row",
                       "seed": args.seed},
        "n_boot": args.n_boot, "reps": args.reps, "sizes": sizes,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
