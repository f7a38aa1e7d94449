"""What a killed or interrupted pretraining or UMM saved, told without torch from the record
the engine writes beside its checkpoint (``checkpoints/last.json``,
:func:`drac_ssl.run_state.checkpoint_saved`): the stage states, export's refusal and
report.md's "Read this first" and SSL section say it, and the next start's console."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drac_ssl.run_state import (
    CHECKPOINT_RECORD,
    checkpoint_saved,
    stage_states,
    unfinished_words,
    write_checkpoint_record,
)

DONE = {"status": "done", "seconds": 1.0, "finished_utc": "2026-01-01T00:00:00+00:00", "outputs": {}}


def _run(tmp_path: Path, pretrain_status: str = "running") -> Path:
    """A run folder whose ingest is done and whose pretraining was killed (its ``stages.json``
    entry left ``running``, as a kill -9 leaves it) or interrupted."""
    run = tmp_path / "killed-pt"
    run.mkdir()
    (run / "config.yaml").write_text("run:\n  stages: [ingest, pretrain, umm]\n")
    entry = {"status": pretrain_status, "started_utc": "2026-01-01T01:00:00+00:00", "attempts": 1,
             "seconds_earlier_attempts": 0}
    (run / "stages.json").write_text(json.dumps({"ingest": DONE, "pretrain": entry}))
    return run


ZIP_END = b"PK\x05\x06" + bytes(18)
"""An empty zip end-of-central-directory record: a torch.save checkpoint ends with one, and a
file without it reads as torn (drac_ssl.io.zip_ends_whole)."""


def _whole(size: int) -> bytes:
    """``size`` bytes that end as a whole checkpoint file does (:data:`ZIP_END`)."""
    return b"x" * (size - len(ZIP_END)) + ZIP_END


def _checkpoint(run: Path, stage: str = "pretrain", size: int = 4096) -> Path:
    last = run / stage / "checkpoints" / "last.pt"
    last.parent.mkdir(parents=True, exist_ok=True)
    last.write_bytes(_whole(size))
    return last


def _pretrain_words(run: Path) -> str:
    state = next(s for s in stage_states(run, check_lock=False) if s.stage == "pretrain")
    assert state.status in ("killed", "interrupted"), state
    return state.words()


def test_a_killed_pretraining_says_the_epoch_its_checkpoint_holds(tmp_path: Path) -> None:
    from drac_ssl.report import write_report

    run = _run(tmp_path)
    last = _checkpoint(run)
    record = write_checkpoint_record(last, epochs_done=7, epochs=20, step=175)
    assert record == last.with_name(CHECKPOINT_RECORD)
    fields = json.loads(record.read_text())
    assert fields["bytes"] == 4096 and fields["checkpoint"] == "last.pt" and fields["step"] == 175
    assert fields["epochs_done"] == 7 and fields["epochs_planned"] == 20 and fields["utc"].endswith("+00:00")
    saved = checkpoint_saved(run, "pretrain")
    assert saved.resumable and saved.then == "resumes from it with epoch 8", saved
    words = _pretrain_words(run)
    assert words.startswith(f"pretrain killed (last checkpoint at epoch 7 of 20, step 175, written {fields['utc']}: "
                            "pretrain/checkpoints/last.pt, 0.0 MiB; a rerun of its training command resumes from it "
                            "with epoch 8; its training ended without a word"), words
    what, fix = unfinished_words(run, "export")  # the export's refusal of the unfinished run
    assert "pretrain killed (last checkpoint at epoch 7 of 20, step 175" in what, what
    # the export's refusal quotes it: the rerun is of the training's command, not the export's
    assert "a rerun of its training command resumes from it with epoch 8" in what, what
    assert "a rerun of the same command" not in what, what
    assert "finish the run with its own command" in fix, fix
    text = write_report(run).read_text()
    assert "- Unfinished: pretrain killed (last checkpoint at epoch 7 of 20, step 175" in text, text
    ssl = text.split("## Self-supervised pretraining", 1)[1]
    assert "Killed (last checkpoint at epoch 7 of 20" in ssl and "resumes from it with epoch 8" in ssl, ssl
    # a UMM killed with its last epoch saved: the rerun finishes it from there
    write_checkpoint_record(_checkpoint(run, "umm", 2048), epochs_done=3, epochs=3, step=30)
    assert checkpoint_saved(run, "umm").what.startswith("training finished, completed all epochs: last "
                                                        "checkpoint at epoch 3 of 3, step 30")
    assert checkpoint_saved(run, "umm").then == "finishes the stage from it (no epoch is trained again)"
    write_checkpoint_record(run / "umm" / "checkpoints" / "last.pt", epochs_done=0, epochs=3, step=0,
                            stopped="the SSL loss rose")  # a guard kept the starting weights
    assert checkpoint_saved(run, "umm").what.startswith("training finished, the SSL loss rose: last "
                                                        "checkpoint at the starting weights, step 0")
    # a Ctrl-C in the monitors of epoch 7: they run first
    write_checkpoint_record(last, epochs_done=7, epochs=20, step=175, monitors_pending=True)
    assert checkpoint_saved(run, "pretrain").then == "resumes from it with epoch 8, after epoch 7's monitors"


def test_a_record_of_a_checkpoint_not_there_says_nothing_was_saved(tmp_path: Path) -> None:
    run = _run(tmp_path)
    last = _checkpoint(run)
    write_checkpoint_record(last, epochs_done=7, epochs=20, step=175)
    last.unlink()  # removed since (by hand), or never written by a fresh attempt
    saved = checkpoint_saved(run, "pretrain")
    assert not saved.resumable and saved.then == "starts the stage again", saved
    assert ("pretrain killed (no epoch saved: pretrain/checkpoints/last.json names epoch 7 of 20, but "
            "pretrain/checkpoints/last.pt is not there; a rerun of its training command starts the stage "
            "again; ") in _pretrain_words(run)
    # a checkpoint written after its record (a kill between the two writes): that epoch or later
    _checkpoint(run, size=5000)
    assert checkpoint_saved(run, "pretrain").what.startswith(
        "a checkpoint saved at epoch 7 of 20 or later: pretrain/checkpoints/last.pt, 0.0 MiB, written "
        "after its last.json")
    assert checkpoint_saved(run, "pretrain").resumable
    # the record never precedes its checkpoint
    with pytest.raises(OSError):
        write_checkpoint_record(run / "umm" / "checkpoints" / "last.pt", epochs_done=1, epochs=2, step=5)
    assert not (run / "umm" / "checkpoints" / CHECKPOINT_RECORD).exists()


@pytest.mark.parametrize("recorded", ["same", "older_record", "other_size", "none"])
def test_an_unreadable_checkpoint_is_said_so_not_resumed_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                recorded: str) -> None:
    """A last.pt that is there but cannot be read (no read permission) was described as
    "written after its last.json ... resumes from it", resumable: its ends' SHA-256 could not be
    read and counted as a mismatch. The rerun's resume reads it too and stops on it, so it is
    said so, with the file and the fix, whatever its record (the same one, an older drac_ssl's
    without ends_sha256, another size) or none. The tests run as root, whom chmod does not stop:
    opening it raises PermissionError here."""
    run = _run(tmp_path)
    last = _checkpoint(run, size=4096)
    if recorded != "none":
        write_checkpoint_record(last, epochs_done=7, epochs=20, step=175)
    record = last.with_name(CHECKPOINT_RECORD)
    if recorded == "older_record":
        fields = json.loads(record.read_text())
        del fields["ends_sha256"], fields["sha256"]
        record.write_text(json.dumps(fields))
    if recorded == "other_size":
        last.write_bytes(_whole(5000))
    opened = Path.open

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == last:
            raise PermissionError(13, "Permission denied", str(self))
        return opened(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    saved = checkpoint_saved(run, "pretrain")
    assert not saved.resumable and not saved.unrecorded, saved
    assert saved.what == ("a checkpoint that cannot be read: pretrain/checkpoints/last.pt, 0.0 MiB "
                          "(PermissionError: Permission denied)"), saved
    assert saved.then.startswith("stops on it, as it cannot read it either (fix: check the permissions of "
                                 f"{last}: "), saved
    assert "resumes" not in saved.words() and "written after" not in saved.words()
    assert "pretrain killed (a checkpoint that cannot be read: " in _pretrain_words(run)
    monkeypatch.setattr(Path, "open", opened)  # readable again: resumed from as before
    assert checkpoint_saved(run, "pretrain").resumable


@pytest.mark.parametrize("status", ["running", "interrupted"])
def test_without_a_record_nothing_saved_or_an_older_runs_unknown_epoch(tmp_path: Path, status: str) -> None:
    """No record and no checkpoint: nothing saved. A checkpoint without a record: a run folder
    of a drac_ssl older than the record, its epoch unknown (torch is not loaded to read it)."""
    run = _run(tmp_path, status)
    assert (f"pretrain {'killed' if status == 'running' else 'interrupted'} (no epoch saved; a rerun of its "
            f"training command starts the stage again") in _pretrain_words(run)
    _checkpoint(run)
    saved = checkpoint_saved(run, "pretrain")
    assert saved.resumable and saved.unrecorded and saved.what == (
        "a checkpoint saved, its epoch unknown: pretrain/checkpoints/last.pt, 0.0 MiB, made by a drac_ssl "
        "that wrote no last.json beside it"), saved
    assert "its epoch unknown" in _pretrain_words(run)
    # an interrupted stage whose Ctrl-C said what it saved keeps those words
    if status == "interrupted":
        stages = json.loads((run / "stages.json").read_text())
        stages["pretrain"]["saved"] = "epoch 6 of 20 saved"
        (run / "stages.json").write_text(json.dumps(stages))
        assert _pretrain_words(run) == "pretrain interrupted (epoch 6 of 20 saved)"


def test_the_record_is_read_without_torch() -> None:
    """run_state is imported by the light commands (the app, --help): no torch."""
    import subprocess
    import sys

    code = ("import sys, drac_ssl.run_state as r; r.checkpoint_saved('.', 'pretrain'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", out


def test_what_the_rerun_does_is_judged_by_the_epochs_it_is_given(tmp_path: Path) -> None:
    """An unfinished stage's epochs may change on the rerun, and the engine resumes to the
    count given now (Engine.resume, Engine.run: epochs done + 1 to the new count, none when it
    holds that many): the words follow that count, not the killed attempt's."""
    run = _run(tmp_path)
    last = _checkpoint(run)
    # every planned epoch saved, the rerun given 30: epochs 21 to 30 are trained
    write_checkpoint_record(last, epochs_done=20, epochs=20, step=500)
    assert checkpoint_saved(run, "pretrain").then == "finishes the stage from it (no epoch is trained again)"
    more = checkpoint_saved(run, "pretrain", epochs=30)
    assert more.then == "resumes from it with epoch 21 of the 30 now set", more
    assert more.what.startswith("last checkpoint at epoch 20 of 20, step 500"), more  # not "training finished"
    assert checkpoint_saved(run, "pretrain", epochs=20).then == checkpoint_saved(run, "pretrain").then
    # 7 of 20 saved, the rerun given 5: nothing is trained, the stage ends on those 7
    write_checkpoint_record(last, epochs_done=7, epochs=20, step=175)
    fewer = checkpoint_saved(run, "pretrain", epochs=5)
    assert fewer.then == "finishes the stage from it (no epoch is trained: it holds 7 epochs, more than the 5 now " \
                         "set)", fewer
    assert checkpoint_saved(run, "pretrain", epochs=7).then == ("finishes the stage from it (no epoch is trained: "
                                                                "it holds the 7 epochs now set)")
    assert checkpoint_saved(run, "pretrain", epochs=20).then == "resumes from it with epoch 8"
    # an early stop trains no more whatever the count
    write_checkpoint_record(last, epochs_done=7, epochs=20, step=175, stopped="no improvement for 3 epochs")
    assert checkpoint_saved(run, "pretrain", epochs=30).then == "finishes the stage from it (no epoch is trained again)"


