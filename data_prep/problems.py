"""What the ingest reports: one :class:`Problem` per finding, ``PATH: what is wrong -> what to do``.

Severities:

- ``error``: fatal, the ingest writes nothing and exits 2 (a user error);
- ``warning``: the data were converted or a property of the file cannot be honoured (colour
  to grey, 16-bit to 8-bit, an ICC profile not applied ...), an image is blank (the app and
  the export would grade nothing), or a grade of ``data.grades`` has no labelled image (the
  model would never see it); fatal with ``--strict``;
- ``note``: informational (an EXIF orientation applied, bytes after the end of an image
  ignored, a hidden file skipped).

``kind`` is a short tag (``orientation``, ``bit-depth``, ``no-image`` ...) that groups
findings of the same sort in the printed summary and in ``ingest_summary.json``. The printed
list shows at most :data:`SHOWN_PER_KIND` findings of one kind, errors included, then one line
counting the rest (with the kind's ``summary``, a sentence about all of them, when it has one);
nothing is dropped: the caller says where the full list is (``ingest_summary.json``, or the
``ingest_problems.txt`` a failed ingest writes).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from drac_ssl.config import (
    DATA_LAYOUTS,
    DATA_MISSING,
    DATA_MODALITIES,
    DATA_UNGRADABLE,
    GRADE_SCALES,
    DataConfig,
)

__all__ = ["IngestError", "Problem", "as_config_keys"]
"""The public names (docs/python.md): the ingest's error, its findings (``IngestError.problems``,
``IngestResult.findings``) and the wording of its advice as ``drac_ssl.train`` settings."""

SHOWN_PER_KIND = 10
"""Printed lines per (severity, kind), errors included; the rest are counted on one line."""


CLI_TO_CONFIG = {
    "--labels-csv": "data.labels_csv", "--image-column": "data.image_column",
    "--grade-column": "data.grade_column", "--patient-column": "data.patient_column",
    "--site-column": "data.site_column",
    "--root": "data.root", "--layout": "data.layout", "--grades": "data.grades",
    "--channels": "data.channels", "--modality": "data.modality",
    "--expected-side": "data.expected_side", "--folds": "data.n_folds",
    "--cache-sizes": "data.cache_sizes", "--sizes": "data.cache_sizes", "--seed": "data.fold_seed", "--strict": "data.strict=true",
    "--fundus-crop": "data.fundus_crop=true", "--graham": "data.graham=true",
    "--no-graham-mask": "data.graham_mask=false",
    "--unlabelled": "data.unlabelled", "--ungradable": "data.ungradable",
    "--missing": "data.missing", "--near-duplicate-mse": "data.near_duplicate_mse",
    "--referable-from": "data.referable_from",
}
"""The standalone ingest's flags and the ``python -m drac_ssl.train`` settings they are. The
ingest's messages name the flags (its own command's terms); ``python -m drac_ssl.train`` says
them as settings with :func:`as_config_keys` (``ingest.run(..., wording=as_config_keys)``)."""


def ingest_command(data: DataConfig, out: str | os.PathLike[str]) -> str:
    """The ``python -m data_prep ingest`` command line that ingests as ``python -m
    drac_ssl.train`` would with the ``data`` settings (a :class:`drac_ssl.config.DataConfig`):
    ``--root``, then the flag of :data:`CLI_TO_CONFIG` of every setting that differs from
    its default (a list comma-separated, ``--unlabelled`` once per folder, a switch such as
    ``--strict`` alone), then ``--out``; shell-quoted, so it runs as printed
    (``--root ROOT --out ...`` alone stopped on 'no label CSV found' for a plain folder whose
    CSV ``data.labels_csv`` named). Settings without a flag (``data.workers``) are left out:
    they change nothing the ingest checks."""
    import shlex

    default = DataConfig()
    from drac_ssl.starting import interpreter_word  # the running one: the command runs as printed

    words = [interpreter_word(), "-m", "data_prep", "ingest", "--root", str(data.root)]
    said = {"root"}
    for flag, setting in CLI_TO_CONFIG.items():
        key, _, switch = setting.partition("=")
        name = key.removeprefix("data.")
        if name in said:  # --sizes: the older name of --cache-sizes
            continue
        said.add(name)
        value = getattr(data, name)
        if value == getattr(default, name):
            continue
        if switch:  # --strict: data.strict=true; --no-graham-mask: data.graham_mask=false
            if str(value).lower() == switch:
                words.append(flag)
        elif name == "unlabelled":
            for folder in value:
                words += [flag, str(folder)]
        elif isinstance(value, (list, tuple)):
            words += [flag, ",".join(str(v) for v in value)]
        else:
            words += [flag, str(value)]
    return shlex.join([*words, "--out", str(out)])
def flag_value_pattern(choices: Iterable[str]) -> str:
    """The pattern of what follows a flag when it is the flag's value: ``FILE`` or ``N``
    (capitals, a whole word), a number, a path, or one of ``choices`` as a whole word."""
    words = "|".join(re.escape(c) for c in sorted({c for c in choices if c}, key=lambda c: (-len(c), c)))
    return rf"(?:[A-Z]+\b|\d|[/.~<'\"]|(?:{words})\b)"


_FLAG_VALUE = flag_value_pattern([*DATA_LAYOUTS, *DATA_MODALITIES, *GRADE_SCALES,
                                  *DATA_UNGRADABLE, *DATA_MISSING])
"""What follows a flag when it is the flag's value (``FILE``, a number, a path, a choice:
every ``data.layout`` of :data:`drac_ssl.config.DATA_LAYOUTS`, so a new layout is one by
itself, as ``tests/data_prep/test_layouts.py`` checks, the modalities, the named grade
scales, and ``leave_out`` / ``error`` of ``--ungradable`` and ``--missing``)."""


_TYPED_COMMAND = re.compile(r"(\S*python\S* -m data_prep [^\n]*)")
"""A ``python -m data_prep ...`` command in a message (to the end of its line; the
interpreter as printed, ``.venv/bin/python``: :func:`drac_ssl.starting.python_command`):
typed as it is whichever command prints the message, so :func:`as_config_keys` leaves it
alone."""


def as_config_keys(text: str) -> str:
    """An ingest message with its command-line flags written as the pipeline's settings
    (``--labels-csv FILE`` -> ``data.labels_csv=FILE``), for ``python -m drac_ssl.train``. A
    ``python -m data_prep ...`` command in it (to the end of its line, e.g. the ``flatten``
    line of a folder-per-grade tree) is a command to type, kept as it is."""
    parts = _TYPED_COMMAND.split(text)  # odd items: the commands
    return "".join(part if i % 2 else _settings(part) for i, part in enumerate(parts))


def _settings(text: str) -> str:
    text = re.sub(r'(?<![\w-])--grades "([^"]*)"',  # a quoted list of names: a YAML list
                  lambda m: f"data.grades=[{', '.join(n.strip() for n in m[1].split(','))}]", text)
    # a fix that gave both, the flag and the setting (data_prep.grades.config_grades): the setting once
    text = re.sub(r"(data\.grades=\[[^\]]*\]) \(\1 for python -m drac_ssl\.train\)", r"\1", text)
    for flag, setting in CLI_TO_CONFIG.items():
        with_value = setting + (" " if "=" in setting else "=")
        text = re.sub(rf"(?<![\w-]){re.escape(flag)} (?={_FLAG_VALUE})", with_value, text)
        text = re.sub(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", setting, text)
    # the ingest's output folder as a fix ('give --out a folder on another disk', 'the
    # permissions of --out'): python -m
    # drac_ssl.train ingests into run.out_dir/run.name/data; another command's --out (the
    # export's, in a command to type) stays
    return (text.replace("give --out a folder", "give run.out_dir a folder")
            .replace("the permissions of --out", "the permissions of run.out_dir"))


class IngestError(ValueError):
    """Bad input to the ingest; the message lists every problem with its fix (no traceback)."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems: list[Problem] = list(problems)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file (or CSV row): where, what and how to fix it."""

    path: str
    what: str
    fix: str
    severity: str = "error"  # error | warning | note
    kind: str = ""  # a short tag grouping findings of one sort (orientation, bit-depth ...)
    summary: str = ""  # about all the findings of its kind, said when their lines are cut short

    @property
    def line(self) -> str:
        """The printed form ``PATH: what is wrong -> what to do``."""
        return f"{self.path}: {self.what} -> {self.fix}"

    def strict(self) -> Problem:
        """The fatal version of a warning (``--strict``)."""
        if self.severity != "warning":
            return self
        accept = {"grades": "ingest the labels as they are",
                  "patient": "fold the images as if independent",
                  "blank": "ingest it as it is",
                  "phantom": "ingest it as a phantom image",
                  "misnamed": "read it by its content",
                  "near-duplicates": "ingest the images as they are"}.get(
                      self.kind, "convert it automatically")
        return dataclasses.replace(
            self,
            what=f"{self.what} (rejected by --strict)",
            fix=f"{self.fix}, or run without --strict to {accept}",
            severity="error",
        )

    def at(self, path: str | Path) -> Problem:
        """The same finding reported for ``path``."""
        return dataclasses.replace(self, path=str(path))


