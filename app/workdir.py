"""One private working folder per ``python -m app`` server process, for every file the app and
gradio write about a patient (uploads, display copies, heatmaps, batch CSVs).

The folder ``<base>/drac_app_<pid>_<random>`` is made with mode 0700 (whatever the umask), so no
other local account can list or read it; gradio is pointed at it through ``GRADIO_TEMP_DIR``
and Python's :mod:`tempfile` through ``tempfile.tempdir``. It is removed whole when the server
stops (:func:`private_workdir`); folders that killed servers left behind (a crash, an OOM kill,
a power cut) are removed at the next start (:func:`remove_stale_workdirs`): a server holds a
lock on its folder while it runs, so a live server's folder is never taken for a stale one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from drac_ssl.io import pid_alive, try_lock

__all__ = ["LOCK", "PREFIX", "private_workdir", "remove_stale_workdirs", "workdir_pid"]

PREFIX = "drac_app_"
"""Folder names are ``drac_app_<pid>_<random>``; the app's older ``drac_app_display_*`` /
``drac_app_batch_*`` folders (now inside this one) do not match :data:`_NAME`."""
_NAME = re.compile(rf"^{PREFIX}(\d+)_[A-Za-z0-9_]+$")
LOCK = ".lock"
"""A file in the folder that its server holds an exclusive ``flock`` on while it runs; the
kernel drops the lock when the process dies, however it dies."""

STARTING_GRACE_S = 60.0
"""Seconds for which a running pid's folder is kept even with its lock free: a server makes
the lock file, then locks it; a start in between must not take the folder for stale."""


def workdir_pid(name: str) -> int | None:
    """The server pid in a working folder's name ``drac_app_<pid>_<random>``; None for any
    other name."""
    match = _NAME.match(name)
    return int(match.group(1)) if match else None


def remove_stale_workdirs(base: str | os.PathLike[str], keep: str | os.PathLike[str] | None = None,
                          ) -> list[Path]:
    """Remove the working folders in ``base`` that app servers no longer running left behind.

    Only real folders (not links) named ``drac_app_<pid>_<random>`` and owned by this user are
    considered; ``keep`` (this server's own folder) and everything else are never touched. A
    folder is stale when its :data:`LOCK` file is not locked (its server is gone, whatever its
    pid now names: pids are reused, and a server in another pid namespace sharing ``base``
    holds its lock too) or, without a lock file, when ``pid`` is not a running process (or is
    this process's own: an earlier process with the same pid). A folder of a running pid
    younger than :data:`STARTING_GRACE_S` is kept either way (its server may be between making
    the lock file and locking it). Returns the removed folders; a
    folder that cannot be removed is skipped (the next start tries again).
    """
    keep_path = Path(keep).resolve() if keep is not None else None
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        pid = workdir_pid(entry.name)
        if pid is None:
            continue
        path = Path(entry.path)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        if keep_path is not None and path.resolve() == keep_path:
            continue
        alive = pid != os.getpid() and pid_alive(pid)
        if alive and time.time() - info.st_mtime < STARTING_GRACE_S:
            continue  # a server starting now: its lock file may exist a moment before its lock
        with _lock_if_free(path / LOCK) as free:
            if free is False or (free is None and alive):
                continue
            shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    return removed


@contextlib.contextmanager
def _lock_if_free(lock: Path) -> Iterator[bool | None]:
    """Hold ``lock`` while the block runs when no process holds it: True; False when a process
    holds it; None when there is no such plain file."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        yield None
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            yield None
            return
        if not try_lock(fd):
            yield False
            return
        yield True
    finally:
        os.close(fd)


@contextlib.contextmanager
def private_workdir(base: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Make this process's private working folder under ``base`` (default: the system temp
    folder), point gradio (``GRADIO_TEMP_DIR``) and :mod:`tempfile` at it, and remove it whole on
    exit from the block, however the block ends; the previous settings are restored.

    Enter it before gradio is imported: gradio reads ``GRADIO_TEMP_DIR`` partly at import.
    Raises ``FileNotFoundError`` / ``NotADirectoryError`` when ``base`` is not a folder.
    """
    base = Path(base if base is not None else tempfile.gettempdir())
    if not base.is_dir():
        raise (NotADirectoryError if base.exists() else FileNotFoundError)(
            f"{base}: not a folder (give an existing folder, e.g. on an encrypted volume)")
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}_", dir=base))  # mode 0700
    lock = os.open(root / LOCK, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    try_lock(lock)  # a new file: taken; held until this process ends
    before_env, before_tempdir = os.environ.get("GRADIO_TEMP_DIR"), tempfile.tempdir
    os.environ["GRADIO_TEMP_DIR"] = str(root)
    tempfile.tempdir = str(root)
    try:
        yield root
    finally:
        tempfile.tempdir = before_tempdir
        if before_env is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = before_env
        shutil.rmtree(root, ignore_errors=True)
        os.close(lock)
