"""A CLI review: ``python -m app --runs-dir nope`` said "No model bundle found under nope/" as
if the folder had been searched (F5), and ``--auth-file /tmp`` said "cannot read it
(IsADirectoryError)" (F6). Each now says what the path is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.auth import AuthFileError, read_auth_file
from app.bundle_path import NoBundleError, find_newest_bundle


def test_a_runs_dir_not_there_or_a_file_is_said_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NoBundleError) as missing:
        find_newest_bundle("nope")
    assert f"under nope/: that folder does not exist (read from the current folder, {os.getcwd()};" in str(missing.value)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(NoBundleError) as file:
        find_newest_bundle("file.txt")
    assert "file.txt/: that is a file, not a folder" in str(file.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoBundleError) as empty:  # searched: said as before
        find_newest_bundle("empty")
    assert "under empty/ (a bundle is RUN/bundle/metadata.json)" in str(empty.value)


def test_an_auth_file_that_is_a_folder_is_said_to_be_one(tmp_path: Path) -> None:
    with pytest.raises(AuthFileError) as raised:
        read_auth_file(tmp_path)
    said = str(raised.value)
    assert f"--auth-file {tmp_path}: a folder, not a file" in said and "IsADirectoryError" not in said, said
