"""The batch tab's ``grades_with_notes.csv``: every file of a batch with its grade in words, for
the clinician who opens it in a spreadsheet (docs/app.md, *The notes CSV*).

The submission beside it (``submission.csv``, :func:`drac_ssl.submission.write_submission`)
keeps the challenge's ``case,class,P0..P{K-1}`` with 6 decimals; this file is for people:

``case, grade, grade_name, most_likely_grade, P_<grade name> (one per grade),
not_reliably_gradable, model_output_only, training_image, notes``

* ``grade`` / ``grade_name``: the grade given (its number, its name as the page shows it,
  :func:`drac_ssl.scale.grade_names_for_people`, marked as the batch table's ``grade`` cell
  marks it, ``No apparent DR (trial run)``, for a bundle whose grades are a model's output, not a
  grading: :func:`app.server.demo_mark`; on every row, as a spreadsheet's sort moves the first); empty for an image not reliably gradable,
  whose grade is in ``model_output_only`` instead (``2 PDR``: the model's output, not a grade
  to read; a trial found a brick texture's row reading class 2 with the flag columns away),
  and for a file not graded.
* ``most_likely_grade``: the grade of the largest probability (``1 NPDR``), which the grade
  given need not be (a bundle that cuts the expected grade at tuned thresholds); every grade
  tied for the largest at whole percentages, joined by ``or`` (``0 Normal or 2 PDR``:
  :func:`most_likely_cell`, the tie rule of the page's "equally likely",
  :func:`drac_ssl.figures.tied_grades`), never one of them picked; empty where ``grade`` is.
* ``P_<name>``: each grade's probability with 3 decimals, the K of a row rounded together so
  that they sum to 1.000 (:func:`drac_ssl.figures.rounded_probabilities`), except that equal
  probabilities read alike, a row's sum then within floor(K/2) thousandths of 1.000 for K grades
  (0.001 for three grades, 0.002 for five). Empty for an
  image not reliably gradable, as the page shows it no percentage (a trial read a brick
  texture's "2 PDR 100%" as a certainty): its probabilities stay, for machines, in the grades
  CSV written beside this file (``submission.csv`` or the name the batch summary gives it,
  ``P0..P{K-1}`` with 6 decimals) and in the single result's details JSON.
* ``not_reliably_gradable``: the reasons, or ``no``; ``model_output_only``: the model's grade
  of an image not reliably gradable, or ``no`` (it was blank, beside columns that say ``no``: an
  accessibility review); ``training_image``: ``yes (same SHA-256)``, ``yes (same decoded
  pixels)`` (another file of a training image's pixels), ``unknown`` (the bundle records no
  hashes) or ``no``; all three empty for a file not graded.
* ``notes``: the table's notes of the file (``NOT GRADED: why`` for a file not graded).

The file is UTF-8 with a byte-order mark (:data:`drac_ssl.io.PEOPLE_CSV_ENCODING`), so that Excel
on a German, French or Chinese Windows reads its names and notes as written.

The bundle's caveat of every grade (phantom-trained, untrained demo, not a medical device ...)
is written once, in a first row whose case is :data:`ABOUT_ROW` and whose notes hold it, not
repeated on every row (a trial: each row carried the same 300 characters; a clinician trial asked
for it first). A spreadsheet sorts it with the rest unless it is left out of the range
(docs/app.md, *The notes CSV*).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from drac_ssl.figures import rounded_probabilities, tied_grades
from drac_ssl.io import PEOPLE_CSV_ENCODING, atomic_write_text
from drac_ssl.submission import (
    PEOPLE_NOTES_COLUMNS,
    UNRELIABLE_COLUMN,
    not_graded_cells,
    spreadsheet_cell,
    training_image_cell,
)

__all__ = ["ABOUT_ROW", "MODEL_OUTPUT_COLUMN", "most_likely_cell", "notes_csv_columns", "probability_columns", "write_grades_for_people"]

ABOUT_ROW = "(about these grades)"
"""The ``case`` of the notes CSV's first row, whose ``notes`` cell holds the bundle's caveat of
every grade of the file (no image file is named so: it has no file extension)."""

MODEL_OUTPUT_COLUMN = "model_output_only"
"""The column of the grade an image not reliably gradable was given by the model (``2 PDR``),
kept apart from ``grade`` so that no one reads it as a grading."""

PROBABILITY_DECIMALS = 3


def probability_columns(grade_names: Sequence[str]) -> list[str]:
    """The P columns named by grade: ``P_Normal, P_NPDR, P_PDR``; ``P_Moderate_NPDR`` (each run of
    characters other than letters, digits and ``_`` as one ``_``); ``P{k}_<name>`` for every
    grade when two names would give one column name (or a name gives none)."""
    safe = [re.sub(r"\W+", "_", str(n)).strip("_") for n in grade_names]
    if len(set(safe)) == len(safe) and all(safe):
        return [f"P_{s}" for s in safe]
    return [f"P{k}_{s}" if s else f"P{k}" for k, s in enumerate(safe)]


def notes_csv_columns(grade_names: Sequence[str]) -> list[str]:
    """The notes CSV's header for ``grade_names`` (the module docstring)."""
    return [*PEOPLE_NOTES_COLUMNS, *probability_columns(grade_names),
            UNRELIABLE_COLUMN, MODEL_OUTPUT_COLUMN, "training_image", "notes"]


