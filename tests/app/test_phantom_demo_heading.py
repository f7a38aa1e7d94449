"""A bundle trained on phantom images (README command (1)'s) has its grade said as a
demonstration's output wherever the page or a file names it, as an untrained demo's is (a trial
user: real DRAC sample_2.png read the phantom caveat in plain text, then "### Grade 0 — Normal"):
the heading, the pictures' alt text, the batch's grade cell, the grades CSV's name
(``grades_PHANTOM_DEMO.csv``) and download label, and ``details["phantom_trained_demo"]``."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.predict import Predictor
from app.server import (
    DEMO_CSV,
    PHANTOM_CSV,
    AppSettings,
    _grade_batch_now,
    _grade_single_now,
    demo_mark,
    grade_cell,
    grade_heading,
    grades_csv_label,
    image_alt_texts,
)
from drac_ssl.grading.image_notes import UNLIKE_TRAINING
from drac_ssl.submission import check_submission
from tests.helpers.app_fixtures import ramp_scan, trained_demo


def _bundle(folder: Path, kind: str) -> Predictor:
    return trained_demo(folder, metadata={"data": {"kind": kind, "n_train": 611}})


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Predictor:
    return _bundle(tmp_path_factory.mktemp("phantom"), "phantom")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Predictor:
    return _bundle(tmp_path_factory.mktemp("real"), "drac")


def test_the_mark_of_each_kind_of_bundle(predictor: Predictor, phantom: Predictor, real: Predictor) -> None:
    assert demo_mark(predictor) == "untrained demo"
    assert demo_mark(phantom) == "phantom-trained demo"
    assert demo_mark(real) == ""


def test_the_heading_names_the_grade_only_as_the_models_output() -> None:
    pred = SimpleNamespace(grade=0, grade_name="Normal", probs=np.array([0.8, 0.15, 0.05]))
    assert grade_heading(pred, [], False, phantom=True) == "### Phantom-trained demo — model output: Grade 0 Normal"
    assert grade_heading(pred, [], False, untrained=True, phantom=True).startswith("### Untrained demo —")
    flagged = grade_heading(pred, [UNLIKE_TRAINING], False, phantom=True)
    assert flagged.startswith("### Not reliably gradable (") and "; phantom-trained demo — model output" in flagged


def test_a_phantom_bundles_result_is_headed_as_a_demo(phantom: Predictor, real: Predictor, tmp_path: Path) -> None:
    scan = str(ramp_scan(tmp_path / "scan.png"))
    markdown, _, _, _, details = _grade_single_now(phantom, AppSettings(gradcam=False), scan, None, "scan.png")
    headings = [line for line in markdown.split("\n") if line.startswith("### ")]
    assert headings[0].startswith(f"### Phantom-trained demo — model output: Grade {details['grade']} "
                                  f"{details['grade_name']}"), headings
    assert not any(line.startswith("### Grade") for line in markdown.split("\n"))
    assert details["phantom_trained_demo"] is True and details["untrained_demo"] is False
    original, _ = image_alt_texts(details, phantom)
    assert original.endswith(f"phantom-trained demo; model output: grade {details['grade']} "
                             f"({details['grade_name']})."), original
    markdown, _, _, _, details = _grade_single_now(real, AppSettings(gradcam=False), scan, None, "scan.png")
    assert markdown.count(f"### Grade {details['grade']} — {details['grade_name']}") == 1
    assert details["phantom_trained_demo"] is False and "demo" not in image_alt_texts(details, real)[0]


def test_a_phantom_bundles_batch_marks_its_grades_and_csv(phantom: Predictor, real: Predictor,
                                                          tmp_path: Path) -> None:
    assert grade_cell("Normal", [], phantom=True) == "Normal (phantom-trained demo)"
    assert grade_cell("Normal", ["unlike the training images"], phantom=True) == (
        "Normal (not reliably gradable; phantom-trained demo)")
    assert grade_cell("Normal", [], untrained=True, phantom=True) == "Normal (untrained demo)"
    scans = [str(ramp_scan(tmp_path / "a.png")), str(ramp_scan(tmp_path / "b.png", 1))]
    summary, rows, csv_path, _ = _grade_batch_now(phantom, AppSettings(), scans)
    assert all(row[2] == f"{phantom.class_names[row[1]]} (phantom-trained demo)" for row in rows), rows
    assert csv_path is not None and Path(csv_path).name == PHANTOM_CSV == "grades_PHANTOM_DEMO.csv"
    assert check_submission(csv_path) == []  # the submission's format; only the name warns
    with open(csv_path, newline="", encoding="utf-8") as fh:
        assert [r["case"] for r in csv.DictReader(fh)] == ["a.png", "b.png"]
    assert f"`{PHANTOM_CSV}`" in summary and "submission.csv" not in summary, summary
    assert "named PHANTOM_DEMO because a model trained on phantom images graded it" in summary
    summary, rows, csv_path, _ = _grade_batch_now(real, AppSettings(), scans)
    assert Path(csv_path).name == "submission.csv" and PHANTOM_CSV not in summary
    assert rows[0][2] == real.class_names[rows[0][1]]


def test_the_download_label_names_the_phantom_file() -> None:
    label = grades_csv_label(False, phantom=True)
    assert PHANTOM_CSV in label and "the submission" not in label and DEMO_CSV not in label
    assert PHANTOM_CSV not in grades_csv_label(False) and PHANTOM_CSV not in grades_csv_label(True)
