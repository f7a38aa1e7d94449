"""A Kaggle competition's submission format: APTOS 2019 Blindness Detection's ``id_code,diagnosis``.

``python -m drac_ssl.export RUN --images DIR --out sub.csv --format kaggle`` writes it
(:func:`write_kaggle`): one row per graded image, its ``id_code`` the image's file name without
extension (``0a1b2c3d4e5f.png`` -> ``0a1b2c3d4e5f``), its ``diagnosis`` the grade the bundle
gives (the DRAC file's ``class``); no probabilities. The rows follow the layout's own list of
test ids when there is one (:func:`layout_order`: ``test.csv``, else ``sample_submission.csv``,
beside the image folder or in it, as Kaggle ships them), else natural file-name order.
``--check`` and ``--score`` tell the format by its header (:func:`is_kaggle_file`): the check
(:func:`check_kaggle`, :func:`report_kaggle_check`) holds each row to Kaggle's rules (an id once,
without extension; a diagnosis an integer grade, 0..4 on APTOS's five grades unless ``--grades``
or ``--manifest`` say another K) and, given the images or a run's manifest, every image to a
row; the score (:func:`read_kaggle`) has classes only, so its QWK, accuracy and F1, no AUC.

Stdlib and numpy: ``--check`` and ``--score`` load no torch.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from drac_ssl.console import print_lines
from drac_ssl.grading.image_notes import IMAGE_SUFFIXES
from drac_ssl.io import atomic_write_text
from drac_ssl.scale import ScaleFrom, grades_k_said

if TYPE_CHECKING:
    from drac_ssl.submission import ProblemLines

__all__ = ["FORMATS", "KAGGLE_COLUMNS", "KAGGLE_GRADES", "ORDER_FILES", "check_kaggle", "is_kaggle_file",
           "is_kaggle_header", "kaggle_sorted", "layout_mismatch", "layout_order", "read_kaggle",
           "report_kaggle_check", "stem_clashes", "suffixed_stems", "write_kaggle"]

FORMATS = ("drac", "kaggle")
"""The submission formats ``export --format`` writes: DRAC's ``case,class,P0..P{K-1}`` (the
default) and Kaggle's ``id_code,diagnosis``."""
KAGGLE_COLUMNS = ("id_code", "diagnosis")
"""The header of APTOS 2019's submission (Kaggle's ``sample_submission.csv``)."""
KAGGLE_GRADES = 5
"""The grades a Kaggle file is checked against when nothing else says K: APTOS 2019's 0..4
(the ICDR scale)."""
ORDER_FILES = ("test.csv", "sample_submission.csv")
"""The files of a Kaggle layout that list its test ids in Kaggle's order (first found wins)."""


def is_kaggle_header(fields: Sequence[str]) -> bool:
    """Whether a CSV header is Kaggle's ``id_code,diagnosis`` (case, spaces, quotes and a
    byte-order mark aside)."""
    names = [f.replace("\ufeff", "").strip().strip('"').strip().lower() for f in fields]
    return names == list(KAGGLE_COLUMNS)


def is_kaggle_file(path: str | os.PathLike[str]) -> bool:
    """Whether the CSV ``path``'s first non-blank line is Kaggle's header (:func:`is_kaggle_header`);
    False for a file that cannot be read as text."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for fields in csv.reader(fh):
                if any(f.strip() for f in fields):
                    return is_kaggle_header(fields)
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return False


def _id_column(path: Path) -> list[str] | None:
    """The ``id_code`` column of a Kaggle layout's CSV, in its order; None when it has none or
    cannot be read."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if any(f.strip() for f in r)]
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not rows:
        return None
    header = [f.strip().lower() for f in rows[0]]
    if KAGGLE_COLUMNS[0] not in header:
        return None
    at = header.index(KAGGLE_COLUMNS[0])
    return [r[at].strip() for r in rows[1:] if len(r) > at and r[at].strip()]


