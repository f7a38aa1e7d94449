"""The out-of-fold file, ``finetune/<variant>/oof.csv``: its columns and its two readers.

:mod:`drac_ssl.finetune` writes it (every labelled image graded once, by the fold model
that did not train on it, after cross-fitted calibration); :mod:`drac_ssl.report`,
:mod:`drac_ssl.compare` and :mod:`drac_ssl.export` read it back through :func:`read_oof`
(the grades and probabilities) and :func:`read_oof_column` (one optional column by name:
``patient``, ``site``), so a change of layout is made in one place; the optional trailing
columns' order is :func:`oof_columns`'.

Beside it, what the stage records that :mod:`drac_ssl.report` and :mod:`drac_ssl.compare`
read back (layers: they import no stage, and neither does this module): the comparison's
referable / screening columns (:data:`REFERABLE_COLUMNS`, :func:`referable_columns`), the
resampling unit of the bootstrap CIs (:func:`patient_groups`, :func:`resampling_kind`) and the folds a run took from
another (:func:`folds_taken_from`, :func:`folds_taken_words`).

Columns, one row per labelled image in manifest order:

- ``id``: the image id of the manifest (this and the ``patient`` and ``site`` cells written
  with a ``'`` before a first ``=``, ``+``, ``-``, ``@``, tab, carriage return or ``'``:
  :func:`drac_ssl.io.guarded_cell`, so that a spreadsheet runs no formula; :func:`read_oof`
  and :func:`read_oof_column` give them back exactly, as ``metrics.json`` beside the file
  says: ``formula_cells_guarded``, :func:`oof_cells_guarded`; a file written before the guard
  is read as written);
- ``grade``: the reference grade, ``0..K-1``;
- ``fold``: the validation fold that graded it;
- ``P0..P{K-1}``: calibrated probabilities, 6 decimals rounded as a submission CSV rounds
  them (each row's decimals sum to exactly 1, their doubles to 1 within an ulp:
  :func:`drac_ssl.submission.written_probabilities`); the AUCs of ``metrics.json`` were
  computed from these written values, so scikit-learn on these columns gives them back (files written before that: from the unrounded ones, which on a
  collapsed model, probabilities differing below the 6th decimal, may differ in the 4th);
- ``score``: the thresholds rule's input: the expected grade ``sum_k k P_k`` (classification
  head), or the fold model's raw output (regression head: the grade as a number);
- ``pred``: the grade given by the variant's class decision (``finetune.decision``).
  ``score`` and ``pred`` come from the unrounded probabilities, not from the written ``P``
  columns: on a row whose two largest probabilities (or whose expected grade and a threshold)
  differ below the 6th decimal, the written columns' argmax (or expected grade) can give
  another grade than ``pred``. :func:`drac_ssl.submission.classes_off_rule`'s tolerance
  (:data:`drac_ssl.submission.CLASS_RULE_TOL`) lets such a row pass;
- ``logit0..logit{K-1}`` (classification head) or ``raw_score`` (regression head): the fold
  model's uncalibrated output.

Optional, only when a referral cut exists (``finetune.referral_target``; a run without one
has none of them, byte for byte as before), after the raw outputs:

- ``P_referable``: ``P_r + ... + P_{K-1}`` of the written ``P`` columns (6 decimals);
- ``referral_cut``: the cut that referred this row, its fold's own (cross-fitted on the other
  folds' out-of-fold outputs; metrics.json's ``referable.referral.fold_cuts``), not the
  deployed one;
- ``referred``: 1 when the row was referred by that cut, else 0: decided on this file's
  6-decimal ``P_referable`` against the cut in millionths
  (``P_referable * 10**6 >= drac_ssl.submission.cut_units(referral_cut)``, as the export's
  ``_referable.csv`` and the app decide), so the file alone reproduces every decision.

Optional, after those (only ``site`` after it), only when the manifest names patients (its ``patient`` column filled:
``data.patient_column``, a layout's own patient column, EyePACS's eye pairs; a run without
patients, and one made before it, has no such column, byte for byte as before):

- ``patient``: the image's patient as the manifest names it (empty for an image without one),
  so per-patient figures (both eyes of a screening visit) can be computed from this file alone,
  without joining the manifest. Not the bootstrap's unit where the ingest also joined near
  twins (:func:`patient_groups` reads the manifest's ``fold_group`` for that). No reader of
  this package requires it.

Optional, last (after ``patient`` when both), only when the manifest names sites
(``data.site_column``; a run without sites has no such column, byte for byte as before):

- ``site``: the image's site (:data:`SITE_COLUMN`, :func:`site_cells`), read by report.md's
  figures per site.
"""
from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from drac_ssl.io import (
    GUARDED_CELLS_FIELD,
    CsvRecordMismatch,
    declares_guarded_cells,
    guarded_cell,
    read_json_dict,
    sha256_file,
    unguarded_cell,
)
from drac_ssl.manifest import (
    SITE_COLUMN,
    ManifestError,
    labelled_rows,
    read_manifest,
    resampling_unit,
)
from drac_ssl.run_state import read_stages_record
from drac_ssl.scale import prob_columns

