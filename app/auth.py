"""The login file of ``python -m app --auth-file FILE``: who may use the app.

One login per line, ``user:secret``, where ``secret`` is, preferably, a password hash::

    alice:scrypt$16384$8$5$<salt, base64>$<hash, base64>

``scrypt``, the scheme; ``16384``, ``8``, ``5``, scrypt's cost ``n`` (a power of two), block
size ``r`` and parallelism ``p`` (:data:`SCRYPT_N`, :data:`SCRYPT_R`, :data:`SCRYPT_P` for new
lines); then the line's own random salt (:data:`SALT_BYTES`) and the :data:`HASH_BYTES`-byte
``hashlib.scrypt`` of the UTF-8 password, both in standard base64 (with ``=`` padding).
``python -m app.auth hash USER`` writes such a line (:func:`main`): it asks for the password
without echoing it (or reads one line from stdin when stdin is not a terminal) and prints the
line, to be put in the file in place of the user's old one. A password is checked by hashing
what was typed with the line's salt and parameters and comparing with ``hmac.compare_digest``
(:func:`verify_password`).

A ``secret`` that does not start with ``scrypt$`` is a plaintext password (the older format):
still accepted, for now, but ``python -m app`` warns at every start naming the file, its lines
and the command that converts each (:func:`plaintext_warning`). A ``secret`` that starts with
``scrypt$`` and is not a well-formed hash line (a field missing, a parameter out of range or
asking more work than a check may take, bad base64) is an :class:`AuthFileError` naming the file
and line.

The rest of the format: the user name is everything before the first colon (spaces around it
are ignored; it may not hold a space, nor more than :data:`MAX_USER_CHARS` characters); the secret is everything after it (so a plaintext
password may hold colons; spaces around it are ignored, so ``bob : pw2`` is ``bob`` with
``pw2``); a byte-order mark, as Notepad writes, is ignored; blank lines and lines starting with
``#`` are skipped. gradio asks for one of these logins before it serves the page or its API,
through :class:`app.login_guard.LoginGuard` (the throttle and the record of login attempts).
Errors name the file and the line, never the line's text: it may hold a password.

A server on another interface than the loopback one (:func:`is_loopback_host`) needs a login
file or an explicit ``--insecure-no-auth`` (:func:`open_host_refusal`): without either it does
not start; nor on a login file that other users of the machine may read or that holds a
plaintext password (:func:`open_host_auth_file_refusal`), which on loopback is only warned.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import hashlib
import hmac
import ipaddress
import os
import secrets
import shlex
import stat
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple, TextIO

__all__ = ["HASH_BYTES", "INSECURE_NO_AUTH", "MAX_CONCURRENT_SCRYPT", "MAX_SCRYPT_WORK", "MAX_USER_CHARS", "SALT_BYTES", "SCHEME",
           "SCRYPT_N", "SCRYPT_P", "SCRYPT_R", "AuthFileError", "Login", "bind_name", "common_parameters",
           "MIN_PASSWORD_CHARS", "hash_command", "hash_password", "is_loopback_host", "main",
           "open_host_auth_file_refusal", "open_host_refusal",
           "parameter_warning", "parse_hash", "plaintext_warning", "read_auth_file", "readable_by_others",
           "verify_password"]

INSECURE_NO_AUTH = "--insecure-no-auth"
"""The flag with which an operator says that a server off the loopback interface needs no login
of its own (an authenticating reverse proxy in front does it)."""

SCHEME = "scrypt"
"""The first field of a hashed secret, ``scrypt$n$r$p$salt$hash``."""
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 5
"""scrypt's cost, block size and parallelism for new lines: OWASP's minimum for scrypt in one of
its equal-strength forms (n=2^14, r=8, p=5), 16 MiB of memory per check and, as
``hashlib.scrypt`` runs the ``p`` lanes one after another, a fraction of a second of one core."""
SALT_BYTES = 16
"""Random bytes of salt per line (``secrets.token_bytes``)."""
HASH_BYTES = 32
"""Bytes of scrypt output stored per line."""

MAX_SCRYPT_WORK = 2**23
"""The most scrypt work a line may ask for one check, ``n * r * p`` (the count of the block
mixes that the check runs one after another): 12.8 times the new lines' 2^14 * 8 * 5, so that a
line cannot make every check, and the unknown users' too, take many seconds."""
MIN_PASSWORD_CHARS = 12
"""The shortest password ``python -m app.auth hash`` makes a line for (:func:`main`): a login
file that leaks is guessed at offline, at any speed, whatever the app's throttle; 12 characters
(or a few random words) puts that out of reach where 4 or 6 do not."""
MAX_USER_CHARS = 256
"""The longest user name, in characters, that a login file may hold; a longer typed name is
refused without hashing (:class:`app.login_guard.LoginGuard`): no line can have it."""

