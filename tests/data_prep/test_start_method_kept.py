"""A host that calls the package with progress off can still choose its multiprocessing start
method afterwards: any tqdm instance, a disabled one too, creates a ``multiprocessing`` lock,
which fixes the start method (``set_start_method("spawn")`` then raised ``RuntimeError:
context has already been set``); with progress off, or off a terminal, no tqdm is made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_HOST = """
import multiprocessing as mp, sys
from app.demo_bundle import build_demo_bundle
from data_prep import ingest, phantom
from drac_ssl.config import DataConfig
from drac_ssl.grading import grade_files, load_bundle
phantom.generate("ph", n_train=12, n_test=2, size=64, progress=False, workers=1)
ingest.run(DataConfig(root="ph", cache_sizes=[32], n_folds=2, workers=1), "out", verbose=False)
bundle = load_bundle(build_demo_bundle("runs/demo", image_size=32, source_size=48, n_folds=1))
result = grade_files(bundle, sorted(__import__("glob").glob("ph/**/*.png", recursive=True))[:2], progress=False)
assert len(result.graded.probs) + len(result.failed) == 2, result
print("fixed:", mp.get_start_method(allow_none=True))
mp.set_start_method("spawn")
print("spawn ok")
"""


def test_set_start_method_still_works_after_phantom_ingest_and_grading_with_progress_off(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _HOST], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-2:] == ["fixed: None", "spawn ok"], proc.stdout
