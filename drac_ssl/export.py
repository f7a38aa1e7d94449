"""Stage 5: the challenge submission, and a command-line predictor.

``run(cfg, run_dir) -> ExportResult`` builds ``run_dir/bundle/`` with
:func:`drac_ssl.grading.bundle.build_bundle` (the fold ensemble of the fine-tuning variant
chosen in ``finetune/summary.json``, its ``metadata.json`` and ``MODEL_CARD.md``), loads it
back and, when the ingest manifest lists test images, grades their rows of the ingest cache
(the very copies training read, whatever the layout: image folders, or a MedMNIST ``.npz``
whose test images have no folder) with :func:`drac_ssl.grading.predict.predict_images` into
``run_dir/export/submission.csv`` (``case,class,P0..P{K-1}``, K the data's number of grades:
DRAC ``case,class,P0,P1,P2``; real probabilities, never one-hot) written by
:func:`drac_ssl.submission.write_submission`, then checked with
:func:`drac_ssl.submission.check_submission` against the manifest's test case names and,
when the test images are files, their folder. Whether a test image is blank or random noise is
measured on its original picture, read again where the manifest says, when the cached copy was
Graham-filtered (:func:`_originals_nothing_to_grade`), as the command measures a file. The file is written and checked under a
hidden name (:func:`_write_checked`) and renamed onto its name, with its notes and referable
files, only when it passes and all are written: one that fails is kept as
``submission.csv.failed`` (:func:`failed_submission_path`) for a look (BundleError naming it),
and an earlier export's submission and summary are removed. A manifest without test images writes no
submission, and the stage prints why (the ingest's note on where it looked for them).

The bundle format and prediction live in :mod:`drac_ssl.grading` (the app and the benches
use them too); the names :class:`Bundle`, :class:`BundleError`, :func:`build_bundle`,
:func:`load_bundle`, :func:`predict_images`, :func:`preprocess_image` and
:func:`read_image_any` are re-exported here for code written against earlier versions.

Command line::

    python -m drac_ssl.export RUN --images DIR --out TEAM.csv   # grade every image in DIR
    python -m drac_ssl.export RUN --variant vicreg [--images DIR --out CSV]  # another variant
    python -m drac_ssl.export --check TEAM.csv --images DIR     # validate a submission
    python -m drac_ssl.export --check TEAM.csv --manifest RUN   # ... against the ingest's test ids
    python -m drac_ssl.export --score TEAM.csv --labels LABELS.csv [--json OUT.json]  # score it
    python -m drac_ssl.export RUN --images DIR --out sub.csv --format kaggle  # id_code,diagnosis

``--format kaggle`` writes Kaggle's ``id_code,diagnosis`` (APTOS 2019; :mod:`drac_ssl.kaggle`:
each id the file name without extension, the rows in the order of the layout's ``test.csv`` or
``sample_submission.csv`` beside the folder, else natural), with the notes file for every batch
(its ``score`` column: no probabilities in the file); ``--check`` and ``--score`` tell such a
file by its header (:func:`drac_ssl.kaggle.report_kaggle_check`, :func:`drac_ssl.scoring.score`).

``RUN`` alone (no ``--images``, ``--variant`` or ``--check``) exports nothing: the training's
export stage wrote the run's submission already, and the refusal (exit 2,
:func:`grade_arguments_problem`) says where (``RUN/export/submission.csv``, the variant whose
bundle graded it) and the commands that do more.

``--out`` never replaces a file of the user's (:func:`drac_ssl.out_paths.export_out_problem`,
before any grading, exit 2 with the fix): it must end in ``.csv`` and lie outside the
``--images`` folder, the run's stage folders, its label CSV and image folders; an existing file
(and each file written beside it) is replaced only when an earlier export wrote it.

``--variant NAME`` exports a fine-tuned variant of the run other than the selected one
(:func:`drac_ssl.grading.bundle.build_or_reuse_bundle`: ``RUN/bundles/NAME``, reused while
the fine-tuning outputs it was built from are unchanged): with ``--images DIR --out CSV`` it
grades the folder, without ``--images`` it writes ``RUN/export/submission_NAME.csv`` of the
ingest's test images as ``run(cfg, RUN, variant=NAME)`` does (the run's ``config.yaml``).
It prints the bundle used and, when the run selected another variant, that one and why
(``finetune/summary.json``); a variant the run did not fine-tune exits 2 naming those it has.
Writing into RUN (a bundle to build, or ``RUN/export``), it holds the run folder's lock as the
training, UMM and report commands do (:func:`drac_ssl.runtime.hold_run`): while one of them, or
another export, runs in RUN it is refused (exit 75, :data:`drac_ssl.exit_codes.RUN_BUSY`:
try again later; naming that process), and they are refused
while it runs; a run folder it cannot write (read-only, another user's) is refused then too
(exit 2, the fixes said). A reused bundle grading ``--images`` writes nothing into RUN and
takes no lock: a run folder that is only readable serves. A submission of the ingest's test
images failing its check is kept as ``NAME.failed`` (:func:`failed_submission_path`) and
exits 1; ``--out`` is left as it was, the stage's own ``export/submission_NAME.csv`` and
``summary_NAME.json`` of an earlier export are removed together.

When the bundle's cross-validated figures have a referable-DR cut (``cv_metrics``'s
``referable``, ``finetune.referable_from``: auto = grade >= 2 on the ICDR scale, none on
DRAC's), the stage and ``--images`` also write ``<submission stem>_referable.csv`` beside the
submission (``case,P_referable,referable``: :func:`write_referable_beside`; with a
``not_informative`` column and a ``NOT INFORMATIVE:`` console line for a model whose
P(referable) carries no information, the app's rule); the submission itself is unchanged.

Images whose channels differ from the model's are converted like the ingest converts them
(colour -> luminance for a grey model; grey -> three identical channels for a colour model),
each with a warning printed before the summary line
(:func:`drac_ssl.grading.predict.conform_channels`), in the app's words
(:mod:`drac_ssl.grading.image_notes`): a colour file on a grey UW-OCTA model "may not be
OCTA"; a 16-bit file converted to 8-bit by the ingest's rule is a plain ``note:``, not a
doubt. What the decoder did to a file is said per file in the app's words
(:func:`drac_ssl.grading.image_notes.file_finding`, ``Image file: `` and the ingest's text):
a warning for transparency composited over black, CMYK converted without colour management,
float samples scaled, an ICC profile not applied ...; a ``note:`` for what was honoured (an
Exif orientation applied, a TIFF Pillow cannot open decoded by OpenCV); the summary line
counts these files apart from the channel conversions. The ingest's fundus crop and Graham
filter, when the data had them, are replayed on every image, and an image where the crop
finds no disc (or no dark surround) is graded with the app's warning, per file on stderr
(:func:`drac_ssl.grading.predict.preprocessing_warning`); without that crop, an image that is
not square is squeezed to a square as the ingest squeezes one, said per file in the ingest's
words (:func:`drac_ssl.grading.predict.squeeze_finding`) and counted in the summary line
(``1 squeezed to a square``). An image whose shorter side is
below half the model's input size is graded with a warning (upscaled, the grade is
unreliable: :func:`drac_ssl.grading.predict.small_image_warning`, the app's words too). A bundle with no evidence of
grading better than chance (its out-of-fold QWK 95% CI reaches 0:
:func:`drac_ssl.grading.bundle.chance_warning`, the rule of the stage, the report, the model
card and the app) gets that warning on stderr too, and so does a bundle whose calibration
failed (its temperature at the edge of its search range, the rule of report.md and the model
card: :func:`drac_ssl.grading.bundle.calibration_warning`, the app's words: the probabilities
are not calibrated, read the grade, not the percentages; the stage says it on its console, in
``export/summary.json``'s ``notes`` and as ``calibration_failed``), and so do the bundle's own
caveats the app says with every grade (:func:`drac_ssl.grading.bundle.grade_caveats`: an
untrained demo bundle, phantom training images, a trial run; a weak "unlike the training
images" check once, with its reasons, :func:`_weak_check`), with the app's sentence for a
grade the model never found out of fold (:func:`bundle_caveats`); those caveats are kept in the
provenance sidecar's ``caveats`` too (the stage's also in ``notes``); the CSV and the exit code
are unchanged.

An image that cannot be read (truncated, corrupt, not an image) writes nothing: a
submission missing a case is invalid, and the error lists each file (what is wrong, the
fix). ``--skip-unreadable`` (clinic batch grading) grades and writes the readable images
instead, and skips too, as the app refuses them, the images with nothing to grade: blank or
near-constant, or random noise (:func:`drac_ssl.grading.predict.nothing_to_grade`, the app's
rule; :func:`nothing_to_grade_problem`); it lists each skipped file on stderr
(``skipped: PATH: what -> fix``) and in
``OUT.skipped.json`` beside the CSV (:func:`skipped_record_path`), ends with an
``INCOMPLETE:`` line naming each (``file: what``,
:func:`drac_ssl.grading.image_notes.incomplete_line`, the first words of the app's batch
summary too) and exits 3: the CSV is not a complete submission (``--check`` against
the folder reports a missing row for each skipped file; without it, the record says it: NOT a
complete submission, exit 3 too, until the CSV has a row for each). The record's ``left_out`` lists every
other entry of the folder not graded, none a case (files holding no image, sub-folders,
hidden files, each with its ``kind``, ``problem`` and ``fix``: :func:`_left_out`), so that a
program reading it learns of every entry; the summary line counts them. A symbolic link to a
file not there is said as a ``broken symbolic link (points to X, which does not exist)``.

A file whose name cannot be a case (:func:`drac_ssl.submission.case_name_problem`, the rule of
every CSV the package writes: a comma, quote or line break, white space at either end, or a
first ``= + - @``, which a spreadsheet reads as a formula: CSV injection) is never graded under
another name (an altered case would not match its file): it is said before any image is read
(exit 2, each file with why and a name to rename it to, :func:`_case_name_problems`), or, with
``--skip-unreadable``, skipped with that fix like an unreadable file.

A folder holding nothing that could be a case (empty; or only text or office files holding no
image, sub-folders empty at any depth, hidden files: :func:`_nothing_there`) is a night
without images, not a wrong command: one ``NOTHING TO GRADE:`` line, nothing written (an
earlier ``--out`` left as it was) and exit :data:`drac_ssl.runtime.EXIT_NO_IMAGES` (5). A file
that may be an image it cannot read (a DICOM file, a ``.webp``) or any sub-folder holding a
file, at any depth (a DRAC root, images two levels down), stays an error (exit 2) whose fix
says where to point ``--images``. Images only in sub-folders stay an error (exit 2)
whose fix is the command that copies them into one folder, each image under a name of its own
(``patA/OD.png`` -> ``patA_OD.png`` when two sub-folders share a name:
:func:`data_prep.layout.copy_into_one_folder`). Sub-folders are not searched (no
``--recursive``): a case is a file name, and the copy makes the names visible before grading.

A file of the folder that holds an image but is not named as one (``.png .jpg .jpeg .tif
.tiff .bmp``) is not graded, and said like an unreadable one (the same exit codes,
``--skip-unreadable``, record and ``INCOMPLETE:`` line), with why in the app batch tab's
words (:func:`drac_ssl.submission.read_folder`, :mod:`drac_ssl.grading.image_notes`):
``x.webp: is a WEBP file`` (convert it to PNG). A file holding no image at all
(``notes.txt: is not an image (PNG, JPEG, TIFF or BMP expected; it holds plain text)``: a text
file's words are never quoted, :func:`drac_ssl.grading.image_notes.holds_words`) and
a sub-folder (not searched) are said in a ``note:``, no test image being lost; hidden and
system files (``.DS_Store``, ``Thumbs.db``) are left out without a word on the console (the record lists them). ``--check TEAM.csv
--images DIR`` reports each image file of DIR the package cannot grade without a row as a
problem. An ``--images`` that is no folder of images (a MedMNIST ``.npz``, whose test
images are rows of the array; a folder without images) is a usage error, exit 2, not a line-0
problem of the file: the fix is ``--check CSV --manifest RUN``
(:func:`drac_ssl.submission.images_option_problem`).

``--score TEAM.csv --labels LABELS.csv`` scores a submission against true grades the user holds
(IDRiD's testing labels, APTOS's public split, a held-out set): QWK with its bootstrap 95% CI,
accuracy, macro F1, the AUCs and the confusion matrix, in report.md's words; every case needs a
label and every label a case (:mod:`drac_ssl.scoring`, which loads no torch: the command
answers it before this module's imports). A score of images the backbone was pretrained on
without their grades (the run's test images, by default) is warned of as transductive, not a
clean held-out figure (:func:`drac_ssl.scoring.pretraining_images_check`).

An image of ``--images`` that is *not reliably gradable* by the app batch's rule
(:func:`drac_ssl.grading.image_notes.flagged_reasons`: unlike the training images, a colour
picture for a grey UW-OCTA model, a grey picture for a colour model, a thresholded export or
mask, far smaller than the model's input; and here a blank or random-noise image too, which the
app refuses, unless ``--skip-unreadable`` skips it) keeps its row, like any other, in the
submission (its format is fixed); a blank or noise image's grade must not be used, which its
stderr line, its notes row (:data:`GRADE_NOT_USED`) and the last line say: the
command writes ``<stem>_notes.csv`` beside it (:func:`drac_ssl.submission.write_image_notes`:
``case,class,not_reliably_gradable,training_image,grade_note,bundle,pretraining_image,grade_name,score,size_note``, each graded case,
the reasons joined by ``; ``, empty when clean, on every row the bundle that graded:
:func:`drac_ssl.submission.bundle_cell` of :attr:`drac_ssl.grading.bundle.Bundle.identity`, and
its class in the bundle's grade names, ``grade_name``: the submission keeps DRAC's numbers; a
bundle with other names than DRAC's three also gets one stderr line naming them,
:func:`grade_legend_line`, whether or not the notes file is written), ends with a ``FLAGGED:`` line counting the reasons and
naming that file, and exits :data:`drac_ssl.runtime.EXIT_FLAGGED` (4). A row whose class is not
its single most likely grade (the expected grade cut at thresholds), or is but in a near-tie
(:data:`drac_ssl.submission.NEAR_TIE_WORDS`), has the app's sentence on why in ``grade_note``
(:func:`drac_ssl.grading.image_notes.decision_words`); such rows write the notes file too (exit 0
when nothing is flagged), each kind counted in the ``class =`` line, which names the file. The graded files whose SHA-256 the
bundle lists among its labelled training images (``metadata.json``'s ``training_images``,
:mod:`drac_ssl.grading.training_images`: the file's hash, or its decoded pixels' hash, so that
a PNG written from a row of the ``.npz`` the model trained on counts) are counted in the last line ("2 of 5 images were used
to train this model (same SHA-256): scores on them are not a test") and marked in the notes
file too, which is written then as well (exit 0 when nothing is flagged); a bundle built before
that list says nothing, and one built from an ingest made before the decoded-pixel hashes
compares the files alone and says so in a ``note:``
(:data:`drac_ssl.grading.training_images.PIXELS_CHECK_NEEDS_INGEST`). So are those among the images its backbone's self-supervised
pretraining read without their grades (``pretraining_images``, by the file's hash or its decoded
pixels' likewise, the run's test images by default:
"6 of 6 graded images were among those the self-supervised pretraining (VICReg) ... read ...: a
score of their grades (export --score) is transductive ..."), in the ``pretraining_image``
column, which ``--score`` of the submission reads. With neither, no notes file is written, and one an earlier export left
beside ``--out`` is removed with its other records. The export stage (and ``RUN --variant
NAME`` without ``--images``) grades the ingest's test images by the same rule
(:func:`image_reasons`) and writes ``export/submission[_NAME]_notes.csv`` likewise when one is
flagged, with a ``FLAGGED:`` line; the stage goes on (a flagged image fails no run), the
command exits 4.

The selected variant's words come from ``finetune/summary.json`` through the bundle
(:func:`drac_ssl.selection.selection_words`): a tie is said as one ("tied on out-of-fold QWK
(0.000, with scratch and vicreg) and AUC one-vs-one (0.544, with vicreg); chosen by the tie-break
order vicreg_umm, vicreg, scratch"), for a bundle built before those words too.

``--log-names tag`` (default ``full``: names as they are) says :func:`drac_ssl.name_tags.name_tag`
(``[name 1a2b3c4d]``, the first 8 hex digits of the HMAC-SHA-256 of the name under the run's
key: :func:`drac_ssl.name_tags.log_names_key`, random for each command unless
``DRAC_SSL_LOG_NAMES_KEY`` gives one) instead of each file name in every console line, of every
mode (:func:`drac_ssl.commands.export_log_names` lists the
names: the folder's entries and its sub-folders', a fix's suggested renames, the cases of a
CSV, the labels of ``--score``, the ingest's test cases, the paths given); the files written still name the
cases. A hospital's shared logs then carry no patient file name, nor a tag that a guessed name
could be confirmed by: the tag is keyed (:mod:`drac_ssl.name_tags`). Under the key of
``DRAC_SSL_LOG_NAMES_KEY``, ``--find-tag TAG`` added to the arguments of the run whose log shows
a tag prints its name(s) and does nothing else (:func:`drac_ssl.commands.find_tag_command`).

Exit codes: those :data:`drac_ssl.exit_codes.EXPORT_EXIT_CODES` lists for each mode (``--help``
says them; one list, not restated here). A submission failing its check is kept as
``OUT.failed`` (:func:`failed_submission_path`), ``--out`` left as it was; bad input (exit 2)
is said without a traceback.
"""

from __future__ import annotations

if __name__ == "__main__":  # Ctrl-C while torch loads: one line, not an import's traceback
    from drac_ssl.starting import quiet_while_starting

    quiet_while_starting("export")
    from drac_ssl.commands import export_early

    # --help, --version, a usage error, --check of a missing file: answered before torch loads
    # (main() says a negative --threads first); --score loads no torch at all (drac_ssl.scoring)
    export_early()  # the installed drac-ssl-export takes the same path (commands.export_command)

import argparse
import contextlib
import csv
import dataclasses
import errno
import hashlib
import io
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from data_prep.problems import Problem
from drac_ssl.commands import (
    check_arguments_problem,
    export_log_names,
    export_parser,
    find_tag_command,
    score_arguments_problem,
)
from drac_ssl.config import GRADE_SCALES, Config
from drac_ssl.console import ProgressLines, print_lines, progress_bar
from drac_ssl.datasets import load_octa_cache
from drac_ssl.exit_codes import PROBLEMS_FOUND, RUN_BUSY
from drac_ssl.grading.batch import (  # noqa: F401 - nothing_to_grade_problem re-exported
    FILE_CHUNK,
    NOT_GRADABLE_KIND,
    _grade_files_loop,
    nothing_to_grade_problem,
)
from drac_ssl.grading.bundle import (
    Bundle,
    BundleError,
    build_bundle,
    build_or_reuse_bundle,
    calibration_failed,
    calibration_warning,
    chance_warning,
    check_referral_cut,
    grade_caveats,
    load_bundle,
    model_card_note,
    never_found_words,
    older_bundle_records,
    ood_check_caveat,
    probability_columns_words,
    profile_hash_note,
    rebuild_advice,
    referable_cut_of,
    referable_not_informative,
    reusable_bundle,
    reused_bundle_note,
    weights_hash_note,
)
from drac_ssl.grading.bundle_folder import BUNDLE_COPY_FIX
from drac_ssl.grading.demo import demo_ood_words
from drac_ssl.grading.image_notes import (
    FEW_LEVELS_OPENING,
    FILE_FINDING,
    NO_COLOUR,
    NOT_RELIABLY_GRADABLE,
    OTHER_DEPTH,
    decision_words,
    incomplete_line,
    same_grade_words,
)
from drac_ssl.grading.predict import (  # noqa: F401 - BLANK_REASON ... re-exported
    BLANK_REASON,
    GRADE_NOT_USED,
    NOISE_REASON,
    OTHER_TRAINING_SIDE,
    SQUEEZED,
    GradedImages,
    ImageReadError,
    TrainingSideNote,
    grade_images,
    nothing_to_grade,
    predict_images,
    preprocess_image,
    read_image,
    read_image_any,
)
from drac_ssl.grading.training_images import (
    BY_PIXELS,
    HASH_HEX,
    PIXELS_CHECK_NEEDS_INGEST,
    file_prefix,
    pretraining_images_line,
    pretraining_record,
    record_pixel_splits,
    record_splits,
    splits_of,
    training_hashes,
    training_images_line,
    training_match,
    training_pixel_hashes,
)
from drac_ssl.io import (
    NO_SPACE_WORDS,
    atomic_write_json,
    atomic_write_text,
    fsync_folder,
    no_space,
    no_temp_folder_fix,
    output_file_problem,
    read_json_dict,
    same_path,
    sha256_file,
    temporary_pid_alive,
    unreadable_words,
    written_file,
)
from drac_ssl.manifest import MANIFEST_FILE, ManifestError, read_manifest
from drac_ssl.name_tags import tagged_console
from drac_ssl.oof import OOF_FILE, OofError, read_oof
from drac_ssl.out_paths import export_out_problem
from drac_ssl.run_state import Unfinished, unfinished_state
from drac_ssl.runtime import (
    EXIT_FLAGGED,
    EXIT_NO_IMAGES,
    EXIT_SKIPPED,
    RUN_LOCK,
    RunBusy,
    command_given,
    command_line,
    hold_run,
    record_end,
    record_start,
    resolve_device,
    threads_kept,
)
from drac_ssl.scale import (
    grade_names_for_people,
    grades_scale_from,
    grades_typed,
    read_ingest_facts,
)
from drac_ssl.selection import recorded_selection, short_selection
from drac_ssl.starting import (
    OUT_OF_MEMORY_EXIT,
    hold_signals_if_command,
    interrupt_exit_code,
    interrupts_deferred,
    is_out_of_memory,
    out_of_memory_words,
    python_command,
    python_word,
    run_command,
    sigterm_as_ctrl_c,
    started,
)
from drac_ssl.submission import (
    CASE_NAME_KIND,
    DEEPER_SEARCHED,
    DRAC_PROB_COLUMNS,
    IMAGE_NOTES_COLUMNS,
    IMAGE_SUFFIXES,
    NOT_AN_IMAGE_FIX,
    NOT_INFORMATIVE_COLUMN,
    PRETRAINING_OUTSIDE_MARK,
    SIZE_NOTE_COLUMN,
    FolderFiles,
    ImagesFolderError,
    broken_link_words,
    check_submission,
    class_rule_setting_words,
    classes_off_rule,
    grade_note_counts,
    image_notes_path,
    images_option_problem,
    is_drac_test_folder,
    printable_text,
    provenance_path,
    read_folder,
    read_submission,
    referable_path,
    skipped_record_path,  # re-exported: export.skipped_record_path
    smaller_class_rows,
    two_grade_rule_words,
    write_grading_provenance,
    write_image_notes,
    write_referable,
    write_submission,
)
from drac_ssl.submission import (
    case_name_problems as _case_name_problems,
)

