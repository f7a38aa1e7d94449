"""Checks of the name matching that a mutation run found untested: the byte comparison of two
files spelt one name (data_prep.layout.different_files), the files an ambiguous row claims
(data_prep.validate.match_labels) and the advice for rows naming files that cannot be read
(data_prep.validate.duplicate_label_rows)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from data_prep import layout, validate
from data_prep.validate import LabelRow, LabelTable


def test_two_files_of_one_size_and_time_but_other_bytes_differ(tmp_path: Path) -> None:
    """A shallow comparison (size and modification time) calls them the same: a copied camera
    export keeps both, and the advice to keep one would delete a photograph."""
    first, second = tmp_path / "IMG_1.png", tmp_path / "img_1.png"
    first.write_bytes(b"photograph one")
    second.write_bytes(b"photograph two")
    for path in (first, second):
        os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    assert layout.different_files([first, second]) is True
    second.write_bytes(b"photograph one")
    assert layout.different_files([first, second]) is False


def _table(tmp_path: Path, *names: str) -> LabelTable:
    rows = [LabelRow(name, 1, "", line) for line, name in enumerate(names, start=2)]
    return LabelTable(tmp_path / "labels.csv", ["image", "grade"], rows, n_rows=len(rows))


def test_an_ambiguous_row_claims_case_variants_without_being_matched_to_them(tmp_path: Path) -> None:
    """``Img_1.png`` spells neither ``IMG_1.png`` nor ``img_1.png``: one error, neither file is
    the row's image (not matched), nor also an image without label (claimed)."""
    images = [tmp_path / "IMG_1.png", tmp_path / "img_1.png", tmp_path / "a.png"]
    table = _table(tmp_path, "Img_1.png", "a.png")
    matched, problems, _ = validate.match_labels(images, table, tmp_path)
    assert {path.name: row.name for path, row in matched.items()} == {"a.png": "a.png"}
    assert [(p.severity, p.kind) for p in problems] == [("error", "match")], problems
    assert "spelled as neither file" in problems[0].what, problems[0].what


def test_rows_naming_two_files_that_cannot_be_read_are_told_to_rename(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unread, the two files may be two photographs: the advice that deletes nothing."""
    images = [tmp_path / "IMG_1.png", tmp_path / "img_1.png"]
    for path in images:
        path.write_bytes(b"a")

    def unreadable(*args: object, **kwargs: object) -> bool:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(layout.filecmp, "cmp", unreadable)
    (problem,) = validate.duplicate_label_rows(_table(tmp_path, "IMG_1.png", "img_1.png"), images=images)
    assert "they name 2 files (their contents could not be read to compare)" in problem.what, problem.what
    assert problem.fix == validate.TWO_IMAGES_FIX, problem.fix
