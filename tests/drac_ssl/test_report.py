"""The run report's warnings and captions (drac_ssl.report) on minimal hand-made run folders.

No training: each test writes only the files the report reads (``pretrain/metadata.json``,
``finetune/comparison.json``, each variant's ``metrics.json`` and ``oof.csv``, a placeholder
PNG under ``pretrain/plots/``), so the report's words are checked against known numbers.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from drac_ssl import collapse, pretrain
from drac_ssl.metrics import degenerate_ci_reason, one_grade_words
from drac_ssl.report import FIGURE_CAPTIONS, figure_caption, write_report
from drac_ssl.scale import read_ingest_facts
from drac_ssl.starting import python_command
from drac_ssl.umm import plots as umm_plots
from drac_ssl.umm import stage as umm_stage

NAMES = ["Normal", "NPDR", "PDR"]
GRADES = [i % 3 for i in range(30)]  # 10 images per grade

# the monitors of the new user's 1-epoch pretraining (one VICReg step on the fake ingest):
# eval-mode features of every probe image nearly identical
COLLAPSED = {"loss": 22.174007, "invariance": 0.211148, "variance": 0.668895, "covariance": 0.172924,
             "rate_reduction": 23.920582, "rate_reduction_last": 0.001117, "rate_reduction_early": 0.00225,
             "view_cosine_last": 0.999992}
# a pretraining that learnt (monitors of the phantom UMM-protocol bench, bench/results)
HEALTHY = {"loss": 18.2, "invariance": 0.05, "variance": 0.12, "covariance": 0.31, "rate_reduction": 30.5,
           "rate_reduction_last": 4.388232, "rate_reduction_early": 3.924721, "view_cosine_last": 0.767453}


def _pretrain_meta(run: Path, metrics: dict[str, float], stage: str = "pretrain") -> None:
    (run / stage / "plots").mkdir(parents=True, exist_ok=True)
    (run / stage / "metadata.json").write_text(json.dumps(
        {"best_epoch": 0, "epochs_run": 1, "stopped": "completed", "metrics": metrics,
         "config": {"pretrain": {"loss": {"gamma": 1.0}}}}))


def _variant(run: Path, name: str, pred: list[int]) -> dict[str, object]:
    """``finetune/<name>/{metrics.json,oof.csv}`` with these out-of-fold grades; its comparison row."""
    vdir = run / "finetune" / name
    vdir.mkdir(parents=True)
    probs = np.full((len(pred), 3), 0.1)
    probs[np.arange(len(pred)), pred] = 0.8
    with open(vdir / "oof.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "grade", "fold", "P0", "P1", "P2", "score", "pred"])
        for i, (g, p) in enumerate(zip(GRADES, pred, strict=True)):
            writer.writerow([f"{i:03d}.png", g, i % 5, *probs[i], p, p])
    one = len(set(pred)) == 1
    qwk, ci = (0.0, [0.0, 0.0]) if one else (0.6, [0.3, 0.8])
    (vdir / "metrics.json").write_text(json.dumps(
        {"qwk": qwk, "qwk_ci95": ci, "auc": 0.7, "auc_ovr": 0.7, "accuracy": 0.5, "macro_f1": 0.4,
         "class_names": NAMES, "calibration": {"temperature": 1.0, "thresholds": [0.5, 1.5]},
         "decision": "thresholds", "folds": []}))
    return {"variant": name, "n": len(pred), "qwk": qwk, "qwk_ci_low": ci[0], "qwk_ci_high": ci[1],
            "auc": 0.7, "auc_ovr": 0.7, "accuracy": 0.5, "macro_f1": 0.4, "qwk_fold_mean": qwk,
            "qwk_fold_std": 0.1, "seconds": 1.0}


def _difference(value: float) -> dict[str, dict[str, float]]:
    return {m: {"difference": value, "ci_low": value - 0.2, "ci_high": value + 0.2}
            for m in ("accuracy", "qwk", "auc_ovr")}


def _run(tmp_path: Path, scratch_pred: list[int], metrics: dict[str, float]) -> Path:
    run = tmp_path / "run"
    _pretrain_meta(run, metrics)
    (run / "pretrain" / "plots" / "pretrain_loss.png").write_bytes(b"png")
    (run / "pretrain" / "plots" / "pretrain_something_new.png").write_bytes(b"png")
    rows = [_variant(run, "scratch", scratch_pred), _variant(run, "vicreg", GRADES)]
    (run / "finetune" / "comparison.json").write_text(json.dumps(
        {"rows": rows, "class_names": NAMES, "protocol": "5-fold",
         "pretrained_minus_scratch": {"vicreg": _difference(0.379)}, "umm_minus_vicreg": None}))
    return run


def _section(text: str, heading: str) -> str:
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


def test_a_collapsed_pretraining_and_a_one_grade_scratch_are_flagged(tmp_path: Path) -> None:
    text = write_report(_run(tmp_path, [1] * 30, COLLAPSED)).read_text()
    ssl = _section(text, "## Self-supervised pretraining")
    assert "**The VICReg representation looks collapsed**" in ssl
    assert ("rate reduction of the probe 0.0011 (under 0.5; runs that learnt have several) and view "
            "cosine 1.0000: every image gives nearly the same features") in ssl
    assert "carry little information" in ssl and "mostly the head" in ssl
    assert "more epochs" in ssl and "larger batch" in ssl and "learning rate" in ssl

    finetune = _section(text, "## Cross-validated fine-tuning")
    scratch = finetune.split("### scratch (random init)", 1)[1].split("### ", 1)[0]
    assert "every image was given one grade (1 NPDR)" in scratch
    assert "| VICReg - scratch | +0.379" in finetune  # the numbers stay; the words qualify them
    assert ("**Read with care:** scratch (random init): every image was given one grade (1 NPDR). So "
            "VICReg - scratch says only that VICReg learnt something, not that pretraining helped.") in finetune
    vicreg = finetune.split("### VICReg", 1)[1]
    assert "given one grade (" not in vicreg and "learnt next to nothing" not in vicreg


def test_the_differences_table_says_how_many_cis_it_holds_and_what_chance_makes_of_them(
        tmp_path: Path) -> None:
    """A trial read an AUC difference whose CI excluded 0 between two models no better than
    chance as a finding: compare said why not, report.md did not."""
    text = _section(write_report(_run(tmp_path / "a", [1] * 30, COLLAPSED)).read_text(),
                    "## Cross-validated fine-tuning")
    assert "This table holds 3 CIs: a 95% CI excludes 0 one time in twenty by chance alone" in text
    assert "touches 0, so it too is consistent with no difference" in text
    assert ("scratch (random init): no evidence of grading better than chance (see its section), and a "
            "difference against a model no better than chance says nothing about what changed") in text
    healthy = write_report(_run(tmp_path / "b", [0, 1, 2, 1, 1, 0] * 5, HEALTHY)).read_text()
    assert "This table holds 3 CIs" in healthy and "no evidence of grading better than chance (see" not in healthy


def test_nearly_one_grade_is_flagged_with_its_share(tmp_path: Path) -> None:
    text = write_report(_run(tmp_path, [1] * 29 + [0], HEALTHY)).read_text()
    assert "29 of the 30 images (97%) were given one grade (1 NPDR)" in text
    assert "not that pretraining helped" in text


def test_a_healthy_run_gets_neither_warning(tmp_path: Path) -> None:
    text = write_report(_run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)).read_text()
    # the sections the warnings would be in are there (the negatives alone held with them cut)
    assert "## Self-supervised pretraining" in text and "*Figure: VICReg loss and its three terms" in text
    assert "## Cross-validated fine-tuning" in text and text.count("Out-of-fold QWK 0.600") >= 2
    assert "looks collapsed" not in text and "carry little information" not in text
    assert "given one grade (" not in text and "Read with care" not in text
    assert "learnt next to nothing" not in text


def test_collapse_symptoms_follow_the_named_thresholds() -> None:
    assert collapse.collapse_symptoms(HEALTHY) == []
    assert collapse.collapse_symptoms({}) == []  # nothing measured: nothing claimed
    seen = collapse.collapse_symptoms(COLLAPSED)
    assert len(seen) == 1 and "rate reduction of the probe 0.0011" in seen[0]
    edge = collapse.COLLAPSE_RATE_REDUCTION
    assert collapse.collapse_symptoms({**HEALTHY, "rate_reduction_last": edge * 1.01}) == []
    assert collapse.collapse_symptoms({**HEALTHY, "rate_reduction_last": edge * 0.99})
    # a trial's barely trained run (3 epochs of 3 steps) sat just above the old 0.1
    assert collapse.collapse_symptoms({**HEALTHY, "rate_reduction_last": 0.1136, "view_cosine_last": 0.9989})
    # no probe (pretrain.monitor_images=0): the training batches' rate reduction stands in
    no_probe = {k: v for k, v in HEALTHY.items() if not k.endswith(("_last", "_early"))}
    assert collapse.collapse_symptoms(no_probe) == []
    words = collapse.collapse_symptoms({**no_probe, "rate_reduction": 0.01})[0]
    assert "of the training batches 0.0100" in words and "no better than two views of one image" in words
    # the VICReg variance hinge near gamma: the embeddings' per-dimension std near 0
    share = collapse.COLLAPSE_VARIANCE_SHARE
    std = collapse.collapse_symptoms({**HEALTHY, "variance": share + 0.05})
    assert len(std) == 1 and "standard deviation" in std[0]
    assert collapse.collapse_symptoms({**HEALTHY, "variance": share - 0.05}) == []
    assert collapse.collapse_symptoms({**HEALTHY, "variance": 2 * (share + 0.05)}, gamma=2.0)
    assert collapse.collapse_symptoms({**HEALTHY, "variance": None, "rate_reduction_last": float("nan")}) == []


def test_one_grade_words_and_the_ci_reason_say_it_alike() -> None:
    assert one_grade_words([1, 1, 1], NAMES) == "every image was given one grade (1 NPDR)"
    assert degenerate_ci_reason(0.0, 0.0, [0, 1, 2], [1, 1, 1], NAMES).startswith(one_grade_words([1, 1, 1], NAMES))
    assert one_grade_words([2] * 19 + [0], NAMES) == "19 of the 20 images (95%) were given one grade (2 PDR)"
    assert one_grade_words([2] * 18 + [0, 1], NAMES) is None  # 90%: below ONE_GRADE_SHARE
    assert one_grade_words([2] * 19 + [0], NAMES, min_share=1.0) is None
    assert one_grade_words([], NAMES) is None


def test_every_linked_figure_kind_has_a_caption_under_it(tmp_path: Path) -> None:
    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    _pretrain_meta(run, HEALTHY, stage="umm")
    for stem in ("umm_rate_reduction", "umm_losses", "umm_steps", "umm_start"):
        (run / "umm" / "plots" / f"{stem}.png").write_bytes(b"png")
    lines = write_report(run).read_text().splitlines()
    figures = [(i, m.group(1)) for i, line in enumerate(lines)
               if (m := re.fullmatch(r"!\[[^\]]*\]\((?:.+/)?([^/)]+)\.png\)", line))]
    stems = {stem for _, stem in figures}
    assert {"pretrain_loss", "pretrain_something_new", "umm_start", "comparison", "vicreg_confusion",
            "scratch_roc"} <= stems
    for i, stem in figures:
        following = next((line for line in lines[i + 1:] if line.strip()), "")
        if stem == "pretrain_something_new":  # unknown stem: no caption, nothing invented
            assert not following.startswith("*Figure:"), following
            continue
        variant = next((v for v in ("scratch", "vicreg") if stem.startswith(f"{v}_")), "")
        caption = figure_caption(stem, variant)
        assert caption and following == f"*Figure: {caption}*", (stem, following)
    assert "a curve still falling at the last epoch" in FIGURE_CAPTIONS["pretrain_loss"]
    assert figure_caption("nothing_known") is None and figure_caption("vicreg_confusion") is None
    assert figure_caption("vicreg_confusion", "vicreg") == FIGURE_CAPTIONS["confusion"]


@pytest.mark.parametrize(("module", "stem"), [
    (pretrain, "pretrain_loss"), (pretrain, "pretrain_monitors"), (umm_plots, "umm_rate_reduction"),
    (umm_plots, "umm_losses"), (umm_plots, "umm_steps"), (umm_stage, "umm_start")])
def test_the_captioned_stage_figures_are_those_the_stages_write(module: ModuleType, stem: str) -> None:
    """A renamed plot would silently lose its caption: the stems must be the stages' file names."""
    assert f'"{stem}.png"' in Path(str(module.__file__)).read_text(encoding="utf-8")
    assert stem in FIGURE_CAPTIONS


@pytest.mark.parametrize(("umm_config", "stopped", "rule"), [
    ({}, "completed all epochs", "the last epoch"),
    ({}, "guard: SSL loss rose 0.2", "the last epoch the SSL-loss guard passed"),
    ({"early_stop_on_rate_reduction": True}, "completed all epochs",
     "the highest rate reduction of the last-layer features"),
])
def test_each_ssl_stage_says_which_epoch_it_kept_and_why(tmp_path: Path, umm_config: dict[str, object],
                                                        stopped: str, rule: str) -> None:
    """A trial read 'Best epoch 1 of 1' for UMM, which keeps its last epoch, not a best one."""
    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    _pretrain_meta(run, HEALTHY, stage="umm")
    meta = json.loads((run / "umm" / "metadata.json").read_text())
    meta.update(stopped=stopped, epochs_run=3, best_epoch=1, config={**meta["config"], "umm": umm_config})
    (run / "umm" / "metadata.json").write_text(json.dumps(meta))
    ssl = _section(write_report(run).read_text(), "## Self-supervised pretraining")
    assert "Kept: epoch 1 of 1, the lowest VICReg loss (completed); its loss 18.2000" in ssl
    assert f"Kept: epoch 2 of 3, {rule} ({stopped}); its " in ssl
    assert "Best epoch" not in ssl


def test_the_umm_line_says_when_umm_did_not_start_past_the_monitor_peak(tmp_path: Path) -> None:
    """methods.md section 2 applies UMM past the monitor's peak; the UMM stage's start note
    (metadata.json ``umm.start_note``) is repeated in report.md, and a run without one (no
    monitor, or past the peak) reads as before."""
    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    _pretrain_meta(run, HEALTHY, stage="umm")
    meta = json.loads((run / "umm" / "metadata.json").read_text())
    start = {"rule": "best", "reason": "the pretraining output", "epoch": 1, "peak_epoch": 2, "peak_value": 9.5}
    meta["umm"] = {"start": start, "outer_objective": "F", "membership": "soft", "guard": {}}
    (run / "umm" / "metadata.json").write_text(json.dumps(meta))
    before = _section(write_report(run).read_text(), "## Self-supervised pretraining")
    assert "UMM started from `best`" in before and "not past" not in before
    note = ("UMM started from epoch 2, not past the rate-reduction monitor's peak (epoch 3): methods.md "
            "applies UMM to a model that has begun to memorise; set umm.start_from=past_peak after a "
            "longer pretraining")
    meta["umm"]["start_note"] = note
    (run / "umm" / "metadata.json").write_text(json.dumps(meta))
    after = _section(write_report(run).read_text(), "## Self-supervised pretraining")
    assert f"{note}." in after
    umm_line = next(line for line in after.splitlines() if line.startswith("UMM started from `best`"))
    assert umm_line.endswith(f"{note}.")  # on the UMM line, after what it says today
    assert after.replace(f" {note}.", "") == before  # only words added


def test_the_umm_line_says_the_outer_batch_and_what_delta_r_is_taken_on_when_not_the_defaults() -> None:
    """Review F3: umm.outer_batch=next and umm.rate_reduction_on=embedding change what F is,
    but report.md's UMM line (metadata.json ``umm``) read as for the defaults; the defaults
    (and runs before the settings) read as before."""
    from drac_ssl.report import _umm_line

    objective = "F = L_ssl(theta') - 1 * Delta R(theta')"
    info = {"start": {"rule": "best", "reason": "the pretraining output", "epoch": 1},
            "outer_objective": objective, "membership": "soft", "guard": {}}
    both = _umm_line(info | {"outer_batch": "next", "rate_reduction_on": "embedding"})
    assert (f"Outer objective {objective} (on the epoch's next batch, umm.outer_batch=next; Delta R on "
            f"the expander outputs, umm.rate_reduction_on=embedding), membership soft") in both, both
    plain = _umm_line(info | {"outer_batch": "same", "rate_reduction_on": "features"})
    assert f"Outer objective {objective}, membership soft" in plain, plain
    assert _umm_line(info) == plain  # a run before the settings
    one = _umm_line(info | {"outer_batch": "same", "rate_reduction_on": "embedding"})
    assert "umm.outer_batch" not in one and "(Delta R on the expander outputs" in one, one


