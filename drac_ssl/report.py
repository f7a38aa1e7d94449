"""The run report: ``write_report(run_dir) -> run_dir/report.md``.

One Markdown page that explains a run folder: what data it saw (and an honest note when it
was the phantom set), the configuration, the stage wall times (``stages.json``), the
pretraining and UMM curves (the PNGs those stages wrote under ``*/plots/``), the
cross-validated fine-tuning per variant (per-fold table, out-of-fold confusion matrix and
ROC), the scratch / VICReg / VICReg+UMM comparison, the exported bundle and submission, and
last the files the folder holds, what each is and which can be deleted
(:func:`drac_ssl.run_files.files_section`).
Figures drawn here go to ``run_dir/report/``; every link is relative to ``run_dir`` and
points at a file that exists. Missing stages are reported as missing, never invented.

Its first lines say what wrote it (drac_ssl version, commit, UTC date) and what made the run
(its commit(s), command). Command line: ``python -m drac_ssl.report RUN`` (which rewrites the
report with the code of now, and so adds a line to the run's ``invocations.jsonl``); it is
refused (exit 2) when the run's ``config.yaml`` was edited after the stages ran
(:func:`drac_ssl.stage_settings.edited_config_words`): the configuration section would state
values they did not run with.
"""

from __future__ import annotations

if __name__ == "__main__":  # Ctrl-C while torch loads: one line, not an import's traceback
    from drac_ssl.starting import quiet_while_starting

    quiet_while_starting("report")
    from drac_ssl.commands import report_parser

    report_parser().parse_args()  # --help or a usage error: answered before torch loads

import contextlib
import datetime as _dt
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from drac_ssl import PRETRAIN_METHOD, __version__, runtime
from drac_ssl.challenge import drac_scale, leaderboard_words
from drac_ssl.collapse import (
    COLLAPSE_RATE_REDUCTION,
    COLLAPSE_VARIANCE_SHARE,
    SSL_STAGE_TITLES,
    collapse_symptoms,
    collapse_warning,
    recorded_gamma,
)
from drac_ssl.commands import report_parser
from drac_ssl.config import (
    REPRODUCE_WORDS,
    ConfigError,
    FinetuneConfig,
    layout_name,
    read_saved_config,
    referral_target_text,
    reproduce_command,
    shell_word,
    to_dict,
    variant_keep,
    with_former_defaults,
)
from drac_ssl.datasets import GENERIC_DATASET_WORDS
from drac_ssl.exit_codes import RUN_BUSY
from drac_ssl.figures import (
    AUC_TWO_GRADES,
    KAPPA_TWO_GRADES,
    KEEP_BEST_CAVEAT,
    auc_words,
    figure_text,
    figure_with_ci,
    finite_number,
    format_ci,
    format_difference,
    format_with_ci,
    interval_width_zero,
    kappa_name,
    markdown_table,
)
from drac_ssl.grading.bundle import (
    NO_SUBGROUP_WORDS,
    VARIANT_TITLES,
    BundleError,
    chance_warning,
    data_provenance,
    fine_tuned_variant_dir,
    fold_gap_words,
    fold_grouping_words,
    freeze_words,
    fundus_preprocessing_words,
    left_out_missing_words,
    left_out_words,
    mixed_phantom_words,
    oof_calibration_words,
    oof_recall_intervals,
    per_grade_outcomes,
    per_grade_recall_cell,
    per_grade_recall_words,
    pooled_origins_words,
    pretraining_phantom_words,
    probability_columns_words,
    referable_labels_words,
    stated_data,
    stated_data_lines,
    variant_title,
)
from drac_ssl.grading.model import HEAD_WIDTH_SETTINGS, threshold_words
from drac_ssl.io import (
    StdoutUnwritable,
    absolute_from,
    atomic_write_text,
    invocations,
    jsonl_dicts,
    read_json,
    stdout_guarded,
    unreadable_words,
)
from drac_ssl.manifest import ManifestError, labelled_rows, read_manifest, resampling_unit
from drac_ssl.metrics import (
    MAJORITY_BY_DEFINITION,
    REFERRAL_RULE,
    apply_thresholds,
    calibrated_one_grade_words,
    counted_units,
    degenerate_ci_reason,
    grading_report,
    majority_grade_reference,
    patient_screening_summary,
    referable_summary,
    stored_one_grade_note,
    temperature_at_bound,
    threshold_band_warning,
    two_grade_summary,
)
from drac_ssl.oof import OOF_FILE, OofError, folds_taken_words, oof_units, read_oof
from drac_ssl.plots import plot_comparison, plot_confusion, plot_history, plot_roc, roc_curves
from drac_ssl.run_files import files_section
from drac_ssl.run_state import (
    is_run_folder,
    killed_attempt_seconds,
    killed_training_seen,
    made_in,
    read_stages_record,
    recorded_threads,
    resume_command_and_note,
    run_folder_problem,
    selected_metrics,
    selected_variant,
    stage_states,
    stages_damaged_fix,
    stages_record_and_damage,
    stages_record_damage,
    unfinished,
)
from drac_ssl.runtime import code_at, code_known, code_words, known_commit, same_code
from drac_ssl.scale import default_grade_names, describe_grades, grades_words, read_ingest_facts
from drac_ssl.selection import recorded_selection
from drac_ssl.stage_settings import edited_config_words
from drac_ssl.starting import (
    hold_signals_if_command,
    interrupt_exit_code,
    python_command,
    run_command,
    sigterm_as_ctrl_c,
    started,
)
from drac_ssl.submission import class_rule_setting_words
from drac_ssl.trial_run import FIRST_TRY_OPTION, cap_words, pool_size, standing_first_try
from drac_ssl.trial_run import cut_short_words as _cut_short_words  # report.md's "Read this first"

__all__ = ["FIGURE_ALTS", "FIGURE_CAPTIONS", "NextStep", "confusion_lines", "sensitivity_lines", "fold_grade_lines", "rule_below_argmax_words", "figure_alt", "figure_caption",
           "model_next_steps", "pool_lines", "pretrain_curve_words", "roc_auc_line", "screening_line", "write_report", "main"]

FIGURES = "report"

FIGURE_CAPTIONS = {
    # pretrain/plots/ (drac_ssl.pretrain)
    "pretrain_loss": f"{PRETRAIN_METHOD} loss and its three terms per epoch; a curve still falling at the last epoch "
                     "means more epochs may help. The variance term is the mean over the embedding's "
                     "dimensions of relu(gamma - std), gamma its target (pretrain.loss.gamma, 1 by default): "
                     "0 when every dimension spreads at least gamma, and at or above "
                     f"{COLLAPSE_VARIANCE_SHARE:g} x gamma (the report's collapse check) the embeddings "
                     "collapsed; values between say they spread less than the target.",
    "pretrain_monitors": "Label-free monitors per epoch: the probe's rate reduction (last / early features), "
                         "which methods.md expects to rise while the features improve and to peak where the "
                         "model starts to memorise, then fall; near 0 (under "
                         f"{COLLAPSE_RATE_REDUCTION:g} nats, the report's collapse check) means the features "
                         "no longer tell images apart. Its peak is where UMM's start_from=peak begins. "
                         "With labels, knn_top1 is the k-NN top-1 (%) of the backbone's features on the "
                         "test split every pretrain.knn_every epochs, and its dashed line the starting "
                         "backbone's, scored before any step: read the epochs against that line, not "
                         "against chance (an untrained ResNet already scores far above chance; a curve "
                         "under the line means the pretraining made the features worse for k-NN).",
    # umm/plots/ (drac_ssl.umm.plots)
    "umm_start": "Pretraining's rate-reduction monitor with its peak and the epoch UMM started from; check "
                 "the start is the epoch the start_from rule meant.",
    "umm_rate_reduction": "UMM's rate reduction per epoch: on pretraining's fixed probe (probe_*, the "
                          "scale of the umm_start curve) and as the mean of its training batches (early "
                          "and last features at theta, and at theta'), and view cosine; UMM is meant to "
                          "raise it, so a falling curve means it did not help.",
    "umm_losses": "UMM's SSL loss at theta and theta', outer objective, JS and VICReg terms per epoch; an SSL "
                  "loss climbing steadily means UMM is undoing the pretraining (the guard's umm.max_ssl_rise).",
    "umm_steps": "Outer / inner step-norm ratio per parameter group and the step norms; a ratio far above 1 "
                 "means the rate-reduction step dominates the SSL step.",
    # report/ (drawn by this module)
    "comparison": "Out-of-fold metrics of each variant side by side, QWK with its 95% CI; the intervals "
                  "are each variant's own, so overlapping ones do not show the variants are equal: the "
                  "paired differences below (the same resamples for both: of images, or of the run's patients or "
                  "image groups) are the test.",
    "confusion": "Out-of-fold grades: rows true, columns predicted, count and share of the true grade; look "
                 "for a strong diagonal, and a single filled column means one grade was given to nearly "
                 "every image; a grey row saying \"no images\" is a grade these images do not hold (never "
                 "tested, not never found).",
    "roc": "One-vs-rest ROC per grade from the out-of-fold probabilities (two grades: one curve, the second "
           "grade against the first); a curve near the dashed diagonal (AUC near 0.5) means that grade is not "
           "told from the rest.",
    "val_qwk": "Validation QWK per epoch and fold (uncalibrated); curves still rising at the last epoch "
               "suggest more epochs, and folds far apart mean few validation images per fold.",
    "inner_qwk": "Inner-split QWK per epoch and fold (uncalibrated; finetune.keep=inner: the part of each "
                 "fold's training images held out to choose its epoch, the validation fold scored once "
                 "after); curves still rising at the last epoch suggest more epochs, and folds far apart "
                 "mean few inner-split images per fold.",
}
"""One-line caption per figure the report links, keyed by the PNG's file stem: what it shows
and what to look for. A variant's figures (``report/<variant>_confusion.png``, ``_roc``,
``_val_qwk``, under ``finetune.keep=inner`` ``_inner_qwk``) are keyed without the variant
(:func:`figure_caption`)."""


FIGURE_ALTS = {
    "pretrain_loss": f"Line charts against the epoch of the {PRETRAIN_METHOD} loss and its three terms",
    "pretrain_monitors": "Line charts against the epoch of the label-free monitors: the probe's rate "
                         "reduction (last and early features) and, when logged, the k-NN top-1 with the "
                         "starting backbone's as a dashed line",
    "umm_start": "Line chart against the epoch of pretraining's rate-reduction monitor, with vertical "
                 "lines at its peak and at the epoch UMM started from",
    "umm_rate_reduction": "Line charts against the epoch of UMM's rate reduction, on pretraining's probe "
                          "and on its training batches, and of the view cosine",
    "umm_losses": "Line charts against the epoch of UMM's SSL loss at theta and theta', its outer "
                  "objective and its JS and VICReg terms",
    "umm_steps": "Line charts against the epoch of the outer / inner step-norm ratio per parameter group "
                 "and of the step norms",
    "comparison": "Grouped bar chart of QWK (with its 95% CI), AUC one-vs-one, AUC one-vs-rest, "
                  "accuracy and macro F1, one bar per backbone variant, each with its value; the table "
                  "above gives the same figures",
    "confusion": "Confusion matrix of the out-of-fold grades, rows the true grade, columns the "
                 "predicted grade, each cell its count and share of the true grade; the table under "
                 "it gives the counts",
    "roc": "ROC curves, true positive rate against false positive rate, one per grade against the "
           "rest (two grades: one curve, the second grade against the first), with the chance "
           "diagonal; the line under it gives each curve's AUC",
    "val_qwk": "Line charts against the epoch of each fold's validation QWK, all on one scale from -1 to 1",
    "inner_qwk": "Line charts against the epoch of each fold's inner-split QWK, all on one scale from -1 to 1",
}
"""The alt text of each figure the report links (:func:`figure_alt`), keyed as
:data:`FIGURE_CAPTIONS`: what the picture shows, for a reader who cannot see it (an
accessibility review found file names, ``![VICReg: pretrain_loss]``); the figures a reader
needs in numbers (the confusion counts, each grade's ROC AUC) are written beside the picture."""


COMPARISON_ALT_TWO_GRADES = ("Grouped bar chart of Cohen's kappa (K=2: QWK equals it; with its 95% CI), the AUC of "
                             "P(referable) (the one AUC of two grades), accuracy and macro F1, one bar per backbone "
                             "variant, each with its value; the table above gives the same figures")
"""The comparison figure's alt text for two grades (:data:`FIGURE_ALTS`' ``comparison`` for more)."""


def figure_alt(stem: str, title: str, variant: str = "") -> str:
    """The alt text of the figure ``<stem>.png`` (:data:`FIGURE_ALTS`, the stem without the
    ``<variant>_`` prefix): ``"<title>: <what it shows>"``; for a stem it does not know, the
    stem's words (``"VICReg: figure pretrain something new"``). No ``]`` or line break (they
    would end the Markdown image)."""
    key = stem[len(variant) + 1:] if variant and stem.startswith(f"{variant}_") else stem
    shown = FIGURE_ALTS.get(key) or f"figure {key.replace('_', ' ')}"
    return f"{title}: {shown}".replace("]", ")").replace("[", "(").replace("\n", " ")


def confusion_lines(confusion: Any, names: Sequence[str]) -> list[str]:
    """The out-of-fold confusion counts ``(K, K)`` (rows true, columns predicted:
    ``grading_report["confusion"]``) as a Markdown table, a row total at the end, for a reader
    who cannot see the figure; ``names`` the K grade names."""
    counts = np.asarray(confusion, dtype=np.int64)
    header = ["true grade", *(f"predicted {k} {n}" for k, n in enumerate(names)), "total"]
    rows = [[f"{k} {n}", *(str(int(c)) for c in counts[k]), str(int(counts[k].sum()))]
            for k, n in enumerate(names)]
    return ["Out-of-fold confusion counts (rows: the true grade; columns: the predicted grade):", "",
            *markdown_table(header, rows)]


def sensitivity_lines(confusion: Any, names: Sequence[str],
                      intervals: Sequence[dict[str, Any]] | None = None) -> list[str]:
    """Each grade's out-of-fold sensitivity from the confusion counts ``(K, K)`` (rows true,
    columns predicted), with its 95% CI in the model card's cell
    (:func:`drac_ssl.grading.bundle.per_grade_recall_cell`; ``intervals``:
    :func:`drac_ssl.grading.bundle.oof_recall_intervals`, the Wilson interval on the patients'
    effective n where the run knows patients, the images' Wilson interval without):
    ``Out of fold, graded correctly (sensitivity, Wilson 95% CI): 0 Normal 0.857 (30/35;
    0.706..0.937); ...``, then an empty line (after :func:`confusion_lines`' table, which ends
    with one: no second empty line before it; with two grades grade 0's figure is called the
    specificity, :func:`~drac_ssl.grading.model_card.per_grade_recall_words`, as the card does);
    [] without counts of the right size."""
    rows = per_grade_outcomes({"confusion": np.asarray(confusion).tolist()}, list(names), intervals)
    if not rows:
        return []
    said = "; ".join(f"{r['grade']} {r['name']} {per_grade_recall_cell(r)}" for r in rows)
    return [f"Out of fold, {per_grade_recall_words(len(rows))}: {said}.", ""]


def roc_auc_line(grades: Any, probs: Any, names: Sequence[str], metrics: dict[str, Any] | None = None) -> list[str]:
    """Each ROC curve's AUC (:func:`drac_ssl.plots.roc_curves`, the legend of the ROC figure) in
    words, with the images of the grade it rests on and, from the variant's ``metrics``
    (metrics.json: ``auc_per_grade_units``, the resampled patients or image groups among them,
    and ``auc_per_grade_ci95``), their number and its bootstrap 95% CI: "Out-of-fold ROC AUC
    per grade: PDR vs rest (3 images, 2 patients): AUC 0.976 (95% CI 0.912..1.000); ...", then
    an empty line. An interval from fewer resamples than ``n_boot`` (``auc_per_grade_ci95_resamples``:
    those with the grade and another) says how many, as the macro AUC's note does
    (:func:`resamples_used_words`); one of width 0 at 0 or 1 says the images it rests on and
    that the bootstrap cannot show how far from there the AUC may be (:func:`_edge_reason`).
    ``grades`` ``(n,)``, ``probs`` ``(n, K)``; a run made before those records (none in
    ``metrics``) gets the images alone. With two grades, the one curve of the second."""
    metrics = metrics or {}
    y = np.asarray(grades)
    units, cis = metrics.get("auc_per_grade_units") or {}, metrics.get("auc_per_grade_ci95") or {}
    unit = {"patients": "site" if metrics.get("ci_unit") == "site" else "patient",
            "groups": "image group"}.get(str(metrics.get("ci_resamples")), "")
    used_per_grade, n_boot = metrics.get("auc_per_grade_ci95_resamples") or {}, metrics.get("n_boot")
    graded = [c for c in range(len(names)) if not (len(names) == 2 and c == 0)]  # roc_curves' curves
    said = []
    for c, (label, _, _) in zip(graded, roc_curves(y, np.asarray(probs), list(names)), strict=True):
        head, _, auc = label.partition(": ")
        rests_on = [counted_units(int(np.sum(y == c)), "image")]
        if unit and isinstance(units.get(names[c]), int):
            rests_on.append(counted_units(units[names[c]], unit))
        ci = cis.get(names[c])
        interval = ""
        if isinstance(ci, list) and len(ci) == 2 and "undefined" not in auc:
            used = used_per_grade.get(names[c])
            fewer = (f", from {used:,} of {n_boot:,} resamples: the rest held no {names[c]} image or only "
                     f"{names[c]} images" if isinstance(used, int) and not isinstance(used, bool)
                     and isinstance(n_boot, int) and 0 < used < n_boot else "")
            interval = f" (95% CI {format_ci(*ci, _edge_reason(ci, rests_on))}{fewer})"
        said.append(f"{head} ({', '.join(rests_on)}): {auc}{interval}")
    return [f"Out-of-fold ROC AUC per grade (the curves above): {'; '.join(said)}.", ""]


def _edge_reason(ci: Sequence[Any], rests_on: Sequence[str]) -> str | None:
    """Why a per-grade AUC's interval of width 0 at 1 (or 0) is not firm: every resample of a
    few images separates them as the whole set does, which bounds nothing (a grade of 3 images
    read "AUC 1.000 (95% CI not meaningful: every resample gives 1.000 ...)" as firm); None for
    any other interval (:func:`drac_ssl.figures.format_ci` words those). ``rests_on``: its
    images, then its resampled units (``["3 images", "2 patients"]``)."""
    value = interval_width_zero(*ci)
    if value not in (0.0, 1.0):
        return None
    units = f" ({', '.join(rests_on[1:])})" if rests_on[1:] else ""
    return (f"every resample gives {value:.3f}, and it rests on {rests_on[0]}{units}: the bootstrap "
            f"cannot show how far {'below 1' if value == 1.0 else 'above 0'} the AUC may be")


def figure_caption(stem: str, variant: str = "") -> str | None:
    """The caption of the figure ``<stem>.png`` (:data:`FIGURE_CAPTIONS`), or None for a stem
    it does not know; ``variant``: the fine-tuning variant whose ``<variant>_`` prefix the
    stem carries (``figure_caption("vicreg_roc", "vicreg")``)."""
    if variant and stem.startswith(f"{variant}_"):
        stem = stem[len(variant) + 1:]
    return FIGURE_CAPTIONS.get(stem)


def run_freeze(run_dir: Path) -> str | None:
    """``finetune.freeze`` of the run: the fine-tuning's ``model.json`` (scratch's, else any
    variant's), else ``config.yaml``; None when neither says."""
    ft = run_dir / "finetune"
    for name in ("scratch", *sorted(p.name for p in ft.glob("*") if p.is_dir())) if ft.is_dir() else ():
        model = read_json(ft / name / "model.json")
        if isinstance(model, dict) and model.get("freeze"):
            return str(model["freeze"])
    freeze = (_saved_config(run_dir).get("finetune") or {}).get("freeze")
    return str(freeze) if freeze else None


def _title(run_dir: Path, name: str) -> str:
    """The variant ``name`` for a reader (:func:`drac_ssl.grading.bundle.variant_title`):
    scratch under a frozen backbone is said to be random features under a trained head."""
    return variant_title(name, run_freeze(run_dir))


def _link(run_dir: Path, path: Path, alt: str) -> str:
    return f"![{alt}]({path.relative_to(run_dir).as_posix()})"


def _figure(run_dir: Path, path: Path, alt: str, variant: str = "", caption: str | None = None) -> list[str]:
    """A figure as its own paragraph, with its caption (``caption``, else :func:`figure_caption`) under it."""
    caption = caption if caption is not None else figure_caption(path.stem, variant)
    return [_link(run_dir, path, alt), ""] + ([f"*Figure: {caption}*", ""] if caption else [])


def pool_lines(n_pool: int, summary: Any) -> list[str]:
    """The Data section's lines of the ungraded pool (``data.unlabelled``): its count, the pool
    images ``summary`` (``ingest_summary.json``) records as near copies of test images
    (``unlabelled_near_test``), and one line per folder (``unlabelled_folders``: kept, copies
    left out, entries skipped), which an ingest of an older version did not record."""
    summary = summary if isinstance(summary, dict) else {}
    near = len(summary.get("unlabelled_near_test") or ())
    head = f"- ungraded images for pretraining and UMM only (data.unlabelled): {n_pool}"
    if near:
        head += (f"; {near} of them {'are near copies' if near != 1 else 'is a near copy'} of test "
                 "images (data.near_duplicate_mse; kept, not provably the same picture, and pretrained "
                 "on even with pretrain.use_test_images=false)")
    lines = [head]
    for folder in summary.get("unlabelled_folders") or ():
        if isinstance(folder, dict):
            lines.append(f"  - `{folder.get('dir')}`: {folder.get('kept', 0)} kept, "
                         f"{folder.get('copies', 0)} left out as copies of other images, "
                         f"{folder.get('skipped', 0)} skipped (subfolders, hidden files)")
    return lines


def _data_section(run_dir: Path) -> list[str]:
    dataset = _generic_dataset(run_dir)
    if dataset is not None:
        return _generic_data_section(run_dir, dataset)
    prov = data_provenance(run_dir / "data")
    lines = ["## Data", ""]
    if prov["kind"] == "phantom":
        marked = prov.get("phantom_marked")
        total = prov["n_train"] + prov["n_test"] + prov["n_unlabelled"]
        lines += ["> **Honest note: this run used the phantom UW-OCTA set**, procedural stand-ins "
                  "drawn by `data_prep.phantom`, not patient images. Every number below measures the "
                  "pipeline on synthetic data; none says how well it grades real diabetic retinopathy."
                  + (f" {marked} of its {total} images carry the phantom marker `data_prep.phantom` "
                     "writes into each PNG, which counts a run all of whose images carry it as phantom "
                     "wherever the images were copied." if marked else ""), ""]
    elif mixed := mixed_phantom_words(prov):  # never said as clean real data
        lines += [f"> **{mixed[0].upper()}{mixed[1:]}.** The images ingested from `{prov['root']}` "
                  f"({layout_name(prov.get('layout'))} layout) include phantom PNGs (the ingest named "
                  "each one in its warnings): every number below is measured on real and synthetic "
                  "images together, and the model learnt from both. Take them out of the data and "
                  "run again for figures of the real images alone.", ""]
    elif prov["kind"] == "drac":
        pool = pretraining_phantom_words(prov)  # phantoms only among the test / unlabelled images
        lines += [f"Images ingested from `{prov['root']}` ({layout_name(prov.get('layout'))} layout), not recognised as "
                  f"the package's phantom set (no phantom.json beside them, no {'labelled ' if pool else ''}"
                  "image with its phantom marker); whether they are the official DRAC 2022 data is the user's "
                  "statement, not checked here.", ""]
    elif prov["kind"] != "unknown":
        lines += [f"Images ingested from `{prov['root']}` ({layout_name(prov.get('layout'))} layout).", ""]
    else:
        lines += [f"Unknown: {prov.get('note')}.", ""]
    if pool := pretraining_phantom_words(prov):  # phantoms in the pretraining, not the figures
        lines += [f"> **{pool[0].upper()}{pool[1:]}.** (The ingest named each one in its warnings.) "
                  "Take them out of the data and run again for an encoder pretrained on real images "
                  "alone.", ""]
    if prov["kind"] != "unknown":
        per_grade = ", ".join(f"{k} {v}" for k, v in (prov.get("train_per_grade") or {}).items())
        facts = read_ingest_facts(run_dir / "data")
        # MedMNIST's official train + val pooled into the cross-validation: said (the manifest's origin)
        pooled = pooled_origins_words(prov, (_saved_config(run_dir).get("data") or {}).get("n_folds"))
        lines += [f"- grades ({facts.num_grades}): {describe_grades(facts.grade_names)}"
                  + ("" if facts.recorded else " (not recorded by the ingest: DRAC's scale)"),
                  f"- channels: {facts.channels} ({'RGB colour' if facts.channels == 3 else 'grey'})",
                  f"- fundus preprocessing: {fundus_preprocessing_words(facts.preprocessing, prov)}",
                  f"- training images: {prov.get('n_train')} ({pooled + '; ' if pooled else ''}{per_grade})",
                  f"- test images: {prov.get('n_test')}"]
        if prov.get("n_unlabelled"):
            lines += pool_lines(prov["n_unlabelled"], read_json(run_dir / "data" / "ingest_summary.json"))
        lines.append(f"- ingested: {prov.get('ingested_utc')}")
        lines += _ingest_warning_lines(run_dir, prov)
        lines += _small_set_lines(run_dir)
        lines += _data_changed_lines(run_dir)
        recipe = _pretrain_recipe(run_dir)
        if facts.modality == "fundus" and recipe == "octa":  # the preflight warned; the report keeps it
            lines.append("- **the pretraining used the octa augmentation recipe, made for grey UW-OCTA "
                         "scans, on these colour fundus photographs**; `pretrain.augment.recipe=fundus` "
                         "is theirs (rerun in a new run folder: `run.name=NEW run.reuse=<this run folder>` "
                         "takes its ingest)")
        if labels_made := referable_labels_words(prov):  # data.referable_from: ICDR labels made two grades
            lines.append(f"- labels: {labels_made}")
        if prov.get("n_left_out_ungradable"):  # data.ungradable=leave_out, and there were such rows
            lines.append(f"- {left_out_words(prov['n_left_out_ungradable'])}")
        if prov.get("n_left_out_missing"):  # data.missing=leave_out: rows of a partial download
            lines.append(f"- {left_out_missing_words(prov['n_left_out_missing'])}")
        gap = fold_gap_words(prov)
        if gap:  # the per-fold tables below show n/a AUCs for those folds
            lines.append(f"- {gap}")
        comparison = read_json(run_dir / "finetune" / "comparison.json")  # what its CIs resample
        grouping = fold_grouping_words(prov, comparison if isinstance(comparison, dict) else None)
        lines += [f"- {grouping}"] if grouping else []
        if not prov.get("train_sites"):  # the figures are pooled: say no subgroup was looked at
            lines.append(f"- {NO_SUBGROUP_WORDS}.")
        lines += stated_data_lines(stated_data(_saved_config(run_dir).get("data")))  # the user's words
        lines.append("")
        lines += fold_grade_lines(read_json(run_dir / "data" / "ingest_summary.json"), facts.grade_names)
    return lines


