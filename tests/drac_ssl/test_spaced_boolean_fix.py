"""A boolean quoted with spaces (" true") was refused with the fix "data.strict=false (the
default)", the opposite of what was meant; the fix now names the trimmed word."""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl import train
from drac_ssl.config import ConfigError, DataConfig


@pytest.mark.parametrize("word", ["true", "false"])
def test_spaced_boolean_fix_is_the_trimmed_word(tmp_path: Path, word: str) -> None:
    with pytest.raises(ConfigError) as made:
        DataConfig(strict=f" {word} ")
    assert f"DataConfig(strict={word.title()})" in str(made.value), made.value
    config = tmp_path / "c.yaml"
    config.write_text(f'data:\n  strict: " {word}"\n')
    with pytest.raises(ConfigError) as read:
        train.load_config(config)
    assert f"fix: data.strict={word} " in str(read.value), read.value
    assert "(the default)" not in str(read.value), read.value
