"""bench/keep_selection.py reads a fine-tuning stage's files into the figures it compares,
and the README row says which rule each figure is under."""

from __future__ import annotations

import json
from pathlib import Path

from bench.keep_selection import optimism, paired_differences, variant_figures
from bench.summarize import keep_selection_rows


def _finetune_dir(root: Path, qwk: dict[str, float], kept: list[int], keep: str) -> Path:
    ft = root / keep / "finetune"
    rows = []
    for variant, q in qwk.items():
        (ft / variant).mkdir(parents=True)
        rows.append({"variant": variant, "qwk": q, "qwk_ci_low": q - 0.05, "qwk_ci_high": q + 0.05,
                     "auc": q + 0.1, "auc_ovr": q + 0.05, "accuracy": q - 0.01})
        folds = [{"best_epoch": e - 1, "epochs_run": 8} for e in kept]
        (ft / variant / "metrics.json").write_text(json.dumps({"folds": folds, "keep": keep}))
    diff = {"qwk": {"difference": qwk["vicreg"] - qwk["scratch"], "ci_low": 0.0, "ci_high": 0.2}}
    (ft / "comparison.json").write_text(json.dumps({"rows": rows, "pretrained_minus_scratch": {"vicreg": diff}}))
    return ft


def test_figures_per_variant_and_what_the_epoch_choice_added(tmp_path: Path) -> None:
    best = _finetune_dir(tmp_path, {"scratch": 0.67, "vicreg": 0.77}, [7, 6, 5, 8, 8], "best")
    last = _finetune_dir(tmp_path, {"scratch": 0.65, "vicreg": 0.765}, [8] * 5, "last")
    figures = {"best": variant_figures(best), "last": variant_figures(last)}
    assert figures["best"]["scratch"]["kept_epochs"] == [7, 6, 5, 8, 8]  # 1-based
    assert figures["last"]["vicreg"]["qwk_ci95"] == [0.765 - 0.05, 0.765 + 0.05]
    added = optimism(figures)
    assert abs(added["scratch"]["qwk"] - 0.02) < 1e-12 and abs(added["vicreg"]["qwk"] - 0.005) < 1e-12
    assert abs(added["vicreg"]["auc"] - 0.005) < 1e-12
    diffs = {"best": paired_differences(best), "last": paired_differences(last)}
    assert abs(diffs["best"]["vicreg"]["qwk"]["difference"] - 0.10) < 1e-12
    assert abs(diffs["last"]["vicreg"]["qwk"]["difference"] - 0.115) < 1e-12

    record = {"variants": figures, "pretrained_minus_scratch": diffs, "run_dir": "runs/default",
              "device": "CPU", "date_utc": "2026-12-04T00:00:00+00:00", "command": "python -m bench.keep_selection"}
    (row,) = keep_selection_rows(record)
    assert "scratch QWK 0.670 best / 0.650 last (+0.020)" in row
    assert "vicreg QWK 0.770 best / 0.765 last (+0.005)" in row
    assert "vicreg - scratch QWK +0.100 best / +0.115 last" in row
    assert "patience" not in row and "not retrained" not in row

    # review s51 R6: the row names the patience the best side ran under and which side is the
    # source run's own folds, not retrained by the code that trained the other
    reused = {rule: {v: {**f, "folds_taken_from": {"runs/default": [0, 1, 2, 3, 4]}} if rule == "best" else f
                     for v, f in by.items()} for rule, by in figures.items()}
    (row,) = keep_selection_rows({**record, "variants": reused, "config_finetune": {"patience": 4}})
    assert "keep=best with patience 4: the source run's own fine-tuned folds" in row, row
    assert "keep=last: retrained" in row
