"""What the results pages say of UMM under today's RetinaMNIST recipe (stats audit F1): one run's
paired bootstrap interval, the lowest of the runs, had been quoted alone as "the one
evidence". bench.summarize now renders the mean over the seed repeats with its t-interval and
every run's paired interval, computed from the result files."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from bench.summarize import (
    retinamnist_table,
    seed_difference_lines,
    seed_repeat_groups,
    t_bounds,
    umm_evidence_lines,
    umm_protocol_table,
)

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def _v(acc: float, auc_ovr: float, qwk: float) -> dict[str, Any]:
    return {"accuracy": acc, "auc_ovr": auc_ovr, "qwk": qwk, "auc_ovo": 0.7, "macro_f1": 0.3}


def _diff(d: float, low: float, high: float) -> dict[str, float]:
    return {"difference": d, "ci_low": low, "ci_high": high}


def _run(seed: int, umm_qwk: float, paired: bool = False) -> dict[str, Any]:
    record: dict[str, Any] = {
        "command": "python -m bench.retinamnist" + (f" run.seed={seed}" if seed else ""),
        "pretrain_epochs_run": 20, "device": "CPU: test x2",
        "variants": {"scratch": _v(0.50, 0.76, 0.55), "vicreg": _v(0.51, 0.76, 0.56),
                     "vicreg_umm": _v(0.51, 0.76, umm_qwk)}}
    if paired:
        record["umm_minus_vicreg"] = {m: _diff(umm_qwk - 0.56, -0.03, 0.002) for m in ("accuracy", "auc_ovr", "qwk")}
        record["pretrained_minus_scratch"] = {"vicreg_umm": {"qwk": _diff(umm_qwk - 0.55, -0.031, -0.0003)}}
    return record


def test_the_umm_line_gives_the_seeds_mean_its_t_interval_and_each_runs_paired_interval() -> None:
    seeds = {"retinamnist": _run(0, 0.546, paired=True), "retinamnist_seed1": _run(1, 0.558),
             "retinamnist_seed2": _run(2, 0.563)}
    rerun = {**_run(0, 0.567, paired=True), "device": "CPU: other x2"}
    rerun["umm_minus_vicreg"]["qwk"] = _diff(0.007, -0.009, 0.022)
    reruns = {"bench/results/reruns/a.json": rerun, "bench/results/reruns/b.json": rerun}
    text = "\n".join(umm_evidence_lines(seeds["retinamnist"], seeds, reruns))
    diffs = [-0.014, -0.002, 0.003]
    mean = statistics.mean(diffs)
    se = statistics.stdev(diffs) / 3 ** 0.5
    low, high = t_bounds(mean, se, 3)
    assert "over the config's 3 seeds (`retinamnist.json`, `retinamnist_seed1.json`, `retinamnist_seed2.json`: " \
           "QWK -0.014, -0.002, +0.003;" in text
    assert f"QWK {mean:+.4f} (SE {se:.4f}; {low:+.4f}..{high:+.4f})" in text
    assert "training noise only" in text and "the sampling of the images only" in text
    assert "the committed run (`retinamnist.json`, CPU: test x2) -0.014 (-0.030..+0.002) (minus scratch -0.004" in text
    # two reruns with the same figures are said once, both named
    assert ("its reruns of the same recipe and seed on CPU: other x2 (`bench/results/reruns/a.json`, "
            "`bench/results/reruns/b.json`: the same figures) +0.007 (-0.009..+0.022)") in text
    assert "the one evidence" not in text
    # one run alone: no seeds' sentence, the paired interval still said as one run's
    alone = "\n".join(umm_evidence_lines(seeds["retinamnist"]))
    assert "seeds" not in alone and "per run, the paired bootstrap" in alone
    assert umm_evidence_lines({"variants": {}}) == []


def test_the_retinamnist_table_and_the_umm_protocol_carry_the_same_umm_line() -> None:
    seeds = {"retinamnist": _run(0, 0.546, paired=True), "retinamnist_seed1": _run(1, 0.558)}
    line = umm_evidence_lines(seeds["retinamnist"], seeds)[1]
    main = {**seeds["retinamnist"], "pretrained_minus_scratch": {
        "vicreg_umm": {m: _diff(-0.004, -0.031, -0.0003) for m in ("accuracy", "auc_ovr", "qwk")}}}
    assert umm_evidence_lines(main, seeds)[1] in retinamnist_table(main, None, seeds)
    protocol = {"dataset": "retinamnist", "date_utc": "2026-11-30", "variants": {}, "means": {}}
    assert line in umm_protocol_table(protocol, seeds["retinamnist"], seeds)


def test_the_seed_lines_add_umm_minus_vicreg_and_the_groups_are_the_seed_only_runs() -> None:
    runs = {"retinamnist": _run(0, 0.546), "retinamnist_seed1": _run(1, 0.558),
            "retinamnist_s2": {**_run(0, 0.55), "command": "python -m bench.retinamnist pretrain.epochs=10"}}
    groups = seed_repeat_groups(runs)
    assert list(groups) == [20] and list(groups[20]) == ["retinamnist", "retinamnist_seed1"]
    text = "\n".join(seed_difference_lines([r["variants"] for r in groups[20].values()]))
    # -0.014 and -0.002: mean -0.008, SE 0.006
    assert "VICReg + UMM minus VICReg over the same seeds: accuracy +0.0000 (SE 0.0000;" in text
    assert "QWK -0.0080 (SE 0.0060; " in text


def test_the_committed_results_give_the_audited_figures() -> None:
    """The figures the audit checked by hand, from the committed files: UMM - VICReg QWK over
    seeds 0-4, mean -0.0024 (SE 0.0035), and the AMD rerun's +0.007 (-0.009..+0.022)."""
    names = ["retinamnist", *(f"retinamnist_seed{i}" for i in range(1, 5))]
    seeds = {n: json.loads((RESULTS / f"{n}.json").read_text(encoding="utf-8")) for n in names}
    rerun = "bench/results/reruns/retinamnist_amd_epyc.json"
    reruns = {rerun: json.loads((RESULTS.parents[1] / rerun).read_text(encoding="utf-8"))}
    text = "\n".join(umm_evidence_lines(seeds["retinamnist"], seeds, reruns))
    assert "QWK -0.0024 (SE 0.0035; " in text
    assert "QWK -0.014, -0.002, +0.003, +0.006, -0.005;" in text
    assert f"(`{rerun}`) +0.007 (-0.009..+0.022) (minus scratch +0.000 (-0.018..+0.018))" in text
