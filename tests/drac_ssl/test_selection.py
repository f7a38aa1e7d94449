"""Which variant the run exports and why, in words (drac_ssl.selection): a tie is said as one."""

from __future__ import annotations

from drac_ssl.selection import recorded_selection, select_variant, selection_words, short_selection

# the trial (s56): every variant at QWK 0.000, vicreg and vicreg_umm tied on AUC too
TRIAL = {"scratch": {"qwk": 0.0, "auc": 0.5361111111111112, "auc_ovr": 0.5361111111111111, "accuracy": 0.2},
         "vicreg": {"qwk": 0.0, "auc": 0.5444444444444445, "auc_ovr": 0.5444444444444444, "accuracy": 0.2},
         "vicreg_umm": {"qwk": 0.0, "auc": 0.5444444444444445, "auc_ovr": 0.5444444444444445, "accuracy": 0.2}}


def test_a_tie_on_qwk_and_auc_is_said_as_a_tie_broken_by_the_fixed_order() -> None:
    name, words = select_variant(TRIAL, "thresholds")
    assert name == "vicreg_umm"
    assert not words.startswith("highest")
    assert words == ("tied on out-of-fold QWK (0.000, with scratch and vicreg) and AUC one-vs-one "
                     "(0.544, with vicreg); chosen by the tie-break order vicreg_umm, vicreg, scratch "
                     "(finetune.decision=thresholds)")
    assert short_selection(words).endswith("chosen by the tie-break order vicreg_umm, vicreg, scratch")


def test_a_tie_on_qwk_alone_says_the_auc_chose() -> None:
    metrics = {**TRIAL, "vicreg": {**TRIAL["vicreg"], "auc": 0.6}}
    name, words = select_variant(metrics, "thresholds")
    assert name == "vicreg"
    assert words.startswith("tied on out-of-fold QWK (0.000, with scratch and vicreg_umm); chosen by the "
                            "higher AUC one-vs-one, as DRAC breaks ties")


def test_a_clear_lead_keeps_the_words_runs_recorded_and_a_last_digit_is_no_lead() -> None:
    metrics = {**TRIAL, "scratch": {**TRIAL["scratch"], "qwk": 0.3}}
    name, words = select_variant(metrics, "thresholds")
    assert name == "scratch" and words.startswith("highest out-of-fold QWK (finetune.decision=thresholds; a tie")
    assert short_selection(words) == "highest out-of-fold QWK"
    # argmax: accuracy, then the one-vs-rest AUCs, which differ in the 16th digit only: a tie
    name, words = select_variant(TRIAL, "argmax")
    assert name == "vicreg_umm" and "AUC one-vs-rest (0.544, with vicreg)" in words


def test_a_recorded_highest_of_a_tie_is_said_again_from_the_figures() -> None:
    old = ("highest out-of-fold QWK (finetune.decision=thresholds; a tie goes to the higher AUC "
           "one-vs-one, as DRAC breaks ties, then to vicreg_umm, vicreg, scratch in that order)")
    assert recorded_selection(old, TRIAL, "thresholds", "vicreg_umm") == selection_words(
        TRIAL, "thresholds", "vicreg_umm")
    clear = {**TRIAL, "vicreg_umm": {**TRIAL["vicreg_umm"], "qwk": 0.2}}
    assert recorded_selection(old, clear, "thresholds", "vicreg_umm") == old  # not a tie: as recorded
    assert recorded_selection(old, {"vicreg_umm": TRIAL["vicreg_umm"]}, "thresholds", "vicreg_umm") == old
    assert recorded_selection("demo bundle", TRIAL, "thresholds", "vicreg_umm") == "demo bundle"


def _cut(qwk: float, met: bool | None, sensitivity: float, specificity: float, auc: float = 0.7,
         target: str = "sensitivity:0.90") -> dict:
    """A two-grade variant's figures whose referral cut gave the grades (metrics.json's keys)."""
    return {"qwk": qwk, "auc": auc, "auc_ovr": auc, "accuracy": 0.6, "referral_decides_grade": True,
            "referable": {"referral": {"target": target, "metric": target.split(":")[0], "level": 0.9,
                                       "sensitivity": sensitivity, "specificity": specificity,
                                       "target_met_out_of_fold": met}}}


def test_a_referral_cut_that_gives_the_grades_ranks_by_its_target_then_the_other_figure() -> None:
    """Review F2: with two grades and finetune.referral_target the QWK of the cut's grades chose
    the variant, so one that missed the target (the highest QWK) won over one that met it. The
    target met out of fold comes first, then the other figure; the words say so, not "highest
    out-of-fold QWK (finetune.decision=thresholds...)"."""
    metrics = {"scratch": _cut(0.316, False, 0.805, 0.527), "vicreg": _cut(0.183, True, 0.91, 0.30),
               "vicreg_umm": _cut(0.20, True, 0.93, 0.35)}
    name, words = select_variant(metrics, "thresholds")
    assert name == "vicreg_umm"  # met the target, and the more specific of the two that did
    assert words.startswith("its referral cut met sensitivity >= 0.90 out of fold, with the highest "
                            "specificity of those that did, 0.350 (finetune.referral_target=sensitivity:0.90")
    assert "QWK" not in words and "finetune.decision" not in words
    assert short_selection(words) == ("its referral cut met sensitivity >= 0.90 out of fold, with the highest "
                                      "specificity of those that did, 0.350")
    assert recorded_selection(words, metrics, "thresholds", name) == words
    # the only one to meet it; then none: the nearest to the target, whatever its specificity
    only = {**metrics, "vicreg_umm": _cut(0.2, False, 0.89, 0.9)}
    assert select_variant(only, "thresholds") == ("vicreg", select_variant(only, "thresholds")[1])
    assert select_variant(only, "thresholds")[1].startswith(
        "its referral cut met sensitivity >= 0.90 out of fold, the only one to (")
    none = {**only, "vicreg": _cut(0.5, None, float("nan"), 0.2)}
    name, words = select_variant(none, "thresholds")
    assert name == "vicreg_umm" and words.startswith(
        "no variant's referral cut met sensitivity >= 0.90 out of fold; its came nearest, sensitivity 0.890 (")
    # a specificity target: sensitivity ranks those that met it; ties go to the AUC, then the order
    spec = {n: _cut(0.1, True, 0.6, 0.95, target="specificity:0.90") for n in ("scratch", "vicreg", "vicreg_umm")}
    spec["scratch"] = _cut(0.1, True, 0.7, 0.92, target="specificity:0.90")
    assert select_variant(spec, "thresholds")[0] == "scratch"
    spec["vicreg"] = _cut(0.1, True, 0.7, 0.92, auc=0.8, target="specificity:0.90")
    name, words = select_variant(spec, "thresholds")
    assert name == "vicreg" and "tied on it with scratch; chosen by the higher AUC" in words
    # a variant without the cut's figures (not two grades, no target): the old rule, as before
    assert select_variant({**metrics, "scratch": {"qwk": 0.9, "auc": 0.5}}, "thresholds")[0] == "scratch"
