"""The training engine: the epoch loop shared by the stages that train (VICReg, UMM).

A stage describes one epoch's work as a :class:`TrainingTask` (its batches, its step, the
values its step logs and how to save and restore its model and optimisers) and hands it to
an :class:`Engine`, which does everything else the same way for every stage:

* seeding (``seed_everything(run.seed)`` when the engine is made, where the stage used to);
* resume: :meth:`Engine.resume` reads ``checkpoints/last.pt`` (``weights_only=True``),
  restores the task's state, the RNG states, the history and the early-stopping state;
  each epoch's data order and augmentation draws are pure functions of (seed, epoch, rank)
  and the learning rate a pure function of the step, so a resumed run replays exactly what
  an uninterrupted one does;
* a full checkpoint written atomically (``last.pt``), then its record ``last.json`` (what it
  holds, read without torch: :func:`drac_ssl.run_state.checkpoint_saved`), and the weights of
  the best epoch (``best.pt``) every ``checkpoint_every`` epochs (default 1: after every epoch), after the
  last epoch and on an early stop; in between, the best epoch's weights are kept as a copy
  on the device until the next write, and a resumed run restarts from the last epoch
  written (exactly, as above);
* before the first epoch it trains, the free space of the checkpoint folder's disk against
  what the checkpoints take (:meth:`Engine.check_room`: a warning only, never a refusal), and
  at a resume a ``last.pt`` altered since its record refused
  (:func:`drac_ssl.run_state.altered_checkpoint`);
* a Ctrl-C in an epoch's monitors (:meth:`TrainingTask.epoch_monitors`, run after its
  steps) keeps the trained epoch when it is due a checkpoint: ``last.pt`` is written with its
  row under ``monitors_pending``, and the resumed run measures the monitors first and goes
  on exactly as an uninterrupted one (not for a task with a guard);
* early stopping on one named metric of the epoch row (:class:`Monitor`); a patience that
  runs out on the last epoch cuts nothing, and ``stopped`` says ``completed all epochs: ...``
  (:attr:`Monitor.completed_reason`) rather than ``early stopping: ...``;
* history: ``metrics.csv`` / ``metrics.jsonl`` rewritten after every epoch (whatever
  ``checkpoint_every``), optional TensorBoard scalars (``run.tensorboard``,
  :mod:`drac_ssl.tensorboard_log`);
* a progress bar per epoch (tqdm, main process only) and one printed line per epoch; when
  stdout is not a terminal (a log file: the bar is off when stderr is not one either), one
  plain line at most every :data:`drac_ssl.console.PROGRESS_EVERY_S` seconds (a minute) within
  an epoch (step, pairs/s, seconds so far), so a CPU epoch of many minutes does not leave the
  log silent (:class:`drac_ssl.console.ProgressLines`, the ingest's and the export's rule too);
* the logged values are summed on the device and read back to the host once per epoch
  (``.tolist()``); the only other read inside an epoch is the optional mid-epoch
  non-finite check (``non_finite_check_every`` steps; 0 = none);
* a non-finite stop: a watched value that becomes NaN/inf ends the run with the task's
  diagnostic (:meth:`TrainingTask.non_finite`: the stages raise a
  :class:`~drac_ssl.runtime.NonFiniteError`, which the commands print as an ``error:`` line;
  another exception is printed here first); the last checkpoint written is kept;
* a guard stop (:meth:`TrainingTask.guard`): a task may refuse an epoch's result (UMM: the
  SSL loss rose too far). The run ends with the guard's reason as ``stopped``, the epoch's
  row stays in the history, and the task is **rolled back** to the last epoch that passed
  (or the state it started from; the engine keeps a device copy of that state for a task
  with a guard), which ``last.pt`` then holds whatever ``checkpoint_every``.

Under ``torchrun`` every process runs the engine; only the main process (``is_main``)
writes files and prints. With ``distributed=True`` the epoch sums are added over the
processes before anything is decided (each process sees only its share of the batch, and the
VICReg invariance term is local): every process logs the same means and stops at the same
epoch. The engine never wraps the model: DDP stays the stage's business
(:mod:`drac_ssl.distributed`).

Checkpoint layout (``last.pt``): the task's :meth:`TrainingTask.state_dict` (e.g. ``model``,
``optimizer``), ``epoch``, ``step``, ``rng``, ``history``, the monitor's best value under
its own key (``best_loss``; UMM's ``best_probe_rate_reduction``, or ``best_rate_reduction``
without pretraining's probe), ``best_epoch``, ``bad_epochs``, ``stopped`` and ``config``: the
keys the stages wrote before the engine existed, so older run folders resume (a UMM
checkpoint from before its probe columns that early-stops on them is refused, with a fix:
:mod:`drac_ssl.umm.stage`). ``docs/design.md`` says why this is our own code and not a library's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from drac_ssl.checkpoint import (
    CheckpointReadError,
    CheckpointRoom,
    checkpoint_room,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from drac_ssl.console import ProgressLines, progress_bar
from drac_ssl.distributed import all_reduce_mean, sums_over_processes
from drac_ssl.io import atomic_write_text, bytes_words, read_json_dict
from drac_ssl.run_state import (
    CHECKPOINT_RECORD,
    altered_checkpoint,
    torn_checkpoint_fix,
    write_checkpoint_record,
)
from drac_ssl.runtime import (
    NonFiniteError,
    StageInterrupted,
    saved_words,
    seed_everything,
)
from drac_ssl.starting import interrupts_deferred  # Ctrl-C held back: a checkpoint and its line
from drac_ssl.tensorboard_log import write_tensorboard

__all__ = ["Engine", "EngineResult", "Monitor", "TrainingTask", "task_room", "write_history"]

NON_FINITE_CHECK_EVERY = 50
"""Default steps between two mid-epoch checks of the first watched value (one device sync
each); ``Engine(non_finite_check_every=0)`` checks only at the epoch's end."""


