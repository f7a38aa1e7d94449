"""The commands report.md and config.yaml write name the interpreter as the console's do
(drac_ssl.starting.python_command: ``.venv/bin/python -m ...`` when the venv is not active),
but, being read later from anywhere, never as an absolute path another machine lacks
(``in_file``: ``python -m ...`` then, the README's words for a command in text)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from drac_ssl import starting
from drac_ssl.config import Config, save_config
from drac_ssl.report import write_report


def interpreter(monkeypatch: pytest.MonkeyPatch, executable: str, first_on_path: str | None) -> None:
    monkeypatch.setattr(starting.sys, "executable", executable)
    monkeypatch.setattr(starting.shutil, "which", lambda name: first_on_path if name == "python" else None)


def test_in_file_keeps_a_relative_interpreter_and_drops_an_absolute_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    venv = str(tmp_path / ".venv" / "bin" / "python")
    interpreter(monkeypatch, venv, "/usr/bin/python")
    relative = os.path.join(".venv", "bin", "python")
    assert starting.python_command("drac_ssl.report") == f"{relative} -m drac_ssl.report"
    assert starting.python_command("drac_ssl.report", in_file=True) == f"{relative} -m drac_ssl.report"
    outside = str(tmp_path.parent / "elsewhere" / "bin" / "python3")
    interpreter(monkeypatch, outside, "/usr/bin/python")
    assert starting.python_command("drac_ssl.report") == f"{outside} -m drac_ssl.report"
    assert starting.python_command("drac_ssl.report", in_file=True) == "python -m drac_ssl.report"
    interpreter(monkeypatch, venv, venv)  # the venv active
    assert starting.python_command("drac_ssl.report", in_file=True) == "python -m drac_ssl.report"


def test_report_md_and_config_yaml_name_the_interpreter_as_the_console_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fake_ingest import make_finished_run

    run = make_finished_run(tmp_path / "runs" / "done")
    monkeypatch.chdir(tmp_path)
    interpreter(monkeypatch, str(tmp_path / ".venv" / "bin" / "python"), "/usr/bin/python")
    relative = os.path.join(".venv", "bin", "python")
    files = write_report(run).read_text(encoding="utf-8").split("## Files in this folder", 1)[1]
    assert f"`{relative} -m drac_ssl.report RUN` writes it again" in files, files
    assert "`python -m" not in files
    # report.md's provenance says how to make the run again in a new folder, as the header does
    # (-c config.yaml alone names this folder: its run.name; a review, F5)
    provenance = write_report(run).read_text(encoding="utf-8").split("\n\n")[2]
    assert (f"To reproduce in a new run folder: `{relative} -m drac_ssl.train -c "
            f"{(run / 'config.yaml').resolve()} run.name=NEW` (`-c` that file alone resumes this run, "
            f"or reports it when finished).") in provenance, provenance
    from drac_ssl.config import load_config

    assert load_config(run / "config.yaml", ["run.name=NEW"]).run.name == "NEW"
    header = save_config(Config(), tmp_path / "config.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert header == (f"# Resolved drac_ssl configuration; to reproduce in a new run folder: {relative} -m "
                      f"drac_ssl.train -c THIS_FILE run.name=NEW (-c THIS_FILE alone resumes this run, or "
                      f"reports it when finished)"), header

    interpreter(monkeypatch, str(tmp_path.parent / "conda" / "bin" / "python3"), "/usr/bin/python")
    files = write_report(run).read_text(encoding="utf-8").split("## Files in this folder", 1)[1]
    assert "`python -m drac_ssl.report RUN` writes it again" in files, files
    assert "conda" not in files
    header = save_config(Config(), tmp_path / "config.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert "reproduce in a new run folder: python -m drac_ssl.train -c THIS_FILE run.name=NEW (" in header, header
