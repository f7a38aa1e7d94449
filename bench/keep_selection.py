"""How much the rule that picks each fold's kept epoch moves the out-of-fold figures
(``finetune.keep=best`` and ``=inner`` against ``finetune.keep=last``; methods review of
December 2026).

``last`` (the default) keeps each fold's last epoch: a fixed schedule of ``finetune.epochs``,
nothing chosen. The other rules are each measured against it:

- ``best`` keeps the epoch with the best validation kappa, and can stop early
  (``finetune.patience``), on the very images it is then scored on, so the out-of-fold QWK is
  optimistic and the other figures (AUC, accuracy) off by an amount of either sign: best minus
  last is that optimism (with what a tuned epoch honestly adds mixed in; it cannot be split).
- ``inner`` is honest early stopping: each fold holds out ``finetune.inner_fraction`` (0.15 by
  default) of its training images, grade-stratified, chooses the epoch (and stops early) on
  them and scores its validation fold once. Inner minus last is the cost or gain of an honest
  early cut against the fixed schedule, paid for with ~15 % fewer training images per fold
  (both are in the difference; the record says how many images each fold trained on).

This script fine-tunes a finished run's variants once per rule (``--rules``, default
``best,last``), each time in a new run folder that takes the run's ingest, pretraining and
UMM through ``run.reuse`` (hard links: nothing is pretrained again; folds the run itself
trained under the same rule and settings are taken from it too, as ``run.reuse`` does: a run
fine-tuned under ``keep=last`` gives its own ``last`` folds, which are not retrained, and the
record's ``folds_taken_from`` per variant and rule says so). Folds, seeds, heads, epoch
budgets (which best and inner may cut short) and the cross-fitted calibration are the same;
which epoch's weights each fold keeps differs, and under ``inner`` the images it trains on.
Each fine-tuning runs in the folder the run was started from (:func:`source_cwd`), where the
relative paths of its ``config.yaml`` (``data.root``) name what its ingest read; a relative
path in a trailing override (``KEY=VALUE``) is read from there too, not from the folder this
command runs in (``--help`` says so).

``bench/results/<name>.json`` holds, per rule and variant, the out-of-fold QWK (95% CI), AUC
one-vs-one and one-vs-rest, accuracy, the epochs kept and each fold's training images (under
``inner`` also each fold's inner-split QWK that chose the epoch and its validation QWK at the
fixed thresholds); each non-last rule minus last (``minus_last``; ``best_minus_last`` too, as
before); and each pretrained variant's paired difference with scratch under each rule (its
95% CI), since the effect differs between variants and so moves the comparison too. The
default name is ``keep_selection`` for the default rules, ``keep_selection_<rules>``
otherwise (:func:`default_name`), so another rule set never overwrites the committed file.

    python -m bench.keep_selection                    # runs/default, README command (1)'s run
    python -m bench.keep_selection --run-dir runs/X --name keep_selection_X
    python -m bench.keep_selection --run-dir runs/X --rules last,inner --name keep_selection_inner_X

Each rule's per-image out-of-fold predictions (``id, grade, fold, P0..P{K-1}, pred``, and
``ci_unit``, each image's resampling unit, when the run's bootstrap resampled patients or twin
groups: :func:`bench.common.oof_units`) are copied beside the result as ``<name>_oof_<rule>_<variant>.csv`` and named under ``oof_files``
(:func:`bench.common.keep_oof_copies`), since the run folders are temporary; results written
before that (the committed ``keep_selection.json``) kept none.

One finished run, one seed: the figures say how large the effect was there, not in general.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    RESULTS,
    add_threads_argument,
    keep_oof_copies,
    load_average,
    oof_units,
    run_stages,
    write_result,
)
from drac_ssl.oof import OOF_FILE
from drac_ssl.starting import python_command

ALL_RULES = ("best", "inner", "last")
"""The ``finetune.keep`` rules this bench can run, in the order it runs and reports them: those
measured against ``last``, then ``last``."""
RULES = ("best", "last")
"""The default ``--rules`` (the committed ``bench/results/keep_selection.json``'s command)."""
METRICS = ("qwk", "auc", "auc_ovr", "accuracy")
"""The out-of-fold figures each rule's difference with ``last`` is taken of."""
DEFAULT_NAME = "keep_selection"


def parse_rules(text: str) -> tuple[str, ...]:
    """``--rules``: a comma list of ``best``, ``inner``, ``last`` (any order, spaces ignored) ->
    those rules in :data:`ALL_RULES` order, each once.

    Raises:
        ValueError: an unknown rule, or a list without ``last`` or without another rule
            (every figure this bench writes is a rule against ``last``).
    """
    given = [w.strip() for w in text.split(",") if w.strip()]
    unknown = [w for w in given if w not in ALL_RULES]
    if unknown:
        raise ValueError(f"--rules {text}: unknown rule(s) {', '.join(unknown)}\n"
                         f"  fix: a comma list of {', '.join(ALL_RULES)}, e.g. --rules last,inner")
    rules = tuple(r for r in ALL_RULES if r in given)
    if "last" not in rules or len(rules) < 2:
        raise ValueError(f"--rules {text}: every figure is a rule minus keep=last, so the list needs "
                         f"last and at least one of best, inner\n  fix: --rules last,inner (or best,last, "
                         f"the default)")
    return rules


def default_name(rules: tuple[str, ...]) -> str:
    """The result's name when ``--name`` is not given: ``keep_selection`` for the default rules
    (:data:`RULES`), else ``keep_selection_<rule>_<rule>...`` (e.g. ``keep_selection_inner_last``),
    so another rule set never overwrites the committed ``keep_selection.json``."""
    rules = tuple(r for r in ALL_RULES if r in rules)
    return DEFAULT_NAME if rules == RULES else "_".join((DEFAULT_NAME, *rules))


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def variant_figures(finetune_dir: Path) -> dict[str, dict[str, Any]]:
    """Per variant of a fine-tuning stage's folder: out-of-fold QWK with its 95% CI, AUC
    (one-vs-one, one-vs-rest), accuracy, each fold's kept epoch (1-based) of the epochs run and
    its training images (``n_train``), the rule (``keep``) and ``folds_taken_from`` (run folder
    -> the folds ``run.reuse`` took from it, not retrained; None or {} when all were trained).
    Under ``finetune.keep=inner`` also ``inner``: per fold the inner split's images
    (``n_inner``), its uncalibrated QWK at the kept epoch, which chose it
    (``inner_qwk_at_kept_epoch``, metrics.json's ``best_inner_qwk_uncalibrated``), and the
    validation fold's uncalibrated QWK, scored once with the kept weights (``val_qwk_uncalibrated``)."""
    comparison = _read_json(finetune_dir / "comparison.json")
    out: dict[str, dict[str, Any]] = {}
    for row in comparison["rows"]:
        variant = row["variant"]
        metrics = _read_json(finetune_dir / variant / "metrics.json")
        folds = metrics["folds"]
        out[variant] = {
            "qwk": row["qwk"], "qwk_ci95": [row["qwk_ci_low"], row["qwk_ci_high"]],
            "auc": row["auc"], "auc_ovr": row["auc_ovr"], "accuracy": row["accuracy"],
            "kept_epochs": [f["best_epoch"] + 1 for f in folds],
            "epochs_run": [f["epochs_run"] for f in folds],
            "n_train": [f.get("n_train") for f in folds],
            "keep": metrics.get("keep"),
            # folds whose signature matched the source run's were taken from it, not retrained
            "folds_taken_from": metrics.get("folds_taken_from"),
        }
        if metrics.get("keep") == "inner" or any("best_inner_qwk_uncalibrated" in f for f in folds):
            out[variant]["inner"] = {
                "n_inner": [f.get("n_inner") for f in folds],
                "inner_qwk_at_kept_epoch": [f.get("best_inner_qwk_uncalibrated") for f in folds],
                "val_qwk_uncalibrated": [f.get("val_qwk_uncalibrated") for f in folds],
            }
    return out


def paired_differences(finetune_dir: Path) -> dict[str, dict[str, Any]]:
    """Each pretrained variant minus scratch (``comparison.json``): difference and 95% CI."""
    comparison = _read_json(finetune_dir / "comparison.json")
    return {variant: {metric: {"difference": d["difference"], "ci95": [d["ci_low"], d["ci_high"]]}
                      for metric, d in by_metric.items()}
            for variant, by_metric in (comparison.get("pretrained_minus_scratch") or {}).items()}


def minus_last(figures: dict[str, dict[str, dict[str, Any]]], rule: str) -> dict[str, dict[str, float]]:
    """Per variant run under both, ``rule`` minus ``last`` of each of :data:`METRICS`
    (``figures``: rule -> :func:`variant_figures`). Raises KeyError when either rule is absent."""
    other, last = figures[rule], figures["last"]
    return {v: {m: other[v][m] - last[v][m] for m in METRICS} for v in other if v in last}


def differences_from_last(figures: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Each rule of ``figures`` but ``last`` -> :func:`minus_last` (rule -> variant -> metric)."""
    return {rule: minus_last(figures, rule) for rule in ALL_RULES if rule in figures and rule != "last"}


def optimism(figures: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Per variant, ``best`` minus ``last`` of QWK, AUC (both) and accuracy."""
    return minus_last(figures, "best")


def inner_training_images(figures: dict[str, dict[str, dict[str, Any]]],
                          inner_fraction: float | None) -> dict[str, Any]:
    """What ``keep=inner`` costs in training images: each fold's ``n_train`` under ``inner`` and
    under ``last`` (the same for every variant: the split is the fine-tuning seed's; read from
    the first variant run under both), the inner split's images, the share fewer in all and
    words saying so. {} when ``inner`` or ``last`` was not run."""
    inner, last = figures.get("inner") or {}, figures.get("last") or {}
    variant = next((v for v in inner if v in last), None)
    if variant is None:
        return {}
    n_inner, n_last = inner[variant]["n_train"], last[variant]["n_train"]
    held = (inner[variant].get("inner") or {}).get("n_inner")
    fewer = (1 - sum(n_inner) / sum(n_last)) if all(isinstance(n, int) for n in n_inner + n_last) and sum(n_last) else None
    share = f"{fewer:.1%}" if fewer is not None else "?"
    fraction = f"finetune.inner_fraction={inner_fraction:g}" if inner_fraction is not None else "finetune.inner_fraction"
    return {
        "inner_fraction": inner_fraction,
        "n_train_per_fold": {"inner": n_inner, "last": n_last},
        "n_inner_per_fold": held,
        "fewer_share": fewer,
        "words": (f"keep=inner trains each fold on fewer images than keep=last: {fraction} of its "
                  f"training images are held out as the inner split that chooses the epoch ({share} "
                  f"fewer in all, n_train per fold {n_inner} against {n_last}); inner minus last holds "
                  f"both the honest early cut and this loss of training images"),
    }


def reuse_check(figures: dict[str, dict[str, dict[str, Any]]], source_keep: str | None,
                overrides: list[str]) -> dict[str, Any]:
    """Which rules' folds ``run.reuse`` took from the source run rather than retraining: per rule
    and variant ``"<taken> of <folds> taken from the run"``. ``source_keep``: the
    ``finetune.keep`` the source run fine-tuned under (None: it has no finished fine-tuning);
    that rule's folds are expected to be taken when no ``overrides`` are given, and
    ``expected_but_retrained`` lists each variant of that rule with a fold retrained (its
    signature differed: other code or settings), said on the console too; [] when as expected."""
    per_rule: dict[str, dict[str, str]] = {}
    retrained: list[str] = []
    for rule, by_variant in figures.items():
        per_rule[rule] = {}
        for variant, f in by_variant.items():
            n = len(f["kept_epochs"])
            taken = len({k for folds in (f.get("folds_taken_from") or {}).values() for k in folds})
            per_rule[rule][variant] = f"{taken} of {n} taken from the run"
            if rule == source_keep and not overrides and taken < n:
                retrained.append(f"{variant} (keep={rule}: {n - taken} of {n} folds retrained)")
    return {"source_finetune_keep": source_keep, "folds": per_rule, "expected_but_retrained": retrained}


def source_cwd(source: Path, data_root: str | None) -> Path:
    """The folder each fine-tuning runs in: the one the run ``source`` was started from, so the
    relative paths of its ``config.yaml`` (``data.root: ../shared/data/...``, read from the
    current folder) name the files its ingest read; else run.reuse refuses the ingest as
    another (its resolved data.root differs) and the data root is not found. Candidates: the
    folders of the run's ``drac_ssl.train`` invocations (``invocations.jsonl``, the last
    first), then the repository; the first that exists where a relative ``data_root`` is found
    from it, else the first that exists, else the repository."""
    from drac_ssl.io import invocations

    folders = [Path(str(line["cwd"])) for line in reversed(invocations(source / "invocations.jsonl"))
               if line.get("cwd")]
    existing = [f for f in (*folders, REPO) if f.is_dir()]
    relative = data_root and not Path(os.path.expanduser(data_root)).is_absolute()
    if relative:
        for folder in existing:
            if (folder / os.path.expanduser(data_root)).exists():
                return folder
    return existing[0] if existing else REPO


def _finetune_once(source: Path, work: Path, keep: str, stages: list[str], threads: int,
                   extra: list[str], log: Path, cwd: Path) -> tuple[Path, float]:
    """Fine-tune run ``source``'s variants under ``finetune.keep=keep`` in the new run folder
    ``work/keep_<keep>`` (``run.reuse=source``, ``run.stages=stages``; ``extra``: further
    overrides), in folder ``cwd`` (:func:`source_cwd`), its output appended to ``log``.
    Returns the run folder and the seconds it took. Raises SystemExit (with the end of the
    log) when the training exits non-zero."""
    run_dir = work / f"keep_{keep}"
    command = [sys.executable, "-m", "drac_ssl.train", "-c", str(source / "config.yaml"),
               f"run.reuse={source}", f"run.name={run_dir.name}", f"run.out_dir={work}",
               f"run.stages=[{','.join(stages)}]", f"finetune.keep={keep}", *extra]
    if threads:
        command.append(f"run.threads={threads}")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_ALBUMENTATIONS_UPDATE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    print(f"[bench] finetune.keep={keep}: {' '.join(command[1:])}", flush=True)
    t0 = time.perf_counter()
    with log.open("a", encoding="utf-8") as out:
        code = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - t0
    if code != 0:  # the log lies in the temporary folder, removed on the way out: its end is said here
        tail = "".join(log.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[-40:])
        raise SystemExit(f"[bench] the fine-tuning with finetune.keep={keep} exited {code}; the end of "
                         f"its output:\n{tail}")
    return run_dir, seconds


def protocol_words(rules: tuple[str, ...]) -> str:
    """The JSON's ``protocol``: how the run's fine-tuning was repeated, one clause per rule."""
    what = {"best": "finetune.keep=best (each fold's epoch with the best validation kappa, early stopping "
                    "with finetune.patience, on the fold it is scored on)",
            "inner": "finetune.keep=inner (each fold's epoch with the best kappa on an inner split of its "
                     "training images, finetune.inner_fraction of them, grade-stratified, the same for every "
                     "variant, early stopping with finetune.patience; the fold trains on the rest and its "
                     "validation fold is scored once)",
            "last": "finetune.keep=last (the last of finetune.epochs)"}
    count = {2: "twice", 3: "three times"}.get(len(rules), f"{len(rules)} times")
    inner = ("; under keep=inner each fold trains on ~finetune.inner_fraction fewer images "
             "(inner_training_images)" if "inner" in rules else "")
    return (f"the run's fine-tuning repeated {count} on its own ingest, pretraining and UMM "
            f"(run.reuse): {' and '.join(what[r] for r in rules)}; same folds, seeds, heads and "
            f"cross-fitted calibration{inner}; one run, one seed")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.keep_selection"), allow_abbrev=False, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "default"),
                        help="a finished run folder (its config.yaml, ingest, pretrain and umm stages)")
    parser.add_argument("--rules", default=",".join(RULES),
                        help=f"comma list of the finetune.keep rules to run, from {','.join(ALL_RULES)}; "
                             f"must hold last (every figure is a rule minus last); default {','.join(RULES)}")
    parser.add_argument("--name", default=None,
                        help=f"the result's name (bench/results/NAME.json); default {DEFAULT_NAME} for the "
                             f"default rules, {DEFAULT_NAME}_<rules> otherwise (e.g. {DEFAULT_NAME}_inner_last)")
    parser.add_argument("--out-dir", default=str(RESULTS))
    add_threads_argument(parser)
    parser.add_argument("overrides", nargs="*",
                        help="further config overrides for every fine-tuning (KEY=VALUE). Each fine-tuning "
                             "runs in the folder the source run was started from (its invocations.jsonl; "
                             "else the repository), so a relative path in an override "
                             "(data.root=../shared/data/x, pretrain.backbone.weights=w.safetensors) is read "
                             "from there, not from the folder this command runs in: give absolute paths "
                             "when the two differ")
    args = parser.parse_intermixed_args(argv)
    try:
        rules = parse_rules(args.rules)
    except ValueError as exc:
        parser.error(str(exc))
    name = args.name or default_name(rules)
    source = Path(args.run_dir).resolve()
    if not (source / "config.yaml").is_file() or not (source / "stages.json").is_file():
        raise SystemExit(f"[bench] {source} is not a finished run folder (no config.yaml / stages.json)\n"
                         f"  fix: run README command (1) first, or --run-dir another run folder")
    done = run_stages(source)
    stages = [s for s in ("ingest", "pretrain", "umm") if (done.get(s) or {}).get("status") == "done"]
    stages.append("finetune")
    config = source / "config.yaml"
    finetune_config = _yaml_section(config, "finetune")
    # the rule the run's own folds were trained under: run.reuse offers them, and that rule's
    # fine-tuning here takes them (same signature) rather than training them again
    source_keep = (finetune_config.get("keep", "best")
                   if (done.get("finetune") or {}).get("status") == "done" else None)
    cwd = source_cwd(source, (_yaml_section(config, "data") or {}).get("root"))
    load_start = load_average()
    with tempfile.TemporaryDirectory(prefix="keep_selection_") as tmp:
        work = Path(tmp)
        log = work / "train.log"
        figures: dict[str, Any] = {}
        differences: dict[str, Any] = {}
        seconds: dict[str, float] = {}
        oof_files: dict[str, Any] = {}
        for keep in rules:
            run_dir, took = _finetune_once(source, work, keep, stages, args.threads, args.overrides, log, cwd)
            figures[keep] = variant_figures(run_dir / "finetune")
            differences[keep] = paired_differences(run_dir / "finetune")
            seconds[keep] = round(took, 1)
            # each rule's per-image out-of-fold predictions beside the result (the run folders
            # are temporary): <name>_oof_<rule>_<variant>.csv (referee F1)
            oof_files.update(keep_oof_copies({f"{keep}_{v}": run_dir / "finetune" / v / OOF_FILE
                                              for v in figures[keep]}, Path(args.out_dir), name,
                                             units=oof_units(run_dir)))
            for variant, f in figures[keep].items():
                taken = sum(len(folds) for folds in (f.get("folds_taken_from") or {}).values())
                inner = f.get("inner")
                chose = (f", inner-split QWK {[round(q, 3) for q in inner['inner_qwk_at_kept_epoch'] if q is not None]}"
                         if inner else "")
                print(f"[bench] keep={keep} {variant}: QWK {f['qwk']:.4f} AUC {f['auc']:.4f} "
                      f"accuracy {f['accuracy']:.4f}, kept epochs {f['kept_epochs']} of {f['epochs_run']}"
                      f"{chose}; {taken} of {len(f['kept_epochs'])} folds taken from the run", flush=True)
    reuse = reuse_check(figures, source_keep, args.overrides)
    for line in reuse["expected_but_retrained"]:
        print(f"[bench] warning: the run fine-tuned under keep={source_keep}, yet {line}: their "
              f"signature differed from the run's folds (other code or settings; train.log said which)")
    minus = differences_from_last(figures)
    result = {
        "run_dir": str(source.relative_to(REPO) if source.is_relative_to(REPO) else source),
        "rules": list(rules),
        "overrides": args.overrides,
        "stages_taken_from_run": stages[:-1],
        "config_finetune": finetune_config,
        "variants": figures,
        "minus_last": minus,
        **({"best_minus_last": minus["best"]} if "best" in minus else {}),
        "pretrained_minus_scratch": differences,
        **({"inner_training_images": inner_training_images(figures, _inner_fraction(finetune_config, args.overrides))}
           if "inner" in rules else {}),
        "reuse": reuse,
        "seconds": seconds,
        "oof_files": oof_files,
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "protocol": protocol_words(rules),
    }
    for rule, by_variant in minus.items():
        for variant, d in by_variant.items():
            print(f"[bench] {variant}: {rule} - last QWK {d['qwk']:+.4f}, AUC {d['auc']:+.4f}, "
                  f"AUC OvR {d['auc_ovr']:+.4f}, accuracy {d['accuracy']:+.4f}")
    if "inner_training_images" in result:
        print(f"[bench] {result['inner_training_images'].get('words', '')}")
    write_result(name, result, Path(args.out_dir))


def _inner_fraction(finetune_config: dict[str, Any], overrides: list[str]) -> float | None:
    """``finetune.inner_fraction`` the inner fine-tuning ran with: the last override of it, else
    the run's config.yaml's, else the default (0.15, :class:`drac_ssl.config.FinetuneConfig`)."""
    from drac_ssl.config import FinetuneConfig

    value: Any = finetune_config.get("inner_fraction", FinetuneConfig().inner_fraction)
    for o in overrides:
        key, _, text = o.partition("=")
        if key.strip() == "finetune.inner_fraction":
            value = text
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _yaml_section(config: Path, section: str) -> dict[str, Any]:
    from drac_ssl.config import read_yaml

    return (read_yaml(config.read_text(encoding="utf-8")) or {}).get(section, {})


if __name__ == "__main__":
    main()
