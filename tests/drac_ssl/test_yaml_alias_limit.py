"""A config whose YAML aliases expand exponentially ("billion laughs", security review F6) is
refused at once, with its file and line; a config with a few aliases still reads."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drac_ssl import config
from drac_ssl.config import ConfigError, YamlLoader, load_config, read_yaml

LEVELS = "\n".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9))
LAUGHS = f'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n{LEVELS}\nrun:\n  name: *l8\n'


def test_a_billion_laughs_config_is_refused_at_once_with_its_file_and_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused once composed, before anything follows the aliases: neither the walk for
    repeated keys nor the construction of Python objects (each following every alias) is
    reached, and the count said is the expansion's, computed without expanding it."""
    def expanded(*args: object) -> object:
        __tracebackhide__ = True  # its argument, the expanded document, is too large to show
        raise AssertionError("the aliases were followed before the refusal")

    monkeypatch.setattr(config, "_repeated_key", expanded)
    monkeypatch.setattr(YamlLoader, "construct_document", expanded)
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), [])
    levels = [1 + 9]  # l0: a list of 9 strings; each next level a list of 9 of the one before
    for _ in range(8):
        levels.append(1 + 9 * levels[-1])
    # the top mapping, its 10 keys, the 9 levels, and run: a mapping of name: *l8
    expanded = 1 + 10 + sum(levels) + 1 + 1 + levels[-1]
    said = str(caught.value)
    assert f"expand to {expanded:,} values" in said, said
    assert said.startswith(f"{path}:2: refused: its aliases (*name) expand to ") and "fix:" in said, said
    with pytest.raises(yaml.YAMLError, match="expand to"):  # a run folder's config.yaml read back
        read_yaml(LAUGHS)


def test_a_config_with_a_few_aliases_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text("pretrain:\n  epochs: &n 3\nfinetune:\n  epochs: *n\n", encoding="utf-8")
    cfg = load_config(str(path), [])
    assert (cfg.pretrain.epochs, cfg.finetune.epochs) == (3, 3)
