"""Peak memory of ``data_prep.ingest`` against the size of the cache it writes.

    python -m bench.ingest_memory [--sizes 256,512] [--workers 1,2] [--name ingest_memory]

A cold ingest of the full-size phantom DRAC set (611 train + 386 test, 1024 px PNG; generated
once where the pipeline keeps it, as ``bench/ingest.py`` does) runs in a fresh Python process
per worker count, which reports its resident memory after the imports and its peak
(``VmHWM`` of ``/proc/self/status``; not ``ru_maxrss``, which Linux carries over ``exec``
from the parent that forked the process) after the ingest. Linux only. The figure is the growth (peak - after imports) against the
bytes of the ``cache/{size}px.npy`` arrays written: an ingest that holds every cached row in
memory grows by at least the cache's size, which for a large fundus set (EyePACS: 35,126
training images, at 512 px RGB a 27.6 GB cache) does not fit a workstation's memory.

Writes ``bench/results/<name>.json`` with the command, device, versions and date.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS, write_result
from drac_ssl.starting import python_command

CHILD = r"""
import json, sys
from pathlib import Path
from data_prep import ingest
from drac_ssl.config import DataConfig

def rss_mb(key="VmRSS"):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")

root, out, sizes, workers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
before = rss_mb()
result = ingest.run(DataConfig(root=root, workers=workers, cache_sizes=sizes), out, verbose=False)
peak = rss_mb("VmHWM")  # this process image's peak (ru_maxrss would carry the parent's over exec)
cache = sum(p.stat().st_size for p in result.cache_paths.values())
print(json.dumps({"rss_after_imports_mb": round(before, 1), "peak_rss_mb": round(peak, 1),
                  "cache_mb": round(cache / 2**20, 1), "n_images": result.n_train + result.n_test}))
"""


def measure(root: Path, sizes: list[int], workers: int) -> dict[str, Any]:
    """One cold ingest of ``root`` in a fresh process; its memory figures."""
    with tempfile.TemporaryDirectory(prefix="drac_ingest_memory_") as tmp:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(root), str(Path(tmp) / "out"),
                               json.dumps(sizes), str(workers)],
                              cwd=REPO, capture_output=True, text=True, check=False,
                              env={"PYTHONPATH": str(REPO), "NO_ALBUMENTATIONS_UPDATE": "1",
                                   "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    if proc.returncode != 0:
        raise SystemExit(f"the ingest failed (workers={workers}):\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["growth_mb"] = round(row["peak_rss_mb"] - row["rss_after_imports_mb"], 1)
    row["growth_over_cache"] = round(row["growth_mb"] / row["cache_mb"], 3)
    return row


def main(argv: list[str] | None = None) -> None:
    from data_prep import phantom
    from drac_ssl.config import Config
    from drac_ssl.train import phantom_root

    parser = argparse.ArgumentParser(prog=python_command("bench.ingest_memory"), allow_abbrev=False,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / phantom_root(Config()))
    parser.add_argument("--sizes", default="256,512", help="cache sizes, px")
    parser.add_argument("--workers", default="1,2", help="worker processes to measure, comma-separated")
    parser.add_argument("--name", default="ingest_memory")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    phantom.generate(args.data, n_train=611, n_test=386, seed=0)
    runs = {}
    for workers in (int(w) for w in args.workers.split(",")):
        runs[f"workers_{workers}"] = row = measure(args.data, sizes, workers)
        print(f"[bench] ingest, {workers} worker(s): peak {row['peak_rss_mb']} MB, after imports "
              f"{row['rss_after_imports_mb']} MB, growth {row['growth_mb']} MB for a "
              f"{row['cache_mb']} MB cache ({row['growth_over_cache']}x)")
    write_result(args.name, {
        "what": "peak resident memory of a cold ingest (data_prep.ingest.run, fresh process) of the "
                "full-size phantom DRAC set, against the bytes of the cache arrays it writes",
        "data": "phantom DRAC layout, 611 train + 386 test, 1024 x 1024 8-bit PNG, seed 0",
        "sizes": sizes,
        "runs": runs,
        "goal": "the growth stays well below the cache's size (the rows are not all held in memory)",
    }, args.out_dir)


if __name__ == "__main__":
    main()
