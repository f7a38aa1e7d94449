"""RetinaMNIST end to end: the package's main job on real colour fundus photographs (issue #12).

    python -m bench.retinamnist [--run-dir runs/bench-retinamnist] [--fresh] [--threads N]
                                [section.key=value ...]

1. ``python -m drac_ssl.train -c configs/retinamnist.yaml`` (a subprocess, as a user runs it;
   the run folder ``--run-dir`` is kept, and a run cut short resumes where it stopped):
   ingest of ``../shared/data/retinamnist/retinamnist_public.npz`` (1,080 train + 120 val
   labelled images = the 5-fold cross-validation pool, 400 test images without labels),
   VICReg on the images without their labels (which splits: ``pretrain.use_test_images``,
   recorded below), UMM, 5-fold cross-validated fine-tuning of scratch / VICReg / VICReg+UMM
   (same folds, same schedule, cross-fitted calibration), export of the selected variant.
   An override that shortens the job (fewer epochs, a step cap, fewer bootstrap draws) makes
   a smoke run (``retinamnist_smoke``); one that changes it (:func:`protocol_changes`: which
   variants there are, e.g. ``umm.enabled=false``, how they are pretrained or fine-tuned, the
   seed, the device the run gets: the protocol's is the CPU, so ``auto`` on a GPU host too) is
   refused before the job (and before ``--fresh`` deletes anything) unless ``--name`` gives the
   experiment a name of its own (not ending in ``_smoke``), and is recorded in
   ``protocol_departures``.
2. Export of each variant the run fine-tuned (:func:`run_variants`) on the 400 test images, into
   ``bench/results/retinamnist_submission_{scratch,vicreg,vicreg_umm}.csv``
   (``case,class,P0..P4``; ``drac_ssl.export.run`` with ``variant=``; each file passes the
   package's submission check), with the referable-DR file the export writes beside each
   (``..._referable.csv``: ``case,P_referable,referable``, grade >= 2) and, when some test
   image is not reliably gradable, the notes file (``..._notes.csv``, recorded as the
   submission's ``notes`` and ``flagged``). The files are named
   after the result (:func:`submission_path`): a smoke run or a run under another ``--name``
   writes ``<name>_submission_<variant>.csv``, never over the committed submissions. The test
   grades are held by the evaluator: nothing here reads or estimates them.
3. The floor the issue asks for: ``sklearn`` logistic regression on the raw 28 x 28 x 3
   pixels (standardised; ``C`` chosen by an inner 5-fold CV on each training part), on the
   manifest's folds, scored with the package's own metrics (argmax grades) and the same
   bootstrap of QWK. Its out-of-fold probabilities are kept (``<run-dir>/pixel_floor_oof.csv``)
   and each variant minus the floor gets the paired bootstrap of the variants' own differences
   (``comparison.json``: accuracy, AUC OvR, QWK, 95% CI, the same resamples of the images or
   of the twin groups the folds kept whole): ``pixel_floor.paired`` in the JSON.
4. The per-image out-of-fold predictions of every variant and of the floor are copied beside
   the JSON (``<name>_oof_<variant>.csv``, ``<name>_oof_pixel_floor.csv``: ``id, grade, fold,
   P0..P4, pred``, about 79 KB each, and a ``ci_unit`` column after ``fold`` when the run's
   bootstrap resampled patients or twin groups; :func:`bench.common.keep_oof_copies`), named under
   ``oof_files`` with their SHA-256, so every figure and interval can be recomputed without a
   rerun. Results written before this step (every committed one to date) kept none.

Writes ``bench/results/retinamnist.json``: per variant (and the floor) the out-of-fold QWK
with its bootstrap 95% CI, accuracy, macro AUC one-vs-one and one-vs-rest, macro F1, both
class-decision rules (argmax and the QWK-tuned thresholds on the expected grade: the ordinal
use of the scale), the wall time of every stage, which images pretraining saw, and the
published test-split figures (on the hidden test labels, not comparable one to one with
cross-validation). Goal: the whole job in under 40 minutes on the 2-core CPU machine.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    REPO,
    RESULTS,
    SHARED_DATA,
    SMOKE_SUFFIX,
    add_threads_argument,
    keep_oof_copies,
    load_average,
    oof_units,
    run_stages,
    shortened_settings,
    smoke_fields,
    smoke_result_name,
    write_result,
)
from drac_ssl.starting import python_command

CONFIG = REPO / "configs" / "retinamnist.yaml"
NPZ = SHARED_DATA / "retinamnist" / "retinamnist_public.npz"
VARIANTS = ("scratch", "vicreg", "vicreg_umm")
"""The protocol's variants; a run's own are :func:`run_variants` (fewer under e.g. ``umm.enabled=false``)."""
VARIANT_WORDS = {"scratch": "scratch", "vicreg": "VICReg", "vicreg_umm": "VICReg+UMM"}
GOAL_SECONDS = 40 * 60
MEDMNIST_V2_SOURCE = ("Yang et al., MedMNIST v2, Scientific Data 2023, RetinaMNIST test split (accuracy / "
                      "macro AUC), as ../shared/data/README.md quotes it; not checked against the paper here")
PUBLISHED = {
    # (accuracy, AUC) on the official test split, each with where it comes from (referee F7); no
    # script here measured them, and none was checked against its paper in this repository
    "note": "published figures are on the official test split (400 images, hidden labels here); "
            "this benchmark's own figures are 5-fold out-of-fold on the 1,200 labelled images",
    "medmnist_v2_resnet18_28": {"accuracy": 0.524, "auc_ovr": 0.717,
                                "source": f"ResNet-18 at 28 px: {MEDMNIST_V2_SOURCE}"},
    "medmnist_v2_best_28_google_automl": {"accuracy": 0.531, "auc_ovr": 0.750,
                                          "source": f"Google AutoML Vision, the best RetinaMNIST figures of the table: "
                                                    f"{MEDMNIST_V2_SOURCE}"},
    "medmnist_plus_resnet18_end_to_end_28": {"accuracy": 0.523, "auc_ovr": 0.704,
                                             "source": "MedMNIST+, end-to-end ResNet-18 at 28 px, as quoted in "
                                                       "the project's issue #12 (which asked for this benchmark); "
                                                       "not checked against the MedMNIST+ paper here"},
}
AIM = {"source": "issue #12", "split": "the official test split (hidden labels; scored by the evaluator)",
       "accuracy": 0.56, "auc_ovr": 0.78}
"""Issue #12's aim: an aim, not a published figure (``bench.summarize`` shows it apart, against
the selected variant's out-of-fold figures)."""
FLOOR_CS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)


