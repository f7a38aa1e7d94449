"""The ingest's ``data/manifest.csv``: its columns and its one reader.

:mod:`data_prep.ingest` writes it, one row per image in cache order; every reader goes
through :func:`read_manifest`, so a missing column is the same clear error everywhere: the
fine-tuning's data (:func:`drac_ssl.datasets.load_octa_cache`), ``python -m
drac_ssl.compare``'s patients, the bundle's data counts
(:func:`drac_ssl.grading.bundle.data_provenance`) and the export's test ids
(:func:`drac_ssl.export.manifest_test_cases`). A layer of the standard library alone, so
that grading (inference) reads it without training code.

Columns (:data:`MANIFEST_COLUMNS`; the ingest also writes ``origin``, the official split):

- ``id``: the image id (a test image's id is its case name in the submission);
- ``path``: the image file, relative to ``data.root``;
- ``grade``: the reference grade ``0..K-1``, empty for an image without one (test, unlabelled);
- ``split``: ``train`` (the labelled cross-validation pool), ``test`` or ``unlabelled``;
- ``fold``: the cross-validation fold of a training image, -1 otherwise;
- ``patient``: the patient the folds were grouped by, empty when none is named;
- ``sha256``, ``orig_width``, ``orig_height``, ``orig_mode``: the source file;
- ``cache_index``: the image's row in ``data/cache/<size>px.npy``.

Optional, last, only when the ingest kept near twins in one fold (``data.near_duplicate_mse``
> 0; a manifest made without it has no such column, byte for byte as before):

- ``fold_group``: the unit the folds kept whole (its patient, or its image id, joined with
  its near twins' units: :data:`data_prep.ingest.FOLD_GROUP_COLUMN`), empty for a row that is
  not a training image or when the folds were not grouped. The bootstrap CIs resample these
  units (:func:`drac_ssl.oof.patient_groups`), and the preflight and the report recompute
  the folds with them (:func:`data_prep.folds.manifest_fold_gaps`). :func:`read_manifest`
  returns it as a string when present; no reader requires it.
"""
from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.csv"

MANIFEST_COLUMNS = (
    "id", "path", "grade", "split", "fold", "patient", "sha256",
    "orig_width", "orig_height", "orig_mode", "cache_index",
)  # fmt: skip

_INTEGERS = {"grade": True, "fold": False, "cache_index": False, "orig_width": True, "orig_height": True}
"""The integer columns, and whether an empty value is allowed (read as None)."""


class ManifestError(ValueError):
    """A ``manifest.csv`` that cannot be read as the ingest writes it; the message names the
    file (and the line, for a bad value), what is wrong and the fix."""


def read_manifest(path: str | os.PathLike[str],
                  required: Sequence[str] = MANIFEST_COLUMNS) -> list[dict[str, Any]]:
    """The rows of a ``manifest.csv``, in file order, as dicts of its columns: of those in
    ``required``, ``grade`` int or None, ``fold`` and ``cache_index`` int, ``orig_width`` /
    ``orig_height`` int or None; every other value a string (a column the caller does not
    read is never checked). A byte-order mark before the header (a file saved by Excel) is
    read as none; fields beyond the header's are dropped.

    ``required``: the columns the caller reads (default: all of :data:`MANIFEST_COLUMNS`).

    Raises:
        FileNotFoundError: no file at ``path``.
        ManifestError: unreadable, not a CSV, empty, a column of ``required`` missing, a row
            without a value for one of them (fewer fields than the header), or an integer
            column of ``required`` holding something else (the message gives the line).
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
    fix = "\n  fix: run the ingest stage again (run.stages=[ingest]): it writes every column"
    if not columns:
        raise ManifestError(f"{path}: empty (no header line; the ingest writes "
                            f"{','.join(MANIFEST_COLUMNS)},origin).{fix}")
    missing = [c for c in required if c not in columns]
    if missing:
        raise ManifestError(f"{path}: no column {', '.join(missing)} (the ingest writes "
                            f"{','.join(MANIFEST_COLUMNS)},origin).{fix}")
    out = []
    for line, row in rows:
        row.pop(None, None)  # fields beyond the header's (csv puts them under None)
        short = [c for c in required if row.get(c) is None]
        if short:
            raise ManifestError(f"{path}, line {line}: fewer fields than the header's {len(columns)}: "
                                f"no value for {', '.join(short)}{fix}")
        typed: dict[str, Any] = dict(row)
        for column, may_be_empty in _INTEGERS.items():
            if column not in required:
                continue
            text = (row.get(column) or "").strip()
            try:
                typed[column] = None if (text == "" and may_be_empty) else int(text)
            except ValueError:
                raise ManifestError(f"{path}, line {line}: {column} is {row.get(column)!r}, not an "
                                    f"integer{' (or empty)' if may_be_empty else ''}") from None
        out.append(typed)
    return out


def labelled_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows cross-validation may use: training split, a grade, a fold >= 0. Test rows
    (split ``test`` or no grade) are never among them. ``rows``: :func:`read_manifest`'s."""
    return [r for r in rows if r.get("split") == "train" and r.get("grade") is not None
            and int(r.get("fold", -1)) >= 0]
