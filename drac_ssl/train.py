"""The main job: ``python -m drac_ssl.train [-c CONFIG.yaml|NAME] [section.key=value ...]``.

Runs the stages named in ``run.stages`` in pipeline order, in one run folder:

    ingest -> pretrain (VICReg) -> umm -> finetune (5-fold CV) -> export

With no arguments it uses the shipped ``default.yaml`` (``configs/default.yaml``, in an
install ``drac_ssl/configs/default.yaml``): the embedded phantom UW-OCTA data (generated on
first use under ``data/phantom``) and a CPU-sized schedule. ``-c NAME`` reads the shipped
config of that name (``-c retinamnist``; :func:`drac_ssl.config.config_file`; a file given to
``-c`` always wins over a name, a folder never does), said on the console and recorded as ``config_file`` in ``environment.json`` and
``invocations.jsonl``. An install that lost its configs refuses a command without ``-c``
(exit 2, :func:`drac_ssl.config.default_config_file`), never running the built-in
:class:`~drac_ssl.config.Config` defaults.

The run folder explains itself: ``config.yaml`` (the resolved configuration),
``stages.json`` (which stages finished, when, and in how long), ``environment.json`` (the
machine, versions and command of the invocation that made it; kept when the run resumes),
``invocations.jsonl`` (one line per invocation, resumes included, with how it ended:
finished, interrupted or failed; killed, written by the next start, for one that could not
say), ``console.log`` (what this command printed, appended per
invocation) and one sub-folder per stage. Rerunning the same command
resumes: finished stages are skipped and an interrupted stage continues from its last
checkpoint (``run.keep_checkpoints=false`` removes the pretrain and UMM checkpoints once every
stage of ``run.stages`` has finished: :func:`remove_checkpoints`).

Before any stage runs, the preflight (:mod:`drac_ssl.preflight`) checks every setting of the
stages that will run against the data and the methods and lists ALL problems at once (exit
code 2); a configuration that cannot run leaves no run folder behind.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # Ctrl-C while the imports below load torch (1-3 s): one line instead of torch's traceback;
    # main() hands Ctrl-C back to Python (KeyboardInterrupt) once everything is imported
    from drac_ssl.starting import quiet_while_starting

    quiet_while_starting("train")
    # --help, a usage error, a configuration that does not read (a misspelt setting, a bad type,
    # inf): answered before torch loads (the installed drac-ssl-train: commands.train_command)
    from drac_ssl.commands import refuse_train_early

    refuse_train_early()

import contextlib
import csv
import dataclasses
import datetime as _dt
import errno
import functools
import re
import shlex
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from data_prep.pool import refuse_top_level_rerun, top_level_rerun_said
from drac_ssl import PRETRAIN_METHOD, preflight, runtime
from drac_ssl.challenge import drac_scale
from drac_ssl.collapse import forget_stage_warnings, run_collapse_warnings
from drac_ssl.commands import train_overrides, train_parser, train_preset
from drac_ssl.config import (  # noqa: F401 - load_config: train.load_config for callers
    PACKAGE_CONFIGS,
    PHANTOM_UNUSED,
    Config,
    ConfigError,
    DataConfig,
    PresetOverride,
    default_config_file,
    former_defaults_filled,
    former_defaults_words,
    from_dict,
    get,
    ingest_modality,
    load_config,
    parse_override,
    read_saved_config,
    read_yaml,
    run_name_problem,
    save_config,
    shadowed_config_words,
    to_dict,
    typed_keys,
)
from drac_ssl.console import print_lines
from drac_ssl.distributed import DistInfo, cleanup, init_distributed
from drac_ssl.exit_codes import RUN_BUSY
from drac_ssl.figures import (
    AUC_TWO_GRADES,
    KAPPA_TWO_GRADES,
    KEEP_BEST_CAVEAT,
    figure_text,
    format_ci,
    screening_figures_words,
)
from drac_ssl.grading.bundle import data_provenance, mixed_phantom_words, variant_title
from drac_ssl.io import (
    NO_SPACE_WORDS,
    REFUSED_NOTE,
    atomic_write_json,
    invocations,
    make_run_folder,
    no_space,
    read_json_dict,
    remove_stale_temporaries,
    sha256_file,
    stdout_survives,
    unreadable_words,
    writing,
    written_file,
)
from drac_ssl.preflight import PIPELINE, Finding
from drac_ssl.run_state import (
    CHECKPOINT_STAGES,
    STAGES_RECORD,
    SavedCheckpoint,
    checkpoint_saved,
    command_without,
    finetune_saved_on_disk,
    first_training,
    is_run_folder,
    killed_attempt_seconds,
    killed_training_seen,
    made_in,
    read_stages_record,
    recorded_threads,
    report_words,
    resume_in_place_command_and_note,
    saved_checkpoint,
    selected_metrics,
)
from drac_ssl.runtime import (
    InterruptedOutsideStage,
    NonFiniteError,
    StageInterrupted,
    apply_thread_policy,
    checkpoint_interrupted,
    dataloader_workers,
    environment_info,
    interrupted_words,
    record_end,
    record_start,
    same_code,
)
from drac_ssl.selection import deciding_referral, ranking_figures
from drac_ssl.stage_settings import (
    FOLD_SETTINGS,
    REUSABLE_STAGES,
    IngestRecord,
    comparable,
    config_differences,
    data_channels_resolved,
    edited_config_words,
    fold_dependence,
    fold_lines,
    ingest_record,
    last_checkpoint,
    parse_difference_line,
    reads,
    saved_settings,
    stage_ran_with,
    taken_fold_settings,
)
from drac_ssl.starting import (
    MEMORY_FIXES,
    OUT_OF_MEMORY_EXIT,
    exit_on_signal,
    hold_signals_if_command,
    interrupt_exit_code,
    is_out_of_memory,
    mark_own_process,
    out_of_memory_words,
    started,
    stop_signal_handlers_given_back,
)
from drac_ssl.torch_pair import require_torch_pair  # stdlib only
from drac_ssl.trial_run import (
    EPOCH_SETTINGS,
    FIRST_TRY,
    FIRST_TRY_KEY,
    FIRST_TRY_OPTION,
    FIRST_TRY_SIZES,
    INVOCATION_KEY,
    epoch_records,
    first_try_overrides,
    first_try_record,
    first_try_words,
    holds_first_try,
    taken_record,
    trial_run_record,
    trial_run_words,
    typed_epochs,
)

__all__ = ["RunFolderWriteError", "TrainingInProgress", "UnguardedScriptLoader", "main", "run_pipeline"]
"""The public names (docs/python.md, docs/running.md): the command as a function, the pipeline
under it, the refusal of a second training in one process, the error of a run folder that
cannot be written (a full or read-only disk), and a DataLoader's workers stopped at the
script's unguarded top-level call."""

STAGE_FOLDERS = {"ingest": "data", "pretrain": "pretrain", "umm": "umm"}
LATER_NOUNS = {"finetune": "the fine-tuning", "export": "the export"}
UNCHECKED = "its images were never checked"
"""How a :class:`ReusePlan`'s ``why`` starts for a stage not taken because the run it would
be taken from took it with other folds and never checked them (:func:`check_refolded`)."""
DEFAULT_CONFIG = PACKAGE_CONFIGS / "default.yaml"
def phantom_root(cfg: Config) -> Path:
    """:func:`drac_ssl.preflight.phantom_root`: where an empty ``data.root``'s phantom set is
    (the preflight checks it can be written before any stage runs)."""
    return preflight.phantom_root(cfg)


def phantom_start_line(root: Path, images: int, reused: bool) -> str:
    """The ingest's first line when an empty ``data.root`` runs on the phantom set in ``root``
    (:func:`phantom_root`): that it is generated (``images``: the number of images, train and
    test) into that folder, by its absolute path (``root`` may be relative to the current
    folder), or ``reused`` from it (complete, :func:`data_prep.phantom.holds_set`: its
    ``phantom.json``, written last, and every image are there). A trial user read "using the
    embedded phantom set" as a set inside the package, and found 846 MB of images written into
    ./data/phantom; another found its size said only once written: the line says it up front, an
    estimate (:data:`data_prep.phantom.PNG_MIB_ESTIMATE` per image)."""
    from data_prep.phantom import PNG_MIB_ESTIMATE

    where = root.absolute()
    if reused:
        return f"[ingest] data.root is empty: reusing the embedded phantom UW-OCTA set generated earlier in {where}"
    return (f"[ingest] data.root is empty: generating the embedded phantom UW-OCTA set ({images} synthetic "
            f"images, about {images * PNG_MIB_ESTIMATE:.0f} MiB, an estimate at {PNG_MIB_ESTIMATE} MiB per "
            f"image) into {where}, under the current folder")


def phantom_size_line(root: Path) -> str:
    """``note: the phantom set data/phantom/... (807.3 MiB) can be deleted ...``: the phantom set's
    folder by its absolute path, what removing it frees (:func:`_freed_mib`), and that a run
    without ``data.root`` makes it again; said at the end of a run on it, beside the first try's
    own folder (:func:`first_try_size_line`), which a trial user read as the only thing to
    delete."""
    freed, shared = _freed_mib(root)
    also = f"; {shared:.1f} MiB more are hard links another folder holds" if shared else ""
    return (f"note: the phantom set {root.absolute()} ({freed:.1f} MiB{also}) can be deleted too once no "
            f"run needs it: later runs from this folder without data.root reuse it, or generate it again")


def stage_ingest(cfg: Config, run_dir: Path) -> dict[str, Any]:
    if cfg.data.dataset != "drac":
        print(f"[ingest] {cfg.data.dataset}: generic datasets are read directly from {cfg.data.root}; nothing to ingest")
        return {"skipped": "generic dataset"}
    from data_prep import cache, ingest, phantom

    cache.DECODED.wanted, cache.DECODED.kept, cache.DECODED.reused = -1, 0, 0  # none of an earlier run's
    data_cfg = cfg.data
    phantom_seconds = None
    if not data_cfg.root:
        root = phantom_root(cfg)
        # complete as generate() would reuse it: a phantom.json with images deleted is generated again
        reused = phantom.holds_set(root, data_cfg.phantom_n_train, data_cfg.phantom_n_test, data_cfg.phantom_seed)
        print(phantom_start_line(root, data_cfg.phantom_n_train + data_cfg.phantom_n_test, reused))
        t0 = time.perf_counter()
        phantom.generate(root, n_train=data_cfg.phantom_n_train, n_test=data_cfg.phantom_n_test,
                         seed=data_cfg.phantom_seed, workers=data_cfg.workers)
        # part of the stage's seconds in stages.json (0 when the set was there already)
        phantom_seconds = round(time.perf_counter() - t0, 1)
        if not reused:  # generated now: what it took
            print(f"[ingest] the phantom set takes {_freed_mib(root)[0]:.1f} MiB in {root.absolute()}")
        # its own DRAC layout and label CSV: a real data set's (said unused by the preflight) not
        # applied to it, which stopped its ingest after the images were made
        defaults = DataConfig()
        data_cfg = dataclasses.replace(data_cfg, root=str(root), **{
            key.split(".", 1)[1]: getattr(defaults, key.split(".", 1)[1]) for key in PHANTOM_UNUSED})
    # the fundus recipe (not the default) says what the images are: a plain folder of fundus
    # photographs ingested as grey is still fundus (no UW-OCTA checks or wording)
    data_cfg = dataclasses.replace(data_cfg, modality=ingest_modality(to_dict(cfg)))
    from data_prep.problems import as_config_keys

    # said in this command's terms: settings, not the ingest's flags
    result = ingest.run(data_cfg, run_dir / "data", wording=as_config_keys)
    if result.problems:
        raise ValueError(f"ingest found {len(result.problems)} problem(s); see the lines above")
    return {"n_train": result.n_train, "n_test": result.n_test,
            **({"n_unlabelled": result.n_unlabelled} if result.n_unlabelled else {}),
            **({"phantom_seconds": phantom_seconds} if phantom_seconds is not None else {}),
            "manifest": str(result.manifest_path),
            # the manifest as the stage left it: a resume refuses one another ingest wrote over
            # since (python -m data_prep ingest --out RUN/data; drac_ssl.preflight.changed_ingest_outputs)
            "manifest_sha256": sha256_file(result.manifest_path)}


def _epochs(best_epoch: int, history: list[dict[str, Any]]) -> dict[str, Any]:
    """The best epoch as the console and the report count it (from 1), and how many ran;
    ``metrics.csv``, ``metadata.json`` and the checkpoints hold the epoch index (from 0)."""
    return {"best_epoch": best_epoch + 1 if best_epoch >= 0 else None, "epochs_run": len(history),
            "epochs_counted_from": 1}


def stage_pretrain(cfg: Config, run_dir: Path) -> dict[str, Any]:
    from drac_ssl import pretrain

    result = pretrain.run(cfg, run_dir)
    return {"backbone": str(result.backbone_path), **_epochs(result.best_epoch, result.history),
            "stopped": result.stopped}


def stage_umm(cfg: Config, run_dir: Path) -> dict[str, Any]:
    if not cfg.umm.enabled:
        print(f"[umm] umm.enabled=false: skipped; fine-tuning starts from the {PRETRAIN_METHOD} backbone")
        return {"skipped": "umm.enabled=false"}
    from drac_ssl import umm

    result = umm.run(cfg, run_dir)
    return {"backbone": str(result.backbone_path), **_epochs(result.best_epoch, result.history),
            "stopped": result.stopped}


def stage_finetune(cfg: Config, run_dir: Path) -> dict[str, Any]:
    from drac_ssl import finetune

    result = finetune.run(cfg, run_dir)
    taken = {name: v.metrics["folds_taken_from"] for name, v in result.variants.items()
             if v.metrics.get("folds_taken_from")}  # run.reuse: folds trained in another run folder
    return {"comparison": str(result.comparison_path), "selected": result.selected,
            **({"folds_taken_from": taken} if taken else {})}


def stage_export(cfg: Config, run_dir: Path) -> dict[str, Any]:
    from drac_ssl import export

    result = export.run(cfg, run_dir)
    return {"bundle": str(result.bundle_dir), "submission": str(result.submission_path or ""),
            "n_test": result.n_test, "notes": result.notes}


STAGES: dict[str, Callable[[Config, Path], dict[str, Any]]] = {
    "ingest": stage_ingest,
    "pretrain": stage_pretrain,
    "umm": stage_umm,
    "finetune": stage_finetune,
    "export": stage_export,
}


def resolve_run_dir(cfg: Config) -> Path:
    name = cfg.run.name or f"{cfg.data.dataset}-{_dt.datetime.now():%Y%m%d-%H%M%S}"
    return Path(cfg.run.out_dir) / name


def _ingest_modality_change(saved: dict[str, Any], cfg: Config, run_dir: Path) -> tuple[str, str] | None:
    """``(before, now)``: the :func:`ingest_modality` of a run folder's ``saved`` settings and of
    ``cfg``, when they differ in what the ingest would do; None when not. A saved ``auto`` the
    ingest resolved to the very modality ``cfg`` now gives (``ingest_summary.json``'s
    ``modality.value``: colour photographs read as fundus) is no change: the ingest made what
    it would make now (the fix ``pretrain.augment.recipe=fundus`` after the
    ingest, said to reuse it, was refused as ``auto -> fundus``)."""
    before, now = ingest_modality(saved), ingest_modality(to_dict(cfg))
    if before == now:
        return None
    if before == "auto":
        modality = (read_json_dict(run_dir / "data" / "ingest_summary.json") or {}).get("modality")
        if isinstance(modality, dict) and modality.get("value") == now:
            return None
    return before, now


def _reverts(diffs: list[str] | tuple[str, ...]) -> str:
    """``"data.near_duplicate_mse back to 0.0001"``: what a fix that starts from an earlier
    run's config.yaml puts back, for the differing settings ``diffs`` ("key: old -> new")."""
    return ", ".join(f"{key} back to {old}" if old else key
                     for key, old, _ in map(parse_difference_line, diffs))


def _command_changes(settings: list[tuple[str, str]], sources: dict[str, str] | None) -> str:
    """:func:`drac_ssl.runtime.command_changes` of ``settings`` with the settings typed on
    this command line (``sources`` of :func:`preflight.read_config`)."""
    return runtime.command_changes(settings, preflight.user_typed(sources))


FIRST_TRY_DIFFS_SHOWN = 4
"""How many differing settings the refusal of a first try in an earlier first try's folder
lists before "... and N more" (:func:`_existing_run_problem`)."""


_READ_HERE: Any = object()
"""The default of a ``first_try`` argument (:func:`_existing_run_problem`,
:func:`_check_before_start`): the run folder's record not read yet, read where it is needed."""


def _existing_run_problem(cfg: Config, run_dir: Path, sources: dict[str, str] | None = None,
                          first_try: dict[str, Any] | None = _READ_HERE) -> str:
    """Why ``run_dir`` (an earlier run) cannot be resumed with ``cfg``; empty when it can.

    Outputs of different configurations are never mixed: a changed setting is refused, except
    that a folder holding only the ingest output (the state after a problem found right after
    the ingest) accepts any change outside ``data.*``, the only settings the ingest reads.
    ``sources`` (of :func:`drac_ssl.preflight.read_config`) tells which settings were typed on
    this command line: rerunning with the saved config, offered as a fix, says which of those
    it puts back (a trial took it for a fix that keeps them). ``first_try``: the folder's
    :func:`~drac_ssl.trial_run.first_try_record`, as :func:`run_pipeline` read it once for the
    run (default: read here)."""
    saved = run_dir / "config.yaml"
    if not saved.exists():
        return ""
    try:
        old = read_saved_config(run_dir, strict=True)
        # damaged, its stages would read as none done: the preflight would check the data
        # again (a finished run's moved images) instead of naming the file
        read_stages_record(run_dir, strict=True)
    except ConfigError as exc:  # damaged: which file, where, and the fix
        return f"{exc}\n  or: choose another run.name to start a new run"  # the fix ends in "."
    except OSError as exc:  # a folder of that name, no permission: the file, not a traceback (review R5)
        return (f"{exc.filename or run_dir / STAGES_RECORD}: cannot be read ({exc.strerror or exc}).\n  fix: "
                f"make it a file this account may read (a folder of that name is no record of drac_ssl's: "
                f"move it away), then rerun the same command\n  or: choose another run.name to start a new run")
    edited = edited_config_words(run_dir, old)
    if edited:  # config.yaml is not what the stages ran with: comparing with it misleads
        return edited
    before, now = saved_settings(old), to_dict(cfg)
    record = _kept_ingest(cfg, run_dir)
    if record is not None:  # the stages read the ingest, not these settings: both sides as it applied them
        # (config.yaml of a folder made before may hold a value given and never applied, review F1), but
        # for a value of this command's own that the run does not take at the ingest's (a change: refused)
        before, now = record.applied(before), record.applied(now, record.differences(now["data"]))
    diffs = config_differences(comparable(data_channels_resolved(before, run_dir), made_in(run_dir)),
                                comparable(data_channels_resolved(now, run_dir)))
    if not preflight.blocking_outputs(run_dir):
        if not (run_dir / "data" / "manifest.csv").exists():
            return ""  # nothing finished (e.g. an ingest stopped by a bad file): any change is fine
        diffs = [d for d in diffs if d.startswith("data.")]
        change = _ingest_modality_change(saved_settings(old), cfg, run_dir)
        if change:  # the one setting outside data.* the ingest reads
            diffs.append(f"the ingest's data.modality (auto: pretrain.augment.recipe=fundus "
                         f"means fundus): {change[0]} -> {change[1]}")
    if not diffs:
        return ""
    # what run.reuse would take into a new run folder (plan_reuse): the finished stages, in
    # pipeline order, up to the first unfinished or changed one (a generic data set's
    # pretraining-only run has no ingest: nothing)
    plan = _takeable_stages(preflight._status(run_dir), diffs, run_dir, cfg)
    later, stopped, why = plan.stages, plan.stopped_at, plan.why
    if stopped == "ingest" and why and why[0] in diffs:
        because = (f"its first stage, the ingest, differs ({', '.join(parse_difference_line(d)[0] for d in why)}), "
                   f"and every later stage is built on its output (the manifest and folds)"
                   + (f"; the folds alone would not stop the pretraining from being taken, but here "
                      f"{plan.fold_bound}" if plan.fold_bound else ""))
    else:
        because = f"its {stopped} stage comes first, and {'; '.join(why)}" if stopped and why else ""
    # a folds-only change stopped by a later stage: the sentence run.reuse's refusal says too
    nothing = plan.fold_blocked_sentence() or (f"{NOTHING_TAKEN}{': ' + because if because else ''}")
    refold = (f" (the ingest runs again for the new folds: {', '.join(parse_difference_line(d)[0] for d in plan.refold)}"
              f" change{'s' if len(plan.refold) == 1 else ''} only the folds, which {' and '.join(later)} "
              f"never read)" if plan.refold else "")
    new_run = runtime.new_run_pairs(run_dir)  # run.name=NAME-2, run.reuse=RUN
    branch = (f"; or keep this run and start a new one that takes its finished {', '.join(later)} "
              f"stage(s) instead of running them again{refold}: "
              f"{_command_changes(new_run, sources)}" if later else
              f" ({nothing}; to keep it, start the new run beside it: {_command_changes(new_run[:1], sources)})")
    typed = preflight.user_typed(sources)  # not --first-try's: the saved config puts back what the user changed
    meant = [d for d in diffs if parse_difference_line(d)[0] in typed]
    # the run's relative data paths typed absolutely (read from the folder it was made in):
    # from another folder the bare -c RUN/config.yaml reads them from there and is refused again
    rerun, rerun_note = resume_in_place_command_and_note(run_dir)
    rerun += f" ({rerun_note})" if rerun_note else ""
    every = bool(meant) and len(meant) == len(diffs)  # all typed here: the saved config undoes them
    if first_try is _READ_HERE:
        first_try = first_try_record(run_dir)
    if _first_try_dropped(run_dir, sources, {parse_difference_line(d)[0] for d in diffs}, first_try):
        # the full run after a first try in the same folder: a folder of its own, first (review F3)
        fix = (f"start the full run beside it: {_command_changes(new_run[:1], sources)} ({run_dir} is a tiny "
               f"first try, made with {FIRST_TRY_OPTION}; this command has none); or add {FIRST_TRY_OPTION} "
               f"to your command to resume that first try")
        return (f"{saved}: this run folder was made with a different configuration:\n     "
                + "\n     ".join(diffs) + "\n     fix: " + fix + (branch if later else ""))
    if getattr(sources, "presets", None) and first_try is not None:
        # a first try of another configuration in an earlier first try's folder (both name it
        # first-try): a folder of its own first, and the differences shortened (a trial user
        # had 22 lines, then "rerun with the saved config" first and the fix that works last)
        shown = diffs[:FIRST_TRY_DIFFS_SHOWN] + ([f"... and {len(diffs) - FIRST_TRY_DIFFS_SHOWN} more "
                                                  f"(all of them: compare {saved})"]
                                                 if len(diffs) > FIRST_TRY_DIFFS_SHOWN else [])
        fix = (f"start this first try beside it: {_command_changes(new_run[:1], sources)} ({run_dir} is "
               f"an earlier {FIRST_TRY_OPTION} of another configuration); or rerun with its saved config: {rerun}")
        return (f"{saved}: this run folder was made with a different configuration:\n     "
                + "\n     ".join(shown) + "\n     fix: " + fix + (branch if later else ""))
    epochs_fix = _unfinished_epochs_fix(diffs, run_dir, rerun)
    if epochs_fix:  # no "rerun with the saved config": that file is the way, given the count
        return (f"{saved}: this run folder was made with a different configuration:\n     "
                + "\n     ".join(diffs) + "\n     fix: " + epochs_fix + "; or choose another run.name to start a "
                "new run with that count" + branch)
    fix = ("choose another run.name to start a new run"
           + (" with " + ", ".join(parse_difference_line(d)[0] for d in meant) + " as given" if every else "")
           + ", or rerun with the saved config"
           + (f" (it puts {_reverts(meant)}, which this command changes)" if meant else "")
           + f": {rerun}")
    return (f"{saved}: this run folder was made with a different configuration:\n     "
            + "\n     ".join(diffs) + "\n     fix: " + fix + branch)


