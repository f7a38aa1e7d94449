"""What state a run folder of ``python -m drac_ssl.train`` is in, read from its records alone:
``stages.json`` (each stage's status: done, interrupted, failed, with what an interrupted
stage saved), ``config.yaml`` (``run.stages``), ``invocations.jsonl`` (the commands that ran,
how each ended) and the run's lock (:data:`RUN_LOCK`: held while a training runs).

The commands that need a finished stage say with it what is unfinished and the command that
finishes it, instead of "not a run folder": ``python -m drac_ssl.export RUN`` (no bundle
yet: :func:`drac_ssl.grading.bundle_folder.bundle_folder`), ``export RUN --variant NAME`` (no
finished fine-tuning) and ``report.md``'s "Read this first" (:func:`drac_ssl.report.write_report`).

Standard library, PyYAML, :mod:`drac_ssl.io` and (for the quoting) :mod:`drac_ssl.config` only (no torch): ``python -m app`` reaches it
before torch loads.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drac_ssl.exit_codes import RunBusy
from drac_ssl.io import (
    absolute_from,
    atomic_write_json,
    ends_sha256,
    invocations,
    last_invocation,
    read_json_dict,
    recorded_content,
    running_here,
    safetensors_damage,
    sha256_file,
    try_lock,
    unended_invocation,
    zip_ends_whole,
)
from drac_ssl.starting import python_command, python_word

PIPELINE = ("ingest", "pretrain", "umm", "finetune", "export")
"""The stages of ``python -m drac_ssl.train``, in the order they run (``run.stages`` picks)."""
INVOCATIONS = "invocations.jsonl"
"""The run folder's log of the commands that ran on it, one JSON line each
(:func:`drac_ssl.runtime.record_start`)."""
CONSOLE_LOG = "console.log"
"""The run folder's log of what ``python -m drac_ssl.train`` printed
(:func:`drac_ssl.runtime.console_log`); its time is the last sign of a killed training
(:func:`killed_training_seen`)."""
RUN_LOCK = ".train.lock"
"""A file in the run folder that ``python -m drac_ssl.train`` (process 0), ``python -m
drac_ssl.umm``, ``python -m drac_ssl.report`` or ``python -m drac_ssl.export RUN --variant
NAME`` holds an exclusive lock on while it runs
(:func:`drac_ssl.runtime.hold_run`), its one line naming the holder; the kernel drops the lock
when the process ends, however it ends (kill -9 included), so a killed run never blocks its
resume."""


FOLDS_PLAN = "folds_plan.json"
"""``<run>/finetune/folds_plan.json``: the folds a fine-tuning attempt trains, written as it
starts (:func:`drac_ssl.finetune.run`): ``variants`` (in order), ``folds`` (the fold ids) and
``signatures`` (variant -> the fold signatures it reuses, added as each variant is signed).
What a killed fine-tuning saved is counted from it and the fold files on disk
(:func:`finetune_saved_on_disk`)."""

OFFERED_FOLDS = "offered_folds.json"
"""In ``finetune/<variant>/``: the folds ``run.reuse`` offered from another run folder
(:func:`drac_ssl.train.take_reused_stages`), ``foldK.json`` -> ``trained_in`` (the run folder
that trained it) and ``signature``. A fold reused with that signature was not trained here:
``metrics.json``'s ``folds_taken_from`` says so, and the report and compare repeat it. A record
re-signed here (one made before content signing) takes its offer's signature along
(:mod:`drac_ssl.finetune` writes it)."""


TRAIN_VIEWS = "per-sample seeds"
"""How a fold's random training views are drawn, as each ``fold<k>.json`` records it
(``train_views``): every image of an epoch's order (and of the frozen backbone's feature
bank) carries its own augmentation seed, :func:`drac_ssl.finetune.view_keys`, so the views,
and with them the fold, are the same whatever ``pretrain.num_workers``. A record without it was
saved by the code before, whose views came from one running generator, the process's with 0
workers and each DataLoader worker's own (seeded by the DataLoader's base seed plus the worker
id) with more: its views depended on the worker count, so it is trained again, not reused."""


def folds_saved_words(saved: dict[str, Any], variants: list[str] | tuple[str, ...],
                      n_folds: int) -> tuple[str, str]:
    """(``saved``, ``resume``) words of a fine-tuning stopped with the folds ``saved``
    (variant -> its folds saved, a list or a count) of ``n_folds`` each for the ``variants``
    in order, e.g. ``("2 of 6 folds saved: scratch 2 of 2, vicreg 0 of 2, vicreg_umm 0 of 2",
    "resume: the saved folds are reused, the others trained")``."""
    counts = {v: n if isinstance(n, int) else len(n) for v, n in saved.items()}
    total = n_folds * len(variants)
    done = sum(counts.get(v, 0) for v in variants)
    if not done:
        return "no fold saved yet", "start it again"
    if done == total:
        return f"all {total} folds saved", "compare the variants again from the saved folds"
    per_variant = ", ".join(f"{v} {counts.get(v, 0)} of {n_folds}" for v in variants)
    return f"{done} of {total} folds saved: {per_variant}", "resume: the saved folds are reused, the others trained"


def fold_weights_problem(record: dict[str, Any], weights_path: Path) -> str | None:
    """Why a finished fold's weights file ``weights_path`` (``fold<k>.safetensors``) cannot be
    reused, in words, or None when it is whole: cut short or changed since the fold saved it
    (its record's ``weights_file``: size, then SHA-256 when its modification time is not the
    recorded one, as the ingest checks its cache: :func:`drac_ssl.io.recorded_content`), or,
    for a record saved before the size and digest were recorded, not readable as a
    safetensors file (its header and the length it gives:
    :func:`drac_ssl.io.safetensors_damage`, the bundle build's check). The one check
    of both the fine-tuning's resume (``drac_ssl.finetune._train_folds``) and the run's state
    (:func:`_fold_saved`: what ``status`` and the report say a resume reuses). Imports no torch
    (safetensors is opened for numpy, its header alone read)."""
    recorded = record.get("weights_file")
    try:
        if isinstance(recorded, dict) and {"bytes", "sha256", "mtime_ns"} <= set(recorded):
            stat = weights_path.stat()
            if stat.st_size != int(recorded["bytes"]):
                return f"it holds {stat.st_size:,} bytes, not the {int(recorded['bytes']):,} it was saved with"
            if stat.st_mtime_ns == int(recorded["mtime_ns"]):
                return None
            digest, _ = recorded_content(weights_path, recorded["bytes"], recorded["sha256"], recorded["mtime_ns"])
            return None if digest == recorded["sha256"] else "its bytes are not those saved (SHA-256)"
        damage = safetensors_damage(weights_path)
    except (OSError, ValueError) as exc:
        damage = str(exc)
    return None if damage is None else f"it cannot be read as a safetensors file ({damage})"


def _fold_saved(folder: Path, fold: int, signatures: Any) -> str:
    """How the fine-tuning's resume would take ``folder/fold<k>.json``: ``"reusable"`` for a
    record with a signature (one of ``signatures`` when its variant was signed; when not, not
    a fold run.reuse offered from another run, :data:`OFFERED_FOLDS`, still as it was offered:
    linked into every variant up front, it is retrained when its signature differs, which is
    not known yet), every weight file it lists beside it (the fold's own whole:
    :func:`fold_weights_problem`, the fine-tuning's own check), views drawn as :data:`TRAIN_VIEWS`,
    finite validation outputs (``drac_ssl.finetune._train_folds``); ``"older views"`` for
    one that is all of that but for its views (no ``train_views``: an older drac_ssl's, trained
    again); ``""`` otherwise."""
    record = read_json_dict(folder / f"fold{fold}.json")
    if not isinstance(record, dict) or not isinstance(record.get("signature"), str):
        return ""
    if isinstance(signatures, list):
        if record["signature"] not in signatures:
            return ""
    else:
        offered = read_json_dict(folder / OFFERED_FOLDS)
        offer = offered.get(f"fold{fold}.json") if isinstance(offered, dict) else None
        if isinstance(offer, dict) and offer.get("trained_in") and offer.get("signature") == record["signature"]:
            return ""
    weights = record.get("weights") if isinstance(record.get("weights"), list) else [f"fold{fold}.safetensors"]
    if not all(isinstance(w, str) and (folder / w).is_file() for w in weights):
        return ""
    if fold_weights_problem(record, folder / f"fold{fold}.safetensors") is not None:  # retrained on resume
        return ""
    rows = record.get("val_raw")
    if not (isinstance(rows, list) and all(isinstance(x, (int, float)) and math.isfinite(x)
                                           for row in rows for x in (row if isinstance(row, list) else [row]))):
        return ""
    if record.get("train_views") != TRAIN_VIEWS:  # views that followed the worker count: retrained
        return "older views"
    return "reusable"


STAGES_RECORD = "stages.json"
"""The run folder's record of its stages (written whole by :mod:`drac_ssl.train`; read by
:func:`read_stages_record` alone)."""


def read_stages_record(run_dir: str | os.PathLike[str], strict: bool = False) -> dict[str, Any]:
    """The run folder ``run_dir``'s ``stages.json`` (:data:`STAGES_RECORD`: each stage's entry,
    by name) as the dict it holds: the one reader of a run's record of its stages. ``{}`` when
    there is none (no such file or folder: a run not started yet, or not by the orchestrator).

    A damaged file (bytes that are not UTF-8, text that is not JSON, empty, a top level that is
    not an object: :func:`stages_record_damage`) or one that cannot be read: ``{}`` too unless
    ``strict``, for a caller to which "no record" is normal (a report line, the state words, a
    note left out); with ``strict``, for one that acts on it (a resume), it raises.

    Raises:
        ConfigError: (``strict``) the damaged file, what is wrong and ``\n  fix: ...``
            (:func:`stages_damaged_fix`).
        OSError: (``strict``) the file cannot be read (no permission, a folder of that name)."""
    path = Path(run_dir) / STAGES_RECORD
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError:
        if strict:
            raise
        return {}
    status, why = _decoded_stages(raw)
    if status is None:
        if not strict:
            return {}
        from drac_ssl.config import ConfigError  # here: imported without it

        raise ConfigError(f"{path}: damaged: {why}; drac_ssl writes it whole, so it was cut or "
                          f"changed by something else (a copy, an editor, a full disk).\n"
                          f"  fix: {stages_damaged_fix(run_dir)}.")
    return status


def stages_record_damage(run_dir: str | os.PathLike[str]) -> str | None:
    """What is wrong with the run folder's damaged ``stages.json`` (``empty``, ``not UTF-8
    (byte 0xff at offset 41)``, ``not valid JSON: ...``, ``a JSON list, not an object``) for a
    lenient reader's note; None when it is whole, missing or cannot be read."""
    return stages_record_and_damage(run_dir)[1]