__all__ = [
    "Bundle",
    "BundleError",
    "bundle_caveats",
    "ExportResult",
    "build_bundle",
    "failed_submission_path",
    "grade_legend_line",
    "list_images",
    "ImagesFolderMissing",
    "ImagesFolderNotAFolder",
    "ImagesFolderUnreadable",
    "load_bundle",
    "main",
    "predict_images",
    "preprocess_image",
    "read_image",
    "read_image_any",
    "run",
    "manifest_test_cases",
    "skipped_record_path",
]

PREDICT_CHUNK = FILE_CHUNK  # images decoded and preprocessed at a time (grading.batch.grade_files' default)

# BLANK_REASON, NOISE_REASON and GRADE_NOT_USED live beside GradedImages.not_reliably_gradable
# (drac_ssl.grading.predict), imported above: still export.GRADE_NOT_USED ...


def image_reasons(graded: GradedImages, file_words: Sequence[Sequence[str]] | None = None) -> list[list[str]]:
    """Per graded image, why it is not reliably gradable:
    :attr:`drac_ssl.grading.predict.GradedImages.not_reliably_gradable` with the words said
    of its file, ``file_words`` (without the ``NAME: ``), the one rule of ``--images``, of the
    stage's test images (read from the ingest cache: no file words) and of a script's
    ``grade_images``. [] for a clean image."""
    if file_words is None:
        return graded.not_reliably_gradable
    return dataclasses.replace(graded, file_warnings=[list(words) for words in file_words]).not_reliably_gradable


def _grade_notes(bundle: Bundle, probs: np.ndarray, classes: np.ndarray) -> list[str]:
    """Per graded image (``probs`` ``(n, K)``, ``classes`` ``(n,)``), why its class is not the
    single most likely grade, or the grades tied with its largest P at the whole percentages shown
    (a near-tie), the app's sentence (:func:`drac_ssl.grading.image_notes.decision_words` under
    the bundle's decision, head and thresholds: with two grades P(grade 1) against the referral
    threshold), "" where it is the single most likely grade, in no near-tie: the notes file's
    ``grade_note`` column. A bundle whose calibration failed
    (:func:`drac_ssl.grading.bundle.calibration_failed`) gets the app's words without
    percentages (``calibrated=False``)."""
    # the names people read (ICDR "3 Severe NPDR and 4 PDR are equally likely", not the recorded
    # "3 Severe and 4 PDR"), as the app's page says them
    names = list(grade_names_for_people(list(bundle.metadata.get("class_names") or []) or list(bundle.grade_names)))
    regression = (bundle.metadata.get("model") or {}).get("output") == "regression"
    thresholds = bundle.calibration.thresholds
    calibrated = not calibration_failed(bundle.metadata)  # the app's rule: no percentages then
    referral = bundle.calibration.referral if getattr(bundle.calibration, "referral_decides", False) else None
    return [decision_words(p, int(c), names, bundle.calibration.decision, regression, thresholds,
                           calibrated=calibrated, referral=referral)
            for p, c in zip(probs, classes, strict=True)]


class SubmissionCheckError(BundleError):
    """The submission :func:`run` wrote fails its check (a BundleError, so a ValueError): the
    message lists the problems and says where the file is kept (:func:`failed_submission_path`)
    and what was removed. ``python -m drac_ssl.export RUN --variant NAME`` exits 1 on it, as
    for any submission with problems."""


@dataclass
class ExportResult:
    bundle_dir: Path
    metadata_path: Path
    model_card_path: Path
    submission_path: Path | None
    n_test: int
    notes: list[str] = field(default_factory=list)
    reused: bool = False  # a named variant's bundle built earlier from the same fine-tuning outputs
    # <stem>_notes.csv beside the submission when some test image is not reliably gradable
    image_notes_path: Path | None = None
    n_flagged: int = 0  # the test images not reliably gradable (flagged_reasons, blank, noise)


# --------------------------------------------------------------------------------------
# The stage


def _grade_cached(bundle: Bundle, images: Any, indices: Sequence[int]) -> GradedImages:
    """:func:`grade_images` of the ingest cache's images at ``indices`` (``ingested``: the
    cache is the model's source size already), with the flips the cross-validation used
    (``tta_in_cv``), :data:`PREDICT_CHUNK` images at a time: a bar on a terminal and, off one
    (a log, ``nohup``), a line at most a minute on stderr (``[export] 64 of 386 test images
    graded (...)``), as the command line's grading of a folder says its progress. Each image's
    figures are its own, whatever the chunk: on the CPU byte for byte those of one call (the
    default job's submission.csv, checked); on a GPU, equal up to rounding."""
    parts: list[GradedImages] = []
    with progress_bar(len(indices), "export", "img", leave=False) as bar:  # no tqdm off a terminal
        progress = ProgressLines(sys.stderr, "export")
        for start in range(0, len(indices), PREDICT_CHUNK):
            chunk = [np.asarray(images[i]) for i in indices[start:start + PREDICT_CHUNK]]
            parts.append(grade_images(bundle, chunk, ingested=True, training_images=False))  # the test split
            bar.update(len(chunk))
            progress.count(start + len(chunk), len(indices), "test images graded")
    return GradedImages.joined(parts)


class _ChangedSinceIngest(ValueError):
    """An original picture whose sha256 is not the one the manifest recorded at the ingest."""


def _original_image(bundle: Bundle, root: Path, rel: str, arrays: dict[tuple[Path, str], np.ndarray],
                    sha256: str = "") -> np.ndarray:
    """The picture of a manifest row as the ingest read it, before its crop, filter or resize:
    the file ``root / rel`` read by the export command's reader
    (:func:`drac_ssl.grading.predict.read_image`, the bundle's channels, kind, grey training
    images and bit depths), or the row of a MedMNIST ``.npz`` (``rel`` ``NAME.npz:KEY[i]``;
    ``root`` the file or its folder; each array read once, kept in ``arrays``). ``sha256``: the
    manifest row's digest (of the file's bytes; of an array row's pixel bytes, as the ingest
    hashed them): when given and the picture's differs, raises :class:`_ChangedSinceIngest` (a
    ValueError), the picture then not being the one graded. Raises OSError, ValueError,
    KeyError (no such array in the ``.npz``), IndexError (fewer rows than the index),
    EOFError, ``zipfile.BadZipFile`` or ``zlib.error`` (a damaged ``.npz``) when it cannot be
    read now (moved, deleted or damaged since the ingest)."""
    import hashlib

    from data_prep.validate import ARRAY_ROW, array_row_pixels  # the ingest's bytes of a row

    match = ARRAY_ROW.match(rel)
    if match is None:
        path = root / rel
        pixels, _ = read_image(path, bundle.spec.channels, kind=bundle.kind,
                               grey_trained=bundle.grey_trained, bit_depths=bundle.bit_depths)
        # hashed after the decode: a file that cannot be read now is said as such, not as changed
        if sha256 and hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            raise _ChangedSinceIngest(f"{path}: changed since the ingest (its sha256 is not the manifest's)")
        return pixels
    name = match["file"]
    npz = next((c for c in (root, root / name, root.parent / name) if c.name == name and c.is_file()), None)
    if npz is None:
        raise FileNotFoundError(f"{root / name}: no such array file")
    key = (npz, match["key"])
    if key not in arrays:
        with np.load(npz, allow_pickle=False) as archive:
            arrays[key] = archive[match["key"]]
    array, index = arrays[key], int(match["index"])
    if array.ndim < 1 or index >= array.shape[0]:
        raise IndexError(f"{npz}:{match['key']} has {array.shape[0] if array.ndim else 0} rows, not row {index}")
    row = np.asarray(array[index])
    if sha256 and hashlib.sha256(array_row_pixels(row).tobytes()).hexdigest() != sha256:
        raise _ChangedSinceIngest(f"{npz}:{match['key']}[{index}]: changed since the ingest")
    return row


def _originals_nothing_to_grade(bundle: Bundle, data_dir: Path, test_rows: Sequence[dict[str, Any]],
                                graded: GradedImages) -> tuple[GradedImages, str]:
    """``graded`` (of the ingest cache's test rows, :func:`_grade_cached`) with its ``blank`` and
    ``noise`` flags measured on each test image's original picture
    (:func:`drac_ssl.grading.predict.nothing_to_grade`, the rule of the export command and the
    app) when its cached copy is Graham-filtered (``data.graham``, which the bundle replays:
    :attr:`drac_ssl.grading.model.InputSpec.graham`): the filter's local-mean subtraction leaves
    fine texture whose neighbouring pixels are barely related, and real photographs read as
    random noise there (a review: APTOS photos flagged "its grade must not be used" by the
    stage, none by the command on the same folder). The originals are then read again where the
    manifest says (``ingest_summary.json``'s ``root`` and each row's ``path``:
    :func:`_original_image`), one at a time (a decode and a sha256 each: about 14 ms for a
    224 px APTOS sample, 0.17-0.19 s for a full-size photograph). A crop alone
    (``data.fundus_crop``) leaves the picture's texture as it was: its cached copy is measured,
    as without either option, and ``graded`` is returned as it is. A picture that cannot be
    read now (moved, deleted, damaged: a truncated or corrupt ``.npz`` too), or whose sha256 is
    no longer the manifest's (replaced since the ingest: not the picture graded), is left
    unflagged; the second value then says how many were not checked, and why ("" when every
    one was). Never raises for a picture that cannot be read."""
    import zipfile
    import zlib

    if not bundle.spec.graham:  # the cached copy is the picture, cropped or not, resized
        return graded, ""
    summary = read_json_dict(data_dir / "ingest_summary.json") or {}
    root = Path(str(summary.get("root") or data_dir))
    blank, noise = graded.blank.copy(), graded.noise.copy()
    arrays: dict[tuple[Path, str], np.ndarray] = {}
    unchecked: list[str] = []
    changed: list[str] = []
    progress = ProgressLines(sys.stderr, "export")
    for i, row in enumerate(test_rows):
        try:
            blank[i], noise[i] = nothing_to_grade(_original_image(bundle, root, str(row["path"]), arrays,
                                                                  str(row.get("sha256") or "")))
        except _ChangedSinceIngest:
            changed.append(str(row["id"]))
            blank[i] = noise[i] = False  # not the picture graded: no verdict from it
        except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile, zlib.error):
            unchecked.append(str(row["id"]))
            blank[i] = noise[i] = False  # the cached copy is not the picture: no verdict from it
        progress.count(i + 1, len(test_rows), "test images checked for blank or noise")
    result = dataclasses.replace(graded, blank=blank, noise=noise)
    if not unchecked and not changed:
        return result, ""

    def shown(ids: list[str]) -> str:
        return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")

    said = []
    if unchecked:
        said.append(f"{len(unchecked)} of the {len(test_rows)} test images could not be read again under "
                    f"{root} (moved, deleted or damaged since the ingest?): {shown(unchecked)}")
    if changed:
        said.append(f"{len(changed)} of the {len(test_rows)} test images changed since the ingest (their "
                    f"sha256 is not the manifest's: replaced, not the pictures graded): {shown(changed)}")
    return result, ("; ".join(said) + "; not checked for blank or random noise (their cached copies are "
                    "Graham-filtered, not the pictures)")


def _array_row(row: dict[str, Any]) -> bool:
    """A manifest row of an image stored in an array file (``x.npz:test_images[3]``)."""
    from data_prep.validate import ARRAY_ROW  # the one spelling, .npz in any case

    return ARRAY_ROW.match(str(row.get("path", ""))) is not None


def _no_test_images_why(data_dir: Path) -> str:
    """Why the ingest in ``data_dir`` has no test images, in words: its note on a missing
    testing set (where it looked) when it made one, else the data root it read."""
    summary = read_json_dict(data_dir / "ingest_summary.json") or {}
    said = [n for n in summary.get("notes") or [] if isinstance(n, str) and "no testing set" in n]
    if said:
        return f"the ingest said: {said[0].split(' -> ')[0]}"
    return f"the ingest of {summary.get('root') or data_dir} found none"


def _test_images_dir(data_dir: Path, test_rows: Sequence[dict[str, Any]]) -> Path | None:
    """The folder of the test images, from the ingest summary or the manifest paths; None
    when they are rows of an array file (MedMNIST) or the folder is not known."""
    if any(_array_row(r) for r in test_rows):
        return None
    summary = read_json_dict(data_dir / "ingest_summary.json")  # None: missing, damaged, not an object
    if summary is None:
        return None
    if summary.get("test_dir"):
        return Path(summary["test_dir"])
    root = summary.get("root")
    parents = {(Path(root) / r["path"]).parent for r in test_rows} if root else set()
    return parents.pop() if len(parents) == 1 else None


def _check_folder(images_dir: Path | None, test_rows: Sequence[dict[str, Any]],
                  submission: Path) -> tuple[Path | None, str]:
    """The folder of test images the export stage checks its ``submission`` against
    (``images_dir``, :func:`_test_images_dir`), and the note when there is none to check
    against: ``(None, why)``, the check then made against the manifest's test case names.
    None as a folder: the test images are rows of an array file, the folder is not known or
    not there, or it holds no image now (emptied, or unreadable, since the ingest read it)."""
    against = "the submission is checked against the manifest's test case names"
    if any(_array_row(r) for r in test_rows):
        return None, f"the test images are rows of an array file (no image folder): {against}"
    if images_dir is None:
        return None, f"the test image folder is not known (the ingest recorded none): {against} only"
    if not images_dir.is_dir():
        return None, f"test image folder {images_dir} not found: {against} only"
    if images_option_problem(images_dir, submission, option=""):  # emptied since the ingest
        return None, (f"test image folder {images_dir} holds no image now (emptied, or unreadable, "
                      f"since the ingest read its {len(test_rows)} test image(s)): {against} only")
    return images_dir, ""


def manifest_test_cases(manifest: str | os.PathLike[str]) -> tuple[list[str], Path]:
    """The test case names (``id`` of the ``split == test`` rows, manifest order) of an ingest
    manifest, given as the ``manifest.csv``, its ``data`` folder or the run folder; and the
    ``data`` folder (its ``ingest_summary.json`` holds the grade scale). Raises BundleError
    when there is no manifest there, or one without an ``id`` or ``split`` column."""
    p = Path(manifest)
    for candidate in (p, p / MANIFEST_FILE, p / "data" / MANIFEST_FILE):
        if candidate.is_file():
            try:
                rows = read_manifest(candidate, ("id", "split"))
            except ManifestError as exc:
                what, _, fix = str(exc).partition("\n  fix: ")  # the doubt before the fix line
                raise BundleError(f"{what} (not an ingest manifest?)" + (f"\n  fix: {fix}" if fix else "")) from None
            return [r["id"] for r in rows if r["split"] == "test"], candidate.parent
    raise BundleError(f"{p}: no ingest manifest (manifest.csv) here, in {p / 'manifest.csv'} or "
                      f"in {p / 'data' / 'manifest.csv'}.\n  fix: pass the run folder, its data/ "
                      f"folder or the manifest.csv itself")


CLASSES_SHOWN = 5
"""The rows :func:`other_classes_warning` names, at most (then a count)."""


def run_class_rule(data_dir: Path) -> tuple[Path, str, tuple[float, ...]] | None:
    """The class rule of the bundle ``python -m drac_ssl.export RUN`` grades with, for the run
    whose ingest folder is ``data_dir`` (``RUN/data``, :func:`manifest_test_cases`): ``(its
    metadata.json, the decision, the thresholds)`` from ``RUN/bundle/metadata.json``'s
    calibration (``finetune.decision``; one written before the option cut at its thresholds);
    ``referral`` and the one cut for a two-grade bundle whose referral cut decides the grade
    (``finetune.referral_target``: grade 1 when P1 >= it, the thresholds rule at that cut, as
    P1 is the expected grade of two written probabilities, whatever the head). None where there is no such bundle (an ingest folder outside a run, a run not exported),
    its calibration is unreadable, or its rule cannot be replayed from a file's probabilities:
    a regression head cut at thresholds (:func:`drac_ssl.submission.classes_off_rule`)."""
    path = data_dir.parent / "bundle" / "metadata.json"
    meta = read_json_dict(path) if data_dir.name == "data" else None
    calibration = meta.get("calibration") if meta is not None else None
    if not isinstance(calibration, dict):
        return None
    decision = str(calibration.get("decision") or "thresholds")
    referral = calibration.get("referral")
    if isinstance(referral, dict) and len(calibration.get("thresholds") or ()) == 1:
        # two grades with finetune.referral_target: grade 1 when P1 >= the cut, and with two
        # grades P1 is the expected grade of any head's written probabilities: the thresholds
        # rule at that one cut
        try:
            return path, "referral", (float(referral["cut"]),)
        except (KeyError, TypeError, ValueError):
            return None
    try:
        thresholds = tuple(float(t) for t in calibration.get("thresholds") or ())
    except (TypeError, ValueError):
        return None
    if decision not in ("argmax", "thresholds") or not thresholds or (
            decision == "thresholds" and calibration.get("output") != "classification"):
        return None
    return path, decision, thresholds


def other_classes_warning(csv_path: str | os.PathLike[str], num_grades: int, data_dir: Path) -> str:
    """The one ``warning:`` of ``--check CSV --manifest RUN`` on the rows of a valid submission
    whose class is not the one RUN's bundle's class rule gives (:func:`run_class_rule`,
    :func:`drac_ssl.submission.classes_off_rule`): how many, and the first
    :data:`CLASSES_SHOWN` with the class given and the rule's. DRAC accepts any class, so the
    file stays valid; "" when every class is the rule's, the rule is not known, or the file's
    K is not the rule's."""
    rule = run_class_rule(data_dir)
    rows, _ = read_submission(csv_path, num_grades=num_grades)
    if rule is None or rows is None or len(rule[2]) != rows.num_grades - 1:
        return ""
    path, decision, thresholds = rule
    off = classes_off_rule(rows, "thresholds" if decision == "referral" else decision, thresholds)
    if not off:
        return ""
    words = ("the most probable grade" if decision == "argmax" else
             f"grade 1 when P1 >= {thresholds[0]:.6g}" if decision == "referral" else
             "the expected grade cut at " + ", ".join(f"{t:.6g}" for t in thresholds))
    setting = "finetune.referral_target" if decision == "referral" else f"finetune.decision={decision}"
    named = ", ".join(f"{case} class {given} (the rule gives {rule_class})"
                      for case, given, rule_class in off[:CLASSES_SHOWN])
    more = f" and {len(off) - CLASSES_SHOWN} more" if len(off) > CLASSES_SHOWN else ""
    return (f"warning: {len(off)} of the {len(rows.cases)} rows {'has' if len(off) == 1 else 'have'} a "
            f"class other than the one the bundle's rule gives ({setting}: {words}; "
            f"{path}): {named}{more}. DRAC accepts any class, so the file stays valid; "
            f"{python_command('drac_ssl.export')} writes the rule's class: a file edited by hand, or graded by another "
            f"bundle (--variant, whose thresholds differ)?")


