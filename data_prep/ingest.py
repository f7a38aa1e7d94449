"""Stage 1 of the pipeline: validate, cache and index a UW-OCTA dataset.

``run(cfg, out_dir)`` is what the orchestrator and the tests call; ``python -m data_prep
ingest --root DIR --out RUN_DATA`` wraps it. It

1. finds the images and the label CSV (:mod:`data_prep.layout`),
2. reads every file once, hashes, decodes, checks and resizes it in a process pool
   (:mod:`data_prep.cache`, :mod:`data_prep.validate`), reusing unchanged files from the
   previous run,
3. collects ALL problems and stops before writing anything if one is fatal,
4. assigns stratified (patient-grouped) folds (:mod:`data_prep.folds`),
5. writes, each atomically and in this order: the cache arrays, ``manifest.csv``,
   ``ingest_summary.json`` and, last, ``cache/state.json``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from data_prep import cache
from data_prep.folds import assign_folds
from data_prep.layout import Layout, discover, scan_image_folder
from data_prep.validate import (
    VALID_GRADES,
    IngestError,
    LabelRow,
    Problem,
    apply_strict,
    duplicate_label_rows,
    format_problems,
    identical_content,
    match_labels,
    names_in_both,
    note,
    read_labels,
)
from drac_ssl import GRADE_NAMES
from drac_ssl.config import ConfigError, DataConfig
from drac_ssl.io import atomic_write_json, atomic_write_text

MANIFEST_NAME = "manifest.csv"
SUMMARY_NAME = "ingest_summary.json"
CACHE_DIR = "cache"
MANIFEST_COLUMNS = ("id", "path", "grade", "split", "fold", "patient", "sha256",
                    "orig_width", "orig_height", "orig_mode", "cache_index")


@dataclass
class IngestResult:
    """What an ingest produced (all paths absolute)."""

    out_dir: Path
    manifest_path: Path
    summary_path: Path
    cache_paths: dict[int, Path]
    root: Path
    layout: str
    n_train: int
    n_test: int
    counts_per_grade: dict[int, int]  # training images per grade
    counts_per_fold: dict[int, dict[int, int]]  # fold -> grade -> training images
    warnings: list[str]  # printed lines of the conversions (empty with --strict)
    notes: list[str]
    problems: list[Problem]  # fatal problems: always empty here, run() raises IngestError
    findings: list[Problem]  # the warnings and notes, structured
    n_decoded: int  # files decoded in this run
    n_reused: int  # files whose cached rows were reused
    seconds: float = 0.0


@dataclass
class ImageEntry:
    """One image of the dataset, in manifest order."""

    path: Path
    rel: str
    split: str  # train | test
    label: LabelRow | None = None
    fold: int = -1
    record: cache.FileRecord = field(default_factory=lambda: cache.FileRecord(""))

    @property
    def image_id(self) -> str:
        return self.path.name


def natural_key(name: str) -> tuple[list[str | int], str]:
    """``2.png`` < ``10.png`` < ``1000.png``, case-insensitive; the name breaks ties."""
    parts = re.split(r"(\d+)", name.lower())
    return [int(p) if i % 2 else p for i, p in enumerate(parts)], name


def relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _check_settings(cfg: DataConfig) -> list[int]:
    """The cache sizes, sorted and unique; IngestError for settings that cannot work."""
    if cfg.n_folds < 2:
        raise IngestError(f"--folds {cfg.n_folds}: need at least 2 folds for cross-validation "
                          "-> use --folds 5")
    if cfg.workers < 0:
        raise IngestError(f"--workers {cfg.workers}: must be 0 (all cores) or more -> use 0")
    sizes = sorted(set(cfg.cache_sizes))
    if not sizes or any(not 8 <= s <= 4096 for s in sizes):
        raise IngestError(f"--sizes {cfg.cache_sizes}: each cache size must be 8..4096 pixels "
                          "-> e.g. --sizes 256,512")
    return sizes


def _collect(cfg: DataConfig, layout: Layout) -> tuple[list[ImageEntry], list[Problem]]:
    """Images of both splits (manifest order) with their labels, and the folder and label
    problems."""
    problems = list(layout.problems)
    train_images: list[Path] = []
    test_images: list[Path] = []
    if layout.train_dir is not None:
        scan = scan_image_folder(layout.train_dir, skip=layout.skip)
        train_images, problems = scan.images, problems + scan.problems
    if layout.test_dir is not None:
        scan = scan_image_folder(layout.test_dir)
        test_images, problems = scan.images, problems + scan.problems
    labels: dict[Path, LabelRow] = {}
    if train_images and layout.labels_csv is not None and layout.train_dir is not None:
        table, table_problems = read_labels(layout.labels_csv, cfg.image_column,
                                            cfg.grade_column, cfg.patient_column)
        problems += table_problems
        if table is not None:
            problems += duplicate_label_rows(table)
            labels, match_problems = match_labels(train_images, table, layout.train_dir)
            problems += match_problems
    problems += names_in_both(train_images, test_images)
    train = sorted(train_images, key=lambda p: natural_key(p.name))
    test = sorted(test_images, key=lambda p: natural_key(p.name))
    entries = [ImageEntry(p, relative(p, layout.root), "train", labels.get(p)) for p in train]
    entries += [ImageEntry(p, relative(p, layout.root), "test") for p in test]
    return entries, problems


def _load_records(entries: Sequence[ImageEntry], previous: cache.CacheState,
                  sizes: Sequence[int], workers: int) -> None:
    """Fill ``entry.record``: reuse files whose size and mtime are unchanged, process the rest."""
    pending: list[tuple[ImageEntry, cache.FileTask]] = []
    for entry in entries:
        old = previous.files.get(entry.rel)
        try:
            stat = entry.path.stat()
        except OSError:
            stat = None  # the worker reports why it cannot be read
        if old is not None and stat is not None and \
                (old.size, old.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            entry.record = old
        else:
            known = old.sha256 if old is not None else ""
            pending.append((entry, cache.FileTask(str(entry.path), entry.rel, tuple(sizes), known)))
    results = cache.process_files([task for _, task in pending], workers)
    for (entry, _), record in zip(pending, results, strict=True):
        old = previous.files.get(entry.rel)
        if not record.decoded and record.sha256 and old is not None and record.sha256 == old.sha256:
            record = dataclasses.replace(old, size=record.size, mtime_ns=record.mtime_ns)
        entry.record = record


def _assign_folds(entries: Sequence[ImageEntry], cfg: DataConfig, source: str) -> list[Problem]:
    """Set ``fold`` of every training image (all labelled and valid by now); return notes or
    the error of an impossible split."""
    train = [e for e in entries if e.split == "train"]
    grades = [e.label.grade for e in train if e.label is not None and e.label.grade is not None]
    if not train or len(grades) != len(train):
        return []
    patients = [(e.label.patient if e.label else "") or e.image_id for e in train] \
        if cfg.patient_column else None
    try:
        folds, caveats = assign_folds(grades, cfg.n_folds, cfg.fold_seed, patients, source)
    except IngestError as exc:
        return exc.problems
    for entry, fold in zip(train, folds, strict=True):
        entry.fold = int(fold)
    return [note(source, caveat, "check the fold counts below") for caveat in caveats]


def _manifest_text(entries: Sequence[ImageEntry]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for index, e in enumerate(entries):
        r = e.record
        writer.writerow([e.image_id, e.rel, "" if e.label is None else e.label.grade, e.split,
                         e.fold, "" if e.label is None else e.label.patient, r.sha256,
                         r.width, r.height, r.mode, index])
    return buffer.getvalue()


def _counts(entries: Sequence[ImageEntry]) -> tuple[dict[int, int], dict[str, int],
                                                    dict[int, dict[int, int]]]:
    """Training images per grade, images per split, training images per fold and grade."""
    labelled = [(e.fold, e.label.grade) for e in entries
                if e.split == "train" and e.label is not None and e.label.grade is not None]
    per_grade = {g: sum(grade == g for _, grade in labelled) for g in VALID_GRADES}
    per_split = dict(Counter(e.split for e in entries))
    per_fold: dict[int, dict[int, int]] = {}
    for fold, grade in labelled:
        per_fold.setdefault(fold, dict.fromkeys(VALID_GRADES, 0))[grade] += 1
    return per_grade, {s: per_split.get(s, 0) for s in ("train", "test")}, dict(sorted(per_fold.items()))


def format_summary(result: IngestResult) -> str:
    """The table printed at the end: counts per grade, split and fold; warnings."""
    header = ["", "images"] + [f"{g} {GRADE_NAMES[g]}" for g in VALID_GRADES]
    rows = [["train", str(result.n_train)] + [str(result.counts_per_grade[g]) for g in VALID_GRADES],
            ["test", str(result.n_test)] + ["-"] * len(VALID_GRADES)]
    for fold, per_grade in result.counts_per_fold.items():
        rows.append([f"fold {fold}", str(sum(per_grade.values()))]
                    + [str(per_grade[g]) for g in VALID_GRADES])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"ingest summary: {result.layout} layout, {result.root}"]
    lines += ["  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                               enumerate(zip(row, widths, strict=True))) for row in [header, *rows]]
    shapes = ", ".join(f"{s}px" for s in result.cache_paths)
    lines.append(f"warnings: {len(result.warnings)}   notes: {len(result.notes)}   "
                 f"decoded: {result.n_decoded}   reused: {result.n_reused}   "
                 f"{result.seconds:.1f} s")
    lines.append(f"manifest: {result.manifest_path}")
    lines.append(f"cache ({shapes}): {result.manifest_path.parent / CACHE_DIR}")
    return "\n".join(lines)


def run(cfg: DataConfig, out_dir: str | os.PathLike[str], *, verbose: bool = True) -> IngestResult:
    """Validate every file, then write the cache, manifest and summary into ``out_dir``.

    Raises :class:`IngestError` listing ALL problems (nothing is written) when any is fatal.
    With ``verbose``, warnings, notes and the summary table are printed to stdout.
    """
    start = time.perf_counter()
    sizes = _check_settings(cfg)
    layout = discover(cfg)
    root = layout.root
    out = Path(out_dir).expanduser().absolute()
    cache_dir = out / CACHE_DIR
    entries, problems = _collect(cfg, layout)
    if not entries and not any(p.severity == "error" for p in problems):
        listing = f"\n{format_problems(problems)}" if problems else ""
        raise IngestError(f"{root}: no images found -> point --root at the folder that holds "
                          f"the images (or the unzipped DRAC data){listing}", problems)

    for stale in cache.remove_stale_temporaries(out) + cache.remove_stale_temporaries(cache_dir):
        problems.append(note(stale, "temporary file of an interrupted run removed", "nothing to do"))
    previous = cache.load_state(cache_dir, root, sizes)
    if previous.reason:
        problems.append(note(cache_dir, previous.reason, "nothing to do"))
    _load_records(entries, previous, sizes, cfg.workers)
    for entry in entries:
        problems += apply_strict(entry.record.problems(str(entry.path)), cfg.strict)
    problems += identical_content([(str(e.path), e.split, e.record.sha256)
                                   for e in entries if e.record.sha256])

    if not any(p.severity == "error" for p in problems):
        problems += _assign_folds(entries, cfg, str(layout.labels_csv or root))

    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise IngestError(
            f"ingest of {root} stopped: {len(errors)} problem(s) must be fixed first "
            f"(nothing was written)\n{format_problems(problems)}", problems)

    try:
        cache_paths = _write(out, root, sizes, entries, previous)
        per_grade, per_split, per_fold = _counts(entries)
        result = IngestResult(
            out_dir=out, manifest_path=out / MANIFEST_NAME, summary_path=out / SUMMARY_NAME,
            cache_paths=cache_paths, root=root, layout=layout.kind,
            n_train=per_split["train"], n_test=per_split["test"],
            counts_per_grade=per_grade, counts_per_fold=per_fold,
            warnings=[p.line for p in problems if p.severity == "warning"],
            notes=[p.line for p in problems if p.severity == "note"],
            problems=[],
            findings=problems,
            n_decoded=sum(e.record.decoded for e in entries),
            n_reused=sum(not e.record.decoded for e in entries),
        )
        result.seconds = time.perf_counter() - start
        atomic_write_json(result.summary_path, _summary(result, cfg, layout, sizes))
        cache.save_state(cache_dir, root, sizes, [e.record for e in entries])
    except OSError as exc:
        raise IngestError(f"{exc.filename or out}: cannot write the ingest output "
                          f"({exc.strerror or exc}) -> check free disk space and the "
                          "permissions of --out") from None
    if verbose:
        if problems:
            print(format_problems(problems))
        print(format_summary(result))
    return result


def _write(out: Path, root: Path, sizes: Sequence[int], entries: Sequence[ImageEntry],
           previous: cache.CacheState) -> dict[int, Path]:
    """Arrays, then the manifest. The state and the manifest are removed first, so that a
    run killed in between leaves nothing that a later run or stage would trust."""
    cache_dir = out / CACHE_DIR
    records = [e.record for e in entries]
    paths = {size: cache.array_path(cache_dir, size) for size in sizes}
    if not cache.unchanged(records, previous):
        cache.invalidate_state(cache_dir)
        (out / MANIFEST_NAME).unlink(missing_ok=True)
        (out / SUMMARY_NAME).unlink(missing_ok=True)
        for size, path in paths.items():
            cache.write_array(path, cache.assemble(records, size, previous))
    previous.arrays.clear()  # release the memory maps of the old arrays
    atomic_write_text(out / MANIFEST_NAME, _manifest_text(entries))
    return paths


def _summary(result: IngestResult, cfg: DataConfig, layout: Layout,
             sizes: Sequence[int]) -> dict[str, object]:
    n = result.n_train + result.n_test
    return {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "root": str(result.root),
        "layout": result.layout,
        "train_dir": str(layout.train_dir) if layout.train_dir else None,
        "test_dir": str(layout.test_dir) if layout.test_dir else None,
        "labels_csv": str(layout.labels_csv) if layout.labels_csv else None,
        "manifest": MANIFEST_NAME,
        "n_images": n,
        "counts": {
            "per_split": {"train": result.n_train, "test": result.n_test},
            "per_grade": {str(g): c for g, c in result.counts_per_grade.items()},
            "per_fold": {str(f): {str(g): c for g, c in pg.items()}
                         for f, pg in result.counts_per_fold.items()},
        },
        "sizes": list(sizes),
        "cache": {str(s): {"path": f"{CACHE_DIR}/{p.name}", "shape": [n, s, s], "dtype": "uint8"}
                  for s, p in result.cache_paths.items()},
        "warnings": result.warnings,
        "notes": result.notes,
        "n_decoded": result.n_decoded,
        "n_reused": result.n_reused,
        "seconds": round(result.seconds, 3),
        "config": dataclasses.asdict(cfg),
    }


# --------------------------------------------------------------------------------------
# Command line


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of pixel sizes, e.g. 256,512") from None
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one size, e.g. 256,512")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``ingest`` sub-command's options; defaults come from :class:`DataConfig`."""
    d = DataConfig()
    parser.add_argument("--root", required=True,
                        help="unzipped DRAC folder (or 'C. Diabetic Retinopathy Grading'), "
                             "or a plain folder of images with a label CSV")
    parser.add_argument("--out", required=True, help="output folder (RUN/data)")
    parser.add_argument("--layout", choices=("auto", "drac", "plain"), default=d.layout)
    parser.add_argument("--strict", action="store_true",
                        help="reject RGB/RGBA, 16-bit and non-1024 images instead of converting")
    parser.add_argument("--labels-csv", default=d.labels_csv,
                        help="label CSV (default: found in the layout)")
    parser.add_argument("--image-column", default=d.image_column)
    parser.add_argument("--grade-column", default=d.grade_column)
    parser.add_argument("--patient-column", default=d.patient_column,
                        help="optional; folds are grouped by patient when given")
    parser.add_argument("--folds", type=int, default=d.n_folds)
    parser.add_argument("--seed", type=int, default=d.fold_seed, help="fold seed")
    parser.add_argument("--sizes", type=_sizes, default=d.cache_sizes,
                        help="cache sizes in pixels, comma-separated")
    parser.add_argument("--workers", type=int, default=d.workers, help="0 = all cores")
    parser.set_defaults(func=cli)


def config_from_args(args: argparse.Namespace) -> DataConfig:
    return dataclasses.replace(
        DataConfig(), root=args.root, layout=args.layout, labels_csv=args.labels_csv,
        image_column=args.image_column, grade_column=args.grade_column,
        patient_column=args.patient_column, cache_sizes=list(args.sizes), n_folds=args.folds,
        fold_seed=args.seed, strict=args.strict, workers=args.workers)


def cli(args: argparse.Namespace) -> int:
    """Run the ingest from parsed arguments; problems are printed, never a traceback."""
    try:
        run(config_from_args(args), args.out)
    except (IngestError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: outputs of this run are not trusted by the next one", file=sys.stderr)
        return 130
    return 0
