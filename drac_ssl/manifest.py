"""The ingest's ``data/manifest.csv``: its columns and its one reader.

:mod:`data_prep.ingest` writes it, one row per image in cache order; every reader goes
through :func:`read_manifest`, so a missing column is the same clear error everywhere: the
fine-tuning's data (:func:`drac_ssl.datasets.load_octa_cache`), ``python -m
drac_ssl.compare``'s patients, the bundle's data counts
(:func:`drac_ssl.grading.bundle.data_provenance`) and the export's test ids
(:func:`drac_ssl.export.manifest_test_cases`). A layer of the standard library alone, so
that grading (inference) reads it without training code.

Columns (:data:`REQUIRED_COLUMNS`; the ingest also writes ``origin``, the official split, and
``pixels_sha256``: :data:`WRITTEN_COLUMNS`):

- ``id``: the image id (a test image's id is its case name in the submission);
- ``path``: the image file, relative to ``data.root``;
- ``grade``: the reference grade ``0..K-1``, empty for an image without one (test, unlabelled);
- ``split``: ``train`` (the labelled cross-validation pool), ``test`` or ``unlabelled``;
- ``fold``: the cross-validation fold of a training image, -1 otherwise;
- ``patient``: the patient the folds were grouped by, empty when none is named;
- ``sha256``, ``orig_width``, ``orig_height``, ``orig_mode``: the source file;
- ``cache_index``: the image's row in ``data/cache/<size>px.npy``.

A text cell whose first character would make a spreadsheet read it as a formula (``=``, ``+``,
``-``, ``@``, a tab, a carriage return) or that starts with ``'`` is written with a ``'`` before
it (:func:`drac_ssl.io.guarded_cell`: ``=HYPERLINK(1).png`` -> ``'=HYPERLINK(1).png``), so that
opening the file in a spreadsheet runs nothing; :func:`read_manifest` gives the name back
exactly (:func:`drac_ssl.io.unguarded_cell`), and so must any other reader. The ingest's
``ingest_summary.json`` says so (``formula_cells_guarded``: :func:`manifest_cells_guarded`): a
manifest written before the guard lacks it and is read exactly as written (``'c.png`` is that name).

Optional (an ingest made before it lacks it; no reader requires it):

- ``pixels_sha256`` (:data:`PIXELS_COLUMN`, after ``origin``): the SHA-256 of the decoded image's
  pixels in their canonical form (:func:`data_prep.validate.pixels_sha256`), which a copy of
  the image in another file shares; the bundle's list of training images keeps it beside the
  file's ``sha256`` (:func:`drac_ssl.grading.training_images.training_images_record`).

Optional, last, only when the ingest kept near twins in one fold (``data.near_duplicate_mse``
> 0; a manifest made without it has no such column, byte for byte as before):

- ``fold_group``: the unit the folds kept whole (its patient, or its image id, joined with
  its near twins' units: :data:`data_prep.ingest.FOLD_GROUP_COLUMN`), empty for a row that is
  not a training image or when the folds were not grouped. The bootstrap CIs resample these
  units (:func:`drac_ssl.oof.patient_groups`), and the preflight and the report recompute
  the folds with them (:func:`data_prep.folds.manifest_fold_gaps`). :func:`read_manifest`
  returns it as a string when present; no reader requires it.

Optional, last, only when the ingest read a site column (``data.site_column``; a manifest made
without it has no such column, byte for byte as before):

- ``site``: the labelled image's site (the source it was pooled from), empty for the other
  rows (:data:`SITE_COLUMN`). The fine-tuning copies it into ``oof.csv``;
  the report and the model card count and score per site.
"""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drac_ssl.io import CsvRecordMismatch, declares_guarded_cells, sha256_file, unguarded_cell

MANIFEST_FILE = "manifest.csv"

REQUIRED_COLUMNS = (
    "id", "path", "grade", "split", "fold", "patient", "sha256",
    "orig_width", "orig_height", "orig_mode", "cache_index",
)  # fmt: skip
"""The columns every manifest has (an ingest of any version wrote them): what
:func:`read_manifest` requires by default. The first of :data:`WRITTEN_COLUMNS`."""

