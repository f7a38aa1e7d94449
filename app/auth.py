"""The login file of ``python -m app --auth-file FILE``: who may use the app.

One ``user:password`` per line (the password is everything after the first colon, so it may
hold colons; spaces around the user name and around the password are ignored, so
``bob : pw2`` is ``bob`` with ``pw2``, and a password cannot start or end with a space; a
byte-order mark, as Notepad writes, is ignored); blank lines
and lines starting with ``#`` are skipped. gradio asks for one of these logins before it
serves the page or its API (``launch(auth=...)``). Errors name the file and the line, never
the line's text: it may hold a password.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["AuthFileError", "read_auth_file", "readable_by_others"]


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