def run(cfg: Config, run_dir: str | os.PathLike[str], variant: str | None = None,
        bundle_dir: str | os.PathLike[str] | None = None,
        submission_path: str | os.PathLike[str] | None = None) -> ExportResult:
    """Build the bundle; grade the ingest's test images into ``export/submission.csv``.

    The stage exports the variant fine-tuning selected into ``run_dir/bundle`` and
    ``run_dir/export/submission.csv``; ``variant`` exports another one (``scratch``,
    ``vicreg``, ``vicreg_umm``), by default into ``run_dir/bundles/<variant>`` and
    ``run_dir/export/submission_<variant>.csv`` (``bundle_dir`` and ``submission_path`` put
    them elsewhere), e.g. to submit every variant of a comparison.

    A test image that is not reliably gradable (:func:`image_reasons`, the rule of ``--images``:
    unlike the training images, blank, random noise ...) keeps its row; the stage then writes
    ``<stem>_notes.csv`` beside the submission (:func:`drac_ssl.submission.write_image_notes`,
    before the CSV is renamed into place, so a kill never leaves a flagged CSV without it; no
    image is marked a training image: the ingest's test split trained nothing; each row's
    ``grade_note`` says why its class is not its most likely grade, or names a near-tie; its
    ``pretraining_image`` whether the backbone's pretraining read it, by the manifest's hash,
    which a ``note:`` line counts whenever some did: a score of them is transductive), prints a
    ``FLAGGED:`` line and goes on: flagged images fail neither the stage nor the run (the
    result's ``image_notes_path`` and ``n_flagged``, summary.json's ``image_notes`` and
    ``n_flagged``). With none flagged no notes file is written (grade notes alone write none
    here; a regression head's export writes it all the same, for its ``score`` column: the
    regression output the thresholds cut, which the P columns do not give back), and an earlier
    export's beside the submission is removed with its other records.
    The console's ``class =`` line counts the rows with a ``grade_note`` by why, as the command's
    does (:func:`drac_ssl.submission.grade_note_counts`): summary.json's
    ``n_class_not_most_probable`` (the rows whose class's P is below their largest, exact P as
    written, those equal to it at the whole percentages shown included), of them
    ``n_class_not_most_probable_equal_shown`` (equal at the percentages shown), and
    ``n_class_near_tie``, which report.md's Export section says.
    summary.json's ``temperature`` is the bundle's calibration's, and ``calibration_failed`` is
    true when it sits at the edge of its search range (:func:`calibration_warning`, said on the
    console and in ``notes`` too): the P columns then do not say how likely a grade is.

    Raises:
        BundleError (a ValueError): the fine-tuning outputs are missing or incomplete.
        SubmissionCheckError (a BundleError): the written submission fails its check: it is
            kept as :func:`failed_submission_path` of ``submission_path`` (the message names
            it), and the stage's own files of an earlier export of this variant
            (``export/submission[_NAME].csv`` with its referable and notes files, and
            ``export/summary[_NAME].json``), which would pass for this export's, are removed
            together; a ``submission_path`` given elsewhere (the command line's ``--out``) is
            left as it was.
    """
    run_dir = Path(run_dir)
    if variant is not None and bundle_dir is None:
        bundle_dir = run_dir / "bundles" / variant
    own_csv = run_dir / "export" / ("submission.csv" if variant is None else f"submission_{variant}.csv")
    if submission_path is None:
        submission_path = own_csv
    device = resolve_device(cfg.run.device)
    notes: list[str] = []
    reused = False
    # report.md's out-of-fold Brier score and ECE, for the bundle's metadata and model card
    # (computed here: the grading modules do not import the scoring module); a bootstrap: for a
    # variant's bundle, worked out only when it is built (build_or_reuse_bundle calls it)
    from drac_ssl.report import oof_calibration_of

    if variant is None:
        bundle_dir = build_bundle(run_dir, None, bundle_dir, device=device,
                                  oof_calibration=oof_calibration_of(run_dir, variant))
    else:
        why: list[str] = []
        bundle_dir, reused = build_or_reuse_bundle(run_dir, variant, bundle_dir, device=device, said=why,
                                                   oof_calibration=partial(oof_calibration_of, run_dir, variant))
        other = selected_other_line(run_dir, variant)
        for line in variant_lines(run_dir, variant, bundle_dir, reused, other, rebuilt="; ".join(why)):
            print(f"[export] {line}")
        if other:
            notes.append(other)
    bundle = load_bundle(bundle_dir, device)
    data_dir = run_dir / "data"
    images, rows = load_octa_cache(data_dir, bundle.spec.source_size)
    test_rows = [r for r in rows if r["split"] == "test"]
    names = list(bundle.metadata.get("class_names") or [])
    k = bundle.calibration.num_grades
    cache_channels = 1 if images.ndim == 3 else int(images.shape[-1])
    if cache_channels != bundle.spec.channels:
        raise BundleError(f"{data_dir}: the ingest cache holds {cache_channels}-channel images but "
                          f"the bundle's model reads {bundle.spec.channels}; rerun the stages after "
                          f"the ingest on this data")
    facts = read_ingest_facts(data_dir)
    if facts.recorded and list(facts.grade_names) != names:
        raise BundleError(f"{data_dir}: the ingest's grades ({', '.join(facts.grade_names)}) are not "
                          f"the bundle's ({', '.join(names)}); rerun fine-tuning on this ingest")
    written: Path | None = None
    referable_csv: Path | None = None
    notes_csv: Path | None = None
    n_flagged = n_not_largest = n_near_tie = 0
    flagged_cases: list[str] = []  # the test cases not reliably gradable (summary.json's flagged_cases)
    summary_name = "summary.json" if variant is None else f"summary_{variant}.json"
    if test_rows:
        graded = _grade_cached(bundle, images, [int(r["cache_index"]) for r in test_rows])
        # blank or noise: measured on each original picture, as the command measures a file,
        # not on its cached copy (Graham-filtered photos read as noise there)
        graded, unread = _originals_nothing_to_grade(bundle, data_dir, test_rows, graded)
        if unread:
            print(f"[export] note: {unread}")
            notes.append(unread)
        probs, grades = graded.probs, graded.classes
        cases = [r["id"] for r in test_rows]
        final = Path(submission_path)
        # per test image, why it is not reliably gradable: --images' rule (image_reasons); the
        # ingest's test split trained nothing, so no image is marked a training image
        reasons = image_reasons(graded)
        n_flagged = sum(1 for why in reasons if why)
        flagged_cases = [case for case, why in zip(cases, reasons, strict=True) if why]
        grade_notes = _grade_notes(bundle, probs, grades)  # the notes file's grade_note column
        # the test images the backbone's pretraining read (transductive, by default): by the
        # manifest's hashes, the notes file's pretraining_image column
        own_record = pretraining_record(Path(bundle.path), bundle.metadata)[0]
        pretrained, stages, _ = _pretraining_marks(own_record,
                                                   [str(r.get("sha256") or "")[:HASH_HEX] or None for r in test_rows])
        notes_file = image_notes_path(final)
        images_dir, note = _check_folder(_test_images_dir(data_dir, test_rows), test_rows, final)
        if note:
            notes.append(note)
        # written and checked under a name that says it failed, renamed onto its own when it
        # passes: a file failing its check is never left where it would be submitted (and an
        # earlier referable file of that name goes before the rename: it must not outlive it)
        theirs = not _same_file(final, own_csv)  # the command line's --out: the user's
        existed = final.exists()
        # the notes and referable files are written under hidden names with the CSV and go
        # into place with it once all are written, as --images writes them: a full disk keeps
        # the earlier set, a kill never leaves a flagged CSV without its notes (--score: clean)
        said_referable: list[tuple[Path | None, str]] = []
        companions: list[Companion] = []
        # a regression head's output, which the P columns do not give back: the notes file, with
        # its score column, for every export (to cut the grades again at other thresholds)
        with_notes = bool(n_flagged) or _score_not_in_file(bundle, "drac")
        if with_notes:
            companions.append((notes_file, lambda tmp, _csv: write_image_notes(
                tmp, cases, [int(c) for c in grades], reasons, [False] * len(cases), grade_notes,
                bundle=bundle.identity, pretrained=pretrained,
                outside=str((own_record or {}).get("initial_weights") or ""), grade_names=bundle.grade_names,
                scores=graded.score)))
        if referable_cut_of(bundle.metadata, k) is not None:
            companions.append((referable_path(final), lambda tmp, csv: said_referable.append(
                write_referable_beside(bundle, final, source=csv, out=tmp))))
        # which model graded, always, as --images writes it (provenance_path)
        grading_record = bundle.grading_provenance(len(cases), command_line(names_only=True, parser=export_parser()),
                                                   tta=bundle.tta_in_cv)
        grading_record["caveats"] = bundle_caveats(bundle, plural=True)  # a trial run, a grade never found
        companions.append((provenance_path(final), _provenance_writer(grading_record, final)))
        written, problems = _write_checked(final, lambda path: write_submission(
            path, cases, probs, grades, num_grades=k), lambda path: check_submission(
                path, images_dir, num_grades=k, grade_names=names or None, cases=cases),
            beside=(referable_path(final), notes_file, provenance_path(final)), companions=companions)
        if problems:
            # the stage's own submission (with its referable and notes files) and summary of an
            # earlier export describe an earlier bundle, not the one just built: they go
            # together, none is left to be taken for this export's; a file of the user's (--out) stays
            earlier = [p for p in (own_csv, referable_path(own_csv), image_notes_path(own_csv),
                                   provenance_path(own_csv), run_dir / "export" / summary_name) if p.is_file()]
            for path in earlier:
                path.unlink()
            left = (f" ({final} is {'as it was' if existed else 'not written'})" if theirs else "")
            raise SubmissionCheckError(
                f"{written}: the written submission fails its check:\n  " + "\n  ".join(problems)
                + f"\n  it is kept as {written} to look at the rows named above, not as {final}{left}: "
                f"do not submit it"
                + (f"\n  removed, as an earlier export wrote them (not to be taken for this one's): "
                   f"{', '.join(str(p) for p in earlier)}" if earlier else ""))
        counts = np.bincount(grades, minlength=k).tolist()
        # the rows with a grade_note, by why (their class not the largest P, or the largest in a
        # near-tie), counted as the command counts them: the notes file holds both kinds
        n_not_largest, n_near_tie, n_equal_shown = grade_note_counts(grade_notes, probs, grades)
        print(f"[export] {bundle.metadata['variant']}: {len(test_rows)} test images graded "
              f"({counts} per grade, {bundle.calibration.decision} decision, "
              f"{'4 flips' if bundle.tta_in_cv else 'no flips'} as in the cross-validation) -> {written} "
              f"(checked against {images_dir or 'the manifest test ids'}; which model graded: "
              f"{provenance_path(final).name})")
        rule = class_rule_said(bundle, n_not_largest, len(cases),
                               f"why in the grade_note column of {notes_file}" if with_notes else "",
                               n_near_tie, smaller_class_rows(probs, grades), n_equal_shown=n_equal_shown)
        print(f"[export]   class = {rule}; "
              f"P0..P{k - 1} = {probability_columns_words(bundle.metadata)}")
        if legend := grade_legend_line(bundle.grade_names):  # as --images says it
            print(f"[export] {legend}", file=sys.stderr)
        referable_csv, line = said_referable[0] if said_referable else (None, "")
        if line:
            print(f"[export] {line}")
        if referable_csv is not None and referable_not_informative(bundle.metadata):
            notes.append(line)  # summary.json's notes keep the caveat with the file's name
        oof = _oof_grades(run_dir, str(bundle.metadata["variant"]))
        for line in (_unlike_line(graded.unlike, cases), _blank_line(graded.blank, cases),
                     _noise_line(graded.noise, cases),
                     _same_grade_line(grades, names or bundle.grade_names),
                     _ensemble_grades_line(grades, oof, names or bundle.grade_names),
                     _pretrained_line(pretrained, stages)):
            if line:
                print(f"[export] note: {line}")
                notes.append(line)
        if with_notes:
            notes_csv = notes_file
        cut_from_score = (bundle.calibration.decision == "thresholds"
                          and not bundle.calibration.referral_decides)  # else no cut of that score gives it
        if with_notes and not n_flagged and cut_from_score:  # a regression head: the score is there alone
            line = (f"the score each class was cut from (the regression output) is in {notes_file}'s "
                    f"score column, to cut the grades again at other thresholds")
            print(f"[export] note: {line}")
            notes.append(line)
        if n_flagged:  # said, and the stage goes on: the submission lists every test case
            line = _notes_line(reasons, [False] * len(cases), written, notes_file, hint="")  # pretrained: said above
            print(f"[export] {line}; not an error: the stage goes on, {written} is complete (every "
                  f"test case has its row)")
            notes.append(line.removeprefix("FLAGGED: "))
    else:
        why = _no_test_images_why(data_dir)
        notes.append(f"the ingest manifest has no test images: no submission written ({why})")
        print(f"[export] no submission written: the ingest manifest has no test images ({why}) -> "
              f"to grade a folder of test images with this run's bundle: {python_command('drac_ssl.export')} "
              f"{shlex.quote(str(run_dir))}{'' if variant is None else ' --variant ' + variant} --images DIR "
              f"--out submission.csv")
    cv = bundle.metadata.get("cv_metrics") or {}
    chance = chance_warning(cv)
    if chance:
        print(f"[export] WARNING: {chance}")
        notes.append(chance)
    uncalibrated = calibration_warning(bundle.metadata)  # report.md's and the card's rule
    if uncalibrated:
        print(f"[export] WARNING: {uncalibrated}")
        notes.append(uncalibrated)
    for caveat in bundle_caveats(bundle, plural=True):  # phantom data, a trial run, never found: the app's words
        print(f"[export] WARNING: {caveat}")
        notes.append(caveat)  # the record says what the console said
    atomic_write_json(run_dir / "export" / summary_name, {
        "bundle": str(bundle_dir), "variant": bundle.metadata["variant"],
        "submission": None if written is None else str(written),
        "n_test": len(test_rows), "tta": bundle.tta_in_cv, "class_names": names,
        "decision": bundle.calibration.decision, "notes": notes,
        # what notes says in words, as keys a pipeline gates on (train exits 0 with any of them)
        **pipeline_keys(cv, bundle.metadata, written, flagged_cases),
        # true: the calibration's temperature sits at the edge of its search range, and the
        # probabilities (P0..) do not say how likely a grade is (calibration_warning, in notes)
        "temperature": bundle.calibration.temperature, "calibration_failed": bool(uncalibrated),
        # how many test rows have a class whose P is below their largest (exact P, as written), of
        # them how many equal the largest at the whole percentages shown, and how many have the
        # largest P in a near-tie (report.md's class line, as the console's)
        **({"n_class_not_most_probable": n_not_largest + n_equal_shown,
            "n_class_not_most_probable_equal_shown": n_equal_shown,
            "n_class_near_tie": n_near_tie} if test_rows else {}),
        # two grades with finetune.referral_target: the class is the referral cut's (report.md's words)
        **({"class_rule": class_rule_said(bundle)}
           if test_rows and getattr(bundle.calibration, "referral_decides", False) else {}),
        # two grades under the thresholds rule: P1 against the threshold, as the console says it
        **({"class_rule": class_rule_said(bundle, n_not_largest, len(test_rows), "why in the grade_note column of "
                                          f"`{_run_relative(notes_csv, run_dir)}`" if notes_csv is not None else "", n_near_tie,
                                          smaller_class_rows(probs, grades), markdown=True,
                                          n_equal_shown=n_equal_shown)}
           if test_rows and two_grade_threshold(bundle) is not None else {}),
        **({"referable": str(referable_csv)} if referable_csv is not None else {}),
        **({"image_notes": str(notes_csv)} if notes_csv is not None else {})})
    print(f"[export] bundle -> {bundle_dir}")
    return ExportResult(bundle_dir, bundle_dir / "metadata.json", bundle_dir / "MODEL_CARD.md",
                        written, len(test_rows), notes, reused, notes_csv, n_flagged)


def pipeline_keys(cv: dict[str, Any], metadata: dict[str, Any], written: Path | None,
                  flagged_cases: Sequence[str]) -> dict[str, Any]:
    """The keys of the training's ``export/summary.json`` that say, for a pipeline, what its
    ``notes`` sentences say (the training exits 0 with any of them): ``n_flagged`` and
    ``flagged_cases`` (the test cases not reliably gradable; 0 and [] also when no image was
    graded, so a gate checks ``submission_written`` with them), ``better_than_chance`` (the
    out-of-fold QWK's bootstrap 95% CI lies above 0; False when :func:`chance_warning` warns,
    None when ``cv``, the bundle's ``cv_metrics``, holds no QWK and interval), ``trial_run``
    (a trial's few steps: :func:`drac_ssl.trial_run.trial_run_words`) and
    ``submission_written`` (False: the ingest manifest has no test images)."""
    from drac_ssl.figures import finite_pair
    from drac_ssl.trial_run import trial_run_words

    defined = isinstance(cv.get("qwk"), int | float) and finite_pair(cv.get("qwk_ci95")) is not None
    return {"n_flagged": len(flagged_cases), "flagged_cases": list(flagged_cases),
            "better_than_chance": (chance_warning(cv) is None) if defined else None,
            "trial_run": bool(trial_run_words(metadata.get("trial_run"))),
            "submission_written": written is not None}


def failed_submission_path(submission: str | os.PathLike[str]) -> Path:
    """Where a submission that fails its check is kept instead of ``submission``:
    ``submission.csv`` -> ``submission.csv.failed`` beside it (not a ``.csv``: neither a
    file dialog filtering CSV files nor a glob for them offers it for submission)."""
    submission = Path(submission)
    return submission.with_name(f"{submission.name}.failed")


Companion = tuple[Path, Callable[[Path, Path], object]]
"""A file written beside a submission that describes it (its notes file, referable file,
skipped record): its path and ``write(tmp, csv)``, which writes it at ``tmp`` from the
checked CSV at ``csv`` (:func:`_write_checked`)."""


NAME_MAX_BYTES = 255
"""The longest file name, in bytes, of the file systems in use (ext4, XFS, APFS, NTFS in UTF-16
units): ``--out`` is refused up front when a file written beside it would exceed it
(:func:`companion_name_problem`)."""


LONGEST_PID = 2**22
"""The largest process id Linux gives (``pid_max`` at most 4194304, 7 digits): the staging names
are sized for it, whatever this process's own id (:func:`_staged_name`)."""


def _longest_staging(name: str) -> str:
    """The longest hidden name written for the file ``name``: its staging name
    (``.NAME.checking-PID``, :func:`_staging_path`; ``new`` and ``old`` are shorter) as
    :func:`drac_ssl.io.atomic_path` writes it, at ``..NAME.checking-PID.tmp-PID``."""
    return f"..{name}.checking-{LONGEST_PID}.tmp-{LONGEST_PID}"


def _staged_name(name: str) -> str:
    """``name`` as a staging name holds it (:func:`_staging_path`): itself, or for a name too long
    to take the hidden prefixes and suffixes with the largest PIDs (:func:`_longest_staging`,
    31 bytes: an ``--out`` of 230 bytes), a short stand-in: ``h`` and 16 hex digits of its
    SHA-256."""
    if len(_longest_staging(name).encode("utf-8", "surrogateescape")) <= NAME_MAX_BYTES:
        return name
    return "h" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _staging_path(path: Path, tag: str) -> Path:
    """The hidden name beside ``path`` a file is written at before it replaces ``path``:
    ``.sub.csv.<tag>-<pid>`` (this process's, so two exports never share one); a name too long
    for that (an outside tester, F6: ``.NAME.checking-PID`` exceeded 255 bytes and the error
    said to check permissions) stands in by a short hash (:func:`_staged_name`)."""
    return path.with_name(f".{_staged_name(path.name)}.{tag}-{os.getpid()}")


COMPANION_SUFFIXES = ("_notes.csv", "_referable.csv", "_provenance.json", ".failed", ".skipped.json")
"""What the export adds to ``--out``'s name for the files it may write beside it (the stem's
``_notes.csv`` ..., the name's ``.failed``, the ``.skipped.json`` record)."""


def companion_name_problem(out: str | os.PathLike[str]) -> str | None:
    """The refusal of an ``--out`` whose name, or a file name the export writes beside it
    (:data:`COMPANION_SUFFIXES`), is longer than :data:`NAME_MAX_BYTES` bytes; None when all fit."""
    final = Path(out)
    names = [final.name, image_notes_path(final).name, referable_path(final).name,
             provenance_path(final).name, failed_submission_path(final).name,
             skipped_record_path(final).name]
    longest = max(names, key=lambda n: len(n.encode("utf-8", "surrogateescape")))
    size = len(longest.encode("utf-8", "surrogateescape"))
    if size <= NAME_MAX_BYTES:
        return None
    spare = NAME_MAX_BYTES - (size - len(final.name.encode("utf-8", "surrogateescape")))
    return (f"--out {out}: name too long (max {NAME_MAX_BYTES} bytes with the suffixes the export "
            f"adds for the files beside it: {', '.join(COMPANION_SUFFIXES)}; {longest[:24]}... would be "
            f"{size} bytes)\n  fix: --out a shorter file name, at most {spare} bytes")


_STAGED = re.compile(r"^\.(?:\.(?P<written>.+)\.(?:checking|new)-\d+\.tmp-\d+"
                     r"|(?P<name>.+)\.(?:checking|new|old)-\d+)$")
"""A file :func:`_write_checked` writes or sets aside under a hidden name: the checked CSV
(``checking``), a companion (``new``), an earlier file renamed aside (``old``), ``-PID``; or
one of the first two while :func:`drac_ssl.io.atomic_path` wrote it
(``..NAME.new-PID.tmp-PID``: ``written``)."""


def _remove_stale_staging(folder: Path, names: set[str]) -> list[Path]:
    """Remove the hidden files of :data:`_STAGED` for ``names`` in ``folder`` that a killed
    export left (its ``PID`` no longer runs: :func:`drac_ssl.io.temporary_pid_alive`) and
    return them. Never trusted: a set is replaced whole or not at all, and a kill -9 in the
    middle leaves half of each; this export writes the set again."""
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    for path in entries:
        match = _STAGED.match(path.name)
        if (match is None or (match["name"] or match["written"]) not in {*names, *map(_staged_name, names)}
                or temporary_pid_alive(path)):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return sorted(removed)


EARLIER_SET_KEPT = "earlier_set_kept"
"""The attribute :func:`_write_checked` sets on an ``OSError`` it raises: True when the earlier
submission set is as it was (nothing replaced, or every rename undone), False when undoing
failed too (the exception's notes say where the earlier files are). Absent: the error was
raised elsewhere, after or before the set was replaced."""



def bundle_caveats(bundle: Bundle, plural: bool) -> list[str]:
    """What applies to every grade of the bundle, in the app's words: its caveats
    (:func:`drac_ssl.grading.bundle.grade_caveats`: an untrained demo, phantom training images,
    a trial run ...), then the grades it never found out of fold
    (:func:`drac_ssl.grading.bundle.never_found_words`: ``Out of fold this model never found PDR
    (0 of 72 images): a grade other than PDR does not rule it out.``, the grades named as the app
    names them). Printed as warnings by both commands and kept in the provenance sidecar's
    ``caveats`` (a list of sentences; empty for none), beside a CSV that stays DRAC's format."""
    from drac_ssl.scale import grade_names_for_people  # noqa: PLC0415

    never = never_found_words(bundle.metadata, list(grade_names_for_people(bundle.grade_names)))
    return [*grade_caveats(bundle.metadata, plural=plural), *([never] if never else [])]


def _provenance_writer(record: dict[str, Any], final: Path) -> Callable[[Path, Path], object]:
    """The companion writing the grading provenance ``record``
    (:meth:`drac_ssl.grading.bundle.Bundle.grading_provenance`) for the CSV written as
    ``final``, tied to it: ``submission`` = its file name and the SHA-256 of the checked CSV
    (the hidden file renamed onto ``final``, the same bytes), which ``export --check`` compares
    (:func:`drac_ssl.submission.provenance_words`)."""
    def write(tmp: Path, csv: Path) -> object:
        return write_grading_provenance(tmp, record, csv, csv_name=final.name)
    return write


def _write_checked(final: Path, write: Callable[[Path], Path],
                   check: Callable[[Path], Sequence[str]],
                   beside: Sequence[Path] = (),
                   companions: Sequence[Companion] = ()) -> tuple[Path, list[str]]:
    """Write a submission with ``write(path)`` under a hidden name beside ``final`` and
    ``check(path)`` it (``FILE:LINE: what -> fix`` lines, naming that file). When the check
    fails, the file is renamed to :func:`failed_submission_path` of ``final`` and ``final``
    and ``beside`` are untouched. When it passes, each of ``companions`` (the files that
    describe the new CSV: its notes file, referable file, skipped record) is written under a
    hidden name too; only when every write succeeded is the old set replaced, by renames
    alone: the earlier file at ``final`` renamed aside (``.NAME.old-PID``), each companion
    renamed onto its path (the file there aside first), the files of ``beside`` that no
    companion replaces renamed aside (records of the old CSV must not outlive it), and the CSV
    renamed onto ``final``; then the files aside and an earlier try's failed file are removed.
    Ctrl-C, and SIGTERM where :func:`drac_ssl.starting.sigterm_as_ctrl_c` turns it into one,
    are held back meanwhile (:func:`drac_ssl.starting.interrupts_deferred`). A rename that
    fails (``OSError``) undoes those before it, in reverse, so the earlier set is as it was.

    A write that fails (a full disk, a file-size limit: ``OSError`` naming the file it was
    writing, not the hidden name) or is cut short (an exception, Ctrl-C) removes what this call
    wrote and leaves ``final`` and ``beside`` as they were; every ``OSError`` raised carries
    :data:`EARLIER_SET_KEPT` (True; False only when undoing the renames failed too). A kill -9
    (or a power cut) during the renames, which take microseconds, can leave no submission at
    ``final`` with part of the new set in place and the rest under the hidden names, never a
    submission beside records of another (a flagged CSV without its notes file reads as clean
    to ``--score``); the next call removes the hidden files of a process that no longer runs
    (:func:`_remove_stale_staging`: said on stderr) and writes the set again. A checked CSV is
    never named ``.failed``. Returns the file's path (``final``, or the failed name) and the
    problems."""
    names = {final.name, *(p.name for p in beside), *(p.name for p, _ in companions)}
    for stale in _remove_stale_staging(final.parent, names):
        print(f"note: removed {stale}: left by an export that was killed while it replaced "
              f"{final.name} and the files beside it; this one writes them again", file=sys.stderr)
    pending = _staging_path(final, "checking")
    staged: list[tuple[Path, Path]] = []  # (hidden name, its path)
    try:
        try:
            write(pending)
        except OSError as exc:
            if exc.filename in (None, str(pending)):
                exc.filename = str(final)
            raise
        problems = list(check(pending))
        if problems:
            failed = failed_submission_path(final)
            os.replace(pending, failed)  # the problems name the file by the name it is kept as
            return failed, [problem.replace(str(pending), str(failed)) for problem in problems]
        for path, write_one in companions:
            tmp = _staging_path(path, "new")
            staged.append((tmp, path))
            try:
                write_one(tmp, pending)
            except OSError as exc:
                if exc.filename in (None, str(tmp)):
                    exc.filename = str(path)  # the file the user knows, not the hidden name
                raise
    except BaseException as exc:
        for path in (pending, *(tmp for tmp, _ in staged)):
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            setattr(exc, EARLIER_SET_KEPT, True)
        raise
    with interrupts_deferred():
        _replace_set(final, pending, staged, beside)
    fsync_folder(final.parent)
    return final, []


