"""Output paths a user names on the command line, checked before anything is written.

A careless-user review (F1, data lost) found that ``python -m drac_ssl.export RUN --images DIR
--out FILE`` replaced whatever ``FILE`` was: an image of the folder it graded (``--out
data/new3/eye_001.jpg``: a JPEG became CSV text, exit 0), the run's label CSV, the run's own
``data/manifest.csv``; and that ``python -m data_prep ingest --root D --out D`` wrote its
manifest, cache and summary into the image folder (the next ingest stopped on "2 CSV files").
The rules here refuse such a path up front, with what it is and the fix ("choose another
path"), so that nothing of the user's is lost:

* :func:`export_out_problem`: the export's ``--out`` must end in ``.csv``; an existing file is
  replaced only when the export wrote it (:func:`written_by_export`: a submission's header,
  ``case,class,P0..P{K-1}``, or another format of :data:`EXPORT_HEADERS`), and so is each file
  the export writes beside it (``_notes.csv``, ``_referable.csv``, ``.skipped.json``); it may
  not lie in the ``--images`` folder, in a stage folder of the run (``data/``, ``finetune/``,
  ``bundle/`` ...: :data:`STAGE_FOLDERS`), nor be the run's label CSV or lie in one of its
  image folders (read from ``RUN/data/ingest_summary.json``).
* :func:`folder_out_problem`: an output *folder* (the ingest's ``--out``, a demo bundle's)
  may not be, or lie inside, the input folder it is made from.
* :func:`folder_under_file_problem`: an output folder (``--out``, ``RUN_DIR``, ``--run-dir``)
  that is a file or lies under one (``--out good.csv/ph``: a NotADirectoryError traceback).
* :func:`folder_in_use_problem`: an existing output folder is written into only when it is
  empty or holds an earlier output of the same command (flatten's ``--out``, the ingest's).
* :func:`replace_problem`: the general rule for an existing file a command would replace
  (compare's ``--csv``/``--md``, score's ``--json``): refused unless ``recognised`` says the
  command wrote it.

Its import is stdlib only (the export's argument checks run before torch is imported).
Checking an existing file's header loads what recognises it, once: a submission's
:mod:`drac_ssl.scale` (with :mod:`drac_ssl.config` and yaml), Kaggle's and the other
formats' :mod:`drac_ssl.kaggle` / :mod:`drac_ssl.submission` (numpy); never torch.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from drac_ssl.grading.image_notes import IMAGE_SUFFIXES

__all__ = ["EXPORT_HEADERS", "STAGE_FOLDERS", "export_out_problem", "first_fields", "folder_in_use_problem",
           "folder_out_problem", "folder_under_file_problem", "replace_problem", "written_by_export"]

STAGE_FOLDERS = ("data", "pretrain", "umm", "finetune", "bundle", "bundles", "export", "report", "bench")
"""The folders of a run folder its stages write and read (drac_ssl.run_files.RUN_FILES names
them; ``tests/drac_ssl/test_output_paths.py`` checks the two agree). A user's file written
there could replace one of the run's own, or be taken for one."""

HEAD_BYTES = 65536
"""How much of a file :func:`first_fields` reads to find its first line."""


def first_fields(path: str | os.PathLike[str]) -> list[str] | None:
    """The fields of the first line of the text file ``path`` as CSV (a UTF-8 BOM dropped,
    each field stripped), or None when it is no UTF-8 text (an image, a binary file), cannot be
    read, or is empty."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return None
    if not head or b"\0" in head:
        return None
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        return [f.strip() for f in next(csv.reader([text]), [])]
    except csv.Error:
        return None


def _submission_header(fields: Sequence[str]) -> bool:
    """``case,class,P0..P{K-1}`` with K >= 2: :func:`drac_ssl.submission.write_submission`'s
    header, :func:`drac_ssl.scale.submission_columns` (the one definition it writes)."""
    from drac_ssl.scale import submission_columns  # noqa: PLC0415 - yaml, only when a file exists

    k = len(fields) - 2
    return k >= 2 and tuple(fields) == submission_columns(k)


def _kaggle_header(fields: Sequence[str]) -> bool:
    """Kaggle's ``id_code,diagnosis`` (``export --format kaggle``, :func:`drac_ssl.kaggle.write_kaggle`)."""
    from drac_ssl.kaggle import is_kaggle_header  # noqa: PLC0415 - numpy, only when a file exists

    return is_kaggle_header(fields)


