"""The "RetinaMNIST, the same job repeated" table of bench.summarize: the selected variant
said again under the current selection rule when a run recorded another."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
