"""Command line of the UMM stage: ``python -m drac_ssl.umm CHECKPOINT|RUN [-c CONFIG.yaml]
[section.key=value ...] [--run-dir DIR]`` (an ablation in its own run folder).

``CHECKPOINT``: a ``vicreg_model.safetensors`` or a pretrain ``.pt``; ``RUN``: a run folder,
from whose ``pretrain/`` ``umm.start_from`` picks the checkpoint (``best``, ``last``,
``peak``, ``past_peak``).

Exit codes: those :data:`drac_ssl.exit_codes.UMM_EXIT_CODES` lists (``--help`` says them; one
list, not restated here). A bad setting is refused with every problem of the configuration
and its fix, before torch loads and before the run folder is made
(:func:`drac_ssl.preflight.umm_refusal`); a file or folder it cannot read or write, or a
``--run-dir`` it cannot make, in one line with the folder and the fixes
(:func:`drac_ssl.io.unreadable_words`); a run folder in use is
:class:`drac_ssl.runtime.RunBusy`; Ctrl-C is said as ``python -m drac_ssl.train`` says it
(:func:`drac_ssl.runtime.interrupted_words`): e.g. ``[umm] interrupted in umm (epoch 6 of
20 saved); rerun the same command to resume from epoch 7``, exit 130. SIGTERM (``kill``, a
scheduler's limit) stops it the same way, said the same, exit 143
(:func:`drac_ssl.starting.sigterm_as_ctrl_c`); the same command resumes from
``umm/checkpoints/last.pt`` (atomic, every epoch; the weights and metadata.json atomic too).
A second Ctrl-C or SIGTERM while it stops cannot cut what it saves
(:func:`drac_ssl.starting.run_command`)."""

from __future__ import annotations

import sys
from pathlib import Path

from data_prep.pool import refuse_top_level_rerun
from drac_ssl.commands import OneConfig, OverrideParser
from drac_ssl.config import (
    ConfigError,
    config_file,
    default_config_file,
    load_config,
    shadowed_config_words,
)
from drac_ssl.exit_codes import RUN_BUSY, UMM_EXIT_CODES
from drac_ssl.starting import (
    add_version_option,
    hold_signals_if_command,
    interrupt_exit_code,
    python_command,
    run_command,
    sigterm_as_ctrl_c,
    started,
)

__all__ = ["main"]


def _source_run_dir(checkpoint: Path) -> Path | None:
    """``RUN`` for a checkpoint inside ``RUN/pretrain/`` or ``RUN/umm/`` (also their
    ``checkpoints/``), else None."""
    for parent in list(checkpoint.resolve().parents)[:2]:
        if parent.name in ("pretrain", "umm"):
            return parent.parent
    return None


def _pretraining_busy_words(checkpoint: Path) -> str | None:
    """The refusal of a missing ``checkpoint`` (a file, or a run folder whose ``pretrain/`` has
    none yet) whose run folder's training still runs the stage that writes it (a live
    ``python -m drac_ssl.train`` holds the run's lock, its ``pretrain`` stage, or its ``umm``
    stage for a file under ``RUN/umm/``, not done: :func:`drac_ssl.run_state.unfinished_state`):
    the training's state and the fix (wait for it, then rerun), said with exit 75
    (:data:`drac_ssl.exit_codes.RUN_BUSY`: try again later), not 2 "does not exist": a UMM
    job started while the pretraining runs (or its requeued copy) is requeued. None when the
    checkpoint's run folder is not known, not held by a live training, or its stage is done."""
    from drac_ssl.run_state import unfinished_state  # stdlib only: before torch loads

    if checkpoint.is_dir():
        source_run, stage = checkpoint, "pretrain"
    elif (source_run := _source_run_dir(checkpoint)) is not None:
        stage = "umm" if "umm" in (p.name for p in list(checkpoint.resolve().parents)[:2]) else "pretrain"
    else:
        return None
    unfinished = unfinished_state(source_run, stage)
    if unfinished is None or not unfinished.running:
        return None
    return (f"{checkpoint}: the checkpoint UMM starts from is not written yet: {unfinished.what}.\n"
            f"  fix: {unfinished.fix}")


