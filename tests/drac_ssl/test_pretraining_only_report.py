"""A run without fine-tuning ends as a fine-tuning run does (review F4): a ``[train] result:``
line, report.md written, and a next step that measures the run's own backbone.

A PhD student's MNIST pretraining ended with ``[train] finished: RUN`` alone: no result line,
no next step, no report.md (it was written only when a ``finetune/`` folder existed). Written
by hand, the report sent her to ``bench.low_label`` without ``--backbone`` (which pretrains
50 epochs again, about 7 hours on a CPU), named the same command for CIFAR-10 (whose
``--dataset`` it refuses), and described an empty ``report/`` as "confusion matrices, ROC and
validation curves"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_mnist import fake_mnist

from drac_ssl.config import PACKAGE_CONFIGS, load_config, save_config
from drac_ssl.report import NextStep, model_next_steps, next_step, write_report
from drac_ssl.run_files import figure_kinds


def test_a_tiny_mnist_pretraining_ends_with_its_result_report_and_the_bench_on_its_backbone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """One epoch of one step (stem stride 2: a quarter of the compute), the k-NN monitor on:
    the console ends with the result line (the monitor's figure, the final loss), the report
    line, and a next step whose command gives ``--backbone`` this run's backbone; report.md
    says the same command, typed with the setting the run changed from configs/mnist.yaml
    (the bench builds the backbone from that file), and no empty ``report/`` is left."""
    from drac_ssl import train

    root = fake_mnist(tmp_path / "mnist")
    monkeypatch.chdir(tmp_path)  # not the repository root: the console's paths are absolute
    code = train.main(["-c", str(PACKAGE_CONFIGS / "mnist.yaml"), f"data.root={root}", "run.device=cpu",
                       "pretrain.epochs=1", "pretrain.max_steps_per_epoch=1", "pretrain.batch_size=8",
                       "pretrain.knn_every=1", "pretrain.warmup_epochs=0", "pretrain.expander=32-32",
                       "pretrain.augment.on_gpu=false", "pretrain.monitor_images=0",
                       "pretrain.backbone.stem_stride=2", "run.stages=[pretrain]", "run.out_dir=runs",
                       "run.name=mnist"])
    out = capsys.readouterr().out
    assert code == 0
    run = (tmp_path / "runs" / "mnist").resolve()
    lines = out[out.index("[train] finished: runs/mnist"):].splitlines()
    assert lines[1].startswith("[train] result: pretraining only (no fine-tuning in this run): k-NN top-1 "), lines
    assert "% at epoch 1 of 1 (the k-NN monitor), " in lines[1] and "final loss " in lines[1], lines[1]
    assert "the starting backbone's " in lines[1] and "(random weights, before any step)" in lines[1], lines[1]
    assert "not how good its features are" in lines[1], "a trial run says so, as a fine-tuning run's does"
    assert "[train] report: runs/mnist/report.md" in out
    assert lines[2].startswith("[train] next: read runs/mnist/report.md first"), lines
    then = lines[3]
    assert then.startswith("[train] then: measure its backbone with bench.low_label"), lines
    assert (f"-m bench.low_label --dataset mnist --data {root} --backbone {run}/pretrain/backbone.safetensors "
            f"--out-dir {run}/bench pretrain.backbone.stem_stride=2") in then, then
    report = (run / "report.md").read_text(encoding="utf-8")
    assert (f"python -m bench.low_label --dataset mnist --data {root} --backbone "
            f"{run}/pretrain/backbone.safetensors --out-dir {run}/bench pretrain.backbone.stem_stride=2") in report
    assert "**Next:** `bench.low_label` measures this run's backbone" in report
    # review F5: the CPU probe it suggests says what its silent part costs, and how to cut it
    from drac_ssl.report import CPU_PROBE_EMBED_WORDS

    assert CPU_PROBE_EMBED_WORDS in report and "about 2 CPU minutes each" in CPU_PROBE_EMBED_WORDS
    assert "`--eval-limit 2000`" in CPU_PROBE_EMBED_WORDS
    assert "Next" not in report.split("## Read this first")[1].split("## ")[0], "not a warning"
    assert "the k-NN monitor above measured its features" in report
    # the report reads the last k-NN figure against the starting backbone's, as the console does
    said = lines[1].split("(the k-NN monitor), ", 1)[1].split("; final loss", 1)[0]
    assert f"Its last figure, {lines[1].split('k-NN top-1 ')[1].split('%')[0]}% at epoch 1, is {said}." in report
    # a generic run's monitors figure is read against the k-NN monitor, not a fine-tuning it never had
    assert "measured by the fine-tuning below" not in report
    assert not (run / "report").exists(), "no figure is drawn for a pretraining-only run"
    assert "confusion" not in report and "`report/`" not in report
    # the saved configuration says which of its settings a generic data set does not apply
    second = (run / "config.yaml").read_text(encoding="utf-8").splitlines()[1]
    assert second.startswith("# data.dataset=mnist: the pretraining learns from its training split alone"), second
    assert "pretrain.use_test_images" in second


def test_the_last_knn_figure_is_read_against_the_starting_backbones() -> None:
    """A lecturer's CPU run (2 epochs of 10 steps of 32 pairs, review F1) ended at 61.10% against
    84.00% for the random start and the line did not say it had fallen 23 points: below, within
    noise (two binomial standard errors of the start on the scored test images) and above are
    said plainly; without the image count no band is claimed."""
    from drac_ssl.report import knn_start_comparison, knn_start_comparison_of_run

    below = knn_start_comparison(61.10, 84.00, 1000)
    assert below.startswith("22.90 points below the starting backbone's 84.00% (random weights, before any step)")
    assert below.endswith("worse for k-NN than random weights"), below
    # 2 x sqrt(0.84 x 0.16 / 1000) = 2.32 points: +1.90 is noise, -2.50 is not
    assert knn_start_comparison(85.90, 84.00, 1000) == (
        "within noise of the starting backbone's 84.00% (random weights, before any step): +1.90 points, "
        "inside the +/-2.3 of 2 standard errors on 1000 test images; no gain measured")
    assert knn_start_comparison(81.50, 84.00, 1000).startswith("2.50 points below")
    assert knn_start_comparison(90.00, 84.00, 1000) == (
        "6.00 points above the starting backbone's 84.00% (random weights, before any step)")
    no_count = knn_start_comparison(83.90, 84.00)
    assert no_count == ("0.10 points below the starting backbone's 84.00% (random weights, before any step); "
                        "no noise band computed (the number of test images the monitor scored is not recorded)"), \
        "no count: no band, and no verdict"
    assert "than its starting weights" in knn_start_comparison(60.0, 84.0, 1000, random_start=False)
    # review F1: a drac run at pretrain.knn_limit=0 had no knn_monitor; a 0.8-point drop on fold 0
    # was called "worse". Its knn_monitor.test_images (fold 0's graded images the monitor scored)
    # gives the band, as splits.test does for a generic set's test split; without either, none.
    drac = {"knn_start_top1": 60.0, "initial_weights": "w.safetensors", "config": {"data": {"dataset": "drac"}}}
    history = [{"epoch": 0, "knn_top1": 59.2}]
    old_run = knn_start_comparison_of_run(drac, history)
    assert old_run is not None and old_run[1].startswith("0.80 points below the starting backbone's 60.00% "
                                                         "(its starting weights, before any step); no noise band")
    assert "worse" not in old_run[1], old_run[1]
    # 2 x sqrt(0.6 x 0.4 / 120) = 8.94 points
    for recorded in ({"knn_monitor": {"test_fold": 0, "train_images": 400, "test_images": 120}},
                     {"splits": {"train": 400, "test": 120}}):
        read = knn_start_comparison_of_run({**drac, **recorded}, history)
        assert read is not None and read[1] == (
            "within noise of the starting backbone's 60.00% (its starting weights, before any step): -0.80 points, "
            "inside the +/-8.9 of 2 standard errors on 120 test images; no gain measured"), recorded


def test_a_generic_runs_report_compares_its_knn_figures_and_captions_the_knn_curve(tmp_path: Path) -> None:
    """Review F2: report.md sent a pretraining-only MNIST run to "the fine-tuning below" and never
    named knn_start_top1; now the monitors' paragraph names the k-NN monitor and its dashed line,
    the closing paragraph compares the last figure with the start, and the caption covers k-NN."""
    from drac_ssl.report import FIGURE_CAPTIONS, pretrain_curve_words

    run = _generic_run(tmp_path / "run", "mnist", tmp_path / "mnist")
    meta_path = run / "pretrain" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["pretrain"]["knn_every"] = 1
    meta.update(knn_start_top1=84.0, knn_monitor={"knn_limit": 1000, "test_images": 1000},
                initial_weights="", metrics={"loss": 20.5, "knn_top1": 61.1, "rate_reduction_last": 9.0})
    meta_path.write_text(json.dumps(meta))
    (run / "pretrain" / "metrics.jsonl").write_text("".join(json.dumps(
        {"epoch": e, "loss": 21.0 - e, "knn_top1": k, "rate_reduction_last": r}) + "\n"
        for e, k, r in ((0, 70.0, 10.0), (1, 61.1, 9.0))))
    text = " ".join(write_report(run).read_text(encoding="utf-8").split())
    assert ("Its last figure, 61.10% at epoch 2, is 22.90 points below the starting backbone's 84.00% "
            "(random weights, before any step): these epochs left the features worse for k-NN than "
            "random weights.") in text
    history = [json.loads(line) for line in (run / "pretrain" / "metrics.jsonl").read_text().splitlines()]
    words = pretrain_curve_words("pretrain_monitors", history, meta)
    assert words is not None and "fine-tuning below" not in words, words
    assert "the k-NN monitor in the same figure, read against its dashed line" in words, words
    caption = FIGURE_CAPTIONS["pretrain_monitors"]
    assert "knn_top1" in caption and "dashed line the starting backbone's" in caption
    drac = {**meta, "config": {**meta["config"], "data": {"dataset": "drac"}}}
    assert "measured by the fine-tuning below" in str(pretrain_curve_words("pretrain_monitors", history, drac))


def _generic_run(run: Path, dataset: str, root: Path, stages: str = "[pretrain]") -> Path:
    """A finished pretraining's folder as far as next_step and the report read it."""
    (run / "pretrain").mkdir(parents=True)
    save_config(load_config(PACKAGE_CONFIGS / f"{dataset}.yaml", [f"data.root={root}", f"run.stages={stages}"]),
                run / "config.yaml")
    (run / "pretrain" / "backbone.safetensors").write_bytes(b"")
    (run / "pretrain" / "metadata.json").write_text(json.dumps({
        "epochs_run": 2, "best_epoch": 1, "metrics": {"loss": 20.5}, "splits": {"train": 60, "test": 12},
        "config": {"data": {"dataset": dataset}, "pretrain": {"knn_every": 0}}}))
    (run / "pretrain" / "metrics.jsonl").write_text(
        "".join(json.dumps({"epoch": e, "loss": 21.0 - e}) + "\n" for e in range(2)))
    return run


def test_a_cifar10_run_is_sent_to_the_bench_that_takes_its_backbone_and_told_why_not_cifar10_vicreg(
        tmp_path: Path) -> None:
    """bench.low_label refuses --dataset cifar10, and bench.cifar10_vicreg has no option for a
    given backbone: a CIFAR-10 run's next step is bench.layer_clusters on its backbone, and the
    note says what cifar10_vicreg does instead."""
    run = _generic_run(tmp_path / "runs" / "cifar", "cifar10", tmp_path / "cifar10_jpeg.tar.xz")
    step = next_step(run, in_file=True)
    assert step is not None
    assert step.command.split(" -m ")[1].startswith(
        f"bench.layer_clusters --backbone {run.resolve()}/pretrain/backbone.safetensors "
        f"--data {tmp_path}/cifar10_jpeg.tar.xz --out-dir {run.resolve()}/bench"), step.command
    assert "--dataset" not in step.command and "low_label" not in step.command
    assert "`bench.cifar10_vicreg`" in step.note and "takes no backbone file: it pretrains its own" in step.note
    report = write_report(run).read_text(encoding="utf-8")
    assert "bench.layer_clusters --backbone" in report and "bench.low_label" not in report
    # the monitor was off: the closing paragraph does not name it, the headline says so
    assert "k-NN monitor above" not in report
    from drac_ssl.train import result_line

    assert result_line(run) == ("result: pretraining only (no fine-tuning in this run): k-NN monitor off "
                                "(pretrain.knn_every=0), final loss 20.0000 (epoch 2 of 2)")


def test_a_monitor_asked_for_that_scored_no_epoch_is_said_and_umm_after_it_too(tmp_path: Path) -> None:
    from drac_ssl.train import result_line

    run = _generic_run(tmp_path / "run", "fashion_mnist", tmp_path / "fm")
    meta_path = run / "pretrain" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["pretrain"]["knn_every"] = 5
    meta_path.write_text(json.dumps(meta))
    (run / "umm").mkdir()
    (run / "umm" / "metadata.json").write_text("{}")
    line = result_line(run)
    assert line is not None
    assert ("no k-NN figure (pretrain.knn_every=5, but the monitor scored no epoch: console.log says why), "
            "final loss 20.0000 (epoch 2 of 2); UMM ran after it") in line, line
    step = next_step(run)
    assert step is not None and "--dataset fashion_mnist" in step.command
    assert "umm/backbone.safetensors" not in step.note  # UMM left no backbone here
    (run / "umm" / "backbone.safetensors").write_bytes(b"")
    assert "For UMM's backbone, give `--backbone` its `umm/backbone.safetensors`." in next_step(run).note


def test_an_ingested_run_without_fine_tuning_is_sent_to_its_own_command_with_the_fine_tuning_added(
        tmp_path: Path) -> None:
    """A DRAC-style run whose run.stages left the fine-tuning out: its next step is its own
    command (invocations.jsonl's argv) with finetune and export added, which runs them in its
    folder; a run that asked for the fine-tuning gets none (done, or "Read this first" says
    how to finish it)."""
    run = tmp_path / "runs" / "octa"
    (run / "pretrain").mkdir(parents=True)
    # the folder the recorded command makes from tmp_path (runs/octa): else the command names this one
    save_config(load_config(PACKAGE_CONFIGS / "default.yaml", ["run.stages=[ingest,pretrain]", "run.name=octa"]),
                run / "config.yaml")
    (run / "pretrain" / "backbone.safetensors").write_bytes(b"")
    argv = ["python", "-m", "drac_ssl.train", "-c", "configs/default.yaml", "run.stages=[ingest,pretrain]",
            "run.name=octa"]
    (run / "invocations.jsonl").write_text(json.dumps({"tool": "drac_ssl.train", "argv": argv,
                                                       "cwd": str(tmp_path)}) + "\n")
    step = next_step(run, in_file=True)
    assert step is not None
    assert step.command == (f"cd {tmp_path} && python -m drac_ssl.train -c configs/default.yaml "
                            f"run.name=octa run.stages=[ingest,pretrain,finetune,export]"), step.command
    assert "run.stages left it out" in step.what and "bench" not in step.command
    save_config(load_config(PACKAGE_CONFIGS / "default.yaml", []), run / "config.yaml")
    assert next_step(run) is None


def test_report_folder_is_described_by_what_it_holds(tmp_path: Path) -> None:
    folder = tmp_path / "report"
    folder.mkdir()
    assert figure_kinds(folder) == "empty"
    for name in ("vicreg_confusion.png", "scratch_confusion.png", "vicreg_roc.png", "comparison.png", "x.txt"):
        (folder / name).write_bytes(b"")
    assert figure_kinds(folder) == "confusion matrices, ROC curves, the variants' comparison, 1 other file(s)"


def test_an_empty_report_folder_an_earlier_version_left_is_removed(tmp_path: Path) -> None:
    run = _generic_run(tmp_path / "run", "mnist", tmp_path / "mnist")
    (run / "report").mkdir()
    text = write_report(run).read_text(encoding="utf-8")
    assert not (run / "report").exists() and "`report/`" not in text


def test_jsonl_dicts_keeps_the_objects_and_skips_damaged_lines(tmp_path: Path) -> None:
    """One reader of .jsonl files (invocations.jsonl, pretrain/metrics.jsonl) in drac_ssl.io."""
    from drac_ssl.io import invocations, jsonl_dicts

    path = tmp_path / "x.jsonl"
    assert jsonl_dicts(path) == []  # missing
    path.write_text('{"epoch": 0}\n[1, 2]\n{"epoch": 1, "tool": "drac_ssl.umm"}\n{"epo\n\n', encoding="utf-8")
    assert jsonl_dicts(path) == [{"epoch": 0}, {"epoch": 1, "tool": "drac_ssl.umm"}]
    assert invocations(path) == [{"epoch": 0}] and invocations(path, "drac_ssl.umm") == [{"epoch": 1, "tool": "drac_ssl.umm"}]
    path.write_bytes(b"\xff\xfe not utf-8")
    assert jsonl_dicts(path) == []


def test_a_runs_next_steps_are_one_kind_of_step(tmp_path: Path) -> None:
    """A review: what measures a backbone (``next_step``) and what to do with a model
    (``model_next_steps``) were two near-identical classes, each step a clause and a command;
    one class now, a note being a step without a command."""
    measured = next_step(_generic_run(tmp_path / "runs" / "fm", "fashion_mnist", tmp_path / "fm"))
    model = tmp_path / "runs" / "model"
    (model / "bundle").mkdir(parents=True)
    (model / "bundle" / "metadata.json").write_text(json.dumps({"data": {"kind": "phantom"}}))
    with_model = model_next_steps(model)
    assert {type(step) for step in [measured, *with_model]} == {NextStep}
    assert measured is not None and measured.command and measured.short
    assert [bool(step.command) for step in with_model] == [True, True, False]  # the phantom note


@pytest.mark.parametrize("figure", [None, "NaN"])
def test_the_closing_lines_name_no_knn_measurement_when_every_figure_was_not_scored(
        tmp_path: Path, figure: str | None) -> None:
    """_generic_closing_lines said "the k-NN monitor above measured its features" whenever a
    ``knn_top1`` key was recorded, also when every figure was null (or an older run's bare NaN):
    the monitor's features were not finite, it measured nothing."""
    from drac_ssl.report import _generic_closing_lines

    run = tmp_path / "run"
    (run / "pretrain").mkdir(parents=True)
    save_config(load_config(PACKAGE_CONFIGS / "mnist.yaml", ["pretrain.knn_every=1"]), run / "config.yaml")
    cell = "null" if figure is None else figure
    (run / "pretrain" / "metrics.jsonl").write_text(f'{{"epoch": 0, "loss": 1.0, "knn_top1": {cell}}}\n')
    (run / "pretrain" / "metadata.json").write_text(json.dumps({"metrics": {"knn_top1": None}}))
    assert "measured its features" not in _generic_closing_lines(run, "mnist")[0]
    (run / "pretrain" / "metrics.jsonl").write_text('{"epoch": 0, "loss": 1.0, "knn_top1": 61.0}\n')
    assert "the k-NN monitor above measured its features" in _generic_closing_lines(run, "mnist")[0]