def _six_image_manifest(data: Path) -> None:
    """A run's ``data/manifest.csv`` of six training images, grades 0-2, two folds."""
    with open(data / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "path", "grade", "split", "fold", "patient"])
        writer.writerows([[f"{i:03d}.png", f"{i:03d}.png", i % 3, "train", i % 2, ""] for i in range(6)])


def test_the_data_section_says_how_many_ungradable_rows_were_left_out(tmp_path: Path) -> None:
    """data.ungradable=leave_out: the report's data section counts the rows left out (from
    ingest_summary.json); a run with none (or an older summary) says nothing of them."""
    from drac_ssl.report import _data_section

    data = tmp_path / "run" / "data"
    data.mkdir(parents=True)
    _six_image_manifest(data)
    summary = {"root": str(tmp_path / "images"), "layout": "plain", "created_utc": "2026-12-01T00:00:00",
               "grades": {"names": NAMES, "k": 3, "source": "data.grades"}, "ungradable": "leave_out",
               "left_out_ungradable": [{"name": f"{i:03d}.png", "line": i + 2, "grade_cell": "",
                                        "image": f"{i:03d}.png"} for i in range(6, 9)]}
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    lines = _data_section(tmp_path / "run")
    assert ("- 3 rows marked ungradable were left out (data.ungradable=leave_out), with their "
            "images; ingest_summary.json lists them") in lines
    for left_out in ([], None):
        summary["left_out_ungradable"] = left_out
        (data / "ingest_summary.json").write_text(json.dumps(summary))
        assert not any("ungradable" in line for line in _data_section(tmp_path / "run"))
    # data.missing=leave_out: the rows of a partial download left out, counted alike
    summary["left_out_missing"] = [{"name": f"{i:03d}.png", "line": i + 2, "grade_cell": "1"}
                                   for i in range(10, 12)]
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    assert ("- 2 label rows whose image is missing were left out (data.missing=leave_out); "
            "ingest_summary.json lists them") in _data_section(tmp_path / "run")


def test_the_data_section_names_the_layout_as_people_write_it(tmp_path: Path) -> None:
    """report.md says "APTOS layout", the name of LAYOUT_NAMES, not the key ``aptos`` (a new
    contributor's review, F6); a plain folder stays "plain layout"."""
    from drac_ssl.report import _data_section, _dataset_words

    run = tmp_path / "run"
    data = run / "data"
    data.mkdir(parents=True)
    _six_image_manifest(data)
    for layout, said in (("aptos", "APTOS"), ("deepdrid", "DeepDRiD"), ("plain", "plain")):
        summary = {"root": str(tmp_path / "images"), "layout": layout, "created_utc": "2026-12-01T00:00:00",
                   "grades": {"names": NAMES, "k": 3, "source": "data.grades"},
                   "modality": {"value": "fundus", "setting": "auto"}}
        (data / "ingest_summary.json").write_text(json.dumps(summary))
        lines = _data_section(run)
        assert f"Images ingested from `{tmp_path / 'images'}` ({said} layout)." in lines, lines
        assert _dataset_words({"data": {"dataset": "drac"}}, run) == f"graded retinal images, {said} layout"
        assert read_ingest_facts(data).describe_images() == f"grey fundus photographs ({said} layout)"


def test_the_data_section_says_when_fundus_photographs_were_pretrained_with_the_octa_recipe(
        tmp_path: Path) -> None:
    """A new user's trial: a plain folder of colour fundus photographs pretrained with the grey
    UW-OCTA recipe; the console's warning was lost and neither report.md nor the model card
    said it. The data section says it when the ingest found fundus photographs and a
    pretraining ran with recipe octa, and nothing otherwise."""
    from drac_ssl.report import _data_section

    run = tmp_path / "run"
    data = run / "data"
    data.mkdir(parents=True)
    _six_image_manifest(data)
    summary = {"root": str(tmp_path / "images"), "layout": "plain", "created_utc": "2026-12-01T00:00:00",
               "grades": {"names": NAMES, "k": 3, "source": "data.grades"},
               "modality": {"value": "fundus", "setting": "auto"}}
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    (run / "pretrain").mkdir()
    for recipe, said in (("octa", True), ("fundus", False)):
        (run / "config.yaml").write_text(f"pretrain:\n  augment:\n    recipe: {recipe}\n")
        text = "\n".join(_data_section(run))
        assert ("used the octa augmentation recipe" in text) is said, text
    (run / "config.yaml").write_text("pretrain:\n  augment:\n    recipe: octa\n")
    summary["modality"] = {"value": "octa", "setting": "auto"}
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    assert "octa augmentation recipe" not in "\n".join(_data_section(run))


def test_the_differences_table_gives_the_one_vs_one_auc_where_the_run_stored_it(tmp_path: Path) -> None:
    """Stats audit F5: DRAC's tie-breaker, the one-vs-one AUC, had no paired difference. Catches
    a table without its column when comparison.json holds it, and an ``n/a`` column for a run
    fine-tuned before it was stored."""
    run = _run(tmp_path, [1] * 30, COLLAPSED)
    old = _section(write_report(run).read_text(), "## Cross-validated fine-tuning")
    assert "| difference | accuracy | QWK | AUC (OvR) |\n" in old
    comparison = json.loads((run / "finetune" / "comparison.json").read_text())
    comparison["pretrained_minus_scratch"]["vicreg"]["auc_ovo"] = {"difference": 0.25, "ci_low": 0.05,
                                                                   "ci_high": 0.45}
    (run / "finetune" / "comparison.json").write_text(json.dumps(comparison))
    text = _section(write_report(run).read_text(), "## Cross-validated fine-tuning")
    assert "| difference | accuracy | QWK | AUC (OvR) | AUC (OvO) |\n" in text, text
    assert "+0.250 (+0.050..+0.450) |" in text


def test_a_difference_whose_interval_has_width_0_is_not_printed_as_an_interval(tmp_path: Path) -> None:
    """Trials read ``+0.000 (+0.000..+0.000)`` in report.md's differences table as certainty
    (compare already said "not meaningful"): a width-0 interval now says so in its cell, with
    one line under the table naming the metrics; an interval of width > 0 prints as before."""
    run = _run(tmp_path, [1] * 30, COLLAPSED)
    comparison = json.loads((run / "finetune" / "comparison.json").read_text())
    difference = _difference(0.1)
    difference["qwk"] = {"difference": 0.0, "ci_low": 0.0, "ci_high": 0.0}  # both kappas 0 on every resample
    comparison["pretrained_minus_scratch"]["vicreg"] = difference
    (run / "finetune" / "comparison.json").write_text(json.dumps(comparison))
    text = _section(write_report(run).read_text(), "## Cross-validated fine-tuning")
    assert ("| VICReg - scratch | +0.100 (-0.100..+0.300) | +0.000 (CI not meaningful: every resample gives 0.000: no resample of these images changes it) |") in text
    assert "+0.000 (+0.000..+0.000)" not in text
    assert "CI not meaningful (width 0): VICReg - scratch: QWK. Every resample gave that difference" in text
    assert "exactly 0 with a CI of 0..0" not in text  # only for a difference 0 on every metric


def test_a_grade_no_labelled_image_has_is_said_in_the_variants_section(tmp_path: Path) -> None:
    """A trial: a two-grade (referable / not) set run on DRAC's default three grades printed
    ``AUC n/a`` in report.md with no reason; the section now says which grade no labelled
    image has and asks whether data.grades is the labels' scale."""
    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    oof = run / "finetune" / "vicreg" / "oof.csv"
    with open(oof, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "grade", "fold", "P0", "P1", "P2", "score", "pred"])
        for i in range(30):
            writer.writerow([f"{i:03d}.png", i % 2, i % 5, 0.5, 0.3, 0.2, 0.7, i % 2])
    metrics_path = run / "finetune" / "vicreg" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics.update(auc=None, auc_ovr=None, auc_note="grade(s) [2] absent from y_true (30 samples): ...")
    metrics_path.write_text(json.dumps(metrics))
    text = _section(write_report(run).read_text(), "## Cross-validated fine-tuning")
    vicreg = text.split("### VICReg", 1)[1]
    assert ("**No labelled image has grade 2 (PDR)**: the model has outputs for grades it never saw, and "
            "the AUCs are undefined. Is `data.grades` (Normal, NPDR, PDR) the scale of these labels?") in vicreg
    scratch = text.split("### scratch (random init)", 1)[1].split("### ", 1)[0]
    assert "No labelled image has grade" not in scratch


def _audited_run(tmp_path: Path, freeze: str = "frozen") -> Path:
    """A run like the audited default job: frozen backbone, UMM capped at 4 steps of 16 pairs
    on a pool of 997 images, a phantom ingest whose stage time includes generating the set,
    and a metrics.json of an older version without the fold SD's definition."""
    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    meta = json.loads((run / "pretrain" / "metadata.json").read_text())
    meta["training_data"] = ("grey UW-OCTA images, 997 images (611 labelled; training and test images, "
                             "no labels), ingest at /x/data")
    (run / "pretrain" / "metadata.json").write_text(json.dumps(meta))
    _pretrain_meta(run, HEALTHY, stage="umm")
    (run / "umm" / "metadata.json").write_text(json.dumps(
        {**meta, "best_epoch": 0, "epochs_run": 1,
         "config": {**meta["config"], "umm": {"batch_size": 16, "max_steps_per_epoch": 4}}}))
    (run / "config.yaml").write_text(
        "data: {dataset: drac, root: '', n_folds: 5}\n"
        "pretrain: {epochs: 2, batch_size: 32, max_steps_per_epoch: 0, optimizer: lars, lr: 0.1,"
        " expander: '64', augment: {image_size: 64, source_size: 128}, backbone: {arch: resnet18}}\n"
        "umm: {enabled: true, early_cut: layer3, epochs: 1, batch_size: 16, max_steps_per_epoch: 4}\n"
        f"finetune: {{freeze: {freeze}, epochs: 3, batch_size: 16}}\n"
        "run: {stages: [ingest, pretrain, umm, finetune]}\n")
    (run / "stages.json").write_text(json.dumps(
        {"ingest": {"status": "done", "seconds": 150.0, "outputs": {"phantom_seconds": 130.1}},
         "pretrain": {"status": "done", "seconds": 20.0}}))
    for name in ("scratch", "vicreg"):
        path = run / "finetune" / name / "metrics.json"
        metrics = json.loads(path.read_text())
        metrics["folds"] = [{"fold": f, "n_train": 24, "n_val": 6, "best_epoch": 0, "epochs_run": 2,
                             "qwk": q, "seconds": 5.0 + 20 * (f == 0)} for f, q in enumerate([0.5, 0.7, 0.9])]
        metrics["qwk_fold_std"] = float(np.std([0.5, 0.7, 0.9]))  # an older run: ddof=0, unsaid
        path.write_text(json.dumps(metrics))
    comparison = json.loads((run / "finetune" / "comparison.json").read_text())
    for row in comparison["rows"]:
        row["qwk_fold_mean"], row["qwk_fold_std"] = 0.7, float(np.std([0.5, 0.7, 0.9]))
    (run / "finetune" / "comparison.json").write_text(json.dumps(comparison))
    return run


def test_the_report_says_what_scratch_caps_fold_sds_and_times_are(tmp_path: Path) -> None:
    """An audit of the default job: 'scratch (random init)' was a frozen random backbone, the
    UMM epoch was 64 pairs of 997, the fold SD of an old run was the population SD under a
    label of the sample SD, and the ingest and fold-0 times held work not theirs."""
    text = write_report(_audited_run(tmp_path)).read_text()
    finetune = _section(text, "## Cross-validated fine-tuning")
    title = "scratch (random init, frozen: random features + trained head)"
    assert f"### {title}" in finetune and f"| {title} |" in finetune
    assert "random frozen features" in finetune and "not against a network trained from scratch" in finetune
    config = _section(text, "## Configuration")
    assert "capped at 4 steps an epoch by umm.max_steps_per_epoch: 64 of 997 image pairs an epoch" in config
    assert "max_steps_per_epoch" not in config.split("| pretrain |", 1)[1].split("\n", 1)[0]  # no cap: unsaid
    ssl = _section(text, "## Self-supervised pretraining")
    assert "64 of 997 image pairs an epoch" in ssl.split("### UMM", 1)[1]
    # the old population SD (0.163) is not shown as the sample SD: recomputed from the folds
    assert "0.700 ± 0.200" in finetune and "0.163" not in finetune
    assert "sample SD over the folds" in finetune
    stages = _section(text, "## Stage wall times")
    assert "130.1 s of the ingest stage went into generating the phantom data" in stages
    assert "(fold 0, unless folds were reused) include the frozen-backbone features of every image" in finetune
    assert "best_epoch" in text and "counted from 0" in text  # folds.csv's convention, said
    # the per-fold table names the epoch each fold kept (a run of before finetune.keep: best)
    assert "| fold | train | val | kept epoch | epochs |" in finetune and "| best epoch |" not in finetune
    assert "; it chose the kept epoch." in finetune
    # its config.yaml names no finetune.keep: the run of before the setting ran under best
    assert "best validation-kappa epoch kept (keep best, patience " in config.split("| finetune |", 1)[1]
    assert "n = 30 images" in finetune  # the comparison plot's title, in its alt text too
    assert "frozen" not in write_report(_audited_run(tmp_path / "all", "all")).read_text().split(
        "## Cross-validated fine-tuning", 1)[1].split("### scratch", 1)[1].split("\n", 1)[0]


@pytest.mark.parametrize("keep", ["last", "best"])
def test_the_fold_table_says_the_uncalibrated_kappa_chose_the_epoch_only_under_keep_best(
        tmp_path: Path, keep: str) -> None:
    run = _audited_run(tmp_path)
    for name in ("scratch", "vicreg"):
        path = run / "finetune" / name / "metrics.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "keep": keep}))
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved["finetune"]["keep"] = keep
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    finetune = _section(write_report(run).read_text(), "## Cross-validated fine-tuning")
    assert "| fold | train | val | kept epoch | epochs |" in finetune
    config = _section(write_report(run).read_text(), "## Configuration")
    row = config.split("| finetune |", 1)[1].split("\n", 1)[0]
    if keep == "last":  # the configuration row names the rule, and no patience it did not use
        assert "each fold's last epoch kept (keep last)" in row and "patience" not in row, row
    if keep == "last":  # the default: nothing chosen on the validation fold
        assert "it chose the kept epoch" not in finetune
        assert "; it chose no epoch (finetune.keep=last: each fold kept its last)." in finetune
    else:
        assert "; it chose the kept epoch." in finetune and "it chose no epoch" not in finetune


