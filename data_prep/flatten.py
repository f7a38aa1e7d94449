"""``python -m data_prep flatten --root TREE [--out FLAT] [--link]``: a folder-per-grade tree
made into the plain layout (one folder of images and its label CSV).

``TREE/0/*.png``, ``TREE/1/*.png`` ... (each subfolder named by a grade, a non-negative
integer; no label CSV, as many Kaggle downloads come) becomes ``FLAT/`` (default
``TREE_flat`` beside ``TREE``) holding every image of the grade folders and ``labels.csv``
with the plain layout's default columns (``image name``, ``DR grade``), written with the
``csv`` module (a name with a comma or a quote is quoted). The images are copied, or
hard-linked with ``--link`` (copied where a link cannot be made, e.g. across file systems);
``TREE`` is never changed.

Names: kept as they are, unless a name (compared as the ingest compares them, without letter
case and Unicode form: :func:`data_prep.layout.name_key`) is in two or more grade folders
(``0/0.png`` and ``1/0.png``); then every file is named ``<grade folder>_<name>``
(``0_0.png``, ``1_0.png``): all names or none, so a name never depends on which other names
clash.

What is taken is what the ingest reads as an image (:data:`data_prep.layout.IMAGE_SUFFIXES`,
not hidden or system files: :func:`data_prep.layout.is_hidden`), directly in a grade folder.
Skipped, each kind said on one line (a note for hidden/system files, ``Thumbs.db``,
``.DS_Store``; a warning for the rest) with a count and examples: other files (``notes.txt``), images of a format the ingest
does not read (``.webp``: convert them), nested subfolders (``2/sub/``; their images are not
taken) and files directly in ``TREE`` (no grade). Refused (exit 2, nothing written): a
missing ``TREE``, a subfolder not named as a non-negative integer (named), no grade folder,
two names in one folder that differ only in case or Unicode form, an ``--out`` that exists
and is not empty or lies inside ``TREE``.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from data_prep.layout import COLUMNS, IMAGE_SUFFIXES, is_hidden, name_key
from data_prep.problems import as_config_keys, counted
from drac_ssl.config import GRADE_SCALES
from drac_ssl.grading.image_notes import CONVERT_FIX, unread_image_format

LABELS_NAME = "labels.csv"
EXAMPLES = 3
"""Examples named on a skipped-files line."""


class FlattenError(ValueError):
    """A tree that cannot be flattened as asked; the message says why and the fix."""


@dataclass
class Flattened:
    """What :func:`flatten` did: the output folder, ``(name in FLAT, grade)`` per image in
    grade then name order, whether names were prefixed, how many were hard-linked, and the
    skipped entries per kind (``hidden``, ``other``, ``unread``, ``nested``, ``loose``),
    each as paths relative to the tree."""

    out: Path
    labels_csv: Path
    images: list[tuple[str, int]]
    prefixed: bool
    clashes: list[str]
    grades: list[int]
    linked: int = 0
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def per_grade(self) -> dict[int, int]:
        """Images per grade, every grade folder's (an empty one: 0), in grade order."""
        counts = dict.fromkeys(self.grades, 0)
        for _, grade in self.images:
            counts[grade] = counts.get(grade, 0) + 1
        return dict(sorted(counts.items()))


SKIPPED_WORDS = {  # kind: (noun, what happened and the fix)
    "hidden": ("hidden/system file", "skipped (the ingest ignores them too)"),
    "other": ("non-image file", "skipped (not an image: the ingest would refuse it in the "
                                "image folder)"),
    "unread": ("image of a format the ingest does not read",
               f"skipped -> {CONVERT_FIX}, then flatten again (into a new or empty --out)"),
    "nested": ("nested subfolder", "skipped, contents and all -> move the images up into their "
                                   "grade folder if they belong to the set, then flatten again "
                                   "(into a new or empty --out)"),
    "loose": ("file directly in the tree (no grade folder)",
              "skipped -> move it into its grade folder if it belongs to the set"),
}


def _is_grade_name(name: str) -> bool:
    return name.isascii() and name.isdigit()


