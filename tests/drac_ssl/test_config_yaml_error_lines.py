"""A YAML syntax error in a config file points at the line of the mistake (user trial F2).

The trial mistyped ``  epochs:30`` (no space after the colon) in a config printed by
``python -m drac_ssl.train --print-config fundus`` and was told the next line, which was
right: PyYAML's ``problem_mark`` is where it noticed the problem. The message now names the
mistake's line first (``FILE:52-53``, PyYAML's ``context_mark`` or the line above), quotes both
lines, and says the line as it should be written; still ``FILE:LINE: what`` and ``fix:``.

A review of that change: an indentation mistake's ``context_mark`` is where the enclosing
section starts (``data:`` on line 13 for `` epochs: 30`` on line 49), so ``FILE:13-49`` sent the
editor 36 lines up; a list item holding a colon (``    - http://x``) above a real mistake got the
fix ``write line 4 as `    - http: //x```; a mistake noticed at the end of the file quoted an
empty line; a tab got the generic indentation words. Each is now said as it is.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from drac_ssl.config import END_OF_FILE, ConfigError, config_file, load_config
from drac_ssl.preflight import read_config


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


@pytest.mark.parametrize(("right", "wrong", "indented", "levels"), [
    ("  epochs: 30", " epochs: 30", "1 space", "0 or 2"),  # finetune.epochs: context_mark is `data:`
    ("  patience: 5", " patience: 5", "1 space", "0 or 2"),
    ("  patience: 5", "    patience: 5", "4 spaces", "0 or 2"),  # two spaces too many
    ("    image_size: 224", "   image_size: 224", "3 spaces", "0, 2 or 4"),  # under pretrain.augment
    ("    image_size: 224", "     image_size: 224", "5 spaces", "0, 2 or 4"),
])
def test_a_key_indented_unlike_its_section_is_named_on_its_own_line_alone(
        tmp_path: Path, right: str, wrong: str, indented: str, levels: str) -> None:
    path, number = _printed_with(tmp_path, right, wrong)
    above = path.read_text(encoding="utf-8").splitlines()[number - 2]
    error = _error(path)
    head, _, fix = error.partition("\n  fix: ")
    assert head.startswith(f"{path}:{number}: not valid YAML (") and head.endswith(f"line {number} `{wrong}`."), error
    assert fix == (f"line {number} is indented {indented}, like none of the lines above it ({levels} spaces; "
                   f"line {number - 1} `{above}`): indent a key as far as the other keys of its section (YAML "
                   f"reads which section a key is in from its indentation)."), error


def test_a_list_item_among_a_sections_keys_is_named_on_its_own_line(tmp_path: Path) -> None:
    path, number = _printed_with(tmp_path, "  epochs: 30", "  - epochs: 30")
    error = _error(path)
    assert error.startswith(f"{path}:{number}: not valid YAML (expected <block end>, but found '-'): line "
                            f"{number} `  - epochs: 30`.\n  fix: line {number} is a list item (`- `) among the "
                            f"keys of a section: write it without the `- `"), error


@pytest.mark.parametrize("item", ["    - http://x", "    - C:\\data", "    - x:y"])
def test_a_list_item_holding_a_colon_is_not_taken_for_a_key_without_its_space(tmp_path: Path, item: str) -> None:
    """Valid list items above a real mistake: not rewritten as ``key: value``."""
    path = tmp_path / "my.yaml"
    path.write_text(f"data:\n  unlabelled:\n{item}\n  root: /x: y\n", encoding="utf-8")
    error = _error(path)
    assert error.startswith(f"{path}:4: not valid YAML (mapping values are not allowed here): line 4 "
                            f"`  root: /x: y`.\n  fix: check indentation and 'key: value' syntax on that line "
                            f"and the one above (line 3 `{item}`)"), error
    assert "write line" not in error, error


def test_a_key_without_its_space_is_only_a_settings_or_sections_name(tmp_path: Path) -> None:
    path = tmp_path / "my.yaml"
    path.write_text("data:\n  note:see\n  root: /x: y\n", encoding="utf-8")
    assert "write line" not in _error(path)  # `note` is no setting: not guessed to be one
    path.write_text("data:\n  root:/x\n  n_folds: 2\n", encoding="utf-8")
    assert _error(path).endswith("fix: a mapping key needs a space after the colon: write line 2 as `  root: /x`.")


@pytest.mark.parametrize("trailer", ["", "\n\n# the end\n"])
def test_a_mistake_noticed_at_the_end_of_the_file_says_so_and_quotes_no_empty_line(
        tmp_path: Path, trailer: str) -> None:
    path = tmp_path / "my.yaml"
    lines = config_file("fundus").read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines, "stages"]) + "\n" + trailer, encoding="utf-8")
    error = _error(path)
    number = len(lines) + 1
    assert error.startswith(f"{path}:{number}: not valid YAML (could not find expected ':', noticed at "
                            f"{END_OF_FILE}): line {number} `stages`.\n"), error
    assert "``" not in error, error
    # a value left open: PyYAML stops at the end of the file, said so
    path.write_text("\n".join([*lines[:-1], "  stages: [ingest, pretrain"]) + "\n" + trailer, encoding="utf-8")
    assert f"PyYAML stops at {END_OF_FILE}: expected ',' or ']'" in _error(path)


def test_a_tab_is_named_as_a_tab(tmp_path: Path) -> None:
    path, number = _printed_with(tmp_path, "  epochs: 30", "\tepochs: 30")
    error = _error(path)
    assert error.startswith(f"{path}:{number}: not valid YAML (found character '\\t' that cannot start any "
                            f"token): line {number} `\tepochs: 30`.\n  fix: YAML indents with spaces, not tabs: "
                            f"indent line {number} with spaces, as far as the other keys of its section (line "
                            f"{number - 1} `  image_size: 224`: 2 spaces)."), error
    path, number = _printed_with(tmp_path, "  epochs: 30", "  epochs:\t30")
    assert _error(path).endswith(f"fix: YAML indents with spaces, not tabs, and takes no tab outside quotes: "
                                 f"replace the tab on line {number} (column 10) with a space."), _error(path)


# A second review: a tab on a blank or comment line at the end of a file, a quote left open on a
# last line with no final newline, a byte-order mark, a NUL byte or form feed, `key:value` as a
# section's only key, and list items among keys, each said as it is.

def _error_of(tmp_path: Path, text: str, newline: str = "\n") -> str:
    path = tmp_path / "my.yaml"
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return _error(path).replace(f"{path}:", "FILE:")


@pytest.mark.parametrize("after", ["", "run:\n  name: x\n"])
def test_a_blank_line_holding_a_tab_is_named_and_the_tab_deleted_not_the_line_above_blamed(
        tmp_path: Path, after: str) -> None:
    error = _error_of(tmp_path, f"pretrain:\n  epochs: 3\n\t\n{after}")
    assert error == ("FILE:3: not valid YAML (found character '\\t' that cannot start any token): line 3 (blank "
                     "but for a tab).\n  fix: YAML indents with spaces, not tabs, and takes no tab on a blank "
                     "line: delete the tab on line 3 (it holds nothing else)."), error


@pytest.mark.parametrize("comment", ["\t# the end", "  \t# the end"])
def test_a_tab_before_a_comment_at_the_end_is_named_on_its_own_line(tmp_path: Path, comment: str) -> None:
    error = _error_of(tmp_path, f"pretrain:\n  epochs: 3\n{comment}\n")
    assert error.startswith(f"FILE:3: not valid YAML (found character '\\t' that cannot start any token): "
                            f"line 3 `{comment}`.\n  fix: YAML takes no tab before a comment: delete the tab on "
                            f"line 3"), error
    assert END_OF_FILE not in error, error


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_quote_left_open_on_the_last_line_without_a_final_newline_is_said_so(
        tmp_path: Path, newline: str, quote: str) -> None:
    error = _error_of(tmp_path, f"run:\n  name: {quote}abc", newline)
    assert error == (f"FILE:2: not valid YAML (the quoted value that starts on this line is not closed; PyYAML "
                     f"stops at {END_OF_FILE}: found unexpected end of stream).\n  fix: close it on line 2: the "
                     f"same quote mark at the end of the value."), error


def test_a_byte_order_mark_is_no_part_of_line_1(tmp_path: Path) -> None:
    error = _error_of(tmp_path, "\ufeffpretrain:3\nrun:")
    assert error.startswith("FILE:1-2: not valid YAML (") and "\ufeff" not in error, error
    assert error.endswith("fix: a mapping key needs a space after the colon: write line 1 as `pretrain: 3`."), error
    path = tmp_path / "ok.yaml"
    path.write_text("\ufeffpretrain:\n  epochs: 3\n", encoding="utf-8")
    assert load_config(path).pretrain.epochs == 3
    path.write_text("\ufeffpretrain:\n  epochs: many\n", encoding="utf-8")
    assert _error(path).startswith(f"{path}:2: 'pretrain.epochs' must be an integer"), _error(path)


@pytest.mark.parametrize(("text", "number", "column", "named", "shown", "caret"), [
    ("pretrain:\n  epochs: 3\x00\n", 2, 12, "a NUL byte, U+0000", "  epochs: 3\\x00", "^@"),
    ("pretrain:\n  epochs: 3\n\x0c\nrun:\n  name: x\n", 3, 1, "a form feed, U+000C", "\\x0c", "^L"),
])
def test_a_character_yaml_never_takes_is_named_by_line_not_a_traceback(
        tmp_path: Path, text: str, number: int, column: int, named: str, shown: str, caret: str) -> None:
    """PyYAML's ReaderError came from outside the try: python -m drac_ssl.train printed a traceback."""
    error = _error_of(tmp_path, text)
    assert error == (f"FILE:{number}: not valid YAML ({named}, at column {column} is not a text character): "
                     f"line {number} `{shown}`.\n  fix: delete that character (an editor may show it as a box, "
                     f"as {caret}, or not at all: retyping line {number} removes it)."), error


