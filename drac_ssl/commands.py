"""The argument parsers of the ``python -m drac_ssl.<command>`` commands, standard library only.

A command module imports torch, OpenCV and scikit-learn at its top (10-25 s on a loaded 2-core
machine); under ``if __name__ == "__main__":``, before those imports, it parses its arguments
with the parser made here, so that ``--help`` and a usage error are answered at once, with the
same words and exit code as its ``main()`` gives them (``main`` parses again with the same
parser). ``python -m drac_ssl.umm`` imports its stage inside ``main``, after parsing, and
``python -m data_prep`` builds its parser from modules that load no torch or scikit-learn:
they need no parser here. ``tests/test_cli_imports.py`` checks every command.

The installed ``drac-ssl-train``, ``drac-ssl-export``, ``drac-ssl-report`` and
``drac-ssl-compare`` (pyproject.toml's ``[project.scripts]``) import their entry and call it,
with no ``__main__``: their entries (:func:`train_command`, :func:`export_command`,
:func:`report_command`, :func:`compare_command`) live here and take the same early path as
``python -m drac_ssl.<command>`` (:func:`refuse_train_early`, :func:`export_early`, the
parser) before they import the command's module. Every parser has ``--version``
(:func:`drac_ssl.starting.add_version_option`).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from drac_ssl import PRETRAIN_METHOD
from drac_ssl.exit_codes import (  # stdlib only; re-exported
    CHECK_EXIT_CODES,
    COMPARE_EXIT_CODES,
    EXPORT_EXIT_CODES,
    REPORT_EXIT_CODES,
    TRAIN_EXIT_CODES,
    UMM_EXIT_CODES,
    USAGE_ERROR,
)
from drac_ssl.name_tags import LOG_NAMES, TAG_HEX, visible_text  # stdlib only
from drac_ssl.starting import (  # re-exported: stdlib only, for the app and data_prep too
    CommandParser,
    add_version_option,
    ascii_int,
    command_name,
    fill_help,
    python_command,
)

__all__ = ["CHECK_EXIT_CODES", "COMPARE_EXIT_CODES", "DEFAULT_N_BOOT", "EXPORT_EXIT_CODES", "REPORT_EXIT_CODES", "SCORE_ONLY_OPTIONS",
           "UMM_EXIT_CODES", "CommandParser", "ListConfigs", "OneConfig", "OverrideParser", "PrintConfig", "ascii_int", "check_arguments_problem",
           "command_name", "compare_command", "compare_parser", "export_command", "export_early",
           "export_log_names", "export_parser", "find_tag_command", "option_override_fix", "report_command", "report_parser",
           "refuse_train_early", "score_arguments_problem", "train_command", "train_overrides",
           "train_parser", "train_preset"]


DEFAULT_N_BOOT = 1000
"""Resamples of a difference recomputed by ``python -m drac_ssl.compare`` without ``--n-boot``
(a run that did not store its own)."""


class OneConfig(argparse.Action):
    """``-c FILE`` / ``--config FILE``, given once: a second is a usage error (exit 2), not the
    last file silently read alone (one config file is read; overrides add to it); so is an
    empty one (``-c ''``, an unset shell variable), not the default config run in its place."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if not str(values).strip():  # -c "$CONFIG" with CONFIG unset: not the default run silently
            parser.error(_empty_config_words(option_string or "-c", values,
                                             "or leave it out for the shipped default"))
        earlier = getattr(namespace, self.dest, None)
        if earlier is not None:
            parser.error(f"{option_string or '-c'} given twice ({earlier}, then {values}): one config "
                         f"file is read.\n  fix: give one -c FILE and the other's settings as "
                         f"section.key=value overrides (or copy them into the file)")
        setattr(namespace, self.dest, values)


def _empty_config_words(option: str, values: Any, rest: str) -> str:
    """What a command says when ``option`` (``-c``, ``--config``, ``--print-config``) was given
    an empty or blank ``values`` (an unset shell variable): that no config is named, and the
    fix in that option's own name, the shipped names listed, then ``rest``."""
    from drac_ssl.config import shipped_config_names  # PyYAML only

    names = ", ".join(shipped_config_names()) or "none here"
    return (f"{option} was given an empty value ({values!r}: a shell variable that was not set?), "
            f"so no config file is named.\n  fix: {option} NAME (a shipped config: {names}) or a "
            f"YAML file's path, {rest}")


class ListConfigs(argparse.Action):
    """``--list-configs``: print the shipped configs (:func:`drac_ssl.config.list_configs_text`)
    and exit 0, answered while parsing (as ``--version``), before any config is read."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from drac_ssl.config import list_configs_text  # PyYAML only

        parser._print_message(list_configs_text(parser.prog) + "\n", sys.stdout)  # as --help: a
        parser.exit(0)  # closed pipe (| head) is no traceback


class ShowDocs(argparse.Action):
    """``--docs [NAME]``: print the path of the documentation folder that messages cite as
    ``docs/<name>.md`` (an install's own copy, :func:`drac_ssl.config.docs_path`), or of its file
    ``NAME.md``, and exit 0, answered while parsing (as ``--version``); a NAME it lacks is a usage
    error listing the names."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs="?", default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from drac_ssl.config import ConfigError, docs_path  # PyYAML only

        try:
            path = docs_path(values)
        except ConfigError as failure:
            parser.error(str(failure))
        parser._print_message(f"{path}\n", sys.stdout)
        parser.exit(0)


class PrintConfig(argparse.Action):
    """``--print-config NAME``: write the shipped config ``NAME`` (or a YAML file's path) to
    stdout as it is, comments included, and exit 0, to copy it out for editing
    (``--print-config drac > my.yaml``); a name that is neither, a folder, and an empty
    value (``--print-config ''``, said in this option's name) are a usage error (exit 2) that
    lists the shipped names (:func:`drac_ssl.config.config_file`). A file
    in the current folder with a shipped config's name is the one printed, which stderr says
    (:func:`drac_ssl.config.shadowed_config_words`). It takes nothing else: ``--first-try``,
    an override, ``-c`` or ``--threads`` beside it would not change what it prints, so they
    are a usage error that says so (:meth:`write`, once the whole command line is parsed)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if not str(values).strip():  # said in this option's name, not config_file's -c
            parser.error(_empty_config_words(option_string or "--print-config", values,
                                             "as --list-configs lists them"))
        setattr(namespace, self.dest, values)  # written once the rest is parsed: it takes nothing else

    @staticmethod
    def write(parser: argparse.ArgumentParser, parsed: argparse.Namespace, argv: list[str]) -> None:
        """Print the config file ``parsed.print_config`` names and exit 0; exit 2 when ``parsed``
        (``parser``'s reading of the command line ``argv``) holds anything besides
        ``--print-config NAME`` (it would be ignored), named as ``argv`` typed it
        (:func:`_given_besides`)."""
        from drac_ssl.config import ConfigError, config_file, shadowed_config_words  # PyYAML only

        values = parsed.print_config
        others = _given_besides(parser, parsed, argv, "print_config")
        if others:
            parser.error(f"--print-config prints the config file {values} as it is and takes nothing else: "
                         f"{' '.join(others)} would not change what it prints.\n  fix: {parser.prog} "
                         f"--print-config {values} > my.yaml alone"
                         + ("" if getattr(parsed, "config", None) is not None
                            else f"; or, to run with them, -c {values} in its place"))
        try:
            text = config_file(values, option="--print-config").read_text(encoding="utf-8")
        except ConfigError as exc:
            parser.exit(2, f"{parser.prog}: error: {exc}\n")
        except OSError as exc:
            parser.exit(2, f"{parser.prog}: error: {values}: cannot be read ({exc.strerror or exc}).\n"
                           f"  fix: {parser.prog} --list-configs names the shipped configs\n")
        shadowed = shadowed_config_words(values)
        if shadowed:  # on stderr: stdout is the file, copied out
            parser._print_message(f"{parser.prog}: note: {shadowed}\n", sys.stderr)
        parser._print_message(text, sys.stdout)  # as --help: a closed pipe is no traceback
        parser.exit(0)


class SpelledStore(argparse.Action):
    """``store``, and the option's name as the command line typed it in ``DEST_flag`` (an option
    of two names, ``--labels`` / ``--labels-csv``): a message names the one the user typed."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_flag", option_string)


