"""A grade shown milder than the model's most likely grade is said in a ⚠ line under it, counted
in the batch summary and flagged in the details JSON (a trial user: real DRAC sample_1.png read
"### Grade 1 — NPDR" with P(PDR) 0.607 the largest probability: the expected grade cut at the
thresholds tuned for overall agreement gives milder grades than the most likely one on many
images, 134 of the 386 phantom test images and never a more severe one,
``bench/results/ensemble_grade.json``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.predict import Predictor
from app.server import (
    MILDER_MORE,
    AppSettings,
    _grade_batch_now,
    _grade_single_now,
    _result_markdown,
    milder_than_most_likely,
    milder_words,
    most_likely_grade,
)
from drac_ssl.figures import tied_grades
from tests.helpers.app_fixtures import ramp_scan, result_said, trained_demo

NAMES = ["Normal", "NPDR", "PDR"]


def _trained(folder: Path, n_folds: int, grade_names: list[str] = NAMES,
             calibration: dict[str, Any] | None = None) -> Predictor:
    return trained_demo(folder, n_folds, grade_names, calibration=calibration)


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Predictor:
    return _trained(tmp_path_factory.mktemp("ensemble"), 2)


def test_the_flag_compares_the_grade_with_the_argmax() -> None:
    probs = np.array([0.10, 0.29, 0.61])  # expected grade 1.51: grade 1 at thresholds 1.027 / 1.893
    assert most_likely_grade(probs) == 2
    assert milder_than_most_likely(probs, 1) and milder_than_most_likely(probs, 0)
    assert not milder_than_most_likely(probs, 2)
    assert not milder_than_most_likely(np.array([0.6, 0.3, 0.1]), 1)  # more severe: not this flag
    assert most_likely_grade(np.array([0.4, 0.4, 0.2])) == 0  # the first of equal maxima


def test_the_words_name_the_most_likely_grade_and_why() -> None:
    probs = np.array([0.10, 0.29, 0.61])
    words = milder_words(probs, 1, NAMES, folds=5)
    assert words.startswith("⚠ **The model's most likely grade is 2 PDR (61%), more severe than "
                            "the grade shown, 1 NPDR (29%).**"), words
    assert ("The grade shown cuts the model's overall score, which weighs all grades (the mean of its 5 "
            "fold models), at thresholds tuned for the best overall agreement with the reference grades on "
            "single fold models' out-of-fold outputs; that rule often gives a milder grade than the most "
            "likely one (the Model card tab says more") in words, words
    assert "often gives a milder grade than the most likely one" in words
    # a place on the page, not a file of the repository a clinician cannot open (a review)
    assert words.endswith(f"({MILDER_MORE}).") and "docs/" not in words and ".md" not in words
    one = milder_words(probs, 1, NAMES, folds=1)
    assert "mean of its" not in one and "reference grades on the out-of-fold outputs;" in one
    assert milder_words(probs, 2, NAMES, folds=5) == ""
    assert milder_words(np.array([0.6, 0.3, 0.1]), 1, NAMES, folds=5) == ""


def test_the_result_says_it_in_place_of_the_plain_decision_line(ensemble: Predictor) -> None:
    pred = ensemble.predict(np.full((48, 48), 90, np.uint8) + np.eye(48, dtype=np.uint8) * 60, gradcam=False)
    milder = replace(pred, grade=1, grade_name="NPDR", probs=np.array([0.10, 0.29, 0.61]))
    markdown = _result_markdown(milder, ensemble)
    line = next(x for x in markdown.split("\n") if x.startswith("⚠ **The model's most likely grade"))
    assert "2 PDR (61%)" in line and "(the mean of its 2 fold models)" in line
    assert markdown.index("### Grade 1 — NPDR") < markdown.index(line)
    assert "The single most likely grade is" not in markdown  # said once, not twice
    # more severe than the most likely: the plain decision line, no warning
    severe = replace(pred, grade=1, grade_name="NPDR", probs=np.array([0.60, 0.05, 0.35]))
    markdown = _result_markdown(severe, ensemble)
    assert "The single most likely grade is 0 Normal (60%)" in markdown
    assert "⚠ **The model's most likely grade" not in markdown


def test_an_untrained_demo_result_keeps_the_plain_decision_line(predictor: Predictor) -> None:
    """Its thresholds were fitted on nothing: "fitted on single fold models" would be false."""
    pred = predictor.predict(np.full((48, 48), 90, np.uint8) + np.eye(48, dtype=np.uint8) * 60, gradcam=False)
    markdown = _result_markdown(replace(pred, grade=1, grade_name="NPDR", probs=np.array([0.1, 0.29, 0.61])),
                                predictor)
    assert "⚠ **The model's most likely grade" not in markdown
    assert "The single most likely grade is 2 PDR (61%)" in markdown


def _fixed(predictor: Predictor, monkeypatch: pytest.MonkeyPatch, probs: np.ndarray, grade: int) -> None:
    """Every grading of ``predictor`` gives ``probs`` and ``grade`` (its own model otherwise)."""
    real_single, real_batch = predictor.predict_loaded, predictor.grade_prepared_sentences

    def single(*args: Any, **kwargs: Any) -> Any:
        return replace(real_single(*args, **kwargs), grade=grade, grade_name=predictor.class_names[grade],
                       probs=probs)

    def batch(*args: Any, **kwargs: Any) -> Any:
        _, classes, unlike, sentences = real_batch(*args, **kwargs)
        return np.tile(probs, (len(classes), 1)), np.full(len(classes), grade), unlike, sentences

    monkeypatch.setattr(predictor, "predict_loaded", single)
    monkeypatch.setattr(predictor, "grade_prepared_sentences", batch)


def test_the_details_flag_it(ensemble: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scan = str(ramp_scan(tmp_path / "scan.png"))
    *_, details = _grade_single_now(ensemble, AppSettings(gradcam=False), scan, None, "scan.png")
    assert details["most_likely_grade"] == int(np.argmax(details["P"]))
    assert details["milder_than_most_likely"] == (details["most_likely_grade"] > details["grade"])
    _fixed(ensemble, monkeypatch, np.array([0.10, 0.29, 0.61]), 1)
    markdown, *_, details = _grade_single_now(ensemble, AppSettings(gradcam=False), scan, None, "scan.png")
    assert details["most_likely_grade"] == 2 and details["milder_than_most_likely"] is True
    assert "⚠ **The model's most likely grade is 2 PDR (61%)" in markdown


def test_the_batch_summary_counts_them(ensemble: Predictor, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    scans = [str(ramp_scan(tmp_path / f"{i}.png", i)) for i in range(3)]
    _fixed(ensemble, monkeypatch, np.array([0.10, 0.29, 0.61]), 1)
    summary, rows, *_ = _grade_batch_now(ensemble, AppSettings(), scans)
    assert "⚠ **3 of the 3 graded images are shown milder than their most likely grade**" in summary, summary
    assert "which often gives a milder grade than the most likely one" in summary
    assert all("The single most likely grade is 2 PDR" in row[-1] for row in rows)  # named per row
    monkeypatch.undo()
    _fixed(ensemble, monkeypatch, np.array([0.10, 0.29, 0.61]), 2)
    summary, *_ = _grade_batch_now(ensemble, AppSettings(), scans)
    assert "milder than their most likely grade" not in summary


def test_a_tie_at_the_precision_shown_is_no_lead() -> None:
    """0.449 / 0.451 print 0.45 twice: no grade leads (decision_words calls them equally likely)."""
    near = np.array([0.449, 0.451, 0.10])
    assert most_likely_grade(near) == 1 and tied_grades(near) == [0, 1]
    assert not milder_than_most_likely(near, 0) and milder_words(near, 0, NAMES, folds=5) == ""
    exact = np.array([0.455, 0.09, 0.455])  # shown 46 / 9 / 46: equal values alike
    assert tied_grades(exact) == [0, 2] and not milder_than_most_likely(exact, 0)
    assert not milder_than_most_likely(exact, 1)  # 0 Normal ties too: not milder than it
    assert tied_grades(np.array([0.44, 0.46, 0.10])) == [1] and milder_than_most_likely(np.array([0.44, 0.46, 0.10]), 0)


ICDR_SHOWN = ["No apparent DR", "Mild NPDR", "Moderate NPDR", "Severe NPDR", "PDR"]


def test_a_tie_above_the_grade_shown_is_still_more_severe() -> None:
    """Every tied grade more severe than the one shown: the warning names them all (a second
    read: a tie anywhere hid it, ICDR grade 2 shown under 40% / 40% for grades 3 and 4)."""
    icdr = np.array([0.05, 0.05, 0.10, 0.40, 0.40])
    assert milder_than_most_likely(icdr, 2) and milder_than_most_likely(icdr, 0)
    assert not milder_than_most_likely(icdr, 3)  # a tied grade shown: "equally likely", no warning
    words = milder_words(icdr, 2, ICDR_SHOWN, folds=5)
    assert words.startswith("⚠ **The model's most likely grades, 3 Severe NPDR and 4 PDR (40% each), are more "
                            "severe than the grade shown, 2 Moderate NPDR (10%).**"), words
    drac = np.array([0.10, 0.449, 0.451])  # 45% twice, both above 0 Normal
    assert milder_than_most_likely(drac, 0) and not milder_than_most_likely(drac, 1)
    assert milder_words(drac, 0, NAMES, folds=1).startswith(
        "⚠ **The model's most likely grades, 1 NPDR and 2 PDR (45% each), are more severe than the grade "
        "shown, 0 Normal (10%).**")
    three = np.array([0.01, 0.33, 0.33, 0.33])  # shown 1 / 33 / 33 / 33
    assert milder_words(three, 0, ["a", "b", "c", "d"], folds=1).startswith(
        "⚠ **The model's most likely grades, 1 b, 2 c and 3 d (33% each), are more severe")


def test_a_tie_above_is_warned_counted_and_flagged(ensemble: Predictor, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    markdown = result_said(ensemble, [0.10, 0.449, 0.451], 0)
    assert "⚠ **The model's most likely grades, 1 NPDR and 2 PDR (45% each)" in markdown, markdown
    assert "The model's overall score, which weighs all grades, falls in" not in markdown  # said once
    scan = str(ramp_scan(tmp_path / "s.png"))
    _fixed(ensemble, monkeypatch, np.array([0.10, 0.449, 0.451]), 0)
    *_, details = _grade_single_now(ensemble, AppSettings(gradcam=False), scan, None, "s.png")
    assert details["most_likely_grade"] == 2 and details["milder_than_most_likely"] is True
    scans = [scan, str(ramp_scan(tmp_path / "t.png", 1))]
    summary, *_ = _grade_batch_now(ensemble, AppSettings(), scans)
    assert "⚠ **2 of the 2 graded images are shown milder than their most likely grade**" in summary, summary


def test_an_icdr_tie_above_is_warned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    icdr = _trained(tmp_path / "icdr", 1, grade_names=["No DR", "Mild", "Moderate", "Severe", "PDR"])
    probs = np.array([0.05, 0.05, 0.10, 0.40, 0.40])
    markdown = result_said(icdr, list(probs), 2)
    assert ("⚠ **The model's most likely grades, 3 Severe NPDR and 4 PDR (40% each), are more severe than "
            "the grade shown, 2 Moderate NPDR (10%).**") in markdown, markdown
    _fixed(icdr, monkeypatch, probs, 2)
    *_, details = _grade_single_now(icdr, AppSettings(gradcam=False), str(ramp_scan(tmp_path / "s.png")),
                                             None, "s.png")
    assert details["milder_than_most_likely"] is True


def test_a_near_tie_keeps_the_plain_equally_likely_line(ensemble: Predictor) -> None:
    markdown = result_said(ensemble, [0.449, 0.451, 0.10], 0)
    assert "⚠ **The model's most likely grade" not in markdown, markdown
    # the Borderline line (the one the warning contradicted, still said) names the tie, with the
    # figure of the "equally likely" sentence it stands for (likely_said)
    assert "Borderline: the model cannot tell 0 Normal from 1 NPDR on this image (45% each)." in markdown
    assert "The model's overall score, which weighs all grades, falls in the 0 Normal range" in markdown


def test_an_image_not_reliably_gradable_gets_no_warning(ensemble: Predictor) -> None:
    """Its heading says there is no grade to read (the Borderline line is hidden too): a bold ⚠
    under it would invite reading the grade; nor the plain line, which reads its percentages."""
    unlike = "Unlike the training images: far from every one of them on the model's features."
    markdown = result_said(ensemble, [0.10, 0.29, 0.61], 1, (unlike,))
    assert markdown.count("### Not reliably gradable (unlike the training images)") == 1, markdown
    assert "⚠ **The model's most likely grade" not in markdown
    assert "most likely" not in markdown and "61%" not in markdown, markdown


def test_a_failed_calibration_gets_no_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its percentages do not say which grade is most likely: the plain line, without figures;
    no batch count either."""
    flat = _trained(tmp_path / "uncalibrated", 1, calibration={"temperature": 100.0})
    assert flat.calibration_warning is not None
    markdown = result_said(flat, [0.10, 0.29, 0.61], 1)
    assert "⚠ **The model's most likely grade" not in markdown
    assert "the percentages cannot say which grade is most likely, as they are not calibrated" in markdown
    scans = [str(ramp_scan(tmp_path / f"{i}.png", i)) for i in range(2)]
    _fixed(flat, monkeypatch, np.array([0.10, 0.29, 0.61]), 1)
    summary, *_ = _grade_batch_now(flat, AppSettings(), scans)
    assert "Probabilities not calibrated" in summary and "milder than their most likely grade" not in summary


