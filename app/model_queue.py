"""The app's own bounded queue in front of the model, and its "busy, retry" answer.

gradio's queue (``Blocks.queue(max_size=...)``) refuses a request beyond its bound with its
own text ("Queue is full. Max size is ..."), raised as an error in ``gradio_client`` and as a
toast in the page; it cannot be worded by the app. So the bound that matters is kept here:
:class:`ModelQueue` lets at most ``workers`` requests run the model at once and at most
``queue_size`` more wait (first come, first served); a request beyond that is answered at
once with :class:`ServerBusy`, whose message the handlers put into the page and the details
JSON like any other message (``busy: true``, ``retry_after_s``). The server gives gradio's
queue room for every request the app admits plus a margin (:func:`gradio_limits`), so
gradio's own refusal is only a flood guard far above the app's bound.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ModelQueue", "ServerBusy", "gradio_limits"]

BUSY_SPARE = 4
"""Requests gradio may hand to the app beyond what it admits, to be answered "busy" at once
(so refusals do not wait for one another)."""
GRADIO_GUARD_FACTOR = 8
"""gradio's own queue bound, as a multiple of what the app admits: a flood guard only."""


class ServerBusy(RuntimeError):
    """The model queue is full; ``str(exc)`` is the message for the page and
    ``retry_after_s`` a suggested wait in seconds."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModelQueue:
    """At most ``workers`` holders of :meth:`slot` at once, at most ``queue_size`` waiting
    for one (FIFO); more raise :class:`ServerBusy` without waiting.

    ``kept``: what the busy message says became of the upload (the server's words: its
    upload folder's clean-up); the queue itself keeps nothing, but the web server has stored
    the upload before the request reaches it. Thread-safe. :attr:`peak_waiting` and
    :attr:`refused` count what happened (for the load benchmark and the log)."""

    def __init__(self, workers: int, queue_size: int, kept: str = "") -> None:
        if workers < 1 or queue_size < 0:
            raise ValueError(f"workers must be >= 1 and queue_size >= 0, got {workers}, {queue_size}")
        self.workers = int(workers)
        self.kept = kept
        self.queue_size = int(queue_size)
        self._cond = threading.Condition()
        self._running = 0
        self._waiting: collections.deque[object] = collections.deque()
        self._recent: collections.deque[float] = collections.deque(maxlen=20)  # seconds per slot
        self.peak_waiting = 0
        self.refused = 0

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    def _busy(self) -> ServerBusy:
        per_request = sorted(self._recent)[len(self._recent) // 2] if self._recent else 1.0
        wait = max(1.0, round(per_request * (len(self._waiting) + self._running) / self.workers, 1))
        return ServerBusy(
            f"The grader is busy: {self._running} image(s) are being graded and "
            f"{len(self._waiting)} are waiting (the queue holds {self.queue_size}). Nothing was "
            f"graded.{' ' + self.kept if self.kept else ''} Please try again in about {wait:g} s.", wait)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the ``workers`` slots for the duration of the ``with`` block, waiting
        in line for it; :class:`ServerBusy` at once when ``queue_size`` already wait."""
        ticket = object()
        with self._cond:
            if self._running >= self.workers and len(self._waiting) >= self.queue_size:
                self.refused += 1
                raise self._busy()
            self._waiting.append(ticket)
            must_wait = len(self._waiting) if self._running >= self.workers else len(self._waiting) - 1
            self.peak_waiting = max(self.peak_waiting, must_wait)
            while self._running >= self.workers or self._waiting[0] is not ticket:
                self._cond.wait()
            self._waiting.popleft()
            self._running += 1
            self._cond.notify_all()  # the next in line may start too when workers > 1
        t0 = time.perf_counter()
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._recent.append(time.perf_counter() - t0)
                self._cond.notify_all()


def gradio_limits(workers: int, queue_size: int) -> tuple[int, int]:
    """``(concurrency_limit, max_size)`` for gradio's queue in front of a
    :class:`ModelQueue`: every request the app admits (``workers + queue_size``) plus
    :data:`BUSY_SPARE` run in the handler at once (all but ``workers`` of them waiting in the
    app's line or being told "busy"); gradio's own queue is bounded far above that
    (:data:`GRADIO_GUARD_FACTOR` times), a guard against floods that a person never sees."""
    admitted = workers + queue_size
    return admitted + BUSY_SPARE, GRADIO_GUARD_FACTOR * (admitted + BUSY_SPARE)