EXPORT_HEADERS: list[Callable[[Sequence[str]], bool]] = [_submission_header, _kaggle_header]
"""Whether a first line is the header of a CSV ``python -m drac_ssl.export --out`` writes, one
rule per format it writes (:data:`drac_ssl.kaggle.FORMATS`: DRAC's, Kaggle's; a format added to
the export adds its rule here), each reading the header from the module that writes it: an
existing ``--out`` passing one is an earlier export's and may be replaced."""


def written_by_export(path: str | os.PathLike[str]) -> bool:
    """Whether the existing file ``path`` is a CSV the export writes (:data:`EXPORT_HEADERS`)."""
    fields = first_fields(path)
    return fields is not None and any(rule(fields) for rule in EXPORT_HEADERS)


def _notes_header(fields: Sequence[str]) -> bool:
    from drac_ssl.submission import IMAGE_NOTES_HEADERS  # noqa: PLC0415 - numpy, only when one exists

    return tuple(f.lower() for f in fields) in IMAGE_NOTES_HEADERS


def _referable_header(fields: Sequence[str]) -> bool:
    """:func:`drac_ssl.submission.write_referable`'s header: its
    :data:`~drac_ssl.submission.REFERABLE_COLUMNS`, then at most one more (its
    ``not_informative`` column)."""
    from drac_ssl.submission import REFERABLE_COLUMNS  # noqa: PLC0415 - numpy, only when one exists

    n = len(REFERABLE_COLUMNS)
    return tuple(fields[:n]) == REFERABLE_COLUMNS and len(fields) <= n + 1


def _skipped_record(path: Path) -> bool:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and "submission" in record and "skipped" in record


def _provenance_record(path: Path) -> bool:
    """Whether ``path`` holds the export's grading provenance
    (:func:`drac_ssl.submission.grading_provenance_record`): a JSON file of the user's own of
    that name is not one, and is not replaced."""
    from drac_ssl.submission import grading_provenance_record  # noqa: PLC0415 - numpy, only when one exists

    return grading_provenance_record(path) is not None


def _beside(out: Path) -> list[tuple[Path, str, Callable[[Path], bool]]]:
    """The files the export writes beside ``out`` (its notes, referable, grading provenance and
    skipped-files record), each with its words and the rule recognising an earlier export's."""
    stem = out.stem
    record = (out.with_suffix(".skipped.json") if out.suffix.lower() == ".csv"
              else out.with_name(out.name + ".skipped.json"))
    return [(out.with_name(f"{stem}_notes.csv"), "the per-image notes file",
             lambda p: _notes_header(first_fields(p) or [])),
            (out.with_name(f"{stem}_referable.csv"), "the referable-DR file",
             lambda p: _referable_header(first_fields(p) or [])),
            (out.with_name(f"{stem}_provenance.json"), "the grading provenance (which model graded)",
             _provenance_record),
            (record, "the skipped-files record", _skipped_record)]


def _resolved(path: str | os.PathLike[str]) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(Path(path).expanduser()))


def _inside(path: Path, folder: Path) -> bool:
    return _resolved(path).is_relative_to(_resolved(folder))


def _kind_words(path: Path) -> str:
    """What the existing file ``path`` seems to be, in words, for the refusal."""
    if path.suffix.lower() in IMAGE_SUFFIXES or path.suffix.lower() in (".webp", ".gif", ".dcm"):
        return f"an image file ({path.suffix})"
    fields = first_fields(path)
    if fields is None:
        return "a file that is no CSV text"
    shown = ",".join(fields)
    return f"a file whose first line is {shown[:80]!r}" + ("..." if len(shown) > 80 else "")


