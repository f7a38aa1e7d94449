"""Ctrl-C while a command starts: one line, not the traceback of an import.

``python -m drac_ssl.<command>`` spends its first 1-3 s importing torch, OpenCV and
scikit-learn; a Ctrl-C then raises KeyboardInterrupt inside some library's import and prints
a long traceback that says nothing useful. A command module calls :func:`quiet_while_starting`
at its top, under ``if __name__ == "__main__":`` and before its heavy imports, and
:func:`started` at the start of its ``main()``, once everything is imported: from then on
Ctrl-C raises KeyboardInterrupt again, for the command's own handling (the stage that was
interrupted, what was saved).

Also :func:`sigterm_as_ctrl_c`: SIGTERM (``kill``, a scheduler's limit) raises
KeyboardInterrupt as Ctrl-C does while a command runs (``python -m data_prep``, which loads no
torch, and ``python -m drac_ssl.train`` through :mod:`drac_ssl.runtime`). And :func:`command_name`, the command as the user started it, for a usage line (the
installed console script or ``python -m MODULE``): :mod:`drac_ssl.commands` and the app's
``drac-ssl-app`` share it, and the app may import nothing that reaches training code. And
:func:`ascii_int`, the ``type=`` of every command's integer option (train's, export's,
data_prep's, the app's), here for the same reason. And :func:`python_command`, the
``PYTHON -m MODULE`` of a command a message prints (the running interpreter, so that the
command runs as printed), for the modules that load no torch too. And
:func:`add_version_option`, every command's ``--version`` (``drac_ssl 0.1.0``; a wheel built
from a git checkout ``0.1.0+57.g1a2b3c4``: the one version, :data:`drac_ssl.__version__`, the
installed metadata's too, setup.py writing both). And :func:`import_keeping_random`, every lazy import of scikit-learn and MONAI, which
draw from Python's ``random`` as they load: a host's stream goes on as if they had not.

Only the standard library is imported here, so that the handler is in place before torch.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import os
import random
import shlex
import shutil
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, NoReturn

_PROG: list[str] = []  # the command whose handler is installed (empty: none)


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write(f"\n[{_PROG[0] if _PROG else 'drac_ssl'}] interrupted while starting: nothing "
                     "was run or written; rerun the same command to run it\n")
    sys.stderr.flush()
    os._exit(EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT)


STOPPED_CLEANLY = ("train", "umm", "export")
"""The commands that say where a Ctrl-C or SIGTERM stopped them and resume from there: the
ones :func:`started` tells how to stop when SIGINT is ignored."""


_SIGINT_IGNORED: list[str] = []  # the command of STOPPED_CLEANLY started with SIGINT ignored
_SAID_AT_START: list[str] = []  # the lines started() printed: for the run's console.log


def quiet_while_starting(prog: str) -> None:
    """Make Ctrl-C exit at once with exit code 130 and one line naming ``prog`` (e.g.
    ``"export"``), until :func:`started`. Only where Ctrl-C would raise KeyboardInterrupt: a
    command started with SIGINT ignored (``&`` from a script, a non-interactive shell with no
    job control: POSIX has its background jobs ignore SIGINT, so ``kill -INT`` does nothing;
    ``nohup`` ignores SIGHUP only) keeps ignoring it, and one of :data:`STOPPED_CLEANLY` says
    so when it starts its work (:func:`started`: not for ``--help`` or ``--version``). SIGTERM
    the same way, with exit code 143, where it has its default action (a kill during the
    imports said nothing, exit -15, where the exit tables say 143)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        _PROG[:] = [prog]
        signal.signal(signal.SIGINT, _interrupted_while_starting)
    elif signal.getsignal(signal.SIGINT) is signal.SIG_IGN and prog in STOPPED_CLEANLY:
        _SIGINT_IGNORED[:] = [prog]
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        _PROG[:] = [prog]
        signal.signal(signal.SIGTERM, _interrupted_while_starting)


def started() -> None:
    """Everything is imported: Ctrl-C raises KeyboardInterrupt again, SIGTERM has its default
    action until :func:`sigterm_as_ctrl_c` (only where
    :func:`quiet_while_starting` had installed its handler; no-op otherwise, e.g. when
    ``main()`` is called from Python). A command :func:`quiet_while_starting` found with SIGINT
    ignored says so here, once, in a note line on stderr with the SIGTERM that stops it
    (``kill PID``); :func:`said_at_start` keeps the line for the run's ``console.log``."""
    if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) is _interrupted_while_starting:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _SIGINT_IGNORED and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        line = (f"[{_SIGINT_IGNORED[0]}] note: Ctrl-C (SIGINT) is ignored in this process (started with & "
                f"from a script: no job control); stop it with SIGTERM: kill {os.getpid()}")
        sys.stderr.write(f"{line}\n")
        sys.stderr.flush()
        _SAID_AT_START.append(line)
    _SIGINT_IGNORED.clear()