def _unfinished_epochs_fix(diffs: Sequence[str], run_dir: Path, rerun: str) -> str:
    """The first words of the fix when every difference is the epochs of an unfinished
    pretraining or UMM (``pretrain.epochs: 4 -> 6`` typed for a stage not done): that count in
    the run folder's config.yaml resumes it (the edited file is compared with what the stages
    ran with, where an unfinished stage's epochs may change: docs/running.md), while the command
    line is compared with the file; ``rerun`` is the command that reads it. "" otherwise.
    Accepting the typed count instead was not chosen: config.yaml is the run's one record of
    its settings, and the docs' "more pretrain.epochs / umm.epochs resume an unfinished stage"
    speaks of it (review F6)."""
    status = preflight._status(run_dir)
    counts = []
    for diff in diffs:
        key, _, new = parse_difference_line(diff)
        stage = key.split(".", 1)[0]
        if key not in ("pretrain.epochs", "umm.epochs") or (status.get(stage) or {}).get("status") == "done":
            return ""
        counts.append(({"pretrain": "pretraining", "umm": "UMM"}[stage], f"epochs: {new} under {stage}:"))
    return (f"to train the unfinished {' and '.join(n for n, _ in counts)} to that count in this run (it "
            f"resumes from the epochs saved), write it into {run_dir / 'config.yaml'} "
            f"({'; '.join(c for _, c in counts)}) and rerun with that file: {rerun}")


def _kept_ingest(cfg: Config, run_dir: Path) -> IngestRecord | None:
    """The record of the ingest in ``run_dir/data`` when ``cfg``'s stages read it without
    running it again (:func:`drac_ssl.stage_settings.ingest_record`; None for a generic data
    set, ``run.stages`` with the ingest, no ingest there)."""
    if cfg.data.dataset != "drac" or "ingest" in cfg.run.stages:
        return None
    return ingest_record(run_dir)


def _unapplied_in_config(cfg: Config, run_dir: Path) -> tuple[dict[str, Any], dict[str, tuple[Any, Any]]]:
    """``run_dir/config.yaml``'s settings and those of them the ingest in ``run_dir/data`` never
    applied (setting -> ``(config.yaml's value, the ingest's)``), when ``cfg``'s stages read
    that ingest without running it (:func:`_kept_ingest`): a folder made before such values
    were recorded as the ingest's (review F1: ``data.cache_sizes: [256, 512]`` there, 256 px
    ingested). Settings left at a default that names nothing (:meth:`IngestRecord.unset`, an
    empty ``data.root``) are not among them. ``({}, {})`` without config.yaml, or one that does
    not read."""
    record = _kept_ingest(cfg, run_dir)
    if record is None or not (run_dir / "config.yaml").is_file():
        return {}, {}
    saved = read_saved_config(run_dir)
    if not saved:
        return {}, {}
    old = saved_settings(saved)
    data = old.get("data") if isinstance(old.get("data"), dict) else {}
    # a setting left at its default that names nothing (data.root: '' of configs/drac.yaml after a
    # standalone ingest, docs/data.md) was not "never applied": the ingest's, said by nobody
    return old, {setting: values for setting, values in record.differences(data, made_in(run_dir)).items()
                 if not IngestRecord.unset(setting, data)}


def _takeable_stages(status: dict[str, Any], diffs: list[str], source: Path,
                     cfg: Config | None = None) -> ReusePlan:
    """The stages ``run.reuse`` can take from run folder ``source`` (its ``stages.json``
    ``status``), given the settings that differ (``"key: old -> new"`` lines): those of
    :data:`REUSABLE_STAGES`, in pipeline order, up to the first that did not finish there or
    whose settings differ.

    When the ingest differs only in :data:`~drac_ssl.stage_settings.FOLD_SETTINGS` (``cfg``
    given, an ingested data set whose ``run.stages`` runs the ingest), the ingest is not
    taken but runs again for the new folds, and the later stages are taken while their other
    settings are equal and no choice of theirs watches a figure read from the folds
    (:func:`~drac_ssl.stage_settings.fold_dependence`): the plan's ``refold``. When none can
    be taken that way because the pretraining depends on the folds, the ingest is where it
    stops (``fold_bound`` says why); when something else stops the first later stage (its
    own settings, unfinished there), that stage is, with ``refold`` kept
    (:meth:`ReusePlan.fold_blocked_words`): the folds alone would not have stopped it."""
    taken: list[str] = []
    refold: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    measured_in = source  # the run that ran the pretraining (a chain of reuses: its origin)

    def stop(stage: str, why: tuple[str, ...], bound: str = "") -> ReusePlan:
        if refold and not taken and bound:  # the pretraining depends on the folds: their change stops it
            return ReusePlan(source, (), "ingest", refold, fold_bound=bound)
        if refold and not taken:  # the folds alone would not stop it: ``stage`` does (review F4)
            return ReusePlan(source, (), stage, why, refold=refold)
        return ReusePlan(source, tuple(taken), stage, why, refold=refold, fold_figures=figures,
                         figures_from=measured_in)

    for stage, prefixes in REUSABLE_STAGES.items():
        entry = status.get(stage)
        if not (isinstance(entry, dict) and entry.get("status") == "done"):
            return stop(stage, (f"it has not finished in {source}",))
        skipped = isinstance(entry.get("outputs"), dict) and entry["outputs"].get("skipped")
        if not skipped and not (source / STAGE_FOLDERS[stage]).is_dir():  # deleted to be redone
            return stop(stage, (f"its output folder {source / STAGE_FOLDERS[stage]} is gone",))
        other = entry.get("other_folds")
        if isinstance(other, dict) and not str(other.get("images", "")).startswith("the same"):
            # taken there with other folds, and the check after its ingest never ran: a run
            # taking it now would check against that ingest, not the one it learnt from
            return stop(stage, (f"{UNCHECKED} in {source}: it was taken there from "
                                f"{entry.get('reused_from') or other.get('ingest_of')} with other folds, "
                                f"and {source} stopped before the check after its ingest (rerun that "
                                f"run's command: it checks them first)",))
        blocking = [d for d in diffs if reads(prefixes, parse_difference_line(d)[0])
                    and not (refold and parse_difference_line(d)[0] in FOLD_SETTINGS)]
        if (stage == "ingest" and blocking and cfg is not None and not skipped
                and cfg.data.dataset == "drac" and "ingest" in cfg.run.stages
                and all(parse_difference_line(d)[0] in FOLD_SETTINGS for d in blocking)):
            refold = tuple(blocking)  # the ingest runs here for the new folds; the rest may be taken
            continue
        if blocking:
            return stop(stage, tuple(blocking))
        if refold and cfg is not None:
            bound, read = fold_dependence(stage, cfg)
            if bound:
                return stop(stage, (f"it depends on the folds: {bound}",), bound)
            figures += tuple(f for f in read if f not in figures)
            if read:
                measured_in = Path(str(entry.get("reused_from") or source))
        taken.append(stage)
    return ReusePlan(source, tuple(taken), "", (), refold=refold, fold_figures=figures,
                     figures_from=measured_in)


NOTHING_TAKEN = "nothing in it can be taken into a new run"
"""How every refusal says that ``run.reuse`` could take nothing from the run folder it names
(``run.reuse=RUN``, or the run folder a changed configuration is refused in), before why."""

# where the full run's time is said, a hand-measured run labelled with its machine and data (the
# first try's next: line points here; an estimate of the pretraining's steps alone, there before,
# was 1.8x too low for a trial user and left UMM out)
FULL_RUN_TIME_DOC = "docs/own_fundus_folder.md#full-run-time"
# the same for UW-OCTA images (the DRAC recipe): the README's measured times, a GPU job (the
# fundus page's run is 30 photographs on a CPU)
OCTA_RUN_TIME_DOC = "README.md#how-long"


def full_run_time_doc(run_dir: Path) -> str:
    """Where the first try's ``next:`` line points for the full run's time: for UW-OCTA images
    (the ingest of ``run_dir`` recorded them so: DRAC's) :data:`OCTA_RUN_TIME_DOC`, else (fundus
    photographs, no ingest recorded) :data:`FULL_RUN_TIME_DOC`."""
    from drac_ssl.scale import read_ingest_facts

    data = run_dir / "data"
    octa = (data / "ingest_summary.json").is_file() and read_ingest_facts(data).modality == "octa"
    return OCTA_RUN_TIME_DOC if octa else FULL_RUN_TIME_DOC


@dataclasses.dataclass(frozen=True)
class ReusePlan:
    """What ``run.reuse`` takes from another run folder (:func:`plan_reuse`)."""

    source: Path
    stages: tuple[str, ...]  # taken, pipeline order (a prefix of REUSABLE_STAGES, or after the ingest: refold)
    stopped_at: str  # the first reusable stage not taken; "" when all were
    why: tuple[str, ...]  # why it was not: the differing settings, or that it had not finished
    # the ingest differs only in its folds ("key: old -> new" of FOLD_SETTINGS): it runs here
    # for the new folds, and ``stages`` (after it) are taken, made on the same images
    refold: tuple[str, ...] = ()
    # the figures the taken stages recorded that read the folds (FOLD_LABEL_FIGURES): measured
    # on the source's folds, not this run's
    fold_figures: tuple[str, ...] = ()
    figures_from: Path | None = None  # the run whose folds they were measured on (that pretrained)
    # nothing was taken though the ingest differs only in its folds: why the pretraining (or
    # UMM) depends on them ("" when it does not, e.g. it differs in its own settings too)
    fold_bound: str = ""
    # the stages after the taken ones that this run's run.stages runs (finetune, export)
    later_here: tuple[str, ...] = ("finetune", "export")

    def unfinished(self) -> bool:
        """Whether the stage where it stopped could not be taken for its state in the source
        (unfinished, its output folder gone, its images never checked), not its settings."""
        return any(w.startswith(("it has not finished", "its output folder", UNCHECKED)) for w in self.why)

    def fold_blocked_words(self) -> str:
        """Why nothing can be taken when the ingest differs only in its folds (``refold``) and
        the first later stage is stopped by something else (its own settings, its state in
        the source): the folds alone would not have stopped it. "" for any other plan."""
        if not self.refold or self.stages or self.stopped_at in ("", "ingest"):
            return ""
        state = (f"cannot be taken: {'; '.join(self.why)}" if self.unfinished() else
                 f"differs too ({'; '.join(self.why)})")
        return (f"its ingest differs only in the folds ({'; '.join(self.refold)}), which alone would not "
                f"stop its pretraining from being taken (the ingest would run here for the new folds), "
                f"but its {self.stopped_at} stage {state}")

    def fold_blocked_sentence(self) -> str:
        """The one sentence that says nothing can be taken because of
        :meth:`fold_blocked_words` (a folds-only change stopped by a later stage), as both
        refusals say it: ``python -m drac_ssl.train`` on the run folder itself
        (:func:`_existing_run_problem`) and ``run.reuse`` naming it (:func:`_check_before_start`).
        "" for any other plan."""
        words = self.fold_blocked_words()
        return f"{NOTHING_TAKEN}: {words}" if words else ""

    def describe(self) -> str:
        taken = ", ".join(self.stages) or "nothing"
        fold = ""
        if self.refold:
            fold = (f"; the ingest runs here, as the two runs differ in it only by the folds "
                    f"({'; '.join(self.refold)}), which {' and '.join(self.stages)} never read "
                    f"(no grade, the same images: checked once the ingest has run); "
                    + (f"their figures {', '.join(self.fold_figures)} (the k-NN monitor's: "
                       f"pretrain/metrics.csv, metadata.json, the plots) were measured on "
                       f"{self.figures_from or self.source}'s folds, not this run's"
                       if self.fold_figures else "they recorded no figure that reads the folds "
                       "(pretrain.knn_every=0: no k-NN monitor)")
                    + ("; " + " and ".join(LATER_NOUNS[s] for s in self.later_here)
                       + f" run{'s' if len(self.later_here) == 1 else ''} here on the new folds"
                       if self.later_here else "; run.stages runs no fine-tuning or export here: "
                       "nothing uses the new folds yet"))
        rest = (f"; {self.stopped_at} and later stages run here ({'; '.join(self.why)})"
                if self.stopped_at else "")
        return f"takes {taken} from {self.source}{fold}{rest}"


def _is_run_folder(path: Path) -> bool:
    return (path / "config.yaml").is_file() and (path / STAGES_RECORD).is_file()


def reuse_source(cfg: Config) -> Path:
    """The run folder ``run.reuse`` names, absolute: the path as given (relative to the
    working folder), else a run of that name in ``run.out_dir`` (``run.reuse=base``).

    Raises:
        ConfigError: neither is a run folder; the fix names the closest run folder there.
    """
    given = Path(os.path.expanduser(cfg.run.reuse))
    candidates = [given] + ([Path(cfg.run.out_dir) / given] if not given.is_absolute() else [])
    for path in candidates:
        if _is_run_folder(path):
            return Path(os.path.abspath(path))
    import difflib

    out_dir = Path(cfg.run.out_dir)
    runs = sorted(p.name for p in out_dir.iterdir() if _is_run_folder(p)) if out_dir.is_dir() else []
    close = difflib.get_close_matches(given.name, runs, n=1)
    where = " or ".join(str(p) for p in candidates)
    fix = (f"run.reuse={out_dir / close[0]} (the closest run folder in {out_dir})" if close else
           f"run.reuse=the folder of an earlier run (a path, or a run name in run.out_dir={out_dir}"
           + (f": {', '.join(runs[:8])}" if runs else ", which holds none") + ")")
    raise ConfigError(f"{where} is not a run folder of python -m drac_ssl.train (no config.yaml and "
                      f"stages.json there)\n  fix: {fix}")


def plan_reuse(cfg: Config, source: Path, run_dir: Path) -> ReusePlan:
    """The finished stages of run folder ``source`` that the new run folder ``run_dir`` can take:
    those of :data:`REUSABLE_STAGES`, in pipeline order, up to the first that did not finish
    there or whose settings differ from ``cfg``'s (a changed ``pretrain.*`` keeps the ingest;
    a changed ``finetune.*`` keeps all three). A change of the folds alone
    (:data:`~drac_ssl.stage_settings.FOLD_SETTINGS`) takes the pretraining and UMM and runs
    the ingest here (the plan's ``refold``; :func:`_takeable_stages`). Reads
    ``source/config.yaml`` and ``source/stages.json`` only.

    Raises:
        ConfigError: ``source`` is not a run folder, is ``run_dir`` itself, or ``run_dir``
            already holds files, or its ``config.yaml`` or ``stages.json`` is damaged
            (:func:`drac_ssl.run_state.read_stages_record`); its message ends with ``\n  fix: ...``
            (the damage's with ``\n  or: run.reuse=another run folder``), or cannot be read (a
            folder of that name, no permission: the OSError's words, the same ``or:``).
    """
    if not _is_run_folder(source):
        raise ConfigError(f"{source} is not a run folder of python -m drac_ssl.train (no config.yaml and "
                          f"stages.json there)\n  fix: run.reuse=the folder of an earlier run, e.g. "
                          f"runs/<run.name>")
    if os.path.abspath(source) == os.path.abspath(run_dir):
        raise ConfigError(f"{source} is this run's own folder\n  fix: run.reuse=another run folder, or "
                          f"leave run.reuse out to resume this one")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"{run_dir} already holds files but no config.yaml: finished stages are taken "
                          f"only into a new run folder\n  fix: choose another run.name")
    try:
        old = read_saved_config(source, strict=True)
        # damaged, its finished stages would read as none: every stage trained again, unsaid
        status = read_stages_record(source, strict=True)
    except ConfigError as exc:
        raise ConfigError(f"{exc}\n  or: run.reuse=another run folder") from None
    except OSError as exc:  # a folder of that name, no permission: the file, not a traceback
        raise ConfigError(f"{exc.filename or source / STAGES_RECORD}: cannot be read ({exc.strerror or exc}).\n"
                          f"  fix: make it a file this account may read (a folder of that name is no record of "
                          f"drac_ssl's: move it away), then rerun the same command\n"
                          f"  or: run.reuse=another run folder") from None
    # compared with a config.yaml edited after its stages ran, stages made with other settings
    # than this run's would be taken as its own
    edited = edited_config_words(source, old, then="rerun this command")
    if edited:
        raise ConfigError(edited)
    diffs = config_differences(comparable(data_channels_resolved(saved_settings(old), source), made_in(source)),
                                comparable(data_channels_resolved(to_dict(cfg), source)))
    change = _ingest_modality_change(saved_settings(old), cfg, source)
    if change:  # the one setting outside data.* the ingest reads (so every stage's)
        diffs.append(f"data.modality as the ingest reads it (recipe=fundus means fundus): {change[0]} -> {change[1]}")
    return dataclasses.replace(_takeable_stages(status, diffs, source, cfg),
                               later_here=tuple(s for s in LATER_NOUNS if s in cfg.run.stages))


def _link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str], counts: Counter[str]) -> None:
    """``dst`` as a hard link to ``src``, or a copy where one cannot be made (another file
    system); ``counts`` tallies ``linked`` / ``copied``. The package replaces finished files
    atomically and never writes into them, so a linked file stays what both runs made."""
    try:
        os.link(src, dst)
        counts["linked"] += 1
    except OSError:
        shutil.copy2(src, dst)
        counts["copied"] += 1


def _rebased(value: Any, folder: str, run_dir: Path) -> Any:
    """``value`` (a stage's outputs in stages.json) with its paths into the stage's ``folder``
    moved to ``run_dir``."""
    if isinstance(value, dict):
        return {k: _rebased(v, folder, run_dir) for k, v in value.items()}
    if isinstance(value, str) and ("/" in value or os.sep in value):
        parts = Path(value).parts
        if folder in parts:
            at = len(parts) - 1 - parts[::-1].index(folder)
            return str(run_dir.joinpath(*parts[at:]))
    return value


def take_reused_stages(plan: ReusePlan, run_dir: Path, cfg: Config) -> str:
    """Put the stages of ``plan`` into the new run folder ``run_dir``: their folders linked
    (:func:`_link_or_copy`) and ``stages.json`` entries saying ``done``, ``reused_from`` (the
    source folder), ``seconds_in_source`` and 0 seconds here, and a trial's epoch record of the
    stage (:data:`~drac_ssl.trial_run.INVOCATION_KEY`, :func:`drac_ssl.trial_run.taken_record`:
    a pretraining given 2 of 100 epochs there is a trial's here too). Returns a line for the
    console."""
    status = preflight._status(plan.source)
    entries: dict[str, Any] = {}
    counts: Counter[str] = Counter()
    make_run_folder(run_dir, cfg.run.private)  # before the stages' folders are linked into it
    link = functools.partial(_link_or_copy, counts=counts)
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    for stage in plan.stages:
        folder = STAGE_FOLDERS[stage]
        if (plan.source / folder).is_dir():  # links followed, as the stages read them
            shutil.copytree(plan.source / folder, run_dir / folder, copy_function=link, dirs_exist_ok=True)
        old = status[stage]
        taken_there = old.get("reused_from")  # a chain of reuses names the run that did the work
        entries[stage] = {"status": "done", "seconds": 0.0, "finished_utc": now,
                          "reused_from": str(taken_there or plan.source),
                          "seconds_in_source": old.get("seconds_in_source") if taken_there else old.get("seconds"),
                          "outputs": _rebased(old.get("outputs"), folder, run_dir)}
        if taken_there:
            entries[stage]["via"] = str(plan.source)
        if carried := taken_record(plan.source, stage):  # a trial's stage stays a trial's here
            entries[stage][INVOCATION_KEY] = carried
        if old.get("checkpoints_removed"):  # why its checkpoints/ is absent here too: removed there
            entries[stage]["checkpoints_removed"] = {"in": str(taken_there or plan.source),
                                                     **old["checkpoints_removed"]}
        # the code the stage ran on there: its own record, else the source run's (only when the
        # source ran it itself; a chain without a record leaves it unknown)
        source_env = read_json_dict(plan.source / "environment.json") or {}
        code = old.get("code") if isinstance(old.get("code"), dict) else (
            {"git_commit": source_env["git_commit"], "git_dirty": bool(source_env.get("git_dirty")),
             **({"code_fingerprint": source_env["code_fingerprint"]} if source_env.get("code_fingerprint") else {})}
            if source_env.get("git_commit") and not taken_there else None)
        if code:
            entries[stage]["code"] = code
        earlier = old.get("other_folds") if isinstance(old.get("other_folds"), dict) else None
        if plan.refold or earlier:  # the folds it ran with, against this run's (a chain: the first run's)
            settings = taken_fold_settings(stage_ran_with(plan.source, stage)[0],
                                           [*(earlier or {}).get("settings", []), *plan.refold], cfg)
        if plan.refold:  # made with the source's folds: the ingest runs here (check_refolded)
            entries[stage]["other_folds"] = {
                "ingest_of": str(plan.source), "settings": settings,
                "fold_figures": [f for f in plan.fold_figures if stage == "pretrain"],
                "figures_from": str(plan.figures_from or plan.source),
                "images": "not checked yet (after the ingest)"}
        elif earlier:  # taken there from a run with other folds
            entries[stage]["other_folds"] = {**earlier, "settings": settings}
    if plan.refold and (plan.source / "data" / "cache").is_dir():
        # the source's decoded images: the ingest here reuses their rows and keeps these very
        # arrays (replaced, never written into, if an image changed), then makes the new folds
        shutil.copytree(plan.source / "data" / "cache", run_dir / "data" / "cache", copy_function=link,
                        dirs_exist_ok=True)
    # finished fine-tuning folds: fine-tuning reuses those whose signature (settings, data,
    # seed, pretrained weights) matches, e.g. scratch when only the pretraining changed; none
    # with other folds (the folds are signed: every fold trains again on the new ones)
    n_folds = 0
    variants = {"vicreg"} | ({"scratch"} if cfg.finetune.compare_scratch else set()) | (
        {"vicreg_umm"} if cfg.umm.enabled else set())
    from drac_ssl.finetune import OFFERED_FOLDS

    offered: dict[str, dict[str, Any]] = {}
    for record in sorted((plan.source / "finetune").glob("*/fold*.json")):
        if record.parent.name not in variants or plan.refold:
            continue
        weights = record.with_suffix(".safetensors")
        if weights.is_file():
            (run_dir / "finetune" / record.parent.name).mkdir(parents=True, exist_ok=True)
            for path in (record, weights):
                link(path, run_dir / "finetune" / record.parent.name / path.name)
            n_folds += 1
            offered.setdefault(record.parent.name, {})[record.name] = _fold_origin(
                record, plan.source, OFFERED_FOLDS)
    for variant, folds in offered.items():  # where each offered fold was trained: said if reused
        atomic_write_json(run_dir / "finetune" / variant / OFFERED_FOLDS, folds)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / STAGES_RECORD, entries)
    files = f"{counts['linked']} file(s) hard-linked" + (f", {counts['copied']} copied" if counts["copied"] else "")
    folds = (f"; its {n_folds} finished fine-tuning fold(s) are offered to the fine-tuning, which "
             f"reuses those whose settings and inputs match (signature) and retrains the others"
             if n_folds else "")
    return f"[train] run.reuse: {plan.describe()} ({files}){folds}"


