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
* the images: the folders are listed again (:func:`data_prep.layout.scan_image_folder`; the
  training folder's per-patient subfolders too for a layout of
  :data:`data_prep.layout.NESTED_LAYOUTS`, DeepDRiD's ``Images/<patient_id>/``) and
  compared with the manifest's paths (added, removed), and each image's size and
  ``mtime_ns`` with ``cache/state.json`` (a changed stat is re-hashed, as the ingest does).

An ingest made before ``source_files`` was recorded is compared on its images only.

Cost: a listing and a ``stat`` per image (about 2 s for 35,000 files on a local disk), plus
the hashing of files whose stat changed, at most :data:`HASH_BUDGET_BYTES` per call: images
whose times changed beyond that (a copy that did not keep file times, a restore) are counted
as "new file times, not compared byte by byte", so a resume never re-reads a whole data set.
A data root that no longer exists is said as such (moved, or a drive not mounted), not as
every file removed.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from data_prep.layout import (
    NESTED_LAYOUTS,
    Layout,
    relative,
    repacked_set_skip,
    scan_image_folder,
)
from data_prep.problems import IngestError
from drac_ssl.io import read_json_dict, sha256_file, unguarded_cell
from drac_ssl.manifest import ManifestError, manifest_cells_guarded

__all__ = ["BYTES_ONLY_WORDS", "HASH_BUDGET_BYTES", "SOURCE_ROLES", "changed_grades", "data_changed_words",
           "differences_words", "grade_differences", "labels_edited", "source_changes", "stamp_sources"]

SOURCE_ROLES = {"labels_csv": "label CSV", "test_list_csv": "test-list CSV", "npz": "MedMNIST .npz"}
"""The non-image files an ingest depends on, and their names in messages."""
BYTES_ONLY_WORDS = ("no grade differs from the ingest's: only its bytes changed, such as line endings, a "
                    "byte-order mark, the row order or blank lines")
"""What a label CSV saved again with the same grades is (:func:`grade_differences` compared it
and found none), in the words of the preflight's warning and of a run's last lines
(:func:`data_changed_words`)."""
HASH_BUDGET_BYTES = 256 * 2**20
"""Bytes of images whose stat changed that :func:`source_changes` hashes per call (the label
CSV and ``.npz`` are always hashed)."""


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
                        "sha256": sha256_file(Path(path))}
    return stamps


def _changed(path: Path, recorded: dict[str, Any], budget: list[int] | None = None) -> bool | None:
    """Whether ``path`` differs from its recorded stamp: False when size and mtime are
    unchanged; otherwise a different size is a change, and an equal size is settled by the
    sha256 while ``budget`` (bytes left, decremented) allows, else None (not compared)."""
    stat = path.stat()
    if (stat.st_size, stat.st_mtime_ns) == (recorded.get("size"), recorded.get("mtime_ns")):
        return False
    if stat.st_size != recorded.get("size") or not recorded.get("sha256"):
        return True
    if budget is not None:
        if budget[0] < stat.st_size:
            return None
        budget[0] -= stat.st_size
    return sha256_file(path) != recorded["sha256"]


def _test_set_appeared(summary: dict[str, Any]) -> str:
    """A testing set found now where the ingest found none (a review: the DRAC testing set
    unzipped after the first ingest; the resumed run wrote no submission, unsaid): the
    layout is looked up again with the ingest's data settings (``summary["config"]``); ""
    when the ingest had a testing set, the settings cannot be read, or none is there now."""
    if summary.get("test_dir") or summary.get("layout") == "medmnist":
        return ""
    import dataclasses

    from data_prep.layout import discover
    from drac_ssl.config import DataConfig

    settings = summary.get("config")
    if not isinstance(settings, dict):
        return ""
    known = {f.name for f in dataclasses.fields(DataConfig)}
    try:
        layout = discover(DataConfig(**{k: v for k, v in settings.items() if k in known}))
        if layout.test_dir is None or not layout.test_dir.is_dir():
            return ""
        n = len(scan_image_folder(layout.test_dir).images)
    except (IngestError, OSError, TypeError, ValueError):
        return ""
    if not n:
        return ""
    return (f"a testing set appeared in {layout.test_dir} ({n} image{'s' if n != 1 else ''}; the ingest "
            f"found none, so this run grades no test images and writes no submission)")


def _examples(names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:3])
    return shown + (", ..." if len(names) > 3 else "")


