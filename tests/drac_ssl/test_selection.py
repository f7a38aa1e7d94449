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
