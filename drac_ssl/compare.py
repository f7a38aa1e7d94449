"""Several run folders side by side: ``python -m drac_ssl.compare RUN [RUN ...]``.

A researcher who ran ``python -m drac_ssl.train`` several times (another head on the same
pretraining through ``run.reuse``, ``finetune.label_fraction=0.1``, another seed) gets one
table instead of a script of their own: one row per run and variant, with

* the settings that differ among the runs, as dotted keys (``finetune.head``), from each
  run's ``config.yaml`` (the output-only settings :data:`drac_ssl.stage_settings.OUTPUT_ONLY_SETTINGS`
  such as ``run.name`` aside; ``data.grades``, ``data.channels``, ``data.layout`` and
  ``data.modality`` as the run's ingest resolved them, so ``[]`` and the scale it stands
  for are not a difference); up to :data:`MAX_SETTING_COLUMNS` of them are columns, more get a
  table of their own (setting by run), and the settings of speed only
  (:data:`drac_ssl.stage_settings.SPEED_SETTINGS`: ``pretrain.num_workers``, ``compile``, ...) a line of their own,
* the mean number of training images per fold (``finetune/<variant>/metrics.json``,
  ``folds[*].n_train``: what ``finetune.label_fraction`` really left),
* the out-of-fold QWK with its 95% CI, accuracy, AUC one-vs-one and one-vs-rest and macro F1
  of ``finetune/comparison.json``;
* the screening figures the run's ``report.md`` gives, where its scale has them: with a
  referable cut (``finetune.referable_from``; auto: grade >= 2 on the ICDR scale, none on
  DRAC's) the AUC of P(referable) with the run's own CI (on its QWK's resamples: patients,
  the image groups the folds kept whole, or images) and the sensitivity and specificity of the submitted grades at the cut
  (:func:`drac_ssl.metrics.referable_report`); with two grades the sensitivity and
  specificity of the grading itself (:func:`drac_ssl.metrics.binary_screening`). The table
  and the CSV take them from ``comparison.json``'s rows (named as there:
  :data:`drac_ssl.oof.REFERABLE_COLUMNS`, :data:`drac_ssl.oof.SCREENING_COLUMNS`;
  for a run whose rows predate them, from ``metrics.json``), a section gives each variant's
  sentence of its ``report.md`` (:func:`drac_ssl.report.screening_line`), and a run without
  them, beside runs with them, says why; runs on DRAC's scale get no such column or line;

then, for each run, every pretrained variant minus scratch on the same out-of-fold images
with a paired bootstrap CI (:func:`drac_ssl.metrics.paired_bootstrap_difference`): by
default the run's own, as its fine-tuning stored it (``comparison.json``'s
``pretrained_minus_scratch``, ``finetune.n_boot`` resamples, the fine-tuning's seed: the
figures of its ``report.md``); for a run made before those were stored, or with
``--n-boot N``, recomputed here from ``finetune/<variant>/oof.csv`` (matched by id).
``stages.json`` says which stages a run took from another run folder (``reused_from``), and,
for a change of the folds alone, that they were made with that run's folds and which fold
settings differed (``other_folds``).

Every interval says what it resampled. A run's own CIs: what its ``comparison.json`` records
(``ci_resamples``: ``patients``, ``groups`` or ``images``, ``ci_units``; a run made before it
was recorded resampled images). A difference recomputed here resamples the units of the run's
``data/manifest.csv`` (:func:`drac_ssl.oof.patient_groups`), each with all its images: the
image groups the folds kept whole when the ingest kept near twins together (its ``fold_group``
column, ``data.near_duplicate_mse``), else its patients (its ``patient`` column) when it names
them, else the images. The text says when the runs
differ in it, and warns of image-level intervals in a run whose manifest names patients; a run
whose ingest kept near twins together before its manifest had the ``fold_group`` column
resamples patients or images, never the groups its folds kept whole, and a note says so with
the redo that resamples them (:func:`drac_ssl.grading.bundle.groups_not_resampled_words`).

Only those files are read. A folder that is not a run folder, a run whose fine-tuning has not
finished and an unreadable file are errors that name the file (:class:`CompareError`; exit
code 2, every such run at once). Runs graded on scales of different sizes are still listed,
with a message that their scores are not comparable (exit code 1,
:data:`~drac_ssl.exit_codes.PROBLEMS_FOUND`, with ``error: the runs grade on scales of different
sizes`` on stderr; a traceback with exit code 1 is an unexpected error instead). A setting that a run made
by an older version does not hold shows as "—"; a figure it does not hold, or an undefined
one, as "n/a". Every figure, interval and difference is written as report.md writes it
(:mod:`drac_ssl.figures`).
"""

from __future__ import annotations

if __name__ == "__main__":  # Ctrl-C while torch loads: one line, not an import's traceback
    from drac_ssl.starting import quiet_while_starting

    quiet_while_starting("compare")
    from drac_ssl.commands import compare_parser

    compare_parser().parse_intermixed_args()  # --help, a usage error: answered before torch loads

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from data_prep.labels import id_words
from drac_ssl import PRETRAIN_METHOD
from drac_ssl.commands import DEFAULT_N_BOOT, compare_parser
from drac_ssl.config import (
    DEFAULTS_BEFORE,
    HOME_PATH_SETTINGS,
    REFERABLE_OFF,
    Config,
    ConfigError,
    dotted_settings,
    read_saved_config,
    read_yaml,
    referable_cut,
    to_dict,
    variant_keep,
    with_former_defaults,
)
from drac_ssl.exit_codes import PROBLEMS_FOUND, RUN_BUSY, RunBusy
from drac_ssl.figures import (
    KEEP_BEST_CAVEAT,
    figure_text,
    finite_number,
    format_difference,
    format_with_ci,
    markdown_table,
)
from drac_ssl.grading.bundle import (
    CI_HELD_FIXED,
    CI_UNIT_NOUNS,
    TWIN_GROUP_WORDS,
    chance_warning,
    ci_units_words,
    data_provenance,
    groups_not_resampled_words,
    mixed_phantom_words,
)
from drac_ssl.io import (
    StdoutUnwritable,
    atomic_write_text,
    output_file_problem,
    running_here,
    sha256_file,
    stdout_guarded,
    unended_invocation,
    unreadable_words,
)
from drac_ssl.manifest import ManifestError, labelled_rows, read_manifest, resampling_unit
from drac_ssl.metrics import (
    PAIRED_METRICS,
    BootstrapScores,
    bootstrap_scores,
    calibrated_one_grade_words,
    degenerate_ci_reason,
    paired_difference,
    stored_one_grade_note,
)
from drac_ssl.oof import (
    REFERABLE_COLUMNS,
    SCREENING_COLUMNS,
    OofError,
    folds_taken_from,
    patient_groups,
    read_oof,
    referable_columns,
    resampling_kind,
)
from drac_ssl.out_paths import first_fields, replace_problem
from drac_ssl.preflight import PIPELINE
from drac_ssl.report import screening_line
from drac_ssl.run_state import (
    STAGES_RECORD,
    TRAIN_VIEWS,
    read_stages_record,
    resume_in_place_command,
    run_folder_problem,
    stages_record_damage,
)
from drac_ssl.runtime import code_at, code_known, same_code
from drac_ssl.scale import IngestFacts, default_grade_names, describe_grades, read_ingest_facts
from drac_ssl.stage_settings import OUTPUT_ONLY_SETTINGS, SPEED_SETTINGS, fold_lines
from drac_ssl.starting import (
    hold_signals_if_command,
    interrupt_exit_code,
    run_command,
    sigterm_as_ctrl_c,
    started,
)

__all__ = ["CompareError", "Comparison", "RunOutputs", "VariantDifference", "VariantOutputs",
           "between_runs", "compare_runs", "main", "read_run"]

MISSING = "—"
"""What a table shows for a setting or count a run does not record (an older version's run);
a figure that is missing or undefined is written ``n/a``, in report.md's words
(:data:`drac_ssl.figures.MISSING`)."""
BASELINE = "scratch"
"""The variant the pretrained ones are compared with, within each run."""
METRIC_TITLES = {"accuracy": "accuracy", "qwk": "QWK", "auc_ovr": "AUC OvR", "auc_ovo": "AUC OvO"}
CSV_METRICS = (("qwk", "qwk"), ("qwk_ci_low", "qwk_ci_low"), ("qwk_ci_high", "qwk_ci_high"),
               ("accuracy", "accuracy"), ("auc_ovo", "auc"), ("auc_ovr", "auc_ovr"),
               ("macro_f1", "macro_f1"))
"""CSV column -> key of a ``comparison.json`` row (``auc`` there is the one-vs-one AUC)."""
MAX_SETTING_COLUMNS = 3
"""Up to this many differing settings are columns of the runs' table; more get a table of
their own (one row per setting, one column per run), so the metrics stay readable."""


class CompareError(ValueError):
    """A run folder that cannot be compared; the message names the file, what is wrong and,
    where there is one, the fix."""


class CompareBusy(CompareError, RunBusy):
    """A run folder whose training is still running: compare exits :data:`RUN_BUSY` (75, try
    again later) on it, as export, report and UMM do, not 2 (a pipeline never requeues 2)."""


class _Absent:
    """A setting that a run's ``config.yaml`` does not hold (an older version's run)."""

    def __repr__(self) -> str:
        return MISSING


ABSENT = _Absent()


@dataclass(frozen=True)
class VariantOutputs:
    """One variant of one run.

    ``row``: its row of ``finetune/comparison.json``; ``train_per_fold``: the mean of
    ``metrics.json``'s ``folds[*].n_train`` (None when not recorded); ``ids`` ``(n,)``,
    ``grades`` ``(n,)`` int, ``probs`` ``(n, K)`` and ``pred`` ``(n,)`` int: its ``oof.csv``;
    ``taken_from``: run folder -> the folds its fine-tuning reused from there
    (:func:`drac_ssl.oof.folds_taken_from`), of ``n_folds`` folds; ``folds`` ``(n,)``
    int: each image's fold (``oof.csv``'s ``fold``; None without that column); ``screening``:
    its referable-DR or two-grade screening figures in the words of its report.md
    (:func:`drac_ssl.report.screening_line`), None when its ``metrics.json`` has none;
    ``keep``: the epoch rule its folds ran under (:func:`drac_ssl.config.variant_keep`:
    ``metrics.json``'s ``keep``, else the run's ``finetune.keep``, ``best`` for a run made
    before the setting existed), None when unknown.
    """

    name: str
    row: dict[str, Any]
    train_per_fold: float | None
    oof_path: Path
    ids: tuple[str, ...]
    grades: np.ndarray
    probs: np.ndarray
    pred: np.ndarray
    taken_from: dict[str, list[int]] = field(default_factory=dict)
    n_folds: int = 0
    folds: np.ndarray | None = None
    screening: str | None = None
    keep: str | None = None

    @property
    def keep_best(self) -> bool:
        """Whether each fold's epoch was chosen by its kappa on the rows it scores
        (``finetune.keep=best``: :data:`drac_ssl.figures.KEEP_BEST_CAVEAT`)."""
        return self.keep == "best"

    def qwk_ci_note(self, class_names: Sequence[str] | None = None) -> str | None:
        """Why the QWK's CI is not meaningful (an interval of width 0, e.g. every image given
        one grade), or None: the run's own note (``comparison.json``'s ``qwk_ci_note``), else,
        for a run made before it was stored, :func:`drac_ssl.metrics.degenerate_ci_reason` of
        the interval and this variant's ``oof.csv`` grades."""
        note = self.row.get("qwk_ci_note")
        if isinstance(note, str) and note:
            return note
        return degenerate_ci_reason(self.row.get("qwk_ci_low"), self.row.get("qwk_ci_high"),
                                    self.grades, self.pred, class_names, out_of_fold=True)

    def one_grade_note(self, class_names: Sequence[str] | None = None) -> str | None:
        """That (nearly) every image was given one grade, overall or within each fold, or None:
        the run's own note (``comparison.json``'s ``one_grade_note``, null when there was
        none), else, for a run made before it was stored,
        :func:`drac_ssl.metrics.one_grade_note` of this variant's ``oof.csv``
        (:func:`drac_ssl.metrics.stored_one_grade_note`, as report.md reads it)."""
        return stored_one_grade_note(self.row, self.pred, self.folds, class_names)


