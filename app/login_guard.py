"""Every login to ``python -m app --auth-file FILE``: checked, throttled and recorded.

gradio's ``launch(auth=...)`` is given :meth:`LoginGuard.gradio_auth`, an async
``(user, password) -> bool`` that runs :meth:`LoginGuard.check` in a worker thread (gradio
awaits a coroutine function; a plain function it would call on its event loop, and a scrypt
check there would hold up every other request for its fraction of a second). For each attempt
:meth:`~LoginGuard.check`:

1. asks the :class:`Throttle`: a user name with :data:`MAX_FAILURES_PER_USER` failed attempts
   in the last :data:`FAILURE_WINDOW_S` seconds is refused, even with the right password, until
   the oldest of them is that old; and while :data:`MAX_FAILURES_PER_MINUTE` attempts failed in
   the last minute, counting every user name, every login is refused, that of a real user with
   the right password too. Attempts still being checked count as failures until they end, so
   that many at once cannot get past either count. A refused attempt costs no hashing;
2. checks the password against the user's line (:func:`app.auth.verify_password`); for a
   user name not in the file a password is hashed all the same (with the file's first hash
   line's parameters) and refused, so that the time taken does not tell which names exist;
3. appends one line to the :class:`AuditLog`, when there is one: the UTC time, the user name as
   typed and the outcome, one of ``ok``, ``wrong password``, ``unknown user``, ``throttled``;
   never the password.

A user name whose failures all lie more than :data:`FAILURE_WINDOW_S` back is forgotten, so
the throttle holds at most ``MAX_FAILURES_PER_MINUTE * FAILURE_WINDOW_S / 60`` user names. A
right password does not clear a user's earlier failures: at most :data:`MAX_FAILURES_PER_USER`
wrong passwords per user name are tried in any :data:`FAILURE_WINDOW_S`.

The record of login attempts (:class:`AuditLog`) is kept outside the server's working folder,
which is deleted when the server stops (:mod:`app.workdir`): by default in
``<--temp-dir>/drac_app_logins_<uid>/logins.log`` (:func:`default_audit_path`; the folder
mode 0700, the file 0600), or where ``--audit-log FILE`` says. Above :data:`AUDIT_MAX_BYTES`
the file is renamed ``<file>.1`` (replacing an older one) and a new one is begun: at most twice
that is kept. gradio does not tell the check the client's address: a reverse proxy's access
log has it.

Time comes from ``clock`` (seconds since the epoch, ``time.time`` by default), so that tests
step it instead of sleeping. Thread-safe: gradio runs logins concurrently.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from app.auth import (
    HASH_BYTES,
    SALT_BYTES,
    SCHEME,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    Login,
    parse_hash,
    verify_password,
)
from app.workdir import PREFIX

__all__ = ["AUDIT_FOLDER", "AUDIT_MAX_BYTES", "FAILURE_WINDOW_S", "MAX_FAILURES_PER_MINUTE",
           "MAX_FAILURES_PER_USER", "OUTCOMES", "USER_SHOWN_CHARS", "AuditLog", "AuditLogError",
           "LoginGuard", "Throttle", "default_audit_path"]

log = logging.getLogger("app")

MAX_FAILURES_PER_USER = 5
"""Failed attempts for one user name within :data:`FAILURE_WINDOW_S` after which that name is
refused (``throttled``), whatever password comes, until the oldest failure is that old."""
FAILURE_WINDOW_S = 15 * 60.0
"""Seconds over which a user name's failed attempts are counted (15 minutes)."""
MAX_FAILURES_PER_MINUTE = 30
"""Failed attempts in the last 60 seconds, all user names together, from which every login is
refused (``throttled``): it bounds the guessing across many names and the hashing work of
refused passwords (scrypt: a fraction of a second each). A flood of wrong logins thus locks out
the right ones too, for up to a minute after it stops; per-client limits belong in a reverse
proxy in front (docs/deploying.md)."""
_MINUTE_S = 60.0

OUTCOMES = ("ok", "wrong password", "unknown user", "throttled")
"""The outcome words of the record of login attempts."""
OK, WRONG, UNKNOWN, THROTTLED = OUTCOMES

AUDIT_FOLDER = f"{PREFIX}logins_{{uid}}"
"""The default record's folder in the ``--temp-dir`` folder, ``drac_app_logins_<uid>``: next to
the servers' working folders, but not one of them (:func:`app.workdir.workdir_pid` is None for
it: it is neither removed at stop nor swept as a stale folder)."""
AUDIT_FILE = "logins.log"
AUDIT_MAX_BYTES = 10 * 2**20
"""Size in bytes (10 MiB, some 150,000 attempts) above which the record is rotated: the file is
renamed ``<file>.1``, replacing an older one, and a new file is begun."""
USER_SHOWN_CHARS = 100
"""The most characters of a typed user name that the record keeps (a longer one is cut, and
marked with its length)."""


