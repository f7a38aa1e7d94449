"""A run folder holds patient data (file names, patient IDs, pixels): it is made with mode 0700
by default, so other local accounts cannot read it (security review F2); ``run.private=false``
gives the system's default. Ingest-only runs of 15 tiny images; CPU, seconds."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from drac_ssl import train
from drac_ssl.io import PRIVATE_FOLDER_MODE, make_run_folder

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")

INGEST_ONLY = ["data.cache_sizes=[24]", "data.workers=1", "data.n_folds=2", "run.device=cpu",
               "run.stages=[ingest]"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask 022, under which a folder made by default is readable by everyone."""
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.fixture
def plain_data(tmp_path: Path) -> Path:
    """15 grey 40 px images and a label CSV: a plain layout the ingest takes."""
    data = tmp_path / "photos"
    data.mkdir()
    rows = []
    for i in range(15):
        image = cv2.GaussianBlur(np.random.default_rng(i).integers(0, 255, (40, 40), dtype=np.uint8), (7, 7), 2)
        cv2.imwrite(str(data / f"{i:03d}.png"), image)
        rows.append(f"{i:03d}.png,{i % 3}")
    (data / "labels.csv").write_text("image name,DR grade\n" + "\n".join(rows) + "\n")
    return data


def test_make_run_folder_modes(tmp_path: Path, open_umask: None) -> None:
    assert PRIVATE_FOLDER_MODE == 0o700
    assert make_run_folder(tmp_path / "runs" / "a") is True
    assert _mode(tmp_path / "runs" / "a") == 0o700
    assert _mode(tmp_path / "runs") == 0o755  # the folder above: the default
    assert make_run_folder(tmp_path / "runs" / "b", private=False) is True
    assert _mode(tmp_path / "runs" / "b") == 0o755
    (tmp_path / "runs" / "b" / "config.yaml").write_text("run: {}\n")
    (tmp_path / "runs" / "b").chmod(0o750)
    assert make_run_folder(tmp_path / "runs" / "b") is False  # holds a run (a resume): mode kept
    assert _mode(tmp_path / "runs" / "b") == 0o750
    (tmp_path / "runs" / "c" / "data").mkdir(parents=True)  # no run yet (an ingest's, by hand)
    assert _mode(tmp_path / "runs" / "c") == 0o755
    assert make_run_folder(tmp_path / "runs" / "c", private=False) is False
    assert _mode(tmp_path / "runs" / "c") == 0o755  # run.private=false: left as it is
    assert make_run_folder(tmp_path / "runs" / "c") is False
    assert _mode(tmp_path / "runs" / "c") == 0o700  # a run started in it: made private
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError):
        make_run_folder(tmp_path / "file")


def test_a_run_folder_is_private_by_default_and_its_files_are_out_of_reach(
        tmp_path: Path, plain_data: Path, open_umask: None, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    args = [*INGEST_ONLY, f"data.root={plain_data}", f"run.out_dir={runs}", "run.name=private"]
    assert train.main(args) == 0, capsys.readouterr().err
    run_dir = runs / "private"
    assert _mode(run_dir) == 0o700
    assert (run_dir / "data" / "manifest.csv").is_file() and (run_dir / "data" / "cache").is_dir()
    # a resume with run.private=false (an output-only setting) is not refused and keeps the mode
    assert train.main([*args, "run.private=false"]) == 0, capsys.readouterr().err
    assert _mode(run_dir) == 0o700
    # run.reuse into a new folder: made private before the taken stage is linked into it
    assert train.main([*INGEST_ONLY, f"data.root={plain_data}", f"run.out_dir={runs}", "run.name=taken",
                       f"run.reuse={run_dir}"]) == 0, capsys.readouterr().err
    assert _mode(runs / "taken") == 0o700 and (runs / "taken" / "data" / "manifest.csv").is_file()


def test_run_private_false_gives_the_default_mode(
        tmp_path: Path, plain_data: Path, open_umask: None, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    assert train.main([*INGEST_ONLY, f"data.root={plain_data}", f"run.out_dir={runs}", "run.name=shared",
                       "run.private=false"]) == 0, capsys.readouterr().err
    assert _mode(runs / "shared") == 0o755


def test_the_ingest_command_makes_its_out_folder_private(
        tmp_path: Path, plain_data: Path, open_umask: None, capsys: pytest.CaptureFixture[str]) -> None:
    from data_prep.__main__ import main as data_prep_main

    out = tmp_path / "run" / "data"
    assert data_prep_main(["ingest", "--root", str(plain_data), "--out", str(out), "--cache-sizes", "24",
                           "--folds", "2", "--workers", "1"]) == 0, capsys.readouterr().err
    assert _mode(out) == 0o700 and (out / "manifest.csv").is_file()
    # a failed ingest leaves no empty folder behind (a folder without a label CSV: one problem)
    (tmp_path / "empty").mkdir()
    gone = tmp_path / "other" / "data"
    assert data_prep_main(["ingest", "--root", str(tmp_path / "empty"), "--out", str(gone), "--cache-sizes",
                           "24", "--folds", "2", "--workers", "1"]) == 2
    assert "no label CSV found" in capsys.readouterr().err
    assert not gone.exists()
    # one that writes its full list of problems keeps the folder, private
    (plain_data / "labels.csv").write_text("image name,DR grade\n")
    listed = tmp_path / "listed" / "data"
    assert data_prep_main(["ingest", "--root", str(plain_data), "--out", str(listed), "--cache-sizes", "24",
                           "--folds", "2", "--workers", "1"]) == 2
    assert (listed / "ingest_problems.txt").is_file() and _mode(listed) == 0o700


def test_the_documented_two_step_flow_ends_with_a_private_run_folder(
        tmp_path: Path, plain_data: Path, open_umask: None, capsys: pytest.CaptureFixture[str]) -> None:
    """README / docs/data.md: ``python -m data_prep ingest --out runs/mydata/data``, then
    ``python -m drac_ssl.train run.name=mydata``: runs/mydata, not only its data/, is 0700."""
    from data_prep.__main__ import main as data_prep_main

    runs = tmp_path / "runs"
    runs.mkdir()
    ingest = ["ingest", "--root", str(plain_data), "--cache-sizes", "24", "--folds", "2", "--workers", "1"]
    assert data_prep_main([*ingest, "--out", str(runs / "mydata" / "data")]) == 0, capsys.readouterr().err
    assert _mode(runs / "mydata") == 0o700 and _mode(runs / "mydata" / "data") == 0o700
    # the run folder made by hand first (mkdir -p runs/byhand/data): the training makes it private
    (runs / "byhand").mkdir()
    assert data_prep_main([*ingest, "--out", str(runs / "byhand" / "data")]) == 0, capsys.readouterr().err
    assert _mode(runs / "byhand") == 0o755
    assert train.main([*INGEST_ONLY, f"data.root={plain_data}", f"run.out_dir={runs}",
                       "run.name=byhand"]) == 0, capsys.readouterr().err
    assert _mode(runs / "byhand") == 0o700
    # a failed ingest removes the run folder it made as well as its data/
    (tmp_path / "empty").mkdir()
    assert data_prep_main(["ingest", "--root", str(tmp_path / "empty"), "--out", str(runs / "gone" / "data"),
                           "--cache-sizes", "24", "--folds", "2", "--workers", "1"]) == 2
    assert not (runs / "gone").exists()
