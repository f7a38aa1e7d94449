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
from drac_ssl.engine import Engine, Monitor, TrainingTask
from drac_ssl.io import NO_SPACE_WORDS, bytes_words
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

    def full(state: dict[str, Any], fh: Any) -> None:
        fh.write(b"PK\x03\x04 half a zip")  # torch writes, then fails
        raise failure

    monkeypatch.setattr(checkpoint.torch, "save", full)
    with pytest.raises(CheckpointWriteError) as refused:
        save_checkpoint(last, _state(4))
    said = str(refused.value)
    assert said.startswith(f"{last}: the checkpoint could not be written: {NO_SPACE_WORDS} (")
    assert "last.pt there is the earlier complete one, kept as it was" in said
    assert "; it needs about 66.3 kB (66,304 bytes) for this file, " in said and f" free in {last.parent} now; " in said
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


def test_a_full_disk_closes_the_temporary_file_and_names_the_checkpoint_with_its_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interruption review (F5): on a full disk torch's writer, given a path, kept the removed
    temporary file open, so its blocks stayed taken; the next small write (stages.json) failed
    and its error named that file, with no size, on the rerun too. The checkpoint is now written
    through a file object of our own, closed on the failure, and the error names last.pt, the
    system's ENOSPC (not torch's "unexpected pos") and the room it needs against what is free."""
    opened: list[Any] = []

    def full(state: dict[str, Any], fh: Any) -> None:
        opened.append(fh)
        fh.write(b"PK\x03\x04 half a zip")
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:  # as torch's zip writer raises it: the OSError its context
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598") from None

    monkeypatch.setattr(checkpoint.torch, "save", full)
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda p: shutil_usage(free=1000))
    last = tmp_path / "checkpoints" / "last.pt"
    with pytest.raises(CheckpointWriteError) as refused:
        save_checkpoint(last, {"model": {"w": torch.zeros(2**20)}})  # 4 MiB
    assert opened and opened[0].closed  # its blocks are given back at once
    said = str(refused.value)
    assert said.startswith(f"{last}: the checkpoint could not be written: {NO_SPACE_WORDS} (OSError: [Errno 28] "
                           f"No space left on device); it needs about 4.3 MB (4,260,352 bytes) for this file, "
                           f"1.0 kB (1,000 bytes) free in {last.parent} now; no last.pt was left"), said
    assert "\n  fix: free 4.3 MB (4,259,352 bytes) or more on that disk" in said


def shutil_usage(free: int) -> Any:
    import shutil

    return shutil._ntuple_diskusage(10 * free + 10**12, 0, free)  # type: ignore[attr-defined]


class _Task(TrainingTask):
    """The three methods of a training task Engine.check_room reads: a 4 MB model whose Adam
    has no state yet (before its first step), its best.pt's weights and, with ``peak``, a
    monitor_peak.pt of them (pretraining's)."""

    model = {"weight": torch.zeros(1000, 1000), "bias": torch.zeros(1000)}

    def __init__(self, peak: bool = False) -> None:
        self.peak = peak

    def state_dict(self) -> dict[str, Any]:  # an optimiser's state_dict() before its first step
        return {"model": self.model, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}}

    def best_state(self) -> dict[str, Any]:
        return {"model": self.model}

    def extra_checkpoints(self) -> dict[str, dict[str, Any]]:
        return {"monitor_peak.pt": {"model": self.model}} if self.peak else {}


# the estimates of _Task's files (checkpoint_file_bytes: tensors, 512 bytes each and 64 KiB): last.pt
# 4,070,560 + 2 x 4,004,000 = 12,078,560 bytes, best.pt (and monitor_peak.pt) 4,070,560
NEED = 2 * 12_078_560 + 4_070_560  # 28,227,680: last.pt twice and best.pt
NEED_PEAK = NEED + 4_070_560  # 32,298,240: and monitor_peak.pt


@pytest.mark.parametrize("free", [10**9, 20 * 10**6, 3 * 10**6])
def test_before_training_the_disk_is_compared_with_what_the_checkpoints_need(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], free: int) -> None:
    """Review F5: nothing said before a 128 MiB checkpoint filled a 180 MB disk. The engine now
    estimates the checkpoints (the model's 4.0 MB, Adam's two moments: last.pt 12.1 MB, written
    beside the one before it, and best.pt 4.1 MB: 28.2 MB at the peak) before training: a
    warning when less is free, never a refusal (review F3: root writes into ext4's reserved
    blocks, which the free space seen leaves out; a write that fails says so itself)."""
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda p: shutil_usage(free=free))
    engine = Engine("pretrain", tmp_path / "pretrain", epochs=4, monitor=Monitor("loss"), config={}, seed=0)
    engine.check_room(_Task())
    out = capsys.readouterr().out
    if free > 10**8:
        assert out == ""
        return
    assert out.startswith(f"[pretrain] warning: {engine.ckpt_dir}: the disk may be too small for the checkpoints: "
                          f"last.pt takes about 12.1 MB (12,078,560 bytes) for the model and its optimiser's "
                          f"state, written beside the one before it, and best.pt about 4.1 MB (4,070,560 bytes): "
                          f"about 28.2 MB (28,227,680 bytes) more at their peak, "), out
    assert f"fix: free {bytes_words(NEED - free)} or more on that disk" in out