def layout_order(images: str | os.PathLike[str]) -> tuple[list[str], Path] | None:
    """The test ids of a Kaggle layout, in its order, and the file that lists them: the first of
    :data:`ORDER_FILES` with an ``id_code`` column in the folder above the image folder
    ``images`` (APTOS: ``test.csv`` beside ``test_images/``), else in ``images`` itself (for one
    image file: its folder's); None when there is none."""
    folder = Path(images)
    if not folder.is_dir():
        folder = folder.parent
    for base in (folder.parent, folder):
        for name in ORDER_FILES:
            path = base / name
            if path.is_file() and (ids := _id_column(path)) is not None:
                return ids, path
    return None


def layout_mismatch(files: Sequence[Path], ids: Sequence[str]) -> tuple[list[str], list[Path]]:
    """How the images ``files`` and a layout's listed test ids ``ids`` (:func:`layout_order`)
    differ: the listed ids no file has as its stem (in the list's order), and the files whose
    stem is not listed (in the order given); both empty when each id is one file's."""
    stems = {p.stem for p in files}
    listed = set(ids)
    return [i for i in dict.fromkeys(ids) if i not in stems], [p for p in files if p.stem not in listed]


def mismatch_words(missing: Sequence[str], unlisted: Sequence[Path], n_listed: int, listed: Path,
                   folder: str | os.PathLike[str], shown: int = 5) -> str:
    """The words of :func:`layout_mismatch`'s findings: how many of the ``n_listed`` ids of
    ``listed`` (test.csv) have an image in ``folder``, a few of each kind (``shown``) and the
    fix; one line, then ``\n  fix: ...``."""
    from drac_ssl.submission import printable_text

    matched = n_listed - len(missing)
    said = [f"{matched} of the {n_listed} ids listed in {listed} have an image in {folder}"]
    if missing:
        said.append(f"{len(missing)} listed id(s) without an image: "
                    + ", ".join(printable_text(i) for i in missing[:shown])
                    + (f" and {len(missing) - shown} more" if len(missing) > shown else ""))
    if unlisted:
        said.append(f"{len(unlisted)} image(s) not listed: "
                    + ", ".join(printable_text(p.name) for p in unlisted[:shown])
                    + (f" and {len(unlisted) - shown} more" if len(unlisted) > shown else ""))
    where = Path(folder) if Path(folder).is_dir() else Path(folder).parent
    lists = [base / name for base in (where.parent, where) for name in ORDER_FILES if (base / name).is_file()]
    return ("; ".join(said) + f"\n  fix: give the folder {listed.name} lists (every listed id's image, "
            f"no other), or correct {listed}; a folder that is not this layout's test set: move "
            + " and ".join(str(p) for p in lists or [listed])
            + " elsewhere to write the rows in file-name order")


def kaggle_sorted(files: Sequence[Path], images: str | os.PathLike[str]) -> tuple[list[Path], Path | None]:
    """``files`` (images to grade) in the order of their Kaggle submission's rows: the layout's
    list of test ids (:func:`layout_order`) for the files it names, then the others in natural
    order (``2.png`` before ``10.png``); and the file whose order was followed (None: natural
    order alone). The export refuses a folder that is not the list's
    (:func:`layout_mismatch`) before it calls this."""
    from data_prep.validate import natural_key

    natural = sorted(files, key=lambda p: natural_key(p.name))
    found = layout_order(images)
    if found is None:
        return natural, None
    ids, listed = found
    rank = {name: i for i, name in reversed(list(enumerate(ids)))}
    ranked = sorted((p for p in natural if p.stem in rank), key=lambda p: rank[p.stem])
    return ranked + [p for p in natural if p.stem not in rank], listed


def suffixed_stems(files: Sequence[Path]) -> list[Path]:
    """The files whose stem ends in an image extension (``a.png.jpg``: stem ``a.png``): a Kaggle
    id is the file name without extension, and one ending in ``.png`` reads as a file name,
    which :func:`write_kaggle` and the check refuse."""
    return [p for p in files if Path(p.stem).suffix.lower() in IMAGE_SUFFIXES]


