"""Where the images and labels are: DRAC 2022, the public DR dataset layouts, or a plain folder.

``discover(cfg)`` recognises (``data.layout=auto``) or takes (``data.layout=KIND``):

``drac``: the official DRAC 2022 Task 3 layout, exactly as unzipped (spaces, dots and the
underscore-space are real)::

    C. Diabetic Retinopathy Grading/
      1. Original Images/a. Training Set/001.png ...
      2. Groundtruths/a. DRAC2022_ Diabetic Retinopathy Grading_Training Labels.csv
    DRAC2022_Testing_Set/C. Diabetic Retinopathy Grading/1. Original Images/b. Testing Set/*.png

  ``root`` may be the unzipped folder holding both, ``C. Diabetic Retinopathy Grading``
  itself (the testing set is then looked for beside it and inside it), or one of the image
  folders inside it. Any single ``.csv`` in ``2. Groundtruths`` is taken as the label file.

``aptos``: APTOS 2019 Blindness Detection (Kaggle): ``train.csv`` (``id_code,diagnosis``,
  ids without extension) + ``train_images/<id_code>.png``; optional ``test_images/`` (the
  unlabelled test split), checked against ``test.csv`` when present.

``eyepacs``: EyePACS / Kaggle Diabetic Retinopathy Detection 2015: ``trainLabels.csv``
  (``image,level``, e.g. ``10_left`` without extension) + the ``.jpeg`` files in ``train/``
  (or ``train_images/``, ``resized_train/``, ``resized_train_cropped/``); optional ``test/``.

``idrid``: IDRiD, sub-challenge B (disease grading), the official folder names::

    B. Disease Grading/
      1. Original Images/a. Training Set/IDRiD_001.jpg ...   b. Testing Set/IDRiD_001.jpg ...
      2. Groundtruths/a. IDRiD_Disease Grading_Training Labels.csv  (Image name, Retinopathy grade)

  ``root`` may be the folder holding ``B. Disease Grading`` or that folder. The testing set
  is the unlabelled test split (its public label file is not read: ``python -m
  drac_ssl.export --score SUBMISSION.csv --labels FILE`` scores a submission against it, a note
  says so); its names restart at
  ``IDRiD_001``, so names shared with training images are allowed (contents are compared).

``deepdrid``: DeepDRiD (ISBI 2020), a regular-fundus set as unzipped::

    regular-fundus-training/
      regular-fundus-training.csv   (patient_id, image_id, ..., left_eye_DR_Level, right_eye_DR_Level, ...)
      Images/<patient_id>/<image_id>.jpg

  ``root`` is that folder (``regular-fundus-validation/``, of the same shape, is read alike);
  the images sit in per-patient subfolders of ``Images/`` (``Layout.nested``), or, in a copy
  repacked without ``Images/``, in per-patient subfolders of ``root`` itself, beside the CSV
  (a note says so). Each image's
  ICDR grade is its own eye's column (``_l`` / ``_r`` after the underscore of ``image_id``,
  :data:`EYE_COLUMNS`), its patient the ``patient_id`` column (:data:`PATIENT_COLUMNS`), so
  folds keep a patient's images together without ``data.patient_column``. A folder holding
  both sets is refused, naming the one to pass (the two are not merged into one pool); the
  challenge's evaluation images are not read (no test split).

``messidor2``: Messidor-2 with its adjudicated grades::

    messidor-2/
      messidor_data.csv   (image_id, adjudicated_dr_grade, adjudicated_dme, adjudicated_gradable)
      IMAGES/*.png, *.JPG

  ``root`` is the folder holding both, or ``IMAGES/`` alone with that CSV passed as
  ``labels_csv`` (:func:`messidor2_by_csv`); ``IMAGES/`` without a CSV is refused naming it
  (:func:`messidor2_csv_fix`). ICDR grades (``adjudicated_dr_grade``), colour fundus
  photographs. A row whose ``adjudicated_gradable`` is 0 is an ungradable row whatever its
  grade cell holds (:data:`GRADABLE_COLUMNS`), as is an empty grade cell: an error naming
  ``data.ungradable``, or left out with ``leave_out``. An examination photographs both eyes,
  and the CSV names no examination: each image is its own unit in the folds unless
  ``data.patient_column`` names a column that groups them (a note says so). No test split.

``medmnist``: a MedMNIST ``.npz`` (RetinaMNIST): ``root`` is the file or a folder holding
  exactly one. Row ``i`` of ``train_images`` / ``val_images`` / ``test_images`` is the case
  ``train_{i:04d}.png`` / ``val_{i:04d}.png`` / ``test_{i:04d}.png``; train and val rows with
  their labels are the cross-validation pool, test rows the unlabelled test split.

``plain``: a folder of images plus a label CSV (``labels_csv`` or the only CSV in the
  folder); an optional ``test/`` subfolder holds unlabelled test images. A plain folder is
  read in the channels its images have (``data.channels`` auto unless set: grey scans stay
  grey and are UW-OCTA, colour photographs stay colour and are fundus) on DRAC's grades
  unless ``data.grades`` says otherwise, or its CSV has the label columns of one public
  layout (below).

Each public layout names its own label columns; ``data.image_column`` / ``data.grade_column``
override them when changed from their defaults. A plain folder whose CSV lacks the default
columns (``image name``, ``DR grade``) but has those of exactly one public layout (IDRiD's
``Image name`` / ``Retinopathy grade``, APTOS's ``id_code`` / ``diagnosis``, EyePACS's
``image`` / ``level``, Messidor-2's ``image_id`` / ``adjudicated_dr_grade``) is read with them, and that layout's defaults apply (grade scale,
colour fundus photographs, EyePACS eye pairs): ``Layout.label_format``, said in a note.
Columns the user set are never replaced.

The official folder and file names above (and APTOS's ``train_images/``, ``train.csv``,
``test_images/``, ``test.csv``) are matched without letter case and whitespace
(:func:`find_named`): ``a. Training set`` is read as ``a. Training Set`` with a note naming
both; two folders that both match (and no exact one) are an error naming them. A DRAC layout
with a training-label CSV but no training folder is an error; without a testing set, a note
says where it was looked for and where it goes.

A plain root without a label CSV, or without an image, is likely one level off: the folder
above it or one inside it is a layout of :data:`DETECTORS`, its subfolders hold the images,
or the folder above holds its label CSV. :func:`likely_roots` names that root (``did you mean
--root ...?``), from listings only; images spread over several subfolders are said as such
(a folder-per-grade tree needs a label CSV), never as one of them. A compressed label CSV
there or in the folder above (Kaggle's ``trainLabels.csv.zip``) is named with the command
that unpacks it (:func:`packed_label_csv_fix`): the package reads no compressed CSV.
"""

from __future__ import annotations

import dataclasses
import filecmp
import os
import re
import shlex
import sys
import unicodedata
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data_prep.grades import LAYOUT_SCALES
from data_prep.labels import (
    decode_text,
    name_grade_command,
    name_grade_fix,
    name_grade_line,
    normalise,
    read_table,
)
from data_prep.problems import (
    IngestError,
    Problem,
    counted,
    error,
    format_problems,
    named_few,
    note,
)
from drac_ssl import scale
from drac_ssl.config import DATA_LAYOUTS, LAYOUT_NAMES, DataConfig, layout_name
from drac_ssl.grading import image_notes
from drac_ssl.grading.image_notes import CONVERT_FIX, unread_image_format
from drac_ssl.io import readable_absolute
from drac_ssl.starting import python_command, python_word

TASK_DIR = "C. Diabetic Retinopathy Grading"
TEST_ROOT_DIR = "DRAC2022_Testing_Set"
IMAGES_DIR = "1. Original Images"
TRAIN_DIR = "a. Training Set"
TEST_DIR = "b. Testing Set"
GROUNDTRUTH_DIR = "2. Groundtruths"
LABELS_CSV_NAME = "a. DRAC2022_ Diabetic Retinopathy Grading_Training Labels.csv"
PLAIN_TEST_DIR = "test"

APTOS_CSV, APTOS_TRAIN, APTOS_TEST, APTOS_TEST_CSV = "train.csv", "train_images", "test_images", "test.csv"
EYEPACS_CSV = "trainLabels.csv"
EYEPACS_TRAIN_DIRS = ("train", "train_images", "resized_train", "resized_train_cropped")
EYEPACS_TEST_DIRS = ("test", "test_images", "resized_test")
IDRID_DIR = "B. Disease Grading"
IDRID_LABELS_CSV_NAME = "a. IDRiD_Disease Grading_Training Labels.csv"
DEEPDRID_SETS = ("regular-fundus-training", "regular-fundus-validation")  # each with NAME.csv
DEEPDRID_IMAGES = "Images"  # Images/<patient_id>/<image_id>.jpg
MESSIDOR2_CSV = "messidor_data.csv"  # the adjudicated grades
MESSIDOR2_IMAGES = "IMAGES"  # the Messidor-2 images: *.png and *.JPG

IMAGE_SUFFIXES = frozenset(image_notes.IMAGE_SUFFIXES)  # the one list (image_notes)
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "__macosx", "icon\r"})
SPREADSHEET_SUFFIXES = frozenset({".xlsx", ".xls", ".xlsm", ".ods"})
"""Spreadsheet files a label file may ship as (DeepDRiD's evaluation labels are ``.xlsx``):
never read, said with :func:`spreadsheet_fix`."""


def spreadsheet_fix(path: Path) -> str:
    """What to do with a spreadsheet (:data:`SPREADSHEET_SUFFIXES`) where a label CSV or images
    are looked for: the package reads CSV only, so save it as one, with the columns to name."""
    return (f"{path.name} is a spreadsheet, which is not read: if it holds the labels, save it "
            "as CSV (Excel: File > Save As > CSV UTF-8) with a column of image names and one of "
            "grades ('image name' and 'DR grade', or name yours with --image-column NAME "
            "--grade-column NAME) and pass it with --labels-csv FILE")

COLUMNS = {  # the label columns each layout's CSV has
    "drac": ("image name", "DR grade"),
    "plain": ("image name", "DR grade"),
    "aptos": ("id_code", "diagnosis"),
    "eyepacs": ("image", "level"),
    "idrid": ("Image name", "Retinopathy grade"),
    "deepdrid": ("image_id", ""),  # the grade is per eye: EYE_COLUMNS
    "messidor2": ("image_id", "adjudicated_dr_grade"),
    "medmnist": ("", ""),
}
EYE_COLUMNS = {"deepdrid": ("left_eye_DR_Level", "right_eye_DR_Level")}
"""Layouts whose grade is spread over one column per eye, (left, right): each row's grade is
its own eye's column, the eye told from the image id (:func:`data_prep.validate.eye_of`);
``data.grade_column``, when set, reads that one column instead."""


def eye_columns_in(columns: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The layouts whose per-eye grade columns (:data:`EYE_COLUMNS`: DeepDRiD's
    ``left_eye_DR_Level`` / ``right_eye_DR_Level``) are both among ``columns`` (a label CSV's
    header), names compared as the label reading compares them (:func:`normalise`): kind ->
    (left, right) as the header spells them (the last of two columns that read alike), in the
    order of :data:`EYE_COLUMNS`; ``{}`` when no layout's pair is there (one eye's column alone
    is no pair). The one test of "this CSV grades each eye in a column of its own" that the
    ingest's notes and fixes, the layout detection and ``export --score`` share."""
    present = {normalise(c): c for c in columns}
    return {kind: (present[normalise(left)], present[normalise(right)])
            for kind, (left, right) in EYE_COLUMNS.items()
            if normalise(left) in present and normalise(right) in present}
PATIENT_COLUMNS = {"deepdrid": "patient_id"}
"""The patient column a layout owns: its folds keep a patient's images together without
``data.patient_column`` (which, when set, is read instead). EyePACS names its patients in
its image ids instead (``data_prep.ingest.pair_eyes``)."""
UNGRADABLE_GRADES = {"deepdrid": 5}
"""The grade a layout writes for an image its graders found ungradable (DeepDRiD's regular
set: 5, beyond its ICDR 0..4): when the grade scale does not hold it, a row of that grade is
an ungradable row like an empty cell (an error naming ``data.ungradable``, or left out with
``leave_out``: :func:`data_prep.validate.read_labels` ``marked_ungradable``); a scale that
holds it (six names) reads it as that grade."""
ICDR_UNGRADABLE_GRADE = 5
"""The grade DeepDRiD and DDR (Li et al., Information Sciences 2019: its ``train.txt`` /
``valid.txt`` / ``test.txt``) write for an image their graders found ungradable, one above
ICDR's 0..4. Read outside their layouts (a flat copy, DDR's lines made a CSV), a label file on
the ICDR scale whose only grade outside it is 5, beside a grade 0, and whose columns are no
public layout's that never writes 5 (APTOS's ``diagnosis``, EyePACS's ``level``...), may hold
that mark: the ingest says so (never a sixth grade), and the fix is NA in those cells with
``--ungradable leave_out``. A 5 itself is never left out outside DeepDRiD's layout: in a plain
CSV it may as well be a slip or a 1-based PDR (:func:`data_prep.validate.read_labels`); DDR's
lines made a CSV by :func:`data_prep.labels.name_grade_command` hold NA for it."""
ICDR_UNGRADABLE_WHOSE = "DeepDRiD's and DDR's"
"""Whose ungradable grade :data:`ICDR_UNGRADABLE_GRADE` is, in the messages' words."""
DDR_IMAGE_NAME = re.compile(r"[0-9]{3}-[0-9]{4}-[0-9]{3}\.jpg", re.IGNORECASE)
"""A DDR grading image's file name (``007-0004-000.jpg``): the evidence, beside a grade 5, that
the 5 may be DDR's ungradable mark (:func:`ddr_names`)."""


def ddr_names(names: Collection[str]) -> bool:
    """Whether every one of ``names`` (image names or paths, at least one) is a DDR grading
    image's file name (:data:`DDR_IMAGE_NAME`): the only evidence a plain CSV gives that its
    grade 5 is DDR's ungradable mark rather than a 1-based PDR."""
    return bool(names) and all(DDR_IMAGE_NAME.fullmatch(Path(str(n).replace("\\", "/")).name) for n in names)
GRADABLE_COLUMNS = {"messidor2": "adjudicated_gradable"}
"""The column in which a layout's CSV says whether its graders found each image gradable (1)
or not (0), beside the grade (Messidor-2's ``adjudicated_gradable``): a row whose cell is 0 is
an ungradable row whatever its grade cell holds (an error naming ``data.ungradable``, or left
out with ``leave_out``), never trained on; a cell other than 0, 1 or empty is an error.
:func:`data_prep.validate.read_labels` reads such a column wherever a label CSV has it, so a
plain folder whose columns are named by hand is cross-checked too."""


def icdr_grade_column(columns: str | Sequence[str]) -> str:
    """The layout (kind) whose label CSV holds ICDR grades (0 No DR .. 4 PDR, its scale in
    :data:`data_prep.grades.LAYOUT_SCALES`) in the column ``columns`` (one name, or the per-eye
    pair read as one grade, :data:`EYE_COLUMNS`): ``messidor2`` for ``adjudicated_dr_grade``,
    ``aptos`` for ``diagnosis``, ``eyepacs`` for ``level``, ``idrid`` for ``Retinopathy grade``,
    ``deepdrid`` for ``left_eye_DR_Level`` / ``right_eye_DR_Level``; names compared as the label
    reading compares them (:func:`data_prep.labels.normalise`). ``''`` for any other column.
    A two-grade model scored or trained on such a column reads ICDR grade 1 (mild) as grade 1
    (referable) unless the grades are mapped first (``export --score --labels-referable-from``,
    ``data.referable_from``)."""
    names = [columns] if isinstance(columns, str) else list(columns)
    keys = {normalise(c) for c in names if c}
    for kind, (_, grade) in COLUMNS.items():
        if grade and LAYOUT_SCALES.get(kind) == "icdr" and normalise(grade) in keys:
            return kind
    for kind, eyes in EYE_COLUMNS.items():
        if LAYOUT_SCALES.get(kind) == "icdr" and keys & {normalise(c) for c in eyes}:
            return kind
    return ""


STEM_ID_LAYOUTS = frozenset({"aptos", "eyepacs", "idrid", "deepdrid"})
"""Layouts whose own label CSV names each image without its extension (APTOS's ``id_code``,
EyePACS's ``10_left``, IDRiD's ``IDRiD_001``, DeepDRiD's ``1_l1``): matching those names by stem
is the layout's convention, so :func:`data_prep.validate.match_labels` says it in no note
(``Layout.stem_ids``). A plain folder keeps the note (its CSV may name files either way), also
when it is read with one of these layouts' columns; so do DRAC and Messidor-2, whose CSVs name
the files with their extensions; MedMNIST has no label CSV (its cases are rows of the
``.npz``). A new layout is named here, in or out (docs/design.md, adding a layout; the guard
test checks it)."""
NESTED_LAYOUTS = frozenset({"deepdrid"})
"""Layouts whose training images sit in per-patient subfolders of ``train_dir`` (one level:
``Images/<patient_id>/<image>``), listed by :func:`scan_image_folder` with ``nested``."""
FUNDUS_LAYOUTS = frozenset(scale.FUNDUS_LAYOUTS)
"""Colour fundus layouts: ``data.channels`` defaults to auto (as for a plain folder), no 1024 px
expectation."""
LABEL_FORMATS = tuple(kind for kind, columns in COLUMNS.items()
                      if all(columns) and columns != COLUMNS["plain"])