class AuditLogError(ValueError):
    """The record of login attempts cannot be kept where asked: the message names the path,
    what is wrong and the fix."""


def default_audit_path(base: str | os.PathLike[str]) -> Path:
    """``<base>/drac_app_logins_<uid>/logins.log``: the record of login attempts when
    ``--audit-log`` is not given (``base``: ``--temp-dir``, else the system temp folder)."""
    return Path(base) / AUDIT_FOLDER.format(uid=os.getuid()) / AUDIT_FILE


def _private_folder(folder: Path) -> None:
    """Make ``folder`` (mode 0700) or check the one there: a real folder (not a link) of this
    account; group and other permissions are taken away. Raises :class:`AuditLogError`."""
    try:
        with contextlib.suppress(FileExistsError):  # a folder, or anything else: looked at below
            folder.mkdir(mode=0o700)
        info = os.lstat(folder)
    except OSError as exc:
        raise AuditLogError(f"cannot make the folder {folder} for the record of login attempts "
                            f"({exc.strerror or type(exc).__name__}).\n  fix: give --audit-log FILE "
                            f"in a folder this account can write") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        what = "owned by another account" if stat.S_ISDIR(info.st_mode) else "not a folder"
        raise AuditLogError(f"{folder} is {what}: the record of login attempts is not written "
                            f"into it.\n  fix: remove it, or give --audit-log FILE elsewhere")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(folder, 0o700)


class AuditLog:
    """One line per login attempt appended to ``path``: ``TIME<TAB>USER<TAB>OUTCOME``.

    ``TIME``: UTC, ``2026-01-05T10:15:02Z``; ``USER``: the user name as typed, as a JSON string
    (quoted; a tab, a line break or any non-ASCII character escaped, so a name cannot forge a
    line; a longer name than :data:`USER_SHOWN_CHARS` characters is cut there, ``"alice..."
    (140 characters)``); ``OUTCOME``: one
    of :data:`OUTCOMES`. Never a password (though a user who types a password into the user
    name field puts it in the record).

    The file is created mode 0600 (a link is not followed); one that is there already must be a
    plain file of this account, and is appended to. ``default=True``: ``path`` is
    :func:`default_audit_path`'s and its folder is made private (0700) first. Above
    ``max_bytes`` the file is renamed ``<path>.1`` and a new one begun; a file moved or removed
    meanwhile (a ``logrotate``, an operator) is made anew. Raises :class:`AuditLogError` when the
    file cannot be opened. A line that cannot be written later is said once on the console log,
    and the login goes on (a full disk does not lock everyone out).
    """

    def __init__(self, path: str | os.PathLike[str], *, default: bool = False,
                 max_bytes: int = AUDIT_MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._write_failed = False
        if default:
            _private_folder(self.path.parent)
        try:
            self._open()
        except OSError as exc:
            raise AuditLogError(
                f"--audit-log {self.path}: cannot append to it "
                f"({exc.strerror or type(exc).__name__}).\n  fix: give --audit-log FILE in a "
                f"folder this account can write (not a link, not another account's file)") from None

    def _open(self) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.path, flags, 0o600)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            os.close(fd)
            raise PermissionError(1, "not a plain file of this account")
        if self._fd is not None:
            os.close(self._fd)
        self._fd = fd

    def close(self) -> None:
        """Close the file (a later :meth:`record` opens it again)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    @staticmethod
    def line(when: float, user: str, outcome: str) -> str:
        """The record's line (with its ``\\n``) for an attempt at ``when`` (epoch seconds)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome {outcome!r}: one of {', '.join(OUTCOMES)} expected")
        shown = json.dumps(user)  # ensure_ascii: escapes every control character
        if len(user) > USER_SHOWN_CHARS:
            shown = f"{json.dumps(user[:USER_SHOWN_CHARS] + '...')} ({len(user)} characters)"
        stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{stamp}\t{shown}\t{outcome}\n"

    def record(self, when: float, user: str, outcome: str) -> None:
        """Append the line of an attempt (:meth:`line`), rotating the file first when it would
        grow past ``max_bytes``."""
        data = self.line(when, user, outcome).encode("ascii")
        with self._lock:
            try:
                self._reopen_if_moved()
                assert self._fd is not None
                if os.fstat(self._fd).st_size + len(data) > self.max_bytes:
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                    self._open()
                os.write(self._fd, data)
            except OSError as exc:
                if not self._write_failed:  # once: a full disk would fill the console too
                    log.warning(
                        "cannot append to the record of login attempts %s (%s); logins go on "
                        "unrecorded until it can be written", self.path, exc.strerror or type(exc).__name__)
                self._write_failed = True
            else:
                self._write_failed = False

    def _reopen_if_moved(self) -> None:
        """Open the file again when ``path`` no longer names the open file (or none is open)."""
        if self._fd is not None:
            try:
                now, held = os.lstat(self.path), os.fstat(self._fd)
                if (now.st_ino, now.st_dev) == (held.st_ino, held.st_dev):
                    return
            except FileNotFoundError:
                pass
        self._open()