@pytest.mark.parametrize(("text", "fix"), [
    ("pretrain:\n  epochs:3\n", "(YAML read 'epochs:3' as one text, not a key and its value): write `epochs:3` "
                                "as `epochs: 3`, indented under `pretrain:`."),
    ("run:\n  name: x\npretrain:\n  epochs:3\n  batch_size:4\n",
     "(YAML read 'epochs:3 batch_size:4' as one text, not keys and their values): write `epochs:3` as "
     "`epochs: 3` and `batch_size:4` as `batch_size: 4`, indented under `pretrain:`."),
])
def test_a_sections_only_keys_without_their_space_get_the_space_as_their_fix(
        tmp_path: Path, text: str, fix: str) -> None:
    """Valid YAML (the section holds a text), so no YAML error said it: the section's error does."""
    error = _error_of(tmp_path, text)
    line = text.splitlines().index("pretrain:") + 1
    assert error.startswith(f"FILE:{line}: 'pretrain' must be a mapping of settings, got '"), error
    assert error.endswith(f"\n  fix: a mapping key needs a space after the colon {fix}"), error
    with pytest.raises(ConfigError, match=r"fix: give its settings one by one: pretrain.epochs=3$"):
        load_config(None, ["pretrain=epochs:3"])
    assert "e.g.\n  pretrain:" in _error_of(tmp_path, "pretrain:\n  note:3\n")  # `note` is no setting


@pytest.mark.parametrize("after", ["", "run:\n  name: x\n"])
def test_a_list_item_right_after_a_sections_first_key_is_named_as_a_list_item(tmp_path: Path, after: str) -> None:
    error = _error_of(tmp_path, f"pretrain:\n  epochs: 3\n  - batch_size: 4\n{after}")
    assert error == ("FILE:3: not valid YAML (expected <block end>, but found '-'): line 3 `  - batch_size: 4`.\n"
                     "  fix: line 3 is a list item (`- `) among the keys of a section: write it without the `- `, "
                     "or as an item under a key of its own (`key:`, the items indented below it)."), error


@pytest.mark.parametrize(("text", "fix"), [
    ("pretrain:\n  epochs: 3\n   - batch_size: 4\n",
     "line 3 is a list item (`- `) indented 3 spaces, like none of the lines above it (0 or 2 spaces; line 2 "
     "`  epochs: 3`): among a section's keys write it without the `- `, indented as far as the other keys; in a "
     "list, as an item under a key of its own (`key:`, the items indented below it)."),
    ("data:\n  grades:\n    - a\n     - b: c\n",
     "line 4 is a list item indented 5 spaces, like none of the lines above it (0, 2 or 4 spaces; line 3 "
     "`    - a`): indent it as far as the items above it (4 spaces)."),
])
def test_a_wrongly_indented_list_item_is_not_told_to_indent_a_key(tmp_path: Path, text: str, fix: str) -> None:
    error = _error_of(tmp_path, text)
    assert error.endswith(f"\n  fix: {fix}") and "indent a key" not in error, error


def test_a_list_item_indented_less_than_the_items_above_is_told_their_indentation(tmp_path: Path) -> None:
    """A review: `  - pretrain` below `    - ingest` (its indentation that of the section's keys) was
    told to drop the `- `, which only made a new error; it is to line up with the items above."""
    error = _error_of(tmp_path, "run:\n  stages:\n    - ingest\n  - pretrain\n")
    assert error == ("FILE:4: not valid YAML (expected <block end>, but found '-'): line 4 `  - pretrain`.\n"
                     "  fix: line 4 is a list item indented 2 spaces, less than the items above it (line 3 "
                     "`    - ingest`): indent it as far as the items above (4 spaces)."), error


