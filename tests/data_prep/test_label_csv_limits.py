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


def test_the_size_cap_is_one_gib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation audit M27: the cap raised a thousandfold passed the test above, which sets its
    own. Catches that without writing a GiB: a sparse file of 1 GiB + 1 byte (``os.truncate``,
    no disk used) is refused unread; one of exactly 1 GiB is read (here: its reader stubbed)."""
    import os

    path = tmp_path / "labels.csv"
    path.touch()
    os.truncate(path, 1024 ** 3 + 1)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("a file over 1 GiB was read"))
    table, problems = read_table(path, ("image", "grade"))
    assert table is None and "1,073,741,825 bytes, larger than any label CSV (at most 1,073,741,824" in \
        problems[0].what, problems
    os.truncate(path, 1024 ** 3)
    monkeypatch.setattr(Path, "read_bytes", lambda self: b"image,grade\na.png,0\n")
    table, problems = read_table(path, ("image", "grade"))
    assert table is not None and not any("larger than" in p.what for p in problems), problems


def test_a_cell_too_long_for_one_delimiter_is_read_with_another(tmp_path: Path) -> None:
    """Mutation audit M70: the record the comma reader refuses (one cell of 140,000 characters)
    is four short cells to the semicolon reader; the table is read with semicolons, not refused
    because one delimiter tried could not read it."""
    path = tmp_path / "labels.csv"
    path.write_text("image;grade;note;more\na.png;0;" + "x" * 70_000 + ";" + "y" * 70_000 + "\nb.png;1;ok;\n",
                    encoding="utf-8")
    table, problems = read_table(path, ("image", "grade"))
    assert table is not None and table.delimiter == ";", problems
    assert not [p for p in problems if p.severity == "error"], problems