def _listing(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        raise FlattenError(f"{folder}: cannot list the folder ({exc.strerror or exc}) -> check "
                           "the path and its permissions") from None


def _rel(path: Path, tree: Path) -> str:
    return path.relative_to(tree).as_posix() + ("/" if path.is_dir() else "")


def plan(tree: Path) -> tuple[list[tuple[Path, int]], list[int], dict[str, list[str]]]:
    """The images of ``tree``'s grade folders, each with its grade (grade, then name order),
    the grades of the folders (sorted, once each) and the skipped entries per kind (relative
    to ``tree``). FlattenError for a tree that is
    no folder-per-grade tree (see the module docstring)."""
    if not tree.is_dir():
        raise FlattenError(f"{tree}: no such folder -> pass --root the folder holding the grade "
                           "folders (0/, 1/, ...)")
    skipped: dict[str, list[str]] = {kind: [] for kind in SKIPPED_WORDS}
    grade_dirs, bad = [], []
    for path in _listing(tree):
        if is_hidden(path):
            skipped["hidden"].append(_rel(path, tree))
        elif path.is_dir():
            (grade_dirs if _is_grade_name(path.name) else bad).append(path)
        else:
            skipped["loose"].append(_rel(path, tree))
    if bad:
        names = ", ".join(f"{p.name}/" for p in bad)
        raise FlattenError(
            f"{tree}: {counted(len(bad), 'subfolder')} not named as a grade (a non-negative "
            f"integer: 0/, 1/, ...): {names} -> rename each to its grade, or move it out of "
            f"{tree.name}/ (a test/ folder of unlabelled images goes into the flattened folder "
            "as test/ afterwards)")
    if not grade_dirs:
        raise FlattenError(f"{tree}: no grade folder (0/, 1/, ...) in it -> pass --root the "
                           "folder holding the grade folders")
    images: list[tuple[Path, int]] = []
    for folder in sorted(grade_dirs, key=lambda p: (int(p.name), p.name)):
        keys: dict[str, Path] = {}
        for path in _listing(folder):
            if is_hidden(path):
                skipped["hidden"].append(_rel(path, tree))
            elif path.is_dir():
                skipped["nested"].append(_rel(path, tree))
            elif path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                if (same := keys.get(name_key(path.name))) is not None:
                    raise FlattenError(
                        f"{folder}: {same.name} and {path.name} differ only in letter case or "
                        "Unicode form, one name to the ingest -> keep one file per image")
                keys[name_key(path.name)] = path
                images.append((path, int(folder.name)))
            elif unread_image_format(path.suffix):
                skipped["unread"].append(_rel(path, tree))
            else:
                skipped["other"].append(_rel(path, tree))
    grades = sorted({int(p.name) for p in grade_dirs})
    return images, grades, {kind: found for kind, found in skipped.items() if found}


def _place(source: Path, target: Path, link: bool) -> bool:
    """Copy ``source`` to ``target`` (or hard-link it with ``link``; copied where the link
    fails: another file system, no link support). True when linked."""
    if link:
        try:
            os.link(source, target)
            return True
        except OSError:
            pass
    shutil.copy2(source, target)
    return False


def flatten(tree: Path, out: Path | None = None, link: bool = False) -> Flattened:
    """Flatten ``tree`` (see the module docstring) into ``out`` (default ``TREE_flat`` beside
    it). FlattenError, with nothing written, for a tree or output that cannot be used; an
    OSError while copying leaves ``out`` partly written (the message says to remove it)."""
    tree = tree.absolute()
    out = (out if out is not None else tree.with_name(f"{tree.name}_flat")).absolute()
    images, grades, skipped = plan(tree)
    if out == tree or tree in out.parents:
        raise FlattenError(f"{out}: the output is inside the tree {tree} -> pass --out a folder "
                           f"outside it (default: {tree.name}_flat beside it)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FlattenError(f"{out}: exists and is not empty -> remove it, or pass --out a new "
                           "folder")
    owners: dict[str, set[int]] = {}
    for path, grade in images:
        owners.setdefault(name_key(path.name), set()).add(grade)
    firsts = {name_key(p.name): p.name for p, _ in images}
    clashes = sorted(firsts[key] for key, grades in owners.items() if len(grades) > 1)
    prefixed = bool(clashes)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, int]] = []
    linked = 0
    try:
        for path, grade in images:
            name = f"{path.parent.name}_{path.name}" if prefixed else path.name
            linked += _place(path, out / name, link)
            rows.append((name, grade))
        labels_csv = out / LABELS_NAME
        with open(labels_csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(COLUMNS["plain"])
            writer.writerows(rows)
    except OSError as exc:
        raise FlattenError(f"{out}: writing failed ({exc.strerror or exc}) -> free the space or "
                           f"fix the permissions, remove {out} and flatten again") from None
    return Flattened(out, labels_csv, rows, prefixed, clashes, grades, linked, skipped)


def _examples(items: list[str]) -> str:
    more = f" and {len(items) - EXAMPLES} more" if len(items) > EXAMPLES else ""
    return ", ".join(items[:EXAMPLES]) + more


def next_options(grades: list[int], root: Path) -> tuple[str, str, str]:
    """What to pass next: the ingest's flags, ``python -m drac_ssl.train``'s settings, and a
    note. The root, and the grade scale where the default (DRAC's 3 grades, 0..2) is not it:
    ``icdr`` for grade folders exactly 0..4; for folders up to a grade K-1 > 2 otherwise, the
    note: name the K grades (``--grades`` / ``data.grades`` with one name per grade)."""
    import shlex

    where = shlex.quote(str(root))
    flags, settings, name_them = f"--root {where}", f"data.root={where}", ""
    if grades == list(range(len(GRADE_SCALES["icdr"]))):
        flags, settings = f"{flags} --grades icdr", f"{settings} data.grades=icdr"
    elif grades and max(grades) >= len(GRADE_SCALES["drac"]):
        name_them = (f" with --grades naming grades 0..{max(grades)} in order (one name "
                     "each, comma-separated), as the default scale has 3 grades")
    return flags, settings, name_them


def report(done: Flattened, tree: Path, prog: str, say: Callable[[str], None] = print,
           warn: Callable[[str], None] | None = None) -> None:
    """The summary of :func:`flatten`: a warning line per kind of skipped entry, then the
    images per grade, the output, the naming and the next command."""
    warn = warn or (lambda line: print(line, file=sys.stderr))
    for kind, items in done.skipped.items():
        noun, words = SKIPPED_WORDS[kind]
        level = "note" if kind == "hidden" else "warning"
        warn(f"{level}: {counted(len(items), noun)} {words}: {_examples(items)}")
    per_grade = done.per_grade()
    how = ("hard-linked" if done.linked == len(done.images) else
           f"hard-linked {done.linked}, copied {len(done.images) - done.linked}" if done.linked
           else "copied")
    say(f"{counted(len(done.images), 'image')} of {tree} {how} into {done.out}, labels in "
        f"{done.labels_csv.name} ({', '.join(COLUMNS['plain'])})")
    say("  " + ", ".join(f"grade {g}: {n}" for g, n in per_grade.items()))
    if done.prefixed:
        say(f"  names prefixed with their grade folder (0_NAME, 1_NAME ...): "
            f"{counted(len(done.clashes), 'name')} in more than one grade folder "
            f"({_examples(done.clashes)})")
    flags, settings, name_them = next_options(list(per_grade), done.out)
    say(f"next: {prog} ingest {flags} --out RUN/data{name_them}")
    say(f"  or: python -m drac_ssl.train {settings}{as_config_keys(name_them)}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``flatten`` sub-command's options to ``parser``."""
    parser.add_argument("--root", type=Path, required=True, metavar="TREE",
                        help="the folder holding one subfolder of images per grade (0/, 1/ ...)")
    parser.add_argument("--out", type=Path, default=None, metavar="FLAT",
                        help="the folder to write (new or empty; default: TREE_flat beside TREE)")
    parser.add_argument("--link", action="store_true",
                        help="hard-link the images instead of copying them (copied where a "
                             "link cannot be made, e.g. another file system)")
    parser.set_defaults(func=cli)


def cli(args: argparse.Namespace) -> int:
    """Run :func:`flatten` from parsed arguments: 0 done, 2 refused (the error and its fix on
    stderr, no traceback), 130 interrupted."""
    prog = getattr(args, "prog", "python -m data_prep")
    try:
        done = flatten(args.root, args.out, args.link)
    except FlattenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the output folder is incomplete; remove it and flatten again",
              file=sys.stderr)
        return 130
    report(done, args.root.absolute(), prog)
    return 0