@pytest.mark.parametrize(("text", "fix"), [
    ("pretrain:\n\t# c\n  epochs: 3\n",
     "YAML takes no tab before a comment: delete the tab on line 2 (a comment may be indented with spaces, "
     "any number)."),
    ("pretrain:\n  \t# c\n  epochs: 3\n",
     "YAML takes no tab before a comment: delete the tab on line 2 (a comment may be indented with spaces, "
     "any number)."),
    ("pretrain:\n  epochs: 3\t\n", "YAML takes no tab outside quotes: delete the tab at the end of line 2."),
    ("pretrain:\n  epochs: 3\t\nrun:\n  name: x\n",
     "YAML takes no tab outside quotes: delete the tab at the end of line 2."),
])
def test_a_tab_before_a_comment_or_at_a_lines_end_is_to_be_deleted(tmp_path: Path, text: str, fix: str) -> None:
    """A review: a tab before a comment was told to indent the comment "as far as the other keys of
    its section (line 1 `pretrain:`: 0 spaces)"; a tab at a line's end, to become a space."""
    error = _error_of(tmp_path, text)
    assert error.startswith("FILE:2: not valid YAML (") and error.endswith(f"\n  fix: {fix}"), error


@pytest.mark.parametrize(("text", "number", "column", "named", "shown", "fix"), [
    ("pretrain:\n\u00a0 epochs: 3\n", 2, 1, "a non-breaking space (U+00A0)", "\\u00a0 epochs: 3",
     "retype it as a plain space (an editor shows the two alike)"),
    ("pretrain:\n  epochs:\u00a03\n", 2, 10, "a non-breaking space (U+00A0)", "  epochs:\\u00a03",
     "retype it as a plain space (an editor shows the two alike)"),
    ("run:\n  name: x\npretrain:\n  epochs:\u200b3\n", 4, 10, "a zero-width space (U+200B)", "  epochs:\\u200b3",
     "replace it by a plain space (it is invisible)"),
    ("pretrain:\n\u200b  epochs: 3\n", 2, 1, "a zero-width space (U+200B)", "\\u200b  epochs: 3",
     "delete it (it is invisible; the spaces around it indent the line)"),
])
def test_a_space_look_alike_in_indentation_or_after_a_colon_is_named_with_its_column(
        tmp_path: Path, text: str, number: int, column: int, named: str, shown: str, fix: str) -> None:
    """A review: a non-breaking space before a key made the section empty ("'pretrain' must be a
    mapping of settings, got None") and one after a colon made a text of key and value."""
    error = _error_of(tmp_path, text)
    assert error == (f"FILE:{number}: {named} at column {column}: YAML reads it as text, not as a space: "
                     f"line {number} `{shown}`.\n  fix: {fix}."), error


@pytest.mark.parametrize(("indentation", "column", "held", "fix"), [
    ("  \u3000", 3, "1 ideographic space (U+3000)",
     "replace it by two plain spaces (an editor shows it two columns wide)"),
    ("\u3000\u3000", 1, "2 ideographic spaces (U+3000)",
     "replace each by two plain spaces (an editor shows each two columns wide)"),
    ("\u3000\u00a0\u00a0", 1, "1 ideographic space (U+3000) and 2 non-breaking spaces (U+00A0)",
     "replace each ideographic space by two plain spaces (an editor shows it two columns wide) and each other "
     "one by one plain space"),
    ("\u00a0\u00a0\u00a0\u00a0", 1, "4 non-breaking spaces (U+00A0)",
     "retype each as a plain space (an editor shows the two alike)"),
])
def test_the_look_alikes_in_a_lines_indentation_are_counted_and_an_ideographic_space_is_two_spaces(
        tmp_path: Path, indentation: str, column: int, held: str, fix: str) -> None:
    """A review: U+3000 in the indentation was to be retyped as "a plain space (an editor shows the
    two alike)", but an editor shows it two columns wide, so one space for each changes the
    nesting; how many the indentation holds was not said."""
    text = f"pretrain:\n  augment:\n{indentation}image_size: 4\n"
    error = _error_of(tmp_path, text)
    named = _LOOKALIKES[indentation[column - 1]]
    shown = indentation.replace("\u3000", "\\u3000").replace("\u00a0", "\\u00a0") + "image_size: 4"
    assert error == (f"FILE:3: {named} at column {column}: YAML reads it as text, not as a space: line 3 `{shown}`, "
                     f"whose indentation holds {held}.\n  fix: {fix}."), error
    path = tmp_path / "fixed.yaml"  # the fix followed: the setting is back in its section
    path.write_text(text.replace("\u3000", "  ").replace("\u00a0", " "), encoding="utf-8")
    assert load_config(path).pretrain.augment.image_size == 4


_LOOKALIKES = {"\u3000": "an ideographic space (U+3000)", "\u00a0": "a non-breaking space (U+00A0)"}


_UNICODE_SPACES = [chr(code) for code in range(0x80, 0x3001) if unicodedata.category(chr(code)) == "Zs"]
"""Unicode's spaces but the plain one (U+00A0, U+1680, U+2000-U+200A, U+202F, U+205F, U+3000)."""


@pytest.mark.parametrize("char", [*_UNICODE_SPACES, "\u200b", "\u2060", "\ufeff"], ids=lambda char: f"U+{ord(char):04X}")
@pytest.mark.parametrize(("text", "column", "shown"), [
    ("pretrain:\n{char} epochs: 3\n", 1, "{escaped} epochs: 3"),  # the review's, with U+2007
    ("pretrain:\n  epochs:{char}3\n", 10, "  epochs:{escaped}3"),
], ids=["indentation", "after a colon"])
def test_every_unicode_space_is_named_as_a_look_alike(
        tmp_path: Path, char: str, text: str, column: int, shown: str) -> None:
    """A review: a figure space (U+2007) before a key gave "'pretrain' must be a mapping of
    settings, got None" with no line of its own; U+2000-U+200A, U+205F and U+1680 were missed."""
    error = _error_of(tmp_path, text.format(char=char))
    head = error.partition(f" at column {column}: YAML reads it as text, not as a space: ")[0]
    assert head.startswith("FILE:2: a") and head.endswith(f" (U+{ord(char):04X})"), error
    escaped = f"\\u{ord(char):04x}"
    assert f"line 2 `{shown.format(escaped=escaped)}`" in error, error  # U+3000's count follows in the indentation