def said_at_start() -> list[str]:
    """The lines :func:`started` printed in this process (the SIGINT-ignored note), for the
    run folder's ``console.log`` (:func:`drac_ssl.runtime.console_log`), which opens later."""
    return list(_SAID_AT_START)


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """While the block runs, SIGTERM (``kill``, systemd, a SLURM pre-emption) raises
    KeyboardInterrupt as Ctrl-C does, so what a Ctrl-C does on the way out (stages.json,
    invocations.jsonl, the "interrupted in" line) is done for it too; the previous handler is
    given back after, unless the block installed another one: the way out's
    :func:`hold_signals_for_exit` (``SIG_IGN``) stays until :func:`exit_on_signal` takes over, so
    that a SIGTERM between the block's end and the exit cannot kill the process by signal
    (exit -15, ``atexit`` skipped, the last line maybe unsaid); a caller that wants its own
    handlers back whatever the block did wraps it in :func:`stop_signal_handlers_given_back`
    (``train.main`` from Python). Does nothing outside the main thread (signals are handled
    there only). (``python -m app`` does the same around its server.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _TERMINATED.clear()  # this command's own SIGTERM decides its exit code (interrupt_exit_code)
    before = signal.signal(signal.SIGTERM, _sigterm_interrupts)
    # the command's own process: Ctrl-C through a handler that knows it was the first
    # (_first_interrupt_taken); a caller's Python keeps Python's own
    own_ctrl_c = bool(_OWN_PROCESS) and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if own_ctrl_c:
        signal.signal(signal.SIGINT, _ctrl_c_interrupts)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is _sigterm_interrupts:  # else held for the exit: kept
            signal.signal(signal.SIGTERM, before)
        if own_ctrl_c and signal.getsignal(signal.SIGINT) is _ctrl_c_interrupts:  # else stopping: kept
            signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT, where Python's default handler has it) and SIGTERM (where
    :func:`sigterm_as_ctrl_c` turns it into Ctrl-C) back until the block has run, then raise
    KeyboardInterrupt: for work that must not be cut in two (a checkpoint and the line that
    says it was written; a set of renames). A signal held while the block raises is not lost:
    KeyboardInterrupt is raised from the block's exception. A signal ignored (``SIG_IGN``) or
    handled by someone else's handler is left to it; outside the main thread nothing is held
    (signals are handled there only). A kill -9 cannot be held back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = [(signum, handler) for signum, handler in ((signal.SIGINT, signal.default_int_handler),
                                                     (signal.SIGINT, _ctrl_c_interrupts),
                                                     (signal.SIGTERM, _sigterm_interrupts))
            if signal.getsignal(signum) is handler]
    def hold(number: int, frame: object) -> None:
        caught.append(number)

    for signum, _ in held:
        signal.signal(signum, hold)
    try:
        yield
    except BaseException as exc:
        if caught and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt from exc
        raise
    finally:
        for signum, handler in held:
            signal.signal(signum, handler)
        if caught:  # the held signal is the first: later ones as after it
            _first_interrupt_taken(caught[0])
    if caught:
        raise KeyboardInterrupt


def _sigterm_interrupts(signum: int, frame: object) -> None:
    """SIGTERM handler of :func:`sigterm_as_ctrl_c`: KeyboardInterrupt, after
    :func:`_first_interrupt_taken` (the SIGTERM remembered for :func:`interrupt_exit_code`; in
    the command's own process later signals cannot raise a second KeyboardInterrupt)."""
    _first_interrupt_taken(signal.SIGTERM)
    raise KeyboardInterrupt


def _ctrl_c_interrupts(signum: int, frame: object) -> None:
    """SIGINT handler of :func:`sigterm_as_ctrl_c` in the command's own process
    (:func:`run_command`, :func:`mark_own_process`): KeyboardInterrupt as Python's own, after
    :func:`_first_interrupt_taken`, so that a second Ctrl-C while the first one's stack
    unwinds (a checkpoint being written, the run folder's records) says
    :func:`_already_stopping`'s line instead of raising a second KeyboardInterrupt (a
    traceback, the save cut short)."""
    _first_interrupt_taken(signal.SIGINT)
    raise KeyboardInterrupt


def _first_interrupt_taken(signum: int) -> None:
    """A Ctrl-C or SIGTERM (``signum``) has been turned into KeyboardInterrupt (by
    :func:`_ctrl_c_interrupts` or :func:`_sigterm_interrupts`, or held by
    :func:`interrupts_deferred` and raised after its block): remember a SIGTERM for
    :func:`interrupt_exit_code` and, in the command's own process (:func:`run_command`), from
    here on ignore later SIGTERMs and answer a later Ctrl-C with :func:`_already_stopping`'s
    line, so that neither can raise a second KeyboardInterrupt (a traceback, exit -2, a save
    cut short) while the stack unwinds, before the command holds them
    (:func:`hold_signals_if_command`). The exit code stays the first signal's. A Ctrl-C
    ignored (``SIG_IGN``: started with ``&``) stays ignored.

    A later SIGTERM gets a Python handler that does nothing (:func:`_later_sigterm`), not
    ``SIG_IGN``: this may run inside a handler while another signal is pending (a SIGINT and
    a SIGTERM both arriving during one long C call: CPython runs their handlers in signal
    number order, SIGINT's first), and CPython answers a pending signal whose handler became
    ``SIG_IGN`` meanwhile with an ``OSError: Signal 15 ignored due to race condition``
    traceback (a review). Those two arrived together: which came first cannot be known, and
    the Ctrl-C, run first, decides (130)."""
    if signum == signal.SIGTERM:
        _TERMINATED[:] = [True]
    if _OWN_PROCESS and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _later_sigterm)
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, _already_stopping)


def _later_sigterm(signum: int, frame: object) -> None:
    """SIGTERM handler once a command of its own process is stopping
    (:func:`_first_interrupt_taken`): the SIGTERM is ignored (the stop is under way, its exit
    code the first signal's). A Python handler, not ``SIG_IGN``, so that a SIGTERM already
    pending when it is installed runs it quietly (see :func:`_first_interrupt_taken`)."""


_SAID_STOPPING: list[bool] = []  # _already_stopping's line said (once per process)


