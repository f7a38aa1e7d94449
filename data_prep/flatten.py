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
A ``test/`` subfolder (unlabelled test images) is carried into ``FLAT/test/``, the plain
layout's test set. Skipped, each kind said on one line (a note for hidden/system files,
``Thumbs.db``, ``.DS_Store``; a warning for the rest) with a count and examples: other files
(``notes.txt``), broken links, images of a format the ingest does not read (``.webp``:
convert them), nested subfolders (``2/sub/``; their images are not taken), files directly in
``TREE`` (no grade) and subfolders with no image not named as a grade (``docs/``). Refused
(exit 2, nothing written): a missing ``TREE`` or a file, a subfolder of images not named as
a non-negative integer (named), numbered subfolders beyond a grade scale (more than 10, or
one above ``10/``: DeepDRiD's ``401/``, ``402/`` ..., said to look like per-patient folders, with
the command that copies their images into one folder: :func:`per_patient_folders`), no grade
folder, two names in one folder that differ only in
case or Unicode form, an ``--out`` that is a file, exists and is not empty, or lies inside
``TREE`` (``..`` and links resolved first). Symlinked images are copied or linked as the
file they point to.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from data_prep.layout import (
    COLUMNS,
    EXPORT_THE_COPY,
    GRADE_FOLDERS_WORDS,
    IMAGE_SUFFIXES,
    PLAIN_TEST_DIR,
    copy_into_one_folder,
    grade_folder_names,
    is_hidden,
    name_key,
    readable_path,
    same_name,
    valid_utf8_name,
)
from data_prep.problems import counted
from drac_ssl.config import GRADE_SCALES, hidden_characters, shipped_config_word, visible_text
from drac_ssl.grading.image_notes import CONVERT_FIX, unread_image_format
from drac_ssl.starting import (
    hold_signals_if_command,
    interrupt_exit_code,
    python_command,
    python_word,
)

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
    each as paths relative to the tree; ``linked`` counts the test images too."""

    out: Path
    labels_csv: Path
    images: list[tuple[str, int]]
    prefixed: bool
    clashes: list[str]
    grades: list[int]
    linked: int = 0
    skipped: dict[str, list[str]] = field(default_factory=dict)
    n_test: int = 0
    """Images of the tree's ``test/`` folder, carried into ``FLAT/test/`` (the plain layout's
    test set)."""
    colour: bool | None = None
    """The first graded image is colour (None: unread)."""
    asked_link: bool = False
    """``--link`` was asked (a copy instead is said)."""

    def per_grade(self) -> dict[int, int]:
        """Images per grade, every grade folder's (an empty one: 0), in grade order."""
        counts = dict.fromkeys(self.grades, 0)
        for _, grade in self.images:
            counts[grade] = counts.get(grade, 0) + 1
        return dict(sorted(counts.items()))


SKIPPED_WORDS = {  # kind: (noun, what happened and the fix)
    "hidden": ("hidden/system file", "skipped (the ingest ignores them too)"),
    "other": ("non-image file", "skipped (not an image: the ingest would refuse {it} in the "
                                "image folder)"),
    "broken": ("broken link", "skipped (the file it points to is missing) -> fix or remove "
                              "{it}, then flatten again (into a new or empty --out)"),
    "imageless": ("non-grade subfolder", "skipped, contents and all (no image in {it}, and not "
                                         "named as a grade)"),
    "unread": ("image of a format the ingest does not read",
               f"skipped -> {CONVERT_FIX}, then flatten again (into a new or empty --out)"),
    "nested": ("nested subfolder", "skipped, contents and all -> move the images up into their "
                                   "grade folder if they belong to the set, then flatten again "
                                   "(into a new or empty --out)"),
    "loose": ("file directly in the tree (no grade folder)",
              "skipped -> move {it} into {its} grade folder if {it} belong{s} to the set, then "
              "flatten again (into a new or empty --out)"),
}


def _is_grade_name(name: str) -> bool:
    return name.isascii() and name.isdigit()


def _has_images(folder: Path) -> bool:
    """Any file in ``folder`` (at any depth) named as an image the ingest reads or one it does
    not (a listing; unlistable: True, so it is not skipped silently)."""
    try:
        return any(p.suffix.lower() in IMAGE_SUFFIXES or unread_image_format(p.suffix)
                   for p in folder.rglob("*") if not is_hidden(p))
    except OSError:
        return True


