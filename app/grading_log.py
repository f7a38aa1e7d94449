"""The app's opt-in record of each grading (``python -m app --grading-log FILE``).

Off unless asked for: the app otherwise keeps nothing of a grading beyond the hour of its
retention rules (:mod:`app.retention`). With ``--grading-log FILE`` every image the model grades
(the single-image tab, ``/grade``, and each graded file of a batch, ``/grade_batch``) appends one
JSON line to ``FILE``:

``{"utc": "2026-12-07T04:30:00+00:00", "user": "dr_x", "image_sha256": "<64 hex>",
"bundle_metadata_sha256": "<64 hex>", "grade": 1, "grade_name": "NPDR", "P": [0.1, 0.7, 0.2],
"tta": true, "via": "single"}``

``utc``: when it was graded (ISO 8601, seconds); ``user``: the signed-in user name (``--auth-file``),
null without logins; ``image_sha256``: the SHA-256 of the uploaded file's bytes (``sha256sum``
of a file tells whether it is the one graded), never the image, its file name or its path;
``bundle_metadata_sha256``: all 64 hex digits of ``sha256sum bundle/metadata.json`` (the
bundle that graded); ``grade``, ``grade_name``, ``P`` (the probabilities, in grade order, 6
decimals); ``tta``: whether the 4 flips graded; ``via``: ``single`` or ``batch``. A heatmap choice
changed on the single-image tab grades the upload again: another line.

The file is created mode 0600 (a link, a FIFO or anything but a plain file is refused at the
start), opened for each line in append mode (a file moved away by logrotate is made anew),
each line written whole (a short ``write``, a full disk's, is followed by the rest; one that
writes nothing is a failure), after a newline when the file does not end with one (a line cut
short by an earlier failure stays a line of its own, never glued to the next), lines of
concurrent gradings one after another (a lock). Above ``max_bytes`` (``--grading-log-max-mb``,
default :data:`GRADING_LOG_MAX_MB` MiB) the file is renamed ``FILE.<UTC yyyymmddThhmmssZ>``
(the time of the rename; ``FILE.<stamp>.001``, ``.002`` ... when that name is taken) before the
next lines and a new ``FILE`` begun; the rename (a hard link to the new name, which fails on a
name taken, then ``FILE`` unlinked) never replaces a file and nothing is removed:
the app deletes no line, ever; the rotated files are kept until the site prunes them by its
retention rule (docs/deploying.md). Their names sort by time (:meth:`GradingLog.rotated_files`
lists them oldest first; ``FILE`` itself is the newest): read so, each server's lines come in
the order it wrote them (not across servers sharing ``FILE``: below). The rotation keeps one
file small enough to open, as ``logging.handlers.RotatingFileHandler`` would (not used: it removes the
oldest file, and its buffered stream breaks the guarantees of :func:`_write_all`); the size
check and the rename hold an ``flock`` on the file, so that two servers sharing it do not both
rotate it (one that cannot have it at once writes to the file it opened, rotating nothing;
where the filesystem refuses locks, ENOLCK, the file is never rotated, said once: use
``--grading-log-max-mb 0`` and logrotate).
``max_bytes`` 0: never rotated (logrotate's job, if the site wants one).
When a line cannot be written (a full disk), the console log says so once for each run of
failures, and the grading goes on (the page's result does not wait for the record); the first
line written after it says in the console log that recording goes on again and how many lines
were lost meanwhile (:attr:`GradingLog.lost`, all lost lines since the start). A grading whose
upload was gone before it could be hashed (:meth:`GradingLog.lose`) is a lost line too, said
each time.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import json
import logging
import os
import re
import stat
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["GRADING_LOG_MAX_MB", "GradingLog", "GradingLogError", "mib_bytes"]

log = logging.getLogger("app")

_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOSYS,
                            errno.EMLINK})
"""``os.link`` errors of a filesystem (or file) that takes no hard link: rotated by a rename."""

GRADING_LOG_MAX_MB = 100.0
"""``--grading-log-max-mb``'s default: the size (MiB) above which the record is rotated (about
300,000 lines of ~350 bytes); the rotated files are all kept."""


def mib_bytes(mib: float) -> int:
    """``--grading-log-max-mb`` in bytes (1 MiB = 1,048,576 bytes), at least 1; 0 (or less)
    stays 0: never rotated."""
    return max(round(mib * 2**20), 1) if mib > 0 else 0


class GradingLogError(ValueError):
    """``--grading-log FILE`` cannot be used: the message names the file, what is wrong and the fix."""


class GradingLog:
    """The record of gradings at ``path`` (module docstring). Raises GradingLogError at once
    when the file cannot be created or opened for appending, or is not a plain file (a link, a
    FIFO, a folder), so that a bad place stops the start, not the first grading."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = 0) -> None:
        self.path = Path(path).absolute()
        self.max_bytes = max(int(max_bytes), 0)
        """Rotate the file before lines that would take it past this many bytes; 0: never."""
        self._rotation_failing = False  # the last rotation failed (said once until one works)
        self._lock_refused = False  # flock refused (no locks on that filesystem): said once
        self._lock = threading.Lock()
        self._failing = 0  # lines lost since the last write failed (0: the last write succeeded)
        self.lost = 0
        """Lines lost since the start: not written (a write failed) or not made (:meth:`lose`)."""
        try:
            os.close(self._open())
        except OSError as exc:
            raise GradingLogError(
                f"--grading-log {self.path}: cannot be opened for appending "
                f"({exc.strerror or type(exc).__name__}).\n  fix: give --grading-log a plain file in an "
                f"existing folder this account may write (e.g. /var/log/drac_app/gradings.jsonl)") from None

    def _open(self) -> int:
        """The file opened for appending (created 0600), after checking it is a plain file."""
        flags = os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:  # read too: whether the file ends with a newline (_ends_cut)
            fd = os.open(self.path, os.O_RDWR | flags, 0o600)
        except PermissionError:  # a file the site made write-only for this account
            fd = os.open(self.path, os.O_WRONLY | flags, 0o600)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(0, "not a plain file")
        return fd

    @staticmethod
    def line(*, utc: str, user: str | None, image_sha256: str, bundle_sha256: str, grade: int,
             grade_name: str, probabilities: Sequence[float], tta: bool, via: str) -> str:
        """One record, a JSON object on one line (module docstring; ``P`` rounded to 6 decimals,
        as the grades CSV holds them)."""
        return json.dumps({"utc": utc, "user": user, "image_sha256": image_sha256,
                           "bundle_metadata_sha256": bundle_sha256, "grade": int(grade),
                           "grade_name": grade_name, "P": [round(float(p), 6) for p in probabilities],
                           "tta": bool(tta), "via": via}, ensure_ascii=False) + "\n"

    def record(self, lines: Sequence[str]) -> bool:
        """Append ``lines`` (:meth:`line`), each written whole (:func:`_write_all`), after a
        newline when the file ends inside a line (:func:`_ends_cut`); False when that failed,
        never raised: the grading goes on. The console log says the first failure of a run of
        them (the lines not written counted in :attr:`lost`), and, at the next line written,
        that recording goes on again with the number of lines lost meanwhile."""
        if not lines:
            return True
        with self._lock:
            written = 0
            try:
                fd = self._open()
                try:
                    rotated = self._rotated(fd, sum(len(text.encode("utf-8")) for text in lines))
                except BaseException:
                    os.close(fd)
                    raise
                if rotated:
                    os.close(fd)
                    fd = self._open()  # the new, empty file
                try:
                    if _ends_cut(fd):
                        _write_all(fd, b"\n")
                    for text in lines:
                        _write_all(fd, text.encode("utf-8"))
                        written += 1
                finally:
                    os.close(fd)
            except OSError as exc:
                lost = len(lines) - written
                self.lost += lost
                if not self._failing:
                    log.error("--grading-log %s: %d grading line(s) could not be recorded (%s); the app goes "
                              "on grading, and says when recording works again", self.path, lost,
                              exc.strerror or type(exc).__name__)
                self._failing += lost
                return False
            if self._failing:
                log.warning("--grading-log %s: recording again; %d grading line(s) were lost since it "
                            "failed (%d since the start)", self.path, self._failing, self.lost)
                self._failing = 0
        return True

    def _rotated(self, fd: int, incoming: int) -> bool:
        """Rotate the file open at ``fd`` (module docstring) when ``incoming`` bytes would take it
        past :attr:`max_bytes` and it already holds some; True when ``path`` was renamed (the
        caller opens the new file). Under an ``flock`` of ``fd``, taken without waiting: False
        (write to ``fd``) when another server holds it, or has rotated the file since ``fd``
        was opened; False, said once, where the filesystem takes no lock (ENOLCK). A rename that fails (a folder this account may not write) is said once in
        the console log until one works, and the lines go to ``fd``: never lost to a rotation."""
        if not self.max_bytes:
            return False
        size = os.fstat(fd).st_size
        if not size or size + incoming <= self.max_bytes:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # EWOULDBLOCK: another server holds it, rotating it now
            return False
        except OSError as exc:  # no locks there (ENOLCK: NFS mounted nolock): never rotated, said once
            # not rotated without the lock: link + unlink is no atomic step, and between them a
            # server elsewhere could rotate FILE and begin a new one, whose name the unlink removes
            if not self._lock_refused:
                log.warning("--grading-log %s: cannot lock it for rotation (%s); it is not rotated: use "
                            "--grading-log-max-mb 0 and logrotate (docs/deploying.md)", self.path,
                            exc.strerror or type(exc).__name__)
            self._lock_refused = True
            return False
        try:
            try:
                now = os.lstat(self.path)
            except FileNotFoundError:
                return False
            held = os.fstat(fd)
            if (now.st_ino, now.st_dev) != (held.st_ino, held.st_dev):  # rotated by another meanwhile
                return False
            try:
                target = self._move_aside()
            except OSError as exc:
                if not self._rotation_failing:
                    log.warning("--grading-log %s: cannot rotate it, though the next line(s) would take it "
                                "past %d bytes (%s); lines are appended "
                                "to it meanwhile", self.path, self.max_bytes, exc.strerror or type(exc).__name__)
                self._rotation_failing = True
                return False
            self._rotation_failing = False
            log.info("--grading-log %s: the next line(s) would take it past %d bytes: renamed %s and a new "
                     "one begun (the app deletes no rotated file)", self.path, self.max_bytes, target.name)
            return True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _move_aside(self) -> Path:
        """Give ``FILE`` its rotated name (:meth:`_rotated_names`) and free ``FILE``; the name given.
        ``os.link`` to the name, then ``os.unlink`` of ``FILE``: the link fails (EEXIST) on a name
        taken, even by a server on another host the ``flock`` does not reach (NFS without locks),
        where ``os.rename`` would silently replace that file; the next name is tried. Writers
        holding ``FILE`` open append to the same file (inode) meanwhile: no line is lost. Where
        the filesystem has no hard links (EPERM, ENOTSUP, EXDEV ...), a rename to a name free
        now, safe under the ``flock`` only. Raises OSError (a folder this account may not write)."""
        for target in self._rotated_names():
            try:
                os.link(self.path, target, follow_symlinks=False)
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                target = next(name for name in self._rotated_names() if not os.path.lexists(name))
                os.rename(self.path, target)  # a free name (under the flock): replaces nothing
                return target
            try:
                os.unlink(self.path)
            except OSError:
                os.unlink(target)  # FILE keeps its one name: not rotated, said by the caller
                raise
            return target
        raise AssertionError("unreachable: _rotated_names never ends")

    def _rotated_names(self) -> Iterator[Path]:
        """``FILE.<UTC yyyymmddThhmmssZ>``, then ``FILE.<stamp>.001``, ``.002`` ... (the names to
        try, in turn, for several rotations in one second)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        yield self.path.with_name(f"{self.path.name}.{stamp}")
        for n in itertools.count(1):
            yield self.path.with_name(f"{self.path.name}.{stamp}.{n:03d}")

    def rotated_files(self) -> list[Path]:
        """The rotated files beside :attr:`path` (``FILE.<stamp>[.n]``), oldest first: read them in
        this order, then ``FILE``: each server's lines in the order it wrote them (a server that
        could not take the lock appends to the file it opened, maybe one just rotated, so the
        lines of several servers sharing ``FILE`` may interleave across files). Empty when none."""
        pattern = re.compile(re.escape(self.path.name) + r"\.(\d{8}T\d{6}Z)(?:\.(\d+))?")
        found = []
        for entry in self.path.parent.iterdir():
            match = pattern.fullmatch(entry.name)
            if match:
                found.append(((match[1], int(match[2] or 0)), entry))
        return [entry for _, entry in sorted(found)]

    def lose(self, count: int, why: str) -> None:
        """Say in the console log that ``count`` gradings get no line, and why (``why``: no file
        name, no path), counted in :attr:`lost`: a grading is never left out of the record
        silently."""
        with self._lock:
            self.lost += count
            log.error("--grading-log %s: %d grading line(s) not recorded: %s (%d lost since the start)",
                      self.path, count, why, self.lost)


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``: ``os.write`` may write part of it (a disk filling up);
    the rest follows. Raises OSError (ENOSPC) when a write writes nothing, and as ``os.write``.
    Not a buffered file's write + flush: its flush retries a write of nothing for ever (holding
    the log's lock: every grading would wait), and a failed line's rest, kept in its buffer, is
    written at its close after the line was counted lost. A line is one ``write`` of the
    ``O_APPEND`` file (more only after a short one), so the lines of another process appending
    to it land between whole lines."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, "a write wrote nothing")
        view = view[written:]


def _ends_cut(fd: int) -> bool:
    """Whether the file open at ``fd`` ends inside a line (not empty, its last byte no newline:
    a line an earlier failure cut short). False when it cannot be read (opened write-only)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return False
    try:
        return os.pread(fd, 1, size - 1) != b"\n"
    except OSError:
        return False
