"""An outside tester (paths80, F6): ``export RUN --images D --out <250-byte name>.csv`` failed
because the hidden staging name ``.NAME.checking-PID`` exceeded 255 bytes, and the message said
to check permissions. The staging name is short for such a name, and an ``--out`` whose files
beside it (``_notes.csv``, ``_referable.csv`` ...) would not fit is refused up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl import export


def test_a_long_submission_name_is_staged_under_a_short_hidden_name(tmp_path: Path) -> None:
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
