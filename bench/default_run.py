"""Wall time of the main job as README command (1) runs it (issue #5: under 10 minutes here).

Runs ``python -m drac_ssl.train`` with no arguments in a fresh temporary working folder, so
the phantom DRAC set (611 + 386 images at 1024 px) is generated from scratch, then ingested,
pretrained (VICReg), UMM-tuned, fine-tuned with 5-fold CV (scratch / VICReg / VICReg+UMM)
and exported. Records the total and per-stage wall times and the out-of-fold metrics of each
variant (on phantom data: they show the pipeline works, not how well real DR is graded).

    python -m bench.default_run [--out-dir bench/results]
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

from bench.common import REPO, RESULTS, write_result

GOAL_SECONDS = 600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out-dir", default=str(RESULTS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_ALBUMENTATIONS_UPDATE": "1",
               "PYTHONPATH": str(REPO)}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "drac_ssl.train", "-c", str(REPO / "configs" / "default.yaml")],
                              cwd=work, env=env, capture_output=True, text=True, check=False)
        total = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:])
            raise SystemExit(f"the main job failed with exit code {proc.returncode}")
        run_dir = Path(work) / "runs" / "default"
        stages = json.loads((run_dir / "stages.json").read_text())
        comparison = json.loads((run_dir / "finetune" / "comparison.json").read_text())
    stage_seconds = {name: s["seconds"] for name, s in stages.items()}
    print(f"[bench] main job: {total:.1f} s total; stages {stage_seconds}")
    write_result("default_run", {
        "what": "README command (1) from a cold start: phantom generation + ingest + VICReg + UMM + "
                "5-fold fine-tune (3 variants) + export, configs/default.yaml",
        "data": "phantom UW-OCTA, 611 train + 386 test at 1024 px (synthetic: metrics show the pipeline "
                "runs, not real grading quality)",
        "seconds_total": round(total, 1),
        "seconds_per_stage": stage_seconds,
        "goal": f"< {GOAL_SECONDS} s on the 2-core CPU machine",
        "goal_met": total < GOAL_SECONDS,
        "oof_metrics": comparison,
    }, Path(args.out_dir))


if __name__ == "__main__":
    main()
