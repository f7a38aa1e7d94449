"""The one-grade words say which grades they describe (user trial F5).

The tiny run's console said on each fold line ``every image was given one grade (2
Moderate)`` (the fold model's validation grades, before calibration), then after the last fold
``within each fold every image was given one grade (fold 0: 3 Severe, fold 1: 0 No DR)`` (the
out-of-fold grades, after the cross-fitted calibration): read as a contradiction. Each now
says which: the fold line "(uncalibrated: ...)", the variant's warning, report.md and compare
"after the cross-fitted calibration". A review: the fold line said it twice ("uncalibrated;
before calibration, ..."), and the out-of-fold QWK's CI note still said the bare words.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from test_compare import make_run

from drac_ssl import finetune
from drac_ssl.compare import compare_runs
from drac_ssl.metrics import AFTER_CALIBRATION, calibrated_one_grade_words, degenerate_ci_reason
from drac_ssl.report import write_report

FOLD_LINE_WORDS = "every image was given one grade (2 Moderate)"
VARIANT_WORDS = ("within each fold every image was given one grade (fold 0: 3 Severe, fold 1: 0 No DR): the "
                 "grades say which fold an image fell in, not what it shows")


@pytest.mark.parametrize("keep", ["last", "best", "inner"])
def test_the_fold_line_says_its_one_grade_is_uncalibrated_once(keep: str) -> None:
    ctx = SimpleNamespace(ft=SimpleNamespace(keep=keep, epochs=2), num_grades=5, qwk_explained=True,
                          one_grade_explained=True, stop_explained=True)
    history = [{"val_qwk": 0.0, "inner_qwk": 0.0}] * 2
    line = finetune._fold_line(ctx, "vicreg fold 0 (1/2)", history, 1, "stopped", FOLD_LINE_WORDS, 0.0)
    assert line.endswith(f"(uncalibrated: {FOLD_LINE_WORDS})"), line
    assert finetune._fold_line(ctx, "vicreg fold 0 (1/2)", history, 1, "stopped", None, 0.0).endswith(
        "(uncalibrated)")


def test_the_variant_warning_says_its_one_grade_is_after_the_cross_fitted_calibration(
        capsys: pytest.CaptureFixture[str]) -> None:
    ctx = SimpleNamespace(patients=None, num_grades=5, grades=list(range(5)))  # every grade labelled
    metrics = {"decision": "thresholds", "class_names": ["No DR", "Mild", "Moderate", "Severe", "PDR"],
               "referable": None, "one_grade_note": VARIANT_WORDS, "qwk": 0.0, "qwk_ci95": [0.0, 0.0],
               "qwk_ci95_note": None, "auc": 0.5, "auc_ovr": 0.5, "accuracy": 0.2, "folds": [],
               "decision_rules": {"argmax": {"qwk": 0.0, "accuracy": 0.2}}}
    finetune._say_variant(ctx, "vicreg", metrics)
    warning = capsys.readouterr().out.splitlines()[-1]
    assert warning == (f"[finetune] vicreg: warning: {AFTER_CALIBRATION}, {VARIANT_WORDS}; this variant "
                       f"learnt next to nothing about grading"), warning


def test_report_and_compare_say_the_out_of_fold_one_grade_is_after_the_calibration(tmp_path: Path) -> None:
    run = make_run(tmp_path, "tiny", by_fold=("vicreg",))
    words = ("within each fold every image was given one grade (fold 0: 0 Normal, fold 1: 2 PDR): the grades "
             "say which fold an image fell in, not what it shows")
    report = write_report(run).read_text(encoding="utf-8")
    assert f"> **After the cross-fitted calibration, {words}**: this variant learnt next to nothing" in report
    head = report.split("## Read this first", 1)[1].split("\n## ", 1)[0]
    assert "- After the cross-fitted calibration, within each fold every image was given one grade" in head, head
    notes = compare_runs([run], n_boot=20).notes
    assert f"`tiny` vicreg: {AFTER_CALIBRATION}, {words}; this variant learnt next to nothing about grading." in notes
    # a note that says it already is not said twice
    assert calibrated_one_grade_words(f"{AFTER_CALIBRATION}, {words}") == f"{AFTER_CALIBRATION}, {words}"


def test_the_out_of_fold_ci_note_says_its_one_grade_is_after_the_calibration() -> None:
    """The out-of-fold QWK's interval of width 0 (finetune's metrics, report.md, compare): its
    reason says which grades, as the variant's warning; a scored submission's says none."""
    y, pred = [0, 1, 2, 0, 1, 2], [1] * 6
    names = ["Normal", "NPDR", "PDR"]
    assert degenerate_ci_reason(0.0, 0.0, y, pred, names, out_of_fold=True) == (
        f"{AFTER_CALIBRATION}, every image was given one grade (1 NPDR), so every resample gives 0.000")
    assert degenerate_ci_reason(0.0, 0.0, y, pred, names) == (
        "every image was given one grade (1 NPDR), so every resample gives 0.000")