@dataclass(frozen=True)
class RunOutputs:
    """What :func:`read_run` reads of one run folder.

    ``settings``: ``config.yaml`` as dotted keys (``finetune.head``: value); ``class_names``:
    grades 0..K-1; ``data``: what the images are and where they came from, in words;
    ``variants``: in the order of ``comparison.json``; ``reused``: stage -> the run folder
    it was taken from (``stages.json``'s ``reused_from``); ``other_folds``: stage -> each fold
    setting whose value it ran with differs from this run's, ``(there, here)`` as ``repr``, for
    the stages taken from a run with other folds (``stages.json``'s ``other_folds.settings``,
    :func:`drac_ssl.stage_settings.fold_lines`; an empty dict for such a stage whose fold
    settings ended up equal, a chain of reuses); ``stored_differences``: variant ->
    its paired difference to scratch as the fine-tuning stored it (``comparison.json``'s
    ``pretrained_minus_scratch``; only complete entries; empty for older runs).
    ``patients``: image id -> its resampling unit (:func:`drac_ssl.oof.patient_groups`
    of the run's ``data/manifest.csv``: its patient, or its image group when near twins were
    kept together), None when the manifest names no patient, joins no near twins or is not
    there; ``ci_resamples`` / ``ci_units``: what the run's own bootstrap CIs resampled
    (``comparison.json``: ``patients``, ``groups`` or ``images``; ``images`` and None for a run
    made before it was recorded).
    ``unused_patient_column``: a label-CSV column that looks like a patient id which the
    folds did not use (:func:`drac_ssl.grading.bundle.data_provenance`), else None.
    ``fold_groups_missing``: the run's ingest kept near twins together before its manifest had
    the ``fold_group`` column (``data_provenance``'s): its folds' image groups are not named,
    so no CI here resamples them (:func:`_fold_groups_notes`).
    ``defaulted``: the settings its ``config.yaml`` does not hold (written by older code),
    given today's defaults in ``settings`` (:func:`_with_defaults`); ``code``: the code that
    made it, each distinct one once (:func:`_run_code`: ``environment.json``, and each stage's
    ``code`` in ``stages.json``; empty when neither names any); ``older_views``: the variants
    whose fold records lack ``train_views`` (fine-tuned by an older drac_ssl, whose training
    views were drawn otherwise, :data:`drac_ssl.run_state.TRAIN_VIEWS`).
    ``stages_damage``: what is wrong with a damaged ``stages.json``
    (:func:`drac_ssl.run_state.stages_record_damage`), read as none (no reuse, no stage code);
    None when it is whole or missing.
    """

    path: Path
    settings: dict[str, Any]
    class_names: tuple[str, ...]
    data: str
    variants: dict[str, VariantOutputs]
    reused: dict[str, str] = field(default_factory=dict)
    stored_differences: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    patients: dict[str, str] | None = None
    ci_resamples: str = "images"
    ci_units: int | None = None
    unused_patient_column: str | None = None
    fold_groups_missing: bool = False
    other_folds: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    defaulted: tuple[str, ...] = ()
    code: tuple[dict[str, Any], ...] = ()
    older_views: tuple[str, ...] = ()
    stages_damage: str | None = None

    @property
    def num_grades(self) -> int:
        return len(self.class_names)

    def groups(self, ids: Sequence[str]) -> list[str] | None:
        """The resampling unit of each image of ``ids``: its patient (an image the manifest
        does not name is its own unit), None when the manifest names no patient."""
        if self.patients is None:
            return None
        return [self.patients.get(image, resampling_unit(None, image)) for image in ids]

    @property
    def n_patients(self) -> int | None:
        """The resampling units of the out-of-fold images (patients, or the image groups the
        folds kept whole: :attr:`units_kind`), when the manifest names them."""
        groups = self.groups(next(iter(self.variants.values())).ids)
        return None if groups is None else len(set(groups))

    @property
    def units_kind(self) -> str:
        """What the manifest's units are (:func:`drac_ssl.oof.resampling_kind`): ``patients``,
        ``groups`` (near twins kept together) or ``images``."""
        return resampling_kind(self.groups(next(iter(self.variants.values())).ids))

    def ci_words(self) -> str:
        """What the run's own CIs resample: ``patients (23 patients, each with all its
        images)``, ``image groups (14 image groups the folds kept whole, ...)``, ``images, not
        patients (...)`` when the manifest names patients but the run resampled images, or
        ``images (treated as independent)``."""
        return _units_words(self.ci_resamples, self.ci_units, self.n_patients,
                            len(next(iter(self.variants.values())).ids), self.unused_patient_column,
                            self.units_kind)


@dataclass(frozen=True)
class VariantDifference:
    """``variant`` minus ``baseline`` within run ``label``, on ``n`` out-of-fold images:
    ``result`` is :func:`drac_ssl.metrics.paired_bootstrap_difference`'s, with ``n_boot``
    resamples and ``seed``; ``stored``: read from the run's ``comparison.json`` (its own
    fine-tuning's figures) rather than recomputed here."""

    label: str
    variant: str
    baseline: str
    n: int
    result: dict[str, dict[str, float]]
    n_boot: int = 0
    seed: int = 0
    stored: bool = False
    by_patient: bool = False
    units: int | None = None
    # resampled the image groups the folds kept whole (near twins, data.near_duplicate_mse)
    by_group: bool = False

    @property
    def resampled(self) -> str:
        """``patients``, ``groups`` or ``images``, as ``ci_resamples`` records it."""
        return "groups" if self.by_group else "patients" if self.by_patient else "images"

    @property
    def source(self) -> str:
        """Where the CI comes from and what it resampled, in words: ``the run's (1000, seed 0,
        23 patients)``, ``here (200, seed 0, 40 image groups)`` or ``here (200, seed 0, 44
        images)``."""
        where = "the run's" if self.stored else "here"
        return f"{where} ({self.n_boot}, seed {self.seed}, {ci_units_words(self.resampled, self.units)})"


