"""An editor's review (F11): ``export --check badgrade.csv`` said ``replace it with
'case,class,P0..P{K-1}'``, a template no one can paste, and a label CSV given in a
submission's place was told to replace its header, where ``--score`` says it is a label CSV."""

from __future__ import annotations

from pathlib import Path

from drac_ssl.submission import check_submission


def test_an_unknown_header_is_told_a_header_written_out(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("foo,bar\na.png,1\n", encoding="utf-8")
    said = " ".join(check_submission(path))
    assert "replace it with 'case,class,P0,P1,P2'" in said and "one P column per grade" in said
    assert "{K-1}" not in said and "P0.." not in said


def test_a_label_csv_is_said_to_be_one(tmp_path: Path) -> None:
    path = tmp_path / "badgrade.csv"
    path.write_text("image name,DR grade\na.png,1\nb.png,2\n", encoding="utf-8")
    said = check_submission(path)
    assert len(said) == 1 and "this is a label CSV" in said[0] and "not a submission" in said[0]
    assert "--labels" in said[0] and "replace it with" not in said[0]
