"""The line of a nesting too deep (config._deep_nesting_line) was wrong after an earlier
block scalar (``|``, ``>``) or plain value holding an unclosed ``[`` or ``{``: their text was
counted as the start of a flow value, so the line said was theirs (or the nesting went unseen)."""

from __future__ import annotations

import pytest

from drac_ssl.config import _deep_nesting_line

DEEP = "[" * 3000 + "]" * 3000 + "\n"


@pytest.mark.parametrize(("text", "line"), [
    ("note: |\n  see [1\n  and {2\npretrain:\n  epochs: ", 5),  # a literal block's brackets
    ("note: >-\n  see [1\n\n  x\npretrain:\n  epochs: ", 6),  # folded, a blank line inside
    ("items:\n  - |2\n    [[ [\n  - ", 4),  # a sequence item's block, with an indentation indicator
    ("name: a[b\nx: c{\npretrain:\n  epochs: ", 4),  # plain words: a bracket inside opens nothing
])
def test_the_deep_nesting_line_skips_block_scalars_and_plain_words(text: str, line: int) -> None:
    assert _deep_nesting_line(text + DEEP) == line


def test_a_block_scalar_ends_at_a_line_indented_as_its_key() -> None:
    assert _deep_nesting_line("a: |\n  text\nb:\n  [\n" + DEEP) == 4
    assert _deep_nesting_line("a: |\n  " + DEEP) is None  # the block's own text is not YAML
    assert _deep_nesting_line("# note: |\n  [\n" + DEEP) == 2  # a commented indicator starts no block
