"""``finetune.referral_target``: a referral cut on P(referable) set for a screening target
(sensitivity or specificity at least L), cross-fitted as the kappa thresholds are, stored in the
calibration and the bundle, and used by the export and the app; and the P(referable) cut of the
two 90 % operating points that metrics.json reports (a screening analyst's findings: only
kappa-tuned cuts or argmax could be deployed, and "sensitivity 0.356 at specificity >= 0.90"
came without the cut that gives it)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from drac_ssl import export, finetune
from drac_ssl.config import ConfigError, load_config, referral_target
from drac_ssl.grading.image_notes import decision_words
from drac_ssl.grading.model import Calibration, ReferralCut
from drac_ssl.metrics import (
    operating_cut,
    quadratic_weighted_kappa,
    referable_report,
    referral_report,
    two_grade_summary,
)
from drac_ssl.submission import (
    read_submission,
    write_referable,
    write_submission,
    written_probabilities,
)

TWO = ["non-referable", "referable"]
ICDR = ["No DR", "Mild", "Moderate", "Severe", "PDR"]


def _two_grade_outputs(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(raw (n, 2) logits, grades (n,))``: grade 1's logit is higher, with noise."""
    rng = np.random.default_rng(seed)
    grades = rng.integers(0, 2, n)
    raw = np.stack([np.zeros(n), 1.2 * grades + rng.normal(size=n)], axis=1)
    return raw, grades


# --------------------------------------------------------------------------------------
# The cut


def _figures_at(truth: np.ndarray, score: np.ndarray, cut: float) -> tuple[float, float]:
    """``(sensitivity, specificity)`` of referring ``score >= cut``."""
    referred = score >= cut
    return (referred & truth).sum() / truth.sum(), (~referred & ~truth).sum() / (~truth).sum()


def _best_other(truth: np.ndarray, score: np.ndarray, metric: str, level: float) -> tuple[float, float]:
    """By brute force over every cut (each score and one above them all): the best other figure
    among the cuts reaching ``metric >= level``, then the best ``metric`` among those: what
    :func:`operating_cut` must return, as ``(sensitivity, specificity)``."""
    cuts = [(*_figures_at(truth, score, c), c) for c in [*np.unique(score), np.inf]]
    at = 0 if metric == "sensitivity" else 1
    meeting = [f for f in cuts if f[at] >= level - 1e-12]
    best = max(f[1 - at] for f in meeting)
    top = max(f[at] for f in meeting if f[1 - at] == best)
    return (top, best) if at == 0 else (best, top)


def test_the_operating_cut_reaches_its_target_with_the_best_other_figure() -> None:
    """Sensitivity >= L: the most specific cut that finds L of the referable images;
    specificity >= L: the most sensitive cut that clears L of the others (checked against
    every cut). ``score >= cut`` gives exactly the figures returned."""
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 300).astype(bool)
    score = np.clip(0.3 * truth + rng.normal(0.35, 0.2, 300), 0, 1)
    for metric, level in (("sensitivity", 0.9), ("sensitivity", 0.75), ("specificity", 0.9), ("specificity", 0.6)):
        cut, sens, spec = operating_cut(truth, score, metric, level)
        assert (sens, spec) == pytest.approx(_figures_at(truth, score, cut))
        assert (sens if metric == "sensitivity" else spec) >= level
        assert (sens, spec) == pytest.approx(_best_other(truth, score, metric, level))
    # a specificity only referring none reaches: a cut above every score
    cut, sens, spec = operating_cut([0, 1, 0, 1], [0.9, 0.8, 0.1, 0.2], "specificity", 0.99)
    assert cut > 0.9 and (sens, spec) == (0.0, 1.0)
    assert all(np.isnan(operating_cut([1, 1], [0.2, 0.3], "sensitivity", 0.9)))
    with pytest.raises(ValueError, match="level must be in"):
        operating_cut([0, 1], [0.1, 0.9], "sensitivity", 1.0)


def test_no_other_cut_beats_the_operating_cut_on_both_figures() -> None:
    """Review F3: where the ROC curve is flat, the first cut reaching the level can be beaten on
    both figures by a neighbour (the highest cut finding 9 of 10 referable images, 0.42, against
    0.41, which finds all 10 and clears as many others). The cut returned is never beaten on
    both: the reviewer's two cases, then random ones with ties and flat stretches."""
    truth = np.array([1] * 10 + [0] * 10, bool)
    score = np.array([.9, .8, .7, .6, .5, .45, .44, .43, .42, .41, *np.linspace(0, .4, 10)])
    assert operating_cut(truth, score, "sensitivity", 0.9) == (0.41, 1.0, 1.0)
    assert operating_cut([0, 1, 0, 1], [.2, .9, .1, 1.0], "specificity", 0.5) == (0.9, 1.0, 1.0)
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(400):
        n = int(rng.integers(4, 40))
        truth = rng.random(n) < rng.uniform(0.2, 0.8)
        if truth.all() or not truth.any():
            continue
        score = rng.integers(0, int(rng.integers(2, 15)), n) / 14  # coarse: ties and flat stretches
        metric = ("sensitivity", "specificity")[int(rng.integers(2))]
        level = float(rng.uniform(0.05, 0.95))
        cut, sens, spec = operating_cut(truth, score, metric, level)
        assert (sens, spec) == pytest.approx(_figures_at(truth, score, cut))
        assert (sens if metric == "sensitivity" else spec) >= level
        for other in [*np.unique(score), np.inf]:
            se, sp = _figures_at(truth, score, other)
            eps = 1e-9  # the figures are fractions computed two ways
            assert not (se >= sens - eps and sp >= spec - eps and (se > sens + eps or sp > spec + eps)), \
                (metric, level, cut, other)
        assert (sens, spec) == pytest.approx(_best_other(truth, score, metric, level))
        checked += 1
    assert checked > 300