"""The public layouts whose label columns a plain folder's CSV may have (aptos, eyepacs, idrid,
messidor2)."""


@dataclass
class Layout:
    """The resolved input: image folders per split and the label CSV (None when absent)."""

    kind: str  # drac | plain | aptos | eyepacs | idrid | deepdrid | messidor2 | medmnist
    root: Path
    train_dir: Path | None
    test_dir: Path | None
    labels_csv: Path | None
    problems: list[Problem] = field(default_factory=list)
    skip: list[Path] = field(default_factory=list)  # non-image entries that belong in train_dir
    image_column: str = "image name"  # the label CSV's columns
    grade_column: str = "DR grade"
    test_list_csv: Path | None = None  # a list of the test ids to check the test folder against
    npz: Path | None = None  # medmnist: the .npz holding the images
    shared_test_names: bool = False  # the official test names restart (IDRiD)
    label_format: str = ""  # plain: the public layout whose label columns the CSV has
    eye_columns: tuple[str, ...] = ()  # (left, right): the grade is the image's eye's (EYE_COLUMNS)
    patient_column: str = ""  # the patient column the layout owns (PATIENT_COLUMNS)
    # (grade, layout name): the grade the layout writes for an ungradable image (UNGRADABLE_GRADES)
    marked_ungradable: tuple[int, str] | None = None

    @property
    def nested(self) -> bool:
        """The training images sit in per-patient subfolders of ``train_dir``
        (:data:`NESTED_LAYOUTS`)."""
        return self.kind in NESTED_LAYOUTS

    @property
    def stem_ids(self) -> bool:
        """The layout's own label CSV names images without extension (:data:`STEM_ID_LAYOUTS`):
        names matched by stem are its convention, not worth a note."""
        return self.kind in STEM_ID_LAYOUTS

    @property
    def treated_as(self) -> str:
        """The layout whose defaults apply (grade scale, modality, channels, EyePACS eye
        pairs): ``kind``, or for a plain folder the public layout whose label columns its CSV
        has (:data:`LABEL_FORMATS`)."""
        return self.label_format or self.kind

    @property
    def fundus(self) -> bool:
        return self.treated_as in FUNDUS_LAYOUTS

    @property
    def default_channels(self) -> str:
        """What an empty ``data.channels`` means: ``1`` for the DRAC layout (UW-OCTA is grey),
        ``auto`` (what the images are: all grey -> 1, any colour -> 3) for the fundus layouts
        and a plain folder (a review: a plain folder of colour photographs under a grey default
        was converted to grey with a warning per image and recorded as UW-OCTA). The ingest
        and the preflight both read it."""
        return "auto" if self.fundus or self.kind == "plain" else "1"


@dataclass
class FolderScan:
    """The images of one folder and what else was found there."""

    images: list[Path]
    problems: list[Problem]
    # the files the scan reported as not read (x.webp; a name not valid UTF-8, and in a nested
    # scan each file of a patient folder whose name is not): a label row naming one is that
    # file's error, not also a label without image (data_prep.validate.match_labels)
    not_read: list[Path] = field(default_factory=list)
    # the entries whose name is not valid UTF-8 (files; patient folders of a nested scan), as
    # undecodable_problems said them: the ingest says them again once a label row tells the
    # encoding (data_prep.validate.label_named_encoding)
    undecodable: list[Path] = field(default_factory=list)


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with forward slashes: how the manifest and the cache
    state name an image."""
    return Path(os.path.relpath(path, root)).as_posix()


def is_hidden(path: Path) -> bool:
    """Operating-system clutter (``.DS_Store``, ``Thumbs.db``, ``__MACOSX`` ...) and office lock
    files: LibreOffice's ``.~lock.labels.csv#`` and Microsoft Office's ``~$labels.csv`` (written
    beside a file while it is open; never a second label CSV)."""
    return path.name.startswith((".", "~$")) or path.name.lower() in SYSTEM_FILES


def name_key(name: str) -> str:
    """A file name as image names are matched: in Unicode NFC form and lower case. macOS stores
    ``é04.png`` decomposed (NFD: ``e`` and a combining accent) while a CSV typed elsewhere has
    it composed (NFC); both print alike and are one name. Letter case is ignored too (a row
    ``PATIENT00_OS.PNG`` finds ``patient00_OS.png``, two names on Linux): the label matching
    counts such names in one note (:func:`data_prep.validate.only_by_case`). The key is only
    for comparing: paths and manifest ids keep the name as stored, which is the one that opens
    the file."""
    return unicodedata.normalize("NFC", name).lower()


def different_files(paths: Sequence[Path]) -> bool | None:
    """Whether the files ``paths`` (names one :func:`name_key`: ``IMG_1.png`` and ``img_1.png``,
    two files on Linux) hold different bytes: two photographs, not one copied twice. None when
    a file cannot be read: maybe two images, so the callers give the advice that deletes
    nothing (:data:`TWO_IMAGES_FIX`), not the one to keep one."""
    try:
        return any(not filecmp.cmp(paths[0], other, shallow=False) for other in paths[1:])
    except OSError:
        return None


CONTENTS_DIFFER = "their contents differ"
CONTENTS_NOT_READ = "their contents could not be read to compare"
SAME_CONTENTS = "the same contents"
"""How the errors of names one :func:`name_key` say what :func:`different_files` found: an
error holding one of these read the image files' bytes (:func:`contents_compared`)."""


def contents_words(differ: bool | None) -> str:
    """:func:`different_files`' answer ``differ`` in an error's words."""
    return CONTENTS_DIFFER if differ else SAME_CONTENTS if differ is False else CONTENTS_NOT_READ


def contents_compared(lines: Iterable[str]) -> bool:
    """Whether an error among ``lines`` read image files' bytes (:func:`contents_words`): the
    summary that lists them must not say the image files were not opened yet."""
    return any(words in line for line in lines for words in (CONTENTS_DIFFER, CONTENTS_NOT_READ, SAME_CONTENTS))


TWO_IMAGES_FIX = ("rename one of them, and its label row, so that the names differ by more than "
                  "case or Unicode form; delete neither: they are two images")
"""The fix for two different images whose names are one :func:`name_key` (an outside tester,
F3: "keep one file per image id" deleted a labelled photograph); for files that could not be
read to compare too."""


def scan_image_folder(folder: Path, skip: Iterable[Path] = (), nested: bool = False) -> FolderScan:
    """List the images of ``folder`` (not recursive), flagging everything else.

    Hidden/system files are ignored with a note, subfolders too (except those in ``skip``,
    which the caller handles); any other non-image file is fatal (an image of a format the
    package does not read, ``.webp``, said as one, with the fix: convert it to PNG), and so are two names that
    differ only in case (``001.png`` and ``001.PNG``) or Unicode form (:func:`name_key`).

    ``nested`` (a layout of :data:`NESTED_LAYOUTS`: ``Images/<patient_id>/<image>``): the
    images of ``folder``'s subfolders too, one level deep, each listed by the same rules
    (a folder inside a patient's folder is ignored with the note; a name is an image's id,
    so two images of one name in two subfolders are the duplicate-name error).
    """
    images, problems, not_read, undecodable = _list_folder(folder, {p.resolve() for p in skip}, nested)
    problems += undecodable_problems(undecodable)
    by_name: dict[str, list[Path]] = {}
    for path in images:
        by_name.setdefault(name_key(path.name), []).append(path)
    for same in by_name.values():
        if len(same) > 1:
            if len({p.name for p in same}) < len(same):  # one name in two subfolders (nested)
                problems.append(error(same[0], "duplicate name: " + " and ".join(
                    relative(p, folder) for p in same) + " are one image id (the file name)",
                                      "keep one file per image id", "duplicate-name"))
                continue
            others = ", ".join(p.name for p in same[1:])
            how = ("in case" if len({p.name.lower() for p in same}) < len(same) else
                   "in its Unicode form (the same letters encoded two ways, NFC and NFD)")
            differ = different_files(same)
            if differ is not False:  # two photographs: deleting one loses a labelled image
                kind = "of two different images" if differ else "of two files"
                problems.append(error(same[0], f"duplicate name {kind} ({contents_words(differ)}): "
                                               f"{others} differs only {how}, which the matching of "
                                               f"image names ignores",
                                      TWO_IMAGES_FIX, "duplicate-name"))
                continue
            problems.append(error(same[0], f"duplicate name: {others} differs only {how} "
                                           f"({SAME_CONTENTS})",
                                  "keep one file per image id", "duplicate-name"))
    return FolderScan(images, problems, not_read, undecodable)


def _list_folder(folder: Path, skipped: set[Path], nested: bool
                 ) -> tuple[list[Path], list[Problem], list[Path], list[Path]]:
    """The images of ``folder``, the problems of its other entries (:func:`scan_image_folder`),
    the files not read that a problem names (:attr:`FolderScan.not_read`) and the entries whose
    name is not valid UTF-8 (said by the caller, :func:`undecodable_problems`, with one encoding
    for all); ``nested``: its subfolders' images too, one level deep (a subfolder whose name is
    not valid UTF-8 is not read: no manifest could hold its images' paths)."""
    images: list[Path] = []
    problems: list[Problem] = []
    not_read: list[Path] = []
    undecodable: list[Path] = []
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise IngestError(f"{folder}: cannot list the folder ({exc.strerror or exc}) -> "
                          "check the path and its permissions") from None
    for path in entries:
        if skipped and path.resolve() in skipped:  # resolve() costs a system call per entry
            continue
        shown = readable_path(path)  # 'M\xfcller/', never a lone surrogate
        if is_hidden(path):
            problems.append(note(shown, "hidden/system file ignored", "nothing to do", "hidden"))
        elif path.is_dir() and nested and not valid_utf8_name(path.name):
            undecodable.append(path)
            not_read += sorted(p for p in path.iterdir() if p.is_file())
        elif path.is_dir() and nested:
            found, said, unread, odd = _list_folder(path, set(), False)
            images += found
            problems += said
            not_read += unread
            undecodable += odd
        elif path.is_dir() and not count_images(path):  # nothing there to move up
            problems.append(note(shown, "subfolder ignored (images are not searched recursively; "
                                        "it holds no image itself)", "nothing to do"))
        elif path.is_dir():
            problems.append(note(shown, "subfolder ignored (images are not searched recursively)",
                                 "move its images up one level if they belong to this set"))
        elif not valid_utf8_name(path.name):  # 'M\udcfcller_00.png': no CSV row can name it
            undecodable.append(path)
            not_read.append(path)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        elif path.suffix.lower() in SPREADSHEET_SUFFIXES:  # a label file saved as .xlsx
            not_read.append(path)
            problems.append(error(path, f"a spreadsheet ({path.suffix}) in an image folder, neither "
                                        "an image nor a label CSV",
                                  f"{spreadsheet_fix(path)}; else move it out of the image folder",
                                  "non-image"))
        elif unread_image_format(path.suffix):  # an image all the same: say so, and the fix
            not_read.append(path)
            problems.append(error(path, f"{unread_image_format(path.suffix)}, in an image folder",
                                  f"{CONVERT_FIX}, or move it out of the image folder", "non-image"))
        else:
            not_read.append(path)
            problems.append(_not_named_as_image(path))
    return images, problems, not_read, undecodable


NAME_ENCODINGS = (("cp1252", "Windows-1252"), ("cp437", "DOS (an old ZIP tool's)"),
                  ("gb18030", "GBK (Chinese Windows)"), ("shift_jis", "Shift-JIS (Japanese Windows)"),
                  ("big5", "Big5 (Traditional Chinese Windows)"))
"""The encodings a file name that is not valid UTF-8 was most likely written in (Python codec, words),
in the order :func:`name_readings` tries them and :func:`name_encoding` prefers them."""

LATIN_NAME_ENCODINGS = frozenset({"cp1252", "cp437"})
"""The single-byte encodings of :data:`NAME_ENCODINGS`: they decode almost any bytes, so a reading
in them is believed only when it looks like a name (:func:`likely_name`)."""

CONVMV_NAMES = {"gb18030": "gbk"}
"""convmv's (Perl Encode's) name of a codec of :data:`NAME_ENCODINGS` where Python's differs: its
gb18030 needs a module seldom installed, and GBK names every GB18030 name a Windows tool wrote."""

CONVMV_CANDIDATES = ", ".join(CONVMV_NAMES.get(codec, codec) for codec, _ in NAME_ENCODINGS)
"""The ``convmv -f`` encodings to try when no reading of a name is convincing (convmv's names of
:data:`NAME_ENCODINGS`, in its order: ``cp1252, cp437, gbk, shift_jis, big5``)."""


