"""The "RetinaMNIST, the same job repeated" table of bench.summarize: the selected variant
said again under the current selection rule when a run recorded another."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.summarize import current_selection, retinamnist_repeats_table, selected_words

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def _v(acc: float, auc_ovr: float, qwk: float = 0.5, auc_ovo: float = 0.7,
       decision: str = "argmax") -> dict[str, Any]:
    return {"accuracy": acc, "auc_ovr": auc_ovr, "qwk": qwk, "auc_ovo": auc_ovo, "decision": decision}


def test_an_accuracy_tie_recorded_under_the_older_rule_is_said_with_the_current_pick() -> None:
    # accuracy tied; vicreg has the higher AUC OvR, so the current rule picks it, where the
    # older rule gave the tie to vicreg_umm by the fixed preference order
    record = {"selected_variant": "vicreg_umm",
              "variants": {"scratch": _v(0.524, 0.766), "vicreg": _v(0.536, 0.7700),
                           "vicreg_umm": _v(0.536, 0.7695)}}
    assert current_selection(record) == "vicreg"
    assert selected_words(record) == "vicreg_umm (recorded, older rule; the current rule picks vicreg)"


def test_a_recorded_selection_the_current_rule_agrees_with_is_said_alone() -> None:
    record = {"selected_variant": "scratch", "variants": {"scratch": _v(0.54, 0.76), "vicreg": _v(0.53, 0.77)}}
    assert selected_words(record) == "scratch"
    assert selected_words({"variants": record["variants"]}) == ""  # names none
    assert selected_words({"selected_variant": "vicreg", "variants": {}}) == "vicreg"  # no figures: as recorded


def test_the_thresholds_decision_ranks_by_qwk_and_breaks_a_tie_by_the_recorded_auc_ovo() -> None:
    variants = {"scratch": _v(0.60, 0.90, qwk=0.55, auc_ovo=0.71, decision="thresholds"),
                "vicreg": _v(0.50, 0.70, qwk=0.55, auc_ovo=0.72, decision="thresholds")}
    assert current_selection({"variants": variants}) == "vicreg"
    mixed = {**variants, "vicreg_umm": _v(0.5, 0.7, decision="argmax")}
    assert current_selection({"variants": mixed}) is None  # no one rule
    assert selected_words({"selected_variant": "scratch", "variants": mixed}) == "scratch"


def test_the_repeated_table_shows_the_current_pick_beside_the_recorded_one() -> None:
    main = {"command": "python -m bench.retinamnist --fresh", "seconds_total": 10.0, "selected_variant": "vicreg",
            "variants": {"scratch": _v(0.53, 0.76), "vicreg": _v(0.53, 0.77), "vicreg_umm": _v(0.52, 0.76)}}
    seed = {"command": "python -m bench.retinamnist --fresh --name retinamnist_seed4 run.seed=4",
            "seconds_total": 12.0, "selected_variant": "vicreg_umm",
            "variants": {"scratch": _v(0.524, 0.766), "vicreg": _v(0.536, 0.7700), "vicreg_umm": _v(0.536, 0.7695)}}
    table = "\n".join(retinamnist_repeats_table({"retinamnist": main, "retinamnist_seed4": seed}))
    assert "| vicreg | 10.0 |" in table
    assert "| vicreg_umm (recorded, older rule; the current rule picks vicreg) | 12.0 |" in table


def test_the_committed_seed4_run_is_said_with_the_current_pick() -> None:
    record = json.loads((RESULTS / "retinamnist_seed4.json").read_text(encoding="utf-8"))
    assert record["selected_variant"] == "vicreg_umm"  # the file stays as its run wrote it
    assert selected_words(record) == "vicreg_umm (recorded, older rule; the current rule picks vicreg)"
    main = json.loads((RESULTS / "retinamnist.json").read_text(encoding="utf-8"))
    assert selected_words(main) == "vicreg"  # the accuracy tie with scratch, broken by AUC OvR both ways


def test_t_bounds_on_two_seeds_by_hand() -> None:
    from bench.summarize import t_bounds, t_interval

    # differences 0.01 and 0.03: mean 0.02, SD 0.01 * sqrt(2), SE 0.01; t(0.975, 1) = 12.7062
    low, high = t_bounds(0.02, 0.01, 2)
    assert abs(low - (0.02 - 0.127062)) < 1e-6 and abs(high - (0.02 + 0.127062)) < 1e-6
    assert t_interval(0.02, 0.01, 2) == "-0.1071..+0.1471"
    assert t_bounds(0.02, 0.01, 1) is None and t_interval(0.02, 0.01, 1) == ""


def test_mark_power_with_no_true_gain_is_the_marks_false_pass_rate() -> None:
    from bench.summarize import mark_power

    # Student t closed forms: P(T_2 > 2) = 1/2 - 1/sqrt(6); P(T_4 > 2) = 1/2 - 5 sqrt(2) / 16
    assert abs(mark_power(0.0, 0.01, 3) - (0.5 - 6 ** -0.5)) < 1e-9
    assert abs(mark_power(0.0, 0.01, 5) - (0.5 - 5 * 2 ** 0.5 / 16)) < 1e-9  # 0.058: "about a one-sided 6 % test"


def test_mark_power_is_the_noncentral_t_tail() -> None:
    import math

    from scipy.integrate import quad
    from scipy.stats import norm

    from bench.summarize import mark_power

    # 3 seeds, SD 0.01 * sqrt(3) / 2.5: noncentrality 0.01 * sqrt(3) / SD = 2.5. With 2 degrees of
    # freedom chi2(2) / 2 ~ Exp(1), so P((Z + 2.5) / sqrt(W) > 2) = integral of e^-w Phi(2.5 - 2 sqrt(w))
    by_hand = quad(lambda w: math.exp(-w) * norm.cdf(2.5 - 2 * math.sqrt(w)), 0, math.inf)[0]
    assert abs(mark_power(0.01, 0.01 * math.sqrt(3) / 2.5, 3) - by_hand) < 1e-7
    # many seeds: the SE is as good as known, power -> Phi(noncentrality - 2) = Phi(1) = 0.8413
    assert abs(mark_power(0.03, 1.0, 10000) - 0.8413) < 1e-3
    assert mark_power(0.02, 0.01, 5) > mark_power(0.01, 0.01, 5) > mark_power(0.01, 0.02, 5)
    for n, sd in ((1, 0.01), (5, 0.0), (5, float("nan"))):
        with pytest.raises(ValueError, match="two or more seeds and a positive finite SD"):
            mark_power(0.01, sd, n)


def test_sd_bounds_is_the_chi_square_interval_of_the_sd() -> None:
    import math

    from bench.summarize import sd_bounds

    # 3 seeds, 2 degrees of freedom: chi2(2).ppf(p) = -2 ln(1 - p), so the 95 % interval of the
    # true SD is SD / sqrt(-ln 0.025) .. SD / sqrt(-ln 0.975)
    low, high = sd_bounds(0.01, 3)
    assert abs(low - 0.01 / math.sqrt(-math.log(0.025))) < 1e-12
    assert abs(high - 0.01 / math.sqrt(-math.log(0.975))) < 1e-12
    # the README's 5 seeds: 0.0094 is known only to about 0.0056..0.027
    low, high = sd_bounds(0.0094, 5)
    assert round(low, 4) == 0.0056 and round(high, 3) == 0.027
    assert sd_bounds(0.0094, 5, 0.5)[0] > low and sd_bounds(0.0094, 50)[1] < high  # narrower: lower level, more seeds
    for n, sd, level in ((1, 0.01, 0.95), (5, 0.0, 0.95), (5, float("inf"), 0.95), (5, 0.01, 1.0)):
        with pytest.raises(ValueError, match="two or more seeds, a positive finite SD and a level"):
            sd_bounds(sd, n, level)


def test_mark_power_bounds_is_the_power_at_each_end_of_the_sd_interval() -> None:
    from bench.summarize import mark_power, mark_power_bounds, sd_bounds

    low, high = sd_bounds(0.0094, 5)
    weakest, strongest = mark_power_bounds(0.01, 0.0094, 5)
    assert weakest == mark_power(0.01, high, 5) and strongest == mark_power(0.01, low, 5)
    # the plug-in 0.66 at the observed SD (the README's 0.67 has the unrounded SD) runs from
    # about 0.19 to 0.96 over the SD's interval
    assert round(weakest, 2) == 0.19 and round(strongest, 2) == 0.96
    assert weakest < mark_power(0.01, 0.0094, 5) < strongest
    assert mark_power_bounds(0.01, 0.0094, 5, multiple=3.0)[1] < strongest  # a stricter mark passes less


def test_seed_difference_lines_on_two_seeds_by_hand() -> None:
    from scipy.stats import norm

    from bench.summarize import mark_power, seed_difference_lines

    seeds = [{"scratch": _v(0.50, 0.760, 0.50), "vicreg": _v(0.51, 0.760, 0.52)},
             {"scratch": _v(0.50, 0.760, 0.50), "vicreg": _v(0.53, 0.762, 0.54)}]
    text = "\n".join(seed_difference_lines(seeds, "20 VICReg epochs"))
    assert "over the config's 2 seeds (20 VICReg epochs)" in text and "t(0.975, 1) x SE" in text
    # accuracy 0.01, 0.03; AUC OvR 0, 0.002; QWK 0.02, 0.04: SE 0.01, 0.001, 0.01
    assert ("VICReg - scratch: accuracy +0.0200 (SE 0.0100; -0.1071..+0.1471), AUC OvR +0.0010 "
            "(SE 0.0010; -0.0117..+0.0137), QWK +0.0300 (SE 0.0100; -0.0971..+0.1571).") in text
    assert "VICReg + UMM" not in text  # no such variant in these runs
    sd = 0.02 ** 0.5 / 10  # SD of 0.01, 0.03
    power = mark_power(0.01, sd, 2)
    assert "to catch a true +0.01 accuracy gain" in text and f"VICReg {power:.2f} (SD 0.0141;" in text
    assert "VICReg 0.38 (SD 0.0141;" in text  # noncentral t, 1 degree of freedom, noncentrality 1
    # the figure holds only at the observed SD: its chi-square interval from 1 degree of freedom
    # (chi2(1) = Z^2: low = SD / z(0.9875), high = SD / z(0.5125)) and the power at each end
    assert "holds only if the true SD of the per-seed accuracy differences is the one these seeds show" in text
    low, high = sd / norm.ppf(0.9875), sd / norm.ppf(0.5125)
    weakest, strongest = mark_power(0.01, high, 2), mark_power(0.01, low, 2)
    assert f"VICReg 0.38 (SD 0.0141; true SD {low:.4f}..{high:.4f}: {weakest:.2f}..{strongest:.2f})." in text
    assert weakest < 0.38 < strongest
    assert seed_difference_lines(seeds[:1]) == []
    assert seed_difference_lines([{"vicreg": s["vicreg"]} for s in seeds]) == []  # no scratch


def test_the_repeated_table_carries_the_seed_differences_under_it() -> None:
    runs = {"retinamnist": {"command": "python -m bench.retinamnist", "pretrain_epochs_run": 20,
                            "variants": {"scratch": _v(0.50, 0.76), "vicreg": _v(0.51, 0.76),
                                         "vicreg_umm": _v(0.50, 0.77)}},
            "retinamnist_seed1": {"command": "python -m bench.retinamnist run.seed=1", "pretrain_epochs_run": 20,
                                  "variants": {"scratch": _v(0.50, 0.76), "vicreg": _v(0.53, 0.76),
                                               "vicreg_umm": _v(0.52, 0.77)}}}
    lines = retinamnist_repeats_table(runs)
    last_row = max(i for i, line in enumerate(lines) if line.startswith("|"))
    assert lines[last_row].startswith("| range over the config's 2 seeds")
    below = "\n".join(lines[last_row + 1:])
    assert below.startswith("\nPretrained minus scratch over the config's 2 seeds (20 VICReg epochs)")
    assert "VICReg - scratch: accuracy +0.0200" in below and "VICReg + UMM - scratch: accuracy +0.0100" in below
    assert "VICReg + UMM 0." in below and "(SD 0.0141; true SD 0.0063..0.4513: " in below


def test_a_named_experiment_that_changes_the_job_is_not_in_the_repeated_table(tmp_path: Path) -> None:
    """bench.retinamnist now writes a named experiment (``--name retinamnist_no_umm
    umm.enabled=false``) with its ``protocol_departures``; the "same job repeated" table took
    every ``retinamnist_*.json``. A run that departs only by its seed stays there; one that
    changes the job goes in a table of its own."""
    from bench.summarize import _other_blocks

    base = json.loads((RESULTS / "retinamnist_seed1.json").read_text(encoding="utf-8"))
    records = {"retinamnist": json.loads((RESULTS / "retinamnist.json").read_text(encoding="utf-8")),
               "retinamnist_seed9": {**base, "protocol_departures": ["run.seed=9 (the protocol's: 0)"]},
               "retinamnist_no_umm": {**base, "protocol_departures": ["umm.enabled=False (the protocol's: True)"]}}
    for stem, record in records.items():
        (tmp_path / f"{stem}.json").write_text(json.dumps(record), encoding="utf-8")
    blocks = {names: "\n".join(lines) for names, lines in _other_blocks(tmp_path, records.get)}
    repeated = next(text for text in blocks.values() if "the same job repeated" in text)
    changed = next(text for text in blocks.values() if "experiments that change the job" in text)
    assert "| retinamnist_seed9 |" in repeated and "retinamnist_no_umm" not in repeated
    assert "| retinamnist_no_umm |" in changed and "retinamnist_seed9" not in changed
