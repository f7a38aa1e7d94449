"""Seconds to build the name filter of ``--log-names tag`` for a folder of N names, and
microseconds per console line it filters.

    python -m bench.name_tags                                   # 10,000 and 100,000 names
    python -m bench.name_tags --sizes 10000 100000 1000000 --baseline /tmp/before

What it measures: :class:`drac_ssl.name_tags.NameTagger` built from N listed names and their
stems (:func:`drac_ssl.name_tags.with_stems`, as the export lists them: about 2N), half
``Patient_0000123_OD.png``-like, half ``Last, First 12345678.jpg`` with random letters (seed
0), each size in a fresh process: the build's wall seconds, the memory the tagger holds (MiB,
:mod:`tracemalloc` of a second build, after :func:`re.purge`: a checkout whose tagger compiles
a regular expression of the names has it counted, not served from re's cache), and the
microseconds per line of 2,000 console lines that name a file (``skipped:
/data/clinic/NAME: a truncated PNG ...``) and of 2,000 that name none, the best of 3 passes. ``--baseline DIR`` times another checkout the same way (``PYTHONPATH=DIR``), e.g. the
code before a change (the one regular expression of all the names, whose compilation grew to
seconds); its figures go under ``baseline``. A shared machine's load changes the figures: the
1-minute load average is recorded at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import REPO, write_result
from drac_ssl.starting import python_command

CHILD = r'''
import json, random, re, sys, time, tracemalloc
from drac_ssl.name_tags import NameTagger, with_stems

size = int(sys.argv[1])
rng = random.Random(0)
letters = "abcdefghijklmnopqrstuvwxyz"
def word():
    return "".join(rng.choice(letters) for _ in range(rng.randint(3, 9))).title()
listed = [f"Patient_{i:07d}_{'OD' if i % 4 == 1 else 'OS'}.png" if i % 2 else
          f"{word()}, {word()} {rng.randint(10**7, 10**8)}.jpg" for i in range(size)]
names = with_stems(listed)
t0 = time.perf_counter()
tagger = NameTagger(names)
build = time.perf_counter() - t0
re.purge()  # else the second build takes the first's compiled pattern (a checkout of one
tracemalloc.start()  # regular expression of the names) from re's cache, and it goes uncounted
held = NameTagger(names)  # what a second tagger holds, traced apart from the timing
held_mib = tracemalloc.get_traced_memory()[0] / 2**20
tracemalloc.stop()
del held
picked = sorted(names)
named = [f"skipped: /data/clinic/{picked[rng.randrange(len(picked))]}: a truncated PNG ({k} of 2000); "
         f"rename it, e.g. to x_{k}.png\n" for k in range(2000)]
plain = [f"note: graded {k} image(s) of 2000 with QWK 0.{k:04d}, no file named here\n" for k in range(2000)]
per_line = {}
for label, lines in (("named", named), ("plain", plain)):
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        out = [tagger(line) for line in lines]
        best = min(best, time.perf_counter() - t0)
    tagged = sum("[name " in line for line in out)
    assert tagged == (len(lines) if label == "named" else 0), (label, tagged)
    per_line[label] = round(1e6 * best / len(lines), 2)
print(json.dumps({"listed": size, "names": len(names), "build_s": round(build, 3),
                  "held_mib": round(held_mib, 1), "line_with_a_name_us": per_line["named"],
                  "line_without_us": per_line["plain"]}))
'''
"""The measurement of one size, run in a fresh process of the checkout timed."""


def measure(code: Path, size: int) -> dict[str, Any]:
    """:data:`CHILD` for ``size`` listed names in a fresh process with ``PYTHONPATH=code``.

    Raises RuntimeError with the child's last words when it fails."""
    env = {**os.environ, "PYTHONPATH": str(code), "NO_ALBUMENTATIONS_UPDATE": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(size)], cwd=code, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {size} names in {code} failed (exit {done.returncode}):\n"
                           f"{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _git_commit(code: Path) -> str | None:
    done = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.name_tags"), allow_abbrev=False,
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000],
                        help="listed names per measurement (default 10000 100000)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout measured the same way (e.g. the code before a change)")
    parser.add_argument("--out", type=Path, default=None, help="result folder (default bench/results)")
    args = parser.parse_args(argv)
    load_start = [round(x, 2) for x in os.getloadavg()]
    runs: dict[str, list[dict[str, Any]]] = {"this": [], "baseline": []}
    for size in args.sizes:
        for which, code in (("this", REPO), ("baseline", args.baseline)):
            if code is None:
                continue
            runs[which].append(measure(code.resolve(), size))
            print(f"[name_tags] {which}: {runs[which][-1]}", flush=True)
    load_end = [round(x, 2) for x in os.getloadavg()]
    figures: dict[str, Any] = {}
    for run in runs["this"]:
        k = f"{run['listed'] // 1000}k"
        figures[f"build_s_{k}"] = run["build_s"]
        figures[f"held_mib_{k}"] = run["held_mib"]
    largest = runs["this"][-1]
    figures["line_with_a_name_us"] = largest["line_with_a_name_us"]
    figures["line_without_us"] = largest["line_without_us"]
    if runs["baseline"]:
        for run in runs["baseline"]:
            figures[f"baseline_build_s_{run['listed'] // 1000}k"] = run["build_s"]
    figures.update({
        "what": ("NameTagger build (wall s; MiB it holds) from N listed names and their stems, "
                 "and us per console line filtered (the largest N), each size in a fresh process"),
        "sizes": runs["this"],
        "baseline": ({"code_commit": _git_commit(args.baseline.resolve()), "sizes": runs["baseline"]}
                     if args.baseline is not None else None),
        "load_average_1_5_15_min": {"start": load_start, "end": load_end},
        "held_mib_counts_patterns": True,  # re.purge() before the traced build (CHILD)
    })
    path = write_result("name_tags", figures, out_dir=args.out)
    print(f"[name_tags] wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
