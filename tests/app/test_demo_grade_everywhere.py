"""An untrained demo bundle's grade is said as the model's output wherever the page or a file
names it, not only in the result's heading (a review: the batch table's grade cell read a plain
``NPDR``, the picture's alt text ``graded 1 (NPDR)``, and a complete demo batch was offered as
``submission.csv``, which ``--check`` passes, so that a grading from random weights could be
uploaded). The details JSON says it in a field of its own, ``untrained_demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app.predict import Predictor
from app.server import (
    DEMO_CSV,
    FLAGGED_CSV,
    AppSettings,
    _grade_batch_now,
    _grade_single_now,
    grade_cell,
    grades_csv_label,
    image_alt_texts,
)
from drac_ssl.submission import check_submission
from tests.helpers.app_fixtures import ramp_scan, trained_demo


def _colour(path: Path) -> Path:
    """A colour picture: not reliably gradable by the grey demo model (FLAGGED)."""
    rng = np.random.default_rng(5)
    ramp = np.add.outer(np.arange(96), np.arange(96)) // 2
    Image.fromarray(np.stack([ramp + rng.integers(0, 40, (96, 96)) for _ in range(3)], -1)
                    .astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Predictor:
    """The demo bundle with its ``demo`` key taken out: a bundle the app takes for trained."""
    return trained_demo(tmp_path_factory.mktemp("trained"))


def test_the_grade_cell_marks_a_demo_grade() -> None:
    assert grade_cell("NPDR", []) == "NPDR"
    assert grade_cell("NPDR", [], untrained=True) == "NPDR (untrained demo)"
    assert grade_cell("Normal", ["unlike the training images"]) == "Normal (not reliably gradable)"
    assert grade_cell("Normal", ["unlike the training images"], untrained=True) == (
        "Normal (not reliably gradable; untrained demo)")


def test_a_demo_batchs_table_and_csv_say_it_is_a_demo(predictor: Any, tmp_path: Path) -> None:
    assert predictor.untrained
    summary, rows, csv_path, notes_path = _grade_batch_now(
        predictor, AppSettings(), [str(ramp_scan(tmp_path / "a.png")), str(ramp_scan(tmp_path / "b.png", 1))])
    for row in rows:
        assert row[2] == f"{predictor.class_names[row[1]]} (untrained demo)", row
    # every file graded, and yet not offered as the submission: the name says why
    assert csv_path is not None and Path(csv_path).name == DEMO_CSV == "grades_UNTRAINED_DEMO.csv"
    assert check_submission(csv_path) == []  # the format is the submission's; only the name warns
    assert "submission.csv" not in summary and f"`{DEMO_CSV}`" in summary, summary
    assert "named UNTRAINED_DEMO because an untrained demo model graded it from random weights" in summary
    assert Path(notes_path).name == "grades_with_notes.csv"
    # a demo batch with an image not reliably gradable: still the demo's name, and the count said
    summary, rows, csv_path, _ = _grade_batch_now(
        predictor, AppSettings(), [str(ramp_scan(tmp_path / "a.png")), str(_colour(tmp_path / "photo.png"))])
    assert Path(csv_path).name == DEMO_CSV and FLAGGED_CSV not in summary, summary
    assert "1 of the 2 graded images is not reliably gradable" in summary, summary
    assert {row[0]: row[2] for row in rows}["photo.png"].endswith(" (not reliably gradable; untrained demo)")


def test_a_trained_batch_is_still_the_submission(trained: Predictor, tmp_path: Path) -> None:
    summary, rows, csv_path, _ = _grade_batch_now(trained, AppSettings(), [str(ramp_scan(tmp_path / "a.png"))])
    assert Path(csv_path).name == "submission.csv" and DEMO_CSV not in summary
    assert rows[0][2] == trained.class_names[rows[0][1]]


def test_the_download_label_names_the_demo_file() -> None:
    assert DEMO_CSV in grades_csv_label(True) and "the submission" not in grades_csv_label(True)
    assert DEMO_CSV not in grades_csv_label(False) and FLAGGED_CSV in grades_csv_label(False)
    assert grades_csv_label(False).startswith("CSV: the submission; grades_INCOMPLETE.csv")


def test_the_alt_text_and_details_say_untrained_demo(predictor: Any, trained: Predictor, tmp_path: Path) -> None:
    scan = str(ramp_scan(tmp_path / "scan.png"))
    *_, details = _grade_single_now(predictor, AppSettings(gradcam=False), scan, None, "scan.png")
    assert details["untrained_demo"] is True
    original, _ = image_alt_texts(details, predictor)
    said = f"untrained demo; model output: grade {details['grade']} ({details['grade_name']})."
    assert original.endswith(said) and "graded " not in original, original
    flagged, _ = image_alt_texts({**details, "not_reliably_gradable": ["unlike the training images"]}, predictor)
    assert flagged.endswith(f"not reliably gradable (unlike the training images); {said}"), flagged
    *_, details = _grade_single_now(trained, AppSettings(gradcam=False), scan, None, "scan.png")
    assert details["untrained_demo"] is False
    original, _ = image_alt_texts(details, trained)
    assert original.endswith(f"graded {details['grade']} ({details['grade_name']}).") and "demo" not in original
    # an error has no grade to mark
    *_, refused = _grade_single_now(predictor, AppSettings(gradcam=False), str(tmp_path / "gone.png"), None,
                                    "gone.png")
    assert "error" in refused and "untrained_demo" not in refused