def fold_grade_lines(summary: Any, names: Sequence[str]) -> list[str]:
    """The labelled training images of each cross-validation fold by grade, from
    ``ingest_summary.json``'s ``counts.per_fold`` (``{"0": {"0": 66, "1": 43}, ...}``: fold ->
    grade -> images), as a Markdown table with a total column, then an empty line: the per-fold
    tables of each variant count images only (a CLAIM review). ``names``: the K grade names.
    [] for a summary without the counts (an ingest that did not record them) or with counts
    that are not whole numbers under fold numbers (a hand-edited file)."""
    counts = (summary.get("counts") or {}) if isinstance(summary, dict) else {}
    per_fold = counts.get("per_fold") if isinstance(counts, dict) else None
    if not isinstance(per_fold, dict) or not per_fold or not all(isinstance(v, dict) for v in per_fold.values()):
        return []
    rows = []
    try:
        ordered = sorted(per_fold.items(), key=lambda item: int(item[0]))
        table = [(fold, [int(grades.get(str(g), grades.get(g, 0)) or 0) for g in range(len(names))])
                 for fold, grades in ordered]
    except (TypeError, ValueError):
        return []
    for fold, cells in table:
        rows.append([str(fold), *(str(c) for c in cells), str(sum(cells))])
    header = ["fold", *(f"{g} {n}" for g, n in enumerate(names)), "total"]
    return ["Labelled training images per cross-validation fold and grade (the fold of each image in "
            "`data/manifest.csv`; each fold is the validation images of one fold model):", "",
            *markdown_table(header, rows)]


def _small_set_lines(run_dir: Path) -> list[str]:
    """The data section's bullet, a warning of "Read this first", when a grade has too few
    labelled images (or patients) for firm per-grade figures, or 2 folds train on half the
    images: the preflight's note before the stages (:func:`drac_ssl.preflight.small_set_words`),
    kept with the figures it qualifies (small-set review F1). None without ``finetune/``: its
    fix points to the per-grade AUC line, which only a fine-tuning writes."""
    from drac_ssl.preflight import ingest_small_set_fix, ingest_small_set_words

    if not (run_dir / "finetune").is_dir():
        return []
    words = ingest_small_set_words(run_dir / "data", of_patients=True)
    if not words:
        return []
    return [f"- **{words[:1].upper()}{words[1:]}**: {ingest_small_set_fix(run_dir / 'data')}."]


def _data_changed_lines(run_dir: Path) -> list[str]:
    """The data section's bullet, a warning of "Read this first", when the label CSV or the
    images changed since the run's ingest (:func:`data_prep.source_check.data_changed_words`:
    a grade corrected after the ingest is not in any figure of this run); [] otherwise."""
    from data_prep.source_check import data_changed_words

    words = data_changed_words(run_dir / "data")
    if not words:
        return []
    lead, _, rest = words.partition(": ")
    return [f"- **{lead[:1].upper()}{lead[1:]}**: {rest}"]


def _ingest_warning_lines(run_dir: Path, prov: dict[str, Any]) -> list[str]:
    """The data section's bullet, a warning of "Read this first", when the ingest gave
    warnings (:func:`drac_ssl.grading.bundle.data_provenance`'s ``ingest_warnings``): how
    many, and the files that list them (``data/ingest_summary.json``, and
    ``data/ingest_problems.txt`` when one is there); [] without warnings."""
    from data_prep.problems import counted

    n = prov.get("ingest_warnings")
    if not isinstance(n, int) or n <= 0:
        return []
    problems = "ingest_problems.txt"  # data_prep.ingest.PROBLEMS_NAME (a stage: not imported here)
    listed = "`data/ingest_summary.json`" + (f" and `data/{problems}`"
                                             if (run_dir / "data" / problems).is_file() else "")
    return [f"- **The ingest gave {counted(n, 'warning')}, listed in {listed}**: each names its file "
            f"and what to do (the summary's `warnings`, counted by kind in `findings_by_kind`); "
            f"read them before the figures below"]


def _pretrain_recipe(run_dir: Path) -> str | None:
    """``pretrain.augment.recipe`` of the run's ``config.yaml`` when a pretraining ran (None:
    no pretraining, or not readable)."""
    if not (run_dir / "pretrain").is_dir():
        return None
    try:
        return str(_saved_config(run_dir)["pretrain"]["augment"]["recipe"])
    except (KeyError, TypeError):
        return None


def _removed_words(removed: dict[str, Any]) -> str:
    """One removed checkpoint folder of ``stages.json`` (``checkpoints_removed``): where it was
    removed (``in``: the run it was taken from by ``run.reuse``; absent: here) and the MiB
    freed, with those that were hard links another run folder keeps."""
    shared = removed.get("hard_linked_mib")
    return (f"`{removed.get('folder')}/` ({figure_text(removed.get('mib'), 1)} MiB freed"
            + (f"; {figure_text(shared, 1)} MiB more were hard links another run folder still holds"
               if shared else "")
            + (f"; removed in `{removed['in']}`, where it was taken from" if removed.get("in") else "")
            + ")")


def _epochs(n: Any) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


GENERIC_WORDS = GENERIC_DATASET_WORDS
"""The generic data sets' names and what their images show, for a reader
(:data:`drac_ssl.datasets.GENERIC_DATASET_WORDS`)."""


def _saved_config(run_dir: Path) -> dict[str, Any]:
    """The run's ``config.yaml`` as a nested dict ({} when missing or unreadable:
    :func:`drac_ssl.config.read_saved_config`)."""
    return read_saved_config(run_dir)


def run_keep(run_dir: Path, metrics: dict[str, Any] | None = None) -> str | None:
    """The run's ``finetune.keep`` (``best``, ``last`` or ``inner``): a variant's ``metrics``
    (``metrics.json``) keep where it records one, else its ``config.yaml``'s:
    :func:`drac_ssl.config.variant_keep` (``best`` for a run made before the setting existed).
    None without a readable ``config.yaml`` (nor a recorded ``metrics["keep"]``)."""
    return variant_keep(_saved_config(run_dir) or None, metrics)


_FIGURES_DOC = "docs/data.md#which-run-measured-which-figure"
"""Where the repository says which committed run measured which published figure."""


def _published_figure_words(dataset: str) -> str:
    """What the repository says of a generic data set's published figures, for a reader: none is
    cited for Fashion-MNIST; MNIST and CIFAR-10 have reference figures, none comparable to a
    committed run (:data:`_FIGURES_DOC` says which run measured which). It said "a generic data set
    with published figures" for all three, Fashion-MNIST included."""
    if dataset == "fashion_mnist":
        return "a generic data set for which no published figure is cited"
    return f"a generic data set with reference figures, none comparable ({_FIGURES_DOC})"


def _generic_dataset(run_dir: Path) -> str | None:
    """``data.dataset`` of a run on a generic data set (MNIST, Fashion-MNIST, CIFAR-10: read
    by the pretraining, no ingest, no grades), None for an ingested folder (``drac``)."""
    dataset = (_saved_config(run_dir).get("data") or {}).get("dataset")
    return str(dataset) if dataset in GENERIC_WORDS else None


def _planned_stages(run_dir: Path, cfg: dict[str, Any]) -> set[str]:
    """The stages the run asked for (``run.stages``) or recorded (``stages.json``)."""
    stages = read_stages_record(run_dir)
    return set((cfg.get("run") or {}).get("stages") or []) | set(stages)


def _generic_data_section(run_dir: Path, dataset: str) -> list[str]:
    """What a generic data set's run read: its splits as the pretraining recorded them
    (``pretrain/metadata.json`` ``splits``; the training count from its ``training_data``
    for a run made before), the images and their normalisation."""
    from drac_ssl.preflight import GENERIC_DATASET_SIZES as sizes

    name, shows = GENERIC_WORDS[dataset]
    cfg = _saved_config(run_dir)
    meta = read_json(run_dir / "pretrain" / "metadata.json")
    meta = meta if isinstance(meta, dict) else {}
    splits = meta.get("splits") if isinstance(meta.get("splits"), dict) else {}
    if "train" not in splits and (seen := re.search(r"\((\d+) images\)", str(meta.get("training_data") or ""))):
        splits = {**splits, "train": int(seen.group(1))}
    knn_every = (cfg.get("pretrain") or {}).get("knn_every")
    lines = ["## Data", "",
             f"{name} ({shows}), read from `{(cfg.get('data') or {}).get('root')}` by the pretraining "
             f"(data.dataset={dataset}: {_published_figure_words(dataset)}, to check the "
             f"self-supervised code apart from retinal images; no ingest, no grades).", ""]
    if not meta:
        return lines + ["Not read yet: no `pretrain/metadata.json` (the pretraining did not finish).", ""]
    train = splits.get("train")
    lines.append(f"- training split: {'not recorded' if train is None else f'{train} images'} "
                 f"(what the pretraining learnt from, without labels)")
    scope = meta.get("knn_monitor") if isinstance(meta.get("knn_monitor"), dict) else {}
    if "test" in splits:
        scored = scope.get("test_images")
        cut = (f"; the monitor scored {scored} of them, pretrain.knn_limit="
               f"{(cfg.get('pretrain') or {}).get('knn_limit')}"
               if isinstance(scored, int) and scored < splits["test"] else "")
        lines.append(f"- test split: {splits['test']} images (the k-NN monitor's{cut})")
    elif knn_every:
        lines.append("- test split: not recorded (a run made before the split sizes were)")
    else:
        lines.append("- test split: not read (pretrain.knn_every=0: no k-NN monitor)")
    side, channels = sizes[dataset][1], (meta.get("input") or {}).get("channels") or sizes[dataset][2]
    lines.append(f"- images: {side} px, {channels} channel(s) ({'RGB colour' if channels == 3 else 'grey'})")
    norm = (meta.get("input") or {}).get("normalization") or {}
    if norm:
        lines.append("- normalised with " + " ".join(
            f"{k} [{', '.join(f'{float(v):g}' for v in norm.get(k, []))}]" for k in ("mean", "std"))
            + " (`pretrain/metadata.json`)")
    return lines + [""]


def _saved_config_problem(run_dir: Path) -> str:
    """What is wrong with the run's ``config.yaml`` as :func:`drac_ssl.config.read_saved_config`
    (``strict``) says it: the file, the line where known, what and the fix (a damaged file), or
    :func:`drac_ssl.io.unreadable_words` (a file this account cannot read); '' when it reads
    (or there is none)."""
    try:
        read_saved_config(run_dir, strict=True)
    except ConfigError as exc:
        return str(exc)
    except OSError as exc:
        return unreadable_words(exc, run_dir / "config.yaml", "the run's saved configuration")
    return ""


def _config_section(run_dir: Path) -> list[str]:
    cfg = _saved_config(run_dir)
    if not cfg:
        if problem := _saved_config_problem(run_dir):  # the figures do not come from it: said, not refused
            return ["## Configuration", "", "The run's `config.yaml` cannot be read, so its settings are not "
                    "shown here (the figures and records below do not come from it):", "", "```", problem,
                    "```", ""]
        return ["## Configuration", "", "No readable `config.yaml` in the run folder.", ""]
    pc, uc = cfg.get("pretrain", {}), cfg.get("umm", {})
    # older runs: the defaults they used (finetune.keep: best, before the setting existed)
    fc = {**to_dict(FinetuneConfig()), **with_former_defaults(cfg).get("finetune", {})}
    keep_words = ("each fold's last epoch kept (keep last)" if fc.get("keep") == "last" else
                  f"best inner-split-kappa epoch kept (keep inner: {fc.get('inner_fraction')} of each fold's "
                  f"training images held out to choose it, patience {fc.get('patience')})"
                  if fc.get("keep") == "inner" else
                  f"best validation-kappa epoch kept (keep best, patience {fc.get('patience')})")
    width_key = HEAD_WIDTH_SETTINGS.get(str(fc.get("head")))
    width = fc.get(width_key) if width_key else None
    width = f", head width {width}" if width is not None else ""
    views = f", {fc.get('frozen_train_views')} precomputed views" if fc.get("freeze") == "frozen" else ""
    aug, bb = pc.get("augment", {}), pc.get("backbone", {})
    pool = pool_size(run_dir)
    generic = _generic_dataset(run_dir)
    if generic is not None:  # read whole by the pretraining: no folds, no cache
        from drac_ssl.preflight import GENERIC_DATASET_SIZES as sizes

        data_words = f"{_dataset_words(cfg, run_dir)}, root `{cfg.get('data', {}).get('root')}`"
        source = f"{sizes[generic][1]} px images"
    else:
        data_words = (f"{_dataset_words(cfg, run_dir)}, root `{cfg.get('data', {}).get('root') or '(phantom)'}`, "
                      f"{cfg.get('data', {}).get('n_folds')} folds")
        source = f"{aug.get('source_size')} px cache"
    rows = [
        ["data", data_words],
        ["backbone", f"{bb.get('arch')}, "
                     f"{bb.get('in_channels') or read_ingest_facts(run_dir / 'data').channels} channel(s)"
                     f"{' (the data' + chr(39) + 's)' if not bb.get('in_channels') else ''}, "
                     f"{'CIFAR stem (3x3 conv, no max-pool)' if bb.get('cifar_stem') else 'ImageNet stem'}"
                     f"{', stem stride ' + str(bb.get('stem_stride')) if bb.get('stem_stride', 1) != 1 else ''}"],
        ["pretrain", f"{PRETRAIN_METHOD} {_epochs(pc.get('epochs'))}, batch {pc.get('batch_size')}, "
                     f"{pc.get('optimizer')} lr "
                     f"{pc.get('lr')}, expander {pc.get('expander')}, {aug.get('image_size')} px crops of the "
                     f"{source}"
                     + (f", the {aug['recipe']} augmentation recipe" if aug.get("recipe") else "")
                     + (f", {cap}" if (cap := cap_words("pretrain", pc, pool)) else "")],
        ["umm", f"on, early cut {uc.get('early_cut')}, {_epochs(uc.get('epochs'))}, batch {uc.get('batch_size')}"
                + (f", {cap}" if (cap := cap_words("umm", uc, pool)) else "") if uc.get("enabled")
         else "off (umm.enabled=false)"],
        ["finetune", f"head {fc.get('head')}, {freeze_words(fc.get('freeze'))}, {_epochs(fc.get('epochs'))}, batch "
                     f"{fc.get('batch_size')}, lr {fc.get('lr')} (backbone x{fc.get('backbone_lr_ratio')}), "
                     f"class balance {fc.get('class_balance')}, {keep_words}, {fc.get('image_size')} px, "
                     f"crop scale {fc.get('crop_scale')}, TTA {'on' if fc.get('tta') else 'off'}{width}{views}, class "
                     f"decision {fc.get('decision')}{_referral_setting_words(fc)}, kappa 95% CI from {fc.get('n_boot')} bootstrap "
                     f"resamples"
                     + (f", head alone for the first {fc.get('head_warmup_epochs')} epochs (LP-FT)"
                        if fc.get("head_warmup_epochs") else "")
                     + (f", **label fraction {fc.get('label_fraction'):g}: each fold drew a "
                        f"grade-stratified sample of its training images and trained on it less its "
                        f"inner split** (the fold table's train and inner columns)"
                        if (fc.get("label_fraction") or 1) < 1 and fc.get("keep") == "inner" else
                        f", **label fraction {fc.get('label_fraction'):g}: each fold trained on a "
                        f"grade-stratified draw of its training images** (the fold table's train column)"
                        if (fc.get("label_fraction") or 1) < 1 else "")],
        ["seeds", _seed_words(cfg)],
        ["stages", ", ".join(cfg.get("run", {}).get("stages", []))],
    ]
    planned = _planned_stages(run_dir, cfg)
    # the settings of a stage the run neither asked for nor ran describe nothing that happened
    rows = [row for row in rows if row[0] not in ("umm", "finetune") or row[0] in planned
            or (run_dir / row[0]).is_dir()]
    return ["## Configuration", "", *_first_try_lines(run_dir),
            "Resolved settings in `config.yaml`; the essentials:", "",
            *markdown_table(["part", "settings"], rows)]


def _seed_words(cfg: dict[str, Any]) -> str:
    """The configuration table's seeds: ``run.seed 0, data.fold_seed 0`` and, when set (not
    -1, its default: ``run.seed``'s), ``finetune.seed``, even to run.seed's value; "not
    recorded" for a seed its ``config.yaml`` lacks
    (a CLAIM review: neither seed was in report.md)."""
    def said(part: str, key: str) -> str:
        value = (cfg.get(part) or {}).get(key)
        return f"{part}.{key} {value if isinstance(value, int) and not isinstance(value, bool) else 'not recorded'}"

    own = (cfg.get("finetune") or {}).get("seed")
    return (f"{said('run', 'seed')}, {said('data', 'fold_seed')}"
            + (f", {said('finetune', 'seed')}" if isinstance(own, int) and own != -1 else ""))


def _first_try_lines(run_dir: Path) -> list[str]:
    """The configuration section's paragraph on a run made with ``--first-try``
    (:func:`drac_ssl.trial_run.standing_first_try`: its ``config.yaml`` still holds what that
    option set): the settings it applied, those the command line typed in their place and the
    sizes it left at the config's own, no larger, and those an ingest it did not rerun kept at
    its own values; [] for another run, a full run in a folder
    an earlier ``--first-try`` stopped in too (review F2)."""
    record = standing_first_try(run_dir)
    if record is None:
        return []
    applied = " ".join(f"`{w}`" for w in record.get("applied") or []) or "none of its settings"
    replaced = " ".join(f"`{w}`" for w in record.get("replaced") or [])
    kept = " ".join(f"`{w}`" for w in record.get("kept") or [])
    unapplied = " ".join(f"`{w}`" for w in record.get("not_applied") or [])
    return [f"Made with `{FIRST_TRY_OPTION}`, the tiny first try (its figures mean nothing): it applied "
            f"{applied}" + (f"; typed in place of its own: {replaced}" if replaced else "")
            + (f"; the config's own {kept} kept (no larger than its: a first try never enlarges an image)"
               if kept else "")
            + (f"; not applied: {unapplied} (the run did not run its ingest again: the ingest's own "
               f"values are used, as config.yaml records)" if unapplied else "") + ".", ""]


def _earlier_attempts(entry: dict[str, Any]) -> str:
    """A ``stages.json`` entry's earlier attempts for the stage table: ``64.5 (2)``, with
    killed ones ``95.3 (2; 1 killed)``, and ``52.0 + unknown (2; 1 killed)`` where a killed
    attempt's time is not known (drac_ssl.train's ``killed_attempts`` and ``untimed_attempts``);
    "" for a first attempt (``attempts`` 1: its entry carries ``seconds_earlier_attempts`` 0 from
    its start, e.g. one killed, running or interrupted), not ``0.0 (0)``."""
    killed, untimed = int(entry.get("killed_attempts") or 0), int(entry.get("untimed_attempts") or 0)
    if int(entry.get("attempts", 1)) <= 1 and not untimed:
        return ""
    return (f"{figure_text(entry.get('seconds_earlier_attempts'), 1)}" + (" + unknown" if untimed else "")
            + f" ({int(entry.get('attempts', 1)) - 1}" + (f"; {killed} killed" if killed else "") + ")")


def _killed_left(entry: dict[str, Any]) -> bool:
    """Whether a ``stages.json`` entry records what its last killed attempt saved
    (``killed_left``: ``what`` and ``then``, drac_ssl.train's words at the next start)."""
    left = entry.get("killed_left")
    return isinstance(left, dict) and all(isinstance(left.get(k), str) for k in ("what", "then"))


def _killed_seconds(seconds: float | None) -> str:
    """The stage table's seconds of a stage killed without a word (its ``stages.json`` entry
    left ``running``), ``seconds`` as far as the last line its training printed tells
    (:func:`drac_ssl.run_state.killed_attempt_seconds`), else ``unknown``."""
    return "unknown" if seconds is None else f"{figure_text(seconds, 1)} (to the last line it printed)"


def _stages_section(run_dir: Path) -> list[str]:
    stages, damage = stages_record_and_damage(run_dir)  # one read for both
    lines = ["## Stage wall times", ""]
    if damage is not None:
        return lines + [f"`stages.json` is damaged ({damage}): the stages' times cannot be read. To go on: "
                        f"{stages_damaged_fix(run_dir, in_file=True)}.", ""]
    if not stages:
        return lines + ["No `stages.json` (the stages were not run by the orchestrator).", ""]
    # an entry still "running" (written as its attempt started) is a training running now or
    # one killed without a word: run_state tells which
    live = ({st.stage: st.status for st in stage_states(run_dir, check_lock=False)}
            if any(isinstance(s, dict) and s.get("status") == "running" for s in stages.values()) else {})
    # a "running" entry of a stage the run's pipeline no longer lists (a rerun with other
    # run.stages) is no training's stage now: killed (this report is written holding the lock)
    seen = killed_training_seen(run_dir) if live else None
    killed_now = {name: killed_attempt_seconds(s, seen) for name, s in stages.items()
              if s.get("status") == "running" and not s.get("reused_from") and live.get(name, "killed") == "killed"}
    rows = [[name, "taken (`run.reuse`)" if s.get("reused_from") else
             live.get(name, "killed") if s.get("status") == "running" else s.get("status"),
             f"{figure_text(s.get('seconds'), 1)} ({figure_text(s.get('seconds_in_source'), 1)} there)"
             if s.get("reused_from") else _killed_seconds(killed_now[name]) if name in killed_now
             else figure_text(s.get("seconds"), 1) if s.get("status") != "running" else "",
             _earlier_attempts(s) if s.get("seconds_earlier_attempts") is not None else "",
             s.get("finished_utc") or s.get("stopped_utc") or ""] for name, s in stages.items()]
    # the total counts a killed stage's time as far as known, as an interrupted stage's is counted
    total = (sum(float(s.get("seconds") or 0) for s in stages.values())
             + sum(v for v in killed_now.values() if v is not None))
    earlier = sum(float(s.get("seconds_earlier_attempts") or 0) for s in stages.values())
    untimed = sum(int(s.get("untimed_attempts") or 0) for s in stages.values())
    rows.append(["**total**", "", figure_text(total, 1) + (" + unknown" if None in killed_now.values() else ""),
                 figure_text(earlier, 1) + (" + unknown" if untimed else "") if earlier or untimed else "", ""])
    lines += markdown_table(["stage", "status", "seconds", "earlier attempts: seconds (how many)", "finished (UTC)"], rows)
    killed = sum(int(s.get("killed_attempts") or 0) for s in stages.values())
    if earlier or untimed:
        lines += ["", f"The run was resumed: {earlier:.1f} s" + (" and an unknown time" if untimed else "")
                      + (" went into attempts that were interrupted or failed" if not killed else
                         f" went into attempts that were interrupted, failed or killed ({killed} killed "
                         f"without a word, by kill -9 or for want of memory: each timed to the last line "
                         f"it printed, where that is known)")
                      + " (what they had saved, e.g. checkpoints and folds, was reused; a stage "
                        "that stopped before saving anything, such as an ingest refused for a problem in "
                        "the data, was run again from the start)."
                      + "".join(f" {name}: its killed attempt left {s['killed_left']['what']}; the next "
                                f"attempt {s['killed_left']['then']}." for name, s in stages.items()
                                if isinstance(s, dict) and _killed_left(s))]
    ingest = stages.get("ingest") if isinstance(stages.get("ingest"), dict) else {}
    phantom = (ingest.get("outputs") or {}).get("phantom_seconds") if isinstance(ingest.get("outputs"), dict) else None
    summary = read_json(run_dir / "data" / "ingest_summary.json")
    own = summary.get("seconds") if isinstance(summary, dict) else None
    if isinstance(phantom, int | float) and phantom >= 1 and not ingest.get("reused_from"):
        lines += ["", f"{phantom:.1f} s of the ingest stage went into generating the phantom data "
                      f"(`data.root` empty, first use of the set), not into the ingest itself"
                  + (f" ({figure_text(own, 1)} s, `data/ingest_summary.json`)" if own is not None else "") + "."]
    elif (phantom is None and isinstance(own, int | float) and isinstance(ingest.get("seconds"), int | float)
          and ingest["seconds"] > own + 5 and not ingest.get("reused_from")  # a run made before it was recorded
          and data_provenance(run_dir / "data")["kind"] == "phantom"):  # last: it reads the manifest again
        lines += ["", f"The ingest itself took {own:.1f} s (`data/ingest_summary.json`); the rest of the "
                      f"ingest stage's time was most likely spent generating the phantom data (first "
                      f"use of the set), which this run did not record apart."]
    taken = {name: s for name, s in stages.items() if isinstance(s, dict) and s.get("reused_from")}
    if taken:
        sources = sorted({str(s["reused_from"]) for s in taken.values()})
        refolded = {name: s["other_folds"] for name, s in taken.items() if isinstance(s.get("other_folds"), dict)}
        same = "the same settings but the folds" if refolded else "the same settings"
        lines += ["", f"Taken from another run folder with {same} (`run.reuse`), not run here: "
                      + ", ".join(f"{name} ({figure_text(s.get('seconds_in_source'), 1)} s there)"
                                  for name, s in taken.items())
                      + f"; from `{'`, `'.join(sources)}` (hard links, or copies across file systems)."]
        if refolded:
            later = [noun for stage, noun in (("finetune", "fine-tuning"), ("export", "export"))
                     if isinstance(stages.get(stage), dict) and stages[stage].get("status") == "done"
                     and not stages[stage].get("reused_from")]
            lines += ["", _other_folds_words(refolded, taken, later)]
    removed = {name: s for name, s in stages.items()
               if isinstance(s, dict) and isinstance(s.get("checkpoints_removed"), dict)}
    if removed:
        lines += ["", "Checkpoints removed after the run finished (`run.keep_checkpoints=false`): "
                      + ", ".join(_removed_words(s["checkpoints_removed"]) for s in removed.values())
                      + ". Nothing the report, the bundle or a resume reads is lost; a UMM with "
                        "`umm.start_from=last|peak|past_peak` cannot start from this pretraining."]
    comparison = read_json(run_dir / "finetune" / "comparison.json")
    variants = [r.get("variant") for r in (comparison or {}).get("rows", []) if isinstance(r, dict)] \
        if isinstance(comparison, dict) else []
    for mixed in (mixed_code_words(run_dir), mixed_build_words(run_dir), mixed_threads_words(run_dir)):
        if mixed:
            lines += ["", mixed]
    for words in folds_taken_words(run_dir, [v for v in variants if isinstance(v, str)]):
        lines += ["", f"**Not trained here:** {words[0].upper()}{words[1:]}."]
    return lines


