"""Label CSVs in the dialects spreadsheets and scripts write (``data_prep.labels``), and a
missing column's suggestion. The rows are written here in the real DRAC label file's shape (names
like ``001.png`` and ``1003.png``, grades 0-2); the real file itself (tests/helpers/shared_data.py)
is read by its own tests, which skip, counted, where the real data is absent."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from shared_data import SHARED_DATA, need

from data_prep import validate
from data_prep.labels import cell_file_name, parse_grade, read_table

REAL_LABELS = SHARED_DATA / "drac_labels" / "DRAC2022_ Diabetic Retinopathy Grading_Training Labels.csv"
HEADER = ("image name", "DR grade")


@pytest.fixture(scope="module")
def rows() -> list[tuple[str, int]]:
    """40 rows in the real file's shape: three- and four-digit names, grades 0-2."""
    return [(f"{i:03d}.png", i % 3) for i in range(1, 21)] + [(f"{1000 + i}.png", i % 3) for i in range(20)]


def real_rows() -> list[tuple[str, int]]:
    """The real DRAC label file's rows (the test skips, counted, without it; the skip is
    reported at the test's line, not here)."""
    __tracebackhide__ = True
    lines = need(REAL_LABELS, "the real DRAC label file").read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(HEADER), lines[0]
    return [(name, int(grade)) for name, grade in (line.split(",") for line in lines[1:])]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def read(path: Path) -> tuple[validate.LabelTable | None, list[validate.Problem]]:
    return validate.read_labels(path, *HEADER)


def expect_rows(table: validate.LabelTable | None, problems: list[validate.Problem],
                rows: list[tuple[str, int]]) -> None:
    errors = [p.line for p in problems if p.severity == "error"]
    assert not errors, errors
    assert table is not None
    assert [(r.name, r.grade) for r in table.rows] == rows


def lines(rows: list[tuple[str, int]], sep: str, grade: str = "{}") -> list[str]:
    return [f"{n}{sep}{grade.format(g)}" for n, g in rows]


DIALECTS = {
    # the issue's case: European Excel, CRLF, one trailing empty line
    "semicolon CRLF trailing empty line": lambda r: ("image name;DR grade\r\n"
                                                     + "\r\n".join(lines(r, ";")) + "\r\n\r\n",
                                                     "utf-8"),
    "comma LF": lambda r: ("image name,DR grade\n" + "\n".join(lines(r, ",")) + "\n", "utf-8"),
    "tab UTF-16 with BOM (Excel Unicode text)": lambda r: (
        "image name\tDR grade\r\n" + "\r\n".join(lines(r, "\t")) + "\r\n", "utf-16"),
    "pipe": lambda r: ("image name|DR grade\n" + "\n".join(lines(r, "|")), "utf-8"),
    "CR line ends (old Mac Excel)": lambda r: ("image name,DR grade\r"
                                               + "\r".join(lines(r, ",")) + "\r", "utf-8"),
    "blank lines and delimiter-only rows": lambda r: (
        "\nimage name;DR grade\n\n" + "\n".join(lines(r[:20], ";")) + "\n;\n;;\n\n"
        + "\n".join(lines(r[20:], ";")) + "\n\n\n", "utf-8"),
    "UTF-8 BOM": lambda r: ("\ufeffimage name,DR grade\n" + "\n".join(lines(r, ",")), "utf-8"),
    "quoted header and values": lambda r: (
        '"image name","DR grade"\n' + "\n".join(f'"{n}","{g}"' for n, g in r), "utf-8"),
    "stray spaces": lambda r: (" image name  ;  DR grade \n"
                               + "\n".join(f"  {n} ; {g}  " for n, g in r), "utf-8"),
    "grades written 1.0": lambda r: ("image name,DR grade\n" + "\n".join(lines(r, ",", "{}.0")),
                                     "utf-8"),
    "grades written 1,0 (decimal comma)": lambda r: (
        "image name;DR grade\n" + "\n".join(lines(r, ";", "{},0")), "utf-8"),
    "Excel sep= line": lambda r: ("sep=;\r\nimage name;DR grade\r\n"
                                  + "\r\n".join(lines(r, ";")), "utf-8"),
    "trailing empty cells": lambda r: ("image name,DR grade,,\n"
                                       + "\n".join(f"{n},{g},," for n, g in r), "utf-8"),
    "index column": lambda r: (",image name,DR grade\n"
                               + "\n".join(f"{i},{n},{g}" for i, (n, g) in enumerate(r)), "utf-8"),
    "header case and spacing": lambda r: ("Image  Name;dr grade\n" + "\n".join(lines(r, ";")),
                                          "utf-8"),
}


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_dialects_are_read(tmp_path: Path, rows: list[tuple[str, int]], dialect: str) -> None:
    text, encoding = DIALECTS[dialect](rows)
    table, problems = read(write(tmp_path / "labels.csv", text, encoding))
    expect_rows(table, problems, rows)