MAX_CONCURRENT_SCRYPT = 2
"""The most scrypt computations that run at once in one process (the login checks of
:class:`app.login_guard.LoginGuard` and the hashing of plaintext lines at start, alike); more
wait their turn, in the worker thread that asked (never on the event loop). Each one holds
``128 * r * (n + p + 2)`` bytes while it runs (16 MiB for new lines), so a flood of logins
holds at most twice that (32 MiB; 512 MiB for the largest lines :func:`parse_hash` accepts),
and keeps at most two cores busy, instead of one scrypt per concurrent login (30 at once, up
to the throttle's cap). Every check waits for the same slots, so the wait tells nothing about
the name typed."""

_N_RANGE = (2**10, 2**20)  # n: a power of two in this range, below 2**(16 * r) (OpenSSL's rule)
_R_RANGE, _P_RANGE = (1, 32), (1, 64)
_MAX_MEMORY = 2**28  # bytes scrypt may use for one check (256 MiB): a line cannot ask more
_SALT_RANGE, _HASH_RANGE = (16, 64), (16, 64)  # bytes, after base64
_scrypt_slots = threading.BoundedSemaphore(MAX_CONCURRENT_SCRYPT)  # held while hashlib.scrypt runs


class AuthFileError(ValueError):
    """A login file that cannot be used: the message names it, the line and the fix."""


class Login(NamedTuple):
    """One login of the file: ``user``, its ``secret`` (a ``scrypt$...`` hash, or a plaintext
    password), and the ``line`` it is on (1-based; 0: not from a file)."""

    user: str
    secret: str
    line: int = 0

    @property
    def hashed(self) -> bool:
        """True for a ``scrypt$...`` secret, False for a plaintext password."""
        return self.secret.startswith(f"{SCHEME}$")


class _Scrypt(NamedTuple):
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def hash_command(user: str = "USER") -> str:
    """The command that prints ``user``'s hashed login line (:func:`main`), with the running
    interpreter (:func:`drac_ssl.starting.python_command`): ``.venv/bin/python -m app.auth hash
    alice``; ``user`` quoted for a shell where it needs it (default ``USER``, the placeholder)."""
    from drac_ssl.starting import python_command  # stdlib only

    return f"{python_command('app.auth')} hash {shlex.quote(user)}"


