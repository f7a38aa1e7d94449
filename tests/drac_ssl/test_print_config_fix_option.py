"""An editor's review (F4): ``train --print-config retina`` answered ``fix: -c retinamnist``,
and pasting that started a training. The fix now names the option the user typed."""

from __future__ import annotations

import pytest

from drac_ssl.train import main


def test_print_config_of_a_near_name_suggests_print_config(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--print-config", "retina"])
    assert stop.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "fix: --print-config retinamnist" in err and "-c retinamnist" not in err
