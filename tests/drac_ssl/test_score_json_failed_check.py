"""``export --score SUB --labels L --json F`` whose submission fails its check exits 1 and
writes ``{"ok": false, "exit_code": 1, ...}`` to F (:func:`drac_ssl.scoring.write_score_refusal`),
so that no older score in F is read as this one's; exit 75 is asserted in test_export.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drac_ssl import export


def test_a_submission_that_fails_its_check_writes_a_refusal_with_exit_code_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = tmp_path / "team.csv"
    sub.write_text("case,class,P0,P1,P2\n1.png,0,0.8,0.1,0.1\n2.png,7,0.1,0.1,0.8\n")  # class 7: no grade
    labels = tmp_path / "labels.csv"
    labels.write_text("image name,DR grade\n1.png,0\n2.png,2\n")
    out = tmp_path / "score.json"
    assert export.main(["--score", str(sub), "--labels", str(labels), "--json", str(out)]) == 1
    capsys.readouterr()
    record = json.loads(out.read_text())
    assert record["ok"] is False and record["exit_code"] == 1, record
    assert record["submission"] == str(sub) and "1 problem(s)" in record["error"], record