def _scrypt(password: str, n: int, r: int, p: int, salt: bytes, size: int = HASH_BYTES) -> bytes:
    """``size`` bytes of ``hashlib.scrypt`` of the UTF-8 ``password`` (a lone surrogate, which
    no form sends but a caller might, is encoded as it is, not an error); ``maxmem`` as OpenSSL
    counts the memory (128 * r * (n + p + 2) bytes), so that every line :func:`parse_hash`
    accepts runs. At most :data:`MAX_CONCURRENT_SCRYPT` run at once in the process: a caller
    beyond them waits here for a slot (``hashlib.scrypt`` lets go of the GIL while it hashes,
    so the slots' holders run in parallel)."""
    data = password.encode("utf-8", "surrogatepass")
    with _scrypt_slots:
        return hashlib.scrypt(data, salt=salt, n=n, r=r, p=p, maxmem=128 * r * (n + p + 2) + 2**20, dklen=size)


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P,
                  salt: bytes | None = None) -> str:
    """The secret ``scrypt$n$r$p$salt_b64$hash_b64`` for ``password``, with a new random salt of
    :data:`SALT_BYTES` (or ``salt``, for tests). Raises ValueError for parameters outside what
    :func:`parse_hash` accepts, and for an empty password."""
    if not password:
        raise ValueError("the password is empty")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    b64 = base64.b64encode
    secret = f"{SCHEME}${n}${r}${p}${b64(salt).decode()}${b64(_scrypt(password, n, r, p, salt)).decode()}"
    parse_hash(secret)  # the same limits as a line read back
    return secret


def parse_hash(secret: str) -> _Scrypt:
    """The parameters, salt and digest of a ``scrypt$n$r$p$salt_b64$hash_b64`` secret.

    Raises ValueError saying which field is wrong: not six ``$``-separated fields, ``n`` not a
    power of two in 2^10..2^20, ``r`` outside 1..32, ``p`` outside 1..64, ``n`` not below
    2^(16 r) (OpenSSL refuses such a pair when the password is checked: with r=1, n at most
    2^15), more than 256 MiB of memory (128 * r * n bytes), more work than
    :data:`MAX_SCRYPT_WORK` (``n * r * p``), salt or hash not base64 or not 16..64 bytes."""
    fields = secret.split("$")
    if len(fields) != 6 or fields[0] != SCHEME:
        raise ValueError(f"a {SCHEME} hash has six $-separated fields, {SCHEME}$n$r$p$salt$hash; "
                         f"this one has {len(fields)}")
    numbers = []
    for name, text, (low, high) in zip("nrp", fields[1:4], (_N_RANGE, _R_RANGE, _P_RANGE), strict=True):
        value = int(text) if text.isascii() and text.isdigit() else -1
        if not low <= value <= high or (name == "n" and value & (value - 1)):
            what = "a power of two, " if name == "n" else ""
            raise ValueError(f"scrypt's {name} must be {what}{low}..{high}; the line has {text!r}")
        numbers.append(value)
    n, r, p = numbers
    if n >= 2 ** (16 * r):  # OpenSSL: "N < 2^(128 * r / 8)"; hashlib.scrypt raises ValueError
        raise ValueError(f"scrypt's n must be below 2^(16 r) (OpenSSL's rule); the line has n={n} "
                         f"with r={r}: give r={r + 1} or more, or n at most {2 ** (16 * r - 1)}")
    if 128 * r * n > _MAX_MEMORY:
        raise ValueError(f"scrypt's n={n} with r={r} needs {128 * r * n // 2**20} MiB per check; "
                         f"at most {_MAX_MEMORY // 2**20} MiB is allowed")
    if n * r * p > MAX_SCRYPT_WORK:
        raise ValueError(f"scrypt's n*r*p={n * r * p} (n={n}, r={r}, p={p}) is more work per check than "
                         f"the {MAX_SCRYPT_WORK} (2^{MAX_SCRYPT_WORK.bit_length() - 1}) allowed")
    parts = []
    for name, text, (low, high) in zip(("salt", "hash"), fields[4:], (_SALT_RANGE, _HASH_RANGE), strict=True):
        try:
            value = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"the {name} field is not base64") from None
        if not low <= len(value) <= high:
            raise ValueError(f"the {name} field holds {len(value)} bytes; {low}..{high} expected")
        parts.append(value)
    return _Scrypt(n, r, p, parts[0], parts[1])


