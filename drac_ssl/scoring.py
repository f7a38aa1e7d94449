"""A submission scored against labels the user holds: ``python -m drac_ssl.export --score``.

IDRiD ships the grades of its test set, APTOS 2019 a public split, and a clinic may hold out
graded images of its own: the ingest reads none of these (a test split is graded unlabelled),
and this module scores a submission CSV (``case,class,P0..P{K-1}``) against them::

    python -m drac_ssl.export [RUN] --score TEAM.csv --labels LABELS.csv [--image-column NAME]
        [--grade-column NAME] [--grades K] [--json OUT.json] [--images DIR]
        [--ungradable leave_out] [--labels-referable-from N]

* The submission must pass its own check (:func:`drac_ssl.submission.read_submission`, the
  lines ``--check`` prints); K is ``--grades`` or the header's. A Kaggle file
  (``id_code,diagnosis``, :mod:`drac_ssl.kaggle`, told by its header) is checked by Kaggle's
  rules (K ``--grades``, the model's, else APTOS 2019's 5) and scored on its diagnosis column:
  QWK, accuracy, F1 and the confusion matrix, no AUC (it has no probabilities; the record's
  ``submission_format`` is ``kaggle``); its ids name the cases, matched to the labels as any. A label CSV given as the
  submission (its header has a layout's two columns) adds ``did you swap --score and
  --labels?``, and so does a submission given as the label CSV.
* The label CSV is read in any dialect the ingest reads (:func:`data_prep.labels.read_table`:
  BOM, UTF-16, CRLF, semicolons, an Excel ``sep=`` line ...). Its columns are those of the
  first layout of :data:`data_prep.layout.COLUMNS` whose two columns the header has (DRAC
  ``image name`` / ``DR grade``, APTOS ``id_code`` / ``diagnosis``, EyePACS ``image`` /
  ``level``, IDRiD ``Image name`` / ``Retinopathy grade``; names compared ignoring case and
  spacing, as the ingest does, so IDRiD's ``Risk of macular edema `` with its trailing space
  is no trouble), or ``--image-column`` / ``--grade-column``; a column not found is an error
  naming the columns there and the closest one (``did you mean 'dr_grade'? pass
  --grade-column 'dr_grade'``, :func:`data_prep.labels.missing_column`'s words). A CSV
  with a layout's per-eye grade columns (:data:`data_prep.layout.EYE_COLUMNS`, DeepDRiD's
  ``left_eye_DR_Level`` / ``right_eye_DR_Level`` beside ``image_id``) and no
  ``--grade-column`` is read as the ingest reads it: each row's grade is its own eye's
  column (:func:`data_prep.validate.own_eye_cell`), never ``patient_DR_Level``.
* A label names a case as the ingest names an image (:class:`data_prep.validate.NameIndex`):
  by file name, else, without extension, the one case with that stem (``IDRiD_001`` ->
  ``IDRiD_001.jpg``), else by number (``1`` -> ``001.png``, leading zeros a spreadsheet ate,
  or ``001`` <-> ``1.png``); letter case aside. A name that matches several cases is an error,
  and so are two rows of one case (with both grades when they differ). Every case needs a
  label and every label a case: otherwise nothing is scored and the error counts both sides
  and names the first few rows (``FILE:LINE``): a subset would give other figures than the
  whole set. A grade that is not an integer in ``0..K-1`` (a grade's name, ``Moderate``,
  counts as its number; against a model of its own names, so does the default scale's, DRAC's
  ``Normal`` against a bundle named ``none, ...``; ``none`` is read by the ingest's rule,
  :func:`read_grade_labels`) is an
  error at its line; labels written ``1..K`` are one error with
  the fix (:func:`data_prep.validate.one_based_problem`), and labels on a wider scale than
  the submission's one error asking for a submission on theirs (:func:`_outside_problems`).
* ``--ungradable leave_out`` (the ingest's option): a label row without a true grade (an empty
  or ``NA`` cell, DeepDRiD's 5, a gradable column's 0) is left out with the submission's row of
  its image, said in one note, instead of an error asking to delete both by hand.
* A two-grade submission (a referable-DR model) against a known ICDR grade column
  (:func:`data_prep.layout.icdr_grade_column`: Messidor-2's ``adjudicated_dr_grade``, APTOS's
  ``diagnosis`` ...) is refused, whatever its rows hold (ICDR 1, mild, read as grade 1 would be
  scored as referable), unless ``--labels-referable-from N`` reads the column on the ICDR scale
  and maps grade >= N to 1, else 0, with a note of how many rows became which
  (:func:`_map_referable`); the refusal suggests the bundle's ``data.referable_from``, else 2.
* The figures are :func:`drac_ssl.metrics.grading_report`'s (QWK and accuracy of the class
  column, the AUCs of the P columns) with the QWK's and the one-vs-rest AUC's percentile
  bootstrap 95% CI over the images (:func:`drac_ssl.metrics.bootstrap_ci`, 1000 resamples,
  seed 0), or over the patients, each with all its images (its ``groups``, the cluster
  bootstrap the fine-tuning's CIs use), when the labels name them (``--patient-column``, or
  the column a per-eye layout owns, :data:`data_prep.layout.PATIENT_COLUMNS`), written as report.md writes them (:mod:`drac_ssl.figures`), the confusion
  matrix with the grade names (the model's, from RUN's bundle or the bundle of the run the
  export wrote the submission into, :func:`model_grade_names`; else DRAC's for K = 3, ICDR's
  for K = 5: :func:`scale_names`, with a warning when the bundle names another number of
  grades than the submission has), and :func:`drac_ssl.figures.chance_words`' sentence when the QWK's
  CI reaches 0. A grade without image in the labels leaves the macro AUCs undefined: the
  line says which, and the one-vs-rest AUC of each grade present; labels of one grade only
  are one note (nothing can be measured) instead of the chance sentence. ``--json`` writes
  the record of :func:`score` (these figures and more: per-grade precision, recall, F1 and
  AUC, how the labels were matched) with the command, the date and the package version,
  before anything is printed.

Images the model was trained on are said (``warning: 2 of 5 images were used to train this
model (same SHA-256): scores on them are not a test``, and ``training_images`` in the record)
when it can be told (:func:`training_images_check`): the export's notes file beside the
submission (``<stem>_notes.csv``), or ``RUN`` (a run or bundle folder whose bundle lists its
training images' hashes) with ``--images DIR`` (the graded files); ``RUN`` alone gets a note on
how to tell; a bundle built before the list says nothing.

The label CSV the model was trained on is refused (:func:`training_labels_refusal`: the run's
own, ``ingest_summary.json``'s ``labels_csv``, or a file of its SHA-256; exit 2 with the fix),
unless every scored image is known to be a training image: IDRiD's test set reuses the training
names for other images, so its test grades were scored against other images' grades. A
cut-down copy (each grade the training image's of that name, each scored image another by its
hash) is scored with a warning (``training_labels_warning``, :func:`_training_labels_warning`),
when that much agreement is unlikely by chance on the training grades' mix (below
:data:`CHANCE_AGREEMENT`, 0.01): a few true test grades may agree by chance.

Images the backbone was pretrained on, without their grades, are said too (``warning: 3 of 5
scored images were among those the self-supervised pretraining (VICReg) of this model's backbone
read, without their grades (same SHA-256): the figures are transductive, not a clean held-out
test figure; for a clean one, train again with pretrain.use_test_images=false``, and
``pretraining_images`` in the record, its ``transductive`` true): by default a run pretrains
(VICReg, UMM) on its test images' pixels, and IDRiD's and APTOS's test grades are public
(:func:`pretraining_images_check`: a submission the export wrote into a run folder, by the
manifest; the ``pretraining_image`` column of the export's notes file beside the submission;
``RUN`` with ``--images DIR``, each file hashed once for both checks; none for the ``scratch``
variant).

For an external validation (docs/evaluation.md, "Validating at a new site") the score also
names the bundle that graded (:func:`grading_bundle`: its folder and the SHA-256 id of its
metadata.json, else the notes file's ``bundle`` cells), the calibration it applied, re-used
unchanged (:func:`calibration_provenance`), the Brier score and expected calibration error of
the submitted probabilities (:func:`calibration_measures`), the bundle's stored referral cut
scored as deployed (:func:`_deployed_referral`; the operating points read off these images'
ROC curve are said to be in-sample, :data:`drac_ssl.metrics.SCORED_CUTS_SCALE`), how many
images the export flagged as unlike the training images (:func:`unlike_training_images`), and
each grade's recall with its Wilson interval. A Kaggle file gets no AUC of P(referable) nor
operating points: it has no probabilities.

Exit codes (:func:`score_command`): 0 scored; 1 the submission fails its check (its problems
printed as ``--check`` prints them); 2 anything else that stops the scoring (arguments, a
label CSV that cannot be read or has bad rows, cases and labels that do not pair, a
``--json`` that is an input or cannot be written, a stdout that cannot be written; a reader
that closes the pipe, ``| head -1``, changes no code). Loads no torch: ``python -m drac_ssl.export --score`` answers before the export's imports.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import difflib
import functools
import math
import shlex
import sys
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.grades import SHOWN_ROWS, choices, describe, no_grade_at_or_above
from data_prep.labels import (
    Table,
    cell_file_name,
    column_fit,
    column_index,
    column_suggestion,
    id_words,
    missing_column,
    normalise,
    one_column_for_two_roles,
    parse_grade,
    read_table,
    refused_grade_column,
)
from data_prep.layout import (
    COLUMNS,
    EYE_COLUMNS,
    ICDR_UNGRADABLE_GRADE,
    ICDR_UNGRADABLE_WHOSE,
    IMAGE_SUFFIXES,
    PATIENT_COLUMNS,
    UNGRADABLE_GRADES,
    eye_columns_in,
    icdr_grade_column,
)
from data_prep.problems import Problem, counted, error, in_line_order, note, warning
from data_prep.validate import (
    EYE_PAIR_WORDS,
    GRADABLE_SCORE_FIX,
    LabelRow,
    NameIndex,
    eye_names_words,
    eye_of,
    eye_pair_patient,
    five_may_be_ungradable,
    flagged_ungradable_problem,
    gradable_column_of,
    gradable_mark,
    gradable_mark_problem,
    grade_from_name,
    grade_names_note,
    grade_zero_words,
    is_ungraded,
    marked_ungradable_problem,
    names_zero_grade,
    no_grade_words,
    no_grade_zero_left_problem,
    not_a_grade_column,
    one_based_problem,
    only_by_case,
    other_eye_column,
    other_eye_problem,
    own_eye_cell,
    own_grade_words,
    patient_column_guess,
    per_eye_columns_unread,
    severity_range,
    stray_grades,
    ungraded_words,
    unpaired_eyes_words,
    zero_word_readings,
    zero_words_named,
)
from drac_ssl import __version__
from drac_ssl.config import (
    DATA_UNGRADABLE,
    GRADE_SCALES,
    LAYOUT_NAMES,
    SCORED_LAYOUTS,
    referable_from_rule,
    referable_grade,
)
from drac_ssl.console import print_lines
from drac_ssl.exit_codes import RUN_BUSY, RunBusy
from drac_ssl.figures import (
    AUC_TWO_GRADES,
    CHANCE_NEEDS,
    auc_words,
    chance_words,
    ece_with_reference,
    figure_text,
    figure_with_ci,
    format_ci,
    kappa_name,
    markdown_table,
    recall_ci_cell,
)
from drac_ssl.io import atomic_write_json
from drac_ssl.kaggle import KAGGLE_COLUMNS, KAGGLE_GRADES, is_kaggle_file, read_kaggle
from drac_ssl.manifest import resampling_unit
from drac_ssl.metrics import (
    SCORED_CUTS_SCALE,
    SCORED_OPERATING_POINTS_NOTE,
    _check_referable_cut,
    accuracy_score,
    bootstrap_ci,
    cut_text,
    degenerate_ci_reason,
    grading_report,
    macro_ovo_auc,
    macro_ovr_auc,
    one_grade_note,
    p_referable,
    patient_screening,
    patient_screening_summary,
    quadratic_weighted_kappa,
    recall_intervals,
    referable_report,
    referable_summary,
    two_grade_decision_words,
)
from drac_ssl.name_tags import csv_first_column
from drac_ssl.oof import ci_resampling
from drac_ssl.scale import default_grade_names, grades_scale_from, grades_words, names_are_numbers
from drac_ssl.starting import (
    hold_signals_if_command,
    interpreter_word,
    interrupt_exit_code,
    python_command,
    started,
)
from drac_ssl.submission import (
    SubmissionRows,
    is_referable_header,
    probability_units,
    read_submission,
)

__all__ = ["LABEL_LAYOUTS", "N_BOOT", "LabelRows", "ScoreError", "SubmissionCheckFailed", "pretraining_images_check",
           "model_calibration", "model_grade_names", "model_labels_referable_from", "model_referable_cut",
           "notes_grade_names", "read_grade_labels",
           "scale_names", "score", "score_command", "score_lines", "unlike_training_images",
           "calibration_measures", "calibration_provenance", "grading_bundle", "bundle_check_weak", "small_sample_note",
           "training_labels_of", "training_labels_refusal", "training_labels_scored", "CHANCE_AGREEMENT",
           "write_score_refusal"]

N_BOOT = 1000
"""Bootstrap resamples of the 95% CIs (seed 0), as many as the fine-tuning's default."""
LABEL_LAYOUTS = {kind: LAYOUT_NAMES[kind] for kind in SCORED_LAYOUTS}
"""The layouts of :data:`data_prep.layout.COLUMNS` whose label columns are looked for, in
this order (a plain folder's are DRAC's), with their names for people
(:data:`drac_ssl.config.SCORED_LAYOUTS`, which the ``--labels`` help names too)."""
SHOWN_PER_KIND = 10
"""Problem lines of one kind printed, then one line counting the rest."""


class ScoreError(ValueError):
    """Input that cannot be scored; the message says what and how to fix it (exit 2)."""


class SubmissionCheckFailed(ScoreError):
    """The submission fails its own check (exit 1, as ``--check``): ``problems`` holds the
    check's ``FILE:LINE: what -> fix`` lines."""

    def __init__(self, message: str, problems: Sequence[str]) -> None:
        super().__init__(message)
        self.problems = list(problems)

    def __reduce__(self) -> tuple[Any, ...]:
        # BaseException pickles as cls(*self.args), and args holds the message alone (problems is
        # required): rebuild from both, so that the error crosses a process boundary as itself
        # (a ProcessPoolExecutor worker's error would otherwise break the whole pool)
        return type(self), (str(self), self.problems), self.__dict__


@dataclass
class LabelRows:
    """A label CSV read for scoring (:func:`read_grade_labels`)."""

    path: Path
    names: list[str]  # the image names as written (a folder part dropped)
    grades: list[int | None]  # None: a grade that is not one of 0..K-1 (an error was said)
    lines: list[int]  # each row's line in the file
    image_column: str
    grade_column: str  # per eye: 'left_eye_DR_Level / right_eye_DR_Level'
    layout: str  # the key of LABEL_LAYOUTS (or of EYE_COLUMNS) whose columns these are, '' for columns given
    dialect: str  # 'semicolon-separated, utf-8-sig'
    problems: list[Problem] = field(default_factory=list)  # errors, then notes
    patients: list[str] = field(default_factory=list)  # each row's patient ('' none); empty: no column
    patient_column: str = ""  # the column they come from ('' when none is read)
    per_eye: bool = False  # each image's grade from its own eye's column (grade_column names both)
    # rows without a true grade left out with --ungradable leave_out (positions in names, grade None):
    # an empty or NA cell, a layout's ungradable grade, a gradable column's 0
    left_out: list[int] = field(default_factory=list)
    icdr_layout: str = ""  # the layout whose ICDR grade column the grade column is (data_prep.layout.icdr_grade_column)


def scale_names(num_grades: int) -> tuple[str, ...]:
    """The names of grades 0..K-1 when only K is known: the named scale of that length
    (:data:`drac_ssl.config.GRADE_SCALES`: DRAC's 3, the 5 ICDR grades), else the numbers."""
    k = int(num_grades)
    return next((names for names in GRADE_SCALES.values() if len(names) == k), default_grade_names(k))


def _described(names: Sequence[str]) -> str:
    """``'0 No DR, 1 Mild, ...'``, or ``'0, 1'`` when the names are the numbers."""
    return ", ".join(names) if names_are_numbers(names) else describe(names)


def _choices(names: Sequence[str]) -> str:
    """``'0 (No DR), 1 (Mild) ... or 4 (PDR)'`` for a fix, or ``'0 or 1'`` when the names are
    the numbers."""
    return ", ".join(names[:-1]) + f" or {names[-1]}" if names_are_numbers(names) and len(names) > 1 else choices(names)


SUBMISSION_HEADER = ("case", "class", "p0")
"""The first columns of a submission's header (:func:`normalise`'d): a label CSV that starts so
is a submission given as ``--labels``."""


def _label_layout_of(path: str | Path) -> str | None:
    """The key of :data:`LABEL_LAYOUTS` whose two columns the CSV ``path``'s header holds (a
    label CSV given as ``--score``), else None (also when it cannot be read)."""
    wanted = [c for k in LABEL_LAYOUTS for c in COLUMNS[k]]
    try:
        table, _ = read_table(Path(path), wanted)
    except (OSError, ValueError):
        return None
    if table is None:
        return None
    header = {normalise(c) for c in table.columns}
    return next((k for k in LABEL_LAYOUTS if all(normalise(c) in header for c in COLUMNS[k])), None)


SWAPPED = "did you swap --score and --labels?"

KAGGLE_NO_PROBABILITIES = "a Kaggle submission (id_code,diagnosis) gives each image's class, no probabilities"
"""Why a Kaggle file's score has no AUC: the one wording of the fact (:data:`KAGGLE_NO_AUC`,
:data:`_KAGGLE_NO_RANKING`)."""

KAGGLE_NO_AUC = f"{KAGGLE_NO_PROBABILITIES}: no AUC"
"""The ``auc_note`` of a Kaggle file's score (:func:`score`)."""

_KAGGLE_NO_RANKING: dict[str, Any] = {
    "auc": float("nan"), "auc_ci95": [float("nan"), float("nan")], "auc_ci95_resamples": None,
    "auc_note": f"{KAGGLE_NO_PROBABILITIES}: no P(referable) to rank the images by",
    "sensitivity_at_specificity_90": float("nan"), "specificity_at_sensitivity_90": float("nan"),
    "sensitivity_at_specificity_90_cut": float("nan"), "specificity_at_sensitivity_90_cut": float("nan"),
    "operating_points_note": None}
"""What a Kaggle file's ``referable`` figures leave out (:func:`score`): the AUC of P(referable)
and the operating points read off its ROC curve, which one-hot stand-ins for the missing
probabilities made 0.500 and ``P(referable) >= 0.000``; its sensitivity and specificity at the
submitted grades stay."""


def _kaggle_rows(submission: str | Path, num_grades: int | None) -> tuple[SubmissionRows | None, list[str]]:
    """A Kaggle submission (:func:`drac_ssl.kaggle.read_kaggle`: K ``num_grades``, else APTOS
    2019's 5) as :class:`drac_ssl.submission.SubmissionRows`, its cases the ids and its
    probabilities the classes one-hot (no AUC is said of them: :data:`KAGGLE_NO_AUC`); else None
    and the check's problems."""
    k = KAGGLE_GRADES if num_grades is None else int(num_grades)
    read, problems = read_kaggle(submission, k)
    if read is None:
        return None, problems
    ids, classes, lines = read
    return SubmissionRows(Path(submission), ids, classes, np.eye(k)[classes], lines), problems


def _guess(table: Table, known: Sequence[str], taken: set[str], role: str) -> str | None:
    """The column of ``table`` closest to one of the ``known`` names (difflib, cutoff 0.6),
    not one of ``taken`` nor one whose cells fit another role than ``role``
    (:func:`data_prep.labels.column_fit`: a column of grades is not the image-name column);
    else the column whose cells fit ``role`` (:func:`data_prep.labels.column_suggestion`:
    file names, integer grades); None when none is."""
    fit = {c: column_fit(table, i, role) for i, c in enumerate(table.columns)}
    usable = {c.lower(): c for c in table.columns if c and c not in taken and fit[c] > 0}
    best: tuple[float, str] | None = None
    for name in known:
        for match in difflib.get_close_matches(name.lower(), list(usable), n=1, cutoff=0.6):
            ratio = difflib.SequenceMatcher(None, name.lower(), match).ratio()
            if best is None or ratio > best[0]:
                best = (ratio, usable[match])
    return best[1] if best else column_suggestion(table, "", role, sorted(taken))


def _per_eye_layout(table: Table, image_column: str | None, grade_column: str | None) -> str:
    """The layout of :data:`data_prep.layout.EYE_COLUMNS` whose per-eye grade columns (and,
    unless ``image_column`` is given, image column) the header holds, read as the ingest reads
    them (each row's grade its own eye's column); ``''`` when ``grade_column`` is given (that
    one column is read) or none fits."""
    if grade_column:
        return ""
    header = {normalise(c) for c in table.columns}
    return next((kind for kind in eye_columns_in(table.columns)
                 if image_column or normalise(COLUMNS[kind][0]) in header), "")


def _columns(table: Table, image_column: str | None, grade_column: str | None,
             grade_names: Sequence[str] = ()) -> tuple[dict[str, int], str, list[Problem]]:
    """The positions of the image-name and grade columns ({'image-name': i, 'grade': j}; per
    eye, :func:`_per_eye_layout`, the left eye's as 'grade' and the right eye's as
    'grade-right'), the layout whose columns they are ('' when given or mixed) and the problems
    (a missing column: an error with the fix; a column taken loosely: a note)."""
    header = {normalise(c) for c in table.columns}
    if per_eye := _per_eye_layout(table, image_column, grade_column):
        index: dict[str, int] = {}
        problems: list[Problem] = []
        for name, role in ((image_column or COLUMNS[per_eye][0], "image-name"),
                           (EYE_COLUMNS[per_eye][0], "grade"), (EYE_COLUMNS[per_eye][1], "grade-right")):
            position, found = column_index(table, name)
            problems += found
            if position is not None:
                index[role] = position
            elif not any(p.severity == "error" for p in found):
                problems.append(missing_column(table, name, "image-name", "--image-column"))
        return index, "" if image_column else per_eye, problems
    kinds = list(LABEL_LAYOUTS)
    detected = next((k for k in kinds if all(normalise(c) in header for c in COLUMNS[k])), "")
    if len(table.columns) == 1:  # one unsplit header line: said once, as the ingest says it
        wanted = image_column or grade_column or COLUMNS[detected or "drac"][0]
        return {}, "", [missing_column(table, wanted, "image-name", "--image-column")]
    index = {}
    problems = []
    taken: set[str] = set()
    for given, role, option, pos in ((image_column, "image-name", "--image-column", 0),
                                     (grade_column, "grade", "--grade-column", 1)):
        known = [COLUMNS[k][pos] for k in kinds] + [COLUMNS[k][pos] for k in EYE_COLUMNS if COLUMNS[k][pos]]
        name = given or (COLUMNS[detected][pos] if detected else
                         next((c for c in known if normalise(c) in header), None))
        if name is None:  # no known column and none given
            listed = ", ".join(repr(c) for c in table.columns) or "none"
            of = ", ".join(f"{COLUMNS[k][pos]!r} ({LABEL_LAYOUTS[k]})" for k in kinds)
            guess = _guess(table, known, taken, role)
            fix = (f"did you mean {guess!r}? pass {option} {guess!r}" if guess else
                   f"pass {option} NAME with the name of the {role} column")
            problems.append(error(table.path, f"no {role} column of a known layout ({of}) (columns: "
                                              f"{listed}; read as {table.dialect})", fix, "csv"))
            taken.update([guess] if guess else [])  # offered for one role only
            continue
        position, found = column_index(table, name)
        problems += found
        if position is not None:
            index[role] = position
            taken.add(table.columns[position])
        elif not any(p.severity == "error" for p in found):
            # never offered: a column given, read or already offered for the other role
            avoid = sorted(taken) + [c for c in (image_column, grade_column) if c and c != name]
            problems.append(missing_column(table, name, role, option, avoid))
            taken.update(c for c in [column_suggestion(table, name, role, avoid)] if c)
    if "image-name" in index and index["image-name"] == index.get("grade"):  # one column, two roles
        problems.append(one_column_for_two_roles(table, index.pop("grade"), ("image-name", "grade"),
                                                 ("--image-column", "--grade-column")))
    if "grade" in index and refused_grade_column(table.columns[index["grade"]], grade_names):
        # Messidor-2's adjudicated_gradable as the grade: each ungradable image scored as grade 0
        # (a DME column: scored against DME, unless the submission's scale is DME's own)
        problems.append(not_a_grade_column(table, table.columns[index.pop("grade")], sorted(taken),
                                           grade_names=grade_names))
    layout = detected if detected and not image_column and not grade_column else ""
    return index, layout, problems


