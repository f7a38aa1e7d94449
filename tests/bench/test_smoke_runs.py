"""A smoke run of the correctness benchmarks (a few steps on the CPU) is never taken for the
committed figures: it writes its own file, says ``"smoke": true``, claims no comparison with a
paper or the seed report, and the README summary leaves it out."""

from __future__ import annotations

import json
from pathlib import Path

from bench import cifar10_vicreg
from bench.summarize import render

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def test_a_short_cifar10_run_is_a_smoke_run_with_its_own_file() -> None:
    full = cifar10_vicreg.smoke_reasons(epochs=100, eval_limit=0, max_steps_per_epoch=0)
    assert full == []
    assert cifar10_vicreg.result_name(None, full) == "cifar10_vicreg"  # the committed figures
    for kwargs in ({"epochs": 1, "eval_limit": 0, "max_steps_per_epoch": 0},
                   {"epochs": 100, "eval_limit": 200, "max_steps_per_epoch": 0},
                   {"epochs": 100, "eval_limit": 0, "max_steps_per_epoch": 2}):
        reasons = cifar10_vicreg.smoke_reasons(**kwargs)
        assert reasons, kwargs
        assert cifar10_vicreg.result_name(None, reasons) == "cifar10_vicreg_smoke"
    assert cifar10_vicreg.result_name("mine", ["--eval-limit 200"]) == "mine"


def test_only_the_full_cifar10_protocol_is_compared_with_the_seed_report() -> None:
    assert cifar10_vicreg.beats_seed_report(80.0, []) is True
    assert cifar10_vicreg.beats_seed_report(70.0, []) is False
    assert cifar10_vicreg.beats_seed_report(99.0, ["1 epoch(s), not 100"]) is None


def test_cifar10_eval_limit_help_says_evenly_spaced_not_first() -> None:
    text = Path(cifar10_vicreg.__file__).read_text(encoding="utf-8")
    assert "first N images" not in text
    assert "evenly spaced" in text


def test_knn_is_skipped_when_k_reaches_the_training_images() -> None:
    assert cifar10_vicreg.knn_ks(50000) == (20, 200)
    assert cifar10_vicreg.knn_ks(200) == (20,)  # k-NN@200 would vote over every image
    assert cifar10_vicreg.knn_ks(15) == ()


def test_summarize_leaves_smoke_results_out(tmp_path: Path) -> None:
    committed = json.loads((RESULTS / "cifar10_vicreg.json").read_text(encoding="utf-8"))
    (tmp_path / "cifar10_vicreg.json").write_text(json.dumps(committed), encoding="utf-8")
    smoke = {**committed, "epochs": 1, "linear_probe_top1": 12.34, "knn_top1_k20": 11.11,
             "beats_seed_report": None, "smoke": True, "command": "python -m bench.cifar10_vicreg --epochs 1"}
    (tmp_path / "cifar10_vicreg_smoke.json").write_text(json.dumps(smoke), encoding="utf-8")
    # a smoke file written under the committed name by the old code, found by its contents
    (tmp_path / "cifar10_vicreg_old.json").write_text(json.dumps(
        {**smoke, "smoke": None, "eval_images": {"train": 250, "test": 200}}), encoding="utf-8")
    low = {"paper": {"comparable": True, "figures": {}}, "labels": {"500": {"finetune": {"mean": 14.0}}},
           "smoke": True}
    (tmp_path / "low_label_mnist_smoke.json").write_text(json.dumps(low), encoding="utf-8")
    text = render(tmp_path)
    assert "74.64" in text  # the committed figure is still shown
    assert "12.34" not in text and "11.11" not in text
    assert "14.00" not in text


def test_a_results_folder_of_smoke_runs_only_has_no_results(tmp_path: Path) -> None:
    (tmp_path / "cifar10_vicreg_smoke.json").write_text(json.dumps(
        {"smoke": True, "epochs": 1, "linear_probe_top1": 12.34}), encoding="utf-8")
    text = render(tmp_path)
    assert "(no results yet)" in text and "12.34" not in text
