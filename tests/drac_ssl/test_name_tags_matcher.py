""":mod:`drac_ssl.name_tags` (``--log-names tag``) after the review of its matcher: a dict of the
names' forms instead of one regular expression of all of them (which took seconds to compile
for 100,000 names: ``bench/name_tags.py`` measures it), the ``repr`` and ``shlex.quote`` forms
of a name tagged too, tags keyed by a secret of the run (a guessed name cannot be confirmed by
hashing it), and bytes written to ``sys.stdout.buffer`` filtered like text. The export's
console runs: ``test_export_log_names.py``.
"""

from __future__ import annotations

import base64
import hmac
import io
import random
import re
import secrets
import shlex
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from drac_ssl import name_tags
from drac_ssl.name_tags import (
    FIND_FIRSTS,
    KEY_ENV,
    KEY_FORMS,
    SHORT_NUMBER,
    NameTagger,
    key_problem,
    log_names_key,
    name_tag,
    said_forms,
    tagged_console,
)

KEY = "9f3c0e7a51d24b86c0ffee1d2a7b5e43"  # 32 hex digits: the shortest key accepted


def _reference(names: Iterable[str], text: str, tag: Callable[[str], str]) -> str:
    """The rule of :class:`NameTagger` as written, by brute force: left to right, at each place
    where a name may start (not after a letter or digit, nor after a digit and a dot), the
    longest said form of a listed name written there that ends a token (not before a letter or
    digit, nor before a dot and a digit) is replaced by its name's tag, and the search goes on
    after it; elsewhere the character is kept."""
    forms: dict[str, str] = {}
    for name in names:
        if name and not SHORT_NUMBER.fullmatch(name):
            for said in said_forms(name):
                forms.setdefault(said, name)
    longest_first = sorted(forms, key=len, reverse=True)
    out, i, n = [], 0, len(text)
    while i < n:
        inside = i > 0 and (text[i - 1].isalnum() or (text[i - 1] == "." and i >= 2 and text[i - 2].isdecimal()))
        for said in () if inside else longest_first:
            j = i + len(said)
            if text.startswith(said, i) and (j == n or not (
                    text[j].isalnum() or (text[j] == "." and j + 1 < n and text[j + 1].isdecimal()))):
                out.append(tag(forms[said]))
                i = j
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


