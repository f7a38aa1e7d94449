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
  is the unlabelled test split (its public label file is not read); its names restart at
  ``IDRiD_001``, so names shared with training images are allowed (contents are compared).

``medmnist``: a MedMNIST ``.npz`` (RetinaMNIST): ``root`` is the file or a folder holding
  exactly one. Row ``i`` of ``train_images`` / ``val_images`` / ``test_images`` is the case
  ``train_{i:04d}.png`` / ``val_{i:04d}.png`` / ``test_{i:04d}.png``; train and val rows with
  their labels are the cross-validation pool, test rows the unlabelled test split.

``plain``: a folder of images plus a label CSV (``labels_csv`` or the only CSV in the
  folder); an optional ``test/`` subfolder holds unlabelled test images. A plain folder is
  taken as UW-OCTA (grey, DRAC grades) unless ``data.channels`` / ``data.grades`` say otherwise,
  or its CSV has the label columns of one public layout (below).

Each public layout names its own label columns; ``data.image_column`` / ``data.grade_column``
override them when changed from their defaults. A plain folder whose CSV lacks the default
columns (``image name``, ``DR grade``) but has those of exactly one public layout (IDRiD's
``Image name`` / ``Retinopathy grade``, APTOS's ``id_code`` / ``diagnosis``, EyePACS's
``image`` / ``level``) is read with them, and that layout's defaults apply (grade scale,
colour fundus photographs, EyePACS eye pairs): ``Layout.label_format``, said in a note.
Columns the user set are never replaced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from data_prep.grades import LAYOUT_SCALES
from data_prep.labels import normalise, read_table
from data_prep.problems import IngestError, Problem, error, note
from drac_ssl import scale
from drac_ssl.config import DATA_LAYOUTS, DataConfig

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

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "__macosx", "icon\r"})

COLUMNS = {  # the label columns each layout's CSV has
    "drac": ("image name", "DR grade"),
    "plain": ("image name", "DR grade"),
    "aptos": ("id_code", "diagnosis"),
    "eyepacs": ("image", "level"),
    "idrid": ("Image name", "Retinopathy grade"),
    "medmnist": ("", ""),
}
FUNDUS_LAYOUTS = frozenset(scale.FUNDUS_LAYOUTS)
"""Colour fundus layouts: ``data.channels`` defaults to auto, no 1024 px expectation."""
LABEL_FORMATS = tuple(kind for kind, columns in COLUMNS.items()
                      if all(columns) and columns != COLUMNS["plain"])
"""The public layouts whose label columns a plain folder's CSV may have (aptos, eyepacs, idrid)."""


@dataclass
class Layout:
    """The resolved input: image folders per split and the label CSV (None when absent)."""

    kind: str  # drac | plain | aptos | eyepacs | idrid | medmnist
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

    @property
    def treated_as(self) -> str:
        """The layout whose defaults apply (grade scale, modality, channels, EyePACS eye
        pairs): ``kind``, or for a plain folder the public layout whose label columns its CSV
        has (:data:`LABEL_FORMATS`)."""
        return self.label_format or self.kind

    @property
    def fundus(self) -> bool:
        return self.treated_as in FUNDUS_LAYOUTS


@dataclass
class FolderScan:
    """The images of one folder and what else was found there."""

    images: list[Path]
    problems: list[Problem]


def is_hidden(path: Path) -> bool:
    """Operating-system clutter (``.DS_Store``, ``Thumbs.db``, ``__MACOSX`` ...)."""
    return path.name.startswith(".") or path.name.lower() in SYSTEM_FILES


def scan_image_folder(folder: Path, skip: Iterable[Path] = ()) -> FolderScan:
    """List the images of ``folder`` (not recursive), flagging everything else.

    Hidden/system files are ignored with a note, subfolders too (except those in ``skip``,
    which the caller handles); any other non-image file is fatal, and so are two names that
    differ only in case (``001.png`` and ``001.PNG``).
    """
    skipped = {p.resolve() for p in skip}
    images: list[Path] = []
    problems: list[Problem] = []
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise IngestError(f"{folder}: cannot list the folder ({exc.strerror or exc}) -> "
                          "check the path and its permissions") from None
    for path in entries:
        if path.resolve() in skipped:
            continue
        if is_hidden(path):
            problems.append(note(path, "hidden/system file ignored", "nothing to do"))
        elif path.is_dir():
            problems.append(note(path, "subfolder ignored (images are not searched recursively)",
                                 "move its images up one level if they belong to this set"))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        else:
            problems.append(error(path, f"not an image file ({path.suffix or 'no extension'}) "
                                        "in an image folder",
                                  "move it out of the image folder"))
    by_name: dict[str, list[Path]] = {}
    for path in images:
        by_name.setdefault(path.name.lower(), []).append(path)
    for same in by_name.values():
        if len(same) > 1:
            others = ", ".join(p.name for p in same[1:])
            problems.append(error(same[0], f"duplicate name: {others} differs only in case",
                                  "keep one file per image id"))
    return FolderScan(images, problems)


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: set[Path] = set()
    out = []
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


