"""Disk use of finished run folders, and of any other folder -> ``bench/results/disk_use.json``.

    python -m bench.disk_use --run-dir RUN [--run-dir RUN ...] [--skip bundles] [--name disk_use]
    python -m bench.disk_use --folder .venv --folder data/phantom --name disk_use_setup

For each run folder: the total, each top-level folder, the two checkpoint folders
(``pretrain/checkpoints``, ``umm/checkpoints``: needed only to resume those stages or for
``umm.start_from=last|peak|past_peak``) and the fine-tuned weights (``finetune/*/*.safetensors``),
in MiB (2**20 bytes) of apparent file size. A file with several hard links (the bundle's and
``run.reuse``'s weights are links to the fine-tuning's) counts once in the total, under the
first top-level folder that holds it in name order with ``finetune`` first. ``--skip`` leaves
out top-level folders that are not part of a run (``bundles``: the extra bundles of
``bench/retinamnist.py``). What the "Disk" paragraph of docs/running.md (the run folder) cites.
Besides: the image cache (``data/cache``: the ingest's ``<size>px.npy`` arrays, what a reused
ingest keeps) and the files of the same content (files of at least 1 MiB,
:data:`HASH_MIN_BYTES`, each hard-linked file once, compared by size and SHA-256): the bytes
held in files whose bytes equal another file's, and of them what hard links would free (all
copies but one). Tensors stored again inside files of another layout (a backbone re-saved with
a key prefix) are not the same content and not counted there.

``--folder PATH`` (repeatable; with or without ``--run-dir``): the apparent size of any folder
and its file count, hard links once, symbolic links not followed (a venv's ``bin/python``),
under ``folders`` keyed by the path as typed: what command (1) leaves besides its run folder,
the set-up's ``.venv`` and the phantom set under ``data/phantom`` (docs/running.md, "Disk after
command (1)").
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

from bench.common import REPO, write_result
from drac_ssl.starting import python_command

MIB = 2 ** 20
HASH_MIN_BYTES = MIB
"""Files smaller than this are not compared for the same content (JSON records, logs)."""


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(MIB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def same_content(root: Path, paths: list[Path]) -> dict[str, object]:
    """Files of ``paths`` (under ``root``) of at least :data:`HASH_MIN_BYTES` whose bytes equal
    another's (each hard-linked file once; only files of one size are hashed):
    ``same_content_mib`` the bytes they hold, ``same_content_freeable_mib`` those of all copies
    but one per content, ``same_content_groups`` their paths relative to ``root``."""
    seen: set[tuple[int, int]] = set()
    by_size: dict[int, list[Path]] = {}
    for path in paths:
        st = path.stat()
        if st.st_size >= HASH_MIN_BYTES and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            by_size.setdefault(st.st_size, []).append(path)
    groups: list[tuple[int, list[Path]]] = []
    for size, same_size in sorted(by_size.items()):
        if len(same_size) < 2:
            continue
        by_hash: dict[str, list[Path]] = {}
        for path in same_size:
            by_hash.setdefault(_sha256(path), []).append(path)
        groups += [(size, group) for group in by_hash.values() if len(group) > 1]
    return {"same_content_mib": round(sum(size * len(g) for size, g in groups) / MIB, 1),
            "same_content_freeable_mib": round(sum(size * (len(g) - 1) for size, g in groups) / MIB, 1),
            "same_content_groups": [[str(p.relative_to(root)) for p in g] for _size, g in groups]}


def disk_use(run_dir: Path, skip: tuple[str, ...] = ()) -> dict[str, object]:
    """The figures of one run folder (see the module docstring)."""
    tops = sorted((p for p in run_dir.iterdir() if p.name not in skip),
                  key=lambda p: (p.name != "finetune", p.name))
    seen: set[tuple[int, int]] = set()
    per_folder: dict[str, float] = {}
    every: list[Path] = []
    for top in tops:
        size = 0
        for path in ([top] if top.is_file() else _files(top)):
            every.append(path)
            st = path.stat()
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                size += st.st_size
        per_folder[top.name] = round(size / MIB, 1)

    def mib(paths: list[Path]) -> float:
        return round(sum(p.stat().st_size for p in paths) / MIB, 1)

    checkpoints = {f"{stage}/checkpoints": mib(_files(run_dir / stage / "checkpoints"))
                   for stage in ("pretrain", "umm") if (run_dir / stage / "checkpoints").is_dir()}
    weights = sorted((run_dir / "finetune").glob("*/*.safetensors"))
    cache = run_dir / "data" / "cache"
    return {"run_dir": str(run_dir), "skipped": list(skip),
            "total_mib": round(sum(per_folder.values()), 1), "per_top_level_mib": per_folder,
            "checkpoints_mib": checkpoints, "checkpoints_total_mib": round(sum(checkpoints.values()), 1),
            "fine_tuned_weights_mib": mib(weights), "fine_tuned_weight_files": len(weights),
            "largest_weight_file_mib": round(max((p.stat().st_size for p in weights), default=0) / MIB, 1),
            "image_cache_mib": mib(_files(cache)) if cache.is_dir() else 0.0,
            **same_content(run_dir, every)}


def folder_use(folder: Path) -> dict[str, object]:
    """``{"path", "total_mib", "files"}`` of ``folder``: the apparent size of its files (MiB,
    :data:`MIB`), each hard-linked file once, symbolic links neither counted nor followed."""
    seen: set[tuple[int, int]] = set()
    size = files = 0
    for parent, _dirs, names in os.walk(folder):  # followlinks=False: a linked folder is not entered
        for name in names:
            path = Path(parent) / name
            if path.is_symlink() or not path.is_file():
                continue
            st = path.stat()
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                size += st.st_size
                files += 1
    return {"path": str(folder), "total_mib": round(size / MIB, 1), "files": files}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.disk_use"), allow_abbrev=False, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", action="append", default=[], metavar="RUN",
                        help="a finished run folder (repeatable)")
    parser.add_argument("--folder", action="append", default=[], metavar="PATH",
                        help="any other folder, e.g. .venv or data/phantom (repeatable): its size "
                             "and file count alone")
    parser.add_argument("--skip", action="append", default=[], metavar="NAME",
                        help="a top-level folder to leave out (repeatable), e.g. bundles")
    parser.add_argument("--name", default="disk_use")
    parser.add_argument("--out-dir", default=str(REPO / "bench" / "results"))
    args = parser.parse_args(argv)
    if not args.run_dir and not args.folder:
        parser.error("give --run-dir RUN or --folder PATH (either repeatable)")
    runs = [Path(os.path.abspath(r)) for r in args.run_dir]
    missing = [str(r) for r in runs if not (r / "stages.json").is_file()]
    if missing:
        parser.error(f"not a run folder (no stages.json): {', '.join(missing)}")
    absent = [f for f in args.folder if not Path(f).is_dir()]
    if absent:
        parser.error(f"not a folder: {', '.join(absent)}")
    figures = {run.name: disk_use(run, tuple(args.skip)) for run in runs}
    for name, f in figures.items():
        print(f"[disk] {name}: {f['total_mib']} MiB, checkpoints {f['checkpoints_total_mib']} MiB, "
              f"fine-tuned weights {f['fine_tuned_weights_mib']} MiB")
        print(f"[disk] {name}: image cache (data/cache) {f['image_cache_mib']} MiB")
        print(f"[disk] {name}: same content (files >= 1 MiB, SHA-256) {f['same_content_mib']} MiB in "
              f"{sum(len(g) for g in f['same_content_groups'])} files, of it "
              f"{f['same_content_freeable_mib']} MiB in copies beyond one")
    folders = {f: folder_use(Path(f)) for f in args.folder}
    for name, f in folders.items():
        print(f"[disk] {name}: {f['total_mib']} MiB in {f['files']} files")
    write_result(args.name, {"what": "disk use of finished run folders and other folders (apparent size, "
                                     "MiB, hard links counted once, symbolic links not followed)",
                             **({"runs": figures} if figures else {}),
                             **({"folders": folders} if folders else {})}, Path(args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
