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

A request of many parts (the batch tab: one image after another) holds its slot one part
at a time: between two parts it calls :meth:`Turn.pass_on`, which, when someone waits,
hands the slot to the first in line and waits at the back of the line for it again. So a
single image that arrives during a long batch waits for one of the batch's images, not for
the whole batch; two batches take turns image by image. The request keeps the place it was
admitted to: it trades its running place for a waiting one and is never refused halfway.
The bound counts every request admitted, running or waiting (``running + waiting <= workers
+ queue_size``), so the moment of a hand-over, when a slot is free for the first in line but
not yet taken, admits no one past a full line; at most ``queue_size`` wait once the slots
are taken again.

A request of many parts gets a smaller share of the model the more single requests wait:
each hand-over lets all who wait go first, so with ``n`` single images always waiting a batch
grades about one image in ``n + 1`` turns of the model.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["DRAIN_GRACE_S", "DRAIN_S", "ModelQueue", "ServerBusy", "Turn", "gradio_limits"]

DRAIN_S = 30.0
"""Seconds a stopping server (``python -m app`` on SIGTERM or Ctrl-C) lets the requests it
admitted (being graded or waiting in line) finish before it closes (:meth:`ModelQueue.drain`);
new requests meanwhile get the "restarting" answer. A service manager's stop timeout must be
longer than it, :data:`DRAIN_GRACE_S` and the close together (systemd's ``TimeoutStopSec``,
90 s by default, 60 s in docs/deploying.md's unit)."""
DRAIN_GRACE_S = 5.0
"""Seconds a stopping server keeps serving after its last admitted request finished, added to
:data:`DRAIN_S` (35 s at most in all): the browser fetches a result's pictures in requests of
their own after the result came, and a server closed 0.3 s after it refused them ("Connection
refused"). New images are still refused meanwhile; nothing is waited for when no request
finished within it (an idle server stops at once)."""
RESTART_RETRY_S = 60.0
"""The wait the "restarting" answer suggests (``retry_after_s``), seconds: a restart reloads
the bundle."""

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

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle (a process pool's worker): BaseException rebuilds cls(*self.args), the message
        # alone, and retry_after_s is required; rebuild from both
        return type(self), (str(self), self.retry_after_s), self.__dict__


class ModelQueue:
    """At most ``workers`` holders of :meth:`slot` at once, at most ``queue_size`` waiting
    for one (FIFO); more raise :class:`ServerBusy` without waiting. The bound is on the
    requests admitted and not finished (``running + waiting <= workers + queue_size``), so it
    holds while a slot changes hands too (:meth:`Turn.pass_on`).

    ``kept``: what the busy message says became of the upload (the server's words: its
    upload folder's clean-up); the queue itself keeps nothing, but the web server has stored
    the upload before the request reaches it. ``clock``: monotonic seconds
    (``time.monotonic``; a test passes a fake), the one clock of the holds the busy message's
    estimate is made of, of :attr:`finished_at` and of :meth:`drain`'s limit (a fake clock must
    move for a drain with requests left to end). Thread-safe.
    :attr:`peak_waiting` (the most requests that had to wait at once: admitted, and not
    running once the free slots were taken) and :attr:`refused` count what happened (for the
    load benchmark and the log)."""

    def __init__(self, workers: int, queue_size: int, kept: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        if workers < 1 or queue_size < 0:
            raise ValueError(f"workers must be >= 1 and queue_size >= 0, got {workers}, {queue_size}")
        self.workers = int(workers)
        self.kept = kept
        self.queue_size = int(queue_size)
        self.clock = clock
        self._cond = threading.Condition()
        self._running = 0
        self._waiting: collections.deque[object] = collections.deque()
        # seconds each of the last requests held a slot, all its turns together (a batch: all
        # its images), recorded when it finished
        self._recent: collections.deque[float] = collections.deque(maxlen=20)
        self.peak_waiting = 0
        self.refused = 0
        self.stopping = False  # stop_admitting: new requests get the "restarting" answer
        self.draining = False  # app.__main__._drain began: a second signal must not drain again
        # the queue's clock when the last admitted request finished (None: none yet): the
        # stopping server's grace (DRAIN_GRACE_S) counts from it
        self.finished_at: float | None = None

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    def _busy(self) -> ServerBusy:
        """The refusal, its wait the median of the recent requests' holds (each request's
        turns together) times the requests ahead (running and waiting) per worker, at least
        1 s."""
        per_request = sorted(self._recent)[len(self._recent) // 2] if self._recent else 1.0
        wait = max(1.0, round(per_request * (len(self._waiting) + self._running) / self.workers, 1))
        return ServerBusy(
            f"The grader is busy: {self._running} image(s) are being graded and "
            f"{len(self._waiting)} are waiting (the queue holds {self.queue_size}). Nothing was "
            f"graded.{' ' + self.kept if self.kept else ''} Please try again in about {wait:g} s.", wait)

    def _restarting(self) -> ServerBusy:
        """The answer to a request that arrives while the server stops (:meth:`stop_admitting`)."""
        return ServerBusy(
            "The server is restarting and takes no new images now; the images already being "
            f"graded or waiting are finished first. Nothing was graded.{' ' + self.kept if self.kept else ''} "
            f"Please upload the image again in about {RESTART_RETRY_S / 60:g} minute.", RESTART_RETRY_S)

    def stop_admitting(self) -> None:
        """From now on :meth:`slot` answers every new request with :class:`ServerBusy` saying
        the server is restarting (``retry_after_s`` :data:`RESTART_RETRY_S`); the requests
        already admitted, running or waiting in line, go on as before (a batch's
        :meth:`Turn.pass_on` included). Cannot be undone: the server is stopping."""
        with self._cond:
            self.stopping = True
            self._cond.notify_all()

    def drain(self, timeout_s: float = DRAIN_S) -> bool:
        """Stop admitting (:meth:`stop_admitting`) and wait, at most ``timeout_s`` seconds
        (the queue's ``clock``), until no admitted request is running or waiting; True when none is left
        (at once for an idle queue), False when some still are at the time limit (the caller
        closes the server on them). An interrupt (Ctrl-C, SIGTERM as the app takes it) while it
        waits is raised as it is."""
        self.stop_admitting()
        end = self.clock() + max(0.0, timeout_s)
        with self._cond:
            while self._running or self._waiting:
                left = end - self.clock()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _wait_turn(self, ticket: object) -> None:
        """With ``self._cond`` held and ``ticket`` in the line: wait until it is first and a
        slot is free, then take the slot. A wait that is interrupted (an exception in the
        waiting thread) leaves the line, so that it does not block those behind it."""
        try:
            while self._running >= self.workers or self._waiting[0] is not ticket:
                self._cond.wait()
        except BaseException:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
                self._cond.notify_all()
            raise
        self._waiting.popleft()
        self._running += 1
        self._cond.notify_all()  # the next in line may start too when workers > 1

    def _release(self, held_s: float | None = None) -> None:
        """With ``self._cond`` held: give a slot back; ``held_s``: the request is done, after
        holding slots for that many seconds in all (None: it hands the slot over and waits
        for it again, :meth:`Turn.pass_on`; its hold is recorded when it is done)."""
        self._running -= 1
        if held_s is not None:
            self._recent.append(held_s)
        self._cond.notify_all()

    @contextmanager
    def slot(self) -> Iterator[Turn]:
        """Hold one of the ``workers`` slots for the duration of the ``with`` block, waiting
        in line for it; :class:`ServerBusy` at once when ``workers + queue_size`` requests are
        already admitted (running or waiting: ``queue_size`` would wait once the slots are
        taken). Yields the request's :class:`Turn`: a request of many parts calls
        :meth:`Turn.pass_on` between two of them (a single image never needs to)."""
        ticket = object()
        with self._cond:
            if self.stopping:
                self.refused += 1
                raise self._restarting()
            # running + waiting, not "are the slots taken": during a hand-over (pass_on) a slot
            # is free for the first in line while the line is full; a newcomer counted then
            # against the line alone would be admitted past it
            if self._running + len(self._waiting) >= self.workers + self.queue_size:
                self.refused += 1
                raise self._busy()
            self._waiting.append(ticket)
            must_wait = self._running + len(self._waiting) - self.workers  # once the slots are taken
            self.peak_waiting = max(self.peak_waiting, must_wait)
            self._wait_turn(ticket)
        turn: Turn | None = None
        try:
            turn = Turn(self, ticket)  # reads the clock: should that raise, the slot is given back
            yield turn
        finally:
            if turn is None or turn.holding:  # not holding only when pass_on's wait was interrupted
                with self._cond:
                    held_s = None  # a hold the clock could not time is not recorded
                    try:
                        if turn is not None:
                            held_s = turn.held_s + self.clock() - turn.since
                    finally:
                        try:
                            self.finished_at = self.clock()
                        finally:  # given back even where the clock raised
                            self._release(held_s)


class Turn:
    """One request's hold on a slot of a :class:`ModelQueue` (what :meth:`ModelQueue.slot`
    yields). ``holding``: whether it holds the slot now; ``since``: when it took it last
    (the queue's ``clock``, seconds); ``held_s``: seconds it held the slot in its turns before
    that one; ``passed``: how many times it handed the slot over."""

    def __init__(self, queue: ModelQueue, ticket: object) -> None:
        self._queue = queue
        self._ticket = ticket
        self.holding = True
        self.since = queue.clock()
        self.held_s = 0.0
        self.passed = 0

    def pass_on(self) -> bool:
        """Between two parts of one request (a batch's images): when anyone waits in line,
        give the slot to the first in line and wait at the back of the line for it again
        (first come, first served: everyone who waits now goes first), then return True;
        return False at once when no one waits (the request keeps the slot). Never raises
        :class:`ServerBusy`: the request was admitted once. Swapping its running place for a
        waiting one leaves ``running + waiting``, the admitted requests
        :meth:`ModelQueue.slot` bounds, as it was (one less running, one more waiting, under
        one lock), so no newcomer is admitted past a full line while the slot changes hands and
        :attr:`ModelQueue.peak_waiting` stays at most ``queue_size``. The busy message's
        estimate counts the request's turns together, as one hold, when it is done. ``passed``
        counts the hand-overs (for tests and the log)."""
        queue = self._queue
        if not self.holding:
            raise RuntimeError("pass_on outside the slot: call it inside `with queue.slot() as turn:`")
        with queue._cond:
            if not queue._waiting:
                return False
            self.holding = False
            self.held_s += queue.clock() - self.since
            queue._release()
            queue._waiting.append(self._ticket)
            queue._wait_turn(self._ticket)
            self.holding = True
            self.since = queue.clock()
        self.passed += 1
        return True

def gradio_limits(workers: int, queue_size: int) -> tuple[int, int]:
    """``(concurrency_limit, max_size)`` for gradio's queue in front of a
    :class:`ModelQueue`: every request the app admits (``workers + queue_size``) plus
    :data:`BUSY_SPARE` run in the handler at once (all but ``workers`` of them waiting in the
    app's line or being told "busy"); gradio's own queue is bounded far above that
    (:data:`GRADIO_GUARD_FACTOR` times), a guard against floods that a person never sees."""
    admitted = workers + queue_size
    return admitted + BUSY_SPARE, GRADIO_GUARD_FACTOR * (admitted + BUSY_SPARE)