def replace_problem(path: str | os.PathLike[str], flag: str, recognised: Callable[[Path], bool],
                    written_by: str, example: str) -> str | None:
    """Why the existing file ``path`` (given with ``flag``) must not be replaced, with the
    fix; None when it does not exist, is empty, or ``recognised`` says ``written_by`` (the
    command, in words) wrote it earlier."""
    p = Path(path)
    if not p.is_file() or _size(p) == 0 or recognised(p):
        return None
    return (f"{p}: {flag} names an existing file that {written_by} did not write ({_kind_words(p)}); "
            f"writing would replace it and its contents would be lost.\n  fix: choose another path, "
            f"e.g. {flag} {_free_name(p.with_name(example))}; or move that file away first if it "
            f"is really to be replaced")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _free_name(path: Path) -> Path:
    """``path``, or ``NAME-2.csv``, ``NAME-3.csv`` ... the first that does not exist."""
    n = 2
    candidate = path
    while candidate.exists() and n < 1000:
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def _above(folder: Path, name: str) -> Path:
    """``name`` in the folder above ``folder``, spelled as ``folder`` is (``data/new3`` ->
    ``data/NAME``, ``.`` -> ``../NAME``); where that folder is the file system's root or one
    this user cannot write (``/test`` -> ``/NAME`` before: a CLI review), :func:`_writable_place`
    offers the current folder or the home folder instead, outside ``folder``."""
    return _writable_place(Path(os.path.normpath(os.path.join(folder, os.pardir, name))), avoid=folder)


def _writable_place(path: Path, avoid: Path | None = None) -> Path:
    """``path`` for a fix to suggest, when its folder is no file system root (``/``) and this
    user may write there; else ``path.name`` in the current folder, else in the home folder,
    else in the temporary folder (:func:`tempfile.gettempdir`, one Python could write: a
    current folder of mode 555 with ``HOME=/nonexistent`` offered a folder of root's, a
    review), the first that is not inside ``avoid`` (the image or bundle folder it must stay
    out of); ``path`` when none is."""
    try:
        temporary = [Path(tempfile.gettempdir()) / path.name]
    except OSError:  # FileNotFoundError: no temporary folder this user can write
        temporary = []
    for candidate in (path, Path(path.name), Path.home() / path.name, *temporary):
        parent = Path(os.path.abspath(candidate.parent))
        if parent == Path(parent.anchor) or not os.access(parent, os.W_OK):
            continue
        if avoid is None or not _inside(candidate, avoid):
            return candidate
    return path


def _run_of(run: str | os.PathLike[str] | None) -> tuple[Path | None, Path | None]:
    """(the run folder, the bundle folder) of ``export``'s RUN argument: a run folder, its
    ``bundle/`` or ``bundles/NAME/``, or a bundle folder of its own (no run folder then)."""
    if not run:
        return None, None
    p = Path(run)
    for candidate in (p, p.parent, p.parent.parent):
        if (candidate / "data" / "ingest_summary.json").is_file() or (candidate / "stages.json").is_file():
            return candidate, (p if candidate != p else None)
    return None, (p if (p / "metadata.json").is_file() else None)