def _task_dirs(root: Path) -> list[Path]:
    """Every existing ``C. Diabetic Retinopathy Grading`` folder that ``root`` can mean."""
    candidates = [root / TASK_DIR, root / TEST_ROOT_DIR / TASK_DIR]
    if root.name == TASK_DIR:
        candidates[:0] = [root]
        candidates.append(root.parent / TEST_ROOT_DIR / TASK_DIR)
    if root.name == TEST_ROOT_DIR:
        candidates.append(root / TASK_DIR)
    if root.name == IMAGES_DIR or (root.parent.name == IMAGES_DIR
                                   and root.name in (TRAIN_DIR, TEST_DIR)):
        task = root.parent if root.name == IMAGES_DIR else root.parent.parent
        if task.name != IDRID_DIR:  # IDRiD's grading task uses the same folder names
            candidates += [task, task.parent / TEST_ROOT_DIR / TASK_DIR]  # a folder inside the task
    return _unique(c for c in candidates if c.is_dir())


def looks_like_drac(root: Path) -> bool:
    return bool(_task_dirs(root)) or (root / TEST_ROOT_DIR).is_dir()


def _single_csv(folder: Path, purpose: str) -> tuple[Path | None, list[Problem]]:
    """The only ``.csv`` in ``folder``; a fatal problem when there are none or several."""
    found = sorted(p for p in folder.glob("*") if p.suffix.lower() == ".csv" and not is_hidden(p)) \
        if folder.is_dir() else []
    if len(found) == 1:
        return found[0], []
    if not found:
        return None, [error(folder, f"no {purpose} CSV found here",
                            "put the label CSV here or pass --labels-csv FILE")]
    names = ", ".join(p.name for p in found)
    return None, [error(folder, f"{len(found)} CSV files ({names}); which one holds the labels?",
                        "pass --labels-csv FILE")]


def _explicit_csv(labels_csv: str, root: Path) -> tuple[Path | None, list[Problem]]:
    given = Path(labels_csv).expanduser()
    for candidate in (given, root / given):
        if candidate.is_file():
            return candidate.absolute(), []
    return None, [error(given, "label CSV not found", "check the --labels-csv path")]


def _discover_drac(root: Path, labels_csv: str) -> Layout:
    tasks = _task_dirs(root)
    train = next((t / IMAGES_DIR / TRAIN_DIR for t in tasks
                  if (t / IMAGES_DIR / TRAIN_DIR).is_dir()), None)
    test = next((t / IMAGES_DIR / TEST_DIR for t in tasks
                 if (t / IMAGES_DIR / TEST_DIR).is_dir()), None)
    if train is None and test is None:
        raise IngestError(
            f"{root}: no DRAC image folders found (looked for '{TASK_DIR}/{IMAGES_DIR}/"
            f"{TRAIN_DIR}' and '{TEST_ROOT_DIR}/{TASK_DIR}/{IMAGES_DIR}/{TEST_DIR}') -> point "
            "--root at the folder where the DRAC zip files were unzipped, or use --layout plain")
    problems: list[Problem] = []
    csv_path: Path | None = None
    if labels_csv:
        csv_path, problems = _explicit_csv(labels_csv, root)
    elif train is not None:
        csv_path, problems = _single_csv(train.parent.parent / GROUNDTRUTH_DIR, "training-label")
    if train is None:
        problems.append(note(root, "no training set found, only the testing set is ingested",
                             f"add '{TASK_DIR}/{IMAGES_DIR}/{TRAIN_DIR}' to ingest training images"))
    if test is None:
        problems.append(note(root, "no testing set found, only the training set is ingested",
                             f"unzip the testing set as '{TEST_ROOT_DIR}' beside or inside the root"))
    return Layout("drac", root, train, test, csv_path, problems)