@pytest.mark.parametrize(("recorded", "configured"), [("best", "last"), ("last", "best")])
def test_the_keep_best_caveat_reads_the_selected_variants_recorded_keep(
        tmp_path: Path, recorded: str, configured: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The caveat over the fine-tuning section read config.yaml alone, while train's result line
    and compare read the selected variant's metrics.json keep first
    (:func:`drac_ssl.config.variant_keep`): a run whose two disagree (a config.yaml edited, a
    variant reused from another run) was said "chosen on the rows they score" by one and not by
    the other. Now report.md reads the same keep."""
    from drac_ssl import report

    monkeypatch.setattr(report, "_variant_section", lambda *args, **kwargs: ([], None))  # its figures: not read here
    run = _run(tmp_path, GRADES, HEALTHY)
    (run / "finetune" / "summary.json").write_text(json.dumps({"selected": "vicreg"}))
    for name, keep in (("vicreg", recorded), ("scratch", configured)):  # the selected one is read
        path = run / "finetune" / name / "metrics.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "keep": keep}))
    (run / "config.yaml").write_text(yaml.safe_dump({"finetune": {"keep": configured}}))
    caveat = any(line.startswith("**Figures ") and "finetune.keep=best" in line
                 for line in report._finetune_section(run, run / "report"))
    assert caveat is (recorded == "best"), (recorded, configured)


def test_the_report_command_returns_its_exit_code_for_help_and_usage_errors(
        capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import report

    assert report.main(["--help"]) == 0 and "RUN" in capsys.readouterr().out
    assert report.main([]) == 2 and "required: RUN" in capsys.readouterr().err
    assert report.main(["a", "b"]) == 2


def test_the_report_command_is_logged_and_the_report_says_what_wrote_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m drac_ssl.report RUN`` rewrites report.md with the code of now: it adds a line
    to invocations.jsonl and report.md says which code wrote it and which made the run."""
    from drac_ssl import report, runtime

    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    (run / "environment.json").write_text(json.dumps(
        {"git_commit": "0000000", "git_dirty": False, "command": "python -m drac_ssl.train run.name=run",
         "cwd": "/somewhere"}))
    assert report.main([str(run)]) == 0
    lines = (run / "invocations.jsonl").read_text().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["ended"]["outcome"] == "finished" and line["git_commit"] == runtime.git_commit()
    text = (run / "report.md").read_text()
    now = runtime.git_commit()
    assert "Written by drac_ssl" in text and f"at commit {now}" in text
    assert "the run was made at commit 0000000" in text
    assert "`python -m drac_ssl.train run.name=run` (in `/somewhere`)" in text
    assert report.main([str(run)]) == 0
    assert len((run / "invocations.jsonl").read_text().splitlines()) == 2
    # stages taken by run.reuse ran on the source run's code: named apart, not "mixed code"
    (run / "stages.json").write_text(json.dumps({
        "pretrain": {"status": "done", "reused_from": "/elsewhere/runs/a", "code": {"git_commit": "1111111"}},
        "finetune": {"status": "done", "code": {"git_commit": "0000000", "git_dirty": False}}}))
    line = report.provenance_line(run)
    assert "taken from another run by run.reuse: pretrain (made at commit 1111111)" in line
    assert "the run was made at commit 0000000," in line and report.mixed_code_words(run) is None
    other = tmp_path / "not_a_run"  # a folder no run made gets no invocation log of its own
    other.mkdir()
    report.main([str(other)])
    assert not (other / "invocations.jsonl").exists()


def test_the_reproduce_command_of_a_run_made_by_other_code_says_it_may_not_reproduce_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An upgrade review: report.md of a run made by older code (of unknown version) gave "To
    reproduce in a new run folder: ..." as if today's code would give the same run."""
    from drac_ssl import report, runtime

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("run:\n  seed: 0\n")
    now = {"git_commit": "d1d7a26", "git_dirty": False, "code_fingerprint": "d" * 64}
    monkeypatch.setattr(runtime, "code_version", lambda: dict(now))
    for made, words in (({"git_commit": "unknown", "git_dirty": None},
                         "code of unknown version (not a git checkout, no fingerprint recorded)"),
                        ({"git_commit": "54e10d4", "git_dirty": False}, "commit 54e10d4"),
                        ({"git_commit": "unknown", "code_fingerprint": "a" * 64}, f"code fingerprint {'a' * 12}")):
        (run / "environment.json").write_text(json.dumps(made))
        line = report.provenance_line(run)
        assert "To reproduce in a new run folder: `" in line
        assert line.endswith(f" The code here (commit d1d7a26) is not the code that made the run ({words}): "
                             "it may not reproduce it exactly."), line
    (run / "environment.json").write_text(json.dumps(now))  # made by this code: as before
    assert "may not reproduce" not in report.provenance_line(run)
    (run / "environment.json").write_text(json.dumps({"git_commit": "unknown", "code_fingerprint": "d" * 64}))
    assert "may not reproduce" not in report.provenance_line(run)  # an archive of this code


def test_a_run_whose_stages_ran_with_other_cpu_thread_counts_says_so(tmp_path: Path) -> None:
    """A reproducibility review: a resume with 2 threads of a run made with 1 was said on the
    console only; environment.json (1, the first invocation's) and report.md ("resumed") hid
    it. report.md now says the run mixed counts, from stages.json's cpu_threads."""
    from drac_ssl import report

    run = tmp_path / "run"
    run.mkdir()
    stages = {"ingest": {"status": "done", "cpu_threads": [1]},
              "pretrain": {"status": "done", "cpu_threads": [1, 2, 1]},  # the 2 saved nothing
              "finetune": {"status": "done", "cpu_threads": [1]}}
    (run / "stages.json").write_text(json.dumps(stages))
    assert report.mixed_threads_words(run) is None  # every stage finished with 1
    stages["finetune"]["cpu_threads"] = [2]  # started over with 2 after the pretraining's 1
    (run / "stages.json").write_text(json.dumps(stages))
    words = report.mixed_threads_words(run)
    assert words is not None and words.startswith("**The run mixed CPU thread counts:**")
    assert "the stages' attempts ran with pretrain 1 then 2 then 1, finetune 2 CPU thread(s)" in words, words
    # the ingest and the export do no torch sums: their counts mix nothing (it said they did)
    (run / "stages.json").write_text(json.dumps({
        "ingest": {"status": "done", "cpu_threads": [2]}, "pretrain": {"status": "done", "cpu_threads": [4]},
        "finetune": {"status": "done", "cpu_threads": [4]}, "export": {"status": "done", "cpu_threads": [1]}}))
    assert report.mixed_threads_words(run) is None
    # a run made before cpu_threads: the invocation that resumed with another count
    (run / "stages.json").write_text(json.dumps({"pretrain": {"status": "done"}}))
    (run / "invocations.jsonl").write_text(json.dumps(
        {"resumed_with_other_threads": {"stage": "pretrain", "threads": 2, "earlier": 1}}) + "\n")
    assert "pretrain resumed with 2 from state made with 1" in (report.mixed_threads_words(run) or "")


def test_the_report_command_says_a_ctrl_c_in_one_line_and_exits_130(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: ``python -m drac_ssl.report`` listed no 130 in its exit codes; a Ctrl-C while
    it wrote gave a KeyboardInterrupt traceback (exit by SIGINT). One line now, exit 130, the
    run's invocations.jsonl line ended "interrupted"; its ``--help`` lists 130."""
    from drac_ssl import report
    from drac_ssl.commands import report_parser
    from drac_ssl.exit_codes import INTERRUPTED

    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    (run / "stages.json").write_text(json.dumps({"finetune": {"status": "done"}}))

    def ctrl_c(run_dir: Path) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "write_report", ctrl_c)
    monkeypatch.setattr(report.runtime, "environment_info", dict)  # no torchvision import: < 2 s alone
    try:
        code = report.main([str(run)])
    except KeyboardInterrupt:  # caught here: it would stop the whole test session
        pytest.fail("Ctrl-C left report.main as a KeyboardInterrupt (a traceback)")
    assert code == INTERRUPTED == 130
    err = capsys.readouterr().err
    assert "[report] interrupted: report.md is as it was" in err and "Traceback" not in err, err
    last = json.loads((run / "invocations.jsonl").read_text().splitlines()[-1])
    assert last["ended"]["outcome"] == "interrupted", last
    assert "130 interrupted by Ctrl-C" in " ".join(report_parser().format_help().split())


def test_the_report_command_is_refused_while_a_training_holds_the_run_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m drac_ssl.report RUN`` rewrote report.md and report/ while a training (or a
    UMM) held RUN, which writes them too at its end: it is refused (exit 75, the training's for
    a busy folder, which a job script requeues; it was 2), writing nothing, and a training
    started while the report runs is refused with the report named."""
    from drac_ssl import report
    from drac_ssl.exit_codes import RUN_BUSY
    from drac_ssl.runtime import RunBusy, hold_run

    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    (run / "stages.json").write_text(json.dumps({"finetune": {"status": "done"}}))
    with hold_run(run):
        assert report.main([str(run)]) == RUN_BUSY == 75
    err = capsys.readouterr().err
    assert "in use: python -m drac_ssl.train, process" in err and "Traceback" not in err
    assert "writes report.md itself" in err
    assert not (run / "report.md").exists() and not (run / "invocations.jsonl").exists()
    # the report holds the folder while it writes: a training is refused, the report named
    seen: list[str] = []
    real = report.write_report

    def write_while_a_training_tries(run_dir: Path) -> Path:
        with pytest.raises(RunBusy) as refused:
            with hold_run(run_dir):
                pass
        seen.append(str(refused.value))
        return real(run_dir)

    monkeypatch.setattr(report, "write_report", write_while_a_training_tries)
    assert report.main([str(run)]) == 0
    assert "in use: python -m drac_ssl.report, process" in seen[0], seen
    assert (run / "report.md").exists()


def test_the_report_command_refuses_a_config_yaml_edited_after_the_stages_ran(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m drac_ssl.report RUN`` wrote the configuration section from RUN/config.yaml as
    it is now: edited after the run (pretrain.lr, finetune.head), the report said the run ran
    with the edited values. It is refused in the words of the training's edited-config check
    (which values the stages ran with, and the fix), writing nothing; put back, it reports."""
    from fake_ingest import make_finished_run

    from drac_ssl import report, train

    run = make_finished_run(tmp_path / "runs" / "done")
    saved = run / "config.yaml"
    ran = train.to_dict(train.load_config(saved))
    (run / "pretrain" / "metadata.json").write_text(json.dumps({"config": ran}))
    model = json.loads((run / "finetune" / "vicreg" / "model.json").read_text())
    (run / "finetune" / "vicreg" / "model.json").write_text(json.dumps({**model, "finetune": ran["finetune"]}))
    written: list[Path] = []
    monkeypatch.setattr(report, "write_report", lambda run_dir: written.append(run_dir) or run_dir / "report.md")
    head = "mlp" if ran["finetune"]["head"] != "mlp" else "linear"
    for edit, words in ((["pretrain.lr=0.5"], f"pretrain.lr is 0.5 there but the pretraining ran with "
                                               f"{ran['pretrain']['lr']} (pretrain/metadata.json)"),
                        ([f"finetune.head={head}"], f"finetune.head is {head!r} there but the fine-tuning "
                                                    f"ran with {ran['finetune']['head']!r} (finetune/vicreg/model.json)")):
        train.save_config(train.load_config(saved, edit), saved)  # the hand edit
        capsys.readouterr()
        assert report.main([str(run)]) == 2
        err = capsys.readouterr().err
        assert f"{saved} does not say what the stages ran with" in err and words in err, err
        assert "fix: make config.yaml say what they ran with" in err and "Traceback" not in err, err
        assert f"then rerun {python_command('drac_ssl.report')} {run}; to run with other values" in err, err
        assert written == []
        train.save_config(train.load_config(saved, [f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                                                    for k, v in (("pretrain.lr", ran["pretrain"]["lr"]),
                                                                 ("finetune.head", ran["finetune"]["head"]))]),
                          saved)  # the fix as printed: put back
    assert report.main([str(run)]) == 0 and written == [run]


def test_three_one_grade_variants_are_read_with_care_once(tmp_path: Path) -> None:
    """A tiny run whose three variants each gave every image one grade: report.md carried three
    long 'Read with care' paragraphs, each repeating two variants' words. The comparison says it
    once: each variant's words once, then how each difference reads; every fact stays."""
    run = tmp_path / "run"
    _pretrain_meta(run, HEALTHY)
    rows = [_variant(run, "scratch", [1] * 30), _variant(run, "vicreg", [0] * 30),
            _variant(run, "vicreg_umm", [2] * 30)]
    (run / "finetune" / "comparison.json").write_text(json.dumps(
        {"rows": rows, "class_names": NAMES, "protocol": "5-fold",
         "pretrained_minus_scratch": {"vicreg": _difference(0.0), "vicreg_umm": _difference(0.0)},
         "umm_minus_vicreg": _difference(0.0)}))
    text = _section(write_report(run).read_text(), "## Cross-validated fine-tuning")
    comparison = text.split("### scratch (random init)", 1)[0]
    assert comparison.count("Read with care") == 1
    for words in ("every image was given one grade (1 NPDR)", "every image was given one grade (0 Normal)",
                  "every image was given one grade (2 PDR)"):
        assert comparison.count(words) == 1, words
        # and in its section twice: its note (after the cross-fitted calibration, ...) and its CI's
        assert text.count(words) == 3, words
        assert text.count(f"After the cross-fitted calibration, {words}") == 1, words
    assert ("**Read with care:** scratch (random init): every image was given one grade (1 NPDR); "
            "VICReg: every image was given one grade (0 Normal); VICReg + UMM: every image was given "
            "one grade (2 PDR). So VICReg - scratch and VICReg + UMM - scratch compare two models that "
            "learnt next to nothing and say nothing about whether pretraining helped; VICReg + UMM - "
            "VICReg compares two models that learnt next to nothing and says nothing about whether UMM "
            "helped.") in comparison
    # one variant of a pair: its reading per difference, as before
    run = tmp_path / "one"
    _pretrain_meta(run, HEALTHY)
    rows = [_variant(run, "scratch", GRADES), _variant(run, "vicreg", [0] * 30),
            _variant(run, "vicreg_umm", GRADES)]
    (run / "finetune" / "comparison.json").write_text(json.dumps(
        {"rows": rows, "class_names": NAMES, "protocol": "5-fold",
         "pretrained_minus_scratch": {"vicreg": _difference(-0.3), "vicreg_umm": _difference(0.0)},
         "umm_minus_vicreg": _difference(0.3)}))
    comparison = _section(write_report(run).read_text(), "## Cross-validated fine-tuning").split(
        "### scratch (random init)", 1)[0]
    assert ("**Read with care:** VICReg: every image was given one grade (0 Normal). So VICReg - "
            "scratch says only that VICReg learnt next to nothing here, not that pretraining hurts; "
            "VICReg + UMM - VICReg says only that VICReg + UMM learnt something, not that UMM "
            "helped.") in comparison


def test_read_this_first_gathers_the_reports_warnings_with_links_to_them(tmp_path: Path) -> None:
    """A DRAC participant's trial: the report's warnings (a collapsed pretraining mid-page, a
    variant giving every image one grade, no evidence of better than chance) are scattered
    through a long page. "Read this first", under the title, lists each once with a link to
    the section that says it; a run without any says there is none."""
    import re

    def anchors(text: str) -> set[str]:  # GitHub's heading ids, a repeated heading numbered
        seen: dict[str, int] = {}
        for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.M):
            base = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            seen[base] = seen.get(base, -1) + 1
            found.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        return found

    found: set[str] = set()
    text = write_report(_run(tmp_path, [1] * 30, COLLAPSED)).read_text()
    head = text.split("## Read this first", 1)[1].split("\n## ", 1)[0]
    assert text.index("## Read this first") < text.index("## Data")
    items = [line for line in head.splitlines() if line.startswith("- ")]
    assert any("VICReg representation looks collapsed" in i for i in items), items
    assert any("every image was given one grade" in i.lower() for i in items), items
    assert any(i.startswith("- Read with care") for i in items), items
    links = [a for i in items for a in re.findall(r"\]\(#([^)]+)\)", i)]
    assert links and set(links) <= anchors(text), (links, found)
    assert len(items) == len({i.split(" (")[0] for i in items})  # each warning once
    healthy = write_report(_run(tmp_path / "ok", GRADES, HEALTHY)).read_text()
    head = healthy.split("## Read this first", 1)[1].split("\n## ", 1)[0]
    assert "nothing in this report is marked for care" in head.lower(), head
    # no data.site_column: the Data section says no subgroup was analysed (an auditor's finding)
    from fake_ingest import make_fake_ingest

    ingested = _run(tmp_path / "ingested", GRADES, HEALTHY)
    make_fake_ingest(ingested)
    data = _section(write_report(ingested).read_text(), "## Data")
    assert "- No subgroup analysis: no site column given (data.site_column)." in data, data


def test_read_this_first_says_what_a_bare_warning_warns_about() -> None:
    """An auditor read "- Warning (scratch, VICReg, ...)" in "Read this first": a bold lead of
    "Warning:" alone said nothing of the grade-4 threshold band it warned about."""
    from drac_ssl.report import read_this_first

    body = []
    for variant, cuts in (("scratch", "2.00049, 2.0005"), ("VICReg", "2.00336, 2.00339")):
        body += [f"## {variant}", "", f"> **Warning:** The kappa-tuned thresholds ({cuts}) give grade 4 (PDR) "
                 "to none of the 30 images (6 labelled) in-sample: the thresholds rule (nearly) never gives that grade.", ""]
    items = [line for line in read_this_first(body) if line.startswith("- ")]
    assert items == ["- Warning: the kappa-tuned thresholds give grade 4 to none of the 30 images in-sample "
                     "([scratch](#scratch), [VICReg](#vicreg))"], items


