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
directly (a C library's own messages) or to ``sys.stdout.buffer`` do not. A word of the
output that is also the name of a listed entry (a sub-folder called ``test``), or the stem of
one (``notes`` of ``notes.txt``: :func:`with_stems`), is tagged too: the filter errs towards
hiding. The names are gathered inside the filter's protection (``tagged_console`` takes a
function), so that no exception prints one before the filter stands. Standard library only.
"""

from __future__ import annotations

import collections
import csv
import hashlib
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

__all__ = ["LOG_NAMES", "TAG_HEX", "NameTagger", "csv_first_column", "folder_names", "name_digest",
           "name_tag", "tagged_console", "with_stems"]

LOG_NAMES = ("full", "tag")
"""The choices of ``--log-names``: ``full`` prints names as they are (the default), ``tag``
prints :func:`name_tag` instead."""
TAG_HEX = 8
"""Hex digits of the SHA-256 in a tag (32 bits)."""
STEM_MIN = 3
"""A name's stem shorter than this (``OD`` of ``OD.png``) is not tagged apart from the name
(:func:`with_stems`): it identifies nobody, and would tag a common word of every line."""
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
        self.pattern = _compiled(self.tags)

    def __call__(self, text: str) -> str:
        if self.pattern is None or not text:
            return text
        return self.pattern.sub(lambda m: self.tags[m.group(0)], text)


def _compiled(words: Iterable[str]) -> re.Pattern[str] | None:
    """The pattern of :class:`NameTagger`: any of ``words`` as a whole token, the longest
    first (:func:`_trie_pattern`); None for no word. A trie nested deeper than ``re`` compiles
    (hundreds of names each a prefix of the next: ``a``, ``aa``, ``aaa`` ...) falls back to a
    plain alternation of the escaped words, longest first: slower per line, the same matches."""
    words = sorted(words, key=lambda w: (-len(w), w))
    if not words:
        return None
    token = r"(?<![^\W_])(?<!\d\.)(?:{})(?![^\W_])(?!\.\d)"
    try:
        return re.compile(token.format(_trie_pattern(words)))
    except RecursionError:
        return re.compile(token.format("|".join(re.escape(w) for w in words)))


def _trie_pattern(words: Iterable[str]) -> str:
    """A regular expression matching any of ``words`` (non-empty), the longest first where one
    is a prefix of another, written as a trie whose single-child runs are one literal
    (``ab(?:c|de(?:f)?)``): a folder of 20,000 names costs a line a few characters' work per
    position, not 20,000 tries. "" for no word. Built from the sorted words without recursion
    (a name of thousands of characters, names nested as deep: review F7); the pattern nests a
    group only where words branch or end."""
    ws = sorted({w for w in words if w})
    if not ws:
        return ""

    def node(lo: int, hi: int, depth: int) -> tuple[bool, int, list[tuple[int, int, int]], list[str]]:
        """``ws[lo:hi]``, which share their first ``depth`` characters: (whether one ends
        there, ``depth``, each child's ``(lo, hi, end)``: the words that go on with one
        character and the end of what they all share, the children's patterns so far)."""
        ends = len(ws[lo]) == depth  # sorted: the one that ends there comes first
        children = []
        i = lo + 1 if ends else lo
        while i < hi:
            ch, j = ws[i][depth], i + 1
            while j < hi and ws[j][depth] == ch:
                j += 1
            first, last = ws[i], ws[j - 1]
            end, most = depth + 1, min(len(first), len(last))
            while end < most and first[end] == last[end]:
                end += 1
            children.append((i, j, end))
            i = j
        return ends, depth, children, []

    stack = [node(0, len(ws), 0)]
    while True:
        ends, depth, children, made = stack[-1]
        if len(made) < len(children):
            stack.append(node(*children[len(made)]))
            continue
        stack.pop()
        body = made[0] if len(made) == 1 else f"(?:{'|'.join(made)})" if made else ""
        pattern = f"(?:{body})?" if ends and made else body
        if not stack:
            return pattern
        _, at, siblings, done = stack[-1]
        lo, _, end = siblings[len(done)]
        done.append(re.escape(ws[lo][at:end]) + pattern)


class _TaggingStream:
    """A text stream that writes through ``stream`` with ``tagger`` applied; anything else
    (``flush``, ``fileno``, ``isatty``, ``encoding``) is the stream's own. So is ``buffer``:
    bytes written to ``sys.stdout.buffer`` (or to ``fileno()``) pass unfiltered, names and
    all; the commands print text only."""

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
def tagged_console(names: Iterable[str] | Callable[[], Iterable[str] | None] | None
                   ) -> Iterator[NameTagger | None]:
    """Within the ``with`` block, ``sys.stdout`` and ``sys.stderr`` write :class:`NameTagger`
    of ``names`` instead of each name; None: the console as it is (``--log-names full``).
    ``names`` may be a function that gives them (or None): called here, so that an exception
    of its own, or of building the tagger, is not printed by Python with the names in its
    message: it is said in one line that names no file (its type and where it was raised) and
    ``SystemExit(1)`` raised. Restores both streams after (an exception too). An unexpected
    exception (an ``Exception`` that leaves the block: a bug) would have its traceback printed
    by Python after the block, the names in its messages untagged: it is printed here,
    tagged, and ``SystemExit(1)`` raised instead (Python's exit code for it)."""
    try:
        if callable(names):
            names = names()
        tagger = None if names is None else NameTagger(names)
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
        print(f"error: --log-names tag: the file names to hide could not be gathered "
              f"({type(exc).__name__}{where}; its message is not printed, as it may name a "
              f"file); nothing was done. A bug: --log-names full runs without it and prints the "
              f"whole message", file=sys.stderr)
        raise SystemExit(1) from None
    if tagger is None:
        yield None
        return
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


def with_stems(names: Iterable[str]) -> set[str]:
    """``names`` and the stem of each (``scan.dat`` -> ``scan``: a fix that suggests a rename
    says ``rename it scan.png``), a stem shorter than :data:`STEM_MIN` characters left out
    (:class:`NameTagger` leaves short numbers out too)."""
    out = set(names)
    for name in list(out):
        stem = os.path.splitext(name)[0]
        if len(stem) >= STEM_MIN and stem != name:
            out.add(stem)
    return out


def _listing(folder: str | os.PathLike[str], follow: bool = False) -> list[tuple[str, bool]]:
    """``(name, is a folder)`` of each entry of ``folder``, in name order; a link to a folder
    counts as one only with ``follow`` (the export's sub-folders of ``--images`` follow links,
    its deeper search does not). [] when it cannot be listed."""
    try:
        with os.scandir(folder) as entries:
            return sorted((entry.name, _is_dir(entry, follow)) for entry in entries)
    except OSError:
        return []


def _is_dir(entry: os.DirEntry[str], follow: bool) -> bool:
    """Whether ``entry`` is a folder (through a link with ``follow``); False when that cannot
    be told (a broken or looping link)."""
    try:
        return entry.is_dir(follow_symlinks=follow)
    except OSError:
        return False


def folder_names(folder: str | os.PathLike[str], levels: int = 2, visits: int = 0,
                 hidden: Callable[[str], bool] | None = None) -> set[str]:
    """The names of the entries of ``folder`` (files, sub-folders, hidden files: all of them,
    however many) and of every sub-folder's entries (the fixes of the export name the folders
    of per-patient images and the files two of them share); with ``levels`` above 2, the
    entries of the folders below those too, down to ``levels`` levels below ``folder``, in the
    walk of the export's search for deeper images (:func:`drac_ssl.export._deeper_image_folders`:
    breadth-first in name order, from the sub-folders (links to folders included, as
    :func:`drac_ssl.submission.read_folder` counts them), below them ``hidden`` folders (by
    name) and links not entered, at most ``visits`` folders visited, the sub-folders counted), so that every
    folder that search can name is listed. ``folder`` itself when it is a file. A folder that
    cannot be listed gives what could be (nothing, for a folder not there)."""
    root = Path(folder)
    if not root.is_dir():
        return {root.name} if root.name else set()
    top = _listing(root, follow=True)  # the export's sub-folders: Path.is_dir(), links followed
    names = {name for name, _ in top}
    subfolders = {root / name: _listing(root / name) for name, is_dir in top if is_dir}
    for entries in subfolders.values():  # every sub-folder's entries, whatever the budget below
        names.update(name for name, _ in entries)
    queue = collections.deque((sub, 1) for sub in subfolders if hidden is None or not hidden(sub.name))
    while queue and visits > 0:
        here, depth = queue.popleft()
        visits -= 1
        entries = subfolders[here] if depth == 1 else _listing(here)
        names.update(name for name, _ in entries)  # level depth + 1
        if depth < levels - 1:
            queue.extend((here / name, depth + 1) for name, is_dir in entries
                         if is_dir and (hidden is None or not hidden(name)))
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
