"""Has the data changed since an ingest? Cheap answers for a resumed run folder.

A finished ingest (``<run>/data``) is what every later stage of the run read. When the user
then edits the label CSV, adds or replaces images under ``data.root`` and reruns the same
command, the run resumes on the data as it was ingested: nothing re-reads the source. This
module lets the caller say so instead of silently grading the old data.

What is compared, without decoding any image:

* the files that are not images but define the data (the label CSV, a test-list CSV, a
  MedMNIST ``.npz``): their size and ``mtime_ns`` as the ingest recorded them in
  ``ingest_summary.json`` (``source_files``), and where those differ, their sha256 (so a
  file copied back unchanged is not a change);
* the images: the folders are listed again (:func:`data_prep.layout.scan_image_folder`) and
  compared with the manifest's paths (added, removed), and each image's size and
  ``mtime_ns`` with ``cache/state.json`` (a changed stat is re-hashed, as the ingest does).

An ingest made before ``source_files`` was recorded is compared on its images only.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from data_prep.layout import Layout, scan_image_folder

__all__ = ["SOURCE_ROLES", "source_changes", "stamp_sources"]

SOURCE_ROLES = {"labels_csv": "label CSV", "test_list_csv": "test-list CSV", "npz": "MedMNIST .npz"}
"""The non-image files an ingest depends on, and their names in messages."""


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def stamp_sources(layout: Layout) -> dict[str, dict[str, Any]]:
    """``{role: {"path", "size", "mtime_ns", "sha256"}}`` of the layout's non-image source
    files (:data:`SOURCE_ROLES`) that exist; what :func:`source_changes` compares with."""
    stamps: dict[str, dict[str, Any]] = {}
    for role in SOURCE_ROLES:
        path = getattr(layout, role, None)
        if path is None or not Path(path).is_file():
            continue
        stat = Path(path).stat()
        stamps[role] = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                        "sha256": _sha256(Path(path))}
    return stamps


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _changed(path: Path, recorded: dict[str, Any]) -> bool:
    """Whether ``path`` differs from its recorded stamp (size + mtime, then sha256)."""
    stat = path.stat()
    if (stat.st_size, stat.st_mtime_ns) == (recorded.get("size"), recorded.get("mtime_ns")):
        return False
    return not recorded.get("sha256") or _sha256(path) != recorded["sha256"]


def _examples(names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:3])
    return shown + (", ..." if len(names) > 3 else "")


def source_changes(data_dir: str | Path) -> list[str]:
    """What changed in the data since the ingest in ``data_dir`` (a run's ``data/``), as
    phrases (``"the label CSV /d/labels.csv was edited"``, ``"2 images added (a.png,
    b.png)"``); empty when nothing did, or when ``data_dir`` holds no finished ingest.

    Reads ``ingest_summary.json``, ``manifest.csv`` and ``cache/state.json``; lists the image
    folders and stats their files; hashes only the files whose stat changed. Never raises
    for a missing or unreadable record: what cannot be compared is not reported.
    """
    data_dir = Path(data_dir)
    summary = _read_json(data_dir / "ingest_summary.json")
    if not summary:
        return []
    changes: list[str] = []
    for role, recorded in (summary.get("source_files") or {}).items():
        path = Path(str(recorded.get("path", "")))
        words = SOURCE_ROLES.get(role, role)
        if not path.is_file():
            changes.append(f"the {words} {path} is gone")
        elif _changed(path, recorded):
            changes.append(f"the {words} {path} was edited")
    if summary.get("layout") == "medmnist":
        return changes  # the images are rows of the .npz, stamped above
    root = Path(str(summary.get("root", "")))
    state = _read_json(data_dir / "cache" / "state.json").get("files") or {}
    try:
        with open(data_dir / "manifest.csv", newline="", encoding="utf-8") as fh:
            ingested = {row["path"] for row in csv.DictReader(fh) if row.get("path")}
    except (OSError, KeyError, csv.Error):
        return changes
    listed: set[str] = set()
    for folder in (summary.get("train_dir"), summary.get("test_dir")):
        if folder and Path(folder).is_dir():
            listed |= {Path(os.path.relpath(p, root)).as_posix()  # as the manifest's paths
                       for p in scan_image_folder(Path(folder)).images}
    added = sorted(listed - ingested)
    removed = sorted(rel for rel in ingested - listed if not (root / rel).is_file())
    edited = sorted(rel for rel in ingested & listed
                    if rel in state and _changed(root / rel, state[rel]))
    for names, verb in ((added, "added"), (removed, "removed"), (edited, "replaced or edited")):
        if names:
            changes.append(f"{len(names)} image{'s' if len(names) != 1 else ''} {verb} "
                           f"({_examples(names)})")
    return changes
