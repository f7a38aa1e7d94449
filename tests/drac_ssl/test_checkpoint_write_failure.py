"""A checkpoint write that fails (a full disk, ``ulimit -f``) and a torn ``last.pt`` at resume
(a reliability review, F4 and F5): torch's raw ``[enforce fail at inline_container.cc:672] .
unexpected pos`` traceback, and "use the previous checkpoint" where none exists, are now said
with the file, the cause and the step that works."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest
import torch

from drac_ssl import checkpoint
from drac_ssl.checkpoint import (
    CheckpointReadError,
    CheckpointWriteError,
    load_checkpoint,
    save_checkpoint,
)
from drac_ssl.engine import Engine, Monitor
from drac_ssl.io import NO_SPACE_WORDS
from drac_ssl.run_state import write_checkpoint_record


def _state(epoch: int) -> dict[str, Any]:
    return {"epoch": epoch, "model": {"w": torch.zeros(64)}}


@pytest.mark.parametrize("failure", [
    RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 25889984 vs 25889880"),
    OSError(errno.EFBIG, "File too large"),
    OSError(errno.ENOSPC, "No space left on device"),
])
def test_a_full_disk_is_said_with_the_file_and_the_earlier_checkpoint_stays(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception) -> None:
    last = save_checkpoint(tmp_path / "checkpoints" / "last.pt", _state(3))
    written = last.read_bytes()

    def full(state: dict[str, Any], path: Any) -> None:
        Path(path).write_bytes(b"PK\x03\x04 half a zip")  # torch writes, then fails
        raise failure

    monkeypatch.setattr(checkpoint.torch, "save", full)
    with pytest.raises(CheckpointWriteError) as refused:
        save_checkpoint(last, _state(4))
    said = str(refused.value)
    assert said.startswith(f"{last}: the checkpoint could not be written: {NO_SPACE_WORDS} (")
    assert "last.pt there is the earlier complete one, kept as it was" in said
    assert "\n  fix: free space on that disk" in said and "rerun the same command: it resumes" in said
    assert last.read_bytes() == written  # no torn last.pt
    assert [p.name for p in last.parent.iterdir()] == ["last.pt"]  # the temporary file is gone
    with pytest.raises(CheckpointWriteError, match=r"no best.pt was left"):
        save_checkpoint(last.with_name("best.pt"), _state(4))


def test_another_runtime_error_keeps_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(state: dict[str, Any], path: Any) -> None:
        raise RuntimeError("a tensor on a meta device")

    monkeypatch.setattr(checkpoint.torch, "save", bug)
    with pytest.raises(RuntimeError, match="meta device") as raised:
        save_checkpoint(tmp_path / "last.pt", _state(1))
    assert not isinstance(raised.value, CheckpointWriteError)


def test_the_resume_of_a_torn_last_pt_says_what_to_delete(tmp_path: Path) -> None:
    folder = tmp_path / "pretrain" / "checkpoints"
    last = save_checkpoint(folder / "last.pt", _state(3))
    write_checkpoint_record(last, epochs_done=4, epochs=10, step=40)
    size = last.stat().st_size
    with open(last, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(CheckpointReadError) as plain:
        load_checkpoint(last)
    assert "previous checkpoint" not in str(plain.value)
    engine = Engine("pretrain", folder.parent, epochs=10, monitor=Monitor("loss"), config={}, seed=0)
    with pytest.raises(CheckpointReadError) as refused:
        engine.resume(task=None)  # type: ignore[arg-type]  # stops before the task is touched
    said = str(refused.value)
    assert said.startswith(f"{last}: cannot be read as a drac_ssl checkpoint")
    assert f"\n  fix: delete it: rm {last}; the rerun of the same command then starts the stage again from epoch 1" in said
    assert f"last.pt holds {size // 2} bytes, not the {size} its last.json records: torn or altered" in said


def test_the_resume_refuses_a_last_pt_altered_in_its_middle(tmp_path: Path) -> None:
    """An interruption review (F3): a last.pt whose middle was overwritten (same size, same
    first and last MiB) loads without error in torch, which checks no CRC, and was resumed
    from; the engine now compares it with its record's whole-file SHA-256 first."""
    folder = tmp_path / "pretrain" / "checkpoints"
    last = save_checkpoint(folder / "last.pt", {"epoch": 1, "model": {"w": torch.zeros(2**20)}})  # 4 MiB
    write_checkpoint_record(last, epochs_done=2, epochs=4, step=8)
    with open(last, "r+b") as fh:
        fh.seek(last.stat().st_size // 2)
        fh.write(b"\xff" * 4096)
    assert load_checkpoint(last)["epoch"] == 1  # torch reads it: only the record tells
    engine = Engine("pretrain", folder.parent, epochs=4, monitor=Monitor("loss"), config={}, seed=0)
    with pytest.raises(CheckpointReadError) as refused:
        engine.resume(task=None)  # type: ignore[arg-type]  # stops before the task is touched
    said = str(refused.value)
    assert said.startswith(f"{last}: altered since it was written: its SHA-256 is not the one its last.json records")
    assert f"\n  fix: delete it: rm {last}; the rerun of the same command then starts the stage again" in said