POOL_WORDS = "in the data.unlabelled folders"
"""How :func:`source_changes` marks a change of the ungraded pool's images (``data.unlabelled``),
which the preflight's warning then names as the setting."""


def source_changes(data_dir: str | Path) -> list[str]:
    """What changed in the data since the ingest in ``data_dir`` (a run's ``data/``), as
    phrases (``"the label CSV /d/labels.csv was edited"``, ``"2 images added (a.png,
    b.png)"``); empty when nothing did, or when ``data_dir`` holds no finished ingest.

    Reads ``ingest_summary.json``, ``manifest.csv`` and ``cache/state.json``; lists the image
    folders and stats their files; hashes the files whose stat changed within
    :data:`HASH_BUDGET_BYTES`. Never raises: a record that is missing or unreadable is not
    compared, and a file or folder that cannot be read is said as such.
    """
    try:
        return _changes(Path(data_dir))
    except OSError as exc:  # a folder or file that cannot be read, after the checks above
        return [f"{exc.filename or data_dir} cannot be read to compare it ({exc.strerror or exc})"]


def _changes(data_dir: Path) -> list[str]:
    summary = read_json_dict(data_dir / "ingest_summary.json") or {}
    if not summary:
        return []
    root = Path(str(summary.get("root", "")))
    if summary.get("root") and not root.exists():
        return [f"the data root {root} no longer exists (moved or renamed, or a drive not mounted?)"]
    changes: list[str] = []
    for role, recorded in (summary.get("source_files") or {}).items():
        path = Path(str(recorded.get("path", "")))
        words = SOURCE_ROLES.get(role, role)
        if not path.is_file():
            changes.append(f"the {words} {path} is gone")
        elif _changed(path, recorded):
            changes.append(f"the {words} {path} was edited")
    appeared = _test_set_appeared(summary)
    if appeared:
        changes.append(appeared)
    pool_dirs = list(summary.get("unlabelled_dirs") or ())  # data.unlabelled
    arrays = summary.get("layout") == "medmnist"  # its images are rows of the .npz, stamped above
    if arrays and not pool_dirs:
        return changes
    state = (read_json_dict(data_dir / "cache" / "state.json") or {}).get("files") or {}
    try:
        with open(data_dir / "manifest.csv", newline="", encoding="utf-8") as fh:
            guarded = manifest_cells_guarded(data_dir / "manifest.csv")  # not before the guard
            ingested = {unguarded_cell(row["path"], guarded=guarded) for row in csv.DictReader(fh) if row.get("path")
                        and (not arrays or row.get("split") == "unlabelled")}
    except ManifestError:  # its summary describes another manifest: edited, or an ingest cut
        changes.append(f"the manifest {data_dir / 'manifest.csv'} is not the one its "
                       f"ingest_summary.json describes (edited since, or an ingest interrupted)")
        return changes
    except (OSError, KeyError, csv.Error):
        return changes
    ingested |= set(summary.get("unlabelled_copies") or ())  # known, left out by the ingest
    ingested |= {str(row["image"]) for row in summary.get("left_out_ungradable") or ()
                 if isinstance(row, dict) and row.get("image")}  # data.ungradable=leave_out
    if arrays:  # rows of the .npz: the pool's paths are relative to the folder that holds it
        root = root.parent
    listed: set[str] = set()
    folders = ([] if arrays else [summary.get("train_dir"), summary.get("test_dir")]) + pool_dirs
    nested = summary.get("train_dir") if summary.get("layout") in NESTED_LAYOUTS else None
    for folder in folders:
        if folder and Path(folder).is_dir():
            # a DeepDRiD set repacked without Images/ is its own image folder: its CSV, README
            # and any image beside the patient folders are skipped, as the ingest skipped them
            skip = repacked_set_skip(root) if folder == nested and Path(folder) == root else []
            try:
                images = scan_image_folder(Path(folder), skip=skip, nested=folder == nested).images
            except IngestError as exc:
                changes.append(str(exc).partition(" ->")[0])
                return changes
            listed |= {relative(p, root) for p in images}
    added = sorted(listed - ingested)
    removed = sorted(rel for rel in ingested - listed if not (root / rel).is_file())
    budget = [HASH_BUDGET_BYTES]
    compared = {rel: _changed(root / rel, state[rel], budget) for rel in sorted(ingested & listed) if rel in state}
    edited = [rel for rel, changed in compared.items() if changed]
    unknown = [rel for rel, changed in compared.items() if changed is None]
    pool = {os.path.normpath(d) for d in pool_dirs}

    def in_pool(rel: str) -> bool:
        return os.path.dirname(os.path.normpath(root / rel)) in pool

    for names, verb in ((added, "added"), (removed, "removed"), (edited, "replaced or edited")):
        # a data.unlabelled folder's images said apart: the preflight names data.unlabelled
        for some, where in (([n for n in names if not in_pool(n)], ""),
                            ([n for n in names if in_pool(n)], f" {POOL_WORDS}")):
            if some:
                changes.append(f"{len(some)} image{'s' if len(some) != 1 else ''} {verb}{where} "
                               f"({_examples(some)})")
    if unknown:
        changes.append(f"{len(unknown)} image{'s' if len(unknown) != 1 else ''} with new file times, of "
                       f"the same size, not compared byte by byte ({_examples(unknown)}; a copy that "
                       "did not keep file times looks like this)")
    return changes


