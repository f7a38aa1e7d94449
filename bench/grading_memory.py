"""Memory of CPU grading (``drac_ssl.grading``), step by step, each step in fresh processes.

    python -m bench.grading_memory [--repeats 3] [--counts 3,30] [--bundle PATH] [--threads 1]

What it measures: the resident memory of a Python process that grades images the way a
hospital's batch job or the app does (``from drac_ssl.grading import grade_images,
limit_threads, load_bundle, read_image``; ``limit_threads(1)``; ``load_bundle``; ``read_image``
for each file, then one ``grade_images`` call with the files' warnings and paths). Each
endpoint runs in its own fresh process, so that its imports are counted and no later step
raises an earlier step's peak:

* ``import``: ``import drac_ssl.grading`` (the package alone: its names load on first use)
  then the four names above (torch, OpenCV, the grading modules);
* ``load``: the same, then ``limit_threads`` and ``load_bundle``;
* ``grade_N`` for each of ``--counts``: the same, then N files read and graded in one call.

Each process records, after every step it passes: ``VmRSS`` (resident now) and ``VmHWM``
(its peak so far) of ``/proc/self/status``, ``ru_maxrss`` (``getrusage``, its peak as the
kernel counts it for the process), the number of loaded modules (``sys.modules``), whether
torch, torchvision and ``torch._dynamo`` are imported, and the seconds since the process
started. Linux keeps ``ru_maxrss`` across ``exec`` from the process that started it (a child
of this bench, which has imported torch, would read the bench's own peak): each measured
process is started by a bare interpreter that forks it (:data:`LAUNCHER`), so its
``ru_maxrss`` is its own. The endpoints run ``--repeats`` times, interleaved (every round runs
each endpoint once, in a random order); each figure is the median over the repeats with its
range. Threads: ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` and ``limit_threads`` at
``--threads`` (default 1) in every measured process.

The bundle (unless ``--bundle`` names one): an untrained demo bundle of the DRAC recipe's
shape (``app.demo_bundle``: ResNet-18, conv head, 224 px input from a 512 px cache, 5 folds
sharing one backbone), built in its own process; its weights are random but its size and
cost are a trained bundle's. The images: the 3 real DRAC samples of the shared data
(``drac_samples/``, 1024 x 1024 grey PNG), each read as often as the count needs (30 = ten
reads each); where they are absent, phantom UW-OCTA PNGs of the same size
(:func:`data_prep.phantom.phantom_image`); the result says which.

Linux only (``/proc/self/status``). Writes ``bench/results/<name>.json`` with the command,
device, versions and date.
"""

# This module's top level imports the standard library alone: the measured processes import
# it first (for :func:`child_main`), and what it imported would count as the grading's.
# bench.common (which imports torch) is imported in main().
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

STATUS_KEYS = ("VmRSS", "VmHWM")
"""The lines of ``/proc/self/status`` a snapshot reads (kB): resident now, peak resident."""

WATCHED_MODULES = ("torch", "torchvision", "torch._dynamo", "cv2", "albumentations", "monai")
"""Modules whose import a snapshot records (torchvision brings ``torch._dynamo``, about 2 s)."""

LAUNCHER = r"""
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
_, status = os.waitpid(pid, 0)
sys.exit(min(255, abs(os.waitstatus_to_exitcode(status))))
"""
"""A bare interpreter that forks the measured process and waits for it: the forked child has
a new ``ru_maxrss`` (Linux zeroes it at fork and carries it across exec), so the bench's own
peak does not show in the measured process's."""

CHILD = "import sys; from bench.grading_memory import child_main; child_main(sys.argv[1:])"
"""The measured process's program: :func:`child_main` with ENDPOINT BUNDLE THREADS PATHS_JSON."""


def proc_status_kib(text: str, keys: Sequence[str] = STATUS_KEYS) -> dict[str, int]:
    """The ``keys`` lines of a ``/proc/<pid>/status`` text, in kB (as the file gives them:
    ``VmRSS:\\t  123456 kB``).

    Raises:
        ValueError: a key with no line, or a line whose value is not a whole number of kB,
            naming the key and the line.
    """
    found: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep or key not in keys:
            continue
        words = rest.split()
        if len(words) != 2 or words[1] != "kB" or not words[0].isdigit():
            raise ValueError(f"/proc status line {line!r}: expected '{key}: <number> kB'")
        found[key] = int(words[0])
    missing = [k for k in keys if k not in found]
    if missing:
        raise ValueError(f"/proc status has no {', '.join(missing)} line (not Linux, or a kernel "
                         f"without them): this bench reads its memory figures from there")
    return found