def test_a_two_grade_bundle_keeps_its_referral_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """decision_words names the referral threshold; the generic thresholds words replaced it."""
    two = _trained(tmp_path / "two", 1, ["non-referable", "referable"], {"thresholds": [0.7]})
    markdown = result_said(two, [0.40, 0.60], 0)
    assert ("⚠ P(referable) 0.600 is below the referral threshold 0.700, so the grade shown is 0 "
            "non-referable") in markdown, markdown
    assert "⚠ **The model's most likely grade" not in markdown
    assert "at thresholds tuned for the best overall agreement" not in markdown
    plain = result_said(two, [0.75, 0.25], 0)  # the most likely grade shown: no sentence at all
    assert "referral threshold" not in plain.split("P(non-referable)")[0]
    scans = [str(ramp_scan(tmp_path / f"{i}.png", i)) for i in range(2)]
    _fixed(two, monkeypatch, np.array([0.40, 0.60]), 0)
    summary, *_ = _grade_batch_now(two, AppSettings(), scans)
    assert ("⚠ **2 of the 2 graded images are shown milder than their most likely grade** (the notes "
            "column names it): the grade is P(referable) against the referral threshold") in summary, summary


def test_a_five_grade_bundle_names_its_grades(tmp_path: Path) -> None:
    icdr = ["No DR", "Mild", "Moderate", "Severe", "Proliferative"]
    five = _trained(tmp_path / "five", 2, icdr)
    markdown = result_said(five, [0.05, 0.10, 0.30, 0.15, 0.40], 2)
    assert ("⚠ **The model's most likely grade is 4 PDR (40%), more severe than the grade "
            "shown, 2 Moderate NPDR (30%).**") in markdown, markdown
    assert "(the mean of its 2 fold models)" in markdown
    assert "⚠ **The model's most likely grade" not in result_said(five, [0.05, 0.10, 0.40, 0.05, 0.40], 2)  # a tie


