"""The correctness benches' pretraining (bench/pretraining.py) on tiny data, driven through
``bench.cifar10_vicreg.main`` (CPU, seconds; the data and the evaluation are faked)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from bench import cifar10_vicreg
from drac_ssl import pretrain

TINY = ["run.device=cpu", "pretrain.batch_size=4", "pretrain.expander=32-32", "pretrain.compile=false",
        "pretrain.knn_every=0", "pretrain.num_workers=0", "pretrain.checkpoint_every=1",
        "pretrain.warmup_epochs=0", "pretrain.max_steps_per_epoch=1"]


@pytest.fixture
def tiny_cifar(monkeypatch: pytest.MonkeyPatch) -> None:
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    monkeypatch.setattr(pretrain, "load_pretrain_data", lambda *a, **k: pretrain.PretrainData(
        images=images, description="random test images"))
    split = SimpleNamespace(images=images, labels=np.arange(8) % 2)
    monkeypatch.setattr(cifar10_vicreg, "eval_splits", lambda *a, **k: (split, split))
    probe = SimpleNamespace(top1=50.0, lr=0.1, epochs=1)
    monkeypatch.setattr(cifar10_vicreg, "evaluate_backbone", lambda *a, **k: {
        "knn_top1_k20": 50.0, "knn_top1_k200": 50.0, "probe": probe})


def _run(tmp_path: Path, epochs: int, *extra: str) -> dict[str, Any]:
    cifar10_vicreg.main(["--epochs", str(epochs), "--run-dir", str(tmp_path / "run"), "--out-dir",
                         str(tmp_path / "out"), "--name", "t", *extra, *TINY])
    return json.loads((tmp_path / "out" / "t.json").read_text(encoding="utf-8"))


def test_a_finished_pretraining_is_not_extended_with_more_epochs(
        tmp_path: Path, tiny_cifar: None, capsys: pytest.CaptureFixture[str]) -> None:
    """pretrain.run alone resumed a finished run with more epochs, restarting the cosine
    schedule (its lr jumps back up); drac_ssl.train refuses that, and so do the benches."""
    first = _run(tmp_path, 1)
    assert first["epochs"] == 1
    with pytest.raises(SystemExit) as stop:
        _run(tmp_path, 2)
    message = str(stop.value)
    assert "pretrain.epochs: 1 -> 2" in message and "--epochs 1" in message and "--run-dir" in message
    history = (tmp_path / "run" / "pretrain" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(history) == 1  # nothing was trained


def test_a_resumed_or_reused_pretraining_says_so_with_the_earlier_attempts_time(
        tmp_path: Path, tiny_cifar: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench timed only its own invocation: a rerun on a finished run folder recorded 3 s
    and the 100-epochs-in-240-s goal met."""
    from drac_ssl.runtime import StageInterrupted

    real = pretrain.run

    def cut(cfg: Any, run_dir: Any, data: Any = None) -> Any:
        real(cfg, run_dir, data=data, stop_after_epoch=0)
        raise StageInterrupted("epoch 1 of 2 saved", "resume from epoch 2")

    monkeypatch.setattr(pretrain, "run", cut)
    with pytest.raises(SystemExit):  # a Ctrl-C
        _run(tmp_path, 2)
    monkeypatch.setattr(pretrain, "run", real)
    resumed = _run(tmp_path, 2)
    assert resumed["resumed"] is True
    pre = resumed["pretraining"]
    assert pre["resumed"] is True and pre["reused"] is False and pre["attempts"] == 2
    assert pre["seconds_earlier_attempts"] > 0 and pre["epochs_run"] == 2
    again = _run(tmp_path, 2)
    assert again["pretraining"]["reused"] is True and again["pretraining"]["attempts"] == 3
    assert again["pretraining"]["seconds_earlier_attempts"] >= pre["seconds_earlier_attempts"]


def test_a_pretraining_started_over_owes_nothing_to_earlier_attempts_and_unknown_stays_unknown(
        tmp_path: Path, tiny_cifar: None) -> None:
    """A read-through: with pretrain/ removed to start over, the fresh run was credited with
    the deleted one's attempts and seconds; an unknown earlier time (null) became a number."""
    import shutil

    from bench import pretraining

    _run(tmp_path, 1)
    run_dir = tmp_path / "run"
    shutil.rmtree(run_dir / "pretrain")
    fresh = _run(tmp_path, 1)["pretraining"]
    assert fresh["resumed"] is False and fresh["attempts"] == 1 and fresh["seconds_earlier_attempts"] == 0
    # a finished run whose record says its earlier time is unknown: reused, still unknown
    record = run_dir / pretraining.ATTEMPTS_FILE
    record.write_text(json.dumps({**json.loads(record.read_text()), "seconds_earlier_attempts": None}))
    again = _run(tmp_path, 1)["pretraining"]
    assert again["reused"] is True and again["seconds_earlier_attempts"] is None and again["attempts"] == 2


