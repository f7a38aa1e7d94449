"""bench/default_run.py's ``--own-fundus-folder``: the folder a first-day user would have
(docs/own_fundus_folder.md), built from the APTOS samples so that the README's tiny first try
on one's own fundus photographs can be timed as the README gives it (data.root=my_photos/,
the CSV's own column names)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import default_run
from bench.common import REPO


def _samples(root: Path, grades: dict[str, int]) -> Path:
    (root / "train_images").mkdir(parents=True)
    for i, name in enumerate(grades):
        cv2.imwrite(str(root / "train_images" / f"{name}.png"), np.full((224, 224, 3), 40 + 50 * i, np.uint8))
    with (root / "train.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id_code", "diagnosis"])
        writer.writerows(grades.items())
    return root


def test_the_samples_are_laid_out_as_a_users_folder_with_the_columns_asked(tmp_path: Path) -> None:
    samples = _samples(tmp_path / "aptos", {"b2": 3, "a1": 0})
    folder = tmp_path / "work" / "my_photos"
    assert default_run.build_own_fundus_folder(samples, folder, "Photo", "ICDR") == 2
    assert sorted(p.name for p in folder.iterdir()) == ["eye_001.jpg", "eye_002.jpg", "labels.csv"]
    with (folder / "labels.csv").open(newline="") as f:
        assert list(csv.reader(f)) == [["Photo", "ICDR"], ["eye_001.jpg", "3"], ["eye_002.jpg", "0"]]
    image = cv2.imread(str(folder / "eye_002.jpg"))
    assert image.shape == (*default_run.CAMERA_CANVAS, 3)
    surround = (default_run.CAMERA_CANVAS[1] - 224) // 2
    assert image[:, : surround - 2].max() <= 3 and image[:, -surround + 2:].max() <= 3  # black, JPEG-exact or nearly
    assert abs(int(np.median(image[:, surround + 5: -surround - 5])) - 90) <= 3  # the photograph, centred


def test_missing_samples_and_a_folder_already_there_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"aptos/train.csv: not there.*DRAC_SSL_SHARED_DATA"):
        default_run.build_own_fundus_folder(tmp_path / "aptos", tmp_path / "my_photos", "Photo", "ICDR")
    samples = _samples(tmp_path / "aptos", {"a1": 1})
    (tmp_path / "my_photos").mkdir()
    with pytest.raises(SystemExit, match="exists already"):
        default_run.build_own_fundus_folder(samples, tmp_path / "my_photos", "Photo", "ICDR")


FUNDUS = str(REPO / "configs" / "fundus.yaml")  # the repository's, whatever the tests' working folder


@pytest.fixture
def nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the folder or starting a job fails the test: a refusal comes before either."""
    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"started before the refusal: {args}")

    monkeypatch.setattr(default_run, "build_own_fundus_folder", started)
    monkeypatch.setattr(default_run.subprocess, "run", started)


@pytest.mark.parametrize("root", [None, "/data/my_photos", "../my_photos", "a/../../my_photos", ".", "a/..",
                                  "photos/../my_photos", "~/my_photos", "~", "~user/photos"])
def test_the_option_needs_a_data_root_inside_the_working_folder_before_anything_runs(
        root: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nothing_runs: None) -> None:
    """A review: data.root=../x passed the old check (only empty or absolute was refused) and
    the folder was written beside the bench's temporary working folder, left there. A later
    review: ~/x was built as <work>/~/x but the job read $HOME/x; photos/../x was built as x
    but the job, handed the text, failed on photos/ after the folder was built."""
    monkeypatch.chdir(tmp_path)  # the config found from any working folder (a review)
    argv = ["--config", FUNDUS, "--own-fundus-folder", "--out-dir", str(tmp_path / "results")]
    with pytest.raises(SystemExit, match="give a relative data.root=FOLDER among the overrides that stays below it"):
        default_run.main([*argv, *([f"data.root={root}"] if root else [])])
    assert list(tmp_path.iterdir()) == []  # nothing built, nothing written


@pytest.mark.parametrize(("root", "folder"), [("my_photos/", "my_photos"), ("a/my_photos", "a/my_photos"),
                                              ("./my_photos", "my_photos"), ("a~/photos", "a~/photos"),
                                              ("./~/photos", "~/photos")])  # "./~" is a folder named ~ to the job
def test_a_relative_data_root_below_the_working_folder_is_the_folder_built(root: str, folder: str) -> None:
    assert default_run.own_folder_root(root) == Path(folder)


@pytest.mark.parametrize(("override", "message"), [
    ("data.n_folds=1", r"^error: config: data.n_folds must be at least 2"),
    ("run.stages=[ingest]", r"^error: run.stages is \['ingest'\]: .*finetune/comparison.json.*\n  fix: .*name finetune"),
    ("run.stages=[ingest,pretrain,umm]", r"which this list does not run"),
])
def test_a_refused_override_ends_with_its_message_before_anything_runs(
        override: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nothing_runs: None) -> None:
    """A review: data.n_folds=1 ended in a ConfigError traceback; run.stages=[ingest] ran the
    ingest, then failed on the missing finetune/comparison.json."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=message):
        default_run.main(["--config", FUNDUS, "--out-dir", str(tmp_path / "results"), override])
    assert list(tmp_path.iterdir()) == []


def test_first_try_is_passed_to_the_job_before_the_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--first-try`` (trial F5): the bench runs the README's first try word for word, the
    option handed to drac_ssl.train before the overrides, which win."""
    started: list[list[str]] = []

    class Started(Exception):
        pass

    def job(argv: list[str], **kwargs: object) -> None:
        started.append([str(a) for a in argv])
        raise Started

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(default_run.subprocess, "run", job)
    with pytest.raises(Started):
        default_run.main(["--config", FUNDUS, "--first-try", "--out-dir", str(tmp_path / "results"),
                          "run.name=first-try", "pretrain.epochs=2"])
    (argv,) = started
    assert argv[1:5] == ["-m", "drac_ssl.train", "-c", FUNDUS]
    assert argv[argv.index("--threads") + 2:] == ["--first-try", "run.name=bench", "run.name=first-try", "pretrain.epochs=2"]
