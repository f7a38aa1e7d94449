"""Seconds until each command answers ``--help``, against ``python -c "import torch"``.

    python -m bench.cli_startup                   # 5 interleaved rounds
    python -m bench.cli_startup --rounds 3 --code /tmp/old_checkout --out /tmp/old.json

What it measures: the wall time of a fresh ``python -m COMMAND --help`` process (the
interpreter's start, the imports before the arguments are parsed, the help text), for every
command the README names, and of ``python -c "import torch"`` as the reference in the same run
(what a command that imports torch before it parses its arguments pays at least). Rounds are
interleaved: every round runs each command once, in a random order, so drift of the machine's
load spreads over all of them. A command's figure is the median over rounds; ``ratio_to_torch``
is that median over the reference's. The 1-minute load average is recorded at the start and the
end: the figures of a busy shared machine are slower than an idle one's.

``--code DIR``: time the commands of another checkout (``PYTHONPATH=DIR``, run in DIR), e.g.
the code before a change; its result goes to ``--out`` (default: ``bench/results/cli_startup.json``).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import REPO, RESULTS, write_result
from drac_ssl.cpu_threads import usable_cores
from drac_ssl.starting import python_command

COMMANDS = ("drac_ssl.train", "drac_ssl.umm", "drac_ssl.export", "drac_ssl.compare",
            "drac_ssl.report", "drac_ssl.submission", "data_prep", "data_prep ingest", "app",
            "app.demo_bundle")
REFERENCE = "import torch"


def _argv(command: str) -> list[str]:
    if command == REFERENCE:
        return [sys.executable, "-c", REFERENCE]
    return [sys.executable, "-m", *command.split(), "--help"]


def time_once(command: str, code: Path, env: dict[str, str]) -> tuple[float, int]:
    """Seconds of one fresh process running ``command`` and its exit code."""
    t0 = time.perf_counter()
    proc = subprocess.run(_argv(command), cwd=code, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.cli_startup"), allow_abbrev=False,
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--code", type=Path, default=REPO,
                        help="checkout whose commands are timed (default: this one)")
    parser.add_argument("--out", type=Path, default=None,
                        help="result file (default: bench/results/cli_startup.json)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the order within a round")
    args = parser.parse_args(argv)
    code = args.code.resolve()
    env = {**os.environ, "PYTHONPATH": str(code), "NO_ALBUMENTATIONS_UPDATE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    rng = random.Random(args.seed)
    names = [REFERENCE, *COMMANDS]
    seconds: dict[str, list[float]] = {name: [] for name in names}
    codes: dict[str, set[int]] = {name: set() for name in names}
    load_start = [round(x, 2) for x in os.getloadavg()]
    for round_ in range(args.rounds):
        order = names[:]
        rng.shuffle(order)
        for name in order:
            took, rc = time_once(name, code, env)
            seconds[name].append(round(took, 3))
            codes[name].add(rc)
        print(f"[cli_startup] round {round_ + 1}/{args.rounds}: "
              + ", ".join(f"{n} {seconds[n][-1]:.1f} s" for n in names), flush=True)
    load_end = [round(x, 2) for x in os.getloadavg()]
    reference = statistics.median(seconds[REFERENCE])
    table = {name: {"median_s": round(statistics.median(seconds[name]), 3),
                    "ratio_to_torch": round(statistics.median(seconds[name]) / reference, 3),
                    "seconds": seconds[name], "exit_codes": sorted(codes[name])}
             for name in names}
    figures = {
        "what": "wall seconds of a fresh `python -m COMMAND --help` process; reference: "
                "`python -c \"import torch\"` in the same run",
        "rounds": args.rounds,
        "code": str(code),
        "reference": REFERENCE,
        "reference_median_s": round(reference, 3),
        "load_average_1_5_15_min": {"start": load_start, "end": load_end},
        "usable_cores": usable_cores(),
        "table": table,
    }
    out = args.out or RESULTS / "cli_startup.json"
    write_result(out.stem, figures, out_dir=out.parent)
    for name in names:
        print(f"{name:22s} {table[name]['median_s']:6.2f} s  x{table[name]['ratio_to_torch']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