def valid_utf8_name(name: str) -> bool:
    """Whether a file name as Python lists it is valid UTF-8: a name whose bytes are not
    (``M\\xfcller_00.png``, Latin-1 bytes from an archive unpacked with the wrong encoding) holds
    lone surrogates (``M\\udcfcller_00.png``, :pep:`383`), which no label row can name and no
    UTF-8 file (the manifest) can hold."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def name_bytes(name: str) -> str:
    """A file name's bytes shown readably (``M\\xfcller_00.png``): ASCII as it is, any other
    byte as ``\\xNN`` (:func:`os.fsencode`, as a ``bytes`` repr without its ``b''``)."""
    return repr(os.fsencode(name))[2:-1]


def readable_path(path: str | Path) -> str:
    """``path`` as a finding names it: as it is when valid UTF-8, else each byte that is not
    UTF-8 as ``\\xNN`` (``/data/M\\xfcller_00.png``, its UTF-8 parts kept as they read), never
    a lone surrogate (``M\\udcfcller_00.png``), which nobody can type and no UTF-8 file holds."""
    text = str(path)
    return text if valid_utf8_name(text) else os.fsencode(text).decode("utf-8", "backslashreplace")


def name_readings(name: str) -> list[tuple[str, str, str]]:
    """The names a file name that is not valid UTF-8 reads as in each encoding of
    :data:`NAME_ENCODINGS` that decodes its bytes to printable text: (codec, words, name)."""
    raw = os.fsencode(name)
    found = []
    for codec, words in NAME_ENCODINGS:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        if text.isprintable():
            found.append((codec, words, text))
    return found


def _common_letter(ch: str, codec: str) -> bool:
    """Whether the non-ASCII character ``ch`` of a reading in ``codec`` is a letter names are
    written with in that encoding: a Latin letter (Windows-1252, DOS: not DOS's Greek ``Θ``,
    ``τ`` or ``ⁿ``); a character of GB2312, the common set of GBK (a Shift-JIS or Big5 name read
    as GBK gives rare ideographs beyond it); a kana or level-1 kanji of Shift-JIS; a frequent
    ideograph of Big5 (0xA440-0xC67E)."""
    if not ch.isalpha():
        return False
    if codec in LATIN_NAME_ENCODINGS:
        return unicodedata.category(ch) in ("Lu", "Ll") and unicodedata.name(ch, "").startswith("LATIN")
    if ord(ch) < 0x2E80:  # not East-Asian script: Greek, Cyrillic, Latin letters of the set
        return False
    try:
        raw = ch.encode("gb2312" if codec == "gb18030" else codec)
    except UnicodeEncodeError:
        return False
    if codec == "shift_jis":
        return len(raw) == 2 and raw[0] <= 0x98
    if codec == "big5":
        return 0xA4 <= raw[0] <= 0xC6
    return True


def likely_name(text: str, codec: str) -> bool:
    """Whether ``text``, a name's bytes read in ``codec`` (:data:`NAME_ENCODINGS`), looks like a
    name somebody wrote in that encoding: every non-ASCII character a letter names are written
    with there (:func:`_common_letter`: no ``”``, ``‚``, ``„``, ``¼``, box drawing ``╒┼``, rare
    ideographs); in Windows-1252 or DOS, no run of three non-ASCII letters and no two with a
    capital inside a word not all capitals (``Größe``, ``MÜLLER``, not ``ÕÅÈý``, GBK ``张三``
    read as Windows-1252); in GBK, Shift-JIS or Big5, no non-ASCII character between two ASCII
    letters (``M`` + an ideograph + ``ler`` is Latin-1 ``Müller``)."""
    odd = [ch for ch in text if not ch.isascii()]
    if not odd or not all(_common_letter(ch, codec) for ch in odd):
        return False
    if codec in LATIN_NAME_ENCODINGS:
        for word in re.findall(r"[^\W\d_]+", text):
            for run in re.findall(r"[^\x00-\x7f]{2,}", word):
                if len(run) > 2 or (any(ch.isupper() for ch in run) and not word.isupper()):
                    return False
        return True
    return re.search(r"[A-Za-z][^\x00-\x7f][A-Za-z]", text) is None


def name_encoding(names: Sequence[str]) -> list[str]:
    """The encodings of :data:`NAME_ENCODINGS` (codecs, in their order) in which every one of
    ``names`` (file and folder names that are not valid UTF-8, one folder's: one archive wrote
    them) reads as a likely name (:func:`likely_name`); [] when none does: unknown."""
    readings = [{codec: text for codec, _, text in name_readings(name)} for name in names]
    return [codec for codec, _ in NAME_ENCODINGS
            if readings and all(codec in r and likely_name(r[codec], codec) for r in readings)]


def convmv(codec: str) -> str:
    """``codec`` (Python's) as ``convmv -f`` takes it (:data:`CONVMV_NAMES`)."""
    return CONVMV_NAMES.get(codec, codec)


def locale_only_name(name: str) -> str | None:
    """The UTF-8 reading of ``name`` when it is not valid UTF-8 only because Python reads file
    names in another encoding here (an ASCII locale with ``PYTHONUTF8=0`` or
    ``PYTHONCOERCECLOCALE=0``; Python 3.11 under ``LC_ALL=C`` alone reads UTF-8), so ``é04.png``
    is listed as ``\udcc3\udca904.png``); None when Python reads names as UTF-8, or the bytes
    are not UTF-8 either (then the name's encoding is amiss, :func:`undecodable_problems`)."""
    encoding = sys.getfilesystemencoding()
    if encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8mb4"):
        return None
    try:
        return name.encode(encoding, "surrogateescape").decode("utf-8")
    except (UnicodeError, LookupError):
        return None


LOCALE_FIX = ("run with PYTHONUTF8=1 (e.g. PYTHONUTF8=1 python -m data_prep ingest ...) or under a "
              "UTF-8 locale (LC_ALL=C.UTF-8); the names need no renaming")
"""The fix for UTF-8 file names Python reads as ASCII (:func:`locale_only_name`; an outside
tester, F4: such names were called "not valid UTF-8", with convmv advice that renames nothing)."""


def undecodable_problems(paths: Sequence[Path], named: str = "") -> list[Problem]:
    """The errors of the entries ``paths`` (one scan's) whose names are not valid UTF-8
    (:func:`valid_utf8_name`), kind ``non-image``: a file the ingest does not read, whose label
    row is not also called a label without image (:func:`data_prep.validate.match_labels`); a
    folder (a nested layout's patient folder) whose images are not read. Each is named
    readably (:func:`readable_path`, its bytes :func:`name_bytes`) with what it reads as in the
    encoding the fix's ``convmv -f`` names: ``named``, the encoding in which a label row names
    one of them (:func:`data_prep.validate.label_named_encoding`), else the first of
    :func:`name_encoding` (the others said as the next to try), else none: the encoding is
    unknown, and the fix is convmv's dry run (its default, without ``--notest``) with each
    likely ``-f`` in turn. One encoding for all: one archive or copy wrote them."""
    candidates = [named] if named else name_encoding([p.name for p in paths
                                                      if locale_only_name(p.name) is None])
    codec = candidates[0] if candidates else ""
    words = dict(NAME_ENCODINGS)
    found = []
    for path in paths:
        kind = "folder" if path.is_dir() else "file"
        if (utf8 := locale_only_name(path.name)) is not None:
            found.append(error(readable_path(path), f"the {kind} name {utf8.encode()!r} (its bytes) is "
                                                    f"valid UTF-8, '{utf8}', but this Python reads "
                                                    f"file names as {sys.getfilesystemencoding()} "
                                                    f"(PYTHONUTF8=0 or PYTHONCOERCECLOCALE=0 under an "
                                                    f"ASCII locale)", LOCALE_FIX, "non-image"))
            continue
        reading = next((text for c, _, text in name_readings(path.name) if c == codec), "")
        read = (f"; {reading} if read as {words[codec]}"
                + (", as a label row names it" if named else "")) if reading else ""
        where = shlex.quote(readable_path(path.parent))
        unknown = "" if codec else "; the encoding it was written in is unknown (no likely name in any tried)"
        what = (f"the {kind} name is not valid UTF-8 (its bytes: {name_bytes(path.name)}{read}): an "
                f"archive unpacked with the wrong encoding, or files copied from an older system{unknown}; "
                + ("no label row can name it" if kind == "file" else "its images are not read"))
        if codec:
            why = ("the encoding a label row names it in" if named else
                   "the one whose reading looks like a name"
                   + (f"; if the names convmv shows look wrong, try -f "
                      f"{' or '.join(convmv(c) for c in candidates[1:])}"
                      if len(candidates) > 1 else ""))
            fix = (f"rename the files in UTF-8, e.g. the whole folder: convmv -f {convmv(codec)} -t utf8 -r "
                   f"--notest {where} (-f is the encoding the names were written in: {words[codec]}, {why}; "
                   "without --notest convmv only shows the renames), then run the ingest again")
        else:
            fix = (f"find the encoding: convmv -f ENC -t utf8 -r {where} without --notest only shows "
                   f"the renames (a dry run, convmv's default): try -f {CONVMV_CANDIDATES} in turn "
                   "(convmv --list lists them all) until the names read right, then run it again "
                   "with --notest, then run the ingest again")
        found.append(error(readable_path(path), what, fix, "non-image"))
    return found


def _not_named_as_image(path: Path) -> Problem:
    """The error of a file of an image folder whose name does not end in an image suffix, told
    by its content as the export command and the app tell it
    (:func:`drac_ssl.grading.image_notes.named_otherwise`): a DICOM file (by its content, or
    named ``.dcm`` / ``.dicom``) ``holds a DICOM file (export the image as PNG or TIFF from the
    viewer)``; a PNG, JPEG, TIFF or BMP under another name (``scan_00``, a PACS export without
    extension) ``is a JPEG image whose name does not end in an image suffix (...)``, to rename
    ``scan_00.jpg``; an image's name with one more suffix (``161.png.crdownload``, ``.part``,
    ``.gz``), whatever its content (the first bytes of a PNG), a download not finished or a
    compressed copy, to replace with the whole image; an image of another format (Pillow opens it) ``is a WEBP file``, to convert;
    anything else ``not an image file (.txt)``, to move out."""
    kind, why, fix = image_notes.named_otherwise(path)
    if kind != "dicom" and path.suffix.lower() in image_notes.DICOM_SUFFIXES:
        kind, why, fix = "dicom", f"holds a DICOM file ({image_notes.DICOM_FIX})", image_notes.DICOM_FIX
    if Path(path.stem).suffix.lower() in IMAGE_SUFFIXES:  # its content may be a truncated image
        return error(path, f"an image's name with one more suffix ({path.suffix}), in an image folder",
                     f"{path.stem} with one more suffix: a download not finished, or a compressed copy? "
                     f"put the whole {path.stem} in its place (download or unpack it again), or move it "
                     "out of the image folder", "non-image")
    if kind == "image":  # the label row may name it without the suffix: it then matches
        return error(path, f"{why}, in an image folder", f"{fix} (a label row naming {path.stem} "
                                                         "matches it then)", "non-image")
    if kind == "dicom":  # the words hold the fix already: what to do with the image exported
        return error(path, f"{why}, in an image folder", "put the exported PNG or TIFF in its place "
                     f"({path.stem}.png, that name in its label row), or move it out of the image "
                     "folder", "non-image")
    if kind == "other":
        return error(path, f"{why}, in an image folder", f"{fix}, or move it out of the image folder",
                     "non-image")
    if kind == "unreadable":
        return error(path, why, fix, "non-image")
    return error(path, f"{NOT_AN_IMAGE_FILE} ({path.suffix or 'no extension'}) in an image folder",
                 "move it out of the image folder", "non-image")


NOT_AN_IMAGE_FILE = "not an image file"
"""How :func:`scan_image_folder` begins the error of a file that holds no image (``notes.txt``:
``not an image file (.txt) in an image folder``); in the test folder the ingest says it as a
note (:func:`data_prep.ingest.test_folder_problems`)."""


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: set[Path] = set()
    out = []
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


def _once(problems: Iterable[Problem]) -> list[Problem]:
    """``problems`` without repeats (a folder looked up twice is reported once), in order."""
    return list(dict.fromkeys(problems))


def loose_name(name: str) -> str:
    """``name`` without letter case and whitespace: how a folder or file name is compared with
    an official one (``a. Training set`` and ``a.Training Set`` are ``a. Training Set``)."""
    return "".join(name.split()).casefold()


def same_name(name: str, official: str) -> bool:
    """``name`` is ``official`` but for letter case and whitespace."""
    return loose_name(name) == loose_name(official)


def _read_as(path: Path, official: str) -> list[Problem]:
    """The note for ``path`` taken as the official ``official`` (none when it is that name)."""
    if path.name == official:
        return []
    what = "folder" if path.is_dir() else "file"
    return [note(path, f"read as the official '{official}' (the {what} name differs only in "
                       "letter case or spacing)",
                 f"nothing to do; rename it '{official}' to match the official layout", "layout")]


def find_named(folder: Path, name: str, *, want_dir: bool = True) -> tuple[Path | None, list[Problem]]:
    """``folder/name``, a folder (``want_dir``) or a file, also when its name differs from
    ``name`` only in letter case or whitespace (an archive unzipped by another tool, a folder
    renamed by hand): the exact name wins; otherwise the one near miss is taken, with a note
    naming it and the official name. Several near misses and no exact name: None and an error
    naming them; a near miss beside the exact name: a note that it is ignored. Hidden and
    system entries (:func:`is_hidden`) are never candidates.
    """
    def fits(path: Path) -> bool:
        return path.is_dir() if want_dir else path.is_file()

    try:
        entries = list(folder.iterdir()) if folder.is_dir() else []
    except OSError:
        entries = []
    near = sorted(p for p in entries if p.name != name and not is_hidden(p)
                  and same_name(p.name, name) and fits(p))
    what = "folder" if want_dir else "file"
    exact = folder / name
    # exact only when listed under that very name: on a case-insensitive file system (macOS,
    # Windows) folder/name opens the near miss, which is then the one entry, not a second
    if fits(exact) and any(p.name == name for p in entries):
        return exact, [note(p, f"{what} ignored: its name differs from the official '{name}' only "
                               f"in letter case or spacing, and '{name}' beside it is read",
                            f"move its contents into '{name}' if they belong there", "layout")
                       for p in near]
    if len(near) == 1:
        return near[0], _read_as(near[0], name)
    if near:
        listed = ", ".join(f"'{p.name}'" for p in near)
        return None, [error(folder, f"{len(near)} {what}s ({listed}) differ from the official "
                                    f"'{name}' only in letter case or spacing: which one is it?",
                            f"keep one, named '{name}', and move the contents of the others into "
                            "it", "layout")]
    return None, []


def find_path(base: Path, *names: str) -> tuple[Path | None, list[Problem]]:
    """``base/names[0]/names[1]/...``, folder by folder with :func:`find_named`: the folder
    (None when one on the way is missing or ambiguous), and the notes and errors of the near
    misses taken or refused on the way."""
    here: Path = base
    problems: list[Problem] = []
    if not base.is_dir():
        return None, problems
    for name in names:
        found, said = find_named(here, name)
        problems += said
        if found is None:
            return None, problems
        here = found
    return here, problems


def _holds(folder: Path) -> str:
    """`` (it holds 'x', 'y')``: the subfolders (or files) of ``folder``, for a message."""
    try:
        entries = sorted(p.name for p in folder.iterdir() if not is_hidden(p))
    except OSError:
        return ""
    if not entries:
        return " (it is empty)"
    shown = ", ".join(f"'{n}'" for n in entries[:5])
    return f" (it holds {shown}{', ...' if len(entries) > 5 else ''})"


def _task_dirs(root: Path) -> tuple[list[Path], list[Problem]]:
    """Every existing ``C. Diabetic Retinopathy Grading`` folder that ``root`` can mean, and
    the notes (errors) of near-miss folder names taken (ambiguous) on the way."""
    problems: list[Problem] = []

    def at(base: Path, *names: str) -> Path | None:
        found, said = find_path(base, *names)
        problems.extend(said)
        return found

    candidates = [at(root, TASK_DIR), at(root, TEST_ROOT_DIR, TASK_DIR)]
    if same_name(root.name, TASK_DIR):
        problems.extend(_read_as(root, TASK_DIR))
        candidates[:0] = [root]
        candidates.append(at(root.parent, TEST_ROOT_DIR, TASK_DIR))
    inside = same_name(root.name, IMAGES_DIR) or (same_name(root.parent.name, IMAGES_DIR) and any(
        same_name(root.name, name) for name in (TRAIN_DIR, TEST_DIR)))
    if inside:
        task = root.parent if same_name(root.name, IMAGES_DIR) else root.parent.parent
        if not same_name(task.name, IDRID_DIR):  # IDRiD's grading task uses the same folder names
            candidates += [task, at(task.parent, TEST_ROOT_DIR, TASK_DIR)]  # a folder inside the task
    return _unique(c for c in candidates if c is not None and c.is_dir()), _once(problems)


def looks_like_drac(root: Path) -> bool:
    tasks, problems = _task_dirs(root)
    return (bool(tasks) or any(p.severity == "error" for p in problems)
            or find_named(root, TEST_ROOT_DIR)[0] is not None)


UNPACK_COMMANDS = {".zip": "unzip", ".gz": "gunzip -k", ".bz2": "bunzip2 -k", ".xz": "unxz -k"}
"""A compressed label CSV's suffix -> the command that unpacks it beside itself."""


def packed_label_csv(folder: Path) -> tuple[Path, str] | None:
    """The compressed file of ``folder`` that holds the label CSV, and what it holds (``''``
    when its name says it): a ``NAME.csv.zip`` / ``.csv.gz`` / ``.csv.bz2`` / ``.csv.xz``
    (Kaggle ships ``trainLabels.csv.zip``), else a ``.zip`` whose member list names a CSV
    (``' (it holds labels.csv)'``; only the zip's directory is read, nothing unpacked); None
    when there is none. The package reads no compressed CSV: the message names the command
    that unpacks it, so that the CSV it reads is the file the resume's data check stamps."""
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not is_hidden(p))
    except OSError:
        return None
    for path in files:
        suffixes = [x.lower() for x in path.suffixes[-2:]]
        if len(suffixes) == 2 and suffixes[0] == ".csv" and suffixes[1] in UNPACK_COMMANDS:
            return path, ""
    for path in files:
        if path.suffix.lower() != ".zip":
            continue
        try:
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.lower().endswith(".csv")
                         and not any(is_hidden(Path(part)) for part in Path(n).parts)]
        except (OSError, zipfile.BadZipFile, ValueError):
            continue
        if names:
            more = f" and {counted(len(names) - 1, 'more CSV')}" if len(names) > 1 else ""
            return path, f" (it holds {names[0]}{more})"
    return None


DRAC_ARCHIVES = {TASK_DIR: "the training set", TEST_ROOT_DIR: "the testing set"}
"""The top folder of each official DRAC 2022 Task 3 archive (``C. Diabetic Retinopathy
Grading.zip``, ``DRAC2022_Testing_Set.zip``: docs/drac.md) -> what it holds, in words."""


def drac_archive_kind(path: Path) -> str:
    """The key of :data:`DRAC_ARCHIVES` that the ``.zip`` ``path`` is (named after it, letter
    case and spacing aside, or its members all in that folder: a download renamed
    ``... (1).zip``), else ``''``. Only the zip's directory is read."""
    if path.suffix.lower() != ".zip" or is_hidden(path):
        return ""
    for top in DRAC_ARCHIVES:
        if same_name(path.stem, top):
            return top
    try:
        with zipfile.ZipFile(path) as archive:
            tops = {Path(n).parts[0] for n in archive.namelist() if Path(n).parts}
    except (OSError, zipfile.BadZipFile, ValueError):
        return ""
    tops = {t for t in tops if not is_hidden(Path(t))}  # __MACOSX/ beside the folder
    if len(tops) != 1:
        return ""
    (only,) = tops
    return next((top for top in DRAC_ARCHIVES if same_name(only, top)), "")


def drac_archives(folder: Path) -> list[tuple[Path, str]]:
    """The official DRAC archives lying in ``folder`` (:func:`drac_archive_kind`), each with
    its kind, the training archive first."""
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".zip")
    except OSError:
        return []
    found = [(p, kind) for p in files if (kind := drac_archive_kind(p))]
    return sorted(found, key=lambda item: list(DRAC_ARCHIVES).index(item[1]))


def packed_label_csv_fix(folder: Path, above: bool = False) -> str:
    """``found trainLabels.csv.zip: unzip it here (cd FOLDER && unzip trainLabels.csv.zip) and
    run again`` for a folder without a label CSV that holds a compressed one
    (:func:`packed_label_csv`); ``above``: ``folder`` is the folder above the root (``in the
    folder above ... there``). ``''`` when it holds none. When that file is an official DRAC
    archive and the other one lies beside it (:func:`drac_archives`), both are named, in one
    command (``unzip both here (cd FOLDER && unzip 'C. Diabetic Retinopathy Grading.zip' &&
    unzip DRAC2022_Testing_Set.zip)``): the training archive alone gives a run without a
    testing set, hence without a submission."""
    found = packed_label_csv(folder)
    if found is None:
        return ""
    path, holds = found
    command = UNPACK_COMMANDS[path.suffix.lower()]
    where = " in the folder above" if above else ""
    archives = drac_archives(folder) if drac_archive_kind(path) else []
    if len(archives) > 1:
        others = [f"{shlex.quote(p.name)} ({DRAC_ARCHIVES[kind]})" for p, kind in archives if p != path]
        unzips = " && ".join(f"unzip {shlex.quote(p.name)}" for p, _ in archives)
        return (f"found {shlex.quote(path.name)}{holds} and {named_few(others, NEARBY_SHOWN)}{where}: unzip "
                f"{'both' if len(archives) == 2 else 'all'} {'there' if above else 'here'} "
                f"(cd {shlex.quote(str(folder))} && {unzips}) and run again")
    return (f"found {shlex.quote(path.name)}{holds}{where}: unzip it {'there' if above else 'here'} "
            f"(cd {shlex.quote(str(folder))} && {command} {shlex.quote(path.name)}) and run again")