def test_a_later_checkpoint_of_the_same_size_is_not_taken_for_the_record_s(tmp_path: Path) -> None:
    """The record was matched to last.pt by its size alone, and every epoch's torch.save of
    the same model is the same size to the byte: a kill between last.pt and last.json left
    the old record's words ("epoch 7, resumes with epoch 8") on an epoch-8 checkpoint. Its
    ends' SHA-256 (drac_ssl.io.ends_sha256) now tells them apart; a record without it (an
    older drac_ssl's) is still matched by its size."""
    run = _run(tmp_path)
    last = _checkpoint(run, size=3 * 2**20)  # longer than the two ends read
    write_checkpoint_record(last, epochs_done=7, epochs=20, step=175)
    assert checkpoint_saved(run, "pretrain").then == "resumes from it with epoch 8"
    for at in (0, 3 * 2**20 - 1 - len(ZIP_END)):  # a later last.pt of the same size, differing at either end
        data = bytearray(_whole(3 * 2**20))
        data[at] = ord("y")
        last.write_bytes(bytes(data))
        saved = checkpoint_saved(run, "pretrain")
        assert saved.what.startswith("a checkpoint saved at epoch 7 of 20 or later: pretrain/checkpoints/last.pt, "
                                     "3.0 MiB, written after its last.json") and saved.resumable, saved
    # an older drac_ssl's record (no ends_sha256, no sha256): its size alone, as before
    record = last.with_name(CHECKPOINT_RECORD)
    fields = json.loads(record.read_text())
    del fields["ends_sha256"], fields["sha256"]
    record.write_text(json.dumps(fields))
    assert checkpoint_saved(run, "pretrain").then == "resumes from it with epoch 8"