def stem_clashes(files: Sequence[Path]) -> list[tuple[str, list[Path]]]:
    """The file-name stems that more than one of ``files`` has (``a.png`` and ``a.jpg``), each
    with its files: a Kaggle id is the name without extension, so such files would share one."""
    by_stem: dict[str, list[Path]] = {}
    for path in files:
        by_stem.setdefault(path.stem, []).append(path)
    return [(stem, paths) for stem, paths in by_stem.items() if len(paths) > 1]


def write_kaggle(path: str | os.PathLike[str], ids: Sequence[str], classes: Sequence[int]) -> Path:
    """Write ``id_code,diagnosis`` atomically, one row per id in the order given (``ids``: the
    images' file names without extension; ``classes``: their grades, integers), and return the
    path. Raises ValueError for lengths that differ, an empty, duplicated or suffixed id, or a
    grade that is not a non-negative integer."""
    ids, grades = [str(i) for i in ids], np.asarray(classes)
    if len(ids) != len(grades):
        raise ValueError(f"{len(ids)} ids and {len(grades)} classes: give one class per id")
    if grades.size and not (np.issubdtype(grades.dtype, np.integer) or np.all(grades == np.round(grades))):
        raise ValueError("classes must be integer grades")
    if grades.size and grades.min() < 0:
        raise ValueError(f"classes must be grades 0..K-1, got {int(grades.min())}")
    seen: set[str] = set()
    for name in ids:
        if not name or name != name.strip() or any(ch in name for ch in ',"\r\n'):
            raise ValueError(f"id {name!r}: an id is a file name without extension, without a comma, "
                             f"quote, line break or surrounding spaces")
        if Path(name).suffix.lower() in IMAGE_SUFFIXES:
            raise ValueError(f"id {name!r} has a file extension: Kaggle's ids are file names without it")
        if name in seen:
            raise ValueError(f"id {name!r} twice: one row per image")
        seen.add(name)
    out = io.StringIO()
    out.write(",".join(KAGGLE_COLUMNS) + "\n")
    for name, grade in zip(ids, grades, strict=True):
        out.write(f"{name},{int(grade)}\n")
    return atomic_write_text(path, out.getvalue())


def _without_suffix(name: str) -> str:
    """``name`` without an image suffix (``a.png`` -> ``a``); any other name as it is
    (``1.2.840`` is an id, not ``1.2`` with a suffix)."""
    return Path(name).stem if Path(name).suffix.lower() in IMAGE_SUFFIXES else name