def spelled_flag(args: argparse.Namespace, dest: str) -> str:
    """The name of ``dest``'s option as typed (:class:`SpelledStore`), else ``--DEST``."""
    typed = getattr(args, f"{dest}_flag", None)
    return typed if isinstance(typed, str) and typed else _flag(dest)


class OverrideParser(CommandParser):
    """The parser of a command that takes ``section.key=value`` overrides (train, umm): an
    unrecognised option that names a setting, as other tools write them (``--pretrain.lr=0.1``,
    ``--pretrain.lr 0.1``, ``--lr=0.1``), is refused with the override it meant as the fix
    (:func:`option_override_fix`), every section's where the name is several settings'.
    Options are written in full (``allow_abbrev`` False): argparse's abbreviations (``--conf
    X``, ``--confi=X``) are refused as unrecognised, so that the run's recorded command line
    names its config in the forms :func:`drac_ssl.run_state.resume_command` reads."""

    def more_fix(self, extras: list[str], argv: list[str]) -> str:
        return option_override_fix(extras, argv)

    def after_parse(self, parsed: argparse.Namespace, argv: list[str]) -> None:
        if getattr(parsed, "print_config", None) is not None:  # --print-config NAME: printed, exit
            PrintConfig.write(self, parsed, argv)


def _given_besides(parser: argparse.ArgumentParser, parsed: argparse.Namespace, argv: list[str],
                   dest: str) -> list[str]:
    """What the command line gave besides the option stored in ``dest``: each argument of
    ``parser`` whose value in ``parsed`` is not its default (an option: its words as ``argv``
    typed them, ``-c drac``, ``--config=drac``, ``--first-try``, each time it was typed; the
    positional overrides: each word), in the order ``argv`` typed them."""
    given: list[tuple[int, list[str]]] = []
    for action in parser._actions:
        value = getattr(parsed, action.dest, action.default)
        if action.dest in (dest, argparse.SUPPRESS) or value == action.default or value in ([], None):
            continue
        if not action.option_strings:  # the overrides: the words themselves, where they stand
            taken: set[int] = set()
            for word in value:
                at = next((i for i, w in enumerate(argv) if w == word and i not in taken), len(argv))
                taken.add(at)
                given.append((at, [word]))
            continue
        # the option as typed, every time it was (``--threads 2 --threads 3``: both, though
        # the parser kept the last): --opt VALUE, --opt=VALUE (-cVALUE) or a flag
        uses: list[tuple[int, list[str]]] = []
        at = 0
        while at < len(argv):
            word = argv[at]
            if word in action.option_strings or (action.nargs != 0 and word.startswith(tuple(action.option_strings))):
                takes_next = action.nargs != 0 and word in action.option_strings and at + 1 < len(argv)
                uses.append((at, argv[at:at + 2] if takes_next else [word]))
                at += 2 if takes_next else 1  # its value is no use of the option
                continue
            at += 1
        if not uses:  # not in argv as typed (a default set otherwise): named by the parser
            uses.append((len(argv), [action.option_strings[0], *([] if action.nargs == 0 else [str(value)])]))
        given.extend(uses)
    return [word for _, words in sorted(given) for word in words]


OPTION_SETTINGS = {"out": "run.out_dir", "output": "run.out_dir", "outdir": "run.out_dir",
                   "output_dir": "run.out_dir"}
"""Options of the other commands (``data_prep ingest --out``, ``export --out``) given to the
training, and the setting each means there (:func:`option_override_fix`): an editor's review
(F6): ``train -c X --out DIR`` got a bare "unrecognized arguments: --out" where ``--out_dir``
got its fix."""


def option_override_fix(extras: list[str], argv: list[str]) -> str:
    """The lines after argparse's ``unrecognized arguments`` that say overrides take no dashes,
    with the fix: for each unrecognised ``--NAME=VALUE`` or ``--NAME VALUE`` whose NAME is a
    setting (or the last part of some, :func:`drac_ssl.config.settings_named`) the override(s)
    it meant (``pretrain.lr=0.1 or finetune.lr=0.1``; ``--out`` means ``run.out_dir``,
    :data:`OPTION_SETTINGS`); for one whose NAME is written
    ``section.key`` but is no setting (``--pretrain.lrr=0.1``), or without a section but close
    to a setting's name (``--lrr=0.1``: :func:`drac_ssl.config.close_setting_name`), what is wrong with it without
    the dashes, as :func:`drac_ssl.config.load_config` says it (its did-you-mean and fix,
    :func:`drac_ssl.config.undashed_problem`); "" when none names a setting (``--verbose``)."""
    from drac_ssl.config import (  # PyYAML only
        NO_DASHES,
        close_setting_name,
        undashed_overrides,
        undashed_problem,
    )

    fixes, problems = [], []
    for i, word in enumerate(argv):
        if word not in extras or not word.startswith("-"):
            continue
        name, eq, value = word.lstrip("-").partition("=")
        if not eq:  # --pretrain.lr 0.1: the value is the next word (argparse took it as an override)
            after = argv[i + 1] if i + 1 < len(argv) else ""
            value = after if after and not after.startswith("-") and "=" not in after else "VALUE"
        meant = undashed_overrides(OPTION_SETTINGS.get(name.replace("-", "_"), name), value)
        if meant:
            fixes.append(meant)
        elif ("." in name or close_setting_name(name.replace("-", "_"))) and (
                problem := undashed_problem(name, value)):  # --pretrain.lrr, --lrr: not --verbose
            problems.append(f"'{word}' without them: {problem}")
    if not fixes and not problems:
        return ""
    said = [NO_DASHES, *([f"fix: {'; '.join(fixes)}"] if fixes else []), *problems]
    return "".join(f"\n  {line}" for line in said)


