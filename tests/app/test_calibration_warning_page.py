"""A bundle whose calibration failed is said so wherever the app shows its probabilities.

A trial user: the fitted temperature hit its upper limit (100) in tiny runs, so every image's
probabilities were flat (~0.333 each); report.md and the model card said the temperature "sits
at the edge of its search range", the app's page and console did not. The app now says it in
the card's rule (drac_ssl.grading.bundle.calibration_warning) in the banner, above every
result's probabilities, in each result's warnings (an API client's too), in the batch summary
and in each row of grades_with_notes.csv, and on the console at start-up."""

from __future__ import annotations

import csv
import html
import json
import shutil
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from app_fixtures import graded_scan

from app.predict import Predictor

NOT_CALIBRATED = "Probabilities not calibrated: the percentages are likely to be"
READ_THE_GRADE = "Read the grade, not the percentages."


@pytest.fixture(scope="module")
def uncalibrated(predictor: Predictor, tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    """The shared demo bundle, made to look trained and given the temperature of a failed
    calibration (100, the top of its search range), as the trial's tiny run had."""
    folder = tmp_path_factory.mktemp("uncalibrated") / "bundle"
    shutil.copytree(predictor.path, folder)
    meta = json.loads((folder / "metadata.json").read_text())
    meta.pop("demo", None)
    meta["calibration"]["temperature"] = 100.0
    (folder / "metadata.json").write_text(json.dumps(meta))
    return Predictor(folder)


@pytest.fixture()
def upload(tmp_path: Path) -> Path:
    return graded_scan(tmp_path / "scan.png")


def test_the_predictor_says_it_with_every_result_and_only_for_a_failed_calibration(
        predictor: Predictor, uncalibrated: Predictor, upload: Path) -> None:
    assert predictor.calibration_warning is None  # the demo bundle: temperature 1
    said = uncalibrated.calibration_warning
    assert said is not None and said.startswith(NOT_CALIBRATED) and said.endswith(READ_THE_GRADE)
    assert "nearly equal for every grade" in said and "its temperature, 100, is at the top" in said
    pred = uncalibrated.predict_file(upload, gradcam=False)
    assert np.ptp(pred.probs) < 0.05  # flat: what the sentence says of them
    assert said in pred.warnings and said in pred.as_dict()["warnings"]
    assert pred.warnings.index(said) < pred.warnings.index(uncalibrated.caveat)
    assert pred.not_reliably_gradable == []  # of the model's probabilities, not of the image
    assert all(not w.startswith(NOT_CALIBRATED) for w in predictor.predict_file(upload, gradcam=False).warnings)


def test_the_page_says_it_in_the_banner_above_the_probabilities_and_in_the_batch(
        uncalibrated: Predictor, upload: Path) -> None:
    from app.server import (
        AppSettings,
        _banner,
        _grade_batch,
        _grade_single,
        model_caveat,
    )

    said = uncalibrated.calibration_warning
    assert said is not None
    assert html.escape(said) in _banner(uncalibrated)  # the page's HTML
    markdown, _, _, _, details = _grade_single(uncalibrated, AppSettings(), str(upload), -1)
    assert said in details["warnings"]
    lines = markdown.splitlines()
    at = next(i for i, line in enumerate(lines) if NOT_CALIBRATED in line)
    probs = next(i for i, line in enumerate(lines) if line.startswith("Probabilities: ") and "**" in line)
    heading = next(i for i, line in enumerate(lines) if line.startswith("### "))
    assert heading < at < probs, markdown  # under the grade, right above its percentages
    assert "Check this image" not in markdown and "see above" not in lines[heading]  # not a doubt of the image
    assert markdown.count(NOT_CALIBRATED) == 1
    summary, rows, _, notes_file = _grade_batch(uncalibrated, AppSettings(), [str(upload)])
    assert said in summary and rows[0][1] is not None
    assert said in model_caveat(uncalibrated)
    with open(notes_file, newline="", encoding="utf-8-sig") as fh:
        about, *graded = list(csv.DictReader(fh))
    # once, in the first row, for every grade of the file (a clinician trial: not on every row)
    assert graded and said in about["notes"] and not any(said in row["notes"] for row in graded), graded


def test_the_console_says_it_at_start_up(
        predictor: Predictor, uncalibrated: Predictor, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import gradio as gr

    from app.__main__ import main

    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: None)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main's SIGTERM handler: not here
    outs: dict[str, Any] = {}
    for name, bundle in (("uncalibrated", uncalibrated), ("demo", predictor)):
        capsys.readouterr()
        assert main(["--bundle", str(bundle.path), "--port", "7997", "--threads", "1"]) == 0
        outs[name] = capsys.readouterr().out
    line = f"[app] warning: {uncalibrated.calibration_warning}"
    assert line in outs["uncalibrated"].splitlines(), outs["uncalibrated"]
    assert outs["uncalibrated"].index("serving on http://") < outs["uncalibrated"].index(line)
    assert NOT_CALIBRATED not in outs["demo"]


def test_no_borderline_or_equal_percentages_are_read_out_when_the_calibration_failed(
        uncalibrated: Predictor, upload: Path) -> None:
    """A review: under temperature 100 a result read "### Grade 1 — NPDR", "Borderline: the model
    cannot tell 0 Normal, 1 NPDR and 2 PDR apart on this image (P 0.33, 0.33 and 0.33)", "...
    equally likely (P 0.33 each)", and only then the warning to ignore those percentages; the
    batch counted every image borderline. Now the warning comes directly under the heading,
    no borderline is said (page, details, batch count and notes, Prediction.borderline: None)
    and the decision line names no percentage."""
    from app.predict import borderline_words
    from app.server import AppSettings, _decision_words, _grade_batch, _grade_single
    from drac_ssl.grading.image_notes import decision_words

    pred = uncalibrated.predict_file(upload, gradcam=False)
    names = uncalibrated.class_names
    # what was said before: the flat percentages make a three-way borderline and a tie
    assert borderline_words(pred.probs, names) is not None
    cal = uncalibrated.bundle.calibration
    assert "equally likely" in decision_words(pred.probs, pred.grade, names, cal.decision)
    assert pred.calibration_failed and pred.borderline is None and pred.as_dict()["borderline"] is None
    said = _decision_words(pred.probs, pred.grade, uncalibrated)
    assert said == (f"The grade shown is {pred.grade} {names[pred.grade]}: the model's overall score, "
                    f"which weighs all grades, falls in its range; the percentages cannot say which "
                    f"grade is most likely, as they are not calibrated."), said
    markdown, _, _, _, details = _grade_single(uncalibrated, AppSettings(), str(upload), -1)
    assert "Borderline" not in markdown and "equally likely" not in markdown, markdown
    assert details["borderline"] is None and details["calibration_failed"] is True
    lines = markdown.splitlines()
    heading = next(i for i, line in enumerate(lines) if line.startswith("### "))
    assert NOT_CALIBRATED in lines[heading + 1], markdown  # directly under the heading
    assert said in markdown
    summary, rows, _, notes_file = _grade_batch(uncalibrated, AppSettings(), [str(upload), str(upload)])
    assert "borderline" not in summary.lower(), summary
    with open(notes_file, newline="", encoding="utf-8-sig") as fh:
        graded = list(csv.DictReader(fh))
    assert graded and all("Borderline" not in row["notes"] and "equally likely" not in row["notes"]
                          for row in graded), graded


def _also_no_better_than_chance(uncalibrated: Predictor, tmp_path: Path) -> Predictor:
    """A copy of the uncalibrated bundle in ``tmp_path / "bundle"`` whose QWK CI reaches 0, so
    that the chance warning applies too."""
    folder = tmp_path / "bundle"
    shutil.copytree(uncalibrated.path, folder)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["cv_metrics"] = {**(meta.get("cv_metrics") or {}), "qwk": 0.1, "qwk_ci95": [-0.05, 0.3]}
    (folder / "metadata.json").write_text(json.dumps(meta))
    return Predictor(folder)


def test_after_the_chance_warning_it_does_not_say_read_the_grade(
        uncalibrated: Predictor, tmp_path: Path, upload: Path) -> None:
    """A review: with a QWK CI reaching 0 the banner said "No evidence that this model grades
    better than chance ... Do not read its grades or probabilities" and then "... Read the
    grade, not the percentages."."""
    from app.server import AppSettings, _banner, _grade_single

    both = _also_no_better_than_chance(uncalibrated, tmp_path)
    assert both.chance_warning is not None and both.calibration_warning is not None
    assert both.calibration_warning.endswith("The percentages say nothing; see above about the grade.")
    banner = _banner(both)
    # the banner's plain chance line (its figures folded in the technical section below)
    assert "Read the grade" not in banner and banner.index("better than guessing") < banner.index("not calibrated")
    markdown = _grade_single(both, AppSettings(), str(upload), -1)[0]
    assert "Read the grade" not in markdown
    assert markdown.index("better than guessing") < markdown.index("Probabilities not calibrated")


def test_the_console_says_the_chance_warning_its_see_above_points_to(
        uncalibrated: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A trial user: the console printed "Probabilities not calibrated: ... see above about the
    grade" with nothing above it about the grade; the chance warning was on the page only."""
    import gradio as gr

    from app.__main__ import main

    both = _also_no_better_than_chance(uncalibrated, tmp_path)
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: None)
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    capsys.readouterr()
    assert main(["--bundle", str(both.path), "--port", "7996", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    chance, calibration = f"[app] warning: {both.chance_warning}", f"[app] warning: {both.calibration_warning}"
    assert chance in lines and calibration in lines
    assert lines.index(chance) < lines.index(calibration)
