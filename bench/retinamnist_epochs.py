"""RetinaMNIST: does a change to the VICReg variant's recipe make it beat scratch?

    python -m bench.retinamnist_epochs [--epochs 60] [--seeds 0,1,2,3,4] [--runs-root runs]
                                       [--parallel 2] [--name retinamnist_epochs60]
                                       [--set KEY=VALUE ... --tag TAG --hypothesis TEXT]

Five hypotheses were tested with it, each fixed before its runs:

* ``--epochs 60`` (``retinamnist_epochs60.json``): the 20-epoch pretraining was too short.
* ``--epochs 20 --set finetune.head_warmup_epochs=5 --tag lpft5``
  (``retinamnist_epochs20_lpft5.json``): fine-tuning the whole network from the first step,
  with a random head, distorts the pretrained features (Kumar et al., ICLR 2022); training
  the head alone for the first 5 of the 15 epochs (LP-FT) keeps them, and makes the VICReg
  variant beat scratch.
* ``--epochs 20 --own-scratch --set finetune.label_fraction=0.1 --set finetune.epochs=113
  --tag ll10`` (``retinamnist_epochs20_ll10.json``): self-supervision pays where labels are
  scarce; with 10 % of each fold's training images (the same draw for both variants, 113
  epochs = about the 225 optimiser steps of the full protocol) VICReg beats scratch, which
  is fine-tuned in the same run (``--own-scratch``) since the overrides change it too.
* ``--epochs 20 --set "pretrain.augment.crop_scale=[0.6,1.0]" --tag crop06``
  (``retinamnist_epochs20_crop06.json``): at 28 px, crops down to 30 % of the image make the
  backbone invariant to the scale of 1-2 px lesions; crops of 60-100 % keep them, and the
  VICReg variant then beats scratch.
* ``--epochs 20 --tag cifarinit --set pretrain.backbone.weights=runs/cifar10_init28/pretrain/backbone.safetensors``
  after ``python -m drac_ssl.train -c configs/cifar10_init28.yaml``
  (``retinamnist_epochs20_cifarinit.json``): the 1,600 unlabelled photographs are too few; a
  backbone that first learns generic features by VICReg on the 50,000 CIFAR-10 training images
  (labels never read), then the same 20-epoch VICReg on RetinaMNIST, fine-tunes better, and the
  VICReg variant then beats scratch. The JSON records what the weights file's run was
  (``initial_weights``).

A sixth run, fixed before it (docs/retinamnist.md, "The 60-epoch confirmation"), repeats the
first on five new seeds with the mark set first:

* ``--epochs 60 --seeds 5,6,7,8,9 --own-scratch --tag confirm``
  (``retinamnist_epochs60_confirm.json``): VICReg pretrained 60 epochs beats scratch fine-tuned
  in the same run (mean difference above twice its standard error in accuracy and AUC OvR).

A seventh run, the sixth hypothesis, on a lent GPU (``bash bench/gpu_retinamnist.sh run``):

* ``--epochs 300 --seeds 10,11,12,13,14 --own-scratch --tag gpu`` with the GPU settings that
  script names (``retinamnist_epochs300_gpu.json``; its descriptive 20-epoch arm on the same
  settings ``retinamnist_epochs20_gpu.json``): VICReg pretrained 300 epochs beats scratch.

An eighth run, the seventh hypothesis, fixed before it (docs/retinamnist.md, "A lower
invariance weight"):

* ``--epochs 20 --seeds 15,16,17,18,19 --own-scratch --set pretrain.loss.sim_coeff=5 --tag sim5``
  (``retinamnist_epochs20_sim5.json``): with VICReg's invariance weight lowered from 25 to 5 the
  fine-tuned VICReg variant beats scratch fine-tuned in the same run.

A ninth run, fixed before it (docs/retinamnist.md, "The recipe repeated on five new seeds"):

* ``--epochs 20 --seeds 20,21,22,23,24 --own-scratch --tag repeat``
  (``retinamnist_epochs20_repeat.json``): the job's recipe, unchanged, beats scratch fine-tuned
  in the same run; pooled with the committed job's seeds 0-4 for a ten-seed interval.

The RetinaMNIST job (``configs/retinamnist.yaml``, ``bench/retinamnist.py``) pretrained VICReg
for 20 epochs, with the loss still falling; over five seeds its fine-tuned VICReg variant
was level with scratch. The hypothesis tested here, fixed before running it: the
pretraining was too short. For each seed this runs, as a user would,

    python -m drac_ssl.train -c configs/retinamnist.yaml run.seed=S pretrain.epochs=E
        umm.enabled=false finetune.compare_scratch=false run.stages=[ingest,pretrain,finetune]

(VICReg only: UMM and scratch do not depend on the pretraining length), into
``<runs-root>/e<E>_s<S>[_<TAG>]`` (kept; a finished folder is only read again), with the
``--set`` overrides added to the command, and compares the
VICReg variant's out-of-fold accuracy, AUC OvR and QWK with the scratch and 20-epoch VICReg
variants of the committed job run with the same seed (``bench/results/retinamnist.json`` for
seed 0, ``retinamnist_seed<S>.json`` otherwise: same folds, same fine-tuning, same seed). The
per-seed differences, their mean and standard error, and each run's stage times (from its
``stages.json``) go to ``bench/results/<name>.json``, with the figures of the seeds' ensemble:
the out-of-fold probabilities of the runs averaged over seeds (every image's folds are the same
in every seed), against the mean of the single runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    RESULTS,
    SHARED_DATA,
    load_average,
    run_stages,
    shortened_settings,
    smoke_fields,
    smoke_result_name,
    weights_metadata,
    write_result,
)
from drac_ssl.run_state import STAGES_RECORD, read_stages_record, stages_record_damage
from drac_ssl.starting import python_command

CONFIG = REPO / "configs" / "retinamnist.yaml"
NPZ = SHARED_DATA / "retinamnist" / "retinamnist_public.npz"
METRICS = ("accuracy", "auc_ovr", "qwk")
SEEDS = (0, 1, 2, 3, 4)


def run_seed(seed: int, epochs: int, runs_root: Path, threads: int, overrides: list[str], tag: str,
             own_scratch: bool = False) -> Path:
    """The VICReg-only job of one seed, or VICReg and scratch with ``own_scratch`` (resumed or
    skipped when its folder is finished)."""
    name = f"e{epochs}_s{seed}" + (f"_{tag}" if tag else "")
    log = runs_root / f"{name}.log"
    runs_root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_ALBUMENTATIONS_UPDATE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    with open(log, "a", encoding="utf-8") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "drac_ssl.train", "-c", str(CONFIG), "--threads", str(threads),
             f"data.root={NPZ}", f"run.out_dir={runs_root}", f"run.name={name}", f"run.seed={seed}",
             f"pretrain.epochs={epochs}", "umm.enabled=false", f"finetune.compare_scratch={str(own_scratch).lower()}",
             "run.stages=[ingest,pretrain,finetune]", *overrides],
            cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"seed {seed}: the job failed with exit code {proc.returncode}; see {log}")
    return runs_root / name


def committed_path(seed: int) -> Path:
    """The result file of the committed RetinaMNIST job run with ``seed``."""
    return RESULTS / ("retinamnist.json" if seed == 0 else f"retinamnist_seed{seed}.json")


def committed(seed: int) -> dict[str, Any]:
    """The committed job of ``seed``: its scratch and 20-epoch VICReg figures."""
    path = committed_path(seed)
    if not path.is_file():
        raise SystemExit(f"{path}: no committed RetinaMNIST job for seed {seed} to compare with "
                         f"(run: python -m bench.retinamnist --name retinamnist_seed{seed} run.seed={seed}, "
                         f"or add --own-scratch to fine-tune scratch in each run)")
    record = json.loads(path.read_text(encoding="utf-8"))
    return {"file": path.name, "pretrain_epochs": record.get("pretrain_epochs_run"),
            "scratch": {k: record["variants"]["scratch"][k] for k in METRICS},
            "vicreg": {k: record["variants"]["vicreg"][k] for k in METRICS}}


def seed_ensemble(folders: list[Path]) -> dict[str, Any]:
    """Accuracy, AUC OvR and QWK (argmax grades) of the VICReg variant's out-of-fold
    probabilities averaged over ``folders`` (one run per seed, the same folds), and the mean of
    the single runs' figures computed the same way."""
    from drac_ssl.metrics import grading_report

    probs, grades = [], None
    for folder in folders:
        with open(folder / "finetune" / "vicreg" / "oof.csv", newline="", encoding="utf-8") as fh:
            rows = sorted(csv.DictReader(fh), key=lambda r: r["id"])
        k = sum(1 for c in rows[0] if c[:1] == "P" and c[1:].isdigit())
        run_grades = [int(r["grade"]) for r in rows]
        if grades is not None and run_grades != grades:
            raise SystemExit(f"{folder}: not the same labelled images as the other seeds")
        grades = run_grades
        probs.append([[float(r[f"P{g}"]) for g in range(k)] for r in rows])

    def figures(p: Any) -> dict[str, float]:
        report = grading_report(grades, p)
        return {m: round(float(report[m]), 4) for m in METRICS}

    import numpy as np

    singles = [figures(np.asarray(p)) for p in probs]
    return {"n_seeds": len(folders),
            "ensemble": figures(np.mean(np.asarray(probs), axis=0)),
            "single_runs_mean": {m: round(sum(s[m] for s in singles) / len(singles), 4) for m in METRICS},
            "what": "the out-of-fold calibrated probabilities averaged over the seeds' runs, argmax grades"}