def _data_places(run_dir: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """(the run's label CSV, its image folders with their words) from
    ``RUN/data/ingest_summary.json``; (None, []) when it cannot be read."""
    try:
        summary = json.loads((run_dir / "data" / "ingest_summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, []
    if not isinstance(summary, dict):
        return None, []
    labels = summary.get("labels_csv")
    folders: list[tuple[Path, str]] = []
    for key, words in (("root", "data root"), ("train_dir", "training-image folder"),
                       ("test_dir", "test-image folder")):
        if isinstance(summary.get(key), str) and summary[key]:
            folders.append((Path(summary[key]), words))
    folders += [(Path(d), "unlabelled-image folder") for d in summary.get("unlabelled_dirs") or []
                if isinstance(d, str)]
    return (Path(labels) if isinstance(labels, str) and labels else None), folders


def export_out_problem(out: str | os.PathLike[str], run: str | os.PathLike[str] | None,
                       images: str | os.PathLike[str] | None) -> str | None:
    """Why ``python -m drac_ssl.export`` must not write the submission ``--out`` (with RUN
    ``run`` and ``--images`` ``images``, each may be None), with the fix; None when it may.

    Refused, each before any grading: a name not ending in ``.csv``; a path inside the
    ``--images`` folder (or the image file itself); a path inside a stage folder of the run
    (:data:`STAGE_FOLDERS`; a bundle folder given as RUN: inside it); the run's label CSV, or
    a path directly in one of the run's image folders (the next ingest would read a CSV there
    as a label file); an existing file the export did not write (:func:`written_by_export`),
    or one beside it (the notes, referable and skipped-files files) the export did not write.
    An empty existing file may be replaced (nothing is lost)."""
    p = Path(out)
    example = "submission.csv"
    run_dir, bundle_dir = _run_of(run)
    place = _writable_place(run_dir.parent / f"{run_dir.name}_{example}") if run_dir is not None else Path(example)
    if images:
        folder = Path(images)
        if folder.is_file() and _resolved(folder) == _resolved(p):
            return (f"{p}: --out is the image to grade (--images {folder}); writing would replace "
                    f"it.\n  fix: choose another path, e.g. --out {_free_name(_above(folder.parent, example))}")
        if folder.is_dir() and _inside(p, folder):
            return (f"{p}: --out lies inside the --images folder {folder}: the submission and the "
                    f"files written beside it (_notes.csv, _referable.csv) would be mixed with the "
                    f"images it grades, and found there by the next export of that folder.\n  fix: "
                    f"write it outside the image folder, e.g. --out "
                    f"{_free_name(_above(folder, example))}")
    if run_dir is not None:
        for stage in STAGE_FOLDERS:
            if _inside(p, run_dir / stage):
                return (f"{p}: --out lies in {run_dir / stage}, a folder of the run's own files "
                        f"(its stages write and read them; e.g. data/manifest.csv, export/"
                        f"submission.csv): a file written there can replace one of them or be "
                        f"taken for one.\n  fix: choose a path outside the run's stage folders, "
                        f"e.g. --out {_free_name(place)}")
        labels, folders = _data_places(run_dir)
        if labels is not None and _resolved(p) == _resolved(labels):
            return (f"{p}: --out is the run's label CSV (the ingest read the grades from it): "
                    f"writing would replace the grades.\n  fix: choose another path, e.g. --out "
                    f"{_free_name(place)}")
        for folder, words in folders:
            if folder.is_dir() and _resolved(p.parent) == _resolved(folder):
                return (f"{p}: --out lies in the run's {words} {folder}: the next ingest of that "
                        f"folder would read a CSV there as a second label file (and stop on it).\n"
                        f"  fix: write it outside the data folders, e.g. --out {_free_name(place)}")
    elif bundle_dir is not None and _inside(p, bundle_dir):
        return (f"{p}: --out lies in the bundle folder {bundle_dir}: the files written there can "
                f"replace the bundle's own.\n  fix: choose a path outside it, e.g. --out "
                f"{_free_name(_above(bundle_dir, example))}")
    if p.suffix.lower() != ".csv":
        exists = (f"; it is an existing file ({_kind_words(p)}) that writing would replace"
                  if p.is_file() else "")
        better = _free_name(p.with_suffix(".csv") if not p.exists() else place)
        return (f"{p}: --out names the submission CSV to write, and this name does not end in .csv "
                f"({p.suffix or 'no suffix'}){exists}.\n  fix: give a new file name ending in .csv, "
                f"e.g. --out {better}")
    if problem := replace_problem(p, "--out", written_by_export, "the export", example):
        return problem
    for path, words, recognised in _beside(p):
        if path.is_file() and _size(path) and not recognised(path):
            return (f"{p}: the export writes {words} beside --out as {path}, an existing file it did "
                    f"not write ({_kind_words(path)}); writing would replace it and its contents "
                    f"would be lost.\n  fix: choose another --out name, e.g. --out "
                    f"{_free_name(p.with_name(f'{p.stem}-graded.csv'))}; or move {path} away first")
    return None


def folder_out_problem(out: str | os.PathLike[str], flag: str, source: str | os.PathLike[str],
                       source_flag: str, words: str, example: str) -> str | None:
    """Why the output folder ``out`` (``flag``) must not be the input folder ``source``
    (``source_flag``: ``words``, what it holds) or lie inside it, with the fix; None when it
    may. ``source`` may be a file (a MedMNIST ``.npz``): its folder is then the input folder
    only when ``out`` is the file itself."""
    src = Path(source)
    if src.is_file():
        if _resolved(out) == _resolved(src):
            return (f"{out}: {flag} is the {source_flag} file itself.\n  fix: choose another "
                    f"folder, e.g. {flag} {example}")
        return None
    if not src.is_dir() or not _inside(Path(out), src):
        return None
    same = _resolved(out) == _resolved(src)
    where = "is" if same else "lies inside"
    return (f"{out}: {flag} {where} the {source_flag} folder {source} ({words}): what is written "
            f"there would be mixed with the input and read as part of it by the next run.\n  fix: "
            f"choose a folder outside it, e.g. {flag} {example}")


def folder_under_file_problem(out: str | os.PathLike[str], flag: str, example: str) -> str | None:
    """Why the output folder ``out`` (given as ``flag``; ``~`` expanded) cannot be made: it is
    a file, or a folder above it is one, with the fix (``example``, a folder path to give
    instead); None when it can be tried. The one wording of every command that makes an output
    folder (the ingest's, phantom's and flatten's ``--out``, ``app.demo_bundle RUN_DIR``,
    ``drac_ssl.umm --run-dir``; the run folder's is the preflight's): a CLI review found
    ``--out good.csv/ph`` raised NotADirectoryError or FileExistsError tracebacks."""
    path = Path(os.path.abspath(Path(out).expanduser()))
    blocking = next((p for p in (path, *path.parents) if os.path.lexists(p) and not os.path.isdir(p)), None)
    if blocking is None:
        return None
    where = "" if blocking == path else f", so {flag} {out} cannot be made there"
    given = f"{flag} {example}" if flag.startswith("-") else example  # a positional (RUN_DIR): the path alone
    return (f"{blocking}: is a file, not a folder{where}.\n  fix: give {flag} a folder path (made if "
            f"missing), e.g. {given}")


DESKTOP_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
"""Files that macOS Finder and Windows Explorer write into a folder they show: never what makes
an output folder "not empty" (:func:`folder_in_use_problem`)."""


def folder_in_use_problem(out: str | os.PathLike[str], flag: str, example: str, writes: str,
                          earlier: Callable[[Path], str | None] | None = None,
                          leftovers: Sequence[str] = ()) -> str | None:
    """Why the command must not write into the existing folder ``out`` (``flag``), with the
    fix (``example``: a new folder to give); None when it may: not there, empty, holding only
    ``leftovers`` (names, or ``fnmatch`` patterns, of what a failed attempt of the command leaves)
    and the files a desktop puts in any folder it shows (:data:`DESKTOP_FILES`: ``.DS_Store``,
    ``Thumbs.db``, ``desktop.ini``), or an earlier output of the
    same command (``earlier(folder)`` returns "" for one it may write again; a text, why not,
    for one it may not, e.g. an ingest of another data root). ``writes``: what the command
    writes there, for the message. Anything else is refused (a review: ``data_prep ingest
    --out EXISTING`` replaced a manifest.csv in an unrelated folder, and a trained run's data;
    flatten refused a non-empty ``--out`` in its own words first)."""
    folder = Path(out).expanduser()
    if not folder.is_dir():
        return None
    names = sorted(p.name for p in folder.iterdir() if p.name not in DESKTOP_FILES)
    if all(any(fnmatch.fnmatchcase(name, pattern) for pattern in leftovers) for name in names):
        return None
    why = earlier(folder) if earlier is not None else None
    if why == "":
        return None
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (f"{out}: {flag} exists and is not empty ({why or f'it holds {shown}'}); the command writes "
            f"{writes} there, replacing what has those names.\n  fix: give {flag} a new or empty "
            f"folder, e.g. {flag} {example}, or move {out} away first")