def test_the_report_gives_the_cut_of_each_operating_point_and_says_it_is_in_sample() -> None:
    """metrics.json's referable report: each 90 % operating point with the P(referable) cut that
    gives it, on the same images (in-sample), which a programme can apply to oof.csv by hand."""
    rng = np.random.default_rng(2)
    y = rng.integers(0, 5, 200)
    p = rng.dirichlet(np.ones(5), 200)
    p[:, 4] += 0.2 * (y >= 2)
    p /= p.sum(axis=1, keepdims=True)
    got = referable_report(y, p, np.argmax(p, axis=1), 2, ICDR)
    s, truth = p[:, 2:].sum(axis=1), y >= 2
    for figure, cut_key, other in (("sensitivity_at_specificity_90", "sensitivity_at_specificity_90_cut", "spec"),
                                   ("specificity_at_sensitivity_90", "specificity_at_sensitivity_90_cut", "sens")):
        referred = s >= got[cut_key]
        sens = (referred & truth).sum() / truth.sum()
        spec = (~referred & ~truth).sum() / (~truth).sum()
        assert got[figure] == pytest.approx(sens if other == "spec" else spec)
        assert (spec if other == "spec" else sens) >= 0.9
    assert "in-sample" in got["operating_points_note"]


def test_the_words_put_each_cut_on_its_own_probabilities() -> None:
    """Review F4: the deployed cut is on the bundle's probabilities (one temperature fitted on
    all out-of-fold outputs), the operating points' and the folds' on oof.csv's cross-fitted
    ones. The words said the deployed cut applied to oof.csv's P1 gave "other (in-sample)
    figures" (it needs the deployed temperature) and gave the operating points' cuts bare, as
    if a programme could refer new images by them."""
    from drac_ssl.metrics import OPERATING_POINTS_NOTE

    referable = {"from_grade": 1, "n_referable": 10, "n_not": 20, "auc": 0.8, "auc_ci95": [0.7, 0.9],
                 "sensitivity": 0.9, "specificity": 0.4, "sensitivity_at_specificity_90": 0.3,
                 "specificity_at_sensitivity_90": 0.35, "sensitivity_at_specificity_90_cut": 0.61,
                 "specificity_at_sensitivity_90_cut": 0.155,
                 "referral": {"target": "sensitivity:0.90", "metric": "sensitivity", "level": 0.9, "cut": 0.306,
                              "fold_cuts": {"0": 0.498, "1": 0.294}, "sensitivity": 0.805,
                              "specificity": 0.527, "target_met_out_of_fold": False}}
    said = two_grade_summary({"decision": "thresholds", "referral_decides_grade": True, "folds": [],
                              "referable": referable}, TWO)
    assert "in-sample) figures than these" not in said and "applied to oof.csv's P1 it gives" not in said
    assert ("Each fold's cut applied to its rows' P1 in oof.csv gives these figures. The deployed referral cut, "
            "grade 1 when P1 >= 0.306000, was chosen by the same rule and grades new images: "
            "it is on the bundle's P1 (under the temperature fitted on all of those outputs), not on oof.csv's "
            "cross-fitted P1; it was fitted on the pooled out-of-fold outputs of single fold models, while new "
            "images are graded by the fold ensemble (mean of the folds, with flips)") in said
    # the target is set: no advice to set it (review: report.md and the model card gave it anyway)
    assert ("specificity 0.350 at sensitivity >= 0.90 (P1 >= 0.155000) (those cuts are on oof.csv's cross-fitted "
            "probabilities, not the bundle's: new images are referred by the referral cut of "
            "finetune.referral_target)") in said
    assert "set finetune.referral_target" not in said
    # the target off: the advice, there only
    off = {k: v for k, v in referable.items() if k != "referral"}
    said_off = two_grade_summary({"decision": "thresholds", "folds": [], "referable": off}, TWO)
    assert ("(P1 >= 0.155000) (those cuts are on oof.csv's cross-fitted probabilities, not the bundle's: to refer "
            "new images, set finetune.referral_target)") in said_off
    from drac_ssl.metrics import referable_summary

    five = {**referable, "from_grade": 2}
    assert "set finetune.referral_target" not in referable_summary(five)
    assert "to refer new images, set finetune.referral_target" in referable_summary(
        {k: v for k, v in five.items() if k != "referral"})
    assert "not the bundle's" in OPERATING_POINTS_NOTE and "set finetune.referral_target" in OPERATING_POINTS_NOTE
    # metrics.json's stored note agrees with the words (a final read: it advised setting the target
    # where it was set)
    from drac_ssl.metrics import operating_points_note

    assert operating_points_note(off) == OPERATING_POINTS_NOTE
    assert "set finetune.referral_target" not in operating_points_note(referable)
    assert "new images are referred by the referral cut of finetune.referral_target" in operating_points_note(referable)
    # a run stored before the cuts were: its words as they were (review F8)
    old = {k: v for k, v in referable.items() if not k.endswith("_cut") and k != "referral"}
    assert ("with the cut chosen on these same images (optimistic): sensitivity 0.300 at specificity >= 0.90, "
            "specificity 0.350 at sensitivity >= 0.90. QWK") in two_grade_summary(
                {"decision": "argmax", "folds": [], "referable": old}, TWO)


