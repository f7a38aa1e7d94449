"""An editor's review (F13): ``python -m app --bundle /nonexistent`` said the path twice
(``cannot load the bundle /nonexistent: /nonexistent: does not exist.``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.__main__ import main


def test_a_missing_bundle_names_its_path_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nonexistent"
    assert main(["--bundle", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"cannot load the bundle {missing}: does not exist." in err
    assert err.count(str(missing)) == 1
