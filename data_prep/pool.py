"""The worker processes of the data preparation: spawn-started, and never outliving it.

The ingest's cache (:func:`data_prep.cache.process_files`) and the phantom generator
(:func:`data_prep.phantom.generate`) decode and render images in a
:class:`concurrent.futures.ProcessPoolExecutor`. Left to itself such a pool has two ways to
outlive the command that started it:

* the command is killed (``kill``, a scheduler's time limit, the OOM killer): the workers
  are orphans, blocked for ever on a queue nobody writes to any more;
* the command is interrupted (Ctrl-C, or SIGTERM turned into one) while the pool still holds
  queued images: leaving the ``with`` block waits for every queued image to be done.

:func:`spawn_pool` closes both: each worker exits as soon as the process that started it is
gone (a thread waits on :func:`multiprocessing.parent_process`'s sentinel), ignores Ctrl-C
(the command handles it, once, in its main process), and an exception in the block
(KeyboardInterrupt included) cancels the images not yet started before the pool is shut down,
so the command ends after the images in progress.

Spawn, not fork: a forked child inherits OpenCV's thread pool half-initialised and can
deadlock when the parent has already used cv2; spawned workers are also safe when torch is
loaded.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

__all__ = ["UnguardedScriptPool", "refuse_top_level_rerun", "spawn_pool", "top_level_rerun", "top_level_rerun_said"]


@contextlib.contextmanager
def spawn_pool(n_workers: int, initializer: Callable[[], None] | None = None) -> Iterator[ProcessPoolExecutor]:
    """A spawn-started process pool of ``n_workers`` workers for a ``with`` block.

    Args:
        n_workers: worker processes (>= 1).
        initializer: run once in each worker after the pool's own set-up; a module-level
            function (it is pickled by name).

    Yields:
        The :class:`~concurrent.futures.ProcessPoolExecutor`. On a normal exit the block waits
        for the work it submitted; on an exception (KeyboardInterrupt included) the work not
        yet started is cancelled, the work in progress is waited for, and the exception
        propagates; a pool whose workers stopped at the script's unguarded top-level call
        raises :class:`UnguardedScriptPool` (a ``BrokenProcessPool``) saying so.
    """
    top_level_rerun_said()  # a stale marker of an earlier process of this id: not this pool's
    pool = ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(initializer,))
    try:
        try:
            yield pool
        except BaseException as exc:
            pool.shutdown(wait=True, cancel_futures=True)
            if isinstance(exc, BrokenProcessPool) and top_level_rerun_said():
                raise UnguardedScriptPool("its workers stopped as they started: each imports this script again "
                                          "and met its top-level call (the error above says the fix)") from None
            raise
        pool.shutdown(wait=True)
    finally:  # a broken pool the block caught itself, or another error: the marker goes all the same
        top_level_rerun_said()


class UnguardedScriptPool(BrokenProcessPool):
    """:func:`spawn_pool`'s pool broke because its workers stopped at the script's top-level
    call (:func:`refuse_top_level_rerun`; one of them printed why): the cause, said once."""


def _start_worker(initializer: Callable[[], None] | None) -> None:
    """Each worker's set-up: exit with the parent, leave Ctrl-C to it, then ``initializer``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_when_gone, args=(parent.sentinel,), daemon=True,
                         name="exit-with-parent").start()
    if initializer is not None:
        initializer()


def _exit_when_gone(sentinel: int) -> None:
    """Block until the parent process has exited, then end this worker at once."""
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


_MAIN_IMPORTS = ("_fixup_main_from_path", "_fixup_main_from_name")
"""The functions of :mod:`multiprocessing.spawn` that run the parent's main module again, as
``__mp_main__``, in a spawn- or forkserver-started child (its ``prepare``)."""