def test_cp1252_names(tmp_path: Path) -> None:
    """Excel's 'CSV' on Western Windows: not UTF-8; read as Windows-1252 and said."""
    path = write(tmp_path / "l.csv", "image name;DR grade\r\nœil_été.png;2\r\n", "cp1252")
    table, problems = read(path)
    expect_rows(table, problems, [("œil_été.png", 2)])
    assert any("Windows-1252" in p.what for p in problems)


def test_utf16_without_bom(tmp_path: Path, rows: list[tuple[str, int]]) -> None:
    text = "image name\tDR grade\n" + "\n".join(lines(rows, "\t"))
    table, problems = read(write(tmp_path / "l.csv", text, "utf-16-le"))
    expect_rows(table, problems, rows)
    assert any("UTF-16" in p.what for p in problems)


def test_what_pandas_writes(tmp_path: Path, rows: list[tuple[str, int]]) -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"image name": [n for n, _ in rows],
                              "DR grade": [float(g) for _, g in rows]})
    for i, kwargs in enumerate([{}, {"sep": ";", "decimal": ","}, {"sep": "\t", "index": False},
                                {"encoding": "utf-8-sig", "lineterminator": "\r\n"}]):
        path = tmp_path / f"p{i}.csv"
        frame.to_csv(path, **kwargs)
        table, problems = read(path)
        expect_rows(table, problems, rows)


def test_the_issue_case_suggests_a_column_that_can_work(tmp_path: Path,
                                                        rows: list[tuple[str, int]]) -> None:
    """``;`` + CRLF + a trailing empty line with a misnamed column: the suggestion is a real
    column, never the whole unsplit header line."""
    text = "image name;DR_grade\r\n" + "\r\n".join(lines(rows, ";")) + "\r\n\r\n"
    table, problems = read(write(tmp_path / "eu.csv", text))
    assert table is None
    message = "\n".join(p.line for p in problems)
    assert "did you mean 'DR_grade'" in message and "--grade-column 'DR_grade'" in message
    assert "semicolon-separated" in message
    assert "image name;DR" not in message


def test_a_header_that_cannot_be_split_says_so(tmp_path: Path) -> None:
    table, problems = read(write(tmp_path / "colon.csv", "image name:DR grade\n001.png:1\n"))
    assert table is None
    (problem,) = [p for p in problems if p.severity == "error"]
    assert "was not split into columns" in problem.what
    assert "did you mean" not in problem.fix and "--image-column" not in problem.fix


def test_a_first_row_of_data_is_not_a_header(tmp_path: Path) -> None:
    _, problems = read(write(tmp_path / "nohead.csv", "001.png,1\n002.png,0\n"))
    assert any("looks like data, not column names" in p.what for p in problems)


def test_a_decimal_comma_in_a_comma_file_is_an_error(tmp_path: Path) -> None:
    _, problems = read(write(tmp_path / "c.csv", "image name,DR grade\n001.png,1,0\n002.png,2\n"))
    (problem,) = [p for p in problems if p.severity == "error"]
    assert problem.path.endswith("c.csv:2") and "3 values but the header has 2" in problem.what
    assert "decimal" in problem.fix


def test_grade_cells() -> None:
    assert [parse_grade(v) for v in ("2", " 2 ", "2.0", "2,0", '"2"', "2.00E+00")] == [2] * 6
    assert [parse_grade(v) for v in ("2.5", "2,5", "x", "")] == [None] * 4


