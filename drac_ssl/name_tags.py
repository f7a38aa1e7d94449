"""A console that says a short tag instead of each file name (``--log-names tag``).

In a hospital a file name often holds a patient's name or record number, and what a command
prints ends up in shared logs (a cron job's mail, journald, a CI log). The export command's
``--log-names tag`` (:func:`drac_ssl.commands.export_log_names`) prints, in every console
line, :meth:`NameTagger.tag` of each name it knows of instead of the name: ``[name 1a2b3c4d]``,
the first 8 hex digits of the HMAC-SHA-256 of the name (UTF-8) under a key of this run
(:func:`log_names_key`): a random one, drawn for each command and never written anywhere,
unless ``DRAC_SSL_LOG_NAMES_KEY`` gives one. Within one run the tag is stable (one name, one
tag), so the lines about one file can be told apart and followed; the files the command writes
(the CSVs, the notes and skipped-files records) still name every case, as before: they must.

What it protects against: a reader of the log who does not already hold the names learns
none from it, and, the tag being keyed, cannot confirm a name they guess (a patient list, a
range of record numbers) by hashing the guess either: that needs the key. What that costs: a
tag of one run says nothing about another run's (the same file has another tag each run), nor
about the app's server log, whose ``image 1a2b3c4d`` is the unkeyed SHA-256
(:func:`name_digest` without a key); and nobody can turn a tag back into its file unless the key
is known: a site that wants that sets ``DRAC_SSL_LOG_NAMES_KEY`` (a random secret of at least
128 bits drawn with ``openssl rand -hex 32``: :func:`key_problem` checks its form, not its
randomness; kept as privately as the file names), the same for
every run, and finds the file of a tag with it (the export's ``--find-tag``,
``docs/deploying.md``). With 8 hex digits (32 bits) two names of a large folder may share a
tag (about one pair in a million for 100 names).

How: :func:`tagged_console` puts a filter in front of ``sys.stdout`` and ``sys.stderr`` (and
their ``buffer``, for bytes written there, read as text: where the stream's encoding holds ASCII
as its own bytes and no state, UTF-8, latin-1, cp1252 ...: :func:`byte_filter_encoding`; a
stream of UTF-16 and the like has its bytes written as they are) for a ``with`` block, which replaces every
occurrence of a listed name (:class:`NameTagger`: as a whole token, not inside a longer word or
number) in what is written, and the forms the package's messages give a name: its escaped form
(:func:`drac_ssl.submission.printable_text`'s), its ``repr`` (``{name!r}``, a traceback's
``'/d/x.png'``: a backslash doubled, a quote escaped) and its :func:`shlex.quote` (a fix's
command: a single quote written ``'"'"'``). Every ``print`` of the command goes through it,
whatever module prints; bytes written to the file descriptors directly (a C library's own
messages, ``os.write(1, ...)``) do not. A word of the output that is also the name of a listed
entry (a sub-folder called ``test``), or the stem of one (``notes`` of ``notes.txt``:
:func:`with_stems`; not a stem that is a word the console's lines start with, ``error`` of
``error.txt``: :data:`CONSOLE_WORDS`), is tagged too: the filter errs towards hiding. The names are gathered
inside the filter's protection (``tagged_console`` takes a function), so that no exception
prints one before the filter stands. Each write is filtered on its own: a name written in two
pieces would not be seen (``print`` writes each argument apart, so a name is one piece). Its
cost grows linearly with the names (dicts of their forms and first tokens, no regular
expression of them), and with the text written times the number of distinct lengths among the
forms that share a first token (one walk over its words, or a search in C of each of a few
first tokens of names found in it, and a look-up per such length where a name may start): a
few for a folder's names, but names made to share a first token in many lengths cost seconds
a megabyte (244 lengths: 8.7 s for 1 MB of that token, against 0.2 s for one length, in a
builder's one-off timing here, not a bench figure). Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import collections
import csv
import hashlib
import hmac
import io
import os
import re
import secrets
import sys
import traceback
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from drac_ssl.starting import interrupt_exit_code  # stdlib only

__all__ = ["CONSOLE_WORDS", "KEY_ENV", "KEY_FORMS", "KEY_MIN_BITS", "KEY_MIN_DISTINCT", "LOG_NAMES", "PACKAGE_WORDS", "TAG_HEX", "NameTagger", "csv_first_column",
           "byte_filter_encoding", "folder_names", "key_problem", "log_names_key", "name_digest", "name_tag", "package_words_only", "path_names", "said_forms",
           "tagged_console", "with_stems", "ALLOWED_FORMAT_CHARACTERS", "printable_text", "visible_text"]

LOG_NAMES = ("full", "tag")
"""The choices of ``--log-names``: ``full`` prints names as they are (the default), ``tag``
prints :meth:`NameTagger.tag` instead."""
TAG_HEX = 8
"""Hex digits of the (HMAC-)SHA-256 in a tag (32 bits)."""
KEY_ENV = "DRAC_SSL_LOG_NAMES_KEY"
"""The environment variable that gives ``--log-names tag`` its key (:func:`log_names_key`)."""
KEY_MIN_BITS = 128
"""The fewest random bits :data:`KEY_ENV` must show in its form (:func:`key_problem`): 32 hex
digits, or base64 of 16 bytes. Anyone holding a log holds pairs of a name they can guess and its
tag, against which a key can be searched offline; a key of fewer bits, or one a person chose
(``hospital-key-001``), would be found, and with it every name of every log."""
KEY_FORMS = ("at least 32 hex digits (openssl rand -hex 32, the way to draw one) or base64 of at "
             "least 16 bytes with upper and lower case letters and digits (openssl rand -base64 24)")
"""The forms :data:`KEY_ENV` may take, as the refusal says them (:func:`key_problem`)."""
KEY_MIN_DISTINCT = 8
"""The fewest different characters a key of :data:`KEY_ENV` must hold (``0`` * 32, ``ab`` * 16
are refused). A key of 32 random hex digits holds fewer about 4 times in 100 million draws (a
bar of 12, as a review proposed, would refuse 1.7 in 100 of them: ``openssl rand -hex 16``)."""
KEY_BYTES = 32
"""Bytes of the random key of a run without :data:`KEY_ENV` (:func:`secrets.token_bytes`)."""
STEM_MIN = 3
"""A name's stem shorter than this (``OD`` of ``OD.png``) is not tagged apart from the name
(:func:`with_stems`): it identifies nobody, and would tag a common word of every line."""
CONSOLE_WORDS = frozenset({"error", "warning", "note", "fix", "skipped", "OK", "INCOMPLETE"})
"""The words the commands' console lines start with (``error: ...``, ``  fix: ...``): a stem
that is one of them is not tagged apart from its name (:func:`with_stems`), or a folder's
``error.txt`` would tag every ``error:``. It names nobody. A listed name that is such a word
itself (an entry called ``note``), and short or common names (``in``, ``OD``), are still
tagged: any of them may be a patient's initials or name, and the filter errs towards hiding."""
PACKAGE_WORDS = frozenset({"drac_ssl", "drac", "ssl", "data_prep", "data", "prep", "app", "bench", "train",
                           "export", "report", "compare", "umm", "default", "runs", "configs", "yaml"})
