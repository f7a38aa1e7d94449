"""Every login to ``python -m app --auth-file FILE``: checked, throttled and recorded.

gradio's ``launch(auth=...)`` is given :meth:`LoginGuard.gradio_auth`, an async
``(user, password) -> bool`` that asks the throttle on the event loop (no hashing, no file),
then runs the rest of the check in one of the guard's own :data:`LOGIN_CHECK_THREADS` threads,
or, for a refused attempt, answers at once and hands its line to a thread of its own, not
waited for (:data:`REFUSALS_QUEUED`; gradio awaits a
coroutine function; a plain function it would call on its event loop, and a scrypt check there
would hold up every other request for its fraction of a second; and not in
``asyncio.to_thread``'s shared pool, where checks waiting for a scrypt slot would hold up the
server's sweep of old files). :meth:`LoginGuard.check` does the same in the caller's thread.
For each attempt:

1. asks the :class:`Throttle`: a user name with :data:`MAX_FAILURES_PER_USER` failed attempts
   in the last :data:`FAILURE_WINDOW_S` seconds is refused, even with the right password, until
   the oldest of them is that old; and while :data:`MAX_FAILURES_PER_MINUTE` attempts failed in
   the last minute, counting every user name, every login is refused, that of a real user with
   the right password too. Attempts still being checked count as failures until they end, so
   that many at once cannot get past either count, and at most :data:`MAX_FAILURES_PER_MINUTE`
   checks are admitted at a time. A refused attempt costs no hashing and waits for no check
   admitted before it;
2. checks the password: every check is one scrypt of the same parameters
   (:func:`app.auth.common_parameters`: those of most of the file's hash lines, or the new
   lines'), whichever name is typed. A hashed line is checked with its own salt
   (:func:`app.auth.verify_password`); a plaintext line was hashed with those parameters when
   the guard was made (its password is not kept); a user name not in the file has a password
   hashed all the same, and refused. So neither the answer nor the time taken tells which
   names exist, except for a hash line made with other parameters than most
   (:func:`app.auth.parameter_warning` names such lines at start). A name longer than
   :data:`app.auth.MAX_USER_CHARS` characters, which no line can have, is refused unhashed.
   At most :data:`app.auth.MAX_CONCURRENT_SCRYPT` checks hash at once (their memory is bounded
   so); the others wait for a slot in their thread, whichever name they carry.
   An exception inside the check (a bug, a line OpenSSL refuses) is said on the console log
   and answered as a refusal (``error``), not as a server error;
3. appends one line to the :class:`AuditLog`, when there is one: the UTC time the attempt came,
   the user name as typed and the outcome, one of :data:`OUTCOMES`; never the password. Throttled attempts are
   summed per name and minute (:class:`AuditLog`), so that a flood of them cannot rotate the
   record's older lines away within minutes; a sum is written about :data:`SUM_FLUSH_S`
   seconds after its first attempt (the write may wait up to ``_FLOCK_WAIT_S`` for another
   server's lock on a shared record), so a server killed without a chance to stop (SIGKILL, an
   OOM kill) loses about that many seconds of them, and the attempts whose checks were still
   running or waiting for a scrypt slot.

The throttle keys user names by their SHA-256 (32 bytes however long the typed name: a form
field may hold a megabyte), and a name whose failures all lie more than
:data:`FAILURE_WINDOW_S` back is forgotten, so it holds at most
``MAX_FAILURES_PER_MINUTE * FAILURE_WINDOW_S / 60`` names. A right password does not clear a
user's earlier failures: at most :data:`MAX_FAILURES_PER_USER` wrong passwords per user name
are tried in any :data:`FAILURE_WINDOW_S`. Its time is ``time.monotonic`` (a wall-clock step,
NTP or an operator's, neither frees nor locks names); the record's is the wall clock, in UTC.

The record of login attempts (:class:`AuditLog`) is kept outside the server's working folder,
which is deleted when the server stops (:mod:`app.workdir`): by default in
``<--temp-dir>/drac_app_logins_<uid>/logins.log`` (:func:`default_audit_path`; the folder
mode 0700, the file 0600), or where ``--audit-log FILE`` says (:func:`folder_warning` says when
its folder is not private). Above :data:`AUDIT_MAX_BYTES` the file is renamed ``<file>.1``
(replacing an older one) and a new one is begun: at most twice that is kept. Two servers may
share one record: the size check and the rotation hold an ``flock`` on it. gradio does not
tell the check the client's address: a reverse proxy's access log has it.

Times come from ``clock`` (the throttle's, ``time.monotonic``) and ``wall_clock`` (the
record's, ``time.time``), so that tests step them instead of sleeping. Thread-safe: gradio runs
logins concurrently.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import fcntl
import functools
import hashlib
import json
import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from app.auth import (
    HASH_BYTES,
    MAX_CONCURRENT_SCRYPT,
    MAX_USER_CHARS,
    SALT_BYTES,
    SCHEME,
    AuthFileError,
    Login,
    common_parameters,
    hash_password,
    verify_password,
)
from app.workdir import PREFIX

__all__ = ["AUDIT_FOLDER", "AUDIT_MAX_BYTES", "FAILURE_WINDOW_S", "LATE_MINUTES", "LOGIN_CHECK_THREADS",
           "MAX_FAILURES_PER_MINUTE",
           "MAX_FAILURES_PER_USER", "OUTCOMES", "OTHER_NAMES", "SUM_FLUSH_S", "THROTTLED_NAMES_PER_MINUTE",
           "REFUSALS_QUEUED", "USER_SHOWN_CHARS", "AuditLog", "AuditLogError", "LoginGuard", "RecordClosedError",
           "Throttle",
           "default_audit_path", "folder_warning", "throttle_words"]

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
the right ones too, for up to a minute after it stops: anyone who can reach the login can lock
everyone out. Per-client limits belong in a reverse proxy in front (docs/deploying.md)."""
_MINUTE_S = 60.0
LATE_MINUTES = 2
"""How many minutes before the record's current minute an attempt's stamp may lie and still be
taken for a late one, its check having waited for a thread and a scrypt slot: it counts in the
current minute (:meth:`AuditLog.record`). That wait is at most the time of
``MAX_FAILURES_PER_MINUTE / MAX_CONCURRENT_SCRYPT`` checks (the throttle admits no more at a
time): some seconds, and about a minute with lines of the most work a line may ask (some
seconds a check in a builder's one-off timing here, not a bench figure). A stamp older than
that while the record's minute is ahead of the wall clock when the line is recorded is the wall
clock stepped back (NTP, an operator): it begins a new minute; without that (a check that
waited longer, the clock as it was), it is late all the same (review F4: a late line that
began a new minute made the next line begin another, each naming every name again)."""
LOGIN_CHECK_THREADS = MAX_CONCURRENT_SCRYPT + 2
"""Threads of a guard's own pool that run the login checks the throttle admitted
(:meth:`LoginGuard.gradio_auth`): the scrypt slots' :data:`app.auth.MAX_CONCURRENT_SCRYPT`, and
2 more that take the next checks in the queue while those hash (a name longer than any line,
refused unhashed, is answered there without a slot; another check waits there for one).
Further admitted checks, at most :data:`MAX_FAILURES_PER_MINUTE` in all, queue for a thread. A
throttled refusal never waits behind them: the throttle is asked before a check is queued, and
the refusal's line is written on a thread of its own. The server's other work in worker threads
(``asyncio.to_thread``: the sweep of old files) does not wait behind either."""
REFUSALS_QUEUED = 100
"""Lines of refused attempts that :meth:`LoginGuard.gradio_auth` hands to its refusal thread
and does not wait for: it answers the refusal at once, and the thread writes them in turn (each
may wait for the record's lock: up to ``_FLOCK_WAIT_S`` while another server holds its
``flock``). Beyond this many not yet written, a further throttled attempt is only counted (its
name not kept: the memory stays bounded during a flood), and the count is written by the next
line's write as ``*  throttled xN``, as the record sums the names beyond
:data:`THROTTLED_NAMES_PER_MINUTE`."""