def _other_folds_words(refolded: dict[str, dict[str, Any]], taken: dict[str, dict[str, Any]],
                       later: list[str]) -> str:
    """What report.md says of the stages ``run.reuse`` took from a run with other folds
    (``refolded``: their ``stages.json`` ``other_folds``, by stage; ``taken``: their whole
    entries, whose ``reused_from`` names the run that made them, the first of a chain):
    where from, which fold settings differed, that they read no grade and saw this run's
    images, whether their recorded figures read the folds (the k-NN monitor's: then measured
    on the other run's), and which of this run's stages (``later``: "fine-tuning", "export")
    used this run's folds."""
    first = next(iter(refolded.values()))
    origin = first.get("ingest_of")
    entry = taken.get(next(iter(refolded)), {})
    made = entry.get("reused_from") or origin
    via = f" (taken via `{origin}`)" if made != origin else ""
    settings = "; ".join(str(s) for s in first.get("settings") or [])
    images = str(first.get("images") or "")
    checked = (f"checked: {images.removeprefix('the same: ')}" if images.startswith("the same")
               else "not checked yet: the ingest has not run")
    figures = [f for entry in refolded.values() for f in entry.get("fold_figures") or []]
    measured = next((e.get("figures_from") for e in refolded.values() if e.get("fold_figures")), None) or origin
    said = (f"Their k-NN monitor figures ({', '.join(figures)}: in the pretraining section below, "
            f"`pretrain/metrics.csv`, `pretrain/metadata.json` and the plots) were measured on `{measured}`'s "
            f"folds (fold 0 against the others), not this run's." if figures else
            "They recorded no figure that reads the folds (`pretrain.knn_every=0`).")
    used = (f"the {' and '.join(later)} used this run's folds" if later else
            "no fine-tuning or export has run here on this run's folds yet")
    return (f"**Taken with other folds:** {', '.join(refolded)} come from `{made}`{via}, whose ingest differed "
            f"from this run's only in the folds ({settings or 'none left: the same fold settings'}). They read "
            f"no grade and learnt from the images this run's ingest holds ({checked}), so they are what this "
            f"run would have made with the same settings, code and device (another device or library "
            f"version rounds differently); {used}. {said}")


def _not_done(run_dir: Path, stage: str, missing: str) -> str:
    """What a section says of a stage whose output (``missing``) is not there: ``Not run``,
    or, where ``stages.json`` says so, that it was interrupted (with what it saved), failed or
    killed (:func:`drac_ssl.run_state.stage_states`; the lock is not looked at: a training
    holding it writes this report itself)."""
    state = next((s for s in stage_states(run_dir, check_lock=False) if s.stage == stage), None)
    if state is None or state.status in ("not run", "done"):
        return f"Not run (no `{missing}`)."
    return (f"{state.status.capitalize()}" + (f" ({state.detail})" if state.detail else "")
            + f"; no `{missing}` yet: rerun the same command to finish it (\"Read this first\" gives it).")


def _unfinished_item(run_dir: Path) -> str:
    """"Read this first"'s item on a run any stage of whose pipeline (``run.stages``) is not
    done: each such stage and its state, and the run's own command that finishes it
    (:func:`drac_ssl.run_state.resume_command_and_note`, with its note on a ``-c`` word that
    now reads another file than the run did); "" when every one is done, or the run has no
    records of ``python -m drac_ssl.train``. A damaged ``stages.json`` says so instead: its
    stages would read as not run, and the same command refuses the folder until its ``stages.json``
    is deleted (the run's outputs stay)."""
    if not is_run_folder(run_dir):
        return ""
    if (damage := stages_record_damage(run_dir)) is not None:
        return (f"`stages.json` is damaged ({damage}): which stages finished cannot be read, and the "
                f"training refuses the folder until its `stages.json` is deleted (the run's outputs stay); "
                f"\"Stage wall times\" below says how to go on")
    open_ = unfinished(run_dir, check_lock=False)
    if not open_:
        return ""
    command, note = resume_command_and_note(run_dir, always_cd=True)
    return (f"Unfinished: {'; '.join(s.words() for s in open_)}; rerun the same command to "
            f"finish: `{command}`" + (f" ({note})" if note else ""))


def _ssl_section(run_dir: Path) -> list[str]:
    lines = ["## Self-supervised pretraining", ""]
    stages = tuple(SSL_STAGE_TITLES.items())  # (("pretrain", PRETRAIN_METHOD), ("umm", "UMM"))
    if _generic_dataset(run_dir) is not None and not (run_dir / "umm").is_dir():
        stages = stages[:1]  # a generic data set's run: pretraining only (see the closing line)
    for stage, title in stages:
        folder = run_dir / stage
        meta = read_json(folder / "metadata.json")
        pngs = sorted((folder / "plots").glob("*.png")) if (folder / "plots").is_dir() else []
        if meta is None and not pngs:
            lines += [f"### {title}", "", _not_done(run_dir, stage, f"{stage}/metadata.json"), ""]
            continue
        lines += [f"### {title}", ""]
        if isinstance(meta, dict):
            metrics = ", ".join(f"{k} {figure_text(v, 4)}" for k, v in (meta.get("metrics") or {}).items())
            settings = ((meta.get("config") or {}).get(stage) or {}) if isinstance(meta.get("config"), dict) else {}
            cap = cap_words(stage, settings, pool_size(run_dir))
            lines += [f"Kept: epoch {int(meta.get('best_epoch', -1)) + 1} of {meta.get('epochs_run')}"
                      f"{' (' + cap + ')' if cap else ''}, "
                      f"{_kept_rule(stage, meta)} ({meta.get('stopped', '')}); its {metrics}.", ""]
            lines += _collapse_warning(meta, stage)
            status = read_stages_record(run_dir)
            entry = status.get(stage)
            other = entry.get("other_folds") if isinstance(entry, dict) else None
            if isinstance(other, dict) and other.get("fold_figures"):
                shown = [k for k in (meta.get("metrics") or {}) if k in other["fold_figures"]] or other["fold_figures"]
                lines += [f"> Taken by `run.reuse` from a run with other folds: its k-NN figures "
                          f"({', '.join(shown)}) were measured on the folds of "
                          f"`{other.get('figures_from') or other.get('ingest_of')}` "
                          f"(fold 0 against the others), not this run's: read them as that run's.", ""]
            seen = str(meta.get("training_data") or "")
            if seen:
                test_note = (" **The test images were among them** (transductive: their pixels, never "
                             "a grade; `pretrain.use_test_images=false` leaves them out)."
                             if "and test images" in seen else "")  # load_pretrain_data's words, old and new
                lines += [f"Images it learnt from, without labels: {seen.split(', ingest at')[0]}.{test_note}", ""]
            if stage == "umm" and isinstance(meta.get("umm"), dict):
                lines += [_umm_line(meta["umm"], settings), ""]
        history = pretrain_history(run_dir) if stage == "pretrain" else []
        for p in pngs:
            lines += _figure(run_dir, p, figure_alt(p.stem, title))
            reading = pretrain_curve_words(p.stem, history, meta) if history and isinstance(meta, dict) else None
            if reading:  # what the caption's rule means for this run's curve
                lines += [reading, ""]
    return lines


def _per_epoch(history: Sequence[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    """``(epoch counted from 1, value)`` of ``key`` in each epoch of ``history`` that has a
    finite one, in epoch order."""
    out = []
    for i, row in enumerate(history):
        value = finite_number(row.get(key))
        epoch = row.get("epoch", i)
        if value is not None:
            out.append((int(epoch) + 1 if isinstance(epoch, int) else i + 1, value))
    return out


KAPPA_YLIM = (-1.05, 1.05)
"""The per-fold QWK figure's one y range: kappa's -1..1 (ticks -1 to 1) with room for a dot at
1.0 or -1.0, which a range of exactly -1..1 cut in half (a review)."""
LISTED_EPOCHS = 8
"""A curve of more epochs than this is said by its first, highest and last values only
(:func:`_values_words`), not value by value."""
SHORT_RUN_EPOCHS = 10
"""A pretraining of fewer epochs than this is called a short run (:func:`pretrain_curve_words`)."""


def _value_words(value: float, digits: int) -> str:
    """``4.71`` (``digits`` decimals), or, for a value under ``10**(1 - digits)`` that those
    decimals would round to nothing, ``digits`` significant digits: ``0.0015``, not ``0.00``."""
    if value == 0 or abs(value) >= 10.0 ** (1 - digits):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}g}"


def _values_words(points: Sequence[tuple[int, float]], digits: int) -> str:
    """``4.71 -> 4.41 -> 3.87 (epochs 1 to 3)``: a curve's values in order, with its epochs
    (:func:`_value_words`); of more than :data:`LISTED_EPOCHS` epochs, its first, highest and
    last only: ``4.71 at epoch 1 -> 5.20 at epoch 40 (its highest) -> 4.90 at epoch 100 (100
    epochs recorded)``."""
    first, last = points[0][0], points[-1][0]
    if len(points) > LISTED_EPOCHS:
        peak = max(range(len(points)), key=lambda i: points[i][1])  # the first of equal highs
        return " -> ".join(
            f"{_value_words(points[i][1], digits)} at epoch {points[i][0]}"
            + (" (its highest)" if i == peak else "")
            for i in sorted({0, peak, len(points) - 1})) + f" ({len(points)} epochs recorded)"
    return (" -> ".join(_value_words(v, digits) for _, v in points)
            + (f" (epochs {first} to {last})" if last - first == len(points) - 1
               else f" (epochs {', '.join(str(e) for e, _ in points)})"))


FULL_SIZE_PX = 224
"""The recipes' crop size (``configs/drac.yaml``, ``configs/fundus.yaml``): a run below it is
said to be at a small size (:func:`_short_run_words`)."""


def _short_run_words(meta: dict[str, Any], epochs: int) -> str:
    """``A short run at small size (3 epochs on 64 px crops)``: how long and at what size the
    pretraining ran, from its ``metadata.json``; "at small size" only for crops below
    :data:`FULL_SIZE_PX` (a review: a 5-epoch run at 224 px was called small), the crop size
    left out when the metadata records none."""
    augment = (((meta.get("config") or {}).get("pretrain") or {}).get("augment") or {})
    size = augment.get("image_size") if isinstance(augment, dict) else None
    known = isinstance(size, int) and not isinstance(size, bool)
    small = " at small size" if known and size < FULL_SIZE_PX else ""
    return f"A short run{small} ({epochs} epoch{'s' if epochs != 1 else ''}" + (
        f" on {size} px crops)" if known else ")")


def _features_worth_words(meta: dict[str, Any]) -> str:
    """What measures the features instead of the rate-reduction curve: the fine-tuning below
    (the pretraining method, :data:`drac_ssl.PRETRAIN_METHOD`, against scratch) for a retinal
    run; for a generic data set (``data.dataset`` mnist, fashion_mnist, cifar10), which is never
    fine-tuned here, the k-NN monitor read against the starting backbone's figure, when it ran, and the bench named at the end of the report."""
    dataset = ((meta.get("config") or {}).get("data") or {}).get("dataset")
    if dataset in (None, "drac"):
        return ("What the features are worth is measured by the fine-tuning below "
                f"({PRETRAIN_METHOD} against scratch), not by this curve.")
    knn = finite_knn_figure(meta.get("knn_start_top1"))
    return ("What the features are worth is measured, not by this curve, by "
            + ("the k-NN monitor in the same figure, read against its dashed line (the starting backbone's "
               "figure; the end of this report compares the two), and " if knn else "")
            + f"the bench the end of this report names (data.dataset={dataset}: no fine-tuning in this run).")


def pretrain_curve_words(stem: str, history: Sequence[dict[str, Any]], meta: dict[str, Any]) -> str | None:
    """What this run's curve in the pretraining figure ``<stem>.png`` shows against its caption's
    rule (:data:`FIGURE_CAPTIONS`), in numbers, so that a reader does not take a rule the curve
    seems to break for a failed run: None for other figures and for fewer than two epochs.

    ``history``: ``pretrain/metrics.jsonl``'s epochs (:func:`pretrain_history`); ``meta``:
    ``pretrain/metadata.json`` (its ``metrics``, the kept epoch's, are what
    :func:`drac_ssl.collapse.collapse_symptoms` reads; its ``config`` gives ``gamma`` and the
    crop size).

    - ``pretrain_monitors``: the probe's last-layer rate reduction (``rate_reduction_last``,
      else the training batches' ``rate_reduction``) per epoch; where it peaked (methods.md:
      the monitor peaks where the model starts to memorise), against the collapse check's
      :data:`drac_ssl.collapse.COLLAPSE_RATE_REDUCTION`;
    - ``pretrain_loss``: whether the loss still fell at the last epoch, and the variance term
      per epoch against :data:`drac_ssl.collapse.COLLAPSE_VARIANCE_SHARE` x ``gamma``, with
      the mean capped standard deviation it implies (``gamma`` minus the term).

    Never more than the values show: a peak in a run of a few epochs is said as what the run
    measured, and the worth of the features is left to the fine-tuning's comparison (a generic
    data set's run: to the k-NN monitor against the starting backbone and the bench,
    :func:`_features_worth_words`)."""
    metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    seen = collapse_symptoms(metrics, gamma=recorded_gamma(meta))
    check = ("the collapse check (`drac_ssl/collapse.py`, on the kept epoch's monitors) "
             + ("flagged this run: see the warning above" if seen else "found no symptom"))
    if stem == "pretrain_monitors":
        key, what = "rate_reduction_last", "the probe's last-layer rate reduction"
        points = _per_epoch(history, key)
        if not points:
            key, what = "rate_reduction", "the training batches' rate reduction"
            points = _per_epoch(history, key)
        if len(points) < 2:
            return None
        values = [v for _, v in points]
        peak = max(range(len(values)), key=lambda i: values[i])  # the first of equal highs
        low = min(values)
        # under the collapse threshold, or flagged: no reading of a peak as memorising
        collapsed = low < COLLAPSE_RATE_REDUCTION or bool(seen)
        said = f"This run: {what} was {_values_words(points, 2)}"
        if max(values) == min(values):
            said += "; flat: no peak to place"
        elif values[-1] >= values[peak]:
            said += "; still at its highest at the last epoch: not past its peak (more epochs may show one)"
        elif peak == 0:
            falling = all(b < a for a, b in zip(values, values[1:], strict=False))
            said += f"; it {'fell every epoch' if falling else 'was highest at its first epoch'}"
            if not collapsed:
                said += (": its highest value is the first epoch's, so the rise the caption describes was not "
                         "measured, and by methods.md's reading the monitor is past its peak from then (where "
                         "the model begins to memorise)")
                if len(history) < SHORT_RUN_EPOCHS:
                    said += (f". {_short_run_words(meta, len(history))} may show "
                             f"this: its few points place a peak no more finely than an epoch")
        else:
            said += (f"; it peaked at epoch {points[peak][0]} ({_value_words(values[peak], 2)}) and ended at "
                     f"{_value_words(values[-1], 2)}" + ("" if collapsed else
                                                         ": past its peak, where methods.md places the start of memorising"))
        opening = ("A falling monitor is not a collapse: the" if values[-1] < max(values) and not collapsed
                   else "The")
        said += (f". {opening} report calls a rate reduction under {COLLAPSE_RATE_REDUCTION:g} nats collapsed, and "
                 f"this run's lowest, {_value_words(low, 2)}, is {'under' if low < COLLAPSE_RATE_REDUCTION else 'above'} it; "
                 f"{check}. {_features_worth_words(meta)}")
        return said
    if stem == "pretrain_loss":
        gamma = recorded_gamma(meta)
        variance = _per_epoch(history, "variance")
        loss = _per_epoch(history, "loss")
        if len(variance) < 2 and len(loss) < 2:
            return None
        parts = []
        if len(loss) >= 2:
            still = loss[-1][1] < loss[-2][1]
            parts.append(f"the loss went {_values_words(loss, 3)}"
                         + ("; still falling at the last epoch: more epochs may help" if still else ""))
        if variance:
            limit = COLLAPSE_VARIANCE_SHARE * gamma
            values = [v for _, v in variance]
            over = [e for e, v in variance if v >= limit]
            spread = sorted({round(max(gamma - v, 0.0), 2) for v in (min(values), max(values))})
            std = " to ".join(f"{v:.2f}" for v in spread)
            parts.append(
                f"the variance term was {_values_words(variance, 2)}, against the collapse check's "
                f"{limit:.2g} ({COLLAPSE_VARIANCE_SHARE:g} x gamma, gamma {gamma:g}): "
                + (f"at or above it at epoch(s) {', '.join(str(e) for e in over)}"
                   if over else "under it, so not collapsed by that rule")
                + f"; the embeddings' standard deviation per dimension (capped at {gamma:g}) averaged "
                  f"about {std}, {'short of' if max(values) > 0 else 'at'} the target {gamma:g}")
        return f"This run: {'; '.join(parts)}; {check}."
    return None


def _collapse_warning(meta: dict[str, Any], stage: str) -> list[str]:
    """A warning when the stage's recorded monitors show a collapsed representation
    (:func:`drac_ssl.collapse.collapse_warning`, the console's words too), else []."""
    words = collapse_warning(meta, stage, markdown=True)
    return [f"> {words}", ""] if words else []


def _kept_rule(stage: str, meta: dict[str, Any]) -> str:
    """Which epoch's weights a self-supervised stage hands on, in words: pretraining keeps the
    lowest VICReg loss (its early-stopping monitor); UMM the last epoch, the last one its
    SSL-loss guard passed, or the highest rate reduction (``umm.early_stop_on_rate_reduction``)."""
    if stage != "umm":
        return f"the lowest {PRETRAIN_METHOD} loss"
    umm_cfg = ((meta.get("config") or {}).get("umm") or {}) if isinstance(meta.get("config"), dict) else {}
    if umm_cfg.get("early_stop_on_rate_reduction"):
        on_probe = str((meta.get("umm") or {}).get("monitor", "")).startswith("probe_")
        return "the highest rate reduction of the last-layer features" + (
            " on pretraining's probe" if on_probe else "")
    if str(meta.get("stopped", "")).startswith("guard:"):
        return "the last epoch the SSL-loss guard passed"
    return "the last epoch"


def _dataset_words(cfg: dict[str, Any], run_dir: Path) -> str:
    """What the data is: a generic data set by name, else the ingested layout (``data.dataset``
    is ``drac`` for every ingested folder of graded retinal images, DRAC or not)."""
    dataset = cfg.get("data", {}).get("dataset")
    if dataset != "drac":
        return f"dataset {dataset}"
    layout = read_ingest_facts(run_dir / "data").layout
    return f"graded retinal images, {layout_name(layout)} layout" if layout else "graded retinal images (data.dataset=drac)"


def _older_umm_line(info: dict[str, Any], settings: dict[str, Any]) -> str:
    """:func:`_umm_line` for UMM weights made by code from before its ``metadata.json``
    recorded the objective (``umm``: ``source``, ``early_cut``, ``tuned``, ``weights`` only):
    that code's objective when its ``umm`` settings (``settings``) predate ``umm.outer_ssl``
    (code before 6b2ca5d1: ``F = -sign * Delta R`` of each image's two views, no guard), the
    layers ``tuned`` (its outer step's), and no guard clause (an upgrade review: the line said
    "membership None, outer step on nothing; the guard ... did not fire")."""
    said = "UMM was made by older code, whose metadata.json records no start rule and no objective"
    if "outer_ssl" not in settings and settings:
        if settings.get("use_rate_reduction") is False:
            said += "; that code took no outer step (umm.use_rate_reduction=false)"
        else:
            minimize = settings.get("outer_sign") == "minimize"
            said += (f"; that code's outer objective was F = {'+' if minimize else '-'}Delta R alone "
                     f"(umm.outer_sign={'minimize' if minimize else 'maximize'}), membership pairs (each "
                     f"image's two views), with no guard")
    tuned = info.get("tuned")
    if isinstance(tuned, list) and tuned:
        said += f". Re-tuned: {', '.join(str(name) for name in tuned)}"
    weights = info.get("weights")
    return said + (f"; output: {weights}." if isinstance(weights, str) and weights else ".")


def _guard_not_fired(guard: dict[str, Any]) -> str:
    """What UMM's guard was when it did not fire. ``guard``: the UMM ``metadata.json``'s
    ``umm.guard``. Each limit is checked only when > 0 (drac_ssl.umm.stage), so with
    ``max_ssl_rise`` 0 (an older run's config.yaml) and no positive ``max_step_ratio`` there
    was no guard to fire; a limit that is no finite number (absent, NaN: ``nan > 0`` is False
    there too) is off."""
    rise, ratio = (finite_number(guard.get(key)) or 0.0 for key in ("max_ssl_rise", "max_step_ratio"))
    if rise <= 0 and ratio <= 0:
        return "no guard (umm.max_ssl_rise=0: off)" if "max_ssl_rise" in guard else "no guard recorded"
    limits = ([f"max SSL-loss rise {guard.get('max_ssl_rise')}"] if rise > 0 else ["umm.max_ssl_rise=0: off"]) \
        + ([f"max step ratio {guard.get('max_step_ratio')}"] if ratio > 0 else [])
    return f"the guard ({'; '.join(limits)}) did not fire"


def _umm_line(info: dict[str, Any], settings: dict[str, Any] | None = None) -> str:
    """Where UMM started (the pretraining monitor's peak and the chosen checkpoint), its
    objective and what its guard did; then the stage's note when it started at or before the
    monitor's peak (``umm.start_note``; methods.md section 2). ``info``: the UMM
    ``metadata.json``'s ``umm``; ``settings``: its ``config``'s ``umm`` section (read for
    weights of older code, :func:`_older_umm_line`)."""
    if "outer_objective" not in info:  # UMM weights of older code: metadata.json records less
        return _older_umm_line(info, settings or {})
    start = info.get("start") or {}
    epoch = start.get("epoch")
    peak = start.get("peak_epoch")
    where = f"pretraining epoch {int(epoch) + 1}" if isinstance(epoch, int) else "an epoch not recorded"
    peak_text = (f"; the rate-reduction monitor peaked at epoch {int(peak) + 1} "
                 f"({figure_text(start.get('peak_value'))})" if isinstance(peak, int) else "")
    guard = info.get("guard") or {}
    guard_text = (f"the guard stopped UMM ({guard.get('reason')}); output: {info.get('weights')}"
                  if guard.get("fired") else _guard_not_fired(guard))
    note = info.get("start_note")  # not past the monitor's peak (drac_ssl.umm.source.start_note)
    # the departures from the defaults (docs/design.md); absent in runs before them
    departures = [text for key, default, text in (
        ("outer_batch", "same", "on the epoch's next batch, umm.outer_batch=next"),
        ("rate_reduction_on", "features", "Delta R on the expander outputs, umm.rate_reduction_on=embedding"),
    ) if info.get(key, default) != default]
    departure_text = f" ({'; '.join(departures)})" if departures else ""
    return (f"UMM started from `{start.get('rule', '?')}` ({start.get('reason', '')}): {where}"
            f"{peak_text}. Outer objective {info.get('outer_objective')}{departure_text}, membership "
            f"{info.get('membership')}, outer step on {', '.join(info.get('outer_step_groups') or []) or 'nothing'}"
            f"; {guard_text}." + (f" {note}." if isinstance(note, str) and note else ""))


def screening_line(metrics: dict[str, Any], names: Sequence[str]) -> str | None:
    """A variant's screening figures in one sentence, as its section of report.md says them
    and ``python -m drac_ssl.compare`` repeats them; None when its ``metrics.json`` has none.

    ``metrics``: the variant's ``metrics.json``; ``names``: its grades 0..K-1. With K > 2 and
    a referable cut (``finetune.referable_from``; ``metrics["referable"]``):
    ``Referable DR: <drac_ssl.metrics.referable_summary>.``; with two grades
    (:func:`drac_ssl.metrics.two_grade_summary`): ``Two grades, read as a screening decision
    (referable = grade 1, <name>...), out of fold, at cross-fitted thresholds (... fold 0
    0.498, fold 1 0.530 ...): sensitivity ... (images of grade 1, <name>, found), specificity
    ... (grade 0, <name>, cleared). The deployed threshold, grade 1 when P1 >= 0.512, was
    fitted on all out-of-fold outputs ...``: the figures at the thresholds they were made at
    (each fold's, from ``metrics["folds"]``), not at the deployed one (a researcher applied
    that to ``oof.csv``'s P1 and got other figures), then the AUC of P(referable) with its CI,
    said once as the one AUC two grades have."""
    referable = metrics.get("referable")
    if isinstance(referable, dict) and len(names) > 2:  # finetune.referable_from: grade >= r
        return f"Referable DR: {referable_summary(referable)}."
    if len(names) != 2 or ("sensitivity" not in metrics and not isinstance(referable, dict)):
        return None
    per_patient = referable.get("per_patient") if isinstance(referable, dict) else None
    return two_grade_summary(metrics, names) + (
        f" Referable DR {patient_screening_summary(per_patient)}." if isinstance(per_patient, dict) else "")


def in_sample_thresholds_words(metrics: dict[str, Any], fitted_on: str | None = None) -> str | None:
    """The line of report.md's variant section that sets the thresholds' in-sample QWK
    (``metrics.json``'s ``qwk_in_sample_thresholds``: the final calibration, fitted on the
    out-of-fold outputs, applied to all of them) beside the cross-fitted QWK of the same rule
    (``decision_rules.thresholds.qwk``; runs without it: ``qwk`` when the decision is
    ``thresholds``), and says what cross-fitting leaves open: fold k's calibration is fitted on
    outputs of models trained with fold k's labels, which nested cross-validation would close
    (docs/evaluation.md, "Out-of-fold figures"). With ``finetune.label_fraction`` < 1
    (``metrics.json``'s ``label_fraction``) the final calibration was fitted only on the outputs
    of the images some fold's draw trained on: ``fitted_on`` (``calibration.json``'s, e.g.
    ``out-of-fold outputs of 40 of the 60 labelled images (those ...)``) says which, else the
    setting is named. None when either figure is missing."""
    in_sample = finite_number(metrics.get("qwk_in_sample_thresholds"))
    rule = (metrics.get("decision_rules") or {}).get("thresholds")
    crossed = finite_number(rule.get("qwk") if isinstance(rule, dict) else
                            metrics.get("qwk") if metrics.get("decision", "thresholds") == "thresholds" else None)
    if in_sample is None or crossed is None:
        return None
    fraction = finite_number(metrics.get("label_fraction"))
    if fraction is not None and fraction < 1:  # the draws: the fit saw only the drawn images' outputs
        fitted = (f"fitted on the {fitted_on}" if fitted_on else
                  f"fitted only on the out-of-fold outputs of the images the folds' label draws trained on, "
                  f"finetune.label_fraction={fraction:g}")
        fit_words = f"the final calibration, {fitted}, applied to all the out-of-fold outputs"
    else:
        fit_words = "the final calibration, fitted on all the out-of-fold outputs, applied back to them"
    return (f"In sample, the thresholds rule scores QWK {in_sample:.3f} ({fit_words}), against {crossed:.3f} "
            f"cross-fitted (each fold "
            f"calibrated on the other folds' outputs): a figure in sample is optimistic, which the cross-fitting "
            f"avoids, though not wholly: the other folds' models, whose outputs calibrate fold k, were trained on "
            f"fold k's labels; nested cross-validation (the calibration fitted within each fold's training "
            f"images) would close that route too.")