@dataclass(frozen=True)
class FloorFit:
    """The raw-pixel floor's out-of-fold fit (:func:`fit_pixel_floor`).

    ``probs``: ``(n, K)`` float64 class probabilities, row ``i`` for image ``i`` of the pool,
    predicted by the fold model that did not train on it (a grade absent from a training part
    gets probability 0), as :func:`write_floor_oof` writes them: 6 decimals, each row summing to
    exactly 1 (:func:`drac_ssl.submission.written_probabilities`, applied once here, as the
    fine-tuning does to ``oof.csv``), so that the figures scored from them (:func:`pixel_floor`,
    :func:`floor_paired`) are those recomputed from the CSV; ``C_per_fold``: the ``C`` chosen for each fold; ``seconds``: the fit's
    wall time."""

    probs: np.ndarray
    C_per_fold: dict[int, float]
    seconds: float


def fit_pixel_floor(images: np.ndarray, grades: np.ndarray, folds: np.ndarray, seed: int = 0) -> FloorFit:
    """Logistic regression on the raw pixels, out of fold on ``folds``: every image's
    probabilities, kept so that each variant can be compared with the floor on the same images
    (:func:`floor_paired`).

    Args:
        images: ``(n, H, W[, C])`` uint8 images of the labelled pool.
        grades: ``(n,)`` int grades 0..K-1 (K = the highest grade + 1).
        folds: ``(n,)`` fold of each image; fold ``f``'s rows are predicted by a model fitted
            on the other folds (standardisation and ``C`` included: ``C`` is chosen from
            :data:`FLOOR_CS` by an inner stratified 5-fold CV on the training part only, by
            log-loss).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from drac_ssl.submission import written_probabilities

    t0 = time.perf_counter()
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    k = int(grades.max()) + 1
    probs = np.zeros((len(x), k))
    chosen: dict[int, float] = {}
    for fold in sorted(set(folds.tolist())):
        test, train = folds == fold, folds != fold
        search = GridSearchCV(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)),
            {"logisticregression__C": list(FLOOR_CS)}, scoring="neg_log_loss",
            cv=StratifiedKFold(5, shuffle=True, random_state=seed))
        search.fit(x[train], grades[train])
        chosen[int(fold)] = float(search.best_params_["logisticregression__C"])
        p = search.predict_proba(x[test])
        probs[np.ix_(test, search.classes_)] = p
    # as written, once: the figures and pixel_floor_oof.csv hold the same values
    return FloorFit(written_probabilities(probs), chosen, round(time.perf_counter() - t0, 1))


def pixel_floor(images: np.ndarray, grades: np.ndarray, folds: np.ndarray, seed: int = 0,
                n_boot: int = 1000, fitted: FloorFit | None = None) -> dict[str, Any]:
    """The raw-pixel floor's figures: :func:`fit_pixel_floor` (or ``fitted``, its result for
    these ``images``, ``grades`` and ``folds``), scored with the package's metrics.

    Returns:
        The package's :func:`drac_ssl.metrics.grading_report` figures of the argmax grades
        (``qwk``, ``qwk_ci95``, ``accuracy``, ``auc`` = one-vs-one, ``auc_ovr``,
        ``macro_f1``), the chosen ``C`` per fold and the seconds the fit took.
    """
    from drac_ssl.metrics import bootstrap_ci, grading_report, quadratic_weighted_kappa

    fit = fitted if fitted is not None else fit_pixel_floor(images, grades, folds, seed=seed)
    if fit.probs.shape[0] != len(grades):
        raise ValueError(f"the floor's fit has {fit.probs.shape[0]} rows, the pool {len(grades)} images")
    k = fit.probs.shape[1]
    report = grading_report(grades, fit.probs)
    pred = fit.probs.argmax(axis=1)
    ci = bootstrap_ci(grades, pred, functools.partial(quadratic_weighted_kappa, num_grades=k),
                      n_boot=n_boot, seed=seed)
    return {"what": "sklearn StandardScaler + LogisticRegression on the raw 28x28x3 pixels (scaled to "
                    "0..1), C from an inner 5-fold CV (log-loss) on each training part, argmax grade",
            "n": report["n"], "qwk": report["qwk"], "qwk_ci95": list(ci), "accuracy": report["accuracy"],
            "auc_ovo": report["auc"], "auc_ovr": report["auc_ovr"], "macro_f1": report["macro_f1"],
            "C_per_fold": dict(fit.C_per_fold), "seconds": fit.seconds}


FLOOR_OOF = "pixel_floor_oof.csv"
"""The floor's out-of-fold probabilities in the run folder (:func:`write_floor_oof`)."""


