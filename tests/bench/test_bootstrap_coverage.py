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


def _committed_sizes() -> dict[int, dict]:
    record = json.loads((REPO / "bench" / "results" / "bootstrap_coverage.json").read_text())
    return {size["n"]: size for size in record["sizes"]}


def _span(size: dict, percent: str) -> str:
    """The size's QWK and AUC OvO coverages as the texts give them: ``86-92%``, or ``94%`` when
    both round the same (``percent``: ``"%"`` or the docs' ``" %"``)."""
    low, high = sorted(round(100 * size[key]) for key in ("qwk_coverage", "auc_ovo_coverage"))
    return f"{low}{percent}" if low == high else f"{low}-{high}{percent}"


def test_the_docs_cite_the_committed_figures() -> None:
    """Catches docs/evaluation.md's "Small n" coverage figures (40, 100 and 611 images) drifting
    from the committed run."""
    sizes = _committed_sizes()
    text = " ".join((REPO / "docs" / "evaluation.md").read_text(encoding="utf-8").split())
    assert "bench/results/bootstrap_coverage.json" in text
    small = sizes[40]
    assert f"{_span(small, ' %')} of the time at 40 images" in text, small
    assert f"QWK {100 * small['qwk_coverage']:.0f} %" in text, small
    assert f"AUC OvO {100 * small['auc_ovo_coverage']:.0f} %" in text, small
    assert f"{_span(sizes[100], ' %')} at 100 and {_span(sizes[611], ' %')} at 611" in text, (sizes[100], sizes[611])


def test_export_score_s_note_cites_the_committed_figures() -> None:
    """Review of the stats branch, F3: the note ``export --score`` prints under its CIs had the
    40-image figures typed twice in drac_ssl/scoring.py, held to the committed run by nothing.
    Catches its figures (:data:`drac_ssl.scoring.SMALL_SAMPLE_COVERAGE`) drifting from it."""
    from drac_ssl import scoring

    expected = f"{_span(_committed_sizes()[40], '%')} at 40 images"
    assert scoring.SMALL_SAMPLE_COVERAGE == expected
    note = scoring.small_sample_note(np.array([0] * 20 + [1] * 15 + [2] * 5), None, ["No DR", "NPDR", "PDR"])
    assert note is not None and f"about {expected} in a simulation" in note, note
