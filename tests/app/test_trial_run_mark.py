"""A trial run's bundle (``metadata.json`` ``trial_run.trial``: ``--first-try``, or epochs cut far
below the config's) has its grade said as the model's output wherever the page or a file names
it, as a phantom-trained demo's is (an ophthalmologist's trial: a ``--first-try`` bundle's result
read ``### Grade 3 — Severe NPDR``, its batch cells ``Severe NPDR`` and its download
``submission.csv``, under one warning paragraph): the heading, the batch's grade cell, the grades
CSV's name (``grades_TRIAL_RUN.csv``) and download label, and ``details["trial_run"]``."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.batch_csv import ABOUT_ROW
from app.predict import Predictor
from app.server import (
    TRIAL_CSV,
    AppSettings,
    _grade_batch_now,
    _grade_single_now,
    demo_mark,
    grade_cell,
    grade_heading,
    grades_csv_label,
)
from drac_ssl.submission import check_submission
from tests.helpers.app_fixtures import ramp_scan, trained_demo

TRIAL = {"trial": True, "why": "pretrain.epochs=1 set by --first-try on the command line"}


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Predictor:
    return trained_demo(tmp_path_factory.mktemp("trial"), metadata={"trial_run": TRIAL,
                                                                     "data": {"kind": "drac", "n_train": 611}})


def test_the_mark_of_a_trial_run_comes_after_the_demo_marks(trial: Predictor, tmp_path: Path) -> None:
    assert demo_mark(trial) == "trial run"
    full = trained_demo(tmp_path / "full", metadata={"trial_run": {"trial": False}})
    assert demo_mark(full) == ""
    phantom_trial = trained_demo(tmp_path / "pt", metadata={"trial_run": TRIAL, "data": {"kind": "phantom"}})
    assert demo_mark(phantom_trial) == "phantom-trained demo"
    pred = SimpleNamespace(grade=2, grade_name="PDR", probs=np.array([0.1, 0.1, 0.8]))
    assert grade_heading(pred, [], False, trial=True) == "### Trial run — model output: Grade 2 PDR"
    assert grade_cell("PDR", [], trial=True) == "PDR (trial run)"
    assert grade_cell("PDR", ["unlike the training images"], trial=True) == "PDR (not reliably gradable; trial run)"


def test_a_trial_runs_result_and_batch_are_marked(trial: Predictor, tmp_path: Path) -> None:
    scan = str(ramp_scan(tmp_path / "scan.png"))
    markdown, _, _, _, details = _grade_single_now(trial, AppSettings(gradcam=False), scan, None, "scan.png")
    headings = [line for line in markdown.split("\n") if line.startswith("### ")]
    assert headings[0].startswith(f"### Trial run — model output: Grade {details['grade']} "), headings
    assert not any(line.startswith("### Grade") for line in markdown.split("\n"))
    assert details["trial_run"] is True and details["phantom_trained_demo"] is False
    scans = [scan, str(ramp_scan(tmp_path / "b.png", 1))]
    summary, rows, csv_path, notes_path = _grade_batch_now(trial, AppSettings(), scans)
    assert all(row[2] == f"{trial.class_names[row[1]]} (trial run)" for row in rows), rows
    assert csv_path is not None and Path(csv_path).name == TRIAL_CSV == "grades_TRIAL_RUN.csv"
    assert check_submission(csv_path) == []  # the submission's format; only the name warns
    assert f"`{TRIAL_CSV}`" in summary and "submission.csv" not in summary, summary
    label = grades_csv_label(False, trial=True)
    assert TRIAL_CSV in label and "the submission" not in label
    assert TRIAL_CSV not in grades_csv_label(False)
    # the notes CSV marks every data row, as the table's cell does: a sort moves its first row
    with open(notes_path, newline="", encoding="utf-8-sig") as fh:
        table = list(csv.DictReader(fh))
    graded = [row for row in table if row["case"] != ABOUT_ROW]
    assert len(graded) == 2 and all(row["grade_name"] == cell for row, cell in
                                    zip(graded, [r[2] for r in rows], strict=True)), graded