def most_likely_cell(probs: Sequence[float], grade_names: Sequence[str]) -> str:
    """The ``most_likely_grade`` cell of one image's ``probs`` ``(K,)``: ``1 NPDR``, or every grade
    tied for the largest at whole percentages (:func:`drac_ssl.figures.tied_grades`), in grade
    order, joined by ``or`` (``0 Normal or 2 PDR``; 1/3 each: ``0 Normal or 1 NPDR or 2 PDR``)."""
    return " or ".join(f"{k} {grade_names[k]}" for k in tied_grades(list(probs)))


def _training_cell(trained: bool | str | None) -> str:
    """The export's ``training_image`` cell (:func:`drac_ssl.submission.training_image_cell`:
    ``yes (same SHA-256)``, ``yes (same decoded pixels)``, ``unknown``), ``no`` in words for
    an empty one (a clinician trial)."""
    return training_image_cell(trained) or "no"


def write_grades_for_people(path: str | os.PathLike[str], files: Sequence[tuple[str, int | None, str]],
                            probs: np.ndarray, classes: np.ndarray, grade_names: Sequence[str],
                            unreliable: Sequence[Sequence[str]], trained: Sequence[bool | str | None],
                            about: str, mark: str = "") -> Path:
    """Write the notes CSV (the module docstring) atomically; its path.

    ``files``: per file, in upload order, ``(case, i, notes)``: ``i`` the row of ``probs``
    ``(n, K)`` and ``classes`` ``(n,)`` of a graded file, None for a file not graded (whose
    ``notes`` say why, ``NOT GRADED: ...``); ``grade_names`` the K names as shown to people;
    ``unreliable`` per file the reasons it is not reliably gradable ([] for none); ``trained`` per
    file whether it is one of the model's training images (None: cannot be told; ``"pixels"``:
    by its decoded pixels alone, :meth:`app.predict.Predictor.training_match`); ``about`` the
    caveat of every grade, the first row's notes ("" for no such row); ``mark`` the bundle's mark
    of every grade (``untrained demo``, ``phantom-trained demo``, ``trial run``:
    :func:`app.server.demo_mark`; "" for none), after each graded row's ``grade_name`` in
    parentheses, as the table's cell says it (a review: in the first row alone, a sort lost it). No cell starts as a
    spreadsheet formula (:func:`drac_ssl.submission.spreadsheet_cell`); the name of a file not
    graded is escaped as in the grades CSVs (:func:`drac_ssl.submission.not_graded_cells`). Raises
    ValueError when ``unreliable`` or ``trained`` is not one per file, or the graded files do
    not name each row of ``probs`` once, or ``probs`` is not ``(n, len(grade_names))``."""
    k = len(grade_names)
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, k) if np.size(probs) else np.zeros((0, k))
    if len(unreliable) != len(files) or len(trained) != len(files):
        raise ValueError(f"{len(unreliable)} not_reliably_gradable and {len(trained)} training_image "
                         f"entries for {len(files)} files: give one of each per file")
    rows = sorted(i for _, i, _ in files if i is not None)
    if rows != list(range(probs.shape[0])) or len(classes) != probs.shape[0]:
        raise ValueError(f"the graded files name rows {rows} of {probs.shape[0]} probabilities and "
                         f"{len(classes)} grades: name each row once")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(notes_csv_columns(grade_names))
    if about:
        writer.writerow([ABOUT_ROW, "", "", "", *[""] * k, "", "", "", spreadsheet_cell(about)])
    for at, (case, i, notes) in enumerate(files):
        if i is None:
            cell, said = not_graded_cells(str(case), str(notes))
            writer.writerow([cell, "", "", "", *[""] * k, "", "", "", said])
            continue
        p = probs[i]
        grade = int(classes[i])
        thousandths = rounded_probabilities(p, 10**PROBABILITY_DECIMALS)
        reasons = "; ".join(unreliable[at])
        name = f"{grade_names[grade]} ({mark})" if mark else grade_names[grade]
        given = [str(grade), name, most_likely_cell(p, grade_names)]
        output = f"{grade} {grade_names[grade]}" if reasons else "no"  # as its neighbours say "no"
        shown = [f"{t / 10**PROBABILITY_DECIMALS:.{PROBABILITY_DECIMALS}f}" for t in thousandths]
        writer.writerow([case, *([""] * 3 if reasons else given), *([""] * k if reasons else shown),
                         spreadsheet_cell(reasons or "no"), output, _training_cell(trained[at]),
                         spreadsheet_cell(str(notes))])
    return atomic_write_text(path, out.getvalue(), PEOPLE_CSV_ENCODING)
