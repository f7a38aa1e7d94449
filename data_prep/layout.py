"""Where the images and labels are: the official DRAC 2022 layout or a plain folder + CSV.

Official layout, exactly as unzipped (spaces, dots and the underscore-space are real)::

    C. Diabetic Retinopathy Grading/
      1. Original Images/a. Training Set/001.png ...
      2. Groundtruths/a. DRAC2022_ Diabetic Retinopathy Grading_Training Labels.csv
    DRAC2022_Testing_Set/C. Diabetic Retinopathy Grading/1. Original Images/b. Testing Set/*.png

``root`` may be the unzipped folder holding both, or ``C. Diabetic Retinopathy Grading``
itself (the testing set is then looked for beside it and inside it), or one of the image
folders inside it. Any single ``.csv`` in
``2. Groundtruths`` is taken as the label file.

Plain layout: a folder of images plus a label CSV (``labels_csv`` or the only CSV in the
folder); an optional ``test/`` subfolder holds unlabelled test images.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from data_prep.validate import IngestError, Problem, error, note
from drac_ssl.config import DataConfig

TASK_DIR = "C. Diabetic Retinopathy Grading"
TEST_ROOT_DIR = "DRAC2022_Testing_Set"
IMAGES_DIR = "1. Original Images"
TRAIN_DIR = "a. Training Set"
TEST_DIR = "b. Testing Set"
GROUNDTRUTH_DIR = "2. Groundtruths"
LABELS_CSV_NAME = "a. DRAC2022_ Diabetic Retinopathy Grading_Training Labels.csv"
PLAIN_TEST_DIR = "test"

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "__macosx", "icon\r"})


@dataclass
class Layout:
    """The resolved input: image folders per split and the label CSV (None when absent)."""

    kind: str  # drac | plain
    root: Path
    train_dir: Path | None
    test_dir: Path | None
    labels_csv: Path | None
    problems: list[Problem] = field(default_factory=list)
    skip: list[Path] = field(default_factory=list)  # non-image entries that belong in train_dir


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


def discover(cfg: DataConfig) -> Layout:
    """Resolve ``cfg.root`` / ``cfg.layout`` into image folders and a label CSV.

    Raises :class:`IngestError` when the root is missing or the requested layout is not
    there; softer findings (no CSV, several CSVs) are returned as ``Layout.problems``.
    """
    if not cfg.root:
        raise IngestError("no data root given -> pass --root DIR (the unzipped DRAC folder or a "
                          "folder of images with a label CSV)")
    root = Path(cfg.root).expanduser().absolute()
    if not root.exists():
        parent = next((p for p in root.parents if p.exists()), None)
        hint = f" ('{parent}' exists)" if parent is not None and parent != Path("/") else ""
        raise IngestError(f"{root}: data root folder does not exist{hint} -> check the --root path "
                          "(quote it if it contains spaces)")
    if not root.is_dir():
        raise IngestError(f"{root}: --root must be a folder, this is a file -> pass the folder "
                          "that holds the images")
    if cfg.layout not in ("auto", "drac", "plain"):
        raise IngestError(f"layout {cfg.layout!r} is unknown -> use auto, drac or plain")
    if cfg.layout == "drac" or (cfg.layout == "auto" and looks_like_drac(root)):
        return _discover_drac(root, cfg.labels_csv)
    return _discover_plain(root, cfg.labels_csv)
