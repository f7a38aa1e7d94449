"""Which grade the deployed fold ensemble gives, against the phantom test set's hidden grades
-> ``bench/results/ensemble_grade.json``.

    python -m bench.ensemble_grade [--run-dir runs/default] [--name ensemble_grade]

On a finished phantom run (README command (1): ``data.root`` empty, the embedded phantom
UW-OCTA set of :mod:`data_prep.phantom`), the run's bundle grades the ingest's test images as
the export stage does (the ingest cache, the cross-validation's flips); the test images' hidden
grades come from :func:`data_prep.phantom.plan_phantom` with the run's ``data.phantom_*``
settings. Nothing else is labelled: a run on real data is refused (it has no test labels).

Three rules turn the fold models' outputs into a grade, each scored on the test images:

* ``current``: what the submission and the app give: the mean of the fold models'
  probabilities (each ``softmax(logits / T)``), its expected grade ``sum_k k P_k`` cut at the
  thresholds; ``T`` and the thresholds were fitted on single fold models' out-of-fold outputs
  (:class:`drac_ssl.grading.model.Calibration`). The bench stops with an error unless these
  grades are the submission's (``export/submission.csv``) for every test image
  (:func:`submission_check`).
* ``argmax``: the most probable grade of the same mean probabilities.
* ``median_of_folds``: each fold model's own grade (its ``softmax(logits / T)``, expected
  grade, cut at the same thresholds: the rule the calibration was fitted for), then the median
  over the fold models (for an even number of models, the milder of the two middle grades).

For each rule: QWK (95 % percentile bootstrap over images, 2000 resamples, seed 0), the paired
bootstrap difference to ``current``, accuracy, per-grade sensitivity (recall) with counts, the
confusion matrix (rows the hidden grade, columns the rule's), and how many grades are milder or
more severe than the argmax of the mean probabilities (the most likely grade the app shows).
For reference: each fold model alone on the test images (deployed calibration), the single
models' out-of-fold figures as the model card reports them (``oof.csv``'s ``pred``:
cross-fitted calibration), and the spread (standard deviation) of the expected grade of the
ensemble against that of the single fold models on the same images (whether averaging narrows it).
When ``../shared/data/drac_samples`` holds the three real DRAC samples, their probabilities and
the three rules' grades are listed too (no labels: an illustration, not a score).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO, SHARED_DATA, write_result
from drac_ssl.starting import python_command

N_BOOT = 2000
"""Bootstrap resamples of the QWK intervals and of the paired differences."""


def lower_median(grades: np.ndarray) -> np.ndarray:
    """Median over axis 0 of integer grades ``(m, n)`` -> ``(n,)`` int64: the middle grade of
    each column; for an even ``m`` the lower (milder) of the two middle ones, so the result is
    always a grade."""
    ordered = np.sort(np.asarray(grades, dtype=np.int64), axis=0)
    return ordered[(ordered.shape[0] - 1) // 2]


def fold_grades(raw_per_model: list[np.ndarray], calibration: Any) -> np.ndarray:
    """Each fold model's own grade ``(m, n)`` under ``calibration`` (a
    :class:`drac_ssl.grading.model.Calibration` cutting at thresholds): the ensemble of one."""
    return np.stack([calibration.with_decision("thresholds").decide([raw])[2] for raw in raw_per_model])


def severity_vs_most_likely(shown: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """How many of the ``shown`` grades ``(n,)`` are milder / more severe than the most likely
    grade (``argmax`` of ``probs`` ``(n, K)``), counts and shares."""
    top = np.asarray(probs).argmax(axis=1)
    n = len(shown)
    milder = int(np.sum(shown < top))
    severe = int(np.sum(shown > top))
    return {"milder_than_most_likely": milder, "more_severe_than_most_likely": severe,
            "share_milder": round(milder / n, 4) if n else None,
            "share_more_severe": round(severe / n, 4) if n else None}


def grade_figures(truth: np.ndarray, pred: np.ndarray, k: int, names: list[str]) -> dict[str, Any]:
    """QWK with its bootstrap interval, accuracy, per-grade sensitivity and the confusion matrix
    of ``pred`` against ``truth`` (both ``(n,)`` grades ``0..k-1``)."""
    from drac_ssl.metrics import bootstrap_ci, quadratic_weighted_kappa

    qwk = quadratic_weighted_kappa(truth, pred, num_grades=k)
    low, high = bootstrap_ci(truth, pred, n_boot=N_BOOT, seed=0)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (truth, pred), 1)
    per_grade = {}
    for g in range(k):
        n_g = int(confusion[g].sum())
        per_grade[f"{g} {names[g]}"] = {
            "images": n_g, "found": int(confusion[g, g]),
            "sensitivity": round(confusion[g, g] / n_g, 4) if n_g else None,
            "shown_milder": int(confusion[g, :g].sum()), "shown_more_severe": int(confusion[g, g + 1:].sum())}
    return {"qwk": round(float(qwk), 4), "qwk_ci95": [round(float(low), 4), round(float(high), 4)],
            "accuracy": round(float(np.mean(truth == pred)), 4), "per_grade": per_grade,
            "grade_counts": np.bincount(pred, minlength=k).tolist(),
            "confusion_rows_truth_cols_shown": confusion.tolist()}


def paired_qwk_difference(truth: np.ndarray, pred: np.ndarray, reference: np.ndarray,
                          probs: np.ndarray) -> dict[str, Any]:
    """QWK(pred) - QWK(reference) on the same images, with a paired percentile bootstrap 95 %
    interval (the same resample for both, :data:`N_BOOT`, seed 0): the ``qwk`` of
    :func:`drac_ssl.metrics.paired_bootstrap_difference`, rounded for the result file. ``truth``,
    ``pred``, ``reference`` ``(n,)`` grades; ``probs`` ``(n, K)`` the probabilities both rules
    cut (the library scores their AUC too, the same for both: not reported)."""
    from drac_ssl.metrics import paired_bootstrap_difference

    qwk = paired_bootstrap_difference(truth, probs, probs, pred, reference, n_boot=N_BOOT, seed=0)["qwk"]
    return {"difference": round(float(qwk["difference"]), 4),
            "ci95": [round(float(qwk["ci_low"]), 4), round(float(qwk["ci_high"]), 4)],
            "resamples": int(qwk["resamples"])}


def phantom_test_grades(cfg: Any, ids: list[str]) -> np.ndarray:
    """The hidden grades ``(n,)`` of the phantom test images named ``ids`` (the manifest's ids,
    the file stems ``001`` ...), from :func:`data_prep.phantom.plan_phantom` with the run's
    settings. Raises SystemExit naming an id the plan does not hold."""
    from data_prep.phantom import plan_phantom

    d = cfg.data
    plan = plan_phantom(d.phantom_n_train, d.phantom_n_test, d.phantom_seed)
    hidden = {Path(case.name).stem: case.grade for case in plan.test}
    missing = [i for i in ids if Path(i).stem not in hidden]
    if missing:
        raise SystemExit(f"error: {len(missing)} test id(s) of the run are not in the phantom plan "
                         f"(first: {missing[0]}); the run's phantom settings do not match its data")
    return np.array([hidden[Path(i).stem] for i in ids], dtype=np.int64)


def _raw_outputs(bundle: Any, images: Any, indices: list[int]) -> list[np.ndarray]:
    """Per fold model, its raw outputs ``(n, K)`` on the cached images at ``indices`` (as the
    export stage grades them: ingested, the cross-validation's flips), 64 images a chunk."""
    import torch

    from drac_ssl.grading.predict import ensemble_outputs, prepare_image

    parts: list[list[np.ndarray]] = []
    for start in range(0, len(indices), 64):
        inputs = torch.stack([prepare_image(np.asarray(images[i]), bundle.metadata, ingested=True).input
                              for i in indices[start:start + 64]])
        parts.append(ensemble_outputs(bundle, inputs).raw)
    return [np.concatenate([p[m] for p in parts]) for m in range(len(parts[0]))]


def submission_check(path: Path, ids: list[str], grades: np.ndarray) -> str:
    """``"<n> of <n>"`` when the ``grades`` ``(n,)`` recomputed here for the test images ``ids``
    are the run's submission's ``class`` column (``path``, ``export/submission.csv``) for every
    image: the bench scores the rule the run deployed, or nothing. Raises SystemExit naming the
    file and the first image that differs or is missing (a bundle re-exported after the
    submission, or another run's data: run the export stage again), or a missing file (the run
    did not reach its export stage: run README command (1) to the end)."""
    if not path.is_file():
        raise SystemExit(f"error: {path} not found: the bench checks its grades against the run's "
                         f"submission; run README command (1) (scripts/run_default.sh) to the end first")
    with open(path, newline="", encoding="utf-8") as fh:
        submitted = {r["case"]: int(r["class"]) for r in csv.DictReader(fh)}
    differ = [(i, int(g), submitted.get(i)) for i, g in zip(ids, grades, strict=True) if submitted.get(i) != int(g)]
    if differ:
        case, here, there = differ[0]
        said = "is not in it" if there is None else f"has class {there} there"
        raise SystemExit(f"error: {path}: the grades recomputed from the bundle differ from the submission "
                         f"for {len(differ)} of {len(ids)} test images (first: case {case} is graded {here} "
                         f"here and {said}); the bundle is not the one that wrote it: re-run the run's "
                         f"export stage, then this bench")
    return f"{len(ids)} of {len(ids)}"


def _real_samples(bundle: Any) -> list[dict[str, Any]]:
    from drac_ssl.grading.predict import ensemble_outputs, prepare_image, read_image

    cal = bundle.calibration
    out = []
    for path in sorted((SHARED_DATA / "drac_samples").glob("*.png")):
        image = read_image(path, bundle.spec.channels)[0]
        raw = ensemble_outputs(bundle, prepare_image(image, bundle.metadata).input[None]).raw
        probs, score, grade = cal.decide(raw)
        out.append({"file": path.name, "probs": [round(float(p), 3) for p in probs[0]],
                    "expected_grade": round(float(score[0]), 3), "current": int(grade[0]),
                    "argmax": int(probs[0].argmax()),
                    "median_of_folds": int(lower_median(fold_grades(raw, cal))[0]),
                    "fold_grades": fold_grades(raw, cal)[:, 0].tolist()})
    return out


def _shown_path(path: Path) -> str:
    """``path`` relative to the repository when inside it (``runs/default``), else as given."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def measure(run_dir: Path) -> dict[str, Any]:
    from drac_ssl.config import load_config
    from drac_ssl.datasets import load_octa_cache
    from drac_ssl.grading.bundle import load_bundle
    from drac_ssl.metrics import expected_grade, softmax
    from drac_ssl.oof import OOF_FILE, read_oof

    cfg = load_config(run_dir / "config.yaml")
    if cfg.data.dataset != "drac" or str(cfg.data.root or "").strip():
        raise SystemExit(f"error: {run_dir} is not a phantom run (data.root={cfg.data.root!r}): only the "
                         f"phantom set's test grades are known; run README command (1) first")
    bundle = load_bundle(run_dir / "bundle", "cpu")
    cal = bundle.calibration
    if cal.output != "classification":
        raise SystemExit(f"error: {run_dir}/bundle has a {cal.output} head; this bench compares rules "
                         f"on a classification head's probabilities")
    k = cal.num_grades
    names = list(bundle.grade_names)
    images, rows = load_octa_cache(run_dir / "data", bundle.spec.source_size)
    test = [r for r in rows if r["split"] == "test"]
    ids = [str(r["id"]) for r in test]
    truth = phantom_test_grades(cfg, ids)
    raw = _raw_outputs(bundle, images, [int(r["cache_index"]) for r in test])
    probs, score, current = cal.with_decision("thresholds").decide(raw)
    per_fold = fold_grades(raw, cal)
    rules = {"current": current, "argmax": probs.argmax(axis=1).astype(np.int64),
             "median_of_folds": lower_median(per_fold)}
    same = submission_check(run_dir / "export" / "submission.csv", ids, current)
    figures: dict[str, Any] = {
        "run_dir": _shown_path(run_dir), "variant": bundle.metadata.get("variant"),
        "n_test": len(ids), "fold_models": len(raw), "tta": bool(bundle.tta_in_cv),
        "bundle_decision": cal.decision, "temperature": round(float(cal.temperature), 4),
        "thresholds": [round(float(t), 4) for t in cal.thresholds], "grade_names": names,
        "test_grade_counts": np.bincount(truth, minlength=k).tolist(),
        "current_equals_submission": same,
        "rules": {}}
    for rule, pred in rules.items():
        figures["rules"][rule] = {**grade_figures(truth, pred, k, names), **severity_vs_most_likely(pred, probs),
                                  **({} if rule == "current" else
                                     {"qwk_minus_current": paired_qwk_difference(truth, pred, current, probs)})}
    singles = [grade_figures(truth, g, k, names) for g in per_fold]
    figures["single_fold_models_on_test"] = {
        "qwk": [s["qwk"] for s in singles],
        "sensitivity_per_grade": {name: [s["per_grade"][name]["sensitivity"] for s in singles]
                                  for name in singles[0]["per_grade"]},
        "milder_than_own_most_likely": [severity_vs_most_likely(g, softmax(r, cal.temperature))["milder_than_most_likely"]
                                        for g, r in zip(per_fold, raw, strict=True)]}
    fold_scores = np.stack([expected_grade(softmax(r, cal.temperature)) for r in raw])
    figures["expected_grade_sd"] = {"ensemble": round(float(score.std()), 4),
                                    "single_fold_models": [round(float(s.std()), 4) for s in fold_scores]}
    oof = read_oof(run_dir / "finetune" / str(bundle.metadata["variant"]) / OOF_FILE)
    figures["single_models_out_of_fold"] = {
        "what": "oof.csv pred: each labelled image graded by the fold model that did not train on it, "
                "cross-fitted calibration (the model card's figures)",
        **grade_figures(oof.grades, oof.pred, k, names), **severity_vs_most_likely(oof.pred, oof.probs)}
    figures["real_drac_samples"] = _real_samples(bundle)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.ensemble_grade"), allow_abbrev=False, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "default"),
                        help="a finished phantom run folder (README command (1)); default runs/default")
    parser.add_argument("--name", default="ensemble_grade")
    parser.add_argument("--out-dir", default=str(REPO / "bench" / "results"))
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    if not (run_dir / "bundle" / "metadata.json").is_file():
        raise SystemExit(f"error: {run_dir}/bundle/metadata.json not found: run README command (1) "
                         f"(scripts/run_default.sh) to the end first")
    figures = measure(run_dir)
    for rule, f in figures["rules"].items():
        sens = ", ".join(f"{g}: {v['sensitivity']}" for g, v in f["per_grade"].items())
        print(f"[ensemble_grade] {rule}: QWK {f['qwk']} {f['qwk_ci95']}, sensitivity {sens}; "
              f"{f['milder_than_most_likely']} milder / {f['more_severe_than_most_likely']} more severe "
              f"than the most likely of {figures['n_test']}")
    write_result(args.name, figures, Path(args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
