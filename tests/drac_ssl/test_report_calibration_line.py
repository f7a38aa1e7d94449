"""report.md's out-of-fold calibration line: the Brier score and ECE with bootstrap CIs that
resample the units they name (patients when known), and the reference of a constant forecast
of the grade frequencies (not 1/K) that a skilful model must beat."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from drac_ssl.figures import figure_text, format_with_ci
from drac_ssl.metrics import brier_score
from drac_ssl.report import _calibration_measure_lines
from drac_ssl.scoring import calibration_measures

GRADES = [0] * 14 + [1] * 4 + [2] * 2  # imbalanced: the grade frequencies are far from 1/K


def _oof() -> SimpleNamespace:
    """An oof.csv's contents as report.py reads them: ids, grades and probs (n, 3)."""
    probs = np.random.default_rng(0).dirichlet([2.0, 1.0, 1.0], size=len(GRADES))
    return SimpleNamespace(ids=[f"img{i}" for i in range(len(GRADES))], grades=list(GRADES), probs=probs)


def test_the_reference_is_a_constant_forecast_of_the_grade_frequencies(tmp_path: Path) -> None:
    """Catches a reference of flat 1/K probabilities: it scores worse than the frequencies'
    forecast (0.667 against 0.46 here), so a model beating it would be read as skilful."""
    oof = _oof()
    [line, _] = _calibration_measure_lines(tmp_path, tmp_path, oof, {"n_boot": 50, "seed": 0}, 1.0)
    grades = np.asarray(GRADES)
    shares = np.bincount(grades, minlength=3) / len(grades)
    want = figure_text(brier_score(grades, np.tile(shares, (len(grades), 1))))
    flat = figure_text(brier_score(grades, np.full((len(grades), 3), 1 / 3)))
    assert want != flat
    assert f"grade frequencies, which has no skill, scores {want}: a model scoring no lower shows none" in line, line
    assert "near-flat" not in line
    [failed, _] = _calibration_measure_lines(tmp_path, tmp_path, oof, {"n_boot": 50, "seed": 0}, 100.0)
    assert "comes from near-flat probabilities, not from calibration" in failed


def test_the_cis_resample_the_patients_the_line_names(tmp_path: Path) -> None:
    """Catches CIs computed without the patient groups (each image resampled alone) while the
    line says "bootstrap of the patients": with oof.csv's patient column and no manifest, the
    Brier CI is the patients' bootstrap."""
    oof = _oof()
    patients = [f"p{i // 4}" for i in range(len(GRADES))]  # 4 images each: 5 patients
    rows = ["id,grade,pred,P0,P1,P2,patient"] + [
        f"{i},{g},0,{p[0]:.6f},{p[1]:.6f},{p[2]:.6f},{pt}"
        for i, g, p, pt in zip(oof.ids, GRADES, oof.probs, patients, strict=True)]
    (tmp_path / "oof.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    [line, _] = _calibration_measure_lines(tmp_path, tmp_path, oof, {"n_boot": 200, "seed": 0})
    grouped = calibration_measures(np.asarray(GRADES), oof.probs, n_boot=200, seed=0, groups=np.asarray(patients))
    alone = calibration_measures(np.asarray(GRADES), oof.probs, n_boot=200, seed=0, groups=None)
    want = format_with_ci(grouped["brier"], *grouped["brier_ci95"])
    assert want != format_with_ci(alone["brier"], *alone["brier_ci95"])
    assert "percentile bootstrap of the patients" in line and f"Brier score {want} " in line, line
