"""Label files kept in Excel under European locales (a research nurse's 61 files): a half grade
``2,5`` unquoted in a comma-separated file split over two columns (read as grade 2, silently),
an ICDR column with one typo or a total row, a title row above the header, Excel's "Unicode
text" ``labels.txt`` in the image folder, Office's ``~$labels.csv`` lock file."""

from __future__ import annotations

from pathlib import Path

from data_prep import validate

ICDR = ("No DR", "Mild", "Moderate", "Severe", "PDR")


def read(tmp_path: Path, lines: list[str], **options: object) -> tuple[validate.LabelTable | None, list]:
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return validate.read_labels(csv_path, "image name", "DR grade", "", ICDR, **options)  # type: ignore[arg-type]


def test_a_half_grade_split_over_the_comment_column_is_refused_by_line(tmp_path: Path) -> None:
    """F1: ``2,5`` unquoted gave grade 2 and Bemerkung 5, exit 0; ``3,0`` is grade 3 (a note)."""
    lines = ["image name,DR grade,Bemerkung", "a.png,0,", "b.png,2,5,", "c.png,3,,",
             "d.png,1,Katarakt", "e.png,4,", "f.png,3,0"]
    _, problems = read(tmp_path, lines)
    errors = [p for p in problems if p.severity == "error"]
    assert [p.path.rsplit(":", 1)[1] for p in errors] == ["3"], problems
    assert "'2,5'" in errors[0].what and "decimal comma split over two columns" in errors[0].what
    assert "write a whole grade in line 3" in errors[0].fix and "'Bemerkung'" in errors[0].fix
    (zero,) = [p for p in problems if p.severity == "note" and "'3,0'" in p.what]
    assert zero.path.endswith(":7") and zero.fix.startswith("nothing to do (3,0 is grade 3)")


def test_a_numeric_column_beside_the_grade_is_read_as_its_own(tmp_path: Path) -> None:
    """F1 kept narrow: an age column (filled on most rows), a second grader's sparse column
    (a grade-like name), a semicolon-separated file: never said."""
    ages = ["image name,DR grade,age", "a.png,0,54", "b.png,2,61", "c.png,3,", "d.png,4,70"]
    table, problems = read(tmp_path, ages)
    assert table is not None and not [p for p in problems if "decimal comma" in p.what], problems
    second = ["image name,DR grade,grader 2", "a.png,0,", "b.png,2,3", "c.png,3,", "d.png,4,"]
    table, problems = read(tmp_path, second)
    assert table is not None and not [p for p in problems if "decimal comma" in p.what], problems
    semicolon = ["image name;DR grade;Bemerkung", "a.png;0;", "b.png;2;5", "c.png;3;", "d.png;4;"]
    table, problems = read(tmp_path, semicolon)
    assert table is not None and not [p for p in problems if "decimal comma" in p.what], problems