LEAVE_OUT_SCORE_WAY = ("or --ungradable leave_out leaves out every label row without a true grade and the "
                       "submission's row of its image, said in a note")
"""The scorer's other way with rows without a true grade, appended to the fixes that say to delete them."""

UNGRADABLE_SCORE_FIX = ("delete those rows and the submission's rows of their images: an image "
                        "without a true grade cannot be scored")
"""The scorer's fix for rows of a layout's ungradable grade (DeepDRiD's 5), as for an empty cell."""


UNGRADABLE_FIVE_SCORE_WAY = ("delete those rows and the submission's rows of their images, or write NA "
                             "in their grade cells and rerun with --ungradable leave_out, which leaves "
                             "them out with the submission's rows of their images")
"""The scorer's way with label rows whose 5 marks an ungradable image where no row is graded 0
(:func:`data_prep.validate.one_based_problem`: 1..5 read either way)."""


EYEPACS_PAIRS = f"(EyePACS image ids {EYE_PAIR_WORDS})"
"""``LabelRows.patient_column`` when the patients are read from EyePACS-layout image ids, as the
ingest pairs them (:func:`data_prep.validate.eye_pair_patient`), not from a column."""


def _marked_ungradable(table: Table, k: int) -> tuple[int, str] | None:
    """(grade, layout name) of the grade the label CSV's layout writes for an ungradable image
    (:data:`data_prep.layout.UNGRADABLE_GRADES`: DeepDRiD's 5, its header told by both per-eye
    columns, whichever column is read), when the submission's ``k`` grades do not hold it
    (six grades read it as a grade, as the ingest does); else None."""
    per_eye = eye_columns_in(table.columns)
    for kind, grade in UNGRADABLE_GRADES.items():
        if kind in per_eye and not 0 <= grade < k:
            return grade, LAYOUT_NAMES[kind]
    return None


EYE_SCORE_FIX = ("write the image id with its eye as DeepDRiD names it (<patient>_l<n> or "
                 "<patient>_r<n>), or delete the row and the submission's row of the image")
"""The scorer's fix for a per-eye label row whose image id names no eye."""


def _patient_column(table: Table, given: str | None, per_eye: str, image_column: str,
                    grade_column: str) -> tuple[int | None, list[Problem]]:
    """The position of the label CSV's patient column: ``given`` (``--patient-column``; a
    missing one is an error with the fix), else the one a per-eye layout owns
    (:data:`data_prep.layout.PATIENT_COLUMNS`, DeepDRiD's ``patient_id``) when the header has
    it; else None, with a note when a column looks like a patient id
    (:func:`data_prep.validate.patient_column_guess`, as the ingest warns)."""
    name = given or PATIENT_COLUMNS.get(per_eye, "")
    if name:
        position, found = column_index(table, name)
        if position is None and given and not any(p.severity == "error" for p in found):
            found.append(missing_column(table, name, "patient", "--patient-column",
                                        avoid=(image_column, grade_column)))
        return position, found
    guess = patient_column_guess(table.columns, grade_column, image_column)
    if guess is None:
        return None, []
    return None, [note(table.path, f"column {guess!r} looks like {id_words(guess)}, but the bootstrap CIs "
                                   "resample the images as if each were independent (images of one "
                                   "patient are not: the interval is then too narrow)",
                       f"pass --patient-column {shlex.quote(guess)} to resample patients, each with "
                       "all its images", "patient")]


UNGRADABLE_LABEL_WAY = ("delete the row and the submission's row of the image: an image without a "
                        "true grade cannot be scored")
"""How ``export --score`` takes an image without a true grade out (the fix of an empty or ``NA``
grade cell, and of a ``none`` that marks an ungradable image: :func:`read_grade_labels`)."""


def _model_names_fix(own_words: Sequence[str], grade_names: Sequence[str], *, run_given: bool = False,
                     bundle_grades: int | None = None) -> str:
    """The fix, grade's-name reading first, for a ``none`` cell of a label column of words read as
    a grade's name while the model's grade names are not known (:func:`read_grade_labels`):
    ``RUN``, the model's run or bundle folder, whose recorded grade names are then read; else
    the number under the scale of K's length (``grade_names``). Where a bundle was read and its
    names do not serve, the fix says why instead of asking for RUN as if none were given:
    ``bundle_grades`` (the grades its names count, another K than the submission's: ``RUN's
    bundle names 5 grades, the submission has 3``), else ``run_given`` (``RUN records no grade
    names``: no run or bundle folder, or a bundle that records none)."""
    listed = ", ".join(repr(w) for w in own_words)
    k = len(grade_names)
    whose = "RUN's bundle" if run_given else "the bundle of the run the submission was written into"
    why = (f", but {whose} names {bundle_grades} grades, the submission has {k}" if bundle_grades is not None
           else ", but RUN records no grade names (it is no run or bundle folder, or its bundle's "
                "metadata.json has no class_names)" if run_given else "")
    folder = ("pass the run or bundle folder of the model that wrote it as RUN" if why else
              "pass its run or bundle folder as RUN")
    return (f"the grade column's words ({listed}) look like the grade names of the model that "
            f"wrote the submission{why}: {folder} ({python_command('drac_ssl.export')} "
            f"RUN --score ... --labels ...), whose grade names are then read, and each row is read as "
            f"the grade its word names there; else write {_choices(grade_names)}")


def _scale_name(names: Sequence[str]) -> str:
    """``'the DRAC scale'`` for a named scale's names (:data:`drac_ssl.config.GRADE_SCALES`)."""
    key = next((key for key, scale in GRADE_SCALES.items() if tuple(scale) == tuple(names)), "")
    return f"the {LAYOUT_NAMES.get(key, key.upper())} scale" if key else "the default scale"


def _fallback_grade(raw: str, model_names: Sequence[str], fallback: Sequence[str]) -> tuple[int | None, int | None]:
    """(the grade, None) that the default scale's names for K (``fallback``,
    :func:`scale_names`: DRAC's ``Normal``, ``NPDR``, ``PDR``) read the cell ``raw`` as, for a
    cell the model's own names (``model_names``) do not read; (None, that grade) when the two
    scales disagree on it: the model's names read the default scale's name of that grade as
    another grade, or the default scale reads the model's name of it as another (a bundle
    named ``proliferative, non-proliferative, none``: DRAC's ``Normal`` is grade 0 there, the
    model's grade 0 is PDR), so that the fallback never reads a cell as another grade than the
    model's names would; also (None, that grade) when the two names of that grade number name
    ICDR grades that do not overlap (:func:`data_prep.validate.severity_range`: DRAC's
    ``Normal``, grade 0, is no model's grade 0 named ``Mild``; a second read found ``Normal``
    read as ``Mild`` with "nothing to do"); (None, None) when the default scale does not read it
    either."""
    grade = grade_from_name(raw, fallback)
    if grade is None:
        return None, None
    if (grade_from_name(fallback[grade], model_names) not in (None, grade)
            or grade_from_name(model_names[grade], fallback) not in (None, grade)):
        return None, grade
    ours, theirs = severity_range(str(model_names[grade])), severity_range(str(fallback[grade]))
    if ours is not None and theirs is not None and (ours[1] < theirs[0] or theirs[1] < ours[0]):
        return None, grade
    return grade, None


def _fallback_refused(model_names: Sequence[str]) -> str | None:
    """Why the default scale's names must not read any word of a label file scored against a
    model named ``model_names``, in words that follow "not used: "; None when they may. The model's
    names are read by each named scale (:data:`drac_ssl.config.GRADE_SCALES`, DRAC's and ICDR's
    names and their long names, :func:`grade_from_name`, as the scorer reads a cell): a name
    that a scale of the model's K reads as another grade (``proliferative`` as the model's grade
    0), or names that a scale reads in another order (``severe, moderate, mild``: ICDR's 3, 2, 1),
    make the model's grades no match for the default scale's, and ``Normal`` would be read as
    that model's grade 0, ``severe``."""
    k = len(model_names)
    for key, scale in GRADE_SCALES.items():
        named = f"the {LAYOUT_NAMES.get(key, key.upper())} scale"
        read = [(g, str(name), s) for g, name in enumerate(model_names)
                if (s := grade_from_name(str(name), scale)) is not None]
        for g, name, s in read:
            if len(scale) == k and s != g:
                return (f"the model's grade {g} is named {name!r}, which is grade {s} ({scale[s]}) on "
                        f"{named}")
        for (g1, n1, s1), (g2, n2, s2) in zip(read, read[1:], strict=False):
            if s2 < s1:
                return (f"the model's names run against {named}'s order: its grade {g1} {n1!r} is grade "
                        f"{s1} ({scale[s1]}) there, its grade {g2} {n2!r} grade {s2} ({scale[s2]})")
    return None


def _label_columns(image_column: str | None = None, grade_column: str | None = None,
                   patient_column: str | None = None) -> list[str]:
    """The columns a label CSV is read for (:func:`data_prep.labels.read_table`'s ``wanted``):
    those given, then every scored layout's and the per-eye grade columns."""
    return ([c for c in (image_column, grade_column, patient_column) if c]
            + [c for k in LABEL_LAYOUTS for c in COLUMNS[k]]
            + [c for eyes in EYE_COLUMNS.values() for c in eyes])


def _label_table(path: Path, wanted: Sequence[str], cases: Sequence[str] | None) -> tuple[Table | None, list[Problem]]:
    """The label CSV ``path`` as ``--score`` reads it (:func:`data_prep.labels.read_table` with
    ``wanted``), read again in the encoding whose non-ASCII image names name the submission's
    ``cases`` (their file name or its stem) or whose header names the columns given, when its
    encoding was a guess (:func:`data_prep.labels.reread_matching`: a GBK CSV's ``张三_01.png``,
    not Windows-1252's ``ÕÅÈý_01.png``); and its problems. The one reading of
    :func:`read_grade_labels` and :func:`label_image_names` (a final read: the latter read the
    guess alone, so its extension suggestions named garbled stems). None: no table."""
    from data_prep.labels import reread_matching

    table, problems = read_table(path, list(wanted))
    if table is None:
        return None, problems
    names_a_file = None
    if cases is not None:
        given = set(cases)
        stems = {Path(c).stem for c in cases}

        def names_a_file(cell: str) -> bool:
            name = cell_file_name(cell)
            return cell in given or name in given or Path(name).stem in stems
    # a GBK header naming the columns given, or GBK image names naming the submission's cases
    return reread_matching(path, list(wanted), table, problems, names_a_file)


def _check_ungradable(ungradable: Any) -> None:
    """ValueError unless ``ungradable`` is one of :data:`drac_ssl.config.DATA_UNGRADABLE`."""
    if ungradable not in DATA_UNGRADABLE:
        raise ValueError(f"ungradable={ungradable!r} is not a choice: pass one of "
                         f"{', '.join(map(repr, DATA_UNGRADABLE))} (the --ungradable option's words)")


def read_grade_labels(path: str | Path, grade_names: Sequence[str], *, image_column: str | None = None,
                      grade_column: str | None = None, patient_column: str | None = None,
                      names_known: bool = False, run_given: bool = False,
                      bundle_grades: int | None = None, cases: Sequence[str] | None = None,
                      ungradable: str = "error") -> LabelRows:
    """Read a label CSV of true grades for scoring (see the module docstring).

    ``cases``: the submission's cases (image file names), when known. A label CSV whose
    encoding is a guess is read in the encoding whose non-ASCII image names name them (their
    file name or its stem, :func:`data_prep.labels.reread_matching`), as the ingest matches
    the folder's images: a GBK CSV with an ASCII header (``image,grade``) and Chinese names
    (``张三_01.png``) is read as GBK, not as Windows-1252 (``ÕÅÈý_01.png``, which pairs with
    no case). None: only the non-ASCII column names tell the encoding.

    ``grade_names``: the names of grades 0..K-1 (K the submission's); a grade cell may hold a
    number or one of these names. ``names_known``: they are the grade names of the model that
    wrote the submission (its bundle's ``class_names``), not merely the named scale of K's
    length (:func:`scale_names`). With the model's names known, a word they do not read is read
    by the default scale's names for K (DRAC's ``Normal``, ``NPDR``, ``PDR``, ICDR's for 5: labels
    written in the dataset's words against a bundle named ``none, non-proliferative,
    proliferative``), said in one note, unless the two scales disagree on that grade
    (:func:`_fallback_grade`), or the model's names, read by a named scale, disagree with its
    grades or order (:func:`_fallback_refused`: ``severe, moderate, mild``), which leaves every
    such word an error that says why: a word the model's names read is always read by them. A ``none``
    cell follows the ingest's rule (:func:`data_prep.validate.zero_words_named`): it names a
    grade where ``grade_names`` have a grade of that name; else, in a grade column of words and
    no number (:func:`data_prep.validate.own_grade_words`) while the names are not known, it is
    read as a grade's name (no retinopathy), an error in the ingest's words
    (:func:`data_prep.validate.grade_zero_words`) whose fix gives both readings (RUN, whose grade
    names are then read; or delete the row, an ungradable image); otherwise it is an empty or
    ``NA`` cell's error (an ungradable image?). ``run_given`` (RUN was given) and
    ``bundle_grades`` (the grades a bundle's names count when they are not the submission's K)
    say in that fix why the names were not read (:func:`_model_names_fix`). Returns every row with its line; a row whose grade is not an
    integer in 0..K-1, or that has no image name, is an error in ``problems`` (FILE:LINE;
    grades outside 0..K-1 as :func:`_outside_problems` says them) and its grade None. Raises :class:`ScoreError` when the file cannot be read or a column is not
    found (the message lists each problem with its fix).

    A CSV with a layout's per-eye grade columns (:data:`data_prep.layout.EYE_COLUMNS`,
    DeepDRiD's ``left_eye_DR_Level`` / ``right_eye_DR_Level``) and no ``grade_column`` is read
    as the ingest reads it: each row's grade is its own eye's column, the eye told from the
    image id (:func:`data_prep.validate.own_eye_cell`), and its patients from the column the
    layout owns (``patient_id``). ``patient_column`` (``--patient-column``) names the patients'
    column of any CSV; ``LabelRows.patients`` then holds each row's patient. Read through one
    eye's column (``--grade-column left_eye_DR_Level``), a row whose cell is empty beside the
    other eye's filled one is the ingest's error (:func:`data_prep.validate.other_eye_problem`,
    the fix: drop ``--grade-column``), not an ungradable row; a grade the CSV's layout writes for
    an ungradable image (DeepDRiD's 5, :data:`data_prep.layout.UNGRADABLE_GRADES`) beyond the
    submission's scale is one error naming it so (refused as an empty cell is), not a grade
    outside 0..K-1. A column saying whether each image is gradable
    (:func:`data_prep.validate.gradable_column_of`: Messidor-2's ``adjudicated_gradable``) is
    read as the ingest reads it (:func:`data_prep.validate.gradable_mark`): a row it marks 0 is
    refused as a layout's ungradable grade is, whatever its grade cell holds (one error,
    :data:`data_prep.validate.GRADABLE_SCORE_FIX`), so a graded row the graders found
    ungradable is never scored without a word; a cell neither 1 nor 0 (nor empty) is an error.

    ``ungradable`` (``--ungradable``, the ingest's ``data.ungradable``): ``error`` (the default)
    as above; ``leave_out``: a row without a true grade (an empty or ``NA`` cell, the image's own
    eye's included; the layout's ungradable grade; a gradable column's 0) is left out, listed in
    ``LabelRows.left_out`` (its grade None) and said in one note; :func:`score` then leaves out
    the submission's row of its image too. A ``none`` cell that may be a grade's name, and an
    empty cell beside the other eye's filled one, stay errors: they may be mistakes.

    ``LabelRows.icdr_layout``: the layout whose ICDR grade column was read as the grade
    (:func:`data_prep.layout.icdr_grade_column`: Messidor-2's ``adjudicated_dr_grade``, APTOS's
    ``diagnosis`` ...), whatever the number of grades, when a cell of it holds a number or an
    ICDR grade's name (a column of other words, ``none`` / ``referable``, is no ICDR grade); :func:`score` refuses it against two
    grades unless ``labels_referable_from`` maps it.

    Raises:
        ValueError: ``ungradable`` is neither ``error`` nor ``leave_out``."""
    _check_ungradable(ungradable)
    path = Path(path)
    wanted = _label_columns(image_column, grade_column, patient_column)
    table, problems = _label_table(path, wanted, cases)
    if table is None:
        raise ScoreError(_problem_text(f"the label CSV {path} cannot be read", problems))
    index, layout, found = _columns(table, image_column, grade_column, grade_names)
    problems += found
    per_eye = _per_eye_layout(table, image_column, grade_column)
    if not {"image-name", "grade", *(["grade-right"] if per_eye else [])} <= index.keys():
        text = _problem_text(f"cannot find the columns of the label CSV {path}", problems)
        if tuple(normalise(c) for c in table.columns[:3]) == SUBMISSION_HEADER:
            text += f"\n  {path} has a submission's header ({','.join(table.columns[:3])},...): {SWAPPED}"
        raise ScoreError(text)
    eyes = tuple(table.columns[index[r]] for r in ("grade", "grade-right")) if per_eye else ()
    column = " / ".join(eyes) or table.columns[index["grade"]]
    if not eyes and (unread := per_eye_columns_unread(path, table, column, table.columns[index["image-name"]],
                                                      "score", EYE_SCORE_FIX)) is not None:
        problems.append(unread)  # --grade-column patient_DR_Level: the worse eye for each image
    patient_at, found = _patient_column(table, patient_column, per_eye,
                                        table.columns[index["image-name"]], column)
    problems += found
    if patient_column and patient_at is None:
        raise ScoreError(_problem_text(f"cannot find the columns of the label CSV {path}", problems))
    k = len(grade_names)
    # one grade column of a per-eye CSV: an empty cell beside the other eye's filled one is that
    # eye's row (validate.other_eye_problem, the ingest's words), not an ungradable image
    other = other_eye_column(table.columns, column) if not eyes else None
    other_at = column_index(table, other)[0] if other else None
    marked = _marked_ungradable(table, k)
    marked_rows: list[LabelRow] = []  # rows of the layout's ungradable grade (DeepDRiD's 5)
    # a grade column of words and no number: 'none' a grade's name, as the ingest reads it
    own_words = own_grade_words((cells[index[r]] for _, cells in table.rows
                                 for r in ("grade", *(["grade-right"] if eyes else []))), grade_names)
    zero_named = zero_words_named(own_words, scale_given=names_known)
    # a column saying whether each image is gradable (Messidor-2's adjudicated_gradable), as the
    # ingest reads it: 0 marks the row ungradable whatever its grade cell holds
    gradable = gradable_column_of(table.columns, [table.columns[index["image-name"]], *eyes, column,
                                                  table.columns[patient_at] if patient_at is not None else ""])
    gradable_at = column_index(table, gradable)[0] if gradable else None
    flagged: list[LabelRow] = []  # rows the gradable column marks 0
    leave_out = ungradable == "leave_out"
    left_out: list[int] = []  # rows without a true grade, left out (--ungradable leave_out)
    left_rows: list[LabelRow] = []  # the same rows, for the note
    icdr_like = False  # a grade cell holds a number or an ICDR grade's name (not only other words)
    names: list[str] = []
    grades: list[int | None] = []
    lines: list[int] = []
    patients: list[str] = []
    outside: list[tuple[int, str, int]] = []
    by_name: dict[int, int] = {}  # grade -> rows that wrote it as its name ('Moderate')
    # the model's own names known: a word they do not read is read by the default scale's for K
    fallback = scale_names(k) if names_known and not names_are_numbers(scale_names(k)) else ()
    if tuple(fallback) == tuple(grade_names):
        fallback = ()
    refused = _fallback_refused(grade_names) if fallback else None
    refused_scale, fallback = (fallback, ()) if refused else ((), fallback)  # none of its words read, then
    by_scale: dict[int, int] = {}  # grade -> rows read by the default scale's names ('Normal')
    for line, cells in table.rows:
        where = f"{path}:{line}"
        name = cell_file_name(cells[index["image-name"]])
        raw = cells[index["grade"]]
        if not name:
            problems.append(error(where, "row without an image name", "fill in the image's name or "
                                  "delete the row", "csv"))
            continue
        patient = cells[patient_at].strip() if patient_at is not None else ""
        if gradable_at is not None:
            try:
                mark = gradable_mark(cells[gradable_at])
            except ValueError:
                problems.append(gradable_mark_problem(where, name, str(gradable), cells[gradable_at]))
                mark = 0  # no grade scored: the error above says why
            else:
                if mark == 0 and leave_out:
                    left_out.append(len(names))
                    left_rows.append(LabelRow(name, None, patient, line, raw.strip(),
                                              marked_by=f"{gradable} 0"))
                elif mark == 0:
                    flagged.append(LabelRow(name, None, patient, line, raw.strip(),
                                            marked_by=f"{gradable} 0"))
            if mark == 0:
                names.append(name)
                grades.append(None)
                lines.append(line)
                patients.append(patient)
                continue
        if eyes:  # the grade is the cell of the image's own eye, as the ingest reads it
            own, no_eye = own_eye_cell(where, name, cells, (index["grade"], index["grade-right"]),
                                       eyes, EYE_SCORE_FIX)
            if own is None:
                problems.append(no_eye)  # type: ignore[arg-type]
                names.append(name)
                grades.append(None)
                lines.append(line)
                patients.append(patient)
                continue
            raw = own
        grade = parse_grade(raw)
        icdr_like = icdr_like or grade is not None or grade_from_name(raw, GRADE_SCALES["icdr"]) is not None
        clash = None  # the default scale's grade of a word the two scales disagree on
        if grade is None and (grade := grade_from_name(raw, grade_names)) is not None:
            by_name[grade] = by_name.get(grade, 0) + 1  # said once, as the ingest says it
        elif grade is None and fallback:  # the dataset's words against the model's own names
            grade, clash = _fallback_grade(raw, grade_names, fallback)
            if grade is not None:
                by_scale[grade] = by_scale.get(grade, 0) + 1
        if marked is not None and grade == marked[0] and leave_out:  # left out, said in one note
            left_out.append(len(names))
            left_rows.append(LabelRow(name, None, patient, line, raw.strip()))
            grade = None
        elif marked is not None and grade == marked[0]:  # the layout's word for ungradable
            marked_rows.append(LabelRow(name, None, patient, line, raw.strip()))
            grade = None
        elif (grade is None and other_at is not None and is_ungraded(raw)
              and not is_ungraded(cells[other_at])):
            problems.append(other_eye_problem(where, name, column, str(other), "score"))
        elif grade is None and names_zero_grade(raw, zero_named):  # 'none' among grade words
            problems.append(error(where, grade_zero_words(name, raw, grade_names),
                                  zero_word_readings(raw, _model_names_fix(own_words, grade_names, run_given=run_given,
                                                                           bundle_grades=bundle_grades),
                                                     UNGRADABLE_LABEL_WAY), "grade"))
        elif grade is None and leave_out and is_ungraded(raw):  # no true grade: left out, said once
            left_out.append(len(names))
            left_rows.append(LabelRow(name, None, patient, line, raw.strip()))
        elif grade is None:
            named = "" if names_are_numbers(grade_names) else f" nor one of the names {', '.join(grade_names)}"
            if fallback and named:
                named += (f" ({_scale_name(fallback)} reads it as grade {clash} ({fallback[clash]}), but "
                          f"the model's grade {clash} is {grade_names[clash]!r}: not read, as the two "
                          f"scales disagree on that grade)" if clash is not None else
                          f" or of {_scale_name(fallback)} ({', '.join(fallback)})")
            elif refused and named:
                named += (f" ({_scale_name(refused_scale)}'s names, {', '.join(refused_scale)}, were not used "
                          f"for this file: {refused})")
            eye_column = eyes[eye_of(name) or 0] if eyes else ""  # the column the id chose
            what = (no_grade_words(name, raw, eye_column) if is_ungraded(raw) else
                    f"grade {raw.strip()!r} of {name} is neither a grade number{named}" if named else
                    f"grade {raw.strip()!r} of {name} is not a grade number")
            # a column of words the names in force do not read: the model's own names, when its
            # run is given (a trial's R0..R3 labels, no RUN: every row said "write 0, 1, 2 or 3")
            fix = (f"{_model_names_fix(own_words, grade_names, run_given=run_given, bundle_grades=bundle_grades)}"
                   f", or {UNGRADABLE_LABEL_WAY}" if own_words and not names_known and not is_ungraded(raw)
                   else f"write {_choices(grade_names)}, or {UNGRADABLE_LABEL_WAY}"
                   + (f"; {LEAVE_OUT_SCORE_WAY}" if is_ungraded(raw) else ""))
            problems.append(error(where, what, fix, "grade"))
        elif not 0 <= grade < k:
            outside.append((line, name, grade))
            grade = None
        names.append(name)
        grades.append(grade)
        lines.append(line)
        patients.append(patient)
    if by_name:
        problems.append(grade_names_note(path, by_name, grade_names, "nothing to do (scored as those numbers)"))
    if by_scale:
        n = sum(by_scale.values())
        problems.append(note(path, f"{counted(n, 'grade')} written in {_scale_name(fallback)}'s names, not "
                                   f"the model's ({', '.join(grade_names)}), read as "
                                   f"{'its number' if n == 1 else 'their numbers'}: "
                                   + ", ".join(f"{fallback[g]}={g} ({grade_names[g]})" for g in sorted(by_scale)),
                             "nothing to do (scored as those numbers)", "grade-names"))
    # DeepDRiD's and DDR's ungradable 5 outside their layouts, the only grade outside ICDR beside
    # a 0: said as such first, but never left out as it is (leave_out or not, as the ingest:
    # a stray 5 or a 1-based PDR is never dropped unseen; DDR's converted CSV writes NA for it)
    five = (bool(outside) and not eyes and not by_name and marked is None
            and all(g == ICDR_UNGRADABLE_GRADE for *_, g in outside)
            and 0 in {g for g in grades if g is not None} and five_may_be_ungradable([column], grade_names))
    if outside:
        problems += _outside_problems(path, column, grade_names, grades, outside, per_eye=bool(eyes),
                                      dialect=(table.delimiter, table.encoding), five=five)
    if marked_rows and marked is not None:
        problems.append(marked_ungradable_problem(path, marked_rows, marked, grade_names,
                                                  f"{UNGRADABLE_SCORE_FIX}; {LEAVE_OUT_SCORE_WAY}"))
    if flagged:
        problems.append(flagged_ungradable_problem(path, flagged, str(gradable),
                                                   f"{GRADABLE_SCORE_FIX}; {LEAVE_OUT_SCORE_WAY}"))
    if left_rows:
        problems.append(_left_out_note(path, left_rows, marked))
    # as the ingest (data_prep.validate.read_labels): 1..K-1 left beside NA rows, where a 5 may
    # have been told ungradable, may be a 1-based PDR made NA, every true grade one too high
    if (left_rows and not eyes and marked is None and not outside and not by_name and not by_scale
            and five_may_be_ungradable([column], grade_names)
            and (none_zero := no_grade_zero_left_problem(path, left_rows, grades, grade_names, str(column),
                                                         scoring=True)) is not None):
        problems.append(none_zero)
    if not names and not any(p.severity == "error" for p in problems):
        problems.append(error(path, "the label CSV has a header but no rows",
                              "add one row per image of the submission", "csv"))
    patient_from = table.columns[patient_at] if patient_at is not None else ""
    # EyePACS's columns, detected or given by --image-column / --grade-column (the same file)
    eyepacs = layout == "eyepacs" or (not eyes and "image-name" in index and (
        table.columns[index["image-name"]].strip().lower(), str(column).strip().lower()) == ("image", "level"))
    if patient_at is None and eyepacs:  # the ingest's eye pairs (pair_eyes): 10_left, 10_right
        paired = [eye_pair_patient(n) or "" for n in names]
        if any(paired):
            patients, patient_at, patient_from = paired, -1, EYEPACS_PAIRS
            problems.append(note(path, f"{sum(1 for p in paired if p)} of {counted(len(names), 'image')} named "
                                       f"{EYE_PAIR_WORDS}, EyePACS's ids: the two eyes of a patient are "
                                       f"one patient, as the ingest pairs them (the bootstrap resamples "
                                       f"patients; the per-patient referral figures are given)",
                                 "nothing to do; --patient-column overrides it", "patient"))
    if patient_at is None and (said := eye_names_words(names, "images of the label CSV")):
        # as the ingest warns (data_prep.ingest.own_patients): outside EyePACS's ids the part
        # before the eye need not be the patient, so nothing is paired by a guess
        problems.append(warning(path, *unpaired_eyes_words(said, "the bootstrap CIs treat a patient's fellow "
                                                                 "eyes as independent and no per-patient "
                                                                 "referral is given"), "patient"))
    return LabelRows(path, names, grades, lines, table.columns[index["image-name"]], column, layout,
                     table.dialect, problems, patients if patient_at is not None else [],
                     patient_from, per_eye=bool(eyes),
                     left_out=left_out, icdr_layout=icdr_grade_column(eyes or column) if icdr_like else "")


