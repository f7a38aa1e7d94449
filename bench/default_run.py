"""Wall time of the main job, stage by stage (issue #5; issue #7 for the full-size GPU run).

Runs ``python -m drac_ssl.train -c CONFIG`` in a fresh temporary working folder on the
embedded phantom DRAC set (611 + 386 images at 1024 px): ingest, VICReg, UMM, 5-fold CV
fine-tune (scratch / VICReg / VICReg+UMM) and export. Records the total and per-stage wall
times and the out-of-fold metrics of each variant (on phantom data they show that the
pipeline works, not how well real DR is graded).

* ``python -m bench.default_run``: README command (1) as it runs (``configs/default.yaml``,
  phantom generation included), goal < 10 min on the 2-core CPU machine.
* ``python -m bench.default_run --config configs/drac.yaml --name drac_pipeline_gpu
  --pregenerate --goal-seconds 300``: the recipe at full size (224 px crops of the 512 px
  cache) on the GPU; the phantom set is generated first and timed apart, since the
  pipeline's own work starts at ingest.
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

from bench.common import REPO, RESULTS, add_threads_argument, load_average, write_result
from drac_ssl.starting import python_command


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.default_run"),
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "configs" / "default.yaml"))
    parser.add_argument("--name", default="default_run")
    parser.add_argument("--goal-seconds", type=float, default=600)
    parser.add_argument("--goal-machine", default="the 2-core CPU machine")
    parser.add_argument("--pregenerate", action="store_true",
                        help="generate the phantom set before the clock starts (timed apart)")
    parser.add_argument("--keep", default="", help="copy the run folder's report and plots here")
    parser.add_argument("--out-dir", default=str(RESULTS))
    add_threads_argument(parser)
    parser.add_argument("overrides", nargs="*", help="config overrides passed to drac_ssl.train")
    args = parser.parse_intermixed_args(argv)  # overrides on both sides of the options
    config = Path(args.config).resolve()
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_ALBUMENTATIONS_UPDATE": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
        phantom_seconds = None
        if args.pregenerate:
            t0 = time.perf_counter()
            code = ("from drac_ssl.config import load_config; from drac_ssl.train import phantom_root; "
                    "from data_prep import phantom; import sys; "
                    "c = load_config(sys.argv[1], sys.argv[2:]); d = c.data; "
                    "phantom.generate(phantom_root(c), n_train=d.phantom_n_train, n_test=d.phantom_n_test, "
                    "seed=d.phantom_seed, workers=d.workers)")
            subprocess.run([sys.executable, "-c", code, str(config), *args.overrides], cwd=work, env=env, check=True)
            phantom_seconds = time.perf_counter() - t0
            print(f"[bench] phantom set generated in {phantom_seconds:.1f} s (not counted below)")
        load_start = load_average()
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "drac_ssl.train", "-c", str(config),
                               "--threads", str(args.threads), "run.name=bench", *args.overrides],
                              cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              check=False)
        total = time.perf_counter() - t0
        log = proc.stdout
        if proc.returncode != 0:
            print(log[-6000:])
            raise SystemExit(f"the main job failed with exit code {proc.returncode}")
        run_dir = Path(work) / "runs" / "bench"
        stages = json.loads((run_dir / "stages.json").read_text())
        comparison = json.loads((run_dir / "finetune" / "comparison.json").read_text())
        pretrain_meta = json.loads((run_dir / "pretrain" / "metadata.json").read_text())
        job_threads = json.loads((run_dir / "environment.json").read_text()).get("threads")
        if args.keep:
            _keep(run_dir, Path(args.keep), log)
    stage_seconds = {name: s["seconds"] for name, s in stages.items()}
    print(f"[bench] main job: {total:.1f} s total; stages {stage_seconds}")
    write_result(args.name, {
        "what": f"python -m drac_ssl.train -c {config.relative_to(REPO) if config.is_relative_to(REPO) else config}"
                f"{' ' + ' '.join(args.overrides) if args.overrides else ''}: ingest + VICReg + UMM + "
                "5-fold fine-tune (scratch / VICReg / VICReg+UMM) + export",
        "data": "phantom UW-OCTA, 611 train + 386 test at 1024 px (synthetic: metrics show the pipeline "
                "runs, not real grading quality)",
        "phantom_generation_seconds": None if phantom_seconds is None else round(phantom_seconds, 1),
        "phantom_generation_counted": not args.pregenerate,
        "seconds_total": round(total, 1),
        "main_job_threads": job_threads,
        "load_average_1_5_15_min": {"start": load_start, "end": load_average()},
        "seconds_per_stage": stage_seconds,
        "pretrain_epochs_run": pretrain_meta.get("epochs_run"),
        "pretrain_stopped": pretrain_meta.get("stopped"),
        "goal": f"< {args.goal_seconds:g} s on {args.goal_machine}",
        "goal_met": total < args.goal_seconds,
        "oof_metrics": comparison,
    }, Path(args.out_dir))


def _keep(run_dir: Path, dest: Path, log: str) -> None:
    """Copy the human-readable part of the run folder (report, plots, json, csv; no weights)."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    (dest / "train.log").write_text(log)
    for path in run_dir.rglob("*"):
        if path.is_file() and path.suffix in {".md", ".html", ".png", ".json", ".csv", ".yaml", ".jsonl"} \
                and "data" not in path.relative_to(run_dir).parts[:1]:
            target = dest / path.relative_to(run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


if __name__ == "__main__":
    main()
