"""An editor's review (F7): an invalid choice was told the package default, overruling the -c
file: ``-c configs/retinamnist.yaml finetune.freeze=sometimes`` -> ``fix: finetune.freeze=frozen``
while the file sets ``all``. The fix now suggests the file's value, as the number settings do."""

from __future__ import annotations

import pytest

from drac_ssl import preflight
from drac_ssl.config import ConfigError, load_config

FILE = "configs/retinamnist.yaml"


def test_load_config_suggests_the_files_choice() -> None:
    with pytest.raises(ConfigError) as said:
        load_config(FILE, ["finetune.freeze=sometimes"])
    assert f"fix: finetune.freeze=all (as in {FILE})" in str(said.value)


def test_a_near_spelling_still_wins_and_no_file_gives_the_default() -> None:
    with pytest.raises(ConfigError) as said:
        load_config(FILE, ["finetune.freeze=frozn"])
    assert "fix: finetune.freeze=frozen" in str(said.value) and "(as in" not in str(said.value)
    with pytest.raises(ConfigError) as said:
        load_config(None, ["finetune.freeze=sometimes"])
    assert "fix: finetune.freeze=frozen" in str(said.value)


def test_the_preflight_suggests_the_files_choice() -> None:
    cfg, sources, _ = preflight.read_config(FILE, ["finetune.freeze=sometimes"])
    found = preflight._Findings(cfg, sources)
    preflight._check_choices(found, cfg)  # the preflight's own check, as train runs it
    fixes = [f.fix for f in found.items if f.setting == "finetune.freeze"]
    assert fixes and f"finetune.freeze=all (as in {FILE})" in fixes[0]
