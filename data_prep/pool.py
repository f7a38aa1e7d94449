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
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

__all__ = ["spawn_pool", "top_level_rerun"]


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
        propagates.
    """
    pool = ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(initializer,))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


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

    A spawn- or forkserver-started worker (this package's :func:`spawn_pool`, or one of the
    caller's own) first imports the main module of the process that started it, running its
    top level as ``__mp_main__``; a call there that is not under ``if __name__ ==
    "__main__":`` runs again in every worker. Told as :mod:`multiprocessing` tells a process
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


def top_level_words(call: str, script: str, workers_fix: str) -> str:
    """The error of ``call`` made at the top level of ``script`` in a worker that imports it
    (:func:`top_level_rerun`): the cause and the two fixes, the guard and ``workers_fix`` (no
    worker processes)."""
    return (f"{script}: {call} runs at the top level of this script, not under "
            f"`if __name__ == \"__main__\":`, so each spawn-started worker process (its own among them) "
            f"imports the script and runs the call again; in a worker it is refused -> put the call under `if __name__ == \"__main__\":`, or pass {workers_fix} "
            f"(no worker processes)")