def test_each_variant_says_its_out_of_fold_brier_and_ece_with_cis(tmp_path: Path) -> None:
    """An auditor wanted the out-of-fold calibration measured, not only the temperature: the
    Brier score and ECE of oof.csv's probabilities, with the CIs --score gives a submission
    (drac_ssl.scoring.calibration_measures, the one implementation)."""
    from drac_ssl.figures import ece_with_reference, format_with_ci
    from drac_ssl.oof import read_oof
    from drac_ssl.scoring import calibration_measures

    run = _run(tmp_path, GRADES, HEALTHY)
    text = write_report(run).read_text()
    oof = read_oof(run / "finetune" / "vicreg" / "oof.csv")
    want = calibration_measures(np.asarray(oof.grades), np.asarray(oof.probs), n_boot=1000, seed=0, groups=None)
    lines = [line for line in text.splitlines() if line.startswith("Calibration, out of fold")]
    assert len(lines) == 2, lines  # scratch and VICReg, each under its own figures
    assert any(f"Brier score {format_with_ci(want['brier'], *want['brier_ci95'])} (a constant prediction "
               f"of the grade frequencies, which has no skill, scores " in line and f"ECE {ece_with_reference(want)} (lower"
               in line for line in lines), lines
    assert not any("near-flat" in line for line in lines)  # temperature 1.0: the calibration held
    # stats audit F1: beside the ECE a perfectly calibrated model's, not a bootstrap CI
    assert all("a perfectly calibrated model with these probabilities would show ECE ~" in line
               for line in lines), lines


def test_a_low_ece_of_flat_probabilities_is_read_beside_the_grade_frequencies(tmp_path: Path) -> None:
    """A reviewer: 'Brier 0.800, ECE 0.002' read as well calibrated for probabilities all near
    1/K. The line gives the Brier score of a constant prediction of the grade frequencies beside
    it, and with the temperature at its bound says where a low ECE comes from."""
    from drac_ssl.figures import figure_text
    from drac_ssl.metrics import brier_score
    from drac_ssl.oof import read_oof

    run = _run(tmp_path, GRADES, HEALTHY)
    metrics_path = run / "finetune" / "vicreg" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["calibration"]["temperature"] = 100.0  # at its bound: the calibration failed
    metrics_path.write_text(json.dumps(metrics))
    grades = np.asarray(read_oof(run / "finetune" / "vicreg" / "oof.csv").grades)
    shares = np.bincount(grades, minlength=3) / len(grades)
    reference = figure_text(brier_score(grades, np.tile(shares, (len(grades), 1))))
    text = " ".join(write_report(run).read_text().split())
    vicreg = text.split("### VICReg", 1)[1]
    assert f"(a constant prediction of the grade frequencies, which has no skill, scores {reference}: " \
           "a model scoring no lower shows none either)" in vicreg, vicreg
    assert "a low ECE here comes from near-flat probabilities, not from calibration" in vicreg
    scratch = text.split("### scratch", 1)[1].split("### ", 1)[0]
    assert "near-flat" not in scratch  # its temperature 1.0


def test_read_this_first_says_when_the_pretraining_was_cut_short(tmp_path: Path) -> None:
    """The README's tiny first try caps the pretraining's epochs; its report now says first
    that its figures check the pipeline, not a grading. A full pretraining says nothing of it."""
    from drac_ssl.report import _cut_short_words

    run = _run(tmp_path, GRADES, HEALTHY)
    meta = json.loads((run / "pretrain" / "metadata.json").read_text())
    meta["training_data"] = "997 images of the ingest"
    (run / "pretrain" / "metadata.json").write_text(json.dumps(meta))
    (run / "config.yaml").write_text("pretrain:\n  batch_size: 8\n  max_steps_per_epoch: 3\n")
    said = _cut_short_words(run)
    assert said.startswith("A trial run: the pretraining was cut short (capped at 3 steps") and "24 of 997" in said
    text = write_report(run).read_text()
    assert said in text.split("## Read this first", 1)[1].split("\n## ", 1)[0]
    (run / "config.yaml").write_text("pretrain:\n  batch_size: 8\n  max_steps_per_epoch: 0\n")
    assert _cut_short_words(run) == ""


def test_checkpoints_removed_in_a_reusing_run_are_not_said_to_be_removed_in_its_source(tmp_path: Path) -> None:
    """A diff review: a run that took its pretraining by run.reuse and removed its own
    checkpoints (run.keep_checkpoints=false: its hard links) was said to have removed them in
    the source run, whose checkpoints were all there. The place is said only when the removal
    happened there (recorded as ``in`` when the stage was taken)."""
    from drac_ssl.report import _stages_section

    run = _run(tmp_path, GRADES, HEALTHY)
    here = {"folder": "pretrain/checkpoints", "mib": 0.0, "utc": "2026-12-02T10:00:00+00:00",
            "hard_linked_mib": 388.1}
    (run / "stages.json").write_text(json.dumps({"pretrain": {
        "status": "done", "seconds": 0.0, "reused_from": "/runs/a", "seconds_in_source": 5.0,
        "checkpoints_removed": here}}))
    text = "\n".join(_stages_section(run))
    assert ("`pretrain/checkpoints/` (0.0 MiB freed; 388.1 MiB more were hard links another run "
            "folder still holds)") in text, text  # which one is not known: not "the run it was taken from"
    assert "removed in" not in text
    (run / "stages.json").write_text(json.dumps({"pretrain": {
        "status": "done", "seconds": 0.0, "reused_from": "/runs/a", "seconds_in_source": 5.0,
        "checkpoints_removed": {"in": "/runs/a", "folder": "pretrain/checkpoints", "mib": 388.1}}}))
    assert "removed in `/runs/a`" in "\n".join(_stages_section(run))


def _ingest_without_dark_surround(root: Path, data: Path, n: int = 6) -> None:
    """A real ingest with ``data.fundus_crop=true`` of ``n`` colour photographs that fill
    their frame (already cropped to the disc, as IDRiD-like copies a new user had): each gets
    the ingest's ``no dark surround`` warning and is left as it is."""
    import cv2

    from data_prep import ingest
    from drac_ssl.config import DataConfig

    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        image = rng.integers(90, 200, (40, 48, 3)).astype(np.uint8)  # bright to every corner
        cv2.imwrite(str(root / f"{i:02d}.png"), image)
    (root / "labels.csv").write_text("image name,DR grade\n" + "".join(
        f"{i:02d}.png,{i % 3}\n" for i in range(n)))
    ingest.run(DataConfig(root=str(root), grades=list(NAMES), channels="auto", fundus_crop=True,
                          cache_sizes=[16], n_folds=2, workers=1), data, verbose=False)


def test_the_report_says_when_the_crop_to_the_fundus_disc_was_not_applied(tmp_path: Path) -> None:
    """A new user's IDRiD-like copies, already cropped to the disc, ingested with
    data.fundus_crop=true: the ingest warned that every image was left as it is, yet the
    data section said `crop to the fundus disc` and "Read this first" said nothing. The data
    section now counts the images the crop left alone (from ingest_summary.json), and the
    ingest's warnings are a warning of the report, pointing to where they are listed."""
    from drac_ssl.report import _data_section

    run = _run(tmp_path, GRADES, HEALTHY)
    _ingest_without_dark_surround(tmp_path / "photos", run / "data")
    summary = json.loads((run / "data" / "ingest_summary.json").read_text())
    assert summary["findings_by_kind"] == {"warning:fundus-surround": 6}  # what the ingest records
    lines = _data_section(run)
    assert ("- fundus preprocessing: crop to the fundus disc (requested; not applied to 6 of 6 "
            "images: no dark surround around the disc)") in lines, lines
    head = write_report(run).read_text().split("## Read this first", 1)[1].split("\n## ", 1)[0]
    assert "- The ingest gave 6 warnings, listed in `data/ingest_summary.json` ([Data](#data))" in head, head
    # both kinds that leave an image uncropped, and a failed ingest's full list beside the summary
    summary["findings_by_kind"] = {"note:other": 1, "warning:fundus-crop": 1,
                                   "warning:fundus-surround": 4, "warning:size": 2}
    (run / "data" / "ingest_summary.json").write_text(json.dumps(summary))
    from data_prep.ingest import PROBLEMS_NAME

    (run / "data" / PROBLEMS_NAME).write_text("every problem found\n")
    lines = _data_section(run)
    assert ("- fundus preprocessing: crop to the fundus disc (requested; not applied to 5 of 6 "
            "images: no dark surround around the disc (4), no fundus disc found (1))") in lines, lines
    assert any(line.startswith("- **The ingest gave 7 warnings, listed in `data/ingest_summary.json` "
                               "and `data/ingest_problems.txt`**") for line in lines), lines
    # an ingest without warnings: the setting as it was, and no warning
    summary["findings_by_kind"], summary["warnings"] = {"note:other": 1}, []
    (run / "data" / "ingest_summary.json").write_text(json.dumps(summary))
    (run / "data" / PROBLEMS_NAME).unlink()
    lines = _data_section(run)
    assert "- fundus preprocessing: crop to the fundus disc" in lines
    assert not any("warning" in line for line in lines), lines


def test_a_generic_pretraining_run_is_reported_as_what_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: ``python -m drac_ssl.report`` on an MNIST run titled it "DRAC 2022 Task 3
    (diabetic retinopathy grading on UW-OCTA)", said "Unknown: no readable ingest summary",
    described "28 px crops of the 512 px cache" and listed UMM and fine-tuning settings for
    stages that never ran. A tiny real MNIST run (one epoch of two steps, on a hand-made
    ``mnist_{train,test}.npz``) is now reported as a pretraining check on MNIST with the split
    sizes its pretraining recorded, and only the stages that ran."""
    from drac_ssl import train

    root = tmp_path / "mnist"
    root.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 48), ("test", 24)):
        np.savez(root / f"mnist_{split}.npz", x=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                 y=(np.arange(n) % 10).astype(np.uint8))
    monkeypatch.chdir(tmp_path)
    code = train.main(["-c", str(train.PACKAGE_CONFIGS / "mnist.yaml"), f"data.root={root}", "run.device=cpu",
                       "pretrain.epochs=1", "pretrain.max_steps_per_epoch=2", "pretrain.batch_size=8",
                       "pretrain.knn_every=1", "pretrain.warmup_epochs=0", "pretrain.expander=32-32",
                       "pretrain.augment.on_gpu=false", "pretrain.monitor_images=0",
                       "run.stages=[pretrain]", "run.out_dir=runs", "run.name=mnist"])
    assert code == 0
    run_dir = tmp_path / "runs" / "mnist"
    meta = json.loads((run_dir / "pretrain" / "metadata.json").read_text())
    assert meta["splits"] == {"train": 48, "test": 24}, meta.get("splits")
    report = write_report(run_dir).read_text()
    first = report.split("## Read this first")[1].split("## ")[0]
    # two steps an epoch: a trial run, whose figures say nothing of the features (it grades nothing)
    assert "check that the pipeline runs on this data, not how good its features are" in first, first
    assert "how well it grades" not in report
    head = report.split("## Read this first")[0]
    assert "DRAC" not in head and "UW-OCTA" not in head and "MNIST" in head, head
    data = report.split("## Data")[1].split("## ")[0]
    assert "Unknown" not in data and "ingest summary" not in data, data
    assert "training split: 48 images" in data and "test split: 24 images (the k-NN monitor's)" in data, data
    assert "scored" not in data  # the monitor read the whole test split (no knn_limit)
    assert "mean [0.1307] std [0.3081]" in data, data
    assert "px cache" not in report and "28 px crops of the 28 px images" in report, report
    config = report.split("## Configuration")[1].split("## ")[0]
    assert "| umm |" not in config and "| finetune |" not in config and "folds" not in config, config
    assert "### UMM" not in report and "## Cross-validated fine-tuning" not in report
    assert "## Export" not in report
    assert "pretraining only" in report, report
    assert "the k-NN monitor above measured its features" in report  # pretrain.knn_every=1 asked for it
    # what measures the features is bench.low_label on this run's own backbone (it named the
    # bench without --backbone: 50 epochs of pretraining again)
    assert f"--backbone {run_dir.resolve()}/pretrain/backbone.safetensors" in report
    # the same run with UMM (its folder) and without the monitor: the closing line says so
    # (it said "UMM ... not part of this run" under a UMM section, and named a monitor not run)
    (run_dir / "umm").mkdir()
    config_path = run_dir / "config.yaml"
    config_path.write_text(config_path.read_text().replace("knn_every: 1", "knn_every: 0"))
    closing = write_report(run_dir).read_text().split("## Self-supervised pretraining")[1]
    assert "Fine-tuning and export: not part of this run" in closing and "pretraining, then UMM" in closing
    assert "UMM, fine-tuning" not in closing and "k-NN monitor above" not in closing, closing
    # a monitor cut by pretrain.knn_limit scored part of the test split: the data section says so
    meta_path = run_dir / "pretrain" / "metadata.json"
    meta_path.write_text(json.dumps({**meta, "knn_monitor": {**(meta.get("knn_monitor") or {}), "test_images": 12}}))
    data = write_report(run_dir).read_text().split("## Data")[1].split("## ")[0]
    assert "test split: 24 images (the k-NN monitor's; the monitor scored 12 of them, pretrain.knn_limit=" in data


def test_folds_without_a_grade_are_said_with_a_fix_that_works_and_their_na_auc_explained(
        tmp_path: Path) -> None:
    """A fresh user's 25 photographs, 3 folds grouped by patient: folds 0 and 1 each missed a
    grade, and report.md showed their AUC as n/a without a word. The data section now names
    the folds and grades, and the checked fix (settings for a new run folder); the per-fold
    table's n/a is explained under it."""
    from reviewer_folds import ICDR, REVIEWER_FOLDS, REVIEWER_GRADES, REVIEWER_PATIENTS

    from drac_ssl.report import _data_section, fold_auc_na_lines

    data = tmp_path / "run" / "data"
    data.mkdir(parents=True)
    with open(data / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "path", "grade", "split", "fold", "patient"])
        writer.writerows([[f"{i:03d}.png", f"{i:03d}.png", g, "train", f, p] for i, (g, f, p) in
                          enumerate(zip(REVIEWER_GRADES, REVIEWER_FOLDS, REVIEWER_PATIENTS, strict=True))])
    summary = {"root": str(tmp_path / "images"), "layout": "plain", "created_utc": "2026-12-01T00:00:00",
               "grades": {"names": list(ICDR), "k": 5, "source": "data.grades=icdr"},
               "config": {"n_folds": 3, "fold_seed": 0}}
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    (line,) = [line for line in _data_section(tmp_path / "run") if "validates without" in line]
    assert line.startswith("- fold 0 validates without any grade 1 (Mild) image, fold 1 without any "
                           "grade 3 (Severe) image: those folds' AUCs cannot be computed (n/a in the "
                           "per-fold table")
    assert ("To put every grade in every fold: in a new run folder (run.name=<a new name>, ingest in "
            "run.stages), data.fold_seed=16 (checked: its 3 folds then hold every grade), or "
            "data.n_folds=2 (checked") in line
    assert "redo the ingest" not in line and "--" not in line  # redoing it as it was changes nothing
    # the per-fold table's n/a, explained from the out-of-fold grades and folds
    records = [{"fold": 0, "auc": None}, {"fold": 1, "auc": float("nan")}, {"fold": 2, "auc": 0.6}]
    (said, blank) = fold_auc_na_lines(records, np.asarray(REVIEWER_GRADES), np.asarray(REVIEWER_FOLDS),
                                      list(ICDR))
    assert said.startswith("AUC n/a: fold 0's validation images hold no grade 1 (Mild) image, fold 1's "
                           "hold no grade 3 (Severe) image; a fold's AUC needs an image of every grade")
    assert blank == ""
    assert fold_auc_na_lines(records[2:], np.asarray(REVIEWER_GRADES), np.asarray(REVIEWER_FOLDS),
                             list(ICDR)) == []
    # every fold holds every grade: nothing is said
    (data / "manifest.csv").write_text("id,path,grade,split,fold,patient\n" + "".join(
        f"{i}.png,{i}.png,{i % 2},train,{i // 2 % 2},\n" for i in range(8)))
    assert not any("validates without" in line for line in _data_section(tmp_path / "run"))


