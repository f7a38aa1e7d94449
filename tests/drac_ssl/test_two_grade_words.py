"""What a two-grade (referable-DR) run says of its figures and its class rule (a Messidor-2
trial, F4-F6).

With two grades the one-vs-one and one-vs-rest AUCs are one number, the ROC AUC of P1 =
P(referable), and the quadratic weighted kappa is Cohen's kappa; report.md's tables, the
comparison figure, the model card and the chance warnings (console, export, app) showed the
same AUC two or three times under three names and called the kappa "QWK". And the export's
class line said "for 6 of the 6 here it is [the largest P]" beside P0 0.500427 > P1 0.499573,
class 1. Runs of three or more grades keep their words."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from drac_ssl.figures import AUC_TWO_GRADES, KAPPA_TWO_GRADES, chance_words

TWO = ["non-referable", "referable"]
DRAC = ["Normal", "NPDR", "PDR"]
TRIAL_PROBS = np.array([[0.500427, 0.499573], [0.500434, 0.499566], [0.500420, 0.499580],
                        [0.500475, 0.499525], [0.500429, 0.499571], [0.500407, 0.499593]])


def _bundle(names: list[str], thresholds: list[float], output: str = "classification") -> SimpleNamespace:
    return SimpleNamespace(grade_names=tuple(names), metadata={"model": {"output": output}},
                           calibration=SimpleNamespace(decision="thresholds", thresholds=thresholds,
                                                       referral_decides=False, referral=None))


def test_the_two_grade_class_rule_says_p1_against_its_threshold_never_the_largest_p() -> None:
    from drac_ssl import export
    from drac_ssl.submission import grade_note_counts, smaller_class_rows

    classes = np.ones(6, dtype=np.int64)
    assert smaller_class_rows(TRIAL_PROBS, classes) == 6
    # the trial's notes: every row has one (P1 against the threshold), all 50% each at whole percentages
    n_off, n_tie, n_equal = grade_note_counts(["P(referable) is at or above ..."] * 6, TRIAL_PROBS, classes)
    said = export.class_rule_said(_bundle(TWO, [0.499151]), n_off, 6, "why in the grade_note column of N.csv",
                                  n_tie, smaller_class_rows(TRIAL_PROBS, classes), n_equal_shown=n_equal)
    assert said.startswith("1 when P1 >= 0.499151, the threshold fitted on the out-of-fold outputs (with two "
                           "grades the expected grade is P1), else 0, so not always the larger P"), said
    assert "(for 6 of the 6 here it is the smaller: why in the grade_note column of N.csv)" in said, said
    assert "here it is, but" not in said and said.endswith("(finetune.decision=thresholds)"), said
    # a row whose class is the larger P but ties at 50% each: a near-tie, said so
    mixed = np.array([[0.500427, 0.499573], [0.4990, 0.5010]])
    said = export.class_rule_said(_bundle(TWO, [0.499]), 0, 2, "", 2, smaller_class_rows(mixed, np.ones(2, int)))
    assert ("(for 1 of the 2 here it is the smaller, and for 1 more it is the larger, but P0 and P1 tie at the "
            "whole percentages shown)") in said, said
    # three grades, a regression head: the words of before
    three = export.class_rule_said(_bundle(DRAC, [0.5, 1.5]), 1, 3, "", 0)
    assert three == ("the expected grade cut at QWK-tuned thresholds, so not always the largest P (for 1 of the 3 "
                     "here it is not) (finetune.decision=thresholds)"), three
    assert export.class_rule_said(_bundle(TWO, [0.4], "regression"), 0, 3).startswith("the expected grade cut")


def test_the_chance_warning_of_two_grades_names_cohens_kappa_and_one_auc() -> None:
    figures = {"qwk": 0.068, "qwk_ci95": [-0.385, 0.505], "auc": 0.473, "auc_ovr": 0.473,
               "auc_ovr_ci95": [0.206, 0.788]}
    two = chance_words({**figures, "class_names": TWO})
    assert f"out-of-fold {KAPPA_TWO_GRADES} 0.068, 95% CI -0.385..0.505 reaches 0" in two, two
    assert f"{AUC_TWO_GRADES} 0.473 (0.5 = chance)" in two and "macro AUC" not in two, two
    # a bundle's cv_metrics stores no class names: its two-grade screening figures tell it
    assert chance_words({**figures, "sensitivity": 0.57, "specificity": 0.5}) == two
    assert "Cohen's kappa" in chance_words({**figures, "num_grades": 2}, qwk_words="QWK")
    three = chance_words({**figures, "class_names": DRAC})
    assert "out-of-fold QWK 0.068" in three and "macro AUC one-vs-rest 0.473" in three, three
    better = chance_words({**figures, "class_names": TWO, "auc_ovr_ci95": [0.6, 0.9]})
    assert f"({AUC_TWO_GRADES} 0.473, 95% CI 0.600..0.900, above 0.5)" in better, better


def _comparison(tmp_path: Path, names: list[str]) -> str:
    from drac_ssl.report import _finetune_section

    row = {"variant": "scratch", "n": 10, "qwk": 0.5, "qwk_ci_low": 0.1, "qwk_ci_high": 0.8, "auc": 0.7,
           "auc_ovr": 0.7 if len(names) == 2 else 0.72, "accuracy": 0.6, "macro_f1": 0.5,
           "qwk_fold_mean": 0.5, "qwk_fold_std": 0.1, "seconds": 1.0}
    if len(names) == 2:
        row.update(referable_auc=0.7, referable_auc_ci_low=0.55, referable_auc_ci_high=0.85)
    (tmp_path / "finetune").mkdir()
    (tmp_path / "finetune" / "comparison.json").write_text(json.dumps(
        {"rows": [row], "class_names": names, "protocol": "2-fold"}))
    return "\n".join(_finetune_section(tmp_path, tmp_path / "report"))


def test_the_reports_variant_table_has_one_auc_and_cohens_kappa_with_two_grades(tmp_path: Path) -> None:
    text = _comparison(tmp_path, TWO)
    header = next(line for line in text.splitlines() if line.startswith("| variant |"))
    assert header == (f"| variant | {KAPPA_TWO_GRADES} | 95% CI | {AUC_TWO_GRADES} (95% CI) | accuracy | macro F1 "
                      "| fold kappa mean ± SD | seconds |"), header
    row = next(line for line in text.splitlines() if line.startswith("| scratch"))
    assert "| 0.700 (0.550..0.850) |" in row and row.count("0.700") == 1, row
    assert "AUC (OvO)" not in text and "AUC (OvR)" not in text and "referable AUC" not in text
    assert "The kappa is Cohen's: with two grades the quadratic weighted kappa (QWK) equals it." in text
    assert "Grouped bar chart of Cohen's kappa (K=2: QWK equals it; with its 95% CI), the AUC of P(referable)" in text
    assert f"*Figure: Out-of-fold metrics of each variant side by side, {KAPPA_TWO_GRADES} with its 95% CI" in text


def test_three_grades_keep_their_table(tmp_path: Path) -> None:
    text = _comparison(tmp_path, DRAC)
    assert ("| variant | QWK | 95% CI | AUC (OvO) | AUC (OvR) | accuracy | macro F1 | fold QWK mean ± SD "
            "| seconds |") in text
    assert "Cohen's kappa" not in text and AUC_TWO_GRADES not in text


def test_the_model_card_of_two_grades_says_one_auc_and_cohens_kappa(tmp_path: Path) -> None:
    from app.demo_bundle import build_demo_bundle
    from drac_ssl.grading.bundle import _model_card

    def card(names: tuple[str, ...]) -> str:
        bundle = build_demo_bundle(tmp_path / "-".join(names), image_size=32, source_size=48, n_folds=2,
                                   grade_names=names)
        meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
        meta.pop("demo")
        meta["cv_metrics"].update(qwk=0.4, qwk_ci95=[0.1, 0.6], auc=0.81, auc_ovr=0.81 if len(names) == 2 else 0.8,
                                  folds=[{"fold": 0, "n_val": 5, "qwk": 0.3, "auc": 0.7, "auc_ovr": 0.7,
                                          "accuracy": 0.6}])
        meta["cv_metrics"]["decision_rules"] = {"thresholds": {"qwk": 0.4, "accuracy": 0.7},
                                                "argmax": {"qwk": 0.35, "accuracy": 0.65}}
        if len(names) == 2:
            meta["cv_metrics"]["referable"] = {"from_grade": 1, "auc": 0.81, "auc_ci95": [0.7, 0.9]}
        meta["comparison"] = [{"variant": "vicreg", "qwk": 0.4, "qwk_ci_low": 0.1, "qwk_ci_high": 0.6,
                               "auc": 0.81, "auc_ovr": 0.81, "accuracy": 0.7, "macro_f1": 0.6}]
        return _model_card({**meta, "trial_run": {"trial": False}, "variant": "vicreg"})

    two = card(tuple(TWO))
    assert ("Cohen's kappa (with two grades the quadratic weighted kappa equals it) 0.400 (bootstrap 95% CI "
            "0.100..0.600),\nAUC of P(referable) = P1 0.810 (95% CI 0.700..0.900)") in two, two
    assert "macro one-vs-one AUC" not in two and "AUC (OvO)" not in two, two
    assert "| fold | n | Cohen's kappa | AUC of P(referable) | accuracy |\n|---|---|---|---|---|\n| 0 | 5 | 0.300 | " \
           "0.700 | 0.600 |" in two, two
    assert f"| variant | {KAPPA_TWO_GRADES} (95% CI) | {AUC_TWO_GRADES} | accuracy | macro F1 |" in two
    assert "| 0.400 (0.100..0.600) | 0.810 | 0.700 | 0.600 |" in two
    # review F4: the rules' line names the kappa, and the AUC is given once (the headline's)
    assert "thresholds: Cohen's kappa 0.400, accuracy 0.700; argmax: Cohen's kappa 0.350" in two, two
    assert "QWK 0." not in two and two.count("AUC of P(referable) = P1") == 1, two
    three = card(tuple(DRAC))
    assert "thresholds: QWK 0.400, accuracy 0.700; argmax: QWK 0.350" in three, three
    assert "macro one-vs-one AUC 0.810, macro one-vs-rest AUC 0.800" in three
    assert "| fold | n | QWK | AUC (OvO) | AUC (OvR) | accuracy |" in three and "Cohen's kappa (with" not in three


@pytest.mark.parametrize("names", [TWO, DRAC])
def test_the_runs_result_line_names_the_kappa_and_one_auc(tmp_path: Path, names: list[str]) -> None:
    """The console's ``result:`` line said "out-of-fold QWK ..., macro AUC 0.810 (one-vs-one; ...)"
    of a two-grade run; the ranking it names is unchanged (the kappa, then the AUC)."""
    from drac_ssl.train import result_line

    (tmp_path / "finetune" / "vicreg").mkdir(parents=True)
    (tmp_path / "finetune" / "summary.json").write_text(json.dumps({"selected": "vicreg", "decision": "thresholds"}))
    (tmp_path / "finetune" / "vicreg" / "metrics.json").write_text(json.dumps(
        {"class_names": names, "qwk": 0.4, "qwk_ci95": [0.1, 0.6], "auc": 0.81, "auc_ovo_ci95": [0.7, 0.9],
         "n": 20, "decision": "thresholds"}))
    line = result_line(tmp_path)
    if len(names) == 2:
        assert (f"out-of-fold {KAPPA_TWO_GRADES} 0.400 (95% CI 0.100..0.600), {AUC_TWO_GRADES} 0.810 (95% CI "
                "0.700..0.900), 20 images") in line, line
        assert "macro AUC" not in line and "one-vs-one" not in line
    else:
        assert "out-of-fold QWK 0.400 (95% CI 0.100..0.600), macro AUC 0.810 (one-vs-one" in line, line


def test_the_consoles_per_fold_line_names_the_kappa_with_two_grades() -> None:
    """Review F4: "per-fold QWK" and "val QWK" on a two-grade run's console."""
    from drac_ssl.finetune import calibrated_folds_words

    metrics = {"folds": [{"qwk": 0.7}, {"qwk": None}]}
    assert calibrated_folds_words(metrics, 2) == ("per-fold Cohen's kappa, calibrated as folds.csv: 0.700, n/a; "
                                                  "the fold lines' val Cohen's kappa above is uncalibrated")
    assert calibrated_folds_words(metrics, 3).startswith("per-fold QWK, calibrated as folds.csv: 0.700, n/a; "
                                                         "the fold lines' val QWK above")


