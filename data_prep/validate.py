"""Per-file and per-table checks of an ingest: every problem is collected, none stops the scan.

A :class:`Problem` is one line ``PATH: what is wrong -> what to do`` with a severity:

- ``error``: fatal, the ingest writes nothing and exits non-zero;
- ``warning``: the image is converted (RGB/RGBA to grayscale, 16-bit to 8-bit, resized from
  a size other than 1024 x 1024); fatal with ``--strict``;
- ``note``: informational (a hidden file such as ``.DS_Store`` was ignored).

Images are decoded fully from bytes read once (``cv2.imdecode`` with ``IMREAD_UNCHANGED``);
a PNG or JPEG that ends early is caught by its end marker before OpenCV is asked to decode.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

EXPECTED_SIDE = 1024
VALID_GRADES = (0, 1, 2)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"
_JPEG_START = b"\xff\xd8"
_JPEG_END = b"\xff\xd9"


class IngestError(ValueError):
    """Bad input to the ingest; the message lists every problem with its fix (no traceback)."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems: list[Problem] = list(problems)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file (or CSV row): where, what and how to fix it."""

    path: str
    what: str
    fix: str
    severity: str = "error"  # error | warning | note

    @property
    def line(self) -> str:
        """The printed form ``PATH: what is wrong -> what to do``."""
        return f"{self.path}: {self.what} -> {self.fix}"

    def strict(self) -> Problem:
        """The fatal version of a conversion warning (``--strict``)."""
        if self.severity != "warning":
            return self
        return dataclasses.replace(
            self,
            what=f"{self.what} (rejected by --strict)",
            fix=f"{self.fix}, or run without --strict to convert it automatically",
            severity="error",
        )


def error(path: str | Path, what: str, fix: str) -> Problem:
    return Problem(str(path), what, fix, "error")


def warning(path: str | Path, what: str, fix: str) -> Problem:
    return Problem(str(path), what, fix, "warning")


def note(path: str | Path, what: str, fix: str) -> Problem:
    return Problem(str(path), what, fix, "note")


def apply_strict(problems: Iterable[Problem], strict: bool) -> list[Problem]:
    """Escalate conversion warnings to errors when ``strict``."""
    return [p.strict() for p in problems] if strict else list(problems)


def format_problems(problems: Sequence[Problem]) -> str:
    """Problems grouped by severity, one ``PATH: what -> fix`` line each."""
    sections = (
        ("error", "errors (fatal)"),
        ("warning", "warnings (converted; fatal with --strict)"),
        ("note", "notes"),
    )
    out: list[str] = []
    for severity, title in sections:
        lines = [p.line for p in problems if p.severity == severity]
        if lines:
            out.append(f"{title}: {len(lines)}")
            out.extend(f"  {line}" for line in lines)
    return "\n".join(out)


# --------------------------------------------------------------------------------------
# One image file


