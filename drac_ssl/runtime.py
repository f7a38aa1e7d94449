"""Device choice, seeding, and a description of the machine for run folders and benchmarks."""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import datetime as _dt
import functools
import hashlib
import importlib.metadata
import json
import multiprocessing
import multiprocessing.context
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

# the thread policy without torch (python -m data_prep sets OpenCV's alone), SIGTERM as
# Ctrl-C, and the run folder's console and invocation logs, lock file and lock holder (drac_ssl.run_state,
# read by the commands that tell a run's state): defined where a command that runs no torch
# imports them, re-exported here
from drac_ssl.cpu_threads import MAX_DEFAULT_THREADS, default_threads, thread_count, usable_cores  # noqa: F401
from drac_ssl.devices import cuda_shortfall
from drac_ssl.exit_codes import INCOMPLETE_SUBMISSION  # stdlib only: 3, the export's EXIT_SKIPPED
from drac_ssl.exit_codes import RunBusy as RunBusy  # defined there: stdlib only, for bundle_folder
from drac_ssl.io import flush_or_silence as flush_or_silence  # defined there, beside silence_stream
from drac_ssl.run_state import CONSOLE_LOG as CONSOLE_LOG
from drac_ssl.run_state import INVOCATIONS as INVOCATIONS
from drac_ssl.run_state import RUN_LOCK as RUN_LOCK
from drac_ssl.run_state import lock_holder as _lock_holder
from drac_ssl.starting import LOADER_SETTINGS, console_script_word, import_keeping_random
from drac_ssl.starting import interpreter_word as interpreter_word  # stdlib only, re-exported
from drac_ssl.starting import sigterm_as_ctrl_c as sigterm_as_ctrl_c  # re-exported (train.py)

if TYPE_CHECKING:
    from drac_ssl.config import Config

__all__ = ["EXIT_FLAGGED", "EXIT_NO_IMAGES", "EXIT_SKIPPED", "RunBusy", "apply_thread_policy", "code_fingerprint",
           "default_threads", "random_state_kept", "threads_kept", "worker_context"]
"""The public names (docs/python.md, docs/configuration.md, docs/running.md, docs/upgrading.md):
the thread policy the commands apply, the start method of the package's worker processes, the
keeping of the caller's random generators and threads, the code fingerprint runs record, the
refusal of a run another process holds, and the export's exit codes of a job done (a nightly
job's wrapper compares them)."""


class StageInterrupted(KeyboardInterrupt):
    """Ctrl-C inside a stage that knows what of its work is saved: ``saved`` says it in words
    (``"epoch 6 of 20 saved"``, ``"no epoch saved yet"``) and ``resume`` what the same command
    does next (``"resume from epoch 7"``). :func:`drac_ssl.train.main` prints both with the
    stage's name (``stage``, set by the orchestrator, or by ``python -m drac_ssl.umm``;
    :func:`interrupted_words`). Still a KeyboardInterrupt to every
    caller that catches one."""

    def __init__(self, saved: str = "", resume: str = "", stage: str = "") -> None:
        super().__init__(saved)
        self.saved, self.resume, self.stage = saved, resume, stage


class NonFiniteError(RuntimeError):
    """A stage's training stopped because a value it watches became NaN or infinite (a
    diverged loss, or outputs a diverged model gave). The message is the diagnostic: the
    stage, where it stopped, the learning rate and precision, what was kept and the fix.
    Each training stage raises its own subclass (pretrain's ``NonFiniteLossError``, UMM's
    ``UMMNonFiniteError``, the fine-tuning's ``FinetuneNonFiniteError``);
    ``python -m drac_ssl.train`` reports any of them as one ``error:`` line (exit code 1), no
    traceback: settings can fix it, code need not."""


