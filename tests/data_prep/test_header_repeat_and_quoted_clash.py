"""Two label-CSV messages of a clinic data manager's findings (F6a, F6b): conflicting grades
printed as ``[3,0, 4]`` (a decimal comma read as two cells), and a header row repeated
mid-file told to pass every grade's name with --grades."""

from __future__ import annotations

from pathlib import Path

from data_prep import validate

ICDR = ("No DR", "Mild", "Moderate", "Severe", "PDR")


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(["Image ID;DR grade", *lines]) + "\n", encoding="utf-8")
    return path


def test_conflicting_grades_quote_each_cell(tmp_path: Path) -> None:
    path = write(tmp_path, ["e00.jpg;3,0", "e01.jpg;1", "e00.jpg;4"])
    table, _ = validate.read_labels(path, "Image ID", "DR grade", "", ICDR)
    assert table is not None
    (clash,) = validate.duplicate_label_rows(table)
    assert "with conflicting grades ['3,0', '4']" in clash.what, clash.what


def test_a_repeated_header_row_is_said_as_one(tmp_path: Path) -> None:
    path = write(tmp_path, ["e00.jpg;0", "e01.jpg;1", "image id ; DR Grade", "e02.jpg;2"])
    table, problems = validate.read_labels(path, "Image ID", "DR grade", "", ICDR, scale_given=True)
    assert table is not None and [r.name for r in table.rows] == ["e00.jpg", "e01.jpg", "e02.jpg"]
    (said,) = [p for p in problems if p.severity == "error"]
    assert said.path == f"{path}:4" and said.what.startswith("line 4 repeats the header row")
    assert said.fix.startswith("delete it") and "--grades" not in said.fix
