"""The pretraining of the correctness benches (``bench.cifar10_vicreg``, ``bench.low_label``):
:func:`drac_ssl.pretrain.run` with the care ``python -m drac_ssl.train`` takes around it.

* A run folder whose pretraining finished (``pretrain/metadata.json``) with another
  ``pretrain.epochs`` is refused before any work (:func:`finished_epochs_problem`):
  ``pretrain.run`` alone would resume it and restart the cosine schedule from the finished
  state (the learning rate jumps back up), as ``drac_ssl.train`` refuses too.
* Which weights are evaluated: ``backbone.safetensors`` holds the epoch of lowest
  pretraining loss (``checkpoints/best.pt``), not necessarily the last
  (:func:`evaluated_weights`).
* :func:`interrupted_exit`: the benches' Ctrl-C line, in the train command's words, exit 130;
  :func:`run_bench_main` runs a bench's main with it.
* The time of every attempt is kept in ``RUN_DIR/bench_pretrain.json`` (as ``drac_ssl.train``
  keeps ``seconds_earlier_attempts`` and ``attempts`` in ``stages.json``): a Ctrl-C or an
  error records the attempt's seconds before it propagates, and a rerun says it resumed
  (``resumed``), what the earlier attempts took and whether nothing was left to train
  (``reused``), so no bench takes one invocation's seconds for the whole pretraining.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import SHARED_DATA_ENV
from drac_ssl import datasets, pretrain
from drac_ssl.config import Config
from drac_ssl.io import atomic_write_json
from drac_ssl.runtime import StageInterrupted, interrupted_words

ATTEMPTS_FILE = "bench_pretrain.json"
"""The bench's record of its pretraining attempts in the run folder."""


def finished_epochs_problem(cfg: Config, run_dir: str | Path, epochs_flag: str = "--epochs") -> str:
    """Why ``run_dir`` cannot be pretrained with ``cfg``: its pretraining finished
    (``pretrain/metadata.json``) with another ``pretrain.epochs``; empty when it can. Worded
    as ``python -m drac_ssl.train`` refuses a changed finished stage."""
    meta_path = Path(run_dir) / "pretrain" / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    old = ((meta.get("config") or {}).get("pretrain") or {}).get("epochs")
    new = cfg.pretrain.epochs
    if old is None or old == new:
        return ""
    return (f"{meta_path}: this run folder was made with a different configuration:\n     "
            f"pretrain.epochs: {old} -> {new}\n     its pretraining finished; resuming it with other "
            f"epochs would restart the learning-rate schedule from its end (the cosine schedule's "
            f"lr jumps back up) and mix two schedules in one run\n     fix: choose another "
            f"--run-dir to start a new run, or rerun with the saved setting ({epochs_flag} {old})")


def evaluated_weights(out_dir: str | Path, best_epoch: int) -> dict[str, Any]:
    """``{"evaluated_epoch", "evaluated_checkpoint"}``: the epoch (counted from 1) whose weights
    ``backbone.safetensors`` holds, and which checkpoint gave them (``pretrain.run`` exports
    ``checkpoints/best.pt``, the epoch of lowest loss, when present, else the last epoch)."""
    best = Path(out_dir) / "checkpoints" / "best.pt"
    return {"evaluated_epoch": best_epoch + 1 if best_epoch >= 0 else None,
            "evaluated_checkpoint": ("best.pt: the epoch of lowest pretraining loss" if best.is_file()
                                     else "the last epoch's weights")}


