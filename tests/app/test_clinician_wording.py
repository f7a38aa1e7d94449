"""A clinician trial's findings on the page's words and files (F3-F8): one precision for people
(whole percentages that sum to 100, "<1%" / ">99%"), no percentages for an image not reliably
gradable, the ICDR grades in the scale's own wording, a notes CSV a clinician can read, plain
banner lines with the figures in a technical section, singular and plural counts."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from app_fixtures import ICDR, graded_scan

from app.batch_csv import ABOUT_ROW, notes_csv_columns, probability_columns, write_grades_for_people
from app.predict import borderline_words
from app.server import (
    PROBABILITY_CSS,
    TECHNICAL_SUMMARY,
    AppSettings,
    _banner,
    _grade_batch_now,
    _label_value,
    chance_plain_words,
    grade_heading,
    of_graded,
    probabilities_note,
    table_columns,
)
from drac_ssl.figures import percent_texts, rounded_probabilities, whole_percentages
from drac_ssl.grading.image_notes import UNLIKE_TRAINING, decision_words
from drac_ssl.scale import GRADE_MEANINGS, ICDR_CLINICAL_NAMES, grade_names_for_people


@pytest.mark.parametrize("probs", [[0.034, 0.367, 0.599], [0.203, 0.198, 0.197, 0.201, 0.201],
                                   [0.996, 0.002, 0.002], [0.333, 0.334, 0.333], [0.0049, 0.0051, 0.99]])
def test_whole_percentages_sum_to_100(probs: list[float]) -> None:
    assert sum(whole_percentages(probs)) == 100
    assert sum(rounded_probabilities(probs, 1000)) == 1000
    # equal values the rounding would split are shown alike instead: 1/3 each is 33 three times
    assert whole_percentages([1 / 3] * 3) == [33] * 3 and rounded_probabilities([1 / 3] * 3, 1000) == [333] * 3


def test_the_trials_figures_are_said_once_and_at_the_ends_as_less_and_more() -> None:
    assert whole_percentages([0.034, 0.367, 0.599]) == [3, 37, 60]  # not 3 + 37 + 61 = 101
    assert percent_texts([0.996, 0.002, 0.002]) == [">99%", "<1%", "<1%"]
    with pytest.raises(ValueError, match="finite and >= 0"):
        whole_percentages([0.5, float("nan")])


def test_a_five_grade_tie_is_said_once_in_percentages() -> None:
    """0.203 / 0.198 / 0.197 / 0.201 / 0.201 beside "equally likely (P 0.20 each)": now 20% each,
    and the decision line leaves the tie to the borderline line above it."""
    probs = [0.203, 0.198, 0.197, 0.201, 0.201]
    names = list(ICDR_CLINICAL_NAMES)
    border = borderline_words(probs, names)
    assert border is not None and border.endswith("apart on this image (20% each).")
    alone = decision_words(probs, 2, names, "thresholds")
    assert alone.startswith("0 No apparent DR, 1 Mild NPDR, 2 Moderate NPDR, 3 Severe NPDR and 4 PDR are "
                            "equally likely (20% each); "), alone
    once = decision_words(probs, 2, names, "thresholds", likely_said=True)
    assert once == ("The model's overall score, which weighs all grades, falls in the 2 Moderate NPDR "
                    "range, the grade shown."), once
    assert decision_words([0.1, 0.54, 0.36], 2, ["Normal", "NPDR", "PDR"], "thresholds").startswith(
        "The single most likely grade is 1 NPDR (54%); ")


def test_icdr_names_in_full_for_people_and_the_421_rule() -> None:
    assert grade_names_for_people(ICDR) == ("No apparent DR", "Mild NPDR", "Moderate NPDR", "Severe NPDR", "PDR")
    assert grade_names_for_people(["no dr", "mild", "moderate", "severe", "Proliferative"]) == ICDR_CLINICAL_NAMES
    assert grade_names_for_people(["Normal", "NPDR", "PDR"]) == ("Normal", "NPDR", "PDR")
    severe = GRADE_MEANINGS[tuple(ICDR)][3]
    assert "more than 20 intraretinal haemorrhages in each of 4 quadrants" in severe
    assert "venous beading in 2 or more quadrants" in severe and "(IRMA) in 1 or more quadrant" in severe
    assert "no signs of proliferative DR" in severe


def test_a_not_reliably_gradable_heading_and_widget_show_no_probability() -> None:
    pred = SimpleNamespace(grade=2, grade_name="PDR", probs=np.array([0.0, 0.001, 0.999]),
                           class_names=["Normal", "NPDR", "PDR"], not_reliably_gradable=["a texture"])
    heading = grade_heading(pred, [UNLIKE_TRAINING], False)
    assert heading.endswith("— model output: Grade 2 PDR") and "(P" not in heading, heading
    assert _label_value(pred, pred.class_names) is None
    pred.not_reliably_gradable = []
    value = _label_value(pred, pred.class_names)
    assert value is not None and value["graded"] == "2 PDR: >99%"
    assert list(value["probabilities"]) == ["0 Normal: <1%", "1 NPDR: <1%", "2 PDR: >99%"]
    assert sum(value["probabilities"].values()) == pytest.approx(1.0)
    assert "dd.confidence" in PROBABILITY_CSS and "display: none" in PROBABILITY_CSS


def test_counts_agree_with_their_verbs() -> None:
    assert of_graded(1, 3) == "1 of the 3 graded images is"
    assert of_graded(2, 3) == "2 of the 3 graded images are"
    assert of_graded(1, 1) == "the 1 graded image is"


def test_the_notes_csv_is_written_for_people(tmp_path: Path) -> None:
    names = list(ICDR_CLINICAL_NAMES)
    assert probability_columns(names) == ["P_No_apparent_DR", "P_Mild_NPDR", "P_Moderate_NPDR",
                                          "P_Severe_NPDR", "P_PDR"]
    assert probability_columns(["a b", "a-b"]) == ["P0_a_b", "P1_a_b"]  # two names, one column: numbered
    probs = np.array([[0.1, 0.2, 0.3, 0.2, 0.2], [0.001, 0.001, 0.001, 0.001, 0.996]])
    path = write_grades_for_people(
        tmp_path / "grades_with_notes.csv",
        [("a.png", 0, "Borderline ..."), ("gone.png", None, "NOT GRADED: blank"), ("brick.png", 1, "")],
        probs, np.array([3, 4]), names, unreliable=[[], [], ["unlike the training images"]],
        trained=[False, False, None], about="Trained on phantom images: these grades say nothing.")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfcase,grade,")  # review intl F4: Excel's UTF-8
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == notes_csv_columns(names)
    assert "class" not in rows[0] and "P0" not in rows[0]
    about, a, gone, brick = rows
    assert about["case"] == ABOUT_ROW and about["notes"].startswith("Trained on phantom images")
    assert (a["grade"], a["grade_name"], a["most_likely_grade"]) == ("3", "Severe NPDR", "2 Moderate NPDR")
    assert [a[c] for c in probability_columns(names)] == ["0.100", "0.200", "0.300", "0.200", "0.200"]
    # "no" as its neighbours say it (a review: the blank read as missing beside two "no"s)
    assert (a["not_reliably_gradable"], a["model_output_only"], a["training_image"]) == ("no", "no", "no")
    assert a["notes"] == "Borderline ..."  # the caveat is in the first row only
    assert gone["grade"] == "" and gone["notes"] == "NOT GRADED: blank"
    assert (brick["grade"], brick["grade_name"], brick["most_likely_grade"]) == ("", "", "")
    assert brick["model_output_only"] == "4 PDR" and brick["training_image"] == "unknown"
    # no percentage of an image not reliably gradable, as on the page (its values: the grades CSV)
    assert [brick[c] for c in probability_columns(names)] == [""] * len(names)


def test_a_batch_writes_the_caveat_once_and_no_timing_column(predictor: Any, tmp_path: Path) -> None:
    scans = [graded_scan(tmp_path / "a.png"), graded_scan(tmp_path / "b.png")]
    summary, rows, _, notes_path = _grade_batch_now(predictor, AppSettings(), [str(p) for p in scans])
    columns = table_columns(predictor.grade_names)
    assert "mean s/image" not in columns and all(len(r) == len(columns) for r in rows)
    with open(notes_path, newline="", encoding="utf-8-sig") as fh:
        written = list(csv.DictReader(fh))
    caveat = "Untrained demo model"
    assert written[0]["case"] == ABOUT_ROW and caveat in written[0]["notes"]
    assert not any(caveat in r["notes"] for r in written[1:])
    assert "**2 images graded**" in summary and "image(s)" not in summary


def test_a_batchs_notes_csv_names_the_model_that_graded_in_its_first_row(predictor: Any, tmp_path: Path) -> None:
    # an auditor's finding: neither batch CSV said which model graded (the grades CSV keeps
    # DRAC's columns; the notes CSV's first row held only the caveat)
    scans = [graded_scan(tmp_path / "a.png"), graded_scan(tmp_path / "b.png")]
    _, _, _, notes_path = _grade_batch_now(predictor, AppSettings(), [str(p) for p in scans])
    with open(notes_path, newline="", encoding="utf-8-sig") as fh:
        about = next(csv.DictReader(fh))
    identity = predictor.bundle.identity
    assert about["case"] == ABOUT_ROW
    for key in ("metadata_sha256", "variant", "created_utc"):
        assert f"{key}={identity[key]}" in about["notes"]
    assert "2 images." in about["notes"] and f"drac_ssl {predictor.metadata['package_version']}" in about["notes"]


def test_the_banner_says_chance_and_trial_plainly_with_the_figures_folded(predictor: Any) -> None:
    meta = json.loads(json.dumps(predictor.metadata))
    meta.pop("demo", None)
    meta["cv_metrics"] = {"qwk": 0.0, "qwk_ci95": [-0.2, 0.2], "n": 30, "auc_ovr": 0.547,
                          "auc_ovr_ci95": [0.45, 0.64]}
    meta["trial_run"] = {"trial": True, "why": "pretrain.epochs=1 set by --first-try on the command line"}
    fake = SimpleNamespace(**{k: getattr(predictor, k) for k in ("bundle", "path", "describe")},
                           metadata=meta, calibration_warning=None, untrained=False, bundle_notes=[])
    from drac_ssl.figures import chance_words
    from drac_ssl.trial_run import trial_run_words

    fake.chance_warning = chance_words(meta["cv_metrics"])
    fake.trial_run = trial_run_words(meta["trial_run"])
    assert chance_plain_words(fake) == ("Not shown to grade better than guessing: do not read its grades "
                                        "or percentages as a grading.")
    banner = _banner(fake)
    plain, technical = banner.split(f"<summary>{TECHNICAL_SUMMARY}</summary>")
    assert "Not shown to grade better than guessing" in plain and "Research build, shortened training" in plain
    for jargon in ("QWK", "one-vs-rest", "pretrain.epochs", "--first-try"):
        assert jargon not in plain and jargon in technical, jargon
    assert banner.count("<details") == 1 and technical.endswith("</details>")


def test_the_page_says_what_the_percentages_are_calibrated_on(predictor: Any) -> None:
    assert "untrained demo" in probabilities_note(predictor) and "mean nothing" in probabilities_note(predictor)
    phantom = SimpleNamespace(untrained=False, trained_on_phantoms=True, training_images_words="x",
                              calibration_warning=None)
    assert "calibrated on phantom images" in probabilities_note(phantom) and "not on patients" in probabilities_note(phantom)


def test_the_line_under_the_widget_never_calls_percentages_calibrated_when_calibration_failed() -> None:
    # an auditor's finding: "calibrated on its own training images" beside "Probabilities not calibrated"
    failed = SimpleNamespace(untrained=False, trained_on_phantoms=False, training_images_words="30 APTOS images",
                             calibration_warning="Probabilities not calibrated: ...")
    note = probabilities_note(failed)
    assert "NOT calibrated" in note and "calibrated on" not in note, note
    ok = SimpleNamespace(**{**vars(failed), "calibration_warning": None})
    assert "calibrated on its own training images" in probabilities_note(ok)