def train_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m drac_ssl.train`` and the installed ``drac-ssl-train``
    (:func:`drac_ssl.train.main`), its usage naming the one run (:func:`command_name`); parse
    with ``parse_intermixed_args``, so that overrides may stand on both sides of ``-c FILE``."""
    from drac_ssl.config import shipped_config_names  # PyYAML only
    from drac_ssl.trial_run import FIRST_TRY_OPTION, first_try_help  # PyYAML only

    names = shipped_config_names()
    shipped = (f"Shipped configs (-c NAME): {', '.join(names)}; --list-configs says what each is for. "
               if names else "")
    parser = OverrideParser(
        prog=command_name("drac-ssl-train", "drac_ssl.train"),
        description=f"Run the drac_ssl pipeline (ingest -> {PRETRAIN_METHOD} -> UMM -> CV fine-tune -> export).",
        epilog=(f"First time on your data: add {FIRST_TRY_OPTION} (a tiny run of every stage, minutes on a "
                f"CPU on any config, in runs/first-try; its figures mean nothing), e.g. -c fundus "
                f"{FIRST_TRY_OPTION} data.root=my_photos/. "
                f"{shipped}Overrides: section.key=value, e.g. data.root=/path/to/DRAC pretrain.epochs=50. "
                "Relative paths (data.root, run.out_dir) are read from the current folder. Every "
                "setting, its default and meaning: drac_ssl/config.py and docs/configuration.md (Settings "
                "reference). Rerunning "
                "a command resumes its run folder; run.name=NEW run.reuse=runs/OLD starts a new run that "
                "takes OLD's finished ingest / pretraining / UMM where their settings are equal (e.g. "
                f"another fine-tuning on the same pretraining). {TRAIN_EXIT_CODES}"),
    )
    # drac_ssl.train.DEFAULT_CONFIG: the shipped default.yaml
    parser.add_argument("-c", "--config", default=None, action=OneConfig, metavar="FILE|NAME",
                        help="YAML config file, or a shipped config by name (-c retinamnist; a "
                             "file given to -c always wins over a name, a folder never does), once "
                             "(default: the shipped default, the CPU demo on phantom data)")
    parser.add_argument("--list-configs", action=ListConfigs,
                        help="list the shipped configs (-c NAME) and exit")
    parser.add_argument("--docs", action=ShowDocs, metavar="NAME",
                        help="print where the documentation the messages cite as docs/<name>.md is "
                             "(this copy's own), or, given NAME, the path of docs/<name>.md, and exit: "
                             "less \"$(drac-ssl-train --docs running)\" (an installed copy's links "
                             "outside docs/ and its images resolve only in the repository or sdist)")
    parser.add_argument("--print-config", action=PrintConfig, metavar="NAME",
                        help="print the shipped config NAME and exit, to copy it out for editing: "
                             "--print-config drac > my.yaml")
    parser.add_argument("--threads", type=ascii_int("--threads"), default=None, metavar="N",
                        help="CPU threads (torch, OpenCV); same as run.threads=N; 0 = the "
                             "default policy: half the cores, 1..4 (drac_ssl.runtime)")
    parser.add_argument(FIRST_TRY_OPTION, action="store_true", dest="first_try", help=first_try_help())
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides")
    return add_version_option(parser)


def train_overrides(args: argparse.Namespace) -> list[str]:
    """The overrides of ``python -m drac_ssl.train``'s parsed ``args`` (:func:`train_parser`):
    its ``section.key=value`` words in their order, then ``--threads N`` as ``run.threads=N``,
    last, so that it wins over a ``run.threads=`` typed anywhere; an
    :class:`~drac_ssl.config.OptionOverride`, which the messages name as ``--threads N``.
    ``--first-try``'s settings are not among them: its sizes depend on the ``-c`` file's own,
    so :func:`drac_ssl.preflight.read_config` gives them, first, from the file it reads
    (:func:`train_preset`)."""
    from drac_ssl.config import OptionOverride  # PyYAML only

    threads = [] if args.threads is None else [OptionOverride(f"run.threads={args.threads}",
                                                              f"--threads {args.threads}")]
    return [*args.overrides, *threads]


def train_preset(args: argparse.Namespace) -> Callable[[Any], list[str]] | None:
    """The ``preset`` of :func:`drac_ssl.preflight.read_config` for ``python -m drac_ssl.train``'s
    parsed ``args``: with ``--first-try``, :func:`drac_ssl.trial_run.first_try_overrides`, the
    tiny first try's settings for the ``-c`` file as read (the shipped default without one;
    its sizes left out where the file's own are no larger; :class:`~drac_ssl.config.PresetOverride`
    words, given before :func:`train_overrides`, so that a ``section.key=value`` typed anywhere
    wins over them); None without it."""
    if not getattr(args, "first_try", False):
        return None
    from drac_ssl.trial_run import first_try_overrides  # PyYAML only

    return first_try_overrides


def refuse_train_early(argv: list[str] | None = None) -> None:
    """What ``python -m drac_ssl.train`` answers before torch loads, for ``argv`` (default:
    ``sys.argv[1:]``): ``--help`` (exit 0), a usage error, and a configuration that does not
    read (a misspelt setting, a bad type, inf: :func:`drac_ssl.preflight.reading_refusal`,
    the checks that need neither torch nor the data; an unknown ``-c NAME``; no ``-c`` and no
    shipped configs, an install that lost them), and torch and torchvision not a supported matching pair
    (:mod:`drac_ssl.torch_pair`), are said on stderr and exit with code 2 (``SystemExit``).
    Returns when the configuration reads and the pair is fine: :func:`drac_ssl.train.main` then parses and checks it in
    full."""
    args = train_parser().parse_intermixed_args(argv)
    from drac_ssl.config import ConfigError, default_config_file  # PyYAML only
    from drac_ssl.preflight import reading_refusal  # no torch

    overrides = train_overrides(args)
    try:
        refusal = reading_refusal(args.config if args.config is not None else default_config_file(), overrides,
                                  train_preset(args))
    except ConfigError as exc:  # no -c and no shipped configs (an install that lost them)
        refusal = str(exc)
    except OSError as exc:  # a file of another account's run folder (mode 0700): whose, and the fix
        from drac_ssl.io import unreadable_words  # stdlib only

        refusal = unreadable_words(exc)
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        sys.exit(2)
    from drac_ssl.torch_pair import exit_on_bad_torch_pair  # stdlib only

    exit_on_bad_torch_pair()  # torch and torchvision a supported pair: said before either loads


def train_command() -> None:
    """The installed ``drac-ssl-train`` (pyproject.toml's ``[project.scripts]``): what
    ``python -m drac_ssl.train`` does, in the same order: Ctrl-C quiet while starting
    (:func:`drac_ssl.starting.quiet_while_starting`), :func:`refuse_train_early`, then
    :func:`drac_ssl.train.command_main` (:func:`drac_ssl.train.main` of the process's command line)
    and its exit (:func:`drac_ssl.train.exit_with`). Never
    returns: ends the process with the command's exit code."""
    from drac_ssl.starting import quiet_while_starting

    quiet_while_starting("train")
    refuse_train_early()
    from drac_ssl import train  # torch, OpenCV, scikit-learn: only for a configuration that reads

    train.exit_with(train.command_main())  # signals held after an interrupt until exit_with


def export_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m drac_ssl.export`` (:func:`drac_ssl.export.main`)."""
    from drac_ssl.config import LAYOUT_NAMES, SCORED_LAYOUTS, in_words  # PyYAML only
    from drac_ssl.scale import grades_count  # PyYAML only

    # drac-ssl-export, or the interpreter that runs it, as a fix says it
    prog = command_name("drac-ssl-export", "drac_ssl.export")
    parser = CommandParser(
        prog=prog, allow_abbrev=False,  # a prefix of an option is refused, never guessed
        description="Grade a folder of retinal images (UW-OCTA, colour fundus) with a drac_ssl "
                    "model bundle into a submission CSV (case,class,P0..P{K-1}; DRAC 2022 Task 3: "
                    "case,class,P0,P1,P2), check a submission CSV, or score one against labels "
                    "you hold.",
        epilog=f"Examples:\n  {prog} runs/default --images TEST_DIR --out team.csv\n"
               f"  {prog} runs/default --variant vicreg --images TEST_DIR --out vicreg.csv\n"
               f"  {prog} --check team.csv --images TEST_DIR\n"
               f"  {prog} runs/aptos --images test_images --out sub.csv --format kaggle   "
               "# id_code,diagnosis\n"
               f"  {prog} --check team.csv --manifest runs/retinamnist   "
               "# test images in an .npz\n"
               f"  {prog} --score team.csv --labels \"b. IDRiD_Disease Grading_Testing "
               "Labels.csv\" --json score.json\n\n" + fill_help(EXPORT_EXIT_CODES, 88),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", help="run folder (with bundle/) or bundle folder")
    parser.add_argument("--variant", metavar="NAME",
                        help="export this fine-tuned variant of the run folder RUN (scratch, vicreg "
                             "or vicreg_umm) instead of the one the fine-tuning selected: its bundle "
                             "is built into RUN/bundles/NAME (reused while the run's outputs it "
                             "is built from are the same); with --images DIR --out CSV it grades "
                             "the folder, without --images it writes RUN/export/submission_NAME.csv "
                             "of the ingest's test images (or --out); on --device (default cpu), "
                             "not the run's run.device")
    parser.add_argument("--images", metavar="DIR", help="folder of the images to grade (or one image "
                                                        "file) / with --check: the folder of the test "
                                                        "images / with RUN --score: the graded files, "
                                                        "to say those the model was trained or "
                                                        "pretrained on")
    parser.add_argument("--out", metavar="CSV", help="submission file to write")
    parser.add_argument("--format", choices=("drac", "kaggle"), default="drac",
                        help="with --images: the submission's format: drac (default: "
                             "case,class,P0..P{K-1}, the case the file name) or kaggle (APTOS "
                             "2019: id_code,diagnosis, the id the file name without extension, "
                             "rows in the order of the layout's test.csv or sample_submission.csv "
                             "when there is one). --check and --score tell a Kaggle file by its "
                             "header")
    parser.add_argument("--check", metavar="CSV", help="validate this submission file instead")
    parser.add_argument("--manifest", metavar="RUN",
                        help="with --check: the run folder (or its data/ folder, or manifest.csv) "
                             "whose test cases and grade scale the submission must match; for "
                             "test images without a folder (RetinaMNIST's .npz); a valid file's "
                             "classes that its bundle's class rule would not give are warned of")
    parser.add_argument("--grades", type=grades_count, default=None, metavar="K",  # drac/icdr too
                        help="with --check: the number of grades (default: the manifest's, else "
                             "the header's width: case,class and K columns P<n>); with --score: "
                             "the submission's number of grades (default: its header's width); "
                             "a scale's name is read as its count: drac = 3, icdr = 5; so is a comma "
                             "list of the grade names, as the ingest's --grades takes them")
    parser.add_argument("--score", metavar="CSV",
                        help="score this submission against the true grades of --labels: QWK with "
                             "its 95%% bootstrap CI, accuracy, macro F1, AUC one-vs-rest and "
                             "one-vs-one, the confusion matrix; every case needs a label and "
                             "every label a case; a warning when the backbone was pretrained "
                             "on the scored images (transductive: pretrain.use_test_images=false "
                             "for a clean test figure)")
    parser.add_argument("--labels", "--labels-csv", metavar="CSV", action=SpelledStore,  # the ingest's name too
                        help="with --score: the label CSV (any dialect the ingest reads; the "
                             f"columns of {in_words([LAYOUT_NAMES[k] for k in SCORED_LAYOUTS])} "
                             "are found, else name them)")
    parser.add_argument("--image-column", metavar="NAME",
                        help="with --score: the label CSV's column of image names (with or "
                             "without extension)")
    parser.add_argument("--grade-column", metavar="NAME",
                        help="with --score: the label CSV's column of true grades (default: "
                             "found; DeepDRiD's per-eye columns are read as the ingest reads "
                             "them, each image's own eye)")
    parser.add_argument("--patient-column", metavar="NAME",
                        help="with --score: the label CSV's column of patient ids: the 95%% CIs "
                             "then resample patients, each with all its images (DeepDRiD's "
                             "patient_id is read without it)")
    parser.add_argument("--ungradable", choices=("error", "leave_out"), default=None,
                        help="with --score: a label row without a true grade (an empty or NA cell, "
                             "DeepDRiD's grade 5, Messidor-2's adjudicated_gradable 0): error (the "
                             "default) scores nothing; leave_out leaves the row and the "
                             "submission's row of its image out, said in a note (as the ingest's "
                             "--ungradable)")
    # --referable-from: the name a user guesses from the setting data.referable_from (a CLI review)
    parser.add_argument("--labels-referable-from", "--referable-from", type=ascii_int("--labels-referable-from"),
                        default=None, metavar="N",
                        help="with --score, a two-grade submission (referable DR): the label "
                             "column holds ICDR grades 0..4 (Messidor-2's adjudicated_dr_grade, "
                             "APTOS's diagnosis ...); each is scored as grade 1 when it is N or "
                             "more, else 0 (N = 2: moderate or worse), with a note of how many "
                             "rows each became. N = 1: the column already holds 0/1 of your own "
                             "(keeps them as they are). A two-grade submission scored against a "
                             "known ICDR column without it is refused")
    parser.add_argument("--json", metavar="FILE",
                        help="with --score: also write the figures to this JSON file; with "
                             "--check: write the result there (pass or fail, whenever the check "
                             "ran): ok, exit_code (the command's), k, n_cases, complete_checked, "
                             "problems and warnings ({line, what, fix} each; line null: the file "
                             "as a whole)")
    parser.add_argument("--skip-unreadable", action="store_true",
                        help="grade the readable images and write them even when some files "
                             "cannot be read or are not images this package reads (x.webp, "
                             "notes.txt; clinic batch grading), skipping too the images with "
                             "nothing to grade (blank, random noise), as the app refuses them, "
                             "and those whose name cannot be a case (a comma, quote or line "
                             "break, a space at either end, a first = + - or @: each with a "
                             "name to rename it to); each skipped file is listed "
                             "on stderr and in OUT's .skipped.json beside the CSV, and the exit "
                             "code is 3; the record also lists, under left_out, every other "
                             "entry not graded (files holding no image, sub-folders, hidden "
                             "files). The CSV then lacks those cases: it is NOT a complete "
                             "submission (--check against the folder reports each missing row). "
                             "Default: an unreadable file, or a name that cannot be a case, "
                             "writes nothing")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                        help="flip test-time augmentation (4 flips per image) on or off; default: "
                             "as the bundle's cross-validated figures were measured (finetune.tta)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    parser.add_argument("--threads", type=ascii_int("--threads"), default=0, metavar="N",
                        help="CPU threads (torch, OpenCV); 0 = the default policy: half the "
                             "cores, 1..4 (drac_ssl.runtime)")
    parser.add_argument("--log-names", choices=LOG_NAMES, default="full",
                        help="how the console (stdout and stderr) names the files: full = as "
                             "they are (default); tag = a short tag instead of each name, "
                             "[name 1a2b3c4d] (the first 8 hex digits of the HMAC-SHA-256 of "
                             "the name under a random key of this run, or DRAC_SSL_LOG_NAMES_KEY "
                             "when set: tags stable across runs), for logs others read (file "
                             "names often hold patient names or IDs). The written CSVs and "
                             "records still name every case. Without the key a tag cannot be "
                             "traced to its name, nor a guessed name confirmed")
    parser.add_argument("--find-tag", action="append", metavar="TAG",
                        help="print the file name(s) whose tag is TAG (1a2b3c4d, or [name "
                             "1a2b3c4d] as the log says it; repeat it for several) among the names "
                             "--log-names tag lists for the other arguments given: give those of "
                             "the run whose log shows the tag (RUN, --images, --out, --check, "
                             "--score, --labels, --manifest, --json), from the same current folder "
                             "(its path is listed too, and relative paths are read from it). Its "
                             "key is DRAC_SSL_LOG_NAMES_KEY's, "
                             "read from the environment (a run without it drew a key kept nowhere: "
                             "its tags cannot be traced). Grades, checks and writes nothing; prints "
                             "names, so run it where the console is private. Exit 0 every tag "
                             "found, 1 some tag not, 2 no key, a bad key or a bad TAG")
    return add_version_option(parser)


FIND_TAG = re.compile(rf"\s*(?:\[name\s+)?([0-9a-fA-F]{{{TAG_HEX}}})\]?\s*")
"""A ``--find-tag`` value: a tag's hex digits, alone or as the console says it (``[name 1a2b3c4d]``)."""
FIND_TAG_SHOWN = 4
"""The most characters of a ``--find-tag`` value that is no tag its refusal repeats, and only
of a value no longer than a tag as the console says it (``[name 1a2b3c4d]``, 15 characters); of
a longer one, only its length: a key pasted there by mistake (``openssl rand -hex 32``, a
16-byte base64 key of 24 characters) must not reach stderr, a log, even in part (12 characters
of base64 are 72 of its 128 bits)."""
FIND_TAG_LONGEST = len(f"[name {'0' * TAG_HEX}]")
"""The length of the longest ``--find-tag`` value that is a tag as the console says it."""


def find_tag_command(args: argparse.Namespace, manifest_cases: Any = None,
                     environ: Mapping[str, str] = os.environ) -> int:
    """``python -m drac_ssl.export ... --find-tag TAG``: print ``TAG  NAME`` for each name whose
    tag (:func:`drac_ssl.name_tags.name_digest` under :data:`drac_ssl.name_tags.KEY_ENV`'s key,
    read from ``environ``, never from the command line, which ``ps`` shows) is one of
    ``args.find_tag``, among the names that ``--log-names tag`` lists for the same arguments
    (:func:`export_log_names`, with ``manifest_cases`` as the export passes it: the very
    listing the run made, hidden entries, sub-folders' entries, stems, the CSVs' and labels'
    names, paths included). A name that is not printable is said as its ``repr``. Returns the
    exit code: 0 every tag found (a tag may have several names: 32 bits), 1 some tag matches
    no listed name (said on stderr with what to check), 2
    (:data:`drac_ssl.exit_codes.USAGE_ERROR`) a TAG that is not one (said with its first
    :data:`FIND_TAG_SHOWN` characters only, or only its length when it is longer than a tag,
    :data:`FIND_TAG_LONGEST`), no key, or a key
    :func:`drac_ssl.name_tags.key_problem` refuses (never printed)."""
    from drac_ssl.console import print_lines
    from drac_ssl.name_tags import KEY_ENV, log_names_key, name_digest

    wanted: list[str] = []
    for given in args.find_tag:
        match = FIND_TAG.fullmatch(given)
        if match is None:  # a key pasted by mistake must not land on stderr whole
            if len(given) > FIND_TAG_LONGEST:
                said = f"of {len(given)} characters"
            else:
                said = repr(given[:FIND_TAG_SHOWN]) + (f"... ({len(given)} characters)" if len(given) > FIND_TAG_SHOWN else "")
            print(f"error: --find-tag {said} is not a tag: give its {TAG_HEX} hex digits as the "
                  f"log shows them, e.g. --find-tag 1a2b3c4d for [name 1a2b3c4d]", file=sys.stderr)
            return USAGE_ERROR
        wanted.append(match.group(1).lower())
    if KEY_ENV not in environ:
        print(f"error: --find-tag needs {KEY_ENV}, the key of the run whose log shows the tag, in "
              f"the environment: a run without it drew a random key and kept it nowhere, so its "
              f"tags cannot be traced (its written CSVs and .skipped.json name the files; or run "
              f"it again with --log-names full where the console is private)", file=sys.stderr)
        return USAGE_ERROR
    try:
        key = log_names_key(environ)
    except ValueError as exc:
        print(f"error: --find-tag: {exc}", file=sys.stderr)
        return USAGE_ERROR
    names = export_log_names(argparse.Namespace(**{**vars(args), "log_names": "tag"}), manifest_cases) or set()
    found: dict[str, list[str]] = {tag: [] for tag in wanted}
    for name in sorted(names):
        digest = name_digest(name, key)
        if digest in found:
            found[digest].append(name)
    if problem := print_lines(f"{tag}  {visible_text(name)}"
                              for tag, matched in found.items() for name in matched):
        print(f"error: --find-tag: stdout: {problem}", file=sys.stderr)
        return USAGE_ERROR
    if missing := [tag for tag, matched in found.items() if not matched]:
        print(f"note: no name of the {len(names)} listed for these arguments has the tag "
              f"{', '.join(missing)} under this key: give the arguments of the run whose log "
              f"shows it (the same RUN, --images, --out, --check, --score, --labels, --manifest, "
              f"--json), from the same current folder, and the key it ran with; a file renamed or "
              f"removed since is no longer listed",
              file=sys.stderr)
        return 1
    return 0


def export_log_names(args: argparse.Namespace, manifest_cases: Any = None) -> set[str] | None:
    """The names ``python -m drac_ssl.export --log-names tag`` tags on the console
    (:func:`drac_ssl.name_tags.tagged_console`); None for ``--log-names full`` (names as
    they are). Every name the command may print: the entries of ``--images``, however many,
    those of its sub-folders, and those of the folders below them as deep and as many as the
    search for deeper images goes, one level more (a fix may name them:
    :func:`drac_ssl.name_tags.folder_names`, :data:`drac_ssl.submission.DEEPER_SEARCHED`) and,
    for a name that cannot be a case, the names the fix suggests
    (:func:`drac_ssl.submission.safe_case_name`), and a name with surrounding spaces without
    them (``--check``'s fix says it so); the cases of ``--check`` / ``--score``'s CSV; ``--score``'s label names and patients (read as scoring reads them; a label CSV it
    cannot read so: the first cell of each row); and, with
    ``manifest_cases`` (:func:`drac_ssl.export.manifest_test_cases`, which the export passes:
    it is not imported here), the test cases of ``--manifest`` or, without ``--images``, of
    RUN's ingest (``RUN --variant NAME`` grades those); the paths of ``--images``,
    ``--out``, ``--check``, ``--score``, ``--labels``, RUN, ``--manifest`` and ``--json``
    (:data:`LOG_NAMES_PATHS`) whole, as
    given, absolute and resolved, the folders above them as whole paths, and their last parts
    (:func:`drac_ssl.name_tags.path_names`: not every part as a word, ``data`` or ``test``,
    which would be tagged in every line); and the stem of each
    (:func:`drac_ssl.name_tags.with_stems`: ``rename it scan.png`` for ``scan.dat``,
    ``grades_notes.csv`` of ``--out grades.csv``; ``Jones_Bob`` of RUN ``runs/Jones_Bob``,
    which a fix prints alone: ``~/Jones_Bob-copy``). The current folder's path as a whole path
    only, not its last part (``.../drac_ssl``, ``/home/u/main``: everyday words of the lines).
    Never a word of
    :data:`drac_ssl.name_tags.PACKAGE_WORDS` (``drac``, ``default``, ``configs``) nor a relative
    path of them alone (``runs/default``: :func:`drac_ssl.name_tags.package_words_only`): a
    fix's command must work when pasted."""
    if getattr(args, "log_names", "full") != "tag":
        return None
    from data_prep.layout import is_hidden
    from drac_ssl.name_tags import (
        csv_first_column,
        folder_names,
        package_words_only,
        path_names,
        with_stems,
    )
    from drac_ssl.submission import (  # numpy, no torch
        DEEPER_SEARCHED,
        case_name_problem,
        safe_case_name,
    )

    names: set[str] = set()
    if args.images:  # every entry, and the folders the search for deeper images may name
        names |= folder_names(args.images, levels=DEEPER_SEARCHED[0] + 1, visits=DEEPER_SEARCHED[1],
                              hidden=lambda name: is_hidden(Path(name)))
    for csv_path in (args.check, args.score):
        if csv_path:
            names.update(csv_first_column(csv_path))
    if args.score and args.labels:
        names |= _label_names(args)
    if manifest_cases is not None:
        for where in (args.manifest, None if args.images or args.check or args.score else args.run):
            if where:
                try:
                    names.update(manifest_cases(where)[0])
                except (OSError, ValueError):  # no manifest there: the command says so itself
                    pass
    for name in sorted(names):
        if name.strip() and name != name.strip():  # --check's fix: "write 'Doe, John.png'"
            names.add(name.strip())
        if case_name_problem(name) is not None:  # the fix names a rename: "Doe_John.png"
            safe = safe_case_name(name)
            stem, suffix = os.path.splitext(safe)
            names |= {safe, *(f"{stem}_{n}{suffix}" for n in range(2, 10))}
    for dest in LOG_NAMES_PATHS:
        if path := getattr(args, dest, None):  # "has no image in '../p/Doe_Jane'": the paths given, the folders above them
            names |= path_names(path)
    # a file holding an image under another suffix: "rename it scan.png" says its stem
    names = with_stems(names)
    if here := _current_folder():  # a whole path only: the last part of .../drac_ssl is a word of every fix
        names |= path_names(here, last_parts=False)
    return {name for name in names if not package_words_only(name)}


LOG_NAMES_PATHS = ("images", "out", "check", "score", "labels", "run", "manifest", "json")
"""The export's arguments that are paths whose names ``--log-names tag`` lists with their last
parts and stems (:func:`export_log_names`): ``--images``, ``--out``, ``--check``, ``--score``,
``--labels``, RUN, ``--manifest``, ``--json``. A last part that is a package word
(``default`` of ``runs/default``: :data:`drac_ssl.name_tags.PACKAGE_WORDS`) is left out, so the
fix lines' commands stay readable; a patient-named run folder (``runs/Jones_Bob``) is tagged
also where a message says its name alone (``~/Jones_Bob-copy``: a review of 1c6dafe)."""


def _current_folder() -> str | None:
    """The current folder (a message says it: "a relative path is read from the current
    folder, /home/u/p/Doe_Jane"); None when it is gone."""
    try:
        return os.getcwd()
    except OSError:
        return None


def _label_names(args: argparse.Namespace) -> set[str]:
    """``--score``'s label CSV's image names and patients (:func:`drac_ssl.scoring.read_grade_labels`
    with the submission's grade scale: K = its header's cells less ``case`` and ``class``, read by
    :mod:`csv` as :mod:`drac_ssl.submission` reads it, so that a quoted cell holding a comma is
    one cell); the first cell of each of its rows when it cannot be read so
    (:func:`drac_ssl.name_tags.csv_first_column`)."""
    from drac_ssl.name_tags import csv_first_column
    from drac_ssl.scoring import read_grade_labels, scale_names

    try:
        with open(args.score, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), [])
        k = args.grades or max(2, len(header) - 2)
        rows = read_grade_labels(args.labels, scale_names(k), image_column=args.image_column,
                                 grade_column=args.grade_column, patient_column=args.patient_column,
                                 cases=csv_first_column(args.score),  # GBK names read as score reads them
                                 ungradable=args.ungradable or "error")
    except (OSError, ValueError, UnicodeDecodeError, csv.Error):
        return set(csv_first_column(args.labels))
    return {*rows.names, *(p for p in rows.patients if p)}


def check_arguments_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments of ``python -m drac_ssl.export --check CSV`` (parsed by
    :func:`export_parser`), in the words of its ``error:`` line; None when nothing is. An
    ``--images`` that is no folder of images (an array file such as a MedMNIST ``.npz``, a
    folder without images: :func:`drac_ssl.submission.images_option_problem`) is one too."""
    if args.variant is not None:
        return "--variant exports a variant of a run; give no --check with it"
    if args.run or args.out or args.skip_unreadable:
        return "--check validates a file; give no RUN, --out or --skip-unreadable with it"
    if args.format != "drac":
        return "--format goes with --images DIR --out CSV; --check tells a Kaggle file by its header"
    if problem := input_file_problem(args.check, "--check", "submission"):
        return problem
    if args.images:  # a usage error (exit 2), not a line-0 problem of the submission
        from drac_ssl.submission import images_option_problem  # numpy, no torch

        if problem := images_option_problem(args.images, args.check):
            return problem
    if args.json is not None:
        from drac_ssl.io import output_file_problem  # standard library only
        from drac_ssl.out_paths import replace_problem  # standard library only

        json_path = Path(args.json)
        if _same_file(json_path, Path(args.check)):
            return (f"--json {args.json} is the submission of --check: writing the result there would "
                    f"overwrite it.\n  fix: give the JSON another path, e.g. --json {json_path.with_name('check.json')}")
        if json_path.suffix.lower() == ".csv":
            return (f"--json {args.json}: the result is written as JSON, not CSV (a .csv path is most "
                    f"often a submission named by mistake).\n  fix: --json {json_path.with_suffix('.json')}")
        from drac_ssl.submission import provenance_path, skipped_record_path  # numpy, no torch

        for companion in (provenance_path(args.check), skipped_record_path(args.check)):
            if _same_file(json_path, companion):
                return (f"--json {args.json} is the name of a file the export writes beside the "
                        f"submission of --check, which the check reads.\n  fix: give the JSON another "
                        f"path, e.g. --json {json_path.with_name('check.json')}")
        return (output_file_problem(args.json, "--json", "check.json")
                or replace_problem(args.json, "--json", _check_record, "export --check", "check.json"))
    return None


def _json_record_with(path: Path, keys: set[str]) -> bool:
    """Whether ``path`` holds a JSON object with (at least) ``keys``."""
    import json  # noqa: PLC0415 - only when a --json file exists

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and keys <= record.keys()


def _check_record(path: Path) -> bool:
    """Whether ``path`` is a JSON record ``export --check --json`` wrote (its ``ok``,
    ``exit_code`` and ``problems`` keys): one it may write again."""
    return _json_record_with(path, {"ok", "exit_code", "problems"})


def input_file_problem(path: str, flag: str, what: str) -> str | None:
    """Why the ``what`` file (``submission``, ``label``) given with ``flag`` cannot be read, with
    the fix; None when it can be opened. Said as a usage error (exit 2), not as a problem of the
    file's line 0 (a review: ``--check`` of an unreadable file printed ``FILE:0: cannot read the
    file`` and exited 1, as a submission that fails its check): a path that is not there, a
    folder (``--check DIR`` said "no such submission file"), and a file this account may not
    read (another account's run folder, mode 0700: :func:`drac_ssl.io.unreadable_words`)."""
    from drac_ssl.io import unreadable_words  # stdlib only

    p = Path(path)
    if os.path.isdir(p):
        inside = sorted(q.name for q in p.glob("*.csv"))[:3]
        return (f"{path}: {flag} is a folder, not a {what} file.\n  fix: give the CSV file"
                + (f", e.g. {flag} {p / inside[0]}" if inside else f" ({flag} FILE.csv)"))
    try:
        with open(p, "rb"):
            pass
    except FileNotFoundError:
        here = "" if p.is_absolute() else f" (read from the current folder, {Path.cwd()})"
        return f"{path}: no such {what} file{here}.\n  fix: check the path given with {flag}"
    except OSError as exc:  # no permission (a folder closed to this account), an I/O error
        return unreadable_words(exc, path, f"the {what} file of {flag}")
    return None


SCORE_ONLY_OPTIONS = ("labels", "image_column", "grade_column", "patient_column", "ungradable",
                      "labels_referable_from", "json")
"""The options of ``export --score`` that mean nothing without it (``--json`` -> ``json``)."""


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def score_arguments_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments of ``python -m drac_ssl.export``'s ``--score`` (parsed
    by :func:`export_parser`), in the words of its ``error:`` line; None when nothing is. Also
    an option of :data:`SCORE_ONLY_OPTIONS` given without ``--score``, and a ``--json`` that
    is the submission or the label file, or ends in ``.csv``. Checked before torch loads
    (exit 2)."""
    if not args.score:
        # --json goes with --check too (the check's result for a pipeline: check_arguments_problem)
        given = [spelled_flag(args, d) for d in SCORE_ONLY_OPTIONS
                 if getattr(args, d, None) is not None and not (d == "json" and args.check)]
        if given:
            also = " (or --check FILE: the check's result)" if given == ["--json"] else ""
            return (f"{', '.join(given)} {'goes' if len(given) == 1 else 'go'} with --score "
                    f"SUBMISSION.csv (score a submission against labels you hold){also}")
        return None
    # RUN (a run or bundle folder) and --images DIR (the graded files) tell whether the scored
    # images trained the model (drac_ssl.scoring.training_images_check)
    others = [flag for flag, given in (("--check", args.check),
                                       ("--variant", args.variant),
                                       ("--out", args.out), ("--manifest", args.manifest),
                                       ("--skip-unreadable", args.skip_unreadable),
                                       ("--tta", args.tta is not None),
                                       ("--format (a Kaggle file is told by its header)",
                                        getattr(args, "format", "drac") != "drac")) if given]
    if others:
        return (f"--score compares a submission with labels; give no {', '.join(others)} with it "
                f"(grade the images first: {python_command('drac_ssl.export')} RUN --images DIR --out CSV)")
    if args.images and not args.run:
        return ("--images goes with RUN under --score (RUN --score CSV --labels LABELS --images DIR: "
                "are the scored images among those RUN's model was trained on?)")
    if not args.labels:
        return ("--score needs --labels CSV: the true grades of the submission's images (e.g. "
                "IDRiD's 'b. IDRiD_Disease Grading_Testing Labels.csv')")
    if problem := input_file_problem(args.score, "--score", "submission"):
        return problem
    if problem := input_file_problem(args.labels, spelled_flag(args, "labels"), "label"):
        return problem
    return score_json_problem(args)


def score_json_problem(args: argparse.Namespace) -> str | None:
    """Why ``--score``'s ``--json FILE`` may not be written (the submission or label file, a
    ``.csv`` name, a path that cannot be written, an existing file ``--score`` did not write),
    with the fix; None when it may, or no ``--json`` is given. Part of
    :func:`score_arguments_problem`; also asked before a refused score's record
    (:func:`drac_ssl.scoring.write_score_refusal`) replaces the file."""
    if args.json is None or not args.score:
        return None
    from drac_ssl.io import output_file_problem  # standard library only
    from drac_ssl.out_paths import replace_problem  # standard library only

    # an existing file --score did not write (a review F1: output paths replaced inputs)
    return (_json_input_problem(args) or output_file_problem(args.json, "--json", "score.json")
            or replace_problem(args.json, "--json", _score_record, "export --score", "score.json"))


def _same_file(a: Path, b: Path) -> bool:
    """Whether the paths ``a`` and ``b`` name one file (:func:`os.path.samefile` when both
    exist: links and other spellings too; else the resolved paths: :func:`drac_ssl.io.same_path`)."""
    from drac_ssl.io import same_path  # stdlib only
    return same_path(a, b)


def _score_record(path: Path) -> bool:
    """Whether ``path`` is a JSON record ``export --score --json`` wrote (its ``submission``,
    ``labels`` and ``qwk`` keys, or a refused score's ``ok``, ``exit_code`` and ``error``): one
    it may write again."""
    return (_json_record_with(path, {"submission", "labels", "qwk"})
            or _json_record_with(path, {"ok", "exit_code", "error", "submission"}))


def _json_input_problem(args: argparse.Namespace) -> str | None:
    """Why ``--score``'s ``--json FILE`` may not be written: it is the submission or the label
    file (writing the figures there would replace it), or a ``.csv`` name (JSON in a CSV's
    name: most often a label or submission file named by mistake); None otherwise."""
    json_path = Path(args.json)
    example = json_path.with_name("score.json")
    for flag, given, what in (("--score", args.score, "submission"), (spelled_flag(args, "labels"), args.labels, "label")):
        if given and _same_file(json_path, Path(given)):
            return (f"--json {args.json} is the {what} file of {flag}: writing the figures there would "
                    f"overwrite it.\n  fix: give the JSON another path, e.g. --json {example}")
    if json_path.suffix.lower() == ".csv":
        return (f"--json {args.json}: the figures are written as JSON, not CSV (a .csv path is most "
                f"often a label or submission file named by mistake).\n  fix: --json "
                f"{json_path.with_suffix('.json')}")
    return None


def compare_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m drac_ssl.compare`` (:func:`drac_ssl.compare.main`)."""
    prog = command_name("drac-ssl-compare", "drac_ssl.compare")
    parser = CommandParser(
        prog=prog, allow_abbrev=False,  # a prefix of an option is refused, never guessed
        description="Compare finished run folders of python -m drac_ssl.train: one row per run and "
                    "variant with the settings that differ and the out-of-fold metrics, then each "
                    "pretrained variant minus scratch with a paired bootstrap CI.",
        epilog=f"e.g. {prog} runs/base runs/base-mlp --csv compare.csv. {COMPARE_EXIT_CODES}")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders (runs/<run.name>)")
    parser.add_argument("--csv", metavar="FILE", help="also write the table of runs and variants as CSV")
    parser.add_argument("--md", metavar="FILE", help="also write the whole Markdown text")
    parser.add_argument("--between", action="store_true",
                        help="also each run minus the first, variant by variant, with a paired "
                             "bootstrap CI on the out-of-fold images both scored: did the changed "
                             "settings help? (seconds per variant)")
    parser.add_argument("--n-boot", type=ascii_int("--n-boot"), default=None, metavar="N",
                        help="recompute every paired difference with N bootstrap resamples (seed 0; "
                             "of the near-twin groups the folds kept whole when the run's "
                             "data/manifest.csv has them (its fold_group column, "
                             "data.near_duplicate_mse), else of the patients, each with all its "
                             "images, when it names them, else of the images); "
                             "default: each run's own differences as its fine-tuning stored them (the "
                             f"figures of its report.md), {DEFAULT_N_BOOT} resamples for a run that "
                             "did not store them")
    return add_version_option(parser)


def report_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m drac_ssl.report RUN`` (:func:`drac_ssl.report.main`)."""
    prog = command_name("drac-ssl-report", "drac_ssl.report")
    parser = CommandParser(
        prog=prog, allow_abbrev=False,  # a prefix of an option is refused, never guessed
        description=("Write RUN/report.md (and its figures under RUN/report/) again from the run "
                     "folder's files, with the code of now; the run's invocations.jsonl gets a line "
                     "saying so. drac_ssl.train writes the report at the end of every run."),
        epilog=f"Example: {prog} runs/default. {REPORT_EXIT_CODES}")
    parser.add_argument("run", metavar="RUN", help="the run folder (runs/<run.name>)")
    return add_version_option(parser)


def _arguments_problem(find: Callable[[argparse.Namespace], str | None],
                       args: argparse.Namespace) -> str | None:
    """``find(args)`` (:func:`score_arguments_problem`, :func:`check_arguments_problem`); an
    unexpected exception of it (a bug, its message may name a file) is raised again inside
    the console of ``--log-names`` (:func:`drac_ssl.name_tags.tagged_console`: with ``tag``
    its traceback is printed tagged and ``SystemExit(1)`` raised). The names are gathered only
    then, not for every command."""
    from drac_ssl.name_tags import tagged_console

    try:
        return find(args)
    except Exception:
        with tagged_console(lambda: export_log_names(args)):
            raise


def export_early(argv: list[str] | None = None) -> None:
    """What ``python -m drac_ssl.export`` (and the installed ``drac-ssl-export``) answers
    before torch loads, for ``argv`` (default: ``sys.argv[1:]``): ``--help`` and ``--version``
    (exit 0), a usage error, an ``--score`` or ``--check`` whose arguments are wrong (said on
    stderr, exit 2: :func:`score_arguments_problem`, :func:`check_arguments_problem`; a
    negative ``--threads`` is left to :func:`drac_ssl.export.main`, which says it first), and
    ``--score`` itself, which loads no torch (:func:`drac_ssl.scoring.score_command`: ends the
    process with its exit code), and torch and torchvision not a supported matching pair
    (:mod:`drac_ssl.torch_pair`, exit 2). Returns when the command needs the grading code."""
    args = export_parser().parse_args(argv)
    if args.find_tag:  # drac_ssl.export.main answers it, with the run's manifest reader
        return
    from drac_ssl.name_tags import tagged_console

    # --log-names tag: no file name on the console, the arguments' problems (a folder's
    # entries listed) included; the names are gathered only when there is something to say
    if args.threads >= 0 and (problem := _arguments_problem(score_arguments_problem, args)):
        with tagged_console(lambda: export_log_names(args)):
            print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    if args.score and args.threads >= 0:
        from drac_ssl.scoring import score_command  # numpy and the label reader, no torch

        with tagged_console(lambda: export_log_names(args)):
            code = score_command(args, list(sys.argv[1:] if argv is None else argv))
        sys.exit(code)
    if args.check and args.threads >= 0 and (problem := _arguments_problem(check_arguments_problem, args)):
        with tagged_console(lambda: export_log_names(args)):
            print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    from drac_ssl.torch_pair import exit_on_bad_torch_pair  # stdlib only

    exit_on_bad_torch_pair()  # a mismatched torchvision fails inside its import: said first


def export_command() -> None:
    """The installed ``drac-ssl-export``: what ``python -m drac_ssl.export`` does, in the same
    order (Ctrl-C quiet while starting, :func:`export_early`, then
    :func:`drac_ssl.export.main`). Never returns: ends the process with the command's exit
    code (:data:`EXPORT_EXIT_CODES`)."""
    from drac_ssl.starting import quiet_while_starting, run_command

    quiet_while_starting("export")
    export_early()
    from drac_ssl import export  # torch, OpenCV: only for arguments that read

    run_command(export.main)


def report_command() -> None:
    """The installed ``drac-ssl-report``: what ``python -m drac_ssl.report RUN`` does (its
    ``--help``, ``--version`` and usage errors before torch loads, then
    :func:`drac_ssl.report.main`). Never returns: ends the process with its exit code."""
    from drac_ssl.starting import quiet_while_starting, run_command

    quiet_while_starting("report")
    report_parser().parse_args()
    from drac_ssl import report  # the heavy imports: only for arguments that parse

    run_command(report.main)


def compare_command() -> None:
    """The installed ``drac-ssl-compare``: what ``python -m drac_ssl.compare RUN ...`` does
    (its ``--help``, ``--version`` and usage errors before torch loads, then
    :func:`drac_ssl.compare.main`). Never returns: ends the process with its exit code."""
    from drac_ssl.starting import quiet_while_starting, run_command

    quiet_while_starting("compare")
    compare_parser().parse_intermixed_args()
    from drac_ssl import compare  # the heavy imports: only for arguments that parse

    run_command(compare.main)
