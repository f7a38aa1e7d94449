"""A console that says a short tag instead of each file name (``--log-names tag``).

In a hospital a file name often holds a patient's name or record number, and what a command
prints ends up in shared logs (a cron job's mail, journald, a CI log). The export command's
``--log-names tag`` (:func:`drac_ssl.commands.export_log_names`) prints, in every console
line, :func:`name_tag` of each name it knows of instead of the name: ``[name 1a2b3c4d]``, the
first 8 hex digits of the SHA-256 of the name (UTF-8), the digest of the app's server log
(``app.server.name_tag``: ``image 1a2b3c4d``) for the same name. The tag is stable (one name,
one tag, on every run and in the app's log), so the lines about one file can be told apart and
followed; the files the command writes (the CSVs, the notes and skipped-files records) still
name every case: they must.

What it protects against: a reader of the log who does not already hold the names learns
none from it. What it does not: the hash is not keyed, so whoever can guess a name (a patient
list, a range of record numbers: millions of guesses take seconds) can confirm it by hashing
the guess; and with 8 hex digits (32 bits) two names of a large folder may share a tag (about
one pair in a million for 100 names). Keep such logs as private as the folder's file names if
that matters; pseudonymising the file names before grading protects the outputs too.

How: :func:`tagged_console` puts a filter in front of ``sys.stdout`` and ``sys.stderr`` for a
``with`` block, which replaces every occurrence of a listed name (:class:`NameTagger`: as a
whole token, not inside a longer word or number; also its escaped form,
:func:`drac_ssl.submission.printable_text`'s) in what is written. Every ``print`` of the
command goes through it, whatever module prints; bytes written to the file descriptors
directly (a C library's own messages) do not. A word of the output that is also the name of
a listed entry (a sub-folder called ``test``) is tagged too: the filter errs towards hiding.
Standard library only.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

__all__ = ["LOG_NAMES", "TAG_HEX", "NameTagger", "csv_first_column", "folder_names", "name_digest",
           "name_tag", "tagged_console"]

LOG_NAMES = ("full", "tag")
"""The choices of ``--log-names``: ``full`` prints names as they are (the default), ``tag``
prints :func:`name_tag` instead."""
TAG_HEX = 8
"""Hex digits of the SHA-256 in a tag (32 bits)."""
FOLDER_NAMES_MAX = 20_000
"""Entries :func:`folder_names` lists at most (a folder and its sub-folders together)."""
SHORT_NUMBER = re.compile(r"[\d.]{1,3}")
"""A name this short and only digits (``7``, ``12``) is left untagged: it identifies nobody,
and tagging it would tag the counts and figures of every line."""


def name_digest(name: str) -> str:
    """The first :data:`TAG_HEX` hex digits of the SHA-256 of ``name`` in UTF-8 (a name's
    undecodable bytes, kept by Python as lone surrogates, as they were): ``1a2b3c4d``."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:TAG_HEX]


def name_tag(name: str) -> str:
    """What ``--log-names tag`` prints instead of ``name``: ``[name 1a2b3c4d]``
    (:func:`name_digest`). Find the file of a tag with ``sha256sum``: ``printf '%s' NAME |
    sha256sum | cut -c1-8`` for each name of the folder."""
    return f"[name {name_digest(name)}]"


