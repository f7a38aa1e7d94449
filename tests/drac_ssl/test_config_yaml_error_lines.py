"""A YAML syntax error in a config file points at the line of the mistake (user trial F2).

The trial mistyped ``  epochs:30`` (no space after the colon) in a config printed by
``python -m drac_ssl.train --print-config fundus`` and was told the next line, which was
right: PyYAML's ``problem_mark`` is where it noticed the problem. The message now names the
mistake's line first (``FILE:52-53``, PyYAML's ``context_mark`` or the line above), quotes both
lines, and says the line as it should be written; still ``FILE:LINE: what`` and ``fix:``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl.config import ConfigError, config_file, load_config


def _printed_with(tmp_path: Path, right: str, wrong: str) -> tuple[Path, int]:
    """The fundus recipe as ``--print-config fundus`` prints it (the shipped file as it is), its
    first line ``right`` written ``wrong``; the file and that line's number (1-based)."""
    lines = config_file("fundus").read_text(encoding="utf-8").splitlines()
    number = lines.index(right) + 1
    lines[number - 1] = wrong
    path = tmp_path / "my.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, number


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


@pytest.mark.parametrize(("right", "wrong"), [
    ("  epochs: 30", "  epochs:30"),  # the trial's: PyYAML's context is the line, it notices the next
    ("  name: fundus", "  name:fundus"),  # no context: the next line is read on as the same text
    ("  compare_scratch: true", "  compare_scratch:true"),  # a section's last key, before `run:`
])
def test_a_key_without_the_space_after_its_colon_is_named_on_its_own_line(
        tmp_path: Path, right: str, wrong: str) -> None:
    path, number = _printed_with(tmp_path, right, wrong)
    lines = path.read_text(encoding="utf-8").splitlines()
    error = _error(path)
    head, _, fix = error.partition("\n  fix: ")
    assert head.startswith(f"{path}:{number}-{number + 1}: not valid YAML ("), error
    assert f"line {number} `{wrong}`, line {number + 1} `{lines[number]}`." in head, error
    assert fix == f"a mapping key needs a space after the colon: write line {number} as `{right}`.", error


def test_a_mistake_noticed_on_its_own_line_names_that_line_and_the_one_above(tmp_path: Path) -> None:
    path, number = _printed_with(tmp_path, "  epochs: 30", "  epochs: 30: 4")
    above = path.read_text(encoding="utf-8").splitlines()[number - 2]
    error = _error(path)
    assert error.startswith(f"{path}:{number}: not valid YAML (mapping values are not allowed here): "
                            f"line {number} `  epochs: 30: 4`.\n  fix: check indentation and 'key: value' "
                            f"syntax on that line and the one above (line {number - 1} `{above}`)"), error