class Throttle:
    """Counts failed logins; :meth:`admit` says whether an attempt may be checked at all.

    ``max_failures`` per user name within ``window_s`` seconds, ``max_per_minute`` failures
    of all names in the last minute (module docstring). Every :meth:`admit` that returned True
    must be followed by one :meth:`settle`. Thread-safe; times are passed in (epoch seconds).
    """

    def __init__(self, max_failures: int = MAX_FAILURES_PER_USER, window_s: float = FAILURE_WINDOW_S,
                 max_per_minute: int = MAX_FAILURES_PER_MINUTE) -> None:
        self.max_failures, self.window_s, self.max_per_minute = max_failures, window_s, max_per_minute
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}  # user name -> times of its failures, oldest first
        self._recent: deque[float] = deque()  # times of every failure in the last minute
        self._pending: dict[str, int] = {}  # user name -> attempts admitted, not yet settled

    def _forget(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - _MINUTE_S:
            self._recent.popleft()
        for user in list(self._failures):
            times = self._failures[user]
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if not times:
                del self._failures[user]

    def admit(self, user: str, now: float) -> bool:
        """True: check this attempt (it counts as a failure until :meth:`settle`); False: refuse
        it unchecked (``throttled``)."""
        with self._lock:
            self._forget(now)
            pending = self._pending.get(user, 0)
            if len(self._failures.get(user, ())) + pending >= self.max_failures:
                return False
            if len(self._recent) + sum(self._pending.values()) >= self.max_per_minute:
                return False
            self._pending[user] = pending + 1
            return True

    def settle(self, user: str, ok: bool, now: float) -> None:
        """End an admitted attempt: ``ok`` False counts it as a failure at ``now``."""
        with self._lock:
            left = self._pending.get(user, 0) - 1
            if left > 0:
                self._pending[user] = left
            else:
                self._pending.pop(user, None)
            if not ok:
                self._failures.setdefault(user, deque()).append(now)
                self._recent.append(now)

    def tracked_users(self) -> int:
        """How many user names have failures within the window now (for tests: it stays bounded)."""
        with self._lock:
            return len(self._failures)


class LoginGuard:
    """The check gradio runs for every login (module docstring): ``logins`` (the login file's,
    :func:`app.auth.read_auth_file`, or ``(user, password)`` pairs), the :class:`Throttle`,
    and the :class:`AuditLog` (None: attempts are not recorded). ``clock``: epoch seconds.
    """

    def __init__(self, logins: Iterable[Login | tuple[str, str]], *, audit: AuditLog | None = None,
                 throttle: Throttle | None = None, clock: Callable[[], float] = time.time) -> None:
        self._logins = {login[0]: Login(*login) for login in logins}
        if not self._logins:
            raise ValueError("a login guard needs at least one login")
        self.audit = audit
        self.throttle = throttle if throttle is not None else Throttle()
        self._clock = clock
        hashed = [parse_hash(login.secret) for login in self._logins.values() if login.hashed]
        n, r, p = hashed[0][:3] if hashed else (SCRYPT_N, SCRYPT_R, SCRYPT_P)
        # an unknown user's password is hashed as the file's users' are: the time does not tell
        self._dummy = f"{SCHEME}${n}${r}${p}${_zeros(SALT_BYTES)}${_zeros(HASH_BYTES)}"

    @property
    def users(self) -> int:
        """How many logins the guard knows."""
        return len(self._logins)

    def check(self, user: str, password: str) -> bool:
        """True when ``user`` may log in with ``password``: admitted by the throttle and the
        password right. Records the attempt. Thread-safe; may take a fraction of a second."""
        start = self._clock()
        ok, outcome = False, THROTTLED
        if self.throttle.admit(user, start):
            try:
                login = self._logins.get(user)
                if login is None:
                    verify_password(password, self._dummy)  # the time of a check, then refused
                    outcome = UNKNOWN
                else:
                    ok = verify_password(password, login.secret)
                    outcome = OK if ok else WRONG
            finally:
                self.throttle.settle(user, ok, self._clock())
        if self.audit is not None:
            self.audit.record(start, user, outcome)
        return ok

    async def gradio_auth(self, user: str, password: str) -> bool:
        """:meth:`check` in a worker thread: what ``serve`` gives gradio's ``launch(auth=...)``
        (gradio awaits a coroutine function; its event loop goes on serving meanwhile)."""
        return await asyncio.to_thread(self.check, user, password)


def _zeros(size: int) -> str:
    """``size`` zero bytes in base64 (the salt and digest of the unknown users' hash line)."""
    return base64.b64encode(bytes(size)).decode()