def _left_out_note(path: Path, rows: Sequence[LabelRow], marked: tuple[int, str] | None) -> Problem:
    """The note of the label rows without a true grade that ``--ungradable leave_out`` left out
    (``rows``: an empty or NA cell, ``marked``'s grade, a gradable column's 0), with the first
    few as ``FILE:LINE name``; :func:`score` leaves out the submission's rows of their images."""
    listed = ", ".join(f"{path.name}:{row.line} {row.name}" for row in rows[:SHOWN_ROWS])
    more = f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else ""
    return note(path, f"{counted(len(rows), 'row')} without a true grade ({ungraded_words(rows, marked)}) "
                      f"left out, with the submission's rows of their images (--ungradable leave_out): "
                      f"{listed}{more}", "nothing to do (their images are not scored)", "ungradable")


def _outside_problems(path: Path, column: str, grade_names: Sequence[str], grades: Sequence[int | None],
                      outside: Sequence[tuple[int, str, int]], per_eye: bool = False,
                      dialect: tuple[str, str] = (",", "utf-8"), five: bool = False) -> list[Problem]:
    """The errors for the label rows ``outside`` (line, image name, grade) whose grades are not
    in 0..K-1 (K the submission's, ``grades`` the other rows' grades, None where not a
    number): labels written 1..K are one error with the fix that subtracts 1
    (:func:`data_prep.validate.one_based_problem`); one row, rows that read as slips of those
    rows (:func:`data_prep.validate.stray_grades`: few, or a gap above the scale) or rows below
    0 an error each, at its line (as the ingest says them); else the labels are on a wider scale, one error: the fix is a submission on
    theirs, never new true grades. ``per_eye``: the grades come from two columns (no 1-based
    fix rewriting one column). ``dialect``: the label CSV's delimiter and encoding, which that
    fix's command reads and writes it in. ``five``: every row outside is graded 5 on ICDR beside
    a grade 0 (:func:`data_prep.validate.five_may_be_ungradable`): DeepDRiD's and DDR's
    ungradable mark is said first, one error for all of them (never a submission on six grades
    first)."""
    k = len(grade_names)
    inside = [g for g in grades if g is not None]
    if five:
        unscored = (f"if grade {ICDR_UNGRADABLE_GRADE} marks an image its graders found ungradable "
                    f"({ICDR_UNGRADABLE_WHOSE} label for one): {UNGRADABLE_FIVE_SCORE_WAY}; "
                    f"else correct {'it' if len(outside) == 1 else 'them'} "
                    f"to {_choices(grade_names)}")
        line, name, grade = outside[0]
        if len(outside) == 1:
            return [error(f"{path}:{line}", f"grade {grade} of {name} is outside 0..{k - 1}", unscored, "grade")]
        return [error(path, f"{len(outside)} rows have grade {grade}, outside 0..{k - 1}, the submission's "
                            f"scale ({_described(grade_names)}), e.g. line {line} ({name})", unscored, "grade")]
    values = set(inside) | {g for _, _, g in outside}
    top = sum(1 for _, _, g in outside if g == k)
    # K is the submission's here, --grades or not
    if not per_eye and (one_based := one_based_problem(path, column, grade_names, values, top,
                                                       scale="the submission's scale",
                                                       delimiter=dialect[0], encoding=dialect[1],
                                                       ungradable_way=UNGRADABLE_FIVE_SCORE_WAY,
                                                       top_names=[n for _, n, g in outside if g == k])) is not None:
        return [one_based]
    low, high = min(values), max(values)
    wider = (f"the labels use grades up to {high}, the submission has {k} grades: score a submission "
             f"from a model on the labels' scale ({high + 1} grades"
             + (", e.g. the 5 ICDR grades" if low >= 0 and high == 4 else "") + ")"
             + (f"; or, if they are ICDR grades and the model grades referable DR, add "
                f"{LABELS_REFERABLE_OPTION} 2 (grade 1 against ICDR grade >= 2, moderate or worse)"
                if k == 2 and low >= 0 and high <= 4 else ""))
    if len(outside) == 1 or low < 0 or stray_grades(grade_names, values, len(outside), len(inside) + len(outside)):
        fix = (f"correct it to {_choices(grade_names)} (the submission's {k} grades)"
               + (f"; or, if {wider}" if low >= 0 else ""))
        return [error(f"{path}:{line}", f"grade {grade} of {name} is outside 0..{k - 1}", fix, "grade")
                for line, name, grade in outside]
    per_grade: dict[int, int] = {}
    for _, _, grade in outside:
        per_grade[grade] = per_grade.get(grade, 0) + 1
    listed = ", ".join(f"{g} ({counted(n, 'row')})" for g, n in sorted(per_grade.items()))
    line, name, grade = outside[0]
    return [error(path, f"{len(outside)} rows have a "
                        f"grade outside 0..{k - 1}, the submission's scale ({_described(grade_names)}): "
                        f"{listed}, e.g. line {line} ({name}, grade {grade})",
                  f"{wider}; do not change the true grades", "grade")]


LABELS_REFERABLE_OPTION = "--labels-referable-from"
"""The flag of ``export --score`` that maps a label column's ICDR grades to two (:func:`score`)."""


def _check_labels_referable_from(n: int, k: int, names: Sequence[str]) -> None:
    """ScoreError unless ``--labels-referable-from n`` can map ICDR labels to the submission's
    ``k`` grades (``names``): two grades, and ``n`` an ICDR grade 1..4 that leaves some grade
    on each side (:func:`drac_ssl.config.referable_from_rule`)."""
    icdr = GRADE_SCALES["icdr"]
    if k != 2:
        raise ScoreError(f"{LABELS_REFERABLE_OPTION} {n} maps ICDR labels to two grades (referable or "
                         f"not), but the submission has {k} grades ({_described(names)})\n  fix: drop "
                         f"{LABELS_REFERABLE_OPTION}: labels on the submission's own scale are scored as "
                         f"they are")
    if not referable_from_rule(n).valid:
        raise ScoreError(f"{LABELS_REFERABLE_OPTION} {n}: must be an ICDR grade 1..{len(icdr) - 1} (referable = "
                         f"grade >= it: {', '.join(f'{g} {name}' for g, name in enumerate(icdr))})\n  fix: "
                         f"{LABELS_REFERABLE_OPTION} 2 (referable DR: moderate NPDR or worse)")


def _icdr_labels_refusal(rows: LabelRows, names: Sequence[str], trained: int | None, run_given: bool,
                         run_not_grader: bool = False) -> str:
    """Why a two-grade submission is not scored against the ICDR grade column ``rows`` read
    (``rows.icdr_layout``), and the fix: ``--labels-referable-from N``, N the model's own
    ``data.referable_from`` (``trained``) when its bundle records one, else 2 (ICDR moderate or
    worse, referable DR); or a 0/1 column; or N = 1 for a column that already holds 0/1 labels.
    ``run_not_grader``: RUN's bundle, which ``trained`` was read from, is not the one that
    graded the submission (:func:`run_not_grader_words`): N is then said to be RUN's, only a
    suggestion (the grading bundle's own is not known: the notes file names it by hash only)."""
    icdr = GRADE_SCALES["icdr"]
    n = trained if trained is not None and 1 <= trained < len(icdr) else 2
    whose = "RUN's" if run_given else "the model's"
    as_trained = (f", as {whose} bundle records the model was trained: data.referable_from={n}"
                  if trained is not None else "")
    if trained is not None and run_not_grader:
        as_trained = (f", as RUN's bundle records its model was trained: data.referable_from={n}; RUN's bundle "
                      f"did not grade this submission (the notes file beside it names another), so {n} is only "
                      f"a suggestion: use the N the grading model was trained with")
    column = rows.grade_column
    left_out = set(rows.left_out)
    read = [g for i, g in enumerate(rows.grades) if i not in left_out]  # None: beyond the two grades
    if read and all(g in (0, 1) for g in read):  # N >= 2 would be refused as "holds only 0/1": N = 1 first
        return (f"the grade column {column!r} of {rows.path} is {LAYOUT_NAMES.get(rows.icdr_layout, rows.icdr_layout)}'s "
                f"ICDR grade column, and the submission has two grades ({_described(names)}); the rows "
                f"hold only 0 and 1, so nothing was scored\n"
                f"  fix: add {LABELS_REFERABLE_OPTION} 1 if they are the model's two grades, your own 0/1 "
                f"(keeps them as they are); ICDR grades 0 and 1 (No DR, Mild) would all be grade "
                f"{_class_word(0, names)}, which cannot be scored as referable DR; or pass --grade-column NAME "
                f"naming a column of 0/1 labels")
    return (f"the grade column {column!r} of {rows.path} holds {LAYOUT_NAMES.get(rows.icdr_layout, rows.icdr_layout)}'s "
            f"ICDR grades ({describe(icdr)}), and the submission has two grades ({_described(names)}): read "
            f"as they are, ICDR grade 1 (Mild) would be scored as grade {_class_word(1, names)} and grades "
            f"2..4 refused, so nothing was scored\n"
            f"  fix: add {LABELS_REFERABLE_OPTION} {n} to score grade {_class_word(1, names)} against ICDR grade "
            f">= {n} ({icdr[n]} or worse{as_trained}) and grade {_class_word(0, names)} against the lower "
            f"grades; or pass "
            f"--grade-column NAME naming a column of 0/1 labels; or {LABELS_REFERABLE_OPTION} 1: the column "
            f"{column!r} already holds 0/1 of your own, the model's two grades (keeps them as they are)")


def _class_word(grade: int, names: Sequence[str]) -> str:
    """``'1 (referable)'``, or ``'1'`` when the names are the numbers."""
    return str(grade) if names_are_numbers(names) else f"{grade} ({names[grade]})"


def _map_referable(rows: LabelRows, n: int, names: Sequence[str]) -> dict[str, Any]:
    """Map the ICDR grades ``rows`` read (``rows.grades``, changed in place; None stays None) to
    the submission's two grades ``names``: grade >= ``n`` -> 1, else 0. Returns the record's
    ``labels_mapped``: ``referable_from`` (n), ``from_scale`` (``icdr``), ``rows_per_grade`` (the
    rows of each ICDR grade read, keyed by its number), ``rows_per_class`` (the rows each of
    the two grades got) and ``note`` (the same in words)."""
    icdr = GRADE_SCALES["icdr"]
    read = [g for g in rows.grades if g is not None]
    said = no_grade_at_or_above(read, n, repr(rows.grade_column), LABELS_REFERABLE_OPTION,
                                f"be scored as grade {_class_word(0, names)}", "score")
    if said is not None:  # every row would silently be scored as grade 0
        raise ScoreError(f"{rows.path}: {said[0]}\n  fix: {said[1]}")
    per_grade = {g: sum(1 for v in rows.grades if v == g) for g in range(len(icdr))}
    rows.grades = [None if g is None else referable_grade(g, n) for g in rows.grades]
    per_class = [sum(1 for v in rows.grades if v == c) for c in (0, 1)]

    def listed(grades: range) -> str:
        return ", ".join(f"{g} {icdr[g]}: {per_grade[g]}" for g in grades)

    high, low = range(n, len(icdr)), range(n)
    note_text = (f"{counted(sum(per_class), 'label row')} read as ICDR grades and mapped to the submission's two "
                 f"grades ({LABELS_REFERABLE_OPTION} {n}): ICDR grade >= {n} -> {_class_word(1, names)}, "
                 f"{counted(per_class[1], 'row')} ({listed(high)}); ICDR grade < {n} -> {_class_word(0, names)}, "
                 f"{counted(per_class[0], 'row')} ({listed(low)})")
    return {"referable_from": n, "from_scale": "icdr", "rows_per_grade": {str(g): v for g, v in per_grade.items()},
            "rows_per_class": {names[0]: per_class[0], names[1]: per_class[1]}, "note": note_text}


def _problem_text(head: str, problems: Sequence[Problem]) -> str:
    """``head`` then each error as ``  PATH: what -> fix`` (those of a file in line order), at
    most :data:`SHOWN_PER_KIND` of one kind and a line counting the rest."""
    lines = [head + ":"]
    shown: dict[str, int] = {}
    for p in in_line_order(problems):
        if p.severity != "error":
            continue
        shown[p.kind] = shown.get(p.kind, 0) + 1
        if shown[p.kind] <= SHOWN_PER_KIND:
            lines.append(f"  {p.line}")
    lines += [f"  ... and {n - SHOWN_PER_KIND} more of the kind '{kind}' ({n} in all)"
              for kind, n in shown.items() if n > SHOWN_PER_KIND]
    return "\n".join(lines)


def _listed(rows: Sequence[tuple[str, str]]) -> list[str]:
    """``    FILE:LINE: name`` for the first :data:`SHOWN_ROWS` rows, then ``    ... and N more``."""
    out = [f"    {where}: {name}" for where, name in rows[:SHOWN_ROWS]]
    return out + ([f"    ... and {len(rows) - SHOWN_ROWS} more"] if len(rows) > SHOWN_ROWS else [])


RESTARTING_TEST_LABELS = {"idrid": "b. IDRiD_Disease Grading_Testing Labels.csv"}
"""The label layouts of the sets whose official test names restart at the training names
(IDRiD's test set is ``IDRiD_001.jpg`` ... again, other images:
:attr:`data_prep.layout.Layout.shared_test_names`), with their test label CSV's name: there a
training label CSV names every test case, each with another image's grade."""


def _restarting_names_words(labels: LabelRows) -> str:
    """What the stray rows' fix adds for a label CSV of a set whose test names restart
    (:data:`RESTARTING_TEST_LABELS`), or of a file named as training labels: the copy must be
    cut from the test set's own label CSV, never from the training one ("" otherwise). An IDRiD
    user: the training CSV said "stray rows", and its trimmed copy scored the test grades
    against the training images' grades, rc 0."""
    test_csv = RESTARTING_TEST_LABELS.get(labels.layout)
    if test_csv is None and "train" not in labels.path.name.lower():
        return ""
    which = f"'{test_csv}'" if test_csv is not None else "the test set's own label CSV"
    why = "IDRiD's test names restart at IDRiD_001, so " if test_csv is not None else ""
    return (f"; take that copy from the label CSV of these very images ({which}), never from a training "
            f"label CSV: {why}a training row of a case's name grades another image")


def _pair(sub: SubmissionRows, labels: LabelRows) -> tuple[np.ndarray, dict[str, Any]]:
    """The true grade of each submission row ``(n,)`` scored, and how many labels were matched by
    ``name``, by ``stem`` and by ``number`` (``number_lost_zeros`` of those with fewer digits
    than the case: ``1 -> 001.png``; ``by_case`` of those by name or stem only by ignoring
    letter case, :func:`data_prep.validate.only_by_case`), with ``examples``, one ``label ->
    case`` of each way used, ``label_rows`` (the label row of each scored submission row) and
    ``submission_rows`` (the submission rows scored, in order: all but those whose image's label
    row was left out without a true grade, ``labels.left_out``; such a row names no case
    without an error);
    ScoreError naming every problem otherwise (the label CSV's
    bad rows, ambiguous names, two rows of one case, cases without label, labels without
    case)."""
    index = NameIndex([Path(case) for case in sub.cases])
    row_of = {case: i for i, case in enumerate(sub.cases)}
    label_of: dict[int, int] = {}  # submission row -> label row
    problems = [p for p in labels.problems if p.severity == "error"]
    stray: list[tuple[str, str]] = []
    how_many = {"name": 0, "stem": 0, "number": 0, "extension": 0, "number_lost_zeros": 0, "by_case": 0}
    example: dict[str, str] = {}
    skipped = set(labels.left_out)  # rows without a true grade (--ungradable leave_out)
    dropped: dict[int, int] = {}  # submission row -> the left-out label row of its image
    for j, (name, line) in enumerate(zip(labels.names, labels.lines, strict=True)):
        paths, how = index.find(name)
        where = f"{labels.path}:{line}"
        if j in skipped:  # its image's submission row is left out too; no case for it is no error
            if paths and how != "ambiguous":
                dropped.setdefault(row_of[str(paths[0])], j)
            continue
        if how == "ambiguous":
            problems.append(error(where, f"{name} (no extension) matches {len(paths)} cases of "
                                         f"{sub.path}: {', '.join(p.name for p in paths)}",
                                  "write the case's full file name in the label CSV", "match"))
            continue
        if not paths:
            stray.append((where, name))
            continue
        i = row_of[str(paths[0])]
        if i in label_of:
            first, here, there = labels.lines[label_of[i]], labels.grades[j], labels.grades[label_of[i]]
            again = f"{name} names the case {sub.cases[i]} again"
            if here is None or there is None:  # a bad grade cell, said at its line already
                what, fix = f"{again} (first on line {first})", "keep one row per image"
            elif here == there:
                what, fix = (f"{again}, with the same grade (line {first})",
                             "delete one of the two rows: one row per image")
            else:
                what, fix = (f"{again}, grade {here} here, {there} on line {first}: which is right?",
                             "keep the row with the true grade and delete the other: one row per image")
            problems.append(error(where, what, fix, "duplicate"))
            continue
        label_of[i] = j
        how_many[how] += 1
        if how == "number" and len(Path(name).stem) < len(Path(sub.cases[i]).stem):
            how_many["number_lost_zeros"] += 1  # 1 -> 001.png: the label lost them
        example.setdefault(how, f"{name} -> {sub.cases[i]}")
        if how in ("name", "stem") and only_by_case(name, paths[0], how):  # PATIENT00_OS.PNG
            how_many["by_case"] += 1
            example.setdefault("by_case", f"{name} -> {sub.cases[i]}")
    for i, j in dropped.items():  # one image graded on one row and without a grade on another
        if i in label_of:
            problems.append(error(f"{labels.path}:{labels.lines[j]}",
                                  f"{labels.names[j]} has no true grade here (left out, --ungradable "
                                  f"leave_out), but line {labels.lines[label_of[i]]} grades the same case "
                                  f"{sub.cases[i]}: which is right?",
                                  "keep one row per image: delete the row that is wrong", "duplicate"))
    missing = [(f"{sub.path}:{sub.lines[i]}", case) for i, case in enumerate(sub.cases)
               if i not in label_of and i not in dropped]
    text = [_problem_text(f"the label CSV {labels.path} has rows that cannot be scored", problems)] if problems else []
    if (missing or stray) and labels.names:  # no rows at all: said once, as the label CSV's error
        none = len(missing) == len(sub.cases)
        said = [f"{sub.path} and {labels.path} do not name the same images, so nothing was scored "
                f"(a subset would give other figures than the whole set)"
                + (f"; no label names a case, so is {labels.path} the label CSV of these images?" if none
                   else ":")]
        if missing:
            said += [f"  {len(missing)} of the {len(sub.cases)} cases of {sub.path} "
                     f"{'has' if len(missing) == 1 else 'have'} no label in {labels.path}:", *_listed(missing),
                     "    fix: add their labels, or score only the labelled images: a copy of the "
                     "submission without these rows"]
        if stray:
            said += [f"  {len(stray)} of the {len(labels.names)} label rows of {labels.path} "
                     f"{'names' if len(stray) == 1 else 'name'} no case of {sub.path}:", *_listed(stray),
                     "    fix: grade these images too, or score against a copy of the label CSV "
                     "without these rows (a name without extension names the case with that "
                     "stem: IDRiD_001 -> IDRiD_001.jpg)" + _restarting_names_words(labels)]
        text.append("\n".join(said))
    if text:
        raise ScoreError("\n".join(text))
    kept = [i for i in range(len(sub.cases)) if i not in dropped]
    y = np.array([labels.grades[label_of[i]] for i in kept], dtype=np.int64)
    return y, {**how_many, "examples": example, "label_rows": [label_of[i] for i in kept],
               "submission_rows": kept}