class _Rows:
    """A Kaggle file read by :func:`_check_kaggle`: its valid rows' ids, grades and lines."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.classes: list[int] = []
        self.lines: list[int] = []


def _check_kaggle(csv_path: str | os.PathLike[str], *, images_dir: str | os.PathLike[str] | None = None,
                  ids: Sequence[str] | None = None, num_grades: int | None = None) -> tuple[ProblemLines, _Rows]:
    """:func:`check_kaggle`'s problems and the rows read."""
    from drac_ssl.submission import _csv_text, _Problems, printable_text, read_folder

    k = KAGGLE_GRADES if num_grades is None else int(num_grades)
    problems = _Problems(str(csv_path))
    rows = _Rows()
    # a workbook, a BOM, bytes not UTF-8: refused and said as the DRAC check says them
    text = _csv_text(csv_path, problems, KAGGLE_COLUMNS[0])
    if text is None:
        return problems.finish(), rows
    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for fields in reader:
            if any(f.strip() for f in fields):
                records.append((reader.line_num, fields))
    except csv.Error as exc:
        problems.add(reader.line_num, "csv", f"malformed CSV ({exc})", "remove stray quotes")
    header = ",".join(KAGGLE_COLUMNS)
    if not records:
        problems.add(1, "empty", "the file is empty", f"write the header '{header}' and one row per test image")
        return problems.finish(), rows
    line, first = records[0]
    if not is_kaggle_header(first):
        problems.add(line, "header", f"header is '{printable_text(','.join(first))}'", f"replace it with '{header}'")
    elif list(first) != list(KAGGLE_COLUMNS):
        problems.add(line, "header", f"header is '{printable_text(','.join(first))}' (case or spaces differ)",
                     f"write exactly '{header}'")
    grades = ", ".join(str(g) for g in range(k))
    seen: dict[str, int] = {}
    for line, fields in records[1:]:
        if len(fields) != 2:
            problems.add(line, "columns", f"{len(fields)} columns, expected 2 ({header})",
                         f"write {header} separated by commas, nothing else")
            continue
        name, grade = fields
        key = name.strip()
        if not key:
            problems.add(line, "id", "empty id_code", "write the image's file name without extension")
            continue
        if name != key:
            problems.add(line, "id", f"id_code {name!r} has surrounding spaces", f"write '{key}'")
        if Path(key).suffix.lower() in IMAGE_SUFFIXES:
            problems.add(line, "id", f"id_code '{printable_text(key)}' has a file extension",
                         f"write '{printable_text(Path(key).stem)}': Kaggle's ids are file names without it")
        if key in seen:
            problems.add(line, "duplicate", f"duplicate id_code '{printable_text(key)}' (first on line "
                         f"{seen[key]})", "keep exactly one row per image")
            continue
        seen[key] = line
        g = grade.strip()
        # ASCII digits only: str.isdigit takes '²' (int() then raises) and '١' (Arabic-Indic 1)
        number = re.fullmatch(r"([+-]?)([0-9]+)", g, flags=re.ASCII)
        if number is None:
            problems.add(line, "diagnosis", f"diagnosis '{printable_text(grade)}' is not an integer",
                         f"write the grade as one of {grades} (ASCII digits, no decimals)")
            continue
        value = int(g)
        if value not in range(k):
            problems.add(line, "diagnosis", f"diagnosis {value} is outside {{{grades}}}",
                         f"write one of {grades}" + (" (APTOS 2019's five grades; --grades K for another "
                                                     "scale)" if num_grades is None else ""))
            continue
        if grade != g:
            problems.add(line, "diagnosis", f"diagnosis {grade!r} has surrounding spaces", f"write '{value}'")
        if number[1]:
            problems.add(line, "diagnosis", f"diagnosis '{g}' has a sign", f"write '{value}'")
        elif len(number[2]) > 1 and number[2].startswith("0"):
            problems.add(line, "diagnosis", f"diagnosis '{g}' has a leading zero", f"write '{value}'")
        rows.ids.append(key)
        rows.classes.append(value)
        rows.lines.append(line)
    if len(records) == 1:
        problems.add(line + 1, "no-rows", "no data rows", "add one row per test image after the header")
    end = records[-1][0] + 1
    wanted: dict[str, str] | None = None  # id -> what it names (an image's file name)
    where = ""
    listed_in: Path | None = None  # the layout's list of test ids, when it holds the set
    image_stems: set[str] = set()
    if images_dir is not None:
        folder = Path(images_dir)
        files = [folder] if folder.is_file() else read_folder(folder).images
        for stem, paths in stem_clashes(files):
            problems.add(0, "stem", f"the images {', '.join(p.name for p in paths)} share the id_code "
                         f"'{printable_text(stem)}' (a Kaggle id is the file name without extension)",
                         "rename one of them")
        wanted, where = {p.stem: p.name for p in files}, f"in '{folder}'"
        # the layout's test.csv (or sample_submission.csv) lists the test ids: the set to hold
        # the folder and the rows to (a folder of other images passed the check against itself)
        order = layout_order(folder) if folder.is_dir() else None
        if order is not None:
            ids_listed, listed = order
            missing, unlisted = layout_mismatch(files, ids_listed)
            for name in missing:
                problems.add(0, "not-in-folder", f"id_code '{printable_text(name)}' is listed in {listed} "
                             f"but has no image in '{folder}'", "put its image in the folder, or check that "
                             f"--images is the folder {listed.name} lists")
            for path in unlisted:
                problems.add(0, "not-listed", f"image '{printable_text(path.name)}' is not listed in "
                             f"{listed}", f"remove it from the folder, or add its id_code "
                             f"'{printable_text(path.stem)}' to {listed.name}")
            if missing or unlisted:
                problems.add(0, "layout", f"{len(ids_listed) - len(missing)} of the {len(ids_listed)} ids "
                             f"listed in {listed} have an image in '{folder}'",
                             f"check the folder against {listed.name}")
            by_stem = {f.stem: f.name for f in files}
            wanted = {i: by_stem.get(i, "") for i in ids_listed}  # "": listed, no image (said above)
            listed_in, image_stems = listed, set(by_stem)
    elif ids is not None:
        wanted, where = {_without_suffix(str(i)): str(i) for i in ids}, "among the manifest's test cases"
    if wanted is not None:
        named = {name: _without_suffix(name) for name in seen}  # a suffixed id: said above
        for name, line in seen.items():
            if named[name] not in wanted:
                problems.add(line, "no-image", f"id_code '{printable_text(name)}' " + (
                    f"has no image {where}" if listed_in is None else
                    (f"has no image in '{images_dir}' and " if named[name] not in image_stems else "")
                    + f"is not among the ids listed in {listed_in}"),
                    "remove the row, or check that --images is the test-set folder")
        given = set(named.values())
        for stem, file in wanted.items():
            if stem not in given:
                problems.add(end, "missing", (f"image '{printable_text(file)}' has no row" if file else
                                              f"listed id '{printable_text(stem)}' has no row")
                             + f" (id_code '{printable_text(stem)}')", "add a row for it: every test image "
                             "must appear exactly once")
    return problems.finish(), rows


