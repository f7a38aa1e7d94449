"""Command line: ``python -m data_prep {ingest,phantom,flatten} ...``."""

from __future__ import annotations

import argparse
import sys

if __name__ == "__main__":  # Ctrl-C while OpenCV loads: one line, not an import's traceback
    from drac_ssl.starting import quiet_while_starting

    quiet_while_starting("data_prep")


def main(argv: list[str] | None = None) -> int:

    from data_prep import flatten, ingest, phantom
    from drac_ssl.config import layouts_in_words
    from drac_ssl.exit_codes import (  # stdlib only
        DATA_PREP_EXIT_CODES,
        FLATTEN_EXIT_CODES,
        INGEST_EXIT_CODES,
        PHANTOM_EXIT_CODES,
    )
    from drac_ssl.starting import (  # stdlib only
        CommandParser,
        add_version_option,
        ascii_int,
        command_name,
        fill_help,
        python_command,
    )

    # the installed command (drac-ssl-ingest) names itself in the usage and the fixes, as
    # drac-ssl-train and drac-ssl-app do; an argv given from Python is no console script:
    # PYTHON -m data_prep, the running interpreter, as every printed command names it
    prog = command_name("drac-ssl-ingest", "data_prep") if argv is None else python_command("data_prep")
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = CommandParser(allow_abbrev=False,  # a prefix is refused, never guessed
        prog=prog,
        description="Ingest graded retinal images for drac_ssl, generate phantom DRAC data, or make "
                    "a folder-per-grade tree one folder with a label CSV (flatten).",
        epilog=fill_help(DATA_PREP_EXIT_CODES, 88),
    )
    add_version_option(parser)  # drac-ssl-ingest --version: no sub-command needed
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--threads", type=ascii_int("--threads"), default=0, metavar="N",
                        help="CPU threads of this process (OpenCV); 0 = the default "
                             "policy: half the cores, 1..4 (worker processes run 1 each)")
    sub = parser.add_subparsers(dest="command", required=True)
    # each sub-command's --help: what it does and an example (a CLI review: none had either)
    ingest.add_arguments(sub.add_parser(
        "ingest", parents=[common], allow_abbrev=False, help="validate, cache and index a dataset",
        description=fill_help(
            f"Validate every image and label of a data set ({layouts_in_words()} with a label "
            "CSV), then write OUT/manifest.csv "
            "(ids, grades, folds), the resized cache OUT/cache/ and OUT/ingest_summary.json: the "
            "first stage of python -m drac_ssl.train, run alone. Every problem is listed with its "
            "fix; nothing is written until all are fixed. OUT is new or empty, holds a failed ingest's leftovers, or "
            "an earlier ingest of the same --root (written again); never the data/ of a run whose "
            "stages.json records a stage as done (ingest into a new run folder).", 88),
        epilog=f"Examples:\n  {prog} ingest --root my_photos --labels-csv my_photos/labels.csv "
               f"--out runs/mine/data\n  {prog} ingest --root '/data/DRAC 2022' --out runs/drac/data\n"
               f"then train on it (docs/data.md): {python_command('drac_ssl.train')} -c drac "
               f"run.name=drac run.stages=[pretrain,umm,finetune,export]\n\n"
               + fill_help(INGEST_EXIT_CODES, 88),
        formatter_class=argparse.RawDescriptionHelpFormatter))
    phantom.add_arguments(sub.add_parser(
        "phantom", parents=[common], allow_abbrev=False, help="write phantom UW-OCTA data in the DRAC layout",
        description=fill_help(
            "Write a synthetic (phantom) UW-OCTA data set in the DRAC 2022 Task 3 layout: graded "
            "training images, a label CSV and ungraded test images, drawn from the seed (the same "
            "set for the same options). For trying the pipeline without data; its images are not "
            "retinal ones and every run on them says so.", 88),
        epilog=f"Example:\n  {prog} phantom --out phantom_data --n-train 60 --n-test 20\n"
               f"then ingest it: {prog} ingest --root phantom_data --out runs/phantom/data\n\n"
               + fill_help(PHANTOM_EXIT_CODES, 88),
        formatter_class=argparse.RawDescriptionHelpFormatter))
    flatten.add_arguments(sub.add_parser(
        "flatten", allow_abbrev=False, help="make a folder-per-grade tree (0/, 1/ ...) one folder with labels.csv",
        description=fill_help(
            "Copy (or hard-link) the images of TREE's grade folders (0/, 1/ ...) into one folder, "
            "FLAT, and write FLAT/labels.csv (image name, DR grade) from the folder names: the plain "
            "layout the ingest reads. Names are kept unless a name is in two grade folders; then "
            "every file is named GRADE_NAME. Non-image files and nested subfolders are skipped and "
            "said.", 88),
        epilog=f"Example:\n  {prog} flatten --root graded_tree --out graded_flat\n"
               f"then ingest it: {prog} ingest --root graded_flat --out runs/graded/data\n\n"
               + fill_help(FLATTEN_EXIT_CODES, 88),
        formatter_class=argparse.RawDescriptionHelpFormatter))
    for name in ("ingest", "phantom", "flatten"):  # drac-ssl-ingest ingest --version too
        add_version_option(sub.choices[name])
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        parser.error(f"the command comes first, then its options: {prog} ingest "
                     f"{' '.join(argv)} (or {prog} phantom / flatten ...; {prog} ingest --help lists them)")
    args = parser.parse_args(argv)
    args.prog = prog
    args.argv = argv  # the interrupted ingest prints the command that continues it
    from drac_ssl.starting import sigterm_as_ctrl_c, started

    if args.command == "flatten":  # files only: no threads to set, nothing heavy to load
        started()  # Ctrl-C raises KeyboardInterrupt again: the command says what it left
        with sigterm_as_ctrl_c():  # kill: the same line as Ctrl-C, exit 143
            return int(args.func(args) or 0)
    if args.threads < 0:
        parser.error("--threads must be 0 (the default policy) or a positive count")
    if args.command == "ingest":  # a root not there, --folds 1 ...: said before any file is read
        from drac_ssl.config import ConfigError

        try:
            ingest.refuse_early(ingest.config_from_args(args), args.out)
        except (ingest.IngestError, ConfigError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # a --labels-csv or --root in another account's run folder (mode 0700)
            from drac_ssl.io import unreadable_words  # stdlib only

            print(f"error: {unreadable_words(exc)}", file=sys.stderr)
            return 2
    # OpenCV's threads alone: the ingest and the phantom generator run no torch, whose import
    # (2-5 s) only set threads nothing here uses (drac_ssl.runtime sets both for the others)
    from drac_ssl.cpu_threads import apply_opencv_threads

    started()  # everything is imported: Ctrl-C raises KeyboardInterrupt again
    apply_opencv_threads(args.threads)
    with sigterm_as_ctrl_c():  # kill / a scheduler's limit: stops as Ctrl-C does, workers too
        return int(args.func(args) or 0)


def _stage_of(argv: list[str]) -> str | None:
    """The stage whose settings running out of memory names (``drac_ssl.starting.MEMORY_FIXES``):
    ``"data_prep ingest"`` (its ``--workers`` and ``--cache-sizes``) for the ingest, else None."""
    return "data_prep ingest" if argv[:1] == ["ingest"] else None


def command() -> None:
    """The installed ``drac-ssl-ingest`` (pyproject.toml's ``[project.scripts]``): what
    ``python -m data_prep`` does, in the same order: Ctrl-C quiet while starting, then
    :func:`main` as the command's own process (:func:`drac_ssl.starting.run_command`: a second
    SIGTERM while it stops is ignored, not a kill by the signal, exit -15). Never returns: ends
    the process with the command's exit code."""
    from drac_ssl.starting import quiet_while_starting, run_command

    quiet_while_starting("data_prep")
    run_command(main, stage=_stage_of(sys.argv[1:]))


if __name__ == "__main__":
    from drac_ssl.starting import run_command

    run_command(main, stage=_stage_of(sys.argv[1:]))
