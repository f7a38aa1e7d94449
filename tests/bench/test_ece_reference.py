"""bench/ece_reference.py: the simulation behind the ECE figures docs/evaluation.md,
docs/upgrading.md and drac_ssl/metrics.py cite (they cited a stats audit's hand simulation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import ece_reference

REPO = Path(__file__).resolve().parents[2]


def test_a_short_run_writes_the_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    written = {}  # bench.common.write_result's provenance (~2 s) is tested in test_common.py
    monkeypatch.setattr(ece_reference, "write_result", lambda name, figures: written.update({name: figures}))
    monkeypatch.setattr(ece_reference, "SEED_SPREAD_SEEDS", 2)
    assert ece_reference.main(["--sizes", "60", "--reps", "2", "--n-boot", "20"]) == 0
    (size,) = written["ece_reference"]["sizes"]
    assert size["n"] == 60 and size["reps"] == 2 and 0 < size["ece_mean"] < 0.3
    assert 0 <= size["old_ci_held_0"] <= 2 and size["reference_p95_mean"] > size["reference_mean"] > 0


def test_the_simulated_grades_follow_their_probabilities() -> None:
    """Perfectly calibrated: each grade's share is its mean probability."""
    grades, probs = ece_reference.calibrated(40_000, np.random.default_rng(0))
    assert np.bincount(grades, minlength=3) / grades.size == pytest.approx(probs.mean(axis=0), abs=0.01)


def _text(path: str) -> str:
    return " ".join((REPO / path).read_text(encoding="utf-8").split())


def test_the_documents_cite_the_committed_figures() -> None:
    sizes = {s["n"]: s for s in json.loads((REPO / "bench/results/ece_reference.json").read_text())["sizes"]}
    small, large = sizes[60], sizes[611]
    evaluation = _text("docs/evaluation.md")
    assert (f"an ECE of {large['ece_mean']:.3f} on 611 images and {small['ece_mean']:.3f} on 60, on average over "
            f"{large['reps']} sets each, and none of the {small['reps'] + large['reps']} CIs held 0") in evaluation
    assert small["old_ci_held_0"] == large["old_ci_held_0"] == 0
    assert (f"passed it in {small['above_reference_p95']} and {large['above_reference_p95']} of "
            f"{large['reps']} sets, at 60 and 611 images") in evaluation
    assert f"0 of {large['reps']} at 611 images, 0 of {small['reps']} at 60" in _text("docs/upgrading.md")
    metrics = _text("drac_ssl/metrics.py")
    assert (f"standard deviation of {large['reference_p95_seed_sd']} at n = 611, "
            f"{small['reference_p95_seed_sd']} at n = 60") in metrics
    assert f"{small['ece_mean']:.3f} at n = 60, {large['ece_mean']:.3f} at n = 611" in metrics
    assert "stats audit" not in evaluation.split("**Calibration and per grade.**")[1][:1500]