SITE_COLUMN = "site"
"""The manifest's last column when ``data.site_column`` is set (absent otherwise, so that the
manifest is byte for byte the one made without it): each labelled image's site as its label
CSV row names it, empty for the other rows; ``oof.csv`` carries it under the same name
(:func:`drac_ssl.oof.site_cells`) for report.md's figures per site. The one definition
(``data_prep.ingest.SITE_COLUMN`` and ``drac_ssl.oof.SITE_COLUMN`` are this)."""

PIXELS_COLUMN = "pixels_sha256"
"""The manifest's column of each image's decoded-pixel hash (absent in a manifest made before it)."""

ORIGIN_COLUMN = "origin"
"""The manifest's column of the official split an image came from (``train``, ``val``, ``test``
or ``unlabelled``); no reader requires it."""

WRITTEN_COLUMNS = (*REQUIRED_COLUMNS, ORIGIN_COLUMN, PIXELS_COLUMN)
"""The columns the ingest writes, in this order (:data:`data_prep.ingest.WRITTEN_COLUMNS` is
this), before the optional ``fold_group`` and :data:`SITE_COLUMN`
(:func:`data_prep.ingest.manifest_header`): :data:`REQUIRED_COLUMNS`, then the two no reader
requires (a manifest made before :data:`PIXELS_COLUMN` lacks it)."""

MANIFEST_COLUMNS = REQUIRED_COLUMNS
"""The name :data:`REQUIRED_COLUMNS` had before 0.1.x's session 73 (kept for scripts that import it)."""

_INTEGERS = {"grade": True, "fold": False, "cache_index": False, "orig_width": True, "orig_height": True}
"""The integer columns, and whether an empty value is allowed (read as None)."""


def redo_ingest_fix(data_dir: str | os.PathLike[str]) -> str:
    """How to get the ingest's output in ``data_dir`` (a manifest and its cache) made again when
    a file of it is damaged or was changed by hand. In a run folder of ``python -m
    drac_ssl.train`` (``stages.json`` beside ``data_dir``) a finished ingest is never redone in
    place (a resume skips it, and the stages after it were made from its output): a new run
    folder, where every stage runs, or the file put back from a copy. A folder of ``python -m
    data_prep ingest --out DIR``: the same command again, which rewrites the manifest and
    decodes the images again for an array that disagrees with ``cache/state.json``."""
    data_dir = Path(data_dir)
    if (data_dir.parent / "stages.json").is_file():
        return (f"ingest the data again in a new run folder, where every stage runs: the same "
                f"python -m drac_ssl.train command with run.name=<a new name> (a finished ingest is "
                f"never redone in {data_dir.parent}: a resume skips it), or put the file back from a "
                f"copy of this run folder (a cache array copied without its file time is "
                f"accepted when its content is the one the ingest recorded)")
    return (f"run the python -m data_prep ingest command that made {data_dir} again (the same "
            f"--out): it rewrites the manifest and decodes the images again for the cache")


class ManifestError(ValueError):
    """A ``manifest.csv`` that cannot be read as the ingest writes it; the message names the
    file (and the line, for a bad value), what is wrong and the fix."""


def manifest_cells_guarded(path: str | os.PathLike[str]) -> bool:
    """Whether the ``manifest.csv`` at ``path`` holds cells guarded against a spreadsheet formula
    (:func:`drac_ssl.io.guarded_cell`): its ingest's ``ingest_summary.json`` beside it says so
    (:data:`drac_ssl.io.GUARDED_CELLS_FIELD`). False for a manifest written before the guard,
    whose cells are the names as they are (``=a.png``, ``'c.png``): every reader of a manifest
    passes this to :func:`drac_ssl.io.unguarded_cell`. The summary's word is taken only for the
    manifest it describes (its ``manifest_sha256``: :func:`drac_ssl.io.declares_guarded_cells`).

    Raises:
        ManifestError: a cell starts with ``'`` and the summary is missing or records another
            manifest's SHA-256 (an ingest interrupted between rewriting the manifest and its
            summary, or the manifest edited since); the message says so and gives
            :func:`redo_ingest_fix`.
    """
    path = Path(path)
    try:
        return declares_guarded_cells(path.parent / "ingest_summary.json", path, "manifest_sha256",
                                      redo_ingest_fix(path.parent))
    except CsvRecordMismatch as exc:
        raise ManifestError(str(exc)) from None