def _fold_origin(record: Path, source: Path, offered_name: str) -> dict[str, Any]:
    """The run folder where fine-tuning fold ``record`` (``<source>/finetune/<variant>/foldK.json``)
    was trained, and its signature: ``source``, or where ``source`` itself took it from (a
    chain of reuses names the run that did the work: its own ``offered_name`` file)."""
    signature = (read_json_dict(record) or {}).get("signature")
    earlier = (read_json_dict(record.parent / offered_name) or {}).get(record.name) or {}
    trained_in = earlier.get("trained_in") if earlier.get("signature") == signature else None
    return {"trained_in": str(trained_in or source), "signature": signature}


def _same_bytes(a: Path, b: Path, chunk: int = 1 << 24) -> bool:
    """Whether files ``a`` and ``b`` hold the same bytes (one file: at once; read in
    ``chunk``-byte pieces, so a cache of many GB is never in memory)."""
    if os.path.samefile(a, b):
        return True
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            one, two = fa.read(chunk), fb.read(chunk)
            if one != two:
                return False
            if not one:
                return True


def refold_inputs_missing(data: Path, size: int) -> list[Path]:
    """The files of an ingest (a ``RUN/data`` folder) that :func:`refolded_image_difference`
    compares and that are not there: its manifest and its ``size`` px cache array."""
    return [p for p in (data / "manifest.csv", data / "cache" / f"{size}px.npy") if not p.is_file()]


def refolded_image_difference(new_data: Path, old_data: Path, size: int) -> str:
    """What differs, for the pretraining and UMM, between two ingests that should differ only
    in their folds (``RUN/data`` folders, both holding their manifest and ``size`` px cache
    array: :func:`refold_inputs_missing`): the ``size`` px cache array they read
    (``pretrain.augment.source_size``: byte for byte), the manifest less its ``fold`` and
    ``fold_group`` columns (the images, their order, splits and grades), and the ingest facts
    the pretraining records (grades, channels, preprocessing, layout, modality). "" when
    nothing does.

    Only the columns both manifests have are compared: a column one of them lacks is one its
    version did not write (``pixels_sha256``, :data:`drac_ssl.manifest.PIXELS_COLUMN`, is
    absent from a manifest made before it), not an image difference; the images themselves
    are still compared by the columns both have (``id``, ``path``, ``sha256``, ``split``,
    ``grade``, ``cache_index``: :data:`drac_ssl.manifest.REQUIRED_COLUMNS`, which every manifest
    has) and by the cache array's bytes."""
    from drac_ssl.io import unguarded_cell
    from drac_ssl.manifest import REQUIRED_COLUMNS, manifest_cells_guarded
    from drac_ssl.scale import read_ingest_facts

    array = Path("cache") / f"{size}px.npy"

    def rows(data: Path) -> tuple[list[str], list[dict[str, str]]]:
        # the names themselves: a manifest guarded against spreadsheet formulas ('=a.png) and
        # one written before the guard (=a.png) name the same image alike
        guarded = manifest_cells_guarded(data / "manifest.csv")
        with open(data / "manifest.csv", newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            return list(reader.fieldnames or ()), [
                {k: unguarded_cell(v, guarded=guarded) if isinstance(v, str) else v for k, v in row.items()}
                for row in reader]

    (new_columns, new_rows), (old_columns, old_rows) = rows(new_data), rows(old_data)
    shared = set(new_columns) & set(old_columns) - {"fold", "fold_group"}
    lacking = [c for c in REQUIRED_COLUMNS if c not in shared and c != "fold"]
    if lacking:  # not a manifest of an ingest: nothing to tell the images by
        return (f"{new_data / 'manifest.csv'} or {old_data / 'manifest.csv'} lacks the column(s) "
                f"{', '.join(lacking)} (not a manifest written by the ingest)")

    def kept(table: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{k: v for k, v in row.items() if k in shared} for row in table]

    if kept(new_rows) != kept(old_rows):
        return (f"{new_data / 'manifest.csv'} differs from {old_data / 'manifest.csv'} in more than its "
                f"fold columns (the images, their order, splits or grades)")
    if read_ingest_facts(new_data).to_dict() != read_ingest_facts(old_data).to_dict():
        return (f"{new_data / 'ingest_summary.json'} records other grades, channels, preprocessing or "
                f"modality than {old_data / 'ingest_summary.json'}")
    if not _same_bytes(new_data / array, old_data / array):
        return f"{new_data / array} is not byte for byte {old_data / array} (an image changed since)"
    return ""


def check_refolded(cfg: Config, run_dir: Path, status: dict[str, Any]) -> None:
    """Once the ingest has run in a run folder that took its pretraining (and UMM) from a run
    with other folds (``run.reuse``; their ``stages.json`` entries' ``other_folds``): check
    that the new ingest holds the images those stages learnt from
    (:func:`refolded_image_difference`, against the ingest of the run they were taken from).
    The same: the entries say so (``other_folds.images``). Not the same (an image under
    ``data.root`` changed since that run): the taken stages are removed from this run folder
    (their files were links; the other run keeps its own) and ``status`` (``stages.json``),
    with a warning, so that they run here. No-op when nothing is left to check."""
    waiting = [stage for stage, entry in status.items() if isinstance(entry, dict)
               and isinstance(entry.get("other_folds"), dict)
               and not str(entry["other_folds"].get("images", "")).startswith("the same")]
    ingest = status.get("ingest")
    if not waiting or not (isinstance(ingest, dict) and ingest.get("status") == "done"):
        return
    origin = Path(str(status[waiting[0]]["other_folds"].get("ingest_of")))
    # the run that ran them (a chain: the first); its images are origin's, checked there
    made = Path(str(status[waiting[0]].get("reused_from") or origin))
    held = "" if made == origin else f", which holds those of {made} (checked there)"
    size = cfg.pretrain.augment.source_size
    gone = [*refold_inputs_missing(run_dir / "data", size), *refold_inputs_missing(origin / "data", size)]
    differs = "" if gone else refolded_image_difference(run_dir / "data", origin / "data", size)
    if not differs and not gone:
        for stage in waiting:
            status[stage]["other_folds"]["images"] = (
                f"the same: data/cache/{size}px.npy, the manifest less its fold columns and the ingest "
                f"facts are {origin}'s{held}")
        atomic_write_json(run_dir / STAGES_RECORD, status)
        print(f"[train] run.reuse: the new ingest holds the images {' and '.join(waiting)} learnt from in "
              f"{made} (data/cache/{size}px.npy byte for byte as {origin}'s{held}, the manifest the same "
              f"but for its folds): they stand as taken; the folds are this run's")
        return
    for stage in waiting:
        shutil.rmtree(run_dir / STAGE_FOLDERS[stage], ignore_errors=True)
        del status[stage]
    atomic_write_json(run_dir / STAGES_RECORD, status)
    why = (f"could not be checked against this run's ingest ({', '.join(map(str, gone))} "
           f"{'is' if len(gone) == 1 else 'are'} missing)" if gone else
           f"were made on other images than this run's ingest holds ({differs})")
    print(f"[train] warning: run.reuse: the {', '.join(waiting)} stage(s) taken from {origin} {why}: they are "
          f"removed from this run folder and run here (the other run keeps its own)", flush=True)


def _untake(run_dir: Path, created: bool) -> None:
    """Remove what :func:`take_reused_stages` put into ``run_dir`` (the whole folder when this
    invocation created it), so a folder without ``config.yaml`` never claims finished stages."""
    if created:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for name in [*STAGE_FOLDERS.values(), "finetune"]:
        shutil.rmtree(run_dir / name, ignore_errors=True)
    (run_dir / STAGES_RECORD).unlink(missing_ok=True)


def _reuse_in_existing_folder(cfg: Config, run_dir: Path) -> list[Finding]:
    """A warning when ``run.reuse`` names another source than the one this existing run
    folder took its stages from (or it took none): the setting is read only for a new folder,
    so nothing is taken now. Rerunning the command that made the folder says nothing."""
    try:
        wanted = str(reuse_source(cfg))
    except ConfigError:
        wanted = cfg.run.reuse
    status = preflight._status(run_dir)
    taken = {str(s.get("via") or s.get("reused_from")) for s in status.values()
             if isinstance(s, dict) and s.get("reused_from")}
    if wanted in taken:
        return []
    had = (f"its stages were taken from {', '.join(sorted(taken))}" if taken else "its stages ran in it")
    return [Finding("run.reuse", cfg.run.reuse,
                    f"ignored: run.reuse is read only when the run folder is new, and {run_dir} exists "
                    f"({had}); nothing is taken from {wanted}",
                    "choose another run.name to start a new run that takes stages from it",
                    severity="warning")]


def _incomplete_in_source(cfg: Config, plan: ReusePlan) -> list[Finding]:
    """An error when a stage ``plan`` takes is incomplete in its source run folder (a file it
    left is gone, :func:`drac_ssl.preflight.missing_outputs`): taking it would give the new
    run a finished stage without its output. Says the first such stage, with the fixes. Taken
    with other folds (``refold``), the source's ingest must hold what :func:`check_refolded`
    compares this run's with (its manifest and the ``pretrain.augment.source_size`` cache
    array): else nothing could check them (review F5)."""
    if plan.refold and plan.stages:
        data = plan.source / "data"
        gone = [*refold_inputs_missing(data, cfg.pretrain.augment.source_size),
                *[p for p in (data / "ingest_summary.json",) if not p.is_file()]]
        if gone:
            return [Finding("run.reuse", cfg.run.reuse,
                            f"{', '.join(plan.stages)} of {plan.source} would be taken with other folds, "
                            f"once this run's ingest is checked to hold the images they learnt from, but "
                            f"{', '.join(map(str, gone))} {'is' if len(gone) == 1 else 'are'} missing there: "
                            f"nothing could be compared",
                            f"restore {'it' if len(gone) == 1 else 'them'} in {plan.source}, or leave run.reuse "
                            f"out to run every stage here")]
    for stage in plan.stages:
        gone = preflight.missing_outputs(plan.source, stage)
        if not gone:
            continue
        folder = plan.source / STAGE_FOLDERS[stage]
        restore = f"restore {'it' if len(gone) == 1 else 'them'} in {plan.source}"
        fix = (f"{restore}, or leave run.reuse out: the ingest (and every stage) runs here"
               if stage == "ingest" else
               f"{restore}, or delete {folder} (the incomplete output) and rerun this command: "
               f"run.reuse then takes only the stages before {stage}, and {stage} and the later "
               f"stages run here")
        return [Finding("run.reuse", cfg.run.reuse,
                        f"the finished {stage} stage of {plan.source} would be taken, but its output "
                        f"there is incomplete: {', '.join(map(str, gone[:5]))}"
                        + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
                        + f" {'is' if len(gone) == 1 else 'are'} missing", fix)]
    return []


class InterruptedBeforeStart(KeyboardInterrupt):
    """Ctrl-C while the configuration was read or checked: no stage had started and nothing
    of this invocation was written (:func:`main` says so instead of "resume")."""


def _check_before_start(cfg: Config, run_dir: Path, sources: dict[str, str] | None,
                        findings: list[Finding], first_try: dict[str, Any] | None = _READ_HERE
                        ) -> tuple[str, list[Finding]]:
    """The preflight of :func:`run_pipeline` (with ``findings`` of reading the config): a
    changed configuration in an existing run folder, ``run.reuse`` (whose stages are taken
    here, and removed again when the checks refuse the run or are interrupted), then
    :func:`drac_ssl.preflight.run`. Returns the ``run.reuse`` line for the console ("" when
    nothing was taken) and the warnings. ``first_try``: ``run_dir``'s
    :func:`~drac_ssl.trial_run.first_try_record` (default: read where needed).

    Raises:
        PreflightError: any error; nothing is left in ``run_dir``.
    """
    if any(f.unread for f in findings):  # the config file was not read: no check of the defaults
        raise preflight.PreflightError(findings)
    # a run.name that is a path (the preflight refuses it): nothing outside run.out_dir is
    # compared with or taken into
    elsewhere = bool(run_name_problem(cfg.run.name, cfg.run.out_dir)[0])
    problem = "" if elsewhere else _existing_run_problem(cfg, run_dir, sources, first_try)
    if problem:  # and the changed values' own errors: the fix it offers (a new run) would meet them
        findings.append(Finding("", None, problem))
        findings += [f for f in preflight.setting_problems(cfg, sources) if f not in findings]
    plan = None
    reuse = "" if elsewhere else cfg.run.reuse  # nothing is taken into a folder outside run.out_dir
    if reuse and not (run_dir / "config.yaml").exists():  # a new run folder only
        try:
            plan = plan_reuse(cfg, reuse_source(cfg), run_dir)
        except ConfigError as exc:
            what, _, fix = str(exc).partition("\n  fix: ")
            findings.append(Finding("run.reuse", cfg.run.reuse, what, fix))
        if plan is not None:
            findings += _incomplete_in_source(cfg, plan)
        if plan is not None and not plan.stages and plan.fold_blocked_sentence():
            findings.append(Finding(
                "run.reuse", cfg.run.reuse, plan.fold_blocked_sentence(),
                ("finish it there first (rerun that run's command), or leave run.reuse out to run every "
                 "stage here" if plan.unfinished() else
                 f"make {', '.join(parse_difference_line(w)[0] for w in plan.why)} equal to that run's to take "
                 f"its {plan.stopped_at} stage with the new folds, or leave run.reuse out to run every stage "
                 f"here" + _from_source_settings(cfg, plan, sources))))
        elif plan is not None and not plan.stages:
            unfinished = plan.unfinished()
            findings.append(Finding("run.reuse", cfg.run.reuse,
                                    f"{NOTHING_TAKEN}: its {plan.stopped_at} stage "
                                    f"{'is not finished' if unfinished else 'differs'} ({'; '.join(plan.why)})"
                                    + (", and every later stage is built on its output (the manifest "
                                       "and folds)" if plan.stopped_at == "ingest" and not unfinished else "")
                                    + (f"; the folds alone would not stop the pretraining from being "
                                       f"taken, but here {plan.fold_bound}" if plan.fold_bound else ""),
                                    ("finish it there first (rerun that run's command), or leave run.reuse "
                                     "out to run every stage here" if unfinished else
                                     _first_try_lead(plan, sources)
                                     + "make those settings equal to that run's, or leave run.reuse out "
                                     "to run every stage here" + _from_source_settings(cfg, plan, sources))))
    elif reuse:
        findings += _reuse_in_existing_folder(cfg, run_dir)
    reused = ""
    created = not run_dir.exists()
    try:
        if plan is not None and plan.stages and not any(f.severity == "error" for f in findings):
            reused = take_reused_stages(plan, run_dir, cfg)  # before the preflight: it checks what remains
        warnings = preflight.run(cfg, run_dir, sources, findings, folder_refused=bool(problem))
    except BaseException:  # refused, failed or interrupted: nothing taken stays behind
        if plan is not None and not (run_dir / "config.yaml").exists():
            _untake(run_dir, created)
        raise
    return reused, warnings


def _from_source_settings(cfg: Config, plan: ReusePlan, sources: dict[str, str] | None) -> str:
    """The fix that starts from a reused run's own settings (its ``config.yaml``) with this
    command's other overrides, e.g. another head on the tiny first try's pretraining: ``; or
    start from that run's own settings (this puts data.cache_sizes back to [128]): -c
    SOURCE/config.yaml run.name=NEW run.reuse=SOURCE finetune.head=mlp`` (quoted for a shell,
    in the command line's order). '' when it cannot
    help: the stage it stopped at is unfinished there (:meth:`ReusePlan.unfinished`), the source
    has no config.yaml, the differing settings were typed on this command line (meant), or this
    command already starts from that file."""
    if plan.unfinished():  # plan.why then says what is unfinished there, not settings to put back
        return ""
    saved = plan.source / "config.yaml"
    typed = preflight.user_typed(sources, presets=True)  # --first-try too: the command carries it
    differing = {parse_difference_line(w)[0] for w in plan.why}
    if (not saved.is_file() or differing & typed.keys()
            or any(where.startswith(f"{saved}:") for where in (sources or {}).values())):
        return ""
    others = [word for o in dict.fromkeys(typed.values()) if not o.startswith(("run.name=", "run.reuse="))
              for word in (o.split() if o.startswith("--") else [o])]  # --threads 2: two words
    return (f"; or start from that run's own settings (this puts {_reverts(plan.why)}): " + shlex.join(
        ["-c", str(saved), f"run.name={cfg.run.name}", f"run.reuse={cfg.run.reuse}", *others]))


class ProcessZeroFailed(RuntimeError):
    """(torchrun) Process 0 stopped before the pretraining, or the pretraining stopped on a
    non-finite value (process 0 says why); the other processes leave with it, in one line."""


def _after_process_0_recorded() -> None:
    """(torchrun) The barrier where the processes meet after a pretraining stopped on a
    non-finite value (:meth:`_Peers.stopped_on_non_finite`): process 0 enters it once its
    records are written (``stages.json``, ``console.log``, ``invocations.jsonl``), so that
    the others, leaving after it, do not have torchrun stop process 0 midway. A broken
    process group (process 0 gone) ends the wait."""
    import torch.distributed as torch_dist

    global _ORDERED_EXIT
    _ORDERED_EXIT = "first" if torch_dist.get_rank() == 0 else "after"
    try:
        torch_dist.barrier()
    except Exception:  # noqa: BLE001 - process 0 gone: nothing left to wait for
        pass


class _Peers:
    """Process 0's side of a torchrun run: tells the other processes, once, the run folder and
    whether the pretraining runs (they take part in it), or that process 0 failed. Nothing
    to tell in a single process."""

    def __init__(self, world_size: int) -> None:
        self.world_size = world_size
        self.waiting = world_size > 1
        self.pretraining = False  # the others pretrain with this process (the group is open)

    def leave(self) -> None:
        """After the pretraining: the process group is closed (no-op in a single process)."""
        self.pretraining = False
        if self.world_size > 1:
            cleanup()

    def stopped_on_non_finite(self) -> None:
        """The pretraining stopped on a non-finite value, in every process at the same step
        (the engine decides on values averaged over the processes), and this process has
        written its records: let the others, waiting for it, leave
        (:func:`_after_process_0_recorded`). No-op outside a pretraining of several processes."""
        if self.pretraining:
            self.pretraining = False
            _after_process_0_recorded()
            cleanup()

    def tell(self, run_dir: Path | None, pretrain: bool = False, failed: str = "") -> None:
        if not self.waiting:
            return
        self.waiting = False
        import torch.distributed as torch_dist

        message = [{"run_dir": str(run_dir) if run_dir is not None else None,
                    "pretrain": pretrain and run_dir is not None, "failed": failed}]
        torch_dist.broadcast_object_list(message, src=0)
        self.pretraining = bool(message[0]["pretrain"])
        if not message[0]["pretrain"]:
            cleanup()  # nobody pretrains: this process goes on alone


def _follow_process_0(cfg: Config, procs: DistInfo) -> Path:
    """A torchrun process other than 0: wait for process 0's word (after its preflight and
    ingest), take part in the pretraining (DDP), then leave; process 0 runs the other stages.
    Returns the run folder.

    Raises:
        ProcessZeroFailed: process 0 stopped before the pretraining, or the pretraining
            stopped on a non-finite value: process 0 says it (the error: block, with the
            checkpoint it keeps); this process waits until process 0 has written its records
            (:func:`_after_process_0_recorded`), then leaves with one line.
    """
    import torch.distributed as torch_dist

    message: list[Any] = [None]
    torch_dist.broadcast_object_list(message, src=0)
    word = message[0]
    who = f"[train] process {procs.rank} of {procs.world_size}"
    if word["failed"]:
        cleanup()
        first = word["failed"].splitlines()[0]
        raise ProcessZeroFailed(f"{who}: process 0 stopped before the pretraining ({first}); "
                                f"see its output")
    run_dir = Path(word["run_dir"] or resolve_run_dir(cfg))
    if word["pretrain"]:
        try:
            stage_pretrain(cfg, run_dir)
        except NonFiniteError:  # raised in process 0 at the same step: process 0 says it, once
            _after_process_0_recorded()
            cleanup()
            raise ProcessZeroFailed(f"{who}: the pretraining stopped on a non-finite value; "
                                    f"process 0 says why") from None
    cleanup()
    if word["pretrain"]:
        print(f"{who}: pretraining done; process 0 runs the other stages in {run_dir}", flush=True)
    else:
        print(f"{who}: no pretraining to run; process 0 runs the stages in {run_dir}", flush=True)
    return run_dir


def run_pipeline(cfg: Config, sources: dict[str, str] | None = None,
                 earlier: list[Finding] | None = None, said: Sequence[str] = ()) -> Path:
    """Run (or resume) the configured stages; return the run folder.

    First the preflight (:mod:`drac_ssl.preflight`): every setting of the stages that will
    run is checked against the data and the methods, with ``earlier`` problems (of reading
    the config) and a changed configuration in an existing run folder; any error stops here,
    before the run folder is created or anything in it is written.

    Args:
        cfg: the configuration.
        sources: where each setting came from (:func:`drac_ssl.preflight.read_config`), said in
            the messages.
        earlier: problems found while reading the configuration; when the config file could
            not be read at all (``Finding.unread``), only those are reported and nothing else
            is checked (the checks would be of the defaults).
        said: lines the command printed before the run folder was known (the CPU threads
            line), copied into the run folder's ``console.log`` after its header.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) only the pretraining runs on every process (DDP):
    process 0 does everything else (preflight, ingest, run folder, UMM, fine-tuning, export,
    report) while the others wait for it before the pretraining and leave after it (a line
    says so; they return the run folder). The waits are collectives: the ingest must finish
    within the process group's timeout (NCCL: 10 minutes by default).

    Raises:
        PreflightError (a ConfigError): every problem, before any stage ran or right after the
            ingest (what only the decoded images tell).
        InterruptedBeforeStart (a KeyboardInterrupt): Ctrl-C during the preflight, before
            anything was written.
        ProcessZeroFailed: (torchrun, processes other than 0) process 0 stopped before the
            pretraining.
        SystemExit: (code 1, one line on stderr) in a worker process (the ingest's, a
            DataLoader's under spawn) importing a script that calls this at its top level, not
            under ``if __name__ == "__main__":`` (:func:`data_prep.pool.refuse_top_level_rerun`):
            nothing of the script after the call runs there; the guard, or ``data.workers=1``
            and ``pretrain.num_workers=0``, is the fix.
        UnguardedScriptLoader: (a RuntimeError) in the script's own process, when a DataLoader's
            workers stopped so: torch's error with the cause, said once (the marker of
            :func:`data_prep.pool.refuse_top_level_rerun` is removed on every way out).
    """
    # a worker importing a script that calls it unguarded: not RunBusy, its own parent's run
    refuse_top_level_rerun("drac_ssl.train.run_pipeline", "data.workers=1 and pretrain.num_workers=0")
    top_level_rerun_said()  # a marker left by a killed process of this id: not this run's workers'
    forget_stage_warnings()  # an earlier run in this process printed its own, not this one's
    try:
        return _run_pipeline_stages(cfg, sources, earlier, said)
    except (RuntimeError, runtime.LoaderStalled) as exc:
        if isinstance(exc, UnguardedScriptLoader) or top_level_rerun_said() is None:
            raise
        # a DataLoader's workers (spawn) stopped at the script's unguarded top-level call: one
        # of them said the fix; torch says only "DataLoader worker (pid 123) exited unexpectedly"
        # (a LoaderStalled's cause; its memory words would be wrong here)
        torch_error = exc.__cause__ if isinstance(exc, runtime.LoaderStalled) else exc
        raise UnguardedScriptLoader(f"{torch_error}: its worker processes stopped as they started: each imports "
                                    "this script again and met its top-level call (the error above says the "
                                    "fix)") from None
    finally:  # whatever ended the run, this process's marker goes with it
        top_level_rerun_said()


class UnguardedScriptLoader(RuntimeError):
    """:func:`run_pipeline`'s DataLoader (spawn start method) lost its worker processes because
    they stopped at the script's unguarded top-level call (one of them printed the fix,
    :func:`data_prep.pool.refuse_top_level_rerun`): torch's "DataLoader worker (pid(s) 123)
    exited unexpectedly" with the cause; :func:`main` says it in one line and returns 2."""


def _run_pipeline_stages(cfg: Config, sources: dict[str, str] | None, earlier: list[Finding] | None,
                         said: Sequence[str]) -> Path:
    """:func:`run_pipeline` once the worker check is passed."""
    procs = init_distributed()  # torchrun: the process group (pretraining runs on every process)
    # data.* settings only the ingest applies, given otherwise than an ingest this run does not
    # run again: that ingest's values are used, and recorded (config.yaml), said as warnings
    cfg, not_applied = _pinned_to_ingest(cfg, sources)
    earlier = [*(earlier or []), *not_applied]
    # the fixes the stages word (a non-finite stop, an edited config.yaml) say "replace
    # run.name=X with ..." for a setting typed on this command line, as the preflight's do
    with runtime.typed_settings(preflight.user_typed(sources)):
        if not procs.is_main:
            return _follow_process_0(cfg, procs)
        peers = _Peers(procs.world_size)
        try:
            return _run_pipeline_main(cfg, sources, earlier, peers, said, {f.setting: f.value for f in not_applied})
        except BaseException as exc:
            if isinstance(exc, NonFiniteError):  # the others stopped with it: its records are written
                peers.stopped_on_non_finite()
            peers.tell(None, failed=f"{type(exc).__name__}: {exc}".strip())
            raise
        finally:
            peers.tell(None)  # no-op when told already


def _pinned_to_ingest(cfg: Config, sources: dict[str, str] | None) -> tuple[Config, list[Finding]]:
    """:func:`drac_ssl.preflight.pinned_to_ingest` in the run folder of ``cfg`` (none for a
    ``run.name`` that is a path, which the preflight refuses)."""
    if run_name_problem(cfg.run.name, cfg.run.out_dir)[0]:
        return cfg, []
    return preflight.pinned_to_ingest(cfg, resolve_run_dir(cfg), sources)


def _ingest_kept(cfg: Config) -> set[str]:
    """The settings :func:`_pinned_to_ingest` would set to the ingest's values (their names)."""
    if run_name_problem(cfg.run.name, cfg.run.out_dir)[0]:
        return set()
    return set(preflight.ingest_pins(cfg, resolve_run_dir(cfg)))


def _run_pipeline_main(cfg: Config, sources: dict[str, str] | None, earlier: list[Finding] | None,
                       peers: _Peers, said: Sequence[str] = (), not_applied: dict[str, Any] | None = None) -> Path:
    """:func:`run_pipeline` in process 0 (the only one without torchrun). ``not_applied``: the
    settings an ingest this run does not rerun keeps at its own values, each with the value
    given (:func:`drac_ssl.preflight.pinned_to_ingest`): ``--first-try``'s among them are not
    said as applied, and the values are recorded (:data:`drac_ssl.preflight.NOT_APPLIED_KEY`)."""
    run_dir = resolve_run_dir(cfg)
    # its earlier invocations' --first-try record (trial_run.py), read once here for the checks
    # and config.yaml's comment; the collapse warnings' clause and report.md decide from the
    # files on disk (collapse.expected_collapse_clause, trial_run.standing_first_try), as a stage
    # run alone does
    earlier_first_try = first_try_record(run_dir)
    try:
        reused, warnings = _check_before_start(cfg, run_dir, sources, list(earlier or []), earlier_first_try)
    except KeyboardInterrupt:  # Ctrl-C during the checks: nothing of this invocation was written
        raise InterruptedBeforeStart from None
    except (ConfigError, FileNotFoundError, ValueError, PermissionError) as exc:
        _record_refused(cfg, run_dir, exc)  # a requeued torchrun job reads its 2, not the last job's 143
        raise
    # a file of the run folder that cannot be written (a full disk, a read-only one): said with
    # the file, the fix and what a rerun resumes from (RunFolderWriteError), not a traceback
    with run_folder_writes(cfg, run_dir):
        make_run_folder(run_dir, cfg.run.private)  # 0700 by default: it holds patient data
        # one process trains in a run folder: a second copy of the command is refused (RunBusy)
        # before it writes anything; only process 0 gets here under torchrun
        with runtime.hold_run(run_dir) as unended:
            seen = killed_training_seen(run_dir)  # before this invocation writes console.log
            # what this process prints goes to run_dir/console.log too (appended: one header line
            # per invocation)
            header = (f"==== {_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')} "
                      f"{runtime.command_line()} (pid {os.getpid()}) ====")
            with (runtime.console_log(run_dir / runtime.CONSOLE_LOG, header, said, label="[train]"),
                  run_folder_writes(cfg, run_dir)):  # inside too: console.log gets the words, not a traceback
                for line in unended:
                    print(f"[train] warning: {line}")
                # what killed invocations were writing: never renamed onto a real name, never read;
                # the lock proves no other process writes here, so safetensors' .tmpXXXXXX go too
                stale = remove_stale_temporaries(run_dir, recursive=True, unnamed=True)
                if stale:
                    print(f"[train] removed {len(stale)} temporary file(s) that killed invocations "
                          f"left: " + ", ".join(p.relative_to(run_dir).as_posix() for p in stale))
                for warning in warnings:  # and notes (a small set: preflight.small_set_words)
                    print(f"[preflight] {warning.severity}: {warning.line}")
                if reused:
                    print(reused)
                return _run_in_folder(cfg, run_dir, sources, peers, seen, earlier_first_try, not_applied)


def _record_refused(cfg: Config, run_dir: Path, exc: BaseException) -> None:
    """Record a run refused by the checks before it started (``exc``: the refusal, exit code 2,
    :func:`_exit_code_of`; the preflight's, or :func:`_other_run_config_problem`'s, which
    :func:`_main` records in the folder the command would work on) as a line of
    ``run_dir/invocations.jsonl`` whose ``"ended"`` holds
    ``"exit_code": 2``, when that file already exists (a run folder an earlier invocation
    used). A torchrun job script reads its outcome from that file's last line (torchrun exits 1
    whatever the training's code; docs/running.md, On a cluster): without this line a requeued
    job refused for its settings (a data root gone) read the previous job's 143 and was
    requeued again, up to the job's limit. Nothing is written for a new run folder (the
    refusal leaves no file), a ``run.name`` that is a path, a run another process holds
    (:class:`drac_ssl.runtime.RunBusy`: its line stays the last, no ``"ended"``, and the job
    reads 75) or a folder that cannot be written; nothing raised (the refusal is what is said).
    The line's ``"note"`` is :data:`drac_ssl.io.REFUSED_NOTE`: every other reader of the file
    leaves it out (:func:`drac_ssl.io.invocations`), as the invocation ran nothing."""
    if run_name_problem(cfg.run.name, cfg.run.out_dir)[0] or not (run_dir / runtime.INVOCATIONS).is_file():
        return
    t0 = time.perf_counter()
    with contextlib.suppress(runtime.RunBusy, OSError), runtime.hold_run(run_dir):
        record_end(run_dir, record_start(run_dir, "drac_ssl.train"), t0, exc, exit_code=_exit_code_of(exc),
                   note=REFUSED_NOTE)


class RunFolderWriteError(ValueError):
    """A file of the run folder that could not be written (a full disk, a file-size limit or
    quota, a read-only file system, no permission): the message names the file, says what
    failed, the fix and what the same command does once it is fixed (:func:`run_folder_write_words`).
    A ``ValueError``, as every error the command says in one message without a traceback
    (``python -m drac_ssl.train`` exits 2), as :class:`drac_ssl.checkpoint.CheckpointWriteError`
    does for a checkpoint."""


@contextlib.contextmanager
def run_folder_writes(cfg: Config, run_dir: Path) -> Iterator[None]:
    """Within the block, an ``OSError`` that a write raised is raised as
    :class:`RunFolderWriteError` (``from`` it): one its writer marked
    (:func:`drac_ssl.io.written_file`: :func:`drac_ssl.io.atomic_path`, the run folder, its
    lock, ``console.log``, ``invocations.jsonl``, ``config.yaml``), whatever its errno, or one
    that names a file and that only a write raises (:func:`_write_errno`: no room, a read-only
    disk; a file outside the run folder too, such as the phantom set a stage draws). Anything
    else goes on as it is: a ``FileNotFoundError`` (the command says it as ``error: ...``
    already), a read that failed (an I/O error, no permission, a folder where a file was
    expected), and no room that names no file (not known to be the run folder's disk: a full
    ``/dev/shm`` says it too, given a note on it, :data:`SHARED_MEMORY_NOTE`)."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) or not _write_failed(exc):
            if no_space(exc) and not _names(exc):
                exc.add_note(SHARED_MEMORY_NOTE)
            raise
        raise RunFolderWriteError(run_folder_write_words(exc, cfg, run_dir)) from exc


SHARED_MEMORY_NOTE = (
    "no file is named, so this is not known to be the run folder's disk: a full shared memory "
    "(/dev/shm) raises it too, which the data-loading workers use; in Docker give the container "
    "more (docker run --shm-size=8g ...), or run without workers (pretrain.num_workers=0)")
"""The note on a full disk's error that names no file and that no writer marked (review F3:
multiprocessing's ``SemLock`` in a Docker container's 64 MB ``/dev/shm`` raises ``OSError:
[Errno 28] No space left on device``)."""


def _write_failed(exc: OSError) -> bool:
    """Whether ``exc`` is a write's: its writer marked it (:func:`drac_ssl.io.written_file`), or
    it names a file and its errno only a write raises (:func:`_write_errno`)."""
    return written_file(exc) is not None or (bool(_names(exc)) and _write_errno(exc))


def _write_errno(exc: OSError) -> bool:
    """Whether ``exc``'s errno is one only a write raises: no room (:func:`drac_ssl.io.no_space`:
    ``ENOSPC``, ``EFBIG``, ``EDQUOT``) or a read-only file system (``EROFS``)."""
    return no_space(exc) or exc.errno == errno.EROFS


def _names(exc: OSError) -> list[str]:
    """The files ``exc`` names: its ``filename`` and a rename's target (``filename2``)."""
    return [os.fsdecode(n) for n in (exc.filename, exc.filename2) if isinstance(n, (str, bytes, os.PathLike))]


