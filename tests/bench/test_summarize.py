"""The README's results rows for the app's speed and load results (issue #14)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.summarize import app_load_rows, app_speed_rows


def test_app_rows_show_goal_queue_neighbour_and_load() -> None:
    speed = {"repeats": 3, "calls_per_block": 20, "environment": {"cpu_cores": 2}, "command": "c",
             "results": {
                 "idle": {"model_time_s": {"p50": 0.17, "p95": 0.2}, "goal_met": True,
                          "decode_s": {"p50": 0.014}, "reference_ms_median": 1970.0,
                          "load_avg_1min": [3.6, 4.0]},
                 "busy_neighbour": {"model_time_s": {"p50": 0.43, "p95": 0.48}, "goal_met": False,
                                    "reference_ms_median": 4870.0, "load_avg_1min": [3.8]}}}
    row = app_speed_rows(speed)[0]
    assert "idle p50 0.17 s / p95 0.2 s (met)" in row
    assert "one busy neighbour p50 0.43 s / p95 0.48 s (NOT met)" in row
    assert "load average 3.6-4.0 on 2 cores" in row and "1.97 s idle, 4.87 s busy" in row
    load = {"config": {"clients": 20, "requests_per_client": 5, "rounds": 2, "neighbour": "one other",
                       "interleaved_with": "rounds without"},
            "queue": {"model_workers": 1, "queue_size": 32}, "app_threads": 1,
            "environment": {"cpu_cores": 2},
            "results": {"latency_s": {"p50": 7.0, "p95": 9.0}, "server_inference_s": {"p50": 0.26},
                        "errors": 0, "refused_busy": 0, "throughput_images_per_s": 2.4,
                        "load_avg_1min_during": {"min": 5.2, "max": 6.5}}}
    row = app_load_rows("app_load_x_busy", load)[0]
    assert "20 concurrent clients x 5 requests x 2 rounds" in row and "one busy neighbour" in row
    assert "1 model worker(s) x 1 thread(s), queue 32" in row and "refused (busy) 0" in row
    assert "load average 5.2-6.5 on 2 cores" in row


def test_the_app_load_row_says_the_servers_memory_where_the_record_has_it() -> None:
    """Trial F5a: a deployment engineer asked how much memory the app needs; bench/app_load.py
    records the server's VmRSS / VmHWM, and the row says them (nothing for an older record)."""
    from bench.summarize import app_memory_words

    record: dict[str, Any] = {
        "server_memory_mib": {"started": {"vmrss_mib": 1043.0, "vmhwm_mib": 1043.0},
                              "after_rounds_and_batch": {"vmrss_mib": 1114.6, "vmhwm_mib": 1122.8},
                              "after_large_image": {"vmrss_mib": 1117.8, "vmhwm_mib": 1710.2}},
        "large_image": {"side_px": 6300, "file_mib": 27.6}}
    assert app_memory_words(record) == (
        "; server resident 1043.0 MiB once loaded, 1114.6 MiB after the rounds, peak 1122.8 MiB; "
        "peak 1710.2 MiB after one 6300 px 16-bit RGB upload (27.6 MiB PNG)")
    assert "peak 1710.2 MiB after one 6300 px" in app_load_rows("app_load_memory", record)[0]
    # a float TIFF (--large-format float-tiff) is said as one, and its refusal too
    record["large_image"] = {"side_px": 6300, "file_mib": 47.6, "refused": "`x.tif` is ... 476 MB decoded",
                             "image": "32-bit float RGB TIFF (deflate), three equal channels 0..1"}
    assert app_memory_words(record).endswith(
        "after one 6300 px 32-bit float RGB upload (47.6 MiB TIFF, refused before decoding)")
    del record["large_image"]
    assert app_memory_words(record).endswith("peak 1122.8 MiB")
    assert app_memory_words({}) == ""


def test_committed_app_results_render() -> None:
    results = Path(__file__).resolve().parents[2] / "bench" / "results"
    for name in ("app_speed", "app_load_drac224_c20", "app_load_drac224_c20_busy", "app_load_memory"):
        record = json.loads((results / f"{name}.json").read_text(encoding="utf-8"))
        rows = app_speed_rows(record) if name == "app_speed" else app_load_rows(name, record)
        assert rows and "None" not in rows[0].split("|")[2]  # every figure is there


def test_one_client_is_said_in_the_singular() -> None:
    """Review F6: app_load_memory's row and headline said "1 concurrent clients" / "1 clients"."""
    from bench.summarize import _app_load_headline

    results = Path(__file__).resolve().parents[2] / "bench" / "results"
    record = json.loads((results / "app_load_memory.json").read_text(encoding="utf-8"))
    assert record["config"]["clients"] == 1
    row, headline = app_load_rows("app_load_memory", record)[0], _app_load_headline(record) or ""
    assert "(app_load_memory): 1 client x 3 requests," in row and "clients" not in row.split("|")[1]
    assert headline.startswith("1 client, no neighbour") and "clients" not in headline
    several = {**record, "config": {**record["config"], "clients": 4}}
    assert "4 concurrent clients x 3 requests" in app_load_rows("app_load_memory", several)[0]
    assert (_app_load_headline(several) or "").startswith("4 clients, ")


def test_retinamnist_table_carries_every_variant_the_floor_and_the_published_figures() -> None:
    from bench.summarize import retinamnist_rows, retinamnist_table

    variant = {"qwk": 0.55, "qwk_ci95": [0.5, 0.6], "accuracy": 0.515, "auc_ovr": 0.745, "auc_ovo": 0.693,
               "macro_f1": 0.4, "decision_rules": {"thresholds": {"qwk": 0.559, "accuracy": 0.492}}}
    record = {"variants": {"scratch": variant, "vicreg": {**variant, "qwk": 0.53}},
              "pixel_floor": {**variant, "qwk": 0.487, "decision_rules": None},
              "published_test_split": {"resnet18": {"accuracy": 0.524, "auc_ovr": 0.717}, "note": "x"},
              "seconds_total": 1458.0, "goal": "< 2400 s", "goal_met": True,
              "seconds_per_stage": {"pretrain": 446.9}, "environment": {},
              "pretraining_images": "1600 images, ingest at /home/ci/work/main/runs/bench-retinamnist/data"}
    table = "\n".join(retinamnist_table(record))
    assert "ingest at runs/bench-retinamnist/data;" in table  # as in a reader's clone
    assert "| scratch | 0.550 [0.500, 0.600] | 0.515 | 0.745 | 0.693 | 0.400 | 0.559 / 0.492 |" in table
    assert "| vicreg | 0.530" in table and "raw pixels (floor) | 0.487" in table
    assert "resnet18: accuracy 0.524, AUC OvR 0.717" in table
    # audit F4: the published test-split figures are said not comparable, beside the CV ones
    assert "(not comparable, shown for orientation: other images and training, not cross-validation): " \
           "resnet18: accuracy 0.524" in table
    row = retinamnist_rows(record)[0]
    assert "1458.0 s total (< 2400 s: met)" in row and "pretrain 446.9 s" in row


def test_a_retinamnist_record_without_out_of_fold_files_says_its_accuracy_has_no_interval() -> None:
    """Audit F5: the committed job kept no out-of-fold predictions, so its accuracy and AUC have
    no bootstrap interval; the table and the README headline say so, with the accuracy's
    binomial SE in its place, and say nothing of the kind once a run keeps the files."""
    from bench.summarize import (
        _job_headline,
        accuracy_binomial_se,
        no_interval_line,
        retinamnist_table,
    )

    m = {"n": 1200, "qwk": 0.56, "qwk_ci95": [0.516, 0.603], "accuracy": 0.532, "auc_ovr": 0.768,
         "auc_ovo": 0.72, "macro_f1": 0.36}
    record = {"variants": {"scratch": m, "vicreg": {**m, "accuracy": 0.5}}, "environment": {}}
    assert accuracy_binomial_se(record) == pytest.approx((0.5 * 0.5 / 1200) ** 0.5)  # the largest
    line = no_interval_line(record)[-1]
    # re-audit: the levels have no interval, not the run: its QWK column and (where recorded) its
    # paired differences were bootstrapped while it ran, and the line says which of them it holds
    assert line.startswith("The variants' accuracy and AUC levels have no interval here (QWK was bootstrapped "
                           "during the run; its result file names no out-of-fold files).")
    diff = {"difference": 0.0, "ci_low": -0.01, "ci_high": 0.01}
    paired = {**record, "pretrained_minus_scratch": {"vicreg": {k: diff for k in ("accuracy", "auc_ovr", "qwk")}}}
    assert no_interval_line(paired)[-1].startswith(
        "The variants' accuracy and AUC levels have no interval here (QWK and the paired differences below "
        "were bootstrapped during the run; its result file names no out-of-fold files).")
    bare = {"variants": {"scratch": {k: v for k, v in m.items() if k != "qwk_ci95"}}}
    assert no_interval_line(bare)[-1].startswith(
        "The variants' accuracy and AUC levels have no interval here (its result file names no out-of-fold files).")
    assert "none can be computed" not in "\n".join(no_interval_line(paired))
    assert "on 1,200 images is about 0.014 (approximate" in line and "`bench/retinamnist.py`" in line
    assert line in "\n".join(retinamnist_table(record))
    assert _job_headline(record).startswith("accuracy (binomial SE ~0.014; no interval kept) / QWK: scratch 0.532")
    kept = {**record, "oof_files": {"scratch": {"file": "x.csv"}}}
    assert no_interval_line(kept) == [] and _job_headline(kept).startswith("accuracy / QWK: scratch")
    assert accuracy_binomial_se({"variants": {"scratch": {"accuracy": 0.5}}}) is None  # no n: nothing guessed


def test_retinamnist_repeats_show_their_settings_and_the_vicreg_minus_scratch_difference() -> None:
    from bench.summarize import retinamnist_repeats_table

    def variant(acc: float, auc: float, qwk: float) -> dict[str, float]:
        return {"accuracy": acc, "auc_ovr": auc, "qwk": qwk}

    main = {"command": "python -m bench.retinamnist --fresh", "seconds_total": 1192.6, "selected_variant": "scratch",
            "variants": {"scratch": variant(0.532, 0.768, 0.560), "vicreg": variant(0.530, 0.770, 0.550)}}
    seed = {"command": "python -m bench.retinamnist --fresh --name retinamnist_seed1 run.seed=1",
            "seconds_total": 1300.0, "variants": {"scratch": variant(0.522, 0.766, 0.540)}}
    table = "\n".join(retinamnist_repeats_table({"retinamnist": main, "retinamnist_seed1": seed}))
    assert "| retinamnist | `(the config)` | 0.532 / 0.768 / 0.560 | 0.530 / 0.770 / 0.550 |" in table
    # the variant each run selected (review s52r F5: it changes from seed to seed)
    assert "| -0.002, +0.002, -0.010 | scratch | 1192.6 |" in table
    assert "| retinamnist_seed1 | `run.seed=1` | 0.522 / 0.766 / 0.540 |  |  |  |  | 1300.0 |" in table
    assert "| mean of the config's 2 seeds | `(the config), run.seed varies` | 0.527 / 0.767 / 0.550 |  |  |  |  |  |" in table
    other = {**seed, "command": "python -m bench.retinamnist pretrain.backbone.stem_stride=2 run.seed=1"}
    table = "\n".join(retinamnist_repeats_table({"retinamnist": main, "retinamnist_s2": other}))
    assert "mean of" not in table  # a run with other settings is no seed of the config


def test_umm_protocol_settings_show_the_shared_data_as_a_reader_types_it() -> None:
    from bench.summarize import umm_protocol_table

    record = {"dataset": "retinamnist", "settings_for_every_run": [
        "data.root=/home/ci/work/shared/data/retinamnist/retinamnist_public.npz", "pretrain.epochs=40"],
        "variants": {}, "environment": {}}
    header = "\n".join(umm_protocol_table(record))
    assert "`data.root=../shared/data/retinamnist/retinamnist_public.npz pretrain.epochs=40`" in header