@dataclass
class Comparison:
    """The result of :func:`compare_runs`: the runs, their labels in the tables, the settings
    that differ among them, the pretrained-minus-scratch differences, notes, and problems
    (runs whose scores are not comparable with the others': listed, but the command exits
    :data:`~drac_ssl.exit_codes.PROBLEMS_FOUND`, 1)."""

    runs: list[RunOutputs]
    labels: list[str]
    setting_keys: list[str]
    differences: list[VariantDifference]
    notes: list[str]
    problems: list[str]
    header: str
    n_boot: int | None
    seed: int
    # with between=True: each later run minus the first, variant by variant (label = the later
    # run, baseline = the first run's label, variant = the variant both have)
    between: list[VariantDifference] = field(default_factory=list)
    between_asked: bool = False

    def screening_columns(self) -> list[str]:
        """The screening figures' columns the runs have, named as in their own
        ``comparison.json`` / ``comparison.csv``: :data:`drac_ssl.oof.REFERABLE_COLUMNS`
        when a variant has a referable cut (``finetune.referable_from``; auto: grade >= 2 on
        the ICDR scale), :data:`drac_ssl.oof.SCREENING_COLUMNS` when one has two
        grades; none on DRAC's scale, whose table stays as it was."""
        rows = [variant.row for run in self.runs for variant in run.variants.values()]
        return ([*REFERABLE_COLUMNS] if any("referable_auc" in row for row in rows) else []) + \
            ([*SCREENING_COLUMNS] if any("sensitivity" in row for row in rows) else [])

    def paired_metrics(self) -> tuple[str, ...]:
        """The metrics of the difference tables' columns, in :data:`PAIRED_METRICS` order: all
        four, less ``auc_ovo`` when every run has two grades (its one-vs-one and one-vs-rest
        AUCs are then both the ROC AUC of P1: one column, not two equal ones)."""
        if self.runs and all(run.num_grades == 2 for run in self.runs):
            return tuple(m for m in PAIRED_METRICS if m != "auc_ovo")
        return PAIRED_METRICS

    def _auc_words(self) -> str:
        """The difference tables' AUCs, in words."""
        if "auc_ovo" not in self.paired_metrics():
            return ("the AUC of the probabilities (with two grades one-vs-one and one-vs-rest coincide, both the "
                    "ROC AUC of P1; resamples that lack a grade are left out of its CI)")
        return ("AUC one-vs-rest and one-vs-one (DRAC's tie-breaker) of the probabilities (resamples that lack a "
                "grade are left out of the AUCs' CIs)")

    def table_rows(self) -> list[dict[str, Any]]:
        """One dict per (run, variant): ``run``, ``path``, the differing settings
        (:data:`ABSENT` where a run lacks one), ``variant``, ``train_images_per_fold``, the
        ``comparison.json`` row's metrics under the names of :data:`CSV_METRICS` and its
        screening figures under :meth:`screening_columns` (None where absent or undefined),
        ``code`` (:func:`code_text`), ``qwk_ci_note`` (:meth:`VariantOutputs.qwk_ci_note`) and
        ``screening`` (the figures in
        the words of the run's report.md, :attr:`VariantOutputs.screening`; neither a CSV
        column)."""
        screening = self.screening_columns()
        rows = []
        for label, run in zip(self.labels, self.runs, strict=True):
            for variant in run.variants.values():
                rows.append({"run": label, "path": str(run.path),
                             **{key: run.settings.get(key, ABSENT) for key in self.setting_keys},
                             "code": code_text(run, self.runs),
                             "variant": variant.name, "train_images_per_fold": variant.train_per_fold,
                             **{column: finite_number(variant.row.get(key)) for column, key in CSV_METRICS},
                             **{column: finite_number(variant.row.get(column)) for column in screening},
                             "qwk_ci_note": variant.qwk_ci_note(run.class_names),
                             "screening": variant.screening})
        return rows

    def table_csv(self) -> str:
        """The first table as CSV: ``run, path, <settings>, [code,] variant,
        train_images_per_fold, qwk, qwk_ci_low, qwk_ci_high, accuracy, auc_ovo, auc_ovr,
        macro_f1`` and the :meth:`screening_columns` (``referable_auc``, its CI,
        ``referable_sensitivity``, ``referable_specificity``; two grades: ``sensitivity``,
        ``specificity``); ``code`` (the code that made each run, :func:`code_text`) only when
        the runs may not share one (:func:`codes_differ`: the Markdown's note says so); numbers
        to 6 significant digits, an empty cell where a value is absent."""
        columns = ["run", "path", *self.setting_keys, *(["code"] if codes_differ(self.runs) else []),
                   "variant", "train_images_per_fold", *(column for column, _ in CSV_METRICS),
                   *self.screening_columns()]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_cell(row[c]) for c in columns] for row in self.table_rows())
        return buf.getvalue()

    def markdown(self) -> str:
        """The whole text: the header line, the table of runs and variants (with the screening
        columns where the runs have them), each variant's screening figures in its report.md's
        words, the pretrained minus scratch differences, notes and problems."""
        lines = [f"# drac_ssl: {len(self.runs)} run folder(s) compared", ""]
        if self.header:
            lines += [self.header, ""]
        length = self._length_line()
        if length:
            lines += [length, ""]
        for problem in self.problems:
            lines += [f"> **Not comparable:** {problem}", ""]
        result_keys = [key for key in self.setting_keys if key not in SPEED_SETTINGS]
        speed_keys = [key for key in self.setting_keys if key in SPEED_SETTINGS]
        columns = result_keys if len(result_keys) <= MAX_SETTING_COLUMNS else []
        screening = self.screening_columns()
        referable = "referable_auc" in screening
        header = ["run", *columns, "variant", "train images / fold", "QWK (95% CI)",
                  "accuracy", "AUC OvO", "AUC OvR", "macro F1",
                  *(["referable AUC (95% CI)"] if referable else []),
                  *(["sensitivity", "specificity"] if screening else [])]
        body = [[row["run"], *(_setting_text(row[key]) for key in columns), _variant_text(row, self),
                 _count(row["train_images_per_fold"]),
                 _qwk_with_ci(row),
                 *(figure_text(row[key]) for key in ("accuracy", "auc_ovo", "auc_ovr", "macro_f1")),
                 *_screening_cells(row, screening)]
                for row in self.table_rows()]
        lines += markdown_table(header, body)
        if any(variant.keep_best for run in self.runs for variant in run.variants.values()):
            lines += [f"**Figures marked {KEEP_BEST_MARK}** (and the differences made of them): "
                      f"{KEEP_BEST_CAVEAT}.", ""]
        if not self.setting_keys:
            where = "the runs' `config.yaml` settings are equal"
        elif not result_keys:
            where = "the runs' `config.yaml` settings that change results are equal"
        elif columns:
            where = "columns before the variant: the settings of `config.yaml` that differ among the runs"
        else:
            where = (f"the {len(result_keys)} settings of `config.yaml` that differ among the runs are "
                     "in the next table")
        lines += ["Out-of-fold metrics of each run's `finetune/comparison.json` (QWK of the submitted "
                  f"grades, its CI the run's own bootstrap, {self._qwk_ci_units()}, {CI_HELD_FIXED}); "
                  f"{where} (output-only `run.*` settings aside).", ""]
        if screening:
            lines += [_screening_legend(screening), ""]
        if result_keys and not columns:
            lines += ["## Settings that differ", ""]
            lines += markdown_table(["setting", *self.labels],
                                    [[f"`{key}`", *(_setting_text(run.settings.get(key, ABSENT)) for run in self.runs)]
                                     for key in result_keys])
        if speed_keys:
            lines += ["Also different, settings of speed only (they change results only through float "
                      "rounding or the order of random draws): "
                      + "; ".join(f"`{key}` " + ", ".join(f"{label} {_setting_text(run.settings.get(key, ABSENT))}"
                                                        for label, run in zip(self.labels, self.runs, strict=True))
                                  for key in speed_keys) + ".", ""]
        lines += self._screening_lines()
        lines += [f"## Pretrained minus {BASELINE}, per run", ""]
        if self.differences:
            metrics = self.paired_metrics()
            lines += markdown_table(["run", "difference", "images", *(METRIC_TITLES[m] for m in metrics),
                                     "CI from (resamples, seed, units)"],
                                    [[d.label, _marked(f"{d.variant} − {d.baseline}", _keep_best_difference(d, self)),
                                      d.n,
                                      *(_signed_ci(d.result.get(m, {})) for m in metrics), d.source]
                                     for d in self.differences])
            sources = []
            if any(d.stored for d in self.differences):
                sources.append("\"the run's\": as the run's fine-tuning computed it (its `comparison.json`, "
                               "the figures of its `report.md`)")
            if not all(d.stored for d in self.differences):
                why = (f"--n-boot {self.n_boot}" if self.n_boot is not None else
                       "the run did not store its own")
                sources.append(f"\"here\": recomputed by this command from the `oof.csv` files ({why})")
            lines += ["Difference on all out-of-fold images (95% CI): paired percentile bootstrap "
                      f"(Efron & Tibshirani 1993), {self._difference_units()}, {CI_HELD_FIXED}; a CI "
                      "that excludes 0 is a difference these images support, but a 95% CI excludes 0 "
                      "one time in twenty by chance alone when nothing differs, and this table has "
                      f"{_ci_count(self.differences, metrics)}; a difference between models no better than chance "
                      "(see the notes) says nothing. QWK and accuracy of the "
                      f"submitted grades, {self._auc_words()}. " + "; ".join(sources) + ".", ""]
            caveat = self._difference_caveat()
            if caveat:
                lines += [caveat, ""]
        else:
            lines += ["None: no run has a scratch variant and a pretrained one with the same images.", ""]
        if self.between_asked:
            lines += self._between_lines()
        if self.notes:
            lines += ["Notes:", "", *(f"- {note}" for note in self.notes), ""]
        return "\n".join(lines).rstrip() + "\n"

    def _screening_lines(self) -> list[str]:
        """The section of each variant's referable-DR or two-grade screening figures, in the
        words of its run's report.md (:attr:`VariantOutputs.screening`), and, for a run
        without them, why; [] when no run has them or could have (DRAC's scale)."""
        absent = {label: _screening_absent(run) for label, run in zip(self.labels, self.runs, strict=True)
                  if not any(variant.screening for variant in run.variants.values())}
        if len(absent) == len(self.runs) and not any(expected for _, expected in absent.values()):
            return []
        lines = ["## Screening figures, per run and variant", ""]
        for label, run in zip(self.labels, self.runs, strict=True):
            if label in absent:
                lines.append(f"- `{label}`: {absent[label][0]}.")
                continue
            lines += [f"- `{label}` {variant.name} — {variant.screening or 'none recorded.'}"
                      for variant in run.variants.values()]
        return lines + [""]

    def _length_line(self) -> str:
        """How long the runs trained, when every run trained as long (otherwise the lengths
        that differ are setting columns): a table hides equal settings, and a reader of a
        1-epoch smoke test's figures should know it was one."""
        keys = ("pretrain.epochs", "pretrain.max_steps_per_epoch", "umm.enabled", "umm.epochs",
                "umm.max_steps_per_epoch", "finetune.epochs")
        values = [tuple(run.settings.get(key, ABSENT) for key in keys) for run in self.runs]
        if len(set(map(repr, values))) != 1 or any(v is ABSENT for v in values[0]):
            return ""
        pre, pre_steps, umm_on, umm_epochs, umm_steps, ft = values[0]

        def epochs(n: Any, cap: Any = 0) -> str:  # cap: <stage>.max_steps_per_epoch, 0 = a full epoch
            return f"{n} epoch{'' if n == 1 else 's'}" + (f" of at most {cap} steps" if cap else "")

        umm = "off" if umm_on is False else epochs(umm_epochs, umm_steps)
        return (f"Training length in every run: {PRETRAIN_METHOD} {epochs(pre, pre_steps)}, UMM {umm}, fine-tuning "
                f"{epochs(ft)} per fold.")

    def _between_lines(self) -> list[str]:
        """The section of ``--between``: each later run minus the first, variant by variant."""
        first = self.labels[0]
        lines = [f"## Each run minus `{first}`, variant by variant", ""]
        if not self.between:
            return lines + [f"None: no later run has a variant of `{first}`'s scored on the same "
                            "images with the same grades (see the notes).", ""]
        metrics = self.paired_metrics()
        lines += markdown_table(["run", "variant", "images", *(METRIC_TITLES[m] for m in metrics),
                                 "CI from (resamples, seed, units)"],
                                [[f"`{d.label}` − `{d.baseline}`", _marked(d.variant, _keep_best_difference(d, self, True)),
                                  d.n,
                                  *(_signed_ci(d.result.get(m, {})) for m in metrics), d.source]
                                 for d in self.between])
        n = _ci_count(self.between, metrics)
        lines += ["The same variant of two runs on the same out-of-fold images (95% CI): paired "
                  f"percentile bootstrap, the same resamples for both runs, {CI_HELD_FIXED}; what it measures is what "
                  "the settings that differ (above) changed, together with the randomness of "
                  "training (a rerun with another seed differs too, by an amount the CI does not hold). "
                  "A CI that excludes 0 is a "
                  "difference these images support, but each excludes 0 one time in twenty by "
                  f"chance alone when nothing differs, and this table has {n}.", ""]
        flat = _zero_width(self.between, metrics)
        if flat:
            lines += ["Not meaningful (a CI of width 0): " + "; ".join(flat) + ". Every resample scored "
                      "both runs' models alike, which is not certainty that they are the same: often "
                      "both gave the same grades, e.g. both learnt next to nothing (see the notes), "
                      "and these images cannot tell them apart.", ""]
        return lines

    def _qwk_ci_units(self) -> str:
        """What the runs' own QWK CIs resampled: one phrase when every run's is the same, else
        run by run, and that intervals over patients and over images do not compare."""
        words = [run.ci_words() for run in self.runs]
        if len(set(words)) == 1:
            return f"which resampled {words[0]}"
        listing = "; ".join(f"`{label}` {w}" for label, w in zip(self.labels, words, strict=True))
        resampled = {run.ci_resamples for run in self.runs}
        differ = (f"; the runs' CIs resample different units, so their widths do not compare"
                  f"{_wider_over(resampled)}" if len(resampled) > 1 else "")
        return f"which resampled: {listing}{differ}"


    def _difference_units(self) -> str:
        """What the paired differences resampled, in words."""
        kinds = {d.resampled for d in self.differences}
        if kinds == {"patients"}:
            return ("the same resampled patients for both variants, each patient with all its images "
                    "(the cluster bootstrap, Field & Welsh 2007)")
        if kinds == {"groups"}:
            return (f"the same resampled image groups for both variants (the units the folds kept whole: "
                    f"{TWIN_GROUP_WORDS}), each group with all its images (the cluster bootstrap, Field & "
                    "Welsh 2007)")
        if kinds == {"images"}:
            return "the same resampled images for both variants, each image its own unit"
        if "groups" in kinds:  # the units each difference resampled, only those there are
            units = {"patients": "patients", "groups": "the image groups the folds kept whole"}
            clustered = " or of ".join(units[kind] for kind in ("patients", "groups") if kind in kinds)
            images = " or of images" if "images" in kinds else ""
            return (f"the same resamples for both variants, of {clustered} (each with all its images: the "
                    f"cluster bootstrap, Field & Welsh 2007){images}, as the last column says; intervals "
                    "over different units do not compare in width")
        return ("the same resamples for both variants, of patients (each with all its images: the "
                "cluster bootstrap, Field & Welsh 2007) or of images, as the last column says; "
                "intervals over patients and over images do not compare in width")

    def _difference_caveat(self) -> str:
        """A warning for differences that resampled images in a run whose manifest names
        patients, or image groups the folds kept whole (near twins), ('' when there is none)."""
        narrow = []
        kinds = set()  # what the manifests name: patients, image groups (near twins)
        for d in self.differences:
            run = self.runs[self.labels.index(d.label)]
            patients = run.n_patients
            if d.resampled == "images" and patients is not None and patients < d.n:
                kind = "groups" if run.units_kind == "groups" else "patients"
                kinds.add(kind)
                narrow.append(f"`{d.label}` {d.variant} − {d.baseline} ({patients} {CI_UNIT_NOUNS[kind]}s "
                              f"for {d.n} images)")
        if not narrow:
            return ""
        if kinds == {"groups"}:
            return ("Resampled images, not the image groups the folds kept whole, although the manifest "
                    "names them: " + "; ".join(narrow) + ". With near twins among the images these CIs are "
                    "likely too narrow (the run stored them before such CIs); --n-boot N recomputes them "
                    "over those groups.")
        if "groups" in kinds:
            return ("Resampled images, not patients or the image groups the folds kept whole, although "
                    "the manifest names them: " + "; ".join(narrow) + ". With correlated images of one "
                    "patient, or near twins, these CIs are likely too narrow (the run stored them before "
                    "such CIs); --n-boot N recomputes them over those units.")
        return ("Resampled images, not patients, although the manifest names patients: "
                + "; ".join(narrow) + ". With correlated images of one patient these CIs are likely "
                "too narrow (the run stored them before patient-level CIs); --n-boot N recomputes "
                "them over patients.")