def _in_run_folder(exc: OSError, run_dir: Path) -> bool:
    """Whether the file ``exc`` names (:func:`_names`) is in ``run_dir`` (or is the folder itself)."""
    try:
        folder = run_dir.resolve()
        return any(Path(n).resolve() == folder or Path(n).resolve().is_relative_to(folder) for n in _names(exc))
    except (OSError, RuntimeError):  # a path that does not resolve (a symbolic link loop): not known
        return False


def run_folder_write_words(exc: OSError, cfg: Config, run_dir: Path) -> str:
    """The message of :class:`RunFolderWriteError` for ``exc``: the file (the one its writer was
    writing, :func:`drac_ssl.io.written_file`; else a rename's target, else the file it names;
    else "a file in RUN"), what failed (:data:`drac_ssl.io.NO_SPACE_WORDS`, a read-only file
    system, no permission, else the system's words), that nothing written before is lost
    (every record is replaced whole: :func:`drac_ssl.io.atomic_path`), then the fix (room on
    that disk, a writable folder, worded as the preflight's
    :func:`drac_ssl.preflight.read_only_run_folder_words`), what the same command then does
    (:func:`_rerun_words`) and, for a file in the run folder, a run folder elsewhere (one that
    takes this one's finished stages with ``run.reuse``, when a stage is done). A run folder
    that cannot be read to say what the rerun does (its ``stages.json``, its checkpoints: no
    permission, a failing disk) gets words that read nothing instead, never a second error."""
    target = written_file(exc) or (exc.filename2 if exc.filename2 is not None else exc.filename)
    file = os.fsdecode(target) if target is not None else f"a file in {run_dir}"
    outside = not _in_run_folder(exc, run_dir)
    if outside and target is not None:  # not where the command says: named wherever it is (cwd-relative)
        file = os.path.abspath(file)
    if no_space(exc):
        why, fix, other = NO_SPACE_WORDS, "free space on that disk (or raise the file-size limit: ulimit -f)", \
            "<a folder on a disk with room>"
    elif exc.errno == errno.EROFS:
        why, fix, other = "the disk is read-only (mounted read-only)", "remount it read-write", \
            "<a folder you can write to>"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        why, other = "this account may not write it (its permissions)", "<a folder you can write to>"
        fix = (f"make its folder writable: chmod u+w {shlex.quote(str(Path(file).parent))} (or ask its owner)"
               if outside and target is not None else
               f"make the run folder writable: chmod -R u+w {shlex.quote(str(run_dir))} (or ask its owner)")
    else:
        why, fix, other = (exc.strerror or "the write failed").lower(), \
            "see what is wrong with that disk (dmesg shows its errors)", "<a folder on another disk>"
    detail = f"{type(exc).__name__}: [Errno {exc.errno}] {exc.strerror}" if exc.errno else f"{type(exc).__name__}: {exc}"
    try:
        status = _stages_as_saved(run_dir)
        done = [s for s in PIPELINE if isinstance(status.get(s), dict) and status[s].get("status") == "done"]
        rerun = _rerun_words(cfg, run_dir, status)
    except (OSError, ValueError, RuntimeError):  # the folder cannot be read either: words that read nothing
        done = []
        rerun = (f"it skips the stages done and the next one resumes from what it saved ({run_dir} could "
                 f"not be read to say which)")
    if outside:  # another folder (a phantom set drawn): another run folder is no fix
        phantom = preflight.phantom_root(cfg).absolute()
        in_phantom = not cfg.data.root and target is not None and Path(file).is_relative_to(phantom)
        # a read-only checkout (a cluster's): a mount its user cannot change, so the other ways too
        elsewhere = (f"or {preflight.phantom_folder_fix(cfg)}"
                     if in_phantom and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else "")
    elif done:  # a stage another run folder can take (run.reuse copies it from here)
        elsewhere = runtime.command_changes([("run.out_dir", other), ("run.reuse", str(run_dir))])
        elsewhere = (f"or carry on in a new run folder elsewhere that takes this run's finished stages "
                     f"(they are copied; the rest runs there): {elsewhere}")
    else:
        elsewhere = f"or run it elsewhere: {runtime.command_changes([('run.out_dir', other)])}"
    return (f"{file}: could not be written: {why} ({detail}); nothing written before is lost (each record "
            f"is replaced whole, never cut short)\n  fix: {fix}, then rerun the same command: "
            f"{rerun}" + (f"; {elsewhere}" if elsewhere else ""))


def _stages_as_saved(run_dir: Path) -> dict[str, Any]:
    """``run_dir/stages.json`` as on disk: {} when it is not there or holds no JSON object.

    Raises:
        OSError: it is there but cannot be read (no permission, a failing disk).
    """
    try:
        return read_stages_record(run_dir, strict=True)
    except ConfigError:  # damaged: what the words read as no stage done
        return {}


def _rerun_words(cfg: Config, run_dir: Path, status: dict[str, Any]) -> str:
    """What the same command does in ``run_dir`` after a write failed, from its ``stages.json``
    as it is on disk (``status``): the stages done are skipped; the first one of ``run.stages``
    not done resumes from what it saved (a pretraining's or UMM's last checkpoint:
    :func:`drac_ssl.run_state.checkpoint_saved`, named before what the stage does with it; a
    fine-tuning's folds: :func:`drac_ssl.run_state.finetune_saved_on_disk`) or runs from its
    start; with every stage done, report.md is written again.

    Raises:
        OSError: the run folder cannot be read (:func:`run_folder_write_words` says so instead).
    """
    planned = [s for s in PIPELINE if s in cfg.run.stages]
    done = [s for s in planned if isinstance(status.get(s), dict) and status[s].get("status") == "done"]
    left = [s for s in planned if s not in done]
    skipped = f"it skips the stages done ({', '.join(done)}) and " if done else "it "
    if not left:
        return "every stage of run.stages is done, so it skips them all" + (
            " and writes report.md again" if any((run_dir / s).is_dir() for s in REPORTED_STAGES) else "")
    stage = left[0]
    if stage in CHECKPOINT_STAGES:
        epochs = getattr(getattr(cfg, stage, None), "epochs", None)
        saved = checkpoint_saved(run_dir, stage, epochs=epochs if isinstance(epochs, int) else None)
        if saved.resumable:  # "it reads its checkpoint (...) and resumes from it with epoch 8"
            return f"{skipped}{stage} reads its checkpoint ({saved.what}) and {saved.then}"
    if stage == "finetune" and (folds := finetune_saved_on_disk(run_dir)) is not None:
        return f"{skipped}runs finetune, keeping its folds saved ({folds[0]})"
    if stage == "ingest" and status:  # its rerun reuses the images it decoded (data_prep.cache.DECODED)
        kept = _ingest_kept_words()
        return (f"{skipped}runs ingest again, keeping what it decoded ({kept.saved}); {kept.resume}" if kept
                else f"{skipped}runs ingest again, reusing the images it decoded and kept")
    return f"{skipped}runs {stage} from its start" if done or status else f"{skipped}starts the run"


def _report_hint(run_dir: Path) -> str:
    """After a Ctrl-C or SIGTERM in a run some stage of which is done: ``.venv/bin/python -m
    drac_ssl.report RUN writes report.md for the run so far``
    (:func:`drac_ssl.run_state.report_words`); an interrupted run has no report.md, whose
    "Read this first" says what is unfinished and the command that finishes it. '' when no
    stage is done (a report would hold nothing). Writing the report on the interruption
    itself was not chosen: it takes seconds to minutes after the user asked to stop (longer
    than a SLURM pre-emption's grace), a second Ctrl-C would cut it, and its own error could
    hide what the interruption left."""
    status = read_stages_record(run_dir)
    if not any(isinstance(e, dict) and e.get("status") == "done" for e in status.values()):
        return ""
    return report_words(run_dir)


def _earlier_words(seconds: float, killed: int = 0, untimed: int = 0) -> tuple[str, str]:
    """The time of a stage's earlier attempts in words, and what is to know of the killed
    ones among them (``kill -9``: no end recorded; ``untimed`` of the ``killed`` could not be
    timed), for the console's ``(attempt 3; the earlier ones ran TIME[KILLED])`` and ``(+ TIME
    in 2 earlier attempt(s)[KILLED])``: ``("64.5 s", "")``, ``("95.3 s", "; 1 was killed:
    counted to the last line it printed")``, ``("52.0 s + an unknown time", "; 1 was killed:
    its time is not known")``."""
    words = f"{seconds:.1f} s" + (" + an unknown time" if untimed else "")
    if not killed:
        return words, ""
    timed = killed - untimed
    how = ("counted to the last line it printed" if not untimed else "its time is not known" if not timed
           else f"{timed} counted to the last line it printed, {untimed} not known")
    return words, f"; {killed} {'was' if killed == 1 else 'were'} killed: {how}"


def _epochs_typed(cfg: Config, sources: dict[str, str] | None, run_dir: Path | None = None) -> dict[str, Any]:
    """The stages' epoch counts typed on this command line (:data:`drac_ssl.trial_run.EPOCH_SETTINGS`),
    each with the ``-c`` file's value (``sources.fixes``, :func:`preflight.read_config`), for
    this invocation's ``invocations.jsonl`` line: what :mod:`drac_ssl.trial_run` reads to call
    a run whose stage was given a small part of its file's epochs a trial run; {} when none
    was typed or no file was read. When the ``-c`` file is another run folder's
    ``config.yaml`` whose run recorded such counts (a trial's), they are judged against the
    file that run was given, and the counts not typed now are recorded as carried from it
    (:func:`drac_ssl.trial_run.typed_epochs`); ``run_dir``, this run's folder: its own
    ``config.yaml`` carries nothing new (its records stand)."""
    fixes = getattr(sources, "fixes", None)
    if fixes is None:
        return {}
    on_command_line = preflight.user_typed(sources, presets=True)  # --first-try's recorded as its option's
    typed = {key: get(cfg, key) for key in EPOCH_SETTINGS if key in on_command_line}
    given = Path(fixes.file)
    source = given.parent
    carried = (epoch_records(source) if given.name == "config.yaml" and _is_run_folder(source)
               else {})
    ours = run_dir is not None and source.resolve() == Path(run_dir).resolve()
    options = getattr(sources, "options", None) or {}
    return typed_epochs(typed, {key: get(fixes.cfg, key) for key in typed}, fixes.file, carried,
                        {key: get(cfg, key) for key in EPOCH_SETTINGS}, "" if ours else str(source),
                        {key: options[key].typed for key in typed
                         if isinstance(options.get(key), PresetOverride)})


def _first_try_applied(sources: dict[str, str] | None, not_applied: Iterable[str] | None = None
                       ) -> dict[str, Any] | None:
    """This command line's :data:`drac_ssl.trial_run.FIRST_TRY_KEY` record, for its
    ``invocations.jsonl`` line: ``{"applied": [...], "replaced": [...], "kept": [...],
    "not_applied": [...]}``, the ``--first-try`` overrides that set their setting, the user's own
    overrides that replaced others (the words as typed), the size settings it left at the
    ``-c`` file's own value, no larger (:func:`drac_ssl.trial_run.first_try_settings`), and its
    overrides of ``not_applied`` settings (an ingest this run does not rerun keeps its own:
    :func:`drac_ssl.preflight.pinned_to_ingest`); None without ``--first-try``."""
    presets = getattr(sources, "presets", None)
    if not presets:
        return None
    options = getattr(sources, "options", None) or {}
    given = {word.split("=", 1)[0].strip(): word for word in presets}
    typed = preflight.user_typed(sources)
    applied, replaced, kept, unapplied = [], [], [], []
    for preset in FIRST_TRY:
        key = preset.split("=", 1)[0]
        if isinstance(options.get(key), PresetOverride) and key in (not_applied or ()):
            unapplied.append(str(given[key]))
        elif isinstance(options.get(key), PresetOverride):
            applied.append(str(given[key]))
        elif key in given:
            if key in typed:
                replaced.append(typed[key])
        elif key in FIRST_TRY_SIZES and key not in typed:  # the config's own size, no larger: left as it is
            kept.append(key)
    return {"applied": applied, "replaced": replaced, "kept": kept,
            **({"not_applied": unapplied} if unapplied else {})}