def top_level_rerun() -> str | None:
    """The script (or ``-m`` module) whose top level this call runs in again, inside a child
    process that is importing its parent's main module, else None.

    A spawn-started worker (this package's :func:`spawn_pool`, or one of the caller's own)
    first imports the main module of the process that started it, running its top level as
    ``__mp_main__``; a call there that is not under ``if __name__ == "__main__":`` runs again
    in every worker. Under the forkserver start method (Linux's default from Python 3.14) the
    same holds in every worker up to the Pythons whose forkserver never preloaded the main
    module (3.13.0 and earlier, cpython gh-126631); where it does, the forkserver process
    imports it once, and its workers are forked from it. Told as :mod:`multiprocessing` tells a process
    started there (its ``_check_not_importing_main``: the child's ``_inheriting`` flag, set
    while it unpickles its preparation data and imports the main module), so a deliberate call
    in a worker's task, after that import, is not taken for one; the script is named from the
    stack (:mod:`multiprocessing.spawn`'s functions that import it)."""
    if not getattr(multiprocessing.current_process(), "_inheriting", False):
        return None
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name in _MAIN_IMPORTS and frame.f_globals.get("__name__") == "multiprocessing.spawn":
            where = frame.f_locals.get("main_path") or frame.f_locals.get("mod_name")
            if where:
                return str(where)
        frame = frame.f_back
    return "the main script"


def refuse_top_level_rerun(call: str, workers_fix: str) -> None:
    """Stop this worker process, with one line on stderr, when ``call`` runs in it again from
    the top level of its parent's script (:func:`top_level_rerun`); else return.

    The worker exits (``SystemExit(1)``, no traceback) before the call does anything, so
    neither the call (which would meet its parent's run or ingest lock and blame a run the
    user never started) nor the script's top-level code after it runs there. Of a parent's
    workers only the first to get here prints the line (:func:`top_level_rerun_said`: a marker
    file named by the top process's id, in a folder of this user's own, mode 0700, in the
    temporary folder): a pool of 16 said it 16 times, each with a traceback. The top process
    is the one that imported this module outside a worker's start (its id is in the
    environment variable ``DRAC_SSL_TOP_PID``, which its workers inherit, the forkserver's
    among them); without it, the worker's parent. ``call`` is the function the script calls
    (``drac_ssl.train.main``), ``workers_fix`` the settings that start no worker processes.

    The marker's limits, as they are:

    * the parent removes it: :func:`spawn_pool` when its pool ends (and before it starts),
      ``drac_ssl.train.run_pipeline`` when it starts and ends (a DataLoader's workers);
      a parent killed in between (``kill -9``, the OOM killer) leaves it in the temporary
      folder, a file of one line, until a process of the same id clears it;
    * process ids are reused: a marker older than 60 s is taken for one of an earlier
      process of that id, ignored by the parent and replaced by the worker (removed and made anew, never written through a link), whose line
      is then said. Only where the parent cleared no marker first (a caller's own pool, not
      those two calls) and the dead process's marker is under 60 s old do its workers take it
      for their own and print nothing;
    * no temporary folder to write in, or the user's folder there is not a folder of this
      user's with mode 0700 (another user made it first): each worker prints the line.

    Raises:
        SystemExit: (code 1) in such a worker."""
    script = top_level_rerun()
    if script is None:
        return
    words = top_level_words(call, script, workers_fix)
    try:
        marker = _rerun_marker(_top_pid())
        try:
            _write_new(marker, words)
            first = True
        except FileExistsError:  # another worker said it; or one of a dead parent of this pid
            first = _stale(marker)
            if first:  # a dead process's: replaced, never written through (a link planted there)
                marker.unlink(missing_ok=True)
                try:
                    _write_new(marker, words)
                except FileExistsError:  # another worker replaced it first: it said it
                    first = False
    except OSError:  # no temporary folder to write: each worker says it
        first = True
    if first:
        print(f"error: {words}", file=sys.stderr, flush=True)
    raise SystemExit(1)


_MARKER_FRESH_S = 60.0
"""A marker older than this is of an earlier process of the same id (its workers start within
seconds of each other)."""


