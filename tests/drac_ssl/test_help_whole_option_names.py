"""A command's ``--help`` never splits a word at its hyphen: argparse and :func:`textwrap.fill`
do by default, so the export's ``--check`` exit codes printed ``--skip-`` at a line's end and
``unreadable)`` on the next (found when the exit codes grew and their wrapping moved; a test
that joins the help's lines read ``--skip- unreadable``). :class:`drac_ssl.starting.CommandParser`
wraps options' help, and :func:`drac_ssl.starting.fill_help` descriptions and epilogs, at
spaces only."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pytest

import data_prep.__main__ as data_prep_main
from app import auth, demo_bundle
from drac_ssl import export
from drac_ssl.starting import CommandParser, fill_help

SPLIT_WORD = re.compile(r"\w-$", re.MULTILINE)
"""A line that ends inside a hyphenated word (``--skip-``), not at a space or a dash of its own."""


@pytest.mark.parametrize(("call", "argv"), [
    (export.main, ["--help"]),
    (data_prep_main.main, ["ingest", "--help"]),
    (data_prep_main.main, ["flatten", "--help"]),
    (auth.main, ["--help"]),
    (demo_bundle.main, ["--help"]),
])
def test_no_help_line_ends_inside_a_hyphenated_word(call: Callable[[Sequence[str]], object],
                                                    argv: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        call(argv)
    assert stopped.value.code == 0
    said = capsys.readouterr().out
    assert not SPLIT_WORD.findall(said), [line for line in said.splitlines() if SPLIT_WORD.search(line)]


def test_an_options_help_and_a_filled_text_keep_option_names_whole() -> None:
    text = "word " * 13 + "--skip-unreadable and --cache-sizes"
    for width in range(20, 60):
        assert all("--skip-unreadable" in line or "skip" not in line
                   for line in fill_help(text, width).splitlines())
    parser = CommandParser(prog="x")
    parser.add_argument("--flag", help=text)
    helped = parser.format_help()
    assert "--skip-unreadable" in helped and "--cache-sizes" in helped
    assert not SPLIT_WORD.findall(helped)
