"""Benchmark of ``data_prep.ingest`` on a full-size phantom DRAC set (611 train + 386 test).

Generates the phantom set once where the pipeline keeps it (``data/phantom/...``,
git-ignored; reused when complete), then times

- a cold ingest of the training set alone into a fresh output folder (the goal: 611 images
  at 1024 px in < 15 s),
- a cold ingest of the full set (train + test) into a fresh output folder,
- a warm re-run of the full set into the same folder (incremental: nothing decoded),

each ``--repeats`` times (median and best reported; the goal is judged on the median), and
writes ``bench/results/ingest.json`` with :func:`bench.common.write_result` (command, device,
versions, threads, the commit at the start and end). Usage: ``python bench/ingest.py
[--workers 0]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.common import load_average, write_result  # noqa: E402  (the run's start: first)
from data_prep import ingest  # noqa: E402
from data_prep.layout import TASK_DIR  # noqa: E402
from drac_ssl.config import Config, DataConfig  # noqa: E402
from drac_ssl.cpu_threads import usable_cores  # noqa: E402
from drac_ssl.runtime import apply_thread_policy  # noqa: E402
from drac_ssl.starting import python_command  # noqa: E402
from drac_ssl.train import phantom_root  # noqa: E402

N_TRAIN, N_TEST = 611, 386
GOAL_SECONDS = 15.0


@dataclass
class Timing:
    """Wall and CPU seconds (CPU: this process plus its finished workers) of repeated runs."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def measure(self, action: Callable[[], ingest.IngestResult]) -> ingest.IngestResult:
        start, cpu_start = time.perf_counter(), os.times()
        result = action()
        cpu_end = os.times()
        self.wall.append(time.perf_counter() - start)
        self.cpu.append(sum(cpu_end[:4]) - sum(cpu_start[:4]))  # user + system, all processes
        return result

    def report(self) -> dict[str, object]:
        return {"median": round(statistics.median(self.wall), 2), "best": round(min(self.wall), 2),
                "runs": [round(w, 2) for w in self.wall],
                "cpu_seconds_median": round(statistics.median(self.cpu), 2)}


def train_only_root(data: Path, scratch: Path) -> Path:
    """A root that shows only the training set (a link to the task folder, no test set)."""
    root = scratch / "train_only"
    root.mkdir()
    (root / TASK_DIR).symlink_to(data / TASK_DIR, target_is_directory=True)
    return root


def ingest_figures(cold_train: Timing, cold: Timing, warm: Timing, *, sizes: list[int], workers: int,
                   repeats: int, load_start: list[float] | None, load_end: list[float] | None,
                   cores: int) -> dict[str, object]:
    """The result's figures (seconds: wall; the goal judged on the median cold train-only run);
    the field names of the files written before :func:`bench.common.write_result` wrote them,
    so ``bench.summarize`` renders old and new alike. ``load_*``: 1, 5, 15 min load averages."""
    n_images = N_TRAIN + N_TEST
    train_seconds = statistics.median(cold_train.wall)
    return {
        "data": "phantom DRAC layout, 1024 x 1024 8-bit PNG, seed 0",
        "sizes": sizes,
        "workers": workers,
        "repeats": repeats,
        "n_images": n_images,
        "n_train": N_TRAIN,
        "n_test": N_TEST,
        "load_average_1_5_15_min": {"start": load_start, "end": load_end},
        "seconds_cold_train_only": cold_train.report(),
        "seconds_cold": cold.report(),
        "seconds_warm": warm.report(),
        "images_per_second": round(n_images / statistics.median(cold.wall), 1),
        "train_images_per_second": round(N_TRAIN / train_seconds, 1),
        "cpu_ms_per_image_cold": round(1000 * statistics.median(cold.cpu) / n_images, 1),
        # the wall time if every core were free for the ingest alone
        "seconds_cold_train_only_if_cores_idle": round(statistics.median(cold_train.cpu) / cores, 2),
        "goal": f"{N_TRAIN} train images < {GOAL_SECONDS:.0f} s",
        "goal_met": train_seconds < GOAL_SECONDS,
        "note": ("wall times depend on other load on the machine: compare the load averages "
                 "with the core count; CPU seconds do not"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.ingest"), allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / phantom_root(Config()),
                        help="where the phantom set is (generated if absent; default: where "
                             "the pipeline keeps it)")
    parser.add_argument("--workers", type=int, default=0, help="0 = the usable cores")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "ingest.json",
                        help="the result file to write (default: bench/results/ingest.json)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads of this process (0: the package's policy); workers run 1")
    args = parser.parse_args(argv)
    apply_thread_policy(args.threads)

    try:
        from data_prep import phantom
    except ImportError as exc:
        print(f"error: data_prep.phantom is not available ({exc})", file=sys.stderr)
        return 1
    print(f"phantom set: {args.data} (generated if absent)")
    phantom.generate(args.data, n_train=N_TRAIN, n_test=N_TEST, seed=0)

    load_start = load_average()
    cold_train, cold, warm = Timing(), Timing(), Timing()
    with tempfile.TemporaryDirectory(prefix="drac_ingest_bench_") as tmp:
        scratch = Path(tmp)
        train_cfg = DataConfig(root=str(train_only_root(args.data, scratch)), workers=args.workers)
        full_cfg = DataConfig(root=str(args.data), workers=args.workers)
        for repeat in range(args.repeats):  # each cold run into a fresh output folder
            train = cold_train.measure(
                lambda r=repeat: ingest.run(train_cfg, scratch / f"train{r}", verbose=False))
            full = cold.measure(
                lambda r=repeat: ingest.run(full_cfg, scratch / f"full{r}", verbose=False))
            again = warm.measure(
                lambda r=repeat: ingest.run(full_cfg, scratch / f"full{r}", verbose=False))
            assert train.n_train == N_TRAIN and train.n_test == 0
            assert (full.n_train, full.n_test) == (N_TRAIN, N_TEST) and again.n_decoded == 0
            shutil.rmtree(scratch / f"train{repeat}")
            shutil.rmtree(scratch / f"full{repeat}")
    load_end = load_average()

    report = ingest_figures(cold_train, cold, warm, sizes=full_cfg.cache_sizes, workers=args.workers,
                            repeats=args.repeats, load_start=load_start, load_end=load_end,
                            cores=usable_cores())
    write_result(args.results.stem, report, args.results.parent)
    print(f"median of {args.repeats}: cold train-only {statistics.median(cold_train.wall):.2f} s "
          f"({N_TRAIN} images), cold full {statistics.median(cold.wall):.2f} s ({N_TRAIN + N_TEST} images), "
          f"warm {statistics.median(warm.wall):.2f} s; "
          f"goal {'met' if report['goal_met'] else 'NOT met'} -> {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