def _patient_groups(labels: LabelRows, label_rows: Sequence[int]) -> tuple[np.ndarray | None, list[str]]:
    """Each case's patient ``(n,)`` from the label rows it was paired with (``label_rows``), for
    the cluster bootstrap (:func:`drac_ssl.metrics.bootstrap_ci` ``groups``), or None when the
    labels name no patients; and the notes: a row with an empty patient cell is its own unit
    (said, with how many). Patients only, never near-twin groups (the fine-tuning's
    ``ci_resamples: groups``, :func:`drac_ssl.oof.patient_groups`): a submission is scored
    against the user's labels of held-out images, with no folds to keep twins in and no
    ingest's ``fold_group`` to read."""
    if not labels.patients:
        return None, []
    patients = [labels.patients[j] for j in label_rows]
    empty = [j for j in label_rows if not labels.patients[j]]
    groups = np.array([resampling_unit(p, labels.names[j]) for p, j in zip(patients, label_rows, strict=True)])
    said = ([f"{labels.path}: {counted(len(empty), 'row')} without a patient in {labels.patient_column!r} "
             f"(e.g. line {labels.lines[empty[0]]}): each resampled as a patient of its own -> fill in "
             "their patients for an interval over patients only"] if empty else [])
    return groups, said


def _json_safe(obj: Any) -> Any:
    """NaN / inf -> None (standard JSON), numpy scalars -> Python ones."""
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def score(submission: str | Path, labels: str | Path, *, num_grades: int | None = None,
          image_column: str | None = None, grade_column: str | None = None,
          patient_column: str | None = None, n_boot: int = N_BOOT, seed: int = 0,
          grade_names: Sequence[str] | None = None, run_given: bool = False,
          referable_from: int | None = None, names_from: str | None = None,
          calibration: Mapping[str, Any] | None = None, calibration_from: str | None = None,
          graded_by: Mapping[str, Any] | None = None, run_not_grader: str | None = None,
          ungradable: str = "error", labels_referable_from: int | None = None,
          trained_referable_from: int | None = None, training: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Score the submission CSV ``submission`` against the label CSV ``labels``; the figures
    as a JSON-ready record (nan as None).

    ``referable_from``: the referable cut of the model that wrote the submission (its bundle's
    ``cv_metrics.referable.from_grade``, :func:`model_referable_cut`), used on a K above 2 when
    ``grade_names`` are that model's and as many as K. With two grades the cut is grade 1
    whatever is given: the two grades are read as a screening decision. ``names_from``: where
    ``grade_names`` were read when not from a bundle (the export's notes file beside the
    submission, :func:`notes_grade_names`): said in ``label_notes``, and names of another K
    than the submission's are then left out without a warning.

    ``grade_names``: the grade names of the model that wrote the submission, when known (its
    bundle's ``class_names``, :func:`model_grade_names`); used when they are as many as the
    submission's K, and the labels' grade words are then read by them (``none`` included, where
    it names a grade; a word they do not read by the default scale's names for K:
    :func:`read_grade_labels`); else the named scale of K's length, and the record's
    ``class_names_warning`` says that the bundle names another number of grades.
    ``run_given``: RUN was given (the bundle is RUN's, not the one of the run the export wrote
    the submission into); the messages say which. ``calibration``: the calibration of the
    bundle that graded (its ``metadata.json``'s, :func:`model_calibration`), read, never
    re-fitted: its referral cut (``referral``, ``finetune.referral_target``) is scored as
    deployed (``deployed_referral`` below), and it is named in ``calibration`` with
    ``calibration_from`` (the file it was read from). ``graded_by``: the bundle that graded
    (:func:`grading_bundle`), recorded as given (``graded_by``; None: not known, said).
    ``run_not_grader``: why RUN's bundle is not the one that graded (the export's notes file
    names another: :func:`grading_bundle`'s ``run_bundle``); RUN's calibration and referral
    cut were then not the ones applied, so ``calibration`` is a note saying so and
    ``deployed_referral`` a note, ``withheld`` True, not figures; ``calibration`` and
    ``calibration_from`` are then not read. None: :func:`run_not_grader_words` of
    ``graded_by``, so a ``graded_by`` with ``run_bundle`` withholds them as the command does.

    ``ungradable``: ``--ungradable`` (:func:`read_grade_labels`): ``leave_out`` leaves out each
    label row without a true grade and the submission's row of its image (``n`` counts the rest;
    ``left_out_ungradable`` in the record: how many, ``label_notes`` lists them).
    ``labels_referable_from`` (``--labels-referable-from N``, a submission of two grades only):
    the label column holds ICDR grades (0..4, or their names), each read as grade 1 when it is
    N or more, else 0 (``labels_mapped`` in the record: N, the rows per ICDR grade and per grade
    they became; a note in ``label_notes``). Without it, a two-grade submission scored against a
    known ICDR grade column (:func:`data_prep.layout.icdr_grade_column`: Messidor-2's
    ``adjudicated_dr_grade``, APTOS's ``diagnosis``, EyePACS's ``level``, IDRiD's
    ``Retinopathy grade``, DeepDRiD's per-eye columns) is refused (ScoreError naming the option),
    whatever grades the rows hold: read as they are, ICDR grade 1 (mild) would count as
    referable. ``trained_referable_from``: the ``data.referable_from`` the model was trained
    with (its bundle's ``data.referable_from``, :func:`model_labels_referable_from`), the N that
    refusal suggests (else 2, ICDR moderate or worse); when RUN is not the bundle that graded
    (``run_not_grader``), the refusal says that N is RUN's, only a suggestion.

    ``training``: the run's labelled training rows and the scored images' hashes
    (:func:`training_labels_scored`); when every scored case is named as a training image of
    another content and the label's grade is that training image's, and that agreement is
    unlikely by chance (p below :data:`CHANCE_AGREEMENT` on the training grades' mix), the
    record's ``training_labels_warning`` says the labels look like a copy of the training labels
    (:func:`_training_labels_warning`; scored all the same).

    Keys: ``n``, ``num_grades``, ``class_names`` (``grade_names``, else :func:`scale_names`); ``qwk``, ``qwk_ci95``
    (``[low, high]``), ``qwk_ci95_note`` (why an interval of width 0 means nothing, else None),
    ``auc`` / ``auc_ovo`` (macro one-vs-one), ``auc_ovr``, ``auc_ovr_ci95``, ``auc_ovo_ci95``,
    ``auc_per_grade`` (one-vs-rest, keyed by grade name; None for a grade without true image),
    ``auc_note`` (why the macro AUCs are undefined: the grades without image in the labels),
    ``one_grade_labels_note`` (the labels hold one grade: nothing can be measured, the QWK is
    0, or None when the submission gives that same grade to every image; then
    ``chance_warning`` is None), ``accuracy``, ``accuracy_ci95``, ``macro_f1``, ``precision``, ``recall``,
    ``f1``, ``confusion`` (K lists: rows true grade, columns the submission's class),
    ``one_grade_note``, ``chance_warning`` (:func:`drac_ssl.figures.chance_words`, or None),
    ``ci_resamples`` (``patients`` when the labels name them: ``patient_column``, or the column
    a per-eye layout owns, DeepDRiD's ``patient_id``; the CIs are then the cluster bootstrap,
    each patient with all its images; else ``images``) / ``ci_units`` (how many) / ``n_boot`` /
    ``seed``, ``submission``, ``labels``,
    ``label_columns`` (``image``, ``grade``: per eye ``LEFT / RIGHT``, and ``patient`` when one
    is read), ``label_per_eye`` (True: each image's grade is its own eye's column, of the two
    that ``label_columns["grade"]`` names), ``label_layout``, ``label_dialect``, ``label_notes`` (lines: what reading the
    label CSV said that is neither an error nor "nothing to do", e.g. its encoding, and the
    rows without a patient, each then resampled as a patient of its own; ``label_warnings``:
    those of them that are warnings, printed as ``warning:``),
    ``matched`` (labels matched by ``name``, ``stem``, ``number``, ``number_lost_zeros``, with
    ``examples``), and
    ``referable`` (two grades, or a K above 2 with ``referable_from``: :func:`drac_ssl.metrics.
    referable_report` of the submission's class and probabilities, grade >= the cut: the AUC of
    P(referable) with its CI, ``sensitivity`` / ``specificity`` with their counts and CIs, on
    the same resamples as the other CIs; a Kaggle file, without probabilities, gets no AUC
    of P(referable) nor operating points, :data:`_KAGGLE_NO_RANKING`; ``referable_from_source``
    says where the cut came from), ``sensitivity`` and ``specificity`` (two grades: the recall of grade 1 and of grade 0,
    ``referable``'s, named where ``recall`` is keyed by grade),
    ``deployed_referral`` (when ``calibration`` has a referral cut on the submission's
    scale: :func:`_deployed_referral`, the bundle's deployed cut re-used, not re-fitted: refer
    when P(referable) >= its ``cut``, P(referable) read from the export's ``_referable.csv``
    beside the submission when it lists every case, else summed from the submission's
    probabilities; :func:`drac_ssl.metrics.decision_screening`'s ``sensitivity`` /
    ``specificity`` with counts and CIs, ``n_referred`` (the export's ``referable`` column's
    count when that file has one: ``decision_from``; ``n_referred_by_cut``, what the cut
    refers, and ``decision_warning`` when the two differ), the ``cut``, ``target``,
    ``from_grade``, ``fitted_on``, ``p_referable_from`` and ``reused``; or, for a Kaggle file
    without that file, or a cut off the submission's scale, ``{"note": why it cannot be
    scored, ...}``; when ``calibration`` is given without a referral cut,
    ``{"note": "... (finetune.referral_target was not set)", "none": True}``; with
    ``run_not_grader``, ``{"note", "withheld": True}``; else absent when ``calibration`` is None),
    ``graded_by`` (the bundle that graded, :func:`grading_bundle`: ``bundle`` path or None,
    ``metadata_sha256``, ``variant``, ``created_utc``, ``package_version``, ``source``, and
    ``note`` / ``run_bundle`` where said; or ``{"note": ...}``),
    ``per_grade`` (:func:`drac_ssl.metrics.recall_intervals`, keyed by grade name: each grade's
    ``grade`` number, ``n`` true images, ``hits`` (of them given it), ``given``, ``recall``
    with its ``recall_ci95``, ``ci_method`` (``wilson``; ``wilson_patients``, on Kish's
    effective n ``ci_n_eff`` of its images from ``ci_units`` patients; with two grades the
    screening line's, ``bootstrap`` where the counts allow, and ``ci_as``: ``sensitivity`` /
    ``specificity``), ``precision``),
    ``never_given`` (one note per grade the submission never gave: its precision is undefined),
    ``calibration`` (:func:`calibration_provenance`: what was applied and where it came from,
    re-used unchanged; or ``{"note": ...}``: not found, none recorded, or ``run_not_grader``),
    ``calibration_measures`` (only with probabilities: ``brier`` (binary with two grades,
    multi-class with more: ``brier_definition``) with its CI on the same resamples, ``ece`` of
    the submitted probabilities beside a perfectly calibrated model's (``ece_if_calibrated``,
    ``ece_if_calibrated_p95``), ``ece_bins`` and ``words``, both in words:
    :func:`calibration_measures`),
    ``unlike_training_images`` (only with the export's notes file beside the submission:
    :func:`unlike_training_images`, how many scored images its input check flagged as unlike
    the training images; when most were, ``chance_warning``'s remedy names domain shift first,
    :data:`DOMAIN_SHIFT_REMEDY`; when the grading bundle's check is weak and flagged fewer, the
    line says its count does not rule out domain shift and the remedy names it,
    :data:`WEAK_CHECK_REMEDY`),
    ``class_names_warning`` (only when ``grade_names`` count another K than the submission's:
    they are not used, said), ``swap_warning`` / ``kaggle_pair_note`` (only when both files
    have Kaggle's ``id_code,diagnosis`` header: the labels look like an export's submission, an
    export's notes file beside them; else which file was read as which),
    ``case_name_warnings`` (only when a case starts with a formula
    character, ``-1.png``: the check's ``FILE:LINE: warning:`` lines; scored all the same),
    ``package_version`` and ``date_utc``.

    Raises:
        SubmissionCheckFailed: the submission fails its check (``.problems``: its lines).
        ScoreError: the label CSV cannot be read or has bad rows, or the two do not name the
            same images.
        ValueError: ``ungradable`` is neither ``error`` nor ``leave_out``; or ``referable_from``
            is not a grade 1..K-1 of the submission's K grades, on 3 grades or more, when
            ``grade_names`` are as many (:func:`drac_ssl.metrics.referable_report`'s check; on 2
            grades the cut is grade 1 whatever ``referable_from`` says, so it is not checked).
    """
    _check_ungradable(ungradable)
    run_not_grader = run_not_grader or run_not_grader_words(graded_by) or None
    if run_not_grader:  # RUN's calibration and cut were not the ones applied: never reported as such
        calibration, calibration_from = None, None
    if run_not_grader and run_not_grader == run_not_grader_words(graded_by):
        run_not_grader = RUN_NOT_GRADER_SEE  # graded_by's note says it in full, once (a final read, D5)
    kaggle = is_kaggle_file(submission)  # id_code,diagnosis: classes only, no probabilities
    if kaggle:
        sub, problems = _kaggle_rows(submission, num_grades if num_grades is not None else
                                     len(grade_names) if grade_names is not None else None)
    else:
        sub, problems = read_submission(
            submission, num_grades=num_grades, scale_from=grades_scale_from(num_grades),
            scale_fix="drop --grades (K is then the header's), or give the submission's K: --grades {k}; "
                      "do not delete columns",
            image_names=label_image_names(labels, csv_first_column(submission), image_column=image_column,
                                          grade_column=grade_column, patient_column=patient_column),
            names_from=f"the label CSV {Path(labels).name}")
    if sub is None and kaggle:
        check = shlex.join([interpreter_word(), "-m", "drac_ssl.export", "--check", str(submission),
                            *(["--grades", str(num_grades)] if num_grades is not None else [])])
        raise SubmissionCheckFailed(
            f"{getattr(problems, 'total', 0) or len(problems)} problem(s) in {submission} (Kaggle's "
            f"{','.join(KAGGLE_COLUMNS)}): nothing was scored ({check} lists the same)", problems)
    if sub is None:
        check = shlex.join([interpreter_word(), "-m", "drac_ssl.export", "--check", str(submission),
                            *(["--grades", str(num_grades)] if num_grades is not None else [])])
        layout = _label_layout_of(submission)
        swapped = (f"; {submission} has the columns of a label CSV ({', '.join(map(repr, COLUMNS[layout]))}, "
                   f"{LABEL_LAYOUTS[layout]}): {SWAPPED}" if layout else "")
        raise SubmissionCheckFailed(
            f"{problems.total or len(problems)} problem(s) in {submission}: nothing was scored "
            f"({check} lists the same){swapped}", problems)
    k = sub.num_grades
    known = grade_names is not None and len(grade_names) == k
    names = [str(n) for n in grade_names] if known and grade_names is not None else list(scale_names(k))
    if names_from is not None and not known:  # a notes file's names of another K: not the model's
        grade_names, names_from = None, None
    other_k = len(grade_names) if grade_names is not None and not known else None
    if k > 2 and known and referable_from is not None:  # a cut off the scale: said, not dropped
        _check_referable_cut(referable_from, k, None if names_are_numbers(names) else names)
    if labels_referable_from is not None:
        _check_labels_referable_from(labels_referable_from, k, names)
    mapping = labels_referable_from is not None
    rows = read_grade_labels(labels, GRADE_SCALES["icdr"] if mapping else names, image_column=image_column,
                             grade_column=grade_column, patient_column=patient_column,
                             names_known=known and not mapping, run_given=run_given,
                             bundle_grades=None if mapping else other_k, cases=sub.cases, ungradable=ungradable)
    if k == 2 and not mapping and rows.icdr_layout:
        raise ScoreError(_icdr_labels_refusal(rows, names, trained_referable_from, run_given, bool(run_not_grader)))
    mapped = _map_referable(rows, int(labels_referable_from), names) if mapping else None
    y, matched = _pair(sub, rows)
    kept = matched.pop("submission_rows")
    if not kept:
        raise ScoreError(f"every label row of {labels} was left out without a true grade (--ungradable "
                         f"leave_out): nothing to score\n  fix: score against labels that grade these images")
    if len(kept) < len(sub.cases):  # rows without a true grade left out, and their images' rows
        sub = SubmissionRows(sub.path, [sub.cases[i] for i in kept], sub.classes[kept], sub.probs[kept],
                             [sub.lines[i] for i in kept])
    copied = _training_labels_warning(sub.cases, y, training, labels)
    groups, patient_notes = _patient_groups(rows, matched.pop("label_rows"))
    # the patients of the rows left out without a true grade, as groups names them: the
    # per-patient block is on the gradable images only and counts them apart
    left_out = ([resampling_unit(rows.patients[j], rows.names[j]) for j in rows.left_out]
                if groups is not None else None)
    pred, probs = sub.classes, sub.probs
    report = grading_report(y, probs, pred, names)
    if kaggle:  # its probabilities are the classes one-hot: no AUC is measured from them
        report.update(auc=None, auc_ovo=None, auc_ovr=None, auc_per_grade=None, auc_note=KAGGLE_NO_AUC)
    qwk_ci = bootstrap_ci(y, pred, functools.partial(quadratic_weighted_kappa, num_grades=k),
                          n_boot=n_boot, seed=seed, groups=groups)
    # the other figures on the same resamples (the same n_boot, seed and groups draw the same
    # images), as the fine-tuning's metrics.json gives them and report.md says them
    if report["auc_note"] is None:
        auc_ovr_ci = bootstrap_ci(y, probs, macro_ovr_auc, n_boot=n_boot, seed=seed, groups=groups)
        auc_ovo_ci = bootstrap_ci(y, probs, macro_ovo_auc, n_boot=n_boot, seed=seed, groups=groups)
    else:
        auc_ovr_ci = auc_ovo_ci = (float("nan"), float("nan"))
    accuracy_ci = bootstrap_ci(y, pred, accuracy_score, n_boot=n_boot, seed=seed, groups=groups)
    # two grades are a screening decision (grade 1 referable), as the training reads them; on
    # more grades, the cut of the model's own bundle (finetune.referable_from), when known
    cut = 1 if k == 2 else (int(referable_from) if known and referable_from is not None else None)
    referable = (None if cut is None else referable_report(
        y, probs, pred, cut, None if names_are_numbers(names) else names, n_boot=n_boot, seed=seed, groups=groups))
    if referable is not None and kaggle:  # its P columns are the classes one-hot: nothing to rank or cut
        referable.update(_KAGGLE_NO_RANKING)
    elif referable is not None:  # its cuts are chosen on these images, not on oof.csv
        referable["operating_points_note"] = SCORED_OPERATING_POINTS_NOTE
    if referable is not None and groups is not None and cut is not None:
        # the labels name patients: the per-patient referral beside the per-image one (a patient
        # referable / referred if any of their images is), at the submitted grades; a Kaggle
        # file's classes refer as well as any, its one-hot P columns rank nothing (no AUC)
        referable["per_patient"] = patient_screening(
            y, p_referable(probs, cut), (np.asarray(pred) >= cut).astype(np.int64),
            cut, groups, n_boot=n_boot, seed=seed, left_out=left_out)
        if kaggle:
            referable["per_patient"].update(auc=float("nan"), auc_ci95=[float("nan"), float("nan")],
                                            auc_note=f"{KAGGLE_NO_PROBABILITIES}: no P(referable) to rank "
                                                     f"the patients by")
    referral = (calibration or {}).get("referral")
    deployed = ({"note": f"not scored: {run_not_grader}, so its referral cut was not the one applied",
                 "withheld": True} if run_not_grader else
                _deployed_referral(submission, sub, y, referral, kaggle, n_boot=n_boot, seed=seed, groups=groups,
                                   left_out=left_out)
                if isinstance(referral, Mapping) else None)
    present = sorted(set(y.tolist()))
    # said in the user's terms: the pipeline's words (folds, data.grades) mean nothing here
    one_grade_labels = (f"every label of {labels} is {grades_words(present, names)}: with one true grade "
                        f"nothing can be measured (the QWK and the AUCs compare grades; the QWK is 0, "
                        f"or n/a when the submission gives that same grade to every image)" if len(present) == 1 else None)
    absent = [g for g in range(k) if g not in present]
    auc_note = KAGGLE_NO_AUC if kaggle else one_grade_labels or (
        f"{grades_words(absent, names)} {'has' if len(absent) == 1 else 'have'} no image in {labels}: "
        f"the macro AUCs are undefined" if absent and report["auc_note"] is not None else report["auc_note"])
    record: dict[str, Any] = {
        "submission": str(submission), "labels": str(labels),
        "submission_format": "kaggle" if kaggle else "drac",
        "label_columns": {"image": rows.image_column, "grade": rows.grade_column,
                          **({"patient": rows.patient_column} if rows.patient_column else {})},
        "label_per_eye": rows.per_eye, "label_layout": rows.layout, "label_dialect": rows.dialect,
        "matched": matched,
        # what reading the file said that the Labels line does not (not UTF-8: Windows-1252 ...)
        "label_notes": [p.line for p in rows.problems if p.severity != "error" and p.fix != "nothing to do"]
        + patient_notes,
        # those of label_notes that are warnings: printed as 'warning:', as the ingest says them
        "label_warnings": [p.line for p in rows.problems if p.severity == "warning" and p.fix != "nothing to do"],
        "n": report["n"], "num_grades": int(k), "class_names": names,  # never a GradeCount: YAML refuses it
        "qwk": report["qwk"], "qwk_ci95": list(qwk_ci),
        "qwk_ci95_note": degenerate_ci_reason(*qwk_ci, y, pred, names),
        "auc": report["auc"], "auc_ovo": report["auc_ovo"], "auc_ovr": report["auc_ovr"],
        "auc_ovr_ci95": list(auc_ovr_ci), "auc_ovo_ci95": list(auc_ovo_ci), "auc_per_grade": report["auc_per_grade"],
        "auc_note": auc_note, "one_grade_labels_note": one_grade_labels, "accuracy": report["accuracy"],
        "accuracy_ci95": list(accuracy_ci), "macro_f1": report["macro_f1"],
        "precision": report["precision"], "recall": report["recall"], "f1": report["f1"],
        "confusion": report["confusion"], "one_grade_note": one_grade_note(pred, None, names),
        **ci_resampling(None if groups is None else groups.tolist(), report["n"]), "n_boot": n_boot, "seed": seed,
    }
    small = small_sample_note(y, groups, names)
    if small is not None:
        record["small_sample_note"] = small
    if rows.left_out:
        record["left_out_ungradable"] = len(rows.left_out)
    if mapped is not None:
        record["labels_mapped"] = mapped
        record["label_notes"].insert(0, mapped["note"])
    if referable is not None:
        record["referable"] = referable
        record["referable_from_source"] = ("two grades: grade 1 read as referable" if k == 2 else
                                           f"{'RUN' if run_given else 'the run'}'s bundle "
                                           f"(finetune.referable_from)")
        if k == 2:  # named, where recall is keyed by grade
            record["sensitivity"], record["specificity"] = referable["sensitivity"], referable["specificity"]
    record["graded_by"] = dict(graded_by) if graded_by is not None else {
        "note": "the bundle that graded is not known: no RUN, the submission is no run's export and no "
                "notes file of the export beside it names one"}
    per_grade = recall_intervals(y, pred, k, groups=groups)
    if k == 2 and referable is not None:  # the screening line's intervals: one figure, one interval
        for g, figure in ((1, "sensitivity"), (0, "specificity")):
            if list(referable.get(f"{figure}_counts") or []) == [per_grade[g]["hits"], per_grade[g]["n"]]:
                per_grade[g].update(recall_ci95=list(referable[f"{figure}_ci95"]),
                                    ci_method=referable[f"{figure}_ci_method"],
                                    ci_n_eff=referable.get(f"{figure}_ci_n_eff"),
                                    ci_units=referable.get(f"{figure}_ci_units"), ci_as=figure)
    record["per_grade"] = {names[g["grade"]]: {**{key: g[key] for key in ("grade", "n", "given", "hits", "recall",
                                                                        "recall_ci95", "ci_method", "ci_n_eff",
                                                                        "ci_units") if key in g},
                                               **({"ci_as": g["ci_as"]} if "ci_as" in g else {}),
                                               "precision": report["precision"][names[g["grade"]]]}
                           for g in per_grade}
    record["never_given"] = [f"{grades_words([g['grade']], names)} was never given: its precision is undefined"
                             for g in per_grade if g["given"] == 0]
    record["calibration"] = (calibration_provenance(calibration, calibration_from) if not run_not_grader else
                             {"note": f"{run_not_grader}, so its calibration was not the one applied; pass the "
                                      f"run or bundle folder that wrote the submission as RUN to have it named"})
    if not kaggle:  # one-hot stand-ins are no probabilities to calibrate
        record["calibration_measures"] = calibration_measures(y, probs, n_boot=n_boot, seed=seed, groups=groups)
    if deployed is not None:
        record["deployed_referral"] = deployed
    elif calibration is not None:  # said, so that the operating points' words need not guess
        record["deployed_referral"] = {"note": "the bundle's calibration has no referral cut "
                                               "(finetune.referral_target was not set)", "none": True}
    if names_from is not None:
        record["class_names_from"] = names_from
        record["label_notes"].append(f"grade names read from {names_from}: {describe(names)}")
    if other_k is not None and grade_names is not None:  # a bundle of another K: said, not silent
        record["class_names_warning"] = _other_scale_words(grade_names, names, run_given)
    if problems.warnings:  # cases a spreadsheet may read as formulas: scored all the same
        record["case_name_warnings"] = list(problems.warnings)
    if copied is not None:  # test images scored against the training images' grades by name
        record["training_labels_warning"] = copied
    if kaggle and is_kaggle_file(labels):  # two id_code,diagnosis files: which is which is the order
        record.update(_kaggle_pair_words(submission, labels))
    weak = bundle_check_weak(graded_by)
    unlike = unlike_training_images(submission, sub.cases, weak=weak)
    if unlike is not None:
        record["unlike_training_images"] = unlike
    record = _json_safe(record)
    record["chance_warning"] = None if one_grade_labels else chance_words(  # no model is to blame
        record, subject="this submission", qwk_words="QWK",
        remedy=(DOMAIN_SHIFT_REMEDY if unlike is not None and unlike["most"] else WEAK_CHECK_REMEDY if weak else
                f"the model that wrote it needs {CHANCE_NEEDS}."),
        probabilities=not kaggle)  # a Kaggle file has no probabilities to read
    record["package_version"] = __version__
    record["date_utc"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return record


CALIBRATION_REUSED = "re-used unchanged: nothing was re-fitted on the scored images"
"""How ``export --score`` says the bundle's calibration was applied (:func:`calibration_provenance`)."""


def calibration_provenance(calibration: Mapping[str, Any] | None, source: str | None = None) -> dict[str, Any]:
    """What calibration turned the model's outputs into the scored submission, and where it came
    from, for the record (``calibration``): the bundle's stored ``calibration`` (its
    ``metadata.json``, ``source``) as ``temperature``, ``thresholds``, ``decision`` and
    ``grade`` (the decision rule in words), ``output``, ``fitted_on`` (``out-of-fold outputs of
    1200 images``: what it was fitted on), ``referral`` (the referral cut, its target and grade,
    or None) and ``reused`` (:data:`CALIBRATION_REUSED`); ``{"note": ...}`` when the bundle that
    graded was not found, or when its ``metadata.json`` (``source``, a file) records no
    calibration (a bundle made by an older version)."""
    if calibration is None and source is not None and Path(source).is_file():
        return {"note": f"the bundle ({source}) records no calibration (made by an older version of drac_ssl?): "
                        f"the calibration applied cannot be named"}
    if calibration is None:
        return {"note": "the bundle that graded was not found (no RUN, and the submission is not a run's "
                        "export): the calibration applied cannot be named; pass its run or bundle folder as RUN"}
    referral = calibration.get("referral")
    return {"source": source, "output": calibration.get("output"), "temperature": calibration.get("temperature"),
            "thresholds": list(calibration.get("thresholds") or []), "decision": calibration.get("decision"),
            "grade": calibration.get("grade"), "fitted_on": calibration.get("fitted_on"),
            "referral": ({key: referral.get(key) for key in ("target", "from_grade", "cut", "fitted_on")}
                         if isinstance(referral, Mapping) else None),
            "reused": CALIBRATION_REUSED}


SMALL_SAMPLE_UNITS = 100
"""Fewer bootstrap units (images, or patients) than this: :func:`small_sample_note` says the
CIs hold the truth less often than 95% (docs/evaluation.md, "Small n")."""

SMALL_SAMPLE_GRADE_UNITS = 10
"""A grade with fewer units than this: :func:`small_sample_note` says so too."""

SMALL_SAMPLE_COVERAGE = "86-92% at 40 images"
"""How often the percentile bootstrap 95% CIs of QWK and AUC OvO held the true value at 40
images in the stats audit's simulation (``bench/bootstrap_coverage.py``; the committed run,
``bench/results/bootstrap_coverage.json``'s ``n = 40`` entry, the lower and higher of the two
rounded: tests/bench/test_bootstrap_coverage.py holds this to it), as :func:`small_sample_note`
says it."""


def small_sample_note(y: np.ndarray, groups: np.ndarray | None, names: Sequence[str]) -> str | None:
    """The note ``export --score`` prints under its CIs when the bootstrap has few units: fewer
    than :data:`SMALL_SAMPLE_UNITS` in all, or a grade of the ``len(names)`` with fewer than
    :data:`SMALL_SAMPLE_GRADE_UNITS` (its units: the images of that true grade, or with
    ``groups`` ``(n,)`` the patients that have one); None otherwise. ``y``: true grades
    ``(n,)``. Percentile bootstrap 95% CIs under-cover there (a simulation of the stats audit,
    ``bench/bootstrap_coverage.py``: QWK and AUC OvO about :data:`SMALL_SAMPLE_COVERAGE`)."""
    y = np.asarray(y)
    noun = "images" if groups is None else "patients"
    units = y.size if groups is None else len(set(np.asarray(groups).tolist()))
    per_grade = [int((y == g).sum()) if groups is None else len(set(np.asarray(groups)[y == g].tolist()))
                 for g in range(len(names))]
    rarest = int(np.argmin(per_grade))
    if units >= SMALL_SAMPLE_UNITS and per_grade[rarest] >= SMALL_SAMPLE_GRADE_UNITS:
        return None
    return (f"few units for the bootstrap ({units} {noun}; the rarest grade, {_class_word(rarest, names)}, "
            f"{per_grade[rarest]}): percentile bootstrap 95% CIs hold the true value less often than 95% "
            f"at such sizes (about {SMALL_SAMPLE_COVERAGE} in a simulation: docs/evaluation.md, \"Small n\"), "
            f"so read them as a little too narrow")


def calibration_measures(y: np.ndarray, probs: np.ndarray, *, n_boot: int, seed: int,
                         groups: np.ndarray | None) -> dict[str, Any]:
    """How well the submitted probabilities ``probs`` ``(n, K)`` are calibrated against the true
    grades ``y`` ``(n,)``: ``brier`` (:func:`drac_ssl.metrics.brier_score`: with two grades
    the usual binary Brier score of P1, scikit-learn's ``brier_score_loss(y, P1)``; with more
    the multi-class one; ``brier_definition`` says which, ``binary`` or ``multiclass``) with its
    percentile bootstrap 95% CI (``brier_ci95``: :func:`drac_ssl.metrics.bootstrap_ci`, the same
    ``n_boot``, ``seed`` and ``groups``, so the same resamples as the other CIs), and ``ece``
    (:func:`drac_ssl.metrics.expected_calibration_error`, the top-class confidence in
    ``ece_bins`` equal-width bins) beside the ECE a perfectly calibrated model
    with these probabilities would show (``ece_if_calibrated``, the mean, and
    ``ece_if_calibrated_p95``, the 95th percentile, of :func:`drac_ssl.metrics.ece_if_calibrated`'s
    draws, seeded with ``seed``): no bootstrap CI for the ECE, whose percentile interval did not
    hold a perfect model's 0 (stats audit, F1); ``words``: both in words."""
    from drac_ssl.metrics import (
        BRIER_WORDS,
        ECE_BINS,
        brier_definition,
        brier_score,
        ece_if_calibrated,
        expected_calibration_error,
    )

    definition = brier_definition(np.asarray(probs).shape[1])
    reference, reference_p95 = ece_if_calibrated(probs, seed=seed)
    return {"brier": brier_score(y, probs), "brier_definition": definition,
            "brier_ci95": list(bootstrap_ci(y, probs, brier_score, n_boot=n_boot, seed=seed, groups=groups)),
            "ece": expected_calibration_error(y, probs),
            "ece_if_calibrated": reference, "ece_if_calibrated_p95": reference_p95,
            "ece_bins": ECE_BINS,
            "words": (f"Brier score: {BRIER_WORDS[definition]}; ECE: the expected calibration error of the top-class confidence "
                      f"max_k P_k against the accuracy of argmax_k P_k, {ECE_BINS} equal-width bins, biased upwards "
                      f"when the bins hold few images, hence read against a perfectly calibrated model's (its "
                      f"grades drawn from these probabilities, consistency resampling)")}


def _calibration_lines(record: Mapping[str, Any]) -> list[str]:
    """The console lines of a record's ``calibration`` and ``calibration_measures``."""
    cal = record.get("calibration")
    lines: list[str] = []
    if isinstance(cal, Mapping) and cal.get("note"):
        lines.append(f"Calibration applied: not known here: {cal['note']}.")
    elif isinstance(cal, Mapping):
        thresholds = ", ".join(cut_text(t) for t in cal.get("thresholds") or [])  # as stored, 6 decimals
        decision = str(cal.get("decision") or "thresholds")
        rule = str(cal.get("grade") or decision)
        parts = [f"temperature {figure_text(cal.get('temperature'))}" if cal.get("temperature") is not None else "",
                 f"grade = {rule}" + (f" (thresholds {thresholds} stored, unused by the argmax decision)"
                                      if decision == "argmax" and thresholds else
                                      f" (thresholds {thresholds})" if thresholds and thresholds not in rule else "")]
        referral = cal.get("referral")
        if isinstance(referral, Mapping):
            parts.append(f"referral cut P(referable) >= {cut_text(referral.get('cut'))} "
                         f"(grade >= {referral.get('from_grade')}, set for {referral.get('target')})")
        fitted = f"fitted on {cal['fitted_on']}, " if cal.get("fitted_on") else ""
        lines.append(f"Calibration applied (from {cal.get('source') or 'the bundle'}, {fitted}{cal['reused']}): "
                     + "; ".join(p for p in parts if p) + ".")
    measures = record.get("calibration_measures")
    if isinstance(measures, Mapping):
        lines.append(f"Calibration of the submitted probabilities: Brier score {figure_with_ci(measures, 'brier', 'brier_ci95')}"
                     f", ECE {ece_with_reference(measures)} ({measures.get('words')}).")
    return lines


DOMAIN_SHIFT_REMEDY = ("most of these images were flagged as unlike the training images, so suspect domain "
                       "shift first: another camera, site or preprocessing than the training images' (grade "
                       "images prepared as the training images were, or fine-tune on labelled images of this "
                       f"site); only then {CHANCE_NEEDS}.")
"""The chance warning's remedy (:func:`drac_ssl.figures.chance_words`) when most scored images
were flagged unlike the training images (:func:`unlike_training_images`)."""


WEAK_CHECK_REMEDY = (f"the model that wrote it needs {CHANCE_NEEDS}, "
                     "or these images differ from the training images (domain shift: another camera, site "
                     "or preprocessing), which the bundle's weak input check cannot rule out: grade images "
                     "prepared as the training images were, or fine-tune on labelled images of this site.")
"""The chance warning's remedy when the grading bundle's "unlike the training images" check is
weak (:func:`bundle_check_weak`) and it did not flag most scored images: its silence does not
rule out domain shift, so domain shift is named among the remedies (a multi-site review: APTOS
graded by a RetinaMNIST bundle, "0 of N flagged" beside the weak-check warning, and the
remedies named no domain shift)."""


def bundle_check_weak(graded_by: Mapping[str, Any] | None) -> bool:
    """Whether the bundle that graded (``graded_by``, :func:`grading_bundle`, with its folder
    named) has a weak "unlike the training images" check
    (:func:`drac_ssl.grading.bundle.ood_check_caveat`: ``metadata.json``'s
    ``input_profile.weak``, or a trial run's bundle); False when the folder is not named or its
    ``metadata.json`` cannot be read (nothing tells). The rule is
    :func:`drac_ssl.trial_run.input_check_weak`, the one ``ood_check_caveat`` applies
    (:mod:`drac_ssl.grading` loads torch, which the scoring must not:
    ``tests/drac_ssl/test_export.py``)."""
    from drac_ssl.io import read_json_dict
    from drac_ssl.trial_run import input_check_weak

    folder = graded_by.get("bundle") if isinstance(graded_by, Mapping) else None
    meta = read_json_dict(Path(str(folder)) / "metadata.json") if folder else None
    return input_check_weak(meta)


def unlike_training_images(submission: str | Path, cases: Sequence[str], weak: bool = False
                           ) -> dict[str, Any] | None:
    """How many of the scored ``cases`` the export flagged as unlike the training images (the
    input check of :mod:`drac_ssl.grading.ood`; the reason
    :data:`drac_ssl.grading.image_notes.UNLIKE_KIND` in the ``not_reliably_gradable`` column of
    the export's notes file beside the submission, :func:`drac_ssl.submission.image_notes_path`):
    ``{"n": flagged, "of": cases the notes file lists, "most": n > of / 2, "source": the
    file, "line": "N of M scored images flagged as unlike the training images ..."}``; None
    without a notes file (or one that lists none of the cases): nothing tells. ``weak``: the
    grading bundle's check is weak (:func:`bundle_check_weak`); when it did not flag most, the
    line says that its count does not rule out domain shift, and the record has ``"weak": True``."""
    from drac_ssl.grading.image_notes import UNLIKE_KIND
    from drac_ssl.submission import image_notes_path, read_image_notes

    path = image_notes_path(submission)
    notes = read_image_notes(path)
    listed = [c for c in cases if notes is not None and c in notes]
    if not listed or notes is None:
        return None
    n = sum(1 for c in listed if UNLIKE_KIND in [r.strip() for r in notes[c][0].split(";")])
    most = n > len(listed) / 2
    line = (f"{n} of {len(listed)} scored images flagged as {UNLIKE_KIND} (the export's input check, "
            f"{path})" + (": most were, so these figures may measure domain shift (another camera, site "
                          "or preprocessing) as much as the model" if most else ""))
    told: dict[str, Any] = {"n": n, "of": len(listed), "most": most, "source": str(path)}
    if weak and not most:  # its silence means little: said on the count itself
        line += f"; the check is weak for this bundle: {n} flagged does not rule out domain shift"
        told["weak"] = True
    return {**told, "line": line}


DEPLOYED_CUT_REUSED = "the bundle's deployed cut re-used, not re-fitted"
"""How ``export --score`` names the figures of the bundle's stored referral cut
(:func:`_deployed_referral`): fixed before these images were seen, unlike the operating points
read off their ROC curve (:data:`drac_ssl.metrics.SCORED_CUTS_SCALE`)."""


def _referable_units(path: Path, cases: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The ``P_referable`` column of the export's ``_referable.csv`` (``path``) in millionths,
    and its ``referable`` column (the decision the export made: 1 referred, 0 not; None when a
    cell is neither), both in the order of ``cases``; None when the file is absent,
    unreadable, not that file, or does not list every case once with a number."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not rows or not is_referable_header(rows[0]):
        return None
    found: dict[str, int] = {}
    decided: dict[str, int | None] = {}
    for row in rows[1:]:
        if len(row) < 2 or row[0] in found:
            return None
        try:
            value = float(row[1])
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
        found[row[0]] = int(probability_units(value))
        cell = row[2].strip() if len(row) > 2 else ""
        decided[row[0]] = int(cell) if cell in ("0", "1") else None
    if set(found) != set(cases) or len(found) != len(cases):
        return None
    column = [decided[c] for c in cases]
    return (np.array([found[c] for c in cases], dtype=np.int64),
            None if any(v is None for v in column) else np.array(column, dtype=np.int64))


def _deployed_referral(submission: str | Path, sub: SubmissionRows, y: np.ndarray, referral: Mapping[str, Any],
                       kaggle: bool, *, n_boot: int, seed: int, groups: np.ndarray | None,
                       left_out: Sequence[str] | None = None) -> dict[str, Any] | None:
    """The bundle's stored referral cut (its calibration's ``referral``: ``cut``,
    ``from_grade`` ``r``, ``target``), scored as deployed on these images: an image is referred
    when its P(referable) = P_r + ... + P_{K-1} is at or above the cut, compared in the
    submission's 6-decimal units as the export's ``_referable.csv`` and the app compare it
    (:func:`drac_ssl.submission.cut_units`). P(referable) is that file's, beside the submission
    (:func:`drac_ssl.submission.referable_path`), when it lists every case (a Kaggle file's too),
    else the submission's own columns summed. The decision scored is that file's ``referable``
    column when it has one of 0/1 on every row (the decision the export made, ``decision_from``),
    else the cut applied here; when the two disagree (the export referred by another cut, or by
    the class, or the file was edited) the export's is scored, and ``decision_warning`` says
    how many the cut refers (``n_referred_by_cut``). The figures:
    :func:`drac_ssl.metrics.decision_screening` (counts, the same intervals as the submitted
    grades' sensitivity and specificity). ``{"note": ...}`` when it cannot be scored (a Kaggle
    file without that file, a cut outside the submission's scale, a cut that is no number);
    None for a ``referral`` that is not a mapping. With ``groups`` the per-patient block
    (:func:`drac_ssl.metrics.patient_screening`, ``left_out``: the patients of the label rows
    left out without a true grade), its ``referred_by`` the decision's source."""
    from drac_ssl.metrics import decision_screening
    from drac_ssl.submission import cut_units, referable_path

    k = sub.num_grades
    try:
        cut, r = float(referral["cut"]), int(referral["from_grade"])
    except (KeyError, TypeError, ValueError):
        return {"note": f"the bundle's referral cut cannot be read ({dict(referral)!r}): not scored"}
    target = str(referral.get("target") or "")
    told: dict[str, Any] = {"cut": cut, "from_grade": r, "target": target, "reused": DEPLOYED_CUT_REUSED,
                            "fitted_on": str(referral.get("fitted_on") or "")}
    if not math.isfinite(cut) or not 1 <= r < k:
        return {**told, "note": f"the bundle's referral cut (P(referable) >= {cut:.6g}, grade >= {r}) is not on "
                                f"the submission's {k} grades: not scored"}
    beside = referable_path(submission)
    read = _referable_units(beside, sub.cases)
    units, exported = read if read is not None else (None, None)
    if units is not None:
        source = f"{beside} (its P_referable column)"
    elif not kaggle:
        units = probability_units(np.asarray(sub.probs, dtype=np.float64)[:, r:]).sum(axis=1)
        source = f"{submission} (P{r}" + ("".join(f"+P{g}" for g in range(r + 1, k)) if k - r <= 3
                                            else f"+..+P{k - 1}") + ")"
    else:
        return {**told, "note": f"a Kaggle file has no probabilities, and no {beside.name} beside it lists "
                                f"every case's P_referable, so the bundle's referral cut (P(referable) >= "
                                f"{cut:.6g}) cannot be scored: keep the export's {beside.name} beside the "
                                f"submission"}
    by_cut = (units >= cut_units(cut)).astype(np.int64)
    referred = by_cut if exported is None else exported
    figures = decision_screening(y, referred, r, n_boot=n_boot, seed=seed, groups=groups)
    decision_from = (f"{beside} (its referable column: the export's decision)" if exported is not None
                     else f"the bundle's deployed cut, P(referable) >= {cut:.6f}, applied here")
    if groups is not None:  # patients known: a patient referred if any of their images is
        # referred_by: what decided, as decision_from says it (the export's column, which may
        # disagree with the cut: decision_warning), never the cut when the column decided
        figures["per_patient"] = patient_screening(
            y, np.asarray(units, dtype=np.float64) / 1e6, referred, r, groups, n_boot=n_boot, seed=seed,
            cut_words=decision_from, left_out=left_out)
    told.update(p_referable_from=source, n_referred_by_cut=int(by_cut.sum()), decision_from=decision_from)
    if exported is not None and (exported != by_cut).any():
        told["decision_warning"] = (
            f"{beside}'s referable column refers {int(exported.sum())} of {len(exported)}, the cut P(referable) "
            f">= {cut:.6f} on its P_referable {int(by_cut.sum())}: the export did not refer by this bundle's cut "
            f"(another bundle graded, the export referred by the class, or the file was edited); the figures are "
            f"the export's decisions")
    return {**told, **figures}


def _kaggle_pair_words(submission: str | Path, labels: str | Path) -> dict[str, str]:
    """What :func:`score` says when the submission and the labels both have Kaggle's
    ``id_code,diagnosis`` header (a solution file has it too): ``{"swap_warning": ...}`` when
    the labels have an export's notes file beside them and the submission none (the labels
    look like the export's submission: :data:`SWAPPED`), else ``{"kaggle_pair_note": ...}``
    saying which file was read as which (swapped, the figures come out transposed)."""
    from drac_ssl.submission import image_notes_path

    beside = image_notes_path(labels)
    if beside.is_file() and not image_notes_path(submission).is_file():
        return {"swap_warning": f"{labels} (--labels) has an export's notes file beside it ({beside.name}): "
                                f"it looks like the submission the export wrote, and {submission} (--score) "
                                f"like the labels: {SWAPPED} (swapped, the confusion matrix and the "
                                f"per-grade precision and recall come out transposed)"}
    return {"kaggle_pair_note": f"both files have Kaggle's {','.join(KAGGLE_COLUMNS)} header: {submission} "
                                f"(--score) is read as the grades given, {labels} (--labels) as the true "
                                f"grades; given the other way round, the confusion matrix and the per-grade "
                                f"precision and recall come out transposed"}


def label_image_names(labels: str | Path, cases: Sequence[str] | None = None, *, image_column: str | None = None,
                      grade_column: str | None = None, patient_column: str | None = None) -> dict[str, str]:
    """The image file names a label CSV writes with their extension, by stem, from any column
    (DeepDRiD's ``image_path``, ``regular-fundus-validation\\Images\\1\\1_l1.jpg`` -> ``1_l1``:
    ``1_l1.jpg``; a path's file name is taken, the first name of a stem kept): what a
    submission's case without extension should be called (:func:`drac_ssl.submission.read_submission`).
    The file is read as :func:`read_grade_labels` reads it (:func:`_label_table`: ``cases``, the
    submission's, and the columns given decide a guessed encoding), so a GBK CSV's Chinese
    stems are suggested as written. Empty when the file cannot be read (its own errors come
    when the labels are read)."""
    table, _ = _label_table(Path(labels), _label_columns(image_column, grade_column, patient_column), cases)
    names: dict[str, str] = {}
    for _, cells in table.rows if table is not None else ():
        for cell in cells:
            name = cell_file_name(cell)
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                names.setdefault(Path(name).stem, name)
    return names


def _other_scale_words(bundle_names: Sequence[str], names: Sequence[str], run_given: bool) -> str:
    """The warning for a bundle whose grade names (``bundle_names``) count another K than the
    submission's: the grades are named by ``names`` (:func:`scale_names`) instead."""
    whose = "RUN's bundle" if run_given else "the bundle of the run the submission was written into"
    instead = "their numbers" if names_are_numbers(names) else f"{_scale_name(names)}'s ({', '.join(names)})"
    return (f"{whose} names {len(bundle_names)} grades ({', '.join(bundle_names)}), the submission has "
            f"{len(names)}: its names are not used; the grades are named, and the label words read, by "
            f"{instead}; if the model that wrote the submission names its grades otherwise, pass its "
            f"run or bundle folder as RUN")


def model_grade_names(submission: str | Path, run: str | None = None) -> tuple[str, ...] | None:
    """The grade names of the model that wrote ``submission``, as its bundle records them
    (``metadata.json``'s ``class_names``): ``run``'s bundle (RUN, a run or bundle folder), else,
    for a submission the export wrote into a run folder (``RUN/export/submission.csv`` or
    ``submission_NAME.csv`` beside ``RUN/data/manifest.csv``), that run's bundle
    (``RUN/bundle`` or ``RUN/bundles/NAME``, as :func:`_run_export` finds it; only the bundle's
    metadata is read here, the manifest is left to the checks that need its hashes). None when
    neither tells: no RUN and no run of its own, a RUN that is no run or bundle folder (said by
    the training-image check), or a bundle that records no names."""
    names = _model_metadata(submission, run).get("class_names")
    return tuple(str(n) for n in names) if isinstance(names, list) and len(names) >= 2 else None


def _model_bundle(submission: str | Path, run: str | None) -> Path | None:
    """The bundle folder of the model that wrote ``submission``, found as
    :func:`model_grade_names` says (``run``'s, else the one of the run the export wrote the
    submission into); None when neither tells."""
    from drac_ssl.grading.bundle_folder import bundle_folder
    from drac_ssl.manifest import MANIFEST_FILE

    if run is not None:
        try:
            return bundle_folder(run)
        except ValueError:  # BundleError: the training-image check says it
            return None
    sub = Path(submission).resolve()
    own_run = sub.parent.parent
    if (sub.parent.name != "export" or not (own_run / "data" / MANIFEST_FILE).is_file()
            or not (sub.stem == "submission" or sub.stem.startswith("submission_"))):
        return None
    name = sub.stem[len("submission_"):]
    return own_run / "bundles" / name if name else own_run / "bundle"


def _model_metadata(submission: str | Path, run: str | None) -> dict[str, Any]:
    """The ``metadata.json`` of the bundle of the model that wrote ``submission``, found as
    :func:`model_grade_names` says; {} when none is found or it cannot be read."""
    from drac_ssl.io import read_json_dict

    bundle = _model_bundle(submission, run)
    return {} if bundle is None else read_json_dict(bundle / "metadata.json") or {}


def _noted_hashes(submission: str | Path) -> tuple[Path, set[str]]:
    """The export's notes file beside ``submission`` (:func:`drac_ssl.submission.image_notes_path`)
    and the ``metadata_sha256`` values its ``bundle`` cells name (lower case; ``unknown`` and
    empty cells left out): empty when the file is absent or names none."""
    from drac_ssl.submission import bundle_cell_fields, image_notes_path, read_pretraining_notes

    path = image_notes_path(submission)
    return path, {value for entry in (read_pretraining_notes(path) or {}).values()
                  if (value := bundle_cell_fields(entry["bundle"]).get("metadata_sha256", "").lower())
                  and value != "unknown"}


def grading_bundle(submission: str | Path, run: str | None = None) -> dict[str, Any] | None:
    """Which bundle graded ``submission``, to be named beside its figures: ``run``'s bundle or
    the one of the run the export wrote the submission into (:func:`_model_bundle`):
    ``{"bundle": its folder, "metadata_sha256": the first 12 hex digits of the SHA-256 of its
    metadata.json (the id the export's notes file and the app give a bundle), "variant",
    "created_utc", "package_version", "source"}``; else the ``bundle`` cells of the export's
    notes file beside the submission (:func:`drac_ssl.submission.bundle_cell`), ``bundle``
    None (its folder is not named there); None when neither tells.

    When ``run`` is given but its bundle's hash is none of those the notes file's ``bundle``
    cells name (RUN is another model than the one that graded), the notes file's bundle is
    named as the grader, with ``run_bundle`` (``{"bundle", "metadata_sha256"}``: RUN's, which
    did not grade) and a ``note`` saying so: RUN's calibration and referral cut were not the
    ones applied (:func:`score_command` then does not report them as applied)."""
    from drac_ssl.io import read_json_dict, sha256_file
    from drac_ssl.submission import bundle_cell_fields, image_notes_path, read_pretraining_notes

    bundle = _model_bundle(submission, run)
    found: dict[str, Any] | None = None
    if bundle is not None and (bundle / "metadata.json").is_file():
        meta = read_json_dict(bundle / "metadata.json") or {}
        try:
            digest = sha256_file(bundle / "metadata.json")[:12]
        except OSError:
            digest = None
        found = {"bundle": str(bundle), "metadata_sha256": digest, "variant": meta.get("variant"),
                 "created_utc": meta.get("created_utc"), "package_version": meta.get("package_version"),
                 "source": "RUN" if run is not None else "the run the export wrote the submission into"}
        _, noted = _noted_hashes(submission)
        if run is None or not noted or digest is None or digest.lower() in noted:
            return found
    path = image_notes_path(submission)
    cells = {entry["bundle"] for entry in (read_pretraining_notes(path) or {}).values() if entry.get("bundle")}
    if not cells:
        return found
    fields = bundle_cell_fields(sorted(cells)[0])
    told: dict[str, Any] = {"bundle": None, "metadata_sha256": fields.get("metadata_sha256"),
                            "variant": fields.get("variant"), "created_utc": fields.get("created_utc"),
                            "source": f"{path} (its bundle column)"}
    notes = [f"{path} names {len(cells)} bundles: the rows were graded by more than one"] if len(cells) > 1 else []
    if found is not None:  # RUN's bundle is another model's: it did not grade this submission
        told["run_bundle"] = {"bundle": found["bundle"], "metadata_sha256": found["metadata_sha256"]}
        notes.append(f"{run_not_grader_words(told)}: {RUN_NOT_GRADER_MEANS}")
    if notes:
        told["note"] = "; ".join(notes)
    return told


RUN_NOT_GRADER_MEANS = ("the grade names and the referable cut read from RUN may be another model's, and its "
                        "calibration and referral cut are not reported as applied")
"""What RUN's bundle not being the one that graded means for the score, after
:func:`run_not_grader_words` in :func:`grading_bundle`'s ``note``: the one statement of it,
printed once, in the ``Graded by`` line (a final read, D5: it was checked again for a stderr
warning and restated in the calibration and deployed-cut lines, four times in all)."""

RUN_NOT_GRADER_SEE = "RUN's bundle did not grade the submission (see Graded by)"
"""How the calibration and deployed-cut notes of :func:`score` name that reason when
``graded_by``'s note states it (:data:`RUN_NOT_GRADER_MEANS`)."""


def run_not_grader_words(graded_by: Mapping[str, Any] | None) -> str:
    """``RUN's bundle PATH (metadata_sha256=...) is not the one that graded (NOTES names
    metadata_sha256=...)`` for a :func:`grading_bundle` record with ``run_bundle`` (RUN is
    another model than the one that graded); "" for any other record or None."""
    run_bundle = (graded_by or {}).get("run_bundle")
    if graded_by is None or not isinstance(run_bundle, Mapping):
        return ""
    return (f"RUN's bundle {run_bundle.get('bundle')} (metadata_sha256={run_bundle.get('metadata_sha256')}) is not "
            f"the one that graded ({str(graded_by.get('source') or 'the notes file').split(' (')[0]} names "
            f"metadata_sha256={graded_by.get('metadata_sha256')})")


def _graded_by_line(graded_by: Mapping[str, Any]) -> str:
    """``Graded by: bundle PATH (metadata_sha256=..., variant ..., created ...)``."""
    if graded_by.get("bundle") is None and not graded_by.get("metadata_sha256"):
        return f"Graded by: not known ({graded_by.get('note') or 'no bundle found'})."
    ids = ", ".join(f"{key}={graded_by[key]}" for key in ("metadata_sha256", "variant", "created_utc")
                    if graded_by.get(key))
    said = (f"Graded by: bundle {graded_by['bundle']} ({ids})" if graded_by.get("bundle") else
            f"Graded by: the bundle {ids}, as {graded_by.get('source')} names it; its folder is not named there: "
            f"pass it as RUN to have its calibration read")
    return said + (f"; {graded_by['note']}" if graded_by.get("note") else "") + "."


def _per_grade_lines(record: Mapping[str, Any]) -> list[str]:
    """The per-grade table (true images, given, recall with its 95% CI, precision) and the
    notes on grades never given. The header names the intervals: the Wilson score's, on
    Kish's effective n of each grade's images where the labels name patients
    (``wilson_patients``: ``on an effective n``), and with two grades the screening line's
    (the bootstrap's where the counts allow, :func:`drac_ssl.metrics.referable_report`)."""
    per_grade = record.get("per_grade")
    if not isinstance(per_grade, Mapping):
        return []
    rows = []
    for name, g in per_grade.items():
        label = str(g.get("grade")) if name == str(g.get("grade")) else f"{g.get('grade')} {name}"
        rows.append([label, str(g.get("n")), str(g.get("given")), recall_ci_cell(g),
                     figure_text(g.get("precision"))])
    methods = {g.get("ci_method") for g in per_grade.values() if g.get("n")}
    wilson = ("Wilson score on an effective n of each grade's images (Kish's, n_eff in the row: images of one "
              "patient are not independent)" if "wilson_patients" in methods else "Wilson score")
    screening = any(g.get("ci_as") for g in per_grade.values())
    ci = (f"as the screening line's: the bootstrap's where the row says so, else {wilson}" if screening
          else wilson)
    lines = [f"Per grade (recall: the share of a grade's true images given it, 95% CI {ci}; "
             "precision: of the images given it, the share truly of it):", "",
             *markdown_table(["grade", "true", "given", "recall (95% CI)", "precision"], rows)]
    lines += [f"Note: {n[:1].upper()}{n[1:]}." for n in record.get("never_given") or []]
    return lines


def _metadata_path(submission: str | Path, run: str | None) -> str | None:
    """The ``metadata.json`` of the bundle that wrote ``submission`` (:func:`_model_bundle`), or None."""
    bundle = _model_bundle(submission, run)
    return None if bundle is None else str(bundle / "metadata.json")


def model_calibration(submission: str | Path, run: str | None = None) -> dict[str, Any] | None:
    """The calibration of the model that wrote ``submission`` (its bundle found as
    :func:`model_grade_names` finds it): ``metadata.json``'s ``calibration`` as the bundle
    stores it (``temperature``, ``thresholds``, ``decision``, ``fitted_on``, and ``referral``
    where ``finetune.referral_target`` set a referral cut); None when no bundle is found or it
    records none. Read, never re-fitted: :func:`score` scores the deployed referral cut with it."""
    calibration = _model_metadata(submission, run).get("calibration")
    return calibration if isinstance(calibration, dict) else None


def model_referable_cut(submission: str | Path, run: str | None = None) -> int | None:
    """The referable cut of the model that wrote ``submission`` (its bundle found as
    :func:`model_grade_names` finds it): ``cv_metrics.referable.from_grade``, the grade from
    which the training read an image as referable (``finetune.referable_from``); None when the
    bundle is not found, its run gave no referable figures (``referable_from=off``, or ``auto``
    on a scale it does not know), or the value is no whole number."""
    cv = _model_metadata(submission, run).get("cv_metrics")
    referable = cv.get("referable") if isinstance(cv, dict) else None
    cut = referable.get("from_grade") if isinstance(referable, dict) else None
    return cut if isinstance(cut, int) and not isinstance(cut, bool) and cut >= 1 else None


def model_labels_referable_from(submission: str | Path, run: str | None = None) -> int | None:
    """The ``data.referable_from`` the model that wrote ``submission`` was trained with (its
    bundle found as :func:`model_grade_names` finds it; ``metadata.json``'s
    ``data.referable_from.from_grade``): its two grades were made from ICDR labels, grade >= it
    being grade 1. None when no bundle is found or it records none (labels trained as they were)."""
    data = _model_metadata(submission, run).get("data")
    mapped = data.get("referable_from") if isinstance(data, dict) else None
    n = mapped.get("from_grade") if isinstance(mapped, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else None


def noted_bundle_mismatch(submission: str | Path, run: str | None,
                          graded_by: Mapping[str, Any] | None = None) -> str:
    """The warning when RUN's bundle is not the one the export's notes file beside
    ``submission`` (:func:`drac_ssl.submission.image_notes_path`) says wrote it: the notes'
    ``bundle`` cells name a ``metadata_sha256`` (:func:`drac_ssl.submission.bundle_cell`) and
    none is the first 12 hex digits of the SHA-256 of RUN's ``bundle/metadata.json``: then
    :func:`run_not_grader_words` and :data:`RUN_NOT_GRADER_MEANS`. ""
    without RUN, without a notes file or a hash in it (``unknown``), or when one matches.
    ``graded_by``: :func:`grading_bundle`'s record of ``submission`` and ``run`` when the caller
    has it (the check is that function's; not made again)."""
    if run is None:
        return ""
    if graded_by is None:
        graded_by = grading_bundle(submission, run)
    said = run_not_grader_words(graded_by)
    return (f"{said}: {RUN_NOT_GRADER_MEANS}; pass the run or bundle folder that wrote the submission as RUN"
            if said else "")


def notes_grade_names(submission: str | Path) -> tuple[tuple[str, ...], str] | None:
    """The grade names of the model that wrote ``submission`` from the export's notes file beside
    it (:func:`drac_ssl.submission.image_notes_path`, its ``grade_name`` column), with where they
    were read: ``(("non-referable", "referable"), "grades_notes.csv (its grade_name column)")``;
    None unless the file is clean (:func:`drac_ssl.submission.read_noted_grade_names`). For
    ``export --score`` without RUN (:func:`score_command`): word labels are then read by the
    model's own names."""
    from drac_ssl.submission import (
        GRADE_NAME_COLUMN,
        image_notes_path,
        read_noted_classes,
        read_noted_grade_names,
    )

    path = image_notes_path(submission)
    names = read_noted_grade_names(path)
    if names is None:
        return None
    # the notes must be this submission's: every (case, class) of theirs in it as it is
    noted, given = read_noted_classes(path), _submission_classes(submission)
    if not noted or any(given.get(case) != grade for case, grade in noted.items()):
        return None
    return names, f"{path} (its {GRADE_NAME_COLUMN} column)"


def _submission_classes(submission: str | Path) -> dict[str, str]:
    """case -> class cell (stripped) of a submission that passed its check."""
    with open(submission, newline="", encoding="utf-8-sig") as fh:
        return {row[0]: row[1].strip() for row in list(csv.reader(fh))[1:] if len(row) >= 2}


def score_lines(record: dict[str, Any]) -> list[str]:
    """The console lines of a :func:`score` record: what was scored against what, the figures
    in report.md's words (``QWK 0.812 (95% CI 0.700..0.900), AUC 0.801 (95% CI ...) (one-vs-one;
    one-vs-rest 0.795 (95% CI ...)), accuracy 0.700 (95% CI ...), macro F1 ...``; with two
    grades the AUC once, said to coincide: :func:`drac_ssl.figures.auc_words`), the notes (AUC n/a, one grade given), the
    no-better-than-chance warning (left out when the labels hold one grade: then one note
    says so), the warning that the figures are transductive when the scored images were among
    those the backbone was pretrained on (``pretraining_images``, :func:`pretraining_images_check`),
    and the confusion matrix as a Markdown table."""
    names = record["class_names"]
    k = record["num_grades"]
    columns = record["label_columns"]
    layout = LAYOUT_NAMES.get(record.get("label_layout") or "", "")
    matched = record.get("matched") or {}
    examples = matched.get("examples") or {}
    how = [f"{counted(matched['stem'], 'name')} without extension, each matched to the one case with "
           f"that stem (e.g. {examples.get('stem')})"] if matched.get("stem") else []
    if matched.get("number"):
        lost = matched.get("number_lost_zeros", matched["number"]) == matched["number"]
        how += [f"{counted(matched['number'], 'name')} that lost leading zeros (a spreadsheet read them "
                f"as numbers), matched by number (e.g. {examples.get('number')})" if lost else
                f"{counted(matched['number'], 'name')} matched by number, leading zeros aside (e.g. "
                f"{str(examples.get('number')).replace(' -> ', ' <-> ')})"]
    if matched.get("by_case"):  # as the ingest says it (data_prep.validate.only_by_case)
        how += [f"{counted(matched['by_case'], 'name')} matched a case only by ignoring letter case "
                f"(e.g. {examples.get('by_case')})"]
    left_out = record.get("left_out_ungradable")
    mapped = record.get("labels_mapped")
    patients_from = ("paired from EyePACS image ids" if columns.get("patient") == EYEPACS_PAIRS
                     else f"column {columns.get('patient')!r}")
    lines = [f"Scored {record['submission']} against {record['labels']}: {record['n']} cases, {k} grades "
             f"({_described(names)})"
             + (f"; {counted(left_out, 'label row')} without a true grade left out with {'its image' if left_out == 1 else 'their images'} "
                f"(--ungradable leave_out)" if left_out else ""),
             f"Labels: columns {columns['image']!r} (image) and {columns['grade']!r} "
             + ("(grade: each image's own eye, told from its id)" if record.get("label_per_eye") else "(grade)")
             + ((f" and patients: paired from EyePACS image ids ({EYE_PAIR_WORDS})"
                 if columns["patient"] == EYEPACS_PAIRS else f" and {columns['patient']!r} (patient)")
                if columns.get("patient") else "")
             # DRAC's columns are every plain label CSV's default: no layout to name for a fundus set
             + (", the default columns" if record.get("label_layout") == "drac"
                else f", the {layout} layout's" if layout else "")
             + (f", ICDR grades mapped to two: grade >= {mapped['referable_from']} -> {_class_word(1, names)}, "
                f"else 0 ({LABELS_REFERABLE_OPTION} {mapped['referable_from']})" if isinstance(mapped, dict) else "")
             + f"; {record['label_dialect']}"
             + "".join(f"; {h}" for h in how),
             f"{kappa_name(k)} {figure_text(record['qwk'])} (95% CI {format_ci(*record['qwk_ci95'], record['qwk_ci95_note'])}), "
             + ("" if record.get("submission_format") == "kaggle" else f"{AUC_TWO_GRADES if k == 2 else 'AUC'} {auc_words(record, k, drac=False)}, ")
             + f"accuracy {figure_with_ci(record, 'accuracy', 'accuracy_ci95')}, macro F1 {figure_text(record['macro_f1'])}.",
             (f"{kappa_name(k, short=True)}, accuracy and macro F1 score the submission's diagnosis column (a Kaggle file: "
              "no probabilities, no AUC)" if record.get("submission_format") == "kaggle" else
              f"{kappa_name(k, short=True)}, accuracy and macro F1 score the submission's class column, "
              + (f"the {AUC_TWO_GRADES} its P1 column" if k == 2 else f"the AUCs its P0..P{k - 1} columns")) + f"; 95% CI: {record['n_boot']} bootstrap resamples of the "
             + (f"{record['ci_units']} patients ({patients_from}), each with all its "
                f"images (seed {record['seed']}; images of one patient are not independent)."
                if record.get("ci_resamples") == "patients" else
                f"{record['n']} images (seed {record['seed']}; images of one patient are not independent, "
                f"so with both eyes or repeat visits the interval is too narrow: --patient-column NAME "
                f"resamples patients).")]
    if record.get("small_sample_note"):
        lines.append(f"Note: {record['small_sample_note'][:1].upper()}{record['small_sample_note'][1:]}.")
    if isinstance(record.get("graded_by"), dict):
        lines.insert(2, _graded_by_line(record["graded_by"]))
    if isinstance(record.get("referable"), dict):  # the training's screening words, on these labels
        lines.append(_screening_line(record))
    deployed = record.get("deployed_referral")
    if isinstance(deployed, dict) and not deployed.get("none"):
        lines.append(_deployed_line(deployed, record["class_names"]))
        if deployed.get("decision_warning"):  # the export referred otherwise than by this cut
            lines.append(f"warning: {deployed['decision_warning']}")
    lines += _calibration_lines(record)
    unlike = record.get("unlike_training_images")
    if isinstance(unlike, dict) and unlike.get("line"):
        lines.append(f"{unlike['line'][:1].upper()}{unlike['line'][1:]}.")
    if record.get("one_grade_labels_note"):  # one note: no AUC line, no chance warning
        note_text = record["one_grade_labels_note"]
        lines.append(f"Note: {note_text[:1].upper()}{note_text[1:]}.")
    elif record.get("auc_note") and record.get("auc") is None:
        per_grade = record.get("auc_per_grade") or {}
        present = [f"{g} {n} {figure_text(per_grade[n])}" if n != str(g) else f"grade {g} {figure_text(per_grade[n])}"
                   for g, n in enumerate(names) if isinstance(per_grade.get(n), int | float)]
        lines.append(f"AUC n/a: {record['auc_note']}" + (f"; one-vs-rest AUC of the grades present: "
                                                          f"{', '.join(present)}" if present else "") + ".")
    if record.get("one_grade_note"):
        note_text = record["one_grade_note"]
        lines.append(f"Note: {note_text[:1].upper()}{note_text[1:]}: the model that wrote it learnt next "
                     f"to nothing about grading.")
    if record.get("chance_warning"):
        lines.append(f"warning: {record['chance_warning']}")
    pretrained = record.get("pretraining_images") or {}
    if pretrained.get("line"):  # on stdout with the figures it qualifies: a transductive score
        lines.append(f"warning: {pretrained['line']} ({pretrained['source']})")
    header = ["true \\ class", *(f"{g} {n}" if n != str(g) else str(g) for g, n in enumerate(names))]
    rows = [[header[g + 1], *row] for g, row in enumerate(record["confusion"])]
    lines += ["", "Confusion matrix (rows: true grade, columns: the submission's class):", "",
              *markdown_table(header, rows), *_per_grade_lines(record)]
    return lines[:-1] if lines[-1] == "" else lines


def _screening_line(record: dict[str, Any]) -> str:
    """The screening figures of a :func:`score` record with ``referable``, in the training's
    words: two grades, :func:`drac_ssl.metrics.two_grade_decision_words` (the submission's class
    column as the decision) and "QWK is Cohen's kappa here"; more grades, ``Referable DR``
    with the cut of the model's bundle and :func:`drac_ssl.metrics.referable_summary`, whose
    operating points' cuts are said to be chosen on these images (:data:`drac_ssl.metrics.SCORED_CUTS_SCALE`)."""
    referable = record["referable"]
    if record["num_grades"] == 2:
        names = record["class_names"]
        per_patient = referable.get("per_patient")
        return (two_grade_decision_words(referable, None if names_are_numbers(names) else names,
                                         "by the submission's class column")
                + " QWK is Cohen's kappa here."
                + (f" Referable DR {patient_screening_summary(per_patient)}." if isinstance(per_patient, dict)
                   else ""))
    deployed = record.get("deployed_referral")
    # the bundle's own cut named only where it is known to have one (not withheld, not none)
    scale = SCORED_CUTS_SCALE + (
        "" if not isinstance(deployed, dict) or deployed.get("withheld") else
        "; to refer new images by a cut of P(referable), train with finetune.referral_target, which stores "
        "one in the bundle" if deployed.get("none") else
        "; not the bundle's cut, which is scored next" if not deployed.get("note") else "; not the bundle's cut")
    return (f"Referable DR (the cut of {record.get('referable_from_source') or 'the model'}): "
            f"{referable_summary(referable, cuts_scale=scale)}.")


def _deployed_line(deployed: dict[str, Any], names: Sequence[str]) -> str:
    """The console line of a record's ``deployed_referral`` (:func:`_deployed_referral`):
    ``Referral at the bundle's deployed cut (the bundle's deployed cut re-used, not re-fitted):
    refer when P(referable) >= 0.373 (grade >= 2 ...; set for sensitivity:0.90 on ...), P(referable)
    from FILE: 25 of 30 referred; sensitivity 1.000 (18/18 images; 95% CI ...), specificity ...``, or
    the note why it was not scored."""
    from drac_ssl.metrics import referable_words, screening_figures_words

    if deployed.get("note"):
        return f"Referral at the bundle's deployed cut: {deployed['note']}."
    r = int(deployed["from_grade"])
    rule = referable_words(r, None if names_are_numbers(names) else names)
    fitted = str(deployed.get("fitted_on") or "").split(", the cut chosen")[0]
    target = (f"; set for {deployed['target']}" if deployed.get("target") else "") + (
        f" on the training's {fitted}" if fitted else "")
    n = int(deployed.get("n_referable", 0)) + int(deployed.get("n_not", 0))
    decision = (", referred as its referable column says (the export's decision)"
                if str(deployed.get("decision_from") or "").endswith("the export's decision)") else "")
    return (f"Referral at the bundle's deployed cut ({deployed['reused']}): refer when P(referable) >= "
            f"{cut_text(deployed['cut'])} ({rule}{target}), P(referable) from {deployed['p_referable_from']}"
            f"{decision}: {deployed.get('n_referred')} of {n} images referred; {screening_figures_words(deployed)}"
            + (f"; {patient_screening_summary(deployed['per_patient'])}"
               if isinstance(deployed.get("per_patient"), dict) else "") + ".")


def _submission_cases(submission: str | Path) -> list[str]:
    """The case column of a submission that passed its check (:func:`score` read it)."""
    with open(submission, newline="", encoding="utf-8-sig") as fh:
        return [row[0] for row in list(csv.reader(fh))[1:] if row]


def training_images_check(submission: str | Path, run: str | None = None, images: str | None = None,
                          prefixes: dict[Path, str | None] | None = None,
                          pixels: dict[Path, str | None] | None = None) -> dict[str, Any] | None:
    """Whether the scored images trained the model (a score on them is not a test), when it
    can be told: ``{"n": k, "of": n, "line": training_images_line(k, n), "source": ...}``
    (``line`` "" for none; ``n`` the cases checked), with ``"note"`` naming the cases that could
    not be checked when some could; ``{"note": ...}`` alone when none could (RUN given without
    the files); or None when nothing tells.

    Per case, from: ``run`` (a run or bundle folder whose bundle lists its training images'
    hashes, :mod:`drac_ssl.grading.training_images`) with ``images`` (the folder of the graded
    files: the case's file there is hashed and, where the bundle lists decoded-pixel hashes and
    the file's hash is not listed, decoded in the bundle's channels and its pixels hashed,
    :func:`_pixel_prefixes`: the export's rule, :func:`drac_ssl.grading.training_images.is_training_image`,
    so that a PNG of a training row of an ``.npz`` counts as the export counted it; a case the
    notes file beside the submission marks a training image stays one whatever its file says,
    the export having decided it on the very pixels it graded); else the notes file the export wrote beside the
    submission (:func:`drac_ssl.submission.image_notes_path`, its ``training_image`` column,
    one row per graded case; the export writes it only when some image is flagged or trained
    the model, so without it, after an export by this version of a bundle that lists its
    hashes, none did). A folder holding only some of the cases does not override the notes
    file for the others (a review: one non-training file in ``images`` hid the notes file's two
    training images). Cases told by neither are named in the note. ``run`` alone, whose bundle
    lists hashes, and no notes file: a note asking for ``--images``. A bundle built before the
    list says nothing from files. Each file is read once (:func:`_file_prefixes`, ``prefixes``
    shared with :func:`pretraining_images_check`) and decoded at most once (``pixels``, shared
    likewise). Raises ValueError (BundleError) for a ``run`` that is no run or bundle folder."""
    from drac_ssl.grading.bundle_folder import bundle_folder
    from drac_ssl.grading.training_images import (
        PIXELS_CHECK_NEEDS_INGEST,
        is_training_image,
        training_hashes,
        training_images_line,
        training_pixel_hashes,
    )
    from drac_ssl.io import read_json_dict
    from drac_ssl.submission import image_notes_path, read_image_notes, read_pixel_marks

    cases = _submission_cases(submission)
    notes_file = image_notes_path(submission)
    notes = read_image_notes(notes_file)
    noted_pixels = read_pixel_marks(notes_file) if notes is not None else set()  # "same decoded pixels"
    hashes = by_pixels = None
    channels = 1
    if run is not None:
        bundle = bundle_folder(run)
        meta = read_json_dict(bundle / "metadata.json") or {}
        hashes, by_pixels, channels = training_hashes(meta), training_pixel_hashes(meta), _bundle_channels(meta)
    folder = Path(images) if images is not None and hashes is not None else None
    files = _graded_files(cases, str(folder))[1] if folder is not None else {}
    if not files:
        if notes is not None:
            yes = [c for c in cases if notes.get(c, ("", False))[1]]
            return {"n": len(yes), "of": len(cases), "source": str(notes_file),
                    "line": training_images_line(len(yes), len(cases), sum(1 for c in yes if c in noted_pixels))}
        if hashes is not None:
            said = (f"none of the {len(cases)} graded case(s) has a file in {folder}, and there is no "
                    f"notes file {notes_file}: whether these images are among them cannot be told; "
                    f"give --images the folder the grades were made from"
                    if folder is not None else
                    "without the graded files this cannot tell whether these images are among them: "
                    "add --images DIR (the folder the grades were made from)")
            return {"note": f"{bundle} lists its training images by SHA-256, but {said}"}
        return None
    by_file = _file_prefixes(files, prefixes)
    noted = {c for c in cases if notes is not None and c in notes and notes[c][1]}  # the export's yes
    # the file's hash first; its decoded pixels only where that did not match (a decode costs
    # more than a hash) and the bundle lists pixel hashes
    undecided = {c: path for c, path in files.items()
                 if by_pixels is not None and not is_training_image(hashes, None, by_file[c])}
    decoded = _pixel_prefixes(undecided, channels, pixels) if undecided else {}
    by_files = {c for c in files if is_training_image(hashes, by_pixels, by_file[c], decoded.get(c))}
    trained = by_files | (noted & set(files))
    by_notes = [c for c in cases if c not in files and notes is not None and c in notes]
    trained |= {c for c in by_notes if notes[c][1]}
    # matched by their decoded pixels alone: said "same decoded pixels", as the export says them
    pixels_only = {c for c in by_files if not is_training_image(hashes, None, by_file[c])}
    pixels_only |= {c for c in trained - by_files if c in noted_pixels}
    unchecked = [c for c in cases if c not in files and c not in by_notes]
    checked = len(cases) - len(unchecked)
    source = (f"the files of {folder} (their SHA-256{' and decoded pixels' if by_pixels is not None else ''}) "
              f"against {bundle}'s training images")
    kept = sorted(c for c in noted if c in files and c not in by_files)
    if kept:  # the export's yes stands over a file that says no (changed since it graded?)
        source += f"; {len(kept)} case(s) marked a training image in {notes_file}"
    if by_notes:
        source += f"; {len(by_notes)} case(s) without a file there from {notes_file}"
    told: dict[str, Any] = {"n": len(trained), "of": checked, "source": source,
                            "line": training_images_line(len(trained), checked, len(pixels_only))}
    said = []
    if unchecked:
        shown = ", ".join(unchecked[:5]) + (f", ... ({len(unchecked)} in all)" if len(unchecked) > 5 else "")
        told["unchecked"] = unchecked
        said.append(f"{len(unchecked)} of the {len(cases)} graded case(s) could not be checked against "
                    f"the model's training images (no file in {folder}, no row in a notes file "
                    f"{notes_file}): {shown}")
    if by_pixels is None:  # a bundle whose list holds file hashes only: as the export says it
        said.append(PIXELS_CHECK_NEEDS_INGEST)
    if said:
        told["note"] = "; ".join(said)
    return told


def _bundle_channels(metadata: Mapping[str, Any]) -> int:
    """The channels a bundle's model reads (``metadata.json``'s ``input.channels``: 1 or 3; 1
    when not recorded), in which the export decoded the graded files."""
    value = (metadata.get("input") or {}).get("channels") if isinstance(metadata.get("input"), Mapping) else None
    return 3 if value == 3 else 1


def _pixel_prefixes(files: dict[str, Path], channels: int,
                    memo: dict[Path, str | None] | None = None) -> dict[str, str | None]:
    """Per case, the hash prefix of its file's decoded pixels
    (:func:`drac_ssl.grading.training_images.file_pixels_prefix`, decoded in the bundle's
    ``channels`` as the export decoded it, torch not loaded); None for a file that cannot be
    read or decoded. Each file decoded once: ``memo`` (path -> prefix) keeps them for the next
    check of the same command. A progress bar from :data:`HASH_PROGRESS_FILES` files on, as
    :func:`_file_prefixes` shows."""
    from drac_ssl.grading.training_images import file_pixels_prefix

    return _memo_prefixes(files, memo, lambda path: file_pixels_prefix(path, channels), "decoding", "files decoded")


HASH_PROGRESS_FILES = 200
"""From this many files to hash on, ``--score`` shows its progress on stderr (a bar on a
terminal, off one a line at most a minute): a 53,000-file folder takes minutes."""


def _file_prefixes(files: dict[str, Path], memo: dict[Path, str | None] | None = None) -> dict[str, str | None]:
    """Per case, the hash prefix of its file (:func:`drac_ssl.grading.training_images.file_prefix`;
    None for a file that cannot be read), each file read once: ``memo`` (path -> prefix) keeps
    them for the next check of the same command (the training and the pretraining check share
    one). From :data:`HASH_PROGRESS_FILES` files to read on, a tqdm bar on a terminal, off one a
    line on stderr at most a minute (:class:`drac_ssl.console.ProgressLines`)."""
    from drac_ssl.grading.training_images import file_prefix

    return _memo_prefixes(files, memo, file_prefix, "hashing", "files hashed")


def _memo_prefixes(files: dict[str, Path], memo: dict[Path, str | None] | None,
                   prefix_of: Callable[[Path], str | None], doing: str, done_words: str) -> dict[str, str | None]:
    """Per case, ``prefix_of`` its file (None where that raises OSError or ValueError: gone,
    unreadable, not decodable now: not counted, as the export does), each file once (``memo``),
    with :func:`_file_prefixes`' progress (``doing``: the bar's verb; ``done_words``: the line's)."""
    memo = {} if memo is None else memo
    todo = [path for path in dict.fromkeys(files.values()) if path not in memo]
    shown = len(todo) >= HASH_PROGRESS_FILES
    if shown:
        from drac_ssl.console import ProgressLines, progress_bar

        # off a terminal no tqdm at all: even a disabled one fixes a host's multiprocessing start method
        bar = progress_bar(len(todo), f"score: {doing}", "file", leave=False)
        progress = ProgressLines(sys.stderr, "score")
    try:
        for done, path in enumerate(todo, 1):
            try:
                memo[path] = prefix_of(path)
            except (OSError, ValueError):
                memo[path] = None
            if shown:
                bar.update(1)
                progress.count(done, len(todo), done_words)
    finally:
        if shown:
            bar.close()
    return {case: memo[path] for case, path in files.items()}


def _graded_files(cases: Sequence[str], images: str | None) -> tuple[Path | None, dict[str, Path]]:
    """``images`` as a folder and the cases with a file there (case -> path): the file of that
    name, else, for a case without extension (a Kaggle id), the one image file of that stem."""
    folder = Path(images) if images is not None else None
    if folder is None or not folder.is_dir():
        return folder, {}
    found = {c: folder / c for c in cases if (folder / c).is_file()}
    bare = [c for c in cases if c not in found and Path(c).suffix.lower() not in IMAGE_SUFFIXES]
    if bare:
        by_stem: dict[str, list[Path]] = {}
        for path in folder.iterdir():
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                by_stem.setdefault(path.stem, []).append(path)
        found.update({c: by_stem[c][0] for c in bare if len(by_stem.get(c, [])) == 1})
    return folder, found


def training_labels_of(submission: str | Path, run: str | None = None) -> dict[str, Any] | None:
    """The label CSV the model that graded ``submission`` was trained on, as its run recorded
    it: ``{"path": the ingest's label CSV (``ingest_summary.json``'s ``labels_csv``) or None,
    "sha256": its SHA-256 at the ingest (``source_files``; a bundle's ``metadata.json``:
    ``provenance.training_data.labels_csv_sha256``) or None, "said": where it was read, "rows":
    the manifest's labelled training rows, id -> (grade, SHA-256 of the image) ({} without a
    run folder)}``. From ``run`` (a run folder's ingest summary, else a bundle folder's
    metadata: its hash only), else the run folder the export wrote ``submission`` into
    (``RUN/export/submission*.csv``); None when neither tells (no ingest record, a bundle built before the hash was recorded)."""
    from drac_ssl.io import read_json_dict
    from drac_ssl.manifest import MANIFEST_FILE, ManifestError, read_manifest

    def from_ingest(folder: Path) -> dict[str, Any] | None:
        summary_file = folder / "data" / "ingest_summary.json"
        summary = read_json_dict(summary_file)
        if summary is None:
            return None
        recorded = (summary.get("source_files") or {}).get("labels_csv") or {}
        path = summary.get("labels_csv") or recorded.get("path")
        try:
            manifest = read_manifest(folder / "data" / MANIFEST_FILE, ("id", "grade", "split", "sha256"))
        except (OSError, ManifestError):
            manifest = []
        return {"path": Path(path) if isinstance(path, str) and path else None,
                "sha256": str(recorded.get("sha256") or "").lower() or None, "said": str(summary_file),
                "rows": {str(r["id"]): (r["grade"], str(r.get("sha256") or "").lower()) for r in manifest
                         if r.get("split") == "train" and r.get("grade") is not None}}

    def from_bundle(folder: Path) -> dict[str, Any] | None:
        meta = read_json_dict(folder / "metadata.json")
        digest = ((meta or {}).get("provenance") or {}).get("training_data") or {}
        if isinstance(digest, Mapping) and digest.get("labels_csv_sha256"):
            return {"path": None, "sha256": str(digest["labels_csv_sha256"]).lower(),
                    "said": str(folder / "metadata.json"), "rows": {}}
        return None

    # RUN names the grading model: its own records before those of the folder the
    # submission lies in (another run's export/ when the file was copied or renamed there)
    if run is not None and (found := from_ingest(Path(run)) or from_bundle(Path(run))):
        return found
    sub = Path(submission).resolve()
    return from_ingest(sub.parent.parent) if sub.parent.name == "export" else None


def write_score_refusal(args: Any, code: int, error: str) -> int:
    """A refused ``export --score ... --json FILE`` (exit ``code``: 1 the submission fails its
    check, 2 a refusal, 75 a busy run): ``{"ok": false, "exit_code": code, "error": error,
    "submission": ..., "labels": ...}`` written to FILE (atomically), as ``--check --json``
    writes its failures, so that an older score there is not read as this one's. Nothing is
    written where the ``--json`` path itself may not be
    (:func:`drac_ssl.commands.score_json_problem`: the submission or label file, a file
    ``--score`` did not write). Returns ``code``; a file that cannot be written adds an
    ``error:`` line on stderr."""
    from drac_ssl.commands import score_json_problem

    if getattr(args, "json", None) is None or score_json_problem(args) is not None:
        return code
    try:
        atomic_write_json(args.json, {"ok": False, "exit_code": code, "error": error,
                                      "submission": args.score, "labels": args.labels})
    except OSError as exc:
        print(f"error: {args.json}: cannot write the JSON ({exc.strerror or exc})", file=sys.stderr)
    return code


def training_labels_refusal(submission: str | Path, labels: str | Path, run: str | None = None,
                            trained: Callable[[], Mapping[str, Any] | None] | None = None) -> str | None:
    """Why ``export --score`` must not score ``submission`` against ``labels``, with the fix:
    ``labels`` is the label CSV the grading model was trained on (:func:`training_labels_of`:
    the same file, or a file of the same SHA-256), so its rows grade the training images, and a
    test image of the same name (IDRiD's test names restart at ``IDRiD_001``) would be scored
    against another image's grade (an IDRiD user: rc 0, figures of nothing). None when it is
    another file, nothing tells, or every scored image is known to be a training image itself
    (``trained``: called only then, :func:`training_images_check`'s record, ``n`` = ``of`` = every
    case; the score then stands with its "not a test" warning)."""
    from drac_ssl.io import sha256_file

    known = training_labels_of(submission, run)
    path = Path(labels)
    if known is None or not path.is_file():
        return None
    same_file = known["path"] is not None and known["path"].is_file() and known["path"].resolve() == path.resolve()
    same_bytes = False
    if not same_file and known["sha256"]:
        try:
            same_bytes = sha256_file(path).lower() == known["sha256"]
        except OSError:
            return None
    if not (same_file or same_bytes):
        return None
    try:
        cases = _submission_cases(submission)
    except (OSError, UnicodeDecodeError):  # its check says it, if it is scored at all
        cases = []
    told = trained() if trained is not None and cases else None
    if told and told.get("n") == told.get("of") == len(cases):
        return None
    head = (f"{labels} is the label CSV this model was trained on" if same_file else
            f"{labels} is a copy of the label CSV this model was trained on, {known['path']} (the same SHA-256)"
            if known["path"] is not None else f"{labels} has the SHA-256 of the label CSV this model was trained on")
    return (f"{head} ({known['said']}), so its rows grade "
            f"the training images, not the {len(cases)} image(s) of {submission}; a test image of a training "
            f"image's name (IDRiD's test names restart at IDRiD_001) would be scored against another image's "
            f"grade, so nothing was scored\n  fix: score against the label CSV of the graded images (IDRiD: "
            f"'{RESTARTING_TEST_LABELS['idrid']}', beside the training one); to score the training images "
            f"themselves (no test: they trained the model), grade them with the export, whose notes file "
            f"then marks them training images")


CHANCE_AGREEMENT = 0.01
"""The chance below which every scored grade equal to the training grade of its name is taken
for a copy of the training labels (:func:`_training_labels_warning`)."""


def _training_labels_warning(cases: Sequence[str], y: np.ndarray, training: Mapping[str, Any] | None,
                             labels: str | Path) -> str | None:
    """A warning when every scored case is named as a labelled training image of the run
    (``training["rows"]``, :func:`training_labels_of`: by id, else by stem) whose image is
    another (``training["scored"]``: case -> the scored image's SHA-256, or a prefix of it;
    ``training["noted"]``: the cases the notes file marks as not a training image) and whose training grade is the label's, and that agreement is unlikely by chance: the
    product over the scored cases of the share of the training rows of that case's training
    grade (the chance that test grades drawn from the training grades' mix all agree) is below
    :data:`CHANCE_AGREEMENT` (0.01). ``labels`` is then most likely a trimmed copy of the
    training label CSV, scored against test images of the same names (IDRiD). None otherwise:
    a case without a training row of its name, without a known hash, the very training image,
    or of another grade; or a chance of 0.01 or more (IDRiD's true Testing Labels of a few
    images: one image of grade 0 agrees by chance about one time in three)."""
    if not training or not cases:
        return None
    rows: Mapping[str, tuple[int, str]] = training.get("rows") or {}
    scored: Mapping[str, str] = training.get("scored") or {}
    noted: Collection[str] = training.get("noted") or ()
    by_stem = {Path(k).stem.lower(): v for k, v in rows.items()}
    mix = Counter(row[0] for row in rows.values())
    chance = 1.0
    for case, grade in zip(cases, y.tolist(), strict=True):
        row = rows.get(case) or by_stem.get(Path(case).stem.lower())
        if row is None or not row[1] or row[0] != grade:
            return None
        if case not in noted:  # a noted case is another image than any training one
            digest = str(scored.get(case) or "").lower()
            if not digest:
                return None
            if row[1].startswith(digest) or digest.startswith(row[1]):  # the training image itself
                return None
        chance *= mix[row[0]] / len(rows)
    if chance >= CHANCE_AGREEMENT:
        return None
    return (f"every one of the {len(cases)} scored image(s) is named as a training image of this model whose "
            f"grade in {training.get('said')} is the grade {labels} gives it, yet each scored image is "
            f"another image (another SHA-256; all {len(cases)} agreeing by chance, on the training grades' mix: "
            f"p = {chance:.2g}): {labels} looks like a copy of the training labels, and the "
            f"figures compare the test images with the grades of other images -> score against the label CSV of "
            f"the graded images (IDRiD: '{RESTARTING_TEST_LABELS['idrid']}')")


def training_labels_scored(submission: str | Path, run: str | None = None, images: str | None = None,
                           prefixes: dict[Path, str | None] | None = None) -> dict[str, Any] | None:
    """What :func:`score`'s ``training`` needs: :func:`training_labels_of`'s ``rows`` and
    ``said`` (the manifest it read), with ``scored`` (case -> the scored image's SHA-256: the
    manifest's test row for the run's own export, :func:`_run_export`; else the file in
    ``images`` hashed, :func:`_file_prefixes`, a prefix) and ``noted`` (a set: without either,
    the cases the notes file beside ``submission`` marks as not a training image,
    :func:`drac_ssl.submission.read_not_training_images`, each another image than any training
    one; else empty); None when there are no training rows."""
    from drac_ssl.manifest import MANIFEST_FILE
    from drac_ssl.submission import image_notes_path, read_not_training_images

    known = training_labels_of(submission, run)
    if known is None or not known["rows"]:
        return None
    export = _run_export(submission)
    scored = dict(export["hashes"]) if export is not None else {}
    if not scored and images is not None:
        scored = {c: p for c, p in _file_prefixes(_graded_files(_submission_cases(submission), images)[1],
                                                  prefixes).items() if p}
    noted = set() if scored or images is not None else set(read_not_training_images(image_notes_path(submission)))
    return {"rows": known["rows"], "scored": scored, "noted": noted,
            "said": str(Path(known["said"]).parent / MANIFEST_FILE)}


def _run_export(submission: str | Path, noted: Mapping[str, dict[str, Any]] | None = None,
                noted_from: str | Path | None = None) -> dict[str, Any] | None:
    """What a submission the export wrote into a run folder says of itself
    (``RUN/export/submission[_NAME].csv`` beside ``RUN/data/manifest.csv``; the path resolved
    first, so ``submission.csv`` typed inside ``RUN/export`` is one too): ``{"run": RUN,
    "bundle": RUN/bundle or RUN/bundles/NAME, "variant": the variant that wrote it, "said":
    where that was read, "hashes": case -> SHA-256, "meta": the bundle's metadata.json ({}
    when it cannot be read)}``, the hashes the manifest's of the ingest's test images, the cases
    it graded. The variant: ``NAME`` for ``submission_NAME.csv``
    (``RUN --variant NAME``), else the export's record ``export/summary.json`` naming this
    file, else the notes file's ``bundle`` column, else the bundle's. None for any other
    submission, a ``submission_NAME.csv`` where ``NAME`` is neither a variant the run
    fine-tuned (``finetune/NAME/model.json``) nor has the export's ``summary_NAME.json`` (a file
    of another name put there: its notes file tells instead), or a manifest that cannot be read.
    ``noted``: the caller's :func:`drac_ssl.submission.read_pretraining_notes` of the notes file
    ``noted_from`` (``or {}``), used when that is the notes file beside the resolved submission
    (the same file: not read again), else that one is read."""
    from drac_ssl.io import read_json_dict
    from drac_ssl.manifest import MANIFEST_FILE, read_manifest
    from drac_ssl.submission import bundle_cell_fields, image_notes_path, read_pretraining_notes

    sub = Path(submission).resolve()
    if sub.parent.name != "export" or not (sub.stem == "submission" or sub.stem.startswith("submission_")):
        return None
    run = sub.parent.parent
    try:
        rows = read_manifest(run / "data" / MANIFEST_FILE, ("id", "split", "sha256"))
    except (OSError, ValueError):
        return None
    name = sub.stem[len("submission_"):] or None
    bundle = run / "bundle" if name is None else run / "bundles" / name
    summary_file = sub.parent / f"summary{'' if name is None else '_' + name}.json"
    if name is not None and not ((run / "finetune" / name / "model.json").is_file() or summary_file.is_file()):
        return None
    summary = read_json_dict(summary_file) or {}
    notes_file = image_notes_path(sub)
    if noted is not None and noted_from is not None and Path(noted_from).resolve() == notes_file.resolve():
        notes = noted  # the caller's read of this very file
    else:
        notes = read_pretraining_notes(notes_file) or {}
    noted_variant = next((v for e in notes.values() if (v := bundle_cell_fields(e["bundle"]).get("variant"))), None)
    meta = read_json_dict(bundle / "metadata.json") or {}
    if name is not None:
        variant, said = name, f"{sub.name}: written by the export of --variant {name}"
    elif summary.get("variant") and Path(str(summary.get("submission") or "")).name == sub.name:
        variant, said = str(summary["variant"]), f"{summary_file}: variant"
    elif noted_variant:
        variant, said = noted_variant, f"{notes_file}: bundle"
    else:
        variant, said = str(meta.get("variant") or ""), f"{bundle / 'metadata.json'}: variant"
    return {"run": run, "bundle": bundle, "variant": variant, "said": said, "meta": meta,
            "hashes": {str(r["id"]): str(r.get("sha256") or "") for r in rows if r.get("split") == "test"}}


def _variant_record(run: Path, bundle: Path, variant: str,
                    meta: Mapping[str, Any] | None = None) -> tuple[dict[str, Any] | None, str]:
    """The pretraining record (:func:`drac_ssl.grading.training_images.pretraining_record`) of
    the run's ``variant``: its bundle's at ``bundle`` when that is the variant's, else the run's
    records of it (:func:`drac_ssl.grading.training_images.pretraining_images_of`); ``{}`` for
    ``scratch``. ``meta``: the bundle's ``metadata.json`` when the caller has read it (None:
    read here)."""
    from drac_ssl.grading.training_images import pretraining_images_of, pretraining_record
    from drac_ssl.io import read_json_dict

    if variant == "scratch":
        return {}, "the scratch variant, whose backbone was never pretrained"
    if meta is None:
        meta = read_json_dict(bundle / "metadata.json") or {}
    if meta.get("variant") == variant:
        return pretraining_record(bundle, meta)
    record = pretraining_images_of(run, variant)
    return record, (f"the run folder {run} (its {variant} variant's pretraining records and ingest manifest)"
                    if record is not None else "")


def _old_bundle_doubt(bundle: Path, meta: dict[str, Any], variant: str) -> dict[str, Any] | None:
    """For a bundle that lists no pretraining images and lies in no run folder that would
    (built before the list), whose pretraining read its test images by its own words: the
    doubt, ``transductive`` None, with how to have it told; None when it says no such thing."""
    seen = str((meta.get("backbone_pretraining") or {}).get("training_data") or "")
    if "and test images" not in seen:  # pretrain.load_pretrain_data's words
        return None
    return {"transductive": None, "bundle": str(bundle), "variant": variant,
            "line": ("this model's backbone was pretrained on its run's test images, without their "
                     "grades, and its bundle lists no hashes of them (built before that list), so "
                     "whether these are those images cannot be told: if they are, the figures are "
                     "transductive, not a clean held-out test figure; for a clean one, train again "
                     "with pretrain.use_test_images=false"),
            "source": f"{bundle / 'metadata.json'}: backbone_pretraining.training_data",
            "notes": [f"to have it told, pass the run folder the bundle was built in as RUN, or rebuild "
                      f"the bundle there ({python_command('drac_ssl.export')} RUN --variant {variant or 'NAME'} writes "
                      f"RUN/bundles/{variant or 'NAME'} with the list) and pass that"]}


def pretraining_images_check(submission: str | Path, run: str | None = None, images: str | None = None,
                             prefixes: dict[Path, str | None] | None = None,
                             pixels: dict[Path, str | None] | None = None) -> dict[str, Any] | None:
    """Whether the scored images were among those the self-supervised pretraining of the
    backbone that graded them read without their grades (the run's test images by default,
    ``pretrain.use_test_images``; its ``data.unlabelled`` images): a figure on them is
    transductive, not a clean held-out test figure. By content (SHA-256 prefixes, so a renamed
    copy is recognised, a resized or re-encoded one not), per case, from the first of:

    * a submission the export wrote into a run folder (:func:`_run_export`, with or without
      ``run``): the manifest's hash of the ingest's test image it graded (files given with
      ``images`` do not override it: the export graded those), checked against the record of
      the variant that wrote it (a ``scratch`` one: never transductive);
    * the ``pretraining_image`` column of the notes file the export wrote beside it
      (:func:`drac_ssl.submission.read_pretraining_notes`, made when grading, from the files
      graded and the grading bundle; its ``bundle`` column names the variant);
    * the case's file in ``images`` (hashed once, ``prefixes`` shared with
      :func:`training_images_check`: :func:`_file_prefixes`) against the record of ``run``'s
      bundle (:func:`drac_ssl.grading.training_images.pretraining_record`: the bundle's, or for
      a bundle built before it, its run folder's), and, where the record lists decoded-pixel
      hashes (:func:`drac_ssl.grading.training_images.record_pixel_splits`) and the file's hash
      is in none of its lists, its pixels decoded in the bundle's channels
      (:func:`_pixel_prefixes`, ``pixels`` shared likewise), as the export compares them.

    Returns ``{"n": k, "of": n, "transductive": k > 0, "line": pretraining_images_line(...),
    "source": ..., "bundle": ..., "variant": ...}`` (``n`` of the ``of`` cases checked), with
    ``"unchecked"`` (the cases told by none) and ``"notes"`` (sentences for stderr: the cases
    not checked; that a resized or re-encoded copy of a test image is not recognised, when
    none matched files of a pretraining that read test images; that the pretraining started
    from outside weights, ``initial_weights``, whose images are not known: then ``transductive``
    None when none matched); ``{"notes": [...], "transductive": None}`` when no case could be
    checked; where ``run``'s bundle is its scratch variant, no notes file names the variant
    that graded, and the files are among what the run's pretrained variants read:
    ``transductive`` None and a ``line`` naming those variants; ``{"line": ..., "transductive":
    None, ...}`` for a bundle that lists nothing and says its pretraining read its test images
    (:func:`_old_bundle_doubt`); None when nothing tells. Raises ValueError (BundleError) for a
    ``run`` that is no run or bundle folder."""
    from drac_ssl.grading.bundle_folder import bundle_folder
    from drac_ssl.grading.training_images import (
        HASH_HEX,
        PRETRAINED_VARIANTS,
        fix_words,
        match_words,
        pretraining_images_line,
        pretraining_images_of,
        pretraining_record,
        record_pixel_splits,
        record_splits,
        run_of_bundle,
        splits_of,
    )
    from drac_ssl.io import read_json_dict
    from drac_ssl.submission import (
        PRETRAINING_IMAGE_COLUMN,
        bundle_cell_fields,
        image_notes_path,
        read_image_notes,
        read_pixel_marks,
        read_pretraining_notes,
    )

    cases = _submission_cases(submission)
    notes_file = image_notes_path(submission)
    noted = read_pretraining_notes(notes_file) or {}
    noted_pixels = read_pixel_marks(notes_file, PRETRAINING_IMAGE_COLUMN) if noted else set()
    noted_variant = next((v for e in noted.values() if (v := bundle_cell_fields(e["bundle"]).get("variant"))), None)
    own = _run_export(submission, noted, notes_file)  # the notes file and the bundle's metadata read once
    if own is not None and run is not None:  # RUN another run's: its bundle graded nothing here
        try:
            theirs = bundle_folder(run).resolve()
        except ValueError:
            theirs = None
        if theirs is None or not theirs.is_relative_to(own["run"].resolve()):
            own = None
    record: dict[str, Any] | None
    run_pool: list[str] = []  # RUN's bundle is scratch: the run's pretrained variants, any of which may have graded
    if own is not None:
        bundle, variant = own["bundle"], own["variant"]
        record, where = _variant_record(own["run"], bundle, variant, own["meta"])
        if record is None:
            return _old_bundle_doubt(bundle, own["meta"], variant)
        where = f"{where} (the variant that wrote it, from {own['said']})"
    elif run is not None:
        bundle = bundle_folder(run)
        meta = read_json_dict(bundle / "metadata.json") or {}
        variant = str(meta.get("variant") or "")
        run_dir = run_of_bundle(bundle)
        if noted_variant and noted_variant != variant and run_dir is not None:  # the notes name who graded
            variant = noted_variant
            record, where = _variant_record(run_dir, run_dir / "bundles" / variant, variant)
        else:
            record, where = pretraining_record(bundle, meta)
        if record is None and not any(e["splits"] is not None for e in noted.values()):
            return _old_bundle_doubt(bundle, meta, variant)
        if variant == "scratch" and not noted_variant and run_dir is not None:
            run_pool = [v for v in PRETRAINED_VARIANTS if (run_dir / "finetune" / v / "model.json").is_file()]
            pool = pretraining_images_of(run_dir, run_pool[-1]) if run_pool else None
            if pool is not None and pool.get("images"):
                record, where = pool, f"the run folder {run_dir} (its pretraining records and ingest manifest)"
            else:
                run_pool = []
    elif noted:
        bundle, variant, record, where = None, noted_variant or "", None, ""
    elif read_image_notes(notes_file) is not None:  # an earlier notes file: no pretraining_image column
        return {"transductive": None, "notes": [
            f"{notes_file} was written before the pretraining_image column: whether the scored images "
            f"were among those the backbone's self-supervised pretraining read cannot be told from it; "
            f"pass RUN and --images DIR (the folder the grades were made from) to tell"]}
    else:
        return None
    told: dict[str, Any] = {"bundle": None if bundle is None else str(bundle), "variant": variant}
    if variant == "scratch" and not run_pool:
        return {**told, "n": 0, "of": len(cases), "transductive": False, "line": "",
                "source": f"{bundle if bundle is not None else notes_file}: the scratch variant, whose "
                          f"backbone was never pretrained" + (f" ({own['said']})" if own is not None else "")}
    splits = record_splits(record) if record is not None else {}
    found: dict[str, list[str]] = {}  # case -> the splits whose lists hold its hash
    pixels_only: set[str] = set()  # the cases found by their decoded pixels alone: "same decoded pixels"
    by: dict[str, int] = {"manifest": 0, "notes": 0, "files": 0}
    if own is not None:
        for c in cases:
            if digest := own["hashes"].get(c):
                found[c] = splits_of(digest[:HASH_HEX], splits)
                by["manifest"] += 1
    for c in cases:
        if c not in found and c in noted and noted[c]["splits"] is not None:
            found[c] = list(noted[c]["splits"])
            by["notes"] += 1
            if c in noted_pixels:
                pixels_only.add(c)
    folder, files = _graded_files([c for c in cases if c not in found], images)
    if files and record is not None:
        by_pixels = record_pixel_splits(record)
        hashed = _file_prefixes(files, prefixes)
        # decoded only where the file's hash is in no list (a decode costs more than a hash)
        undecided = {c: files[c] for c, prefix in hashed.items() if by_pixels and not splits_of(prefix, splits)}
        meta = (read_json_dict(bundle / "metadata.json") or {}) if bundle is not None and undecided else {}
        decoded = _pixel_prefixes(undecided, _bundle_channels(meta), pixels) if undecided else {}
        for c, prefix in hashed.items():
            if prefix is not None or decoded.get(c) is not None:
                found[c] = splits_of(prefix, splits, decoded.get(c), by_pixels)
                by["files"] += 1
                if found[c] and not splits_of(prefix, splits):
                    pixels_only.add(c)
    unchecked = [c for c in cases if c not in found]
    checked = len(found)
    stages = str((record or {}).get("stages") or "")
    whose = (f"{run}'s pretrained variant{'s' if len(run_pool) > 1 else ''} ({', '.join(run_pool)}; its "
             f"bundle, {bundle}, is the scratch variant)" if run_pool else
             f"{bundle}'s backbone" if bundle is not None else "the grading bundle's backbone")
    if not checked and record is None and noted and all(e["splits"] is None for e in noted.values()):
        return {**told, "transductive": None, "notes": [
            f"the grading bundle records no list of the images its backbone's self-supervised pretraining "
            f"read (built before that list: every pretraining_image cell of {notes_file} is unknown), so "
            f"whether these images were among them cannot be told; to have it told, rebuild the bundle in "
            f"its run ({python_command('drac_ssl.export')} RUN --variant {variant or 'NAME'} writes "
            f"RUN/bundles/{variant or 'NAME'} with the list), then pass it as RUN with --images DIR (the "
            f"folder the grades were made from), or grade again with it"]}
    if not checked:
        said = (f"none of the {len(cases)} graded case(s) has a file in {folder}: give --images the "
                f"folder the grades were made from" if folder is not None else
                f"without the graded files this cannot be told: add {'' if run is not None else 'RUN and '}"
                f"--images DIR (the folder the grades were made from)")
        return {**told, "transductive": None,
                "notes": [f"the images the self-supervised pretraining of {whose} read without their "
                          f"grades are listed by SHA-256, but {said}"]}
    pretrained = {c: s for c, s in found.items() if s}
    hit = {split for names in pretrained.values() for split in names}
    sources = ([f"{by['manifest']} case(s) by the run's ingest manifest (the export graded its test images)"]
               if by["manifest"] else []) + (
        [f"{by['notes']} case(s) by the pretraining_image column of {notes_file}"] if by["notes"] else []) + (
        [f"the files of {folder}"] if by["files"] else [])
    told.update({"n": len(pretrained), "of": checked, "transductive": bool(pretrained),
                 "line": pretraining_images_line(len(pretrained), checked, stages, hit,
                                                 by_pixels=sum(1 for c in pretrained if c in pixels_only)),
                 "source": f"{' and '.join(sources)} against the images the pretraining of {whose} read"
                           + (f" ({where})" if where else "")})
    notes: list[str] = []
    if run_pool and pretrained:  # which variant graded cannot be told: said, not counted
        named = " or ".join(f"--variant {v}" for v in run_pool)
        told.update({"n": 0, "transductive": None, "line": (
            f"{len(pretrained)} of {checked} scored images were among those the self-supervised "
            f"pretraining ({stages}) of this run read, without their grades "
            f"({match_words(len(pretrained), sum(1 for c in pretrained if c in pixels_only))}); RUN's bundle "
            f"is its scratch variant, never pretrained, whose grades give a clean figure, but a "
            f"submission of {'its pretrained variant' if len(run_pool) == 1 else 'a pretrained variant'} "
            f"({named}) gives a transductive one, not a clean held-out test figure: pass "
            f"RUN/bundles/NAME as RUN to have it told; for a clean one, "
            f"{fix_words(hit)}")})
    if unchecked:
        shown = ", ".join(unchecked[:5]) + (f", ... ({len(unchecked)} in all)" if len(unchecked) > 5 else "")
        told["unchecked"] = unchecked
        notes.append(f"{len(unchecked)} of the {len(cases)} graded case(s) could not be checked against "
                     f"the images the backbone's pretraining read (no file in {folder}, no row in a notes "
                     f"file {notes_file} that tells): {shown}")
    record = record or {}
    # outside starting weights: the run's record, else the notes file's cells that say them
    outside = str(record.get("initial_weights") or "") or next(
        (noted[c]["outside"] for c in found if c in noted and noted[c].get("outside")), "")
    if not pretrained and (by["files"] or by["notes"]) and record.get("test_read") and record.get("test"):
        notes.append(f"none of the {checked} checked file(s) is byte-identical to one of the "
                     f"{record['test']} test images the pretraining read"
                     + (" nor holds the same decoded pixels; a resized, cropped, flipped or lossily "
                        "re-encoded copy of one is not recognised (the check is by the SHA-256 of the file "
                        "and of its decoded pixels)" if record_pixel_splits(record) is not None else
                        "; a resized, cropped, flipped or re-encoded copy of one is not recognised (the "
                        "check is by SHA-256)"))
    if outside:
        told["initial_weights"] = outside
        notes.append(f"the pretraining of this backbone started from outside weights ({outside}), "
                     f"whose own training images are not known: if the scored images were among them, "
                     f"the figures are transductive too; the check cannot tell; if that training set "
                     f"(e.g. ImageNet) holds none of these images, the figure is not transductive on "
                     f"that account")
        if not pretrained:
            told["transductive"] = None
    if notes:
        told["notes"] = notes
    return told


def _trained_quietly(submission: str | Path, run: str | None, images: str | None,
                     prefixes: dict[Path, str | None], decoded: dict[Path, str | None]) -> dict[str, Any] | None:
    """:func:`training_images_check`, None for a RUN that is no run or bundle folder (said later)."""
    try:
        return training_images_check(submission, run, images, prefixes, decoded)
    except ValueError:
        return None


def _refuse_busy_run(run: str) -> None:
    """Raise the :class:`drac_ssl.grading.bundle_folder.BundleBusy` of ``RUN`` (a
    :class:`RunBusy`) when it is a run folder with no bundle yet whose training still runs;
    nothing otherwise (any other problem of ``RUN`` is said as the score's warning). A review:
    ``--score ... RUN`` on such a run scored without RUN's grade names, calibration and
    training-image check, warned "RUN is no run or bundle folder" and exited 0, where the
    export's other modes refuse it with exit 75 (try again later) and the same words."""
    from drac_ssl.grading.bundle_folder import BundleBusy, bundle_folder

    try:
        bundle_folder(run)
    except BundleBusy:
        raise
    except ValueError:  # BundleError: the training-image check says it, the score stands
        pass


def score_command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``python -m drac_ssl.export --score SUBMISSION.csv --labels LABELS.csv ...`` (parsed by
    :func:`drac_ssl.commands.export_parser`, ``argv`` as typed, for the record's ``command``):
    writes ``--json``, then prints :func:`score_lines`; the exit code: 0 scored (a RUN that is
    no run or bundle folder too: the score is printed and written, with a warning that the
    training-image check read only the notes file, if any), 1 the
    submission fails its check (its lines on stdout, as ``--check`` prints them), 75
    (:data:`drac_ssl.exit_codes.RUN_BUSY`) RUN a run folder with no bundle yet whose training
    still runs (try again later; nothing scored or written), 2 anything
    else (the message on stderr, ``error: ...``), a stdout that cannot be written
    (``> /dev/full``) included; a reader that closes the pipe (``| head -1``) changes nothing
    (:func:`drac_ssl.console.print_lines`)."""
    from drac_ssl.commands import score_arguments_problem

    started()  # everything is imported: Ctrl-C raises KeyboardInterrupt again
    prefixes: dict[Path, str | None] = {}  # each graded file hashed once, for every check
    decoded: dict[Path, str | None] = {}  # and decoded at most once
    try:
        if problem := score_arguments_problem(args):
            raise ScoreError(problem)
        if args.grades is not None and args.grades < 2:
            raise ScoreError(f"--grades {args.grades}: a grading scale has at least 2 grades")
        if args.run is not None:
            _refuse_busy_run(args.run)  # RunBusy: exit 75, as the export's other modes say it
        if refusal := training_labels_refusal(args.score, args.labels, args.run, lambda: _trained_quietly(
                args.score, args.run, args.images, prefixes, decoded)):
            raise ScoreError(refusal)
        graded_by = grading_bundle(args.score, args.run)
        not_grader = run_not_grader_words(graded_by)  # RUN's calibration and cut were not applied
        names = model_grade_names(args.score, args.run)
        # no bundle found: the names the export wrote beside the submission, when clean
        noted = notes_grade_names(args.score) if names is None and args.run is None else None
        record = score(args.score, args.labels, num_grades=args.grades,
                       image_column=args.image_column, grade_column=args.grade_column,
                       patient_column=args.patient_column,
                       grade_names=noted[0] if noted else names, run_given=args.run is not None,
                       referable_from=model_referable_cut(args.score, args.run) if names else None,
                       names_from=noted[1] if noted else None,
                       calibration=None if not_grader else model_calibration(args.score, args.run),
                       calibration_from=None if not_grader else _metadata_path(args.score, args.run),
                       graded_by=graded_by, run_not_grader=not_grader or None,
                       ungradable=args.ungradable or "error",
                       labels_referable_from=args.labels_referable_from,
                       trained_referable_from=model_labels_referable_from(args.score, args.run),
                       training=training_labels_scored(args.score, args.run, args.images, prefixes))
    except SubmissionCheckFailed as exc:
        if (failure := print_lines(exc.problems)) is not None:
            print(f"error: cannot print the problems of {args.score} on stdout ({failure})", file=sys.stderr)
            return write_score_refusal(args, 2, f"cannot print the problems of {args.score} on stdout")
        print(f"error: {exc}", file=sys.stderr)
        return write_score_refusal(args, 1, str(exc))
    except RunBusy as exc:  # a ValueError: before it, so that a job script can requeue it
        print(f"error: {exc}", file=sys.stderr)
        return write_score_refusal(args, RUN_BUSY, str(exc))
    except ValueError as exc:  # ScoreError; a metric's refusal would say the same way, exit 2
        print(f"error: {exc}", file=sys.stderr)
        return write_score_refusal(args, 2, str(exc))
    except KeyboardInterrupt:
        hold_signals_if_command()  # a second SIGTERM cannot cut the line nor kill by signal
        print("\n[export] interrupted: nothing was scored or written", file=sys.stderr)
        return interrupt_exit_code()  # 143 on SIGTERM (export's main turns it into Ctrl-C)
    run_problem = ""
    try:  # the scored images among the model's training images: not a test
        told = training_images_check(args.score, args.run, args.images, prefixes, decoded)
    except ValueError as exc:  # a RUN that is no run or bundle folder: the score stands, said
        run_problem = (f"RUN {args.run} is no run or bundle folder, so whether these images trained the "
                       f"model was told only from a notes file beside {args.score}, if any: {exc}")
        told = training_images_check(args.score)
    if told is not None:
        record["training_images"] = told
    if not run_problem and (mismatch := noted_bundle_mismatch(args.score, args.run, graded_by)):
        record["bundle_mismatch_warning"] = mismatch  # for JSON readers: the Graded by line prints it
    if run_problem:
        record["training_images_problem"] = run_problem
    try:  # the scored images among those the backbone pretrained on without grades: transductive
        pretrained = pretraining_images_check(args.score, None if run_problem else args.run, args.images, prefixes,
                                              decoded)
    except ValueError:  # said above: the RUN is no run or bundle folder
        pretrained = None
    if pretrained is not None:
        record["pretraining_images"] = pretrained
    record["command"] = shlex.join([interpreter_word(), "-m", "drac_ssl.export", *argv])
    json_error = None
    if args.json:  # before the printing: a reader that stops early (| head -1) still gets it
        try:
            atomic_write_json(args.json, record)
        except OSError as exc:
            json_error = (f"{args.json}: cannot write the JSON ({exc.strerror or exc})\n  fix: choose "
                          f"a writable path for --json (a folder you may write to, on a disk with room)")
    lines = score_lines(record) + ([f"wrote {args.json}"] if args.json and json_error is None else [])
    if (failure := print_lines(lines)) is not None:
        print(f"error: cannot print the figures on stdout ({failure})"
              + (f"; they are in {args.json}" if args.json and json_error is None else ""), file=sys.stderr)
        return 2
    warned = set(record.get("label_warnings") or [])
    for line in record.get("label_notes") or []:
        print(f"{'warning' if line in warned else 'note'}: {line}", file=sys.stderr)
    if told is not None and told.get("line"):
        print(f"warning: {told['line']} ({told['source']})", file=sys.stderr)
    if told is not None and told.get("note"):
        print(f"note: {told['note']}", file=sys.stderr)
    for line in (pretrained or {}).get("notes") or []:
        print(f"note: {line}", file=sys.stderr)
    if run_problem:
        print(f"warning: {run_problem}", file=sys.stderr)
    if record.get("class_names_warning"):
        print(f"warning: {record['class_names_warning']}", file=sys.stderr)
    for line in record.get("case_name_warnings") or []:  # FILE:LINE: warning: ...
        print(line, file=sys.stderr)
    if record.get("swap_warning"):
        print(f"warning: {record['swap_warning']}", file=sys.stderr)
    if record.get("training_labels_warning"):
        print(f"warning: {record['training_labels_warning']}", file=sys.stderr)
    if record.get("kaggle_pair_note"):
        print(f"note: {record['kaggle_pair_note']}", file=sys.stderr)
    if json_error is not None:
        print(f"error: {json_error}", file=sys.stderr)
        return 2
    return 0
