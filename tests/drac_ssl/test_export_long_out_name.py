"""An outside tester (paths80, F6): ``export RUN --images D --out <250-byte name>.csv`` failed
because the hidden staging name ``.NAME.checking-PID`` exceeded 255 bytes, and the message said
to check permissions. The staging name is short for such a name, and an ``--out`` whose files
beside it (``_notes.csv``, ``_referable.csv`` ...) would not fit is refused up front."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from drac_ssl import export
from drac_ssl.io import atomic_write_json, atomic_write_text
from drac_ssl.submission import provenance_path


def test_a_long_submission_name_is_staged_under_a_short_hidden_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getpid", lambda: 4194303)  # the longest PID: the test's own may be short
    final = tmp_path / ("g" * 236 + ".csv")  # 240 bytes: fits, but not with .checking-PID
    written, problems = export._write_checked(final, lambda p: p.write_text("case,class\n"),
                                              lambda p: [])
    assert (written, problems) == (final, []) and final.read_text() == "case,class\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [final.name]  # no staging file left


def test_an_out_whose_companion_names_would_be_too_long_is_refused_before_any_grading(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "imgs").mkdir()
    out = tmp_path / ("g" * 246 + ".csv")  # 250 bytes; with _provenance.json 262
    code = export.main([str(tmp_path / "run"), "--images", str(tmp_path / "imgs"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"--out {out}: name too long (max 255 bytes with the suffixes the export adds" in err, err
    assert "_notes.csv, _referable.csv, _provenance.json" in err and "check" not in err.split("fix:")[1], err
    assert "fix: --out a shorter file name, at most 243 bytes" in err, err


def test_a_230_byte_out_is_written_with_its_companions_through_the_atomic_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reviewer F1: the CSV and each companion are written by :func:`drac_ssl.io.atomic_path`,
    at ``..NAME.checking-PID.tmp-PID``: 31 bytes more than the name with a 7-digit PID, so a
    230-byte ``--out`` (its ``_provenance.json`` 242) passed the up-front check and failed."""
    monkeypatch.setattr(os, "getpid", lambda: 4194303)
    final = tmp_path / ("g" * 226 + ".csv")
    assert export.companion_name_problem(final) is None
    record = tmp_path / (final.name + ".skipped.json")
    written, problems = export._write_checked(
        final, lambda p: atomic_write_text(p, "case,class\n"), lambda p: [],
        companions=[(provenance_path(final), export._provenance_writer({"format": "x"}, final)),
                    (record, lambda tmp, _csv: atomic_write_json(tmp, {"skipped": []}))])
    assert (written, problems) == (final, []) and final.read_text() == "case,class\n"
    assert json.loads(provenance_path(final).read_text())["submission"]["file"] == final.name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [final.name, provenance_path(final).name, record.name])


@pytest.mark.parametrize(("size", "left"), [(240, "h{hash}.checking-999999"),
                                            (240, ".h{hash}.new-999999.tmp-999999"),
                                            (12, ".{name}.checking-999999.tmp-999999")])
def test_a_killed_exports_hidden_files_beside_the_out_are_removed(
        tmp_path: Path, size: int, left: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Reviewer F2, F8: a killed export's staging file under the short hash, and the
    ``.tmp-PID`` file of :func:`drac_ssl.io.atomic_path` inside it, are removed by the next one
    (PID 999999 runs nowhere: above the default pid_max)."""
    final = tmp_path / ("g" * (size - 4) + ".csv")
    short = export._staged_name(final.name)
    assert (short != final.name) == (size > 224)
    stale = tmp_path / ("." + left.format(hash=short[1:], name=final.name))
    stale.write_text("half")
    written, _ = export._write_checked(final, lambda p: atomic_write_text(p, "case,class\n"), lambda p: [])
    assert written == final and not stale.exists(), sorted(p.name for p in tmp_path.iterdir())
    assert f"note: removed {stale}" in capsys.readouterr().err