def test_export_score_names_the_kappa_and_one_auc_with_two_grades(tmp_path: Path) -> None:
    """Review F4: export --score's figures line said "QWK ..., AUC ..." of a two-grade submission."""
    from drac_ssl import scoring

    cases = [f"{i}.png" for i in range(8)]
    truth = [0, 1, 0, 1, 0, 1, 1, 0]
    p1 = [0.2, 0.8, 0.3, 0.7, 0.6, 0.9, 0.4, 0.1]
    labels = tmp_path / "labels.csv"
    labels.write_text("image,grade\n" + "".join(f"{c},{g}\n" for c, g in zip(cases, truth, strict=True)))
    sub = tmp_path / "sub.csv"
    sub.write_text("case,class,P0,P1\n" + "".join(f"{c},{int(p >= 0.5)},{1 - p:.3f},{p:.3f}\n"
                                                   for c, p in zip(cases, p1, strict=True)))
    record = scoring.score(sub, labels, image_column="image", grade_column="grade", n_boot=20)
    text = "\n".join(scoring.score_lines(record))
    assert f"{KAPPA_TWO_GRADES} " in text and f", {AUC_TWO_GRADES} " in text, text
    assert "Cohen's kappa, accuracy and macro F1 score the submission's class column, the AUC of P(referable) " \
           "its P1 column" in text, text
    assert "QWK 0." not in text and "QWK, accuracy" not in text, text


def test_a_class_whose_written_p_ties_is_not_counted_the_smaller() -> None:
    """Review of claim_fx F6: P (0.5000004, 0.4999996), class 1, is written 0.500000 twice;
    smaller_class_rows compared the raw floats and said "it is the smaller" of a row whose
    file shows P0 = P1 (grade_note_counts reads the written millionths)."""
    import numpy as np

    from drac_ssl.submission import smaller_class_rows

    probs = np.array([[0.5000004, 0.4999996], [0.6, 0.4]])
    assert smaller_class_rows(probs, np.array([1, 1])) == 1