def test_fill_replaces_only_between_the_markers_and_names_missing_ones(tmp_path: Path) -> None:
    from bench.summarize import RETINA_BEGIN, RETINA_END, _fill

    text = f"intro\n{RETINA_BEGIN}\nold table\n{RETINA_END}\nafter"
    out = _fill(text, RETINA_BEGIN, RETINA_END, "| new |", tmp_path / "README.md")
    assert out == f"intro\n{RETINA_BEGIN}\n| new |\n{RETINA_END}\nafter"
    assert _fill(out, RETINA_BEGIN, RETINA_END, "| new |", tmp_path) == out  # idempotent
    with pytest.raises(SystemExit, match="retinamnist:begin"):
        _fill("no markers", RETINA_BEGIN, RETINA_END, "x", tmp_path / "README.md")


def test_ingest_memory_row_shows_growth_against_the_cache() -> None:
    from bench.summarize import ingest_memory_rows

    record = {"data": "phantom", "sizes": [256], "command": "python -m bench.ingest_memory",
              "runs": {"workers_1": {"growth_mb": 39.0, "cache_mb": 311.6, "growth_over_cache": 0.125,
                                     "peak_rss_mb": 205.1}}}
    (row,) = ingest_memory_rows(record)
    assert "+39.0 MB" in row and "311.6 MB cache (0.125x)" in row and "workers 1" in row


def test_retinamnist_epochs_table_shows_each_seed_against_its_scratch() -> None:
    from bench.summarize import retinamnist_epochs_table

    m = {"accuracy": 0.5, "auc_ovr": 0.75, "qwk": 0.55}
    longer = {"accuracy": 0.51, "auc_ovr": 0.76, "qwk": 0.57}
    record = {"epochs": 60, "per_seed": {"0": {"committed": {"scratch": m, "vicreg": m}, "vicreg60": longer}},
              "differences": {"vicreg60_minus_scratch": {"qwk": {"mean": 0.02, "se": 0.001, "positive": 1, "n": 1}}}}
    text = "\n".join(retinamnist_epochs_table(record))
    assert "| 0 | 0.500 / 0.750 / 0.550 | 0.500 / 0.750 / 0.550 | 0.510 / 0.760 / 0.570 | +0.010, +0.010, +0.020 |" in text
    assert "qwk +0.0200 (SE 0.0010, 1 of 1 seeds > 0)" in text


def test_retinamnist_epochs_table_with_own_scratch_compares_with_the_runs_scratch_only() -> None:
    from bench.summarize import retinamnist_epochs_table

    committed = {"accuracy": 0.9, "auc_ovr": 0.9, "qwk": 0.9}  # all labels: must not be shown
    own = {"accuracy": 0.4, "auc_ovr": 0.7, "qwk": 0.3}
    changed = {"accuracy": 0.45, "auc_ovr": 0.72, "qwk": 0.35}
    record = {"epochs": 20, "own_scratch": True, "overrides": ["finetune.label_fraction=0.1"],
              "per_seed": {"0": {"committed": {"scratch": own, "vicreg": committed, "scratch_from": "this run"},
                                 "vicreg20_ll10": changed}}}
    text = "\n".join(retinamnist_epochs_table(record))
    assert "| 0 | 0.400 / 0.700 / 0.300 | 0.450 / 0.720 / 0.350 | +0.050, +0.020, +0.050 |" in text
    assert "0.900" not in text and "same run" in text and "label_fraction=0.1" in text


def test_retinamnist_epochs_table_states_the_hypothesis_and_the_two_se_mark() -> None:
    """Each table says what it tested and, for the difference with scratch, how far the mean is
    from zero in standard errors in accuracy and AUC OvR: the mark committed before the runs
    (met only when both are above 2); a difference with another variant is not judged."""
    from bench.summarize import retinamnist_epochs_table

    def diff(mean: float, se: float) -> dict[str, float]:
        return {"mean": mean, "se": se, "positive": 4, "n": 5}

    record = {"epochs": 60, "hypothesis": "longer pretraining helps", "per_seed": {},
              "differences": {"vicreg60_minus_scratch": {"accuracy": diff(0.0083, 0.0041),
                                                         "auc_ovr": diff(0.0011, 0.0011),
                                                         "qwk": diff(0.02, 0.001)},
                              "vicreg60_minus_vicreg20": {"accuracy": diff(0.01, 0.001),
                                                          "auc_ovr": diff(0.01, 0.001)}}}
    lines = retinamnist_epochs_table(record)
    assert "Hypothesis: longer pretraining helps." in lines
    (mark,) = [line for line in lines if line.startswith("Mark ")]
    assert mark == ("Mark (the mean VICReg - scratch difference above twice its standard error in "
                    "accuracy and in AUC OvR): not met (accuracy 2.02 SE, AUC OvR 1.00 SE).")
    record["differences"]["vicreg60_minus_scratch"]["auc_ovr"] = diff(0.003, 0.001)
    (mark,) = [line for line in retinamnist_epochs_table(record) if line.startswith("Mark ")]
    assert mark.endswith("): met (accuracy 2.02 SE, AUC OvR 3.00 SE).")
    record["differences"]["vicreg60_minus_scratch"]["auc_ovr"] = diff(-0.003, 0.0)
    (mark,) = [line for line in retinamnist_epochs_table(record) if line.startswith("Mark ")]
    assert mark.endswith("): not met (accuracy 2.02 SE, AUC OvR -0.0030 with SE 0).")

def test_the_mark_is_judged_at_mark_se_the_figure_the_power_line_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """One constant, bench.summarize.MARK_SE, sets both the judge and the power line's mark: a
    difference at 2.5 SE passes at 2 and fails at 3, and the words name the multiple used."""
    import bench.summarize as summarize

    at = {"accuracy": {"mean": 0.0025, "se": 0.001}, "auc_ovr": {"mean": 0.0025, "se": 0.001}}
    assert summarize.MARK_SE == 2.0
    assert ": met (accuracy 2.50 SE, AUC OvR 2.50 SE)." in summarize.two_se_mark_line(at)
    monkeypatch.setattr(summarize, "MARK_SE", 3.0)
    line = summarize.two_se_mark_line(at)
    assert line.startswith("Mark (the mean VICReg - scratch difference above 3 times its standard error")
    assert line.endswith(": not met (accuracy 2.50 SE, AUC OvR 2.50 SE).")


def test_the_two_se_mark_is_judged_on_the_seeds_figures_not_the_rounded_mean() -> None:
    """The bench rounds the mean and SE to 4 decimals: a result at the mark could be judged on
    the rounding. With every seed's figures at hand the ratio is recomputed from them (here
    the rounded 0.0020 / 0.0010 would say exactly 2.00 and 'not met'; the seeds give 2.07)."""
    from bench.summarize import retinamnist_epochs_table

    scratch = {"accuracy": 0.5, "auc_ovr": 0.7, "qwk": 0.5}
    gains = [0.0, 0.001, 0.002, 0.003, 0.00465]  # mean 0.00213, SE 0.00082: 2.59 SE
    auc = [0.0, 0.0015, 0.0018, 0.002, 0.0047]  # mean 0.0020, SE 0.00076 -> recomputed
    per_seed = {str(i): {"committed": {"scratch": scratch, "scratch_from": "this run"},
                         "vicreg60_confirm": {"accuracy": 0.5 + g, "auc_ovr": 0.7 + a, "qwk": 0.5}}
                for i, (g, a) in enumerate(zip(gains, auc, strict=True))}
    rounded = {"mean": 0.002, "se": 0.001, "positive": 4, "n": 5}
    record = {"epochs": 60, "own_scratch": True, "per_seed": per_seed,
              "differences": {"vicreg60_confirm_minus_scratch": {"accuracy": rounded, "auc_ovr": rounded}}}
    (mark,) = [line for line in retinamnist_epochs_table(record) if line.startswith("Mark ")]
    import statistics

    def ratio(values: list[float]) -> float:
        return statistics.mean(values) / (statistics.stdev(values) / len(values) ** 0.5)

    assert mark.endswith(f"): met (accuracy {ratio(gains):.2f} SE, AUC OvR {ratio(auc):.2f} SE)."), mark
    assert ratio(auc) > 2.0  # the premise: met by the seeds, not by the rounded 0.0020 / 0.0010

def test_retinamnist_epochs_table_carries_the_notes_of_the_result_file() -> None:
    from bench.summarize import retinamnist_epochs_table

    record = {"epochs": 20, "per_seed": {}, "notes_added_after_the_run": ["the ensemble saw more labels"]}
    assert "Note: the ensemble saw more labels" in "\n".join(retinamnist_epochs_table(record))


def test_retinamnist_epochs_table_says_what_the_pretraining_started_from(tmp_path: Path) -> None:
    import json

    from bench.retinamnist_epochs import initial_weights
    from bench.summarize import retinamnist_epochs_table

    assert initial_weights(["finetune.epochs=5"]) is None
    run = tmp_path / "cifar_init"
    (run / "pretrain").mkdir(parents=True)
    (run / "pretrain" / "metadata.json").write_text(json.dumps({
        "training_data": "cifar10 train split (50000 images)", "epochs_run": 8, "metrics": {"loss": 20.4},
        "config": {"pretrain": {"max_steps_per_epoch": 150, "batch_size": 64}}}))
    (run / "stages.json").write_text(json.dumps({"pretrain": {"seconds": 1000.8}}))
    weights = run / "pretrain" / "backbone.safetensors"
    start = initial_weights([f"pretrain.backbone.weights={weights}"])
    assert start is not None and start["epochs_run"] == 8 and start["pretrain_seconds"] == 1000.8
    text = "\n".join(retinamnist_epochs_table({"epochs": 20, "per_seed": {}, "initial_weights": start}))
    assert (f"started from `{weights}`: 8 epochs of 150 steps of 64 images on cifar10 train split "
            f"(50000 images), 1001 s.") in text


def test_retinamnist_table_shows_the_paired_differences_to_scratch() -> None:
    from bench.summarize import retinamnist_table

    d = {"difference": 0.004, "ci_low": -0.01, "ci_high": 0.02}
    m = {"qwk": 0.5, "qwk_ci95": [0.4, 0.6], "accuracy": 0.5, "auc_ovr": 0.7, "auc_ovo": 0.7, "macro_f1": 0.3}
    text = "\n".join(retinamnist_table({"variants": {"scratch": m, "vicreg": m},
                                        "pretrained_minus_scratch": {"vicreg": {"accuracy": d, "auc_ovr": d, "qwk": d}}}))
    assert "vicreg: +0.004 (-0.010..+0.020) / +0.004 (-0.010..+0.020) / +0.004 (-0.010..+0.020)" in text
    assert "VICReg + UMM - VICReg" not in text
    text = "\n".join(retinamnist_table({"variants": {"scratch": m}, "pretrained_minus_scratch": {"vicreg": {
        "accuracy": d, "auc_ovr": d, "qwk": d}}, "umm_minus_vicreg": {"accuracy": d, "auc_ovr": d, "qwk": d}}))
    assert "VICReg + UMM - VICReg: +0.004 (-0.010..+0.020)" in text


def test_disk_use_row_names_the_run_and_its_parts() -> None:
    from bench.summarize import disk_rows

    record = {"command": "python -m bench.disk_use --run-dir x", "device": "CPU", "date_utc": "2026-12-01T00:00:00",
              "runs": {"default": {"skipped": ["bundles"], "total_mib": 780.5, "checkpoints_total_mib": 389.0,
                                   "fine_tuned_weights_mib": 94.1, "fine_tuned_weight_files": 18}}}
    row = disk_rows(record)[0]
    assert "`default`" in row and "without bundles/" in row and "780.5 MiB in all" in row
    assert "checkpoints 389.0 MiB" in row and "94.1 MiB (18 files)" in row
    # --folder: any other folder, its size and file count
    (folder,) = disk_rows({**record, "runs": {}, "folders": {".venv": {"total_mib": 6330.2, "files": 41000}}})
    assert folder.startswith("| disk use of the folder `.venv` (apparent size") and "6330.2 MiB in 41000 files" in folder