def _single_csv(folder: Path, purpose: str) -> tuple[Path | None, list[Problem]]:
    """The only ``.csv`` in ``folder``; a fatal problem when there are none (naming a
    compressed label CSV there: :func:`packed_label_csv_fix`) or several."""
    found = sorted(p for p in folder.glob("*") if p.suffix.lower() == ".csv" and not is_hidden(p)) \
        if folder.is_dir() else []
    if len(found) == 1:
        return found[0], []
    if not found:
        return None, [error(folder, f"no {purpose} CSV found here", packed_label_csv_fix(folder)
                            or "put the label CSV here or pass --labels-csv FILE")]
    names = ", ".join(p.name for p in found)
    return None, [error(folder, f"{len(found)} CSV files ({names}); which one holds the labels?",
                        "pass --labels-csv FILE")]


def _explicit_csv(labels_csv: str, root: Path) -> tuple[Path | None, list[Problem]]:
    given = Path(labels_csv).expanduser()
    for candidate in (given, root / given):
        if candidate.is_file():
            return readable_absolute(candidate), []
    for candidate in (given, root / given):
        if candidate.is_dir():  # a folder named: said so, with the CSV files it holds (a review)
            csvs = sorted(p.name for p in candidate.glob("*") if p.suffix.lower() == ".csv" and not is_hidden(p))
            folder = readable_absolute(candidate)
            fix = (f"pass the label CSV file itself: --labels-csv {shlex.quote(str(folder / csvs[0]))}"
                   if len(csvs) == 1 else
                   f"pass the label CSV file itself, one of {', '.join(csvs[:NEARBY_SHOWN])}: --labels-csv "
                   f"{shlex.quote(str(folder))}/NAME.csv" if csvs else
                   "pass the label CSV file itself (--labels-csv FILE), not a folder; it holds no .csv")
            return None, [error(given, "--labels-csv is a folder, not a label CSV file", fix)]
    return None, [error(given, "label CSV not found", "check the --labels-csv path")]


def _images_dir(task: Path) -> Path:
    """``task``'s ``1. Original Images`` (its near miss), else ``task`` itself: where a
    message about a missing image set points."""
    found, _ = find_path(task, IMAGES_DIR)
    return found or task


def _in_test_root(task: Path) -> bool:
    return same_name(task.parent.name, TEST_ROOT_DIR)


TEST_ROOT_DEPTH = 3
"""Levels below ``DRAC2022_Testing_Set/`` a root may lie, at most: ``C. Diabetic Retinopathy
Grading/1. Original Images/b. Testing Set`` (:func:`_test_root_of`)."""


def _test_root_of(root: Path) -> Path | None:
    """The ``DRAC2022_Testing_Set`` folder (its name matched as :func:`find_named` matches it)
    that ``root`` is or lies in, at most :data:`TEST_ROOT_DEPTH` levels down; None otherwise."""
    for folder in (root, *list(root.parents)[:TEST_ROOT_DEPTH]):
        if same_name(folder.name, TEST_ROOT_DIR):
            return folder
    return None


def _training_task(root: Path, tasks: list[Path]) -> Path:
    """The ``C. Diabetic Retinopathy Grading`` folder that holds (or should hold) the training
    set: the first of ``tasks`` outside the testing set's folder; for a root in
    ``DRAC2022_Testing_Set/`` (:func:`_test_root_of`), the task folder beside that folder (or
    the one it was unzipped into); else ``root/C. Diabetic Retinopathy Grading``."""
    outside = [t for t in tasks if not _in_test_root(t)]
    if outside:
        return outside[0]
    test_root = _test_root_of(root)
    if test_root is None:
        return root / TASK_DIR
    base = test_root.parent
    if same_name(base.name, TASK_DIR):  # the testing set unzipped inside the task folder
        return base
    return find_named(base, TASK_DIR)[0] or base / TASK_DIR


def _training_set_beside(root: Path, tasks: list[Path]) -> str:
    """For a root in the testing set's own folder (``DRAC2022_Testing_Set/``, its task folder
    or an image folder inside it: :func:`_test_root_of`) whose training task folder beside it
    holds the training set or its label CSV, which that root does not reach: the error that
    names the root that reaches both sets (``did you mean --root '.../DRAC 2022' (a DRAC 2022
    layout ...)?``, as for other roots one level off); ``''`` otherwise. A listing only."""
    test_root = _test_root_of(root)
    if test_root is None:
        return ""
    task = _training_task(root, tasks)
    if not task.is_dir() or task.resolve() in {t.resolve() for t in tasks}:
        return ""  # looked in already: what it lacks is said as such
    train, _ = find_path(task, IMAGES_DIR, TRAIN_DIR)
    labels = _groundtruth_csvs([task])
    if train is None and not labels:
        return ""
    if train is None:
        held = "the training-label CSV is"
    else:
        held = (f"the training set ({counted(count_images(train), 'image')})"
                + (" and its label CSV are" if labels else " is"))
    meant = task if test_root.parent == task else task.parent
    this = "this is" if root == test_root else "this lies in"
    return (f"{root}: {this} the testing set's own folder ({test_root.name}/); {held} beside "
            f"it, in {task}, which this root does not reach -> did you mean {_root_option(meant)} "
            "(a DRAC 2022 layout: the training and the testing set)?")


def _looked_in(tasks: list[Path], root: Path) -> str:
    places = [_images_dir(t) for t in tasks] or [root]
    return ", ".join(f"{p}{_holds(p)}" for p in places)


def _no_training_set(root: Path, tasks: list[Path], labels: list[Path]) -> Problem:
    """No training folder: fatal when a training-label CSV is there (the labels would be
    dropped without a word), else a note that only the testing set is ingested."""
    task = _training_task(root, tasks)
    images = _images_dir(task)
    expected = (images if same_name(images.name, IMAGES_DIR) else images / IMAGES_DIR) / TRAIN_DIR
    # the testing set's folder only when it is all there is; the training task only when it
    # lacks the folder (one it holds is out of the root's reach: _training_set_beside says so,
    # never 'no folder in X (it holds the folder)')
    where = [task] if task.is_dir() and find_path(task, IMAGES_DIR, TRAIN_DIR)[0] is None else tasks
    looked = f"no '{TRAIN_DIR}' folder of training images in {_looked_in(where, root)}"
    if labels:
        return error(labels[0], f"a training-label CSV, but {looked}",
                     f"put the training images in '{expected}' (unzip the training set there "
                     "unchanged), or point --root at the folder that holds them", "no-training-set")
    packed = _drac_archive_near(root, tasks, TASK_DIR)
    if packed is not None:  # the training archive still zipped beside the testing set
        return note(root, f"no training set found, only the testing set is ingested: {looked}",
                    f"found {shlex.quote(packed.name)} in {packed.parent}: unzip it there (cd "
                    f"{shlex.quote(str(packed.parent))} && unzip {shlex.quote(packed.name)}) to "
                    "ingest the training set", "no-training-set")
    return note(root, f"no training set found, only the testing set is ingested: {looked}",
                f"put the training images in '{expected}' and its label CSV in "
                f"'{expected.parent.parent / GROUNDTRUTH_DIR}' to ingest them", "no-training-set")


def _drac_archive_near(root: Path, tasks: list[Path], kind: str = TEST_ROOT_DIR) -> Path | None:
    """The official DRAC archive of ``kind`` (:data:`DRAC_ARCHIVES`; the testing set's
    ``DRAC2022_Testing_Set.zip`` by default: :func:`drac_archives`) lying where its set goes
    (beside the training task folder) or in ``root``; None when there is none."""
    for folder in _unique(f for f in (_training_task(root, tasks).parent, root) if f.is_dir()):
        found = [p for p, said in drac_archives(folder) if said == kind]
        if found:
            return found[0]
    return None


def _no_testing_set(root: Path, tasks: list[Path]) -> Problem:
    """The note of a DRAC layout without a testing set: where it was looked for, and where it
    goes (the testing set's own folder when it exists; else the testing archive's unzip
    command when ``DRAC2022_Testing_Set.zip`` lies there, :func:`_drac_archive_near`; else
    unzipped beside the training set)."""
    looked = f"no '{TEST_DIR}' folder of test images in {_looked_in(tasks, root)}"
    test_tasks = [t for t in tasks if _in_test_root(t)]
    if test_tasks:
        images = _images_dir(test_tasks[0])
        expected = (images if same_name(images.name, IMAGES_DIR) else images / IMAGES_DIR) / TEST_DIR
        fix = f"put the test images in '{expected}'"
    elif (packed := _drac_archive_near(root, tasks)) is not None:
        folder = packed.parent
        fix = (f"found {shlex.quote(packed.name)} in {folder}: unzip it there (cd "
               f"{shlex.quote(str(folder))} && unzip {shlex.quote(packed.name)})")
    else:
        base = _training_task(root, tasks).parent
        fix = (f"unzip the testing set into {base}, so that '{TEST_ROOT_DIR}/{TASK_DIR}/"
               f"{IMAGES_DIR}/{TEST_DIR}' holds the test images")
    return note(root, f"no testing set found, only the training set is ingested: {looked}",
                f"{fix}; without it no submission is written", "no-testing-set")


def _groundtruth_csvs(tasks: list[Path]) -> list[Path]:
    found: list[Path] = []
    for task in tasks:
        truth, _ = find_path(task, GROUNDTRUTH_DIR)
        if truth is not None:
            found += sorted(p for p in truth.iterdir()
                            if p.suffix.lower() == ".csv" and p.is_file() and not is_hidden(p))
    return found


def _discover_drac(root: Path, labels_csv: str) -> Layout:
    tasks, problems = _task_dirs(root)
    train = test = None
    for task in tasks:
        if train is None:
            train, said = find_path(task, IMAGES_DIR, TRAIN_DIR)
            problems += said
        if test is None:
            test, said = find_path(task, IMAGES_DIR, TEST_DIR)
            problems += said
    problems = _once(problems)
    if train is None and (beside := _training_set_beside(root, tasks)):
        raise IngestError(beside)
    if train is None and test is None:
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise IngestError(f"{root}: the DRAC image folders cannot be told apart: several "
                              "folders match one official name -> rename them as said below\n"
                              f"{format_problems(errors)}", errors)
        labels = _groundtruth_csvs(tasks) if not labels_csv else []
        if labels:  # the labels are there: say where their images were looked for
            problem = _no_training_set(root, tasks, labels)
            raise IngestError(problem.line, [problem])
        raise IngestError(
            f"{root}: no DRAC image folders found (looked for '{TASK_DIR}/{IMAGES_DIR}/"
            f"{TRAIN_DIR}' and '{TEST_ROOT_DIR}/{TASK_DIR}/{IMAGES_DIR}/{TEST_DIR}', letter case "
            "and spacing aside) -> point --root at the folder where the DRAC zip files were "
            "unzipped, or use --layout plain")
    csv_path: Path | None = None
    if labels_csv:
        csv_path, said = _explicit_csv(labels_csv, root)
        problems += said
    elif train is not None:
        task = train.parent.parent
        truth, said = find_path(task, GROUNDTRUTH_DIR)
        csv_path, found = _single_csv(truth or task / GROUNDTRUTH_DIR, "training-label")
        problems += said + found
    if train is None:
        labels = [csv_path] if csv_path is not None else [] if labels_csv else _groundtruth_csvs(tasks)
        problems.append(_no_training_set(root, tasks, labels))
    if test is None:
        problems.append(_no_testing_set(root, tasks))
    return Layout("drac", root, train, test, csv_path, problems)


DDR_SETS = ("train", "valid", "test")
"""DDR's grading sets (``DDR-dataset/DR_grading/``): a folder of images each, beside its labels,
``SET.txt``, header-less ``NAME GRADE`` lines (:func:`data_prep.labels.name_grade_line`), 5
for an ungradable image (:data:`ICDR_UNGRADABLE_GRADE`). ``test`` is labelled: held out for
``export --score``, train and valid trained on."""


def _name_grade_file(path: Path) -> bool:
    """Whether ``path`` is DDR's label file: header-less ``NAME GRADE`` lines (its first
    non-blank line read, :func:`data_prep.labels.name_grade_line`) whose names are all DDR
    grading images' (:func:`ddr_names`). Another project's ``train.txt`` of ``a.png 1`` lines
    beside a ``train/`` folder is not DDR's, and its folder is read as any plain folder."""
    if not path.is_file():
        return False
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            lines = [line for line in fh if line.strip()]
    except OSError:
        return False
    return bool(lines) and name_grade_line(lines[0]) and ddr_names([line.split()[0] for line in lines])


DDR_OUT = "RUN/data"
"""The ``--out`` of the ingest line :func:`ddr_fix` prints; the ingest puts the user's own
``--out`` in its place (:func:`data_prep.ingest.run`)."""


def ddr_csv(grading: Path, name: str) -> Path:
    """Where the printed DDR steps write a CSV made of ``grading``'s ``NAME.txt``: beside the
    ``DR_grading`` folder (``DR_grading_test.csv``), never inside it, where a later ``ingest
    --root DR_grading`` would take it for the label CSV."""
    return grading.with_name(f"{grading.name}_{name}.csv")


def ddr_fix(root: Path) -> str:
    """The fix for ``root`` read as a plain folder without ``--labels-csv`` when it is DDR's
    ``DR_grading`` folder (:data:`DDR_SETS`: ``train/`` beside ``train.txt`` of ``NAME GRADE``
    lines) or one of its set folders (``train/``, its ``train.txt`` beside it): the commands
    (bash/zsh) that copy train and valid into one folder with their labels as a CSV, ingest it
    on ICDR with the ungradable 5 (written NA) left out, and write ``test.txt`` as the CSV
    ``export --score`` reads, every CSV beside ``DR_grading`` (:func:`ddr_csv`); for a train or
    valid folder, the CSV of its own lines and the full ingest line of that set; for ``test/``, the scorer's CSV only, test held out.
    ``''`` otherwise."""
    crop = "--fundus-crop "
    # a set folder's own CSV is its user's labels: the printed steps write theirs beside
    # DR_grading (ddr_csv), never inside a set folder
    own_csv = root.is_dir() and any(p.suffix.lower() == ".csv" for p in root.iterdir() if p.is_file())
    if root.name in DDR_SETS and not own_csv and _name_grade_file(root.parent / f"{root.name}.txt"):
        txt, dest = root.parent / f"{root.name}.txt", ddr_csv(root.parent, root.name)
        if root.name == "test":  # labelled, held out: scored, never trained on
            return (f"this is DDR's labelled test set, held out for python -m drac_ssl.export --score, "
                    f"not trained on (train on DDR's train/ and valid/: ingest --root "
                    f"{shlex.quote(str(root.parent))} prints the steps). Its labels, test.txt beside it, "
                    f"as the scorer's CSV (DDR's ungradable 5 written NA), with this command "
                    f"(bash/zsh):\n  {name_grade_command([txt], dest)}\nthen score a submission for "
                    f"test/ with {python_command('drac_ssl.export')} --score TEAM.csv --labels "
                    f"{shlex.quote(str(dest))} --ungradable leave_out")
        # the ingest line in full, as the grading folder's steps give it (crop, scale, NA left out)
        return (f"the labels of this DDR set are {root.name}.txt beside it: {name_grade_fix(txt, dest)}\n"
                f"then ingest this set alone with this command (to train on train/ and valid/ "
                f"together, as docs/data.md's DDR does, ingest --root {shlex.quote(str(root.parent))} "
                f"prints those steps):\n"
                f"  {python_command('data_prep')} ingest --root {shlex.quote(str(root))} --labels-csv "
                f"{shlex.quote(str(dest))} --grades icdr {crop}--ungradable leave_out --out {DDR_OUT}")
    if not ((root / "train").is_dir() and _name_grade_file(root / "train.txt")):
        return ""
    kept = [name for name in DDR_SETS[:2] if (root / name).is_dir() and _name_grade_file(root / f"{name}.txt")]
    both = root.with_name(f"{root.name}_trainval")
    copy = " ".join(shlex.quote(str(root / name)) + "/." for name in kept)
    test_csv = ddr_csv(root, "test")
    test = (f"\n  {name_grade_command([root / 'test.txt'], test_csv)}\nthen score a "
            f"submission for test/ with {python_command('drac_ssl.export')} --score TEAM.csv --labels "
            f"{shlex.quote(str(test_csv))} --ungradable leave_out"
            if _name_grade_file(root / "test.txt") else "")
    return (f"this is DDR's grading folder: {' and '.join(f'{n}/' for n in kept)} with their labels "
            f"as 'NAME GRADE' lines in {' and '.join(f'{n}.txt' for n in kept)}, no CSV (docs/data.md, "
            f"DDR); 5 marks an ungradable image. Copy the labelled sets into one folder with their "
            f"labels as its CSV (5 written NA), then ingest it on ICDR with the ungradable rows left "
            f"out; the commands are for bash/zsh (on Windows: Git Bash or WSL):\n"
            f"  mkdir -p {shlex.quote(str(both))} && cp -R {copy} {shlex.quote(str(both))}/\n"
            f"  {name_grade_command([root / f'{n}.txt' for n in kept], both / 'labels.csv')}\n"
            f"  {python_command('data_prep')} ingest --root {shlex.quote(str(both))} --grades icdr "
            f"{crop}--ungradable leave_out --out {DDR_OUT}\n"
            + (f"test/ is labelled (test.txt): hold it out for scoring, its labels as a CSV beside "
               f"{root.name}/:{test}" if test else ""))


