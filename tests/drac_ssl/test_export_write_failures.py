"""A submission and the files beside it when a write fails (a full disk, ``ulimit -f``) or is
cut short: the earlier set stays whole, the error names the file and says the disk or the
file-size limit (a reliability review, F1 and F8: the old CSV and its notes were deleted
before the new notes file was written, and a checked CSV was left as ``OUT.failed``)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from drac_ssl import export
from drac_ssl.io import NO_SPACE_WORDS, atomic_path, atomic_write_text, fsync_folder, no_space
from drac_ssl.starting import interrupts_deferred, sigterm_as_ctrl_c


def _earlier_set(folder: Path) -> dict[Path, str]:
    """An earlier export's submission with its notes and referable files."""
    files = {folder / "sub.csv": "case,class,P0,P1\na.png,0,0.9,0.1\n",
             folder / "sub_notes.csv": "case,class,...\nold notes\n",
             folder / "sub_referable.csv": "case,P_referable,referable\nold\n"}
    for path, text in files.items():
        path.write_text(text)
    return files


def _write_csv(path: Path) -> Path:
    return atomic_write_text(path, "case,class,P0,P1\na.png,1,0.2,0.8\n")


def _too_large(tmp: Path, csv: Path) -> Path:
    raise OSError(errno.EFBIG, "File too large")  # as a write past ulimit -f: no filename


def test_a_failing_notes_write_keeps_the_earlier_set(tmp_path: Path) -> None:
    earlier = _earlier_set(tmp_path)
    out = tmp_path / "sub.csv"
    written: list[Path] = []
    with pytest.raises(OSError) as raised:
        export._write_checked(out, _write_csv, lambda path: [],
                              beside=(tmp_path / "sub_notes.csv", tmp_path / "sub_referable.csv"),
                              companions=[(tmp_path / "sub_referable.csv",
                                           lambda tmp, csv: written.append(atomic_write_text(tmp, "new"))),
                                          (tmp_path / "sub_notes.csv", _too_large)])
    assert raised.value.filename == str(tmp_path / "sub_notes.csv")  # the file's own name
    assert no_space(raised.value)
    assert {p: p.read_text() for p in earlier} == earlier  # nothing replaced, nothing removed
    assert written and not written[0].exists()  # the referable file written first is taken back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub.csv", "sub_notes.csv", "sub_referable.csv"]


def test_a_failing_csv_write_names_out_not_its_hidden_name(tmp_path: Path) -> None:
    earlier = _earlier_set(tmp_path)
    out = tmp_path / "sub.csv"

    def cut_short(path: Path) -> Path:
        with atomic_path(path) as tmp:
            tmp.write_text("case,cl")
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as raised:
        export._write_checked(out, cut_short, lambda path: [], beside=(tmp_path / "sub_notes.csv",))
    assert raised.value.filename == str(out)
    assert {p: p.read_text() for p in earlier} == earlier
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_a_checked_csv_replaces_the_set_and_is_never_named_failed(tmp_path: Path) -> None:
    _earlier_set(tmp_path)
    out = tmp_path / "sub.csv"
    export.failed_submission_path(out).write_text("an earlier try's")
    seen: list[Path] = []

    def notes(tmp: Path, csv: Path) -> Path:
        seen.append(csv)  # the checked CSV, under its hidden name, not OUT.failed
        return atomic_write_text(tmp, f"notes of {csv.read_text().splitlines()[1]}\n")

    path, problems = export._write_checked(
        out, _write_csv, lambda path: [], beside=(tmp_path / "sub_notes.csv", tmp_path / "sub_referable.csv"),
        companions=[(tmp_path / "sub_notes.csv", notes)])
    assert (path, problems) == (out, [])
    assert not seen[0].name.endswith(".failed") and seen[0].name.startswith(".sub.csv.")
    assert out.read_text().splitlines()[1] == "a.png,1,0.2,0.8"
    assert (tmp_path / "sub_notes.csv").read_text() == "notes of a.png,1,0.2,0.8\n"
    # the referable file of the earlier CSV goes (none written now), as does the failed try
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub.csv", "sub_notes.csv"]


def test_a_csv_failing_its_check_is_kept_as_failed_named_in_its_problems(tmp_path: Path) -> None:
    earlier = _earlier_set(tmp_path)
    out = tmp_path / "sub.csv"
    path, problems = export._write_checked(
        out, _write_csv, lambda path: [f"{path}:2: a problem -> mend it"],
        beside=(tmp_path / "sub_notes.csv",), companions=[(tmp_path / "sub_notes.csv", _too_large)])
    failed = export.failed_submission_path(out)
    assert path == failed and problems == [f"{failed}:2: a problem -> mend it"]
    assert {p: p.read_text() for p in earlier} == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub.csv", "sub.csv.failed", "sub_notes.csv",
                                                         "sub_referable.csv"]


