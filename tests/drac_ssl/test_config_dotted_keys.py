"""A setting written in a config file with the command line's dotted name (``finetune.epochs:
3`` at the top level) is told the nested form of that same setting, at its file:line (a
careless-user review, F5: it was told to write it under ``pretrain:``, "Did you mean
'finetune.epochs'" about itself, and no line)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drac_ssl.config import ConfigError, load_config


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value).replace(str(path), "mine.yaml")


def test_a_dotted_top_level_key_is_told_its_own_nested_form_with_its_line(tmp_path: Path) -> None:
    said = _error(tmp_path, "data:\n  n_folds: 3\nfinetune.epochs: 3\n")
    assert said.startswith("mine.yaml:3: unknown setting 'finetune.epochs': a key written with dots is "
                           "one name in a YAML file"), said
    assert said.endswith("fix: write it nested\n    finetune:\n      epochs: 3"), said
    assert "pretrain:" not in said and "Did you mean" not in said, said


def test_a_dotted_key_inside_a_section_and_a_dotted_section(tmp_path: Path) -> None:
    said = _error(tmp_path, "run:\n  name: x\npretrain:\n  epochs: 2\n  augment.recipe: fundus\n")
    assert said.startswith("mine.yaml:5: unknown setting 'augment.recipe'"), said
    assert said.endswith("    pretrain:\n      augment:\n        recipe: fundus"), said
    said = _error(tmp_path, "pretrain.augment:\n  recipe: fundus\n")
    assert said.startswith("mine.yaml:1: unknown setting 'pretrain.augment'"), said
    assert "its settings one indent further under the last line\n    pretrain:\n      augment:" in said, said


def test_a_dotted_key_misspelt_too_is_told_the_closest_settings_nested_form(tmp_path: Path) -> None:
    said = _error(tmp_path, "finetune.epoch: 3\n")
    assert said.startswith("mine.yaml:1: unknown setting 'finetune.epoch'") and "Did you mean 'finetune.epochs'?" in said
    assert re.search(r"fix: write it nested\n\s+finetune:\n\s+epochs: 3$", said), said
    said = _error(tmp_path, "fintune.epochs: 3\n")  # no such section: the usual did-you-mean
    assert "unknown setting 'fintune.epochs'" in said and "Did you mean" in said, said


def test_the_nested_form_it_gives_loads(tmp_path: Path) -> None:
    path = tmp_path / "fixed.yaml"
    path.write_text("finetune:\n  epochs: 3\n", encoding="utf-8")
    assert load_config(path).finetune.epochs == 3
