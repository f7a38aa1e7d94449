"""report.md's provenance line for a run made by an installed wheel (a trial user's findings):
the wheel's build commit named, the version said once, and an upgraded wheel of the same code
not said to be "this commit"."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from drac_ssl import report, runtime

FINGERPRINT = "ab" * 32
BUILD = "e6cd020d" + "0" * 32


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch):
    """This process as an installed wheel built from BUILD, its code FINGERPRINT."""
    monkeypatch.setattr(runtime, "code_source", lambda package_dir=None: "installed package")
    monkeypatch.setattr(runtime, "code_version", lambda: {"code_fingerprint": FINGERPRINT})
    monkeypatch.setattr(runtime, "build_origin", lambda package_dir=None: {"build_commit": BUILD, "build_dirty": False})
    monkeypatch.setattr(runtime, "distribution_version", lambda: "0.1.0+2999.ge6cd020")
    monkeypatch.setattr(report, "__version__", "0.1.0+2999.ge6cd020")


def _run(tmp_path: Path, version: str, build: str) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "environment.json").write_text(json.dumps({
        "git_commit": "unknown", "git_dirty": None, "code_source": "installed package",
        "distribution_version": version, "build_commit": build, "build_dirty": False,
        "code_fingerprint": FINGERPRINT}))
    return run


def test_an_installed_wheels_run_names_its_build_commit_and_its_version_once(tmp_path: Path, installed) -> None:
    line = report.provenance_line(_run(tmp_path, "0.1.0+2999.ge6cd020", BUILD))
    assert "at commit e6cd020 (the installed wheel's build)" in line, line
    assert line.split(". ")[0].count("0.1.0+2999.ge6cd020") == 1, line
    assert "commit unknown" not in line, line


def test_an_upgraded_wheel_of_the_same_code_is_not_said_to_be_the_runs_commit(tmp_path: Path, installed) -> None:
    line = report.provenance_line(_run(tmp_path, "0.1.0+2990.g1111111", "1111111" + "0" * 33))
    assert "this commit too" not in line, line
    assert ("the run was made by the same code (fingerprint abababababab) as drac_ssl 0.1.0+2990.g1111111 "
            "(built from commit 1111111)") in line, line


def test_the_same_wheel_made_the_run_at_this_commit(tmp_path: Path, installed) -> None:
    assert "the run was made at this commit too" in report.provenance_line(_run(tmp_path, "0.1.0+2999.ge6cd020", BUILD))