def snapshot(step: str, started: float) -> dict[str, Any]:
    """This process's memory after ``step``: ``vmrss_mib``, ``vmhwm_mib`` and ``ru_maxrss_mib``
    (MiB, 1 decimal), ``modules`` (``len(sys.modules)``), one flag per :data:`WATCHED_MODULES`
    (imported or not) and ``seconds`` since ``started`` (a ``time.perf_counter()``)."""
    import resource

    status = proc_status_kib(Path("/proc/self/status").read_text(encoding="ascii", errors="replace"))
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return {"step": step, "vmrss_mib": round(status["VmRSS"] / 1024, 1),
            "vmhwm_mib": round(status["VmHWM"] / 1024, 1), "ru_maxrss_mib": round(maxrss_kib / 1024, 1),
            "modules": len(sys.modules), **{name: name in sys.modules for name in WATCHED_MODULES},
            "seconds": round(time.perf_counter() - started, 3)}


def endpoint_steps(endpoint: str) -> list[str]:
    """The steps a process of ``endpoint`` (``import``, ``load`` or ``grade_N``) takes, in order.

    Raises:
        ValueError: another endpoint, or ``grade_N`` without a positive N.
    """
    steps = ["start", "import_package", "import_api"]
    if endpoint == "import":
        return steps
    if endpoint == "load":
        return [*steps, "load_bundle"]
    count = endpoint.removeprefix("grade_")
    if endpoint.startswith("grade_") and count.isdigit() and int(count) > 0:
        return [*steps, "load_bundle", endpoint]
    raise ValueError(f"unknown endpoint {endpoint!r}: import, load or grade_N (N > 0 images)")


def child_main(argv: Sequence[str]) -> None:
    """The measured process: ``ENDPOINT BUNDLE THREADS PATHS_JSON`` (``PATHS_JSON``: the image
    files to grade, a JSON list; ``grade_N`` grades the first N). Prints one JSON line, the
    list of :func:`snapshot` after each step of :func:`endpoint_steps`."""
    started = time.perf_counter()
    endpoint, bundle_path, threads, paths_json = argv
    steps = endpoint_steps(endpoint)
    snaps = [snapshot("start", started)]
    import drac_ssl.grading  # noqa: F401  (the package alone: its names are resolved on first use)

    snaps.append(snapshot("import_package", started))
    from drac_ssl.grading import grade_images, limit_threads, load_bundle, read_image

    snaps.append(snapshot("import_api", started))
    if "load_bundle" in steps:
        limit_threads(int(threads))
        bundle = load_bundle(bundle_path)
        snaps.append(snapshot("load_bundle", started))
    if endpoint.startswith("grade_"):
        paths = json.loads(paths_json)[:int(endpoint.removeprefix("grade_"))]
        read = [read_image(p, bundle.spec.channels, kind=bundle.kind, grey_trained=bundle.grey_trained)
                for p in paths]
        graded = grade_images(bundle, [image for image, _ in read], file_warnings=[said for _, said in read],
                              paths=paths)
        if len(graded.classes) != len(paths):
            raise SystemExit(f"graded {len(graded.classes)} of {len(paths)} images")
        snaps.append(snapshot(endpoint, started))
    print(json.dumps(snaps))


def spread(values: Sequence[float]) -> dict[str, float]:
    """``{"median", "min", "max"}`` of ``values`` (the repeats of one figure).

    Raises:
        ValueError: no values.
    """
    if not values:
        raise ValueError("no values to summarise")
    return {"median": round(statistics.median(values), 1), "min": min(values), "max": max(values)}


def interleaved_order(endpoints: Sequence[str], repeats: int, seed: int = 0) -> list[list[str]]:
    """``repeats`` rounds, each every endpoint once in an order drawn from ``seed``: drift of
    the machine's load spreads over all endpoints."""
    rng = random.Random(seed)
    return [rng.sample(list(endpoints), len(endpoints)) for _ in range(repeats)]


