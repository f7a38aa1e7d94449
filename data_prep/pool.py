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
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

__all__ = ["spawn_pool"]


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