@pytest.mark.parametrize(("text", "number", "column", "named", "shown", "fix"), [
    ("\ufeffpretrain:\n  epochs: 3\n\ufeffrun:\n  name: x\n", 3, 1, "a byte-order mark (U+FEFF)", "\\ufeffrun:",
     "delete it (it is invisible)"),  # the review's: `cat a.yaml b.yaml`, each saved with one
    ("run:\n  \u2060name: x\n", 2, 3, "a word joiner (U+2060)", "  \\u2060name: x",
     "delete it (it is invisible; the spaces around it indent the line)"),  # at a key's start
    ("pretrain:\n  epochs:\u20603\n", 2, 10, "a word joiner (U+2060)", "  epochs:\\u20603",
     "replace it by a plain space (it is invisible)"),  # where YAML needs a space
    ("pretrain: {\ufeffepochs: 3}\n", 1, 12, "a byte-order mark (U+FEFF)", "pretrain: {\\ufeffepochs: 3}",
     "delete it (it is invisible)"),  # where YAML needs none
])
def test_an_invisible_character_is_named_with_its_column_and_deleted(
        tmp_path: Path, text: str, number: int, column: int, named: str, shown: str, fix: str) -> None:
    """A review: a byte-order mark past the file's start (two files joined) and a word joiner
    are invisible, and gave "unknown setting 'run.name'. Did you mean 'run.name'?"."""
    error = _error_of(tmp_path, text)
    assert error == (f"FILE:{number}: {named} at column {column}: YAML reads it as text, not as a space: "
                     f"line {number} `{shown}`.\n  fix: {fix}."), error


