"""The settings reference of ``docs/configuration.md``, generated from ``drac_ssl/config.py``.

Every setting of :class:`drac_ssl.config.Config`, one table per section: ``section.key``, its
type, its default and its meaning, which is the comment written on the setting's line in
``config.py`` (or, when that line has none, the comment block just above it; the section's
docstring there says more). A setting without a comment is a :class:`ValueError` here, so a
new setting gets its meaning where it is declared.

``python -m drac_ssl.settings_table`` rewrites the table between the two markers of
``docs/configuration.md`` (:data:`BEGIN`, :data:`END`); ``--check`` changes nothing and exits 1
when the page's table differs from what would be written. ``tests/drac_ssl/test_settings_table.py``
fails then too, so the page cannot go stale. Standard library and PyYAML only (no torch).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import io
import sys
import tokenize
import typing
from pathlib import Path
from typing import Any

from drac_ssl import config
from drac_ssl.starting import python_command

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
"""The page whose settings reference this module writes (a checkout's ``docs/``; an installed
package has none, and :func:`main` refuses there: :data:`drac_ssl.config.CHECKOUT` None)."""
BEGIN = "<!-- settings reference: written by python -m drac_ssl.settings_table from drac_ssl/config.py; do not edit by hand -->"
END = "<!-- end of the settings reference -->"


def field_comments(source: str) -> dict[tuple[str, str], str]:
    """``(class name, field name) -> meaning`` of every annotated field of every class in the
    Python ``source``: the comment on the field's lines (the first that has one), else the
    block of whole-line comments just above it, joined into one line; fields with neither
    are left out."""
    comments: dict[int, str] = {}
    whole_line: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
            if not token.line[:token.start[1]].strip():
                whole_line.add(token.start[0])
    meanings: dict[tuple[str, str], str] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
                continue
            own = [comments[n] for n in range(item.lineno, (item.end_lineno or item.lineno) + 1)
                   if n in comments and n not in whole_line]
            above: list[str] = []
            line = item.lineno - 1
            while line in whole_line:
                above.insert(0, comments[line])
                line -= 1
            text = own[0] if own else " ".join(above)
            if text:
                meanings[(node.name, item.target.id)] = text
    return meanings


def _type_words(tp: Any) -> str:
    """``int``, ``list[str]`` ...: the annotation as it is written."""
    if typing.get_origin(tp) in (list, tuple):
        return f"list[{', '.join(_type_words(a) for a in typing.get_args(tp))}]"
    return getattr(tp, "__name__", str(tp))


def _cell(text: str) -> str:
    """``text`` safe in a Markdown table cell: ``|`` escaped, ``<`` escaped (GitHub would read
    ``<dataset>`` as an HTML tag and show nothing)."""
    return text.replace("|", "\\|").replace("<", "\\<")


def settings_rows(cfg: Any = None, prefix: str = "",
                  meanings: dict[tuple[str, str], str] | None = None) -> list[tuple[str, str, str, str, str]]:
    """``(section, setting, type, default, meaning)`` of every setting of ``cfg`` (default:
    :class:`~drac_ssl.config.Config`'s defaults), in the order they are declared, sections
    nested (``pretrain.loss``) after their section's own settings.

    Raises:
        ValueError: a setting without a comment in ``drac_ssl/config.py``, naming it."""
    cfg = config.Config() if cfg is None else cfg
    if meanings is None:
        meanings = field_comments(Path(config.__file__).read_text(encoding="utf-8"))
    hints = typing.get_type_hints(type(cfg))
    rows, nested = [], []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        dotted = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            nested.append((value, f"{dotted}."))
            continue
        meaning = meanings.get((type(cfg).__name__, f.name))
        if not meaning:
            raise ValueError(f"drac_ssl/config.py: the setting {dotted} ({type(cfg).__name__}.{f.name}) "
                             f"has no comment saying what it means.\n  fix: write one on its line "
                             f"(# what it sets, its unit, what 0 or empty means)")
        rows.append((prefix.rstrip("."), dotted, _type_words(hints[f.name]), config._as_text(value), meaning))
    for value, section in nested:
        rows += settings_rows(value, section, meanings)
    return rows


def settings_table() -> str:
    """The settings reference: per section a ``### `section``` heading and a table of its
    settings (setting, type, default, meaning), between :data:`BEGIN` and :data:`END`."""
    lines = [BEGIN]
    section = None
    for where, setting, kind, default, meaning in settings_rows():
        if where != section:
            section = where
            lines += ["", f"### `{section}`", "", "| setting | type | default | meaning |",
                      "| --- | --- | --- | --- |"]
        lines.append(f"| `{setting}` | {kind} | `{_cell(default)}` | {_cell(meaning)} |")
    return "\n".join([*lines, "", END])


def _split(text: str, page: Path) -> tuple[str, str, str]:
    """``text`` (of ``page``) as (before the table, the table with its markers, after it).

    Raises:
        ValueError: the page lacks a marker (or has them in the wrong order)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{page}: no settings reference between the markers {BEGIN!r} and {END!r}.\n"
                         f"  fix: put the two lines where the table goes, then run "
                         f"{python_command('drac_ssl.settings_table')}")
    return text[:start], text[start:end + len(END)], text[end + len(END):]


def page_table(page: Path | None = None) -> str:
    """The settings reference as ``page`` (default: :data:`DOC`) holds it, its markers included."""
    page = DOC if page is None else page
    return _split(page.read_text(encoding="utf-8"), page)[1]


def write(page: Path | None = None) -> bool:
    """Write :func:`settings_table` between the markers of ``page`` (default: :data:`DOC`);
    whether it changed."""
    page = DOC if page is None else page
    before, table, after = _split(page.read_text(encoding="utf-8"), page)
    new = settings_table()
    if table == new:
        return False
    page.write_text(before + new + after, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m drac_ssl.settings_table [--check]``: 0 when the page holds the table (after
    writing it, without ``--check``), 1 when ``--check`` finds it differs, 2 from an installed
    package (not a checkout: a new user's trial saw a traceback) or when the page is missing."""
    parser = argparse.ArgumentParser(allow_abbrev=False,  # a prefix is refused, never guessed
        prog=python_command("drac_ssl.settings_table"),
        description="Write the settings reference of docs/configuration.md from drac_ssl/config.py.")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 when the page's table differs from drac_ssl/config.py")
    args = parser.parse_args(argv)
    if config.CHECKOUT is None:  # an installed package (its configs in drac_ssl/configs): a
        # site-packages/docs/ is another distribution's, never this page
        print(f"error: drac_ssl is installed here ({Path(config.__file__).parent}), not run from its "
              f"checkout: this developer tool rewrites the checkout's docs/configuration.md, which "
              f"an install does not carry.\n"
              f"  fix: run it in a drac_ssl checkout (or an editable install, pip install -e .); "
              f"every setting is also described in drac_ssl/config.py's comments", file=sys.stderr)
        return 2
    if not DOC.is_file():  # a checkout without its docs/ (a partial copy)
        print(f"error: {DOC} not found: this developer tool rewrites the checkout's "
              f"docs/configuration.md, which is missing here.\n"
              f"  fix: run it from a full drac_ssl checkout (pip install -e .); every setting is also "
              f"described in drac_ssl/config.py's comments", file=sys.stderr)
        return 2
    if args.check:
        if page_table() != settings_table():
            print(f"{DOC}: the settings reference differs from drac_ssl/config.py.\n"
                  f"  fix: {python_command('drac_ssl.settings_table')}", file=sys.stderr)
            return 1
        return 0
    print(f"{DOC}: {'written' if write() else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