def initial_weights(overrides: list[str]) -> dict[str, Any] | None:
    """What a ``pretrain.backbone.weights=FILE`` override started the pretraining from: the
    run that made ``FILE`` (a package pretraining: its ``metadata.json`` beside it and the
    run's ``stages.json`` above: its ``pretrain_seconds``; a damaged one, None and a ``note``
    naming the damage), or None without the override."""
    value = next((o.split("=", 1)[1] for o in overrides if o.startswith("pretrain.backbone.weights=")), None)
    if not value:
        return None
    path = Path(value)
    record: dict[str, Any] = {"file": str(path)}
    if (meta := weights_metadata(path)) is not None:
        config = meta.get("config") or {}
        record.update(training_data=meta.get("training_data"), epochs_run=meta.get("epochs_run"),
                      final_loss=(meta.get("metrics") or {}).get("loss"),
                      steps_per_epoch=(config.get("pretrain") or {}).get("max_steps_per_epoch"),
                      batch_size=(config.get("pretrain") or {}).get("batch_size"))
    run = path.parent.parent
    if (run / STAGES_RECORD).is_file():  # a run's: its seconds; damaged: none, and a note (review R6)
        stage = read_stages_record(run).get("pretrain")
        record["pretrain_seconds"] = stage.get("seconds") if isinstance(stage, dict) else None
        if (damage := stages_record_damage(run)) is not None:
            record["note"] = f"{run / STAGES_RECORD} is damaged ({damage}): its pretraining's seconds are unknown"
    return record


