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
# names write_submission and the export refuse that DRAC's format, which quotes nothing, cannot hold
REFUSED = ["a\r\nb.png", "a\nb.png", "a,b.png", 'a"b.png']
# names the export refuses to write (a spreadsheet's formula) but a test image may bear: a warning
FORMULA_STARTS = ["-1.png", "+x.png", "@x.png", "=x.png"]


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
    cases = [f"{i:03d}.png" for i in range(DRAC_TEST_IMAGES - 1)] + [name]
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
    path = _file(tmp_path / "crlf.csv", [f"{i:03d}.png" for i in range(DRAC_TEST_IMAGES - 1)] + [name])
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
    bare = _file(tmp_path / "bare.csv", ["1.png", "a,b"], newline="\n")
    assert check_submission(bare) == [_expected(bare, 3, "a,b")]
    # a formula start is no problem: the missing extension is said, the formula a warning
    formula = _file(tmp_path / "formula.csv", ["1.png", "=cmd"], newline="\n")
    problems = check_submission(formula)
    assert problems == [f"{formula}:3: case '=cmd' has no file extension -> write the image's file "
                        "name, with its extension (e.g. .jpg, .png)"], problems
    assert len(problems.warnings) == 1 and problems.warnings[0].startswith(f"{formula}:3: warning: case '=cmd'")

    clean = _file(tmp_path / "clean.csv", [f"{i:03d}.png" for i in range(DRAC_TEST_IMAGES)])
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