@pytest.mark.parametrize("recorded", [True, False])
def test_a_torn_checkpoint_is_not_promised_as_resumable_and_says_what_to_delete(tmp_path: Path,
                                                                                recorded: bool) -> None:
    """A reliability review (F5): a truncated last.pt was said "the killed attempt left a
    checkpoint ... this attempt resumes from it", then the resume stopped on it with "use the
    previous checkpoint", which does not exist. A last.pt that is not a whole file (its zip end
    record missing) is now torn or altered, not resumable, with the file to delete."""
    run = _run(tmp_path)
    last = _checkpoint(run, size=8192)
    if recorded:
        write_checkpoint_record(last, epochs_done=7, epochs=20, step=175)
    with open(last, "r+b") as fh:
        fh.truncate(5000)
    saved = checkpoint_saved(run, "pretrain")
    assert not saved.resumable and not saved.unrecorded, saved
    assert saved.what == ("a checkpoint torn or altered: pretrain/checkpoints/last.pt, 5000 bytes"
                          + (", not the 8192 bytes its last.json records" if recorded else "")
                          + ", and not a whole file (its end record is missing)"), saved
    assert saved.then == (f"will not resume from it: it stops on it (fix: delete it: rm {last}; the "
                          f"rerun of the same command then starts the stage again from epoch 1)")
    assert "resumes from it" not in _pretrain_words(run)