OUTCOMES = ("ok", "wrong password", "unknown user", "throttled", "error")
"""The outcome words of the record of login attempts (``error``: the check raised an exception,
said on the console log, and the login was refused). Throttled attempts summed up read
``throttled xN`` (:class:`AuditLog`)."""
OK, WRONG, UNKNOWN, THROTTLED, ERROR = OUTCOMES

AUDIT_FOLDER = f"{PREFIX}logins_{{uid}}"
"""The default record's folder in the ``--temp-dir`` folder, ``drac_app_logins_<uid>``: next to
the servers' working folders, but not one of them (:func:`app.workdir.workdir_pid` is None for
it: it is neither removed at stop nor swept as a stale folder)."""
AUDIT_FILE = "logins.log"
AUDIT_MAX_BYTES = 10 * 2**20
"""Size in bytes (10 MiB) above which the record is rotated: the file is renamed
``<file>.1``, replacing an older one, and a new file is begun. How many lines that holds
depends on the names (docs/deploying.md works it out from :meth:`AuditLog.line`)."""
USER_SHOWN_CHARS = 100
"""The most characters of a typed user name that the record keeps (a longer one is cut, and
marked with its length)."""
THROTTLED_NAMES_PER_MINUTE = 20
"""User names whose throttled attempts the record names in one minute; the throttled attempts
of further names in that minute are summed on one line whose user field is :data:`OTHER_NAMES`."""
SUM_FLUSH_S = 10.0
"""Seconds after the first attempt of a ``throttled xN`` sum by which the sums are written
(:class:`AuditLog`; the write may wait up to ``_FLOCK_WAIT_S`` more for another server's
lock): a server killed without a chance to stop loses about this long of summed throttled
attempts. Each time the sums are written costs up to
``THROTTLED_NAMES_PER_MINUTE + 1`` lines, at most ``60 / SUM_FLUSH_S`` times a minute plus once
at the minute's end (docs/deploying.md works out the lines a flood writes): a shorter delay
loses less at a kill and fills the record sooner."""
_FLOCK_WAIT_S, _FLOCK_POLL_S = 1.0, 0.02
"""How long (seconds, in total) a line waits for the record's ``flock`` held by another
server, polling every ``_FLOCK_POLL_S``; past it the line is appended unlocked, without rotating
(:meth:`AuditLog._append`): a stuck holder must not hold every login of this server."""
OTHER_NAMES = "*"
"""The user field of the line that sums the throttled attempts of the names beyond
:data:`THROTTLED_NAMES_PER_MINUTE` in a minute: no typed name reads so (those are JSON strings)."""


class AuditLogError(ValueError):
    """The record of login attempts cannot be kept where asked: the message names the path,
    what is wrong and the fix."""


class RecordClosedError(ValueError):
    """:meth:`AuditLog.record` after :meth:`AuditLog.close` (the server stops): the attempt's
    line cannot be written, so its login is refused (:meth:`LoginGuard.check`)."""


