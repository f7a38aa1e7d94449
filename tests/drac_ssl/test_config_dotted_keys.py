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


def _refusal(tmp_path: Path, text: str) -> str:
    """What the train command's reading (drac_ssl.preflight, each setting at its line) says."""
    from drac_ssl.preflight import reading_refusal

    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return str(reading_refusal(path, [])).replace(str(path), "mine.yaml")


def test_a_dotted_key_beside_its_section_is_told_to_move_into_that_section(tmp_path: Path) -> None:
    """The fix said to write ``pretrain:`` and the setting under it: with a ``pretrain:`` section
    already in the file, a second one is a key written twice (refused next). It names the
    section's line instead."""
    text = "pretrain:\n  epochs: 2\nrun:\n  name: x\npretrain.epochs: 5\n"
    for said in (_error(tmp_path, text), _refusal(tmp_path, text)):
        assert "mine.yaml:5: unknown setting 'pretrain.epochs'" in said, said
        assert ("fix: move it into the pretrain section the file has on line 1 (a second 'pretrain:' key "
                "would be written twice), nested\n") in said, said
        assert re.search(r"\n\s+pretrain:\n\s+epochs: 5(\n|$)", said), said
    said = _error(tmp_path, "pretrain:\n  augment:\n    recipe: fundus\n  augment.image_size: 64\n")
    assert said.startswith("mine.yaml:4: unknown setting 'augment.image_size'"), said
    assert "move it into the pretrain.augment section the file has on line 2 (a second 'augment:' key" in said, said
    said = _error(tmp_path, "run:\n  name: x\nfinetune.epochs: 3\n")  # no finetune: section: as before
    assert said.endswith("fix: write it nested\n    finetune:\n      epochs: 3"), said


@pytest.mark.parametrize("text, line", [("pretrain.augment:\n  recipe: fundus\n  image_size: 64\n", 1),
                                        ("pretrain:\n  epochs: 2\npretrain.augment:\n  recipe: fundus\n", 3)])
def test_a_dotted_section_with_a_block_under_it_is_one_problem_at_its_line(
        tmp_path: Path, text: str, line: int) -> None:
    """The train command reads each setting of the block on its own (pretrain.augment.recipe):
    the problem had no line (or the line of 'pretrain:'), and was said once per setting."""
    said = _refusal(tmp_path, text)
    assert f"1. mine.yaml:{line}: unknown setting 'pretrain.augment'" in said, said
    assert "1 problem(s)" in said and "2. " not in said, said
    assert _error(tmp_path, text).startswith(f"mine.yaml:{line}: unknown setting 'pretrain.augment'")


@pytest.mark.parametrize("text, entry, line", [
    ("pretrain: {epochs: 5}\npretrain.lr: 1\n", "lr: 1", 1),
    ("run: {name: x}\npretrain:\n  augment: {recipe: fundus}\n  augment.image_size: 64\n", "image_size: 64", 3),
    ("pretrain: {epochs: 5}\npretrain.augment.image_size: 64\n", "augment: {image_size: 64}", 1),
])
def test_a_dotted_key_beside_an_inline_section_is_told_to_add_it_inside_its_braces(
        tmp_path: Path, text: str, entry: str, line: int) -> None:
    """A review: beside ``pretrain: {epochs: 5}`` the fix showed a block (``pretrain:`` then
    ``  lr: 1``), which cannot go under an inline section; it says to add the entry inside
    its { }, and the file so fixed loads."""
    for said in (_error(tmp_path, text), _refusal(tmp_path, text)):
        assert f"fix: add `{entry}` inside its {{ }} on line {line} (the " in said, said
        assert not re.search(r"\n\s+pretrain:\n", said), said
    fixed = tmp_path / "fixed.yaml"
    lines = text.splitlines()
    top, _, inner = lines[line - 1].partition(": {")
    lines[line - 1] = f"{top}: {{{inner[:-1]}, {entry}}}"
    fixed.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    cfg = load_config(fixed)
    assert (cfg.pretrain.lr if entry == "lr: 1" else cfg.pretrain.augment.image_size) == (1 if entry == "lr: 1" else 64)