def _replace_set(final: Path, pending: Path, staged: Sequence[tuple[Path, Path]],
                 beside: Sequence[Path]) -> None:
    """The renames of :func:`_write_checked`: the earlier files aside, the new ones onto their
    names, the CSV last; the files aside removed at the end. An ``OSError`` undoes the renames
    done, in reverse, removes the new files and is raised with :data:`EARLIER_SET_KEPT`."""
    done: list[tuple[Path, Path]] = []  # (from, to), undone in reverse

    def rename(source: Path, target: Path) -> None:
        os.replace(source, target)
        done.append((source, target))

    def aside(path: Path) -> None:
        if path.exists() or path.is_symlink():
            rename(path, _staging_path(path, "old"))

    replaced = {path for _, path in staged}
    try:
        aside(final)
        for tmp, path in staged:
            aside(path)
            rename(tmp, path)
        for path in beside:
            if path not in replaced:
                aside(path)
        rename(pending, final)
    except OSError as exc:
        left = []
        for source, target in reversed(done):
            try:
                os.replace(target, source)
            except OSError as undo:
                left.append(f"{target} (was {source}: {undo.strerror or undo})")
        for path in (pending, *(tmp for tmp, _ in staged)):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        setattr(exc, EARLIER_SET_KEPT, not left)
        if left:
            exc.add_note("the earlier files could not all be put back: " + "; ".join(left))
        raise
    for _, target in done:
        if target.name.startswith(".") and target.name.endswith(f".old-{os.getpid()}"):
            with contextlib.suppress(OSError):
                target.unlink()
    failed_submission_path(final).unlink(missing_ok=True)  # an earlier try's, superseded


def _run_relative(path: Path, run_dir: Path) -> str:
    """``path`` relative to ``run_dir`` (``export/submission_notes.csv``) when inside it, as
    report.md names a run's files; else as it is."""
    return path.relative_to(run_dir).as_posix() if path.is_relative_to(run_dir) else str(path)


def two_grade_threshold(bundle: Bundle) -> float | None:
    """The one threshold on P1 that decides a two-grade bundle's class under
    ``finetune.decision=thresholds`` (a classification head: its expected grade is P1), else None
    (more grades, ``argmax``, a regression head, or the referral cut deciding instead)."""
    cal = bundle.calibration
    regression = (bundle.metadata.get("model") or {}).get("output") == "regression"
    if (len(bundle.grade_names) != 2 or cal.decision != "thresholds" or regression
            or getattr(cal, "referral_decides", False) or len(cal.thresholds) != 1):
        return None
    return float(cal.thresholds[0])


def class_rule_said(bundle: Bundle, n_not_largest: int = 0, n_rows: int = 0, why: str = "",
                    n_near_tie: int = 0, n_smaller: int = 0, *, markdown: bool = False,
                    n_equal_shown: int = 0) -> str:
    """The export's ``class = ...`` words of a bundle (after ``class = ``, with the setting that
    made the rule): :func:`drac_ssl.submission.class_rule_setting_words`, ``... (finetune.decision=...)``;
    for a two-grade bundle whose referral cut decides the grade
    (:attr:`drac_ssl.grading.model.Calibration.referral_decides`, ``finetune.referral_target``),
    ``1 when P1 >= 0.2315, the referral cut set for sensitivity >= 0.90 on the out-of-fold
    outputs, else 0 (finetune.referral_target=sensitivity:0.90)``; for a two-grade bundle under
    the thresholds rule (:func:`two_grade_threshold`), P1 against its threshold
    (:func:`drac_ssl.submission.two_grade_rule_words`, as the notes' ``grade_note`` says it):
    ``n_smaller`` rows whose class has the smaller P (:func:`drac_ssl.submission.smaller_class_rows`),
    the other noted rows (``n_not_largest + n_near_tie - n_smaller``) near-ties, never "the
    largest P" (a trial: "for 6 of the 6 here it is" beside P0 0.500427 > P1 0.499573, class 1).
    ``markdown``: the setting in backticks (report.md). The three counts are
    :func:`drac_ssl.submission.grade_note_counts`' (``n_equal_shown``: a class whose P is below
    the largest, equal to it at the whole percentages shown)."""
    cal = bundle.calibration
    if getattr(cal, "referral_decides", False) and cal.referral is not None:
        cut = cal.referral
        return (f"1 when P1 >= {cut.cut:.6f}, the referral cut set for {cut.words()} on the out-of-fold "
                f"outputs, else 0 (finetune.referral_target={cut.target})")
    if (threshold := two_grade_threshold(bundle)) is not None:
        n_noted = n_not_largest + n_near_tie + n_equal_shown
        n_smaller = min(n_smaller, n_noted) if n_noted else n_smaller
        return two_grade_rule_words(threshold, n_smaller, n_rows, why,
                                    max(0, n_noted - n_smaller), cal.decision, markdown=markdown)
    return class_rule_setting_words(cal.decision, n_not_largest, n_rows, why, n_near_tie, markdown=markdown,
                                    n_equal_shown=n_equal_shown)


def write_referable_beside(bundle: Bundle, submission: Path, source: Path | None = None,
                           out: Path | None = None) -> tuple[Path | None, str]:
    """When the bundle's cross-validated figures have a referable-DR cut (``cv_metrics``'s
    ``referable``: ``finetune.referable_from``, auto = grade >= 2 on the ICDR scale, grade 1
    with two grades; never on DRAC's scale unless set; a cut that is not an int in ``1 .. K-1``,
    ``True`` included, is
    none: :func:`drac_ssl.grading.bundle.referable_cut_of`, the app's rule too), write
    ``<submission stem>_referable.csv`` beside the submission
    (:func:`drac_ssl.submission.write_referable`: ``case,P_referable,referable``) and return
    its path and the console line; else ``(None, "")``. For a model whose P(referable) carries
    no information (:func:`drac_ssl.grading.bundle.referable_not_informative`: its referable
    AUC's 95% CI not above 0.5 or not recorded, whatever the QWK; the app leaves the figure
    out), the file is still written, with a ``not_informative`` column giving the reason on
    every row, and the line says it too. The submission itself is
    unchanged (its format is fixed). ``source``: where the submission's rows are read when not
    yet at ``submission`` (the checked CSV under its hidden name), ``out``: where the file is
    written when not at its own path (a hidden name that :func:`_write_checked` renames onto
    it once every file of the set is written); the path returned and the line name its own
    path beside ``submission``, where it lands. The callers replace an earlier referable file
    with the submission, so none outlives a submission it does not describe.

    A bundle with a referral cut (its calibration's ``referral``, ``finetune.referral_target``)
    refers by it: ``referable`` is 1 when the row's written ``P_referable`` is at or above the
    cut (K > 2; the grades, and so ``class``, are unchanged), and with two grades, where the cut
    is the grade decision, the written ``class`` (its grade 1 is P1 at or above the cut); the
    line names the cut and the target it was set for. A bundle without one refers by ``class``
    as before."""
    k = bundle.calibration.num_grades
    check_referral_cut(bundle)  # a hand-edited bundle, its cut on other grades: refused, as the app does
    r = referable_cut_of(bundle.metadata, k)  # the app's rule: an int in 1..K-1, not True
    if r is None:
        return None, ""
    why = referable_not_informative(bundle.metadata)  # the app's rule and words
    referral = getattr(bundle.calibration, "referral", None)  # None: a bundle without one
    cut = referral.cut if referral is not None and k > 2 else None  # two grades: class is the cut's
    write_referable(submission if source is None else source, r, out=out, not_informative=why, cut=cut)
    path = referable_path(submission)
    rule = bundle.metadata["cv_metrics"]["referable"].get("rule") or f"referable = grade >= {r}"
    decided = (f"class >= {r}" if referral is None else
               f"P_referable >= {referral.cut:.6f}, the referral cut set for {referral.words()} on the "
               f"out-of-fold outputs (finetune.referral_target={referral.target})"
               + (", which is the class with two grades" if k == 2 else ""))
    line = (f"referable DR ({rule}): P_referable = P{r}"
            + ("".join(f"+P{g}" for g in range(r + 1, k)) if k - r <= 3 else f"+..+P{k - 1}")
            + f" and referable = 1 when {decided}, per case -> {path}")
    if why:
        line += (f"; NOT INFORMATIVE: {why} (the app does not show this probability; the file's "
                 f"{NOT_INFORMATIVE_COLUMN} column says so on every row)")
    return path, line


def selected_other_line(run_dir: str | os.PathLike[str], variant: str) -> str:
    """``"the run selected scratch, not vicreg: <selection>; <selection_evidence>"`` from
    ``finetune/summary.json`` when the run selected another variant than ``variant``; ""
    when it selected ``variant`` (or its summary is unreadable)."""
    summary = read_json_dict(Path(run_dir) / "finetune" / "summary.json") or {}
    selected = summary.get("selected")
    if not selected or selected == variant:
        return ""
    why = "; ".join(str(w) for w in (summary.get("selection"), summary.get("selection_evidence")) if w)
    return f"the run selected {selected}, not {variant}" + (f": {why}" if why else "")


def variant_lines(run_dir: str | os.PathLike[str], variant: str, bundle_dir: Path,
                  reused: bool, other: str, rebuilt: str = "") -> list[str]:
    """The console lines of a variant exported by name: which bundle grades (built now or
    reused), and, when the run selected another variant, that one and why (``other``:
    :func:`selected_other_line`); a reused bundle built before bundles recorded a fact the run
    records now (the training images' bit depths) is said with how to rebuild it
    (:func:`drac_ssl.grading.bundle.reused_bundle_note`); ``rebuilt``: why a bundle that
    was there was built again (:func:`drac_ssl.grading.bundle.build_or_reuse_bundle`'s ``said``)."""
    how = ("reused: built from the same fine-tuning outputs" if reused else rebuilt if rebuilt else
           f"built from {Path(run_dir) / 'finetune' / variant}")
    lines = [f"bundle: {bundle_dir} ({variant}, {how})"]
    stale = reused_bundle_note(run_dir, bundle_dir) if reused else ""
    if stale:
        lines.append(f"note: {stale}")
    if other:
        lines.append(f"note: {other}; this bundle is {variant}, as asked for by name "
                     f"(the run's own export is {Path(run_dir) / 'bundle'})")
    return lines


# --------------------------------------------------------------------------------------
# Command line


def _flagged_line(flags: np.ndarray | None, cases: Sequence[str], what: str, after: tuple[str, str],
                  verbs: tuple[str, str] = ("is", "are")) -> str:
    """``"<k> of the <n> image(s) is/are <what>: a.png, b.png (at most 10 named). <after>"``
    (``verbs`` and ``after``: the singular and the plural, for one flagged image and for
    several), or "" when no case is flagged (or ``flags`` is None)."""
    if flags is None or not flags.any():
        return ""
    flagged = [c for c, f in zip(cases, flags, strict=True) if f]
    shown = ", ".join(flagged[:10]) + (f" and {len(flagged) - 10} more" if len(flagged) > 10 else "")
    one = len(flagged) == 1
    return f"{len(flagged)} of the {len(cases)} image(s) {verbs[not one]} {what}: {shown}. {after[not one]}"


SKIP_HINT = ("--skip-unreadable (clinic batch grading) leaves such an image out, as the app "
             "refuses it")
"""What the command line adds to its blank and noise lines (:func:`_blank_line`,
:func:`_noise_line`): how to leave such an image out instead."""


def _blank_line(blank: np.ndarray, cases: Sequence[str], hint: str = "") -> str:
    """The line naming the blank or near-constant images (graded, so that a submission lists
    every case, but with nothing to grade: their grades must not be used); ``hint``, when
    given, follows (:data:`SKIP_HINT`)."""
    after = f" {hint}." if hint else ""
    return _flagged_line(blank, cases, "blank or near-constant", (
        "There is nothing to grade in it: its grade must not be used; its row is in the CSV only "
        f"so that it lists every case.{after}",
        "There is nothing to grade in them: their grades must not be used; their rows are in the "
        f"CSV only so that it lists every case.{after}"))


def _noise_line(noise: np.ndarray, cases: Sequence[str], hint: str = "") -> str:
    """The line naming the images that look like random noise
    (:func:`data_prep.validate.looks_like_noise`, what the app refuses): graded, so that a
    submission lists every case, but their grades mean nothing and must not be used;
    ``hint``, when given, follows (:data:`SKIP_HINT`)."""
    from data_prep.validate import NOISE_CORRELATION, NOISE_MEASURED

    measured = (f"(adjacent-pixel correlation at or below {NOISE_CORRELATION}, on 2 x 2 and 4 x 4 "
                f"block means too; {NOISE_MEASURED})")
    check = "if it should be a real image, it is damaged (copy or export it again); the app refuses it."
    after = f" {hint}." if hint else ""
    return _flagged_line(noise, cases, "random noise", (
        f"Its neighbouring pixels are unrelated {measured}, so its grade means nothing and must not "
        f"be used; its row is in the CSV only so that it lists every case. Check the file: {check}{after}",
        f"Their neighbouring pixels are unrelated {measured}, so their grades mean nothing and must "
        f"not be used; their rows are in the CSV only so that it lists every case. Check each file: "
        f"{check}{after}"),
        verbs=("looks like", "look like"))


def _copies_line(files: Sequence[Path]) -> str:
    """The line naming graded files that are byte-identical to another graded file (the
    ingest refuses such copies; a folder of test images with ``1003 copy.png`` beside
    ``1003.png`` would otherwise give one case two rows, graded alike, without a word); ''
    when there are none."""
    by_size: dict[int, list[Path]] = {}
    for path in files:  # only files of one size can be copies: most are hashed never
        by_size.setdefault(path.stat().st_size, []).append(path)
    first: dict[str, Path] = {}
    pairs = []
    for path in (p for same in by_size.values() if len(same) > 1 for p in same):
        digest = sha256_file(path)
        if digest in first:
            pairs.append(f"{printable_text(path.name)} = {printable_text(first[digest].name)}")
        else:
            first[digest] = path
    if not pairs:
        return ""
    shown = "; ".join(pairs[:5]) + (f"; ... ({len(pairs) - 5} more)" if len(pairs) > 5 else "")
    return (f"{len(pairs)} image(s) are byte-identical copies of another image in the folder ({shown}): "
            f"each copy has its own row, with the same grade; if the folder should hold each case "
            f"once, remove the copies and export again")


def grade_legend_line(grade_names: Sequence[str]) -> str:
    """The export's legend of its ``class`` numbers in the bundle's grade names as people are
    shown them (:func:`drac_ssl.scale.grade_names_for_people`: ICDR's ``grades: 0 No apparent DR;
    1 Mild NPDR; ...; 3 Severe NPDR; 4 PDR``, the words of the notes file's ``grade_note`` and the
    app's page, not the recorded ``3 Severe``; a second read), printed on
    stderr with each written submission: ``grades: 0 none; 1 non-proliferative; 2
    proliferative`` (entries apart by ``"; "``: a name may hold a comma, and ``grades: 0 a, b, 1
    c`` read as three grades, a review); ``""`` for DRAC's three (``GRADE_SCALES["drac"]``: the console of a
    DRAC export is unchanged) and for names that are only the numbers (``0``, ``1`` ...: nothing
    to say). The submission keeps DRAC's ``case,class,P0..P{K-1}``, numbers only, and the notes
    file's ``grade_name`` column is written only when some row is flagged, a training or
    pretraining image or has a grade note: a clean batch of a bundle with its own names would
    otherwise show them nowhere (a review). Control characters escaped
    (:func:`drac_ssl.submission.printable_text`): the names are the user's config."""
    names = [str(n) for n in grade_names]
    if tuple(names) == tuple(GRADE_SCALES["drac"]) or names == [str(k) for k in range(len(names))]:
        return ""
    return "grades: " + "; ".join(f"{k} {printable_text(n)}" for k, n in enumerate(grade_names_for_people(names)))


def _same_grade_line(grades: np.ndarray, grade_names: Sequence[str]) -> str:
    """The line when every image got one grade (:func:`same_grade_words`, the app's words), ''
    otherwise."""
    words = same_grade_words([int(g) for g in grades], grade_names)
    return (f"{words}: check that they are the kind of image this model was trained on (its "
            f"MODEL_CARD.md), and that the model grades better than chance" if words else "")


ENSEMBLE_CHECK_MIN_IMAGES = 20
"""The export compares the fold ensemble's grades with the out-of-fold ones only for at least
this many test images (fewer say nothing about shares)."""
ENSEMBLE_CHECK_SHARE = 0.10
"""A grade the single fold models gave to at least this share of the out-of-fold images, and
the ensemble to none of the test images, is said (:func:`_ensemble_grades_line`)."""


def _ensemble_grades_line(test_grades: np.ndarray, oof_grades: np.ndarray | None,
                          grade_names: Sequence[str]) -> str:
    """The line when the fold ensemble gave NO test image a grade that the single fold models
    gave to at least :data:`ENSEMBLE_CHECK_SHARE` of the out-of-fold images ('' otherwise,
    with fewer than :data:`ENSEMBLE_CHECK_MIN_IMAGES` test images, or without out-of-fold
    grades).

    Why: the cross-validated figures are those of single fold models, each with its own
    cross-fitted calibration; the bundle averages the fold models and decides on the average
    with the calibration fitted on single models' outputs. Averaging narrows the spread of the
    expected grade, and a fold model that gives every image nearly one score pulls the mean,
    so a grade can vanish (a review's tiny run: out-of-fold 12 of 30 images PDR, the ensemble
    none of 36). A different test set can also explain it, so this is a note to look, not an
    error. Short of a grade vanishing, the out-of-fold figures (the model card's per-grade
    sensitivity among them) still describe single fold models, not the submission's grades, and
    no line here compares them: on the default job's phantom test set, whose grades are known,
    the submission found PDR less often than out of fold, as each fold model alone did, and the
    thresholds rule gave 134 of 386 grades milder than their most likely grade
    (``bench/results/ensemble_grade.json``, docs/design.md "What the figures describe, and what
    is deployed"; the app warns of each such image). ``test_grades`` ``(n,)`` and
    ``oof_grades`` ``(m,)`` are integer grades."""
    if oof_grades is None or len(test_grades) < ENSEMBLE_CHECK_MIN_IMAGES or not len(oof_grades):
        return ""
    k = len(grade_names)
    oof_share = np.bincount(np.asarray(oof_grades, dtype=np.int64), minlength=k)[:k] / len(oof_grades)
    test_counts = np.bincount(np.asarray(test_grades, dtype=np.int64), minlength=k)[:k]
    gone = [g for g in range(k) if oof_share[g] >= ENSEMBLE_CHECK_SHARE and test_counts[g] == 0]
    if not gone:
        return ""
    which = " or ".join(f"{grade_names[g]} (grade {g})" for g in gone)
    shares = " and ".join(f"{grade_names[g]} to {100 * oof_share[g]:.0f} %" for g in gone)
    return (f"the fold ensemble graded none of the {len(test_grades)} test images as {which}, though "
            f"out of fold the single fold models gave {shares} of the {len(oof_grades)} labelled "
            f"images (each image graded by the fold model that did not train on it). The "
            f"cross-validated figures are those of single fold models; the bundle averages them, "
            f"which can shift grades (a fold model giving nearly one score to every image pulls "
            f"the mean), or the test images differ. Look for such a fold in report.md's fold "
            f"table; finetune.decision=argmax does not cut the averaged expected grade at "
            f"thresholds fitted on single models")


def _oof_grades(run_dir: Path, variant: str) -> np.ndarray | None:
    """The out-of-fold grades (``pred``) of ``variant``'s ``oof.csv``; None when unreadable."""
    try:
        return read_oof(run_dir / "finetune" / variant / OOF_FILE).pred
    except OofError:
        return None


def _unlike_line(flags: np.ndarray | None, cases: Sequence[str]) -> str:
    """The line naming the images the bundle's out-of-distribution check flags
    (:func:`drac_ssl.grading.predict.grade_images`); ``flags`` None: the bundle has none."""
    return _flagged_line(flags, cases, "unlike the model's training images (its out-of-distribution "
                         "check, see the model card)", (
                             "Its grade may mean nothing; check that it is the kind of image the "
                             "model was trained on.",
                             "Their grades may mean nothing; check that they are the kind of image "
                             "the model was trained on."))


class ImagesFolderMissing(ImagesFolderError, FileNotFoundError):
    """:func:`list_images` of a folder that does not exist: an
    :class:`~drac_ssl.submission.ImagesFolderError` (its message names the folder and the fix)
    and the FileNotFoundError (``errno.ENOENT``) it raised before, so ``except OSError`` still
    catches it."""

    def __init__(self, message: str, folder: str | os.PathLike[str] = "") -> None:
        super().__init__(message, folder)
        self.errno = errno.ENOENT


class ImagesFolderNotAFolder(ImagesFolderError, NotADirectoryError):
    """:func:`list_images` of a path that is no folder (a file): an
    :class:`~drac_ssl.submission.ImagesFolderError` and the NotADirectoryError
    (``errno.ENOTDIR``) it raised before."""

    def __init__(self, message: str, folder: str | os.PathLike[str] = "") -> None:
        super().__init__(message, folder)
        self.errno = errno.ENOTDIR