def check_kaggle(csv_path: str | os.PathLike[str], *, images_dir: str | os.PathLike[str] | None = None,
                 ids: Sequence[str] | None = None, num_grades: int | None = None) -> list[str]:
    """Every problem of a Kaggle submission (``id_code,diagnosis``), one ``FILE:LINE: what ->
    fix`` string each (:class:`drac_ssl.submission.ProblemLines`, as the DRAC check's); [] for a
    valid file. Checks: a CSV, not a spreadsheet workbook saved or renamed as one, UTF-8 text
    without BOM (read as the DRAC check reads it, :func:`drac_ssl.submission._csv_text`), the header exactly ``id_code,diagnosis``, two
    columns a row, an id once, not empty, without surrounding spaces nor a file extension, a
    diagnosis an integer in ``0..K-1`` (``K = num_grades``, else :data:`KAGGLE_GRADES`). With
    ``images_dir`` (the folder of the test images, or one image), every image (named as one,
    :func:`drac_ssl.submission.read_folder`) has a row under its file name's stem and every id
    an image, and two images sharing a stem are a problem; when the folder's layout lists its
    test ids (:func:`layout_order`: ``test.csv`` or ``sample_submission.csv`` beside the folder
    or in it) that list is the set of ids: a listed id without an image, an image not listed,
    a row of an id not listed and a listed id without a row are problems too. Else with ``ids``
    (the manifest's test cases, file names) the same against their stems. Never raises for a
    bad file."""
    return _check_kaggle(csv_path, images_dir=images_dir, ids=ids, num_grades=num_grades)[0]


def read_kaggle(csv_path: str | os.PathLike[str], num_grades: int | None = None
                ) -> tuple[tuple[list[str], np.ndarray, list[int]] | None, list[str]]:
    """A Kaggle submission's rows when it passes :func:`check_kaggle` (K ``num_grades``, else
    :data:`KAGGLE_GRADES`): ``(ids, classes (n,) int64, lines)``; else None and the problems."""
    problems, rows = _check_kaggle(csv_path, num_grades=num_grades)
    if problems:
        return None, problems
    return (rows.ids, np.asarray(rows.classes, dtype=np.int64), rows.lines), problems


