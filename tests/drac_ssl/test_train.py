"""The main job (python -m drac_ssl.train): every stage on a reduced phantom set, resume, errors.

The no-argument path is exercised for real: configs/default.yaml, phantom generation in the
official DRAC layout under ./data/phantom, ingest, VICReg, UMM, cross-validated fine-tuning,
report and export, with sizes overridden down to seconds on a CPU (15 training images, 2 of
grade PDR: 2 folds, as the preflight requires stratified K-fold to have K images of a grade).
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from interrupted_train import interrupted_main

from drac_ssl import run_state, stage_settings, train
from drac_ssl.figures import figure_text, format_ci
from drac_ssl.grading.bundle import variant_title
from drac_ssl.starting import python_command
from drac_ssl.submission import check_submission

REDUCED = [
    "data.phantom_n_train=15", "data.phantom_n_test=3", "data.cache_sizes=[24]", "data.workers=1",
    "data.n_folds=2",
    "pretrain.epochs=1", "pretrain.batch_size=4", "pretrain.max_steps_per_epoch=1", "pretrain.num_workers=0",
    "pretrain.expander=16-16", "pretrain.augment.image_size=16", "pretrain.augment.source_size=24",
    "pretrain.backbone.cifar_stem=true", "umm.epochs=1", "umm.batch_size=4", "umm.max_steps_per_epoch=1",
    "umm.use_js=false", "umm.hypergradient=neumann", "umm.neumann_steps=0",
    "finetune.image_size=16", "finetune.epochs=1", "finetune.batch_size=4", "finetune.head=linear",
    "finetune.compare_scratch=false", "run.device=cpu", "run.name=reduced",
]


@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """Run the no-argument job with reduced sizes in a fresh working folder."""
    work = tmp_path_factory.mktemp("work")
    cwd = os.getcwd()
    os.chdir(work)
    try:
        code = train.main(REDUCED)
    finally:
        os.chdir(cwd)
    return work, code, ""


@pytest.fixture(scope="module")
def phantom_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The phantom set REDUCED's ingest draws (its seed and sizes), drawn once for the module
    (about 2 CPU seconds) into a folder of its own that no test changes."""
    from data_prep import phantom

    data = train.load_config(train.DEFAULT_CONFIG, REDUCED).data
    root = tmp_path_factory.mktemp("phantom") / "set"
    phantom.generate(root, n_train=data.phantom_n_train, n_test=data.phantom_n_test,
                     seed=data.phantom_seed, workers=data.workers)
    return root


@pytest.fixture
def phantom_ready(phantom_set: Path, tmp_path: Path) -> None:
    """A copy of :func:`phantom_set` where a REDUCED run with ``tmp_path`` as its working folder
    looks for it (``data/phantom/...``), as an earlier run there leaves it: the ingest checks it
    (its manifest's parameters and file list) and takes it instead of drawing the same 18
    images again. For the tests about resuming, interrupting and refusing runs, which read
    nothing of the drawing; the drawing in a fresh folder is the ``reduced_run`` test's."""
    import shutil

    shutil.copytree(phantom_set, tmp_path / train.phantom_root(train.load_config(train.DEFAULT_CONFIG, REDUCED)))


def test_no_argument_job_runs_every_stage_on_phantom_data(reduced_run: tuple[Path, int, str]) -> None:
    work, code, _ = reduced_run
    assert code == 0
    run_dir = work / "runs" / "reduced"
    stages = json.loads((run_dir / "stages.json").read_text())
    assert list(stages) == list(train.PIPELINE)
    assert all(s["status"] == "done" for s in stages.values())
    # epochs counted as the console and report.md count them (one epoch: epoch 1 of 1)
    assert {k: stages["pretrain"]["outputs"][k] for k in ("best_epoch", "epochs_run")} == {
        "best_epoch": 1, "epochs_run": 1}
    # the phantom set was written in the official layout and ingested like real data
    phantom = work / train.phantom_root(train.load_config(train.DEFAULT_CONFIG, REDUCED))
    assert (phantom / "C. Diabetic Retinopathy Grading" / "2. Groundtruths").is_dir()
    with open(run_dir / "data" / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sum(r["split"] == "train" for r in rows) == 15 and sum(r["split"] == "test" for r in rows) == 3
    # the ingest stage's seconds include generating the phantom set: recorded apart (an audit)
    assert 0 <= stages["ingest"]["outputs"]["phantom_seconds"] <= stages["ingest"]["seconds"]
    # the run folder explains itself
    for rel in ("config.yaml", "environment.json", "report.md", "pretrain/backbone.safetensors",
                "umm/backbone.safetensors", "bundle/metadata.json", "bundle/MODEL_CARD.md"):
        assert (run_dir / rel).exists(), rel
    # run.keep_checkpoints=true (the default): the optimiser states stay for a later resume or
    # a run.reuse with umm.start_from=last|peak|past_peak
    for rel in ("pretrain/checkpoints/last.pt", "pretrain/checkpoints/monitor_peak.pt", "umm/checkpoints/last.pt"):
        assert (run_dir / rel).is_file(), rel
    assert not any("checkpoints_removed" in s for s in stages.values())
    # config.yaml says what every stage ran with: the edited-config check (train's resume,
    # run.reuse, the report command) finds nothing in a run it did not touch
    written = train.read_yaml((run_dir / "config.yaml").read_text())
    assert stage_settings.stage_ran_with(run_dir, "finetune")[1].endswith("/model.json")
    assert stage_settings.edited_config_words(run_dir, written) == ""
    submission = run_dir / "export" / "submission.csv"
    test_dir = phantom / "DRAC2022_Testing_Set" / "C. Diabetic Retinopathy Grading" / "1. Original Images" / "b. Testing Set"
    assert check_submission(submission, test_dir) == []
    report = (run_dir / "report.md").read_text()
    assert "phantom" in report.lower()
    # where UMM started and what its guard did, with the monitor figure
    assert "UMM started from `best`" in report and "rate-reduction monitor peaked at epoch" in report
    assert "umm_start.png" in report and (run_dir / "umm" / "plots" / "umm_start.png").is_file()
    # provenance: the commit each stage ran on (one checkout here: the run's own), what wrote
    # report.md, and the bundle's seed and commits
    from drac_ssl.runtime import code_version

    env = json.loads((run_dir / "environment.json").read_text())
    assert all(s["code"] == code_version() == {k: env[k] for k in ("git_commit", "git_dirty", "code_fingerprint")}
               for s in stages.values())
    from drac_ssl.runtime import distribution_version

    assert env["distribution_version"] == distribution_version()  # a checkout's run records it too
    # the DataLoader workers the run used (pretrain.num_workers resolved: -1 varies by machine)
    assert env["dataloader_workers"] == 0
    assert json.loads((run_dir / "pretrain" / "environment.json").read_text())["dataloader_workers"] == 0
    assert "Written by drac_ssl" in report and "the run was made at this commit too" in report
    assert "mixed code versions" not in report
    meta = json.loads((run_dir / "bundle" / "metadata.json").read_text())
    assert meta["provenance"]["run_seed"] == 0 and meta["provenance"]["built_with"] == code_version()
    assert "- Provenance: run seed 0, fold seed 0 (data.fold_seed); run made at commit" in (run_dir / "bundle" / "MODEL_CARD.md").read_text()
    # the console's lines, kept in the run folder (no tqdm bar: no carriage return)
    console = (run_dir / "console.log").read_text()
    assert console.startswith("==== ") and console.count("\n==== ") == 0
    assert "[train] stage umm: starting" in console and "[train] finished:" in console
    assert "\r" not in console


def test_a_finished_run_says_the_next_step_with_the_commands_to_type(reduced_run: tuple[Path, int, str]) -> None:
    """A new-user trial (F9): the run ended with "[train] finished: runs/default" and nothing
    after it; the user went on to grade her fundus photographs with the phantom model. The lines
    after it now say to read report.md, the app and export commands for its bundle (the
    interpreter that ran the training, as typed), and, for a phantom-trained model, that its
    grades say nothing about a real eye and where one's own fundus photographs are graded."""
    work, _, _ = reduced_run
    console = (work / "runs" / "reduced" / "console.log").read_text().splitlines()
    at = console.index("[train] finished: runs/reduced")
    cwd = os.getcwd()
    os.chdir(work)  # the interpreter as typed from where the run was started
    try:
        app, export = python_command("app"), python_command("drac_ssl.export")
    finally:
        os.chdir(cwd)
    # the headline first (F5: the run ended without its figure), from the files the
    # fine-tuning wrote, then what to do
    summary = json.loads((work / "runs" / "reduced" / "finetune" / "summary.json").read_text())
    metrics = json.loads((work / "runs" / "reduced" / "finetune" / summary["selected"] / "metrics.json").read_text())
    headline = console[at + 1]
    assert headline == f"[train] {train.result_line(work / 'runs' / 'reduced')}"
    assert headline.startswith(f"[train] result: {variant_title(summary['selected'])} (selected for export): "
                               f"out-of-fold QWK {figure_text(metrics['qwk'])} (95% CI "
                               f"{format_ci(*metrics['qwk_ci95'], metrics.get('qwk_ci95_note'))}), "
                               f"macro AUC {figure_text(metrics['auc'])} (one-vs-one), 15 images"), headline
    # what its figure is not: phantom images, and a trial run (its epochs typed far below the file's)
    assert headline.startswith(f"[train] result: {variant_title(summary['selected'])} (selected for export): "
                               f"out-of-fold QWK {figure_text(metrics['qwk'])} (95% CI "
                               f"{format_ci(*metrics['qwk_ci95'], metrics.get('qwk_ci95_note'))}), "
                               f"macro AUC {figure_text(metrics['auc'])} (one-vs-one), 15 images. On phantom "
                               "images: the figures measure the pipeline on synthetic images"), headline
    assert ". A trial run: the pretraining was cut short" in headline, headline
    assert "the fine-tuning was given 1 of the 8 epochs" in headline, headline
    # then what report.md warns of a collapsed representation (this tiny pretraining's probe
    # collapses), in the report's words (trial user F5: the console said nothing of it)
    from drac_ssl.collapse import run_collapse_warnings

    collapsed = run_collapse_warnings(work / "runs" / "reduced")
    assert collapsed and collapsed[0].startswith("the VICReg representation looks collapsed: "), collapsed
    # a trial run: the console says the collapse is expected of it (trial F7a)
    assert all(w.endswith(" (expected in a trial run: its pretraining was cut short)") for w in collapsed), collapsed
    assert console[at + 2:at + 2 + len(collapsed)] == [f"[train] warning: {w}" for w in collapsed]
    at += len(collapsed)
    assert console[at + 2:at + 6] == [
        '[train] next: read runs/reduced/report.md first (its "Read this first" says what to know '
        'before using the model)',
        f"[train] then: open the app on its model: {app} --bundle runs/reduced/bundle",
        f"[train]   or grade a folder of images with it: {export} runs/reduced --images DIR --out grades.csv",
        "[train]   note: this model was trained on phantom UW-OCTA images (a demonstration: its grades say "
        "nothing about a real eye); to grade your own fundus photographs, train on graded photographs "
        "of your own: docs/own_fundus_folder.md"], console[at:]
    # a folder with neither report nor bundle (a run of the ingest alone): nothing to say
    assert train.next_step_lines(work / "runs" / "none") == []
    assert train.result_line(work / "runs" / "none") is None


def test_the_result_line_gives_the_stored_figures_in_the_reports_words(tmp_path: Path) -> None:
    """The headline reads finetune/summary.json and the selected variant's metrics.json as
    stored (nothing recomputed): a width-0 interval is said as report.md says it, a missing
    figure as n/a, and a run without them has no line."""
    ft = tmp_path / "finetune"
    (ft / "scratch").mkdir(parents=True)
    (ft / "summary.json").write_text(json.dumps({"selected": "scratch"}))
    assert train.result_line(tmp_path) is None  # no metrics.json: nothing to say
    (ft / "scratch" / "metrics.json").write_text(json.dumps(
        {"n": 611, "qwk": 0.0, "qwk_ci95": [0.0, 0.0], "auc": None,
         "qwk_ci95_note": "every image was given one grade (0 Normal), so every resample gives 0.000"}))
    assert train.result_line(tmp_path) == (
        "result: scratch (random init) (selected for export): out-of-fold QWK 0.000 (95% CI not "
        "meaningful: every image was given one grade (0 Normal), so every resample gives 0.000), "
        "macro AUC n/a (one-vs-one), 611 images")


DRAC_GRADES = ["Normal", "NPDR", "PDR"]
ICDR_GRADES = ["No DR", "Mild", "Moderate", "Severe", "Proliferative"]
FIGURES = {"n": 6, "qwk": 0.6, "qwk_ci95": [0.3, 0.8], "auc": 0.7, "auc_ovr": 0.72,
           "auc_ovr_ci95": [0.6, 0.85], "accuracy": 0.5, "class_names": DRAC_GRADES}


def _headline_run(root: Path, layout: str = "drac", names: Sequence[str] = tuple(DRAC_GRADES),
                  phantom: bool = False, marked: int = 0, modality: str = "octa",
                  selected: str = "vicreg", decision: str = "thresholds") -> Path:
    """A finished run folder as result_line reads it: the ingest's summary and manifest (six
    training images), the fine-tuning's summary.json and the selected variant's metrics.json."""
    run, images = root / "run", root / "images"
    (run / "data").mkdir(parents=True)
    images.mkdir()
    if phantom:
        (images / "phantom.json").write_text("{}")  # data_prep.phantom's set
    with open(run / "data" / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(
            [["id", "path", "grade", "split", "fold", "patient"],
             *[[f"{i:03d}.png", f"{i:03d}.png", i % 3, "train", i % 2, ""] for i in range(6)]])
    (run / "data" / "ingest_summary.json").write_text(json.dumps(
        {"root": str(images), "layout": layout, "phantom_marked": marked,
         "grades": {"names": list(names), "k": len(names), "source": "layout"},
         "modality": {"value": modality, "setting": "auto"}}))
    (run / "finetune" / selected).mkdir(parents=True)
    (run / "finetune" / "summary.json").write_text(json.dumps({"selected": selected, "decision": decision}))
    (run / "finetune" / selected / "metrics.json").write_text(json.dumps(
        {**FIGURES, "class_names": list(names), "decision": decision}))
    return run


def test_the_result_line_says_what_its_figure_is_not(tmp_path: Path) -> None:
    """Review F1: the headline gave the out-of-fold QWK with no caveat. DRAC's kind of data (the
    report's leaderboard rule, drac_ssl.challenge.drac_scale) is not a leaderboard score, a
    phantom run measures the pipeline on synthetic images, phantoms mixed in are said, a trial
    run says it is one; other data sets get none of it."""
    figures = ("out-of-fold QWK 0.600 (95% CI 0.300..0.800), macro AUC 0.700 (one-vs-one), 6 images")
    not_leaderboard = " (not a leaderboard score: report.md says why)"
    synthetic = ". On phantom images: the figures measure the pipeline on synthetic images"
    real = train.result_line(_headline_run(tmp_path / "drac"))
    assert real == f"result: VICReg (selected for export): {figures}{not_leaderboard}"
    phantom = train.result_line(_headline_run(tmp_path / "phantom", phantom=True))
    assert phantom.startswith(f"result: VICReg (selected for export): {figures}{synthetic}"), phantom
    assert "leaderboard" not in phantom
    mixed = train.result_line(_headline_run(tmp_path / "mixed", marked=2))
    assert mixed == (f"result: VICReg (selected for export): {figures}{not_leaderboard}. 2 of 6 images "
                     "are synthetic phantoms (drac_ssl's marker) mixed into DRAC data: the figures mix them")
    # a trial run (its pretraining capped): the trial marker's words
    run = _headline_run(tmp_path / "trial")
    (run / "pretrain").mkdir()
    (run / "pretrain" / "metadata.json").write_text(json.dumps({"training_data": "997 images of the ingest"}))
    (run / "config.yaml").write_text("pretrain:\n  batch_size: 8\n  max_steps_per_epoch: 3\n"
                                     "finetune:\n  keep: last\n")  # no keep: an older run's best
    trial = train.result_line(run)
    assert trial.startswith(f"result: VICReg (selected for export): {figures}{not_leaderboard}. A trial "
                            "run: the pretraining was cut short (capped at 3 steps an epoch"), trial
    assert trial.endswith("its figures check that the pipeline runs on this data, not how well it grades")
    # not DRAC's kind of data: a fundus layout, a plain grey folder on DRAC's grade names
    for name, layout, names, modality in (("aptos", "aptos", ICDR_GRADES, "fundus"),
                                          ("plain", "plain", DRAC_GRADES, "octa")):
        said = train.result_line(_headline_run(tmp_path / name, layout, names, modality=modality))
        assert said == f"result: VICReg (selected for export): {figures}", said


def test_the_result_line_names_the_variant_and_figures_as_the_report_does(tmp_path: Path) -> None:
    """Review F2: under finetune.freeze=frozen scratch is a random frozen backbone under a
    trained head (report.md's title), and under finetune.decision=argmax the headline gives the
    figures that ranked the variants (accuracy, one-vs-rest AUC with its CI), not QWK + OvO AUC."""
    run = _headline_run(tmp_path / "frozen", layout="aptos", names=ICDR_GRADES, modality="fundus",
                        selected="scratch")
    (run / "finetune" / "scratch" / "model.json").write_text(json.dumps({"freeze": "frozen"}))
    assert train.result_line(run).startswith(
        "result: scratch (random init, frozen: random features + trained head) (selected for export): ")
    (run / "finetune" / "scratch" / "model.json").unlink()
    (run / "config.yaml").write_text("finetune:\n  freeze: frozen\n")  # report.run_freeze's fallback
    assert "(random init, frozen: random features + trained head)" in train.result_line(run)
    argmax = train.result_line(_headline_run(tmp_path / "argmax", layout="medmnist", names=ICDR_GRADES,
                                             modality="fundus", decision="argmax"))
    assert argmax == ("result: VICReg (selected for export): out-of-fold accuracy 0.500, macro AUC "
                      "0.720 (one-vs-rest; 95% CI 0.600..0.850), 6 images")


def test_the_next_step_says_phantoms_mixed_into_the_data(tmp_path: Path) -> None:
    """A model trained on data with phantom PNGs copied among them (review F3) is not said to be
    a phantom demonstration, nor left to read as one of clean real data."""
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "metadata.json").write_text(json.dumps(
        {"data": {"kind": "aptos", "layout": "aptos", "phantom_marked": 1,
                  "phantom_mixed": {"marked": 1, "images": 40}}}))
    lines = train.next_step_lines(tmp_path)
    assert lines[-1] == ("  note: 1 of 40 images are synthetic phantoms (drac_ssl's marker) mixed into "
                         "APTOS data: the figures mix them; take them out of the data and train again "
                         "for a model of the real images alone")
    assert not any("trained on phantom UW-OCTA images" in line for line in lines)


def test_rerun_skips_finished_stages(reduced_run: tuple[Path, int, str], capsys: pytest.CaptureFixture[str]) -> None:
    work, _, _ = reduced_run
    run_dir = work / "runs" / "reduced"
    first_env = (run_dir / "environment.json").read_text()
    invocations = (run_dir / "invocations.jsonl").read_text().splitlines()
    cwd = os.getcwd()
    os.chdir(work)
    try:
        assert train.main(REDUCED) == 0
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    for stage in train.PIPELINE:
        assert f"stage {stage}: already done" in out
    # how the run was made stays; the resume is one more line of the invocation log
    assert (run_dir / "environment.json").read_text() == first_env
    later = (run_dir / "invocations.jsonl").read_text().splitlines()
    assert len(later) == len(invocations) + 1
    first = json.loads(later[0])
    # ... which says how it ended, beside the environment the run was made with
    assert first.pop("ended")["outcome"] == "finished"
    # and the process that ran it (compare tells a run still going from a killed one)
    assert isinstance(first.pop("pid"), int) and isinstance(first.pop("host"), str)
    assert first.pop("tool") == "drac_ssl.train"  # the report command writes lines too
    # the epochs typed below the config file's (trial F11: a trial run by its epochs)
    typed = first.pop("epochs_typed")
    assert typed["finetune.epochs"]["typed"] == 1 and typed["finetune.epochs"]["file"] == 8, typed
    assert first == json.loads(first_env)
    assert json.loads(later[-1])["ended"]["outcome"] == "finished"
    # the resume's lines appended to console.log after a header line of their own
    console = (run_dir / "console.log").read_text()
    assert console.count("==== ") == 2 and "stage ingest: already done" in console.split("\n==== ")[1]
    # ... with the CPU threads line, printed before the run folder was known, right after it
    resumed = console.split("\n==== ")[1].splitlines()
    assert resumed[1].startswith("[train] CPU threads: ") and resumed[1] in out


def test_changed_config_in_an_existing_run_folder_is_refused(reduced_run: tuple[Path, int, str],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    work, _, _ = reduced_run
    cwd = os.getcwd()
    os.chdir(work)
    try:
        assert train.main([*REDUCED, "pretrain.lr=0.5"]) == 2
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert "different configuration" in err and "pretrain.lr: 0.015 -> 0.5" in err
    # the suggested command names this folder (a copied folder's config.yaml names the original)
    full = (work / "runs" / "reduced").resolve()  # absolute: it works from any folder
    assert f"-c {full / 'config.yaml'} run.out_dir={full.parent} run.name=reduced" in err


@pytest.mark.usefixtures("phantom_ready")
def test_a_hand_edited_config_yaml_is_named_as_edited_and_its_fix_is_not_the_refused_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: pretrain.lr changed in runs/X/config.yaml of an interrupted run; the plain
    command was refused as "made with a different configuration: pretrain.lr: 0.03 -> 0.015"
    (it was made with 0.015), and its fix, -c runs/X/config.yaml, failed at last.pt with "fix:
    rerun with ... -c runs/X/config.yaml", the same command. A finished run edited so said
    "already done" and its report showed the edited value."""
    from drac_ssl.checkpoint import save_checkpoint

    def interrupted(cfg, run_dir):  # type: ignore[no-untyped-def]
        save_checkpoint(run_dir / "pretrain" / "checkpoints" / "last.pt",
                        {"epoch": 0, "config": train.to_dict(cfg)})
        raise KeyboardInterrupt

    def finished(cfg, run_dir):  # type: ignore[no-untyped-def]
        (run_dir / "pretrain").mkdir(exist_ok=True)
        (run_dir / "pretrain" / "metadata.json").write_text(json.dumps({"config": train.to_dict(cfg)}))
        for name in ("backbone.safetensors", "vicreg_model.safetensors"):  # the outputs a done stage has
            (run_dir / "pretrain" / name).write_bytes(b"")
        return {}

    monkeypatch.chdir(tmp_path)
    for name, stage, code in (("edited", interrupted, 130), ("edited_done", finished, 0)):
        args = [*REDUCED, f"run.name={name}", "run.stages=[ingest,pretrain]"]
        monkeypatch.setitem(train.STAGES, "pretrain", stage)
        assert (interrupted_main(args) if code == 130 else train.main(args)) == code
        saved = Path("runs") / name / "config.yaml"
        train.save_config(train.load_config(saved, ["pretrain.lr=0.03"]), saved)  # the hand edit
        capsys.readouterr()
        for command in (args, ["-c", str(saved)]):
            assert train.main(command) == 2, name
            err = capsys.readouterr().err
            assert (f"{saved} does not say what the stages ran with" in err
                    and "pretrain.lr is 0.03 there but the pretraining ran with 0.015" in err
                    and "make config.yaml say what they ran with (pretrain.lr: 0.015), then rerun "
                        f"with it: {python_command('drac_ssl.train')} -c {tmp_path / saved} "
                        f"run.out_dir={tmp_path / 'runs'} run.name={name}" in err  # in place, from any folder
                    and "different configuration" not in err), err
            # the new run's settings: run.name typed on this command is replaced, else added
            assert (f"replace run.name={name} with run.name={name}-2 and add run.reuse=runs/{name} and "
                    f"the other values in your command" if command is args else
                    f"add run.name={name}-2 run.reuse=runs/{name} and the other values to your command") in err, err
        # the fix as printed: the file put back, -c RUN/config.yaml resumes (no refusal)
        train.save_config(train.load_config(saved, ["pretrain.lr=0.015"]), saved)
        assert stage_settings.edited_config_words(saved.parent, train.read_yaml(saved.read_text())) == ""


def _stage_record(run_dir: Path, stage: str, cfg: Any, done: bool) -> None:
    (run_dir / stage).mkdir(parents=True, exist_ok=True)
    (run_dir / stage / "metadata.json").write_text(json.dumps({"config": train.to_dict(cfg)}))
    status = json.loads((run_dir / "stages.json").read_text()) if (run_dir / "stages.json").is_file() else {}
    status[stage] = {"status": "done" if done else "running"}
    (run_dir / "stages.json").write_text(json.dumps(status))


def test_the_edited_config_check_refuses_no_legitimate_rerun(tmp_path: Path) -> None:
    """A review of the check found two false refusals and a missed edit: in_channels 0 (the
    data's) against the count a generic data set's pretraining resolved (no ingest to resolve
    0 with); umm/config.yaml, written before UMM's first save, taken as what UMM ran with; and
    more epochs written into a finished stage's config.yaml let through."""
    generic = tmp_path / "generic"
    ran = train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "pretrain.backbone.in_channels=1"])
    _stage_record(generic, "pretrain", ran, done=True)
    written = train.to_dict(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "pretrain.backbone.in_channels=0"]))
    assert stage_settings.edited_config_words(generic, written) == ""
    # UMM stopped before its first save: only umm/config.yaml, with the settings it was given
    early = tmp_path / "early"
    _stage_record(early, "pretrain", train.load_config(train.DEFAULT_CONFIG, REDUCED), done=True)
    (early / "umm").mkdir()
    train.save_config(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "umm.beta=0.5"]), early / "umm" / "config.yaml")
    assert stage_settings.stage_ran_with(early, "umm") == (None, "")
    assert stage_settings.edited_config_words(early, train.to_dict(train.load_config(train.DEFAULT_CONFIG, REDUCED))) == ""
    # more epochs: allowed while the stage is unfinished (a resume goes on), an edit once done
    for done, refused in ((False, False), (True, True)):
        run = tmp_path / f"epochs-{done}"
        _stage_record(run, "pretrain", train.load_config(train.DEFAULT_CONFIG, REDUCED), done=done)
        more = train.to_dict(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "pretrain.epochs=9"]))
        assert ("pretrain.epochs is 9 there" in stage_settings.edited_config_words(run, more)) is refused, done


