"""A script that calls the ingest at its top level, without ``if __name__ == "__main__":``
(a trial user's notebook-turned-script): each spawn-started worker imports the script and runs
the call again. The worker's call met the parent's lock and said "another ingest is writing into
this --out now", an ingest the user never started; it now says the cause and the two fixes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np

from data_prep.pool import spawn_pool, top_level_rerun

REPO = Path(__file__).resolve().parents[2]


def test_an_unguarded_top_level_ingest_says_the_guard_not_the_lock(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    rows = ["image name,DR grade"]
    for i in range(8):
        cv2.imwrite(str(root / f"p{i}.png"), np.full((16, 16), 20 * i, np.uint8))
        rows.append(f"p{i}.png,{i % 2}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(f"""
        from data_prep import ingest
        from drac_ssl.config import DataConfig

        result = ingest.run(DataConfig(root={str(root)!r}, cache_sizes=[16], n_folds=2, workers=2),
                            {str(tmp_path / "out")!r}, verbose=False)
        print("ingested", result.n_train)
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and "ingested 8" in done.stdout, done.stderr  # the parent went on alone
    assert "another ingest is writing" not in done.stderr, done.stderr
    said = (f"{script}: data_prep.ingest.run runs at the top level of this script, not under "
            '`if __name__ == "__main__":`')
    assert said in done.stderr, done.stderr
    assert ('-> put the call under `if __name__ == "__main__":`, or pass DataConfig(workers=1) '
            "(no worker processes)") in done.stderr, done.stderr


def test_an_unguarded_top_level_phantom_says_the_guard(tmp_path: Path) -> None:
    """The phantom generator's worker ran the script's call again into the same folder (and
    would remove its temporary files); it is refused with the same words."""
    script = tmp_path / "unguarded_phantom.py"
    script.write_text(textwrap.dedent(f"""
        from data_prep import phantom

        phantom.generate({str(tmp_path / "phantom")!r}, n_train=2, n_test=1, workers=2, size=32, progress=False)
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode != 0, done.stderr  # the pool broke: no fallback for the phantom set
    assert (f"{script}: data_prep.phantom.generate runs at the top level of this script" in done.stderr
            and "or pass workers=1 (no worker processes)" in done.stderr), done.stderr


def test_a_call_in_a_workers_task_is_not_taken_for_one() -> None:
    """A deliberate call in a worker (a task, after the worker's start) is no top-level rerun."""
    assert top_level_rerun() is None
    with spawn_pool(1) as pool:
        assert pool.submit(top_level_rerun).result() is None
