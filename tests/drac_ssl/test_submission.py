"""Tests of drac_ssl.submission: write -> check round trip, a corpus of bad files, the CLI."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from drac_ssl import submission
from drac_ssl.submission import (
    SUBMISSION_COLUMNS,
    ImagesFolderError,
    check_submission,
    main,
    referable_path,
    write_referable,
    write_submission,
)
from tests.helpers.older_notes_csv import write_grades_with_notes

HEADER = ",".join(SUBMISSION_COLUMNS)
CASES = ["001.png", "005.png", "161.png", "1000.png"]


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "b. Testing Set"  # spaces and dots, as in the official layout
    folder.mkdir()
    for name in CASES:
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    return folder


def _probs(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3))
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def _write(tmp_path: Path, text: str, name: str = "team.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _good_rows() -> list[str]:
    return [f"{c},0,0.700000,0.200000,0.100000" for c in CASES]


# ----------------------------------------------------------------------------- writing


def test_round_trip_is_clean(tmp_path: Path, images: Path) -> None:
    probs = _probs(len(CASES)).astype(np.float32)  # float32 rows: renormalised on write
    path = write_submission(tmp_path / "out" / "team.csv", CASES, probs)
    assert path == tmp_path / "out" / "team.csv"
    assert check_submission(path, images) == []
    assert check_submission(path) == []
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER and len(lines) == 1 + len(CASES)
    for line, row in zip(lines[1:], probs, strict=True):
        case, grade, *ps = line.split(",")
        values = [float(v) for v in ps]
        assert int(grade) == int(np.argmax(row))
        assert all(len(v.split(".")[1]) == 6 for v in ps)
        assert abs(sum(values) - 1.0) < 1e-9  # exact in decimal, up to float parsing
        np.testing.assert_allclose(values, row, atol=2e-6)
    assert not list(path.parent.glob(".*.tmp-*"))  # atomic write left nothing behind


def test_write_uses_given_classes_and_keeps_probabilities(tmp_path: Path) -> None:
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])
    path = write_submission(tmp_path / "t.csv", ["1.png", "2.png"], probs, classes=np.array([1, 2]))
    lines = path.read_text().splitlines()
    assert lines[1] == "1.png,1,0.500000,0.300000,0.200000"
    assert lines[2] == "2.png,2,0.100000,0.600000,0.300000"


def test_write_renormalises_rounding_so_rows_sum_to_one(tmp_path: Path) -> None:
    probs = np.full((1, 3), 1 / 3)  # 0.333333 x 3 would sum to 0.999999
    path = write_submission(tmp_path / "t.csv", ["1.png"], probs)
    values = [float(v) for v in path.read_text().splitlines()[1].split(",")[2:]]
    assert sum(values) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        (np.array([[np.nan, 0.5, 0.5]]), "NaN"),
        (np.array([[-0.1, 0.6, 0.5]]), r"outside \[0, 1\]"),
        (np.array([[0.5, 0.3, 0.1]]), "sums to 0.9"),
        (np.array([[2.0, -1.0, 0.0]]), "logits"),
        (np.array([[0.5, 0.5]]), "shape"),
    ],
)
def test_write_refuses_bad_probabilities(tmp_path: Path, probs: np.ndarray, message: str) -> None:
    path = tmp_path / "t.csv"
    with pytest.raises(ValueError, match=message):
        write_submission(path, ["1.png"], probs)
    assert not path.exists()


@pytest.mark.parametrize(
    ("cases", "classes", "message"),
    [
        (["1.png", "1.png"], None, "twice"),
        (["161", "2.png"], None, "no file extension"),
        (["a,b.png", "2.png"], None, "comma"),
        (["1.png"], None, "1 cases but 2"),
        (["1.png", "2.png"], np.array([0, 3]), "grades are 0, 1, 2"),
        (["1.png", "2.png"], np.array([0.5, 1]), "integer"),
    ],
)
def test_write_refuses_bad_cases_and_classes(
    tmp_path: Path, cases: list[str], classes: np.ndarray | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_submission(tmp_path / "t.csv", cases, _probs(2), classes=classes)


@pytest.mark.parametrize(("name", "why", "safe"), [
    ("a,b.png", "contains a comma, quote or line break", "a_b.png"),
    ('x"y.png', "contains a comma, quote or line break", "x_y.png"),
    ("line\nbreak.png", "contains a comma, quote or line break", "line_break.png"),
    ("Doe, John_OD.jpg", "contains a comma, quote or line break", "Doe_John_OD.jpg"),
    (" lead.png", "starts or ends with white space", "lead.png"),
    ("=cmd|calc.png", "starts with '='", "cmd|calc.png"),
    ("+1.png", "starts with '+'", "1_2.png"),  # 1.png is taken
    ("-x.png", "starts with '-'", "x.png"),
    ("@sum.png", "starts with '@'", "sum.png"),
    ("=.png", "starts with '='", "image.png"),
])
def test_one_rule_refuses_a_case_name_and_suggests_one_it_accepts(
        tmp_path: Path, name: str, why: str, safe: str) -> None:
    """A hospital review (F1, F10): the writer's refusal of ``a,b.png`` named no file and no
    fix, and ``=cmd|calc.png`` was written as it is, a formula in a spreadsheet (CSV
    injection). One rule (case_name_problem) refuses both kinds, the writer says it with a name
    safe_case_name suggests (not taken in the folder), and that name passes the rule; the
    writer stays strict for DRAC submissions."""
    from drac_ssl.submission import case_name_problem, safe_case_name

    assert why in (case_name_problem(name) or ""), case_name_problem(name)
    assert safe_case_name(name, ["1.png", "2.png"]) == safe
    assert case_name_problem(safe) is None
    with pytest.raises(ValueError, match=re.escape(f"case 0 ({name!r}) {case_name_problem(name)}; rename "
                                                   f"the image file, e.g. to {safe_case_name(name)!r}")):
        write_submission(tmp_path / "t.csv", [name, "2.png"], _probs(2))
    assert not (tmp_path / "t.csv").exists()
    assert case_name_problem("161.png") is None and case_name_problem("a-b=c@d+e.png") is None


def test_write_allows_but_warns_on_one_hot(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="one-hot"):
        path = write_submission(tmp_path / "t.csv", ["1.png", "2.png"], np.eye(3)[[0, 2]])
    assert check_submission(path) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a single soft row: no warning
        write_submission(tmp_path / "u.csv", ["1.png", "2.png"],
                         np.array([[1.0, 0.0, 0.0], [0.1, 0.2, 0.7]]))


# ----------------------------------------------------------------------------- checking

BAD_FILES: dict[str, tuple[str, str]] = {
    # name: (file content, expected fragment of a problem line)
    "missing_case": ("\n".join([HEADER, *_good_rows()[:3]]), "image '1000.png' has no row"),
    "duplicate_case": ("\n".join([HEADER, *_good_rows(), _good_rows()[0]]),
                       "duplicate case '001.png' (first on line 2)"),
    "bad_sum": ("\n".join([HEADER, *_good_rows()[:3], "1000.png,0,0.5,0.3,0.1"]),
                "P0+P1+P2 = 0.9"),
    "bad_header": ("\n".join(["image,grade,P0,P1,P2", *_good_rows()]), "header is"),
    "header_case": ("\n".join(["case,class,p0,p1,p2", *_good_rows()]), "case or spaces differ"),
    "missing_header": ("\n".join(_good_rows()), "header line is missing"),
    "class_3": ("\n".join([HEADER, *_good_rows()[:3], "1000.png,3,0.7,0.2,0.1"]),
                "class 3 is outside {0, 1, 2}"),
    "class_float": ("\n".join([HEADER, *_good_rows()[:3], "1000.png,1.0,0.7,0.2,0.1"]),
                    "class '1.0' is not an integer"),
    "non_numeric": ("\n".join([HEADER, *_good_rows()[:3], "1000.png,0,abc,0.2,0.1"]),
                    "P0 'abc' is not a finite number"),
    "nan_prob": ("\n".join([HEADER, *_good_rows()[:3], "1000.png,0,nan,0.2,0.1"]),
                 "P0 'nan' is not a finite number"),
    "negative_prob": ("\n".join([HEADER, *_good_rows()[:3], "1000.png,0,-0.1,0.6,0.5"]),
                      "P0 = -0.1 is outside [0, 1]"),
    "no_extension": ("\n".join([HEADER, *_good_rows()[:2], "161,0,0.7,0.2,0.1",
                                _good_rows()[3]]),
                     "case '161' is not an image file name -> write '161.png'"),
    "unpadded": ("\n".join([HEADER, "1.png,0,0.7,0.2,0.1", *_good_rows()[1:]]),
                 "case '1.png' is not an image file name -> write '001.png'"),
    # '1000' beside a row of 1000.png, with 161.png rowless: most likely 161.png's row
    "name_with_a_row_already": ("\n".join([HEADER, *_good_rows()[:2], "1000,0,0.7,0.2,0.1", _good_rows()[3]]),
                                "case '1000' is not an image file name, and '1000.png' already has a row "
                                "(line 5) -> if this is the row of '161.png' (no row yet), write that name"),
    "unknown_case": ("\n".join([HEADER, *_good_rows(), "999.png,0,0.7,0.2,0.1"]),
                     "case '999.png' has no image"),
    "wrong_columns": ("\n".join([HEADER, *_good_rows()[:3], "1000.png,0,0.7,0.3"]),
                      "4 columns, expected 5"),
    "empty": ("", "the file is empty"),
    "header_only": (HEADER + "\n", "no data rows"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_each_bad_file_yields_its_message(tmp_path: Path, images: Path, name: str) -> None:
    content, expected = BAD_FILES[name]
    path = _write(tmp_path, content + ("\n" if content else ""), f"{name}.csv")
    problems = check_submission(path, images)
    assert problems, f"{name}: no problem found"
    assert any(expected in p for p in problems), problems
    for p in problems:  # FILE:LINE: what -> fix
        file, line, rest = p.split(":", 2)
        assert file == str(path) and line.isdigit() and " -> " in rest


def test_problem_points_at_the_right_line(tmp_path: Path, images: Path) -> None:
    content, _ = BAD_FILES["class_3"]
    path = _write(tmp_path, content + "\n")
    assert check_submission(path, images) == [
        f"{path}:5: class 3 is outside {{0, 1, 2}} -> write 0 (Normal), 1 (NPDR) or 2 (PDR)"]


def test_an_images_folder_without_images_is_an_error_of_the_call_not_line_0_of_the_file(
        tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check_submission (the library) reported an images_dir without images, or missing, as
    ``team.csv:0: no images ... -> pass the folder of test images with --images``: a valid
    file blamed on its line 0, in a command's words; only the two command lines made it a
    usage error. The library raises ImagesFolderError now, naming the folder, what is wrong
    and the fix; the command lines keep their error: line and exit code 2."""
    path = write_submission(tmp_path / "team.csv", CASES, _probs(len(CASES)))
    empty = tmp_path / "empty"
    (empty / "batch1").mkdir(parents=True)
    for name in CASES:  # the images one folder down: the fix names that folder
        (empty / "batch1" / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    (empty / "notes.txt").write_text("read me")
    with pytest.raises(ImagesFolderError) as refused:
        check_submission(path, empty)
    said = str(refused.value)
    assert isinstance(refused.value, ValueError)
    assert said.startswith(f"{empty}: no images (.png, ") and ":0:" not in said, said
    assert "\n  fix: " in said and f"e.g. {empty / 'batch1'}" in said, said
    missing = tmp_path / "nowhere"
    with pytest.raises(ImagesFolderError, match=r"nowhere: no such image folder\n  fix: give the folder ") as refused:
        check_submission(path, missing)
    # the library's words name no command-line option (the caller passed images_dir=)
    assert "--images" not in said and "--check" not in said and "point the check at" in said, said
    assert "--" not in str(refused.value) and "cases=drac_ssl.export.manifest_test_cases(" in str(refused.value)
    # exported for library callers to catch
    assert "ImagesFolderError" in submission.__all__
    # a folder of images: checked as before, the file valid
    assert check_submission(path, images) == []
    # the command line: one error: line, exit 2, nothing on stdout
    capsys.readouterr()
    assert main(["--check", str(path), "--images", str(missing)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"error: {missing}: no such image folder"), (out, err)
    assert "instead of --images: " in err and "--manifest RUN" in err, err  # the command's words
    assert main(["--check", str(path), "--images", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "point --images at the folder of the test images themselves" in err, err


def test_the_export_stage_notes_a_test_folder_emptied_since_the_ingest(tmp_path: Path, images: Path) -> None:
    """The export stage checks its submission against the ingest's test folder; one emptied
    since is noted in one plain sentence (it read "DIR: no images (...) in this folder, so
    there is nothing to check the submission's cases against: submission checked ...")."""
    from drac_ssl import export

    rows = [{"id": name, "path": f"test/{name}"} for name in CASES]
    final = tmp_path / "submission.csv"
    assert export._check_folder(images, rows, final) == (images, "")
    empty = tmp_path / "emptied"
    empty.mkdir()
    folder, note = export._check_folder(empty, rows, final)
    assert folder is None and note == (f"test image folder {empty} holds no image now (emptied, or unreadable, "
                                       f"since the ingest read its {len(CASES)} test image(s)): the submission "
                                       f"is checked against the manifest's test case names only"), note
    assert export._check_folder(tmp_path / "gone", rows, final)[1].startswith(f"test image folder {tmp_path / 'gone'} "
                                                                                "not found: ")


def test_no_extension_flagged_without_images(tmp_path: Path) -> None:
    path = _write(tmp_path, f"{HEADER}\n161,0,0.7,0.2,0.1\n")
    assert any("case '161' has no file extension" in p for p in check_submission(path))


def test_unreadable_and_bom_files_are_problems(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    problems = check_submission(missing)
    assert len(problems) == 1 and problems[0].startswith(f"{missing}:0: cannot read")
    assert check_submission(tmp_path)[0].startswith(f"{tmp_path}:0: cannot read")  # a folder
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\n1.png,0,0.7,0.2,0.1\n".encode())
    assert any("byte-order mark" in p for p in check_submission(bom))
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    assert any("not UTF-8" in p for p in check_submission(binary))


def test_many_problems_of_one_kind_are_summarised(tmp_path: Path) -> None:
    rows = [f"{i}.png,7,0.7,0.2,0.1" for i in range(30)]
    path = _write(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    problems = check_submission(path)
    assert len(problems) == 21 and "10 more" in problems[-1]
    # the total counts them all (a trial's 101 missing rows were summed up as '21 problem(s)'),
    # and the summary line has no made-up line number
    assert problems.total == 30 and ":0:" not in problems[-1] and "(30 in all)" in problems[-1]
    assert problems[-1].startswith(f"{path}: ... and 10 more problem(s)")


def test_the_cli_counts_every_problem_not_the_lines_shown(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [f"{i}.png,7,0.7,0.2,0.1" for i in range(30)]
    path = _write(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    assert main(["--check", str(path)]) == 1
    assert f"30 problem(s) in {path} (21 lines above)" in capsys.readouterr().err


# ----------------------------------------------------------------------------- CLI


def test_cli_returns_1_on_bad_file_without_traceback(
    tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, BAD_FILES["duplicate_case"][0] + "\n")
    assert main(["--check", str(path), "--images", str(images)]) == 1
    out, err = capsys.readouterr()
    assert "duplicate case" in out and "Traceback" not in out + err
    assert main(["--check", str(tmp_path / "missing.csv")]) == 1


def test_cli_ok_and_module_entry_point(tmp_path: Path, images: Path) -> None:
    path = write_submission(tmp_path / "team.csv", CASES, _probs(len(CASES)))
    ok = subprocess.run([sys.executable, "-m", "drac_ssl.submission", "--check", str(path),
                         "--images", str(images)], capture_output=True, text=True, timeout=60,
                        cwd=Path(__file__).resolve().parents[2])
    assert ok.returncode == 0 and ok.stdout.strip() == f"OK: {len(CASES)} cases"
    # without the test images only the format is checked, and the line says so (a 5-grade
    # file: a DRAC-scale file of 4 rows is no DRAC submission, exit 3, tested below)
    five = write_submission(tmp_path / "five.csv", CASES, np.full((len(CASES), 5), 0.2), num_grades=5)
    alone = subprocess.run([sys.executable, "-m", "drac_ssl.submission", "--check", str(five)],
                           capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert alone.returncode == 0 and "the format only" in alone.stdout and "--images" in alone.stdout
    bad = _write(tmp_path, "", "empty.csv")
    res = subprocess.run([sys.executable, "-m", "drac_ssl.submission", "--check", str(bad)],
                         capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 1 and "the file is empty" in res.stdout
    assert "Traceback" not in res.stdout + res.stderr


def test_a_check_without_the_test_images_says_completeness_was_not_checked(
        tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A DRAC participant's finding (F7): --check without a folder of test images exited 0 on
    a file missing test images, and its OK line read as a pass. A file whose count is not
    known to be wrong still exits 0 (it may be complete: the check cannot tell), but the line
    says plainly that completeness was not checked and the option that checks it."""
    from drac_ssl.challenge import DRAC_TEST_IMAGES

    # DRAC's 386 rows: the format only, exit 0, nothing more said
    full = write_submission(tmp_path / "team386.csv", [f"{i:03d}.png" for i in range(DRAC_TEST_IMAGES)],
                            _probs(DRAC_TEST_IMAGES))
    assert main(["--check", str(full)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"OK: {DRAC_TEST_IMAGES} cases, the format only: completeness NOT checked")
    assert "pass --images DIR, the folder of the test images" in out
    assert "b. Testing Set" in out and "--manifest" not in out  # this command has no --manifest
    assert "warning" not in err and "NOT a valid" not in out
    # another scale: no DRAC count, no DRAC folder, whatever its row count
    five = write_submission(tmp_path / "five.csv", CASES, np.full((len(CASES), 5), 0.2), num_grades=5)
    assert main(["--check", str(five)]) == 0
    out, err = capsys.readouterr()
    assert "completeness NOT checked" in out and "DRAC" not in out and "386" not in err


def test_a_drac_file_without_drac_row_count_is_no_valid_submission(
        tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A DRAC participant's finding (F4): ``export --check submission.csv`` of a
    ``case,class,P0,P1,P2`` file of 12 rows printed ``OK: 12 cases, the format only`` and
    exited 0, while stderr said it lacked 374 of DRAC's 386 test cases: a pre-upload script
    testing ``$?`` passed an invalid submission. Such a file is NOT a valid DRAC submission:
    no OK line, exit 3 (the export's code for a submission written incomplete), the fix and
    DRAC's test folder said; checked against its own test images it passes."""
    from drac_ssl.challenge import DRAC_TEST_IMAGES
    from drac_ssl.exit_codes import INCOMPLETE_SUBMISSION
    from drac_ssl.runtime import EXIT_SKIPPED

    assert INCOMPLETE_SUBMISSION == EXIT_SKIPPED == 3  # one meaning: not a complete submission
    short = write_submission(tmp_path / "team.csv", CASES, _probs(len(CASES)))
    assert main(["--check", str(short)]) == INCOMPLETE_SUBMISSION
    out, err = capsys.readouterr()
    assert "OK" not in out and len(out.splitlines()) == 1
    assert out.startswith(f"NOT a valid DRAC submission: {len(CASES)} cases, but the DRAC 2022 Task 3 "
                          f"test set has {DRAC_TEST_IMAGES} images: it lacks "
                          f"{DRAC_TEST_IMAGES - len(CASES)} of them, and a missing case makes the "
                          "whole submission invalid")
    assert ('check it with --images "DRAC2022_Testing_Set/C. Diabetic Retinopathy Grading/'
            '1. Original Images/b. Testing Set"') in out
    assert "--manifest" not in out and "checked as 3 grades" in err
    # more rows than DRAC's test images: not DRAC's either
    more = write_submission(tmp_path / "more.csv", [f"{i:03d}.png" for i in range(DRAC_TEST_IMAGES + 2)],
                            _probs(DRAC_TEST_IMAGES + 2))
    assert main(["--check", str(more)]) == INCOMPLETE_SUBMISSION
    out = capsys.readouterr().out
    assert out.startswith("NOT a valid DRAC submission") and "it has 2 row(s) more than there are test images" in out
    # --grades 3 says the same scale: the same verdict
    assert main(["--check", str(short), "--grades", "3"]) == INCOMPLETE_SUBMISSION
    assert capsys.readouterr().out.startswith("NOT a valid DRAC submission")
    # against its own test images the count is no longer a guess: complete, OK, exit 0
    assert main(["--check", str(short), "--images", str(images)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"OK: {len(CASES)} cases" and "warning" not in err
    # the export's --check, the user's command, says it with its other option
    from drac_ssl import export

    assert export.main(["--check", str(short)]) == INCOMPLETE_SUBMISSION
    out = capsys.readouterr().out
    assert out.startswith("NOT a valid DRAC submission") and out.rstrip().endswith(
        "--images DIR, or --manifest RUN for a run whose manifest lists test images")


def test_a_file_whose_export_skipped_files_is_not_complete_for_either_check(
        tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: ``export --check grades.csv`` of a CSV written by ``--skip-unreadable`` said
    in a note that N files were skipped and it has no row for them, then ``OK: ..., the format
    only`` and exit 0; ``python -m drac_ssl.submission --check`` did not read the record at
    all. Both now say NOT a complete submission and exit 3 (INCOMPLETE_SUBMISSION) while the
    record names skipped files without a row, on any scale, and OK (0) once rows were added."""
    import json

    from drac_ssl import export
    from drac_ssl.exit_codes import INCOMPLETE_SUBMISSION

    def record_skipping(csv_path: Path, *names: str) -> Path:  # as the export writes it
        record = submission.skipped_record_path(csv_path)
        record.write_text(json.dumps({
            "submission": str(csv_path), "images": str(images), "complete": not names, "graded": 3,
            "skipped": [{"file": n, "path": str(images / n), "problem": "truncated PNG",
                         "fix": "re-copy or re-export the image"} for n in names]}))
        return record

    assert export.skipped_record_path is submission.skipped_record_path  # one rule for both
    graded = CASES[:3]  # 1000.png skipped
    five = write_submission(tmp_path / "five.csv", graded, np.full((3, 5), 0.2), num_grades=5)
    record = record_skipping(five, "1000.png")
    for check in (main, export.main):
        assert check(["--check", str(five)]) == INCOMPLETE_SUBMISSION, check
        out, err = capsys.readouterr()
        assert out.startswith(f"NOT a complete submission: {record} says 1 file(s) were skipped "
                              "(unreadable, not an image this package reads, or blank or random "
                              "noise) when this CSV was written (export --skip-unreadable), and it "
                              "has no row for them"), out
        assert "OK" not in out and len(out.splitlines()) == 1 and "--images DIR" in out
        assert "skipped" not in err  # said once, in the result line
    # against the test images the check lists the missing row itself; the record is a note
    assert main(["--check", str(five), "--images", str(images), "--grades", "5"]) == 1
    out, err = capsys.readouterr()
    assert "image '1000.png' has no row" in out
    assert f"note: {record} says 1 file(s) were skipped" in err and "it has no row for them" in err
    # a DRAC-scale file: the record's verdict, which names what is missing, comes first
    drac = write_submission(tmp_path / "drac.csv", graded, _probs(3))
    record_skipping(drac, "1000.png", "0.png")
    assert main(["--check", str(drac)]) == INCOMPLETE_SUBMISSION
    out = capsys.readouterr().out
    assert out.startswith("NOT a complete submission") and "2 file(s) were skipped" in out
    assert "no row for them" in out and "NOT a valid DRAC" not in out
    # the user added a row for 1000.png since: the record no longer says it is incomplete
    added = write_submission(tmp_path / "five.csv", CASES, np.full((4, 5), 0.2), num_grades=5)
    for check in (main, export.main):
        assert check(["--check", str(added)]) == 0, check
        out, err = capsys.readouterr()
        assert out.startswith("OK: 4 cases, the format only") and "NOT" not in out.split(":")[0]
        assert f"note: {record} says 1 file(s) were skipped" in err and "a row for each of them now" in err
    # one of two added: the count of those still missing
    record_skipping(added, "1000.png", "7.png")
    assert main(["--check", str(added)]) == INCOMPLETE_SUBMISSION
    assert "2 file(s) were skipped" in (out := capsys.readouterr().out) and "no row for 1 of them" in out
    # a record of an export that skipped nothing says nothing
    record_skipping(added)
    assert main(["--check", str(added)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("OK: 4 cases") and "skipped" not in err


def test_the_check_reads_the_csv_once_for_the_skip_record(
        tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A second read of the code: the check read the CSV, then skipped_without_rows read it
    again for its cases. It takes the text the check read now; called with the path alone, it
    still reads the file, with the same result."""
    import json

    from opened_files import count_opens

    graded = CASES[:3]  # 1000.png skipped
    bad = _write(tmp_path, "\n".join([HEADER, *_good_rows()[:2], f"{graded[2]},7,0.7,0.2,0.1"]) + "\n",
                 name="grades.csv")  # a class outside 0..2: a file with problems
    record = submission.skipped_record_path(bad)
    record.write_text(json.dumps({"skipped": [{"file": "1000.png", "path": str(images / "1000.png")},
                                              {"file": "005.png", "path": str(images / "005.png")}]}))
    opened = count_opens(monkeypatch, bad.name)
    assert main(["--check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert opened == {bad.resolve(): 1}, opened
    assert f"note: {record} says 2 file(s) were skipped" in err and "it has no row for 1 of them" in err, err
    opened.clear()
    by_path = submission.skipped_without_rows(bad)  # the path-only call reads the file
    assert opened == {bad.resolve(): 1}
    assert by_path == submission.SkippedFiles(record, ["1000.png", "005.png"], ["1000.png"])
    opened.clear()
    assert submission.skipped_without_rows(bad, bad.read_bytes().decode("utf-8")) == by_path
    assert opened == {bad.resolve(): 1}  # the read_bytes above, none in the call


def test_the_check_commands_document_their_exit_codes() -> None:
    from drac_ssl.commands import CHECK_EXIT_CODES, export_parser

    with pytest.raises(SystemExit) as done, contextlib.redirect_stdout(io.StringIO()) as shown:
        main(["--help"])
    assert done.value.code == 0
    said = " ".join(shown.getvalue().split())
    assert "Exit codes: 0 the file passes every check made" in said and "1 it has problems" in said
    assert "completeness was not checked" in said
    assert "3 checked without the test images, a file of DRAC's 3 grades" in said
    assert "NOT a valid DRAC submission" in said
    assert "whose .skipped.json beside it (the export's --skip-unreadable) names skipped files" in said
    helped = " ".join(export_parser().format_help().split())
    assert " ".join(CHECK_EXIT_CODES.split()) in helped
    assert "Exit codes. Grading" in helped and "--score: 0 scored" in helped
    # docs/running.md: an export refused on a run folder another process holds exits 75, as
    # the training does (a job script requeues it), no longer 2
    assert "75 a run folder in use (RUN --variant NAME writing into RUN while a training, UMM, report" in helped


def test_cli_check_exits_quietly_when_stdout_is_closed_or_full(tmp_path: Path) -> None:
    """``--check bad.csv | head -1`` once ended in a BrokenPipeError traceback: the reader
    gone, the check exits with its own code (1: problems) and says nothing more; a stdout
    that cannot be written (``> /dev/full``) is one error line, exit 2."""
    bad = _write(tmp_path, "\n".join([HEADER] + [f"{c},7,0.7,0.2,0.1" for c in CASES]) + "\n")
    repo = Path(__file__).resolve().parents[2]
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write is EPIPE
    try:
        res = subprocess.run([sys.executable, "-m", "drac_ssl.submission", "--check", str(bad)],
                             stdout=write, stderr=subprocess.PIPE, text=True, timeout=60, cwd=repo)
    finally:
        os.close(write)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "Broken pipe" not in res.stderr, res.stderr
    if not Path("/dev/full").exists():
        return
    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-m", "drac_ssl.submission", "--check", str(bad)],
                             stdout=full, stderr=subprocess.PIPE, text=True, timeout=60, cwd=repo)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.count("error: ") == 1 and "No space left" in res.stderr, res.stderr


def test_a_semicolon_file_is_one_problem_with_the_fix(tmp_path: Path, images: Path) -> None:
    text = "\n".join([HEADER.replace(",", ";")] + [r.replace(",", ";").replace("0.", "0,") for r in _good_rows()])
    problems = check_submission(_write(tmp_path, text + "\n"), images)
    assert len(problems) == 1 and "separated by semicolons" in problems[0]
    assert "save it as comma-separated CSV (header 'case,class,P0,P1,P2')" in problems[0]


def test_rows_with_missing_columns_still_name_their_case(tmp_path: Path, images: Path) -> None:
    text = "\n".join(["case,class"] + [f"{c},0" for c in CASES]) + "\n"
    problems = check_submission(_write(tmp_path, text), images)
    assert sum("columns, expected 5" in p for p in problems) == len(CASES)
    assert not any("has no row" in p for p in problems)  # the cases are there, only short


# ----------------------------------------------------------------------------- K not given


def test_a_misnumbered_header_sets_k_by_its_width(tmp_path: Path, images: Path) -> None:
    # a 5-grade file with a typo in its header: the rows are right, only the header is reported
    rows = [f"{c},4,0.100000,0.200000,0.300000,0.200000,0.200000" for c in CASES]
    four = [f"{c},3,0.250000,0.250000,0.250000,0.250000" for c in CASES]
    for header, fixed, data in (("case,class,P0,P1,P2,P3,P5", "case,class,P0,P1,P2,P3,P4", rows),
                                ("Case,Class,P1,P2,P3,P4,P5", "case,class,P0,P1,P2,P3,P4", rows),
                                ("case,class,p0,p1,p1,p3", "case,class,P0,P1,P2,P3", four)):
        path = _write(tmp_path, "\n".join([header, *data]) + "\n")
        assert check_submission(path, images) == [
            f"{path}:1: header is '{header}' -> replace it with '{fixed}'"], header
    # a row of another width is measured against the header's 7 columns, not DRAC's 5
    path = _write(tmp_path, "\n".join(["case,class,P0,P1,P2,P3,P5", *rows[:3],
                                       "1000.png,0,0.7,0.2,0.1"]) + "\n")
    assert any(p.startswith(f"{path}:5: 5 columns, expected 7 (case,class,P0,P1,P2,P3,P4)")
               for p in check_submission(path, images))


def test_when_nothing_says_k_the_fix_names_drac_s_header_written_out(tmp_path: Path) -> None:
    general = ("'case,class,P0,P1,P2' (DRAC's 3 grades, one P column per grade; --grades K to check "
               "another scale)")
    empty = _write(tmp_path, "", "empty.csv")
    assert check_submission(empty) == [
        f"{empty}:1: the file is empty -> write the header {general} and one row per test image "
        "(drac_ssl.submission.write_submission does this)"]
    assert "write the header 'case,class,P0,P1,P2,P3,P4' and" in check_submission(empty, num_grades=5)[0]
    # a header with its first two names wrong still says K by its P columns (a review saw
    # every row of such a 5-grade file reported as "7 columns, expected 5")
    other = _write(tmp_path, "image,grade,P0,P1,P2,P3,P4\n1.png,0,0.1,0.2,0.3,0.2,0.2\n", "other.csv")
    for k in (None, 5):
        assert check_submission(other, num_grades=k) == [
            f"{other}:1: header is 'image,grade,P0,P1,P2,P3,P4' -> replace it with 'case,class,P0,P1,P2,P3,P4'"]
    odd = _write(tmp_path, "image,grade,prob_a,prob_b,prob_c\n1.png,0,0.1,0.2,0.7\n", "odd.csv")
    assert check_submission(odd)[0] == f"{odd}:1: header is 'image,grade,prob_a,prob_b,prob_c' -> replace it with {general}"


def test_no_cell_of_the_apps_batch_files_starts_as_a_spreadsheet_formula(tmp_path: Path) -> None:
    """Review s58r3 F1: the NOT GRADED row of a file ``=HYPERLINK(...)&A1.png`` (refused as a
    case) began with that name, in both batch files a spreadsheet opens. The name cell gets a
    ``'`` before it (OWASP: ``= + - @``, tab, carriage return) and its notes say so; a notes
    cell that would start as a formula does too; graded cases are untouched; --check names
    the files and their NOT GRADED rows as before."""
    import csv

    from drac_ssl.submission import (
        ESCAPED_NAME_WORDS,
        FORMULA_CELL_STARTS,
        NEUTRALISED_NAME_WORDS,
        write_incomplete_grades,
    )

    probs = np.array([[0.7, 0.2, 0.1]])
    bad = ['=HYPERLINK("http://x")&A1.png', "-2+3.png", "@sum.png", "+1.png", "\tx.png", "\rx.png"]
    incomplete = write_incomplete_grades(tmp_path / "grades_INCOMPLETE.csv", ["ok.png"], probs,
                                         np.array([0]), [(n, "its name ...") for n in bad],
                                         notes=["-0.5 below the mean"])
    notes = write_grades_with_notes(tmp_path / "grades_with_notes.csv",
                                    [*[(n, None, "NOT GRADED: x") for n in bad], ("ok.png", 0, "=1+1")],
                                    probs, np.array([0]), unreliable=[[]] * len(bad) + [["-x"]])
    for path in (incomplete, notes):
        with open(path, newline="", encoding="utf-8") as fh:
            table = list(csv.reader(fh))
        assert not [c for row in table for c in row if c.startswith(FORMULA_CELL_STARTS)], table
        by_case = {row[0]: row for row in table[1:]}
        # a tab or carriage return escaped (a \r would cut the row in two), a formula prefixed
        cells = ["'=HYPERLINK(\"http://x\")&A1.png", "'-2+3.png", "'@sum.png", "'+1.png", "\\tx.png", "\\rx.png"]
        assert sorted(by_case) == sorted(["ok.png", *cells]), by_case
        assert all(NEUTRALISED_NAME_WORDS in by_case[c][-1] for c in cells[:4])
        assert all(ESCAPED_NAME_WORDS in by_case[c][-1] for c in cells[4:])
        assert NEUTRALISED_NAME_WORDS not in by_case["ok.png"][-1]
        assert by_case["ok.png"][-1].startswith("'")  # a notes cell starting as a formula, too
        (line,) = check_submission(path)
        # the files by their own names, without the ' the writer put before them (review r5 F6)
        assert "the app's batch file with a notes column" in line and (
            f"{len(bad)} of its {len(bad) + 1} files were NOT GRADED: =HYPERLINK(\"http://x\")&A1.png "
            "(line 2), -2+3.png (line 3), @sum.png (line 4), +1.png (line 5)" in line), line
        assert "'=" not in line and "'-" not in line and "'@" not in line and "'+" not in line, line
    # the notes column cut off: the rows with an empty class named the same way
    with open(notes, newline="", encoding="utf-8-sig") as fh:
        table = [row[:-1] for row in csv.reader(fh)]
    cut = tmp_path / "cut.csv"
    with open(cut, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(table)
    (line,) = check_submission(cut)
    assert "NOT GRADED (an empty class): =HYPERLINK(\"http://x\")&A1.png (line 2), -2+3.png (line 3)" in line, line
    assert "'=" not in line and "'-" not in line, line


def test_incomplete_grades_list_the_files_not_graded_first_and_never_pass_the_check(tmp_path: Path) -> None:
    """The app's batch CSV when some files were rejected: a row without a grade for each (the
    reason in a notes column, quoted where it holds a comma or quote), then the graded rows
    exactly as the submission writes them."""
    import csv

    from drac_ssl.submission import NOT_GRADED, write_incomplete_grades

    probs = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    complete = write_submission(tmp_path / "s.csv", ["a.png", "d.png"], probs, np.array([2, 0]))
    path = write_incomplete_grades(tmp_path / "g.csv", ["a.png", "d.png"], probs, np.array([2, 0]),
                                   [("b,c.png", 'bad "x", y')])
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["case"] for r in rows] == ["b,c.png", "a.png", "d.png"]
    assert rows[0]["class"] == rows[0]["P2"] == "" and rows[0]["notes"] == f'{NOT_GRADED}bad "x", y'
    graded = path.read_text().splitlines()[2:]
    assert graded == [f"{line}," for line in complete.read_text().splitlines()[1:]]  # the same rows
    assert check_submission(path) != []
    with pytest.raises(ValueError, match="write the submission itself"):
        write_incomplete_grades(tmp_path / "n.csv", ["a.png"], probs[:1], None, [])
    with pytest.raises(ValueError, match="appears twice"):  # the graded rows are checked as ever
        write_incomplete_grades(tmp_path / "n.csv", ["a.png", "a.png"], probs, None, [("b.png", "x")])


def test_the_referable_file_sums_the_written_probabilities_and_cuts_the_written_class(tmp_path: Path) -> None:
    probs = np.array([[0.1, 0.2, 0.3, 0.25, 0.15], [0.7, 0.1, 0.1, 0.05, 0.05], [1 / 3, 1 / 3, 1 / 9, 1 / 9, 1 / 9]])
    sub = write_submission(tmp_path / "team.csv", ["a.png", "b.png", "c.png"], probs, np.array([2, 0, 1]),
                           num_grades=5)
    out = write_referable(sub, 2)
    assert out == referable_path(sub) == tmp_path / "team_referable.csv"
    written = [line.split(",") for line in sub.read_text().splitlines()[1:]]
    lines = out.read_text().splitlines()
    assert lines[0] == "case,P_referable,referable"
    for row, line in zip(written, lines[1:], strict=True):
        case, p_ref, referable = line.split(",")
        assert case == row[0] and referable == str(int(int(row[1]) >= 2))
        # exactly the sum of the written decimals, not of the unrounded probabilities
        assert round(float(p_ref) * 1e6) == sum(round(float(v) * 1e6) for v in row[4:])
    with pytest.raises(ValueError, match="outside 1..4 on its 5 grades"):
        write_referable(sub, 5)


def test_a_submission_of_another_scale_is_said_once_not_fixed_row_by_row(tmp_path: Path) -> None:
    """4 grades in the file, 2 expected (a manifest's, --grades): deleting columns is the wrong
    fix; one line says the two scales (the wrong run or the wrong file?), no per-row column
    errors and no header to rewrite."""
    sub = tmp_path / "sub.csv"
    sub.write_text("case,class,P0,P1,P2,P3\n" + "".join(f"{i}.png,1,0.1,0.6,0.2,0.1\n" for i in range(5)))
    problems = check_submission(sub, num_grades=2, grade_names=["No DR", "DR"])
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{sub}:1: the submission has 4 grades (case,class,P0,P1,P2,P3)")
    assert "expects 2 grades (No DR, DR)" in problems[0] and "wrong file" in problems[0]
    assert "replace it" not in problems[0] and "columns, expected" not in problems[0]
    # the same width: no such line (a misnumbered header is still said as before)
    sub.write_text("case,class,P0,P2\n1.png,1,0.4,0.6\n")
    assert [p.split(": ", 1)[1] for p in check_submission(sub, num_grades=2)] == [
        "header is 'case,class,P0,P2' -> replace it with 'case,class,P0,P1'"]


# ----------------------------------------------------------------------------- the scale K


def _drac_test_folder(tmp_path: Path, names: list[str]) -> Path:
    """DRAC's official test-image folder, as unzipped (its parents name it)."""
    folder = (tmp_path / "DRAC2022_Testing_Set" / "C. Diabetic Retinopathy Grading"
              / "1. Original Images" / "b. Testing Set")
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    return folder


def test_drac_test_folder_checks_a_5_grade_file_on_dracs_3_grades(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _drac_test_folder(tmp_path, CASES)
    p5 = np.full((len(CASES), 5), 0.2)
    path = write_submission(tmp_path / "k5.csv", CASES, p5, num_grades=5)
    problems = check_submission(path, folder)
    assert len(problems) == 1 and problems[0].startswith(f"{path}:1: the submission has 5 grades")
    assert "DRAC's test set" in problems[0] and "3 grades (Normal, NPDR, PDR)" in problems[0]
    assert "--grades 5" in problems[0]
    assert main(["--check", str(path), "--images", str(folder)]) == 1
    assert "the submission has 5 grades" in capsys.readouterr().out
    # the folder named relative to where the command runs (cd into it) is recognised too
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        assert len(check_submission(path, ".")) == 1
    # a 3-grade file passes, and the line says the scale is DRAC's, not the header's
    path3 = write_submission(tmp_path / "k3.csv", CASES, _probs(len(CASES)))
    assert main(["--check", str(path3), "--images", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "checked as 3 grades (P0..P2)" in err and "DRAC's" in err and "header" not in err
    # --grades K still decides
    assert main(["--check", str(path), "--images", str(folder), "--grades", "5"]) == 0


def test_idrids_testing_set_is_not_taken_for_dracs(tmp_path: Path) -> None:
    folder = tmp_path / "B. Disease Grading" / "1. Original Images" / "b. Testing Set"
    folder.mkdir(parents=True)
    for name in CASES:
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    path = write_submission(tmp_path / "k5.csv", CASES, np.full((len(CASES), 5), 0.2), num_grades=5)
    assert check_submission(path, folder) == []


def test_k_taken_from_the_header_alone_is_said(tmp_path: Path, images: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = write_submission(tmp_path / "k5.csv", CASES, np.full((len(CASES), 5), 0.2), num_grades=5)
    assert main(["--check", str(path), "--images", str(images)]) == 0
    err = capsys.readouterr().err
    # a review: 'pass --grades 5' named the header's own K, which only confirms the header
    assert ("note: K=5 taken from the header; to check the scale, pass --grades K, your scale's "
            "number of grades (this header has 5)\n") in err, err
    assert main(["--check", str(path), "--images", str(images), "--grades", "5"]) == 0
    assert "taken from the header" not in capsys.readouterr().err


def test_a_workbook_given_for_the_csv_is_named(tmp_path: Path) -> None:
    import zipfile

    xlsx = tmp_path / "team.xlsx"
    with zipfile.ZipFile(xlsx, "w") as zf:  # stored, not deflated: its bytes decode as UTF-8
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    assert check_submission(xlsx) == [
        f"{xlsx}:0: an Excel workbook, not a CSV -> open it in the spreadsheet program and save it "
        "as CSV: File > Save As > CSV UTF-8"]


def test_control_characters_of_a_header_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "team.csv"
    path.write_bytes(b"ca\x03se,class,P0,P1,P2\n1.png,0,1,0,0\n")
    (line,) = check_submission(path)
    assert "\x03" not in line and "header is 'ca\\x03se,class,P0,P1,P2'" in line


def test_probabilities_in_percent_are_one_problem_with_divide_by_100(tmp_path: Path, images: Path) -> None:
    rows = [f"{c},0,70.0,20.0,10.0" for c in CASES]
    rows[1] = f"{CASES[1]},1,0.2,0.5,0.3"  # one row right: not counted
    path = _write(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    problems = check_submission(path, images)
    assert problems == [f"{path}:2: 3 rows hold percentages (P0+P1+P2 = 100, e.g. 70.0+20.0+10.0 on "
                        "line 2), not probabilities -> divide every probability by 100 (each row "
                        "must sum to 1)"]
    # a row outside [0, 1] that does not sum to 100 is still each cell's problem (logits)
    path = _write(tmp_path, "\n".join([HEADER, f"{CASES[0]},0,2.5,-1.0,0.3", *_good_rows()[1:]]) + "\n")
    assert sum("not logits" in p for p in check_submission(path, images)) == 2


def test_a_probability_column_cut_off_is_one_problem_and_the_scale_used_is_said(
        tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: a 5-grade submission with its P4 column cut off (``cut -d, -f1-6``), checked
    with K from its header (4), got one "P0+P1+P2+P3 = 0.90, not 1 -> normalise the row" per
    row: advice that would make it a valid 4-grade file. Now the file is one problem that
    suggests a missing probability column, with --grades K / --manifest RUN as the fix (no
    normalising, no deleting columns), and the K used and where it came from are said on a
    failure too. With K given, the rows are each their own problem, as before."""
    probs = np.tile([0.1, 0.2, 0.3, 0.2, 0.2], (len(CASES), 1))
    full = write_submission(tmp_path / "k5.csv", CASES, probs, num_grades=5)
    cut = _write(tmp_path, "".join(",".join(line.split(",")[:6]) + "\n"
                                   for line in full.read_text().splitlines()), "noP4.csv")
    problems = check_submission(cut, images)
    assert len(problems) == 1, problems
    (line,) = problems
    assert line.startswith(f"{cut}:1: ") and "4 of the 4 rows" in line and "column" in line, line
    assert "normalise the row so" not in line and "--grades K" in line and "--manifest RUN" in line
    assert "do not delete columns" in line
    assert main(["--check", str(cut), "--images", str(images)]) == 1
    err = capsys.readouterr().err
    assert "checked as 4 grades (P0..P3)" in err and "K=4 taken from the header" in err, err
    # K given: the file of another scale (--grades 5), or rows of its own scale to normalise
    (other,) = check_submission(cut, images, num_grades=5)
    assert "the submission has 4 grades" in other
    assert sum("normalise the row" in p for p in check_submission(cut, images, num_grades=4)) == len(CASES)
    assert main(["--check", str(cut), "--images", str(images), "--grades", "4"]) == 1
    err = capsys.readouterr().err
    assert "checked as 4 grades (P0..P3)" in err and "--grades" in err and "header" not in err, err
    # a row or two short of 1 in a file of its header's scale stays each row's problem
    rows = full.read_text().splitlines()
    rows[1] = rows[1].rsplit(",", 1)[0] + ",0.100000"
    short = _write(tmp_path, "\n".join(rows) + "\n", "short.csv")
    (row,) = check_submission(short, images)
    assert row.startswith(f"{short}:2: P0+P1+P2+P3+P4 = 0.9") and "normalise the row" in row


def test_the_apps_batch_files_with_a_notes_column_are_named_as_such(
        tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: --check on the app's grades_INCOMPLETE.csv (case,class,P0..P4,notes) fell
    back to DRAC's 3 grades ("replace it with ... 'case,class,P0,P1,P2' ...", "8 columns,
    expected 5" per row). The check now recognises the app's files with a trailing notes column
    and says plainly what the file is, names the files NOT GRADED and what to do; the scale is
    the header's (5), not DRAC's."""
    from drac_ssl.submission import write_incomplete_grades

    probs = np.tile([0.1, 0.2, 0.3, 0.2, 0.2], (3, 1))
    incomplete = write_incomplete_grades(
        tmp_path / "grades_INCOMPLETE.csv", CASES[1:], probs, None,
        [("black.png", "black.png is blank or near-constant: there is nothing to grade.")],
        num_grades=5, notes=["", "Unlike the training images.", ""])
    (line,) = check_submission(incomplete, images)
    assert line.startswith(f"{incomplete}:1: ") and "the app's" in line and "notes column" in line, line
    assert "not a submission" in line and "NOT GRADED" in line and "black.png (line 2)" in line
    assert "P0,P1,P2'" not in line and "DRAC" not in line
    assert main(["--check", str(incomplete), "--images", str(images)]) == 1
    assert "checked as 5 grades (P0..P4)" in capsys.readouterr().err
    rows = [(c, i, "") for i, c in enumerate(CASES[1:])]
    complete = write_grades_with_notes(tmp_path / "grades_with_notes.csv", rows, probs, None, num_grades=5)
    (line,) = check_submission(complete)
    assert "the app's" in line and "every file graded" in line and "submission.csv" in line, line
    assert "NOT GRADED" not in line


def test_the_export_s_notes_file_is_named_as_such(
        tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review (F7): --check on the export's ``<stem>_notes.csv`` said "6 columns, expected 5"
    on every row (its header replaced by DRAC's); it is one problem now, as the app's batch files
    are: what the file is, not a submission, and the submission beside it to check."""
    from drac_ssl.submission import (
        IMAGE_NOTES_COLUMNS_BEFORE,
        IMAGE_NOTES_COLUMNS_BEFORE_BUNDLE,
        IMAGE_NOTES_COLUMNS_BEFORE_GRADE_NAME,
        image_notes_path,
        write_image_notes,
    )

    submission_csv = tmp_path / "night.csv"
    notes = write_image_notes(image_notes_path(submission_csv), CASES[:3], [0, 1, 2],
                              [[], ["unlike the training images"], []], [False, None, True],
                              bundle={"metadata_sha256": "3f2a9c41d0be", "variant": "vicreg",
                                      "created_utc": "2026-12-05T09:14:03Z"})
    assert notes.name == "night_notes.csv"
    (line,) = check_submission(notes, images)
    assert line.startswith(f"{notes}:1: this is the export's notes file (case,class,not_reliably_gradable,")
    assert "not a submission" in line and f"check and submit the submission it was written beside, {submission_csv}" in line
    assert "columns, expected" not in line
    assert main(["--check", str(notes), "--images", str(images)]) == 1
    said = capsys.readouterr()
    assert said.out == f"{line}\n" and "checked as" not in said.err, said  # no grades in it: no scale
    # the versions before the grade_name, bundle and grade_note columns, under another name too
    for header in (IMAGE_NOTES_COLUMNS_BEFORE_GRADE_NAME, IMAGE_NOTES_COLUMNS_BEFORE_BUNDLE, IMAGE_NOTES_COLUMNS_BEFORE):
        old = _write(tmp_path, ",".join(header) + "\n" + "".join(
            f"{c},1,{',' * (len(header) - 3)}\n" for c in CASES[:2]), "kept.csv")
        (line,) = check_submission(old)
        assert "the export's notes file" in line and "(the same name without _notes)" in line, line


def test_the_export_s_referable_file_is_named_as_such(
        tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An upgrade review (F7): --check on the export's <stem>_referable.csv said its header was
    wrong and "4 columns, expected 5" on every row (31 errors); it is one problem now, as the
    notes file's is: what the file is, not a submission, and the submission beside it to check."""
    probs = np.tile([0.2, 0.3, 0.5], (len(CASES), 1))
    submission_csv = write_submission(tmp_path / "night.csv", CASES, probs)
    for reason in ("", "This model gives no evidence of telling referable images apart"):
        referable = write_referable(submission_csv, 1, not_informative=reason)
        assert referable == referable_path(submission_csv) and referable.name == "night_referable.csv"
        (line,) = check_submission(referable, images)
        assert line.startswith(f"{referable}:1: this is the export's referable-DR file (case,P_referable,referable")
        assert ("not a submission" in line
                and line.endswith(f"check and submit the submission it was written beside, {submission_csv}"))
        assert "columns, expected" not in line and "header is" not in line
    assert main(["--check", str(referable), "--images", str(images)]) == 1
    said = capsys.readouterr()
    assert said.out == f"{line}\n" and "checked as" not in said.err, said  # no grades in it: no scale
    renamed = _write(tmp_path, referable.read_text(encoding="utf-8"), "kept.csv")
    (line,) = check_submission(renamed)
    assert "the export's referable-DR file" in line and "(the same name without _referable)" in line, line


def test_where_k_comes_from_is_one_function() -> None:
    """A review: _check worked K and its source out in four steps (the notes file's K,
    _scale_of, then overrides for the notes file and DRAC's folder); _scale_of now says both,
    in the order the check takes them: DRAC's test folder, the caller, the app's notes header,
    the header's width, the first data row, else DRAC's 3 assumed."""
    from drac_ssl.submission import SCALE_SOURCES, _scale_of

    five = [(1, ["case", "class", "P0", "P1", "P2", "P3", "P4"]), (2, ["a.png", "0", *["0.2"] * 5])]
    notes = [(1, ["case", "class", "P0", "P1", "P2", "P3", "notes"]), (2, ["a.png", "", "", "", "", "", "x"])]
    data = [(1, ["a.png", "0", "0.5", "0.5"])]
    assert _scale_of(five, None, drac_folder=True) == (3, "drac")
    assert _scale_of(five, 4) == (4, "given")
    assert _scale_of(notes, None) == (4, "header")  # the app's header, less its notes column
    assert _scale_of(notes, 6) == (6, "given")
    assert _scale_of(five, None) == (5, "header")
    assert _scale_of(data, None) == (2, "row")
    assert _scale_of([(1, ["id", "grade"])], None) == (3, "assumed")
    assert set(SCALE_SOURCES) == {"given", "drac", "header", "row", "assumed"}


def test_the_apps_incomplete_file_with_its_notes_column_cut_off_is_one_problem(
        tmp_path: Path, images: Path) -> None:
    """A review: the app's grades_INCOMPLETE.csv with its notes column deleted (as a
    spreadsheet does) reads as a 5-grade submission whose NOT GRADED rows have an empty class
    and empty probabilities: six problems per such row. They are now one problem that says the
    notes column seems missing (it said why each file was not graded) and what to do; the
    graded rows are checked as before."""
    import csv
    import io

    from drac_ssl.submission import write_incomplete_grades

    probs = np.tile([0.1, 0.2, 0.3, 0.2, 0.2], (3, 1))
    incomplete = write_incomplete_grades(
        tmp_path / "grades_INCOMPLETE.csv", CASES[1:], probs, None,
        [("001.png", "001.png is blank"), ("x.png", "x.png is noise")], num_grades=5,
        notes=["", "Unlike the training images.", ""])
    rows = list(csv.reader(io.StringIO(incomplete.read_text())))
    cut = _write(tmp_path, "\n".join(",".join(r[:-1]) for r in rows) + "\n", "cut.csv")
    problems = check_submission(cut, images)
    (line,) = [p for p in problems if "notes column" in p]
    assert line.startswith(f"{cut}:2: 2 rows (001.png on line 2, x.png on line 3) have an empty "
                           "class and empty probabilities"), line
    assert "grades_INCOMPLETE.csv" in line and "notes column cut off?" in line, line
    assert "grade the batch again" in line and "python -m drac_ssl.export" in line
    assert not any("is not an integer" in p or "is not a finite number" in p for p in problems)
    assert [p for p in problems if "notes column" not in p] == [
        f"{cut}:3: case 'x.png' has no image in '{images}' -> remove the row, or check that "
        "--images is the test-set folder"]
    # one such row alone is said the same way, in the singular
    one = _write(tmp_path, "\n".join(",".join(r[:-1]) for r in rows[:2] + rows[3:]) + "\n", "one.csv")
    (line,) = check_submission(one)
    assert line.startswith(f"{one}:2: 1 row (001.png on line 2) has an empty class and empty "
                           "probabilities"), line


def test_an_image_under_another_name_is_named_as_one_even_with_large_text_metadata(tmp_path: Path) -> None:
    """A PNG saved as ``scan.dat`` is an image under a name that cannot be a case: the export
    says rename it. One whose XMP text is above Pillow's 1 MB a chunk was called "not an image
    (... the first bytes of a PNG image, damaged or cut short)" and put in a note (the folder
    reader opened it with a plain ``Image.open``, not the decoder's rule for large text
    metadata: :func:`data_prep.decode.image_header`)."""
    from PIL import Image, PngImagePlugin

    from drac_ssl.submission import read_folder

    pixels = np.zeros((32, 32), np.uint8)
    Image.fromarray(pixels).save(tmp_path / "plain.dat", format="PNG")
    info = PngImagePlugin.PngInfo()
    info.add_text("XML:com.adobe.xmp", " " * 1_500_000, zip=True)
    Image.fromarray(pixels).save(tmp_path / "scan.dat", format="PNG", pnginfo=info)
    (tmp_path / "notes.txt").write_text("scan notes")
    found = read_folder(tmp_path)
    assert [p.name for p, _ in found.not_images] == ["notes.txt"], found.not_images
    said = {p.name: (why, fix) for p, why, fix in found.others}
    assert set(said) == {"plain.dat", "scan.dat"}, said
    for name in ("plain", "scan"):
        why, fix = said[f"{name}.dat"]
        assert why.startswith("is a PNG image whose name does not end in an image suffix"), why
        assert fix == f"rename it {name}.png", fix


def test_a_dcm_file_holding_no_dicom_is_not_called_one(tmp_path: Path) -> None:
    """Review formats R3: an empty or text file named ``.dcm`` was said to be "a DICOM file".
    It is said as what it holds, named .dcm, and stays among the images the export cannot read
    (``others``: exit 2, or skipped with --skip-unreadable); a real DICOM file is still one."""
    from drac_ssl.submission import read_folder

    (tmp_path / "empty.dcm").write_bytes(b"")
    (tmp_path / "text.DCM").write_text("scan notes")
    (tmp_path / "real.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00" * 32)
    found = read_folder(tmp_path)
    assert found.not_images == [], found.not_images
    said = {p.name: (why, fix) for p, why, fix in found.others}
    assert said["empty.dcm"][0] == "is named .dcm but holds an empty file (not a DICOM file)", said
    assert said["text.DCM"][0] == "is named .DCM but holds plain text (not a DICOM file)", said
    assert said["real.dcm"][0].startswith("is a DICOM file"), said
    assert all("DICOM file" not in fix for _, fix in (said["empty.dcm"], said["text.DCM"])), said


@pytest.mark.parametrize("num_grades", [3, 5])
def test_the_apps_notes_file_with_only_its_notes_column_cut_is_one_problem(
        tmp_path: Path, num_grades: int) -> None:
    """Review s57r3 F1: grades_with_notes.csv gained a not_reliably_gradable column before its
    notes; with the notes column alone deleted (a spreadsheet user keeps the column to filter
    on), --check read it as a submission on DRAC's scale with a column too many on every row.
    It is one problem again, on the file's own K, naming the rows NOT GRADED."""
    import csv
    import io


    probs = np.tile(np.full(num_grades, 1.0 / num_grades), (2, 1))
    full = write_grades_with_notes(
        tmp_path / "grades_with_notes.csv",
        [("001.png", 0, ""), ("005.png", None, "NOT GRADED: blank"), ("161.png", 1, "")],
        probs, None, num_grades=num_grades, unreliable=[[], [], ["a colour picture"]])
    rows = list(csv.reader(io.StringIO(full.read_text())))
    assert rows[0][-2:] == ["not_reliably_gradable", "notes"], rows[0]
    cut = _write(tmp_path, "\n".join(",".join(r[:-1]) for r in rows) + "\n", "cut.csv")
    problems = check_submission(cut)
    assert len(problems) == 1, problems
    (line,) = problems
    assert line.startswith(f"{cut}:1: this is the app's batch file"), line
    assert "notes column cut off" in line and "not a submission" in line, line
    assert "1 of its 3 files was NOT GRADED (an empty class): 005.png (line 3)" in line, line
    assert "columns, expected" not in line
    # every file graded: the same one problem, without a NOT GRADED list
    graded = [r for r in rows if r[0] != "005.png"]
    cut2 = _write(tmp_path, "\n".join(",".join(r[:-1]) for r in graded) + "\n", "cut2.csv")
    (line,) = check_submission(cut2)
    assert "not a submission" in line and "NOT GRADED" not in line, line


def _assert_read_as_the_batch_file(full: Path, rows: list[list[str]], tmp_path: Path) -> None:
    """``full`` (the app's grades_with_notes.csv, ``rows`` its cells; 005.png on line 3 not
    graded) is named as the app's batch file by ``--check``, whole and with its notes column,
    or its notes and training_image columns, cut off."""
    (line,) = check_submission(full)
    assert "the app's batch file with a notes column" in line and "NOT GRADED: 005.png (line 3)" in line, line
    for drop in (1, 2):  # the notes column; the notes and training_image columns
        cut = _write(tmp_path, "\n".join(",".join(r[:-drop]) for r in rows) + "\n", f"cut{drop}.csv")
        (line,) = check_submission(cut)
        assert "notes column cut off" in line and "005.png (line 3)" in line, (drop, line)


@pytest.mark.parametrize("num_grades", [3, 5])
def test_the_apps_notes_file_with_its_training_image_column_is_still_named(
        tmp_path: Path, num_grades: int) -> None:
    """grades_with_notes.csv gained a training_image column (the export's notes-file column,
    review s57r3 F6) between not_reliably_gradable and the notes: --check names the file for
    what it is, whole, with its notes column cut, and with the training_image column cut too."""
    import csv
    import io

    from drac_ssl.submission import TRAINING_IMAGE_MARK

    probs = np.tile(np.full(num_grades, 1.0 / num_grades), (2, 1))
    full = write_grades_with_notes(
        tmp_path / "grades_with_notes.csv",
        [("001.png", 0, ""), ("005.png", None, "NOT GRADED: blank"), ("161.png", 1, "")],
        probs, None, num_grades=num_grades, unreliable=[[], [], ["a colour picture"]],
        trained=[True, False, False])
    rows = list(csv.reader(io.StringIO(full.read_text())))
    assert rows[0][-3:] == ["not_reliably_gradable", "training_image", "notes"], rows[0]
    assert [r[-2] for r in rows[1:]] == [TRAINING_IMAGE_MARK, "", ""]
    _assert_read_as_the_batch_file(full, rows, tmp_path)
    with pytest.raises(ValueError, match="1 training_image entries for 3 files"):
        write_grades_with_notes(tmp_path / "x.csv", [("001.png", 0, ""), ("005.png", None, ""),
                                                     ("161.png", 1, "")], probs, None,
                                num_grades=num_grades, trained=[True])


@pytest.mark.parametrize("num_grades", [3, 5])
def test_a_training_image_that_cannot_be_told_is_written_unknown_not_as_no(
        tmp_path: Path, num_grades: int) -> None:
    """A review: with a bundle that records no training-image hashes, the app's
    grades_with_notes.csv and the export's notes file left the training_image cell empty, as for
    a file known not to be one. None is written "unknown"; read_image_notes does not count it as
    a training image; --check still names the file in every cut variant."""
    import csv
    import io

    from drac_ssl.submission import (
        TRAINING_IMAGE_MARK,
        TRAINING_IMAGE_UNKNOWN,
        read_image_notes,
        write_image_notes,
    )

    probs = np.tile(np.full(num_grades, 1.0 / num_grades), (3, 1))
    full = write_grades_with_notes(
        tmp_path / "grades_with_notes.csv",
        [("001.png", 0, ""), ("005.png", None, "NOT GRADED: blank"), ("161.png", 1, ""), ("162.png", 2, "")],
        probs, None, num_grades=num_grades, unreliable=[[], [], [], []], trained=[True, None, None, False])
    rows = list(csv.reader(io.StringIO(full.read_text())))
    # graded: yes, unknown, known no; a file not graded: empty
    assert [r[-2] for r in rows[1:]] == [TRAINING_IMAGE_MARK, "", TRAINING_IMAGE_UNKNOWN, ""]
    _assert_read_as_the_batch_file(full, rows, tmp_path)

    notes = write_image_notes(tmp_path / "x_notes.csv", ["001.png", "161.png", "162.png"], [0, 1, 2],
                              [[], ["unlike the training images"], []], [True, None, False])
    cells = {r["case"]: r["training_image"] for r in csv.DictReader(io.StringIO(notes.read_text(encoding="utf-8-sig")))}
    assert cells == {"001.png": TRAINING_IMAGE_MARK, "161.png": TRAINING_IMAGE_UNKNOWN, "162.png": ""}
    read = read_image_notes(notes)
    assert read is not None and {c: t for c, (_, t) in read.items()} == {
        "001.png": True, "161.png": False, "162.png": False}


def test_both_notes_readers_refuse_the_same_files(tmp_path: Path) -> None:
    """read_image_notes and read_pretraining_notes read the notes file through one reader: a
    file that is missing, not UTF-8 or malformed CSV after its header is None to both; a
    header of an earlier version is read by the first only."""
    from drac_ssl.submission import (
        IMAGE_NOTES_COLUMNS,
        IMAGE_NOTES_COLUMNS_BEFORE_PRETRAINING,
        read_image_notes,
        read_pretraining_notes,
    )

    header = ",".join(IMAGE_NOTES_COLUMNS)
    good = _write(tmp_path, f"{header}\n001.png,0,,yes,,variant=vicreg,yes: a test image\n", name="good_notes.csv")
    assert read_image_notes(good) == {"001.png": ("", True)}
    assert read_pretraining_notes(good) == {"001.png": {"splits": ["test"], "bundle": "variant=vicreg",
                                                        "outside": ""}}
    latin = tmp_path / "latin_notes.csv"
    latin.write_bytes(f"{header}\n001.png,0,,,,,\n00\xe9.png,0,,,,,\n".encode("latin-1"))
    long_field = _write(tmp_path, f"{header}\n001.png,0,,,,,\n{'x' * (csv.field_size_limit() + 1)},0,,,,,\n",
                        name="long_notes.csv")  # csv.Error: field larger than field limit
    for refused in (tmp_path / "none_notes.csv", latin, long_field):
        assert read_image_notes(refused) is None and read_pretraining_notes(refused) is None, refused
    before = _write(tmp_path, ",".join(IMAGE_NOTES_COLUMNS_BEFORE_PRETRAINING) + "\n001.png,0,,yes,,\n",
                    name="before_notes.csv")
    assert read_image_notes(before) == {"001.png": ("", True)} and read_pretraining_notes(before) is None


UNUSED_PUBLIC_FUNCTIONS: frozenset[str] = frozenset()
"""Public functions of drac_ssl/submission.py that no code reads yet, kept on purpose (each
with its reason); none now (``write_grades_with_notes``, the app's older notes file's writer,
which only tests called, moved to ``tests/helpers/older_notes_csv.py``)."""


def _submission_references(path: Path, module: Path, defined: set[str]) -> set[tuple[str | None, str]]:
    """The functions of drac_ssl/submission.py (``defined``: its module-level functions, private
    ones too) that the code of ``path`` reads, each as ``(reader, function)``: ``reader`` is the
    module's own function whose body reads it (in the module itself), else None (another file,
    or the module's top-level code). A read is a name imported from the module (``from
    drac_ssl.submission import f``) or, in the module, a module-level function's name, where no
    local of the same name hides it and outside that function's own body; or an attribute of
    the module (``submission.f``)."""
    import ast

    text = path.read_text(encoding="utf-8")
    if path != module and "submission" not in text:
        return set()  # each read below spells the module's name (an import of it): none here, unparsed
    tree = ast.parse(text)
    names: dict[str, str] = {name: name for name in defined} if path == module else {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "drac_ssl.submission":
            names.update({a.asname or a.name: a.name for a in node.names if a.name in defined})
        elif isinstance(node, ast.ImportFrom) and node.module == "drac_ssl":
            modules.update(a.asname or a.name for a in node.names if a.name == "submission")
        elif isinstance(node, ast.Import):
            modules.update(a.asname for a in node.names if a.name == "drac_ssl.submission" and a.asname)
    found: set[tuple[str | None, str]] = set()

    def visit(node: ast.AST, hidden: frozenset[str], inside: str | None) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            local = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs,
                                     *filter(None, [args.vararg, args.kwarg])]}
            local |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            hidden = hidden | local
            if path == module and inside is None and not isinstance(node, ast.Lambda):
                inside = node.name
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in names \
                and node.id not in hidden and names[node.id] != inside:
            found.add((inside, names[node.id]))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules \
                and node.attr in defined:
            found.add((None, node.attr))
        for child in ast.iter_child_nodes(node):
            visit(child, hidden, inside)

    visit(tree, frozenset(), None)
    return found


def _read_functions(references: set[tuple[str | None, str]]) -> set[str]:
    """The functions read from code that runs: those read by another file or the module's
    top-level code, then, to a fixed point, those read by a function already counted (a dead
    function's reads do not count: a review found a dead public function kept "used" by a dead
    private one)."""
    used = {name for reader, name in references if reader is None}
    while True:
        more = {name for reader, name in references if reader in used} - used
        if not more:
            return used
        used |= more


def test_every_public_function_of_the_module_is_read_by_the_code() -> None:
    """A review: not_largest_count was exported and named in class_rule_words's docstring, but
    nothing called it (grade_note_counts counts the export's rows): a function the package
    does not use is read, kept and tested for nothing. A later review: the check matched bare
    names anywhere, so a local variable of the same name hid a dead function, and a function's
    use of itself counted. Each public module-level function (``__all__`` or not) is read by
    the code in drac_ssl, app, bench, scripts or data_prep outside its own body (another
    function of drac_ssl/submission.py counts when it is itself read: :func:`_read_functions`),
    bar :data:`UNUSED_PUBLIC_FUNCTIONS`."""
    import ast

    module = Path(submission.__file__).resolve()
    root = module.parents[1]
    defined = {node.name for node in ast.parse(module.read_text(encoding="utf-8")).body
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    public = {name for name in defined if not name.startswith("_")}
    references: set[tuple[str | None, str]] = set()
    for folder in ("drac_ssl", "app", "bench", "scripts", "data_prep"):
        for path in (root / folder).rglob("*.py"):
            references |= _submission_references(path.resolve(), module, defined)
    used = _read_functions(references)
    assert public and sorted(public - used - UNUSED_PUBLIC_FUNCTIONS) == []
    assert sorted(UNUSED_PUBLIC_FUNCTIONS & used) == [], "read now: take it off UNUSED_PUBLIC_FUNCTIONS"


def test_a_function_read_only_by_dead_code_counts_as_unread() -> None:
    """The fixed point of :func:`_read_functions`: a public function read only by a private one
    that nothing reads is unread; read from a live function, it is read."""
    dead = {(None, "live"), ("live", "_helper"), ("_dead", "dead_public")}
    assert _read_functions(dead) == {"live", "_helper"}
    assert _read_functions(dead | {("_helper", "_dead")}) == {"live", "_helper", "_dead", "dead_public"}


def test_grade_note_counts_follow_the_notes_tie_rule() -> None:
    """A second read: 0.449 / 0.451 / 0.10 with class 0 has the note "0 Normal and 1 NPDR are
    equally likely (45% each)", yet was counted "not the largest" (a 1e-4 tolerance); it is a
    near-tie at the whole percentages shown (figures.tied_grades), as the note says."""
    from drac_ssl.grading.image_notes import decision_words

    names = ["Normal", "NPDR", "PDR"]
    probs = np.array([[0.449, 0.451, 0.10],   # class 0, tied with 1 at 45%: a near-tie
                      [0.40, 0.54, 0.06],     # class 0, 40% against 54%: not the largest
                      [0.10, 0.20, 0.70],     # class 2, the largest alone: no note
                      [0.455, 0.09, 0.455]])  # class 2, shown 46 / 9 / 46: a tie
    classes = np.array([0, 0, 2, 2])
    notes = [decision_words(p, int(c), names, "thresholds") for p, c in zip(probs, classes, strict=True)]
    assert notes[0].startswith("0 Normal and 1 NPDR are equally likely (45% each)") and notes[2] == ""
    # by exact P: row 0's class is below the largest, equal only at the percentages shown
    assert submission.grade_note_counts(notes, probs, classes) == (1, 1, 1)
    with pytest.raises(ValueError, match="3 grade notes for 4 graded rows"):
        submission.grade_note_counts(notes[:3], probs, classes)


def test_a_class_below_the_largest_p_is_never_counted_the_largest_for_a_tie_at_percentages() -> None:
    """Review (CLAIM F3): the default run's 860.png, class 1 with P0 0.483199 > P1 0.479874 (both
    48%), was counted "for 1 more it is [the largest], but another grade's probability ties", so
    report.md and summary.json said 22 rows off the largest P where the file has 23. Counted by
    exact P, it is not the largest, though equal at the percentages shown."""
    from drac_ssl.grading.image_notes import decision_words

    probs = np.array([[0.483199, 0.479874, 0.036927],   # 860.png: class 1 below P0, 48% each
                      [0.40, 0.54, 0.06],               # class 0: not the largest
                      [0.47, 0.47, 0.06]])              # class 1: the largest, tied with 0
    classes = np.array([1, 0, 1])
    notes = [decision_words(p, int(c), ["Normal", "NPDR", "PDR"], "thresholds") for p, c in zip(probs, classes, strict=True)]
    assert all(notes)
    counts = submission.grade_note_counts(notes, probs, classes)
    assert counts == (1, 1, 1) and all(type(n) is int for n in counts)  # JSON numbers, never strings
    words = submission.class_rule_words("thresholds", counts[0], 3, "", counts[1], counts[2])
    assert words.endswith("(for 1 of the 3 here it is not, and for 1 more it is not the largest, though equal at "
                          f"the percentages shown, and for 1 more it is, but {submission.NEAR_TIE_WORDS})"), words


def test_rounding_residual_never_makes_a_written_probability_negative(tmp_path: Path) -> None:
    """The rounding residual goes to the largest entry, so a zero entry stays 0 (mutation S04:
    residual added to the argmin wrote -0.000001)."""
    p = np.array([[0.2000006, 0.2000006, 0.2000006, 0.3999982, 0.0]])
    units = submission.written_units(p)
    assert units.sum() == 10**6 and units.min() >= 0
    assert units[0].tolist() == [200001, 200001, 200001, 399997, 0]
    text = submission.write_submission(tmp_path / "s.csv", ["1.png"], p, num_grades=5).read_text()
    assert "-" not in text.splitlines()[1]


def test_written_class_is_the_largest_written_probability_at_near_ties(tmp_path: Path) -> None:
    """The rounding residual once went to the first largest *rounded* entry: at a near tie the
    written ``class`` (the true argmax) sat strictly below another written P (35 of 150 near-tie
    rows of a property test). Now it goes to the largest unrounded entry, or to the given class
    among equal largest ones, so the class is the largest written P (ties only when equal)."""
    p = np.array([[0.3333333190071939, 0.3333332746889085, 0.3333334063038976]])
    path = submission.write_submission(tmp_path / "s.csv", ["1.png"], p)
    assert path.read_text().splitlines()[1] == "1.png,2,0.333333,0.333333,0.333334"
    # a residual of -1 at a near tie: rounded 333334, 333334, 333333 over 1000001 units
    p = np.array([[0.3333338, 0.3333336, 0.3333326]])
    assert submission.written_units(p)[0].tolist() == [333334, 333333, 333333]
    rng = np.random.default_rng(0)
    for _ in range(300):
        k = int(rng.integers(2, 6))
        row = np.clip(np.full(k, 1 / k) + rng.normal(0, 3e-7, k), 0, 1)
        row /= row.sum()
        units = submission.written_units(row[None])[0]
        assert units.sum() == 10**6 and units.min() >= 0
        assert units[row.argmax()] == units.max(), (row.tolist(), units.tolist())


def test_written_units_given_the_classes_are_the_numbers_the_file_holds(tmp_path: Path) -> None:
    """The writer gives an exact tie's rounding remainder to the row's class, but written_units
    had no classes and gave it to the first tied entry: the counts of grade_note_counts and the
    referral of ReferralCut.refer (the app) then read numbers the file does not hold (row b:
    class 2 counted "not the largest", and referred by the file's P_referable 0.425416 but
    not by the app). A property test on random rows with exact and near ties."""
    from drac_ssl.grading.model import ReferralCut

    p = np.array([[1 / 3] * 3, [0.149169, 0.425415, 0.425415]])
    p /= p.sum(axis=1, keepdims=True)
    classes = np.array([1, 2])
    path = submission.write_submission(tmp_path / "s.csv", ["a.png", "b.png"], p, classes=classes)
    assert path.read_text().splitlines()[1:] == ["a.png,1,0.333333,0.333334,0.333333",
                                                 "b.png,2,0.149169,0.425415,0.425416"]
    assert submission.grade_note_counts(["tie", "tie"], p, classes) == (0, 2, 0)
    cut = ReferralCut("sensitivity", 0.9, 2, 0.425416)
    referable = submission.write_referable(path, 2, cut=cut.cut).read_text().splitlines()
    assert [line.split(",")[2] for line in referable[1:]] == ["0", "1"]
    assert cut.refer(p, classes).tolist() == [0, 1]
    two = np.array([[0.5, 0.5]])
    assert submission.smaller_class_rows(two, np.array([1])) == 0
    rng = np.random.default_rng(1)
    for _ in range(40):
        k = int(rng.integers(2, 6))
        rows = rng.integers(1, 4, size=(8, k)).astype(np.float64)  # exact ties among whole numbers
        rows[::2] += rng.normal(0, 3e-7, size=(4, k))  # and near ones
        rows /= rows.sum(axis=1, keepdims=True)
        tied = [np.flatnonzero(r == r.max()) for r in rows]
        given = np.array([int(rng.choice(t)) for t in tied])
        out = submission.write_submission(tmp_path / "r.csv", [f"{i}.png" for i in range(8)], rows,
                                          classes=given, num_grades=k)
        with open(out, newline="") as fh:
            file_units = submission.probability_units([[float(v) for v in r[2:]] for r in list(csv.reader(fh))[1:]])
        np.testing.assert_array_equal(submission.written_units(rows, given), file_units)


def test_write_submission_refuses_a_row_off_by_1e_3_or_more(tmp_path: Path) -> None:
    """Rows off by more than RENORMALISE_TOL (1e-3) are refused, not renormalised (mutation S06:
    10 * the tolerance)."""
    with pytest.raises(ValueError, match="sums to"):
        submission.write_submission(tmp_path / "s.csv", ["1.png"], np.array([[0.5, 0.3, 0.195]]))


def test_written_probabilities_give_an_exact_ties_remainder_to_the_written_grade(tmp_path: Path) -> None:
    """A review (F8): ``written_probabilities`` took no classes, so oof.csv gave an exact
    tie's rounding remainder to the first tied grade while its ``pred`` was another (``[1/3] * 3``
    written ``0.333334,0.333333,0.333333`` beside pred 2). With ``classes`` it is the numbers a
    submission with those classes holds."""
    from drac_ssl.submission import written_probabilities

    probs = np.full((3, 3), 1 / 3)
    pred = np.array([2, 1, 0])
    written = written_probabilities(probs, classes=pred)
    assert np.array_equal(written.argmax(axis=1), pred) and np.allclose(written.sum(axis=1), 1.0)
    assert written[0].tolist() == [0.333333, 0.333333, 0.333334]
    path = write_submission(tmp_path / "ties.csv", ["a.png", "b.png", "c.png"], probs, pred, num_grades=3)
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))[1:]
    assert [[float(v) for v in row[2:]] for row in rows] == written.tolist()
    assert written_probabilities(probs)[:, 0].tolist() == [0.333334] * 3  # no classes: the first