def _first_try_comment(record: dict[str, Any] | None) -> str:
    """The comment line of ``config.yaml`` for a run made with ``--first-try`` (its
    :data:`~drac_ssl.trial_run.FIRST_TRY_KEY` ``record``), '' for none: the settings it applied
    are among the values below, and so is a resume with ``-c THIS_FILE``."""
    if record is None:
        return ""
    return (f"{first_try_words(record)}: the tiny first try, a trial run whose figures mean nothing "
            f"(their values are below)")


def _not_applied_comment(cfg: Config, run_dir: Path, not_applied: dict[str, Any] | None) -> str:
    """The comment line of ``config.yaml`` for the values given that the ingest in
    ``run_dir/data`` kept at its own (``not_applied``: setting -> the value given,
    :func:`drac_ssl.preflight.pinned_to_ingest`), each with the ingest's as it resolved
    (:func:`drac_ssl.preflight.shown_as_ingested`: ``'' (auto: 3, RGB)``); '' for none."""
    record = _kept_ingest(cfg, run_dir)
    if not not_applied or record is None:
        return ""
    return (f"not applied (run.stages has no ingest; the stages read the ingest in {run_dir / 'data'}): "
            + "; ".join(f"{setting}={preflight._show(given)} given, "
                        f"{preflight.shown_as_ingested(setting, record.value(setting), record.summary)} used"
                        for setting, given in not_applied.items()))


def _first_try_lead(plan: ReusePlan, sources: dict[str, str] | None) -> str:
    """``add --first-try to your command (...); or `` before the fix of a ``run.reuse`` that
    takes nothing, when its source was made with ``--first-try`` and its differing settings
    (``plan.why``) are some of it that this command lacks (:func:`_first_try_dropped`); '' else."""
    dropped = _first_try_dropped(plan.source, sources, {parse_difference_line(w)[0] for w in plan.why},
                                 first_try_record(plan.source))
    return f"{dropped}; or " if dropped else ""


def _first_try_dropped(run_dir: Path, sources: dict[str, str] | None, keys: set[str],
                       record: dict[str, Any] | None) -> str:
    """``add --first-try to your command (RUN was made with it, ...)`` when the run folder
    ``run_dir`` (resumed, or taken from by ``run.reuse``) was made with ``--first-try``
    (``record``, its :func:`drac_ssl.trial_run.first_try_record`), this command line has none,
    and one of the differing settings ``keys`` is one of its
    :data:`~drac_ssl.trial_run.FIRST_TRY`; '' else."""
    if getattr(sources, "presets", None) or sources is None:
        return ""
    ours = {w.split("=", 1)[0] for w in FIRST_TRY}
    if record is None or not keys & ours:
        return ""
    return f"add {FIRST_TRY_OPTION} to your command ({run_dir} was made with it, this command has none)"


def _run_in_folder(cfg: Config, run_dir: Path, sources: dict[str, str] | None, peers: _Peers,
                   seen: tuple[str, float] | None = None, earlier_first_try: dict[str, Any] | None = None,
                   not_applied: dict[str, Any] | None = None) -> Path:
    """:func:`_run_pipeline_main` once the checks passed and ``run_dir`` exists. ``seen``: the
    last sign of a killed earlier training (:func:`drac_ssl.run_state.killed_training_seen`);
    ``earlier_first_try``: the folder's :func:`~drac_ssl.trial_run.first_try_record` before
    this invocation (read once by :func:`_run_pipeline_main`); ``not_applied``: as
    :func:`_run_pipeline_main`'s."""
    to_run = preflight.stages_to_run(cfg, run_dir)
    first_try = _first_try_applied(sources, not_applied)
    # the run's record once this invocation's line is written: its own, else the earlier one
    # (first_try_record reads the last line that has one)
    # (the earlier one only while this config still holds its settings: a full run typed into
    # the folder of a stopped first try is no first try, trial_run.holds_first_try)
    run_first_try = first_try if first_try is not None else (
        earlier_first_try if holds_first_try(earlier_first_try, to_dict(cfg)) else None)
    saved, unapplied = _unapplied_in_config(cfg, run_dir)
    if unapplied:  # a folder made before: config.yaml said values the ingest never applied (review F1)
        record = _kept_ingest(cfg, run_dir)
        print(f"[train] note: {run_dir / 'config.yaml'} recorded "
              + ", ".join(f"{setting}={preflight._show(given)} (the ingest's {preflight._show(used)})"
                          for setting, (given, used) in unapplied.items())
              + f", which the ingest in {run_dir / 'data'} never applied: rewritten with the ingest's values, "
              f"the ones the stages used")
        try:
            corrected = from_dict(record.applied(saved)) if not to_run and record is not None else None
        except (ConfigError, TypeError, ValueError):
            corrected = None  # not a configuration this version reads: left as it is
        if corrected is not None:  # nothing runs: the file as it was, but those values
            with writing(run_dir / "config.yaml"):
                save_config(corrected, run_dir / "config.yaml", comment=_first_try_comment(run_first_try))
    if to_run or not (run_dir / "config.yaml").exists():
        # a rerun of a finished run keeps its config.yaml as it ran, but for the values of a kept
        # ingest it recorded wrongly, rewritten just above; one made with --first-try says so
        # (a resume with -c RUN/config.yaml too: its records)
        comment = "\n".join(c for c in (_first_try_comment(run_first_try),
                                         _not_applied_comment(cfg, run_dir, not_applied)) if c)
        import torch  # run.threads as applied (0: half the cores): the header's reproduce command says it

        # the run's own count (its first invocation's, as report.md's command gives it), not a resume's
        threads = recorded_threads(read_json_dict(run_dir / "environment.json")) or torch.get_num_threads()
        with writing(run_dir / "config.yaml"):  # an error here is a write's (run_folder_writes)
            save_config(cfg, run_dir / "config.yaml", comment=comment, threads=threads)
    env = environment_info()
    # speed only (every view carries its own seed), but recorded: -1 resolves per machine
    env["dataloader_workers"] = dataloader_workers(cfg.pretrain.num_workers)
    env["torch_compile"] = _torch_compile_record(cfg)  # on CUDA by default: another source of rounding
    if (fixes := getattr(sources, "fixes", None)) is not None:  # the file -c read (a shipped
        env["config_file"] = str(Path(fixes.file).absolute())  # config's, for -c NAME: config_file)
    made = read_json_dict(run_dir / "environment.json")  # before this invocation
    if not (run_dir / "environment.json").exists():  # how the run was made: the first invocation's
        made_env = env
        if first_training(run_dir) is not None:  # a run made before, its environment.json lost: its
            # cwd is the folder config.yaml's relative paths were typed in, not this one's (review F1)
            made_env = {k: v for k, v in env.items() if k != "cwd"}
            if cwd := made_in(run_dir):
                made_env["cwd"] = cwd
        if made_env.get("git_diff_sha256"):  # a dirty checkout: its changes kept, to remake the run
            with writing(run_dir / runtime.CODE_PATCH):
                made_env = {**made_env, "code_patch": runtime.save_code_patch(
                    run_dir, made_env["git_diff_sha256"])}  # the diff that hash is of
        atomic_write_json(run_dir / "environment.json", made_env)
    other_threads = _resumed_with_other_threads(cfg, run_dir, env)
    if other_threads:  # said before the stage starts, and kept in this invocation's line
        env = {**env, "resumed_with_other_threads": other_threads}
    other_builds = _resumed_with_other_builds(bool(to_run), made, env)
    if other_builds:
        env = {**env, "resumed_with_other_builds": other_builds}
    if epochs := _epochs_typed(cfg, sources, run_dir):  # far below the file's: a trial run (trial_run.py)
        env = {**env, INVOCATION_KEY: epochs}
    if first_try is not None:  # --first-try: what it applied, what the user typed in its place
        env = {**env, FIRST_TRY_KEY: first_try}
    if not_applied:  # the values given that the ingest kept at its own: the same command resumes
        env = {**env, preflight.NOT_APPLIED_KEY: {setting: preflight.recorded_given(setting, value)
                                                  for setting, value in not_applied.items()}}
    invocation = record_start(run_dir, "drac_ssl.train", env)  # every invocation, one line each
    print(f"[train] run folder: {run_dir}")
    t0 = time.perf_counter()
    try:
        _run_stages(cfg, run_dir, sources, peers, seen)
    except BaseException as exc:
        record_end(run_dir, invocation, t0, exc, exit_code=_exit_code_of(exc))
        if isinstance(exc, KeyboardInterrupt) and getattr(exc, "report", None) is None:
            setattr(exc, "report", _report_hint(run_dir))  # noqa: B010 - said after its words (runtime.interrupted_words)
        raise
    record_end(run_dir, invocation, t0, exit_code=0)
    # the run is finished and its end recorded (exit code 0): a Ctrl-C or SIGTERM in the lines
    # below stops them, not the run (a review, J2: it said 'rerun the same command' and exited 143)
    _said_after_finish(lambda: _finished_lines(cfg, run_dir, sources, first_try))
    return run_dir


def _said_after_finish(say: Callable[[], None]) -> None:
    """``say()`` (the lines after a finished run, its end recorded with exit code 0), stopped
    by a Ctrl-C or SIGTERM (KeyboardInterrupt: :func:`drac_ssl.runtime.sigterm_as_ctrl_c`)
    without failing the run: one stderr line, ``stopped after the run finished: nothing to
    rerun``, and the run's own exit code (0) stays the command's, as ``invocations.jsonl``
    recorded it (a requeue would find nothing to do). A signal after this returns takes the
    interrupt's way (130/143). Called from Python (``main(argv)``): the same line, then the
    KeyboardInterrupt raised (:func:`_interrupted_exit`, its ``exit_code`` 0), so that a
    notebook's "Interrupt kernel" still stops "Run All"."""
    try:
        say()
    except KeyboardInterrupt:
        runtime.flush_or_silence(sys.stdout)  # the lines printed before come first
        words = "stopped after the run finished: nothing to rerun"
        if runtime.command_argv_given():  # _main says it (console.log too) and raises it again
            stopped = InterruptedOutsideStage(words)
            stopped.exit_code = 0  # type: ignore[attr-defined]
            raise stopped from None
        print(f"\n[train] {words}", file=sys.stderr)


def _finished_lines(cfg: Config, run_dir: Path, sources: dict[str, str] | None,
                    first_try: dict[str, Any] | None) -> None:
    """What :func:`_run_in_folder` prints once the run is finished and its end recorded: the
    headline figures, warnings, the next steps, a trial's full-run check."""
    print(f"[train] finished: {run_dir}")
    said = result_line(run_dir)  # the headline figures, as the fine-tuning stored them
    # and what report.md's "Read this first" warns of a collapsed representation, in its words
    result = [f"[train] {said}"] if said else []
    # (with collapse.expected_collapse_clause: a trial's few steps said, not the rule changed)
    result += [f"[train] warning: {words}" for words in run_collapse_warnings(run_dir)]
    # the data edited since the ingest (a corrected grade): said again here, not only among the
    # preflight's first lines (a careless-user review, F4); report.md's data section says it too
    from data_prep.source_check import data_changed_words

    if changed := data_changed_words(run_dir / "data"):
        result.append(f"[train] warning: {changed}")
    if result and (failure := print_lines(result)) is not None:
        print(f"[train] cannot print the result line on stdout ({failure}); report.md has it", file=sys.stderr)
    for line in next_step_lines(run_dir):  # what to do with it (a trial: the user stopped here)
        print(f"[train] {line}")
    if first_try is not None:  # what its full run would be refused for, said now, not at once then
        try:
            full_lines = full_run_lines(run_dir, sources)
        except Exception as failure:  # noqa: BLE001 - advice after a finished run must not fail it
            full_lines = [f"note: could not check what the full run (without {FIRST_TRY_OPTION}) would "
                          f"meet ({type(failure).__name__}: {failure}); its own preflight will say"]
        for line in full_lines:
            print(f"[train] {line}")
    phantom = phantom_root(cfg) if cfg.data.dataset == "drac" and not cfg.data.root else None
    if phantom is not None and phantom.is_dir():  # the set the run made under the current folder
        print(f"[train] {phantom_size_line(phantom)}")


_ONE_SETTING = re.compile(r"(?:data|pretrain|umm|finetune|run)\.[a-z_][a-z0-9_.]*=(?:\[[^\[\]]*\]|[^\s\[]\S*)")
"""A fix that is one setting's ``key=value`` as one shell word: a value without spaces
(``pretrain.batch_size=16``) or one list, spaces and all (``data.cache_sizes=[128, 256]``);
not a fix in words (``data.n_folds=3, or add labelled ...``). :func:`one_setting_fix` reads it too."""


def one_setting_fix(fix: str) -> bool:
    """Whether a finding's ``fix`` is one setting's value that a command can carry as one
    ``key=value`` word (:data:`_ONE_SETTING`, and it reads as an override of a setting there
    is: :func:`drac_ssl.config.parse_override`), not words to act on by hand."""
    if not _ONE_SETTING.fullmatch(fix):
        return False
    try:
        get(Config(), ".".join(parse_override(fix)[0]))
    except (ConfigError, AttributeError):
        return False
    return True


_CHECKED_SETTINGS = re.compile(r"(\S+=\S+(?: \S+=\S+)*) \(checked[:,]")
"""A fix whose settings were checked to work before it was offered, then said why:
``data.n_folds=4 data.fold_seed=1 (checked: ...), or add ...`` (the preflight's fold count,
:func:`data_prep.folds.checked_fold_count`)."""


def command_settings(fix: str) -> list[str]:
    """The ``key=value`` words of a finding's ``fix`` that a command can carry: the fix itself
    when it is one setting (:func:`one_setting_fix`); the settings a checked fix opens with
    (:data:`_CHECKED_SETTINGS`: ``data.n_folds=4 data.fold_seed=1 (checked: ...), or add
    labelled ...`` gives ``data.n_folds=4`` and ``data.fold_seed=1``), each one setting, the
    words after them only its reasons and the other ways; [] for a fix in words (a trial: the
    checked fold fix was left "to fix by hand" beside a command without it)."""
    if one_setting_fix(fix):
        return [fix]
    checked = _CHECKED_SETTINGS.match(fix)
    words = checked[1].split(" ") if checked else []
    return words if words and all(one_setting_fix(w) for w in words) else []


def first_try_size_line(run_dir: Path, own_folder: bool = True) -> str:
    """``note: runs/first-try (312.4 MiB) can be deleted once ...``: the first try's folder and
    what removing it frees (:func:`_freed_mib`: the files' apparent sizes, each inode once, a
    file a folder outside holds by a hard link counted apart, as it frees nothing), measured
    now. ``own_folder``: the full run has a folder of its own, which the note says (False: a
    first try from a run's resolved ``config.yaml``, whose full run needs another file)."""
    freed, shared = _freed_mib(run_dir)
    also = f"; {shared:.1f} MiB more are hard links another run folder holds" if shared else ""
    return (f"note: {run_dir} ({freed:.1f} MiB{also}) can be deleted once you no longer need it"
            + (": the full run, in a folder of its own, does not read it" if own_folder else ""))


def _original_config(file: Path, run_dir: Path) -> Path | None:
    """The ``-c`` file a run was made from (``environment.json``'s ``config_file``), for a
    ``-c`` file that is a run's resolved ``config.yaml``: the record of the folder holding
    ``file``, else of ``run_dir``; None when neither records another file that exists."""
    for folder in (file.parent, run_dir):
        recorded = (read_json_dict(folder / "environment.json") or {}).get("config_file")
        if isinstance(recorded, str) and recorded and Path(recorded).is_file() and (
                Path(recorded).resolve() != file.resolve()):
            return Path(recorded)
    return None


_FOLD_COUNT_FIX = re.compile(r"(data\.n_folds=\d+), or ")
"""A fold-count fix offered unchecked, beside the other way (``data.n_folds=4, or add labelled
grade 2 (Moderate) images ...``: stratified folds of images, no patient grouping):
:func:`_fold_count_checked` checks it."""


def _fold_count_checked(file: Any, overrides: list[Any], run_dir: Path, finding: Any) -> list[str]:
    """``[data.n_folds=N]`` when ``finding`` (a full run's problem of ``data.n_folds``) offers
    that fold count unchecked (:data:`_FOLD_COUNT_FIX`) and the full run's check
    (:func:`drac_ssl.preflight.new_run_problems` on the first try's ingest in ``run_dir``), run
    again with it, finds no problem of the fold count left; else []. A Messidor-2 trial: the
    working ``data.n_folds=4`` was dropped from the ``next:`` command as not marked checked,
    though docs/own_fundus_folder.md says the checked fixes are in it."""
    fold = _FOLD_COUNT_FIX.match(finding.fix) if finding.setting == "data.n_folds" else None
    if fold is None:
        return []
    try:
        cfg, sources, read = preflight.apply_overrides(file, [*overrides, fold[1]])
        if any(f.unread for f in read):
            return []
        left = preflight.new_run_problems(cfg, run_dir, sources)
    except (ConfigError, OSError, ValueError):
        return []
    return [] if any(f.setting == "data.n_folds" for f in left) else [fold[1]]


SCHEDULE_SECTIONS = ("pretrain", "umm", "finetune")
"""The stages whose ``epochs`` and ``max_steps_per_epoch`` a typed override shrinks for a first
try (:func:`shrinking_overrides`), beside the image sizes of :data:`FIRST_TRY_SIZES`."""


def _shrinks(key: str, value: Any, own: Any) -> bool:
    """Whether ``key=value`` typed makes the ``-c`` file's own ``own`` smaller: fewer epochs, a
    step cap where it has none (0) or a lower one, smaller images (a list of sizes: its largest).
    A bool is no number here (``finetune.epochs=true`` is YAML's true, refused by the settings'
    own check), as in :func:`_as_small_as_first_try`."""
    if isinstance(value, bool):
        return False
    if key.endswith(".max_steps_per_epoch"):
        return isinstance(value, int) and value > 0 and (own == 0 or value < own)
    if isinstance(value, list | tuple) and isinstance(own, list | tuple):
        return bool(value) and bool(own) and max(value) < max(own)
    return isinstance(value, int | float) and isinstance(own, int | float) and value < own


def _largest(value: Any) -> Any:
    """A size list's largest entry (``data.cache_sizes``); any other value as it is."""
    if isinstance(value, list | tuple):
        return max(value) if value and all(isinstance(v, int | float) for v in value) else None
    return value


def _first_try_value(key: str) -> Any:
    """``--first-try``'s own value of the setting ``key`` (:data:`FIRST_TRY`: ``pretrain.epochs``
    1, ``finetune.epochs`` 2, ``data.cache_sizes`` [128] ...); None for a setting it does not set."""
    for word in FIRST_TRY:
        parts, value = parse_override(word)
        if ".".join(parts) == key:
            return value
    return None


def _as_small_as_first_try(key: str, value: Any) -> bool:
    """Whether ``key=value`` typed is no larger than ``--first-try``'s own value of ``key``
    (:func:`_first_try_value`; a list of sizes by its largest): the first try's schedule typed
    by hand. False for a setting ``--first-try`` does not set (``pretrain.lr``) and for a bool."""
    typed, first = _largest(value), _largest(_first_try_value(key))
    return (isinstance(typed, int | float) and isinstance(first, int | float) and not isinstance(typed, bool)
            and typed <= first)


def _override_key(word: Any) -> str:
    """The dotted setting of a typed ``section.key=value`` word; '' for anything else."""
    try:
        return ".".join(parse_override(word)[0])
    except (ConfigError, ValueError, TypeError, AttributeError):
        return ""


def shrinking_overrides(cfg: Config, overrides: Sequence[Any],
                        shorter: dict[str, str] | None = None) -> dict[str, str]:
    """The typed overrides of ``overrides`` (a first try's command line; :class:`PresetOverride`
    and other options' words left alone) that shrink the schedule below ``cfg`` (the ``-c``
    file's own configuration) to no more than ``--first-try``'s own value
    (:func:`_as_small_as_first_try`: ``pretrain.epochs`` and ``umm.epochs`` 1, ``finetune.epochs``
    2, step caps 3 and 2, images 64 px, ``data.cache_sizes`` [128]): a stage's
    (:data:`SCHEDULE_SECTIONS`) ``epochs`` or ``max_steps_per_epoch``, or an image size of
    :data:`FIRST_TRY_SIZES`, each setting by its last word; setting -> the word typed. What
    ``--first-try`` sets itself, typed by hand: the full run after it must not keep them: its
    ``next:`` command would otherwise train the full run on the first try's schedule
    (``finetune.epochs=1``: one epoch). A
    shrinking value larger than the first try's (``finetune.epochs=3`` under a file's 5,
    ``data.cache_sizes=[128, 256]``) is a shorter full run chosen by hand: kept, and put in
    ``shorter`` (setting -> word) when given."""
    from drac_ssl.config import OptionOverride

    found: dict[str, str] = {}
    if shorter is None:
        shorter = {}
    for word in overrides:
        if isinstance(word, OptionOverride) or not isinstance(word, str):
            continue
        try:
            parts, value = parse_override(word)
            key = ".".join(parts)
            own = get(cfg, key)
        except (ConfigError, AttributeError, KeyError, ValueError, TypeError):
            continue
        schedule = (parts[0] in SCHEDULE_SECTIONS and parts[-1] in ("epochs", "max_steps_per_epoch")
                    and len(parts) == 2) or key in FIRST_TRY_SIZES
        found.pop(key, None)  # its last word decides
        shorter.pop(key, None)
        if schedule and _shrinks(key, value, own):
            if _as_small_as_first_try(key, value):
                found[key] = str(word)
            else:
                shorter[key] = str(word)
    return found


