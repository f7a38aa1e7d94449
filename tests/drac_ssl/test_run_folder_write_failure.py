"""A file of the run folder that cannot be written: a full disk (``ENOSPC``) at a JSON record or
at console.log, a read-only disk or no permission at console.log. ``python -m drac_ssl.train``
ended in a Python traceback for each (checkpoints alone were said: CheckpointWriteError); it now
says the file, what failed, the fix and what the same command then does, exits 2 and keeps what
was written. In-process runs with the stages replaced by small fakes: seconds each."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from data_prep import cache
from drac_ssl import io, runtime, train
from drac_ssl.config import load_config

RUN = ["run.device=cpu", "run.name=full", "run.stages=[ingest]", "data.phantom_n_train=15", "data.phantom_n_test=3",
       "data.n_folds=2"]
"""A run of the ingest alone (replaced by :func:`_fake_ingest`) in ``runs/full``."""


def _fake_ingest(cfg: Any, run_dir: Path) -> dict[str, str]:
    """An ingest that writes one JSON record of its own, as the real one writes its summary."""
    io.atomic_write_json(run_dir / "data" / "ingest_summary.json", {"images": 18})
    return {"summary": "data/ingest_summary.json"}


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(train.STAGES, "ingest", _fake_ingest)
    # the fake ingest decodes nothing, so the rerun words must not read an earlier test's count
    # of decoded images (a process-wide record: CI's worker had one of 20 left, and said "keeping
    # what it decoded (20 of 20 ...)" where this test expects none)
    monkeypatch.setattr(cache, "DECODED", cache.DecodeCount())
    return tmp_path / "runs" / "full"


def _no_space_at(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Every whole-file write of a file called ``name`` fails as on a full disk: the bytes'
    write raises ``ENOSPC`` naming no file (as ``write`` does), inside drac_ssl.io.atomic_path."""
    real = io.atomic_write_bytes

    def write(path: str | os.PathLike[str], data: bytes) -> Path:
        if Path(path).name != name:
            return real(path, data)
        with io.atomic_path(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        raise AssertionError("unreachable")

    monkeypatch.setattr(io, "atomic_write_bytes", write)


NO_SPACE = (f"could not be written: {io.NO_SPACE_WORDS} (OSError: [Errno {errno.ENOSPC}] "
            f"{os.strerror(errno.ENOSPC)}); nothing written before is lost (each record is replaced whole, "
            f"never cut short)\n  fix: free space on that disk (or raise the file-size limit: ulimit -f), then "
            f"rerun the same command: ")


def test_a_full_disk_at_a_json_record_is_said_with_the_file_and_the_same_command_then_finishes(
        in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _no_space_at(monkeypatch, "ingest_summary.json")
    assert train.main(RUN) == 2
    err = capsys.readouterr().err
    said = (f"error: {Path('runs/full/data/ingest_summary.json')}: {NO_SPACE}it runs ingest again, reusing the images it decoded and kept; "
            f"or run it elsewhere: add run.out_dir=<a folder on a disk with room> to your command\n")
    assert err.endswith(said), err
    assert "Traceback" not in err
    console = (in_tmp / "console.log").read_text(encoding="utf-8")
    assert console.endswith(said) and "Traceback" not in console  # the log could be written: it has the words
    # what was written before is there, whole; the record that failed left nothing behind
    assert (in_tmp / "config.yaml").is_file() and json.loads((in_tmp / "environment.json").read_text())
    assert json.loads((in_tmp / "stages.json").read_text())["ingest"]["status"] == "failed"
    assert not list((in_tmp / "data").iterdir())
    ended = json.loads((in_tmp / "invocations.jsonl").read_text().splitlines()[-1])["ended"]
    assert ended["outcome"] == "failed" and ended["error"].startswith("OSError: [Errno 28]")
    # room again: the same command runs the stage and finishes
    monkeypatch.undo()
    monkeypatch.chdir(in_tmp.parent.parent)
    monkeypatch.setitem(train.STAGES, "ingest", _fake_ingest)
    assert train.main(RUN) == 0
    assert json.loads((in_tmp / "stages.json").read_text())["ingest"]["status"] == "done"


def test_stages_json_itself_on_a_full_disk_is_said_with_its_name(
        in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _no_space_at(monkeypatch, "stages.json")
    assert train.main(RUN) == 2
    err = capsys.readouterr().err
    assert err.endswith(f"error: {Path('runs/full/stages.json')}: {NO_SPACE}it starts the run; or run it "
                        f"elsewhere: add run.out_dir=<a folder on a disk with room> to your command\n"), err
    assert "Traceback" not in err and not (in_tmp / "stages.json").exists()


class _FullLog:
    """console.log on a full disk: it opens, but no write reaches it (``ENOSPC``, no file named)."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("failure", "why", "fix"), [
    ("ENOSPC", f"{io.NO_SPACE_WORDS} (OSError: [Errno {errno.ENOSPC}] {os.strerror(errno.ENOSPC)})",
     "free space on that disk (or raise the file-size limit: ulimit -f)"),
    ("EACCES", f"this account may not write it (its permissions) (PermissionError: [Errno {errno.EACCES}] "
               f"{os.strerror(errno.EACCES)})", "make the run folder writable: chmod -R u+w runs/full (or ask its owner)"),
    ("EROFS", f"the disk is read-only (mounted read-only) (OSError: [Errno {errno.EROFS}] {os.strerror(errno.EROFS)})",
     "remount it read-write"),
])
def test_console_log_that_cannot_be_written_is_said_with_its_name(
        in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        failure: str, why: str, fix: str) -> None:
    real_open = open

    def opening(path: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(path).name != runtime.CONSOLE_LOG:
            return real_open(path, *args, **kwargs)
        if failure == "ENOSPC":
            return _FullLog()
        code = getattr(errno, failure)
        raise (PermissionError if failure == "EACCES" else OSError)(code, os.strerror(code), str(path))

    monkeypatch.setattr(runtime, "open", opening, raising=False)  # the module's open: console_log's
    assert train.main(RUN) == 2
    err = capsys.readouterr().err
    other = "<a folder on a disk with room>" if failure == "ENOSPC" else "<a folder you can write to>"
    assert err.endswith(f"error: {Path('runs/full/console.log')}: could not be written: {why}; nothing written "
                        f"before is lost (each record is replaced whole, never cut short)\n  fix: {fix}, then "
                        f"rerun the same command: it starts the run; or run it elsewhere: add "
                        f"run.out_dir={other} to your command\n"), err
    assert "Traceback" not in err
    assert (in_tmp / "config.yaml").exists() is False  # nothing of the run was written yet: it starts afresh


def test_the_rerun_words_name_the_checkpoint_a_stage_resumes_from(tmp_path: Path) -> None:
    import torch

    from drac_ssl.run_state import write_checkpoint_record

    run_dir = tmp_path / "runs" / "k"
    last = run_dir / "pretrain" / "checkpoints" / "last.pt"
    last.parent.mkdir(parents=True)
    torch.save({"epoch": 0}, last)
    write_checkpoint_record(last, epochs_done=1, epochs=3, step=5)
    (run_dir / "stages.json").write_text(json.dumps({"ingest": {"status": "done"}, "pretrain": {"status": "failed"}}))
    cfg = load_config(None, ["run.stages=[ingest,pretrain]", "pretrain.epochs=3"])
    exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(run_dir / "pretrain" / "metrics.json"))
    words = train.run_folder_write_words(exc, cfg, run_dir)
    assert words.startswith(f"{run_dir / 'pretrain' / 'metrics.json'}: {NO_SPACE}it skips the stages done (ingest) "
                            f"and pretrain reads its checkpoint (last checkpoint at epoch 1 of 3, step 5, "
                            f"written "), words
    assert "pretrain/checkpoints/last.pt, 0.0 MiB) and resumes from it with epoch 2; " in words
    assert words.endswith(f"; or carry on in a new run folder elsewhere that takes this run's finished stages "
                          f"(they are copied; the rest runs there): add run.out_dir=<a folder on a disk with room> "
                          f"run.reuse={run_dir} to your command")
    # every stage done (a report.md that could not be written): the rerun skips them and writes it
    (run_dir / "stages.json").write_text(json.dumps({"ingest": {"status": "done"}, "pretrain": {"status": "done"}}))
    words = train.run_folder_write_words(OSError(errno.ENOSPC, "x", str(run_dir / "report.md")), cfg, run_dir)
    assert "then rerun the same command: every stage of run.stages is done, so it skips them all and writes " \
           "report.md again;" in words


def test_only_errors_a_writer_marked_or_only_a_write_raises_are_said_so(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "k"
    cfg = load_config(None, [])
    elsewhere = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "data" / "1.png"))
    with pytest.raises(PermissionError), train.run_folder_writes(cfg, run_dir):
        raise elsewhere  # reading the data: not the run folder's
    with pytest.raises(FileNotFoundError), train.run_folder_writes(cfg, run_dir):
        with io.writing(run_dir / "x.json"):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(run_dir / "x.json"))
    # a write cut short, named by its writer (drac_ssl.io.writing, as atomic_path and console_log do)
    with pytest.raises(train.RunFolderWriteError, match=rf"^{run_dir / 'x.json'}: could not be written: "):
        with train.run_folder_writes(cfg, run_dir), io.writing(run_dir / "x.json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    # a write's permission or I/O error, marked by its writer: said as a write's
    for code, why in ((errno.EACCES, "this account may not write it"), (errno.EIO, "input/output error")):
        with pytest.raises(train.RunFolderWriteError, match=rf"could not be written: {why} "):
            with train.run_folder_writes(cfg, run_dir), io.writing(run_dir / "stages.json"):
                raise OSError(code, os.strerror(code), str(run_dir / "stages.json"))
    # no room for a file outside the run folder (the phantom set a stage draws, seen under ulimit -f):
    # said too (the errno is a write's and the error names its file), without a run folder elsewhere as the fix
    phantom = tmp_path / "data" / "phantom" / "001.png"
    with pytest.raises(train.RunFolderWriteError) as said, train.run_folder_writes(cfg, run_dir):
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), str(phantom))
    assert str(said.value).startswith(f"{phantom}: could not be written: {io.NO_SPACE_WORDS} ")
    assert str(said.value).endswith("rerun the same command: it starts the run"), said.value


@pytest.mark.parametrize("error", [
    OSError(errno.EIO, os.strerror(errno.EIO), "pretrain/checkpoints/last.pt"),  # a failing disk under a read
    PermissionError(errno.EACCES, os.strerror(errno.EACCES), "data/cache/train.npz"),  # a file not readable
    IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), "stages.json"),  # a folder where a file is read
    OSError(errno.EIO, os.strerror(errno.EIO)),  # no file, not a write's
], ids=["EIO", "EACCES", "EISDIR", "EIO-unnamed"])
def test_a_read_that_fails_in_the_run_folder_goes_on_as_it_is(tmp_path: Path, error: OSError) -> None:
    """Review F2 of 75e148e: any OSError naming a file in the run folder was said as a write that
    failed, whatever its errno: an I/O error reading last.pt became "could not be written ...
    nothing written before is lost", a read's EACCES "chmod -R u+w", a folder read as a file
    "could not be written: is a directory". Only a writer's errors are said so now (drac_ssl.io.writing):
    a read's goes on unchanged, the same object with its own words."""
    run_dir = tmp_path / "runs" / "k"
    if error.filename is not None:
        error.filename = str(run_dir / error.filename)
    with pytest.raises(OSError) as raised, train.run_folder_writes(load_config(None, []), run_dir):
        raise error
    assert raised.value is error and not isinstance(raised.value, train.RunFolderWriteError)
    assert "could not be written" not in str(raised.value)


def test_a_read_error_in_a_stage_ends_as_that_error_not_as_a_write(
        in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole command: a stage that cannot read a file of its run folder (EIO) fails with
    that error, not with the words of a file that could not be written."""
    def reading_ingest(cfg: Any, run_dir: Path) -> dict[str, str]:
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(run_dir / "data" / "cache" / "train.npz"))

    monkeypatch.setitem(train.STAGES, "ingest", reading_ingest)
    with pytest.raises(OSError, match="Input/output error") as raised:
        train.main(RUN)
    assert not isinstance(raised.value, train.RunFolderWriteError)
    assert "could not be written" not in capsys.readouterr().err


def test_no_room_that_names_no_file_is_not_blamed_on_the_run_folder(tmp_path: Path) -> None:
    """Review F3 of 75e148e: an ENOSPC that names no file and that no writer of the run folder
    marked (a full /dev/shm in Docker: the DataLoader workers' shared memory, ``OSError: [Errno
    28] No space left on device`` from multiprocessing's SemLock) was said as the run folder's
    disk being full. It now goes on as it is, with a note on /dev/shm."""
    run_dir = tmp_path / "runs" / "k"
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with pytest.raises(OSError) as raised, train.run_folder_writes(load_config(None, []), run_dir):
        raise full
    assert raised.value is full and not isinstance(raised.value, train.RunFolderWriteError)
    notes = " ".join(getattr(full, "__notes__", []))
    assert "/dev/shm" in notes and "--shm-size" in notes and "pretrain.num_workers=0" in notes, notes


def _pretrained(run_dir: Path, epochs_done: int, epochs: int) -> None:
    """``run_dir`` with ingest done and a pretraining's last checkpoint at ``epochs_done`` of ``epochs``."""
    import torch

    from drac_ssl.run_state import write_checkpoint_record

    last = run_dir / "pretrain" / "checkpoints" / "last.pt"
    last.parent.mkdir(parents=True)
    torch.save({"epoch": epochs_done - 1}, last)
    write_checkpoint_record(last, epochs_done=epochs_done, epochs=epochs, step=5)
    (run_dir / "stages.json").write_text(json.dumps({"ingest": {"status": "done"}, "pretrain": {"status": "failed"}}))


def test_the_rerun_words_of_a_finished_pretraining_read_as_one_sentence(tmp_path: Path) -> None:
    """Review F4: "pretrain finishes the stage from it (no epoch is trained again) (training
    finished, ...)": "from it" named nothing before it, and two parentheses followed each other.
    The checkpoint is named first, then what the stage does with it."""
    run_dir = tmp_path / "runs" / "k"
    _pretrained(run_dir, 3, 3)
    cfg = load_config(None, ["run.stages=[ingest,pretrain]", "pretrain.epochs=3"])
    exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(run_dir / "pretrain" / "metrics.json"))
    words = train.run_folder_write_words(exc, cfg, run_dir)
    assert ("then rerun the same command: it skips the stages done (ingest) and pretrain reads its checkpoint "
            "(training finished, completed all epochs: last checkpoint at epoch 3 of 3, step 5, written ") in words
    assert "MiB) and finishes the stage from it (no epoch is trained again); or carry on" in words, words
    assert ") (" not in words


@pytest.mark.parametrize("how", ["chmod", "raising"])
def test_the_words_of_an_unreadable_run_folder_are_said_without_a_second_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Review F4: run_folder_write_words reads stages.json and the checkpoints while the error is
    handled; in a folder that cannot be read (chmod 000: Path.is_file raises PermissionError)
    that raised a second traceback over the first. It falls back to words that read nothing."""
    run_dir = tmp_path / "runs" / "k"
    _pretrained(run_dir, 1, 3)
    cfg = load_config(None, ["run.stages=[pretrain]", "pretrain.epochs=3"])
    exc = OSError(errno.EROFS, os.strerror(errno.EROFS), str(run_dir / "pretrain" / "metrics.json"))
    if how == "chmod":
        if os.name != "posix" or os.geteuid() == 0:
            pytest.skip("a folder made unreadable with chmod 000 is still read by root (and not on Windows)")
        run_dir.chmod(0)  # stages.json cannot be read: the words do not say "it starts the run"
    else:  # a reader of the folder that fails, for an account that reads everything (root)
        def unreadable(*args: Any, **kwargs: Any) -> Any:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(run_dir / "pretrain"))

        monkeypatch.setattr(train, "checkpoint_saved", unreadable)
    try:
        words = train.run_folder_write_words(exc, cfg, run_dir)
    finally:
        run_dir.chmod(0o700)
    assert words.startswith(f"{run_dir / 'pretrain' / 'metrics.json'}: could not be written: the disk is read-only")
    assert words.endswith(
        f"then rerun the same command: it skips the stages done and the next one resumes from what it saved "
        f"({run_dir} could not be read to say which); or run it elsewhere: add run.out_dir=<a folder you can write to> "
        f"to your command"), words


def test_a_stage_error_comes_first_when_stages_json_cannot_record_it(
        in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A really full disk: the ingest's own write fails, then stages.json's record of the failure.
    The ingest's error is said first (it was hidden behind stages.json's), then that the record
    could not be written (the next start counts the attempt as killed); the rerun is said to
    reuse what the ingest kept, not to run it "from its start"."""
    real = io.atomic_write_bytes

    def write(path: str | os.PathLike[str], data: bytes) -> Path:
        if Path(path).name == "ingest_summary.json" or (Path(path).name == "stages.json" and b'"failed"' in data):
            with io.atomic_path(path):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, data)

    monkeypatch.setattr(io, "atomic_write_bytes", write)
    assert train.main(RUN) == 2
    err = capsys.readouterr().err
    first, record = [line for line in err.splitlines() if line.startswith("error: ")]
    assert first.startswith(f"error: {Path('runs/full/data/ingest_summary.json')}: could not be written")
    assert record.startswith(f"error: {Path('runs/full/stages.json')} could not record this failure either")
    assert "counts this attempt as killed" in record and "resumes from what the stage kept" in record
    assert "from its start" not in err and "runs ingest again, reusing the images it decoded" in err
    assert "Traceback" not in err