def test_an_interrupted_fine_tuning_is_said_as_such_and_read_this_first_says_how_to_finish(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: after a Ctrl-C in the fine-tuning, the stage table said "finetune |
    interrupted" but its section said "Not run", and "Read this first" did not say the run was
    unfinished. The section says interrupted, with the folds saved (stages.json), and "Read
    this first" opens with what is unfinished and the run's own command that finishes it; a
    finished run says neither."""
    run = tmp_path / "ctrlc-ft"
    _pretrain_meta(run, HEALTHY)
    _pretrain_meta(run, HEALTHY, stage="umm")
    saved = "2 of 6 folds saved: scratch 2 of 2, vicreg 0 of 2, vicreg_umm 0 of 2"
    done = {"status": "done", "seconds": 1.0, "finished_utc": "2026-01-01T00:00:00+00:00", "outputs": {}}
    (run / "config.yaml").write_text("run:\n  stages: [ingest, pretrain, umm, finetune, export]\n")
    (run / "stages.json").write_text(json.dumps({
        "ingest": done, "pretrain": done, "umm": done,
        "finetune": {"status": "interrupted", "seconds": 33.0, "attempts": 1, "saved": saved}}))
    (run / "invocations.jsonl").write_text(json.dumps({
        "tool": "drac_ssl.train", "pid": 1, "host": "elsewhere", "cwd": str(tmp_path),
        "argv": ["python", "-m", "drac_ssl.train", "data.root=/data/DRAC 2022", "run.name=ctrlc-ft"],
        "ended": {"outcome": "interrupted", "stage": "finetune", "saved": saved}}) + "\n")
    text = write_report(run).read_text()
    section = _section(text, "## Cross-validated fine-tuning")
    assert "Not run" not in section
    assert f"Interrupted ({saved}); no `finetune/comparison.json` yet" in section, section
    first = _section(text, "## Read this first")
    assert (f"- Unfinished: finetune interrupted ({saved}); export not run; rerun the same command to "
            f"finish: `cd {tmp_path} && python -m drac_ssl.train 'data.root=/data/DRAC 2022' "
            f"run.name=ctrlc-ft`") in first, first
    # written from the folder the training ran in, the file (read later, from anywhere) keeps
    # the cd: its command's relative paths start there (a review)
    monkeypatch.chdir(tmp_path)
    first = _section(write_report(run).read_text(), "## Read this first")
    assert f"finish: `cd {tmp_path} && python -m drac_ssl.train " in first, first
    assert "Not run (no `bundle/metadata.json`)" in _section(text, "## Export")  # never started
    finished = write_report(_run(tmp_path / "other", GRADES, HEALTHY)).read_text()
    assert "Unfinished" not in finished


def test_the_variant_table_has_a_majority_grade_row_and_says_how_far_each_variant_is_above_it(
        tmp_path: Path) -> None:
    """A new user's RetinaMNIST trial: accuracy 0.505 with nothing saying that always answering
    "No DR" scores 540/1200 = 0.450. The table ends with that reference row (from
    comparison.json's majority_grade; for an older run, from the oof.csv labels) and a sentence
    gives each variant's accuracy above it."""
    from drac_ssl.metrics import majority_grade_reference

    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)  # 10 images per grade: a tie, the lowest wins
    finetune = _section(write_report(run).read_text(), "## Cross-validated fine-tuning")
    # CLAIM review F9: a tie is said as one, never one grade as "the most frequent"
    assert ("| majority grade (always grade 0 (Normal), the lowest of 3 grades tied as most frequent) | 0 (by definition) "
            "|  | 0.5 (by definition) | 0.5 (by definition) | 0.333 | 0.167 |  |  |") in finetune, finetune
    assert ("always answering the most frequent grade, a tie of grades 0 (Normal), 1 (NPDR) and 2 (PDR) (10 of "
            "the 30 out-of-fold images each), so the lowest of them, grade 0 (Normal), computed from the labels "
            "alone, with no model; its QWK 0 and AUCs 0.5 hold by definition") in finetune, finetune
    assert "Accuracy above it: scratch (random init) +0.167, VICReg +0.167." in finetune
    # as the fine-tuning stores it now: comparison.json's majority_grade (the RetinaMNIST trial's)
    path = run / "finetune" / "comparison.json"
    comparison = json.loads(path.read_text())
    comparison["majority_grade"] = majority_grade_reference(
        [0] * 540 + [1] * 130 + [2] * 250 + [3] * 200 + [4] * 80,
        ["No DR", "Mild", "Moderate", "Severe", "Proliferative"])
    comparison["rows"][0]["accuracy"] = 0.44
    comparison["rows"][1]["accuracy"] = 0.505
    path.write_text(json.dumps(comparison))
    finetune = _section(write_report(run).read_text(), "## Cross-validated fine-tuning")
    assert "| majority grade (always No DR) | 0 (by definition) |  | 0.5 (by definition) |" in finetune
    assert "| 0.450 | 0.124 |" in finetune
    assert "No DR (540 of the 1200 out-of-fold images have it)" in finetune
    assert "Accuracy above it: scratch (random init) -0.010 (not above it), VICReg +0.055." in finetune


def test_majority_grade_reference_scores_always_the_most_frequent_grade() -> None:
    from drac_ssl.metrics import grading_report, majority_grade_reference

    y = [2, 2, 2, 0, 1, 2, 0]
    ref = majority_grade_reference(y, NAMES)
    assert (ref["grade"], ref["name"], ref["images"], ref["n"]) == (2, "PDR", 4, 7)
    assert ref["accuracy"] == pytest.approx(4 / 7)
    assert ref["macro_f1"] == pytest.approx(grading_report(y, None, [2] * 7, NAMES)["macro_f1"])
    assert (ref["qwk"], ref["auc"], ref["auc_ovr"]) == (0.0, 0.5, 0.5) and "sensitivity" not in ref
    two = majority_grade_reference([0, 0, 1])
    assert (two["sensitivity"], two["specificity"]) == (0.0, 1.0)
    with pytest.raises(ValueError, match="no graded images"):
        majority_grade_reference([])
    with pytest.raises(ValueError, match="grade 3 found, but the scale has 3 grades"):
        majority_grade_reference([0, 3], NAMES)


def test_the_data_section_says_when_official_splits_were_pooled_for_the_cross_validation(
        tmp_path: Path) -> None:
    """A new user's RetinaMNIST trial read "training images: 1200"; only the manifest's origin
    column showed they were the official train 1080 + val 120, pooled for the folds. Said when
    the training images came from several official splits; one split, or a manifest without
    the column (an older ingest), reads as before."""
    from drac_ssl.grading.bundle import data_provenance, pooled_origins_words
    from drac_ssl.report import _data_section

    run = tmp_path / "run"
    data = run / "data"
    data.mkdir(parents=True)
    (data / "ingest_summary.json").write_text(json.dumps(
        {"root": str(tmp_path / "retinamnist.npz"), "layout": "medmnist", "created_utc": "2026-12-01T00:00:00",
         "grades": {"names": NAMES, "k": 3, "source": "data.grades"}}))
    (run / "config.yaml").write_text("data:\n  n_folds: 2\n")

    def manifest(origins: list[str] | None) -> list[str]:
        with open(data / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["id", "path", "grade", "split", "fold", "patient"] + (["origin"] if origins else []))
            for i, origin in enumerate(origins or ["train"] * 6):
                writer.writerow([f"{i:03d}.png", f"{i:03d}.png", i % 3, "train", i % 2, ""]
                                + ([origin] if origins else []))
            writer.writerow(["t.png", "t.png", "", "test", -1, ""] + (["test"] if origins else []))
        return _data_section(run)

    pooled = manifest(["train"] * 4 + ["val"] * 2)
    assert ("- training images: 6 (official train 4 + val 2, pooled for the 2-fold cross-validation; "
            "Normal 2, NPDR 2, PDR 2)") in pooled, pooled
    for origins in (["train"] * 6, None):
        assert "- training images: 6 (Normal 2, NPDR 2, PDR 2)" in manifest(origins)
        assert "train_origins" not in data_provenance(data)
    assert pooled_origins_words({"train_origins": {"train": 1080, "val": 120}}) == (
        "official train 1080 + val 120, pooled for the cross-validation")


def test_a_killed_fine_tuning_counts_the_folds_saved_on_disk(tmp_path: Path) -> None:
    """A trial: a Ctrl-C in the fine-tuning, a rerun, then kill -9 during `vicreg fold 1`;
    report.md and export RUN --variant said "finetune killed (2 of 6 folds saved: ... vicreg 0
    of 2 ...)", the Ctrl-C's words, though vicreg's fold 0 was saved since (the next rerun
    reused it). A killed fine-tuning's folds are counted on disk: those of the attempt's plan
    that a resume would reuse (a signature it accepts, its weights, finite outputs)."""
    import platform
    import subprocess
    import sys

    from drac_ssl.run_state import FOLDS_PLAN, TRAIN_VIEWS, unfinished_words

    run = tmp_path / "killed-ft"
    _pretrain_meta(run, HEALTHY)
    _pretrain_meta(run, HEALTHY, stage="umm")
    done = {"status": "done", "seconds": 1.0, "finished_utc": "2026-01-01T00:00:00+00:00", "outputs": {}}
    (run / "config.yaml").write_text("run:\n  stages: [ingest, pretrain, umm, finetune, export]\n")
    stale = "2 of 6 folds saved: scratch 2 of 2, vicreg 0 of 2, vicreg_umm 0 of 2"
    (run / "stages.json").write_text(json.dumps({  # as the trial's rerun left it: the Ctrl-C's entry
        "ingest": done, "pretrain": done, "umm": done,
        "finetune": {"status": "interrupted", "seconds": 33.0, "attempts": 2, "saved": stale}}))
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)
    (run / "invocations.jsonl").write_text(json.dumps({  # killed: no end, its process gone
        "tool": "drac_ssl.train", "pid": dead, "host": platform.node(), "cwd": str(tmp_path),
        "argv": ["python", "-m", "drac_ssl.train", "run.name=killed-ft"]}) + "\n")
    finetune = run / "finetune"
    finetune.mkdir()
    (finetune / FOLDS_PLAN).write_text(json.dumps({
        "variants": ["scratch", "vicreg", "vicreg_umm"], "folds": [0, 1],
        "signatures": {"scratch": ["s"], "vicreg": ["v"]}}))

    def fold(variant: str, k: int, signature: str, weights: bool = True, raw: float = 0.5) -> None:
        (finetune / variant).mkdir(exist_ok=True)
        (finetune / variant / f"fold{k}.json").write_text(json.dumps(
            {"fold": k, "signature": signature, "val_raw": [[raw, 0.1]], "weights": [f"fold{k}.safetensors"],
             "train_views": TRAIN_VIEWS}))
        if weights:
            save_file({"w": np.zeros(2, np.float32)}, str(finetune / variant / f"fold{k}.safetensors"))

    fold("scratch", 0, "s")
    fold("scratch", 1, "s")
    fold("vicreg", 0, "v")  # saved after the Ctrl-C, before the kill
    fold("vicreg", 1, "other settings'")  # offered by run.reuse, say: a resume trains it again
    fold("vicreg_umm", 0, "u", weights=False)  # its weights missing
    fold("vicreg_umm", 1, "u", raw=float("nan"))  # outputs not finite: trained again too
    saved = "3 of 6 folds saved: scratch 2 of 2, vicreg 1 of 2, vicreg_umm 0 of 2"
    first = _section(write_report(run).read_text(), "## Read this first")
    assert f"- Unfinished: finetune killed ({saved}; its training ended without a word" in first, first
    what, _ = unfinished_words(run, "finetune")  # export RUN --variant's refusal
    assert f"finetune killed ({saved}; " in what and stale not in what, what
    # a variant the killed attempt had not signed yet: a fold of any signature it trained counts
    fold("vicreg_umm", 1, "any")
    assert "4 of 6 folds saved: scratch 2 of 2, vicreg 1 of 2, vicreg_umm 1 of 2" in unfinished_words(run, "finetune")[0]
    # but not one run.reuse offered from another run, as offered (linked into every variant up
    # front: the resume retrains it when its signature differs, a review), unless trained here since
    offer = {"fold1.json": {"trained_in": str(tmp_path / "elsewhere"), "signature": "any"}}
    (finetune / "vicreg_umm" / "offered_folds.json").write_text(json.dumps(offer))
    assert "3 of 6 folds saved: scratch 2 of 2, vicreg 1 of 2, vicreg_umm 0 of 2" in unfinished_words(run, "finetune")[0]
    fold("vicreg_umm", 1, "trained here")
    assert "4 of 6 folds saved: scratch 2 of 2, vicreg 1 of 2, vicreg_umm 1 of 2" in unfinished_words(run, "finetune")[0]
    # a fold saved by the drac_ssl whose views followed pretrain.num_workers: retrained on resume
    record = json.loads((finetune / "scratch" / "fold0.json").read_text())
    (finetune / "scratch" / "fold0.json").write_text(json.dumps({**record, "train_views": None}))
    assert "3 of 6 folds saved: scratch 1 of 2, vicreg 1 of 2, vicreg_umm 1 of 2" in unfinished_words(run, "finetune")[0]
    fold("scratch", 0, "s")
    # as this drac_ssl leaves it: the killed attempt's entry written as it started, after a
    # Ctrl-C and an earlier kill it could not time; the stage table says killed, and "unknown"
    stages = json.loads((run / "stages.json").read_text())
    stages["finetune"] = {"status": "running", "started_utc": "2026-01-01T01:00:00+00:00", "attempts": 3,
                          "seconds_earlier_attempts": 64.5, "killed_attempts": 1, "untimed_attempts": 1}
    (run / "stages.json").write_text(json.dumps(stages))
    text = write_report(run).read_text()
    assert "| finetune | killed | unknown | 64.5 + unknown (2; 1 killed) |  |" in _section(text, "## Stage wall times")
    assert "64.5 s and an unknown time went into attempts that were interrupted, failed or killed" in text
    # its own time, as far as the last line its training printed tells (console.log's time)
    with open(run / "invocations.jsonl") as fh:
        line = json.loads(fh.read())
    (run / "invocations.jsonl").write_text(json.dumps({**line, "date_utc": "2026-01-01T00:59:00+00:00"}) + "\n")
    (run / "console.log").write_text("[finetune] ...\n")
    started = 1767229200.0  # 2026-01-01T01:00:00 UTC
    os.utime(run / "console.log", (started + 42.0, started + 42.0))
    table = _section(write_report(run).read_text(), "## Stage wall times")
    assert "| finetune | killed | 42.0 (to the last line it printed) |" in table, table
    # the total counts it, as an interrupted stage's seconds are (a review: it left it out)
    assert "| **total** |  | 45.0 | 64.5 + unknown |" in table, table
    # a console.log written after a later command started is not the killed training's last
    # line: a folder copied without timestamps (a review); its time is unknown, so is the total's
    later = {"tool": "drac_ssl.report", "pid": 1, "host": "h", "date_utc": "2026-01-01T01:00:30+00:00",
             "ended": {"outcome": "finished"}}
    with open(run / "invocations.jsonl", "a") as fh:
        fh.write(json.dumps(later) + "\n")
    table = _section(write_report(run).read_text(), "## Stage wall times")
    assert "| finetune | killed | unknown |" in table and "| **total** |  | 3.0 + unknown |" in table, table
    (run / "invocations.jsonl").write_text(json.dumps({**line, "date_utc": "2026-01-01T00:59:00+00:00"}) + "\n")
    future = _dt.datetime.now(_dt.UTC).timestamp() + 3600.0  # later than now: no print of that training
    os.utime(run / "console.log", (future, future))
    assert "| finetune | killed | unknown |" in write_report(run).read_text()