def _screening_absent(run: RunOutputs) -> tuple[str, bool]:
    """Why a run shows no screening figures, and whether its scale and settings would give
    them (so that only its age keeps them out: a run made before they were stored)."""
    older = "(a run made before they were stored)"
    if run.num_grades == 2:
        return f"no screening figures recorded {older}", True
    setting = run.settings.get("finetune.referable_from", ABSENT)
    value = "auto" if setting is ABSENT else str(setting)
    if value.strip().lower() in REFERABLE_OFF:
        return "no referable-DR figures (finetune.referable_from=off)", False
    try:
        cut = referable_cut(value, run.class_names)
    except ConfigError:
        return f"no referable-DR figures (finetune.referable_from={value} is not a cut on its scale)", False
    if cut is None:
        return ("no referable-DR figures: finetune.referable_from=auto gives a cut on the ICDR scale "
                "only (finetune.referable_from=R: referable = grade >= R on another)"), False
    return f"no referable-DR figures recorded {older}", True


def _wider_over(resampled: set[str]) -> str:
    """Where some runs' CIs resample images and others units of several images (``resampled``:
    the runs' ``ci_resamples``), which are wider, naming only the kinds there are: `` (over
    patients they are wider)`` (runs that record only ``patients`` / ``images``, as those made
    before the image groups do), `` (over image groups they are wider)``, `` (over patients or
    image groups they are wider)``; '' without images (patients and image groups: neither is
    always the coarser, when the runs' ingests differ)."""
    clustered = [f"{CI_UNIT_NOUNS[kind]}s" for kind in ("patients", "groups") if kind in resampled]
    return f" (over {' or '.join(clustered)} they are wider)" if "images" in resampled and clustered else ""


def _units_words(resampled: str, units: int | None, n_patients: int | None, n_images: int,
                 unused_column: str | None = None, manifest_kind: str = "patients") -> str:
    """What a run's own CIs resampled (``resampled``: its ``ci_resamples``, ``units`` its
    ``ci_units``): ``patients (23 patients, each with all its images)``, ``image groups (14
    image groups the folds kept whole: ..., each with all its images)``, ``images, not patients
    (23 patients for 44 images: ...)`` (``n_patients``: the manifest's units, of
    ``manifest_kind``), ``images (treated as independent, although column ... looks like a
    patient id ...)`` or ``images (treated as independent)``."""
    if resampled == "patients":
        count = f"{units} patients, " if units is not None else ""
        return f"patients ({count}each with all its images)"
    if resampled == "groups":
        count = f"{units} " if units is not None else ""
        return f"image groups ({count}the folds kept whole: {TWIN_GROUP_WORDS}; each with all its images)"
    if n_patients is not None and n_patients < n_images and manifest_kind == "groups":
        return (f"images, not the image groups the folds kept whole ({n_patients} groups for "
                f"{n_images} images: with near twins among them likely too narrow)")
    if n_patients is not None and n_patients < n_images:
        return (f"images, not patients ({n_patients} patients for {n_images} images: with correlated "
                f"images of one patient likely too narrow)")
    if unused_column:
        return (f"images (treated as independent, although column {unused_column!r} looks like "
                f"{id_words(unused_column)} and the folds did not use it: if it is one, these CIs "
                f"are too narrow and the figures likely optimistic)")
    return "images (treated as independent)"


# --------------------------------------------------------------------------- reading a run


def read_run(path: str | os.PathLike[str]) -> RunOutputs:
    """Read one run folder: ``config.yaml``, ``stages.json`` (when present),
    ``finetune/comparison.json`` and each listed variant's ``metrics.json`` and ``oof.csv``.

    Raises:
        CompareError: ``path`` is not a run folder (no ``config.yaml``), its fine-tuning has
            not finished (no ``finetune/comparison.json``; the message gives the command that
            finishes it), or a file is missing, unreadable or not in the format
            ``drac_ssl.finetune`` writes (the message names the file and what is wrong).
    """
    run = Path(path)
    if problem := run_folder_problem(run):  # not there, a file, no config.yaml (runs/: the runs it holds)
        raise CompareError(problem)
    facts = read_ingest_facts(run / "data")  # read once: the settings and the data words use it
    saved = _read_saved(run)
    settings, defaulted = _with_defaults(saved)
    settings = _resolved(settings, facts, _label_columns(run / "data"))
    comparison_path = run / "finetune" / "comparison.json"
    if not comparison_path.is_file():
        stages = settings.get("run.stages")
        more: list[str] = []
        if isinstance(stages, list) and "finetune" not in stages:
            # every stage the fine-tuning needs (finished ones are skipped), and any it asked for
            # after it: [ingest] -> [ingest,pretrain,umm,finetune], not a refused [ingest,finetune]
            needed = PIPELINE[:PIPELINE.index("finetune") + 1]
            wanted = [s for s in PIPELINE if s in needed or s in stages]
            more.append(f"run.stages=[{','.join(wanted)}]")
        # resumed in place from any folder: absolute paths, its relative path settings typed absolutely
        fix = resume_in_place_command(run, more)
        running = _still_running(run / "invocations.jsonl")
        if running:
            raise CompareBusy(f"{run}: the fine-tuning stage has not finished there (no "
                              f"finetune/comparison.json), and {running}\n  fix: wait for it to "
                              f"finish, then compare again; do not start a second run in the "
                              f"same folder")
        raise CompareError(f"{run}: the fine-tuning stage has not finished there (no "
                           f"finetune/comparison.json)\n  fix: finish the run (it resumes where it "
                           f"stopped): {fix}")
    comparison = _read_json(comparison_path)
    rows = comparison.get("rows")
    if not isinstance(rows, list) or not rows or not all(
            isinstance(r, dict) and isinstance(r.get("variant"), str) for r in rows):
        raise CompareError(f"{comparison_path}: no list of variant rows under 'rows' (as "
                           f"drac_ssl.finetune writes: {{\"rows\": [{{\"variant\": \"scratch\", ...}}]}})")
    variants: dict[str, VariantOutputs] = {}
    metrics_of: dict[str, dict[str, Any]] = {}
    first_metrics: dict[str, Any] = {}
    for row in rows:
        vdir = run / "finetune" / row["variant"]
        metrics = metrics_of[row["variant"]] = _read_json(vdir / "metrics.json")
        first_metrics = first_metrics or metrics
        n_train = [f.get("n_train") for f in metrics.get("folds") or [] if isinstance(f, dict)]
        per_fold = (float(np.mean(n_train)) if n_train and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in n_train) else None)
        ids, grades, probs, pred, folds = _read_oof(vdir / "oof.csv")
        if isinstance(metrics.get("auc_ovr_ci95"), list):  # the chance note words the AUC's CI too
            row = {**row, "auc_ovr_ci95": metrics["auc_ovr_ci95"]}
        # the screening figures of a run whose comparison rows predate them, from metrics.json
        # as the fine-tuning takes them into the rows (referable DR; two grades' sensitivity)
        row = {**referable_columns(metrics.get("referable")),
               **{c: metrics[c] for c in SCREENING_COLUMNS if c in metrics}, **row}
        variants[row["variant"]] = VariantOutputs(row["variant"], row, per_fold, vdir / "oof.csv",
                                                  ids, grades, probs, pred,
                                                  folds_taken_from(run, row["variant"]),
                                                  len(metrics.get("folds") or []), folds,
                                                  keep=variant_keep(saved, metrics))
    widths = {v.probs.shape[1] for v in variants.values()}
    if len(widths) > 1:
        counts = ", ".join(f"{v.name} {v.probs.shape[1]}" for v in variants.values())
        raise CompareError(f"{run / 'finetune'}: the variants' oof.csv have different numbers of "
                           f"probability columns ({counts})")
    k = widths.pop()
    names = comparison.get("class_names") or first_metrics.get("class_names") or default_grade_names(k)
    if not isinstance(names, list | tuple) or len(names) != k:
        raise CompareError(f"{comparison_path}: names the grades {names!r}, but the oof.csv files have "
                           f"{k} probability columns P0..P{k - 1}")
    names = [str(name) for name in names]
    variants = {name: replace(variant, screening=screening_line(metrics_of[name], names))
                for name, variant in variants.items()}
    # none: a run not made by the orchestrator; damaged: read as none with a note naming it (it
    # holds only the reuse and fold notes and the stages' code: the variants' outputs compare)
    damage = None
    try:
        status = read_stages_record(run, strict=True)
    except ConfigError:
        status, damage = {}, stages_record_damage(run) or "damaged"
    except OSError as exc:
        raise CompareError(f"{run / STAGES_RECORD}: cannot be read ({exc.strerror or exc})") from None
    reused = {stage: str(entry["reused_from"]) for stage, entry in status.items()
              if isinstance(entry, dict) and entry.get("reused_from")}
    other_folds = {stage: fold_lines(entry["other_folds"].get("settings")) for stage, entry in status.items()
                   if stage in reused and isinstance(entry.get("other_folds"), dict)}
    n = len(next(iter(variants.values())).ids)
    units = comparison.get("ci_units")
    try:  # the manifest is read for the data's words and the resampling units
        provenance = data_provenance(run / "data")  # reads the summary and the manifest: once
        patients = _read_patients(run / "data" / "manifest.csv")
    except ManifestError as exc:  # a usage error (exit 2), not a crash
        raise CompareError(str(exc)) from None
    return RunOutputs(run, settings, tuple(names),
                      _data_words(provenance, settings, n, facts),
                      variants, reused, _stored_differences(comparison.get("pretrained_minus_scratch")),
                      patients,
                      comparison.get("ci_resamples") if comparison.get("ci_resamples") in ("patients", "groups")
                      else "images",
                      units if isinstance(units, int) and not isinstance(units, bool) else None,
                      provenance.get("unused_patient_column"), provenance.get("fold_groups_missing") is True,
                      other_folds, defaulted, _run_code(run, status),
                      tuple(name for name in variants if _older_views(run / "finetune" / name)), damage)


