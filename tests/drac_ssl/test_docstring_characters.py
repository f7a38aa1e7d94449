"""Docstrings hold no control characters: an escape such as ``\\x00`` or ``\\t`` written
in a docstring that is not a raw string becomes the real character, so ``help()`` and the
rendered docs show a NUL byte, a tab or a byte-order mark instead of the escape the text
means to show (a review of merge 6f5e603 found three in drac_ssl/config.py)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("drac_ssl", "app", "bench", "scripts", "data_prep")
FORBIDDEN = {chr(code) for code in range(32) if chr(code) != "\n"} | {"\ufeff", "\x7f"}


def _docstrings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        # A docstring is a string statement first in a module, class or function body;
        # attribute docstrings are a string statement anywhere in a body.
        for statement in body:
            if (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
                    and isinstance(statement.value.value, str)):
                found.append((statement.lineno, statement.value.value))
    return found


def test_no_docstring_holds_a_control_character_or_byte_order_mark() -> None:
    bad = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, text in _docstrings(path):
                chars = sorted({repr(c) for c in text if c in FORBIDDEN})
                if chars:
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {', '.join(chars)} "
                               "(write the docstring as r\"\"\"...\"\"\" or double the backslash)")
    assert not bad, "\n".join(bad)


def test_no_source_file_holds_a_raw_nul_or_byte_order_mark() -> None:
    bad = [str(path.relative_to(ROOT)) for package in PACKAGES
           for path in sorted((ROOT / package).rglob("*.py"))
           if b"\x00" in path.read_bytes() or "\ufeff".encode() in path.read_bytes()]
    assert not bad, bad