def _discover_plain(root: Path, labels_csv: str) -> Layout:
    test = root / PLAIN_TEST_DIR
    if labels_csv:
        csv_path, problems = _explicit_csv(labels_csv, root)
    else:
        csv_path, problems = _single_csv(root, "label")
    csvs = [p for p in root.iterdir() if p.suffix.lower() == ".csv"]
    for other in csvs:
        if csv_path is not None and other.resolve() != csv_path.resolve() and not is_hidden(other):
            problems.append(note(other, "CSV file ignored (not the label CSV)", "nothing to do"))
    test_dir = test if test.is_dir() else None
    skip = csvs + ([test] if test_dir is not None else [])
    return Layout("plain", root, root, test_dir, csv_path, problems, skip)


def _child(folder: Path, name: str) -> Path | None:
    """``folder/name``, matching the name case-insensitively (archives differ in case)."""
    exact = folder / name
    if exact.exists():
        return exact
    if not folder.is_dir():
        return None
    return next((p for p in folder.iterdir() if p.name.lower() == name.lower()), None)


def looks_like_aptos(root: Path) -> bool:
    return _child(root, APTOS_CSV) is not None and _child(root, APTOS_TRAIN) is not None


def looks_like_eyepacs(root: Path) -> bool:
    return _child(root, EYEPACS_CSV) is not None and any(
        d is not None and d.is_dir() for d in (_child(root, n) for n in EYEPACS_TRAIN_DIRS))


def _idrid_task(root: Path) -> Path | None:
    for candidate in (root, root / IDRID_DIR, root.parent, root.parent.parent):
        if candidate.name == IDRID_DIR and (candidate / IMAGES_DIR).is_dir():
            return candidate
    return None


def looks_like_idrid(root: Path) -> bool:
    return _idrid_task(root) is not None


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


def _discover_aptos(root: Path, labels_csv: str) -> Layout:
    train = _child(root, APTOS_TRAIN)
    if train is None or not train.is_dir():
        raise IngestError(f"{root}: no APTOS '{APTOS_TRAIN}/' folder here -> point --root at the "
                          f"folder holding '{APTOS_CSV}' and '{APTOS_TRAIN}/'")
    csv_path, problems = (_explicit_csv(labels_csv, root) if labels_csv
                          else _required(root, APTOS_CSV, "APTOS label"))
    test = _child(root, APTOS_TEST)
    test_dir = test if test is not None and test.is_dir() else None
    test_list = _child(root, APTOS_TEST_CSV) if test_dir is not None else None
    if test_dir is None:
        problems.append(note(root, f"no '{APTOS_TEST}/' folder: only the training set is ingested",
                             "nothing to do", "layout"))
    return Layout("aptos", root, train, test_dir, csv_path, problems,
                  test_list_csv=test_list if test_list is not None and test_list.is_file() else None)


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
        problems.append(note(root, "no 'test/' folder: only the training set is ingested",
                             "nothing to do", "layout"))
    return Layout("eyepacs", root, train, test, csv_path, problems)


def _discover_idrid(root: Path, labels_csv: str) -> Layout:
    task = _idrid_task(root)
    if task is None:
        raise IngestError(f"{root}: no IDRiD '{IDRID_DIR}/{IMAGES_DIR}' folder -> point --root at "
                          f"the folder where 'B. Disease Grading.zip' was unzipped")
    train = task / IMAGES_DIR / TRAIN_DIR
    test = task / IMAGES_DIR / TEST_DIR
    problems: list[Problem] = []
    if labels_csv:
        csv_path, problems = _explicit_csv(labels_csv, root)
    else:
        truth = task / GROUNDTRUTH_DIR
        found = sorted(p for p in truth.glob("*.csv") if not is_hidden(p)) if truth.is_dir() else []
        training = [p for p in found if "training" in p.name.lower()] or found
        csv_path = training[0] if len(training) == 1 else None
        if csv_path is None:
            problems.append(error(truth, f"no single training-label CSV ({len(training)} found; "
                                         f"expected '{IDRID_LABELS_CSV_NAME}')",
                                  "pass --labels-csv FILE", "layout"))
        for other in found:
            if other != csv_path:
                problems.append(note(other, "CSV not read (the testing set is ingested unlabelled: "
                                            "score predictions on it yourself)", "nothing to do",
                                     "layout"))
    if not train.is_dir():
        raise IngestError(f"{task}: no '{IMAGES_DIR}/{TRAIN_DIR}' folder -> unzip the IDRiD "
                          "grading archive unchanged")
    return Layout("idrid", root, train, test if test.is_dir() else None, csv_path, problems,
                  shared_test_names=True)