class ImagesFolderUnreadable(ImagesFolderError, OSError):
    """:func:`list_images` of a folder that cannot be listed (permissions, a network drive): an
    :class:`~drac_ssl.submission.ImagesFolderError` and an OSError, its ``errno`` the listing's."""

    def __init__(self, message: str, folder: str | os.PathLike[str] = "", code: int | None = None) -> None:
        super().__init__(message, folder)
        self.errno = code


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files of ``folder`` (named as images, not hidden), in natural order (``2.png`` <
    ``10.png``); the files it leaves out, and why, are :func:`drac_ssl.submission.read_folder`'s.

    Raises:
        drac_ssl.submission.ImagesFolderError: ``folder`` is missing, no folder (a file), or
            cannot be listed (the message names it and the fix), as
            :func:`drac_ssl.submission.check_submission` says it of its ``images_dir``; each an
            OSError too, as before (:class:`ImagesFolderMissing`, a FileNotFoundError;
            :class:`ImagesFolderNotAFolder`, a NotADirectoryError; :class:`ImagesFolderUnreadable`).
            A folder without images gives ``[]``."""
    from data_prep.validate import natural_key

    path = Path(folder)
    if not path.is_dir() and path.exists():
        raise ImagesFolderNotAFolder(f"{path}: no such image folder ({'a file' if path.is_file() else 'no folder'})"
                                     f"\n  fix: give the folder of the images, e.g. {path.parent}", path)
    if not path.is_dir():
        raise ImagesFolderMissing(f"{path}: no such image folder\n  fix: give the folder of the images "
                                  f"(check the path)", path)
    try:
        return sorted(read_folder(path).images, key=lambda p: natural_key(p.name))
    except OSError as exc:
        raise ImagesFolderUnreadable(f"{path}: the image folder cannot be listed ({exc.strerror or exc})\n  fix: "
                                     f"check that it can be read (permissions, a network drive)", path,
                                     exc.errno) from None


SUBFOLDER_NOTES = 10
"""Sub-folders of an ``--images`` folder named in a note each, at most (then one line counts
the rest), as the ingest prints at most 10 lines of one kind."""
SUBFOLDER_WHY = "a sub-folder, not graded (only the files of {folder} itself are)"
SUBFOLDER_FIX = "move its images up one level if they belong to this set"
"""Why a sub-folder of ``--images`` is not graded (``{folder}``: the folder), and the fix: its
``note:`` and its entry in the skipped-files record."""
HIDDEN_WHY = ("a hidden or system file (the operating system's, e.g. .DS_Store, Thumbs.db), "
              "never graded")
HIDDEN_FIX = ("nothing to do for the operating system's files; an image to grade must not be "
              "hidden (a name without the leading dot)")
"""Why a hidden file of ``--images`` is not graded, and the fix: its entry in the record (the
console says nothing of such files)."""
# CASE_NAME_KIND and _case_name_problems (drac_ssl.submission.case_name_problems) are imported
# above: the listing rules of --images, shared with drac_ssl.grading.batch.grade_folder


def _cannot_grade(problems: list[Problem], n_skipped: int, n_files: int, n_images: int, single: bool,
                  skip_unreadable: bool, early: bool = False) -> BundleError:
    """The error of an ``--images`` export that writes nothing: ``n_skipped`` of the ``n_files``
    files (``n_images`` of them named as images and not refused by name) cannot be graded,
    each problem's line (sorted by file name) and the fix. ``early``: said from the names
    alone (:func:`_case_name_problems`), before any image was read or graded."""
    from data_prep.validate import natural_key

    if single:  # one file: no folder to move it out of, nothing else to grade
        fix = ("rename it as said above" if any(p.kind == CASE_NAME_KIND for p in problems) else
               "re-copy or re-export the image")
    else:
        fix = ("re-copy or re-export these files" if n_files == n_images else
               "mend each as said above") + ", or move them out of the folder" + (
            "" if skip_unreadable else
            "; or, to grade the readable images alone (clinic batch grading; the CSV then lacks "
            "these cases, so it is not a complete submission), add --skip-unreadable")
    problems.sort(key=lambda p: natural_key(Path(p.path).name))
    read = "graded" if any(p.kind == NOT_GRADABLE_KIND for p in problems) else "read"
    what = f"{n_files} file(s) cannot be graded" if n_files > n_images else f"{n_images} image(s) cannot be {read}"
    when = "nothing written; no image read or graded yet" if early else "nothing written"
    return BundleError(f"{n_skipped} of the {what} ({when}):\n  "
                       + "\n  ".join(p.line for p in problems) + f"\n  fix: {fix}")


def _left_out(found: FolderFiles | None, folder: Path) -> list[dict[str, str]]:
    """Every entry of an ``--images`` folder that is neither graded nor a skipped file, for the
    skipped-files record (:func:`skipped_record_path`): the files holding no image
    (``notes.txt``, ``scan.dcm``; a broken link not named as an image), the sub-folders (not
    searched) and the hidden and system files, each ``{"file", "path", "kind", "problem",
    "fix"}`` (``kind``: ``not an image``, ``broken link``, ``sub-folder`` or ``hidden``), so
    that a program reading the record learns of every entry not graded. [] for one file."""
    if found is None:
        return []
    entries = []
    for path, why in found.not_images:
        broken = broken_link_words(path) is not None
        entries.append((path, "broken link" if broken else "not an image", why,
                        "point the link at the image, or remove it" if broken else NOT_AN_IMAGE_FIX))
    entries += [(sub, "sub-folder", SUBFOLDER_WHY.format(folder=folder), SUBFOLDER_FIX)
                for sub in found.subfolders]
    entries += [(path, "hidden", HIDDEN_WHY, HIDDEN_FIX) for path in found.hidden]
    return [{"file": path.name, "path": str(path), "kind": kind, "problem": why, "fix": fix}
            for path, kind, why, fix in entries]


NO_IMAGE_SUFFIXES = (".txt", ".csv", ".tsv", ".json", ".xml", ".log", ".md", ".yaml", ".yml",
                     ".ini", ".cfg", ".html", ".htm", ".pdf", ".rtf", ".doc", ".docx", ".xls",
                     ".xlsx", ".odt", ".ods")
"""File name suffixes of text and office documents: such a file of an ``--images`` folder
(holding no image: no DICOM, no damaged image) is clearly no image (:func:`_clearly_no_image`)."""

def _clearly_no_image(path: Path) -> bool:
    """Whether a file of an ``--images`` folder that the export does not grade as an image
    (:attr:`drac_ssl.submission.FolderFiles.not_images`) clearly holds no image, so that a
    folder of such files is a night without images (exit 5): plain text or an empty file,
    whatever its name, or a text or office document by its suffix (:data:`NO_IMAGE_SUFFIXES`:
    a ``notes.txt``, a ``worklist.csv``, a report PDF). Not so (someone must look: exit 2) for
    a file named as an image format the export does not read (``.webp``, ``.dcm``:
    :data:`drac_ssl.grading.image_notes.DICOM_SUFFIXES`), one holding a DICOM file or the first bytes of a damaged
    image, a broken link, one that cannot be read, and any other content (a ZIP archive may
    hold the night's images)."""
    from data_prep.decode import content_words
    from drac_ssl.grading.image_notes import DICOM_SUFFIXES, OTHER_IMAGE_SUFFIXES

    suffix = path.suffix.lower()
    if (broken_link_words(path) is not None or suffix in OTHER_IMAGE_SUFFIXES
            or suffix in DICOM_SUFFIXES):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return False
    words = content_words(head)
    if words.startswith(("a DICOM", "the first bytes of")):
        return False
    return words.startswith('text "') or words == "an empty file" or suffix in NO_IMAGE_SUFFIXES


def _holds_nothing(folder: Path) -> bool:
    """Whether ``folder`` holds nothing that could be an image to grade, at any depth: only
    hidden and system files (:func:`data_prep.layout.is_hidden`, a ``.DS_Store``; a hidden
    folder is not looked into) and files that clearly hold no image (:func:`_clearly_no_image`:
    a job's ``logs/run.txt``, last night's ``results/grades.csv``): a
    sub-folder of an ``--images`` folder on a night without images. False for anything else:
    an image or image-like file (a DICOM file), a symbolic link, a folder that cannot be
    listed."""
    from data_prep.layout import is_hidden

    stack = [folder]
    while stack:
        try:
            entries = list(stack.pop().iterdir())
        except OSError:
            return False
        for entry in entries:
            if is_hidden(entry):
                continue
            if entry.is_dir() and not entry.is_symlink():
                stack.append(entry)
            elif entry.is_symlink() or not entry.is_file() or not _clearly_no_image(entry):
                return False
    return True


def _nothing_there(found: FolderFiles) -> bool:
    """Whether an ``--images`` folder (``found``: :func:`read_folder`'s listing) holds nothing
    that could be an image to grade, the night without images of exit 5: no file named as an
    image, no image under another name (``x.webp``), no file that may hold one
    (:func:`_clearly_no_image`: a DICOM file is one), and no sub-folder holding such a file
    at any depth (:func:`_holds_nothing`; a DRAC or DeepDRiD root, images two levels down, is a
    wrong ``--images``: exit 2)."""
    return (not found.images and not found.others
            and all(_clearly_no_image(path) for path, _ in found.not_images)
            and all(_holds_nothing(sub) for sub in found.subfolders))


def _deeper_image_folders(subfolders: Sequence[Path]) -> list[tuple[Path, int]]:
    """The folders below ``subfolders`` (none of which holds images of its own) that hold
    image files (:data:`IMAGE_SUFFIXES`), each with their number, in a breadth-first walk in
    name order at most :data:`DEEPER_SEARCHED` deep and long (hidden folders skipped): where
    the images of a DRAC root (``1. Original Images/b. Testing Set/``) are. For the fix only."""
    from data_prep.layout import is_hidden

    depth_max, visits = DEEPER_SEARCHED
    queue = [(sub, 1) for sub in subfolders]
    found: list[tuple[Path, int]] = []
    while queue and visits > 0:
        folder, depth = queue.pop(0)
        visits -= 1
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        n = sum(1 for e in entries if e.suffix.lower() in IMAGE_SUFFIXES and not is_hidden(e)
                and not e.is_dir())
        if n and depth > 1:
            found.append((folder, n))
        if depth < depth_max:
            queue += [(e, depth + 1) for e in entries
                      if e.is_dir() and not e.is_symlink() and not is_hidden(e)]
    return found


def _nothing_to_grade(images_dir: Path, out: Path, found: FolderFiles | None,
                      lead_lines: Sequence[str]) -> int:
    """``--images`` of a folder that holds nothing that could be a case (:func:`_nothing_there`:
    no file named as an image, no image under another name, no file that may hold one; text
    or office files holding no image, sub-folders empty at any depth or hidden files may be
    there): one ``NOTHING TO GRADE:`` line on
    stdout after ``lead_lines``, nothing written (``out`` and its records left as they were)
    and :data:`EXIT_NO_IMAGES` (5): a normal night of a nightly job, told apart from a
    wrong command (2) and from a written CSV (0, 3, 4). 2 when stdout cannot be written."""
    others = len(_left_out(found, images_dir))
    held = (f" (it holds {others} other entr{'y' if others == 1 else 'ies'}: text or office files "
            f"holding no image, empty sub-folders or hidden files)" if others else " (it is empty)")
    kept = f"; {out}, of an earlier export, is left as it was" if out.exists() else ""
    line = (f"NOTHING TO GRADE: {images_dir} holds no image ({', '.join(IMAGE_SUFFIXES)}){held}: "
            f"nothing graded, nothing written{kept} (exit code {EXIT_NO_IMAGES})")
    if (failure := print_lines([*lead_lines, line])) is not None:
        print(f"error: cannot print the summary on stdout ({failure}); {images_dir} holds no image: "
              f"nothing graded", file=sys.stderr)
        return 2
    return EXIT_NO_IMAGES


def _image_subfolders(subfolders: Sequence[Path]) -> list[tuple[Path, int]]:
    """The sub-folders that hold images of their own, each with their number (an unreadable
    one left out)."""
    holding = []
    for sub in subfolders:
        try:
            if n := len(read_folder(sub).images):
                holding.append((sub, n))
        except OSError:  # an unreadable sub-folder: not the one to name
            continue
    return holding


def _no_images_fix(subfolders: Sequence[Path], others: bool, folder: Path | None = None) -> str:
    """The fix for an ``--images`` folder without images: point at the folder that holds
    them (sub-folders are not searched), naming the sub-folder that does; when two or more do
    (per-patient folders, DeepDRiD's evaluation ``Images/<patient>/``), the command that copies
    their images into one folder beside ``folder``
    (:func:`data_prep.layout.copy_into_one_folder`: names kept, or, when two sub-folders share
    a name, ``patA/OD.png`` copied as ``patA_OD.png``, every image under its own name) and the
    ``--images`` to grade it with. ``others``: files not named as images were listed, each with its own fix."""
    fix = ("point --images at the folder that holds the images themselves (its sub-folders are "
           "not searched)")
    holding = _image_subfolders(subfolders)
    if len(holding) > 1 and folder is not None:
        from data_prep.layout import NEARBY_SHOWN, copy_into_one_folder

        # the copies' names are the cases: an image whose name another sub-folder shares is
        # copied as SUBFOLDER_NAME, so the command cannot replace one image by another
        # every sub-folder's images, a test/ one's too (the ingest's plain layout skips it)
        command, flat, clashes = copy_into_one_folder(folder, holding, rename_shared=True, skip_test=False)
        names = [f"{printable_text(sub.name)}/" for sub, _ in holding]
        listed = ", ".join(names[:NEARBY_SHOWN]) + (f" and {len(names) - NEARBY_SHOWN} more"
                                                   if len(names) > NEARBY_SHOWN else "")
        fix = (f"the images are in {len(holding)} sub-folders ({listed}; per-patient folders?), which "
               f"are not searched: copy them into one folder{clashes},\n  {command}\nthen run this "
               f"command again with --images {shlex.quote(str(flat))}")
    elif holding:
        fix += f", e.g. --images {shlex.quote(str(holding[0][0]))}"
    elif deeper := _deeper_image_folders(subfolders):
        # a DRAC root (images two levels down) or a DeepDRiD set (Images/<patient>/)
        parents = [folder.parent for folder, _ in deeper]
        first, n = deeper[0]
        if parents.count(first.parent) > 1:  # per-patient folders: their parent, then the copy
            fix += (f"; the images are deeper, in the sub-folders of {shlex.quote(str(first.parent))} "
                    f"({parents.count(first.parent)} of them hold images): run this command with "
                    f"--images {shlex.quote(str(first.parent))}, which gives the command that copies "
                    f"them into one folder")
        else:
            listed = ", ".join(f"--images {shlex.quote(str(f))} ({n} image{'s' * (n != 1)})"
                               for f, n in deeper[:SUBFOLDERS_SHOWN_DEEPER])
            fix += f"; the images are deeper: e.g. {listed}"
    return f"rename the files above as each line says, or {fix}" if others else fix


SUBFOLDERS_SHOWN_DEEPER = 3
"""The folders holding images below an ``--images`` folder that its fix names, at most."""


def _drac_scale_line(images_dir: Path, out: Path, names: Sequence[str]) -> str:
    """The warning for a model of another scale than DRAC's 3 grades that graded DRAC 2022's
    own test folder (``images_dir``, or one image of it: :func:`is_drac_test_folder`) into
    ``out``: DRAC accepts only ``case,class,P0,P1,P2`` (``--check`` refuses the file too); ""
    otherwise. ``names``: the model's grades 0..K-1."""
    drac = DRAC_PROB_COLUMNS  # DRAC's own file, P0,P1,P2: for its test folder only
    k = len(names)
    folder = images_dir.parent if images_dir.is_file() else images_dir
    if k == len(drac) or not is_drac_test_folder(folder):
        return ""
    where = f"{images_dir} is in" if images_dir.is_file() else f"{images_dir} is"
    return (f"{where} DRAC 2022's test set, and DRAC accepts only case,class,"
            f"{','.join(drac)} (its {len(drac)} grades); this model grades on {k} "
            f"grades ({', '.join(names)}), so {out} has P0..P{k - 1} and DRAC will not accept it "
            f"(--check refuses it too): for a DRAC submission, export a model trained on DRAC's "
            f"{len(drac)} grades (data.grades=drac)")


def _variant_words(bundle_path: Path, metadata: dict[str, Any], named: bool) -> str:
    """The OK line's words on the variant that grades and why, from the bundle's
    ``metadata.json``: ``" (variant scratch, random init: no pretraining; the one the run
    selected, highest out-of-fold QWK, as RUN/finetune/summary.json says)"``, or ``" (variant
    vicreg, asked for by name; the run selected scratch)"`` for ``--variant NAME`` (``named``);
    "" for a bundle that records no variant (an older build). The summary is cited where it
    lies beside the bundle (``RUN/bundle``), else the bundle's own ``metadata.json``. A tie is
    said as one (:func:`drac_ssl.selection.selection_words`: ``tied on out-of-fold QWK (0.000,
    with scratch and vicreg) and AUC one-vs-one (0.544, with vicreg); chosen by the tie-break
    order vicreg_umm, vicreg, scratch``), for a bundle whose record says "highest" of a tie too
    (built before those words: from its ``comparison`` rows, ``by the figures of`` the record)."""
    variant = metadata.get("variant")
    if not variant:
        return ""
    what = f"variant {variant}" + (", random init: no pretraining" if variant == "scratch" else "")
    selection = str(metadata.get("selection") or "")
    if selection.startswith("asked for by name"):  # the run selected another: "...; the run selected X (rule)"
        return f" ({what}, {selection.split(' (', 1)[0]})"
    if named:
        return f" ({what}; asked for by name, and the run's own choice too)"
    if not selection:
        return f" ({what})"
    summary = bundle_path.parent / "finetune" / "summary.json"
    record = summary if summary.is_file() else bundle_path / "metadata.json"
    # a tie said as a tie, for a bundle built before those words too (its comparison rows)
    rows = {str(r.get("variant")): r for r in metadata.get("comparison") or [] if isinstance(r, dict)}
    decision = (metadata.get("cv_metrics") or {}).get("decision") or (metadata.get("calibration") or {}).get("decision")
    said = recorded_selection(selection, rows, decision, str(variant))
    how = "as {} says" if said == selection else "by the figures of {}"  # a tie its record called "highest"
    return f" ({what}; the one the run selected, {short_selection(said)}, {how.format(record)})"


def _predict_folder(run: str, images_dir: Path, out: Path, tta: bool | None, device: str,
                    skip_unreadable: bool = False, named_variant: bool = False,
                    lead_lines: Sequence[str] = (), fmt: str = "drac") -> int:
    """Grade every image of the folder ``images_dir`` (or the one image file it names) into
    the submission ``out``; the exit code. Like the stage, a bundle whose out-of-fold QWK
    95% CI reaches 0 (:func:`chance_warning`) is warned about on stderr; the file and the exit
    code stay the same.

    An unreadable image, or a file of the folder holding an image not named as one
    (:func:`read_folder`'s ``others``: ``x.webp``, ``scan.dat`` holding a PNG), writes nothing (a submission missing a case is
    invalid): BundleError naming each file and why; an image whose name cannot be a case
    (:func:`_case_name_problems`) too, said before any image is read. Files holding no image at all
    (``notes.txt``) and sub-folders (not searched) get a ``note:`` on stderr; hidden files
    nothing. A folder with nothing to grade returns :data:`EXIT_NO_IMAGES` (5),
    :func:`_nothing_to_grade`. ``skip_unreadable``: the readable images are graded and written instead,
    each skipped file is listed on stderr and in :func:`skipped_record_path` (JSON: the CSV,
    the folder, ``complete``, per skipped file ``file``, ``path``, ``problem``, ``fix``, and
    ``left_out``, every other entry not graded: :func:`_left_out`),
    and the exit code is :data:`EXIT_SKIPPED` (3) when any was skipped, else
    :data:`EXIT_FLAGGED` (4) when some graded image is not reliably gradable (the notes file
    beside ``out``, :func:`drac_ssl.submission.image_notes_path`, says which and why; it also
    marks the bundle's training images). The OK line names the
    variant that graded and why (:func:`_variant_words`; ``named_variant``: ``--variant NAME``).
    ``lead_lines``: stdout lines printed first, with the summary after grading
    (:func:`drac_ssl.console.print_lines`: a closed or full stdout does not cost the grades).
    While grading: a bar on a terminal, off one a line on stderr at most a minute
    (:class:`drac_ssl.console.ProgressLines`: ``[export] 64 of 200 images graded (...)``).
    A CSV failing its check (exit 1, each problem printed) is kept as
    :func:`failed_submission_path` of ``out``, and ``out`` (with its referable file and
    record) is left as it was.

    ``fmt``: ``drac`` (``case,class,P0..P{K-1}``) or ``kaggle`` (``--format kaggle``:
    ``id_code,diagnosis``, :func:`drac_ssl.kaggle.write_kaggle`; each id the file name without
    extension, the rows in the order of the layout's ``test.csv`` / ``sample_submission.csv``
    when there is one, :func:`drac_ssl.kaggle.kaggle_sorted`, else natural; two images sharing
    a stem, a stem ending in an image extension (``a.png.jpg``), and a folder that is not the
    set of ids that list names (a listed id without its image, an image not listed:
    :func:`drac_ssl.kaggle.layout_mismatch`) are refused before any is read, exit 2; checked by
    :func:`drac_ssl.kaggle.check_kaggle`; the notes and referable files name the cases by their
    ids). Without probabilities in the file, and for a regression head (whose output the P
    columns do not give back), the notes file is written for every export, with its ``score``
    column: what the thresholds cut, to cut again."""
    from data_prep.validate import natural_key
    from drac_ssl.kaggle import (
        kaggle_sorted,
        layout_mismatch,
        layout_order,
        mismatch_words,
        stem_clashes,
        suffixed_stems,
    )

    bundle = load_bundle(run, resolve_device(device))
    listing = _list_images(images_dir, out, lead_lines)
    if isinstance(listing, int):  # nothing there that could be a case: _nothing_to_grade's code
        return listing
    single, found, files = listing.single, listing.folder, listing.images
    problems, skipped = listing.problems, listing.skipped
    n_not_images, subfolders = listing.no_image_count, listing.subfolders
    # a name that cannot be a case (a comma, a quote, a line break, white space at either end,
    # a formula's first character): known from the listing, said before any image is read
    renames = _case_name_problems(files, images_dir.parent if single else images_dir)
    if renames:
        refused = {path for path, _ in renames}
        files = [path for path in files if path not in refused]
        problems += [problem for _, problem in renames]
        skipped += [path for path, _ in renames]
    n_files = len(files) + len(skipped)
    if renames and not skip_unreadable:  # a rename mends it: no grading work spent first
        raise _cannot_grade(problems, len(skipped), n_files, len(files), single, skip_unreadable, early=True)
    order_file: Path | None = None
    if fmt == "kaggle":  # an id is the name without extension: a clash is said before any work
        if clashes := stem_clashes(files):
            said = "; ".join(f"{', '.join(printable_text(p.name) for p in paths)} (id_code "
                             f"'{printable_text(stem)}')" for stem, paths in clashes[:5])
            raise BundleError(f"{images_dir}: images that would share a Kaggle id_code (the file name "
                              f"without extension): {said}\n  fix: rename one of each, or write DRAC's "
                              f"format (no --format kaggle), whose case is the whole file name")
        if suffixed := suffixed_stems(files):  # a.png.jpg: id a.png, which write_kaggle refuses
            said = ", ".join(f"{printable_text(p.name)} (id_code '{printable_text(p.stem)}')" for p in suffixed[:5])
            more = f" and {len(suffixed) - 5} more" if len(suffixed) > 5 else ""
            first = suffixed[0]
            raise BundleError(f"{images_dir}: images whose Kaggle id_code (the file name without "
                              f"extension) would end in an image extension: {said}{more}\n  fix: rename "
                              f"them without the inner extension ({printable_text(first.name)} -> "
                              f"{printable_text(Path(first.stem).stem + first.suffix)}), or write DRAC's "
                              f"format (no --format kaggle)")
        # the layout's list of test ids is the set of rows: a listed id without its image, or an
        # image not listed, is said before any work (the rows were written silently without
        # the one and with the other, and the OK line claimed test.csv's order)
        order = layout_order(images_dir) if not single else None
        if order is not None:
            listed_ids, listed = order
            every = found.images if found is not None else files  # a refused name is still an image
            missing, unlisted = layout_mismatch(every, listed_ids)
            if missing or unlisted:
                raise BundleError(f"{images_dir}: the images are not the test set that {listed} lists: "
                                  + mismatch_words(missing, unlisted, len(listed_ids), listed, images_dir))
            files, order_file = kaggle_sorted(files, images_dir)
    # a bar on a terminal; off one (a log, nohup) a line at most a minute on stderr, where the
    # notes go (stdout is the result lines, printed at the end)
    with progress_bar(len(files), "export", "img", leave=False) as bar:  # closed on a Ctrl-C too
        progress = ProgressLines(sys.stderr, "export")

        counted = [0]  # files the bar has counted

        def said_progress(done: int, total: int) -> None:
            bar.update(done - counted[0])
            counted[0] = done
            progress.count(done, total, "images graded")

        # the Python API's loop (grading.batch.grade_files, with the command's own switches):
        # the bundle's kind, so a colour file on a grey UW-OCTA model is doubted, as in the app;
        # clinic batch grading (--skip-unreadable): blank or noise is not graded, as the app
        # refuses it; without it nothing is graded once a file cannot be (a submission missing
        # a case is invalid), and nothing at all after a file not named as an image (problems
        # already)
        result = _grade_files_loop(bundle, files, chunk=PREDICT_CHUNK, progress=said_progress, tta=tta,
                                   refuse_nothing_to_grade=skip_unreadable, all_or_nothing=not skip_unreadable,
                                   check_only=bool(problems) and not skip_unreadable, training_images=False,
                                   listed=True)  # a file gone since the listing: the folder's words
    for failure in result.failed:
        problems += failure.problems
        skipped.append(failure.path)
    graded = result.graded
    graded_files = result.paths
    file_words, warnings, level_warnings = _file_warnings(graded_files, graded.file_warnings)
    # plain notes, not doubts (a 16-bit file ...), NAME: as read_image says them
    # but the shorter side unlike every training image's: one warning counts them, the notes
    # file's size_note column names each (a resized DRAC test set: 386 lines otherwise)
    side = bundle.training_side
    size_notes = [next((w for w in noted if isinstance(w, TrainingSideNote)), "") for noted in result.notes]
    plain = [f"{path.name}: {words}" for path, noted, sized in zip(graded_files, result.notes, size_notes, strict=True)
             for words in noted if words != sized]
    record = skipped_record_path(out)
    if problems and (not skip_unreadable or not graded_files):
        raise _cannot_grade(problems, len(skipped), n_files, len(files), single, skip_unreadable)
    problems.sort(key=lambda p: natural_key(Path(p.path).name))
    image_warnings = graded.warnings  # per graded image: e.g. far smaller than the model's input
    crop_warnings = graded.preprocessing_warnings  # per graded image: e.g. no fundus disc found to crop
    k = bundle.calibration.num_grades
    names = list(bundle.metadata.get("class_names") or []) or None
    cases = [p.name for p in graded_files]
    kaggle = fmt == "kaggle"
    rows = [p.stem for p in graded_files] if kaggle else cases  # the written files' case column
    blank, noise, unlike = graded.blank, graded.noise, graded.unlike
    # per graded image: why it is not reliably gradable (the app batch's rule, flagged_reasons;
    # blank and noise, which the app refuses, too) and whether it trained the model
    reasons = image_reasons(graded, file_words)
    hashes = training_hashes(bundle.metadata)  # None: a bundle built before the list says nothing
    # each file hashed once, for the training and the pretraining lists (not at all without them)
    pretraining = pretraining_record(Path(bundle.path), bundle.metadata)[0]  # None: not known; {}: scratch
    prefixes = [_file_prefix_or_none(p) if hashes is not None or pretraining else None for p in graded_files]
    # by the file's hash or by its decoded pixels' (a PNG written from an .npz row the model
    # trained on has other bytes but the same pixels); None where it cannot be told (no list,
    # a file unreadable now and no pixel list): "unknown" in the notes file
    by_pixels = training_pixel_hashes(bundle.metadata)
    digests = graded.pixels_sha256 or [""] * len(graded_files)
    # True (the file's hash), BY_PIXELS (its decoded pixels' alone: "yes (same decoded pixels)"),
    # False or None
    trained = [training_match(hashes, by_pixels, prefix, digest[:HASH_HEX] or None)
               for prefix, digest in zip(prefixes, digests, strict=True)]
    # the splits of the images the backbone's pretraining read whose hash each file has
    pretrained, stages, pretrained_by_pixels = _pretraining_marks(pretraining, prefixes,
                                                                  [d[:HASH_HEX] or None for d in digests])
    # outside starting weights: the files none of the run's images get a cell that says the doubt
    outside = str((pretraining or {}).get("initial_weights") or "")
    grade_notes = _grade_notes(bundle, graded.probs, graded.classes)
    n_flagged, n_trained = sum(1 for r in reasons if r), sum(1 for t in trained if t)
    n_pretrained = sum(1 for splits in pretrained if splits)
    n_noted = sum(1 for note in grade_notes if note)
    notes_file = image_notes_path(out)
    existed = out.exists()
    # checked under a hidden name, renamed onto --out when it passes (a file failing its check
    # is kept as OUT.failed, never left where it would be submitted; --out then stays as it
    # was). Its notes file, referable file and --skip-unreadable record are written under
    # hidden names too and go into place with it once every one is written: a full disk or a
    # file-size limit keeps the earlier set whole, and a kill never leaves a CSV beside the
    # records of another (a flagged CSV without its notes reads as clean to --score).
    # With skipped files the folder has images without a row: the rows written are checked
    caveat_lines = _caveat_lines(bundle, unlike, plural=len(graded_files) > 1)  # printed and kept alike
    written, issues, said_referable = _write_outputs(
        bundle, out, images_dir, found, graded, graded_files, fmt=fmt, tta=tta, skip_unreadable=skip_unreadable,
        single=single, cases=cases, rows=rows, names=names, problems=problems, skipped=skipped,
        record=record, notes_file=notes_file, reasons=reasons, trained=trained, grade_notes=grade_notes,
        pretrained=pretrained, outside=outside, pretrained_by_pixels=pretrained_by_pixels,
        needs_notes=bool(n_flagged or n_trained or n_noted or n_pretrained or any(size_notes)), size_notes=size_notes,
        caveats=[sentence for _, sentence in caveat_lines])
    referable_line = said_referable[0][1] if said_referable and not issues else ""
    for problem in problems:
        print(f"skipped: {problem.line}", file=sys.stderr)
    for line in warnings + level_warnings:
        print(f"warning: {line}", file=sys.stderr)
    for line in plain:
        print(f"note: {line}", file=sys.stderr)
    for case, said, cropped in zip(cases, image_warnings, crop_warnings, strict=True):
        for line in said + cropped:
            print(f"warning: {case}: {line}", file=sys.stderr)
    n_small = sum(1 for said in image_warnings if said)
    # the replayed crop's findings apart from a squeeze without it (squeeze_finding)
    n_squeezed = sum(1 for found in crop_warnings if any(SQUEEZED in w for w in found))
    n_crop = sum(1 for found in crop_warnings if any(SQUEEZED not in w for w in found))
    for line in (_drac_scale_line(images_dir, out, names or list(bundle.grade_names)),
                 _unlike_line(unlike, cases), _blank_line(blank, cases, SKIP_HINT),
                 _noise_line(noise, cases, SKIP_HINT), _copies_line(graded_files),
                 _training_side_line(graded_files, size_notes, side, notes_file),
                 _same_grade_line(graded.classes, names or bundle.grade_names)):
        if line:
            print(f"warning: {line}", file=sys.stderr)
    ood_note = _ood_check_note(bundle)
    if ood_note:
        print(f"note: {ood_note}", file=sys.stderr)
    if unchecked := weights_hash_note(bundle):  # an older bundle: its weights unchecked
        print(f"note: {unchecked}", file=sys.stderr)
    if unverified := profile_hash_note(bundle):  # an older bundle: its input profile unchecked
        print(f"note: {unverified}", file=sys.stderr)
    if card := model_card_note(bundle):  # an edited MODEL_CARD.md loads (words only): said
        print(f"note: {card}", file=sys.stderr)
    if hashes is not None and by_pixels is None:  # an ingest made before the pixel hashes: once
        print(f"note: {PIXELS_CHECK_NEEDS_INGEST}", file=sys.stderr)
    chance = chance_warning(bundle.metadata.get("cv_metrics") or {})  # the stage's caveat, same rule
    if chance:
        print(f"warning: {chance}", file=sys.stderr)
    if uncalibrated := calibration_warning(bundle.metadata):  # the stage's too
        print(f"warning: {uncalibrated}", file=sys.stderr)
    for channel, sentence in caveat_lines:  # the app's words; a weak check's once, with its reasons
        print(f"{channel}: {sentence}", file=sys.stderr)
    if legend := grade_legend_line(bundle.grade_names):  # the class numbers in the bundle's names
        print(legend, file=sys.stderr)
    # stdout, printed at the end (print_lines: | head, a full disk)
    out_lines: list[str] = [*lead_lines, *issues]
    # the decoder's warnings about a file (transparency, CMYK, float ...) apart from the
    # conversions to the model's channels
    n_file = len({line.split(f": {FILE_FINDING}", 1)[0] for line in warnings if f": {FILE_FINDING}" in line})
    # a colour file of a grey picture is read as it is on a colour model: not a conversion
    n_as_is = sum(1 for line in warnings if f": {NO_COLOUR}" in line)
    # of another bit depth than the training images (other_depth_warning): not a conversion
    n_depth = sum(1 for line in warnings if f": {OTHER_DEPTH}" in line)
    n_channels = sum(1 for line in warnings if f": {FILE_FINDING}" not in line) - n_as_is - n_depth
    converted = f", {n_channels} converted to the model's channels (see the warnings)" if n_channels else ""
    converted += (f", {n_as_is} with three identical channels, read as they are (see the warnings)"
                  if n_as_is else "")
    converted += (f", {n_depth} of another bit depth than the training images (see the warnings)"
                  if n_depth else "")
    converted += (f", {n_file} with a warning about the file itself (see the warnings)"
                  if n_file else "")
    # facts about the file that cast no doubt on it (PLAIN_FINDINGS): notes, as on the app's page
    n_file_notes = len({line.split(f": {FILE_FINDING}", 1)[0] for line in plain if f": {FILE_FINDING}" in line})
    converted += (f", {n_file_notes} with a note about the file itself (see the notes)"
                  if n_file_notes else "")
    converted += (f", {len(level_warnings)} with only a few grey levels (see the warnings)"
                  if level_warnings else "")
    converted += (f", {int(unlike.sum())} unlike the training images (see the warning)"
                  if unlike is not None and unlike.any() else "")
    converted += f", {int(blank.sum())} blank (see the warning)" if blank.any() else ""
    converted += (f", {int(noise.sum())} {'looks' if noise.sum() == 1 else 'look'} like random noise "
                  f"(see the warning)" if noise.any() else "")
    converted += (f", {n_small} far smaller than the model's input (see the warnings)"
                  if n_small else "")
    converted += f", {n_crop} not cropped to a fundus disc (see the warnings)" if n_crop else ""
    converted += f", {n_squeezed} {SQUEEZED} (see the warnings)" if n_squeezed else ""
    said_left = [f"{n_not_images} file(s) holding no image" if n_not_images else "",
                 f"{len(subfolders)} sub-folder(s)" if subfolders else ""]
    if any(said_left):  # the folder's entries that are no case: in the notes and the record
        listed = f"; listed in {record}" if skip_unreadable and not issues else ""
        converted += f"; not graded either: {' and '.join(w for w in said_left if w)} (see the notes{listed})"
    # with the rows where it is not: the app's sentence in the notes file
    # every row with a grade_note counted, by why (its class not the largest P, or the largest
    # in a near-tie), so a notes file written for them alone is named (a trial's 25 near-ties
    # at P 0.20 wrote one that no line named)
    n_off, n_near_tie, n_equal_shown = grade_note_counts(grade_notes, graded.probs, graded.classes)
    rule = class_rule_said(bundle, n_off if not issues else 0, len(cases),
                           f"why in the grade_note column of {notes_file}", n_near_tie if not issues else 0,
                           smaller_class_rows(graded.probs, graded.classes) if not issues else 0,
                           n_equal_shown=n_equal_shown if not issues else 0)
    status = "PROBLEMS" if issues else "INCOMPLETE" if skipped else "OK"
    counted = f"{len(graded_files)} of the {n_files}" if skipped else f"{len(files)}"
    flips = bundle.tta_in_cv if tta is None else bool(tta)
    noun = "image(s)" if n_files == len(files) else "file(s)"  # some files are not images it reads
    said_variant = _variant_words(Path(bundle.path), bundle.metadata, named_variant)
    if kaggle:  # the file's format and the order of its rows
        converted += ("; Kaggle's id_code,diagnosis (the file name without extension, the class), rows "
                      + (f"in the order of {order_file}" if order_file is not None else
                         "in file-name order (no test.csv or sample_submission.csv beside the folder)")
                      + (f"; the score each class was cut from is in {notes_file}"
                         if not issues and bundle.calibration.decision == "thresholds"
                         and not bundle.calibration.referral_decides else ""))
    # the sidecar named on the summary line: the CSV alone does not say which model graded
    said_sidecar = "" if issues else f"; which model graded: {provenance_path(out).name}"
    out_lines += [f"{status}: {counted} {noun} graded with {bundle.path}{said_variant} -> {written}"
                  f"{converted}{said_sidecar}",
                  f"  class = {rule}; P0..P{k - 1} = "
                  f"{probability_columns_words(bundle.metadata)}; "
                  f"{'the mean over 4 flips' if flips else 'no flips'} (test-time augmentation"
                  f"{', as in the cross-validation' if flips == bundle.tta_in_cv else ', NOT as in the cross-validation'})"]
    if referable_line:
        out_lines.append(f"  {referable_line}")
    if issues:
        out_lines.append(f"  {out} is {'as it was' if existed else 'not written'}: the file failing its check "
                         f"is kept as {written} to look at the rows named above; do not submit it")
    if skipped:  # the app's batch summary starts with the same words (incomplete_line)
        # per skipped file, what is wrong (not `reasons`: that is per graded image, for the
        # FLAGGED line below; reusing the name printed "NOTE: ; per case in ...")
        skipped_why: dict[str, list[str]] = {}
        for problem in problems:
            skipped_why.setdefault(problem.path, []).append(problem.what)
        which = "Unreadable" if n_files == len(files) else "Unreadable or not images this package reads"
        if any(p.kind == NOT_GRADABLE_KIND for p in problems):
            which += " (or with nothing to grade: blank, random noise)"
        if any(p.kind == CASE_NAME_KIND for p in problems):
            which += " (or named so that the name cannot be a case: rename them as said)"
        out_lines.append(
            f"{incomplete_line([(Path(p).name, '; '.join(w)) for p, w in skipped_why.items()], n_files)}"
            # the record is written only beside a CSV that passed its check
            f". {which}, skipped by --skip-unreadable (listed on stderr"
            f"{'' if issues else f' and in {record}'}): "
            f"{written} has no row for them, so it is not a complete submission")
    if not issues and (line := _pretraining_doubt_line(pretraining, pretrained, outside, Path(bundle.path),
                                                        bundle.metadata, notes_file, written)):
        out_lines.append(line)
    if not issues and (n_flagged or n_trained or n_pretrained):  # the last line: the notes file and why
        out_lines.append(_notes_line(reasons, trained, written, notes_file, pretrained=pretrained, stages=stages,
                                     pretrained_by_pixels=pretrained_by_pixels))
    if (failure := print_lines(out_lines)) is not None:  # a reader gone (| head) is no failure
        state = (f" (it failed its check: {len(issues)} problem(s), do not submit it)" if issues else
                 " (incomplete: files were skipped)" if skipped else "")
        print(f"error: cannot print the summary on stdout ({failure}); the grades are in {written}{state}",
              file=sys.stderr)
        return 2
    return PROBLEMS_FOUND if issues else EXIT_SKIPPED if skipped else EXIT_FLAGGED if n_flagged else 0


class _FolderListing(NamedTuple):
    """What :func:`_list_images` found in the images folder (or the one image file) given."""

    single: bool  # the path given is one image file, not a folder
    folder: FolderFiles | None  # the folder's listing (read_folder); None for one file
    images: list[Path]  # the image files, in natural order: the cases to grade
    problems: list[Problem]  # the files not named as images (x.webp), not graded
    skipped: list[Path]  # their paths
    no_image_count: int  # files holding no image (notes.txt): noted, no case lost
    subfolders: list[Path]  # not graded (one folder, not its sub-folders)


def _list_images(images_dir: Path, out: Path, lead_lines: Sequence[str]) -> _FolderListing | int:
    """:func:`_predict_folder`'s listing of ``images_dir`` (a folder or one image file), before
    any name is checked as a case: the notes on stderr (files holding no image, sub-folders), the
    exit code of :func:`_nothing_to_grade` when nothing there could be a case, BundleError when
    the folder has no image to grade (naming each file and the fix), else :data:`_FolderListing`."""
    from data_prep.validate import natural_key

    single = images_dir.is_file()
    found = read_folder(images_dir) if not single else None
    files = [images_dir] if found is None else sorted(found.images, key=lambda p: natural_key(p.name))
    # files not named as images (x.webp, notes.txt): not graded, said like unreadable ones
    problems = [Problem(str(path), why, fix, kind="not-graded") for path, why, fix in
                (found.others if found is not None else [])]
    skipped: list[Path] = [Path(p.path) for p in problems]
    for path, why in found.not_images if found is not None else []:  # notes.txt: no image lost
        print(f"note: {printable_text(str(path))}: {why}; not graded", file=sys.stderr)
    n_not_images = len(found.not_images) if found is not None else 0
    subfolders = found.subfolders if found is not None else []
    for sub in subfolders[:SUBFOLDER_NOTES] if files else []:  # none: the error says where they are
        print(f"note: {sub}: {SUBFOLDER_WHY.format(folder=images_dir)}; {SUBFOLDER_FIX}", file=sys.stderr)
    if files and len(subfolders) > SUBFOLDER_NOTES:
        print(f"note: ... and {len(subfolders) - SUBFOLDER_NOTES} more sub-folders of {images_dir}, "
              "not graded either", file=sys.stderr)
    if found is not None and _nothing_there(found):
        # nothing there that could be a case: a night without images, not a wrong command
        return _nothing_to_grade(images_dir, out, found, lead_lines)
    if not files:
        # files that may be images it cannot read (a DICOM file): said again, as the reason
        unread = [f"{printable_text(str(path))}: {why}" for path, why in found.not_images
                  if not _clearly_no_image(path)] if found is not None else []
        raise BundleError(f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder"
                          + "".join(f"\n  {p.line}" for p in problems)
                          + "".join(f"\n  {line}" for line in unread[:SUBFOLDERS_SHOWN_DEEPER])
                          + (f"\n  ... and {len(unread) - SUBFOLDERS_SHOWN_DEEPER} more such files"
                             if len(unread) > SUBFOLDERS_SHOWN_DEEPER else "")
                          + f"\n  fix: {'convert those files to PNG or TIFF (each line says how), or ' if unread else ''}"
                          f"{_no_images_fix(subfolders, bool(problems), images_dir)}")
    return _FolderListing(single=single, folder=found, images=files, problems=problems, skipped=skipped,
                          no_image_count=n_not_images, subfolders=subfolders)


def _file_warnings(graded_files: Sequence[Path], file_warnings: Sequence[Sequence[str]],
                   ) -> tuple[list[list[str]], list[str], list[str]]:
    """Per graded file (:func:`_predict_folder`), its :func:`read_image` warnings: ``file_words``
    (per file, without the ``NAME: ``, the few-grey-levels ones last), ``warnings`` and
    ``level_warnings`` (``NAME: words``, only a few grey levels: a thresholded export, a mask)."""
    file_words: list[list[str]] = []  # per graded file: its warnings, without the "NAME: "
    warnings: list[str] = []
    level_warnings: list[str] = []  # NAME: only a few grey levels (a thresholded export, a mask)
    for path, words in zip(graded_files, file_warnings, strict=True):
        # read_image says a thresholded export or mask (the app's warning, few_levels_words)
        # among its warnings: listed last, counted apart
        levels = [w for w in words if re.match(FEW_LEVELS_OPENING, w)]
        said = [w for w in words if w not in levels]
        warnings += [f"{path.name}: {w}" for w in said]
        level_warnings += [f"{path.name}: {w}" for w in levels]
        file_words.append(said + levels)
    return file_words, warnings, level_warnings


def _training_side_line(graded_files: Sequence[Path], size_notes: Sequence[str], side: int | None,
                        notes_file: Path) -> str:
    """``3 of 386 test images have another shorter side than the 1024 px of every training image
    (e.g. 001.png 512x512): the model learnt from 1024 px images; grade the original files, not
    resized copies (each in NOTES's size_note column)`` (``size_notes``: one per graded file,
    :func:`drac_ssl.grading.predict.training_side_note`'s words, its size as data, or ""; ``side``:
    :attr:`drac_ssl.grading.bundle.Bundle.training_side`), "" when none is such: one line for a
    resized test set, where a note per file flooded stderr."""
    noted = [(path, words) for path, words in zip(graded_files, size_notes, strict=True) if words]
    if not noted or not side:
        return ""
    path, words = noted[0]
    return (f"{len(noted)} of {len(graded_files)} test images have another shorter side than the {side} px of "
            f"every training image (e.g. {path.name} {words.width}x{words.height}): the model learnt from {side} "
            f"px images; grade the original files, not resized copies (each in {notes_file.name}'s {SIZE_NOTE_COLUMN} column)")


def _write_outputs(bundle: Bundle, out: Path, images_dir: Path, found: FolderFiles | None,
                   graded: GradedImages, graded_files: list[Path], *, fmt: str, tta: bool | None, skip_unreadable: bool,
                   single: bool, cases: list[str], rows: list[str], names: list[str] | None,
                   problems: list[Problem], skipped: list[Path], record: Path, notes_file: Path,
                   reasons: list[list[str]], trained: list[Any], grade_notes: list[str],
                   pretrained: list[Any], outside: str, pretrained_by_pixels: Any,
                   needs_notes: bool, caveats: list[str], size_notes: list[str] | None = None
                   ) -> tuple[Path, list[str], list[tuple[Path | None, str]]]:
    """:func:`_predict_folder`'s files: the submission ``out`` (DRAC's or Kaggle's format,
    checked under a hidden name, :func:`_write_checked`) with its companions (the notes file when
    the rows need one, ``needs_notes`` (a flagged, training, noted or pretraining image), or the
    file's place or score needs it, the referable file, the grading provenance and, with
    ``skip_unreadable``, the skipped record), all put in place together. Returns the written
    path, the check's problems and what the referable file said. ``caveats``: the provenance
    record's, the sentences of :func:`_caveat_lines` the command prints. ``size_notes``: the
    notes file's ``size_note`` cells, one per graded file (None: empty)."""
    k = bundle.calibration.num_grades
    kaggle = fmt == "kaggle"
    said_referable: list[tuple[Path | None, str]] = []
    companions: list[Companion] = []
    scores_elsewhere = _score_not_in_file(bundle, fmt)  # the notes file's score column: the one record of it
    if needs_notes or outside or scores_elsewhere:
        companions.append((notes_file, lambda tmp, _csv: write_image_notes(
            tmp, rows, [int(c) for c in graded.classes], reasons, trained, grade_notes,
            bundle=bundle.identity, pretrained=pretrained, outside=outside, grade_names=bundle.grade_names,
            scores=graded.score, pretrained_by_pixels=pretrained_by_pixels, size_notes=size_notes)))
    if referable_cut_of(bundle.metadata, k) is not None:
        companions.append((referable_path(out), lambda tmp, csv: said_referable.append(
            _referable_of(bundle, out, tmp, cases, rows, graded) if kaggle else
            write_referable_beside(bundle, out, source=csv, out=tmp))))
    # which model graded, always (a clean batch has no notes file), beside the CSV whose
    # format stays DRAC's: the bundle's identity and build, this command, the time, the rows
    grading_record = bundle.grading_provenance(len(graded_files), command_line(names_only=True, parser=export_parser()),
                                               tta=bundle.tta_in_cv if tta is None else bool(tta))
    # what applies to every grade (a trial run, a grade never found): as the warnings say it
    grading_record["caveats"] = caveats
    companions.append((provenance_path(out), _provenance_writer(grading_record, out)))
    if skip_unreadable:
        left_out = _left_out(found, images_dir)  # not images, sub-folders, hidden: no case lost
        real = {printable_text(str(path)): path for path in skipped}  # a name's line break, as it is
        skipped_record = {
            "submission": str(out), "images": str(images_dir), "complete": not skipped,
            "graded": len(graded_files), "skipped": [
                {"file": real.get(p.path, Path(p.path)).name, "path": str(real.get(p.path, p.path)),
                 "problem": p.what, "fix": p.fix}
                for p in problems],
            "left_out": left_out,
            "note": ("every image was read: a complete submission" if not skipped else
                     f"{len(skipped)} file(s) not graded (unreadable, not an image this package "
                     f"reads, named so that the name cannot be a case, or blank or random noise: "
                     f"nothing to grade) skipped by --skip-unreadable: the CSV has no row for them, "
                     f"so it is not a complete submission")
                    + (f"; left_out: the folder's {len(left_out)} other entr"
                       f"{'y' if len(left_out) == 1 else 'ies'}, not graded and no case (files "
                       f"holding no image, sub-folders, hidden files)" if left_out else "")}
        companions.append((record, lambda tmp, _csv: atomic_write_json(tmp, skipped_record)))
    if kaggle:
        from drac_ssl.kaggle import check_kaggle, write_kaggle

        written, issues = _write_checked(
            out, lambda path: write_kaggle(path, rows, graded.classes),
            lambda path: check_kaggle(path, images_dir=None if skipped else images_dir, num_grades=k,
                                      ids=cases if skipped else None),
            beside=(record, referable_path(out), notes_file, provenance_path(out)), companions=companions)
    else:
        written, issues = _write_checked(
            out, lambda path: write_submission(path, cases, graded.probs, graded.classes, num_grades=k),
            lambda path: check_submission(path, None if single or skipped else images_dir, num_grades=k,
                                          grade_names=names,
                                          cases=[images_dir.name] if single else cases if skipped else None),
            beside=(record, referable_path(out), notes_file, provenance_path(out)), companions=companions)
    return written, issues, said_referable


def _score_not_in_file(bundle: Bundle, fmt: str) -> bool:
    """Whether the score the bundle's thresholds cut (:attr:`GradedImages.score`) cannot be read
    back from the submission written in ``fmt``: a Kaggle file has no probabilities, and a
    regression head's output is not a sum of its P columns (a classification head's is, the
    expected grade ``sum_k k * P_k``). The notes file, with its ``score`` column, is then written
    for every export, so that the grades can be cut again at other thresholds."""
    return fmt == "kaggle" or bundle.calibration.output == "regression"


def _referable_of(bundle: Bundle, out: Path, tmp: Path, cases: Sequence[str], ids: Sequence[str],
                  graded: GradedImages) -> tuple[Path | None, str]:
    """:func:`write_referable_beside` for a Kaggle file, which has no probabilities: from a DRAC
    file of the same images (``cases``: their file names), written under a hidden name beside
    ``tmp`` and removed, the referable file at ``tmp``, its cases then named by their Kaggle
    ids (``ids``), as the submission's rows are."""
    drac = tmp.with_name(f"{tmp.name}.drac")
    try:
        write_submission(drac, cases, graded.probs, graded.classes, num_grades=bundle.calibration.num_grades)
        said = write_referable_beside(bundle, out, source=drac, out=tmp)
    finally:
        drac.unlink(missing_ok=True)
    with open(tmp, newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    as_id = dict(zip(cases, ids, strict=True))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(
        [table[0], *([as_id.get(row[0], row[0]), *row[1:]] for row in table[1:])])
    atomic_write_text(tmp, buffer.getvalue())
    return said


def _file_prefix_or_none(path: Path) -> str | None:
    """:func:`drac_ssl.grading.training_images.file_prefix` of a graded file; None when it
    cannot be read again (gone since it was graded): not counted as a training image."""
    try:
        return file_prefix(path)
    except OSError:
        return None


def _pretraining_marks(record: Mapping[str, Any] | None, prefixes: Sequence[str | None],
                       pixels: Sequence[str | None] | None = None) -> tuple[list[list[str] | None], str, list[bool]]:
    """Per graded image (``prefixes``: its file's hash prefix,
    :func:`drac_ssl.grading.training_images.file_prefix`, or the manifest's; None when not
    read; ``pixels``: its decoded pixels' hash prefix as graded, compared with the record's
    decoded-pixel lists, :func:`drac_ssl.grading.training_images.record_pixel_splits`, so that a
    PNG of a test row of an ``.npz`` is one, as for the training images), the splits (``test``,
    ``unlabelled``) of the images the self-supervised pretraining
    of the bundle's backbone read whose hash (of either) it has
    (:func:`drac_ssl.grading.training_images.splits_of`; [] for none and for the ``scratch``
    variant, whose ``record`` is ``{}``), None where that cannot be told (``record`` None: a
    bundle built before the list, outside its run folder; a file not read), from ``record``, the
    bundle's :func:`drac_ssl.grading.training_images.pretraining_record`; and the stages that
    pretrained (``VICReg, then UMM``): the notes file's ``pretraining_image`` column and
    :func:`_pretrained_line`; and per image whether it matched by its decoded pixels alone (its
    file's hash in no list: ``same decoded pixels`` in its cell and the line)."""
    if record is None:
        return [None] * len(prefixes), "", [False] * len(prefixes)
    splits, by_pixels = record_splits(record), record_pixel_splits(record)
    digests = list(pixels) if pixels is not None else [None] * len(prefixes)
    marks = [None if prefix is None and (digest is None or by_pixels is None) and splits
             else splits_of(prefix, splits, digest, by_pixels) for prefix, digest in zip(prefixes, digests, strict=True)]
    return (marks, str(record.get("stages") or ""),
            [bool(mark) and not splits_of(prefix, splits) for mark, prefix in zip(marks, prefixes, strict=True)])


def _pretraining_doubt_line(record: Mapping[str, Any] | None, pretrained: Sequence[Sequence[str] | None],
                            outside: str, bundle_dir: Path, metadata: Mapping[str, Any], notes_file: Path,
                            written: Path) -> str:
    """The export's ``NOTE:`` line when whether the graded images were among those the
    backbone's self-supervised pretraining read cannot be told of some: the pretraining started
    from ``outside`` weights (``record``'s ``initial_weights``), whose own images are not known
    (the files not among the run's are marked so in ``notes_file``,
    :data:`drac_ssl.submission.PRETRAINING_OUTSIDE_MARK`, for ``--score`` to hedge); or the
    bundle records no list (``record`` None: built before it, outside its run folder), with
    the command that rebuilds it; "" otherwise (``pretrained``: :func:`_pretraining_marks`), and
    for a demo bundle (``metadata["demo"]``: random weights, no pretraining whose images a rebuild
    could list, as :func:`drac_ssl.grading.bundle.weights_hash_note` says nothing of it)."""
    if record is None and metadata.get("variant") != "scratch" and pretrained and not metadata.get("demo"):
        variant = str(metadata.get("variant") or "NAME")
        return (f"NOTE: {bundle_dir} records no list of the images its backbone's self-supervised "
                f"pretraining read (built before that list), so whether these images were among them "
                f"(a transductive score) cannot be told: their pretraining_image cells say unknown; to "
                f"have it told, rebuild the bundle in its run ({python_command('drac_ssl.export')} RUN "
                f"--variant {variant} writes RUN/bundles/{variant} with the list) and grade with that")
    n_outside = sum(1 for splits in pretrained if splits == [])
    if outside and n_outside:
        return (f"NOTE: the pretraining of this model's backbone started from outside weights ({outside}), "
                f"whose own training images are not known: for the {n_outside} graded image(s) not among "
                f"the run's own, the check cannot tell; if that training set (e.g. ImageNet) holds none of "
                f"these images, a score of their grades (export --score {written}) is not transductive on "
                f"that account (marked \"{PRETRAINING_OUTSIDE_MARK}: ...)\" in {notes_file})")
    return ""


def _pretrained_line(pretrained: Sequence[Sequence[str] | None], stages: str,
                     by_pixels: Sequence[bool] = ()) -> str:
    """:func:`drac_ssl.grading.training_images.pretraining_images_line` of the graded images
    among those the backbone's pretraining read (``pretrained``, :func:`_pretraining_marks`),
    in the export's words (``2 of 5 graded images were among ...: a score of their grades
    (export --score) is transductive, ...``; ``same decoded pixels`` for those ``by_pixels``
    marks, :func:`_pretraining_marks`); "" for none."""
    hit = [splits for splits in pretrained if splits]
    return pretraining_images_line(len(hit), len(pretrained), stages, {s for splits in hit for s in splits},
                                   scored=False, by_pixels=sum(1 for flag in by_pixels if flag))


def _notes_line(reasons: Sequence[Sequence[str]], trained: Sequence[bool | str | None], written: Path,
                notes_file: Path, hint: str = SKIP_HINT, pretrained: Sequence[Sequence[str] | None] = (),
                stages: str = "", pretrained_by_pixels: Sequence[bool] = ()) -> str:
    """The export's last line when some graded image is not reliably gradable or trained the
    model (``reasons`` and ``trained``: per graded image, a ``trained`` mark
    :func:`drac_ssl.grading.training_images.training_match`'s, whose ``BY_PIXELS`` are said ``same
    decoded pixels``): ``FLAGGED: 2 of the 5 graded
    image(s) are not reliably gradable (1 unlike the training images, 2 a grey picture for a
    colour model): their rows in OUT look like any other; per case in OUT_notes.csv (...)``,
    with that the grades of the blank or noise images must not be used (``hint`` after it, in
    parentheses, when given: :data:`SKIP_HINT` for ``--images``, "" for the stage) and
    :func:`training_images_line`'s sentence after a ``;``, and :func:`_pretrained_line`'s of
    ``pretrained`` (per graded image, :func:`_pretraining_marks`; ``stages`` its stages), or
    those sentences alone (``NOTE: ...``). The rows with a ``grade_note`` (a class that is not the single most likely
    grade, or a near-tie) are counted in the class line instead, which names the file."""
    n = len(reasons)
    order = [reason for _, reason in NOT_RELIABLY_GRADABLE] + [BLANK_REASON, NOISE_REASON]
    counts = {reason: sum(1 for why in reasons if reason in why) for reason in order}
    counts = {reason: k for reason, k in counts.items() if k}
    parts = []
    if counts:
        n_flagged = sum(1 for why in reasons if why)
        listed = ", ".join(f"{k} {reason}" for reason, k in counts.items())
        parts.append(f"{n_flagged} of the {n} graded image(s) {'is' if n_flagged == 1 else 'are'} not reliably "
                     f"gradable ({listed}): {'its row' if n_flagged == 1 else 'their rows'} in {written} "
                     f"{'looks' if n_flagged == 1 else 'look'} like any other")
    unusable = [(reason, k) for reason in (BLANK_REASON, NOISE_REASON)
                if (k := sum(1 for why in reasons if reason in why))]
    if unusable:  # blank or noise: graded only so that the CSV lists every case
        one = sum(k for _, k in unusable) == 1
        kinds = " and ".join(f"{k} {reason}" for reason, k in unusable)
        parts.append(f"the grade{'' if one else 's'} of the {kinds} image{'' if one else 's'} "
                     f"must not be used" + (f" ({hint})" if hint else ""))
    if any(trained):
        parts.append(training_images_line(sum(1 for t in trained if t), n,
                                          sum(1 for t in trained if t == BY_PIXELS)))
    if any(pretrained):
        parts.append(_pretrained_line(pretrained, stages, pretrained_by_pixels))
    return (f"{'FLAGGED' if counts else 'NOTE'}: {'; '.join(parts)}; per case in {notes_file} "
            f"({','.join(IMAGE_NOTES_COLUMNS)})")


_ARRAY_IMAGES = re.compile(r"^(?P<file>.+\.npz)(?::(?P<key>[^:/\\]+))?$", re.IGNORECASE)
"""An ``--images`` that names an array file: ``FILE.npz`` or ``FILE.npz:val_images``."""


def array_images_words(text: str, run: str = "") -> str | None:
    """Why ``--images`` cannot take the array file ``text`` names (``FILE.npz`` or
    ``FILE.npz:KEY``, a MedMNIST ``.npz`` whose images are rows of ``KEY``) and the two ways
    that work, in the words of an ``error:``: write the rows as PNG files named as the ingest
    names them (``val_0000.png`` ...: a one-line command of the running interpreter, numpy and
    Pillow, writing a folder ``STEM_SPLIT`` in the current folder, not beside the ``.npz``,
    whose folder may be shared or read-only), then grade that folder; or grade the array
    in Python (:func:`drac_ssl.grading.predict.grade_images`, whose ``training_image`` compares
    each array's decoded pixels with the model's training images). ``KEY`` when not given: the
    file's ``test_images``, else ``val_images``, else its first ``*_images`` array; ``run``: the
    run or bundle folder given, named in the Python line (``RUN`` when ""). The lines name the
    ``.npz`` by its absolute path (they work from any folder). A ``KEY`` that is none of the
    file's ``*_images`` arrays (``:bogus``, ``:train_labels``, whose rows are grades, not images)
    is said so, with the arrays it holds, and no line is given (it would fail with a KeyError,
    or write label rows as PNGs). None when ``text`` names no
    ``.npz`` file that exists. The export grades image files, each case named by its file, so
    an array is not graded directly (its notes, records and checks are per file)."""
    import json
    import zipfile

    match = _ARRAY_IMAGES.match(text)
    if match is None or not Path(match["file"]).is_file():
        return None
    npz = Path(match["file"]).absolute()  # the printed lines work from any folder
    try:
        with zipfile.ZipFile(npz) as archive:
            keys = [n[:-4] for n in archive.namelist() if n.endswith("_images.npy")]
    except (OSError, zipfile.BadZipFile):
        keys = []
    if match["key"] and keys and match["key"] not in keys:
        return (f"{text}: an array file (a MedMNIST .npz), with no image array {match['key']}; it holds "
                f"{', '.join(keys)}\n  fix: name one of them, e.g. --images "
                f"{shlex.quote(match['file'] + ':' + keys[0])}, for the two ways to grade its rows")
    key = match["key"] or next((k for k in ("test_images", "val_images", *keys) if k in keys), "test_images")
    split = key.removesuffix("_images")
    folder = Path.cwd() / f"{npz.stem}_{split}"  # not beside the .npz: a data folder may be shared or read-only
    code = (f"import numpy as np, pathlib; from PIL import Image; d = pathlib.Path({json.dumps(str(folder))}); "
            f"d.mkdir(exist_ok=True); a = np.load({json.dumps(str(npz))})[{json.dumps(key)}]; "
            f"[Image.fromarray(r.squeeze(-1) if r.ndim == 3 and r.shape[-1] == 1 else r).save("
            f"d / ({json.dumps(split + '_%04d.png')} % i)) for i, r in enumerate(a)]")
    held = f" {', '.join(keys)}" if keys else ""
    others = [k for k in keys if k != key]
    graded = (f"from drac_ssl.grading import grade_images, load_bundle; import numpy as np; "
              f"graded = grade_images(load_bundle({json.dumps(run) if run else 'RUN'}), "
              f"list(np.load({json.dumps(str(npz))})[{json.dumps(key)}]))")
    return (f"{text}: an array file (a MedMNIST .npz, whose images are rows of its arrays{held}), not an "
            f"image file or folder: --images grades image files, each case named by its file\n"
            f"  fix: write the rows of {key} as PNG files named as the ingest names them ({split}_0000.png, "
            f"{split}_0001.png ...) into the folder {folder} with the line below, then grade it with "
            f"--images {shlex.quote(str(folder))}"
            + (f" (for another array, --images {shlex.quote(match['file'] + ':' + others[0])} gives its line)"
               if others else "") + ":\n"
            f"    {python_word()} -c {shlex.quote(code)}\n"
            f"  or grade the array in Python (graded.training_image then says which rows trained the "
            f"model): {graded}")


def _images_arg(text: str, run: str = "") -> Path:
    """``--images``: an existing folder, or one image file; BundleError otherwise (an array
    file, ``FILE.npz`` or ``FILE.npz:KEY``: :func:`array_images_words`, the two ways that work)."""
    if (words := array_images_words(text, run)) is not None:
        raise BundleError(words)
    images_dir = Path(text)
    if images_dir.is_file() and images_dir.suffix.lower() not in IMAGE_SUFFIXES:
        raise BundleError(f"{images_dir}: not an image file ({', '.join(IMAGE_SUFFIXES)}); --images "
                          f"takes a folder of images or one image file")
    if not images_dir.exists():
        raise BundleError(f"{images_dir}: no such image folder or file")
    return images_dir


def _close_variant(run_dir: Path, variant: str) -> None:
    """Nothing when ``run_dir`` fine-tuned ``variant``; else the BundleError of
    :func:`drac_ssl.grading.bundle.fine_tuned_variant_dir` with, for a name close to one the run
    has (:func:`difflib.get_close_matches`, as train's settings), "Did you mean 'vicreg_umm'?"
    and ``--variant vicreg_umm`` as the fix (an editor's review, F13: ``--variant vicreg_umn``
    was told only the list)."""
    import difflib

    from drac_ssl.grading.bundle import fine_tuned_variant_dir

    try:
        fine_tuned_variant_dir(run_dir, variant)
    except BundleError as exc:
        done = sorted(p.parent.name for p in (run_dir / "finetune").glob("*/model.json"))
        close = difflib.get_close_matches(variant, done, n=1)
        text = str(exc)
        if close and "\n  fix: " in text:
            said, fix = text.split("\n  fix: ", 1)
            text = f"{said} Did you mean {close[0]!r}?\n  fix: --variant {close[0]}; or {fix}"
        raise BundleError(text) from None


def _export_variant(args: argparse.Namespace) -> int:
    """``RUN --variant NAME [--images DIR --out CSV]``: that variant's bundle (built or reused,
    :func:`build_or_reuse_bundle`) grades the folder, or, without ``--images``, writes its
    submission of the ingest's test images as :func:`run` does (the run's ``config.yaml``,
    on ``--device``). While it writes into RUN (a bundle to build, or RUN/export) it holds the
    run folder's lock (:func:`hold_run`): another process holding it is refused with
    :class:`drac_ssl.runtime.RunBusy` (a ValueError), and a lock file it cannot open (a
    folder it cannot write: read-only, another user's) with a BundleError naming the folder
    and the fix. A reused bundle grading a folder writes nothing into RUN: no lock is taken,
    so a run folder that is only readable serves. A submission failing its check exits 1
    (:class:`SubmissionCheckError`)."""
    if not args.run:
        raise BundleError("--variant NAME exports a variant of a run: give the run folder, "
                          f"{python_command('drac_ssl.export')} RUN --variant NAME")
    run_dir = Path(args.run)
    if not (run_dir / "finetune" / "summary.json").is_file():
        if (unfinished := unfinished_state(run_dir, "finetune")) is not None:  # say its state
            # its training still running (a live process holds RUN): busy, exit 75, which a
            # job script requeues (an export job started while the training, or its requeued
            # copy, runs); else refused, exit 2
            raise BundleError(unfinished.refused(
                f"{run_dir}: a run folder whose fine-tuning has not finished (no "
                f"finetune/summary.json): {unfinished.what}.\n  fix: {unfinished.fix}"))
        raise BundleError(f"{run_dir}: not a run folder whose fine-tuning finished (no "
                          f"finetune/summary.json).\n  fix: pass the run folder (not a bundle "
                          f"folder) of a run with the finetune stage done")
    _close_variant(run_dir, args.variant)  # a misspelt variant: said with the one it most likely means
    if args.images and not args.out:  # the arguments first, before the folder's lock
        raise BundleError("--images DIR needs --out CSV (the file to write)")
    if not args.images and (args.skip_unreadable or args.tta is not None):
        raise BundleError("--skip-unreadable and --tta go with --images; the submission of the "
                          "ingest's test images grades the ingest cache as the export stage does")
    if args.images:  # grading a folder writes into RUN only to build the bundle
        _images_arg(args.images, args.run)  # a missing folder said before the run folder's lock
        # a bundle built before its weights' digests were recorded grades as it is (the note
        # says they are used unverified): a read-only run folder still grades (review F2 of
        # killtests6); export RUN --variant NAME, or an --out inside RUN, rebuilds it to record them
        reused = reusable_bundle(run_dir, args.variant, unhashed_weights_ok=True)
        if reused is not None and not _inside(Path(args.out), run_dir):
            return _export_variant_held(args, run_dir, reused)  # writes nothing into RUN
        build = f"{run_dir / 'bundles' / args.variant} (the {args.variant} bundle, to build from " \
                f"{run_dir / 'finetune' / args.variant})"
        writes = [build] if reused is None else [f"{args.out} (inside the run folder)"]
        if reused is not None and older_bundle_records(read_json_dict(reused / "metadata.json") or {}):
            writes.append(build)  # under the lock, build_or_reuse_bundle records the digests
    else:
        writes = [f"{run_dir / 'export'} (the submission of the ingest's test images and its summary)"]
    # it writes RUN/bundles/NAME (and, without --images, RUN/export): a training, UMM, report
    # or another export holding RUN is refused (RunBusy, exit 75: try later), and one started meanwhile
    # too; the training's own export stage calls run() under the training's hold
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(hold_run(run_dir, tool="drac_ssl.export"))
        except OSError as exc:  # a read-only folder, an immutable lock file, another user's
            raise BundleError(_cannot_write_words(run_dir, exc, writes)) from None
        # what it writes into RUN is said in the run's invocation log, beside the training's lines
        invocation, t0 = record_start(run_dir, "drac_ssl.export"), time.perf_counter()
        try:
            code = _export_variant_held(args, run_dir)
        except BaseException as exc:
            record_end(run_dir, invocation, t0, exc)
            raise
        record_end(run_dir, invocation, t0, exit_code=code, note=_exit_note(code, args))
        return code


def _exit_note(code: int, args: argparse.Namespace) -> str | None:
    """The invocation log's words on an exit code of ``export RUN --variant NAME``: exit 3,
    ``incomplete submission: N file(s) skipped`` (N from the CSV's skipped-files record);
    exit 1, the submission failed its check; exit 5, nothing to grade; None otherwise (the
    stderr's error says it)."""
    if code == EXIT_SKIPPED and args.out:
        record = read_json_dict(skipped_record_path(args.out)) or {}
        n = len(record.get("skipped") or [])
        return f"incomplete submission: {n} file(s) skipped" if n else "incomplete submission"
    if code == 1:
        return "the submission failed its check"
    if code == EXIT_NO_IMAGES:
        return "nothing to grade: the folder holds no image; nothing written"
    if code == EXIT_FLAGGED:
        return "written; some image is not reliably gradable (the _notes.csv beside it says which)"
    return None


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file however they are spelled (a link to the run
    folder, ``..``): the same inode when both exist, else the same resolved path (:func:`drac_ssl.io.same_path`)."""
    return same_path(a, b)


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies in ``folder`` (links and ``..`` resolved)."""
    return path.resolve().is_relative_to(folder.resolve())


def _cannot_write_words(run_dir: Path, exc: OSError, writes: Sequence[str]) -> str:
    """The refusal of an export that must write into ``run_dir`` (``writes``: what, in words)
    whose lock file it cannot open (``exc``), with the fixes."""
    lock = run_dir / RUN_LOCK
    copy = f"~/{run_dir.name}-copy"
    return (f"{run_dir}: this export cannot write into the run folder ({exc.strerror or exc}: "
            f"{exc.filename or lock}); it would write {', '.join(writes)}.\n  fix: make the run "
            f"folder writable for this user (ls -ld {shlex.quote(str(run_dir))} shows its owner; "
            f"chmod u+w, or chattr -i {shlex.quote(str(lock))} for an immutable lock file), or "
            f"copy it to a place you can write and export from the copy: cp -r "
            f"{shlex.quote(str(run_dir))} {copy}, then the same command with {copy}")


def _export_variant_held(args: argparse.Namespace, run_dir: Path, reused_dir: Path | None = None) -> int:
    """:func:`_export_variant` while this process holds ``run_dir``, or, with ``reused_dir``
    (the bundle :func:`reusable_bundle` found to grade ``--images`` with), without the lock:
    nothing is written into the run folder then."""
    if args.images:
        images_dir = _images_arg(args.images, args.run)
        why: list[str] = []
        if reused_dir is not None:
            bundle_dir, reused = reused_dir, True
        else:
            # the card's out-of-fold Brier score and ECE (report.md's)
            from drac_ssl.report import oof_calibration_of

            bundle_dir, reused = build_or_reuse_bundle(run_dir, args.variant,
                                                       device=resolve_device(args.device), said=why,
                                                       oof_calibration=partial(oof_calibration_of, run_dir,
                                                                               args.variant))
        # printed with the summary (print_lines), not before grading: a closed or full stdout
        # must not cost the grades (a bare print here ended in "error: Broken pipe", no CSV)
        lead = variant_lines(run_dir, args.variant, bundle_dir, reused,
                             selected_other_line(run_dir, args.variant), rebuilt="; ".join(why))
        try:
            return _predict_folder(str(bundle_dir), images_dir, Path(args.out), args.tta, args.device,
                                   skip_unreadable=args.skip_unreadable, named_variant=True,
                                   lead_lines=lead, fmt=args.format)
        except BundleError:  # no summary (an unreadable file ...): which bundle, still said
            print_lines(lead)
            raise
    from drac_ssl.config import load_config

    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise BundleError(f"{config_path}: the run's saved settings are missing; grade a folder "
                          f"instead: --variant {args.variant} --images DIR --out CSV")
    cfg = load_config(config_path, [f"run.device={args.device}"])
    try:
        result = run(cfg, run_dir, variant=args.variant,
                     submission_path=Path(args.out) if args.out else None)
    except SubmissionCheckError as exc:  # a submission with problems: 1, as documented
        print(f"error: {exc}", file=sys.stderr)
        return PROBLEMS_FOUND
    if result.submission_path is None:
        return 2
    return EXIT_FLAGGED if result.n_flagged else 0  # as --images: its notes file says which


GRADE_ARGUMENTS = ("to grade images give RUN, --images DIR and --out TEAM.csv (or --check TEAM.csv "
                   "to validate a file)")
"""The refusal of ``export`` without RUN, ``--images DIR`` and ``--out CSV`` together."""


def grade_arguments_problem(run: str | None, images: str | None, out: str | None) -> str:
    """The refusal (a usage error, exit 2) of ``python -m drac_ssl.export`` lacking one of
    RUN, ``--images DIR`` and ``--out CSV`` (no ``--variant``, no ``--check``). ``RUN`` alone
    (or with ``--out``) on a run folder whose fine-tuning finished is told where the run's
    submission already is (``RUN/export/submission.csv`` and the variant whose bundle graded
    it, from ``export/summary.json``; or why its export wrote none; or, its export not done,
    the command that finishes it) and the commands that do more: ``--images DIR --out FILE``
    grades other images, ``--variant NAME`` exports another variant (the run's others named),
    ``--check`` checks the file. Nothing is exported again without being asked for.
    ``--images`` without ``--out``: that ``--out`` is needed. Else :data:`GRADE_ARGUMENTS`.

    Raises:
        RunBusy (:class:`drac_ssl.runtime.RunBusy`, a ValueError): ``RUN``'s export not done
            and its training still running (a live ``python -m drac_ssl.train`` holds the
            run's lock, :func:`drac_ssl.run_state.unfinished_state`): the same words, which
            the command says with exit 75 (try again later), not 2."""
    if images and not out:
        return "--images DIR needs --out CSV (the submission file to write)"
    if not run or images:
        return GRADE_ARGUMENTS
    run_dir = Path(run)
    finetune = read_json_dict(run_dir / "finetune" / "summary.json")
    if finetune is None:
        if (unfinished := unfinished_state(run_dir, "export")) is not None:
            # a live training holds RUN: try again later (exit 75)
            return unfinished.refused(f"{run_dir}: a run folder whose export has not run: {unfinished.what}.\n  "
                                      f"fix: {unfinished.fix}")
        return GRADE_ARGUMENTS
    py, where = python_command("drac_ssl.export"), shlex.quote(str(run_dir))
    submission = run_dir / "export" / "submission.csv"
    summary = read_json_dict(run_dir / "export" / "summary.json") or {}
    selected = finetune.get("selected")
    graded = summary.get("variant") if isinstance(summary.get("variant"), str) else None
    first: list[str] = []  # before and after the fixes every finished run gets
    last: list[str] = []
    pending: Unfinished | None = None  # its export not done: the run's state
    if submission.is_file():
        by = ""
        if graded:
            bundle = summary.get("bundle") or run_dir / "bundle"
            chosen = ": the variant the run selected" if graded == selected else ""
            by = f" (graded by its {graded} bundle, {bundle}{chosen})"
        said = (f"{run_dir}: this run's submission is already written: {submission}{by}; "
                f"without --images or --variant there is nothing more to export")
        last.append(f"to check it: {py} --check {shlex.quote(str(submission))} --manifest {where}")
    elif summary and not summary.get("submission"):
        notes = summary.get("notes") or []
        why = str(notes[0]) if notes else "the ingest manifest has no test images"
        said = f"{run_dir}: this run's export wrote no submission: {why}"
    elif (pending := unfinished_state(run_dir, "export")) is not None:
        said = f"{run_dir}: this run has no submission yet (no {submission}): {pending.what}"
        first.append(f"to write it, finish the run: {pending.fix}")
    else:
        said = f"{run_dir}: this run has no submission (no {submission})"
    variants = finetune.get("variants")
    others = [str(v) for v in variants if v != graded] if isinstance(variants, dict) else []
    fixes = [*first,
             f"to export {'another variant' if graded else 'a variant'}"
             + (f" ({', '.join(others)})" if others else "")
             + f" into {run_dir / 'export' / 'submission_NAME.csv'}: {py} {where} --variant NAME",
             f"to grade other images with its bundle: {py} {where} --images DIR --out FILE.csv", *last]
    words = f"{said}\n  fix: " + ";\n  or ".join(fixes)
    # a live training holds RUN: try again later (exit 75)
    return words if pending is None else pending.refused(words)


def _ood_check_note(bundle: Bundle) -> str | None:
    """The export's note on a ``bundle`` without an "unlike the training images" check, None
    when it has one (a weak one is :func:`_weak_check`'s): an untrained demo bundle
    (``metadata.json`` ``demo``) has none by design and gets no rebuild advice
    (:func:`drac_ssl.grading.demo.demo_ood_words`: a rebuild of its run folder gives the demo
    bundle again, with no check); another bundle without one (built by an older version, or
    without the ingest cache) gets the command that rebuilds it with one."""
    if bundle.input_profile is not None:
        return None
    if bundle.metadata.get("demo"):
        return demo_ood_words(bundle.path)
    # the one rebuild command of the bundle (rebuild_advice), as the missing-digests note gives
    # it: an old bundle got two fixes, build_bundle('RUN') here and the run's path there
    return (f"{bundle.path} has no out-of-distribution check (a bundle built by an older version, "
            f"or without the ingest cache): images unlike its training images are graded without "
            f"a word. A rebuild gives it one: {rebuild_advice(bundle.path)}")


def _caveat_lines(bundle: Bundle, unlike: np.ndarray | None, plural: bool) -> list[tuple[str, str]]:
    """The export command's lines on what applies to every grade, each ``(channel, sentence)``
    (``warning``; a weak check's may be a ``note``), printed as ``channel: sentence``:
    :func:`bundle_caveats` but the app's short weak-check caveat, said once with its reasons
    by :func:`_weak_check` instead. The provenance sidecar's ``caveats`` are these sentences,
    so that it says what the command printed."""
    weak_check = ood_check_caveat(bundle.metadata)
    lines = [("warning", caveat) for caveat in bundle_caveats(bundle, plural=plural) if caveat != weak_check]
    return [*lines, *([weak] if (weak := _weak_check(bundle, unlike)) else [])]


def _weak_check(bundle: Bundle, unlike: np.ndarray | None) -> tuple[str, str] | None:
    """The export command's one line on a ``bundle`` whose "unlike the training images" check is
    weak, ``(channel, sentence)`` (:func:`drac_ssl.grading.bundle.ood_check_caveat`, the app's and
    the stage's caveat; :meth:`drac_ssl.grading.ood.InputProfile.caveat`, its reasons, the model
    card's), None for a sound check or none. Said once, with the reasons (it was said twice before: the reasons
    as a ``note:``, the app's short caveat as a ``warning:``). ``unlike``: the graded
    images' flags (:attr:`drac_ssl.grading.predict.GradedImages.unlike`). The channel follows
    the rule of :func:`drac_ssl.grading.image_notes.is_plain_note` (a warning casts doubt on an
    image, a note does not): a weak check's doubt is on the images it did *not* flag ("no flag
    means little"), so it is a ``warning:`` while any graded image went unflagged (none flagged
    is when it matters most: a trial bundle let 30 photographs of another data set through, see
    :mod:`drac_ssl.grading.ood`), and a plain ``note:`` when every graded image was flagged
    (each then has the flagged images' warning, :func:`_unlike_line`). When it flagged most of
    the graded images, the past measurement of a trial bundle that flagged none
    (:data:`drac_ssl.grading.ood.TRIAL_EVIDENCE`) is left out and the line says what it flagged
    here instead (a trial: "flagged none of 30 APTOS photographs" right after 30 of 30 flagged)."""
    short = ood_check_caveat(bundle.metadata)
    n_flagged = 0 if unlike is None else int(np.count_nonzero(unlike))
    n = 0 if unlike is None else int(unlike.size)
    most = n > 0 and 2 * n_flagged > n  # flagged most of them: no past "flagged none" beside it
    reasons = bundle.input_profile.caveat(evidence=not most) if bundle.input_profile is not None else ""
    if not (short or reasons):
        return None
    words = f"the out-of-distribution check of {bundle.path}: {reasons}" if reasons else short
    if most:  # what it did here, so that the weakness reads as about the images it let through
        words += (f"; here it flagged {'every one' if n_flagged == n else n_flagged} of the {n} graded "
                  f"images{'' if n_flagged == n else ': those it did not flag may still be of another kind'}")
    every_flagged = n > 0 and n_flagged == n
    return ("note" if every_flagged else "warning"), words


def _read_failed(exc: OSError, out: str | None) -> bool:
    """Whether ``exc``, an ``OSError`` that reached :func:`main`, is a read's (a run or bundle
    folder closed to this account, a file it may not read), not a write's: no writer marked it
    (:func:`drac_ssl.io.written_file`, :data:`EARLIER_SET_KEPT`), it is no full disk nor a
    read-only one, and the file it names is not beside ``--out`` (``out``; the submission and
    the files written with it). A review: a run folder of another account (mode 0700) was said
    as "check that it can be written"."""
    if written_file(exc) is not None or hasattr(exc, EARLIER_SET_KEPT) or no_space(exc) or exc.errno == errno.EROFS:
        return False
    if exc.filename is None:
        return False
    named = Path(os.path.abspath(os.fsdecode(exc.filename)))
    return out is None or named.parent != Path(os.path.abspath(out)).parent


EXPANDED_ARGUMENTS = ("run", "images", "out", "check", "manifest", "score", "labels", "json")
"""The export's arguments naming a file or folder, whose leading ``~`` is expanded as the
config's path settings' are (:func:`drac_ssl.config.expand_home`): ``--images '~/x'`` typed in
quotes reads ``$HOME/x``, not a folder ``./~/x``."""


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m drac_ssl.export RUN --images DIR --out TEAM.csv``, ``--check TEAM.csv
    --images DIR`` or ``--score TEAM.csv --labels LABELS.csv`` (:func:`drac_ssl.scoring.score_command`);
    returns the exit code, one of those :data:`drac_ssl.exit_codes.EXPORT_EXIT_CODES` lists
    for its mode (the command's ``--help`` says them).

    ``argv``: the words after ``python -m drac_ssl.export``; None: ``sys.argv[1:]``. Called
    from Python with an ``argv``, the run's ``invocations.jsonl`` records ``PYTHON -m
    drac_ssl.export *argv``, not the caller's ``sys.argv``
    (:func:`drac_ssl.runtime.command_given`), and the caller's torch and OpenCV threads are
    given back on return (:func:`drac_ssl.runtime.threads_kept`); torch's inter-op pool, which
    a process sizes once, is sized by ``--threads`` only when ``argv`` is None (the command's
    own process), as :func:`drac_ssl.train.main` does."""
    args = export_parser().parse_args(argv)
    for dest in EXPANDED_ARGUMENTS:  # '~/x' typed in quotes: as train's path settings (F1)
        value = getattr(args, dest, None)
        if isinstance(value, str) and value.startswith("~"):
            setattr(args, dest, os.path.expanduser(value))
    started()  # everything is imported: Ctrl-C raises KeyboardInterrupt again
    if args.find_tag:  # the names of a tag, on a console that is private: no filter
        return find_tag_command(args, manifest_test_cases)
    # --log-names tag: every console line says a tag instead of each file name it would give
    # (gathered inside the filter's protection: an exception of its own names no file either);
    # a call from Python records its own command and leaves the caller's threads as they were
    # SIGTERM (kill, a scheduler's limit) stops as Ctrl-C does, exit 143 (train's, data_prep's)
    with (sigterm_as_ctrl_c(), command_given("drac_ssl.export", argv), threads_kept(),
          tagged_console(lambda: export_log_names(args, manifest_test_cases))):
        return _main(args, argv)


EXPORT_MEMORY_FIX = (f"--threads 1 (each thread holds buffers of its own) and close other programs, or give "
                     f"it more memory; the export holds {PREDICT_CHUNK} images at a time whatever the folder's "
                     "size (no setting lowers it), so most of what it needs is torch and the model. The "
                     "submission CSV and the files beside it are replaced only once all are written: --out "
                     "is as it was; rerun the same command (docs/running.md, Memory)")
"""The fix :func:`main` says for a ``MemoryError`` (:func:`drac_ssl.starting.out_of_memory_words`)."""


def _said_error(exc: BaseException) -> int:
    """Say ``exc`` (a refused bundle, a missing file, torch's error) in one ``error:`` line, with
    the fix for a temporary folder torch could not have; 2, the exit code."""
    fix = no_temp_folder_fix(exc)  # ulimit -f 0: torch's import asks for a temporary folder
    print(f"error: {exc}" + (f"\n  fix: {fix}" if fix else ""), file=sys.stderr)
    return 2


def _main(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    """:func:`main` after parsing, inside the console :func:`main` chose (``--log-names``)."""
    try:
        from drac_ssl.runtime import apply_thread_policy

        # the inter-op pool (sized once per process) only in the command's own process
        apply_thread_policy(args.threads, inter_op=argv is None)
        if problem := score_arguments_problem(args):
            raise BundleError(problem)
        if args.score:  # a submission against labels the user holds (drac_ssl.scoring)
            from drac_ssl.scoring import score_command

            return score_command(args, list(sys.argv[1:] if argv is None else argv))
        if args.check:
            if problem := check_arguments_problem(args):
                raise BundleError(problem)
            from drac_ssl.kaggle import is_kaggle_file, report_kaggle_check
            from drac_ssl.submission import report_check

            cases = names = data_dir = None
            k = args.grades
            if args.manifest:
                cases, data_dir = manifest_test_cases(args.manifest)
                facts = read_ingest_facts(data_dir)
                names = list(facts.grade_names)
                if k is not None and k != len(names):
                    raise BundleError(f"{grades_typed(k)} contradicts the manifest's {len(names)} grades "
                                      f"({', '.join(names)})")
                if not cases:  # nothing to check against: the folder of the images is
                    scale = (f"--grades {len(names)} (this run's {', '.join(names)}) or, without "
                             f"it, from the CSV's header")
                    fix = (f"drop --manifest to check against --images alone: the grade scale "
                           f"then comes from {scale}" if args.images else
                           f"pass --images DIR (the folder of the images the CSV grades) instead "
                           f"of --manifest; the grade scale then comes from {scale}")
                    raise BundleError(f"{args.manifest}: the manifest lists no test images\n  fix: {fix}")
            scale_from = (f"the manifest of {args.manifest} has" if args.manifest and args.grades is None
                          else grades_scale_from(args.grades))
            if is_kaggle_file(args.check):  # id_code,diagnosis: Kaggle's rules, its ids the images' stems
                return report_kaggle_check(args.check, args.images,
                                           num_grades=k if k is not None else len(names) if names else None,
                                           cases=None if args.images else cases, scale_from=scale_from,
                                           json_path=args.json)
            code = report_check(args.check, args.images, num_grades=k, grade_names=names,
                                cases=None if args.images else cases, scale_from=scale_from, json_path=args.json,
                                # a run's manifest says K only when it lists test images (else
                                # an error)
                                other_options="--manifest RUN for a run whose manifest lists test images",
                                # the run's rule is known: before the JSON, which says it too
                                warn_if_valid=None if data_dir is None or names is None else
                                partial(other_classes_warning, args.check, len(names), data_dir))
            return code
        if args.manifest or args.grades is not None:
            raise BundleError("--manifest goes with --check, --grades with --check or --score")
        if args.format == "kaggle" and not args.images:
            raise BundleError("--format kaggle goes with --images DIR --out CSV (a folder graded into "
                              "Kaggle's id_code,diagnosis); the submission of the ingest's test images "
                              "(RUN --variant NAME) is DRAC's format")
        if args.out and (problem := companion_name_problem(args.out)
                         or output_file_problem(args.out, "--out", "submission.csv")
                         or export_out_problem(args.out, args.run, args.images)):
            raise BundleError(problem)  # before any grading, not at the final rename
        resolve_device(args.device, setting="--device")  # the flag typed, before any work
        if args.variant is not None:
            return _export_variant(args)
        if not args.run or not args.images or not args.out:
            raise BundleError(grade_arguments_problem(args.run, args.images, args.out))
        return _predict_folder(args.run, _images_arg(args.images, args.run), Path(args.out), args.tta, args.device,
                               skip_unreadable=args.skip_unreadable, fmt=args.format)
    except RunBusy as exc:  # a ValueError: before it, so that a job script can requeue it
        print(f"error: {exc}", file=sys.stderr)
        return RUN_BUSY
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):  # not memory: said as every other refusal below
            return _said_error(exc)
        print(f"error: {out_of_memory_words(exc, EXPORT_MEMORY_FIX)}", file=sys.stderr)
        return OUT_OF_MEMORY_EXIT
    except (BundleError, FileNotFoundError, ValueError) as exc:
        return _said_error(exc)
    except OSError as exc:  # a file or folder it cannot write (permissions, a full disk ...)
        if _read_failed(exc, args.out):  # not a write: a run or bundle folder of another account (mode 0700)
            print(f"error: {unreadable_words(exc, fix_more=BUNDLE_COPY_FIX)}", file=sys.stderr)
            return 2
        where = f"{exc.filename}: " if exc.filename else ""
        kept = getattr(exc, EARLIER_SET_KEPT, None)  # set by _write_checked, which replaces the set
        state = ("; --out and the files beside it are as they were before (a submission and its "
                 "notes and referable files are replaced only once all are written, and a failed "
                 "rename is undone)" if kept else
                 f"; the earlier files of --out could not all be put back: "
                 f"{'; '.join(getattr(exc, '__notes__', []))}" if kept is False else "")
        if no_space(exc):  # a full disk, ulimit -f, a quota
            fix = f"{NO_SPACE_WORDS}; free space on that disk or raise the limit, then rerun the same command"
        else:  # a write (a read is said above)
            fix = ("check that it can be written (its permissions and owner, free space, a network "
                   "drive), then rerun the command")
        print(f"error: {where}{exc.strerror or exc}{state}\n  fix: {fix}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hold_signals_if_command()  # a second SIGTERM cannot cut the line nor kill by signal
        sys.stdout.flush()
        print("\n[export] interrupted: the submission CSV and the files beside it are replaced "
              "together, once all are written, so --out is either complete or as it was before; "
              "rerun the same command to grade the images", file=sys.stderr)
        return interrupt_exit_code()


if __name__ == "__main__":
    run_command(main)
