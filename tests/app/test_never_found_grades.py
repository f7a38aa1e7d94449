"""A grade the model NEVER found out of fold (0 of its images, the model card's per-grade
table) is said as a visible ⚠ line under every result's heading and in a batch's summary and
caveat (the notes CSV's first row), not only in the single-image page's small print (an
ophthalmologist's trial: "rarely found ... PDR (0 of 72)" was ``<small>`` on one page only)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from app.batch_csv import ABOUT_ROW
from app.predict import Predictor
from app.server import AppSettings, _grade_batch_now, _grade_single_now, model_caveat, result_status
from tests.helpers.app_fixtures import ramp_scan, trained_demo

PER_GRADE = [{"grade": 0, "name": "Normal", "images": 40, "found": 30, "given": 50, "recall": 0.75},
             {"grade": 1, "name": "NPDR", "images": 10, "found": 1, "given": 2, "recall": 0.1},
             {"grade": 2, "name": "PDR", "images": 72, "found": 0, "given": 0, "recall": 0.0}]
NEVER = "Out of fold this model never found PDR (0 of 72 images): a grade other than PDR does not rule it out."


@pytest.fixture(scope="module")
def blind(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Predictor:
    return trained_demo(tmp_path_factory.mktemp("blind"), metadata={"per_grade": PER_GRADE})


def test_a_grade_never_found_is_a_warning_under_the_heading(blind: Predictor, tmp_path: Path) -> None:
    scan = str(ramp_scan(tmp_path / "scan.png"))
    markdown, *_ = _grade_single_now(blind, AppSettings(gradcam=False), scan, None, "scan.png")
    lines = markdown.split("\n")
    heading = next(i for i, line in enumerate(lines) if line.startswith("### "))
    below = [line for line in lines[heading + 1:] if line]
    assert below[0] == f"⚠ **{NEVER}**", lines[heading:heading + 4]
    small = next(line for line in lines if line.startswith("<small>Out of fold"))
    assert "NPDR (1 of 10)" in small and "PDR (0" not in small  # rarely, still small print


def test_the_batch_says_it_in_its_summary_and_notes_csv(blind: Predictor, tmp_path: Path) -> None:
    assert NEVER in model_caveat(blind)
    summary, _, _, notes_path = _grade_batch_now(blind, AppSettings(), [str(ramp_scan(tmp_path / "a.png"))])
    assert f"⚠ **{NEVER}**" in summary, summary
    with open(notes_path, newline="", encoding="utf-8") as fh:
        about = list(csv.reader(fh))[1]  # the first row under the header: what applies to every grade
    assert about[0] == ABOUT_ROW and NEVER in about[-1], about


def test_the_calibration_warning_comes_first_under_the_heading(tmp_path: Path) -> None:
    flat = trained_demo(tmp_path / "flat", metadata={"per_grade": PER_GRADE}, calibration={"temperature": 100.0})
    scan = str(ramp_scan(tmp_path / "scan.png"))
    markdown, *_ = _grade_single_now(flat, AppSettings(gradcam=False), scan, None, "scan.png")
    lines = markdown.split("\n")
    heading = next(i for i, line in enumerate(lines) if line.startswith("### "))
    below = [line for line in lines[heading + 1:] if line]
    # docs/app.md: the not-calibrated warning "directly under its heading", the never-found one next
    assert below[0].startswith("⚠ **Probabilities not calibrated"), below[:2]
    assert below[1] == f"⚠ **{NEVER}**", below[:2]


def test_the_screen_reader_status_says_it_in_the_page_order(blind: Predictor, tmp_path: Path) -> None:
    # result_status lists the bold lines under the grade in the page's order (a review: it left
    # out the never-found line): after "probabilities not calibrated", before "borderline"
    scan = str(ramp_scan(tmp_path / "scan.png"))
    *_, details = _grade_single_now(blind, AppSettings(gradcam=False), scan, None, "scan.png")
    said = result_status({**details, "calibration_failed": True, "borderline": True}, blind)
    assert "; probabilities not calibrated; never found: PDR; borderline" in said, said
