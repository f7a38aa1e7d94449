"""Label files kept in Excel under European locales (a research nurse's 61 files): a half grade
``2,5`` unquoted in a comma-separated file split over two columns (read as grade 2, silently),
an ICDR column with one typo or a total row, a title row above the header, Excel's "Unicode
text" ``labels.txt`` in the image folder, Office's ``~$labels.csv`` lock file."""

from __future__ import annotations

from pathlib import Path

from test_ingest import config, expect_error, make_plain

from data_prep import validate
from data_prep.layout import discover, scan_image_folder

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
    marks = ["image name,DR grade,checked", "a.png,0,NA", "b.png,2,NA", "c.png,3,NA", "d.png,4,1",
             "e.png,1,1", "f.png,1,0"]  # half NA, half numbers: a column of values
    table, problems = read(tmp_path, marks)
    assert table is not None and not [p for p in problems if "decimal comma" in p.what], problems
    semicolon = ["image name;DR grade;Bemerkung", "a.png;0;", "b.png;2;5", "c.png;3;", "d.png;4;"]
    table, problems = read(tmp_path, semicolon)
    assert table is not None and not [p for p in problems if "decimal comma" in p.what], problems
    # a sparse column of whole numbers: 3 of 12 rows filled, one value each (follow-up months,
    # a visual acuity, laser sessions, a second finding, an adjudication), a DME 0/1 mark on
    # every row, a year of surgery on 2 rows: read as on main, no error
    for name, value, filled in [("follow-up months", "6", 3), ("VA", "5", 3), ("laser sessions", "2", 3),
                                ("Zweitbefund", "2", 3), ("adjudicated", "3", 3), ("Jahr OP", "2019", 2)]:
        rows = [f"e{i:02d}.png,{i % 3},{value if i < filled else ''}" for i in range(12)]
        table, problems = read(tmp_path, [f"image name,DR grade,{name}", *rows])
        assert table is not None and not [p for p in problems if p.severity == "error"], (name, problems)
    # a visual acuity with a word among its numbers (CF: counting fingers): a column of its own
    acuity = [f"e{i:02d}.png,{i % 3},{'CF' if i == 5 else (str(6 + i) if i < 9 else '')}" for i in range(12)]
    table, problems = read(tmp_path, ["image name,DR grade,VA", *acuity])
    assert table is not None and not [p for p in problems if p.severity == "error"], problems
    dme = [f"e{i:02d}.png,{i % 3},{i % 2}" for i in range(12)]
    table, problems = read(tmp_path, ["image name,DR grade,DME", *dme])
    assert table is not None and not [p for p in problems if p.severity != "note"], problems
    # a sparse column of digits is one note naming its lines, not an error per row
    months = [f"e{i:02d}.png,{i % 3},{'6' if i < 3 else ''}" for i in range(12)]
    _, problems = read(tmp_path, ["image name,DR grade,follow-up months", *months])
    (said,) = [p for p in problems if "follow-up months" in p.what]
    assert said.severity == "note" and "on 3 of 12 rows (lines 2, 3, 4)" in said.what, said


def test_a_comment_column_holding_only_the_decimals_or_dashes_is_still_refused(tmp_path: Path) -> None:
    """F1 kept: a comment column empty but for the spilled 5, or ``-`` on every other row."""
    empty = ["image name,DR grade,Bemerkung", "a.png,0,", "b.png,2,5", "c.png,3,", "d.png,4,"]
    _, problems = read(tmp_path, empty)
    assert [p.path.rsplit(":", 1)[1] for p in problems if p.severity == "error"] == ["3"], problems
    dashes = ["image name,DR grade,Bemerkung", "a.png,0,-", "x.png,2,5", "c.png,3,-", "d.png,4,-"]
    _, problems = read(tmp_path, dashes)
    assert [p.path.rsplit(":", 1)[1] for p in problems if p.severity == "error"] == ["3"], problems


def test_excel_unicode_text_labels_in_the_image_folder_are_the_labels_not_an_image(tmp_path: Path) -> None:
    """F4: Excel's "Unicode text" (UTF-16, tab-separated) saved as labels.txt beside the images
    and passed as --labels-csv was read, then refused as "not an image file (.txt)"."""
    root = make_plain(tmp_path / "images", {f"e{i}.png": i % 3 for i in range(6)})
    (root / "labels.csv").unlink()
    rows = ["image name\tDR grade", *(f"e{i}.png\t{i % 3}" for i in range(6))]
    (root / "labels.txt").write_text("\r\n".join(rows) + "\r\n", encoding="utf-16")
    layout = discover(config(root, labels_csv=str(root / "labels.txt")))
    assert (root / "labels.txt") in layout.skip
    scan = scan_image_folder(layout.train_dir, layout.skip)
    assert not [p for p in scan.problems if "labels.txt" in p.path], scan.problems