def full_run_lines(run_dir: Path, sources: dict[str, str] | None) -> list[str]:
    """At the end of a ``--first-try`` run in ``run_dir``: the errors the full run after it (the
    same command without ``--first-try``: the ``-c`` file, as this run read it, and the
    overrides typed, ``sources.overrides`` of :func:`drac_ssl.preflight.read_config`, applied
    again by :func:`drac_ssl.preflight.apply_overrides`) would be refused for at
    once, judged from the first try's ingest (:func:`drac_ssl.preflight.new_run_problems`:
    batch sizes against the images, images per grade against ``data.n_folds`` ...), each
    ``note: the full run (without --first-try) would stop: ...`` with its fix, then ``next:``
    the full run's command with the fixes that are one setting's value
    (``pretrain.batch_size=16``, ``data.cache_sizes=[128, 256]``: :func:`one_setting_fix`), and
    the settings of a checked fix (``data.n_folds=4 data.fold_seed=1``: :func:`command_settings`) in
    place of the words typed for those settings, each setting once and each word quoted for a
    shell (:func:`drac_ssl.run_state.command_without`); with nothing to fix, ``next:`` the full
    run's command as it is. A ``run.name`` (typed, or the file's) that names this first try's
    folder gets ``run.name=NAME-2`` in the command (with a note); problems whose fix is not one
    setting are counted on the ``next:`` line as still to fix by hand. A ``-c`` file that is a
    run's resolved ``config.yaml`` (``sources.resolved_file``) holds the first try's own sizes:
    the same command without ``--first-try`` would be this first try again, so a note names
    the file the run was made from (``environment.json``'s ``config_file``, :func:`_original_config`)
    and the full run is judged from, and its command reads, that file; without such a record
    the note asks for it and no command is given.
    Last, the first try's folder and its size, to delete once it is no longer needed
    (:func:`first_try_size_line`). [] when ``sources`` has no ``-c`` file. A trial user's first
    try on 30 photographs passed at batch 8; the full run was refused at once for its batch
    of 32."""
    fixes = getattr(sources, "fixes", None)
    file = getattr(sources, "file", None)
    if fixes is None or file is None:
        return []
    overrides = [o for o in getattr(sources, "overrides", []) if not isinstance(o, PresetOverride)]
    lines: list[str] = []
    config: str | None = None
    if getattr(sources, "resolved_file", False):  # RUN/config.yaml: the first try's sizes, run.name and all
        given = Path(fixes.file)
        original = _original_config(given, run_dir)
        if original is None:
            return [f"note: {given} is a run's resolved config.yaml, which holds this first try's own "
                    f"settings: the same command without {FIRST_TRY_OPTION} would run this first try again "
                    f"in {run_dir}; the full run needs the -c file the run was made from in its place",
                    first_try_size_line(run_dir, own_folder=False)]
        lines.append(f"note: {given} is a run's resolved config.yaml, which holds this first try's own "
                     f"settings: the full run reads the file it was made from, {original} "
                     f"(environment.json's config_file), in its place")
        file = preflight.read_config_file(original)
        config = str(original)
    # the first try's own schedule typed by hand (finetune.epochs=1): not the full run's
    shorter: dict[str, str] = {}
    shrunk = shrinking_overrides(file.cfg, overrides, shorter)
    if shorter:
        one = len(shorter) == 1
        lines.append(f"note: {' '.join(shorter.values())} {'is' if one else 'are'} kept in the full run, "
                     f"though shorter than the -c file's own: larger than {FIRST_TRY_OPTION}'s, "
                     f"{'it is' if one else 'they are'} taken as chosen for the full run")
    if shrunk:
        words = " ".join(shrunk.values())
        one = len(shrunk) == 1
        lines.append(f"note: {words} {'is' if one else 'are'} left out of the full run: typed for this first "
                     f"try, {'it shrinks' if one else 'they shrink'} the -c file's schedule to {FIRST_TRY_OPTION}'s "
                     f"own or less; type {'it' if one else 'them'} again to keep "
                     f"{'it' if one else 'them'}")
        overrides = [o for o in overrides if _override_key(o) not in shrunk]
    cfg, full_sources, read = preflight.apply_overrides(file, overrides)  # the file is not read again
    if any(f.unread for f in read):
        return []
    problems = preflight.new_run_problems(cfg, run_dir, full_sources)
    lines += [f"note: the full run (without {FIRST_TRY_OPTION}) would stop: {f.line}" for f in problems]
    carried = {id(f): command_settings(f.fix) or _fold_count_checked(file, overrides, run_dir, f)
               for f in problems}
    settings = list(dict.fromkeys(w for f in problems for w in carried[id(f)]))
    by_hand = sum(1 for f in problems if not carried[id(f)])
    if cfg.run.name and resolve_run_dir(cfg).absolute() == run_dir.absolute():  # its own folder needed
        name = cfg.run.name
        settings.append(f"run.name={name}-2")
        lines.append(f"note: the full run needs a folder of its own: run.name={name} is this first "
                     f"try's ({run_dir}), which it would be refused in; run.name={name}-2 below")
    drop = list(shrunk)
    if cfg.run.reuse and (source := _first_try_source(cfg)) is not None:
        # a first try's stages are built at its tiny sizes (data.cache_sizes, data.n_folds ...):
        # the full run refuses to take them (a trial pasted run.reuse=.../first-try and was refused)
        drop.append("run.reuse")
        lines.append(f"note: run.reuse={cfg.run.reuse} is left out of the full run: {source} was made with "
                     f"{FIRST_TRY_OPTION}, and its stages, made at the first try's sizes, cannot be taken "
                     f"into a run without it (its ingest differs); the full run makes its own")
    command = command_without(run_dir, FIRST_TRY_OPTION, settings, config, drop=drop)
    if command and settings:
        fixes = "this fix" if len(settings) == 1 else "these fixes"
        rest = (f" (and {by_hand} problem(s) above to fix by hand: the command alone would still stop)"
                if by_hand else "")
        lines.append(f"next: the full run, with {fixes}{rest}: {command}")
    elif command:
        rest = f" ({by_hand} problem(s) above to fix by hand first)" if by_hand else ""
        lines.append(f"next: the full run{rest}: {command}")
    if command:  # its time: the docs' hand-measured run, labelled with its data and machine
        lines.append(f"note: for how long the full run takes, see {full_run_time_doc(run_dir)}")
    return [*lines, first_try_size_line(run_dir, own_folder=config is None)]


def _first_try_source(cfg: Config) -> Path | None:
    """The run folder ``run.reuse`` takes from (:func:`reuse_source`) when it was made with
    ``--first-try`` (:func:`~drac_ssl.trial_run.first_try_record`); None for any other, or one
    that cannot be found (its own preflight says so)."""
    try:
        source = reuse_source(cfg)
    except (ConfigError, OSError):
        return None
    return source if first_try_record(source) is not None else None


def result_line(run_dir: Path) -> str | None:
    """The run's headline, for the line after ``[train] finished: RUN``: the variant the
    fine-tuning selected for export (``finetune/summary.json``; named as report.md names it,
    ``finetune.freeze`` read as it reads it: :func:`drac_ssl.report.run_freeze`), the figures
    that ranked the variants (:func:`drac_ssl.selection.ranking_figures`: under
    ``finetune.decision=thresholds`` its out-of-fold QWK with its 95% CI and its macro
    one-vs-one AUC, DRAC's tie-breaker; under ``argmax`` its accuracy and macro one-vs-rest AUC
    with its 95% CI; with two grades Cohen's kappa, the QWK of two grades,
    :data:`drac_ssl.figures.KAPPA_TWO_GRADES`, and the one AUC, of P(referable)), with two grades
    the sensitivity and specificity of the screening decision
    (grade 1 referable: :func:`drac_ssl.figures.screening_figures_words`, counts and CIs), on its
    n images, as ``finetune/<variant>/metrics.json`` stored them
    (nothing recomputed; figures in :mod:`drac_ssl.figures`' words: ``n/a``, an interval "not
    meaningful" with its reason), e.g. ``result: VICReg (selected for export): out-of-fold QWK
    0.812 (95% CI 0.700..0.900), macro AUC 0.880 (one-vs-one), 611 images (not a leaderboard
    score: report.md says why)``. What the figure is not follows it, as report.md says it: not a
    leaderboard score for DRAC's kind of data (:func:`drac_ssl.challenge.drac_scale`, the
    report's rule), the pipeline measured on synthetic images for a phantom run, the phantoms
    mixed into the data (:func:`drac_ssl.grading.bundle.mixed_phantom_words`), and a trial run's
    words (:func:`drac_ssl.trial_run.trial_run_words`). A run without those files (no
    fine-tuning: a generic data set's, or one whose ``run.stages`` left it out) gets its
    pretraining's headline instead (:func:`pretraining_result_line`); None when it has neither."""
    from drac_ssl.metrics import grade_name_words
    from drac_ssl.report import run_freeze, run_keep  # plotting imports: paid once the run is done

    summary = read_json_dict(run_dir / "finetune" / "summary.json") or {}
    selected = str(summary.get("selected"))  # a str when metrics is read (run_state.selected_variant)
    metrics = selected_metrics(run_dir)
    if metrics is None:
        return pretraining_result_line(run_dir)
    key, tie_key, key_words, tie_words = ranking_figures(str(summary.get("decision") or metrics.get(
        "decision") or "thresholds"))
    tie_name, _, tie_how = tie_words.partition(" ")  # "AUC", "one-vs-one"
    ci, tie_ci = _ci_words(metrics, key), _ci_words(metrics, tie_key)
    n = metrics.get("n")
    names = metrics.get("class_names") if isinstance(metrics.get("class_names"), list) else []
    referable = metrics.get("referable")
    screening = ""
    if (referral := deciding_referral(metrics)) is not None:  # two grades: the referral cut ranked them
        figures = ", ".join(f"{name} {figure_text(referral.get(name))}"
                            + (f" ({_ci_words(referral, name)})" if _ci_words(referral, name) else "")
                            for name in ("sensitivity", "specificity"))
        short = "" if referral.get("target_met_out_of_fold") is not False else ", short of the target"
        ranked = (f"out of fold at its cross-fitted referral cuts (finetune.referral_target="
                  f"{referral.get('target')}) {figures}{short}, AUC {figure_text(metrics.get('auc'))}"
                  + (f" ({tie_ci})" if (tie_ci := _ci_words(metrics, 'auc_ovo')) else ""))
    elif len(names) == 2:  # the kappa by its name, one AUC (a Messidor-2 trial, F4/F5); the ranking unchanged
        words = KAPPA_TWO_GRADES if key == "qwk" else key_words
        auc_ci = _ci_words(metrics, "auc_ovo")
        ranked = (f"out-of-fold {words} {figure_text(metrics.get(key))}{f' ({ci})' if ci else ''}, "
                  f"{AUC_TWO_GRADES} {figure_text(metrics.get('auc'))}{f' ({auc_ci})' if auc_ci else ''}")
        screening = (f"; read as a screening decision (referable = grade 1{grade_name_words(names, 1)}): "
                     f"{screening_figures_words(referable)}" if isinstance(referable, dict) else "")
    else:
        ranked = (f"out-of-fold {key_words} {figure_text(metrics.get(key))}{f' ({ci})' if ci else ''}, macro "
                  f"{tie_name} {figure_text(metrics.get(tie_key))} ({tie_how}{f'; {tie_ci}' if tie_ci else ''})")
        # two grades: the screening decision's figures too, as the fine-tuning's lines say them
        screening = (f"; read as a screening decision (referable = grade 1{grade_name_words(names, 1)}): "
                     f"{screening_figures_words(referable)}" if len(names) == 2 and isinstance(referable, dict) else "")
    line = (f"result: {variant_title(selected, run_freeze(run_dir))} (selected for export): {ranked}"
            + (f", {n} images" if isinstance(n, int) and not isinstance(n, bool) and n > 0 else "") + screening)
    prov = data_provenance(run_dir / "data")
    phantom = prov["kind"] == "phantom"
    if drac_scale(prov, metrics.get("class_names") or prov.get("grades") or ()) and not phantom:
        line += " (not a leaderboard score: report.md says why)"
    said = ["On phantom images: the figures measure the pipeline on synthetic images, not how well "
            "it grades a real eye"] if phantom else []
    # the epoch chosen on the figures' own rows; a run made before the setting: its config.yaml's
    # rule, read with the former default (best), as report.md reads it
    if run_keep(run_dir, metrics) == "best":
        said.append(f"Figures {KEEP_BEST_CAVEAT}")
    if mixed := mixed_phantom_words(prov):
        said.append(mixed[0].upper() + mixed[1:])
    if trial := trial_run_words(trial_run_record(run_dir)):
        said.append(trial)
    return "".join([line, *(f". {words}" for words in said)])


def pretraining_result_line(run_dir: Path) -> str | None:
    """The headline of a run without fine-tuning figures, from its pretraining's records
    (``pretrain/metadata.json``, ``pretrain/metrics.jsonl``; nothing recomputed): the k-NN
    monitor's last figure, with its epoch and, where ``knn_start_top1`` is recorded, whether it
    is above, below or within noise of the starting backbone's
    (:func:`drac_ssl.report.knn_start_comparison`), or that the monitor was off
    (``pretrain.knn_every=0``) or scored no epoch; then the last epoch's VICReg loss, and that
    UMM ran after it (``umm/metadata.json``), e.g. ``result: pretraining only (no fine-tuning
    in this run): k-NN top-1 61.10% at epoch 2 of 2 (the k-NN monitor), 22.90 points below the
    starting backbone's 84.00% (random weights, before any step): these epochs left the
    features worse for k-NN than random weights; final loss 22.3383``. Then a
    trial run's words (:func:`drac_ssl.trial_run.trial_run_words`, "how good its features
    are") and, for an ingested data set, the phantom caveats as :func:`result_line` says them.
    None when the pretraining left no ``metadata.json`` (not run, or an ingest alone)."""
    from drac_ssl.report import finite_knn_figure, knn_start_comparison_of_run, pretrain_history

    meta = read_json_dict(run_dir / "pretrain" / "metadata.json")
    if meta is None:
        return None
    history = pretrain_history(run_dir)
    epochs = meta.get("epochs_run") or len(history) or "?"
    # a nan figure: the monitor's features were not finite (the console said so), not a figure
    knn_rows = [r for r in history if finite_knn_figure(r.get("knn_top1"))]
    knn_every = ((meta.get("config") or {}).get("pretrain") or {}).get("knn_every")
    against = None  # the last k-NN figure against the starting backbone's, when both are recorded
    if knn_rows:
        last_knn = knn_rows[-1]
        knn = (f"k-NN top-1 {float(last_knn['knn_top1']):.2f}% at epoch {int(last_knn.get('epoch', 0)) + 1} of "
               f"{epochs} (the k-NN monitor)")
        if against := knn_start_comparison_of_run(meta, history):
            knn += f", {against[1]}"
    elif not knn_every:
        knn = "k-NN monitor off (pretrain.knn_every=0)"
    else:
        knn = (f"no k-NN figure (pretrain.knn_every={knn_every}, but the monitor scored no epoch: "
               f"console.log says why)")
    last = history[-1] if history else {}
    final = last.get("epoch")
    # the epoch of the loss, unless the k-NN figure's said it already
    at = (f" (epoch {final + 1} of {epochs})" if isinstance(final, int)
          and not (knn_rows and knn_rows[-1].get("epoch") == final) else "")
    line = (f"result: pretraining only (no fine-tuning in this run): {knn}{'; ' if against else ', '}final loss "
            f"{figure_text(last.get('loss'), 4)}{at}"
            + ("; UMM ran after it" if (run_dir / "umm" / "metadata.json").is_file() else ""))
    said = []
    dataset = ((meta.get("config") or {}).get("data") or {}).get("dataset")
    if dataset in (None, "drac"):
        prov = data_provenance(run_dir / "data")
        if prov["kind"] == "phantom":
            said.append("On phantom images: the figures measure the pipeline on synthetic images, not features of real eyes")
        if mixed := mixed_phantom_words(prov):
            said.append(mixed[0].upper() + mixed[1:])
    if trial := trial_run_words(trial_run_record(run_dir), not_what="how good its features are"):
        said.append(trial)
    return "".join([line, *(f". {words}" for words in said)])


def _ci_words(metrics: dict[str, Any], key: str) -> str:
    """``95% CI 0.700..0.900`` of the figure ``key`` of a variant's ``metrics.json``
    (its ``<key>_ci95``, with ``<key>_ci95_note`` for one not meaningful); '' when it stores
    none (accuracy, the one-vs-one AUC)."""
    ci = metrics.get(f"{key}_ci95")
    if not isinstance(ci, list | tuple):
        return ""
    low, high = (list(ci) + [None, None])[:2]
    return f"95% CI {format_ci(low, high, metrics.get(f'{key}_ci95_note'))}"


def next_step_lines(run_dir: Path) -> list[str]:
    """What to do after a finished run, for the lines after ``[train] finished: RUN``, each
    command as the user types it (:func:`drac_ssl.starting.python_command`: the interpreter
    that ran this one; the run folder as given, quoted for the shell): read ``RUN/report.md``
    (when written); without a bundle, what measures the run's backbone
    (:func:`drac_ssl.report.next_step`: a bench command with ``--backbone
    RUN/pretrain/backbone.safetensors``, or the run's own command with the fine-tuning added);
    with a bundle (``RUN/bundle/metadata.json``, the export stage's), open the
    app on it and grade a folder of images with the export command; and, for a model trained
    on phantom images (``data.kind`` of its metadata), that its grades say nothing about a real
    eye, and where one's own fundus photographs are graded (``docs/own_fundus_folder.md``). []
    for a run folder that has neither (a run of the ingest alone). A new-user trial: the run
    ended at "finished: runs/default", and the user went on to grade her fundus photographs
    with the phantom model."""
    from drac_ssl.report import model_next_steps

    lines: list[str] = []
    report = run_dir / "report.md"
    bundle = run_dir / "bundle"
    meta = read_json_dict(bundle / "metadata.json")
    if report.is_file():
        lines.append(f"next: read {report} first (its \"Read this first\" says what to know before "
                     f"using the {'model' if meta is not None else 'run'})")
    if meta is None:  # a run without fine-tuning: what measures its backbone
        from drac_ssl.report import next_step

        step = next_step(run_dir)
        if step is not None:
            lines.append(f"{'then' if lines else 'next'}: {step.short}: {step.command}")
        return lines
    # report.md's "Next" says the same steps (one source: report.model_next_steps)
    for i, step in enumerate(model_next_steps(run_dir)):
        if not step.command:
            lines.append(f"  note: {step.what}")
        elif i == 0:
            lines.append(f"{'then' if lines else 'next'}: {step.what}: {step.command}")
        else:
            lines.append(f"  or {step.what}: {step.command}")
    return lines


def data_against_config_run(sources: dict[str, str] | None, run_dir: Path, shown: int = 5) -> str | None:
    """When ``-c`` read another run folder's ``config.yaml`` (a rerun of that run) and that
    folder has ``data/manifest.csv``: words naming the source files whose SHA-256 differs from
    that run's, the new ones and the gone ones (:func:`drac_ssl.manifest.source_file_changes`,
    the first ``shown`` of each), compared with the manifest this run's ingest just wrote; None
    when they are the same, or there is nothing to compare (no such ``-c``, this run's own
    folder, a manifest missing or unreadable). A rerun on other data cannot repeat the run's
    figures, and nothing said so (a reproducibility review)."""
    from drac_ssl.manifest import MANIFEST_FILE, ManifestError, read_manifest, source_file_changes

    file = getattr(getattr(sources, "fixes", None), "file", None)
    if file is None or Path(file).name != "config.yaml":
        return None
    source = Path(file).absolute().parent
    made = source / "data" / MANIFEST_FILE
    if source.resolve() == run_dir.resolve() or not (source / STAGES_RECORD).is_file() or not made.is_file():
        return None
    columns = ("id", "path", "split", "sha256")
    try:
        changes = source_file_changes(read_manifest(made, columns),
                                      read_manifest(run_dir / "data" / MANIFEST_FILE, columns))
    except (OSError, ManifestError):
        return None
    if not any(changes.values()):
        return None

    def listed(paths: list[str]) -> str:
        more = f", and {len(paths) - shown} more" if len(paths) > shown else ""
        return ", ".join(paths[:shown]) + more

    said = "; ".join(f"{len(paths)} {what} ({listed(paths)})" for what, paths in (
        ("differ", changes["differ"]), ("changed split", changes["moved"]), ("new", changes["new"]),
        ("gone", changes["gone"])) if paths)
    return (f"the data are not the data of {source}, whose config.yaml -c read: against its "
            f"data/{MANIFEST_FILE} (each source file's sha256), {said}; this run cannot repeat "
            f"its figures")


def _torch_compile_record(cfg: Config) -> dict[str, Any]:
    """``{"setting": pretrain.compile, "used": bool | None}``: whether the pretraining (the
    stage that compiles) runs ``torch.compile`` on the device ``run.device`` picks here
    (:func:`drac_ssl.runtime.use_compile`: ``auto`` is on CUDA only); ``used`` None when that
    device cannot be resolved now (the preflight says why)."""
    try:
        used: bool | None = runtime.use_compile(cfg.pretrain.compile, runtime.resolve_device(cfg.run.device))
    except (ValueError, RuntimeError):
        used = None
    return {"setting": cfg.pretrain.compile, "used": used}


def _saved_state_threads(run_dir: Path, stage: str) -> tuple[bool, int | None]:
    """(whether ``stage`` resumes from saved state, the CPU threads that made it) for a stage
    that keeps ``checkpoints/last.pt`` (:data:`CHECKPOINT_STAGES`): no last.pt is
    ``(False, None)`` (the stage starts over: nothing to be exact to); a last.pt without
    ``threads`` (written before the engine recorded it) or an unreadable one, and any other
    stage, are ``(True, None)``: the caller falls back to the run's earlier invocations."""
    if stage not in CHECKPOINT_STAGES:
        return True, None
    last = run_dir / stage / "checkpoints" / "last.pt"
    if not last.is_file():
        return False, None
    try:
        count = last_checkpoint(last)["threads"]
    except Exception:  # noqa: BLE001 - a torn or foreign file: the stage itself says what is wrong
        return True, None
    return True, count if isinstance(count, int) and not isinstance(count, bool) else None


def _resumed_with_other_threads(cfg: Config, run_dir: Path, env: dict[str, Any]) -> dict[str, Any] | None:
    """When this invocation resumes an unfinished stage (one of ``run.stages`` not done that
    an earlier invocation started: its ``stages.json`` entry, or its folder after a hard kill)
    with another number of CPU threads than made the state it resumes from, a warning says
    that the result will not be bit-identical to an uninterrupted run and how to get one
    (``run.threads``), and ``{"stage", "threads", "earlier"}`` is returned for the
    invocation's record; else None.

    The state's count: for pretrain and UMM the ``threads`` their ``checkpoints/last.pt``
    records (an attempt stopped before it saved an epoch changed nothing, so it does not
    count; no last.pt: the stage starts over, nothing said); for the other stages, and a
    last.pt written before the count was recorded, the run's last earlier invocation's
    (``invocations.jsonl``, else ``environment.json``).

    ``run.threads`` changes no setting's signature (a resume on another machine is
    legitimate), but CPU float sums depend on the thread count: a pretraining resumed with
    another count differed in most of its tensors."""
    now = recorded_threads(env)
    status = read_stages_record(run_dir)
    stage = next((name for name in PIPELINE if name in cfg.run.stages
                  and (status.get(name) or {}).get("status") != "done"), None)
    if now is None or stage is None or not (stage in status or (run_dir / stage).exists()):
        return None
    resumes, earlier = _saved_state_threads(run_dir, stage)
    if not resumes:
        return None
    if earlier is None:  # another stage, or a last.pt from before the count was recorded
        earlier = _last_invocation_threads(run_dir)
        made = f"its earlier invocation ran with {earlier} (invocations.jsonl)"
    else:
        made = f"its saved state ({stage}/checkpoints/last.pt) was made with {earlier}"
    if earlier is None or earlier == now:
        return None
    print(f"[train] warning: stage {stage} resumes with {now} CPU thread(s), {made}: CPU float sums "
          f"depend on the thread count, so the resumed result will not be bit-identical to an "
          f"uninterrupted run (the settings are the same; the weights differ in their last "
          f"digits).\n  for identical results: rerun with run.threads={earlier}", flush=True)
    return {"stage": stage, "threads": now, "earlier": earlier}