def _printable(text: str) -> str:
    """:func:`drac_ssl.submission.printable_text` (the messages' escaped form of a name with a
    control character), without importing numpy."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class NameTagger:
    """Replaces each of ``names`` in a text by its :func:`name_tag`: as a whole token (not
    after or before a letter or digit, nor inside a decimal number), the longest first, and
    its escaped form too (:func:`_printable`). Empty names and short numbers
    (:data:`SHORT_NUMBER`) are left out. Calling it on text without names returns it as it is."""

    def __init__(self, names: Iterable[str]) -> None:
        self.tags: dict[str, str] = {}
        for name in names:
            if not name or SHORT_NUMBER.fullmatch(name):
                continue
            tag = name_tag(name)
            for said in {name, _printable(name)}:
                self.tags.setdefault(said, tag)
        alternatives = _trie_pattern(self.tags)
        self.pattern = (re.compile(rf"(?<![^\W_])(?<!\d\.)(?:{alternatives})(?![^\W_])(?!\.\d)")
                        if alternatives else None)

    def __call__(self, text: str) -> str:
        if self.pattern is None or not text:
            return text
        return self.pattern.sub(lambda m: self.tags[m.group(0)], text)


def _trie_pattern(words: Iterable[str]) -> str:
    """A regular expression matching any of ``words`` (non-empty), the longest first where one
    is a prefix of another, written as a trie (``ab(?:c|d(?:e)?)``): a folder of 20,000 names
    costs a line a few characters' work per position, not 20,000 tries. "" for no word."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [re.escape(ch) + pattern(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{body})?" if ends else body

    return pattern(trie)


class _TaggingStream:
    """A text stream that writes through ``stream`` with ``tagger`` applied; anything else
    (``flush``, ``fileno``, ``isatty``, ``encoding``) is the stream's own."""

    def __init__(self, stream: TextIO, tagger: NameTagger) -> None:
        self._stream = stream
        self._tagger = tagger

    def write(self, text: str) -> int:
        self._stream.write(self._tagger(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._stream, attr)


@contextmanager
def tagged_console(names: Iterable[str] | None) -> Iterator[NameTagger | None]:
    """Within the ``with`` block, ``sys.stdout`` and ``sys.stderr`` write :class:`NameTagger`
    of ``names`` instead of each name; None: the console as it is (``--log-names full``).
    Restores both streams after (an exception too). An unexpected exception (an ``Exception``
    that leaves the block: a bug) would have its traceback printed by Python after the block,
    the names in its messages untagged: it is printed here, tagged, and ``SystemExit(1)``
    raised instead (Python's exit code for it)."""
    if names is None:
        yield None
        return
    tagger = NameTagger(names)
    saved = sys.stdout, sys.stderr
    sys.stdout = _TaggingStream(saved[0], tagger)  # type: ignore[assignment]
    sys.stderr = _TaggingStream(saved[1], tagger)  # type: ignore[assignment]
    try:
        yield tagger
    except Exception:
        traceback.print_exc()  # on the tagged stderr
        raise SystemExit(1) from None
    finally:
        sys.stdout, sys.stderr = saved


def folder_names(folder: str | os.PathLike[str], depth: int = 2,
                 limit: int = FOLDER_NAMES_MAX) -> set[str]:
    """The names of the entries of ``folder`` (files, sub-folders, hidden files) and of its
    sub-folders' entries down to ``depth`` levels (the fixes of the export name the folders
    of per-patient images), at most ``limit`` in all; ``folder`` itself when it is a file.
    An unreadable folder gives what could be listed (nothing, for a folder not there)."""
    root = Path(folder)
    if not root.is_dir():
        return {root.name} if root.name else set()
    names: set[str] = set()
    level = [root]
    for _ in range(depth):
        below: list[Path] = []
        for here in level:
            try:
                with os.scandir(here) as entries:
                    for entry in entries:
                        if len(names) >= limit:
                            return names
                        names.add(entry.name)
                        if entry.is_dir(follow_symlinks=False):
                            below.append(Path(entry.path))
            except OSError:
                continue
        level = below
    return names


def csv_first_column(path: str | os.PathLike[str], limit: int = 1_000_000) -> list[str]:
    """The first cell of each row of the CSV ``path`` after its header (a submission's cases;
    read loosely: any encoding error replaced, a file that cannot be read gives []); at most
    ``limit`` rows."""
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            rows = csv.reader(fh)
            next(rows, None)
            return [row[0] for _, row in zip(range(limit), rows, strict=False) if row]
    except (OSError, csv.Error):
        return []