def _already_stopping(signum: int, frame: object) -> None:
    """SIGINT handler once a command of its own process is stopping
    (:func:`_first_interrupt_taken`): a Ctrl-C pressed again while what was done is saved is
    ignored, with one line on stderr the first time, ending with how to stop it at once
    (``to force: kill -9 PID``, this process's id). The line is written to the file descriptors,
    not through Python's streams (a handler may run while ``sys.stderr`` or the log is in the
    middle of a write: a reentrant write raises there): stderr's, and the run folder's
    ``console.log`` (:data:`_CONSOLE_LOG_FD`) where one is open, appended (it was opened for
    appending) after the lines it holds, on a line of its own (:func:`_on_its_own_line`).
    Never raises."""
    if _SAID_STOPPING:
        return
    _SAID_STOPPING.append(True)
    prog = _PROG[0] if _PROG else "drac_ssl"
    line = (f"[{prog}] already stopping; saving what was done, then the line that says what was "
            f"saved (Ctrl-C again is ignored; to force: kill -9 {os.getpid()})\n").encode()
    with contextlib.suppress(Exception):  # the terminal's line after the ^C its Ctrl-C echoed
        os.write(2, b"\n" + line)
    for fd in _CONSOLE_LOG_FD[-1:]:
        with contextlib.suppress(Exception):
            os.write(fd, _on_its_own_line(fd, line))


def _on_its_own_line(fd: int, line: bytes) -> bytes:
    """``line`` as appended to the file open (for reading too) at ``fd``: after a newline when
    the file's last byte is not one (a progress line written without its end, ``progress
    45%``, would otherwise run into it); as it is after a whole line or in an empty file.
    System calls only (:func:`_already_stopping` runs in a signal handler); a file that cannot
    be read gets the newline. Only what reached the file is seen: a partial line still in a
    Python stream's buffer (the log's, not yet flushed) is not, so ``line`` may land before it
    and that partial line's rest then follows ``line`` once the buffer is flushed."""
    try:
        size = os.fstat(fd).st_size
        ended = size == 0 or os.pread(fd, 1, size - 1) == b"\n"
    except OSError:
        ended = False
    return line if ended else b"\n" + line


_CONSOLE_LOG_FD: list[int] = []
"""The file descriptor of the run folder's ``console.log`` while
:func:`drac_ssl.runtime.console_log` holds it open (:func:`console_log_descriptor`), for
:func:`_already_stopping`, which a signal runs: a line written there goes to the file, not
through the log's Python stream (which that signal may have interrupted mid-write)."""


@contextlib.contextmanager
def console_log_descriptor(fd: int) -> Iterator[None]:
    """Within the block the run folder's ``console.log`` is open at file descriptor ``fd``
    (:data:`_CONSOLE_LOG_FD`), so a second Ctrl-C's "already stopping" line reaches it too;
    forgotten when the block ends, before the log is closed (a later file could reuse ``fd``)."""
    _CONSOLE_LOG_FD.append(fd)
    try:
        yield
    finally:
        _CONSOLE_LOG_FD.remove(fd)


_TERMINATED: list[bool] = []  # a SIGTERM turned into KeyboardInterrupt (its exit code: 143)

EXIT_SIGINT = 130
"""The exit code of a command stopped by Ctrl-C (128 + SIGINT), as a shell gives one."""
EXIT_SIGTERM = 143
"""The exit code of a command stopped by SIGTERM (128 + SIGTERM: ``kill``, a scheduler's limit),
after the same clean stop as Ctrl-C (:func:`sigterm_as_ctrl_c`)."""


def interrupt_exit_code() -> int:
    """:data:`EXIT_SIGTERM` (143) when the KeyboardInterrupt being handled came from a SIGTERM
    (:func:`sigterm_as_ctrl_c`; one held by :func:`interrupts_deferred` too), else
    :data:`EXIT_SIGINT` (130), Ctrl-C's: a script or scheduler tells the two apart as it
    does for any process a signal ended."""
    return EXIT_SIGTERM if _TERMINATED else EXIT_SIGINT


def hold_signals_for_exit() -> None:
    """Ignore further Ctrl-C and SIGTERM (main thread only): called once a command has caught
    its interrupt and is on its way out, so that a second or third Ctrl-C (a review: three
    quick presses) cannot cut the line that says what was saved, nor raise in an ``atexit``
    handler (a torch traceback, exit -2 instead of 130). :func:`exit_on_signal` takes over
    for the interpreter's teardown."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


@contextlib.contextmanager
def stop_signal_handlers_given_back() -> Iterator[None]:
    """SIGINT's and SIGTERM's handlers as they were before the block, given back after it
    however it ends (a return, an exception, ``SystemExit``, a KeyboardInterrupt): for a
    command's ``main()`` called from Python (a notebook, a script), whose interrupt handling
    ignores further signals (:func:`hold_signals_for_exit`) or installs its own, so that the
    caller keeps its Ctrl-C afterwards. A handler not installed from Python (``getsignal``
    None) is left as the block left it. Main thread only (elsewhere no handler can change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in saved.items():
            if handler is not None and signal.getsignal(number) is not handler:
                signal.signal(number, handler)


def exit_on_signal(code: int) -> None:
    """From now on (the interpreter's teardown after ``main()`` returned ``code``), a Ctrl-C or
    SIGTERM cannot change the exit code nor print a traceback of an ``atexit`` handler (torch's
    among them: a review's three quick Ctrl-C gave one, and exit -2 instead of 130). After an
    interrupt (``code`` 130 or 143: the user has stopped the command, its state is saved) both
    are ignored to the end: Python's own teardown puts a Python handler back to the default
    action, under which a late Ctrl-C killed the process (-2), but leaves an ignored signal
    ignored. After any other code a Ctrl-C or SIGTERM leaves at once with ``code``, the output
    flushed (a slow teardown can still be cut short). Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return
    if code in (EXIT_SIGINT, EXIT_SIGTERM):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return

    def leave(signum: int, frame: object) -> None:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)

    signal.signal(signal.SIGINT, leave)
    signal.signal(signal.SIGTERM, leave)


_OWN_PROCESS: list[bool] = []  # run_command runs main(): the process is the command's own


def hold_signals_if_command() -> None:
    """:func:`hold_signals_for_exit` where the process is the command's own (its
    ``python -m`` entry runs ``main()`` through :func:`run_command`): called first in a
    command's ``except KeyboardInterrupt``, so that a second Ctrl-C or SIGTERM (a scheduler's
    SIGTERM 20 ms after the first, a review) cannot cut its "interrupted" line nor kill the
    process by the signal (exit -15 / -2 instead of 143 / 130). A ``main()`` called from
    Python (a notebook, a test) keeps its caller's handlers: nothing is changed there."""
    if _OWN_PROCESS:
        hold_signals_for_exit()