def verify_password(password: str, secret: str) -> bool:
    """Whether ``password`` (as typed) matches ``secret``: a ``scrypt$...`` hash (hashed with its
    salt and parameters) or a plaintext password; compared with ``hmac.compare_digest`` either
    way. Raises ValueError for a malformed hash (:func:`parse_hash`; :func:`read_auth_file`
    refuses such a line before)."""
    if not secret.startswith(f"{SCHEME}$"):
        typed, stored = (text.encode("utf-8", "surrogatepass") for text in (password, secret))
        return hmac.compare_digest(typed, stored)
    n, r, p, salt, digest = parse_hash(secret)
    return hmac.compare_digest(_scrypt(password, n, r, p, salt, len(digest)), digest)


def read_auth_file(path: str | os.PathLike[str]) -> list[Login]:
    """The logins of the login file at ``path``, in file order.

    Raises :class:`AuthFileError` (naming ``path`` and, for a bad line, its number, never its
    text) for a missing or unreadable file, a line without a colon, an empty user name or
    secret, a user name with a space or longer than :data:`MAX_USER_CHARS` characters, a user
    named twice (both lines named), a ``scrypt$``
    secret that is not a well-formed hash (:func:`parse_hash`), and a file with no login in it.
    Plaintext secrets are returned as they are (:attr:`Login.hashed` False):
    :func:`plaintext_warning` says what to do with them.
    """
    file = Path(path)
    fix = (f"  fix: one user:secret per line, the line `{hash_command()}` prints (blank lines "
           f"and # comments are skipped)")
    try:
        text = file.read_text(encoding="utf-8-sig")  # a BOM would join the first user's name
    except FileNotFoundError:
        raise AuthFileError(f"--auth-file {file}: no such file.\n{fix}") from None
    except IsADirectoryError:  # --auth-file /etc/drac: "cannot read it (IsADirectoryError)" before
        raise AuthFileError(f"--auth-file {file}: a folder, not a file; name the login file in it "
                            f"(e.g. --auth-file {file / 'logins.txt'}).\n{fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthFileError(f"--auth-file {file}: cannot read it ({type(exc).__name__}).\n{fix}") from None
    logins: list[Login] = []
    users: dict[str, int] = {}  # user -> its line
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"--auth-file {file}, line {number}"
        if ":" not in line:
            raise AuthFileError(f"{where}: expected user:secret (no colon on the line; "
                                f"the line is not shown, it may hold a password).\n{fix}")
        user, secret = line.split(":", 1)
        user, secret = user.strip(), secret.strip()  # "bob: pw2" means pw2
        if not user:
            raise AuthFileError(f"{where}: the user name before the colon is empty.\n{fix}")
        if not secret:
            raise AuthFileError(f"{where}: the password or hash after the colon is empty.\n{fix}")
        if any(ch.isspace() for ch in user):  # "alice secret:..." is a mistake, not a user
            raise AuthFileError(f"{where}: the user name before the first colon has a space in "
                                f"it (the line is not shown, it may hold a password).\n{fix}")
        if len(user) > MAX_USER_CHARS:
            raise AuthFileError(f"{where}: the user name has {len(user)} characters; at most "
                                f"{MAX_USER_CHARS} are allowed.\n{fix}")
        if user in users:
            raise AuthFileError(f"{where}: the user {user!r} is named twice, on lines {users[user]} "
                                f"and {number}; keep one line per user.\n{fix}")
        login = Login(user, secret, number)
        if login.hashed:
            try:
                parse_hash(secret)
            except ValueError as exc:
                raise AuthFileError(
                    f"{where}: the {SCHEME} hash of user {user!r} is malformed: {exc}.\n"
                    f"  fix: replace the line with the one `{hash_command(user)}` prints (it asks "
                    f"for the password); a plaintext password cannot start with {SCHEME}$") from None
        users[user] = number
        logins.append(login)
    if not logins:
        raise AuthFileError(f"--auth-file {file}: no user:secret line in it (empty, or only "
                            f"comments).\n{fix}")
    return logins


def plaintext_warning(path: str | os.PathLike[str], logins: Sequence[Login]) -> str | None:
    """The start-up warning for the plaintext passwords among ``logins`` (read from ``path``):
    the file, each such line with its user (never the password) and the exact commands that
    convert them; None when every login is hashed."""
    plain = [login for login in logins if not login.hashed]
    if not plain:
        return None
    lines = ", ".join(f"{login.line} ({login.user})" for login in plain)
    commands = "; ".join(f"`{hash_command(login.user)}`" for login in plain)
    return (f"--auth-file {path}: line(s) {lines} hold a plaintext password; accepted for now, but "
            f"whoever reads the file reads the password. Convert each: run {commands} (it asks for "
            f"the password, echoing nothing) and put the line it prints in place of the old one")


def common_parameters(logins: Iterable[Login]) -> tuple[int, int, int]:
    """scrypt's ``(n, r, p)`` of most of the hashed ``logins`` (the first line's among equally
    many), or the new lines' (:data:`SCRYPT_N`, :data:`SCRYPT_R`, :data:`SCRYPT_P`) when none is
    hashed: :class:`app.login_guard.LoginGuard` hashes unknown users' passwords and the plaintext
    lines with these, so that a check takes as long whichever name is typed."""
    counts = Counter(parse_hash(login.secret)[:3] for login in logins if login.hashed)
    return counts.most_common(1)[0][0] if counts else (SCRYPT_N, SCRYPT_R, SCRYPT_P)


def parameter_warning(path: str | os.PathLike[str], logins: Sequence[Login]) -> str | None:
    """The start-up warning for hashed ``logins`` (read from ``path``) whose scrypt parameters
    differ from :func:`common_parameters`: a check of such a user takes another time than one
    of an unknown name, so the time of a login tells that the name exists. Names the lines and
    users (never a secret) and the command that makes each line anew; None when all agree."""
    common = common_parameters(logins)
    odd = [login for login in logins if login.hashed and parse_hash(login.secret)[:3] != common]
    if not odd:
        return None
    lines = ", ".join(f"{login.line} ({login.user})" for login in odd)
    commands = "; ".join(f"`{hash_command(login.user)}`" for login in odd)
    n, r, p = common
    return (f"--auth-file {path}: line(s) {lines} have other scrypt parameters than the rest "
            f"(n={n}, r={r}, p={p}, with which unknown names are hashed too): how long a login "
            f"with such a name takes tells that the name exists. Make each anew: run {commands}")


def readable_by_others(path: str | os.PathLike[str]) -> bool:
    """True when the file at ``path`` (the login file, the record of logins) may be read by
    other users of the machine (group or world read permission on a POSIX system): the start-up
    log then says so."""
    try:
        return bool(Path(path).stat().st_mode & (stat.S_IRGRP | stat.S_IROTH)) and os.name == "posix"
    except OSError:
        return False


def open_host_auth_file_refusal(path: str | os.PathLike[str], logins: Sequence[Login], host: str,
                                root_path: str | None = None) -> str | None:
    """Why a server on ``host`` (not loopback: :func:`is_loopback_host`), or behind a reverse
    proxy at ``root_path`` (``--root-path`` or ``GRADIO_ROOT_PATH``, in
    :func:`app.reverse_proxy.root_path`'s form: ``""`` for ``/``, the proxy's root; None when
    neither is given: the proxy serves it beyond this machine, though it listens on 127.0.0.1),
    does not start on the
    login file at ``path`` (its ``logins``: :func:`read_auth_file`): other users of the machine
    may read it (:func:`readable_by_others`: group or world read permission), or a line holds a
    plaintext password (:func:`plaintext_warning`'s lines); what, why and the fix (``chmod 600``,
    ``python -m app.auth hash USER``), never a password. None when neither. On loopback both
    are only warned (``python -m app``'s start-up log): a server for this machine alone."""
    shown = shlex.quote(str(path))
    what, fixes = [], []
    if readable_by_others(path):
        mode = stat.S_IMODE(Path(path).stat().st_mode)
        what.append(f"other users of this machine may read it (mode {mode:o})")
        fixes.append(f"chmod 600 {shown}")
    plain = [login for login in logins if not login.hashed]
    if plain:
        lines = ", ".join(f"{login.line} ({login.user})" for login in plain)
        what.append(f"line(s) {lines} hold a plaintext password")
        commands = "; ".join(f"`{hash_command(login.user)}`" for login in plain)
        fixes.append(f"run {commands} (it asks for the password, echoing nothing) and put the line "
                     f"it prints in place of the old one")
    if not what:
        return None
    served = (f"With --host {host or repr(host)} the app is served to other machines"
              if not (root_path is not None and is_loopback_host(host)) else
              f"Behind a reverse proxy at {root_path or '/'} (--root-path or GRADIO_ROOT_PATH) the "
              f"app is served to other machines")
    alone = ("on 127.0.0.1 (the default) without a reverse proxy" if root_path is not None
             else "on 127.0.0.1 (the default)")
    return (f"--auth-file {path}: {' and '.join(what)}. {served}, so its login file must hold "
            f"password hashes only and be readable by its owner alone: whoever reads a password "
            f"logs in as that user. Not started.\n  fix: {'; '.join(fixes)}; or serve {alone}, "
            f"where this is only warned")


def is_loopback_host(host: str) -> bool:
    """True when ``host`` (``--host``) binds the loopback interface only: ``localhost``, an
    address in 127.0.0.0/8, ``::1``. Anything else (``0.0.0.0``, ``::``, ``""``, a LAN address, a
    host name) may be reached from other machines."""
    text = host.strip().strip("[]")
    if text.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def bind_name(host: str) -> str:
    """``host`` as the web server is given it: an IPv6 literal in brackets (``::1`` ->
    ``[::1]``; gradio builds its own ``http://HOST:PORT`` address from it, and a bare ``::1``
    made that address invalid: a traceback at start), anything else unchanged."""
    text = host.strip()
    return f"[{text}]" if ":" in text and not text.startswith("[") else text


def open_host_refusal(host: str) -> str:
    """Why a server on ``host`` (not loopback) without a login does not start, and the two ways
    to start it (``python -m app``'s error, :func:`app.server.serve`'s ValueError). A host that
    binds every interface (``0.0.0.0``, ``::``, empty) or is an address of another interface is
    said to serve every machine; anything else (a host name, ``127.1``, ``::ffff:127.0.0.1``)
    as not recognised as loopback: it may bind loopback only, but this check does not resolve
    names, so it cannot tell."""
    text = host.strip().strip("[]")
    try:
        address = ipaddress.ip_address(text or "0.0.0.0")
        mapped = getattr(address, "ipv4_mapped", None)
        known = not (mapped is not None and mapped.is_loopback)  # ::ffff:127.0.0.1: loopback in disguise
    except ValueError:
        known = False
    what = ("would serve the app to every machine that can reach this one, with no login"
            if known else "is not recognised as a loopback address (localhost, 127.0.0.0/8, ::1) and "
            "may serve the app to other machines, with no login")
    return (f"--host {host or repr(host)} {what}: anyone could upload images, read the results and download "
            f"the files the server holds (uploads, pictures, batch CSVs). Not started.\n"
            f"  fix: give --auth-file FILE (one line per user, made by {hash_command()}, chmod 600; "
            f"see --help), "
            f"or, if a reverse proxy in front of the app already asks for a login (and only "
            f"the proxy can reach this port), say so with {INSECURE_NO_AUTH}; or serve on "
            f"127.0.0.1 (the default)")


def _read_password(user: str, stdin: TextIO, stderr: TextIO) -> str:
    """The password for ``user``: asked twice without echo (``getpass``) when ``stdin`` is a
    terminal, else the first line of ``stdin`` (its line ending removed). Raises ValueError for
    an empty password or two entries that differ."""
    if stdin.isatty():
        password = getpass.getpass(f"Password for {user}: ", stream=stderr)
        if password and getpass.getpass("The same again: ", stream=stderr) != password:
            raise ValueError("the two passwords differ; nothing was written")
    else:
        password = stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise ValueError("the password is empty; nothing was written")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(
            f"the password has {len(password)} character{'s' * (len(password) != 1)}, fewer than the {MIN_PASSWORD_CHARS} "
            f"needed: a login file that leaks is guessed at offline, at any speed, and a short "
            f"password falls in hours; nothing was written.\n  fix: choose a longer one, e.g. "
            f"four random words (a password manager makes one)")
    return password


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """``python -m app.auth hash USER``: print the login line ``USER:scrypt$...`` for a password
    read without echo (or from stdin when it is not a terminal, e.g. ``printf '%s\\n' "$PW" |
    python -m app.auth hash alice``). The line goes to stdout alone (``>> FILE`` appends it);
    the prompt and a hint go to stderr. Exit code 0, or 2 (nothing printed on stdout) for a
    user name that a login file cannot hold or an empty, mistyped or short password (under
    :data:`MIN_PASSWORD_CHARS` characters), 130 / 143 stopped at the prompt by Ctrl-C / SIGTERM
    (one line said, nothing printed on stdout)."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    from drac_ssl.exit_codes import AUTH_EXIT_CODES  # stdlib only
    from drac_ssl.starting import (  # stdlib only
        CommandParser,
        add_version_option,
        fill_help,
        interrupt_exit_code,
        python_command,
        sigterm_as_ctrl_c,
    )

    prog = python_command("app.auth")
    example = (f"Example:\n  {prog} hash alice >> logins.txt   # asks alice's password twice\n"
               f"then serve with it: {python_command('app')} --auth-file logins.txt (docs/deploying.md)\n\n"
               + fill_help(AUTH_EXIT_CODES, 88))
    parser = CommandParser(allow_abbrev=False,  # a prefix is refused, never guessed
        prog=prog,
        description=fill_help("Make a line of the app's login file (its --auth-file FILE): the "
                                  "user name and a scrypt hash of the password, never the password "
                                  "itself.", 88),
        epilog=example, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version_option(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    hashing = commands.add_parser(
        "hash", allow_abbrev=False, help="print USER:scrypt$... for a password typed without echo (or read from stdin)",
        description=fill_help(
            "Print the login line USER:scrypt$n$r$p$salt$hash for a password asked twice without "
            "echo, or read as one line from stdin when stdin is not a terminal. Put the line in the "
            "login file in place of USER's old line.", 88),
        epilog=example, formatter_class=argparse.RawDescriptionHelpFormatter)
    hashing.add_argument("user", metavar="USER", help="the user name (no colon, no space)")
    args = parser.parse_args(argv)
    user = args.user.strip()
    if (not user or ":" in user or user.startswith("#") or any(ch.isspace() for ch in user)
            or len(user) > MAX_USER_CHARS):
        print(f"error: {args.user!r} cannot be a user name of the login file: it must be non-empty, "
              f"without a colon or a space, not start with # (a comment) and have at most "
              f"{MAX_USER_CHARS} characters", file=stderr)
        return 2
    try:
        with sigterm_as_ctrl_c():  # kill while it waits for the password: 143, as Ctrl-C's 130
            password = _read_password(user, stdin, stderr)
    except KeyboardInterrupt:  # Ctrl-C at the prompt: one line, not getpass's traceback (-2)
        print(f"\n[app.auth] interrupted: nothing was printed or written; rerun {prog} hash "
              f"{shlex.quote(user)} to make the line", file=stderr)
        return interrupt_exit_code()
    except ValueError as exc:
        print(f"error: {exc}", file=stderr)
        return 2
    print(f"{user}:{hash_password(password)}", file=stdout, flush=True)
    print(f"[app.auth] put this line in the login file in place of {user}'s old line (keep the file "
          f"chmod 600); the app reads the file when it starts", file=stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