def _resumed_with_other_builds(runs_stages: bool, made: dict[str, Any] | None,
                               env: dict[str, Any]) -> dict[str, dict[str, str | None]] | None:
    """When this invocation runs stages in a run folder made with other builds of the
    libraries its figures depend on (``made``: the folder's ``environment.json`` as it was
    before this invocation, its ``builds``; :func:`drac_ssl.runtime.library_builds`), a warning
    says which and that the stages run now will not be bit-identical to ones run with the
    run's own builds, and :func:`drac_ssl.runtime.build_changes` is returned for the
    invocation's record (report.md says the run mixed builds); else None. Nothing is said when
    no stage is left to run (``runs_stages`` False: :func:`drac_ssl.preflight.stages_to_run`
    is empty), or for a folder made before builds were recorded."""
    changes = runtime.build_changes((made or {}).get("builds"), env.get("builds") or {})
    if not changes or not runs_stages:
        return None
    print(f"[train] warning: this run folder was made with other builds of libraries its figures "
          f"depend on (environment.json 'builds'): {runtime.build_change_words(changes)}. Another "
          f"build can decode, resize and sum differently, so the stages run now will not be "
          f"bit-identical to ones run with the run's own builds (invocations.jsonl records each "
          f"invocation's).\n  for identical results: run it in the environment the run was made "
          f"in, or start a new run (run.name=...)", flush=True)
    return changes


def _last_invocation_threads(run_dir: Path) -> int | None:
    """The CPU threads of the run's last earlier ``python -m drac_ssl.train`` invocation that
    recorded them (``invocations.jsonl``, else ``environment.json``); None when none did."""
    for line in reversed(invocations(run_dir / runtime.INVOCATIONS)):
        earlier = recorded_threads(line)
        if earlier is not None:
            return earlier
    return recorded_threads(read_json_dict(run_dir / "environment.json"))


def _checkpoint_words(cfg: Config, run_dir: Path, name: str) -> StageInterrupted | None:
    """For a Ctrl-C in stage ``name`` that said nothing of what is saved: what its
    ``checkpoints/last.pt`` holds (a stage trained by epochs: pretrain, umm), else None."""
    epochs = getattr(getattr(cfg, name, None), "epochs", None)
    if not isinstance(epochs, int):
        return None
    return checkpoint_interrupted(run_dir / name / "checkpoints" / "last.pt", epochs)


FAILED_STAGE = "failed_stage"
"""The attribute :func:`_run_stages` sets on a stage's error: the stage's name."""

RECORD_UNWRITTEN = "record_unwritten"
"""The attribute :func:`_run_stages` sets on a stage's error when its failure could not be
recorded in ``stages.json`` either (a full disk): the words :func:`_main` says after the error's
own (a traceback shows them as the error's note)."""


def _note_record_unwritten(exc: BaseException, status_path: Path, unwritten: OSError) -> None:
    """Mark ``exc`` (a stage's error) with :data:`RECORD_UNWRITTEN`: ``status_path`` could not
    record the failure (``unwritten``), so it still says the attempt is running and the next
    start counts it as killed; the same command resumes what the stage kept."""
    why = NO_SPACE_WORDS if no_space(unwritten) else (unwritten.strerror or str(unwritten))
    words = (f"{status_path} could not record this failure either ({why}): it still says the stage is "
             "running, so the next start counts this attempt as killed; once there is room, the same "
             "command resumes from what the stage kept")
    setattr(exc, RECORD_UNWRITTEN, words)
    exc.add_note(words)


def _said_record_unwritten(exc: BaseException) -> None:
    """After a one-line error in :func:`_main`: :data:`RECORD_UNWRITTEN`'s words, if any."""
    for error in (exc, exc.__cause__, exc.__context__):  # the stage's, or the one said in its place
        if words := getattr(error, RECORD_UNWRITTEN, None):
            print(f"error: {words}", file=sys.stderr)
            return


def _ingest_kept_words() -> StageInterrupted | None:
    """For a Ctrl-C in the ingest stage: how many of the images it had to decode are kept for
    its rerun (:data:`data_prep.cache.DECODED`, as ``python -m data_prep ingest`` says it,
    :func:`data_prep.ingest.interrupted_words`), e.g. ``("12 of 40 images to decode are decoded
    and kept", "continue the ingest from there: it decodes only the other 28 and reuses the 70
    of the finished cache")``; None before the ingest knew which images it decodes. The words
    are the ingest's own (:func:`data_prep.ingest.kept_for_rerun`)."""
    from data_prep.ingest import kept_for_rerun

    kept = kept_for_rerun()
    if kept is None:
        return None
    return StageInterrupted(kept[0], f"continue the ingest from there: it decodes {kept[1]}{kept[2]}")


def _killed_left(cfg: Config, run_dir: Path, name: str) -> SavedCheckpoint:
    """What a killed attempt of stage ``name`` (pretrain, umm) left to resume from, and what
    this attempt does with it under the epochs ``cfg`` gives the stage now (an unfinished
    stage may be given more or fewer than it was saved under):
    :func:`drac_ssl.run_state.checkpoint_saved`; for a ``last.pt`` without its record (a run
    folder made before ``last.json``), read from the checkpoint itself (torch is loaded here:
    its epoch, step, early stop, the epochs its configuration planned), as
    :func:`drac_ssl.runtime.checkpoint_interrupted` reads it for a Ctrl-C."""
    epochs = getattr(getattr(cfg, name, None), "epochs", None)
    epochs = epochs if isinstance(epochs, int) else None
    left = checkpoint_saved(run_dir, name, epochs=epochs)
    if not left.unrecorded:
        return left
    last = run_dir / name / "checkpoints" / "last.pt"
    try:
        import torch

        state = torch.load(last, map_location="cpu", weights_only=True, mmap=True)
        done = int(state["epoch"]) + 1
        saved_cfg = state.get("config")
        planned = saved_cfg.get(name, {}).get("epochs") if isinstance(saved_cfg, dict) else None
        step = state.get("step")
        when = _dt.datetime.fromtimestamp(last.stat().st_mtime, _dt.UTC).isoformat(timespec="seconds")
        return saved_checkpoint(
            f"{name}/checkpoints/last.pt", last.stat().st_size, done=done,
            planned=planned if isinstance(planned, int) else None, step=step if isinstance(step, int) else None,
            utc=when, stopped=str(state.get("stopped") or ""),
            monitors_pending=state.get("monitors_pending") is not None, epochs=epochs)
    except Exception:  # noqa: BLE001 - a torn or foreign file: its epoch stays unknown
        return left


def _stage_code(name: str, start: dict[str, Any]) -> dict[str, Any] | None:
    """The code stage ``name`` runs on (:func:`drac_ssl.runtime.code_version`, one git call,
    and the code fingerprint), recorded in its ``stages.json`` entry as ``code``. The stages
    import their modules when they start: when the code changed since the run was made
    (``start``, its ``environment.json``; :func:`drac_ssl.runtime.same_code`: the code
    fingerprints, else, for a record without one, the commits and dirty flags), e.g. a merge
    landed mid-run or an old run is resumed by newer code, a warning says so and what differs
    (:func:`drac_ssl.runtime.code_difference`; report.md says the run mixed code versions).
    A run made before the fingerprint by code that was no git checkout names no code
    (:func:`drac_ssl.runtime.code_known`): the warning says so and names this stage's code."""
    code = runtime.code_version()
    if not start or not runtime.code_known(code) or same_code(code, start):
        return code or None
    if not runtime.code_known(start):  # not "not on the unknown the run was made with: the checkout changed"
        print(f"[train] warning: stage {name}: this run was made by {runtime.UNKNOWN_CODE}, see "
              f"environment.json; this stage runs on {runtime.code_at(code)}: the run may mix code "
              f"versions (stages.json records each stage's)", flush=True)
    else:
        print(f"[train] warning: stage {name} runs on {runtime.code_at(code, start)}, not on the "
              f"{runtime.code_at(start, code)} the run was made with (environment.json): "
              f"{runtime.code_difference(code, start)}; the code changed since, so the run mixes code "
              f"versions (stages.json records each stage's)", flush=True)
    return code


def _freed_mib(folder: Path) -> tuple[float, float]:
    """(MiB that removing ``folder`` frees, MiB of its files that are hard links a file outside
    it still holds: ``run.reuse`` links taken stages from another run folder, so removing
    them frees nothing). Files are counted by inode (``st_dev``, ``st_ino``), once each: an
    inode all of whose ``st_nlink`` links lie inside ``folder`` (the export's bundle links the
    fine-tuned weights within the run folder) is freed, once; one with a link outside is
    shared. Apparent sizes, symbolic links not followed."""
    inodes: dict[tuple[int, int], list[int]] = {}  # -> [size, st_nlink, links seen inside]
    for path in folder.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        info = path.lstat()
        inodes.setdefault((info.st_dev, info.st_ino), [info.st_size, info.st_nlink, 0])[2] += 1
    freed = sum(size for size, links, inside in inodes.values() if inside >= links)
    shared = sum(size for size, links, inside in inodes.values() if inside < links)
    return round(freed / 2**20, 1), round(shared / 2**20, 1)


def remove_checkpoints(cfg: Config, run_dir: Path) -> list[str]:
    """``run.keep_checkpoints=false``: remove ``pretrain/checkpoints/`` and ``umm/checkpoints/``
    of the stages ``stages.json`` records as done, and record it in their entries as
    ``checkpoints_removed`` (``{"folder", "mib", "utc"}``: the folder relative to ``run_dir``,
    the MiB freed and when). Called by :func:`_run_stages` once every stage of ``run.stages``
    has finished: an unfinished stage keeps its checkpoints (it resumes from them), and so does
    the pretraining while a UMM stage of this folder that starts from one of them
    (:func:`drac_ssl.preflight.pretrain_checkpoints_needed`) has not run. Prints one line (the
    MiB freed) when anything was removed, one when the pretraining's were kept. Returns the
    folders removed, relative to ``run_dir``. A folder that cannot be removed (permissions) is
    a warning line, not an error: every stage has finished."""
    status_path = run_dir / STAGES_RECORD
    status = read_stages_record(run_dir)
    removed: list[str] = []
    freed = shared = 0.0
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    for stage in CHECKPOINT_STAGES:
        entry = status.get(stage)
        folder = run_dir / stage / "checkpoints"
        if not (isinstance(entry, dict) and entry.get("status") == "done" and folder.is_dir()):
            continue
        if stage == "pretrain" and preflight.pretrain_checkpoints_needed(cfg, status):
            print(f"[train] run.keep_checkpoints=false: {stage}/checkpoints kept: "
                  f"umm.start_from={cfg.umm.start_from} starts the umm stage from it, which has not "
                  f"run in this folder")
            continue
        mib, linked = _freed_mib(folder)
        try:
            shutil.rmtree(folder)
        except OSError as exc:
            print(f"[train] warning: run.keep_checkpoints=false, but {folder} could not be removed "
                  f"({exc}); every stage has finished, so deleting it by hand loses nothing else")
            continue
        entry["checkpoints_removed"] = {"folder": f"{stage}/checkpoints", "mib": mib, "utc": now,
                                        **({"hard_linked_mib": linked} if linked else {})}
        atomic_write_json(status_path, status)
        removed.append(f"{stage}/checkpoints")
        freed += mib
        shared += linked
    if removed:
        print(f"[train] run.keep_checkpoints=false: removed {', '.join(removed)} ({freed:.1f} MiB freed"
              + (f"; {shared:.1f} MiB more were hard links that another run folder still holds"
                 if shared else "") + "): a resume needs them no more; stages.json records it")
    return removed


def _taken_folds_words(other: dict[str, Any], made: str) -> str:
    """The console's words on a stage taken with other folds (``other``: its ``stages.json``
    ``other_folds``; ``made``: the run that ran it, the first of a chain): whose folds it was
    made with, each differing setting's value there and here, and the fold figures it keeps."""
    settings = fold_lines(other.get("settings"))
    there = "; ".join(f"{key} {old} there, {new} here" for key, (old, new) in settings.items())
    figures = other.get("fold_figures") or []
    if not settings:
        return f"; made in {made} with the same fold settings as this run's"
    return (f"; made with the folds of {made} ({there}), which it never read" + (
        f" but for its {', '.join(figures)} figures, measured on {other.get('figures_from') or made}'s folds, "
        f"not this run's" if figures else ""))


