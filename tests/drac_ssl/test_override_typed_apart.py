"""An editor's review (F14): ``train finetune.lr 0.1`` (a space for the '=') got two "is not
an override" errors and no ``finetune.lr=0.1``; ``compare --n-boot -5`` said "must be at
least 1" with no fix."""

from __future__ import annotations

import pytest

from drac_ssl.compare import main as compare_main
from drac_ssl.config import ConfigError, load_config, split_overrides


def test_a_setting_and_its_value_typed_apart_get_one_fix() -> None:
    with pytest.raises(ConfigError) as said:
        load_config(None, ["finetune.lr", "0.1"])
    assert "typed apart" in str(said.value) and "fix: finetune.lr=0.1" in str(said.value)
    pairs = split_overrides(["finetune.lr", "0.1", "run.name=x"])
    assert len(pairs) == 2 and pairs[1] == ("run.name=x", "")


def test_compare_n_boot_below_one_gets_a_fix(capsys: pytest.CaptureFixture[str]) -> None:
    assert compare_main(["a", "b", "--n-boot", "-5"]) == 2
    err = capsys.readouterr().err
    assert "must be at least 1, got -5" in err and "fix: --n-boot 1000" in err
