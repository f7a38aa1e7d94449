"""The exit codes of the commands (the submission check, the export, the training, the UMM
stage, the report, data_prep's, the app's), as their ``--help`` says them.

Stdlib only and importing nothing of the package but :mod:`drac_ssl.challenge` (itself stdlib
only), so that :mod:`drac_ssl.submission`, which the app imports, can name them without
reaching :mod:`drac_ssl.commands` (whose ``train_command`` imports the training code; see
``tests/drac_ssl/test_package_layering.py``). :mod:`drac_ssl.commands` re-exports both.
"""

from __future__ import annotations

from drac_ssl.challenge import DRAC_TEST_IMAGES

__all__ = ["APP_EXIT_CODES", "AUTH_EXIT_CODES", "CHECK_EXIT_CODES", "COMPARE_EXIT_CODES", "DATA_PREP_EXIT_CODES",
           "DEMO_BUNDLE_EXIT_CODES", "EXPORT_EXIT_CODES", "FLATTEN_EXIT_CODES", "INCOMPLETE_SUBMISSION",
           "INGEST_EXIT_CODES", "INTERRUPTED",
           "PHANTOM_EXIT_CODES", "PROBLEMS_FOUND", "REPORT_EXIT_CODES", "RUN_BUSY", "RunBusy", "TRAIN_EXIT_CODES",
           "UMM_EXIT_CODES", "USAGE_ERROR"]

USAGE_ERROR = 2
"""The exit code of a command that cannot run as asked: a bad option, bad input, or an
environment it cannot run in (torch and torchvision not a supported matching pair,
:mod:`drac_ssl.torch_pair`); argparse's own for a usage error."""

PROBLEMS_FOUND = 1
"""The exit code of ``python -m drac_ssl.compare`` that compared the runs and printed the
comparison, but found them not comparable (grade scales of different sizes: each problem said as
``error: the runs grade on scales of different sizes ...`` on stderr), as a submission check's 1
is a file with problems. Python's own exit code of an unexpected error (an uncaught exception,
a bug) is 1 too, as for the training (:data:`TRAIN_EXIT_CODES`): that one prints a traceback
and no comparison. It was
:data:`USAGE_ERROR` (2) until a review, which a script could not tell from a run folder it could
not read or a bad option (no comparison at all)."""

INTERRUPTED = 130
"""The exit code of a command stopped by Ctrl-C (128 + SIGINT, as a shell reports a process
ended by it): the commands' own (:mod:`drac_ssl.starting`, :func:`drac_ssl.export.main`) and
that of a Ctrl-C leaving the console of ``--log-names tag`` (:mod:`drac_ssl.name_tags`)."""

RUN_BUSY = 75
"""The exit code of ``python -m drac_ssl.train``, ``.umm``, ``.report`` and ``.export``
refused because their run folder is in use (another process holds its lock:
:class:`drac_ssl.runtime.RunBusy`, raised by :func:`drac_ssl.runtime.hold_run`): try again
later, nothing is wrong with the command. sysexits' ``EX_TEMPFAIL``; it was 2 before (the
training's until one review, the others' until the next), which a cluster job script could
not tell from a bad setting (never worth requeueing)."""


class RunBusy(ValueError):
    """Another ``python -m drac_ssl.train``, ``.umm``, ``.report`` or ``.export`` holds the run
    folder (:func:`drac_ssl.runtime.hold_run` raises it; re-exported as
    :class:`drac_ssl.runtime.RunBusy`), or a command finds the run's stage it reads still
    running, a live training holding the folder (:func:`drac_ssl.run_state.unfinished_state`):
    the commands exit :data:`RUN_BUSY` on it (try again later), not 2. The message names the
    holder and the fix. Defined here, stdlib only, so that
    :func:`drac_ssl.grading.bundle_folder.bundle_folder` can raise it without torch."""


INCOMPLETE_SUBMISSION = 3
"""The exit code of a submission CSV known not to be complete, though its rows are valid: the
export's ``--skip-unreadable`` having skipped files (:data:`drac_ssl.runtime.EXIT_SKIPPED`), or
a ``--check`` without the test images of a file of DRAC's 3 grades whose row count is not the
DRAC 2022 Task 3 test set's 386, or of a file whose export's record beside it (``.skipped.json``,
written by ``--skip-unreadable``) names skipped files it has still no row for
(:func:`drac_ssl.submission.report_check`): either way not a submission to upload as it is."""

CHECK_EXIT_CODES = ("0 the file passes every check made (without the test images, --images DIR, "
                    "or a run's test cases, the export's --manifest RUN, only its format: the OK "
                    "line then says completeness was not checked); "
                    f"{PROBLEMS_FOUND} it has problems (each printed as FILE:LINE: what -> fix; a case a "
                    "spreadsheet may read as a formula, such as -1.png, is a warning on stderr, not a "
                    f"problem); {USAGE_ERROR} the command itself is "
                    "wrong (a bad option, an --images that is no folder of images) or its result "
                    f"cannot be written; {INCOMPLETE_SUBMISSION} checked without the test images, "
                    f"a file of DRAC's 3 grades whose row count is not the {DRAC_TEST_IMAGES} of "
                    "DRAC's test set: its format is valid, but it is NOT a valid DRAC submission "
                    "(a missing case makes the whole submission invalid; --images DIR, DRAC's "
                    "test folder, lists each missing case, and checks a file of another 3-grade "
                    "data set against its own test images), or any file whose .skipped.json "
                    "beside it (the export's --skip-unreadable) names skipped files it has no "
                    "row for: NOT a complete submission")