@dataclass
class BenchPretraining:
    """One bench invocation's pretraining and the run folder's earlier attempts."""

    result: pretrain.PretrainResult
    seconds: float
    """This invocation's wall time of ``pretrain.run``."""
    resumed: bool
    """The run folder held a checkpoint (``last.pt``) or finished weights before this call."""
    reused: bool
    """Its pretraining had finished before: nothing was trained now."""
    seconds_earlier_attempts: float | None
    """Wall seconds of the earlier attempts (``bench_pretrain.json``); None: resumed from a
    folder without that record (time unknown)."""
    attempts: int

    def record(self) -> dict[str, Any]:
        """The fields a result file records about the pretraining's time and weights."""
        history = self.result.history
        return {
            "resumed": self.resumed,
            "reused": self.reused,
            "attempts": self.attempts,
            "seconds_this_invocation": round(self.seconds, 1),
            "seconds_earlier_attempts": (None if self.seconds_earlier_attempts is None
                                         else round(self.seconds_earlier_attempts, 1)),
            "epoch_seconds_all_attempts": round(sum(r.get("seconds", 0.0) for r in history), 1),
            **evaluated_weights(self.result.out_dir, self.result.best_epoch),
            "epochs_run": len(history),
        }


def _read_attempts(run_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((run_dir / ATTEMPTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_pretraining(cfg: Config, run_dir: str | Path, epochs_flag: str = "--epochs",
                    data: pretrain.PretrainData | None = None) -> BenchPretraining:
    """``pretrain.run(cfg, run_dir)``, refused first by :func:`finished_epochs_problem`
    (``SystemExit`` with the error and its fix), with the attempt's seconds recorded in
    ``run_dir/bench_pretrain.json`` however it ends."""
    run_dir = Path(run_dir)
    problem = finished_epochs_problem(cfg, run_dir, epochs_flag)
    if problem:
        raise SystemExit(f"error: {problem}")
    out = run_dir / "pretrain"
    finished = (out / "metadata.json").is_file()
    resumed = finished or (out / "checkpoints" / "last.pt").is_file()
    # earlier attempts count only when this one goes on from them: a pretraining started over
    # (its folder removed, or no epoch saved) owes nothing to them; an unknown earlier time
    # (null: a folder resumed before attempts were recorded) stays unknown
    previous = _read_attempts(run_dir) if resumed else {}
    earlier: float | None
    if not previous:
        earlier = None if resumed else 0.0
    elif "seconds_earlier_attempts" in previous and previous["seconds_earlier_attempts"] is None:
        earlier = None
    else:
        earlier = float(previous.get("seconds_earlier_attempts") or 0) + float(previous.get("seconds") or 0)
    attempts = int(previous.get("attempts", 1)) + 1 if previous else 1
    t0 = time.perf_counter()

    def note(status: str) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / ATTEMPTS_FILE, {
            "status": status, "seconds": round(time.perf_counter() - t0, 2),
            "seconds_earlier_attempts": None if earlier is None else round(earlier, 2),
            "attempts": attempts, "reused": finished})

    try:
        result = pretrain.run(cfg, run_dir, data=data)
    except BaseException as exc:
        note("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
        if isinstance(exc, StageInterrupted) and not exc.stage:
            exc.stage = "pretrain"  # interrupted_words names it, as drac_ssl.train does
        raise
    note("done")
    return BenchPretraining(result, time.perf_counter() - t0, resumed, finished, earlier, attempts)


def speed_goal(met: bool, epochs_run: int, epochs: int, reasons: list[str], run: BenchPretraining) -> bool | str:
    """A pretraining-speed goal's verdict: ``met`` for a fresh full-protocol run of ``epochs``
    epochs, else ``"not applicable: ..."`` (a smoke run, another epoch count, or a pretraining
    that was resumed or reused: this invocation's seconds are not the whole pretraining's)."""
    why = list(reasons)
    if epochs_run != epochs and not why:
        why.append(f"{epochs_run} epochs")
    if run.reused:
        why.append("the run folder's pretraining had finished before (reused, not timed)")
    elif run.resumed:
        why.append("pretraining resumed from an earlier attempt (this invocation timed part of it)")
    return f"not applicable: {'; '.join(why)}" if why else met


def interrupted_exit(exc: KeyboardInterrupt, who: str = "bench") -> int:
    """Print what a Ctrl-C left, as ``python -m drac_ssl.train`` does, and return 130: inside
    the pretraining :func:`interrupted_words` (``interrupted in pretrain (epoch 2 of 3 saved);
    rerun the same command to resume from epoch 3``); elsewhere that the same command reuses
    the saved pretraining and starts the rest again."""
    sys.stdout.flush()  # the lines printed before (a file or pipe buffers them) come first
    words = (interrupted_words(exc) if isinstance(exc, StageInterrupted) and exc.stage else
             "interrupted: rerun the same command to go on (a finished or saved pretraining is "
             "reused; the evaluation starts again)")
    print(f"\n[{who}] {words}", file=sys.stderr)
    return 130


def run_bench_main(command: Callable[[list[str] | None], object], argv: list[str] | None) -> None:
    """``command(argv)``, a bench's ``main``; a Ctrl-C ends it with :func:`interrupted_exit`'s
    line (what was saved and how to resume) and exit code 130, not a traceback, and so does a
    SIGTERM (``kill``, a batch system's pre-emption; :func:`drac_ssl.starting.sigterm_as_ctrl_c`).
    A data error (:func:`is_data_error`) ends it with its ``error:`` line and exit code 2, under
    it :func:`data_fix`'s line when data is missing (a damaged file's error, and one already
    holding a ``fix:``, stand alone)."""
    from drac_ssl.starting import sigterm_as_ctrl_c

    try:
        with sigterm_as_ctrl_c():
            command(argv)
    except KeyboardInterrupt as exc:
        raise SystemExit(interrupted_exit(exc)) from None
    except (FileNotFoundError, ValueError) as exc:
        if not is_data_error(exc):
            raise
        sys.stdout.flush()
        # the path's fix for missing data only: a damaged file ("copy ... again") and --data
        # against data.root= carry their own, which the path's would contradict (a review)
        missing = isinstance(exc, FileNotFoundError) and "fix:" not in str(exc)
        fix = f"\n{data_fix(sys.argv[1:] if argv is None else argv)}" if missing else ""
        print(f"error: {exc}{fix}", file=sys.stderr)
        raise SystemExit(2) from None


DATA_FIX = (f"fix: --data PATH (or {SHARED_DATA_ENV}=FOLDER, the folder holding mnist/, fashion_mnist/, "
            f"cifar10/, ...: the configs' ../shared/data)")
"""The fix a bench prints under a data error when its command named no data path."""

DATA_PATH_FIX = ("fix: --data PATH, the data set's own folder or archive holding the files named above "
                 "(e.g. ../shared/data/mnist, ../shared/data/cifar10/cifar10_jpeg.tar.xz)")
"""The fix under a data error when the command gave ``--data`` or ``data.root=``: that path is
read as typed and ``DRAC_SSL_SHARED_DATA`` is not, so setting the variable would change nothing."""


def data_fix(argv: Sequence[str]) -> str:
    """The ``fix:`` line under a data error for a bench's arguments ``argv``: :data:`DATA_PATH_FIX`
    when they give the data path (``--data PATH``, ``--data=PATH`` or a ``data.root=`` override,
    which come before the shared-data variable: :func:`bench.common.data_root`), else
    :data:`DATA_FIX` (``--data`` or the variable)."""
    given = any(a == "--data" or a.startswith("--data=") or a.split("=", 1)[0].strip() == "data.root"
                for a in argv)
    return DATA_PATH_FIX if given else DATA_FIX


def is_data_error(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by the data loaders (:mod:`drac_ssl.datasets`: files missing or
    unreadable under the data path) or by :func:`bench.common.data_root` (``--data`` and
    ``data.root=`` disagree): the errors :func:`run_bench_main` says in two lines, not a
    traceback. Any other FileNotFoundError or ValueError is a fault to show whole."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    code = tb.tb_frame.f_code
    return Path(code.co_filename).resolve() == Path(datasets.__file__).resolve() or code.co_name == "data_root"
