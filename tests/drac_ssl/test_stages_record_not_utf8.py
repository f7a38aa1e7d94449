"""A ``stages.json`` holding a byte that is not UTF-8 is damage like a cut-short one: the run
stops naming the file, the byte and the fix, not ``'utf-8' codec can't decode byte 0xff``."""
from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl.config import ConfigError, load_config
from drac_ssl.report import _stages_section
from drac_ssl.run_state import read_stages_record
from drac_ssl.train import _run_stages, _stages_as_saved


def test_a_stages_record_that_is_not_utf8_stops_the_run_with_its_file_and_fix(tmp_path: Path) -> None:
    (tmp_path / "stages.json").write_bytes(b'{"ingest": {"status": "done"}, "pretrain"\xff: {}}')
    # the reader first: were it to take the damage for no record, _run_stages would run the
    # whole default pipeline (minutes), so this fails at once instead (mutation audit)
    with pytest.raises(ConfigError, match=r"stages.json: damaged: not UTF-8 \(byte 0xff"):
        read_stages_record(tmp_path, strict=True)
    assert read_stages_record(tmp_path) == {}  # lenient: no record, for a caller that can do without
    with pytest.raises(ConfigError) as caught:
        _run_stages(load_config(None, []), tmp_path, None)
    said = str(caught.value)
    assert said.startswith(f"{tmp_path / 'stages.json'}: damaged: not UTF-8 (byte 0xff at offset 41)"), said
    assert "fix: if the run had finished, you need not rerun it: " in said, said
    assert "delete it only to resume the run or train it again, then rerun the same command" in said, said
    assert _stages_as_saved(tmp_path) == {}
    assert "`stages.json` is damaged" in "\n".join(_stages_section(tmp_path))