@pytest.mark.parametrize("name", FORMULA_STARTS)
def test_a_case_a_spreadsheet_may_read_as_a_formula_is_a_warning_not_a_problem(
        tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A reviewer's finding: '-1.png' made --check exit 1 and --score refuse ("nothing was
    scored"), though a test image cannot be renamed (the grader keys on its name) and DRAC reads
    the unquoted name as it is. It is a warning on stderr; the exit code and the rows stay."""
    cases = [f"{i:03d}.png" for i in range(DRAC_TEST_IMAGES - 1)] + [name]
    path = _file(tmp_path / "full.csv", cases)
    # read as DRAC's (386 rows), no DRAC test name either (a later finding, F7a: it was skipped
    # as "said above", though only warned of): the grader cannot match it
    assert main(["--check", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{path}:{DRAC_TEST_IMAGES + 1}: 1 case(s) are no DRAC test image names: "
                                   f"'{name}' (line {DRAC_TEST_IMAGES + 1})"), captured.out
    warning = (f"{path}:{DRAC_TEST_IMAGES + 1}: warning: case '{name}' starts with {name[0]!r}: spreadsheets "
               "(Excel, LibreOffice) may read it as a formula -> nothing to change if it is the image's own "
               "file name (the grader keys on it); open the CSV as text, not in a spreadsheet (the export "
               "itself refuses to write such a name)")
    assert warning in captured.err.splitlines(), captured.err
    rows, problems = read_submission(path)  # what --score reads: the rows, the warning beside them
    assert problems == [] and rows is not None and rows.cases[-1] == name
    assert list(problems.warnings) == [warning]
    assert case_name_problem(name) is not None  # the export still refuses to write it

    # with a problem beside it, the exit is 1 for the problem, the formula still only a warning
    both = _file(tmp_path / "both.csv", ["1.png", name, "a,b.png"])
    assert main(["--check", str(both)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [_expected(both, 4, "a,b.png")], captured.out
    assert f"{both}:3: warning: case '{name}'" in captured.err


def test_a_formula_start_does_not_stop_the_score(tmp_path: Path) -> None:
    from drac_ssl import scoring

    sub = _file(tmp_path / "sub.csv", ["-1.png", "2.png", "3.png"])
    labels = tmp_path / "labels.csv"
    labels.write_text("image,level\n-1.png,0\n2.png,1\n3.png,2\n", encoding="utf-8")
    record = scoring.score(sub, labels, n_boot=10)  # scored, not SubmissionCheckFailed
    assert record["case_name_warnings"] == list(read_submission(sub)[1].warnings)
    assert record["case_name_warnings"][0].startswith(f"{sub}:2: warning: case '-1.png'")


def test_the_rename_fix_is_a_name_no_other_case_or_image_has(tmp_path: Path) -> None:
    """A reviewer's finding: with rows 'a,b.png' and 'a_b.png' the fix said rename to 'a_b.png',
    a name already taken; the export's own fix avoids the folder's names."""
    path = _file(tmp_path / "sub.csv", ["a,b.png", "a_b.png"])
    problems = check_submission(path)
    assert problems[0].endswith("-> rename the image file to 'a_b_2.png' and write that name as its case"), problems

    images = tmp_path / "images"
    images.mkdir()
    for name in ("a,b.png", "a_b.png", "c.png"):
        (images / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    alone = _file(tmp_path / "alone.csv", ["a,b.png", "c.png"])
    assert check_submission(alone, images)[0] == (
        f"{alone}:2: case 'a,b.png' {case_name_problem('a,b.png')} -> rename the image file to 'a_b_2.png' "
        "and write that name as its case")
    # two cases with the same fix get two names
    twins = _file(tmp_path / "twins.csv", ["a,b.png", 'a"b.png'])
    fixes = [p.split("rename the image file to ")[1] for p in check_submission(twins) if "rename" in p]
    assert fixes == ["'a_b.png' and write that name as its case", "'a_b_2.png' and write that name as its case"]


def test_a_stray_quote_is_one_column_problem_not_a_case_name(tmp_path: Path) -> None:
    """A reviewer's finding: '"x' on line 3 made csv swallow the next row into its record, and
    besides the column count the check said the 'case' contains a comma, with a rename to
    'x_2.png_0_0.8_0.1_0.1'. The record is said once, as of another width, a stray quote."""
    path = tmp_path / "stray.csv"
    path.write_text(f"{','.join(SUBMISSION_COLUMNS)}\n1.png,0,0.8,0.1,0.1\n\"x\n2.png,0,0.8,0.1,0.1\n",
                    encoding="utf-8")
    problems = check_submission(path)
    assert not any("rename the image file" in p or "contains a comma" in p for p in problems), problems
    assert problems == [f"{path}:3: 1 columns, expected 5 (case,class,P0,P1,P2); the record runs over several "
                        "lines: an unbalanced double quote? -> remove the stray double quote; write "
                        "case,class,P0,P1,P2 separated by commas, nothing else"], problems


def test_a_drac_file_s_cases_that_are_no_drac_test_names_fail_the_format_only_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A participant's finding: 386 rows of case,class,P0,P1,P2 named '1.png' (the zeros lost,
    as pandas does) or '001.jpg' passed as 'OK: 386 cases, the format only', exit 0, though the
    grader matches DRAC's test names ('001.png', '1000.png') exactly. --score, which matches by
    number, still reads them."""
    ids = range(1, DRAC_TEST_IMAGES + 1)
    zeros = _file(tmp_path / "zeros.csv", [f"{i}.png" for i in ids])
    assert main(["--check", str(zeros)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{zeros}:2: 99 case(s) lost their leading zeros (a spreadsheet read them as "
                          "numbers): '1.png' (line 2), '2.png' (line 3), '3.png' (line 4) and 96 more"), out
    assert "('1.png' -> '001.png')" in out and "OK" not in out and len(out.splitlines()) == 1
    assert read_submission(zeros)[0] is not None  # --score's reading: matched by number there

    jpg = _file(tmp_path / "jpg.csv", [f"{i:03d}.jpg" for i in ids])
    assert main(["--check", str(jpg)]) == 1
    assert "386 case(s) end in another extension than DRAC's test images' .png" in capsys.readouterr().out

    # DRAC's own names pass: 3 digits up to 999, then the plain id
    good = _file(tmp_path / "good.csv", [f"{i:03d}.png" for i in range(995, 995 + DRAC_TEST_IMAGES)])
    assert main(["--check", str(good)]) == 0
    assert capsys.readouterr().out.startswith(f"OK: {DRAC_TEST_IMAGES} cases, the format only")


def test_every_kind_of_non_drac_name_points_at_the_check_against_the_test_images(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A reviewer's finding: of the three kinds, only 'are no DRAC test image names' named
    --images; a file of another 3-grade data set with 386 rows named '12.png' (its own test
    names) was told to write '012.png'. Every kind now names the check against the test images,
    and the export's --manifest RUN."""
    from drac_ssl import export

    cases = ([f"{i}.png" for i in range(1, 11)] + [f"{i:03d}.jpg" for i in range(11, 21)]
             + [f"scan_{i}.png" for i in range(21, 31)] + [f"{i:03d}.png" for i in range(31, DRAC_TEST_IMAGES + 1)])
    path = _file(tmp_path / "kinds.csv", cases)
    assert export.main(["--check", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3, out
    for line in out:
        assert line.endswith("; or check it against the test images themselves: --images DIR (the names the "
                             "grader matches), or --manifest RUN for a run whose manifest lists test images"), line


def test_a_drac_file_s_case_without_extension_or_with_a_path_gets_drac_s_name_in_one_go(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A reviewer's finding: 386 cases '1'..'386' (pandas ints) were told to write the name with
    its extension (e.g. .jpg, .png); written so, '1.png' was then refused as zeros lost. Likewise
    'x/6.png' was told '6.png'. Both fixes now name DRAC's test name."""
    ids = range(1, DRAC_TEST_IMAGES + 1)
    bare = _file(tmp_path / "bare.csv", [str(i) for i in ids])
    assert main(["--check", str(bare)]) == 1
    out = capsys.readouterr().out
    assert "no file extension" not in out and "('1' -> '001.png')" in out and len(out.splitlines()) == 1, out

    path = _file(tmp_path / "path.csv", [f"{i:03d}.png" for i in range(1, DRAC_TEST_IMAGES)] + ["x/6.png"])
    assert main(["--check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "write the image's file name alone as its case: '006.png'" in out, out


@pytest.mark.parametrize("name", ["a\x1bb.png", "c\u202ed.png"])
def test_a_control_character_is_a_problem_not_a_formula_warning(
        tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A reviewer's finding: 'a\\x1bb.png' (no comma or quote) got "starts with 'a': spreadsheets
    may read it as a formula" and exit 0, though write_submission refuses it."""
    path = _file(tmp_path / "ctl.csv", ["1.png", name])
    assert main(["--check", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [_expected(path, 3, name)], captured.out
    assert "formula" not in captured.err, captured.err


def test_a_four_digit_drac_name_with_a_leading_zero_is_no_drac_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DRAC names past 999 are the plain id ('1000.png'): '0001.png' is padded to 4 digits,
    which the grader cannot match (a mutation audit: the rule once took any 4 digits)."""
    from drac_ssl import export

    path = _file(tmp_path / "padded.csv", ["0001.png"] + [f"{i:03d}.png" for i in range(2, DRAC_TEST_IMAGES + 1)])
    assert export.main(["--check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "'0001.png' (line 2)" in out, out


def test_a_formula_start_with_a_comma_is_a_problem_not_only_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'=a,b.png' starts like a formula and holds a comma: the comma is refused (a rename), not
    only warned of as a formula start (a mutation audit)."""
    path = _file(tmp_path / "formula_comma.csv",
                 [f"{i:03d}.png" for i in range(1, DRAC_TEST_IMAGES)] + ["=a,b.png"])
    assert main(["--check", str(path)]) == 1
    assert "rename the image file to" in capsys.readouterr().out
