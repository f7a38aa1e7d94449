"""The login file of ``python -m app --auth-file FILE``: who may use the app.

One ``user:password`` per line (the password is everything after the first colon, so it may
hold colons; spaces around the user name and around the password are ignored, so
``bob : pw2`` is ``bob`` with ``pw2``, and a password cannot start or end with a space; a
byte-order mark, as Notepad writes, is ignored); blank lines
and lines starting with ``#`` are skipped. gradio asks for one of these logins before it
serves the page or its API (``launch(auth=...)``). Errors name the file and the line, never
the line's text: it may hold a password.

A server on another interface than the loopback one (:func:`is_loopback_host`) needs a login
file or an explicit ``--insecure-no-auth`` (:func:`open_host_refusal`): without either it does
not start.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from pathlib import Path

__all__ = ["INSECURE_NO_AUTH", "AuthFileError", "bind_name", "is_loopback_host", "open_host_refusal", "read_auth_file",
           "readable_by_others"]

INSECURE_NO_AUTH = "--insecure-no-auth"
"""The flag with which an operator says that a server off the loopback interface needs no login
of its own (an authenticating reverse proxy in front does it)."""


class AuthFileError(ValueError):
    """A login file that cannot be used: the message names it, the line and the fix."""


def read_auth_file(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``[(user, password), ...]`` from the login file at ``path``, in file order.

    Raises :class:`AuthFileError` (naming ``path`` and, for a bad line, its number) for a
    missing or unreadable file, a line without a colon, an empty user name or password, a
    user named twice, and a file with no login in it.
    """
    file = Path(path)
    fix = "  fix: one user:password per line (blank lines and # comments are skipped)"
    try:
        text = file.read_text(encoding="utf-8-sig")  # a BOM would join the first user's name
    except FileNotFoundError:
        raise AuthFileError(f"--auth-file {file}: no such file.\n{fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthFileError(f"--auth-file {file}: cannot read it ({type(exc).__name__}).\n{fix}") from None
    logins: list[tuple[str, str]] = []
    users: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"--auth-file {file}, line {number}"
        if ":" not in line:
            raise AuthFileError(f"{where}: expected user:password (no colon on the line; "
                                f"the line is not shown, it may hold a password).\n{fix}")
        user, password = line.split(":", 1)
        user, password = user.strip(), password.strip()  # "bob: pw2" means pw2
        if not user:
            raise AuthFileError(f"{where}: the user name before the colon is empty.\n{fix}")
        if not password:
            raise AuthFileError(f"{where}: the password after the colon is empty.\n{fix}")
        if any(ch.isspace() for ch in user):  # "alice secret:..." is a mistake, not a user
            raise AuthFileError(f"{where}: the user name before the first colon has a space in "
                                f"it (the line is not shown, it may hold a password).\n{fix}")
        if user in users:
            raise AuthFileError(f"{where}: the user {user!r} is named twice; keep one line "
                                f"per user.\n{fix}")
        users.add(user)
        logins.append((user, password))
    if not logins:
        raise AuthFileError(f"--auth-file {file}: no user:password line in it (empty, or only "
                            f"comments).\n{fix}")
    return logins


def readable_by_others(path: str | os.PathLike[str]) -> bool:
    """True when the login file may be read by other users of the machine (group or world
    read permission on a POSIX system): the start-up log then says so."""
    try:
        return bool(Path(path).stat().st_mode & (stat.S_IRGRP | stat.S_IROTH)) and os.name == "posix"
    except OSError:
        return False


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
            f"  fix: give --auth-file FILE (one user:password per line, chmod 600; see --help), "
            f"or, if a reverse proxy in front of the app already asks for a login (and only "
            f"the proxy can reach this port), say so with {INSECURE_NO_AUTH}; or serve on "
            f"127.0.0.1 (the default)")
