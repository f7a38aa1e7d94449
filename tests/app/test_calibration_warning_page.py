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
from PIL import Image

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
    rng = np.random.default_rng(0)
    path = tmp_path / "scan.png"
    ramp = np.add.outer(np.arange(96), np.arange(96))  # graded: not noise, not blank
    Image.fromarray((ramp + rng.integers(0, 40, (96, 96))).astype(np.uint8)).save(path)
    return path


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
    from app.server import AppSettings, _banner, _grade_batch, _grade_single, model_caveat

    said = uncalibrated.calibration_warning
    assert said is not None
    assert html.escape(said) in _banner(uncalibrated)  # the page's HTML
    markdown, _, _, _, details = _grade_single(uncalibrated, AppSettings(), str(upload), -1)
    assert said in details["warnings"]
    lines = markdown.splitlines()
    at = next(i for i, line in enumerate(lines) if NOT_CALIBRATED in line)
    probs = next(i for i, line in enumerate(lines) if line.startswith("P(") and "**" in line)
    heading = next(i for i, line in enumerate(lines) if line.startswith("## "))
    assert heading < at < probs, markdown  # under the grade, right above its percentages
    assert "Check this image" not in markdown and "see above" not in lines[heading]  # not a doubt of the image
    assert markdown.count(NOT_CALIBRATED) == 1
    summary, rows, _, notes_file = _grade_batch(uncalibrated, AppSettings(), [str(upload)])
    assert said in summary and rows[0][1] is not None
    assert said in model_caveat(uncalibrated)
    with open(notes_file, newline="", encoding="utf-8") as fh:
        graded = list(csv.DictReader(fh))
    assert graded and all(said in row["notes"] for row in graded), graded


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