def write_floor_oof(path: Path, ids: Sequence[str], grades: np.ndarray, folds: np.ndarray,
                    probs: np.ndarray) -> None:
    """The floor's out-of-fold outputs per image, ``id,grade,fold,P0..P{K-1},pred`` (``pred``:
    the argmax grade; ``probs`` as :class:`FloorFit` holds them, already rounded to 6 decimals
    that sum to exactly 1 per row, each written as that decimal), one row per labelled image in
    ``ids``' order: what :func:`pixel_floor` scored and :func:`floor_paired` compared, kept
    beside the variants' ``oof.csv``. Written as they are (:func:`drac_ssl.oof.oof_csv_text`:
    ids guarded against a spreadsheet formula), with the record that says so beside it
    (:func:`drac_ssl.oof.oof_record`: ``pixel_floor_oof.json``, with the file's SHA-256), so that
    :func:`drac_ssl.oof.read_oof` gives the ids back exactly."""
    from drac_ssl.io import atomic_write_json, atomic_write_text
    from drac_ssl.oof import oof_csv_text, oof_record, oof_record_fields
    from drac_ssl.scale import prob_columns

    header = ["id", "grade", "fold", *prob_columns(probs.shape[1]), "pred"]
    rows = [[str(image_id), int(grades[i]), int(folds[i]), *(f"{p:.6f}" for p in probs[i]),
             int(probs[i].argmax())] for i, image_id in enumerate(ids)]
    path.parent.mkdir(parents=True, exist_ok=True)
    oof_record(path).unlink(missing_ok=True)  # no older record ever beside the new file
    atomic_write_text(path, oof_csv_text(header, rows))  # a cut leaves the old file or the new one
    atomic_write_json(oof_record(path), oof_record_fields(path))  # the guard, for this file's SHA-256


