"""A CLI review (F8): ``export --images /test --out /test/s.csv`` was told "e.g. --out
/submission.csv", a file in the file system's root (which only root may write); a folder this
user cannot write was offered alike. The fix now offers the current folder then."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from drac_ssl import out_paths


def test_a_fix_never_offers_the_root_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert out_paths._above(Path("/test"), "submission.csv") == Path("submission.csv")
    assert out_paths._above(tmp_path / "test", "submission.csv") == tmp_path / "submission.csv"  # as before


def test_a_folder_above_the_images_that_cannot_be_written_is_not_offered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = tmp_path / "shared" / "test"
    images.mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    closed = str(tmp_path / "shared")
    monkeypatch.setattr(out_paths.os, "access", lambda path, mode: os.path.abspath(path) != closed)
    problem = out_paths.export_out_problem(images / "s.csv", None, images) or ""
    assert problem.endswith("e.g. --out submission.csv"), problem


def test_with_no_folder_of_its_own_to_write_the_temporary_folder_is_offered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a review (F2): the current folder mode 555 and HOME=/nonexistent offered a folder of
    # root's; the current folder / and HOME=/ offered /submission.csv
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(out_paths.tempfile, "gettempdir", lambda: str(temporary))
    monkeypatch.setattr(out_paths.os, "access", lambda path, mode: os.path.abspath(path) == str(temporary))
    monkeypatch.setenv("HOME", "/nonexistent")
    monkeypatch.chdir(tmp_path)
    assert out_paths._above(tmp_path / "test", "submission.csv") == temporary / "submission.csv"
    monkeypatch.setenv("HOME", "/")
    monkeypatch.chdir("/")
    assert out_paths._above(Path("/test"), "submission.csv") == temporary / "submission.csv"