def mark_own_process() -> None:
    """Mark this process as a command's own (its ``python -m`` entry or console script, which
    exits when the command returns): from here on a stop by Ctrl-C or SIGTERM holds later
    signals (:func:`_first_interrupt_taken`, :func:`hold_signals_if_command`) instead of
    giving them to a caller. Called by :func:`run_command` and by train's
    :func:`drac_ssl.train.command_main` (whose exit is its own,
    :func:`drac_ssl.train.exit_with`): the one flag of both. A ``main()`` called from Python (a
    notebook, a test) never calls it and keeps its caller's handlers."""
    _OWN_PROCESS[:] = [True]


def run_command(main: Callable[[], int], stage: str | None = None) -> NoReturn:
    """A command's ``if __name__ == "__main__":`` entry (export, compare, report,
    ``data_prep``): run ``main()`` as the command's own process (:func:`hold_signals_if_command`
    holds further signals once it is interrupted), then exit with its code; in the
    interpreter's teardown a Ctrl-C or SIGTERM leaves with that code (:func:`exit_on_signal`),
    as train's does, instead of killing the process by the signal (a review: a SIGTERM just
    after a finished export exited -15). ``stage``: the training stage the command runs
    (``"umm"`` for ``python -m drac_ssl.umm``), whose settings a data loader's dead worker
    (:func:`drac_ssl.runtime.as_loader_stalled`) and running out of memory name."""
    mark_own_process()
    try:
        code = main()
    except (MemoryError, RuntimeError) as exc:  # a command's own main() says its settings to lower; this is the net
        from drac_ssl.runtime import (
            as_loader_stalled,  # a worker killed (SIGKILL, SIGBUS) outside next()
        )

        if (stalled := as_loader_stalled(exc, stage)) is not None:
            print(f"error: {stalled}", file=sys.stderr)
        elif is_out_of_memory(exc):
            print(f"error: {out_of_memory_words(exc, memory_fix(stage))}", file=sys.stderr)
        else:
            raise
        code = OUT_OF_MEMORY_EXIT
    exit_on_signal(code)
    sys.exit(code)


OUT_OF_MEMORY_EXIT = 2
"""The exit code of a command that ran out of memory (a ``MemoryError``): 2, as every resource
a command cannot have (a full disk, a file it cannot write; ``drac_ssl.exit_codes.USAGE_ERROR``),
said in one ``error:`` line (:func:`out_of_memory_words`), not a traceback. OpenBLAS's "Memory
allocation still failed" is printed by its C code, which then ends the process (exit 1): no
Python code can catch it."""


_OUT_OF_MEMORY_MARKS = ("DefaultCPUAllocator: can't allocate memory", "DefaultCPUAllocator: not enough memory",
                        "Caught MemoryError in DataLoader worker", "CUDA out of memory")
"""Words of torch's ``RuntimeError`` that say memory ran out: its CPU allocator's (``[enforce fail at
alloc_cpu.cpp:127] ... DefaultCPUAllocator: can't allocate memory``; Windows: ``not enough
memory``), a worker's ``MemoryError`` raised again in the main process (``Caught MemoryError in
DataLoader worker process 0.``), and a GPU's (``CUDA out of memory``, before
``torch.OutOfMemoryError`` had a class of its own)."""


LOADER_SETTINGS = {
    "pretrain": ("pretrain.batch_size", "pretrain.augment.image_size"),
    "umm": ("umm.batch_size", "pretrain.augment.image_size"),
    "finetune": ("finetune.batch_size", "finetune.image_size"),
}
"""The batch and image size settings of each training stage's data loader: the one table
read by :func:`memory_fix` (``drac_ssl.train.TRAIN_MEMORY_FIXES``) and by
:func:`drac_ssl.runtime.loader_stalled_words`."""

_NEW_RUN = ("as a new run that takes this one's finished stages (run.name=NEW run.reuse=RUN; a resume "
            "refuses changed settings; docs/running.md, Memory)")
_WORKERS_FIRST = ("add pretrain.num_workers=0 (each data-loading worker is a process of its own): the run "
                  "folder keeps what was saved and the same command with it resumes from there; if that is "
                  "not enough, ")
_INGEST_FIX = ("a smaller {workers} (each decoding process holds its own images; 1: one at a time) or "
               "fewer sides in {sizes} (each cached copy is held as it is written), or close other "
               "programs; {kept} (docs/running.md, Memory)")
