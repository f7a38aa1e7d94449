"""``python -m drac_ssl.export RUN --images DIR --out grades.csv``: the notes file written for
grade notes alone is named and counted on the ``class =`` line (user trial F1).

The trial: 25 APTOS photos graded by a tiny model, every probability near 0.20. Each row's
class was its largest P (P3 0.2003), yet each had a ``grade_note`` ("0 No DR, ... and 4 PDR are
equally likely (20% each) ...": the grades tied at the whole percentages shown), so
``grades_notes.csv`` was written, and no console line named it: the class line counted only
the rows whose class is not their largest P (none). The rule stays (a near-tie is said, as on
the app's page); the class line now counts both kinds of note and names the file, and the two
guides say the rule in the same words. An untrained demo bundle grades (seconds, CPU), with the
probabilities set as the trial's.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from drac_ssl import export
from drac_ssl.grading import batch, predict
from drac_ssl.submission import NEAR_TIE_WORDS, image_notes_path

DOCS = Path(__file__).resolve().parents[2] / "docs"
TRIAL = np.array([0.2000, 0.1999, 0.1998, 0.2003, 0.2000])  # class 3: the largest P, tied at 0.20
OFF = np.array([0.40, 0.54, 0.06, 0.0, 0.0])  # class 0: not the largest P
CLEAR = np.array([0.05, 0.10, 0.70, 0.10, 0.05])  # class 2: the largest P, no tie


@pytest.fixture(scope="module")
def demo_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_bundle import build_demo_bundle

    return build_demo_bundle(tmp_path_factory.mktemp("run") / "run", image_size=32, source_size=32, n_folds=1,
                             grade_names=["No DR", "Mild", "Moderate", "Severe", "PDR"], channels=3)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 96 px colour discs with smooth shading and a bright spot (not blank, not noise, not
    a few-level mask), unlike one another."""
    folder = tmp_path_factory.mktemp("photos")
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float32)
    disc = (np.hypot(xx - 48, yy - 48) < 44).astype(np.float32)[..., None]
    for i in range(3):
        base = np.stack([60 + 0.8 * xx + 10 * i, 80 + 0.6 * yy, 140 + 0.2 * (xx + yy) - 15 * i], -1)
        spot = 90 * np.exp(-((xx - 30 - 10 * i) ** 2 + (yy - 44) ** 2) / 60.0)[..., None]
        cv2.imwrite(str(folder / f"eye_{i}.png"), np.clip((base + spot) * disc, 0, 255).astype(np.uint8))
    return folder


def _graded_as(rows: list[tuple[np.ndarray, int]]) -> Callable[..., predict.GradedImages]:
    real = batch.grade_images  # --images grades through grading.batch.grade_files

    def grade(*args: object, **kwargs: object) -> predict.GradedImages:
        graded = real(*args, **kwargs)
        for i, (probs, grade) in enumerate(rows):
            graded.probs[i], graded.classes[i] = probs, grade
        return graded

    return grade


def _export(demo_bundle: Path, photos: Path, out: Path, rows: list[tuple[np.ndarray, int]],
            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    monkeypatch.setattr(batch, "grade_images", _graded_as(rows))
    capsys.readouterr()
    code = export.main([str(demo_bundle), "--images", str(photos), "--out", str(out)])
    lines = capsys.readouterr().out.splitlines()
    return code, next(line for line in lines if line.startswith("  class = "))


def test_near_ties_alone_write_a_notes_file_that_the_class_line_counts_and_names(
        demo_bundle: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "grades.csv"
    code, class_line = _export(demo_bundle, photos, out, [(TRIAL, 3)] * 3, monkeypatch, capsys)
    notes = image_notes_path(out)
    assert code == 0 and notes.is_file()
    rows = list(csv.DictReader(notes.open(encoding="utf-8-sig")))
    assert len(rows) == 3 and all(r["class"] == "3" for r in rows)
    # the grade names people read, as the app's page says them (ICDR's recorded short names stay in
    # the grade_name column)
    assert all(r["grade_note"].startswith("0 No apparent DR, 1 Mild NPDR, 2 Moderate NPDR, 3 Severe NPDR "
                                          "and 4 PDR are equally likely (20% each)") for r in rows), rows
    assert (f"(for 3 of the 3 here it is, but {NEAR_TIE_WORDS}: why in the grade_note column of "
            f"{notes})") in class_line, class_line


def test_the_class_line_counts_each_kind_of_note_and_a_clean_batch_writes_none(
        demo_bundle: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "grades.csv"
    code, class_line = _export(demo_bundle, photos, out, [(OFF, 0), (TRIAL, 3), (CLEAR, 2)], monkeypatch, capsys)
    notes = image_notes_path(out)
    noted = [r["case"] for r in csv.DictReader(notes.open(encoding="utf-8-sig")) if r["grade_note"]]
    assert code == 0 and len(noted) == 2
    assert (f"(for 1 of the 3 here it is not, and for 1 more it is, but {NEAR_TIE_WORDS}: why in the "
            f"grade_note column of {notes})") in class_line, class_line
    # every class its largest P and no tie: no notes file (the earlier one removed), no count
    code, class_line = _export(demo_bundle, photos, out, [(CLEAR, 2)] * 3, monkeypatch, capsys)
    assert code == 0 and not notes.exists()
    assert class_line.startswith("  class = the expected grade cut at QWK-tuned thresholds, so not always "
                                 "the largest P (finetune.decision=thresholds)"), class_line


@pytest.mark.parametrize("doc", ["own_fundus_folder.md", "running.md"])
def test_both_guides_say_a_near_tie_writes_the_notes_file_in_the_class_lines_words(doc: str) -> None:
    """docs/own_fundus_folder.md step 3 said no notes file "when every class is the most likely
    grade", docs/running.md likewise: the trial's near-ties wrote one. Both now say the two
    reasons in the same words, and that the class line counts them and names the file."""
    text = re.sub(r"\s+", " ", (DOCS / doc).read_text(encoding="utf-8"))
    said = ("when the class is not the single most likely grade (the expected grade cut at thresholds), "
            f"or is but {NEAR_TIE_WORDS} (a near-tie: the tied grades are named; {TWO_GRADES_WORDS})")
    assert said in text, doc
    assert "the `class =` line counting both kinds and naming the file" in text, doc


TWO_GRADES_WORDS = ("with two grades and a referral threshold it says P(grade 1) against the threshold instead, "
                    "e.g. `P(referable) 0.501 is at or above the referral threshold 0.400, so the grade shown is "
                    "1 referable (...)`")


def test_the_guides_two_grade_near_tie_example_is_the_notes_sentence() -> None:
    """A review: with two grades and a referral threshold a near-tie's note names no tied grades
    (the guides said it did); it says P(grade 1) against the threshold. The guides' example is
    the note's own sentence (decision_words) for P (0.499, 0.501) at the threshold 0.400."""
    from drac_ssl.grading.image_notes import decision_words

    note = decision_words([0.499, 0.501], 1, ["non-referable", "referable"], "thresholds", thresholds=[0.400])
    example = TWO_GRADES_WORDS.split("e.g. `", 1)[1].removesuffix("(...)`")
    assert note.startswith(example) and "equally likely" not in note, note