def test_the_speed_goal_is_judged_only_on_a_fresh_full_pretraining() -> None:
    from bench.pretraining import speed_goal

    def run(resumed: bool, reused: bool) -> Any:
        return SimpleNamespace(resumed=resumed, reused=reused)

    assert speed_goal(True, 100, 100, [], run(False, False)) is True
    for resumed, reused in ((True, False), (True, True)):
        verdict = speed_goal(True, 100, 100, [], run(resumed, reused))
        assert isinstance(verdict, str) and verdict.startswith("not applicable"), (resumed, reused)
    assert speed_goal(True, 1, 100, ["1 epoch(s), not 100"], run(False, False)).startswith("not applicable")


def test_the_result_names_the_epoch_whose_weights_were_evaluated(tmp_path: Path, tiny_cifar: None) -> None:
    """The evaluated weights are best.pt's (lowest loss), e.g. epoch 98 of 100, but the JSON
    said only 'epochs 100'."""
    record = _run(tmp_path, 2)
    meta = json.loads((tmp_path / "run" / "pretrain" / "metadata.json").read_text(encoding="utf-8"))
    assert record["epochs"] == 2
    assert record["evaluated_epoch"] == meta["best_epoch"] + 1
    assert "best.pt" in record["evaluated_checkpoint"]
    assert record["pretraining"]["evaluated_epoch"] == record["evaluated_epoch"]


def test_ctrl_c_says_what_was_saved_and_to_rerun_the_same_command(
        tmp_path: Path, tiny_cifar: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A Ctrl-C ended in a traceback (drac_ssl.runtime.StageInterrupted: epoch 2 of 3 saved)
    without 'rerun the same command to resume'."""
    from drac_ssl.runtime import StageInterrupted

    def cut(*a: Any, **k: Any) -> Any:
        raise StageInterrupted("epoch 2 of 3 saved", "resume from epoch 3")

    monkeypatch.setattr(pretrain, "run", cut)
    with pytest.raises(SystemExit) as stop:
        _run(tmp_path, 3)
    assert stop.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted in pretrain (epoch 2 of 3 saved); rerun the same command to resume from epoch 3" in err
    assert "Traceback" not in err


def test_a_bench_stopped_by_sigterm_ends_as_a_ctrl_c_does(capsys: pytest.CaptureFixture[str]) -> None:
    """``kill`` (or a batch system's pre-emption) used to end a bench outright, without the
    line that says what was saved; it now ends as a Ctrl-C does (exit 130, the resume line),
    and the previous SIGTERM handler is given back."""
    import os
    import signal

    from bench.pretraining import run_bench_main

    before = signal.getsignal(signal.SIGTERM)

    def killed(argv: list[str] | None) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal arrives first
        raise AssertionError("SIGTERM was not turned into KeyboardInterrupt")

    with pytest.raises(SystemExit) as stop:
        run_bench_main(killed, [])
    assert stop.value.code == 130
    assert "interrupted: rerun the same command" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before


def test_evaluate_backbone_refuses_non_finite_features_with_the_backbone_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """NaN features gave a ``nan%`` k-NN and a believable linear-probe figure (one class for every
    row: 50.0 on two balanced classes): the bench refuses them, naming the backbone's file, as
    bench.umm_ablation does."""
    import torch

    from drac_ssl.config import PACKAGE_CONFIGS, load_config

    monkeypatch.setattr(cifar10_vicreg, "build_backbone", lambda *a, **k: torch.nn.Identity())
    monkeypatch.setattr(cifar10_vicreg, "load_local_weights", lambda *a, **k: None)
    monkeypatch.setattr(cifar10_vicreg, "embed_images", lambda body, images, *a, **k: torch.full((len(images), 4), float("nan")))
    split = SimpleNamespace(images=np.zeros((6, 32, 32, 3), dtype=np.uint8), labels=np.arange(6) % 2)
    cfg = load_config(PACKAGE_CONFIGS / "cifar10.yaml", ["pretrain.backbone.arch=resnet18"])
    with pytest.raises(ValueError, match=r"^/runs/x/backbone\.safetensors: its features of the 12 images hold NaN or inf"):
        cifar10_vicreg.evaluate_backbone(cfg, "/runs/x/backbone.safetensors", split, split, torch.device("cpu"),
                                         probe_epochs=1)