"""The words of the package's own commands and options (``python -m drac_ssl.train -c
configs/drac.yaml``, ``runs/default``): never tagged, whatever folder or file is so named (the
export's :func:`drac_ssl.commands.export_log_names` leaves them out), or a fix's command would
print ``python -m [name 7303e184]_ssl.export`` and no longer work when pasted. They name
nobody, nor does a relative path of them alone (``runs/default``: :func:`package_words_only`)."""


def package_words_only(name: str) -> bool:
    """Whether ``name`` is one of :data:`PACKAGE_WORDS` or a relative path of them alone
    (``runs/default``, ``./runs/drac``: the package's own run folders, which its fix lines
    print), and so names nobody."""
    parts = [part for part in re.split(r"[\\/]", name) if part not in ("", ".")]
    return bool(parts) and not os.path.isabs(name) and all(part in PACKAGE_WORDS for part in parts)


SHORT_NUMBER = re.compile(r"[\d.]{1,3}")
"""A name this short and only digits (``7``, ``12``) is left untagged: it identifies nobody,
and tagging it would tag the counts and figures of every line."""
_HEX_KEY = re.compile(r"[0-9a-fA-F]+")
"""A key given as hex digits (``openssl rand -hex 32``), 4 bits each (a key of hex digits alone
is read so, even where it would be base64 too)."""
FIND_FIRSTS = 4
"""Up to this many different first tokens of listed names in one write (a line naming a file or
two), :class:`NameTagger` finds where each starts with ``str.find`` (a search in C, this many
passes over the text at most); above it, one walk over the text's tokens in Python: either way
the search costs time linear in the write's length, however many first tokens (review F4: a
search from the start for each of 20,000 first tokens took 15.7 s for one 0.9 MB write); what
follows at each start costs a look-up per length (:class:`NameTagger`)."""
_TOKEN = re.compile(r"[^\W_]+|[\W_]")
"""A token of a text: a run of letters and digits (``str.isalnum``), or any other single
character (``_``, ``.``, a space). A name is tagged where it starts and ends on tokens."""
_WORD = re.compile(r"[^\W_]+")
"""A word: a token of letters and digits (:data:`_TOKEN`)."""


