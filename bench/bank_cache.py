"""Wall time of the fine-tuning stage (``drac_ssl.finetune.run`` alone) with the frozen feature
banks' cache (:mod:`drac_ssl.bank_cache`) on and off, and whether the two write the same files.

    python -m bench.bank_cache                      # README command (1)'s run, 3 pairs
    python -m bench.bank_cache --pairs 5
    python -m bench.bank_cache --run-dir DIR        # DIR's ingest, pretrain and UMM outputs

The run folder (default ``runs/bench_bank_cache``) is prepared once, when it lacks a pretrained
and a UMM backbone: ``python -m drac_ssl.train -c CONFIG run.stages=[ingest,pretrain,umm]``
with the given overrides, in a child process with this one's threads, timed apart (the phantom
set of ``configs/default.yaml``, 611 + 386 images cached at 128 px, is drawn under
``data/phantom`` of the current folder, as README command (1) does). A folder that has them is
reused as it is (the result says which). The fine-tuning then runs with the folder's own
``config.yaml`` (and the overrides): for ``configs/default.yaml`` 611 images, 5 folds, 64 px,
frozen backbone, conv head, 8 epochs, variants scratch / vicreg / vicreg_umm.

``on`` is the stage as shipped (:data:`drac_ssl.bank_cache.BANK_CACHE_BYTES`, 1 GiB); ``off``
sets that budget to 0 for the stage, so nothing is kept and every bank is computed from its
own inputs, as before the cache (the announce of the backbones still runs: a few ms). Each
pair runs both in one process, their order alternating (on-off, off-on, ...), ``finetune/``
removed before each run so no fold is reused. A pair's ratio is on / off seconds; the figure
is the median of the pairs' ratios. ``bank_seconds`` are the stage's own
``frozen-backbone features of N images in X s`` lines, per variant.

Every file the stage writes is hashed (sha256) in every run: the fold weights
(``fold*.safetensors``) and ``oof.csv`` must be byte-identical to the first run's, and any other
file may differ only in its wall times (``seconds`` keys of a JSON file, the ``seconds`` column
of a CSV file). A run that breaks this still writes its result, and the command exits 1.
Writes ``bench/results/bank_cache.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from bench.common import REPO, add_threads_argument, load_average, write_result
from drac_ssl.runtime import apply_thread_policy
from drac_ssl.starting import python_command

DEFAULT_RUN_DIR = REPO / "runs" / "bench_bank_cache"
DEFAULT_CONFIG = REPO / "configs" / "default.yaml"
PREPARED_STAGES = ("ingest", "pretrain", "umm")
BANK_LINE = re.compile(r"\[finetune\] (\S+): frozen-backbone features of (\d+) images in ([0-9.]+) s")
"""The line :func:`drac_ssl.finetune._train_folds` prints when a variant's bank is built."""
WALL_TIME = "seconds"
FILE_TIME = "mtime_ns"  # a fold record's weights-file time (finetune.py): differs run to run like a wall time
"""The key (JSON) or column (CSV) of a wall time in the stage's files: allowed to differ."""


def pair_orders(pairs: int) -> list[tuple[str, str]]:
    """The order of each pair's two runs: ``("on", "off")``, then ``("off", "on")``, alternating,
    so that a drift of the machine's load spreads over both."""
    return [("on", "off") if i % 2 == 0 else ("off", "on") for i in range(pairs)]