def throttle_words() -> str:
    """The throttle in words, from the constants (``python -m app --help``, the start-up line)."""
    return (f"{MAX_FAILURES_PER_USER} failed logins for a user name within "
            f"{FAILURE_WINDOW_S / 60:g} minutes refuse that name, right password or not, until "
            f"the first is {FAILURE_WINDOW_S / 60:g} minutes old (names not in the file count "
            f"alike); {MAX_FAILURES_PER_MINUTE} failed logins in a minute, all names together, "
            f"refuse every login until the first is a minute old (so a flood locks everyone out: "
            f"limit each client in a reverse proxy)")


def default_audit_path(base: str | os.PathLike[str]) -> Path:
    """``<base>/drac_app_logins_<uid>/logins.log``: the record of login attempts when
    ``--audit-log`` is not given (``base``: ``--temp-dir``, else the system temp folder)."""
    return Path(base) / AUDIT_FOLDER.format(uid=os.getuid()) / AUDIT_FILE


def folder_warning(path: str | os.PathLike[str]) -> str | None:
    """The start-up warning for ``--audit-log`` ``path`` whose folder others could change: one
    that other accounts may write (group or world write permission), or one owned by an account
    other than this one and root. Whoever can write the folder can remove or replace the record
    (the file itself is opened without following a link, and must be this account's). None when
    the folder is private enough, or cannot be looked at (opening the file says what is wrong)."""
    folder = Path(path).parent
    try:
        info = os.stat(folder)
    except OSError:
        return None
    problems = []
    if stat.S_IMODE(info.st_mode) & (stat.S_IWGRP | stat.S_IWOTH):
        problems.append("other accounts may write it")
    if info.st_uid not in (os.getuid(), 0):
        problems.append(f"it is owned by another account (uid {info.st_uid})")
    if not problems:
        return None
    return (f"--audit-log {path}: its folder {folder} is not private ({'; '.join(problems)}): they "
            f"could remove or replace the record of login attempts. Give --audit-log a file in a "
            f"folder only this account (or root) can write, e.g. mode 0700")


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


def _name_key(user: str) -> bytes:
    """The 32-byte key of a typed user name (SHA-256 of its UTF-8; a lone surrogate as it is)."""
    return hashlib.sha256(user.encode("utf-8", "surrogatepass")).digest()


def _shown(user: str | None) -> str:
    """The user field of a record line: ``user`` as a JSON string (ASCII, every control
    character escaped), cut at :data:`USER_SHOWN_CHARS` with its length; None: :data:`OTHER_NAMES`."""
    if user is None:
        return OTHER_NAMES
    if len(user) > USER_SHOWN_CHARS:
        return f"{json.dumps(user[:USER_SHOWN_CHARS] + '...')} ({len(user)} characters)"
    return json.dumps(user)  # ensure_ascii: escapes every control character


class _Cancellable(Protocol):
    """A started timer (:class:`threading.Timer`): ``cancel()`` stops it before it fires."""

    def cancel(self) -> None: ...


def _daemon_timer(delay_s: float, action: Callable[[], None]) -> threading.Timer:
    """Call ``action`` once, ``delay_s`` seconds from now, in a daemon thread (it does not hold
    the process at its exit; :meth:`AuditLog.close` writes what it would have)."""
    timer = threading.Timer(delay_s, action)
    timer.daemon = True
    timer.start()
    return timer


class _Summed:
    """Throttled attempts of one name (or of :data:`OTHER_NAMES`) not yet written in the minute."""

    __slots__ = ("count", "first", "shown")

    def __init__(self, shown: str) -> None:
        self.shown, self.count, self.first = shown, 0, 0.0