def name_digest(name: str, key: bytes | None = None) -> str:
    """The first :data:`TAG_HEX` hex digits of the HMAC-SHA-256 of ``name`` in UTF-8 (a name's
    undecodable bytes, kept by Python as lone surrogates, as they were) under ``key``:
    ``1a2b3c4d``; without a key, of its plain SHA-256 (the app's server log:
    ``app.server.name_tag``)."""
    data = name.encode("utf-8", "surrogatepass")
    if key is None:
        return hashlib.sha256(data).hexdigest()[:TAG_HEX]
    return hmac.digest(key, data, "sha256").hex()[:TAG_HEX]


def name_tag(name: str, key: bytes | None = None) -> str:
    """What ``--log-names tag`` prints instead of ``name`` in a run whose key is ``key``
    (:func:`log_names_key`): ``[name 1a2b3c4d]`` (:func:`name_digest`). Under the key of
    :data:`KEY_ENV`, the export's ``--find-tag`` finds the names of a tag
    (:func:`drac_ssl.commands.find_tag_command`)."""
    return f"[name {name_digest(name, key)}]"


def key_problem(value: str) -> str | None:
    """What is wrong with ``value`` as the key of :data:`KEY_ENV`, in words that never repeat
    it; None when it is in one of :data:`KEY_FORMS`: hex digits, 32 or more (:data:`KEY_MIN_BITS`,
    4 bits a digit), or base64 that decodes (:func:`_base64_bytes`: one alphabet, standard or
    URL-safe, padded right or not at all, the encoding of its bytes) to 16 bytes or more and
    holds upper case and lower case letters and digits (``hospital-eye-clinic-key-0001``,
    ``correcthorsebatterystaple`` are refused); and either way at least
    :data:`KEY_MIN_DISTINCT` different characters, and not a block said again
    (``0123456789abcdef`` * 2). Only the form is checked, which cannot measure randomness: a key
    a person typed in that form passes, which is why the refusal says to draw it
    (``openssl rand -hex 32``). A key drawn at random is refused only in rare draws: 32 hex
    digits with fewer than 8 different ones (about 4 in 100 million), base64 without a digit
    (about 4 in 1,000 of ``openssl rand -base64 24``; 2 in 100 of ``-base64 16``), each said so."""
    if _HEX_KEY.fullmatch(value):
        bits, form = 4 * len(value), "hex digits"
    elif (size := _base64_bytes(value)) is not None:
        bits, form = 8 * size, "base64"
    else:
        return (f"{KEY_ENV} holds {len(value)} character(s), not {KEY_FORMS}" + (
            "" if not value else ": other characters (a space, a word's punctuation), or base64 "
            "that does not decode (two alphabets, wrong padding or length), make a key a person "
            "chose, which could be found from the names and tags of a log"))
    if bits < KEY_MIN_BITS:
        return (f"{KEY_ENV} holds {len(value)} character(s), about {bits} bits: fewer than "
                f"{KEY_MIN_BITS}, so it could be found from the names and tags of a log; it must "
                f"be {KEY_FORMS}")
    if len(set(value.rstrip("="))) < KEY_MIN_DISTINCT or value in (value + value)[1:-1]:
        return (f"{KEY_ENV} holds {len(value)} character(s) but fewer than {KEY_MIN_DISTINCT} "
                f"different ones, or a block of them said again: not a key drawn at random; it "
                f"must be {KEY_FORMS}")
    if form == "base64":
        lacking = [what for what, has in (("upper case letter", str.isupper), ("lower case letter", str.islower),
                                          ("digit", str.isdigit)) if not any(map(has, value))]
        if lacking:
            rare = (" (a key drawn at random lacks a digit in about 4 of 1,000 draws of openssl "
                    "rand -base64 24: draw another)") if lacking == ["digit"] else ""
            return (f"{KEY_ENV} holds {len(value)} character(s) of base64 but no "
                    f"{' and no '.join(lacking)}: the form of a phrase a person typed{rare}; it must "
                    f"be {KEY_FORMS}")
    return None