def _discover_plain(root: Path, labels_csv: str) -> Layout:
    """A plain folder (its only CSV, or ``labels_csv``). Without a label CSV, a root one level
    off (:func:`likely_roots`: the folder above or one inside is a layout; no image here but
    in a subfolder) is fatal at once, naming the likely root: its images read with the plain
    folder's defaults would only add findings that the right root would not give (colour
    photographs converted to grey, not 1024 px)."""
    test = root / PLAIN_TEST_DIR
    # DDR's grading folder before its only CSV: a CSV inside it (an older code's test.csv,
    # any scorer's CSV) holds no training labels, and read as the label CSV would hide the
    # DDR steps; a set folder's own CSV is read first (ddr_fix)
    ddr = "" if labels_csv else ddr_fix(root)
    if ddr:
        raise IngestError(f"{root}: DDR's labels here are 'NAME GRADE' .txt files, no label CSV -> {ddr}")
    if labels_csv:
        csv_path, problems = _explicit_csv(labels_csv, root)
    else:
        csv_path, problems = _single_csv(root, "label")
    csvs = [p for p in root.iterdir() if p.suffix.lower() == ".csv"]
    if not labels_csv and not any(not is_hidden(p) for p in csvs):
        # a compressed label CSV here (Kaggle's trainLabels.csv.zip) is the one: unpacked, the
        # folder may be a layout, so its subfolder of images is no root to offer; one in the
        # folder above (a root of images below it) comes after a layout or CSV named nearby
        otherwise = "put the label CSV here or pass --labels-csv FILE"
        likely = (packed_label_csv_fix(root)
                  or messidor2_csv_fix(root, otherwise)  # a Messidor-2 download without its CSV
                  or likely_roots(root, otherwise=otherwise)
                  or (packed_label_csv_fix(root.parent, above=True)
                      if root.parent != root and count_images(root) else ""))
        sheets = sorted(p for p in root.iterdir()
                        if p.suffix.lower() in SPREADSHEET_SUFFIXES and not is_hidden(p))
        if likely:
            said = f". {spreadsheet_fix(sheets[0])}" if sheets else ""
            raise IngestError(f"{root}: no label CSV found here -> {likely}{said}")
    for other in csvs:
        if csv_path is not None and other.resolve() != csv_path.resolve() and not is_hidden(other):
            problems.append(note(other, "CSV file ignored (not the label CSV)", "nothing to do"))
    test_dir = test if test.is_dir() else None
    # the label file itself, whatever its suffix (Excel's "Unicode text" is labels.txt)
    own = [csv_path] if csv_path is not None and csv_path.parent.resolve() == root.resolve() else []
    skip = csvs + [p for p in own if p not in csvs] + ([test] if test_dir is not None else [])
    return Layout("plain", root, root, test_dir, csv_path, problems, skip)


def _child(folder: Path, name: str) -> Path | None:
    """``folder/name``, its name matched without letter case and whitespace (archives differ
    in case): what the layout detection looks for; :func:`find_named` says which was taken."""
    exact = folder / name
    if exact.exists():
        return exact
    if not folder.is_dir():
        return None
    return min((p for p in folder.iterdir() if same_name(p.name, name)), default=None)


def looks_like_aptos(root: Path) -> bool:
    return _child(root, APTOS_CSV) is not None and _child(root, APTOS_TRAIN) is not None


def looks_like_eyepacs(root: Path) -> bool:
    return _child(root, EYEPACS_CSV) is not None and any(
        d is not None and d.is_dir() for d in (_child(root, n) for n in EYEPACS_TRAIN_DIRS))


def _idrid_task(root: Path) -> Path | None:
    """The ``B. Disease Grading`` folder ``root`` is, holds or lies in (names matched as
    :func:`find_named` matches them)."""
    for candidate in (root, find_named(root, IDRID_DIR)[0], root.parent, root.parent.parent):
        if candidate is not None and same_name(candidate.name, IDRID_DIR) \
                and find_named(candidate, IMAGES_DIR)[0] is not None:
            return candidate
    return None


def looks_like_idrid(root: Path) -> bool:
    return _idrid_task(root) is not None


def _deepdrid_csv(root: Path) -> Path | None:
    """The DeepDRiD label CSV of a set folder: ``regular-fundus-training.csv`` (or the
    validation set's), its name matched as :func:`_child` matches names."""
    return next((c for c in (_child(root, f"{name}.csv") for name in DEEPDRID_SETS)
                 if c is not None and c.is_file()), None)


def _is_image_file(path: Path, unread: bool = False) -> bool:
    """Whether ``path`` is an image file as a listing tells it (none is opened): a file, not
    hidden (:func:`is_hidden`), named as an image of a format the package reads
    (:data:`IMAGE_SUFFIXES`) or, with ``unread``, of one it does not read either (``.webp``:
    :func:`unread_image_format`; the scan then says to convert it). The one test of
    :func:`count_images`, :func:`_image_files`, :func:`_holds_image` and the loose images
    of :func:`_set_folder_entries`."""
    suffix = path.suffix.lower()
    return ((suffix in IMAGE_SUFFIXES or (unread and unread_image_format(suffix) is not None))
            and not is_hidden(path) and path.is_file())


def _holds_image(folder: Path) -> bool:
    """Whether ``folder`` holds an image file itself, of a format the package reads or one it
    does not (:func:`_is_image_file` with ``unread``); stops at the first (a listing; none is
    opened; False when it cannot be listed)."""
    try:
        return any(_is_image_file(p, unread=True) for p in folder.iterdir())
    except OSError:
        return False


def _deepdrid_patient_folders(root: Path) -> Iterator[Path]:
    """The subfolders of ``root`` that hold images themselves (:func:`_holds_image`), in name
    order, ``Images/`` (its name matched as :func:`_child` matches it) and hidden ones left
    out: a DeepDRiD set's per-patient folders beside its label CSV
    (``<set>/<patient_id>/<image_id>.jpg``), the set repacked without ``Images/``, or folders
    left beside ``Images/`` (not read: :func:`_discover_deepdrid` says so). Lazy: ``any()``
    of it lists one folder's files, not every folder's."""
    try:
        subfolders = sorted((p for p in root.iterdir() if p.is_dir() and not is_hidden(p)
                             and not same_name(p.name, DEEPDRID_IMAGES)),
                            key=lambda p: _name_order(p.name))
    except OSError:
        return
    yield from (d for d in subfolders if _holds_image(d))


def _is_deepdrid_set(root: Path) -> bool:
    """``root`` is a DeepDRiD set folder: its label CSV (:func:`_deepdrid_csv`) beside
    ``Images/``, or beside the per-patient folders themselves (a copy repacked without
    ``Images/``: :func:`_deepdrid_patient_folders`)."""
    if _deepdrid_csv(root) is None:
        return False
    return _deepdrid_images(root) or any(_deepdrid_patient_folders(root))


def _deepdrid_images(root: Path) -> bool:
    """Whether ``root`` holds DeepDRiD's ``Images/`` folder (its name matched as :func:`_child`
    matches it)."""
    images = _child(root, DEEPDRID_IMAGES)
    return images is not None and images.is_dir()


def _deepdrid_sets(root: Path) -> list[Path]:
    """The DeepDRiD set folders inside ``root`` (a folder holding the training and the
    validation set), in :data:`DEEPDRID_SETS` order."""
    found = (_child(root, name) for name in DEEPDRID_SETS) if root.is_dir() else ()
    return [d for d in found if d is not None and d.is_dir() and _is_deepdrid_set(d)]


def looks_like_deepdrid(root: Path) -> bool:
    """A DeepDRiD set folder, or the folder holding them (which :func:`_discover_deepdrid`
    refuses, naming the set to pass)."""
    return _is_deepdrid_set(root) or bool(_deepdrid_sets(root))


def looks_like_messidor2(root: Path) -> bool:
    """A Messidor-2 folder: ``messidor_data.csv`` beside ``IMAGES/`` (names matched as
    :func:`_child` matches them)."""
    csv_path, images = _child(root, MESSIDOR2_CSV), _child(root, MESSIDOR2_IMAGES)
    return (csv_path is not None and csv_path.is_file()
            and images is not None and images.is_dir())


def messidor2_by_csv(root: Path, labels_csv: str) -> bool:
    """A Messidor-2 folder whose label CSV lies elsewhere (``--labels-csv``, a half-download's
    CSV saved apart): ``root`` holds ``IMAGES/`` and no image of its own, and ``labels_csv``
    has Messidor-2's label columns (:func:`label_format_of`). ``data.layout=auto`` then takes
    the Messidor-2 layout (its grades, its ungradable column, its notes), not a plain folder
    without images."""
    if not labels_csv or not root.is_dir() or count_images(root):
        return False
    images = _child(root, MESSIDOR2_IMAGES)
    if images is None or not images.is_dir():
        return False
    csv_path, problems = _explicit_csv(labels_csv, root)
    return csv_path is not None and not problems and label_format_of(csv_path) == "messidor2"


def messidor2_csv_fix(root: Path, otherwise: str = "") -> str:
    """The fix of a root without a label CSV that looks like a Messidor-2 download without its
    grades: ``root`` holds an ``IMAGES/`` folder of images (the Messidor-2 image folder), or is
    that folder of images (named ``IMAGES``, no CSV in the folder above). ``''`` otherwise (an
    empty ``IMAGES`` folder is no download: the plain folder's problems are said). The name is
    matched in its letter case: an ``images/`` folder is too common to be taken for it. If
    this is not Messidor-2, the root :func:`likely_roots` offers follows; else, for ``IMAGES``
    itself, ``otherwise`` (the plain folder's fix; a root holding ``IMAGES/`` already said
    ``--labels-csv``). Each fix is said once."""
    csv_name = f"the Messidor-2 adjudicated grades CSV ({MESSIDOR2_CSV})"
    images = root / MESSIDOR2_IMAGES
    n_images = count_images(images) if root.is_dir() and images.is_dir() and MESSIDOR2_IMAGES in os.listdir(root) else 0
    if n_images:
        fix = (f"a Messidor-2 folder ({MESSIDOR2_IMAGES}/ of {n_images} images)? put "
               f"{csv_name} here beside {MESSIDOR2_IMAGES}/ or pass --labels-csv FILE")
        otherwise = ""
    elif (root.name == MESSIDOR2_IMAGES and root.parent != root and count_images(root)
            and not any(p.suffix.lower() == ".csv" and not is_hidden(p) for p in root.parent.iterdir())):
        fix = (f"a Messidor-2 {root.name}/ folder? put {csv_name} in "
               f"{shlex.quote(str(root.parent))} beside it and pass that folder as --root")
    else:
        return ""
    other = likely_roots(root) or otherwise
    return f"{fix}; if this is not Messidor-2: {other}" if other else fix


def _npz_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root] if root.suffix.lower() == ".npz" else []
    return sorted(p for p in root.glob("*.npz") if not is_hidden(p)) if root.is_dir() else []


def looks_like_medmnist(root: Path) -> bool:
    """A ``.npz`` file, or a folder with exactly one ``.npz`` and no image files beside it."""
    if root.is_file():
        return root.suffix.lower() == ".npz"
    return len(_npz_files(root)) == 1 and not any(
        p.suffix.lower() in IMAGE_SUFFIXES for p in root.iterdir() if p.is_file())


TEST_SPLIT_LAYOUTS = frozenset({"drac", "aptos", "eyepacs", "idrid"})
"""The layouts whose download holds a testing set beside the training set (DRAC, APTOS, EyePACS,
IDRiD), which the ingest reads as the test split that the export grades into a submission:
without it each says so at the ingest (kind ``no-testing-set``: where it looked, where the
test images go) and ``python -m drac_ssl.train`` before any stage (its preflight). A plain
folder's ``test/`` is optional, DeepDRiD and Messidor-2 have none by design, and MedMNIST's
test rows are read from its ``.npz`` (no folder to miss). A new layout is named here, in or
out (docs/design.md, adding a layout; the guard test checks it)."""


def _no_test_folder(root: Path, folder: Path, name: str) -> Problem:
    """The note of a layout of :data:`TEST_SPLIT_LAYOUTS` without its testing folder ``name``
    in ``folder``: where it was looked for and where the test images go, in the words of the
    DRAC layout's (:func:`_no_testing_set`), which the export quotes for its missing
    submission (``drac_ssl.export``)."""
    return note(root, f"no testing set found, only the training set is ingested: no '{name}' "
                      f"folder of test images in {folder}",
                f"put the test images in '{folder / name}'; without it no submission is written",
                "no-testing-set")


def _missing_folder(message: str, problems: Sequence[Problem]) -> IngestError:
    """The error of a layout whose image folder is not found: ``message`` (what is missing, the
    fix) followed by the ``problems``' errors found while looking (several folders matching one
    name ...), which the error also carries."""
    errors = [p for p in problems if p.severity == "error"]
    return IngestError(message + (f"\n{format_problems(errors)}" if errors else ""), errors)


def _discover_aptos(root: Path, labels_csv: str) -> Layout:
    train, problems = find_named(root, APTOS_TRAIN)
    if train is None:
        raise _missing_folder(f"{root}: no APTOS '{APTOS_TRAIN}/' folder here -> point --root at the "
                              f"folder holding '{APTOS_CSV}' and '{APTOS_TRAIN}/'", problems)
    csv_path, found = (_explicit_csv(labels_csv, root) if labels_csv
                       else _required(root, APTOS_CSV, "APTOS label"))
    test_dir, said = find_named(root, APTOS_TEST)
    problems += found + said
    test_list = None
    if test_dir is not None:
        test_list, said = find_named(root, APTOS_TEST_CSV, want_dir=False)
        problems += said
    elif not any(p.severity == "error" for p in said):
        problems.append(_no_test_folder(root, root, APTOS_TEST))
    return Layout("aptos", root, train, test_dir, csv_path, problems, test_list_csv=test_list)


def _discover_eyepacs(root: Path, labels_csv: str) -> Layout:
    train = next((d for d in (_child(root, n) for n in EYEPACS_TRAIN_DIRS)
                  if d is not None and d.is_dir()), None)
    if train is None:
        raise IngestError(f"{root}: '{EYEPACS_CSV}' found but no image folder "
                          f"({', '.join(n + '/' for n in EYEPACS_TRAIN_DIRS)}) -> unzip the "
                          "training images into 'train/' beside the CSV")
    csv_path, problems = (_explicit_csv(labels_csv, root) if labels_csv
                          else _required(root, EYEPACS_CSV, "EyePACS label"))
    test = next((d for d in (_child(root, n) for n in EYEPACS_TEST_DIRS)
                 if d is not None and d.is_dir() and d != train), None)
    if test is None:
        problems.append(_no_test_folder(root, root, EYEPACS_TEST_DIRS[0]))
    return Layout("eyepacs", root, train, test, csv_path, problems)


def _discover_idrid(root: Path, labels_csv: str) -> Layout:
    task = _idrid_task(root)
    if task is None:
        raise IngestError(f"{root}: no IDRiD '{IDRID_DIR}/{IMAGES_DIR}' folder -> point --root at "
                          f"the folder where 'B. Disease Grading.zip' was unzipped")
    problems = _read_as(task, IDRID_DIR)
    train, said = find_path(task, IMAGES_DIR, TRAIN_DIR)
    test, more = find_path(task, IMAGES_DIR, TEST_DIR)
    problems = _once(problems + said + more)
    if labels_csv:
        csv_path, found_csv = _explicit_csv(labels_csv, root)
        problems += found_csv
    else:
        truth, said = find_path(task, GROUNDTRUTH_DIR)
        problems += said
        truth = truth or task / GROUNDTRUTH_DIR
        found = sorted(p for p in truth.glob("*.csv") if not is_hidden(p)) if truth.is_dir() else []
        training = [p for p in found if "training" in p.name.lower()] or found
        csv_path = training[0] if len(training) == 1 else None
        if csv_path is None:
            problems.append(error(truth, f"no single training-label CSV ({len(training)} found; "
                                         f"expected '{IDRID_LABELS_CSV_NAME}')",
                                  "pass --labels-csv FILE", "layout"))
        for other in found:
            if other != csv_path:
                problems.append(note(other, "CSV not read (the testing set is ingested unlabelled)",
                                     "nothing to do; to score the run's submission of the testing "
                                     f"set against it: {python_command('drac_ssl.export')} --score "
                                     f"SUBMISSION.csv --labels {shlex.quote(str(other))}", "layout"))
    if train is None:
        raise _missing_folder(f"{task}: no '{IMAGES_DIR}/{TRAIN_DIR}' folder -> unzip the IDRiD "
                              "grading archive unchanged", problems)
    if test is None and not any(p.severity == "error" for p in more):
        # said at the ingest as APTOS and EyePACS say it, not by the export at the very end
        # (review s52 F4)
        problems.append(_no_test_folder(root, train.parent, TEST_DIR))
    return Layout("idrid", root, train, test, csv_path, problems, shared_test_names=True)


def _patient_folder_words(patients: Sequence[Path], where: str) -> str:
    """``7 per-patient folders here (1/, 2/, 3/ and 4 more)`` (``where``: ``here``)."""
    return (f"{counted(len(patients), 'per-patient folder')} {where} "
            f"({named_few([f'{d.name}/' for d in patients], NEARBY_SHOWN)})")


