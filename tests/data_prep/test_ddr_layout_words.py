"""A DDR / IDRiD reviewer (F4): DDR (``DDR-dataset/DR_grading/``: ``train/``, ``valid/``,
``test/`` beside ``train.txt`` / ``valid.txt`` / ``test.txt`` of header-less ``NAME GRADE``
lines, 5 ungradable, the test set labelled) was read as a plain folder: "no label CSV found"
with a copy command that called the labelled test set "unlabelled images (as DeepDRiD's
evaluation)", and ``--labels-csv train.txt`` said the header row '007-0000-000.jpg 3' was not
split into columns. Now DDR's folder and its lines are told as DDR's, with the commands that
make its CSVs (run here on a fake DDR tree of tiny generated images)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep import ingest, layout, validate
from data_prep.problems import IngestError
from drac_ssl.config import GRADE_SCALES, DataConfig

SETS = {"train": [0, 1, 2, 5, 0, 4], "valid": [3, 0, 5], "test": [2, 0, 5, 1]}


def ddr_tree(tmp_path: Path) -> Path:
    root = tmp_path / "DDR-dataset" / "DR_grading"
    rng = np.random.default_rng(0)
    for n, (name, grades) in enumerate(SETS.items()):
        (root / name).mkdir(parents=True)
        lines = []
        for i, grade in enumerate(grades):
            image = f"00{n}-{i:04d}-000.jpg"
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / name / image)
            lines.append(f"{image} {grade}\n")
        (root / f"{name}.txt").write_text("".join(lines))
    return root


def run_command(line: str) -> None:
    """A printed ``python -c`` command, run with this interpreter."""
    words = shlex.split(line.strip())
    assert words[:2] == ["python", "-c"] or words[1] == "-c", words
    subprocess.run([sys.executable, *words[1:]], check=True, timeout=30)


def test_name_grade_lines_are_told_as_ddrs_with_the_command_that_makes_the_csv(tmp_path: Path) -> None:
    root = ddr_tree(tmp_path)
    _, problems = validate.read_labels(root / "train.txt", "image name", "DR grade",
                                       grade_names=GRADE_SCALES["icdr"])
    (said,) = {p.fix: p for p in problems if p.severity == "error"}.values()
    assert "'000-0000-000.jpg 0' is an image name and a grade separated by a space" in said.what
    assert "--grades icdr --ungradable leave_out" in said.fix and "not split" not in said.what
    run_command(said.fix.splitlines()[-1])
    table, problems = validate.read_labels(root / "train.csv", "image name", "DR grade",
                                           grade_names=GRADE_SCALES["icdr"], ungradable="leave_out")
    assert table is not None and not [p for p in problems if p.severity == "error"]
    assert [r.grade for r in table.rows] == [0, 1, 2, 0, 4] and len(table.left_out) == 1


def test_the_printed_conversion_works_on_a_ddr_subset_without_grade_zero(tmp_path: Path) -> None:
    """A reviewer: on a DDR subset graded 1..5 (no grade 0) the printed steps stopped with "the
    labels look 1-based"; the conversion now writes DDR's 5 as NA, left out on any subset."""
    txt = tmp_path / "train.txt"
    txt.write_text("".join(f"007-{i:04d}-000.jpg {g}\n" for i, g in enumerate([1, 2, 5, 3, 4, 2, 5, 1])))
    _, problems = validate.read_labels(txt, "image name", "DR grade", grade_names=GRADE_SCALES["icdr"])
    (said,) = [p for p in problems if p.severity == "error"]
    run_command(said.fix.splitlines()[-1])
    table, problems = validate.read_labels(tmp_path / "train.csv", "image name", "DR grade",
                                           grade_names=GRADE_SCALES["icdr"], ungradable="leave_out")
    assert not [p for p in problems if p.severity == "error"], [p.line for p in problems]
    assert table is not None and [r.grade for r in table.rows] == [1, 2, 3, 4, 2, 1]
    assert [r.line for r in table.left_out] == [4, 8]


