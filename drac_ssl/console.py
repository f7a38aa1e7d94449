"""What a command says on the console: its result lines on a stdout that may go away or
fill up, and the plain progress lines of a long loop when no bar can be seen.

Result lines (:func:`print_lines`):

``python -m drac_ssl.export --score ... | head -1`` closes the pipe after one line, and
``> /dev/full`` cannot take a byte: a bare ``print`` then ends the command in a
``BrokenPipeError`` / ``OSError`` traceback with exit code 1 (which the commands document as
"the submission fails its check"), and Python's flush at exit prints another. Standard library
only.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

__all__ = ["PROGRESS_EVERY_S", "LoopProgress", "ProgressLines", "count_progress_line", "is_terminal", "left_words", "print_lines", "progress_bar"]

PROGRESS_EVERY_S = 60.0
"""Seconds between two plain progress lines of one loop when its stream is not a terminal."""

progress_clock: Callable[[], float] = time.monotonic
"""The progress lines' clock, read when a loop starts and at each :meth:`ProgressLines.due`
(a test replaces it to make a line due without waiting)."""


def _discard_stdout() -> None:
    """Point the stdout file descriptor at :data:`os.devnull`, so that what is still buffered
    (and Python's flush at exit) goes nowhere instead of failing again (the recipe of Python's
    ``signal`` documentation for SIGPIPE). A stdout without a descriptor (pytest's capture,
    ``io.StringIO``) is left as it is."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def print_lines(lines: Iterable[str]) -> str | None:
    """Print each of ``lines`` on stdout, then flush.

    Returns None when they were written, and also when the reader went away
    (``BrokenPipeError``: ``| head -1``): the caller then goes on (what it still prints on
    stdout is discarded) and exits with the code it would have had, saying nothing more. Any
    other ``OSError`` (a full disk, ``/dev/full``) returns its words (``No space left on
    device``) for the caller's one ``error:`` line on stderr (exit 2). Either way stdout is
    pointed at :data:`os.devnull` afterwards (:func:`_discard_stdout`)."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        return None
    except OSError as exc:
        _discard_stdout()
        return exc.strerror or str(exc)
    return None


def is_terminal(stream: TextIO | None) -> bool:
    """Whether ``stream`` is a terminal; False for None, a closed stream or one without
    ``isatty`` (tqdm's ``disable=None`` asks the same of its stream)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


class _NoBar:
    """What :func:`progress_bar` gives when no bar is shown: ``update`` and ``close`` do nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(total: int, desc: str, unit: str, enabled: bool = True, leave: bool = True,
                 mininterval: float = 0.1, unit_scale: bool = False) -> Any:
    """A tqdm bar on stderr (``update``, ``close``) when ``enabled``, ``total`` > 0 and stderr
    is a terminal (tqdm's own ``disable=None`` rule); otherwise an object whose methods do
    nothing, and no tqdm is made at all: any tqdm instance, even a disabled one, creates a
    ``multiprocessing`` lock, which fixes the process's start method, so a host that calls
    the package with progress off (or off a terminal) and then
    ``multiprocessing.set_start_method("spawn")`` got ``RuntimeError: context has already
    been set``. tqdm is imported only then (``tqdm.auto`` in a Jupyter kernel without
    ipywidgets warned "IProgress not found" at import). ``mininterval``: the fewest seconds
    between two redraws. ``unit_scale``: counts in k, M, G (a count of pairs)."""
    if not (enabled and total and is_terminal(sys.stderr)):
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=leave, mininterval=mininterval,
                unit_scale=unit_scale)


class ProgressLines:
    """When a long loop's next plain progress line is due, and printing it.

    On when ``enabled`` and ``stream`` is not a terminal (there a bar says the progress):
    :meth:`due` is then true at most once every :data:`PROGRESS_EVERY_S` seconds of
    :data:`progress_clock` (the first a full interval after the start), and False always
    when off, without reading the clock. ``label`` starts :meth:`count`'s lines
    (``[ingest] ...``). A line that cannot be written (a closed pipe, a full disk) is dropped
    silently: progress is never worth the loop's work."""

    def __init__(self, stream: TextIO | None, label: str = "", enabled: bool = True) -> None:
        self.stream, self.label = stream, label
        self.on = enabled and stream is not None and not is_terminal(stream)  # None: pythonw's stderr
        self.started = self.said = progress_clock() if self.on else 0.0
        self.seconds = 0.0  # since the start, as of the last due()

    def due(self) -> bool:
        """True when a line is due now (and the interval restarts); :attr:`seconds` is then
        the time since the loop started."""
        if not self.on:
            return False
        now = progress_clock()
        if now - self.said < PROGRESS_EVERY_S:
            return False
        self.said, self.seconds = now, now - self.started
        return True

    def say(self, line: str) -> None:
        """Print ``line`` on the stream and flush it (what a log reader sees now)."""
        if self.stream is None:  # print(file=None) would write to stdout
            return
        try:
            print(line, file=self.stream, flush=True)
        except (OSError, ValueError):  # a reader gone, a full disk, a closed stream
            self.on = False

    def count(self, done: int, total: int, noun: str = "images", unit: str = "img", what: str = "") -> None:
        """:func:`count_progress_line` of ``done`` of ``total`` (``what``: the loop's name, or
        none), printed when due."""
        if self.due():
            self.say(count_progress_line(self.label, done, total, self.seconds, noun, unit, what))


class LoopProgress:
    """A long loop's progress as the ingest's decoding shows it: a tqdm bar on a terminal
    (:func:`progress_bar`), off one a plain line at most every :data:`PROGRESS_EVERY_S`
    seconds (:class:`ProgressLines`), for loops counted in any unit (image pairs, rows).

    Args:
        total: the units the loop will do.
        label: starts the plain lines (``ingest``: ``[ingest] ...``).
        what: the loop's name, the bar's description and the lines' first words
            (``near copies``: ``[ingest] near copies: 12,000 of 35,126 pairs ...``).
        noun, unit: the counted things and their rate's unit (``pairs``, ``pair``).
        start: a line said when the loop starts (on ``stream``), or None."""

    def __init__(self, total: int, label: str, what: str, noun: str = "images", unit: str = "img",
                 start: str | None = None, stream: TextIO | None = None) -> None:
        self.total, self.done, self.noun, self.unit = total, 0, noun, unit
        self.what = what
        self.lines = ProgressLines(sys.stderr if stream is None else stream, label)
        self.bar = progress_bar(total, f"{label} {what}", unit, leave=False, unit_scale=True)
        if start is not None:
            self.lines.say(start)

    def update(self, n: int) -> None:
        """``n`` more units done: the bar moves, and a line is printed when one is due."""
        self.done += n
        self.bar.update(n)
        self.lines.count(self.done, self.total, self.noun, self.unit, self.what)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> LoopProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def left_words(seconds: float) -> str:
    """A time left in round words: ``61 s`` under 90 s, ``2 min`` under 90 min, else ``1.1 h``."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def count_progress_line(label: str, done: int, total: int, seconds: float,
                        noun: str = "images", unit: str = "img", what: str = "") -> str:
    """``[LABEL] DONE of TOTAL NOUN (RATE UNIT/s, about LEFT left)``: the plain progress line of
    a loop over ``total`` images (``unit`` ``img``; or other things), ``done`` of them in
    ``seconds`` (> 0); ``what``, the loop's name, after the label when given
    (``[ingest] near copies: 12,000 of ...``). The rate is to the
    unit under 10 a second, else to 2 significant figures; the time left assumes the rate
    holds (:func:`left_words`), and is left out when nothing is left. E.g.
    ``[ingest] 12,000 of 35,126 images (211 img/s, about 2 min left)``."""
    rate = done / max(seconds, 1e-9)
    rate_words = f"{rate:,.0f}" if rate >= 10 else f"{rate:.2g}"
    left = f", about {left_words((total - done) / rate)} left" if done < total and rate > 0 else ""
    name = f"{what}: " if what else ""
    return f"[{label}] {name}{done:,} of {total:,} {noun} ({rate_words} {unit}/s{left})"
