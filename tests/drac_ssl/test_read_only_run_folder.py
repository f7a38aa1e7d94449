"""A run folder that exists but cannot be written (a read-only bind mount, permissions): the
preflight said "RUN is not writable: the run folder RUN cannot be made; fix: run.out_dir=..."
of a folder that is there (a reliability review, F7). It now says the folder exists and is
read-only, and the fixes: make it writable, or carry on elsewhere with run.reuse (which reads a
read-only folder and copies its finished stages: checked on a read-only bind mount)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from drac_ssl import preflight


def _read_only(monkeypatch: pytest.MonkeyPatch, run_dir: Path, mounted: bool) -> None:
    real_access, real_statvfs = os.access, os.statvfs
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == run_dir
                        else real_access(path, mode, **kw))
    monkeypatch.setattr(os, "statvfs", lambda path: SimpleNamespace(f_flag=os.ST_RDONLY if mounted else 0)
                        if Path(path) == run_dir else real_statvfs(path))


@pytest.mark.parametrize("mounted", [True, False])
def test_an_existing_read_only_run_folder_is_said_to_exist_with_fixes_that_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mounted: bool) -> None:
    run_dir = tmp_path / "runs" / "k"
    run_dir.mkdir(parents=True)
    (run_dir / "stages.json").write_text("{}")
    (run_dir / "config.yaml").write_text("run:\n  name: k\n")
    _read_only(monkeypatch, run_dir, mounted)
    cfg, sources, _ = preflight.read_config(None, [f"run.out_dir={run_dir.parent}", "run.name=k"])
    (finding,) = [f for f in preflight.check(cfg, run_dir, sources) if f.setting == "run.out_dir"]
    assert finding.severity == "error"
    assert finding.what == (f"the run folder {run_dir} exists and holds a run, but it is read-only: "
                            + ("it is on a read-only file system (mount)" if mounted else
                               "its permissions do not let this account write in it")
                            + ", so no stage can write its outputs, checkpoints or lock there")
    assert "cannot be made" not in finding.line
    assert finding.fix.startswith("make it writable (" + ("remount it read-write" if mounted else
                                                          f"chmod -R u+w {run_dir}"))
    assert finding.fix.endswith(f"replace run.out_dir={run_dir.parent} with run.out_dir=<a folder you can "
                                f"write to> and add run.reuse={run_dir} in your command")


def test_a_read_only_parent_still_says_the_folder_cannot_be_made(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    parent = tmp_path / "runs"
    parent.mkdir()
    _read_only(monkeypatch, parent, True)
    cfg, sources, _ = preflight.read_config(None, [f"run.out_dir={parent}", "run.name=k"])
    (finding,) = [f for f in preflight.check(cfg, parent / "k", sources) if f.setting == "run.out_dir"]
    assert finding.what == f"{parent} is not writable: the run folder {parent / 'k'} cannot be made"


def test_a_read_only_folder_without_a_run_is_not_offered_to_run_reuse(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The review's F5: run.reuse=RUN was offered for a read-only folder holding no run, which
    run.reuse then refuses ('not a run folder')."""
    run_dir = tmp_path / "runs" / "empty"
    run_dir.mkdir(parents=True)
    _read_only(monkeypatch, run_dir, True)
    cfg, sources, _ = preflight.read_config(None, [f"run.out_dir={run_dir.parent}", "run.name=empty"])
    (finding,) = [f for f in preflight.check(cfg, run_dir, sources) if f.setting == "run.out_dir"]
    assert finding.what.startswith(f"the run folder {run_dir} exists, but it is read-only")
    assert "run.reuse" not in finding.fix and "run.out_dir=<a folder you can write to>" in finding.fix


def test_the_torn_checkpoint_fix_quotes_its_path() -> None:
    from drac_ssl.run_state import torn_checkpoint_fix

    assert torn_checkpoint_fix("/runs/my run/pretrain/last.pt").startswith("delete it: rm '/runs/my run/pretrain/last.pt';")