def _base64_bytes(value: str) -> int | None:
    """How many bytes ``value`` decodes to as base64, or None when it is no proper base64: one
    alphabet (standard ``+/`` or URL-safe ``-_``, not both), padded with ``=`` to a multiple of 4
    characters or not padded at all (a length of 4n + 1 is none), each character of the
    alphabet (``validate=True``), and the encoding of the bytes it decodes to (the spare bits of
    its last character zero, as every encoder writes them)."""
    body = value.rstrip("=")
    padding = len(value) - len(body)
    if not body or len(body) % 4 == 1 or (padding and (padding > 2 or len(value) % 4)):
        return None
    urlsafe = bool(set(body) & set("-_"))
    if urlsafe and set(body) & set("+/"):
        return None
    altchars = b"-_" if urlsafe else b"+/"
    try:
        data = base64.b64decode(body + "=" * (-len(body) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(data, altchars=altchars).decode().rstrip("=") != body:
        return None  # spare bits set: typed, not encoded
    return len(data)


def log_names_key(environ: Mapping[str, str] = os.environ) -> bytes:
    """The key of this run's tags: :data:`KEY_ENV`'s value as it is written, in UTF-8 (its
    characters, not the bytes they encode), when it is set (the same key every run: tags
    comparable across runs, and a tag can be traced to its file by whoever holds the key:
    ``--find-tag``), else :data:`KEY_BYTES` random bytes drawn now and kept nowhere (tags of
    this run only, traceable by nobody).

    Raises ValueError when :data:`KEY_ENV` is set but not a key of :data:`KEY_MIN_BITS` random
    bits in one of :data:`KEY_FORMS` (:func:`key_problem`; an empty one too: a variable that
    was not filled in), saying how to fix it and never the key itself."""
    value = environ.get(KEY_ENV)
    if value is None:
        return secrets.token_bytes(KEY_BYTES)
    if problem := key_problem(value):
        raise ValueError(f"{problem}; set it to a key drawn at random (openssl rand -hex 32), or "
                         f"unset it for a key of this run only")
    return value.encode("utf-8", "surrogatepass")


ALLOWED_FORMAT_CHARACTERS = frozenset("\u200c\u200d\u200e\u200f\u061c\u00ad")
"""Formatting characters a legitimate name holds, allowed in a case and shown as they are
(:func:`printable_text`): ZERO WIDTH NON-JOINER (Persian words: the prefix ``mi-`` of a verb),
ZERO WIDTH JOINER (Devanagari, Sinhala conjuncts), LEFT-TO-RIGHT and RIGHT-TO-LEFT MARK, ARABIC
LETTER MARK (a mixed Latin and Arabic or Hebrew name) and the SOFT HYPHEN. Re-exported by
:mod:`drac_ssl.submission`, whose case-name rule allows them."""


def printable_text(text: str, keep: Collection[str] = ALLOWED_FORMAT_CHARACTERS) -> str:
    """``text`` (a name, a CSV cell) with each character a terminal or a listing shows as
    nothing, as a space or acts on (``str.isprintable`` False: control characters, line and
    paragraph separators, formatting and invisible characters, look-alike spaces, a lone
    surrogate of a byte that is no UTF-8) escaped as Python writes it (``\\r``, ``\\x03``,
    ``\\u202e``, ``\\udcff``), but those of ``keep`` (default :data:`ALLOWED_FORMAT_CHARACTERS`,
    which a legitimate name holds), so that a name shows as it is and a binary file's bytes never
    reach the terminal raw. The one rendering of a name's hidden characters in a message: the
    export's, the submission check's (:mod:`drac_ssl.submission` re-exports it), a broken link's
    target (:func:`drac_ssl.grading.image_file.path_refusal`), :func:`visible_text` and the forms
    :func:`said_forms` looks for. Standard library only (a final read, D7: three helpers wrote it,
    one of them without the allowed characters)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


def visible_text(text: str) -> str:
    """``text`` as a message shows it when that text is all it says of it (a folder listed by
    ``flatten``, a name ``--find-tag`` found): in single quotes, each hidden character escaped
    (:func:`printable_text` keeping none: ``'0\\r'``, ``'run\\xa0'``, ``'a\\u200cb'``), when it
    holds one, so that what a listing hides shows; as it is otherwise. A backslash is then
    doubled, as ``repr`` doubles it, before the hidden characters are escaped: ``'a\\\\b\\r'``
    for ``a\\b`` and a carriage return, where ``'a\\b\\r'`` would also read as a backspace
    (a review, F3). :func:`printable_text`, the form inside longer messages, is unchanged.
    :func:`drac_ssl.config.hidden_characters` names those characters in words."""
    shown = printable_text(text, keep=())
    if shown == text:
        return text
    return "'" + printable_text(text.replace("\\", "\\\\"), keep=()) + "'"


def said_forms(name: str) -> set[str]:
    """The forms in which a message may say ``name``: as it is; escaped
    (:func:`printable_text`: ``line\\nbreak.png`` for a name holding a line break); inside its
    ``repr`` (``{name!r}``, an exception's ``'/d/x.png'``: a backslash doubled, control
    characters escaped, a single quote escaped when the text also holds a double quote, so
    both ways); inside its :func:`shlex.quote` (a single quote written ``'"'"'``). The quotes
    around a ``repr`` or ``shlex.quote`` are left out: the name of a path's last part sits
    inside them, not at them."""
    forms = {name, printable_text(name), repr(name)[1:-1], repr(name + "'\"")[1:-4]}
    if "'" in name:
        forms.add(name.replace("'", "'\"'\"'"))
    return forms


class NameTagger:
    """Replaces each of ``names`` in a text, in each of its :func:`said_forms`, by its
    :meth:`tag` under ``key`` (default: a random key of this tagger only): as a whole token (not
    after or before a letter or digit, nor inside a decimal number: ``1.png`` is not tagged in
    ``11.png`` nor ``0.1.png``), the longest listed name first where several start at one
    place. Empty names and short numbers (:data:`SHORT_NUMBER`) are left out. Calling it on
    text without names returns it as it is.

    How: a dict of the said forms (form -> name) and one of the first token of each
    (:data:`_TOKEN`: ``Doe`` of ``Doe_Jane.png``) -> the lengths of the forms that start with
    it, longest first. Building them costs time and memory linear in the names. A text costs
    its words' look-up in the first tokens (in C: a line naming no file ends there); then the
    places where the first tokens found start: up to :data:`FIND_FIRSTS` different ones, a
    ``str.find`` of each; more, one walk over the text's tokens, in order, a set look-up each;
    and where a name may start there (not after a letter or digit), one look-up per length of
    the forms that start with that token, longest first, until one is there: a few
    (``Patient_0001.png`` and its stem share ``Patient``: two lengths), or as many as the
    names sharing a first token have lengths. So a write costs time linear in its length,
    times the number of distinct lengths among the forms sharing a first token: crafted names
    of one first token in 244 lengths cost seconds a megabyte. The same matches as the one regular
    expression of all the names it replaces, which took seconds to compile for 100,000 names
    (``bench/name_tags.py``). Tags are computed when first needed, then kept."""

    def __init__(self, names: Iterable[str], key: bytes | None = None) -> None:
        self.key = secrets.token_bytes(KEY_BYTES) if key is None else key
        self._forms: dict[str, str] = {}  # a said form -> its name (two names' form: the first's)
        self._lengths: dict[str, int | tuple[int, ...]] = {}  # a first token -> the forms' lengths
        self._tags: dict[str, str] = {}
        self._other_firsts: set[str] = set()  # the first tokens that are no word: "_", "."
        forms, lengths, first_token = self._forms, self._lengths, _TOKEN.match
        several: dict[str, set[int]] = {}
        for name in names:
            if not name or (len(name) <= 3 and SHORT_NUMBER.fullmatch(name)):
                continue
            plain = name.isprintable() and "'" not in name and "\\" not in name
            for said in (name,) if plain else said_forms(name):
                if forms.setdefault(said, name) is not name:
                    continue  # a form already listed, its length with it
                first = first_token(said).group()  # type: ignore[union-attr]  # a token at 0
                if not first.isalnum():
                    self._other_firsts.add(first)
                size, had = len(said), lengths.setdefault(first, len(said))
                if had != size:
                    several.setdefault(first, {had}).add(size)  # type: ignore[arg-type]
        for first, sizes in several.items():
            lengths[first] = tuple(sorted(sizes, reverse=True))

    def __len__(self) -> int:
        """How many said forms it holds (the listed names' forms, each once)."""
        return len(self._forms)

    def tag(self, name: str) -> str:
        """``name``'s tag under this tagger's key: ``[name 1a2b3c4d]`` (:func:`name_tag`)."""
        tag = self._tags.get(name)
        if tag is None:
            tag = self._tags[name] = name_tag(name, self.key)
        return tag

    def __call__(self, text: str) -> str:
        if not self._forms or not text:
            return text
        lengths = self._lengths
        firsts = lengths.keys() & _WORD.findall(text)  # in C: most lines hold none, and end here
        firsts.update(c for c in self._other_firsts if c in text)  # "." of ".DS_Store": a few
        if not firsts:
            return text
        if len(firsts) <= FIND_FIRSTS:  # a line naming a file or two: a search in C for each
            starts = []
            for first in firsts:
                at = text.find(first)
                while at >= 0:
                    starts.append((at, first))
                    at = text.find(first, at + 1)
            starts.sort()
        else:  # many: one walk over the tokens, in order (the words alone unless needed)
            pattern = _TOKEN if self._other_firsts & firsts else _WORD
            starts = [(token.start(), first) for token in pattern.finditer(text)
                      if (first := token.group()) in firsts]
        return self._replace(text, starts)

    def _replace(self, text: str, starts: list[tuple[int, str]]) -> str:
        """``text`` with the longest listed form that starts at each of ``starts`` (``(where,
        first token)``, in text order) and is whole there replaced by its name's tag."""
        forms, lengths, size = self._forms, self._lengths, len(text)
        pieces: list[str] = []
        done = 0
        for at, first in starts:
            if at < done or (at and (text[at - 1].isalnum() or (
                    text[at - 1] == "." and at >= 2 and text[at - 2].isdecimal()))):
                continue  # inside a name tagged already, or inside a word or a decimal number
            sizes = lengths[first]
            for length in (sizes,) if isinstance(sizes, int) else sizes:
                end = at + length
                if end > size or (end < size and (text[end].isalnum() or (
                        text[end] == "." and end + 1 < size and text[end + 1].isdecimal()))):
                    continue  # past the text, or followed by a letter, digit or decimals
                name = forms.get(text[at:end])
                if name is not None:
                    pieces += (text[done:at], self.tag(name))
                    done = end
                    break
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)


_SINGLE_BYTE_CONSOLES = frozenset({"ascii", "cp437", "cp850", "cp852", "cp858", "cp866", "koi8-r",
                                   "koi8-u", "mac-roman"})
"""Console encodings besides ISO-8859-N and Windows' cp125N whose bytes
:func:`byte_filter_encoding` filters: one byte a character, ASCII as it is."""


def byte_filter_encoding(encoding: str) -> str | None:
    """The encoding in which the bytes written to the ``buffer`` of a stream of ``encoding`` are
    read, tagged and written back (:class:`_TaggingBuffer`), or None: they pass as they are.
    Bytes are filtered only where every ASCII character is its own byte and nothing carries
    from one write to the next, so that a write is read on its own and every byte that holds
    no name is written back as it was: UTF-8 (``utf-8-sig`` read as UTF-8: no byte-order mark
    added), ASCII, ISO-8859-N (latin-1 ...), Windows' cp125N and the common DOS / KOI8 / Mac
    consoles (:data:`_SINGLE_BYTE_CONSOLES`). Not UTF-16 or UTF-32 (a byte-order mark, and a
    name's bytes are not its ASCII), UTF-7 and ISO-2022 (shifts that carry between writes),
    EBCDIC, the East Asian double-byte ones, or an encoding Python does not know: their byte
    writes name files untagged (their text writes are tagged)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return None
    if name in ("utf-8", "utf-8-sig"):
        return "utf-8"
    if name in _SINGLE_BYTE_CONSOLES or re.fullmatch(r"iso8859-\d+|cp125\d", name):
        return name
    return None


class _TaggingBuffer:
    """A binary stream (``sys.stdout.buffer``) that writes through ``buffer`` with ``tagger``
    applied to the bytes read as ``encoding`` (bytes not in it kept as they are:
    ``surrogateescape``); anything else is the buffer's own. Bytes written below it
    (``buffer.raw``, the file descriptor) pass unfiltered."""

    def __init__(self, buffer: BinaryIO, encoding: str, tagger: NameTagger) -> None:
        self._buffer = buffer
        self._encoding = encoding
        self._tagger = tagger

    def write(self, data: bytes | bytearray | memoryview) -> int:
        raw = bytes(data)
        text = raw.decode(self._encoding, "surrogateescape")
        tagged = self._tagger(text)
        self._buffer.write(raw if tagged is text else tagged.encode(self._encoding, "surrogateescape"))
        return len(raw)

    def writelines(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._buffer, attr)


class _TaggingStream:
    """A text stream that writes through ``stream`` with ``tagger`` applied, its ``buffer``
    too (:class:`_TaggingBuffer`); anything else (``flush``, ``fileno``, ``isatty``,
    ``encoding``) is the stream's own: bytes written to ``fileno()`` pass unfiltered."""

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

    @property
    def buffer(self) -> _TaggingBuffer | BinaryIO:
        """The stream's own ``buffer`` (AttributeError when it has none: a ``StringIO``) with
        the names tagged in the bytes written to it when the stream's encoding lets bytes be
        filtered (:func:`byte_filter_encoding`); the buffer itself otherwise, its bytes
        written as they are."""
        buffer = self._stream.buffer
        encoding = byte_filter_encoding(getattr(self._stream, "encoding", None) or "utf-8")
        return buffer if encoding is None else _TaggingBuffer(buffer, encoding, self._tagger)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._stream, attr)


@contextmanager
def tagged_console(names: Iterable[str] | Callable[[], Iterable[str] | None] | None,
                   environ: Mapping[str, str] = os.environ) -> Iterator[NameTagger | None]:
    """Within the ``with`` block, ``sys.stdout`` and ``sys.stderr`` (and their ``buffer``)
    write :class:`NameTagger` of ``names`` instead of each name, under this run's key
    (:func:`log_names_key` of ``environ``); None: the console as it is (``--log-names full``).
    ``names`` may be a function that gives them (or None): called here, so that an exception
    of its own, or of building the tagger, is not printed by Python with the names in its
    message: it is said in one line that names no file (its type and where it was raised) and
    ``SystemExit(1)`` raised. A :data:`KEY_ENV` that is no key of :data:`KEY_MIN_BITS` random bits
    (:func:`key_problem`) is said (``error: ...``, the fix, never the key) and ``SystemExit(2)``
    raised (bad input), nothing done. Restores both streams after (an
    exception too). Anything else that leaves the block and that Python would print after it,
    the names in its messages untagged, is printed here, tagged, and ``SystemExit`` raised
    instead with Python's exit code (:func:`_say_tagged`): an unexpected exception (a bug: its
    traceback, exit 1), a Ctrl-C (``KeyboardInterrupt``, raised perhaps while another exception
    was handled: the traceback of both, exit 130, 143 for a SIGTERM: :func:`drac_ssl.starting.interrupt_exit_code`), a
    ``SystemExit`` with a message (the message, exit 1). A ``SystemExit`` with an integer code
    or None passes as it is (Python prints nothing for it). Ctrl-C while the names are gathered:
    one line, exit 130 (143 for a SIGTERM)."""
    try:
        if callable(names):
            names = names()
        if names is None:
            tagger = None
        else:
            try:
                key = log_names_key(environ)
            except ValueError as exc:
                print(f"error: --log-names tag: {exc}; nothing was done", file=sys.stderr)
                raise SystemExit(2) from None
            tagger = NameTagger(names, key)
    except BaseException as exc:
        if _passes(exc):
            raise
        if isinstance(exc, KeyboardInterrupt):
            print("error: --log-names tag: interrupted while the file names to hide were gathered; "
                  "nothing was done", file=sys.stderr)
            raise SystemExit(interrupt_exit_code()) from None  # 130 Ctrl-C, 143 SIGTERM
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
    except BaseException as exc:
        if _passes(exc):
            raise
        raise SystemExit(_say_tagged(exc)) from None
    finally:
        sys.stdout, sys.stderr = saved


def _passes(exc: BaseException) -> bool:
    """Whether ``exc`` leaves :func:`tagged_console` as it is: a ``SystemExit`` whose code is an
    integer or None (the command's exit code, which Python prints nothing for), or the
    ``GeneratorExit`` of the context manager itself."""
    return isinstance(exc, GeneratorExit) or (
        isinstance(exc, SystemExit) and (exc.code is None or isinstance(exc.code, int)))


def _say_tagged(exc: BaseException) -> int:
    """Print on the (tagged) ``sys.stderr`` what Python would print for ``exc`` leaving the
    program: a ``SystemExit``'s message, or the traceback, with the exceptions it was raised
    while handling; return the exit code: 130 for Ctrl-C (``KeyboardInterrupt``), 143 for a
    SIGTERM (:func:`drac_ssl.starting.interrupt_exit_code`), 1 otherwise, as Python's. A second Ctrl-C while printing stops the
    printing (nothing is printed untagged) and exits 130 (143)."""
    code = interrupt_exit_code() if isinstance(exc, KeyboardInterrupt) else 1
    try:
        if isinstance(exc, SystemExit):
            print(exc.code, file=sys.stderr)
        else:
            traceback.print_exception(exc)
        sys.stderr.flush()
    except KeyboardInterrupt:
        return interrupt_exit_code()
    return code


def with_stems(names: Iterable[str]) -> set[str]:
    """``names`` and the stem of each (``scan.dat`` -> ``scan``: a fix that suggests a rename
    says ``rename it scan.png``), a stem shorter than :data:`STEM_MIN` characters left out
    (:class:`NameTagger` leaves short numbers out too), and a stem that is one of
    :data:`CONSOLE_WORDS` (``error`` of ``error.txt``: every ``error:`` line would start with a
    tag; the name itself is kept)."""
    out = set(names)
    for name in list(out):
        stem = os.path.splitext(name)[0]
        if len(stem) >= STEM_MIN and stem != name and stem not in CONSOLE_WORDS:
            out.add(stem)
    return out


def path_names(path: str | os.PathLike[str], last_parts: bool = True) -> set[str]:
    """The names by which a message may say ``path``, a path given on the command line, or a
    folder above it: the path whole, as given, normalised (:func:`os.path.normpath`: ``./x/``
    as ``x``), absolute and with its links resolved (:func:`os.path.realpath`), and each folder
    above those as a whole path (``../p`` and ``/home/u/p`` of ``../p/Doe_Jane``); and the
    last part of each (``Doe_Jane``, the folder's name said alone: ``Doe_Jane_flat``). Not each
    part as a word of its own (``data``, ``test``, ``export``, ``runs``: tagged in every line
    that says the word, ``--grades`` of a ``grades/`` folder included), so a folder above the
    path is tagged where a message prints it as a path, with a separator, not where it is
    said alone as a relative name of one part (``p`` of ``p/x.png``); nor the root, ``.`` or
    ``..``. Stems: :func:`with_stems`. With ``last_parts=False`` (RUN, the current folder: a
    last part such as ``default`` or ``drac_ssl`` is an everyday word of the commands' lines)
    the whole paths only: each form of ``path`` itself, whatever its parts, and the folders
    above it as whole paths."""
    given = os.fspath(path)
    out: set[str] = set()
    for form in {given, os.path.normpath(given), os.path.abspath(given), os.path.realpath(given)}:
        form = form.rstrip(os.sep) or form  # "clinic/" as "clinic"; "/" stays
        last = os.path.basename(form)
        if not last_parts:
            if set(form) - {".", os.sep}:  # not the root, no dots only
                out.add(form)
        elif last not in ("", ".", ".."):
            out.add(last)
        here = form
        while here and (os.path.isabs(here) or os.sep in here):
            if here != os.path.dirname(here) and set(here) - {".", os.sep}:  # not the root, no dots only
                out.add(here)
            up = os.path.dirname(here)
            if up == here:
                break
            here = up
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


def csv_first_column(path: str | os.PathLike[str], limit: int = 1_000_000, *, text: str | None = None) -> list[str]:
    """The first cell of each row of the CSV ``path`` after its header (a submission's cases;
    read loosely: any encoding error replaced, a file that cannot be read gives []); at most
    ``limit`` rows. ``text``: the file's content, decoded and without its byte-order mark, when
    the caller has read it already (the submission check): not read again."""
    try:
        with (io.StringIO(text, newline="") if text is not None else
              open(path, newline="", encoding="utf-8-sig", errors="replace")) as fh:
            rows = csv.reader(fh)
            next(rows, None)
            return [row[0] for _, row in zip(range(limit), rows, strict=False) if row]
    except (OSError, csv.Error):
        return []