class InterruptedOutsideStage(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) in ``python -m drac_ssl.train`` outside any stage's work (before a
    stage started, while report.md was written): ``words`` say what is true (no checkpoint is
    involved); :func:`interrupted_words` prints them."""

    def __init__(self, words: str) -> None:
        super().__init__(words)
        self.words = words


def saved_words(saved: int, epochs: int, stopped: str = "") -> tuple[str, str]:
    """(``saved``, ``resume``) of a :class:`StageInterrupted` for a stage whose ``last.pt``
    holds ``saved`` epochs (counted from 1; 0 = none) of ``epochs``, ``stopped`` being its
    early stop if any: e.g. ``("epoch 6 of 20 saved", "resume from epoch 7")``, or once all
    are saved ``("training finished: epoch 1 of 1 saved", "finish the stage ...")``."""
    if saved and (saved >= epochs or stopped):  # the Ctrl-C came as the last epoch was saved
        return (f"training finished: epoch {saved} of {epochs} saved" + (f", {stopped}" if stopped else ""),
                "finish the stage from the saved weights (no epoch is trained again)")
    return (f"epoch {saved} of {epochs} saved" if saved else "no epoch saved yet",
            f"resume from epoch {saved + 1}" if saved else "start it again")


def checkpoint_interrupted(last: Path, epochs: int) -> StageInterrupted | None:
    """What a Ctrl-C outside a stage's epoch loop (after its last epoch was saved, or before
    a resumed attempt trained) says, read from the stage's ``last.pt`` (its ``epoch``, 0-based,
    and ``stopped``) for a stage of ``epochs`` epochs; None when there is no readable one."""
    try:
        if not last.is_file():
            return None
        state = torch.load(last, map_location="cpu", weights_only=True, mmap=True)
        saved, stopped = int(state["epoch"]) + 1, str(state.get("stopped") or "")
    except Exception:  # noqa: BLE001 - a torn or foreign file: say nothing rather than fail
        return None
    return StageInterrupted(*saved_words(saved, epochs, stopped))


def interrupted_words(exc: KeyboardInterrupt) -> str:
    """What a command says after a Ctrl-C (:func:`drac_ssl.train.main`, ``python -m
    drac_ssl.umm``): the stage it stopped in and what of it is saved when known
    (:class:`StageInterrupted` with its ``stage``), e.g. ``interrupted in pretrain (epoch 6 of
    20 saved); rerun the same command to resume from epoch 7``; otherwise that the same
    command resumes from the last checkpoint. Then the exception's ``report`` when it has one
    (``python -m drac_ssl.train`` sets it: :func:`drac_ssl.run_state.report_words`, ``...
    -m drac_ssl.report RUN writes report.md for the run so far``)."""
    report = getattr(exc, "report", None)
    return _interrupted_words(exc) + (f"; {report}" if report else "")


def _interrupted_words(exc: KeyboardInterrupt) -> str:
    """:func:`interrupted_words` but the report hint."""
    if isinstance(exc, InterruptedOutsideStage):
        return exc.words
    if not isinstance(exc, StageInterrupted) or not exc.stage:
        return "interrupted: rerun the same command to resume from the last checkpoint"
    saved = f" ({exc.saved})" if exc.saved else ""
    return (f"interrupted in {exc.stage}{saved}; rerun the same command to "
            f"{exc.resume or f'run {exc.stage} again (the stages finished before it are skipped)'}")


def resolve_device(name: str = "auto", local_rank: int = 0, setting: str = "run.device") -> torch.device:
    """``auto`` -> the local CUDA device when there is one, else the CPU.

    ``setting``: what the user typed the name with, for the error (``run.device``, or a
    command-line flag such as ``--device``).

    The names accepted are those the preflight accepts for ``run.device`` (``auto``, ``cpu``,
    ``cuda``, ``cuda:N``), of :data:`drac_ssl.devices.DEVICE_TYPES`, where a bundle loads too:
    other torch devices (``mps``, ``xpu``) are not ones this package has been run on, and were
    accepted here only to fail later, mid-work.

    Raises:
        RuntimeError: not one of those names (``gpu``, ``mps``), CUDA asked for on a machine
            without it, or a CUDA index the machine does not have
            (:func:`drac_ssl.devices.cuda_shortfall`'s words); the message names ``setting``
            and the fix."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    flag = setting.startswith("-")
    said, fix = (f"{setting} {name}", f"{setting} ") if flag else (f"{setting}={name!r}", f"{setting}=")
    match = re.fullmatch(r"cpu|cuda(?::(\d+))?", str(name).strip())
    if match is None:
        raise RuntimeError(f"{said}: not a device this package runs on.\n  fix: {fix}auto, cpu, cuda "
                           f"or cuda:N")
    device = torch.device(match.group(0))
    if device.type == "cuda" and (short := cuda_shortfall(int(match.group(1) or 0))):
        problem, no_cuda = short
        raise RuntimeError(f"{said}, but {problem}.\n  fix: {fix}"
                           + ("auto (or cpu)" if no_cuda else "cuda:0"))
    return device


def use_compile(setting: str, device: torch.device) -> bool:
    """Whether ``PretrainConfig.compile`` (``auto | true | false``) compiles on ``device``:
    ``auto`` compiles on CUDA only (where a long run repays the compilation: ~40 s for a
    ResNet-18 step once, a one-off observation, not a bench figure; ``bench/pretrain_throughput.py``
    times it as ``compile_warmup_s`` when it compiles)."""
    if setting not in ("auto", "true", "false"):
        raise ValueError(f"compile setting must be auto, true or false, got {setting!r}")
    return device.type == "cuda" if setting == "auto" else setting == "true"


def use_bf16(cfg: Config, device: torch.device) -> bool:
    """bf16 autocast for ``pretrain.precision`` (``auto``: on CUDA only) on ``device``."""
    p = cfg.pretrain.precision
    return device.type == "cuda" if p == "auto" else p == "bf16"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def random_state_kept() -> Iterator[None]:
    """Give back, when the block ends (returns or raises), the global random generators it
    found: Python's ``random``, NumPy's legacy ``np.random`` and torch's (the CPU generator,
    and each CUDA device's once CUDA is initialised), which a run reseeds
    (:func:`seed_everything`). :func:`drac_ssl.train.main` called from Python with an
    ``argv`` runs inside it, so a host's streams go on as if no run had happened. The states
    are the process's: another thread's draws from these generators during the block are
    replayed after it (one run at a time per process, docs/python.md). CUDA's are given back
    only if CUDA was initialised when the block began; a block that starts CUDA leaves them
    at its seeds."""
    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A seed that is a pure function of (run seed, epoch, rank): resuming needs no RNG replay."""
    return (seed * 1_000_003 + epoch * 9_176 + rank * 7_919) % 2**31


def dataloader_workers(setting: int) -> int:
    """The DataLoader worker processes ``pretrain.num_workers`` gives (pretraining's and UMM's
    CPU augmentation, the fine-tuning's views): ``setting`` itself when 0 or more, else every
    core this process may use but one (:func:`drac_ssl.cpu_threads.usable_cores` - 1, at least
    0: the affinity mask of ``taskset`` / Slurm / a Kubernetes cpuset, capped by a cgroup v2
    CPU quota such as ``docker --cpus``; not ``os.cpu_count()``, the machine's CPUs, which on a
    2-core Slurm job on a 128-CPU node would start 127 processes). Speed only: every view carries its own seed
    (``TwoViewFeed``, :func:`drac_ssl.finetune.view_keys`), so the figures are the same for
    any count; the run's ``environment.json`` records it as ``dataloader_workers``."""
    return max(0, usable_cores() - 1) if setting < 0 else setting


def worker_context() -> multiprocessing.context.BaseContext:
    """The ``multiprocessing_context`` the package's DataLoaders with workers use: the start
    method the host chose (``multiprocessing.set_start_method``) when it chose one, else the
    platform's default (the first of ``multiprocessing.get_all_start_methods()``: ``fork`` on
    Linux before Python 3.14), so the workers start as a DataLoader without one starts them. A
    DataLoader given none takes the process's default context, which fixes the start method
    for good: a notebook or script that trained and then called
    ``multiprocessing.set_start_method("spawn")`` got ``RuntimeError: context has already been
    set``; this context object leaves it unset."""
    method = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]
    return multiprocessing.get_context(method)


LOADER_TIMEOUT_S = 600
"""Seconds a DataLoader with worker processes waits for one batch before it gives up (torch's
``DataLoader(timeout=)``, on every multi-worker loader of the training stages): a worker that
stopped delivering batches (a tester under ``ulimit -v 4000000``: ``RuntimeError: can't start
new thread`` in multiprocessing's ``resource_sharer`` inside the worker) left the training
waiting forever at 0% CPU. Ten minutes: far above a slow first batch on a busy 2-core
machine (workers started, images decoded and augmented: seconds), so only a stalled worker
trips it. :func:`loader_batches` says :class:`LoaderStalled` only after two such windows in
a row with no batch and no worker CPU time (a paused job meets the first as it continues)."""


class LoaderStalled(ValueError):
    """A DataLoader's worker processes stopped delivering batches: none came in two windows of
    :data:`LOADER_TIMEOUT_S` in which the workers used no CPU time, or (said at once) a worker
    was killed by SIGKILL (the kernel's out-of-memory killer, a container's memory limit) or
    by SIGBUS (too small a ``/dev/shm``: Docker's 64 MB). The message, one line, says the
    likely cause and the fix (``pretrain.num_workers=0``, with which the same command resumes
    from what the run folder keeps; else a smaller batch or image size, as a new run that
    takes the finished stages; for SIGBUS a larger ``/dev/shm``); the torch error is its
    ``__cause__``. A ``ValueError``, as every error ``python -m drac_ssl.train`` says in one
    message without a traceback (exit 2). :func:`as_loader_stalled` makes one of torch's error
    wherever it was raised (torch's SIGCHLD handler raises it in the training step too)."""


def _loader_named(stage: str | None, batch_setting: str | None, image_setting: str | None,
                  torch_words: str) -> tuple[str, str, str, str]:
    """What the loader messages name: the loader (``stage``'s, or "a data loader"), torch's
    first line, and the batch and image settings (default: the stage's
    :data:`LOADER_SETTINGS`)."""
    default_batch, default_image = LOADER_SETTINGS.get(stage or "", ("batch size", "image size"))
    torch_line = torch_words.strip().splitlines()[0] if torch_words.strip() else "no batch"
    where = f"the {stage} stage's data loader" if stage else "a data loader"
    return where, torch_line, batch_setting or default_batch, image_setting or default_image


def loader_stalled_words(stage: str | None, batch_setting: str | None, image_setting: str | None,
                         torch_words: str) -> str:
    """The message of :class:`LoaderStalled` for ``stage`` (``"pretrain"``, ``"umm"``,
    ``"finetune"``; None: not known) whose batch and image sizes are the settings named (None:
    the stage's :data:`LOADER_SETTINGS`). A worker killed by SIGBUS (``Bus error``) is said as
    too small a shared memory (``/dev/shm``), with its own fix."""
    where, torch_line, batch_setting, image_setting = _loader_named(stage, batch_setting,
                                                                    image_setting, torch_words)
    if _BUS_ERROR in torch_words:
        return (f"{where}: a worker process was killed by SIGBUS ({torch_line}): the shared memory "
                "(/dev/shm) that workers hand batches through is too small (Docker gives a container 64 MB). "
                "fix: add pretrain.num_workers=0 (images loaded in this process, no shared memory): the run "
                "folder keeps what was saved and the same command with it resumes from there; or give it a "
                "larger /dev/shm (docker run --shm-size=1g) and rerun the same command (docs/running.md, Memory)")
    return (f"{where}: its worker processes stopped delivering batches "
            f"({torch_line}), most likely a "
            "memory or thread limit (ulimit -v, a container's memory or pids limit, the out-of-memory "
            "killer). fix: add pretrain.num_workers=0 (images loaded in this process, no worker processes): "
            "the run folder keeps what was saved and the same command with it resumes from there; if that "
            f"is not enough, a smaller {batch_setting} or {image_setting}, as a new run that takes this "
            "one's finished stages (run.name=NEW run.reuse=RUN; a resume refuses changed settings)")


_STALLED_MARKS = ("DataLoader timed out", "DataLoader worker (pid")
"""The starts of torch's errors of a loader whose workers stopped delivering: the timeout
(``DataLoader timed out after N seconds``) and a dead worker (``DataLoader worker (pid(s) N)
exited unexpectedly``, ``DataLoader worker (pid N) is killed by signal: Killed``)."""

_BUS_ERROR = "killed by signal: Bus error"
_RESOURCE_SIGNALS = {"Killed": -9, "Bus error": -7}
"""The signals of a dead worker that say a resource limit, not a crash, by torch's name and
as the worker's exit code: SIGKILL (the out-of-memory killer) and SIGBUS (a full ``/dev/shm``,
torch's "Unexpected bus error ... insufficient shared memory (shm)")."""

def workers_cpu_seconds(iterator: object) -> float | None:
    """The CPU time (user + system, seconds) the worker processes of a DataLoader ``iterator``
    (torch's ``_workers``) used so far, read from Linux's ``/proc/PID/stat``; None where it
    cannot be read (no workers, another system, a worker gone)."""
    workers = getattr(iterator, "_workers", None)
    if not workers:
        return None
    ticks = 0
    try:
        for worker in workers:
            stat = Path(f"/proc/{worker.pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3
            ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError, TypeError):
        return None


def _worker_exit_codes(iterator: object) -> list[int | None]:
    """The exit codes of the worker processes of a DataLoader ``iterator`` (torch's ``_workers``;
    None for one still running, a negative code for the signal that ended it); empty where it
    has none (no workers, no iterator)."""
    return [getattr(w, "exitcode", None) for w in getattr(iterator, "_workers", None) or ()]


def _killed_by_other_signal(exc: BaseException, iterator: object) -> bool:
    """Whether a dead worker of ``exc`` (torch's words, the workers' exit codes) ended by a
    signal other than SIGKILL (the out-of-memory killer's) or SIGBUS (a full ``/dev/shm``): a
    crash (``Segmentation fault``), not a resource limit."""
    words = str(exc)
    if "killed by signal:" in words:
        return words.split("killed by signal:", 1)[1].strip().splitlines()[0].rstrip(".") not in _RESOURCE_SIGNALS
    codes = _worker_exit_codes(iterator)
    return any(code is not None and code < 0 and code not in _RESOURCE_SIGNALS.values() for code in codes)


def _worker_exit_words(stage: str | None, batch_setting: str | None, image_setting: str | None,
                       torch_words: str, iterator: object) -> str:
    """The :class:`LoaderStalled` words for torch's ``DataLoader worker (pid(s) N) exited
    unexpectedly``, which names no signal (a review: "most likely a memory or thread limit" was
    not honest there). A worker's exit code above 0 (``iterator``'s workers, where known) says
    it quit by itself (a library's ``exit()``, a script's top-level call under spawn): its own
    message says why, and memory advice would mislead. A killed worker (SIGKILL, -9; SIGBUS is
    said by :func:`loader_stalled_words`) keeps the resource words. No code known (the
    commands' nets have no iterator): the cause is not known, and the one-process rerun shows it."""
    codes = _worker_exit_codes(iterator)
    if any(code == _RESOURCE_SIGNALS["Killed"] for code in codes):
        return loader_stalled_words(stage, batch_setting, image_setting, torch_words)
    where, torch_line, batch_setting, image_setting = _loader_named(stage, batch_setting,
                                                                    image_setting, torch_words)
    exited = sorted({code for code in codes if code is not None and code > 0})
    if exited:
        return (f"{where}: a worker process exited by itself with code {', '.join(map(str, exited))} "
                f"({torch_line}), not killed by a signal: its own message above says why. fix: add "
                "pretrain.num_workers=0 (images loaded in this process, so any error is raised and "
                "shown here): the run folder keeps what was saved and the same command with it "
                "resumes from there")
    return (f"{where}: a worker process stopped and torch did not say why ({torch_line}; its own "
            "message, if any, is above). fix: add pretrain.num_workers=0 (images loaded in this "
            "process, so any error is shown here): the run folder keeps what was saved and the same "
            "command with it resumes from there; if that run goes through, a memory or pids limit "
            f"is the likely cause, and a smaller {batch_setting} or {image_setting} lets the "
            "workers run, as a new run that takes this "
            "one's finished stages (run.name=NEW run.reuse=RUN; a resume refuses changed settings)")


def as_loader_stalled(exc: BaseException, stage: str | None, batch_setting: str | None = None,
                      image_setting: str | None = None, iterator: object = None) -> LoaderStalled | None:
    """``exc`` as a :class:`LoaderStalled` of ``stage`` (its ``__cause__`` set to ``exc``) when
    it is torch's error of a loader whose workers stopped delivering (:data:`_STALLED_MARKS`)
    and no worker crashed by a signal other than SIGKILL or SIGBUS; else None (the error
    passes as it is). Used by :func:`loader_batches` around ``next()`` and by the commands'
    nets (``drac_ssl.train``, :func:`drac_ssl.starting.run_command`): torch's SIGCHLD handler
    raises ``DataLoader worker (pid N) is killed by signal: Killed.`` wherever the main thread
    is when a worker dies, the training step included. The settings default to the stage's
    (:data:`LOADER_SETTINGS`); ``iterator``: the DataLoader's, whose workers' exit codes say the
    signal where torch's words do not."""
    if isinstance(exc, LoaderStalled):
        return exc
    words = str(exc)
    if not isinstance(exc, RuntimeError) or not words.startswith(_STALLED_MARKS):
        return None
    if _killed_by_other_signal(exc, iterator):
        return None
    said = loader_stalled_words(stage, batch_setting, image_setting, words)
    if "exited unexpectedly" in words:  # no signal in torch's words: a worker that exited itself?
        said = _worker_exit_words(stage, batch_setting, image_setting, words, iterator)
    stalled = LoaderStalled(said)
    stalled.__cause__ = exc
    return stalled


def loader_batches(loader: Iterable[Any], stage: str, batch_setting: str | None = None,
                   image_setting: str | None = None) -> Iterator[Any]:
    """The batches of ``loader`` (a DataLoader), with torch's error of workers that stopped
    delivering (:data:`_STALLED_MARKS`) raised as :class:`LoaderStalled` (:func:`as_loader_stalled`),
    its words (:func:`loader_stalled_words`) naming ``stage``, ``batch_setting`` and ``image_setting``
    (None: the stage's, :data:`drac_ssl.starting.LOADER_SETTINGS`).

    A timeout is not a stall at once: a job paused longer than the timeout (Slurm's suspend,
    Ctrl-Z then ``fg``, ``kill -STOP``/``-CONT``) meets it as soon as it continues, its workers
    healthy. The loader waits another full window (torch's iterator survives its timeout) and
    says a stall only when in that window no batch came and the workers used no CPU time
    (:func:`workers_cpu_seconds`; where unreadable, two timeouts in a row). A worker that
    crashed by a signal other than SIGKILL or SIGBUS (a segmentation fault) is no resource
    limit: its error passes as it is, as any other error does."""
    iterator = iter(loader)
    timed_out, cpu_then = False, None
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except RuntimeError as exc:
            if str(exc).startswith(_STALLED_MARKS[0]):
                cpu_now = workers_cpu_seconds(iterator)
                if not timed_out or (cpu_now is not None and cpu_then is not None and cpu_now > cpu_then):
                    timed_out, cpu_then = True, cpu_now  # paused, or working: one more window
                    continue
            stalled = as_loader_stalled(exc, stage, batch_setting, image_setting, iterator)
            if stalled is None:
                raise
            raise stalled from exc
        timed_out, cpu_then = False, None
        yield batch


def cpu_bf16_flags() -> list[str]:
    """This CPU's bf16 flags from ``/proc/cpuinfo`` (``amx_bf16``, ``amx_tile``,
    ``avx512_bf16`` ...; Linux only, an empty list elsewhere or when unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in set(flags) if f.startswith(("amx", "avx512_bf16")))


def cpu_has_amx_bf16() -> bool:
    """Whether this CPU runs bf16 matrix products in hardware (Intel AMX, Sapphire Rapids and
    later): where ``pretrain.precision=bf16`` can train faster than fp32 on the CPU
    (``bench/cpu_precision.py``)."""
    return "amx_bf16" in cpu_bf16_flags()


_applied: dict[str, Any] = {}


def apply_thread_policy(threads: int | None = None, inter_op: bool = True) -> dict[str, Any]:
    """Set this process's CPU threads: torch intra-op (and inter-op, once) and OpenCV.

    Args:
        threads: ``N > 0`` uses N threads (``run.threads`` / ``--threads``); ``0`` or None
            uses ``OMP_NUM_THREADS`` when it is set to a positive integer, else
            :func:`default_threads`.
        inter_op: size torch's inter-op pool too (the commands' own processes). False leaves
            it as it is: a caller's process (:func:`drac_ssl.train.main` given an ``argv``
            from Python), whose pool torch lets be sized once only, so that no call could
            give it back (:func:`threads_kept`).

    Returns:
        What was set, as recorded in ``environment.json`` and bench results: ``threads``,
        ``source`` (``setting`` | ``OMP_NUM_THREADS`` | ``default``), ``usable_cores``,
        ``torch_intra_op``, ``torch_inter_op``, ``opencv``.

    Call it once at the start of an entry point, before any parallel work: torch's inter-op
    pool can be sized only before it starts (a later call keeps the size it has; the
    ``RuntimeError`` torch raises then is caught). It is not called inside DataLoader or
    ingest workers: those run one thread each (torch and ``data_prep.cache`` set that).

    Raises:
        ValueError: ``threads`` is negative.
    """
    import cv2

    threads, source = thread_count(threads, usable_cores())
    torch.set_num_threads(threads)
    if inter_op:
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # already set, or the pool already ran: keep its size
            pass
    cv2.setNumThreads(threads)
    _applied.clear()
    _applied.update({
        "threads": threads, "source": source, "usable_cores": usable_cores(),
        "torch_intra_op": torch.get_num_threads(), "torch_inter_op": torch.get_num_interop_threads(),
        "opencv": cv2.getNumThreads(),
    })
    return dict(_applied)


@contextlib.contextmanager
def threads_kept() -> Iterator[None]:
    """Give back, when the block ends (returns or raises), the CPU threads it found: torch's
    intra-op count, OpenCV's, and the policy :func:`thread_settings` reports. Torch's inter-op
    pool is not given back: torch sizes it once per process (a second
    ``torch.set_num_interop_threads`` raises), so a block that must leave it as found does not
    size it (:func:`apply_thread_policy`'s ``inter_op=False``)."""
    import cv2

    torch_threads, opencv_threads, applied = torch.get_num_threads(), cv2.getNumThreads(), dict(_applied)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(opencv_threads)
        _applied.clear()
        _applied.update(applied)


def thread_settings() -> dict[str, Any]:
    """The threads this process runs with now, and the policy that set them (if one did)."""
    import cv2

    return {
        "policy": _applied.get("source", "not applied (library defaults)"),
        "usable_cores": usable_cores(),
        "torch_intra_op": torch.get_num_threads(),
        "torch_inter_op": torch.get_num_interop_threads(),
        "opencv": cv2.getNumThreads(),
    }


def gpu_determinism() -> dict[str, bool]:
    """What makes CUDA results repeatable, as this process has it: ``cudnn_deterministic``
    (``torch.backends.cudnn.deterministic``), ``cudnn_benchmark`` (``...benchmark``: picks
    kernels by timing, which may pick others on a rerun) and ``deterministic_algorithms``
    (``torch.are_deterministic_algorithms_enabled()``). The package sets none of them, so a
    GPU run is not bit-identical to another; the CPU's results are (docs/running.md)."""
    return {"cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled())}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
"""The folder of the drac_ssl package this process imported: git is asked about it alone."""

CODE_SOURCES = {
    "git": "a git checkout of drac_ssl",
    "installed package": "an installed package, not a git checkout of drac_ssl",
    "untracked source tree": "a drac_ssl source tree that is not a git checkout of its own",
    "git refused": ("a git checkout of drac_ssl that git refused to read (e.g. owned by another "
                    "account: git's dubious-ownership check; fix: git config --global --add "
                    "safe.directory PATH)"),
}
"""What :func:`code_source` may say, and its words (``environment.json`` ``code_source``, and
``"code_stamp"`` of :func:`code_origin`)."""


@functools.lru_cache(maxsize=8)
def code_source(package_dir: str | None = None) -> str:
    """Whether git may be asked which commit the package in ``package_dir`` (default: this
    one's) is, as a key of :data:`CODE_SOURCES`. ``"git"`` only for a checkout of drac_ssl: the
    folder's parent holds ``pyproject.toml`` of the project ``drac_ssl`` and git tracks the
    package's ``__init__.py`` as ``drac_ssl/__init__.py`` of its repository's top level (one
    ``git ls-files`` call, once per process). Else a user's repository was asked (a report:
    drac_ssl installed into a venv inside the user's own git project recorded the user's commit
    as drac_ssl's in ``environment.json``, report.md and the model card): ``"installed
    package"`` when no drac_ssl ``pyproject.toml`` is beside the package (site-packages),
    ``"untracked source tree"`` when one is but git does not track it there (a copied or
    unpacked source tree, one inside another project's repository). ``"git refused"`` when a
    ``.git`` is beside the package (the checkout's top level) and git fails on it (exit 128,
    e.g. "detected dubious ownership": the checkout belongs to another account; no commit is
    named, and :func:`unknown_code_words` gives the ``safe.directory`` fix with the path).
    Without git at all, ``"git"``: no commit is named (:func:`git_commit` says
    ``"unknown"``), as before."""
    import tomllib

    here = os.path.realpath(package_dir or _PACKAGE_DIR)
    try:
        with open(os.path.join(os.path.dirname(here), "pyproject.toml"), "rb") as fh:
            name = (tomllib.load(fh).get("project") or {}).get("name")
    except (OSError, ValueError):  # tomllib.TOMLDecodeError is a ValueError
        name = None
    if name != "drac_ssl":
        return "installed package"
    try:
        out = subprocess.run(["git", "-C", here, "ls-files", "--full-name", "--error-unmatch", "--",
                              "__init__.py"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:  # no git: it names no commit, of a user's repository neither
        return "git"
    except subprocess.SubprocessError:
        return "untracked source tree"
    tracked = out.stdout.strip().splitlines() if out.returncode == 0 else []
    if tracked == ["drac_ssl/__init__.py"]:
        return "git"
    if out.returncode not in (0, 1) and os.path.exists(os.path.join(os.path.dirname(here), ".git")):
        return "git refused"  # 1: not tracked (--error-unmatch); 128: git would not read it
    return "untracked source tree"


def distribution_version(package_dir: str | None = None) -> str:
    """The version of the drac_ssl package in ``package_dir`` (default: this one's): the
    installed distribution's (``importlib.metadata``) when the package is installed
    (:func:`code_source` ``"installed package"``) and the distribution's files are this package
    (its ``drac_ssl/__init__.py`` is this one's), else ``drac_ssl.__version__``: a checkout run
    with ``PYTHONPATH`` while another tree is installed (editable) would otherwise record that
    tree's version as this code's. A source tree (a checkout, an unpacked sdist: drac_ssl's
    pyproject.toml beside the package) is always ``__version__`` (its ``_build_info.py``'s in
    an sdist): metadata found there is what a build left in it (``drac_ssl.egg-info``, read
    from the current folder) or an editable install's, of the commit built or installed then,
    and a later run recorded that stale version (a review, F3)."""
    from drac_ssl import __version__

    if code_source(package_dir) != "installed package":
        return __version__
    here = os.path.realpath(package_dir or _PACKAGE_DIR)
    try:
        dist = importlib.metadata.distribution("drac_ssl")
        located = os.path.realpath(str(dist.locate_file("drac_ssl/__init__.py")))
    except (importlib.metadata.PackageNotFoundError, OSError, TypeError, ValueError):
        return __version__
    mine = os.path.join(here, "__init__.py")
    listed = any(str(f).replace("\\", "/") == "drac_ssl/__init__.py" for f in dist.files or [])
    return dist.version if listed and located == mine else __version__


BUILD_INFO_FILE = "_build_info.py"
"""The file setup.py writes into the package of a wheel or sdist built from a git checkout
(``BUILD_COMMIT``, ``BUILD_DIRTY``); never in a checkout: git names that one."""


def build_origin(package_dir: str | None = None) -> dict[str, Any]:
    """The commit the drac_ssl package in ``package_dir`` (default: this one's) was built
    from, as setup.py recorded it in :data:`BUILD_INFO_FILE` when its wheel (or sdist) was
    built from a git checkout of drac_ssl: ``{"build_commit": full commit, "build_dirty":
    whether tracked files differed from it (None: unknown)}``. ``{}`` when the package has no
    such file (a checkout, an editable install, a wheel built without git, one built before
    setup.py wrote it) or it holds no commit (40 or 64 hex digits); the file is read, not
    imported. Wheels of one version from different commits differ here (a packaging review,
    F4: they recorded ``git_commit: unknown`` and 0.1.0 alike)."""
    said = _build_literals(package_dir)
    commit, dirty = said.get("BUILD_COMMIT"), said.get("BUILD_DIRTY")
    if not (isinstance(commit, str) and re.fullmatch(BUILD_COMMIT_PATTERN, commit)):
        return {}
    return {"build_commit": commit, "build_dirty": dirty if isinstance(dirty, bool) else None}


BUILD_COMMIT_PATTERN = r"[0-9a-f]{40}|[0-9a-f]{64}"
"""A full git commit (SHA-1 or SHA-256 object names): what :func:`build_origin` takes as
``BUILD_COMMIT``; setup.py's ``recorded_build`` holds the same rule (it cannot import the package)."""


def _build_literals(package_dir: str | None = None) -> dict[str, Any]:
    """The names :data:`BUILD_INFO_FILE` in ``package_dir`` (default: this package's) assigns,
    with their literal values; the file is parsed, not imported. {} when it is missing or
    unreadable."""
    import ast

    path = os.path.join(package_dir or _PACKAGE_DIR, BUILD_INFO_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), filename=path)
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return {}
    said: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                said[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return said


def build_version(package_dir: str | None = None) -> str | None:
    """The version setup.py gave the build of the package in ``package_dir`` (default: this
    one's), ``BUILD_VERSION`` of :data:`BUILD_INFO_FILE` (``0.1.0+57.g1a2b3c4``: its label
    names :func:`build_origin`'s commit); None without one (a checkout, a wheel built without
    git or before setup.py recorded it)."""
    version = _build_literals(package_dir).get("BUILD_VERSION")
    return version if isinstance(version, str) and version else None


def build_commit_words(package_dir: str | None = None) -> str:
    """:func:`build_origin` in words: ``built from commit 1a2b3c4`` (`` with uncommitted
    changes`` when dirty); ``""`` when unknown."""
    origin = build_origin(package_dir)
    if not origin:
        return ""
    return f"built from commit {origin['build_commit'][:7]}" + (
        " with uncommitted changes" if origin["build_dirty"] else "")


FINGERPRINT_FOLDERS = ("drac_ssl", "data_prep", "app")
"""The source folders :func:`code_fingerprint` hashes (the package, the ingest, the app),
beside each other as in a checkout, a source archive or site-packages."""

FINGERPRINT_SKIPPED = ("drac_ssl/_build_info.py",)
"""Files left out of :func:`code_fingerprint`: setup.py writes :data:`BUILD_INFO_FILE` into a
built package only, so that a wheel and the checkout it was built from hash alike."""

FINGERPRINT_LENGTH = 12
"""Hex digits of a fingerprint said in words (:func:`code_words`); records keep all 64."""


def source_fingerprint(root: str | os.PathLike[str]) -> str:
    """SHA-256 (64 hex digits) of the Python source under ``root``: every ``*.py`` file below
    :data:`FINGERPRINT_FOLDERS` (``drac_ssl/``, ``data_prep/``, ``app/``, subfolders included,
    ``__pycache__``, dot-folders and dot-files left out, symbolic links to folders not
    followed; a missing folder adds nothing) but :data:`FINGERPRINT_SKIPPED`, taken in the
    order of their relative paths (``/``-separated, sorted as bytes); each file adds its path, a NUL, its size in bytes as
    decimal digits, a NUL and its bytes. Not covered: ``configs/`` (a run records its own
    settings in ``config.yaml``), the installed libraries (``environment.json``'s ``builds``),
    ``py.typed`` and every file that is not ``*.py``. A file that cannot be read adds its path
    and ``unreadable``. Needs no git: a git checkout, a ``git archive`` or GitHub ZIP of the
    same commit and a wheel built from it give the same value; any edited, added or removed
    ``.py`` file, tracked by git or not, changes it.

    Dot-files are left out as dot-folders are (an editor's lock file ``.#model.py``, a
    dangling symbolic link while the file is being edited, hashed as ``unreadable``, and gone
    once saved: an upgrade review, F7), and symbolic links to folders below the three are not
    followed (a link cycle made ``os.walk`` loop; a linked ``.py`` file is still read). The
    three folders themselves are read where their names lead, links included. Known limit:
    ``app`` is a generic top-level name, and in a site-packages another distribution's
    ``app/`` beside drac_ssl would be hashed with it (its wheel installs its own ``app``)."""
    root = os.fspath(root)
    paths: list[str] = []
    for folder in FINGERPRINT_FOLDERS:
        top = os.path.join(root, folder)
        for here, dirs, files in os.walk(top):  # followlinks=False: a linked folder is not entered
            dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
            rel = os.path.relpath(here, root).replace(os.sep, "/")
            paths.extend(f"{rel}/{name}" for name in files if name.endswith(".py") and not name.startswith("."))
    digest = hashlib.sha256()
    for rel in sorted((p for p in paths if p not in FINGERPRINT_SKIPPED), key=os.fsencode):
        try:
            with open(os.path.join(root, *rel.split("/")), "rb") as fh:
                data = fh.read()
        except OSError:
            digest.update(os.fsencode(rel) + b"\0unreadable\0")
            continue
        digest.update(os.fsencode(rel) + b"\0" + str(len(data)).encode("ascii") + b"\0" + data)
    return digest.hexdigest()


def code_fingerprint() -> str:
    """:func:`source_fingerprint` of the source tree this package was imported from (the
    folder holding this ``drac_ssl/``, and ``data_prep/`` and ``app/`` beside it): which code
    runs, with or without git (an installed package, a source archive, a checkout). Computed
    afresh at each call (15-45 ms for the ~4 MB of source on a 2-core machine), as
    :func:`code_version`'s git call is: a file edited while a run goes on (before a later
    stage) is seen by both, so that a stage's commit, dirty flag and fingerprint describe one
    tree (a per-process cache paired a fresh ``-dirty`` with the fingerprint of the tree at
    the start: an upgrade review, F3). Recorded as ``code_fingerprint`` in
    ``environment.json`` (:func:`code_origin`), in each stage's ``code`` in ``stages.json``
    and in a bundle's ``provenance`` (:func:`code_version`)."""
    return source_fingerprint(os.path.dirname(os.path.realpath(_PACKAGE_DIR)))


def git_dirty() -> bool | None:
    """Whether tracked files of the checkout this package runs from differ from its commit
    (uncommitted changes: the commit alone does not reproduce the code); None when unknown,
    and when the package is no git checkout of drac_ssl (:func:`code_source`)."""
    if code_source() != "git":
        return None
    try:
        out = subprocess.run(["git", "-C", _PACKAGE_DIR, "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True, errors="replace", timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def git_commit() -> str:
    """Short commit of the checkout this package runs from (not of the working directory);
    ``"unknown"`` without git, and when the package is no git checkout of drac_ssl
    (:func:`code_source`: git would name the commit of a user's repository around it)."""
    if code_source() != "git":
        return "unknown"
    try:
        out = subprocess.run(["git", "-C", _PACKAGE_DIR, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


CODE_FOLDERS = ("drac_ssl", "data_prep", "app", "configs")
"""The checkout's folders whose files make a run's results (the package, the ingest, the app,
the shipped configs): :func:`git_changes` lists the changed and untracked files under them."""

CHANGED_FILES_LISTED = 200
"""At most this many changed (and as many untracked) files are named in ``environment.json``;
more are counted (``git_changed_files_more`` / ``git_untracked_files_more``)."""


DIFF_ARGS = ("diff", "HEAD", "--binary", "--full-index", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames",
             "--src-prefix=a/", "--dst-prefix=b/", "--unified=3", "--inter-hunk-context=0",
             "--diff-algorithm=myers", "--indent-heuristic", "--submodule=short",
             "--ignore-submodules=none", "-O/dev/null")
"""The ``git diff`` whose bytes :func:`git_changes` hashes: each option fixes what a user's git
configuration would otherwise change (``color.ui=always``, ``diff.noprefix``, ``diff.renames``,
``diff.algorithm``, ``diff.context``, ``diff.orderFile``, ``diff.external``, a textconv driver
...), so one tree gives one hash whoever runs it (a review, F2: three settings gave three);
``--full-index`` writes the ``index`` lines' blob hashes in full, which ``core.abbrev`` or a
shallow clone against a full one would otherwise shorten differently (a review of tests_fx, F2).
Settings that no option of git 2.25 (Ubuntu 20.04's) can override go in :data:`DIFF_CONFIG`
instead: an option an older git does not know would make every such diff "unavailable"."""

DIFF_CONFIG = ("-c", "diff.suppressBlankEmpty=false", "-c", "diff.relative=false", "-c", "core.quotePath=true")
"""``git -c`` settings of every call of :func:`_git_out`: an older git ignores a setting it does not
know, where it refuses an option (``--no-relative`` came with git 2.28; a final read, F1).
``core.quotePath`` fixes how a diff header writes a name outside ASCII (a final read, F2)."""

DIFF_ENVIRONMENT_DROPPED = ("GIT_DIFF_OPTS", "GIT_EXTERNAL_DIFF")
"""Environment variables that change a ``git diff``'s bytes (``GIT_DIFF_OPTS=--unified=1``
overrides ``--unified=3``): left out of :func:`_git_out`'s environment (a final read, F2)."""


def _git_out(*args: str, timeout: float = 10) -> bytes | None:
    """``git -C <the checkout's top level> ARGS``' stdout as bytes (file names need not be
    UTF-8), or None when git fails, times out or is absent; with :data:`DIFF_CONFIG` and without
    :data:`DIFF_ENVIRONMENT_DROPPED`."""
    root = os.path.dirname(_PACKAGE_DIR)
    env = {key: value for key, value in os.environ.items() if key not in DIFF_ENVIRONMENT_DROPPED}
    try:
        out = subprocess.run(["git", *DIFF_CONFIG, "-C", root, *args],
                             capture_output=True, timeout=timeout, check=False, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _file_names(listing: bytes | None) -> list[str]:
    """The file names of a ``-z`` listing, sorted; a name that is no UTF-8 keeps its other
    bytes and has each odd one written ``\\xff`` (backslash, x, two hex digits), so that
    ``environment.json`` can hold it (a review, F1: one such untracked file under drac_ssl/
    ended every run at its start)."""
    return sorted(name.decode("utf-8", "backslashreplace") for name in (listing or b"").split(b"\0") if name)


def _listed(key: str, names: list[str]) -> dict[str, Any]:
    """``{key: the first CHANGED_FILES_LISTED names}`` plus ``{key}_more`` (how many more) when cut."""
    said: dict[str, Any] = {key: names[:CHANGED_FILES_LISTED]}
    if len(names) > CHANGED_FILES_LISTED:
        said[f"{key}_more"] = len(names) - CHANGED_FILES_LISTED
    return said


_DIFF_TAKEN: tuple[str, bytes] | None = None
"""(SHA-256, bytes) of the last non-empty diff :func:`git_changes` hashed: what
:func:`save_code_patch` writes (or finds over its cap) for that ``git_diff_sha256`` (one diff
taken, not two that an edit between them would make differ); None before one is taken."""


def git_changes() -> dict[str, Any]:
    """What exactly the checkout this package runs from holds, beyond :func:`git_commit`'s
    short name: ``git_commit_full`` (the 40-hex SHA of ``HEAD``), and when the code differs from
    it (tracked files changed, ``git diff HEAD`` not empty, or untracked files under
    :data:`CODE_FOLDERS`) also ``git_diff_sha256`` (SHA-256 of the bytes of ``git diff HEAD
    --binary`` with :data:`DIFF_ARGS`' options, of the whole checkout; None when only untracked
    files differ; ``"unavailable"`` when that diff failed or timed out), ``git_changed_files``
    (tracked files changed since ``HEAD`` under :data:`CODE_FOLDERS`, paths from the top level,
    sorted; a name that is no UTF-8 as :func:`_file_names` writes it) and
    ``git_untracked_files`` (files there git does not track and does not ignore), each at most
    :data:`CHANGED_FILES_LISTED` long. The diff's hash tells two dirty runs of one
    commit apart (the same hash: the same tracked code); an untracked file's content is not
    hashed. {} when the package is no git checkout of drac_ssl (:func:`code_source`) or git
    cannot say."""
    global _DIFF_TAKEN
    if code_source() != "git":
        return {}
    full = (_git_out("rev-parse", "HEAD") or b"").decode("ascii", "replace").strip()
    if not full:
        return {}
    said: dict[str, Any] = {"git_commit_full": full}
    diff = _git_out(*DIFF_ARGS, timeout=60)
    if diff:  # kept for save_code_patch: code.patch is the diff this hash is of
        _DIFF_TAKEN = (hashlib.sha256(diff).hexdigest(), diff)
    changed_names = _file_names(_git_out("diff", "HEAD", "--no-renames", "--name-only", "-z", "--",
                                         *CODE_FOLDERS))
    untracked_names = _file_names(_git_out("ls-files", "--others", "--exclude-standard", "-z", "--",
                                           *CODE_FOLDERS))
    if diff or changed_names or untracked_names:
        said["git_diff_sha256"] = ("unavailable" if diff is None else
                                   hashlib.sha256(diff).hexdigest() if diff else None)
        said.update(_listed("git_changed_files", changed_names))
        said.update(_listed("git_untracked_files", untracked_names))
    return said


CODE_PATCH = "code.patch"
"""The run folder's copy of the uncommitted changes of the checkout that made the run."""

CODE_PATCH_LIMIT = 5 * 2**20
"""The largest ``code.patch`` written (bytes): a bigger diff is noted, not saved."""


def save_code_patch(run_dir: str | os.PathLike[str], diff_sha256: str | None = None,
                    limit: int = CODE_PATCH_LIMIT) -> str | None:
    """Write the checkout's uncommitted changes to the tracked files (the bytes of ``git diff
    HEAD --binary`` with :data:`DIFF_ARGS`' options, whose SHA-256 ``environment.json`` records
    as ``git_diff_sha256``) to ``run_dir/code.patch`` (atomically,
    :func:`drac_ssl.io.atomic_write_bytes`), so that a dirty run can be remade: ``git checkout
    <git_commit_full> && git apply code.patch`` (untracked files are not in it: their names are
    ``git_untracked_files``). ``diff_sha256``: the ``git_diff_sha256`` recorded, whose diff
    :func:`git_changes` took is written (not one taken now, which an edit since would make
    another); None, or a diff not taken in this process: the diff taken now. Returns what
    ``environment.json`` records as ``code_patch``: ``"code.patch"`` when written, ``"not
    saved: N.N MiB, over the 5 MiB cap"`` for a bigger diff, ``"unavailable"`` when git could
    not give it; None when there is no diff (a clean checkout, or no git checkout of drac_ssl:
    :func:`code_source`).

    Raises:
        OSError: ``run_dir/code.patch`` could not be written (a full disk, no permission),
            named as the file written (:func:`drac_ssl.io.writing`); no temporary file is left.
    """
    from drac_ssl.io import atomic_write_bytes

    if code_source() != "git":
        return None
    diff = _DIFF_TAKEN[1] if _DIFF_TAKEN is not None and _DIFF_TAKEN[0] == diff_sha256 else None
    if diff is None:
        diff = _git_out(*DIFF_ARGS, timeout=60)
    if diff is None:
        return "unavailable"
    if not diff:
        return None
    if len(diff) > limit:
        return f"not saved: {len(diff) / 2**20:.1f} MiB, over the {limit / 2**20:g} MiB cap"
    atomic_write_bytes(Path(run_dir) / CODE_PATCH, diff)
    return CODE_PATCH


def _not_git_origin(source: str) -> dict[str, Any]:
    """:func:`code_origin` of a package that is no git checkout of drac_ssl: the commit
    unknown, ``code_source`` what it is, ``distribution_version`` its installed version, and
    ``build_commit``/``build_dirty`` when its wheel recorded them (:func:`build_origin`)."""
    return {"git_commit": "unknown", "git_dirty": None, "code_source": source,
            "distribution_version": distribution_version(), **build_origin()}


def unknown_code_words(with_version: bool = True) -> str:
    """Why this process's commit is unknown, in words: ``unknown (an installed package, not a
    git checkout of drac_ssl; drac_ssl 0.1.0)``, with ``; built from commit 1a2b3c4`` when its
    wheel recorded it (:func:`build_commit_words`) and its version does not name that commit
    already (``drac_ssl 0.1.0+57.g1a2b3c4``: the version the build recorded,
    :func:`build_version`), or ``unknown (no git)``. ``with_version=False`` leaves the version out
    (report.md says it before these words)."""
    source = code_source()
    if source == "git":
        return "unknown (no git)"
    version = distribution_version()
    words = CODE_SOURCES[source].replace("PATH", os.path.dirname(os.path.realpath(_PACKAGE_DIR)))
    # the installed version is the build's own (setup.py's label names its commit)
    named = bool(build_origin()) and version is not None and version == build_version()
    built = "" if named else build_commit_words()
    said = "; ".join(part for part in (f"drac_ssl {version}" if version and with_version else "", built)
                     if part)
    return f"unknown ({words}" + (f"; {said})" if said else ")")


def code_origin() -> dict[str, Any]:
    """Which code runs, for a run folder's ``environment.json``: ``git_commit`` (short),
    ``git_dirty`` and ``code_source``, and always ``distribution_version``
    (:func:`distribution_version`; runs made before the fingerprint recorded it only for a
    package that was no git checkout) and ``code_fingerprint`` (:func:`code_fingerprint`, 64
    hex digits: it names the code where git cannot). ``"git"``: of the checkout this package runs from
    (:func:`git_commit`, :func:`git_dirty`; :func:`git_changes` adds the full SHA and, when the
    code differs from it, the diff's SHA-256 and the changed and untracked files). ``"code_stamp"``: on a lent GPU machine whose copy
    of ``.git`` may be stale, the GPU scripts' code stamp (``DRAC_SSL_CODE_STAMP`` naming one
    whose files match the tree, :func:`drac_ssl.code_stamp.stamps_from_env`): its commit,
    ``git_dirty`` whether code files differed from it, ``code_stamp`` its record
    (:func:`drac_ssl.code_stamp.stamp_record`) and ``git_commit_checkout`` what the copy's
    ``.git`` says; bench/common.py reads the same stamp. A stamp found not to match the tree is
    recorded in ``code_stamp`` (``matches_tree: false``) with git's commit; one that cannot
    be read is ``code_stamp_error`` (the run goes on, named by git). A package that is no git
    checkout of drac_ssl (:func:`code_source`: installed into a venv, which may sit inside the
    user's own repository): ``git_commit`` ``"unknown"``, ``git_dirty`` None, ``code_source``
    ``"installed package"`` or ``"untracked source tree"``, ``distribution_version`` (its
    installed version, :func:`distribution_version`) and, for a wheel built from a checkout,
    ``build_commit`` and ``build_dirty`` (:func:`build_origin`)."""
    return {**_code_origin(), "distribution_version": distribution_version(),
            "code_fingerprint": code_fingerprint()}


def _code_origin() -> dict[str, Any]:
    """:func:`code_origin` but its ``distribution_version`` and ``code_fingerprint``."""
    from drac_ssl.code_stamp import stamp_record, stamps_from_env

    source = code_source()
    try:
        used, unmatched = stamps_from_env()
    except ValueError as exc:
        return {**({"git_commit": git_commit(), "git_dirty": git_dirty(), "code_source": "git",
                    **git_changes()} if source == "git" else _not_git_origin(source)),
                "code_stamp_error": str(exc)}
    if used is not None:
        return {"git_commit": used.commit[:7], "git_dirty": bool(used.changed_code), "code_source": "code_stamp",
                "code_stamp": stamp_record(used), "git_commit_checkout": git_commit()}
    if source != "git":
        return _not_git_origin(source)
    return {"git_commit": git_commit(), "git_dirty": git_dirty(), "code_source": "git", **git_changes(),
            **({"code_stamp": stamp_record(unmatched)} if unmatched is not None else {})}


def code_version() -> dict[str, Any]:
    """The code this process would import now: ``{"git_commit": short commit, "git_dirty":
    bool, "code_fingerprint": 64 hex digits}``: the checkout this package runs from (as
    :func:`git_commit` and :func:`git_dirty` say it), in one git call (``git describe --always
    --dirty``, tags ignored), and :func:`code_fingerprint`, computed afresh as the git call is
    (one tree described by both, an edit between two stages included). Only
    ``{"code_fingerprint": ...}`` when git or the checkout is not there, or the package is no
    git checkout of drac_ssl (:func:`code_source`): a source archive, an installed package. With a code stamp in use (:func:`code_origin`: a GPU
    machine's stale ``.git``) the stamp's, as ``environment.json`` says it, so that the stages
    are not said to run on other code than the run was made with; the stamp is checked against
    the tree once per process while it and its sums stay the same
    (:func:`drac_ssl.code_stamp.read_code_stamp_once`), not at every stage. Cheap enough to ask
    before every stage: the stages import their modules when they start, so a checkout changed
    during a run (a merge) runs the later stages on other code."""
    from drac_ssl.code_stamp import read_code_stamp_once, stamps_from_env

    try:
        used = stamps_from_env(read=read_code_stamp_once)[0]
    except ValueError:
        used = None  # code_origin records it; git names the code
    fingerprint = {"code_fingerprint": code_fingerprint()}
    if used is not None:
        return {"git_commit": used.commit[:7], "git_dirty": bool(used.changed_code), **fingerprint}
    if code_source() != "git":  # git would name a user's repository around an installed package
        return fingerprint
    try:
        out = subprocess.run(["git", "-C", _PACKAGE_DIR, "describe", "--always", "--dirty", "--exclude=*"],
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return fingerprint
    described = out.stdout.strip()
    if out.returncode != 0 or not described:
        return fingerprint
    dirty = described.endswith("-dirty")
    return {"git_commit": described.removesuffix("-dirty"), "git_dirty": dirty, **fingerprint}


def known_commit(version: dict[str, Any]) -> str:
    """The short commit a :func:`code_version` record (or an ``environment.json``) names; ''
    when it names none (absent, or ``"unknown"``: no git checkout)."""
    commit = str(version.get("git_commit") or "")
    return "" if commit == "unknown" else commit


def code_known(version: dict[str, Any]) -> bool:
    """Whether a :func:`code_version` record (or an ``environment.json``) names its code: a
    commit (:func:`known_commit`) or a ``code_fingerprint``. A run made before the
    fingerprint, from a source archive or an installed package, names neither."""
    return bool(known_commit(version) or version.get("code_fingerprint"))


def same_code(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two :func:`code_version` records (or ``environment.json`` files) name the same
    code. Both with a ``code_fingerprint`` (:func:`source_fingerprint`: the ``.py`` source of
    ``drac_ssl/``, ``data_prep/`` and ``app/``): the fingerprints decide, whatever the commits
    say: a commit of docs or configs only, or a tree dirty with such edits only, is the same
    code; an untracked new module (``drac_ssl/zz.py``, which git's dirty flag leaves out) is
    other code (an upgrade review, F2). Else, for a record made before the fingerprint, both
    with a commit (:func:`known_commit`): the same dirty flag and one short commit a prefix of
    the other (git lengthens its short hashes as a repository grows: ``17e12e1`` and
    ``17e12e1a`` are one commit). Else the same only when neither names its code
    (:func:`code_known`): nothing tells them apart."""
    fa, fb = a.get("code_fingerprint"), b.get("code_fingerprint")
    if fa and fb:
        return fa == fb
    ca, cb = known_commit(a), known_commit(b)
    if ca and cb:
        return bool(a.get("git_dirty")) == bool(b.get("git_dirty")) and (ca.startswith(cb) or cb.startswith(ca))
    return not (code_known(a) or code_known(b))


def code_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    """What tells two code records apart, in words, as :func:`same_code` compares them: ``their
    Python source differs (...)`` when both carry a fingerprint, ``another commit`` or ``...
    uncommitted changes ...`` for a record without one, ``one names no code`` otherwise; ""
    for the same code."""
    if same_code(a, b):
        return ""
    if a.get("code_fingerprint") and b.get("code_fingerprint"):
        return ("their Python source differs (the code fingerprints of the .py files of drac_ssl/, "
                "data_prep/ and app/)")
    ca, cb = known_commit(a), known_commit(b)
    if ca and cb:
        if not (ca.startswith(cb) or cb.startswith(ca)):
            return "another commit"
        return ("uncommitted changes on one side only (a record without a code fingerprint: the dirty "
                "flag, which any edited tracked file sets, docs included)")
    return "one of them names no code"


def code_words(version: dict[str, Any], other: dict[str, Any] | None = None) -> str:
    """``17e12e1`` or ``17e12e1 (dirty)``: a :func:`code_version` (or an ``environment.json``)
    in words; without a commit its fingerprint, ``fingerprint 7883bc5e9bbd``
    (:data:`FINGERPRINT_LENGTH` digits), else ``unknown``. ``other``: a record said beside it;
    when both say the same commit words but their fingerprints differ (two edits of one
    commit), the fingerprint is added (``17e12e1 (dirty), fingerprint 7883bc5e9bbd``), so that
    the two are not written alike."""
    commit = known_commit(version)
    fingerprint = version.get("code_fingerprint")
    if commit:
        words = commit + (" (dirty)" if version.get("git_dirty") else "")
        if (other is not None and fingerprint and other.get("code_fingerprint")
                and fingerprint != other.get("code_fingerprint") and known_commit(other)
                and words == code_words(other)):
            words += f", fingerprint {str(fingerprint)[:FINGERPRINT_LENGTH]}"
        return words
    return f"fingerprint {str(fingerprint)[:FINGERPRINT_LENGTH]}" if fingerprint else "unknown"


UNKNOWN_CODE = "code of unknown version (not a git checkout, no fingerprint recorded)"
"""What names a run made before :func:`code_fingerprint` by code that was no git checkout."""


def code_at(version: dict[str, Any], other: dict[str, Any] | None = None) -> str:
    """A :func:`code_version` (or an ``environment.json``) as the object of "made at" / "runs
    on": ``commit 17e12e1`` (`` (dirty)``), ``code fingerprint 7883bc5e9bbd`` without a commit,
    or :data:`UNKNOWN_CODE`; ``other``: as :func:`code_words`'s."""
    if known_commit(version):
        return f"commit {code_words(version, other)}"
    return f"code {code_words(version)}" if version.get("code_fingerprint") else UNKNOWN_CODE


_COMMAND_GIVEN: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "command_given", default=None)
"""The words after ``PYTHON`` of the command a ``main(argv)`` called from Python stands for
(:func:`command_given`); None: the process's own command line. A context variable, as
``_TYPED``: each thread (and each asyncio task) sees only the command of its own call, so
that two ``train.main(argv)`` in two threads, or an ``export.main(argv)`` beside a training
running in another thread, each record their own (a process-wide list recorded the last one
entered in every thread). A thread started inside the block does not inherit it (Python's
threads start in an empty context); drac_ssl starts none that records a command."""


@contextlib.contextmanager
def command_given(module: str, argv: Sequence[str] | None) -> Iterator[None]:
    """While the block runs, :func:`command_argv` (and with it :func:`command_line`,
    ``environment.json``, ``invocations.jsonl``, the resume and next-step commands built from
    them) is ``PYTHON -m MODULE *argv``: the command that does what a command's ``main(argv)``
    called from Python does (``drac_ssl.train.main(["-c", "retinamnist", ...])``), not the
    caller's own ``sys.argv`` (a script ``ft.py``, Jupyter's ``ipykernel_launcher``), which
    would rerun the caller. ``argv`` None (the command's own process, ``sys.argv[1:]``):
    nothing changes. Seen only in the thread (the context) that entered the block; on exit
    the command that thread saw before is back, whatever other threads entered or left."""
    if argv is None:
        yield
        return
    token = _COMMAND_GIVEN.set(("-m", module, *(str(word) for word in argv)))
    try:
        yield
    finally:
        _COMMAND_GIVEN.reset(token)


def command_argv_given() -> bool:
    """Whether this runs inside :func:`command_given` with an ``argv``: a command's
    ``main(argv)`` called from Python (a notebook, a script), not the command's own process."""
    return _COMMAND_GIVEN.get() is not None


def command_argv() -> list[str]:
    """The command as the user typed it, word by word: ``[PYTHON, "-m", "pkg.mod", *args]``
    for module runs. ``PYTHON`` is the interpreter that runs it (:func:`interpreter_word`:
    ``.venv/bin/python``, as the README's commands; a bare ``python`` was recorded, which
    without an active venv is another interpreter or none, and the run's resume command is
    built from this). Inside :func:`command_given` (a command's ``main(argv)`` called from
    Python): ``[PYTHON, "-m", MODULE, *argv]``, the command that does the same. A console
    script (``drac-ssl-train``): ``[SCRIPT, *args]``, the script as
    :func:`drac_ssl.starting.console_script_word` names it, without the interpreter its
    first line names (``/venv/bin/python3.11 /venv/bin/drac-ssl-train ...`` was recorded)."""
    given = _COMMAND_GIVEN.get()
    if given is not None:
        return [interpreter_word(), *given]
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        return [interpreter_word(), "-m", spec.name, *sys.argv[1:]]
    script = console_script_word(sys.argv[0]) if sys.argv else None
    if script is not None:
        return [script, *sys.argv[1:]]
    return [interpreter_word(), *sys.argv]


def command_line(names_only: bool = False, parser: argparse.ArgumentParser | None = None) -> str:
    """The command as the user typed it (:func:`command_argv`), each word quoted for the shell
    where it needs it (:func:`drac_ssl.config.shell_word`: ``'data.root=/data/DRAC 2022'``), so
    that it can be run again as written. ``names_only``: each path in it reduced to its last
    component (:func:`name_only_words` with the command's ``parser``: ``--images
    /srv/patients/jane-doe/photos`` -> ``--images photos``), for a record that travels with
    graded files (the export's provenance sidecar), whose folders above can name a patient or a
    user."""
    from drac_ssl.config import shell_word

    words = command_argv()
    return " ".join(shell_word(word) for word in (name_only_words(words, parser) if names_only else words))


PATH_METAVARS = frozenset({"DIR", "CSV", "FILE", "RUN", "FILE|NAME"})
"""The metavars of the commands' options whose value is a path (``--images DIR``, ``--out
CSV``, ``--manifest RUN``, ``-c FILE|NAME``): :func:`name_only_words` reduces their values."""


def last_component(path: object) -> str:
    """The last component of a path (``/srv/hospital/photos/`` -> ``photos``; ``C:\\data\\photos``
    -> ``photos``; a word without a separator unchanged), ``""`` for None or ``""``: how a
    record shown beyond this machine names a folder or file (the model card's training data,
    a bundle's run folder, the export's provenance command), since the folders above can name
    a user, a share or a patient. The one spelling of it (its alias :func:`drac_ssl.grading.bundle.data_folder_name`,
    :func:`drac_ssl.grading.bundle.run_provenance`, :func:`name_only_words`)."""
    text = str(path or "").rstrip("/\\")
    return text.replace("\\", "/").rsplit("/", 1)[-1]


def name_only_words(words: Sequence[str], parser: argparse.ArgumentParser | None = None) -> list[str]:
    """``words`` of a command line with only its paths reduced to their last component
    (:func:`last_component`): a positional word (the run or bundle folder, the interpreter),
    the value of an option of ``parser`` whose metavar names a path (:data:`PATH_METAVARS`:
    ``--out /a/b.csv`` and ``--out=/a/b.csv`` -> ``b.csv``) and of a path setting
    (``data.root=/data/x`` -> ``data.root=x``; :func:`drac_ssl.run_state.relative_path_settings`
    and ``run.out_dir``; a list's each item). Every other value is kept as typed: an
    option's (``--variant``, ``--image-column``) and a setting's
    (``data.grades=[No DR, Mild/Moderate, PDR]`` was cut to ``Moderate, PDR]``); without
    ``parser`` every option's value is kept."""
    from drac_ssl.run_state import relative_path_settings

    path_options: set[str] = set()
    value_options: set[str] = set()
    for action in (parser._actions if parser is not None else ()):
        if action.option_strings and action.nargs != 0:
            (path_options if action.metavar in PATH_METAVARS else value_options).update(action.option_strings)
    path_settings = {*relative_path_settings(), "run.out_dir"}

    def reduced(value: str) -> str:
        if value.startswith("[") and value.endswith("]"):  # a list setting: data.unlabelled=[a, b]
            return "[" + ", ".join(last_component(v.strip()) for v in value[1:-1].split(",")) + "]"
        return last_component(value) or value

    out: list[str] = []
    option = ""  # the option word whose value comes next
    for word in words:
        if option:
            out.append(reduced(word) if option in path_options else word)
            option = ""
            continue
        head, eq, value = word.partition("=")
        if word.startswith("-"):
            if eq:
                out.append(head + eq + reduced(value) if head in path_options else word)
            else:
                out.append(word)
                option = word if word in path_options or word in value_options else ""
        elif eq and not any(sep in head for sep in "/\\"):  # a setting
            out.append(head + eq + reduced(value) if head in path_settings else word)
        else:
            out.append(reduced(word))
    return out


FIGURE_LIBRARIES = ("torch", "torchvision", "numpy", "opencv-python-headless", "opencv-python",
                    "opencv-contrib-python-headless", "opencv-contrib-python", "albumentations",
                    "albucore", "monai", "scikit-learn", "scipy", "pillow")
"""The installed distributions whose *build*, not only their version, can change a run's
figures: image decoding and resizing (OpenCV, Pillow), augmentation (albumentations, albucore,
MONAI), float kernels (torch, torchvision, NumPy, SciPy, scikit-learn). Found the hard way: the
same ``opencv-python-headless==5.0.0.93`` from its manylinux2014 wheel instead of its
manylinux_2_28 one resized the cache differently and moved the default job's out-of-fold
figures (a hand comparison of two clones' runs, not a bench result: ``scripts/setup.sh``). Those not installed are left out; more than one
OpenCV distribution can be installed at once (they then shadow each other), so all four names
are looked up."""


def library_builds() -> dict[str, str]:
    """What build of each of :data:`FIGURE_LIBRARIES` this process runs, in words that tell two
    builds of one version apart: ``{"opencv-python-headless": "5.0.0.93, wheel
    cp37-abi3-manylinux_2_28_x86_64, files 001991771eb1"}``.

    The wheel tag(s) come from the distribution's ``WHEEL`` metadata (``not from a wheel`` for
    a conda or source install, which has none); ``files`` is the first 12 hex digits of the
    SHA-256 of its ``RECORD`` lines (path and hash of every installed file) without the
    ``.dist-info`` files, compiled ``.pyc`` and the scripts outside site-packages (which say
    which installer ran and where the environment lives, not what the library computes), so
    the same wheel installed by pip and by uv, or into two folders, gives the same words;
    ``no file list`` without a ``RECORD``. Stored as ``builds`` in ``environment.json``, every
    ``invocations.jsonl`` line and bench results (:func:`environment_info`). Computed once per
    process (about 0.1 s: torch lists 12,000 files): the modules a process imported do not
    change when a package is reinstalled under it."""
    return dict(_library_builds())


@functools.cache
def _library_builds() -> dict[str, str]:
    """:func:`library_builds`, computed once per process."""
    builds: dict[str, str] = {}
    for name in FIGURE_LIBRARIES:
        try:
            builds[name] = build_words(importlib.metadata.distribution(name))
        except importlib.metadata.PackageNotFoundError:
            continue
    return builds


def build_words(dist: importlib.metadata.Distribution) -> str:
    """One installed distribution's build in words (:func:`library_builds`): ``VERSION, wheel
    TAGS, files DIGEST``."""
    wheel = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    words = [str(dist.version), f"wheel {'.'.join(tags)}" if tags else "not from a wheel"]
    record = dist.read_text("RECORD")
    if record is None:
        words.append("no file list")
    else:
        paths = ((line.rsplit(",", 2)[0], line) for line in record.splitlines() if line)
        files = sorted(line for path, line in paths
                       if not path.startswith("..") and ".dist-info/" not in path and not path.endswith(".pyc"))
        words.append("files " + hashlib.sha256("\n".join(files).encode()).hexdigest()[:12])
    return ", ".join(words)


def build_changes(made: Any, now: dict[str, str]) -> dict[str, dict[str, str | None]]:
    """The libraries whose build differs between ``made`` (an ``environment.json``'s
    ``builds``: {name: words}, as :func:`library_builds` gives them) and ``now``:
    ``{name: {"made": words or None, "now": words or None}}`` (None: not installed then, or
    not now). ``made`` not a dict (a run folder from before builds were recorded, or a torn
    file) is no change: {}."""
    if not isinstance(made, dict):
        return {}
    return {name: {"made": made.get(name), "now": now.get(name)}
            for name in sorted(set(made) | set(now)) if made.get(name) != now.get(name)}


def build_change_words(changes: dict[str, dict[str, str | None]]) -> str:
    """``opencv-python-headless 5.0.0.93, wheel A, files X -> 5.0.0.93, wheel B, files Y``, one
    such piece per library of :func:`build_changes`, joined by ``; ``."""
    return "; ".join(f"{name} {c['made'] or 'not installed'} -> {c['now'] or 'not installed'}"
                     for name, c in changes.items())


def _cpu_capability() -> str | None:
    """``torch.backends.cpu.get_cpu_capability()`` (``"AVX2"``, ``"AVX512"``, ``"DEFAULT"``),
    None where this torch cannot say."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return None


def environment_info() -> dict[str, Any]:
    """What ran this: device, versions, date. Stored in run folders and bench results."""
    import cv2
    import torchvision

    sklearn = import_keeping_random("sklearn")
    info: dict[str, Any] = {
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "scikit_learn": sklearn.__version__,
        "builds": library_builds(),  # the same versions from other wheels can give other figures
        "cpu": cpu_model(),
        # the instruction set torch's CPU kernels use (AVX2, AVX512, ...): the same code and
        # builds gave other RetinaMNIST figures on an AMD EPYC (AVX2) than on an Intel Xeon
        "cpu_capability": _cpu_capability(),
        "cpu_cores": os.cpu_count(),
        "threads": thread_settings(),
        # GPU float rounding: neither is set by the package (docs/design.md), so two CUDA runs,
        # resumed or not, may differ in their last digits; recorded so a reader can see it
        "gpu_determinism": gpu_determinism(),
        **code_origin(),  # git_commit, git_dirty, code_source: git's, or a GPU machine's code stamp
        "command": command_line(),
        "argv": command_argv(),  # the words as typed: the run's resume command (drac_ssl.run_state)
        "cwd": os.getcwd(),  # where relative paths in the command and config.yaml start
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
        info["cuda"] = torch.version.cuda
    else:
        info["gpu"] = None
    info["device"] = info["gpu"] or f"CPU: {info['cpu']} x{info['cpu_cores']}"
    return info




@contextlib.contextmanager
def hold_run(run_dir: str | os.PathLike[str], tool: str = "drac_ssl.train") -> Iterator[list[str]]:
    """Hold the run folder ``run_dir`` (an existing folder) for this process while the block
    runs: an exclusive lock on its :data:`RUN_LOCK` (:func:`drac_ssl.io.try_lock`), so two
    copies of the same command never train into one folder. ``tool``: the command holding it
    (``drac_ssl.train``, ``drac_ssl.umm``, ``drac_ssl.report``, ``drac_ssl.export``), written with this process's
    pid, host and start into the lock file, where a refused command reads who holds the folder.

    Yields warnings (lines to print) on the run's last invocation (``invocations.jsonl``) when
    it has no ``ended`` and may still run, though it does not hold the lock: one of another
    machine (a shared file system: its process cannot be checked from here), or a live process
    of this machine (a drac_ssl from before the lock, or a pid reused since a kill). A record
    of a process that is gone is a killed invocation: nothing is said, and its line is marked
    ``"killed"`` (:func:`mark_killed_invocations`).

    Raises:
        RunBusy (a ValueError): another process holds the lock; the message names it (its
            ``invocations.jsonl`` line: process, host, start) and the fixes.
        OSError: the lock file cannot be opened for writing (a run folder this user cannot
            write: read-only, another user's, an immutable lock file); a command that would
            only read the folder can go on without the lock (``python -m drac_ssl.export``);
            marked as a write (:func:`drac_ssl.io.written_file`).
    """
    from drac_ssl.io import try_lock, unended_invocation, writing

    folder = Path(run_dir)
    with writing(folder / RUN_LOCK):  # opened to be written (drac_ssl.io.written_file)
        fd = os.open(folder / RUN_LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        last = unended_invocation(folder / INVOCATIONS)
        if not _lock_soon(fd, try_lock):
            raise RunBusy(_busy_words(folder, _lock_holder(folder, last), tool))
        _write_holder(fd, tool)
        mark_killed_invocations(folder, tool)
        yield _unlocked_words(last)
    finally:
        os.close(fd)


LOCK_RETRY_S = 0.25
"""Seconds :func:`hold_run` keeps trying a held lock before it refuses the run: a lock held
for a moment is not a run in progress (``drac_ssl.run_state.held_by`` takes it for an instant
to see whether a training holds it; a review saw 3.6 % of lock attempts refused in a tight
race against it, each refusal naming nobody)."""


def _lock_soon(fd: int, try_lock: Any) -> bool:
    """``try_lock(fd)``, tried again every 10 ms for up to :data:`LOCK_RETRY_S`."""
    deadline = time.monotonic() + LOCK_RETRY_S
    while not try_lock(fd):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _write_holder(fd: int, tool: str) -> None:
    """This process as the holder of the locked file ``fd``: one JSON line (``tool``, ``pid``,
    ``host``, ``date_utc``). Best effort: a file system that refuses it costs only the words."""
    line = json.dumps({"tool": tool, "pid": os.getpid(), "host": platform.node(),
                       "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")})
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (line + "\n").encode("utf-8"))


def _busy_words(run_dir: Path, holder: dict[str, Any] | None, tool: str = "drac_ssl.train") -> str:
    """The refusal of :func:`hold_run` (asked for by ``tool``) when another process holds
    ``run_dir``: ``holder`` (:func:`_lock_holder`; None: not known)."""
    if holder is not None:
        pid = holder["pid"]
        who = (f"python -m {holder.get('tool', 'drac_ssl.train')}, process {pid} on "
               f"{holder.get('host', '?')}, running since {holder.get('date_utc', '?')}")
        stop = f"taskkill /PID {pid}" if os.name == "nt" else f"kill {pid}"
    else:
        who = f"another process holds its lock ({RUN_LOCK})"
        stop = "the other python -m drac_ssl.train, .umm, .report or .export"
    if tool == "drac_ssl.report":
        return (f"{run_dir}: this run folder is in use: {who}; the report would read files it is "
                f"writing (a training writes report.md itself when it ends).\n  fix: wait for it "
                f"to finish, then rerun this command, or stop it ({stop})")
    if tool == "drac_ssl.umm":
        return (f"{run_dir}: this run folder is in use: {who}; this UMM would write its umm/ "
                f"folder at the same time.\n  fix: wait for it to finish, or stop it ({stop}), or "
                f"give this UMM run a folder of its own: --run-dir OTHER")
    if tool == "drac_ssl.export":
        return (f"{run_dir}: this run folder is in use: {who}; this export would write its "
                f"bundle and submission while it writes the run's files (or builds the same "
                f"bundle).\n  fix: wait for it to finish, then rerun this command, or stop it "
                f"({stop})")
    if holder is not None and holder.get("tool", "drac_ssl.train") != "drac_ssl.train":
        return (f"{run_dir}: this run folder is in use: {who}.\n  fix: wait for it to finish, "
                f"then rerun this command, or stop it ({stop})")
    return (f"{run_dir}: this run is already running: {who}; a second copy would train the same "
            f"stages into the same files.\n  fix: wait for it to finish (this command then skips "
            f"what it finished), or stop it ({stop}; rerun this command to resume), or start a "
            f"separate run with another run.name=NAME")


def _unlocked_words(last: dict[str, Any] | None) -> list[str]:
    """:func:`hold_run`'s warnings on an unended invocation that does not hold the lock."""
    from drac_ssl.io import running_here

    if last is None or (last["pid"] == os.getpid() and last.get("host") == platform.node()):
        return []  # this process's own (an earlier call of main in it, killed mid-way)
    who = (f"the run's last invocation (python -m drac_ssl.train, process {last['pid']} on "
           f"{last.get('host', '?')}, started {last.get('date_utc', '?')}) has no end in "
           f"invocations.jsonl")
    if last.get("host") != platform.node():
        return [f"{who}: if it still runs on {last.get('host', '?')} (a shared file system; its "
                f"process cannot be checked from here), stop one of the two; if it was killed, "
                f"ignore this"]
    if running_here(last):
        return [f"{who} and that process runs, without holding the run's lock: a drac_ssl from "
                f"before the lock, or a pid taken by another program since a kill; if it is a "
                f"training of this folder, stop one of the two"]
    return []


KILLED = "killed"
"""The ``outcome`` of an invocation that never wrote its end (``kill -9``, the OOM killer, a
crash of the interpreter, a power loss), written by the next command that holds the run folder
once its process is certainly gone (:func:`mark_killed_invocations`)."""


def mark_killed_invocations(run_dir: str | os.PathLike[str], tool: str = "drac_ssl.train") -> list[dict[str, Any]]:
    """Mark the lines of ``run_dir/invocations.jsonl`` (any ``tool``) that have no ``ended``
    although their process is certainly gone: of this machine (their ``host``) and a ``pid``
    no longer alive (:func:`drac_ssl.io.pid_alive`). Each gets ``"ended": {"outcome":
    "killed", "note": "found without an end at <UTC> by python -m TOOL (process N); the
    process was gone"}`` (``tool``: the command that found it, this process); no ``utc`` or ``seconds``, as when it ended is not known. Called by
    :func:`hold_run` once it holds the folder's lock (no command of this package writes the
    file meanwhile). Left as they are: another machine's lines (its process cannot be checked
    from here), a live pid's (a drac_ssl from before the lock, or a pid reused since: its
    warnings say so), this process's own, lines without a pid or host (older runs) and damaged
    ones. Returns the records marked (as they were read). Best effort: a file that cannot be
    read or written is left as it is."""
    from drac_ssl.io import pid_alive

    path = Path(run_dir) / INVOCATIONS
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError):
        return []
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    marked: list[dict[str, Any]] = []
    for at, raw in enumerate(lines):
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(record, dict) or "ended" in record:
            continue
        pid = record.get("pid")
        if (not isinstance(pid, int) or isinstance(pid, bool) or record.get("host") != platform.node()
                or pid == os.getpid() or pid_alive(pid)):
            continue
        note = (f"found without an end at {now} by python -m {tool} (process {os.getpid()}); "
                f"the process was gone")
        lines[at] = json.dumps({**record, "ended": {"outcome": KILLED, "note": note}}, default=str)
        marked.append(record)
    if marked:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            return []
    return marked


def record_start(run_dir: str | os.PathLike[str], tool: str, env: dict[str, Any] | None = None) -> str:
    """Add this invocation's line to ``run_dir/invocations.jsonl`` (one line per command that
    ran on the run folder: ``drac_ssl.train``, resumes included, ``drac_ssl.report``, which
    rewrites report.md, and ``drac_ssl.export`` when it writes into the folder): ``env`` (:func:`environment_info`; computed when None), ``tool``, and
    the ``pid`` and ``host`` (another command can tell a run still going from one killed:
    compare). Returns the line as written, for :func:`record_end`.

    Raises:
        OSError: the file cannot be opened or the line written (a read-only folder, a full
            disk), naming the file and marked as a write (:func:`drac_ssl.io.written_file`).
    """
    from drac_ssl.io import writing

    line = json.dumps({**(env if env is not None else environment_info()), "tool": tool,
                       "pid": os.getpid(), "host": platform.node()}, default=str)
    path = Path(run_dir) / INVOCATIONS
    with writing(path), open(path, "a", encoding="utf-8") as fh:  # a full disk's error names the file
        fh.write(line + "\n")
    return line


#: ``python -m drac_ssl.export --skip-unreadable`` skipped some files: the CSV was written without them
#: (the code of an incomplete submission, as ``--check`` gives it to a DRAC-scale file lacking rows)
EXIT_SKIPPED = INCOMPLETE_SUBMISSION
#: ``python -m drac_ssl.export RUN --images DIR`` wrote every image, but some image is not
#: reliably gradable (unlike the training images, a grey picture for a colour model ...: the
#: ``<stem>_notes.csv`` beside the CSV says which and why); :data:`EXIT_SKIPPED` goes first
EXIT_FLAGGED = 4
#: ``python -m drac_ssl.export RUN --images DIR`` found nothing to grade: DIR holds no image
#: (empty, or only text or office files holding no image, sub-folders empty at any depth, hidden
#: files; a DICOM file or a sub-folder holding any file is 2, a wrong --images); nothing written. A
#: normal night of a nightly batch, told apart from a wrong command (2) and a written CSV
EXIT_NO_IMAGES = 5
#: exit codes of a command that did its job: 0, :data:`EXIT_SKIPPED`, :data:`EXIT_FLAGGED` and
#: :data:`EXIT_NO_IMAGES`; 1 (a submission failing its check) and 2 (bad input, a busy run
#: folder) are failures
FINISHED_EXIT_CODES = (0, EXIT_SKIPPED, EXIT_FLAGGED, EXIT_NO_IMAGES)


def record_end(run_dir: str | os.PathLike[str], invocation: str, t0: float,
               exc: BaseException | None = None, exit_code: int | None = None,
               note: str | None = None) -> None:
    """Add how this invocation ended to its line of ``invocations.jsonl`` (``invocation``, as
    written when it started): ``"ended": {"outcome": "finished" | "interrupted" | "failed",
    "utc", "seconds"}``, for a Ctrl-C in a stage ``"stage"`` and, where the stage says,
    ``"saved"`` (:class:`drac_ssl.runtime.StageInterrupted`), and for a failure raised
    (``exc``) ``"error"`` (the exception's type and first line). ``exit_code``: the exit code
    a command returned (not raised), written as ``"exit_code"``; the outcome is "finished"
    for one of :data:`FINISHED_EXIT_CODES`, else "failed" (no ``"error"``: nothing was
    raised); given with ``exc`` (a training's, :func:`drac_ssl.train._exit_code_of`), the code
    the command returns for it, written as well, the outcome still ``exc``'s. ``note``: words on it, written as ``"note"`` (``incomplete submission: 2 file(s)
    skipped``).
    The file keeps one line per invocation (rewritten atomically); a line without ``ended``
    is an invocation still running or killed (the outcome ``"killed"``, with a ``"note"`` and
    no time, is written by the next command that holds the folder once the process is
    certainly gone: :func:`mark_killed_invocations`). Nothing is done when the line is gone, and a
    file that cannot be written is left as it is (the run's own outcome matters more)."""
    path = Path(run_dir) / INVOCATIONS
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    at = _invocation_at(lines, invocation)
    if at is None:
        return
    outcome = ("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed" if exc is not None
               else "finished" if exit_code is None or exit_code in FINISHED_EXIT_CODES else "failed")
    ended: dict[str, Any] = {"outcome": outcome,
                             "utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                             "seconds": round(time.perf_counter() - t0, 2)}
    if exit_code is not None:
        ended["exit_code"] = int(exit_code)
    if note:
        ended["note"] = note
    if isinstance(exc, StageInterrupted) and exc.stage:
        ended["stage"] = exc.stage
        if exc.saved:
            ended["saved"] = exc.saved
    if outcome == "failed" and exc is not None:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        ended["error"] = f"{type(exc).__name__}: {first}"[:500] if first else type(exc).__name__
    lines[at] = json.dumps({**json.loads(lines[at]), "ended": ended}, default=str)
    _rewrite_lines(path, lines)


def _invocation_at(lines: Sequence[str], invocation: str) -> int | None:
    """The index of ``invocation``'s line (as :func:`record_start` wrote it) in
    ``invocations.jsonl``'s ``lines``: the last line equal to it or, once
    :func:`add_to_invocation` added to it, the last unended line holding all its fields; None
    when it is gone."""
    if invocation in lines:
        return len(lines) - 1 - lines[::-1].index(invocation)
    start = json.loads(invocation)
    found = _unended_line_at(lines, lambda line: all(line.get(k) == v for k, v in start.items()))
    return None if found is None else found[0]


def _unended_line_at(lines: Sequence[str], match: Callable[[dict[str, Any]], bool]) -> tuple[int, dict[str, Any]] | None:
    """The last of ``invocations.jsonl``'s ``lines`` that is a JSON object without ``ended``
    for which ``match`` is true, as its index and the object; None when there is none (lines
    that are no JSON are passed over)."""
    for at in range(len(lines) - 1, -1, -1):
        try:
            line = json.loads(lines[at])
        except ValueError:
            continue
        if isinstance(line, dict) and "ended" not in line and match(line):
            return at, line
    return None


def _rewrite_lines(path: Path, lines: Sequence[str]) -> None:
    """``path`` rewritten atomically with ``lines``; left as it is when it cannot be written."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def add_to_invocation(run_dir: str | os.PathLike[str], fields: dict[str, Any]) -> None:
    """Add ``fields`` to this process's running invocation's line of ``invocations.jsonl`` (the
    last line of this ``pid`` and host without ``ended``): what the command found once it ran,
    e.g. a warning said on the console only (``{"data_against_config_run": "the data are not
    ..."}``); :func:`record_end` finds the line still. Nothing is done when there is no such
    line, and a file that cannot be written is left as it is."""
    path = Path(run_dir) / INVOCATIONS
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    found = _unended_line_at(lines, lambda line: line.get("pid") == os.getpid() and line.get("host") == platform.node())
    if found is not None:
        at, line = found
        lines[at] = json.dumps({**line, **fields}, default=str)
        _rewrite_lines(path, lines)


def new_run_pairs(run_dir: Path) -> list[tuple[str, str]]:
    """``[("run.name", "NAME-2"), ("run.reuse", "RUN")]``: the settings that start a new run
    folder beside ``run_dir`` taking its finished stages, as every message that offers one
    (a changed setting that this run folder refuses, a stage stopped by a non-finite value, a
    finished stage whose output is gone) words them through :func:`command_changes`."""
    return [("run.name", f"{run_dir.name}-2"), ("run.reuse", str(run_dir))]


_TYPED: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("typed_settings", default=None)


@contextlib.contextmanager
def typed_settings(typed: dict[str, str]) -> Iterator[None]:
    """While the block runs, ``typed`` (``{"run.name": "run.name=rm-tiny"}``: each setting
    typed on this command line, with the ``key=value`` word as typed) is what
    :func:`command_changes` reads when its caller, a stage that knows only its settings and
    run folder, passes none. ``python -m drac_ssl.train`` sets it around its pipeline
    (:func:`drac_ssl.train.run_pipeline`); outside such a block nothing counts as typed."""
    token = _TYPED.set(dict(typed))
    try:
        yield
    finally:
        _TYPED.reset(token)


def command_changes(settings: Sequence[tuple[str, str]], typed: dict[str, str] | None = None,
                    also: str = "") -> str:
    """How to change this command line to set ``settings`` (``(key, value)`` pairs, e.g.
    :func:`new_run_pairs` and a lower ``pretrain.lr``), the one wording of every fix that
    starts a new run folder (a changed setting refused, a stage stopped by a non-finite value,
    an edited config.yaml): ``add key=value ... to your command``, and for a key typed on it
    ``replace key=old with key=value``: adding it again would give it twice (a trial's
    ``run.name=rm-tiny ... run.name=rm-tiny-2`` got the preflight's warning for that); a key
    typed with the value it needs stays as it is, unsaid.

    Args:
        settings: the ``(key, value)`` pairs, in the order they are said.
        typed: each setting typed on the command line -> its ``key=value`` word as typed;
            None: those of the enclosing :func:`typed_settings` block (none outside one).
        also: what else to add, said after the settings (``"the changed setting"``).

    Returns:
        ``"add run.name=x-2 run.reuse=runs/x to your command"``, or, with ``run.name`` typed,
        ``"replace run.name=x with run.name=x-2 and add run.reuse=runs/x in your command"``;
        a word with a space or a character special to a POSIX shell is shell-quoted
        (:func:`_shell_word`): ``add run.name='my run-2' run.reuse='/tmp/my run'``.
    """
    typed = (_TYPED.get() or {}) if typed is None else typed
    words = [(key, f"{key}={value}") for key, value in settings]
    replace = [f"replace {_shell_word(typed[key])} with {_shell_word(word)}" for key, word in words
               if typed.get(key) and typed[key] != word]  # typed as it must be: kept as it is
    add = " ".join(_shell_word(word) for key, word in words if not typed.get(key))
    add = f"{add} and {also}" if add and also else add or also
    if not replace:
        return (f"add {add} to your command" if add else
                f"keep {' '.join(_shell_word(w) for _, w in words)} in your command")
    return " and ".join(replace) + (f" and add {add}" if add else "") + " in your command"





def _shell_word(word: str) -> str:
    """The ``key=value`` setting ``word`` as a POSIX shell types it, its value shell-quoted
    where a space or a character special to the shell would split or change it
    (:func:`shlex.quote`: ``run.reuse='/tmp/my run'``, ``run.name='o'"'"'brien-2'``); an empty
    value typed as ``''`` and a placeholder to replace (``<a folder you can write to>``) stay
    as they are."""
    key, sep, value = word.partition("=")
    if not sep or value == "''" or (value.startswith("<") and value.endswith(">")):
        return word
    return f"{key}={shlex.quote(value)}" if value else word


class _Tee:
    """A text stream that writes to ``stream`` and to the console log ``log``, and is
    ``stream`` for everything else (``isatty``, ``fileno``, ``encoding``: tqdm still sees
    the terminal). A write holding a carriage return (a tqdm bar, redrawn in place) goes to
    the stream alone: bars are for a terminal, the log keeps lines; so does the newline
    that ends a bar left standing (tqdm's ``leave=True`` writes it on its own).

    A ``stream`` that can no longer be written (``> /dev/full``: ``OSError`` ENOSPC; a pipe
    whose reader left, ``| head -1``: ``BrokenPipeError``) is written no more: one ``note:``
    line in the log names it (``name``: ``stdout`` or ``stderr``), its descriptor is pointed
    at ``os.devnull`` (:func:`drac_ssl.io.silence_stream`) and the log goes on with every line, so that
    the run carries on instead of dying with a traceback and exit 1 (a pipeline's
    "a bug, don't requeue")."""

    def __init__(self, stream: Any, log: Any, name: str = "stdout") -> None:
        self._stream = stream
        self._log = log
        self._name = name
        self._gone = False  # the stream could not be written: the log alone from here on
        self._bar_standing = False  # the last write drew a bar and left it on the line

    def _stream_failed(self, exc: OSError) -> None:
        self._gone = True
        reason = exc.strerror or type(exc).__name__
        with contextlib.suppress(OSError, ValueError):
            self._log.write(f"\nnote: {self._name} became unwritable ({reason}); nothing more is "
                            "printed there (lines since its last flush may be lost there too), "
                            "this console.log keeps every line\n")
        from drac_ssl.io import silence_stream

        silence_stream(self._stream)

    def _check_failed(self) -> None:
        """A stream that silenced itself (:func:`drac_ssl.io.stdout_survives`): noted once."""
        failed = getattr(self._stream, "failed", None)
        if not self._gone and isinstance(failed, OSError):
            self._stream_failed(failed)

    def write(self, text: str) -> int:
        n = len(text)
        if not self._gone:
            try:
                n = self._stream.write(text)
            except OSError as exc:  # BrokenPipeError included
                self._stream_failed(exc)
            self._check_failed()
        bar_end = self._bar_standing and text == "\n"  # a cleared bar (leave=False) ends in "\r"
        self._bar_standing = "\r" in text and not text.endswith("\r")
        if "\r" not in text and not bar_end:
            try:
                self._log.write(text)
            except (OSError, ValueError):  # a full disk or a closed log: the console goes on
                pass
        return n

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except OSError as exc:
                self._stream_failed(exc)
            self._check_failed()
        with contextlib.suppress(OSError, ValueError):
            self._log.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _ending_words(exc: BaseException, label: str = "") -> str:
    """How an exception that ends a :func:`console_log` block is written into the log: a
    Ctrl-C or SIGTERM as the command prints it (``label`` and :func:`interrupted_words`)."""
    if isinstance(exc, KeyboardInterrupt):
        return f"{label} {interrupted_words(exc)}\n" if label else f"{interrupted_words(exc)}\n"
    if isinstance(exc, (ValueError, FileNotFoundError, NonFiniteError)):
        return f"error: {exc}\n"
    return "".join(traceback.format_exception(exc))


@contextlib.contextmanager
def console_log(path: str | os.PathLike[str], header: str,
                said: Sequence[str] = (), label: str = "") -> Iterator[None]:
    """Within the block, what this process prints (``sys.stdout`` and ``sys.stderr``) also goes
    to ``path`` (appended, after a ``header`` line such as ``==== <UTC> <command> (pid N)
    ====``): the run folder's ``console.log``, which keeps the warnings and selection lines
    a terminal loses. ``said``: lines the command printed before it knew the run folder (the
    CPU threads line; :func:`drac_ssl.starting.said_at_start`'s go first), written after the header as they were printed, not printed again. tqdm bars (carriage returns) stay on the terminal. Output written to
    the file descriptors directly (a subprocess, a C library) is not in it. The streams are
    put back as they were when the block ends (a test's capture stays intact). A stream that
    is None (a closed file descriptor) stays None: ``print`` then writes nothing, as before.
    An exception that ends the block is written to the log before it goes on (the caller's
    closing words reach the terminal after the block): a user error (``ValueError``,
    ``FileNotFoundError``, a diverged training's :class:`NonFiniteError`: ``error: ...``), a
    Ctrl-C or SIGTERM in the words the command prints for it (``label``, e.g. ``[train]``,
    then :func:`interrupted_words`: ``[train] interrupted in pretrain (epoch 1 of 3 saved);
    rerun ...``) or, for anything else, its traceback.

    Raises:
        OSError: the log cannot be opened or its header written (a read-only folder, a full
            disk), naming the log (``filename``) and marked as a write
            (:func:`drac_ssl.io.written_file`); a line it cannot take later (the disk filled
            during the run) is left out of it while the console goes on, as is what a full
            disk keeps out of it when it is closed.
    """
    from drac_ssl.io import writing
    from drac_ssl.starting import console_log_descriptor, said_at_start

    said = [*said_at_start(), *said]  # the SIGINT-ignored note, printed before the run folder was known
    with writing(path):  # an error here is the log's, not a read's (drac_ssl.io.written_file)
        try:  # read too: a second Ctrl-C's line is put on a line of its own (starting._on_its_own_line)
            log = open(path, "a+", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed below
        except PermissionError:  # a log it may write but not read: that line after a newline
            log = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed below
    try:
        with writing(path):  # a full disk: the error names the log, as an open's does
            log.write(f"{header}\n")
            log.writelines(f"{line}\n" for line in said)
        before = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = (None if s is None else _Tee(s, log, name)
                                   for s, name in zip(before, ("stdout", "stderr"), strict=True))
        try:
            with console_log_descriptor(log.fileno()):  # a second Ctrl-C's line, written by its handler
                yield
        except BaseException as exc:
            with contextlib.suppress(OSError, ValueError):
                log.write(_ending_words(exc, label))
            raise
        finally:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError, ValueError):
                        stream.flush()
            sys.stdout, sys.stderr = before
    finally:
        with contextlib.suppress(OSError):  # what a full disk kept out of it is lost, as in _Tee
            log.close()
