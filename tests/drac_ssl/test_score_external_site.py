"""External validation with ``export --score`` (a trial: train on RetinaMNIST, grade 30
labelled APTOS images with the frozen bundle, score them): each finding here fails on the code
before its fix. No torch: a bundle folder here is its metadata.json and model card, the
submissions hand-written.

* F2: a Kaggle file (classes only) scored with RUN said "AUC of P(referable) 0.500" and an
  operating point "(P(referable) >= 0.000)" from one-hot stand-ins for its probabilities.
* F3: the operating points' cuts, chosen on the scored images themselves, were said to be "on
  oof.csv's cross-fitted probabilities, not the bundle's"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drac_ssl import scoring
from drac_ssl.export import main as export_main
from drac_ssl.submission import write_submission

NAMES = ["No DR", "Mild", "Moderate", "Severe", "PDR"]
TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 0, 2]
GIVEN = [0, 0, 1, 3, 1, 2, 3, 2, 3, 3, 3, 3, 3, 4, 0, 0]
CASES = [f"im{i:02d}.png" for i in range(len(TRUE))]


def _probs(given: list[int], k: int = 5) -> np.ndarray:
    """Probabilities whose most probable grade is ``given``, P(referable) rising with it."""
    probs = np.full((len(given), k), 0.1 / (k - 1))
    for i, g in enumerate(given):
        probs[i, g] = 0.9
    return probs / probs.sum(1, keepdims=True)


def _labels(tmp_path: Path, grades: list[int] = TRUE) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text("id_code,diagnosis\n" + "".join(f"{c[:-4]},{g}\n" for c, g in zip(CASES, grades, strict=True)))
    return path


def _bundle(folder: Path, calibration: dict | None = None, cut: int = 2) -> Path:
    folder.mkdir(parents=True)
    meta = {"class_names": NAMES, "variant": "vicreg", "created_utc": "2026-01-02T03:04:05+00:00",
            "cv_metrics": {"referable": {"from_grade": cut}}}
    if calibration is not None:
        meta["calibration"] = calibration
    (folder / "metadata.json").write_text(json.dumps(meta))
    (folder / "MODEL_CARD.md").write_text("card")
    return folder


# --------------------------------------------------------------------------------------
# F2: a Kaggle file has no probabilities: no AUC of P(referable), no operating points


def test_a_kaggle_file_gets_no_referable_auc_nor_operating_points(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = tmp_path / "kaggle.csv"
    sub.write_text("id_code,diagnosis\n" + "".join(f"{c[:-4]},{g}\n" for c, g in zip(CASES, GIVEN, strict=True)))
    bundle = _bundle(tmp_path / "bundle")
    out = tmp_path / "score.json"
    assert export_main([str(bundle), "--score", str(sub), "--labels", str(_labels(tmp_path)), "--grades", "5",
                        "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    (line,) = [x for x in printed.splitlines() if x.startswith("Referable DR")]
    assert "AUC of P(referable) n/a (a Kaggle submission gives no probabilities" in line, line
    assert "P(referable) >=" not in line and "ROC curve" not in line, line
    assert "sensitivity 0.875 (7/8;" in line  # at the submitted grades: 7 of the 8 grade >= 2 found
    referable = json.loads(out.read_text())["referable"]
    assert referable["auc"] is None and referable["auc_ci95"] == [None, None]
    assert referable["sensitivity_at_specificity_90"] is None and referable["specificity_at_sensitivity_90_cut"] is None
    # a submission with probabilities keeps them
    drac = tmp_path / "drac.csv"
    write_submission(drac, CASES, _probs(GIVEN), GIVEN, num_grades=5)
    record = scoring.score(drac, _labels(tmp_path), n_boot=50, grade_names=NAMES, run_given=True, referable_from=2)
    assert record["referable"]["auc"] > 0.5 and record["referable"]["sensitivity_at_specificity_90"] is not None


# --------------------------------------------------------------------------------------
# F3: the operating points of a score are chosen on the scored images, not on oof.csv


def test_the_operating_points_of_a_score_are_said_to_be_chosen_on_the_scored_images(tmp_path: Path) -> None:
    drac = tmp_path / "drac.csv"
    write_submission(drac, CASES, _probs(GIVEN), GIVEN, num_grades=5)
    record = scoring.score(drac, _labels(tmp_path), n_boot=50, grade_names=NAMES, run_given=True, referable_from=2)
    (line,) = [x for x in scoring.score_lines(record) if x.startswith("Referable DR")]
    assert "oof.csv" not in line, line
    assert ("(those cuts are chosen on these scored images themselves (in-sample): optimistic; not the "
            "bundle's cut") in line, line
    note = record["referable"]["operating_points_note"]
    assert "oof.csv" not in note and "chosen on these scored images themselves" in note
    # the fine-tuning's words are unchanged
    from drac_ssl.metrics import OPERATING_CUTS_SCALE, SCORED_CUTS_SCALE, referable_summary

    assert f"({OPERATING_CUTS_SCALE})" in referable_summary(record["referable"])
    assert f"({SCORED_CUTS_SCALE})" in referable_summary(record["referable"], cuts_scale=SCORED_CUTS_SCALE)