def summarise_runs(runs: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per step, over the repeats of one endpoint (``runs``: each repeat's snapshots in step
    order): the :func:`spread` of ``vmrss_mib``, ``vmhwm_mib``, ``ru_maxrss_mib``, ``modules``
    and ``seconds``, and each watched module's flag (true / false when the repeats agree,
    ``"mixed"`` when not).

    Raises:
        ValueError: repeats that took different steps."""
    steps = [[s["step"] for s in run] for run in runs]
    if not runs or any(s != steps[0] for s in steps):
        raise ValueError(f"the repeats took different steps: {steps}")
    table: dict[str, dict[str, Any]] = {}
    for i, step in enumerate(steps[0]):
        row: dict[str, Any] = {key: spread([run[i][key] for run in runs])
                               for key in ("vmrss_mib", "vmhwm_mib", "ru_maxrss_mib", "modules", "seconds")}
        for name in WATCHED_MODULES:
            flags = {bool(run[i][name]) for run in runs}
            row[name] = flags.pop() if len(flags) == 1 else "mixed"
        table[step] = row
    return table


def _measure(endpoint: str, bundle: Path, threads: int, paths: list[str], env: dict[str, str]) -> list[dict[str, Any]]:
    """One fresh process of ``endpoint`` (through :data:`LAUNCHER`); its snapshots."""
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, "-c", CHILD, endpoint, str(bundle), str(threads),
                           json.dumps(paths)], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the {endpoint} process failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _images(count: int, tmp: Path, samples: Path) -> tuple[list[str], str, bool]:
    """``count`` image files to grade, the words for them, whether they are the real samples."""
    real = [samples / f"sample_{i}.png" for i in range(3)]
    if all(p.is_file() for p in real):
        return ([str(real[i % 3]) for i in range(count)],
                f"the 3 real DRAC samples {', '.join(p.name for p in real)} (1024 x 1024 grey PNG), "
                f"taken in turn: each image of a call is its own read of its file", True)
    from PIL import Image

    from data_prep.phantom import phantom_image

    out = []
    for i in range(3):
        path = tmp / f"phantom_{i}.png"
        Image.fromarray(phantom_image(0, i, i)).save(path)
        out.append(str(path))
    return ([out[i % 3] for i in range(count)],
            f"3 phantom 1024 x 1024 grey UW-OCTA PNGs taken in turn (no DRAC samples at {samples})", False)


def main(argv: list[str] | None = None) -> int:
    from bench.common import SHARED_DATA, load_average, write_result
    from drac_ssl.starting import python_command

    parser = argparse.ArgumentParser(prog=python_command("bench.grading_memory"), allow_abbrev=False,
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--counts", default="3,30", help="images graded in one call, comma-separated")
    parser.add_argument("--bundle", type=Path, default=None,
                        help="bundle folder (default: the DRAC-shaped untrained demo bundle)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the measured processes")
    parser.add_argument("--seed", type=int, default=0, help="seed of the order within a round")
    parser.add_argument("--name", default="grading_memory")
    parser.add_argument("--out-dir", type=Path, default=None, help="results folder (default bench/results)")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    if not (1 <= args.repeats <= 20 and args.threads >= 1 and all(c >= 1 for c in counts)):
        parser.error("--repeats must be 1..20, --threads and each count at least 1")
    if not Path("/proc/self/status").is_file():
        raise SystemExit("bench.grading_memory reads /proc/self/status: Linux only")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_ALBUMENTATIONS_UPDATE": "1",
           "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory(prefix="drac_grading_memory_") as tmp_name:
        tmp = Path(tmp_name)
        paths, images_note, real = _images(max(counts), tmp, SHARED_DATA / "drac_samples")
        if args.bundle is None:
            subprocess.run([sys.executable, "-m", "app.demo_bundle", str(tmp / "demo_run"), "--image-size", "224",
                            "--source-size", "512", "--folds", "5"], cwd=REPO, env=env, check=True,
                           stdout=subprocess.DEVNULL)
            bundle = tmp / "demo_run" / "bundle"
            bundle_note = ("untrained demo bundle of the DRAC recipe's shape (app.demo_bundle: ResNet-18, conv "
                           "head, 224 px from a 512 px cache, 5 folds sharing one backbone)")
        else:
            bundle, bundle_note = args.bundle, f"given: {args.bundle}"
        endpoints = ["import", "load", *(f"grade_{c}" for c in counts)]
        order = interleaved_order(endpoints, args.repeats, args.seed)
        runs: dict[str, list[list[dict[str, Any]]]] = {e: [] for e in endpoints}
        load_start = load_average()
        for k, round_ in enumerate(order):
            for endpoint in round_:
                runs[endpoint].append(snaps := _measure(endpoint, bundle, args.threads, paths, env))
                last = snaps[-1]
                print(f"[grading_memory] round {k + 1}/{args.repeats} {endpoint}: resident {last['vmrss_mib']} MiB, "
                      f"peak {last['vmhwm_mib']} MiB, ru_maxrss {last['ru_maxrss_mib']} MiB, "
                      f"{last['modules']} modules, {last['seconds']} s", flush=True)
        load_end = load_average()
    per_endpoint = {e: {"steps": endpoint_steps(e), "per_step": summarise_runs(r), "runs": r} for e, r in runs.items()}
    write_result(args.name, {
        "what": "resident memory of CPU grading (drac_ssl.grading: import, limit_threads + load_bundle, read_image + "
                "one grade_images call), each endpoint in a fresh process; VmRSS / VmHWM of /proc/self/status "
                "and ru_maxrss, MiB; median and range over interleaved repeats",
        "bundle": bundle_note,
        "images": images_note,
        "images_real": real,
        "counts": counts,
        "repeats": args.repeats,
        "grading_threads": args.threads,
        "order": order,
        "load_average_1_5_15_min": {"start": load_start, "end": load_end},
        "table": {e: f["per_step"][f["steps"][-1]] for e, f in per_endpoint.items()},
        "endpoints": per_endpoint,
    }, args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
