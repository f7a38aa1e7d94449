"""Stage 5: the challenge submission, and a command-line predictor.

``run(cfg, run_dir) -> ExportResult`` builds ``run_dir/bundle/`` with
:func:`drac_ssl.grading.bundle.build_bundle` (the fold ensemble of the fine-tuning variant
chosen in ``finetune/summary.json``, its ``metadata.json`` and ``MODEL_CARD.md``), loads it
back and, when the ingest manifest lists test images, grades them with
:func:`drac_ssl.grading.predict.predict_images` into ``run_dir/export/submission.csv``
(``case,class,P0,P1,P2``, real probabilities, never one-hot) written by
:func:`drac_ssl.submission.write_submission`, then checked against the test image folder with
:func:`drac_ssl.submission.check_submission`.

The bundle format and prediction live in :mod:`drac_ssl.grading` (the app and the benches
use them too); the names :class:`Bundle`, :class:`BundleError`, :func:`build_bundle`,
:func:`load_bundle`, :func:`predict_images`, :func:`preprocess_image` and
:func:`read_image_any` are re-exported here for code written against earlier versions.

Command line::

    python -m drac_ssl.export RUN --images DIR --out TEAM.csv   # grade every image in DIR
    python -m drac_ssl.export --check TEAM.csv --images DIR     # validate a submission

Exit codes: 0 success, 1 the submission has problems (each printed as FILE:LINE: what ->
fix), 2 bad input (missing run or bundle, unreadable images, bad arguments), without a
traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from drac_ssl import NUM_GRADES
from drac_ssl.config import Config
from drac_ssl.datasets import load_octa_cache
from drac_ssl.grading.bundle import Bundle, BundleError, build_bundle, load_bundle
from drac_ssl.grading.predict import predict_images, preprocess_image, read_image_any
from drac_ssl.io import atomic_write_json
from drac_ssl.runtime import resolve_device
from drac_ssl.submission import IMAGE_SUFFIXES, check_submission, write_submission

__all__ = [
    "Bundle",
    "BundleError",
    "ExportResult",
    "build_bundle",
    "list_images",
    "load_bundle",
    "main",
    "predict_images",
    "preprocess_image",
    "read_image_any",
    "run",
]

PREDICT_CHUNK = 32  # images decoded and preprocessed at a time by the command line


@dataclass
class ExportResult:
    bundle_dir: Path
    metadata_path: Path
    model_card_path: Path
    submission_path: Path | None
    n_test: int
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# The stage


def _test_images_dir(data_dir: Path, test_rows: Sequence[dict[str, Any]]) -> Path | None:
    """The folder of the test images, from the ingest summary or the manifest paths."""
    try:
        summary = json.loads((data_dir / "ingest_summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if summary.get("test_dir"):
        return Path(summary["test_dir"])
    root = summary.get("root")
    parents = {(Path(root) / r["path"]).parent for r in test_rows} if root else set()
    return parents.pop() if len(parents) == 1 else None


def run(cfg: Config, run_dir: str | os.PathLike[str]) -> ExportResult:
    """Build the bundle; grade the ingest's test images into ``export/submission.csv``.

    Raises:
        BundleError (a ValueError): the fine-tuning outputs are missing or incomplete, or the
            written submission fails its check.
    """
    run_dir = Path(run_dir)
    bundle_dir = build_bundle(run_dir)
    bundle = load_bundle(bundle_dir, resolve_device(cfg.run.device))
    notes: list[str] = []
    data_dir = run_dir / "data"
    images, rows = load_octa_cache(data_dir, bundle.spec.source_size)
    test_rows = [r for r in rows if r["split"] == "test"]
    submission_path: Path | None = None
    if test_rows:
        probs, grades = predict_images(
            bundle, [np.asarray(images[r["cache_index"]]) for r in test_rows], tta=cfg.finetune.tta)
        submission_path = write_submission(run_dir / "export" / "submission.csv",
                                           [r["id"] for r in test_rows], probs, grades)
        images_dir = _test_images_dir(data_dir, test_rows)
        if images_dir is None or not images_dir.is_dir():
            notes.append(f"test image folder {images_dir} not found: submission checked without it")
            images_dir = None
        problems = check_submission(submission_path, images_dir)
        if problems:
            raise BundleError(f"{submission_path}: the written submission fails its check:\n  "
                              + "\n  ".join(problems))
        counts = np.bincount(grades, minlength=NUM_GRADES).tolist()
        print(f"[export] {len(test_rows)} test images graded ({counts} per grade) -> "
              f"{submission_path} (checked against {images_dir or 'no image folder'})")
    else:
        notes.append("the ingest manifest has no test images: no submission written")
    atomic_write_json(run_dir / "export" / "summary.json", {
        "bundle": str(bundle_dir), "variant": bundle.metadata["variant"],
        "submission": None if submission_path is None else str(submission_path),
        "n_test": len(test_rows), "tta": cfg.finetune.tta, "notes": notes})
    print(f"[export] bundle -> {bundle_dir}")
    return ExportResult(bundle_dir, bundle_dir / "metadata.json", bundle_dir / "MODEL_CARD.md",
                        submission_path, len(test_rows), notes)


# --------------------------------------------------------------------------------------
# Command line


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files of ``folder`` (not hidden), in natural order (``2.png`` < ``10.png``)."""
    from data_prep.ingest import natural_key

    files = [p for p in Path(folder).iterdir()
             if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


def _predict_folder(run: str, images_dir: Path, out: Path, tta: bool, device: str) -> int:
    bundle = load_bundle(run, resolve_device(device))
    files = list_images(images_dir)
    if not files:
        raise BundleError(f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    problems: list[str] = []
    probs_parts, grade_parts = [], []
    for start in range(0, len(files), PREDICT_CHUNK):
        chunk: list[np.ndarray] = []
        for path in files[start:start + PREDICT_CHUNK]:
            try:
                chunk.append(read_image_any(path))
            except (OSError, ValueError) as exc:
                problems.append(str(exc))
        if not problems:
            probs, grades = predict_images(bundle, chunk, tta=tta)
            probs_parts.append(probs)
            grade_parts.append(grades)
    if problems:
        raise BundleError(f"{len(problems)} image(s) cannot be read (nothing written):\n  "
                          + "\n  ".join(problems))
    write_submission(out, [p.name for p in files], np.concatenate(probs_parts),
                     np.concatenate(grade_parts))
    issues = check_submission(out, images_dir)
    for line in issues:
        print(line)
    print(f"{'OK' if not issues else 'PROBLEMS'}: {len(files)} images graded with {bundle.path} -> {out}")
    return 1 if issues else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m drac_ssl.export RUN --images DIR --out TEAM.csv`` or ``--check TEAM.csv
    --images DIR``; returns the exit code (0 ok, 1 submission problems, 2 bad input)."""
    parser = argparse.ArgumentParser(
        prog="python -m drac_ssl.export",
        description="Grade a folder of UW-OCTA images with a drac_ssl model bundle into a DRAC "
                    "2022 Task 3 submission CSV, or check a submission CSV.",
        epilog="Examples:\n  python -m drac_ssl.export runs/default --images TEST_DIR --out team.csv\n"
               "  python -m drac_ssl.export --check team.csv --images TEST_DIR",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", help="run folder (with bundle/) or bundle folder")
    parser.add_argument("--images", metavar="DIR", help="folder of the images to grade / test images")
    parser.add_argument("--out", metavar="CSV", help="submission file to write")
    parser.add_argument("--check", metavar="CSV", help="validate this submission file instead")
    parser.add_argument("--no-tta", action="store_true", help="no flip test-time augmentation")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="CPU threads (torch, OpenCV); 0 = the default policy: half the "
                             "cores, 1..4 (drac_ssl.runtime)")
    args = parser.parse_args(argv)
    try:
        from drac_ssl.runtime import apply_thread_policy

        apply_thread_policy(args.threads)
        if args.check:
            if args.run or args.out:
                raise BundleError("--check validates a file; give no RUN and no --out with it")
            if not Path(args.check).is_file():
                raise BundleError(f"{args.check}: no such submission file")
            if args.images and not Path(args.images).is_dir():
                raise BundleError(f"{args.images}: no such image folder")
            from drac_ssl.submission import main as check_main

            return check_main(["--check", args.check] + (["--images", args.images] if args.images else []))
        if not args.run or not args.images or not args.out:
            raise BundleError("to grade images give RUN, --images DIR and --out TEAM.csv "
                              "(or --check TEAM.csv to validate a file)")
        images_dir = Path(args.images)
        if not images_dir.is_dir():
            raise BundleError(f"{images_dir}: no such image folder")
        return _predict_folder(args.run, images_dir, Path(args.out), not args.no_tta, args.device)
    except (BundleError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
