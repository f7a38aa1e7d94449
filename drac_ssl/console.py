"""Printing a command's result lines on stdout when stdout may go away or fill up.

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
from collections.abc import Iterable

__all__ = ["print_lines"]


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