"""The exit codes of a submission check, ``python -m drac_ssl.submission --check`` and
``python -m drac_ssl.export --check``, as their ``--help`` says them."""

EXPORT_EXIT_CODES = (
    "Exit codes. Grading (RUN --images DIR --out CSV, RUN --variant NAME): 0 written; 1 the "
    "written submission fails its check (kept as CSV.failed); 2 bad input (a missing run or "
    "bundle, an unreadable image, a file name that cannot be a case, images only in sub-folders, "
    "bad options, a file it cannot write); 3 written with "
    "--skip-unreadable, some files skipped (not a complete submission); 4 written, some image "
    "not reliably gradable (<stem>_notes.csv beside it says why); 5 nothing to grade: DIR holds "
    "no image (empty, or only text or office files holding no image, sub-folders empty at any "
    "depth, hidden files), nothing written, an earlier CSV left as it was (a night without "
    "images, not a wrong command; a file that may be an image it cannot read, a DICOM or .webp, "
    "or a sub-folder holding any file is 2); "
    f"{RUN_BUSY} a run folder in use (RUN --variant NAME writing into RUN while a training, UMM, "
    "report or another export holds it; RUN whose training still runs, its bundle or "
    "fine-tuning not done yet): try again later, as a job script requeues the "
    f"training's {RUN_BUSY}. --check: {CHECK_EXIT_CODES}. --score: 0 "
    f"scored; 1 the submission fails its check; {RUN_BUSY} RUN's training still runs (no bundle yet): "
    "try again later; 2 anything else that stops the scoring. "
    f"Any mode: {INTERRUPTED} interrupted by Ctrl-C, 143 stopped by SIGTERM (kill, a scheduler's "
    "time limit): a submission is either complete or as it was; rerun the same command. "
    "--find-tag: 0 every tag found (its names printed); 1 some tag matches no listed name; 2 no "
    "DRAC_SSL_LOG_NAMES_KEY, a bad key or a bad tag.")
"""The exit codes of ``python -m drac_ssl.export`` (:mod:`drac_ssl.export`'s docstring), as
its ``--help`` says them."""

TRAIN_EXIT_CODES = (
    "Exit codes: 0 every stage of run.stages done (a resume that had nothing left to do too, and a "
    "Ctrl-C or SIGTERM after the run finished: 'nothing to rerun'); 1 a "
    "training stopped on a non-finite loss (its diagnostic and fix said), a torchrun process "
    "failed, or an unexpected error (a traceback); 2 the run cannot start or go on as asked: a setting or the data refused before any "
    "stage ran, a run folder not this account's, a file it cannot read or write; 75 this run is "
    "already running (another process holds its run folder): try again later; 130 "
    "interrupted by Ctrl-C, 143 stopped by SIGTERM (kill, a scheduler's time limit): what was "
    "saved is said, and the same command resumes from it. On a cluster: requeue on 143 or 75, "
    "never on 1 or 2 (plain python -m; under torchrun the job sees torchrun's 1: read the run's "
    "outcome from the last line of RUN/invocations.jsonl, its \"ended\" \"exit_code\", none "
    "ended: still held or killed, requeue; docs/running.md, On a cluster).")
"""The exit codes of ``python -m drac_ssl.train`` (:func:`drac_ssl.train.main`), as its
``--help`` says them (a CLI review: the export's --help listed its own, the training's none)."""

UMM_EXIT_CODES = (
    "Exit codes: 0 done; 1 a non-finite loss (its diagnostic and fix said, the last good "
    "checkpoint kept); 2 bad input: a missing checkpoint, a bad setting (every problem of the "
    "configuration listed with its fix, before torch loads and before the run folder is made), "
    "a file or folder it cannot read or write (a --run-dir it cannot make: the folder and the "
    f"fixes said); {RUN_BUSY} the run folder is in use (a training, another UMM, a report or an "
    "export holds it): try again later, or give this UMM its own --run-dir; "
    f"{RUN_BUSY} too when the checkpoint is not written yet while its run's training still "
    "pretrains: try again later; "
    f"{INTERRUPTED} interrupted by Ctrl-C, 143 stopped by SIGTERM (scancel, a job's time limit): "
    "what was saved is said, and the same command resumes from it (umm/checkpoints/last.pt, "
    "written whole every epoch).")
"""The exit codes of ``python -m drac_ssl.umm`` (:func:`drac_ssl.umm.cli.main`), as its
``--help`` says them."""