def floor_paired(run_dir: Path, ids: Sequence[str], grades: np.ndarray, floor_probs: np.ndarray, *,
                 n_boot: int, seed: int, groups: Sequence[str] | None = None,
                 variants: Sequence[str] = VARIANTS) -> dict[str, Any]:
    """Each variant minus the raw-pixel floor on the same out-of-fold images, with the paired
    percentile bootstrap 95% CI that compares the variants with each other in ``comparison.json``
    (:func:`drac_ssl.metrics.bootstrap_scores` and :func:`~drac_ssl.metrics.paired_difference`:
    the same resamples, ``n_boot`` and ``seed`` being the fine-tuning's ``finetune.n_boot`` and
    seed, of the same units: ``groups``, :func:`drac_ssl.oof.patient_groups` of the labelled
    rows, the patients or the twin groups the folds kept whole; None: the images).

    Args:
        run_dir: the job's run folder; each variant's out-of-fold outputs are read from
            ``finetune/<variant>/oof.csv`` (:func:`drac_ssl.oof.read_oof`): its calibrated
            probabilities (for the AUC) and the grades its class decision gave (accuracy, QWK).
        ids: ``(n,)`` the labelled images' ids, in the order of ``grades`` and ``floor_probs``.
        grades: ``(n,)`` int reference grades 0..K-1.
        floor_probs: ``(n, K)`` the floor's out-of-fold probabilities (:class:`FloorFit`); its
            grades are their argmax.

    Returns:
        ``{"what", "resampling", "units", "n_boot", "seed", "alpha", "variants": {variant:
        {metric: {a, b, difference, ci_low, ci_high, resamples}}}}`` for the metrics of
        :data:`drac_ssl.metrics.PAIRED_METRICS` (``a``: the variant, ``b``: the floor).

    Raises:
        ValueError: a variant's ``oof.csv`` that lacks one of ``ids`` or grades an image
            otherwise than ``grades`` (naming the file), or probabilities of other width.
    """
    from drac_ssl.metrics import bootstrap_scores, paired_difference
    from drac_ssl.oof import OOF_FILE, read_oof, resampling_kind

    kind = resampling_kind(groups)
    floor_scores = bootstrap_scores(grades, floor_probs, floor_probs.argmax(axis=1), n_boot=n_boot,
                                    seed=seed, groups=groups, kind=kind)
    differences: dict[str, Any] = {}
    for variant in variants:
        path = run_dir / "finetune" / variant / OOF_FILE
        oof = read_oof(path)
        where = {image_id: i for i, image_id in enumerate(oof.ids)}
        missing = [image_id for image_id in ids if image_id not in where]
        if missing:
            raise ValueError(f"{path}: {len(missing)} of the {len(ids)} labelled images are not graded "
                             f"there (first: {missing[0]}); the floor and {variant} cannot be paired")
        order = np.array([where[image_id] for image_id in ids], dtype=np.int64)
        if not np.array_equal(oof.grades[order], grades):
            raise ValueError(f"{path}: reference grades differ from the manifest's for "
                             f"{int((oof.grades[order] != grades).sum())} image(s); the floor and "
                             f"{variant} cannot be paired")
        if oof.probs.shape[1] != floor_probs.shape[1]:
            raise ValueError(f"{path}: {oof.probs.shape[1]} grades, the floor {floor_probs.shape[1]}")
        scores = bootstrap_scores(grades, oof.probs[order], oof.pred[order], n_boot=n_boot, seed=seed,
                                  groups=groups, kind=kind)
        differences[variant] = paired_difference(scores, floor_scores)
    return {"what": "variant minus the raw-pixel floor on the same out-of-fold images: accuracy and QWK "
                    "of the given grades (the variant's class decision, the floor's argmax), macro AUC "
                    "one-vs-rest; paired percentile bootstrap 95% CI, the resamples of comparison.json",
            "resampling": kind, "units": floor_scores.units, "n_boot": n_boot, "seed": seed, "alpha": 0.05,
            "variants": differences}


def _variant_row(metrics: dict[str, Any]) -> dict[str, Any]:
    rules = metrics.get("decision_rules", {})
    report = metrics.get("report") or {}
    confusion = report.get("confusion")  # rows: true grade, columns: the grade given
    given = None
    if confusion:
        names = report.get("class_names") or metrics.get("class_names") or list(range(len(confusion)))
        given = {str(name): int(sum(row[j] for row in confusion)) for j, name in enumerate(names)}
    return {"n": metrics["n"], "decision": metrics["decision"], "grades_given_out_of_fold": given,
            "confusion_true_by_given": confusion, "qwk": metrics["qwk"],
            "qwk_ci95": metrics["qwk_ci95"], "accuracy": metrics["accuracy"], "auc_ovo": metrics["auc"],
            "auc_ovr": metrics["auc_ovr"], "macro_f1": metrics["macro_f1"],
            "qwk_fold_mean": metrics.get("qwk_fold_mean"), "qwk_fold_std": metrics.get("qwk_fold_std"),
            # referable DR (grade >= 2: AUC of P(referable) with its CI, sensitivity and
            # specificity at the given grades), absent in runs made before it was reported
            **({"referable": metrics["referable"]} if metrics.get("referable") else {}),
            "decision_rules": {rule: {key: r.get(key) for key in ("qwk", "qwk_ci95", "accuracy", "macro_f1")}
                               for rule, r in rules.items()}}