def test_cli_startup_row_shows_each_command_against_the_torch_import() -> None:
    from bench.summarize import cli_startup_rows

    record = {"command": "python -m bench.cli_startup", "date_utc": "2026-12-02T04:40:00", "device": "cpu",
              "rounds": 5, "reference": "import torch", "reference_median_s": 8.0,
              "load_average_1_5_15_min": {"start": [3.1, 3.0, 2.9], "end": [3.4, 3.1, 3.0]},
              "table": {"import torch": {"median_s": 8.0, "ratio_to_torch": 1.0},
                        "drac_ssl.export": {"median_s": 0.6, "ratio_to_torch": 0.075}}}
    (row,) = cli_startup_rows(record)
    assert "drac_ssl.export: 0.6 s (x0.075)" in row and "import torch: 8.0" not in row
    assert "median of 5 interleaved rounds; 1-min load average 3.1-3.4" in row
    assert '`python -c "import torch"`, 8.0 s in the same run' in row


def test_name_tags_row_shows_each_size_and_the_baseline() -> None:
    from bench.summarize import name_tags_rows

    run = {"listed": 10_000, "names": 20_000, "build_s": 0.04, "held_mib": 1.0,
           "line_with_a_name_us": 6.0, "line_without_us": 3.3}
    record = {"command": "python -m bench.name_tags", "date_utc": "2026-12-05T15:45:00", "device": "cpu",
              "load_average_1_5_15_min": {"start": [4.7, 4, 2], "end": [4.9, 4, 2]},
              "sizes": [run, {**run, "listed": 100_000, "build_s": 0.37, "held_mib": 14.3, "line_without_us": 3.2}],
              "baseline": {"code_commit": "abc1234", "sizes": [{**run, "build_s": 0.53}]}}
    (row,) = name_tags_rows(record)
    assert "build 10,000 names 0.04 s (1.0 MiB), 100,000 names 0.37 s (14.3 MiB)" in row
    assert "6.0 us with a name, 3.2 us without (100,000 names)" in row and "load average 4.7-4.9" in row
    assert ("before (code at abc1234, one regular expression of all the names): build 10,000 names "
            "0.53 s; per console line 6.0 us with a name, 3.3 us without (10,000 names)") in row
    # review F6: the baseline's MiB once re's cache no longer hid its compiled pattern
    (row,) = name_tags_rows({**record, "held_mib_counts_patterns": True})
    assert "build 10,000 names 0.53 s (1.0 MiB); per console line 6.0 us" in row
    assert name_tags_rows({"sizes": []}) == []


def test_umm_protocol_cells_say_an_interval_for_one_seed_and_an_sd_for_several() -> None:
    """A statistician's review: '0.796 ± 0.014' (the SD of 2 seeds) sat in a column headed
    'CV QWK [95% CI]', reading as an interval three times narrower than the real one."""
    from bench.summarize import umm_protocol_table

    record = {"dataset": "drac_phantom", "environment": {}, "variants": {
        "control": [{"cv_qwk": 0.79}, {"cv_qwk": 0.80}],
        "no_js": [{"cv_qwk": 0.80, "cv_qwk_ci95": [0.761, 0.839]}]},
        "means": {"control": {"cv_qwk": 0.796, "cv_qwk_std": 0.014}, "no_js": {"cv_qwk": 0.80}}}
    table = "\n".join(umm_protocol_table(record))
    assert "1 seed [95% CI], more: mean ± SD of seeds" in table
    assert "0.796 ± 0.014 SD" in table and "0.800 [0.761, 0.839]" in table


def test_the_repeated_table_gives_the_spread_over_seeds_that_the_docs_quote() -> None:
    """docs/retinamnist.md quotes standard deviations, standard errors and ranges over the
    seeds: written by the summary from the results files, not computed by hand."""
    from bench.summarize import retinamnist_repeats_table

    def run(seed: int, scratch: float, vicreg: float) -> dict:
        fig = lambda a: {"accuracy": a, "auc_ovr": 0.7, "qwk": a}  # noqa: E731
        return {"command": f"python -m bench.retinamnist run.seed={seed}", "pretrain_epochs_run": 20,
                "variants": {"scratch": fig(scratch), "vicreg": fig(vicreg)}}

    table = "\n".join(retinamnist_repeats_table({
        "a": run(0, 0.50, 0.51), "b": run(1, 0.52, 0.51), "c": run(2, 0.54, 0.57)}))
    sd = next(line for line in table.splitlines() if line.startswith("| SD over the config's 3 seeds"))
    assert "| 0.0200 / 0.0000 / 0.0200 |" in sd  # scratch: 0.50, 0.52, 0.54
    assert "0.0200, 0.0000, 0.0200; SE 0.0115, 0.0000, 0.0115" in sd  # differences +0.01, -0.01, +0.03
    rng = next(line for line in table.splitlines() if line.startswith("| range over the config's 3 seeds"))
    assert "| 0.0400 / 0.0000 / 0.0400 |" in rng and "0.0400, 0.0000, 0.0400" in rng


def test_structure_check_row_shows_real_images_against_noise_and_the_threshold() -> None:
    from bench.summarize import structure_check_rows

    record = {"threshold": 0.15, "device": "CPU x2", "date_utc": "2026-12-02T00:00:00", "command": "c",
              "sets": {"drac_samples": {"a.png": 0.66, "b.png": 0.68},
                       "aptos_colour_model": {"n": 30, "min": 0.34, "median": 0.5, "max": 0.75},
                       "noise_64_px_and_up": {"n": 60, "min": -0.01, "median": 0.0, "max": 0.02}}}
    [row] = structure_check_rows(record)
    assert "DRAC samples 0.66..0.68 (n = 2)" in row and "APTOS photos 0.34..0.75 (n = 30)" in row
    assert "uniform noise >= 64 px -0.01..0.02 (n = 60)" in row and "refused at or below 0.15" in row
    assert "phantoms" not in row  # a set the record lacks is left out, not shown empty
    # downscaled photographs, the lowest real images measured, and tiny noise, the highest noise
    record["sets"]["aptos_downscaled"] = {"128": {"n": 30, "min": 0.3, "median": 0.5, "max": 0.7},
                                          "32": {"n": 30, "min": 0.205, "median": 0.4, "max": 0.6}}
    record["sets"]["noise_below_64_px"] = {"n": 150, "min": -0.2, "median": 0.0, "max": 0.19}
    [row] = structure_check_rows(record)
    assert "APTOS photos downscaled to 128 px 0.3..0.7 (n = 30), 32 px 0.205..0.6 (n = 30)" in row, row
    assert "noise 16-32 px -0.2..0.19 (n = 150)" in row


def test_structure_check_row_states_the_rule_of_the_largest_scale_with_both_figures() -> None:
    """Since the app refuses only an image unrelated at every scale of
    data_prep.validate.structure_correlations, a record that measured the largest of the scales
    shows it beside the first scale, the number refused, and the rule in those words: "refused
    at or below 0.15" of the first scale alone no longer describes what the app decides."""
    from bench.summarize import structure_check_rows

    summary = lambda lo, hi, n=30: {"n": n, "min": lo, "median": (lo + hi) / 2, "max": hi}  # noqa: E731
    record = {"threshold": 0.15, "device": "CPU x2", "date_utc": "2026-12-03T00:00:00", "command": "c",
              "scales": [1, 2, 4],
              "sets": {"drac_samples": {"a.png": 0.66, "b.png": 0.68},
                       "aptos_colour_model": summary(0.34, 0.75),
                       "aptos_downscaled": {"32": summary(0.205, 0.84)},
                       "aptos_palette": summary(-0.1, 0.43),
                       "aptos_1bit_resized": {"512": summary(-0.02, 0.33), "64": summary(-0.41, -0.12)},
                       "noise_64_px_and_up": summary(-0.01, 0.04, 60)},
              "largest_scale": {"drac_samples": {"a.png": 0.7, "b.png": 0.72},
                                "aptos_colour_model": summary(0.4, 0.8),
                                "aptos_downscaled": {"32": summary(0.205, 0.84)},
                                "aptos_palette": summary(0.32, 0.65),
                                "aptos_1bit_resized": {"512": summary(0.22, 0.54), "64": summary(-0.14, 0.04)},
                                "noise_64_px_and_up": summary(0.0, 0.1, 60)},
              "refused_as_noise": {"drac_samples": 0, "aptos_colour_model": 0, "aptos_downscaled": {"32": 0},
                                   "aptos_palette": 0, "aptos_1bit_resized": {"512": 0, "64": 30},
                                   "noise_64_px_and_up": 60}}
    [row] = structure_check_rows(record)
    assert "refused when the largest of the scales is at or below 0.15" in row, row
    assert "refused at or below 0.15" not in row  # the first scale alone is not the rule
    assert "first scale / largest of 3 scales" in row
    assert "DRAC samples 0.66..0.68 / 0.7..0.72 (0 of 2 refused)" in row, row
    assert "APTOS photos 0.34..0.75 / 0.4..0.8 (0 of 30 refused)" in row
    assert "APTOS photos downscaled to 32 px 0.205..0.84 / 0.205..0.84 (0 of 30 refused)" in row
    assert "as dithered palette PNGs -0.1..0.43 / 0.32..0.65 (0 of 30 refused)" in row
    assert ("as 1-bit dithered PNGs resized to 512 px -0.02..0.33 / 0.22..0.54 (0 of 30 refused), "
            "64 px -0.41..-0.12 / -0.14..0.04 (30 of 30 refused)") in row, row
    assert "uniform noise >= 64 px -0.01..0.04 / 0.0..0.1 (60 of 60 refused)" in row


def test_a_result_of_uncommitted_code_or_of_a_commit_that_changed_mid_run_is_marked() -> None:
    from bench.summarize import generic_rows

    def row(**env: object) -> str:
        return generic_rows("x", {"date_utc": "2026-12-01T10:00:00+00:00", "command": "c", "device": "d",
                                  "figure": 1, "environment": env})[0]

    clean = row(git_commit="aaaa111", git_dirty=False, git_commit_at_end="aaaa111", git_dirty_at_end=False)
    assert "| 2026-12-01 |" in clean
    assert "uncommitted" in row(git_commit="aaaa111", git_dirty=True)  # an older file: dirty at its end
    assert "uncommitted" in row(git_commit="aaaa111", git_dirty=False, git_dirty_at_end=True)
    changed = row(git_commit="aaaa111", git_dirty=False, git_commit_at_end="bbbb222", git_dirty_at_end=False)
    assert "commit changed during the run: aaaa111 -> bbbb222" in changed