@pytest.mark.parametrize("find_firsts", [0, FIND_FIRSTS, 1_000])
def test_the_matcher_gives_what_the_rule_says_on_random_names_and_texts(
        find_firsts: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Names and texts drawn from letters, digits (an Arabic-Indic one too), dots, quotes,
    backslashes, spaces and a line break, so that names nest, share first tokens, sit inside
    numbers and words, and have escaped forms: the tagger agrees with the brute-force rule on
    every text, whether it finds the first tokens with ``str.find`` (up to FIND_FIRSTS of them)
    or walks the tokens (0: always)."""
    monkeypatch.setattr(name_tags, "FIND_FIRSTS", find_firsts)
    rng = random.Random(7)
    alphabet = "ab1٣._ -'\"\\\né"
    for case in range(400):
        names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(1, 8))]
        tagger = NameTagger(names, KEY.encode())
        pieces = []
        for _ in range(rng.randint(1, 10)):
            if rng.random() < 0.5:
                pieces.append(rng.choice(sorted(said_forms(rng.choice(names)))))
            else:
                pieces.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))))
        text = "".join(pieces)
        assert tagger(text) == _reference(names, text, tagger.tag), (case, names, text)


def test_the_tagger_tags_long_shared_and_nested_names() -> None:
    """The longest name wins where several start at one place; a name inside a word or a
    decimal number is not one; many names sharing a first token cost a look-up per length."""
    names = [f"Patient_{i:05d}.png" for i in range(20_000)] + ["Patient", "Patient_00007", "a.b", "a.b.c"]
    tagger = NameTagger(names, KEY.encode())
    tag = tagger.tag
    assert tagger("Patient_00007.png, Patient_00007.pngx, Patient_00007 and Patient") == (
        f"{tag('Patient_00007.png')}, {tag('Patient_00007')}.pngx, {tag('Patient_00007')} and {tag('Patient')}")
    # a.b inside 1.a.b, or followed by ".1", is part of a number
    assert tagger("a.b.c a.b.cd 1.a.b a.b.1") == f"{tag('a.b.c')} {tag('a.b')}.cd 1.a.b a.b.1"
    assert tagger("x" * 10_000) == "x" * 10_000 and len(tagger) == 20_004


class _ScanCountingText(str):
    """A text that counts the characters its own searches read (``find``, ``index``,
    ``count``, ``in``): a search from ``start`` reads up to the end of what it found, or to
    the end of the text when it found nothing."""

    scanned = 0

    def _read(self, sub: str, start: int | None, end: int | None) -> int:
        start = 0 if start is None else start
        stop = len(self) if end is None else end
        at = str.find(self, sub, start, stop)
        _ScanCountingText.scanned += (stop - start) if at < 0 else (at + len(sub) - start)
        return at

    def find(self, sub: str, start: int | None = None, end: int | None = None) -> int:  # type: ignore[override]
        return self._read(sub, start, end)

    def index(self, sub: str, start: int | None = None, end: int | None = None) -> int:  # type: ignore[override]
        at = self._read(sub, start, end)
        if at < 0:
            raise ValueError("substring not found")
        return at

    def count(self, sub: str, start: int | None = None, end: int | None = None) -> int:  # type: ignore[override]
        _ScanCountingText.scanned += len(self)
        return str.count(self, sub, start, end)

    def __contains__(self, sub: object) -> bool:
        return isinstance(sub, str) and self._read(sub, None, None) >= 0


class _CountingLookups(dict):  # type: ignore[type-arg]
    """The tagger's first tokens -> lengths, counting each look-up of one token."""

    lookups = 0

    def get(self, key: object, default: object = None) -> object:
        _CountingLookups.lookups += 1
        return super().get(key, default)

    def __getitem__(self, key: object) -> object:
        _CountingLookups.lookups += 1
        return super().__getitem__(key)


def test_a_write_is_read_once_whatever_the_number_of_names_in_it() -> None:
    """Review F4: each first token found in a write was searched for from the start of the
    write (``text.find``), so a write naming N files cost N passes over it (20,000 names in one
    0.9 MB write: 15.7 s). The write's tokens are now walked once, in order, one look-up each:
    counted here, not timed. 2,000 names with 2,000 first tokens in one write: the old search
    read about 1,000 times the text."""
    names = [f"Given{i}_Family{i}.png" for i in range(2_000)]
    text = "".join(f"skipped: /d/{name}: a truncated PNG\n" for name in names)
    tagger = NameTagger(names, KEY.encode())
    tagger._lengths = _CountingLookups(tagger._lengths)  # type: ignore[assignment]
    _ScanCountingText.scanned = _CountingLookups.lookups = 0
    assert tagger(_ScanCountingText(text)) == "".join(
        f"skipped: /d/{tagger.tag(name)}: a truncated PNG\n" for name in names)
    tokens = len(re.findall(r"[^\W_]+|[\W_]", text))  # a word, or any other one character
    assert _ScanCountingText.scanned <= 2 * len(text), (_ScanCountingText.scanned, len(text))
    assert _CountingLookups.lookups <= tokens, (_CountingLookups.lookups, tokens)
    # a write with a few first tokens of names: a search of each, a few passes at most
    few = "".join(f"skipped: /d/{name}: a truncated PNG\n" for name in names[:FIND_FIRSTS] * 50)
    _ScanCountingText.scanned = 0
    assert tagger(_ScanCountingText(few)).count("[name ") == 50 * FIND_FIRSTS
    assert _ScanCountingText.scanned <= (FIND_FIRSTS + 1) * len(few), (_ScanCountingText.scanned, len(few))


def test_a_name_followed_by_decimals_is_left_as_it_is() -> None:
    tagger = NameTagger(["a.b", "Kim"], KEY.encode())
    assert tagger("a.b.1 and a.b, Kim.2 and Kim.x") == f"a.b.1 and {tagger.tag('a.b')}, Kim.2 and {tagger.tag('Kim')}.x"


def test_a_name_is_tagged_in_its_repr_and_shell_quoted_forms(capsys: pytest.CaptureFixture[str]) -> None:
    """The package says a name with ``{name!r}`` (a case of a CSV, an exception's path) and
    ``shlex.quote`` (a fix's command): a backslash doubled, a quote escaped or written
    ``'"'"'``; each such form is tagged as the name itself."""
    names = ["O'Brien \"Pat\".png", "Doe\\Jane.png", "Kim's scan.png", "tab\there.png"]
    with tagged_console(names, environ={KEY_ENV: KEY}) as tagger:
        assert tagger is not None
        for name in names:
            quoted = str(Path('/d"q') / name)  # a folder with a double quote: repr escapes a single one
            print(f"case {name!r}; {str(Path('/d') / name)!r}; {quoted!r}; "
                  f"--images {shlex.quote('/d/' + name)}; {shlex.join(['ls', name])}")
    out = capsys.readouterr().out
    for secret in ("Brien", "Pat", "Jane", "Kim", "here"):
        assert secret not in out, (secret, out)
    kim = tagger.tag("Kim's scan.png")
    assert f"case \"{kim}\"; \"/d/{kim}\"; '/d\"q/{kim}'; --images '/d/{kim}'; ls '{kim}'\n" in out, out
    doe = tagger.tag("Doe\\Jane.png")
    assert f"case '{doe}'; '/d/{doe}'; '/d\"q/{doe}'; --images '/d/{doe}'; ls '{doe}'\n" in out, out
    assert f"case '{tagger.tag('tab' + chr(9) + 'here.png')}'" in out


def test_said_forms_are_the_ones_python_writes() -> None:
    name = "O'Brien \"Pat\"\\x.png"
    forms = said_forms(name)
    assert repr(name)[1:-1] in forms and repr(name + '"')[1:-2] in forms  # ' escaped or not
    assert shlex.quote(name)[1:-1] in forms and name in forms and len(said_forms("plain.png")) == 1


def test_tags_are_keyed_by_a_secret_of_the_run() -> None:
    """A tag is the HMAC-SHA-256 of the name under the run's key: without the key a guessed name
    cannot be confirmed by hashing it. Without ``DRAC_SSL_LOG_NAMES_KEY`` each run draws its
    own random key (two runs tag one name differently); with it, every run tags alike."""
    name = "Smith_John_OD.png"
    first, second = NameTagger([name]), NameTagger([name])
    assert len(first.key) == 32 and first.key != second.key and first.tag(name) != second.tag(name)
    assert first(name) == first.tag(name) == f"[name {hmac.new(first.key, name.encode(), 'sha256').hexdigest()[:8]}]"
    assert first.tag(name) != name_tag(name)  # not the unkeyed SHA-256 anyone can compute
    assert log_names_key({}) != log_names_key({}) and len(log_names_key({})) == 32
    assert log_names_key({KEY_ENV: KEY}) == KEY.encode()
    assert NameTagger([name], log_names_key({KEY_ENV: KEY})).tag(name) == name_tag(name, KEY.encode())
    for short in ("", "secret"):
        with pytest.raises(ValueError, match=f"{KEY_ENV} holds {len(short)} character.*openssl rand -hex 32"):
            log_names_key({KEY_ENV: short})


def _drawn_base64(key: str) -> list[str]:
    """``[key]``, a base64 key drawn at random, or [] when it holds no digit (about 2 draws in 100
    of 16 bytes, 4 in 1,000 of 24): :func:`key_problem` refuses those, saying to draw another."""
    if any(c.isdigit() for c in key):
        return [key]
    problem = key_problem(key)
    assert problem is not None and "no digit" in problem and "draw another" in problem, key
    return []


def test_a_key_must_show_128_random_bits_in_its_form(capsys: pytest.CaptureFixture[str]) -> None:
    """Review F3: any 16 characters were accepted ('hospital-key-001'), and such a key can be
    searched offline from the (name, tag) pairs of a log. A key must now be 32 hex digits or
    more, or base64 of 16 bytes or more, with 8 different characters at least; any other is
    refused (exit 2) in words that never repeat it."""
    accepted = [secrets.token_hex(16), secrets.token_hex(32), secrets.token_hex(16).upper(), KEY,
                *_drawn_base64(base64.b64encode(secrets.token_bytes(16)).decode()),  # 24 characters, "==" ending
                *_drawn_base64(base64.b64encode(secrets.token_bytes(32)).decode()),
                *_drawn_base64(base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("="))]
    for key in accepted:
        assert key_problem(key) is None, key
        assert log_names_key({KEY_ENV: key}) == key.encode()  # the characters, as openssl's -hmac took them
    refused = ["hospital-key-001", "hospital key of the eye clinic, 2026", secrets.token_hex(16)[:31],
               base64.b64encode(secrets.token_bytes(15)).decode(), "0" * 64, "ab" * 16,
               "Müller" * 6, secrets.token_hex(16) + "\n", ""]
    for key in refused:
        problem = key_problem(key)
        assert problem is not None and KEY_FORMS in problem, key
        assert not key or key not in problem
        ran = []
        with pytest.raises(SystemExit) as ended:
            with tagged_console(["x.png"], environ={KEY_ENV: key}):
                ran.append(1)
        err = capsys.readouterr().err
        assert ended.value.code == 2 and not ran and "openssl rand -hex 32" in err, err
        assert err.startswith(f"error: --log-names tag: {KEY_ENV} holds {len(key)} character(s)")
        assert not key or key not in err, err


def test_a_key_too_short_is_refused_before_anything_is_done(capsys: pytest.CaptureFixture[str]) -> None:
    ran = []
    with pytest.raises(SystemExit) as ended:
        with tagged_console(["x.png"], environ={KEY_ENV: "hospital"}):
            ran.append(1)
    assert ended.value.code == 2 and not ran
    err = capsys.readouterr().err
    assert err.startswith(f"error: --log-names tag: {KEY_ENV} holds 8 character(s)") and "nothing was done" in err
    with tagged_console(None, environ={KEY_ENV: "hospital"}) as none:  # full: no key needed
        assert none is None


def test_bytes_written_to_the_stdout_buffer_are_tagged(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sys.stdout.buffer.write`` went around the filter; its bytes are read in the stream's
    encoding, tagged and written (bytes not in the encoding kept as they are)."""
    raw_out, raw_err = io.BytesIO(), io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw_out, encoding="utf-8", write_through=True))
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(raw_err, encoding="utf-8", write_through=True))
    name = "Müller_Anna.png"
    with tagged_console([name], environ={KEY_ENV: KEY}) as tagger:
        assert tagger is not None
        assert sys.stdout.buffer.write(f"skipped: /d/{name}\n".encode()) == len(f"skipped: /d/{name}\n".encode())
        sys.stdout.buffer.write(b"\xff a byte that is no UTF-8\n")
        print(f"text: {name}")
        sys.stderr.buffer.writelines([f"error: {name}\n".encode()])
    tag = tagger.tag(name).encode()
    assert raw_out.getvalue() == b"skipped: /d/" + tag + b"\n\xff a byte that is no UTF-8\n" + b"text: " + tag + b"\n"
    assert raw_err.getvalue() == b"error: " + tag + b"\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-7", "iso2022_jp", "cp500"])
def test_bytes_to_a_stream_of_another_encoding_pass_as_they_are(
        encoding: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F7: a byte write was read in the stream's encoding and, a name tagged, encoded
    again whole: with PYTHONIOENCODING=utf-16 a byte-order mark landed in the middle of the
    stream. Bytes are filtered only for an encoding in which every ASCII character is its own
    byte and no state carries from one write to the next; others (UTF-16, UTF-32, UTF-7, the
    ISO-2022 ones, EBCDIC's cp500) pass as they are written; their text writes are tagged."""
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding=encoding, write_through=True))
    name = "Doe_Jane.png"
    data = f"skipped: {name}\n".encode(encoding)
    with tagged_console([name], environ={KEY_ENV: KEY}) as tagger:
        assert tagger is not None
        sys.stdout.buffer.write(data)
    assert raw.getvalue() == data


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "ascii", "latin-1", "cp1252", "iso8859-15", "cp437"])
def test_bytes_to_a_stream_of_an_ascii_compatible_encoding_are_tagged(
        encoding: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The encodings whose byte writes are filtered: a name tagged, every other byte as it was
    written (bytes not in the encoding too), no byte-order mark added (utf-8-sig's is read and
    written as UTF-8)."""
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding=encoding, write_through=True))
    name = "Doe_Jane.png"
    with tagged_console([name], environ={KEY_ENV: KEY}) as tagger:
        assert tagger is not None
        sys.stdout.buffer.write(b"\x81\x8d\xff " + name.encode("ascii") + b" \x00\x9d\n")
    assert raw.getvalue() == b"\x81\x8d\xff " + tagger.tag(name).encode("ascii") + b" \x00\x9d\n"


def test_a_console_without_a_buffer_still_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    with tagged_console(["x.png"], environ={KEY_ENV: KEY}):
        assert not hasattr(sys.stdout, "buffer")
        print("x.png")
        said = sys.stdout.getvalue()
    assert "x.png" not in said and said.startswith("[name ")


def test_an_interrupt_or_an_exit_message_leaving_the_block_is_said_tagged(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Review F5: only an ``Exception`` was caught inside the filter. A Ctrl-C while another
    exception was handled left the block, and Python printed both tracebacks after the
    streams were restored, names and all; so did ``SystemExit('error: <name>')`` (its message
    printed, exit 1). Each is printed tagged now: exit 130 for Ctrl-C, 1 for the others; an
    integer or empty ``SystemExit`` is the command's own exit code and passes as it is."""
    name = "Doe_Jane_OD.png"
    with pytest.raises(SystemExit) as ended:
        with tagged_console([name], environ={KEY_ENV: KEY}) as tagger:
            try:
                raise OSError(f"cannot read /d/{name}")
            except OSError:
                raise KeyboardInterrupt(f"while saying {name}")  # noqa: B904 - the implicit chain is the point
    err = capsys.readouterr().err
    assert tagger is not None and ended.value.code == 130, err
    assert "Doe" not in err and f"KeyboardInterrupt: while saying {tagger.tag(name)}" in err, err
    assert f"OSError: cannot read /d/{tagger.tag(name)}" in err and "During handling" in err, err

    with pytest.raises(SystemExit) as ended:
        with tagged_console([name], environ={KEY_ENV: KEY}) as tagger:
            raise SystemExit(f"error: /d/{name} is gone")
    err = capsys.readouterr().err
    assert tagger is not None and ended.value.code == 1 and err == f"error: /d/{tagger.tag(name)} is gone\n"

    for code in (0, 3, None):
        with pytest.raises(SystemExit) as ended:
            with tagged_console([name], environ={KEY_ENV: KEY}):
                raise SystemExit(code)
        assert ended.value.code == code and capsys.readouterr().err == ""


def test_an_interrupt_while_the_names_are_gathered_names_no_file(capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C while the folder is listed (a large one): one line, exit 130, no traceback whose
    chained exception could name a file; a ``SystemExit`` with a message there: exit 1, its
    message not printed."""
    def interrupted() -> list[str]:
        try:
            raise OSError("cannot list /d/Doe_Jane")
        except OSError:
            raise KeyboardInterrupt  # noqa: B904 - a chain, as a real Ctrl-C would have

    def exits() -> list[str]:
        raise SystemExit("error: /d/Doe_Jane")

    for gather, code in ((interrupted, 130), (exits, 1)):
        with pytest.raises(SystemExit) as ended:
            with tagged_console(gather, environ={KEY_ENV: KEY}):
                pytest.fail("the block ran")
        err = capsys.readouterr().err
        assert ended.value.code == code and "Doe" not in err and err.count("\n") == 1, err
        assert err.startswith("error: --log-names tag:") and "nothing was done" in err, err


def test_typed_phrases_in_a_key_s_form_are_refused_and_drawn_keys_accepted() -> None:
    """Review F2: the URL-safe base64 form took typed phrases (``hospital-eye-clinic-key-0001``
    decoded to 21 bytes), and a block of hex digits said twice passed (16 different ones).
    base64 must now decode properly (one alphabet, right padding or none, the encoding of its
    bytes) to 16 bytes or more and hold upper and lower case letters and digits; no key may be a
    block said again. ``openssl rand -hex 32`` and ``-base64 24`` keys (drawn here with
    :mod:`secrets`, as openssl writes them) pass."""
    typed = ["hospital-eye-clinic-key-0001", "correcthorsebatterystaple", "abcdefgh" * 4,
             "0123456789abcdef" * 2, "CorrectHorseBatteryStaple1",  # 26 characters: spare bits set
             "Aa1" + "Q" * 19 + "+-",  # both alphabets
             base64.b64encode(secrets.token_bytes(18)).decode() + "=",  # padding of no quartet
             base64.urlsafe_b64encode(secrets.token_bytes(15)).decode() + "A"]  # 21 characters: 4n + 1
    for key in typed:
        problem = key_problem(key)
        assert problem is not None and KEY_FORMS in problem and key not in problem, key
    for _ in range(20):
        assert key_problem(secrets.token_hex(32)) is None  # openssl rand -hex 32: 64 hex digits
    drawn = [base64.b64encode(secrets.token_bytes(24)).decode() for _ in range(20)]  # -base64 24
    assert len(accepted := [key for key in drawn if _drawn_base64(key)]) >= 15
    assert all(key_problem(key) is None for key in accepted), accepted
    assert key_problem(base64.urlsafe_b64encode(bytes(range(65, 81))).decode()) is None  # QUJD...: upper, lower, digits
    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "deploying.md").read_text(
        encoding="utf-8").split())
    assert "Only the key's form is checked, as the command cannot measure randomness" in page
    assert "draw it with `openssl rand -hex 32`" in page and "`hospital-eye-clinic-key-0001`" in page


class _CountedForms(dict):
    """The tagger's dict of said forms, counting its look-ups."""

    looked = 0

    def get(self, key, default=None):  # type: ignore[no-untyped-def]
        self.looked += 1
        return super().get(key, default)


def test_a_write_costs_a_look_up_per_length_of_the_forms_sharing_a_first_token() -> None:
    """Review F6: the docs said a write costs time linear in its length "however many names";
    at each place a first token starts it is one look-up per distinct length of the forms
    sharing that token, so names crafted to share one in many lengths cost that many times
    more (seconds a megabyte for 244 lengths). Counted here, not timed; the docstrings say it."""
    text = ("Doe" + " " * 250) * 20  # each length ends on a space: looked up
    for lengths in (1, 244):
        tagger = NameTagger(["Doe_" + "x" * k for k in range(1, lengths + 1)], b"k" * 32)
        tagger._forms = counted = _CountedForms(tagger._forms)
        assert tagger(text) == text
        assert counted.looked == 20 * lengths
    for said in (name_tags.__doc__, NameTagger.__doc__):
        assert said is not None and "however many names it holds" not in said
        assert "times the number of distinct lengths among the" in " ".join(said.split())