def _set_folder_entries(root: Path, patients: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """What a DeepDRiD set folder repacked without ``Images/`` holds beside its per-patient
    folders ``patients``: every other entry, which the scan of ``root`` skips (the label CSV, a
    README or LICENSE, a folder without images, hidden files: the set folder as shipped is
    not an image folder, and neither is this one above its patient folders), and of those the
    image files (which no patient folder holds: :func:`_loose_images_note`)."""
    # the resume's data check skips the same entries (repacked_set_skip)
    kept = set(patients)
    try:
        others = sorted(p for p in root.iterdir() if p not in kept)
    except OSError:
        return [], []
    loose = [p for p in others if _is_image_file(p, unread=True)]
    return others, loose


def repacked_set_skip(root: Path) -> list[Path]:
    """The entries of ``root``, a DeepDRiD set folder read as its own image folder (repacked
    without ``Images/``), that the scan of its images skips: all but its per-patient folders
    (:func:`_set_folder_entries`). The resume's data check lists the images as the ingest did
    (:func:`data_prep.source_check.source_changes`)."""
    return _set_folder_entries(root, list(_deepdrid_patient_folders(root)))[0]


def _loose_images_note(root: Path, loose: Sequence[Path]) -> Problem:
    """The note of image files beside the per-patient folders of a set repacked without
    ``Images/``: not read (only the patient folders are, as only ``Images/`` is in the set as
    shipped); a row naming one is then a label without image, which this note explains."""
    one = len(loose) == 1
    return note(root, f"{counted(len(loose), 'image file')} beside the per-patient folders, in "
                      f"none of them, {'is' if one else 'are'} not read "
                      f"({named_few([p.name for p in loose], NEARBY_SHOWN)}): the set's images "
                      "are read from its per-patient folders only",
                f"move {'it' if one else 'each'} into its patient's folder ('<patient_id>/') if "
                f"{'it belongs' if one else 'they belong'} to the set", "layout")


def _patient_folders_beside_images(root: Path, images: Path, patients: Sequence[Path]) -> Problem:
    """The note of image-holding folders beside a DeepDRiD set's ``Images/`` (a set half moved
    into it, or repacked and then given an empty ``Images/``): only ``Images/`` is read, so
    their rows are labels without image; the note names the folders and where they go."""
    one = len(patients) == 1
    return note(root, f"{_patient_folder_words(patients, f'beside {images.name}/')} "
                      f"{'is' if one else 'are'} not read: a DeepDRiD set's images are read from "
                      f"'{images.name}/<patient_id>/' once '{images.name}/' is there",
                f"move {'it' if one else 'them'} into '{images.name}/' "
                f"({shlex.quote(str(images))}) if {'it belongs' if one else 'they belong'} to "
                "the set", "layout")


def _image_files(folder: Path, unread: bool = False) -> list[Path]:
    """The image files directly in ``folder``, by name (a listing: none is opened; none when
    it cannot be listed): of the formats the package reads (:func:`count_images`' files) or,
    with ``unread``, those it does not read too (:func:`_is_image_file`)."""
    try:
        return sorted(p for p in folder.iterdir() if _is_image_file(p, unread))
    except OSError:
        return []


def _no_deepdrid_csv(root: Path) -> Problem:
    """The error of a DeepDRiD set folder without its label CSV (``regular-fundus-training.csv``
    or the validation set's) and no ``--labels-csv``: the CSVs that are there are named, with
    the option that reads one (a copy whose CSV was renamed ``labels.csv``)."""
    wanted = " or ".join(f"{name}.csv" for name in DEEPDRID_SETS)
    try:
        others = sorted(p for p in root.iterdir() if p.suffix.lower() == ".csv"
                        and not is_hidden(p) and p.is_file())
    except OSError:
        others = []
    if not others:
        return error(root / f"{DEEPDRID_SETS[0]}.csv", f"DeepDRiD label CSV ({wanted}) not found",
                     "put it here or pass --labels-csv FILE", "layout")
    one = len(others) == 1
    named = named_few([p.name for p in others], NEARBY_SHOWN)
    option = (f"--labels-csv {shlex.quote(str(others[0]))}" if one else
              f"--labels-csv FILE (one of {named})")
    return error(root / f"{DEEPDRID_SETS[0]}.csv",
                 f"DeepDRiD label CSV ({wanted}) not found; {named} {'is' if one else 'are'} here",
                 f"if {'it is' if one else 'one is'} the set's label CSV, with DeepDRiD's columns "
                 f"(image_id, {', '.join(EYE_COLUMNS['deepdrid'])}, patient_id), pass {option}; "
                 f"else put {DEEPDRID_SETS[0]}.csv here", "layout")


def _discover_deepdrid(root: Path, labels_csv: str) -> Layout:
    """A DeepDRiD regular-fundus set folder (module docstring). The folder holding the
    training and validation sets is refused, naming the set to pass: one label CSV and one
    image tree are read, so the two sets are not merged into one pool."""
    sets = _deepdrid_sets(root)
    if sets and not _is_deepdrid_set(root):
        named = " or ".join(f"{_root_option(d)} (the {d.name.rpartition('-')[2]} set)" for d in sets)
        held = " and ".join(f"{d.name}/" for d in sets)
        raise IngestError(f"{root}: this folder holds the DeepDRiD {'sets' if len(sets) > 1 else 'set'} "
                          f"{held}; the layout reads one set folder at a time (the training and "
                          f"validation sets are not merged into one pool) -> pass {named}")
    images, problems = find_named(root, DEEPDRID_IMAGES)
    patients = list(_deepdrid_patient_folders(root))
    skip: list[Path] = []  # the set folder's own entries, when it is the image folder too
    if images is not None and patients:
        problems.append(_patient_folders_beside_images(root, images, patients))
    elif images is None and patients and not any(p.severity == "error" for p in problems):
        # repacked without Images/: the per-patient folders sit beside the CSV, read from there
        images = root
        skip, loose = _set_folder_entries(root, patients)
        problems.append(note(root, f"no '{DEEPDRID_IMAGES}/' folder: the "
                                   f"{_patient_folder_words(patients, 'here')} "
                                   f"{'is' if len(patients) == 1 else 'are'} read as the set's images",
                             "nothing to do", "layout"))
        if loose:
            problems.append(_loose_images_note(root, loose))
    if images is None:
        here = _deepdrid_csv(root)
        # .webp too, as the per-patient folders are told by (_holds_image): a flat copy in a
        # format to convert is a flat copy all the same
        flat = (_image_files(root, unread=True) if not any(p.severity == "error" for p in problems)
                else [])
        if flat:  # a flat copy under --layout deepdrid: the images are here, none per patient
            beside = f", beside {here.name}" if here is not None else ""
            raise _missing_folder(
                f"{root}: {counted(len(flat), 'image')} here "
                f"({named_few([p.name for p in flat], NEARBY_SHOWN)}){beside}, in no per-patient "
                f"folder: the DeepDRiD layout reads each patient's images from "
                f"'{DEEPDRID_IMAGES}/<patient_id>/' (or '<patient_id>/' beside the CSV) -> to read "
                "this flat copy as it is, drop --layout deepdrid (a plain folder is read) and "
                f"merge the two eye columns ({' / '.join(EYE_COLUMNS['deepdrid'])}) into one "
                "grade column, each row its own eye's cell, passed as --grade-column "
                "(docs/data.md, DeepDRiD); or put each patient's images in a folder of its own, "
                f"'{DEEPDRID_IMAGES}/<patient_id>/' (as DeepDRiD ships it)", problems)
        if here is not None and not any(p.severity == "error" for p in problems):
            raise _missing_folder(f"{root}: {here.name} is here, but neither an '{DEEPDRID_IMAGES}/' "
                                  "folder nor a subfolder holding images -> put each patient's "
                                  f"images in a folder of its own, '{DEEPDRID_IMAGES}/<patient_id>/' "
                                  "(as DeepDRiD ships it) or '<patient_id>/' here", problems)
        raise _missing_folder(f"{root}: no DeepDRiD '{DEEPDRID_IMAGES}/' folder here -> point --root at "
                              f"the folder holding '{DEEPDRID_SETS[0]}.csv' and '{DEEPDRID_IMAGES}/' "
                              "(its per-patient folders)", problems)
    if labels_csv:
        csv_path, found = _explicit_csv(labels_csv, root)
    else:
        for name in DEEPDRID_SETS:  # the training set's CSV, else the validation set's
            csv_path, found = find_named(root, f"{name}.csv", want_dir=False)
            if csv_path is not None or found:
                break
        if csv_path is None and not found:
            found = [_no_deepdrid_csv(root)]
    problems += found
    problems.append(note(root, "a DeepDRiD set is read as labelled images only: no test split "
                               "(the challenge's evaluation images are not read)",
                         "nothing to do", "layout"))
    return Layout("deepdrid", root, images, None, csv_path, problems, skip)


def _discover_messidor2(root: Path, labels_csv: str) -> Layout:
    """A Messidor-2 folder (module docstring): ``IMAGES/`` and ``messidor_data.csv``."""
    images, problems = find_named(root, MESSIDOR2_IMAGES)
    if images is None:
        raise _missing_folder(f"{root}: no Messidor-2 '{MESSIDOR2_IMAGES}/' folder here -> point --root "
                              f"at the folder holding '{MESSIDOR2_CSV}' and '{MESSIDOR2_IMAGES}/'", problems)
    csv_path, found = (_explicit_csv(labels_csv, root) if labels_csv
                       else _required(root, MESSIDOR2_CSV, "Messidor-2 label (adjudicated grades)"))
    problems += found
    problems.append(note(root, "a Messidor-2 folder is read as labelled images only: no test split",
                         "nothing to do", "layout"))
    return Layout("messidor2", root, images, None, csv_path, problems)


def examination_note(layout: Layout) -> Problem:
    """The note of a Messidor-2 label CSV read without ``data.patient_column``: an examination
    photographs both eyes and the CSV names no examination, so the folds treat each image as
    its own unit; the images of one examination should share a fold, which a column naming
    each image's examination, passed with ``--patient-column``, does. The ingest drops it when
    the CSV has a column that looks like a patient id (``patient_id``): its warning then names
    that column to pass (:func:`data_prep.ingest.collect_images`)."""
    return note(layout.labels_csv or layout.root,
                "Messidor-2 photographs both eyes at each examination, and this CSV names no "
                "examination: each image is its own unit in the folds, so the two eyes of one "
                "examination may fall in different folds (the cross-validated figures can be "
                "optimistic)",
                "to keep an examination's images in one fold, add a column naming each image's "
                "examination (say 'exam_id') and pass it with --patient-column NAME", "layout")


def _discover_medmnist(root: Path) -> Layout:
    files = _npz_files(root)
    if len(files) != 1:
        listed = ", ".join(p.name for p in files) or "none"
        raise IngestError(f"{root}: a MedMNIST layout needs exactly one .npz file (found: {listed}) "
                          "-> point --root at the .npz file itself")
    npz = files[0].absolute()
    return Layout("medmnist", npz, None, None, None, npz=npz)


def _required(folder: Path, name: str, purpose: str) -> tuple[Path | None, list[Problem]]:
    found, problems = find_named(folder, name, want_dir=False)
    if found is not None or problems:
        return found, problems
    return None, [error(folder / name, f"{purpose} CSV not found", "put it here or pass "
                                                                   "--labels-csv FILE", "layout")]


def label_format_of(csv_path: Path) -> str:
    """The public layout (:data:`LABEL_FORMATS`) whose label columns the CSV's header has,
    when it lacks the plain default ones; ``''`` when it has them, has the columns of no
    public layout or of several, or cannot be read (the ingest reports that itself).

    Column names match as the label reading matches them: ignoring case and spacing.
    """
    wanted = [column for kind in ("plain", *LABEL_FORMATS) for column in COLUMNS[kind]]
    table, _ = read_table(csv_path, wanted)
    if table is None:
        return ""
    header = {normalise(c) for c in table.columns}

    def has(kind: str) -> bool:
        return all(normalise(column) in header for column in COLUMNS[kind])

    found = [kind for kind in LABEL_FORMATS if has(kind)]
    return found[0] if len(found) == 1 and not has("plain") else ""


def _label_format_note(layout: Layout) -> Problem:
    image, grade = COLUMNS[layout.label_format]
    plain_image, plain_grade = COLUMNS["plain"]
    kind = layout_name(layout.label_format)
    return note(layout.labels_csv or layout.root,
                f"no {plain_image!r} / {plain_grade!r} columns, but the {kind} layout's "
                f"{image!r} / {grade!r}: read with these, and with the {kind} layout's defaults "
                f"({LAYOUT_SCALES[layout.label_format]} grades, colour fundus photographs) for what --grades, "
                f"--channels and --modality do not set; the fundus crop is not among them (off "
                f"unless --fundus-crop is given)",
                f"if these are not {kind}-style photographs, name the label columns with "
                f"--image-column NAME and --grade-column NAME (the plain folder's defaults then "
                f"apply). If they are ({kind}'s own have a black surround around the disc), the "
                f"crop is the one setting to consider: "
                f"{image_notes.fundus_crop_advice('--fundus-crop')}", "layout")


FINDERS: dict[str, Callable[[Path, str], Layout]] = {
    "drac": _discover_drac,
    "plain": _discover_plain,
    "aptos": _discover_aptos,
    "eyepacs": _discover_eyepacs,
    "idrid": _discover_idrid,
    "deepdrid": _discover_deepdrid,
    "messidor2": _discover_messidor2,
    "medmnist": lambda root, labels_csv: _discover_medmnist(root),  # the npz holds the labels
}
"""Each layout's finder, ``(data root, data.labels_csv) -> Layout``, which :func:`discover`
calls: a layout of :data:`drac_ssl.config.DATA_LAYOUTS` (but ``auto``) needs one here."""

DETECTORS: tuple[tuple[str, Callable[[Path], bool]], ...] = (
    ("drac", looks_like_drac), ("idrid", looks_like_idrid), ("aptos", looks_like_aptos),
    ("eyepacs", looks_like_eyepacs), ("deepdrid", looks_like_deepdrid),
    ("messidor2", looks_like_messidor2), ("medmnist", looks_like_medmnist))
"""The layouts ``data.layout=auto`` recognises, tried in this order (the first whose test
holds wins, so a more specific layout comes before one it could pass for); a folder none
of them recognises is ``plain``."""


def detect_kind(root: Path) -> str:
    """The layout ``data.layout=auto`` takes for ``root`` (an existing path): the first of
    :data:`DETECTORS` that recognises it, else ``plain``."""
    if root.is_file():
        return "medmnist" if root.suffix.lower() == ".npz" else ""
    for kind, test in DETECTORS:
        if test(root):
            return kind
    return "plain"


# --------------------------------------------------------------------------------------
# A root one level off: where the data likely are


NEARBY_FOLDERS = 100
"""Subfolders of a root that :func:`likely_roots` looks at, at most (in name order): the look
stays a listing of a few folders however large the root."""
NEARBY_SHOWN = 3
"""Likely roots a message names, at most."""


def _found_name(folder: Path, official: str, *others: str) -> str:
    """The name of ``folder``'s child as found there (``official`` or one of ``others``, in
    any letter case), else ``official``."""
    found = next((c for c in (_child(folder, n) for n in (official, *others)) if c is not None), None)
    return found.name if found is not None else official


def _eyepacs_words(folder: Path) -> str:
    train = next((d.name for d in (_child(folder, n) for n in EYEPACS_TRAIN_DIRS)
                  if d is not None and d.is_dir()), EYEPACS_TRAIN_DIRS[0])
    return f"an EyePACS layout: {_found_name(folder, EYEPACS_CSV)} + {train}/"


def _medmnist_words(folder: Path) -> str:
    files = _npz_files(folder)
    return f"a MedMNIST .npz: {files[0].name}" if files else "a MedMNIST .npz"


LAYOUT_WORDS: dict[str, Callable[[Path], str]] = {
    "drac": lambda folder: "a DRAC 2022 layout",
    "idrid": lambda folder: f"an IDRiD layout: '{IDRID_DIR}/'",
    "aptos": lambda folder: (f"an APTOS layout: {_found_name(folder, APTOS_CSV)} + "
                             f"{_found_name(folder, APTOS_TRAIN)}/"),
    "eyepacs": _eyepacs_words,
    "deepdrid": lambda folder: (
        f"a DeepDRiD layout: {_deepdrid_csv(folder).name} + "  # type: ignore[union-attr]
        f"{DEEPDRID_IMAGES + '/' if _deepdrid_images(folder) else 'per-patient folders'}"
        if _is_deepdrid_set(folder) else
        f"a folder of DeepDRiD sets: {', '.join(d.name + '/' for d in _deepdrid_sets(folder))}"),
    "messidor2": lambda folder: (f"a Messidor-2 layout: {_found_name(folder, MESSIDOR2_CSV)} + "
                                 f"{_found_name(folder, MESSIDOR2_IMAGES)}/"),
    "medmnist": _medmnist_words,
}
"""What each layout of :data:`DETECTORS` found in a folder is, for a message (the names as
found there): one entry per detected layout, as
``tests/data_prep/test_layouts.py`` checks (a layout without one was called a DRAC layout)."""


def _layout_words(kind: str, folder: Path) -> str:
    """What the layout ``kind`` found in ``folder`` is, for a message: ``an EyePACS layout:
    trainLabels.csv + train/`` (:data:`LAYOUT_WORDS`; ``a KIND layout`` for a kind without an
    entry)."""
    words = LAYOUT_WORDS.get(kind)
    return words(folder) if words is not None else f"a {layout_name(kind)} layout"


MEDMNIST_KEYS = ("train_images", "train_labels")
"""The arrays an ``.npz`` near a root must hold to be suggested as a MedMNIST root
(:func:`medmnist_shaped`)."""


def medmnist_shaped(npz: Path) -> bool:
    """Whether the ``.npz`` file holds MedMNIST's :data:`MEDMNIST_KEYS` arrays: its member
    member names only (the zip's listing, ``KEY.npy`` per array; no array is read, and numpy
    is not imported). False for a file that is no readable ``.npz`` (a ``.npy`` saved under
    ``.npz`` is no zip). Any folder with one ``.npz`` passes :func:`looks_like_medmnist`; a
    suggestion needs this too (a cache of features or embeddings is no data root)."""
    try:
        with zipfile.ZipFile(npz) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return all(f"{key}.npy" in names for key in MEDMNIST_KEYS)


def _recognised(folder: Path) -> str:
    """The layout of :data:`DETECTORS` that ``folder`` is, else ``''`` (a listing only: no
    image is opened); a folder with one ``.npz`` only when it is MedMNIST-shaped
    (:func:`medmnist_shaped`)."""
    try:
        kind = next((kind for kind, test in DETECTORS if test(folder)), "")
    except OSError:  # a folder that cannot be listed is no layout
        return ""
    if kind == "medmnist" and not medmnist_shaped(_npz_files(folder)[0]):
        return ""
    return kind


def _subfolders(folder: Path) -> tuple[list[Path], int]:
    """``folder``'s first :data:`NEARBY_FOLDERS` subfolders (name order, hidden ones left
    out) and how many more it has, not looked at."""
    try:
        found = sorted(p for p in folder.iterdir() if p.is_dir() and not is_hidden(p))
    except OSError:
        return [], 0
    return found[:NEARBY_FOLDERS], max(0, len(found) - NEARBY_FOLDERS)


def count_images(folder: Path) -> int:
    """How many image files of a format the package reads are directly in ``folder``
    (:func:`_image_files`; a listing: none is opened; 0 when it cannot be listed)."""
    return len(_image_files(folder))


def _single_csv_in(folder: Path) -> Path | None:
    try:
        found = [p for p in folder.iterdir() if p.suffix.lower() == ".csv" and not is_hidden(p)]
    except OSError:
        return None
    return found[0] if len(found) == 1 else None


def _folders_above(root: Path) -> list[Path]:
    """The folder above ``root``, and, for a root reached through a link (``link_train ->
    eyepacs/train``), the folder above its target too."""
    above = [root.parent] if root.parent != root else []
    try:
        target = root.resolve()
    except OSError:  # a loop of links
        return above
    return above + [target.parent] if target.parent not in (*above, target) else above


def nearby_layouts(root: Path) -> list[tuple[Path, str, str]]:
    """The folders next to ``root`` that are a layout :data:`DETECTORS` recognise: the folder
    above it (and above its link target, :func:`_folders_above`), then its subfolders (at
    most :data:`NEARBY_FOLDERS`), each with its kind and what it is (:func:`_layout_words`).
    For a root that is none (a plain folder) but is one level off: ``eyepacs/train`` (the
    folder above is the EyePACS layout) or ``downloads`` (holding ``IDRiD/``); or, when none
    is, deeper down a chain of only subfolders (:func:`_only_subfolder_layout`:
    ``data/DeepDRiD/regular_fundus_images/``). A folder of DeepDRiD sets is named as its set
    folders (:func:`_layout_roots`). A folder with
    one ``.npz`` counts only when the ``.npz`` is MedMNIST-shaped (:func:`medmnist_shaped`).
    DRAC and IDRiD roots inside their task folders are recognised as they are
    (:func:`looks_like_drac`, :func:`looks_like_idrid`) and never get here."""
    found: list[tuple[Path, str, str]] = []
    for folder in _folders_above(root) + _subfolders(root)[0]:
        kind = _recognised(folder)
        if kind:
            found += _layout_roots(folder, kind)
    if not found and (deeper := _only_subfolder_layout(root)) is not None:
        found += _layout_roots(*deeper)
    return found


ONLY_SUBFOLDER_DEPTH = 3
"""Levels of only subfolders :func:`_only_subfolder_layout` follows down from a root (an
unzip that adds folders on top: ``data/DeepDRiD/regular_fundus_images/``)."""


def _only_subfolder_layout(root: Path) -> tuple[Path, str] | None:
    """The layout at the end of a chain of only subfolders below ``root`` (each folder on the
    way holds one subfolder, no image and no other file but hidden ones), at most
    :data:`ONLY_SUBFOLDER_DEPTH` levels down, with its kind; None when the chain forks, holds
    files or reaches no layout. A listing per level, no image opened."""
    folder = root
    for _ in range(ONLY_SUBFOLDER_DEPTH):
        try:
            entries = [p for p in folder.iterdir() if not is_hidden(p)]
        except OSError:
            return None
        if len(entries) != 1 or not entries[0].is_dir():
            return None
        folder = entries[0]
        if kind := _recognised(folder):
            return folder, kind
    return None


def _layout_roots(folder: Path, kind: str) -> list[tuple[Path, str, str]]:
    """``folder`` (a layout of ``kind``) as the roots to name: itself, or, for a folder of
    DeepDRiD sets (which its finder refuses, naming the set to pass), each set folder."""
    if kind == "deepdrid" and not _is_deepdrid_set(folder):
        return [(d, kind, _layout_words(kind, d)) for d in _deepdrid_sets(folder)]
    return [(folder, kind, _layout_words(kind, folder))]


def image_subfolders(root: Path) -> list[tuple[Path, int]]:
    """``root``'s subfolders that hold images (not its ``test/``, a plain folder's test
    images), each with how many, most first: where the images of a root one level too high
    are."""
    counted_ = [(sub, count_images(sub)) for sub in _subfolders(root)[0]
                if not same_name(sub.name, PLAIN_TEST_DIR)]
    return sorted(((sub, n) for sub, n in counted_ if n), key=lambda item: -item[1])


def _root_option(folder: Path) -> str:
    """``--root FOLDER``, quoted for a shell when it must be (spaces): as the user retypes it,
    and as :func:`data_prep.problems.as_config_keys` says it (``data.root=FOLDER``)."""
    return f"--root {shlex.quote(str(folder))}"


def _images_and_csv(folder: Path, n: int, labels_csv: Path | None) -> str:
    """``--root FOLDER with --labels-csv CSV (30 images)``: a subfolder of images as a root,
    with the label CSV to pass when it is not in that folder (``labels_csv``, else the
    subfolder's only CSV, which needs no flag)."""
    if labels_csv is not None:
        with_csv = (f" with --labels-csv {shlex.quote(str(labels_csv))}"
                    if labels_csv.parent != folder else "")
        return f"{_root_option(folder)}{with_csv} ({counted(n, 'image')})"
    own = _single_csv_in(folder)
    return f"{_root_option(folder)} ({counted(n, 'image')}{f' and {own.name}' if own is not None else ''})"


def _name_order(name: str) -> tuple[int, int, str]:
    """Folder names in the order a person numbers them: ``2`` before ``10``."""
    return (0, int(name), name) if name.isascii() and name.isdigit() else (1, 0, name)


GRADE_FOLDERS_MAX = 10
"""Subfolders named by integers that read as a folder-per-grade tree, at most, and the
largest number such a folder has (a scale of up to 10 grades, 0- or 1-based): 120 numbered
folders, or 401/ .. 403/, are no grades (:func:`grade_folder_names`)."""


GRADE_FOLDERS_WORDS = (f"a folder-per-grade tree has at most {GRADE_FOLDERS_MAX} numbered folders, "
                       f"none above {GRADE_FOLDERS_MAX}/: 0/ .. {GRADE_FOLDERS_MAX - 1}/ or 1/ .. "
                       f"{GRADE_FOLDERS_MAX}/")
"""The rule of :func:`grade_folder_names` in words, for the advice on folders beyond it (the
ingest's and ``python -m data_prep flatten``'s)."""


def grade_folder_names(names: Iterable[str]) -> bool:
    """Whether subfolder ``names`` read as a folder-per-grade tree: integers of a grade range
    (none above :data:`GRADE_FOLDERS_MAX`, at most that many folders). Numbered folders
    beyond it (DeepDRiD's ``Images/401/``, a patient's id) are per-patient folders."""
    listed = list(names)
    return len(listed) <= GRADE_FOLDERS_MAX and all(
        n.isascii() and n.isdigit() and int(n) <= GRADE_FOLDERS_MAX for n in listed)


EXPORT_THE_COPY = ("unlabelled images (a test set, as DeepDRiD's evaluation Images/<patient>/) are "
                   "not ingested: grade the copy with {python} -m drac_ssl.export RUN --images {flat} "
                   "--out TEAM.csv")
"""What per-patient folders of unlabelled images become once copied into one folder ``{flat}``
(``{python}``: :func:`drac_ssl.starting.python_word`, the interpreter the command is typed with):
graded by the export (a run's test split is one folder, ``scan_image_folder`` does not
recurse)."""


def copy_into_one_folder(root: Path, subs: list[tuple[Path, int]],
                         rename_shared: bool = False, skip_test: bool = True,
                         named_as: str = ", the case names of the CSV") -> tuple[str, Path, str]:
    """The command that copies the images of ``root``'s subfolders into one folder beside it
    (``ROOT_flat``), keeping their names: ``mkdir -p /abs/ROOT_flat && (cd /abs/ROOT && find .
    -mindepth 2 -maxdepth 2 -type f ... -name '*.jpg' -exec sh -c 'cp "$@" "$0"'
    /abs/ROOT_flat/ {} +)``: the images directly in each subfolder (not deeper, not hidden,
    and, with ``skip_test`` (the ingest's, whose plain layout reads ``test/`` as the test
    split), not a ``test/``; the export passes False: every image it is to grade is copied,
    those of a ``test/`` too), each image suffix found named, with ``cp`` as GNU and
    macOS both take it (no ``-t``) and a ``mkdir -p`` that a second run passes. Both folders
    are absolute (``root`` made so by spelling, ``..`` taken out): the command works from any
    folder after its ``cd``, and ``--images .`` or ``..`` name a real ``ROOT_flat``. A ``cp``
    that fails fails the command (``-exec ... +`` passes its exit status on; ``\\;`` did not). The subfolders two of which hold one name
    (``cp`` would keep only one of them) are checked over the same files (a listing of the
    subfolders, no image opened; ``subs``, the image subfolders found, name the suffixes
    when the listing cannot be read). Returns the command, ``ROOT_flat`` and the words on the
    names two subfolders share (``''`` when none): what the ingest's advice
    (:func:`_copy_into_one_folder`) and ``python -m drac_ssl.export --images`` of such a folder
    say. The ingest keeps the names (its label CSV names the images: the words say to rename
    the shared ones first); ``rename_shared`` (the export, whose case names are the copies'
    names) copies, when two subfolders share a name, every image as ``SUBFOLDER_NAME``
    (``patA/OD.png`` -> ``patA_OD.png``; a SUBFOLDER that would make a name the export refuses
    as a case is written as :func:`drac_ssl.submission.safe_case_name` makes it, none of the
    other subfolders' names: ``-patC/OD.png`` -> ``patC_OD.png``, ``Doe, John/OD.png`` ->
    ``Doe_John_OD.png``), and the command then never replaces a file of
    ``ROOT_flat`` by another: one there already with other bytes stops it with an error naming
    both (a name made twice, ``a_b/c.png`` and ``a/b_c.png``; the tree changed since), so no
    image is lost, and a second run over the same copies passes (``named_as``: what the words
    on the renamed copies add after their examples, the export's CSV naming them)."""
    root = Path(os.path.abspath(root))
    flat = root.with_name(f"{root.name}_flat")
    suffixes: set[str] = set()
    seen: dict[str, str] = {}
    clash: list[str] = []
    first: tuple[str, str, str] | None = None  # the first shared name: (subfolder, subfolder, name)
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden(p))
    except OSError:
        folders = [sub for sub, _ in subs]
    tests = [sub.name for sub in folders if skip_test and same_name(sub.name, PLAIN_TEST_DIR)]
    for sub in folders:
        if sub.name in tests:
            continue
        try:
            files = sorted(sub.iterdir())
        except OSError:
            continue
        for path in files:
            if path.suffix.lower() in IMAGE_SUFFIXES and not is_hidden(path) and path.is_file():
                suffixes.add(path.suffix)
                key = name_key(path.name)
                if key in seen and len(clash) < NEARBY_SHOWN:
                    clash.append(f"{seen[key]}/{path.name} and {sub.name}/{path.name}")
                    first = first or (seen[key], sub.name, path.name)
                seen.setdefault(key, sub.name)
    q = shlex.quote
    names = " -o ".join(f"-name {q('*' + x)}" for x in sorted(suffixes))
    names = f"\\( {names} \\)" if len(suffixes) > 1 else names
    skip = "".join(f" ! -path {q(f'./{name}/*')}" for name in tests)
    copy = 'cp "$@" "$0"'
    prefix = _safe_prefixes([sub.name for sub in folders if sub.name not in tests])
    if clash and rename_shared and first is not None:  # each copy named SUBFOLDER_NAME, none replaced
        # a SUBFOLDER that would make a name the export refuses (-patC_, Doe, John_): its safe form
        mapped = "".join(f"{q(name)}) p={q(safe)};; " for name, safe in prefix.items() if safe != name)
        pick = f'p=${{d%%/*}}; case "$p" in {mapped}esac; ' if mapped else "p=${d%%/*}; "
        copy = ('for f; do d=${f#./}; ' + pick + 't="$0${p}_${f##*/}"; if [ -e "$t" ] && ! cmp -s "$f" "$t"; '
                'then echo "$t: there already, not replaced by $f" >&2; exit 1; fi; cp "$f" "$t" || exit 1; done')
    command = (f"mkdir -p {q(str(flat))} && (cd {q(str(root))} && find . -mindepth 2 -maxdepth 2 "
               f"-type f ! -path './.*' ! -name '.*'{skip} {names} -exec sh -c {q(copy)} "
               f"{q(str(flat) + '/')} {{}} +)")
    if clash and rename_shared and first is not None:
        a, b, name = first
        clashes = (f" (names are shared across subfolders, e.g. {a}/{name} and {b}/{name}: so that "
                   f"no copy replaces another, each image is copied as SUBFOLDER_NAME, e.g. "
                   f"{prefix.get(a, a)}_{name} and {prefix.get(b, b)}_{name}{named_as})")
    else:
        clashes = (f" (first rename the images that share a name across subfolders, e.g. "
                   f"{named_few(clash, NEARBY_SHOWN)}: one copy would replace the other)" if clash else "")
    return command, flat, clashes