def test_ctrl_c_while_the_files_are_written_keeps_the_earlier_set(tmp_path: Path) -> None:
    earlier = _earlier_set(tmp_path)

    def interrupted(tmp: Path, csv: Path) -> Path:
        atomic_write_text(tmp, "half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export._write_checked(tmp_path / "sub.csv", _write_csv, lambda path: [],
                              beside=(tmp_path / "sub_notes.csv",),
                              companions=[(tmp_path / "sub_notes.csv", interrupted)])
    assert {p: p.read_text() for p in earlier} == earlier
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_ctrl_c_during_the_renames_is_raised_after_them() -> None:
    done: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("the renames ran to their end")
    assert done == ["the renames ran to their end"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back


def test_an_ignored_ctrl_c_stays_ignored_and_a_held_one_is_not_lost_when_the_block_fails() -> None:
    """The review's F3: SIG_IGN (nohup, a parent that ignores it) was taken for the default, so a
    Ctrl-C raised KeyboardInterrupt after the renames; a Ctrl-C held while the block raised was
    dropped. SIGTERM, which drac_ssl.train turns into Ctrl-C, is held too (F4)."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
    with pytest.raises(KeyboardInterrupt) as raised:
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            raise OSError(errno.EXDEV, "Invalid cross-device link")
    assert isinstance(raised.value.__cause__, OSError)
    done: list[str] = []
    with sigterm_as_ctrl_c(), pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("held")
    assert done == ["held"] and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_failed_rename_is_undone_and_the_earlier_set_is_whole(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    earlier = _earlier_set(tmp_path)
    out = tmp_path / "sub.csv"
    real_replace = os.replace

    def last_fails(source: object, target: object) -> None:  # the CSV's own rename, the last
        if Path(str(target)) == out and ".checking-" in str(source):
            raise OSError(errno.EIO, "Input/output error")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", last_fails)
    with pytest.raises(OSError) as raised:
        export._write_checked(out, _write_csv, lambda path: [],
                              beside=(tmp_path / "sub_notes.csv", tmp_path / "sub_referable.csv"),
                              companions=[(tmp_path / "sub_referable.csv",
                                           lambda tmp, csv: atomic_write_text(tmp, "new"))])
    assert getattr(raised.value, export.EARLIER_SET_KEPT) is True
    assert {p: p.read_text() for p in earlier} == earlier  # every rename undone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub.csv", "sub_notes.csv", "sub_referable.csv"]
    monkeypatch.setattr(os, "replace", real_replace)
    written, _ = export._write_checked(out, _write_csv, lambda path: [],
                                       beside=(tmp_path / "sub_notes.csv", tmp_path / "sub_referable.csv"),
                                       companions=[(tmp_path / "sub_referable.csv",
                                                    lambda tmp, csv: atomic_write_text(tmp, "new"))])
    assert written == out and "a.png,1," in out.read_text() and (tmp_path / "sub_referable.csv").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub.csv", "sub_referable.csv"]  # no .old- left


def test_the_hidden_files_of_a_killed_export_are_removed_and_said(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A kill -9 during the renames leaves the new CSV at .sub.csv.checking-PID, earlier files at
    .NAME.old-PID, companions at .NAME.new-PID; the next export removes those of a process that
    no longer runs, says so, and leaves a running one's (another export writing now) alone."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead, alive = gone.pid, os.getppid()
    left = [tmp_path / f".sub.csv.checking-{dead}", tmp_path / f".sub.csv.old-{dead}",
            tmp_path / f".sub_notes.csv.new-{dead}"]
    running = tmp_path / f".sub.csv.checking-{alive}"
    other = tmp_path / f".other.csv.checking-{dead}"  # not this submission's: not touched
    for path in (*left, running, other):
        path.write_text("x")
    export._write_checked(tmp_path / "sub.csv", _write_csv, lambda path: [],
                          beside=(tmp_path / "sub_notes.csv",))
    err = capsys.readouterr().err
    assert all(not path.exists() and f"note: removed {path}: left by an export that was killed" in err
               for path in left)
    assert running.exists() and other.exists() and str(running) not in err


def test_the_command_names_the_file_and_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "images").mkdir()
    out = tmp_path / "exp" / "sub.csv"

    def full(kept: bool | None) -> object:
        def raising(*args: object, **kwargs: object) -> int:
            exc = OSError(errno.EFBIG, "File too large", str(out.with_name("sub_notes.csv")))
            if kept is not None:  # as _write_checked marks it
                setattr(exc, export.EARLIER_SET_KEPT, kept)
            raise exc
        return raising

    argv = [str(tmp_path / "run"), "--images", str(tmp_path / "images"), "--out", str(out), "--device", "cpu"]
    monkeypatch.setattr(export, "_predict_folder", full(True))
    assert export.main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: {out.with_name('sub_notes.csv')}: File too large" in err
    assert NO_SPACE_WORDS in err and "as they were before" in err
    # an error not raised while the set was replaced claims nothing of --out
    monkeypatch.setattr(export, "_predict_folder", full(None))
    assert export.main(argv) == 2
    err = capsys.readouterr().err
    assert NO_SPACE_WORDS in err and "as they were before" not in err

    def no_temp(*args: object, **kwargs: object) -> int:
        raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found in ['/tmp']")

    monkeypatch.setattr(export, "_predict_folder", no_temp)
    assert export.main(argv) == 2
    err = capsys.readouterr().err
    assert "No usable temporary directory" in err and "fix: " in err and "ulimit -f" in err


def test_atomic_path_names_its_file_and_syncs_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "record.json"
    with pytest.raises(OSError) as raised:
        with atomic_path(target) as tmp:
            tmp.write_text("{")
            raise OSError(errno.EFBIG, "File too large")
    assert raised.value.filename == str(target) and not target.exists()
    assert list(tmp_path.iterdir()) == []
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    atomic_write_text(target, "{}")
    assert len(synced) == 2  # the file, then its folder (the rename)
    fsync_folder(tmp_path / "not there")  # skipped, no error