MEMORY_FIXES = {
    "ingest": _INGEST_FIX.format(workers="data.workers", sizes="data.cache_sizes",
                                 kept="the run folder keeps the images decoded so far"),
    "data_prep ingest": _INGEST_FIX.format(workers="--workers", sizes="--cache-sizes",
                                           kept="the --out folder keeps the images decoded so far and the "
                                                "same command resumes"),
    **{stage: f"{_WORKERS_FIRST}a smaller {batch} or {image}, {_NEW_RUN}"
       for stage, (batch, image) in LOADER_SETTINGS.items()},
}
"""The fix a command says for running out of memory (:func:`is_out_of_memory`) in each stage
(``python -m drac_ssl.train``'s stages, ``python -m drac_ssl.umm``'s ``umm``, ``python -m
data_prep ingest``'s ``data_prep ingest``): its own settings to lower (:func:`memory_fix`)."""


def memory_fix(stage: str | None) -> str:
    """The fix for running out of memory in ``stage`` (:data:`MEMORY_FIXES`); for another or
    None (a command of no stage), to close other programs or give it more memory."""
    return MEMORY_FIXES.get(stage or "", "close other programs or give the command more memory, then rerun it")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says memory ran out: a ``MemoryError``, ``torch.OutOfMemoryError`` (the
    GPU's, a ``RuntimeError``; looked up only when torch is imported, and only where this
    torch has it), or a ``RuntimeError`` of :data:`_OUT_OF_MEMORY_MARKS`. Pure: it reads
    only ``exc``."""
    if isinstance(exc, MemoryError):
        return True
    torch_oom = getattr(sys.modules.get("torch"), "OutOfMemoryError", None)
    if isinstance(torch_oom, type) and isinstance(exc, torch_oom):
        return True
    return isinstance(exc, RuntimeError) and any(mark in str(exc) for mark in _OUT_OF_MEMORY_MARKS)


def out_of_memory_words(exc: BaseException, fix: str) -> str:
    """The one line a command says for ``exc`` (:func:`is_out_of_memory`; no ``error:`` prefix):
    what ran out (the GPU's memory for CUDA's error), the limits that may cause it, and ``fix``
    (the command's settings to lower)."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    what = f"{type(exc).__name__}{f': {detail}' if detail else ''}"
    if "CUDA" in str(exc) or type(exc).__name__ == "OutOfMemoryError":
        return (f"out of GPU memory ({what}): the GPU had no memory left (other processes on it take "
                f"theirs: nvidia-smi lists them). fix: {fix}")
    return (f"out of memory ({what}): this machine, or a limit on this process (ulimit -v, a "
            f"container's memory limit), had no memory left. fix: {fix}")


def ignore_stop_signals_in_worker(worker_id: int | None = None) -> None:
    """In a data-loading worker process: ignore Ctrl-C, and leave quietly on SIGTERM. A
    terminal's Ctrl-C or ``kill -TERM -PGID`` reaches the whole process group; the main process
    stops on them (:func:`sigterm_as_ctrl_c`) and ends its workers itself. A worker killed by
    the signal made torch raise ``RuntimeError: DataLoader worker (pid N) is killed by signal:
    Terminated`` (20 lines before the clean "interrupted" line, a review), so on SIGTERM the
    worker exits with status 0 at once (``os._exit(0)``: no traceback, no atexit handlers, no
    "killed by signal" in the main process). SIGTERM is not ignored: torch's and
    multiprocessing's ``terminate()`` send it to end a worker, and a worker ignoring it (stuck
    in a decode) left the main process waiting in ``join()`` forever, deaf to Ctrl-C and
    SIGTERM (a review). A worker left behind still ends when the main process is gone (torch's
    watchdog)."""
    del worker_id
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _leave_quietly)


def _leave_quietly(signum: int, frame: object) -> None:
    """A worker's SIGTERM handler: exit with status 0 now (:func:`ignore_stop_signals_in_worker`),
    after removing this process's own multiprocessing temporary folder (:func:`_remove_own_temp_dir`)."""
    _remove_own_temp_dir()
    os._exit(0)


def _remove_own_temp_dir() -> None:
    """Remove the ``pymp-XXXX/`` folder this process made in ``$TMPDIR`` (multiprocessing's
    ``util.get_temp_dir()``: a data-loading worker makes one for the listener socket through
    which it hands its batches' shared memory to the main process), as multiprocessing's own
    exit would. ``os._exit`` skips that clean-up, so every run stopped by SIGTERM left one (a
    cluster review: one per stopped run in a job's ``$TMPDIR``). Only this process's own: the
    folder whose removal multiprocessing registered in this process (a forked child starts with
    none registered, so a folder it inherited from its parent is left to the parent). Best
    effort: never raises."""
    with contextlib.suppress(Exception):
        from multiprocessing import util

        for finalizer in list(util._finalizer_registry.values()):
            if getattr(finalizer, "_callback", None) is util._remove_temp_dir:
                finalizer()  # shutil.rmtree of the folder, once (then unregistered)


def command_name(installed: str, module: str) -> str:
    """The command as the user ran it, for a usage line: ``installed`` (the console script of
    pyproject.toml, ``drac-ssl-train``) when this process was started as it (``sys.argv[0]``'s
    file name, ``.exe`` on Windows), else :func:`python_command` of ``module``
    (``.venv/bin/python -m drac_ssl.train``: the interpreter that runs it, so a usage line or
    fix that repeats it runs as printed; argparse's own default would be ``__main__.py``)."""
    return installed if Path(sys.argv[0]).name.startswith(installed) else python_command(module)