def _safe_prefixes(names: Sequence[str]) -> dict[str, str]:
    """Each subfolder name of ``names`` -> the ``SUBFOLDER`` of the copies
    :func:`copy_into_one_folder` names ``SUBFOLDER_NAME``: the name itself, or, where it would
    start the copy's name with a spreadsheet formula's character or put a comma, quote or line
    break in it (:func:`drac_ssl.submission.case_name_problem` of ``SUBFOLDER_x.png``), its
    :func:`drac_ssl.submission.safe_case_name`, none of the other names nor another made so
    (``-patC`` -> ``patC``, or ``patC_2`` beside a ``patC/``)."""
    from drac_ssl.submission import case_name_problem, safe_case_name

    taken = list(names)
    prefixes: dict[str, str] = {}
    for name in names:
        if case_name_problem(f"{name}_x.png") is None:
            prefixes[name] = name
        else:
            prefixes[name] = safe = safe_case_name(name, [t for t in taken if t != name])
            taken.append(safe)
    return prefixes


def _copy_into_one_folder(root: Path, subs: list[tuple[Path, int]], labels_csv: Path | None = None) -> str:
    """The ingest's advice for images in subfolders: :func:`copy_into_one_folder`'s command,
    then the root to pass (with ``--labels-csv`` of ``labels_csv`` when given). When names are
    shared across subfolders (``siteA/1.png`` and ``siteB/1.png``, two sites pooled) and the
    label CSV is known, the command copies each image as ``SUBFOLDER_NAME`` (``siteA_1.png``:
    a ``cp`` keeping the names would replace one by the other), and a second command
    (:func:`_csv_rename_command`) writes the label CSV into the copy with its names
    ``SUBFOLDER/NAME`` written the same way; the root to pass is then the copy alone."""
    with_csv = f" --labels-csv {shlex.quote(str(labels_csv))}" if labels_csv is not None else ""
    command, flat, clashes = copy_into_one_folder(root, subs)
    rename = _csv_rename_command(root, labels_csv, flat) if clashes and labels_csv is not None else ""
    if not rename:
        return (f"images in per-patient (or other) subfolders are not read: copy them into one "
                f"folder{clashes},\n  {command}\nthen pass {_root_option(flat)}{with_csv}")
    command, flat, clashes = copy_into_one_folder(root, subs, rename_shared=True, named_as="")
    return (f"images in per-patient (or other) subfolders are not read: copy them into one "
            f"folder{clashes}, and write the label CSV's names the same way (SUBFOLDER/NAME -> "
            f"SUBFOLDER_NAME: the second command does it for the names written with their "
            f"subfolder; a name written without it must be given its subfolder by hand),\n  "
            f"{command}\n  {rename}\nthen pass {_root_option(flat)}")