def test_the_ddr_folder_is_told_as_ddr_with_train_and_valid_trained_and_test_held_out(tmp_path: Path) -> None:
    root = ddr_tree(tmp_path)
    with pytest.raises(IngestError) as raised:
        layout.discover(DataConfig(root=str(root)))
    message = str(raised.value)
    assert "this is DDR's grading folder: train/ and valid/" in message, message
    assert "DeepDRiD" not in message and "unlabelled images" not in message, message
    assert "--grades icdr --fundus-crop --ungradable leave_out --out RUN/data" in message, message
    assert "--score TEAM.csv --labels" in message and "bash/zsh" in message
    lines = [line for line in message.splitlines() if line.startswith("  ")]
    subprocess.run(lines[0].strip(), shell=True, check=True, timeout=30)  # noqa: S602 - the printed copy
    run_command(lines[1])  # train + valid as one CSV
    both = root.with_name("DR_grading_trainval")
    assert sorted(p.name for p in both.glob("*.jpg")) == sorted(
        f"00{n}-{i:04d}-000.jpg" for n, s in enumerate(("train", "valid")) for i in range(len(SETS[s])))
    assert (both / "labels.csv").read_text().splitlines()[0] == "image name,DR grade"
    assert len((both / "labels.csv").read_text().splitlines()) == 1 + 6 + 3
    run_command(lines[3])  # test.txt as the scorer's CSV, beside DR_grading (a reviewer: inside it,
    # a re-run of ingest --root DR_grading took test.csv for its label CSV)
    assert not list(root.glob("*.csv"))
    assert root.with_name("DR_grading_test.csv").read_text().splitlines()[1:] == [
        "002-0000-000.jpg,2", "002-0001-000.jpg,0", "002-0002-000.jpg,NA", "002-0003-000.jpg,1"]


def test_a_csv_left_inside_ddrs_folder_is_not_taken_for_its_labels(tmp_path: Path) -> None:
    root = ddr_tree(tmp_path)
    (root / "test.csv").write_text("image name,DR grade\n002-0000-000.jpg,2\n")  # the old printed steps'
    with pytest.raises(IngestError) as raised:
        layout.discover(DataConfig(root=str(root)))
    assert "this is DDR's grading folder" in str(raised.value), str(raised.value)


def test_ddrs_test_folder_is_held_out_for_scoring_not_offered_for_training(tmp_path: Path) -> None:
    root = ddr_tree(tmp_path)
    with pytest.raises(IngestError) as raised:
        layout.discover(DataConfig(root=str(root / "test")))
    message = str(raised.value)
    assert "this is DDR's labelled test set, held out for python -m drac_ssl.export --score" in message, message
    assert "--labels-csv" not in message and "ingest --root" in message
    lines = [line for line in message.splitlines() if line.startswith("  ")]
    run_command(lines[0])
    assert root.with_name("DR_grading_test.csv").is_file() and not (root / "test.csv").exists()


def test_the_printed_ingest_line_carries_the_users_out(tmp_path: Path) -> None:
    root = ddr_tree(tmp_path)
    out = tmp_path / "my runs" / "ddr" / "data"
    out.mkdir(parents=True)
    with pytest.raises(IngestError) as raised:
        ingest.run(DataConfig(root=str(root)), out, verbose=False)
    assert f"--out {shlex.quote(str(out))}" in str(raised.value) and "RUN/data" not in str(raised.value)


def test_a_ddr_set_folder_is_told_its_labels_beside_it(tmp_path: Path) -> None:
    root = ddr_tree(tmp_path)
    with pytest.raises(IngestError) as raised:
        layout.discover(DataConfig(root=str(root / "valid")))
    assert "the labels of this DDR set are valid.txt beside it" in str(raised.value)


def test_a_ddr_set_folder_gets_the_full_ingest_line(tmp_path: Path) -> None:
    """A second reviewer (F6): --root DR_grading/valid was told the CSV command and "pass
    --labels-csv" only, no ingest line with --fundus-crop as the grading folder's steps give;
    the line printed carries the user's --out."""
    root = ddr_tree(tmp_path)
    out = tmp_path / "runs" / "ddr-valid" / "data"
    out.mkdir(parents=True)
    with pytest.raises(IngestError) as raised:
        ingest.run(DataConfig(root=str(root / "valid")), out, verbose=False)
    message = str(raised.value)
    lines = [line for line in message.splitlines() if line.startswith("  ")]
    dest = root.with_name("DR_grading_valid.csv")
    assert re.sub(r"^  \S*python3?(\.\d+)? ", "  python ", lines[-1]) == (f"  python -m data_prep ingest --root {shlex.quote(str(root / 'valid'))} --labels-csv "
                         f"{shlex.quote(str(dest))} --grades icdr --fundus-crop --ungradable leave_out "
                         f"--out {shlex.quote(str(out))}"), message
    run_command(lines[0])  # the CSV the ingest line reads
    assert dest.is_file() and "NA" in dest.read_text()


def test_docs_give_ddr_and_the_command_the_ingest_prints() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text(encoding="utf-8")
    assert "### DDR" in text and "--grades icdr --fundus-crop --ungradable leave_out" in text
    code = layout.name_grade_command(["a"], "b").split(" -c ", 1)[1].rsplit(" a b", 1)[0]
    assert f"python -c {code} DR_grading/train.txt DR_grading/valid.txt DR_grading_trainval/labels.csv" in text
    assert f"python -c {code} DR_grading/test.txt DR_grading_test.csv" in text