def test_bad_override_is_a_clear_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert train.main(["pretrain.lrr=0.1"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'pretrain.lr'" in err and "Traceback" not in err


def test_run_folder_saved_before_newer_settings_existed_is_still_recognised() -> None:
    cfg = train.load_config(train.DEFAULT_CONFIG, REDUCED)
    saved = train.to_dict(cfg)
    for key in ("crop_scale", "frozen_train_views", "mlp_hidden", "conv_head_channels", "n_boot"):
        del saved["finetune"][key]  # a config.yaml written when these were module constants
    assert stage_settings.config_differences(stage_settings.saved_settings(saved), train.to_dict(cfg)) == []
    changed = train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "finetune.n_boot=50"])
    assert stage_settings.config_differences(stage_settings.saved_settings(saved), train.to_dict(changed)) == [
        "finetune.n_boot: 1000 -> 50"]


def test_output_only_settings_do_not_block_resuming_a_run_folder() -> None:
    cfg = train.load_config(train.DEFAULT_CONFIG, REDUCED)
    other = train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "run.tensorboard=true", "run.stages=[ingest]",
                                                     "run.keep_checkpoints=false"])
    assert stage_settings.config_differences(train.to_dict(cfg), train.to_dict(other)) == []


def test_a_moved_and_renamed_run_folder_resumes(reduced_run: tuple[Path, int, str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    work, _, _ = reduced_run
    shutil.copytree(work / "runs" / "reduced", work / "elsewhere" / "renamed", symlinks=True)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        capsys.readouterr()
        assert train.main([*REDUCED, "run.out_dir=elsewhere", "run.name=renamed"]) == 0
    finally:
        os.chdir(cwd)
        shutil.rmtree(work / "elsewhere")
    out = capsys.readouterr().out
    for stage in train.PIPELINE:
        assert f"stage {stage}: already done" in out


def test_a_run_folder_whose_ingest_stopped_accepts_a_changed_configuration(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import cv2
    import numpy as np

    data = tmp_path / "images"
    data.mkdir()
    rows = []
    for i in range(15):
        cv2.imwrite(str(data / f"{i:03d}.png"), np.random.default_rng(i).integers(0, 255, (40, 40), dtype=np.uint8))
        rows.append(f"{i:03d}.png,{i % 3}")
    (data / "labels.csv").write_text("image name,DR grade\n" + "\n".join(rows) + "\n")
    good = (data / "005.png").read_bytes()
    (data / "005.png").write_bytes(good[:60])  # truncated: found only when the ingest decodes it
    args = [*REDUCED, f"data.root={data}", f"run.out_dir={tmp_path / 'runs'}", "run.name=bad",
            "run.stages=[ingest]", "data.cache_sizes=[24, 32]"]
    assert train.main(args) == 2
    assert "truncated" in capsys.readouterr().err
    # the file is mended and a setting changed, as the ingest's notes may suggest: nothing had
    # finished in that folder, so the new configuration is not refused by the run folder; the
    # images the stopped ingest decoded are kept for its own sizes, and the ingest asks before
    # they are thrown away (a typo must not cost hours of decoding): discarded, the run goes on
    (data / "005.png").write_bytes(good)
    changed = [*args[:-1], "data.cache_sizes=[24]"]
    assert train.main(changed) == 2
    err = capsys.readouterr().err
    assert "data.cache_sizes=24,32 (now 24)" in err and "rm " in err and ".resume*" in err
    cache = tmp_path / "runs" / "bad" / "data" / "cache"
    kept = sorted(cache.glob(".resume*"))
    assert kept
    for path in kept:
        path.unlink()
    assert train.main(changed) == 0, capsys.readouterr().err


@pytest.mark.usefixtures("phantom_ready")
def test_an_interrupted_stage_keeps_its_time_and_the_resume_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl.report import write_report

    args = [*REDUCED, "run.name=interrupted", "run.stages=[ingest,pretrain]"]
    real = train.STAGES["pretrain"]

    def ctrl_c(cfg, run_dir):  # type: ignore[no-untyped-def]
        time.sleep(0.2)
        raise KeyboardInterrupt

    def fails(cfg, run_dir):  # type: ignore[no-untyped-def]
        raise RuntimeError("out of memory\nmore detail")

    monkeypatch.setitem(train.STAGES, "pretrain", ctrl_c)
    monkeypatch.chdir(tmp_path)
    assert interrupted_main(args) == 130
    # the stage it stopped in; a stage that does not say what it saved is simply run again
    assert ("[train] interrupted in pretrain; rerun the same command to run pretrain again (the "
            "stages finished before it are skipped)") in capsys.readouterr().err
    run_dir = tmp_path / "runs" / "interrupted"
    stages = json.loads((run_dir / "stages.json").read_text())
    assert stages["ingest"]["status"] == "done" and stages["pretrain"]["status"] == "interrupted"
    assert stages["pretrain"]["seconds"] >= 0.2 and stages["pretrain"]["attempts"] == 1
    monkeypatch.setitem(train.STAGES, "pretrain", fails)
    with pytest.raises(RuntimeError):  # an unexpected error: its traceback is not caught
        train.main(args)
    monkeypatch.setitem(train.STAGES, "pretrain", real)
    capsys.readouterr()
    assert train.main(args) == 0
    assert "stage pretrain: starting (attempt 3; the earlier ones ran" in capsys.readouterr().out
    # the invocation log says how each attempt ended, one line each
    ended = [json.loads(line)["ended"] for line in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert [e["outcome"] for e in ended] == ["interrupted", "failed", "finished"]
    # the code each returned (a traceback's 1): under torchrun the job sees torchrun's 1 and
    # reads it here (docs/running.md, On a cluster; a review, F1)
    assert [e.get("exit_code") for e in ended] == [130, 1, 0]
    assert ended[0]["stage"] == "pretrain" and "saved" not in ended[0] and "stage" not in ended[2]
    assert ended[0]["seconds"] >= 0.2 and ended[0]["utc"].endswith("+00:00")
    assert ended[1]["error"] == "RuntimeError: out of memory" and "error" not in ended[2]
    pretrain = json.loads((run_dir / "stages.json").read_text())["pretrain"]
    assert pretrain["status"] == "done" and pretrain["attempts"] == 3
    assert pretrain["seconds_earlier_attempts"] >= 0.2
    report = write_report(run_dir).read_text()
    assert "The run was resumed" in report and "| pretrain | done |" in report
    assert "was run again from the start" in report  # not all earlier work is reused: said so


@pytest.mark.usefixtures("phantom_ready")
def test_a_killed_attempt_counts_as_an_attempt_with_its_time_as_far_as_known(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial: Ctrl-C, a rerun killed with kill -9, a third run: it said "starting (attempt 2;
    the earlier ones ran 64.5 s)" and stages.json attempts: 2, as a stage was recorded only as
    it ended. It is recorded as it starts too ("running"), so the next start counts a killed
    attempt, timed to the last line its training printed (console.log's time)."""
    import datetime as dt

    # 20 epochs, as the record of the killed attempt's checkpoint below says (the stages are fakes)
    args = [*(a for a in REDUCED if not a.startswith("pretrain.epochs=")), "pretrain.epochs=20",
            "run.name=killed", "run.stages=[ingest,pretrain]"]
    run_dir = tmp_path / "runs" / "killed"
    left: dict[str, str] = {}

    def ctrl_c(cfg, run_dir):  # type: ignore[no-untyped-def]
        time.sleep(0.2)
        raise KeyboardInterrupt

    def killed(cfg, run_dir):  # type: ignore[no-untyped-def]
        left["stages"] = (run_dir / "stages.json").read_text()  # as a kill -9 here leaves it
        raise KeyboardInterrupt  # stands for the kill: its records are put back as it leaves them

    monkeypatch.chdir(tmp_path)
    for stage in (ctrl_c, killed):
        monkeypatch.setitem(train.STAGES, "pretrain", stage)
        assert interrupted_main(args) == 130
    entry = json.loads(left["stages"])["pretrain"]
    assert entry["status"] == "running" and entry["attempts"] == 2, entry
    # the Ctrl-C'd attempt's own time (measured, so as long as the machine made it: at least the sleep)
    first = entry["seconds_earlier_attempts"]
    assert first >= 0.2, entry
    # the killed attempt started 2 min ago (its last line, 30 s in, is no later than now)
    ago = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=2)
    entry["started_utc"] = ago.isoformat()
    (run_dir / "stages.json").write_text(json.dumps({**json.loads(left["stages"]), "pretrain": entry}))
    log = run_dir / "invocations.jsonl"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    last = {k: v for k, v in lines[-1].items() if k != "ended"}  # no end, its process gone
    log.write_text("".join(json.dumps({**line, "date_utc": (ago - dt.timedelta(seconds=10)).isoformat()}) + "\n"
                           for line in lines[:-1])
                   + json.dumps({**last, "pid": _dead_pid(), "date_utc": (ago - dt.timedelta(seconds=1)).isoformat()})
                   + "\n")
    last_line = ago.timestamp() + 30
    os.utime(run_dir / "console.log", (last_line, last_line))  # its last line printed 30 s in
    monkeypatch.setitem(train.STAGES, "pretrain", lambda cfg, run_dir: {})
    # what the killed attempt saved, from its checkpoint's record (no torch needed to read it)
    last = run_dir / "pretrain" / "checkpoints" / "last.pt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"x" * 100)
    written = run_state.write_checkpoint_record(last, epochs_done=7, epochs=20, step=175)
    utc = json.loads(written.read_text())["utc"]
    capsys.readouterr()
    assert train.main(args) == 0
    out = capsys.readouterr().out
    # the earlier ones: the Ctrl-C'd attempt's time, and the killed one's 30 s to its last line
    earlier = round(first + 30, 2)
    assert (f"stage pretrain: starting (attempt 3; the earlier ones ran {earlier:.1f} s; 1 was killed: "
            f"counted to the last line it printed)") in out, out
    assert (f"[train] stage pretrain: the killed attempt left last checkpoint at epoch 7 of 20, step 175, "
            f"written {utc}: pretrain/checkpoints/last.pt, 0.0 MiB; this attempt resumes from it with "
            f"epoch 8\n") in out, out
    pretrain = json.loads((run_dir / "stages.json").read_text())["pretrain"]
    assert pretrain["status"] == "done" and pretrain["attempts"] == 3 and pretrain["killed_attempts"] == 1
    assert pretrain["seconds_earlier_attempts"] == pytest.approx(earlier, abs=0.005)
    assert "untimed_attempts" not in pretrain
    assert pretrain["killed_left"]["then"] == "resumes from it with epoch 8", pretrain
    from drac_ssl.report import write_report

    resumed = write_report(run_dir).read_text()
    assert (f"pretrain: its killed attempt left last checkpoint at epoch 7 of 20, step 175, written {utc}: "
            f"pretrain/checkpoints/last.pt, 0.0 MiB; the next attempt resumes from it with epoch 8.") in resumed
    # a killed attempt whose end is not known (no console.log time of its training) is said so
    assert run_state.killed_attempt_seconds(entry, None) is None
    assert train._earlier_words(0.2, killed=1, untimed=1) == ("0.2 s + an unknown time",
                                                              "; 1 was killed: its time is not known")


@pytest.mark.usefixtures("phantom_ready")
@pytest.mark.parametrize("recorded", [True, False])
def test_a_killed_attempt_s_checkpoint_is_judged_by_the_epochs_given_now(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], recorded: bool) -> None:
    """The next start's "this attempt resumes from it with epoch N" follows the epochs the
    rerun gives the unfinished stage (the engine resumes to that count), not the killed
    attempt's recorded plan: 20 of 20 saved and pretrain.epochs=30 trains 21 to 30, 7 of 20
    and pretrain.epochs=5 trains nothing. An old run folder's last.pt without its last.json
    is read with torch (loaded by the training) rather than said "its epoch unknown"."""
    import torch

    args = [a for a in REDUCED if not a.startswith("pretrain.epochs=")] + [
        "run.name=killed", "run.stages=[ingest,pretrain]"]
    run_dir = tmp_path / "runs" / "killed"
    left: dict[str, str] = {}

    def killed(cfg, run_dir):  # type: ignore[no-untyped-def]
        left["stages"] = (run_dir / "stages.json").read_text()  # as a kill -9 here leaves it
        raise KeyboardInterrupt  # stands for the kill: its records are put back as it leaves them

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(train.STAGES, "pretrain", killed)
    assert interrupted_main([*args, "pretrain.epochs=20"]) == 130
    monkeypatch.setitem(train.STAGES, "pretrain", lambda cfg, run_dir: {})
    last = run_dir / "pretrain" / "checkpoints" / "last.pt"
    last.parent.mkdir(parents=True)
    made_with = yaml.safe_load((run_dir / "config.yaml").read_text())  # its settings, 20 epochs
    for done, now, then in ((20, 30, "resumes from it with epoch 21 of the 30 now set"),
                            (7, 5, "finishes the stage from it (no epoch is trained: it holds 7 epochs, "
                                   "more than the 5 now set)")):
        (run_dir / "stages.json").write_text(left["stages"])
        (last.parent / run_state.CHECKPOINT_RECORD).unlink(missing_ok=True)
        torch.save({"epoch": done - 1, "step": done * 25, "stopped": "", "config": made_with}, last)
        if recorded:
            run_state.write_checkpoint_record(last, epochs_done=done, epochs=20, step=done * 25)
        # the stage's epochs changed for the rerun: config.yaml edited (a changed count typed on
        # the command line is refused; an unfinished stage may be given another count there)
        saved = run_dir / "config.yaml"
        head, _, rest = saved.read_text().partition("\npretrain:\n")
        saved.write_text(head + "\npretrain:\n" + re.sub(r"(?m)^  epochs: \d+$", f"  epochs: {now}", rest, count=1))
        capsys.readouterr()
        assert train.main(["-c", str(saved)]) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        line = next(x for x in out.splitlines() if "the killed attempt left" in x)
        assert line.startswith(f"[train] stage pretrain: the killed attempt left last checkpoint at epoch {done} "
                               f"of 20, step {done * 25}, written "), line
        assert line.endswith(f"; this attempt {then}"), line
        assert "epoch unknown" not in line
        pretrain = json.loads((run_dir / "stages.json").read_text())["pretrain"]
        assert pretrain["killed_left"]["then"] == then, pretrain


@pytest.mark.usefixtures("phantom_ready")
def test_a_stage_stopped_by_a_non_finite_loss_is_an_error_line_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: a fine-tuning fold whose loss went NaN ended the command on a ValueError from
    the kappa monitor; the stages' non-finite stops (pretrain's, UMM's, now the fine-tuning's)
    were RuntimeErrors, a traceback under python -m drac_ssl.train. Each is one error: line with
    its diagnostic and fix, exit code 1, the stage recorded as failed."""
    from drac_ssl.finetune import FinetuneNonFiniteError
    from drac_ssl.pretrain import NonFiniteLossError
    from drac_ssl.umm import UMMNonFiniteError

    args = [*REDUCED, "run.name=diverged", "run.stages=[ingest,pretrain]"]
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "runs" / "diverged"
    for error in (NonFiniteLossError, UMMNonFiniteError, FinetuneNonFiniteError):
        def diverges(cfg, run_dir, error=error):  # type: ignore[no-untyped-def]
            raise error(f"[stage] epoch 1: the loss became non-finite ({error.__name__})\n  fix: lower the lr")

        monkeypatch.setitem(train.STAGES, "pretrain", diverges)
        capsys.readouterr()
        assert train.main(args) == 1
        err = capsys.readouterr().err
        assert err.endswith(f"error: [stage] epoch 1: the loss became non-finite ({error.__name__})\n"
                            f"  fix: lower the lr\n"), err
        assert "Traceback" not in err
        assert json.loads((run_dir / "stages.json").read_text())["pretrain"]["status"] == "failed"
        console = (run_dir / "console.log").read_text()
        assert console.endswith(f"error: [stage] epoch 1: the loss became non-finite ({error.__name__})\n"
                                f"  fix: lower the lr\n") and "Traceback" not in console
    ended = [json.loads(line)["ended"] for line in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert [e["outcome"] for e in ended] == ["failed"] * 3
    assert ended[2]["error"] == ("FinetuneNonFiniteError: [stage] epoch 1: the loss became non-finite "
                                 "(FinetuneNonFiniteError)")


@pytest.mark.usefixtures("phantom_ready")
def test_ctrl_c_in_a_stage_that_saved_epochs_says_where_it_stopped_and_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl.runtime import StageInterrupted

    def ctrl_c(cfg, run_dir):  # type: ignore[no-untyped-def]
        print("[pretrain] epoch 6/20 loss 1.0")  # buffered on a file or pipe: printed before the message
        raise StageInterrupted("epoch 6 of 20 saved", "resume from epoch 7")

    monkeypatch.setitem(train.STAGES, "pretrain", ctrl_c)
    monkeypatch.chdir(tmp_path)
    assert interrupted_main([*REDUCED, "run.name=saved", "run.stages=[ingest,pretrain]"]) == 130
    captured = capsys.readouterr()
    assert "[pretrain] epoch 6/20 loss 1.0" in captured.out
    # and how to see the run so far (a trial: an interrupted run has no report.md, and nothing
    # said how to get one), in the words of the recorded command's interpreter
    from drac_ssl.runtime import interpreter_word

    said = ("[train] interrupted in pretrain (epoch 6 of 20 saved); rerun the same command to resume "
            f"from epoch 7; {interpreter_word()} -m drac_ssl.report runs/saved writes report.md for the "
            "run so far\n")
    assert captured.err.endswith(said), captured.err
    run_dir = tmp_path / "runs" / "saved"
    assert (run_dir / "console.log").read_text().endswith(said)
    assert json.loads((run_dir / "stages.json").read_text())["pretrain"]["saved"] == "epoch 6 of 20 saved"
    ended = json.loads((run_dir / "invocations.jsonl").read_text().splitlines()[-1])["ended"]
    assert ended == {**ended, "outcome": "interrupted", "stage": "pretrain", "saved": "epoch 6 of 20 saved"}
    # no stage done yet: a report would hold nothing, none is offered
    def ctrl_c_in_ingest(cfg, run_dir):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setitem(train.STAGES, "ingest", ctrl_c_in_ingest)
    assert interrupted_main([*REDUCED, "run.name=nothing", "run.stages=[ingest,pretrain]"]) == 130
    err = capsys.readouterr().err
    assert "interrupted in ingest" in err and "drac_ssl.report" not in err, err


@pytest.mark.usefixtures("phantom_ready")
def test_ctrl_c_after_the_last_epoch_was_saved_says_what_the_checkpoint_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A Ctrl-C right after UMM's only epoch was saved (outside the engine's epoch loop) said
    'interrupted in umm; rerun ... to run umm again' and invocations.jsonl had no 'saved'. Now
    a plain KeyboardInterrupt in a stage whose checkpoints/last.pt exists says what it holds."""
    import torch

    from drac_ssl.run_state import report_words

    epochs = {"finished": (0, 1, ""), "midway": (0, 3, "")}
    for name, (epoch, total, stopped) in epochs.items():
        def ctrl_c(cfg, run_dir, epoch=epoch, stopped=stopped):  # type: ignore[no-untyped-def]
            (run_dir / "umm" / "checkpoints").mkdir(parents=True)
            torch.save({"epoch": epoch, "stopped": stopped, "model": {"w": torch.zeros(2)}},
                       run_dir / "umm" / "checkpoints" / "last.pt")
            raise KeyboardInterrupt  # e.g. while the stage writes its weights after the last epoch

        monkeypatch.setitem(train.STAGES, "umm", ctrl_c)
        monkeypatch.setitem(train.STAGES, "pretrain", lambda cfg, run_dir: {})
        monkeypatch.chdir(tmp_path)
        assert interrupted_main([*REDUCED, f"run.name={name}", "run.stages=[ingest,pretrain,umm]",
                           f"umm.epochs={total}"]) == 130
        err = capsys.readouterr().err
        run_dir = tmp_path / "runs" / name
        ended = json.loads((run_dir / "invocations.jsonl").read_text().splitlines()[-1])["ended"]
        err = err.replace(f"; {report_words(Path('runs', name))}", "")  # the report hint: its own test
        if name == "finished":
            assert err.endswith("[train] interrupted in umm (training finished: epoch 1 of 1 saved); "
                                "rerun the same command to finish the stage from the saved weights "
                                "(no epoch is trained again)\n"), err
            assert ended["saved"] == "training finished: epoch 1 of 1 saved", ended
        else:
            assert err.endswith("[train] interrupted in umm (epoch 1 of 3 saved); rerun the same "
                                "command to resume from epoch 2\n"), err
            assert ended["saved"] == "epoch 1 of 3 saved", ended
        assert json.loads((run_dir / "stages.json").read_text())["umm"]["saved"] == ended["saved"]


def test_ctrl_c_before_any_stage_started_says_nothing_was_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import preflight

    def ctrl_c(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    for where in ("run", "read_config"):  # during the preflight; while the config is read
        with monkeypatch.context() as patch:
            patch.setattr(preflight, where, ctrl_c)
            assert interrupted_main([*REDUCED, "run.name=never"]) == 130
        err = capsys.readouterr().err
        assert "interrupted before any stage started" in err and "nothing was run or written" in err
        assert "resume from the last checkpoint" not in err
        assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_the_script_starts_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "NO_ALBUMENTATIONS_UPDATE": "1"}
    command = [sys.executable, "-m", "drac_ssl.train", f"run.out_dir={tmp_path / 'runs'}"]

    def interrupt_while_importing(proc: subprocess.Popen[str]) -> str:
        maps = Path(f"/proc/{proc.pid}/maps")
        deadline = time.monotonic() + 60
        # once torch's library is loaded the script is past python's start-up and still importing
        while maps.exists() and "libtorch" not in maps.read_text() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not maps.exists():
            time.sleep(0.5)  # no /proc: python is up, torch most likely still being imported
        assert proc.poll() is None  # still starting: the signal reaches it
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=120)[1]

    # Ctrl-C as a terminal delivers it, whatever this test process inherited: pytest started as
    # a background job of a script has SIGINT ignored, which its children would inherit (and
    # keep ignoring, as the second half checks), running the whole default job instead
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    err = interrupt_while_importing(proc)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "nothing was run or written" in err
    if Path("/proc/self/maps").exists():
        assert "interrupted while starting" in err  # the new handler, not the preflight's line
    assert not (tmp_path / "runs").exists()
    # a run started with Ctrl-C ignored (a background job of a script) keeps ignoring it
    ignored = subprocess.Popen(command + ["data.dataset=mnist", "data.root=.", "run.stages=[ingest]"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    err = interrupt_while_importing(ignored)
    assert "interrupted" not in err and ignored.returncode != 130


def test_a_new_run_takes_the_finished_stages_of_another_with_the_same_settings(
        reduced_run: tuple[Path, int, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    work, _, _ = reduced_run
    source = work / "runs" / "reduced"
    monkeypatch.chdir(work)
    capsys.readouterr()
    # another fine-tuning on the same pretraining: the refusal says how
    assert train.main([*REDUCED, "finetune.head=mlp"]) == 2
    assert (f"replace run.name=reduced with run.name=reduced-2 and add run.reuse={Path('runs') / 'reduced'} "
            f"in your command") in capsys.readouterr().err
    assert train.main([*REDUCED, "finetune.head=mlp", "run.name=branch", "run.reuse=runs/reduced"]) == 0
    out = capsys.readouterr().out
    assert f"run.reuse: takes ingest, pretrain, umm from {source}" in out
    # the offered folds retrained: the setting that differs is named, not only "the signature"
    assert ("[finetune] vicreg: 0 of the 2 fold(s) offered by run.reuse reused; 2 retrained here (their "
            "settings or inputs differ from this run's; settings that differ: finetune.head: 'linear' -> 'mlp')"
            ) in out, out
    for stage in ("ingest", "pretrain", "umm"):
        assert f"stage {stage}: already done in {source}" in out
    assert "stage finetune: starting" in out and "stage export: starting" in out
    branch = work / "runs" / "branch"
    stages = json.loads((branch / "stages.json").read_text())
    assert stages["pretrain"]["reused_from"] == str(source) and stages["pretrain"]["seconds"] == 0.0
    assert stages["pretrain"]["seconds_in_source"] > 0
    # the code a taken stage ran on is the source's (report.md names it apart from this run's)
    assert stages["pretrain"].get("code") == json.loads((source / "stages.json").read_text())["pretrain"].get("code")
    assert stages["pretrain"]["outputs"]["backbone"] == str(Path("runs/branch/pretrain/backbone.safetensors"))
    assert "reused_from" not in stages["finetune"]
    # hard links: the same file, no second copy on the disk
    for rel in ("pretrain/backbone.safetensors", "umm/backbone.safetensors", "data/manifest.csv"):
        assert os.path.samefile(branch / rel, source / rel), rel
    assert json.loads((branch / "finetune" / "vicreg" / "model.json").read_text())["model"]["head"] == "mlp"
    assert "`run.reuse`" in (branch / "report.md").read_text()
    # the two runs side by side (python -m drac_ssl.compare reads what the stages wrote)
    from drac_ssl.compare import main as compare

    assert compare([str(source), str(branch), "--n-boot", "20"]) == 0
    out = capsys.readouterr().out
    assert "| run | finetune.head | variant |" in out
    assert "| reduced | linear | vicreg | 7.5 |" in out and "| branch | mlp | vicreg_umm | 7.5 |" in out
    assert f"`branch` took its ingest, pretrain, umm stage(s) from `{source}` (run.reuse)" in out


def test_fine_tuned_folds_taken_from_another_run_are_said_to_be_that_runs(
        reduced_run: tuple[Path, int, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The trial's eye_c (run.reuse=eye_b umm.epochs=4) reused eye_b's scratch and vicreg folds,
    and nothing said so: the two runs' equal rows read as agreeing replications."""
    from drac_ssl.compare import main as compare
    from drac_ssl.finetune import folds_taken_from

    work, _, _ = reduced_run
    source = work / "runs" / "reduced"
    monkeypatch.chdir(work)
    capsys.readouterr()
    no_export = "run.stages=[ingest,pretrain,umm,finetune]"  # the bundle says nothing of this
    assert train.main([*REDUCED, "umm.epochs=2", "run.name=umm2", "run.reuse=runs/reduced", no_export]) == 0
    out = capsys.readouterr().out
    assert (f"vicreg fold 0: reusing fold0.json (trained in {source}, offered by run.reuse: the same "
            f"settings and inputs)") in out
    assert "vicreg_umm fold 0 (1/2): kept epoch" in out  # UMM changed: trained here
    # how many of the offered folds were taken, variant by variant (a trial saw none taken, unsaid)
    assert "[finetune] vicreg: 2 of the 2 fold(s) offered by run.reuse reused\n" in out
    assert ("[finetune] vicreg_umm: 0 of the 2 fold(s) offered by run.reuse reused; 2 retrained here "
            "(their settings or inputs differ from this run's: the signature)") in out
    run = work / "runs" / "umm2"
    metrics = {v: json.loads((run / "finetune" / v / "metrics.json").read_text()) for v in ("vicreg", "vicreg_umm")}
    assert metrics["vicreg"]["folds_taken_from"] == {str(source): [0, 1]}
    assert metrics["vicreg_umm"]["folds_taken_from"] == {}
    stages = json.loads((run / "stages.json").read_text())
    assert stages["finetune"]["outputs"]["folds_taken_from"] == {"vicreg": {str(source): [0, 1]}}
    assert (f"**Not trained here:** The fine-tuning of vicreg (2 of 2 folds) was taken from {source} "
            f"(run.reuse: the same settings, data, seed and weights, so the same models)") in (
        run / "report.md").read_text()
    assert compare([str(source), str(run), "--n-boot", "20"]) == 0
    out = capsys.readouterr().out
    assert "| umm2 | 2 | vicreg (folds from reduced) |" in out and "| umm2 | 2 | vicreg_umm |" in out
    assert ("`umm2`'s fine-tuning of vicreg (2 of 2 folds) was taken from `reduced` (run.reuse: the same "
            "settings, data, seed and weights, so the same models, not trained again): those rows repeat "
            "`reduced`'s, they are not an independent replication.") in out
    # a chain of reuses names the run that trained the folds (umm3's UMM differs from umm2's
    # and the reduced run's: one epoch, as the reduced run's, of another alpha)
    assert train.main([*REDUCED, "umm.alpha=0.5", "run.name=umm3", "run.reuse=runs/umm2", no_export]) == 0
    assert folds_taken_from(work / "runs" / "umm3", "vicreg") == {str(source): [0, 1]}
    # a run made before the record: found by the folds' signatures in the run it took stages from
    path = run / "finetune" / "vicreg" / "metrics.json"
    del metrics["vicreg"]["folds_taken_from"]
    path.write_text(json.dumps(metrics["vicreg"]))
    assert folds_taken_from(run, "vicreg") == {str(source): [0, 1]}
    assert folds_taken_from(run, "vicreg_umm") == {} and folds_taken_from(source, "vicreg") == {}


def test_run_reuse_stops_at_the_first_stage_whose_settings_differ(
        reduced_run: tuple[Path, int, str], tmp_path: Path) -> None:
    work, _, _ = reduced_run
    source = work / "runs" / "reduced"
    cfg = train.load_config(train.DEFAULT_CONFIG, REDUCED)
    plan = train.plan_reuse(cfg, source, tmp_path / "new")
    assert plan.stages == ("ingest", "pretrain", "umm") and plan.stopped_at == ""
    plan = train.plan_reuse(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "umm.epochs=2"]),
                            source, tmp_path / "new")
    assert plan.stages == ("ingest", "pretrain") and plan.stopped_at == "umm"
    assert plan.why == ("umm.epochs: 1 -> 2",)
    plan = train.plan_reuse(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "run.seed=3"]),
                            source, tmp_path / "new")
    assert plan.stages == ("ingest",) and plan.stopped_at == "pretrain" and plan.why == ("run.seed: 0 -> 3",)
    # the pretraining's monitor (which picks UMM's start) reads UMM's membership settings
    plan = train.plan_reuse(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "umm.membership=pairs"]),
                            source, tmp_path / "new")
    assert plan.stages == ("ingest",) and plan.stopped_at == "pretrain"
    # a relative path means the folder the run was made from (environment.json's cwd): the
    # same words typed in another folder name other images
    assert json.loads((source / "environment.json").read_text())["cwd"] == str(work)
    saved = train.to_dict(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "data.root=images"]))
    here = stage_settings.comparable(saved)  # typed now, in this folder
    assert stage_settings.comparable(saved, os.getcwd()) == here
    assert stage_settings.comparable(saved, str(tmp_path))["data"]["root"] == str(tmp_path / "images") != here["data"]["root"]
    # no run folder there, or this run's own: a clear error with its fix
    with pytest.raises(train.ConfigError, match="not a run folder"):
        train.plan_reuse(cfg, tmp_path, tmp_path / "new")
    with pytest.raises(train.ConfigError, match="own folder"):
        train.plan_reuse(cfg, source, source)


