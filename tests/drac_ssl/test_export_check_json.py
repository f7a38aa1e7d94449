"""``export --check FILE --json OUT``: the check's result for a pipeline (an MLOps review, J1):
written whenever the check ran, pass or fail, with the exit code the command returns."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from drac_ssl.challenge import DRAC_TEST_IMAGES
from drac_ssl.export import main
from drac_ssl.submission import CHECK_RECORD_KEYS, GRADING_PROVENANCE_FORMAT, provenance_path


def _submission(path: Path, cases: list[str], k: int = 3) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["case", "class", *(f"P{i}" for i in range(k))])
        for case in cases:
            writer.writerow([case, 0, 0.6, *([0.4 / (k - 1)] * (k - 1))])
    return path


def test_a_valid_file_is_ok_with_exit_code_0(tmp_path: Path) -> None:
    csv_path = _submission(tmp_path / "team.csv", [f"{i:03d}.png" for i in range(1, 11)], k=5)
    out = tmp_path / "check.json"
    assert main(["--check", str(csv_path), "--json", str(out)]) == 0
    record = json.loads(out.read_text(encoding="utf-8"))
    assert tuple(record) == CHECK_RECORD_KEYS
    assert record == {"ok": True, "exit_code": 0, "k": 5, "n_cases": 10, "complete_checked": False,
                      "problems": [], "warnings": []}
    before = csv_path.read_bytes()  # never the checked file itself
    assert main(["--check", str(csv_path), "--json", str(csv_path)]) == 2
    assert csv_path.read_bytes() == before


def test_lost_zeros_fail_with_their_line_and_the_process_exit_code(tmp_path: Path) -> None:
    """A DRAC-shaped file (386 rows, 3 grades) whose cases lost their zeros ('1.png'): ok false,
    exit_code 1, the problem at its line; the JSON's exit_code is the command's."""
    csv_path = _submission(tmp_path / "zeros.csv", [f"{i}.png" for i in range(1, DRAC_TEST_IMAGES + 1)])
    out = tmp_path / "check.json"
    code = main(["--check", str(csv_path), "--json", str(out)])  # the process's exit code (SystemExit(main()))
    record = json.loads(out.read_text(encoding="utf-8"))
    assert code == record["exit_code"] == 1
    assert record["ok"] is False and record["k"] == 3 and record["n_cases"] == DRAC_TEST_IMAGES
    [problem] = record["problems"]
    assert problem["line"] == 2 and "lost their leading zeros" in problem["what"]
    assert "'1.png' -> '001.png'" in problem["fix"]


def test_an_incomplete_drac_file_says_why_it_exits_3(tmp_path: Path) -> None:
    csv_path = _submission(tmp_path / "short.csv", [f"{i:03d}.png" for i in range(1, 5)])
    out = tmp_path / "check.json"
    assert main(["--check", str(csv_path), "--json", str(out)]) == 3
    record = json.loads(out.read_text(encoding="utf-8"))
    assert record["ok"] is False and record["exit_code"] == 3
    assert record["problems"][0]["line"] is None and "NOT a valid DRAC submission" in record["problems"][0]["what"]



def test_the_json_may_not_take_the_name_of_a_file_the_check_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: ``--json team_provenance.json`` (or ``team.skipped.json``) was accepted, and the
    next check read it as the export's record beside team.csv. Refused (exit 2), nothing written;
    ``--json`` without --check or --score names both."""
    csv_path = _submission(tmp_path / "team.csv", [f"{i:03d}.png" for i in range(1, 11)])
    for name in ("team_provenance.json", "team.skipped.json"):
        assert main(["--check", str(csv_path), "--json", str(tmp_path / name)]) == 2
        assert not (tmp_path / name).exists()
        assert "a file the export writes beside the submission" in capsys.readouterr().err
    assert main(["runs/x", "--json", str(tmp_path / "a.json")]) == 2
    assert "(or --check FILE: the check's result)" in capsys.readouterr().err


def test_the_provenance_warning_of_stderr_is_in_the_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A record beside the CSV of another file: stderr warns, and so must the JSON's warnings."""
    csv_path = _submission(tmp_path / "team.csv", [f"{i:03d}.png" for i in range(1, 11)], k=5)
    provenance_path(csv_path).write_text(json.dumps(
        {"format": GRADING_PROVENANCE_FORMAT, "submission": {"sha256": "ab" * 32}}), encoding="utf-8")
    out = tmp_path / "check.json"
    assert main(["--check", str(csv_path), "--json", str(out)]) == 0
    assert "records another CSV" in capsys.readouterr().err
    [warned] = json.loads(out.read_text(encoding="utf-8"))["warnings"]
    assert warned["line"] is None and "records another CSV" in warned["what"]
