"""A CLI review (F7): ``python -m drac_ssl.report RUN/bundle`` said "not a run folder ... fix:
pass a run folder" although the folder above it is one; now the fix names that folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl import report
from drac_ssl.run_state import run_folder_problem


def test_a_folder_inside_a_run_folder_is_answered_with_the_run_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "run"
    (run / "bundle").mkdir(parents=True)
    (run / "config.yaml").write_text("run: {}\n")
    assert report.main([str(run / "bundle")]) == 2
    err = capsys.readouterr().err
    assert f"fix: pass the run folder it is in, {run}" in err, err
    monkeypatch.chdir(run / "bundle")  # '.': its parent named in full
    assert run_folder_problem(".").endswith(f"fix: pass the run folder it is in, {run}")
    (run / "bundle" / "sub").mkdir()  # '..' from RUN/bundle/sub is RUN/bundle (a review F4)
    monkeypatch.chdir(run / "bundle" / "sub")
    assert run_folder_problem("..").endswith(f"fix: pass the run folder it is in, {run}")
    (tmp_path / "other").mkdir()  # not inside one: as before
    assert run_folder_problem(tmp_path / "other").endswith("fix: pass a run folder (runs/<run.name>)")
