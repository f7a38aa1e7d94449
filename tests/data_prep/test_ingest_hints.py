"""Hints for two slips of a new user: a label row still naming the image's old format after
the ingest told them to convert it (``x.webp`` -> ``x.png``), and ``python -m data_prep.ingest``
(a module run directly) for ``python -m data_prep ingest``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_ingest import config, expect_error, make_plain, write_csv

REPO = Path(__file__).resolve().parents[2]


def test_a_row_naming_the_converted_images_old_format_asks_did_you_mean(tmp_path: Path) -> None:
    """x.webp converted to x.png as the ingest says, the row still 'x.webp': it was a 'label
    without image' with no hint; now 'did you mean x.png?' when exactly one image of the folder
    has that stem (and no row)."""
    root = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2, "004.png": 1})
    csv_path = write_csv(root / "labels.csv", ["image name", "DR grade"],
                         [["001.png", 0], ["002.webp", 1], ["003.png", 2], ["004.png", 1]])
    message = expect_error(config(root), tmp_path / "out")
    assert (f"{csv_path}:3: label without image: 002.webp is not in {root} -> did you mean "
            f"002.png? (the image 002.png has no row)") in message, message
    assert "line 3 names 002.webp: a typo?" in message, message
    # two images of that stem (002.png and 002.jpg): no guess, the plain messages
    (root / "002.jpg").write_bytes((root / "002.png").read_bytes())
    message = expect_error(config(root), tmp_path / "out2")
    assert f"{csv_path}:3: label without image: 002.webp is not in {root} -> add the image" in message
    assert "did you mean" not in message, message


def test_the_ingest_module_run_directly_names_the_command_and_exits_2() -> None:
    """`python -m data_prep.ingest --root d` ran silently and exited 0."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "data_prep.ingest", "--root", "my data", "--out", "o"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done
    assert "python -m data_prep ingest --root 'my data' --out o" in done.stderr, done.stderr
