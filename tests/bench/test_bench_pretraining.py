"""The correctness benches' pretraining (bench/pretraining.py) on tiny data, driven through
``bench.cifar10_vicreg.main`` (CPU, seconds; the data and the evaluation are faked)."""

from __future__ import annotations

import json
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