def _run_stages(cfg: Config, run_dir: Path, sources: dict[str, str] | None,
                peers: _Peers | None = None, seen: tuple[str, float] | None = None) -> None:
    """The stages of ``run.stages`` in pipeline order (finished ones skipped), each recorded in
    ``stages.json``, then the report (:func:`run_pipeline`, after the preflight). ``peers``:
    under torchrun, the other processes, told before the pretraining whether to take part.

    A stage's entry is written as it starts (``"status": "running"``, ``started_utc``, its
    ``attempts`` so far, ``cpu_threads``: the torch intra-op threads of each attempt, this
    one last) and again as it ends (done, interrupted or failed). An entry still
    ``running`` at the next start is an attempt killed without a word (``kill -9``, the OOM
    killer): it counts as an attempt (``killed_attempts``), what a killed pretraining or UMM
    saved in ``killed_left`` (``what``, ``then``: :func:`_killed_left`, what this attempt does
    under the stage's epochs now; said on the console too; the last killed attempt's), its time as far as known
    (:func:`drac_ssl.run_state.killed_attempt_seconds`, ``seen``:
    :func:`drac_ssl.run_state.killed_training_seen`) in
    ``seconds_earlier_attempts``, and those not timed in ``untimed_attempts``."""
    status_path = run_dir / STAGES_RECORD
    status = read_stages_record(run_dir, strict=True)
    start = read_json_dict(run_dir / "environment.json") or {}  # the code the run was made with
    import torch  # the stages import it anyway

    threads = torch.get_num_threads()  # run.threads as applied: each attempt's, in cpu_threads
    for name in PIPELINE:
        if name == "pretrain":  # taken with other folds: on the images of the ingest (a no-op once checked)
            check_refolded(cfg, run_dir, status)
        if name == "pretrain" and peers is not None:  # torchrun: the others pretrain with us, or leave
            peers.tell(run_dir, pretrain=name in cfg.run.stages
                       and status.get(name, {}).get("status") != "done")
        if name not in cfg.run.stages:
            continue
        if status.get(name, {}).get("status") == "done":
            source = status[name].get("reused_from")
            via = f" via {status[name]['via']}" if status[name].get("via") else ""
            other = status[name].get("other_folds")
            folds = _taken_folds_words(other, str(source)) if isinstance(other, dict) else ""
            print(f"[train] stage {name}: already done "
                  + (f"in {source} ({float(status[name].get('seconds_in_source') or 0):.1f} s there; "
                     f"taken by run.reuse{via}{folds})" if source else f"({status[name]['seconds']:.1f} s)")
                  + ", skipping")
            continue
        previous = status.get(name, {})  # an attempt that was interrupted, failed or killed
        killed_now = previous.get("status") == "running"  # it never said how it ended: killed
        lasted = killed_attempt_seconds(previous, seen) if killed_now else None
        before_s = float(previous.get("seconds_earlier_attempts", 0)) + float(
            (lasted if killed_now else previous.get("seconds", 0)) or 0)
        attempts = int(previous.get("attempts", 1 if previous else 0)) + 1
        killed = int(previous.get("killed_attempts", 0)) + killed_now
        untimed = int(previous.get("untimed_attempts", 0)) + (killed_now and lasted is None)
        earlier, of_killed = _earlier_words(before_s, killed, untimed)
        # what a killed pretraining or UMM saved, read before this attempt writes a checkpoint
        left = _killed_left(cfg, run_dir, name) if killed_now and name in CHECKPOINT_STAGES else None
        killed_left = {"what": left.what, "then": left.then} if left else previous.get("killed_left")
        # each attempt's CPU threads, in order (attempts made before they were recorded: not
        # listed): a resume with another count is not bit-identical (report.mixed_threads_words)
        earlier_threads = previous.get("cpu_threads")
        cpu_threads = [*(earlier_threads if isinstance(earlier_threads, list) else []), threads]
        record = {"seconds_earlier_attempts": round(before_s, 2), "attempts": attempts, "cpu_threads": cpu_threads,
                  **({"killed_attempts": killed} if killed else {}),
                  **({"untimed_attempts": untimed} if untimed else {}),
                  **({"killed_left": killed_left} if isinstance(killed_left, dict) else {})}
        try:  # a Ctrl-C here: the stage's own work has not begun (no checkpoint involved)
            print(f"[train] stage {name}: starting" + (f" (attempt {attempts}; the earlier ones ran "
                                                       f"{earlier}{of_killed})" if previous else ""))
            if left is not None:
                print(f"[train] stage {name}: the killed attempt left {left.what}; this attempt {left.then}")
            code = _stage_code(name, start)
        except KeyboardInterrupt:
            raise InterruptedOutsideStage(
                f"interrupted before stage {name} started: "
                + ("nothing more of it was done; rerun the same command to go on with it"
                   if previous else "nothing of it was done; rerun the same command to start it")
            ) from None
        t0 = time.perf_counter()
        running = False  # whether stages.json says this attempt runs (else the failure is its own write's)
        try:
            # the attempt is recorded as it starts: a kill -9 leaves it "running", and the next
            # start counts it (a trial's stages.json said attempts: 2 after 3 attempts)
            status[name] = {"status": "running",
                            "started_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                            **record, **({"code": code} if code else {})}
            atomic_write_json(status_path, status)
            running = True
            outputs = STAGES[name](cfg, run_dir)
        except BaseException as exc:  # Ctrl-C or an error: say so in stages.json, then stop
            status[name] = {
                "status": "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                "seconds": round(time.perf_counter() - t0, 2), **record,
                "stopped_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                **({"code": code} if code else {}),
            }
            if not isinstance(exc, KeyboardInterrupt):
                # a full or read-only disk that stopped the stage fails this write too: the
                # stage's own error is said first (its file), then that stages.json keeps "running"
                setattr(exc, FAILED_STAGE, name)  # the stage whose settings an out-of-memory error names
                try:
                    atomic_write_json(status_path, status)
                except OSError as unwritten:
                    if running:  # else stages.json's own error is the one said
                        _note_record_unwritten(exc, status_path, unwritten)
                raise
            # Ctrl-C: which stage, and what of it is saved (the stages that train say so)
            stopped = exc if isinstance(exc, StageInterrupted) else StageInterrupted()
            if not stopped.saved:  # outside the epoch loop (e.g. just after the last epoch's save)
                stopped = _checkpoint_words(cfg, run_dir, name) or stopped
            if not stopped.saved and name == "ingest":  # the images its rerun does not decode again
                stopped = _ingest_kept_words() or stopped
            stopped.stage = name
            if stopped.saved:
                status[name]["saved"] = stopped.saved
            atomic_write_json(status_path, status)
            raise stopped from None
        status[name] = {
            "status": "done",
            "seconds": round(time.perf_counter() - t0, 2),
            "finished_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "outputs": outputs,
            **({"code": code} if code else {}),
        }
        if previous:  # resumed: the time of the interrupted attempts is not lost
            status[name].update(record)
        status[name]["cpu_threads"] = cpu_threads
        atomic_write_json(status_path, status)
        print(f"[train] stage {name}: done in {status[name]['seconds']:.1f} s"
              + (f" (+ {earlier} in {attempts - 1} earlier attempt(s){of_killed})" if previous else ""))
        if name == "pretrain" and peers is not None:
            peers.leave()  # torchrun: the others have left; the later stages run in this process alone
        if name == "ingest":
            if changed := data_against_config_run(sources, run_dir):
                print(f"[train] warning: {changed}")
                runtime.add_to_invocation(run_dir, {"data_against_config_run": changed})  # not the console's only
            check_refolded(cfg, run_dir, status)  # before the checks of the stages left to run
            for warning in preflight.after_ingest(cfg, run_dir, sources):
                print(f"[preflight] {warning.severity}: {warning.line}")
    if not cfg.run.keep_checkpoints:  # every stage of run.stages is done: none will resume
        try:
            remove_checkpoints(cfg, run_dir)
        except KeyboardInterrupt:
            raise InterruptedOutsideStage(
                "interrupted while the checkpoints were removed (run.keep_checkpoints=false): every "
                "stage of run.stages is finished; rerun the same command to remove the rest") from None
    if any((run_dir / stage).is_dir() for stage in REPORTED_STAGES):
        try:
            from drac_ssl.report import report_writer, rewritten_report_words, write_report

            before = report_writer(run_dir)
            print(f"[train] report: {write_report(run_dir)}{rewritten_report_words(run_dir, before)}")
        except KeyboardInterrupt:
            stopped = InterruptedOutsideStage(
                "interrupted while report.md was written: every stage of run.stages is finished; "
                "rerun the same command to rewrite report.md")
            setattr(stopped, "report", "")  # noqa: B010 - its words say how to write report.md
            raise stopped from None


REPORTED_STAGES = ("pretrain", "umm", "finetune")
"""A run whose folder holds one of these stages' folders ends with report.md written (by the
stage's own code, or taken by ``run.reuse``): a pretraining-only run too, a generic data set's
or one whose ``run.stages`` leave the fine-tuning out; an ingest alone has no report."""


def main(argv: list[str] | None = None) -> int:
    """``python -m drac_ssl.train [-c FILE|NAME] [section.key=value ...]``: run the stages of
    ``run.stages`` into the run folder (resuming what is saved there).

    Args:
        argv: the command's words after ``python -m drac_ssl.train``; None: ``sys.argv[1:]``,
            the process's own command line.

    Returns:
        The exit code: 0 done; 1 a training diverged (non-finite) or, under torchrun, process
        0 failed; 2 a configuration or data problem, said on stderr before any stage ran or
        where it stopped, or a file of the run folder that could not be written (a full or
        read-only disk: :class:`RunFolderWriteError`, :class:`~drac_ssl.checkpoint.CheckpointWriteError`),
        or DataLoader workers (spawn) that stopped at the script's unguarded top-level call,
        or out of memory (a ``MemoryError``: the settings to lower said);
        75 (:data:`~drac_ssl.exit_codes.RUN_BUSY`) the run is already running in another
        process (:class:`drac_ssl.runtime.RunBusy`); 130 interrupted by Ctrl-C, 143 by SIGTERM (the same clean stop:
        :func:`drac_ssl.starting.interrupt_exit_code`), with ``argv`` None only.
        ``--help``, ``--version``, ``--list-configs`` and a usage error raise ``SystemExit`` (argparse);
        so does ``main()`` without ``argv`` in a Jupyter kernel (whose ``sys.argv`` is the
        kernel's own): the error says to pass ``argv``.

    Raises:
        TrainingInProgress: (a RuntimeError) another ``main()`` call is running in this
            process (another thread): one training per process at a time; refused before
            anything is read, naming the other call's thread and ``argv``.
        drac_ssl.torch_pair.TorchPairError: (an ImportError) the installed torch and
            torchvision are no matching pair, or one is missing: the versions and the
            ``pip install`` that fixes it (:func:`drac_ssl.torch_pair.require_torch_pair`),
            before anything is read or run.
        SystemExit: (code 1, one line on stderr) in a worker process (the ingest's, a
            DataLoader's under spawn) importing a script that calls ``main`` at its top level,
            not under ``if __name__ == "__main__":`` (:func:`data_prep.pool.refuse_top_level_rerun`),
            before anything is read: it would meet its own parent's run ("this run is already
            running") and run the script's code after the call in every worker; the guard, or
            ``data.workers=1 pretrain.num_workers=0``, is the fix.
        KeyboardInterrupt: interrupted (Ctrl-C, a notebook's "Interrupt kernel", SIGTERM)
            when called with an ``argv``: recorded and said as the command does (what is
            saved, how to resume), then raised again so that the caller (a notebook's "Run
            All", a script) stops there; its ``exit_code`` attribute is the command's code,
            130 or 143.

    Called from Python with an ``argv`` (a script, a notebook), the run records and prints
    the command that does the same, ``PYTHON -m drac_ssl.train *argv`` (each word quoted for
    the shell where it needs it): in ``invocations.jsonl``, ``environment.json``, the resume
    and next-step commands (:func:`drac_ssl.runtime.command_given`), not the caller's
    ``sys.argv`` (its script, or Jupyter's ``ipykernel_launcher``). ``PYTHON`` is the running
    interpreter (:func:`drac_ssl.runtime.interpreter_word`).

    Threads: the run sets torch's and OpenCV's CPU threads by ``run.threads`` (the thread
    policy, :func:`drac_ssl.runtime.apply_thread_policy`) and gives them back on return,
    whatever happened (:func:`drac_ssl.runtime.threads_kept`; the command's own process exits
    then anyway). Torch's inter-op pool, which a process can size once only, is sized only when
    ``argv`` is None (the command's own process): a call with an ``argv`` leaves the caller's
    as it is, and the run records the count it ran with.

    Random generators: the run seeds Python's ``random``, NumPy's ``np.random`` and torch's
    from ``run.seed``; a call with an ``argv`` gives the caller's states back on return,
    whatever happened (:func:`drac_ssl.runtime.random_state_kept`).

    One run per process at a time (a second call while one runs raises
    :class:`TrainingInProgress`): the run's ``console.log`` takes this
    process's ``sys.stdout`` and ``sys.stderr`` (:func:`drac_ssl.runtime.console_log`), and
    the thread counts are the process's, so two runs in two threads of one process would each
    log the other's lines and set each other's threads; start a process per run
    (``subprocess.run([sys.executable, "-m", "drac_ssl.train", ...])``) to run several at
    once. A grading or export in another thread while a run trains records its own command
    (a context variable, per thread).

    Signals: SIGINT's and SIGTERM's handlers are the caller's again when the call returns or
    raises, whatever happened (:func:`drac_ssl.starting.stop_signal_handlers_given_back`), so
    a notebook or script that called it keeps its Ctrl-C. Only the command's own process
    (:func:`command_main`) ignores further Ctrl-C and SIGTERM on an interrupted run's way out
    (:func:`drac_ssl.starting.hold_signals_if_command`), until :func:`exit_with`.
    """
    # a worker process importing a script that calls main() at its top level, unguarded: it
    # stops there, before the run's lock ("this run is already running": its own parent's run)
    refuse_top_level_rerun("drac_ssl.train.main", "data.workers=1 pretrain.num_workers=0")
    started()  # everything is imported: Ctrl-C raises KeyboardInterrupt again
    # a notebook's mismatched torchvision: said with its fix, not "torchvision::nms does not exist"
    # (the command line checks it before torch loads: drac_ssl.commands.refuse_train_early)
    require_torch_pair()
    if argv is None and _in_a_notebook():  # the kernel's own command line: "unrecognized arguments: -f"
        train_parser().error("called from a notebook: pass argv, e.g. "
                             "drac_ssl.train.main(['-c', 'fundus', '--first-try']) (main() reads sys.argv, "
                             "here the Jupyter kernel's own command line)")
    with _one_training(argv), stop_signal_handlers_given_back():  # the caller's, after started()
        return _command(argv)


class TrainingInProgress(RuntimeError):
    """:func:`main` called while another call of it runs in this process (another thread, a
    notebook's background thread): refused before anything is read or run, as two runs in one
    process would each log the other's lines and set each other's thread counts."""


_TRAINING = threading.Lock()
"""Held while a :func:`main` call runs: one training per process at a time."""
_TRAINING_BY = ""
"""Which call holds :data:`_TRAINING`, in words (its thread and ``argv``), for the refusal."""


@contextlib.contextmanager
def _one_training(argv: list[str] | None) -> Iterator[None]:
    """The block holds this process's one training slot (:data:`_TRAINING`).

    Raises:
        TrainingInProgress: another :func:`main` call holds it; the message names its thread
            and ``argv`` and says how to run several at once (a process per run)."""
    global _TRAINING_BY
    acquired = False
    try:  # acquired inside: a Ctrl-C right after the acquire still releases it
        acquired = _TRAINING.acquire(blocking=False)
        if not acquired:
            raise TrainingInProgress(
                f"another training is running in this process ({_TRAINING_BY}): drac_ssl.train.main runs one "
                f"training per process at a time (the run's console.log takes the process's stdout and stderr, "
                f"and its thread counts are the process's)\n"
                f"  fix: wait for it to return, or start a process per run: subprocess.run([sys.executable, "
                f"'-m', 'drac_ssl.train', ...])")
        _TRAINING_BY = f"thread {threading.current_thread().name!r}, argv {argv!r}"
        yield
    finally:
        if acquired:
            _TRAINING_BY = ""
            _TRAINING.release()


def _in_a_notebook() -> bool:
    """Whether this process is a Jupyter (IPython) kernel: its ``sys.argv`` is the kernel's
    (``.../ipykernel_launcher.py -f .../kernel-N.json``), not a command for :func:`main`."""
    launcher = os.path.basename(sys.argv[0]) if sys.argv else ""
    return launcher == "ipykernel_launcher.py" or "ipykernel" in sys.modules


def command_main() -> int:
    """:func:`main` of the process's own command line (``sys.argv[1:]``) for ``python -m
    drac_ssl.train`` and the installed ``drac-ssl-train``
    (:func:`drac_ssl.commands.train_command`), always followed by :func:`exit_with`: after an
    interrupt further Ctrl-C and SIGTERM stay ignored (:func:`drac_ssl.starting.hold_signals_for_exit`)
    until :func:`exit_with` installs the teardown's handlers, not given back in between (the
    SIGTERM block, :func:`drac_ssl.starting.sigterm_as_ctrl_c`, keeps the hold), so a second
    Ctrl-C cannot cut the line that says what was saved nor raise a traceback, and a SIGTERM
    cannot kill the process by signal with ``atexit`` skipped. It marks the process as the
    command's own (:func:`drac_ssl.starting.mark_own_process`, the flag
    :func:`drac_ssl.starting.run_command` sets for the other commands): a second Ctrl-C while
    the first one's stop unwinds is answered with one "already stopping" line, not raised."""
    mark_own_process()
    started()  # everything is imported: Ctrl-C raises KeyboardInterrupt again
    # > /dev/full, | head -1: the run goes on, console.log keeps the lines (not a traceback, exit 1)
    with stdout_survives():
        return _command(None)


def _command(argv: list[str] | None) -> int:
    """:func:`main`'s work, without giving the signal handlers back."""
    args = train_parser().parse_intermixed_args(argv)  # overrides on both sides of -c FILE
    overrides = train_overrides(args)  # --threads N: run.threads=N, named as typed
    # kill / systemd / SLURM: stops as Ctrl-C does, said and recorded; a call from Python
    # records its own command and leaves the caller's threads as they were
    # and its random generators (a host's streams go on as if no run happened)
    with (runtime.sigterm_as_ctrl_c(), runtime.command_given("drac_ssl.train", argv),
          runtime.threads_kept(), runtime.random_state_kept() if argv is not None else contextlib.nullcontext()):
        return _main(overrides, args.config, train_preset(args), inter_op=argv is None)


def _main(overrides: list[str], config: str | None, preset: preflight.PresetOf | None = None,
          inter_op: bool = True) -> int:
    """:func:`main` once the arguments are parsed (``preset``: ``--first-try``'s,
    :func:`drac_ssl.commands.train_preset`, given from the ``-c`` file as read, which is read
    once; ``inter_op``: size torch's inter-op pool, :func:`drac_ssl.runtime.apply_thread_policy`)."""
    try:
        try:
            # no -c and no shipped configs (an install that lost them): refused, not the built-in defaults
            config_path = config if config is not None else default_config_file()
            cfg, sources, problems = preflight.read_config(config_path, overrides, preset)
            if preset is first_try_overrides and (cached := _cached_by_kept_ingest(cfg)):
                # --first-try over an ingest the run does not rerun: its sizes from the cache it holds
                cfg, sources, problems = preflight.apply_overrides(
                    sources.file, overrides, functools.partial(first_try_overrides, cached=cached))
            threads = apply_thread_policy(max(cfg.run.threads, 0), inter_op)  # a negative count: the preflight says
        except KeyboardInterrupt:
            raise InterruptedBeforeStart from None
        threads_line = (f"[train] CPU threads: {threads['threads']} ({threads['source']}; "
                        f"{threads['usable_cores']} usable cores)")
        first_try = first_try_words(_first_try_applied(sources, _ingest_kept(cfg) if getattr(sources, "presets", None)
                                                       else set()))
        other_run = _other_run_config_problem(cfg, sources, overrides)
        if other_run:  # before any work: nothing run (a warning alone still trained)
            refused = ConfigError(other_run)
            if os.environ.get("RANK", "0") in ("", "0"):  # process 0 (torchrun: each process refuses)
                # a requeued torchrun job reads this 2 from the folder it names, not its last 143
                _record_refused(cfg, resolve_run_dir(cfg), refused)
            raise refused
        said = [*_named_config_line(config, sources), *_former_defaults_line(sources), threads_line,
                *([f"[train] {first_try}: the tiny first try, its figures mean nothing"] if first_try else [])]
        print("\n".join(said))
        run_pipeline(cfg, sources, problems, said=said)
    except runtime.RunBusy as exc:  # another process trains this run: try later (a scheduler requeues)
        print(f"error: {exc}", file=sys.stderr)
        return _exit_code_of(exc)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        _said_record_unwritten(exc)  # a full disk: stages.json could not say the stage failed
        global _REFUSED
        _REFUSED = isinstance(exc, preflight.PreflightError)  # no stage running, every file written
        return _exit_code_of(exc)
    except PermissionError as exc:  # another account's run folder (mode 0700, run.private), a file it reads
        print(f"error: {unreadable_words(exc)}", file=sys.stderr)
        return _exit_code_of(exc)
    except NonFiniteError as exc:  # a training diverged: its diagnostic and fix, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        _said_record_unwritten(exc)
        return _exit_code_of(exc)
    except ProcessZeroFailed as exc:
        print(exc, file=sys.stderr)
        return _exit_code_of(exc)
    except UnguardedScriptLoader as exc:  # one line, after the worker's own with the fix
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:  # the settings to lower, not a traceback (a low-memory tester's review)
        # a worker killed (SIGKILL, SIGBUS) while the step ran, not in next(): torch raised it here
        if (stalled := runtime.as_loader_stalled(exc, getattr(exc, FAILED_STAGE, None))) is not None:
            print(f"error: {stalled}", file=sys.stderr)
            _said_record_unwritten(exc)
            return _exit_code_of(stalled)
        if not is_out_of_memory(exc):
            raise
        print(f"error: {out_of_memory_words(exc, train_memory_fix(getattr(exc, FAILED_STAGE, None)))}",
              file=sys.stderr)
        _said_record_unwritten(exc)
        return _exit_code_of(exc)
    except InterruptedBeforeStart as exc:
        hold_signals_if_command()  # the command's own process: a second Ctrl-C cannot cut the line
        print("\n[train] interrupted before any stage started (while the settings were checked): "
              "nothing was run or written; rerun the same command to run it", file=sys.stderr)
        return _interrupted_exit(exc, inter_op)
    except KeyboardInterrupt as exc:
        hold_signals_if_command()  # as above: further Ctrl-C / SIGTERM ignored until exit_with takes over
        runtime.flush_or_silence(sys.stdout)  # the lines printed before (a file or pipe buffers them) come first
        print(f"\n[train] {interrupted_words(exc)}", file=sys.stderr)
        return _interrupted_exit(exc, inter_op)  # 130 Ctrl-C, 143 SIGTERM
    return 0


def _interrupted_exit(exc: KeyboardInterrupt, command: bool) -> int:
    """After an interrupt was recorded and said: the exit code (130 Ctrl-C, 143 SIGTERM) for
    the command's own process (``command``: :func:`command_main`, ``python -m drac_ssl.train``,
    ``drac-ssl-train``); a call from Python with an ``argv`` (a notebook, a script) gets the
    KeyboardInterrupt raised again, its ``exit_code`` attribute set to that code, so that a
    notebook's "Interrupt kernel" stops "Run All" there instead of running the next cells on
    a half-finished run (a review: the call returned 130 and the notebook carried on)."""
    code = getattr(exc, "exit_code", None)  # 0: after the run finished (_said_after_finish)
    code = _exit_code_of(exc) if code is None else code
    if command:
        return code
    exc.exit_code = code  # type: ignore[attr-defined]
    raise exc


def _exit_code_of(exc: BaseException) -> int:
    """The exit code :func:`_main` returns for ``exc`` (its one mapping; it prints the words), as
    ``invocations.jsonl`` records it (``"ended": {"exit_code"}``): under torchrun the job script
    sees torchrun's 1 whatever the process's code, so this line is where it reads 143 (requeue)
    from 1 or 2 (stop), docs/running.md, On a cluster. 130 or 143 for an interrupt (which
    signal, :func:`drac_ssl.starting.interrupt_exit_code`), :data:`RUN_BUSY` for
    :class:`drac_ssl.runtime.RunBusy`, 1 for a non-finite loss or a failed torchrun process, 2
    for a refused setting, a missing file, an unreadable one, or no memory left (a ``MemoryError``), 1 for anything else (a traceback)."""
    if isinstance(exc, KeyboardInterrupt):
        return interrupt_exit_code()
    if is_out_of_memory(exc):  # torch's RuntimeError too (its CPU allocator's, CUDA's)
        return OUT_OF_MEMORY_EXIT
    if isinstance(exc, runtime.RunBusy):
        return RUN_BUSY
    if isinstance(exc, (NonFiniteError, ProcessZeroFailed)):
        return 1
    if isinstance(exc, (ConfigError, FileNotFoundError, ValueError, PermissionError)):
        return 2
    return 1


TRAIN_MEMORY_FIXES = {stage: MEMORY_FIXES[stage] for stage in ("ingest", "pretrain", "umm", "finetune")}
"""The fix :func:`main` says for running out of memory (:func:`drac_ssl.starting.is_out_of_memory`)
in each stage: its own settings to lower (:func:`train_memory_fix`)."""


def train_memory_fix(stage: str | None) -> str:
    """The fix for running out of memory in ``stage`` (:data:`TRAIN_MEMORY_FIXES`), naming the
    stage; outside a stage (None, the report), to close other programs or give it more memory."""
    if stage in TRAIN_MEMORY_FIXES:
        return f"in stage {stage}: {TRAIN_MEMORY_FIXES[stage]}"
    where = f"in stage {stage}" if stage else "outside the stages"
    return (f"{where}: close other programs or give the command more memory; the run folder keeps what "
            "was saved and the same command resumes from there (docs/running.md, Memory)")


def _other_run_config_problem(cfg: Config, sources: dict[str, str] | None, overrides: Sequence[str]) -> str:
    """The refusal, before any work, when ``-c`` read a run folder's ``config.yaml`` (the file
    so named in a folder of a run's records, :func:`drac_ssl.run_state.is_run_folder`) and
    the command, which set neither ``run.name`` nor ``run.out_dir`` (typed, or by a preset
    option: ``--first-try`` makes its own folder on purpose), works on another run folder
    (:func:`resolve_run_dir`: the file's ``run.out_dir``, often relative, from the current
    folder): an upgrade review's ``-c ../other/runs/int3/config.yaml``, typed from another
    folder, silently started a fresh run in ``./runs/int3`` (a later review: a warning alone
    still trained it). It names both folders, the command that resumes that run where it is
    (:func:`drac_ssl.run_state.resume_in_place_command_and_note`) and ``run.name=NEW`` for a
    new run. "" otherwise (the reproduce command's ``run.name=NEW`` is typed: a new run on
    purpose; from the folder the run was made in, the file names its own folder: a resume)."""
    fixes = getattr(sources, "fixes", None)
    chosen = typed_keys(overrides) | set(preflight.user_typed(sources, presets=True))
    if fixes is None or chosen & {"run.name", "run.out_dir"}:
        return ""
    file = Path(fixes.file).resolve()
    folder = file.parent
    if file.name != "config.yaml" or not is_run_folder(folder):
        return ""
    target = resolve_run_dir(cfg).resolve()
    if target == folder:
        return ""
    kind = "the run already there" if is_run_folder(target) else "a new run"
    command, note = resume_in_place_command_and_note(folder)
    return (f"-c {fixes.file} is the config.yaml of the run folder {folder}, but this command would work on "
            f"the run folder {target} (that file's run.out_dir={cfg.run.out_dir} from the current folder, "
            f"{Path.cwd()}, and run.name={cfg.run.name}): {kind}, not that run; nothing was run\n"
            f"  fix: to resume that run where it is (from any folder): {command}"
            + (f" ({note})" if note else "")
            + f"; or type run.name=NEW to start a new run from this config (run.out_dir={cfg.run.out_dir} "
            f"from the folder you run it in)")


def _cached_by_kept_ingest(cfg: Config) -> list[int]:
    """The image sizes (px) the cache of the ingest in ``cfg``'s run folder holds, when
    ``cfg``'s stages read it without running it again (:func:`_kept_ingest`; ``--first-try``
    cuts its views from one of them: :func:`drac_ssl.trial_run.first_try_settings`); [] else."""
    if run_name_problem(cfg.run.name, cfg.run.out_dir)[0]:
        return []
    record = _kept_ingest(cfg, resolve_run_dir(cfg))
    if record is None:
        return []
    cache = record.summary.get("cache")
    sizes = [int(k) for k in cache if str(k).isdigit()] if isinstance(cache, dict) else []
    made = record.made.get("cache_sizes")
    return sizes or ([int(k) for k in made if isinstance(k, int)] if isinstance(made, list) else [])


def _former_defaults_line(sources: dict[str, str] | None) -> list[str]:
    """``[train] config: the config.yaml was written by code from before umm.outer_ssl, ...
    existed: read with the values that code ran under, ...`` when the ``-c`` file is an older
    run's resolved ``config.yaml`` lacking settings of :data:`drac_ssl.config.DEFAULTS_BEFORE`
    not typed on the command line (an upgrade review: a rerun of an old run ran today's UMM
    objective silently); [] otherwise."""
    fixes = getattr(sources, "fixes", None)
    if fixes is None or not getattr(sources, "resolved_file", False):
        return []
    options = getattr(sources, "options", None) or {}
    filled = {key: value for key, value in former_defaults_filled(fixes.file).items()
              if not str((sources or {}).get(key, "")).startswith(preflight.TYPED) and key not in options}
    words = former_defaults_words(filled)
    return [f"[train] config: {words}"] if words else []


def _named_config_line(config: str | None, sources: dict[str, str] | None) -> list[str]:
    """``[train] config: retinamnist is the shipped .../configs/retinamnist.yaml`` when ``-c``
    named a shipped config by its name (:func:`drac_ssl.config.config_file`), so the console
    and ``console.log`` say which file was read; for a bare ``-c drac.yaml`` that is both a file
    in the current folder and a shipped config's name, that the local file is read
    (:func:`drac_ssl.config.shadowed_config_words`); [] for any other path (typed as read: the
    shipped file's own path too, ``-c ./configs/drac.yaml`` from the checkout, compared as the
    file it names) or no ``-c``."""
    fixes = getattr(sources, "fixes", None)
    if config is None or fixes is None:
        return []
    if Path(os.path.expanduser(os.fspath(config))).resolve() == Path(fixes.file).resolve():
        shadowed = shadowed_config_words(config)
        return [f"[train] config: {shadowed}"] if shadowed else []
    if Path(fixes.file).parent.resolve() != PACKAGE_CONFIGS.resolve():
        return []  # -c '~/x.yaml': the path, expanded
    return [f"[train] config: {config} is the shipped {fixes.file}"]


_REFUSED = False  # main(): the preflight refused the run (before any stage, or right after the ingest)
# torchrun, a pretraining stopped on a non-finite value (_after_process_0_recorded): "first"
# in process 0, "after" in the others; "" otherwise
_ORDERED_EXIT = ""
ORDERED_EXIT_WAIT_S = 10.0
"""(torchrun) How long a process other than 0 waits, after a pretraining stopped on a
non-finite value, for process 0 to leave first (torchrun then stops it)."""


def exit_with(code: int) -> None:
    """Leave the process with ``code`` (``python -m drac_ssl.train``). After a refusal by the
    preflight (code 2: no stage running, the run's records written) in a single process,
    without the interpreter's teardown: the checks import torchvision (and with it
    torch._dynamo), scikit-learn, SciPy and albumentations, ~3,800 modules whose teardown held
    the console 10-50 s after the error on a loaded 2-core machine (no thread, worker or
    child process was left running).

    Under torchrun, after a pretraining stopped on a non-finite value (every process at the
    same step, process 0's records written and its error said): process 0 leaves at once, the
    same way, and the others wait up to :data:`ORDERED_EXIT_WAIT_S` first, so that torchrun
    sees process 0's failure first, names it the root cause and stops the others (it stopped
    process 0 in its teardown when another left first).

    In the teardown a Ctrl-C or SIGTERM leaves at once with ``code``
    (:func:`drac_ssl.starting.exit_on_signal`), never a traceback of an ``atexit`` handler."""
    if (code == 2 and _REFUSED and os.environ.get("WORLD_SIZE", "1") in ("", "1")) or _ORDERED_EXIT == "first":
        runtime.flush_or_silence(sys.stdout)
        runtime.flush_or_silence(sys.stderr)
        os._exit(code)
    if _ORDERED_EXIT == "after":
        runtime.flush_or_silence(sys.stdout)
        runtime.flush_or_silence(sys.stderr)
        time.sleep(ORDERED_EXIT_WAIT_S)  # outside main's SIGTERM handler: torchrun's stop is quiet
    # the exit code is decided: a Ctrl-C or SIGTERM in the teardown (torch's atexit handlers;
    # a review's third quick Ctrl-C: a traceback and exit -2) leaves at once with it
    exit_on_signal(code)
    runtime.flush_or_silence(sys.stdout)  # > /dev/full, | head -1: no "Exception ignored", exit 120
    sys.exit(code)


if __name__ == "__main__":
    exit_with(command_main())
