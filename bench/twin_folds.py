"""RetinaMNIST: what keeping near twins in one fold does to a network's out-of-fold figures.

    python -m bench.twin_folds [--seeds 0,1,2] [--threshold 1e-4] [--parallel 2]
                               [--runs-root runs/twin-folds] [--name twin_folds_retinamnist]

``bench/near_duplicates.py`` found 32 of RetinaMNIST's 1,200 labelled images with a near twin,
30 of them split across the per-image folds, and measured what that does to two models that
need no training (a 1-nearest-neighbour and the pixel floor). This measures it for the
package's own network: for each seed, the RetinaMNIST job (``configs/retinamnist.yaml``) is
run twice on this machine, as a user would run it, with the per-image folds
(``data.near_duplicate_mse=0``, the default) and with the near twins kept in one fold
(``data.near_duplicate_mse=THRESHOLD``), and the **scratch** variant's out-of-fold accuracy,
AUC OvR and QWK are compared. Scratch does not depend on the pretraining, which is therefore
cut to one step (``pretrain.epochs=1 pretrain.max_steps_per_epoch=1``, UMM off); the VICReg
variant the job also fine-tunes then starts from an all but random backbone and is recorded
as a second, near-scratch network (``near_scratch``), not as a VICReg figure.

The two arms differ in the grouping and, with it, in the partition itself (another split of
the same images), so a difference holds the split-to-split noise too; the per-seed
differences, their mean and standard error say how much that leaves. Writes
``bench/results/<name>.json``. Each run takes about 11 minutes of one core (two fine-tuned
variants); a finished run folder is only read again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS, SHARED_DATA, load_average, write_result
from bench.retinamnist_epochs import mean_se
from drac_ssl.starting import python_command

CONFIG = REPO / "configs" / "retinamnist.yaml"
NPZ = SHARED_DATA / "retinamnist" / "retinamnist_public.npz"
METRICS = ("accuracy", "auc_ovr", "qwk")
CUT_PRETRAINING = ("pretrain.epochs=1", "pretrain.max_steps_per_epoch=1", "umm.enabled=false",
                   "run.stages=[ingest,pretrain,finetune]")


def run_job(seed: int, mse: float, runs_root: Path) -> Path:
    """One job (resumed or only read when its folder is finished); its run folder."""
    name = f"s{seed}_mse{mse:g}"
    runs_root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_ALBUMENTATIONS_UPDATE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    with open(runs_root / f"{name}.log", "a", encoding="utf-8") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "drac_ssl.train", "-c", str(CONFIG), "--threads", "1",
             f"data.root={NPZ}", f"run.out_dir={runs_root}", f"run.name={name}", f"run.seed={seed}",
             f"data.near_duplicate_mse={mse:g}", *CUT_PRETRAINING],
            cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"seed {seed}, near_duplicate_mse {mse:g}: the job failed with exit code "
                         f"{proc.returncode}; see {runs_root / (name + '.log')}")
    return runs_root / name


def figures(folder: Path, variant: str) -> dict[str, float]:
    metrics = json.loads((folder / "finetune" / variant / "metrics.json").read_text(encoding="utf-8"))
    return {k: float(metrics[k]) for k in METRICS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.twin_folds"), allow_abbrev=False, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threshold", type=float, default=1e-4,
                        help="data.near_duplicate_mse of the grouped arm (bench/near_duplicates.py's 1e-4)")
    parser.add_argument("--parallel", type=int, default=2, help="jobs at a time (one thread each)")
    parser.add_argument("--runs-root", type=Path, default=REPO / "runs" / "twin-folds")
    parser.add_argument("--name", default="twin_folds_retinamnist")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not NPZ.is_file():
        raise SystemExit(f"RetinaMNIST not found at {NPZ}: this benchmark needs ../shared/data/retinamnist/")
    if not args.threshold > 0:
        parser.error("--threshold must be > 0 (0 is the per-image arm)")
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(seed, mse) for seed in seeds for mse in (0.0, args.threshold)]
    load_start = load_average()
    with ThreadPoolExecutor(max(1, args.parallel)) as pool:
        folders = dict(zip(jobs, pool.map(lambda j: run_job(j[0], j[1], args.runs_root.resolve()), jobs),
                           strict=True))
    per_seed: dict[str, Any] = {}
    diffs: dict[str, dict[str, list[float]]] = {v: {k: [] for k in METRICS} for v in ("scratch", "near_scratch")}
    for seed in seeds:
        per_image, grouped = folders[(seed, 0.0)], folders[(seed, args.threshold)]
        summary = json.loads((grouped / "data" / "ingest_summary.json").read_text(encoding="utf-8"))
        row: dict[str, Any] = {"near_duplicates": summary.get("near_duplicates")}
        for variant, source in (("scratch", "scratch"), ("near_scratch", "vicreg")):
            a, b = figures(per_image, source), figures(grouped, source)
            row[variant] = {"per_image_folds": a, "twin_folds": b}
            for k in METRICS:
                diffs[variant][k].append(b[k] - a[k])
        per_seed[str(seed)] = row
        print(f"[bench] seed {seed}: scratch per-image folds {row['scratch']['per_image_folds']}, "
              f"twin folds {row['scratch']['twin_folds']}")
    summary_diffs = {f"{v}_twin_minus_per_image": {k: mean_se(d[k]) for k in METRICS} for v, d in diffs.items()}
    for name, d in summary_diffs.items():
        print(f"[bench] {name}: " + "; ".join(f"{k} {v['mean']:+.4f} (SE {v['se']:.4f}, {v['positive']}/{v['n']} > 0)"
                                              for k, v in d.items()))
    write_result(args.name, {
        "what": ("RetinaMNIST, scratch fine-tuned as configs/retinamnist.yaml does, on per-image folds and on folds "
                 f"that keep near twins whole (data.near_duplicate_mse={args.threshold:g}); out of fold on the "
                 "1,200 labelled images, argmax grades; both arms run here with the same seed"),
        "threshold": args.threshold,
        "seeds": seeds,
        "pretraining": "cut to one step (scratch does not depend on it): " + " ".join(CUT_PRETRAINING),
        "near_scratch": ("the job's VICReg variant, fine-tuned from a backbone pretrained for one step: a second, "
                         "near-scratch network, not a VICReg figure"),
        "per_seed": per_seed,
        "differences": summary_diffs,
        "noise_note": ("the arms differ in the partition too (another split of the same images): a difference "
                       "holds the split-to-split noise, which bench/near_duplicates.py measured for a 1-NN "
                       "(SD 0.006-0.008 accuracy over 10 splits)"),
        "load_average_1_5_15_min": {"start": load_start, "end": load_average()},
    }, args.out_dir)


if __name__ == "__main__":
    main()