def prepared(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds what the fine-tuning needs from the earlier stages: the ingest's
    manifest and the pretraining's and UMM's backbones."""
    return all((run_dir / p).is_file() for p in ("config.yaml", "data/manifest.csv",
                                                  "pretrain/backbone.safetensors", "umm/backbone.safetensors"))


def prepare_command(config: Path, run_dir: Path, overrides: list[str]) -> list[str]:
    """The ``drac_ssl.train`` command that runs the ingest, pretraining and UMM of ``config``
    into ``run_dir`` (``run.out_dir`` its parent, ``run.name`` its name)."""
    return [sys.executable, "-m", "drac_ssl.train", "-c", str(config),
            f"run.stages=[{','.join(PREPARED_STAGES)}]", f"run.out_dir={run_dir.parent}",
            f"run.name={run_dir.name}", *overrides]


def without_wall_times(path: Path) -> Any:
    """The content of a JSON or CSV file with its wall times left out (every ``seconds`` key at
    any depth, and every ``mtime_ns``: the file time a fold record keeps of its weights file;
    the ``seconds`` column), for comparing two runs' files; None for other files."""
    def drop(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: drop(v) for k, v in value.items() if k not in (WALL_TIME, FILE_TIME)}
        if isinstance(value, list):
            return [drop(v) for v in value]
        return value

    if path.suffix == ".json":
        return drop(json.loads(path.read_text(encoding="utf-8")))
    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        keep = [i for i, c in enumerate(rows[0] if rows else []) if c != WALL_TIME]
        return [[r[i] for i in keep if i < len(r)] for r in rows]
    return None


def stage_files(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (the stage's ``finetune/``), by its path there."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def must_match(name: str) -> bool:
    """Whether a file of the stage must be byte-identical across runs: fold weights and the
    out-of-fold predictions (the results; other files may differ in wall times only)."""
    base = name.rsplit("/", 1)[-1]
    return base == "oof.csv" or (base.startswith("fold") and base.endswith(".safetensors"))


def compare_runs(first: dict[str, str], first_content: dict[str, Any], other: dict[str, str],
                 other_content: dict[str, Any]) -> list[str]:
    """What differs between two runs' files (``stage_files`` hashes and
    :func:`without_wall_times` contents): a file only one run wrote, a fold weight file or
    ``oof.csv`` whose bytes differ, another file that differs beyond its wall times. Empty: the
    two agree."""
    problems = [f"{n}: written by one run only" for n in sorted(set(first) ^ set(other))]
    for name in sorted(set(first) & set(other)):
        if first[name] == other[name]:
            continue
        if must_match(name):
            problems.append(f"{name}: bytes differ (sha256 {first[name][:12]} vs {other[name][:12]})")
        elif first_content.get(name) is None or first_content.get(name) != other_content.get(name):
            problems.append(f"{name}: differs beyond its wall times")
    return problems


class _Tee(io.TextIOBase):
    """Writes to ``out`` and keeps a copy (the stage's lines, for :data:`BANK_LINE`)."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.kept = out, io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()


def timed_stage(run_dir: Path, cfg: Any, cache: str) -> dict[str, Any]:
    """One fine-tuning stage on ``run_dir`` (``finetune/`` removed first) with the bank cache
    ``"on"`` (its shipped budget) or ``"off"`` (budget 0): seconds, each variant's bank seconds
    and wall seconds, and the files written (sha256, and contents without wall times)."""
    from drac_ssl import bank_cache, finetune

    shutil.rmtree(run_dir / "finetune", ignore_errors=True)
    shipped = bank_cache.BANK_CACHE_BYTES
    bank_cache.BANK_CACHE_BYTES = shipped if cache == "on" else 0
    tee = _Tee(sys.stdout)
    try:
        with contextlib.redirect_stdout(tee):
            start = time.perf_counter()
            result = finetune.run(cfg, run_dir)
            seconds = time.perf_counter() - start
    finally:
        bank_cache.BANK_CACHE_BYTES = shipped
    lines = list(BANK_LINE.finditer(tee.kept.getvalue()))
    banks = {m.group(1): float(m.group(3)) for m in lines}
    files = stage_files(run_dir / "finetune")
    return {"cache": cache, "seconds": round(seconds, 2), "bank_seconds": banks,
            "n_images": int(lines[0].group(2)) if lines else None,
            "variant_seconds": {n: v.metrics["seconds"] for n, v in result.variants.items()},
            "files": files,
            "content": {n: without_wall_times(run_dir / "finetune" / n) for n in files if not must_match(n)}}


def summarize_pairs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per pair (two consecutive runs of ``runs``, one ``on`` one ``off``) the two seconds and
    their ratio on / off, and the median ratio; the median bank seconds per variant each way."""
    pairs = []
    for a, b in zip(runs[::2], runs[1::2], strict=True):
        on, off = (a, b) if a["cache"] == "on" else (b, a)
        pairs.append({"order": [a["cache"], b["cache"]], "on_seconds": on["seconds"],
                      "off_seconds": off["seconds"], "ratio": round(on["seconds"] / off["seconds"], 3)})
    banks: dict[str, dict[str, float]] = {}
    for cache in ("on", "off"):
        for variant in runs[0]["bank_seconds"]:
            each = [r["bank_seconds"][variant] for r in runs if r["cache"] == cache and variant in r["bank_seconds"]]
            if each:
                banks.setdefault(variant, {})[f"{cache}_median"] = round(statistics.median(each), 2)
    return {"pairs": pairs, "ratio_median": round(statistics.median(p["ratio"] for p in pairs), 3),
            "on_seconds_median": round(statistics.median(p["on_seconds"] for p in pairs), 2),
            "off_seconds_median": round(statistics.median(p["off_seconds"] for p in pairs), 2),
            "bank_seconds_median": banks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.bank_cache"), allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG),
                        help="the run's configuration when the run folder is prepared (default configs/default.yaml)")
    parser.add_argument("--run-dir", default=str(DEFAULT_RUN_DIR),
                        help="the run folder: reused when it holds the ingest's, pretraining's and UMM's outputs, "
                             "else prepared (default runs/bench_bank_cache)")
    parser.add_argument("--pairs", type=int, default=3, help="on/off pairs, order alternating (default 3)")
    parser.add_argument("--name", default="bank_cache")
    add_threads_argument(parser)
    parser.add_argument("overrides", nargs="*", help="config overrides (key=value) for the preparation and the stage")
    args = parser.parse_intermixed_args(argv)
    if args.pairs < 1:
        parser.error(f"--pairs must be >= 1, got {args.pairs}")
    config, run_dir = Path(args.config).resolve(), Path(args.run_dir).resolve()
    apply_thread_policy(args.threads)
    from drac_ssl import bank_cache
    from drac_ssl.config import load_config, to_dict

    preparation: dict[str, Any] = {"run_dir": str(run_dir), "reused": prepared(run_dir)}
    if not preparation["reused"]:
        command = prepare_command(config, run_dir, args.overrides)
        print(f"[bench] preparing {run_dir}: {' '.join(command)}", flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True)
        preparation.update(command=" ".join(command[1:]), seconds=round(time.perf_counter() - start, 1))
        if not prepared(run_dir):
            raise SystemExit(f"error: {run_dir}: the preparation ended without a UMM backbone "
                             f"(umm/backbone.safetensors); fix: leave umm.enabled=true")
    cfg = load_config(run_dir / "config.yaml", args.overrides)
    load_start = load_average()
    runs = []
    for pair, order in enumerate(pair_orders(args.pairs), 1):
        for cache in order:
            print(f"[bench] pair {pair} of {args.pairs}: fine-tuning, bank cache {cache}", flush=True)
            runs.append(timed_stage(run_dir, cfg, cache))
            print(f"[bench] pair {pair}, cache {cache}: {runs[-1]['seconds']} s; banks {runs[-1]['bank_seconds']}",
                  flush=True)
    figures = summarize_pairs(runs)
    problems = {f"run {i + 1} ({r['cache']})": found for i, r in enumerate(runs[1:], 1)
                if (found := compare_runs(runs[0]["files"], runs[0]["content"], r["files"], r["content"]))}
    same = sorted(n for n in runs[0]["files"] if all(r["files"].get(n) == runs[0]["files"][n] for r in runs))
    settings = to_dict(cfg)
    for pair in figures["pairs"]:
        print(f"  {pair['order'][0]} then {pair['order'][1]}: on {pair['on_seconds']} s, off {pair['off_seconds']} s, "
              f"ratio {pair['ratio']}")
    print(f"  median ratio on / off {figures['ratio_median']}; files agree: {not problems}", flush=True)
    write_result(args.name, {
        "what": "wall seconds of the fine-tuning stage (drac_ssl.finetune.run alone) with the frozen feature banks' "
                "cache on (BANK_CACHE_BYTES as shipped) and off (budget 0), interleaved pairs in one process; "
                "ratio = on / off",
        "data": f"{run_dir.name}: {settings['data']['dataset']} "
                + ("phantom set" if not settings["data"]["root"] else settings["data"]["root"])
                + f", finetune at {settings['finetune']['image_size']} px",
        "preparation": preparation,
        "finetune_settings": {k: settings["finetune"][k] for k in
                              ("image_size", "epochs", "head", "freeze", "frozen_train_views", "tta",
                               "compare_scratch", "batch_size")},
        "umm_early_cut": settings["umm"]["early_cut"],
        "n_labelled_images": runs[0]["n_images"],
        "bank_cache_bytes_on": bank_cache.BANK_CACHE_BYTES,
        "pairs_requested": args.pairs,
        "load_average_1_5_15_min": {"start": load_start, "end": load_average()},
        **figures,
        "runs": [{k: r[k] for k in ("cache", "seconds", "bank_seconds", "variant_seconds")} for r in runs],
        "files_identical_in_every_run": same,
        "files_differing_in_wall_times_only": sorted(set(runs[0]["files"]) - set(same) - {
            n for found in problems.values() for n in (p.split(":", 1)[0] for p in found)}),
        "file_sha256_first_run": runs[0]["files"],
        "results_identical": not problems,
        "problems": problems,
    })
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