def read_manifest(path: str | os.PathLike[str],
                  required: Sequence[str] = REQUIRED_COLUMNS,
                  num_grades: int | None = None) -> list[dict[str, Any]]:
    """The rows of a ``manifest.csv``, in file order, as dicts of its columns: of those in
    ``required``, ``grade`` int or None, ``fold`` and ``cache_index`` int, ``orig_width`` /
    ``orig_height`` int or None; every other value a string (a column the caller does not
    read is never checked). A byte-order mark before the header (a file saved by Excel) is
    read as none; fields beyond the header's are dropped.

    ``required``: the columns the caller reads (default: all of :data:`REQUIRED_COLUMNS`).
    ``num_grades``: the ingest's K (``ingest_summary.json``'s ``grades``), when the caller
    knows it: a ``grade`` outside ``0..K-1`` is refused (None: not checked).

    Raises:
        FileNotFoundError: no file at ``path``.
        ManifestError: unreadable, not a CSV, empty, a column of ``required`` missing, a row
            without a value for one of them (fewer fields than the header), an integer
            column of ``required`` holding something else, an ``id`` on two rows of one
            ``split`` (with ``id`` in ``required``; ids are unique per split only: IDRiD's test
            names restart at ``IDRiD_001``, so a training and a test row share an id), or a ``grade`` outside ``0..num_grades-1`` (the message
            gives ``manifest.csv:LINE`` and :func:`redo_ingest_fix`): the ingest writes none of
            these, so the file was edited or damaged since.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = list(reader.fieldnames or [])
            rows = [(reader.line_num, row) for row in reader]
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ManifestError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: not a readable CSV file ({exc})") from None
    fix = f"\n  fix: {redo_ingest_fix(path.parent)}"
    guarded = manifest_cells_guarded(path)
    if not columns:
        raise ManifestError(f"{path}: empty (no header line; the ingest writes "
                            f"{','.join(WRITTEN_COLUMNS)}).{fix}")
    missing = [c for c in required if c not in columns]
    if missing:
        raise ManifestError(f"{path}: no column {', '.join(missing)} (the ingest writes "
                            f"{','.join(WRITTEN_COLUMNS)}).{fix}")
    out = []
    first_line: dict[tuple[str, str], int] = {}  # (split, id) -> the line it is first on
    for line, row in rows:
        row.pop(None, None)  # fields beyond the header's (csv puts them under None)
        short = [c for c in required if row.get(c) is None]
        if short:
            raise ManifestError(f"{path}, line {line}: fewer fields than the header's {len(columns)}: "
                                f"no value for {', '.join(short)}{fix}")
        # a cell the ingest guarded against a spreadsheet formula ('=HYPERLINK(1).png) is the
        # name itself again (drac_ssl.io.guarded_cell); a manifest written before the guard as written
        typed: dict[str, Any] = {c: unguarded_cell(v, guarded=guarded) if isinstance(v, str) else v
                                 for c, v in row.items()}
        for column, may_be_empty in _INTEGERS.items():
            if column not in required:
                continue
            text = (typed.get(column) or "").strip()
            try:
                typed[column] = None if (text == "" and may_be_empty) else int(text)
            except ValueError:
                raise ManifestError(f"{path}, line {line}: {column} is {row.get(column)!r}, not an "
                                    f"integer{' (or empty)' if may_be_empty else ''}") from None
        grade = typed.get("grade") if "grade" in required else None
        if num_grades is not None and grade is not None and not 0 <= grade < num_grades:
            raise ManifestError(f"{path}:{line}: grade {grade} is outside 0..{num_grades - 1}, the "
                                f"{num_grades} grades the ingest recorded (ingest_summary.json); the "
                                f"ingest writes none such: the file was edited or damaged since{fix}")
        if "id" in required:  # unique per split only: IDRiD's official test names restart
            key = (str(row.get("split")), str(row.get("id")))  # at IDRiD_001 (layout.shared_test_names)
            first = first_line.setdefault(key, line)
            if first != line:
                raise ManifestError(f"{path}:{line}: id {row.get('id')!r} of split {key[0]!r} is on "
                                    f"line {first} too; the ingest writes each image once and "
                                    f"refuses two images of one name in a split: the file was "
                                    f"edited or damaged since{fix}")
        out.append(typed)
    return out


INGEST_SUMMARY_FILE = "ingest_summary.json"
"""The ingest's record beside the manifest; ``manifest_sha256`` is the manifest as written."""


