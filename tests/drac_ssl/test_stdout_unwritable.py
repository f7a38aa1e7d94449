"""A command whose stdout cannot be written (``> /dev/full``, ``| head -1``) carries on:
the console tee stops writing there, notes it once in console.log and keeps the log
(an MLOps review: a training died with a traceback and exit 1, a "bug, don't requeue")."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import pytest

from drac_ssl import runtime


class _Unwritable:
    """A stdout that fails as ``> /dev/full`` or a closed pipe does."""

    def __init__(self, exc: OSError) -> None:
        self.exc = exc
        self.tries = 0

    def write(self, text: str) -> int:
        self.tries += 1
        raise self.exc

    def flush(self) -> None:
        raise self.exc


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"),
                                 BrokenPipeError(errno.EPIPE, "Broken pipe")])
def test_console_log_goes_on_when_stdout_fails(tmp_path, monkeypatch, exc):
    dead = _Unwritable(exc)
    monkeypatch.setattr(sys, "stdout", dead)
    log = tmp_path / "console.log"
    with runtime.console_log(log, "==== header ===="):
        print("[train] pretrain epoch 1")
        print("[train] pretrain epoch 2")
        sys.stdout.flush()
    text = log.read_text(encoding="utf-8")
    assert "[train] pretrain epoch 1" in text and "[train] pretrain epoch 2" in text
    assert text.count("note: stdout became unwritable") == 1
    assert dead.tries == 1  # written no more once it failed


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_dev_full_exits_zero_without_an_error_at_shutdown(tmp_path):
    """What the training command runs under (:func:`drac_ssl.io.stdout_survives`): exit 0 and
    nothing on stderr, not "Exception ignored ... OSError" and exit 120 at the interpreter's
    shutdown (the stdout descriptor is pointed at os.devnull, Python's advice for SIGPIPE)."""
    code = textwrap.dedent("""
        from drac_ssl.io import stdout_survives
        with stdout_survives():
            for i in range(2000):
                print("line", i)
        print("after the block: buffered, flushed at shutdown")
    """)
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-c", code], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (0, "")


def test_report_names_stdout_not_a_file(tmp_path, monkeypatch, capsys):
    """``report RUN > /dev/full``: "stdout could not be written", not "a file: could not be read"."""
    from drac_ssl import report

    for name in ("run_folder_problem", "_saved_config_problem", "stages_record_damage"):
        monkeypatch.setattr(report, name, lambda *a, **k: None)
    monkeypatch.setattr(report, "_edited_config", lambda run_dir: "")
    monkeypatch.setattr(report, "write_report", lambda run_dir: run_dir / "report.md")
    monkeypatch.setattr(sys, "stdout", _Unwritable(OSError(errno.ENOSPC, "No space left on device")))
    assert report.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error: stdout could not be written (No space left on device)" in err
    assert "a file: could not be read" not in err


def test_report_records_its_run_finished_when_only_stdout_failed(tmp_path, monkeypatch):
    """report.md is complete when stdout fails (exit 2): invocations.jsonl said "failed"."""
    import json

    from drac_ssl import report
    from drac_ssl.io import StdoutUnwritable

    monkeypatch.setattr(report, "write_report", lambda run_dir: run_dir / "report.md")
    monkeypatch.setattr(sys, "stdout", _Unwritable(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(StdoutUnwritable):
        report._write_logged(tmp_path, True)
    (line,) = [json.loads(x) for x in (tmp_path / runtime.INVOCATIONS).read_text().splitlines()]
    assert line["ended"]["outcome"] == "finished" and "error" not in line["ended"]


def test_the_training_command_survives_stdout_failing_before_its_console_log(tmp_path, monkeypatch):
    """The training prints its settings line before the run folder's console.log opens
    (train.py's ``print("\\n".join(said))``): that print died with ENOSPC under ``> /dev/full``.
    Its command runs under :func:`drac_ssl.io.stdout_survives`: silenced, then noted in the log."""
    from drac_ssl import train
    from drac_ssl.io import stdout_survives

    dead = _Unwritable(OSError(errno.ENOSPC, "No space left on device"))
    monkeypatch.setattr(sys, "stdout", dead)
    log = tmp_path / "console.log"
    with stdout_survives():
        print("[train] CPU threads: 1")  # before the run folder is known
        with runtime.console_log(log, "==== header ====", said=["[train] CPU threads: 1"]):
            print("[train] pretrain epoch 1")
        print("[train] finished")
    assert sys.stdout is dead and dead.tries == 1
    text = log.read_text(encoding="utf-8")
    assert "[train] pretrain epoch 1" in text and text.count("note: stdout became unwritable") == 1
    assert "stdout_survives" in train.command_main.__code__.co_names  # the command runs under it