@pytest.mark.parametrize("case", ["other stages", "same stages", "stopped before", "other host"])
def test_a_stage_left_running_by_a_dead_training_is_killed(tmp_path: Path, case: str) -> None:
    """A review: a stage's stages.json entry is "running" from its start; it counted as killed
    only when the last training's invocations.jsonl line was itself killed, so a DEAD run said
    "its training is still running ... wait for it to finish" (export RUN --variant) and its
    stage table "running" after a kill -9 in the fine-tuning followed by (a) a rerun with other
    run.stages that finished, (b) a rerun stopped (Ctrl-C) before that stage started, or (c)
    a training killed on another host (its line never marked killed, no process holds the
    lock). No training holds the run's lock in any of them: the stage was killed."""
    from drac_ssl.run_state import RUN_LOCK, stage_states, unfinished_words

    run = tmp_path / "dead"
    _pretrain_meta(run, HEALTHY)
    done = {"status": "done", "seconds": 1.0, "finished_utc": "2026-01-01T00:00:00+00:00", "outputs": {}}
    stages = ["ingest", "pretrain", "umm"] if case == "other stages" else ["ingest", "pretrain", "umm", "finetune"]
    (run / "config.yaml").write_text(f"run:\n  stages: [{', '.join(stages)}]\n")
    (run / "stages.json").write_text(json.dumps({
        "ingest": done, "pretrain": done, "umm": done,
        "finetune": {"status": "running", "started_utc": "2026-01-01T01:00:00+00:00", "attempts": 1,
                     "seconds_earlier_attempts": 0}}))
    (run / RUN_LOCK).write_text("")  # the lock file, held by no process
    killed = {"tool": "drac_ssl.train", "pid": 12345, "host": "elsewhere", "cwd": str(tmp_path),
              "date_utc": "2026-01-01T00:30:00+00:00", "argv": ["python", "-m", "drac_ssl.train", "run.name=dead"]}
    lines = [killed] if case == "other host" else [
        {**killed, "ended": {"outcome": "killed", "note": "no end"}},
        {**killed, "date_utc": "2026-01-01T02:00:00+00:00",
         "ended": {"outcome": "interrupted" if case == "stopped before" else "finished"}}]
    (run / "invocations.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    states = {s.stage: s.status for s in stage_states(run)}
    assert "running" not in states.values(), states
    if case != "other stages":
        assert states["finetune"] == "killed", states
        what, fix = unfinished_words(run, "finetune")
        assert "still running" not in what and "finetune killed" in what, what
        assert "wait for it" not in fix and "finish the run with its own command" in fix, fix
    table = _section(write_report(run).read_text(), "## Stage wall times")
    assert "| finetune | killed | unknown |  |" in table, table  # a first attempt: no earlier ones, no "0.0 (0)"
    assert "running" not in table and "0.0 (0)" not in table, table


TWO = ["non-referable", "referable"]
FOLD_CUTS = [0.45, 0.58, 0.50, 0.62]  # each fold's threshold, fitted without its images
DEPLOYED = 0.512  # fitted on all out-of-fold outputs


def _two_grade_run(tmp_path: Path) -> tuple[Path, dict[str, object], np.ndarray, np.ndarray, np.ndarray]:
    """A finished two-grade run (``vicreg`` alone): 40 images in 4 folds whose grades were
    given at each fold's own threshold (:data:`FOLD_CUTS`) on oof.csv's P1, and metrics.json
    as the fine-tuning writes it (the referable report of grade 1 with its CIs); its folder,
    metrics, grades, P1 and folds."""
    from drac_ssl.metrics import binary_screening, grading_report, referable_report

    rng = np.random.default_rng(3)
    y = np.arange(40) % 2
    folds = np.arange(40) // 10
    p1 = np.round(np.clip(0.5 + 0.18 * (y - 0.5) + rng.normal(0, 0.12, 40), 0.01, 0.99), 6)
    probs = np.stack([1 - p1, p1], axis=1)
    pred = (p1 >= np.array(FOLD_CUTS)[folds]).astype(int)
    run = tmp_path / "run"
    _pretrain_meta(run, HEALTHY)
    vdir = run / "finetune" / "vicreg"
    vdir.mkdir(parents=True)
    with open(vdir / "oof.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "grade", "fold", "P0", "P1", "score", "pred"])
        for i in range(40):
            writer.writerow([f"{i:03d}.png", y[i], folds[i], f"{probs[i, 0]:.6f}", f"{p1[i]:.6f}",
                             f"{p1[i]:.6f}", pred[i]])
    report = grading_report(y, probs, pred, TWO)
    referable = referable_report(y, probs, pred, 1, TWO, n_boot=200, seed=0)
    metrics = {"qwk": report["qwk"], "qwk_ci95": [0.1, 0.6], "auc": report["auc"], "auc_ovr": report["auc_ovr"],
               "accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "class_names": TWO,
               "calibration": {"temperature": 1.3, "thresholds": [DEPLOYED], "output": "classification",
                               "decision": "thresholds"},
               "decision": "thresholds", **binary_screening(y, pred), "referable": referable,
               "folds": [{"fold": f, "n_train": 30, "n_val": 10, "best_epoch": 0, "epochs_run": 1, "qwk": 0.3,
                          "thresholds_cross_fitted": [t]} for f, t in enumerate(FOLD_CUTS)]}
    (vdir / "metrics.json").write_text(json.dumps(metrics))
    row = {"variant": "vicreg", "n": 40, "qwk": metrics["qwk"], "qwk_ci_low": 0.1, "qwk_ci_high": 0.6,
           "auc": report["auc"], "auc_ovr": report["auc_ovr"], "accuracy": report["accuracy"],
           "macro_f1": report["macro_f1"], "qwk_fold_mean": 0.3, "qwk_fold_std": 0.1, "seconds": 1.0,
           "referable_auc": referable["auc"], "referable_auc_ci_low": referable["auc_ci95"][0],
           "referable_auc_ci_high": referable["auc_ci95"][1], "referable_sensitivity": referable["sensitivity"],
           "referable_specificity": referable["specificity"], "sensitivity": metrics["sensitivity"],
           "specificity": metrics["specificity"]}
    (run / "finetune" / "comparison.json").write_text(json.dumps(
        {"rows": [row], "class_names": TWO, "protocol": "4-fold", "pretrained_minus_scratch": {},
         "umm_minus_vicreg": None}))
    return run, metrics, y, p1, folds


def test_the_two_grade_screening_sentence_names_the_thresholds_its_figures_were_made_at(tmp_path: Path) -> None:
    """An OCTA researcher read "(grade 1 when P1 >= 0.512): sensitivity 0.474, specificity
    0.478" and applied 0.512 to oof.csv's P1: other figures, for those were made at each fold's
    cross-fitted threshold. The sentence now lists metrics.json's per-fold thresholds, gives
    the figures (with their CIs) as theirs, and names the deployed threshold apart; the AUC of
    P(referable) is said once, as the one AUC two grades have."""
    from drac_ssl.figures import format_ci
    from drac_ssl.metrics import binary_screening
    from drac_ssl.report import screening_line

    run, metrics, y, p1, folds = _two_grade_run(tmp_path)
    stored = json.loads((run / "finetune" / "vicreg" / "metrics.json").read_text())
    line = screening_line(stored, TWO)
    listed = ", ".join(f"fold {f['fold']} {f['thresholds_cross_fitted'][0]:.6f}" for f in stored["folds"])
    assert listed == "fold 0 0.450000, fold 1 0.580000, fold 2 0.500000, fold 3 0.620000"  # as stored
    assert (f"Two grades, read as a screening decision (referable = grade 1, referable: 20 images of grade 1 "
            f"and 20 of grade 0), out of fold, at cross-fitted thresholds (each fold's images are grade 1 "
            f"when P1, under that fold's temperature, is at or above that fold's threshold, fitted without "
            f"its images: {listed}): ") in line, line
    # the figures are those of the per-fold thresholds on oof.csv's P1, not of the deployed one
    at_folds = binary_screening(y, (p1 >= np.array(FOLD_CUTS)[folds]).astype(int))
    at_deployed = binary_screening(y, (p1 >= DEPLOYED).astype(int))
    assert at_folds != at_deployed  # the researcher's finding: the deployed threshold gives others
    ref = stored["referable"]
    # with its count; 3 of 20 images not cleared: the Wilson interval (review s58r3 F6)
    assert ref["sensitivity_counts"] == [12, 20] and ref["specificity_counts"] == [17, 20]
    assert (ref["sensitivity_ci_method"], ref["specificity_ci_method"]) == ("bootstrap", "wilson")
    assert (f"sensitivity {at_folds['sensitivity']:.3f} (12/20 images; 95% CI {format_ci(*ref['sensitivity_ci95'])}) "
            f"(images of grade 1, referable, found), specificity {at_folds['specificity']:.3f} (17/20 images; 95% CI "
            f"{format_ci(*ref['specificity_ci95'])}, Wilson score) (grade 0, non-referable, cleared).") in line
    assert (f"The deployed threshold, grade 1 when P1 >= {DEPLOYED:.6f}, was fitted on all out-of-fold outputs: it "
            "grades new images, and applied to oof.csv's P1 it gives other (in-sample) figures than these.") in line
    assert "(grade 1 when P1 >= 0.512): sensitivity" not in line  # the old words
    # the AUC once, with its CI and the operating points, said to be the macro AUC
    assert line.count("AUC") == 2 and line.count(f"{ref['auc']:.3f}") == 1
    assert (f"AUC of P(referable) = P1 {ref['auc']:.3f} (95% CI {format_ci(*ref['auc_ci95'])}): with two "
            f"grades this is the one-vs-one and the one-vs-rest AUC too, one number; on its ROC curve") in line
    assert ref["auc"] == pytest.approx(metrics["auc"]) and "at specificity >= 0.90" in line
    # report.md says it in the variant's section, and the table's note says the AUCs once
    text = _section(write_report(run).read_text(), "## Cross-validated fine-tuning")
    assert line in text
    assert ("With two grades the one-vs-one and one-vs-rest AUCs are the same number: the ROC AUC of grade 1 "
            "against grade 0, P1 = P(referable), the table's one AUC column (with its 95% CI)") in text
    assert "Referable AUC: the ROC AUC of P(referable) out of fold" not in text
    # a run made before two grades had their cut: the figures as they were stored, still per fold
    del stored["referable"]
    older = screening_line(stored, TWO)
    assert f"fitted without its images: {listed}): sensitivity {at_folds['sensitivity']:.3f} (images" in older
    assert "the one-vs-one and one-vs-rest AUCs are the same ROC AUC of P1" in older


def test_intervals_from_fewer_resamples_and_fold_means_over_fewer_folds_are_said(tmp_path: Path) -> None:
    """Methods audit F6 and F8: a bootstrap CI that rests on fewer resamples than were drawn
    (the others lacked a grade) and a fold QWK mean ± SD over fewer folds than were trained (a
    fold's kappa undefined) were shown as if whole. report.md now says both; a run with all its
    resamples and folds, or one made before the counts were stored, reads as before."""
    from drac_ssl.report import fold_share_words, resamples_used_words

    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    path = run / "finetune" / "vicreg" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics.update(n_boot=1000, qwk_ci95_resamples=1000, auc_ovr_ci95_resamples=883,
                   referable={"auc_ci95_resamples": 650},
                   decision_rules={"thresholds": {"qwk_ci95_resamples": 1000},
                                   "argmax": {"qwk_ci95_resamples": 990}})
    path.write_text(json.dumps(metrics))
    comparison = json.loads((run / "finetune" / "comparison.json").read_text())
    comparison["rows"][1].update(qwk_fold_defined=4, qwk_fold_count=5, qwk_fold_mean=0.6, qwk_fold_std=0.1,
                                  qwk_fold_std_ddof=1)
    comparison["rows"][0].update(qwk_fold_defined=5, qwk_fold_count=5)
    (run / "finetune" / "comparison.json").write_text(json.dumps(comparison))

    finetune = _section(write_report(run).read_text(), "## Cross-validated fine-tuning")
    vicreg = finetune.split("\n### VICReg", 1)[1]
    assert ("AUC OvR CI from 883 of 1,000 resamples; the rest lacked a grade. Referable AUC CI from 650 "
            "of 1,000 resamples; the rest lacked a referable or a non-referable image. QWK CI under the "
            "argmax rule from 990 of 1,000 resamples; on the rest kappa was undefined") in vicreg
    assert "QWK CI from" not in vicreg  # the selected rule's QWK used all 1,000
    assert "resamples; the rest" not in finetune.split("\n### VICReg", 1)[0]  # scratch stored no counts
    table = [line for line in finetune.splitlines() if line.startswith("| VICReg")]
    assert "| 0.600 ± 0.100 (over 4 of 5 folds) |" in table[0]
    assert "over 5 of 5" not in finetune and "left out of both" in finetune

    assert fold_share_words(5, 5) == "" and fold_share_words(None, 5) == ""
    assert fold_share_words(3, 5) == " (over 3 of 5 folds)"
    assert resamples_used_words({"n_boot": 1000, "auc_ovr_ci95_resamples": 1000}) is None
    assert resamples_used_words({"auc_ovr_ci95_resamples": 10}) is None  # no n_boot: an older run
    assert resamples_used_words({"n_boot": 50, "auc_ovr_ci95_resamples": 0}) is None  # no interval: n/a


def test_an_older_run_counts_its_folds_of_undefined_kappa_from_metrics_json(tmp_path: Path) -> None:
    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    path = run / "finetune" / "scratch" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["folds"] = [{"fold": f, "n_train": 24, "n_val": 6, "best_epoch": 0, "epochs_run": 1, "qwk": q}
                        for f, q in enumerate([0.5, None, 0.7, 0.9, 0.6])]  # fold 1: kappa nan, JSON null
    path.write_text(json.dumps(metrics))
    finetune = _section(write_report(run).read_text(), "## Cross-validated fine-tuning")
    scratch_row = next(line for line in finetune.splitlines() if line.startswith("| scratch"))
    assert "(over 4 of 5 folds)" in scratch_row


# the new user's default job (review F1): the probe's last-layer rate reduction fell every
# epoch, the VICReg variance term sat at 0.75-0.78; VICReg still beat scratch by +0.100 QWK
FALLING = [{"epoch": 0, "loss": 22.5978, "variance": 0.7732, "rate_reduction_last": 4.71},
           {"epoch": 1, "loss": 21.9464, "variance": 0.7762, "rate_reduction_last": 4.41},
           {"epoch": 2, "loss": 21.5, "variance": 0.7521, "rate_reduction_last": 3.87}]


def _three_epoch_meta(metrics: dict[str, float]) -> dict[str, object]:
    return {"best_epoch": 2, "epochs_run": 3, "stopped": "completed", "metrics": metrics,
            "config": {"pretrain": {"loss": {"gamma": 1.0}, "augment": {"image_size": 64}}}}


def test_the_pretraining_figures_say_what_this_runs_curves_mean_against_their_captions(tmp_path: Path) -> None:
    """Review F1: the captions said the rate reduction "should rise, then level off" and "a
    variance term near 1 means the embeddings collapsed" beside a run whose monitor fell every
    epoch and whose term was 0.75-0.78, without a word: a newcomer read a failed pretraining.
    The captions now give the package's thresholds and methods.md's shape, and under each
    figure the run's own values say where they stand against them."""
    assert "should rise, then level off" not in FIGURE_CAPTIONS["pretrain_monitors"]
    assert f"under {collapse.COLLAPSE_RATE_REDUCTION:g} nats" in FIGURE_CAPTIONS["pretrain_monitors"]
    assert "peak where the model starts to memorise" in FIGURE_CAPTIONS["pretrain_monitors"]
    assert f"{collapse.COLLAPSE_VARIANCE_SHARE:g} x gamma" in FIGURE_CAPTIONS["pretrain_loss"]
    assert "near 1 means" not in FIGURE_CAPTIONS["pretrain_loss"]

    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    (run / "pretrain" / "plots" / "pretrain_monitors.png").write_bytes(b"png")
    last = {**FALLING[-1], "rate_reduction": 6.0, "view_cosine_last": 0.8}
    (run / "pretrain" / "metadata.json").write_text(json.dumps(_three_epoch_meta(last)))
    (run / "pretrain" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in FALLING))
    lines = _section(write_report(run).read_text(), "## Self-supervised pretraining").splitlines()
    monitors = next(i for i, line in enumerate(lines) if line.endswith("pretrain_monitors.png)"))
    caption, reading = [line for line in lines[monitors + 1:] if line][:2]
    assert caption == f"*Figure: {FIGURE_CAPTIONS['pretrain_monitors']}*"
    assert reading.startswith("This run: the probe's last-layer rate reduction was 4.71 -> 4.41 -> 3.87 "
                              "(epochs 1 to 3); it fell every epoch: its highest value is the first "
                              "epoch's, so the rise the caption describes was not measured"), reading
    assert "A short run at small size (3 epochs on 64 px crops) may show this" in reading
    from drac_ssl.report import (
        _short_run_words,  # review of 1c6dafe F2: 224 px is the recipe's size
    )

    recipe = {"config": {"pretrain": {"augment": {"image_size": 224}}}}
    assert _short_run_words(recipe, 5) == "A short run (5 epochs on 224 px crops)"
    assert _short_run_words({}, 1) == "A short run (1 epoch)"
    assert ("A falling monitor is not a collapse: the report calls a rate reduction under 0.5 nats "
            "collapsed, and this run's lowest, 3.87, is above it; the collapse check "
            "(`drac_ssl/collapse.py`, on the kept epoch's monitors) found no symptom") in reading
    assert "measured by the fine-tuning below (VICReg against scratch)" in reading
    loss = next(i for i, line in enumerate(lines) if line.endswith("pretrain_loss.png)"))
    caption, reading = [line for line in lines[loss + 1:] if line][:2]
    assert caption == f"*Figure: {FIGURE_CAPTIONS['pretrain_loss']}*"
    assert reading.startswith("This run: the loss went 22.598 -> 21.946 -> 21.500 (epochs 1 to 3); still "
                              "falling at the last epoch: more epochs may help"), reading
    assert ("the variance term was 0.77 -> 0.78 -> 0.75 (epochs 1 to 3), against the collapse check's 0.9 "
            "(0.9 x gamma, gamma 1): under it, so not collapsed by that rule") in reading
    assert "averaged about 0.22 to 0.25, short of the target 1" in reading
    # a figure no rule is read from gets no such line
    other = next(i for i, line in enumerate(lines) if line.endswith("pretrain_something_new.png)"))
    assert not any(line.startswith("This run:") for line in lines[other + 1:other + 4])


def test_the_curve_words_follow_the_shape_and_the_collapse_check() -> None:
    from drac_ssl.report import pretrain_curve_words

    meta = _three_epoch_meta(HEALTHY)

    def rows(key: str, values: list[float]) -> list[dict[str, float]]:
        return [{"epoch": i, key: v} for i, v in enumerate(values)]

    peaked = pretrain_curve_words("pretrain_monitors", rows("rate_reduction_last", [3.0, 4.5, 4.0]), meta)
    assert peaked and "it peaked at epoch 2 (4.50) and ended at 4.00: past its peak" in peaked
    rising = pretrain_curve_words("pretrain_monitors", rows("rate_reduction_last", [3.0, 4.5, 4.6]), meta)
    assert rising and "still at its highest at the last epoch: not past its peak" in rising
    assert "A falling monitor" not in rising
    # no probe: the training batches' rate reduction stands in, named as such
    batches = pretrain_curve_words("pretrain_monitors", rows("rate_reduction", [0.4, 0.3]), meta)
    assert batches and "the training batches' rate reduction was 0.40 -> 0.30" in batches
    assert "this run's lowest, 0.30, is under it" in batches
    # the kept epoch's monitors collapsed: the reading points at the warning, not "no symptom"
    flagged = pretrain_curve_words("pretrain_loss", rows("variance", [0.8, 0.95]), _three_epoch_meta(COLLAPSED))
    assert flagged and "at or above it at epoch(s) 2" in flagged
    assert "the collapse check (`drac_ssl/collapse.py`, on the kept epoch's monitors) flagged this run" in flagged
    # gamma from the run's settings: 0.9 x 2
    meta2 = {**meta, "config": {"pretrain": {"loss": {"gamma": 2.0}}}}
    said = pretrain_curve_words("pretrain_loss", rows("variance", [1.5, 1.2]), meta2)
    assert said and "against the collapse check's 1.8 (0.9 x gamma, gamma 2): under it" in said
    # one epoch, nothing recorded, another figure: nothing said
    assert pretrain_curve_words("pretrain_monitors", rows("rate_reduction_last", [4.0]), meta) is None
    assert pretrain_curve_words("pretrain_loss", [], meta) is None
    assert pretrain_curve_words("umm_steps", FALLING, meta) is None


def test_the_curve_words_do_not_overclaim() -> None:
    """Final review F2: a collapsed run's monitor (0.002 -> 0.0015 -> 0.001) was printed
    "0.00 -> 0.00 -> 0.00", read as memorising and "not a collapse"; a 100-epoch run was
    called short and listed value by value; a sentence began in lower case; 5 -> 3 -> 5 was
    "past its peak"."""
    from drac_ssl.report import pretrain_curve_words

    def rows(values: list[float]) -> list[dict[str, float]]:
        return [{"epoch": i, "rate_reduction_last": v} for i, v in enumerate(values)]

    healthy = _three_epoch_meta(HEALTHY)
    for meta in (healthy, _three_epoch_meta(COLLAPSED)):  # under the threshold, flagged or not
        said = pretrain_curve_words("pretrain_monitors", rows([0.002, 0.0015, 0.001]), meta)
        assert said and "was 0.002 -> 0.0015 -> 0.001 (epochs 1 to 3); it fell every epoch." in said, said
        assert "memoris" not in said and "not a collapse" not in said and "A short run" not in said, said
        assert ". The report calls a rate reduction under 0.5 nats collapsed, and this run's lowest, 0.001, is under it" in said
    # above the threshold but flagged by the kept epoch's monitors: no memorising reading either
    flagged = pretrain_curve_words("pretrain_monitors", rows([4.0, 4.5, 3.0]), _three_epoch_meta(COLLAPSED))
    assert flagged and "peaked at epoch 2 (4.50) and ended at 3.00." in flagged and "memoris" not in flagged, flagged
    # a long healthy run: not "short", first, highest and last only
    long = [4.0 - 0.01 * i for i in range(100)]
    said = pretrain_curve_words("pretrain_monitors", rows(long), {**healthy, "config": {"pretrain": {
        "loss": {"gamma": 1.0}, "augment": {"image_size": 512}}}})
    assert said and "was 4.00 at epoch 1 (its highest) -> 3.01 at epoch 100 (100 epochs recorded); it fell every epoch" in said, said
    assert "short run" not in said and "3.50" not in said and "A falling monitor is not a collapse: the report" in said
    # a rise back to the first value is no peak passed; the next sentence starts in capitals
    back = pretrain_curve_words("pretrain_monitors", rows([5.0, 3.0, 5.0]), healthy)
    assert back and "still at its highest at the last epoch: not past its peak" in back and "past its peak," not in back
    assert "show one). The report calls" in back, back


def test_the_export_section_says_what_the_class_column_is_with_the_exports_words(tmp_path: Path) -> None:
    """Review F2: 134 of the default job's 386 submission rows had a class that is not their
    largest P (the expected grade cut at QWK-tuned thresholds), which only the export command
    said. report.md's Export section says it in the same words (one function) with the count
    export/summary.json records."""
    from drac_ssl.submission import class_rule_words

    # the Export section reads bundle/ and export/ alone: a run folder of those two (a fine-tuned
    # _run drew its confusion and ROC figures at every write_report, most of the test's time)
    run = tmp_path / "run"
    (run / "bundle").mkdir(parents=True)
    (run / "bundle" / "metadata.json").write_text(json.dumps({"variant": "vicreg", "folds": [0, 1]}))
    (run / "export").mkdir()
    summary = {"submission": str(run / "export" / "submission.csv"), "n_test": 386, "decision": "thresholds",
               "n_class_not_most_probable": 134, "notes": []}
    (run / "export" / "summary.json").write_text(json.dumps(summary))
    said = _section(write_report(run).read_text(), "## Export")
    words = class_rule_words("thresholds", 134, 386)
    assert words == ("the expected grade cut at QWK-tuned thresholds, so not always the largest P "
                     "(for 134 of the 386 here it is not)")
    assert f"- its class: {words} (`finetune.decision=thresholds`)" in said, said
    # an export from before the count: the rule without it; the argmax rule: the most probable grade
    del summary["n_class_not_most_probable"]
    (run / "export" / "summary.json").write_text(json.dumps(summary))
    said = _section(write_report(run).read_text(), "## Export")
    assert "so not always the largest P (`finetune.decision=thresholds`)" in said and "(for " not in said
    (run / "export" / "summary.json").write_text(json.dumps({**summary, "decision": "argmax"}))
    assert "- its class: the most probable grade (`finetune.decision=argmax`)" in write_report(run).read_text()
    assert class_rule_words("thresholds", 2, 6, "why in X") == (
        "the expected grade cut at QWK-tuned thresholds, so not always the largest P (for 2 of the 6 here "
        "it is not: why in X)")


def test_the_export_section_does_not_count_rows_equal_at_the_percentages_shown_twice(tmp_path: Path) -> None:
    """export/summary.json's n_class_not_most_probable counts the rows whose class is equal to
    the largest P at the percentages shown too: the Export section says those apart, not twice
    (3 counted, 1 of them equal as shown: 2 not the largest, 1 more)."""
    from drac_ssl.report import _export_section

    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "metadata.json").write_text(json.dumps({"variant": "vicreg", "folds": [0, 1]}))
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "summary.json").write_text(json.dumps(
        {"submission": str(tmp_path / "export" / "submission.csv"), "n_test": 36, "decision": "thresholds",
         "n_class_not_most_probable": 3, "n_class_not_most_probable_equal_shown": 1, "notes": []}))
    said = " ".join(" ".join(_export_section(tmp_path)).split())
    assert "(for 2 of the 36 here it is not" in said, said
    assert "for 1 more it is not the largest, though equal at the percentages shown" in said, said


