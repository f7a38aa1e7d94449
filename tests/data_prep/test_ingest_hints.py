"""Hints for two slips of a new user: a label row still naming the image's old format after
the ingest told them to convert it (``x.webp`` -> ``x.png``), and ``python -m data_prep.ingest``
(a module run directly) for ``python -m data_prep ingest``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_ingest import config, expect_error, make_plain, read_manifest, write_csv

from data_prep import ingest

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


def test_names_matched_only_by_ignoring_letter_case_are_noted_once(tmp_path: Path) -> None:
    """A review: a row 'PATIENT00_OS.PNG' was paired with the file 'patient00_OS.png' without a
    word (on Linux two different names). The match stays (it is helpful), and one note per
    ingest counts such names, with an example pair; exact names give no such note."""
    root = make_plain(tmp_path / "d", {"patient00_OD.png": 0, "patient00_OS.png": 1,
                                       "patient01_OD.png": 2, "patient01_OS.png": 1})
    write_csv(root / "labels.csv", ["image name", "DR grade"],
              [["patient00_OD.png", 0], ["PATIENT00_OS.PNG", 1], ["patient01_od.png", 2],
               ["patient01_OS.png", 1]])
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    case = [n for n in result.notes if "letter case" in n]
    assert len(case) == 1, result.notes
    assert ("2 CSV names matched a file only by ignoring letter case (e.g. PATIENT00_OS.PNG -> "
            "patient00_OS.png)") in case[0], case
    grades = {r["id"]: r["grade"] for r in read_manifest(result.manifest_path)}
    assert grades == {"patient00_OD.png": "0", "patient00_OS.png": "1", "patient01_OD.png": "2",
                      "patient01_OS.png": "1"}  # the files' own names, each with its row's grade
    # exact names: no note
    make_plain(tmp_path / "e", {"patient00_OD.png": 0, "patient00_OS.png": 1})
    exact = ingest.run(config(tmp_path / "e"), tmp_path / "out2", verbose=False)
    assert not any("letter case" in n for n in exact.notes), exact.notes