CONSOLE_SCRIPTS = ("drac-ssl-train", "drac-ssl-ingest", "drac-ssl-app", "drac-ssl-export",
                   "drac-ssl-report", "drac-ssl-compare", "drac-ssl-demo-bundle")
"""The console scripts of pyproject.toml's ``[project.scripts]`` (tests/drac_ssl/test_starting.py
checks the two agree)."""


def console_script_word(argv0: str) -> str | None:
    """``argv0`` (``sys.argv[0]``) as the word a user types to run it again, when it is one of
    :data:`CONSOLE_SCRIPTS` (``.exe`` and ``-script.py`` on Windows too): its bare name when
    that is the first of the name on PATH (``drac-ssl-train``), else its path, relative to the
    current folder under it, else absolute (as :func:`interpreter_word`; a command line quotes
    it, :func:`drac_ssl.config.shell_word`). None for anything else (a ``python -m`` run, a script of the user's).

    A console-script run recorded ``/venv/bin/python3.11 /venv/bin/drac-ssl-train ...`` as its
    command (and in the ``next:`` hint): the interpreter before the script, which the user never
    typed (a packaging review, F6)."""
    path = Path(argv0)
    stem = path.name.removesuffix(".exe").removesuffix("-script.py")
    if not argv0 or stem not in CONSOLE_SCRIPTS:
        return None
    found = shutil.which(stem)
    if found and os.path.abspath(found) == os.path.abspath(argv0):
        return stem
    try:
        rel = os.path.relpath(argv0)
    except ValueError:  # another drive (Windows)
        return os.path.abspath(argv0)
    if rel.startswith(".."):
        return os.path.abspath(argv0)
    return rel if os.sep in rel else os.path.join(".", rel)  # not a bare name the shell looks up


def interpreter_word() -> str:
    """How to name the running interpreter in a command: ``python`` when that is the first
    ``python`` on PATH (an active venv), else :data:`sys.executable` relative to the current
    folder when it lies under it (``.venv/bin/python``), else absolute; ``python`` when it is
    not known."""
    exe = sys.executable
    if not exe:
        return "python"
    found = shutil.which("python")
    if found and os.path.abspath(found) == os.path.abspath(exe):
        return "python"
    try:
        rel = os.path.relpath(exe)
    except ValueError:  # another drive (Windows)
        return exe
    if rel.startswith(".."):
        return exe
    return rel if os.sep in rel else os.path.join(".", rel)  # not a bare name the shell looks up


def python_word(*, in_file: bool = False) -> str:
    """The interpreter as a command a message tells the user to type starts with (a fix, a
    resume command): :func:`interpreter_word`, shell-quoted where it needs it
    (``.venv/bin/python`` when the package lives in a venv that is not active), so the command
    runs as printed; a bare ``python`` there is another interpreter or none (``No module named
    torch``). Documentation keeps ``python -m``.

    ``in_file``: for a command written into a file that is read later, from any folder or on
    another machine (report.md and its list of files, ``config.yaml``'s header): the
    interpreter as a path relative to the folder the command ran in (the checkout's
    ``.venv/bin/python``, the README's commands, which a checkout set up on another machine
    shares; report.md names that folder beside the run's command), or ``python`` (an active
    venv); never an absolute path, which another machine lacks: ``python`` instead, the
    reader's own interpreter, as the README's text names its commands."""
    word = interpreter_word()
    if in_file and os.path.isabs(word):
        word = "python"
    return shlex.quote(word)


def python_command(module: str, *, in_file: bool = False) -> str:
    """``PYTHON -m MODULE`` for a command a message tells the user to type, ``PYTHON`` the
    running interpreter (:func:`python_word`, ``in_file`` for a file read later):
    ``.venv/bin/python -m drac_ssl.train``. The one form of the console's commands, the
    messages', report.md's and the run folder's."""
    return f"{python_word(in_file=in_file)} -m {module}"


def ascii_int(option: str) -> Callable[[str], int]:
    """The ``type=`` of the integer option ``option`` (``--threads``): ``int()`` of its word in
    ASCII digits alone, with its sign. Python's ``int()`` reads any Unicode decimal digit
    (``٣``, ``３``: 3) where the settings, read as YAML 1.2, take ASCII ones
    (:func:`drac_ssl.config._ascii_only`): such a word is refused with the ASCII digits as the
    fix (``fix: --threads 3``); any other that is no integer gets argparse's own "invalid int"."""
    def read(word: str) -> int:
        if not word.isascii():
            digits = "".join(str(int(c)) if c.isdecimal() and not c.isascii() else c for c in word.strip())
            try:
                fix = f"\n  fix: {option} {int(digits)}" if digits.isascii() else ""
            except ValueError:
                fix = ""
            raise argparse.ArgumentTypeError(f"{word!r} is not an integer: write it in ASCII digits "
                                             f"(0-9), as every number setting is{fix}")
        return int(word)
    read.__name__ = "int"  # argparse's "invalid int value: 'x'" for any other word
    return read


def seed_int(option: str, what: str, default: int, most: int) -> Callable[[str], int]:
    """An argparse ``type=`` for a seed option (``--seed``): a whole number 0..``most`` (the
    config's ``SEED_MAX``, 2**32-1: numpy's generators take no other), in ASCII digits
    (:func:`ascii_int`). Out of range: refused while parsing (exit 2) as ``-1: the fold seed
    must be a whole number from 0 to 4294967295 -> use --seed 0 (the default)``, before any
    work (an editor's review F1: ``data_prep ingest --seed -1`` decoded every image, then
    stopped with numpy's ValueError traceback)."""
    def parse(text: str) -> int:
        value = ascii_int(option)(text)
        if not 0 <= value <= most:
            raise argparse.ArgumentTypeError(
                f"{text}: {what} must be a whole number from 0 to {most} "
                f"-> use {option} {default} (the default)")
        return value
    parse.__name__ = "int"
    return parse