class AuditLog:
    """One line per login attempt appended to ``path``: ``TIME<TAB>USER<TAB>OUTCOME``.

    ``TIME``: UTC, ``2026-01-05T10:15:02Z``; ``USER``: the user name as typed, as a JSON string
    (quoted; a tab, a line break or any non-ASCII character escaped, so a name cannot forge a
    line; a longer name than :data:`USER_SHOWN_CHARS` characters is cut there, ``"alice..."
    (140 characters)``); ``OUTCOME``: one of :data:`OUTCOMES`. Never a password (though a user
    who types a password into the user name field puts it in the record).

    Throttled attempts, which cost no hashing and so may come by the thousand, are summed: in
    each minute (UTC) the first throttled attempt of a name has its line at once; the name's
    further ones are summed, and each sum is written as one line, ``throttled xN`` (N attempts,
    stamped with the first of them), at most :data:`SUM_FLUSH_S` seconds after its first
    attempt (a timer, ``flush_timer``, started when a sum begins and none is running), or
    sooner: at the next attempt once the minute is over, or at :meth:`close`. Further throttled
    attempts of the name in the same minute begin a new sum (no new line of their own). Beyond
    :data:`THROTTLED_NAMES_PER_MINUTE` names in a minute, the throttled attempts of the others
    are summed on one line whose user field is :data:`OTHER_NAMES`. The minute is the latest
    one an attempt was stamped in: an attempt stamped earlier (it came before the minute turned
    and its check ended late, waiting for a thread and a scrypt slot) counts in it, so the
    minute's names are not forgotten and named again within it; only a stamp more than
    :data:`LATE_MINUTES` older while that minute is ahead of ``wall_clock`` (``time.time``) now
    is the wall clock stepped back, and begins a new minute, so that a clock set back does not
    keep the record in one minute until it catches up (:meth:`record`).
    ``flush_timer(delay_s, action)`` starts a timer that calls ``action`` once after
    ``delay_s`` seconds and returns an object whose ``cancel()`` stops it (default: a daemon
    :class:`threading.Timer`; tests pass one they fire by hand).

    The file is created mode 0600 (a link is not followed; a FIFO or anything else that is not a
    plain file of this account is refused, without waiting on it); one that is there already is
    appended to. ``default=True``: ``path`` is :func:`default_audit_path`'s and its folder is
    made private (0700) first. Above ``max_bytes`` the file is renamed ``<path>.1`` and a new
    one begun; the size check and the rotation hold an exclusive ``flock`` on the file, and a
    file that ``path`` no longer names (another server sharing the record rotated it, a
    ``logrotate``, an operator moved it) is not rotated but opened anew. Raises
    :class:`AuditLogError` when the file cannot be opened. A line that cannot be written later
    is said once on the console log, and the login goes on (a full disk does not lock everyone
    out).
    """

    def __init__(self, path: str | os.PathLike[str], *, default: bool = False,
                 max_bytes: int = AUDIT_MAX_BYTES,
                 flush_timer: Callable[[float, Callable[[], None]], _Cancellable] | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._flush_timer = flush_timer or _daemon_timer
        self._wall_clock = wall_clock
        self._pending_flush: _Cancellable | None = None  # the timer that writes the sums, while one runs
        self._flush_token: object | None = None  # what that timer's action carries (_flush_when_due)
        self._closed = False  # close() ran: nothing more is written, the file is not opened again
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._write_failed = False
        self._unlocked = False  # the last line was appended without the flock (said once)
        self._minute: int | None = None  # the UTC minute of the throttled attempts summed below
        self._summed: dict[bytes, _Summed] = {}  # name key -> its throttled attempts to write
        self._others = _Summed(_shown(None))
        if default:
            _private_folder(self.path.parent)
        try:
            self._fd = self._open()
        except OSError as exc:
            what = f"--audit-log {self.path}" if not default else (
                f"the record of login attempts {self.path} (the default place: no --audit-log given)")
            raise AuditLogError(
                f"{what}: cannot append to it ({exc.strerror or type(exc).__name__}).\n  fix: give "
                f"--audit-log FILE, a plain file (not a link, a FIFO or another account's file) in a "
                f"folder this account can write") from None

    def _open(self) -> int:
        """A new descriptor of ``path`` for appending (made 0600 if absent). ``O_NONBLOCK`` for
        the open only: a FIFO planted there would otherwise hold the open (and every login)
        until someone read it; refused unless a plain file of this account. Raises OSError."""
        flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0))
        fd = os.open(self.path, flags, 0o600)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
                raise PermissionError(errno.EPERM, "not a plain file of this account")
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def close(self) -> None:
        """Write the throttled attempts still summed, stop the timer that would have written
        them and close the file, under one hold of the lock (an attempt recorded meanwhile is in
        the file, or refused: never summed and lost). The record stays closed: a later
        :meth:`record` raises ValueError, :meth:`flush` and a timer that fires anyway (one
        already running, its ``cancel()`` too late) do nothing, and the file is not opened
        again. Calling it again does nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            data = self._summary_lines()
            if data:
                self._append(data)
            if self._pending_flush is not None:
                self._pending_flush.cancel()
                self._pending_flush = self._flush_token = None
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def flush(self) -> None:
        """Write the lines of the throttled attempts summed so far in this minute, now (the
        minute's names keep their place: their next throttled attempts are summed again).
        Nothing once :meth:`close` has run (it wrote them)."""
        with self._lock:
            if self._closed:
                return
            data = self._summary_lines()
            if data:
                self._append(data)

    def _flush_when_due(self, token: object) -> None:
        """The action of the timer started with ``token``, :data:`SUM_FLUSH_S` after a sum
        began: write the sums. Nothing when that timer is no longer the pending one (the record
        was closed meanwhile): a late timer neither writes, nor opens the file again, nor drops
        a newer timer. Runs in the timer's thread, so an exception is logged here (the app's
        console log) rather than left to the thread's default hook."""
        with self._lock:
            if self._closed or token is not self._flush_token:
                return
            self._pending_flush = self._flush_token = None
            try:
                data = self._summary_lines()
                if data:
                    self._append(data)
            except Exception as exc:  # _append logs an OSError itself; anything else: a bug
                log.error("the summed throttled login attempts could not be written to the record "
                          "of login attempts %s (%s: %s)", self.path, type(exc).__name__, exc)

    @staticmethod
    def line(when: float, user: str | None, outcome: str, count: int = 1) -> str:
        """The record's line (with its ``\\n``) for an attempt at ``when`` (epoch seconds);
        ``count`` > 1: that many throttled attempts (``throttled xN``); ``user`` None:
        :data:`OTHER_NAMES`. Raises ValueError for an outcome not in :data:`OUTCOMES`, or a
        count > 1 of another outcome than ``throttled``."""
        if outcome not in OUTCOMES or (count != 1 and outcome != THROTTLED) or count < 1:
            raise ValueError(f"outcome {outcome!r} x{count}: one of {', '.join(OUTCOMES)} expected "
                             f"(only {THROTTLED!r} counted)")
        return AuditLog._line(when, _shown(user), outcome if count == 1 else f"{outcome} x{count}")

    @staticmethod
    def _line(when: float, shown: str, outcome: str) -> str:
        stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{stamp}\t{shown}\t{outcome}\n"

    def record(self, when: float, user: str, outcome: str) -> None:
        """Append the line of an attempt at ``when`` (epoch seconds; :meth:`line`), or, for a
        throttled one, sum it (class docstring); first the sums of a minute that is over. The
        file is rotated first when it would grow past ``max_bytes``. An attempt stamped in a
        later minute begins that minute. One stamped in an earlier minute is late (it came
        before the minute turned, and its check ended after a later one was recorded): its line
        keeps its own stamp, but it counts in the current minute (no sums written, no names
        forgotten), however late. Only one stamped more than :data:`LATE_MINUTES` minutes
        before the current one while the current minute is ahead of the wall clock now
        (``wall_clock``, read here: not the attempt's stamp) is the wall clock stepped back: it
        begins its minute, as a later one does. Raises ValueError for an outcome not in
        :data:`OUTCOMES`, or :class:`RecordClosedError` once :meth:`close` has run."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome {outcome!r}: one of {', '.join(OUTCOMES)} expected")
        with self._lock:
            if self._closed:
                raise RecordClosedError(f"the record of login attempts {self.path} is closed (the "
                                        f"server stops): an attempt that ended after it is not recorded")
            data = self._minute_of(when)
            if outcome != THROTTLED:
                data += self._line(when, _shown(user), outcome)
            else:
                key = _name_key(user)
                summed = self._summed.get(key)
                if summed is None and len(self._summed) < THROTTLED_NAMES_PER_MINUTE:
                    self._summed[key] = _Summed(_shown(user))  # its first in the minute: a line now
                    data += self._line(when, _shown(user), outcome)
                else:
                    summed = summed or self._others
                    summed.first = summed.first if summed.count else when
                    summed.count += 1
                    self._start_flush_timer()
            if data:
                self._append(data)

    def record_unnamed(self, when: float, count: int) -> None:
        """Sum ``count`` throttled attempts whose names were not kept, the first at ``when``
        (:data:`REFUSALS_QUEUED`), on the :data:`OTHER_NAMES` line of the minute, as
        :meth:`record` sums the names beyond :data:`THROTTLED_NAMES_PER_MINUTE`. Raises
        :class:`RecordClosedError` once :meth:`close` has run."""
        with self._lock:
            if self._closed:
                raise RecordClosedError(f"the record of login attempts {self.path} is closed (the "
                                        f"server stops): {count} throttled attempt(s) not recorded")
            data = self._minute_of(when)
            self._others.first = self._others.first if self._others.count else when
            self._others.count += count
            self._start_flush_timer()
            if data:
                self._append(data)

    def _minute_of(self, when: float) -> str:
        """Take an attempt stamped ``when`` into the record's minute (:meth:`record`): the lines
        of the last minute's sums when it begins a new minute (its names forgotten), else "".
        Called with the lock held."""
        minute = int(when // _MINUTE_S)
        if self._minute is None or minute > self._minute or (
                self._minute - minute > LATE_MINUTES and self._minute > self._wall_clock() // _MINUTE_S):
            # a later minute, or the clock stepped back (the record's minute ahead of the wall clock now)
            data = self._summary_lines()
            self._summed.clear()
            self._minute = minute
            return data
        return ""

    def _start_flush_timer(self) -> None:
        """Start the timer that writes the sums within :data:`SUM_FLUSH_S`, unless one runs
        (even if no attempt follows). Called with the lock held."""
        if self._pending_flush is None:
            token = self._flush_token = object()
            self._pending_flush = self._flush_timer(SUM_FLUSH_S, functools.partial(self._flush_when_due, token))

    def _summary_lines(self) -> str:
        """The lines of the summed throttled attempts, their counts then set back to 0 (the
        names stay until the minute is over); called with the lock held."""
        sums = [summed for summed in [*self._summed.values(), self._others] if summed.count]
        lines = [self._line(summed.first, summed.shown,
                            THROTTLED if summed.count == 1 else f"{THROTTLED} x{summed.count}")
                 for summed in sums]
        for summed in sums:
            summed.count = 0
        return "".join(lines)

    def _append(self, text: str) -> None:
        """Append ``text`` to the file ``path`` names now, rotating it first if it would grow
        past ``max_bytes``; under ``flock``. Called with the lock held; an OSError is logged once.
        When the ``flock`` cannot be had within ``_FLOCK_WAIT_S`` (another server holds it), the
        text is appended without rotating (``O_APPEND``: whole short lines), said once."""
        data = text.encode("ascii")
        try:
            fd, locked = self._locked_current()
            try:
                size = os.fstat(fd).st_size
                if locked and size and size + len(data) > self.max_bytes:  # path names fd: under the flock
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                    self._fd = self._open()  # fd stays open, and locked, until written below
                os.write(self._fd, data)
            finally:
                if fd != self._fd:
                    os.close(fd)  # the rotated file: closing lets go of its flock
                elif locked:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            if not locked and not self._unlocked:  # once, until the lock is had again
                log.warning(
                    "the record of login attempts %s is locked by another process for over %.0f s; "
                    "lines are appended without its lock (and it is not rotated) meanwhile",
                    self.path, _FLOCK_WAIT_S)
            self._unlocked = not locked
        except OSError as exc:
            if not self._write_failed:  # once: a full disk would fill the console too
                log.warning(
                    "cannot append to the record of login attempts %s (%s); logins go on "
                    "unrecorded until it can be written", self.path, exc.strerror or type(exc).__name__)
            self._write_failed = True
        else:
            self._write_failed = False

    def _names_open_file(self) -> bool:
        """Whether ``path`` names the open file now (False when none is open or it is gone)."""
        if self._fd is None:
            return False
        try:
            now, held = os.lstat(self.path), os.fstat(self._fd)
        except FileNotFoundError:
            return False
        return (now.st_ino, now.st_dev) == (held.st_ino, held.st_dev)

    def _reopen_if_moved(self) -> None:
        """Open the file again when ``path`` no longer names the open file (or none is open)."""
        if not self._names_open_file():
            fd = self._open()
            if self._fd is not None:
                os.close(self._fd)
            self._fd = fd

    def _locked_current(self) -> tuple[int, bool]:
        """The descriptor of the file ``path`` names, and True with an exclusive ``flock`` on it:
        another server sharing the record may rotate it until this one holds the lock, so
        whether ``path`` still names it is looked at again once it is held. False (no lock)
        when another holder keeps it past ``_FLOCK_WAIT_S``, never blocking longer. Raises OSError."""
        deadline = time.monotonic() + _FLOCK_WAIT_S
        for _ in range(8):
            self._reopen_if_moved()
            assert self._fd is not None
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        return self._fd, False
                    time.sleep(_FLOCK_POLL_S)
            if self._names_open_file():
                return self._fd, True
            fcntl.flock(self._fd, fcntl.LOCK_UN)  # rotated meanwhile: open what path names now
        raise OSError(errno.EAGAIN, "the file kept being replaced while it was opened")


class Throttle:
    """Counts failed logins; :meth:`admit` says whether an attempt may be checked at all.

    ``max_failures`` per user name within ``window_s`` seconds, ``max_per_minute`` failures
    of all names in the last minute (module docstring). Every :meth:`admit` that returned True
    must be followed by one :meth:`settle`. User names are kept as their 32-byte SHA-256, never
    as typed. Thread-safe; times are passed in (seconds of ``time.monotonic``, or any clock that
    does not step back).
    """

    def __init__(self, max_failures: int = MAX_FAILURES_PER_USER, window_s: float = FAILURE_WINDOW_S,
                 max_per_minute: int = MAX_FAILURES_PER_MINUTE) -> None:
        self.max_failures, self.window_s, self.max_per_minute = max_failures, window_s, max_per_minute
        self._lock = threading.Lock()
        self._failures: dict[bytes, deque[float]] = {}  # name key -> times of its failures, oldest first
        self._recent: deque[float] = deque()  # times of every failure in the last minute
        self._pending: dict[bytes, int] = {}  # name key -> attempts admitted, not yet settled

    def _forget(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - _MINUTE_S:
            self._recent.popleft()
        for key in list(self._failures):
            times = self._failures[key]
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if not times:
                del self._failures[key]

    def admit(self, user: str, now: float) -> bool:
        """True: check this attempt (it counts as a failure until :meth:`settle`); False: refuse
        it unchecked (``throttled``)."""
        key = _name_key(user)
        with self._lock:
            self._forget(now)
            pending = self._pending.get(key, 0)
            if len(self._failures.get(key, ())) + pending >= self.max_failures:
                return False
            if len(self._recent) + sum(self._pending.values()) >= self.max_per_minute:
                return False
            self._pending[key] = pending + 1
            return True

    def settle(self, user: str, ok: bool, now: float) -> None:
        """End an admitted attempt: ``ok`` False counts it as a failure at ``now``."""
        key = _name_key(user)
        with self._lock:
            left = self._pending.get(key, 0) - 1
            if left > 0:
                self._pending[key] = left
            else:
                self._pending.pop(key, None)
            if not ok:
                self._failures.setdefault(key, deque()).append(now)
                self._recent.append(now)

    def tracked_users(self) -> int:
        """How many user names have failures within the window now (for tests: it stays bounded)."""
        with self._lock:
            return len(self._failures)

    def stored_key_bytes(self) -> int:
        """Bytes of the user-name keys held now (for tests: 32 a name, however long it was typed)."""
        with self._lock:
            return sum(len(key) for key in [*self._failures, *self._pending])


class LoginGuard:
    """The check gradio runs for every login (module docstring): ``logins`` (the login file's,
    :func:`app.auth.read_auth_file`, or ``(user, password)`` pairs), the :class:`Throttle`,
    and the :class:`AuditLog` (None: attempts are not recorded). ``clock``: the throttle's
    seconds (``time.monotonic``); ``wall_clock``: the record's epoch seconds (``time.time``).

    Plaintext secrets are hashed here, once each (:func:`app.auth.hash_password`, with
    :func:`app.auth.common_parameters`; :data:`app.auth.MAX_CONCURRENT_SCRYPT` at a time, in
    threads: scrypt lets go of the GIL): the guard keeps no password (the caller's list still
    holds them until it lets it go). Raises :class:`app.auth.AuthFileError` for a user named
    twice (naming both lines when they come from a file), ValueError for no login, an empty
    plaintext password or a malformed ``scrypt$`` secret.
    """

    def __init__(self, logins: Iterable[Login | tuple[str, str]], *, audit: AuditLog | None = None,
                 throttle: Throttle | None = None, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        given = [login if isinstance(login, Login) else Login(*login) for login in logins]
        if not given:
            raise ValueError("a login guard needs at least one login")
        first: dict[str, Login] = {}
        for login in given:
            if (twice := first.setdefault(login.user, login)) is not login:
                where = (f"on lines {twice.line} and {login.line} of the login file" if twice.line and login.line
                         else "twice")
                raise AuthFileError(f"the user {login.user!r} is named {where}: keep one line per user")
        n, r, p = common_parameters(given)
        plain = [login for login in given if not login.hashed]
        for login in plain:
            if not login.secret:
                raise ValueError(f"the user {login.user!r} has an empty password")

        def hashed(login: Login) -> Login:  # the same scrypt as the unknown names': the time tells nothing
            return login._replace(secret=hash_password(login.secret, n=n, r=r, p=p))

        with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_SCRYPT, thread_name_prefix="auth-hash") as pool:
            made = {login.user: login for login in pool.map(hashed, plain)}  # users: one line each
        self._logins = {login.user: made.get(login.user, login) for login in given}
        self.audit = audit
        self.throttle = throttle if throttle is not None else Throttle()
        self._clock, self._wall_clock = clock, wall_clock
        # gradio_auth's threads, started at the first login (not asyncio.to_thread's shared pool):
        # the admitted checks', and one that writes the refused attempts' lines
        self._check_threads = ThreadPoolExecutor(max_workers=LOGIN_CHECK_THREADS, thread_name_prefix="login-check")
        self._refusal_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="login-refusal")
        self._refusals_lock = threading.Lock()
        self._refusals_queued = 0  # refusals' lines handed to that thread, not yet written
        self._unnamed, self._unnamed_first = 0, 0.0  # throttled attempts beyond REFUSALS_QUEUED, counted
        self._unnamed_final = False  # close() took the last count: a later one is said on the log
        self._closing = False  # close() has begun: gradio_auth refuses every login unchecked
        self._said_stopping = False  # that refusal was said on the log (once)
        # an unknown user's password is hashed as the file's users' are: the time does not tell
        self._dummy = f"{SCHEME}${n}${r}${p}${_zeros(SALT_BYTES)}${_zeros(HASH_BYTES)}"

    @property
    def users(self) -> int:
        """How many logins the guard knows."""
        return len(self._logins)

    def check(self, user: str, password: str) -> bool:
        """True when ``user`` may log in with ``password``: admitted by the throttle and the
        password right. Records the attempt. Never raises: an exception inside is said on the
        console log (not the password) and the login refused (``error``). Thread-safe; may take
        a fraction of a second, in the caller's thread (:meth:`gradio_auth` does the same, its
        hashing in the guard's threads)."""
        when = self._wall_clock()
        refusal = self._refusal(user)
        if refusal is not None:
            return self._refused(when, user, refusal)
        return self._checked(user, password, when)

    def _refusal(self, user: str) -> str | None:
        """Ask the throttle: None when the attempt is admitted (it counts as a failure until
        :meth:`_checked` settles it), else the outcome of its refusal, ``throttled`` (or
        ``error`` when the throttle raised: said on the log). Quick: no hashing, no file."""
        try:
            return None if self.throttle.admit(user, self._clock()) else THROTTLED
        except Exception as exc:  # a bug: refused and said, as an exception in the check
            _say_check_failed(exc)
            return ERROR

    def _checked(self, user: str, password: str, when: float) -> bool:
        """The rest of the check of an attempt the throttle admitted at ``when`` (epoch
        seconds): the password, the throttle settled, the line recorded. False, the right
        password too, when the record refused the line because it is closed (the server stops,
        a check that ended after an interrupted :meth:`close`): no login without its line.
        Never raises."""
        try:
            ok, outcome = self._password(user, password)
        except Exception as exc:  # a 500 would leave no line and tell the client nothing useful
            _say_check_failed(exc)
            ok, outcome = False, ERROR
        recorded = self._record(when, user, outcome)
        return ok and recorded

    def _password(self, user: str, password: str) -> tuple[bool, str]:
        """The password of an admitted attempt: ``(ok, outcome)``; the throttle is settled
        whatever happens. Raises whatever the check raises (the attempt then counts as a failure)."""
        ok = False
        try:
            login = self._logins.get(user)
            if len(user) > MAX_USER_CHARS:  # no line has such a name: hashing would tell nothing
                return False, UNKNOWN
            if login is None:
                verify_password(password, self._dummy)  # the time of a check, then refused
                return False, UNKNOWN
            ok = verify_password(password, login.secret)
            return ok, OK if ok else WRONG
        finally:
            self.throttle.settle(user, ok, self._clock())

    def _record(self, when: float, user: str, outcome: str) -> bool:
        """The attempt's line in the record, when there is one. Never raises. False when the
        record refused it because it is closed (:class:`RecordClosedError`, said on the log);
        True otherwise: written or summed, no record, or a line that could not be written (the
        record says that once, and the login goes on: a full disk does not lock everyone out)."""
        if self.audit is not None:
            try:
                self.audit.record(when, user, outcome)
            except RecordClosedError as exc:
                log.error("the login attempt could not be recorded (%s: %s); it is refused",
                          type(exc).__name__, exc)
                return False
            except Exception as exc:  # AuditLog.record logs OSError itself; anything else: here
                log.error("the login attempt could not be recorded (%s: %s)", type(exc).__name__, exc)
        return True

    async def gradio_auth(self, user: str, password: str) -> bool:
        """:meth:`check` for gradio's ``launch(auth=...)``, what ``serve`` gives it (gradio
        awaits a coroutine function; its event loop goes on serving meanwhile). The throttle is
        asked here, on the event loop (quick: no hashing, no file); an admitted attempt is then
        checked in one of the guard's :data:`LOGIN_CHECK_THREADS` threads, and a refused one
        answered at once, its line handed to the guard's refusal thread and not waited for
        (:data:`REFUSALS_QUEUED`), so that it never waits behind the checks admitted before it
        nor for the record's lock (``asyncio.to_thread``'s pool stays free for the server's
        other work either way). Once :meth:`close` has begun, a login is refused unchecked and
        unrecorded, said once as a warning on the app's log (gradio's server may still end
        requests in progress then), and so is a check that :meth:`close` dropped from the
        queue (a Ctrl-C while it waited), its throttle count given back: never an exception."""
        when = self._wall_clock()
        if self._closing:
            return self._refused_at_stop()
        refusal = self._refusal(user)
        if refusal is not None:
            self._record_refusal(when, user, refusal)
            return False
        try:
            check = self._check_threads.submit(self._checked, user, password, when)
        except RuntimeError:  # close() shut the threads down since the look above
            self.throttle.settle(user, True, self._clock())  # admitted, never checked: no failure counted
            return self._refused_at_stop()
        try:
            return await asyncio.wrap_future(check)
        except asyncio.CancelledError:
            if not check.cancelled():  # it runs or ran: it settles the throttle itself
                raise
            self.throttle.settle(user, True, self._clock())  # dropped from the queue, never checked
            task = asyncio.current_task()
            if not self._closing or (task is not None and task.cancelling()):
                raise  # this request itself was cancelled
            return self._refused_at_stop()

    def _record_refusal(self, when: float, user: str, outcome: str) -> None:
        """Hand the line of an attempt refused at ``when`` to the refusal thread, not waited
        for; beyond :data:`REFUSALS_QUEUED` not yet written, a throttled one is counted instead
        (:meth:`_write_refusal` writes the count). Quick, never raises."""
        if self.audit is None:
            return
        with self._refusals_lock:
            counted = self._refusals_queued >= REFUSALS_QUEUED and outcome == THROTTLED
            if counted and not self._unnamed_final:
                self._unnamed_first = self._unnamed_first if self._unnamed else when
                self._unnamed += 1  # a write is queued: it takes the count (under this lock)
                return
            if not counted:
                self._refusals_queued += 1
        if counted:  # close() took the last count and closed the record: no write would take it
            log.error("1 throttled login attempt could not be recorded (the record is closed)")
            return
        try:
            self._refusal_thread.submit(self._write_refusal, when, user, outcome)
        except RuntimeError:  # close() shut the thread down since gradio_auth looked
            with self._refusals_lock:
                self._refusals_queued -= 1
            self._refused_at_stop()

    def _write_refusal(self, when: float, user: str, outcome: str) -> None:
        """On the refusal thread: the refused attempt's line, then the throttled attempts
        counted meanwhile beyond :data:`REFUSALS_QUEUED` (:meth:`AuditLog.record_unnamed`)."""
        self._record(when, user, outcome)
        self._write_unnamed(done=True)

    def _write_unnamed(self, done: bool = False, final: bool = False) -> None:
        """Sum the throttled attempts counted beyond :data:`REFUSALS_QUEUED` in the record;
        ``done``: a refusal's write ended, taken off the queued count at the same time as the
        count is taken, so that a count never lacks a write to take it; ``final``: :meth:`close`'s
        last count, after which :meth:`_record_refusal` counts nothing more (it says a late
        refusal on the log instead: review F5, a count taken after this one was lost). The record's lock is
        not waited for under the refusals' lock (gradio_auth takes that one on the event loop).
        Never raises."""
        with self._refusals_lock:
            self._refusals_queued -= done
            self._unnamed_final = self._unnamed_final or final
            count, first, self._unnamed = self._unnamed, self._unnamed_first, 0
        if count and self.audit is not None:
            try:
                self.audit.record_unnamed(first, count)
            except Exception as exc:  # closed meanwhile, or a bug: said, as a line that failed
                log.error("%d throttled login attempt(s) could not be recorded (%s: %s)", count,
                          type(exc).__name__, exc)

    def _refused(self, when: float, user: str, outcome: str) -> bool:
        """False, the attempt refused at ``when`` recorded with ``outcome``. Never raises."""
        self._record(when, user, outcome)
        return False

    def _refused_at_stop(self) -> bool:
        """False, a login that came once :meth:`close` had begun; said once on the log."""
        if not self._said_stopping:
            self._said_stopping = True
            log.warning("login refused: the server is stopping (every login until it has stopped is "
                        "refused alike, unchecked and unrecorded; said once)")
        return False

    def close(self) -> None:
        """When the server stops: refuse the logins that come from now on (:meth:`gradio_auth`),
        let every check already given to the guard's threads end, those queued for a thread too
        (at most :data:`MAX_FAILURES_PER_MINUTE` are admitted at a time: each a scrypt check and
        the wait for its slot), then close the record (:meth:`AuditLog.close`), so that their
        lines and the sums are in it. The record is closed whatever stops the wait: a
        KeyboardInterrupt (a second Ctrl-C, SIGTERM's handler) drops the checks and refusals'
        lines still queued (gradio_auth answers a dropped check as a login refused at the stop,
        its throttle count given back), lets those running end (their lines, after the close,
        are refused and said on the log, and such a login is refused, the right password too:
        no login without its line) and is raised again once the record is closed."""
        self._closing = True
        try:
            self._check_threads.shutdown(wait=True)
            self._refusal_thread.shutdown(wait=True)
        except BaseException:  # stop now: what is queued is dropped, the record still closed below
            self._check_threads.shutdown(wait=False, cancel_futures=True)
            self._refusal_thread.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            self._write_unnamed(final=True)  # a count no write took (its write refused at the stop)
            if self.audit is not None:
                self.audit.close()


def _say_check_failed(exc: Exception) -> None:
    """An exception inside a login check, on the console log (never the password)."""
    log.error("a login check failed (%s: %s): the login is refused and recorded as %r",
              type(exc).__name__, exc, ERROR)


def _zeros(size: int) -> str:
    """``size`` zero bytes in base64 (the salt and digest of the unknown users' hash line)."""
    return base64.b64encode(bytes(size)).decode()