def test_the_calibration_fits_a_referral_cut_that_meets_its_target_on_its_images() -> None:
    raw, y = _two_grade_outputs()
    plain = Calibration.fit(raw, y, "classification", 2, "thresholds")
    for metric, level in (("sensitivity", 0.9), ("specificity", 0.85)):
        cal = Calibration.fit(raw, y, "classification", 2, "thresholds", (metric, level, 1))
        assert cal.referral is not None and cal.referral.target == f"{metric}:{level:.2f}"
        # the temperature and kappa thresholds are the plain fit's; the cut is on its P1
        assert cal.without_referral() == plain
        probs, score = cal.probs_and_scores([raw])
        # chosen on P1 as oof.csv writes it (6 decimals), and stored so
        assert cal.referral.cut == pytest.approx(
            operating_cut(y, written_probabilities(probs)[:, 1], metric, level)[0], abs=1e-12)
        assert cal.referral.cut == round(cal.referral.cut, 6)
        grades = cal.grades_of(probs, score)  # two grades: the cut decides the grade
        assert np.array_equal(grades, (written_probabilities(probs)[:, 1] >= cal.referral.cut).astype(int))
        reached = ((grades == 1) & (y == 1)).sum() / (y == 1).sum() if metric == "sensitivity" else \
            ((grades == 0) & (y == 0)).sum() / (y == 0).sum()
        assert reached >= level
        assert not np.array_equal(grades, plain.grades_of(probs, score))  # not the kappa threshold's
    # more grades: the grades stay the thresholds', the cut only refers
    rng = np.random.default_rng(3)
    y5 = rng.integers(0, 5, 300)
    raw5 = 1.5 * np.eye(5)[y5] + rng.normal(size=(300, 5))
    cal5 = Calibration.fit(raw5, y5, "classification", 5, "thresholds", ("sensitivity", 0.8, 2))
    probs5, score5 = cal5.probs_and_scores([raw5])
    assert np.array_equal(cal5.grades_of(probs5, score5), cal5.without_referral().grades_of(probs5, score5))
    referred = cal5.refer(probs5)
    assert ((referred == 1) & (y5 >= 2)).sum() / (y5 >= 2).sum() >= 0.8
    with pytest.raises(ValueError, match="needs referable"):
        Calibration.fit(raw, np.zeros_like(y), "classification", 2, "thresholds", ("sensitivity", 0.9, 1))


def test_a_referral_cut_round_trips_and_an_old_calibration_reads_as_before() -> None:
    raw, y = _two_grade_outputs()
    cal = Calibration.fit(raw, y, "classification", 2, "argmax", ("specificity", 0.9, 1))
    written = json.loads(json.dumps(cal.to_dict()))
    assert Calibration.from_dict(written) == cal
    assert written["referral"]["target"] == "specificity:0.90" and "referral.cut" in written["grade"]
    # without a target nothing is written (calibration.json as before), and a calibration
    # written before the setting reads with no cut and grades by its decision
    old = cal.without_referral().to_dict()
    assert "referral" not in old and set(old) == {"output", "temperature", "thresholds", "probabilities",
                                                  "score", "grade", "decision", "num_grades"}
    again = Calibration.from_dict(old)
    assert again.referral is None and not again.referral_decides
    probs, score = again.probs_and_scores([raw])
    assert np.array_equal(again.grades_of(probs, score), probs.argmax(axis=1))
    for bad in ({**written["referral"], "cut": "x"}, {**written["referral"], "metric": "ppv"},
                {k: v for k, v in written["referral"].items() if k != "cut"}, [0.3]):
        with pytest.raises(ValueError):
            Calibration.from_dict({**written, "referral": bad})


def test_the_app_and_the_export_refer_alike_at_the_sixth_decimal(tmp_path: Path) -> None:
    """Review F7: the export's _referable.csv compares the written (6-decimal) P_referable with
    the cut, the app compared the unrounded probability with an unrounded cut, so an image a
    millionth from the cut could be referred by one and not the other. The cut is stored to 6
    decimals and every one of them refers by the written probabilities."""
    cut = ReferralCut("sensitivity", 0.9, 2, 0.3)
    # P(referable) 0.2999996 and 0.3000004 are both written 0.300000; 0.2999994 is 0.299999
    probs = np.array([[0.5, 0.2000004, 0.1999996, 0.05, 0.05],
                      [0.4999992, 0.2000004, 0.2000004, 0.05, 0.05],
                      [0.5, 0.2000006, 0.1999994, 0.05, 0.05]])
    probs[:, 2:] = probs[:, 2:] * 0  # only grades 2.. count: set them by hand
    probs[:, 2] = [0.2999996, 0.3000004, 0.2999994]
    probs[:, 0] = 1 - probs[:, 1:].sum(axis=1)
    assert cut.refer(probs).tolist() == [1, 1, 0]
    submission = write_submission(tmp_path / "s.csv", ["a.png", "b.png", "c.png"], probs, np.zeros(3, int),
                                  num_grades=5)
    with open(write_referable(submission, 2, cut=cut.cut), newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["P_referable"] for r in rows] == ["0.300000", "0.300000", "0.299999"]
    assert [int(r["referable"]) for r in rows] == cut.refer(probs).tolist()
    # a cut fitted where only referring none reaches the level: one millionth above them all
    raw, y = np.array([[0.0, 3.0], [0.0, 1.0], [0.0, -1.0], [0.0, 0.0]]), np.array([0, 1, 0, 1])
    cal = Calibration.fit(raw, y, "classification", 2, "thresholds", ("specificity", 0.99, 1))
    probs = cal.probs_and_scores([raw])[0]
    assert cal.referral.cut == pytest.approx(written_probabilities(probs)[:, 1].max() + 1e-6, abs=1e-12)
    assert not cal.refer(probs).any()