def submission_path(out_dir: Path, name: str, variant: str) -> Path:
    """Where a run's test submission of ``variant`` goes: ``<out_dir>/<name>_submission_<variant>.csv``,
    named after the result file (``name``: ``retinamnist`` for the full protocol, so its files
    are the committed ``retinamnist_submission_*.csv``; ``retinamnist_smoke`` for a shortened
    run). Review s52r F2: a smoke run said it wrote only its own JSON, but overwrote the
    committed submissions with a 1-epoch model's grades."""
    return out_dir / f"{name}_submission_{variant}.csv"


def smoke_reasons(departures: Sequence[str], name: str | None) -> list[str]:
    """Which of ``departures`` (:func:`bench.common.shortened_settings` of the run against
    configs/retinamnist.yaml) make a smoke run. Every one does under the default name, so a
    trial never replaces ``retinamnist.json``; under a ``--name`` of one's own, fewer
    ``pretrain.epochs`` is the experiment's variable (``retinamnist_s2``: 10 VICReg epochs with
    the stride-2 stem), recorded in ``protocol_departures``, while the caps (a
    ``max_steps_per_epoch``, fewer fine-tuning epochs or bootstrap draws) stay a smoke run."""
    if not name:
        return list(departures)
    return [d for d in departures if not d.startswith("pretrain.epochs=")]


RESULT = "retinamnist"
"""The full protocol's result name (``bench/results/retinamnist.json`` and its submissions)."""


PROTOCOL_DEVICE = "cpu"
"""The device the committed protocol was run and timed on (the 2-core CPU machine): a run on
another (``run.device=auto`` on a GPU host, ``run.device=cuda``) is another experiment,
under a ``--name`` of its own, as the GPU runs of docs/retinamnist.md were."""


def protocol_changes(protocol: dict[str, Any], used: dict[str, Any], cwd: str | None = None) -> list[str]:
    """The settings of ``used`` that change the job itself rather than shorten it, each as
    ``"key=value (the protocol's: v)"``, against ``protocol`` (configs/retinamnist.yaml with
    the bench's own three overrides; both as :func:`drac_ssl.config.to_dict` writes them):
    which variants the run has (``umm.enabled``, ``finetune.compare_scratch``, ``run.stages``),
    how they are pretrained, fine-tuned and scored, the data and the folds, the device: every setting
    :func:`drac_ssl.stage_settings.config_differences` finds between their
    :func:`~drac_ssl.stage_settings.comparable` forms (paths made absolute from ``cwd``, the
    folder the job runs in, so ``data.root`` as the config spells it is the bench's own;
    ``run.device`` as the device the run gets, against :data:`PROTOCOL_DEVICE`: ``auto`` on a
    GPU host is a change, ``cpu`` on a CPU host is not), less the speed settings
    (:data:`drac_ssl.stage_settings.SPEED_SETTINGS`) and those
    :func:`bench.common.shortened_settings` names (a smoke run's). Empty: none."""
    from drac_ssl.stage_settings import (
        SPEED_SETTINGS,
        comparable,
        config_differences,
        parse_difference_line,
    )

    shortened = {d.split("=", 1)[0] for d in shortened_settings(protocol, used)}
    was, now = comparable(protocol, cwd), comparable(used, cwd)
    was.setdefault("run", {})["device"] = PROTOCOL_DEVICE  # 'auto' was the 2-core CPU machine's CPU
    lines = config_differences(was, now)
    if (old := was["run"].get("stages")) != (new := now.get("run", {}).get("stages")):
        lines.append(f"run.stages: {old!r} -> {new!r}")  # output-only for a resume, not here: it drops variants
    out = []
    for line in lines:
        key, old, new = parse_difference_line(line)
        if key not in shortened and key not in SPEED_SETTINGS:
            out.append(f"{key}={new} (the protocol's: {old})")
    return out