def counted(n: int, noun: str, plural: str = "") -> str:
    """``n`` and ``noun`` in agreement: ``'1 labelled image'``, ``'2 labelled images'``
    (``plural`` for a noun not made plural by an ``s``)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def named_few(items: Sequence[str], shown: int, *, sep: str = ", ", last: str = " and ",
              unit: str = "") -> str:
    """At most ``shown`` of ``items`` named, then how many more: ``a, b, c and 2 more``,
    ``a, b and c``, ``a``; all of them when only one would be left (``a, b, c and d`` for
    ``shown`` 3: its name is no longer than ``1 more``). ``sep`` joins the names, ``last`` puts the last name or the count
    after them, and ``unit`` says what the count counts: items that hold colons and numbers
    (``1_l2 at line 3: 2 vs 'left_eye_DR_Level' 0``) read as ``a; b; c; and 5 more rows``
    with ``sep='; ', last='; and ', unit=' rows'``, never as a grade ``0 and 5``."""
    if len(items) > shown + 1:
        return f"{sep.join(items[:shown])}{last}{len(items) - shown} more{unit}"
    return sep.join(items[:-1]) + f"{last}{items[-1]}" if len(items) > 1 else "".join(items)


def error(path: str | Path, what: str, fix: str, kind: str = "") -> Problem:
    return Problem(str(path), what, fix, "error", kind)


def warning(path: str | Path, what: str, fix: str, kind: str = "") -> Problem:
    return Problem(str(path), what, fix, "warning", kind)


def note(path: str | Path, what: str, fix: str, kind: str = "") -> Problem:
    return Problem(str(path), what, fix, "note", kind)


def apply_strict(problems: Iterable[Problem], strict: bool) -> list[Problem]:
    """Escalate conversion warnings to errors when ``strict``."""
    return [p.strict() for p in problems] if strict else list(problems)


def in_line_order(problems: Sequence[Problem]) -> list[Problem]:
    """``problems`` with those of one file sorted by their line (``PATH:LINE``); the files,
    and problems without a line, keep their order."""
    def split(problem: Problem) -> tuple[str, int]:
        head, _, tail = problem.path.rpartition(":")
        return (head, int(tail)) if head and tail.isdigit() else (problem.path, 0)

    first_seen: dict[str, int] = {}
    for problem in problems:
        first_seen.setdefault(split(problem)[0], len(first_seen))
    return sorted(problems, key=lambda p: (first_seen[split(p)[0]], split(p)[1]))


def cut_per_kind(problems: Sequence[Problem], per_kind: int | None = SHOWN_PER_KIND
                 ) -> tuple[list[Problem], dict[tuple[str, str], list[Problem]]]:
    """(the problems to print, in order; the rest by (severity, kind)): at most ``per_kind``
    of each severity and kind; problems without a kind are all printed (they are one-off
    findings of different sorts). ``per_kind`` None: all."""
    shown: list[Problem] = []
    hidden: dict[tuple[str, str], list[Problem]] = {}
    counts: dict[tuple[str, str], int] = {}
    for problem in problems:
        key = (problem.severity, problem.kind)
        if per_kind is None or not problem.kind or counts.get(key, 0) < per_kind:
            counts[key] = counts.get(key, 0) + 1
            shown.append(problem)
        else:
            hidden.setdefault(key, []).append(problem)
    return shown, hidden


def shown_with_rest(problems: Sequence[Problem], per_kind: int | None = SHOWN_PER_KIND
                    ) -> Iterator[tuple[Problem, list[Problem] | None]]:
    """The problems to print (:func:`cut_per_kind`), each with the rest of its kind after the
    last one of that kind shown (to be counted right below it: :func:`more_of_a_kind`), else
    None."""
    shown, hidden = cut_per_kind(problems, per_kind)
    last = {(p.severity, p.kind): i for i, p in enumerate(shown)}
    for i, problem in enumerate(shown):
        key = (problem.severity, problem.kind)
        yield problem, hidden.get(key) if last[key] == i else None


KIND_SUMMARIES = {
    "fundus-surround": ("these photographs have no dark surround around the fundus disc, so the "
                        "crop left them as they are: a set already cropped to the disc or "
                        "pre-filtered needs no --fundus-crop"),
    "graham-twice": ("these images look already Graham-filtered (mid-grey 128 nearly everywhere at a large "
                     "scale), and --graham filters them again: ingest such copies without --graham, "
                     "or ingest the original photographs"),
}
"""What the findings of a kind say together, for kinds whose findings are kept without their
own ``summary`` (the cache state stores each file's findings as (what, fix, severity, kind))."""


CROP_NOT_APPLIED = {"fundus-surround": "no dark surround around the disc",
                    "fundus-crop": "no fundus disc found"}
"""The ingest's finding kinds that mean ``data.fundus_crop`` left an image uncropped
(:func:`data_prep.cache.cache_rows`: left as it is, or only padded to a square), and the
reason in the words of the ingest summary, the report and the model card
(:func:`crop_words`)."""


def crop_words(not_applied: Mapping[str, int], total: int,
               done: str = "crop to the fundus disc") -> str:
    """A requested fundus crop in words, one wording for the ingest summary, the report and
    the model card: ``done`` when it was applied to every image; else ``crop to the fundus
    disc (requested; not applied to 30 of 30 images: no dark surround around the disc)``,
    each reason's count after it when there are two. ``not_applied``: images left uncropped
    per reason (:data:`CROP_NOT_APPLIED`'s words; counts of 0 are ignored); ``total``: the
    images ingested (0: unknown, said ``?``)."""
    skipped = {str(why): n for why, n in not_applied.items() if isinstance(n, int) and n > 0}
    if not skipped:
        return done
    reasons = (", ".join(f"{why} ({n})" for why, n in skipped.items()) if len(skipped) > 1
               else next(iter(skipped)))
    return (f"crop to the fundus disc (requested; not applied to {sum(skipped.values())} of "
            f"{total or '?'} images: {reasons})")


def more_of_a_kind(hidden: Sequence[Problem]) -> str:
    """``... and N more 'KIND' error(s) of this kind`` and the kind's summary, if any."""
    first = hidden[0]
    summary = next((p.summary for p in hidden if p.summary), "") or KIND_SUMMARIES.get(first.kind, "")
    return (f"... and {len(hidden)} more '{first.kind}' {first.severity}(s) of this kind"
            + (f": {summary}" if summary else ""))


SAME_FINDING_MIN = 3
"""Warnings or notes of one kind with the same words for at least this many files are printed
as one line naming the files (:func:`merge_same_findings`)."""


def _same_findings(problems: Sequence[Problem], at_least: int = SAME_FINDING_MIN
                   ) -> dict[tuple[str, str, str, str], list[Problem]]:
    """The findings :func:`merge_same_findings` merges, by (severity, kind, what, fix): at
    least ``at_least`` warnings or notes of one kind with the same words."""
    groups: dict[tuple[str, str, str, str], list[Problem]] = {}
    for problem in problems:
        if problem.severity != "error" and problem.kind:
            groups.setdefault((problem.severity, problem.kind, problem.what, problem.fix), []).append(problem)
    return {key: same for key, same in groups.items() if len(same) >= at_least}


MERGED_NAMES = 3
"""Files a merged line names (:func:`merge_same_findings`); the rest are counted."""


def _shared_folder(paths: Sequence[str]) -> str:
    """The folder ``paths`` (files of several folders) share, or ``''`` when none is (a mix of
    absolute and relative paths, other drives, only the file system's root)."""
    try:
        shared = os.path.commonpath([str(Path(p).parent) for p in paths])
    except ValueError:
        return ""
    return "" if not shared or shared == os.path.dirname(shared) else shared


def merge_same_findings(problems: Sequence[Problem], at_least: int = SAME_FINDING_MIN) -> list[Problem]:
    """``problems`` for printing, with the findings that say the same thing of many files
    merged: those of one severity (warnings and notes only: an error names its own row or
    file to fix), ``kind``, ``what`` and ``fix``, at least ``at_least`` of them, become one
    finding at the place of the first, ``PATH: N files (a.png, b.png, c.png and N-3 more): what
    -> fix`` (``PATH`` the folder they share; for files of several folders, the folder those
    share, the files named by their paths below it, ``1/.DS_Store, 2/.DS_Store``; else the
    first's path and the names). A folder of 35,000 colour
    photographs converted to grey gets one line, not ten and a count. The structured findings
    (``ingest_summary.json``) keep every file."""
    groups = _same_findings(problems, at_least)
    out: list[Problem] = []
    for problem in problems:
        same = groups.get((problem.severity, problem.kind, problem.what, problem.fix), [])
        if not same:  # errors and findings without a kind are never in groups
            out.append(problem)
            continue
        if problem is not same[0]:
            continue
        parents = {str(Path(p.path).parent) for p in same}
        shared = "" if len(parents) == 1 else _shared_folder([p.path for p in same])
        if shared:  # files of several folders: their paths below the folder they share
            where = shared
            names = [Path(os.path.relpath(p.path, shared)).as_posix() for p in same[:MERGED_NAMES]]
        else:  # one folder: its files' names
            where = parents.pop() if len(parents) == 1 else problem.path
            names = [Path(p.path).name for p in same[:MERGED_NAMES]]
        listed = ", ".join(names) + (f" and {len(same) - MERGED_NAMES} more"
                                     if len(same) > MERGED_NAMES else "")
        out.append(dataclasses.replace(problem, path=where,
                                       what=f"{len(same)} files ({listed}): {problem.what}"))
    return out


def _printed(problems: Sequence[Problem], per_kind: int | None) -> dict[str, list[Problem]]:
    """The findings of each severity as :func:`format_problems` lists them, before the cut:
    errors in line order; warnings and notes merged (:func:`merge_same_findings`) unless
    ``per_kind`` is None (the full list)."""
    out: dict[str, list[Problem]] = {}
    for severity in ("error", "warning", "note"):
        found = [p for p in problems if p.severity == severity]
        if severity == "error":
            found = in_line_order(found)
        out[severity] = merge_same_findings(found) if per_kind is not None else found
    return out


def left_out_of_print(problems: Sequence[Problem], per_kind: int | None = SHOWN_PER_KIND) -> bool:
    """Whether :func:`format_problems` (with the same ``per_kind``) leaves a finding out of its
    lines: a kind cut short (more than ``per_kind`` lines of it), or files merged into one
    line that names only some of them ('... and 27 more'). The one test by which the printed
    list says where every line is, and a failed ingest writes ``ingest_problems.txt``."""
    if per_kind is None:
        return False
    if any(cut_per_kind(found, per_kind)[1] for found in _printed(problems, per_kind).values()):
        return True
    return any(len(same) > MERGED_NAMES for same in _same_findings(problems).values())


LONG_FIX = 160
"""A fix longer than this many characters is printed once by :func:`format_problems`: a later
line with the same fix says ``as for line 5 above`` (ten rows of one word grade each repeated
700 characters of --grades advice)."""


def same_fix_words(first: str, path: str) -> str:
    """The fix of a line at ``path`` whose fix is the one already printed for ``first`` (paths
    as :attr:`Problem.path` writes them, ``labels.csv:5``): ``as for line 5 above`` within one
    file, ``as for x.png above`` for two files of one folder, else ``as for labels.csv:5 above``."""
    first_file, _, first_line = first.rpartition(":")
    file, _, _ = path.rpartition(":")
    if first_file and first_file == file and first_line.isdigit():
        return f"as for line {first_line} above"
    if os.path.dirname(first) == os.path.dirname(path) and ":" not in os.path.basename(first):
        return f"as for {os.path.basename(first)} above"
    return f"as for {first} above"


def format_problems(problems: Sequence[Problem], per_kind: int | None = SHOWN_PER_KIND,
                    full_list: str = "ingest_summary.json") -> str:
    """Problems grouped by severity, one ``PATH: what -> fix`` line each.

    Errors come first, those of one file in line order (``labels.csv:6`` before
    ``labels.csv:14``; files keep the order they were found in). Of every severity, at most
    ``per_kind`` lines of each ``kind`` are printed (:func:`cut_per_kind`; None: all), and
    right below them a line counting the rest, with the kind's summary and ``full_list``,
    where every line is (a 611-row label CSV beside 3 images, or a 35,000-image set with one
    repeated finding, stays readable). Warnings and notes that say the same of many files are
    one line first (:func:`merge_same_findings`); the count in each title is of the files'
    findings. When a merged line names only some of its files and no count line named
    ``full_list``, a last line does (:func:`left_out_of_print`): whatever the list leaves
    out, it says where every line is, once at least. A long fix (over :data:`LONG_FIX`
    characters) said again is ``as for line 5 above`` (:func:`same_fix_words`).
    """
    sections = (
        ("error", "errors (fatal)"),
        ("warning", "warnings (converted or not honoured; fatal with --strict)"),
        ("note", "notes"),
    )
    printed = _printed(problems, per_kind)
    out: list[str] = []
    named = False  # full_list said on a count line
    fixed_at: dict[str, str] = {}  # a long fix -> the path of the first line that gave it
    for severity, title in sections:
        if not printed[severity]:
            continue
        out.append(f"{title}: {sum(p.severity == severity for p in problems)}")
        for problem, rest in shown_with_rest(printed[severity], per_kind):
            first = fixed_at.setdefault(problem.fix, problem.path) if len(problem.fix) > LONG_FIX else None
            out.append(f"  {problem.line}" if first is None or first == problem.path else
                       f"  {problem.path}: {problem.what} -> {same_fix_words(first, problem.path)}")
            if rest:  # right below its kind's lines
                out.append(f"  {more_of_a_kind(rest)} (all listed in {full_list})")
                named = True
    if not named and left_out_of_print(problems, per_kind):
        out.append(f"  (each file of the merged lines above has its own line in {full_list})")
    return "\n".join(out)