def _referral_setting_words(fc: dict[str, Any]) -> str:
    """``, referral target sensitivity:0.90`` for report.md's settings row of the fine-tuning
    (``finetune.referral_target``, in its one written form), "" when off or not recorded."""
    target = referral_target_text(fc.get("referral_target", "off"))
    return "" if target == "off" or not isinstance(target, str) else f", referral target {target}"


def _class_decision_words(metrics: dict[str, Any], decision: str) -> str:
    """What gave a variant's out-of-fold grades, for report.md's headline line: ``class
    decision `thresholds``` (``finetune.decision``), or, where a two-grade run's referral cut
    gave them (``referral_decides_grade``), ``grades by the referral cut
    (`finetune.referral_target=sensitivity:0.90`: grade 1 when P1 is at or above the cut
    cross-fitted for the image's fold; `finetune.decision=thresholds` not used)``."""
    if not metrics.get("referral_decides_grade"):
        return f"class decision `{decision}`"
    referral = (metrics.get("referable") or {}).get("referral") or (metrics.get("calibration") or {}).get("referral")
    target = referral.get("target") if isinstance(referral, dict) else None
    return (f"grades by the referral cut (`finetune.referral_target={target or '?'}`: grade 1 when P1 is at or "
            f"above the cut cross-fitted for the image's fold; `finetune.decision={decision}` not used)")


def rule_below_argmax_words(rules: dict[str, Any], decision: str, kappa: str = "QWK") -> str:
    """One sentence when the selected class rule (``decision``, ``finetune.decision``: every
    variant's, exported or not; not ``argmax``) scored a lower
    kappa out of fold than ``argmax`` on the same cross-fitted probabilities (metrics.json's
    ``decision_rules``, each rule's ``qwk``; ``kappa`` its name); '' otherwise (a CLAIM review:
    0.740 against 0.754, and the report said nothing). The run records each rule's own CI (the
    table above), no paired CI of their difference, and the sentence says so. '' too where the
    rule did not give the grades: its record's ``selected`` is False, or a referral cut
    (:data:`drac_ssl.metrics.REFERRAL_RULE`, ``finetune.referral_target``) gave them."""
    chosen, argmax = rules.get(decision), rules.get("argmax")
    if (decision == "argmax" or not isinstance(chosen, dict) or not isinstance(argmax, dict)
            or chosen.get("selected") is False or REFERRAL_RULE in rules):
        return ""
    a, b = finite_number(chosen.get("qwk")), finite_number(argmax.get("qwk"))
    if a is None or b is None or a >= b:
        return ""
    return (f"Out of fold the selected rule (`finetune.decision`), `{decision}` (tuned for {kappa}), scored a "
            f"lower {kappa} than `argmax` on the same probabilities ({figure_text(a)} against {figure_text(b)}; "
            f"each rule's own 95% CI is in the table, no paired CI of the difference is recorded): tuning "
            f"did not raise it here; `finetune.decision=argmax` gives the most probable grade.")


def _rule_label(rule: str, figures: dict[str, Any]) -> str:
    """A row of report.md's table of decision rules: the rule's name, the referral cut's
    (:data:`drac_ssl.metrics.REFERRAL_RULE`) with its target: ``referral cut (sensitivity:0.90)``."""
    if rule == REFERRAL_RULE:
        return f"referral cut ({figures.get('target') or 'finetune.referral_target'})"
    return rule


def _drac_data(run_dir: Path) -> bool:
    """Whether the run's data are DRAC's kind (the official DRAC layout of UW-OCTA images or
    the phantom stand-ins, on DRAC's three grades: :func:`drac_ssl.challenge.drac_scale`, the
    rule of the leaderboard paragraph and the model card), from its ingest's records; False
    without them."""
    facts = read_ingest_facts(run_dir / "data")
    return drac_scale(data_provenance(run_dir / "data", facts.grade_names), facts.grade_names)


RESAMPLES_LEFT_OUT = {
    "QWK": "on the rest kappa was undefined (grades and answers all one and the same grade)",
    "AUC OvO": "the rest lacked a grade",
    "AUC OvR": "the rest lacked a grade",
    "AUC OvO and OvR": "the rest lacked a grade",
    "Referable AUC": "the rest lacked a referable or a non-referable image",
}
"""Why a bootstrap resample is left out of each interval (:func:`resamples_used_words`): the
metric is undefined on it (:func:`drac_ssl.metrics.bootstrap_ci_counted`)."""


def resamples_used_words(metrics: dict[str, Any]) -> str | None:
    """The line of report.md's variant section that says which bootstrap CIs rest on fewer
    resamples than were drawn (``metrics.json``'s ``qwk_ci95_resamples``,
    ``auc_ovo_ci95_resamples``, ``auc_ovr_ci95_resamples``, ``referable.auc_ci95_resamples``, the other decision rule's
    ``decision_rules.<rule>.qwk_ci95_resamples``, against ``n_boot``): ``"AUC OvR CI from 883 of
    1,000 resamples; the rest lacked a grade."``, one sentence per such interval (the two AUCs'
    in one, ``"AUC OvO and OvR CIs from 883 of ..."``, when they used as many, as they do: both
    are undefined on the resamples lacking a grade), then what it means. None when every interval used all ``n_boot`` (or a run made before the counts were
    stored, or none drawn); an interval from 0 resamples is n/a and said so where it stands."""
    n_boot = metrics.get("n_boot")
    if not isinstance(n_boot, int) or isinstance(n_boot, bool) or n_boot < 1:
        return None
    referable = metrics.get("referable") if isinstance(metrics.get("referable"), dict) else {}
    counted = [("QWK", "", metrics.get("qwk_ci95_resamples")),
               ("AUC OvO", "", metrics.get("auc_ovo_ci95_resamples")),
               ("AUC OvR", "", metrics.get("auc_ovr_ci95_resamples")),
               ("Referable AUC", "", referable.get("auc_ci95_resamples"))]
    decision = metrics.get("decision")
    for rule, r in (metrics.get("decision_rules") or {}).items():
        # every rule but the one that gave the grades (the headline's QWK, counted above)
        if isinstance(r, dict) and not r.get("selected", rule == decision):
            counted.append(("QWK", f" under the {rule} rule", r.get("qwk_ci95_resamples")))
    fewer = [(what, where, used) for what, where, used in counted
             if isinstance(used, int) and not isinstance(used, bool) and 0 < used < n_boot]
    # the two AUCs are undefined on the same resamples (those lacking a grade): one sentence
    aucs = [entry for entry in fewer if entry[0] in ("AUC OvO", "AUC OvR")]
    if len(aucs) == 2 and aucs[0][2] == aucs[1][2]:
        fewer = [("AUC OvO and OvR", "", aucs[0][2]) if entry is aucs[0] else entry
                 for entry in fewer if entry is not aucs[1]]
    said = [f"{what} CI{'s' if ' and ' in what else ''}{where} from {used:,} of {n_boot:,} resamples; "
            f"{RESAMPLES_LEFT_OUT[what]}." for what, where, used in fewer]
    if not said:
        return None
    return (" ".join(said) + " Those intervals rest only on the resamples where the figure is defined, "
            "which over-represent the rarest grades' images; with few such images read them as rough.")


def _band_warning(thresholds: Any, grades: Any, probs: Any, names: Sequence[str]) -> str | None:
    """:func:`drac_ssl.metrics.threshold_band_warning` of a run's recorded thresholds (a run
    made before ``metrics.json`` stored it), on the grades they give in-sample: cut from the
    expected grade of the out-of-fold calibrated probabilities ``probs`` ``(n, K)`` (the score
    a classification head's thresholds were fitted on); None when the thresholds are not a
    list of K-1 increasing numbers."""
    try:
        t = [float(v) for v in thresholds]
        p = np.asarray(probs, dtype=np.float64)
        if len(t) != p.shape[1] - 1:
            return None
        return threshold_band_warning(t, grades, apply_thresholds(p @ np.arange(p.shape[1]), t), names)
    except (TypeError, ValueError, IndexError):
        return None


def _variant_section(run_dir: Path, figures: Path, name: str, drac: bool = False) -> tuple[list[str], str | None]:
    """The variant's section of report.md, and the note that its out-of-fold grades give
    (nearly) every image one grade, overall or within each fold: the one the run stored in
    ``metrics.json``, else, for a run made before it was stored, recomputed from ``oof.csv``
    (:func:`drac_ssl.metrics.stored_one_grade_note`, as compare reads it); None when it says
    nothing or there is no out-of-fold file. The comparison of the variants reads it too.
    ``drac``: the run is on DRAC's kind of data (:func:`_drac_data`), whose challenge breaks
    ties by the one-vs-one AUC (:func:`drac_ssl.figures.auc_words`)."""
    vdir = run_dir / "finetune" / name
    metrics = read_json(vdir / "metrics.json")
    title = _title(run_dir, name)
    if not isinstance(metrics, dict) or not (vdir / OOF_FILE).is_file():
        return [f"### {title}", "", "Incomplete: no metrics or out-of-fold predictions.", ""], None
    try:
        oof = read_oof(vdir / OOF_FILE)
    except OofError as exc:
        return [f"### {title}", "", f"Incomplete: the out-of-fold predictions cannot be read ({exc}).",
                ""], None
    ci = metrics.get("qwk_ci95") or [None, None]
    cal = metrics.get("calibration", {})
    grades, probs, pred, folds = oof.grades, oof.probs, oof.pred, oof.folds
    names = list(metrics.get("class_names") or default_grade_names(probs.shape[1]))
    decision = metrics.get("decision") or cal.get("decision") or "thresholds"
    # a run made before the note was stored: the reason from its out-of-fold grades
    ci_note = metrics.get("qwk_ci95_note") or degenerate_ci_reason(*ci[:2], grades, pred, names,
                                                                 out_of_fold=True)
    lines = [f"### {title}", "",
             f"Out-of-fold QWK {figure_text(metrics.get('qwk'))} (95% CI {format_ci(*ci[:2], ci_note)}), "
             f"AUC {auc_words(metrics, probs.shape[1], drac)}, "
             f"accuracy {figure_with_ci(metrics, 'accuracy', 'accuracy_ci95')}, macro F1 "
             f"{figure_text(metrics.get('macro_f1'))}; final calibration: temperature {figure_text(cal.get('temperature'))}, "
             f"thresholds {threshold_words(cal.get('thresholds') or [])}; {_class_decision_words(metrics, decision)}.",
             ""]
    fewer = resamples_used_words(metrics)
    if fewer:
        lines += [fewer, ""]
    absent = sorted(set(range(probs.shape[1])) - set(grades.tolist()))
    if absent:  # a trial: a two-grade set run on DRAC's three grades said only "AUC n/a"
        # the numbers before the names: "Read this first" keeps the lead up to " (" (a run of
        # binary labels on ICDR's 5 grades listed "grade 2" alone there, not 3 and 4)
        which = (f"grade{'s' if len(absent) > 1 else ''} {', '.join(map(str, absent))} "
                 f"({', '.join(names[g] if g < len(names) else '?' for g in absent)})")
        lines += [f"**No labelled image has {which}**: the model has outputs for grades it "
                  f"never saw, and the AUCs are undefined. Is `data.grades` "
                  f"({', '.join(names)}) the scale of these labels?", ""]
    elif metrics.get("auc_note") and finite_number(metrics.get("auc")) is None:
        lines += [f"AUC n/a: {metrics['auc_note']}.", ""]
    # one grade overall, else one grade within each fold (another per fold): the grades tell
    # the fold, not the image; the run's own note, as compare reads it (older runs: recomputed)
    one_grade = stored_one_grade_note(metrics, pred, folds, names)
    if one_grade:  # of the out-of-fold grades: the console's fold lines say those before calibration
        said = calibrated_one_grade_words(one_grade)
        lines += [f"> **{said[0].upper()}{said[1:]}**: this variant learnt next to nothing about "
                  f"grading, and a difference against it shows at most that the other variant learnt "
                  f"something.", ""]
    # thresholds leaving a grade (next to) no band or no out-of-fold image: the run's own words,
    # else (a run made before they were stored) from its out-of-fold grades
    band = metrics.get("threshold_band_warning") if "threshold_band_warning" in metrics else (
        _band_warning(cal.get("thresholds"), grades, probs, names)
        if decision == "thresholds" and cal.get("output", "classification") == "classification" else None)
    if isinstance(band, str) and band:
        lines += [f"> **Warning:** {band[:1].upper()}{band[1:]}.", ""]
    temperature = cal.get("temperature")
    if temperature_at_bound(temperature):
        lines += [f"> The calibration's temperature ({figure_text(temperature)}) sits at the edge of its search "
                  f"range (0.01..100): the raw outputs could not be calibrated (often a model that has "
                  f"not learnt, or outputs far out of scale); read its probabilities with care.", ""]
    screening = screening_line(metrics, names)
    if screening:
        lines += [screening, ""]
    rules = metrics.get("decision_rules") or {}
    if rules:
        lines += [("Both class decisions, each alone, and the referral cut that gave the grades on the same "
                   "cross-fitted probabilities (the one giving the grades in bold):" if REFERRAL_RULE in rules else
                   "Both class decisions on the same cross-fitted probabilities (the selected one in bold):"), ""]
        lines += markdown_table(["decision", KAPPA_TWO_GRADES if len(names) == 2 else "QWK", "95% CI", "accuracy",
                                 "macro F1"],
                                [[f"**{_rule_label(rule, r)}**" if r.get("selected", rule == decision)
                                  else _rule_label(rule, r), figure_text(r.get("qwk")),
                                  format_ci(*(r.get("qwk_ci95") or [None, None])[:2], r.get("qwk_ci95_note")),
                                  figure_text(r.get("accuracy")), figure_text(r.get("macro_f1"))] for rule, r in rules.items()])
        below = rule_below_argmax_words(rules, decision, kappa_name(len(names), short=True))
        lines += [below, ""] if below else []
    deployed = read_json(vdir / "calibration.json")  # its fitted_on: the images the final fit saw
    fitted_on = deployed.get("fitted_on") if isinstance(deployed, dict) else None
    in_sample = in_sample_thresholds_words(metrics, fitted_on if isinstance(fitted_on, str) else None)
    if in_sample:
        lines += [in_sample, ""]
    # keep=inner: the inner split's images are neither trained on nor validated: their own
    # column, so train + inner + val are the fold's images; its uncalibrated kappa is the one
    # scored once after the choice (val_qwk_uncalibrated; runs of the first keep=inner version
    # wrote it as best_val_qwk_uncalibrated)
    held_inner = metrics.get("keep") == "inner"
    two = len(names) == 2  # one AUC, the kappa by its name (the QWK of two grades is Cohen's kappa)
    kappa = "kappa" if two else "QWK"
    if held_inner and metrics.get("inner_split_note"):  # a small inner split: "Read this first"
        note = str(metrics["inner_split_note"])
        lines += [f"**{note[:1].upper()}{note[1:]}** (finetune.keep=inner).", ""]
    # the inner count an integer, as train and val (figure_text gave 4.000)
    rows = [[f["fold"], f["n_train"], *([f.get("n_inner") if isinstance(f.get("n_inner"), int)
                                         else figure_text(f.get("n_inner"))] if held_inner else []), f["n_val"],
             int(f["best_epoch"]) + 1, f["epochs_run"], figure_text(f.get("qwk")),
             figure_text(f.get("val_qwk_uncalibrated", f.get("best_val_qwk_uncalibrated")) if held_inner
                         else f.get("best_val_qwk_uncalibrated")),
             *([] if two else [figure_text(f.get("auc"))]), figure_text(f.get("auc_ovr")),
             figure_text(f.get("accuracy")), figure_text(f.get("macro_f1")), figure_text(f.get("seconds"), 1)]
            for f in metrics.get("folds", [])]
    lines += markdown_table(["fold", "train", *(["inner"] if held_inner else []), "val", "kept epoch", "epochs",
                             f"{kappa} (calibrated)", f"{kappa} (uncalibrated)",
                             *([AUC_TWO_GRADES] if two else ["AUC (OvO)", "AUC (OvR)"]), "accuracy", "macro F1",
                             "seconds"], rows)
    lines += fold_auc_na_lines(metrics.get("folds", []), grades, folds, names)
    lines += ["Kept epoch counted from 1 here; `folds.csv`, `metrics.json` and `fold*.json` hold "
              "`best_epoch` counted from 0 (the epoch's index; `epochs_counted_from` says so where "
              "written)." + (" With the backbone frozen, the seconds of the first fold trained (fold 0, "
                             "unless folds were reused) include the frozen-backbone features of every "
                             "image, computed once for all folds."
                             if run_freeze(run_dir) == "frozen" else ""), ""]
    lines += [("inner: the fold's training images held out as its inner split (finetune.keep=inner), on "
               "which its epoch was chosen: neither trained on nor scored, so train + inner + val are all the "
               "labelled images (with finetune.label_fraction below 1, the fold's draw and its validation "
               "fold). " if held_inner else "")
              + f"{kappa.capitalize() if two else kappa} (calibrated): the fold's images graded with the "
              f"thresholds fitted on the other folds (cross-fitted), as the metrics and folds.csv give it. "
              f"{kappa.capitalize() if two else kappa} (uncalibrated): the console's per-fold "
              f"'val {kappa_name(len(names), short=True)}', the expected grade cut at the fixed thresholds 0.5, "
              "1.5, ..." + (", without the test-time flips (finetune.tta) the calibrated figure "
                            "averages over" if metrics.get("tta") and metrics.get("keep") != "inner" else
                            ", with the test-time flips (finetune.tta) as the calibrated figure"
                            if metrics.get("tta") else "")
              + ("; it chose no epoch (finetune.keep=last: each fold kept its last)."
                 if metrics.get("keep") == "last" else
                 "; scored once, after the epoch was chosen on the fold's inner split (finetune.keep=inner: "
                 "a held-out part of its training images), so it chose nothing."
                 if metrics.get("keep") == "inner" else "; it chose the kept epoch."), ""]
    gap = _pooling_gap(metrics)
    if gap:
        lines += [gap, ""]
    lines += _calibration_measure_lines(run_dir, vdir, oof, metrics, temperature)
    lines += _site_section(run_dir, vdir, oof, metrics, title)
    report = grading_report(grades, probs, pred, names)
    cm = plot_confusion(report["confusion"], figures / f"{name}_confusion.png", names,
                        title=f"{title}: out-of-fold confusion")
    roc = plot_roc(grades, probs, figures / f"{name}_roc.png", names, title=f"{title}: out-of-fold ROC")
    lines += _figure(run_dir, cm, figure_alt(cm.stem, title, name), name) + confusion_lines(report["confusion"], names)
    lines += sensitivity_lines(report["confusion"], names, oof_recall_intervals(run_dir, vdir))
    lines += _figure(run_dir, roc, figure_alt(roc.stem, title, name), name) + roc_auc_line(grades, probs, names, metrics)
    histories: dict[int, list[dict[str, Any]]] = {}
    for f in metrics.get("folds", []):
        record = read_json(vdir / f"fold{f['fold']}.json")
        if isinstance(record, dict) and record.get("history"):
            histories[int(f["fold"])] = record["history"]
    if histories:
        n_epochs = max(len(h) for h in histories.values())
        # keep=inner: each epoch was scored on the fold's inner split, not its validation fold
        inner = metrics.get("keep") == "inner"
        key, said = ("inner_qwk", "inner QWK") if inner else ("val_qwk", "val QWK")
        rows_h = [{"epoch": e, **{f"fold {k} {said}": h[e].get(key) for k, h in histories.items()
                                  if e < len(h)}} for e in range(n_epochs)]
        split = "inner-split" if inner else "validation"
        hist = plot_history(rows_h, [f"fold {k} {said}" for k in histories],
                            figures / f"{name}_{'inner' if inner else 'val'}_qwk.png",
                            f"{title}: {split} QWK per epoch (uncalibrated, rounded expected grade)",
                            ylim=KAPPA_YLIM)  # one kappa scale: the folds compare
        lines += _figure(run_dir, hist, figure_alt(hist.stem, title, name), name)
    return lines + [""], one_grade


def table_cell(text: Any) -> str:
    """``text`` for a cell of a Markdown table (:func:`drac_ssl.figures.markdown_table`): its
    ``|`` escaped as ``\\|`` and line breaks as spaces, so that a site named ``A|B`` stays one
    cell."""
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


SITE_GAP = 0.2
"""A site whose out-of-fold kappa is this far or more below the pooled one, on at least
:data:`SITE_MIN_IMAGES` images and with its 95% CI's upper bound below the pooled kappa, is said
under report.md's figures per site (:func:`site_lines`): a pooled figure can hide a site the
model fails on (a multi-site review: pooled QWK 0.324, site A -0.333, site B 0.408)."""
SITE_MIN_IMAGES = 10
"""The fewest images of a site that :func:`site_lines` calls much worse than pooled: a site of
a few images has a kappa (and a CI) that says little (a review: a 1-image site flagged)."""