def _csv_rename_command(root: Path, labels_csv: Path, flat: Path) -> str:
    """The command that writes ``labels_csv`` into ``flat`` (same file name) with every cell
    starting ``SUBFOLDER/`` or ``SUBFOLDER\\`` (a subfolder of ``root``: the images'
    subfolders, not hidden, not ``test/``) written ``SUBFOLDER_``, as
    :func:`copy_into_one_folder` with ``rename_shared`` names the copies; every other byte
    kept (read and written as Latin-1, so any ASCII-compatible encoding passes through, a BOM
    too). A CSV there already with other content is not replaced: the command stops naming it
    (a CSV edited in the copy is not lost). ``''`` when a subfolder's name is not its copies'
    prefix (:func:`_safe_prefixes`), or when the command would leave a cell naming a subfolder
    as the ingest reads it (:func:`_csv_rename_works`: the cell's folder in another letter case
    or Unicode form than the folder's, or a CSV in another encoding than UTF-8, e.g. cp1252's
    ``sité/``): the caller then gives the old advice."""
    try:
        names = sorted(p.name for p in root.iterdir()
                       if p.is_dir() and not is_hidden(p) and not same_name(p.name, PLAIN_TEST_DIR))
    except OSError:
        return ""
    if not names or any(safe != name or set(name) & set("\"'\\") for name, safe in _safe_prefixes(names).items()):
        return ""
    # the names as the Latin-1 reading of their UTF-8 bytes, as the file's cells are read, in a
    # raw string of double quotes (no quote in them): the code holds no ' for the shell
    alternatives = "|".join(re.escape(n.encode("utf-8", "surrogateescape").decode("latin-1")) for n in names)
    pattern = f"(^|[,;\\t\\x22])({alternatives})[/\\\\]"
    if not _csv_rename_works(labels_csv, names, pattern):
        return ""
    code = ('import re,sys,os; s=open(sys.argv[1],encoding="latin-1",newline="").read(); '
            f't=re.sub(r"{pattern}",r"\\1\\2_",s,flags=re.M); o=sys.argv[2]; '
            'e=os.path.exists(o) and open(o,encoding="latin-1",newline="").read(); '
            'sys.exit(o+": there already with other content, not replaced (delete it, or edit "'
            '+sys.argv[1]+" and run this again)") if e not in (False,t) else '
            'open(o,"w",encoding="latin-1",newline="").write(t)')
    q = shlex.quote
    return f"{python_word()} -c {q(code)} {q(str(labels_csv))} {q(str(flat / labels_csv.name))}"


SUBFOLDER_CELL = re.compile(r"(?:^|[,;\t\"])([^,;\t\"\r\n/\\]+)[/\\]", re.M)
"""A CSV cell's leading folder (``siteA`` of ``siteA/1.png``, quoted or not): what
:func:`_csv_rename_works` looks for."""


def _csv_rename_works(labels_csv: Path, names: Sequence[str], pattern: str) -> bool:
    """Whether :func:`_csv_rename_command`'s rewrite (``pattern``, over the file's bytes read as
    Latin-1) leaves no cell of ``labels_csv`` naming one of the subfolders ``names`` as the
    ingest reads the file (its encoding as detected: :func:`data_prep.labels.decode_text`; the
    folder case-blind and in any Unicode form: :func:`name_key`), and rewrote at least one: a
    ``siteA/`` cell beside a ``SiteA`` folder, an NFD folder beside NFC cells, or a cp1252 CSV's
    ``sité/`` (other bytes than the UTF-8 name's) would leave rows the copy's ingest finds
    no image for."""
    try:
        raw = labels_csv.read_bytes()
    except OSError:
        return False
    text, encoding, _ = decode_text(raw, labels_csv)
    if text is None or not encoding:
        return False
    keys = {name_key(n) for n in names}

    def folders(t: str) -> int:
        return sum(name_key(m.group(1).strip()) in keys for m in SUBFOLDER_CELL.finditer(t))

    before = folders(text)
    try:
        after = re.sub(pattern, r"\1\2_", raw.decode("latin-1"), flags=re.M).encode("latin-1").decode(encoding)
    except (UnicodeError, LookupError):
        return False
    return before > 0 and folders(after) == 0


def _image_tree_words(root: Path, subs: list[tuple[Path, int]], not_looked_at: int,
                      labels_csv: Path | None = None, said_of: Path | None = None) -> str:
    """Images in several subfolders of ``root``: how many hold images (the first
    :data:`NEARBY_SHOWN` named, then how many more), that the plain layout reads one folder of
    images with a label CSV, and what to do. ``said_of``: the folder the message is about when
    ``root`` is a subfolder of it (:func:`_patient_folders_below`: ``ROOT: ... its subfolder
    Images/ holds no image itself``), the subfolders then named below it (``Images/401/``), not
    as if ``401/`` were beside ``Images/``. For subfolders named as grades (``0/`` .. ``4/``,
    at most :data:`GRADE_FOLDERS_MAX`) and no label CSV known (``labels_csv``, given or found
    in or above ``root``), the command that makes them one folder beside ``root`` (``python -m
    data_prep flatten --root ROOT``: ``ROOT_flat`` with ``labels.csv``, see
    :mod:`data_prep.flatten`), on a line of its own, and the root to pass then (with
    ``--grades icdr`` for folders 0..4). Otherwise (per-patient folders, as DeepDRiD's
    ``Images/<patient_id>/``, whose label CSV sits above them: numbered folders are no
    grades then; or, without a label CSV, folders that are no grade range,
    :func:`grade_folder_names`: ``401/`` .. ``403/``, said to look like per-patient folders)
    the command that copies the images into one folder keeping their names
    (:func:`_copy_into_one_folder`), and, without a label CSV, the export that grades the copy
    when the images are an unlabelled test set (:data:`EXPORT_THE_COPY`). :func:`data_prep.problems.as_config_keys` keeps a
    ``python -m data_prep`` command as typed and says the rest as settings."""
    from data_prep.flatten import next_options

    root = Path(os.path.abspath(root))  # said absolute (run from elsewhere), '..' taken out
    names = sorted((sub.name for sub, _ in subs), key=_name_order)
    below = f"{root.name}/" if said_of is not None else ""
    more = f"; {not_looked_at} more subfolders not looked at" if not_looked_at else ""
    listed = named_few([f'{below}{n}/' for n in names], NEARBY_SHOWN)
    said = (f"the images are in {len(subs)} subfolders ({listed}"
            f"{more}), not in this folder, and a plain root reads one folder of images with a "
            "label CSV")
    if labels_csv is not None and (kind := eye_columns_layout(labels_csv)):
        # per-patient folders with a label CSV of per-eye grades (DeepDRiD's, renamed): the
        # layout reads them as they are; a flat copy would be told to pass the set folder back
        set_folder = root.parent if root.name.casefold() == DEEPDRID_IMAGES.casefold() else root
        return (f"{said}; {labels_csv.name} has {LAYOUT_NAMES[kind]}'s columns "
                f"({', '.join(EYE_COLUMNS[kind])}): the {LAYOUT_NAMES[kind]} layout reads the "
                f"per-patient folders and each eye's grade as they are, its label CSV named "
                f"otherwise than {DEEPDRID_SETS[0]}.csv given with --labels-csv: pass "
                f"{_root_option(set_folder)} --layout {kind} --labels-csv {shlex.quote(str(labels_csv))}; "
                f"or, to read them as a plain folder (the eye columns then merged into one grade "
                f"column, docs/data.md, {LAYOUT_NAMES[kind]}): "
                f"{_copy_into_one_folder(root, subs, labels_csv)}")
    if labels_csv is not None:
        return (f"{said} ({labels_csv.name}, which names the images): "
                f"{_copy_into_one_folder(root, subs, labels_csv)}")
    if not grade_folder_names(names):
        flat = shlex.quote(str(root.with_name(f"{root.name}_flat")))
        numbered = all(n.isascii() and n.isdigit() for n in names)
        return (f"{said}" + (f"; folders numbered beyond a grade scale ({GRADE_FOLDERS_WORDS}) "
                             "look like per-patient folders, not grades" if numbered else "")
                + f": {_copy_into_one_folder(root, subs)} (and put their label CSV there, or pass "
                f"it with --labels-csv FILE); {EXPORT_THE_COPY.format(flat=flat, python=python_word())}")
    # every integer-named subfolder, empty ones too: the grades flatten reads
    grades = sorted({int(sub.name) for sub in _subfolders(root)[0]
                     if sub.name.isascii() and sub.name.isdigit()})
    then, _, note = next_options(grades, root.with_name(f"{root.name}_flat"))
    command = f"{python_command('data_prep')} flatten {_root_option(root)}"
    return (f"{said}: a folder-per-grade tree needs a label CSV. To copy the images into one "
            f"folder and write it from the folder names, run\n  {command}\nthen pass {then}"
            f"{f'; {note}' if note else ''}")


def eye_columns_layout(labels_csv: Path) -> str:
    """The layout (kind) whose per-eye grade columns (:data:`EYE_COLUMNS`: DeepDRiD's
    ``left_eye_DR_Level`` / ``right_eye_DR_Level``) the header of ``labels_csv`` has, names
    compared as the label reading compares them; ``''`` for none, or a file not read."""
    try:
        table, _ = read_table(labels_csv)
    except OSError:
        return ""
    return next(iter(eye_columns_in(table.columns if table is not None else ())), "")


def _label_csv_near(root: Path) -> Path | None:
    """A label CSV in ``root`` or in the folder above (its only ``.csv``): images in numbered
    subfolders beside one are per-patient folders, their grades in that CSV."""
    here = _single_csv_in(root)
    if here is not None or root.parent == root:
        return here
    return _single_csv_in(root.parent)


def _csv_above(root: Path) -> str:
    """For a root of images without a label CSV whose folder above holds one CSV: that folder
    as the root when it holds images too (``root`` is then likely its ``test/``), else that
    CSV to pass with ``--labels-csv``; ``''`` otherwise."""
    if root.parent == root or (csv_path := _single_csv_in(root.parent)) is None:
        return ""
    n = count_images(root.parent)
    if n:
        return f"{_root_option(root.parent)} ({counted(n, 'image')} and {csv_path.name})"
    return f"--labels-csv {shlex.quote(str(csv_path))} (the one CSV in the folder above)"


def _patient_folders_below(root: Path, labels_csv: Path | None) -> str:
    """For a ``root`` without images whose one subfolder holds no image itself but two or
    more subfolders of images (DeepDRiD's ``Online-Challenge1&2-Evaluation/`` above
    ``Images/401/`` ...): that subfolder named, then what :func:`_image_tree_words` says of it
    (copy per-patient folders into one; ``''`` otherwise)."""
    holders = [sub for sub in _subfolders(root)[0] if not count_images(sub)]
    found = [(sub, subs) for sub in holders if len(subs := image_subfolders(sub)) > 1]
    if len(found) != 1:
        return ""
    sub, subs = found[0]
    return (f"its subfolder {sub.name}/ holds no image itself, and "
            + _image_tree_words(sub, subs, _subfolders(sub)[1], labels_csv or _label_csv_near(sub),
                                said_of=root))


def likely_roots(root: Path, labels_csv: Path | None = None, otherwise: str = "") -> str:
    """``did you mean --root X (...)?`` for a plain ``root`` that is likely one level off, or
    ``''``. Named, at most :data:`NEARBY_SHOWN` (then ``and N more``): the layouts next to it
    (:func:`nearby_layouts`) but MedMNIST; else, unless ``root`` holds images itself, its
    subfolders of images (:func:`image_subfolders`; with ``labels_csv``, the label CSV found
    or given, to pass with them), but when two or more hold images, no single folder:
    :func:`_image_tree_words` says what to do instead (flatten a folder-per-grade tree; copy
    per-patient folders, those beside a label CSV, into one); else, for a root of
    images without ``labels_csv``, the folder above's one CSV (:func:`_csv_above`). A
    MedMNIST ``.npz`` next to it comes after these. ``otherwise``: what to do if the
    suggestion is not the root (``If not, ...``, after a question only). Listings only, no
    image is opened (an ``.npz``'s member names are read). The flags are the ingest's
    (``--root``), which ``python -m drac_ssl.train`` says as ``data.root=``."""
    layouts = nearby_layouts(root)
    named = [f"{_root_option(folder)} ({words})" for folder, kind, words in layouts
             if kind != "medmnist"]
    tree = ""
    holds_images = bool(count_images(root))
    if not named and not holds_images:
        subs = image_subfolders(root)
        if len(subs) > 1:  # never one subfolder of several (DeepDRiD's Images/1/ of 7)
            tree = _image_tree_words(root, subs, _subfolders(root)[1],
                                     labels_csv or _label_csv_near(root))
        else:
            named = [_images_and_csv(folder, n, labels_csv) for folder, n in subs]
    if not named and not tree and not holds_images:
        tree = _patient_folders_below(root, labels_csv)
    if not named and not tree and holds_images and labels_csv is None:
        named = [above] if (above := _csv_above(root)) else []
    named += [f"{_root_option(folder)} ({words})" for folder, kind, words in layouts
              if kind == "medmnist"]
    question = ""
    if named:
        cut = f" (and {len(named) - NEARBY_SHOWN} more)" if len(named) > NEARBY_SHOWN else ""
        question = f"did you mean {' or '.join(named[:NEARBY_SHOWN])}{cut}?"
    if tree:
        return f"{tree}. Or {question}" if question else tree
    if question and otherwise:
        return f"{question} If not, {otherwise}"
    return question


def data_root(cfg: DataConfig) -> Path:
    """``cfg.root`` as an absolute path (``..`` taken out, symbolic links kept:
    :func:`drac_ssl.io.readable_absolute`), checked without reading any folder: IngestError when
    no root is given, when it does not exist (a "data root file" for a name ending in ``.npz``
    or ``.csv``, else a "data root path"; naming the nearest folder above that does), or
    when ``cfg.layout`` is unknown. The first checks of :func:`discover`, which
    ``python -m data_prep ingest`` makes before it reads any file (:func:`data_prep.ingest.refuse_early`)."""
    if not cfg.root:
        raise IngestError("no data root given -> pass --root DIR (the unzipped DRAC folder, a "
                          "public DR dataset folder, a MedMNIST .npz, or a folder of images with "
                          "a label CSV)")
    root = readable_absolute(cfg.root)  # '..' taken out once here: every path said below is clean
    if not root.exists():
        parent = next((p for p in root.parents if p.exists()), None)
        hint = f" ('{parent}' exists)" if parent is not None and parent != Path("/") else ""
        # a MedMNIST .npz or a label CSV given as the root is a file: "folder" misled (a trial user)
        kind = "file" if root.suffix.lower() in (".npz", ".csv") else "path"
        raise IngestError(f"{root}: data root {kind} does not exist{hint} -> check the --root path "
                          "(quote it if it contains spaces)")
    if cfg.layout not in DATA_LAYOUTS:
        raise IngestError(f"layout {cfg.layout!r} is unknown -> use one of {', '.join(DATA_LAYOUTS)}")
    return root


def discover(cfg: DataConfig) -> Layout:
    """Resolve ``cfg.root`` / ``cfg.layout`` into image folders (or a .npz) and a label CSV.

    Raises :class:`IngestError` when the root is missing or the requested layout is not
    there; softer findings (no CSV, several CSVs) are returned as ``Layout.problems``. The
    label columns are the layout's, unless ``cfg.image_column`` / ``cfg.grade_column`` were
    changed from their defaults; with both at their defaults, a plain folder whose CSV has a
    public layout's columns instead is read with those (``Layout.label_format``, a note).
    """
    root = data_root(cfg)
    kind = detect_kind(root) if cfg.layout == "auto" else cfg.layout
    if kind == "plain" and cfg.layout == "auto" and messidor2_by_csv(root, cfg.labels_csv):
        kind = "messidor2"
    if root.is_file() and kind != "medmnist":
        raise IngestError(f"{root}: --root must be a folder (or a MedMNIST .npz file), this is a "
                          "file -> pass the folder that holds the images")
    finder = FINDERS.get(kind)
    if finder is None:
        raise IngestError(f"layout {kind!r} is listed in drac_ssl.config.DATA_LAYOUTS but has no "
                          f"finder -> register its _discover_{kind} function in "
                          f"data_prep.layout.FINDERS (and its test in DETECTORS for "
                          f"data.layout=auto; docs/design.md, adding a layout)")
    layout = finder(root, cfg.labels_csv)
    defaults = DataConfig()
    columns_set = (cfg.image_column, cfg.grade_column) != (defaults.image_column,
                                                           defaults.grade_column)
    if kind == "plain" and not columns_set and layout.labels_csv is not None:
        layout.label_format = label_format_of(layout.labels_csv)
        if layout.label_format:
            layout.problems.append(_label_format_note(layout))
    if layout.treated_as == "messidor2" and not cfg.patient_column and layout.labels_csv is not None:
        layout.problems.append(examination_note(layout))  # no CSV: its own error says so
    image_column, grade_column = COLUMNS[layout.treated_as]
    eye_columns: tuple[str, ...] = ()
    if cfg.grade_column == defaults.grade_column and layout.treated_as in EYE_COLUMNS:
        eye_columns = EYE_COLUMNS[layout.treated_as]  # the grade column is the image's eye's
        grade_column = " / ".join(eye_columns)  # so recorded (ingest_summary.json label_columns)
    return dataclasses.replace(
        layout,
        image_column=cfg.image_column if cfg.image_column != defaults.image_column else image_column,
        grade_column=cfg.grade_column if cfg.grade_column != defaults.grade_column else grade_column,
        eye_columns=eye_columns,
        patient_column="" if cfg.patient_column else PATIENT_COLUMNS.get(layout.treated_as, ""),
        marked_ungradable=(None if layout.treated_as not in UNGRADABLE_GRADES else
                           (UNGRADABLE_GRADES[layout.treated_as], LAYOUT_NAMES[layout.treated_as])))