def test_an_office_lock_file_is_no_second_label_csv(tmp_path: Path) -> None:
    """F5: Excel's lock file ``~$labels.csv`` (the CSV is open) made "2 CSV files ... which one
    holds the labels?"."""
    root = make_plain(tmp_path / "images", {f"e{i}.png": i % 3 for i in range(3)})
    (root / "~$labels.csv").write_bytes(b"\x0bnurse" + b"\x00" * 40)
    layout = discover(config(root))
    assert layout.labels_csv == root / "labels.csv"
    assert not [p for p in layout.problems if p.severity == "error"], layout.problems


def icdr_folder(root: Path, extra: list[str]) -> Path:
    """A plain folder of 20 colour photographs graded 0..4, rows ``extra`` appended (``;``)."""
    make_plain(root, {f"e{i:02d}.png": i % 5 for i in range(20)})
    rows = ["image name;DR grade", *(f"e{i:02d}.png;{i % 5 if i != 3 else 5}" for i in range(20)), *extra]
    (root / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def test_one_typo_among_icdr_grades_is_said_by_line_on_the_inferred_scale(tmp_path: Path) -> None:
    """F2: ICDR 0-4 with one 5, no --grades, was "grade outside {0, 1, 2}, the scale of --grades
    (0 Normal, 1 NPDR, 2 PDR)... e.g. line 2 (grade 3)", its first fix a 6-grade scale."""
    root = icdr_folder(tmp_path / "images", [])
    message = expect_error(config(root, modality="fundus"), tmp_path / "out",
                           "labels.csv:5: grade 5 of e03.png is outside {0, 1, 2, 3, 4} (the ICDR "
                           "scale inferred from the other rows", "all but 1 row of the label CSV")
    assert "0 Normal" not in message and "scale of --grades" not in message, message


def test_a_total_row_is_a_stray_row_named_as_such(tmp_path: Path) -> None:
    """F2: Excel's total row ``Gesamt;30`` below the grades: named, and the typo's row first."""
    root = icdr_folder(tmp_path / "images", ["Gesamt;30"])
    message = expect_error(config(root, modality="fundus"), tmp_path / "out",
                           "2 rows have a grade outside {0, 1, 2, 3, 4}, the ICDR scale inferred",
                           "e.g. line 22 (Gesamt, grade 30: a total row?) and line 5 (e03.png, grade 5)",
                           "labels.csv:22: label without image: Gesamt is not in",
                           "(a spreadsheet total row?) -> delete the row")
    assert "31 grades" not in message, message


def test_the_default_scale_is_not_called_the_scale_of_grades_and_the_rarest_row_comes_first() -> None:
    """F2: without --grades the message said "the scale of --grades"; its examples were the
    first rows (grade 3), not the lone 5 (a typo)."""
    outside = [(2, "a.png", "3", 3), (3, "b.png", "4", 4), (4, "c.png", "3", 3), (9, "d.png", "5", 5)]
    said = validate.outside_problem(Path("labels.csv"), outside, ("Normal", "NPDR", "PDR"), {0, 1, 2, 3, 4, 5},
                                    scale_given=False)
    assert said is not None and "the default scale (0 Normal" in said.what, said
    assert "e.g. line 9 (d.png, grade 5) and line 3 (b.png, grade 4)" in said.what, said.what
    one = validate.outside_problem(Path("labels.csv"), outside[:1], ("Normal", "NPDR", "PDR"), {0, 1, 3},
                                   scale_given=False)
    assert one is not None and "(the default scale: 0 Normal" in one.what, one.what


def test_a_title_row_above_the_header_is_said_with_the_line_to_delete(tmp_path: Path) -> None:
    """F3: Excel's title row above the table gave "did you mean 'DR-Graduierung Studie XY'? pass
    --grade-column ...". With the wanted columns below it, or (other column names) file names."""
    rows = ["e1.png;0;", "e2.png;2;"]
    table, problems = read(tmp_path, ["DR-Graduierung Studie XY, Export 07.12.2026;;",
                                      "image name;DR grade;Bemerkung", *rows])
    assert table is None and [p.line for p in problems if p.severity == "error"] == [
        f"{tmp_path / 'labels.csv'}:1: line 1 looks like a title ('DR-Graduierung Studie XY, Export "
        "07.12.2026'), not the header: the header is on line 2 -> delete line 1 (above the header) "
        "in the spreadsheet program and save the file again"], problems
    table, problems = read(tmp_path, ["DR-Graduierung Studie XY;;", "", "Bild;Stufe;Bemerkung", *rows])
    (title,) = [p for p in problems if p.severity == "error"]
    assert "the header is on line 3 -> delete lines 1-2" in title.line and "--grade-column" not in title.fix
    # a header on line 1 whose names differ from the ones given is no title: the column hint stays
    table, problems = read(tmp_path, ["Bild;Stufe", *rows])
    assert table is None and not [p for p in problems if "title" in p.what], problems


def test_a_grade_cell_excel_turned_into_a_date_is_said_as_a_date(tmp_path: Path) -> None:
    """F6: ``02.Jan`` (a typed 2.1) was offered as a grade name: ``--grades "...,02.Jan,..."``."""
    dates = ["02.Jan", "3. Feb", "Jan 03", "2026-01-02", "02.01.2026"]
    cells = ["0", "1", *dates, "2", "Mild", "4"]
    _, problems = read(tmp_path, ["image name;DR grade", *(f"e{i}.png;{c}" for i, c in enumerate(cells))])
    said = {p.what.split("'")[1]: p for p in problems if p.severity == "error"}
    assert set(said) == {*dates}, problems  # 'Mild' is ICDR's grade 1
    for p in said.values():
        assert "is a date: the spreadsheet program turned the cell into one" in p.what, p.what
        assert p.fix.startswith("format the grade column as Number or Text") and "--grades" not in p.fix


def test_strays_keep_the_default_scale_unless_every_icdr_grade_is_there(tmp_path: Path) -> None:
    """R2: 30 images graded 0..2 with a typo 4 and a typo 7: ICDR was inferred and only the 7
    said (fixed, 5 grades trained, one grade-4 image, no grade 3); both are said on the default
    scale."""
    grades = {f"e{i:02d}.png": i % 3 for i in range(30)}
    grades["e04.png"], grades["e05.png"] = 4, 7
    root = make_plain(tmp_path / "images", grades)
    message = expect_error(config(root, modality="fundus"), tmp_path / "out",
                           "the default scale", "(e04.png, grade 4)", "(e05.png, grade 7)")
    assert "ICDR scale inferred" not in message, message


def test_a_grade_name_of_a_month_word_and_a_digit_is_no_date() -> None:
    """R3: ``Set 1`` (Italian/Spanish September), ``Gen 2``, ``Mai 2``, ``Dec 1``, ``Mag 1`` were
    dates; a day-first cell needs a day 1..31."""
    for cell in ("Set 1", "Gen 2", "Mai 2", "Dec 1", "Mag 1", "32.Jan", "Mild 2", "2 Set"):
        assert not validate.date_cell(cell), cell
    for cell in ("02.Jan", "3. Feb", "02-déc", "Jan 03", "Jan-02", "Feb 3, 2026", "2. Januar 2026",
                 "2026-01-02", "02.01.2026"):
        assert validate.date_cell(cell), cell


def test_strays_keep_the_default_scale_when_one_icdr_grade_has_a_single_row(tmp_path: Path) -> None:
    """Each grade 0..4 needs 2 rows for ICDR to be inferred despite a stray: grade 3 on one row
    and a 7 keep the default scale's error (a mutation audit: 1 row each was once enough)."""
    grades = [0, 0, 1, 1, 2, 2, 3, 4, 4, 4, 7]
    root = make_plain(tmp_path / "images", {f"e{i:02d}.png": g for i, g in enumerate(grades)})
    message = expect_error(config(root, modality="fundus"), tmp_path / "out", "(e10.png, grade 7)")
    assert "inferred from the other rows" not in message, message


def test_two_decimals_split_over_the_comment_column_are_refused(tmp_path: Path) -> None:
    """``1,25`` unquoted: 25 in the comment column is two decimals, refused by line (a mutation audit)."""
    lines = ["image name,DR grade,Bemerkung", "a.png,0,", "b.png,1,25", "c.png,3,", "d.png,4,"]
    _, problems = read(tmp_path, lines)
    assert [p.path.rsplit(":", 1)[1] for p in problems if p.severity == "error"] == ["3"], problems


def test_a_two_cell_header_with_an_extensionless_name_below_is_no_title(tmp_path: Path) -> None:
    """A first record of two cells is a header, not a one-cell title, even when a name without
    extension ('e0') sits on line 2 (a mutation audit)."""
    _, problems = read(tmp_path, ["Bild;Stufe", "e0;0", "e1.png;0", "e2.png;2"])
    assert not [p for p in problems if "title" in p.what], problems


def test_a_sparse_column_of_zeros_beside_the_grade_is_not_said(tmp_path: Path) -> None:
    """A ``laser`` column 0 on 3 of 12 rows: all 0, so no decimals and nothing to say (a mutation audit)."""
    rows = [f"e{i:02d}.png,{i % 3},{'0' if i < 3 else ''}" for i in range(12)]
    _, problems = read(tmp_path, ["image name,DR grade,laser", *rows])
    assert not [p for p in problems if "laser" in p.what], problems


def test_a_column_of_numbers_filled_on_half_the_rows_is_noted(tmp_path: Path) -> None:
    """Filled on exactly half the rows (3 of 6) is still sparse: one note (a mutation audit)."""
    rows = [f"e{i:02d}.png,{i % 3},{'6' if i < 3 else ''}" for i in range(6)]
    _, problems = read(tmp_path, ["image name,DR grade,follow-up months", *rows])
    (said,) = [p for p in problems if "follow-up months" in p.what]
    assert said.severity == "note" and "on 3 of 6 rows" in said.what, said