def test_run_reuse_that_can_take_nothing_is_refused_and_leaves_no_folder(
        reduced_run: tuple[Path, int, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    work, _, _ = reduced_run
    monkeypatch.chdir(work)
    capsys.readouterr()
    # (a change of the folds alone takes the pretraining: test_a_change_of_the_folds_alone_...)
    assert train.main([*REDUCED, "data.phantom_seed=1", "run.name=nothing", "run.reuse=runs/reduced"]) == 2
    err = capsys.readouterr().err
    assert "run.reuse=runs/reduced" in err and "its ingest stage differs (data.phantom_seed: 0 -> 1)" in err
    assert train.main([*REDUCED, "run.name=nowhere", "run.reuse=runs/missing"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    # taken, then refused by the preflight (a bad fine-tuning setting): nothing is left behind
    assert train.main([*REDUCED, "finetune.epochs=0", "run.name=refused", "run.reuse=runs/reduced"]) == 2
    assert "finetune.epochs" in capsys.readouterr().err
    # interrupted (or failing) right after taking the stages: nothing taken stays behind, so a
    # later run in that folder cannot skip stages it never ran
    with monkeypatch.context() as patch:
        def interrupted(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

        patch.setattr(train.preflight, "run", interrupted)
        assert interrupted_main([*REDUCED, "run.name=cut", "run.reuse=runs/reduced"]) == 130
        (work / "runs" / "empty").mkdir()
        assert interrupted_main([*REDUCED, "run.name=empty", "run.reuse=runs/reduced"]) == 130
    assert list((work / "runs" / "empty").iterdir()) == []
    for name in ("nothing", "nowhere", "refused", "cut"):
        assert not (work / "runs" / name).exists(), name


def test_run_reuse_finds_a_run_by_name_follows_chains_and_warns_when_the_folder_exists(
        reduced_run: tuple[Path, int, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    work, _, _ = reduced_run
    source = work / "runs" / "reduced"
    monkeypatch.chdir(work)
    # a run name in run.out_dir; then a chain: the origin, not the middle run, is recorded
    # (the ingest and pretraining alone: they are what is taken; a fine-tuning would add minutes)
    early = "run.stages=[ingest,pretrain]"
    assert train.main([*REDUCED, "finetune.epochs=2", "run.name=by-name", "run.reuse=reduced", early]) == 0
    assert train.main([*REDUCED, "finetune.epochs=3", "run.name=chained", "run.reuse=by-name", early]) == 0
    out = capsys.readouterr().out
    assert f"stage pretrain: already done in {source}" in out and "via" in out
    stages = json.loads((work / "runs" / "chained" / "stages.json").read_text())
    assert stages["pretrain"]["reused_from"] == str(source)
    assert stages["pretrain"]["seconds_in_source"] > 0
    assert stages["pretrain"]["via"] == str(work / "runs" / "by-name")
    # the same command again resumes quietly; another source for an existing folder is a warning
    assert train.main([*REDUCED, "finetune.epochs=3", "run.name=chained", "run.reuse=by-name", early]) == 0
    assert "ignored" not in capsys.readouterr().out
    assert train.main([*REDUCED, "finetune.epochs=3", "run.name=chained", "run.reuse=branch", early]) == 0
    out = capsys.readouterr().out
    assert "run.reuse=branch" in out and "ignored: run.reuse is read only when the run folder is new" in out
    # a typo: the closest run folder is the fix
    assert train.main([*REDUCED, "run.name=typo", "run.reuse=reducd"]) == 2
    assert f"fix: run.reuse={Path('runs') / 'reduced'} (the closest" in capsys.readouterr().err
    # a trailing slash or ./ is the same data root
    cfg = train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "data.root=./somewhere/"])
    same = train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "data.root=somewhere"])
    assert stage_settings.config_differences(stage_settings.comparable(train.to_dict(cfg)),
                                     stage_settings.comparable(train.to_dict(same))) == []


def test_a_change_of_the_folds_alone_takes_the_pretraining_and_umm_and_runs_the_ingest_again(
        reduced_run: tuple[Path, int, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A user rerunning with other folds (data.fold_seed, data.n_folds, data.near_duplicate_mse)
    pretrained again: the ingest differs, so nothing was taken. The pretraining and UMM read no
    grade and see the same images: they are taken, the ingest runs here for the new folds,
    and the fine-tuning and export run on them."""
    work, _, _ = reduced_run
    source = work / "runs" / "reduced"
    monkeypatch.chdir(work)
    capsys.readouterr()
    for change in ("data.fold_seed=1", "data.near_duplicate_mse=1e-4", "data.n_folds=3"):
        plan = train.plan_reuse(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, change]), source,
                                work / "runs" / "new")
        assert plan.stages == ("pretrain", "umm") and plan.stopped_at == "", (change, plan)
        assert len(plan.refold) == 1 and plan.refold[0].startswith(change.split("=")[0] + ": "), plan
    # another data setting beside the folds: the images may differ, nothing is taken
    plan = train.plan_reuse(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "data.fold_seed=1",
                                                                     "data.phantom_seed=1"]),
                            source, work / "runs" / "new")
    assert plan.stages == () and plan.stopped_at == "ingest" and not plan.refold, plan
    # ... and a pretraining setting too: the ingest runs here, and so does every later stage
    plan = train.plan_reuse(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "data.fold_seed=1", "run.seed=3"]),
                            source, work / "runs" / "new")
    assert plan.stages == () and plan.stopped_at == "pretrain" and plan.why == ("run.seed: 0 -> 3",), plan
    assert plan.refold == ("data.fold_seed: 0 -> 1",) and not plan.fold_bound, plan
    # ... said so, not blamed on the folds (review F4), by run.reuse and by the run folder itself
    blocked = ("its ingest differs only in the folds (data.fold_seed: 0 -> 1), which alone would not stop its "
               "pretraining from being taken (the ingest would run here for the new folds), but its pretrain "
               "stage differs too (run.seed: 0 -> 3)")
    # one sentence, built once (ReusePlan.fold_blocked_sentence), in both refusals
    sentence = f"nothing in it can be taken into a new run: {blocked}"
    assert plan.fold_blocked_sentence() == sentence, plan.fold_blocked_sentence()
    assert train.main([*REDUCED, "data.fold_seed=1", "run.seed=3", "run.name=seed3", "run.reuse=runs/reduced"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"run.reuse=runs/reduced: {sentence} fix: make run.seed equal to that run's to take its pretrain " \
           f"stage with the new folds" in err, err
    assert train.main([*REDUCED, "data.fold_seed=1", "run.seed=3"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"({sentence}; to keep it, start the new run beside it" in err, err
    # the run folder itself refuses the change, and says what a new run would take
    assert train.main([*REDUCED, "data.fold_seed=1"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert ("or keep this run and start a new one that takes its finished pretrain, umm stage(s) instead of "
            "running them again (the ingest runs again for the new folds: data.fold_seed changes only the "
            "folds, which pretrain and umm never read): replace run.name=reduced with run.name=reduced-2 "
            "and add run.reuse=runs/reduced in your command") in err, err

    assert train.main([*REDUCED, "data.fold_seed=1", "run.name=refold", "run.reuse=runs/reduced"]) == 0
    out = capsys.readouterr().out
    assert (f"run.reuse: takes pretrain, umm from {source}; the ingest runs here, as the two runs differ in "
            f"it only by the folds (data.fold_seed: 0 -> 1), which pretrain and umm never read") in out, out
    assert "they recorded no figure that reads the folds (pretrain.knn_every=0: no k-NN monitor)" in out
    assert "stage ingest: starting" in out and "stage finetune: starting" in out and "stage export: starting" in out
    for stage in ("pretrain", "umm"):
        assert f"stage {stage}: already done in {source}" in out and f"stage {stage}: starting" not in out
    assert f"the new ingest holds the images pretrain and umm learnt from in {source}" in out
    run = work / "runs" / "refold"
    stages = json.loads((run / "stages.json").read_text())
    assert [s for s, e in stages.items() if e.get("reused_from")] == ["pretrain", "umm"]
    assert stages["pretrain"]["other_folds"]["settings"] == ["data.fold_seed: 0 -> 1"]
    assert stages["umm"]["other_folds"]["images"].startswith("the same: data/cache/24px.npy")
    # the very weights (hard links), and the cached images the ingest kept; the folds are new
    for rel in ("pretrain/backbone.safetensors", "pretrain/vicreg_model.safetensors", "umm/backbone.safetensors",
                "data/cache/24px.npy"):
        assert os.path.samefile(run / rel, source / rel), rel
    assert not os.path.samefile(run / "data" / "manifest.csv", source / "data" / "manifest.csv")

    def folds(run_dir: Path) -> list[str]:
        with open(run_dir / "data" / "manifest.csv", newline="") as fh:
            return [r["fold"] for r in csv.DictReader(fh)]

    assert folds(run) != folds(source)
    # the fine-tuning ran here, on the new folds: no fold of the other run was offered
    assert "offered by run.reuse" not in out
    assert not json.loads((run / "finetune" / "vicreg" / "metrics.json").read_text()).get("folds_taken_from")
    report = (run / "report.md").read_text()
    assert (f"**Taken with other folds:** pretrain, umm come from `{source}`, whose ingest differed from "
            f"this run's only in the folds (data.fold_seed: 0 -> 1)") in report, report
    assert "They recorded no figure that reads the folds (`pretrain.knn_every=0`)." in report
    assert ("so they are what this run would have made with the same settings, code and device (another device "
            "or library version rounds differently); the fine-tuning and export used this run's folds.") in report
    # config.yaml states this run's folds, the taken stages ran with the other run's: no edit,
    # the same command resumes (every stage done); another value there is an edit still
    written = train.read_yaml((run / "config.yaml").read_text())
    assert stage_settings.edited_config_words(run, written) == ""
    assert train.main([*REDUCED, "data.fold_seed=1", "run.name=refold", "run.reuse=runs/reduced"]) == 0
    assert "stage finetune: already done" in capsys.readouterr().out
    written["data"]["fold_seed"] = 2
    assert ("data.fold_seed is 2 there but this run's ingest made its folds with 1 (data/ingest_summary.json)"
            in stage_settings.edited_config_words(run, written))


def test_stages_taken_with_other_folds_are_dropped_when_the_new_ingest_holds_other_images(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An image under data.root changed after the earlier run: the ingest here decodes it
    again, and the pretraining taken from that run did not learn from this run's images. The
    check after the ingest (check_refolded) removes the taken stages so that they run here."""
    import shutil

    from fake_ingest import SOURCE_SIZE, make_fake_ingest

    old = make_fake_ingest(tmp_path / "old")
    run = tmp_path / "new"
    shutil.copytree(old, run / "data")
    manifest = run / "data" / "manifest.csv"

    def rewrite(change: dict[str, str]) -> None:  # the first training row's columns changed
        with open(old / "manifest.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        rows[0].update(change)
        with open(manifest, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    rewrite({"fold": "4"})  # other folds alone: the same images for the pretraining
    assert train.refolded_image_difference(run / "data", old, SOURCE_SIZE) == ""
    cfg = train.load_config(train.DEFAULT_CONFIG, [f"pretrain.augment.source_size={SOURCE_SIZE}"])

    def taken() -> dict[str, Any]:
        other = {"ingest_of": str(tmp_path / "old-run"), "settings": ["data.fold_seed: 0 -> 1"],
                 "fold_figures": [], "images": "not checked yet (after the ingest)"}
        return {"ingest": {"status": "done"},
                **{s: {"status": "done", "reused_from": "x", "other_folds": dict(other)} for s in ("pretrain", "umm")}}

    (tmp_path / "old-run").mkdir()
    (tmp_path / "old-run" / "data").symlink_to(old)
    status = taken()
    train.check_refolded(cfg, run, status)
    assert status["pretrain"]["other_folds"]["images"].startswith("the same")
    assert "they stand as taken" in capsys.readouterr().out
    # an image changed since: the cache array differs, the taken stages go
    array = np.load(run / "data" / "cache" / f"{SOURCE_SIZE}px.npy")
    array[0, 0, 0] ^= 1
    np.save(run / "data" / "cache" / f"{SOURCE_SIZE}px.npy", array)
    assert "is not byte for byte" in train.refolded_image_difference(run / "data", old, SOURCE_SIZE)
    for stage in ("pretrain", "umm"):
        (run / stage).mkdir()
    status = taken()
    train.check_refolded(cfg, run, status)
    assert list(status) == ["ingest"] and json.loads((run / "stages.json").read_text()) == status
    assert not (run / "pretrain").exists() and not (run / "umm").exists()
    out = capsys.readouterr().out
    assert "were made on other images than this run's ingest holds" in out and "run here" in out, out
    # a grade changed (the label CSV edited): more than the folds differ
    rewrite({"fold": "4", "grade": "2"})
    assert "in more than its fold columns" in train.refolded_image_difference(run / "data", old, SOURCE_SIZE)
    # the other run's cache array gone: nothing was compared, and the warning says so (review F5)
    (old / "cache" / f"{SOURCE_SIZE}px.npy").unlink()
    status = taken()
    train.check_refolded(cfg, run, status)
    out = capsys.readouterr().out
    assert list(status) == ["ingest"], status
    gone = tmp_path / "old-run" / "data" / "cache" / f"{SOURCE_SIZE}px.npy"
    assert (f"could not be checked against this run's ingest ({gone} is "
            f"missing)") in out and "other images" not in out, out


def test_refold_check_ignores_a_column_only_one_manifest_has(tmp_path: Path) -> None:
    """A run made before the manifest's pixels_sha256 column, refolded (run.reuse=OLD
    data.fold_seed=7) by this version: the new ingest's manifest has the column, the old one
    not. That is no image difference (review F1): the taken pretraining and UMM stand. A column
    both have is still compared (an edited pixels_sha256 is a difference)."""
    import shutil

    from fake_ingest import SOURCE_SIZE, make_fake_ingest

    old = make_fake_ingest(tmp_path / "old")
    run = tmp_path / "new"
    shutil.copytree(old, run / "data")

    def write(path: Path, extra: dict[str, str]) -> None:
        with open(old / "manifest.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert "pixels_sha256" not in rows[0]  # a manifest made before the column
        for i, row in enumerate(rows):
            row["fold"] = str((int(row["fold"]) + 1) % 5) if row["fold"] else ""
            row.update({k: f"{v}{i}" for k, v in extra.items()})
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    write(run / "data" / "manifest.csv", {"pixels_sha256": "ab"})
    assert train.refolded_image_difference(run / "data", old, SOURCE_SIZE) == ""
    assert train.refolded_image_difference(old, run / "data", SOURCE_SIZE) == ""  # either way round
    write(old / "manifest.csv", {"pixels_sha256": "cd"})  # both have it, other values
    assert "in more than its fold columns" in train.refolded_image_difference(run / "data", old, SOURCE_SIZE)


def _taken_from_reduced(work: Path, name: str, *settings: str) -> Path:
    """``work/runs/NAME``: the reduced job run in ``work`` up to its UMM with ``settings``,
    taking what it can from the reduced run (``run.reuse=runs/reduced``)."""
    cwd = os.getcwd()
    os.chdir(work)
    try:
        assert train.main([*REDUCED, *settings, f"run.name={name}", "run.reuse=runs/reduced",
                           "run.stages=[ingest,pretrain,umm]"]) == 0
    finally:
        os.chdir(cwd)
    return work / "runs" / name


@pytest.fixture(scope="module")
def refolded_b(reduced_run: tuple[Path, int, str]) -> Path:
    """``runs/chain-b``: the reduced run's pretraining and UMM taken with data.fold_seed=1
    (the ingest run here), no fine-tuning."""
    return _taken_from_reduced(reduced_run[0], "chain-b", "data.fold_seed=1")


def test_a_chain_of_fold_changes_records_the_folds_the_taken_stages_ran_with(
        reduced_run: tuple[Path, int, str], refolded_b: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F1: A (fold_seed 0) -> B (fold_seed 1) -> C (fold_seed 1, near_duplicate_mse
    1e-4). C's pretraining ran with A's folds: stages.json says so per key (not B -> C's
    difference alone), so rerunning C's command, or taking from C, is no "edited config.yaml"."""
    work, _, _ = reduced_run
    monkeypatch.chdir(work)
    command = [*REDUCED, "data.fold_seed=1", "data.near_duplicate_mse=1e-4", "run.name=chain-c",
               f"run.reuse={refolded_b}", "run.stages=[ingest,pretrain,umm]"]
    capsys.readouterr()
    assert train.main(command) == 0
    out = " ".join(capsys.readouterr().out.split())
    # the run that made them is named (the images were compared with B's ingest, checked in B)
    assert (f"the new ingest holds the images pretrain and umm learnt from in {work / 'runs' / 'reduced'} "
            f"(data/cache/24px.npy byte for byte as {refolded_b}'s, which holds those of "
            f"{work / 'runs' / 'reduced'} (checked there)") in out, out
    # review F6: only what runs here is said to use the new folds; whose folds the stages had
    assert "run.stages runs no fine-tuning or export here: nothing uses the new folds yet" in out, out
    assert (f"stage pretrain: already done in {work / 'runs' / 'reduced'} (" in out
            and f"taken by run.reuse via {refolded_b}; made with the folds of {work / 'runs' / 'reduced'} "
                f"(data.fold_seed 0 there, 1 here; data.near_duplicate_mse 0.0 there, 0.0001 here), which it "
                f"never read), skipping" in out), out
    run = work / "runs" / "chain-c"
    stages = json.loads((run / "stages.json").read_text())
    for stage in ("pretrain", "umm"):
        assert stages[stage]["other_folds"]["settings"] == [
            "data.fold_seed: 0 -> 1", "data.near_duplicate_mse: 0.0 -> 0.0001"], stages[stage]
    assert stage_settings.edited_config_words(run, train.read_yaml((run / "config.yaml").read_text())) == ""
    from drac_ssl.report import _other_folds_words

    words = _other_folds_words({s: stages[s]["other_folds"] for s in ("pretrain", "umm")}, stages, [])
    assert words.startswith(f"**Taken with other folds:** pretrain, umm come from `{work / 'runs' / 'reduced'}` "
                            f"(taken via `{refolded_b}`), whose ingest differed from this run's only in the folds "
                            f"(data.fold_seed: 0 -> 1; data.near_duplicate_mse: 0.0 -> 0.0001)"), words
    assert "no fine-tuning or export has run here on this run's folds yet" in words, words
    capsys.readouterr()
    assert train.main(command) == 0, capsys.readouterr().err
    plan = train.plan_reuse(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "data.fold_seed=2"]), run,
                            work / "runs" / "chain-d")
    assert plan.stages == ("pretrain", "umm"), plan
    # back to the first run's folds through the chain: nothing differs from what they ran with
    cfg = train.load_config(train.DEFAULT_CONFIG, [*REDUCED])
    ran_with = stage_settings.stage_ran_with(run, "pretrain")[0]
    assert stage_settings.taken_fold_settings(ran_with, stages["pretrain"]["other_folds"]["settings"], cfg) == []
    assert stage_settings.taken_fold_settings(None, stages["pretrain"]["other_folds"]["settings"], cfg) == []


def test_stages_whose_other_folds_were_never_checked_are_not_taken_on(
        reduced_run: tuple[Path, int, str], refolded_b: Path) -> None:
    """Review F3: B took A's pretraining with other folds and stopped after its ingest, before
    the check that its images are A's. Taken on by C, they would be checked against B's ingest
    alone, and A's pretraining kept though B's images differ: C runs them itself."""
    import shutil

    work, _, _ = reduced_run
    unchecked = work / "runs" / "chain-b-unchecked"
    shutil.copytree(refolded_b, unchecked, copy_function=os.link)
    stages = json.loads((unchecked / "stages.json").read_text())
    for stage in ("pretrain", "umm"):
        stages[stage]["other_folds"]["images"] = "not checked yet (after the ingest)"
    (unchecked / "stages.json").unlink()  # a link to B's: B keeps its own
    (unchecked / "stages.json").write_text(json.dumps(stages))
    plan = train.plan_reuse(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "data.fold_seed=1"]), unchecked,
                            work / "runs" / "chain-c2")
    assert plan.stages == ("ingest",) and plan.stopped_at == "pretrain", plan
    assert plan.why[0].startswith(f"its images were never checked in {unchecked}: it was taken there from "
                                  f"{work / 'runs' / 'reduced'} with other folds"), plan
    # with other folds again: not taken for that, and said so (review F4)
    plan = train.plan_reuse(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "data.fold_seed=2"]), unchecked,
                            work / "runs" / "chain-c2")
    assert plan.stages == () and plan.stopped_at == "pretrain" and plan.unfinished(), plan
    assert ("which alone would not stop its pretraining from being taken (the ingest would run here for the new "
            "folds), but its pretrain stage cannot be taken: its images were never checked") in plan.fold_blocked_words()


def test_run_reuse_with_other_folds_from_a_run_without_its_cache_is_refused_before_anything_runs(
        reduced_run: tuple[Path, int, str], refolded_b: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F5: the source's cache array gone, this run's ingest could not be compared with
    the images its pretraining learnt from: refused by the preflight, saying so (it said the
    stages "were made on other images" after the ingest, though nothing was compared)."""
    import shutil

    work, _, _ = reduced_run
    monkeypatch.chdir(work)
    source = work / "runs" / "chain-b-nocache"
    shutil.copytree(refolded_b, source, copy_function=os.link)
    (source / "data" / "cache" / "24px.npy").unlink()  # the link only: B keeps its own
    capsys.readouterr()
    assert train.main([*REDUCED, "data.fold_seed=2", "run.name=from-nocache", f"run.reuse={source}"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (f"pretrain, umm of {source} would be taken with other folds, once this run's ingest is checked to "
            f"hold the images they learnt from, but {source / 'data' / 'cache' / '24px.npy'} is missing there: "
            f"nothing could be compared") in err, err
    assert not (work / "runs" / "from-nocache").exists()


def test_config_yaml_edited_back_to_the_source_runs_folds_is_refused(
        reduced_run: tuple[Path, int, str], refolded_b: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F2: B took A's pretraining with data.fold_seed=1. Its config.yaml edited back to
    A's fold_seed 0 agrees with what the pretraining ran with, but not with B's folds (its
    ingest made them with 1): a resume would fine-tune on seed-1 folds while config.yaml and
    the report say 0, and run.reuse from it would take its ingest as seed 0's. Both refused."""
    work, _, _ = reduced_run
    monkeypatch.chdir(work)
    saved = refolded_b / "config.yaml"
    original = saved.read_text()
    written = train.read_yaml(original)
    assert stage_settings.edited_config_words(refolded_b, written) == ""
    written["data"]["fold_seed"] = 0
    words = stage_settings.edited_config_words(refolded_b, written)
    assert "data.fold_seed is 0 there but this run's ingest made its folds with 1" in words, words
    assert "make config.yaml say what they ran with (data.fold_seed: 1)" in words, words
    saved.write_text(yaml.safe_dump(written))
    try:
        capsys.readouterr()
        assert train.main(["-c", str(saved), "run.out_dir=runs", "run.name=chain-b"]) == 2
        assert "data.fold_seed is 0 there but this run's ingest made its folds with 1" in capsys.readouterr().err
        with pytest.raises(train.ConfigError, match="data.fold_seed is 0 there but this run's ingest"):
            train.plan_reuse(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "finetune.epochs=2"]), refolded_b,
                             work / "runs" / "from-edited")
    finally:
        saved.write_text(original)


@pytest.fixture(scope="module")
def knn_source(reduced_run: tuple[Path, int, str]) -> Path:
    """A run of the reduced set with the k-NN monitor on (fold 0 against the other folds),
    its ingest taken from the reduced run: ``runs/knn``."""
    return _taken_from_reduced(reduced_run[0], "knn", "pretrain.knn_every=1")


def test_a_pretraining_taken_with_other_folds_says_its_k_nn_figures_are_that_runs(
        reduced_run: tuple[Path, int, str], knn_source: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The k-NN monitor scores fold 0 against the other folds: a pretraining taken into a run
    with other folds keeps figures measured on the other run's. It decides nothing (the kept
    weights are the lowest loss's): the same pretraining run with the new folds is the same,
    byte for byte."""
    work, _, _ = reduced_run
    monkeypatch.chdir(work)
    capsys.readouterr()
    knn = ["pretrain.knn_every=1", "data.fold_seed=1"]
    # up to the UMM: the notes are the pretraining's (a fine-tuning would add seconds, no check)
    assert train.main([*REDUCED, *knn, "run.name=knn-refold", f"run.reuse={knn_source}",
                       "run.stages=[ingest,pretrain,umm]"]) == 0
    out = capsys.readouterr().out
    assert (f"their figures knn_top1, knn_start_top1 (the k-NN monitor's: pretrain/metrics.csv, metadata.json, "
            f"the plots) were measured on {knn_source}'s folds, not this run's") in out, out
    assert (f"made with the folds of {knn_source} (data.fold_seed 0 there, 1 here), which it never read but for "
            f"its knn_top1, knn_start_top1 figures, measured on {knn_source}'s folds, not this run's") in out, out
    run = work / "runs" / "knn-refold"
    report = (run / "report.md").read_text()
    assert (f"Their k-NN monitor figures (knn_top1, knn_start_top1: in the pretraining section below, "
            f"`pretrain/metrics.csv`, `pretrain/metadata.json` and the plots) were measured on "
            f"`{knn_source}`'s folds (fold 0 against the others), not this run's") in report, report
    ssl = report.split("### VICReg", 1)[1].split("### UMM", 1)[0]
    assert f"its k-NN figures (knn_top1) were measured on the folds of `{knn_source}`" in ssl, ssl
    # taken on with this run's folds: the note goes with it, naming the run that measured them
    assert train.main([*REDUCED, *knn, "run.name=knn-chain", "run.reuse=runs/knn-refold",
                       "run.stages=[ingest,pretrain]"]) == 0
    chained = json.loads((work / "runs" / "knn-chain" / "stages.json").read_text())
    assert chained["pretrain"]["other_folds"] == json.loads((run / "stages.json").read_text())["pretrain"]["other_folds"]
    assert chained["pretrain"]["other_folds"]["figures_from"] == str(knn_source)
    assert "they stand as taken" not in capsys.readouterr().out  # checked once, in knn-refold
    # the proof: the same pretraining run here, with the new folds and the monitor on them
    assert train.main([*REDUCED, *knn, "run.name=knn-here", "run.stages=[ingest,pretrain]"]) == 0
    here = work / "runs" / "knn-here"
    assert (here / "pretrain" / "backbone.safetensors").read_bytes() == (
        run / "pretrain" / "backbone.safetensors").read_bytes()
    assert "knn_top1" in json.loads((here / "pretrain" / "metadata.json").read_text())["metrics"]


def test_a_pretraining_that_would_choose_by_a_fold_figure_is_not_taken_with_other_folds(
        reduced_run: tuple[Path, int, str], knn_source: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Were a choice of the pretraining (its early stop, the weights it keeps) made on the k-NN
    monitor, its output would depend on the folds: a change of the folds then takes nothing,
    and the refusal says why. No setting does it today (stage_settings.STAGE_CHOICES, checked
    against the stages' monitors in test_stage_settings.py): the table is patched here."""
    work, _, _ = reduced_run
    monkeypatch.chdir(work)
    monkeypatch.setitem(stage_settings.STAGE_CHOICES["pretrain"], "knn_top1",
                        "the pretraining's early stop (pretrain.patience)")
    cfg = train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "pretrain.knn_every=1", "data.fold_seed=1"])
    plan = train.plan_reuse(cfg, knn_source, work / "runs" / "bound")
    assert plan.stages == () and plan.stopped_at == "ingest" and plan.why == ("data.fold_seed: 0 -> 1",), plan
    reason = ("the pretraining's early stop (pretrain.patience) watches knn_top1, the k-NN monitor "
              "(pretrain.knn_every), which scores fold 0's graded images against the other folds': the kept "
              "weights depend on the fold assignment")
    assert plan.fold_bound == reason, plan
    capsys.readouterr()
    assert train.main([*REDUCED, "pretrain.knn_every=1", "data.fold_seed=1", "run.name=bound",
                       f"run.reuse={knn_source}"]) == 2
    err = capsys.readouterr().err
    assert "nothing in it can be taken into a new run: its ingest stage differs (data.fold_seed: 0 -> 1)" in err, err
    assert f"the folds alone would not stop the pretraining from being taken, but here {reason}" in " ".join(
        err.split()), err
    assert not (work / "runs" / "bound").exists()
    # without the k-NN monitor the figure is never computed: nothing reads the folds
    plan = train.plan_reuse(train.load_config(train.DEFAULT_CONFIG, [*REDUCED, "data.fold_seed=1"]),
                            work / "runs" / "reduced", work / "runs" / "bound")
    assert plan.stages == ("pretrain", "umm"), plan


def _torchrun_train(cwd: Path, overrides: list[str], timeout: int,
                    module: str = "drac_ssl.train", path: Sequence[Path] = (),
                    log_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node=2 -m drac_ssl.train OVERRIDES`` in ``cwd`` (gloo
    on the CPU), its output captured; skipped where torch has no torch.distributed. ``module``
    and ``path`` (more folders for PYTHONPATH): another module to run, one that wraps it.
    ``log_dir``: each process's stdout and stderr go to its own files there instead
    (torchrun's ``--log-dir --redirects 3``; :func:`_rank_output`), not interleaved with the
    other's in the captured output, which then holds torchrun's own lines alone."""
    if not torch.distributed.is_available():
        pytest.skip("no torch.distributed")
    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=os.pathsep.join(str(p) for p in (repo, *path)), NO_ALBUMENTATIONS_UPDATE="1",
               OMP_NUM_THREADS="1")
    logs = [] if log_dir is None else ["--log-dir", str(log_dir), "--redirects", "3"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               *logs, "-m", module, *overrides]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _rank_output(log_dir: Path, rank: int) -> str:
    """What process ``rank`` of a :func:`_torchrun_train` run with ``log_dir`` wrote, its stdout
    then its stderr (torchrun's ``LOG_DIR/<run id>/attempt_0/<rank>/stdout.log``, ``stderr.log``)."""
    found = {p.name: p for p in log_dir.glob(f"*/attempt_0/{rank}/std*.log")}
    assert set(found) == {"stdout.log", "stderr.log"}, sorted(log_dir.rglob("*"))
    return found["stdout.log"].read_text() + found["stderr.log"].read_text()


@pytest.mark.usefixtures("phantom_ready")
def test_torchrun_with_two_processes_runs_each_stage_once_and_both_exit_0(tmp_path: Path) -> None:
    """``torchrun --nproc_per_node=2 -m drac_ssl.train`` (what drac_ssl.distributed tells users;
    gloo on the CPU here): pretraining runs on both processes, everything else on process 0
    while the other waits or has left; one run folder, one config, one report."""
    # 18 images, 9 per process: batches of 4, the run as test_no_argument_job_... reduces it;
    # each process's output in its own files (on one pipe two processes' lines can interleave)
    logs = tmp_path / "logs"
    proc = _torchrun_train(tmp_path, [*REDUCED, "run.name=ddp", "run.threads=1"], timeout=900, log_dir=logs)
    first, second = _rank_output(logs, 0), _rank_output(logs, 1)
    out = proc.stdout + proc.stderr + first + second
    assert proc.returncode == 0, out[-4000:]  # torchrun: 0 only when every process exited 0
    run_dir = tmp_path / "runs" / "ddp"
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ddp"]
    stages = json.loads((run_dir / "stages.json").read_text())
    assert list(stages) == list(train.PIPELINE) and all(s["status"] == "done" for s in stages.values())
    for name in train.PIPELINE:  # each stage started (and finished) once, said by process 0
        assert out.count(f"[train] stage {name}: starting") == 1, name
        assert first.count(f"[train] stage {name}: starting") == 1, name
        assert out.count(f"[train] stage {name}: done") == 1, name
        assert first.count(f"[train] stage {name}: done") == 1, name
    assert out.count("[train] run folder:") == 1 and out.count("[train] report:") == 1
    assert first.count("[train] run folder:") == 1 and first.count("[train] report:") == 1
    console = (run_dir / "console.log").read_text()  # process 0's lines alone, once
    assert console.count("==== ") == 1 and console.count("[train] stage pretrain: starting") == 1
    assert console.count("[train] report:") == 1 and "\r" not in console
    assert len((run_dir / "invocations.jsonl").read_text().splitlines()) == 1
    # the other process pretrained with process 0, then left saying so
    assert "[train] process 1 of 2: pretraining done" in second and "[train] process 1 of 2" not in first
    assert (run_dir / "pretrain" / "vicreg_model.safetensors").is_file()
    for rel in ("config.yaml", "report.md", "umm/backbone.safetensors", "export/submission.csv"):
        assert (run_dir / rel).is_file(), rel


def test_torchrun_process_0_refused_before_pretraining_the_others_leave_too(tmp_path: Path) -> None:
    """The preflight refuses the run in process 0: the other process, waiting for its word,
    leaves with a line naming it (no hang until the process group's timeout), nothing is written."""
    # each process's output in its own files (on one pipe two processes' lines can interleave)
    logs = tmp_path / "logs"
    proc = _torchrun_train(tmp_path, ["run.device=cpu", "run.name=refused", "pretrain.epochs=0"], timeout=300,
                           log_dir=logs)
    first, second = _rank_output(logs, 0), _rank_output(logs, 1)
    out = proc.stdout + proc.stderr + first + second
    assert proc.returncode != 0, out[-4000:]
    refusal = "pretrain.epochs=0 (command line 'pretrain.epochs=0'): must be > 0"
    assert out.count(refusal) == 1 and first.count(refusal) == 1, out[-4000:]
    assert "[train] process 1 of 2: process 0 stopped before the pretraining (PreflightError" in second, out[-4000:]
    assert not (tmp_path / "runs").exists()


NAN_TRAIN = """
import runpy

from drac_ssl.losses.vicreg import VICRegLoss

real = VICRegLoss.forward
VICRegLoss.forward = lambda self, a, b: real(self, a, b)._replace(loss=real(self, a, b).loss * float("nan"))
runpy.run_module("drac_ssl.train", run_name="__main__", alter_sys=True)
"""


@pytest.mark.usefixtures("phantom_ready")
def test_torchrun_a_non_finite_pretraining_loss_is_said_once_by_process_0(tmp_path: Path) -> None:
    """A review: a non-finite pretraining loss under torchrun printed the full error: block
    once per process, process 1 saying a checkpoint was kept (it keeps none), and torchrun
    killed process 0 (not the root cause) as process 1 left first. Process 1 now waits for
    process 0's records, then leaves with one short line; process 0 says the error once."""
    (tmp_path / "wrap").mkdir()
    (tmp_path / "wrap" / "nan_train.py").write_text(NAN_TRAIN)
    # each process's output in its own files: on one pipe the two processes' lines were once
    # interleaved within a line, and this test failed on a run that was right
    logs = tmp_path / "logs"
    proc = _torchrun_train(tmp_path, [*REDUCED, "run.name=nan", "run.threads=1", "run.stages=[ingest,pretrain]"],
                           timeout=300, module="nan_train", path=[tmp_path / "wrap"], log_dir=logs)
    first, second = _rank_output(logs, 0), _rank_output(logs, 1)
    out = proc.stdout + proc.stderr + first + second
    assert proc.returncode != 0, out[-4000:]
    error = "error: [pretrain] epoch 1: the VICReg loss became non-finite"
    assert first.count(error) == 1 and error not in second + proc.stdout + proc.stderr, out[-4000:]
    # said once, and true: the loss went NaN in epoch 1, before any checkpoint
    assert out.count("No checkpoint was written yet") == 1 and "is kept" not in out, out[-4000:]
    assert ("[train] process 1 of 2: the pretraining stopped on a non-finite value; process 0 says "
            "why\n") in second and "[train] process 1 of 2" not in first, out[-4000:]
    assert not re.search(r'File "[^"]*drac_ssl', out), out[-4000:]  # torchrun's own traceback alone
    # (process 0 leaves first and the others wait up to train.ORDERED_EXIT_WAIT_S, so torchrun
    # usually names process 0 the root cause; a timing, not asserted: a loaded CI machine can
    # delay torchrun's monitor past the wait)
    run_dir = tmp_path / "runs" / "nan"
    # process 0 finished its records before process 1 left: the stage failed, the invocation ended
    assert json.loads((run_dir / "stages.json").read_text())["pretrain"]["status"] == "failed"
    ended = json.loads((run_dir / "invocations.jsonl").read_text().splitlines()[-1])["ended"]
    assert ended["outcome"] == "failed" and ended["error"].startswith("NonFiniteLossError: "), ended
    assert "error: [pretrain] epoch 1" in (run_dir / "console.log").read_text()


def test_a_changed_generic_run_is_not_sent_to_run_reuse_when_nothing_could_be_taken(tmp_path: Path) -> None:
    """A trial changed pretrain.epochs of a pretraining-only MNIST run: the refusal suggested
    run.reuse, which then failed with "nothing can be taken from it: its ingest stage is not
    finished" (the generic datasets have no ingest). Only stages finished in the folder, in
    pipeline order, are offered; otherwise the fix is a new run.name."""
    from drac_ssl.config import save_config

    mnist = train.DEFAULT_CONFIG.parent / "mnist.yaml"
    run_dir = tmp_path / "runs" / "mnist"
    (run_dir / "pretrain").mkdir(parents=True)
    save_config(train.load_config(mnist, [f"data.root={tmp_path}"]), run_dir / "config.yaml")
    (run_dir / "stages.json").write_text(json.dumps({"pretrain": {"status": "done"}}))
    problem = train._existing_run_problem(
        train.load_config(mnist, [f"data.root={tmp_path}", "pretrain.epochs=3"]), run_dir)
    assert "pretrain.epochs: 50 -> 3" in problem and "run.reuse" not in problem, problem
    assert "run.name=mnist-2" in problem and "nothing in it can be taken" in problem, problem
    # a DRAC-style run whose ingest finished (its folder there) is still offered it
    (run_dir / "data").mkdir()
    (run_dir / "stages.json").write_text(json.dumps({"ingest": {"status": "done"}, "pretrain": {"status": "done"}}))
    problem = train._existing_run_problem(
        train.load_config(mnist, [f"data.root={tmp_path}", "pretrain.epochs=3"]), run_dir)
    assert f"run.name=mnist-2 run.reuse={run_dir}" in problem and "finished ingest stage(s)" in problem, problem


def test_the_new_run_fix_replaces_a_run_name_typed_on_the_command_line(tmp_path: Path) -> None:
    """A trial: the refusal of a changed run folder said "add run.name=rm-tiny-2
    run.reuse=RUN to your command"; done to a command that had typed run.name=rm-tiny, the
    preflight warned run.name was given twice. A key typed on the command line is to be
    replaced ("replace run.name=rm-tiny with run.name=rm-tiny-2 and add run.reuse=RUN"); one
    not typed is added, as before."""
    from drac_ssl import preflight
    from drac_ssl.config import save_config

    out = tmp_path / "runs"
    run_dir = out / "rm-tiny"
    (run_dir / "data").mkdir(parents=True)
    save_config(train.load_config(train.DEFAULT_CONFIG, [f"run.out_dir={out}", "run.name=rm-tiny"]),
                run_dir / "config.yaml")
    (run_dir / "data" / "manifest.csv").write_text("id,path,grade,split,fold,patient\n")
    (run_dir / "stages.json").write_text(json.dumps({"ingest": {"status": "done"}, "pretrain": {"status": "done"}}))
    (run_dir / "pretrain").mkdir()

    def problem(*typed: str) -> str:
        cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, [f"run.out_dir={out}", *typed])
        return train._existing_run_problem(cfg, run_dir, sources)

    said = problem("run.name=rm-tiny", "pretrain.epochs=4")
    assert "pretrain.epochs: " in said and "takes its finished ingest stage(s)" in said, said
    assert said.endswith(f": replace run.name=rm-tiny with run.name=rm-tiny-2 and add run.reuse={run_dir} "
                         f"in your command"), said
    assert "add run.name=" not in said, said
    # run.reuse typed too (another run's): both replaced
    said = problem("run.name=rm-tiny", "run.reuse=runs/old", "pretrain.epochs=4")
    assert said.endswith(f": replace run.name=rm-tiny with run.name=rm-tiny-2 and replace run.reuse=runs/old "
                         f"with run.reuse={run_dir} in your command"), said
    # nothing typed: added, as before
    cfg = train.load_config(train.DEFAULT_CONFIG, [f"run.out_dir={out}", "run.name=rm-tiny", "pretrain.epochs=4"])
    said = train._existing_run_problem(cfg, run_dir)
    assert said.endswith(f": add run.name=rm-tiny-2 run.reuse={run_dir} to your command"), said
    # nothing to take: the new name alone, replaced where it was typed
    said = problem("run.name=rm-tiny", "data.phantom_seed=5")
    assert "nothing in it can be taken into a new run" in said, said
    assert "start the new run beside it: replace run.name=rm-tiny with run.name=rm-tiny-2 in your command)" in said, said


def test_a_stage_run_on_other_code_than_the_runs_start_is_said_and_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The stages import their modules when they start: a checkout that changes mid-run (a merge)
    runs the later stages on other code. Each stage records the commit it ran on; a change is
    warned about on the console and said in report.md."""
    from drac_ssl import runtime
    from drac_ssl.report import write_report

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "environment.json").write_text(json.dumps({"git_commit": "54e10d4", "git_dirty": False}))
    versions = iter([{"git_commit": "54e10d4", "git_dirty": False},
                     {"git_commit": "17e12e1", "git_dirty": True},
                     {"git_commit": "17e12e1", "git_dirty": False}])  # the last: report.md's writer
    monkeypatch.setattr(runtime, "code_version", lambda: next(versions))
    for name in ("ingest", "pretrain"):
        monkeypatch.setitem(train.STAGES, name, lambda cfg, run_dir: {})
    cfg = train.load_config(train.DEFAULT_CONFIG, ["run.stages=[ingest,pretrain]", "run.device=cpu"])
    monkeypatch.setattr(train.preflight, "after_ingest", lambda *a: [])
    train._run_stages(cfg, run_dir, None)
    stages = json.loads((run_dir / "stages.json").read_text())
    assert stages["ingest"]["code"] == {"git_commit": "54e10d4", "git_dirty": False}
    assert stages["pretrain"]["code"] == {"git_commit": "17e12e1", "git_dirty": True}
    out = capsys.readouterr().out
    assert "warning: stage pretrain runs on commit 17e12e1 (dirty)" in out and "54e10d4" in out
    assert "warning: stage ingest" not in out
    report = write_report(run_dir).read_text()
    assert "The run mixed code versions" in report and "pretrain: 17e12e1 (dirty)" in report
    assert "at commit 17e12e1 on" in report and "the run was made at commit 54e10d4, 17e12e1 (dirty)" in report


FP_A, FP_B = "a" * 64, "b" * 64


def _stages_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, made: dict, now: dict) -> Path:
    """A run made by ``made`` (its environment.json) whose ingest and pretraining (faked) run
    on ``now`` (code_version)."""
    from drac_ssl import runtime

    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    (run_dir / "stages.json").unlink(missing_ok=True)
    (run_dir / "environment.json").write_text(json.dumps(made))
    monkeypatch.setattr(runtime, "code_version", lambda: dict(now))
    for name in ("ingest", "pretrain"):
        monkeypatch.setitem(train.STAGES, name, lambda cfg, run_dir: {})
    monkeypatch.setattr(train.preflight, "after_ingest", lambda *a: [])
    train._run_stages(train.load_config(train.DEFAULT_CONFIG, ["run.stages=[ingest,pretrain]",
                                                                "run.device=cpu"]), run_dir, None)
    return run_dir


def test_code_without_git_is_told_apart_by_its_fingerprint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An upgrade review: runs from a source archive (git archive, a GitHub ZIP) recorded
    git_commit unknown and stages.json no code, so an old run resumed by other code from an
    archive gave no mixed-code warning; and a run whose code was unknown was said to be made
    on "the unknown": "the checkout changed since". The fingerprint names such code."""
    unknown_old = {"git_commit": "unknown", "git_dirty": None, "code_source": "untracked source tree"}
    # an old run (no fingerprint then), resumed from an archive: the stage's code is recorded
    run_dir = _stages_on(tmp_path, monkeypatch, unknown_old, {"code_fingerprint": FP_A})
    stages = json.loads((run_dir / "stages.json").read_text())
    assert stages["pretrain"]["code"] == {"code_fingerprint": FP_A}
    assert "warning: stage pretrain" in capsys.readouterr().out
    # made from an archive by this code: the same fingerprint is the same code, another is not
    archive = {**unknown_old, "code_fingerprint": FP_A}
    _stages_on(tmp_path, monkeypatch, archive, {"code_fingerprint": FP_A})
    assert "warning" not in capsys.readouterr().out
    run_dir = _stages_on(tmp_path, monkeypatch, archive, {"code_fingerprint": FP_B})
    out = capsys.readouterr().out
    assert (f"warning: stage pretrain runs on code fingerprint {FP_B[:12]}, not on the code fingerprint "
            f"{FP_A[:12]} the run was made with") in out, out
    from drac_ssl.report import mixed_code_words

    assert f"it was made at code fingerprint {FP_A[:12]}" in (mixed_code_words(run_dir) or "")
    # made in a checkout, resumed from an archive of the same code: no commit here, the same fingerprint
    _stages_on(tmp_path, monkeypatch, {"git_commit": "54e10d4", "git_dirty": False, "code_fingerprint": FP_A},
               {"code_fingerprint": FP_A})
    assert "warning" not in capsys.readouterr().out


def test_the_fingerprint_decides_which_code_is_other_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An upgrade review (F2): the fingerprint was read only when both sides were dirty or had
    no commit, so a commit of docs only, or a tree dirty with a README edit, warned "mixed code
    versions", while an untracked drac_ssl/zz.py (git's dirty flag leaves it out) did not. When
    both records carry a fingerprint it decides, and the warning says what differs."""
    from drac_ssl import runtime
    from drac_ssl.report import mixed_code_words

    tree = tmp_path / "tree"
    (tree / "drac_ssl").mkdir(parents=True)
    (tree / "drac_ssl" / "model.py").write_text("y = 2\n")
    (tree / "README.md").write_text("hi\n")
    made = {"git_commit": "54e10d4", "git_dirty": False, "code_fingerprint": runtime.source_fingerprint(tree)}
    (tree / "README.md").write_text("hi, with a fix of the docs\n")
    docs_only = runtime.source_fingerprint(tree)
    for now in ({"git_commit": "17e12e1", "git_dirty": False, "code_fingerprint": docs_only},  # committed
                {"git_commit": "54e10d4", "git_dirty": True, "code_fingerprint": docs_only}):  # uncommitted
        run_dir = _stages_on(tmp_path, monkeypatch, made, now)
        assert "warning" not in capsys.readouterr().out
        assert mixed_code_words(run_dir) is None
    (tree / "drac_ssl" / "zz.py").write_text("z = 1\n")  # untracked: git's dirty flag stays false
    now = {"git_commit": "54e10d4", "git_dirty": False, "code_fingerprint": runtime.source_fingerprint(tree)}
    run_dir = _stages_on(tmp_path, monkeypatch, made, now)
    out = capsys.readouterr().out
    fa, fb = made["code_fingerprint"][:12], now["code_fingerprint"][:12]
    assert (f"warning: stage pretrain runs on commit 54e10d4, fingerprint {fb}, not on the commit 54e10d4, "
            f"fingerprint {fa} the run was made with (environment.json): their Python source differs") in out, out
    said = mixed_code_words(run_dir) or ""
    assert f"it was made at commit 54e10d4, fingerprint {fa}" in said, said
    assert f"pretrain: 54e10d4, fingerprint {fb} (their Python source differs" in said, said
    # records made before the fingerprint: the commit and dirty flag, and the warning says which
    _stages_on(tmp_path, monkeypatch, {"git_commit": "54e10d4", "git_dirty": False},
               {"git_commit": "54e10d4", "git_dirty": True})
    assert "uncommitted changes on one side only" in capsys.readouterr().out


def test_a_run_made_by_code_of_unknown_version_is_said_to_be_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An upgrade review: resuming an old run made from a source tree without git printed "stage
    umm runs on code d1d7a262, not on the unknown the run was made with ...: the checkout
    changed since", as if "unknown" were a commit."""
    unknown_old = {"git_commit": "unknown", "git_dirty": None, "code_source": "untracked source tree"}
    run_dir = _stages_on(tmp_path, monkeypatch, unknown_old, {"git_commit": "d1d7a26", "git_dirty": False,
                                                              "code_fingerprint": FP_A})
    out = capsys.readouterr().out
    assert ("warning: stage pretrain: this run was made by code of unknown version (not a git checkout, "
            "no fingerprint recorded), see environment.json; this stage runs on commit d1d7a26: the run "
            "may mix code versions") in out, out
    assert "the unknown" not in out and "checkout changed" not in out
    from drac_ssl.report import mixed_code_words

    assert (mixed_code_words(run_dir) or "").startswith("**The run may mix code versions:** it was made by "
                                                        "code of unknown version")
    _stages_on(tmp_path, monkeypatch, unknown_old, {"code_fingerprint": FP_A})  # resumed from an archive
    assert f"this stage runs on code fingerprint {FP_A[:12]}: the run may mix" in capsys.readouterr().out


def test_code_version_is_the_commit_and_dirty_flag_of_one_git_call() -> None:
    from drac_ssl import runtime

    version = runtime.code_version()
    assert version is not None  # the tests run from a git checkout
    assert version["git_commit"] == runtime.git_commit() and version["git_dirty"] == runtime.git_dirty()


def test_the_console_log_keeps_the_lines_not_the_bars_and_gives_the_streams_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import runtime

    before = sys.stdout, sys.stderr
    log = tmp_path / "console.log"
    log.write_text("==== earlier ====\nold line\n")
    with runtime.console_log(log, "==== now ===="):
        print("[train] stage umm: starting")
        sys.stderr.write("\rumm 1/3:  50%|#####     | 1/2")  # a tqdm bar redrawn in place
        sys.stderr.write("\r                              \r")
        sys.stderr.write("\rphantom images: 100%|##########| 2/2")  # a bar that stays (leave=True) ...
        sys.stderr.write("\n")  # ... ends its line on the terminal: no blank line in the log
        sys.stderr.write("\rumm 2/3:  50%|#####     | 1/2")
        sys.stderr.write("\r                              \r")  # a bar cleared (leave=False) ...
        print(file=sys.stderr)  # ... then a blank line meant as one: kept
        print("[preflight] warning: something", file=sys.stderr)
        assert sys.stderr.isatty() == before[1].isatty()  # tqdm still sees what the stream is
    assert (sys.stdout, sys.stderr) == before
    assert log.read_text() == ("==== earlier ====\nold line\n==== now ====\n[train] stage umm: starting\n"
                               "\n[preflight] warning: something\n")
    captured = capsys.readouterr()
    assert captured.out == "[train] stage umm: starting\n" and "umm 1/3:  50%" in captured.err
    print("after")  # no longer logged
    assert "after" not in log.read_text()
    # a review: how a run ended was not in the log (main prints it after the block), writelines
    # bypassed it, and a closed stdout (None) crashed the run
    for exc, words in ((ValueError("ingest found 3 problem(s)"), "error: ingest found 3 problem(s)\n"),
                       (KeyboardInterrupt(), "[train] interrupted: rerun the same command to resume "
                                             "from the last checkpoint\n"),
                       (runtime.StageInterrupted("epoch 1 of 3 saved", "resume from epoch 2", "pretrain"),
                        "[train] interrupted in pretrain (epoch 1 of 3 saved); rerun the same "
                        "command to resume from epoch 2\n"),
                       (RuntimeError("a bug"), "RuntimeError: a bug\n")):
        with pytest.raises(type(exc)), runtime.console_log(log, "==== end ====", label="[train]"):
            sys.stdout.writelines(["via writelines\n"])
            raise exc
        assert log.read_text().endswith(words) and "via writelines\n" in log.read_text()
        assert (sys.stdout, sys.stderr) == before
    assert "Traceback (most recent call last)" in log.read_text()  # the unexpected error's traceback
    sys.stdout = None
    try:
        with runtime.console_log(log, "==== closed stdout ===="):
            print("lost")  # print() to a None stdout writes nothing, as without the log
            assert sys.stdout is None
    finally:
        sys.stdout = before[0]
    assert log.read_text().endswith("==== closed stdout ====\n")


def test_short_commits_of_different_lengths_are_the_same_code() -> None:
    from drac_ssl.runtime import same_code

    assert same_code({"git_commit": "17e12e1"}, {"git_commit": "17e12e1a", "git_dirty": False})
    assert not same_code({"git_commit": "17e12e1"}, {"git_commit": "17e12e1", "git_dirty": True})
    assert not same_code({"git_commit": "17e12e1"}, {"git_commit": "54e10d4"})
    # two different edits of one commit: their fingerprints tell them apart
    dirty = {"git_commit": "17e12e1", "git_dirty": True}
    assert not same_code({**dirty, "code_fingerprint": FP_A}, {**dirty, "code_fingerprint": FP_B})
    assert same_code({**dirty, "code_fingerprint": FP_A}, dirty)  # one side recorded none: the commit
    # "unknown" is no commit: the fingerprints decide, and without them nothing is known
    unknown = {"git_commit": "unknown", "git_dirty": None}
    assert not same_code(unknown, {"git_commit": "17e12e1", "git_dirty": False})
    assert not same_code({**unknown, "code_fingerprint": FP_A}, {"code_fingerprint": FP_B})
    assert same_code({**unknown, "code_fingerprint": FP_A}, {"git_commit": "17e12e1", "code_fingerprint": FP_A})


def test_run_reuse_of_a_stage_whose_output_is_gone_names_the_file_and_how_to_redo_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A review deleted pretrain/backbone.safetensors from a finished run and reused it: the
    refusal named the NEW run's path, said "pretrain is not in run.stages" (it was) and
    offered run.stages=[pretrain,finetune,export] (dropping UMM). Now it names the file in
    the reused run and the fixes: restore it, or delete the incomplete stage folder, after
    which run.reuse takes only the stages before it."""
    from fake_ingest import make_finished_run

    source = make_finished_run(tmp_path / "runs" / "base")
    backbone = source / "pretrain" / "backbone.safetensors"
    backbone.unlink()
    monkeypatch.chdir(tmp_path)
    code = train.main(["-c", str(source / "config.yaml"), "run.name=new", f"run.reuse={source}"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert (f"the finished pretrain stage of {source} would be taken, but its output there is "
            f"incomplete: {backbone} is missing") in err
    assert f"delete {source / 'pretrain'} (the incomplete output) and rerun this command" in err
    assert "is not in run.stages" not in err and "runs/new/pretrain" not in err
    assert not (tmp_path / "runs" / "new").exists()  # nothing taken stays behind
    # the fix followed: the stage's folder deleted, run.reuse takes the stages before it only
    import shutil

    shutil.rmtree(source / "pretrain")
    cfg = train.load_config(source / "config.yaml", ["run.name=new"])
    plan = train.plan_reuse(cfg, source, tmp_path / "runs" / "new")
    assert plan.stages == ("ingest",) and plan.stopped_at == "pretrain", plan
    assert f"its output folder {source / 'pretrain'} is gone" in plan.describe()


def test_run_reuse_refuses_a_source_whose_config_yaml_was_edited_after_its_stages_ran(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """run.reuse compared the new settings with the source's config.yaml as it is now: edited
    after the source ran (pretrain.lr 0.015 -> 0.5), a new run with pretrain.lr=0.5 took the
    pretraining made with 0.015 as its own. The source's edit is refused in the training's
    words (what the stages ran with, and the fix), and nothing is taken."""
    from fake_ingest import make_edited_source

    saved = make_edited_source(tmp_path / "runs" / "base")
    source = saved.parent
    ran = json.loads((source / "pretrain" / "metadata.json").read_text())["config"]
    monkeypatch.chdir(tmp_path)
    cfg = train.load_config(saved, ["run.name=new"])
    with pytest.raises(train.ConfigError) as refused:
        train.plan_reuse(cfg, source, tmp_path / "runs" / "new")
    said = str(refused.value)
    assert f"{saved} does not say what the stages ran with" in said, said
    assert f"pretrain.lr is 0.5 there but the pretraining ran with {ran['pretrain']['lr']}" in said, said
    assert "fix: make config.yaml say what they ran with" in said, said
    code = train.main(["-c", str(saved), "run.name=new", f"run.reuse={source}"])
    err = capsys.readouterr().err
    assert code == 2 and f"{saved} does not say what the stages ran with" in err, err
    assert not (tmp_path / "runs" / "new" / "pretrain").exists()


def test_a_changed_and_invalid_value_in_a_run_folder_is_one_listing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A finished run rerun with finetune.epochs=0 was told only that its configuration
    differs; the fix it offered (run.name=NEW run.reuse=...) then hit "must be > 0". Both are
    said at once now, the finished stages' settings included."""
    from fake_ingest import make_finished_run

    run_dir = make_finished_run(tmp_path / "runs" / "done")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train, "_REFUSED", False)
    code = train.main(["-c", str(run_dir / "config.yaml"), "finetune.epochs=0"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "problem(s) found before any stage ran" in err and "different configuration" in err
    assert re.search(r"finetune\.epochs: \d+ -> 0", err), err
    assert "finetune.epochs=0 (command line 'finetune.epochs=0'): must be > 0" in err, err
    assert err.count("must be > 0") == 1  # not again from the checks of the stages left to run


def test_a_rerun_of_a_finished_run_keeps_its_config_yaml(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resume with nothing left to run rewrote config.yaml (the newer code's keys, the new
    out_dir/name): the run's resolved configuration was lost. A no-op rerun keeps it."""
    from fake_ingest import make_finished_run

    run_dir = make_finished_run(tmp_path / "runs" / "done")
    saved = run_dir / "config.yaml"
    saved.write_text(saved.read_text() + "# as the run was made\n")
    before = saved.read_text()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("drac_ssl.report.write_report", lambda run: run / "report.md")  # no figures of empty files
    assert train.main(["-c", str(saved)]) == 0
    assert saved.read_text() == before


def test_a_refusal_by_the_preflight_exits_without_the_interpreters_teardown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A review saw the command sit ~50 s after printing the preflight's error: the
    interpreter tore down the ~3,800 modules the checks had imported. A refusal now leaves at
    once with exit code 2; any other exit goes through sys.exit as before."""
    class Left(Exception):
        pass

    def fake_exit(code: int) -> None:
        raise Left(code)

    monkeypatch.setattr(os, "_exit", fake_exit)
    monkeypatch.setattr(train, "_REFUSED", False)  # restored to this after the test
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.chdir(tmp_path)
    code = train.main(["-c", str(tmp_path / "missing.yaml")])  # refused at once, nothing else checked
    assert code == 2 and "the configuration cannot run" in capsys.readouterr().err
    with pytest.raises(Left, match="2"):
        train.exit_with(code)
    monkeypatch.setattr(train, "_REFUSED", False)  # e.g. a stage's error: the usual exit
    with pytest.raises(SystemExit):
        train.exit_with(2)


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout.strip())


def test_the_refusal_names_the_lock_holder_and_never_a_killed_invocations_pid(tmp_path: Path) -> None:
    """A review: the refusal named the run's last unended training record, which may be a run
    killed long ago (a dead or reused pid offered for killing), and a python -m drac_ssl.umm
    holding the folder was called a training. The holder now writes itself into the lock file."""
    import json as json_module
    import platform

    from drac_ssl.io import try_lock
    from drac_ssl.runtime import RUN_LOCK, RunBusy, hold_run

    dead = _dead_pid()
    (tmp_path / "invocations.jsonl").write_text(json_module.dumps(
        {"tool": "drac_ssl.train", "pid": dead, "host": platform.node(), "date_utc": "2026-12-01T10:00:00+00:00"}) + "\n")
    with hold_run(tmp_path, tool="drac_ssl.umm"):  # a UMM holds it
        with pytest.raises(RunBusy) as refused:
            with hold_run(tmp_path):
                pass
    said = str(refused.value)
    assert f"python -m drac_ssl.umm, process {os.getpid()} on {platform.node()}" in said
    assert str(dead) not in said and f"kill {os.getpid()}" in said
    # a holder that wrote no record (a drac_ssl from before it did): not named, the dead pid neither
    (tmp_path / RUN_LOCK).write_text("")
    fd = os.open(tmp_path / RUN_LOCK, os.O_RDWR)
    try:
        assert try_lock(fd)
        with pytest.raises(RunBusy) as refused:
            with hold_run(tmp_path, tool="drac_ssl.umm"):
                pass
    finally:
        os.close(fd)
    said = str(refused.value)
    assert "another process holds its lock" in said and str(dead) not in said
    assert "fix: wait for it to finish, or stop it" in said and "--run-dir OTHER" in said  # the umm's fix


def test_a_killed_invocation_is_marked_killed_at_the_next_start(tmp_path: Path) -> None:
    """A kill -9, the OOM killer or a power loss left an invocation without an end in
    invocations.jsonl for ever (read as "still running, or killed"). The next command to hold
    the folder marks it "killed" when its process is certainly gone (this host, a dead pid);
    one of another host, a live pid and the lines that ended are left as they are."""
    import platform

    from drac_ssl import compare
    from drac_ssl.io import unended_invocation
    from drac_ssl.runtime import hold_run

    dead = _dead_pid()
    here = platform.node()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        records = [
            {"tool": "drac_ssl.train", "pid": dead, "host": here, "date_utc": "2026-12-01T10:00:00+00:00"},
            {"tool": "drac_ssl.report", "pid": dead, "host": here, "date_utc": "2026-12-01T10:05:00+00:00"},
            {"tool": "drac_ssl.train", "pid": dead, "host": "elsewhere", "date_utc": "2026-12-01T11:00:00+00:00"},
            {"tool": "drac_ssl.export", "pid": live.pid, "host": here, "date_utc": "2026-12-01T11:30:00+00:00"},
            {"tool": "drac_ssl.train", "pid": dead, "host": here, "date_utc": "2026-12-01T12:00:00+00:00",
             "ended": {"outcome": "finished", "utc": "2026-12-01T12:01:00+00:00", "seconds": 60.0}},
            {"tool": "drac_ssl.train", "pid": dead, "host": here, "date_utc": "2026-12-01T13:00:00+00:00"},
        ]
        raw = [json.dumps(r) for r in records]
        raw.insert(3, '{"tool": "drac_ssl.train", "pid": 1')  # a line cut by a crash: kept as it is
        log = tmp_path / "invocations.jsonl"
        log.write_text("\n".join(raw) + "\n")
        assert compare._still_running(log) == "" and unended_invocation(log) is not None
        with hold_run(tmp_path) as warnings:
            assert warnings == []  # the last training's process is gone: nothing to warn of
        lines = log.read_text().splitlines()
        assert len(lines) == len(raw) and lines[3] == raw[3]
        for at in (0, 1, 6):  # this host's, dead, without an end
            ended = json.loads(lines[at])["ended"]
            assert ended["outcome"] == "killed", ended
            assert ended["note"].startswith("found without an end at ") and \
                f"by python -m drac_ssl.train (process {os.getpid()})" in ended["note"] and "the process was gone" in ended["note"]
            assert "utc" not in ended and "seconds" not in ended  # when it ended is not known
            assert json.loads(lines[at]) == {**json.loads(raw[at]), "ended": ended}
        for at in (2, 4, 5):  # another host's, a live pid's, an ended one: untouched
            assert lines[at] == raw[at], at
        assert unended_invocation(log) is None and compare._still_running(log) == ""
        before = log.read_text()
        with hold_run(tmp_path):  # marked once: the next start changes nothing
            pass
        assert log.read_text() == before
    finally:
        live.kill()
        live.wait()


@pytest.mark.usefixtures("phantom_ready")
def test_a_second_copy_of_a_running_run_is_refused_and_stale_records_do_not_block(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Two copies of the same command both trained every stage into one folder (console.log
    interleaved, stages.json whoever wrote last). The second is refused while the first holds
    the run (its lock); a record of a dead pid or of another host does not block."""
    import platform

    args = [*REDUCED, "run.name=twice", "run.stages=[ingest,pretrain]"]
    second: list[int] = []

    def pretrain(cfg, run_dir):  # type: ignore[no-untyped-def]
        if not second:  # the same command, started once while this one runs
            second.append(-1)
            # train.main's own work without its process slot: this call stands for a second
            # process (train.main in the same process is refused earlier, TrainingInProgress)
            second[0] = train._command(args)
        return {}

    monkeypatch.setitem(train.STAGES, "pretrain", pretrain)
    monkeypatch.chdir(tmp_path)
    assert train.main(args) == 0
    err = capsys.readouterr().err
    assert second == [75], err  # not 2 (a bad setting): a cluster job requeues on it (EX_TEMPFAIL)
    assert f"process {os.getpid()} on {platform.node()}" in err and "already running" in err
    assert f"kill {os.getpid()}" in err and "run.name=" in err
    run_dir = tmp_path / "runs" / "twice"
    lines = (run_dir / "invocations.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["ended"]["outcome"] == "finished"

    # a killed invocation (dead pid, no end) on this host, then one on another host: not refused
    record = {**json.loads(lines[0]), "pid": _dead_pid()}
    record.pop("ended")
    with open(run_dir / "invocations.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    monkeypatch.setitem(train.STAGES, "pretrain", lambda cfg, run_dir: {})
    (run_dir / "stages.json").unlink()  # a stage runs again
    assert train.main([*REDUCED, "run.name=twice", "run.stages=[ingest]"]) == 0
    assert "already running" not in capsys.readouterr().err
    with open(run_dir / "invocations.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({**record, "pid": os.getpid(), "host": "elsewhere"}) + "\n")
    assert train.main([*REDUCED, "run.name=twice", "run.stages=[ingest]"]) == 0
    out = capsys.readouterr().out
    assert "warning" in out and "elsewhere" in out and f"process {os.getpid()}" in out


@pytest.mark.usefixtures("phantom_ready")
def test_temporary_files_of_killed_invocations_are_removed_at_the_next_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A hard kill left umm/.tmpXXXXXX (safetensors' own temporary), .stages.json.tmp-PID and
    .bundle.tmp-PID/ for ever; the next start removes them (a live pid's are kept)."""
    args = [*REDUCED, "run.name=leftovers", "run.stages=[ingest]"]
    monkeypatch.chdir(tmp_path)
    assert train.main(args) == 0
    run_dir = tmp_path / "runs" / "leftovers"
    dead = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / "umm").mkdir()
        (run_dir / "umm" / ".tmpfsQSa7").write_bytes(b"x")
        (run_dir / f".stages.json.tmp-{dead}").write_bytes(b"x")
        (run_dir / f".bundle.tmp-{dead}").mkdir()
        (run_dir / f".bundle.tmp-{dead}" / "fold0.safetensors").write_bytes(b"x")
        (run_dir / f".stages.json.tmp-{live.pid}").write_bytes(b"x")  # its writer still runs
        (run_dir / "umm" / ".tmpabc").write_bytes(b"x")  # not a known name: kept
        capsys.readouterr()
        assert train.main(args) == 0
        out = capsys.readouterr().out
        assert not (run_dir / "umm" / ".tmpfsQSa7").exists()
        assert not (run_dir / f".stages.json.tmp-{dead}").exists()
        assert not (run_dir / f".bundle.tmp-{dead}").exists()
        assert (run_dir / f".stages.json.tmp-{live.pid}").exists()
        assert (run_dir / "umm" / ".tmpabc").exists()
        assert "removed 3 temporary file(s)" in out and "umm/.tmpfsQSa7" in out, out
    finally:
        live.kill()
        live.wait()


@pytest.mark.usefixtures("phantom_ready")
def test_sigterm_stops_a_run_as_ctrl_c_does_and_the_handler_is_given_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """SIGTERM (kill, systemd, SLURM pre-emption) killed the run like SIGKILL: no "interrupted
    in" line, nothing in stages.json, no end in invocations.jsonl."""
    import signal

    def pretrain(cfg, run_dir):  # type: ignore[no-untyped-def]
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        return {}

    def before(signum, frame):  # type: ignore[no-untyped-def]
        raise AssertionError("the previous SIGTERM handler was called")

    monkeypatch.setitem(train.STAGES, "pretrain", pretrain)
    monkeypatch.chdir(tmp_path)
    signal.signal(signal.SIGTERM, before)
    try:
        # 128 + SIGTERM, after the same clean stop as Ctrl-C's 130 (careless-user review F6)
        assert interrupted_main([*REDUCED, "run.name=term", "run.stages=[ingest,pretrain]"]) == 143
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert said.startswith("[train] interrupted in pretrain"), said
    run_dir = tmp_path / "runs" / "term"
    # a review: console.log ended "interrupted: Ctrl-C" (a SIGTERM; no stage): it keeps what
    # the command printed, so the same words
    assert (run_dir / "console.log").read_text().splitlines()[-1] == said
    assert json.loads((run_dir / "stages.json").read_text())["pretrain"]["status"] == "interrupted"
    ended = json.loads((run_dir / "invocations.jsonl").read_text().splitlines()[-1])["ended"]
    assert ended["outcome"] == "interrupted" and ended["stage"] == "pretrain"
    assert ended["exit_code"] == 143  # what a torchrun job requeues on (torchrun itself exits 1)


@pytest.mark.usefixtures("phantom_ready")
def test_resuming_a_stage_with_another_thread_count_warns_and_is_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """run.threads changes no setting's signature, but CPU float sums depend on the thread
    count: a pretraining resumed with another count differed from an uninterrupted one in 107
    of 128 tensors, silently. Now the resume says so and how to get identical results."""
    from drac_ssl.checkpoint import save_checkpoint

    def ctrl_c(cfg, run_dir):  # type: ignore[no-untyped-def]
        # an older run's checkpoint (no "threads"): the run's last invocation is compared
        save_checkpoint(run_dir / "pretrain" / "checkpoints" / "last.pt", {"epoch": 0})
        raise KeyboardInterrupt

    args = [*REDUCED, "run.name=threads", "run.stages=[ingest,pretrain]"]
    monkeypatch.setitem(train.STAGES, "pretrain", ctrl_c)
    monkeypatch.chdir(tmp_path)
    assert interrupted_main([*args, "run.threads=1"]) == 130
    assert interrupted_main([*args, "run.threads=1"]) == 130  # the same count: nothing said
    assert "bit-identical" not in capsys.readouterr().out
    monkeypatch.setitem(train.STAGES, "pretrain", lambda cfg, run_dir: {})
    try:
        assert train.main([*args, "run.threads=2"]) == 0
    finally:
        train.apply_thread_policy(1)
    out = capsys.readouterr().out
    assert ("warning: stage pretrain resumes with 2 CPU thread(s), its earlier invocation ran "
            "with 1") in out and "not be bit-identical" in out and "run.threads=1" in out, out
    run_dir = tmp_path / "runs" / "threads"
    last = json.loads((run_dir / "invocations.jsonl").read_text().splitlines()[-1])
    assert last["resumed_with_other_threads"] == {"stage": "pretrain", "threads": 2, "earlier": 1}
    # each attempt's count, in stages.json (environment.json keeps the first invocation's)
    assert json.loads((run_dir / "stages.json").read_text())["pretrain"]["cpu_threads"] == [1, 1, 2]
    # config.yaml, rewritten by the resume, still gives the run's own count to reproduce it
    assert " -c THIS_FILE run.threads=1 run.name=NEW " in (run_dir / "config.yaml").read_text().splitlines()[0]
    try:  # no unfinished stage: nothing said
        assert train.main([*REDUCED, "run.name=threads", "run.stages=[ingest]", "run.threads=2"]) == 0
    finally:
        train.apply_thread_policy(1)
    assert "bit-identical" not in capsys.readouterr().out


@pytest.mark.usefixtures("phantom_ready")
def test_resuming_with_other_library_builds_warns_is_recorded_and_said_in_the_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The same opencv-python-headless version from another wheel resized the cache differently
    and moved the default job's figures, with nothing in the run folder to say why. A run
    resumed with other builds of the libraries its figures depend on now says so."""
    from drac_ssl import runtime
    from drac_ssl.report import write_report

    made = {"torch": "2.14.1, wheel A, files 1", "opencv-python-headless": "5.0.0.93, wheel B, files 2"}
    now = {**made, "opencv-python-headless": "5.0.0.93, wheel C, files 3"}
    args = [*REDUCED, "run.name=builds", "run.stages=[ingest,pretrain]"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runtime, "library_builds", lambda: dict(made))
    monkeypatch.setitem(train.STAGES, "pretrain", lambda cfg, run_dir: (_ for _ in ()).throw(KeyboardInterrupt))
    assert interrupted_main(args) == 130
    assert interrupted_main(args) == 130  # the same builds: nothing said
    assert "other builds" not in capsys.readouterr().out
    run_dir = tmp_path / "runs" / "builds"
    assert json.loads((run_dir / "environment.json").read_text())["builds"] == made
    monkeypatch.setattr(runtime, "library_builds", lambda: dict(now))
    monkeypatch.setitem(train.STAGES, "pretrain", lambda cfg, run_dir: {})
    assert train.main(args) == 0
    out = capsys.readouterr().out
    assert ("warning: this run folder was made with other builds of libraries its figures depend on "
            "(environment.json 'builds'): opencv-python-headless 5.0.0.93, wheel B, files 2 -> "
            "5.0.0.93, wheel C, files 3. ") in out and "not be bit-identical" in out, out
    assert "torch" not in out.split("builds'):")[1].split(".\n")[0]
    lines = [json.loads(line) for line in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert [("resumed_with_other_builds" in line) for line in lines] == [False, False, True]
    assert lines[-1]["resumed_with_other_builds"] == {
        "opencv-python-headless": {"made": "5.0.0.93, wheel B, files 2", "now": "5.0.0.93, wheel C, files 3"}}
    assert json.loads((run_dir / "environment.json").read_text())["builds"] == made  # the run's own
    report = write_report(run_dir).read_text()
    assert "**The run mixed library builds:**" in report
    assert "opencv-python-headless 5.0.0.93, wheel B, files 2 -> 5.0.0.93, wheel C, files 3" in report
    assert train.main([*REDUCED, "run.name=builds", "run.stages=[ingest]"]) == 0  # nothing runs: nothing said
    assert "other builds" not in capsys.readouterr().out
    # a folder made before builds were recorded: nothing to compare with, nothing said
    monkeypatch.setattr(runtime, "library_builds", lambda: dict(made))
    monkeypatch.setitem(train.STAGES, "pretrain", lambda cfg, run_dir: (_ for _ in ()).throw(KeyboardInterrupt))
    older = [*REDUCED, "run.name=older", "run.stages=[ingest,pretrain]"]
    assert interrupted_main(older) == 130
    env = json.loads((tmp_path / "runs" / "older" / "environment.json").read_text())
    del env["builds"]
    (tmp_path / "runs" / "older" / "environment.json").write_text(json.dumps(env))
    monkeypatch.setattr(runtime, "library_builds", lambda: dict(now))
    assert interrupted_main(older) == 130
    assert "other builds" not in capsys.readouterr().out


@pytest.mark.usefixtures("phantom_ready")
def test_a_resume_compares_threads_with_the_saved_state_not_with_an_attempt_that_saved_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: epoch 1 saved with 1 thread; a resume with 2 threads was stopped before it
    saved an epoch; the resume with 1 thread then warned "its earlier invocation ran with 2 ...
    rerun with run.threads=2", though it went on exactly (advice that would break it)."""
    from drac_ssl.checkpoint import save_checkpoint

    def saves_epoch_1(cfg, run_dir):  # type: ignore[no-untyped-def]
        save_checkpoint(run_dir / "pretrain" / "checkpoints" / "last.pt",
                        {"epoch": 0, "threads": torch.get_num_threads()})
        raise KeyboardInterrupt

    def saves_nothing(cfg, run_dir):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    args = [*REDUCED, "run.name=saved", "run.stages=[ingest,pretrain]"]
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "runs" / "saved"
    try:
        monkeypatch.setitem(train.STAGES, "pretrain", saves_epoch_1)
        assert interrupted_main([*args, "run.threads=1"]) == 130
        monkeypatch.setitem(train.STAGES, "pretrain", saves_nothing)
        assert interrupted_main([*args, "run.threads=2"]) == 130  # warned: the saved state had 1
        assert "run.threads=1" in capsys.readouterr().out
        assert interrupted_main([*args, "run.threads=1"]) == 130  # the saved state's count: nothing said
        assert "bit-identical" not in capsys.readouterr().out
        last = json.loads((run_dir / "invocations.jsonl").read_text().splitlines()[-1])
        assert "resumed_with_other_threads" not in last
        # no epoch saved at all: the stage starts over, whatever the earlier attempts ran with
        (run_dir / "pretrain" / "checkpoints" / "last.pt").unlink()
        assert interrupted_main([*args, "run.threads=2"]) == 130
        assert "bit-identical" not in capsys.readouterr().out
    finally:
        train.apply_thread_policy(1)


@pytest.mark.usefixtures("phantom_ready")
def test_ctrl_c_between_stages_and_in_the_report_says_what_is_true(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A Ctrl-C before a stage's work began (its git call) or while report.md was written said
    "rerun the same command to resume from the last checkpoint", though no checkpoint was
    involved."""
    from drac_ssl import report

    def ctrl_c(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    def pretrain(cfg, run_dir):  # type: ignore[no-untyped-def]
        (run_dir / "finetune").mkdir()  # report.md is written when a fine-tuning folder exists
        return {}

    args = [*REDUCED, "run.name=between", "run.stages=[ingest,pretrain]"]
    monkeypatch.setitem(train.STAGES, "pretrain", pretrain)
    monkeypatch.chdir(tmp_path)
    real = train._stage_code
    monkeypatch.setattr(train, "_stage_code", lambda name, start: ctrl_c() if name == "pretrain" else real(name, start))
    assert interrupted_main(args) == 130
    err = capsys.readouterr().err
    assert ("[train] interrupted before stage pretrain started: nothing of it was done; rerun the "
            "same command to start it") in err and "checkpoint" not in err, err
    monkeypatch.setattr(train, "_stage_code", real)
    monkeypatch.setattr(report, "write_report", ctrl_c)
    assert interrupted_main(args) == 130
    err = capsys.readouterr().err
    assert ("[train] interrupted while report.md was written: every stage of run.stages is finished; "
            "rerun the same command to rewrite report.md") in err and "checkpoint" not in err, err
    ended = json.loads((tmp_path / "runs" / "between" / "invocations.jsonl").read_text().splitlines()[-1])["ended"]
    assert ended["outcome"] == "interrupted"


def test_overrides_may_stand_on_both_sides_of_the_options(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``run.name=z1 -c FILE pretrain.epochs=0`` stopped with "unrecognized arguments:
    pretrain.epochs=0" (argparse's parse_args takes one run of positionals): the options may
    now come between the overrides, which keep their order (a later one wins)."""
    seen: list[tuple[list[str], str | None, object]] = []
    monkeypatch.setattr(train, "_main", lambda overrides, config, preset, **_: seen.append((overrides, config, preset)) or 0)
    config = str(tmp_path / "c.yaml")
    assert train.main(["run.name=z1", "-c", config, "pretrain.epochs=0", "--threads", "2",
                       "run.out_dir=/tmp/x", "run.name=z2"]) == 0
    assert seen == [(["run.name=z1", "pretrain.epochs=0", "run.out_dir=/tmp/x", "run.name=z2",
                      "run.threads=2"], config, None)]


def test_the_command_line_takes_overrides_on_both_sides_of_c(tmp_path: Path) -> None:
    """The same as ``python -m`` runs it: the parse before torch loads (``__main__``) took
    the overrides after ``-c`` for unrecognized arguments; now the command reaches the
    settings and says what is wrong with them (here: the config file is missing)."""
    missing = tmp_path / "nope.yaml"
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-m", "drac_ssl.train", "run.name=z1", "-c", str(missing),
         "pretrain.epochs=0", f"run.out_dir={tmp_path / 'runs'}"],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert "unrecognized arguments" not in proc.stderr, proc.stderr
    assert f"{missing}: config file not found" in proc.stderr, proc.stderr


def _files(run_dir: Path) -> dict[str, float]:
    """Every file of a run folder but the per-invocation logs, with its modification time."""
    logs = {"console.log", "invocations.jsonl", ".train.lock"}
    return {p.relative_to(run_dir).as_posix(): p.stat().st_mtime_ns for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name not in logs}


@pytest.mark.usefixtures("phantom_ready")
def test_keep_checkpoints_false_removes_them_once_every_stage_finished(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A 25-image run folder was 699 MiB, more than half of it pretrain/ and umm/checkpoints/.
    run.keep_checkpoints=false removes them once every stage of run.stages has finished, never
    earlier (an interrupted run resumes from them), and says so in stages.json and report.md."""
    args = [*REDUCED, "run.name=lean", "run.keep_checkpoints=false"]
    run_dir = tmp_path / "runs" / "lean"
    monkeypatch.chdir(tmp_path)
    real = train.STAGES["umm"]

    def ctrl_c(cfg, run_dir):  # type: ignore[no-untyped-def]
        real(cfg, run_dir)  # every epoch saved, then Ctrl-C (e.g. while the weights are written)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setitem(train.STAGES, "umm", ctrl_c)
        assert interrupted_main(args) == 130
    # interrupted: nothing removed (the pretraining finished, but not every stage of run.stages)
    assert (run_dir / "pretrain" / "checkpoints" / "last.pt").is_file()
    assert (run_dir / "umm" / "checkpoints" / "last.pt").is_file()
    capsys.readouterr()
    assert train.main(args) == 0
    out = capsys.readouterr().out
    assert "stage umm: starting (attempt 2" in out  # resumed from its checkpoint
    assert not (run_dir / "pretrain" / "checkpoints").exists() and not (run_dir / "umm" / "checkpoints").exists()
    line = re.search(r"\[train\] run\.keep_checkpoints=false: removed pretrain/checkpoints, umm/checkpoints "
                     r"\(([0-9.]+) MiB freed\)", out)
    assert line and float(line.group(1)) > 0, out
    stages = json.loads((run_dir / "stages.json").read_text())
    for stage in ("pretrain", "umm"):
        removed = stages[stage]["checkpoints_removed"]
        assert removed["folder"] == f"{stage}/checkpoints" and removed["mib"] > 0, removed
        assert removed["utc"].endswith("+00:00")
    assert "checkpoints_removed" not in stages["finetune"]
    assert "run.keep_checkpoints=false" in (run_dir / "report.md").read_text()
    # what the later stages and the user read is all there: the run folder is still complete
    for rel in ("pretrain/vicreg_model.safetensors", "pretrain/backbone.safetensors",
                "umm/backbone.safetensors", "bundle/metadata.json", "export/submission.csv"):
        assert (run_dir / rel).is_file(), rel
    # a rerun of the same command finds every stage done and changes nothing
    before = _files(run_dir)
    assert train.main(args) == 0
    out = capsys.readouterr().out
    for stage in train.PIPELINE:
        assert f"stage {stage}: already done" in out
    assert "run.keep_checkpoints=false: removed" not in out  # (the tmp folder's name holds the words too)
    after = _files(run_dir)
    def kept(files: dict[str, float]) -> dict[str, float]:  # report.md and its figures are rewritten
        return {k: v for k, v in files.items() if not k.startswith("report")}

    assert kept(after) == kept(before) and len(kept(after)) > 40
    # a later run.reuse that starts UMM from a checkpoint: refused before any stage, naming the file
    code = train.main([*REDUCED, "run.name=lean-last", "run.reuse=lean", "umm.start_from=last"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert (f"umm.start_from=last (command line 'umm.start_from=last'): UMM would start from "
            f"{run_dir / 'pretrain' / 'checkpoints' / 'last.pt'}, which does not exist: the pretraining "
            f"taken from {run_dir} had its checkpoints removed there after the run finished "
            f"(run.keep_checkpoints=false)") in err, err
    assert "fix: umm.start_from=best" in err and "leave run.reuse out" in err, err
    assert not (tmp_path / "runs" / "lean-last").exists()
    # ... while the default umm.start_from=best (vicreg_model.safetensors) takes it and runs UMM anew
    # (up to the UMM: what is checked is the taken pretraining and the UMM's checkpoints)
    assert train.main([*REDUCED, "run.name=lean-umm", "run.reuse=lean", "umm.alpha=0.5",
                       "run.stages=[ingest,pretrain,umm]"]) == 0
    assert "takes ingest, pretrain from" in capsys.readouterr().out
    taken = json.loads((tmp_path / "runs" / "lean-umm" / "stages.json").read_text())
    assert taken["pretrain"]["checkpoints_removed"] == {  # removed there, not here (a diff review)
        "in": str(tmp_path / "runs" / "lean"), **stages["pretrain"]["checkpoints_removed"]}
    assert (tmp_path / "runs" / "lean-umm" / "umm" / "checkpoints" / "last.pt").is_file()  # kept: true


def test_keep_checkpoints_false_keeps_the_pretrainings_while_a_later_umm_needs_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """run.stages without umm, umm.start_from=last: the pretraining's checkpoints are what UMM
    starts from when a later invocation runs it in this folder, so they stay; the preflight
    says so."""
    from drac_ssl import preflight

    run_dir = tmp_path / "run"
    (run_dir / "pretrain" / "checkpoints").mkdir(parents=True)
    (run_dir / "pretrain" / "checkpoints" / "last.pt").write_bytes(b"x" * 2048)
    (run_dir / "stages.json").write_text(json.dumps({s: {"status": "done", "seconds": 1.0, "outputs": {}}
                                                     for s in ("ingest", "pretrain")}))
    later = [*REDUCED, "run.stages=[ingest,pretrain]", "run.keep_checkpoints=false"]
    cfg = train.load_config(train.DEFAULT_CONFIG, [*later, "umm.start_from=last"])
    warnings = [f.line for f in preflight.check(cfg, run_dir, stages=[]) if f.severity == "warning"]
    assert any(w.startswith("run.keep_checkpoints=false: ") and "umm.start_from=last" in w
               and "kept until the umm stage has run" in w for w in warnings), warnings
    train.remove_checkpoints(cfg, run_dir)
    assert (run_dir / "pretrain" / "checkpoints" / "last.pt").is_file()
    assert "kept" in capsys.readouterr().out
    # the default start (vicreg_model.safetensors) needs none: removed, nothing warned
    cfg = train.load_config(train.DEFAULT_CONFIG, later)
    assert not any(f.setting == "run.keep_checkpoints" for f in preflight.check(cfg, run_dir, stages=[]))
    train.remove_checkpoints(cfg, run_dir)
    assert not (run_dir / "pretrain" / "checkpoints").exists()
    assert json.loads((run_dir / "stages.json").read_text())["pretrain"]["checkpoints_removed"]["mib"] == 0.0
    # a UMM of this folder asked later to start from one: refused before it starts, with the way out
    (run_dir / "pretrain" / "vicreg_model.safetensors").write_bytes(b"")
    cfg = train.load_config(train.DEFAULT_CONFIG, [*later, "umm.start_from=peak"])
    refused = [f.line for f in preflight.check(cfg, run_dir, stages=["umm"]) if f.setting == "umm.start_from"]
    assert refused and refused[0].startswith(
        f"umm.start_from=peak: UMM would start from {run_dir / 'pretrain' / 'checkpoints' / 'monitor_peak.pt'}, "
        f"which does not exist: the pretraining's checkpoints were removed after the run finished "
        f"(run.keep_checkpoints=false)"), refused
    assert f"run.reuse={run_dir} umm.start_from=best" in refused[0], refused


def test_the_reuse_and_resume_fixes_name_a_setting_whose_old_value_holds_a_colon() -> None:
    """_reverts read "key: old -> new" from the right: an old value holding ": " (grade names
    "0: none") gave the key "data.grades: ['0" (stage_settings.parse_difference_line now)."""
    diffs = stage_settings.config_differences({"data": {"grades": ["0: none", "1 -> some"], "fold_seed": 0}},
                                              {"data": {"grades": ["a -> b", "c: d"], "fold_seed": 1}})
    assert train._reverts(diffs) == "data.fold_seed back to 0, data.grades back to ['0: none', '1 -> some']"


def test_a_setting_changed_on_the_command_line_is_not_undone_by_the_refusals_fix(tmp_path: Path) -> None:
    """A new-user trial: rerunning a run folder made with data.near_duplicate_mse=1e-4 with
    data.near_duplicate_mse=3e-4 typed was told to rerun with the saved config, not that it
    puts 1e-4 back, and "nothing in it can be taken into a new run" without why."""
    from drac_ssl import preflight
    from drac_ssl.config import save_config

    out = tmp_path / "runs"
    run_dir = out / "trial"
    (run_dir / "data").mkdir(parents=True)
    made = [f"run.out_dir={out}", "run.name=trial", "data.near_duplicate_mse=1e-4"]
    save_config(train.load_config(train.DEFAULT_CONFIG, made), run_dir / "config.yaml")
    (run_dir / "data" / "manifest.csv").write_text("id,path,grade,split,fold,patient\n")
    (run_dir / "stages.json").write_text(json.dumps({"ingest": {"status": "done"}}))
    typed = [f"run.out_dir={out}", "run.name=trial", "data.near_duplicate_mse=3e-4"]
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, typed)
    problem = train._existing_run_problem(cfg, run_dir, sources)
    assert "data.near_duplicate_mse: 0.0001 -> 0.0003" in problem, problem
    assert "start a new run with data.near_duplicate_mse as given" in problem, problem
    assert (f"or rerun with the saved config (it puts data.near_duplicate_mse back to 0.0001, which "
            f"this command changes): {python_command('drac_ssl.train')} -c {run_dir / 'config.yaml'}") in problem, problem
    # a folds-only change (run.reuse could take the pretraining) whose pretraining is not there
    assert ("nothing in it can be taken into a new run: its ingest differs only in the folds "
            "(data.near_duplicate_mse: 0.0001 -> 0.0003), which alone would not stop its pretraining "
            "from being taken") in problem, problem
    assert f"its pretrain stage cannot be taken: it has not finished in {run_dir}" in problem, problem
    assert "run.name=trial-2" in problem, problem
    # one typed and one from a file: no "as given", the same words on what the saved config puts back
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, [*typed, "data.n_folds=3"])
    sources["data.n_folds"] = "configs/x.yaml:3"
    problem = train._existing_run_problem(cfg, run_dir, sources)
    assert "as given" not in problem and "it puts data.near_duplicate_mse back to 0.0001," in problem, problem
    # not typed (no command line known): the saved config, as before
    problem = train._existing_run_problem(train.load_config(train.DEFAULT_CONFIG, typed), run_dir)
    assert f"or rerun with the saved config: {python_command('drac_ssl.train')} -c {run_dir / 'config.yaml'}" in problem


def test_a_reuse_that_can_take_nothing_offers_the_source_runs_own_settings(tmp_path: Path) -> None:
    """A DRAC participant's trial: ``-c configs/drac.yaml run.reuse=runs/first-try
    finetune.head=mlp`` after the tiny first try was refused (its ingest differs: the tiny
    sizes) with "make those settings equal to that run's"; the way that works, starting from
    that run's config.yaml, was not said. The fix now gives it."""
    from drac_ssl import preflight
    from drac_ssl.config import save_config
    from drac_ssl.preflight import PreflightError

    out = tmp_path / "runs"
    first = out / "first-try"
    first.mkdir(parents=True)
    small = [f"run.out_dir={out}", "data.cache_sizes=[128]", "data.n_folds=2", "run.name=first-try"]
    save_config(train.load_config(train.DEFAULT_CONFIG, small), first / "config.yaml")
    (first / "data").mkdir()
    (first / "data" / "manifest.csv").write_text("id,path,grade,split,fold,patient\n")
    (first / "stages.json").write_text(json.dumps({"ingest": {"status": "done"}}))
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, [
        f"run.out_dir={out}", "run.name=mlp", f"run.reuse={first}", "finetune.head=mlp"])
    with pytest.raises(PreflightError) as refused:
        train._check_before_start(cfg, out / "mlp", sources, [])
    said = str(refused.value)
    assert "nothing in it can be taken into a new run" in said and "data.cache_sizes" in said, said
    assert "every later stage is built on its output (the manifest and folds)" in said, said
    # it says what starting from that file puts back (a trial: it silently undid a setting)
    fix = said.split("or start from that run's own settings (this puts data.cache_sizes back to "
                     "[128], data.n_folds back to 2): ", 1)[1]
    assert fix.startswith(f"-c {first / 'config.yaml'} run.name=mlp run.reuse={first} "), said
    assert fix.split("\n")[0].endswith(f"run.out_dir={out} finetune.head=mlp"), said  # the typed order
    assert not (out / "mlp").exists()
    # a value with a space is quoted for the shell
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, [
        f"run.out_dir={out}", "run.name=my run", f"run.reuse={first}", "finetune.head=mlp"])
    with pytest.raises(PreflightError) as refused:
        train._check_before_start(cfg, out / "my run", sources, [])
    assert "'run.name=my run'" in str(refused.value), str(refused.value)
    # not offered: the differing setting was typed (meant), or the command starts from that file
    for config, typed in ((train.DEFAULT_CONFIG, ["data.n_folds=5", "data.cache_sizes=[256]"]),
                          (first / "config.yaml", ["data.n_folds=5"])):
        cfg, sources, _ = preflight.read_config(config, [
            f"run.out_dir={out}", "run.name=mlp", f"run.reuse={first}", *typed])
        with pytest.raises(PreflightError) as refused:
            train._check_before_start(cfg, out / "mlp", sources, [])
        assert "nothing in it can be taken into a new run" in str(refused.value)
        assert "own settings" not in str(refused.value), str(refused.value)


def test_a_reuse_of_an_unfinished_stage_offers_to_finish_it_not_settings_to_put_back(tmp_path: Path) -> None:
    """Session 56: a source whose ingest never finished (same settings) was
    refused with "make those settings equal to that run's ... (this puts it has not finished in
    RUN)": the reasons of an unfinished stage read as settings. It now says to finish it there."""
    from drac_ssl import preflight
    from drac_ssl.config import save_config
    from drac_ssl.preflight import PreflightError

    out = tmp_path / "runs"
    first = out / "first"
    (first / "data").mkdir(parents=True)
    made = [f"run.out_dir={out}", "run.name=first"]
    save_config(train.load_config(train.DEFAULT_CONFIG, made), first / "config.yaml")
    (first / "data" / "manifest.csv").write_text("id,path,grade,split,fold,patient\n")
    (first / "stages.json").write_text(json.dumps({"ingest": {"status": "interrupted"}}))
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, [
        f"run.out_dir={out}", "run.name=second", f"run.reuse={first}", "finetune.head=mlp"])
    plan = train.plan_reuse(cfg, first, out / "second")
    assert plan.stages == () and plan.stopped_at == "ingest" and plan.unfinished(), plan
    with pytest.raises(PreflightError) as refused:
        train._check_before_start(cfg, out / "second", sources, [])
    said = str(refused.value)
    assert "is not finished" in said, said
    assert "finish it there first" in said, said
    assert "this puts" not in said and "make those settings equal" not in said, said


def test_in_place_command_types_relative_data_paths_absolutely(
        phantom_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """An upgrade review: config.yaml keeps a relative data.root as typed (the shipped configs'
    ../shared/...), read from the folder the run was made in; the in-place command, run from
    another folder, read it from there, was refused ("made with a different configuration:
    data.root ...") and the refusal's fix was the same command, a loop. The command types it
    absolutely, from the folder the run was made in; that folder gone, the note says to."""
    import shlex
    import shutil

    shutil.copytree(phantom_set, tmp_path / "shared" / "set")
    made_in = tmp_path / "tree"
    made_in.mkdir()
    monkeypatch.chdir(made_in)
    assert train.main([*REDUCED, "data.root=../shared/set", "run.stages=[ingest]"]) == 0
    run = made_in / "runs" / "reduced"
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["root"] == "../shared/set"
    elsewhere = tmp_path / "other" / "deeper"  # ../shared/set from here is another folder
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    command, note = run_state.resume_in_place_command_and_note(run, ["run.stages=[ingest]"])
    assert note == ""
    words = shlex.split(command)
    assert f"data.root={tmp_path / 'shared' / 'set'}" in words, command
    capsys.readouterr()
    assert train.main(words[words.index("-c"):]) == 0, capsys.readouterr()
    assert "made with a different configuration" not in capsys.readouterr().out
    # the folder it was made in gone: the path it names from there is given while it exists ...
    (made_in / "runs").rename(tmp_path / "runs")
    shutil.rmtree(made_in)
    moved = tmp_path / "runs" / "reduced"
    assert f"data.root={tmp_path / 'shared' / 'set'}" in run_state.resume_in_place_command(moved)
    # ... and, that gone too, the note says to type it absolutely (a relative one reads elsewhere)
    (tmp_path / "shared").rename(tmp_path / "data-moved")
    command, note = run_state.resume_in_place_command_and_note(moved)
    assert "data.root=" not in command
    assert (f"its config.yaml keeps data.root: ../shared/set as typed, relative to {made_in}, the folder the "
            f"run was made in, which is gone: add data.root=ABSOLUTE_PATH to the command") in note, note
    # run.reuse, relative to that folder or a run's name in its run.out_dir, as the run read it
    cfg = yaml.safe_load((moved / "config.yaml").read_text())
    cfg["data"]["root"] = "/abs/data"
    cfg["run"]["reuse"] = "base"
    (moved / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = json.loads((moved / "environment.json").read_text())
    (moved / "environment.json").write_text(json.dumps({**env, "cwd": str(elsewhere)}))
    (elsewhere / "runs" / "base").mkdir(parents=True)
    (elsewhere / "runs" / "base" / "stages.json").write_text("{}")
    command = run_state.resume_in_place_command(moved)
    assert f"run.reuse={elsewhere / 'runs' / 'base'}" in shlex.split(command), command
    assert "data.root=" not in command  # absolute: as saved


def _ingested_without_recorded_cwd(phantom_set: Path, base: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(the folder the run was made in, the run): the phantom set copied to ``base/shared/set``,
    ingested from ``base/tree`` with ``data.root=../shared/set``, and ``cwd`` taken out of the
    run's environment.json, as a run made before environment.json recorded it."""
    import shutil

    shutil.copytree(phantom_set, base / "shared" / "set")
    made_in = base / "tree"
    made_in.mkdir()
    monkeypatch.chdir(made_in)
    assert train.main([*REDUCED, "data.root=../shared/set", "run.stages=[ingest]"]) == 0
    run = made_in / "runs" / "reduced"
    env = json.loads((run / "environment.json").read_text())
    del env["cwd"]
    (run / "environment.json").write_text(json.dumps(env))
    return made_in, run


def test_a_run_without_the_recorded_cwd_resumes_in_place_from_another_folder(
        phantom_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A final read, C7: for a run whose environment.json does not record its cwd (made before
    it was), the in-place command typed config.yaml's relative data.root from the last
    training's cwd (invocations.jsonl), while the resume compared config.yaml's from the current
    folder: from another folder the command was refused ("made with a different configuration").
    Both read the folder from run_state.made_in now, and agree."""
    import shlex

    made_in, run = _ingested_without_recorded_cwd(phantom_set, tmp_path, monkeypatch)
    assert run_state.last_training(run)["cwd"] == str(made_in)  # invocations.jsonl still says it
    assert run_state.made_in(run) == str(made_in)
    elsewhere = tmp_path / "other" / "deeper"  # ../shared/set from here is another folder
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    words = shlex.split(run_state.resume_in_place_command(run, ["run.stages=[ingest]"]))
    assert f"data.root={tmp_path / 'shared' / 'set'}" in words
    capsys.readouterr()
    assert train.main(words[words.index("-c"):]) == 0, capsys.readouterr()
    assert "made with a different configuration" not in capsys.readouterr().out


def test_a_resume_from_another_folder_does_not_move_where_the_run_was_made(
        phantom_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A review, F1: for a run whose environment.json lacks cwd, made_in fell back to the LAST
    training's cwd, and a resume that runs nothing is recorded too: resumed in place from folder
    B, the run was then said made in B, and the next in-place command typed data.root as
    B/../shared/set, another folder, which the resume accepted. The first training's cwd (the
    one config.yaml's relative paths were typed in) is kept; so is it when environment.json is
    lost and a resume from B writes it again."""
    import shlex

    made_in, run = _ingested_without_recorded_cwd(phantom_set, tmp_path / "a", monkeypatch)
    elsewhere = tmp_path / "b" / "tree"  # ../shared/set from here: another folder
    (tmp_path / "b" / "shared" / "set").mkdir(parents=True)
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    root = f"data.root={tmp_path / 'a' / 'shared' / 'set'}"
    words = shlex.split(run_state.resume_in_place_command(run, ["run.stages=[ingest]"]))
    assert root in words, words
    capsys.readouterr()
    assert train.main(words[words.index("-c"):]) == 0, capsys.readouterr()  # runs nothing: ingest done
    assert run_state.last_training(run)["cwd"] == str(elsewhere)  # recorded all the same
    assert run_state.made_in(run) == str(made_in)  # was str(elsewhere)
    again = shlex.split(run_state.resume_in_place_command(run, ["run.stages=[ingest]"]))
    assert root in again and f"data.root={tmp_path / 'b' / 'shared' / 'set'}" not in again, again
    (run / "environment.json").unlink()  # lost: the next invocation writes it again, from B
    assert train.main(words[words.index("-c"):]) == 0, capsys.readouterr()
    assert json.loads((run / "environment.json").read_text())["cwd"] == str(made_in)
    assert run_state.made_in(run) == str(made_in)


def test_another_folders_run_config_from_elsewhere_is_refused_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An upgrade review: -c <another folder's run>/config.yaml, typed from another working
    directory, silently started a fresh run in ./runs/<name> (the file's run.out_dir is relative
    to the folder the run was started in); a later review: a warning alone still trained it.
    It is refused before any work (exit 2, nothing written), with the command that resumes
    that run where it is and run.name=NEW for a new run, which works as the README says."""
    from drac_ssl.trial_run import first_try_overrides

    made_in = tmp_path / "old_tree"
    run = made_in / "runs" / "int3"
    train.save_config(train.load_config(train.DEFAULT_CONFIG, ["run.out_dir=runs", "run.name=int3"]),
                      run / "config.yaml")
    (run / "stages.json").write_text(json.dumps({"ingest": {"status": "done", "seconds": 1.0}}))
    elsewhere = tmp_path / "new_tree"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code = train.main(["-c", "../old_tree/runs/int3/config.yaml", "run.device=cpu"])
    captured = capsys.readouterr()
    assert code == 2
    assert not (elsewhere / "runs").exists() and "[train] CPU threads" not in captured.out  # no work
    full = run.resolve()
    err = " ".join(captured.err.split())
    assert (f"error: -c ../old_tree/runs/int3/config.yaml is the config.yaml of the run folder {full}, "
            f"but this command would work on the run folder {elsewhere.resolve() / 'runs' / 'int3'} (that "
            f"file's run.out_dir=runs from the current folder, {elsewhere.resolve()}, and run.name=int3): a new "
            f"run, not that run; nothing was run") in err, err
    assert (f"fix: to resume that run where it is (from any folder): {python_command('drac_ssl.train')} -c "
            f"{full / 'config.yaml'} run.out_dir={full.parent} run.name=int3; or type run.name=NEW to start a "
            f"new run from this config") in err, err
    cfg, sources = train.preflight.read_config(str(run / "config.yaml"), [])[:2]
    monkeypatch.chdir(made_in)  # from the folder it was made in: the file names its own folder
    assert train._other_run_config_problem(cfg, sources, []) == ""
    monkeypatch.chdir(elsewhere)
    assert train._other_run_config_problem(cfg, sources, ["run.name=again"]) == ""  # a new run on purpose
    # --first-try makes its own folder (run.name=first-try): on purpose, nothing refused
    tried = train.preflight.read_config(str(run / "config.yaml"), [], first_try_overrides)
    assert train._other_run_config_problem(tried[0], tried[1], []) == ""
    (run / "stages.json").unlink()  # a resolved config.yaml that is no run's records: a file like any other
    assert train._other_run_config_problem(cfg, sources, []) == ""


def test_another_folders_run_config_refused_over_an_existing_run_records_its_exit_code_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The -c refusal above (another folder's run config.yaml) was the one refusal in an existing
    run folder that wrote no line in its invocations.jsonl: a requeued torchrun job naming that
    folder read its previous job's 143 and requeued a job that can only be refused again. It is
    recorded as the preflight's refusals are (exit 2, io.REFUSED_NOTE), in the folder the command
    would work on; the run the -c file belongs to is left as it was."""
    from drac_ssl import runtime
    from drac_ssl.io import REFUSED_NOTE

    monkeypatch.setattr(runtime, "environment_info", lambda: {"python": "3"})  # git, pip: seconds, not tested here
    made_in = tmp_path / "old_tree"
    run = made_in / "runs" / "int3"
    train.save_config(train.load_config(train.DEFAULT_CONFIG, ["run.out_dir=runs", "run.name=int3"]),
                      run / "config.yaml")
    (run / "stages.json").write_text(json.dumps({"ingest": {"status": "done", "seconds": 1.0}}))
    mine = json.dumps({"tool": "drac_ssl.train", "pid": 1, "ended": {"outcome": "finished", "exit_code": 0}})
    (run / "invocations.jsonl").write_text(mine + "\n")
    elsewhere = tmp_path / "new_tree"
    target = elsewhere / "runs" / "int3"  # a run of the same name here, its last job stopped by SIGTERM
    target.mkdir(parents=True)
    before = json.dumps({"tool": "drac_ssl.train", "pid": 2, "ended": {"outcome": "interrupted", "exit_code": 143}})
    (target / "invocations.jsonl").write_text(before + "\n")
    monkeypatch.chdir(elsewhere)
    assert train.main(["-c", "../old_tree/runs/int3/config.yaml", "run.device=cpu"]) == 2
    assert "not that run; nothing was run" in capsys.readouterr().err
    lines = (target / "invocations.jsonl").read_text().splitlines()
    assert lines[0] == before and len(lines) == 2, lines
    ended = json.loads(lines[-1])["ended"]
    assert ended["exit_code"] == 2 and ended["note"] == REFUSED_NOTE, ended
    assert ended["error"].startswith("ConfigError: -c ../old_tree/runs/int3/config.yaml is the config.yaml"), ended
    assert run_state.last_training(target) == json.loads(before)  # it ran nothing
    assert (run / "invocations.jsonl").read_text() == mine + "\n"  # that run's records untouched
    assert sorted(p.name for p in target.iterdir()) == [".train.lock", "invocations.jsonl"]


def test_the_documented_new_run_from_a_runs_config_still_runs(
        phantom_ready: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """README: a new run from a run's resolved settings, -c runs/<name>/config.yaml run.name=NEW,
    from the folder it was made in or another: not refused by the check above."""
    monkeypatch.chdir(tmp_path)
    assert train.main([*REDUCED, "run.stages=[ingest]"]) == 0
    assert train.main(["-c", "runs/reduced/config.yaml", "run.name=again", "run.stages=[ingest]"]) == 0
    assert (tmp_path / "runs" / "again" / "data" / "manifest.csv").is_file()
    assert "the data are not the data of" not in capsys.readouterr().out  # the same files: nothing said
    with open(tmp_path / "runs" / "reduced" / "data" / "manifest.csv", "r+", encoding="utf-8") as fh:
        lines = fh.read().splitlines(keepends=True)
        fh.seek(0)
        fh.writelines([*lines[:-1]])  # the run's record lacks one image: new in a rerun
        fh.truncate()
    assert train.main(["-c", "runs/reduced/config.yaml", "run.name=fourth", "run.stages=[ingest]"]) == 0
    assert "[train] warning: the data are not the data of " in capsys.readouterr().out
    (fourth,) = [json.loads(x) for x in (tmp_path / "runs" / "fourth" / "invocations.jsonl").read_text().splitlines()]
    assert fourth["data_against_config_run"].startswith("the data are not the data of "), fourth  # kept, not console-only
    assert fourth["ended"]["outcome"] == "finished", fourth
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")
    # the phantom set, as REDUCED draws it, is looked for in ./data/phantom: where it is
    (tmp_path / "other" / "data").symlink_to(tmp_path / "data", target_is_directory=True)
    assert train.main(["-c", "../runs/reduced/config.yaml", "run.name=third", "run.stages=[ingest]"]) == 0
    assert (tmp_path / "other" / "runs" / "third" / "stages.json").is_file()


def test_ctrl_c_in_the_ingest_stage_says_how_many_images_are_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A docs trial: a Ctrl-C in the ingest under ``python -m drac_ssl.train`` said only "run
    ingest again"; the standalone ingest's kept count reaches the [train] line and stages.json."""
    from data_prep import cache

    def ctrl_c_in_ingest(cfg, run_dir):  # type: ignore[no-untyped-def]
        cache.DECODED.wanted, cache.DECODED.kept, cache.DECODED.reused = 40, 12, 70
        cache.DECODED.folder = str(run_dir / "data" / "cache")
        raise KeyboardInterrupt

    monkeypatch.setitem(train.STAGES, "ingest", ctrl_c_in_ingest)
    monkeypatch.chdir(tmp_path)
    assert interrupted_main([*REDUCED, "run.name=kept", "run.stages=[ingest,pretrain]"]) == 130
    err = capsys.readouterr().err
    assert ("interrupted in ingest (12 of 40 images to decode are decoded and kept); rerun the same "
            "command to continue the ingest from there: it decodes only the other 28 and reuses the "
            "70 of the finished cache") in err, err
    status = json.loads((tmp_path / "runs" / "kept" / "stages.json").read_text())
    assert status["ingest"]["saved"] == "12 of 40 images to decode are decoded and kept"


def test_a_refused_invocation_in_an_existing_run_folder_records_its_exit_code_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A torchrun job reads the training's code from the last line of invocations.jsonl: a
    requeued job refused by the checks (a bad setting, exit 2) wrote no line, so the script read
    the previous job's 143 and requeued a job that can only be refused again (a review, F1)."""
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "runs" / "requeued"
    run_dir.mkdir(parents=True)
    before = json.dumps({"tool": "drac_ssl.train", "pid": 1, "ended": {"outcome": "interrupted", "exit_code": 143}})
    (run_dir / "invocations.jsonl").write_text(before + "\n")
    assert train.main([*REDUCED, "run.name=requeued", "pretrain.batch_size=0"]) == 2
    assert "pretrain.batch_size" in capsys.readouterr().err
    lines = (run_dir / "invocations.jsonl").read_text().splitlines()
    assert lines[0] == before and len(lines) == 2
    ended = json.loads(lines[-1])["ended"]
    assert ended["exit_code"] == 2 and ended["outcome"] == "failed", ended
    assert ended["error"].startswith("PreflightError")
    # it ran nothing: every other reader of the file (the last training's threads, builds,
    # a killed stage's words) still sees the invocation before it
    assert run_state.last_training(run_dir) == json.loads(before)
    # a new run folder refused: nothing is made (the job script finds no file and stops)
    assert train.main([*REDUCED, "run.name=fresh", "pretrain.batch_size=0"]) == 2
    assert not (tmp_path / "runs" / "fresh").exists()