def report_kaggle_check(csv_path: str | os.PathLike[str], images_dir: str | os.PathLike[str] | None = None, *,
                        num_grades: int | None = None, cases: Sequence[str] | None = None,
                        scale_from: ScaleFrom = "", json_path: str | os.PathLike[str] | None = None) -> int:
    """:func:`_report_kaggle_check`, and with ``json_path`` its result for a machine written
    there, pass or fail (:func:`drac_ssl.submission.write_check_record`; ``n_cases`` None when
    the file has problems: only its valid rows are counted)."""
    from drac_ssl.submission import write_check_record

    facts: dict[str, Any] = {}
    code = _report_kaggle_check(csv_path, images_dir, num_grades=num_grades, cases=cases,
                                scale_from=scale_from, facts=facts)
    return write_check_record(json_path, code, facts) if json_path is not None and facts else code


def _report_kaggle_check(csv_path: str | os.PathLike[str], images_dir: str | os.PathLike[str] | None = None, *,
                         num_grades: int | None = None, cases: Sequence[str] | None = None,
                         scale_from: ScaleFrom = "", facts: dict[str, Any] | None = None) -> int:
    """``export --check`` of a Kaggle file: its problems on stdout (``FILE:LINE: what -> fix``)
    and their count on stderr, exit 1; else ``OK: N cases`` on stdout, exit 0 (without
    ``images_dir`` or ``cases``: the format only, said so). Either way stderr says what it was
    checked as: Kaggle's ``id_code,diagnosis`` with K grades (``num_grades``, said to come from
    ``scale_from``: ``--grades says``, ``the manifest of RUN has``; else APTOS 2019's 5), and
    against what. A stdout that cannot be written is one ``error:`` line and 2."""
    problems, rows = _check_kaggle(csv_path, images_dir=images_dir, ids=cases, num_grades=num_grades)
    k = KAGGLE_GRADES if num_grades is None else int(num_grades)  # not a GradeCount: said in words only
    order = layout_order(images_dir) if images_dir and Path(images_dir).is_dir() else None
    against = (f", against {images_dir}" + (f" and the ids listed in {order[1]}" if order else "") if images_dir else
               f", against {len(cases)} test case(s) of the manifest" if cases is not None else "")
    if facts is not None:  # the check ran: for --json (report_kaggle_check)
        facts.update(k=k, n_cases=None if problems else len(rows.ids), complete_checked=bool(against),
                     problems=list(getattr(problems, "records", ())),
                     warnings=list(getattr(problems, "warning_records", ())))
    scale = (f"checked as Kaggle's {','.join(KAGGLE_COLUMNS)} with {k} grades (diagnosis 0..{k - 1}; "
             + (grades_k_said(scale_from, k) if num_grades is not None and scale_from else
                f"{k} grades given" if num_grades is not None else
                "APTOS 2019's five, assumed: --grades K for another scale") + f"){against}")
    if problems:
        if (failure := print_lines(problems)) is not None:
            print(f"error: cannot print the problems of {csv_path} on stdout ({failure})", file=sys.stderr)
            return 2
        total = getattr(problems, "total", len(problems))
        print(f"{total} problem(s) in {csv_path}", file=sys.stderr)
        print(scale, file=sys.stderr)
        return 1
    result = f"OK: {len(rows.ids)} cases" + ("" if against else ", the format only: completeness not checked "
                                 "(--images DIR, the test images, or --manifest RUN checks that every "
                                 "image has a row)")
    if (failure := print_lines([result])) is not None:
        print(f"error: cannot print the result of {csv_path} on stdout ({failure})", file=sys.stderr)
        return 2
    print(scale, file=sys.stderr)
    return 0