def test_a_result_that_names_its_uncommitted_code_shows_the_files() -> None:
    """Files written since bench.common counts code only (``git_dirty_files``) name what was
    uncommitted; older files, whose flag also fired for result files and documents, say so."""
    from bench.summarize import generic_rows

    def row(**env: object) -> str:
        return generic_rows("x", {"date_utc": "2026-12-01T10:00:00+00:00", "command": "c", "device": "d",
                                  "figure": 1, "environment": env})[0]

    code_only = {"git_commit": "aaaa111", "git_commit_at_end": "aaaa111", "git_dirty_at_end": False,
                 "git_dirty_files_at_end": [], "git_dirty_file_count_at_end": 0}
    assert "| 2026-12-01 |" in row(**code_only, git_dirty=False, git_dirty_files=[], git_dirty_file_count=0)
    named = row(**code_only, git_dirty=True, git_dirty_files=["bench/x.py", "drac_ssl/a.py", "drac_ssl/b.py",
                                                               "drac_ssl/c.py"], git_dirty_file_count=30)
    assert "(uncommitted code: bench/x.py, drac_ssl/a.py, drac_ssl/b.py and 27 more files)" in named, named
    at_end = row(**{**code_only, "git_dirty_at_end": True, "git_dirty_files_at_end": ["app/y.py"],
                    "git_dirty_file_count_at_end": 1}, git_dirty=False, git_dirty_files=[], git_dirty_file_count=0)
    assert "(uncommitted code at the end of the run: app/y.py)" in at_end, at_end
    both = row(**{**code_only, "git_dirty_at_end": True, "git_dirty_files_at_end": ["bench/x.py"],
                  "git_dirty_file_count_at_end": 1}, git_dirty=True, git_dirty_files=["bench/x.py"],
               git_dirty_file_count=1)
    assert "(uncommitted code: bench/x.py)" in both, both  # the same files at both ends: said once
    old = row(git_commit="aaaa111", git_dirty=True)  # before the code-only count: any tracked file
    assert "(uncommitted changes in the checkout; commit read at the end of the run)" in old, old


def test_a_result_without_a_dirty_flag_or_a_start_commit_does_not_read_as_clean_code() -> None:
    """Referee F4: files written before bench.common recorded the start read their commit at
    the end of the run, and some recorded no dirty flag at all; neither may look like a clean
    result of the commit it names."""
    from bench.summarize import generic_rows

    def row(**env: object) -> str:
        return generic_rows("x", {"date_utc": "2026-11-30T10:00:00+00:00", "command": "c", "device": "d",
                                  "figure": 1, "environment": env})[0]

    assert "| 2026-11-30 (code state not recorded; commit read at the end of the run) |" in row(git_commit="aaaa111")
    assert "| 2026-11-30 (commit read at the end of the run) |" in row(git_commit="aaaa111", git_dirty=False)
    assert "| 2026-11-30 |" in row(git_commit="aaaa111", git_dirty=False, git_commit_at_end="aaaa111",
                                   git_dirty_at_end=False)  # start recorded, clean at both ends
    assert "| 2026-11-30 |" in row()  # no commit named at all: nothing to say of it


def test_ingest_result_written_by_write_result_renders(tmp_path: Path) -> None:
    from bench.common import write_result
    from bench.ingest import Timing, ingest_figures
    from bench.summarize import ingest_rows

    cold_train, cold, warm = Timing([8.0, 8.2, 8.4], [12.0] * 3), Timing([13.0] * 3, [20.0] * 3), \
        Timing([0.5] * 3, [0.4] * 3)
    figures = ingest_figures(cold_train, cold, warm, sizes=[256, 512], workers=0, repeats=3,
                             load_start=[0.5, 0.6, 0.7], load_end=[1.0, 0.8, 0.7], cores=2)
    record = json.loads(write_result("ingest", figures, tmp_path).read_text(encoding="utf-8"))
    assert record["environment"]["git_commit"] and record["environment"]["torchvision"]
    assert record["environment"]["scikit_learn"] and isinstance(record["device"], str)
    rows = ingest_rows(record)
    assert "| 8.2 s (goal < 15 s: met);" in rows[0] and f"| {record['device']} |" in rows[0]
    assert "| 13.0 s |" in rows[1] and "| 0.5 s |" in rows[2]
    assert "load average 0.5-1.0" in rows[0]


def test_the_issue_12_aim_is_shown_apart_from_the_published_figures_in_both_layouts() -> None:
    from bench.retinamnist import AIM, PUBLISHED
    from bench.summarize import retinamnist_table

    assert "issue_12_aim" not in PUBLISHED and set(AIM) >= {"accuracy", "auc_ovr"}
    variant = {"qwk": 0.55, "qwk_ci95": [0.5, 0.6], "accuracy": 0.5325, "auc_ovr": 0.768, "auc_ovo": 0.7,
               "macro_f1": 0.4}
    published = {"note": "x", "resnet18": {"accuracy": 0.524, "auc_ovr": 0.717}}
    base = {"variants": {"scratch": {**variant, "accuracy": 0.6}, "vicreg": variant}, "selected_variant": "vicreg"}
    old = {**base, "published_test_split": {**published, "issue_12_aim": {"accuracy": 0.56, "auc_ovr": 0.78}}}
    new = {**base, "published_test_split": published, "aim": {"accuracy": 0.56, "auc_ovr": 0.78}}
    for record in (old, new):
        table = "\n".join(retinamnist_table(record))
        published_line = next(line for line in table.splitlines() if line.startswith("Published"))
        assert "resnet18: accuracy 0.524" in published_line and "aim" not in published_line
        assert ("Issue #12 aim on the hidden test split: accuracy 0.56, AUC OvR 0.78 - not met on "
                "cross-validation (selected variant vicreg (chosen on these figures), out of fold: accuracy 0.5325, "
                "AUC OvR 0.7680); "
                "the test score is the evaluator's.") in table
    met = {**new, "aim": {"accuracy": 0.5, "auc_ovr": 0.7}}
    assert "AUC OvR 0.7 - met on cross-validation" in "\n".join(retinamnist_table(met))


def test_the_readme_generated_sections_are_what_bench_summarize_renders_now() -> None:
    """The README's summary table, the full results on docs/results.md and the RetinaMNIST table
    on docs/retinamnist.md are written by ``python -m bench.summarize``; after a result file or the
    renderer changes, rerun it (never edit between the markers). Each page is checked: a stale
    README or a stale results page fails here alone. The RetinaMNIST page shows a table where
    the results page does: retinamnist.json there and no smoke run (the summarizer's rule)."""
    from bench.common import REPO, RESULTS
    from bench.summarize import (
        RESULTS_PAGE,
        RETINA_PAGE,
        SUMMARY_BEGIN,
        generated_sections,
        history_available,
        is_smoke,
        read_result,
        stale_sections,
    )

    if not history_available():  # the provenance words are read from git (review F2, F3)
        pytest.skip("no git history here: the README's commit-dependent words cannot be rendered")
    sections = generated_sections()
    assert [page for page, *_ in sections] == ["README.md", RESULTS_PAGE, RETINA_PAGE]
    job = RESULTS / "retinamnist.json"
    a_result = job.is_file() and not is_smoke(job.stem, read_result(job))
    assert ("\n|---" in sections[2][3]) == a_result, sections[2][3][:300]
    written = (REPO / "README.md").read_text(encoding="utf-8")  # the summary, header first, under its marker
    assert f"{SUMMARY_BEGIN}\n| what | headline | device | date |\n|---|---|---|---|\n" in written
    assert stale_sections(sections) == [], "run python -m bench.summarize"


@pytest.mark.parametrize("smoke", [True, False])
def test_the_retinamnist_page_shows_no_table_where_the_job_has_no_result(tmp_path: Path, smoke: bool) -> None:
    """A review: a smoke retinamnist.json (left out of the README and the results page) left
    docs/retinamnist.md out of the sections written and checked, so the page kept the table of
    an earlier run. Its section is rendered still: a sentence that says why there is no table."""
    from bench.summarize import RESULTS_PAGE, RETINA_PAGE, anchor, generated_sections

    results = _summary_results(tmp_path / "results")
    if smoke:
        (results / "retinamnist.json").write_text(json.dumps(
            {"benchmark": "retinamnist", "smoke": True, "device": "CPU: Test x2",
             "date_utc": "2026-12-04T00:00:00+00:00", "command": "python -m bench.retinamnist --smoke"}),
            encoding="utf-8")
    sections = {page: body for page, _begin, _end, body in generated_sections(results)}
    assert list(sections) == ["README.md", RESULTS_PAGE, RETINA_PAGE]
    assert "[retinamnist]" not in sections["README.md"]
    assert anchor("retinamnist") not in sections[RESULTS_PAGE]  # left out there: no table here either
    why = (f"`{results / 'retinamnist.json'}` is a smoke run (a few steps that check the job runs, never "
           f"a result; {RESULTS_PAGE} and the README leave it out too)" if smoke else
           f"`{results / 'retinamnist.json'}` is not there")
    assert sections[RETINA_PAGE] == (
        f"No table: {why}. The job's full run (`python -m bench.retinamnist`) writes the result it is "
        f"rendered from."), sections[RETINA_PAGE]


def test_a_read_of_another_results_folder_is_refused(tmp_path: Path) -> None:
    """A review: render_summary, render_page and render_retina_section take the results folder and
    its read apart, which could disagree (rows from one folder, set-aside notes from the other)."""
    from bench.summarize import read_results, render_page, render_retina_section, render_summary

    results, other = _summary_results(tmp_path / "results"), _summary_results(tmp_path / "other")
    read = read_results(results)
    assert render_summary(results, read=read) == render_summary(results)
    for render in (render_summary, render_page, render_retina_section):
        with pytest.raises(ValueError, match="read_results\\(results_dir\\)"):
            render(other, read=read)


