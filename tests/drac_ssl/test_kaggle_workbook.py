"""A Kaggle ``id_code,diagnosis`` file saved as an Excel workbook under a ``.csv`` name gets the
DRAC check's refusal (an Excel workbook, not a CSV, and how to save it as CSV): kaggle.py
read the bytes itself and said "not UTF-8 text" or a garbled header instead."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from drac_ssl.kaggle import check_kaggle, read_kaggle, report_kaggle_check
from drac_ssl.submission import check_submission

SAVE_AS = "open it in the spreadsheet program and save it as CSV: File > Save As > CSV UTF-8"


def _workbook(path: Path, compression: int) -> Path:
    """A minimal .xlsx (a ZIP whose members are named as Excel's) holding a Kaggle sheet."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", "<sheetData>" + "<row>id_code diagnosis</row>" * 50
                    + "</sheetData>")
    return path


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED],
                         ids=["deflated", "stored"])
def test_a_kaggle_workbook_saved_as_csv_gets_the_workbook_refusal(
        compression: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _workbook(tmp_path / "kaggle_sub.csv", compression)
    said = f"{sub}:0: an Excel workbook, not a CSV -> {SAVE_AS}"
    assert check_kaggle(sub) == [said]
    assert check_kaggle(sub) == check_submission(sub)  # one reader, one refusal
    assert read_kaggle(sub) == (None, [said])
    assert report_kaggle_check(sub) == 1
    assert capsys.readouterr().out == said + "\n"


def test_a_kaggle_file_with_a_bom_is_still_said_so(tmp_path: Path) -> None:
    """The shared reader names Kaggle's first column, not DRAC's ``case``."""
    sub = tmp_path / "kaggle_sub.csv"
    sub.write_bytes(b"\xef\xbb\xbfid_code,diagnosis\na1,0\n")
    assert check_kaggle(sub) == [
        f"{sub}:1: the file starts with a UTF-8 byte-order mark, which turns the first column name "
        "into '\\ufeffid_code' -> save it as plain UTF-8 without BOM"]