def test_the_batch_count_leaves_out_ties_and_images_not_reliably_gradable(
        ensemble: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scans = [str(ramp_scan(tmp_path / f"{i}.png", i)) for i in range(2)]
    _fixed(ensemble, monkeypatch, np.array([0.449, 0.451, 0.10]), 0)
    summary, *_ = _grade_batch_now(ensemble, AppSettings(), scans)
    assert "milder than their most likely grade" not in summary and "borderline" in summary
    monkeypatch.undo()
    _fixed(ensemble, monkeypatch, np.array([0.10, 0.29, 0.61]), 1)
    fixed = ensemble.grade_prepared_sentences

    calls: list[int] = []

    def first_unlike(*args: Any, **kwargs: Any) -> Any:  # the first image: unlike the training images
        probs, classes, unlike, sentences = fixed(*args, **kwargs)
        unlike = list(unlike)
        if not calls:
            unlike[0] = "Unlike the training images: far from them."
        calls.append(len(unlike))
        return probs, classes, unlike, sentences

    monkeypatch.setattr(ensemble, "grade_prepared_sentences", first_unlike)
    scans.append(str(ramp_scan(tmp_path / "2.png", 2)))
    summary, rows, *_ = _grade_batch_now(ensemble, AppSettings(), scans)
    assert [str(row[2]) for row in rows] == ["NPDR (not reliably gradable)", "NPDR", "NPDR"], rows
    assert "⚠ **2 of the 3 graded images are shown milder than their most likely grade**" in summary, summary


def test_the_details_flag_ties_as_no_lead(ensemble: Predictor, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """details says the probabilities' fact: the argmax, and no milder flag on a tie."""
    _fixed(ensemble, monkeypatch, np.array([0.449, 0.451, 0.10]), 0)
    *_, details = _grade_single_now(ensemble, AppSettings(gradcam=False), str(ramp_scan(tmp_path / "s.png")),
                                    None, "s.png")
    assert details["most_likely_grade"] == 1 and details["milder_than_most_likely"] is False
