"""bench/common.py's result file: the code a run measured is the code at its start, and a
change during the run is recorded beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _code(monkeypatch: pytest.MonkeyPatch, commit: str, dirty: bool) -> None:
    import drac_ssl.runtime as runtime

    monkeypatch.setattr(runtime, "git_commit", lambda: commit)
    monkeypatch.setattr(runtime, "git_dirty", lambda: dirty)


def test_a_run_whose_commit_changes_midway_records_the_commit_at_both_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import common

    _code(monkeypatch, "aaaa111", False)
    started = common.run_start()
    _code(monkeypatch, "bbbb222", True)  # a commit, then an edit, while the bench runs
    record = json.loads(common.write_result("fake", {"figure": 1}, tmp_path, started=started)
                        .read_text(encoding="utf-8"))
    env = record["environment"]
    assert (env["git_commit"], env["git_dirty"]) == ("aaaa111", False)  # what ran
    assert (env["git_commit_at_end"], env["git_dirty_at_end"]) == ("bbbb222", True)
    assert record["started_utc"] == started.started_utc
    assert record["started_utc"] <= record["finished_utc"] == record["date_utc"]
    assert record["figure"] == 1


def test_the_start_defaults_to_when_the_bench_script_imported_bench_common(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import common

    monkeypatch.setattr(common, "RUN_START", common.RunStart("2020-01-01T00:00:00+00:00", "aaaa111", False))
    _code(monkeypatch, "aaaa111", False)
    record = json.loads(common.write_result("fake", {}, tmp_path).read_text(encoding="utf-8"))
    assert record["started_utc"] == "2020-01-01T00:00:00+00:00"
    env = record["environment"]
    assert env["git_commit"] == env["git_commit_at_end"] == "aaaa111"
    assert env["git_dirty"] is env["git_dirty_at_end"] is False
