"""Wall time of the main job, stage by stage (issue #5; issue #7 for the full-size GPU run).

Runs ``python -m drac_ssl.train -c CONFIG`` in a fresh temporary working folder on the
embedded phantom DRAC set (611 + 386 images at 1024 px): ingest, VICReg, UMM, 5-fold CV
fine-tune (scratch / VICReg / VICReg+UMM) and export. Records the total and per-stage wall
times and the out-of-fold metrics of each variant (on phantom data they show that the
pipeline works, not how well real DR is graded).

* ``python -m bench.default_run``: README command (1) as it runs (``configs/default.yaml``,
  phantom generation included), goal < 10 min on the 2-core CPU machine.
* ``python -m bench.default_run --config configs/drac.yaml --name drac_pipeline_gpu
  --pregenerate --goal-seconds 300``: the recipe at full size (224 px crops of the 512 px
  cache) on the GPU; the phantom set is generated first and timed apart, since the
  pipeline's own work starts at ingest.
* ``python -m bench.default_run --config configs/fundus.yaml --own-fundus-folder --name
  first_try_fundus --goal-seconds 120 --first-try data.root=my_photos/ ...``: the README's
  tiny first try on a folder of one's own fundus photographs (docs/own_fundus_folder.md, step
  2), its settings as the README gives them, on a folder built first (timed apart) from the 30
  real APTOS 2019 samples of the team's shared data (:func:`build_own_fundus_folder`). The
  committed ``first_try_fundus.json`` was made before ``--first-try`` existed, with its
  settings typed out (``drac_ssl.trial_run.FIRST_TRY``): the same configuration.
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

import numpy as np

from bench.common import (
    REPO,
    RESULTS,
    SHARED_DATA,
    add_threads_argument,
    load_average,
    run_stages,
    write_result,
)
from drac_ssl.starting import python_command

APTOS_SAMPLES = SHARED_DATA / "aptos_samples"
"""The 30 real APTOS 2019 photographs (``train.csv`` + ``train_images/``, 224 px, 6 per ICDR
grade) that ``--own-fundus-folder`` lays out as a user's folder."""
CAMERA_CANVAS = (224, 320)
"""(height, width) of the black canvas each sample is placed on: a photograph as a fundus
camera gives it, wider than the disc, so ``data.fundus_crop`` has a surround to crop."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.default_run"), allow_abbrev=False,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "configs" / "default.yaml"))
    parser.add_argument("--name", default="default_run")
    parser.add_argument("--goal-seconds", type=float, default=600)
    parser.add_argument("--goal-machine", default="the 2-core CPU machine")
    parser.add_argument("--pregenerate", action="store_true",
                        help="generate the phantom set before the clock starts (timed apart)")
    parser.add_argument("--own-fundus-folder", action="store_true",
                        help="build the folder data.root names (in the working folder) from the 30 APTOS 2019 "
                             "samples of the shared data before the clock starts, as docs/own_fundus_folder.md "
                             "lays it out: eye_001.jpg ... on a 320 x 224 black canvas and labels.csv with the "
                             "data.image_column / data.grade_column the overrides name (timed apart)")
    parser.add_argument("--first-try", action="store_true",
                        help="pass --first-try to drac_ssl.train: the tiny first try's settings "
                             "(drac_ssl.trial_run.FIRST_TRY) before the overrides, which win")
    parser.add_argument("--keep", default="", help="copy the run folder's report and plots here")
    parser.add_argument("--out-dir", default=str(RESULTS))
    add_threads_argument(parser)
    parser.add_argument("overrides", nargs="*", help="config overrides passed to drac_ssl.train")
    args = parser.parse_intermixed_args(argv)  # overrides on both sides of the options
    config = Path(args.config).resolve()
    from drac_ssl.config import ConfigError, load_config
    from drac_ssl.trial_run import FIRST_TRY_OPTION, first_try_overrides

    preset = first_try_overrides(config) if args.first_try else []  # as drac_ssl.train reads --first-try
    option = [FIRST_TRY_OPTION] if args.first_try else []
    try:  # a mistyped or refused override: the package's message (what, where, the fix), no traceback
        resolved = load_config(config, [*preset, "run.name=bench", *args.overrides])
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    if "finetune" not in resolved.run.stages:
        raise SystemExit(f"error: run.stages is {resolved.run.stages}: the bench records the out-of-fold metrics "
                         "of the fine-tune stage (finetune/comparison.json), which this list does not run\n"
                         "  fix: leave run.stages out (every stage), or name finetune among them")
    own_folder = own_folder_root(resolved.data.root) if args.own_fundus_folder else None
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_ALBUMENTATIONS_UPDATE": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
        phantom_seconds = None
        if args.pregenerate:
            t0 = time.perf_counter()
            code = ("from drac_ssl.config import load_config; from drac_ssl.train import phantom_root; "
                    "from data_prep import phantom; import sys; "
                    "c = load_config(sys.argv[1], sys.argv[2:]); d = c.data; "
                    "phantom.generate(phantom_root(c), n_train=d.phantom_n_train, n_test=d.phantom_n_test, "
                    "seed=d.phantom_seed, workers=d.workers)")
            subprocess.run([sys.executable, "-c", code, str(config), *preset, *args.overrides], cwd=work, env=env,
                           check=True)
            phantom_seconds = time.perf_counter() - t0
            print(f"[bench] phantom set generated in {phantom_seconds:.1f} s (not counted below)")
        folder_seconds = photographs = None
        if args.own_fundus_folder:
            t0 = time.perf_counter()
            photographs = build_own_fundus_folder(APTOS_SAMPLES, Path(work) / own_folder,
                                                  resolved.data.image_column, resolved.data.grade_column)
            folder_seconds = time.perf_counter() - t0
            print(f"[bench] {photographs} photographs laid out in {resolved.data.root} in {folder_seconds:.1f} s "
                  "(not counted below)")
        load_start = load_average()
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "drac_ssl.train", "-c", str(config),
                               "--threads", str(args.threads), *option, "run.name=bench", *args.overrides],
                              cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              check=False)
        total = time.perf_counter() - t0
        log = proc.stdout
        if proc.returncode != 0:
            print(log[-6000:])
            raise SystemExit(f"the main job failed with exit code {proc.returncode}")
        run_dir = Path(work) / resolved.run.out_dir / resolved.run.name
        stages = run_stages(run_dir)
        comparison = json.loads((run_dir / "finetune" / "comparison.json").read_text())
        pretrain_file = run_dir / "pretrain" / "metadata.json"  # absent when run.stages leaves pretrain out
        pretrain_meta = json.loads(pretrain_file.read_text()) if pretrain_file.is_file() else {}
        job_threads = json.loads((run_dir / "environment.json").read_text()).get("threads")
        if args.keep:
            _keep(run_dir, Path(args.keep), log)
    stage_seconds = {name: s["seconds"] for name, s in stages.items()}
    print(f"[bench] main job: {total:.1f} s total; stages {stage_seconds}")
    write_result(args.name, {
        "what": f"python -m drac_ssl.train -c {config.relative_to(REPO) if config.is_relative_to(REPO) else config}"
                f"{''.join(' ' + w for w in [*option, *args.overrides])}: ingest + VICReg + UMM + "
                f"{resolved.data.n_folds}-fold fine-tune (scratch / VICReg / VICReg+UMM) + export",
        "data": (f"{photographs} real APTOS 2019 colour fundus photographs (224 px, 6 per ICDR grade) each on a "
                 f"{CAMERA_CANVAS[1]} x {CAMERA_CANVAS[0]} black canvas as JPEG, in a plain folder with labels.csv "
                 f"(columns {resolved.data.image_column!r}, {resolved.data.grade_column!r}): the metrics show "
                 "the pipeline runs, not grading quality" if args.own_fundus_folder else
                 "phantom UW-OCTA, 611 train + 386 test at 1024 px (synthetic: metrics show the pipeline "
                 "runs, not real grading quality)"),
        "own_fundus_folder_seconds": None if folder_seconds is None else round(folder_seconds, 1),
        "phantom_generation_seconds": None if phantom_seconds is None else round(phantom_seconds, 1),
        "phantom_generation_counted": not args.pregenerate,
        "seconds_total": round(total, 1),
        "main_job_threads": job_threads,
        "load_average_1_5_15_min": {"start": load_start, "end": load_average()},
        "seconds_per_stage": stage_seconds,
        "pretrain_epochs_run": pretrain_meta.get("epochs_run"),
        "pretrain_stopped": pretrain_meta.get("stopped"),
        "goal": f"< {args.goal_seconds:g} s on {args.goal_machine}",
        "goal_met": total < args.goal_seconds,
        "oof_metrics": comparison,
    }, Path(args.out_dir))


def own_folder_root(root: str) -> Path:
    """``data.root`` as the folder ``--own-fundus-folder`` builds: a relative path strictly
    inside the bench's temporary working folder, taken as written (``my_photos/`` ->
    ``my_photos``), because the job is handed the same text. Raises SystemExit, naming the
    setting and the fix, when it is empty, absolute, the working folder itself, has a ``..``
    part (``../x`` wrote a folder beside the working folder, where nothing removes it; and
    ``photos/../x`` was built as ``x`` but the job, given the text, failed on ``photos/``)
    or starts with ``~`` (the bench built ``<work>/~/x`` while the job's ``~`` expansion read
    ``$HOME/x``, outside the working folder; a review)."""
    folder = Path(os.path.normpath(root)) if root else None
    parts = Path(root).parts if root else ()
    home = bool(root) and root.startswith("~")  # the job expands a leading ~ only ("./~/x" is a folder named ~)
    why = ("" if folder is None or folder.is_absolute() else
           f" (its part {'..'!r}: write the folder without it)" if ".." in parts else
           f" ({parts[0]!r}: a leading ~ is your home folder to the job, outside the working folder)" if home else
           f" ({folder}: not below that folder)")
    if folder is None or folder.is_absolute() or folder.parts[:1] == () or ".." in parts or home:
        raise SystemExit(f"error: --own-fundus-folder builds the folder data.root names inside the bench's temporary "
                         f"working folder, and data.root is {root!r}{why}"
                         "\n  fix: give a relative data.root=FOLDER among the overrides that stays below it (the "
                         "README's data.root=my_photos/)")
    return folder


def build_own_fundus_folder(samples: Path, folder: Path, image_column: str, grade_column: str) -> int:
    """Lay out the APTOS 2019 samples at ``samples`` (``train.csv`` with ``id_code``,
    ``diagnosis``; ``train_images/<id_code>.png``) as a user's plain folder ``folder``, the
    folder docs/own_fundus_folder.md runs its commands on: each photograph, in the order of
    ``train.csv``, centred on a black :data:`CAMERA_CANVAS` and written as ``eye_001.jpg``,
    ``eye_002.jpg``, ...; beside them ``labels.csv`` with the columns ``image_column`` (the
    file names) and ``grade_column`` (the ICDR grades 0..4). Returns how many photographs.

    Raises SystemExit naming the file that is missing or unreadable and where the samples are
    looked for (``DRAC_SSL_SHARED_DATA``), and when ``folder`` exists already."""
    import csv

    import cv2

    table = samples / "train.csv"
    if not table.is_file():
        raise SystemExit(f"error: {table}: not there, so the own-folder run has no photographs; set "
                         "DRAC_SSL_SHARED_DATA to the folder holding aptos_samples/ (the team's shared/data)")
    with table.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if folder.exists():
        raise SystemExit(f"error: {folder}: exists already; the own-folder run builds it afresh")
    folder.mkdir(parents=True)
    height, width = CAMERA_CANVAS
    labels = []
    for i, row in enumerate(rows, start=1):
        source = samples / "train_images" / f"{row['id_code']}.png"
        image = cv2.imread(str(source), cv2.IMREAD_COLOR)
        if image is None or image.shape[0] > height or image.shape[1] > width:
            raise SystemExit(f"error: {source}: unreadable or larger than the {width} x {height} canvas")
        canvas = np.zeros((height, width, 3), np.uint8)
        top, left = (height - image.shape[0]) // 2, (width - image.shape[1]) // 2
        canvas[top:top + image.shape[0], left:left + image.shape[1]] = image
        name = f"eye_{i:03d}.jpg"
        cv2.imwrite(str(folder / name), canvas)
        labels.append({image_column: name, grade_column: row["diagnosis"]})
    with (folder / "labels.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[image_column, grade_column])
        writer.writeheader()
        writer.writerows(labels)
    return len(labels)


def _keep(run_dir: Path, dest: Path, log: str) -> None:
    """Copy the human-readable part of the run folder (report, plots, json, csv; no weights)."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    (dest / "train.log").write_text(log)
    for path in run_dir.rglob("*"):
        if path.is_file() and path.suffix in {".md", ".html", ".png", ".json", ".csv", ".yaml", ".jsonl"} \
                and "data" not in path.relative_to(run_dir).parts[:1]:
            target = dest / path.relative_to(run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


if __name__ == "__main__":
    main()