def test_a_checkpoint_altered_in_its_middle_is_not_resumed_from(tmp_path: Path) -> None:
    """An interruption review (F3): 4 KiB overwritten in the middle of last.pt kept its size
    and its first and last MiB, so the ends' SHA-256 matched and the rerun "resumes from it
    with epoch 3", silently, with other weights and figures. The record now holds the whole
    file's SHA-256: same size and ends but another whole-file hash is an altered checkpoint,
    not resumable, with the fix; a later checkpoint (other ends) is still "written after"; a
    record of an older drac_ssl (ends' SHA-256 only) is checked as it was and says nothing new."""
    from drac_ssl.run_state import altered_checkpoint

    run = _run(tmp_path)
    size = 3 * 2**20
    last = _checkpoint(run, size=size)
    write_checkpoint_record(last, epochs_done=2, epochs=4, step=8)
    assert altered_checkpoint(last) is None
    data = bytearray(last.read_bytes())
    data[size // 2:size // 2 + 4096] = b"\0" * 4096  # the middle: outside both ends' MiB
    last.write_bytes(bytes(data))
    saved = checkpoint_saved(run, "pretrain")
    assert not saved.resumable, saved
    assert saved.what == ("a checkpoint altered since it was written: pretrain/checkpoints/last.pt, 3.0 MiB, "
                          "whose SHA-256 is not the one its last.json records (its size and ends are the same)")
    assert saved.then == f"will not resume from it: it stops on it (fix: delete it: rm {last}; the rerun of the " \
                         f"same command then starts the stage again from epoch 1)"
    said = altered_checkpoint(last)
    assert said is not None and said.startswith(f"{last}: altered since it was written"), said
    # a later checkpoint (its first bytes differ too) is not called altered
    data[0] = ord("z")
    last.write_bytes(bytes(data))
    assert altered_checkpoint(last) is None
    assert checkpoint_saved(run, "pretrain").what.startswith("a checkpoint saved at epoch 2 of 4 or later")
    # an older drac_ssl's record (no sha256): its ends, as before: the middle change goes unseen
    data[0] = ord("x")
    last.write_bytes(bytes(data))
    record = last.with_name(CHECKPOINT_RECORD)
    fields = json.loads(record.read_text())
    del fields["sha256"]
    record.write_text(json.dumps(fields))
    assert altered_checkpoint(last) is None
    assert checkpoint_saved(run, "pretrain").then == "resumes from it with epoch 3"


def test_a_status_command_hashes_an_unchanged_checkpoint_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F4: ``python -m drac_ssl.report`` on a killed run read its 128 MiB last.pt whole
    7 times (1.3 s), one SHA-256 per place that says the stage. The hash is now kept in the
    process per file and stat: two reads of an unchanged file hash it once; a changed file (a
    new mtime) is hashed again, and a file written just now every time (a coarse clock)."""
    import os

    from drac_ssl import run_state

    run = _run(tmp_path)
    size = 3 * 2**20  # more than its two ends' MiB, so the whole file's hash tells the change
    last = _checkpoint(run, size=size)
    write_checkpoint_record(last, epochs_done=2, epochs=4, step=8)
    hashed: list[Path] = []
    real = run_state.sha256_file

    def counted(path: Any) -> str:
        hashed.append(Path(path))
        return real(path)

    monkeypatch.setattr(run_state, "sha256_file", counted)
    checkpoint_saved(run, "pretrain")  # written just now: not kept
    checkpoint_saved(run, "pretrain")
    assert len(hashed) == 2
    an_hour_ago = last.stat().st_mtime_ns - 3600 * 10**9
    os.utime(last, ns=(an_hour_ago, an_hour_ago))
    hashed.clear()
    first = checkpoint_saved(run, "pretrain")
    assert checkpoint_saved(run, "pretrain") == first and first.resumable
    assert hashed == [last]  # once for both
    data = bytearray(last.read_bytes())
    data[size // 2] ^= 0xFF  # the middle, same size
    last.write_bytes(bytes(data))
    os.utime(last, ns=(an_hour_ago + 10**9, an_hour_ago + 10**9))
    hashed.clear()
    assert not checkpoint_saved(run, "pretrain").resumable  # altered: seen, not the kept hash
    assert hashed == [last]
