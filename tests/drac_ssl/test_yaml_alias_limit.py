"""A config whose YAML aliases expand exponentially ("billion laughs", security review F6) is
refused at once, with its file and line; a config with a few aliases still reads."""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from drac_ssl import config
from drac_ssl.config import ConfigError, YamlLoader, load_config, read_yaml

PARSE_SECONDS = 10
"""How long a parse may run here: a refusal takes milliseconds; a regression that follows the
aliases (tens of millions of values) would otherwise freeze the suite for minutes (mutation
audit M46, M48)."""


def within_time(parse: Callable[..., Any], *args: Any) -> Any:
    """``parse(*args)`` in a daemon thread, its result or its exception; the test fails if it
    is still running after :data:`PARSE_SECONDS` (the thread is left to die with the process)."""
    done: dict[str, Any] = {}

    def target() -> None:
        try:
            done["value"] = parse(*args)
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            done["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(PARSE_SECONDS)
    if thread.is_alive():
        pytest.fail(f"{getattr(parse, '__name__', parse)} still running after {PARSE_SECONDS} s: "
                    "the aliases are being followed instead of refused")
    if "error" in done:
        raise done["error"]
    return done.get("value")


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
        within_time(load_config, str(path), [])
    levels = [1 + 9]  # l0: a list of 9 strings; each next level a list of 9 of the one before
    for _ in range(8):
        levels.append(1 + 9 * levels[-1])
    # the top mapping, its 10 keys, the 9 levels, and run: a mapping of name: *l8
    expanded = 1 + 10 + sum(levels) + 1 + 1 + levels[-1]
    said = str(caught.value)
    assert f"expand to {expanded:,} values" in said, said
    assert said.startswith(f"{path}:2: refused: its aliases (*name) expand to ") and "fix:" in said, said
    with pytest.raises(yaml.YAMLError, match="expand to"):  # a run folder's config.yaml read back
        within_time(read_yaml, LAUGHS)


def test_a_config_with_a_few_aliases_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text("pretrain:\n  epochs: &n 3\nfinetune:\n  epochs: *n\n", encoding="utf-8")
    cfg = load_config(str(path), [])
    assert (cfg.pretrain.epochs, cfg.finetune.epochs) == (3, 3)


def _aliases_of_a_99_item_list(n: int) -> str:
    """A mapping ``items: &a [99 values]`` and ``copies: [*a] * n``: 104 + 100 n values."""
    return (f"items: &a [{', '.join(str(i) for i in range(99))}]\n"
            f"copies: [{', '.join(['*a'] * n)}]\n")


def test_the_limit_is_ten_thousand_values_counted_with_every_alias_expanded() -> None:
    """Mutation audit M28, M29: a limit raised a thousandfold, or checked against another
    number than the one said, passed the tests above (a billion laughs is beyond either).
    Catches both: 90 copies of a 99-item list (9,104 values) read; 110 (11,104) are refused,
    the message naming the 10,000."""
    assert config.YAML_EXPANDED_NODES_LIMIT == 10_000
    read = within_time(read_yaml, _aliases_of_a_99_item_list(90))
    assert len(read["copies"]) == 90 and read["copies"][89] == list(range(99))
    with pytest.raises(yaml.YAMLError) as caught:
        within_time(read_yaml, _aliases_of_a_99_item_list(110))
    assert "expand to 11,104 values, more than the 10,000 a config may hold" in str(caught.value)
