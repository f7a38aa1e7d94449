"""A damaged ``stages.json`` (empty, cut short) is named with its fix, by the run and by the
report, not ``Expecting value: line 1 column 1 (char 0)`` nor "not run by the orchestrator"."""
from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl.config import ConfigError, load_config
from drac_ssl.report import _stages_section
from drac_ssl.run_state import read_stages_record
from drac_ssl.starting import python_command
from drac_ssl.train import _run_stages


@pytest.mark.parametrize("text", ["", '{"ingest": {"status": "do', "[]"])
def test_a_damaged_stages_record_stops_the_run_with_its_file_and_fix(tmp_path: Path, text: str) -> None:
    (tmp_path / "stages.json").write_text(text)
    # the reader first: were it to take the damage for no record, _run_stages would run the
    # whole default pipeline (minutes), so this fails at once instead (mutation audit)
    with pytest.raises(ConfigError, match="stages.json: damaged: "):
        read_stages_record(tmp_path, strict=True)
    assert read_stages_record(tmp_path) == {}  # lenient: no record, for a caller that can do without
    with pytest.raises(ConfigError) as caught:
        _run_stages(load_config(None, []), tmp_path, None)
    said = str(caught.value)
    assert said.startswith(f"{tmp_path / 'stages.json'}: damaged: "), said
    assert (f"fix: if the run had finished, you need not rerun it: {python_command('drac_ssl.report')} {tmp_path} "
            f"and {python_command('drac_ssl.export')} {tmp_path} --images DIR --out FILE.csv (or --variant NAME) "
            "work without it") in said, said
    assert ("delete it only to resume the run or train it again, then rerun the same command: each stage runs "
            "again and takes up what it saved") in said
    assert ("empty" in said) == (text == "")


def test_the_report_says_the_stages_record_is_damaged_not_missing(tmp_path: Path) -> None:
    (tmp_path / "stages.json").write_text("")
    text = "\n".join(_stages_section(tmp_path))
    assert "`stages.json` is damaged" in text and "not run by the orchestrator" not in text, text
    assert "To go on: if the run had finished, you need not rerun it: " in text, text
    (tmp_path / "stages.json").unlink()
    assert "No `stages.json` (the stages were not run by the orchestrator)." in _stages_section(tmp_path)
