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
            f"{(run / 'config.yaml').resolve()} run.out_dir={run.resolve().parent} run.name=NEW` (with "
            f"`run.name=done` for `run.name=NEW`, from any folder, it resumes this run, or reports it when "
            f"finished; this folder's own name, as config.yaml's run.name is not once the folder was "
            f"renamed or moved).") in provenance, provenance
    # a final read, F3: a renamed folder is named by its own name, not config.yaml's run.name
    moved = run.rename(run.parent / "renamed")
    provenance = write_report(moved).read_text(encoding="utf-8").split("\n\n")[2]
    assert "(with `run.name=renamed` for `run.name=NEW`" in provenance, provenance
    run = moved.rename(run)
    from drac_ssl.config import load_config

    assert load_config(run / "config.yaml", ["run.name=NEW"]).run.name == "NEW"
    header = save_config(Config(), tmp_path / "config.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert header == (f"# Resolved drac_ssl configuration; to reproduce in a new run folder: {relative} -m "
                      f"drac_ssl.train -c THIS_FILE run.name=NEW (-c THIS_FILE alone, typed in the folder the "
                      f"run was started in (its run.out_dir, runs, is relative to it), resumes this run, or "
                      f"reports it when finished)"), header
    absolute = Config()
    absolute.run.out_dir = str(tmp_path / "runs")
    header = save_config(absolute, tmp_path / "config.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert header.endswith(" run.name=NEW (-c THIS_FILE alone resumes this run, or reports it when finished)")

    interpreter(monkeypatch, str(tmp_path.parent / "conda" / "bin" / "python3"), "/usr/bin/python")
    files = write_report(run).read_text(encoding="utf-8").split("## Files in this folder", 1)[1]
    assert "`python -m drac_ssl.report RUN` writes it again" in files, files
    assert "conda" not in files
    header = save_config(Config(), tmp_path / "config.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert "reproduce in a new run folder: python -m drac_ssl.train -c THIS_FILE run.name=NEW (" in header, header


def test_report_mds_commands_name_the_run_folder_from_any_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review, F7: a run's ``run.out_dir`` is ``runs`` by default, relative to the folder it
    was started in, yet report.md printed its config file's absolute path as if its command
    worked from anywhere: typed elsewhere, it made or resumed a run under that folder's
    ``runs/``. The command now names ``run.out_dir`` absolute: without ``run.name=NEW`` it names
    this run's folder, with it a new folder beside it, from whatever folder it is typed in."""
    import shlex

    import yaml
    from fake_ingest import make_finished_run

    from drac_ssl.config import load_config

    run = make_finished_run(tmp_path / "study" / "runs" / "done")
    saved = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    saved["run"]["out_dir"] = "runs"  # as the default writes it: relative to tmp_path/study
    (run / "config.yaml").write_text(yaml.safe_dump(saved), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    provenance = write_report(run).read_text(encoding="utf-8").split("\n\n")[2]
    command = provenance.split("To reproduce in a new run folder: `", 1)[1].split("`", 1)[0]
    words = shlex.split(command)
    overrides = words[words.index("-c") + 2:]
    assert overrides[-1] == "run.name=NEW", command
    new = load_config(words[words.index("-c") + 1], overrides).run
    assert (Path(new.out_dir) / new.name).resolve() == run.resolve().parent / "NEW"
    again = load_config(words[words.index("-c") + 1], overrides[:-1]).run
    assert (Path(again.out_dir) / again.name).resolve() == run.resolve()


def test_the_reproduce_command_names_the_thread_count_and_the_commit_and_lock_to_use(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reproducibility review: "to reproduce" gave ``-c config.yaml run.name=NEW``, whose
    ``run.threads: 0`` is half the cores of whatever machine runs it (other last digits), and
    said nothing of the commit and wheel builds docs/running.md says must match too."""
    from drac_ssl.report import provenance_line

    interpreter(monkeypatch, "/usr/bin/python", "/usr/bin/python")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("run:\n  threads: 0\n", encoding="utf-8")
    made = {"git_commit": "abcdef1", "git_commit_full": "abcdef1" + "0" * 33, "git_dirty": True,
            "threads": {"torch_intra_op": 3}}
    (run / "environment.json").write_text(__import__("json").dumps(made), encoding="utf-8")
    line = provenance_line(run)
    assert f"run.out_dir={tmp_path} run.threads=3 run.name=NEW`" in line, line
    assert f"`git checkout abcdef1{'0' * 33}` (the run's checkout was dirty" in line, line
    assert "`pip install -r scripts/requirements-cpu.lock`" in line, line
    (run / "code.patch").write_text("diff --git a/x b/x\n", encoding="utf-8")  # its changes, saved
    (run / "environment.json").write_text(__import__("json").dumps({**made, "code_patch": "code.patch"}))
    assert f"`git checkout abcdef1{'0' * 33}` then `git apply {run / 'code.patch'}`" in provenance_line(run)
    assert "untracked" not in provenance_line(run)
    # a review: code.patch (git diff HEAD) leaves out untracked files, which the clause did not say
    (run / "environment.json").write_text(__import__("json").dumps(
        {**made, "code_patch": "code.patch", "git_untracked_files": ["drac_ssl/new.py", "configs/x.yaml"]}))
    assert ("(the run's checkout was dirty: its uncommitted changes to tracked files; 2 untracked files, "
            "not in it)") in provenance_line(run)
    # and its edits are copied verbatim: report.md's file list says to check it before sharing
    from drac_ssl.run_files import RUN_FILES

    (patch_entry,) = [entry for entry in RUN_FILES if entry.name == "code.patch"]
    assert "verbatim" in patch_entry.what and "before sharing the run folder" in patch_entry.what
    (run / "config.yaml").write_text("run:\n  threads: 3\n", encoding="utf-8")  # the file says it already
    assert "run.threads=3" not in provenance_line(run)
    # config.yaml's own header: the count the run applied, when run.threads is not it
    header = save_config(Config(), tmp_path / "config.yaml", threads=2).read_text(encoding="utf-8")
    assert "-c THIS_FILE run.threads=2 run.name=NEW (" in header.splitlines()[0], header
    counted = Config()
    counted.run.threads = 2
    header = save_config(counted, tmp_path / "config.yaml", threads=2).read_text(encoding="utf-8")
    assert "run.threads" not in header.splitlines()[0]


def test_a_gpu_or_installed_runs_repeat_words_give_no_cpu_lock_file(tmp_path: Path) -> None:
    """A review: a GPU run's report.md said "To repeat its figures to the last digit, on the
    same CPU: ... pip install -r scripts/requirements-cpu.lock" (a GPU run is not bit-identical,
    and the CPU lock has no GPU wheels); an installed wheel's run has no scripts/ to install."""
    import json

    from drac_ssl.report import provenance_line

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("run:\n  threads: 4\n", encoding="utf-8")
    made = {"git_commit": "abcdef1", "git_commit_full": "abcdef1" + "0" * 33, "git_dirty": False,
            "gpu": "NVIDIA H100", "threads": {"torch_intra_op": 4}}
    (run / "environment.json").write_text(json.dumps(made), encoding="utf-8")
    line = provenance_line(run)
    assert (f"A GPU run is not bit-identical, even on the same GPU (docs/running.md): `git checkout abcdef1{'0' * 33}` "
            f"and the same torch and torchvision builds (`environment.json`'s `builds`) come closest.") in line, line
    assert "same CPU" not in line and "requirements-cpu.lock" not in line, line
    installed = {"git_commit": "unknown", "git_dirty": None, "code_source": "installed package",
                 "distribution_version": "0.1.0+57.g1a2b3c4", "threads": {"torch_intra_op": 4}}
    (run / "environment.json").write_text(json.dumps(installed), encoding="utf-8")
    line = provenance_line(run)
    assert ("To repeat its figures to the last digit, on the same CPU: the installed drac_ssl 0.1.0+57.g1a2b3c4 "
            "that made it, and the same torch and torchvision builds (`environment.json`'s `builds`).") in line, line
    assert "requirements-cpu.lock" not in line, line


def test_report_mds_provenance_names_the_device_threads_and_torch_builds(tmp_path: Path) -> None:
    """A reproducibility review: report.md showed no environment; a reader had to open
    environment.json to learn the device, thread count and torch build behind the figures."""
    import json

    from drac_ssl.report import provenance_line

    run = tmp_path / "run"
    run.mkdir()
    made = {"device": "CPU: Intel Xeon x8", "cpu": "Intel Xeon", "cpu_capability": "AVX2", "gpu": None,
            "threads": {"torch_intra_op": 4}, "python": "3.11.9", "torch": "2.5.1", "torchvision": "0.20.1",
            "builds": {"torch": "2.5.1, wheel cp311-x, files aaa", "numpy": "2.1.0, wheel y, files bbb"}}
    (run / "environment.json").write_text(json.dumps(made), encoding="utf-8")
    assert ("Made on CPU: Intel Xeon x8 (AVX2), 4 CPU thread(s), Python 3.11.9, torch 2.5.1 (wheel "
            "cp311-x, files aaa), torchvision 0.20.1 (`environment.json`).") in provenance_line(run)
    made.update(gpu="NVIDIA H100", cuda="12.4")
    (run / "environment.json").write_text(json.dumps(made), encoding="utf-8")
    assert "Made on GPU: NVIDIA H100 (CUDA 12.4), 4 CPU thread(s)" in provenance_line(run)
    # a review: the sentences ran on in one block; each starts a line (a Markdown hard break)
    (run / "config.yaml").write_text("run:\n  threads: 4\n", encoding="utf-8")
    lines = provenance_line(run).split("  \n")
    assert [line.split(" ", 2)[:2] for line in lines[1:]] == [["Made", "on"], ["A", "GPU"]], lines
    made.update(gpu=None)
    (run / "environment.json").write_text(json.dumps(made), encoding="utf-8")
    assert provenance_line(run).split("  \n")[2].startswith("To repeat its figures to the last digit, on the same CPU: ")
    assert "(the wheel versions the project is tested with)" in provenance_line(run)