def checkpoint_kept_words(last: Path) -> str:
    """What a stage stopped by a non-finite value leaves to resume from, in one sentence:
    ``The last good checkpoint LAST is kept.`` when ``last`` exists, else that none was written
    yet (it stopped before the first checkpoint: a rerun starts the stage afresh)."""
    if Path(last).is_file():
        return f"The last good checkpoint {last} is kept."
    return (f"No checkpoint was written yet ({last} does not exist): a rerun starts the stage "
            f"afresh.")


@dataclass
class Monitor:
    """Early stopping on one named metric.

    An epoch improves when ``value < best - min_delta`` (``mode="min"``) or
    ``value > best + min_delta`` (``mode="max"``); the first epoch always improves. After
    ``patience`` epochs in a row without improvement :attr:`should_stop` is true
    (``patience=0``: never). ``state_key`` names the best value in checkpoints.
    """

    key: str
    mode: str = "min"
    min_delta: float = 0.0
    patience: int = 0
    state_key: str = "best"
    stop_message: str = "early stopping: no improvement of {key} for {patience} epochs"
    best: float = field(init=False)
    best_epoch: int = field(init=False, default=-1)
    bad_epochs: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"Monitor mode must be 'min' or 'max', got {self.mode!r}")
        self.best = math.inf if self.mode == "min" else -math.inf

    def update(self, value: float, epoch: int) -> bool:
        """Record one epoch's value; True when it is the new best."""
        if self.mode == "min":
            improved = value < self.best - self.min_delta
        else:
            improved = value > self.best + self.min_delta
        if improved:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return bool(self.patience) and self.bad_epochs >= self.patience

    @property
    def reason(self) -> str:
        """Why a run stopped early: :attr:`stop_message` filled in."""
        return self.stop_message.format(key=self.key, patience=self.patience)

    @property
    def completed_reason(self) -> str:
        """Why a run whose patience ran out on its last scheduled epoch ended: it ran every
        epoch, so not ``early stopping``: ``completed all epochs: no improvement of loss for
        5 epochs``, the :attr:`reason` with that lead instead of ``early stopping:``."""
        detail = self.reason.removeprefix("early stopping: ")
        return f"completed all epochs: {detail}"

    def state_dict(self) -> dict[str, Any]:
        return {self.state_key: self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state[self.state_key]
        self.best_epoch, self.bad_epochs = state["best_epoch"], state["bad_epochs"]


class TrainingTask:
    """What a stage supplies to the :class:`Engine`: its step and its metrics.

    Subclasses set :attr:`keys` (the values :meth:`step` logs, averaged over the epoch, in
    the order of the history columns), :attr:`watched` (those whose non-finite mean stops
    the run; the first is also checked mid-epoch when the engine's
    ``non_finite_check_every`` is set), :attr:`steps_per_epoch` and
    :attr:`pairs_per_step`, and implement the methods below.
    """

    keys: Sequence[str] = ()
    watched: Sequence[str] = ()
    steps_per_epoch: int = 0
    pairs_per_step: int = 0

    def batches(self, epoch: int) -> Iterator[Any]:
        """The batches of ``epoch`` (a pure function of the seed and the epoch)."""
        raise NotImplementedError

    def step(self, batch: Any, step: int) -> dict[str, torch.Tensor]:
        """One optimisation step on ``batch`` (global step ``step``); returns 0-dim tensors
        for every key of :attr:`keys`."""
        raise NotImplementedError

    def begin_epoch(self, epoch: int) -> None:
        """Called before the first step of an epoch (train/eval modes)."""

    def epoch_fields(self, epoch: int) -> dict[str, Any]:
        """Row fields written right after ``epoch`` and ``step`` (e.g. the last learning rate)."""
        return {}

    def epoch_monitors(self, epoch: int, row: dict[str, Any]) -> dict[str, Any]:
        """Row fields measured after the epoch's steps (e.g. a k-NN accuracy); main process."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """What ``last.pt`` holds besides the engine's own keys (model, optimisers, ...)."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` from a checkpoint."""
        raise NotImplementedError

    def best_state(self) -> dict[str, Any] | None:
        """What ``best.pt`` holds for an improving epoch (``model`` weights); None: no best.pt.

        With ``checkpoint_every > 1`` the engine clones the tensors it returns (on their
        device) until the next checkpoint write."""
        return None

    def extra_checkpoints(self) -> dict[str, dict[str, Any]]:
        """The task's own checkpoint files in the checkpoint folder besides ``last.pt`` and
        ``best.pt`` (name -> a state of the size it writes: pretraining's ``monitor_peak.pt``),
        for the free-space estimate (:func:`drac_ssl.checkpoint.checkpoint_room`); {}: none."""
        return {}

    def check_resume(self, state: dict[str, Any]) -> None:
        """Refuse a checkpoint made with other settings (raise with the fix)."""

    def guard(self, epoch: int, row: dict[str, Any]) -> str | None:
        """After an epoch: a reason to stop and roll back to the last epoch that passed, or None.

        Called with the epoch's finished row (means, monitors) on every process. A task that
        overrides this makes the engine keep a device copy of its state after every epoch
        that passed (and of its starting state)."""
        return None

    def non_finite(self, epoch: int, means: dict[str, float], bad: list[str], last: Path) -> Exception:
        """The exception (with its diagnostic and fix) for a non-finite watched value: a
        stage's is a :class:`~drac_ssl.runtime.NonFiniteError` (its command prints it); the
        engine prints any other before raising it."""
        return RuntimeError(f"epoch {epoch + 1}: non-finite {', '.join(bad)}. {checkpoint_kept_words(last)}")

    def describe(self, row: dict[str, Any]) -> str:
        """The line printed after an epoch."""
        return ", ".join(f"{k} {row[k]}" for k in self.keys)

    def close(self) -> None:
        """Release data workers (called when the engine stops, for any reason)."""


@dataclass
class EngineResult:
    history: list[dict[str, Any]]
    best_epoch: int
    stopped: str


def task_room(ckpt_dir: Path, task: TrainingTask) -> CheckpointRoom:
    """What ``task``'s checkpoints need in ``ckpt_dir`` (:func:`drac_ssl.checkpoint.checkpoint_room`
    of its state, its ``best.pt`` and its :meth:`~TrainingTask.extra_checkpoints`): the figure of
    the warning before training and of a full disk's error, whichever file it hits."""
    return checkpoint_room(ckpt_dir, task.state_dict(), task.best_state(), task.extra_checkpoints())


def _row_value(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


def _device_copy(state: Any) -> Any:
    """``state`` with every tensor cloned where it lies (nested dicts, lists and tuples)."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {k: _device_copy(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_device_copy(v) for v in state)
    return state


def write_history(out_dir: Path, history: list[dict[str, Any]]) -> None:
    """``metrics.csv`` (union of the row keys, in first-seen order; a key a row lacks and a
    None value are empty cells; ``\n`` line ends) and ``metrics.jsonl``, nothing for an empty
    ``history``. Written by :class:`csv.DictWriter`, so a text value holding a comma, a quote
    or a line break is quoted and reads back whole with :func:`csv.reader` (the hand-joined
    rows of before split it); numeric rows are byte for byte what they were."""
    if not history:
        return
    keys: list[str] = []
    for row in history:
        keys.extend(k for k in row if k not in keys)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=keys, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(out_dir / "metrics.csv", text.getvalue())
    atomic_write_text(out_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))


class Engine:
    """Runs a :class:`TrainingTask` for ``epochs`` epochs in ``out_dir`` (module docstring).

    Args:
        stage: the name in printed lines, progress bars and TensorBoard tags.
        out_dir: the stage folder (``checkpoints/``, ``metrics.csv``, ``tensorboard/``).
        epochs: the total number of epochs (a resumed run continues to it).
        monitor: the early-stopping metric.
        config: the resolved configuration as a dict, stored in every checkpoint.
        seed: ``run.seed``; the engine seeds Python, NumPy and torch with it when made.
        is_main: the process that writes files and prints (rank 0).
        tensorboard: also write the history as TensorBoard scalars.
        checkpoint_every: write ``last.pt`` / ``best.pt`` every N epochs (and after the last
            epoch and on an early stop); 1 = every epoch. An interrupted run resumes from
            the last epoch written.
        non_finite_check_every: steps between two mid-epoch checks of the first watched
            value (each a host read); 0 = only at the epoch's end.
        distributed: the task runs on every process of the initialised process group
            (torchrun / DDP): the epoch sums and step counts are added over the processes
            (one all-reduce per epoch) before the means are logged and early stopping,
            the non-finite stop and the checkpoints decide on them, so every process takes
            the same decisions; the mid-epoch check is a collective too. False (the default)
            for a task that runs in one process only, even when a group exists (UMM).

    Raises:
        ValueError: ``checkpoint_every < 1`` or ``non_finite_check_every < 0``.
    """

    def __init__(self, stage: str, out_dir: Path, *, epochs: int, monitor: Monitor,
                 config: dict[str, Any], seed: int, is_main: bool = True,
                 tensorboard: bool = False, checkpoint_every: int = 1,
                 non_finite_check_every: int = NON_FINITE_CHECK_EVERY, distributed: bool = False) -> None:
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1 (1 = every epoch), got {checkpoint_every}")
        if non_finite_check_every < 0:
            raise ValueError(f"non_finite_check_every must be >= 0 (0 = at the epoch's end only), "
                             f"got {non_finite_check_every}")
        self.stage, self.out_dir, self.epochs = stage, Path(out_dir), epochs
        self.monitor, self.config, self.is_main, self.tensorboard = monitor, config, is_main, tensorboard
        self.checkpoint_every, self.non_finite_check_every = checkpoint_every, non_finite_check_every
        self.distributed = distributed
        # the best epoch's best_state() (a device copy) not yet in best.pt, and its epoch
        self._unsaved_best: tuple[dict[str, Any], int] | None = None
        # a guarded task's state after the last epoch that passed (a device copy) and that epoch
        self._passed: tuple[dict[str, Any], int] | None = None
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.last = self.ckpt_dir / "last.pt"
        self.best = self.ckpt_dir / "best.pt"
        self.start_epoch = 0
        self.saved_epoch = -1  # the last epoch (0-based) that last.pt holds: what a rerun resumes after
        self.history: list[dict[str, Any]] = []
        self.stopped = ""
        # the row of the epoch last.pt holds when a Ctrl-C cut its monitors (monitors_pending)
        self._pending: dict[str, Any] | None = None
        seed_everything(seed)

    def resume(self, task: TrainingTask, map_location: str | torch.device = "cpu") -> bool:
        """Continue from ``last.pt`` when it exists: the task's state, RNG, history and the
        early-stopping state. Returns whether a checkpoint was found."""
        if not self.last.exists():
            if self.is_main:  # a record of a checkpoint removed since: this attempt starts afresh
                (self.ckpt_dir / CHECKPOINT_RECORD).unlink(missing_ok=True)
            return False
        altered = altered_checkpoint(self.last)  # bytes no epoch wrote: never resumed from silently
        if altered:
            raise CheckpointReadError(altered, torn_checkpoint_fix(self.last))
        try:
            state = load_checkpoint(self.last, map_location=map_location)
        except CheckpointReadError as exc:  # torn or altered: say what to delete, not "the previous one"
            raise CheckpointReadError(f"{exc.what}\n  fix: {torn_checkpoint_fix(self.last)}"
                                      + self._recorded_size_words()) from None
        task.check_resume(state)
        task.load_state_dict(state)
        set_rng_state(state["rng"])
        self.start_epoch = state["epoch"] + 1
        self.saved_epoch = state["epoch"]
        self.history = list(state["history"])
        self.monitor.load_state_dict(state)
        if self.monitor.best_epoch >= 0 and not self.best.exists() and task.best_state() is not None:
            # best.pt is written no later than the last.pt that names its epoch: it was removed.
            # Going on would end with the last epoch's weights where the best epoch's belong.
            raise FileNotFoundError(
                f"{self.best}: missing, but {self.last} says epoch {self.monitor.best_epoch + 1} was "
                f"the best so far and its weights were kept in that file; resuming without it would "
                f"export the last epoch's weights as the best epoch's.\n"
                f"  fix: put best.pt back (from a copy), or delete {self.ckpt_dir} to train this stage "
                f"again from epoch 1.")
        self.stopped = state.get("stopped", "")
        self._pending = state.get("monitors_pending")
        if self.is_main:
            done = self.start_epoch  # epochs finished, counted from 1 as the epoch lines are
            pending = " (its monitors were interrupted: they run first)" if self._pending else ""
            print(f"[{self.stage}] resuming from {self.last}: {done} of {self.epochs} epoch(s) done{pending}"
                  + (f", stopped then ({self.stopped})" if self.stopped else
                     f", continuing with epoch {done + 1}" if done < self.epochs else ", nothing left to train"))
        return True

    def _recorded_size_words(self) -> str:
        """`` (it holds N bytes, not the M its last.json records: torn or altered since)`` when
        the record beside :attr:`last` gives another size; "" otherwise."""
        record = read_json_dict(self.ckpt_dir / CHECKPOINT_RECORD) or {}
        try:
            size = self.last.stat().st_size
        except OSError:
            return ""
        recorded = record.get("bytes")
        if not isinstance(recorded, int) or recorded == size or record.get("checkpoint", "last.pt") != self.last.name:
            return ""
        return (f"\n  ({self.last.name} holds {size} bytes, not the {recorded} its {CHECKPOINT_RECORD} "
                f"records: torn or altered since it was written whole)")

    def room(self, task: TrainingTask) -> CheckpointRoom:
        """What ``task``'s checkpoints need in :attr:`ckpt_dir` now (:func:`task_room`)."""
        return task_room(self.ckpt_dir, task)

    def check_room(self, task: TrainingTask) -> None:
        """Before an epoch is trained, compare the free space of the checkpoint folder's disk
        with what the checkpoints need (:meth:`room`): a warning (main process) when less is
        free than they take at their peak, as the ingest warns of its own (review F5: a 180 MB
        disk took one 128 MiB last.pt and failed at the first epoch's). Never a refusal: the
        free space a process sees is not always what it may write (root writes into ext4's
        reserved blocks, which ``statvfs``'s ``f_bavail`` leaves out: review F3), and a write
        that fails says the file, the room and the fix itself (:func:`save_checkpoint`).
        Nothing when no epoch is left to train or the free space is unknown."""
        if self.stopped or self.start_epoch >= self.epochs or not self.is_main:
            return
        room = self.room(task)
        if room.free is None or room.free >= room.need:
            return
        fix = (f"free {bytes_words(room.need - room.free)} or more on that disk, or run in a folder on "
               f"another disk (run.out_dir), then rerun the same command")
        print(f"[{self.stage}] warning: {self.ckpt_dir}: the disk may be too small for the checkpoints: "
              f"{room.words()}; a checkpoint that does not fit stops the stage, the one before it kept\n"
              f"  fix: {fix}")

    def interrupted(self) -> StageInterrupted:
        """What a Ctrl-C now says: which epoch ``last.pt`` holds and where the same command
        resumes (:func:`drac_ssl.runtime.saved_words`)."""
        return StageInterrupted(*saved_words(self.saved_epoch + 1, self.epochs, self.stopped))

    def run(self, task: TrainingTask, stop_after_epoch: int | None = None) -> EngineResult:
        """Train from :attr:`start_epoch` to ``epochs`` (or an early stop).

        ``stop_after_epoch`` ends after that epoch (0-based) as if interrupted (resume tests);
        the result's ``stopped`` is then ``"interrupted"``.

        Raises:
            StageInterrupted (a KeyboardInterrupt): Ctrl-C; it says which epoch ``last.pt``
                holds (:attr:`saved_epoch`) and where the same command resumes.
        """
        if _has_guard(task) and not self.stopped:
            self._passed = (_device_copy(task.state_dict()), self.start_epoch - 1)
        self.check_room(task)
        try:
            if self._pending is not None:  # the saved epoch's monitors, cut by a Ctrl-C
                row, self._pending = dict(self._pending), None
                self._finish_epoch(task, int(row["epoch"]), task.steps_per_epoch, row)
            for epoch in range(self.start_epoch, self.epochs):
                if self.stopped:
                    break
                self._epoch(task, epoch)
                if stop_after_epoch is not None and epoch >= stop_after_epoch:
                    return EngineResult(self.history, self.monitor.best_epoch, "interrupted")
        except KeyboardInterrupt:
            raise self.interrupted() from None
        finally:
            try:
                task.close()
            except StageInterrupted:
                raise
            except KeyboardInterrupt:  # a Ctrl-C while the loaders close: the same words
                raise self.interrupted() from None
        if not self.stopped:
            self.stopped = "completed all epochs"
        return EngineResult(self.history, self.monitor.best_epoch, self.stopped)

    def _epoch(self, task: TrainingTask, epoch: int) -> None:
        task.begin_epoch(epoch)
        steps = task.steps_per_epoch
        sums: torch.Tensor | None = None
        check_every = self.non_finite_check_every
        watch = list(task.keys).index(task.watched[0]) if task.watched and check_every else None
        n_steps = 0
        t0 = time.perf_counter()
        # a bar only when stderr is a terminal (a log file would hold the bar's carriage returns
        # glued to the epoch lines, as a trial's `> log 2>&1` did); off one no tqdm at all: even a
        # disabled one fixes a host's multiprocessing start method (console.progress_bar)
        bar = progress_bar(steps, f"{self.stage} {epoch + 1}/{self.epochs}", "it", enabled=self.is_main,
                           leave=False, mininterval=2.0)
        # off a terminal, a plain line now and then (the clock only: nothing read from the device),
        # on stdout beside the epoch lines: the rule of every long loop (drac_ssl.console)
        progress = ProgressLines(sys.stdout, self.stage, enabled=self.is_main)
        with bar:
            for i, batch in enumerate(task.batches(epoch)):
                logs = task.step(batch, epoch * steps + i)
                with torch.no_grad():
                    values = torch.stack([logs[k].detach().double() for k in task.keys])
                    if sums is None:
                        sums = torch.zeros(len(task.keys), dtype=torch.float64, device=values.device)
                    sums += values
                n_steps += 1
                bar.update(1)
                if progress.due():
                    elapsed = progress.seconds
                    progress.say(f"[{self.stage}] epoch {epoch + 1}/{self.epochs}: step {i + 1} of {steps}, "
                                 f"{(i + 1) * task.pairs_per_step / max(elapsed, 1e-9):.1f} pairs/s, "
                                 f"{elapsed:.0f} s into the epoch")
                if watch is not None and i % check_every == check_every - 1 \
                        and not self._finite(sums[watch]):
                    break
        if self.distributed:  # every process: the same global means, so the same decisions
            totals, counted = sums_over_processes(sums, n_steps, len(task.keys))
        else:
            totals = sums.tolist() if sums is not None else [0.0] * len(task.keys)  # the epoch's read-back
            counted = n_steps
        means = {k: v / max(counted, 1) for k, v in zip(task.keys, totals, strict=True)}
        bad = [k for k in task.watched if not math.isfinite(means[k])]
        if bad:
            error = task.non_finite(epoch, means, bad, self.last)
            if self.is_main and not isinstance(error, NonFiniteError):
                print(error)  # a NonFiniteError is its command's to say (an error: line), once
            raise error
        seconds = time.perf_counter() - t0
        row: dict[str, Any] = {"epoch": epoch, "step": (epoch + 1) * steps}
        row.update(task.epoch_fields(epoch))
        row.update({k: _row_value(v) for k, v in means.items()})
        row["seconds"] = round(seconds, 3)
        row["pairs_per_second"] = round(n_steps * task.pairs_per_step / max(seconds, 1e-9), 1)
        self._finish_epoch(task, epoch, steps, row)

    def _finish_epoch(self, task: TrainingTask, epoch: int, steps: int, row: dict[str, Any]) -> None:
        """After the epoch's steps: its monitors (main process), guard, early stopping and
        checkpoint. A Ctrl-C in the monitors first saves the trained epoch
        (:meth:`_save_unmonitored`); a resume then runs this for it (:meth:`run`)."""
        if self.is_main:
            try:
                row.update(task.epoch_monitors(epoch, row))
            except KeyboardInterrupt:
                self._save_unmonitored(task, epoch, steps, row)
                raise
        self.history.append(row)

        reason = task.guard(epoch, row)
        if reason:
            self._roll_back(task, epoch, steps, reason)
            return
        improved = self.monitor.update(row[self.monitor.key], epoch)
        if self.monitor.should_stop:  # on the last epoch nothing is cut: the run completed
            self.stopped = self.monitor.reason if epoch + 1 < self.epochs else self.monitor.completed_reason
        checkpoint_now = self._due(epoch) or bool(self.stopped)
        if self.is_main and improved:
            best = task.best_state()
            if best is None:
                self._unsaved_best = None
            elif checkpoint_now:
                self._unsaved_best = (best, epoch)
            else:  # a copy on the device: the live weights move on before the next write
                self._unsaved_best = (_device_copy(best), epoch)
        with interrupts_deferred():  # the checkpoint and the line that reports it: both or neither
            self._end_epoch(task, epoch, steps, row, checkpoint_now)

    def _save_unmonitored(self, task: TrainingTask, epoch: int, steps: int, row: dict[str, Any]) -> None:
        """A Ctrl-C in ``epoch``'s monitors (a k-NN score over 60k images takes minutes on a
        CPU): when the epoch is due a checkpoint, write ``last.pt`` with its trained state, the
        history and early-stopping state as they were before it, and its row without monitors
        under ``monitors_pending``, so a resume measures them (on these very weights) and
        finishes the epoch as an uninterrupted run does. The monitors are deterministic
        functions of the weights that draw nothing from the global RNG, so the resumed run
        is the uninterrupted one. Not for a task with a guard (its roll-back needs the state
        of the epoch before, which only the running process holds): that epoch is lost, as
        any epoch not yet written."""
        if not self.is_main or not self._due(epoch) or _has_guard(task):
            return
        with interrupts_deferred():
            self._write_checkpoints(task, epoch, steps, monitors_pending=row)
            self.saved_epoch = epoch
            print(f"[{self.stage}] epoch {epoch + 1}: interrupted in its monitors; its training is "
                  f"saved in {self.last} and its monitors run when it resumes", flush=True)

    def _due(self, epoch: int) -> bool:
        """Whether ``epoch`` (0-based) is due a checkpoint by ``checkpoint_every`` (the last
        epoch always is; an early stop makes any epoch one, decided by the caller)."""
        return (epoch + 1) % self.checkpoint_every == 0 or epoch + 1 == self.epochs

    def _write_checkpoints(self, task: TrainingTask, epoch: int, steps: int, **extra: Any) -> None:
        """``best.pt`` when an earlier epoch's best waits for this checkpoint, then ``last.pt``
        with ``epoch``'s state, the history and the early-stopping state, plus ``extra`` (also
        the roll-back's, with the last epoch that passed)."""
        if self._unsaved_best is not None:
            best, best_epoch = self._unsaved_best
            save_checkpoint(self.best, {**best, "epoch": best_epoch, "config": self.config},
                            room=lambda: self.room(task))
            self._unsaved_best = None
        written = hashlib.sha256()  # last.pt's bytes, hashed as they are written (not read back)
        save_checkpoint(self.last, {
            **task.state_dict(),
            "epoch": epoch,
            "step": (epoch + 1) * steps,
            "rng": rng_state(),
            "history": self.history,
            **self.monitor.state_dict(),
            "stopped": self.stopped,
            "config": self.config,
            # the CPU threads that made this state: a resume with another count is not exact
            # (drac_ssl.train compares against this, not against an attempt that saved nothing)
            "threads": torch.get_num_threads(),
            **extra,
        }, room=lambda: self.room(task), digest=written)
        # what last.pt now holds, for the commands without torch (a killed stage's words:
        # drac_ssl.run_state.checkpoint_saved); after it, so a record never names an unwritten epoch
        write_checkpoint_record(self.last, epochs_done=epoch + 1, epochs=self.epochs, step=(epoch + 1) * steps,
                                stopped=self.stopped, monitors_pending="monitors_pending" in extra,
                                sha256=written.hexdigest())

    def _finite(self, value: torch.Tensor) -> bool:
        """Whether a running sum is finite; with :attr:`distributed`, on every process (a
        collective: every process breaks off the epoch together, or none does)."""
        if self.distributed:
            value = all_reduce_mean(value)  # a non-finite sum anywhere makes the mean non-finite
        return bool(torch.isfinite(value))

    def _end_epoch(self, task: TrainingTask, epoch: int, steps: int, row: dict[str, Any],
                   checkpoint_now: bool) -> None:
        """Write ``last.pt`` / ``best.pt`` when due, the history, then print the epoch line."""
        if self.is_main and checkpoint_now:
            self._write_checkpoints(task, epoch, steps)
        if checkpoint_now:
            self.saved_epoch = epoch
        if self._passed is not None and not self.stopped:
            self._passed = (_device_copy(task.state_dict()), epoch)
        if self.is_main:
            write_history(self.out_dir, self.history)
            if self.tensorboard:
                write_tensorboard(self.out_dir / "tensorboard", self.stage, self.history)
            print(task.describe(row), flush=True)

    def _roll_back(self, task: TrainingTask, epoch: int, steps: int, reason: str) -> None:
        """A guard refused ``epoch``: restore the last epoch that passed, stop, and write it
        as ``last.pt`` (with the refused row in the history) and any unsaved best epoch."""
        assert self._passed is not None, "a guarded task's state is kept after every epoch"
        state, passed = self._passed
        task.load_state_dict(state)
        self.stopped = reason
        self.saved_epoch = passed  # last.pt holds the last epoch that passed (written below)
        if self.is_main:
            kept = f"the weights of epoch {passed + 1}" if passed >= 0 else "the starting weights"
            print(f"[{self.stage}] epoch {epoch + 1}: {reason}; stopping with {kept}")
            self._write_checkpoints(task, passed, steps)
            write_history(self.out_dir, self.history)
            if self.tensorboard:
                write_tensorboard(self.out_dir / "tensorboard", self.stage, self.history)


def _has_guard(task: TrainingTask) -> bool:
    return type(task).guard is not TrainingTask.guard