def labels_edited(data_dir: str | Path) -> Path | None:
    """The label CSV the ingest in ``data_dir`` read, when it was edited since (its size and
    time, then its sha256, differ from the ingest's record); None when it is unchanged, gone,
    or not recorded."""
    summary = read_json_dict(Path(data_dir) / "ingest_summary.json") or {}
    recorded = (summary.get("source_files") or {}).get("labels_csv")
    if not isinstance(recorded, dict):
        return None
    path = Path(str(recorded.get("path", "")))
    try:
        return path if path.is_file() and _changed(path, recorded) else None
    except OSError:
        return None


GRADES_SHOWN = 5
"""How many changed grades :func:`changed_grades` names (then a count)."""


def changed_grades(data_dir: str | Path) -> list[str]:
    """The differences between the label CSV now and the grades the ingest in ``data_dir``
    wrote into its manifest (:func:`grade_differences`: ``'eye_001.jpg (line 3): 3 -> 0'``,
    ``'005.png: 2 -> (no row)'``); [] when none or the CSV cannot be read so (the caller then
    says only that it was edited)."""
    return grade_differences(data_dir) or []


def grade_differences(data_dir: str | Path) -> list[str] | None:
    """How the (image, grade) pairs of the edited label CSV differ from the ingest's (the
    manifest's training images and their grades), read with the columns and grade scale the
    ingest recorded; each row matched to an ingested image as the ingest matches
    (:class:`data_prep.validate.NameIndex`: by file name, else stem or number, ignoring case).

    One string per difference, CSV file order, then the manifest's: a grade changed,
    ``'002.png (line 4): 2 -> 0'``; a grade cell blanked or no longer a grade,
    ``'005.png (line 7): 2 -> (empty)'`` (``(not a grade: 'x')``); an ingested training image
    with no row any more (a row deleted, the file cut short), ``'005.png: 2 -> (no row)'``;
    a row with a grade naming no ingested training image (a row added),
    ``'new.png (line 14): (not ingested) -> 1'``, or one the ingest left out as ungradable whose
    cell now reads as a grade, ``(left out as ungradable) -> 1``. Rows the ingest left out
    because their image was nowhere (``data.missing=leave_out``) are not compared: an image
    added since is a change :func:`source_changes` reports.

    [] only when the pairs match the ingest's exactly (line endings, a byte-order mark, the row
    order or blank lines changed: :data:`BYTES_ONLY_WORDS`). None when the CSV cannot be
    compared: not edited, unreadable with the recorded columns and scale, no recorded
    columns, or no row matching an ingested image (another file)."""
    from data_prep.layout import name_key
    from data_prep.validate import NameIndex, read_labels

    data_dir = Path(data_dir)
    summary = read_json_dict(data_dir / "ingest_summary.json") or {}
    columns = summary.get("label_columns") or {}
    names = (summary.get("grades") or {}).get("names") or []
    labels = labels_edited(data_dir)
    if labels is None or not isinstance(columns, dict) or not columns.get("image") or len(names) < 2:
        return None
    try:
        # the ingest's codec (GBK told by its folder's names; older summaries: the dialect's
        # tail, 'semicolon-separated, gb18030'): no folder here to tell it again
        encoding = str(summary.get("labels_csv_encoding")
                       or str(summary.get("labels_csv_dialect") or "").rpartition(", ")[2])
        table, _ = read_labels(labels, str(columns["image"]), str(columns.get("grade") or ""),
                               grade_names=[str(n) for n in names], scale_given=True,
                               encoding=encoding)
        ingested: dict[Path, str] = {}  # training image (manifest path) -> its grade, manifest order
        guarded = manifest_cells_guarded(data_dir / "manifest.csv")  # not before the guard
        with open(data_dir / "manifest.csv", newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("split") == "train" and row.get("grade") not in (None, ""):
                    ingested[Path(unguarded_cell(str(row.get("path") or row.get("id") or ""), guarded=guarded))] = str(row["grade"])
        gone = {name_key(str(r.get("name", ""))) for r in summary.get("left_out_missing") or []
                if isinstance(r, dict)}  # rows whose image was nowhere (data.missing=leave_out)
        ungradable = {name_key(str(r.get("name", ""))): str(r.get("grade_cell", ""))
                      for r in summary.get("left_out_ungradable") or [] if isinstance(r, dict)}
    except (OSError, csv.Error, ValueError, KeyError, TypeError):
        return None
    if table is None:
        return None
    index = NameIndex(list(ingested))
    changed: list[str] = []
    seen: set[Path] = set()
    for row in table.rows:
        found, _ = index.find(row.name)
        where = f"{row.name} (line {row.line})"
        if len(found) > 1:  # several images of that name: the ingest refused such a row
            seen.update(found)
            continue
        if found:
            seen.add(found[0])
            before = ingested[found[0]]
            if row.grade is None:
                now = f"(not a grade: {row.written!r})" if row.written else "(empty)"
                changed.append(f"{where}: {before} -> {now}")
            elif str(row.grade) != before:
                changed.append(f"{where}: {before} -> {row.grade}")
        elif row.grade is not None and name_key(row.name) not in gone:
            key = name_key(row.name)
            if key not in ungradable:
                changed.append(f"{where}: (not ingested) -> {row.grade}")
            elif row.written != ungradable[key]:
                changed.append(f"{where}: (left out as ungradable) -> {row.grade}")
    if not seen:
        return None
    changed += [f"{path.name}: {grade} -> (no row)" for path, grade in ingested.items() if path not in seen]
    return changed


def differences_words(grades: list[str]) -> str:
    """``'N grade(s) differ from the ingest's: a; b; ...'`` for :func:`grade_differences`'
    list, the first :data:`GRADES_SHOWN` named, then a count; the preflight and a run's last
    lines say them so."""
    shown = "; ".join(grades[:GRADES_SHOWN]) + (f" and {len(grades) - GRADES_SHOWN} more"
                                                 if len(grades) > GRADES_SHOWN else "")
    return f"{len(grades)} grade(s) differ from the ingest's: {shown}"


def data_changed_words(data_dir: str | Path) -> str:
    """One sentence on the data changed since the ingest in ``data_dir`` (a run's ``data/``,
    :func:`source_changes`), for a run's last lines and report.md; '' when nothing changed,
    or when the data root is gone (the run's stages read the ingest's cache: nothing of the
    run is wrong then). A label CSV saved again with the same grades (compared by
    :func:`grade_differences`: none differs) is said so (:data:`BYTES_ONLY_WORDS`), and when
    nothing else changed the sentence says plainly that the run's grades are the CSV's and
    nothing is to be redone."""
    changes = source_changes(data_dir)
    if not changes or changes[0].startswith("the data root "):
        return ""
    labels = labels_edited(data_dir)
    compared = grade_differences(data_dir) if labels is not None else None
    if compared == []:  # the label CSV compared: no grade differs, only its bytes changed
        said = f"the label CSV {labels}"
        if all(ch.startswith(said) for ch in changes):
            return (f"the data changed since this run ingested it: {'; '.join(changes)}, but "
                    f"{BYTES_ONLY_WORDS}; the grades this run was made from are the CSV's, so there "
                    f"is nothing to redo")
        changes = [f"{ch} ({BYTES_ONLY_WORDS})" if ch.startswith(said) else ch for ch in changes]
    grades = compared or []
    return (f"the data changed since this run ingested it: {'; '.join(changes)}"
            + (f" ({differences_words(grades)})" if grades else "")
            + "; every stage of this run was made from the data as it was ingested, not from the "
              "changes (to use them: the same command with run.name=<a new name>, a new run folder)")