def _discover_medmnist(root: Path) -> Layout:
    files = _npz_files(root)
    if len(files) != 1:
        listed = ", ".join(p.name for p in files) or "none"
        raise IngestError(f"{root}: a MedMNIST layout needs exactly one .npz file (found: {listed}) "
                          "-> point --root at the .npz file itself")
    npz = files[0].absolute()
    return Layout("medmnist", npz, None, None, None, npz=npz)


def _required(folder: Path, name: str, purpose: str) -> tuple[Path | None, list[Problem]]:
    found = _child(folder, name)
    if found is not None and found.is_file():
        return found, []
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
    kind = layout.label_format
    return note(layout.labels_csv or layout.root,
                f"no {plain_image!r} / {plain_grade!r} columns, but the {kind} layout's "
                f"{image!r} / {grade!r}: read with these, and with the {kind} layout's defaults "
                f"({LAYOUT_SCALES[kind]} grades, colour fundus photographs) for what --grades, "
                f"--channels and --modality do not set",
                f"nothing to do if these are {kind}-style fundus photographs; otherwise name the "
                f"label columns with --image-column NAME and --grade-column NAME (the plain "
                f"folder's defaults then apply)", "layout")


def detect_kind(root: Path) -> str:
    """The layout ``data.layout=auto`` takes for ``root`` (an existing path)."""
    if root.is_file():
        return "medmnist" if root.suffix.lower() == ".npz" else ""
    for kind, test in (("drac", looks_like_drac), ("idrid", looks_like_idrid),
                       ("aptos", looks_like_aptos), ("eyepacs", looks_like_eyepacs),
                       ("medmnist", looks_like_medmnist)):
        if test(root):
            return kind
    return "plain"


def discover(cfg: DataConfig) -> Layout:
    """Resolve ``cfg.root`` / ``cfg.layout`` into image folders (or a .npz) and a label CSV.

    Raises :class:`IngestError` when the root is missing or the requested layout is not
    there; softer findings (no CSV, several CSVs) are returned as ``Layout.problems``. The
    label columns are the layout's, unless ``cfg.image_column`` / ``cfg.grade_column`` were
    changed from their defaults; with both at their defaults, a plain folder whose CSV has a
    public layout's columns instead is read with those (``Layout.label_format``, a note).
    """
    if not cfg.root:
        raise IngestError("no data root given -> pass --root DIR (the unzipped DRAC folder, a "
                          "public DR dataset folder, a MedMNIST .npz, or a folder of images with "
                          "a label CSV)")
    root = Path(cfg.root).expanduser().absolute()
    if not root.exists():
        parent = next((p for p in root.parents if p.exists()), None)
        hint = f" ('{parent}' exists)" if parent is not None and parent != Path("/") else ""
        raise IngestError(f"{root}: data root folder does not exist{hint} -> check the --root path "
                          "(quote it if it contains spaces)")
    if cfg.layout not in DATA_LAYOUTS:
        raise IngestError(f"layout {cfg.layout!r} is unknown -> use one of {', '.join(DATA_LAYOUTS)}")
    kind = detect_kind(root) if cfg.layout == "auto" else cfg.layout
    if root.is_file() and kind != "medmnist":
        raise IngestError(f"{root}: --root must be a folder (or a MedMNIST .npz file), this is a "
                          "file -> pass the folder that holds the images")
    finders = {
        "drac": lambda: _discover_drac(root, cfg.labels_csv),
        "plain": lambda: _discover_plain(root, cfg.labels_csv),
        "aptos": lambda: _discover_aptos(root, cfg.labels_csv),
        "eyepacs": lambda: _discover_eyepacs(root, cfg.labels_csv),
        "idrid": lambda: _discover_idrid(root, cfg.labels_csv),
        "medmnist": lambda: _discover_medmnist(root),
    }
    layout = finders[kind]()
    defaults = DataConfig()
    columns_set = (cfg.image_column, cfg.grade_column) != (defaults.image_column,
                                                           defaults.grade_column)
    if kind == "plain" and not columns_set and layout.labels_csv is not None:
        layout.label_format = label_format_of(layout.labels_csv)
        if layout.label_format:
            layout.problems.append(_label_format_note(layout))
    image_column, grade_column = COLUMNS[layout.treated_as]
    return dataclasses.replace(
        layout,
        image_column=cfg.image_column if cfg.image_column != defaults.image_column else image_column,
        grade_column=cfg.grade_column if cfg.grade_column != defaults.grade_column else grade_column)