def refuse_unnamed_changes(changes: Sequence[str], name: str | None, shortened: Sequence[str] = ()) -> None:
    """SystemExit before the job when ``changes`` (:func:`protocol_changes`) or ``shortened``
    (shortenings that are not a smoke run under ``name``: fewer ``pretrain.epochs`` under a
    name) would be written under the protocol's own name (no ``--name``, or ``--name
    retinamnist``), or ``changes`` under a smoke run's (``--name ..._smoke``, kept for smoke
    runs). A run with changes is another experiment, neither the protocol's figures nor a
    smoke run of it, so it needs a name of its own, under which they are recorded in
    ``protocol_departures``; a run that only shortens the job is a smoke run, whose file is
    ``retinamnist_smoke.json`` without ``--name``."""
    if changes and name and name.endswith(SMOKE_SUFFIX):
        raise SystemExit(
            f"error: {'; '.join(changes)}: changes the benchmark's protocol (configs/retinamnist.yaml), "
            f"but --name {name} ends in {SMOKE_SUFFIX}, kept for smoke runs (a shortened protocol).\n"
            f"  fix: give the experiment a name of its own that does not, e.g. --name {RESULT}_mine")
    if (name or RESULT) != RESULT:
        return
    if changes:
        raise SystemExit(
            f"error: {'; '.join(changes)}: changes the benchmark's protocol (configs/retinamnist.yaml), "
            f"so its figures are not {RESULT}.json's nor a smoke run's.\n"
            f"  fix: give the experiment a name of its own, e.g. --name {RESULT}_mine "
            f"(written to {RESULT}_mine.json, the changes recorded in protocol_departures)")
    if shortened:
        raise SystemExit(
            f"error: {'; '.join(shortened)}: shortens the benchmark's protocol, so --name {RESULT} would "
            f"write a smoke run's figures as the protocol's.\n"
            f"  fix: leave --name out (a smoke run writes {RESULT}{SMOKE_SUFFIX}.json), or give an "
            f"experiment a name of its own, e.g. --name {RESULT}_mine")


def run_variants(run_dir: Path) -> list[str]:
    """The variants the run fine-tuned, in the order ``finetune/summary.json`` lists them
    (its ``variants`` keys: ``scratch``, ``vicreg``, ``vicreg_umm``, less those the run's
    settings left out, e.g. ``umm.enabled=false``). SystemExit naming the file when it is
    missing, unreadable or lists none."""
    from drac_ssl.io import read_json_dict

    path = run_dir / "finetune" / "summary.json"
    variants = (read_json_dict(path) or {}).get("variants")
    if not isinstance(variants, dict) or not variants:
        raise SystemExit(f"{path}: missing, unreadable or lists no fine-tuned variant; "
                         f"fix: rerun this command to resume the job (run folder {run_dir})")
    return [str(v) for v in variants]


def export_submissions(cfg: Any, run_dir: Path, out_dir: Path, name: str,
                       variants: Sequence[str]) -> dict[str, Any]:
    """Each of ``variants``' test submission (``cfg``: the run's :class:`drac_ssl.config.Config`) (:func:`drac_ssl.export.run` with ``variant=``,
    to :func:`submission_path`): variant -> ``{"file", "rows", "sha256"}`` (and ``"flagged"``,
    ``"notes"`` when some test image is not reliably gradable)."""
    from drac_ssl import export

    submissions: dict[str, Any] = {}
    for variant in variants:
        path = submission_path(out_dir, name, variant)
        result = export.run(cfg, run_dir, variant=variant, submission_path=path)
        # the checksum ties the figures to the file committed beside them (review s52r F7)
        submissions[variant] = {"file": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path),
                                "rows": result.n_test, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        notes = result.image_notes_path  # <stem>_notes.csv beside it: test images not reliably gradable
        if notes is not None:
            submissions[variant].update(flagged=result.n_flagged, notes=str(
                notes.relative_to(REPO) if notes.is_relative_to(REPO) else notes))
    return submissions


STAGE_WORDS = {"ingest": "ingest", "pretrain": "VICReg", "umm": "UMM", "export": "export"}