def test_the_export_section_calls_the_p_columns_calibrated_only_when_the_calibration_held(tmp_path: Path) -> None:
    """A review: with the temperature at its search bound (the export and the app warn that the
    probabilities are not calibrated) the Export section still said "its P columns: the
    calibrated probabilities of the grades". It now follows the bundle's calibration by the same
    rule (drac_ssl.grading.bundle.probability_columns_words)."""
    # the Export section reads bundle/ and export/ alone: a run folder of those two (a fine-tuned
    # _run drew its confusion and ROC figures at every write_report, most of the test's time)
    run = tmp_path / "run"
    (run / "bundle").mkdir(parents=True)
    (run / "export").mkdir()
    (run / "export" / "summary.json").write_text(json.dumps(
        {"submission": str(run / "export" / "submission.csv"), "n_test": 36, "decision": "thresholds",
         "notes": []}))
    for t, calibrated in ((1.7, True), (100.0, False), (0.01, False)):
        (run / "bundle" / "metadata.json").write_text(json.dumps(
            {"variant": "vicreg", "folds": [0, 1], "calibration": {"temperature": t}}))
        said = " ".join(_section(write_report(run).read_text(), "## Export").split())
        assert ("its P columns: the calibrated probabilities of the grades" in said) is calibrated, said
        assert ("its P columns: the model's probabilities of the grades, NOT calibrated (the "
                "calibration failed: see the warning)" in said) is not calibrated, said


@pytest.mark.parametrize(("layout", "modality", "drac_item"), [("drac", "octa", True), ("aptos", "fundus", False)])
def test_the_next_section_gives_the_consoles_steps_and_the_drac_path(
        tmp_path: Path, layout: str, modality: str, drac_item: bool) -> None:
    """Review F5: the steps after a run (the app, the export of a folder) were only on the
    console. report.md's "Next" says the same steps from the same function the console's
    lines come from, and, on DRAC's layout or UW-OCTA scans, points at the README's section from
    the DRAC download to a submission."""
    from drac_ssl import train
    from drac_ssl.report import DRAC_SUBMISSION_SECTION, model_next_steps

    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    (run / "data").mkdir()
    (run / "data" / "ingest_summary.json").write_text(json.dumps(
        {"layout": layout, "grades": {"names": NAMES, "k": 3}, "modality": {"value": modality}}))
    text = write_report(run).read_text()
    assert "## Next" not in text  # no bundle: nothing to open or to grade with
    (run / "bundle").mkdir()
    (run / "bundle" / "metadata.json").write_text(json.dumps({"variant": "vicreg", "data": {"kind": "phantom"}}))
    text = write_report(run).read_text()
    assert text.index("## Export") < text.index("## Next") < text.index("## Files in this folder")
    nxt = _section(text, "## Next")
    steps = model_next_steps(run, in_file=True)
    assert [s.what for s in steps][:2] == ["open the app on its model", "grade a folder of images with it"]
    for step in steps:
        assert (f"```bash\n{step.command}\n```" if step.command else f"Note: {step.what}.") in nxt, nxt
    assert f"--bundle {(run / 'bundle').resolve()}" in steps[0].command  # report.md: read from anywhere
    assert "trained on phantom UW-OCTA images" in nxt
    # the console's lines: the same steps, the run folder as given
    console = train.next_step_lines(run)
    for step in model_next_steps(run):
        assert any(line.endswith(f"{step.what}: {step.command}") or line == f"  note: {step.what}"
                   for line in console), (step, console)
    title, anchor = DRAC_SUBMISSION_SECTION
    assert (f"#{anchor})" in nxt) == drac_item and (title in nxt) == drac_item
    readme = Path(__file__).resolve().parents[2] / "README.md"
    assert f'<a id="{anchor}"></a>**{title}.**' in readme.read_text(encoding="utf-8")
    if drac_item:  # the link reaches the README from the run folder
        target = re.search(rf"\]\(([^)#]+)#{anchor}\)", nxt)
        assert target and (run / target.group(1)).resolve() == readme.resolve()


def test_figures_have_alt_texts_that_describe_them_and_their_numbers_in_text(tmp_path: Path) -> None:
    """An accessibility review: the alt texts were file names (``![VICReg: pretrain_loss]``), and
    the confusion counts and each grade's ROC AUC were only inside PNGs."""
    from sklearn.metrics import confusion_matrix, roc_auc_score

    from drac_ssl.report import FIGURE_ALTS

    scratch = [0, 1, 2, 1, 1, 0] * 5
    run = _run(tmp_path, scratch, HEALTHY)
    text = write_report(run).read_text()
    alts = {m.group(2): m.group(1) for m in re.finditer(r"!\[([^\]]*)\]\((?:.+/)?([^/)]+)\.png\)", text)}
    assert set(FIGURE_ALTS) >= set(FIGURE_CAPTIONS)  # every captioned kind has an alt text too
    for stem, alt in alts.items():
        assert stem not in alt, (stem, alt)  # no file name for a description
        assert len(alt.split()) >= 5, alt
    assert alts["pretrain_loss"].endswith(FIGURE_ALTS["pretrain_loss"])
    assert "rows the true grade, columns the predicted grade" in alts["scratch_confusion"]
    assert alts["pretrain_something_new"].endswith("figure pretrain something new")  # nothing invented
    section = _section(text, "### scratch")
    # the counts as a table after the matrix: the same as sklearn's on the out-of-fold grades
    expected = confusion_matrix(GRADES, scratch, labels=[0, 1, 2])
    table = section.split("Out-of-fold confusion counts", 1)[1].split("\n\n", 2)[1].splitlines()
    assert table[0] == "| true grade | predicted 0 Normal | predicted 1 NPDR | predicted 2 PDR | total |"
    for k, row in enumerate(table[2:5]):
        assert row == f"| {k} {NAMES[k]} | {' | '.join(str(c) for c in expected[k])} | {expected[k].sum()} |"
    # each grade's AUC in words, as the ROC's legend gives it
    probs = np.full((30, 3), 0.1)
    probs[np.arange(30), scratch] = 0.8
    for k, name in enumerate(NAMES):
        auc = roc_auc_score(np.array(GRADES) == k, probs[:, k])
        count = GRADES.count(k)
        assert re.search(rf"{name} vs rest \({count} images?[^)]*\): AUC {auc:.3f}",
                         section.split("Out-of-fold ROC AUC per grade", 1)[1])
    assert section.index("_confusion.png") < section.index("Out-of-fold confusion counts") < section.index("_roc.png")