OOF_FILE = "oof.csv"


class OofError(ValueError):
    """An ``oof.csv`` that cannot be read as :mod:`drac_ssl.finetune` writes it; the
    message names the file (and the line, for a bad value) and what is wrong."""


PATIENT_COLUMN = "patient"
"""``oof.csv``'s column after the others when the manifest names patients (only
:data:`SITE_COLUMN` after it, when sites are named: :func:`oof_columns`; the module docstring)."""


REFERRAL_COLUMNS = ("P_referable", "referral_cut", "referred")
"""``oof.csv``'s columns after the raw outputs when a referral cut exists
(``finetune.referral_target``; see the module docstring)."""


# SITE_COLUMN (drac_ssl.manifest's, imported above): oof.csv's last column when the manifest
# names sites (data.site_column): each image's site, copied from the manifest's site column
# (site_cells); report.md's figures per site read it (drac_ssl.report._site_section).


def site_cells(manifest_rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each manifest row's site (:data:`SITE_COLUMN`, stripped), in the rows' order, for
    ``oof.csv``'s site column (its place in the header: :func:`oof_columns` ``sites=``); []
    when no row names a site, so a run without sites writes the file as before."""
    sites = [str(r.get(SITE_COLUMN) or "").strip() for r in manifest_rows]
    return sites if any(sites) else []


OOF_RECORD = "metrics.json"
"""The JSON record beside ``oof.csv`` (``finetune/<variant>/``) whose
:data:`drac_ssl.io.GUARDED_CELLS_FIELD` says the file's id, patient and site cells are guarded
against a spreadsheet formula (:func:`oof_cells_guarded`)."""


OOF_DIGEST = "oof_sha256"
"""The field of :data:`OOF_RECORD` (and of the bench floor's record) holding the SHA-256 of the
out-of-fold CSV beside it as written: its :data:`drac_ssl.io.GUARDED_CELLS_FIELD` is trusted for
that file only: a file with a cell starting with ``'`` beside a missing record or one with
another digest (a run killed between rewriting the CSV and the record) is refused, not misread."""


def oof_record_fields(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The fields a writer of the out-of-fold CSV ``path`` (written by :func:`oof_csv_text`) puts
    in its :func:`oof_record`: :data:`drac_ssl.io.GUARDED_CELLS_FIELD` true and
    :data:`OOF_DIGEST`, the file's SHA-256. Write the CSV after removing the old record and the
    record after the CSV, so that no older record is ever read beside a newer CSV."""
    return {GUARDED_CELLS_FIELD: True, OOF_DIGEST: sha256_file(path)}


GUARDED_OOF_COLUMNS = ("id", PATIENT_COLUMN, SITE_COLUMN)
"""The text columns of an ``oof.csv`` (names of images, patients and sites) that
:func:`oof_csv_text` guards against a spreadsheet formula."""


def oof_record(path: str | os.PathLike[str]) -> Path:
    """The JSON record that says whether the out-of-fold CSV ``path`` is guarded
    (:func:`oof_cells_guarded`): :data:`OOF_RECORD` beside an ``oof.csv``; ``X.json`` beside
    a file of its format under another name ``X.csv`` (the bench's ``pixel_floor_oof.csv``)."""
    path = Path(path)
    return path.parent / OOF_RECORD if path.name == OOF_FILE else path.with_suffix(".json")


def oof_cells_guarded(path: str | os.PathLike[str]) -> bool:
    """Whether the ``oof.csv`` at ``path`` holds :func:`drac_ssl.io.guarded_cell`'s cells: its
    :func:`oof_record` says so (:data:`drac_ssl.io.GUARDED_CELLS_FIELD`). False for a file
    written before the guard: read exactly as written, a first ``'`` included (a file without
    its record only when no cell starts with ``'``). The record's word is taken only for the file it describes: its :data:`OOF_DIGEST`
    (:func:`drac_ssl.io.declares_guarded_cells`).

    Raises:
        OofError: a cell starts with ``'`` and the record is missing or holds another file's
            SHA-256 (a run interrupted between rewriting ``oof.csv`` and its record, or the file
            edited since): rerun the same command."""
    try:
        return declares_guarded_cells(oof_record(path), path, OOF_DIGEST,
                                      "rerun the same command (python -m drac_ssl.train, or the "
                                      "bench), which rewrites both")
    except CsvRecordMismatch as exc:
        raise OofError(str(exc)) from None


def oof_csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The text of an ``oof.csv`` (or a file in its format, such as the bench's pixel floor):
    ``header`` then ``rows`` (each as long as ``header``; numbers as the caller formats them),
    the cells of :data:`GUARDED_OOF_COLUMNS` guarded against a spreadsheet formula
    (:func:`drac_ssl.io.guarded_cell`), lines ending in ``\n``. Whoever writes it removes the
    :func:`oof_record` beside it first and writes it again after, with :func:`oof_record_fields`,
    so that :func:`read_oof` gives the names back exactly."""
    guard = [c in GUARDED_OOF_COLUMNS for c in header]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([guarded_cell(str(v)) if g else v for g, v in zip(guard, row, strict=True)]
                     for row in rows)
    return buffer.getvalue()


def read_oof_column(path: str | os.PathLike[str], column: str) -> list[str] | None:
    """The cells (stripped) of ``column`` in an ``oof.csv``, in row order (as :func:`read_oof`'s
    rows), e.g. :data:`SITE_COLUMN` or :data:`PATIENT_COLUMN`; None when the file cannot be
    read or has no such column (a run without it). Raises :class:`OofError` as
    :func:`oof_cells_guarded` does (a file its record does not describe)."""
    guarded = oof_cells_guarded(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if column not in (reader.fieldnames or []):
                return None
            return [unguarded_cell(str(row.get(column) or ""), guarded=guarded).strip() for row in reader]
    except (OSError, csv.Error, UnicodeDecodeError):
        return None


def oof_columns(num_grades: int, output: str, patients: bool = False, referral: bool = False,
                sites: bool = False) -> list[str]:
    """The header of an ``oof.csv`` for ``num_grades`` grades and a ``classification`` or
    ``regression`` head, with :data:`REFERRAL_COLUMNS` after the raw outputs when ``referral``
    (a referral cut exists), then :data:`PATIENT_COLUMN` when ``patients`` (the manifest
    names them) and :data:`SITE_COLUMN` last when ``sites`` (the manifest names them:
    :func:`site_cells`); the one place of the optional columns' order (see the
    module docstring)."""
    raw = ([f"logit{g}" for g in range(num_grades)] if output == "classification" else ["raw_score"])
    return ["id", "grade", "fold", *prob_columns(num_grades), "score", "pred", *raw,
            *(REFERRAL_COLUMNS if referral else ()), *([PATIENT_COLUMN] if patients else []),
            *([SITE_COLUMN] if sites else [])]


@dataclass(frozen=True)
class OutOfFold:
    """One variant's out-of-fold outputs, ``n`` images in the file's order.

    ``ids`` ``(n,)`` str; ``grades`` ``(n,)`` int64 reference grades; ``probs`` ``(n, K)``
    float64 calibrated probabilities; ``pred`` ``(n,)`` int64 given grades; ``folds``
    ``(n,)`` int64 validation folds, None for a file without a ``fold`` column (written
    before it had one)."""

    ids: tuple[str, ...]
    grades: np.ndarray
    probs: np.ndarray
    pred: np.ndarray
    folds: np.ndarray | None

    @property
    def num_grades(self) -> int:
        """K, the number of ``P`` columns."""
        return int(self.probs.shape[1])


def read_oof(path: str | os.PathLike[str]) -> OutOfFold:
    """Read an ``oof.csv`` (K = its ``P0..P{K-1}`` columns, at least 2).

    Raises:
        OofError: the file is missing or unreadable, not a CSV, lacks ``id``, ``grade``,
            ``pred`` or ``P0``/``P1``, has no rows, repeats an id, or holds a value that is
            not a number (the message gives the line).
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns = list(reader.fieldnames or [])
            rows = [(reader.line_num, row) for row in reader]
    except FileNotFoundError:
        raise OofError(f"{path}: no such file") from None
    except OSError as exc:
        raise OofError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise OofError(f"{path}: not a readable CSV file ({exc})") from None
    k = 0
    while f"P{k}" in columns:
        k += 1
    missing = [c for c in ("id", "grade", "pred") if c not in columns] + [f"P{g}" for g in range(k, 2)]
    if missing:
        raise OofError(f"{path}: no column {', '.join(missing)} (drac_ssl.finetune writes "
                       f"{', '.join(oof_columns(3, 'classification')[:3])}, P0..P{{K-1}}, score, pred, ...)")
    if not rows:
        raise OofError(f"{path}: no rows")

    def value(line: int, row: dict[str, Any], column: str, kind: type[int] | type[float]) -> Any:
        text: Any = row.get(column)  # None on a short row
        try:
            return kind(text)
        except (TypeError, ValueError):
            raise OofError(f"{path}, line {line}: {column} is {text!r}, not "
                           f"{'an integer' if kind is int else 'a number'}") from None

    guarded = oof_cells_guarded(path)  # a file written before the guard: as written
    ids = tuple(unguarded_cell(str(row["id"]), guarded=guarded) for _, row in rows)
    repeated = [image for image, count in Counter(ids).items() if count > 1]
    if repeated:
        raise OofError(f"{path}: id {repeated[0]!r} appears more than once")
    grades = np.array([value(line, row, "grade", int) for line, row in rows], dtype=np.int64)
    pred = np.array([value(line, row, "pred", int) for line, row in rows], dtype=np.int64)
    probs = np.array([[value(line, row, f"P{g}", float) for g in range(k)] for line, row in rows],
                     dtype=np.float64)
    folds = (np.array([value(line, row, "fold", int) for line, row in rows], dtype=np.int64)
             if "fold" in columns else None)
    return OutOfFold(ids, grades, probs, pred, folds)


# --------------------------------------------------------------------------------------
# What the fine-tuning records beside the out-of-fold file

REFERABLE_COLUMNS = ("referable_auc", "referable_auc_ci_low", "referable_auc_ci_high",
                     "referable_sensitivity", "referable_specificity")
"""The comparison's columns of referable-DR figures (``metrics.json``'s ``referable``), present
only when the variants have them (``finetune.referable_from``, auto: grade >= 2 on the ICDR
scale): DRAC's comparison files are as they were without a cut."""


SCREENING_COLUMNS = ("sensitivity", "specificity")
"""The comparison's columns of a two-grade run (:func:`drac_ssl.metrics.binary_screening` at
the submitted grades: grade 1 found, grade 0 cleared), present only with K = 2."""


def referable_columns(referable: Any) -> dict[str, Any]:
    """A variant's :data:`REFERABLE_COLUMNS` from its ``metrics.json`` ``referable`` dict
    (:func:`drac_ssl.metrics.referable_report`); {} without one. ``comparison.json``'s rows
    (:mod:`drac_ssl.finetune`) and ``python -m drac_ssl.compare`` (for a run whose rows predate them) both take them here."""
    if not isinstance(referable, dict):
        return {}
    lo, hi = (list(referable.get("auc_ci95") or []) + [None, None])[:2]
    return {"referable_auc": referable.get("auc"), "referable_auc_ci_low": lo, "referable_auc_ci_high": hi,
            "referable_sensitivity": referable.get("sensitivity"),
            "referable_specificity": referable.get("specificity")}


def patient_groups(rows: Sequence[dict[str, Any]]) -> list[str] | None:
    """The resampling unit of each of ``rows`` (manifest rows, e.g. :func:`drac_ssl.manifest.labelled_rows`) for
    the bootstrap CIs (:func:`drac_ssl.metrics.bootstrap_ci` ``groups``): the unit the ingest
    kept in one fold.

    * Its patient, ``patient:<id>`` (the manifest's ``patient`` column, filled by
      ``data.patient_column``, a layout's patient column or EyePACS eye pairs), a row without
      one its own unit ``image:<id>``.
    * With ``data.near_duplicate_mse`` > 0 the manifest's ``fold_group`` column names the units
      the folds kept whole, near twins joined with their patients
      (:data:`data_prep.ingest.FOLD_GROUP_COLUMN`): when they join more than the patients do
      (some near twins of different patients, or of images without one), each row's unit is
      ``group:<name>`` (a row with the column empty keeps its patient or image unit);
      otherwise the patients' units above (the same partition, said as patients).

    None when no row names a patient and no near twins were joined (every image its own unit:
    the image bootstrap). :func:`resampling_kind` says which of the three a result is."""
    patients = [str(r.get("patient") or "").strip() for r in rows]
    alone = [resampling_unit(p, r.get("id")) for p, r in zip(patients, rows, strict=True)]
    fold_groups = [str(r.get("fold_group") or "").strip() for r in rows]
    if any(fold_groups):
        joined = [f"group:{g}" if g else a for g, a in zip(fold_groups, alone, strict=True)]
        if len(set(joined)) < len(set(alone)):
            return joined
    return alone if any(patients) else None


def sites_as_patients(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether manifest ``rows`` are of a leave-one-site-out ingest (``--patient-column site
    --site-column site``, ``ingest_summary.json``'s ``sites.folds`` == ``whole``): some row
    names a site (:data:`SITE_COLUMN`) and every row's patient is its site, so each "patient"
    the folds kept whole and the CIs resample is a site. The per-patient figures (a patient
    referable if any of their images is) are then not per patient and are left out, and the
    words say sites (:data:`data_prep.folds.FOLD_UNITS` ``site``)."""
    sites = [str(r.get(SITE_COLUMN) or "").strip() for r in rows]
    return any(sites) and all(str(r.get("patient") or "").strip() == site for r, site in zip(rows, sites, strict=True))


def resampling_kind(groups: Sequence[str] | None) -> str:
    """What :func:`patient_groups`' units are, as ``ci_resamples`` records it: ``images``
    (None: each image its own unit), ``groups`` (some unit ``group:<name>``: near twins joined
    with their patients, ``data.near_duplicate_mse``) or ``patients``."""
    if groups is None:
        return "images"
    return "groups" if any(str(g).startswith("group:") for g in groups) else "patients"


def ci_resampling(groups: Sequence[Any] | None, n: int, sites: bool = False) -> dict[str, Any]:
    """What the bootstrap CIs of ``n`` images resample, as ``metrics.json`` and
    ``comparison.json`` record it: ``{"ci_resamples": "patients", "ci_units": <patients>}``
    with ``groups`` (:func:`patient_groups`) of patients, ``"groups"`` and their number when
    they join near twins (:func:`resampling_kind`: the ``fold_group`` units of an
    ingest with ``data.near_duplicate_mse`` > 0), else ``{"ci_resamples": "images",
    "ci_units": n}``. ``sites``: the patients are sites (leave-one-site-out,
    :func:`sites_as_patients`): ``"ci_unit": "site"`` is added to patients, so
    that the words say sites (:func:`drac_ssl.grading.bundle.ci_resampling_words`). The one
    record of it: the fine-tuning's (:mod:`drac_ssl.finetune`) and ``python -m drac_ssl.score``'s
    (whose ``groups`` are patients only)."""
    if groups is None:
        return {"ci_resamples": "images", "ci_units": n}
    kind = resampling_kind(groups)
    return {"ci_resamples": kind, "ci_units": len(set(groups)),
            **({"ci_unit": "site"} if sites and kind == "patients" else {})}


def folds_taken_from(run_dir: str | Path, variant: str) -> dict[str, list[int]]:
    """The folds of ``variant`` that the fine-tuning of run folder ``run_dir`` reused from
    another run folder (``run.reuse``), by the folder that trained them: ``{"/runs/eye_b":
    [0, 1]}``; empty when every fold was trained here. Such folds are the same models as
    there (the same settings, data, seed and weights: the fold signature), so the two runs'
    figures of that variant are not independent repeats.

    Read from ``finetune/<variant>/metrics.json``'s ``folds_taken_from``; for a run made
    before it was recorded, found by comparing each ``foldK.json`` with the same fold of the
    run folder its stages were taken from (``stages.json``'s ``reused_from``), when that
    folder is still there: a taken fold's record is the source's (linked or copied), one
    trained here differs (its time, its predictions) even where its signature is the same.
    Never raises on missing files."""
    run_dir = Path(run_dir)
    vdir = run_dir / "finetune" / variant
    metrics = read_json_dict(vdir / "metrics.json") or {}
    recorded = metrics.get("folds_taken_from")
    if isinstance(recorded, dict):
        return {str(k): sorted(int(f) for f in v) for k, v in recorded.items() if isinstance(v, list) and v}
    stages = read_stages_record(run_dir)
    sources = {str(e["reused_from"]) for e in stages.values() if isinstance(e, dict) and e.get("reused_from")}
    found: dict[str, list[int]] = {}
    for path in sorted(vdir.glob("fold*.json")):
        record = read_json_dict(path) or {}
        for source in sorted(sources):
            there = read_json_dict(Path(source) / "finetune" / variant / path.name) or {}
            # the same record, not only the same signature: a fold trained here signs as the
            # source's when the source finished it after this run took its stages
            if record.get("signature") and there == record:
                found.setdefault(source, []).append(int(record.get("fold", path.stem[4:])))
    return found


def folds_taken_words(run_dir: str | Path, variants: Sequence[str]) -> list[str]:
    """One sentence per run folder that trained folds :func:`folds_taken_from` finds among
    ``variants`` of ``run_dir``, e.g. ``"the fine-tuning of scratch (2 of 2 folds) and vicreg
    (2 of 2 folds) was taken from /runs/eye_b (run.reuse: the same settings, data, seed and
    weights, so the same models): their figures repeat that run's, they are not an
    independent replication"``; empty when every fold was trained here."""
    by_source: dict[str, list[str]] = {}
    for variant in variants:
        n_folds = len(list((Path(run_dir) / "finetune" / variant).glob("fold*.json")))
        for source, folds in folds_taken_from(run_dir, variant).items():
            by_source.setdefault(source, []).append(f"{variant} ({len(folds)} of {n_folds} folds)")
    return [f"the fine-tuning of {' and '.join(parts) if len(parts) < 3 else ', '.join(parts)} was taken "
            f"from {source} (run.reuse: the same settings, data, seed and weights, so the same models): "
            f"their figures repeat that run's, they are not an independent replication"
            for source, parts in by_source.items()]


def oof_units(run_dir: Path, vdir: Path, ids: Sequence[str]) -> tuple[list[str] | None, str]:
    """The bootstrap units of the images ``ids`` (``oof.csv``'s order) as the pooled CI resamples
    them (:func:`drac_ssl.oof.patient_groups` of ``run_dir``'s manifest rows: patients, near
    twins joined when the ingest kept them together), and what they are (:func:`unit_words` of
    :func:`drac_ssl.oof.ci_resampling`: ``images``, ``patients``, ``patients and near-twin
    groups``, ``sites`` for a leave-one-site-out ingest); when the manifest cannot be read or
    lacks an image, ``oof.csv``'s own ``patient`` column, each cell its
    :func:`drac_ssl.manifest.resampling_unit` (an image without a patient its own unit, not
    one unit with every other blank)."""
    try:
        rows = labelled_rows(read_manifest(run_dir / "data" / "manifest.csv", ("id", "grade", "split", "fold")))
    except (OSError, ValueError, ManifestError):
        rows = []
    known = {str(r["id"]) for r in rows}
    if rows and all(i in known for i in ids):
        groups = patient_groups(rows)
        if groups is None:
            return None, "images"
        unit_of = dict(zip((str(r["id"]) for r in rows), groups, strict=True))
        units = [unit_of[i] for i in ids]
        return units, unit_words(ci_resampling(units, len(ids), sites=sites_as_patients(rows)))
    patients = read_oof_column(vdir / OOF_FILE, PATIENT_COLUMN)
    if patients is None or len(patients) != len(ids) or not any(p.strip() for p in patients):
        return None, "images"
    units = [resampling_unit(p.strip(), i) for p, i in zip(patients, ids, strict=True)]
    return units, unit_words(ci_resampling(units, len(ids)))


def unit_words(resampling: dict[str, Any]) -> str:
    """What a :func:`drac_ssl.oof.ci_resampling` record's units are, for report.md's CI lines:
    ``images``, ``patients``, ``patients and near-twin groups`` or ``sites`` (its ``ci_unit``:
    leave-one-site-out, each patient a site)."""
    if resampling.get("ci_unit") == "site":
        return "sites"
    return {"images": "images", "groups": "patients and near-twin groups"}.get(
        str(resampling.get("ci_resamples")), "patients")