def test_grades_outside_k_name_the_setting(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", "image name,DR grade\n001.png,4\n002.png,PDR\n003.png,1\n")
    table, problems = read(path)
    text = "\n".join(p.line for p in problems)
    assert "grade 4 of 001.png is outside {0, 1, 2}" in text and "set --grades to the scale" in text
    assert "1 grade written as a name, read as a number: PDR=2" in text  # the scale's own name
    assert [r.grade for r in table.rows] == [None, 2, 1]
    icdr = validate.read_labels(path, *HEADER, grade_names=("No DR", "Mild", "Moderate",
                                                            "Severe", "PDR"))
    assert [r.grade for r in icdr[0].rows] == [4, 4, 1]  # 'PDR' is ICDR's grade 4


def test_table_reports_its_dialect(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", "a;b\r\n1;2\r\n", "utf-8")
    table, _ = read_table(path)
    assert table is not None and table.dialect == "semicolon-separated, utf-8"
    bom = tmp_path / "b.csv"
    bom.write_bytes(codecs.BOM_UTF8 + b"a,b\n1,2\n")
    table, _ = read_table(bom)
    assert table is not None and table.columns == ["a", "b"] and table.encoding == "utf-8-sig"


def _xlsx(path: Path) -> Path:
    """A minimal Office Open XML workbook: a ZIP whose members are named as Excel's."""
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    return path


def test_an_excel_workbook_is_named_not_read_as_utf16(tmp_path: Path) -> None:
    xls = tmp_path / "labels.xls"  # the old binary format: an OLE compound file
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + b"\x01\x02" * 300)
    for path in (_xlsx(tmp_path / "labels.xlsx"), xls):
        table, problems = read(path)
        assert table is None
        assert [(p.severity, p.what, p.fix) for p in problems] == [
            ("error", "an Excel workbook, not a CSV",
             "open it in the spreadsheet program and save it as CSV: File > Save As > CSV UTF-8")], path
    ods = tmp_path / "labels.ods"  # LibreOffice's: the same ZIP shape, its own words
    import zipfile

    with zipfile.ZipFile(ods, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", "<office/>")
    table, problems = read(ods)
    assert table is None and [p.what for p in problems] == ["an OpenDocument spreadsheet (.ods), not a CSV"]


def test_a_patient_level_grade_needs_a_patient_word_and_a_level_word(tmp_path: Path) -> None:
    """Review s57r2 F8: ``patient`` / ``subject`` / ``participant`` anywhere in a name kept it
    from the grade-column suggestions, so ``subject grade``, ``Grade_subject``,
    ``subjective_grade`` and ``participant_dr_grade`` were never offered; only a patient word
    and a level word together (DeepDRiD's ``patient_DR_Level``) are a patient-level grade."""
    from data_prep.labels import column_suggestion, patient_level_column

    for name in ("subject grade", "Grade_subject", "subjective_grade", "participant_dr_grade",
                 "DR grade", "outpatient_grade"):
        assert not patient_level_column(name), name
    for name in ("patient_DR_Level", "PatientDRLevel", "subject level", "patient worst grade"):
        assert patient_level_column(name), name
    for column in ("subjective_grade", "participant_dr_grade", "Grade_subject", "subject grade"):
        csv_path = tmp_path / f"{column}.csv"
        csv_path.write_text(f"image,{column}\n" + "".join(f"{i}.png,{i % 5}\n" for i in range(10)))
        table, _ = read_table(csv_path, ["image"])
        assert table is not None
        assert column_suggestion(table, "DR grade", "grade", avoid=["image"]) == column, column
    for column in ("patient_DR_Level", "patient_id"):  # a patient's grade, a patient's number
        csv_path = tmp_path / "deepdrid.csv"
        csv_path.write_text(f"image,{column}\n" + "".join(f"{i}.png,{i % 5}\n" for i in range(10)))
        table, _ = read_table(csv_path, ["image"])
        assert table is not None
        assert column_suggestion(table, "DR grade", "grade", avoid=["image"]) is None, column


def test_a_cells_file_name_is_the_last_part_of_either_paths_spelling() -> None:
    """One rule for every reader of a label cell (the ingest's rows, the per-eye note, the
    scorer, a submission's names): DeepDRiD's Windows ``image_path`` and a POSIX path give the
    file name, spaces around are not part of it, a bare id is itself."""
    assert cell_file_name("regular-fundus-training\\Images\\1\\1_l1.jpg") == "1_l1.jpg"
    assert cell_file_name(" Images/2/2_r1.jpg ") == "2_r1.jpg"
    assert cell_file_name("1_l1") == "1_l1"
    assert cell_file_name("  ") == ""


def test_the_real_drac_label_file_is_read_whole() -> None:
    real = real_rows()
    assert len(real) == 611 and [sum(g == k for _, g in real) for k in range(3)] == [329, 212, 70]
    expect_rows(*read(REAL_LABELS), real)


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_the_real_files_rows_are_read_in_every_dialect(tmp_path: Path, dialect: str) -> None:
    first = real_rows()[:40]
    text, encoding = DIALECTS[dialect](first)
    expect_rows(*read(write(tmp_path / "labels.csv", text, encoding)), first)
