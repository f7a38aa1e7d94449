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
each line written whole by one ``write``, lines of concurrent gradings one after another (a
lock). The app never deletes or rotates it: its retention is the site's (docs/deploying.md).
When a line cannot be written (a full disk), the console log says so, once, and the grading
goes on (the page's result does not wait for the record).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import stat
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["GradingLog", "GradingLogError"]

log = logging.getLogger("app")


class GradingLogError(ValueError):
    """``--grading-log FILE`` cannot be used: the message names the file, what is wrong and the fix."""


class GradingLog:
    """The record of gradings at ``path`` (module docstring). Raises GradingLogError at once
    when the file cannot be created or opened for appending, or is not a plain file (a link, a
    FIFO, a folder), so that a bad place stops the start, not the first grading."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self._lock = threading.Lock()
        self._failed = False  # a write failed: said once in the console log
        try:
            os.close(self._open())
        except OSError as exc:
            raise GradingLogError(
                f"--grading-log {self.path}: cannot be opened for appending "
                f"({exc.strerror or type(exc).__name__}).\n  fix: give --grading-log a plain file in an "
                f"existing folder this account may write (e.g. /var/log/drac_app/gradings.jsonl)") from None

    def _open(self) -> int:
        """The file opened for appending (created 0600), after checking it is a plain file."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0), 0o600)
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
        """Append ``lines`` (:meth:`line`), each by one ``write``; False when that failed (said
        in the console log once, never raised: the grading goes on)."""
        if not lines:
            return True
        with self._lock:
            try:
                fd = self._open()
                try:
                    for text in lines:
                        os.write(fd, text.encode("utf-8"))
                finally:
                    os.close(fd)
            except OSError as exc:
                if not self._failed:
                    self._failed = True
                    log.error("--grading-log %s: a grading could not be recorded (%s); the app goes on "
                              "grading, and says this once", self.path, exc.strerror or type(exc).__name__)
                return False
        return True


def utc_now() -> str:
    """Now, UTC, ISO 8601 to the second: a record's ``utc``."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
