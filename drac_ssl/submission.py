"""The submission file (DRAC 2022 Task 3 format): write it right, and check one before uploading.

Format (docs/drac.md): one CSV, header ``case,class,P0,P1,P2``; ``case`` is the image file
name (``161.png``), ``class`` the submitted integer grade (0 Normal, 1 NPDR, 2 PDR), and
``P0..P2`` the class probabilities, which sum to 1 and which the tie-breaking AUC sees.
Every test image appears exactly once. A scale of K grades (e.g. the 5 ICDR grades of
RetinaMNIST) has the header ``case,class,P0..P{K-1}`` and classes ``0..K-1``; the writer
takes K from the probabilities, the checker from ``num_grades`` or, when not given, from
the file's header: its width when it is ``case,class`` and K columns named P and a number,
even misnumbered (``case,class,P0,P1,P2,P3,P5`` is a 5-grade file whose header is wrong).
When nothing says K (an empty file, another header) the rows are checked as DRAC's 3 grades
and the fixes name ``case,class,P0..P{K-1}`` and ``--grades K``, not DRAC's header alone.

``write_submission`` refuses what would be invalid and writes atomically, so a crashed run
never leaves a half-written file. ``check_submission`` reports every problem of an existing
file as ``FILE:LINE: what is wrong -> how to fix`` (LINE 0 means the file as a whole), and
``python -m drac_ssl.submission --check TEAM.csv --images DIR`` does the same from a shell.
"""

from __future__ import annotations

if __name__ == "__main__":  # Ctrl-C while torch loads: one line, not an import's traceback
    from drac_ssl.starting import quiet_while_starting

    quiet_while_starting("submission")

import csv
import io
import math
import os
import re
import shlex
import sys
import unicodedata
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import numpy as np

from data_prep.labels import workbook_fix, workbook_words
from data_prep.problems import Problem
from drac_ssl import PROB_COLUMNS
from drac_ssl.challenge import DRAC_TEST_IMAGES
from drac_ssl.console import print_lines
from drac_ssl.exit_codes import CHECK_EXIT_CODES, INCOMPLETE_SUBMISSION
from drac_ssl.figures import tied_grades
from drac_ssl.grading.image_notes import IMAGE_SUFFIXES  # the one list of image suffixes
from drac_ssl.io import FORMULA_CELL_STARTS as FORMULA_CELL_STARTS
from drac_ssl.io import PEOPLE_CSV_ENCODING, atomic_write_text

# the one rendering of a name's hidden characters, and the formatting characters a case may hold
from drac_ssl.name_tags import ALLOWED_FORMAT_CHARACTERS as ALLOWED_FORMAT_CHARACTERS
from drac_ssl.name_tags import printable_text as printable_text
from drac_ssl.scale import (
    ScaleFrom,
    default_grade_names,
    grades_count,
    grades_k_said,
    grades_scale_from,
    submission_columns,
)
from drac_ssl.starting import (
    CommandParser,
    add_version_option,
    python_command,
    started,
)

__all__ = ["NOT_GRADED", "SUBMISSION_COLUMNS", "FolderFiles", "ImagesFolderError", "ProblemLines",
           "SubmissionRows", "UNRELIABLE_COLUMN", "check_submission", "class_rule_setting_words", "class_rule_words", "smaller_class_rows", "two_grade_rule_words", "classes_off_rule", "not_largest_rows", "not_graded_cells", "grade_note_counts", "NEAR_TIE_WORDS", "EQUAL_SHOWN_WORDS", "main", "one_hot_words", "is_drac_test_folder", "read_folder", "read_submission",
           "report_check", "write_check_record", "referable_path", "NOT_INFORMATIVE_COLUMN", "read_noted_grade_names",
           "write_image_notes", "write_incomplete_grades", "write_referable",
           "written_probabilities", "completeness_words", "not_drac_words",
           "write_submission", "DRAC_PROB_COLUMNS", "probability_units", "format_units", "is_referable_header", "provenance_path", "provenance_words", "write_grading_provenance", "grading_provenance_record", "GRADING_PROVENANCE_FORMAT", "skipped_record_path", "skipped_without_rows", "SkippedFiles", "SKIPPED_WHY", "not_complete_words",
           "SPREADSHEET_FORMULA_STARTS", "CONTROL_CATEGORIES", "REFUSED_FORMAT_CHARACTERS",
           "ALLOWED_FORMAT_CHARACTERS", "refused_name_character", "broken_link_words", "case_name_problem", "printable_text",
           "CASE_PATH_SEPARATORS", "CASE_SEPARATOR_WHY", "case_file_name",
           "CASE_NAME_KIND", "case_name_problems", "SCORE_COLUMN",
           "safe_case_name", "spreadsheet_cell", "FORMULA_CELL_STARTS", "NEUTRALISED_NAME_WORDS",
           "ESCAPED_NAME_WORDS", "bundle_cell", "grade_name_cell"]

SUBMISSION_COLUMNS = ("case", "class", *PROB_COLUMNS)
"""The DRAC 2022 Task 3 header ``case,class,P0,P1,P2`` (K grades: ``submission_columns(K)``)."""
DRAC_PROB_COLUMNS = SUBMISSION_COLUMNS[2:]
"""DRAC 2022's own probability columns, ``P0,P1,P2``: what the challenge accepts for its test
set (:func:`is_drac_test_folder`). The one name of DRAC's scale that the modules taking K from
the data may read, for that folder only (docs/design.md)."""
WRITE_DECIMALS = 6
RENORMALISE_TOL = 1e-3  # write: rows off by less than this are renormalised, else refused
CHECK_SUM_TOL = 1e-3  # check: rows must sum to 1 within this
MAX_PER_KIND = 20  # check: report at most this many problems of one kind, then a summary


# --------------------------------------------------------------------------- writing


def probability_units(values: Any) -> np.ndarray:
    """Probabilities (any shape; the floats read back from a written 6-decimal cell, or ones
    to write) in millionths: int64 of the same shape, each the whole number nearest
    ``value * 10**WRITE_DECIMALS`` (ties to even, ``np.rint``; a written decimal's units exactly).
    The one conversion of the writer (:func:`written_units`, :func:`write_referable`'s
    ``P_referable``, summed in these units) and of ``export --score``, which reads the export's
    ``_referable.csv`` and sums a submission's columns the same way
    (:func:`drac_ssl.scoring.score`); :func:`format_units` writes them back."""
    return np.rint(np.asarray(values, dtype=np.float64) * 10**WRITE_DECIMALS).astype(np.int64)