def test_the_setting_reads_its_values_and_refuses_others() -> None:
    assert referral_target("sensitivity:0.90") == ("sensitivity", 0.9)
    assert referral_target(" Specificity:0.95 ") == ("specificity", 0.95)
    for off in ("off", "none", "false", ""):
        assert referral_target(off) is None
    for bad in ("sensitivity", "sensitivity:1", "ppv:0.9", "specificity:90"):
        with pytest.raises(ConfigError, match="finetune.referral_target"):
            load_config(None, [f"finetune.referral_target={bad}"])
    assert load_config(None, ["finetune.referral_target=sensitivity:0.9"]).finetune.referral_target == "sensitivity:0.9"
    # it changes no fold's training: finished folds are reused when it changes
    signed = finetune._signed_settings({"head": "conv", "referral_target": "sensitivity:0.9"}, scratch=False)
    assert "referral_target" not in signed


def test_a_resume_takes_the_same_target_written_otherwise_for_the_same_setting() -> None:
    """Review F5: a run made with sensitivity:0.9 was refused on resume with sensitivity:0.90
    as "a different configuration". The comparison reads the target in its one written form;
    another target still differs."""
    from drac_ssl import stage_settings
    from drac_ssl.config import referral_target_text, to_dict

    def compared(value: str) -> str:
        settings = to_dict(load_config(None, [f"finetune.referral_target={value}"]))
        return stage_settings.comparable(settings)["finetune"]["referral_target"]

    assert compared("sensitivity:0.9") == compared("sensitivity:0.90") == compared("Sensitivity: 0.900")
    assert compared("sensitivity:0.9") == "sensitivity:0.90"
    assert compared("sensitivity:0.95") != compared("sensitivity:0.9") != compared("specificity:0.9")
    assert compared("off") == compared("none") == "off"
    assert referral_target_text(False) == "off"  # a YAML 1.1 reader's off
    assert referral_target_text("ppv:2") == "ppv:2"  # not a target: as it is, for the refusal to name


def test_a_target_without_referable_grades_is_refused_before_the_pretraining() -> None:
    """On DRAC's three grades finetune.referable_from=auto gives no referable grades, so a
    referral target has no P(referable) to cut: the preflight says so, not the fine-tuning
    after the pretraining."""
    from drac_ssl import preflight, train

    def errors(*overrides: str) -> dict[str, str]:
        cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, list(overrides))
        return {f.setting: f.line for f in preflight.check(cfg, Path("runs-that-do-not-exist") / "x", sources)
                if f.severity == "error"}

    found = errors("finetune.referral_target=sensitivity:0.9")
    assert "gives no referable grades" in found["finetune.referral_target"]
    assert "fix: finetune.referable_from=R" in found["finetune.referral_target"]
    assert "finetune.referral_target" not in errors("finetune.referral_target=sensitivity:0.9",
                                                    "finetune.referable_from=1")


# --------------------------------------------------------------------------------------
# Cross-fitting


def _ctx(grades: np.ndarray, folds: np.ndarray, k: int, referable_from: int) -> SimpleNamespace:
    return SimpleNamespace(num_grades=k, ft=SimpleNamespace(decision="thresholds"), lab=[{}] * len(grades),
                           fold_ids=sorted(set(folds.tolist())), folds=folds, grades=grades,
                           referable_from=referable_from, train_positions=lambda f: np.flatnonzero(folds != f))


def test_each_folds_referral_cut_is_fitted_without_its_own_images() -> None:
    """Fold k's images are referred by the cut fitted on the other folds' out-of-fold outputs
    (under the temperature fitted there), as their kappa thresholds are: moving fold k's own
    outputs leaves its cut as it was and moves the others'. Two grades: the grades given are
    the referrals; each rule's figures stay its own."""
    raw, y = _two_grade_outputs(250, seed=4)
    folds = np.arange(250) % 5
    ctx = _ctx(y, folds, 2, 1)
    fit = finetune._cross_fit_calibration(ctx, raw, "classification", ("sensitivity", 0.9))  # type: ignore[arg-type]
    plain = finetune._cross_fit_calibration(ctx, raw, "classification")  # type: ignore[arg-type]
    rng = np.random.default_rng(5)
    for f in range(5):
        inside = folds == f
        alone = Calibration.fit(raw[~inside], y[~inside], "classification", 2, "thresholds", ("sensitivity", 0.9, 1))
        assert fit.referral_cuts[f] == alone.referral.cut
        assert np.array_equal(fit.referred[inside], alone.referral.refer(alone.probs_and_scores([raw[inside]])[0]))
        moved = raw.copy()
        moved[inside] = rng.normal(size=(inside.sum(), 2))
        again = finetune._cross_fit_calibration(ctx, moved, "classification", ("sensitivity", 0.9))  # type: ignore[arg-type]
        assert again.referral_cuts[f] == fit.referral_cuts[f]
        assert all(again.referral_cuts[g] != fit.referral_cuts[g] for g in range(5) if g != f)
    assert np.array_equal(fit.pred, fit.referred)  # two grades: the cut decides
    for rule in ("thresholds", "argmax"):
        assert np.array_equal(fit.preds[rule], plain.preds[rule])
    assert fit.calibration.referral.cut == Calibration.fit(
        raw, y, "classification", 2, "thresholds", ("sensitivity", 0.9, 1)).referral.cut
    # more grades: the grades are those without a target; the referrals come beside them
    y5 = np.arange(250) % 5
    raw5 = 1.5 * np.eye(5)[y5] + rng.normal(size=(250, 5))
    ctx5 = _ctx(y5, folds[np.argsort(rng.random(250))], 5, 2)
    fit5 = finetune._cross_fit_calibration(ctx5, raw5, "classification", ("specificity", 0.9))  # type: ignore[arg-type]
    assert np.array_equal(fit5.pred, finetune._cross_fit_calibration(ctx5, raw5, "classification").pred)  # type: ignore[arg-type]
    assert fit5.referred is not None and set(fit5.referral_cuts) == set(range(5))


