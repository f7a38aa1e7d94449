"""Stats audit F2: percentile bootstrap 95% CIs under-cover at tens of images (QWK and AUC OvO
in bench/bootstrap_coverage.py's simulation: drac_ssl.scoring.SMALL_SAMPLE_COVERAGE); ``export --score`` says so
under its CIs when the bootstrap has few units."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from drac_ssl import scoring
from drac_ssl.submission import write_submission

NAMES = ("Normal", "NPDR", "PDR")


def test_the_note_names_the_units_and_the_rarest_grade() -> None:
    """Catches no note at 40 images, a note at 300 images with every grade common, and a rare
    grade counted in images where the bootstrap resamples patients."""
    y = np.array([0] * 20 + [1] * 15 + [2] * 5)
    note = scoring.small_sample_note(y, None, NAMES)
    assert note is not None and "40 images; the rarest grade, 2 (PDR), 5" in note
    assert "less often than 95%" in note and "Small n" in note
    assert scoring.small_sample_note(np.repeat([0, 1, 2], 100), None, NAMES) is None
    # 300 images but PDR in 8: still said
    assert "the rarest grade, 2 (PDR), 8" in scoring.small_sample_note(
        np.array([0] * 200 + [1] * 92 + [2] * 8), None, NAMES)
    # 120 images of 60 patients: the patients are the units
    patients = np.repeat(np.arange(60), 2)
    grades = np.repeat(np.array([0] * 30 + [1] * 20 + [2] * 10), 2)
    assert "60 patients; the rarest grade, 2 (PDR), 10" in scoring.small_sample_note(grades, patients, NAMES)


def test_score_prints_the_note_under_its_cis(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    truth = [0] * 20 + [1] * 12 + [2] * 8
    cases = [f"im{i:02d}.png" for i in range(len(truth))]
    probs = rng.dirichlet([1.0, 1.0, 1.0], size=len(truth))
    sub = tmp_path / "sub.csv"
    write_submission(sub, cases, probs, probs.argmax(axis=1), num_grades=3)
    labels = tmp_path / "labels.csv"
    labels.write_text("image name,DR grade\n" + "".join(f"im{i:02d},{g}\n" for i, g in enumerate(truth)))
    record = scoring.score(sub, labels, n_boot=20)
    lines = scoring.score_lines(record)
    (note,) = [x for x in lines if x.startswith("Note: Few units for the bootstrap")]
    assert "(40 images; the rarest grade, 2 (PDR), 8)" in note, note
    assert lines.index(note) > next(i for i, x in enumerate(lines) if "bootstrap resamples of the" in x)
