"""An editor's review (F1): ``data_prep ingest --seed -1`` (or 5000000000) decoded every image,
left the cache behind and then stopped with numpy's "Seed must be between 0 and 2**32 - 1"
traceback (exit 1, "a bug to report"). The seed's range is now refused while parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_prep.__main__ import main


@pytest.mark.parametrize("seed", ["-1", "5000000000"])
def test_a_seed_out_of_range_is_refused_before_any_decoding(seed: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "X"
    with pytest.raises(SystemExit) as stop:
        main(["ingest", "--root", str(tmp_path / "absent"), "--out", str(out), "--seed", seed])
    assert stop.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{seed}: the fold seed must be a whole number from 0 to 4294967295" in err
    assert "use --seed 0 (the default)" in err
    assert not out.exists()