def test_an_invisible_character_in_a_value_or_comment_is_the_text_it_is_and_escaped_in_a_key(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("run:\n  name: a\u2060b  # \ufeffnote\ndata:\n  grades: ['\ufeffx', y\u2060z]\n", encoding="utf-8")
    config = load_config(path)
    assert (config.run.name, list(config.data.grades)) == ("a\u2060b", ["\ufeffx", "y\u2060z"])
    error = _error_of(tmp_path, "run:\n  na\ufeffme: x\n")
    assert error.startswith("FILE:2: unknown setting 'run.na\\ufeffme'. Did you mean 'run.name'?"), error
    assert "\ufeff" not in error, error


def test_a_figure_space_is_named_by_its_name(tmp_path: Path) -> None:
    error = _error_of(tmp_path, "pretrain:\n\u2007 epochs: 3\n")
    assert error == ("FILE:2: a figure space (U+2007) at column 1: YAML reads it as text, not as a space: line 2 "
                     "`\\u2007 epochs: 3`.\n  fix: retype it as a plain space (an editor shows the two alike)."), error


@pytest.mark.parametrize(("text", "number", "column", "shown", "quoted"), [
    ("pretrain: {epochs:\u00a03, lr: 0.01}\n", 1, 19, "pretrain: {epochs:\\u00a03, lr: 0.01}", False),  # the review's
    ("data:\n  grades:\n    -\u00a0No DR\n    - Mild\n", 3, 6, "    -\\u00a0No DR", False),  # the review's: one grade
    ("data:\n  grades: [No DR, Mild,\u00a0Moderate]\n", 2, 24, "  grades: [No DR, Mild,\\u00a0Moderate]", True),
    ("data:\n  grades:\n    - \u00a0No DR\n", 3, 7, "    - \\u00a0No DR", False),  # after the dash's space
    ("pretrain: {\u00a0epochs: 3}\n", 1, 12, "pretrain: {\\u00a0epochs: 3}", False),  # right after `{`: a key
    ("pretrain: {epochs: \u00a03}\n", 1, 20, "pretrain: {epochs: \\u00a03}", True),  # after a key's `: `
    ("data:\n  grades: [No DR,\u200bMild]\n", 2, 18, "  grades: [No DR,\\u200bMild]", True),  # invisible: deleted
    ('data:\n  grades: ["No\n    DR",\u00a0Mild]\n', 3, 9, '    DR",\\u00a0Mild]', True),  # after a quote's 2nd line
    ("data:\n  grades: [name:\u00a0a, name:\u00a0b]\n", 2, 17, "  grades: [name:\\u00a0a, name:\\u00a0b]", True),
    ("data:\n  grades:\n    - name:\u00a0a\n", 3, 12, "    - name:\\u00a0a", True),  # a grade name, or a key's?
])
def test_a_space_look_alike_in_flow_style_or_after_a_list_dash_is_named_with_its_column(
        tmp_path: Path, text: str, number: int, column: int, shown: str, quoted: bool) -> None:
    """A review: ``{epochs:`` + U+00A0 + ``3}`` said "unknown setting 'pretrain.epochs: 3'" (the
    look-alike printed raw), ``-`` + U+00A0 + ``No DR`` made the items below it one grade with no
    line named, and ``[No DR, Mild,`` + U+00A0 + ``Moderate]`` was accepted with the grade name
    '\\xa0Moderate'. A later review: in a list item or a value inside brackets (``[name:`` + U+00A0
    + ``a]``, valid YAML, a grade name) the character may be meant, and retyped as a space the
    grade would be a mapping: the fix says to quote the value then."""
    error = _error_of(tmp_path, text)
    named = "a zero-width space (U+200B)" if "\u200b" in text else "a non-breaking space (U+00A0)"
    fix = ("delete it (it is invisible)" if "\u200b" in text else
           "retype it as a plain space (an editor shows the two alike)")
    fix += ", or quote the value if the character is meant" * quoted
    assert error == (f"FILE:{number}: {named} at column {column}: YAML reads it as text, not as a space: "
                     f"line {number} `{shown}`.\n  fix: {fix}."), error


def test_a_list_items_look_alike_that_is_meant_is_kept_once_quoted(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text('data:\n  grades: ["name:\u00a0a", "name:\u00a0b"]\n', encoding="utf-8")
    assert list(load_config(path).data.grades) == ["name:\u00a0a", "name:\u00a0b"]


def test_a_space_look_alike_in_flow_style_that_is_text_is_left_alone(tmp_path: Path) -> None:
    """Quoted, in a comment, or after a grade name's colon (no config key), a look-alike in
    ``[...]`` is the text it is."""
    path = tmp_path / "ok.yaml"
    path.write_text('data:\n  grades: [No:\u00a0DR, "\u00a0x", b]  # \u00a0c\n', encoding="utf-8")
    assert list(load_config(path).data.grades) == ["No:\u00a0DR", "\u00a0x", "b"]


@pytest.mark.parametrize(("text", "number", "column", "named", "shown", "fix"), [
    ("data:\n  grades:\n    - 正常\u3000# 无病变\n    - 病变\n", 3, 9, "an ideographic space (U+3000)",
     "    - 正常\\u3000# 无病变", "replace it by a plain space"),  # the review's: the grade '正常\u3000# 无病变'
    ("data:\n  root: /data/x\u3000# 数据目录\n", 2, 16, "an ideographic space (U+3000)",
     "  root: /data/x\\u3000# 数据目录", "replace it by a plain space"),  # the review's: the comment in the root
    ("run:\n  name: run1\u00a0\u00a0# first try\n", 2, 13, "a non-breaking space (U+00A0)",
     "  name: run1\\u00a0\\u00a0# first try", "replace it by a plain space"),  # a run of them: the first
    ("run:\n  name: run1\u200b# first try\n", 2, 13, "a zero-width space (U+200B)",
     "  name: run1\\u200b# first try", "replace it by a plain space (it is invisible)"),
    ("data:\n  grades: [a, b\u00a0# c]\n", 2, 16, "a non-breaking space (U+00A0)",
     "  grades: [a, b\\u00a0# c]", "replace it by a plain space"),  # inside brackets too
])
def test_a_look_alike_before_a_hash_in_a_plain_value_is_named_not_read_into_the_value(
        tmp_path: Path, text: str, number: int, column: int, named: str, shown: str, fix: str) -> None:
    """A review: a look-alike (U+3000, as a Chinese or Japanese keyboard types it, or U+00A0) right
    before ``#`` is text for YAML, so the ``#`` starts no comment and the comment was read into the
    value, silently (the grades ['正常\u3000# 无病变', '病变'])."""
    error = _error_of(tmp_path, text)
    assert error == (f"FILE:{number}: {named} at column {column}: YAML reads it as text, so the `#` after it does "
                     f"not start a comment: line {number} `{shown}`.\n  fix: {fix}, or quote the value if the "
                     "`#` is meant."), error


def test_a_look_alike_before_a_hash_in_quotes_or_a_comment_or_block_text_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("run:\n  name: 'a\u3000#b'  # c\u3000# d\ndata:\n  grades: [\"x\u00a0#1\", y]\n"
                    "  root: |-\n    /d\u3000#e\n", encoding="utf-8")
    config = load_config(path)
    assert (config.run.name, list(config.data.grades), str(config.data.root)) == (
        "a\u3000#b", ["x\u00a0#1", "y"], "/d\u3000#e")


@pytest.mark.parametrize(("text", "number", "column", "shown", "seen"), [
    ("run:\n  name: run1\u00a0\n", 2, 13, "  name: run1\\u00a0", "a space"),  # the review's: folder 'run1\xa0'
    ("data:\n  grades:\n    - Normal\u00a0\n    - NPDR\n", 3, 13, "    - Normal\\u00a0", "a space"),  # the review's
    ("run:\n  name: run1\u00a0\u00a0  # first try\n", 2, 13, "  name: run1\\u00a0\\u00a0  # first try", "a space"),
    ("data:\n  grades: [Normal\u00a0, NPDR]\n", 2, 18, "  grades: [Normal\\u00a0, NPDR]", "a space"),
    ("run:\n  name: run1\u200b\n", 2, 13, "  name: run1\\u200b", "nothing"),
])
def test_a_look_alike_at_a_plain_values_end_is_named_not_kept_in_it(
        tmp_path: Path, text: str, number: int, column: int, shown: str, seen: str) -> None:
    """A review: ``name: run1`` + U+00A0 gave the run folder 'run1\xa0' and ``- Normal`` + U+00A0
    the grade 'Normal\xa0', silently."""
    error = _error_of(tmp_path, text)
    named = "a zero-width space (U+200B)" if "\u200b" in text else "a non-breaking space (U+00A0)"
    assert error == (f"FILE:{number}: {named} at column {column}: YAML reads it as text, the value's last "
                     f"character, though an editor shows {seen}: line {number} `{shown}`.\n  fix: delete it, or "
                     "quote the value if it is meant."), error


@pytest.mark.parametrize("after", ["", " # c", "  "])
def test_a_look_alike_after_a_closed_bracket_is_named(tmp_path: Path, after: str) -> None:
    """A review: ``grades: [a, b]`` + U+00A0 gave a YAML error that named no look-alike."""
    error = _error_of(tmp_path, f"data:\n  grades: [a, b]\u00a0{after}\n")
    assert error == ("FILE:2: a non-breaking space (U+00A0) at column 17: YAML reads it as text after the closed "
                     f"`]`, though an editor shows a space: line 2 `  grades: [a, b]\\u00a0{after.rstrip()}`.\n"
                     "  fix: delete it."), error


def test_a_look_alike_inside_a_plain_value_or_quoted_at_its_end_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("run:\n  name: 'run1\u00a0'\ndata:\n  grades: [No\u00a0DR, \"b\u00a0\"]  # c\u00a0\n",
                    encoding="utf-8")
    config = load_config(path)
    assert (config.run.name, list(config.data.grades)) == ("run1\u00a0", ["No\u00a0DR", "b\u00a0"])


@pytest.mark.parametrize(("text", "number", "column", "shown"), [
    ("pretrain:\n  epoch:\u00a03\n", 2, 9, "  epoch:\\u00a03"),  # the review's: said ":1: 'pretrain' must be a mapping"
    ("run:\n  name: x\npretrain:\n  augment:\n    recip:\u00a0x\n", 5, 11, "    recip:\\u00a0x"),  # a nested section
    ("pretrain:\n\n  # the one change\n  epoch:\u00a03\n", 4, 9, "  epoch:\\u00a03"),
])
def test_a_look_alike_after_a_colon_in_a_sections_only_key_is_named_on_its_line(
        tmp_path: Path, text: str, number: int, column: int, shown: str) -> None:
    """A review: ``pretrain:`` then ``  epoch:`` + U+00A0 + ``3`` (a misspelt key, the section's only
    one) is the text 'epoch:\xa03' for YAML, and the message named line 1 and no look-alike."""
    error = _error_of(tmp_path, text)
    assert error == (f"FILE:{number}: a non-breaking space (U+00A0) at column {column}: YAML reads it as text, not as a "
                     f"space: line {number} `{shown}`.\n  fix: retype it as a plain space (an editor shows the two "
                     "alike)."), error


def test_a_line_break_only_yaml_sees_before_a_look_alike_on_its_line_is_named_first(tmp_path: Path) -> None:
    error = _error_of(tmp_path, "data:\n  grades: [a,\u2028\u00a0b]\n")
    assert error.startswith("FILE:2: a line separator (U+2028) at column 14 ends a line for YAML"), error


@pytest.mark.parametrize(("text", "start", "fix"), [
    ("pretrain:\n  epo\u00a0chs: 3\n", "FILE:2: unknown setting 'pretrain.epo\\u00a0chs'.",
     "fix: write it as\n    pretrain:\n      epochs: 3"),
    ("pretrain: {ep\u00a0och: 3}\n", "FILE:1: unknown setting 'pretrain.ep\\u00a0och'.",
     "fix: write it as\n    pretrain:\n      epochs: 3"),  # in flow style
])
def test_an_unknown_setting_shows_a_space_look_alike_as_an_escape(
        tmp_path: Path, text: str, start: str, fix: str) -> None:
    """A review: an unknown setting holding a look-alike printed it raw, which reads as a space."""
    error = _error_of(tmp_path, text)
    assert error.startswith(start) and error.endswith(fix) and "\u00a0" not in error, error


def test_an_unknown_settings_file_path_is_shown_as_it_is_with_its_line(tmp_path: Path) -> None:
    """A review: the unknown-setting message escaped its whole text, the file's path too, so
    load_config no longer found the path to add the key's line, and a path holding U+202F (macOS
    writes one in file names before AM/PM) was printed escaped, no longer the file's name. The
    preflight's finding (its ``where`` the key's ``FILE:LINE``) shows it as it is too."""
    folder = tmp_path / "Screenshot 9.41.07\u202fAM"
    folder.mkdir()
    path = folder / "my.yaml"
    path.write_text("pretrain:\n  epochs: 3\n  epoch: 4\n", encoding="utf-8")
    error = _error(path)
    assert error.startswith(f"{path}:3: unknown setting 'pretrain.epoch'. "), error
    _, _, findings = read_config(path)
    assert [f.what.split(": unknown setting")[0] for f in findings] == [f"{path}:3"], findings


def test_an_unknown_setting_typed_shows_a_space_look_alike_as_an_escape() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["pretrain.epo\u00a0chs=3"])
    error = str(info.value)
    assert error.startswith("command line 'pretrain.epo\\u00a0chs=3': unknown setting 'pretrain.epo\\u00a0chs'. "
                            "Did you mean 'pretrain.epochs'?") and "\u00a0" not in error, error


def test_a_space_look_alike_inside_a_value_or_comment_is_the_text_it_is(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("run:\n  name: \"a\u00a0b\"  # a\u00a0note\npretrain:\n  epochs: 3\n", encoding="utf-8")
    config = load_config(path)
    assert (config.run.name, config.pretrain.epochs) == ("a\u00a0b", 3)


def test_a_space_look_alike_after_a_grade_names_colon_is_the_grade_name(tmp_path: Path) -> None:
    """A review: ``- No:`` + U+00A0 + ``DR`` in data.grades is valid YAML, the string
    'No:\\xa0DR'; only a config key's colon followed by a look-alike is refused."""
    path = tmp_path / "ok.yaml"
    path.write_text("data:\n  grades:\n    - No:\u00a0DR\n    - DR\n", encoding="utf-8")
    assert list(load_config(path).data.grades) == ["No:\u00a0DR", "DR"]


def test_a_grade_name_with_a_colon_and_a_space_is_told_to_be_quoted(tmp_path: Path) -> None:
    """A review: ``- DR: yes`` in data.grades (read by YAML as the mapping {'DR': 'yes'}) was
    told "fix: data.grades=<a value>, or leave it out for the default (empty)"; it is told to
    quote the name, and the quoted name loads."""
    path = tmp_path / "grades.yaml"
    path.write_text("data:\n  grades:\n    - No DR\n    - DR: yes\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "'data.grades' holds DR: yes, read as a key and its value" in str(caught.value)
    assert 'fix: quote the name in the file (- "DR: yes")' in str(caught.value)
    path.write_text('data:\n  grades:\n    - No DR\n    - "DR: yes"\n', encoding="utf-8")
    assert list(load_config(path).data.grades) == ["No DR", "DR: yes"]


@pytest.mark.parametrize(("text", "quoted"), [
    ("pretrain:\n  epochs: 3\n  lr: a\u00a0b: c\n", "line 3 `  lr: a\\u00a0b: c`."),
    ("pretrain:\n  epochs: 3\n\tlr: 1  # \u2060x\u00a0\n", "line 3 `\tlr: 1  # \\u2060x\\u00a0`."),  # at its end too
])
def test_a_yaml_mistakes_quoted_line_shows_a_look_alike_as_an_escape(tmp_path: Path, text: str, quoted: str) -> None:
    """A review: a YAML error quoting a line that holds a look-alike printed it raw, so the line
    quoted looked right."""
    error = _error_of(tmp_path, text)
    assert quoted in error and "\u00a0" not in error and "\u2060" not in error, error


_LONG = "x" * 100


@pytest.mark.parametrize(("text", "shown"), [
    (f"run:\n  name:\u00a0{_LONG}\n", f"  name:\\u00a0{_LONG}"),  # a look-alike's line, escaped
    (f"pretrain:\n  epochs: 3  # {_LONG}\n\tbatch_size: 4\n", f"  epochs: 3  # {_LONG}"),  # above a tab
    (f"run:\n  name: {_LONG}\x0c\n", f"  name: {_LONG}\\x0c"),  # a form feed's line, escaped
])
def test_every_message_cuts_a_long_line_alike_with_dots(tmp_path: Path, text: str, shown: str) -> None:
    """A review: the look-alike and tab messages cut a quoted line at 80 characters without the
    ``...`` the other messages put there, so a cut line read as the whole one."""
    error = _error_of(tmp_path, text)
    assert f"line 2 `{shown[:77]}...`" in error, error


_QUOTED_BREAK = 'run:\n  name: "a{char}b"\n'
"""Two lines an editor shows, whose quoted value holds a character that PyYAML and
``str.splitlines`` take for a line's end (U+2028 by default)."""


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("char", ["\u2028", "\x85", "\u2029"])
def test_a_line_break_only_yaml_sees_inside_a_quoted_value_is_refused_by_the_editors_line(
        tmp_path: Path, char: str, newline: str) -> None:
    """A review: PyYAML (YAML 1.1) and ``str.splitlines`` end a line at U+0085, U+2028 and
    U+2029, editors do not: the mistake on line 4 of the editor was reported on line 5. A later
    review: inside a quoted value PyYAML folds U+0085 into a space and drops the spaces around
    U+2028 and U+2029, so none is kept as written: refused there too, on the editor's line 2,
    before the mistake below it, the character shown as an escape. A third review: said to start a
    new line for YAML "(after a `#`, a setting written there would be set)", which inside quotes
    it does not: what YAML makes of it there is said instead."""
    text = _QUOTED_BREAK.format(char=char) + "pretrain:\n  epochs:30\n  batch_size: 4\n"
    error = _error_of(tmp_path, text, newline)
    read = ("inside quotes YAML reads it as a space." if char == "\x85" else
            "inside quotes YAML keeps it but drops the spaces around it.")
    assert error == (f"FILE:2: {_BREAK_NAMES[char]} at column 11 ends a line for YAML, though an editor "
                     f"shows none: line 2 `  name: \"a\\u{ord(char):04x}b\"`; {read}\n  fix: delete it, or "
                     f"replace it by a plain space."), error


def test_a_yaml_mistake_above_a_line_break_only_yaml_sees_is_noticed_on_the_editors_line(tmp_path: Path) -> None:
    """PyYAML's mark past a U+2028 (the ``[`` above it left open, named first) is said on the
    line an editor shows: 3, not PyYAML's 4."""
    error = _error_of(tmp_path, "pretrain:\n  epochs: [3,\n  4 # was\u2028 5]\n  lr: 5\n")
    assert error.startswith("FILE:2: not valid YAML (the '[' list that starts on this line is not closed; "
                            "PyYAML stops on line 3: expected ',' or ']', but got '<scalar>')."), error


@pytest.mark.parametrize(("body", "start"), [
    ("pretrain:\n  epochs: 3\n  epochs: 4\n",
     "FILE:5: 'pretrain.epochs' is written twice in the same section, on lines 4 and 5;"),
    ("pretrain:\n  epochs: many\n", "FILE:4: 'pretrain.epochs' must be an integer"),  # the key's line
    ("pretrain:\n  epochs: 3\x00\n", "FILE:4: not valid YAML (a NUL byte, U+0000, at column 12 "),
    ('pretrain:\n  epochs: "3\n', "FILE:4: not valid YAML (the quoted value that starts on this line"),
    ("pretrain:\n\tepochs: 3\n", "FILE:4: not valid YAML (found character '\\t' that cannot start any token): "
                                 "line 4 `\tepochs: 3`."),
    ("pretrain:\n epochs: 3\n  batch_size: 4\n", "FILE:5: not valid YAML (mapping values are not allowed "
                                                 "here): line 5 `  batch_size: 4`."),
])
@pytest.mark.parametrize("newline", ["\n", "\r"])
def test_every_config_message_counts_lines_as_an_editor_does(
        tmp_path: Path, body: str, start: str, newline: str) -> None:
    """The repeated key's lines, a setting's line, a character YAML takes nowhere, a quote left
    open, a tab and an indentation, each below a quoted value, the lines ended by ``\\n`` or
    (an old Mac's) ``\\r``; the same below a quoted value holding U+2028 is refused on line 2
    (the first mistake; PyYAML would not keep the value as written)."""
    assert _error_of(tmp_path, _QUOTED_BREAK.format(char=" ") + body, newline).startswith(start)
    error = _error_of(tmp_path, _QUOTED_BREAK.format(char="\u2028") + body, newline)
    assert error.startswith("FILE:2: a line separator (U+2028) at column 11 ends a line for YAML"), error


def test_a_quoted_line_shows_a_line_break_yaml_sees_as_an_escape(tmp_path: Path) -> None:
    error = _error_of(tmp_path, 'run:\n  name: "a\u2028b" x: y\n')
    assert error.startswith('FILE:2: a line separator (U+2028) at column 11 ends a line for YAML, though an '
                            'editor shows none: line 2 `  name: "a\\u2028b" x: y`; '), error


@pytest.mark.parametrize(("text", "setting", "value"), [
    ("data:\n  labels_csv: >-\n    \u00a0labels.csv\n", "labels_csv", "\u00a0labels.csv"),
    ("data:\n  image_column: |-\n    \u3000name\n    \u00a0 epochs:\u00a03\npretrain:\n  epochs: 3\n",
     "image_column", "\u3000name\n\u00a0 epochs:\u00a03"),  # a key's colon and a look-alike, as text
    ("data:\n  grades:\n    - >-\n      \u00a0No DR\n    - DR\n", "grades", ["\u00a0No DR", "DR"]),  # `- >-`
    ('data:\n  labels_csv: "a\n    \u00a0b"\n', "labels_csv", "a \u00a0b"),  # a quoted value's next line
])
def test_a_space_look_alike_in_a_block_scalars_text_is_the_text_it_is(
        tmp_path: Path, text: str, setting: str, value: object) -> None:
    """A review: a look-alike at the start of a block scalar's line (``name: |``) was refused,
    though YAML reads the line as the value's text; so was one at the start of a quoted value's
    second line."""
    path = tmp_path / "ok.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = getattr(load_config(path).data, setting)
    assert (list(loaded) if isinstance(value, list) else loaded) == value


@pytest.mark.parametrize(("text", "number", "column"), [
    ("data:\n  labels_csv: >-\n  \u00a0  labels.csv\n", 3, 3),  # no more plain spaces than the key: no value
    ("data:\n  labels_csv: >-\n    x\n   \u00a0labels.csv\n", 4, 4),  # fewer than the value's: ends it
    ("data:\n  labels_csv: >-\n    x\n\u00a0 image_column: y\n", 4, 1),  # a key after the value
    ("data:\n  labels_csv: |\n    x\n  image_column:\u00a0y\n", 4, 16),
])
def test_a_space_look_alike_that_ends_a_block_scalar_is_still_named(
        tmp_path: Path, text: str, number: int, column: int) -> None:
    """YAML reads a block scalar's indentation from plain spaces alone: a look-alike standing
    for one ends the value, and the line is read as structure (a key, or a mistake)."""
    error = _error_of(tmp_path, text)
    assert error.startswith(f"FILE:{number}: a non-breaking space (U+00A0) at column {column}: "), error


@pytest.mark.parametrize("text", [
    "pretrain:\n  epochs:\u00a03\n  batch_size: 4\x0c\n",  # a form feed on a later line
    "pretrain:\n  epochs:\u00a03\n  batch_size: 4  # copied from a PDF\x00\n",  # a NUL in a comment below
    "pretrain:\n  epochs:\u00a03  # copied from a PDF\x00\n",  # and on the look-alike's own line
])
def test_a_space_look_alike_beside_a_character_yaml_never_takes_is_named_not_a_traceback(
        tmp_path: Path, text: str) -> None:
    """A review: PyYAML refuses a NUL or a form feed when its loader is built, which the look-alike
    check did outside its ``try``: python -m drac_ssl.train printed a ReaderError traceback."""
    error = _error_of(tmp_path, text)
    assert error.startswith("FILE:2: a non-breaking space (U+00A0) at column 10: YAML reads it as text, "), error


def test_a_look_alike_in_a_block_scalars_text_is_not_blamed_for_a_form_feed_elsewhere(tmp_path: Path) -> None:
    """The values are still found with the characters YAML never takes set aside: the look-alike
    is the value's text, and the form feed is what is named."""
    error = _error_of(tmp_path, "data:\n  labels_csv: |\n    \u00a0x\n# page 2\x0c\n")
    assert error.startswith("FILE:4: not valid YAML (a form feed, U+000C, at column 9 is not a text character)"), error


@pytest.mark.parametrize(("text", "start"), [
    ("pretrain:\n  epochs: [3\ndata:\n  labels_csv: |\n    \u00a0x\n",  # the review's: a block scalar's text
     "FILE:2: not valid YAML (the '[' list that starts on this line is not closed"),
    ("pretrain:\n  epochs: [3\ndata:\n  labels_csv:\u00a0x\n",  # a parser's mistake, not the scanner's
     "FILE:2: not valid YAML (the '[' list that starts on this line is not closed"),
    ('run:\n  name: "x\npretrain:\n  epochs:\u00a03\n',  # the look-alike is inside the open quote
     "FILE:2: not valid YAML (the quoted value that starts on this line is not closed"),
    ("# copied from a PDF\x00\npretrain:\n  epochs:\u00a03\n",
     "FILE:1: not valid YAML (a NUL byte, U+0000, at column 20 is not a text character)"),
])
def test_a_yaml_mistake_above_a_space_look_alike_is_named_first(tmp_path: Path, text: str, start: str) -> None:
    """A review: where PyYAML stopped at a mistake above the look-alike's line, the values below it
    were not found, the look-alike was blamed (one in a block scalar's text, which is no mistake)
    and the mistake above never shown."""
    error = _error_of(tmp_path, text)
    assert error.startswith(start), error


_BREAK_NAMES = {"\u2028": "a line separator (U+2028)", "\x85": "a next-line character (U+0085)",
                "\u2029": "a paragraph separator (U+2029)"}


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("char", ["\u2028", "\x85", "\u2029"])
def test_a_line_break_only_yaml_sees_hides_no_setting_in_a_comment(tmp_path: Path, char: str, newline: str) -> None:
    """A review: an editor shows ``  epochs: 3  # was`` + U+2028 + ``  lr: 5.0`` as one line
    ending in a comment, and YAML read ``lr: 5.0`` on a line of its own: a setting hidden in a
    comment was set. Refused as a NUL or a form feed is, by the editor's line and column."""
    error = _error_of(tmp_path, f"run:\n  name: x\npretrain:\n  epochs: 3  # was{char}  lr: 5.0\n", newline)
    escaped = f"\\u{ord(char):04x}"
    assert error == (f"FILE:4: {_BREAK_NAMES[char]} at column 19 ends a line for YAML, though an editor shows "
                     f"none: line 4 `  epochs: 3  # was{escaped}  lr: 5.0`; YAML reads what follows it as a new "
                     f"line (after a `#`, a setting written there would be set).\n  fix: delete it or replace it "
                     f"by a line break."), error


@pytest.mark.parametrize(("text", "column", "shown"), [
    ("run:\n  name: a\u2029b\n", 10, "  name: a\\u2029b"),  # a plain value
    ("data:\n  grades: [No DR,\u2028Mild]\n", 18, "  grades: [No DR,\\u2028Mild]"),  # a flow list
])
def test_a_line_break_only_yaml_sees_outside_a_comment_is_not_said_to_set_a_comment(
        tmp_path: Path, text: str, column: int, shown: str) -> None:
    """A review: every such message said "(a setting after it in a comment is set)", a plain
    value's and a list's too."""
    error = _error_of(tmp_path, text)
    char = next(c for c in text if c in _BREAK_NAMES)
    assert error == (f"FILE:2: {_BREAK_NAMES[char]} at column {column} ends a line for YAML, though an editor "
                     f"shows none: line 2 `{shown}`; YAML reads what follows it as a new line (after a `#`, a "
                     f"setting written there would be set).\n  fix: delete it or replace it by a line break."), error


@pytest.mark.parametrize(("text", "number", "column"), [
    ("data:\n  labels_csv: |\n    a\u2028b: 3\n", 3, 6),  # in a block scalar's text: ends the value
    ("run:\n  name: |\n    a\u2028    b\n", 3, 6),  # and where it does not (read 'a\u2028b', its spaces dropped)
    ("run:\n  name: a\u2029b\n", 2, 10),  # in a plain value
    ("run:\n  name: x\n\u2028", 3, 1),  # alone on the last line
    ('run:\n  name: "a" x: y\u2028\n', 2, 17),  # on the line of a YAML mistake, after it
    ('run:\n  name: "a\u2028b"\n', 2, 11),  # in a quoted value: PyYAML drops spaces around it
    ("run:\n  name: 'a \u2029 b'\n", 2, 12),
    ("run:\n  name: 'a\x85b'\n", 2, 11),  # the review's: read as 'a b'
    ('run:\n  name: "a\n    \u2028b"\n', 3, 5),  # on a quoted value's second line
])
def test_a_line_break_only_yaml_sees_is_named_anywhere(
        tmp_path: Path, text: str, number: int, column: int) -> None:
    error = _error_of(tmp_path, text)
    assert error.startswith(f"FILE:{number}: "), error
    assert f" at column {column} ends a line for YAML, though an editor shows none: " in error, error
    escaped = next(f"\\u{ord(c):04x}" for c in text if c in _BREAK_NAMES)
    assert escaped in error, error  # shown, at the line's end too (not dropped as a space)


def test_a_yaml_mistake_above_a_line_break_only_yaml_sees_is_named_first(tmp_path: Path) -> None:
    error = _error_of(tmp_path, 'run:\n  name: "a\npretrain:\n  epochs: 3  # was\u2028  lr: 5.0\n')
    assert error.startswith("FILE:2: not valid YAML (the quoted value that starts on this line is not closed"), error


def test_a_space_look_alike_on_a_plain_values_next_line_is_still_named(tmp_path: Path) -> None:
    """YAML reads ``    `` + U+00A0 + ``b`` below ``labels_csv: a`` as the plain value's next
    line ('a \\xa0b'), but a look-alike there is as likely a key's indentation: only a block
    scalar's and a quoted value's lines are taken as text (a review: no test held that filter)."""
    error = _error_of(tmp_path, "data:\n  labels_csv: a\n    \u00a0b\n")
    assert error.startswith("FILE:3: a non-breaking space (U+00A0) at column 5: YAML reads it as text, "), error


def test_a_key_written_twice_on_one_line_is_said_so(tmp_path: Path) -> None:
    """A review: ``pretrain: {epochs: 3, epochs: 4}`` was said to be "on lines 1 and 1" with the
    fix "keep one of the two lines"."""
    error = _error_of(tmp_path, "run:\n  name: x\npretrain: {epochs: 3, epochs: 4}\n")
    assert error == ("FILE:3: 'pretrain.epochs' is written twice in the same section on line 3; only one value "
                     "can be used.\n  fix: keep one of the two on line 3 (delete the other with its value)."), error


@pytest.mark.parametrize(("text", "column", "fix"), [
    ("run:\n  name: r\n  \u3000# note\n", 3, "fix: replace it by two plain spaces"),
    ("run:\n  name: r\n\u3000\u3000# note\n", 1, "fix: replace each by two plain spaces"),
])
def test_an_ideographic_space_indenting_a_comment_line_is_told_as_indentation(tmp_path: Path, text: str,
                                                                               column: int, fix: str) -> None:
    """A comment line indented by U+3000 has no value to quote: it is told the indentation's fix
    (two plain spaces each), not the "the `#` after it does not start a comment" of a value (rev6 F2)."""
    message = _error_of(tmp_path, text)
    assert f":3: an ideographic space (U+3000) at column {column}" in message and fix in message
    assert "quote the value" not in message


def test_a_look_alike_between_a_closed_list_and_its_comment_is_told_to_be_a_space(tmp_path: Path) -> None:
    """`[a, b]` + U+3000 + `# note`: a space was meant there; deleting it would leave `]#`, which
    the YAML spec does not take as a comment (rev6 F5)."""
    message = _error_of(tmp_path, "data:\n  grades: [a, b]\u3000# \u6ce8\u91ca\n")
    assert ":2: an ideographic space (U+3000) at column 17" in message
    assert "fix: replace it by a plain space (or delete it)." in message
    assert message.endswith("(or delete it).")
