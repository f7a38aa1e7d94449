"""How often the package's percentile bootstrap 95% CIs of QWK and the macro one-vs-one AUC hold
the true value, by simulation -> ``bench/results/bootstrap_coverage.json``.

    python -m bench.bootstrap_coverage                  # n = 40, 100, 611; about a minute on 1 core
    python -m bench.bootstrap_coverage --reps 50 --n-boot 200 --name bootstrap_coverage_smoke

A stats audit found the intervals under-cover at tens of images; this makes the figures that
docs/evaluation.md ("Small n") cites reproducible. The simulated model (the audit's): DRAC's
grade shares (54 % Normal, 35 % NPDR, 11 % PDR); a latent score ``z = 1.6 * grade + 0.9 *
noise`` (noise standard normal); probabilities ``softmax(-(z - 1.6 k)^2 / 1.5)`` over the
grades ``k``; the submitted grade the expected grade cut at 0.5 and 1.5
(:func:`drac_ssl.metrics.apply_thresholds`), as DRAC's threshold rule does. The true QWK and
AUC OvO are those of 400,000 images of the same model. For each size ``n``, ``reps`` data sets
of ``n`` images each get the interval the package prints
(:func:`drac_ssl.metrics.bootstrap_ci` of the QWK over the 3 grades,
:func:`drac_ssl.metrics.bootstrap_ci_counted` of :func:`drac_ssl.metrics.macro_ovo_auc`;
``n_boot`` resamples of the images, seeded by the repetition), and the coverage is the share
of intervals that hold the true value (a data set without a PDR image has no AUC and is left
out of the AUC's share, counted in ``auc_sets_without_pdr``). ``*_mc_se``: the Monte Carlo
standard error of a coverage, ``sqrt(p (1 - p) / sets)``. One simulated model, independent
images: a real set's coverage depends on its model, grade shares and patients.
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from typing import Any

import numpy as np

from bench.common import write_result
from drac_ssl.starting import python_command

SHARES = (0.54, 0.35, 0.11)
"""The simulated grade shares (DRAC 2022 Task 3's training set, about)."""

TRUTH_IMAGES = 400_000


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` images of the simulated model: true grades ``(n,)``, probabilities ``(n, 3)`` and
    submitted grades ``(n,)`` (the expected grade cut at 0.5 and 1.5)."""
    from drac_ssl.metrics import apply_thresholds, expected_grade, softmax

    grades = rng.choice(3, n, p=SHARES)
    z = grades * 1.6 + rng.normal(0, 1, n) * 0.9
    probs = softmax(np.stack([-(z - 1.6 * k) ** 2 for k in range(3)], axis=1) / 1.5)
    return grades, probs, apply_thresholds(expected_grade(probs), (0.5, 1.5))


def coverage(n: int, reps: int, n_boot: int, truth: tuple[float, float], rng: np.random.Generator) -> dict[str, Any]:
    """The share of ``reps`` data sets of ``n`` images whose 95% CIs hold ``truth`` (QWK, AUC OvO)."""
    from drac_ssl.metrics import (
        bootstrap_ci,
        bootstrap_ci_counted,
        macro_ovo_auc,
        quadratic_weighted_kappa,
    )

    qwk = functools.partial(quadratic_weighted_kappa, num_grades=3)
    held_qwk = held_auc = without_pdr = 0
    start = time.perf_counter()
    for rep in range(reps):
        grades, probs, pred = draw(n, rng)
        low, high = bootstrap_ci(grades, pred, qwk, n_boot=n_boot, seed=rep)
        held_qwk += bool(low <= truth[0] <= high)
        if not (grades == 2).any():
            without_pdr += 1
            continue
        low, high, _ = bootstrap_ci_counted(grades, probs, macro_ovo_auc, n_boot=n_boot, seed=rep)
        held_auc += bool(low <= truth[1] <= high)
    q, sets = held_qwk / reps, reps - without_pdr
    a = held_auc / sets if sets else float("nan")
    return {"n": n, "reps": reps, "qwk_coverage": round(q, 4), "qwk_mc_se": round(math.sqrt(q * (1 - q) / reps), 4),
            "auc_ovo_coverage": round(a, 4),
            "auc_ovo_mc_se": round(math.sqrt(a * (1 - a) / sets), 4) if sets else None,
            "auc_sets_without_pdr": without_pdr, "seconds": round(time.perf_counter() - start, 1)}


def add_simulation_arguments(parser: argparse.ArgumentParser, name: str, sizes: list[int], reps: int,
                             resampled: str) -> None:
    """The options of a bench of simulated data sets (this one, ``bench.ece_reference``):
    ``--sizes`` (images per set), ``--reps`` (sets per size), ``--n-boot`` (resamples per
    ``resampled``), ``--seed`` and ``--name`` (the result's, default ``name``)."""
    parser.add_argument("--sizes", type=int, nargs="+", default=sizes,
                        help=f"images per simulated data set (default {' '.join(map(str, sizes))})")
    parser.add_argument("--reps", type=int, default=reps, help=f"data sets per size (default {reps})")
    parser.add_argument("--n-boot", type=int, default=1000, help=f"resamples per {resampled} (default 1000, "
                                                                 "finetune.n_boot's default)")
    parser.add_argument("--seed", type=int, default=42, help="of the simulated data (default 42)")
    parser.add_argument("--name", default=name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.bootstrap_coverage"), allow_abbrev=False,
                                     description=__doc__.split("\n\n")[0])
    add_simulation_arguments(parser, "bootstrap_coverage", [40, 100, 611], 300, "interval")
    args = parser.parse_args(argv)
    from drac_ssl.metrics import macro_ovo_auc, quadratic_weighted_kappa

    rng = np.random.default_rng(args.seed)
    grades, probs, pred = draw(TRUTH_IMAGES, rng)
    truth = (quadratic_weighted_kappa(grades, pred, 3), macro_ovo_auc(grades, probs))
    print(f"[bootstrap_coverage] true QWK {truth[0]:.4f}, true AUC OvO {truth[1]:.4f} ({TRUTH_IMAGES} images)", flush=True)
    sizes = []
    for n in args.sizes:
        sizes.append(coverage(n, args.reps, args.n_boot, truth, rng))
        s = sizes[-1]
        print(f"  n={n:5d}: QWK 95% CI coverage {s['qwk_coverage']:.3f} (MC SE {s['qwk_mc_se']:.3f}), "
              f"AUC OvO {s['auc_ovo_coverage']:.3f} ({s['reps'] - s['auc_sets_without_pdr']} sets with PDR), "
              f"{s['seconds']} s", flush=True)
    write_result(args.name, {
        "what": "coverage of the percentile bootstrap 95% CIs of QWK and macro AUC OvO (drac_ssl.metrics."
                "bootstrap_ci / bootstrap_ci_counted) on simulated data sets of a 3-grade model with "
                "DRAC's grade shares; true values from 400,000 images of the same model",
        "simulation": {"grade_shares": list(SHARES), "latent_score": "1.6 * grade + 0.9 * N(0, 1)",
                       "probabilities": "softmax(-(z - 1.6 k)^2 / 1.5)",
                       "submitted_grade": "expected grade cut at 0.5 and 1.5", "seed": args.seed},
        "true_qwk": round(truth[0], 4), "true_auc_ovo": round(truth[1], 4),
        "n_boot": args.n_boot, "reps": args.reps, "sizes": sizes,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