def _micro_units(probs: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    """Round ``probs`` ``(n, K)`` (rows summing to 1) to ``WRITE_DECIMALS`` decimals as integers
    that sum to exactly ``10**WRITE_DECIMALS`` per row, the largest unrounded entry staying the
    largest written one (ties only between equal written entries).

    The rounding residual goes to the row's target: the largest unrounded entry (the first of
    equal ones; ``classes`` ``(n,)``, where given, picks among equal largest ones). A residual of
    -m may take the target below an entry it was rounded equal to (a near tie): that entry gives
    the units back, one at a time, until the target is level with it. The target is picked on
    the unrounded entries because rounding makes near ties exact: given to the first largest
    *rounded* entry, ``[0.33333332, 0.33333327, 0.33333341]`` would be written ``0.333334,
    0.333333, 0.333333`` beside ``class`` 2. No entry leaves [0, 1]: the target is
    >= 1/K, and an entry that gives a unit back was rounded up to at least 1."""
    scale = 10**WRITE_DECIMALS
    units = probability_units(probs)
    rows = np.arange(units.shape[0])
    target = probs.argmax(axis=1)
    if classes is not None:
        given = np.asarray(classes, dtype=np.int64)
        target = np.where(probs[rows, given] == probs[rows, target], given, target)
    units[rows, target] += scale - units.sum(axis=1)
    for i in np.flatnonzero(units[rows, target] < units.max(axis=1)):  # a negative residual at a near tie
        row, t = units[i], target[i]
        while row[t] < row.max():
            row[row.argmax()] -= 1
            row[t] += 1
    return units


def written_units(probs: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    """``probs`` ``(n, K)`` as a submission CSV (and ``oof.csv``) writes them, in millionths:
    int64 ``(n, K)``, each row summing to exactly ``10**6`` (:func:`written_probabilities`
    is these over ``10**6``). ``classes`` ``(n,)``: the ``class`` written beside each row, where
    known; at an exact tie of the largest probabilities the rounding remainder goes to it
    (:func:`_micro_units`), so pass the classes :func:`write_submission` was given to read the
    numbers the file holds (without them the remainder goes to the first of the tied ones:
    ``[1/3] * 3`` of class 1 is written ``0.333333,0.333334,0.333333``, but is 333334, 333333,
    333333 here without ``classes``)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    return _micro_units(p / p.sum(axis=1, keepdims=True), classes)


def cut_units(cut: float) -> int:
    """A cut on written probabilities in millionths: a written P (a whole number of
    millionths) is at or above ``cut`` exactly when its units are at or above these
    (``ceil(cut * 10**6)``, a float's last-bit error in ``cut * 10**6`` forgiven, so
    ``0.306`` is 306000, not 306001). A referral cut (``finetune.referral_target``) is stored to
    6 decimals and compared so by the app, the export and the fine-tuning alike."""
    return int(math.ceil(float(cut) * 10**WRITE_DECIMALS - 1e-6))


def written_probabilities(probs: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    """``probs`` ``(n, K)`` (finite, in [0, 1], rows summing to 1 within float rounding) as a
    submission CSV holds them once written, float64 ``(n, K)``: 6 decimals
    (:data:`WRITE_DECIMALS`), each row summing to exactly 1 (:func:`write_submission`'s
    rounding, :func:`_micro_units`), each value the one a reader of the file gets back
    (``float("0.333333")``, the double nearest the written decimal). The fine-tuning writes
    ``oof.csv``'s probabilities so and computes its AUCs from them, so that an AUC recomputed
    from either file (scikit-learn on the columns, ``export --score``) is the one reported: on
    a collapsed model, whose probabilities differ below the 6th decimal, the rounding makes
    ties that move the AUC. ``classes`` ``(n,)``: the grade written beside each row (``oof.csv``'s
    ``pred``, a submission's ``class``); at an exact tie of the largest probabilities the
    rounding remainder goes to it, as :func:`written_units` says, so that the largest written
    P is the written grade's (without them, the first tied grade's)."""
    return written_units(probs, classes) / float(10**WRITE_DECIMALS)


def format_units(units: int) -> str:
    """Millionths (:func:`probability_units`) as a CSV cell writes them: ``306000`` is
    ``0.306000``, ``1000000`` is ``1.000000`` (:data:`WRITE_DECIMALS` decimals, no float
    rounding)."""
    scale = 10**WRITE_DECIMALS
    return f"{units // scale}.{units % scale:0{WRITE_DECIMALS}d}"


def write_submission(
    path: str | os.PathLike[str],
    cases: Sequence[str],
    probs: np.ndarray,
    classes: np.ndarray | None = None,
    num_grades: int = len(PROB_COLUMNS),
) -> Path:
    """Write a challenge submission CSV atomically and return its path.

    Args:
        path: the CSV to write (parent folders are created).
        cases: image file names, one per row, e.g. ``"161.png"``; unique, with a file
            extension, each a name :func:`case_name_problem` accepts (no comma, quote or line
            break, no white space at either end, no spreadsheet formula's first character).
        probs: ``(n, K)`` class probabilities (e.g. temperature-scaled softmax outputs),
            ``K = num_grades``; the header is ``case,class,P0..P{K-1}``. Must be finite
            and in [0, 1]; rows must sum to 1: rows off by less than 1e-3 (float32
            rounding) are renormalised, larger deviations are refused.
        classes: ``(n,)`` submitted grades in ``0..K-1``, e.g. thresholded expected grades;
            default ``argmax(probs)``. They need not equal the argmax.
        num_grades: K, the size of the grading scale (default 3, DRAC's; pass the data's
            K, e.g. 5 for the ICDR scale: a file of another width is refused, not guessed).

    Probabilities are written with 6 decimals, rounded so that each written row sums to
    exactly 1. One-hot rows are accepted but make the tie-breaking AUC meaningless, so a
    file of only one-hot rows triggers a UserWarning. Raises ValueError, with what is wrong
    and how to fix it, for anything that would make the file invalid.
    """
    names, grades, units = _valid_rows(cases, probs, classes, num_grades)
    out = io.StringIO()
    out.write(",".join(submission_columns(int(num_grades))) + "\n")
    for name, grade, row in zip(names, grades, units, strict=True):
        out.write(f"{name},{int(grade)}," + ",".join(format_units(int(u)) for u in row) + "\n")
    return atomic_write_text(path, out.getvalue())


REFERABLE_COLUMNS = ("case", "P_referable", "referable")
"""The columns of :func:`write_referable`'s file."""

NOT_INFORMATIVE_COLUMN = "not_informative"
"""The fourth column :func:`write_referable` adds for a model whose P(referable) carries no
information (:func:`drac_ssl.grading.bundle.referable_not_informative`): its reason on every
row, as the app leaves the figure out and says why."""


def referable_path(submission: str | os.PathLike[str]) -> Path:
    """Where :func:`write_referable` writes beside the submission ``submission``:
    ``submission.csv`` -> ``submission_referable.csv`` (the stem with ``_referable``)."""
    submission = Path(submission)
    return submission.with_name(f"{submission.stem}_referable.csv")


def write_referable(submission: str | os.PathLike[str], from_grade: int,
                    out: str | os.PathLike[str] | None = None, not_informative: str = "",
                    cut: float | None = None) -> Path:
    """Write ``case,P_referable,referable`` beside a written submission (default
    :func:`referable_path`) and return its path.

    ``P_referable`` is ``P_r + ... + P_{K-1}`` of the submission's written probabilities
    (``r = from_grade``), summed exactly in their 6-decimal units, so it is the sum of what
    the file says; ``referable`` is 1 when the written ``class`` is ``>= r``, else 0 (the
    submission's own decision, not a cut of ``P_referable``), or, with ``cut`` (a bundle's
    referral cut, ``finetune.referral_target``), 1 when that written ``P_referable`` is at or
    above ``cut``. Rows in the submission's order.
    ``not_informative``: why ``P_referable`` carries no information (its referable AUC's 95% CI not above 0.5, or not recorded:
    :func:`drac_ssl.grading.bundle.referable_not_informative`), "" when it may; when given,
    a fourth column, :data:`NOT_INFORMATIVE_COLUMN`, says it on every row (the figures are
    kept, not dropped: a reader of any row sees the caveat beside them).

    Raises:
        ValueError: ``from_grade`` outside ``1 .. K-1`` for the submission's K grades, or the
            file is not a submission (``case,class,P0..P{K-1}``).
    """
    submission = Path(submission)
    with open(submission, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        rows = list(reader)
    k = len(header) - 2
    if k < 2 or list(header) != list(submission_columns(k)):
        raise ValueError(f"{submission}: not a submission (header {','.join(header)}; expected "
                         f"case,class,P0,P1,... with one P column per grade)")
    r = int(from_grade)
    if not 1 <= r <= k - 1:
        raise ValueError(f"{submission}: a referable cut at grade {r} is outside 1..{k - 1} on its "
                         f"{k} grades")
    out_text = io.StringIO()
    writer = csv.writer(out_text, lineterminator="\n")
    writer.writerow([*REFERABLE_COLUMNS, *([NOT_INFORMATIVE_COLUMN] if not_informative else [])])
    for row in rows:
        units = int(probability_units([float(v) for v in row[2 + r:2 + k]]).sum())
        referred = int(int(row[1]) >= r) if cut is None else int(units >= cut_units(cut))
        writer.writerow([row[0], format_units(units), referred,
                         *([not_informative] if not_informative else [])])
    return atomic_write_text(referable_path(submission) if out is None else out, out_text.getvalue())


UNRELIABLE_COLUMN = "not_reliably_gradable"
"""The column of the reasons a graded image is not reliably gradable, empty when it is: in the
export's notes file (:func:`write_image_notes`), the app's ``grades_with_notes.csv``
(:mod:`app.batch_csv`) and that file's older format, which ``--check`` still names."""

TRAINING_IMAGE_COLUMN = "training_image"
"""The column that marks a graded file the model was trained on (:data:`TRAINING_IMAGE_MARK`):
in the export's notes file and the app's ``grades_with_notes.csv``."""

BUNDLE_COLUMN = "bundle"
"""The column of the export's notes file that names the bundle that graded (:func:`bundle_cell`)."""

PRETRAINING_IMAGE_COLUMN = "pretraining_image"
"""The column of the export's notes file that marks a graded file the self-supervised
pretraining of the model's backbone read without its grade (:func:`pretraining_image_cell`):
a score of it is transductive (``--score`` reads it, :func:`read_pretraining_notes`)."""

GRADE_NAME_COLUMN = "grade_name"
"""The column of the export's notes file that names each row's grade (``class``) in the bundle's
own grade names (:attr:`drac_ssl.grading.bundle.Bundle.grade_names`): the submission beside it
keeps DRAC's ``case,class,P0..P{K-1}``, numbers only (a trial: an OCTA researcher's own names,
none / non-proliferative / proliferative, were found only in the free text of ``grade_note``)."""

SCORE_COLUMN = "score"
"""The column of the export's notes file that gives each row's score, the number the bundle's
thresholds cut into its ``class`` (:attr:`drac_ssl.grading.predict.GradedImages.score`: the
expected grade ``sum_k k * P_k`` of a classification head, the output of a regression head),
with 6 decimals, so that the grades can be cut again at other thresholds: the submission's
format is fixed, and a Kaggle file (``id_code,diagnosis``) has no probabilities at all."""

SIZE_NOTE_COLUMN = "size_note"
"""The column of the export's notes file that says a graded file whose shorter side is not the
one every training image had (:func:`drac_ssl.grading.predict.training_side_note`: ``size
512x512, shorter side 512 px, not the 1024 px of every training image``), empty otherwise: the
export prints one warning counting them, and this column names each."""

IMAGE_NOTES_COLUMNS = ("case", "class", UNRELIABLE_COLUMN, TRAINING_IMAGE_COLUMN, "grade_note", BUNDLE_COLUMN,
                       PRETRAINING_IMAGE_COLUMN, GRADE_NAME_COLUMN, SCORE_COLUMN, SIZE_NOTE_COLUMN)
"""The columns of :func:`write_image_notes`'s file (each added column goes last, so that the
earlier versions' headers are its first columns)."""

IMAGE_NOTES_COLUMNS_BEFORE_SIZE_NOTE = IMAGE_NOTES_COLUMNS[:9]
"""The columns of a notes file written before ``size_note`` (every reader reads it)."""

IMAGE_NOTES_COLUMNS_BEFORE_SCORE = IMAGE_NOTES_COLUMNS[:8]
"""The columns of a notes file written before ``score`` (:func:`read_image_notes` and
:func:`read_pretraining_notes` read it)."""

IMAGE_NOTES_COLUMNS_BEFORE_GRADE_NAME = IMAGE_NOTES_COLUMNS[:7]
"""The columns of a notes file written before ``grade_name`` (:func:`read_image_notes` and
:func:`read_pretraining_notes` read it)."""

IMAGE_NOTES_COLUMNS_BEFORE_PRETRAINING = IMAGE_NOTES_COLUMNS[:6]
"""The columns of a notes file written before ``pretraining_image`` (:func:`read_image_notes` reads it)."""

IMAGE_NOTES_COLUMNS_BEFORE = IMAGE_NOTES_COLUMNS[:4]
"""The columns of a notes file written before ``grade_note`` (:func:`read_image_notes` reads it)."""

IMAGE_NOTES_COLUMNS_BEFORE_BUNDLE = IMAGE_NOTES_COLUMNS[:5]
"""The columns of a notes file written before ``bundle`` (:func:`read_image_notes` reads it)."""

IMAGE_NOTES_HEADERS = (IMAGE_NOTES_COLUMNS, IMAGE_NOTES_COLUMNS_BEFORE_SIZE_NOTE, IMAGE_NOTES_COLUMNS_BEFORE_SCORE, IMAGE_NOTES_COLUMNS_BEFORE_GRADE_NAME,
                       IMAGE_NOTES_COLUMNS_BEFORE_PRETRAINING, IMAGE_NOTES_COLUMNS_BEFORE_BUNDLE,
                       IMAGE_NOTES_COLUMNS_BEFORE)
"""Every header the export's notes file was written with, this version's first."""


def bundle_cell(identity: Mapping[str, Any] | None) -> str:
    """The notes file's ``bundle`` cell: which bundle graded, from
    :attr:`drac_ssl.grading.bundle.Bundle.identity` (the identity the app's results carry,
    ``details["bundle"]``), its keys as they are there:
    ``metadata_sha256=3f2a9c41d0be; variant=vicreg_umm; created_utc=2026-12-05T09:14:03Z``
    (``metadata_sha256``: the first 12 hex digits of ``sha256sum bundle/metadata.json``, which
    records every weights file's SHA-256 and the calibration; a value not known: ``unknown``).
    "" for None (a caller that names no bundle)."""
    if identity is None:
        return ""
    return "; ".join(f"{key}={'unknown' if value is None else value}"
                     for key, value in (("metadata_sha256", identity.get("metadata_sha256")),
                                        ("variant", identity.get("variant")),
                                        ("created_utc", identity.get("created_utc"))))

TRAINING_IMAGE_MARK = "yes (same SHA-256)"
"""The ``training_image`` cell of a graded file the model was trained on (its file's hash listed)."""

TRAINING_IMAGE_PIXELS_MARK = "yes (same decoded pixels)"
"""The ``training_image`` cell of a graded file whose decoded pixels' hash, not its file's, is
among the model's training images (a PNG of a training row of an ``.npz``, a copy saved again:
:data:`drac_ssl.grading.training_images.BY_PIXELS`)."""

PIXELS_MARK_WORDS = "same decoded pixels"
"""What a ``training_image`` or ``pretraining_image`` cell of a match by decoded pixels alone says."""

TRAINING_IMAGE_UNKNOWN = "unknown"
"""The ``training_image`` cell of a graded file when it cannot be told whether the model was
trained on it: the bundle records no training-image hashes (built before them), or the file's
hash could not be read. An empty cell says it was not (known); this one must not read as that."""


def training_image_cell(trained: bool | str | None) -> str:
    """The ``training_image`` cell of a graded file: :data:`TRAINING_IMAGE_MARK` (True: its
    file's hash), :data:`TRAINING_IMAGE_PIXELS_MARK` (``"pixels"``,
    :data:`drac_ssl.grading.training_images.BY_PIXELS`: its decoded pixels' alone, as
    :func:`drac_ssl.grading.training_images.training_match` says),
    :data:`TRAINING_IMAGE_UNKNOWN` (None: cannot be told) or empty (False: not a training image)."""
    if trained is None:
        return TRAINING_IMAGE_UNKNOWN
    return TRAINING_IMAGE_PIXELS_MARK if trained == "pixels" else TRAINING_IMAGE_MARK if trained else ""


PRETRAINING_SPLIT_WORDS = {"test": "a test image", "unlabelled": "a data.unlabelled image"}
"""How a ``pretraining_image`` cell names the split a matched file was read from
(:data:`drac_ssl.grading.training_images.PRETRAINING_SPLITS`)."""


PRETRAINING_OUTSIDE_MARK = "unknown (outside starting weights"
"""How a ``pretraining_image`` cell starts for a graded file that is none of the run's images
the pretraining read when that pretraining started from outside weights (``initial_weights``:
``pretrain.backbone.weights``, an outside ``umm.source``), whose own training images are not
known: ``unknown (outside starting weights: pretrain.backbone.weights /w/imagenet.safetensors)``
(:func:`pretraining_image_cell`); ``--score`` reads it back (:func:`pretraining_cell_outside`)
and hedges its figure as ``RUN --images`` does."""


def pretraining_image_cell(splits: Sequence[str] | None, outside: str = "", by_pixels: bool = False) -> str:
    """The ``pretraining_image`` cell of a graded file: ``yes (same SHA-256 as a test image)``,
    ``yes (same SHA-256 as a data.unlabelled image)``, both joined by ``and``, or ``yes (same
    SHA-256)`` for a split not known (``"either"``), from the splits whose pretraining lists
    hold its hash (:func:`drac_ssl.grading.training_images.splits_of`); empty for none ([]:
    not read by the pretraining); :data:`TRAINING_IMAGE_UNKNOWN` for None (cannot be told: the
    bundle records no list, the file cannot be read); for [] with ``outside`` (the outside
    weights the pretraining started from, in words), :data:`PRETRAINING_OUTSIDE_MARK`
    ``: <outside>)``: not among the run's images, but those weights' own are not known.
    ``by_pixels``: matched by its decoded pixels alone (a PNG of an ``.npz`` row): ``yes (same
    decoded pixels as a test image)``."""
    if splits is None:
        return TRAINING_IMAGE_UNKNOWN
    if not splits:
        return f"{PRETRAINING_OUTSIDE_MARK}: {outside})" if outside else ""
    same = PIXELS_MARK_WORDS if by_pixels else "same SHA-256"
    words = [PRETRAINING_SPLIT_WORDS[s] for s in PRETRAINING_SPLIT_WORDS if s in splits]
    return f"yes ({same} as {' and '.join(words)})" if words and "either" not in splits else f"yes ({same})"


def pretraining_cell_splits(cell: str) -> list[str] | None:
    """The splits a ``pretraining_image`` cell (:func:`pretraining_image_cell`) names: [] for
    an empty cell and a :data:`PRETRAINING_OUTSIDE_MARK` one (none of the run's images:
    :func:`pretraining_cell_outside` says the rest), None for :data:`TRAINING_IMAGE_UNKNOWN`,
    ``["either"]`` for a mark that names no split (``yes (same SHA-256)``, a cell edited by hand)."""
    text = cell.strip().lower()
    if not text or pretraining_cell_outside(cell):
        return []
    if text == TRAINING_IMAGE_UNKNOWN:
        return None
    named = [split for split, words in PRETRAINING_SPLIT_WORDS.items() if words in text]
    return named or ["either"]


def pretraining_cell_outside(cell: str) -> str:
    """The outside starting weights a ``pretraining_image`` cell names
    (:data:`PRETRAINING_OUTSIDE_MARK`, :func:`pretraining_image_cell`), "" for any other cell."""
    text = cell.strip()
    if not text.lower().startswith(PRETRAINING_OUTSIDE_MARK):
        return ""
    rest = text[len(PRETRAINING_OUTSIDE_MARK):].lstrip(":").strip()
    return (rest[:-1] if rest.endswith(")") else rest).strip() or "not named"


def image_notes_path(submission: str | os.PathLike[str]) -> Path:
    """Where the export writes what it said of each graded image beside the submission
    ``submission``: ``new_grades.csv`` -> ``new_grades_notes.csv`` (:func:`write_image_notes`)."""
    submission = Path(submission)
    return submission.with_name(f"{submission.stem}_notes.csv")


GRADING_PROVENANCE_FORMAT = "drac_ssl grading provenance v1"
"""The ``format`` of the export's grading provenance record (:func:`provenance_path`,
:meth:`drac_ssl.grading.bundle.Bundle.grading_provenance`); ``drac_ssl.out_paths`` replaces an
existing ``<stem>_provenance.json`` only when it carries this."""


def provenance_path(submission: str | os.PathLike[str]) -> Path:
    """Where the export writes which model graded the submission ``submission`` and how
    (:meth:`drac_ssl.grading.bundle.Bundle.grading_provenance`, always, one JSON object):
    ``grades.csv`` -> ``grades_provenance.json`` beside it (the stem with ``_provenance``). The
    submission keeps DRAC's ``case,class,P0..`` format: its model identity lives here."""
    submission = Path(submission)
    return submission.with_name(f"{submission.stem}_provenance.json")


def grading_provenance_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The export's grading provenance record in ``path`` (a JSON object whose ``format`` is
    :data:`GRADING_PROVENANCE_FORMAT`), None when the file is missing, unreadable, not JSON or
    another object (a JSON file of the user's own of that name): the one recogniser of the
    sidecar, for ``export --check`` (:func:`provenance_words`) and the rule that lets the
    export replace an earlier export's (:mod:`drac_ssl.out_paths`). Never raises."""
    from drac_ssl.io import read_json_dict  # noqa: PLC0415

    record = read_json_dict(path)
    return record if record is not None and record.get("format") == GRADING_PROVENANCE_FORMAT else None


def write_grading_provenance(path: str | os.PathLike[str], record: dict[str, Any],
                             csv_path: str | os.PathLike[str], csv_name: str | None = None) -> Path:
    """Write the grading provenance ``record`` (:meth:`drac_ssl.grading.bundle.Bundle.grading_provenance`)
    to ``path`` (JSON, atomically), tied to the CSV at ``csv_path``: ``submission`` = ``{"file":
    csv_name or its name, "sha256": the SHA-256 of its bytes now}``, which ``export --check``
    compares (:func:`provenance_words`). The one writer of the sidecar: the export's (``path``
    its hidden name, ``csv_path`` the checked CSV under its hidden name, ``csv_name`` the name
    it is renamed to) and the app batch's (:func:`provenance_path` of the CSV it offers).
    Returns ``path``. Raises OSError when the CSV cannot be read or ``path`` written."""
    from drac_ssl.io import atomic_write_json, sha256_file  # noqa: PLC0415

    csv_path = Path(csv_path)
    return atomic_write_json(path, {**record, "submission": {"file": csv_name or csv_path.name,
                                                             "sha256": sha256_file(csv_path)}})


def provenance_words(csv_path: str | os.PathLike[str], csv_sha256: str | None = None) -> str | None:
    """What ``export --check`` says of the grading provenance beside the submission
    ``csv_path`` (:func:`provenance_path`), one line for stderr, or None when it names this very
    file or there is none (``--check`` is DRAC's format check, run on CSVs made by any tool: a
    missing drac_ssl record is no finding there); ``note:`` when it records no SHA-256 of its
    CSV (written before it did); ``warning:`` when it is no grading provenance (not JSON, another
    ``format``) or records another file (its ``submission.sha256`` is not this CSV's: an
    earlier or another export's record, not this file's). ``csv_sha256``: the file's SHA-256
    when already known (else read). Never raises for a file it cannot read: the check says that."""
    from drac_ssl.io import sha256_file  # noqa: PLC0415

    csv_path = Path(csv_path)
    sidecar = provenance_path(csv_path)
    if not sidecar.is_file():  # a CSV of another tool, or copied alone: not this check's business
        return None
    record = grading_provenance_record(sidecar)
    if record is None:
        return (f"warning: {sidecar} is not the export's grading provenance (not a JSON object of "
                f"format {GRADING_PROVENANCE_FORMAT!r}): nothing here says which model graded {csv_path.name}")
    sub = record.get("submission") if isinstance(record.get("submission"), dict) else {}
    recorded = sub.get("sha256")
    if not isinstance(recorded, str) or not recorded:
        return (f"note: {sidecar} records no SHA-256 of its CSV (written before it did): it may "
                f"describe another file than {csv_path.name}")
    try:
        got = csv_sha256 or sha256_file(csv_path)
    except OSError:
        return None
    if got != recorded.lower():
        return (f"warning: {sidecar} records another CSV ({sub.get('file')}, SHA-256 {recorded[:12]}...; "
                f"this file's is {got[:12]}...): it does not say which model graded this file (the CSV "
                f"was edited, or the record is an earlier export's); fix: export again to write both "
                f"together, or keep each CSV with its own record")
    return None


def skipped_record_path(out: str | os.PathLike[str]) -> Path:
    """Where the export's ``--skip-unreadable`` writes its record of the skipped files for the
    CSV ``out`` (``python -m drac_ssl.export``), and where :func:`report_check` reads it:
    beside it, ``grades.csv`` -> ``grades.skipped.json``. Only a ``.csv`` suffix is replaced:
    ``sub.v1`` -> ``sub.v1.skipped.json``, so ``sub.v1`` and ``sub.v2`` keep records of their own."""
    out = Path(out)
    if out.suffix.lower() == ".csv":
        return out.with_suffix(".skipped.json")
    return out.with_name(out.name + ".skipped.json")


def grade_name_cell(name: str) -> str:
    """A grade's name as the notes file's ``grade_name`` cell: its control characters escaped
    (:func:`printable_text`: a carriage return, which Python's CSV writer does not quote, would
    cut the row in two), then a ``'`` before a first character a spreadsheet reads as a formula
    (:func:`spreadsheet_cell`: ``-`` in ``-1 worse`` or ``=HYPERLINK(...)``), as the other
    cells of free text are written. The names are the user's (``data.grades``); the one reader of
    this column, :func:`read_noted_grade_names` (``export --score`` without RUN), takes a name
    back only where this left it as it was."""
    return spreadsheet_cell(printable_text(str(name)))


def write_image_notes(path: str | os.PathLike[str], cases: Sequence[str], classes: Sequence[int],
                      reasons: Sequence[Sequence[str]], trained: Sequence[bool | None],
                      grade_notes: Sequence[str] | None = None,
                      bundle: Mapping[str, Any] | None = None,
                      pretrained: Sequence[Sequence[str] | None] | None = None, outside: str = "",
                      grade_names: Sequence[str] | None = None,
                      scores: Sequence[float] | None = None,
                      pretrained_by_pixels: Sequence[bool] | None = None,
                      size_notes: Sequence[str] | None = None) -> Path:
    """Write ``case,class,not_reliably_gradable,training_image,grade_note,bundle,pretraining_image,grade_name,score,size_note``
    atomically, one row
    per graded case in the submission's order: ``class`` its written grade,
    ``not_reliably_gradable`` the reasons its grade is not reliably gradable joined by ``"; "``
    (:func:`drac_ssl.grading.image_notes.flagged_reasons`, e.g. ``unlike the training images;
    a grey picture for a colour model``), empty when clean, ``training_image``
    (:func:`training_image_cell` of ``trained``): :data:`TRAINING_IMAGE_MARK` for a file the model
    was trained on, :data:`TRAINING_IMAGE_PIXELS_MARK` for one whose decoded pixels alone are a
    training image's (``"pixels"``), :data:`TRAINING_IMAGE_UNKNOWN` when that cannot be told (None: a bundle that
    records no training-image hashes), else empty, and
    ``grade_note`` (``grade_notes``, one per case; None: all empty) why the class is not the
    single most likely grade (:func:`drac_ssl.grading.image_notes.decision_words`), else empty,
    and ``bundle`` the bundle that graded, the same on every row (:func:`bundle_cell` of
    ``bundle``, :attr:`drac_ssl.grading.bundle.Bundle.identity`; None: empty), so that a reader
    of the file alone can tell which model graded the batch, and ``pretraining_image``
    (:func:`pretraining_image_cell` of ``pretrained``, one per case: the splits of the images
    the backbone's pretraining read whose hash the file has, said ``same decoded pixels`` where
    ``pretrained_by_pixels`` (one per case; None: none) says the match was by its pixels alone; None: all
    :data:`TRAINING_IMAGE_UNKNOWN`; ``outside``: the outside weights the pretraining started
    from, marked on the files none of the run's images, :data:`PRETRAINING_OUTSIDE_MARK`), so
    that ``--score`` of the submission says a transductive figure, or its doubt, without the run,
    and ``grade_name`` (:data:`GRADE_NAME_COLUMN`) the name of ``class`` in ``grade_names`` (the
    bundle's, grade 0 first; None: empty on every row), made safe for a spreadsheet
    (:func:`grade_name_cell`: the names are the user's config), and ``score``
    (:data:`SCORE_COLUMN`, ``scores``, one per case, 6 decimals; None: empty on every row) the
    number the bundle's thresholds cut into ``class``, and ``size_note`` (:data:`SIZE_NOTE_COLUMN`,
    ``size_notes``, one per case; None: empty on every row). Every row is a graded image (the files
    not graded have none). Not a submission; the export writes it beside one
    (:func:`image_notes_path`) when some image is flagged, was a training or pretraining image or
    has a grade note. Written in :data:`drac_ssl.io.PEOPLE_CSV_ENCODING` (UTF-8 with a byte-order
    mark, for Excel; the submission beside it has none). ValueError for sequences of different
    lengths, or a class with no name in ``grade_names``."""
    by_pixels = [False] * len(cases) if pretrained_by_pixels is None else list(pretrained_by_pixels)
    if len(by_pixels) != len(cases):
        raise ValueError(f"{len(cases)} cases and {len(by_pixels)} pretrained_by_pixels marks: give one per case")
    notes = [""] * len(cases) if grade_notes is None else list(grade_notes)
    seen_before = [None] * len(cases) if pretrained is None else list(pretrained)
    cut_from = [None] * len(cases) if scores is None else [float(v) for v in scores]
    sized = [""] * len(cases) if size_notes is None else [str(v) for v in size_notes]
    if not len(cases) == len(classes) == len(reasons) == len(trained) == len(notes) == len(seen_before) \
            == len(cut_from) == len(sized):
        raise ValueError(f"{len(cases)} cases, {len(classes)} classes, {len(reasons)} reasons, "
                         f"{len(trained)} training marks, {len(notes)} grade notes, "
                         f"{len(seen_before)} pretraining marks, {len(cut_from)} scores and "
                         f"{len(sized)} size notes: give one of each per case")
    names = list(grade_names) if grade_names is not None else None
    if names is not None:
        unnamed = sorted({int(grade) for grade in classes if not 0 <= int(grade) < len(names)})
        if unnamed:
            raise ValueError(f"class {', '.join(map(str, unnamed))} has no name among the {len(names)} grade "
                             f"names ({', '.join(names)}): give the bundle's grade names, grade 0 first")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(IMAGE_NOTES_COLUMNS)
    which = bundle_cell(bundle)
    for case, grade, why, seen, note, read, cut, pixels, size in zip(
            cases, classes, reasons, trained, notes, seen_before, cut_from, by_pixels, sized, strict=True):
        writer.writerow([case, int(grade), "; ".join(why), training_image_cell(seen), note, which,
                         pretraining_image_cell(read, outside, pixels),
                         grade_name_cell(names[int(grade)]) if names is not None else "",
                         "" if cut is None else f"{cut:.{WRITE_DECIMALS}f}", size])
    return atomic_write_text(path, out.getvalue(), PEOPLE_CSV_ENCODING)


def _image_notes_rows(path: str | os.PathLike[str],
                      headers: Sequence[tuple[str, ...]]) -> list[list[str]] | None:
    """The rows after the header of :func:`write_image_notes`'s file ``path`` when its header
    is one of ``headers``; None when there is no such file, it cannot be read (OSError, not
    UTF-8, malformed CSV anywhere in it) or its header is another. The one reader of
    :func:`read_image_notes` and :func:`read_pretraining_notes`."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            if tuple(next(reader, [])) not in headers:
                return None
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def read_image_notes(path: str | os.PathLike[str]) -> dict[str, tuple[str, bool]] | None:
    """:func:`write_image_notes`'s file: case -> (reasons, a training image: a non-empty
    ``training_image`` cell other than :data:`TRAINING_IMAGE_UNKNOWN`); None when there
    is no such file, it cannot be read or its header is none of :data:`IMAGE_NOTES_HEADERS`
    (this version's and earlier versions': without ``score``, without ``grade_name``, without ``pretraining_image``,
    without ``bundle``, without ``grade_note``)."""
    rows = _image_notes_rows(path, IMAGE_NOTES_HEADERS)
    if rows is None:
        return None
    return {row[0]: (row[2], row[3].strip().lower() not in ("", TRAINING_IMAGE_UNKNOWN))
            for row in rows if len(row) >= 4}


def read_pixel_marks(path: str | os.PathLike[str], column: str = TRAINING_IMAGE_COLUMN) -> set[str]:
    """The cases whose ``column`` cell (``training_image``, or ``pretraining_image``) in
    :func:`write_image_notes`'s file ``path`` says a match by decoded pixels alone
    (:data:`PIXELS_MARK_WORDS`: :data:`TRAINING_IMAGE_PIXELS_MARK`, ``yes (same decoded pixels as
    a test image)``); empty when none, or when no such file or column is read there."""
    rows = _image_notes_rows(path, IMAGE_NOTES_HEADERS)
    if not rows or column not in IMAGE_NOTES_COLUMNS:
        return set()
    at = IMAGE_NOTES_COLUMNS.index(column)  # every header keeps the columns before its last ones
    return {row[0] for row in rows if len(row) > at and PIXELS_MARK_WORDS in row[at].lower()}


def read_not_training_images(path: str | os.PathLike[str]) -> set[str]:
    """The cases :func:`write_image_notes`'s file ``path`` marks as not a training image of the
    model that graded them (an empty ``training_image`` cell: checked, not listed; never
    :data:`TRAINING_IMAGE_UNKNOWN`); an empty set when there is no such file or it cannot be read."""
    rows = _image_notes_rows(path, IMAGE_NOTES_HEADERS) or []
    return {row[0] for row in rows if len(row) >= 4 and not row[3].strip()}


def read_pretraining_notes(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]] | None:
    """The ``pretraining_image`` and ``bundle`` columns of :func:`write_image_notes`'s file:
    case -> ``{"splits": pretraining_cell_splits(cell), "bundle": the bundle cell, "outside":
    pretraining_cell_outside(cell)}``; None when
    there is no such file, it cannot be read or its header is none of :data:`IMAGE_NOTES_COLUMNS`,
    :data:`IMAGE_NOTES_COLUMNS_BEFORE_SIZE_NOTE`, :data:`IMAGE_NOTES_COLUMNS_BEFORE_SCORE` and
    :data:`IMAGE_NOTES_COLUMNS_BEFORE_GRADE_NAME` (a file written before ``pretraining_image``
    tells nothing of it)."""
    rows = _image_notes_rows(path, (IMAGE_NOTES_COLUMNS, IMAGE_NOTES_COLUMNS_BEFORE_SIZE_NOTE,
                                    IMAGE_NOTES_COLUMNS_BEFORE_SCORE, IMAGE_NOTES_COLUMNS_BEFORE_GRADE_NAME))
    if rows is None:
        return None
    at = IMAGE_NOTES_COLUMNS.index(PRETRAINING_IMAGE_COLUMN)
    which = IMAGE_NOTES_COLUMNS.index(BUNDLE_COLUMN)
    return {row[0]: {"splits": pretraining_cell_splits(row[at]), "bundle": row[which],
                     "outside": pretraining_cell_outside(row[at])}
            for row in rows if len(row) > at}


def read_noted_grade_names(path: str | os.PathLike[str]) -> tuple[str, ...] | None:
    """The bundle's grade names, grade 0 first, read back from the ``grade_name`` column of
    :func:`write_image_notes`'s file ``path``, or None unless the file is clean: this version's
    header (:data:`IMAGE_NOTES_COLUMNS`) or the one before its size note
    (:data:`IMAGE_NOTES_COLUMNS_BEFORE_SIZE_NOTE`), every row's ``class`` a whole number with a name, one
    name per class and one class per name, one ``bundle`` cell on every row (one model), and
    every grade from 0 to the highest class named. A grade no image was given has no name there
    (then None), nor does a name the writer changed (:func:`grade_name_cell`: ``'`` before a
    formula character, escaped control characters), which cannot be read back as it was."""
    rows = _image_notes_rows(path, (IMAGE_NOTES_COLUMNS, IMAGE_NOTES_COLUMNS_BEFORE_SIZE_NOTE))
    if not rows:
        return None
    at, which = IMAGE_NOTES_COLUMNS.index(GRADE_NAME_COLUMN), IMAGE_NOTES_COLUMNS.index(BUNDLE_COLUMN)
    named: dict[int, str] = {}
    bundles = set()
    for row in rows:
        if len(row) <= at or not row[1].strip().isdigit():
            return None
        grade, name = int(row[1]), row[at]
        if not name.strip() or grade_name_cell(name) != name or name.startswith("'") or "\\" in name:
            return None
        if named.setdefault(grade, name) != name:
            return None
        bundles.add(row[which])
    if (len(bundles) != 1 or len(named) < 2 or sorted(named) != list(range(max(named) + 1))
            or len(set(named.values())) != len(named)):
        return None
    return tuple(named[g] for g in range(len(named)))


def read_noted_classes(path: str | os.PathLike[str]) -> dict[str, str] | None:
    """case -> ``class`` cell (stripped) of each row of :func:`write_image_notes`'s file
    ``path`` (this version's header, :data:`IMAGE_NOTES_COLUMNS`, or the one before its size
    note, :data:`IMAGE_NOTES_COLUMNS_BEFORE_SIZE_NOTE`); None when there is no such
    file or it cannot be read. What :func:`drac_ssl.scoring.notes_grade_names` compares with
    the submission before it reads its labels by the notes' names."""
    rows = _image_notes_rows(path, (IMAGE_NOTES_COLUMNS, IMAGE_NOTES_COLUMNS_BEFORE_SIZE_NOTE))
    if rows is None:
        return None
    return {row[0]: row[1].strip() for row in rows if len(row) >= 2}


def bundle_cell_fields(cell: str) -> dict[str, str]:
    """:func:`bundle_cell`'s ``key=value; ...`` read back (``{"variant": "vicreg", ...}``);
    a part without ``=`` is left out."""
    return {key.strip(): value.strip() for part in cell.split(";") if "=" in part
            for key, value in [part.split("=", 1)]}


NOT_GRADED = "NOT GRADED: "
"""How the notes cell of a file not graded starts (:func:`write_incomplete_grades`)."""

# FORMULA_CELL_STARTS (drac_ssl.io's, imported above): the first characters that make a
# spreadsheet read a CSV cell as a formula: SPREADSHEET_FORMULA_STARTS, a tab, a carriage return.

NEUTRALISED_NAME_WORDS = ("its name is written here with a ' before it, so that a spreadsheet "
                          "does not read it as a formula; the file's own name has no '")
"""What the notes cell of a file not graded says when its name cell was neutralised
(:func:`spreadsheet_cell`)."""


def spreadsheet_cell(text: str) -> str:
    """``text`` as a cell a spreadsheet shows as text: a ``'`` before a first character of
    :data:`FORMULA_CELL_STARTS` (``=HYPERLINK(1)&A1.png`` -> ``'=HYPERLINK(1)&A1.png``, OWASP's
    advice against CSV injection), else ``text`` unchanged. For the cells that are no case of
    a submission (the name of a file not graded, a notes cell): a case is never altered, and a
    name that would need it is refused instead (:func:`case_name_problem`)."""
    return f"'{text}" if text[:1] in FORMULA_CELL_STARTS else text


ESCAPED_NAME_WORDS = ("its name's control characters (a tab, a line break ...) are written here "
                      "as escapes such as \\r")
"""What the notes cell of a file not graded says when its name held control characters
(:func:`not_graded_cells`)."""


def not_graded_cells(name: str, notes: str) -> tuple[str, str]:
    """The name and notes cells of a file not graded (the grades CSVs here and the app's notes
    CSV, :mod:`app.batch_csv`), which may hold any name (it was refused
    as a case): control characters escaped (:func:`printable_text`: a carriage return, which
    Python's CSV writer does not quote, would cut the row in two), then made safe for a
    spreadsheet (:func:`spreadsheet_cell`), the notes saying what was done to the name
    (:data:`ESCAPED_NAME_WORDS`, :data:`NEUTRALISED_NAME_WORDS`)."""
    shown = printable_text(name)
    cell = spreadsheet_cell(shown)
    said = [ESCAPED_NAME_WORDS] * (shown != name) + [NEUTRALISED_NAME_WORDS] * (cell != shown)
    notes = printable_text(notes)
    if said:
        notes = f"{notes.rstrip()} ({'; '.join(said)})"
    return cell, spreadsheet_cell(notes)


def write_incomplete_grades(
    path: str | os.PathLike[str],
    cases: Sequence[str],
    probs: np.ndarray,
    classes: np.ndarray | None,
    not_graded: Sequence[tuple[str, str]],
    num_grades: int = len(PROB_COLUMNS),
    notes: Sequence[str] | None = None,
) -> Path:
    """Write the grades of a batch some of whose files could not be graded (the app's batch
    tab), atomically, so that the file cannot pass for a complete submission.

    The header is the submission's plus a ``notes`` column (``case,class,P0..P{K-1},notes``).
    First one row per file not graded, ``not_graded`` ``(file name, reason)`` pairs: the
    case, an empty class and empty probabilities, and ``NOT GRADED: <reason>`` (:data:`NOT_GRADED`)
    in the notes, so that the top of the file says it before any grade; then the graded
    rows, exactly as :func:`write_submission` writes them (the same checks on ``cases``,
    ``probs``, ``classes`` and ``num_grades``), each with its ``notes`` (one per case, e.g.
    the page's warnings on a blank image; empty cells without them). No cell starts as a
    spreadsheet formula (CSV injection: OWASP's ``= + - @``, tab, carriage return): the name of
    a file not graded, which may be any name (``=HYPERLINK(...)&A1.png`` is refused as a case
    for it), gets a ``'`` before it (:func:`spreadsheet_cell`; its control characters escaped
    first, so that a carriage return cannot cut its row) and its notes then say so
    (:data:`NEUTRALISED_NAME_WORDS`), and so does a notes cell that would start as one; the
    graded rows' cases are never altered (:func:`case_name_problem` refused any such name). Why rows and
    not a file without them (the export command's ``--skip-unreadable``): a reader of a
    spreadsheet misses a row that is not there, not a row without a grade; and
    :func:`check_submission` reports the empty grades and the extra column, so the file is
    never uploaded as a complete submission by mistake. Cells are quoted where a name or a
    reason holds a comma or a quote. Raises ValueError for an empty ``not_graded`` (write
    the submission itself) and as :func:`write_submission` for the graded rows.
    """
    if not not_graded:
        raise ValueError("every file was graded: write the submission itself (write_submission)")
    if notes is not None and len(notes) != len(cases):
        raise ValueError(f"{len(notes)} notes for {len(cases)} graded cases: give one per case")
    names, grades, units = _valid_rows(cases, probs, classes, num_grades) if len(cases) else (
        [], np.zeros(0, np.int64), np.zeros((0, num_grades), np.int64))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*submission_columns(int(num_grades)), "notes"])
    for name, reason in not_graded:
        cell, said = not_graded_cells(str(name), f"{NOT_GRADED}{reason}")
        writer.writerow([cell, "", *[""] * int(num_grades), said])
    for i, (name, grade, row) in enumerate(zip(names, grades, units, strict=True)):
        writer.writerow([name, int(grade), *(format_units(int(u)) for u in row),
                         spreadsheet_cell(str(notes[i])) if notes is not None else ""])
    return atomic_write_text(path, out.getvalue())


SPREADSHEET_FORMULA_STARTS = ("=", "+", "-", "@")
"""The first characters that make a spreadsheet (Excel, LibreOffice Calc) read a cell as a
formula: a CSV holding a case ``=cmd|' /C calc'!A0`` runs it when opened (CSV formula
injection). A case name starting with one is refused (:func:`case_name_problem`), not escaped:
a case is its image's file name, written as it is, and an altered name (``'=x.png``) would no
longer match its file (``--check``, ``--score``, a hospital's own join of the CSV to its files)."""


UNQUOTED_CASE_BREAKERS = ',"\r\n'
"""The characters DRAC's unquoted ``case,class,P0,P1,P2`` cannot hold in a case: a comma, a double
quote, a line break (:func:`case_name_problem`); a case holding one fails ``--check`` and
``--score`` (exit 1), unlike a formula start (:data:`SPREADSHEET_FORMULA_STARTS`), which they
only warn of: a test image keeps the name the grader keys on."""


CONTROL_CATEGORIES = ("Cc", "Zl", "Zp")
"""Unicode categories no case name may hold (:func:`case_name_problem`): control characters
(ESC, BEL, tab ...: a terminal acts on them) and the line and paragraph separators U+2028 and
U+2029 (line breaks to ``str.splitlines`` and many editors). The formatting characters (Cf) are
not all refused: those a script's names need are allowed (:data:`ALLOWED_FORMAT_CHARACTERS`);
the harmful ones are listed in :data:`REFUSED_FORMAT_CHARACTERS`."""

REFUSED_FORMAT_CHARACTERS = frozenset(chr(code) for code in (
    *range(0x202A, 0x202F),  # bidi embeddings and overrides: LRE, RLE, PDF, LRO, RLO (U+202E)
    *range(0x2066, 0x206A),  # bidi isolates: LRI, RLI, FSI, PDI
    *range(0x206A, 0x2070),  # deprecated format characters (symmetric swapping, digit shapes)
    0x200B,  # ZERO WIDTH SPACE
    *range(0x2060, 0x2065),  # WORD JOINER and the invisible operators
    0xFEFF,  # ZERO WIDTH NO-BREAK SPACE (a byte-order mark)
    0x180E,  # MONGOLIAN VOWEL SEPARATOR
    *range(0xFFF9, 0xFFFC),  # interlinear annotation marks
    *range(0xE0000, 0xE0080),  # tag characters
))
"""Formatting and invisible characters no case name may hold (:func:`case_name_problem`): they
reorder how the name shows (``scan``, U+202E RIGHT-TO-LEFT OVERRIDE, ``gnp.exe`` reads as
``scanexe.png``) or hide in it (two names that look the same)."""

def refused_name_character(char: str) -> bool:
    """Whether the character ``char`` keeps a name from being a case: of
    :data:`CONTROL_CATEGORIES` or in :data:`REFUSED_FORMAT_CHARACTERS`."""
    return unicodedata.category(char) in CONTROL_CATEGORIES or char in REFUSED_FORMAT_CHARACTERS


CASE_PATH_SEPARATORS = ("/",)
"""The path separator no case may hold (:func:`case_name_problem`): ``/``, which no file name on
Linux or Windows holds, so a case holding it is a path. A ``\\`` is no such separator here: a
Linux file may be named ``scans\\001.png`` (Python's zipfile names so a file of a Windows zip),
and it is that image's case, as written."""

CASE_SEPARATOR_WHY = ("contains a path separator ('/'): a case is the image's file name alone, "
                      "which a path never matches")
""":func:`case_name_problem`'s reason for a case holding a ``/`` (:data:`CASE_PATH_SEPARATORS`)."""


def case_file_name(name: str) -> str:
    """The file name alone of a case given as a path, the fix of a path separator's refusal
    (:func:`case_name_problem`): ``x/a.png`` and ``../b.png`` -> ``a.png``, ``b.png``; ``''``
    for a path ending in ``/`` (``x/``: a folder, naming no file). A ``\\`` is kept: it is part of
    a Linux file's name (:data:`CASE_PATH_SEPARATORS`)."""
    return "" if name.rstrip().endswith("/") else PurePosixPath(name).name


def _case_path_fix(name: str) -> str | None:
    """The file name alone of the case ``name``, when the one problem of ``name`` is its path
    separator and that file name is a case (:func:`case_name_problem` accepts it, with a file
    extension); else None (the caller's other fix: a rename, or a file name to write)."""
    if case_name_problem(name) != CASE_SEPARATOR_WHY:
        return None
    alone = case_file_name(name)
    return alone if alone and case_name_problem(alone) is None and Path(alone).suffix else None


def case_name_problem(name: str) -> str | None:
    """Why the image file name ``name`` cannot be a case of a CSV this package writes (the
    ``case`` column of a submission, the first of every grades file), in words that follow the
    name (``contains a comma, quote or line break, ...``); None when it can be one. The one
    rule of :func:`write_submission` (a ValueError), of ``python -m drac_ssl.export --images``
    (checked before any image is read: the file is refused, or skipped with
    ``--skip-unreadable``, with :func:`safe_case_name` as the fix) and of the app's batch tab:
    empty; white space at either end (a reader or spreadsheet that trims cells reads another
    name); a comma, double quote or line break (DRAC's format quotes nothing); a control or
    formatting character (:func:`refused_name_character`: ESC, BEL, U+2028, U+202E, U+200B ...,
    not the ZWNJ of a Persian name, :data:`ALLOWED_FORMAT_CHARACTERS`; a security review,
    F4: ``\\x1b]0;PWNED\\x07a.png`` retitled the terminal the export printed it to); a first
    character of :data:`SPREADSHEET_FORMULA_STARTS` (a formula in a spreadsheet); a path
    separator, ``/`` (:data:`CASE_PATH_SEPARATORS`: ``x/a.png`` is no file name, so it
    matches no image; :func:`case_file_name` is the fix; a ``\\`` is part of a Linux file's name,
    accepted)."""
    if not name.strip():
        return "is empty"
    if name != name.strip():
        return ("starts or ends with white space, which a reader or spreadsheet that trims cells "
                "drops: the case would no longer name its file")
    if any(ch in name for ch in UNQUOTED_CASE_BREAKERS):
        return ("contains a comma, quote or line break, which the CSV's case column cannot hold "
                "(DRAC's format quotes nothing)")
    controls = sorted({c for c in name if refused_name_character(c)})
    if controls:
        shown = ", ".join(f"U+{ord(c):04X}" for c in controls)
        return (f"contains a control or formatting character ({shown}), which a terminal acts on (an "
                f"escape sequence can retitle or clear it) or which shows the name other than it is "
                f"(a right-to-left override)")
    if any(sep in name for sep in CASE_PATH_SEPARATORS):
        return CASE_SEPARATOR_WHY
    if name[0] in SPREADSHEET_FORMULA_STARTS:
        return (f"starts with {name[0]!r}, which makes a spreadsheet (Excel, LibreOffice) read the "
                f"case as a formula; a case is written as it is, never altered, so that it names its file")
    return None


def _formula_start_only(name: str) -> bool:
    """Whether the one thing :func:`case_name_problem` refuses in the case ``name`` is its first
    character, of :data:`SPREADSHEET_FORMULA_STARTS` (``-3.png``): a warning of ``--check``, not a
    problem (a test image keeps the name the grader keys on)."""
    return name[:1] in SPREADSHEET_FORMULA_STARTS and case_name_problem("x" + name[1:]) is None


def safe_case_name(name: str, taken: Sequence[str] = ()) -> str:
    """A name :func:`case_name_problem` accepts for the file ``name``, the fix of its refusal:
    each run of commas, quotes, line breaks and ``/``, with the white space around it,
    made one ``_``;
    the characters :func:`refused_name_character` refuses left out;
    the white space at either end and the formula characters at the start
    (:data:`SPREADSHEET_FORMULA_STARTS`) taken off (``Doe, John_OD.jpg`` -> ``Doe_John_OD.jpg``,
    ``' lead.png'`` -> ``lead.png``, ``=cmd|calc.png`` -> ``cmd|calc.png``); ``image`` before a
    name left without a stem (``=.png`` -> ``image.png``); ``_2``, ``_3`` ... before the suffix
    of one that ``taken`` (the folder's other names, letter case ignored) holds already."""
    safe = re.sub(r'\s*[,"\r\n/]+\s*', "_", name)
    safe = "".join(c for c in safe if not refused_name_character(c)).strip()
    while safe and (safe[0] in SPREADSHEET_FORMULA_STARTS or safe[0].isspace()):
        safe = safe[1:]
    if not safe or safe.startswith("."):  # no stem left: a hidden file's name is no case either
        safe = f"image{safe}"
    stem, suffix = (safe[:-len(Path(safe).suffix)], Path(safe).suffix) if Path(safe).suffix else (safe, "")
    used = {t.lower() for t in taken}
    n = 1
    while safe.lower() in used:
        n += 1
        safe = f"{stem}_{n}{suffix}"
    return safe


CASE_NAME_KIND = "case-name"
"""The :class:`data_prep.problems.Problem` kind of an image whose file name cannot be a case
(:func:`case_name_problem`: :func:`case_name_problems`)."""


def case_name_problems(files: Sequence[Path], folder: Path) -> list[tuple[Path, Problem]]:
    """The files of ``files`` whose name cannot be a case (:func:`case_name_problem`: a
    comma, a quote or a line break, white space at either end, a spreadsheet formula's first
    character), each with its problem: the name (non-printable characters escaped,
    :func:`printable_text`), why, and the fix, a name that can be one and that no other entry
    of ``folder`` has (:func:`safe_case_name`: ``Doe, John_OD.jpg`` -> ``rename it, e.g. to
    Doe_John_OD.jpg``). Known from the names alone: ``python -m drac_ssl.export --images`` says
    them before any image is read, and :func:`drac_ssl.grading.batch.grade_folder` grades no
    such file. A case name is never altered instead: the CSV's case must name its file."""
    try:
        taken = [p.name for p in folder.iterdir()]
    except OSError:  # the folder was listed a moment ago: its files' names serve
        taken = [p.name for p in files]
    found: list[tuple[Path, Problem]] = []
    for path in files:
        if (why := case_name_problem(path.name)) is not None:
            safe = safe_case_name(path.name, taken)
            taken.append(safe)
            found.append((path, Problem(printable_text(str(path)), f"its name {why}",
                                        f"rename it, e.g. to {safe}", kind=CASE_NAME_KIND)))
    return found


def broken_link_words(path: str | os.PathLike[str]) -> str | None:
    """``broken symbolic link (points to X, which does not exist)``: why ``path`` cannot be
    read when it is a symbolic link whose target is missing; None for anything else."""
    path = Path(path)
    if not path.is_symlink() or path.exists():
        return None
    try:
        target = os.readlink(path)
    except OSError:
        target = "a file"
    return f"broken symbolic link (points to {printable_text(str(target))}, which does not exist)"


def _valid_rows(cases: Sequence[str], probs: np.ndarray, classes: np.ndarray | None,
                num_grades: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(cases, grades (n,), probabilities in micro-units (n, K))`` of a valid submission;
    ValueError for anything :func:`write_submission` refuses."""
    names = [str(c) for c in cases]
    p = np.asarray(probs, dtype=np.float64)
    if int(num_grades) < 2:
        raise ValueError(f"num_grades must be >= 2, got {num_grades}")
    if p.ndim != 2 or p.shape[1] != num_grades:
        raise ValueError(f"probs must have shape (n, {num_grades}) for {num_grades} grades, got "
                         f"{p.shape}" + (f"; pass num_grades={p.shape[1]} for a {p.shape[1]}-grade "
                                         "scale" if p.ndim == 2 and p.shape[1] >= 2 else ""))
    num_grades = int(num_grades)
    grade_list = ", ".join(str(k) for k in range(num_grades))
    if p.shape[0] != len(names):
        raise ValueError(f"{len(names)} cases but {p.shape[0]} probability rows; "
                         "pass one row per test image, in the same order")
    if not names:
        raise ValueError("no cases to write; a submission needs every test image once")

    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        why = case_name_problem(name)
        if why == CASE_SEPARATOR_WHY:  # the path's one problem: its file name alone, else any image's
            alone = _case_path_fix(name)
            raise ValueError(f"case {i} ({name!r}) {why}; " + (
                f"pass the file name alone: {alone!r}" if alone else
                "pass the image's file name alone, e.g. '161.png'"))
        if why is not None:  # the one rule of a case name
            raise ValueError(f"case {i} ({name!r}) {why}; rename the image file, e.g. to "
                             f"{safe_case_name(name) if name.strip() else '161.png'!r}")
        if not Path(name).suffix:
            raise ValueError(f"case {i} is {name!r}, which has no file extension; the case "
                             f"column holds image file names, e.g. '{name}.png'")
        if name in seen:
            raise ValueError(f"case {name!r} appears twice (rows {seen[name]} and {i}); "
                             "every test image must appear exactly once")
        seen[name] = i

    bad = ~np.isfinite(p).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"probs row {i} ({names[i]}) holds NaN or inf: {p[i].tolist()}; "
                         f"{int(bad.sum())} such row(s) in all")
    bad = ((p < -1e-9) | (p > 1 + 1e-9)).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"probs row {i} ({names[i]}) is outside [0, 1]: {p[i].tolist()}; "
                         "pass softmax probabilities, not logits")
    p = np.clip(p, 0.0, 1.0)
    off = np.abs(p.sum(axis=1) - 1.0)
    if (off >= RENORMALISE_TOL).any():
        i = int(np.argmax(off))
        raise ValueError(f"probs row {i} ({names[i]}) sums to {p[i].sum():.6g}, not 1; "
                         "pass softmax probabilities (rows summing to 1)")
    p = p / p.sum(axis=1, keepdims=True)

    if classes is None:
        grades = p.argmax(axis=1).astype(np.int64)
    else:
        c = np.asarray(classes)
        if c.shape != (len(names),):
            raise ValueError(f"classes must have shape ({len(names)},), got {c.shape}")
        if not (np.issubdtype(c.dtype, np.number) and np.all(np.isfinite(c))
                and np.all(c == np.round(c))):
            raise ValueError(f"classes must be integer grades {grade_list}")
        grades = c.astype(np.int64)
        if grades.min() < 0 or grades.max() >= num_grades:
            i = int(np.flatnonzero((grades < 0) | (grades >= num_grades))[0])
            raise ValueError(f"classes[{i}] ({names[i]}) is {grades[i]}; grades are {grade_list}")

    if words := one_hot_words(p):
        warnings.warn(words, UserWarning, stacklevel=3)
    return names, grades, _micro_units(p, grades)


def one_hot_words(probs: np.ndarray) -> str:
    """The warning on submission probabilities ``probs`` ((n, K), rows summing to 1) every row
    of which is one-hot (a 1 and K-1 zeros: the class written as probabilities), "" otherwise
    or with no rows. The file is valid for DRAC, but its tie-breaking AUC is meaningless.
    Said by :func:`write_submission` (a UserWarning) and ``--check`` (a ``warning:`` line,
    :func:`report_check`), in these words."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or not len(p) or not np.all(p.max(axis=1) == 1.0):
        return ""
    return ("every probability row is one-hot: the tie-breaking AUC will be meaningless; write "
            "the model's (calibrated) probabilities instead")


# --------------------------------------------------------------------------- checking


class ProblemLines(list[str]):
    """The printed lines of a submission check (a list of ``FILE:LINE: what -> fix`` strings,
    then one ``FILE: ... and N more`` line per kind cut short) and ``total``: how many
    problems there are in all, counting those the cut left out."""

    total: int = 0
    warnings: tuple[str, ...] = ()  # ``FILE:LINE: warning: what -> what to do``: no problem, the exit code unchanged
    # the same lines as records, for a machine (``export --check --json``): ``{"line": int | None,
    # "what": str, "fix": str}`` each, line None for the file as a whole (LINE 0) and a cut-short count
    records: tuple[dict[str, Any], ...] = ()
    warning_records: tuple[dict[str, Any], ...] = ()


class _Problems:
    """Collects ``FILE:LINE: what -> fix`` lines, at most ``MAX_PER_KIND`` of each kind,
    and returns them ordered by line (file-level problems, LINE 0, first)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.entries: list[tuple[int, str, str, dict[str, Any]]] = []  # (line, text, kind, record)
        self.counts: dict[str, int] = {}
        self.warned: list[tuple[int, str, dict[str, Any]]] = []

    def warn(self, line: int, what: str, advice: str) -> None:
        """A ``FILE:LINE: warning: what -> advice`` line: said, but not a problem (no exit 1)."""
        self.warned.append((line, f"{self.file}:{line}: warning: {what} -> {advice}", _record(line, what, advice)))

    def add(self, line: int, kind: str, what: str, fix: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.counts[kind] <= MAX_PER_KIND:
            self.entries.append((line, f"{self.file}:{line}: {what} -> {fix}", kind, _record(line, what, fix)))

    def withdraw(self, kind: str) -> None:
        """Forget the problems of ``kind`` (a byte-order mark, once the file proves to be a notes
        file for people, which is written with one)."""
        self.entries = [e for e in self.entries if e[2] != kind]
        self.counts.pop(kind, None)

    def finish(self) -> ProblemLines:
        entries = sorted(self.entries, key=lambda e: e[0])
        lines = ProblemLines(e[1] for e in entries)
        records = [e[3] for e in entries]
        for kind, count in self.counts.items():
            if count > MAX_PER_KIND:
                what = f"... and {count - MAX_PER_KIND} more problem(s) of the kind '{kind}' ({count} in all)"
                fix = "fix the ones above and check again"
                lines.append(f"{self.file}: {what} -> {fix}")
                records.append(_record(None, what, fix))
        lines.total = sum(self.counts.values())
        warned = sorted(self.warned, key=lambda e: e[0])
        texts, warned_records = [e[1] for e in warned], [e[2] for e in warned]
        if len(warned) > MAX_PER_KIND:
            what = f"... and {len(warned) - MAX_PER_KIND} more case(s) of the kind above ({len(warned)} in all)"
            texts = [*texts[:MAX_PER_KIND], f"{self.file}: warning: {what}"]
            warned_records = [*warned_records[:MAX_PER_KIND], _record(None, what, "")]
        lines.warnings = tuple(texts)
        lines.records, lines.warning_records = tuple(records), tuple(warned_records)
        return lines


def _record(line: int | None, what: str, fix: str) -> dict[str, Any]:
    """One problem or warning for a machine: its line (None, not 0, for the file as a whole),
    what is wrong and how to fix it, as the printed ``FILE:LINE: what -> fix`` line says them."""
    return {"line": line or None, "what": what, "fix": fix}


def _in_percent(values: Sequence[float | None]) -> bool:
    """Whether a row's probability cells are percentages: finite numbers in [0, 100], one
    above 1, summing to 100 within ``100 * CHECK_SUM_TOL``."""
    if not values or any(v is None or not math.isfinite(v) for v in values):
        return False
    numbers = [float(v) for v in values if v is not None]
    return (all(0.0 <= v <= 100.0 for v in numbers) and max(numbers) > 1.0
            and abs(sum(numbers) - 100.0) <= 100.0 * CHECK_SUM_TOL)


def _records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """Each record of ``reader`` (a :func:`csv.reader`) with the line it starts on (1 = the
    file's first): ``reader.line_num`` after a record is the line it ends on, a later one for a
    quoted field holding a line break (``"a\\r\\nb.png",0,...`` after a header and two rows starts
    on line 4 and ends on line 5)."""
    start = reader.line_num + 1
    for fields in reader:
        yield start, fields
        start = reader.line_num + 1


def _parse_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class FolderFiles:
    """What a folder of images to grade holds (:func:`read_folder`)."""

    images: list[Path]  # files named as images (IMAGE_SUFFIXES), by name
    others: list[tuple[Path, str, str]]  # images it cannot grade: (file, why, fix), by name
    subfolders: list[Path]  # not searched
    # files whose content is no image at all (notes.txt, a README), and broken links not named
    # as images: (file, why), by name; said in a note, never a test image left out
    not_images: list[tuple[Path, str]] = field(default_factory=list)
    # hidden and system files (.DS_Store, Thumbs.db): said nowhere on the console, listed in
    # the export's skipped-files record with every other entry not graded
    hidden: list[Path] = field(default_factory=list)


NOT_AN_IMAGE_FIX = "move it out of the folder if it is not a test image"


def image_name_problem(path: str | os.PathLike[str], taken: Collection[str] | None = None,
                       suggested: list[str] | None = None) -> tuple[str, str] | None:
    """(why, fix) for an image file the package reads (a PNG, JPEG, TIFF or BMP, told by its
    content) whose name does not end in an image suffix (:data:`IMAGE_SUFFIXES`, any case): a JPEG
    named ``x.heic``, ``x.jfif`` or ``x.jpe``, a PNG named ``scan.dat``: ``("is a JPEG image whose
    name does not end in an image suffix (.png, ...), so it cannot be a case", "rename it
    x.jpg")``. None for a name with an image suffix, or a file holding no image it reads (its
    reader refuses that in its own words). The one rule of ``python -m drac_ssl.export
    --images`` (:func:`read_folder`) and of the app's batch tab (a QA test, F2: the batch
    graded a JPEG named ``x.heic`` and wrote the case ``x.heic``, which the export refused);
    the app's single-image tab grades such a file with a note (it writes no case). The fix
    never names a file that is there: ``taken`` (the folder's or the batch's names; default:
    the files of its folder) and ``suggested`` (names suggested so far, appended to), as
    :func:`drac_ssl.grading.image_notes.named_otherwise` reads them (``x.jpg exists: keep one,
    or rename it x_2.jpg``)."""
    from drac_ssl.grading.image_notes import named_otherwise

    path = Path(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return None
    kind, why, fix = named_otherwise(path, taken, suggested)
    return (f"{why}, so it cannot be a case", fix) if kind == "image" else None


def _why_not_graded(path: Path, taken: Collection[str] | None = None,
                    suggested: list[str] | None = None) -> tuple[str, str]:
    """(why, fix) for a file of an image folder not named as an image: its content decides
    (:func:`drac_ssl.grading.image_notes.named_otherwise`, the content check the ingest and the
    app share), in the app's words: ``is a WEBP file`` (an image the package does not read),
    ``is a DICOM file (...)`` (the ``DICM`` tag: an image it cannot read, like a ``.webp``, fix
    :data:`~drac_ssl.grading.image_notes.DICOM_CONVERT_FIX`), ``is named .dcm but holds an
    empty file (not a DICOM file)`` (named ``.dcm`` / ``.dicom``, holding no image: also among
    the images it cannot read, a case missing), ``is not an image (...; it holds
    plain text)`` (never quoted), or an image of a format it reads under another name
    (``scan.dat`` holding a PNG: a case name must be an image file name, ``rename it
    scan.png``; :func:`image_name_problem`, ``taken`` and ``suggested`` as it reads them)."""
    from drac_ssl.grading.image_notes import (
        CONVERT_FIX,
        DICOM_CONVERT_FIX,
        DICOM_FIX,
        DICOM_SUFFIXES,
        DICOM_WORDS,
        NO_KNOWN_FORMAT,
        named_otherwise,
        not_an_image,
    )

    if (named := image_name_problem(path, taken, suggested)) is not None:  # its one rule and words
        return named
    kind, why, fix = named_otherwise(path, ())  # not an image it reads: no rename is suggested
    if kind == "dicom":
        # an image it cannot read, as a .webp (review formats F1: a note only, the case silently
        # missing from the grades CSV): with the unreadable images, exit 2 or --skip-unreadable
        return DICOM_WORDS, DICOM_CONVERT_FIX
    if kind == "none" and path.suffix.lower() in DICOM_SUFFIXES:
        # named as a DICOM image but holding none (review formats R3: an empty or text .dcm was
        # said to be a DICOM file): still a test image missing, with the unreadable images
        if why == NO_KNOWN_FORMAT:  # binary without the DICM tag: perhaps a preamble-less DICOM
            return (f"is named {path.suffix} but holds {why} (no DICOM tag: not a DICOM file "
                    "it can tell)", DICOM_CONVERT_FIX)
        return (f"is named {path.suffix} but holds {why} (not a DICOM file)",
                f"copy the image again from where it came from ({DICOM_FIX}), or move it out of "
                "the folder")
    if kind == "none":
        return not_an_image(why), NOT_AN_IMAGE_FIX
    if kind == "other":
        return why, f"{CONVERT_FIX}, or move it out of the folder"
    return why, fix


def read_folder(folder: str | os.PathLike[str]) -> FolderFiles:
    """The files of an image folder (not recursive), as the export command grades it: the
    files named as images (:data:`IMAGE_SUFFIXES`, any case); every other file that holds an
    image (a format it does not read, or a readable one under another name) with why it is not
    graded and the fix (:func:`_why_not_graded`, the app batch tab's words: ``x.webp``: ``is a
    WEBP file``); the files that hold no image at all (``notes.txt``: ``is not an image
    (...)``), apart, for a note; and the sub-folders, which are not searched. Hidden and system files (``.DS_Store``,
    ``Thumbs.db``: :func:`data_prep.layout.is_hidden`) are apart (``hidden``), never a test
    image: the operating system's clutter. A broken symbolic link named as an image is an
    image (reading it says :func:`broken_link_words`); one named otherwise is a file holding no
    image, with those words. Raises OSError when the folder cannot be listed."""
    from data_prep.layout import is_hidden

    images: list[Path] = []
    others: list[tuple[Path, str, str]] = []
    subfolders: list[Path] = []
    not_images: list[tuple[Path, str]] = []
    hidden: list[Path] = []
    paths = sorted(Path(folder).iterdir())
    names, suggested = [p.name for p in paths], []  # a rename fix names no file that is there
    for path in paths:
        if is_hidden(path):
            hidden.append(path)
        elif path.is_dir():
            subfolders.append(path)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        elif (broken := broken_link_words(path)) is not None:
            not_images.append((path, broken))
        elif path.is_file():
            why, fix = _why_not_graded(path, names, suggested)
            if fix == NOT_AN_IMAGE_FIX:  # no image at all (notes.txt): a note, not a case left out
                not_images.append((path, why))
            else:
                others.append((path, why, fix))
    return FolderFiles(images, others, subfolders, not_images, hidden)


ARRAY_SUFFIXES = (".npz",)
"""Files whose images are rows of an array, not image files (a MedMNIST ``.npz``): no
``--images`` of ``--check``; the run's ingest manifest lists their test cases instead."""

SUBFOLDERS_NAMED = 3
"""Sub-folders holding images that :func:`images_option_problem` names, at most."""

DEEPER_SEARCHED = (4, 500)
"""How deep, and how many sub-folders at most, :func:`drac_ssl.export._deeper_image_folders`
looks below an ``--images`` folder for the folder that holds the images (for the fix; never
graded). Here, not in :mod:`drac_ssl.export`, so that ``--log-names tag``
(:func:`drac_ssl.commands.export_log_names`, before torch loads) lists the names of the same
walk."""


def _run_of_submission(csv_path: Path) -> Path | None:
    """The run folder a submission was written into (``RUN/export/submission.csv``: ``RUN``,
    when ``RUN/data/manifest.csv`` is there), for a ``--manifest`` fix; None otherwise."""
    run = csv_path.parent.parent
    if csv_path.parent.name == "export" and (run / "data" / "manifest.csv").is_file():
        return run
    return None


def _manifest_fix(csv_path: str | os.PathLike[str], option: str = "--images") -> str:
    """The fix of a check without a folder of test images: check the CSV against the test
    cases of the ingest manifest of the run that read them, RUN filled in when the CSV lies
    in a run's ``export/`` (:func:`_run_of_submission`). ``option``: the command line's option
    for the folder (``--images``: the fix is ``--check CSV --manifest RUN``); "" for the
    library (``check_submission``'s ``cases=``)."""
    run = _run_of_submission(Path(csv_path))
    where = shlex.quote(str(run)) if run is not None else "RUN"
    whose = ("" if run is not None else
             " (RUN: the run folder whose ingest read the test images; its data/manifest.csv lists "
             "their case names)")
    if not option:
        return (f"check the submission against the test cases of the run's ingest manifest instead of "
                f"a folder: check_submission(CSV, cases=drac_ssl.export.manifest_test_cases({where!r})[0])"
                f"{whose}")
    return (f"check the submission against the test cases of the run's ingest manifest instead of "
            f"{option}: {python_command('drac_ssl.export')} --check {shlex.quote(str(csv_path))} "
            f"--manifest {where}{whose}")


class ImagesFolderError(ValueError):
    """The folder of test images a submission is to be checked against (``images_dir`` of
    :func:`check_submission`, ``--images`` of ``--check``) is no folder of images: missing, a
    file, unreadable, or without an image file. A problem of the call, not of the
    submission: the message (:func:`images_option_problem`'s, in the library's words: no
    command-line option) names the folder, what is wrong and the fix; the command lines say
    :meth:`option_words` as an ``error:`` line with exit code 2. ``folder`` and ``csv_path``:
    the folder given and the submission."""

    def __init__(self, message: str, folder: str | os.PathLike[str] = "",
                 csv_path: str | os.PathLike[str] = "") -> None:
        super().__init__(message)
        self.folder, self.csv_path = folder, csv_path

    def option_words(self, option: str = "--images") -> str:
        """The message in the words of a command line whose ``option`` gave the folder."""
        return (images_option_problem(self.folder, self.csv_path, option) or str(self)
                if self.folder else str(self))


def images_option_problem(images: str | os.PathLike[str], csv_path: str | os.PathLike[str],
                          option: str = "--images") -> str | None:
    """What is wrong with the ``--images`` of ``--check CSV --images DIR`` (a usage error,
    exit 2: not a problem of the submission), in the words of its ``error:`` line with the
    fix; None when ``images`` is a folder holding at least one image file (named as one,
    :data:`IMAGE_SUFFIXES`). An array file (:data:`ARRAY_SUFFIXES`, a MedMNIST ``.npz``),
    or a folder without images that holds one, is told to check against the run's manifest
    (``--manifest RUN``, RUN filled in for a CSV in ``RUN/export/``); another file, its
    folder; a folder without images, its sub-folders that hold some and the files it does
    not grade (``x.webp``: why); a folder it cannot list, that. ``option``: the command
    line's option that gave the folder, named in the fixes; "" for a library call
    (:func:`check_submission`'s ``images_dir``), whose fixes name no option."""
    path = Path(images)
    check = "--check" if option else "the check"
    if path.is_file():
        if path.suffix.lower() in ARRAY_SUFFIXES:
            return (f"{path}: an array file (a MedMNIST .npz), not a folder of images: its test "
                    f"images are rows of the array, not files whose names {check} can compare with "
                    f"the submission's cases\n  fix: {_manifest_fix(csv_path, option)}")
        return (f"{path}: no such image folder (a file: {check} compares the submission's cases "
                f"with the image files of a folder; give its folder, {path.parent})")
    if not path.is_dir():
        return (f"{path}: no such image folder\n  fix: give the folder of the test images (check the "
                f"path), or {_manifest_fix(csv_path, option)}")
    try:
        found = read_folder(path)
    except OSError as exc:
        return (f"{path}: the image folder cannot be listed ({exc.strerror or exc})\n  fix: check "
                f"that it can be read (permissions, a network drive)")
    if found.images:
        return None
    said = f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder, so there is nothing to check the submission's cases against"
    arrays = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in ARRAY_SUFFIXES)
    if arrays:
        return (f"{said} (it holds {' and '.join(arrays)}, an array file: its test images are rows of "
                f"the array, not image files)\n  fix: {_manifest_fix(csv_path, option)}")
    lines = "".join(f"\n  {p}: {why}" for p, why, _ in found.others)
    holding = []
    for sub in found.subfolders:
        try:
            if read_folder(sub).images:
                holding.append(sub)
        except OSError:  # an unreadable sub-folder: not the one to name
            continue
    fix = (f"point {option or 'the check'} at the folder of the test images themselves (its sub-folders "
           "are not searched)" + (f", e.g. {' or '.join(shlex.quote(str(s)) for s in holding[:SUBFOLDERS_NAMED])}"
                                  if holding else ""))
    if found.others:
        fix = f"convert or rename the files above as images ({', '.join(IMAGE_SUFFIXES)}), or {fix}"
    return f"{said}{lines}\n  fix: {fix}; or {_manifest_fix(csv_path, option)}"


def _image_index(images_dir: Path) -> dict[str, str]:
    """Map each image name, its stem and its numeric id (``'001.png'`` -> ``'1'``) to the
    file name, for suggesting the right case name."""
    index: dict[str, str] = {}
    for f in sorted(images_dir.iterdir()):
        if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES:
            index.setdefault(f.name, f.name)
    for name in list(index):
        stem = Path(name).stem
        index.setdefault(stem, name)
        if stem.isdigit():
            index.setdefault(f"#{int(stem)}", name)
    return index


def _header_width_grades(fields: Sequence[str]) -> int | None:
    """K of a header shaped ``case,class`` + K >= 2 probability columns named P and a number,
    however numbered (``case,class,P0,P1,P2,P3,P5`` or ``P1..P5``: K = 5), else None."""
    names = [f.strip().lower() for f in fields]
    if len(names) < 4 or names[:2] != ["case", "class"]:
        return None
    return len(names) - 2 if all(re.fullmatch(r"p\d+", n) for n in names[2:]) else None


def _notes_file_grades(fields: Sequence[str]) -> int | None:
    """K of the header of the app's batch files with a trailing notes column,
    ``case,class,P0..P{K-1},notes`` (:func:`write_incomplete_grades`,
    the app's older ``grades_with_notes.csv``, whose writer now lives in the tests,
    ``tests/helpers/older_notes_csv.py``; its ``not_reliably_gradable`` and ``training_image``
    columns before the notes, :data:`UNRELIABLE_COLUMN`, :data:`TRAINING_IMAGE_COLUMN`, are
    allowed), else None."""
    if len(fields) < 5 or fields[-1].strip().lower() != "notes":
        return None
    return _header_width_grades(_without_flag_columns(fields[:-1]))


def _without_flag_columns(fields: Sequence[str]) -> Sequence[str]:
    """``fields`` without the trailing :data:`TRAINING_IMAGE_COLUMN` and
    :data:`UNRELIABLE_COLUMN` of the app's ``grades_with_notes.csv`` (either or both)."""
    for column in (TRAINING_IMAGE_COLUMN, UNRELIABLE_COLUMN):
        if fields and fields[-1].strip().lower() == column:
            fields = fields[:-1]
    return fields


def _notes_cut_grades(fields: Sequence[str]) -> int | None:
    """K of the header of the app's batch file whose notes column was cut (a spreadsheet's
    column deleted) but whose :data:`UNRELIABLE_COLUMN` (and :data:`TRAINING_IMAGE_COLUMN`)
    stayed, ``case,class,P0..P{K-1},not_reliably_gradable[,training_image]``, else None (review
    s57r3 F1: such a file read as a 3-grade submission with a column too many on every row)."""
    kept = _without_flag_columns(fields)
    if len(fields) < 5 or len(kept) == len(fields):
        return None
    return _header_width_grades(kept)


def _unguarded_name(cell: str) -> str:
    """The name of a file NOT GRADED as the app's batch file's name cell holds it, for a
    message: without the ``'`` :func:`spreadsheet_cell` put before a first character of
    :data:`FORMULA_CELL_STARTS` (``'=HYPERLINK(1)&A1.png`` -> ``=HYPERLINK(1)&A1.png``, the
    file's own name; a ``'`` before anything else is the name's own), non-printable
    characters escaped (:func:`printable_text`)."""
    if cell[:1] == "'" and cell[1:2] in FORMULA_CELL_STARTS and cell[1:2]:
        cell = cell[1:]
    return printable_text(cell)


def _notes_cut_problem(problems: _Problems, rows: Sequence[tuple[int, list[str]]]) -> None:
    """The one problem of the app's batch file with its notes column cut and its
    :data:`UNRELIABLE_COLUMN` kept (``rows``: its header, then its rows): what it is, the rows
    with an empty class (files the app did not grade) by name and line, and what to do."""
    line, header = rows[0]
    shown = printable_text(",".join(f.strip() for f in header))
    empty = [(at, _unguarded_name(fields[0].strip() if fields else "")) for at, fields in rows[1:]
             if len(fields) < 2 or not fields[1].strip()]
    named = ", ".join(f"{case or '(no case)'} (line {at})" for at, case in empty[:NOT_GRADED_SHOWN])
    more = len(empty) - NOT_GRADED_SHOWN
    ungraded = (f"; {len(empty)} of its {len(rows) - 1} files {'was' if len(empty) == 1 else 'were'} "
                f"NOT GRADED (an empty class): {named}{f' and {more} more' if more > 0 else ''}"
                if empty else "")
    problems.add(line, "notes-file", f"this is the app's batch file ({shown}: grades_with_notes.csv or "
                 f"grades_INCOMPLETE.csv with its notes column cut off), not a submission{ungraded}",
                 "check and submit the batch's submission.csv, downloaded beside it (written when "
                 "every file is graded; the same grades without the notes columns)"
                 + ("; mend or replace the files NOT GRADED and grade the batch again (the app's batch "
                    f"tab, or {python_command('drac_ssl.export')} RUN --images DIR --out CSV)" if empty else ""))


NOT_GRADED_SHOWN = 10
"""The files NOT GRADED that the check of the app's batch file names, at most (then a count)."""


PEOPLE_NOTES_COLUMNS = ("case", "grade", "grade_name", "most_likely_grade")
"""The first columns of the app's ``grades_with_notes.csv`` for people (:mod:`app.batch_csv`):
the check names that file in one problem instead of a wrong header and every row's width."""


def _is_image_notes_header(fields: Sequence[str]) -> bool:
    """Whether ``fields`` is the header of the export's notes file (:func:`write_image_notes`:
    :data:`IMAGE_NOTES_HEADERS`: this version's or an earlier one's), its names' case and spaces
    aside."""
    names = tuple(f.strip().lower() for f in fields)
    return names in IMAGE_NOTES_HEADERS


def _image_notes_problem(problems: _Problems, rows: Sequence[tuple[int, list[str]]],
                         csv_path: str | os.PathLike[str]) -> None:
    """The one problem of the export's notes file (``<stem>_notes.csv``, :func:`image_notes_path`;
    ``rows``: its header, then its rows) given to the check: what it is and which file to check
    instead, not a header and "6 columns, expected 5" on every row (review of the caveats merge,
    F7)."""
    line, header = rows[0]
    shown = printable_text(",".join(f.strip() for f in header))
    path = Path(csv_path)
    beside = (f"{path.with_name(path.name[:-len('_notes.csv')] + '.csv')}"
              if path.name.lower().endswith("_notes.csv") and len(path.name) > len("_notes.csv") else "")
    problems.add(line, "notes-file", f"this is the export's notes file ({shown}: what it said of each "
                 f"graded image, written beside a submission as <stem>_notes.csv), not a submission",
                 f"check and submit the submission it was written beside, {beside}" if beside else
                 "check and submit the submission it was written beside (the same name without "
                 "_notes)")


def is_referable_header(fields: Sequence[str]) -> bool:
    """Whether ``fields`` is the header of the export's referable-DR file (:func:`write_referable`):
    it starts with :data:`REFERABLE_COLUMNS`, its names' case and spaces aside; any columns after
    them (its :data:`NOT_INFORMATIVE_COLUMN`, a ``comment`` column a spreadsheet added) are
    allowed, as they were before this function (a review, F2: a file with an added column was
    skipped, and ``--score`` summed the submission's columns and dropped the export's decision).
    The check's (a referable file given as a submission) and ``export --score``'s (the file it
    reads P(referable) and the export's referrals from, by position: columns 1 to 3). The rule
    for overwriting such a file (:mod:`drac_ssl.out_paths`) is stricter and separate."""
    known = tuple(c.lower() for c in REFERABLE_COLUMNS)
    return tuple(f.strip().lower() for f in fields[:len(known)]) == known


def _referable_file_problem(problems: _Problems, rows: Sequence[tuple[int, list[str]]],
                            csv_path: str | os.PathLike[str]) -> None:
    """The one problem of the export's referable-DR file (``<stem>_referable.csv``,
    :func:`referable_path`; ``rows``: its header, then its rows) given to the check: what it
    is and which file to check instead, not a header and "4 columns, expected 5" on every row
    (an upgrade review, F7: 31 such errors)."""
    line, header = rows[0]
    shown = printable_text(",".join(f.strip() for f in header))
    path = Path(csv_path)
    suffix = "_referable.csv"
    beside = (path.with_name(path.name[:-len(suffix)] + ".csv")
              if path.name.lower().endswith(suffix) and len(path.name) > len(suffix) else None)
    problems.add(line, "referable-file", f"this is the export's referable-DR file ({shown}: each graded "
                 f"image's P(referable) and referral, written beside a submission as <stem>_referable.csv), "
                 f"not a submission",
                 f"check and submit the submission it was written beside, {beside}" if beside else
                 "check and submit the submission it was written beside (the same name without "
                 "_referable)")


def _notes_file_problem(problems: _Problems, rows: Sequence[tuple[int, list[str]]]) -> None:
    """The one problem of the app's batch file with a notes column (``rows``: its header, then
    its rows): what it is, the files it says were NOT GRADED (:data:`NOT_GRADED` in the notes
    cell) by name and line, and what to do, instead of a header and a column count per row
    on DRAC's scale."""
    line, header = rows[0]
    shown = printable_text(",".join(f.strip() for f in header))
    missed = [(at, _unguarded_name(fields[0].strip())) for at, fields in rows[1:]
              if fields and fields[-1].strip().startswith(NOT_GRADED.strip())]
    if not missed:
        problems.add(line, "notes-file", f"this is the app's batch file with a notes column ({shown}, "
                     f"every file graded: grades_with_notes.csv), not a submission",
                     "check and submit the batch's submission.csv, downloaded beside it (the same "
                     "grades without the notes column)")
        return
    named = ", ".join(f"{case} (line {at})" for at, case in missed[:NOT_GRADED_SHOWN])
    more = len(missed) - NOT_GRADED_SHOWN
    problems.add(line, "notes-file", f"this is the app's batch file with a notes column ({shown}: "
                 f"grades_INCOMPLETE.csv), not a submission: {len(missed)} of its {len(rows) - 1} "
                 f"files {'was' if len(missed) == 1 else 'were'} NOT GRADED: {named}{f' and {more} more' if more > 0 else ''} (its notes "
                 f"column says why)",
                 "mend or replace those files and grade the batch again (the app's batch tab, or "
                 f"{python_command('drac_ssl.export')} RUN --images DIR --out CSV), then check the "
                 "submission.csv it writes when every file is graded; do not cut the notes column "
                 "or the rows by hand: a submission needs a graded row for every test image")


def _empty_rows_problem(problems: _Problems, rows: Sequence[tuple[int, str]]) -> None:
    """The one problem of the rows (``rows``: ``(line, case)``, at least one) whose class and
    probabilities are all empty: the rows of the files the app did not grade, in its
    ``grades_INCOMPLETE.csv`` (:func:`write_incomplete_grades`) with the notes column that said
    why cut off (a spreadsheet's column deleted), instead of a class and K probabilities
    reported empty on every such row."""
    n = len(rows)
    named = ", ".join(f"{case or '(no case)'} on line {at}" for at, case in rows[:NOT_GRADED_SHOWN])
    more = f" and {n - NOT_GRADED_SHOWN} more" if n > NOT_GRADED_SHOWN else ""
    problems.add(rows[0][0], "empty-rows",
                 f"{n} row{'s' * (n > 1)} ({named}{more}) {'have' if n > 1 else 'has'} an empty class "
                 f"and empty probabilities: the rows of files the app did not grade, from its "
                 f"grades_INCOMPLETE.csv with the notes column cut off? (that column said why each "
                 f"file was NOT GRADED)",
                 "read why in the notes column of the grades_INCOMPLETE.csv as the app wrote it; mend "
                 "or replace those files and grade the batch again (the app's batch tab, or "
                 f"{python_command('drac_ssl.export')} RUN --images DIR --out CSV), then check the submission.csv it writes "
                 "when every file is graded; a submission needs a graded row for every test image")


SCALE_SOURCES = ("given", "drac", "header", "row", "assumed")
"""Where :func:`_scale_of` took K from: the caller (``num_grades``), DRAC's test folder
(``--images``), the file's header, its first row (data, no header), or nowhere (DRAC's 3
assumed)."""


def _scale_of(rows: Sequence[tuple[int, list[str]]], num_grades: int | None,
              drac_folder: bool = False) -> tuple[int, str]:
    """(K to check against, where it came from, one of :data:`SCALE_SOURCES`): DRAC's 3 when
    the images are DRAC's test folder (``drac_folder``: DRAC rejects another scale), else
    ``num_grades`` when given, else the app's header with a notes column less that column
    (:func:`_notes_file_grades`, said as the header's), else the width of a header shaped
    ``case,class,P..`` (:func:`_header_width_grades`), else the count of a header's P columns
    (``case,cls,P0..P4``: 5, its misnamed columns reported as the header's error), else the
    first row's column count when that row is already data, else DRAC's 3, assumed."""
    if drac_folder:
        return len(PROB_COLUMNS), "drac"
    if num_grades is not None:
        return int(num_grades), "given"
    if rows:
        first = rows[0][1]
        k = _notes_file_grades(first)
        if k is None:
            k = _notes_cut_grades(first)
        if k is None:
            k = _header_width_grades(first)
        if k is not None:
            return k, "header"
        names = [f.strip().lower() for f in first]
        if len(names) >= 4 and all(re.fullmatch(r"p\d+", n) for n in names[2:]):
            # a header whose first two names are wrong (case,cls,P0..P4): its P columns still
            # say K; the header's own error is reported, its rows are checked at that width
            return len(names) - 2, "header"
        if len(first) >= 4 and Path(first[0].strip()).suffix.lower() in IMAGE_SUFFIXES:
            return len(first) - 2, "row"  # no header: the data row says how many P columns
    return len(PROB_COLUMNS), "assumed"


def is_drac_test_folder(images_dir: str | os.PathLike[str]) -> bool:
    """Whether ``images_dir`` is DRAC 2022's own test-image folder, ``C. Diabetic Retinopathy
    Grading/1. Original Images/b. Testing Set`` as unzipped (letter case and whitespace aside,
    :func:`data_prep.layout.same_name`; relative paths resolved): its submissions are graded on
    DRAC's 3 grades whatever a file's header says. IDRiD's ``B. Disease Grading/.../b. Testing
    Set`` is not it."""
    from data_prep.layout import IMAGES_DIR, TASK_DIR, TEST_DIR, same_name

    for path in {Path(os.path.abspath(images_dir)), Path(images_dir).resolve()}:
        parts = path.parts
        if len(parts) >= 3 and all(same_name(name, official) for name, official in
                                   zip(parts[-3:], (TASK_DIR, IMAGES_DIR, TEST_DIR), strict=True)):
            return True
    return False


DRAC_TEST_SCALE_FROM = "DRAC's test set (--images) is graded on"
"""Who says K when the image folder is DRAC's (:func:`is_drac_test_folder`)."""


def _assumed_header() -> str:
    """The header to name when nothing says K: DRAC's, written out, and how to say K (an
    editor's review, F11: ``'case,class,P0..P{K-1}'``, a template, was no header to write)."""
    drac = ",".join(submission_columns(len(PROB_COLUMNS)))
    return (f"'{drac}' (DRAC's {len(PROB_COLUMNS)} grades, one P column per grade; --grades K "
            "to check another scale)")


def _label_csv_columns(header: Sequence[str]) -> str:
    """``'image name', 'DR grade' (DRAC)``: the label columns of the scored layout
    (:data:`drac_ssl.config.SCORED_LAYOUTS`) that ``header`` holds, as ``--score`` says a label
    CSV given in a submission's place (:func:`drac_ssl.scoring._label_layout_of`); '' for none."""
    from data_prep.labels import normalise
    from data_prep.layout import COLUMNS
    from drac_ssl.config import LAYOUT_NAMES, SCORED_LAYOUTS  # PyYAML only

    held = {normalise(c) for c in header}
    for kind in SCORED_LAYOUTS:
        if all(normalise(c) in held for c in COLUMNS[kind]):
            return f"{', '.join(map(repr, COLUMNS[kind]))}, {LAYOUT_NAMES[kind]}"
    return ""


def _grade_choices(names: Sequence[str]) -> str:
    """``'0 (Normal), 1 (NPDR) or 2 (PDR)'``; numbers only for unnamed grades."""
    parts = [f"{k} ({n})" if n != str(k) else str(k) for k, n in enumerate(names)]
    return ", ".join(parts[:-1]) + f" or {parts[-1]}"


class _Checked(NamedTuple):
    """What :func:`_check` found: the problems, the number of data rows read, the K the rows
    were checked against (None: no row was read) and where it came from (one of
    :data:`SCALE_SOURCES`; "" with no K), and the file's text as checked (UTF-8, its
    byte-order mark removed; None when it could not be read or decoded), for a later look at
    the rows that need not read the file again (:func:`skipped_without_rows`)."""

    problems: ProblemLines
    n_rows: int
    k: int | None = None
    k_from: str = ""
    text: str | None = None


MISSING_COLUMN_SHARE = 0.5
"""With K taken from the file, when more than this share of the rows sum below 1, the file is
one problem (a probability column cut off?), not one per row (:func:`_check`)."""


def _missing_column_problem(problems: _Problems, line: int, short: Sequence[tuple[int, float]],
                            n_summed: int, k: int, k_from: str) -> None:
    """The one problem of a file whose K came from itself (``k_from``: ``header`` or ``row``)
    and most of whose ``n_summed`` rows sum below 1 (``short``: ``(line, sum)`` each): a
    probability column may be missing (a file of more grades with its last P column cut off
    reads as a K-grade file whose rows fall short), said at ``line`` (the header's, or the
    first row's), with the fix that checks it on its own scale, never one that would make it
    a valid K-grade file (normalising the rows, deleting columns)."""
    columns = submission_columns(k)
    low = min(total for _, total in short)
    where = "its header" if k_from == "header" else "the width of its first row (no header)"
    problems.add(line, "sum", f"{len(short)} of the {n_summed} rows sum below 1 "
                 f"({'+'.join(columns[2:])} = {short[0][1]:.6g} on line {short[0][0]}, {low:.6g} at "
                 f"the lowest), with K = {k} taken from {where}: a probability column missing? (a "
                 f"file of {k + 1} or more grades with a P column cut off reads as {k} grades whose "
                 f"rows fall short)",
                 "check it on the scale it was written for: pass --grades K, your scale's number "
                 f"of grades (or, to {python_command('drac_ssl.export')} --check, --manifest RUN); a file "
                 f"missing a column must be written again with every P column ("
                 f"{python_command('drac_ssl.export')} RUN --images DIR --out CSV); do not delete columns or normalise "
                 "the rows to make it pass")


def _csv_text(csv_path: str | os.PathLike[str], problems: _Problems, first_column: str) -> str | None:
    """The text of a submission CSV as the checks read it (DRAC's :func:`_check`, Kaggle's
    :func:`drac_ssl.kaggle.check_kaggle`): the file's bytes decoded as UTF-8, a leading UTF-8
    byte-order mark removed and added to ``problems`` at line 1 (it turns the first column name,
    ``first_column``, into ``'\\ufeff' + first_column``). None, its one problem added at line 0,
    for a file that cannot be read, a spreadsheet workbook given as a CSV (an ``.xlsx`` saved or
    renamed ``.csv``: :func:`data_prep.labels.workbook_words`, refused with its fix, save it as
    CSV) and bytes that are not UTF-8. Never raises for a bad file."""
    try:
        raw = Path(csv_path).read_bytes()
    except OSError as exc:
        problems.add(0, "unreadable", f"cannot read the file ({exc.strerror or exc})",
                     "check the path; it must be a CSV file")
        return None
    if (workbook := workbook_words(raw)) is not None:  # .xlsx / .xls: not text to decode
        problems.add(0, "workbook", f"{workbook}, not a CSV", workbook_fix(workbook))
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        problems.add(1, "bom", "the file starts with a UTF-8 byte-order mark, which turns "
                     f"the first column name into '\\ufeff{first_column}'",
                     "save it as plain UTF-8 without BOM")
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.add(0, "encoding", f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                     "save the CSV as plain UTF-8 text")
        return None


def _check(csv_path: str | os.PathLike[str],
           images_dir: str | os.PathLike[str] | None = None, *,
           num_grades: int | None = None, grade_names: Sequence[str] | None = None,
           cases: Sequence[str] | None = None, scale_from: ScaleFrom = "",
           scale_fix: str = "", image_names: Mapping[str, str] | None = None,
           names_from: str = "", drac_names: bool = False, other_options: str = "") -> _Checked:
    """What is wrong with a submission (:class:`_Checked`); see ``check_submission``.
    ``scale_from``: who says K, for the line on a file of another scale (default "the check
    expects"), and ``scale_fix`` its fix (``{k}``: the file's K; default the check's: the run
    or scale it was written for). ``image_names`` (stem -> file name) and ``names_from`` (who
    names them): the images' own names for the fix of a case without extension
    (:func:`_no_extension_problems`). ``drac_names``: without the test images, a file read as
    DRAC's (3 grades, 386 rows) has its cases checked against DRAC's test names too
    (:func:`_drac_name_problems`; ``--check``'s, not ``--score``'s, which matches by number),
    whose fix names ``other_options`` (the command's other way to check them, ``--manifest RUN ...``)."""
    if images_dir is not None and (problem := images_option_problem(images_dir, csv_path, option="")):
        raise ImagesFolderError(problem, images_dir, csv_path)  # the call's problem, not the file's: no line 0
    file = str(csv_path)
    problems = _Problems(file)
    text = _csv_text(csv_path, problems, SUBMISSION_COLUMNS[0])
    if text is None:
        return _Checked(problems.finish(), 0)
    if grade_names is not None and num_grades is not None and len(grade_names) != num_grades:
        raise ValueError(f"{len(grade_names)} grade names for {num_grades} grades")
    if grade_names is not None and num_grades is None:
        num_grades = len(grade_names)
    drac_folder = num_grades is None and images_dir is not None and is_drac_test_folder(images_dir)
    if drac_folder:  # DRAC's scale, not the header's width: DRAC rejects another
        num_grades, scale_from = len(PROB_COLUMNS), DRAC_TEST_SCALE_FROM
        grade_names = list(default_grade_names(num_grades))
    if not text.strip():
        wanted = (f"'{','.join(submission_columns(num_grades))}'" if num_grades is not None
                  else _assumed_header())
        problems.add(1, "empty", "the file is empty",
                     f"write the header {wanted} and one row per "
                     "test image (drac_ssl.submission.write_submission does this)")
        return _Checked(problems.finish(), 0, text=text)

    first_line = text.lstrip().splitlines()[0]
    for sep, name in ((";", "semicolons"), ("\t", "tabs")):
        if sep in first_line and "," not in first_line:  # a spreadsheet's re-save: one problem, not one per row
            columns = submission_columns(num_grades or max(first_line.count(sep) - 1, 1))
            problems.add(1, "separator", f"the fields are separated by {name}, not commas (as a "
                         f"spreadsheet saves CSV in some locales)",
                         f"save it as comma-separated CSV (header '{','.join(columns)}'), or write "
                         f"it with drac_ssl.submission.write_submission")
            return _Checked(problems.finish(), 0, text=text)

    rows: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for start, fields in _records(reader):  # a row's line: where its record starts
            if fields and any(f.strip() for f in fields):
                rows.append((start, fields))
    except csv.Error as exc:
        problems.add(reader.line_num, "csv", f"malformed CSV ({exc})",
                     "remove stray quotes; fields are plain, comma-separated")

    header_line = rows[0][0] if rows else 1  # the header's line (or the first row's)
    k, k_from = _scale_of(rows, num_grades, drac_folder)
    k_known = k_from != "assumed"
    if rows and (tuple(f.strip().lower() for f in rows[0][1][:4]) == PEOPLE_NOTES_COLUMNS
                 or _is_image_notes_header(rows[0][1])):
        problems.withdraw("bom")  # the notes files for people are written with one (Excel's UTF-8)
    if rows and tuple(f.strip().lower() for f in rows[0][1][:4]) == PEOPLE_NOTES_COLUMNS:  # the app's, for people
        line, header = rows[0]
        problems.add(line, "notes-file", f"this is the app's grades_with_notes.csv "
                     f"({printable_text(','.join(f.strip() for f in header))}: each file's grade in "
                     f"words, for people), not a submission",
                     "check and submit the grades CSV the app offered beside it (submission.csv, "
                     "grades_FLAGGED.csv or grades_INCOMPLETE.csv)")
        return _Checked(problems.finish(), len(rows) - 1, text=text)
    if rows and _is_image_notes_header(rows[0][1]):  # the export's <stem>_notes.csv
        _image_notes_problem(problems, rows, csv_path)
        return _Checked(problems.finish(), len(rows) - 1, text=text)  # no grades in it: no scale said
    if rows and is_referable_header(rows[0][1]):  # the export's <stem>_referable.csv
        _referable_file_problem(problems, rows, csv_path)
        return _Checked(problems.finish(), len(rows) - 1, text=text)  # no grades in it: no scale said
    if rows and _notes_file_grades(rows[0][1]) is not None:  # the app's grades_INCOMPLETE.csv / grades_with_notes.csv
        _notes_file_problem(problems, rows)
        return _Checked(problems.finish(), len(rows) - 1, k, k_from, text)
    if rows and _notes_cut_grades(rows[0][1]) is not None:  # the same with its notes column cut
        _notes_cut_problem(problems, rows)
        return _Checked(problems.finish(), len(rows) - 1, k, k_from, text)
    names = list(grade_names) if grade_names is not None else list(default_grade_names(k))
    columns = submission_columns(k)
    header = ",".join(columns)
    assumed = "" if k_known else f" (DRAC's {k} grades; --grades K to check another scale)"
    # a header of another width than the K asked for (--manifest, --grades): the file of
    # another run, or the wrong file; said once, not as a header to cut and a row-by-row fix
    file_k = _header_width_grades(rows[0][1]) if rows and num_grades is not None else None
    other_scale = file_k is not None and file_k != k
    if other_scale:
        line, first = rows[0]
        problems.add(line, "scale", f"the submission has {file_k} grades "
                     f"({printable_text(','.join(f.strip() for f in first))}) but "
                     f"{grades_k_said(scale_from, k, grade_names)}: the submission of another run, or the wrong file?",
                     f"DRAC accepts only '{header}': grade the images with a run trained on DRAC's "
                     f"{k} grades ({python_command('drac_ssl.export')} RUN --images DIR --out CSV); --grades "
                     f"{file_k} checks the file on its own scale; do not delete columns" if drac_folder else
                     scale_fix.format(k=file_k) if scale_fix else
                     "check it against the run (--manifest) or scale (--grades) it was written "
                     f"for, or grade the images again with this run ({python_command('drac_ssl.export')} RUN "
                     "--images DIR --out CSV); do not delete columns")
        rows = rows[1:]
    elif rows:
        line, first = rows[0]
        if [f.strip().lower() for f in first] == [c.lower() for c in columns]:
            if first != list(columns):
                problems.add(line, "header", f"header is '{printable_text(','.join(first))}' (case or spaces "
                             "differ)", f"write exactly '{header}'")
            rows = rows[1:]
        elif first and (Path(first[0].strip()).suffix.lower() in IMAGE_SUFFIXES
                        or (len(first) > 1 and _parse_number(first[1]) is not None)):
            problems.add(line, "header", "the header line is missing (the first line is "
                         "already data)", f"insert '{header}' as the first line")
        elif label := _label_csv_columns(first):  # a label CSV: no header to replace, no rows to fix
            problems.add(line, "label-csv", f"this is a label CSV ({label}), not a submission",
                         f"check the submission the export wrote ({python_command('drac_ssl.export')} RUN "
                         f"--images DIR --out CSV); to score one against this file: --score CSV --labels {file}")
            return _Checked(problems.finish(), len(rows) - 1, text=text)
        else:
            problems.add(line, "header", f"header is '{printable_text(','.join(first))}'",
                         f"replace it with '{header}'" if k_known
                         else f"replace it with {_assumed_header()}")
            rows = rows[1:]
    if not rows:
        problems.add(reader.line_num + 1, "no-rows", "no data rows",
                     "add one row per test image after the header")

    seen: dict[str, int] = {}
    valid_cases: list[tuple[int, str]] = []
    percent_rows: list[tuple[int, list[str]]] = []
    short_rows: list[tuple[int, float]] = []  # (line, sum) of the rows summing below 1
    empty_rows: list[tuple[int, str]] = []  # (line, case) of the rows with no class and no P
    n_summed = 0  # rows whose K probabilities are numbers in [0, 1]
    bad_width: set[int] = set()  # lines of the records of another width: their case is no name to judge
    for line, fields in rows:
        if len(fields) != len(columns):
            bad_width.add(line)
            if not (other_scale and file_k is not None and len(fields) == file_k + 2):
                spans = any("\n" in f or "\r" in f for f in fields)  # a stray quote swallowed the lines after it
                problems.add(line, "columns", f"{len(fields)} columns, expected "
                             f"{len(columns)} ({header})" + (
                                 "; the record runs over several lines: an unbalanced double quote?"
                                 if spans else ""),
                             ("remove the stray double quote; " if spans else "")
                             + f"write {header} separated by commas, nothing else{assumed}")
            key = fields[0].strip() if fields else ""
            if key and key not in seen:  # its case is there: no "has no row" for it below
                seen[key] = line
                valid_cases.append((line, key))
            continue
        case, grade_text, *prob_texts = fields
        if not case.strip():
            problems.add(line, "case", "empty case", "write the image file name, e.g. '161.png'")
        elif case != case.strip():
            problems.add(line, "case", f"case {case!r} has surrounding spaces",
                         f"write '{case.strip()}'")
        if case.strip():
            key = case.strip()
            if key in seen:
                problems.add(line, "duplicate", f"duplicate case '{printable_text(key)}' (first on line "
                             f"{seen[key]})", "keep exactly one row per image")
            else:
                seen[key] = line
                valid_cases.append((line, key))

        if not grade_text.strip() and not any(t.strip() for t in prob_texts):
            empty_rows.append((line, case.strip()))  # said once below, not a problem per cell
            continue
        g = grade_text.strip()
        if not (g.isdigit() or (g[:1] in "+-" and g[1:].isdigit())):
            problems.add(line, "class", f"class '{grade_text}' is not an integer",
                         f"write the grade as {_grade_choices([str(i) for i in range(k)])} "
                         "(no decimals)")
        elif int(g) not in range(k):
            problems.add(line, "class", f"class {int(g)} is outside "
                         f"{{{', '.join(str(i) for i in range(k))}}}",
                         f"write {_grade_choices(names)}")

        numbers = [_parse_number(t) for t in prob_texts]
        if _in_percent(numbers):  # 70,20,10: one problem for the file below, not one per cell
            percent_rows.append((line, prob_texts))
            continue
        values: list[float] = []
        for col, p_text in zip(columns[2:], prob_texts, strict=True):
            v = _parse_number(p_text)
            if v is None or not math.isfinite(v):
                problems.add(line, "probability", f"{col} '{p_text}' is not a finite number",
                             "write a probability between 0 and 1, e.g. 0.125000")
            elif not 0.0 <= v <= 1.0:
                problems.add(line, "probability", f"{col} = {p_text} is outside [0, 1]",
                             "write softmax probabilities, not logits")
            else:
                values.append(v)
        if len(values) == k:
            n_summed += 1
            if sum(values) < 1.0 - CHECK_SUM_TOL:  # said below: one row, or the whole file
                short_rows.append((line, sum(values)))
            elif sum(values) > 1.0 + CHECK_SUM_TOL:
                problems.add(line, "sum", f"{'+'.join(columns[2:])} = {sum(values):.6g}, not 1 "
                             f"(tolerance {CHECK_SUM_TOL:g})",
                             "normalise the row so the probabilities sum to 1")

    if k_from in ("header", "row") and len(short_rows) > MISSING_COLUMN_SHARE * n_summed:
        # K from the file itself, most rows short of 1: a column cut off, not rows to normalise
        _missing_column_problem(problems, header_line, short_rows, n_summed, k, k_from)
    else:
        for line, total in short_rows:
            problems.add(line, "sum", f"{'+'.join(columns[2:])} = {total:.6g}, not 1 (tolerance "
                         f"{CHECK_SUM_TOL:g})", "normalise the row so the probabilities sum to 1")

    if empty_rows:
        _empty_rows_problem(problems, empty_rows)
    if percent_rows:
        line, texts = percent_rows[0]
        n = len(percent_rows)
        problems.add(line, "percent", f"{n} row{'s' * (n > 1)} hold{'s' * (n == 1)} percentages "
                     f"({'+'.join(columns[2:])} = 100, e.g. {'+'.join(t.strip() for t in texts)} on "
                     f"line {line}), not probabilities",
                     "divide every probability by 100 (each row must sum to 1)")
    # the rule of a case name, that of write_submission and the export, as DRAC's format needs it:
    # a comma, quote or line break is a problem; a formula start a warning (a test image keeps its name)
    taken = [case for _, case in valid_cases] + _folder_names(images_dir)
    drac_shaped = (images_dir is None and cases is None and drac_names and k == len(PROB_COLUMNS)
                   and len(rows) == DRAC_TEST_IMAGES)  # read as DRAC's: a fix names DRAC's name
    for line, case in valid_cases:
        if line in bad_width:  # said as a record of another width: its "case" may be several rows
            continue
        why = case_name_problem(case)  # case is stripped and not empty: "surrounding spaces" said above
        if why is None:
            continue
        breaks = any(ch in case for ch in UNQUOTED_CASE_BREAKERS)
        if any(sep in case for sep in CASE_PATH_SEPARATORS) and not breaks:  # a path: a problem, even
            alone = _case_path_fix(case)  # beside a control character (its file name then no fix)
            if alone and drac_shaped and Path(alone).stem.isascii() and Path(alone).stem.isdigit():
                alone = f"{int(Path(alone).stem):03d}.png"  # 'x/6.png' -> '006.png', not '6.png'
            problems.add(line, "case-name", f"case '{printable_text(case)}' {CASE_SEPARATOR_WHY}",
                         f"write the image's file name alone as its case: '{printable_text(alone)}'" if alone
                         else "write the image's file name alone as its case, e.g. '161.png'")
        elif not _formula_start_only(case):  # a comma, quote, line break or control character
            safe = safe_case_name(case, taken)  # a name no other case or image has
            taken.append(safe)
            problems.add(line, "case-name", f"case '{printable_text(case)}' {why}",
                         f"rename the image file to '{printable_text(safe)}' and write that name as its case")
        else:  # a formula start: DRAC reads it as it is; only a spreadsheet opening the CSV may not
            problems.warn(line, f"case '{printable_text(case)}' starts with {case[0]!r}: spreadsheets "
                          "(Excel, LibreOffice) may read it as a formula",
                          "nothing to change if it is the image's own file name (the grader keys on it); "
                          "open the CSV as text, not in a spreadsheet (the export itself refuses to write "
                          "such a name)")
    if images_dir is not None:  # a folder of images: checked by the caller (_check)
        _check_against_images(problems, Path(images_dir), valid_cases,
                              end_line=(rows[-1][0] + 1) if rows else 2)
    elif cases is not None:
        _check_against_cases(problems, list(cases), valid_cases,
                             end_line=(rows[-1][0] + 1) if rows else 2)
    else:
        if drac_shaped:  # a case without extension too gets DRAC's name ('1' -> '001.png') in one go
            _drac_name_problems(problems, [(line, case) for line, case in valid_cases
                                           if line not in bad_width and (case_name_problem(case) is None
                                                                         or _formula_start_only(case))],
                                other_options)  # else said above
        else:
            bare = [(line, case) for line, case in valid_cases
                    if not Path(case).suffix and not (line not in bad_width and any(
                        ch in case for ch in UNQUOTED_CASE_BREAKERS))]  # else said above
            _no_extension_problems(problems, bare, len(valid_cases), image_names or {}, names_from)
    return _Checked(problems.finish(), len(rows), k, k_from, text)


DRAC_CASE_NAME = re.compile(r"(?:\d{3}|[1-9]\d{3,})\.png")
"""A DRAC 2022 Task 3 test image's file name: its id zero-padded to three digits, ``.png``
(``001.png`` ... ``999.png``, ``1000.png``; docs/drac.md)."""


def _drac_name_problems(problems: _Problems, cases: Sequence[tuple[int, str]], other_options: str = "") -> None:
    """The cases ((line, case)) of a file read as DRAC's submission without its test images
    (3 grades, DRAC's 386 rows) that are no DRAC test image name (:data:`DRAC_CASE_NAME`), which
    the grader cannot match (a missing case makes the whole submission invalid): one problem
    per kind, at its first line, counting them and naming :data:`NO_EXTENSION_LISTED`. Kinds:
    a number that lost its leading zeros (``1.png``, the ingest's words), a number with another
    extension or none (``161.jpg``, ``161``), any other name; the fix names the right name of a number and, for
    every kind, the check against the test images themselves (``--images DIR``, or
    ``other_options``): a file of another 3-grade data set with 386 rows (``12.png``) is right there."""
    kinds: dict[str, list[tuple[int, str]]] = {"zeros": [], "extension": [], "other": []}
    for line, case in cases:
        if DRAC_CASE_NAME.fullmatch(case):
            continue
        stem, suffix = Path(case).stem, Path(case).suffix
        number = stem.isascii() and stem.isdigit()
        kind = ("extension" if number and suffix != ".png" else
                "zeros" if number and len(stem) < 3 else "other")
        kinds[kind].append((line, case))
    for kind, named in kinds.items():
        if not named:
            continue
        shown = ", ".join(f"'{printable_text(case)}' (line {line})" for line, case in named[:NO_EXTENSION_LISTED])
        more = f" and {len(named) - NO_EXTENSION_LISTED} more" if len(named) > NO_EXTENSION_LISTED else ""
        example = next((case for _, case in named if Path(case).stem.isascii() and Path(case).stem.isdigit()), "")
        right = (f" ('{printable_text(example)}' -> '{int(Path(example).stem):03d}.png')" if example else "")
        what = {"zeros": "lost their leading zeros (a spreadsheet read them as numbers)",
                "extension": "end in another extension than DRAC's test images' .png, or in none",
                "other": "are no DRAC test image names"}[kind]
        problems.add(named[0][0], CASE_NAME_KIND,
                     f"{len(named)} case(s) {what}: {shown}{more}; the grader matches the test "
                     f"images' file names exactly (the id zero-padded to 3 digits, .png: '001.png', "
                     f"'1000.png'), and a missing case makes the whole submission invalid",
                     f"write each case as its test image's file name{right}"
                     + ("; format the name column as text in the spreadsheet (Python: f'{id:03d}.png')"
                        if kind == "zeros" else "")
                     + "; or check it against the test images themselves: --images DIR (the names "
                       "the grader matches)" + (f", or {other_options}" if other_options else ""))


NO_EXTENSION_LISTED = 3
"""Cases without a file extension said one by one up to this many; more are one problem that
counts them and names this many (:func:`_no_extension_problems`)."""


def _no_extension_problems(problems: _Problems, bare: Sequence[tuple[int, str]], n_cases: int,
                           image_names: Mapping[str, str], names_from: str) -> None:
    """The problems of the cases without a file extension, ``bare`` ((line, case), of
    ``n_cases`` cases): one each up to :data:`NO_EXTENSION_LISTED`, else one at the first such
    line that counts them and names a few (a trial: 28 lines for 28 rows of DeepDRiD ids). The
    fix names the image's own file name where ``image_names`` (stem -> file name, as
    ``names_from`` names it: the label CSV's column of paths) knows it (``1_l1.jpg``), else asks
    for the extension without guessing one (a ``.png`` suggested for JPEG images misled)."""
    if not bare:
        return

    def fix_for(case: str, each: bool) -> str:
        known = image_names.get(case)
        written = "write each case as its image's file name" if each else "write the image's file name"
        if known:
            return f"{written}, with its extension: e.g. '{printable_text(known)}', as {names_from} names it"
        return f"{written}, with its extension (e.g. .jpg, .png)"
    if len(bare) <= NO_EXTENSION_LISTED:
        for line, case in bare:
            problems.add(line, "case-name", f"case '{printable_text(case)}' has no file extension",
                         fix_for(case, each=False))
        return
    shown = ", ".join(f"'{printable_text(case)}' (line {line})" for line, case in bare[:NO_EXTENSION_LISTED])
    counted_ = f"all {n_cases}" if len(bare) == n_cases else f"{len(bare)} of the {n_cases}"
    problems.add(bare[0][0], "case-name",
                 f"{counted_} cases have no file extension: {shown} and "
                 f"{len(bare) - NO_EXTENSION_LISTED} more", fix_for(bare[0][1], each=True))


def _folder_names(images_dir: str | os.PathLike[str] | None) -> list[str]:
    """The names of the entries of the folder ``images_dir`` (none without one, or when it
    cannot be listed): names a renamed case must not take."""
    if images_dir is None:
        return []
    try:
        return [p.name for p in Path(images_dir).iterdir()]
    except OSError:
        return []


def _check_against_images(problems: _Problems, folder: Path,
                          cases: list[tuple[int, str]], end_line: int) -> None:
    """Every image once, every case an image, case names equal to file names, and no file
    that is not graded (:func:`read_folder`'s ``others``) without a row."""
    index = _image_index(folder)
    images = {name for key, name in index.items() if key == name}
    named = {case for _, case in cases}
    not_graded = read_folder(folder).others
    # files no row of this package can cover (x.webp, notes.txt), the export's words; a row
    # that names one (written by another tool) covers it
    for path, why, fix in not_graded:
        if path.name not in named:
            problems.add(end_line, "not-graded", f"file '{path.name}' {why}: the submission has no "
                         f"row for it", f"{fix}, then grade the folder again")
    others = {path.name for path, _, _ in not_graded}
    rows_of: dict[str, int] = {}  # image -> the first line that names it exactly
    for line, case in cases:
        if case in images:
            rows_of.setdefault(case, line)
    covered: set[str] = set(rows_of)
    near: list[tuple[int, str, str]] = []  # (line, case, the image it names inexactly)
    for line, case in cases:
        if case in images or case in others:
            continue
        stem = Path(case).stem
        match = index.get(case) or index.get(stem)
        if match is None and stem.isdigit():
            match = index.get(f"#{int(stem)}")
        if match is not None:
            near.append((line, case, match))
            covered.add(match)
        else:
            problems.add(line, "no-image", f"case '{printable_text(case)}' has no image in '{folder}'",
                         "remove the row, or check that --images is the test-set folder")
    missing = sorted(images - covered)
    for line, case, match in near:
        if match in rows_of and rows_of[match] != line:
            # writing the file name would make a second row of it: a trial's '1005' beside
            # '1005.png' was most likely the row of 1004.png, which had none
            problems.add(line, "case-name", f"case '{printable_text(case)}' is not an image file name, and '{match}' "
                                            f"already has a row (line {rows_of[match]})",
                         f"if this is the row of {' or '.join(repr(m) for m in missing[:3])} (no row "
                         f"yet), write that name; else remove the row" if missing else
                         "remove the row: every test image must appear exactly once")
        else:
            rows_of.setdefault(match, line)
            problems.add(line, "case-name", f"case '{printable_text(case)}' is not an image file name",
                         f"write '{match}' (the file name in {folder.name}/)")
    for name in missing:
        problems.add(end_line, "missing", f"image '{name}' has no row",
                     "add a row for it (this line number is where the file ends: the next row); every "
                     "test image must appear exactly once")


def _check_against_cases(problems: _Problems, expected: list[str],
                         cases: list[tuple[int, str]], end_line: int) -> None:
    """Every expected case (e.g. the ingest manifest's test ids, when the test images live
    in an array file and not in a folder) once, and no other."""
    wanted = set(expected)
    by_stem: dict[str, str] = {}
    for name in expected:
        by_stem.setdefault(Path(name).stem, name)
    covered: set[str] = set()
    for line, case in cases:
        if case in wanted:
            covered.add(case)
            continue
        match = by_stem.get(Path(case).stem)
        if match is not None:
            covered.add(match)
            problems.add(line, "case-name", f"case '{printable_text(case)}' is not a test case name",
                         f"write '{match}' (the name in the ingest manifest)")
        else:
            problems.add(line, "no-image", f"case '{printable_text(case)}' is not a test case of the manifest",
                         "remove the row, or check that the submission is for this data set")
    for name in sorted(wanted - covered, key=expected.index):
        problems.add(end_line, "missing", f"test case '{name}' has no row",
                     "add a row for it (this line number is where the file ends: the next row); every "
                     "test case must appear exactly once")


def check_submission(csv_path: str | os.PathLike[str],
                     images_dir: str | os.PathLike[str] | None = None, *,
                     num_grades: int | None = None, grade_names: Sequence[str] | None = None,
                     cases: Sequence[str] | None = None) -> ProblemLines:
    """Every problem of a submission CSV, one ``FILE:LINE: what is wrong -> how to fix``
    string each; an empty list means the file is valid (``.total`` counts those a per-kind
    cut left out, :class:`ProblemLines`).

    Checks: readable UTF-8 text without BOM, not empty; header exactly
    ``case,class,P0..P{K-1}`` (missing or different; DRAC: ``case,class,P0,P1,P2``);
    K + 2 columns per row; class an integer in ``0..K-1``; the P columns finite numbers in
    [0, 1] summing to 1 within 1e-3 (rows of percentages, summing to 100, are one problem for
    the file with the fix to divide by 100, not one per cell; the app's batch files with a
    notes column, ``case,class,P0..P{K-1},notes``, are one problem that says what the file is,
    the files it says were NOT GRADED and what to do; the export's notes file,
    ``<stem>_notes.csv`` (:data:`IMAGE_NOTES_COLUMNS` or an earlier version's header), is one
    problem that says what it is and names the submission beside it; the rows whose class and probabilities
    are all empty, such a file's rows NOT GRADED with its notes column cut off, are one
    problem that says so, not one per empty cell; with K taken from the file
    itself, more than half of the rows summing below 1 are one problem too, a probability
    column cut off?, whose fix is ``--grades K`` / ``--manifest RUN``, never to normalise the
    rows); no duplicate or empty case. K is ``num_grades`` (or
    ``len(grade_names)``, whose names appear in the fixes), else DRAC's 3 when ``images_dir``
    is DRAC's own test folder (:func:`is_drac_test_folder`: a 5-grade file is then one line
    at line 1, as DRAC would reject it), else the width of a header
    ``case,class,P..`` (K columns named P and a number, even misnumbered: ``P0,P1,P2,P3,P5``
    is K = 5), else the first row's when it is data, else 3 assumed (the header and
    empty-file fixes then name ``case,class,P0..P{K-1}`` and ``--grades K``). A header
    ``case,class,P..`` of another width than the K given (``num_grades`` / ``grade_names``:
    a 4-grade file checked against a 2-grade run) is one line at line 1 (the file of another
    run, or the wrong file?) and its rows of that width get no column errors. Every case is
    held to :func:`case_name_problem`, the rule of :func:`write_submission` and the export: a
    comma, double quote or line break, which DRAC's unquoted format cannot hold, is a problem
    whose fix is :func:`safe_case_name`'s name to rename the image to, one that no other case
    nor any entry of ``images_dir`` has; a formula's first character (``-1.png``) is no problem
    but a ``FILE:LINE: warning:`` line in the result's ``.warnings`` (a test image keeps the name
    the grader keys on); a record of another width than K + 2 is one column problem, its case
    not judged (a stray quote's record that swallowed the rows after it). A row is said at the
    line its record starts on (a quoted case holding a line break spans two).
    Without ``images_dir``, a case without file extension is flagged (more than
    :data:`NO_EXTENSION_LISTED` such cases: one problem that counts them). With ``images_dir`` (the test
    images): every image has a row, every case an image, and a case that names an image but
    not by its file name (``161`` or ``1.png`` for ``001.png``) gets the right name as fix;
    a file of the folder the export does not grade (``x.webp``, ``notes.txt``: :func:`read_folder`,
    hidden files and sub-folders aside) is a problem too, with why. Without an image folder,
    ``cases`` (e.g. the ingest manifest's test ids: RetinaMNIST's ``test_0000.png`` ...
    live in an ``.npz``) are checked the same way: each once, no other. LINE 0 means the
    file as a whole; a missing image points one past the last row. At most 20 problems of
    one kind are listed, then a line counting the rest. Never raises for a bad file.

    Raises:
        ImagesFolderError (a ValueError): ``images_dir`` is no folder of images (it does not
            exist, is a file, cannot be listed, or holds no image file): the message names
            the folder, what is wrong and the fix (:func:`images_option_problem`, in the
            library's words: ``cases=`` of the run's manifest, no command-line option), not a
            line 0 of the submission.
        ValueError: ``grade_names`` and ``num_grades`` disagree.
    """
    return _check(csv_path, images_dir, num_grades=num_grades, grade_names=grade_names,
                  cases=cases).problems


@dataclass(frozen=True)
class SubmissionRows:
    """A submission that passed :func:`check_submission`, read (:func:`read_submission`)."""

    path: Path
    cases: list[str]  # the case column, as written (image file names)
    classes: np.ndarray  # (n,) int64: the submitted grades, the class column
    probs: np.ndarray  # (n, K) float64: the P0..P{K-1} columns
    lines: list[int]  # (n,) each row's line in the file (1 = the header)

    @property
    def num_grades(self) -> int:
        """K, the number of P columns."""
        return int(self.probs.shape[1])


def read_submission(csv_path: str | os.PathLike[str], *, num_grades: int | None = None,
                    scale_from: ScaleFrom = "", scale_fix: str = "", image_names: Mapping[str, str] | None = None,
                    names_from: str = "") -> tuple[SubmissionRows | None, ProblemLines]:
    """A submission CSV's rows when it passes :func:`check_submission` (with ``num_grades``;
    None: K from the header as the check takes it), else None and the check's problems
    (``FILE:LINE: what -> fix``), exactly as ``--check`` prints them (``scale_from``: who says
    ``num_grades``, as :func:`report_check` takes it; ``scale_fix``: the fix of a header of
    another width than ``num_grades``, ``{k}`` its width, default ``--check``'s). Cases are
    checked for their format only (no image folder): a case without a file extension, or one
    holding a comma, quote or line break (:func:`case_name_problem`), is a problem; one starting
    with a formula character is a warning only, in the problems' ``.warnings`` either way; more
    than :data:`NO_EXTENSION_LISTED` cases without extension are one problem counting them, whose
    fix names the image's file name where ``image_names`` (stem -> file name, as ``names_from``
    names it) knows it."""
    problems = _check(csv_path, num_grades=num_grades, scale_from=scale_from, scale_fix=scale_fix,
                      image_names=image_names, names_from=names_from).problems
    if problems:
        return None, problems
    return _checked_rows(csv_path), problems


def _checked_rows(csv_path: str | os.PathLike[str]) -> SubmissionRows:
    """The rows of a submission CSV that passed :func:`_check` (not checked again)."""
    text = Path(csv_path).read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    cases: list[str] = []
    classes: list[int] = []
    probs: list[list[float]] = []
    lines: list[int] = []
    header = True
    for start, fields in _records(reader):  # a row's line: where its record starts, as _check says it
        if not fields or not any(f.strip() for f in fields):
            continue
        if header:  # the check passed: the first non-blank record is case,class,P0..P{K-1}
            header = False
            continue
        cases.append(fields[0].strip())
        classes.append(int(fields[1].strip()))
        probs.append([float(f) for f in fields[2:]])
        lines.append(start)
    return SubmissionRows(Path(csv_path), cases, np.asarray(classes, dtype=np.int64),
                          np.asarray(probs, dtype=np.float64), lines)


CLASS_RULE_TOL = 1e-4
"""How near a cut a row may sit for either side's class to pass as a class rule's
(:func:`classes_off_rule`): a file's probabilities are rounded to 6 decimals, which moves an
expected grade by up to about 1e-5, and two tied probabilities may differ in the last one."""


def not_largest_rows(probs: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Per row, whether its class is not its largest probability: its P below the row's largest
    by more than :data:`CLASS_RULE_TOL` (a tie is not such a row). ``probs`` ``(n, K)``,
    ``classes`` ``(n,)`` integers 0..K-1; returns ``(n,)`` booleans."""
    probs = np.asarray(probs, dtype=np.float64)
    classes = np.asarray(classes, dtype=np.int64)
    if probs.size == 0:
        return np.zeros(len(classes), dtype=bool)
    given = probs[np.arange(len(classes)), classes]
    return given < probs.max(axis=1) - CLASS_RULE_TOL


def grade_note_counts(grade_notes: Sequence[str], probs: np.ndarray, classes: np.ndarray) -> tuple[int, int, int]:
    """The rows with a ``grade_note`` (``grade_notes``, one per row, "" where none:
    :func:`drac_ssl.grading.image_notes.decision_words`), counted by why, three kinds that do
    not overlap: ``(n_not_largest, n_near_tie, n_equal_shown)``. Whether a class is its row's
    largest P is read from the P the file has (:func:`written_units`, exact millionths), never
    from the whole percentages shown: ``n_not_largest``, a class whose P is below the row's
    largest and not equal to it at the whole percentages shown; ``n_equal_shown``, a class whose
    P is below the row's largest but equal to it at the whole percentages shown
    (:func:`drac_ssl.figures.tied_grades`: P0 0.483199 > P1 0.479874, class 1, both 48%;
    :data:`EQUAL_SHOWN_WORDS`); ``n_near_tie``, a class whose P is the row's largest while
    another grade's ties with it at the whole percentages shown (:data:`NEAR_TIE_WORDS`). A
    review counted the 0.483199 / 0.479874 row "it is [the largest], but another grade's
    probability ties": a tie at whole percentages was taken for the largest P. ``probs``
    ``(n, K)``, ``classes`` ``(n,)``. The counts :func:`class_rule_words` says, for the export
    command and the export stage alike. Raises ValueError when the notes and rows differ in
    number."""
    probs = np.asarray(probs, dtype=np.float64)
    classes = np.asarray(classes, dtype=np.int64)
    if len(grade_notes) != len(classes):
        raise ValueError(f"{len(grade_notes)} grade notes for {len(classes)} graded rows")
    noted = [k for k, note in enumerate(grade_notes) if note]
    if not noted:
        return 0, 0, 0
    units = written_units(probs[noted], classes[noted])  # the file's numbers: its class takes a tie's remainder
    n_not_largest = n_near_tie = n_equal_shown = 0
    for row, k in zip(units, noted, strict=True):
        below = bool(row[int(classes[k])] < row.max())
        shown_equal = int(classes[k]) in tied_grades(probs[k])
        n_not_largest += below and not shown_equal
        n_equal_shown += below and shown_equal
        n_near_tie += not below
    return n_not_largest, n_near_tie, n_equal_shown


EQUAL_SHOWN_WORDS = "it is not the largest, though equal at the percentages shown"
"""How :func:`class_rule_words` says the rows whose class P is below their largest P but equal
to it at the whole percentages shown (:func:`grade_note_counts`' ``n_equal_shown``)."""


NEAR_TIE_WORDS = "another grade's probability ties with it at the whole percentages shown"
"""Why a row whose class is tied for its largest P at the whole percentages shown (the largest
P, or 0.449 against 0.451: 45% each) still has a ``grade_note``
(:func:`drac_ssl.grading.image_notes.decision_words` names the grades tied at the whole percentages
the page and the notes show, :func:`drac_ssl.figures.tied_grades`): the words of :func:`class_rule_words`, docs/running.md and
docs/own_fundus_folder.md."""


def class_rule_words(decision: str, n_not_largest: int = 0, n_rows: int = 0, why: str = "",
                     n_near_tie: int = 0, n_equal_shown: int = 0) -> str:
    """What a submission's ``class`` column is under a bundle's class rule (``decision``,
    its ``finetune.decision``), the one wording of the export command's ``class = ...`` line,
    the export stage's console line and report.md's Export section: ``argmax``, "the most
    probable grade"; ``thresholds``, "the expected grade cut at QWK-tuned thresholds, so not
    always the largest P", followed, when ``n_not_largest`` of the ``n_rows`` rows have a class
    that is not their largest P (:func:`grade_note_counts`), by "(for 134 of the 386 here it is
    not)", and when ``n_near_tie`` rows have a class that is their largest P but in a near-tie
    (:data:`NEAR_TIE_WORDS`: their ``grade_note`` names the tied grades) by "(for 25 of the 25
    here it is, but another grade's probability ties with it at the whole percentages shown)" ("and for 22
    more it is, but ..." after the first count); ``why`` (where each row's note is written)
    after a colon inside the parentheses; ``n_equal_shown`` rows whose class P is below the largest
    but equal to it at the whole percentages shown, "for 1 more it is not the largest, though
    equal at the percentages shown" (:data:`EQUAL_SHOWN_WORDS`), between the two. Together the
    counts are the rows with a ``grade_note`` (:func:`grade_note_counts`), so a notes file
    written for them alone is named and counted here."""
    if decision == "argmax":
        return "the most probable grade"
    return ("the expected grade cut at QWK-tuned thresholds, so not always the largest P"
            + _rows_counted([(n_not_largest, "it is not"), (n_equal_shown, EQUAL_SHOWN_WORDS),
                             (n_near_tie, f"it is, but {NEAR_TIE_WORDS}")], n_rows, why))


def _rows_counted(kinds: Sequence[tuple[int, str]], n_rows: int, why: str) -> str:
    """`` (for 3 of the 9 here FIRST, and for 2 more SECOND: WHY)``, the counts a class rule is
    said with, ``kinds`` ``(count, words)`` in order (each part only when its count is not 0;
    "" when all are)."""
    counts = []
    for n, words in kinds:
        if n:
            counts.append(f"for {n} {'more' if counts else f'of the {n_rows} here'} {words}")
    return " (" + ", and ".join(counts) + (f": {why}" if why else "") + ")" if counts else ""


def smaller_class_rows(probs: np.ndarray, classes: np.ndarray) -> int:
    """How many rows of a two-grade submission (``probs`` ``(n, 2)``, ``classes`` ``(n,)``) have a
    class whose P is strictly the smaller of the two (class 1 with P1 < P0, or class 0 with
    P0 < P1): a threshold on P1 away from 0.5 gives them (:func:`two_grade_rule_words`); 0 for
    another K. Read from the P the file has (:func:`written_units`, exact millionths), as
    :func:`grade_note_counts` reads it: (0.5000004, 0.4999996) is written 0.500000 twice, a tie."""
    probs = np.asarray(probs, dtype=np.float64)
    classes = np.asarray(classes, dtype=np.int64)
    if probs.ndim != 2 or probs.shape[1] != 2 or not len(classes):
        return 0
    units = written_units(probs, classes)
    rows = np.arange(len(classes))
    return int((units[rows, classes] < units[rows, 1 - classes]).sum())


def two_grade_rule_words(threshold: float, n_smaller: int = 0, n_rows: int = 0, why: str = "",
                         n_near_tie: int = 0, decision: str = "thresholds", *, markdown: bool = False) -> str:
    """What a two-grade submission's ``class`` column is under the thresholds rule of a
    classification head (``finetune.decision=thresholds``; the expected grade of two grades is
    P1): ``1 when P1 >= 0.499, the threshold fitted on the out-of-fold outputs ..., else 0, so
    not always the larger P``, said as the notes' ``grade_note`` says it (P1 against the
    threshold), never "the largest P" of a row where it is not: ``n_smaller`` of the ``n_rows``
    rows have a class whose P is the smaller (:func:`smaller_class_rows`; the trial's P0 0.500427
    > P1 0.499573 graded 1), ``n_near_tie`` more a class whose P is the larger but ties with the
    other at the whole percentages shown; ``why`` (where each row's note is) after a colon; the
    setting last, in backticks when ``markdown`` (report.md)."""
    words = (f"1 when P1 >= {threshold:.6g}, the threshold fitted on the out-of-fold outputs (with two "
             f"grades the expected grade is P1), else 0, so not always the larger P")
    words += _rows_counted([(n_smaller, "it is the smaller"),
                            (n_near_tie, "it is the larger, but P0 and P1 tie at the whole percentages shown")],
                           n_rows, why)
    setting = f"finetune.decision={decision}"
    return f"{words} ({f'`{setting}`' if markdown else setting})"


def class_rule_setting_words(decision: str, n_not_largest: int = 0, n_rows: int = 0, why: str = "",
                             n_near_tie: int = 0, *, markdown: bool = False, n_equal_shown: int = 0) -> str:
    """:func:`class_rule_words` (same arguments) followed by the setting that made the rule,
    ``(finetune.decision=thresholds)``, the setting in backticks when ``markdown``: the one
    builder of the export's ``class = ...`` words (:func:`drac_ssl.export.class_rule_said`,
    the command's and the stage's console line) and of report.md's Export section's ``its
    class:`` line, so the two cannot drift apart."""
    setting = f"finetune.decision={decision}"
    return (f"{class_rule_words(decision, n_not_largest, n_rows, why, n_near_tie, n_equal_shown)} "
            f"({f'`{setting}`' if markdown else setting})")


def classes_off_rule(rows: SubmissionRows, decision: str,
                     thresholds: Sequence[float]) -> list[tuple[str, int, int]]:
    """The rows of a submission whose class a class rule would not give them, in file order:
    ``(case, class given, class of the rule)``. ``decision`` (a bundle's
    ``finetune.decision``): ``argmax``, the most probable grade (a class whose P is within
    :data:`CLASS_RULE_TOL` of the largest passes: a tie); ``thresholds``, the expected grade
    ``sum_k k * P_k`` cut at ``thresholds`` (K - 1 increasing: the class is the number of
    thresholds at or below the score; a class the score gives within :data:`CLASS_RULE_TOL`
    of a cut passes). The thresholds rule is that of a classification head: a regression
    head's score is not the expected grade of its probabilities, so its class cannot be
    replayed from them. DRAC accepts any class; this only says which disagree. Raises
    ValueError for another decision, or thresholds of another K than the rows'."""
    probs, given = rows.probs, rows.classes
    if decision == "argmax":
        rule = probs.argmax(axis=1)
        passes = ~not_largest_rows(probs, given)
    elif decision == "thresholds":
        cuts = np.asarray(thresholds, dtype=np.float64)
        if len(cuts) != rows.num_grades - 1:
            raise ValueError(f"{len(cuts)} thresholds for {rows.num_grades} grades: give K - 1")
        score = probs @ np.arange(rows.num_grades, dtype=np.float64)

        def cut(s: np.ndarray) -> np.ndarray:
            return (s[:, None] >= cuts[None, :]).sum(axis=1)

        rule = cut(score)
        passes = (cut(score - CLASS_RULE_TOL) <= given) & (given <= cut(score + CLASS_RULE_TOL))
    else:
        raise ValueError(f"unknown class decision {decision!r}: argmax or thresholds")
    return [(rows.cases[i], int(given[i]), int(rule[i])) for i in np.flatnonzero(~passes)]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m drac_ssl.submission --check TEAM.csv [--images DIR] [--grades K]``.

    Prints each problem (or ``OK: N cases``; without ``--images`` the line says that
    completeness was not checked) and returns the exit code of
    :func:`report_check` (:data:`drac_ssl.exit_codes.CHECK_EXIT_CODES`, in ``--help``): 0 when there is none, 1 when there are problems, 3 when,
    without ``--images``, a file of DRAC's 3 grades has not DRAC's 386 rows (NOT a valid DRAC
    submission, the line says) or the export's ``.skipped.json`` beside it names skipped
    files it has no row for (NOT a complete submission), 2 when stdout
    cannot be written (``> /dev/full``: one ``error:`` line on stderr instead) or ``--images``
    is no folder of images (:func:`images_option_problem`: an ``error:`` line). A usage error
    (a missing ``--check``, ``--grades`` not an integer) exits 2 through argparse's
    SystemExit, after its usage message.
    """
    started()  # everything is imported: Ctrl-C raises KeyboardInterrupt again
    parser = CommandParser(allow_abbrev=False,  # a prefix is refused, never guessed
        prog=python_command("drac_ssl.submission"),
        description="Check a submission CSV (DRAC 2022 Task 3: case,class,P0,P1,P2; K grades: "
                    "case,class,P0..P{K-1}).",
        epilog=f"Exit codes: {CHECK_EXIT_CODES}.")
    parser.add_argument("--check", required=True, metavar="CSV", help="the submission file")
    parser.add_argument("--images", metavar="DIR", default=None,
                        help="folder of the test images: every image must appear once")
    parser.add_argument("--grades", type=grades_count, default=None, metavar="K",
                        help="number of grades (default: the header's width: case,class and K "
                             "columns P<n>); a scale's name is read as its count: drac = 3, icdr = 5")
    add_version_option(parser)
    args = parser.parse_args(argv)
    return report_check(args.check, args.images, num_grades=args.grades,
                        scale_from=grades_scale_from(args.grades))


def completeness_words(k: int | None, other_options: str = "") -> str:
    """What a check without the test images (no ``--images``, no manifest's cases) leaves out,
    and how to check it: ``completeness NOT checked (whether every test image has exactly one
    row); to check it, pass --images DIR, the folder of the test images``, with
    ``other_options`` (the command's other way, ``--manifest RUN ...``) and, for a file of
    DRAC's 3 grades (``k``), DRAC's test folder as unzipped."""
    from data_prep.layout import IMAGES_DIR, TASK_DIR, TEST_DIR, TEST_ROOT_DIR

    drac = (f" (DRAC 2022 Task 3: '{TEST_ROOT_DIR}/{TASK_DIR}/{IMAGES_DIR}/{TEST_DIR}')"
            if k == len(DRAC_PROB_COLUMNS) else "")
    return ("completeness NOT checked (whether every test image has exactly one row); to check it, "
            f"pass --images DIR, the folder of the test images{drac}"
            + (f", or {other_options}" if other_options else ""))


def not_drac_words(n_rows: int, other_options: str = "") -> str:
    """The result line (instead of ``OK``) of a valid file of DRAC's 3 grades checked without
    its test images whose row count ``n_rows`` is not the DRAC 2022 Task 3 test set's
    :data:`drac_ssl.challenge.DRAC_TEST_IMAGES` (386): NOT a valid DRAC submission (it lacks
    test images, a missing case making the whole submission invalid, or holds rows of other
    images), how to fix it and the ``--images`` folder, DRAC's test folder as unzipped, that
    lists each missing case; for a file of another 3-grade data set, its own test images or
    ``other_options`` (the command's other way, ``--manifest RUN ...``). Exit code
    :data:`drac_ssl.exit_codes.INCOMPLETE_SUBMISSION` (3) goes with it."""
    from data_prep.layout import IMAGES_DIR, TASK_DIR, TEST_DIR, TEST_ROOT_DIR

    gap = DRAC_TEST_IMAGES - n_rows
    what = (f"it lacks {gap} of them, and a missing case makes the whole submission invalid" if gap > 0
            else f"it has {-gap} row(s) more than there are test images")
    folder = f"{TEST_ROOT_DIR}/{TASK_DIR}/{IMAGES_DIR}/{TEST_DIR}"
    return (f"NOT a valid DRAC submission: {n_rows} cases, but the DRAC 2022 Task 3 test set has "
            f"{DRAC_TEST_IMAGES} images: {what} (the format is valid). Fix: exactly one row per "
            f"test image; check it with --images \"{folder}\" (DRAC's test folder, as unzipped: "
            f"each missing case is then listed); a file of another 3-grade data set: check it "
            f"against its own test images, --images DIR"
            + (f", or {other_options}" if other_options else ""))


SKIPPED_WHY = "unreadable, not an image this package reads, or blank or random noise"
"""Why the export's ``--skip-unreadable`` skips a file, in the words :func:`report_check`
gives its record (:func:`skipped_without_rows`)."""


class SkippedFiles(NamedTuple):
    """What the export's record beside a submission says it skipped (:func:`skipped_without_rows`)."""

    record: Path  # the record, skipped_record_path(csv)
    skipped: list[str]  # the file names it lists, in its order
    without_row: list[str]  # those the CSV still has no row for


def skipped_without_rows(csv_path: str | os.PathLike[str], text: str | None = None) -> SkippedFiles:
    """The files the export's ``--skip-unreadable`` skipped when it wrote the CSV ``csv_path``,
    as its record beside it says (:func:`skipped_record_path`: JSON, ``skipped``: a list of
    ``{"file": NAME, "path": PATH, ...}``), and those the CSV has still no row for: no row
    whose case is the file's name or the name the check's fix suggests for a name that cannot
    be a case (:func:`safe_case_name`); a row the user has added since covers its file. The
    CSV's cases are read loosely (:func:`drac_ssl.name_tags.csv_first_column`), a file with
    problems too: from ``text``, the CSV's content when the caller has read it already
    (:func:`report_check`'s check: decoded, without its byte-order mark), else from the file,
    and only when the record names skipped files. No record, an unreadable one or one of an
    export that skipped nothing: both lists empty."""
    from drac_ssl.io import read_json_dict
    from drac_ssl.name_tags import csv_first_column

    record = skipped_record_path(csv_path)
    said = (read_json_dict(record) or {}) if record.is_file() else {}
    entries = said.get("skipped")
    skipped: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and (name := entry.get("file") or Path(str(entry.get("path") or "")).name):
            if str(name) not in skipped:
                skipped.append(str(name))
    if not skipped:
        return SkippedFiles(record, [], [])
    rows = {case.strip() for case in csv_first_column(csv_path, text=text)}
    without = [name for name in skipped if name not in rows and safe_case_name(name) not in rows]
    return SkippedFiles(record, skipped, without)


def not_complete_words(skipped: SkippedFiles) -> str:
    """The result line (instead of ``OK``) of a valid submission checked without its test images
    whose export's record says it skipped files the CSV has no row for
    (:func:`skipped_without_rows`): NOT a complete submission, and how to make it one. Exit
    code :data:`drac_ssl.exit_codes.INCOMPLETE_SUBMISSION` (3), the export's own for it, goes
    with it."""
    n, m = len(skipped.skipped), len(skipped.without_row)
    them = "them" if m == n else f"{m} of them"
    return (f"NOT a complete submission: {skipped.record} says {n} file(s) were skipped ({SKIPPED_WHY}) "
            f"when this CSV was written (export --skip-unreadable), and it has no row for {them} (the "
            f"format is valid; the record lists each file and its fix). Fix: make them readable images "
            f"and grade the folder again, or move them out of it if they are no test images; check it "
            f"with --images DIR, the folder it grades, which lists each missing case")


def report_check(csv_path: str | os.PathLike[str], images_dir: str | os.PathLike[str] | None = None,
                 *, num_grades: int | None = None, grade_names: Sequence[str] | None = None,
                 cases: Sequence[str] | None = None, scale_from: ScaleFrom = "",
                 other_options: str = "", json_path: str | os.PathLike[str] | None = None,
                 warn_if_valid: Callable[[], str] | None = None) -> int:
    """:func:`_report_check` (the check printed, its exit code), and with ``json_path`` the
    same result for a machine written there (:func:`write_check_record`) whenever the check
    ran, pass or fail: not for an ``images_dir`` that is no folder of images (exit 2, nothing
    checked). ``warn_if_valid``: one more ``warning:`` line ("" for none) for a file that
    passed, printed on stderr and in the JSON's ``warnings``."""
    facts: dict[str, Any] = {}
    code = _report_check(csv_path, images_dir, num_grades=num_grades, grade_names=grade_names, cases=cases,
                         scale_from=scale_from, other_options=other_options, facts=facts)
    if code == 0 and warn_if_valid is not None and (warning := warn_if_valid()):
        print(warning, file=sys.stderr)
        if facts:
            facts["warnings"].append(_record(None, warning.removeprefix("warning: "), ""))
    if json_path is not None and facts:
        code = write_check_record(json_path, code, facts)
    return code


CHECK_RECORD_KEYS = ("ok", "exit_code", "k", "n_cases", "complete_checked", "problems", "warnings")
"""The keys of ``export --check FILE --json OUT``'s record (:func:`write_check_record`)."""


def write_check_record(path: str | os.PathLike[str], code: int, facts: Mapping[str, Any]) -> int:
    """Write the result of ``export --check`` as JSON to ``path``, atomically (as ``--score
    --json``: :func:`drac_ssl.io.atomic_write_json`): ``ok`` (``code`` is 0), ``exit_code``
    (``code``), ``k`` (the grades the rows were checked as; None: no row read),
    ``n_cases`` (data rows read; None: the file could not be read), ``complete_checked``
    (checked against the test images or the manifest's cases: every image has a row), and
    ``problems`` / ``warnings``: ``{"line": int | None, "what": str, "fix": str}`` each
    (:attr:`ProblemLines.records`; line None: the file as a whole). Returns ``code``, or 2
    with an ``error:`` line on stderr when the file cannot be written."""
    from drac_ssl.io import atomic_write_json  # noqa: PLC0415 - only with --json

    record = {"ok": code == 0, "exit_code": code, **facts}
    try:
        atomic_write_json(path, {key: record.get(key) for key in CHECK_RECORD_KEYS})
    except OSError as exc:
        print(f"error: {path}: cannot write the JSON ({exc.strerror or exc})\n  fix: choose a writable "
              f"path for --json (a folder you may write to, on a disk with room)", file=sys.stderr)
        return 2
    return code


def _report_check(csv_path: str | os.PathLike[str], images_dir: str | os.PathLike[str] | None = None,
                  *, num_grades: int | None = None, grade_names: Sequence[str] | None = None,
                  cases: Sequence[str] | None = None, scale_from: ScaleFrom = "",
                  other_options: str = "", facts: dict[str, Any] | None = None) -> int:
    """Print the problems of a submission (or ``OK: N cases``), and on stderr, either way, the
    warnings on cases a spreadsheet may read as formulas (no problem: the exit code stays), the
    scale the rows were checked against, where it came from and what the cases were checked
    against; 1 when there are problems, 3 for a file known to be incomplete (a DRAC-scale file
    not of DRAC's row count, or one whose export skipped files: below), else 0 (the command
    lines' exit code; a reader that
    closed the pipe, ``| head -1``, changes neither, and a stdout that cannot be written,
    ``> /dev/full``, is one ``error:`` line on stderr and 2:
    :func:`drac_ssl.console.print_lines`). ``scale_from``: who says ``num_grades``, in the line
    on a file of another scale and the scale line ("the manifest of runs/x has", "--grades
    says"; default "the check expects"). K is ``num_grades``, else DRAC's 3 when
    ``images_dir`` is DRAC's test folder (:func:`is_drac_test_folder`), else the header's
    width, and then a ``note:`` on stderr says so and how to check the scale: ``--grades K``
    with the user's scale's K (the header's own K would only confirm the header), or
    ``other_options`` (the command's other options that say K: ``--manifest RUN for a run
    whose manifest lists test images``); else DRAC's 3, assumed, said so. A file no row of
    which was read (unreadable, empty, another separator) has no scale line. Checked with
    neither ``images_dir`` nor ``cases``, a valid file's OK line says that completeness was
    not checked and how to check it (:func:`completeness_words`), exit 0 (the file may be
    complete: nothing says otherwise), except a file of DRAC's 3 grades whose row count is not
    the DRAC Task 3 test set's 386: no ``OK`` but :func:`not_drac_words`, NOT a valid DRAC
    submission, and :data:`drac_ssl.exit_codes.INCOMPLETE_SUBMISSION` (3), so that a script
    testing the exit code uploads no incomplete file (a file of another 3-grade data set
    passes when checked against its own test images, ``images_dir`` or ``cases``), and a file
    whose export's record beside it (:func:`skipped_record_path`, written by
    ``--skip-unreadable``) names skipped files it has still no row for
    (:func:`skipped_without_rows`): no ``OK`` but :func:`not_complete_words`, NOT a complete
    submission, and 3 too (this line first when both apply: it says which rows are known to
    be missing). Checked against the test images or ``cases``, such a record is a ``note:`` on
    stderr (the check itself lists the missing rows), as it is beside a file with problems;
    the note says so too when the CSV has since got a row for each skipped file. An
    ``images_dir`` that is no folder of images (:class:`ImagesFolderError`) is one ``error:``
    line on stderr and 2, a usage error, as argparse's are."""
    try:
        checked = _check(csv_path, images_dir, num_grades=num_grades, grade_names=grade_names,
                         cases=cases, scale_from=scale_from, drac_names=True, other_options=other_options)
    except ImagesFolderError as exc:  # a usage error (exit 2), not a problem of the file
        print(f"error: {exc.option_words('--images')}", file=sys.stderr)
        return 2
    problems, n_rows, k = checked.problems, checked.n_rows, checked.k
    against = (f", against {images_dir}" if images_dir else
               f", against {len(cases)} test case(s) of the manifest" if cases is not None else "")
    if facts is not None:  # the check ran: for --json (report_check)
        facts.update(k=k, n_cases=n_rows if checked.text is not None else None, complete_checked=bool(against),
                     problems=list(problems.records), warnings=list(problems.warning_records))
    skipped = skipped_without_rows(csv_path, checked.text)  # the export's record beside it; the CSV not read again
    not_complete = bool(skipped.without_row) and not against and not problems
    if skipped.skipped and not not_complete:  # else the result line says it
        n, m = len(skipped.skipped), len(skipped.without_row)
        print(f"note: {skipped.record} says {n} file(s) were skipped ({SKIPPED_WHY}) when this CSV was "
              f"written (--skip-unreadable): "
              + (f"it has no row for {'them' if m == n else f'{m} of them'}" if m else
                 "it has a row for each of them now"), file=sys.stderr)
    # stderr: the cases a spreadsheet may read as formulas (no problem), the scale used and
    # where it came from, pass or fail
    said: list[str] = list(problems.warnings)
    if Path(csv_path).is_file() and (sidecar := provenance_words(csv_path)):  # which model graded it
        said.append(sidecar)
        if facts is not None and sidecar.startswith("warning: "):  # --json says what stderr warns
            facts["warnings"].append(_record(None, sidecar.removeprefix("warning: "), ""))
    if k is not None:
        scale = f"checked as {k} grades (P0..P{k - 1}){against}"
        if checked.k_from == "drac":
            said.append(f"{scale} (DRAC's scale: the images are DRAC's test set)")
        elif checked.k_from == "given":
            said.append(f"{scale} ({grades_k_said(scale_from, k)})")
        elif checked.k_from == "assumed":
            said.append(f"{scale}: DRAC's {k}, assumed (nothing in the file says K; --grades K to "
                        f"check another scale)")
        else:
            where = "the header" if checked.k_from == "header" else "the first row (no header)"
            said += [scale, f"note: K={k} taken from {where}; to check the scale, pass --grades K, "
                            f"your scale's number of grades (this {'header' if checked.k_from == 'header' else 'row'} "
                            f"has {k})" + (f", or {other_options}" if other_options else "")]
    if problems:
        if (failure := print_lines(problems)) is not None:
            print(f"error: cannot print the problems of {csv_path} on stdout ({failure})", file=sys.stderr)
            return 2
        total = problems.total
        print(f"{total} problem(s) in {csv_path}" + (f" ({len(problems)} lines above)" if total != len(problems) else ""),
              file=sys.stderr)
        for line in said:
            print(line, file=sys.stderr)
        return 1
    # case,class,P0,P1,P2 without the test images: a row count not DRAC's is no DRAC submission
    not_drac = not against and k == len(DRAC_PROB_COLUMNS) and n_rows != DRAC_TEST_IMAGES
    result = (not_complete_words(skipped) if not_complete else not_drac_words(n_rows, other_options) if not_drac
              else f"OK: {n_rows} cases"
              + ("" if against else f", the format only: {completeness_words(k, other_options)}"))
    if facts is not None and (not_complete or not_drac):  # exit 3: the JSON says why, as the result line
        facts["problems"].append(_record(None, result, ""))
    if (failure := print_lines([result])) is not None:
        print(f"error: cannot print the result of {csv_path} on stdout ({failure})", file=sys.stderr)
        return 2
    if words := one_hot_words(_checked_rows(csv_path).probs):  # valid, but the AUC ties are lost
        said.append(f"warning: {words}")
        if facts is not None:
            facts["warnings"].append(_record(None, words, ""))
    for line in said:
        print(line, file=sys.stderr)
    return INCOMPLETE_SUBMISSION if not_complete or not_drac else 0

if __name__ == "__main__":
    raise SystemExit(main())
