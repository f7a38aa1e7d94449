"""Stage 1 of the pipeline: validate, cache and index a graded retinal image dataset.

``run(cfg, out_dir)`` is what the orchestrator and the tests call; ``python -m data_prep
ingest --root DIR --out RUN_DATA`` wraps it. It

1. finds the images and the label CSV (:mod:`data_prep.layout`: DRAC 2022, APTOS 2019,
   EyePACS, IDRiD, DeepDRiD, Messidor-2, a MedMNIST ``.npz`` or a plain folder + CSV) and the grade scale
   (``data.grades`` or the layout's),
2. reads every file once, hashes, decodes, checks and resizes it in a process pool
   (:mod:`data_prep.cache`, :mod:`data_prep.validate`), reusing unchanged files from the
   previous run,
3. collects ALL problems and stops before writing anything if one is fatal (the printed
   list shows at most 10 of one kind and counts the rest, and says the same finding of many
   files once; when it leaves a line out, every line is written to ``ingest_problems.txt``
   in the output folder, whose path it prints),
4. chooses the channels (``data.channels``: 1, 3 or auto = what the images are) and
   assigns stratified (patient-grouped) folds over the K grades (:mod:`data_prep.folds`),
5. writes, each atomically and in this order: the cache arrays, ``manifest.csv``,
   ``ingest_summary.json`` (grades, channels, preprocessing, every finding, the stamps of
   the label CSV or ``.npz`` that :mod:`data_prep.source_check` compares) and, last,
   ``cache/state.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import fnmatch
import io
import json
import math
import os
import re
import shlex
import sys
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from data_prep import cache
from data_prep import grades as grade_words
from data_prep import near_duplicates as twins
from data_prep.colour_rule import is_overlay
from data_prep.copies import copy_keys  # the pretraining's rule too
from data_prep.decode import CONVERTED_DEPTH, OVERLAY_SHARE, PHANTOM_TEXT_KEY, sample_depth
from data_prep.folds import (
    FOLD_UNITS,
    TWIN_UNIT,
    assign_site_folds,
    patient_spellings,
    patient_unit,
    too_few_units_fix,
)
from data_prep.grades import REFERABLE_NAMES, describe, empty_grades, resolve_grades
from data_prep.labels import parse_grade
from data_prep.layout import (
    DDR_OUT,
    IMAGE_SUFFIXES,
    NOT_AN_IMAGE_FILE,
    Layout,
    contents_compared,
    data_root,
    discover,
    examination_note,
    image_subfolders,
    likely_roots,
    relative,
    scan_image_folder,
    undecodable_problems,
)
from data_prep.phantom import MANIFEST_NAME as PHANTOM_MANIFEST
from data_prep.pool import refuse_top_level_rerun
from data_prep.problems import CROP_NOT_APPLIED, counted, crop_words, left_out_of_print
from data_prep.source_check import stamp_sources
from data_prep.validate import (  # natural_key re-exported: data_prep.ingest.natural_key
    EYE_NAME,  # noqa: F401  (re-exported: data_prep.ingest.EYE_NAME)
    EYE_PAIR_WORDS,
    SHARED_NAME_KIND,
    IngestError,
    LabelRow,
    LabelTable,
    Problem,
    apply_strict,
    array_row_path,
    check_test_list,
    drop_repeated_rows,
    duplicate_label_rows,
    enlarged_images_note,
    error,
    eye_names_words,
    eye_pair_patient,
    format_problems,
    grade_problem,
    id_words,
    identical_content,
    is_uw_octa_size,
    label_named_encoding,
    label_row_names,
    leave_out_ungradable,
    match_labels,
    names_in_both,
    natural_key,
    note,
    patient_column_guess,
    read_labels,
    read_name_list,
    same_image_rows,
    total_row,
    unpaired_eyes_words,
    warning,
    zero_word_empty_grade,
)
from drac_ssl import console
from drac_ssl.config import (
    DATA_CHANNELS,
    DATA_MISSING,
    DATA_MODALITIES,
    DATA_UNGRADABLE,
    GRADE_SCALES,
    LAYOUT_NAMES,
    ConfigError,
    DataConfig,
    layout_name,
    layout_root_help,
    referable_from_rule,
    referable_grade,
    validate_grades,
)
from drac_ssl.console import LoopProgress
from drac_ssl.grading.image_notes import (
    FUNDUS_CROP_DOES,
    GREY_TRAINED_RULE,
    depth_words,
    grey_trained_enough,
)
from drac_ssl.io import (
    GUARDED_CELLS_FIELD,
    atomic_write_json,
    atomic_write_text,
    guarded_cell,
    make_run_folder,
    readable_absolute,
    same_path,
    sha256_file,
    stdout_survives,
    stdout_words,
    unreadable_words,
)
from drac_ssl.manifest import SITE_COLUMN, WRITTEN_COLUMNS
from drac_ssl.starting import (  # stdlib only
    ascii_int,
    hold_signals_if_command,
    interrupt_exit_code,
    python_command,
    seed_int,
)

__all__ = ["IngestError", "IngestResult", "run"]
"""The public names (docs/python.md): the ingest, what it returns and what it raises."""

MANIFEST_NAME = "manifest.csv"
SUMMARY_NAME = "ingest_summary.json"
PROBLEMS_NAME = "ingest_problems.txt"
"""Every problem of a failed ingest, one line each, when the printed list leaves one out (at
most :data:`data_prep.problems.SHOWN_PER_KIND` per kind, the same finding of many files on
one line); the only file a failed ingest writes."""
CACHE_DIR = "cache"
# The manifest's columns, :data:`WRITTEN_COLUMNS` (one definition:
# :data:`drac_ssl.manifest.WRITTEN_COLUMNS`, whose first ones,
# :data:`drac_ssl.manifest.REQUIRED_COLUMNS`, are what its reader requires): ``split`` is
# ``train`` (the labelled cross-validation pool), ``test`` (unlabelled, graded by the export) or
# ``unlabelled`` (``data.unlabelled``: pretraining and UMM only); ``origin`` is the official
# split the image came from (``train``, ``val`` or ``test``: a MedMNIST ``val`` image is in the
# ``train`` pool; ``unlabelled``); ``pixels_sha256`` the SHA-256 of the decoded image's pixels
# in their canonical form (:func:`data_prep.validate.pixels_sha256`: in the ingest's channels,
# before any crop, filter or resize), which a copy of the image in another file shares (a PNG
# written from a MedMNIST ``.npz`` row, whose ``sha256`` is of the row's bytes), empty for an
# image that did not decode. With ``data.near_duplicate_mse`` > 0 the ingest writes
# :data:`FOLD_GROUP_COLUMN` after them.
MANIFEST_COLUMNS = WRITTEN_COLUMNS  # this module's name for them before session 73 (kept for scripts)
FOLD_GROUP_COLUMN = "fold_group"
"""The manifest's column after :data:`WRITTEN_COLUMNS` (only :data:`SITE_COLUMN` after it;
:func:`manifest_header`), not always its last, when ``data.near_duplicate_mse`` > 0 (absent when 0, so that the
manifest is byte for byte the one made without the option): each training image's unit, the
name the folds grouped it by (:func:`data_prep.near_duplicates.grouped_units`: its patient, or
its image id without one, joined with its near twins' units), exactly as passed to
:func:`data_prep.folds.assign_folds`; empty for the other rows, and for every row when the folds
were not grouped at all (no patient, no near twin: per-image folds). The bootstrap CIs resample
these units (:func:`drac_ssl.oof.patient_groups`) and the preflight recomputes the folds with
them (:func:`data_prep.folds.manifest_fold_gaps`)."""


def manifest_header(fold_groups: bool = False, sites: bool = False) -> tuple[str, ...]:
    """The manifest's columns: :data:`WRITTEN_COLUMNS`, then :data:`FOLD_GROUP_COLUMN` when
    ``fold_groups`` (``data.near_duplicate_mse`` > 0), then :data:`SITE_COLUMN`
    (:data:`drac_ssl.manifest.SITE_COLUMN`) when ``sites`` (an image names a site,
    ``data.site_column``); neither: the manifest made before both. The one place of their
    order: :func:`_manifest_text` writes it, :func:`_killed_before_summary` accepts exactly
    these four headers."""
    return (WRITTEN_COLUMNS + ((FOLD_GROUP_COLUMN,) if fold_groups else ())
            + ((SITE_COLUMN,) if sites else ()))


MEDMNIST_SPLITS = ("train", "val", "test")
UNLABELLED = "unlabelled"
"""The manifest split of the ``data.unlabelled`` folders' images."""


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
    warnings: list[str]  # printed lines of the warnings (empty with --strict)
    notes: list[str]
    problems: list[Problem]  # fatal problems: always empty here, run() raises IngestError
    findings: list[Problem]  # the warnings and notes, structured
    n_decoded: int  # files decoded in this run
    n_reused: int  # files whose cached rows were reused
    seconds: float = 0.0
    n_unlabelled: int = 0  # images of the data.unlabelled folders (copies left out)
    unlabelled_copies: list[str] = field(default_factory=list)  # the copies left out (root-relative)
    # the pool's near twins of test images, kept (data.near_duplicate_mse > 0; root-relative)
    unlabelled_near_test: list[str] = field(default_factory=list)
    # each data.unlabelled folder's counts (_pool_folder_counts): dir, kept, copies, skipped
    unlabelled_folders: list[dict[str, object]] = field(default_factory=list)
    grade_names: tuple[str, ...] = ("Normal", "NPDR", "PDR")  # grades 0..K-1
    channels: int = 1  # of the cache arrays: (N, S, S) for 1, (N, S, S, 3) for 3
    modality: str = ""  # octa | fundus: what the images were read as (Plan.resolved_modality)
    # labelled training images that are grey pictures (a grey file, or a colour file whose three
    # channels are identical); with channels 3 they were replicated to three identical channels,
    # and the bundle words its caveat on grey inputs from this count (GREY_TRAINED_MIN)
    n_grey_train: int = 0
    preprocessing: tuple[str, ...] = ()  # the fundus options applied to the cached copies, in words
    patients: dict[str, object] | None = None  # how the folds were grouped: _patient_facts
    # data.site_column: site -> fold -> labelled training images (site_fold_counts); {} without
    counts_per_site_fold: dict[str, dict[int, int]] = field(default_factory=dict)
    # data.site_column: how the folds treated the sites, a key of data_prep.folds.SITE_FOLDS; '' without
    site_folds: str = ""
    # data.near_duplicate_mse > 0: the near twins kept in one fold (_twin_facts); None when off
    near_duplicates: dict[str, object] | None = None
    # data.ungradable=leave_out: the rows left out with their images (manifest-style path, or
    # None: the folder did not hold it), in file order
    left_out_ungradable: list[tuple[LabelRow, str | None]] = field(default_factory=list)
    # data.missing=leave_out: the label rows whose image is nowhere, left out, in file order
    left_out_missing: list[LabelRow] = field(default_factory=list)
    # the label rows written again exactly (validate.drop_repeated_rows), left out: (the row, the
    # line of the row kept), in file order; their images are kept, with the first row's grade
    # (unless that row is in left_out_missing: its image is nowhere)
    left_out_repeated: list[tuple[LabelRow, int]] = field(default_factory=list)
    # images (of every split) that carry drac_ssl's phantom marker: any makes the run a phantom one
    n_phantom_marked: int = 0
    # those per split (train: the labelled images the figures are on; test; unlabelled)
    phantom_marked_by_split: dict[str, int] = field(default_factory=dict)
    # the set's bit depths, one entry per group of files converted alike (_bit_depths): what a
    # later step compares an image's depth with
    bit_depths: list[dict[str, object]] = field(default_factory=list)
    # the printed lines of the warnings that need a decision before training (a grade without a
    # labelled image), repeated at the end of the printed summary, where they are seen
    attention: list[str] = field(default_factory=list)
    # data.referable_from > 0: the two grades made of ICDR labels (referable_facts); None when off
    referable_from: dict[str, object] | None = None


@dataclass
class ImageEntry:
    """One image of the dataset, in manifest order."""

    path: Path
    rel: str
    split: str  # train | test | unlabelled (data.unlabelled: pretraining and UMM only)
    label: LabelRow | None = None
    fold: int = -1
    record: cache.FileRecord = field(default_factory=lambda: cache.FileRecord(""))
    name: str = ""  # the case id when it is not the file name (MedMNIST rows)
    origin: str = ""  # the official split (train | val | test); default: split
    # the unit the folds grouped a training image by (FOLD_GROUP_COLUMN); '' when not grouped
    fold_group: str = ""
    # the image's site (data.site_column, the manifest's SITE_COLUMN); '' without one
    site: str = ""

    @property
    def image_id(self) -> str:
        return self.name or self.path.name

    @property
    def array_row(self) -> bool:
        """Whether this is a row of an array file (MedMNIST's ``.npz``), not a file of its own
        (an ``--unlabelled`` folder's image is named ``FOLDER/FILE`` but is a file)."""
        return bool(self.name) and self.split != UNLABELLED

    @property
    def display(self) -> str:
        """Where to point a message: the file, or ``FILE.npz:key[i]`` for an array row."""
        if not self.array_row:
            return str(self.path)
        return f"{self.path.parent / self.rel}"


@dataclass
class Plan:
    """The settings an ingest resolved from the config and the layout."""

    sizes: list[int]
    grade_names: tuple[str, ...]
    grades_source: str
    channels_setting: str  # 1 | 3 | auto
    channels_source: str
    options: cache.CacheOptions
    modality: str = "auto"  # octa | fundus as configured; auto: decided by the layout and channels

    def resolved_modality(self, layout: Layout, channels: int) -> str:
        """``octa`` or ``fundus``: the configured one, else the layout's (a plain folder:
        fundus when its cache is colour)."""
        if self.modality != "auto":
            return self.modality
        return "fundus" if layout.fundus or channels == 3 else "octa"


def check_settings(cfg: DataConfig) -> list[int]:
    """The cache sizes, sorted and unique; IngestError for settings that cannot work (the
    ingest calls it first; :mod:`drac_ssl.preflight` before any stage runs)."""
    if cfg.n_folds < 2:
        raise IngestError(f"--folds {cfg.n_folds}: need at least 2 folds for cross-validation "
                          "-> use --folds 5")
    if cfg.workers < 0:
        raise IngestError(f"--workers {cfg.workers}: must be 0 (the usable cores) or more -> use 0")
    mse = cfg.near_duplicate_mse
    if isinstance(mse, bool) or not isinstance(mse, (int, float)) or not math.isfinite(mse) or mse < 0:
        raise IngestError(f"--near-duplicate-mse={mse!r}: must be a finite number >= 0, the mean "
                          "squared pixel difference (0..1 scale) below which labelled images are "
                          "kept in one fold -> use --near-duplicate-mse 0 (off, the default), or "
                          "e.g. --near-duplicate-mse 1e-4")
    side = cfg.expected_side
    if isinstance(side, bool) or not isinstance(side, int) or not -1 <= side <= 65535:
        raise IngestError(f"--expected-side {side!r}: must be -1 (the layout's: 1024 px for the "
                          "DRAC layout, no check otherwise), 0 (no size check) or the side in "
                          "pixels every grey image should have -> use --expected-side 0, or e.g. "
                          "--expected-side 800")
    sizes = sorted(set(cfg.cache_sizes))
    if not sizes or any(not 8 <= s <= 4096 for s in sizes):
        raise IngestError(f"--cache-sizes {cfg.cache_sizes}: each cache size must be 8..4096 pixels "
                          "-> e.g. --cache-sizes 256,512")
    if cfg.missing not in DATA_MISSING:
        raise IngestError(f"--missing {cfg.missing!r} is not one of {', '.join(DATA_MISSING)} "
                          "-> --missing error (a label row without its image stops the ingest) "
                          "or --missing leave_out (such rows are left out, listed in "
                          f"{SUMMARY_NAME})")
    if cfg.ungradable not in DATA_UNGRADABLE:
        raise IngestError(f"--ungradable {cfg.ungradable!r} is not one of {', '.join(DATA_UNGRADABLE)} "
                          "-> --ungradable error (a row with an empty or NA grade stops the ingest) "
                          "or --ungradable leave_out (such rows and their images are left out)")
    if str(cfg.channels) not in DATA_CHANNELS:
        raise IngestError(f"--channels {cfg.channels!r} is not one of 1, 3, auto -> e.g. "
                          "--channels auto (what the images are)")
    try:
        validate_grades(list(cfg.grades))
    except ConfigError as exc:  # said as the flag: data.grades=[a, b] -> --grades "a,b"
        said = re.sub(r"data\.grades=\[([^\]]*)\]",
                      lambda m: '--grades "' + ",".join(n.strip(" '") for n in m[1].split(",")) + '"',
                      str(exc).removeprefix("config: ").replace("\n  fix:", " ->"))
        said = re.sub(r"data\.ungradable=(\w+)", r"--ungradable \1", said)
        raise IngestError(said) from None
    _check_referable_from(cfg)
    return sizes


REFERABLE_FROM_FIX = "--referable-from 2 (referable DR: ICDR moderate NPDR or worse)"
"""The usual value of ``--referable-from`` (``data.referable_from``), as a fix says it."""


def _check_referable_from(cfg: DataConfig) -> None:
    """IngestError unless ``data.referable_from`` is 0 (off) or an ICDR grade 1..4 with two grades:
    ``data.grades`` empty or the ICDR scale (named :data:`data_prep.grades.REFERABLE_NAMES`), or
    two names (:func:`drac_ssl.config.referable_from_rule`; :func:`drac_ssl.config.referable_from_problem`
    says it in the settings' words)."""
    n = cfg.referable_from
    icdr = GRADE_SCALES["icdr"]
    if isinstance(n, int) and not isinstance(n, bool) and n == 0:  # off
        return
    rule = referable_from_rule(n, cfg.grades)
    if not rule.valid:
        raise IngestError(f"--referable-from {n!r}: must be 0 (off, the default) or an ICDR grade "
                          f"1..{len(icdr) - 1}, the lowest label read as grade 1 (referable) of two "
                          f"-> {REFERABLE_FROM_FIX}")
    if not rule.two_grades:
        names, _ = resolve_grades(cfg.grades, "plain", n)  # a scale name said as its grades
        raise IngestError(f"--referable-from {n} makes two grades of the labels' ICDR grades (grade >= {n} "
                          f"referable, below it not), but --grades names {len(names)} ({describe(names)}) "
                          f'-> drop --grades, or --grades icdr (the labels\' scale; the two grades are then '
                          f'named {", ".join(REFERABLE_NAMES)}), or give two names: --grades '
                          f'"{",".join(REFERABLE_NAMES)}"; or drop --referable-from to train on the '
                          f"{len(names)} grades")


def referable_row(row: LabelRow, n: int) -> LabelRow:
    """``row`` with its grade, read on the ICDR scale, made one of two (``data.referable_from``
    ``n``): 1 when it is ``n`` or more, else 0; the ICDR grade kept as ``source_grade``. A row
    without a valid grade is returned as it is."""
    if row.grade is None:
        return row
    return dataclasses.replace(row, grade=referable_grade(row.grade, n), source_grade=row.grade)


def referable_grade_problem(problem: Problem, n: int) -> Problem:
    """``problem`` (a label CSV's, read on the ICDR scale for ``data.referable_from`` ``n``) in
    that setting's words: the scale is named as the ICDR grades ``--referable-from n`` reads,
    and a fix's other scale (``give 6 names in --grades``) is dropped, as it contradicts the
    setting. Other problems are returned as they are."""
    if problem.kind != "grade" or "--grades" not in problem.what + problem.fix:
        return problem
    reads = f"the ICDR grades --referable-from {n} reads"
    what = problem.what.replace("the scale of --grades (", f"{reads} (").replace("(--grades: ", f"({reads}: ")
    kept = []
    for part in re.split(r"; or,? ", problem.fix):
        if "--grades" in part:
            cut = part[:part.find("--grades")].rfind(", or")
            if cut <= 0:
                continue
            part = part[:cut]
        kept.append(part)
    fix = "; or ".join(kept) or f"correct the rows to {reads}"
    return dataclasses.replace(problem, what=what, fix=fix)


def no_grade_at_or_above(grades: Sequence[int], n: int, column: str | None, where: str | Path) -> Problem | None:
    """The error of ``data.referable_from`` ``n`` >= 2 on labels none of which is ``n`` or more
    (``grades``: the valid grades read, on the ICDR scale): every row would silently become
    grade 0 (non-referable). A column of 0/1 alone is most likely two grades already (its fix:
    drop the option, or N = 1, which keeps them as they are). None when some grade is >= ``n``,
    when nothing was read, or for ``n`` = 1 (on 0/1 labels the identity); the words are
    :func:`data_prep.grades.no_grade_at_or_above`'s, shared with ``export --score``."""
    said = grade_words.no_grade_at_or_above(
        grades, n, repr(column) if column else None, "--referable-from",
        "become grade 0 (non-referable)", "read", drop="--referable-from (data.referable_from)",
        other_fix=", or drop --referable-from to read the labels on their own scale")
    return None if said is None else error(where, f"--referable-from {n}: {said[0]}", said[1], "grade")


def referable_facts(entries: Sequence[ImageEntry], cfg: DataConfig, column: str) -> dict[str, object] | None:
    """``ingest_summary.json``'s ``grades.referable_from`` (``data.referable_from`` > 0; None when
    off): ``from_grade`` (N), ``source_scale`` (the ICDR names the labels were read by),
    ``source_column`` (the label column read), ``train_per_source_grade`` (the labelled training
    images per ICDR grade, keyed by its number) and ``rule`` (in words)."""
    n = cfg.referable_from
    if not n:
        return None
    icdr = GRADE_SCALES["icdr"]
    per_grade = Counter(e.label.source_grade for e in entries if e.split == "train" and e.label is not None
                        and e.label.source_grade is not None)
    return {"from_grade": n, "source_scale": list(icdr), "source_column": column,
            "train_per_source_grade": {str(g): per_grade.get(g, 0) for g in range(len(icdr))},
            "rule": referable_rule_words(n)}


def referable_summary_line(facts: Mapping[str, Any]) -> str:
    """The printed summary's line of ``data.referable_from`` (``facts``: :func:`referable_facts`):
    ``two grades made of the ICDR grades of column 'adjudicated_dr_grade' (--referable-from 2):
    grade 1 = ICDR grade >= 2 (...); grade 0 = ...; training images per ICDR grade: 0 No DR 3, ...``."""
    icdr = [str(n) for n in facts.get("source_scale") or GRADE_SCALES["icdr"]]
    per_grade = facts.get("train_per_source_grade") or {}
    counts = ", ".join(f"{g} {name} {per_grade.get(str(g), 0)}" for g, name in enumerate(icdr))
    return (f"two grades made of the ICDR grades of column {facts.get('source_column')!r} (--referable-from "
            f"{facts.get('from_grade')}): {facts.get('rule')}; training images per ICDR grade: {counts}")


def referable_rule_words(n: int) -> str:
    """``grade 1 (referable) = ICDR grade >= 2 (Moderate, Severe, PDR); grade 0 (non-referable) =
    ICDR grade < 2 (No DR, Mild)``: what ``data.referable_from`` ``n`` made of the labels."""
    icdr = GRADE_SCALES["icdr"]
    return (f"grade 1 = ICDR grade >= {n} ({', '.join(icdr[n:])}); grade 0 = ICDR grade < {n} "
            f"({', '.join(icdr[:n])})")


def _plan(cfg: DataConfig, layout: Layout, sizes: list[int]) -> tuple[Plan, list[Problem]]:
    names, grades_source = resolve_grades(cfg.grades, layout.treated_as, cfg.referable_from)
    setting = str(cfg.channels)
    source = "data.channels"
    if not setting:
        setting = layout.default_channels
        source = f"the {layout_name(layout.treated_as)} layout's default"
    modality = str(cfg.modality or "auto")
    if modality not in DATA_MODALITIES:
        raise IngestError(f"--modality {modality!r} is not one of {', '.join(DATA_MODALITIES)} "
                          f"-> e.g. --modality fundus for fundus photographs")
    octa = modality == "octa" or (modality == "auto" and not layout.fundus)
    options = cache.CacheOptions(
        target="gray" if setting == "1" else "native",
        # the size every grey image should have (an image kept in colour is not checked: a
        # photograph); one state for auto and 3, whose rows are the same
        expected_side=expected_side(cfg, layout, octa),
        fundus_crop=cfg.fundus_crop, graham=cfg.graham, graham_mask=cfg.graham_mask,
        graham_reflect_padding=bool(cfg.fundus_crop and cfg.graham),
        grey_is_chosen=setting == "1" and not octa)
    problems = []
    if cfg.graham and not cfg.fundus_crop:
        problems.append(note(layout.root, "--graham without --fundus-crop: the blur scale "
                                          "and the mask assume the fundus disc fills the image",
                             "add --fundus-crop unless the images are already cropped",
                             "preprocessing"))
    return Plan(sizes, names, grades_source, setting, source, options, modality), problems


def _fundus_options_on_octa(plan: Plan, layout: Layout, channels: int, root: Path,
                            cropped: tuple[int, int] = (0, 0)) -> list[Problem]:
    """A warning when the fundus photographs' preprocessing (``data.fundus_crop``,
    ``data.graham``) is on and the images are UW-OCTA (``data.modality=octa``, or grey images
    that ``auto`` reads as UW-OCTA): an OCTA scan has no dark surround around a disc, so the
    crop finds the whole frame or a part of it, the filter's ``4x`` contrast saturates its
    bright vessels and the ``0.9 r`` mask greys out the corners of a scan that has no disc
    (a review's measure on the 3 DRAC samples at 128 px: 14 % of the cached pixels saturated, 36 % of
    each scan masked). A
    warning, as the package's other mismatches of a recipe and the data
    (:mod:`drac_ssl.preflight`'s grey recipe on colour data); ``--strict`` makes it an error.
    ``cropped``: ``(k, n)``, ``k`` of the ``n`` decoded images whose crop to the disc cut the
    frame (:attr:`data_prep.cache.FileRecord.disc_cut`); when that is most of them the
    crop did find a disc on a dark surround, and the warning says the images look like grey
    fundus photographs (red-free) rather than that a scan has no disc."""
    if plan.resolved_modality(layout, channels) != "octa":
        return []
    options = [flag for flag, on in (("--fundus-crop", plan.options.fundus_crop),
                                     ("--graham", plan.options.graham)) if on]
    if not options:
        return []
    why = ("--modality octa" if plan.modality == "octa" else
           f"grey images{'' if layout.treated_as == 'plain' else ' in the ' + layout_name(layout.treated_as) + ' layout'} "
           "read as UW-OCTA under --modality auto")
    k, n = cropped
    if plan.options.fundus_crop and n and 2 * k > n:  # the crop found a disc on a dark surround
        return [warning(root, f"{' and '.join(options)} on images treated as UW-OCTA ({why}), yet the "
                              f"crop found a fundus disc on a dark surround in {k:,} of {n:,}: these look "
                              "like grey fundus photographs (red-free): add --modality fundus",
                        "add --modality fundus" + (" (not --modality octa)" if plan.modality == "octa" else "")
                        + f"; if they are UW-OCTA scans, drop {' and '.join(options)}", "preprocessing")]
    return [warning(root, f"{' and '.join(options)} (colour fundus photographs' preprocessing) on UW-OCTA "
                          f"images ({why}): a scan has no fundus disc on a dark surround, so the crop and "
                          "the Graham filter's 0.9-radius mask cut or grey out parts of it and the filter's "
                          "4x contrast saturates its bright vessels",
                    f"drop {' and '.join(options)} for UW-OCTA scans; if the images are grey fundus "
                    "photographs (red-free), add --modality fundus", "preprocessing")]


DRAC_EXPORT_SIDE = 1024
"""The side (px) of a DRAC 2022 UW-OCTA en-face export: what ``data.expected_side=-1`` (the
default) expects of the DRAC layout's grey images."""


def expected_side(cfg: DataConfig, layout: Layout, octa: bool) -> int:
    """The side (px) the ingest expects of every grey image, 0 for none: ``data.expected_side``
    when set (>= 0), else (-1) :data:`DRAC_EXPORT_SIDE` for the DRAC layout read as UW-OCTA
    (``octa``), and no expectation for any other layout. A plain folder of a clinic's OCTA
    scans is not held to DRAC's export size: its device has its own, often several (800 and
    1024 px for two scan areas), each as native as the other, so neither DRAC's size nor the
    size most images share tells a wrong image from a right one; the ingest notes the sizes
    of a grey set of several instead (:func:`_sizes_note`), and warns of a thumbnail or a crop
    (:func:`_small_images`) and of a non-square image whatever this is."""
    if cfg.expected_side >= 0:
        return int(cfg.expected_side)
    return DRAC_EXPORT_SIDE if octa and layout.treated_as == "drac" else 0


INFERRED_ICDR = ("inferred: the ICDR scale (icdr), as data.grades is not set and the label "
                 "CSV's grades run 0..4 in a plain folder of colour photographs")
"""The ``grades_source`` of an ingest whose scale :func:`infer_icdr` chose (``ingest_summary.json``
``grades.source``)."""


COLOUR_PEEK = 5
"""The labelled images :func:`infer_icdr` peeks at to tell colour photographs: their headers,
and for a colour pixel format a thumbnail (:func:`_colour_by_header`), so that the preflight
decides as the ingest. It decodes no image but these: at most this many files of a colour
pixel format, each whole (the thumbnail takes every n-th pixel of the decoded file, as an
averaged or reduced decode spreads a thin overlay's colour)."""

COLOUR_THUMBNAIL = 256
"""The longer side (px), about, of the thumbnail :func:`_colour_by_header` measures of a colour
file: every n-th pixel of every n-th row of the decoded file (nearest neighbour; an average, a
JPEG's reduced DCT scale or ``Image.reduce``, spread a thin overlay's colour over more pixels)."""


def _colour_by_header(paths: Sequence[Path]) -> bool:
    """Whether one of ``paths`` is a colour picture: a colour pixel format by its header (PIL's
    mode: RGB, RGBA, CMYK, YCbCr) whose thumbnail (:data:`COLOUR_THUMBNAIL` px, converted to
    RGB) has colour in at least :data:`data_prep.decode.OVERLAY_SHARE` of its pixels
    (:func:`data_prep.decode.colour_share`, the ingest's test of its decoded images): an RGB
    file of a grey picture, or of one with a small coloured overlay, is grey, as the ingest
    finds it. A file that does not open or decode counts as not colour."""
    import numpy as np
    from PIL import Image

    from data_prep.decode import colour_share
    from drac_ssl.grading.image_notes import COLOUR_FILE_MODES

    for path in paths:
        try:
            with Image.open(path) as image:
                if image.mode not in COLOUR_FILE_MODES:
                    continue
                factor = max(1, max(image.size) // COLOUR_THUMBNAIL)
                # every factor-th pixel, not an average: averaging spreads a thin overlay's
                # colour over the thumbnail (a 1.2 % text overlay measured 2.5 %)
                small = np.asarray(image.convert("RGB"))[::factor, ::factor]
                if colour_share(small) >= OVERLAY_SHARE:
                    return True
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
    return False


def is_scale_problem(problem: Problem) -> bool:
    """Whether a label problem judges grades by the scale: outside 0..K-1, or 1-based."""
    return problem.kind == "grade" and (" outside {" in problem.what or "look 1-based" in problem.what)


ICDR_STRAYS_ALLOWED = 0.05
"""The share of a label CSV's graded rows (at least 2 rows) that may lie outside ICDR's 0..4
while :func:`infer_icdr` still infers the ICDR scale: a typo (5) or a spreadsheet total row
(``Gesamt;30``) among 0..4 grades is said by line on that scale, not as a 6-grade CSV, when
every ICDR grade has :data:`ICDR_STRAYS_EACH_GRADE` rows."""

ICDR_STRAYS_EACH_GRADE = 2
"""The rows each grade 0..4 needs for :func:`infer_icdr` to infer ICDR despite rows outside
it: a 3-grade CSV (0..2) with a typo 4 and a typo 7 keeps the default scale's error naming both
(inferred, the 7 alone was said and, once fixed, 5 grades trained with no grade 3)."""


def icdr_strays(table: LabelTable | None) -> list[LabelRow] | None:
    """The rows of ``table`` (read on ICDR's scale) whose whole-number grade is outside 0..4,
    when they are few (:data:`ICDR_STRAYS_ALLOWED`); None when more."""
    if table is None:
        return []
    graded = [(row, parse_grade(row.written)) for row in table.rows if row.written.strip()]
    numbers = [(row, g) for row, g in graded if g is not None]
    strays = [row for row, g in numbers if not 0 <= g <= 4]
    return strays if len(strays) <= max(2, int(ICDR_STRAYS_ALLOWED * len(numbers))) else None


def infer_icdr(cfg: DataConfig, layout: Layout, grade_names: Sequence[str],
               collected: tuple[list[ImageEntry], list[Problem], LabelTable | None,
                                list[tuple[LabelRow, Path | None]], list[LabelRow]],
               *, check_shared_names: bool = True
               ) -> tuple[tuple[list[ImageEntry], list[Problem], LabelTable | None,
                                list[tuple[LabelRow, Path | None]], list[LabelRow]], Problem] | None:
    """:func:`collect_images` again on the ICDR scale, and a note saying so, for a plain folder
    of fundus photographs whose grades are ICDR's: ``data.grades`` not set, the layout a plain
    folder (its default, DRAC's 3 grades: ``grade_names``), not said to be grey UW-OCTA
    (``data.modality`` not ``octa``, ``data.channels`` not 1), and the label CSV's grades on
    DRAC's scale fail only by being 3 or 4 (``collected``: the first reading's findings) while
    on ICDR's every one fits (or all but a few, :func:`icdr_strays`, when each grade 0..4 has
    :data:`ICDR_STRAYS_EACH_GRADE` rows), 0 and 4 among them (1..4 alone may be a 1-based 4-grade scale,
    0..3 alone a 4-grade one such as Messidor's, whose top grade ICDR would leave empty: the
    error stays), and the images colour (``data.modality=fundus``, ``data.channels=3``, or one
    of the first :data:`COLOUR_PEEK` labelled images a colour picture by its header and a
    thumbnail: :func:`_colour_by_header`, so that the preflight, which decodes no whole image,
    decides as the ingest: RGB files of grey pictures are grey to both). None otherwise. The ingest keeps DRAC's errors if the images then decode grey
    (a grey plain folder is read as UW-OCTA, whose scale is DRAC's). ``check_shared_names``:
    :func:`collect_images`' own, given as ``collected`` was read (the two readings' errors are
    compared by count leaving out names in both sets, which do not depend on the grade scale,
    so a caller whose two flags differ still gets the same answer)."""
    if (list(cfg.grades) or layout.treated_as != "plain" or cfg.modality == "octa"
            or str(cfg.channels) == "1" or tuple(grade_names) != GRADE_SCALES["drac"]):
        return None
    first = collected[1]
    if not any(is_scale_problem(p) for p in first):
        return None
    again = collect_images(cfg, layout, GRADE_SCALES["icdr"], check_shared_names=check_shared_names)
    strays = icdr_strays(again[2])
    if (any(is_scale_problem(p) for p in again[1]) and strays is None) or len(
            [p for p in again[1] if p.severity == "error" and p.kind != SHARED_NAME_KIND
             and not is_scale_problem(p)]) != len(
            [p for p in first if p.severity == "error" and not is_scale_problem(p)
             and p.kind != SHARED_NAME_KIND]):
        return None
    grades = Counter(e.label.grade for e in again[0] if e.label is not None and e.label.grade is not None)
    if not {0, 4} <= set(grades):  # 0..3 alone may be a 4-grade scale (Messidor's): the error stays
        return None
    if strays and min(grades[g] for g in range(5)) < ICDR_STRAYS_EACH_GRADE:
        return None  # 0..2 with a typo 4 and a 7: ICDR is no inference, every row outside is said
    if cfg.modality != "fundus" and str(cfg.channels) != "3" and not _colour_by_header(
            [e.path for e in again[0] if e.label is not None][:COLOUR_PEEK]):
        return None
    where = layout.labels_csv or layout.root
    if strays:  # a typo 5, a total row: said by line on the inferred scale, not as a 6-grade CSV
        inferred = "the ICDR scale inferred from the other rows"
        rows, them = ("the row", "it") if len(strays) == 1 else ("these rows", "them")
        total = " (a total row is no image's)" if any(total_row(row.name) for row in strays) else ""
        fix = (f"correct {rows} to {grade_words.choices(GRADE_SCALES['icdr'])}, or delete "
               f"{them}{total}; if the labels are not ICDR grades, give one name per grade: "
               "--grades \"NAME0,NAME1,...\"")
        again = (again[0], [dataclasses.replace(p, what=p.what.replace("the default scale", inferred),
                                                fix=fix)
                            if is_scale_problem(p) else p for p in again[1]], *again[2:])
        said = note(where, f"no --grades given and all but {counted(len(strays), 'row')} of the label CSV "
                           "have a grade within 0..4, each of 0..4 on "
                           f"{ICDR_STRAYS_EACH_GRADE} rows or more, in a plain folder read as "
                           "colour fundus photographs: the scale was inferred as the 5 ICDR grades "
                           f"({describe(GRADE_SCALES['icdr'])}), not the plain folder's default of "
                           "DRAC's 3; the rows outside it are said by line (a typo? a total row?)",
                    "correct or delete those rows; if these are not ICDR grades, set the scale: "
                    "--grades \"NAME0,NAME1,...\" with one name per grade", "grade-scale")
        return again, said  # type: ignore[return-value]
    said = note(where, "no --grades given and every grade of the label CSV is within 0..4, "
                       "0 and 4 among them, in a "
                       "plain folder read as colour fundus photographs: the scale was inferred as "
                       f"the 5 ICDR grades ({describe(GRADE_SCALES['icdr'])}), not the plain "
                       "folder's default of DRAC's 3",
                "nothing to do if these are ICDR grades; otherwise set the scale: --grades icdr "
                "to say so (and silence this note), or --grades \"NAME0,NAME1,...\" with one "
                "name per grade", "grade-scale")
    return again, said


# --------------------------------------------------------------------------------------
# The images of each layout


def collect_images(cfg: DataConfig, layout: Layout, grade_names: Sequence[str],
                   *, check_shared_names: bool = True
             ) -> tuple[list[ImageEntry], list[Problem], LabelTable | None,
                        list[tuple[LabelRow, Path | None]], list[LabelRow]]:
    """Images of both splits (manifest order) with their labels, the folder and label
    problems, the label CSV as read (its dialect and columns for the summary; None
    without one), the rows left out as ungradable with their images
    (``data.ungradable=leave_out``, :func:`data_prep.validate.leave_out_ungradable`: their
    images are in no split), and the rows left out because their image is nowhere
    (``data.missing=leave_out``, :func:`data_prep.validate.match_labels`). The preflight
    reads the data through this function too.

    ``check_shared_names``: say a name in both the training and the test set
    (:func:`data_prep.validate.names_in_both`, from the listing: contents not compared), as
    the preflight needs; the ingest passes False and checks the names once it has hashed the
    files, with their contents (``digests``), which tells a renamed test file from a copy.
    With False the problems returned hold no name-in-both-sets problem at all: the caller
    must run :func:`data_prep.validate.names_in_both` itself.

    ``cfg.referable_from`` > 0 (two grades made of ICDR labels): the labels are read on the ICDR
    scale (``grade_names`` aside: the two grades'), every check of the label CSV as for
    ``data.grades=icdr``, then each row's grade is made 0 or 1 (:func:`referable_row`, the ICDR
    grade kept as ``LabelRow.source_grade``), the rows of ``--missing leave_out`` too."""
    left_out: list[tuple[LabelRow, Path | None]] = []
    missing: list[LabelRow] = []
    n = cfg.referable_from
    if n:  # two grades made of ICDR labels: read on the ICDR scale, then mapped (referable_row)
        scale = GRADE_SCALES["icdr"]
        entries, problems, table, left_out, missing = collect_images(
            dataclasses.replace(cfg, referable_from=0, grades=list(scale)), layout, scale,
            check_shared_names=check_shared_names)
        read = [e.label.grade for e in entries if e.label is not None and e.label.grade is not None]
        read += [row.grade for row in missing if row.grade is not None]
        said = no_grade_at_or_above(read, n, layout.grade_column, layout.labels_csv or layout.root)
        problems = [referable_grade_problem(p, n) for p in problems] + ([said] if said is not None else [])
        for entry in entries:
            if entry.label is not None:
                entry.label = referable_row(entry.label, n)
        return entries, problems, table, left_out, [referable_row(row, n) for row in missing]
    if layout.npz is not None:
        entries, problems = _collect_npz(layout.npz, grade_names)
        return entries, list(layout.problems) + problems + site_without_labels(cfg, layout.npz), None, left_out, missing
    problems = list(layout.problems)
    train_images: list[Path] = []
    test_images: list[Path] = []
    not_read: list[Path] = []  # training-folder files reported as not read (x.webp)
    undecodable: list[Path] = []  # its names not valid UTF-8 (M\udcfcller_00.png)
    if layout.train_dir is not None:
        scan = scan_image_folder(layout.train_dir, skip=layout.skip, nested=layout.nested)
        train_images, problems = scan.images, problems + scan.problems
        not_read, undecodable = scan.not_read, scan.undecodable
    if layout.test_dir is not None:
        scan = scan_image_folder(layout.test_dir)
        test_images, problems = scan.images, problems + test_folder_problems(scan.problems)
        problems += test_case_name_problems(test_images, layout.test_dir)
        problems += drac_test_count_note(layout, len(test_images))
    labels: dict[Path, LabelRow] = {}
    table: LabelTable | None = None
    # an empty training folder beside a label CSV is read too (its images one folder too deep,
    # Kaggle's train/train/): each row then says where its image is; a plain root with no image
    # at all gets the no-images stop instead, which names the subfolder as the likely root
    if layout.labels_csv is None:  # a folder per grade: no column to read a site from
        problems += site_without_labels(cfg, layout.root)
    if (layout.labels_csv is not None and layout.train_dir is not None
            and (train_images or test_images or layout.kind != "plain")):
        # the patient column: data.patient_column, else the one the layout owns (DeepDRiD's)
        table, table_problems = read_labels(layout.labels_csv, layout.image_column,
                                            layout.grade_column,
                                            cfg.patient_column or layout.patient_column,
                                            grade_names, cfg.ungradable, layout.eye_columns,
                                            layout.marked_ungradable, train_images,
                                            # --grades given: 'none' is never a grade it lacks
                                            scale_given=bool(list(cfg.grades)),
                                            layout_kind=layout.kind, n_folds=cfg.n_folds)
        if table is not None and cfg.site_column:
            table_problems += site_column_problems(table, cfg, layout.image_column, layout.grade_column)
        if any(p.kind == "patient" for p in table_problems):
            # a column that looks like a patient id, not passed: its warning names the fix, so
            # Messidor-2's note asking for a column of examinations is dropped (a trial's F7)
            problems = [p for p in problems if p != examination_note(layout)]
        problems += apply_strict(table_problems, cfg.strict)
        if table is not None and undecodable and (named := label_named_encoding(undecodable, table)):
            # a label row names such a file as read in one encoding: that one is convmv's -f
            renamed = dict(zip(undecodable_problems(undecodable), undecodable_problems(undecodable, named),
                               strict=True))
            problems = [renamed.get(p, p) for p in problems]
        if table is not None:
            # a row written twice exactly: one kept, a warning; any other repeat is an error
            table, repeated = drop_repeated_rows(table, layout.kind, cfg.site_column)
            problems += apply_strict(repeated, cfg.strict)
            problems += (duplicate_label_rows(table, layout.kind, cfg.site_column, train_images)
                         + same_image_rows(train_images, table))
            # data.ungradable=leave_out: the rows with no grade and their images go before matching
            train_images, left_out, left_out_problems = leave_out_ungradable(train_images, table)
            problems += left_out_problems
            labels, match_problems, missing = match_labels(train_images, table, layout.train_dir,
                                                           not_read=not_read, missing=cfg.missing,
                                                           nested=layout.nested,
                                                           stem_ids=layout.stem_ids)
            problems += match_problems
            if not train_images and table.rows:  # the graded rows (the ungradable are apart)
                problems.append(no_training_images(layout.labels_csv, layout.train_dir,
                                                   table.rows_written))
    if test_images and layout.test_list_csv is not None and layout.test_dir is not None:
        names, list_problems = read_name_list(layout.test_list_csv, layout.image_column)
        problems += list_problems
        if names is not None:
            problems += check_test_list(test_images, names, layout.test_list_csv, layout.test_dir)
    if check_shared_names:
        problems += names_in_both(train_images, test_images, allowed=layout.shared_test_names,
                                  row_names=label_row_names(table), eye_pairs=eye_pairs(cfg, layout))
    train = sorted(train_images, key=lambda p: natural_key(p.name))
    test = sorted(test_images, key=lambda p: natural_key(p.name))
    entries = [ImageEntry(p, relative(p, layout.root), "train", labels.get(p)) for p in train]
    entries += [ImageEntry(p, relative(p, layout.root), "test") for p in test]
    return entries, problems, table, left_out, missing


TEST_CASE_NAME_KIND = "test-case-name"
"""The :class:`Problem` kind of a test image whose file name cannot be a case of the
submission (:func:`test_case_name_problems`)."""


def empty_image_files(entries: Sequence[ImageEntry]) -> list[Problem]:
    """The ingest's error for each image file of ``entries`` (:class:`data_prep.ingest
    .ImageEntry`, listed, not opened) that holds 0 bytes (``empty file (0 bytes)``, kind
    ``empty``, as :func:`data_prep.decode.decode` says it), found by one ``stat`` per file, so
    that the preflight (and :func:`run`, before it decodes anything) names it before the set is decoded; array rows
    (MedMNIST's ``.npz``) and files that cannot be stat'ed (the ingest's to say) are skipped.
    A named pipe, socket or device (0 bytes by its stat, and reading it would wait forever)
    is ``not a regular file (a named pipe)``, kind ``not-regular``, as the export says it
    (:func:`drac_ssl.grading.image_file.not_regular_words`; security review F5)."""
    from drac_ssl.grading.image_file import not_regular_words

    found = []
    for entry in entries:
        if entry.array_row:  # a row of an array file, not a file of its own
            continue
        try:
            st = entry.path.stat()
        except OSError:
            continue
        if (special := not_regular_words(st.st_mode)) is not None:
            found.append(error(entry.path, special, f"replace it with the image file itself, or {MOVE_OUT}",
                               "not-regular"))
        elif st.st_size == 0:
            found.append(error(entry.path, "empty file (0 bytes)",
                               "re-copy the image from the original data", "empty"))
    return found


def test_folder_problems(problems: Sequence[Problem]) -> list[Problem]:
    """The test folder's listing ``problems`` (:func:`data_prep.layout.scan_image_folder`), a
    file that holds no image (``notes.txt``: :data:`data_prep.layout.NOT_AN_IMAGE_FILE`) a note
    instead of an error: it drops no test image, and the export grading that folder
    (``--images``) says it as a note too (:func:`drac_ssl.submission.read_folder`), in its fix's
    words. Errors still, as a test case may be missing: an image the ingest cannot read
    (``x.webp``); a name with no extension (a DICOM exported without one nor its preamble);
    an image's name with one more suffix (``161.png.crdownload``, ``.part``, ``.gz``: a download
    not finished, a compressed copy), said so by the listing itself."""
    from drac_ssl.submission import NOT_AN_IMAGE_FIX

    found = []
    for p in problems:
        if p.severity != "error" or not p.what.startswith(NOT_AN_IMAGE_FILE):
            found.append(p)
            continue
        if not Path(p.path).suffix:  # no extension: maybe a test image (a DICOM without its preamble)
            found.append(p)
        else:
            found.append(dataclasses.replace(p, severity="note", fix=NOT_AN_IMAGE_FIX))
    return found


DRAC_TEST_COUNT_KIND = "drac-test-count"
"""The :class:`Problem` kind of :func:`drac_test_count_note`."""


def drac_test_count_note(layout: Layout, n_test: int) -> list[Problem]:
    """A note when the testing folder of a DRAC layout holds ``n_test`` images (at least one),
    not the :data:`drac_ssl.challenge.DRAC_TEST_IMAGES` (386) of DRAC 2022 Task 3's testing
    set (docs/drac.md): a subset is a fair choice (a trial, a few images graded), so the ingest
    goes on, but the export's ``submission.csv`` will then lack cases, and a submission missing
    one is invalid. None for another layout, and for the phantom set's own folder (its
    ``data.phantom_n_test`` is what was asked for)."""
    from drac_ssl.challenge import DRAC_TEST_IMAGES

    if (layout.kind != "drac" or layout.test_dir is None or not n_test or n_test == DRAC_TEST_IMAGES
            or (layout.root / PHANTOM_MANIFEST).is_file()):
        return []
    gap = (f"{DRAC_TEST_IMAGES - n_test} fewer" if n_test < DRAC_TEST_IMAGES
           else f"{n_test - DRAC_TEST_IMAGES} more")
    return [note(layout.test_dir, f"{counted(n_test, 'test image')}, not the {DRAC_TEST_IMAGES} of DRAC 2022 "
                                  f"Task 3's testing set ({gap}): read as given",
                 "a subset is fine for a trial; for a challenge submission (one row per test image, a "
                 "missing case makes it invalid) copy the whole testing set here (unzip "
                 "DRAC2022_Testing_Set.zip again) and run the ingest again", DRAC_TEST_COUNT_KIND)]


def test_case_name_problems(test_images: Sequence[Path], test_dir: Path) -> list[Problem]:
    """An error for each test image whose file name cannot be a case of the submission
    (:func:`drac_ssl.submission.case_name_problem`: empty, white space at either end, a comma,
    quote or line break, a first ``= + - @``): the export writes each test image's file name
    as its case and refuses such a name, after the whole training; the ingest says it first,
    with the file, why, and a name to rename it to that no other file of ``test_dir`` has
    (:func:`drac_ssl.submission.safe_case_name`). The training images' names are no cases
    (their grades come from the label CSV), so only the test split's are checked."""
    from drac_ssl.submission import case_name_problem, safe_case_name

    try:
        taken = [p.name for p in test_dir.iterdir()]
    except OSError:
        taken = [p.name for p in test_images]
    found = []
    for path in test_images:
        if (why := case_name_problem(path.name)) is not None:
            safe = safe_case_name(path.name, taken)
            taken.append(safe)
            found.append(error(path, f"test image name {path.name!r} {why}; the export writes each "
                                     f"test image's file name as its case and would refuse it after "
                                     f"training", f"rename it, e.g. to {safe!r}, and run the ingest "
                                     f"again", TEST_CASE_NAME_KIND))
    return found


def no_training_images(labels_csv: Path, train_dir: Path, n_rows: int) -> Problem:
    """The error of a label CSV of ``n_rows`` rows as written (repeats and ungradable rows
    included: :attr:`data_prep.validate.LabelTable.rows_written`) beside a training folder holding no
    image (kind ``no-training-images``): never a manifest without a training image. The fix
    names the subfolder(s) holding the images when there are any (Kaggle's zip unpacks
    ``train.zip`` into ``train/train/``; IDRiD's into ``a. Training Set/a. Training Set/``),
    with the command that moves them up; else where the training images go."""
    subs = image_subfolders(train_dir)
    if len(subs) == 1:
        sub, n = subs[0]
        fix = (f"its images are one folder too deep, in {sub}: move them up into {train_dir} "
               f"({counted(n, 'image')}) with: {move_up_command(sub, train_dir)} and run again")
    elif subs:
        named = ", ".join(f"{sub.name}/" for sub, _ in subs[:3]) + (
            f" and {len(subs) - 3} more" if len(subs) > 3 else "")
        fix = (f"its images are in {len(subs)} subfolders ({named}), and images are not searched "
               f"in subfolders: move them up into {train_dir} and run again")
    else:
        fix = (f"put the training images in {train_dir} (is the training set unzipped there?), "
               "or point --root at the folder that holds them")
    return error(labels_csv, f"the label CSV has {n_rows} rows but 0 training images were found "
                             f"in {train_dir}", fix, "no-training-images")


def move_up_command(sub: Path, folder: Path) -> str:
    """The shell command that moves everything in ``sub`` (a subfolder of ``folder``) up into
    ``folder`` and removes ``sub``: works at any number of files (no ``*``, which a shell
    expands into 'Argument list too long' for a full EyePACS download of 35,126 files), takes
    hidden files (a ``.DS_Store``) along, and runs on GNU and BSD/macOS alike (no ``mv -t``).
    When ``sub`` is ``folder``'s only entry, ``folder`` is renamed aside and ``sub`` renamed
    into its place (three renames, instant); else one ``mv`` per entry via ``find -exec``.
    Paths are quoted for a POSIX shell."""
    q = shlex.quote
    try:
        entries = list(folder.iterdir())
    except OSError:
        entries = []
    if entries == [sub]:
        aside = folder.with_name(f"{folder.name}.old")
        i = 2
        while aside.exists():
            aside, i = folder.with_name(f"{folder.name}.old{i}"), i + 1
        return (f"mv {q(str(folder))} {q(str(aside))} && mv {q(str(aside / sub.name))} "
                f"{q(str(folder))} && rmdir {q(str(aside))}")
    return (f"find {q(str(sub))} -mindepth 1 -maxdepth 1 -exec mv {{}} {q(str(folder))}/ \\; "
            f"&& rmdir {q(str(sub))}")


def pool_folders(cfg: DataConfig) -> tuple[list[Path], list[Problem]]:
    """The ``data.unlabelled`` folders (absolute, :func:`readable_absolute`), each once in the
    order given: a folder given twice (``pool3`` and ``pool3/``, a link to it) is read once, with a
    note naming both spellings (its images would otherwise be 'copies' of themselves)."""
    folders: list[Path] = []
    seen: dict[Path, str] = {}
    problems: list[Problem] = []
    for text in cfg.unlabelled:
        folder = readable_absolute(text)
        try:
            key = folder.resolve()
        except (OSError, RuntimeError):
            key = folder
        if key in seen:
            problems.append(note(folder, f"--unlabelled folder given twice (as {seen[key]} and {text}): "
                                         "read once", f"give --unlabelled {seen[key]} once", "unlabelled"))
            continue
        seen[key] = str(text)
        folders.append(folder)
    return folders, problems


def collect_unlabelled(cfg: DataConfig, root: Path) -> tuple[list[ImageEntry], list[Problem]]:
    """The images of the ``data.unlabelled`` folders (``--unlabelled``), in the order given,
    each folder's in natural name order: split ``unlabelled``, no label, no fold. Their case
    id is ``FOLDER/NAME`` (the folder's name; ``i-FOLDER/NAME`` when two folders share a
    name), so that they never collide with a training or test id. A folder that is missing
    or not a folder is fatal; its listing is checked as an image folder's
    (:func:`data_prep.layout.scan_image_folder`)."""
    folders, problems = pool_folders(cfg)
    base = root if root.is_dir() else root.parent  # a MedMNIST root is the .npz file itself
    repeated = {f.name for f in folders if sum(g.name == f.name for g in folders) > 1}
    entries: list[ImageEntry] = []
    for i, folder in enumerate(folders):
        if not folder.is_dir():
            problems.append(error(folder, f"--unlabelled folder {i + 1} of {len(folders)} "
                                          f"{'is not a folder' if folder.exists() else 'does not exist'}",
                                  "point --unlabelled at a folder of images without grades, or "
                                  "leave it out", "unlabelled"))
            continue
        scan = scan_image_folder(folder)
        problems += scan.problems
        if not scan.images and not any(p.severity == "error" for p in scan.problems):
            problems.append(warning(folder, "--unlabelled folder holds no image", "point "
                                    "--unlabelled at the folder that holds the images",
                                    "unlabelled"))
        prefix = f"{i + 1}-{folder.name}" if folder.name in repeated else folder.name
        entries += [ImageEntry(p, relative(p, base), UNLABELLED, name=f"{prefix}/{p.name}",
                               origin=UNLABELLED)
                    for p in sorted(scan.images, key=lambda p: natural_key(p.name))]
    return entries, problems


def _listing_skip(problem: Problem) -> bool:
    """Whether ``problem`` is a note of an entry a folder's listing skipped
    (:func:`data_prep.layout.scan_image_folder`: a hidden file, a subfolder), counted in the
    folder's ``skipped``; not another note (a folder given twice, :func:`pool_folders`)."""
    return problem.severity == "note" and (problem.kind == "hidden"
                                           or problem.what.startswith("subfolder ignored"))


def _pool_subfolder(problem: Problem, cfg: DataConfig) -> bool:
    """Whether ``problem`` is the 'subfolder ignored' note of a folder of the image folder
    that is a ``data.unlabelled`` folder (an image without a label row moved there, as its fix
    says, to be pretrained on): read as the pool, not to be moved up."""
    return (problem.severity == "note" and problem.what.startswith("subfolder ignored")
            and readable_absolute(problem.path) in {readable_absolute(t) for t in cfg.unlabelled})


def _pool_dropped(out: Path, cfg: DataConfig) -> list[Problem]:
    """A warning when the earlier ingest in ``out`` pooled ``--unlabelled`` folders that this
    one's settings leave out (a trial ingested with ``--unlabelled`` by hand, then ran
    ``python -m drac_ssl.train`` without ``data.unlabelled`` into the same folder: 300 images
    left the pool without a word); [] otherwise."""
    try:
        summary = json.loads((out / SUMMARY_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(summary, dict):
        return []
    before = [str(d) for d in summary.get("unlabelled_dirs") or ()]
    n_before = ((summary.get("counts") or {}).get("per_split") or {}).get(UNLABELLED) or 0
    now = {readable_absolute(t) for t in cfg.unlabelled}
    # both sides clean: a folder recorded as written (pool/../pool2) is the same folder
    gone = [d for d in before if readable_absolute(d) not in now]
    if not gone or not n_before:
        return []
    return [warning(out / SUMMARY_NAME, f"the earlier ingest here pooled {n_before} ungraded "
                    f"image(s) from --unlabelled {', '.join(before)}; these settings leave out "
                    f"{', '.join(gone)}",
                    f"add --unlabelled {gone[0]} to keep {'it' if len(gone) == 1 else 'them'}"
                    + (" (and the others)" if len(gone) > 1 else ""), "unlabelled")]


def _pool_folder_counts(cfg: DataConfig, pool: Sequence[ImageEntry], entries: Sequence[ImageEntry],
                       skipped: Counter[str]) -> list[dict[str, object]]:
    """Each ``data.unlabelled`` folder's counts, for ``ingest_summary.json``
    (``unlabelled_folders``) and ``report.md``: ``dir`` (absolute), ``kept`` (its images in the
    pool), ``copies`` (its images left out by :func:`_pool_copies`: ``pool``, the images listed,
    less those still in ``entries``), ``skipped`` (what its listing ignored: subfolders,
    hidden files; ``skipped`` counts them by folder)."""
    kept = Counter(e.path.parent for e in entries if e.split == UNLABELLED)
    listed = Counter(e.path.parent for e in pool)
    counts: list[dict[str, object]] = []
    for folder in pool_folders(cfg)[0]:
        counts.append({"dir": str(folder), "kept": kept[folder], "copies": listed[folder] - kept[folder],
                       "skipped": skipped[str(folder)]})
    return counts


POOL_SHARE_NOTE = 10
"""Above this many ungraded images (``data.unlabelled``) per graded one the ingest says so
(:func:`_pool_share_note`)."""


def _pool_share_note(entries: Sequence[ImageEntry]) -> list[Problem]:
    """A note when the ``data.unlabelled`` pool (after :func:`_pool_copies`) holds more than
    :data:`POOL_SHARE_NOTE` times as many images as the graded (training and test) images: a
    pretraining epoch goes over the whole pool, so it takes that much longer, and the
    graded images are then a small part of what the encoder learns from; [] otherwise."""
    n_pool = sum(1 for e in entries if e.split == UNLABELLED)
    graded = [e for e in entries if e.split != UNLABELLED]
    if not graded or n_pool <= POOL_SHARE_NOTE * len(graded):
        return []
    pool_dir = next(e.path.parent for e in entries if e.split == UNLABELLED)
    return [note(pool_dir, f"the --unlabelled pool holds {n_pool:,} images, "
                           f"{n_pool / len(graded):.0f}x the {len(graded):,} graded (training and test) "
                           f"images: each pretraining epoch goes over all of them (that much longer "
                           f"than the graded images alone), and the encoder learns mostly from the pool",
                 "nothing to do if the pool is of the same kind of images as the graded ones; "
                 "pretrain.epochs counts passes over the whole pool, so fewer epochs may do", "unlabelled")]


POOL_COPIES_SHOWN = 3
"""The pairs (pool image = graded or test image) a note of :func:`_pool_copies` names."""


def _copy_keys(entry: ImageEntry) -> list[str]:
    """What makes two images one for :func:`_pool_copies`, :func:`identical_content` and
    :func:`names_in_both`: :func:`data_prep.copies.copy_keys` of the file's bytes' and decoded
    pixels' hashes (the pretraining's rule too)."""
    return copy_keys(entry.record.sha256, entry.record.pixels_sha256)


def _pool_copies(entries: list[ImageEntry]) -> tuple[list[Problem], list[str]]:
    """Leave out (from ``entries``, in place) each ``unlabelled`` image that is a copy of a
    test image, of a training image or of an earlier image of the pool (the same file bytes,
    or the same decoded pixels in another file: :func:`_copy_keys`), so that
    ``pretrain.use_test_images=false`` keeps every test picture out of the pretraining and no
    image is pretrained on twice (the DRAC tasks' folders share scans). One note for the copies
    of test images and one for the others say how many and name the first pairs
    (:data:`POOL_COPIES_SHOWN`). Returns the notes and the copies' paths (manifest-style:
    relative to the root, or to the folder of a MedMNIST ``.npz``), which
    ``ingest_summary.json`` keeps so that a resume's data check (:mod:`data_prep.source_check`)
    does not take them for added images. A near copy (a JPEG re-encoding, a resize) is not one
    here: :func:`_twins_across_splits` looks for those with ``data.near_duplicate_mse`` > 0."""
    tests: dict[str, ImageEntry] = {}
    graded: dict[str, ImageEntry] = {}
    for entry in entries:
        if entry.split != UNLABELLED:
            for key in _copy_keys(entry):
                (tests if entry.split == "test" else graded).setdefault(key, entry)
    earlier: dict[str, ImageEntry] = {}
    of_test: list[tuple[ImageEntry, ImageEntry]] = []
    others: list[tuple[ImageEntry, ImageEntry]] = []
    kept: list[ImageEntry] = []
    for entry in entries:
        keys = _copy_keys(entry) if entry.split == UNLABELLED else []
        # a test image first: its copy is the one that matters to pretrain.use_test_images
        first = next((found[k] for found in (tests, graded, earlier) for k in keys if k in found), None)
        if first is not None:
            (of_test if first.split == "test" else others).append((entry, first))
            continue
        for key in keys:
            earlier.setdefault(key, entry)
        kept.append(entry)
    entries[:] = kept
    found: list[Problem] = []

    def pairs(copies: list[tuple[ImageEntry, ImageEntry]], with_split: bool) -> str:
        return "; ".join(f"{e.path} = {f.display}{f' ({f.split})' if with_split else ''}"
                         f"{'' if e.record.sha256 == f.record.sha256 else ', same pixels'}"
                         for e, f in copies[:POOL_COPIES_SHOWN])

    for copies, of_what, so_that, with_split in (
            (of_test, "a test image", "so that the test images stay out of the pretraining with "
             "pretrain.use_test_images=false", False),
            (others, "a training or an earlier unlabelled image", "so none is pretrained on twice", True)):
        if copies:
            found.append(note(copies[0][0].path.parent, f"{counted(len(copies), 'image')} of the "
                              f"--unlabelled folders left out: the same picture as {of_what} "
                              f"(byte-identical, or the same pixels in another file), {so_that} "
                              f"(e.g. {pairs(copies, with_split)})", "nothing to do", "unlabelled"))
    return found, [e.rel for e, _ in of_test + others]


def _npz_labels(npz: Path, split: str, labels: np.ndarray, n: int,
                grade_names: Sequence[str]) -> tuple[list[int | None], list[Problem]]:
    where = f"{npz}:{split}_labels"
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or len(labels) != n:
        return [None] * n, [error(where, f"shape {labels.shape} does not fit {counted(n, 'image')} (one "
                                         "grade per image expected; a multi-label set is not "
                                         "a grading set)", "use a MedMNIST grading set such as "
                                                           "RetinaMNIST", "npz")]
    if labels.dtype.kind not in "iu" and not (labels.dtype.kind == "f"
                                              and np.all(np.mod(labels, 1) == 0)):
        return [None] * n, [error(where, f"labels of type {labels.dtype} are not integer grades",
                                  "store integer grades", "npz")]
    values = labels.astype(np.int64)
    bad = np.flatnonzero((values < 0) | (values >= len(grade_names)))
    if len(bad):
        first = grade_problem(where, f"row {int(bad[0])}", str(int(values[bad[0]])),
                              int(values[bad[0]]), grade_names, set(values.tolist()))
        assert first is not None
        listed = ", ".join(str(int(v)) for v in sorted(set(values[bad].tolist()))[:8])
        return [None] * n, [dataclasses.replace(
            first, what=f"{len(bad)} label(s) outside 0..{len(grade_names) - 1} (values {listed}; "
                        f"first: row {int(bad[0])}); the grade scale (--grades) has {len(grade_names)} grades: "
                        f"{describe(grade_names)}")]
    return [int(v) for v in values], []


def read_npz_arrays(npz: Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``npz``, by name. IngestError naming the file when it
    is no readable ``.npz``: a truncated download (``zipfile.BadZipFile``, a member cut short:
    ``zlib.error``, ``EOFError``), a ``.npy`` saved under an ``.npz`` name (``np.load`` gives an
    array, not an archive), a pickled or otherwise damaged member (``ValueError``, ``OSError``)."""
    fix = "re-download it (MedMNIST's file, e.g. retinamnist.npz)"
    try:
        loaded = np.load(npz, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded as archive:
                return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
        raise IngestError(f"{npz}: not a readable .npz (incomplete download?): "
                          f"{type(exc).__name__}: {exc} -> {fix}") from None
    # one array: a .npy saved under a .npz name
    kind = (f"one {loaded.dtype} array of shape {loaded.shape}" if isinstance(loaded, np.ndarray)
            else type(loaded).__name__)
    raise IngestError(f"{npz}: not a readable .npz (incomplete download?): it holds {kind}, not "
                      f"an archive of named arrays (a .npy file renamed .npz?) -> {fix}")


def _collect_npz(npz: Path, grade_names: Sequence[str]) -> tuple[list[ImageEntry], list[Problem]]:
    """The rows of a MedMNIST ``.npz``: ``{split}_images`` (+ ``{split}_labels``) per split.
    IngestError for a file that is no readable ``.npz`` (:func:`read_npz_arrays`)."""
    arrays = read_npz_arrays(npz)
    problems: list[Problem] = []
    entries: list[ImageEntry] = []
    found = [s for s in MEDMNIST_SPLITS if f"{s}_images" in arrays]
    if not found:
        raise IngestError(f"{npz}: no train_images / val_images / test_images arrays (it holds "
                          f"{', '.join(arrays) or 'nothing'}) -> use a MedMNIST .npz file")
    for split in found:
        images = arrays[f"{split}_images"]
        where = f"{npz}:{split}_images"
        if images.dtype != np.uint8 or images.ndim not in (3, 4) or (
                images.ndim == 4 and images.shape[3] not in (1, 3)):
            problems.append(error(where, f"{images.dtype} array of shape {images.shape}; expected "
                                         "uint8 (N, H, W) or (N, H, W, 3)",
                                  "use the MedMNIST .npz as distributed", "npz"))
            continue
        labelled = split != "test"
        grades: list[int | None] = [None] * len(images)
        if labelled and f"{split}_labels" not in arrays:
            problems.append(error(npz, f"{split}_images without {split}_labels",
                                  "use the MedMNIST .npz as distributed", "npz"))
            continue
        if labelled:
            grades, label_problems = _npz_labels(npz, split, arrays[f"{split}_labels"],
                                                 len(images), grade_names)
            problems += label_problems
        elif "test_labels" in arrays:
            problems.append(note(npz, "test_labels present but not used: the test split is "
                                      "ingested unlabelled (score it yourself)", "nothing to do",
                                 "npz"))
        for i, grade in enumerate(grades):
            name = f"{split}_{i:04d}.png"
            label = LabelRow(name, grade, "", i) if labelled else None
            entries.append(ImageEntry(npz, array_row_path(npz.name, f"{split}_images", i),
                                      "train" if labelled else "test", label, name=name,
                                      origin=split))
    return entries, problems


def _grade_words(entry: ImageEntry, table: LabelTable | None) -> str:
    """``'3 (labels.csv line 2)'``: the entry's grade and its label row, for a message naming
    copies with conflicting grades; '' for an image without one."""
    label = entry.label
    if label is None or label.grade is None:
        return ""
    where = f"{table.path.name} line {label.line}" if table is not None and label.line else ""
    return f"{label.grade}" + (f" ({where})" if where else "")


def _load_records(entries: Sequence[ImageEntry], previous: cache.CacheState,
                  plan: Plan, workers: int, npz: Path | None, spill: cache.RowSpill | None = None) -> None:
    """Fill ``entry.record``: reuse files whose size, mtime and identity are unchanged
    (:func:`_reused`; or, when they changed, whose sha256 is the same), from the finished cache (``previous``) or else from the
    rows a resumable ``spill`` kept from an interrupted or failed run
    (:meth:`data_prep.cache.RowSpill.take`, the same rule); process the rest (their new rows go
    to ``spill`` when given)."""
    if npz is not None:  # array rows: cheap, always recomputed in this process
        with np.load(npz, allow_pickle=False) as archive:
            for split in MEDMNIST_SPLITS:
                chosen = [e for e in entries if e.origin == split]
                if chosen:
                    records = cache.process_array_rows(
                        archive[f"{split}_images"], [e.rel for e in chosen],
                        [e.display for e in chosen], plan.sizes, plan.options, spill)
                    for entry, record in zip(chosen, records, strict=True):
                        entry.record = record
        entries = [e for e in entries if e.split == UNLABELLED]  # data.unlabelled: files
    resumable = spill is not None and spill.resumable
    pending: list[tuple[ImageEntry, cache.FileTask]] = []
    stats = []
    for entry in entries:
        try:
            stats.append(entry.path.stat())
        except OSError:
            stats.append(None)  # the worker reports why it cannot be read
    if resumable:  # the images not in the finished cache: what the interrupt line counts
        wanted = [e.rel for e, st in zip(entries, stats, strict=True)
                  if not _reused(previous.files.get(e.rel), st)]
        spill.want(wanted, reused=len(entries) - len(wanted))
    for entry, stat in zip(entries, stats, strict=True):
        old = previous.files.get(entry.rel)
        if _reused(old, stat):
            entry.record = old
            continue
        kept = (spill.take(entry.rel, stat.st_size, stat.st_mtime_ns, identity=(stat.st_ino, stat.st_ctime_ns))
                if resumable and stat else None)
        if kept is not None:
            entry.record = kept
            continue
        # the kept rows are newer than the finished cache: their sha256 is the one to compare
        # first, once their rows are read back whole (kept_sha256)
        known = (spill.kept_sha256(entry.rel) if resumable else "") or (old.sha256 if old is not None else "")
        pending.append((entry, cache.FileTask(str(entry.path), entry.rel, tuple(plan.sizes),
                                              known, plan.options)))
    results = cache.process_files([task for _, task in pending], workers, spill)
    again: list[tuple[ImageEntry, cache.FileTask]] = []
    for (entry, task), record in zip(pending, results, strict=True):
        old = previous.files.get(entry.rel)
        if not record.decoded and record.sha256 and resumable and \
                (kept := spill.take(entry.rel, record.size, None, record.sha256)) is not None:
            record = dataclasses.replace(kept, size=record.size, mtime_ns=record.mtime_ns,
                                         identity=record.identity)
        elif not record.decoded and record.sha256 and old is not None and record.sha256 == old.sha256:
            # the stat read now is what the state keeps: the next run reuses it unread
            record = dataclasses.replace(old, size=record.size, mtime_ns=record.mtime_ns,
                                         identity=record.identity)
        elif not record.decoded and record.sha256:
            # its hash was the one known, but neither the kept rows (damaged since they were
            # checked, or dropped) nor the finished cache give its rows: decode it after all
            again.append((entry, dataclasses.replace(task, known_sha256="")))
        entry.record = record
    if again:
        for (entry, _), record in zip(again, cache.process_files([t for _, t in again], workers, spill),
                                      strict=True):
            entry.record = record


def _reused(old: cache.FileRecord | None, stat: os.stat_result | None) -> bool:
    """Whether a file's record ``old`` of the finished cache is reused without reading the file:
    its byte count, mtime and identity (``(st_ino, st_ctime_ns)``) are the recorded ones, the
    rule of the kept rows (:meth:`data_prep.cache.RowSpill.take`). Size and mtime alone do not
    tell a file replaced by another of the same size and mtime (``cp -p``, ``rsync -a``, an
    archive's extraction keep mtimes; a fixed-size TIFF or BMP re-export keeps the size): its
    new inode or ctime does. Otherwise the file is read and hashed (``known_sha256``), and
    decoded only when its hash differs. A record without identity (a state written before it
    was kept) is read and hashed once, not trusted: the state then records it."""
    return old is not None and stat is not None and old.identity is not None and \
        (old.size, old.mtime_ns, *old.identity) == (stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns)


def _redecode_lost_colour(entries: Sequence[ImageEntry], previous: cache.CacheState, channels: int,
                          plan: Plan, workers: int, spill: cache.RowSpill | None) -> None:
    """Decode again the colour images whose rows would be reused from a grey cache that now
    becomes colour (a review: grey labelled images under ``channels=auto`` made the cache grey
    and a colour ``data.unlabelled`` pool was converted; a rerun with ``channels=3`` replicated
    those grey rows instead of the colour a fresh ingest keeps)."""
    if channels != 3 or previous.channels != 1:
        return
    lost = [e for e in entries if e.record is not None and e.record.colour
            and e.record.resized is None and e.record.spill_row < 0 and e.record.sha256]
    if not lost:
        return
    tasks = [cache.FileTask(str(e.path), e.rel, tuple(plan.sizes), "", plan.options) for e in lost]
    for entry, record in zip(lost, cache.process_files(tasks, workers, spill), strict=True):
        entry.record = record


def _resolve_channels(entries: Sequence[ImageEntry], plan: Plan,
                      where: Path) -> tuple[int, str, list[Problem]]:
    """The cache's channels (1 or 3), why, and what that means for the images (said once)."""
    # images that decoded: a truncated or corrupt file (an error of its own) is neither grey nor colour
    decoded = [e for e in entries if e.record.sha256
               and not any(issue[2] == "error" for issue in e.record.issues)]
    colour = [e for e in decoded if e.record.colour]
    grey = [e for e in decoded if not e.record.colour]
    overlaid = [e for e in colour if _overlaid(e.record)]
    if plan.channels_setting == "1":
        return 1, f"1 ({plan.channels_source})", _overlay_warning(overlaid, plan, where, 1, colour)
    if plan.channels_setting == "3":
        channels, why = 3, f"3 ({plan.channels_source})"
    else:
        # grey pictures with a coloured overlay are grey: a scale bar does not make a UW-OCTA
        # set colour fundus photographs
        channels = 3 if len(colour) > len(overlaid) else 1
        # colour-encoded files of grey pictures (an 8-bit RGB export among 16-bit grey ones)
        encoded = [e for e in grey if _encoding(e.record.mode) != "grey"]
        among = (f", {len(encoded)} of them in {'an ' if len(encoded) == 1 else ''}"
                 f"{_encoding(encoded[0].record.mode)} file{'s' if len(encoded) > 1 else ''}"
                 if encoded else "")
        overlays = (f"{', ' if encoded else ''}{len(overlaid)} with a coloured overlay"
                    if overlaid else "")
        why = (f"{channels} ({plan.channels_source} = auto: "
               f"{f'{len(colour) - len(overlaid)} colour image(s)' if channels == 3 else f'all images are grey{among}{overlays}'})")
    problems = _overlay_warning(overlaid, plan, where, channels, colour)
    if channels == 3 and plan.modality == "octa":
        problems.append(warning(
            where, f"--modality octa, but the cache is colour (channels {why}): UW-OCTA scans are grey",
            "pass --channels 1 to ingest the scans grey; or --modality fundus if these are "
            "colour fundus photographs", "channels"))
    if channels == 1 and plan.channels_setting != "1":
        # said as under data.channels=1, where the decoder converts them (and says so)
        problems += [note(e.display, f"{_encoding(e.record.mode)} image (converted to grayscale: "
                                     "channels identical, nothing lost)", "nothing to do", "channels")
                     for e in grey if _encoding(e.record.mode) != "grey"]
    if channels == 3 and grey:
        examples = ", ".join(e.image_id for e in grey[:3]) + (", ..." if len(grey) > 3 else "")
        problems.append(warning(
            where, f"{len(grey)} grey image(s) replicated to 3 identical channels ({examples}); "
                   f"the cache is RGB because of --channels {plan.channels_setting}"
                   + (f" and {len(colour)} colour image(s)" if colour else ""),
            "nothing to do if a grey image is meant; use --channels 1 for grey data. Grading: "
            # the labelled training images only: an image without a label row (an error of
            # its own) is no training image
            + _grey_grading_words(sum(1 for e in grey + overlaid if e.split == "train" and e.label is not None),
                                  sum(1 for e in decoded if e.split == "train" and e.label is not None)),
            "channels"))
    return channels, why, problems


def _overlaid(record: cache.FileRecord) -> bool:
    """Whether a colour ``record`` is a grey picture with a coloured overlay: its channels
    differ in some but under :data:`data_prep.decode.OVERLAY_SHARE` of its pixels
    (:func:`data_prep.colour_rule.is_overlay`; a record without the share, an array row or an
    older state's, is a colour picture)."""
    return is_overlay(record.colour, record.colour_share)


def _grey_picture(record: cache.FileRecord) -> bool:
    """Whether ``record`` is a grey picture: grey channels, or a grey picture with a coloured
    overlay (:func:`_overlaid`), as the grading counts the grey pictures a model saw
    (``ingest_summary.json``'s ``channels.grey_train``)."""
    return not record.colour or _overlaid(record)


def _overlay_warning(overlaid: Sequence[ImageEntry], plan: Plan, where: Path, channels: int,
                     colour: Sequence[ImageEntry] = ()) -> list[Problem]:
    """One warning for the grey pictures with a coloured overlay (a scale bar, text, a logo:
    :func:`_overlaid`) among the ``colour`` images (those overlaid included) in a cache of
    ``channels``: read as grey (1), the overlay stays in the image as grey pixels; kept in
    colour (3). A set that mixes them with colour photographs is told to be split (one
    ``--channels`` for all would grey the photographs or keep the scans in colour); records of
    an older cache, whose share was not measured (:func:`_overlaid`: counted as colour), are
    said so."""
    if not overlaid:
        return []
    examples = ", ".join(e.image_id for e in overlaid[:3]) + (", ..." if len(overlaid) > 3 else "")
    most = max(e.record.colour_share for e in overlaid)
    photos = [e for e in colour if not _overlaid(e.record)]
    unmeasured = sum(1 for e in photos if e.record.colour_share is None)
    older = (f"; {counted(unmeasured, 'colour record')} from an older cache "
             f"{'is' if unmeasured == 1 else 'are'} not measured (counted as colour): ingest into a "
             f"new --out to measure them" if unmeasured else "")
    said = plan.channels_setting == "1" and plan.modality == "octa"
    measured = len(photos) - unmeasured
    if measured:
        mixed = (f": the set mixes {counted(measured, 'colour photograph')} and grey scans and "
                 f"should be split")
        fix = ("split the set: ingest the grey scans apart with --channels 1 --modality octa and "
               "the colour photographs apart with --channels 3 --modality fundus (one --channels "
               "for all would read the photographs as grey, or keep the scans in colour); or "
               "export the scans without the overlay")
    else:
        mixed = ""
        fix = "export the scans without the overlay" + ("" if said else
              "; pass --channels 1 --modality octa to ingest them as grey UW-OCTA scans (or "
              "--channels 3 --modality fundus if they are colour photographs)")
    return [warning(
        where, f"{counted(len(overlaid), 'image')} {'is a grey picture' if len(overlaid) == 1 else 'are grey pictures'} "
               f"with a coloured overlay (a scale bar, text or logo: colour in at most {most:.1%} "
               f"of the pixels, under {OVERLAY_SHARE:.0%}; {examples}): "
               + ("read as grey, the overlay converted to grey pixels the model sees" if channels == 1
                  else "kept in colour, as the cache is RGB") + mixed + older, fix, "channels")]


def _grey_grading_words(grey: int, total: int) -> str:
    """What grading will do with a grey picture given to the colour model trained on ``grey``
    grey images among ``total`` labelled training images (the bundle records both:
    :func:`drac_ssl.grading.image_notes.grey_trained`)."""
    trained = f"{grey} of the {total} labelled training images {'is' if grey == 1 else 'are'} grey"
    if grey_trained_enough((grey, total)):
        return (f"the bundle grades a grey picture with a note that it is grey ({trained}; "
                f"{GREY_TRAINED_RULE})")
    return (f"the bundle grades a grey picture but marks it not reliably gradable ({trained}; "
            f"{GREY_TRAINED_RULE})")


def _pool_channels(entries: Sequence[ImageEntry], channels: int) -> list[Problem]:
    """A warning when ``data.unlabelled`` images are colour while the labelled and test images
    made the cache grey (``channels`` 1): they are converted to grey, and may not be the same
    kind of image; a note counting the grey pool images of a colour cache (``channels`` 3):
    replicated to three identical channels, as grey labelled ones are, and maybe of another
    kind (a UW-OCTA scan among fundus photographs); [] otherwise."""
    pool = [e for e in entries if e.split == UNLABELLED and e.record.sha256]
    colour = [e for e in pool if e.record.colour]
    grey = [e for e in pool if not e.record.colour]
    if channels == 3 and grey:
        examples = ", ".join(e.image_id for e in grey[:3]) + (", ..." if len(grey) > 3 else "")
        return [note(grey[0].path.parent, f"{counted(len(grey), 'grey image')} of the --unlabelled "
                     f"folders replicated to 3 identical channels, as the labelled images are colour "
                     f"({examples}): are they the same kind of image?",
                     "nothing to do if they are (a red-free photograph); else take them out of the "
                     "--unlabelled folder", "channels")]
    if channels != 1 or not colour:
        return []
    examples = ", ".join(e.image_id for e in colour[:3]) + (", ..." if len(colour) > 3 else "")
    return [warning(colour[0].path.parent, f"{counted(len(colour), 'colour image')} of the "
                    f"--unlabelled folders converted to grey, as the labelled images are grey "
                    f"({examples}): are they the same kind of image?",
                    "nothing to do if they are; else leave that folder out of --unlabelled",
                    "channels")]


def _upscale_note(entries: Sequence[ImageEntry], sizes: Sequence[int], where: Path) -> list[Problem]:
    sides = [max(e.record.width, e.record.height) for e in entries if e.record.width]
    if not sides or max(sizes) <= 2 * max(sides):
        return []
    return [note(where, f"cache size {max(sizes)} px enlarges the images (at most {max(sides)} px) "
                        f"{max(sizes) / max(sides):.0f}x: no detail is gained",
                 f"use cache sizes near {max(sides)} px (--cache-sizes) to save memory", "size")]


SIZES_SHOWN = 4
"""The image sizes :func:`_sizes_note` names (the most common first), then a count."""


def _decoded_sizes(entries: Sequence[ImageEntry]) -> list[tuple[str, int, int]]:
    """(name, width, height) of each decoded image of ``entries`` (px), in manifest order: what
    :func:`data_prep.validate.enlarged_images_note` counts."""
    return [(e.image_id, e.record.width, e.record.height) for e in entries
            if e.record.sha256 and e.record.width]


def _sizes_note(entries: Sequence[ImageEntry], sizes: Sequence[int], where: Path,
                octa: bool = True) -> list[Problem]:
    """One note naming the sizes of a set with no expected size (``data.expected_side`` 0, a
    plain folder's default) whose images come in several sizes. Of a grey (UW-OCTA, ``octa``)
    set: a device's own sizes (800 and 1024 px for two scan areas) are no fault, but the user
    sees what the cache resized, and ``--expected-side`` is named for a set that should have
    one size. Of colour photographs (not ``octa``; the ingest asks only of a plain folder, a
    known set's cameras making its several sizes): cameras' sizes are no fault either, but
    images pooled from several sources come at each source's size, which the resize hides and
    a model can learn (:func:`data_prep.validate.enlarged_images_note` says how much is
    enlarged). [] for one size (or none decoded)."""
    found = Counter((e.record.width, e.record.height) for e in entries
                    if e.record.sha256 and e.record.width)
    if len(found) < 2:
        return []
    shown = [f"{n} of {w}x{h} px" for (w, h), n in found.most_common(SIZES_SHOWN)]
    more = f" and {len(found) - SIZES_SHOWN} more sizes" if len(found) > SIZES_SHOWN else ""
    resized = (f"images of {len(found)} sizes ({', '.join(shown)}{more}), each resized to the cache "
               f"size{'s' if len(sizes) > 1 else ''} ({', '.join(f'{s} px' for s in sizes)})")
    if not octa:
        return [note(where, f"{resized}: photographs pooled from several sources come at each "
                            f"source's size, which a model can tell apart even when resized",
                     "nothing to do if your cameras export these sizes; if the sizes are "
                     "sources, check that each grade is spread over them", "size")]
    return [note(where, f"{resized}; no size is expected of them (--expected-side)",
                 "nothing to do if your device exports these sizes; --expected-side N warns of "
                 "each grey image that is not N x N px", "size")]


SMALL_SHARE = 4
"""An image whose longer side is at most 1/SMALL_SHARE of the set's median longer side is
said: among photographs of one kind such an image is most likely a thumbnail or a crop, and
the cache enlarges it many times (a 20 x 20 crop among 1024 px scans: 26x at 512 px)."""


def _small_images(entries: Sequence[ImageEntry], sizes: Sequence[int],
                  cfg: DataConfig | None = None) -> list[Problem]:
    """A warning per graded (training or test) image far smaller than the others
    (:data:`SMALL_SHARE`), unless its size was already said (a grey image not of
    ``data.expected_side`` has its own warning), and one warning for the ``data.unlabelled``
    pool's such images (counted, the first :data:`SMALL_POOL_SHOWN` named; its fix: take them
    out of the pool folder, as they have no label row).

    The typical size said is one the graded images have (:func:`statistics.median_high` of
    the longer sides, of all images when fewer than 3 graded ones are sized: an even split of
    two sizes, as two pooled sites give, names the larger, not their mean), so a large pool of
    another size does not set it. With a site column (``entry.site``) each image is compared
    with its own site's images (a site of under 3 sized images with the whole set's; ``cfg``'s
    ``site_column``, read from the label rows: the folds set ``entry.site`` later): a site
    photographed smaller than another is said by the sizes note, not as thumbnails."""
    import statistics

    sized = [(e, max(e.record.width, e.record.height)) for e in entries if e.record.width]
    if len(sized) < 3:
        return []
    graded_sides = [side for e, side in sized if e.split != UNLABELLED]
    typical_all = statistics.median_high(graded_sides if len(graded_sides) >= 3 else [side for _, side in sized])
    by_site: dict[str, list[int]] = {}
    site = {id(e): site_of(e.label, cfg) if cfg is not None and e.label is not None else e.site
            for e, _ in sized}
    for e, side in sized:
        if e.split != UNLABELLED:
            by_site.setdefault(site[id(e)], []).append(side)
    typical = {name: statistics.median_high(sides) if name and len(sides) >= 3 else typical_all
               for name, sides in by_site.items()}
    found = []
    pool: list[tuple[ImageEntry, int]] = []
    for e, side in sized:
        where = site[id(e)]
        usual = typical.get(where, typical_all)
        if side * SMALL_SHARE > usual or any(issue[3] == "size" for issue in e.record.issues):
            continue
        if e.split == UNLABELLED:
            pool.append((e, side))
            continue
        others = (f"the other images of site {where}" if where and len(by_site[where]) >= 3
                  else "the other images")
        found.append(warning(
            e.display, f"{e.record.width}x{e.record.height} px, far smaller than {others} "
                       f"(typically {usual} px): enlarged {max(sizes) / side:.{1 if max(sizes) < 2 * side else 0}f}x to the {max(sizes)} px "
                       f"cache; a thumbnail or a crop?",
            "use the full-size image, or remove its row from the label CSV", "size"))
    if pool:
        shown = ", ".join(f"{e.image_id} {e.record.width}x{e.record.height} px" for e, _ in pool[:SMALL_POOL_SHOWN])
        found.append(warning(
            pool[0][0].path.parent,
            f"{counted(len(pool), 'image')} of the unlabelled pool (data.unlabelled) "
            f"{'is' if len(pool) == 1 else 'are'} far smaller than the graded images (typically "
            f"{typical_all} px): {shown}{', ...' if len(pool) > SMALL_POOL_SHOWN else ''}, enlarged up to "
            f"{max(sizes) / min(side for _, side in pool):.0f}x to the {max(sizes)} px cache; "
            f"thumbnails or crops, pretrained on as blurred pictures",
            "use the full-size images, or take them out of the --unlabelled folder (they have no "
            "label row: pretraining alone reads them)", "size"))
    return found


SMALL_POOL_SHOWN = 3
"""The pool images :func:`_small_images`' one warning of the pool's thumbnails names."""


def is_depth_conversion(problem: Problem) -> bool:
    """Whether ``problem`` is the decoder's per-file warning on a deep file converted to 8-bit
    (kind ``bit-depth``, :data:`data_prep.decode.CONVERTED_DEPTH`): the ingest says these of the whole set at once
    (:func:`_bit_depths`), a note when every image was converted alike, a warning when not."""
    return problem.kind == "bit-depth" and problem.severity == "warning" and bool(
        CONVERTED_DEPTH.match(problem.what))


def _encoding(mode: str) -> str:
    """The pixel format of a file in words (PIL's ``mode``): ``grey``, ``RGB``, ``RGBA``,
    ``palette colour``, ``CMYK``."""
    return {"RGB": "RGB", "YCbCr": "RGB", "RGBA": "RGBA", "RGBa": "RGBA", "RGBX": "RGB",
            "P": "palette colour", "PA": "palette colour", "CMYK": "CMYK", "LAB": "Lab",
            "HSV": "HSV"}.get(mode, "grey")


@dataclass(frozen=True)
class FileDepth:
    """How one decoded file became 8-bit: ``file`` its samples in words (``16-bit``,
    ``8-bit``, ``1-bit``, ``float``), ``encoding`` its pixel format (:func:`_encoding`),
    ``used`` the bits the 8-bit copy kept the top 8 of (8: used as they are), ``guessed`` the
    depth was judged from the file's own maximum (no PNG sBIT chunk:
    :func:`data_prep.decode.guessed_bits`), ``top`` its largest sample (0 for an 8-bit file)."""

    file: str
    encoding: str
    used: int
    guessed: bool = False
    top: int = 0

    @property
    def scaling(self) -> tuple[str, int]:
        """What decides whether two files were scaled alike: their samples and the bits used."""
        return self.file, self.used


def file_depth(record: cache.FileRecord) -> FileDepth:
    """:class:`FileDepth` of a decoded file, from its record (its mode and the decoder's
    findings, reused files' included): :func:`data_prep.decode.sample_depth` of its warnings
    on the bit depth (``bit-depth``, ``float``), grading's reading of a file too."""
    depth = sample_depth(record.mode, [what for what, _, severity, kind in record.issues
                                       if kind in ("bit-depth", "float") and severity == "warning"])
    return FileDepth(depth.file, _encoding(record.mode), depth.used, depth.guessed, depth.top)


def group_depth_words(depth: FileDepth, n: int, top: int | None = None) -> str:
    """``41 files are 16-bit grey, scaled by value >> 8``: a group of ``n`` of the set's files
    converted alike (``top``: the group's largest sample, ``depth.top`` when None), the file's
    depth in grading's words (:func:`drac_ssl.grading.image_notes.depth_words`)."""
    are = "file is" if n == 1 else "files are"
    top = depth.top if top is None else top
    how = (f"scaled by value >> {depth.used - 8}" if depth.used > 8
           else "read as grey levels 0 and 255" if depth.file == "1-bit"
           else "scaled to 0..255" if depth.file == "float"
           else "8-bit values, divided by 257 where stored x257" if top > 255
           else f"used as {'it is' if n == 1 else 'they are'}")
    return f"{n} {are} {depth_words(depth.file, depth.used, depth.encoding)}, {how}"


def _mean_levels(entries: Sequence[ImageEntry], size: int, previous: cache.CacheState, channels: int,
                 spill: cache.RowSpill | None, filtered: bool) -> np.ndarray:
    """Each entry's mean grey level once converted to 8 bits, before any crop or filter (0..255,
    a colour image's over its channels): ``(len(entries),)`` floats, NaN where not known. The
    level measured when the file was decoded (:attr:`data_prep.cache.FileRecord.grey_level`);
    for a file reused from a cache written before that was recorded, its row as cached at
    ``size`` px (the rows read a block at a time as :func:`_near_twin_groups` reads them), but
    only when the rows are not ``filtered`` (``--fundus-crop``, ``--graham``: a Graham-filtered
    row sits near 128 whatever the image's brightness), else NaN."""
    levels = np.array([np.nan if e.record.grey_level is None else e.record.grey_level for e in entries],
                      dtype=float)
    unknown = [i for i, e in enumerate(entries) if e.record.grey_level is None]
    if not unknown or filtered:
        return levels
    records = [entries[i].record for i in unknown]
    block = max(1, cache.ROW_BLOCK_BYTES // (size * size * channels))
    means = [cache.assemble(records, size, previous, channels, spill, start, start + block)
             .reshape(min(block, len(records) - start), -1).mean(axis=1)
             for start in range(0, len(records), block)]
    levels[unknown] = np.concatenate(means)
    return levels


def level_words(levels: Sequence[float]) -> str:
    """``mean grey level 112, SD 9``: a group's images' mean grey levels (0..255) as their mean
    and sample standard deviation (the mean alone for one image)."""
    values = np.asarray(levels, dtype=float)
    sd = f", SD {values.std(ddof=1):.0f}" if len(values) > 1 else ""
    return f"mean grey level {values.mean():.0f}{sd}"


def _bit_depths(entries: Sequence[ImageEntry], where: Path,
                levels: Callable[[Sequence[ImageEntry]], np.ndarray] | None = None
                ) -> tuple[list[Problem], list[dict[str, object]]]:
    """The set's bit depths, said once for the whole set instead of one warning per 16-bit file
    (a clinic's device exports 16-bit grey: 41 warnings buried the one that mattered), and what
    ``ingest_summary.json`` records of them (``bit_depths``: each group's ``file``, ``encoding``,
    ``bits_used``, ``depth_from``, ``max_value`` and images per split, so that a later step can
    compare an image with the training images' depth).

    Every decoded image is grouped by :class:`FileDepth` (its file's samples, pixel format, the
    bits its 8-bit copy came from). One scaling in the whole set (:attr:`FileDepth.scaling`),
    deep files converted: one note saying how (not a warning: every image was scaled alike).
    Several: one warning naming each group (``1 file is 8-bit RGB, 41 are 16-bit grey``) and
    the files unlike the largest group: their brightness is not comparable (a dim 16-bit
    scan whose depth was guessed as 12-bit, shifted by 4 bits where its neighbours were by 8,
    or an 8-bit RGB export among 16-bit grey ones: most often an export mistake), its fix in
    the channels of the largest group (``all 8-bit RGB`` for colour photographs). 8-bit files
    alone: nothing said. CMYK and Lab files (:data:`COLOUR_SPACE_ENCODINGS`, their own
    colour-space warning) are recorded but form no group of the warning.

    ``levels``: each entry's mean grey level once converted to 8 bits, before any crop or
    filter (:func:`_mean_levels`): the warning gives each group's (:func:`level_words`), so that
    the user can judge whether the groups' brightness differs by more than it varies within
    each (a clinic may not be able to export again); where one is not known (NaN: a cache of an
    earlier ingest holding only filtered rows), none is given and the warning says why."""
    decoded = [e for e in entries if e.record.sha256 and e.record.width
               and not any(issue[2] == "error" for issue in e.record.issues)]
    groups: dict[tuple[str, str, int], list[tuple[ImageEntry, FileDepth]]] = {}
    for e in decoded:
        depth = file_depth(e.record)
        groups.setdefault((depth.file, depth.encoding, depth.used), []).append((e, depth))
    every = sorted(groups.values(), key=lambda members: -len(members))
    facts: list[dict[str, object]] = []
    for members in every:
        depth = members[0][1]
        guessed = [d for _, d in members if d.guessed]
        facts.append({"file": depth.file, "encoding": depth.encoding, "bits_used": depth.used,
                      # the file's own depth (8-bit), the PNG sBIT chunk, or guessed from the maximum
                      "depth_from": ("file" if depth.file in ("8-bit", "1-bit") else
                                     "maximum" if len(guessed) == len(members) else
                                     "sBIT" if not guessed else "maximum or sBIT"),
                      "max_value": (max(d.top for _, d in members)
                                    if depth.file not in ("8-bit", "1-bit", "float") else None),
                      "n": {split: sum(1 for e, _ in members if e.split == split)
                            for split in ("train", "test", UNLABELLED)}})
    # a CMYK or Lab file has its own colour-space warning (converted without colour
    # management): not a bit-depth group of its own beside the RGB files of its depth
    ordered = [members for members in every if members[0][1].encoding not in COLOUR_SPACE_ENCODINGS]
    scalings = {d.scaling for members in ordered for _, d in members}
    if not ordered:
        return [], facts
    if len(scalings) == 1:
        depth = ordered[0][0][1]
        if depth.file in ("8-bit", "1-bit"):
            return [], facts
        n = sum(len(members) for members in ordered)
        guessed = all(d.guessed for members in ordered for _, d in members)
        top = max(d.top for members in ordered for _, d in members)
        kinds = " or ".join(sorted({d.encoding for members in ordered for _, d in members}))
        read = "" if depth_words(depth.file, depth.used) == depth.file else f"read as {depth.used}-bit data, "
        judged = (f"; no sBIT chunk: the depth judged from the images' maxima (largest {top})"
                  if guessed else "")
        how = (f"{read}8-bit value = value >> {depth.used - 8} (the 8 most significant of "
               f"{depth.used} bits)" if depth.used > 8 else "values scaled to 0..255"
               if depth.file == "float" else "8-bit values, divided by 257 where stored x257 (0..255)"
               if top > 255 else "values used as they are (0..255)")
        return [note(str(where), f"all {counted(n, 'image')} are {depth.file} {kinds} files, converted to "
                                 f"8-bit alike: {how}{judged}",
                     "nothing to do; export 8-bit (or, "
                     + ("as PNG, " if _deep_tiffs(ordered) else "") + "write an sBIT chunk) to "
                     "choose another scaling", "bit-depth")], facts
    common = max(scalings, key=lambda k: sum(len(m) for m in ordered if m[0][1].scaling == k))
    odd = [e.display for members in ordered for e, d in members if d.scaling != common]
    said = [group_depth_words(members[0][1], len(members), max(d.top for _, d in members))
            for members in ordered]
    judge = ""
    if levels is not None:
        means = levels([e for members in ordered for e, _ in members])
        if np.isnan(means).any():  # files of an older cache, its rows filtered: not measured
            judge = ("; the groups' grey levels are not given: the cache of an earlier ingest holds "
                     f"{counted(int(np.isnan(means).sum()), 'image')} only as filtered "
                     "(--fundus-crop / --graham) rows; an ingest into a new --out measures them")
        else:
            bounds = np.cumsum([0] + [len(members) for members in ordered])
            said = [f"{words} ({level_words(means[a:b])})"
                    for words, a, b in zip(said, bounds[:-1], bounds[1:], strict=True)]
            judge = ("; the grey levels are the images' own once converted to 0..255, before any "
                     "crop or filter, each group's mean and SD over its images: means far apart "
                     "compared with the SDs point to a brightness that differs by group")
    files = {k[0] for k in scalings}
    why = []
    if len(files) < len(scalings) and any(d.guessed for members in ordered for _, d in members):
        # files of one depth read at different depths: guessed from each file's maximum
        why.append("without an sBIT chunk each deep file's depth is guessed from its own maximum: "
                   f"a dim scan, or a few bright pixels, read at another depth than the {common[1]} "
                   "bits of the others?")
    if len(files) > 1:
        why.append("files unlike the others are most often an export mistake")
    # the fix in the channels of the largest group of the common scaling: colour photographs
    # are not told to become grey
    largest = next(m for m in ordered if m[0][1].scaling == common)[0][1]
    kind = "grey" if largest.encoding == "grey" else "RGB"
    alike = (f"all 8-bit {kind}" if common[0] in ("8-bit", "1-bit", "float") else
             f"all 8-bit {kind}, converted alike from their {common[1]} bits (the same shift or "
             f"scale for every file), or all {common[0]} {kind} PNG with an sBIT chunk naming "
             f"their bit depth (a TIFF has no field that records the bits used)"
             if _deep_tiffs(ordered) else
             f"all {common[0]} {kind} with an sBIT chunk naming their bit depth, or all 8-bit {kind}")
    return [warning(str(where), f"images scaled from different bit depths ({'; '.join(said)}): their "
                                f"brightness may not be comparable{judge}; e.g. {', '.join(odd[:3])}"
                                + (", ..." if len(odd) > 3 else "") + f" ({'; '.join(why)})",
                    f"export every image alike: {alike}, so that every image is scaled alike",
                    "bit-depth")], facts


def _deep_tiffs(ordered: Sequence[Sequence[tuple[ImageEntry, FileDepth]]]) -> bool:
    """Whether a file deeper than 8 bits among the bit-depth groups ``ordered`` (entry, depth)
    is a TIFF (named ``.tif`` / ``.tiff``): no sBIT chunk can say its depth, so the fix is to
    convert every image alike, or to PNG with sBIT."""
    return any(e.path.suffix.lower() in (".tif", ".tiff") and d.used > 8
               for members in ordered for e, d in members)


COLOUR_SPACE_ENCODINGS = frozenset({"CMYK", "Lab", "HSV"})
"""File encodings (:func:`_encoding`) converted to RGB without colour management, each with
its own ``colour-space`` warning (:mod:`data_prep.decode`): left out of the bit-depth groups
of :func:`_bit_depths` (an 8-bit CMYK file among 8-bit RGB ones is no other depth)."""


def _phantom_images(entries: Sequence[ImageEntry], root: Path) -> list[Problem]:
    """A warning for each image that carries drac_ssl's phantom marker (``record.phantom``:
    :func:`data_prep.decode.phantom_marked`) in a root without the phantom set's
    ``phantom.json``: phantom PNGs copied among other images (the printed list merges them
    into one line naming the count). Every image marked makes the run count as phantom, some
    of them a run on this data with phantoms mixed in, said so wherever its figures are
    (:func:`drac_ssl.grading.bundle.data_provenance`, from ``ingest_summary.json``'s
    ``phantom_marked``); in the phantom set's own folder that is what was meant, said by the
    summary's count alone."""
    if (root / PHANTOM_MANIFEST).is_file():
        return []
    marked = [e for e in entries if e.record.phantom]
    counts = _phantom_counts(_phantom_split_counts(entries), Counter(e.split for e in entries))
    return [warning(e.display, "a synthetic phantom image drawn by drac_ssl (its PNG carries the "
                               f"'{PHANTOM_TEXT_KEY}' phantom marker), not a retinal image: {counts}",
                    "take the phantom images (python -m data_prep phantom's output) out of the "
                    "data; keep them only for a demonstration run", "phantom")
            for e in marked]


PHANTOM_SPLITS = ("train", "test", UNLABELLED)
"""The splits whose phantom-marked images ``ingest_summary.json``'s ``phantom_marked_by_split``
counts: the labelled training images (the figures are measured on them), the test images
and the ``data.unlabelled`` pool (pretraining only)."""


def _phantom_split_counts(entries: Sequence[ImageEntry]) -> dict[str, int]:
    """The images carrying the phantom marker per split (:data:`PHANTOM_SPLITS`, each given)."""
    found = Counter(e.split for e in entries if e.record.phantom)
    return {split: int(found.get(split, 0)) for split in PHANTOM_SPLITS}


def _phantom_counts(marked: Mapping[str, int], sizes: Mapping[str, int]) -> str:
    """What the phantom images (``marked``, per split, :data:`PHANTOM_SPLITS`) among the images
    (``sizes``, per split) make of the run, judged on the labelled training images, which the
    figures are measured on: a run on phantom data when every one of them is marked, figures
    that mix them when some are, and when none is (phantoms only among the test images or the
    unlabelled pool) figures of the real images with a pretraining that saw phantoms."""
    train, n_train = marked.get("train", 0), sizes.get("train", 0)
    if n_train and train >= n_train or not n_train and sum(marked.values()) >= sum(sizes.values()):
        return "the run counts as one on phantom data, its model as trained on phantoms"
    if train:
        return "the run's figures and its model mix the phantoms with the other images"
    where = " and ".join(f"{marked[s]} {'test' if s == 'test' else 'unlabelled (data.unlabelled)'}"
                         for s in ("test", UNLABELLED) if marked.get(s))
    return (f"none of the labelled images is one (the phantoms are {where} images): the figures are "
            f"measured on the other images, but the self-supervised pretraining reads the phantoms "
            f"too" + (" and the export grades the test ones" if marked.get("test") else ""))


def _phantom_words(n_marked: int, n_images: int, marked: Mapping[str, int] | None = None,
                   sizes: Mapping[str, int] | None = None) -> str:
    """The summary's line on the images that carry the phantom marker ('' when none does):
    ``marked`` / ``sizes`` per split (:func:`_phantom_counts`; without them every image counts
    as labelled)."""
    if not n_marked:
        return ""
    judged = _phantom_counts(marked if marked is not None else {"train": n_marked},
                             sizes if sizes is not None else {"train": n_images})
    return (f"phantom: {n_marked} of {counted(n_images, 'image')} carry drac_ssl's phantom marker "
            f"(synthetic images, not retinal ones): {judged}")


def eye_pairs(cfg: DataConfig, layout: Layout) -> bool:
    """The patients are read from EyePACS's image ids (:func:`pair_eyes`): an EyePACS layout,
    or a plain folder with its columns, and no ``data.patient_column``."""
    return layout.treated_as == "eyepacs" and not cfg.patient_column


def _left_out_patient(row: LabelRow, cfg: DataConfig, layout: Layout) -> str:
    """The patient of a label row left out as ungradable, as a kept row's would be in the
    manifest: its patient cell, else with EyePACS's eye pairs (:func:`eye_pairs`) the part of
    its name before ``_left`` / ``_right``; ``''`` when it names none."""
    if row.patient:
        return row.patient
    return (eye_pair_patient(row.name) or "") if eye_pairs(cfg, layout) else ""


def pair_eyes(train: Sequence[ImageEntry], source: str) -> list[Problem]:
    """EyePACS without a patient column: each image's patient from its id (``10_left`` and
    ``10_right`` are patient ``10``), recorded on its label, so both eyes share a fold."""
    paired = 0
    for entry in train:
        patient = eye_pair_patient(entry.image_id)
        if entry.label is not None and not entry.label.patient and patient:
            entry.label = dataclasses.replace(entry.label, patient=patient)
            paired += 1
    if not paired:
        return []
    return [note(source, f"{paired} EyePACS image(s) named {EYE_PAIR_WORDS}: the two eyes "
                          f"of a patient are kept in one fold (the manifest's patient column)",
                 "nothing to do; --patient-column overrides it", "folds")]


def patients_source_words(layout: str, owned_column: str) -> str:
    """Where the patients a layout names by itself come from, in words: the column the layout
    owns (``owned_column``: ``the DeepDRiD layout's column 'patient_id'``), else (none owned)
    EyePACS's eye pairs, ``the EyePACS image ids <patient>_left / _right`` (:func:`pair_eyes`).
    ``layout``: the layout's kind (``Layout.treated_as``, or a summary's ``layout``). The one
    wording of the ingest's fold note, its summary's ``patients.source`` and the preflight's
    fold check (``drac_ssl.preflight``, which puts it in brackets: it holds none)."""
    if owned_column:
        return f"the {LAYOUT_NAMES.get(layout, layout or 'unknown')} layout's column {owned_column!r}"
    return f"the EyePACS image ids {EYE_PAIR_WORDS}"


def own_patients(layout: Layout, cfg: DataConfig, train: Sequence[ImageEntry],
                 source: str, guess: str | None = None) -> tuple[str, list[Problem]]:
    """The patients a layout names by itself when ``data.patient_column`` is not set: the
    patient column it owns (``Layout.patient_column``: DeepDRiD's ``patient_id``, read onto
    the labels by :func:`collect_images`), or EyePACS's image ids ``<patient>_left`` /
    ``_right`` (recorded on the labels here, :func:`pair_eyes`). Returns where they come
    from, in words (``''``: the layout names none, or ``data.patient_column`` is set, or no
    image has one) and the note that says so (at ``source``, the label CSV); the folds, the
    summary and the preflight of ``python -m drac_ssl.train`` all ask here. ``guess``: the
    label CSV's column that looks like a patient id (the ingest's other warning), which the
    warning on images named after an eye then names as its fix (:func:`unpaired_eyes_words`)."""
    if cfg.patient_column:
        return "", []
    if layout.patient_column:
        named = [e for e in train if e.label is not None and e.label.patient]
        if not named:
            return "", []
        n = len({e.label.patient for e in named if e.label is not None})
        words = patients_source_words(layout.treated_as, layout.patient_column)
        return words, [note(source, f"{counted(len(named), 'image')} of {counted(n, 'patient')} "
                                    f"named by {words}: a patient's images are kept in one fold "
                                    f"(the manifest's patient column)",
                            "nothing to do; --patient-column overrides it", "folds")]
    if layout.treated_as == "eyepacs":
        notes = pair_eyes(train, source)
        if notes:
            return patients_source_words(layout.treated_as, ""), notes
        # EyePACS's columns but no <patient>_left/_right id: names such as 10_OD / 10_OS are
        # not paired, and are warned as in any other layout
    said = eye_names_words([e.image_id for e in train])
    if not said:
        return "", []
    # warned, not paired: outside EyePACS's layout, whose ids are defined as <patient>_left/_right,
    # the part before the eye need not be the patient (a visit, a study) and pairing by a guess
    # would silently change the folds of runs made before
    message, fix = unpaired_eyes_words(said, "a patient's fellow eyes can fall in different folds (their "
                                             "figures then overstate) and the bootstrap CIs treat them as "
                                             "independent", setting=True, column=guess)
    return "", [warning(source, message, fix, "folds")]


def image_patients(train: Sequence[ImageEntry]) -> list[str]:
    """Each of the training images' patient as the folds keep it (in ``train``'s order): its
    label's patient, an image without one its own patient under its image id
    (:func:`data_prep.folds.patient_unit`). The folds, the summary's patient count and the
    preflight of ``python -m drac_ssl.train`` (its count of patients per grade) read them here."""
    return [patient_unit(e.label.patient if e.label else "", e.image_id) for e in train]


def _assign_folds(entries: Sequence[ImageEntry], cfg: DataConfig, source: str,
                  layout: Layout, grade_names: Sequence[str] = (),
                  twin_groups: np.ndarray | None = None, guess: str | None = None
                  ) -> tuple[list[Problem], str]:
    """Set ``fold`` of every training image (all labelled and valid by now); return notes or
    the error of an impossible split, and how the folds treated the sites (``data.site_column``:
    a key of :data:`data_prep.folds.SITE_FOLDS`, ``whole`` when the site column is the patient
    column, decided here once; '' without a site column). Folds are grouped by patient with
    ``data.patient_column``, else by the patients the layout names (:func:`own_patients`).
    ``grade_names`` name the grades in the notes (a grade with fewer images than folds).
    ``twin_groups``: each training image's near-twin group (``data.near_duplicate_mse``,
    :func:`_near_twin_groups`), in the order of the training images; when a group holds two
    or more images the folds keep it whole too, joined with the patients of its images
    (:func:`data_prep.near_duplicates.grouped_units`: an image without a patient is its own
    unit under its image id). None, or no such group: the folds of the patients alone.
    ``guess``: the label CSV's column that looks like a patient id, not given
    (:attr:`data_prep.validate.LabelTable.patient_guess`): the warning on images named after an
    eye names it (:func:`own_patients`). Each
    training image's ``fold_group`` is set to the unit the folds grouped it by ('' when they
    were not grouped); the notes call the units image groups (:data:`data_prep.folds.TWIN_UNIT`)
    when the near twins joined some."""
    train = [e for e in entries if e.split == "train"]
    grades = [e.label.grade for e in train if e.label is not None and e.label.grade is not None]
    # the site as the patient too (leave-one-site-out): each site is one unit, kept whole;
    # no stratum of it could be spread
    whole = _sites_are_patients(train, cfg)
    if not train or len(grades) != len(train):
        return [], "whole" if whole else ""
    own, notes = own_patients(layout, cfg, train, source, guess)
    patients = image_patients(train) if cfg.patient_column or own else None
    unit = "patient"
    if twin_groups is not None and twins.group_counts(twin_groups)[1]:
        alone = patients if patients is not None else [e.image_id for e in train]
        patients = twins.grouped_units(alone, twin_groups)
        if len(set(patients)) < len(set(alone)):  # the twins joined units: the notes say so
            unit = TWIN_UNIT
    # each image's row in the label CSV, so that a fix can name the images to relabel
    rows = [(e.label.name, e.label.line) for e in train if e.label is not None] \
        if Path(source).suffix.lower() != ".npz" and Path(source).is_file() else None
    sites = fold_sites(train, cfg)
    if cfg.site_column:
        for e in train:
            e.site = site_of(e.label, cfg) if e.label is not None else ""
        if whole and unit == "patient":
            unit = "site"  # the notes count sites, not patients
    try:
        folds, caveats, how = assign_site_folds(grades, cfg.n_folds, cfg.fold_seed, patients, source,
                                                grade_names, rows, unit=unit, sites=sites)
    except IngestError as exc:
        return exc.problems, ""
    for i, (entry, fold) in enumerate(zip(train, folds, strict=True)):
        entry.fold = int(fold)
        entry.fold_group = "" if patients is None else str(patients[i])
    if cfg.patient_column or own:
        notes += _patient_id_problems(train, source, cfg.patient_column or layout.patient_column)
    return notes + caveats, "whole" if whole else how


def _too_few_fold_units(entries: Sequence[ImageEntry], cfg: DataConfig, source: str) -> list[Problem]:
    """The error :func:`data_prep.folds.assign_folds` would raise after decoding, found from the
    label CSV alone: fewer units than ``data.n_folds`` among the labelled training images, in
    the unit the folds group by (sites with the site column as the patient column:
    leave-one-site-out; patients with ``data.patient_column``, an image without one its own;
    else training images). The count is an upper bound (rows left out later, and near twins
    joined, only lower it), so a listing that has too few has too few after decoding too: the
    ingest stops before decoding (a docs trial: "2 sites for 3 folds" said only after hours of
    it). [] when there are enough, or the layout's own patients decide (left to the folds)."""
    train = [e for e in entries if e.split == "train" and e.label is not None]
    if not train:
        return []
    if cfg.patient_column:
        units = len({patient_unit(e.label.patient, e.image_id) for e in train if e.label is not None})
        unit = "site" if _sites_are_patients(train, cfg) else "patient"
    else:
        units, unit = len(train), "training image"
    if units >= cfg.n_folds:
        return []
    fix = too_few_units_fix(units, cfg.n_folds, unit)
    return [error(source, f"only {FOLD_UNITS[unit].count(units)} for {cfg.n_folds} folds", fix, "folds")]


def fold_sites(train: Sequence[ImageEntry], cfg: DataConfig) -> list[str] | None:
    """The site of each of ``train`` (the labelled training images) as the folds split on them
    (:func:`data_prep.folds.assign_site_folds`' ``sites``: :func:`site_of`, '' for an image
    without a label); None without ``data.site_column`` or when each site is kept whole (the
    site column is the patient column: :func:`_sites_are_patients`), where the folds are split
    without sites. The preflight checks a fold count it offers on them too."""
    if not cfg.site_column or _sites_are_patients(train, cfg):
        return None
    return [site_of(e.label, cfg) if e.label is not None else "" for e in train]


def _sites_are_patients(train: Sequence[ImageEntry], cfg: DataConfig) -> bool:
    """Whether the folds keep each site whole (leave-one-site-out): the site column is the
    patient column (``--patient-column site --site-column site``), or every labelled training
    image's patient cell is its site cell, some site named (``--patient-column clinic_id
    --site-column site`` with equal values). The rule the readers of the manifest apply too
    (:func:`drac_ssl.oof.sites_as_patients`), so that the model card, report.md and the
    per-patient figures agree on what a unit is."""
    if not (cfg.site_column and cfg.patient_column):
        return False
    if _same_column(cfg.site_column, cfg.patient_column):
        return True
    labelled = [e.label for e in train if e.label is not None]
    sites = [site_of(label, cfg).strip() for label in labelled]
    return any(sites) and all((label.patient or "").strip() == site for label, site in zip(labelled, sites, strict=True))


def _same_column(a: str, b: str) -> bool:
    """Whether two column names are one column as the label CSV's reader matches them (case
    and surrounding spaces ignored)."""
    return a.strip().casefold() == b.strip().casefold()


def site_of(label: LabelRow, cfg: DataConfig) -> str:
    """The site cell (``data.site_column``, stripped) of a label row: its patient when the site
    column is the patient column too (``--patient-column site --site-column site``), else its
    cell among the row's other columns (:attr:`data_prep.validate.LabelRow.others`); '' when
    the column is not set or the row has no such cell."""
    column = cfg.site_column
    if not column:
        return ""
    if cfg.patient_column and _same_column(column, cfg.patient_column):
        return label.patient
    return next((cell for name, cell in label.others if _same_column(name, column)), "")


def site_without_labels(cfg: DataConfig, where: str | Path) -> list[Problem]:
    """The error of ``data.site_column`` set for data read without a label CSV (a MedMNIST
    ``.npz``, a folder per grade): there is no column to read a site from, and a site column
    silently ignored would still be recorded as used. [] when the column is not set."""
    if not cfg.site_column:
        return []
    return [error(where, f"--site-column {cfg.site_column!r} needs a label CSV to read each "
                         f"image's site from, and these data have none",
                  "drop --site-column (data.site_column), or give the images with a label CSV "
                  "(--labels-csv) that has a site column", "site")]


def site_column_problems(table: LabelTable, cfg: DataConfig, image_column: str = "",
                         grade_column: str = "") -> list[Problem]:
    """The errors of ``data.site_column`` in the label CSV ``table``: the image or grade
    column named as the site (``image_column`` / ``grade_column``: the columns read), a column
    it does not have (the fix names its columns), or rows whose site cell is empty (the lines
    named, up to :data:`PATIENT_SETS_SHOWN`); [] when the column is not set or every row names
    a site."""
    column = cfg.site_column
    if not column:
        return []
    for role, read in (("image", image_column), ("grade", grade_column)):
        if read and _same_column(column, read):
            others = [c for c in table.columns if not _same_column(c, image_column or "\0")
                      and not _same_column(c, grade_column or "\0")]
            return [error(table.path, f"--site-column {column!r} is the {role} column of the label CSV, "
                                      f"not a column of sites",
                          f"give the column naming each image's site (data set or clinic)"
                          f"{': one of ' + ', '.join(repr(c) for c in others) if others else ''}, "
                          f"or drop --site-column (data.site_column)", "site")]
    if not any(_same_column(c, column) for c in table.columns):
        return [error(table.path, f"--site-column {column!r} is not a column of the label CSV",
                      f"give one of its columns: {', '.join(repr(c) for c in table.columns)}, or "
                      f"drop --site-column (data.site_column)", "site")]
    empty = [r.line for r in table.rows if not site_of(r, cfg)]
    if not empty:
        return []
    shown = ", ".join(str(n) for n in empty[:PATIENT_SETS_SHOWN]) + (" ..." if len(empty) > PATIENT_SETS_SHOWN else "")
    return [error(table.path, f"{len(empty)} row(s) have an empty {column!r} cell (line {shown}): "
                              f"every labelled image needs its site with --site-column",
                  "fill in each row's site (e.g. the name of the data set it came from), or drop "
                  "--site-column", "site")]


PATIENT_SETS_SHOWN = 3
"""The sets of look-alike patient ids (and lines of rows without a patient) a finding names."""


def _differ_in_zeros(ids: Sequence[str]) -> bool:
    """Whether some of the look-alike patient ``ids`` (one set of
    :func:`data_prep.folds.patient_spellings`) differ in the leading zeros of a digit run, i.e.
    are still different once case, punctuation and spaces are ignored."""
    return len({"".join(ch for ch in i.casefold() if ch.isalnum()) for i in ids}) > 1


def _patient_id_problems(train: Sequence[ImageEntry], source: str, column: str) -> list[Problem]:
    """What the folds' patients (``train``'s labels, folds assigned) hide: a warning naming the
    patient ids that differ only in letter case, punctuation or spaces
    (:func:`data_prep.folds.patient_spellings`: ``P-007``, ``p-007``, ``P007``, three patients
    to the folds) or leading zeros (``00100`` and ``100``: a spreadsheet drops the zeros of the
    cells it reads as numbers), each with the lines of its rows and the folds they landed in; a note counting the rows of ``column``
    (the label CSV ``source``'s) without a patient, each its own unit. ``column`` ``''``: the
    patients come from EyePACS's image ids (:func:`pair_eyes`), and the fixes say to rename the
    images ``<patient>_left`` / ``_right``. Nothing is merged: only the CSV's author knows
    whether two spellings are one patient."""
    found: list[Problem] = []
    labelled = [e for e in train if e.label is not None]
    spellings = patient_spellings(e.label.patient for e in labelled)  # type: ignore[union-attr]
    # no column: the patients come from EyePACS's image ids <patient>_left / _right (pair_eyes)
    where = f"column {column!r}" if column else f"the image ids ({EYE_PAIR_WORDS})"
    if spellings:
        lines: dict[str, list[int]] = {}
        folds: dict[str, set[int]] = {}
        for entry in labelled:
            patient = entry.label.patient  # type: ignore[union-attr]
            if entry.label.line:  # type: ignore[union-attr]
                lines.setdefault(patient, []).append(entry.label.line)  # type: ignore[union-attr]
            folds.setdefault(patient, set()).add(entry.fold)

        def spelt(patient: str) -> str:
            at = lines.get(patient, [])
            shown = ", ".join(str(n) for n in at[:PATIENT_SETS_SHOWN]) + (", ..." if len(at) > PATIENT_SETS_SHOWN else "")
            where_rows = f"line{'s' if len(at) > 1 else ''} {shown}, " if at else ""
            in_folds = sorted(folds[patient])
            return (f"{patient!r} ({where_rows}fold{'s' if len(in_folds) > 1 else ''} "
                    f"{', '.join(str(f) for f in in_folds)})")
        zeros = any(_differ_in_zeros(ids) for ids in spellings)
        named = "; ".join(", ".join(spelt(p) for p in ids) for ids in spellings[:PATIENT_SETS_SHOWN])
        more = (f"; {len(spellings) - PATIENT_SETS_SHOWN} more such set(s)"
                if len(spellings) > PATIENT_SETS_SHOWN else "")
        found.append(warning(source, f"{counted(len(spellings), 'set')} of patient ids in {where} "
                                     f"differ only in letter case, punctuation, spaces or leading zeros, "
                                     f"so the folds keep them apart as different patients: {named}{more}",
                             (f"if each set is one patient, write its id one way in {where} of "
                              f"{Path(source).name}"
                              + (" (a spreadsheet drops the leading zeros of cells it reads as numbers: "
                                 "format the column as Text before typing or pasting the ids)" if zeros else "")
                              if column else
                              "if each set is one patient, rename its images (and their label "
                              "rows) with one spelling of the patient")
                             + " and run the ingest again (the folds compare ids exactly); if they "
                               "are different patients, nothing to do", "folds"))
    empty = [e.label.line for e in labelled if not e.label.patient]  # type: ignore[union-attr]
    if empty:
        lines = ", ".join(str(n) for n in empty[:PATIENT_SETS_SHOWN]) + (", ..." if len(empty) > PATIENT_SETS_SHOWN else "")
        found.append(note(source, f"{counted(len(empty), 'row')} {'has' if len(empty) == 1 else 'have'} "
                                  f"no patient in {where} (line{'s' if len(empty) > 1 else ''} "
                                  f"{lines}): each is its own unit in the folds",
                          "fill in the patient id where such an image shares a patient with other "
                          "rows; else nothing to do" if column else
                          "where such an image shares a patient with others, rename it "
                          "<patient>_left / <patient>_right (e.g. 10_left.jpeg, its label row too) "
                          "or give --patient-column; else nothing to do", "folds"))
    return found


def _comparison_rows(records: Sequence[cache.FileRecord], size: int, previous: cache.CacheState,
                     channels: int, spill: cache.RowSpill | None) -> np.ndarray:
    """The :func:`data_prep.near_duplicates.comparison_rows` of ``records``' cache rows at
    ``size`` px, as they will be written (``channels``), read a block at a time
    (:data:`data_prep.cache.ROW_BLOCK_BYTES`). ``(len(records), d)`` float32."""
    block = max(1, cache.ROW_BLOCK_BYTES // (size * size * channels))
    rows = [twins.comparison_rows(cache.assemble(records, size, previous, channels, spill, start, start + block))
            for start in range(0, len(records), block)]
    return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def _near_twin_groups(entries: Sequence[ImageEntry], cfg: DataConfig, sizes: Sequence[int],
                      previous: cache.CacheState, channels: int,
                      spill: cache.RowSpill | None, where: str = "", verbose: bool = False
                      ) -> tuple[np.ndarray | None, list[Problem], list[str]]:
    """Each training image's near-twin group (``data.near_duplicate_mse`` > 0; None when 0),
    and what the comparison found beside the groups.

    The cache rows at the smallest of ``sizes``, as they will be written (``channels``), made
    into :func:`data_prep.near_duplicates.comparison_rows` (at most
    :data:`~data_prep.near_duplicates.COMPARE_SIDE` px, 0..1); the training images grouped
    by :func:`data_prep.near_duplicates.near_duplicate_groups` (``(n_train,)`` ints, in the
    order of the training images); the test images and the unlabelled pool compared with the
    training images, the pool with the test images too (:func:`_twins_across_splits`). The
    problems: a warning for each group whose images carry different grades (``where``: the
    label CSV), a warning for each test image with a twin among the training images, one for
    the pool's twins of test images (all fatal with ``--strict``), a note for the pool's twins
    of training images. Third: the pool's near twins of test images (manifest-style paths).
    Both searches show their progress (:class:`drac_ssl.console.LoopProgress`: a bar on a
    terminal, a line a minute off one); their size was said before the decoding
    (:func:`near_copies_plan`, from :data:`NEAR_COPIES_ANNOUNCED_PAIRS` pairs on).

    Raises:
        IngestError: a threshold that links far too many images (its message names the fix)."""
    if cfg.near_duplicate_mse <= 0:
        return None, [], []
    train = [e for e in entries if e.split == "train"]
    size = min(sizes)
    rows = _comparison_rows([e.record for e in train], size, previous, channels, spill)
    if not len(train):
        return np.zeros(0, dtype=np.int64), [], []
    n = len(train)
    try:
        with LoopProgress(n * (n - 1) // 2, "ingest", "near copies", "pairs", "pair") as progress:
            timed = _first_block_timed(progress, verbose, then=near_copy_pairs(entries)[1])
            groups = twins.near_duplicate_groups(rows, cfg.near_duplicate_mse,
                                                 setting="--near-duplicate-mse ", progress=timed)
    except ValueError as exc:  # a threshold far above near twins: the message names the fix
        raise IngestError(str(exc)) from None
    problems = _twin_grade_clashes(train, groups, where or str(train[0].path.parent),
                                   cfg.near_duplicate_mse)
    across, near_test = _twins_across_splits(entries, train, rows, cfg, size, previous, channels, spill)
    return groups, problems + across, near_test


def _first_block_timed(progress: LoopProgress, verbose: bool, then: int = 0) -> Callable[[int], None]:
    """``progress.update``, and after the first block (with ``verbose``, when more than a
    minute is left) a line of the time left at that block's speed
    (``[ingest] near copies: about 25 min left (the first 8,900,000 pairs took 21 s)``): the
    search's only seconds figure, measured on this machine, not guessed. Timed by
    :data:`drac_ssl.console.progress_clock`. ``then``: the pairs of the search across the
    splits that follow, not in that time (at EyePACS's size 3/4 of the work): the line says so
    (``(the training images; 1,881,862,776 test/pool pairs follow; the first ...)``)."""
    started = console.progress_clock()

    def update(n: int) -> None:
        first = progress.done == 0
        progress.update(n)
        if not (first and verbose and n):
            return
        seconds = console.progress_clock() - started
        left = (progress.total - n) * seconds / n
        if left >= 60:
            follow = f"the training images; {then:,} test/pool pairs follow; " if then else ""
            progress.lines.say(f"[ingest] {progress.what}: about {console.left_words(left)} left "
                               f"({follow}the first {n:,} pairs took {console.left_words(seconds)})")
    return update


def _twin_grade_clashes(train: Sequence[ImageEntry], groups: np.ndarray, where: str,
                        threshold: float | None = None) -> list[Problem]:
    """A warning for each near-twin group of ``train`` (``groups``: their group ids) whose
    images carry two or more grades: the folds keep the group whole, but one picture is
    taught as two grades, and only the label CSV can say which is right. Each names the
    images (first :data:`TWIN_CLASH_SHOWN`) with their CSV lines and grades; its fix
    (:func:`data_prep.near_duplicates.clash_fix`) weighs ``threshold``, the
    ``data.near_duplicate_mse`` that made the groups."""
    members: dict[int, list[ImageEntry]] = {}
    for entry, group in zip(train, groups, strict=True):
        members.setdefault(int(group), []).append(entry)
    found = []
    for group in members.values():
        grades = {e.label.grade for e in group if e.label is not None}
        if len(grades) < 2:
            continue
        named = ", ".join(f"{e.image_id} (" + (f"line {e.label.line}, " if e.label and e.label.line else "")
                          + f"grade {e.label.grade if e.label else '?'})" for e in group[:TWIN_CLASH_SHOWN])
        more = f" and {len(group) - TWIN_CLASH_SHOWN} more" if len(group) > TWIN_CLASH_SHOWN else ""
        found.append(Problem(where, f"near twins with different grades {sorted(grades)}: {named}{more} "
                                    f"(one picture graded twice, or a chain of near twins); the folds "
                                    f"keep them in one fold",
                             twins.clash_fix(len(group), len(grades), threshold), severity="warning",
                             kind="near-duplicates"))
    return found


TWIN_CLASH_SHOWN = 4
"""The images a warning of near twins with different grades names (:func:`_twin_grade_clashes`)."""


def _twins_across_splits(entries: Sequence[ImageEntry], train: Sequence[ImageEntry],
                         train_rows: np.ndarray, cfg: DataConfig, size: int,
                         previous: cache.CacheState, channels: int,
                         spill: cache.RowSpill | None) -> tuple[list[Problem], list[str]]:
    """The test images and the unlabelled pool compared with the training images
    (``train_rows``: their comparison rows) a block at a time
    (:func:`data_prep.near_duplicates.twins_across`), and the pool with the test images, a
    chunk of :data:`POOL_CHUNK_BYTES` of pool rows against every test block in turn
    (:func:`_nearest_test_twins`: no test matrix held): a warning (an error with ``--strict``,
    as the caller applies it) for each test image whose nearest training image is closer than
    ``data.near_duplicate_mse`` (a re-encoded copy of a test image among the training images
    credits the test figures with memory; not an error by default, as copies and distinct
    pictures overlap near 4e-4, and a challenge's test folder cannot lose an image), naming
    both files and the distance; one warning counting the unlabelled images that are near
    twins of test images (kept: a near copy cannot be proven one picture, but pretraining on it
    sees the test picture even with ``pretrain.use_test_images=false``); one note counting
    those that are near twins of training images (pretraining sees both anyway: nothing
    leaks). Returns the problems and the paths (manifest-style, as ``unlabelled_copies``) of
    the pool's near twins of test images, which ``ingest_summary.json`` keeps
    (``unlabelled_near_test``) for the pretraining's and the report's words. Its progress is
    counted in image pairs (:class:`drac_ssl.console.LoopProgress`)."""
    found: list[Problem] = []
    pool_twins: list[str] = []
    pool_where = ""  # the unlabelled folder of the first twin
    near_test: list[tuple[ImageEntry, ImageEntry, float]] = []
    block = max(1, cache.ROW_BLOCK_BYTES // (size * size * channels))
    setting = f"--near-duplicate-mse {cfg.near_duplicate_mse:g}"
    tests = [e for e in entries if e.split == "test"]
    with LoopProgress(near_copy_pairs(entries)[1], "ingest", "near copies across splits", "pairs", "pair") as progress:
        for split in ("test", UNLABELLED):
            others = tests if split == "test" else [e for e in entries if e.split == split]
            # the pool a larger chunk at a time: each chunk is compared with every test block
            step = block if split == "test" else max(block, POOL_CHUNK_BYTES // _row_bytes(size, channels))
            for start in range(0, len(others), step):
                chunk = others[start:start + step]
                rows = _comparison_rows([e.record for e in chunk], size, previous, channels, spill)
                if split == UNLABELLED:
                    for q, r, mse in _nearest_test_twins(rows, tests, block, cfg.near_duplicate_mse, size,
                                                         previous, channels, spill):
                        near_test.append((chunk[q], tests[r], mse))
                for q, r, mse in zip(*twins.twins_across(rows, train_rows, cfg.near_duplicate_mse), strict=True):
                    other, twin = chunk[int(q)], train[int(r)]
                    if split == UNLABELLED:
                        pool_twins.append(f"{other.image_id} ~ {twin.image_id}")
                        pool_where = pool_where or str(other.path.parent)
                        continue
                    line = f" (line {twin.label.line})" if twin.label is not None and twin.label.line else ""
                    found.append(warning(other.display,
                                         f"test image {other.image_id} is a near twin of the training image "
                                         f"{twin.display}{line}: mean squared difference {mse:.1e}, below "
                                         f"{setting}; if it is one picture, the test figures would credit "
                                         f"the model's memory of a training image",
                                         f"look at both: if one picture, delete {twin.image_id} and its "
                                         f"label row from the training images (the test folder of a "
                                         f"challenge stays as it is); if two pictures, nothing to do, or "
                                         "lower --near-duplicate-mse", "near-duplicates"))
                progress.update(len(chunk) * (len(train) + (len(tests) if split == UNLABELLED else 0)))
    if near_test:
        shown = "; ".join(f"{e.path} ~ {t.display} ({mse:.1e})" for e, t, mse in near_test[:POOL_COPIES_SHOWN])
        found.append(warning(near_test[0][0].path.parent,
                             f"{counted(len(near_test), 'image')} of the unlabelled pool "
                             f"{'is a near twin' if len(near_test) == 1 else 'are near twins'} of "
                             f"test images below {setting} (e.g. {shown}): kept, as a near copy "
                             f"cannot be proven one picture, but pretraining on "
                             f"{'it' if len(near_test) == 1 else 'them'} sees the test pictures even "
                             f"with pretrain.use_test_images=false",
                             "look at them: if copies of test images, delete them from the "
                             "unlabelled folder and ingest again; if other pictures, nothing to do",
                             "near-duplicates"))
    if pool_twins:
        found.append(note(pool_where, f"{counted(len(pool_twins), 'image')} of the "
                          f"unlabelled pool {'is a near twin' if len(pool_twins) == 1 else 'are near twins'}"
                          f" of training images below {setting} (e.g. {pool_twins[0]})",
                          "nothing to do (pretraining sees the training images anyway); remove "
                          "the copies from the unlabelled folder to save time", "near-duplicates"))
    return found, [e.rel for e, _, _ in near_test]


POOL_CHUNK_BYTES = 512 << 20
"""The comparison rows of the unlabelled pool held at once (:func:`_twins_across_splits`):
each such chunk is compared with the test images a block at a time, the test rows made again
for every chunk, so that no test matrix is held (EyePACS's 53k test images are 2.5 GiB of
rows); 512 MiB is about 10,900 pool images at 64 x 64 x 3."""


def _row_bytes(size: int, channels: int) -> int:
    """The bytes of one :func:`data_prep.near_duplicates.comparison_rows` row of a ``size`` px
    cache row with ``channels`` channels (float32, at most
    :data:`~data_prep.near_duplicates.COMPARE_SIDE` px a side)."""
    side = min(size, twins.COMPARE_SIDE)
    return side * side * channels * 4


def _nearest_test_twins(rows: np.ndarray, tests: Sequence[ImageEntry], block: int, threshold: float,
                        size: int, previous: cache.CacheState, channels: int,
                        spill: cache.RowSpill | None) -> list[tuple[int, int, float]]:
    """The rows of ``rows`` (``(m, d)``, a chunk of the pool's comparison rows) whose nearest
    test image (its rows made ``block`` images at a time and dropped, never all held) is closer
    than ``threshold`` (strictly): ``(row, test index, mean squared difference)`` in row order,
    :func:`data_prep.near_duplicates.twins_across` of the test rows' blocks (the first of
    equally near test images, as on all the test rows at once)."""
    blocks = (_comparison_rows([e.record for e in tests[start:start + block]], size, previous, channels, spill)
              for start in range(0, len(tests), block))
    return [(int(q), int(r), float(mse))
            for q, r, mse in zip(*twins.twins_across(rows, blocks, threshold), strict=True)]


TWIN_SHARE_WARNING = 0.10
"""Above this share of the labelled images joined into near-twin groups the ingest warns
(:func:`_twin_share_problems`): RetinaMNIST's near twins at 1e-4 are 32 of 1,200 (2.7 %)."""


def _twin_share_problems(groups: np.ndarray | None, cfg: DataConfig, where: str) -> list[Problem]:
    """A warning when ``data.near_duplicate_mse`` joined more than :data:`TWIN_SHARE_WARNING` of
    the labelled images (``groups``: :func:`_near_twin_groups`, ``(n_train,)``) into groups of
    two or more: the share, the largest group's size and the scale of the value; [] otherwise."""
    if groups is None or not len(groups):
        return []
    n_images, n_groups = twins.group_counts(groups)
    if n_images <= TWIN_SHARE_WARNING * len(groups):
        return []
    largest = int(np.unique(groups, return_counts=True)[1].max())
    return [Problem(where, f"--near-duplicate-mse {cfg.near_duplicate_mse:g} joined "
                           f"{n_images:,} of {len(groups):,} labelled images ({n_images / len(groups):.0%}) "
                           f"into {counted(n_groups, 'group')} kept in one fold each"
                           f"{'' if n_groups == 1 else f', the largest of {largest:,} images'}; near "
                           f"twins are rarely so many (1e-4 is an RMS pixel difference of 1 % of the range)",
                    "check the value: e.g. --near-duplicate-mse 1e-4, or 0 (off); the folds are "
                    "made as asked", severity="warning", kind="near-duplicates")]


def _twin_facts(groups: np.ndarray | None, cfg: DataConfig, sizes: Sequence[int],
                with_patients: bool = False) -> dict[str, object] | None:
    """What ``data.near_duplicate_mse`` did, for ``ingest_summary.json`` (``near_duplicates``)
    and the printed line: the setting, the size compared (``cache_size``, ``compared_px``),
    ``n_images`` (labelled images in a group of two or more), ``n_groups`` and
    ``with_patients`` (the folds were grouped by patient too, so a group joined its images'
    patients); None when off."""
    if groups is None:
        return None
    n_images, n_groups = twins.group_counts(groups)
    size = min(sizes)
    return {"near_duplicate_mse": cfg.near_duplicate_mse, "cache_size": size,
            "compared_px": min(size, twins.COMPARE_SIDE), "n_images": n_images, "n_groups": n_groups,
            "with_patients": with_patients}


NEAR_DUPLICATES_OFF = ("near duplicates not checked (--near-duplicate-mse 0, the default): near "
                      "twins split across folds, or a copy of a test image among the training "
                      "images, go unnoticed; --near-duplicate-mse 1e-4 checks them")
"""The printed summary's line when ``data.near_duplicate_mse`` is 0 and there are training
images (:func:`format_summary`)."""


def _twins_line(facts: dict[str, object] | None) -> str:
    """The printed summary's line on the near twins ('' when ``data.near_duplicate_mse`` is 0)."""
    if not facts:
        return ""
    setting = f"--near-duplicate-mse {facts['near_duplicate_mse']:g}"
    if not facts.get("n_groups"):
        return (f"near duplicates: none below {setting} (compared at {facts['compared_px']} px): "
                f"the folds are per {'patient' if facts.get('with_patients') else 'image'}")
    joined = " (with their patients' images)" if facts.get("with_patients") else ""
    return (f"near duplicates: {counted(int(facts['n_images']), 'labelled image')} in "
            f"{counted(int(facts['n_groups']), 'group')} kept in one fold each{joined} "
            f"({setting}, compared at {facts['compared_px']} px) (members: {MANIFEST_NAME} column "
            f"{FOLD_GROUP_COLUMN})")


def left_out_grades(rows: Sequence[LabelRow]) -> dict[int, int]:
    """Label rows per grade among ``rows`` (those ``--missing leave_out`` left out), for
    :func:`data_prep.grades.empty_grades`; a row without a valid grade is not counted."""
    return dict(Counter(row.grade for row in rows if row.grade is not None))


def _empty_grades(entries: Sequence[ImageEntry], grade_names: Sequence[str], source: str,
                  strict: bool, left_out: dict[int, int] | None = None,
                  table: LabelTable | None = None) -> list[Problem]:
    """A warning for the grades of ``data.grades`` with no labelled training image (the model
    never sees them), in the words of the preflight of ``python -m drac_ssl.train``
    (:func:`data_prep.grades.empty_grades`); fatal with ``--strict``. None without labels.
    ``left_out``: rows per grade left out by ``--missing leave_out`` (their images asked for).
    ``table``: the label table read; an empty grade 0 beside its ``none`` rows left out by
    ``--ungradable leave_out`` gives the ``--grades`` reading them as grade 0
    (:func:`data_prep.validate.zero_word_empty_grade`)."""
    counts = Counter(e.label.grade for e in entries if e.split == "train" and e.label is not None
                     and e.label.grade is not None)
    found = (empty_grades(counts, grade_names, left_out=left_out, zero_left_out=zero_word_empty_grade(table))
             if counts else None)
    if found is None:
        return []
    return apply_strict([warning(source, *found, "grades")], strict)


def _manifest_text(entries: Sequence[ImageEntry], fold_groups: bool = False) -> str:
    """The manifest: :data:`WRITTEN_COLUMNS`, :data:`FOLD_GROUP_COLUMN` when ``fold_groups``
    (``data.near_duplicate_mse`` > 0), and :data:`drac_ssl.manifest.SITE_COLUMN` last when an
    image names a site (``data.site_column``): :func:`manifest_header`; a manifest without
    either is as before. Every text cell is :func:`drac_ssl.io.guarded_cell`'s (an image named
    ``=HYPERLINK(1).png`` is ``'=HYPERLINK(1).png``, so that a spreadsheet opening the file runs
    no formula); :func:`drac_ssl.manifest.read_manifest` gives the names back exactly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    sites = any(e.site for e in entries)
    writer.writerow(manifest_header(fold_groups, sites))
    for index, e in enumerate(entries):
        r = e.record
        cells = ([e.image_id, e.rel, "" if e.label is None else e.label.grade, e.split,
                  e.fold, "" if e.label is None else e.label.patient, r.sha256,
                  r.width, r.height, r.mode, index, e.origin or e.split, r.pixels_sha256]
                 + ([e.fold_group if e.split == "train" else ""] if fold_groups else [])
                 + ([e.site] if sites else []))
        writer.writerow([guarded_cell(c) if isinstance(c, str) else c for c in cells])
    return buffer.getvalue()


def _counts(entries: Sequence[ImageEntry], k: int) -> tuple[dict[int, int], dict[str, int],
                                                            dict[int, dict[int, int]]]:
    """Training images per grade, images per split, training images per fold and grade."""
    labelled = [(e.fold, e.label.grade) for e in entries
                if e.split == "train" and e.label is not None and e.label.grade is not None]
    per_grade = {g: sum(grade == g for _, grade in labelled) for g in range(k)}
    per_split = dict(Counter(e.split for e in entries))
    per_fold: dict[int, dict[int, int]] = {}
    for fold, grade in labelled:
        per_fold.setdefault(fold, dict.fromkeys(range(k), 0))[grade] += 1
    return (per_grade, {s: per_split.get(s, 0) for s in ("train", "test", UNLABELLED)},
            dict(sorted(per_fold.items())))


def site_fold_counts(entries: Sequence[ImageEntry]) -> dict[str, dict[int, int]]:
    """The labelled training images of each site (``data.site_column``) per fold: ``{site:
    {fold: n}}``, sites in name order, every fold present listed (0 where a site has none);
    {} when no image names a site."""
    labelled = [(e.site, e.fold) for e in entries
                if e.split == "train" and e.label is not None and e.label.grade is not None and e.site]
    folds = sorted({f for _, f in labelled})
    return {site: {f: sum(s == site and g == f for s, g in labelled) for f in folds}
            for site in sorted({s for s, _ in labelled})}


def _patient_facts(entries: Sequence[ImageEntry], cfg: DataConfig,
                   columns: Sequence[str] = (), grade_column: str = "",
                   image_column: str = "", layout: Layout | None = None,
                   guess: str | None | bool = False) -> dict[str, object]:
    """How the folds were formed, for ``ingest_summary.json`` (``patients``) and the printed
    summary: ``grouped`` (True when each patient's images share a fold), ``source`` (in
    words: the ``--patient-column`` read, or the patients the ``layout`` names,
    :func:`own_patients`), ``column`` (the patient column read, None without one),
    ``n_patients`` (distinct patients among the labelled training images; an
    image with an empty patient cell is its own patient, as in the folds; None when not
    grouped), ``n_images`` (those training images) and ``unused_column``: when not grouped,
    one of the label CSV's ``columns`` that looks like a patient id, never the
    ``grade_column`` / ``image_column`` read (:func:`data_prep.validate.patient_column_guess`,
    the same guess as the ingest's warning: ``guess``, the label table's
    :attr:`data_prep.validate.LabelTable.patient_guess`, when given), which the report and the model card repeat
    (None otherwise)."""
    train = [e for e in entries if e.split == "train" and e.label is not None]
    named = any(e.label.patient for e in train if e.label is not None)
    grouped = bool(cfg.patient_column) or named  # a layout's patients name themselves
    # the patient column the layout owns (DeepDRiD's), when it named the patients
    owned = layout.patient_column if layout is not None and named and not cfg.patient_column else ""
    source = (f"column {cfg.patient_column!r}" if cfg.patient_column
              else patients_source_words(layout.treated_as if layout is not None else "", owned)
              if grouped else None)
    patients = set(image_patients(train))
    unused = (None if grouped or not train
              else guess if guess is not False else patient_column_guess(columns, grade_column, image_column))
    eyes = "" if grouped else eye_names_words([e.image_id for e in train])
    return {"grouped": grouped, "source": source, "column": cfg.patient_column or owned or None,
            "n_patients": len(patients) if grouped else None, "n_images": len(train),
            "unused_column": unused, **({"eye_names": eyes} if eyes else {})}


def _patients_line(facts: dict[str, object] | None, twins_joined: bool = False) -> str:
    """The printed summary's line on the folds' grouping ('' for a result without facts);
    ``twins_joined``: near twins were kept together (``data.near_duplicate_mse``; their own line
    follows)."""
    if not facts:
        return ""
    unused = str(facts.get("unused_column") or "")
    looks = (f"column {unused!r} looks like {id_words(unused)} (see the warning): --patient-column "
             f"{unused!r} groups a patient's images into one fold")
    if twins_joined and not facts.get("grouped"):
        if unused:
            return f"folds: per image, except near twins kept together (next line), although {looks}"
        return ("folds: per image, except near twins kept together (next line); no patient column "
                "(--patient-column would keep a patient's images in one fold)")
    if facts.get("grouped"):
        return (f"folds: grouped by patient ({facts.get('source')}): "
                f"{counted(int(facts['n_patients']), 'patient')} for "
                f"{counted(int(facts['n_images']), 'training image')}")
    if unused:
        return f"folds: each training image its own unit, although {looks}"
    if facts.get("eye_names"):
        return (f"folds: each training image its own unit, although {facts['eye_names']} (see the warning): "
                "--patient-column keeps a patient's eyes in one fold")
    return ("folds: each training image its own unit (no patient column: --patient-column "
            "groups a patient's images into one fold)")


def _preprocessing_words(cfg: DataConfig, findings: Sequence[Problem], n_images: int
                         ) -> tuple[str, ...]:
    """``data.fundus_crop`` / ``data.graham`` in words, in the order the cache applies them.
    A crop that left images uncropped (``findings`` of a :data:`CROP_NOT_APPLIED` kind) is
    said in the report's and the model card's words (:func:`data_prep.problems.crop_words`:
    ``crop to the fundus disc (requested; not applied to 30 of 30 images: ...)``) out of the
    ``n_images`` ingested."""
    words = []
    if cfg.fundus_crop:
        kinds = Counter(p.kind for p in findings if p.severity == "warning")
        words.append(crop_words({why: kinds[kind] for kind, why in CROP_NOT_APPLIED.items()},
                                n_images, done="cropped to the fundus disc and padded to a square"))
    if cfg.graham:
        words.append("Graham local-mean subtraction" + (" (reflect padding)" if cfg.fundus_crop else "")
                     + (", grey (128) outside 90 % of the disc radius" if cfg.graham_mask else ""))
    return tuple(words)


def _repeats_kept(result: IngestResult) -> str:
    """What became of the images of the repeated rows left out (:attr:`IngestResult.left_out_repeated`),
    in words: ``the image kept once``; when the row a repeat repeats was left out because its image
    is missing (``--missing leave_out``), that the image is missing instead."""
    missing = {row.line for row in result.left_out_missing}
    n = len(result.left_out_repeated)
    gone = sum(kept in missing for _, kept in result.left_out_repeated)
    if not gone:
        return "the image kept once"
    if gone == n:
        return ("its image missing, left out with the row it repeats" if n == 1
                else "their images missing, left out with the rows they repeat")
    return f"the image kept once; {gone} of them of a missing image, left out with the row they repeat"


_MODALITY_WORDS = {"octa": "octa (UW-OCTA scans)", "fundus": "fundus (colour fundus photographs)"}
"""How the summary names the resolved ``data.modality``."""


def format_summary(result: IngestResult) -> str:
    """The table printed at the end: counts per grade, split and fold; warnings."""
    grades = range(len(result.grade_names))
    header = ["", "images"] + [f"{g} {result.grade_names[g]}" for g in grades]
    rows = [["train", str(result.n_train)] + [str(result.counts_per_grade.get(g, 0)) for g in grades],
            ["test", str(result.n_test)] + ["-"] * len(grades)]
    if result.n_unlabelled:
        rows.append([UNLABELLED, str(result.n_unlabelled)] + ["-"] * len(grades))
    for fold, per_grade in result.counts_per_fold.items():
        rows.append([f"fold {fold}", str(sum(per_grade.values()))]
                    + [str(per_grade[g]) for g in grades])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"ingest summary: {layout_name(result.layout)} layout, {result.root}"]
    lines += ["  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                               enumerate(zip(row, widths, strict=True))) for row in [header, *rows]]
    if result.counts_per_site_fold:  # data.site_column: each site's training images per fold
        folds = sorted({f for per in result.counts_per_site_fold.values() for f in per})
        site_rows = [["site"] + [f"fold {f}" for f in folds]]
        site_rows += [[site] + [str(per.get(f, 0)) for f in folds]
                      for site, per in result.counts_per_site_fold.items()]
        widths = [max(len(r[i]) for r in site_rows) for i in range(len(site_rows[0]))]
        lines += ["  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                                   enumerate(zip(row, widths, strict=True))) for row in site_rows]
    shapes = ", ".join(f"{s}px" for s in result.cache_paths)
    lines.append(f"warnings: {len(result.warnings)}   notes: {len(result.notes)}   "
                 f"decoded: {result.n_decoded}   reused: {result.n_reused}   "
                 f"{result.seconds:.1f} s")
    lines.append(f"grades: {describe(result.grade_names)}   channels: {result.channels} "
                 f"({'RGB' if result.channels == 3 else 'grey'})"
                 + (f"   modality: {_MODALITY_WORDS.get(result.modality, result.modality)}"
                    if result.modality else ""))
    if result.referable_from:
        lines.append(referable_summary_line(result.referable_from))
    said = _patients_line(result.patients,
                          bool(result.near_duplicates and result.near_duplicates.get("n_groups")))
    if said:
        lines.append(said)
    if _twins_line(result.near_duplicates):
        lines.append(_twins_line(result.near_duplicates))
    elif result.n_train:  # off: said, so that no one reads silence as "none found"
        lines.append(NEAR_DUPLICATES_OFF)
    if result.n_phantom_marked:
        lines.append(_phantom_words(result.n_phantom_marked,
                                    result.n_train + result.n_test + result.n_unlabelled,
                                    result.phantom_marked_by_split or None,
                                    {"train": result.n_train, "test": result.n_test,
                                     UNLABELLED: result.n_unlabelled}))
    if result.preprocessing:
        lines.append(f"preprocessing of the cached copies: {', then '.join(result.preprocessing)}")
    if result.left_out_ungradable:
        lines.append(f"left out: {counted(len(result.left_out_ungradable), 'row')} marked ungradable "
                     f"(--ungradable leave_out), listed in {SUMMARY_NAME} (left_out_ungradable)")
    if result.left_out_missing:
        lines.append(f"left out: {counted(len(result.left_out_missing), 'row')} whose image is "
                     f"missing (--missing leave_out), listed in {SUMMARY_NAME} (left_out_missing)")
    if result.left_out_repeated:
        lines.append(f"left out: {counted(len(result.left_out_repeated), 'row')} repeating an "
                     f"earlier row of the same image, grade and patient ({_repeats_kept(result)}), "
                     f"listed in {SUMMARY_NAME} (left_out_repeated)")
    kinds = Counter((p.severity, p.kind or "other") for p in result.findings)  # as the JSON
    if kinds:
        lines.append("findings by kind: " + ", ".join(
            f"{kind} {count} {severity}(s)" for (severity, kind), count in sorted(kinds.items())))
    lines.append(f"manifest: {result.manifest_path}")
    lines.append(f"cache ({shapes}): {result.manifest_path.parent / CACHE_DIR}")
    # last, where it is seen: the warning that needs a decision before training, else lost
    # among the others (a review: 1 line in 63)
    lines += [f"needs attention before training: {line}" for line in result.attention]
    return "\n".join(lines)


def _check_output(out: Path) -> None:
    """IngestError when the output folder ``out`` (absolute) or a folder above it is a file
    (:func:`drac_ssl.out_paths.folder_under_file_problem`, every command's words)."""
    from drac_ssl.out_paths import folder_under_file_problem

    if problem := folder_under_file_problem(out, "--out", "runs/NAME/data"):
        raise IngestError(problem)


def refuse_early(cfg: DataConfig, out_dir: str | os.PathLike[str]) -> None:
    """What :func:`run` refuses before it reads any file, in its order and words: ``out_dir``
    below a file, settings that cannot work (:func:`check_settings`), a data root not given
    or not there, an unknown layout (:func:`data_prep.layout.data_root`), and ``out_dir`` equal
    to or inside the root (:func:`out_among_inputs`) or holding anything but an earlier ingest of
    the same root (:func:`out_in_use`; both the command's rules, not :func:`run`'s). Raises
    :class:`IngestError`. ``python -m data_prep ingest`` calls it first, before its thread
    policy (:func:`drac_ssl.cpu_threads.apply_opencv_threads`, which loads no torch) and any
    file read, so a mistyped ``--root`` is said at once; :func:`run` makes the same checks
    again."""
    _check_output(readable_absolute(out_dir))
    check_settings(cfg)
    data_root(cfg)
    if problem := out_among_inputs(cfg, Path(out_dir)) or out_in_use(cfg, Path(out_dir)):  # the command's alone
        raise IngestError(problem)


def run(cfg: DataConfig, out_dir: str | os.PathLike[str], *, verbose: bool = True,
        wording: Callable[[str], str] | None = None) -> IngestResult:
    """Validate every file, then write the cache, manifest and summary into ``out_dir``.

    ``cfg``: a :class:`drac_ssl.config.DataConfig` (a dict of settings: ``DataConfig(**it)``,
    which raises :class:`drac_ssl.config.ConfigError` for a value of the wrong type,
    ``cache_sizes=32``, ``workers="a"``); a setting out of its range (``workers=-3``,
    ``n_folds=1``) is an :class:`IngestError` naming the command-line flag (``--workers -3``;
    ``wording`` rewrites it, below).

    Raises TypeError when ``cfg`` is no DataConfig, and :class:`IngestError` when any problem
    is fatal: its ``problems`` hold ALL of them,
    its message prints at most 10 of a kind (nothing is written, but for the full list in
    ``out_dir/ingest_problems.txt`` when the printed one leaves a line out); also, before any
    image is read, when ``out_dir`` or a folder above it is a file. Raises ``SystemExit`` (one
    line on stderr, :func:`data_prep.pool.refuse_top_level_rerun`) when the call runs in a
    worker process importing a script that makes it at its top level, not under ``if __name__ ==
    "__main__":``: the guard or ``DataConfig(workers=1)`` is the fix, where the rerun would have
    met the ingest's own lock ("another ingest is writing").
    With ``verbose``, warnings, notes and the summary table are printed to stdout. The new
    cache rows wait in a spill file in ``out_dir/cache`` until every file has been checked
    (:class:`data_prep.cache.RowSpill`; removed at the end), so memory does not grow with
    the number of images. The spill is resumable: when the run does not finish (an error, Ctrl-C,
    SIGTERM, a kill) it stays, and the next run with the same root, sizes and decoding options
    into ``out_dir`` reuses the rows of the files unchanged since instead of decoding them
    (:meth:`data_prep.cache.RowSpill.resume`); :data:`data_prep.cache.DECODED` counts them.

    The messages' advice names this module's command-line flags (``--fundus-crop``), as
    ``python -m data_prep ingest`` takes them; ``wording`` rewrites every printed line, the
    error's message and the summary's warnings and notes for another command:
    :func:`data_prep.problems.as_config_keys` for ``python -m drac_ssl.train``'s settings
    (``data.fundus_crop=true``). The structured findings (``findings``, the error's
    ``problems``) keep the flags.

    Returns:
        :class:`IngestResult` (paths absolute): ``out_dir``, ``manifest_path``
        (``manifest.csv``), ``summary_path`` (``ingest_summary.json``) and ``cache_paths``
        (the cache file of each side length in pixels); the ``root`` and ``layout`` found;
        ``n_train``, ``n_test``, ``n_unlabelled`` and the training images per grade and per
        fold; the printed ``warnings`` and ``notes`` (``findings``: the same, structured;
        ``problems`` is always empty: a fatal one raises); files decoded / reused and
        ``seconds``; ``grade_names``, ``channels``, the fundus ``preprocessing``, how the
        folds were grouped by ``patients`` and ``n_phantom_marked``, the images that carry
        drac_ssl's phantom marker (a copied phantom PNG: a warning each, outside the phantom
        set's own folder).
    """
    if not isinstance(cfg, DataConfig):
        raise TypeError(f"data_prep.ingest.run needs a drac_ssl.config.DataConfig, got a "
                        f"{type(cfg).__module__}.{type(cfg).__qualname__}: pass DataConfig(**settings) "
                        f"(e.g. DataConfig(root='data/drac'))")
    said = wording or _as_written
    # a worker importing a script that calls run() unguarded: not its lock's words ("another ingest")
    refuse_top_level_rerun("data_prep.ingest.run", "DataConfig(workers=1)")
    out = readable_absolute(out_dir)  # '--out ../o' said as a clean path, as the root is
    try:  # before any image is read: not "check free disk space" at the end
        _check_output(out)
    except IngestError as exc:
        raise IngestError(said(str(exc))) from None
    cache.DECODED.wanted, cache.DECODED.kept, cache.DECODED.reused = -1, 0, 0  # set by _load_records once known
    spill: cache.RowSpill | None = None  # an OSError of its own making leaves it None
    try:
        with cache.RowSpill(out / CACHE_DIR) as spill:
            return _run(cfg, out, verbose, spill, said)
    except IngestError as exc:
        raise IngestError(said(str(exc)), exc.problems) from None
    except OSError as exc:  # the spill or an output that cannot be written (full disk, rights)
        where = Path(os.path.abspath(exc.filename)) if exc.filename else out
        if not (where == out or where.is_relative_to(out) or out.is_relative_to(where)):
            raise IngestError(f"{where}: cannot be read ({exc.strerror or exc}) -> check that it "
                              "exists and that you may read it") from None
        raise IngestError(said(_write_failed_words(exc, where, out, "" if spill is None else spill.disk_needed))) from None


def _kept_size_words(folder: Path) -> str:
    """``12.3 MB (12,345,678 bytes) on disk``: what the rows kept for a rerun take in ``folder``."""
    return f"{bytes_words(cache.kept_bytes(folder))} on disk"


def _write_failed_words(exc: OSError, where: Path, out: Path, needed: str) -> str:
    """The message of an ingest output that could not be written (``exc``, at ``where``, under
    ``out``): what failed and its fix, by the error (as ``drac_ssl.train.run_folder_write_words``):
    a full disk (:func:`drac_ssl.io.no_space`: the disk the ingest needs at its peak, ``needed``,
    :func:`_check_disk`'s estimate in words, "": not made yet, and the bytes free now; freeing
    space resumes, another ``--out`` starts anew), a read-only disk, no permission, else the
    system's words; then that the same command resumes from the images decoded so far
    (:func:`_kept_note`). Worded with the ingest's flags (``--out``);
    :func:`data_prep.problems.as_config_keys` says ``run.out_dir`` for ``python -m
    drac_ssl.train``, which never took ``--out``."""
    import errno
    import shutil

    from drac_ssl.io import no_space

    head = f"{where}: cannot write the ingest output ({exc.strerror or exc})"
    kept = _kept_note(out / CACHE_DIR)
    if no_space(exc):
        folder = next((p for p in (out, *out.parents) if p.is_dir()), out)
        try:
            free = f"{bytes_words(shutil.disk_usage(folder).free)} free in {folder}"
        except OSError:
            free = ""
        space = ", ".join(w for w in ((f"it needs {needed}" if needed else ""), free) if w)
        return (head + (f": {space}" if space else "") + " -> free space on that disk, then the same command "
                "resumes; or give --out a folder on a disk with room, where the ingest starts anew" + kept)
    if exc.errno == errno.EROFS:
        return (head + ": the disk is read-only (mounted read-only) -> remount it read-write, then the same "
                "command resumes; or give --out a folder you can write to, where the ingest starts anew" + kept)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (head + f": this account may not write it (its permissions) -> make --out writable: chmod -R u+w "
                f"{shlex.quote(str(out))} (or ask its owner), then the same command resumes; or give --out a "
                "folder you can write to, where the ingest starts anew" + kept)
    return (head + " -> see what is wrong with that disk (dmesg shows its errors), then the same command "
            "resumes" + kept)


def _kept_note(folder: Path) -> str:
    """For an error that stops the ingest: how much the rows kept for its rerun take in ``folder``
    (the cache folder) and how to discard them to free that space ('' when none are kept)."""
    if not cache.kept_bytes(folder):
        return ""
    return (f"; the images decoded so far are kept in {folder} for the rerun, "
            f"{_kept_size_words(folder)}: to free that space instead, {cache.discard_words(folder)}")


bytes_words = cache.bytes_words  # where the ingest's messages have always found it


def disk_needed(n_images: int, n_decode: int, sizes: Sequence[int], channels: int,
                arrays: bool = True) -> tuple[int, int]:
    """The bytes one image takes in the cache (``sum(size**2) * channels``, uint8) and the
    bytes the ingest writes at its peak: the new arrays of all ``n_images`` rows (unless
    ``arrays`` is False: a rerun whose arrays are kept as they are, see
    :func:`_arrays_kept`) plus the spill of the ``n_decode`` rows decoded
    (:class:`data_prep.cache.RowSpill`, removed at the end), which the arrays are assembled
    from. E.g. sizes 256 and 512 in RGB: 983,040 bytes per image, and a cold ingest of N
    images writes about twice N of them."""
    per_image = sum(size * size for size in set(sizes)) * channels
    return per_image, per_image * ((n_images if arrays else 0) + n_decode)


def _to_decode(entry: ImageEntry, previous: cache.CacheState) -> bool:
    """Whether :func:`_load_records` will decode ``entry`` (an array row always; a file that is
    new or whose size or mtime changed), foreseen by one ``stat``."""
    old = previous.files.get(entry.rel)
    if entry.array_row or old is None:
        return True
    try:
        stat = entry.path.stat()
    except OSError:
        return True
    return (old.size, old.mtime_ns) != (stat.st_size, stat.st_mtime_ns)


def _known_channels(entries: Sequence[ImageEntry], decode: Sequence[bool],
                    previous: cache.CacheState, plan: Plan) -> int | None:
    """The cache's channels as far as they are known before decoding: the setting's (1 or 3);
    under auto 3 when a reused labelled or test image is colour, 1 when none is and none is
    to be decoded (as :func:`_resolve_channels` will decide them), else None (not known)."""
    if plan.channels_setting in ("1", "3"):
        return int(plan.channels_setting)
    part = [i for i, e in enumerate(entries) if e.split != UNLABELLED] or range(len(entries))
    reused = [previous.files[entries[i].rel] for i in part if not decode[i]]
    if any(r.colour and r.sha256 and not any(issue[2] == "error" for issue in r.issues) for r in reused):
        return 3
    return None if any(decode[i] for i in part) else 1


def _arrays_kept(entries: Sequence[ImageEntry], decode: Sequence[bool],
                 previous: cache.CacheState, channels: int | None) -> bool:
    """Whether :func:`_write` will keep the previous arrays as they are
    (:func:`data_prep.cache.unchanged`, foreseen before decoding): nothing to decode, every
    size's array in the previous cache (``previous.arrays``: all or none), its rows the
    entries' in this order, the channels this ingest makes its channels, and not read from the
    state a killed run held aside (``previous.held``: its arrays are written again)."""
    if any(decode) or not previous.arrays or previous.held or previous.n_rows != len(entries) \
            or channels != previous.channels:
        return False
    return all(previous.files[e.rel].cache_index == i for i, e in enumerate(entries))


def _check_disk(out: Path, entries: Sequence[ImageEntry], previous: cache.CacheState,
                sizes: Sequence[int], plan: Plan, verbose: bool,
                said: Callable[[str], str] = lambda text: text,
                spill: cache.RowSpill | None = None) -> tuple[int, list[Problem]]:
    """Refuse (IngestError) before any decoding when the disk of ``out`` (its nearest
    existing folder, :func:`shutil.disk_usage`) has less free space than :func:`disk_needed`
    says for what will be written: the spill of the files to decode (those not reused from
    ``previous``: size and mtime changed or new, as :func:`_load_records` decides) and the
    arrays, unless they are kept as they are (:func:`_arrays_kept`: a rerun with nothing to
    decode writes no array). The channels are those known before decoding
    (:func:`_known_channels`); when they are not (``--channels auto``, images to decode) the
    ingest is refused only if the grey (1-channel) estimate does not fit, with a warning (the
    returned problem) if only the colour (3-channel) one does not. ``said``: the run's wording
    of the printed estimate (:func:`run` words the refusal). With ``verbose``
    the estimate is printed to stderr. Returns the bytes needed (of the grey estimate when
    the channels are not known) and the warning, if any, which ``verbose`` prints at once
    (a disk that fills while decoding stops the ingest before its warnings are printed)."""
    import shutil

    decode = [_to_decode(entry, previous) for entry in entries]
    # an image whose rows an interrupted run kept is not decoded again (its spill is on the disk)
    n_decode = sum(d and not (spill is not None and spill.kept([e.rel]))
                   for d, e in zip(decode, entries, strict=True))
    known = _known_channels(entries, decode, previous, plan)
    arrays = not _arrays_kept(entries, decode, previous, known)
    per_grey, needed_grey = disk_needed(len(entries), n_decode, sizes, 1, arrays)
    per_colour, needed_colour = disk_needed(len(entries), n_decode, sizes, 3, arrays)
    where = next((p for p in (out, *out.parents) if p.is_dir()), out)
    free = shutil.disk_usage(where).free
    said_sizes = ",".join(map(str, sorted(set(sizes))))
    written = "its peak" if arrays else "its peak (the arrays are kept as they are)"
    if known is not None:
        per_image, needed = (per_grey, needed_grey) if known == 1 else (per_colour, needed_colour)
        plan_words = (f"{len(entries):,} images, {n_decode:,} to decode; the cache ({said_sizes} px, "
                      f"{per_image:,} bytes per image) needs about {bytes_words(needed)} of disk at "
                      f"{written}, {bytes_words(free)} free in {where}")
    else:
        needed = needed_grey
        plan_words = (f"{len(entries):,} images, {n_decode:,} to decode; the cache ({said_sizes} px, "
                      f"{per_grey:,} bytes per image if grey, {per_colour:,} bytes per image if "
                      f"colour) needs about {bytes_words(needed_grey)} of disk at {written} if the "
                      f"images are grey, {bytes_words(needed_colour)} if colour (--channels auto: "
                      f"not known before decoding), {bytes_words(free)} free in {where}")
    grey_fix = ("; for grey data --channels 1 makes it a third" if known != 1 else "")
    if needed > free:
        raise IngestError(f"{out}: not enough free disk space: {plan_words} -> free "
                          f"{bytes_words(needed - free)} or more on that disk, ask for smaller or "
                          f"fewer --cache-sizes (now {said_sizes}), or give --out a folder on "
                          f"another disk{grey_fix}")
    problems = []
    if known is None and needed_colour > free:
        problems.append(warning(out, f"the disk may be too small: {plan_words}; enough if the "
                                     "images are grey, not if they are colour",
                                "free " + bytes_words(needed_colour - free) + " or more on that "
                                "disk, ask for smaller or fewer --cache-sizes, or give --out a "
                                "folder on another disk, if the images may be colour; for grey "
                                "data --channels 1 makes it a third", "disk"))
    if verbose and (n_decode or problems):
        print(said(f"[ingest] {plan_words}"), file=sys.stderr)
    if verbose and problems:  # before the decoding, which may fill the disk: not only after a finished ingest
        print(said(format_problems(problems)), file=sys.stderr)
    if spill is not None:  # for a write that then finds the disk full: the colour figure too when unknown
        spill.disk_needed = (f"about {bytes_words(needed)} of disk at its peak" if known is not None else
                             f"about {bytes_words(needed_colour)} of disk at its peak if the images are colour, "
                             f"{bytes_words(needed_grey)} if grey")
    return needed, problems


def _split_counts(entries: Sequence[ImageEntry]) -> tuple[int, int, int]:
    """(training, test, unlabelled pool) images among ``entries``."""
    counts = Counter(e.split for e in entries)
    return counts["train"], counts["test"], counts[UNLABELLED]


def near_copy_pairs(entries: Sequence[ImageEntry]) -> tuple[int, int]:
    """The image pairs the near-copy search compares: the training images with each other
    (``n_train (n_train - 1) / 2``), and across the splits (the test images with the training
    images, ``n_test n_train``; the unlabelled pool with both, ``n_pool (n_train + n_test)``)."""
    n_train, n_test, n_pool = _split_counts(entries)
    return n_train * (n_train - 1) // 2, n_test * n_train + n_pool * (n_train + n_test)


NEAR_COPIES_ANNOUNCED_PAIRS = 10**7
"""From this many image pairs on (about 4,500 training images), a verbose ingest says the
near-copy search's size before decoding (:func:`near_copies_plan`): a search of minutes. A
smaller one (seconds) says nothing more than before, as the cache's writing and hashing are
said from :data:`data_prep.cache.ANNOUNCED_BYTES` on."""

NEAR_COPIES_LARGE = 20_000
"""From this many images on, the ingest's up-front line of the near-copy search
(:func:`near_copies_plan`) points at docs/data.md's figures for sets of EyePACS's size."""


def near_copies_plan(entries: Sequence[ImageEntry], sizes: Sequence[int], channels: str) -> str:
    """The up-front line of the near-copy search (``data.near_duplicate_mse`` > 0): how many
    image pairs it compares (the training images with each other, ``n_train (n_train - 1) / 2``;
    the test images with them, ``n_test n_train``; the unlabelled pool with both), each a
    distance over ``d`` values (the comparison rows: at most
    :data:`~data_prep.near_duplicates.COMPARE_SIDE` px a side, times the channels when known
    (``channels``: ``1`` or ``3``; else both)), and that it is quadratic; with
    :data:`NEAR_COPIES_LARGE` images or more, where docs/data.md gives figures. Said by a verbose
    ingest from :data:`NEAR_COPIES_ANNOUNCED_PAIRS` pairs on (:func:`near_copy_pairs`). No seconds: the
    speed is not known until the first block is timed (:func:`_near_twin_groups` says it then)."""
    n_train, n_test, n_pool = _split_counts(entries)
    pairs = sum(near_copy_pairs(entries))
    side = min(min(sizes), twins.COMPARE_SIDE)
    values = (f"{side * side * int(channels):,} values" if channels in ("1", "3")
              else f"{side * side:,} values if grey, {side * side * 3:,} if colour")
    pool = (f", {n_pool:,} unlabelled image{'s' if n_pool > 1 else ''} with {'both' if n_test else 'them'}"
            if n_pool else "")
    tested = f", {n_test:,} test image{'s' if n_test > 1 else ''} with them" if n_test else ""
    large = ("; for sets this large docs/data.md (Near duplicates) gives the time to expect"
             if len(entries) >= NEAR_COPIES_LARGE else "")
    return (f"[ingest] near copies (--near-duplicate-mse): about {pairs:,} image pairs to compare "
            f"({n_train:,} training images with each other{tested}{pool}), "
            f"each a distance over {values} ({side} x {side} px); quadratic: about 4x the time for "
            f"2x the images{large}")


def _as_written(text: str) -> str:
    return text


def no_images_problem(layout: Layout) -> Problem:
    """The error of a layout where no training or test image was found (``ROOT: no images
    found -> ...``; the images of ``data.unlabelled`` are no such images): for a plain root
    one level too high (``study/`` holding ``images/`` and ``labels.csv``) the likely root
    (:func:`data_prep.layout.likely_roots`), then what to do if it is not that; the ingest's
    flags, which the preflight says as settings."""
    otherwise = "point --root at the folder that holds the images (or the unzipped DRAC data)"
    likely = (likely_roots(layout.root, layout.labels_csv, otherwise=otherwise)
              if layout.kind == "plain" else "")
    return error(layout.root, "no images found", likely or otherwise, "no-images")


def _named_as_root(problem: Problem, fix: str) -> bool:
    """Whether ``problem`` is the 'subfolder ignored' note of a folder that ``fix`` (the
    no-images error's, :func:`no_images_problem`) names as the root to pass (``--root
    FOLDER``, quoted as :func:`data_prep.layout.likely_roots` quotes it)."""
    return (problem.severity == "note" and problem.what.startswith("subfolder ignored")
            and f"--root {shlex.quote(str(problem.path))} " in f"{fix} ")


def _copied_by_fix(problem: Problem, fix: str) -> bool:
    """Whether ``problem`` is the 'subfolder ignored' note of a folder whose images ``fix``
    (the no-images error's) copies into one folder (:func:`data_prep.layout.copy_into_one_folder`:
    ``cd PARENT && find . -mindepth 2 ...``): its 'move its images up one level' would be a
    second way out beside the command (a trial on a per-patient tree: 7 such notes under the
    copy advice)."""
    return (problem.severity == "note" and problem.what.startswith("subfolder ignored")
            and f"(cd {shlex.quote(str(Path(problem.path).parent))} && find . -mindepth 2 " in fix)


def no_images_message(layout: Layout) -> str:
    """:func:`no_images_problem` as one line."""
    return no_images_problem(layout).line


def _run(cfg: DataConfig, out: Path, verbose: bool, spill: cache.RowSpill,
         said: Callable[[str], str]) -> IngestResult:
    start = time.perf_counter()
    # an earlier failed attempt's problem list: this attempt writes its own, if it fails
    (out / PROBLEMS_NAME).unlink(missing_ok=True)
    sizes = check_settings(cfg)
    try:
        layout = discover(cfg)
    except IngestError as exc:  # DDR's printed ingest line: the user's own --out, not RUN/data
        said = str(exc)
        if f"--out {DDR_OUT}" not in said:
            raise
        raise IngestError(said.replace(f"--out {DDR_OUT}", f"--out {shlex.quote(str(out))}"),
                          exc.problems) from None
    root = layout.root
    # the label CSV and the other source files as they are before they are read: an edit while
    # the ingest runs is then a change the resume's data check sees (a review: stamped at the
    # end, an edited grade was recorded as ingested)
    sources = stamp_sources(layout)
    plan, problems = _plan(cfg, layout, sizes)
    cache_dir = out / CACHE_DIR
    # a name in both sets is checked once the files are hashed, by their contents (below)
    collected = collect_images(cfg, layout, plan.grade_names, check_shared_names=False)
    # a plain folder of 0..4 grades without data.grades: ICDR's, if its images turn out colour
    inferred = infer_icdr(cfg, layout, plan.grade_names, collected, check_shared_names=False)
    scale_errors: list[Problem] = []  # the drac scale's errors, said if the images are grey after all
    if inferred is not None:
        scale_errors = [p for p in collected[1] if is_scale_problem(p)]
        collected, scale_note = inferred
        plan = dataclasses.replace(plan, grade_names=GRADE_SCALES["icdr"], grades_source=INFERRED_ICDR)
        problems.append(scale_note)
    entries, found, table, left_out, missing = collected
    dialect = table.dialect if table is not None else ""
    encoding = table.encoding if table is not None else ""
    # no training or test image (a root one level too high): decided before the unlabelled
    # pool joins, which holds no such image; said alone, or beside the pool's errors
    no_images = [] if entries or any(p.severity == "error" for p in found) else [no_images_problem(layout)]
    problems += found
    pool, found = collect_unlabelled(cfg, root)
    # what each pool folder's listing ignored (subfolders, hidden files): its 'skipped' count
    pool_skipped = Counter(str(Path(p.path).parent) for p in found if _listing_skip(p))
    entries, problems = entries + pool, [p for p in problems if not _pool_subfolder(p, cfg)] + found
    if no_images and not any(p.severity == "error" for p in problems):
        # a subfolder the likely root names is that root: its 'move its images up' note would
        # offer the other way out beside the question (a new-contributor trial, F5)
        # and a subfolder whose images the fix copies into one folder is not told to move them up
        problems = [p for p in problems if not _named_as_root(p, no_images[0].fix)
                    and not _copied_by_fix(p, no_images[0].fix)]
        listing = f"\n{_listing(problems, out, root, said)[0]}" if problems else ""
        raise IngestError(no_images_message(layout) + listing, problems)
    problems = no_images + problems
    # a killed run's spill and half-written arrays: removed (and said) even when the listing
    # stops this run below, so that they do not stay on the disk until a run gets through
    for stale in cache.remove_stale_temporaries(out) + cache.remove_stale_temporaries(cache_dir):
        problems.append(note(stale, "temporary file of an interrupted run removed", "nothing to do"))
    # what the folder listing alone tells (label rows without an image, images without a row,
    # empty files): said now, before hours of decoding, as the train command's preflight says
    # them (drac_ssl.preflight._facts_from_layout); --missing leave_out, --unlabelled ... made
    # the others notes already. The grade-scale errors of an inferred ICDR scale wait: grey
    # images would make them DRAC's (below).
    # with the way out a labelled image's unreadable file gets (leave_out_way), as when decoded
    labelled = {e.path for e in entries if e.label is not None and layout.npz is None}
    problems += [leave_out_way(p, cfg.missing) if Path(p.path) in labelled else p
                 for p in empty_image_files(entries)]
    problems += _too_few_fold_units(entries, cfg, str(layout.labels_csv or root))
    listed = [p for p in problems if p.severity == "error"
              and not (inferred is not None and p.kind == "grade-scale")]
    if listed:
        listing, full_list = _listing(problems, out, root, said)
        written = "nothing was written but the full list, named below" if full_list else "nothing was written"
        opened = ("the image files were not decoded yet (only the bytes of names differing in "
                  "case or form compared)" if contents_compared(p.line for p in listed) else
                  "the image files themselves were not opened yet")
        raise IngestError(f"ingest of {root} stopped: {len(listed)} problem(s) must be fixed first "
                          f"({written}); found from the folder listing and the label CSV: "
                          f"{opened}, the rerun decodes and checks every one\n{listing}", problems)

    problems += _pool_dropped(out, cfg)
    previous = cache.load_state(cache_dir, root, sizes, plan.options)
    if previous.reason:
        problems.append(note(cache_dir, previous.reason, previous.action))
    if why := spill.resume(cache.resume_key(root, sizes, plan.options)):
        problems.append(note(spill.journal_path, f"decoded rows kept by a stopped ingest not used "
                                                 f"({why}): decoded again", "nothing to do"))
    if spill.lock_note:
        problems.append(note(cache_dir / cache.INGEST_LOCK, spill.lock_note, "nothing to do"))
    said_before = _check_disk(out, entries, previous, sizes, plan, verbose, said, spill)[1]
    problems += said_before
    if verbose and cfg.near_duplicate_mse > 0 and sum(near_copy_pairs(entries)) >= NEAR_COPIES_ANNOUNCED_PAIRS:
        print(said(near_copies_plan(entries, sizes, plan.channels_setting)), file=sys.stderr)
    _load_records(entries, previous, plan, cfg.workers, layout.npz, spill)
    # a deep file's conversion to 8-bit is said of the whole set below (_bit_depths), not per file
    record_problems = [leave_out_way(p, cfg.missing) if entry.label is not None and layout.npz is None else p
                       for entry in entries for p in entry.record.problems(entry.display)
                       if not is_depth_conversion(p)]
    at = len(problems)  # where they go, once the channels are known (below)
    if layout.npz is None:  # a name in both sets: the same image (identical_content's) or two
        problems += names_in_both([e.path for e in entries if e.split == "train"],
                                  [e.path for e in entries if e.split == "test"],
                                  allowed=layout.shared_test_names,
                                  digests={e.path: _copy_keys(e) for e in entries},
                                  row_names=label_row_names(table), eye_pairs=eye_pairs(cfg, layout))
    # the same bytes or the same decoded pixels (a re-saved copy): one image (copy_keys)
    problems += identical_content([(e.display, e.split, e.record.sha256, _grade_words(e, table),
                                    e.record.pixels_sha256)
                                   for e in entries if e.record.sha256 and e.split != UNLABELLED],
                                  blank={p.path for p in record_problems if p.kind == "blank"})
    found, pool_copies = _pool_copies(entries)
    problems += found
    pool_counts = _pool_folder_counts(cfg, pool, entries, pool_skipped)
    problems += _pool_share_note(entries)
    # the labelled and test images decide the channels (and so the modality); the ungraded pool
    # of data.unlabelled follows them
    labelled_part = [e for e in entries if e.split != UNLABELLED]
    channels, channels_why, channel_problems = _resolve_channels(labelled_part or entries, plan, root)
    if inferred is not None and plan.resolved_modality(layout, channels) != "fundus":
        # not colour photographs after all (a grey plain folder reads as UW-OCTA): DRAC's scale
        # stands, and its errors with it
        problems = [p for p in problems if p.kind != "grade-scale"] + scale_errors
    if (plan.options.expected_side and cfg.expected_side < 0
            and plan.resolved_modality(layout, channels) == "fundus"):
        # the layout's expectation (DRAC's 1024 px), but colour found under auto: fundus
        # photographs, and a grey one among them (a red-free shot) is a photograph too, not a
        # UW-OCTA export held to 1024 px (a side the user set is held to)
        record_problems = [p for p in record_problems if not is_uw_octa_size(p)]
    if plan.resolved_modality(layout, channels) == "octa":  # the squeeze's fix is a photograph's
        record_problems = [cache.octa_squeeze_fix(p) for p in record_problems]
    problems[at:at] = apply_strict(record_problems, cfg.strict)
    _redecode_lost_colour(entries, previous, channels, plan, cfg.workers, spill)
    if plan.options.target != "gray":  # with data.channels=1 the decoding converted (and said so)
        channel_problems += _pool_channels(entries, channels)
    problems += apply_strict(channel_problems, cfg.strict) + _upscale_note(entries, sizes, root)
    problems += apply_strict(_small_images(entries, sizes, cfg), cfg.strict)
    filtered = plan.options.fundus_crop or plan.options.graham
    depth_problems, depth_facts = _bit_depths(
        entries, root, lambda some: _mean_levels(some, min(sizes), previous, channels, spill, filtered))
    problems += apply_strict(depth_problems, cfg.strict)
    octa = plan.resolved_modality(layout, channels) == "octa"
    decoded = [e.record for e in entries if e.record.width]
    cropped = sum(r.disc_cut for r in decoded)
    problems += apply_strict(_fundus_options_on_octa(plan, layout, channels, root, (cropped, len(decoded))),
                             cfg.strict)
    # the sizes' notes speak of the grades and the graded folder: the graded images alone (the
    # pool's thumbnails are _small_images' pool warning)
    graded = [e for e in entries if e.split != UNLABELLED]
    # colour photographs too, in a plain folder only (pooled sources' sizes): a known set's
    # cameras export several sizes (APTOS, EyePACS, Messidor), a note on every ingest of it
    if not plan.options.expected_side and (octa or layout.kind == "plain"):
        problems += _sizes_note(graded, sizes, root, octa)
    problems += enlarged_images_note(_decoded_sizes(graded), max(sizes), root)
    problems += apply_strict(_phantom_images(entries, root), cfg.strict)

    twin_groups = None
    pool_near_test: list[str] = []  # the pool's near twins of test images (data.near_duplicate_mse)
    attention: list[Problem] = []  # said again at the end of the summary: lost among the others
    site_folds = ""  # how the folds treated the sites (data_prep.folds.SITE_FOLDS), from _assign_folds
    if not any(p.severity == "error" for p in problems):
        twin_groups, twin_problems, pool_near_test = _near_twin_groups(entries, cfg, sizes, previous, channels,
                                                       spill, str(layout.labels_csv or root), verbose)
        problems += apply_strict(twin_problems, cfg.strict)
        problems += apply_strict(_twin_share_problems(twin_groups, cfg, str(layout.labels_csv or root)),
                                 cfg.strict)
        fold_problems, site_folds = _assign_folds(entries, cfg, str(layout.labels_csv or root), layout,
                                                  plan.grade_names, twin_groups,
                                                  table.patient_guess if table is not None else None)
        problems += fold_problems
        attention = _empty_grades(entries, plan.grade_names, str(layout.labels_csv or root),
                                  cfg.strict, left_out_grades(missing), table)
        problems += attention

    errors = [p for p in problems if p.severity == "error"]
    if errors:
        listing, full_list = _listing(problems, out, root, said)
        n_kept = spill.kept([e.rel for e in entries]) if spill.resumable else 0
        nothing = "no manifest or cache array was written" if n_kept else "nothing was written"
        written = f"{nothing} but the full list, named below" if full_list else nothing
        wanted = max(cache.DECODED.wanted, n_kept)
        reused = len(entries) - wanted  # from the finished cache of an earlier ingest
        redo = (f"; {n_kept:,} of {len(entries):,} images are decoded and kept in {cache_dir}, "
                f"{_kept_size_words(cache_dir)} (the rerun of the same command, once the files are "
                f"fixed, decodes only the other {wanted - n_kept:,}"
                + (f" and reuses {reused:,} from the finished cache" if reused > 0 else "")
                + f"; to discard them instead: {cache.discard_words(cache_dir)})"
                if n_kept else "")
        raise IngestError(f"ingest of {root} stopped: {len(errors)} problem(s) must be fixed first "
                          f"({written}{redo})\n{listing}", problems)

    try:
        cache_paths = _write(out, root, sizes, entries, previous, channels, spill,
                             fold_groups=twin_groups is not None, verbose=verbose)
        per_grade, per_split, per_fold = _counts(entries, len(plan.grade_names))
        patient_facts = _patient_facts(entries, cfg, table.columns if table is not None else (),
                                       layout.grade_column, layout.image_column, layout,
                                       table.patient_guess if table is not None else False)
        result = IngestResult(
            out_dir=out, manifest_path=out / MANIFEST_NAME, summary_path=out / SUMMARY_NAME,
            cache_paths=cache_paths, root=root, layout=layout.kind,
            n_train=per_split["train"], n_test=per_split["test"], n_unlabelled=per_split[UNLABELLED],
            counts_per_grade=per_grade, counts_per_fold=per_fold,
            counts_per_site_fold=site_fold_counts(entries),
            site_folds=site_folds,
            warnings=[said(p.line) for p in problems if p.severity == "warning"],
            notes=[said(p.line) for p in problems if p.severity == "note"],
            problems=[],
            findings=problems,
            n_decoded=sum(e.record.decoded for e in entries),
            n_reused=sum(not e.record.decoded for e in entries),
            grade_names=plan.grade_names,
            channels=channels,
            modality=plan.resolved_modality(layout, channels),
            n_grey_train=sum(1 for e in entries if e.split == "train" and e.record.sha256
                             and _grey_picture(e.record)),
            preprocessing=_preprocessing_words(cfg, problems, sum(per_split.values())),
            patients=patient_facts,
            near_duplicates=_twin_facts(twin_groups, cfg, sizes, bool(patient_facts["grouped"])),
            unlabelled_copies=pool_copies,
            unlabelled_near_test=pool_near_test,
            unlabelled_folders=pool_counts,
            left_out_ungradable=[(row, None if path is None else relative(path, root))
                                 for row, path in left_out],
            left_out_missing=missing,
            left_out_repeated=list(table.repeats) if table is not None else [],
            n_phantom_marked=sum(1 for e in entries if e.record.phantom),
            phantom_marked_by_split=_phantom_split_counts(entries),
            bit_depths=depth_facts,
            attention=[said(p.line) for p in attention],
            referable_from=referable_facts(entries, cfg, layout.grade_column),
        )
        result.seconds = time.perf_counter() - start
        atomic_write_json(result.summary_path,
                          _summary(result, cfg, layout, plan, channels_why, dialect, sources,
                                   encoding))
        cache.save_state(cache_dir, root, sizes, [e.record for e in entries], plan.options,
                         channels, verbose=verbose)
        spill.finished()  # the kept rows are in the arrays now: removed on the way out
        cache.release_held(cache_dir)  # and so are the held old cache's
    except OSError as exc:
        raise IngestError(_write_failed_words(exc, Path(exc.filename or out), out, spill.disk_needed)) from None
    if verbose:
        if shown := [p for p in problems if p not in said_before]:  # the disk's warning was said before decoding
            print(said(format_problems(shown)))
        print(said(format_summary(result)))
    return result


MOVE_OUT = "move it out of the image folder"
"""How a file's fix (:mod:`data_prep.decode`'s, ``not an image``) says to take it out of the
training folder: :func:`leave_out_way` makes that the rerun that works, not a second way out."""


def leave_out_way(problem: Problem, missing: str) -> Problem:
    """``problem`` (a finding of a labelled training image's file) with, when it is an error (the
    file cannot be read, decoded or graded: truncated, corrupt, not an image ...), the other way
    out in its fix: moving the file out of the image folder and rerunning, after which
    ``data.missing=leave_out`` (``--missing leave_out``, under which this ingest may already run:
    ``missing``) leaves its label row out on the record, as a row whose image is nowhere.

    The fix then reads as one pair of choices, ``FIX; or move it out of the image folder and
    rerun ...``: a fix that already ends ``... or move it out of the image folder``
    (:data:`MOVE_OUT`: ``replace it with the real image or move it out of the image folder``),
    which alone would leave the row without an image (an error), has that ending replaced, not
    a second one appended. Anything else is returned as it is."""
    if problem.severity != "error":
        return problem
    way = (f"{MOVE_OUT} and rerun (--missing leave_out then lists its row as left out)"
           if missing == "leave_out" else
           f"{MOVE_OUT} and rerun with --missing leave_out (its row is then listed as left out)")
    fix = problem.fix
    for ending in (f", or {MOVE_OUT}", f" or {MOVE_OUT}", f"; or {MOVE_OUT}"):
        if fix.endswith(ending):
            fix = fix[: -len(ending)]
            break
    return dataclasses.replace(problem, fix=f"{fix}; or {way}")


def _listing(problems: Sequence[Problem], out: Path, root: Path,
             said: Callable[[str], str] = _as_written) -> tuple[str, Path | None]:
    """The printed list of a failed ingest's problems, and the file holding all of them (None
    when none was written). When the printed list leaves a line out (more than
    :data:`data_prep.problems.SHOWN_PER_KIND` of a kind, or files merged into one line that
    names only some: :func:`data_prep.problems.left_out_of_print`, the test the list itself
    uses to name the file), every line goes to ``out/ingest_problems.txt``, which the list
    names; if that file cannot be written, every line is printed. ``said`` words the file
    (:func:`run`'s ``wording``); the list is worded with the error's message."""
    if not left_out_of_print(problems):
        return format_problems(problems), None
    path = out / PROBLEMS_NAME
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, f"ingest of {root}: every problem found "
                                f"({datetime.now(UTC).isoformat(timespec='seconds')})\n"
                                f"{said(format_problems(problems, per_kind=None))}\n")
    except OSError:  # no file to point to: every line is printed
        return format_problems(problems, per_kind=None), None
    return format_problems(problems, full_list=str(path)), path


def _write(out: Path, root: Path, sizes: Sequence[int], entries: Sequence[ImageEntry],
           previous: cache.CacheState, channels: int,
           spill: cache.RowSpill | None = None, fold_groups: bool = False,
           verbose: bool = False) -> dict[int, Path]:
    """Arrays, then the manifest. The state and the manifest are removed first (the state held
    aside, :func:`data_prep.cache.hold_state`, for the rerun of a killed run to reuse the old
    rows), so that a run killed in between leaves nothing that a later run or stage would trust; arrays of
    sizes not in ``sizes`` (an earlier ingest's) are removed before the manifest is written
    (their rows follow that ingest's manifest, not this one's). ``fold_groups``: the manifest
    gets :data:`FOLD_GROUP_COLUMN` (``data.near_duplicate_mse`` > 0). The writing shows its
    progress in rows (:class:`drac_ssl.console.LoopProgress`; ``verbose``: a line at the start,
    for arrays of :data:`data_prep.cache.ANNOUNCED_BYTES` or more)."""
    cache_dir = out / CACHE_DIR
    records = [e.record for e in entries]
    paths = {size: cache.array_path(cache_dir, size) for size in sizes}
    if not cache.unchanged(records, previous, channels):
        cache.hold_state(cache_dir)  # the state goes; the old rows stay readable for a killed run's rerun
        (out / MANIFEST_NAME).unlink(missing_ok=True)
        (out / SUMMARY_NAME).unlink(missing_ok=True)
        shape_bytes = sum(math.prod(cache.array_shape(len(records), size, channels)) for size in paths)
        start = (f"[ingest] writing the cache arrays ({', '.join(f'{s} px' for s in paths)}: "
                 f"{cache.bytes_words(shape_bytes)}) in {cache_dir}")
        announce = verbose and shape_bytes >= cache.ANNOUNCED_BYTES
        with LoopProgress(len(records) * len(paths), "ingest", "writing the cache", "rows", "row",
                          start=start if announce else None) as progress:
            for size, path in paths.items():
                cache.write_assembled(path, records, size, previous, channels, spill, progress.update)
    previous.arrays.clear()  # release the memory maps of the old arrays
    for stale in cache_dir.glob("[0-9]*px.npy"):  # sizes no longer asked for: rows of another manifest
        if stale not in paths.values():
            stale.unlink(missing_ok=True)
    # the old summary goes before the manifest is rewritten, with an unchanged cache too (other
    # folds): a rerun killed in between leaves no summary of the last ingest beside the new manifest
    (out / SUMMARY_NAME).unlink(missing_ok=True)
    atomic_write_text(out / MANIFEST_NAME, _manifest_text(entries, fold_groups))
    return paths


def _summary(result: IngestResult, cfg: DataConfig, layout: Layout, plan: Plan,
             channels_why: str, dialect: str, sources: dict[str, dict[str, object]],
             encoding: str = "") -> dict[str, object]:
    """The content of ``ingest_summary.json``: what was found and made (``label_columns``,
    ``grades``, ``channels`` ... as resolved) and ``config``, the data settings as given
    (``layout: auto``, ``channels: ''``: left to the layout), but for the label columns: its
    ``image_column`` / ``grade_column`` are the columns read, as ``label_columns`` (a public
    layout's own, such as IDRiD's ``Image name`` / ``Retinopathy grade``, when the defaults
    ``image name`` / ``DR grade`` were not set, so never a pair no CSV had); None for a
    MedMNIST ``.npz``, which has no label CSV."""
    n = result.n_train + result.n_test + result.n_unlabelled
    columns = ({"image": layout.image_column, "grade": layout.grade_column}
               if layout.npz is None else None)
    by_kind = Counter(f"{p.severity}:{p.kind or 'other'}" for p in result.findings)
    return {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "root": str(result.root),
        "layout": result.layout,
        "train_dir": str(layout.train_dir) if layout.train_dir else None,
        "test_dir": str(layout.test_dir) if layout.test_dir else None,
        "labels_csv": str(layout.labels_csv) if layout.labels_csv else None,
        "labels_csv_dialect": dialect or None,
        # the codec taken (GBK told by the folder's names): a later read without the folder's
        # images (source_check's changed grades) reads the file so, not by a Windows-1252 guess
        "labels_csv_encoding": encoding or None,
        "unlabelled_dirs": [str(folder) for folder in pool_folders(cfg)[0]],
        "unlabelled_near_test": result.unlabelled_near_test,  # kept: near twins of test images
        "unlabelled_folders": result.unlabelled_folders,  # per folder: kept, copies, skipped
        "unlabelled_copies": result.unlabelled_copies,  # left out: byte- or pixel-identical to another image
        "source_files": sources,  # what a resumed run compares (source_check), stamped before reading
        "label_columns": columns,
        "manifest": MANIFEST_NAME,
        # its text cells guarded against a spreadsheet formula (drac_ssl.io.guarded_cell): readers
        # unguard them; a manifest of an ingest before the guard lacks this and is read as written
        GUARDED_CELLS_FIELD: True,
        # the manifest as written: a resume refuses one edited since (drac_ssl.preflight)
        "manifest_sha256": sha256_file(result.manifest_path),
        "n_images": n,
        "grades": {"names": list(result.grade_names), "k": len(result.grade_names),
                   "source": plan.grades_source,
                   # data.referable_from > 0: the two grades made of ICDR labels (referable_facts)
                   **({"referable_from": result.referable_from} if result.referable_from else {})},
        "channels": {"value": result.channels, "setting": plan.channels_setting,
                     "reason": channels_why,
                     # labelled training images that are grey pictures: the bundle's caveat on
                     # grey inputs to a colour model (drac_ssl.grading.image_notes.grey_training_words)
                     "grey_train": result.n_grey_train},
        "modality": {"value": plan.resolved_modality(layout, result.channels),
                     "setting": plan.modality},
        "patients": result.patients,
        # data.site_column: the column, how the folds treated the sites (data_prep.folds.SITE_FOLDS)
        # and each site's labelled training images per fold; absent without it
        **({"sites": {"column": cfg.site_column, "folds": result.site_folds,
                      "per_fold": {site: {str(f): n for f, n in per.items()}
                                   for site, per in result.counts_per_site_fold.items()}}}
           if result.site_folds else {}),
        # data.near_duplicate_mse > 0: the near twins kept in one fold (counts); null when off
        "near_duplicates": result.near_duplicates,
        "ungradable": cfg.ungradable,
        # data.ungradable=leave_out: every row left out, its image (None: not in the folder)
        # marked_by: the column that marked a row ungradable beside its grade cell
        # patient: the row's, as the manifest's patient column would hold it ('' none), so that
        # the per-patient referral can count the patients an ungradable image leaves judged on
        # their other images, or with none gradable (drac_ssl.metrics.patient_screening left_out)
        "left_out_ungradable": [{"name": row.name, "line": row.line, "grade_cell": row.written,
                                 "image": image, "patient": _left_out_patient(row, cfg, layout),
                                 **({"marked_by": row.marked_by} if row.marked_by else {})}
                                for row, image in result.left_out_ungradable],
        # images carrying drac_ssl's phantom marker (a PNG text chunk): > 0 makes the run a
        # phantom one, as the phantom set's phantom.json beside the images does
        "phantom_marked": result.n_phantom_marked,
        # those per split: the labelled (train) ones decide phantom / mixed for the figures
        "phantom_marked_by_split": result.phantom_marked_by_split,
        "missing": cfg.missing,
        # data.missing=leave_out: every label row left out because its image is nowhere
        "left_out_missing": [{"name": row.name, "line": row.line, "grade_cell": row.written, "grade": row.grade}
                             for row in result.left_out_missing],
        # label rows written again (same name, grade cell and patient): each left out, its image
        # kept with the row at kept_line (or, that row in left_out_missing, missing too);
        # other_cells: [column, cell] of its other columns (a note, the eye, the other eye's
        # grade; a header written twice told by position, 'note (column 3)'), which the printed
        # warning compares with the kept row's
        "left_out_repeated": [{"name": row.name, "line": row.line, "grade_cell": row.written,
                               "grade": row.grade, "kept_line": kept,
                               **({"other_cells": [list(pair) for pair in row.others]}
                                  if row.others else {})}
                              for row, kept in result.left_out_repeated],
        # the options as requested (replayed on every input), and what was done, in the words
        # printed (a crop left undone on some images says so)
        "preprocessing": {"fundus_crop": cfg.fundus_crop, "graham": cfg.graham,
                          "words": list(result.preprocessing),
                          "graham_mask": cfg.graham_mask,
                          "graham_reflect_padding": plan.options.graham_reflect_padding,
                          # the source of fundus_crop / graham / graham_mask, in every summary
                          # as before; a new step records its own source under its own key
                          # (docs/design.md, adding a preprocessing option, rule 3)
                          "reference": "B. Graham, Kaggle Diabetic Retinopathy Detection "
                                       "competition report, 2015"},
        "counts": {
            "per_split": {"train": result.n_train, "test": result.n_test,
                          UNLABELLED: result.n_unlabelled},
            "per_grade": {str(g): c for g, c in result.counts_per_grade.items()},
            "per_fold": {str(f): {str(g): c for g, c in pg.items()}
                         for f, pg in result.counts_per_fold.items()},
        },
        "sizes": list(plan.sizes),
        "cache": {str(s): {"path": f"{CACHE_DIR}/{p.name}",
                           "shape": list(cache.array_shape(n, s, result.channels)),
                           "dtype": "uint8", "channel_order": "RGB" if result.channels == 3
                           else "grey"}
                  for s, p in result.cache_paths.items()},
        # how the images became 8-bit, per group of files converted alike: _bit_depths
        "bit_depths": result.bit_depths,
        "findings_by_kind": dict(sorted(by_kind.items())),
        # the warnings that need a decision before training, also among "warnings"
        "attention": result.attention,
        "warnings": result.warnings,
        "notes": result.notes,
        "n_decoded": result.n_decoded,
        "n_reused": result.n_reused,
        "seconds": round(result.seconds, 3),
        "config": {**dataclasses.asdict(cfg),
                   "image_column": None if columns is None else columns["image"],
                   "grade_column": None if columns is None else columns["grade"]},
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


def _grades(text: str) -> list[str]:
    """``--grades``' names, comma-separated (``Normal,NPDR,PDR``; a name may hold a bracketed
    part, ``No DR,Mild [R1],PDR``), or written as the pipeline's list (``'[Normal, NPDR, PDR]'``,
    ``'["Normal", "NPDR", "PDR"]'``), read as ``data.grades`` reads it
    (:func:`drac_ssl.config.read_yaml`): its brackets and quote marks are the list's, not part
    of the names (small-set review F7: they made grades "[Normal" and "PDR]"). A list YAML
    cannot read as names alone (``[No DR, Mild [R1], PDR]``) loses its outer brackets and is
    split at its commas, each name's enclosing quote marks dropped. A scale name (``icdr``,
    ``drac``) passes as one name.

    Raises:
        argparse.ArgumentTypeError: a name with an unpaired bracket (``Normal],[NPDR``,
        ``[Normal,NPDR``)."""
    import yaml

    from drac_ssl.config import read_yaml

    listed = text.strip()
    names: list[str] | None = None
    if listed.startswith("[") and listed.endswith("]"):
        try:
            read = read_yaml(listed)
        except yaml.YAMLError:
            read = None
        if isinstance(read, list) and all(isinstance(n, (str, int, float)) and not isinstance(n, bool)
                                          for n in read):
            names = [str(n).strip() for n in read if str(n).strip()]
        else:
            listed = listed[1:-1]
    if names is None:
        names = [_unquoted(part.strip()) for part in listed.split(",") if _unquoted(part.strip())]
    odd = [name for name in names if name.count("[") != name.count("]")
           or ("]" in name and name.index("]") < name.index("["))]
    if odd:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the grade name {odd[0]!r} holds an unpaired bracket; give the names "
            f"comma-separated, --grades \"Normal,NPDR,PDR\", or as one list, --grades '[Normal, NPDR, PDR]'")
    return names


def _unquoted(name: str) -> str:
    """``name`` without one pair of enclosing quote marks (``"NPDR"`` or ``'NPDR'``), stripped."""
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
        return name[1:-1].strip()
    return name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``ingest`` sub-command's options; defaults come from :class:`DataConfig`."""
    from drac_ssl.config import DATA_LAYOUTS, SEED_MAX

    d = DataConfig()
    parser.add_argument("--root", required=True,
                        help=layout_root_help())  # every layout of DATA_LAYOUTS, named
    parser.add_argument("--out", required=True, help="output folder (RUN/data)")
    parser.add_argument("--layout", choices=DATA_LAYOUTS, default=d.layout,
                        help=f"the folder layout (default: {d.layout}: recognised from --root)")
    parser.add_argument("--strict", action="store_true",
                        help="make every warning fatal: converted images (colour to grey, bit "
                             "depths mixed within the set, sizes other than --expected-side ...) and "
                             "unhonoured properties are rejected instead of converted")
    parser.add_argument("--labels-csv", default=d.labels_csv,
                        help="label CSV (default: found in the layout)")
    parser.add_argument("--image-column", default=d.image_column,
                        help="the label CSV's image-name column (default: the layout's; a plain "
                             "folder's CSV with a public layout's columns is read with those)")
    parser.add_argument("--grade-column", default=d.grade_column,
                        help="the label CSV's grade column (default: as --image-column)")
    parser.add_argument("--patient-column", default=d.patient_column,
                        help="optional; folds are grouped by patient when given")
    parser.add_argument("--site-column", default=d.site_column,
                        help="optional; the label CSV's column of each image's site (source): folds "
                             "stratified on grade x site, figures per site (data.site_column)")
    parser.add_argument("--grades", type=_grades, default=d.grades,
                        help="names of grades 0..K-1, comma-separated, or drac / icdr "
                             "(default: the layout's scale)")
    parser.add_argument("--referable-from", type=ascii_int("--referable-from"), default=d.referable_from,
                        metavar="N",
                        help="train a referable-DR model of two grades from ICDR labels (0..4, e.g. "
                             "Messidor-2's adjudicated_dr_grade): a label of grade N or more is "
                             "grade 1 (referable), a lower one grade 0; 2 = moderate NPDR or worse; "
                             "1: the column already holds 0/1 (keeps them as they are). "
                             "Needs two grades (--grades empty: non-referable, referable); "
                             "recorded in ingest_summary.json (default: 0, off)")
    parser.add_argument("--channels", choices=[c for c in DATA_CHANNELS if c], default=d.channels,
                        help="1 (grey), 3 (RGB) or auto (what the images are); default: 1 for "
                             "the DRAC layout, auto for plain folders and the fundus layouts")
    parser.add_argument("--modality", choices=list(DATA_MODALITIES), default=d.modality,
                        help="what the images are: octa (UW-OCTA) or fundus (fundus photographs); "
                             "auto: the layout's (a plain folder: fundus when colour)")
    parser.add_argument("--expected-side", type=ascii_int("--expected-side"), default=d.expected_side,
                        metavar="PX",
                        help="the side in pixels every grey image should have (square); another "
                             "size is resized with a warning. -1 (the default): the layout's, 1024 "
                             "for the DRAC layout (the UW-OCTA export), no check otherwise; 0: no "
                             "check; e.g. 800 for a device exporting 800 x 800")
    parser.add_argument("--ungradable", choices=list(DATA_UNGRADABLE), default=d.ungradable,
                        help="a label row whose grade cell is empty or NA (an image the graders "
                             "found ungradable; DeepDRiD's grade 5 and Messidor-2's "
                             "adjudicated_gradable 0 too): error (the default) "
                             "stops the ingest; leave_out leaves the row and its image out, "
                             "listed in ingest_summary.json")
    parser.add_argument("--missing", choices=list(DATA_MISSING), default=d.missing,
                        help="a label row whose image is not in the training folder (a partial "
                             "download): error (the default) stops the ingest; leave_out leaves "
                             "the row out, listed in ingest_summary.json")
    parser.add_argument("--fundus-crop", action="store_true",
                        help=FUNDUS_CROP_DOES)
    parser.add_argument("--graham", action="store_true",
                        help="Graham's local-mean subtraction (Kaggle DR 2015 winner)")
    parser.add_argument("--no-graham-mask", dest="graham_mask", action="store_false",
                        help="with --graham: keep the border instead of setting it to 128")
    parser.add_argument("--unlabelled", action="append", default=[], metavar="FOLDER",
                        help="a folder of further images without grades, for the self-supervised "
                             "pretraining and UMM only (repeat for several)")
    parser.add_argument("--folds", type=ascii_int("--folds"), default=d.n_folds,
                        help=f"cross-validation folds, stratified by grade (default: {d.n_folds})")
    parser.add_argument("--seed", type=seed_int("--seed", "the fold seed", d.fold_seed, SEED_MAX), default=d.fold_seed,
                        help=f"fold seed (default: {d.fold_seed})")
    parser.add_argument("--near-duplicate-mse", type=float, default=d.near_duplicate_mse, metavar="MSE",
                        help="keep labelled images whose mean squared pixel difference (0..1 scale, "
                             "smallest cached copy at most 64 px) is below MSE in one fold, as one "
                             "patient's: every such pair is linked, and chains of them make one group; "
                             "e.g. 1e-4, an RMS difference of 1 %% of the range (default: 0, off)")
    parser.add_argument("--cache-sizes", type=_sizes, default=d.cache_sizes, metavar="SIZES",
                        help="cache sizes in pixels, comma-separated, as data.cache_sizes of "
                             "python -m drac_ssl.train (--sizes, its older name, still works) (default: "
                             f"{','.join(map(str, d.cache_sizes))})")
    # the older name of --cache-sizes: old commands keep working; --help shows one name
    parser.add_argument("--sizes", dest="cache_sizes", type=_sizes, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=ascii_int("--workers"), default=d.workers,
                        help=f"processes decoding the images; 0 = the usable cores (default: {d.workers})")
    parser.set_defaults(func=cli)


def config_from_args(args: argparse.Namespace) -> DataConfig:
    """The ``data`` settings (:class:`drac_ssl.config.DataConfig`) that the parsed arguments of
    ``python -m data_prep ingest`` give: each flag sets the setting of its name
    (``--cache-sizes``, or its older name ``--sizes``, -> ``cache_sizes``, ``--folds`` ->
    ``n_folds``, ``--seed`` -> ``fold_seed``); the rest keep their defaults. Nothing is checked here: :func:`run` checks the settings (IngestError)."""
    return dataclasses.replace(
        DataConfig(), root=args.root, layout=args.layout, labels_csv=args.labels_csv,
        image_column=args.image_column, grade_column=args.grade_column,
        patient_column=args.patient_column, site_column=args.site_column, unlabelled=list(args.unlabelled), grades=list(args.grades),
        channels=args.channels, modality=args.modality, expected_side=args.expected_side,
        fundus_crop=args.fundus_crop, graham=args.graham,
        graham_mask=args.graham_mask, cache_sizes=list(args.cache_sizes), n_folds=args.folds,
        fold_seed=args.seed, near_duplicate_mse=args.near_duplicate_mse, strict=args.strict, workers=args.workers, ungradable=args.ungradable,
        missing=args.missing, referable_from=args.referable_from)


def out_among_inputs(cfg: DataConfig, out: Path) -> str:
    """Why the ingest command must not write into ``out`` (its ``--out``), with the fix; ''
    when it may. Refused (a review: ``--out D`` with ``--root D`` wrote manifest.csv, cache/
    and ingest_summary.json among the images, and the next ingest of D stopped on "2 CSV files";
    a label file named manifest.csv was overwritten): ``out`` equal to the ``--root`` folder or
    inside it, or equal to the folder of ``--labels-csv`` when that folder holds images (an
    image folder of its own), or equal to the label CSV itself. A ``--root`` that is a file
    (a MedMNIST ``.npz``) refuses only itself; a root that does not exist is :func:`run`'s to say."""
    from drac_ssl.out_paths import folder_out_problem

    example = _suggested_out(cfg)  # runs/NAME/data, outside --root (--root .: a review)
    if cfg.root and (problem := folder_out_problem(
            out, "--out", Path(cfg.root).expanduser(), "--root", "the images and labels the ingest reads",
            example)):
        return problem
    if cfg.labels_csv:
        labels = Path(cfg.labels_csv).expanduser()
        if labels.is_file() and os.path.abspath(out) == os.path.abspath(labels):
            return (f"{out}: --out is the label CSV given with --labels-csv; the ingest writes a "
                    f"folder there.\n  fix: choose another folder, e.g. --out {example}")
        folder = labels.parent
        if labels.is_file() and folder.is_dir() and any(
                p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir() if p.is_file()) and (
                problem := folder_out_problem(out, "--out", folder, "--labels-csv", "the label CSV and "
                                              "images beside it", example)):
            return problem
    return ""


INGEST_LEFTOVERS = (PROBLEMS_NAME, "cache", f".{MANIFEST_NAME}.tmp-*", f".{SUMMARY_NAME}.tmp-*", ".spill-*")
"""What a failed, interrupted or killed ingest leaves in its ``--out`` (``fnmatch`` patterns):
the full list of problems, the cache folder it was filling, with the rows kept for the rerun
(a rerun of the command, after the data is fixed, writes there), and the temporaries of a kill
(``.manifest.csv.tmp-PID``; a spill in ``--out`` itself from older versions)."""


def out_in_use(cfg: DataConfig, out: Path) -> str:
    """Why ``python -m data_prep ingest`` must not write into the existing folder ``out`` (its
    ``--out``), with the fix; '' when it may: a folder not there or empty, the leftovers of a
    failed ingest (:data:`INGEST_LEFTOVERS`), or an earlier ingest of the same ``--root`` (its
    ``ingest_summary.json``'s ``root``, or, for one killed after its manifest but before its
    summary, the root its cache records: :func:`data_prep.cache.recorded_root`; the rerun
    :func:`drac_ssl.manifest.redo_ingest_fix` advises). Refused (a CLI review, data lost: ``--out EXISTING`` replaced a manifest.csv in
    an unrelated folder; into ``RUN/data`` of a trained run, the resumed training skipped the
    ingest as "already done" and report.md counted the new 13 images for a model trained on
    60): ``RUN/data`` of a run folder whose ``stages.json`` records any stage as done, its
    ingest included, or whose ``stages.json`` is damaged (:func:`drac_ssl.run_state.stages_record_damage`:
    its stages may be trained; a new run is the fix; the train command's own ingest does not come here), an earlier ingest of another root, and any other files.

    Raises:
        OSError: ``out`` or the run folder above it cannot be read (the command says it).
    """
    from drac_ssl.io import read_json_dict
    from drac_ssl.out_paths import folder_in_use_problem
    from drac_ssl.run_state import PIPELINE, STAGES_RECORD, read_stages_record, stages_record_damage

    folder = Path(os.path.abspath(out.expanduser()))
    example = _suggested_out(cfg)
    in_run = folder.name == "data" and folder.is_dir()
    status = read_stages_record(folder.parent) if in_run else {}
    done = [s for s in PIPELINE if isinstance(status.get(s), dict)
            and status[s].get("status") == "done"]
    # a damaged record reads as no stage done: refused too, as the run may well be trained (a review: a
    # cut stages.json let a hand ingest replace a trained run's manifest and cache)
    damage = stages_record_damage(folder.parent) if in_run and not done else None
    if done or damage is not None:
        new = shlex.quote(str(folder.parent.with_name(f"{folder.parent.name}-new") / "data"))
        whose = (f"whose {STAGES_RECORD} records its {', '.join(done)} stage(s)" if done else
                 f"whose {STAGES_RECORD} is damaged ({damage}), so which of its stages were trained on "
                 f"this data cannot be read")
        return (f"{out}: the data folder of the run {folder.parent}, {whose}: ingesting into it by hand "
                f"would change the data the "
                f"training recorded (its settings, cache sizes and manifest), and a resumed training "
                f"would skip the ingest as done or refuse the changed manifest.\n  fix: make a new run "
                f"for this data: --out {new} (then {python_command('drac_ssl.train')} -c CONFIG "
                f"run.name={shlex.quote(folder.parent.name + '-new')} "
                f"'run.stages=[pretrain,umm,finetune,export]', which trains on that ingest), or train "
                f"it in one step: {python_command('drac_ssl.train')} -c CONFIG "
                f"data.root={shlex.quote(str(cfg.root or '...'))} run.name=NEW, with this command's "
                f"other options given as their data.* settings")
    root = readable_absolute(cfg.root) if cfg.root else None

    def earlier(found: Path) -> str | None:
        summary = read_json_dict(found / SUMMARY_NAME)
        recorded = summary.get("root") if summary is not None else None
        if not recorded and _killed_before_summary(found):
            recorded = cache.recorded_root(found / CACHE_DIR)  # killed between its manifest and summary
        if not isinstance(recorded, str):
            return None  # no ingest's: its files are listed
        was = Path(recorded)
        # A MedMNIST folder records the .npz file it found as its root (layout's discovery).
        if root is not None and (same_path(was, root) or (was.suffix.lower() == ".npz" and same_path(was.parent, root))):
            return ""  # the same data's ingest: written again, as redo_ingest_fix advises
        return f"it holds the ingest of another data root, {was}"

    return folder_in_use_problem(out, "--out", example, "manifest.csv, ingest_summary.json and cache/",
                                 earlier, INGEST_LEFTOVERS) or ""


def _killed_before_summary(folder: Path) -> bool:
    """Whether ``folder`` (an ``--out`` without a summary) holds only what an ingest writes
    before its summary: its leftovers (:data:`INGEST_LEFTOVERS`), the files a desktop adds
    (:data:`drac_ssl.out_paths.DESKTOP_FILES`) and ``manifest.csv``, which begins with the
    ingest's header (one of the four of :func:`manifest_header`: with or without
    :data:`FOLD_GROUP_COLUMN` and :data:`SITE_COLUMN`).
    Only then is the root its cache records trusted (:func:`data_prep.cache.recorded_root`):
    a user's own manifest.csv or notes beside a cache folder are listed, not replaced
    (review 3 F1)."""
    from drac_ssl.out_paths import DESKTOP_FILES

    try:
        names = [p.name for p in folder.iterdir() if p.name not in DESKTOP_FILES]
        if any(name != MANIFEST_NAME and not any(fnmatch.fnmatchcase(name, pattern)
                                                 for pattern in INGEST_LEFTOVERS) for name in names):
            return False
        if MANIFEST_NAME not in names:
            return True  # killed before its manifest too: the cache's record alone
        with open(folder / MANIFEST_NAME, "rb") as fh:
            first = fh.readline(4096).rstrip(b"\r\n").decode("utf-8", "replace")
    except OSError:
        return False
    return first in {",".join(manifest_header(groups, sites)) for groups in (False, True) for sites in (False, True)}


def _suggested_out(cfg: DataConfig) -> str:
    """The ``--out`` a fix suggests: ``runs/NAME/data`` (NAME the root's), the documented place
    of a run folder's data (then ``python -m drac_ssl.train run.name=NAME``); outside the root
    when the command runs inside it (``--root .``), shell-quoted."""
    named = Path(os.path.abspath(Path(cfg.root).expanduser())) if cfg.root else None
    name = ((named.stem if named.is_file() else named.name) or "mydata") if named is not None else "mydata"
    suggested = Path("runs") / name / "data"
    if named is not None and named.is_dir() and Path(os.path.abspath(suggested)).is_relative_to(named):
        suggested = Path(os.path.relpath(named.parent / "runs" / name / "data"))
    return shlex.quote(str(suggested))


def cli(args: argparse.Namespace) -> int:
    """Run the ingest from parsed arguments; problems are printed, never a traceback.

    Returns the exit code: 0 done; 2 a user error (bad data or settings: IngestError,
    ConfigError), as argparse's own errors and ``python -m drac_ssl.train`` give, so that a
    script tells bad data from a crash (1, a traceback); 130 interrupted.

    ``--out``, when this command makes it, is made with mode 0700 (its owner's alone, as a
    run folder with ``run.private``: :func:`drac_ssl.io.make_run_folder`): the manifest names
    the files and patients, the cache holds the pixels. An ``--out`` named ``data`` is a run
    folder's (``runs/NAME/data``, the documented first step before ``python -m drac_ssl.train
    run.name=NAME``): its folder, when missing, is made 0700 as well. Both are removed again
    when the ingest fails or is interrupted and they are still empty."""
    out = Path(args.out).expanduser()
    cfg = config_from_args(args)
    try:
        made_parent = (out.name == "data" and not out.parent.exists()
                       and make_run_folder(out.parent, private=True))
        made = not out.exists() and make_run_folder(out, private=True)
    except OSError as exc:  # as run() words an output it cannot write
        print(f"error: {out}: cannot make the ingest output folder ({exc.strerror or exc}) -> check "
              f"the permissions of --out", file=sys.stderr)
        return 2
    try:
        # > /dev/full, | head: the ingest goes on and writes OUT whole, then names stdout (exit 2),
        # not "cannot write the ingest output ... check the permissions of --out"
        with stdout_survives() as stdout:
            run(cfg, args.out)
    except (IngestError, ConfigError) as exc:
        _remove_if_empty(out, made)
        _remove_if_empty(out.parent, made_parent)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PermissionError as exc:  # an input in another account's run folder (mode 0700): not a traceback
        _remove_if_empty(out, made)
        _remove_if_empty(out.parent, made_parent)
        print(f"error: {unreadable_words(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hold_signals_if_command()  # a second SIGTERM cannot cut the line nor kill by signal
        _remove_if_empty(out, made)
        _remove_if_empty(out.parent, made_parent)
        argv = getattr(args, "argv", None)
        command = f"{args.prog} {shlex.join(argv)}" if argv and getattr(args, "prog", None) else ""
        print(interrupted_words(command=command, folder=out / CACHE_DIR), file=sys.stderr)
        return interrupt_exit_code()  # 130 Ctrl-C, 143 SIGTERM (python -m data_prep)
    if stdout is not None and stdout.failed is not None:
        print(f"error: {stdout_words(stdout.failed, f'the ingest output in {out} is written')}", file=sys.stderr)
        return 2
    return 0


def kept_for_rerun(count: cache.DecodeCount | None = None) -> tuple[str, str, str] | None:
    """What a stopped ingest keeps for its rerun, in the words :func:`interrupted_words` and
    ``drac_ssl.train``'s interrupted ingest stage share: ``(kept, decodes, reuse)``, e.g.
    ``("12 of 40 images to decode are decoded and kept", "only the other 28", " and reuses the
    70 of the finished cache")`` (``decodes`` ``none of them again`` when all are kept;
    ``reuse`` '' when nothing is reused). ``count``: default :data:`data_prep.cache.DECODED`.
    None before the ingest knew which images it decodes (``wanted`` <= 0)."""
    count = cache.DECODED if count is None else count
    if count.wanted <= 0:
        return None
    left = count.wanted - count.kept
    return (f"{count.kept:,} of {count.wanted:,} images to decode are decoded and kept",
            f"only the other {left:,}" if left > 0 else "none of them again",
            f" and reuses the {count.reused:,} of the finished cache" if count.reused > 0 else "")


def interrupted_words(count: cache.DecodeCount | None = None, command: str = "",
                      folder: Path | None = None) -> str:
    """The line an interrupted (Ctrl-C, SIGTERM) ingest ends with: how many of the images it had
    to decode are kept (``count``, default :data:`data_prep.cache.DECODED`: exact, one journal
    line each, :class:`data_prep.cache.RowSpill`), the bytes they take and how to discard them,
    and that a rerun of the same ``command`` continues from there, decoding only the others
    (docs/data.md). Interrupted before the images to decode were known (the files being listed
    and hashed): that nothing of this run is kept, and what an earlier run kept in ``folder``
    (the cache folder) stays for the rerun."""
    count = cache.DECODED if count is None else count
    rerun = f": {command}" if command else " (the same options and --out)"
    where = Path(count.folder) if count.folder else folder
    size = cache.kept_bytes(where) if where is not None else 0
    discard = (f"\n  the kept rows take {bytes_words(size)} in {where}; to discard them instead: "
               f"{cache.discard_words(where)}") if size and where is not None else ""
    if (kept := kept_for_rerun(count)) is not None:
        # an incremental rerun: the finished ingest (its manifest, summary and cache) stays as it
        # is until this one finishes, and its images are reused by the rerun too
        reuse = kept[2] + (" (its manifest and summary stay until an ingest finishes)" if kept[2] else "")
        if count.kept >= count.wanted:  # stopped after decoding, as the cache was written
            return (f"interrupted: all {count.wanted:,} images to decode are decoded and kept in "
                    f"{count.folder or 'the cache folder'}; a rerun of the same command decodes none "
                    f"of them again{reuse}, and writes the cache{rerun}{discard}")
        return (f"interrupted: {kept[0]} in {count.folder or 'the cache folder'}; a rerun of the same "
                f"command continues from there and decodes {kept[1]}{reuse}{rerun}{discard}")
    if count.wanted == 0:
        return (f"interrupted: every image is reused from the finished cache, none was left to "
                f"decode; a rerun of the same command reuses them again{rerun}")
    return (f"interrupted while the image files were listed and checked, before this run resized any; "
            f"a rerun of the same command starts there again{rerun}"
            + (f"\n  rows kept by an earlier stopped ingest stay for it: {bytes_words(size)} in "
               f"{where}; to discard them instead: {cache.discard_words(where)}" if size and where is not None else ""))


def _remove_if_empty(folder: Path, made: bool) -> None:
    """Remove ``folder`` when this command ``made`` it and nothing was written into it."""
    if made:
        with contextlib.suppress(OSError):
            folder.rmdir()  # refused when it holds anything (ingest_problems.txt, the cache)


if __name__ == "__main__":  # python -m data_prep.ingest: a slip for the command below
    import shlex

    from drac_ssl.starting import python_command

    print(f"error: data_prep.ingest is a module, not the command; run: {python_command('data_prep')} ingest "
          f"{shlex.join(sys.argv[1:]) or '--root DIR --out DIR'} ({python_command('data_prep')} ingest --help "
          f"lists the options)", file=sys.stderr)
    sys.exit(2)
