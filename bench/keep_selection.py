"""How much choosing each fold's epoch on the fold it then scores adds to the out-of-fold figures
(``finetune.keep=best`` against ``finetune.keep=last``; methods review of December 2026).

With ``keep=best`` every fold keeps the epoch with the best validation kappa, and can stop early
(``finetune.patience``), on the very images it is then scored on, so the out-of-fold QWK is
optimistic and the other figures (AUC, accuracy) off by an amount of either sign; ``keep=last``
(the default since) keeps the last epoch and chooses nothing there.
This script fine-tunes a finished run's variants twice, once under each rule, each time in a new
run folder that takes the run's ingest, pretraining and UMM through ``run.reuse`` (hard links:
nothing is pretrained again; folds the run itself trained under the same rule and settings are
taken from it too, as ``run.reuse`` does). Folds, seeds, heads, epoch budgets (which keep=best may cut
short) and the cross-fitted calibration are the same; only which epoch's weights each fold keeps differs.

``bench/results/<name>.json`` holds, per variant and rule, the out-of-fold QWK (95% CI), AUC
one-vs-one and one-vs-rest, accuracy and the epochs kept, with best minus last; and each
pretrained variant's paired difference with scratch under each rule (its 95% CI), since the
optimism differs between variants and so moves the comparison too.

    python -m bench.keep_selection                    # runs/default, README command (1)'s run
    python -m bench.keep_selection --run-dir runs/X --name keep_selection_X

One finished run, one seed: the figures say how large the effect was there, not in general.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS, add_threads_argument, load_average, write_result
from drac_ssl.starting import python_command

RULES = ("best", "last")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def variant_figures(finetune_dir: Path) -> dict[str, dict[str, Any]]:
    """Per variant of a fine-tuning stage's folder: out-of-fold QWK with its 95% CI, AUC
    (one-vs-one, one-vs-rest), accuracy and each fold's kept epoch (1-based) of the epochs run."""
    comparison = _read_json(finetune_dir / "comparison.json")
    out: dict[str, dict[str, Any]] = {}
    for row in comparison["rows"]:
        variant = row["variant"]
        metrics = _read_json(finetune_dir / variant / "metrics.json")
        out[variant] = {
            "qwk": row["qwk"], "qwk_ci95": [row["qwk_ci_low"], row["qwk_ci_high"]],
            "auc": row["auc"], "auc_ovr": row["auc_ovr"], "accuracy": row["accuracy"],
            "kept_epochs": [f["best_epoch"] + 1 for f in metrics["folds"]],
            "epochs_run": [f["epochs_run"] for f in metrics["folds"]],
            "keep": metrics.get("keep"),
            # folds whose signature matched the source run's were taken from it, not retrained
            "folds_taken_from": metrics.get("folds_taken_from"),
        }
    return out


def paired_differences(finetune_dir: Path) -> dict[str, dict[str, Any]]:
    """Each pretrained variant minus scratch (``comparison.json``): difference and 95% CI."""
    comparison = _read_json(finetune_dir / "comparison.json")
    return {variant: {metric: {"difference": d["difference"], "ci95": [d["ci_low"], d["ci_high"]]}
                      for metric, d in by_metric.items()}
            for variant, by_metric in (comparison.get("pretrained_minus_scratch") or {}).items()}


def optimism(figures: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Per variant, ``best`` minus ``last`` of QWK, AUC (both) and accuracy."""
    best, last = figures["best"], figures["last"]
    return {v: {m: best[v][m] - last[v][m] for m in ("qwk", "auc", "auc_ovr", "accuracy")}
            for v in best if v in last}


def _finetune_once(source: Path, work: Path, keep: str, stages: list[str], threads: int,
                   extra: list[str], log: Path) -> tuple[Path, float]:
    run_dir = work / f"keep_{keep}"
    command = [sys.executable, "-m", "drac_ssl.train", "-c", str(source / "config.yaml"),
               f"run.reuse={source}", f"run.name={run_dir.name}", f"run.out_dir={work}",
               f"run.stages=[{','.join(stages)}]", f"finetune.keep={keep}", *extra]
    if threads:
        command.append(f"run.threads={threads}")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_ALBUMENTATIONS_UPDATE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    print(f"[bench] finetune.keep={keep}: {' '.join(command[1:])}", flush=True)
    t0 = time.perf_counter()
    with log.open("a", encoding="utf-8") as out:
        code = subprocess.run(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"[bench] the fine-tuning with finetune.keep={keep} exited {code}; its output: {log}")
    return run_dir, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.keep_selection"), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "default"),
                        help="a finished run folder (its config.yaml, ingest, pretrain and umm stages)")
    parser.add_argument("--name", default="keep_selection")
    parser.add_argument("--out-dir", default=str(RESULTS))
    add_threads_argument(parser)
    parser.add_argument("overrides", nargs="*", help="further config overrides for both fine-tunings")
    args = parser.parse_intermixed_args(argv)
    source = Path(args.run_dir).resolve()
    if not (source / "config.yaml").is_file() or not (source / "stages.json").is_file():
        raise SystemExit(f"[bench] {source} is not a finished run folder (no config.yaml / stages.json)\n"
                         f"  fix: run README command (1) first, or --run-dir another run folder")
    done = _read_json(source / "stages.json")
    stages = [s for s in ("ingest", "pretrain", "umm") if (done.get(s) or {}).get("status") == "done"]
    stages.append("finetune")
    load_start = load_average()
    with tempfile.TemporaryDirectory(prefix="keep_selection_") as tmp:
        work = Path(tmp)
        log = work / "train.log"
        figures: dict[str, Any] = {}
        differences: dict[str, Any] = {}
        seconds: dict[str, float] = {}
        for keep in RULES:
            run_dir, took = _finetune_once(source, work, keep, stages, args.threads, args.overrides, log)
            figures[keep] = variant_figures(run_dir / "finetune")
            differences[keep] = paired_differences(run_dir / "finetune")
            seconds[keep] = round(took, 1)
            for variant, f in figures[keep].items():
                print(f"[bench] keep={keep} {variant}: QWK {f['qwk']:.4f} AUC {f['auc']:.4f} "
                      f"accuracy {f['accuracy']:.4f}, kept epochs {f['kept_epochs']} of {f['epochs_run']}")
    config = source / "config.yaml"
    result = {
        "run_dir": str(source.relative_to(REPO) if source.is_relative_to(REPO) else source),
        "overrides": args.overrides,
        "stages_taken_from_run": stages[:-1],
        "config_finetune": (_yaml_section(config, "finetune")),
        "variants": figures,
        "best_minus_last": optimism(figures),
        "pretrained_minus_scratch": differences,
        "seconds": seconds,
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "protocol": ("the run's fine-tuning repeated twice on its own ingest, pretraining and UMM "
                     "(run.reuse): finetune.keep=best (each fold's epoch with the best validation "
                     "kappa, early stopping with finetune.patience, on the fold it is scored on) and "
                     "finetune.keep=last (the last of finetune.epochs); same folds, seeds, heads and "
                     "cross-fitted calibration; one run, one seed"),
    }
    for variant, d in result["best_minus_last"].items():
        print(f"[bench] {variant}: best - last QWK {d['qwk']:+.4f}, AUC {d['auc']:+.4f}, "
              f"accuracy {d['accuracy']:+.4f}")
    write_result(args.name, result, Path(args.out_dir))


def _yaml_section(config: Path, section: str) -> dict[str, Any]:
    from drac_ssl.config import read_yaml

    return (read_yaml(config.read_text(encoding="utf-8")) or {}).get(section, {})


if __name__ == "__main__":
    main()