def _current_defaults() -> dict[str, Any]:
    """Every setting's default in this code, as dotted keys, as a ``config.yaml`` holds it
    (written as YAML and read back: lists, not tuples)."""
    return dotted_settings(read_yaml(yaml.safe_dump(to_dict(Config()), sort_keys=False)))


def _with_defaults(saved: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``saved`` (a run's nested ``config.yaml``) as dotted settings, with each setting it
    lacks given a default, and those settings' keys. A run made by older code lacks the
    settings added since (an upgrade review: ``finetune.referral_target`` was a differing
    setting of an old and a new run whose value was the default): a setting of
    :data:`drac_ssl.config.DEFAULTS_BEFORE` gets the value that code ran under
    (:func:`drac_ssl.config.with_former_defaults`: ``finetune.keep`` ``best``, not today's
    ``last``), any other this code's default, what today's code would run it with."""
    settings = dotted_settings(saved)
    former = dotted_settings(with_former_defaults(saved))
    defaults = {**_current_defaults(), **{key: former[key] for key in DEFAULTS_BEFORE}}
    missing = tuple(key for key in defaults if key not in settings)
    return {**settings, **{key: defaults[key] for key in missing}}, missing


def _run_code(run: Path, status: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The code that made the run folder ``run``, each distinct one once
    (:func:`drac_ssl.runtime.same_code`): its ``environment.json`` (the code the run was
    started with) and each stage's ``code`` in ``stages.json`` (``status``; a stage taken
    by ``run.reuse``: the code it ran on there). Empty when none is recorded."""
    try:
        env = json.loads((run / "environment.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        env = None
    found = [env] if isinstance(env, dict) and (env.get("git_commit") or env.get("code_fingerprint")) else []
    found += [entry["code"] for entry in status.values()
              if isinstance(entry, dict) and isinstance(entry.get("code"), dict)]
    distinct: list[dict[str, Any]] = []
    for code in found:
        if not any(same_code(code, seen) for seen in distinct):
            distinct.append(code)
    return tuple(distinct)


def _older_views(folder: Path) -> bool:
    """Whether a fold record of the variant folder ``folder`` lacks ``train_views``
    (:data:`drac_ssl.run_state.TRAIN_VIEWS`): fine-tuned by an older drac_ssl."""
    for record in sorted(folder.glob("fold*.json")):
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("train_views") != TRAIN_VIEWS:
            return True
    return False


def _read_patients(path: Path) -> dict[str, str] | None:
    """Training image id -> its resampling unit (:func:`drac_ssl.oof.patient_groups`) from
    the ingest's ``manifest.csv``, of the rows the fine-tuning resampled
    (:func:`drac_ssl.manifest.labelled_rows`); None when they name no patient or there is no
    manifest (a run folder without its data: the images are then resampled as independent).
    Raises ManifestError for a manifest that lacks a column."""
    try:
        rows = labelled_rows(read_manifest(path, ("id", "grade", "split", "fold")))
    except FileNotFoundError:
        return None
    groups = patient_groups(rows)
    return None if groups is None else {str(row.get("id")): g for row, g in zip(rows, groups, strict=True)}


def _still_running(path: Path) -> str:
    """Words on the run's last invocation (``invocations.jsonl``) when it has no ``ended``
    and its process is alive on this machine (``pid``, ``host``;
    :func:`drac_ssl.io.running_here`): "python -m drac_ssl.train is still running there
    (process 1234, started 2026-...)"; '' otherwise (finished, killed, another machine's, or
    a line without a pid: an older run)."""
    last = unended_invocation(path)
    if last is None or not running_here(last):  # another user's process counts as alive
        return ""
    return (f"python -m drac_ssl.train is still running there (process {last['pid']}, started "
            f"{last.get('date_utc', '?')})")


def _label_columns(data_dir: Path) -> dict[str, str] | None:
    """The label-CSV columns the run's ingest read (``ingest_summary.json``'s
    ``label_columns``: a public layout's own, e.g. EyePACS ``image`` / ``level``), None when
    it did not record them (or read no CSV: a MedMNIST ``.npz``)."""
    try:
        summary = json.loads((data_dir / "ingest_summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    columns = summary.get("label_columns") if isinstance(summary, dict) else None
    if isinstance(columns, dict) and all(isinstance(columns.get(k), str) for k in ("image", "grade")):
        return {"image": columns["image"], "grade": columns["grade"]}
    return None


def _resolved(settings: dict[str, Any], facts: IngestFacts,
              label_columns: dict[str, str] | None = None) -> dict[str, Any]:
    """``settings`` with the data settings the ingest resolves (``data.grades`` ``[]`` or a
    scale's name, ``data.channels`` ``""`` / ``auto``, ``data.layout`` and ``data.modality``
    ``auto``, and ``data.image_column`` / ``data.grade_column``, which a public layout
    replaces with its own: ``label_columns``, :func:`_label_columns`) replaced by what the
    run's ingest recorded in ``ingest_summary.json``, so that two runs of the same data do
    not differ only in how the setting was spelled, and no run shows columns its CSV did not
    have; unchanged for an ingest that did not record them (``facts``: the run's
    :func:`read_ingest_facts`)."""
    out = dict(settings)
    if label_columns is not None:
        out["data.image_column"] = label_columns["image"]
        out["data.grade_column"] = label_columns["grade"]
    if not facts.recorded:
        return out
    out["data.grades"] = list(facts.grade_names)
    out["data.channels"] = str(facts.channels)
    out["data.modality"] = facts.modality
    if facts.layout:
        out["data.layout"] = facts.layout
    return out


STORED_BEFORE_OVO = ("accuracy", "qwk", "auc_ovr")
"""The paired differences a run fine-tuned before the one-vs-one AUC's (stats audit F5) stored:
its own figures are shown as they are (those of its report.md), the AUC OvO's cell ``n/a``."""


def _stored_differences(entries: Any) -> dict[str, dict[str, dict[str, float]]]:
    """The complete entries of ``comparison.json``'s ``pretrained_minus_scratch`` (variant ->
    metric -> ``difference``, ``ci_low``, ``ci_high``, ...; complete: every metric of
    :data:`STORED_BEFORE_OVO`, and the AUC OvO's where stored); an incomplete one is left out
    and recomputed instead."""
    if not isinstance(entries, dict):
        return {}
    keys = ("difference", "ci_low", "ci_high")

    def whole(entry: Any, m: str) -> bool:
        return isinstance(entry.get(m), dict) and all(k in entry[m] for k in keys)
    return {str(variant): {m: dict(entry[m]) for m in PAIRED_METRICS if whole(entry, m)}
            for variant, entry in entries.items()
            if isinstance(entry, dict) and all(whole(entry, m) for m in STORED_BEFORE_OVO)}


def _run_bootstrap(settings: dict[str, Any]) -> tuple[int, int] | None:
    """The resamples and seed of a run's own paired bootstrap: ``finetune.n_boot`` and the
    fine-tuning's seed (``finetune.seed``, or ``run.seed`` when that is -1); None when the
    config does not say."""
    n_boot, seed, run_seed = (settings.get(k) for k in ("finetune.n_boot", "finetune.seed", "run.seed"))
    if not isinstance(n_boot, int) or not isinstance(run_seed, int):
        return None
    return n_boot, seed if isinstance(seed, int) and seed >= 0 else run_seed


def _read_saved(run: Path) -> dict[str, Any]:
    """The run folder ``run``'s ``config.yaml`` (:func:`drac_ssl.config.read_saved_config`).

    Raises:
        CompareError: it cannot be read, is damaged (the file, line and fix) or holds no settings."""
    path = run / "config.yaml"
    try:
        data = read_saved_config(run, strict=True)
    except ConfigError as exc:
        raise CompareError(str(exc)) from None
    except OSError as exc:
        raise CompareError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not data:
        raise CompareError(f"{path}: holds no settings, not the mapping of settings drac_ssl.train saves")
    return data


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CompareError(f"{path}: no such file") from None
    except OSError as exc:
        raise CompareError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise CompareError(f"{path}: not UTF-8 text ({exc})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CompareError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CompareError(f"{path}: holds a JSON {type(data).__name__}, not an object")
    return data


def _read_oof(path: Path) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """ids, grades, probabilities, predicted grades and folds of an ``oof.csv``
    (:func:`drac_ssl.oof.read_oof`); its :class:`~drac_ssl.oof.OofError` as a
    :class:`CompareError` (same message)."""
    try:
        oof = read_oof(path)
    except OofError as exc:
        raise CompareError(str(exc)) from None
    return oof.ids, oof.grades, oof.probs, oof.pred, oof.folds


def _data_words(provenance: dict[str, Any], settings: dict[str, Any], n_labelled: int,
                facts: IngestFacts) -> str:
    """What the images are and where they came from (the ingest's record in the run folder,
    ``provenance``: :func:`drac_ssl.grading.bundle.data_provenance`, else what ``config.yaml``
    asked for), and how many were graded out of fold."""
    if provenance["kind"] == "phantom":
        what = f"the phantom UW-OCTA set (procedural stand-ins, not patient images) at `{provenance['root']}`"
    elif provenance["kind"] != "unknown":
        what = f"{facts.describe_images()} from `{provenance['root']}`"
        mixed = mixed_phantom_words(provenance)  # phantoms copied among them: never clean real data
        what += f" ({mixed})" if mixed else ""
    else:  # no ingest summary
        root = settings.get("data.root", ABSENT)
        what = (MISSING if root is ABSENT else f"root `{root}`" if root
                else "the phantom set (data.root empty)")
    return f"{what}, {n_labelled} labelled images"


# --------------------------------------------------------------------------- comparing


def compare_runs(paths: Sequence[str | os.PathLike[str]], n_boot: int | None = None, seed: int = 0,
                 progress: Callable[[str], None] | None = None, between: bool = False) -> Comparison:
    """Read the run folders ``paths`` and compare them (see the module docstring).

    Args:
        paths: run folders of ``python -m drac_ssl.train``, in the order of the table.
        n_boot, seed: of the paired bootstrap of each pretrained variant minus scratch that is
            recomputed here. ``n_boot=None`` (the default) takes each run's own difference
            from its ``comparison.json`` where the run stored it, and recomputes the others
            with :data:`DEFAULT_N_BOOT` resamples; a number recomputes every difference.
        progress: called with a line before each bootstrap (the command prints it to stderr).
        between: also each later run minus the first, variant by variant, on the images both
            scored (:func:`between_runs`; ``n_boot`` resamples, :data:`DEFAULT_N_BOOT` when None).

    Returns:
        A :class:`Comparison`; ``.markdown()`` is the command's text, ``.table_csv()`` its
        ``--csv``. Runs whose number of grades differs from the others' are listed and named
        in ``.problems``.

    Raises:
        CompareError: naming every run folder that cannot be read, and why (:func:`read_run`).
    """
    if not paths:
        raise CompareError("no run folder given")
    runs: list[RunOutputs] = []
    errors: list[str] = []
    busy = 0  # errors that are a training still running (CompareBusy): all of them -> exit 75
    seen: dict[str, str] = {}
    for path in paths:
        same = os.path.realpath(path)
        if same in seen:  # RUN RUN: a run beside itself compares nothing (a CLI review)
            errors.append(f"{path}: given twice (the same run folder as {seen[same]}); a run is compared "
                          f"with other runs, not with itself.\n  fix: name each run folder once")
            continue
        seen[same] = os.fspath(path)
        try:
            runs.append(read_run(path))
        except CompareError as exc:
            errors.append(str(exc))
            busy += isinstance(exc, CompareBusy)
        except OSError as exc:  # another account's run folder (mode 0700), a failing disk: not a traceback
            errors.append(unreadable_words(exc))
    failed = CompareBusy if errors and busy == len(errors) else CompareError  # a bad folder too: 2
    if len(errors) == 1:
        raise failed(errors[0])
    if errors:
        raise failed(f"{len(errors)} of the run folders cannot be compared:\n"
                           + "\n".join(f"- {error}" for error in errors))
    names = [run.path.name or str(run.path) for run in runs]
    labels = [name if names.count(name) == 1 else str(run.path) for name, run in zip(names, runs, strict=True)]
    setting_keys = _differing_settings([run.settings for run in runs])
    notes: list[str] = _upgrade_notes(labels, runs, setting_keys) + same_oof_notes(labels, runs)
    differences: list[VariantDifference] = []
    for label, run in zip(labels, runs, strict=True):
        if run.stages_damage is not None:
            notes.append(f"`{label}`: its {STAGES_RECORD} is damaged ({run.stages_damage}), read as none: "
                         "a stage it took by run.reuse, and the code of each stage, are not said.")
        for source in sorted(set(run.reused.values())):
            stages = [s for s, src in run.reused.items() if src == source]
            notes.append(f"`{label}` took its {', '.join(stages)} stage(s) from `{source}` (run.reuse).")
        notes += _other_folds_notes(label, run)
        notes += _taken_notes(label, run, runs, labels)
        for variant in run.variants.values():  # the report's and the model card's warning
            chance = chance_warning(_row_metrics(variant.row))
            if chance:
                notes.append(f"`{label}` {variant.name}: {chance}")
            one_grade = variant.one_grade_note(run.class_names)  # as the fine-tuning and report.md say
            if one_grade:
                notes.append(f"`{label}` {variant.name}: {calibrated_one_grade_words(one_grade)}; this "
                             f"variant learnt next to nothing about grading.")
        baseline = run.variants.get(BASELINE)
        if baseline is None:
            off = run.settings.get("finetune.compare_scratch") is False
            why = " (finetune.compare_scratch=false)" if off else ""
            notes.append(f"`{label}` has no {BASELINE} variant{why}: no pretrained − {BASELINE} difference.")
            continue
        baseline_scores: dict[bytes, BootstrapScores] = {}  # by the images compared
        for variant in run.variants.values():
            if variant.name == BASELINE:
                continue
            skipped = _unpaired(variant, baseline)
            if skipped:
                notes.append(f"`{label}`: {skipped}; {variant.name} − {BASELINE} skipped.")
                continue
            own = _run_bootstrap(run.settings)
            if n_boot is None and variant.name in run.stored_differences and own is not None:
                by_patient = run.ci_resamples == "patients"  # as the run recorded (older runs: images)
                by_group = run.ci_resamples == "groups"
                units = (run.ci_units if run.ci_units is not None or by_patient or by_group
                         else len(variant.ids))
                differences.append(VariantDifference(
                    label, variant.name, BASELINE, len(variant.ids), run.stored_differences[variant.name],
                    *own, stored=True, by_patient=by_patient, units=units, by_group=by_group))
                continue
            # the run's patients (or image groups) known: resample them, each with all its images
            groups = run.groups(variant.ids)
            units = len(variant.ids) if groups is None else len(set(groups))
            kind = resampling_kind(groups)
            what = "images" if groups is None else f"{CI_UNIT_NOUNS[kind]}s ({units})"
            resamples = DEFAULT_N_BOOT if n_boot is None else n_boot
            if progress is not None:
                progress(f"[compare] {label}: {variant.name} − {BASELINE} on {len(variant.ids)} images, "
                         f"{resamples} paired bootstrap resamples of the {what}")
            order = {image: i for i, image in enumerate(baseline.ids)}
            at = np.array([order[image] for image in variant.ids], dtype=np.int64)
            # the baseline's resamples on these images are scored once for all its variants
            key = at.tobytes()
            try:
                if key not in baseline_scores:
                    baseline_scores[key] = bootstrap_scores(variant.grades, baseline.probs[at],
                                                            baseline.pred[at], n_boot=resamples, seed=seed,
                                                            groups=groups, kind=kind)
            except ValueError as exc:
                raise CompareError(f"{baseline.oof_path}: {exc}") from None
            try:
                scores = bootstrap_scores(variant.grades, variant.probs, variant.pred,
                                          n_boot=resamples, seed=seed, groups=groups, kind=kind)
            except ValueError as exc:
                raise CompareError(f"{variant.oof_path}: {exc}") from None
            result = paired_difference(scores, baseline_scores[key])
            differences.append(VariantDifference(label, variant.name, BASELINE, len(variant.ids), result,
                                                 resamples, seed, by_patient=kind == "patients", units=units,
                                                 by_group=kind == "groups"))
    header, problems = _scale_and_data(labels, runs)
    across: list[VariantDifference] = []
    if between and not problems:
        across, skipped = between_runs(runs, labels, DEFAULT_N_BOOT if n_boot is None else n_boot,
                                       seed, progress)
        notes += skipped
    notes += _fold_groups_notes(runs, labels, differences, across)
    return Comparison(runs, labels, setting_keys, differences, notes, problems, header, n_boot, seed,
                      across, between)


def _fold_groups_notes(runs: Sequence[RunOutputs], labels: Sequence[str],
                       differences: Sequence[VariantDifference],
                       between: Sequence[VariantDifference] = ()) -> list[str]:
    """A note for each run whose ingest kept near twins together before its manifest had the
    ``fold_group`` column (:attr:`RunOutputs.fold_groups_missing`): its CIs (its own, the
    pretrained − scratch ``differences`` of its label and, when it is the first run, the
    ``between`` differences, which resample its units) resample patients or images, not the
    image groups its folds kept whole; with the redo that resamples them, in the words of
    report.md and the model card (:func:`drac_ssl.grading.bundle.groups_not_resampled_words`).
    [] when no run has such an ingest."""
    notes = []
    for i, (label, run) in enumerate(zip(labels, runs, strict=True)):
        if not run.fold_groups_missing:
            continue
        kinds = {run.ci_resamples, *(d.resampled for d in differences if d.label == label),
                 *(d.resampled for d in (between if i == 0 else ()))}
        said = [kind for kind in ("patients", "images") if kind in kinds]  # never groups: unnamed
        if said:
            notes.append(f"`{label}`, whose ingest kept near twins in one fold (data.near_duplicate_mse): "
                         f"its CIs resample {' or '.join(said)}, {groups_not_resampled_words(said[0])}.")
    return notes


def between_runs(runs: Sequence[RunOutputs], labels: Sequence[str], n_boot: int, seed: int = 0,
                 progress: Callable[[str], None] | None = None
                 ) -> tuple[list[VariantDifference], list[str]]:
    """Each later run minus the first, variant by variant: ``(differences, notes)``.

    For every variant name the first run and a later run both have, scored on the same
    images with the same grades (:func:`_unpaired`), the paired bootstrap difference later -
    first of accuracy, QWK and the AUCs one-vs-rest and one-vs-one (:func:`drac_ssl.metrics.paired_difference`
    of both variants' :func:`drac_ssl.metrics.bootstrap_scores` on the first run's image
    order, the same ``n_boot`` resamples and ``seed``; over the first run's patients when
    its manifest names them). Each variant's resamples are scored once. A pair that cannot
    be scored together is a note saying why; a variant only one of them has is left out.
    Raises :class:`CompareError` for an ``oof.csv`` the bootstrap refuses."""
    first = runs[0]
    differences: list[VariantDifference] = []
    notes: list[str] = []
    scored: dict[tuple[int, str], BootstrapScores] = {}

    def scores_of(i: int, variant: VariantOutputs, at: np.ndarray, groups: list[str] | None) -> BootstrapScores:
        if (i, variant.name) not in scored:
            try:
                scored[(i, variant.name)] = bootstrap_scores(
                    variant.grades[at], variant.probs[at], variant.pred[at], n_boot=n_boot, seed=seed,
                    groups=groups, kind=resampling_kind(groups))
            except ValueError as exc:
                raise CompareError(f"{variant.oof_path}: {exc}") from None
        return scored[(i, variant.name)]

    for i, run in enumerate(runs[1:], start=1):
        for name, base in first.variants.items():
            other = run.variants.get(name)
            if other is None:
                continue
            why = _unpaired(other, base)
            if why:
                notes.append(f"`{labels[i]}` − `{labels[0]}`, {name}: {why}; not compared.")
                continue
            groups = first.groups(base.ids)
            units = len(base.ids) if groups is None else len(set(groups))
            if progress is not None:
                progress(f"[compare] {labels[i]} − {labels[0]}: {name} on {len(base.ids)} images, "
                         f"{n_boot} paired bootstrap resamples")
            order = {image: j for j, image in enumerate(other.ids)}
            at_other = np.array([order[image] for image in base.ids], dtype=np.int64)
            result = paired_difference(scores_of(i, other, at_other, groups),
                                       scores_of(0, base, np.arange(len(base.ids)), groups))
            kind = resampling_kind(groups)
            differences.append(VariantDifference(labels[i], name, labels[0], len(base.ids), result,
                                                 n_boot, seed, by_patient=kind == "patients", units=units,
                                                 by_group=kind == "groups"))
    return differences, notes


def _differing_settings(settings: list[dict[str, Any]]) -> list[str]:
    """The dotted keys whose value is not the same in every run (a key some runs lack counts
    as differing), in the order of the configuration file, output-only settings left out but
    for those :data:`~drac_ssl.stage_settings.OUTPUT_ONLY_SETTINGS` marks as speed settings
    (:data:`~drac_ssl.stage_settings.SPEED_SETTINGS`, e.g. ``pretrain.num_workers``), which keep
    their line of their own."""
    keys: dict[str, None] = {}
    for flat in settings:
        keys.update(dict.fromkeys(flat))
    return [key for key in keys if OUTPUT_ONLY_SETTINGS.get(key, True)
            and any(_compared(key, flat.get(key, ABSENT)) != _compared(key, settings[0].get(key, ABSENT))
                    for flat in settings[1:])]


def _compared(key: str, value: object) -> object:
    """``value`` of the setting ``key`` as :func:`_differing_settings` compares it: a path
    setting's leading ``~`` expanded (:data:`~drac_ssl.config.HOME_PATH_SETTINGS`), so that an
    older run's recorded ``~/aptos`` and a newer run's ``/home/me/aptos`` (recorded expanded
    since the config expands it when read) are the same folder, not a difference."""
    if key not in HOME_PATH_SETTINGS:
        return value
    if isinstance(value, str):
        return os.path.expanduser(value)
    if isinstance(value, list):
        return [os.path.expanduser(v) if isinstance(v, str) else v for v in value]
    return value


def codes_differ(runs: Sequence[RunOutputs]) -> bool:
    """Whether the runs may not all have been made by one code: more than one run, and a run
    made by more than one code, or by code not recorded or of unknown version
    (:func:`drac_ssl.runtime.code_known`), or two runs whose code differs
    (:func:`drac_ssl.runtime.same_code`: the code fingerprints, else the commits and dirty
    flags)."""
    if len(runs) < 2:
        return False
    if any(len(run.code) != 1 or not code_known(run.code[0]) for run in runs):
        return True
    return not all(same_code(run.code[0], runs[0].code[0]) for run in runs[1:])


def code_text(run: RunOutputs, among: Sequence[RunOutputs] = ()) -> str:
    """The code that made ``run`` in words (:func:`drac_ssl.runtime.code_at`, each distinct
    one), ``not recorded`` without any: the ``--csv`` column ``code``. ``among``: the runs
    compared with it; a record written as another code of theirs is written (the same commit,
    dirty or not, and another fingerprint: two edits of one commit) gets its fingerprint
    added, so that the column tells them apart."""
    others = [c for other in (run, *among) for c in other.code]

    def said(code: dict[str, Any]) -> str:
        twin = next((c for c in others if not same_code(code, c) and code_at(code) == code_at(c)), None)
        return code_at(code, twin)

    return ", ".join(said(c) for c in run.code) or "not recorded"


def _upgrade_notes(labels: Sequence[str], runs: Sequence[RunOutputs], setting_keys: Sequence[str]) -> list[str]:
    """Notes on runs made by different code (:func:`codes_differ`), on settings a run's
    ``config.yaml`` lacked that differ among the runs (given today's default,
    :func:`_with_defaults`), and on fine-tuning folds of an older procedure (no
    ``train_views``)."""
    notes = []
    if codes_differ(runs):
        listing = "; ".join(f"`{label}` {code_text(run, runs)}" for label, run in zip(labels, runs, strict=True))
        notes.append(f"The runs were not all made by the same code ({listing}): differences among them "
                     "may come from changes of the code, not only from the settings that differ.")
    for label, run in zip(labels, runs, strict=True):
        shown = [key for key in run.defaulted if key in setting_keys and key not in DEFAULTS_BEFORE]
        if shown:
            notes.append(f"`{label}`'s `config.yaml` has no " + ", ".join(f"`{key}`" for key in shown)
                         + " (written by older code, before the setting existed): shown with today's "
                         "default, " + ", ".join(_setting_text(run.settings[key]) for key in shown)
                         + "; that code did not read the setting.")
        former = [key for key in run.defaulted if key in setting_keys and key in DEFAULTS_BEFORE]
        if former:
            notes.append(f"`{label}`'s `config.yaml` has no " + ", ".join(f"`{key}`" for key in former)
                         + " (written by older code, before the setting existed): shown with the value "
                         "that code ran under, " + ", ".join(_setting_text(run.settings[key]) for key in former)
                         + ", not today's default.")
        if run.older_views:
            which = ("its" if len(run.older_views) == len(run.variants)
                     else "the " + ", ".join(run.older_views) + " variant(s)'")
            notes.append(f"`{label}`: {which} fine-tuning folds were trained by an older drac_ssl (their "
                         "records in `finetune/<variant>/fold<k>.json` have no `train_views`): the "
                         "fine-tuning procedure changed since (the training views were drawn another "
                         "way, following `pretrain.num_workers`), so its figures may differ from a run "
                         "of today's code with the same settings.")
    return notes


def _unpaired(variant: VariantOutputs, baseline: VariantOutputs) -> str:
    """Why two variants' out-of-fold rows cannot be paired by id ('' when they can)."""
    mine, theirs = set(variant.ids), set(baseline.ids)
    if mine != theirs:
        return (f"{variant.name} and {baseline.name} were scored on different images ({len(mine - theirs)} "
                f"id(s) only in {variant.oof_path}, {len(theirs - mine)} only in {baseline.oof_path})")
    grade_of = dict(zip(baseline.ids, baseline.grades.tolist(), strict=True))
    changed = [image for image, g in zip(variant.ids, variant.grades.tolist(), strict=True) if grade_of[image] != g]
    if changed:
        return (f"{len(changed)} image(s) carry another grade in {variant.oof_path} than in "
                f"{baseline.oof_path} (e.g. {changed[0]!r})")
    return ""


def _scale_and_data(labels: list[str], runs: list[RunOutputs]) -> tuple[str, list[str]]:
    """The header line (the grade scale, and the data when all runs share them) and the
    problems (runs on scales with different numbers of grades)."""
    scales = {run.class_names for run in runs}
    if len({run.num_grades for run in runs}) > 1:
        listing = "; ".join(f"`{label}` {run.num_grades} ({describe_grades(run.class_names)})"
                            for label, run in zip(labels, runs, strict=True))
        return "", [f"the runs grade on scales of different sizes, so their QWK and AUC cannot be "
                    f"compared: {listing}"]
    if len(scales) > 1:
        listing = "; ".join(f"`{label}` {describe_grades(run.class_names)}"
                            for label, run in zip(labels, runs, strict=True))
        return f"K = {runs[0].num_grades} grades in every run, named differently: {listing}.", []
    scale = f"K = {runs[0].num_grades} grades ({describe_grades(runs[0].class_names)})"
    if len({run.data for run in runs}) == 1:
        return f"All runs: {scale}; data: {runs[0].data}.", []
    return f"All runs: {scale}; their data differ (see the data.* columns).", []


# --------------------------------------------------------------------------- formatting


def _count(value: float | None) -> str:
    if value is None:
        return MISSING
    return f"{value:.0f}" if value == round(value) else f"{value:.1f}"


def _variant_text(row: dict[str, Any], comparison: Comparison) -> str:
    """A table row's variant, marked when its fine-tuning was taken from another run folder:
    ``scratch (folds from eye_b)``, and when its epochs were chosen on the rows it scores:
    ``scratch (keep=best)`` (:data:`KEEP_BEST_MARK`)."""
    run = comparison.runs[comparison.labels.index(row["run"])]
    variant = run.variants[row["variant"]]
    parts = [(f"{len(folds)} of {variant.n_folds} folds" if 0 < len(folds) < variant.n_folds else "folds")
             + f" from {_source_label(source, comparison.runs, comparison.labels)}"
             for source, folds in variant.taken_from.items()]
    parts += [KEEP_BEST_MARK] if variant.keep_best else []
    return f"{row['variant']} ({'; '.join(parts)})" if parts else row["variant"]


KEEP_BEST_MARK = "keep=best"
"""The mark of a table row whose figures :data:`drac_ssl.figures.KEEP_BEST_CAVEAT` is about
(its fine-tuning ran with ``finetune.keep=best``); :meth:`Comparison.markdown` says the caveat
once."""


def _keep_best_difference(d: VariantDifference, comparison: Comparison, between: bool = False) -> bool:
    """Whether either side of a paired difference has figures of ``finetune.keep=best``: two
    variants of run ``d.label`` or, ``between``, variant ``d.variant`` of runs ``d.label`` and
    ``d.baseline``."""
    def run(label: str) -> RunOutputs:
        return comparison.runs[comparison.labels.index(label)]

    sides = ((run(d.label), d.variant), (run(d.baseline), d.variant)) if between else \
        ((run(d.label), d.variant), (run(d.label), d.baseline))
    return any(r.variants[name].keep_best for r, name in sides if name in r.variants)


def _marked(text: str, keep_best: bool) -> str:
    """``text`` with :data:`KEEP_BEST_MARK` in brackets when ``keep_best``."""
    return f"{text} ({KEEP_BEST_MARK})" if keep_best else text


def _source_label(source: str, runs: Sequence[RunOutputs], labels: Sequence[str]) -> str:
    """A run folder as the tables name it when it is one of the compared runs, else its path."""
    for run, label in zip(runs, labels, strict=True):
        if os.path.abspath(run.path) == os.path.abspath(source):
            return label
    return source


def _row_metrics(row: dict[str, Any]) -> dict[str, Any]:
    """A ``comparison.json`` row as :func:`drac_ssl.grading.bundle.chance_warning` reads a
    variant's metrics (``qwk``, ``qwk_ci95``, ``qwk_ci95_note``, ``auc_ovr`` / ``auc``, and
    ``auc_ovr_ci95`` where :func:`read_run` took it from the variant's ``metrics.json``)."""
    cv = {"qwk": row.get("qwk"), "qwk_ci95": [row.get("qwk_ci_low"), row.get("qwk_ci_high")],
          "qwk_ci95_note": row.get("qwk_ci_note")}
    cv.update({key: row[key] for key in ("auc_ovr", "auc") if isinstance(row.get(key), int | float)})
    if isinstance(row.get("auc_ovr_ci95"), list):  # from the variant's metrics.json (runs since it was stored)
        cv["auc_ovr_ci95"] = row["auc_ovr_ci95"]
    return cv


def _other_folds_notes(label: str, run: RunOutputs) -> list[str]:
    """One note for a run whose stages ``run.reuse`` took from a run with other folds (a change
    of the folds alone, :data:`drac_ssl.stage_settings.FOLD_SETTINGS`): which stages, each fold
    setting's value there and here (the first stage that records it), and that its fine-tuning
    ran on its own folds; none when no fold setting still differs (a chain of reuses back to
    the same folds)."""
    differing: dict[str, tuple[str, str]] = {}
    stages = []
    for stage, settings in run.other_folds.items():
        if settings:
            stages.append(stage)
            for key, values in settings.items():
                differing.setdefault(key, values)
    if not differing:
        return []
    there = "; ".join(f"{key} {old} there, {new} here" for key, (old, new) in differing.items())
    return [f"`{label}`'s {', '.join(stages)} stage(s) were made with the folds of the run they were taken "
            f"from ({there}; run.reuse of a change of the folds alone): they read no grade, and its "
            f"fine-tuning ran on its own folds."]


def same_oof_notes(labels: Sequence[str], runs: Sequence[RunOutputs]) -> list[str]:
    """One note per pair of the runs with variants whose out-of-fold files
    (``finetune/<variant>/oof.csv``) are byte-identical (the same SHA-256), listing those
    variants: their rows repeat each other and are not independent replicates (a reader of
    two rows could take them for two seeds). It says no more of why: a same-seed rerun gives
    it, and so does every pretraining ablation's scratch, which never reads the pretraining.
    A pair whose variant one run took from the other, or both from one run (``run.reuse``),
    is left to :func:`_taken_notes`. ``labels``: the runs' names in the table, in ``runs``'
    order."""
    by_digest: dict[str, list[tuple[int, VariantOutputs]]] = {}
    for index, run in enumerate(runs):
        for variant in run.variants.values():
            try:
                digest = sha256_file(variant.oof_path)
            except OSError:  # read once already: gone since, nothing to say of it
                continue
            by_digest.setdefault(digest, []).append((index, variant))

    def made_in(index: int, variant: VariantOutputs) -> set[str]:
        return {os.path.abspath(runs[index].path)} | {os.path.abspath(s) for s in variant.taken_from}

    by_pair: dict[tuple[int, int], list[str]] = {}
    for same in by_digest.values():
        for i, (a, first) in enumerate(same):
            for b, second in same[i + 1:]:
                if a == b or made_in(a, first) & made_in(b, second):
                    continue
                pair, (one, other) = ((a, b), (first, second)) if a < b else ((b, a), (second, first))
                by_pair.setdefault(pair, []).append(
                    one.name if one.name == other.name else f"{one.name} = `{labels[pair[1]]}` {other.name}")
    return [f"`{labels[a]}` and `{labels[b]}` ({', '.join(names)}): byte-identical out-of-fold files: "
            f"these rows repeat each other, they are not independent replicates."
            for (a, b), names in sorted(by_pair.items())]


def _taken_notes(label: str, run: RunOutputs, runs: Sequence[RunOutputs], labels: Sequence[str]) -> list[str]:
    """One note per run folder whose fine-tuned folds ``run`` reused: which variants, so that
    two runs' equal rows are not read as agreeing replications."""
    by_source: dict[str, list[str]] = {}
    for variant in run.variants.values():
        for source, folds in variant.taken_from.items():
            of = f" of {variant.n_folds}" if variant.n_folds else ""
            by_source.setdefault(source, []).append(f"{variant.name} ({len(folds)}{of} folds)")
    notes = []
    for source, parts in by_source.items():
        there = _source_label(source, runs, labels)
        compared = there != source
        notes.append(f"`{label}`'s fine-tuning of {', '.join(parts)} was taken from `{there}` (run.reuse: "
                     f"the same settings, data, seed and weights, so the same models, not trained again): "
                     + (f"those rows repeat `{there}`'s, they are not an independent replication."
                        if compared else "its figures repeat that run's, not an independent replication."))
    return notes


def _qwk_with_ci(row: dict[str, Any]) -> str:
    """A table row's QWK with its interval (:func:`drac_ssl.figures.format_with_ci`):
    ``0.650 (0.600..0.700)``, or ``0.000 (CI not meaningful: every image was given one grade
    ...)`` when the row's ``qwk_ci_note`` says so."""
    return format_with_ci(row["qwk"], row["qwk_ci_low"], row["qwk_ci_high"], row.get("qwk_ci_note"))


def _screening_cells(row: dict[str, Any], columns: Sequence[str]) -> list[str]:
    """A table row's screening cells for the :meth:`Comparison.screening_columns` ``columns``:
    the referable AUC with its CI when a run has a cut (``0.912 (0.850..0.960)``, or ``1.000
    (CI not meaningful: ...)`` for an interval of width 0), then sensitivity and specificity
    (referable DR's, or two grades'); "n/a" where a run has none."""
    if not columns:
        return []
    cells = []
    if "referable_auc" in columns:  # an interval of width 0 said as the QWK's is
        cells.append(format_with_ci(*(row[key] for key in ("referable_auc", "referable_auc_ci_low",
                                                           "referable_auc_ci_high"))))
    for figure in ("sensitivity", "specificity"):
        value = row.get(f"referable_{figure}")
        cells.append(figure_text(row.get(figure) if value is None else value))
    return cells


def _screening_legend(columns: Sequence[str]) -> str:
    """What the screening columns of the table hold, in the words of the runs' report.md."""
    referable = "referable_auc" in columns
    decisions = []
    if referable:
        decisions.append("referable = grade >= the run's cut, `finetune.referable_from`: referable "
                         "images found, the others cleared")
    if "sensitivity" in columns:
        decisions.append("two grades: images of grade 1 found, grade 0 cleared")
    auc = ("Referable AUC: the ROC AUC of P(referable) out of fold, its CI the run's own bootstrap "
           "on the same resamples as its QWK's. " if referable else "")
    return (f"{auc}Sensitivity and specificity: at the submitted grades, read as a screening decision "
            f"({'; '.join(decisions)})" + (", not an operating point tuned on P(referable)" if referable
                                           else "")
            + "; each variant's figures in the words of its run's `report.md` follow.")


def _signed_ci(result: dict[str, float]) -> str:
    """A paired difference with its interval in report.md's words
    (:func:`drac_ssl.figures.format_difference`): ``+0.050 (+0.010..+0.090)``, or ``+0.000
    (CI not meaningful: every resample gives 0.000: ...)`` for an interval of width 0: every
    resample scored both models alike, which is not certainty that they are the same."""
    return format_difference(*(result.get(key) for key in ("difference", "ci_low", "ci_high")))


def _ci_count(differences: Sequence[VariantDifference], metrics: Sequence[str]) -> int:
    """How many CIs a difference table shows: one per difference and metric of ``metrics`` (its
    columns) that the difference has (an older run's stored three: its OvO cell ``n/a``)."""
    return sum(m in d.result for d in differences for m in metrics)


def _zero_width(differences: Sequence[VariantDifference], shown: Sequence[str] = PAIRED_METRICS) -> list[str]:
    """``run − baseline variant: QWK, accuracy`` for each difference with an interval of width
    0 in some metric of ``shown`` (the table's columns, in :data:`PAIRED_METRICS` order)."""
    found = []
    for d in differences:
        metrics = [METRIC_TITLES[m] for m in shown
                   if m in d.result and degenerate_ci_reason(d.result[m].get("ci_low"), d.result[m].get("ci_high"))]
        if metrics:
            found.append(f"`{d.label}` − `{d.baseline}` {d.variant}: {', '.join(metrics)}")
    return found


def _setting_text(value: Any) -> str:
    """A setting as the YAML / command line spells it: true, 0.1, [0.6, 1.0], "" for empty."""
    if value is ABSENT:
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_setting_text(v) for v in value) + "]"
    text = str(value)
    return text.replace("|", "\\|") if text else '""'


def _csv_cell(value: Any) -> Any:
    if value is ABSENT or value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (bool, list)):
        return _setting_text(value)
    return value


# --------------------------------------------------------------------------- command line


def _compare_csv(path: Path) -> bool:
    """Whether ``path`` is a table :meth:`Comparison.table_csv` wrote (its first columns)."""
    fields = first_fields(path) or []
    return fields[:2] == ["run", "path"] and "variant" in fields


def _compare_md(path: Path) -> bool:
    """Whether ``path`` is a text :meth:`Comparison.markdown` wrote (its first line)."""
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return first.startswith("# drac_ssl: ") and "compared" in first


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m drac_ssl.compare RUN [RUN ...] [--csv FILE] [--md FILE] [--n-boot N]``:
    print the comparison as Markdown; 0 on success, 1 (:data:`~drac_ssl.exit_codes.PROBLEMS_FOUND`)
    when the runs compared are not comparable (each problem said on stderr as ``error: the runs
    grade on scales of different sizes ...``; an unexpected error, a traceback, exits 1 too), 2 on
    a bad input,
    75 while a run compared still trains, 130 on Ctrl-C (:data:`drac_ssl.exit_codes.COMPARE_EXIT_CODES`)."""
    started()  # everything is imported: Ctrl-C raises KeyboardInterrupt again
    try:
        args = compare_parser().parse_intermixed_args(argv)  # options between the run folders
    except SystemExit as exc:  # --help, or a usage error argparse has already printed
        return exc.code if isinstance(exc.code, int) else 2
    if args.n_boot is not None and args.n_boot < 1:
        print(f"error: --n-boot must be at least 1, got {args.n_boot}.\n  fix: --n-boot {DEFAULT_N_BOOT} "
              f"(the default: leave --n-boot out)", file=sys.stderr)  # F14: the fix was missing
        return 2
    for flag, path, example, ours in (("--csv", args.csv, "comparison.csv", _compare_csv),
                                      ("--md", args.md, "comparison.md", _compare_md)):
        # a folder, a path under a file, or an existing file compare did not write (a label
        # CSV, a report: replaced with no check before, a careless-user review F1)
        if path and (problem := output_file_problem(path, flag, example)
                     or replace_problem(path, flag, ours, "compare", example)):
            print(f"error: {problem}", file=sys.stderr)  # before the runs are compared
            return 2
    try:  # SIGTERM (kill, a scheduler's limit) stops as Ctrl-C does: exit 143
        with sigterm_as_ctrl_c():
            comparison = compare_runs(args.runs, n_boot=args.n_boot,
                                      progress=lambda line: print(line, file=sys.stderr),
                                      between=args.between)
    except CompareBusy as exc:  # a training still running: try later (a scheduler requeues 75)
        print(f"error: {exc}", file=sys.stderr)
        return RUN_BUSY
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hold_signals_if_command()  # a second SIGTERM cannot cut the line nor kill by signal
        print("\n[compare] interrupted while the runs were read and compared: nothing was "
              "written; rerun the same command", file=sys.stderr)
        return interrupt_exit_code()
    text = comparison.markdown()
    unwritable = None
    try:
        with stdout_guarded():
            print(text, end="")
    except StdoutUnwritable as exc:  # > /dev/full, | head: the files asked for are still written
        unwritable = exc
    for path, content in ((args.csv, comparison.table_csv), (args.md, lambda: text)):
        try:
            if path:
                atomic_write_text(path, content())
        except OSError as exc:  # the user's path, not the temporary file's
            print(f"error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    for problem in comparison.problems:
        print(f"error: {problem}", file=sys.stderr)
    if unwritable is not None:
        print(f"error: {unwritable}", file=sys.stderr)
        return 2
    return PROBLEMS_FOUND if comparison.problems else 0


if __name__ == "__main__":
    run_command(main)
