"""The app's ``grades_with_notes.csv`` as it was written before the notes CSV for people
(:mod:`app.batch_csv`, a clinician trial): ``case,class,P0..P{K-1}[,not_reliably_gradable]
[,training_image],notes``. No code writes it any more, but people may hold such files and
``python -m drac_ssl.submission --check`` still names one (not a submission), so the tests of
that check write them with :func:`write_grades_with_notes` (moved here from
drac_ssl/submission.py, where only tests called it)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from drac_ssl.io import atomic_write_text
from drac_ssl.scale import submission_columns
from drac_ssl.submission import (
    PROB_COLUMNS,
    TRAINING_IMAGE_COLUMN,
    UNRELIABLE_COLUMN,
    _valid_rows,
    format_units,
    not_graded_cells,
    spreadsheet_cell,
    training_image_cell,
)


def write_grades_with_notes(
    path: str | os.PathLike[str],
    files: Sequence[tuple[str, int | None, str]],
    probs: np.ndarray,
    classes: np.ndarray | None,
    num_grades: int = len(PROB_COLUMNS),
    unreliable: Sequence[Sequence[str]] | None = None,
    trained: Sequence[bool | None] | None = None,
) -> Path:
    """Write every file of a batch with its grade and notes (the app's batch tab offers it
    beside the submission, so that the warnings travel with the file people download),
    atomically: ``case,class,P0..P{K-1},notes``, one row per entry of ``files``, in that order
    (the upload order); with ``unreliable`` (one entry per file: the reasons its grade is not
    reliably gradable, :func:`drac_ssl.grading.image_notes.flagged_reasons`, [] for none and for
    a file not graded) a ``not_reliably_gradable`` column before the notes,
    ``case,class,P0..P{K-1},not_reliably_gradable,notes``: the reasons joined by ``"; "``, empty
    when clean, as the export's ``<stem>_notes.csv`` column of that name (:func:`write_image_notes`),
    so that a spreadsheet filters on it while ``class`` stays the grade number; with ``trained``
    (one per file: one of the model's training images, same SHA-256; None when that cannot be
    told, a bundle that records no hashes; False for a file not graded) a ``training_image``
    column before the notes too, :func:`training_image_cell`'s :data:`TRAINING_IMAGE_MARK`,
    :data:`TRAINING_IMAGE_UNKNOWN` or empty, as the export's notes file has it.

    ``files``: ``(case, i, notes)``: ``i`` the row of ``probs`` ``(n, K)`` and ``classes``
    ``(n,)`` of a graded file, written as :func:`write_submission` writes it (the same checks
    on those rows; every graded row must be named once), or None for a file not graded
    (several files may share a name then): empty class and probabilities, and ``notes`` as
    given (the caller says ``NOT GRADED: reason``, :data:`NOT_GRADED`): its name gets a ``'``
    before it where it would start as a spreadsheet formula, and its notes say so, as
    :func:`write_incomplete_grades` writes it; no notes or flag cell starts as one either
    (:func:`spreadsheet_cell`). Not a submission:
    :func:`check_submission` reports the extra column. Raises ValueError as
    :func:`write_submission` for the graded rows, for an ``i`` out of range or repeated, and
    for an ``unreliable`` or ``trained`` of another length than ``files``."""
    if unreliable is not None and len(unreliable) != len(files):
        raise ValueError(f"{len(unreliable)} not_reliably_gradable entries for {len(files)} files: "
                         f"give one per file ([] for none)")
    if trained is not None and len(trained) != len(files):
        raise ValueError(f"{len(trained)} training_image entries for {len(files)} files: give one "
                         f"per file (False for none)")
    graded = [(case, i) for case, i, _ in files if i is not None]
    if sorted(i for _, i in graded) != list(range(len(graded))):
        raise ValueError(f"the graded files name rows {[i for _, i in graded]}; name each row of "
                         f"probs (0..{len(graded) - 1}) once")
    by_row = {i: case for case, i in graded}
    cases = [by_row[i] for i in range(len(graded))]
    names, grades, units = _valid_rows(cases, probs, classes, num_grades) if cases else (
        [], np.zeros(0, np.int64), np.zeros((0, int(num_grades)), np.int64))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    flag_column = [UNRELIABLE_COLUMN] if unreliable is not None else []
    flag_column += [TRAINING_IMAGE_COLUMN] if trained is not None else []
    writer.writerow([*submission_columns(int(num_grades)), *flag_column, "notes"])
    for at, (case, i, notes) in enumerate(files):
        flag = ["; ".join(unreliable[at])] if unreliable is not None else []
        flag += [training_image_cell(trained[at]) if i is not None else ""] if trained is not None else []
        flag = [spreadsheet_cell(str(x)) for x in flag]
        if i is None:
            cell, said = not_graded_cells(str(case), str(notes))
            writer.writerow([cell, "", *[""] * int(num_grades), *flag, said])
        else:
            writer.writerow([names[i], int(grades[i]), *(format_units(int(u)) for u in units[i]),
                             *flag, spreadsheet_cell(str(notes))])
    return atomic_write_text(path, out.getvalue())