def _default_config_path(checkpoint: Path) -> Path:
    """``RUN/config.yaml`` beside the checkpoint's run folder, else the shipped ``default.yaml``;
    ConfigError when neither exists (:func:`drac_ssl.config.default_config_file`)."""
    source_run = checkpoint if checkpoint.is_dir() else _source_run_dir(checkpoint)
    if source_run is not None and (source_run / "config.yaml").is_file():
        return source_run / "config.yaml"
    return default_config_file()


def main(argv: list[str] | None = None) -> int:
    """``python -m drac_ssl.umm CHECKPOINT|RUN [-c CONFIG] [section.key=value ...] [--run-dir
    DIR]``; returns the exit code (the module's: 0, 1, 2, 75, 130, 143; 130 and 143 with
    ``argv`` None only). ``argv``: the words after
    ``python -m drac_ssl.umm``; None: ``sys.argv[1:]``. Called from Python with an ``argv``,
    ``RUN/umm/environment.json`` records ``PYTHON -m drac_ssl.umm *argv``, not the caller's
    ``sys.argv`` (:func:`drac_ssl.runtime.command_given`). ``run.threads`` sets torch's and
    OpenCV's CPU threads for the stage (:func:`drac_ssl.runtime.apply_thread_policy`, as
    ``python -m drac_ssl.train`` sets them; torch's inter-op pool, sized once per process, only
    in the command's own process, ``argv`` None), and the caller's are given back on return
    (:func:`drac_ssl.runtime.threads_kept`).

    Raises:
        KeyboardInterrupt: interrupted (Ctrl-C, a notebook's "Interrupt kernel", SIGTERM)
            once the stage is set up, when called with an ``argv``: said as the command says it
            (what is saved, how to resume), then raised again so that the caller (a notebook's
            "Run All", a script) stops there, as :func:`drac_ssl.train.main` does; its
            ``exit_code`` attribute is the command's code, 130 (143 for a SIGTERM). With
            ``argv`` None (``python -m drac_ssl.umm``) the code is returned instead, without a
            traceback.
        SystemExit: (code 1, one line on stderr) in a worker process importing a script that
            calls this at its top level, not under ``if __name__ == "__main__":``
            (:func:`data_prep.pool.refuse_top_level_rerun`)."""
    # a DataLoader worker (spawn) importing a script that calls main() at its top level, unguarded
    refuse_top_level_rerun("drac_ssl.umm.cli.main", "pretrain.num_workers=0")
    prog = python_command("drac_ssl.umm")  # the interpreter that runs it, as a fix says it
    parser = OverrideParser(
        prog=prog,
        description="UMM (methods.md section 2): freeze the backbone up to umm.early_cut and re-tune the "
        "layers after it by the bi-level rate-reduction / alignment objective.",
        epilog=f"Examples: the fair control from the over-trained checkpoint: {prog} "
        "runs/x --run-dir runs/x-control umm.start_from=past_peak umm.alpha=0; an ablation: "
        f"{prog} runs/x/pretrain/vicreg_model.safetensors --run-dir runs/x-umm-nojs umm.use_js=false. "
        f"{UMM_EXIT_CODES}",
    )
    parser.add_argument(
        "checkpoint",
        help="vicreg_model.safetensors (with metadata.json), a pretrain .pt checkpoint, or a run "
        "folder (umm.start_from picks the checkpoint in RUN/pretrain)",
    )
    parser.add_argument(
        "-c",
        "--config",
        default=None,
        action=OneConfig,
        metavar="FILE|NAME",
        help="YAML config file, or a shipped config by name (-c retinamnist; python -m "
        "drac_ssl.train --list-configs); default: RUN/config.yaml beside RUN/pretrain/, else the "
        "shipped default.yaml",
    )
    parser.add_argument(
        "--run-dir",
        default=None,
        help="run folder; outputs go to RUN/umm (default: the checkpoint's run folder; "
        "give each ablation its own). DRAC images are read from the checkpoint's "
        "RUN/data when it exists",
    )
    parser.add_argument(
        "overrides", nargs="*", help="section.key=value overrides, e.g. umm.beta=0.5"
    )
    add_version_option(parser)
    args = parser.parse_intermixed_args(argv)  # options may come between the overrides
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file() and not checkpoint.is_dir():  # said before torch loads
        if (busy := _pretraining_busy_words(checkpoint)) is not None:  # its pretraining runs
            print(f"error: {busy}", file=sys.stderr)
            return RUN_BUSY
        print(f"error: UMM checkpoint not found: {checkpoint}\n"
              f"  fix: pass RUN/pretrain/vicreg_model.safetensors, RUN/pretrain/checkpoints/last.pt "
              f"or the run folder RUN", file=sys.stderr)
        return 2
    # the settings, before torch loads and before the run folder is made: every problem of
    # reading them and every setting the stage would refuse, listed with its fix
    from drac_ssl.preflight import umm_refusal

    warnings: list = []
    try:
        # a shipped config's name -> its file, which "[umm] config:" names (config_file)
        config_path = config_file(args.config) if args.config is not None else _default_config_path(checkpoint)
        refusal, warnings = umm_refusal(config_path, args.overrides)
        cfg = load_config(config_path, args.overrides) if not refusal else None
    except ConfigError as exc:  # no -c and no shipped configs, an unknown -c NAME; load_config's net
        refusal = str(exc)
    if refusal or cfg is None:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    for warning in warnings:  # a setting given two values on the command line: the last is used
        print(f"[umm] warning: {warning.line}")
    from drac_ssl.torch_pair import exit_on_bad_torch_pair  # stdlib only

    exit_on_bad_torch_pair()  # torch and torchvision a supported pair, before either loads
    # the stage (torch, torchvision, albumentations): after the arguments and the settings are
    # checked, so that --help, a usage error and a bad setting are answered at once
    from drac_ssl.io import make_run_folder, unreadable_words
    from drac_ssl.out_paths import folder_under_file_problem
    from drac_ssl.runtime import (
        RunBusy,
        StageInterrupted,
        apply_thread_policy,
        checkpoint_interrupted,
        command_given,
        hold_run,
        interrupted_words,
        threads_kept,
    )
    from drac_ssl.umm.source import resolve_start
    from drac_ssl.umm.stage import UMMNonFiniteError, check_settings, run
    from drac_ssl.weights_file import weights_format_problem

    started()  # everything is imported: Ctrl-C is the stage's to handle (what was saved)
    # called from Python with an argv: environment.json records PYTHON -m drac_ssl.umm ARGV, not
    # the caller's script, and the caller's torch and OpenCV threads are as they were after
    # SIGTERM (kill, a scheduler's limit) stops as Ctrl-C does: the same line, exit 143
    with sigterm_as_ctrl_c(), command_given("drac_ssl.umm", argv), threads_kept():
        umm_dir: Path | None = None  # known once the run folder is: its checkpoints say what is saved
        epochs = 0
        try:
            print(f"[umm] config: {config_path}" + (f" + {' '.join(args.overrides)}" if args.overrides else ""))
            if args.config is not None and (shadowed := shadowed_config_words(args.config)):
                print(f"[umm] config: {shadowed}")  # ./drac.yaml read, not the shipped drac
            # run.threads (checked >= 0 by umm_refusal), before any parallel work; recorded in
            # umm/environment.json; the inter-op pool only in the command's own process
            threads = apply_thread_policy(cfg.run.threads, inter_op=argv is None)
            print(f"[umm] CPU threads: {threads['threads']} ({threads['source']}; "
                  f"{threads['usable_cores']} usable cores)")
            check_settings(cfg.umm)  # the stage's own check, before the run folder is made (a net)
            source_run = checkpoint if checkpoint.is_dir() else _source_run_dir(checkpoint)
            try:
                start = (resolve_start(checkpoint, None, cfg.umm.start_from, cfg.umm.past_peak_drop)
                         if checkpoint.is_dir() else checkpoint)
            except FileNotFoundError:
                # no checkpoint yet while the run's training still pretrains: busy (exit 75,
                # try later), not "run the pretrain stage first" (exit 2)
                if (busy := _pretraining_busy_words(checkpoint)) is not None:
                    raise RunBusy(busy) from None
                raise
            run_dir = (
                Path(args.run_dir)
                if args.run_dir
                else (source_run or Path(cfg.run.out_dir) / (cfg.run.name or f"umm-{checkpoint.stem}"))
            )
            data_dir = (
                source_run / "data"
                if source_run is not None and (source_run / "data").is_dir()
                else run_dir / "data"
            )
            # the start file and the run folder checked before the folder is made: a label CSV
            # given as the checkpoint left runs/default/ with a stale lock (a CLI review)
            start_file = Path(getattr(start, "path", start))  # a run folder's: the StartPoint's file
            if (problem := (weights_format_problem(start_file) if start_file.is_file() else None)
                    or folder_under_file_problem(run_dir, "--run-dir", "runs/umm-x")):
                raise ValueError(problem)
            umm_dir, epochs = run_dir / "umm", cfg.umm.epochs
            # a python -m drac_ssl.train (or another copy of this command) running in the folder
            # would write umm/ at the same time: refused (RunBusy: exit 75, try later) while it
            # holds the run's lock; a new folder is made first, so two copies started together
            # into it cannot both run
            make_run_folder(run_dir, cfg.run.private)  # 0700 by default, as python -m drac_ssl.train's
            with hold_run(run_dir, tool="drac_ssl.umm"):
                run(cfg, run_dir, checkpoint=start, data_dir=data_dir)
        except RunBusy as exc:  # a ValueError: before it, so that a job script can requeue it
            print(f"error: {exc}", file=sys.stderr)
            return RUN_BUSY
        except (ConfigError, FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            # a --run-dir it cannot make or write (read-only, another account's), a file it cannot
            # read: one line with the folder and the fixes, exit 2 (1 is a non-finite loss's)
            print(f"error: {unreadable_words(exc)}", file=sys.stderr)
            return 2
        except UMMNonFiniteError as exc:  # the diagnostic and its fix, as python -m drac_ssl.train says it
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt as exc:
            # the command's own process: a second Ctrl-C or SIGTERM cannot cut the line below
            hold_signals_if_command()
            # in training the engine says which epoch is saved (StageInterrupted): worded as
            # python -m drac_ssl.train words it; before or after training, the same command resumes
            if not (isinstance(exc, StageInterrupted) and exc.saved) and umm_dir is not None:
                # outside the epoch loop (e.g. while the weights are written after the last epoch):
                # what the checkpoint holds, as python -m drac_ssl.train says it
                exc = checkpoint_interrupted(umm_dir / "checkpoints" / "last.pt", epochs) or exc
            if isinstance(exc, StageInterrupted) and not exc.stage:
                exc.stage = "umm"
            sys.stdout.flush()  # the lines printed before (a file or pipe buffers them) come first
            print(f"\n[umm] {interrupted_words(exc)}", file=sys.stderr)
            code = interrupt_exit_code()  # 130 Ctrl-C, 143 SIGTERM
            if argv is None:  # the command's own command line: its exit code, no traceback
                return code
            # a call from Python (a notebook's "Interrupt kernel"): raised again, as
            # drac_ssl.train.main raises it, so that "Run All" stops here instead of running the
            # next cells on a half-trained stage; exit_code is what the command exits with. from
            # None: the words above replace the KeyboardInterrupt they were made from, which a
            # notebook would show first ("During handling of the above exception ...")
            exc.exit_code = code  # type: ignore[attr-defined]
            raise exc from None
        return 0


if __name__ == "__main__":
    run_command(main, stage="umm")  # the command's own process: signals held once stopping, 130 / 143
