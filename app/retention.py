"""How long the app keeps what is sent to it and what it makes from it, while the server runs.

Stdlib only (the sweeps work on paths; :mod:`app.server` schedules them). Under ``python -m
app`` every one of these files lies in the server's private working folder (:mod:`app.workdir`),
which goes whole when the server stops; these rules bound what piles up while it runs:

* an upload a handler of the app was given (graded, refused, answered "busy"): gradio's
  ``delete_cache`` (:data:`CACHE_CLEANUP`): every hour, the files older than an hour; it stays
  one to two hours (the page's *Heatmap for* grades the same upload again meanwhile);
* an upload no handler was given yet (a bare ``POST /gradio_api/upload``, a request gradio
  refused, and the files of a ``gradio_client`` batch still uploading: the client sends each
  file in its own request and calls ``/grade_batch`` after the last): deleted once older than
  :data:`UNCLAIMED_UPLOAD_S` (30 minutes), at the app's next sweep (every
  :data:`SWEEP_EVERY_S`, a minute), and the oldest first whenever such uploads together hold
  more than :data:`UNCLAIMED_CAP_BYTES` (4 GiB): :func:`sweep_unclaimed_uploads`. The sweep
  never changes gradio's own record of uploads (its ``upload_file_set``, which gradio's hourly
  pass iterates in another thread: a change of its size meanwhile ends that pass for the
  server's life); :class:`UploadClaims` keeps the app's record of what it deleted;
* what an upload that never finished leaves (gradio's ``tmpXXXXXXXX`` file directly in the
  upload folder, when a client disconnects mid-body: in no record of gradio's) once older than
  :data:`UNCLAIMED_UPLOAD_S`, and the empty ``<sha256>`` folders that deleted uploads leave:
  :func:`sweep_upload_leftovers`;
* the app's own files, the pictures shown on the page and the batch CSVs (and their folders):
  deleted once older than :data:`KEPT_S` (the hour of gradio's rule), at the next sweep:
  :func:`sweep_old_entries`, :meth:`app.server._DisplayFiles.expire`.

Ages are taken from the later of a file's modification and status-change times (gradio's
``delete_cache`` ages by the status-change time: a file moved into its cache is new there).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import threading
import time
from collections.abc import Iterable, MutableSet
from pathlib import Path

__all__ = ["CACHE_CLEANUP", "KEPT_S", "SWEEP_EVERY_S", "UNCLAIMED_CAP_BYTES", "UNCLAIMED_UPLOAD_S",
           "UploadClaims", "retention_words", "sweep_old_entries", "sweep_unclaimed_uploads",
           "sweep_upload_leftovers"]

CACHE_CLEANUP = (3600, 3600)
"""gradio's ``delete_cache`` ``(every, older_than)`` in seconds: every hour, the uploads a
handler was given and the files gradio copied into its cache that are older than an hour are
deleted while the server runs; such an upload therefore stays about two hours at most.
``python -m app`` keeps that cache in its private working folder, removed whole when the
server stops (Ctrl-C or SIGTERM) or, after a crash, at the next start (:mod:`app.workdir`)."""

KEPT_S = CACHE_CLEANUP[1]
"""Seconds the app keeps its own files (the page's pictures, the batch CSVs): gradio's hour. A
page opened within the hour can still fetch them (gradio serves them, or copies of them)."""

UNCLAIMED_UPLOAD_S = 1800
"""Seconds an upload that no handler of the app was given is kept: gradio stores every file
``POST /gradio_api/upload`` receives (up to its ``max_file_size``, any type, up to 1000 a
request) before any handler runs, and such a file would otherwise wait for the hourly
``delete_cache``. The page's uploads are handed to a handler at once (the single-image tab grades
on upload; the batch tab's upload event claims the files), but ``gradio_client`` uploads a
batch one file per request and calls ``/grade_batch`` only after the last: 200 files over a
slow link take many minutes, and the batch claims its files only when it starts (5 minutes,
the rule before, deleted a slow batch's first files before it was graded, on every retry).
Thirty minutes cover such a batch; the disk is bounded by :data:`UNCLAIMED_CAP_BYTES`. A batch
that takes longer to upload finds its first files gone ("could not be found on the server:
... send smaller batches")."""

UNCLAIMED_CAP_BYTES = 4 * 1024 ** 3
"""Bytes that the uploads no handler was given may hold together (4 GiB): above it the sweep
deletes the oldest of them first, whatever their age, until they hold no more (a flood of
bare uploads fills no disk within :data:`UNCLAIMED_UPLOAD_S`)."""

SWEEP_EVERY_S = 60
"""Seconds between the app's sweeps while the server runs."""


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes % 60 == 0:
        hours = minutes // 60
        return "an hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def retention_words() -> str:
    """The rules in a line, for the server's start-up log: "an upload no request used is deleted
    after 30 minutes (the oldest first above 4 GiB of them), the pictures and batch CSVs after an
    hour, the other uploads within 2 hours"."""
    every, older = CACHE_CLEANUP
    return (f"an upload no request used is deleted after {_minutes(UNCLAIMED_UPLOAD_S)} (the "
            f"oldest first above {UNCLAIMED_CAP_BYTES / 1024 ** 3:g} GiB of them), the "
            f"pictures and batch CSVs after {_minutes(KEPT_S)}, the other uploads within "
            f"{_minutes(every + older)}")


def _age(path: Path, now: float) -> float | None:
    """Seconds since ``path`` (not followed if a link) was last written or moved; None when it
    is gone."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return now - max(info.st_mtime, info.st_ctime)


def _key(path: str | os.PathLike[str]) -> str:
    """One spelling of a path for comparison (absolute, links resolved)."""
    return os.path.realpath(path)


class UploadClaims:
    """The uploads that a handler of the app was given, by path: an upload claimed is kept by
    gradio's hourly rule (:data:`CACHE_CLEANUP`), one never claimed goes after
    :data:`UNCLAIMED_UPLOAD_S` (:func:`sweep_unclaimed_uploads`). Thread-safe: handlers claim from
    gradio's worker threads while the sweep runs in another."""

    def __init__(self) -> None:
        self._paths: set[str] = set()
        self._gone: set[str] = set()
        """gradio's upload paths (as gradio spells them) that the sweep deleted or found gone:
        the app's own record, since gradio's set is never changed by the app."""
        self.lock = threading.Lock()
        """Held by :meth:`claim` and by the sweep while it decides on and deletes a file: an
        upload is either claimed before the sweep looks at it, or gone when its handler reads it."""

    def claim(self, paths: Iterable[str | os.PathLike[str] | None] | str | os.PathLike[str] | None) -> None:
        """Mark ``paths`` (one path, a list of them, None entries skipped) as given to a handler."""
        if paths is None or isinstance(paths, str | os.PathLike):
            paths = [paths]
        keys = [_key(p) for p in paths if p]
        with self.lock:
            self._paths.update(keys)

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str | os.PathLike):
            return False
        return _key(path) in self._paths

    def __len__(self) -> int:
        return len(self._paths)

    def gone(self) -> frozenset[str]:
        """The upload paths the sweep deleted or found gone (and not uploaded again since), as
        gradio's set spells them."""
        with self.lock:
            return frozenset(self._gone)

    def forget_missing(self) -> None:
        """Drop the claims of files no longer there (deleted by gradio's rule): the set stays as
        small as the cache."""
        with self.lock:
            self._paths = {p for p in self._paths if os.path.lexists(p)}


def sweep_unclaimed_uploads(uploads: MutableSet[str], claims: UploadClaims,
                            folder: str | os.PathLike[str], older_than: float = UNCLAIMED_UPLOAD_S,
                            now: float | None = None, cap_bytes: int = UNCLAIMED_CAP_BYTES) -> list[Path]:
    """Delete the uploads no handler was given that are older than ``older_than`` seconds, and
    then, while those left hold more than ``cap_bytes`` bytes together, the oldest of them.

    ``uploads``: every path gradio's upload route stored (its ``Blocks.upload_file_set``),
    only read, never changed (gradio's hourly pass iterates it in another thread): the paths
    deleted or found gone are recorded in ``claims`` (:meth:`UploadClaims.gone`). Only plain files inside ``folder`` (gradio's upload
    folder) are deleted, never a link or anything elsewhere; a claimed path (``claims``) is
    kept, and a younger one while the cap allows. ``now``: the time to age against (default:
    now). Returns the deleted paths, oldest first; a file that cannot be deleted is skipped (the
    next sweep tries again)."""
    now = time.time() if now is None else now
    root = _key(folder)
    for _ in range(3):  # a copy: gradio's upload route adds to the set from another thread
        try:
            listed = list(uploads)
            break
        except RuntimeError:  # "Set changed size during iteration"
            continue
    else:
        return []
    waiting: list[tuple[float, int, str]] = []  # (age s, size bytes, path): unclaimed, there
    gone: set[str] = set()  # of the paths listed: deleted or found gone
    for path in listed:
        if path in claims:
            continue
        key = _key(path)
        if os.path.commonpath([root, key]) != root or key == root:
            continue
        try:
            info = os.lstat(path)
        except OSError:
            gone.add(path)  # gone already (gradio's rule, a handler)
            continue
        if not stat.S_ISREG(info.st_mode):  # a link, a folder: never
            continue
        waiting.append((now - max(info.st_mtime, info.st_ctime), info.st_size, path))
    waiting.sort(reverse=True)  # the oldest first
    held = sum(size for _, size, _ in waiting)
    removed: list[Path] = []
    for age, size, path in waiting:
        if age <= older_than and held <= cap_bytes:
            break  # the rest are younger, and the cap is kept
        with claims.lock:  # claimed meanwhile (a batch started): kept
            if path in claims:
                continue
            try:
                Path(path).unlink()
            except OSError:
                continue
        held -= size
        gone.add(path)
        removed.append(Path(path))
    with claims.lock:  # only paths gradio still lists: the record stays as small as its set
        claims._gone = gone
    return removed


_PARTIAL_UPLOAD = re.compile(r"tmp[a-z0-9_]{8}")
"""The name of the file gradio's upload route writes a body into (``NamedTemporaryFile`` in the
upload folder) before it moves it to ``<sha256>/<name>``."""

_UPLOAD_FOLDER = re.compile(r"[0-9a-f]{64}")
"""The name of the folder gradio keeps one upload (or cached copy) in: its SHA-256."""


def _entries(folder: str | os.PathLike[str] | None) -> list[os.DirEntry[str]]:
    """What is directly in ``folder``; none when it is None, missing or unreadable (never the
    working folder, which ``os.scandir(None)`` would list)."""
    if folder is None:
        return []
    try:
        return list(os.scandir(folder))
    except OSError:
        return []


def sweep_upload_leftovers(folder: str | os.PathLike[str], older_than: float = UNCLAIMED_UPLOAD_S,
                           now: float | None = None, empty_after: float = 30) -> list[Path]:
    """Delete what uploads leave directly in ``folder`` (gradio's upload folder) outside any
    record: the partial body of an upload whose client went away (a plain file named
    ``tmpXXXXXXXX``, not a link) once older than ``older_than`` seconds, and each empty
    ``<sha256>`` folder (64 hex digits) older than ``empty_after`` seconds (the moment between
    gradio making it and moving the upload in is spared). Nothing else in ``folder`` is touched
    (the server's lock file, the app's own folders). None or a missing ``folder``: nothing.
    Returns the deleted paths."""
    now = time.time() if now is None else now
    entries = _entries(folder)
    removed: list[Path] = []
    for entry in entries:
        path = Path(entry.path)
        try:
            if _PARTIAL_UPLOAD.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                age = _age(path, now)
                if age is not None and age > older_than:
                    path.unlink()
                    removed.append(path)
            elif _UPLOAD_FOLDER.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                age = _age(path, now)
                if age is not None and age > empty_after and not any(os.scandir(path)):
                    path.rmdir()  # fails (OSError) if an upload arrived meanwhile
                    removed.append(path)
        except OSError:
            continue
    return removed


def sweep_old_entries(folder: str | os.PathLike[str] | None, older_than: float = KEPT_S,
                      now: float | None = None) -> list[Path]:
    """Delete each file or folder directly in ``folder`` older than ``older_than`` seconds (a
    folder by its own time: when its last file was added); links are removed, never followed.
    None or a missing ``folder``: nothing. Returns the deleted paths."""
    if folder is None:
        return []
    now = time.time() if now is None else now
    entries = _entries(folder)
    removed: list[Path] = []
    for entry in entries:
        path = Path(entry.path)
        age = _age(path, now)
        if age is None or age <= older_than:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed
