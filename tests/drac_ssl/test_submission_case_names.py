"""The submission check applies the package's one rule of a case name (``case_name_problem``),
with or without the test images, and says a row by the line its record starts on."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from drac_ssl.challenge import DRAC_TEST_IMAGES
from drac_ssl.exit_codes import INCOMPLETE_SUBMISSION
from drac_ssl.submission import (
    SUBMISSION_COLUMNS,
    case_name_problem,
    check_submission,
    main,
    printable_text,
    read_submission,
    safe_case_name,
)

ROOT = Path(__file__).resolve().parents[2]
ROW = ["0", "0.8", "0.1", "0.1"]
# names write_submission and the export refuse: DRAC's format quotes nothing, and a formula
REFUSED = ["a\r\nb.png", "a\nb.png", "a,b.png", 'a"b.png', "=cmd.png"]


def _file(path: Path, cases: list[str], newline: str = "\r\n") -> Path:
    """A submission whose rows are ``cases`` with the same probabilities, written as a CSV tool
    writes it: a case holding a comma, quote or line break quoted (a record over two lines)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(SUBMISSION_COLUMNS)
    for case in cases:
        writer.writerow([case, *ROW])
    path.write_bytes(out.getvalue().encode("utf-8"))
    return path


def _expected(path: Path, line: int, name: str) -> str:
    return (f"{path}:{line}: case '{printable_text(name)}' {case_name_problem(name)} -> rename the image "
            f"file to '{safe_case_name(name)}' and write that name as its case")


@pytest.mark.parametrize("name", REFUSED)
def test_a_case_name_the_writer_refuses_fails_the_format_only_check(
        tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A reviewer's finding: a 386-row file whose last case was '"a\\r\\nb.png"' passed as 'OK: 386
    cases, the format only', exit 0; with 3 rows the only complaint was the row count."""
    assert case_name_problem(name) is not None  # the rule refuses it: the check must too
    cases = [f"{i}.png" for i in range(DRAC_TEST_IMAGES - 1)] + [name]
    path = _file(tmp_path / "full.csv", cases)
    assert main(["--check", str(path)]) == 1  # problems: not 0 (OK) nor 3 (only incomplete)
    out = capsys.readouterr().out
    assert out.splitlines() == [_expected(path, DRAC_TEST_IMAGES + 1, name)], out
    assert "OK" not in out and "format is valid" not in out

    short = _file(tmp_path / "short.csv", ["1.png", "2.png", name, "3.png"])
    assert main(["--check", str(short)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines() == [_expected(short, 4, name)], out  # its record starts on line 4
    assert check_submission(short) == [_expected(short, 4, name)]
    assert read_submission(short)[0] is None  # --score refuses it too


def test_the_export_check_command_refuses_a_multi_line_case(tmp_path: Path) -> None:
    name = "a\r\nb.png"
    path = _file(tmp_path / "crlf.csv", [f"{i}.png" for i in range(DRAC_TEST_IMAGES - 1)] + [name])
    res = subprocess.run([sys.executable, "-m", "drac_ssl.export", "--check", str(path)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 1 and res.returncode != INCOMPLETE_SUBMISSION, res.stdout + res.stderr
    assert res.stdout.splitlines() == [_expected(path, DRAC_TEST_IMAGES + 1, name)], res.stdout
    assert "1 problem(s) in" in res.stderr


def test_with_the_images_a_multi_line_case_is_said_at_its_first_line_on_one_line_each(tmp_path: Path) -> None:
    """With --images it was caught only as 'has no image', at crlf.csv:5 (where the record ends),
    its name printed with a raw line break that split the problem over two lines."""
    images = tmp_path / "images"
    images.mkdir()
    for i in (1, 2, 3):
        (images / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    name = "a\r\nb.png"
    path = _file(tmp_path / "crlf.csv", ["1.png", "2.png", name, "3.png"])
    problems = check_submission(path, images)
    assert problems == [_expected(path, 4, name),
                        f"{path}:4: case 'a\\r\\nb.png' has no image in '{images}' -> remove the row, or "
                        "check that --images is the test-set folder"], problems
    assert not any("\n" in p or "\r" in p for p in problems)


def test_surrounding_spaces_are_said_once_and_a_clean_file_is_still_ok(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spaced = _file(tmp_path / "spaced.csv", ["1.png", " 2.png", "3.png"], newline="\n")
    assert check_submission(spaced) == [f"{spaced}:3: case ' 2.png' has surrounding spaces -> write '2.png'"]
    # a case without extension that the rule refuses too is one problem, not two
    bare = _file(tmp_path / "bare.csv", ["1.png", "=cmd"], newline="\n")
    assert check_submission(bare) == [_expected(bare, 3, "=cmd")]

    clean = _file(tmp_path / "clean.csv", [f"{i}.png" for i in range(DRAC_TEST_IMAGES)])
    assert main(["--check", str(clean)]) == 0
    assert capsys.readouterr().out.startswith(f"OK: {DRAC_TEST_IMAGES} cases, the format only")


def test_a_valid_file_s_rows_are_read_at_the_line_they_start_on(tmp_path: Path) -> None:
    """A quoted cell holding a line break that the check accepts (a probability '0.8\\n'): the
    rows read back name the line each record starts on, as the check's problems do."""
    path = tmp_path / "wrapped.csv"
    path.write_text(f"{','.join(SUBMISSION_COLUMNS)}\n1.png,0,\"0.8\n\",0.1,0.1\n2.png,0,0.8,0.1,0.1\n",
                    encoding="utf-8")
    rows, problems = read_submission(path)
    assert problems == [] and rows is not None
    assert rows.cases == ["1.png", "2.png"] and rows.lines == [2, 4]
