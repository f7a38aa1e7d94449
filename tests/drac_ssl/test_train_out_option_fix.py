"""An editor's review (F6): ``train -c configs/retinamnist.yaml --out DIR`` (the ingest's and
the export's option) got a bare "unrecognized arguments: --out", where ``--out_dir`` got its
fix. ``--out`` now gets ``run.out_dir=DIR``."""

from __future__ import annotations

import pytest

from drac_ssl.commands import option_override_fix
from drac_ssl.train import main


@pytest.mark.parametrize("argv", [["--out", "runs/a"], ["--out=runs/a"]])
def test_out_is_answered_with_the_out_dir_setting(argv: list[str]) -> None:
    assert "fix: run.out_dir=runs/a" in option_override_fix(argv[:1], argv)


def test_train_with_out_says_the_override(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["-c", "retinamnist", "--out", "runs/a"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --out" in err and "fix: run.out_dir=runs/a" in err