def test_the_estimate_counts_the_tasks_own_checkpoints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F1: pretraining's monitor_peak.pt (45 MB in the tiny configuration) was left out,
    so a disk with room for last.pt twice and best.pt, not for it, got no warning and the
    second epoch failed. Free space between the two estimates now warns, with the peak's file."""
    free = (NEED + NEED_PEAK) // 2
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda p: shutil_usage(free=free))
    engine = Engine("pretrain", tmp_path / "pretrain", epochs=4, monitor=Monitor("loss"), config={}, seed=0)
    engine.check_room(_Task())
    assert capsys.readouterr().out == ""  # without the peak's file: room enough
    engine.check_room(_Task(peak=True))
    out = capsys.readouterr().out
    assert "best.pt about 4.1 MB (4,070,560 bytes) and monitor_peak.pt about 4.1 MB (4,070,560 bytes): " \
           "about 32.3 MB (32,298,240 bytes) more at their peak" in out, out
    assert f"fix: free {bytes_words(NEED_PEAK - free)} or more on that disk" in out
    # files already there count as held: a rerun beside them needs that much less
    save_checkpoint(engine.ckpt_dir / "monitor_peak.pt", {"model": _Task.model})
    held = (engine.ckpt_dir / "monitor_peak.pt").stat().st_size
    assert checkpoint.checkpoint_room(engine.ckpt_dir, _Task().state_dict(), _Task().best_state(),
                                      _Task(peak=True).extra_checkpoints()).need == NEED_PEAK - held


def test_a_full_disk_says_the_stages_peak_as_the_warning_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F2: the error's fix freed room for one last.pt (its tensors only), so following it
    failed again at monitor_peak.pt, and its figure was not the warning's. A full disk now
    names this file's size and the stage's checkpoints' at their peak, and frees the latter."""
    free = 10**6
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda p: shutil_usage(free=free))
    engine = Engine("pretrain", tmp_path / "pretrain", epochs=4, monitor=Monitor("loss"), config={}, seed=0)
    task = _Task(peak=True)
    engine.check_room(task)
    warned = capsys.readouterr().out

    def full(state: dict[str, Any], fh: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    with pytest.raises(CheckpointWriteError) as refused:
        save_checkpoint(engine.ckpt_dir / "monitor_peak.pt", {"model": task.model}, room=lambda: engine.room(task))
    said = str(refused.value)
    assert ("; it needs about 4.1 MB (4,070,560 bytes) for this file, 32.3 MB (32,298,240 bytes) for the "
            "stage's checkpoints still to be written, at their peak (last.pt twice, best.pt and monitor_peak.pt), "
            "1.0 MB") in said, said
    fix = f"free {bytes_words(NEED_PEAK - free)} or more on that disk"
    assert f"\n  fix: {fix} (or raise" in said and f"fix: {fix}, or run in a folder" in warned


def test_the_file_estimate_covers_a_real_checkpoint(tmp_path: Path) -> None:
    """The margin over the tensors (measured 0.05 to 0.10% on the tiny configuration's
    checkpoints, about 330 bytes a tensor) covers a written file of many small tensors and
    of one large one, with a history pickled beside them."""
    history = [{"epoch": e, "loss": 1.0 / (e + 1), "lr": 0.1} for e in range(200)]
    for tensors in ({f"t{i}": torch.zeros(16) for i in range(300)}, {"w": torch.zeros(2**20)}):
        state = {"model": tensors, "history": history}
        size = save_checkpoint(tmp_path / "last.pt", state).stat().st_size
        estimate = checkpoint.checkpoint_file_bytes(state)
        assert checkpoint.tensor_bytes(state) < size <= estimate


def test_a_full_disk_lists_only_the_checkpoints_still_to_be_written(tmp_path: Path) -> None:
    """A low-resource tester: with last.pt and best.pt written, a full disk at monitor_peak.pt
    still counted "last.pt twice, best.pt and monitor_peak.pt"; the figure held their bytes, the
    words did not."""
    task = _Task(peak=True)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    room = checkpoint.checkpoint_room(folder, task.state_dict(), task.best_state(), task.extra_checkpoints())
    assert room.files() == "last.pt twice, best.pt and monitor_peak.pt"
    save_checkpoint(folder / "last.pt", task.state_dict())
    save_checkpoint(folder / "best.pt", {"model": task.model})
    room = checkpoint.checkpoint_room(folder, task.state_dict(), task.best_state(), task.extra_checkpoints())
    assert room.files() == "last.pt and monitor_peak.pt"


def test_a_full_disk_at_a_new_best_lists_the_file_being_written(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """best.pt and monitor_peak.pt are written again at each new best: a full disk at best.pt,
    with all three there, listed only "last.pt" as still to be written."""
    task = _Task(peak=True)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ("last.pt", "best.pt", "monitor_peak.pt"):
        save_checkpoint(folder / name, {"model": task.model})

    def full(state: dict[str, Any], fh: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    def room() -> checkpoint.CheckpointRoom:
        return checkpoint.checkpoint_room(folder, task.state_dict(), task.best_state(), task.extra_checkpoints())

    with pytest.raises(CheckpointWriteError) as refused:
        save_checkpoint(folder / "best.pt", {"model": task.model}, room=room)
    assert "at their peak (last.pt and best.pt)" in str(refused.value), str(refused.value)
    assert room().files() == "last.pt" and room().files("monitor_peak.pt") == "last.pt and monitor_peak.pt"