def _words(kind: str, n: int) -> str:
    """The skipped-kind words of :data:`SKIPPED_WORDS`, singular or plural."""
    one = n == 1
    return SKIPPED_WORDS[kind][1].format(it="it" if one else "them", its="its" if one else "their",
                                         s="s" if one else "")


def _listing(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        raise FlattenError(f"{folder}: cannot list the folder ({exc.strerror or exc}) -> check "
                           "the path and its permissions") from None


def _rel(path: Path, tree: Path) -> str:
    return path.relative_to(tree).as_posix() + ("/" if path.is_dir() else "")


def plan(tree: Path) -> tuple[list[tuple[Path, int | None]], list[int], dict[str, list[str]]]:
    """The images of ``tree``'s grade folders, each with its grade (grade, then name order;
    then the images of its ``test/`` folder, if any, with grade None),
    the grades of the folders (sorted, once each) and the skipped entries per kind (relative
    to ``tree``). FlattenError for a tree that is
    no folder-per-grade tree (see the module docstring)."""
    if tree.is_file():
        raise FlattenError(f"{tree}: is a file, not a folder -> pass --root the folder holding "
                           "the grade folders (0/, 1/, ...)")
    if not tree.is_dir():
        raise FlattenError(f"{tree}: no such folder -> pass --root the folder holding the grade "
                           "folders (0/, 1/, ...)")
    skipped: dict[str, list[str]] = {kind: [] for kind in SKIPPED_WORDS}
    grade_dirs, bad, test_dirs = [], [], []
    for path in _listing(tree):
        if is_hidden(path):
            skipped["hidden"].append(_rel(path, tree))
        elif path.is_dir():
            if _is_grade_name(path.name):
                grade_dirs.append(path)
            elif same_name(path.name, PLAIN_TEST_DIR):
                test_dirs.append(path)
            elif not _has_images(path):
                skipped["imageless"].append(_rel(path, tree))
            else:
                bad.append(path)
        elif path.is_symlink() and not path.exists():
            skipped["broken"].append(_rel(path, tree))
        else:
            skipped["loose"].append(_rel(path, tree))
    if bad:
        # a name that is no UTF-8 as its bytes ('M\xfcller'/), never a lone surrogate nobody can type
        names = ", ".join((visible_text(p.name) if valid_utf8_name(p.name) else f"'{readable_path(p.name)}'") + "/"
                          for p in bad)
        hidden = hidden_characters("".join(p.name for p in bad))
        held = (f" (escaped as Python writes them: the names hold {' and '.join(hidden)})" if hidden else "")
        raise FlattenError(
            f"{tree}: {counted(len(bad), 'subfolder')} of images not named as a grade (a "
            f"non-negative integer: 0/, 1/, ...): {names}{held} -> rename each to its grade"
            f"{(' without ' + ('that character' if len(hidden) == 1 else 'those characters')) if hidden else ''}, or move "
            f"it out of {tree.name}/ (a test/ folder of unlabelled images is carried into the "
            "flattened folder as test/)")
    if not grade_dirs:
        raise FlattenError(f"{tree}: no grade folder (0/, 1/, ...) in it -> pass --root the "
                           "folder holding the grade folders")
    if not grade_folder_names(p.name for p in grade_dirs):
        raise FlattenError(per_patient_folders(tree, grade_dirs))
    images: list[tuple[Path, int | None]] = []
    folders: list[tuple[Path, int | None]] = [
        (folder, int(folder.name)) for folder in sorted(grade_dirs, key=lambda p: (int(p.name), p.name))]
    for folder, grade in folders + [(test, None) for test in test_dirs]:
        keys: dict[str, Path] = {}
        for path in _listing(folder):
            if is_hidden(path):
                skipped["hidden"].append(_rel(path, tree))
            elif path.is_dir():
                skipped["nested"].append(_rel(path, tree))
            elif path.is_symlink() and not path.exists():
                skipped["broken"].append(_rel(path, tree))
            elif path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                if (same := keys.get(name_key(path.name))) is not None:
                    raise FlattenError(
                        f"{folder}: {same.name} and {path.name} differ only in letter case or "
                        "Unicode form, one name to the ingest -> keep one file per image")
                keys[name_key(path.name)] = path
                images.append((path, grade))
            elif unread_image_format(path.suffix):
                skipped["unread"].append(_rel(path, tree))
            else:
                skipped["other"].append(_rel(path, tree))
    grades = sorted({int(p.name) for p in grade_dirs})
    return images, grades, {kind: found for kind, found in skipped.items() if found}


def per_patient_folders(tree: Path, numbered: list[Path]) -> str:
    """The refusal of numbered subfolders that are no grade scale
    (:func:`data_prep.layout.grade_folder_names`, the rule of the ingest's advice: more than
    :data:`~data_prep.layout.GRADE_FOLDERS_MAX` folders, or one numbered above it; DeepDRiD's
    evaluation ``Images/401/``, ``402/`` ...): they look like per-patient folders, and the fix is
    the command that copies their images into one folder keeping their names
    (:func:`data_prep.layout.copy_into_one_folder`), then the root to ingest with their label
    CSV, or, for unlabelled test images, the export that grades the copy."""
    root = Path(os.path.abspath(tree))
    names = sorted((p.name for p in numbered), key=lambda n: (int(n), n))
    shown = [f"{n}/" for n in names[:EXAMPLES]]
    listed = (", ".join(shown) + f" and {len(names) - EXAMPLES} more" if len(names) > EXAMPLES
              else ", ".join(shown[:-1]) + f" and {shown[-1]}" if len(shown) > 1 else shown[0])
    command, flat, clashes = copy_into_one_folder(root, [(p, 0) for p in numbered])
    return (f"{tree}: {counted(len(names), 'numbered subfolder')} ({listed}) beyond a grade scale "
            f"({GRADE_FOLDERS_WORDS}) look like per-patient folders, not grades -> copy their images "
            f"into one folder, keeping their names{clashes}:\n  {command}\nthen pass --root "
            f"{shlex.quote(str(flat))} to {python_command('data_prep')} ingest with their label CSV "
            f"(--labels-csv FILE); {EXPORT_THE_COPY.format(flat=shlex.quote(str(flat)), python=python_word())}")


def _place(source: Path, target: Path, link: bool) -> bool:
    """Copy ``source`` to ``target`` (or hard-link it with ``link``; copied where the link
    fails: another file system, no link support). A symlink is followed (its file is linked or
    copied, never the link: a relative one would dangle in ``target``'s folder). True when
    linked."""
    if link:
        try:
            os.link(source.resolve(), target)
            return True
        except OSError:
            pass
    shutil.copy2(source, target)
    return False


def is_colour(path: Path) -> bool | None:
    """Whether the image at ``path`` is colour (3 or 4 channels that are not all equal:
    :attr:`data_prep.decode.Decoded.colour`); None when it cannot be read. One image is
    decoded, by the ingest's decoder (:func:`data_prep.decode.decode`): a damaged file gives
    None without OpenCV's libpng printing its own error on stderr."""
    from data_prep.decode import decode  # here: flatten --help decodes nothing

    try:
        data = path.read_bytes()
    except OSError:
        return None
    decoded = decode(data, str(path))
    return None if decoded.pixels is None else decoded.colour


def _absolute(path: Path) -> Path:
    """``path`` absolute with ``..`` and ``.`` taken out by spelling (links kept)."""
    return Path(os.path.abspath(path))


def _inside(out: Path, tree: Path) -> bool:
    """``out`` is ``tree`` or inside it, by spelling or through links (resolved)."""
    for o, t in ((out, tree), (out.resolve(), tree.resolve())):
        if o == t or t in o.parents:
            return True
    return False


def default_out(tree: Path) -> Path:
    """Flatten's output folder when none is given: ``TREE_flat`` beside ``tree`` (an absolute
    path for an absolute ``tree``)."""
    return tree.with_name(f"{tree.name}_flat")


def flatten(tree: Path, out: Path | None = None, link: bool = False) -> Flattened:
    """Flatten ``tree`` (see the module docstring) into ``out`` (default ``TREE_flat`` beside
    it). FlattenError, with nothing written, for a tree or output that cannot be used; an
    OSError while copying leaves ``out`` partly written (the message says to remove it)."""
    tree = _absolute(tree)
    out = _absolute(out) if out is not None else default_out(tree)
    images, grades, skipped = plan(tree)
    if _inside(out, tree):
        raise FlattenError(f"{out}: the output is inside the tree {tree} -> pass --out a folder "
                           f"outside it (default: {tree.name}_flat beside it)")
    from drac_ssl.out_paths import folder_in_use_problem, folder_under_file_problem  # stdlib only

    # a file, or under one (good.csv/flat: a NotADirectoryError traceback before, a CLI review);
    # a folder holding anything: never mixed with (or written over by) the flattened images
    example = str(default_out(tree))
    if problem := (folder_under_file_problem(out, "--out", example)
                   or folder_in_use_problem(out, "--out", example, "the images and labels.csv")):
        raise FlattenError(problem)
    graded = [(path, grade) for path, grade in images if grade is not None]
    tests = [path for path, grade in images if grade is None]
    owners: dict[str, set[int]] = {}
    firsts: dict[str, str] = {}
    for path, grade in graded:
        owners.setdefault(name_key(path.name), set()).add(grade)
        firsts.setdefault(name_key(path.name), path.name)  # the first spelling names a clash
    clashes = sorted(firsts[key] for key, grades in owners.items() if len(grades) > 1)
    prefixed = bool(clashes)
    colour = is_colour(graded[0][0]) if graded else None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only parent (the default TREE_flat beside a read-only tree)
        raise FlattenError(f"cannot make {out} ({exc.strerror or exc}"
                           f"{f': {exc.filename}' if exc.filename and str(exc.filename) != str(out) else ''}) "
                           f"-> pass --out a writable folder (new or empty), e.g. --out "
                           f"~/{tree.name}_flat") from None
    rows: list[tuple[str, int]] = []
    linked = 0
    try:
        for path, grade in graded:
            name = f"{path.parent.name}_{path.name}" if prefixed else path.name
            linked += _place(path, out / name, link)
            rows.append((name, grade))
        if tests:
            (out / PLAIN_TEST_DIR).mkdir()
        for path in tests:
            linked += _place(path, out / PLAIN_TEST_DIR / path.name, link)
        labels_csv = out / LABELS_NAME
        with open(labels_csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(COLUMNS["plain"])
            writer.writerows(rows)
    except OSError as exc:
        raise FlattenError(f"{out}: writing failed ({exc.strerror or exc}) -> free the space or "
                           f"fix the permissions, remove {out} and flatten again") from None
    return Flattened(out, labels_csv, rows, prefixed, clashes, grades, linked, skipped,
                     len(tests), colour, link)


def _examples(items: list[str]) -> str:
    more = f" and {len(items) - EXAMPLES} more" if len(items) > EXAMPLES else ""
    return ", ".join(items[:EXAMPLES]) + more


def grade_names_placeholder(high: int) -> str:
    """``NAME0, NAME1, NAME2`` for grades 0..``high`` (cut to ``NAME0, NAME1, ..., NAMEK``
    past 8 grades), the form the ingest's own fixes give ``--grades`` in quotes."""
    if high + 1 <= 8:
        return ", ".join(f"NAME{g}" for g in range(high + 1))
    return f"NAME0, NAME1, ..., NAME{high}"


def next_options(grades: list[int], root: Path, colour: bool | None = None) -> tuple[str, str, str]:
    """What to pass next, as both commands take it and run as printed: the ingest's flags, the
    ``python -m drac_ssl.train`` arguments, and a note for a line of its own (``''`` if none).
    ``grades``: the integer-named grade folders, empty ones too (one function for
    :func:`report` and the ingest's hint, so both give the same advice). The root, and the
    scale where the default (DRAC's 3 grades, 0..2) is not it: ``icdr`` for folders exactly
    0..4; for folders up to a grade K-1 > 2 otherwise, ``--grades "NAME0, ..."`` to fill in
    (the note says so), and for folders 1..K with no ``0/`` a note that they look 1-based.
    ``colour`` (the images are colour photographs): the fundus options (``--modality fundus
    --channels 3``; ``-c fundus``, the shipped fundus config as ``-c`` takes it here
    (:func:`drac_ssl.config.shipped_config_word`), with the scale said, as that recipe's is
    ICDR)."""
    import shlex

    where = shlex.quote(str(root))
    high = max(grades, default=0)
    scale, notes = "", []
    if grades == list(range(len(GRADE_SCALES["icdr"]))):
        scale = "icdr"
    elif high >= len(GRADE_SCALES["drac"]):
        scale = f'"{grade_names_placeholder(high)}"'
        notes.append(f"replace NAME0 .. NAME{high} with the names of grades 0..{high} in order, "
                     "one per grade, as the default scale has 3 grades")
    if grades and min(grades) == 1 and grades == list(range(1, high + 1)):
        notes.append(f"the folders look 1-based (1/..{high}/, no 0/): each image takes its "
                     f"folder's number as its grade -> if 1/ is the lowest grade, rename the "
                     f"folders to 0/..{high - 1}/ and flatten again (into a new or empty --out)")
    flags, settings = f"--root {where}", f"data.root={where}"
    if scale:
        flags += f" --grades {scale}"
    if colour:
        settings = f"-c {shipped_config_word('fundus.yaml') or 'configs/fundus.yaml'} {settings}"
        scale = scale or "drac"  # configs/fundus.yaml's own scale is icdr
    if scale:
        settings += (" " + shlex.quote(f"data.grades=[{scale.strip(chr(34))}]")
                     if scale.startswith('"') else f" data.grades={scale}")
    if colour:
        flags += " --modality fundus --channels 3"
    return flags, settings, "; ".join(notes)


def report(done: Flattened, tree: Path, prog: str, say: Callable[[str], None] = print,
           warn: Callable[[str], None] | None = None) -> None:
    """The summary of :func:`flatten`: a warning line per kind of skipped entry, then the
    images per grade, the output, the naming and the next command (runnable as printed; a
    note on its own line)."""
    warn = warn or (lambda line: print(line, file=sys.stderr))
    for kind, items in done.skipped.items():
        noun, _ = SKIPPED_WORDS[kind]
        level = "note" if kind == "hidden" else "warning"
        warn(f"{level}: {counted(len(items), noun)} {_words(kind, len(items))}: "
             f"{_examples(items)}")
    per_grade = done.per_grade()
    n = len(done.images) + done.n_test
    how = ("hard-linked" if done.linked == n else
           f"hard-linked {done.linked}, copied {n - done.linked}" if done.linked
           else "copied")
    if done.linked < n and done.asked_link:
        how += " (--link: another file system)"
    say(f"{counted(len(done.images), 'image')} of {tree} {how} into {done.out}, labels in "
        f"{done.labels_csv.name} ({', '.join(COLUMNS['plain'])})")
    say("  " + ", ".join(f"grade {g}: {n}" for g, n in per_grade.items()))
    if done.n_test:
        say(f"  {counted(done.n_test, 'image')} of {PLAIN_TEST_DIR}/ into "
            f"{done.out / PLAIN_TEST_DIR} (the test set, unlabelled)")
    if done.prefixed:
        say(f"  names prefixed with their grade folder (0_NAME, 1_NAME ...): "
            f"{counted(len(done.clashes), 'name')} in more than one grade folder "
            f"({_examples(done.clashes)})")
    flags, settings, note = next_options(list(per_grade), done.out, done.colour)
    say(f"next: {prog} ingest {flags} --out RUN/data")
    say(f"  or: {python_command('drac_ssl.train')} {settings}")
    if note:
        say(f"  {note}")


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
    prog = getattr(args, "prog", None) or python_command("data_prep")
    try:
        done = flatten(args.root, args.out, args.link)
    except FlattenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hold_signals_if_command()  # a second SIGTERM cannot cut the line nor kill by signal
        out = args.out if args.out is not None else default_out(_absolute(args.root))
        print(f"interrupted: the output folder {out} is incomplete; remove it and flatten again",
              file=sys.stderr)
        return interrupt_exit_code()  # 130 Ctrl-C, 143 SIGTERM (python -m data_prep)
    report(done, args.root.absolute(), prog)
    return 0
