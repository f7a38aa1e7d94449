"""Performance review F5: the engine's checkpoint record (``checkpoints/last.json``) gave
``last.pt``'s SHA-256 by reading back the file just written (0.6 s for a 388 MiB checkpoint);
the bytes are now hashed as ``torch.save`` writes them. The digest is the file's."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from drac_ssl import run_state
from drac_ssl.checkpoint import load_checkpoint, save_checkpoint
from drac_ssl.engine import Engine, Monitor, TrainingTask
from drac_ssl.io import sha256_file


class _Task(TrainingTask):
    keys = ("loss",)
    watched = ("loss",)
    steps_per_epoch = 2
    pairs_per_step = 4

    def __init__(self) -> None:
        self.model = torch.nn.Linear(2, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)

    def batches(self, epoch: int) -> Iterator[torch.Tensor]:
        for _ in range(self.steps_per_epoch):
            yield torch.randn(4, 2)

    def step(self, batch: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        loss = self.model(batch).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])

    def best_state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict()}


def test_a_checkpoint_s_digest_as_written_is_its_file_s(tmp_path: Path) -> None:
    state = {"w": torch.randn(300_000), "history": [{"loss": 1.0}], "epoch": 3}
    digest = hashlib.sha256()
    path = save_checkpoint(tmp_path / "last.pt", state, digest=digest)
    assert digest.hexdigest() == sha256_file(path)
    assert torch.equal(load_checkpoint(path)["w"], state["w"])  # torch.save wrote it whole


def test_the_engine_s_record_is_not_read_back_from_last_pt(tmp_path: Path, monkeypatch) -> None:
    read_back: list[str] = []
    monkeypatch.setattr(run_state, "sha256_file", lambda p: read_back.append(Path(p).name) or sha256_file(p))
    Engine("toy", tmp_path, epochs=1, config={}, seed=0, monitor=Monitor("loss", mode="min")).run(_Task())
    last = tmp_path / "checkpoints" / "last.pt"
    record = json.loads((last.parent / run_state.CHECKPOINT_RECORD).read_text())
    assert read_back == []
    assert record["sha256"] == sha256_file(last) and record["bytes"] == last.stat().st_size