def test_each_rule_keeps_its_own_figures_when_the_referral_cut_gives_the_grades(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F1: with two grades and a cut, metrics.json filed the cut's figures under
    decision_rules.thresholds (thresholds QWK 0.316 where the kappa thresholds' own grades
    give 0.271) and the in-sample thresholds QWK was the cut's too. Each rule's figures are
    now its own grades' (oof.csv's probabilities cut at each fold's cross-fitted threshold),
    the cut's are decision_rules.referral, the one selected, and the headline's."""
    raw, y = _two_grade_outputs(300, seed=8)
    folds = np.arange(300) % 5
    ctx = _ctx(y, folds, 2, 1)
    ctx.ft = SimpleNamespace(decision="thresholds", n_boot=60, label_fraction=1.0, keep="last", tta=False)
    ctx.referral, ctx.seed, ctx.patients, ctx.grade_names = ("sensitivity", 0.95), 0, None, TWO
    records = [{"fold": f, "history": [{"val_qwk": 0.0}], "best_epoch": 0, "n_train": int((folds != f).sum()),
                "n_val": int((folds == f).sum()), "epochs_run": 1, "seconds": 0.0, "stopped": None} for f in range(5)]
    trained = finetune._FoldOutputs(raw, records, {})
    # the thresholds' never-given-grade warning: said only where the thresholds give the grades
    monkeypatch.setattr(finetune, "threshold_band_warning", lambda *args: "the thresholds never give grade 1")
    fit = finetune._cross_fit_calibration(ctx, raw, "classification", ctx.referral)  # type: ignore[arg-type]
    metrics = finetune._score_variant(ctx, "scratch", trained, fit, 0.0)  # type: ignore[arg-type]
    assert not metrics.get("threshold_band_warning")  # the referral cut gives them (a second read)
    rules = metrics["decision_rules"]
    own = fit.preds["thresholds"]
    assert not np.array_equal(own, fit.pred)  # a high sensitivity target refers more than kappa's cut
    assert rules["thresholds"]["qwk"] == pytest.approx(quadratic_weighted_kappa(y, own, 2))
    assert rules["argmax"]["qwk"] == pytest.approx(quadratic_weighted_kappa(y, fit.preds["argmax"], 2))
    assert rules["thresholds"]["qwk"] != pytest.approx(metrics["qwk"])
    # the same figures, recomputed from what oof.csv and metrics.json hold
    cut = {f["fold"]: f["thresholds_cross_fitted"][0] for f in metrics["folds"]}
    by_file = (fit.probs[:, 1] >= np.array([cut[f] for f in folds])).astype(int)
    assert rules["thresholds"]["qwk"] == pytest.approx(quadratic_weighted_kappa(y, by_file, 2))
    assert rules["referral"] == {**{k: rules["referral"][k] for k in ("qwk_ci95", "qwk_ci95_resamples",
                                                                      "qwk_ci95_note")},
                                 "qwk": metrics["qwk"], "accuracy": metrics["accuracy"],
                                 "macro_f1": metrics["macro_f1"], "selected": True, "target": "sensitivity:0.95"}
    assert rules["referral"]["qwk_ci95"] == metrics["qwk_ci95"]
    assert not rules["thresholds"]["selected"] and not rules["argmax"]["selected"]
    assert metrics["qwk"] == pytest.approx(quadratic_weighted_kappa(y, fit.referred, 2))
    # the in-sample figure of the deployed thresholds is theirs, not the deployed cut's
    deployed = fit.calibration.without_referral()
    assert metrics["qwk_in_sample_thresholds"] == pytest.approx(
        quadratic_weighted_kappa(y, deployed.decide([raw])[2], 2))
    assert metrics["referral_decides_grade"] is True
    # without a target, as before: the selected rule's figures are the headline's, no referral entry
    ctx.referral = None
    plain = finetune._score_variant(ctx, "scratch", trained, finetune._cross_fit_calibration(  # type: ignore[arg-type]
        ctx, raw, "classification"), 0.0)  # type: ignore[arg-type]
    assert set(plain["decision_rules"]) == {"thresholds", "argmax"} and "referral_decides_grade" not in plain
    assert plain["decision_rules"]["thresholds"] == {**rules["thresholds"], "selected": True}
    assert plain["qwk"] == rules["thresholds"]["qwk"]
    assert plain["threshold_band_warning"] == "the thresholds never give grade 1"


def test_the_referral_report_gives_the_figures_reached_out_of_fold_with_intervals() -> None:
    y = np.array([0] * 60 + [3] * 40)
    referred = np.r_[np.zeros(50, int), np.ones(10, int), np.ones(35, int), np.zeros(5, int)]
    got = referral_report(y, referred, 2, "sensitivity", 0.9, 0.31, {0: 0.3, 1: 0.32}, n_boot=200, seed=0)
    assert (got["sensitivity"], got["specificity"]) == (35 / 40, 50 / 60)
    assert got["sensitivity_counts"] == [35, 40] and got["target_met_out_of_fold"] is False
    assert got["sensitivity_ci95"][0] < 35 / 40 < got["sensitivity_ci95"][1]
    assert got["fold_cuts"] == {"0": 0.3, "1": 0.32} and got["target"] == "sensitivity:0.90"
    assert "other folds' out-of-fold outputs" in got["protocol"]


# --------------------------------------------------------------------------------------
# The bundle, the export and the app


def _bundle(folder: Path, names: list[str], referral: dict | None, r: int, met: bool = True) -> Path:
    """A 32 px demo bundle taken for trained, whose figures report referable DR (grade >= r)
    and whose calibration holds ``referral`` (None: none, as a bundle built before); ``met``:
    whether its cross-fitted cuts met their target out of fold."""
    from app.demo_bundle import build_demo_bundle

    bundle = build_demo_bundle(folder, image_size=32, source_size=48, n_folds=1, grade_names=names)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta.pop("demo")
    meta["cv_metrics"]["referable"] = {
        "from_grade": r, "rule": f"referable = grade >= {r}", "n_referable": 10, "n_not": 20, "auc": 0.8,
        "auc_ci95": [0.7, 0.9], "auc_note": None, "sensitivity": 0.7, "specificity": 0.8,
        **({"referral": {"target": referral["target"], "metric": referral["metric"], "level": referral["level"],
                         "cut": referral["cut"], "fold_cuts": {"0": referral["cut"]}, "sensitivity": 0.91,
                         "specificity": 0.4, "sensitivity_counts": [91, 100], "specificity_counts": [40, 100],
                         "target_met_out_of_fold": met}}
           if referral else {})}
    if referral is not None:
        meta["calibration"]["referral"] = referral
    (bundle / "metadata.json").write_text(json.dumps(meta))
    return bundle


def _referral(cut: float, r: int = 1) -> dict:
    return ReferralCut("sensitivity", 0.9, r, cut).to_dict()


SCAN = (np.full((48, 48), 90, np.uint8) + np.eye(48, dtype=np.uint8) * 60)


def test_a_two_grade_bundle_grades_and_says_by_its_referral_cut_and_an_old_one_as_before(tmp_path: Path) -> None:
    """The bundle round trip (metadata.json -> load_bundle): the app's grade is P1 against the
    stored cut, and its line names the target the cut serves; a bundle without one says the
    kappa-tuned referral threshold, as before."""
    from app.predict import Predictor
    from app.server import _result_markdown, decision_rule

    old = Predictor(_bundle(tmp_path / "old", TWO, None, 1), gradcam=False)
    before = old.predict(SCAN, gradcam=False)
    p1 = before.referable["probability"]
    assert "referral_cut" not in before.referable
    old_page = _result_markdown(before, old)
    assert "the referral threshold" in old_page and "set for" not in old_page
    for cut, grade in ((p1 - 0.01, 1), (p1 + 0.01, 0)):
        folder = tmp_path / f"cut{grade}"
        predictor = Predictor(_bundle(folder, TWO, _referral(cut), 1), gradcam=False)
        assert predictor.bundle.calibration.referral == ReferralCut("sensitivity", 0.9, 1, cut)
        pred = predictor.predict(SCAN, gradcam=False)
        assert pred.grade == grade and pred.referable["referred"] == grade
        assert pred.referable["probability"] == pytest.approx(p1)  # the probabilities are the old ones
        assert pred.referable["referral_target"] == "sensitivity:0.90"
        page = _result_markdown(pred, predictor)
        side = "at or above" if grade else "below"
        assert f"{side} the referral cut {cut:.3f} set for sensitivity >= 0.90" in page
        assert "at the cross-fitted referral cuts sensitivity 0.910" in page and "short of its target" not in page
        assert "sensitivity >= 0.90" in decision_rule(predictor)


def test_a_five_grade_bundle_refers_by_its_cut_and_keeps_its_grades(tmp_path: Path) -> None:
    from app.predict import Predictor
    from app.server import _result_markdown

    old = Predictor(_bundle(tmp_path / "old", ICDR, None, 2), gradcam=False)
    before = old.predict(SCAN, gradcam=False)
    p = before.referable["probability"]
    predictor = Predictor(_bundle(tmp_path / "new", ICDR, _referral(p - 0.01, 2), 2), gradcam=False)
    pred = predictor.predict(SCAN, gradcam=False)
    assert pred.grade == before.grade and pred.referable["referred"] == 1
    page = _result_markdown(pred, predictor)
    assert f"**Refer**: P(referable) {p:.3f} is at or above the referral cut {p - 0.01:.3f}, set for sensitivity >= 0.90" in page
    assert "Refer" not in _result_markdown(before, old)
    assert "short of its target" not in page
    # review F6: the line says when the cross-fitted cuts missed their target out of fold
    short = Predictor(_bundle(tmp_path / "short", ICDR, _referral(p - 0.01, 2), 2, met=False), gradcam=False)
    assert ("out of fold, at the cross-fitted cuts, sensitivity 0.910 (91/100 images), specificity 0.400 (40/100 images), "
            "**short of its target** (sensitivity >= 0.90) there") in _result_markdown(
                short.predict(SCAN, gradcam=False), short)


def test_a_bundle_whose_cut_is_on_other_grades_is_refused_by_the_app_as_by_the_export(tmp_path: Path) -> None:
    """Review F7: a (hand-edited) bundle whose referral cut is on grades >= 3 while its referable
    figures are on grades >= 2 was refused by the export but graded by the app with the
    referral silently left out. Both refuse it now, naming metadata.json."""
    from app.predict import Predictor
    from drac_ssl.grading.bundle import BundleError, load_bundle

    folder = _bundle(tmp_path / "mixed", ICDR, _referral(0.4, 3), 2)
    with pytest.raises(BundleError, match=r"referral cut is on grades >= 3 but it records its referable figures "
                                          r"on grades >= 2") as refused:
        Predictor(folder, gradcam=False)
    assert "metadata.json" in str(refused.value) and "fix:" in str(refused.value)
    with pytest.raises(BundleError, match="referral cut is on grades >= 3"):
        export.write_referable_beside(load_bundle(folder), tmp_path / "graded.csv")


def test_the_export_refers_by_the_bundles_cut_and_an_old_bundle_by_the_class(tmp_path: Path) -> None:
    """_referable.csv: with a cut, referable = the written P_referable at or above it (five
    grades: whatever the class; two grades: the class, which the cut decided); without one,
    the class >= r as before. The class line and the grade notes name the target."""
    from drac_ssl.grading.bundle import load_bundle

    rng = np.random.default_rng(6)
    probs = rng.dirichlet(np.ones(5), size=40)
    classes = np.argmax(probs, axis=1)
    cases = [f"{i}.png" for i in range(40)]
    submission = write_submission(tmp_path / "graded.csv", cases, probs, classes, num_grades=5)
    rows, _ = read_submission(submission, num_grades=5)
    written = np.round(rows.probs[:, 2:].sum(axis=1), 6)
    for referral, want in ((None, (classes >= 2).astype(int)), (_referral(0.55, 2), (written >= 0.55).astype(int))):
        bundle = load_bundle(_bundle(tmp_path / ("old" if referral is None else "new"), ICDR, referral, 2))
        path, line = export.write_referable_beside(bundle, submission)
        with open(path, newline="", encoding="utf-8") as fh:
            got = [int(r["referable"]) for r in csv.DictReader(fh)]
        assert got == want.tolist()
        assert ("P_referable >= 0.550000, the referral cut set for sensitivity >= 0.90" in line) == (referral is not None)
    assert not np.array_equal((classes >= 2).astype(int), (written >= 0.55).astype(int))  # the test tells them apart
    # two grades: the class rule and each note say the cut and its target
    bundle = load_bundle(_bundle(tmp_path / "two", TWO, _referral(0.3), 1))
    assert export.class_rule_said(bundle) == ("1 when P1 >= 0.300000, the referral cut set for sensitivity >= 0.90 on "
                                              "the out-of-fold outputs, else 0 (finetune.referral_target="
                                              "sensitivity:0.90)")
    notes = export._grade_notes(bundle, np.array([[0.6, 0.4], [0.8, 0.2]]), np.array([1, 0]))
    assert notes == ["P(referable) 0.400 is at or above the referral cut 0.300, set for sensitivity >= 0.90 "
                     "on the out-of-fold outputs, so the grade shown is 1 referable.", ""]
    old = load_bundle(_bundle(tmp_path / "two_old", TWO, None, 1))
    assert "finetune.decision=" in export.class_rule_said(old)


def test_the_note_of_a_referral_cut_names_its_target() -> None:
    cut = ReferralCut("specificity", 0.95, 1, 0.62)
    said = decision_words([0.45, 0.55], 0, TWO, "argmax", referral=cut)  # whatever the decision
    assert said == ("P(referable) 0.550 is below the referral cut 0.620, set for specificity >= 0.95 on the "
                    "out-of-fold outputs, so the grade shown is 0 non-referable.")
    assert decision_words([0.3, 0.7], 1, TWO, "thresholds", referral=cut) == ""  # the most likely grade
    assert "not calibrated" in decision_words([0.45, 0.55], 0, TWO, "thresholds", calibrated=False, referral=cut)


# --------------------------------------------------------------------------------------
# The fine-tuning, end to end


@pytest.fixture(scope="module")
def two_grade_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pretrained run (2 folds) on a two-grade scale: the fake ingest's grades mod 2."""
    import torch
    from fake_ingest import TINY_FINETUNE, make_fake_ingest

    from drac_ssl import pretrain

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("referral_run")
        make_fake_ingest(root, n_folds=2)
        manifest = root / "data" / "manifest.csv"
        with open(manifest, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        for row in rows:
            if row["split"] == "train":
                row["grade"] = str(int(row["grade"]) % 2)
        with open(manifest, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        summary = json.loads((root / "data" / "ingest_summary.json").read_text())
        summary["grades"] = {"names": TWO}
        (root / "data" / "ingest_summary.json").write_text(json.dumps(summary))
        cfg = load_config(None, [f"{k}={v}" for k, v in {**TINY_FINETUNE, "data.n_folds": "2"}.items()])
        pretrain.run(cfg, root)
    finally:
        torch.set_num_threads(threads)
    return root


def test_a_run_with_a_target_reports_stores_and_exports_its_cut(two_grade_run: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Without the setting a run is as before (no referral anywhere); with it, the same folds
    (reused: the setting changes no training) give the same probabilities, metrics.json gives
    the cross-fitted figures and each fold's cut, the grades are the cut's, and the bundle
    carries the deployed cut that the export's class rule names."""
    from fake_ingest import TINY_FINETUNE

    base = {**TINY_FINETUNE, "data.n_folds": "2", "finetune.compare_scratch": "false", "finetune.n_boot": "50"}
    plain = finetune.run(load_config(None, [f"{k}={v}" for k, v in base.items()]), two_grade_run)
    before = plain.variants["vicreg"]
    assert "referral" not in before.metrics["referable"] and "referral" not in before.calibration.to_dict()
    assert "referral_decides_grade" not in before.metrics
    cfg = load_config(None, [f"{k}={v}" for k, v in {**base, "finetune.referral_target": "sensitivity:0.8"}.items()])
    capsys.readouterr()
    result = finetune.run(cfg, two_grade_run)
    said = capsys.readouterr().out
    variant = result.variants["vicreg"]
    metrics = json.loads((variant.out_dir / "metrics.json").read_text())
    assert np.array_equal(variant.oof_probs, before.oof_probs)  # the folds were reused
    referral = metrics["referable"]["referral"]
    assert referral["target"] == "sensitivity:0.80" and metrics["referral_decides_grade"] is True
    # the stored note says the cut refers new images, not to set the target (a final read)
    assert "set finetune.referral_target" not in metrics["referable"]["operating_points_note"]
    assert "set finetune.referral_target" in before.metrics["referable"]["operating_points_note"]
    assert set(referral["fold_cuts"]) == {"0", "1"}
    assert [f["referral_cut_cross_fitted"] for f in metrics["folds"]] == [referral["fold_cuts"][k] for k in ("0", "1")]
    y = np.array([int(r["grade"]) for r in csv.DictReader(open(variant.oof_path, newline="", encoding="utf-8"))])
    assert (referral["sensitivity"], referral["specificity"]) == pytest.approx(
        ((variant.oof_pred[y == 1] == 1).mean(), (variant.oof_pred[y == 0] == 0).mean()))
    assert metrics["calibration"]["referral"]["cut"] == referral["cut"] == variant.calibration.referral.cut
    assert two_grade_summary(metrics, TWO) in said and "referral cuts set for sensitivity >= 0.80" in said
    # review F1: each rule's figures are its own grades', the cut's apart (they were filed under
    # decision_rules.thresholds): the thresholds rule's are the plain run's, whose grades it gave,
    # and its QWK is that of oof.csv's P1 cut at each fold's cross-fitted threshold
    rules, plain_rules = metrics["decision_rules"], before.metrics["decision_rules"]
    assert set(rules) == {"thresholds", "argmax", "referral"} and set(plain_rules) == {"thresholds", "argmax"}
    for rule in ("thresholds", "argmax"):
        assert rules[rule] == {**plain_rules[rule], "selected": False}
    assert plain_rules["thresholds"]["qwk"] == before.metrics["qwk"]
    with open(variant.oof_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    # each fold's referral cut applied to its rows' P1 in oof.csv gives the grades given (F4, F7)
    fold_cut = {f["fold"]: f["referral_cut_cross_fitted"] for f in metrics["folds"]}
    assert all(c == round(c, 6) for c in fold_cut.values())
    assert [int(float(r["P1"]) >= fold_cut[int(r["fold"])]) for r in rows] == variant.oof_pred.tolist()
    own_cut = {f["fold"]: f["thresholds_cross_fitted"][0] for f in metrics["folds"]}
    by_thresholds = np.array([int(float(r["P1"]) >= own_cut[int(r["fold"])]) for r in rows])
    assert rules["thresholds"]["qwk"] == pytest.approx(quadratic_weighted_kappa(y, by_thresholds, 2))
    assert rules["referral"]["selected"] and rules["referral"]["target"] == "sensitivity:0.80"
    assert rules["referral"]["qwk"] == metrics["qwk"] == pytest.approx(quadratic_weighted_kappa(y, variant.oof_pred, 2))
    assert metrics["qwk_in_sample_thresholds"] == before.metrics["qwk_in_sample_thresholds"]
    assert "grades by the referral cut (finetune.referral_target=sensitivity:0.80" in metrics["protocol_words"]
    assert ("[the referral cut, finetune.referral_target=sensitivity:0.80; finetune.decision's rules alone: "
            f"thresholds Cohen's kappa {rules['thresholds']['qwk']:.3f}") in said
    exported = export.run(cfg, two_grade_run)
    meta = json.loads(exported.metadata_path.read_text())
    assert meta["calibration"]["referral"]["cut"] == referral["cut"] and meta["cv_metrics"]["referral_decides_grade"]
    assert "the referral cut set for sensitivity >= 0.80" in capsys.readouterr().out
    assert "referral cut set for sensitivity >= 0.80" in exported.model_card_path.read_text()
    # the submission's class is the cut's: the export's record and report.md say so
    from drac_ssl.report import write_report

    rule = json.loads((two_grade_run / "export" / "summary.json").read_text())["class_rule"]
    assert rule.startswith("1 when P1 >= ") and "sensitivity >= 0.80" in rule
    report = write_report(two_grade_run).read_text()
    assert f"- its class: {rule};" in report
    # report.md and the model card say the cut gave the grades, not finetune.decision
    assert "class decision `thresholds`" not in report
    assert ("grades by the referral cut (`finetune.referral_target=sensitivity:0.80`: grade 1 when P1 is at or "
            "above the cut cross-fitted for the image's fold; `finetune.decision=thresholds` not used)") in report
    assert f"| **referral cut (sensitivity:0.80)** | {rules['referral']['qwk']:.3f} |" in report
    assert f"| thresholds | {rules['thresholds']['qwk']:.3f} |" in report
    # review F2: the referral figures chose the variant, and summary.json, report.md and the card say so
    summary = json.loads((two_grade_run / "finetune" / "summary.json").read_text())
    assert "finetune.referral_target=sensitivity:0.80" in summary["selection"] and "QWK" not in summary["selection"]
    assert summary["variants"]["vicreg"]["referral"] == {
        key: referral[key] for key in ("target", "sensitivity", "specificity", "target_met_out_of_fold")}
    assert f"Selected for export: **vicreg** ({summary['selection']})" in report
    from drac_ssl.train import result_line

    assert "(selected for export): out of fold at its cross-fitted referral cuts (finetune.referral_target=" \
           "sensitivity:0.80) sensitivity " in result_line(two_grade_run)
    card = exported.model_card_path.read_text()
    assert summary["selection"] in card
    assert "grades by finetune.decision=thresholds" not in card and "Class decision `thresholds`" not in card
    assert (f"Grades by the referral cut (`finetune.referral_target=sensitivity:0.80`), cross-fitted: Cohen's kappa "
            f"{rules['referral']['qwk']:.3f}") in card
    # two grades: the kappa by its name (review F4), not "thresholds: QWK 0.068"
    assert f"thresholds: Cohen's kappa {rules['thresholds']['qwk']:.3f}" in card and "thresholds: QWK" not in card
    assert "chosen by another score: P(grade 1), which weighs both grades' logits, against the referral cut" in card
    assert "the expected grade cut at thresholds" not in card
    assert replace(variant.calibration, referral=None) == before.calibration
