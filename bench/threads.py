"""CPU threads vs a busy neighbour: seconds per ResNet-18 prediction and training step.

    python -m bench.threads                         # threads 1 and every core, 3 interleaved repeats
    python -m bench.threads --threads-list 1,2,4 --repeats 5 --calls 5

What it measures (the figures behind :func:`drac_ssl.runtime.default_threads`):

- ``predict``: one ResNet-18 forward of a 1 x 1 x 224 x 224 image (the DRAC recipe's input)
  in ``torch.inference_mode``: the unit of work of the app and the export command;
- ``train_step``: forward + backward + SGD step of ResNet-18 on a batch of 32 x 1 x 64 x 64
  (the CPU default configuration's crops): the unit of work of pretraining and fine-tuning;

each with intra-op threads from ``--threads-list`` (default 1 and the usable cores), without
and with one *busy neighbour*: another process that keeps one core busy with single-threaded
convolutions, as another worker's job does on a shared machine. Cells are interleaved: every
repeat visits both neighbour states in a random order and, within each, every thread count in
a random order, so slow drift of the machine's load spreads over all cells. A cell's figure is
the median over repeats of the per-repeat median of ``--calls`` timed calls (after one
untimed warm-up call). The 1-minute load average is recorded per cell: on a machine shared
with other people "no neighbour" is not idle, and the JSON says how busy it was.

Writes ``bench/results/threads.json``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import RESULTS, start_neighbour, stop_process, write_result
from drac_ssl.starting import python_command


def workloads() -> dict[str, Callable[[], None]]:
    import torch

    from drac_ssl.models import Backbone

    torch.manual_seed(0)
    predictor = Backbone("resnet18", in_channels=1).eval()
    image = torch.randn(1, 1, 224, 224)

    def predict() -> None:
        with torch.inference_mode():
            predictor(image)

    learner = Backbone("resnet18", in_channels=1)
    head = torch.nn.Linear(512, 3)
    opt = torch.optim.SGD([*learner.parameters(), *head.parameters()], lr=1e-3)
    batch, target = torch.randn(32, 1, 64, 64), torch.randint(0, 3, (32,))

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(head(learner(batch)), target)
        loss.backward()
        opt.step()

    return {"predict": predict, "train_step": train_step}


def time_calls(fn: Callable[[], None], calls: int) -> float:
    fn()  # warm-up: allocator, thread pool start
    seconds = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds)


def main(argv: list[str] | None = None) -> int:
    import torch

    from drac_ssl.runtime import usable_cores

    cores = usable_cores()
    parser = argparse.ArgumentParser(prog=python_command("bench.threads"), allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads-list", default=",".join(str(t) for t in sorted({1, cores})),
                        help="intra-op thread counts to compare (default: 1 and the usable cores)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (default 3)")
    parser.add_argument("--calls", type=int, default=5, help="timed calls per cell and repeat")
    parser.add_argument("--workloads", default="predict,train_step")
    parser.add_argument("--seed", type=int, default=0, help="order of the interleaving")
    parser.add_argument("--name", default="threads")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    thread_counts = [int(t) for t in args.threads_list.split(",") if t.strip()]
    fns = {k: v for k, v in workloads().items() if k in args.workloads.split(",")}
    rng = random.Random(args.seed)
    cells: dict[tuple[str, int, bool], list[float]] = {}
    loads: dict[tuple[str, int, bool], list[float]] = {}
    for repeat in range(args.repeats):
        for busy in rng.sample([False, True], 2):
            neighbour = start_neighbour() if busy else None
            try:
                order = [(w, t) for w in fns for t in thread_counts]
                rng.shuffle(order)
                for workload, threads in order:
                    torch.set_num_threads(threads)
                    sec = time_calls(fns[workload], args.calls)
                    cells.setdefault((workload, threads, busy), []).append(sec)
                    loads.setdefault((workload, threads, busy), []).append(os.getloadavg()[0])
                    print(f"[threads] repeat {repeat} {workload:10s} threads={threads} "
                          f"neighbour={'busy' if busy else 'none'}: {sec:.3f} s "
                          f"(load {os.getloadavg()[0]:.1f})", flush=True)
            finally:
                if neighbour is not None:
                    stop_process(neighbour)
    rows = []
    for (workload, threads, busy), secs in sorted(cells.items()):
        rows.append({
            "workload": workload, "threads": threads, "neighbour": "busy" if busy else "none",
            "seconds_median": round(statistics.median(secs), 4),
            "seconds_min": round(min(secs), 4), "seconds_max": round(max(secs), 4),
            "seconds_per_repeat": [round(s, 4) for s in secs],
            "load_avg_1min": [round(v, 2) for v in loads[(workload, threads, busy)]],
        })
    table = {}
    for row in rows:
        table.setdefault(row["workload"], {})[f"{row['threads']} thread(s), neighbour {row['neighbour']}"] = \
            row["seconds_median"]
    for workload, figures in table.items():
        print(f"[threads] {workload}: " + "; ".join(f"{k}: {v:.3f} s" for k, v in figures.items()))
    write_result(args.name, {
        "what": "seconds per call, median over interleaved repeats of the per-repeat median; "
                "predict = ResNet-18 1x1x224x224 inference_mode, train_step = ResNet-18 "
                "32x1x64x64 forward+backward+SGD; busy neighbour = one other process running "
                "single-threaded convolutions",
        "usable_cores": cores, "repeats": args.repeats, "calls": args.calls,
        "thread_counts": thread_counts, "rows": rows, "table": table,
    }, args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