def stage_words(stages: dict[str, Any], variants: Sequence[str], n_folds: int) -> str:
    """The stages a run finished (``stages``: its ``stages.json``, each stage's entry by name;
    those with ``"status": "done"``, in pipeline order), in words for the result's ``what``:
    ``"ingest, VICReg, UMM, 5-fold CV fine-tuning of scratch / VICReg / VICReg+UMM, export"``
    for the protocol; without ``UMM`` and its variant under ``umm.enabled=false``."""
    from drac_ssl.run_state import PIPELINE

    fine_tuned = " / ".join(VARIANT_WORDS.get(v, v) for v in variants)
    return ", ".join(f"{n_folds}-fold CV fine-tuning of {fine_tuned}" if stage == "finetune"
                     else STAGE_WORDS.get(stage, stage) for stage in PIPELINE
                     if (stages.get(stage) or {}).get("status") == "done")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.retinamnist"), allow_abbrev=False,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "bench-retinamnist"),
                        help="the run folder (kept; a rerun resumes it)")
    parser.add_argument("--fresh", action="store_true", help="delete the run folder first (a timed run)")
    parser.add_argument("--out-dir", default=str(RESULTS),
                        help="where the result JSON and the submissions go (default bench/results)")
    parser.add_argument("--name", default=None, help="result name (default: retinamnist; with an override "
                        "that does less than the config, e.g. fewer epochs, retinamnist_smoke; under a name "
                        "of your own fewer pretrain.epochs is an experiment, not a smoke run). Needed for an "
                        "override that changes the protocol (e.g. umm.enabled=false, run.seed=1, a GPU)")
    add_threads_argument(parser)
    parser.add_argument("overrides", nargs="*", help="section.key=value settings for the main job")
    args = parser.parse_intermixed_args(argv)  # overrides on both sides of the options
    if not NPZ.is_file():
        raise SystemExit(f"RetinaMNIST not found at {NPZ}: this benchmark needs ../shared/data/retinamnist/ "
                         f"beside the repository")
    run_dir = Path(args.run_dir).resolve()
    out_dir = Path(args.out_dir)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_ALBUMENTATIONS_UPDATE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    overrides = [f"data.root={NPZ}", f"run.out_dir={run_dir.parent}", f"run.name={run_dir.name}",
                 *args.overrides]
    from drac_ssl.config import ConfigError, load_config, to_dict

    try:  # a mistyped override: the package's message (what, where, did you mean), no traceback
        protocol, used = to_dict(load_config(CONFIG, overrides[:3])), to_dict(load_config(CONFIG, overrides))
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    # every refusal before the job (not after its 40 minutes) and before --fresh deletes anything
    shortened, changes = shortened_settings(protocol, used), protocol_changes(protocol, used, cwd=str(REPO))
    departures = [*shortened, *changes]
    reasons = smoke_reasons(shortened, args.name)
    refuse_unnamed_changes(changes, args.name, [d for d in shortened if d not in reasons])
    name = smoke_result_name(RESULT, reasons, args.name, out_dir=out_dir)
    if reasons:
        print(f"[bench] smoke run ({'; '.join(reasons)}): checks that the job runs; writes {name}.json")
    if experiment := [d for d in departures if d not in reasons]:
        print(f"[bench] an experiment, not the protocol ({'; '.join(experiment)}): writes {name}.json, "
              f"these in its protocol_departures")

    if args.fresh and run_dir.exists():  # only now: a refused run leaves a finished job's folder alone
        shutil.rmtree(run_dir)
    resumed = run_dir.exists()

    # 1. the main job, as a user runs it
    load_start = load_average()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "drac_ssl.train", "-c", str(CONFIG), "--threads",
                           str(args.threads), *overrides], cwd=REPO, env=env, check=False)
    job_seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"the main job failed with exit code {proc.returncode} (run folder {run_dir}; "
                         f"rerun this command to resume it)")

    # 2. every variant's submission, 3. the floor (in this process, the job's thread count)
    from drac_ssl.datasets import load_octa_cache
    from drac_ssl.figures import format_difference
    from drac_ssl.manifest import labelled_rows
    from drac_ssl.oof import OOF_FILE, patient_groups
    from drac_ssl.runtime import apply_thread_policy

    threads = apply_thread_policy(max(args.threads, 0))
    cfg = load_config(CONFIG, overrides)
    t1 = time.perf_counter()
    run_has = run_variants(run_dir)  # the variants this run fine-tuned, e.g. none with UMM under umm.enabled=false
    submissions = export_submissions(cfg, run_dir, out_dir, name, run_has)
    export_seconds = time.perf_counter() - t1
    images, rows = load_octa_cache(run_dir / "data", cfg.data.cache_sizes[0])
    labelled = labelled_rows(rows)  # the fine-tuning's pool, in manifest order
    ids = [str(r["id"]) for r in labelled]
    grades = np.array([r["grade"] for r in labelled], dtype=np.int64)
    folds = np.array([r["fold"] for r in labelled], dtype=np.int64)
    pixels = np.stack([np.asarray(images[r["cache_index"]]) for r in labelled])
    fit = fit_pixel_floor(pixels, grades, folds, seed=cfg.run.seed)
    floor = pixel_floor(pixels, grades, folds, seed=cfg.run.seed, n_boot=cfg.finetune.n_boot, fitted=fit)
    write_floor_oof(run_dir / FLOOR_OOF, ids, grades, folds, fit.probs)
    t2 = time.perf_counter()  # each variant minus the floor, by the bootstrap of comparison.json
    floor["paired"] = floor_paired(run_dir, ids, grades, fit.probs, n_boot=cfg.finetune.n_boot,
                                   seed=cfg.finetune.seed if cfg.finetune.seed >= 0 else cfg.run.seed,
                                   groups=patient_groups(labelled), variants=run_has)
    floor["paired_seconds"] = round(time.perf_counter() - t2, 1)
    # the per-image out-of-fold predictions beside the result, so that its figures and
    # intervals can be recomputed without a rerun (referee F1)
    # with the unit each image was resampled in when the bootstrap resampled patients or twin
    # groups (none for per-image folds), so a cluster bootstrap can be recomputed from them too
    oof_files = keep_oof_copies({**{v: run_dir / "finetune" / v / OOF_FILE for v in run_has},
                                 "pixel_floor": run_dir / FLOOR_OOF}, out_dir, name, units=oof_units(run_dir))
    total = time.perf_counter() - t0

    stages = run_stages(run_dir)
    summary = json.loads((run_dir / "finetune" / "summary.json").read_text(encoding="utf-8"))
    pretrain_meta = json.loads((run_dir / "pretrain" / "metadata.json").read_text(encoding="utf-8"))
    variants = {v: _variant_row(json.loads((run_dir / "finetune" / v / "metrics.json").read_text(encoding="utf-8")))
                for v in run_has}
    stage_seconds = {name: s.get("seconds") for name, s in stages.items()}
    stage_seconds["export_every_variant"] = round(export_seconds, 1)
    stage_seconds["pixel_floor"] = floor["seconds"]
    print(f"[bench] RetinaMNIST: {total:.0f} s in all; stages {stage_seconds}")
    for v, r in {**variants, "pixel_floor": floor}.items():
        print(f"[bench] {v:12s} QWK {r['qwk']:.3f} [{r['qwk_ci95'][0]:.3f}, {r['qwk_ci95'][1]:.3f}]  "
              f"acc {r['accuracy']:.3f}  AUC OvO {r['auc_ovo']:.3f}  OvR {r['auc_ovr']:.3f}")
    for v, d in floor["paired"]["variants"].items():
        print(f"[bench] {v} - pixel floor, paired bootstrap 95% CI ({floor['paired']['resampling']}): "
              + "; ".join(f"{m} {format_difference(x['difference'], x['ci_low'], x['ci_high'])}"
                          for m, x in d.items()))
    write_result(name, {
        **smoke_fields(reasons),
        "protocol_departures": departures,
        "what": f"python -m drac_ssl.train -c configs/retinamnist.yaml ({stage_words(stages, run_has, cfg.data.n_folds)}), "
                "the test submission of every variant, and a logistic-regression floor on the raw pixels on the same folds",
        "data": "RetinaMNIST (MedMNIST v2, 28 px colour fundus, ICDR grades 0-4): 1,080 train + 120 val "
                "labelled = the 5-fold CV pool; 400 test images without labels",
        "protocol": "out-of-fold predictions of the 1,200 labelled images (5 stratified folds, the "
                    "manifest's); each fold's model after its last epoch (finetune.keep=last); "
                    "temperature and thresholds cross-fitted; QWK 95% CI: bootstrap of the "
                    "out-of-fold grades. Nothing was tuned on the test images' labels (not available).",
        "pretraining_images": pretrain_meta.get("training_data"),
        "pretrain_epochs_run": pretrain_meta.get("epochs_run"),
        "resumed_run": resumed,
        "seconds_total": round(total, 1),
        "seconds_main_job": round(job_seconds, 1),
        "seconds_per_stage": stage_seconds,
        "threads": threads,
        "load_average_1_5_15_min": {"start": load_start, "end": load_average()},
        "goal": f"< {GOAL_SECONDS} s on the 2-core CPU machine (issue #12)",
        "goal_met": (not resumed) and total < GOAL_SECONDS,
        "goal_note": None if not resumed else "a resumed run: the total is not the whole job's time",
        "selected_variant": summary.get("selected"),
        "variants": variants,
        **{key: json.loads((run_dir / "finetune" / "comparison.json").read_text(encoding="utf-8")).get(key)
           for key in ("pretrained_minus_scratch", "umm_minus_vicreg")},
        "pixel_floor": floor,
        "oof_files": oof_files,
        "submissions": submissions,
        "published_test_split": PUBLISHED,
        "aim": AIM,
    }, out_dir)


if __name__ == "__main__":
    main()