def whole_number(least: int, default: int, why: str = "", most: int | None = None,
                 option: str = "") -> Callable[[str], int]:
    """An argparse ``type=``: a whole number, ``least`` or more (and ``most`` at most, when
    given; ASCII digits: ``int()`` reads ``３`` too); the message names the value, the range
    (and ``why``, e.g. "one image of each grade") and ``default``, as argparse's usage error of
    the option (exit 2); with ``option`` named, a word of other than ASCII digits gets
    :func:`ascii_int`'s words (``fix: --folds 3``). The app's
    ``--max-side`` / ``--concurrency``, ``app.demo_bundle``'s sizes and folds and ``data_prep
    phantom``'s counts use it: a CLI review found ``--folds 0`` an IndexError traceback and
    ``--n-train -3`` a ValueError one."""
    def parse(text: str) -> int:
        if option and not text.isascii():
            ascii_int(option)(text)  # raises its ArgumentTypeError, the ASCII digits as the fix
        try:
            value = int(text) if text.isascii() else least - 1
        except ValueError:
            value = least - 1
        if value < least or (most is not None and value > most):
            span = f"{least}..{most}" if most is not None else f"{least} or more"
            raise argparse.ArgumentTypeError(
                f"{text!r} is not allowed: give a whole number, {span}"
                f"{f' ({why})' if why else ''}, e.g. {default} (the default)")
        return value
    return parse


def version_words() -> str:
    """What every command's ``--version`` prints: ``drac_ssl VERSION``, the package's one
    version (:data:`drac_ssl.__version__`, which setup.py gives the installed distribution's
    metadata, with the build's commit as a local label in a wheel)."""
    from drac_ssl import __version__  # the package's __init__: the standard library only

    return f"drac_ssl {__version__}"