def site_figures(grades: Any, probs: Any, pred: Any, sites: Sequence[str], n_boot: int = 1000,
                 seed: int = 0, patients: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The out-of-fold figures of each site, in site order: ``{"site", "n" (images), "qwk",
    "qwk_ci95", "accuracy", "accuracy_ci95", "auc", "auc_ci95", "auc_note"}``.

    ``grades`` ``(n,)`` the reference grades 0..K-1, ``probs`` ``(n, K)`` the calibrated
    probabilities, ``pred`` ``(n,)`` the grades given (``oof.csv``'s ``grade``, ``P*``,
    ``pred``); ``sites`` one site per image (``oof.csv``'s ``site``). ``qwk``:
    :func:`drac_ssl.metrics.quadratic_weighted_kappa` over K grades (nan when undefined:
    one grade given and true; nan too when the site's images hold fewer than 2 true grades,
    ``n_grades`` then below 2: the kappa of one true grade is 0 whatever was given, and says
    nothing of the site); ``accuracy``: the share of images given their grade; ``auc``:
    :func:`drac_ssl.metrics.macro_ovo_auc` (with K = 2 the ROC AUC of P1), None with
    ``auc_note`` (:func:`drac_ssl.metrics.auc_undefined_reason`) when the site lacks a grade.
    Each ``*_ci95`` is the percentile bootstrap 95% CI of :func:`drac_ssl.metrics.bootstrap_ci`
    (``n_boot`` resamples, ``seed``) of the site's images, or of its ``patients`` (one unit per
    image, '' for an image without one: then its own unit; :func:`drac_ssl.oof.patient_groups`
    of the manifest rows, as the pooled figure resamples) when given; ``[None, None]`` when no
    resample defines it. ``n_grades``: the distinct true grades at the site."""
    import functools

    from drac_ssl.metrics import (
        accuracy_score,
        auc_undefined_reason,
        bootstrap_ci,
        macro_ovo_auc,
        quadratic_weighted_kappa,
    )

    y, p, pr = np.asarray(grades, dtype=np.int64), np.asarray(probs, dtype=np.float64), np.asarray(pred, dtype=np.int64)
    site_of = np.asarray([str(s) for s in sites], dtype=object)
    k = int(p.shape[1])
    kappa = functools.partial(quadratic_weighted_kappa, num_grades=k)
    # each unit, a patient's or a patient_groups() unit alike, is wrapped whole: a blank's
    # image:<i> then cannot equal an already-prefixed unit (only the grouping counts here)
    units = (np.asarray([resampling_unit(u, i) for i, u in enumerate(patients)], dtype=object)
             if patients is not None and any(patients) else None)

    def interval(truth: np.ndarray, given: np.ndarray, metric: Any, groups: Any) -> list[float | None]:
        if n_boot < 1:
            return [None, None]
        try:
            low, high = bootstrap_ci(truth, given, metric, n_boot=n_boot, seed=seed, groups=groups)
        except ValueError:
            return [None, None]
        return [None if not np.isfinite(v) else float(v) for v in (low, high)]

    out: list[dict[str, Any]] = []
    for site in sorted(set(site_of.tolist())):
        at = site_of == site
        ys, ps, prs = y[at], p[at], pr[at]
        groups = None if units is None else units[at].tolist()
        n_grades = len(set(ys.tolist()))
        qwk = float(kappa(ys, prs)) if n_grades >= 2 else float("nan")
        note = auc_undefined_reason(ys, ps)
        auc = None if note else float(macro_ovo_auc(ys, ps))
        out.append({"site": site, "n": int(at.sum()), "n_grades": n_grades, "qwk": qwk,
                    "qwk_ci95": interval(ys, prs, kappa, groups) if np.isfinite(qwk) else [None, None],
                    "accuracy": float(accuracy_score(ys, prs)),
                    "accuracy_ci95": interval(ys, prs, accuracy_score, groups),
                    "auc": auc, "auc_ci95": [None, None] if note else interval(ys, ps, macro_ovo_auc, groups),
                    "auc_note": note})
    return out


def oof_calibration_record(run_dir: Path, vdir: Path, oof: Any, metrics: dict[str, Any]) -> dict[str, Any] | None:
    """How well a variant's out-of-fold probabilities are calibrated: :func:`drac_ssl.scoring.calibration_measures`
    (the Brier score with its percentile bootstrap 95% CI and the ECE beside a perfectly
    calibrated model's, as ``--score`` gives them for a submission) of ``oof.csv``'s cross-fitted probabilities ``oof.probs`` ``(n, K)``
    against ``oof.grades``, resampling the units the pooled CIs resample (:func:`drac_ssl.oof.oof_units`:
    images, or patients) with ``metrics``' ``n_boot`` and ``seed``; beside them the reference
    (``reference_brier``): the Brier score of a constant prediction of the grade frequencies
    (every image given the out-of-fold grades' shares), which flat probabilities (all near 1/K)
    come close to. Keys: ``n_images``, ``resampled``, ``brier``, ``brier_ci95``,
    ``brier_definition``, ``ece``, ``ece_if_calibrated``, ``ece_if_calibrated_p95``, ``ece_bins``,
    ``reference_brier``, ``words``
    (plain floats and strings: JSON as it is). report.md's line
    (:func:`drac_ssl.grading.bundle.oof_calibration_words`) and the bundle's record
    (:func:`oof_calibration_of`, the export's) are both of it. None for fewer than 2 images."""
    from drac_ssl.metrics import brier_score
    from drac_ssl.scoring import calibration_measures

    if len(oof.ids) < 2:
        return None
    units, resampled = oof_units(run_dir, vdir, [str(i) for i in oof.ids])
    n_boot = metrics.get("n_boot") if isinstance(metrics.get("n_boot"), int) else 1000
    seed = metrics.get("seed") if isinstance(metrics.get("seed"), int) else 0
    measured = calibration_measures(np.asarray(oof.grades), np.asarray(oof.probs), n_boot=n_boot, seed=seed,
                                    groups=None if units is None else np.asarray(units))
    grades, probs = np.asarray(oof.grades, dtype=int), np.asarray(oof.probs, dtype=float)
    shares = np.bincount(grades, minlength=probs.shape[1])[:probs.shape[1]] / len(grades)
    reference = brier_score(grades, np.tile(shares, (len(grades), 1)))  # no model: the grade frequencies

    def plain(value: Any) -> Any:  # numpy floats as Python's, for metadata.json
        return [plain(v) for v in value] if isinstance(value, (list, tuple)) else (
            float(value) if isinstance(value, (float, np.floating)) else value)
    return {"n_images": len(oof.ids), "resampled": resampled,
            **{key: plain(measured[key]) for key in ("brier", "brier_ci95", "brier_definition", "ece",
                                                     "ece_if_calibrated", "ece_if_calibrated_p95",
                                                     "ece_bins", "words")},
            "reference_brier": float(reference)}


def oof_calibration_of(run_dir: str | os.PathLike[str], variant: str | None = None) -> dict[str, Any] | None:
    """:func:`oof_calibration_record` of the fine-tuning variant ``variant`` of ``run_dir`` (None:
    the one ``finetune/summary.json`` selected), as report.md gives it, for the bundle the export
    builds (:func:`drac_ssl.grading.bundle.build_bundle`'s ``oof_calibration``: the grading
    modules do not import the scoring module). None when its ``oof.csv`` or ``metrics.json`` is
    missing or unreadable, the run has no such variant, or the summary names none: the bundle then records none, and
    its model card says they are not recorded. Never raises for those."""
    run_dir = Path(run_dir)
    if variant is None:
        variant = selected_variant(run_dir)
        if variant is None:
            return None
    try:
        vdir = fine_tuned_variant_dir(run_dir, variant)
    except BundleError:  # no such variant: the build says so, in its own words
        return None
    metrics = read_json(vdir / "metrics.json")
    if not isinstance(metrics, dict):
        return None
    try:
        oof = read_oof(vdir / OOF_FILE)
    except OofError:
        return None
    return oof_calibration_record(run_dir, vdir, oof, metrics)


def _calibration_measure_lines(run_dir: Path, vdir: Path, oof: Any, metrics: dict[str, Any],
                               temperature: object = None) -> list[str]:
    """How well a variant's out-of-fold probabilities are calibrated, for report.md under its
    figures: :func:`oof_calibration_record` in the words of
    :func:`drac_ssl.grading.bundle.oof_calibration_words` (the model card's line too), which
    says, when the variant's calibration ``temperature`` sits at its bound
    (:func:`drac_ssl.metrics.temperature_at_bound`: the calibration failed), that a low ECE there
    comes from near-flat probabilities, not from calibration. [] for fewer than 2 images."""
    record = oof_calibration_record(run_dir, vdir, oof, metrics)
    return [] if record is None else [oof_calibration_words(record, temperature), ""]


def _site_section(run_dir: Path, vdir: Path, oof: Any, metrics: dict[str, Any],
                  variant: str = "") -> list[str]:
    """:func:`site_lines` of a variant folder ``vdir`` whose ``oof.csv`` (read as ``oof``) has a
    ``site`` column (:data:`drac_ssl.oof.SITE_COLUMN`); [] without one (a run without sites:
    report.md as before). The CIs resample the units of :func:`drac_ssl.oof.oof_units`, seeded with
    ``metrics["seed"]`` as the pooled CIs are (0 when absent); ``variant``: the variant's title,
    in the heading."""
    from drac_ssl.oof import SITE_COLUMN, read_oof_column

    sites = read_oof_column(vdir / OOF_FILE, SITE_COLUMN)
    if not sites or len(sites) != len(oof.ids):
        return []
    units, resampled = oof_units(run_dir, vdir, [str(i) for i in oof.ids])
    n_boot = metrics.get("n_boot") if isinstance(metrics.get("n_boot"), int) else 1000
    seed = metrics.get("seed") if isinstance(metrics.get("seed"), int) else 0  # the pooled CIs' seed
    figures = site_figures(oof.grades, oof.probs, oof.pred, sites, n_boot=n_boot, seed=seed, patients=units)
    referable = metrics.get("referable") if isinstance(metrics.get("referable"), dict) else {}
    referred = read_oof_column(vdir / OOF_FILE, "referred")
    from_grade = referable.get("from_grade")
    referral = (site_referral(oof.grades, referred, sites, int(from_grade))
                if referred and len(referred) == len(sites) and isinstance(from_grade, int) else None)
    return site_lines(figures, metrics, len(oof.ids), int(oof.probs.shape[1]), resampled,
                      site_folds=_site_folds(run_dir, oof.folds, sites), variant=variant, referral=referral)


def site_referral(grades: Any, referred: Sequence[str], sites: Sequence[str], from_grade: int
                  ) -> dict[str, dict[str, list[float | int | None]]]:
    """Each site's referral sensitivity and specificity (``oof.csv``'s ``referred``, each fold's
    own cut: ``finetune.referral_target``) with their Wilson score 95% CIs on the site's images
    (:func:`drac_ssl.metrics.wilson_interval`): ``{site: {"sensitivity": [value, x, n, low,
    high], "specificity": [...]}}``, referable meaning true grade >= ``from_grade``; value and
    interval None where the site has no referable (or no non-referable) image. ``grades``,
    ``referred`` (``'0'``/``'1'`` cells) and ``sites`` are one entry per out-of-fold row."""
    from drac_ssl.metrics import wilson_interval

    out: dict[str, dict[str, list[float | int | None]]] = {}
    for site in dict.fromkeys(sites):
        truth = [int(g) >= from_grade for g, s in zip(grades, sites, strict=True) if s == site]
        said = [str(r).strip() == "1" for r, s in zip(referred, sites, strict=True) if s == site]
        figures: dict[str, list[float | int | None]] = {}
        for name, wanted in (("sensitivity", True), ("specificity", False)):
            n = sum(t == wanted for t in truth)
            x = sum(t == wanted and (r if wanted else not r) for t, r in zip(truth, said, strict=True))
            low, high = wilson_interval(x, n) if n else (None, None)
            figures[name] = [x / n if n else None, x, n, low, high]
        out[site] = figures
    return out


def _site_folds(run_dir: Path, folds: Any, sites: Sequence[str]) -> str:
    """How the folds treated the sites, a key of :data:`data_prep.folds.SITE_FOLDS`: the
    ingest's own record (``data/ingest_summary.json``'s ``sites.folds``); guessed from the
    out-of-fold ``folds`` and ``sites`` only for an ingest made before it was recorded
    (``whole`` when every site's images are in one fold, else ``sites``)."""
    from data_prep.folds import SITE_FOLDS

    summary = read_json(run_dir / "data" / "ingest_summary.json")
    facts = summary.get("sites") if isinstance(summary, dict) else None
    recorded = facts.get("folds") if isinstance(facts, dict) else None
    if isinstance(recorded, str) and recorded in SITE_FOLDS:
        return recorded
    whole = folds is not None and len(set(sites)) > 1 and all(
        len({int(f) for f, s in zip(folds, sites, strict=True) if s == site}) == 1 for site in set(sites))
    return "whole" if whole else "sites"


def site_lines(figures: Sequence[dict[str, Any]], metrics: dict[str, Any], n_images: int,
               num_grades: int, resampled: str = "images", whole_sites: bool = False,
               site_folds: str = "", variant: str = "",
               referral: dict[str, dict[str, list[Any]]] | None = None) -> list[str]:
    """report.md's figures per site under a variant's pooled figures: a table of each site's
    images, kappa, accuracy and AUC with their 95% CIs (``figures``: :func:`site_figures`),
    the pooled row from ``metrics`` (``metrics.json``: ``qwk``, ``accuracy``, ``auc`` and their
    ``*_ci95``) over ``n_images``, and a bold sentence, with the site's CI, for each site of at
    least :data:`SITE_MIN_IMAGES` images and 2 true grades whose kappa is :data:`SITE_GAP` or
    more below the pooled one and whose CI's upper bound is below it too (a site without a CI
    is never said). A site of fewer than 2 true grades shows its kappa as n/a (one grade at
    this site). ``resampled``: what the per-site CIs resample (``images``, ``patients``, ...).
    ``whole_sites``: each site's images are all in one fold (leave-one-site-out,
    ``--patient-column site --site-column site``), said instead of the grade x site
    stratification, with the caveat that the CIs then resample sites. ``site_folds``: how the
    folds treated the sites (a key of :data:`data_prep.folds.SITE_FOLDS`, ``ingest_summary.json``'s
    ``sites.folds``), said in its words; ``whole`` is ``whole_sites``; '' (or unknown): grade x
    site. ``variant``: the variant's title, in the heading (``#### Figures per site: VICReg``), so
    that "Read this first" links each site's warning to the variants that say it by name.
    ``referral``: each site's referral sensitivity and specificity (:func:`site_referral`, with a
    referral target), two more columns, the pooled row's from ``metrics``' ``referable.referral``. Site
    names are escaped for the table (:func:`table_cell`). [] without figures."""
    from data_prep.folds import SITE_FOLDS

    if not figures:
        return []
    whole_sites = whole_sites or site_folds == "whole"
    how = SITE_FOLDS.get(site_folds, SITE_FOLDS["sites"])
    kappa = kappa_name(num_grades, short=True)
    auc = "AUC of P1" if num_grades == 2 else "AUC (one-vs-one)"

    def cell(value: Any, ci: Any, note: str | None = None) -> str:
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            return f"n/a ({note})" if note else "n/a"
        pair = ci if isinstance(ci, list | tuple) and len(ci) >= 2 else [None, None]
        return format_with_ci(value, pair[0], pair[1])

    def kappa_cell(f: dict[str, Any]) -> str:
        if int(f.get("n_grades", 2)) < 2:
            return "n/a (one grade at this site)"
        return cell(f["qwk"], f["qwk_ci95"], "undefined: one grade given and true")

    rows = [[table_cell(f["site"]), f["n"], kappa_cell(f),
             cell(f["accuracy"], f["accuracy_ci95"]), cell(f["auc"], f["auc_ci95"], "a grade absent at this site" if f.get("auc_note") else None)]
            for f in figures]
    rows.append(["all sites (pooled)", n_images, cell(metrics.get("qwk"), metrics.get("qwk_ci95")),
                 cell(metrics.get("accuracy"), metrics.get("accuracy_ci95")),
                 cell(metrics.get("auc"), metrics.get("auc_ovo_ci95"))])
    header = ["site", "images", f"{kappa} (95% CI)", "accuracy (95% CI)", f"{auc} (95% CI)"]
    if referral:
        def rate(figure: list[Any] | None, none: str) -> str:
            if not figure or figure[0] is None:
                return f"n/a ({none})"
            return f"{format_with_ci(figure[0], figure[3], figure[4])} {figure[1]}/{figure[2]}"

        pooled_referral = (metrics.get("referable") or {}).get("referral") or {}
        for row, f in zip(rows, figures, strict=False):
            said = referral.get(str(f["site"])) or {}
            row += [rate(said.get("sensitivity"), "no referable image"),
                    rate(said.get("specificity"), "no non-referable image")]
        pooled = []
        for name in ("sensitivity", "specificity"):
            ci = pooled_referral.get(f"{name}_ci95") or [None, None]
            counts = pooled_referral.get(f"{name}_counts") or []
            pooled.append(cell(pooled_referral.get(name), ci) + (f" {counts[0]}/{counts[1]}" if len(counts) == 2 else ""))
        rows[-1] += pooled
        header += ["referral sensitivity (95% CI)", "referral specificity (95% CI)"]
    lines = [f"#### Figures per site{': ' + variant if variant else ''}", "",
             f"The same out-of-fold grades and probabilities as the pooled figures above, split by site "
             f"(`data.site_column`, oof.csv's `site` column); 95% CIs: percentile bootstrap of each site's "
             f"{resampled}, {metrics.get('n_boot') or 1000} resamples. "
             + ("Each site's images are in one fold (leave-one-site-out): each row is the figure of a site "
                "the fold's model never trained on. With the site as the patient column "
                "(`--patient-column site`), each CI resamples whole sites, very few: the pooled CI and "
                "these are not meaningful; quote the point figures per site." if whole_sites else
                f"The folds were {how.removeprefix('the folds ')}."), ""]
    if referral:
        lines += ["Referral by each fold's own cut (oof.csv's `referred`, `finetune.referral_target`) per "
                  "site: sensitivity and specificity with Wilson score 95% CIs on the site's images (a "
                  "patient's images counted as independent), then the referred count out of the site's "
                  "referable (or non-referable) images; the pooled row's are metrics.json's.", ""]
    lines += markdown_table(header, rows)
    pooled = finite_number(metrics.get("qwk"))
    for f in figures:
        ci = f.get("qwk_ci95") if isinstance(f.get("qwk_ci95"), list | tuple) else [None, None]
        high = finite_number(ci[1]) if len(ci) >= 2 else None
        if (pooled is not None and np.isfinite(f["qwk"]) and int(f.get("n_grades", 2)) >= 2
                and f["n"] >= SITE_MIN_IMAGES and pooled - f["qwk"] >= SITE_GAP
                and high is not None and high < pooled):
            lines += [f"**Site {f['site']} grades much worse than the pooled figure**: {kappa} "
                      f"{format_with_ci(f['qwk'], ci[0], ci[1])} on its {f['n']} images (95% CI's upper "
                      f"bound below the pooled figure) against {figure_text(pooled)} pooled "
                      f"over all {n_images}; the pooled figure hides it. Quote the figures per site, and look "
                      f"at this site's images (another camera or preprocessing?) and its labelled images "
                      f"(more of them, or fine-tuning on them) before using the model there.", ""]
    return lines


def fold_auc_na_lines(fold_records: list[dict[str, Any]], grades: Any, folds: Any,
                      names: list[str]) -> list[str]:
    """The line under a per-fold table whose AUC is n/a for some fold (``metrics.json``'s
    ``folds``): which grade(s) that fold's validation images lack (from the out-of-fold
    ``grades`` and ``folds``, numpy arrays of one entry per image), since a fold's AUC needs an image of every grade; [] when every
    fold's AUC is a number, or when no grade is missing (the n/a then has another cause, not
    explained here)."""
    from data_prep.grades import grade_label

    missing: list[str] = []
    for record in fold_records:
        if finite_number(record.get("auc")) is not None or "fold" not in record:
            continue
        held = set(grades[folds == int(record["fold"])].tolist())
        lacks = [grade_label(g, names) for g in range(len(names)) if g not in held]
        if lacks:
            missing.append(f"fold {record['fold']}'s{' validation images' if not missing else ''} "
                           f"hold no {' or '.join(lacks)} image")
    if not missing:
        return []
    nowhere = [grade_label(g, names) for g in range(len(names)) if g not in set(grades.tolist())]
    pooled = (f"no labelled image at all has {' or '.join(nowhere)}, so the pooled out-of-fold AUC "
              f"above is n/a too: is data.grades the scale of these labels?" if nowhere else
              "the pooled out-of-fold AUC above includes every image; the Data section says "
              "whether every grade can be put in every fold, and how")
    return [f"AUC n/a: {', '.join(missing)}; a fold's AUC needs an image of every grade, so it "
            f"cannot be computed there ({pooled}).", ""]


POOLING_GAP = 0.1
"""A pooled out-of-fold AUC this far below the folds' mean AUC is explained in the report."""


def _pooling_gap(metrics: dict[str, Any]) -> str:
    """A note when the pooled out-of-fold AUC (one-vs-one) is more than :data:`POOLING_GAP`
    below the mean of the folds' own AUCs: each fold model ranks only its own validation
    images, while the pooled AUC also compares images scored by different fold models."""
    per_fold = [f.get("auc") for f in metrics.get("folds", [])]
    per_fold = [a for a in per_fold if isinstance(a, int | float) and math.isfinite(a)]
    pooled = metrics.get("auc")
    if not per_fold or not isinstance(pooled, int | float) or not math.isfinite(pooled):
        return ""
    mean = sum(per_fold) / len(per_fold)
    if mean - pooled <= POOLING_GAP:
        return ""
    return (f"The pooled out-of-fold AUC ({figure_text(pooled)}) is well below the folds' own (mean "
            f"{figure_text(mean)}): each fold's AUC ranks only the images one fold model scored, while "
            f"the pooled one also ranks images of different fold models against each other, whose "
            f"probabilities are on different scales. With few images per fold the folds' own AUCs "
            f"are also very uncertain.")


def _difference_cell(result: dict[str, Any]) -> str:
    """A paired difference with its interval (:func:`drac_ssl.figures.format_difference`, the
    words compare prints too), ``+0.050 (+0.010..+0.090)``; an interval of width 0 is not
    printed as one (``+0.000 (+0.000..+0.000)`` read as certainty): ``+0.000 (CI not
    meaningful: every resample gives 0.000: ...)``, explained under the table."""
    return format_difference(*(result.get(key) for key in ("difference", "ci_low", "ci_high")))


def _zero_width(d: dict[str, Any], titles: dict[str, str]) -> list[str]:
    """The titles of the metrics (``titles``: metric -> title) whose interval in the paired
    difference ``d`` has width 0."""
    return [title for m, title in titles.items() if isinstance(d.get(m), dict)
            and degenerate_ci_reason(d[m].get("ci_low"), d[m].get("ci_high"))]


def _identical(d: dict[str, Any]) -> bool:
    """True when a paired difference is exactly 0 with a (0, 0) CI on every metric: the two
    variants were right and wrong on the same images, resample after resample."""
    return bool(d) and all(isinstance(d.get(m), dict) and d[m].get("difference") == 0
                           and d[m].get("ci_low") == 0 and d[m].get("ci_high") == 0 for m in d)


def _one_grade_differences(pairs: dict[str, tuple[str, str, str]], one_grade: dict[str, str | None],
                           freeze: str | None = None) -> str:
    """How to read the differences ``pairs`` (label -> (variant ``a``, variant ``b``, what
    ``a - b`` is meant to measure)) when a variant of one gave (nearly) every image one grade,
    overall or within each fold (``one_grade``: variant -> :func:`_variant_section`'s words),
    in one paragraph: each such variant's words once, then each difference's reading (both
    variants: it says nothing about whether ``what`` helped, the differences of one ``what``
    said together; ``b`` only: ``a`` learnt something, not that ``what`` helped; ``a`` only:
    ``a`` learnt next to nothing here, not that ``what`` hurts). "" when no difference has
    such a variant. ``freeze``: ``finetune.freeze``, for the variants' titles."""
    said: list[str] = []  # the variants whose words are given, in the order met
    both: dict[str, list[str]] = {}  # what -> labels whose two variants learnt next to nothing
    readings: list[str] = []
    for label, (a, b, what) in pairs.items():
        words_a, words_b = one_grade.get(a), one_grade.get(b)
        said += [v for v, words in ((a, words_a), (b, words_b)) if words and v not in said]
        if words_a and words_b:
            if what not in both:
                readings.append(what)  # its place among the readings, filled in below
            both.setdefault(what, []).append(label)
        elif words_b:
            readings.append(f"{label} says only that {variant_title(a, freeze)} learnt something, "
                            f"not that {what} helped")
        elif words_a:
            readings.append(f"{label} says only that {variant_title(a, freeze)} learnt next to "
                            f"nothing here, not that {what} hurts")
    if not said:
        return ""

    def together(what: str) -> str:
        labels = both[what]
        listed = ", ".join(labels[:-1]) + f" and {labels[-1]}" if len(labels) > 1 else labels[0]
        verbs = ("compare", "say") if len(labels) > 1 else ("compares", "says")
        return (f"{listed} {verbs[0]} two models that learnt next to nothing and {verbs[1]} nothing "
                f"about whether {what} helped")

    said = sorted(said, key=lambda v: list(one_grade).index(v) if v in one_grade else len(one_grade))
    said_of = {v: str(one_grade[v]) for v in said}
    # a tail every variant's words share (the grades follow the fold), said once after them
    tails = {w.rpartition("): ")[2] for w in said_of.values() if "): " in w}
    tail = tails.pop() if len(said) > 1 and len(tails) == 1 and all("): " in w for w in said_of.values()) else ""
    if tail:
        said_of = {v: w[:-len(tail) - 2] for v, w in said_of.items()}
    words = "; ".join(f"{variant_title(v, freeze)}: {said_of[v]}" for v in said)  # the table's order
    words += f"; in each, {tail}" if tail else ""
    return (f"**Read with care:** {words}. So "
            + "; ".join(together(r) if r in both else r for r in readings) + ".")


def fold_share_words(defined: Any, count: Any) -> str:
    """``" (over 4 of 5 folds)"`` when a fold mean and SD rest on fewer folds than there are
    (``defined`` folds whose kappa is defined, of ``count``; the others, where the grades and the
    answers were all one and the same grade, have none and are left out of the mean), else ``""``, also
    when either count is unknown (a run made before they were stored)."""
    if (isinstance(defined, int) and isinstance(count, int) and not isinstance(defined, bool)
            and 0 <= defined < count):
        return f" (over {defined} of {count} folds)"
    return ""


def _fold_counts(ft: Path, row: dict[str, Any]) -> tuple[Any, Any]:
    """How many of a variant's folds have a defined kappa, and how many folds: the row's
    ``qwk_fold_defined`` / ``qwk_fold_count``, else its ``metrics.json``'s, else counted from
    that file's ``folds`` (runs made before they were stored); (None, None) when none is there."""
    if "qwk_fold_defined" in row and row.get("qwk_fold_defined") is not None:
        return row.get("qwk_fold_defined"), row.get("qwk_fold_count")
    metrics = read_json(ft / str(row.get("variant")) / "metrics.json")
    if not isinstance(metrics, dict):
        return None, None
    if metrics.get("qwk_fold_defined") is not None:
        return metrics.get("qwk_fold_defined"), metrics.get("qwk_fold_count")
    folds = [f for f in metrics.get("folds") or [] if isinstance(f, dict)]
    if not folds:
        return None, None
    defined = sum(1 for f in folds if finite_number(f.get("qwk")) is not None)
    return defined, len(folds)


def _fold_mean_sd(ft: Path, row: dict[str, Any]) -> str:
    """The comparison table's ``fold QWK mean ± SD`` cell: ``0.512 ± 0.040``, with
    :func:`fold_share_words` when some fold's kappa was undefined and left out of both."""
    return (f"{figure_text(row.get('qwk_fold_mean'))} ± {figure_text(_fold_sd(ft, row))}"
            + fold_share_words(*_fold_counts(ft, row)))


def _fold_sd(ft: Path, row: dict[str, Any]) -> Any:
    """The sample SD (ddof=1) of a variant's fold kappas, as the table labels it: the row's
    ``qwk_fold_std`` when ``qwk_fold_std_ddof`` says it is one, else recomputed from the
    folds of its ``metrics.json`` (older versions wrote the population SD, ddof=0, unsaid);
    None when neither is there."""
    if row.get("qwk_fold_std_ddof") == 1:
        return row.get("qwk_fold_std")
    metrics = read_json(ft / str(row.get("variant")) / "metrics.json")
    if isinstance(metrics, dict) and metrics.get("qwk_fold_std_ddof") == 1:
        return metrics.get("qwk_fold_std")
    folds = metrics.get("folds") if isinstance(metrics, dict) else None
    qwk = [float(f["qwk"]) for f in folds or [] if isinstance(f, dict) and isinstance(f.get("qwk"), int | float)
           and math.isfinite(f["qwk"])]
    if len(qwk) < 2:
        return None
    mean = sum(qwk) / len(qwk)
    return math.sqrt(sum((q - mean) ** 2 for q in qwk) / (len(qwk) - 1))


def majority_grade(run_dir: Path, comparison: dict[str, Any]) -> dict[str, Any] | None:
    """The figures of always answering the most frequent out-of-fold grade
    (:func:`drac_ssl.metrics.majority_grade_reference`): ``comparison.json``'s
    ``majority_grade``, else, for a run made before the fine-tuning stored it, computed from
    the labels of the first variant's ``oof.csv`` that reads (every variant grades the same
    images); None when neither is there."""
    stored = comparison.get("majority_grade")
    if isinstance(stored, dict) and isinstance(stored.get("accuracy"), int | float):
        return stored
    names = comparison.get("class_names")
    for row in comparison.get("rows") or []:
        try:
            oof = read_oof(run_dir / "finetune" / str(row.get("variant")) / OOF_FILE)
            return majority_grade_reference(oof.grades, names if isinstance(names, list)
                                            and len(names) == oof.num_grades else None)
        except (OofError, AttributeError):
            continue
    return None


MAJORITY_TITLE = "majority grade (always {name})"
"""The reference row of report.md's variant table, ``{name}``: the grade always answered."""


def _with_referable_screening(ft: Path, rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], int | None]:
    """``comparison.json``'s ``rows`` with each variant's referable ``sensitivity`` and
    ``specificity`` at the submitted grades, for a cut on more than two grades: the row's
    ``referable_sensitivity`` / ``referable_specificity``, else (a comparison written before
    them) its ``metrics.json``'s ``referable``; and the cut (``from_grade`` of the first
    ``metrics.json`` that records one; None when none does). A variant without them keeps its
    row as it is (its cells then n/a)."""
    out, cut = [], None
    for row in rows:
        metrics = read_json(ft / str(row.get("variant")) / "metrics.json")
        referable = metrics.get("referable") if isinstance(metrics, dict) else None
        referable = referable if isinstance(referable, dict) else {}
        found = referable.get("from_grade")
        cut = found if cut is None and isinstance(found, int) and not isinstance(found, bool) else cut
        figures = {name: row.get(f"referable_{name}", referable.get(name)) for name in ("sensitivity", "specificity")}
        out.append({**row, **figures} if any(v is not None for v in figures.values()) else row)
    return out, cut


def referable_off_words(run_dir: Path, names: Any) -> str:
    """The note of report.md on a run of more than two grades without referable-DR figures
    because ``finetune.referable_from=auto`` gives a cut on the ICDR scale alone
    (:func:`drac_ssl.config.referable_cut`): which setting gives them, and a new run taking this
    one's stages that does (its fine-tuning folds are reused when their settings match, only
    the figures are made again). A plain paragraph, not a warning (no bold lead): "Read this
    first" does not list it, the run having done what its settings say.

    "" for another run: two grades, the ICDR scale, DRAC's scale (``Normal, NPDR, PDR``, every
    run on DRAC's kind of data (:func:`drac_ssl.challenge.drac_scale`) among them: that scale
    has no standard cut, and auto is off on it on purpose, docs/configuration.md), a cut given,
    or ``off`` (asked for), or a run without ``config.yaml``. Only ``python -m drac_ssl.compare``
    said it, not the report (a screening trial's R0..R3 run was silently without them)."""
    from drac_ssl.config import GRADE_SCALES

    if not isinstance(names, list) or len(names) <= 2:
        return ""
    scale = tuple(str(n) for n in names)
    if scale in (GRADE_SCALES["icdr"], GRADE_SCALES["drac"]) or _drac_data(run_dir):
        return ""
    finetune = _saved_config(run_dir).get("finetune")
    setting = finetune.get("referable_from", "auto") if isinstance(finetune, dict) else None
    if str(setting).strip().lower() != "auto":  # a cut given, off, or no config.yaml
        return ""
    cut = min(2, len(names) - 1)
    return (f"No referable-DR figures: `finetune.referable_from=auto` gives a referable cut on the ICDR "
            f"scale (grade >= 2) and on two grades only, not on this scale ({', '.join(map(str, names))}). "
            f"To have them, set the first referable grade, e.g. `finetune.referable_from={cut}` (referable = "
            f"grade >= {cut}, {names[cut]} or worse), for the AUC of P(referable) and its sensitivity and "
            f"specificity with their 95% CIs here, in the export and the app: in a new run that takes this "
            f"one's stages, `run.reuse={run_dir} run.name=NEW finetune.referable_from={cut}` added to this "
            f"run's command (its fine-tuning folds are reused, only the figures are made again), or "
            f"`finetune.referable_from=off` to say there is none.")


def _tied_majority(majority: dict[str, Any]) -> list[str]:
    """The grades tied as the most frequent (``majority``'s ``tied``, recorded since a CLAIM
    review), [] when one grade alone is (or a comparison.json written before the key)."""
    tied = majority.get("tied")
    return [str(t) for t in tied] if isinstance(tied, list) and len(tied) > 1 else []


def _tie_words(majority: dict[str, Any], names: Sequence[str] | None) -> tuple[str, str]:
    """The grades tied as the most frequent and the lowest of them, in words: as the package
    names grades (``grades 0 (Normal), 1 (NPDR) and 2 (PDR)``, ``grade 0 (Normal)``,
    :func:`drac_ssl.scale.grades_words`) from ``names`` (``comparison.json``'s
    ``class_names``); by their names alone when ``names`` does not hold them (not recorded).
    ``('', name)`` when no grades are tied."""
    tied = _tied_majority(majority)
    named = list(names) if isinstance(names, Sequence) and not isinstance(names, str) else []
    if tied and all(t in named for t in tied):  # grade 0 (Normal), as the package says grades
        return grades_words([named.index(t) for t in tied], named), grades_words([named.index(tied[0])], named)
    return ", ".join(tied), str(majority.get("name"))


def _majority_title(majority: dict[str, Any], names: Sequence[str] | None = None) -> str:
    """The variant table's majority row title: ``majority grade (always No DR)``, ``...
    (always grade 0 (No DR), the lowest of 5 grades tied as most frequent)`` in a tie, the
    lowest grade said as the sentence under the table says it (:func:`_tie_words`, ``names``:
    ``comparison.json``'s ``class_names``)."""
    tied = _tied_majority(majority)
    lowest = _tie_words(majority, names)[1]
    return MAJORITY_TITLE.format(name=f"{lowest}, the lowest of {len(tied)} grades tied as most frequent" if tied
                                 else majority.get("name"))


def _majority_row(majority: dict[str, Any], referable: bool, screening: bool, two: bool = False,
                  names: Sequence[str] | None = None) -> list[str]:
    """The variant table's row of always answering the most frequent grade: its accuracy and
    macro F1; QWK 0 and AUCs 0.5 by definition; no CI, fold figures or time (nothing trained).
    ``two``: the two-grade table's columns (one AUC); ``names``: ``comparison.json``'s
    ``class_names``, for a tie's title (:func:`_majority_title`)."""
    if two:
        return ([_majority_title(majority, names), "0 (by definition)", "",
                 "0.5 (by definition)", figure_text(majority.get("accuracy")),
                 figure_text(majority.get("macro_f1")), "", ""]
                + ([figure_text(majority.get("sensitivity")), figure_text(majority.get("specificity"))]
                   if screening else []))
    return ([_majority_title(majority, names), "0 (by definition)", "",
             "0.5 (by definition)", "0.5 (by definition)", figure_text(majority.get("accuracy")),
             figure_text(majority.get("macro_f1")), "", ""]
            + (["0.5 (by definition)"] if referable else [])
            + ([figure_text(majority.get("sensitivity")), figure_text(majority.get("specificity"))]
               if screening else []))


def majority_words(majority: dict[str, Any], rows: Sequence[dict[str, Any]], freeze: str | None = None,
                   names: Sequence[str] | None = None) -> str:
    """The sentence under the variant table that reads it against the majority grade: what
    the reference row is (how many images have that grade, from the labels alone), why its
    QWK and AUCs are what they are, and how far each variant (``rows``: ``comparison.json``'s)
    is above it in accuracy (below: said so). A tie names its grades as the package names
    grades (``grades 0 (Normal), 1 (NPDR) and 2 (PDR)``, :func:`_tie_words`) from ``names``
    (``comparison.json``'s ``class_names``); by their names alone when ``names`` does not hold
    them (not recorded)."""
    floor = finite_number(majority.get("accuracy"))
    gaps = []
    for r in rows:
        acc = finite_number(r.get("accuracy"))
        gap = "n/a" if acc is None or floor is None else (
            f"{acc - floor:+.3f}" + (" (not above it)" if acc - floor <= 0 else ""))
        gaps.append(f"{variant_title(str(r.get('variant')), freeze)} {gap}")
    images, n = majority.get("images"), majority.get("n")
    share = f"{images} of the {n} out-of-fold images" if isinstance(images, int) and isinstance(n, int) else "the most"
    tied = _tied_majority(majority)
    each = f"{images} of the {n} out-of-fold images each" if share != "the most" else "as many images each"
    of, lowest = _tie_words(majority, names)
    grade = (f"grade, {majority.get('name')} ({share} have it)" if not tied else
             f"grade, a tie of {of} ({each}), so the lowest of them, {lowest}")
    return (f"The last row is the floor to read the variants against: always answering the most frequent "
            f"{grade}, computed from the labels alone, with "
            f"no model; its QWK 0 and AUCs 0.5 hold by definition ("
            f"{majority.get('by_definition') or MAJORITY_BY_DEFINITION}). Accuracy above it: "
            + ", ".join(gaps) + ".")


IMAGE_UNIT_CAVEAT = (
    "The intervals take each image as its own unit. If several images come from one patient or one eye "
    "(two photographs of an eye, both eyes of a patient, near copies) and the data name no patient "
    "(`data.patient_column`), those images are not independent: the intervals are then too narrow, and "
    "the figures optimistic, since per-image folds can train on another photograph of the eye they grade "
    "(docs/evaluation.md, Folds; `bench/results/twin_folds_retinamnist.json` in the repository measures "
    "RetinaMNIST with its near twins kept in one fold).")
"""report.md's caveat under the protocol line when the bootstrap resampled images
(``comparison.json``'s ``ci_resamples`` ``images``, or a run made before it was stored): the
protocol's "each its own unit" is an assumption the data may break (stats audit F4)."""

NOT_INDEPENDENT = ("those images are not independent: the intervals are then too narrow, and the figures "
                   "optimistic, since the folds can train on another photograph of the eye they grade "
                   "(docs/evaluation.md, Folds).")
"""The end of :func:`clustering_caveat`'s words for units that are not a patient."""


def clustering_caveat(resampled: Any, without_patient: int | None = None, n: int | None = None) -> str | None:
    """report.md's caveat under the protocol line whenever some of the bootstrap's units name
    no patient: images of one patient or one eye may then be resampled as if independent, which
    narrows the intervals (stats audit F4).

    ``resampled``: ``comparison.json``'s ``ci_resamples`` (``images``, ``groups``,
    ``patients``; None for a run made before it was stored); ``without_patient``: how many of
    the ``n`` labelled images name no patient (the manifest's ``patient`` column empty,
    :func:`_images_without_patient`), None when not known. ``images`` (or None):
    :data:`IMAGE_UNIT_CAVEAT`. ``groups`` with no image naming a patient (or not known):
    each image its own unit but for the near twins the ingest joined
    (``data.near_duplicate_mse``; :func:`drac_ssl.oof.resampling_kind` says ``groups`` then
    too), said so. Patients or groups with some images lacking one: those images counted, as
    their own units (or with their near twins). None when every image names a patient, or
    ``patients`` with the count not known (as before the caveat)."""
    if resampled in (None, "images"):
        return IMAGE_UNIT_CAVEAT
    if without_patient == 0 or (resampled != "groups" and without_patient is None):
        return None
    joined = resampled == "groups"
    if without_patient is None or without_patient == n:  # groups: near twins joined, no patient known
        return ("The intervals take each image as its own unit, but for the near twins the ingest joined "
                "(`data.near_duplicate_mse`), resampled together. If several images come from one patient or "
                "one eye without being near copies (two photographs of an eye, both eyes of a patient) and the "
                "data name no patient (`data.patient_column`), " + NOT_INDEPENDENT)
    return (f"{without_patient:,} of the {n:,} images name no patient (the manifest's `patient` column empty "
            "for them): the intervals take each of them as its own unit"
            + (" (or with the near twins the ingest joined it to, `data.near_duplicate_mse`)" if joined else "")
            + ". If several of them come from one patient or one eye (two photographs of an eye, both eyes of a "
              "patient" + ("" if joined else ", near copies") + "), " + NOT_INDEPENDENT)


def _images_without_patient(run_dir: Path) -> tuple[int, int] | None:
    """``(images naming no patient, labelled images)`` of the run's ``data/manifest.csv``, of
    the rows the fine-tuning resampled (:func:`drac_ssl.manifest.labelled_rows`, whose
    ``patient`` column :func:`drac_ssl.oof.patient_groups` reads); None without a readable
    manifest."""
    try:
        rows = labelled_rows(read_manifest(run_dir / "data" / "manifest.csv", ("id", "grade", "split", "fold")))
    except (FileNotFoundError, ManifestError):
        return None
    return sum(1 for r in rows if not str(r.get("patient") or "").strip()), len(rows)


def transductive_words(run_dir: Path, rows: Sequence[dict[str, Any]], freeze: str | None) -> str | None:
    """The caption under report.md's comparison table that says what the pretrained variants
    saw and scratch did not: pretraining learns, without labels, from every ingested image
    (:func:`drac_ssl.pretrain.load_pretrain_data`), so from all the out-of-fold images the table
    scores, and from the test images when ``pretrain/metadata.json``'s ``training_data`` says so
    (``... training and test images ...``): a transductive advantage (docs/evaluation.md, "What
    pretraining saw"). None when no row is a pretrained variant."""
    pretrained = [variant_title(str(r.get("variant")), freeze) for r in rows if r.get("variant") != "scratch"]
    if not pretrained:
        return None
    meta = read_json(run_dir / "pretrain" / "metadata.json")
    seen = str(meta.get("training_data") or "") if isinstance(meta, dict) else ""
    test = " and the test images" if "and test images" in seen else ""
    scratch = any(r.get("variant") == "scratch" for r in rows)
    return (f"{' and '.join(pretrained)}: pretraining saw, without labels, every image this table scores (the "
            f"images of all the folds){test}" + ("; scratch saw none of them before its fine-tuning" if scratch
                                                   else "")
            + ". That is a transductive advantage of the pretrained variants (pixels, never a grade), which "
              "images new to the pretraining would not give them (docs/evaluation.md, \"What pretraining "
              "saw\").")


def _finetune_section(run_dir: Path, figures: Path) -> list[str]:
    ft = run_dir / "finetune"
    comparison = read_json(ft / "comparison.json")
    lines = ["## Cross-validated fine-tuning", ""]
    if not isinstance(comparison, dict) or not comparison.get("rows"):
        return lines + [_not_done(run_dir, "finetune", "finetune/comparison.json"), ""]
    rows = comparison["rows"]
    freeze = run_freeze(run_dir)
    lines += [comparison.get("protocol", ""), ""]
    # the selected variant's recorded keep, else config.yaml's (variant_keep: train's result
    # line and compare read it so); "Read this first" says it; an older run's too (it ran so)
    chosen = selected_metrics(run_dir)  # read once: the keep caveat and the referral note below
    if run_keep(run_dir, chosen) == "best":
        lines += [f"**Figures {KEEP_BEST_CAVEAT.split(' (', 1)[0]}** ({KEEP_BEST_CAVEAT.split(' (', 1)[1]}.", ""]
    unit = comparison.get("ci_resamples")
    counted = None if unit in (None, "images") else _images_without_patient(run_dir)
    caveat = clustering_caveat(unit, *(counted or (None, None)))
    if caveat:
        lines += [caveat, ""]
    lines += [f"### Scratch vs {PRETRAIN_METHOD} vs {PRETRAIN_METHOD} + UMM", ""]
    referable = any("referable_auc" in r for r in rows)  # a referable cut (ICDR): one more column
    screening = any("sensitivity" in r for r in rows)  # two grades: the screening decision's figures
    two = len(comparison.get("class_names") or ()) == 2
    majority = majority_grade(run_dir, comparison)
    if referable and not screening and not two:
        # a cut on more grades: its sensitivity and specificity at the submitted grades, as two
        # grades have them (a K = 4 run with finetune.referable_from=2 showed the AUC alone)
        rows, cut = _with_referable_screening(ft, rows)
        screening = any("sensitivity" in r for r in rows)
        if majority and screening and cut is not None and isinstance(majority.get("grade"), int):
            above = majority["grade"] >= cut  # always one grade: every image referable, or none
            majority = {**majority, "sensitivity": 1.0 if above else 0.0, "specificity": 0.0 if above else 1.0}
    if two:  # one AUC, P(referable)'s with its CI, and the kappa by its name (a Messidor-2 trial, F4/F5)
        lines += markdown_table(
            ["variant", KAPPA_TWO_GRADES, "95% CI", f"{AUC_TWO_GRADES} (95% CI)", "accuracy", "macro F1",
             "fold kappa mean ± SD", "seconds"] + (["sensitivity", "specificity"] if screening else []),
            [[variant_title(r["variant"], freeze), figure_text(r.get("qwk")),
              format_ci(r.get("qwk_ci_low"), r.get("qwk_ci_high"), r.get("qwk_ci_note")),
              format_with_ci(r.get("referable_auc"), r.get("referable_auc_ci_low"), r.get("referable_auc_ci_high"))
              if "referable_auc" in r else figure_text(r.get("auc")),
              figure_text(r.get("accuracy")), figure_text(r.get("macro_f1")),
              _fold_mean_sd(ft, r), figure_text(r.get("seconds"), 1)]
             + ([figure_text(r.get("sensitivity")), figure_text(r.get("specificity"))] if screening else [])
             for r in rows]
            + ([_majority_row(majority, referable, screening, two=True, names=comparison.get("class_names"))] if majority else []))
    else:
        lines += markdown_table(
            ["variant", "QWK", "95% CI", "AUC (OvO)", "AUC (OvR)", "accuracy", "macro F1",
             "fold QWK mean ± SD", "seconds"] + (["referable AUC (95% CI)"] if referable else [])
            + (["sensitivity", "specificity"] if screening else []),
            [[variant_title(r["variant"], freeze), figure_text(r.get("qwk")),
              format_ci(r.get("qwk_ci_low"), r.get("qwk_ci_high"), r.get("qwk_ci_note")), figure_text(r.get("auc")),
              figure_text(r.get("auc_ovr")), figure_text(r.get("accuracy")), figure_text(r.get("macro_f1")),
              _fold_mean_sd(ft, r), figure_text(r.get("seconds"), 1)]
             + ([format_with_ci(r.get("referable_auc"), r.get("referable_auc_ci_low"),
                                r.get("referable_auc_ci_high"))] if referable else [])
             + ([figure_text(r.get("sensitivity")), figure_text(r.get("specificity"))] if screening else [])
             for r in rows]
            + ([_majority_row(majority, referable, screening, names=comparison.get("class_names"))] if majority else []))
    seen = transductive_words(run_dir, rows, freeze)
    if seen:
        lines += [seen, ""]
    lines += [f"Fold {'kappa' if two else 'QWK'} mean ± SD: the mean of the folds' own (calibrated) kappas and "
              "their sample SD over the folds (ddof=1); a fold whose kappa is undefined (its grades and its "
              "answers all one grade) is left out of both, and the cell then says over how many folds.", ""]
    if majority:
        lines += [majority_words(majority, rows, freeze, comparison.get("class_names")), ""]
    if referable and not two:
        rule = next((m["referable"].get("rule") for m in (read_json(ft / r["variant"] / "metrics.json")
                                                          for r in rows)
                     if isinstance(m, dict) and isinstance(m.get("referable"), dict)), None)
        lines += ["Referable AUC: the ROC AUC of P(referable) out of fold"
                  + (f" ({rule})" if rule else "")
                  + ("; sensitivity and specificity: of that referable decision, at the submitted grades "
                     "(grade at or above the cut), out of fold; each variant's section gives them with "
                     "their counts and 95% CIs." if screening else
                     "; each variant's section gives its sensitivity and specificity."), ""]
    elif not referable and not two and (off := referable_off_words(run_dir, comparison.get("class_names"))):
        lines += [off, ""]
    if two:  # the one AUC of two grades and the kappa's name, said once
        lines += ["With two grades the one-vs-one and one-vs-rest AUCs are the same number: the "
                  "ROC AUC of grade 1 against grade 0, P1 = P(referable), the table's one AUC column"
                  + (" (with its 95% CI); each variant's section gives the sensitivity and specificity "
                     "with theirs" if referable else "")
                  + ". The kappa is Cohen's: with two grades the quadratic weighted kappa (QWK) equals it.", ""]
    bars = [{"name": variant_title(r["variant"], freeze), "qwk": r.get("qwk"),
             "qwk_ci_low": r.get("qwk_ci_low"), "qwk_ci_high": r.get("qwk_ci_high"), "auc_ovo": r.get("auc"),
             "auc_ovr": r.get("auc_ovr"), "accuracy": r.get("accuracy"), "macro_f1": r.get("macro_f1")}
            for r in rows]
    sizes = sorted({r.get("n") for r in rows if isinstance(r.get("n"), int)})
    n_words = f", n = {sizes[0]} images" if len(sizes) == 1 else ""
    # the count as the confusion and ROC titles say it, whole on its line when the title wraps
    if two:  # one AUC bar, the kappa by its name
        png = plot_comparison(bars, ["qwk", "auc_ovr", "accuracy", "macro_f1"], figures / "comparison.png",
                              "Out-of-fold metrics per backbone variant, Cohen's kappa (K=2: QWK equals it) "
                              "with its 95% CI",
                              metric_labels={"qwk": "Cohen's kappa\n(K=2: QWK equals it)",
                                             "auc_ovr": f"{AUC_TWO_GRADES}\n(one-vs-one = one-vs-rest)",
                                             "accuracy": "accuracy", "macro_f1": "macro F1"},
                              n=sizes[0] if len(sizes) == 1 else None)
        lines += _figure(run_dir, png, f"Comparison of the variants{n_words}: {COMPARISON_ALT_TWO_GRADES}",
                         caption=figure_caption(png.stem).replace("QWK with its 95% CI", f"{KAPPA_TWO_GRADES} "
                                                                  "with its 95% CI"))
    else:
        png = plot_comparison(bars, ["qwk", "auc_ovo", "auc_ovr", "accuracy", "macro_f1"], figures / "comparison.png",
                              "Out-of-fold metrics per backbone variant, QWK with its 95% CI",
                              metric_labels={"qwk": "QWK", "auc_ovo": "AUC (one-vs-one)",
                                             "auc_ovr": "AUC (one-vs-rest)", "accuracy": "accuracy",
                                             "macro_f1": "macro F1"},
                              n=sizes[0] if len(sizes) == 1 else None)
        lines += _figure(run_dir, png, figure_alt(png.stem, f"Comparison of the variants{n_words}"))
    # each variant's section once: its lines come last, its one-grade words qualify the differences
    drac = _drac_data(run_dir)
    sections = {r["variant"]: _variant_section(run_dir, figures, r["variant"], drac) for r in rows}
    # label -> (minuend, subtrahend, what the difference is meant to measure, the stored difference)
    pairs = {f"{VARIANT_TITLES.get(name, name)} - scratch": (name, "scratch", "pretraining", d)
             for name, d in (comparison.get("pretrained_minus_scratch") or {}).items()}
    if isinstance(comparison.get("umm_minus_vicreg"), dict):
        pairs[f"{PRETRAIN_METHOD} + UMM - {PRETRAIN_METHOD}"] = ("vicreg_umm", "vicreg", "UMM",
                                                                 comparison["umm_minus_vicreg"])
    differences = {label: d for label, (_, _, _, d) in pairs.items()}
    if differences:
        titles = ({"accuracy": "accuracy", "qwk": "Cohen's kappa", "auc_ovr": AUC_TWO_GRADES} if two else
                  {"accuracy": "accuracy", "qwk": "QWK", "auc_ovr": "AUC (OvR)", "auc_ovo": "AUC (OvO)"})
        if not any(isinstance(d, dict) and "auc_ovo" in d for d in differences.values()):
            titles.pop("auc_ovo", None)  # a run fine-tuned before the OvO difference was stored
        resampled = {"patients": "the patients (each with all its images)",  # comparison.json's ci_resamples
                     "groups": "the image groups the folds kept whole (each with all its images)",
                     }.get(str(comparison.get("ci_resamples")), "these images")
        lines += [f"Does pretraining help, and does UMM add to {PRETRAIN_METHOD}? Each difference on the same "
                  "out-of-fold images, with a paired bootstrap 95% CI (a CI that contains 0 is consistent with "
                  "no difference; for these images and this one training, differences well beyond its ends are "
                  f"unlikely). The CI resamples {resampled} for this one training: "
                  "training randomness is not in it, and the same run with another run.seed can "
                  "move a difference by as much as the CI's half-width (put such runs side by side "
                  f"with `{python_command('drac_ssl.compare', in_file=True)}`):", ""]
        if freeze == "frozen" and "scratch" in {r.get("variant") for r in rows}:
            lines[-2:-2] = ["With the backbone frozen (finetune.freeze=frozen), scratch is a random backbone "
                            "that is never trained, under a trained head: a difference against scratch compares "
                            "pretrained frozen features with random frozen features, not against a network "
                            "trained from scratch (finetune.freeze=all trains one).", ""]
        lines += markdown_table(["difference", *titles.values()],
                                [[label, *(_difference_cell(d.get(m, {})) for m in titles)]
                                 for label, d in differences.items() if isinstance(d, dict)])
        n_cis = len(titles) * sum(isinstance(d, dict) for d in differences.values())
        by_chance = []
        for name in sorted({n for minuend, subtrahend, _, _ in pairs.values() for n in (minuend, subtrahend)}):
            variant_metrics = read_json(ft / name / "metrics.json")
            if isinstance(variant_metrics, dict) and chance_warning(variant_metrics):
                by_chance.append(variant_title(name, freeze))
        lines += ["", f"This table holds {n_cis} CIs: a 95% CI excludes 0 one time in twenty by chance "
                      f"alone when nothing differs, so one that does is a hint to check, not a finding; "
                      f"a CI that ends at 0 (e.g. -0.125..+0.000) touches 0, so it too is consistent with no "
                      f"difference."
                  + (f" {', '.join(by_chance)}: no evidence of grading better than chance (see "
                     f"its section), and a difference against a model no better than chance says "
                     f"nothing about what changed." if by_chance else ""), ""]
        same = [label for label, d in differences.items() if isinstance(d, dict) and _identical(d)]
        if same:
            lines += [f"{', '.join(same)}: exactly 0 with a CI of 0..0, which is not certainty: the two "
                      f"variants graded the same images right and wrong and ranked them alike, so "
                      f"these images cannot tell them apart (often one stage changed nothing the "
                      f"fine-tuning could use).", ""]
        flat = [f"{label}: {', '.join(widthless)}" for label, d in differences.items()
                if isinstance(d, dict) and label not in same and (widthless := _zero_width(d, titles))]
        if flat:
            lines += ["CI not meaningful (width 0): " + "; ".join(flat) + ". Every resample gave that "
                      "difference, which is not certainty: these images cannot move it (e.g. both "
                      "variants gave every image one grade, so both kappas are 0 on every resample).", ""]
        one_grade = {name: section[1] for name, section in sections.items()}
        note = _one_grade_differences({label: (a, b, what) for label, (a, b, what, d) in pairs.items()
                                       if isinstance(d, dict)}, one_grade, freeze)
        lines += [note, ""] if note else []
    summary = read_json(ft / "summary.json")
    if isinstance(summary, dict):
        # a tie said as one, for a summary written before those words too (recorded_selection)
        why = recorded_selection(str(summary.get("selection") or ""), summary.get("variants"),
                                 summary.get("decision"), str(summary.get("selected")), drac=_drac_data(run_dir))
        # K >= 3 with finetune.referral_target: the variant is still chosen by the grades' figure
        chosen_referral = ((chosen.get("referable") or {}).get("referral") if isinstance(chosen, dict) else None)
        if isinstance(chosen_referral, dict) and not (chosen or {}).get("referral_decides_grade"):
            by = "QWK" if summary.get("decision", "thresholds") == "thresholds" else "accuracy"
            why += f"; chosen by {by}; referral target not used to choose"
        lines += [f"Selected for export: **{summary.get('selected')}** ({why})"
                  + (f"; {summary['selection_evidence']}" if summary.get("selection_evidence") else "")
                  + "."
                  # chosen on the images it is scored on (the model card says the same)
                  + (" Chosen as the best of these variants on the same out-of-fold images, its "
                     "figures overstate, by an amount not measured here, how it grades new images."
                     if len(rows) > 1 else ""), ""]
        chance = chance_warning(chosen) if isinstance(chosen, dict) else None
        if chance:
            lines += [f"> **{chance}**", ""]
    leaderboard = _leaderboard_words(run_dir)
    if leaderboard:  # DRAC's kind of data only: the figures above against the challenge's
        lines += [leaderboard, ""]
    for section, _ in sections.values():
        lines += section
    return lines


def _leaderboard_words(run_dir: Path) -> str:
    """The paragraph on the DRAC 2022 leaderboard (:func:`drac_ssl.challenge.leaderboard_words`)
    for a run on DRAC's kind of data: the official layout's images (the comparison, and why the
    out-of-fold QWK is not a leaderboard score), the phantom set, phantoms mixed into the data
    or a trial run (not comparable); '' for any other data set (:func:`drac_ssl.challenge.drac_scale`,
    the model card's rule too), and without an ingest summary."""
    facts = read_ingest_facts(run_dir / "data")
    prov = data_provenance(run_dir / "data", facts.grade_names)
    size = (_saved_config(run_dir).get("finetune") or {}).get("image_size")
    return leaderboard_words(prov, facts.grade_names, bool(_cut_short_words(run_dir)),
                             size if isinstance(size, int) else None)


def _export_section(run_dir: Path) -> list[str]:
    lines = ["## Export", ""]
    meta = read_json(run_dir / "bundle" / "metadata.json")
    if not isinstance(meta, dict):
        return lines + [_not_done(run_dir, "export", "bundle/metadata.json"), ""]
    lines += [f"- bundle: `bundle/` ({meta.get('variant')} variant, {len(meta.get('folds', []))} fold models, "
              f"Grad-CAM layer `{meta.get('gradcam_target_layer')}`); model card: `bundle/MODEL_CARD.md`"]
    summary = read_json(run_dir / "export" / "summary.json")
    if isinstance(summary, dict) and summary.get("submission"):
        lines.append(f"- submission: `export/submission.csv`, {summary.get('n_test')} test images, checked "
                     f"with `drac_ssl.submission.check_submission`")
        notes = Path(summary["image_notes"]) if isinstance(summary.get("image_notes"), str) else None
        shown = None if notes is None else notes.relative_to(run_dir) if notes.is_relative_to(run_dir) else notes
        decision = summary.get("decision")
        if isinstance(decision, str) and decision:  # what its class column is (the export's words)
            # the rows with a grade_note by why (an export from before a key: 0 of them);
            # n_class_not_most_probable counts the rows equal at the percentages shown too
            n_off, n_near_tie, n_equal_shown = (
                value if isinstance(value := summary.get(key), int) and not isinstance(value, bool) else 0
                for key in ("n_class_not_most_probable", "n_class_near_tie", "n_class_not_most_probable_equal_shown"))
            n_off = max(0, n_off - n_equal_shown)
            n_test = summary.get("n_test") if isinstance(summary.get("n_test"), int) else 0
            why = f"why in the grade_note column of `{shown.as_posix()}`" if shown is not None else ""
            rule = (class_rule_setting_words(decision, n_off, n_test, why, n_near_tie, markdown=True,
                                             n_equal_shown=n_equal_shown)
                    if not isinstance(summary.get("class_rule"), str) else summary["class_rule"])  # referral cut
            lines.append(f"- its class: {rule}; its P columns: {probability_columns_words(meta)}")
        if notes is not None and shown is not None and summary.get("n_flagged"):  # some test image not reliably gradable
            lines.append(f"- not reliably gradable: {summary.get('n_flagged')} of the {summary.get('n_test')} "
                         f"test images, their rows in the submission like any other; per case, why, in "
                         f"`{shown.as_posix()}`")
    for note in (summary or {}).get("notes", []) if isinstance(summary, dict) else []:
        lines.append(f"- note: {note}")
    return lines + [""]


def _run_codes(run_dir: Path, reused: bool = False) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The code the run was made with (``environment.json``; {} when absent) and the code each
    stage ran on (``stages.json``'s ``code``, where recorded): of the stages run in this folder,
    or with ``reused`` of those taken from another run by ``run.reuse`` (their code there)."""
    env = read_json(run_dir / "environment.json")
    stages = read_stages_record(run_dir)
    codes = {name: s["code"] for name, s in stages.items()
             if isinstance(s, dict) and isinstance(s.get("code"), dict)
             and bool(s.get("reused_from")) == reused}
    return (env if isinstance(env, dict) else {}), codes


def mixed_code_words(run_dir: Path) -> str | None:
    """Words for a run whose stages ran on other code than the run was made with (the
    checkout changed during the run, e.g. a merge, or newer code resumed it: ``stages.json``'s
    ``code``, compared by :func:`drac_ssl.runtime.same_code`), else None. A run made by code of
    unknown version (:func:`drac_ssl.runtime.code_known`: no commit, no fingerprint) resumed
    by code that names itself may mix versions: said so."""
    env, codes = _run_codes(run_dir)
    start = env if env.get("git_commit") or env.get("code_fingerprint") else next(iter(codes.values()), {})
    other = {name: c for name, c in codes.items() if not same_code(c, start)}
    if not other:
        return None
    def differs(c: dict[str, Any]) -> str:  # what tells the stage's code from the run's (none: unknown)
        return f" ({runtime.code_difference(c, start)})" if code_known(start) else ""

    listed = (", ".join(f"{name}: {code_words(c, start)}{differs(c)}" for name, c in other.items())
              + " (`stages.json`, each stage's `code`, compared by their code fingerprints, the Python "
                "source; records without one by commit and dirty flag, which any edited tracked file sets).")
    if not code_known(start):
        return (f"**The run may mix code versions:** it was made by {runtime.UNKNOWN_CODE} "
                f"(`environment.json`), and these stages ran on code that is named: " + listed
                + " Its results may not be those of one version of the code.")
    return (f"**The run mixed code versions:** it was made at {code_at(start, next(iter(other.values())))} "
            f"(`environment.json`), but the code changed during it and these stages ran on "
            f"other code: " + listed + " Its results may not be those of one commit.")


def _codes_at(codes: list[dict[str, Any]]) -> str:
    """``commit 54e10d4, 17e12e1 (dirty)`` when each names a commit, else each
    :func:`drac_ssl.runtime.code_at` (``commit 54e10d4, code fingerprint 7883bc5e9bbd``)."""
    if all(known_commit(c) for c in codes):
        return "commit " + ", ".join(code_words(c) for c in codes)
    return ", ".join(code_at(c) for c in codes)


def mixed_build_words(run_dir: Path) -> str | None:
    """Words for a run some of whose stages ran with other builds of the libraries its figures
    depend on than the run was made with (``invocations.jsonl`` lines with
    ``resumed_with_other_builds``, which :func:`drac_ssl.train.main` writes when it runs stages
    in such a folder), else None. A library changed by more than one invocation is named
    once per change."""
    changes: list[str] = []
    for line in invocations(run_dir / runtime.INVOCATIONS):
        found = line.get("resumed_with_other_builds")
        if isinstance(found, dict) and found:
            words = runtime.build_change_words({name: c for name, c in found.items() if isinstance(c, dict)})
            if words and words not in changes:
                changes.append(words)
    if not changes:
        return None
    return ("**The run mixed library builds:** stages of it ran with other builds of libraries its "
            "figures depend on than it was made with (`environment.json`'s `builds`): "
            + "; ".join(changes) + " (`invocations.jsonl`, `resumed_with_other_builds`). Another build "
            "can decode, resize and sum differently: its results may not be those of one environment.")


def _int_list(value: Any) -> list[int]:
    """The ints of ``value`` when it is a list (a record's ``cpu_threads``), else []."""
    return [v for v in value if isinstance(v, int) and not isinstance(v, bool)] if isinstance(value, list) else []


# The stages whose figures come from CPU float sums over weights: their thread counts matter.
_SUMMING_STAGES = ("pretrain", "umm", "finetune")


def mixed_threads_words(run_dir: Path) -> str | None:
    """Words for a run whose figures came from more than one CPU thread count (CPU float sums
    depend on it: not bit-identical to a run with one count), else None. Mixed when an
    invocation resumed a stage's saved state with another count (``invocations.jsonl``'s
    ``resumed_with_other_threads``, which :func:`drac_ssl.train.main` writes as it warns), or
    when the last attempts of the stages that finished ran with different counts
    (``stages.json``'s ``cpu_threads``: each attempt's, in order; a stage started over with
    another count, e.g. the fine-tuning after a pretraining finished with one). Each stage's
    attempts are listed; a run made before they were recorded names the resumes only. Only the
    stages whose weights come from torch sums count (pretrain, umm, finetune): the ingest does
    none and the export only writes the submission, so their counts change no figure."""
    stages = read_stages_record(run_dir)
    attempts = {name: _int_list(s.get("cpu_threads")) for name, s in stages.items()
                if name in _SUMMING_STAGES and isinstance(s, dict)}
    attempts = {name: counts for name, counts in attempts.items() if counts}
    finished = {attempts[name][-1] for name, s in stages.items()
                if name in attempts and s.get("status") == "done"}
    resumes: list[str] = []
    for line in invocations(run_dir / runtime.INVOCATIONS):
        found = line.get("resumed_with_other_threads")
        if isinstance(found, dict) and {"stage", "threads", "earlier"} <= found.keys():
            words = (f"{found['stage']} resumed with {found['threads']} from state made with "
                     f"{found['earlier']}")
            if words not in resumes:
                resumes.append(words)
    if not resumes and len(finished) < 2:
        return None
    listed = ", ".join(f"{name} {' then '.join(map(str, counts))}" for name, counts in attempts.items())
    said = "; ".join(part for part in (
        f"the stages' attempts ran with {listed} CPU thread(s) (`stages.json`, each stage's `cpu_threads`)"
        if listed else "", ", ".join(resumes) + " (`invocations.jsonl`, `resumed_with_other_threads`)"
        if resumes else "") if part)
    return ("**The run mixed CPU thread counts:** " + said + ". CPU float sums depend on the thread "
            "count, so its results are not bit-identical to a run with one count (the same settings; "
            "the weights differ in their last digits): a rerun repeats them only in part, whatever "
            "`run.threads` it is given.")


def environment_words(env: dict[str, Any]) -> str:
    """``Made on CPU: Intel Xeon x16 (AVX512), 4 CPU thread(s), Python 3.11.9, torch 2.5.1
    (wheel ..., files ...), torchvision 0.20.1 (...) (`environment.json`).``: the device, the
    thread count and torch's and torchvision's builds that an ``environment.json`` (the
    run's first invocation's, :func:`drac_ssl.runtime.environment_info`) records; "" when it
    records none of them (a run made before they were recorded, or no such file)."""
    builds = env.get("builds") if isinstance(env.get("builds"), dict) else {}
    parts: list[str] = []
    if env.get("gpu"):
        parts.append(f"GPU: {env['gpu']}" + (f" (CUDA {env['cuda']})" if env.get("cuda") else ""))
    elif env.get("device") or env.get("cpu"):
        device = str(env.get("device") or f"CPU: {env['cpu']}")
        parts.append(device + (f" ({env['cpu_capability']})" if env.get("cpu_capability") else ""))
    if (threads := recorded_threads(env)) is not None:
        parts.append(f"{threads} CPU thread(s)")
    if env.get("python"):
        parts.append(f"Python {env['python']}")
    for library in ("torch", "torchvision"):
        if isinstance(build := builds.get(library), str) and ", " in build:  # "2.5.1, wheel ..., files ..."
            version, how = build.split(", ", 1)
            parts.append(f"{library} {version} ({how})")
        elif env.get(library):  # a run made before builds were recorded: the version alone
            parts.append(f"{library} {env[library]}")
    return f"Made on {', '.join(parts)} (`environment.json`)." if parts else ""


def _untracked_words(env: dict[str, Any]) -> str:
    """``; 3 untracked files, not in it`` when ``environment.json`` lists
    ``git_untracked_files`` (and counts ``git_untracked_files_more``): files the run's checkout
    held that ``code.patch`` (a ``git diff HEAD``) leaves out; "" when none are listed."""
    listed = env.get("git_untracked_files")
    more = env.get("git_untracked_files_more")
    n = (len(listed) if isinstance(listed, list) else 0) + (more if isinstance(more, int) else 0)
    return f"; {n} untracked file{'s' if n != 1 else ''}, not in it" if n else ""


def _same_code_and_builds_words(env: dict[str, Any], run_dir: Path) -> str:
    """What else a rerun needs to repeat the run's figures to the last digit
    (docs/running.md, "Its figures on your machine"): the commit to check out
    (``environment.json``'s ``git_commit_full``; said dirty when ``git_dirty``, with the
    ``git apply`` of the run's ``code.patch`` when it was saved, else that its uncommitted
    changes are not in that commit) and the wheels of ``scripts/requirements-cpu.lock``. A run
    made on a GPU (``gpu``) is said not to be bit-identical, the same code and builds coming
    closest (the CPU lock is no GPU's wheels); one made from an installed package
    (``code_source``: no ``scripts/`` beside it) is given its torch and torchvision builds
    instead of the lock file."""
    full = env.get("git_commit_full") or (env.get("git_commit") if known_commit(env) else None)
    patch = run_dir.resolve() / runtime.CODE_PATCH
    if full:
        code = f"`git checkout {full}`" + (
            "" if not env.get("git_dirty") else
            f" then `git apply {shell_word(str(patch))}` (the run's checkout was dirty: its uncommitted "
            f"changes to tracked files{_untracked_words(env)})"
            if env.get("code_patch") == runtime.CODE_PATCH and patch.is_file() else
            " (the run's checkout was dirty: its uncommitted changes, `git_changed_files` in "
            "`environment.json`, are not in that commit)")
    elif env.get("code_source") == "installed package" and env.get("distribution_version"):
        code = f"the installed drac_ssl {env['distribution_version']} that made it"
    else:
        code = "the code that made the run (its commit is not recorded)"
    builds = "the same torch and torchvision builds (`environment.json`'s `builds`)"
    if env.get("gpu"):
        return (f"A GPU run is not bit-identical, even on the same GPU (docs/running.md): {code} and {builds} "
                f"come closest.")
    lock = ("" if env.get("code_source") == "installed package" else
            ", and `pip install -r scripts/requirements-cpu.lock` (the wheel versions the project is tested with)")
    return f"To repeat its figures to the last digit, on the same CPU: {code}{lock or f', and {builds}'}."


HARD_BREAK = "  \n"
"""A Markdown line break inside a paragraph (two spaces, a newline): report.md's provenance
puts its "Made on" and "To repeat" sentences on lines of their own."""


def wheel_build(record: dict[str, Any]) -> str:
    """The commit an installed package's wheel was built from, as a record says it (an
    ``environment.json``, or ``{"code_source": ..., **runtime.build_origin()}``): ``e6cd020``,
    `` with uncommitted changes`` when ``build_dirty``; "" when ``code_source`` is not
    ``"installed package"`` or no ``build_commit`` is recorded."""
    commit = record.get("build_commit")
    if record.get("code_source") != "installed package" or not isinstance(commit, str) or not commit:
        return ""
    return commit[:7] + (" with uncommitted changes" if record.get("build_dirty") else "")


def _code_name(record: dict[str, Any]) -> str:
    """What a code record names itself by, beside its fingerprint: ``commit 17e12e1 (dirty)``
    for a checkout, ``drac_ssl 0.1.0+3.g1a2b3c4 (built from commit 1a2b3c4)`` for an installed
    wheel (:func:`wheel_build`), its version alone, or "" (nothing but the fingerprint)."""
    if known_commit(record):
        return f"commit {code_words(record)}"
    version = record.get("distribution_version")
    build = wheel_build(record)
    if version:
        return f"drac_ssl {version}" + (f" (built from commit {build})" if build else "")
    return f"commit {build} (an installed wheel's build)" if build else ""


def _named_alike(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two code records name themselves alike (:func:`_code_name`; two commits when one
    short commit is a prefix of the other, git lengthening its short hashes, with the same dirty
    flag): "at this commit too" is then true of them."""
    ca, cb = known_commit(a), known_commit(b)
    if ca and cb:
        return bool(a.get("git_dirty")) == bool(b.get("git_dirty")) and (ca.startswith(cb) or cb.startswith(ca))
    return _code_name(a) == _code_name(b)


_WRITER = re.compile(r"^Written by drac_ssl \S+ at (.+?) on \d{4}-\d\d-\d\dT", re.MULTILINE)


def report_writer(run_dir: Path) -> str | None:
    """Which code wrote ``run_dir/report.md`` as its provenance line says it (``commit
    d7353f82``, the words after "Written by drac_ssl VERSION at"); '' for a report.md that
    names none (older code's), None when there is no report.md (or it cannot be read)."""
    try:
        head = (run_dir / "report.md").read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return None
    found = _WRITER.search(head)
    return found.group(1) if found else ""


def rewritten_report_words(run_dir: Path, before: str | None) -> str:
    """What the console adds to ``[train] report: RUN/report.md`` when the report.md that was
    there (``before``: :func:`report_writer`'s, read before it was written again) came from
    other code than the one just written: that its words and figures (``report/``) are this
    code's now and which code wrote the one replaced ('' when none was there or the same code
    wrote both). An upgrade review: resuming a finished run of older code rewrote its report
    silently."""
    after = report_writer(run_dir)
    if before is None or before == after:
        return ""
    if not before:
        made = (read_json(run_dir / "environment.json") or {}).get("git_commit")
        before = ("older code, which named no writer" + (f" (the run was made at commit {made})"
                                                          if isinstance(made, str) and made else ""))
    return f" (rewritten with its figures by this code, {after or 'unknown'}; the one replaced was written by {before})"


def provenance_line(run_dir: Path) -> str:
    """What wrote report.md (drac_ssl version, commit, date) and what made the run (its
    commit(s) where they differ, its command and folder, and the config file its ``-c`` read,
    from ``environment.json``: ``config_file``); then, with a ``config.yaml``, the command that
    reproduces the run in a new folder beside it (:func:`drac_ssl.config.reproduce_command`,
    its ``run.out_dir`` absolute: the command works from any folder), said not to reproduce it
    exactly when the run was made by other code than this (or code unknown, or unrecorded).
    The "Made on" sentence and what repeats the figures begin lines of their own
    (:data:`HARD_BREAK`): one paragraph still."""
    now = runtime.code_version()
    env, codes = _run_codes(run_dir)
    origin = {} if known_commit(now) else {"code_source": runtime.code_source(), **runtime.build_origin()}
    build = wheel_build(origin)
    if known_commit(now):
        written = f"commit {code_words(now)}"
    elif build:  # the commit its wheel was built from (a trial user, F2)
        written = f"commit {build} (the installed wheel's build)"
    else:  # the version is said once, before it (a trial user, F2)
        written = (f"commit {runtime.unknown_code_words(with_version=False)}"
                   + (f", {code_at(now)}" if code_known(now) else ""))
    words = (f"Written by drac_ssl {__version__} at {written} "
             f"on {_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')}")
    run_codes = [c for c in ([env] if env.get("git_commit") or env.get("code_fingerprint") else [])
                 + list(codes.values())]
    distinct: list[dict[str, Any]] = []
    for c in run_codes:
        if not any(same_code(c, d) for d in distinct):
            distinct.append(c)
    made_here = len(distinct) == 1 and code_known(now) and same_code(distinct[0], now)
    if distinct and not made_here:
        words += ("; the run was made at " if all(known_commit(c) for c in distinct)
                  else "; the run was made with ") + _codes_at(distinct)
    elif distinct and _named_alike(distinct[0], {**now, **origin, "distribution_version": __version__}):
        words += "; the run was made at this commit too"
    elif distinct:  # one fingerprint, recorded under another version or commit (an upgraded wheel, F3)
        words += (f"; the run was made by the same code (fingerprint "
                  f"{str(now.get('code_fingerprint'))[:runtime.FINGERPRINT_LENGTH]})"
                  + (f" as {_code_name(distinct[0])}" if _code_name(distinct[0]) else ""))
    if env.get("command"):
        words += f", by `{env['command']}`" + (f" (in `{env['cwd']}`)" if env.get("cwd") else "")
    if env.get("config_file"):  # the file -c read (a shipped config's, for -c NAME)
        words += f", reading the config file `{env['config_file']}`"
    _, taken = _run_codes(run_dir, reused=True)
    if taken:  # run.reuse: those stages ran in another run, on its code
        words += ("; taken from another run by run.reuse: "
                  + ", ".join(f"{name} (made at {code_at(c)})" for name, c in taken.items()))
    words += "."
    if made_on := environment_words(env):  # its own line (a Markdown hard break: two spaces)
        words += f"{HARD_BREAK}{made_on}"
    saved = run_dir / "config.yaml"
    if saved.is_file():  # the config's header says it too
        # run.out_dir absolute: the file's own may be relative to the folder the run started in
        out_dir = shell_word(str(run_dir.resolve().parent))
        threads = recorded_threads(env)  # run.threads 0 is half the cores of the machine it runs on
        setting = (_saved_config(run_dir).get("run") or {}).get("threads")
        threads = threads if threads != setting else None  # config.yaml says it already
        command = reproduce_command(shell_word(str(saved.resolve())), out_dir, threads)
        words += (f" {REPRODUCE_WORDS[0].upper()}{REPRODUCE_WORDS[1:]}: `{command}` (with "
                  f"`run.name={shell_word(run_dir.name)}` for `run.name=NEW`, from any folder, it "
                  f"resumes this run, or reports it when finished; this folder's own name, as "
                  f"config.yaml's run.name is not once the folder was renamed or moved)"
                  + (f"; `run.threads={threads}`: the CPU thread count the run ran with"
                     if threads is not None else "") + "." + HARD_BREAK + _same_code_and_builds_words(env, run_dir))
        # an upgrade review: the command reads as if it gave the same run again; stages taken
        # by run.reuse count too (the command runs them here, on this code)
        made_by = distinct + [c for c in taken.values() if not any(same_code(c, d) for d in distinct)]
        if not (made_by and code_known(now) and all(code_known(c) and same_code(c, now) for c in made_by)):
            made = _codes_at(made_by) if made_by else "code that it does not record"
            words += (f" The code here ({code_at(now)}) is not the code that made the run ({made}): "
                      f"it may not reproduce it exactly.")
    return words



def _generic_closing_lines(run_dir: Path, dataset: str) -> list[str]:
    """What a generic data set's run (``data.dataset`` mnist, fashion_mnist, cifar10) left
    out and what measures its features: fine-tuning and export never run on one (they grade an
    ingested folder of retinal images); UMM may (its section is above when ``umm/`` exists);
    the k-NN monitor is named only when ``pretrain.knn_every`` asked for it and it scored an
    epoch; then the bench that measures the run's own backbone (:func:`next_step`), its command
    in a block."""
    knn = bool((_saved_config(run_dir).get("pretrain") or {}).get("knn_every")) and _knn_figure(run_dir)
    umm_ran = (run_dir / "umm").is_dir()
    left_out = "Fine-tuning and export" if umm_ran else "UMM, fine-tuning and export"
    only = "pretraining only" if not umm_ran else "pretraining, then UMM"
    meta = read_json(run_dir / "pretrain" / "metadata.json")
    against = knn_start_comparison_of_run(meta, pretrain_history(run_dir)) if isinstance(meta, dict) else None
    lines = [f"{left_out}: not part of this run. A generic data set's run is {only} "
             f"(data.dataset={dataset}: the fine-tuning grades an ingested folder of retinal images)"
             + ("; the k-NN monitor above measured its features as it trained." if knn else "."), ""]
    if knn and against is not None:
        row, words = against
        lines[0] += (f" Its last figure, {float(row['knn_top1']):.2f}% at epoch {int(row.get('epoch', 0)) + 1}, "
                     f"is {words}.")
    return lines + _next_step_lines(run_dir)


def _next_step_lines(run_dir: Path) -> list[str]:
    """report.md's paragraph on what measures the run's pretrained backbone, with the command
    in a block (:func:`next_step`, as a file read later words it); [] when there is none."""
    step = next_step(run_dir, in_file=True)
    if step is None:
        return []
    return [f"**Next:** {step.what}.{(' ' + step.note) if step.note else ''}", "", "```bash",
            step.command, "```", ""]


@dataclass(frozen=True)
class NextStep:
    """One thing to do once a run has finished, as report.md and the console's lines after
    ``[train] finished`` say it: with the run's model (:func:`model_next_steps`: "open the app
    on its model"), or what measures the pretrained backbone of a run without fine-tuning
    (:func:`next_step`). ``what``, a clause naming it (report.md's words); ``command``, as the
    user types it, or "" for a note (``what`` is then a sentence to read, not a step); ``note``,
    sentences that follow (where it runs, a quicker form, another bench and why it is not the
    one); ``short``, the console's few words before the command, where they are not ``what``
    (:func:`next_step`'s)."""

    what: str
    command: str = ""
    note: str = ""
    short: str = ""


DRAC_SUBMISSION_SECTION = ("DRAC 2022 Task 3: from the download to a submission", "drac-download-to-submission")
"""The README's section (title, anchor) from the DRAC download to a checked submission, which
report.md's "Next" names for a run on DRAC's layout or UW-OCTA scans."""


def model_next_steps(run_dir: str | Path, in_file: bool = False) -> list[NextStep]:
    """What to do with a run's model, in order: open the app on its bundle, grade a folder of
    images with the export command, then notes: a model trained on phantom images (``data.kind``
    of the bundle's ``metadata.json``) grades nothing about a real eye, and one's own fundus
    photographs need a model of their own (``docs/own_fundus_folder.md``); phantoms mixed into
    real data are said as such. The one source of the console's lines after ``[train]
    finished`` (:func:`drac_ssl.train.next_step_lines`) and of report.md's "Next" section.

    Commands as :func:`drac_ssl.starting.python_command` writes them; the run folder as given,
    or with ``in_file`` (report.md, read later from anywhere) resolved to an absolute path.
    [] when the run has no bundle (``RUN/bundle/metadata.json``, the export stage's)."""
    from drac_ssl.config import shell_word

    run_dir = Path(run_dir)
    bundle = run_dir / "bundle"
    meta = read_json(bundle / "metadata.json")
    if not isinstance(meta, dict):
        return []

    def word(path: Path) -> str:
        return shell_word(str(path.resolve() if in_file else path))

    steps = [NextStep("open the app on its model",
                      f"{python_command('app', in_file=in_file)} --bundle {word(bundle)}"),
             NextStep("grade a folder of images with it",
                      f"{python_command('drac_ssl.export', in_file=in_file)} {word(run_dir)} "
                      f"--images DIR --out grades.csv")]
    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    if data.get("kind") == "phantom":
        steps.append(NextStep("this model was trained on phantom UW-OCTA images (a demonstration: its grades "
                              "say nothing about a real eye); to grade your own fundus photographs, train on "
                              "graded photographs of your own: docs/own_fundus_folder.md"))
    elif mixed := mixed_phantom_words(data):
        steps.append(NextStep(f"{mixed}; take them out of the data and train again for a model of the real "
                              f"images alone"))
    return steps


def _next_section(run_dir: Path) -> list[str]:
    """report.md's "Next": :func:`model_next_steps` (each command in a block, where to run them
    from when the interpreter is a relative path), then, for a run on DRAC's layout or UW-OCTA
    scans, the README's :data:`DRAC_SUBMISSION_SECTION`; [] for a run without a bundle."""
    from drac_ssl.config import CHECKOUT

    steps = model_next_steps(run_dir, in_file=True)
    if not steps:
        return []
    lines = ["## Next", ""]
    for i, step in enumerate(steps):
        if step.command:
            lead = step.what if i == 0 else f"or {step.what}"
            lines += [f"{lead[:1].upper()}{lead[1:]}:", "", "```bash", step.command, "```", ""]
        else:
            lines += [f"Note: {step.what}.", ""]
    interpreter = python_command("app", in_file=True).split(" ", 1)[0]
    if "/" in interpreter:  # a relative path: from the folder the run was made in
        made = made_in(run_dir)
        lines += [f"Run them from the folder the run was made in{f' (`{made}`)' if made else ''}, "
                  f"where `{interpreter}` is.", ""]
    facts = read_ingest_facts(run_dir / "data")
    if facts.is_drac or facts.modality == "octa":
        title, anchor = DRAC_SUBMISSION_SECTION
        readme = CHECKOUT / "README.md" if CHECKOUT is not None else None
        target = (os.path.relpath(readme, run_dir.resolve()).replace(os.sep, "/")
                  if readme is not None and readme.is_file() else "")
        where = f"[{title}]({target}#{anchor})" if target else f'"{title}"'
        lines += [f"Taking part in DRAC 2022 Task 3, or grading UW-OCTA scans of your own: the README's "
                  f"{where} goes from the official download to a checked submission.", ""]
    return lines


KNN_NOISE_STANDARD_ERRORS = 2.0
"""How many binomial standard errors of the starting backbone's k-NN top-1 count as noise when
the last k-NN figure is read against it (:func:`knn_start_comparison`): a rough band of about
95 % for one accuracy on ``n`` test images, not a paired test of the two figures."""


def knn_start_comparison(last: float, start: float, test_images: int | None = None,
                         random_start: bool = True) -> str:
    """The last k-NN top-1 of a pretraining read against the starting backbone's, in words, e.g.
    ``22.90 points below the starting backbone's 84.00% (random weights, before any step): these
    epochs left the features worse for k-NN than random weights`` or ``within noise of the
    starting backbone's 84.00% (...): +0.40 points, inside the +/-2.3 of two standard errors on
    1000 test images; no gain measured``.

    ``last``, ``start``: top-1 in % (``knn_top1`` of ``pretrain/metrics.jsonl``,
    ``knn_start_top1`` of ``pretrain/metadata.json``). ``test_images``: how many test images the
    monitor scored (``metadata.json`` ``knn_monitor.test_images``: an ingested folder's fold 0
    graded images, or what ``pretrain.knn_limit`` kept; else ``splits.test``, a generic data
    set's test split); the noise band is :data:`KNN_NOISE_STANDARD_ERRORS` binomial standard errors of ``start`` on
    them, ``200 * sqrt(p (1 - p) / n)`` points for p = start / 100 (None: no band, only above or
    below, and no verdict: ``0.80 points below ...; no noise band computed ...``).
    ``random_start``: the pretraining began from random weights
    (``pretrain.backbone.weights`` empty), else from a weights file."""
    origin = "random weights" if random_start else "its starting weights"
    start_words = f"the starting backbone's {start:.2f}% ({origin}, before any step)"
    change = last - start
    band = None
    if isinstance(test_images, int) and test_images > 0 and 0 <= start <= 100:
        p = start / 100
        band = 100 * KNN_NOISE_STANDARD_ERRORS * math.sqrt(p * (1 - p) / test_images)
    if band is not None and abs(change) <= band:
        return (f"within noise of {start_words}: {change:+.2f} points, inside the +/-{band:.1f} of "
                f"{KNN_NOISE_STANDARD_ERRORS:g} standard errors on {test_images} test images; no gain measured")
    if band is None:  # no count of test images: a drop or a rise of any size may be noise
        side = "below" if change < 0 else "above"
        why = ("the number of test images the monitor scored is not recorded" if not isinstance(test_images, int)
               or test_images <= 0 else "the starting figure is not a percentage")
        return f"{abs(change):.2f} points {side} {start_words}; no noise band computed ({why})"
    if change < 0:
        return (f"{-change:.2f} points below {start_words}: these epochs left the features worse for "
                f"k-NN than {origin}")
    return f"{change:.2f} points above {start_words}"


def finite_knn_figure(value: Any) -> bool:
    """Whether a recorded k-NN figure is a finite number: not a bool, and not the nan the
    monitor records for non-finite features (:func:`drac_ssl.metrics.knn_accuracy`)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def knn_start_comparison_of_run(meta: dict[str, Any], history: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], str] | None:
    """The pretraining's last k-NN epoch (a row of ``metrics.jsonl``) and
    :func:`knn_start_comparison`'s words for it, from ``pretrain/metadata.json`` (``meta``: its
    ``knn_start_top1``, ``knn_monitor``, ``splits``, ``initial_weights``) and ``history``; None
    when the monitor scored no epoch or the starting backbone's figure is not recorded."""
    rows = [r for r in history if finite_knn_figure(r.get("knn_top1"))]
    start = meta.get("knn_start_top1")
    if not rows or not finite_knn_figure(start):  # nan: the monitor's features were not finite
        return None
    scope = meta.get("knn_monitor") if isinstance(meta.get("knn_monitor"), dict) else {}
    splits = meta.get("splits") if isinstance(meta.get("splits"), dict) else {}
    n = scope.get("test_images", splits.get("test"))
    return rows[-1], knn_start_comparison(float(rows[-1]["knn_top1"]), float(start),
                                          n if isinstance(n, int) and not isinstance(n, bool) else None,
                                          random_start=not meta.get("initial_weights"))


def _knn_figure(run_dir: Path) -> bool:
    """Whether the pretraining's k-NN monitor scored an epoch (a finite ``knn_top1`` in its
    ``metadata.json`` metrics or in ``metrics.jsonl``: :func:`finite_knn_figure`; a null or nan
    one was not scored, its features not finite)."""
    meta = read_json(run_dir / "pretrain" / "metadata.json")
    if isinstance(meta, dict) and finite_knn_figure((meta.get("metrics") or {}).get("knn_top1")):
        return True
    return any(finite_knn_figure(row.get("knn_top1")) for row in pretrain_history(run_dir))


def pretrain_history(run_dir: Path) -> list[dict[str, Any]]:
    """The pretraining's epochs as ``pretrain/metrics.jsonl`` records them (one dict per
    epoch, ``epoch`` counted from 0: loss, its terms, ``knn_top1`` on a k-NN monitor epoch ...);
    [] when the file is missing or unreadable (a line that is not a JSON object is skipped:
    :func:`drac_ssl.io.jsonl_dicts`)."""
    return jsonl_dicts(run_dir / "pretrain" / "metrics.jsonl")


BENCH_SETTINGS = ("pretrain.backbone.arch", "pretrain.backbone.cifar_stem", "pretrain.backbone.stem_stride",
                  "pretrain.augment.image_size")
"""The settings a bench builds (``bench.low_label``) or embeds (both) a given backbone with,
read from its own config file (``configs/<dataset>.yaml``), not from the backbone: where the
run's differ, :func:`next_step`'s command types them."""

BENCH_OUT = "bench"
"""``RUN/bench/``: where :func:`next_step`'s bench command writes its result file
(``--out-dir``), beside the run rather than over ``bench/results/``' committed figures."""


def _setting(cfg: dict[str, Any], key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _bench_overrides(cfg: dict[str, Any], dataset: str) -> list[str]:
    """``key=value`` for each :data:`BENCH_SETTINGS` where the run's ``cfg`` (its saved
    ``config.yaml``) differs from the bench's own config file (``configs/<dataset>.yaml``);
    all of them when that file cannot be read (an install that lost its shipped configs)."""
    from drac_ssl.config import PACKAGE_CONFIGS, load_config

    try:
        bench = to_dict(load_config(PACKAGE_CONFIGS / f"{dataset}.yaml"))
    except Exception:  # noqa: BLE001 - no such file, or one that does not load: say every value
        bench = {}
    out = []
    for key in BENCH_SETTINGS:
        ours = _setting(cfg, key)
        if ours is not None and ours != _setting(bench, key):
            out.append(f"{key}={str(ours).lower() if isinstance(ours, bool) else ours}")
    return out


def next_step(run_dir: str | Path, in_file: bool = False) -> NextStep | None:
    """What measures the pretrained backbone of a run without fine-tuning, per data set:

    * MNIST, Fashion-MNIST: ``bench.low_label --dataset D --data ROOT --backbone
      RUN/pretrain/backbone.safetensors`` (linear probes against a random backbone, fine-tuning
      against scratch; ``--backbone`` skips its own pretraining, which at the config's 50
      epochs is hours on a CPU);
    * CIFAR-10: ``bench.layer_clusters --backbone ...`` (per-layer cluster quality beside a
      random backbone); ``bench.cifar10_vicreg``, the bench of the published figures, has no
      option for a given backbone (it pretrains its own), which the note says;
    * an ingested data set whose ``run.stages`` left the fine-tuning out: the run's own command
      with ``finetune`` and ``export`` added (:func:`drac_ssl.run_state.resume_command`), which
      runs them in the run folder, skipping the finished stages.

    The benches run from the repository root and write their result under ``RUN/bench/``
    (:data:`BENCH_OUT`); the run's :data:`BENCH_SETTINGS` that differ from the bench's config
    are typed on its line. Paths: ``in_file`` (report.md, read later from anywhere) absolute;
    on the console, as given when the current folder is the repository root, else absolute.
    None when there is no backbone yet (the pretraining did not finish), for a run that asked
    for the fine-tuning (done, or unfinished: "Read this first" gives the command that
    finishes it), and for a run folder without a readable ``config.yaml``."""
    from drac_ssl.config import CHECKOUT, shell_word
    from drac_ssl.run_state import PIPELINE

    run_dir = Path(run_dir)
    cfg = _saved_config(run_dir)
    if not cfg or not (run_dir / "pretrain" / "backbone.safetensors").is_file():
        return None
    dataset = str((cfg.get("data") or {}).get("dataset") or "drac")
    if dataset not in GENERIC_WORDS:
        planned = _planned_stages(run_dir, cfg)
        if "finetune" in planned:
            return None
        stages = [s for s in PIPELINE if s in planned or s in ("finetune", "export")]
        command, note = resume_command_and_note(run_dir, stages, always_cd=in_file)
        return NextStep(
            "the fine-tuning measures the pretrained features on the grades (cross-validated), and "
            f"run.stages left it out; this run's own command with run.stages=[{','.join(stages)}] runs it "
            "and the export in this folder, skipping the finished stages",
            command, note=f"{note[:1].upper()}{note[1:]}." if note else "",
            short="fine-tune it (run.stages left the fine-tuning out; the finished stages are skipped)")
    absolute = in_file or CHECKOUT is None or Path.cwd().resolve() != CHECKOUT.resolve()

    def word(path: Path) -> str:
        return shell_word(str(path.resolve() if absolute else path))

    root = Path(str((cfg.get("data") or {}).get("root") or "")).expanduser()
    if absolute and not root.is_absolute():  # relative to the folder the run was made in
        root = Path(absolute_from(str(root), made_in(run_dir)))
    backbone = run_dir / "pretrain" / "backbone.safetensors"
    umm = run_dir / "umm" / "backbone.safetensors"
    tail = " ".join(shell_word(o) for o in _bench_overrides(cfg, dataset))
    out = f"--out-dir {word(run_dir / BENCH_OUT)}"
    where = "Run it from the repository root (the folder of `bench/`)."
    if dataset == "cifar10":
        command = (f"{python_command('bench.layer_clusters', in_file=in_file)} --backbone {word(backbone)}"
                   + (f" --compare vicreg_umm={word(umm)}" if umm.is_file() else "")
                   + f" --data {word(root)} {out}" + (f" {tail}" if tail else ""))
        return NextStep(
            "`bench.layer_clusters` measures this run's backbone"
            + (" (and UMM's, `--compare`)" if umm.is_file() else "")
            + ": the cluster quality (Davies-Bouldin, Calinski-Harabasz) of the CIFAR-10 test images' "
            "features after each stage of the backbone, beside a random backbone of its architecture, "
            f"and a t-SNE figure; `--out-dir` keeps its result in this run's `{BENCH_OUT}/`",
            command,
            f"{where} On a CPU, `--eval-limit 1000` thins the test images (a smoke run). "
            "`bench.cifar10_vicreg`, the bench of the published CIFAR-10 figures (k-NN and linear probe), "
            "takes no backbone file: it pretrains its own (`configs/cifar10.yaml`, 100 epochs, a GPU run) in "
            "its `--run-dir` and then measures that one.",
            short="measure its backbone with bench.layer_clusters, from the repository root (per-layer "
                  "cluster quality beside a random backbone; bench.cifar10_vicreg takes no backbone file: "
                  "report.md says more)")
    command = (f"{python_command('bench.low_label', in_file=in_file)} --dataset {dataset} --data {word(root)} "
               f"--backbone {word(backbone)} {out}" + (f" {tail}" if tail else ""))
    return NextStep(
        "`bench.low_label` measures this run's backbone on labels: a linear probe of its frozen features "
        "beside the same probe on a random backbone of its architecture, and fine-tuning it beside "
        "training from scratch, on 500 to 5,000 labelled training images (3 seeds), scored on the test "
        "split; `--backbone` skips the bench's own pretraining, and `--out-dir` keeps its result in this "
        f"run's `{BENCH_OUT}/`, not over `bench/results/`' committed figures",
        command,
        f"{where} Its fine-tuning is GPU-sized; on a CPU, `--labels 1000 --seeds 0 --methods "
        "linear,random_linear` keeps the two linear probes on one labelled subset (a smoke run, written "
        f"as `low_label_{dataset}_smoke.json`). {CPU_PROBE_EMBED_WORDS}"
        + (" For UMM's backbone, give `--backbone` its `umm/backbone.safetensors`." if umm.is_file() else ""),
        short="measure its backbone with bench.low_label, from the repository root (linear probes beside a "
              "random backbone, fine-tuning beside scratch; GPU-sized: report.md says more)")


CPU_PROBE_EMBED_SECONDS_PER_1000 = 10
"""CPU seconds one thread took to embed 1,000 MNIST test images with ``configs/mnist.yaml``'s
backbone (ResNet-18, CIFAR stem at stride 1, 28 px): 10.4 s, measured once by hand on this
project's machine (Intel Xeon, ``OMP_NUM_THREADS=1``, ``pretrain.embed_images`` on the first 1,000
test images, 2026-12-06, 31.3 s of wall time at a 1-minute load of 11 on the 2-core machine;
not a bench figure). ``bench.low_label``'s linear probes embed the whole
test split once per backbone before the first probe."""

CPU_PROBE_EMBED_WORDS = (
    f"Before its first probe it embeds the 10,000 test images once per backbone: about "
    f"{10 * CPU_PROBE_EMBED_SECONDS_PER_1000 / 60:.0f} CPU minutes each on one thread with the config's "
    f"ResNet-18 (measured by hand, not a bench figure; a shared machine takes two to three times that, "
    f"`pretrain.backbone.stem_stride=2` about a quarter), a progress line per backbone on the console; "
    f"`--eval-limit 2000` scores 2,000 evenly spaced test images instead (a fifth of the time).")
"""report.md's word on the CPU cost of the linear-probe smoke run it suggests (review F5: it
printed nothing for 424 s while embedding the test images)."""


def write_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.md`` (and the figures it draws from the fine-tuning's files under
    ``run_dir/report/``, made only for them: a run without fine-tuning has no such folder, and
    an empty one is removed); return its path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    figures = run_dir / FIGURES
    generic = _generic_dataset(run_dir)
    facts = read_ingest_facts(run_dir / "data")
    if generic is not None:
        name, shows = GENERIC_WORDS[generic]
        task = (f"A check of the self-supervised pretraining on {name} ({shows}), "
                f"{_published_figure_words(generic)}: not diabetic retinopathy grading")
    elif facts.is_drac and facts.channels == 1 and facts.num_grades == 3:
        task = "DRAC 2022 Task 3 (diabetic retinopathy grading on UW-OCTA)"
    else:
        task = f"Diabetic retinopathy grading, {facts.num_grades} grades, {facts.describe_images()}"
    lines = [f"# drac_ssl run report: {run_dir.name}", "",
             f"{task}, drac_ssl {__version__}. Research software, not a medical device.", "",
             provenance_line(run_dir), ""]
    body = _data_section(run_dir) + _config_section(run_dir) + _stages_section(run_dir) + _ssl_section(run_dir)
    if generic is None:
        # report/ holds the figures drawn from the fine-tuning's files, and is made only for them
        if (run_dir / "finetune").is_dir():
            figures.mkdir(parents=True, exist_ok=True)
        body += (_finetune_section(run_dir, figures) + _next_step_lines(run_dir) + _export_section(run_dir)
                 + _next_section(run_dir))
        cut_short = _cut_short_words(run_dir)
    else:
        body += _generic_closing_lines(run_dir, generic)
        cut_short = _cut_short_words(run_dir, not_what="how good its features are")
    with contextlib.suppress(OSError):  # an empty report/ (made by an earlier version): nothing to list
        figures.rmdir()
    lines += read_this_first(body, cut_short=cut_short, unfinished=_unfinished_item(run_dir)) + body
    # last: what each file of the folder is and which can go (a folder handed on without the
    # repository, whose docs/running.md describes them at length)
    finished = is_run_folder(run_dir) and not unfinished(run_dir, check_lock=False)
    lines += files_section(run_dir, finished)
    return atomic_write_text(run_dir / "report.md", "\n".join(lines).rstrip() + "\n")


_WARNING_LEAD = re.compile(r"^(?:> |- )?\*\*(.+?)\*\*")
"""A paragraph (or quote, or bullet) that opens in bold: how the report's sections lead a
warning (``> **No evidence that ...**``, ``**Read with care:** ...``)."""
_NOT_WARNINGS = ("total", "Not trained here:", "Next:")  # bold leads that are not warnings


def _github_anchor(heading: str, seen: dict[str, int]) -> str:
    """GitHub's id of a heading (lower case, punctuation but ``-`` and ``_`` dropped, spaces
    -> ``-``), ``-1``, ``-2`` ... added to a repeated one; ``seen`` counts them."""
    base = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
    seen[base] = seen.get(base, -1) + 1
    return base if seen[base] == 0 else f"{base}-{seen[base]}"


_BARE_LEADS = ("Warning", "Note", "Caution")
"""Bold leads that say nothing of what they warn about (``> **Warning:** The kappa-tuned ...``):
:func:`_headline` adds the first clause of the text after them."""


def _headline(bold: str, rest: str = "") -> str:
    """A warning's bold lead, cut to its first clause when that says enough (25+ characters):
    ``No evidence that this model grades better than chance: out-of-fold QWK ...`` -> its
    first clause; ``Honest note: this run used the phantom UW-OCTA set`` stays whole. A bare
    lead (:data:`_BARE_LEADS`, ``**Warning:**``) gets the first clause of ``rest``, the text
    after it, without its brackets (an auditor read a bare "Warning" in "Read this first"):
    ``Warning: the kappa-tuned thresholds give grade 4 to none of the 30 images in-sample``."""
    text = bold.strip().rstrip(":.")
    if text == "Read with care":  # the qualifier of the comparison's differences
        return "Read with care: the differences between the variants"
    if text in _BARE_LEADS and rest.strip():
        said = rest.strip()
        for _ in range(3):  # nested brackets, innermost first
            said = re.sub(r"\s*\([^()]*\)", "", said)
        clause = said.split(": ", 1)[0].split(". ", 1)[0].strip().rstrip(".")
        if clause:
            return f"{text}: {clause[:1].lower()}{clause[1:]}"
    for sep in (": ", " ("):
        head = text.split(sep, 1)[0]
        if len(head) >= 25:
            text = head
    return text[:1].upper() + text[1:]


def read_this_first(body: Sequence[str], cut_short: str = "", unfinished: str = "") -> list[str]:
    """The "Read this first" section: each warning of the report's ``body`` lines (a paragraph,
    quote or bullet that opens in bold, :data:`_WARNING_LEAD`) once, with links to the
    sections that say it (GitHub's heading anchors), after ``unfinished`` (a run whose stages
    are not all done: which, and the command that finishes it) and ``cut_short`` (a run whose
    epochs were capped: its figures check the pipeline); a report without any says so."""
    seen: dict[str, int] = {}
    where: dict[str, list[tuple[str, str]]] = {}
    heading = anchor = ""
    for line in body:
        if found := re.match(r"^#{1,6} (.+)$", line):
            heading, anchor = found.group(1).strip(), _github_anchor(found.group(1), seen)
            continue
        lead = _WARNING_LEAD.match(line)
        if lead is None or lead.group(1).strip().startswith(_NOT_WARNINGS):
            continue
        places = where.setdefault(_headline(lead.group(1), line[lead.end():]), [])
        if heading and (heading, anchor) not in places:
            places.append((heading, anchor))
    items = [f"- {said}" for said in (unfinished, cut_short) if said]
    items += [f"- {title}" + (f" ({', '.join(f'[{h}](#{a})' for h, a in places)})" if places else "")
              for title, places in where.items()]
    if not items:
        items = ["- Nothing in this report is marked for care (no warning below)."]
    return ["## Read this first", "", *items, ""]


RUN_RECORDS_READ = ("stages.json", "environment.json")
"""The records that make a folder a run's for :func:`main` beside ``config.yaml`` (the command
logs itself in its ``invocations.jsonl`` then)."""


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m drac_ssl.report RUN``: write RUN/report.md; returns the exit code, one of
    those :data:`drac_ssl.exit_codes.REPORT_EXIT_CODES` lists (its ``--help`` says them; not
    restated here). A Ctrl-C is one line said, the run's ``invocations.jsonl`` line ending
    "interrupted". Called from Python with an
    ``argv``, the run's ``invocations.jsonl`` records ``PYTHON -m drac_ssl.report *argv``, not
    the caller's ``sys.argv`` (:func:`drac_ssl.runtime.command_given`)."""
    started()  # everything is imported: Ctrl-C raises KeyboardInterrupt again
    try:
        run_dir = Path(report_parser().parse_args(argv).run)
    except SystemExit as exc:  # --help (0), or a usage error argparse has already printed (2)
        return int(exc.code or 0)
    with sigterm_as_ctrl_c():  # SIGTERM (kill, a scheduler's limit) stops as Ctrl-C does: exit 143
        return _report_command(run_dir, argv)


def _report_command(run_dir: Path, argv: Sequence[str] | None) -> int:
    """:func:`main` after parsing, SIGTERM turned into Ctrl-C."""
    try:
        # not a run folder (runs/, a data folder) or a file (RUN/config.yaml): refused, nothing written
        # (runs/report.md was written, exit 0: a CLI review), in compare's words
        if problem := run_folder_problem(run_dir, records=("config.yaml", *RUN_RECORDS_READ)):
            raise ValueError(problem)
        in_run = any((run_dir / f).is_file() for f in RUN_RECORDS_READ)
        # the configuration section reads config.yaml: edited after the stages ran, it would
        # state values they did not run with (the training refuses such a folder in these words)
        edited = _edited_config(run_dir)
        if edited:
            raise ValueError(edited)
        # a damaged one states no values: the report is written, its configuration section
        # saying what is wrong (the figures and records do not come from config.yaml)
        if problem := _saved_config_problem(run_dir):
            print(f"warning: {problem}\n  report.md is written without the run's settings (its "
                  f"configuration section says this).", file=sys.stderr)
        if (damage := stages_record_damage(run_dir)) is not None:  # its times and states: the rest is written
            print(f"warning: {run_dir / 'stages.json'}: damaged: {damage}\n  report.md is written without the "
                  f"stages' times (its \"Stage wall times\" section says how to go on).", file=sys.stderr)
        # a training or UMM holding the run folder writes report.md itself at its end: refused
        # (RunBusy, exit 75: try later), and a training started while this report writes is refused too
        with (runtime.hold_run(run_dir, tool="drac_ssl.report") if in_run else contextlib.nullcontext(),
              runtime.command_given("drac_ssl.report", argv)):
            return _write_logged(run_dir, in_run)
    except runtime.RunBusy as exc:  # a ValueError: before it, so that a job script can requeue it
        print(f"error: {exc}", file=sys.stderr)
        return RUN_BUSY
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # another account's run folder (mode 0700), a failing disk: not a traceback
        print(f"error: {unreadable_words(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: one line, not a traceback; 130 or 143
        hold_signals_if_command()  # a second SIGTERM cannot cut the line nor kill by signal
        sys.stdout.flush()
        print("\n[report] interrupted: report.md is as it was (it is written whole, last; figures "
              "under report/ may be redrawn already); rerun the same command to write it", file=sys.stderr)
        return interrupt_exit_code()


def _edited_config(run_dir: Path) -> str:
    """:func:`drac_ssl.stage_settings.edited_config_words` of the run's ``config.yaml``, with
    this command as what to rerun; '' when it agrees with what the stages saved, or when there
    is no readable config.yaml: none, or a damaged one (:func:`_saved_config_problem`), of
    which the report states no values (its configuration section says what is wrong)."""
    written = read_saved_config(run_dir)
    if not written:
        return ""
    return edited_config_words(run_dir, written, then=f"rerun {python_command('drac_ssl.report')} {run_dir}")


def _write_logged(run_dir: Path, in_run: bool) -> int:
    """:func:`main`'s report, with its line in the run's invocation log when ``in_run``."""
    # report.md and its figures are rewritten with the code of now: one line in the run's
    # invocation log says so (the train command's lines beside it)
    invocation = runtime.record_start(run_dir, "drac_ssl.report") if in_run else None
    t0 = time.perf_counter()
    try:
        with stdout_guarded():  # > /dev/full: "stdout could not be written", not "a file: could not be read"
            print(write_report(run_dir))
    except BaseException as exc:
        if invocation is not None:  # stdout alone failed: report.md is written whole, the report finished
            runtime.record_end(run_dir, invocation, t0, *(() if isinstance(exc, StdoutUnwritable) else (exc,)))
        raise
    if invocation is not None:
        runtime.record_end(run_dir, invocation, t0)
    return 0


if __name__ == "__main__":
    run_command(main)