def pooled_with_committed(own: dict[str, dict[str, float]], own_scratch: dict[str, dict[str, float]],
                          seeds: tuple[int, ...] = SEEDS) -> dict[str, Any]:
    """The VICReg - scratch differences of this run's seeds (``own``: ``{seed: {metric: VICReg -
    its own scratch}}``; ``own_scratch``: ``{seed: {metric: that scratch's figure}}``) pooled
    with those of the committed job's ``seeds`` (each file's VICReg minus scratch variant, the
    same run and seed): per metric the mean, its standard error, the seeds above 0 and the
    two-sided 95 % t-interval (``n - 1`` degrees of freedom), as fixed in words before the
    ``--tag repeat`` runs (docs/retinamnist.md, "The recipe repeated on five new seeds"); beside
    it each half's mean difference (``halves``, descriptive: the halves come from two code
    paths) and scratch's mean over all the seeds (``scratch_mean``, for the gap to the aim).
    Only for the job's recipe unchanged: 20 epochs, no overrides, own scratch.

    Raises:
        SystemExit: a seed both here and among ``seeds``, or a committed job missing.
    """
    from statistics import fmean, stdev

    from bench.summarize import t_bounds

    if both := sorted(set(map(int, own)) & set(seeds)):
        raise SystemExit(f"seed {both[0]} is both in this run and among the committed seeds: pooling "
                         f"would count it twice")
    jobs = {s: committed(s) for s in seeds}
    committed_diffs = {str(s): {k: c["vicreg"][k] - c["scratch"][k] for k in METRICS} for s, c in jobs.items()}
    pooled = {**committed_diffs, **own}
    scratch = [*(c["scratch"] for c in jobs.values()), *own_scratch.values()]
    out: dict[str, Any] = {}
    halves: dict[str, Any] = {}
    for k in METRICS:
        values = [d[k] for d in pooled.values()]
        mean, se = fmean(values), stdev(values) / math.sqrt(len(values))
        low, high = t_bounds(mean, se, len(values)) or (math.nan, math.nan)
        out[k] = {"mean": round(mean, 4), "se": round(se, 4), "positive": sum(v > 0 for v in values),
                  "n": len(values), "t95": [round(low, 4), round(high, 4)]}
        first, second = fmean(d[k] for d in committed_diffs.values()), fmean(d[k] for d in own.values())
        halves[k] = {"committed_mean": round(first, 4), "run_mean": round(second, 4),
                     "difference": round(second - first, 4)}
    return {"committed_seeds": list(seeds), "committed_files": [committed_path(s).name for s in seeds],
            "run_seeds": sorted(map(int, own)), "differences": out, "halves": halves,
            "scratch_mean": {k: round(sum(s[k] for s in scratch) / len(scratch), 4) for k in METRICS},
            "what": ("VICReg - scratch per seed, this run's seeds (their own scratch) pooled with the "
                     "committed job's (the same run's scratch); seeds 0-4 ran on older code and their "
                     "figures were known when the pooling was fixed: an interval of training-seed "
                     "noise on one set of images and one fold split")}