def test_a_stale_or_missing_section_of_either_page_is_named(tmp_path: Path) -> None:
    """The freshness check above must be able to fail for each page on its own: an old body on
    one page, or its markers gone, is named with that page; the other page stays unnamed."""
    from bench.summarize import BEGIN, END, SUMMARY_BEGIN, SUMMARY_END, stale_sections

    (tmp_path / "docs").mkdir()
    sections = [("README.md", SUMMARY_BEGIN, SUMMARY_END, "| summary |"),
                ("docs/results.md", BEGIN, END, "| full |")]
    (tmp_path / "README.md").write_text(f"# x\n{SUMMARY_BEGIN}\n| summary |\n{SUMMARY_END}\n", encoding="utf-8")
    (tmp_path / "docs" / "results.md").write_text(f"{BEGIN}\n| full |\n{END}\n", encoding="utf-8")
    assert stale_sections(sections, tmp_path) == []
    (tmp_path / "docs" / "results.md").write_text(f"{BEGIN}\n| old |\n{END}\n", encoding="utf-8")
    (stale,) = stale_sections(sections, tmp_path)
    assert stale.startswith("docs/results.md: the section between"), stale
    (tmp_path / "docs" / "results.md").write_text(f"{BEGIN}\n| full |\n{END}\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("# x, the markers deleted\n", encoding="utf-8")
    assert stale_sections(sections, tmp_path) == [f"README.md: markers {SUMMARY_BEGIN} / {SUMMARY_END} not found"]


def _summary_results(folder: Path) -> Path:
    """A results folder of three files: one a bench with its own rows renders (ingest), one of
    no known bench (generic rows) and one shown as a correctness table only (a low-label run)."""
    folder.mkdir()
    common = {"device": "CPU: Test x2", "environment": {"git_commit": "abc1234", "git_commit_at_end": "abc1234",
                                                        "git_dirty": False, "git_dirty_at_end": False,
                                                        "git_dirty_files": [], "git_dirty_files_at_end": []}}
    files = {
        "ingest": {**common, "date_utc": "2026-12-01T00:00:00+00:00", "command": "python -m bench.ingest",
                   "seconds_cold_train_only": 11.18, "goal_met": True},
        "zz_new_bench": {**common, "date_utc": "2026-12-02T00:00:00+00:00", "command": "python -m bench.zz",
                         "what": "a bench the renderer has never seen", "seconds": 1.25},
        "low_label_mnist": {**common, "date_utc": "2026-12-03T00:00:00+00:00", "command": "python -m bench.low_label",
                            "dataset": "mnist", "pretrain": {"seconds": 10},
                            "eval_images": {"test": 10000},
                            "labels": {"500": {"finetune": {"mean": 97.08, "std": 0.66},
                                               "scratch": {"mean": 89.98, "std": 0.89},
                                               "linear": {"mean": 94.57, "std": 1.03}}}},
    }
    for name, record in files.items():
        (folder / f"{name}.json").write_text(json.dumps(record), encoding="utf-8")
    return folder


def test_the_summary_has_one_row_per_result_linked_to_its_anchor_on_the_results_page(tmp_path: Path) -> None:
    """The README shows each result's headline in one short row (what, headline, device, day),
    its name linking the anchor of its full row or table on docs/results.md; a result file of a
    bench the renderer does not know gets its row and anchor too, without code for it."""
    from bench.summarize import SUMMARY_FIGURE, anchor, render_page, render_summary

    results = _summary_results(tmp_path / "results")
    summary = render_summary(results).splitlines()
    assert summary[:2] == ["| what | headline | device | date |", "|---|---|---|---|"]
    rows = {row.split("([", 1)[1].split("]", 1)[0]: row for row in summary[2:]}
    assert sorted(rows) == ["ingest", "low_label_mnist", "zz_new_bench"]
    page = render_page(results)
    for name, row in rows.items():
        assert f"](docs/results.md#{anchor(name)})" in row, row
        assert f'<a id="{anchor(name)}"></a>' in page, name  # the link lands on its full row or table
        assert row.endswith(" | CPU: Test x2 | " + {"ingest": "2026-12-01", "zz_new_bench": "2026-12-02",
                                                     "low_label_mnist": "2026-12-03"}[name] + " |"), row
        figure = row.split(" | ")[1].removesuffix(" (+2 more rows)")  # ingest's three rows, no headline here
        assert len(figure) <= SUMMARY_FIGURE + 2, figure
    assert "500 labels: fine-tune 97.08 ± 0.66 %, scratch 89.98 ± 0.89 %" in rows["low_label_mnist"]
    assert "1.25" in rows["zz_new_bench"]  # the generic row's figure


def test_shorten_cuts_between_pieces_never_inside_a_figure_or_parenthesis() -> None:
    from bench.summarize import shorten

    text = "192.4 s total (< 300 s on one H100: met); ingest 6.84 s, pretrain 81.14 s"
    assert shorten(text, 100) == text  # fits: whole
    assert shorten(text, 60) == "192.4 s total (< 300 s on one H100: met) …"  # the first clause only
    assert shorten(text, 30) == "192.4 s total (< 300 s on one H100: met) …"  # a verdict stays past the limit
    assert shorten("short", 30) == "short"
    assert shorten("linear 74.64 %, k-NN@20 71.74 %, k-NN@200 70.05 %", 35) == "linear 74.64 %, k-NN@20 71.74 % …"
    assert shorten("`a, b; c (d)` and more words here", 20) == "`a, b; c (d)` and …"  # code spans stay whole


def test_the_results_page_links_are_rebased_from_the_repository_root() -> None:
    """The renderer writes links from the repository root (``docs/evaluation.md``); on
    docs/results.md they must be relative to docs/, or every one of them is broken."""
    from bench.summarize import rebase_links

    text = "[a](docs/evaluation.md) [b](docs/retinamnist.md#protocol) [c](#x) [d](https://x.org/a) [e](bench/x.py)"
    assert rebase_links(text, "docs/results.md") == (
        "[a](evaluation.md) [b](retinamnist.md#protocol) [c](#x) [d](https://x.org/a) [e](../bench/x.py)")
    assert rebase_links(text, "README.md") == text


def test_retinamnist_epochs_table_of_a_confirmation_without_overrides_names_its_scratch_plainly() -> None:
    """The 60-epoch confirmation (own scratch, no overrides): its scratch column was headed
    "scratch, same overrides", of overrides there were none."""
    from bench.summarize import retinamnist_epochs_table

    m = {"accuracy": 0.5, "auc_ovr": 0.7, "qwk": 0.5}
    record = {"epochs": 60, "own_scratch": True, "overrides": [],
              "per_seed": {"5": {"committed": {"scratch": m, "scratch_from": "this run"}, "vicreg60_confirm": m}}}
    text = "\n".join(retinamnist_epochs_table(record))
    assert "| seed | scratch, same run | VICReg, 60 epochs |" in text and "same overrides" not in text, text


def test_result_files_of_one_recipe_on_other_seeds_are_pooled_and_said_to_be_descriptive() -> None:
    """A hypothesis and its confirmation on new seeds (same epochs, same overrides) give one
    pooled line over all their seeds, said as no test; a recipe run once, or two files
    sharing a seed, give none."""
    import statistics

    from bench.summarize import pooled_seeds_lines

    scratch = {"accuracy": 0.5, "auc_ovr": 0.7, "qwk": 0.5}

    def record(seeds: dict[str, float], overrides: list[str] | None = None) -> dict[str, object]:
        return {"epochs": 60, "overrides": overrides or [], "per_seed": {
            s: {"committed": {"scratch": scratch}, "run_folder": "x",
                "vicreg60": {"accuracy": 0.5 + g, "auc_ovr": 0.7 + g / 2, "qwk": 0.5 - g}}
            for s, g in seeds.items()}}

    first, second = record({"0": 0.01, "1": 0.02}), record({"5": 0.0, "6": 0.03, "7": 0.01})
    (blank, line) = pooled_seeds_lines({"e60": first, "e60_confirm": second})
    gains = [0.01, 0.02, 0.0, 0.03, 0.01]
    mean, se = statistics.mean(gains), statistics.stdev(gains) / 5 ** 0.5
    assert blank == "" and line.startswith("Pooled over the 5 seeds of e60 and e60_confirm (descriptive only")
    assert f"accuracy {mean:+.4f} (SE {se:.4f}, {mean / se:.2f} SE, 4 of 5 seeds > 0)" in line, line
    assert "qwk -" in line and "0 of 5 seeds > 0)." in line
    assert pooled_seeds_lines({"e60": first}) == []
    assert pooled_seeds_lines({"e60": first, "other": record({"5": 0.0, "6": 0.1}, ["x=1"])}) == []
    assert pooled_seeds_lines({"e60": first, "again": record({"1": 0.0, "2": 0.1})}) == []


def test_the_pipeline_row_says_early_stopping_only_when_the_record_does() -> None:
    """The GPU pipeline row said "VICReg stopped early after N epochs" whatever the record's
    ``pretrain_stopped`` said; since a run whose patience ran out on its last epoch reads
    "completed all epochs: ...", a record of a full run would have been called an early stop."""
    from bench.summarize import pipeline_rows

    base = {"seconds_total": 192, "goal": "< 600 s", "goal_met": True, "seconds_per_stage": {"pretrain": 90},
            "pretrain_epochs_run": 42, "command": "bash bench/gpu_check.sh pipeline"}
    (early,) = pipeline_rows({**base, "pretrain_stopped": "early stopping: no improvement of the epoch loss for 5 epochs"})
    assert "VICReg stopped early after 42 epochs" in early
    (full,) = pipeline_rows({**base, "pretrain_epochs_run": 100,
                             "pretrain_stopped": "completed all epochs: no improvement of the epoch loss for 5 epochs"})
    assert "stopped early" not in full and "VICReg ran 100 epochs (completed all epochs" in full, full


def test_a_fine_tuning_result_of_the_old_keep_best_default_says_so_and_one_of_keep_last_does_not() -> None:
    """Review s51 R4: the GPU pipeline row and the phantom UMM table were fine-tuned when each
    fold kept its best validation-kappa epoch (the default before 2026-12-04); next to today's
    keep=last main job they read as the same protocol unless the row says which rule."""
    from bench.summarize import _fold_rule, pipeline_rows, umm_protocol_table

    base = {"seconds_total": 192, "goal": "< 300 s", "goal_met": True, "seconds_per_stage": {"finetune": 33},
            "pretrain_epochs_run": 42, "pretrain_stopped": "early stopping", "command": "c"}
    (old,) = pipeline_rows({**base, "date_utc": "2026-11-22T10:00:00+00:00"})
    assert "fine-tuned under finetune.keep=best, the default before 2026-12-04" in old
    (new,) = pipeline_rows({**base, "date_utc": "2026-12-05T10:00:00+00:00"})
    assert "keep=best" not in new
    # a rule the record names wins over its date, either way
    assert _fold_rule({"date_utc": "2026-11-30", "config": {"finetune": {"keep": "last"}}}) == "last"
    assert _fold_rule({"date_utc": "2026-12-06", "protocol": "...; finetune.keep=best (each fold ...)"}) == "best"
    # review s52c F3: the fine-tuning's own keep=best words go on to name last, the default
    from types import SimpleNamespace

    from drac_ssl.finetune import FinetuneConfig, _protocol_words

    best_words = _protocol_words(SimpleNamespace(ft=FinetuneConfig(keep="best")), "")
    assert "finetune.keep=last" in best_words.split("finetune.keep=best", 1)[1]
    assert _fold_rule({"date_utc": "2026-12-06", "protocol": best_words}) == "best"
    table = umm_protocol_table({"dataset": "drac_phantom", "date_utc": "2026-11-30",
                                "config": {"finetune": {"keep": "best"}}, "variants": {}})
    assert "fine-tuned under finetune.keep=best" in table[1]
    cifar = umm_protocol_table({"dataset": "cifar10", "date_utc": "2026-11-30", "variants": {}})
    assert "keep=best" not in cifar[1]  # CIFAR-10's protocol scores a linear probe, no fold is kept


def test_every_phantom_pipeline_file_gets_its_row_and_table(tmp_path: Path) -> None:
    """Each drac_pipeline_*.json (one per GPU that ran it) is shown, with its notes; before,
    only the file named drac_pipeline_gpu was, so a second GPU's run was left out."""
    from bench.summarize import render

    def record(device: str, date: str, seconds: float, notes: list[str]) -> dict:
        row = {"variant": "vicreg", "qwk": 0.8, "qwk_ci_low": 0.7, "qwk_ci_high": 0.9, "auc": 0.9,
               "accuracy": 0.85, "macro_f1": 0.8}
        return {"device": device, "date_utc": f"{date}T10:00:00+00:00", "seconds_total": seconds,
                "goal": "< 300 s", "goal_met": True, "seconds_per_stage": {"pretrain": 1.0},
                "pretrain_epochs_run": 3, "pretrain_stopped": "early stopping", "command": "c",
                "oof_metrics": {"rows": [row]}, "notes_added_after_the_run": notes}

    (tmp_path / "drac_pipeline_gpu.json").write_text(json.dumps(record("GPU-A", "2026-11-22", 192.4, [])))
    (tmp_path / "drac_pipeline_h200.json").write_text(
        json.dumps(record("GPU-B", "2026-12-05", 142.0, ["shared the machine with nothing."])))
    text = render(tmp_path)
    assert "192.4 s total" in text and "142.0 s total" in text
    assert "after 3 epochs; shared the machine with nothing. | GPU-B" in text
    assert text.count("**Full-size phantom DRAC pipeline") == 2
    assert "(GPU-A, 2026-11-22; " in text and "finetune.keep=best" in text.split("(GPU-B")[0]


def test_a_descriptive_arm_is_not_judged_by_the_mark() -> None:
    """An arm run with the hypothesis "none (descriptive ...)" gets no pass-mark line (review
    s53 F3); a judged arm still does."""
    from bench.summarize import retinamnist_epochs_table

    m = {"accuracy": 0.5, "auc_ovr": 0.7, "qwk": 0.5}
    diff = {k: {"mean": 0.01, "se": 0.001, "positive": 5, "n": 5} for k in m}
    record = {"epochs": 20, "own_scratch": True, "overrides": [], "device": "d", "date_utc": "2026-12-04",
              "per_seed": {"1": {"committed": {"scratch": m}, "vicreg20": m}},
              "differences": {"vicreg20_minus_scratch": diff}}
    judged = "\n".join(retinamnist_epochs_table({**record, "hypothesis": "VICReg beats scratch"}))
    descriptive = "\n".join(retinamnist_epochs_table({**record, "hypothesis": "none (descriptive arm)"}))
    assert "Mark (" in judged and "Mark (" not in descriptive


def test_twin_folds_row_shows_each_seed_and_the_mean_difference() -> None:
    """bench/twin_folds.py's result gets its own README row (not the generic dump of scalars)."""
    from bench.summarize import twin_folds_rows

    a = {"accuracy": 0.53, "auc_ovr": 0.77, "qwk": 0.55}
    b = {"accuracy": 0.52, "auc_ovr": 0.76, "qwk": 0.54}
    d = {k: {"mean": -0.01, "se": 0.004, "positive": 0, "n": 1} for k in a}
    row = twin_folds_rows({"threshold": 1e-4, "device": "cpu", "date_utc": "2026-12-04", "command": "c",
                           "per_seed": {"0": {"scratch": {"per_image_folds": a, "twin_folds": b}}},
                           "differences": {"scratch_twin_minus_per_image": d,
                                           "near_scratch_twin_minus_per_image": d}})[0]
    assert "`data.near_duplicate_mse=0.0001`" in row
    assert "seed 0 0.530 / 0.770 / 0.550 -> 0.520 / 0.760 / 0.540" in row
    assert "accuracy -0.0100 (SE 0.0040, 0 of 1 > 0)" in row


def test_notes_added_after_a_run_join_one_table_cell() -> None:
    """The inference and pipeline rows share one helper for notes written into a result after
    its run (they had two copies of the expression)."""
    from bench.summarize import _added_notes, inference_rows

    assert _added_notes({}) == _added_notes({"notes_added_after_the_run": []}) == ""
    # a note that opens a sentence follows a full stop, not "; " (docs/results.md read "; The run wrote")
    assert _added_notes({"notes_added_after_the_run": ["One.", "Two."]}) == ". One. Two."
    assert _added_notes({"notes_added_after_the_run": ["run on a lent H200.", "Two."]}) == "; run on a lent H200. Two."
    row = inference_rows({"folds": 5, "results": {}, "notes_added_after_the_run": ["Shared GPU."]})[0]
    assert "images/s end to end (from decoded 1024 px images). Shared GPU. |" in row


def _paired(acc: tuple[float, float, float], auc: tuple[float, float, float],
            qwk: tuple[float, float, float]) -> dict[str, Any]:
    return {m: {"difference": d, "ci_low": lo, "ci_high": hi}
            for m, (d, lo, hi) in (("accuracy", acc), ("auc_ovr", auc), ("qwk", qwk))}


def test_each_variant_minus_the_floor_is_shown_with_its_paired_ci_its_own_or_a_reruns(tmp_path: Path) -> None:
    """Issue #12: the floor gap had no paired CI; the table shows the record's own
    pixel_floor.paired, or for a record written before it a rerun's, said as the rerun's."""
    from bench.summarize import floor_reruns, retinamnist_table

    variant = {"qwk": 0.55, "qwk_ci95": [0.5, 0.6], "accuracy": 0.53, "auc_ovr": 0.77, "auc_ovo": 0.72,
               "macro_f1": 0.4}
    floor = {**variant, "qwk": 0.487, "accuracy": 0.511, "auc_ovr": 0.750}
    paired = {"resampling": "images", "n_boot": 1000,
              "variants": {"scratch": _paired((0.021, 0.001, 0.04), (0.018, 0.01, 0.027), (0.07, 0.03, 0.11))}}
    committed = {"variants": {"scratch": variant}, "pixel_floor": floor}
    assert "raw-pixel floor on the same" not in "\n".join(retinamnist_table(committed))
    own = "\n".join(retinamnist_table({**committed, "pixel_floor": {**floor, "paired": paired}}))
    assert ("Minus the raw-pixel floor on the same out-of-fold images, paired bootstrap 95% CI (accuracy / "
            "AUC OvR / QWK; 1000 resamples of the images, the draws of the variant-vs-variant differences): scratch: "
            "+0.021 (+0.001..+0.040) / +0.018 (+0.010..+0.027) / +0.070 (+0.030..+0.110).") in own
    reruns = tmp_path / "reruns"
    reruns.mkdir()
    rerun = {"variants": {"scratch": {**variant, "accuracy": 0.5308}}, "date_utc": "2026-12-05T03:00:00",
             "device": "CPU: AMD EPYC x2",
             "pixel_floor": {**floor, "paired": {**paired, "resampling": "groups"}}}
    (reruns / "retinamnist_floor_paired.json").write_text(json.dumps(rerun), encoding="utf-8")
    (reruns / "retinamnist_amd_epyc.json").write_text(json.dumps(committed), encoding="utf-8")  # no pairs
    (reruns / "retinamnist_smoke.json").write_text(json.dumps({**rerun, "smoke": True}), encoding="utf-8")
    found = floor_reruns(tmp_path)
    assert [Path(p).name for p in found] == ["retinamnist_floor_paired.json"]
    table = "\n".join(retinamnist_table(committed, found))
    assert "retinamnist_floor_paired.json`, CPU: AMD EPYC x2, 2026-12-05: that run's own variants" in table
    assert "floor, 0.511 / 0.750 / 0.487; the table above is the committed run's)" in table
    assert "resamples of the groups the folds kept whole" in table
    assert "scratch (0.531 / 0.770 / 0.550): +0.021 (+0.001..+0.040)" in table
    # a record with its own pairs shows those, not a rerun's
    assert "rerun `" not in "\n".join(retinamnist_table({**committed, "pixel_floor": {**floor, "paired": paired}},
                                                        found))


def test_every_reruns_wall_time_and_goal_verdict_is_shown_per_cpu(tmp_path: Path) -> None:
    """Audit F1: the committed RetinaMNIST run met its < 40 min goal on one CPU; both reruns of
    the same command on another missed it (goal_met false), and the README said only "met".
    Each rerun's wall time and verdict is rendered, beside the committed run's, and counted per
    CPU; a smoke rerun is no run."""
    from bench.summarize import job_reruns, render, retinamnist_table

    variant = {"qwk": 0.55, "qwk_ci95": [0.5, 0.6], "accuracy": 0.53, "auc_ovr": 0.77, "auc_ovo": 0.72,
               "macro_f1": 0.4}
    goal = "< 2400 s on the 2-core CPU machine (issue #12)"
    committed = {"variants": {"scratch": variant}, "seconds_total": 1414.7, "goal": goal, "goal_met": True,
                 "device": "CPU: Intel(R) Xeon(R) Processor x2", "date_utc": "2026-11-30T14:16:51",
                 "load_average_1_5_15_min": {"start": [0.65, 0.9, 1.0], "end": [1.0, 1.0, 1.1]},
                 "command": "python -m bench.retinamnist --fresh"}
    amd = {**committed, "seconds_total": 3478.0, "goal_met": False, "device": "CPU: AMD EPYC x2",
           "date_utc": "2026-12-04T04:31:33", "load_average_1_5_15_min": {"start": [0.45], "end": [1.04]}}
    reruns = tmp_path / "reruns"
    reruns.mkdir()
    (tmp_path / "retinamnist.json").write_text(json.dumps(committed), encoding="utf-8")
    (reruns / "retinamnist_amd_epyc.json").write_text(json.dumps(amd), encoding="utf-8")
    (reruns / "retinamnist_floor_paired.json").write_text(
        json.dumps({**amd, "seconds_total": 3471.3, "date_utc": "2026-12-05T02:38:37"}), encoding="utf-8")
    (reruns / "retinamnist_smoke.json").write_text(json.dumps({**amd, "smoke": True}), encoding="utf-8")
    found = job_reruns(tmp_path)
    assert [Path(p).name for p in found] == ["retinamnist_amd_epyc.json", "retinamnist_floor_paired.json"]
    (line,) = [x for x in retinamnist_table(committed, found) if x.startswith("Wall time")]
    assert line.startswith(f"Wall time of the whole job against its goal ({goal}): the committed run 1414.7 s "
                           "(23.6 min; CPU: Intel(R) Xeon(R) Processor x2, 2026-11-30")
    assert "1-minute load 0.65 / 1.0 at its start / end): met;" in line
    assert ("retinamnist_amd_epyc.json` 3478.0 s (58.0 min; CPU: AMD EPYC x2, 2026-12-04"
            in line and "1-minute load 0.45 / 1.04 at its start / end): NOT met;" in line)
    assert "retinamnist_floor_paired.json` 3471.3 s (57.9 min; CPU: AMD EPYC x2, 2026-12-05" in line
    assert line.endswith("By CPU: Intel(R) Xeon(R) Processor x2 met it in 1 of 1 run; "
                         "AMD EPYC x2 met it in 0 of 2 runs.")
    assert "retinamnist_smoke" not in line
    # without reruns the committed run is said alone; without a wall time nothing is said
    assert [x for x in retinamnist_table(committed) if x.startswith("Wall time")][0].endswith(
        "By CPU: Intel(R) Xeon(R) Processor x2 met it in 1 of 1 run.")
    assert not [x for x in retinamnist_table({"variants": {"scratch": variant}}) if x.startswith("Wall time")]
    # the results table: one row per run, the rerun named, a missed goal in capitals
    rows = [x for x in render(tmp_path).splitlines() if x.startswith("| RetinaMNIST main job")]
    assert len(rows) == 3 and "(issue #12): met)" in rows[0] and "rerun `" not in rows[0]
    assert "pixel floor, rerun `" in rows[1] and "3478.0 s total (< 2400 s on the 2-core CPU machine (issue #12): NOT met)" in rows[1]
    assert "| CPU: AMD EPYC x2 |" in rows[2] and "3471.3 s total" in rows[2]


def test_t_interval_is_the_two_sided_95_percent_one_of_the_seeds_mean() -> None:
    """A methods researcher's trial (s56 F4): each hypothesis's mean difference carries what the
    seeds do not rule out: mean +- t(0.975, n-1) SE (2.776 for five seeds), not the 2-SE mark."""
    from bench.summarize import t_interval

    assert t_interval(0.0, 1.0, 5) == "-2.7764..+2.7764"
    assert t_interval(0.0048, 0.0043, 5) == "-0.0071..+0.0167"  # rounded figures; the seeds' own: seed_difference_lines
    assert t_interval(0.01, 0.002, 2) == f"{0.01 - 12.7062 * 0.002:+.4f}..{0.01 + 12.7062 * 0.002:+.4f}"
    assert t_interval(0.01, 0.002, 1) == ""


def test_scratch_under_a_frozen_backbone_is_named_a_random_frozen_backbone(tmp_path: Path) -> None:
    """Referee F5: under ``finetune.freeze=frozen`` scratch is a random backbone that never
    trains, under a trained head; "vicreg - scratch" must not read as pretraining against
    training from scratch. The setting comes from the record's config, else the config file
    its command names."""
    from bench.summarize import (
        FROZEN_SCRATCH,
        _freeze_setting,
        default_run_rows,
        keep_selection_rows,
    )

    row = {"variant": "scratch", "qwk": 0.655}
    frozen = default_run_rows({"command": ".venv/bin/python -m bench.default_run",
                               "oof_metrics": {"rows": [row, {"variant": "vicreg", "qwk": 0.767}]}})[0]
    assert f"{FROZEN_SCRATCH} QWK 0.655; vicreg QWK 0.767" in frozen  # configs/default.yaml: frozen
    assert _freeze_setting({"command": "python -m bench.default_run --config configs/retinamnist.yaml"}) == "all"
    assert _freeze_setting({"config": {"finetune": {"freeze": "last"}}, "command": "bench.default_run"}) == "last"
    assert _freeze_setting({"command": "python -m bench.other"}) is None
    figures = {"qwk": 0.6, "accuracy": 0.6}
    record = {"config_finetune": {"freeze": "frozen"},
              "variants": {"best": {"scratch": figures, "vicreg": figures},
                           "last": {"scratch": figures, "vicreg": figures}},
              "pretrained_minus_scratch": {"best": {"vicreg": {"qwk": {"difference": 0.1}}},
                                           "last": {"vicreg": {"qwk": {"difference": 0.11}}}}}
    cell = keep_selection_rows(record)[0]
    assert f"{FROZEN_SCRATCH} QWK 0.600 best" in cell
    assert "vicreg - scratch (the random frozen backbone) QWK +0.100 best / +0.110 last" in cell
    trained = keep_selection_rows({**record, "config_finetune": {"freeze": "all"}})[0]
    assert "random" not in trained and "vicreg - scratch QWK" in trained


def test_the_retinamnist_umm_protocol_says_its_older_recipe_its_seeds_and_todays_evidence(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Referee F2: the RetinaMNIST UMM protocol ran under commit 6798365's recipe (10 fine-tuning
    epochs, the fundus recipe's hue jitter), with 2 seeds per arm; its table says so from the
    record's own config and commit, and gives today's recipe's VICReg + UMM - VICReg (whether
    the commit has the hue change is git's answer, here stubbed: test_summarize_provenance.py
    asks a real repository)."""
    import bench.summarize as summarize
    from bench.summarize import FUNDUS_HUE_REMOVED, HUE_INFERRED, umm_protocol_table

    monkeypatch.setattr(summarize, "_is_ancestor", lambda ancestor, commit: commit != "6798365")

    run = {"cv_qwk": 0.54, "cv_qwk_ci95": [0.5, 0.58]}
    record = {"dataset": "retinamnist", "date_utc": "2026-11-30T04:14:57+00:00",
              "environment": {"git_commit": "6798365"},
              "config": {"finetune": {"epochs": 10, "keep": "last"}, "pretrain": {"augment": {"recipe": "fundus"}}},
              "variants": {"control": [run, run], "umm": [run, run]}, "means": {}}
    diff = {"difference": -0.014, "ci_low": -0.0319, "ci_high": 0.0022}
    current = {"umm_minus_vicreg": {"accuracy": diff, "auc_ovr": diff, "qwk": diff}, "date_utc": "2026-11-30"}
    text = "\n".join(umm_protocol_table(record, current))
    assert ("recipe of 6798365, not today's: 10 fine-tuning epochs (configs/retinamnist.yaml now 15), "
            f"the fundus recipe's hue jitter (0.02 of a turn, saturation 0.1; removed in {FUNDUS_HUE_REMOVED}) "
            f"{HUE_INFERRED}") in text
    assert "at most 2 seeds per variant: enough to show a large effect of UMM, not to rule out a small one" in text
    assert "VICReg + UMM minus VICReg" in text and "-0.014 (-0.032..+0.002)." in text
    later = {**record, "environment": {"git_commit": "later00"}, "config": {
        "finetune": {"epochs": 15}, "pretrain": {"augment": {"recipe": "fundus"}}}}
    assert "recipe of" not in "\n".join(umm_protocol_table(later))  # today's recipe: nothing to say
    phantom = {**record, "dataset": "drac_phantom"}
    assert "recipe of" not in "\n".join(umm_protocol_table(phantom, current))
    assert "VICReg + UMM minus VICReg" not in "\n".join(umm_protocol_table(phantom, current))


def test_the_gap_to_the_aim_line_gives_the_intervals_upper_end_as_a_share_of_the_gap() -> None:
    """Referee F3: "no gain detected" with its size, from the seeds: the upper end of the
    VICReg - scratch t-interval against the gap from scratch's mean to issue #12's aim."""
    from bench.summarize import gap_to_aim_line, t_bounds

    def seed(scratch: float, vicreg: float) -> dict[str, dict[str, float]]:
        return {"scratch": {"accuracy": scratch, "auc_ovr": 0.9}, "vicreg": {"accuracy": vicreg, "auc_ovr": 0.9}}

    seeds = [seed(0.52, 0.53), seed(0.54, 0.54)]
    upper = t_bounds(0.005, 0.005, 2)[1]  # differences 0.01 and 0.0: mean 0.005, SE 0.005
    (_, line) = gap_to_aim_line(seeds, {"accuracy": 0.56, "auc_ovr": 0.8})
    assert f"accuracy: scratch 0.5300, 0.0300 short of the aim's 0.56; the interval's upper end +{upper:.4f} " \
           f"is {upper / 0.03:.0%} of that gap" in line
    assert "AUC OvR" not in line  # scratch already above the aim there: no gap to speak of
    # the aim is on the hidden test split, scratch's mean out of fold: the share only indicates (review F4)
    assert "(the aim is on the test split, scratch's figure out of fold: the share is indicative)" in line
    assert gap_to_aim_line(seeds, None) == [] and gap_to_aim_line(seeds[:1], {"accuracy": 0.56}) == []
    # methods audit F4: the seeds' interval holds training noise only, on one image set and fold
    # split; image sampling and the patients' several photographs come on top: very likely an
    # understatement, not a lower bound (re-audit F6: seeds 0-4, pooled, push the interval up)
    assert "on these images and folds gains up to that share of the gap are not excluded" in line
    assert "training-seed noise only" in line and (
        "very likely understates the largest gain these data do not exclude" in line) and "lower bound" not in line


def test_the_monte_carlo_error_of_a_bootstrap_endpoint_and_the_endpoints_it_leaves_unsettled() -> None:
    """Referee F6: an interval endpoint of 1,000 resamples has a Monte Carlo SD of about 0.0007
    for the committed run's VICReg + UMM - scratch QWK (-0.0315..-0.0003); an endpoint nearer 0
    than twice its SD is said not to settle the interval's sign."""
    import numpy as np

    from bench.summarize import endpoint_mc_sd, mc_error_line

    sd = endpoint_mc_sd(-0.0315, -0.0003, 1000)
    assert 0.0006 < sd < 0.0008
    assert endpoint_mc_sd(-0.0315, -0.0003, 4000) == pytest.approx(sd / 2)
    # against the spread of the 2.5 % quantile of 1000 normal draws, simulated
    rng = np.random.default_rng(0)
    quantiles = np.percentile(rng.normal(0.0, 1.0, size=(2000, 1000)), 2.5, axis=1)
    assert endpoint_mc_sd(-1.96, 1.96, 1000) == pytest.approx(quantiles.std(), rel=0.1)
    with pytest.raises(ValueError, match="n_boot"):
        endpoint_mc_sd(-1.0, 1.0, 0)
    close = {"qwk": {"ci_low": -0.0315, "ci_high": -0.0003, "resamples": 1000}}
    far = {"qwk": {"ci_low": -0.016, "ci_high": 0.015, "resamples": 1000}}
    (_, line) = mc_error_line({"vicreg_umm": close, "vicreg": far})
    assert "from 1000 resamples" in line and "QWK 0.0007" in line
    assert "vicreg_umm's QWK -0.0003 is nearer 0 than twice that" in line and "vicreg's" not in line
    assert mc_error_line({"vicreg": {"qwk": {"ci_low": -0.01, "ci_high": 0.01}}}) == []  # no resamples recorded


def test_every_published_retinamnist_figure_has_a_source_and_the_table_shows_it() -> None:
    """Referee F7: the published test-split figures are constants with where each comes from;
    the MedMNIST+ one is said to be quoted from the project's issue, unchecked here. A file
    written before the sources were recorded shows today's source for the same figures."""
    from bench.retinamnist import PUBLISHED
    from bench.summarize import retinamnist_table

    entries = {k: v for k, v in PUBLISHED.items() if isinstance(v, dict)}
    assert entries and all(v.get("source") for v in entries.values())
    assert "issue #12" in entries["medmnist_plus_resnet18_end_to_end_28"]["source"]
    assert "not checked" in entries["medmnist_plus_resnet18_end_to_end_28"]["source"]
    variant = {"qwk": 0.55, "qwk_ci95": [0.5, 0.6], "accuracy": 0.53, "auc_ovr": 0.77, "auc_ovo": 0.7,
               "macro_f1": 0.4}
    old = {k: {m: v[m] for m in ("accuracy", "auc_ovr")} for k, v in entries.items()}
    for published in (old, dict(entries)):
        table = "\n".join(retinamnist_table({"variants": {"scratch": variant}, "published_test_split": published}))
        line = next(x for x in table.splitlines() if x.startswith("Published"))
        assert line.count("(source: ") == len(entries), line
    other = {"medmnist_v2_resnet18_28": {"accuracy": 0.5, "auc_ovr": 0.7}}  # not today's figures: no source
    table = "\n".join(retinamnist_table({"variants": {"scratch": variant}, "published_test_split": other}))
    assert "source" not in table


def test_the_low_label_table_shows_the_papers_mlp_figures_as_a_reference_whatever_the_file_says() -> None:
    """Referee F9: low_label_mnist.json (written before ``reference`` existed) said
    ``"paper": {"comparable": true}`` (relabelled since, audit F6, with a dated note the table
    shows); the table must not present an MLP's figures as a check of this ResNet-18, and says
    what that old label meant wherever a file still holds it."""
    from bench.summarize import PAPER_IS_A_REFERENCE, paper_reference_lines

    old = paper_reference_lines({"figures": {}, "comparable": True})
    assert PAPER_IS_A_REFERENCE in old[1] and '`"comparable": true`' in old[1] and "not comparable" in old[1]
    new = paper_reference_lines({"figures": {}, "reference": True, "comparable": False})
    assert PAPER_IS_A_REFERENCE in new[1] and "comparable" not in new[1]
    results = Path(__file__).resolve().parents[2] / "bench" / "results"
    if (results / "low_label_mnist.json").is_file():
        from bench.summarize import render

        text = render(results)
        assert "paper's MLP, fine-tune (reference only)" in text and PAPER_IS_A_REFERENCE in text
        assert 'Note: The run wrote "paper": {..., "comparable": true}' in text  # audit F6's dated note


def test_the_retinamnist_table_links_the_evaluation_protocol_page() -> None:
    """Referee F9: the README's RetinaMNIST tables link the page that says how the figures and
    intervals are made, and that page exists."""
    from bench.summarize import EVALUATION_DOC, retinamnist_table

    variant = {"qwk": 0.55, "accuracy": 0.53, "auc_ovr": 0.77, "auc_ovo": 0.7, "macro_f1": 0.4}
    assert f"]({EVALUATION_DOC})" in "\n".join(retinamnist_table({"variants": {"scratch": variant}}))
    assert (Path(__file__).resolve().parents[2] / EVALUATION_DOC).is_file()


def test_the_app_speed_row_says_which_heat_map_it_timed() -> None:
    """A review: the committed app_speed result timed the heat map of the identity view only
    (before 2026-12-05, when the map began averaging the grade's 4 flipped views) and its row did
    not say so. A result recording ``map_views`` is read by it; an older one by its date."""
    from bench.summarize import APP_MAP_VIEWS_SINCE, app_speed_map_views

    base = {"repeats": 3, "calls_per_block": 20, "results": {}}
    old = app_speed_rows({**base, "date_utc": "2026-11-30T02:33:19+00:00"})[0]
    assert "measured when the heat map read the identity view only" in old and APP_MAP_VIEWS_SINCE in old
    for record, views in (({**base, "date_utc": "2026-12-06T00:00:00+00:00", "map_views": 4}, 4),
                          ({**base, "date_utc": "2026-11-30T00:00:00+00:00", "map_views": 4}, 4),
                          ({**base, "date_utc": "2026-12-06T00:00:00+00:00"}, None)):
        row = app_speed_rows(record)[0]
        assert app_speed_map_views(record) == views and "identity view only" not in row
        assert ("Grad-CAM over 4 views" in row) is (views == 4)
    later_one = {**base, "date_utc": "2026-12-06T00:00:00+00:00", "map_views": 1}
    assert "identity view only" in app_speed_rows(later_one)[0]  # a run with --no-tta's map
    committed = json.loads((Path(__file__).resolve().parents[2] / "bench" / "results" / "app_speed.json")
                           .read_text(encoding="utf-8"))
    # the committed result's row says the map it timed, whichever it is (a rerun with the 4-view
    # map must not fail this test: a review of 0e97f21)
    committed_row = app_speed_rows(committed)[0]
    assert ("measured when the heat map read the identity view only" in committed_row) is (
        app_speed_map_views(committed) == 1)
    assert ("Grad-CAM over 4 views" in committed_row) is (app_speed_map_views(committed) == 4)


def test_the_quick_check_summary_names_whichever_control_its_design_judges() -> None:
    """The README's summary leads a quick check with its judged pair; a design judged against
    another control (a no-pairs arm) renders from its record alone, without code for it."""
    from bench.summarize import headline

    base = {"claim_holds": False, "linear_probe_top1": {"pretrained": 86.86, "random": 85.14}, "gap_points": 1.72}
    assert headline("quick_check_mnist", base) == (
        "pretrained 86.86 % vs random backbone 85.14 %, gap +1.72 points: claim does not hold")
    for control, words in (("broken_pairs", "broken pairs"), ("no_pairs", "no pairs")):
        record = {**base, "claim_holds": True, "judged": f"refitted_vs_{control}",
                  "judged_comparison": {"linear_probe_top1": {"pretrained": 70.73, control: 67.45}, "gap_points": 3.28}}
        assert headline(f"quick_check_mnist_v3_{control}", record) == (
            f"VICReg 70.73 % vs {words} 67.45 %, gap +3.28 points: claim holds")
    assert headline("quick_check_x", {**base, "judged": "refitted_vs_x", "judged_comparison": {}}) is None


def test_the_first_try_row_gives_its_time_goal_stages_data_and_load_not_a_generic_row() -> None:
    """bench/default_run.py --own-fundus-folder writes first_try_fundus.json: its row says what
    was timed (the README's fundus first try on the APTOS samples, before the data's colon), the
    verdict, each stage and the load, and that its figures are a trial run's."""
    from bench.summarize import _rows_of

    record = {"seconds_total": 20.1, "goal": "< 120 s on the 2-core CPU machine", "goal_met": False,
              "seconds_per_stage": {"ingest": 0.15, "pretrain": 2.49}, "command": "python -m bench.default_run",
              "data": "30 real APTOS 2019 colour fundus photographs (columns 'Photo', 'ICDR'): the metrics show x",
              "load_average_1_5_15_min": {"start": [2.17, 3.7, 4.7], "end": [2.11, 3.6, 4.6]}}
    (row,) = _rows_of("first_try_fundus", record)
    assert row.startswith("| tiny first try on one's own fundus folder (README quick start), 30 real APTOS 2019 "
                          "colour fundus photographs (columns 'Photo', 'ICDR') | 20.1 s total "
                          "(< 120 s on the 2-core CPU machine, a goal the bench chose and not the issue's: not met "
                          "in one run); ingest 0.15 s, pretrain 2.49 s; "
                          "figures of a trial run, not of grading; 1-min load average 2.17-2.11 on the machine |"), row


def test_the_seed_report_is_said_not_comparable_and_an_old_verdict_is_ignored() -> None:
    """Methods review F1: the CIFAR-10 row said "not beaten" against a seed report that is not
    like for like. It says "not comparable" with the result's own list of differences; a file
    of the older code, holding a ``beats_seed_report`` boolean, is said not comparable too, the
    boolean ignored whichever way it points."""
    from bench.summarize import cifar_rows, headline, seed_report_words

    differences = ["ResNet-18, not ResNet-34", "batch 256, not 128", "an un-augmented probe"]
    record = {"epochs": 100, "linear_probe_top1": 74.64, "knn_top1_k20": 71.74, "knn_top1_k200": 70.05,
              "time_to_knn_accuracy": {"knn_80": "not reached"}, "command": "python -m bench.cifar10_vicreg",
              "seed_report_comparison": {"comparable": False, "differences": differences}}
    said = "the seed report's 76.67 % linear: not comparable (ResNet-18, not ResNet-34; batch 256, not 128; an un-augmented probe)"
    assert seed_report_words(record) == said
    assert f"70.05 %; {said}; pretraining" in cifar_rows(record)[0]
    assert headline("cifar10_vicreg", record) == f"linear 74.64 %; time to k-NN 80 %: not reached; {said}"
    for old in (True, False):
        words = seed_report_words({"beats_seed_report": old})
        assert words == "the seed report's 76.67 % linear: not comparable (a ResNet-34 at batch 128; its probe not stated)"
    assert "beaten" not in cifar_rows({**record, "seed_report_comparison": None, "beats_seed_report": True})[0]


def _ablation(control: list[str]) -> dict[str, Any]:
    row = {"steps": 100, "knn_top1_k200": 70.0}
    return {"variants": {"control": {**row, "settings": control, "linear_probe_top1": 74.80, "knn_top1_k20": 71.77},
                         "umm": {**row, "settings": ["(UMM as configured)"], "linear_probe_top1": 70.41,
                                 "knn_top1_k20": 65.37},
                         "no_rate_reduction": {**row, "settings": ["umm.use_rate_reduction=false"],
                                               "linear_probe_top1": 74.83, "knn_top1_k20": 71.71}},
            "gain_over_fair_control": {"umm": {"linear_points": -4.39, "knn20_points": -6.40},
                                       "no_rate_reduction": {"linear_points": 0.03, "knn20_points": -0.06}}}


def test_the_cifar10_umm_control_is_named_for_what_it_was() -> None:
    """Methods review F2: the first CIFAR-10 ablation's control (``umm.use_rate_reduction=false
    umm.use_js=false``: one update per batch, no JS) was called the fair control, which
    methods.md defines as alpha = 0 with the identical two-level step. The words now come from
    the control's recorded settings. A review of c59ecb0 (F1): ``no_rate_reduction`` is no
    nearer the fair control (``use_rate_reduction=false`` ran the inner step alone: single-level
    too, one update per batch), so UMM against it stands beside with what it is, and the fair
    control said unmeasured; "older objective" was UMM's, not the control's."""
    from bench.summarize import _ablation_table, _cifar_table, ablation_control_words, headline

    old, new = _ablation(["umm.use_rate_reduction=false", "umm.use_js=false"]), _ablation(["umm.alpha=0"])
    assert ablation_control_words(old) == "the single-level VICReg control (one update per batch, no JS)"
    assert ablation_control_words(new) == "the fair control (umm.alpha=0)"
    assert ablation_control_words(_ablation(["umm.beta=0"])) == "the control (umm.beta=0)"
    assert headline("umm_ablation", old) == (
        "UMM minus the single-level VICReg control (one update per batch, no JS): linear -4.39, k-NN@20 -6.40 "
        "points; minus no_rate_reduction (JS kept, single-level): -4.42 / -6.34; the fair control not run")
    assert headline("umm_ablation", new) == "UMM minus the fair control (umm.alpha=0): linear -4.39, k-NN@20 -6.40 points"
    old_table, new_table = "\n".join(_ablation_table(old)), "\n".join(_ablation_table(new))
    assert "| vs single-level VICReg control (one update per batch, no JS; linear / k-NN points) |" in old_table
    assert "It is not methods.md's fair control" in old_table
    assert ("UMM is -4.42 linear / -6.34 k-NN@20 against no_rate_reduction (+0.03 / -0.06 from the control; "
            "JS kept, outer step off: also single-level, one update per batch; the fair control's second, "
            "SSL-anchored update was not run, so UMM against the fair control is unmeasured on CIFAR-10)") in old_table
    assert "one inner step per batch" in old_table  # no optimiser recorded: none named
    sgd = {**old, "config": {"umm": {"inner_optimizer": "sgd"}}}
    assert "the plain VICReg loss on the same layers, one SGD step per batch" in "\n".join(_ablation_table(sgd))
    assert "is UMM's in this run, not the control's" in old_table
    for gone in ("nearest", "older objective"):
        assert gone not in old_table and gone not in headline("umm_ablation", old), gone
    assert "| vs fair control (umm.alpha=0; linear / k-NN points) |" in new_table
    assert "not methods.md's fair control" not in new_table and "no_rate_reduction (" not in new_table
    cifar = {"epochs": 100, "linear_probe_top1": 74.64, "knn_top1_k20": 71.74, "knn_top1_k200": 70.05}
    assert "| VICReg + single-level VICReg control (one update per batch, no JS; same steps) | 100 + 100 steps |" in (
        "\n".join(_cifar_table(cifar, old)))
    assert "| VICReg + fair control (umm.alpha=0; same steps) |" in "\n".join(_cifar_table(cifar, new))
    # audit F8: every published row says it is not comparable, and why (another method, 5-NN)
    published = [row for row in _cifar_table(cifar, new) if row.startswith(("| seed report", "| UMM paper"))]
    assert len(published) == 3 and all("(a reference, not comparable: " in row for row in published)
    assert "| UMM paper: VICRegL ResNet-18 (a reference, not comparable: another method, VICRegL, a longer " \
           "schedule, k-NN with k = 5) | long schedule | 90.99 | 88.75 (5-NN) | |" in published


def test_ensemble_grade_rows_give_each_rule_its_paired_difference_and_the_out_of_fold_reference() -> None:
    """bench/ensemble_grade.py's record: one row per rule, the paired QWK difference to the
    bundle's on the others only, then the single models' out-of-fold figures; and the committed
    record renders the figures docs/app.md quotes."""
    from bench.summarize import ensemble_grade_rows

    def rule(qwk: float, pdr: int, milder: int, diff: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"qwk": qwk, "qwk_ci95": [round(qwk - 0.05, 2), round(qwk + 0.05, 2)],
                "per_grade": {"0 Normal": {"found": 9, "images": 10}, "2 PDR": {"found": pdr, "images": 4}},
                "milder_than_most_likely": milder, "more_severe_than_most_likely": 0,
                **({"qwk_minus_current": diff} if diff else {})}

    record = {"run_dir": "runs/x", "n_test": 14, "variant": "vicreg", "fold_models": 3, "command": "c",
              "rules": {"current": rule(0.7, 2, 5),
                        "argmax": rule(0.6, 4, 0, {"difference": -0.1, "ci95": [-0.2, -0.01]}),
                        "something_new": rule(0.65, 3, 1)},
              "single_models_out_of_fold": rule(0.75, 3, 6)}
    rows = ensemble_grade_rows(record)
    assert len(rows) == 4 and all(r.startswith("| grade rule against hidden grades (ensemble_grade: "
                                               "`runs/x`, 14 phantom test images, vicreg, 3 fold models): ")
                                  for r in rows)
    assert ("the bundle's rule (mean probabilities, expected grade cut at the thresholds) | QWK 0.7 (0.65..0.75); "
            "found 0 Normal 9 of 10, 2 PDR 2 of 4; 5 milder, 0 more severe than the most likely grade |") in rows[0]
    assert "QWK minus the bundle's" not in rows[0]
    assert ("argmax of the mean | QWK 0.6 (0.55..0.65); found 0 Normal 9 of 10, 2 PDR 4 of 4; 0 milder, 0 more "
            "severe than the most likely grade; QWK minus the bundle's -0.1 (paired 95% CI -0.2..-0.01) |") in rows[1]
    assert ": something_new | QWK 0.65" in rows[2]  # a rule without words: its key
    assert "single fold models out of fold, the model card's figures | QWK 0.75" in rows[3]
    assert ensemble_grade_rows({**record, "single_models_out_of_fold": None})[-1] == rows[2]
    committed = json.loads((Path(__file__).resolve().parents[2] / "bench" / "results" / "ensemble_grade.json")
                           .read_text(encoding="utf-8"))
    text = "\n".join(ensemble_grade_rows(committed))
    assert "2 PDR 29 of 44; 134 milder, 0 more severe" in text and "2 PDR 59 of 70; 191 milder" in text
