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
    assert "% at epoch 1 of 1 (the k-NN monitor; " in lines[1] and "final loss " in lines[1], lines[1]
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
    assert "Next" not in report.split("## Read this first")[1].split("## ")[0], "not a warning"
    assert "the k-NN monitor above measured its features" in report
    assert not (run / "report").exists(), "no figure is drawn for a pretraining-only run"
    assert "confusion" not in report and "`report/`" not in report
    # the saved configuration says which of its settings a generic data set does not apply
    second = (run / "config.yaml").read_text(encoding="utf-8").splitlines()[1]
    assert second.startswith("# data.dataset=mnist: the pretraining learns from its training split alone"), second
    assert "pretrain.use_test_images" in second


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
    save_config(load_config(PACKAGE_CONFIGS / "default.yaml", ["run.stages=[ingest,pretrain]"]), run / "config.yaml")
    (run / "pretrain" / "backbone.safetensors").write_bytes(b"")
    argv = ["python", "-m", "drac_ssl.train", "-c", "configs/default.yaml", "run.stages=[ingest,pretrain]"]
    (run / "invocations.jsonl").write_text(json.dumps({"tool": "drac_ssl.train", "argv": argv,
                                                       "cwd": str(tmp_path)}) + "\n")
    step = next_step(run, in_file=True)
    assert step is not None
    assert step.command == (f"cd {tmp_path} && python -m drac_ssl.train -c configs/default.yaml "
                            f"run.stages=[ingest,pretrain,finetune,export]"), step.command
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