def add_version_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give ``parser`` a ``--version`` option that prints :func:`version_words` and exits 0
    (argparse's ``action="version"``: answered while parsing, before a required argument or
    sub-command is asked for, and before the command imports anything heavy). Returns
    ``parser``."""
    parser.add_argument("--version", action="version", version=version_words(),
                        help="print the drac_ssl version and exit")
    return parser


OPTIONS_ELSEWHERE: dict[str, tuple[str, ...]] = {
    "--run-dir": ("--runs-dir", "--bundle"),  # umm's; the app's names
    "--run": ("--bundle",),  # the app takes a run folder as --bundle
}
"""An option another command (or another tool) names so, and this command's option(s) for
it: offered by :class:`CommandParser` when the command has it. Only names whose hint
:func:`difflib.get_close_matches` would not give (``--output``, ``--out-dir`` -> ``--out`` and
``--runs-dir`` -> ``--run-dir`` it finds; export takes ``--referable-from`` itself):
tests/drac_ssl/test_unknown_option_hints.py checks that each entry changes the hint. A
positional argument (``RUN``) typed as an option (``--run R``) is said apart, for every
command."""


def _whole_words(text: str, width: int, **indents: str) -> list[str]:
    """``text`` with its runs of white space as one space, in lines of at most ``width``
    columns broken only between words: never at a word's hyphen (``--skip-unreadable``), nor
    inside a word longer than the line. ``indents``: :func:`textwrap.wrap`'s
    ``initial_indent`` / ``subsequent_indent``."""
    return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False,
                         break_long_words=False, **indents)


def fill_help(text: str, width: int = 88) -> str:
    """``text`` wrapped to ``width`` columns for a command's ``--help`` (a description or an
    epilog's exit codes), never inside a word: :func:`textwrap.fill` by default splits at a
    hyphen, so ``--skip-unreadable`` came out as ``--skip-`` and ``unreadable`` on two lines
    (a test of the export's ``--help`` found the exit codes no longer read as written)."""
    return "\n".join(_whole_words(text, width))


class _WholeWords:
    """argparse's wrapping of an option's help, never inside a word (:func:`fill_help`)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return _whole_words(text, width)


class HelpFormatter(_WholeWords, argparse.HelpFormatter):
    """:class:`argparse.HelpFormatter` that splits no option name at its hyphen (help and
    description)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(_whole_words(text, width, initial_indent=indent, subsequent_indent=indent))


class RawDescriptionHelpFormatter(_WholeWords, argparse.RawDescriptionHelpFormatter):
    """:class:`argparse.RawDescriptionHelpFormatter` (description and epilog as written) that
    splits no option name at its hyphen in an option's help."""


_WHOLE_WORDS = {argparse.HelpFormatter: HelpFormatter,
                argparse.RawDescriptionHelpFormatter: RawDescriptionHelpFormatter}


class CommandParser(argparse.ArgumentParser):
    """The parser of every drac_ssl command (train, umm, export, compare, report, submission,
    data_prep, the app's): options are written in full (``allow_abbrev`` False: a prefix is
    refused, never guessed), and an unrecognised option is refused with what the user may have
    meant (a CLI review: only train and umm said anything): this command's options close to it
    (:func:`difflib.get_close_matches`), its option for another command's name
    (:data:`OPTIONS_ELSEWHERE`: the app's ``--run`` -> ``--bundle``), and, for a
    positional argument typed as an option (``report --run R``), that it takes no option name.
    A sub-command's own options are looked in (``python -m data_prep ingest --rot``), and the
    sub-command's usage is printed. Standard library only (the app and data_prep use it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        given = kwargs.get("formatter_class", argparse.HelpFormatter)
        kwargs["formatter_class"] = _WHOLE_WORDS.get(given, given)  # no option split at a hyphen
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:  # type: ignore[override]
        self._typed = [str(a) for a in (sys.argv[1:] if args is None else args)]  # for error()
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        """argparse's error; a missing required argument (``phantom --output DIR``: "required:
        --out") says what the unknown options typed may have meant, as an unrecognised one."""
        if message.startswith("the following arguments are required"):
            known = {o for a in self._actions for o in a.option_strings}
            message += self.unrecognized_fix([w for w in getattr(self, "_typed", [])
                                              if w.startswith("--") and w.partition("=")[0] not in known])
        super().error(message)

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        argv = [str(a) for a in (sys.argv[1:] if args is None else args)]
        return self._parsed(*self.parse_known_args(argv, namespace), argv)

    def parse_intermixed_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        argv = [str(a) for a in (sys.argv[1:] if args is None else args)]
        return self._parsed(*self.parse_known_intermixed_args(argv, namespace), argv)

    def _parsed(self, parsed: argparse.Namespace, extras: list[str], argv: list[str]) -> argparse.Namespace:
        if extras:
            self.refuse_unrecognized(extras, parsed, self.more_fix(extras, argv))
        self.after_parse(parsed, argv)
        return parsed

    def more_fix(self, extras: list[str], argv: list[str]) -> str:
        """Lines a subclass adds after the fix of unrecognised ``extras`` (``argv``: the command
        line parsed); none here."""
        return ""

    def after_parse(self, parsed: argparse.Namespace, argv: list[str]) -> None:
        """A subclass's step after a parse with nothing unrecognised (train's --print-config);
        none here."""

    def refuse_unrecognized(self, extras: list[str], parsed: argparse.Namespace, more: str = "") -> None:
        """argparse's ``unrecognized arguments`` error (exit 2), with :meth:`unrecognized_fix`
        and ``more`` (lines of the caller's) after it, from the sub-command's parser when one
        was chosen."""
        parser = self.chosen_parser(parsed)
        parser.error(f"unrecognized arguments: {' '.join(extras)}{parser.unrecognized_fix(extras)}{more}")

    def chosen_parser(self, parsed: argparse.Namespace) -> CommandParser:
        """The parser of the sub-command ``parsed`` chose (``data_prep ingest``), else self."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
                if isinstance(chosen, CommandParser):
                    return chosen.chosen_parser(parsed)
        return self

    def unrecognized_fix(self, extras: list[str]) -> str:
        """Lines (each ``\n  WORD: ...``) saying what each unrecognised option of ``extras``
        may have meant among this parser's arguments; "" when nothing is close."""
        action_of = {o: a for a in self._actions for o in a.option_strings
                     if o.startswith("--") and a.help != argparse.SUPPRESS and o not in ("--help", "--version")}
        options = list(action_of)
        positionals = [a for a in self._actions if not a.option_strings and a.dest != argparse.SUPPRESS
                       and not isinstance(a, argparse._SubParsersAction)]
        lines = []
        for word in extras:
            if not word.startswith("--") or word == "--":
                continue
            name = word.partition("=")[0]
            bare = name[2:].replace("-", "_")
            positional = next((a for a in positionals if bare in (a.dest, a.dest.rstrip("s"),
                                                                  str(a.metavar or "").lower())), None)
            if positional is not None:
                meta = positional.metavar if isinstance(positional.metavar, str) else positional.dest.upper()
                lines.append(f"{name}: {meta} is given without an option name: drop {name}")
                continue
            meant: list[str] = []  # one name per option (--labels-referable-from, not its alias too)
            for option in (*[o for o in OPTIONS_ELSEWHERE.get(name, ()) if o in options],
                           *_closest(name, options)):
                if all(action_of[option] is not action_of[m] for m in meant):
                    meant.append(option)
            if meant:
                lines.append(f"{name}: did you mean {' or '.join(meant)}?")
        return "".join(f"\n  {line}" for line in lines)


def _closest(word: str, options: list[str]) -> list[str]:
    """Up to 3 of ``options`` close to ``word`` (difflib's ratio at least 0.7), those nearly as
    close as the closest (within 0.1): ``--outt`` is told ``--out`` alone, not ``--out or
    --tta`` (a review), and two as close are both said."""
    close = difflib.get_close_matches(word, options, n=3, cutoff=0.7)
    if not close:
        return []
    best = difflib.SequenceMatcher(None, word, close[0]).ratio()
    return [o for o in close if difflib.SequenceMatcher(None, word, o).ratio() >= best - 0.1]


@contextlib.contextmanager
def python_random_kept() -> Iterator[None]:
    """Give Python's ``random`` its state back when the block ends (returns or raises). Around
    a lazy import of scikit-learn (any ``sklearn.*`` submodule) or MONAI, whose first import
    draws from ``random``: a host process that seeded its own stream and then ingested,
    scored or graded with heatmaps would otherwise draw other numbers after the call than
    without it."""
    state = random.getstate()
    try:
        yield
    finally:
        random.setstate(state)


def import_keeping_random(name: str) -> ModuleType:
    """The module ``name`` (a dotted name: ``"sklearn.metrics"``, ``"monai.visualize"``),
    imported under :func:`python_random_kept`: the one way the package imports scikit-learn or
    MONAI lazily, since their first import draws from Python's ``random`` (a host's stream);
    Python's ``random`` is in the same state after the call as before it.

    Raises:
        ImportError: (``importlib``'s) the module is not installed or fails to import; the
            ``random`` state is given back all the same."""
    with python_random_kept():
        return importlib.import_module(name)