def manifest_change(data_dir: str | os.PathLike[str]) -> str | None:
    """Why ``data_dir/manifest.csv`` is not the manifest the ingest wrote: its SHA-256 is not
    the ``manifest_sha256`` that ``data_dir/ingest_summary.json`` records (an edited row: a
    grade, a path, an id written twice). None when it is, or nothing is recorded (an ingest
    made before the record, a folder written by hand or by a test) or a file is missing or
    unreadable (said by the reader). Hashes the file whole: a manifest of 90 000 rows is
    about 10 MB, read in a few tens of milliseconds."""
    data_dir = Path(data_dir)
    try:
        with open(data_dir / INGEST_SUMMARY_FILE, encoding="utf-8") as fh:
            recorded = json.load(fh).get("manifest_sha256")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(recorded, str) or not recorded:
        return None
    try:
        digest = sha256_file(data_dir / MANIFEST_FILE)
    except OSError:
        return None
    if digest == recorded:
        return None
    return (f"{data_dir / MANIFEST_FILE}: changed since the ingest wrote it (its SHA-256 "
            f"{digest[:12]}... is not the {recorded[:12]}... {INGEST_SUMMARY_FILE} records): edited "
            f"by hand or damaged; its rows (ids, grades, folds, paths) are no longer the ingest's, "
            f"which the cache and every stage follow")


def resampling_unit(patient: str | None, image_id: Any) -> str:
    """The unit one image is resampled with by the bootstrap CIs and counted with by the
    per-patient figures: ``patient:<patient>``, or ``image:<image_id>`` for an image without a
    patient (``patient`` None or ''; the caller strips it, as it reads the cell), its own unit.
    The one spelling of these units: :func:`drac_ssl.oof.patient_groups` (the out-of-fold
    CIs), the fine-tuning's per-patient figures, ``python -m drac_ssl.compare``, the model
    card's patient count and ``python -m drac_ssl.score``'s cluster bootstrap. The prefixes keep
    a patient whose id is another image's id a unit apart from it, and sort every image of its
    own before every patient (:func:`drac_ssl.metrics.patient_referral` orders its patients by
    id). Not the folds' names, which are unprefixed (:func:`data_prep.folds.patient_unit`: the
    ingest's split orders its groups by them)."""
    # not data_prep.folds.patient_unit (unprefixed: the folds' order) nor drac_ssl.metrics._patient_id (its callers' units, by position)
    return f"patient:{patient}" if patient else f"image:{image_id}"


def labelled_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows cross-validation may use: training split, a grade, a fold >= 0. Test rows
    (split ``test`` or no grade) are never among them. ``rows``: :func:`read_manifest`'s."""
    return [r for r in rows if r.get("split") == "train" and r.get("grade") is not None
            and int(r.get("fold", -1)) >= 0]


def source_file_changes(made: Sequence[dict[str, Any]],
                        now: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """How the source files of two ingests' manifests differ, image by image (an image is its
    ``split`` and ``id``; ids are unique per split only): ``{"differ": paths whose ``sha256``
    changed, "moved": ``"<path> moved from test to train"`` for a file whose image changed
    split, "new": other paths only ``now`` has, "gone": other paths only ``made`` has}``, each in
    manifest order and empty when none. ``made``, ``now``: :func:`read_manifest` rows (with
    ``id``, ``split``, ``path`` and ``sha256``), e.g. the run a ``-c RUN/config.yaml`` came
    from and the new run's, whose figures can only repeat the first's on the same files.

    Raises:
        KeyError: a row lacks ``id``, ``split``, ``path`` or ``sha256`` (rows of
            :func:`read_manifest` have them all)."""
    before = {(row["split"], row["id"]): row for row in made}
    after = {(row["split"], row["id"]): row for row in now}
    new = [row for key, row in after.items() if key not in before]
    gone = [row for key, row in before.items() if key not in after]
    was = {row["path"]: row for row in gone}
    moved = {row["path"] for row in new if row["path"] in was}  # the same file, in the other split
    return {"differ": [row["path"] for key, row in after.items()
                       if key in before and before[key]["sha256"] != row["sha256"]],
            "moved": [f"{row['path']} moved from {was[row['path']]['split']} to {row['split']}"
                      for row in new if row["path"] in moved],
            "new": [row["path"] for row in new if row["path"] not in moved],
            "gone": [row["path"] for row in gone if row["path"] not in moved]}
