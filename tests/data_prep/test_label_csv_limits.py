"""A label CSV Python's CSV reader refuses, and one too large to be a label table (security
review F4): said with the file, the line and a fix, not as an empty CSV."""
from __future__ import annotations

from pathlib import Path

import pytest

from data_prep import labels
from data_prep.labels import read_table


def test_a_cell_over_the_csv_readers_limit_is_said_with_its_line_not_as_an_empty_csv(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("image,grade\na.png,0\nb.png,1\nc.png," + "x" * 200_000 + "\nd.png,2\n", encoding="utf-8")
    table, problems = read_table(path, ("image", "grade"))
    assert table is None
    said = [f"{p.path}: {p.what} -> {p.fix}" for p in problems if p.severity == "error"]
    assert len(said) == 1, said
    assert said[0].startswith(f"{path}:4: ") and "131,072 characters" in said[0], said
    assert "unclosed quote" in said[0] and "empty" not in said[0], said


def test_a_label_csv_over_the_size_cap_is_refused_before_it_is_read(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("image,grade\na.png,0\n", encoding="utf-8")
    monkeypatch.setattr(labels, "LABEL_CSV_MAX_BYTES", 10)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read"))
    table, problems = read_table(path, ("image", "grade"))
    assert table is None and "larger than any label CSV" in problems[0].what, problems
