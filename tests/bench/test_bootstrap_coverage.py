"""bench/bootstrap_coverage.py: the simulation behind docs/evaluation.md's coverage figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import bootstrap_coverage

REPO = Path(__file__).resolve().parents[2]


def test_a_short_run_writes_the_coverages_with_their_provenance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.common

    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    monkeypatch.setattr(bootstrap_coverage, "TRUTH_IMAGES", 20_000)
    assert bootstrap_coverage.main(["--sizes", "40", "--reps", "8", "--n-boot", "50"]) == 0
    record = json.loads((tmp_path / "bootstrap_coverage.json").read_text())
    (size,) = record["sizes"]
    assert size["n"] == 40 and size["reps"] == 8 and 0 <= size["qwk_coverage"] <= 1
    assert 0.6 < record["true_qwk"] < 0.9 and 0.8 < record["true_auc_ovo"] < 1  # the audit's model
    assert record["command"] and record["n_boot"] == 50


def test_the_simulated_model_has_drac_s_grade_shares() -> None:
    grades, probs, pred = bootstrap_coverage.draw(20_000, np.random.default_rng(0))
    assert np.bincount(grades, minlength=3) / 20_000 == pytest.approx(bootstrap_coverage.SHARES, abs=0.01)
    assert probs.shape == (20_000, 3) and set(pred.tolist()) == {0, 1, 2}


def test_the_docs_cite_the_committed_figures() -> None:
    """Catches docs/evaluation.md's "Small n" coverage figures drifting from the committed run."""
    record = json.loads((REPO / "bench" / "results" / "bootstrap_coverage.json").read_text())
    small = next(s for s in record["sizes"] if s["n"] == 40)
    text = " ".join((REPO / "docs" / "evaluation.md").read_text(encoding="utf-8").split())
    assert "bench/results/bootstrap_coverage.json" in text
    assert f"QWK {100 * small['qwk_coverage']:.0f} %" in text, small
    assert f"AUC OvO {100 * small['auc_ovo_coverage']:.0f} %" in text, small