COMPARE_EXIT_CODES = (
    f"Exit codes: 0 compared; {PROBLEMS_FOUND} compared, but the runs not comparable (stderr "
    "says 'error: the runs grade on scales of different sizes', the comparison printed and its "
    "files written all the same), or an unexpected error (a traceback, no comparison); 2 a run folder that cannot be compared (not a run folder, a stage "
    "not finished, a file it cannot read), a --csv or --md it cannot write, stdout it cannot "
    f"write (> a full disk, | head), a bad option; {RUN_BUSY} a run folder's "
    "training is still running (every run that cannot be compared is one): try again later; "
    f"{INTERRUPTED} interrupted by Ctrl-C, 143 stopped by SIGTERM (kill, a scheduler's time "
    "limit; nothing written either way).")
"""The exit codes of ``python -m drac_ssl.compare`` (:func:`drac_ssl.compare.main`), as its
``--help`` says them."""

REPORT_EXIT_CODES = (
    "Exit codes: 0 report.md written; 2 not a run folder, a config.yaml edited after the "
    "stages ran, a file it cannot read or write, a bad option, or stdout it cannot write "
    "(> a full disk, | head: report.md written all the same); "
    f"{RUN_BUSY} the run folder is in use (a training, UMM, export or another report holds it; "
    "a training writes report.md itself when it ends): try again later; "
    f"{INTERRUPTED} interrupted by Ctrl-C, 143 stopped by SIGTERM (kill, a scheduler's time "
    "limit): report.md as it was (it is written whole, last; rerun the same command).")
"""The exit codes of ``python -m drac_ssl.report`` (:func:`drac_ssl.report.main`), as its
``--help`` says them."""

_STOPPED = (f"{INTERRUPTED} interrupted by Ctrl-C, 143 stopped by SIGTERM (kill, a scheduler's "
            "time limit)")

INGEST_EXIT_CODES = (
    "Exit codes: 0 done; 1 a crash (a traceback: a bug to report); 2 bad data or settings (every "
    "problem listed with its fix, nothing written until all are fixed), a file it cannot read, an "
    f"--out it cannot write, stdout it cannot write, a bad option; {_STOPPED}: the images decoded "
    "are kept, and the same command on the same --out decodes only the others.")
"""The exit codes of ``python -m data_prep ingest`` (:func:`data_prep.ingest.cli`), as its
``--help`` says them (docs/running.md, docs/data.md)."""

PHANTOM_EXIT_CODES = (
    "Exit codes: 0 written; 1 a crash (a traceback: a bug to report); 2 an --out it cannot use (under a file, holding DRAC images of its "
    f"own: never overwritten), a bad option; {_STOPPED}: the images written are kept, and the "
    "same command finishes the set.")
"""The exit codes of ``python -m data_prep phantom`` (:func:`data_prep.phantom.cli`)."""

FLATTEN_EXIT_CODES = (
    "Exit codes: 0 done; 1 a crash (a traceback: a bug to report); 2 a tree it cannot flatten or an --out it cannot write (said with the "
    f"fix), a bad option; {_STOPPED}: the output folder is incomplete: remove it and flatten again.")
"""The exit codes of ``python -m data_prep flatten`` (:func:`data_prep.flatten.cli`)."""

DATA_PREP_EXIT_CODES = (
    "Exit codes: 0 done; 1 a crash (a traceback: a bug to report); 2 bad data, an --out it cannot "
    f"write or a bad option (said with the fix); {_STOPPED}. Each command's --help says what its "
    "own mean.")
"""The exit codes of ``python -m data_prep`` as its top-level ``--help`` says them, each
sub-command's in its own (:data:`INGEST_EXIT_CODES`, :data:`PHANTOM_EXIT_CODES`,
:data:`FLATTEN_EXIT_CODES`)."""

APP_EXIT_CODES = (
    "Exit codes: 0 stopped by Ctrl-C or SIGTERM (a service manager's stop); 1 a crash (a "
    "traceback: a bug to report); 2 the start refused, nothing served: no bundle found or one it "
    "cannot load, a bad option, a login file (--auth-file) refused, an address it will not serve "
    "without logins, a --temp-dir or --grading-log it cannot use, a reverse proxy check that "
    "failed (each said with its fix).")
"""The exit codes of ``python -m app`` (:func:`app.__main__.main`; docs/app.md, docs/deploying.md)."""

DEMO_BUNDLE_EXIT_CODES = (
    f"Exit codes: 0 written; 1 a crash (a traceback: a bug to report); {USAGE_ERROR} a RUN_DIR it "
    "will not write into (said with the fix: nothing of yours is replaced), a bad option, torch and "
    "torchvision not a matching pair.")
"""The exit codes of ``python -m app.demo_bundle`` (:func:`app.demo_bundle.main`)."""

AUTH_EXIT_CODES = (
    "Exit codes: 0 the login line printed; 1 a crash (a traceback: a bug to report); 2 a user "
    "name that cannot be one, a password refused (empty, too short, the two typed differ), a bad "
    f"option; {INTERRUPTED} interrupted by Ctrl-C, 143 stopped by SIGTERM (kill) at the prompt: "
    "nothing printed.")
"""The exit codes of ``python -m app.auth`` (:func:`app.auth.main`)."""