TOP_PID_VARIABLE = "DRAC_SSL_TOP_PID"
"""The environment variable with the id of the process whose workers' markers
(:func:`refuse_top_level_rerun`) it looks for: set by this module's import in a process that is
not starting as a worker, inherited by its workers (and by a forkserver, whose workers' parent
it is)."""

_NO_LINKS = getattr(os, "O_NOFOLLOW", 0)


def _this_process_is_the_top() -> None:
    """Name this process the top one in :data:`TOP_PID_VARIABLE`, unless it is a worker importing
    its parent's modules as it starts (whose top process is its parent's)."""
    if not getattr(multiprocessing.current_process(), "_inheriting", False):
        os.environ[TOP_PID_VARIABLE] = str(os.getpid())


def _top_pid() -> int:
    """The id of the process whose workers this one's markers are for: :data:`TOP_PID_VARIABLE`,
    else (not set, or not a number) the parent's."""
    value = os.environ.get(TOP_PID_VARIABLE, "")
    return int(value) if value.isascii() and value.isdigit() else os.getppid()


def _rerun_marker(top_pid: int) -> Path:
    """The file in which the first of ``top_pid``'s workers records :func:`refuse_top_level_rerun`'s
    words, in this user's folder of the temporary folder (made, mode 0700, if missing).

    Raises:
        OSError: the folder cannot be made, or is not a folder of this user's with mode 0700
            (a link, or another user's, made first in a shared ``/tmp``)."""
    uid = getattr(os, "getuid", lambda: None)()
    folder = Path(tempfile.gettempdir()) / (f"drac_ssl-{uid}" if uid is not None else "drac_ssl")
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or (uid is not None and (info.st_uid != uid or info.st_mode & 0o077)):
        raise OSError(f"{folder} is not a folder of this user's with mode 0700")
    return folder / f"top-level-rerun-{top_pid}.txt"


def _write_new(marker: Path, words: str) -> None:
    """Create ``marker`` with ``words``; never through a link, never over a file there.

    Raises:
        FileExistsError: there is a file (or link) of that name."""
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_LINKS, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(words)


def _stale(marker: Path) -> bool:
    try:
        return time.time() - os.lstat(marker).st_mtime > _MARKER_FRESH_S
    except OSError:
        return True


def top_level_rerun_said(clear: bool = True) -> str | None:
    """The words a worker of this process printed when it stopped at the script's top-level
    call (:func:`refuse_top_level_rerun`), else None; the marker is removed with ``clear``.
    For the note of a pool that failed: its workers ended at start, and the cause is said."""
    _this_process_is_the_top()  # its workers, started next, look for it (one started as a worker itself too)
    try:
        marker = _rerun_marker(os.getpid())
    except OSError:
        return None
    try:
        words = None if _stale(marker) else _read(marker)
    except OSError:  # a link there (never read through) or unreadable: no words of its workers
        words = None
    if clear:
        with contextlib.suppress(OSError):
            marker.unlink(missing_ok=True)
    return words or None


def _read(marker: Path) -> str:
    """The words in ``marker``, never read through a link."""
    with os.fdopen(os.open(marker, os.O_RDONLY | _NO_LINKS), encoding="utf-8") as text:
        return text.read()


def top_level_words(call: str, script: str, workers_fix: str) -> str:
    """The error of ``call`` made at the top level of ``script`` in a worker that imports it
    (:func:`top_level_rerun`): the cause and the two fixes, the guard and ``workers_fix`` (no
    worker processes)."""
    return (f"{script}: {call} runs at the top level of this script, not under "
            f"`if __name__ == \"__main__\":`, so each spawn-started worker process (its own among them) "
            f"imports the script and runs the call again; in a worker it is refused -> put the call under `if __name__ == \"__main__\":`, or pass {workers_fix} "
            f"(no worker processes)")


_this_process_is_the_top()