def mean_se(values: list[float]) -> dict[str, float]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    return {"mean": round(mean, 4), "se": round(sd / math.sqrt(n), 4) if n > 1 else float("nan"),
            "positive": sum(v > 0 for v in values), "n": n}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.retinamnist_epochs"), allow_abbrev=False,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)),
                        help="a subset of the default is a smoke run (written to ..._smoke.json)")
    parser.add_argument("--runs-root", type=Path, default=REPO / "runs" / "retinamnist-epochs")
    parser.add_argument("--parallel", type=int, default=2, help="jobs at a time (one thread each)")
    parser.add_argument("--name", default=None, help="default: retinamnist_epochs<E>")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="another config override of the VICReg job (repeatable); needs --tag")
    parser.add_argument("--tag", default="", help="names the runs and figures of --set overrides")
    parser.add_argument("--hypothesis", default=None, help="what the --set overrides test (recorded)")
    parser.add_argument("--pool-with-committed", action="store_true",
                        help="also pool the VICReg - scratch differences with the committed job's seeds "
                             f"{','.join(map(str, SEEDS))} (the recipe unchanged: 20 epochs, no --set, "
                             "--own-scratch, other seeds)")
    parser.add_argument("--own-scratch", action="store_true",
                        help="also fine-tune scratch in each run and compare with it, not with the committed "
                             "job's (for --set overrides that change scratch too, e.g. finetune.label_fraction)")
    args = parser.parse_args(argv)
    if args.overrides and not args.tag:
        parser.error("--set needs --tag (it names the run folders and the figures)")
    if args.pool_with_committed and (args.overrides or args.epochs != 20 or not args.own_scratch):
        parser.error("--pool-with-committed pools with the committed job's recipe: it needs --epochs 20, "
                     "--own-scratch and no --set")
    label = f"vicreg{args.epochs}" + (f"_{args.tag}" if args.tag else "")
    seeds = [int(s) for s in args.seeds.split(",")]
    if twice := sorted({s for s in seeds if seeds.count(s) > 1}):
        parser.error(f"--seeds names seed {twice[0]} twice: each seed is one run")
    if args.pool_with_committed and (both := sorted(set(seeds) & set(SEEDS))):
        parser.error(f"--pool-with-committed: seed {both[0]} is among the committed seeds "
                     f"{','.join(map(str, SEEDS))}; pooling would count it twice (checked before any run)")
    if not NPZ.is_file():
        raise SystemExit(f"RetinaMNIST not found at {NPZ}: this benchmark needs ../shared/data/retinamnist/")
    from drac_ssl.config import load_config, to_dict

    protocol = [f"data.root={NPZ}", f"pretrain.epochs={args.epochs}"]
    reasons = ([f"--seeds: {len(seeds)} of the {len(SEEDS)} seeds"
                + (f" (without {','.join(str(s) for s in SEEDS if s not in seeds)})" if set(seeds) <= set(SEEDS) else "")]
               if len(seeds) < len(SEEDS) else [])
    reasons += shortened_settings(to_dict(load_config(CONFIG, protocol)),
                                  to_dict(load_config(CONFIG, [*protocol, *args.overrides])))
    name = smoke_result_name(f"retinamnist_epochs{args.epochs}" + (f"_{args.tag}" if args.tag else ""),
                             reasons, args.name, out_dir=args.out_dir)
    if reasons:
        print(f"[bench] smoke run ({'; '.join(reasons)}): writes {name}.json")
    # with --own-scratch, the committed job of a seed is only read when there is one (the
    # scratch compared with is the run's own; other seeds than the committed five may be used)
    baselines = {s: (committed(s) if not args.own_scratch or committed_path(s).is_file() else {}) for s in seeds}
    baseline_words = ("the same run's scratch variant (same folds, labelled images, fine-tuning and seed)"
                      if args.own_scratch else
                      "the committed job's scratch variant of the same seed (same folds, fine-tuning and seed)")
    load_start = load_average()
    with ThreadPoolExecutor(max(1, args.parallel)) as pool:
        folders = dict(zip(seeds, pool.map(lambda s: run_seed(s, args.epochs, args.runs_root.resolve(), 1,
                                                              args.overrides, args.tag, args.own_scratch),
                                                  seeds), strict=True))
    per_seed, diffs = {}, {f"{label}_minus_scratch": {k: [] for k in METRICS}}
    if not args.own_scratch:  # the committed VICReg variant: the same protocol, other pretraining
        diffs[f"{label}_minus_vicreg20"] = {k: [] for k in METRICS}
    for seed, folder in folders.items():
        metrics = json.loads((folder / "finetune" / "vicreg" / "metrics.json").read_text(encoding="utf-8"))
        stages = run_stages(folder)
        meta = json.loads((folder / "pretrain" / "metadata.json").read_text(encoding="utf-8"))
        longer = {k: metrics[k] for k in METRICS}
        base = dict(baselines[seed])
        if args.own_scratch:
            own = json.loads((folder / "finetune" / "scratch" / "metrics.json").read_text(encoding="utf-8"))
            base["scratch"] = {k: own[k] for k in METRICS}
            base["scratch_from"] = "this run"
        for k in METRICS:
            diffs[f"{label}_minus_scratch"][k].append(longer[k] - base["scratch"][k])
            if not args.own_scratch:
                diffs[f"{label}_minus_vicreg20"][k].append(longer[k] - base["vicreg"][k])
        per_seed[str(seed)] = {"run_folder": folder.relative_to(REPO).as_posix() if folder.is_relative_to(REPO)
                               else folder.name, "pretrain_epochs_run": meta.get("epochs_run"),
                               label: longer, "committed": base,
                               "seconds_per_stage": {n: s.get("seconds") for n, s in stages.items()}}
        print(f"[bench] seed {seed}: scratch {base['scratch']}"
              + (f", VICReg 20 ep {base['vicreg']}" if "vicreg" in base else "")
              + f", VICReg {args.epochs} ep{' ' + args.tag if args.tag else ''} {longer}")
    summary = {name: {k: mean_se(v) for k, v in d.items()} for name, d in diffs.items()}
    pooled = None
    if args.pool_with_committed:
        own = {str(seed): {k: diffs[f"{label}_minus_scratch"][k][i] for k in METRICS}
               for i, seed in enumerate(folders)}
        pooled = pooled_with_committed(own, {s: per_seed[s]["committed"]["scratch"] for s in own})
        print(f"[bench] pooled with the committed seeds {pooled['committed_seeds']}: " + "; ".join(
            f"{k} {v['mean']:+.4f} (SE {v['se']:.4f}, 95% t-interval {v['t95'][0]:+.4f}..{v['t95'][1]:+.4f}, "
            f"{v['positive']}/{v['n']} > 0)" for k, v in pooled["differences"].items()))
    ensemble = seed_ensemble(list(folders.values())) if len(folders) > 1 else None
    if ensemble:
        print(f"[bench] ensemble of {ensemble['n_seeds']} seeds: {ensemble['ensemble']}; single runs "
              f"on average: {ensemble['single_runs_mean']}")
    for comparison, d in summary.items():
        print(f"[bench] {comparison}: " + "; ".join(f"{k} {v['mean']:+.4f} (SE {v['se']:.4f}, {v['positive']}/{v['n']} > 0)"
                                              for k, v in d.items()))
    changes = f" with {' '.join(args.overrides)}" if args.overrides else ""
    write_result(name, {
        **smoke_fields(reasons),
        "what": (f"RetinaMNIST: VICReg pretrained {args.epochs} epochs{changes}, against " + baseline_words
                 + ("" if args.own_scratch else " and the committed 20-epoch VICReg variant")
                 + "; out of fold on the 1,200 labelled images, argmax grades"),
        "own_scratch": args.own_scratch,
        "hypothesis": args.hypothesis or (
            "the 20-epoch pretraining was too short (its loss was still falling), so "
            "longer pretraining makes the fine-tuned VICReg variant beat scratch"),
        "epochs": args.epochs,
        "overrides": args.overrides,
        **({"initial_weights": start} if (start := initial_weights(args.overrides)) else {}),
        "seeds": seeds,
        "per_seed": per_seed,
        "differences": summary,
        "seed_ensemble": ensemble,
        **({"pooled_with_committed": pooled} if pooled else {}),
        "load_average_1_5_15_min": {"start": load_start, "end": load_average()},
        "load_note": "the load of this invocation; a seed whose run folder was already finished is "
                     "only read again, and its stage times are those of its own stages.json",
    }, args.out_dir)


if __name__ == "__main__":
    main()