def stages_record_and_damage(run_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], str | None]:
    """:func:`read_stages_record` (lenient: ``{}`` for a missing, unreadable or damaged file)
    and :func:`stages_record_damage` from one read of ``stages.json``, for a lenient caller
    that wants both."""
    try:
        raw = (Path(run_dir) / STAGES_RECORD).read_bytes()
    except OSError:
        return {}, None
    status, why = _decoded_stages(raw)
    return ({}, why) if status is None else (status, None)


def _decoded_stages(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """``raw`` (a ``stages.json``'s bytes) as its JSON object and ``""``, or None and what is wrong."""
    text = ""
    try:  # decoded here, not by read_text: a byte that is not UTF-8 is damage like a cut
        text = raw.decode("utf-8")
        status = json.loads(text)
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
    except ValueError as exc:
        return None, ("empty" if not text.strip() else f"not valid JSON: {exc}")
    if not isinstance(status, dict):
        return None, f"a JSON {type(status).__name__}, not an object"
    return status, ""


def stages_damaged_fix(run_dir: str | os.PathLike[str], in_file: bool = False, resume: str | None = None) -> str:
    """How to go on from the damaged ``run_dir/stages.json`` (:func:`read_stages_record`; the
    report says it too, ``in_file``: its commands without the absolute interpreter path).
    A finished run needs nothing rerun: the report and the export read the stages' outputs,
    not this record (checked on a finished tiny run with it cut short). ``resume``: the command
    that finishes the run, for a command that found it unfinished (the export of a run with no
    bundle yet): then the way to resume it is said, after, for a run whose fine-tuning finished
    (its ``finetune/summary.json`` selected a variant: :func:`selected_variant`), the export of
    that variant by ``--variant``, which reads the fine-tuning's outputs, not this record, and
    loses nothing (a review: deleting the record loses the stages' times and, with
    ``run.keep_checkpoints=false``, trains the pretraining and UMM again)."""
    from drac_ssl.config import shell_word

    run = shell_word(str(run_dir))
    resumed = ("each stage runs again and takes up what it saved (the ingest's cache, the last "
               "checkpoints of the pretraining and UMM, the fine-tuning's folds), so a finished stage ends in "
               "seconds; one whose checkpoints were removed (run.keep_checkpoints=false) trains again; the times "
               "of the earlier attempts are lost")
    if resume is not None:
        again = (f"delete {Path(run_dir) / STAGES_RECORD}, then finish the run with its own command, "
                 f"{resume}: {resumed}")
        if (selected := selected_variant(run_dir)) is None:
            return again
        return (f"its fine-tuning finished: grade with the variant it selected, which reads finetune/, not "
                f"this record, and builds its bundle in {Path(run_dir) / 'bundles' / selected}: "
                f"{python_command('drac_ssl.export', in_file=in_file)} {run} --variant {shell_word(selected)} "
                f"--images DIR --out FILE.csv; or, to finish the run itself (its bundle/ and export/), {again}")
    return (f"if the run had finished, you need not rerun it: {python_command('drac_ssl.report', in_file=in_file)} "
            f"{run} and {python_command('drac_ssl.export', in_file=in_file)} {run} --images DIR --out FILE.csv "
            "(or --variant NAME) work without it (only the "
            "stages' times are lost); delete it only to resume the run or train it again, then rerun the same "
            f"command: {resumed}")


OLDER_FOLDS_WORDS = ("saved by an older drac_ssl, trained again on resume (their views followed "
                     "pretrain.num_workers)")
"""What :func:`finetune_saved_on_disk` says of folds without :data:`TRAIN_VIEWS`, after their count."""


def finetune_saved_on_disk(run_dir: str | os.PathLike[str]) -> tuple[str, str] | None:
    """What of the run's fine-tuning is saved, counted on disk: the folds of its last attempt's
    plan (:data:`FOLDS_PLAN`) whose files a resume would reuse (:func:`_fold_saved` says ``"reusable"``), in
    :func:`folds_saved_words`, and those an older drac_ssl saved, which it trains again, counted
    apart (``6 folds`` + :data:`OLDER_FOLDS_WORDS`: not "no fold saved yet"); None when there is no readable plan (a fine-tuning that had not
    started, or one of a drac_ssl that wrote none). For a fine-tuning killed without a word
    (``kill -9``): its last Ctrl-C's words in ``stages.json`` miss what was saved since."""
    finetune = Path(run_dir) / "finetune"
    plan = read_json_dict(finetune / FOLDS_PLAN)
    if not isinstance(plan, dict):
        return None
    variants, folds = plan.get("variants"), plan.get("folds")
    if not (isinstance(variants, list) and all(isinstance(v, str) for v in variants)
            and isinstance(folds, list) and all(isinstance(k, int) for k in folds)):
        return None
    signatures = plan.get("signatures") if isinstance(plan.get("signatures"), dict) else {}
    states = {v: [_fold_saved(finetune / v, k, signatures.get(v)) for k in folds] for v in variants}
    saved_words, resume = folds_saved_words({v: got.count("reusable") for v, got in states.items()},
                                            variants, len(folds))
    older = sum(got.count("older views") for got in states.values())
    if not older:
        return saved_words, resume
    counted = f"{older} fold{'s' if older != 1 else ''} {OLDER_FOLDS_WORDS}"
    return (counted, resume) if saved_words == "no fold saved yet" else (f"{saved_words}; {counted}", resume)


CHECKPOINT_STAGES = ("pretrain", "umm")
"""The stages that keep optimiser-state checkpoints (``<stage>/checkpoints/``) for a resume."""

CHECKPOINT_RECORD = "last.json"
"""``<run>/<stage>/checkpoints/last.json`` (:data:`CHECKPOINT_STAGES`): what the stage's
``last.pt`` beside it holds, so that a command without torch can say what a killed or
interrupted pretraining or UMM saved (:func:`checkpoint_saved`). Written atomically by
:func:`write_checkpoint_record` just after each ``last.pt`` is in place
(:class:`drac_ssl.engine.Engine`), never before: ``epochs_done`` (the epochs ``last.pt``
holds, counted from 1; 0: a guard kept the starting weights), ``epochs_planned``, ``step``
(the optimiser steps taken), ``stopped`` (an early stop or a guard's reason; "" when
training goes on), ``monitors_pending`` (a Ctrl-C cut that epoch's monitors: they run first
on resume), ``utc`` (when it was written), ``checkpoint`` (``last.pt``), ``bytes`` (its
size), ``sha256`` (:func:`drac_ssl.io.sha256_file` of it: the whole file) and ``ends_sha256``
(:func:`drac_ssl.io.ends_sha256` of it: its first and last MiB). The whole file's SHA-256 tells the
record's own checkpoint from any other bytes; the ends' then tell which other: ends that differ
too are a later checkpoint, written after the record when a kill fell between the two writes
(every epoch's ``torch.save`` pickles its epoch, step and history at the start and the CRC-32 of
every record at the end), and the same ends around other bytes are a checkpoint altered in its
middle since (a disk error, a hand, an interrupted copy over it), which the rerun would
otherwise resume from as if it were the record's: refused, with the fix
(:func:`altered_checkpoint`, :meth:`drac_ssl.engine.Engine.resume`).

Why both: the size alone matched a later ``last.pt`` (every epoch saves tensors of the same
shapes, and the pickled epoch, step and history grow by a few bytes that the zip's 64-byte
alignment absorbs: a 44 MB ``torch.save`` of epochs 2, 3 and 4 measured the same size to the
byte); the ends alone missed a checkpoint altered in its middle (review F3: 4 KiB overwritten
at 60 MB of a 128 MiB ``last.pt`` was resumed from silently, and the run's weights and
figures differed). The whole file is read once per checkpoint written and once per status
command or resume (:func:`whole_sha256` keeps its hash in the process while the file's ``stat``
is unchanged): 0.08 s for a 128 MiB file in the page cache on a loaded 2-core machine
(median of 7, interleaved with the ends' 1.3 ms), against an epoch of minutes. The modification
time (``mtime_ns``) is not recorded: a copy of the run folder that does not keep times (``cp -r``,
a download) loses it. A record without ``sha256`` (a drac_ssl older than it) is checked as it
was: by its ends' SHA-256, or by its size alone when it has none either."""


def write_checkpoint_record(last: str | os.PathLike[str], *, epochs_done: int, epochs: int, step: int,
                            stopped: str = "", monitors_pending: bool = False,
                            sha256: str | None = None) -> Path:
    """Write :data:`CHECKPOINT_RECORD` beside ``last`` (the ``last.pt`` just written, whose
    size, :func:`drac_ssl.io.sha256_file` and :func:`drac_ssl.io.ends_sha256` it records)
    atomically; returns its path.
    ``epochs_done`` counts from 1. ``sha256``: the checkpoint's SHA-256 (hex) as it was written
    (:func:`drac_ssl.checkpoint.save_checkpoint`'s ``digest``); None: read back from the file.

    Raises:
        OSError: ``last`` is not there (the record follows its checkpoint, never precedes it).
    """
    path = Path(last)
    record = {"epochs_done": int(epochs_done), "epochs_planned": int(epochs), "step": int(step),
              "stopped": str(stopped or ""), "monitors_pending": bool(monitors_pending),
              "utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
              "checkpoint": path.name, "bytes": path.stat().st_size, "sha256": sha256 or sha256_file(path),
              "ends_sha256": ends_sha256(path)}
    return atomic_write_json(path.with_name(CHECKPOINT_RECORD), record)


@dataclass(frozen=True)
class SavedCheckpoint:
    """What a pretraining or UMM left to resume from (:func:`checkpoint_saved`): ``what`` it
    saved (``last checkpoint at epoch 7 of 20, step 175, written 2026-...+00:00:
    pretrain/checkpoints/last.pt, 12.3 MiB``, ``no epoch saved``, ...) and ``then``, what a
    rerun of its training command does with it (``resumes from it with epoch 8``, ``starts
    the stage again``); ``resumable``: whether a rerun resumes from a checkpoint;
    ``unrecorded``: a checkpoint without its record (its epoch unknown without torch: a
    caller with torch reads it, :func:`saved_checkpoint`)."""

    what: str
    then: str
    resumable: bool
    unrecorded: bool = False

    def words(self) -> str:
        """``last checkpoint at epoch 7 of 20, step 175, ...; a rerun of its training command
        resumes from it with epoch 8``: a killed or interrupted stage's ``saved``
        (:class:`StageState`, which export's refusal and report.md quote: not their own
        command's rerun)."""
        return f"{self.what}; a rerun of its training command {self.then}"


def saved_checkpoint(shown: str, size: int, *, done: int, planned: int | None, step: int | None = None,
                     utc: str = "", stopped: str = "", monitors_pending: bool = False,
                     epochs: int | None = None) -> SavedCheckpoint:
    """The words of a checkpoint ``shown`` (``pretrain/checkpoints/last.pt``, ``size`` bytes)
    that holds ``done`` epochs (counted from 1; 0: a guard kept the starting weights) of the
    ``planned`` it was saved under (None: not known), at optimiser ``step``, written ``utc``,
    ``stopped`` early (a reason; "" when training went on), with that epoch's monitors still
    to run (``monitors_pending``). What the rerun does is what :meth:`drac_ssl.engine.Engine.resume`
    and :meth:`~drac_ssl.engine.Engine.run` do with it under ``epochs`` (the count the rerun
    is given; None: ``planned``, the command as it was): an early stop trains no more; else
    epochs ``done`` + 1 to ``epochs``, none when it holds that many already (more epochs
    may be given to an unfinished stage, or fewer)."""
    epochs = planned if epochs is None else epochs
    at = f"epoch {done}" + (f" of {planned}" if planned is not None else "") if done else "the starting weights"
    when = f", written {utc}" if utc else ""
    what = f"last checkpoint at {at}" + (f", step {step}" if step is not None else "") + f"{when}: {shown}, {_mib(size)}"
    if stopped or (epochs is not None and done >= epochs):
        if stopped or (planned is not None and done >= planned):  # it finished as it was saved
            what = f"training finished, {stopped or 'completed all epochs'}: {what}"
        more = (" again" if stopped or epochs == planned else
                f": it holds {done} epochs, more than the {epochs} now set" if done > epochs else
                f": it holds the {epochs} epochs now set")
        return SavedCheckpoint(what, f"finishes the stage from it (no epoch is trained{more})", True)
    pending = f", after epoch {done}'s monitors" if monitors_pending else ""
    of = f" of the {epochs} now set" if epochs is not None and epochs != planned else ""
    return SavedCheckpoint(what, f"resumes from it with epoch {done + 1}{of}{pending}", True)


def checkpoint_saved(run_dir: str | os.PathLike[str], stage: str, epochs: int | None = None) -> SavedCheckpoint:
    """What ``run_dir/stage/checkpoints/`` holds to resume from (``stage``: pretrain or umm),
    read from :data:`CHECKPOINT_RECORD` and the size of the ``last.pt`` it names, without
    torch; what a rerun does with it under ``epochs`` (the stage's epochs in the rerun's
    configuration, which may differ for an unfinished stage; None: the count it was saved
    under, :func:`saved_checkpoint`). The cases:

    * a record and its checkpoint (the size and whole-file SHA-256 it recorded; the ends'
      SHA-256 for a record without ``sha256``, the size alone for one without ``ends_sha256``
      either: :data:`CHECKPOINT_RECORD` says why): the epoch, step, time and file;
    * a record whose checkpoint is not there (removed, or never written by a fresh attempt):
      nothing saved; a rerun starts the stage again;
    * a record and a checkpoint of another size or ends' SHA-256 (written after the record:
      a kill between the two writes): a checkpoint of that epoch or later;
    * a record and a checkpoint of its size and ends' SHA-256 but another whole-file SHA-256
      (:func:`altered_checkpoint`: altered in its middle since): said so, not resumable, with
      :func:`torn_checkpoint_fix`;
    * a checkpoint without a record (a run folder of a drac_ssl older than the record):
      saved, its epoch unknown (``unrecorded``);
    * either of the two above when the file is not a whole one (its zip end record missing:
      :func:`drac_ssl.io.zip_ends_whole`; truncated by a copy, a disk error, a hand): torn or
      altered, not resumable, with :func:`torn_checkpoint_fix` (delete it; the rerun trains the
      stage again from epoch 1);
    * a checkpoint that is there but cannot be read (no read permission, an I/O error; with
      or without a record): said so, with the file and the fix, not resumable. Not judged by
      its size alone instead: the rerun's :meth:`drac_ssl.engine.Engine.resume` reads the
      same file and stops on it, so "resumes from it" would be a promise the rerun breaks;
    * neither: no epoch saved.
    """
    folder = Path(run_dir) / stage / "checkpoints"
    record = read_json_dict(folder / CHECKPOINT_RECORD)
    keys = ("epochs_done", "epochs_planned", "step", "bytes")
    if not (isinstance(record, dict) and all(isinstance(record.get(k), int) for k in keys)):
        record = None
    name = record.get("checkpoint") if record and isinstance(record.get("checkpoint"), str) else "last.pt"
    last = folder / Path(name).name
    shown = f"{stage}/checkpoints/{last.name}"
    try:
        size: int | None = last.stat().st_size if last.is_file() else None
    except OSError:
        size = None
    moved = False  # a record and a checkpoint of another size or ends' SHA-256
    if size is not None:
        try:
            with last.open("rb") as fh:
                fh.read(1)
            moved = record is not None and (size != record["bytes"] or not _same_ends(last, record.get("ends_sha256")))
            if (moved or record is None) and not zip_ends_whole(last):  # cut short: no epoch's file
                return _torn(last, shown, size, record)
            if record is not None and not moved and not _same_whole(last, record.get("sha256")):
                return _altered(last, shown, size)
        except OSError as exc:
            return _unreadable(last, shown, size, exc)
    if record is None:
        if size is None:
            return SavedCheckpoint("no epoch saved", "starts the stage again", False)
        return SavedCheckpoint(f"a checkpoint saved, its epoch unknown: {shown}, {_mib(size)}, made by a "
                               f"drac_ssl that wrote no {CHECKPOINT_RECORD} beside it",
                               "resumes from it", True, unrecorded=True)
    done, planned = record["epochs_done"], record["epochs_planned"]
    if size is None:
        return SavedCheckpoint(f"no epoch saved: {stage}/checkpoints/{CHECKPOINT_RECORD} names epoch {done} "
                               f"of {planned}, but {shown} is not there", "starts the stage again", False)
    if moved:
        return SavedCheckpoint(f"a checkpoint saved at epoch {done} of {planned} or later: {shown}, "
                               f"{_mib(size)}, written after its {CHECKPOINT_RECORD}",
                               "resumes from it", True)
    return saved_checkpoint(shown, size, done=done, planned=planned, step=record["step"],
                            utc=record["utc"] if isinstance(record.get("utc"), str) else "",
                            stopped=record.get("stopped") if isinstance(record.get("stopped"), str) else "",
                            monitors_pending=bool(record.get("monitors_pending")), epochs=epochs)


def _same_ends(last: Path, recorded: Any) -> bool:
    """Whether ``last`` has the :func:`drac_ssl.io.ends_sha256` its record gives
    (``recorded``); True for a record without one (of a drac_ssl older than it: its size
    alone was compared).

    Raises:
        OSError: ``last`` cannot be read (:func:`checkpoint_saved` says so, not "written after
            its record": an unreadable file is no evidence of a later epoch)."""
    if not isinstance(recorded, str):
        return True
    return ends_sha256(last) == recorded


def _same_whole(last: Path, recorded: Any) -> bool:
    """Whether ``last`` has the :func:`drac_ssl.io.sha256_file` its record gives (``recorded``);
    True for a record without one (of a drac_ssl older than it: checked as it was, by its ends).

    Raises:
        OSError: ``last`` cannot be read."""
    if not isinstance(recorded, str):
        return True
    return whole_sha256(last) == recorded


_WHOLE_SHA256: dict[tuple[str, int, int, int, int, int], str] = {}
"""The :func:`whole_sha256` of the files this process hashed, by path and ``stat`` (a few
entries: the checkpoints a command reads)."""


def whole_sha256(path: str | os.PathLike[str]) -> str:
    """:func:`drac_ssl.io.sha256_file` of ``path``, hashed once per process while the file is
    unchanged (the same path, device, inode, size, ``mtime_ns`` and ``ctime_ns``: a write, or
    a file put in its place, changes one of them): a status command reads a killed stage's
    ``last.pt`` record in several places (review F4: ``python -m drac_ssl.report`` hashed a
    128 MiB ``last.pt`` 7 times, 1.3 s). Within one process only: a copy of the run folder
    that does not keep times is hashed again by the next command. A file modified in the last
    :data:`RACY_SECONDS` is hashed every time (as git treats a "racily clean" file): a
    filesystem's coarse clock can give a write right after the hash the same ``mtime_ns``.

    Raises:
        OSError: ``path`` cannot be read."""
    st = os.stat(path)
    key = (os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key in _WHOLE_SHA256:
        return _WHOLE_SHA256[key]
    digest = sha256_file(path)
    if time.time_ns() - st.st_mtime_ns > RACY_SECONDS * 10**9:
        if len(_WHOLE_SHA256) >= 16:
            _WHOLE_SHA256.clear()
        _WHOLE_SHA256[key] = digest
    return digest


RACY_SECONDS = 2
"""How long a file must be left unmodified before :func:`whole_sha256` keeps its hash."""


def altered_checkpoint(last: str | os.PathLike[str]) -> str | None:
    """What is wrong with the checkpoint ``last`` when it was altered in its middle since the
    :data:`CHECKPOINT_RECORD` beside it was written (the size and the ends' SHA-256 it records,
    another whole-file SHA-256: not a later checkpoint, whose ends differ), naming the file;
    None otherwise (no record, one of another file or of a drac_ssl that recorded no whole-file
    SHA-256, the record's own checkpoint, or a later one). :meth:`drac_ssl.engine.Engine.resume`
    refuses such a file rather than resume from bytes no epoch wrote.

    Raises:
        OSError: ``last`` cannot be read."""
    last = Path(last)
    record = read_json_dict(last.with_name(CHECKPOINT_RECORD))
    if (not record or record.get("checkpoint", last.name) != last.name or not isinstance(record.get("sha256"), str)
            or record.get("bytes") != last.stat().st_size or not _same_ends(last, record.get("ends_sha256"))
            or _same_whole(last, record["sha256"])):
        return None
    return (f"{last}: altered since it was written: its SHA-256 is not the one its {CHECKPOINT_RECORD} "
            f"records, though its size and its first and last MiB are the same (so not a later "
            f"checkpoint: bytes in its middle changed; a disk error, a hand, a copy over it)")


def _altered(last: Path, shown: str, size: int) -> SavedCheckpoint:
    """The words of a checkpoint ``last`` altered in its middle since its record
    (:func:`altered_checkpoint`): not resumable (the rerun's resume stops on it), with the fix."""
    return SavedCheckpoint(f"a checkpoint altered since it was written: {shown}, {_mib(size)}, whose SHA-256 is "
                           f"not the one its {CHECKPOINT_RECORD} records (its size and ends are the same)",
                           f"will not resume from it: it stops on it (fix: {torn_checkpoint_fix(last)})", False)


def torn_checkpoint_fix(last: str | os.PathLike[str]) -> str:
    """The fix for a ``last.pt`` that is torn or altered (not a whole file): delete it (its
    record :data:`CHECKPOINT_RECORD` goes with it at the rerun), and the rerun trains the stage
    again from epoch 1 (:meth:`drac_ssl.engine.Engine.resume` finds no checkpoint)."""
    return f"delete it: rm {shlex.quote(str(last))}; the rerun of the same command then starts the stage again from epoch 1"


def _torn(last: Path, shown: str, size: int, record: dict[str, Any] | None) -> SavedCheckpoint:
    """The words of a checkpoint ``last`` (``shown`` relative to the run folder, ``size`` bytes)
    that is not a whole file (:func:`drac_ssl.io.zip_ends_whole`: cut short by a copy, a disk
    error, a hand): a checkpoint drac_ssl wrote is renamed into place whole, so this one was
    torn or altered since; not resumable (the rerun's resume stops on it), with the fix."""
    recorded = (f", not the {record['bytes']} bytes its {CHECKPOINT_RECORD} records"
                if record is not None and size != record["bytes"] else "")
    return SavedCheckpoint(f"a checkpoint torn or altered: {shown}, {size} bytes{recorded}, and not a "
                           f"whole file (its end record is missing)",
                           f"will not resume from it: it stops on it (fix: {torn_checkpoint_fix(last)})", False)


def _unreadable(last: Path, shown: str, size: int, exc: OSError) -> SavedCheckpoint:
    """The words of a checkpoint ``last`` (``shown`` relative to the run folder, ``size``
    bytes) that is there but cannot be read (``exc``): not resumable, as the rerun's
    :meth:`drac_ssl.engine.Engine.resume` reads it too; the file and the fix."""
    why = f"{type(exc).__name__}: {exc.strerror or exc}"
    return SavedCheckpoint(f"a checkpoint that cannot be read: {shown}, {_mib(size)} ({why})",
                           f"stops on it, as it cannot read it either (fix: check the permissions of {last}: the "
                           f"user who runs the training must be able to read it, e.g. chmod u+r; or move it away "
                           f"to train the stage again from epoch 1)", False)


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def killed_training_seen(run_dir: str | os.PathLike[str]) -> tuple[str, float] | None:
    """The last sign of the run's last training when it did not end (killed: its
    ``invocations.jsonl`` line marked ``killed``, or without an end, for a caller that knows
    its process is gone): its start (``date_utc``) and when :data:`CONSOLE_LOG` was last
    written (a POSIX time), the last line it printed. Read before another training appends to
    the file (``python -m drac_ssl.train`` does so first thing; no other command writes it).
    None when that training ended, or either is not known, or the time cannot be the killed
    training's: later than the start of any command ``invocations.jsonl`` records after it (a
    report, an export; the one reading it) or than now, as a folder copied without its
    timestamps gives (the copy's time; a copy made before any such command goes unseen)."""
    folder = Path(run_dir)
    last = last_training(folder) or {}
    ended = last.get("ended")
    if "ended" in last and not (isinstance(ended, dict) and ended.get("outcome") == "killed"):
        return None
    if not isinstance(last.get("date_utc"), str):
        return None
    try:
        seen = (folder / CONSOLE_LOG).stat().st_mtime
    except OSError:
        return None
    later = _started_after(folder, last["date_utc"])
    # date_utc is whole seconds: a command started within the second of the last print
    if seen > min([*later, _dt.datetime.now(_dt.UTC).timestamp()]) + 1.0:
        return None
    return last["date_utc"], seen


def _started_after(folder: Path, since: str) -> list[float]:
    """The starts (POSIX times) of the commands of any tool that ``folder``'s
    ``invocations.jsonl`` records as started after ``since`` (an ISO date); [] when none or
    not readable."""
    try:
        after = _dt.datetime.fromisoformat(since)
        text = (folder / INVOCATIONS).read_text(encoding="utf-8")
    except (OSError, ValueError, TypeError):
        return []
    if after.tzinfo is None:  # not as drac_ssl writes it (UTC, with its offset)
        return []
    starts = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
            start = _dt.datetime.fromisoformat(line["date_utc"]) if isinstance(line, dict) else None
        except (ValueError, KeyError, TypeError):
            continue
        if start is not None and start.tzinfo is not None and start > after:
            starts.append(start.timestamp())
    return starts


def killed_attempt_seconds(entry: dict[str, Any], seen: tuple[str, float] | None) -> float | None:
    """The seconds a stage's attempt that never ended (``entry``: its ``stages.json`` entry,
    ``"status": "running"``, written as it started: killed) ran, as far as known: from its
    ``started_utc`` to the last line its training printed (``seen``,
    :func:`killed_training_seen`), when that training is the one that started the attempt;
    None when not known (no such record, or another training came since, e.g. one with other
    ``run.stages``). ``started_utc`` is whole seconds: the figure may be up to 1 s more."""
    if seen is None or not isinstance(entry.get("started_utc"), str):
        return None
    try:
        started = _dt.datetime.fromisoformat(entry["started_utc"])
        if _dt.datetime.fromisoformat(seen[0]) > started:  # a later training wrote console.log last
            return None
    except (TypeError, ValueError):
        return None
    seconds = seen[1] - started.timestamp()
    return round(seconds, 2) if seconds >= 0 else None


def recorded_threads(record: dict[str, Any] | None) -> int | None:
    """The CPU threads (torch intra-op) a record says an invocation ran with: its
    ``threads.torch_intra_op``, as :func:`drac_ssl.runtime.environment_info` records it in
    ``environment.json`` and each ``invocations.jsonl`` line; None when not recorded (a run
    made before, a record that is not a dict, a count that is no int)."""
    threads = (record or {}).get("threads")
    count = threads.get("torch_intra_op") if isinstance(threads, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def is_run_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds the records of ``python -m drac_ssl.train`` (``stages.json``, or
    ``invocations.jsonl`` beside ``config.yaml``: a run still in its first stage)."""
    p = Path(path)
    return (p / "stages.json").is_file() or ((p / INVOCATIONS).is_file() and (p / "config.yaml").is_file())


def run_folder_problem(path: str | os.PathLike[str], flag: str = "RUN",
                       records: Sequence[str] = ("config.yaml",)) -> str:
    """Why ``path`` (given as ``flag``) is not a run folder of ``python -m drac_ssl.train`` that
    a reading command (``python -m drac_ssl.report``, ``python -m drac_ssl.compare``) takes, with
    the fix; "" when it holds one of ``records`` (default ``config.yaml``, the first record the
    training writes; the report takes a folder with ``stages.json`` or ``environment.json`` too,
    which it reads alone when ``config.yaml`` is gone). Said: a
    path that is not there; a file (``RUN/config.yaml``, ``RUN/report.md``: pass the folder
    holding it); a folder without ``config.yaml``, with the run folders inside it when it holds
    some (``runs``: the folder of the runs, not a run).

    Raises:
        OSError: ``path`` cannot be looked at (a folder closed to this account): the caller
            says it (:func:`drac_ssl.io.unreadable_words`).
    """
    p = Path(path)
    if p.is_file():
        return (f"{p}: {flag} is a file, not a run folder.\n  fix: pass the run folder (runs/<run.name>)"
                + (f", {shlex.quote(str(p.parent))}, which holds it" if (p.parent / "config.yaml").is_file() else ""))
    if not p.is_dir():
        return (f"{p}: no such folder" + ("" if p.is_absolute() else f" (read from the current folder, "
                                          f"{Path.cwd()})") + ".\n  fix: pass a run folder (runs/<run.name>)")
    if any((p / name).is_file() for name in records):
        return ""
    inside = sorted(q.name for q in p.iterdir() if os.path.isfile(q / "config.yaml"))  # closed ones left out
    # RUN/bundle, RUN/finetune: the run folder is the one above (a CLI review: "pass a run folder")
    above = Path(os.path.abspath(p)).parent  # '..' resolved: RUN/bundle/sub's '..' is in RUN
    held = (f"it holds run folders ({', '.join(inside[:5])}{' ...' if len(inside) > 5 else ''}): pass "
            f"one, e.g. {shlex.quote(str(p / inside[0]))}" if inside else
            f"pass the run folder it is in, {shlex.quote(str(p.parent if p.name not in ('', '.', '..') else above))}"
            if any((above / name).is_file() for name in records) else "pass a run folder (runs/<run.name>)")
    names = records[0] if len(records) == 1 else f"{', '.join(records[:-1])} or {records[-1]}"
    return f"{p}: not a run folder of python -m drac_ssl.train (no {names} there).\n  fix: {held}"


def lock_holder(run_dir: Path, last: dict[str, Any] | None) -> dict[str, Any] | None:
    """Who holds ``run_dir``'s lock: the record its holder wrote
    (:func:`drac_ssl.runtime.hold_run`), else the run's last unended training (``last``, an
    older drac_ssl that wrote none); either only when its process may be the holder (alive on
    this machine, or of another machine, which cannot be checked). None: unknown (a killed
    invocation's record names a dead or reused pid, which must not be offered for killing)."""
    try:
        record = json.loads((run_dir / RUN_LOCK).read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        record = None
    if not (isinstance(record, dict) and isinstance(record.get("pid"), int)):
        record = last
    if record is None or (record.get("host") == platform.node() and not running_here(record)):
        return None
    return record


def held_by(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The process that holds ``run_dir``'s lock now (:data:`RUN_LOCK`), as
    :func:`drac_ssl.runtime.hold_run` tells it: its record (``tool``, ``pid``, ``host``,
    ``date_utc``; ``{}`` when held by a process it cannot name); None when no process holds
    it (or there is no lock file). Tested as the training tests it (:func:`drac_ssl.io.try_lock`
    on the file opened for writing, released at once; a training that tries the lock in that
    instant waits for it, :data:`drac_ssl.runtime.LOCK_RETRY_S`): not from within a process that holds the lock itself
    (the kernel refuses a second open's lock there too). Writes nothing."""
    folder = Path(run_dir)
    try:  # for writing, as the training opens it: an NFS flock is a POSIX lock, which needs it
        fd = os.open(folder / RUN_LOCK, os.O_RDWR)
    except PermissionError:  # a folder this user may only read
        try:
            fd = os.open(folder / RUN_LOCK, os.O_RDONLY)
        except OSError:
            return None
    except OSError:
        return None
    try:
        if try_lock(fd):
            return None
    finally:
        os.close(fd)
    return lock_holder(folder, unended_invocation(folder / INVOCATIONS)) or {}


def planned_stages(run_dir: str | os.PathLike[str]) -> list[str]:
    """The stages the run asked for (``config.yaml``'s ``run.stages``, else the ones
    ``stages.json`` records), in pipeline order."""
    folder = Path(run_dir)
    stages = _setting(folder, "run", "stages")
    if not isinstance(stages, list):
        stages = list(read_stages_record(folder))
    return [s for s in PIPELINE if s in stages]


def _setting(run_dir: Path, section: str, name: str) -> Any:
    """``section.name`` of the run's ``config.yaml``; None when the file, the section or the
    setting is not there or not readable (:func:`drac_ssl.config.read_saved_config`)."""
    from drac_ssl.config import read_saved_config  # here: imported without it

    part = read_saved_config(run_dir).get(section)
    return part.get(name) if isinstance(part, dict) else None


def _dataset(run_dir: Path) -> str:
    """``config.yaml``'s ``data.dataset`` (``drac``, ``cifar10`` ...); ``''`` when not known."""
    value = _setting(run_dir, "data", "dataset")
    return value if isinstance(value, str) else ""


def last_training(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The last ``python -m drac_ssl.train`` line of the run's ``invocations.jsonl``
    (:func:`drac_ssl.io.last_invocation`); None when there is none."""
    return last_invocation(Path(run_dir) / INVOCATIONS)


def first_training(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The first ``python -m drac_ssl.train`` line of the run's ``invocations.jsonl``
    (:func:`drac_ssl.io.invocations`): the command that made the run and wrote its
    ``config.yaml``; None when there is none."""
    lines = invocations(Path(run_dir) / INVOCATIONS)
    return lines[0] if lines else None


def selected_variant(run_dir: str | os.PathLike[str]) -> str | None:
    """The variant the run's ``finetune/summary.json`` selected for export (e.g. ``vicreg``);
    None when the summary is missing, unreadable or names none."""
    summary = read_json_dict(Path(run_dir) / "finetune" / "summary.json")
    selected = summary.get("selected") if summary is not None else None
    return selected if isinstance(selected, str) and selected else None


def _has_oof_calibration(run_dir: Path, variant: str | None) -> bool:
    """Whether the fine-tuning variant ``variant`` of ``run_dir`` (None: the one its summary
    selected) has the files its out-of-fold calibration figures are worked out from
    (``oof.csv``, ``metrics.json``: :func:`drac_ssl.report.oof_calibration_of`)."""
    from drac_ssl.oof import OOF_FILE  # oof reads this module

    variant = variant or selected_variant(run_dir)
    if not variant:
        return False
    vdir = run_dir / "finetune" / variant
    return (vdir / OOF_FILE).is_file() and (vdir / "metrics.json").is_file()


def rebuild_call(run_dir: str | os.PathLike[str] | None = None, variant: str | None = None,
                 bundle_dir: str | os.PathLike[str] | None = None) -> str:
    """The ``python -c`` command that builds a bundle as the export stage does:
    :func:`drac_ssl.grading.bundle.build_bundle`
    of ``run_dir`` (None: ``'RUN'``, a run not known here), of ``variant`` into ``bundle_dir``
    when given, with the variant's out-of-fold calibration figures
    (``oof_calibration=oof_calibration_of(...)``, :func:`drac_ssl.report.oof_calibration_of`)
    when the run has them (:func:`_has_oof_calibration`), and always for ``'RUN'`` (the call
    gives None for a run without them). Without them the rebuilt bundle's model card loses its
    out-of-fold calibration line (Brier score, ECE) that the export stage's bundle had.

    The command is for a POSIX shell (bash, zsh): each path is a Python literal
    (``repr``) and the whole ``-c`` code is shell-quoted, so any folder name (``o'brien $x
    run``, a backslash) runs as printed: in double quotes as before where nothing in it is
    special there, else in single quotes (:func:`shlex.quote`). On Windows (cmd, PowerShell)
    run the quoted Python code itself in ``python``."""
    run = "RUN" if run_dir is None else str(run_dir)
    args = [repr(run)] + ([repr(str(variant)), repr(str(bundle_dir))] if variant is not None else [])
    imports = "from drac_ssl.grading.bundle import build_bundle"
    if run_dir is None or _has_oof_calibration(Path(run_dir), variant):
        imports += "; from drac_ssl.report import oof_calibration_of"
        of = repr(run) + (f", {str(variant)!r}" if variant is not None else "")
        args.append(f"oof_calibration=oof_calibration_of({of})")
    code = f"{imports}; build_bundle({', '.join(args)})"
    return f"{python_word()} -c {_shell_code(code)}"


def _shell_code(code: str) -> str:
    """``code`` as one POSIX shell word: ``"code"`` where none of the characters that are
    special in double quotes (``"``, ``$``, backtick, backslash, and ``!``, interactive bash's
    history expansion) is in it, the form these commands always had; else
    :func:`shlex.quote`'s single quotes, which keep every character."""
    return f'"{code}"' if not set(code) & set('"$`\\!') else shlex.quote(code)


def rebuild_advice(bundle_dir: str | os.PathLike[str]) -> str:
    """How to rebuild the damaged bundle ``bundle_dir``, as a fix: ``RUN/bundle`` of a run
    whose fine-tuning finished: ``build_bundle`` of that run (what its export stage does,
    :func:`rebuild_call`); ``RUN/bundles/<variant>``: ``python -m drac_ssl.export RUN --variant
    NAME`` (:func:`drac_ssl.grading.bundle.build_or_reuse_bundle`; it needs the run's
    ``config.yaml``, else ``build_bundle`` of the variant into that folder); a bundle elsewhere
    (copied): ``build_bundle`` of the run folder that made it. Each with the run's out-of-fold
    calibration figures where the export stage gives them. Here, not in
    :mod:`drac_ssl.grading.bundle`, so that the fold loader (:mod:`drac_ssl.grading.model`)
    says it too."""
    bundle_dir = Path(bundle_dir)
    run_dir = bundle_dir.parent
    if bundle_dir.name == "bundle" and (run_dir / "finetune" / "summary.json").is_file():
        return f"rebuild the bundle from the run's fine-tuning, as the export stage does: {rebuild_call(run_dir)}"
    run_dir, variant = bundle_dir.parent.parent, bundle_dir.name
    if bundle_dir.parent.name == "bundles" and (run_dir / "finetune" / "summary.json").is_file():
        if (run_dir / "config.yaml").is_file():  # what the export command needs without --images
            return (f"rebuild the variant's bundle from the run's fine-tuning: {python_command('drac_ssl.export')} "
                    f"{shlex.quote(str(run_dir))} --variant {shlex.quote(variant)}")
        return (f"rebuild the variant's bundle from the run's fine-tuning: "
                f"{rebuild_call(run_dir, variant, bundle_dir)}")
    return f"rebuild it from the run folder that made it: {rebuild_call()} (what its export stage does)"


def selected_metrics(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``finetune/<variant>/metrics.json`` object of the variant the run selected
    (:func:`selected_variant`); None when the summary names none or the file cannot be read
    as a JSON object."""
    selected = selected_variant(run_dir)
    return None if selected is None else read_json_dict(Path(run_dir) / "finetune" / selected / "metrics.json")


def made_in(run_dir: str | os.PathLike[str]) -> str | None:
    """The working folder the run in ``run_dir`` was made from, which its ``config.yaml``'s
    relative paths are read from: ``environment.json``'s ``cwd``; for a run made before it was
    recorded there, its first training's (``invocations.jsonl``'s ``cwd``,
    :func:`first_training`: the command that wrote ``config.yaml`` with the paths as typed
    there; a later one that rewrote it was accepted only where its paths read the same files
    from there); None when neither says (a first line without ``cwd`` too: a later line's
    folder is never taken for it). The one answer of the resume's comparison of
    ``config.yaml`` (:func:`drac_ssl.stage_settings.comparable`), the preflight's, the in-place
    resume command (:func:`resume_in_place_command`) and report.md: before, the comparison had
    no fallback and read such a run's paths from the current folder, so the in-place command,
    typed from another folder, was refused (a final read, C7); then the fallback was the last
    training's folder, and every invocation is recorded, one that runs no stage too, so a
    resume from another folder moved it there, and the next in-place command typed the
    relative paths from there: other files, which the resume then accepted (a review, F1)."""
    folder = Path(run_dir)
    for record in (read_json_dict(folder / "environment.json"), first_training(folder)):
        cwd = record.get("cwd") if isinstance(record, dict) else None
        if isinstance(cwd, str) and cwd:
            return cwd
    return None


@dataclass(frozen=True)
class StageState:
    """One stage of a run's pipeline: ``status`` is ``done``, ``running`` (a training holds
    the run's lock and this is its first unfinished stage), ``interrupted`` or ``failed``
    (``stages.json``), ``killed`` (the stage the last training was in when its process went
    without a word: ``kill -9``, the OOM killer; or any stage whose ``stages.json`` entry says
    ``running`` while no training holds the run's lock, or is in another stage) or ``not run`` (not started yet); ``saved``:
    what of an interrupted stage is saved (``stages.json``'s ``saved``, e.g. ``2 of 6 folds
    saved: scratch 2 of 2, ...``; of a killed fine-tuning, counted on disk:
    :func:`finetune_saved_on_disk`; of a killed pretraining or UMM, or an interrupted one whose
    Ctrl-C said nothing of it, its checkpoint's record: :func:`checkpoint_saved`); ``note``: more words on it (who runs it, the error)."""

    stage: str
    status: str
    saved: str = ""
    note: str = ""

    @property
    def detail(self) -> str:
        """What was saved and the note, joined (``2 of 6 folds saved: ...``); "" for neither."""
        return "; ".join(w for w in (self.saved, self.note) if w)

    def words(self) -> str:
        """``finetune interrupted (2 of 6 folds saved: ...)``, ``pretrain running (python -m
        drac_ssl.train, process 123 ...)``, ``export not run``."""
        return f"{self.stage} {self.status}" + (f" ({self.detail})" if self.detail else "")


def stage_states(run_dir: str | os.PathLike[str], check_lock: bool = True) -> list[StageState]:
    """The state of each stage of the run's pipeline (:func:`planned_stages`), in order.
    ``check_lock``: whether to look at the run's lock for a running training (:func:`held_by`);
    False from a process that holds it (the report a training writes at its end)."""
    folder = Path(run_dir)
    recorded = read_stages_record(folder)
    holder = held_by(folder) if check_lock else None
    training = holder is not None and holder.get("tool", "drac_ssl.train") == "drac_ssl.train"
    last = last_training(folder)
    ended = (last or {}).get("ended") if isinstance((last or {}).get("ended"), dict) else None
    killed = last is not None and not training and (
        (ended or {}).get("outcome") == "killed"
        or (ended is None and last.get("host") == platform.node() and isinstance(last.get("pid"), int)
            and not running_here(last)))
    states: list[StageState] = []
    first_open = True
    for stage in planned_stages(folder):
        entry = recorded.get(stage) if isinstance(recorded.get(stage), dict) else {}
        status = str(entry.get("status") or "not run")
        if status == "done":
            states.append(StageState(stage, "done"))
            continue
        saved = str(entry.get("saved") or "")
        note = ""
        if first_open and training:
            status, note = "running", _holder_words(holder or {})
        elif (first_open and killed) or status == "running":
            # an entry "running" (written as its attempt started) that no training holding the
            # lock runs now: its attempt was killed, whatever came since (a rerun with other
            # run.stages, one stopped before this stage, a training on another host); with
            # check_lock False the caller holds the lock, so no training runs either
            status, note = "killed", "its training ended without a word: kill -9, out of memory?"
            on_disk = finetune_saved_on_disk(folder) if stage == "finetune" else None
            if on_disk is not None:  # the words of an earlier Ctrl-C miss the folds saved since
                saved = on_disk[0]
            elif stage in CHECKPOINT_STAGES:  # and the epochs: its checkpoint's record says
                saved = checkpoint_saved(folder, stage).words()
        elif status == "interrupted" and not saved and stage in CHECKPOINT_STAGES:
            saved = checkpoint_saved(folder, stage).words()  # a Ctrl-C that said nothing of it
        elif status == "failed" and first_open and ended and ended.get("outcome") == "failed" and ended.get("error"):
            note = f"{ended['error']}; console.log has the whole message"
        first_open = False
        states.append(StageState(stage, status, saved, note))
    return states


def _holder_words(holder: dict[str, Any]) -> str:
    """``python -m drac_ssl.train, process 123 on HOST, running since DATE``, or that a process
    holds the run's lock when it cannot be named."""
    if not holder.get("pid"):
        return f"a process holds the run's lock, {RUN_LOCK}"
    return (f"python -m {holder.get('tool', 'drac_ssl.train')}, process {holder['pid']} on "
            f"{holder.get('host', '?')}, running since {holder.get('date_utc', '?')}")


def report_words(run_dir: str | os.PathLike[str]) -> str:
    """``.venv/bin/python -m drac_ssl.report RUN writes report.md for the run so far``: the
    hint a command stopped part way through a run, or refused for an unfinished one, gives
    (an interrupted run has no report.md, whose "Read this first" says what is unfinished and
    the command that finishes it). ``run_dir`` as this process names it (relative to the
    current folder, as the interpreter: :func:`drac_ssl.starting.python_command`), both quoted
    for the shell."""
    from drac_ssl.config import shell_word

    return f"{python_command('drac_ssl.report')} {shell_word(str(run_dir))} writes report.md for the run so far"


CONFIG_OPTIONS = ("-c", "--config")
"""How a training command line names its config (:func:`drac_ssl.commands.train_parser`):
``-c X``, ``--config X``, ``-cX``, ``-c=X`` (argparse reads X), ``--config=X``; no
abbreviation (``--conf X``): the parser refuses them (``allow_abbrev`` False)."""


def _config_word(argv: list[str]) -> tuple[int, str, str] | None:
    """Where the recorded command line ``argv`` names its config: the index of the word holding
    the value, the text before the value in that word (``""``, ``-c``, ``--config=``) and the
    value (``-c=X``: ``-c=`` and ``X``, as argparse reads it); None when it names none (the
    shipped default)."""
    for i, word in enumerate(argv[1:], start=1):
        if word in CONFIG_OPTIONS and i + 1 < len(argv):
            return i + 1, "", argv[i + 1]
        if word.startswith("--config="):
            return i, "--config=", word[len("--config="):]
        if word.startswith("-c") and not word.startswith("--") and len(word) > 2:
            before = "-c=" if word[2] == "=" else "-c"
            return i, before, word[len(before):]
    return None


def _recorded_config(argv: list[str], last: dict[str, Any], cwd: str,
                     folder: Path) -> tuple[list[str], str]:
    """``argv`` with its ``-c`` word replaced by the file the run read when that word, run in
    ``cwd``, now reads another file, and the note that says so; ``(argv, "")`` when it reads the
    same one. The file the run read is ``invocations.jsonl``'s ``config_file``; for a line that
    records none (made before it was recorded, when ``-c WORD`` was a path from ``cwd``),
    ``cwd/WORD``. When that file is there, the word is replaced by it (a ``./drac.yaml``
    written since beside ``-c drac.yaml``, a shipped config reinstalled elsewhere); when it is
    gone and the word would now read a shipped config of its name in its place
    (:func:`drac_ssl.config.config_file_in`: ``-c drac.yaml`` with ``./drac.yaml`` deleted), by
    the run's own ``RUN/config.yaml`` (``folder``: its settings, the overrides included), not
    the shipped file silently; otherwise (gone, and the word reads nothing: its command says
    so) left as typed."""
    from drac_ssl.config import config_file_in

    found = _config_word(argv)
    if found is None:
        return argv, ""
    index, before, word = found
    where = cwd or str(Path.cwd())
    recorded = last.get("config_file")
    said = "invocations.jsonl's config_file"
    if not isinstance(recorded, str) or not recorded:  # -c was a path then (no shipped names)
        recorded = str(Path(where) / os.path.expanduser(word))
        said = "the file -c named from there when the run was made, before its config_file was recorded"
    now = config_file_in(word, where)
    if now is not None and now.resolve() == Path(recorded).resolve():
        return argv, ""
    reads = f"now reads {now}" if now is not None else "now names no config file"
    if Path(recorded).is_file():
        note = (f"its -c {word} {reads} from {where}, not the file the run read, so the "
                f"command names that file ({recorded}, {said})")
        return [*argv[:index], before + recorded, *argv[index + 1:]], note
    own = folder.resolve() / "config.yaml"
    if now is None or not own.is_file():
        return argv, ""
    note = (f"the file the run read ({recorded}, {said}) is gone and its -c {word} {reads} from "
            f"{where} in its place, so the command reads the run's own config.yaml (its "
            f"settings, overrides included)")
    return [*argv[:index], before + str(own), *argv[index + 1:]], note


REUSE_SETTING = "run.reuse"
"""A run folder's path setting beyond :data:`drac_ssl.config.PATH_SETTINGS` (those a
configuration compares as files): :func:`relative_path_settings`."""


def relative_path_settings() -> tuple[str, ...]:
    """The settings of a run's ``config.yaml`` that may hold a path relative to the folder the
    run was made in: :data:`drac_ssl.config.PATH_SETTINGS` and :data:`REUSE_SETTING`, which
    :func:`resume_in_place_command` types absolutely; ``run.out_dir`` it types itself. Derived,
    not listed, so that a path setting added to the configuration is typed too (read here, not
    at import: this module is read without :mod:`drac_ssl.config` and its yaml)."""
    from drac_ssl.config import PATH_SETTINGS

    return (*PATH_SETTINGS, REUSE_SETTING)


def _absolute_path_words(folder: Path) -> tuple[list[str], str]:
    """``key=ABSOLUTE`` words for each :func:`relative_path_settings` the run's ``config.yaml``
    keeps relative (``data.root: ../shared/data/mnist``, as typed), read from the folder the run
    was made in (:func:`made_in`, the folder a resume compares them from), and a note ("" when
    none). Typed from another folder without them, the relative values are read from there: a
    resume compares them as other paths and refuses ("made with a different configuration"),
    with the in-place command as its fix (an upgrade review's loop). ``run.reuse`` is read as
    the run read it (:func:`drac_ssl.train.reuse_source`: from that folder, else a run of that
    name in its ``run.out_dir``). A path whose folder is gone is still given when the path it
    names from there exists (a removed checkout beside ``../shared``); otherwise it is left out
    and the note says to type it absolutely."""
    from drac_ssl.config import read_saved_config  # here: imported without it

    saved = read_saved_config(folder)
    if not saved:
        return [], ""
    cwd = made_in(folder) or ""
    there = bool(cwd) and Path(cwd).is_dir()
    words: list[str] = []
    unsure: list[str] = []
    for key in relative_path_settings():
        section, _, name = key.rpartition(".")
        node: Any = saved
        for part in section.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        value = node.get(name) if isinstance(node, dict) else None
        items = value if isinstance(value, list) else [value]
        if not any(isinstance(v, str) and v.strip() and not os.path.isabs(os.path.expanduser(v)) for v in items):
            continue
        if not cwd:
            unsure.append(f"{key}: {value}")
            continue
        resolved = []
        for v in items:
            if not (isinstance(v, str) and v.strip()) or os.path.isabs(os.path.expanduser(v)):
                resolved.append(v)
                continue
            candidates = [absolute_from(v, cwd)]
            out_dir = (saved.get("run") or {}).get("out_dir") if isinstance(saved.get("run"), dict) else None
            if key == "run.reuse" and isinstance(out_dir, str) and out_dir:
                candidates.append(absolute_from(os.path.join(os.path.expanduser(out_dir), v), cwd))
                candidates = [c for c in candidates if (Path(c) / "stages.json").is_file()] or candidates[:1]
            resolved.append(candidates[0])
        if not there and not all(os.path.exists(v) for v in resolved if isinstance(v, str)):
            unsure.append(f"{key}: {value}")
            continue
        text = ("[" + ", ".join(str(v) for v in resolved) + "]") if isinstance(value, list) else resolved[0]
        words.append(f"{key}={text}")
    if not unsure:
        return words, ""
    where = (f"{cwd}, the folder the run was made in, which is gone" if cwd else
             "the folder the run was made in, which its records do not name")
    return words, (f"its config.yaml keeps {'; '.join(unsure)} as typed, relative to {where}: add "
                   f"{' '.join(u.split(':')[0] + '=ABSOLUTE_PATH' for u in unsure)} to the command, "
                   f"typed as absolute paths (relative ones are read from the folder you run it in)")


def resume_in_place_command_and_note(run_dir: str | os.PathLike[str], more: Sequence[str] = (),
                                     in_file: bool = False) -> tuple[str, str]:
    """``python -m drac_ssl.train -c RUN/config.yaml run.out_dir=<its parent> run.name=<its
    name>`` (absolute paths, quoted for the shell), the run's relative path settings typed
    absolutely (:func:`_absolute_path_words`), ``more`` words after them: the command that
    resumes the run folder ``run_dir`` where it is, with its own settings, from any folder,
    whatever folder or tree made it (a copied or moved run folder included); and a note, ""
    when none: the relative path settings it could not type absolutely (the folder the run was
    made in gone), which must be added. ``in_file``: for a file read later (no absolute
    interpreter path, :func:`drac_ssl.starting.python_command`)."""
    from drac_ssl.config import shell_word

    full = Path(run_dir).resolve()
    paths, note = _absolute_path_words(full)
    command = " ".join([python_command("drac_ssl.train", in_file=in_file), *(
        shell_word(a) for a in ["-c", str(full / "config.yaml"), f"run.out_dir={full.parent}",
                                f"run.name={full.name}", *paths, *more])])
    return command, note


def resume_in_place_command(run_dir: str | os.PathLike[str], more: Sequence[str] = (),
                            in_file: bool = False) -> str:
    """The command of :func:`resume_in_place_command_and_note`, without its note."""
    return resume_in_place_command_and_note(run_dir, more, in_file)[0]


def recorded_run_folder(run_dir: str | os.PathLike[str], cwd: str) -> Path | None:
    """The run folder that the run's recorded command, typed in ``cwd``, works on: its
    ``config.yaml``'s ``run.out_dir`` (``~`` expanded; relative: to ``cwd``) and ``run.name``,
    which that command resolved to; None when the ``config.yaml`` does not say (unreadable,
    no ``run`` section)."""
    from drac_ssl.config import read_saved_config  # here: imported without it

    run = read_saved_config(run_dir).get("run")
    if not (isinstance(run, dict) and isinstance(run.get("out_dir"), str) and isinstance(run.get("name"), str)
            and run["name"]):
        return None
    return (Path(cwd) / os.path.expanduser(run["out_dir"]) / run["name"]).resolve()


def resume_command(run_dir: str | os.PathLike[str], stages: list[str] | None = None,
                   always_cd: bool = False) -> str:
    """The command that finishes the run (:func:`resume_command_and_note`, without the note)."""
    return resume_command_and_note(run_dir, stages, always_cd)[0]


def resume_command_and_note(run_dir: str | os.PathLike[str], stages: list[str] | None = None,
                            always_cd: bool = False) -> tuple[str, str]:
    """The command that finishes the run, and a note on it ("" when none): its own last
    training command line (``invocations.jsonl``: ``argv``, each word quoted for the shell as
    the package's fixes are, :func:`drac_ssl.config.shell_word`), preceded by ``cd`` to the
    folder it ran in when that is not the current one (its relative paths start there); its
    ``-c`` word replaced by the file the run read (``config_file``) when the word would now
    read another one there, or, that file gone, by the run's own ``RUN/config.yaml`` when the
    word would now read a shipped config in its place, which the note says
    (:func:`_recorded_config`). For a run whose
    records have no ``argv`` (made before it was recorded), and for one whose recorded command
    would not work on this folder (:func:`recorded_run_folder`: its ``cwd`` gone, or its
    ``run.out_dir`` / ``run.name`` there naming another folder: a copied or moved run folder,
    whose command would resume the original, with that tree's interpreter), the
    :func:`resume_in_place_command`, which resumes it here with its own settings. ``stages``: the ``run.stages`` to run instead of the run's own (its
    ``run.stages=`` word replaced, else added at the end). ``always_cd``: the ``cd`` even from
    the folder it ran in (a file read later, from anywhere: report.md)."""
    from drac_ssl.config import shell_word

    folder = Path(run_dir)
    last = last_training(folder) or {}
    argv = last.get("argv")
    more = [f"run.stages=[{','.join(stages)}]"] if stages is not None else []
    cwd = last.get("cwd") if isinstance(last.get("cwd"), str) else ""
    recorded = isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)
    there = recorded_run_folder(folder, cwd) if recorded else None
    if recorded and (folder / "config.yaml").is_file() and (
            not (cwd and Path(cwd).is_dir()) or (there is not None and there != folder.resolve())):
        recorded = False  # an upgrade review: a copied run folder's command resumed the original
    if recorded:
        argv, note = _recorded_config(argv, last, cwd, folder)
        if more:
            argv = [a for a in argv if not a.startswith("run.stages=")] + more
        command = " ".join(shell_word(a) for a in argv)
        if cwd and (always_cd or Path(cwd) != Path.cwd()):
            command = f"cd {shell_word(cwd)} && {command}"
        return command, note
    # report.md (always_cd) is a file read later: no absolute interpreter path (python_command's in_file)
    return resume_in_place_command_and_note(folder, more, in_file=always_cd)


def _setting_of(word: str) -> str:
    """The dotted setting a command-line ``word`` overrides (``data.grades`` of
    ``data.grades=[a, b]``, of ``'data.grades = [a, b]'`` typed with spaces too, as the
    configuration reads it); '' for a word that is no ``section.key=value`` override (an
    option, a path)."""
    key, eq, _ = word.partition("=")
    key = key.strip()
    return key if eq and "." in key and not key.startswith("-") and not any(c.isspace() for c in key) else ""


def command_without(run_dir: str | os.PathLike[str], option: str, settings: list[str] | None = None,
                    config: str | None = None, drop: Sequence[str] = ()) -> str:
    """The run's last training command line (``invocations.jsonl``'s ``argv``, each word quoted
    as :func:`resume_command_and_note` quotes it, with its ``cd`` to the folder it ran in when
    that is not the current one) without the word ``option`` (``--first-try``: the full run
    after a first try), each ``key=value`` of ``settings`` in place of the typed words of the
    same setting (at the last one's place), else added at the end. Each setting is given once:
    a setting typed more than once keeps its last word, the one the configuration read; words
    are matched by the setting they set, as typed with spaces or not. ``config``: the file
    that replaces the word after ``-c`` (``--config FILE``; ``--config=FILE`` and ``-cFILE``
    too), e.g. the original file of a run's resolved ``config.yaml``. ``drop``: settings
    (``run.reuse``) whose typed words are left out. "" for a run whose records have no ``argv``."""
    from drac_ssl.config import shell_word

    last = last_training(Path(run_dir)) or {}
    argv = last.get("argv")
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
        return ""
    words, after_option = [], False
    for word in argv:
        if config is not None and after_option:
            word = config
        elif config is not None and word.startswith(("--config=", "-c")) and word not in ("-c", "--config"):
            word = f"--config={config}" if word.startswith("--config=") else f"-c{config}"
        key = "" if after_option else _setting_of(word)
        if word != option and not (key and key in drop):  # the word after -c is its file, whatever it holds
            words.append((word, key))
        after_option = word in ("-c", "--config")
    for setting in settings or []:
        key = _setting_of(setting)
        at = [i for i, (_, k) in enumerate(words) if k == key]
        if at:
            words[at[-1]] = (setting, key)
        else:
            words.append((setting, key))
    last_of = {k: i for i, (_, k) in enumerate(words) if k}
    kept = [w for i, (w, k) in enumerate(words) if not k or last_of[k] == i]
    command = " ".join(shell_word(a) for a in kept)
    cwd = last.get("cwd")
    if isinstance(cwd, str) and cwd and Path(cwd) != Path.cwd():
        command = f"cd {shell_word(cwd)} && {command}"
    return command


def unfinished(run_dir: str | os.PathLike[str], check_lock: bool = True) -> list[StageState]:
    """The stages of the run's pipeline not done (:func:`stage_states`)."""
    return [s for s in stage_states(run_dir, check_lock) if s.status != "done"]


@dataclass(frozen=True)
class Unfinished:
    """Why a run folder cannot give what a command wants of it (:func:`unfinished_state`):
    ``what`` and ``fix`` (:func:`unfinished_words`' words), and ``running``: True when its
    training still runs (a live ``python -m drac_ssl.train`` holds the run's lock,
    :func:`held_by`): a command that needs the stage should then exit as busy
    (:class:`drac_ssl.exit_codes.RunBusy`, exit 75: try again later), not as refused (exit 2). A lock left by a
    dead process is not held: ``running`` is False."""

    what: str
    fix: str
    running: bool

    def refused(self, words: str, busy: type[RunBusy] = RunBusy) -> str:
        """``words`` (the command's message: what is unfinished and the fix) as a refusal (exit
        2), returned for the caller to raise as its own error or say as a usage error; while
        the training still runs (``running``) raised as ``busy`` instead (a
        :class:`drac_ssl.exit_codes.RunBusy`, exit 75: try again later, a job script requeues).

        Raises:
            RunBusy: (``busy``) ``running`` is True."""
        if self.running:
            raise busy(words)
        return words


def unfinished_words(run_dir: str | os.PathLike[str], needs: str) -> tuple[str, str] | None:
    """:func:`unfinished_state`'s ``(what, fix)``, or None."""
    state = unfinished_state(run_dir, needs)
    return None if state is None else (state.what, state.fix)


def unfinished_state(run_dir: str | os.PathLike[str], needs: str) -> Unfinished | None:
    """Why the run folder ``run_dir`` cannot give what a command wants of it, its stage
    ``needs`` (``export``: the bundle; ``finetune``: the fine-tuned variants; ``pretrain``: the
    pretrained model) not being done, and the fix, as an :class:`Unfinished`: the stage running
    (a live training holds the run's lock: wait for it; ``running`` True), or the stages interrupted, failed, killed or not run, and the command that
    finishes the run (:func:`resume_command`, with ``run.stages`` up to ``needs`` when the run
    did not ask for it), with, for a run some stage of which is done, the command that writes
    its report.md so far (:func:`report_words`); with a damaged ``stages.json``
    (:func:`stages_record_damage`) and no training running, that damage and the way to resume
    (:func:`stages_damaged_fix`). None when ``run_dir`` is not a run folder
    (:func:`is_run_folder`) or ``needs`` is done."""
    folder = Path(run_dir)
    if not is_run_folder(folder):
        return None
    dataset = _dataset(folder)
    if dataset not in ("", "drac") and needs in ("finetune", "export"):
        # a correctness run of a generic data set: it can have no fine-tuning nor bundle (the
        # preflight refuses those stages for it), so resuming it is no fix (a review)
        return Unfinished(f"a pretraining run of data.dataset={dataset}, a check of the self-supervised "
                          f"stage, which has no {needs} stage and no model bundle (data.dataset={dataset} "
                          "is read directly by the pretraining; only ingested retinal images are graded)",
                          "evaluate its backbone with k-NN / linear probes (drac_ssl.evaluation); to grade, "
                          "pass the bundle of a run on graded retinal images (configs/drac.yaml, "
                          "configs/fundus.yaml, or a folder of your own: docs/data.md)", False)
    states = stage_states(folder)
    planned = [s.stage for s in states]
    recorded, damage = stages_record_and_damage(folder)  # one read for both
    if needs not in planned and (recorded.get(needs) or {}).get("status") == "done":
        return None
    if needs in planned and any(s.stage == needs and s.status == "done" for s in states):
        return None
    open_ = [s for s in states if s.status != "done"]
    done = [s.stage for s in states if s.status == "done"]
    # a run that did not ask for the stage: every stage it needs (finished ones are skipped),
    # and any it asked for after it
    command, note = resume_command_and_note(folder, None if needs in planned else [
        s for s in PIPELINE if s in PIPELINE[:PIPELINE.index(needs) + 1] or s in planned])
    running = next((s for s in open_ if s.status == "running"), None)
    lines = "; ".join(s.words() for s in open_)
    done_words = f"; done: {', '.join(done)}" if done else ""
    if running is None and damage is not None:  # its stages read as not run: the record of them is what is wrong
        return Unfinished(f"its {STAGES_RECORD} is damaged ({damage}), so which stages finished cannot be read",
                          stages_damaged_fix(folder, resume=command + (f" ({note})" if note else ""))
                          + "; then rerun this command", False)
    if running is not None:
        what = f"its training is still running: {lines}{done_words}"
        fix = (f"wait for it to finish (its {needs} stage writes what this command reads), then "
               f"rerun this command")
    else:
        asked = "" if needs in planned else (f"its run.stages ({','.join(planned) or 'none'}) do "
                                             f"not include {needs}")
        what = ("its training has not finished: " + "; ".join(w for w in (lines, asked) if w) + done_words
                if open_ else f"{asked}; done: {', '.join(done) or 'none'}")
        fix = (f"finish the run with its own command (it resumes where it stopped; finished "
               f"stages are skipped): {command}" + (f" ({note})" if note else "")
               + "; then rerun this command"
               + (f" (meanwhile, {report_words(folder)})" if done and open_ else ""))
    return Unfinished(what, fix, running is not None)
