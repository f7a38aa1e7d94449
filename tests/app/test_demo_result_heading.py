"""An untrained demo bundle's result is never headed as a grade (a trial user read "### Grade 1 —
NPDR" from random weights as a result): the heading says "Untrained demo — model output: ...",
as a not reliably gradable image's says the grade only as the model's output, and the notes of
its grades in ``grades_INCOMPLETE.csv`` carry the demo caveat, which ``grades_with_notes.csv`` says
once, in its first row."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from PIL import Image

from app.demo_bundle import build_demo_bundle
from app.predict import Predictor
from app.server import (
    AppSettings,
    _grade_batch_now,
    _grade_single_now,
    grade_heading,
    model_caveat,
)
from drac_ssl.grading.image_notes import UNLIKE_TRAINING


def _scan(path: Path, seed: int = 0) -> Path:
    ramp = np.add.outer(np.arange(96), np.arange(96)) // 2  # graded: not noise, not blank
    noise = np.random.default_rng(seed).integers(0, 40, (96, 96))
    Image.fromarray((ramp + noise).astype(np.uint8)).save(path)
    return path


def _headings(markdown: str) -> list[str]:
    return [line for line in markdown.split("\n") if line.startswith("### ")]


def test_the_demo_heading_names_the_grade_only_as_the_models_output() -> None:
    pred = SimpleNamespace(grade=1, grade_name="NPDR", probs=np.array([0.2, 0.5, 0.3]))
    assert grade_heading(pred, [], False) == "### Grade 1 — NPDR"
    assert grade_heading(pred, [], False, untrained=True) == "### Untrained demo — model output: Grade 1 NPDR"
    assert grade_heading(pred, ["Too small ..."], True, untrained=True) == (
        "### Untrained demo — model output: Grade 1 NPDR (⚠ see above)")
    plain = grade_heading(pred, [UNLIKE_TRAINING], False)
    demo = grade_heading(pred, [UNLIKE_TRAINING], False, untrained=True)
    assert plain.startswith("### Not reliably gradable (") and "untrained demo" not in plain
    assert demo == plain.replace(") — model output", "); untrained demo — model output", 1), demo


def test_a_demo_result_on_the_page_is_headed_as_model_output(predictor: Predictor, tmp_path: Path) -> None:
    scan = _scan(tmp_path / "scan.png")
    markdown, label, _, _, details = _grade_single_now(predictor, AppSettings(gradcam=False), str(scan),
                                                       None, "scan.png")
    assert predictor.untrained and label is not None
    (heading,) = _headings(markdown)
    assert heading.startswith(f"### Untrained demo — model output: Grade {details['grade']} "
                              f"{details['grade_name']}"), heading
    assert not any(line.startswith("### Grade") for line in markdown.split("\n"))


def test_a_trained_bundles_heading_is_the_grade(tmp_path: Path, one_thread: None) -> None:
    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=1)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta.pop("demo")
    (bundle / "metadata.json").write_text(json.dumps(meta))
    trained = Predictor(bundle, gradcam=False)
    markdown, _, _, _, details = _grade_single_now(trained, AppSettings(gradcam=False),
                                                   str(_scan(tmp_path / "scan.png")), None, "scan.png")
    assert not trained.untrained
    assert _headings(markdown)[0].startswith(f"### Grade {details['grade']} — {details['grade_name']}")


def test_the_incomplete_csvs_demo_rows_carry_the_demo_caveat(predictor: Any, tmp_path: Path) -> None:
    """The CSV of a batch with a file not graded: each graded row's notes end with the bundle's
    caveat ("Untrained demo model: this grade means nothing. ..."), as in the notes CSV."""
    scan = _scan(tmp_path / "scan.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(scan.read_bytes()[:60])
    summary, rows, csv_path, notes_path = _grade_batch_now(predictor, AppSettings(), [str(scan), str(broken)])
    assert csv_path is not None and Path(csv_path).name == "grades_INCOMPLETE.csv", summary
    with open(csv_path, newline="", encoding="utf-8") as fh:
        written = {r["case"]: r for r in csv.DictReader(fh)}
    caveat = model_caveat(predictor)
    assert "Untrained demo model: this grade means nothing." in caveat
    assert written["scan.png"]["class"] != "" and written["scan.png"]["notes"].endswith(caveat)
    assert written["scan.png"]["notes"] == " ".join(x for x in (rows[0][-1], caveat) if x)
    assert caveat not in written["broken.png"]["notes"]  # not graded: no grade to caveat
    with open(notes_path, newline="", encoding="utf-8-sig") as fh:
        noted = {r["case"]: r for r in csv.DictReader(fh)}
    # the notes CSV says the caveat once, in its first row (a clinician trial: ~300 characters on
    # every row), the row's own notes without it
    # (then which model graded: grading_provenance_words)
    assert noted["(about these grades)"]["notes"].startswith(caveat + " Graded by bundle ")
    assert noted["scan.png"]["notes"] == rows[0][-1] and caveat not in noted["scan.png"]["notes"]