def test_per_grade_auc_line_gives_its_images_units_and_interval() -> None:
    """Small-set review F2: report.md's per-grade AUC line gave a rare grade's AUC bare ("PDR vs
    rest: AUC 0.976", 3 images of 2 patients): each now says the images and the resampled
    patients it rests on and its bootstrap 95% CI, from metrics.json."""
    from drac_ssl.report import roc_auc_line

    grades = np.array([0] * 30 + [1] * 12 + [2] * 3)
    probs = np.full((45, 3), 0.2)
    probs[np.arange(45), grades] = 0.6
    metrics = {"ci_resamples": "patients", "ci_units": 26,
               "auc_per_grade_units": {"Normal": 20, "NPDR": 8, "PDR": 2},
               "auc_per_grade_ci95": {"Normal": [0.9, 1.0], "NPDR": [0.8, 1.0], "PDR": [0.7123, 1.0]}}
    (line, blank) = roc_auc_line(grades, probs, ["Normal", "NPDR", "PDR"], metrics)
    assert blank == ""
    assert "PDR vs rest (3 images, 2 patients): AUC 1.000 (95% CI 0.712..1.000)" in line
    assert "Normal vs rest (30 images, 20 patients): AUC 1.000 (95% CI 0.900..1.000)" in line
    # without the records (a run of an earlier version): the images alone, no interval
    (line, _) = roc_auc_line(grades, probs, ["Normal", "NPDR", "PDR"])
    assert "PDR vs rest (3 images): AUC 1.000." in line and "CI" not in line


def test_per_grade_auc_interval_says_it_rests_on_fewer_resamples() -> None:
    """Small-set fix-up F3: PDR's interval rested on 869 of 1,000 resamples (the rest held no
    PDR image) and report.md's per-grade line did not say so, though the macro line does."""
    from drac_ssl.report import roc_auc_line

    grades = np.array([0] * 30 + [1] * 12 + [2] * 3)
    probs = np.full((45, 3), 0.2)
    probs[np.arange(45), grades] = 0.6
    metrics = {"ci_resamples": "patients", "n_boot": 1000,
               "auc_per_grade_units": {"Normal": 20, "NPDR": 8, "PDR": 2},
               "auc_per_grade_ci95": {"Normal": [0.9, 1.0], "NPDR": [0.8, 1.0], "PDR": [0.7123, 1.0]},
               "auc_per_grade_ci95_resamples": {"Normal": 1000, "NPDR": 1000, "PDR": 869}}
    (line, _) = roc_auc_line(grades, probs, ["Normal", "NPDR", "PDR"], metrics)
    assert ("PDR vs rest (3 images, 2 patients): AUC 1.000 (95% CI 0.712..1.000, from 869 of 1,000 "
            "resamples: the rest held no PDR image or only PDR images)") in line, line
    assert "Normal vs rest (30 images, 20 patients): AUC 1.000 (95% CI 0.900..1.000);" in line, line


def test_per_grade_auc_interval_of_width_zero_at_one_says_what_it_rests_on() -> None:
    """Small-set fix-up F5: "AUC 1.000 (95% CI not meaningful: every resample gives 1.000 ...)"
    for a grade of 3 images read as firm: it now says the images and patients it rests on and
    that the bootstrap cannot show how far below 1 the AUC may be."""
    from drac_ssl.report import roc_auc_line

    grades = np.array([0] * 30 + [1] * 12 + [2] * 3)
    probs = np.full((45, 3), 0.2)
    probs[np.arange(45), grades] = 0.6
    metrics = {"ci_resamples": "patients", "auc_per_grade_units": {"Normal": 20, "NPDR": 8, "PDR": 2},
               "auc_per_grade_ci95": {"Normal": [0.9, 1.0], "NPDR": [0.8, 1.0], "PDR": [1.0, 1.0]}}
    (line, _) = roc_auc_line(grades, probs, ["Normal", "NPDR", "PDR"], metrics)
    assert ("PDR vs rest (3 images, 2 patients): AUC 1.000 (95% CI not meaningful: every resample gives "
            "1.000, and it rests on 3 images (2 patients): the bootstrap cannot show how far below 1 "
            "the AUC may be)") in line, line


def test_site_units_give_each_image_without_a_patient_its_own_unit_and_say_sites(tmp_path: Path) -> None:
    """A review: without a readable manifest the units came from oof.csv's raw patient cells, so
    every image with no patient ('') became ONE bootstrap unit of the Brier/ECE and per-site CIs;
    and a leave-one-site-out run's CIs were said to resample patients (they are sites)."""
    from drac_ssl.oof import oof_units

    vdir = tmp_path / "finetune" / "vicreg"
    vdir.mkdir(parents=True)
    (vdir / "oof.csv").write_text("id,grade,pred,P0,P1,patient\na,0,0,0.9,0.1,\nb,1,1,0.2,0.8,\n"
                                  "c,0,0,0.7,0.3,p1\nd,1,0,0.6,0.4,p1\n")
    ids = ["a", "b", "c", "d"]
    assert oof_units(tmp_path, vdir, ids) == (["image:a", "image:b", "patient:p1", "patient:p1"], "patients")
    # a leave-one-site-out ingest: each patient is its site, the words say sites
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.csv").write_text(
        "id,path,grade,split,fold,patient,site\n" + "".join(
            f"{i},{i}.png,{g},train,{k},{s},{s}\n" for i, g, k, s in
            (("a", 0, 0, "s1"), ("b", 1, 0, "s1"), ("c", 0, 1, "s2"), ("d", 1, 1, "s2"))))
    units, words = oof_units(tmp_path, vdir, ids)
    assert words == "sites" and units is not None and len(set(units)) == 2, (units, words)


def test_the_data_section_gives_each_folds_grades(tmp_path: Path) -> None:
    """CLAIM review F5: report.md's per-fold tables counted images only; the Data section now
    gives each fold's labelled images by grade, from ingest_summary.json's counts.per_fold."""
    from drac_ssl.report import _data_section

    data = tmp_path / "run" / "data"
    data.mkdir(parents=True)
    _six_image_manifest(data)
    summary = {"root": str(tmp_path / "images"), "layout": "plain", "created_utc": "2026-12-01T00:00:00",
               "grades": {"names": NAMES, "k": 3, "source": "data.grades"},
               "counts": {"per_fold": {"1": {"0": 1, "1": 1, "2": 0}, "0": {"0": 1, "1": 1, "2": 2}}}}
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    lines = _data_section(tmp_path / "run")
    at = lines.index(f"| fold | 0 {NAMES[0]} | 1 {NAMES[1]} | 2 {NAMES[2]} | total |")
    assert lines[at + 2:at + 4] == ["| 0 | 1 | 1 | 2 | 4 |", "| 1 | 1 | 1 | 0 | 2 |"], lines
    del summary["counts"]  # an ingest that did not record them: no table
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    assert not any(line.startswith("| fold |") for line in _data_section(tmp_path / "run"))


def test_an_exported_rule_scoring_below_argmax_is_said() -> None:
    """CLAIM review F6: thresholds (tuned for QWK) scored 0.740 out of fold against argmax's
    0.754 and report.md said nothing of it."""
    from drac_ssl.report import rule_below_argmax_words

    rules = {"argmax": {"qwk": 0.754, "selected": False}, "thresholds": {"qwk": 0.740, "selected": True}}
    said = rule_below_argmax_words(rules, "thresholds")
    assert said.startswith("Out of fold the selected rule (`finetune.decision`), `thresholds` (tuned for QWK), "
                           "scored a lower QWK than `argmax` on the same probabilities (0.740 against 0.754;"), said
    # review of F6 (F3): said in every variant's section, exported or not: no "exported rule"
    assert "export" not in said, said
    assert "no paired CI of the difference is recorded" in said
    assert rule_below_argmax_words({**rules, "thresholds": {"qwk": 0.760}}, "thresholds") == ""
    assert rule_below_argmax_words(rules, "argmax") == ""
    # a tie is not below argmax
    assert rule_below_argmax_words({**rules, "thresholds": {"qwk": 0.754, "selected": True}}, "thresholds") == ""


def test_a_rule_that_did_not_give_the_grades_is_not_called_the_selected_one() -> None:
    """Review of claim_fx F2: with a referral cut giving the grades (finetune.referral_target)
    or the rule's record not selected, thresholds were still called "the selected rule"."""
    from drac_ssl.metrics import REFERRAL_RULE
    from drac_ssl.report import rule_below_argmax_words

    rules = {"argmax": {"qwk": 0.754, "selected": False}, "thresholds": {"qwk": 0.740, "selected": False}}
    assert rule_below_argmax_words(rules, "thresholds") == ""
    referral = {"argmax": {"qwk": 0.754, "selected": False}, "thresholds": {"qwk": 0.740},
                REFERRAL_RULE: {"qwk": 0.700, "selected": True}}
    assert rule_below_argmax_words(referral, "thresholds") == ""
    said = rule_below_argmax_words({**rules, "thresholds": {"qwk": 0.740, "selected": True}}, "thresholds",
                                   "Cohen's kappa")
    assert "(tuned for Cohen's kappa)" in said and "((" not in said, said


def test_the_configuration_table_gives_the_run_and_fold_seeds(tmp_path: Path) -> None:
    """CLAIM review F8: report.md's Configuration table omitted run.seed and data.fold_seed."""
    import yaml

    from drac_ssl.report import _config_section

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"fold_seed": 3, "n_folds": 5},
                                                     "run": {"seed": 7, "stages": ["ingest"]}}))
    assert "| seeds | run.seed 7, data.fold_seed 3 |" in _config_section(run)
    (run / "config.yaml").write_text(yaml.safe_dump({"run": {"seed": 7}, "finetune": {"seed": 11}}))
    assert "| seeds | run.seed 7, data.fold_seed not recorded, finetune.seed 11 |" in _config_section(run)
    # finetune.seed -1 (its default: run.seed's) is not a seed of its own: not said
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"fold_seed": 3}, "run": {"seed": 7},
                                                     "finetune": {"seed": -1}}))
    assert "| seeds | run.seed 7, data.fold_seed 3 |" in _config_section(run)


def test_a_tie_for_the_most_frequent_grade_is_said_as_one() -> None:
    """CLAIM review F9: "always answering the most frequent grade, No DR (6 of the 30)" when all
    five grades had 6: the tie is named, and the row says the lowest of the tied grades."""
    from drac_ssl.metrics import majority_grade_reference
    from drac_ssl.report import _majority_row, majority_words

    tie = majority_grade_reference([0, 1, 2] * 2, NAMES)
    assert tie["tied"] == NAMES
    # the tied grades as the package says grades elsewhere: number first, name in brackets
    assert "most frequent grade, a tie of grades 0 (Normal), 1 (NPDR) and 2 (PDR) (2 of the 6 out-of-fold " \
           "images each), so the lowest of them, grade 0 (Normal)," in majority_words(tie, [], names=NAMES)
    gap = majority_grade_reference([1, 2, 4, 1, 2, 4], ["0", "1", "2", "3", "4"])  # numbered names, a gap
    assert "a tie of grades 1, 2 and 4 (2 of the 6 out-of-fold images each), so the lowest of them, grade 1," \
        in majority_words(gap, [], names=["0", "1", "2", "3", "4"])
    # names not recorded (a comparison.json without class_names): the names alone, no wrong number
    assert "a tie of Normal, NPDR, PDR (2 of the 6 out-of-fold images each), so the lowest of them, Normal," \
        in majority_words(tie, [])
    assert _majority_row(tie, False, False)[0] == "majority grade (always Normal, the lowest of 3 grades tied as most frequent)"
    # the table's row says the lowest tied grade as the sentence under it does (a review: 'always
    # Normal' over 'grade 0 (Normal)')
    assert _majority_row(tie, False, False, names=NAMES)[0] == (
        "majority grade (always grade 0 (Normal), the lowest of 3 grades tied as most frequent)")
    assert _majority_row(tie, False, False, two=True, names=NAMES)[0] == _majority_row(tie, False, False, names=NAMES)[0]
    one = majority_grade_reference([0, 1, 1], NAMES)
    assert "most frequent grade, NPDR (2 of the 3 out-of-fold images have it)" in majority_words(one, [])
    assert _majority_row(one, False, False)[0] == "majority grade (always NPDR)"


def _stated_data_run(tmp_path: Path) -> None:
    """A run folder ``tmp_path/run`` whose data/ holds the six-image manifest and an ingest
    summary, for the Data section's stated-data lines."""
    data = tmp_path / "run" / "data"
    data.mkdir(parents=True)
    _six_image_manifest(data)
    (data / "ingest_summary.json").write_text(json.dumps({
        "root": str(tmp_path / "images"), "layout": "plain", "created_utc": "2026-12-01T00:00:00",
        "grades": {"names": NAMES, "k": 3, "source": "data.grades"}}))


def test_the_data_section_says_the_stated_description_dates_and_reference_standard(tmp_path: Path) -> None:
    """CLAIM review F7: the data's description, collection dates and reference standard were
    nowhere; data.description, data.collection_dates and data.reference_standard are said, and
    "not stated" when empty."""
    import yaml

    from drac_ssl.report import _data_section

    _stated_data_run(tmp_path)
    lines = _data_section(tmp_path / "run")
    assert "- collection dates (data.collection_dates): not stated" in lines, lines
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump({"data": {
        "description": "adults with diabetes, one clinic", "collection_dates": "2019-03 to 2021-06"}}))
    lines = _data_section(tmp_path / "run")
    assert "- description (data.description): adults with diabetes, one clinic" in lines
    assert "- collection dates (data.collection_dates): 2019-03 to 2021-06" in lines
    assert "- reference standard, how the grades were given (data.reference_standard): not stated" in lines


def test_a_stated_data_fact_over_several_lines_injects_no_heading_or_table(tmp_path: Path) -> None:
    """Review of F7 (F1): data.description as a YAML block scalar put "## Injected heading" and
    "| a | b |" on lines of their own in report.md's Data section; it is one list item."""
    from drac_ssl.report import _data_section

    _stated_data_run(tmp_path)
    (tmp_path / "run" / "config.yaml").write_text(
        "data:\n  reference_standard: |\n    two graders\n    ## Injected heading\n    | a | b |\n")
    text = "\n".join(_data_section(tmp_path / "run"))
    assert "\n## Injected heading" not in text and "\n| a | b |" not in text, text
    assert ("- reference standard, how the grades were given (data.reference_standard): "
            "two graders ## Injected heading | a | b |") in text.splitlines()


def test_two_grades_sensitivity_line_calls_grade_0s_figure_the_specificity() -> None:
    """Review of F4 (F4): with two grades report.md called grade 0's share found a sensitivity,
    where the card's table says "for grade 0, the specificity"; both say it alike now."""
    from drac_ssl.report import sensitivity_lines

    said = sensitivity_lines([[40, 10], [5, 15]], ["non-referable", "referable"])
    assert said[0].startswith("Out of fold, graded correctly (sensitivity, Wilson 95% CI; for grade 0, the "
                              "specificity): 0 non-referable 0.800 (40/50; "), said
    three = sensitivity_lines([[1, 0, 0], [0, 1, 0], [0, 0, 1]], NAMES)[0]
    assert three.startswith("Out of fold, graded correctly (sensitivity, Wilson 95% CI): 0 "), three


def test_fold_grade_lines_of_a_hand_edited_summary_say_nothing() -> None:
    """Review of claim_fx F9: a fold key that is no number ("a") raised ValueError from
    int(fold) and stopped report.md; such counts are left out, as absent ones are."""
    from drac_ssl.report import fold_grade_lines

    assert fold_grade_lines({"counts": {"per_fold": {"a": {"0": 3}}}}, ["no", "yes"]) == []
    assert fold_grade_lines({"counts": {"per_fold": {"0": {"0": "x"}}}}, ["no", "yes"]) == []
    assert fold_grade_lines({"counts": {"per_fold": {"0": {"0": 3, "1": 2}}}}, ["no", "yes"])[-2] == "| 0 | 3 | 2 | 5 |"


def test_no_second_empty_line_after_the_confusion_table() -> None:
    """Review of claim_fx F8: the confusion table ends with an empty line and the sensitivity
    line began with another: two empty lines in report.md."""
    from drac_ssl.report import confusion_lines, sensitivity_lines

    confusion = [[40, 10], [5, 15]]
    lines = confusion_lines(confusion, ["no", "yes"]) + sensitivity_lines(confusion, ["no", "yes"])
    assert "\n\n\n" not in "\n".join(lines), lines