@dataclass
class DecodedImage:
    """An image decoded and converted to 8-bit grayscale (``gray`` is None if it failed)."""

    gray: np.ndarray | None
    width: int = 0
    height: int = 0
    mode: str = ""
    problems: list[Problem] = field(default_factory=list)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _header_mode(data: bytes) -> str:
    """PIL's name for the pixel format (``L``, ``I;16``, ``RGB``, ``RGBA``, ``P`` ...), header only."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return str(im.mode)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        return ""


def _truncation(data: bytes) -> str:
    """Why the bytes are an incomplete PNG/JPEG, or '' if the end marker is present."""
    if data.startswith(_PNG_SIGNATURE) and data.rfind(_PNG_END) == -1:
        return "truncated PNG (the file ends before its IEND chunk)"
    if data.startswith(_JPEG_START) and not data.rstrip(b"\x00").endswith(_JPEG_END):
        return "truncated JPEG (no end-of-image marker)"
    return ""


def decode_image(data: bytes) -> np.ndarray | None:
    """Decode the full image from its bytes, unchanged (bit depth and channels kept)."""
    if not data:
        return None
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:  # pragma: no cover - OpenCV builds without the logging module
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    # OpenCV's WARN lines would interleave with ours; a failure is reported as a Problem
    previous = logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    finally:
        logging.setLogLevel(previous)


def to_gray8(image: np.ndarray, path: str) -> tuple[np.ndarray | None, list[Problem]]:
    """Convert a decoded image to 8-bit single-channel; say what was converted."""
    problems: list[Problem] = []
    if image.dtype == np.uint16:
        problems.append(
            warning(path, "16-bit image (scaled to 8-bit by value/257)",
                    "save it as 8-bit grayscale PNG to keep full control of the scaling")
        )
        image = np.round(image.astype(np.float32) / 257.0).astype(np.uint8)
    elif image.dtype != np.uint8:
        return None, [error(path, f"unsupported pixel type {image.dtype}",
                            "save it as 8-bit grayscale PNG")]
    if image.ndim == 3:
        channels = image.shape[2]
        identical = bool(
            channels >= 3
            and np.array_equal(image[..., 0], image[..., 1])
            and np.array_equal(image[..., 1], image[..., 2])
        )
        name = {3: "RGB", 4: "RGBA"}.get(channels, f"{channels}-channel")
        detail = "channels identical, nothing lost" if identical else "luminance of the colour channels"
        problems.append(
            warning(path, f"{name} image (converted to grayscale: {detail})",
                    "save it as single-channel 8-bit grayscale PNG")
        )
        code = {3: cv2.COLOR_BGR2GRAY, 4: cv2.COLOR_BGRA2GRAY}.get(channels)
        if code is None:
            return None, [error(path, f"unsupported {channels}-channel image",
                                "save it as 8-bit grayscale PNG")]
        image = cv2.cvtColor(image, code)
    return np.ascontiguousarray(image), problems


def inspect_image(data: bytes, path: str) -> DecodedImage:
    """Decode ``data`` completely and convert it to 8-bit grayscale, collecting problems.

    Fatal: empty, not an image, truncated or undecodable. Warnings: RGB/RGBA, 16-bit, and a
    size other than 1024 x 1024.
    """
    if not data:
        return DecodedImage(None, problems=[error(path, "empty file (0 bytes)",
                                                  "re-copy the image from the original data")])
    mode = _header_mode(data)
    if not mode:
        return DecodedImage(None, problems=[error(
            path, f"not an image (content starts with {data[:8]!r})",
            "replace it with the real image or move it out of the image folder")])
    truncated = _truncation(data)
    if truncated:
        return DecodedImage(None, mode=mode, problems=[error(
            path, truncated, "re-copy or re-download the image; the file is incomplete")])
    image = decode_image(data)
    if image is None:
        return DecodedImage(None, mode=mode, problems=[error(
            path, "corrupt image (cannot be decoded)",
            "re-copy or re-download the image from the original data")])
    height, width = image.shape[:2]
    gray, problems = to_gray8(image, path)
    if gray is not None and (width, height) != (EXPECTED_SIDE, EXPECTED_SIDE):
        problems.append(warning(
            path, f"size {width}x{height}, not {EXPECTED_SIDE}x{EXPECTED_SIDE} "
                  f"(resized to the cache sizes{'' if width == height else ', aspect ratio changed'})",
            "use the original 1024 x 1024 UW-OCTA export"))
    return DecodedImage(gray, width, height, mode, problems)


# --------------------------------------------------------------------------------------
# The label table


@dataclass(frozen=True)
class LabelRow:
    name: str  # image file name as written in the CSV (basename)
    grade: int | None  # None: the cell is not a valid grade (reported as a problem)
    patient: str
    line: int  # 1-based line in the CSV file (header is line 1)


@dataclass
class LabelTable:
    path: Path
    columns: list[str]
    rows: list[LabelRow]


def _suggest(wanted: str, columns: Sequence[str]) -> str:
    lowered = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(wanted.lower(), list(lowered), n=1, cutoff=0.4)
    return lowered[close[0]] if close else ""


def _column_problem(csv_path: Path, wanted: str, role: str, option: str,
                    columns: Sequence[str]) -> Problem:
    close = _suggest(wanted, columns)
    listed = ", ".join(repr(c) for c in columns) or "none"
    fix = (f"did you mean {close!r}? pass {option} {close!r}" if close
           else f"pass {option} with the name of the {role} column")
    return error(csv_path, f"no {role} column {wanted!r} (columns: {listed})", fix)


def parse_grade(raw: str) -> int | None:
    """An integer grade from a CSV cell (``'2'``, ``' 2 '``, ``'2.0'``), else None."""
    text = raw.strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def read_labels(csv_path: Path, image_column: str, grade_column: str,
                patient_column: str = "") -> tuple[LabelTable | None, list[Problem]]:
    """Read and check the label CSV: columns present, every grade an integer in {0, 1, 2}.

    Returns the rows (a row with a bad grade is kept with ``grade=None``, so that its image
    is not also reported as unlabelled) and every problem found.
    """
    try:
        text = csv_path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        return None, [error(csv_path, f"cannot read the label CSV ({exc.strerror or exc})",
                            "check the path and the file permissions")]
    except UnicodeDecodeError:
        return None, [error(csv_path, "the label CSV is not UTF-8 text",
                            "save it as UTF-8 CSV (e.g. 'CSV UTF-8' in a spreadsheet program)")]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        records = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        return None, [error(csv_path, f"the label CSV cannot be parsed ({exc})",
                            "save it again as a plain comma-separated CSV file")]
    if not records or not any(cell.strip() for cell in records[0]):
        return None, [error(csv_path, "the label CSV is empty",
                            f"write a header row with {image_column!r} and {grade_column!r}")]
    columns = [c.strip() for c in records[0]]
    problems: list[Problem] = []
    index: dict[str, int] = {}
    for wanted, role, option in ((image_column, "image-name", "--image-column"),
                                 (grade_column, "grade", "--grade-column"),
                                 (patient_column, "patient", "--patient-column")):
        if not wanted:
            continue
        if wanted in columns:
            index[role] = columns.index(wanted)
        else:
            problems.append(_column_problem(csv_path, wanted, role, option, columns))
    if problems:
        return None, problems
    if not patient_column:
        guess = next((c for c in columns if "patient" in c.lower()), "")
        if guess:
            problems.append(note(csv_path, f"column {guess!r} looks like a patient id",
                                 f"pass --patient-column {guess!r} to group the folds by patient"))
    rows: list[LabelRow] = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        where = f"{csv_path}:{number}"
        cells = record + [""] * (len(columns) - len(record))
        name = Path(cells[index["image-name"]].strip().replace("\\", "/")).name
        raw_grade = cells[index["grade"]]
        if not name:
            problems.append(error(where, "row without an image name",
                                  "fill in the file name or delete the row"))
            continue
        grade = parse_grade(raw_grade)
        if grade is None:
            problems.append(error(where, f"grade {raw_grade.strip()!r} of {name} is not an integer",
                                  "use 0 (Normal), 1 (NPDR) or 2 (PDR)"))
        elif grade not in VALID_GRADES:
            problems.append(error(where, f"grade {grade} of {name} is outside {{0, 1, 2}}",
                                  "use 0 (Normal), 1 (NPDR) or 2 (PDR)"))
            grade = None
        patient = cells[index["patient"]].strip() if "patient" in index else ""
        rows.append(LabelRow(name, grade, patient, number))
    if not rows and not problems:
        problems.append(error(csv_path, "the label CSV has a header but no rows",
                              "add one row per training image"))
    return LabelTable(csv_path, columns, rows), problems


def duplicate_label_rows(table: LabelTable) -> list[Problem]:
    """A CSV naming the same image twice (case-insensitively) is fatal."""
    by_name: dict[str, list[LabelRow]] = {}
    for row in table.rows:
        by_name.setdefault(row.name.lower(), []).append(row)
    problems = []
    for rows in by_name.values():
        if len(rows) > 1:
            lines = ", ".join(str(r.line) for r in rows)
            grades = sorted({r.grade for r in rows})
            clash = f" with conflicting grades {grades}" if len(grades) > 1 else ""
            problems.append(error(f"{table.path}:{rows[1].line}",
                                  f"{rows[0].name} is listed {len(rows)} times (lines {lines}){clash}",
                                  "keep exactly one row per image"))
    return problems


def match_labels(images: Sequence[Path], table: LabelTable,
                 folder: Path) -> tuple[dict[Path, LabelRow], list[Problem]]:
    """Pair each training image with its CSV row (by file name, case-insensitively; a CSV
    name without extension matches the image with that stem).

    Fatal: an image without a row, a row without an image.
    """
    by_name: dict[str, list[Path]] = {}
    by_stem: dict[str, list[Path]] = {}
    for path in images:
        by_name.setdefault(path.name.lower(), []).append(path)
        by_stem.setdefault(path.stem.lower(), []).append(path)
    matched: dict[Path, LabelRow] = {}
    problems: list[Problem] = []
    for row in table.rows:
        key = row.name.lower()
        stem_paths = by_stem.get(key, []) if not Path(key).suffix else []
        paths = by_name.get(key) or (stem_paths if len(stem_paths) == 1 else [])
        if not paths:
            problems.append(error(f"{table.path}:{row.line}",
                                  f"label without image: {row.name} is not in {folder}",
                                  "add the image or delete the row"))
        for path in paths:  # several paths: a duplicate name, reported by the folder scan
            matched.setdefault(path, row)  # a repeated row is reported by duplicate_label_rows
    for path in images:
        if path not in matched:
            problems.append(error(path, f"image without label: no row for {path.name} in "
                                        f"{table.path.name}",
                                  "add a row with its grade or move the image out of the folder"))
    return matched, problems


def names_in_both(train: Sequence[Path], test: Sequence[Path]) -> list[Problem]:
    """An image name in both the training and the test set is fatal (ids must be unique)."""
    train_names = {p.name.lower(): p for p in train}
    return [error(path, f"image present in both train and test: {train_names[path.name.lower()]} "
                        "has the same name",
                  "remove it from one of the two sets")
            for path in test if path.name.lower() in train_names]


def identical_content(files: Sequence[tuple[str, str, str]]) -> list[Problem]:
    """Byte-identical images (same sha256). ``files`` holds (display path, split, sha256)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for path, split, digest in files:
        groups.setdefault(digest, []).append((path, split))
    problems = []
    for digest, members in groups.items():
        if len(members) < 2:
            continue
        paths = [p for p, _ in members]
        splits = {s for _, s in members}
        if len(splits) > 1:
            what = (f"the same image is in both the training and the test set "
                    f"(byte-identical to {', '.join(paths[1:])}; sha256 {digest[:12]})")
            fix = "remove it from one of the two sets"
        else:
            what = f"byte-identical to {', '.join(paths[1:])} (sha256 {digest[:12]})"
            fix = "delete the duplicate copies so each image is counted once"
        problems.append(error(paths[0], what, fix))
    return problems
