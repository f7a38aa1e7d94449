"""Shared by the bench scripts: the thread policy, and a result file with command, device,
versions, threads, the code measured and when.

The code a run measured is the code at its start: importing this module (the first thing a
bench script does) records the commit, the uncommitted changes to code in the checkout
(:func:`dirty_code_files`: result files and documents are not code) and the time
(:data:`RUN_START`); :func:`write_result` writes them beside the same at the end, so a commit
or an edit made while a long run went on shows in its result file.

On a lent GPU machine the checkout's ``.git`` can name an older commit than the code sent (the
device copy's git metadata was stale): there the GPU scripts' ``prepare`` step writes a code
stamp here (:func:`drac_ssl.code_stamp.read_code_stamp`), carried along, and ``DRAC_SSL_CODE_STAMP`` names it;
the result file then takes the commit from the stamp and says so (``code_source``).

Importing this module applies the package's CPU thread policy
(:func:`drac_ssl.runtime.apply_thread_policy`: half the usable cores, 1..4, or
``OMP_NUM_THREADS`` when set), so every bench runs with threads set deliberately; scripts with
a ``--threads`` option (:func:`add_threads_argument`) apply that after parsing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SHARED_DATA_ENV = "DRAC_SSL_SHARED_DATA"


def shared_data_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """The team's real data that the benches read (``drac_samples/``, ``aptos_samples/``,
    ``retinamnist/``, ``cifar10/``, ...): the folder ``DRAC_SSL_SHARED_DATA`` names when it is set
    (``~`` expanded, a relative path taken from the current folder), as for the tests
    (``tests/helpers/shared_data.py``), else ``<repo>/../shared/data``. Whether the folder
    exists is not checked here: each bench says which of its files is missing and where it
    looked.

    Raises ValueError when the variable is set but empty (or blank), as the tests do: it
    used to fall back to ``../shared/data`` silently, hiding a variable meant to point
    elsewhere."""
    default = REPO.parent / "shared" / "data"
    value = environ.get(SHARED_DATA_ENV)
    if value is None:
        return default
    if not value.strip():
        raise ValueError(f"{SHARED_DATA_ENV} is set but empty: set it to the folder that holds drac_samples/, "
                         f"aptos_samples/, retinamnist/, ... (the team's shared/data), or unset it to read {default}")
    return Path(value.strip()).expanduser().absolute()


try:
    SHARED_DATA = shared_data_folder()
except ValueError as _exc:
    raise SystemExit(f"error: {_exc}") from None

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import drac_ssl.runtime as _runtime  # noqa: E402
from drac_ssl.code_stamp import (  # noqa: E402
    NOT_CODE,
    CodeStamp,
    is_code,
    stamp_record,
    stamps_from_env,
)
from drac_ssl.config import dotted_settings  # noqa: E402
from drac_ssl.runtime import apply_thread_policy  # noqa: E402

apply_thread_policy(None)


DIRTY_FILES_SHOWN = 20
"""The most uncommitted code files a result file names (``git_dirty_file_count`` says how many)."""


def dirty_code_files(repo: Path = REPO) -> list[str] | None:
    """The tracked code files (:func:`is_code`) of the checkout at ``repo`` that differ from its
    commit, staged or not (a rename gives both names), repository-relative, sorted; untracked
    files are left out. None when git or the checkout is not there (unknown)."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "-z", "--no-renames",
                              "--untracked-files=no"],
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    # porcelain v1 -z: "XY PATH" entries, NUL-terminated, paths relative to the repository root
    paths = {entry[3:] for entry in out.stdout.split("\0") if len(entry) > 3}
    return sorted(p for p in paths if is_code(p))


@dataclass(frozen=True)
class RunStart:
    """When a bench run started and the code it started with."""

    started_utc: str
    """ISO 8601, UTC, seconds."""
    git_commit: str
    """Short commit of the checkout the package runs from ("unknown" without git)."""
    git_dirty: bool | None
    """Whether tracked code files differed from that commit (None: unknown)."""
    git_dirty_files: tuple[str, ...] | None = None
    """Those files (:func:`dirty_code_files`; None: unknown or not recorded)."""
    code_stamp: CodeStamp | None = None
    """Where the commit came from when not from git (:func:`drac_ssl.code_stamp.stamps_from_env`)."""
    code_stamp_unmatched: CodeStamp | None = None
    """A stamp found not to match the tree (not used: the commit is git's), recorded as such."""


def run_start() -> RunStart:
    """The time and the code now: the commit and uncommitted code files of the code stamp
    ``DRAC_SSL_CODE_STAMP`` names when set and its files match the tree
    (:func:`drac_ssl.code_stamp.stamps_from_env`), else of the checkout (two git calls; a stamp
    found not to match is kept in ``code_stamp_unmatched``). Raises ValueError for a stamp that
    cannot be read."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    stamp, unmatched = stamps_from_env()
    if stamp is not None:
        return RunStart(now, stamp.commit[:7], bool(stamp.changed_code), stamp.changed_code, stamp)
    files = dirty_code_files()
    return RunStart(now, _runtime.git_commit(), None if files is None else bool(files),
                    None if files is None else tuple(files), code_stamp_unmatched=unmatched)


def _dirty_record(dirty: bool | None, files: tuple[str, ...] | list[str] | None,
                  suffix: str = "") -> dict[str, Any]:
    """``git_dirty``, ``git_dirty_files`` (at most :data:`DIRTY_FILES_SHOWN`) and
    ``git_dirty_file_count``, each name ending in ``suffix``."""
    return {f"git_dirty{suffix}": dirty,
            f"git_dirty_files{suffix}": None if files is None else list(files)[:DIRTY_FILES_SHOWN],
            f"git_dirty_file_count{suffix}": None if files is None else len(files)}


try:
    RUN_START = run_start()
    """Taken when a bench script imports this module, i.e. at the start of its run."""
except ValueError as _exc:
    raise SystemExit(f"error: {_exc}") from None


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` (0 = the package's policy); pass the parsed value to
    :func:`apply_thread_policy`."""
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="CPU threads of torch and OpenCV (0: the package's policy, half the "
                             "cores, 1..4, or OMP_NUM_THREADS)")


def write_result(name: str, figures: dict[str, Any], out_dir: Path | None = None,
                 started: RunStart | None = None) -> Path:
    """Write ``bench/results/<name>.json`` (or into ``out_dir``) with the run's environment,
    including the threads the measuring process ran with.

    ``started``: the run's start (default :data:`RUN_START`, when the script imported this
    module). ``environment.git_commit`` / ``git_dirty`` are the code at that start (what was
    measured): ``git_dirty`` whether tracked code files differed from the commit
    (:func:`dirty_code_files`; result files and documents, :data:`NOT_CODE`, listed in
    ``git_dirty_not_code``, do not count), ``git_dirty_files`` the first
    :data:`DIRTY_FILES_SHOWN` of them and ``git_dirty_file_count`` how many; the same keys
    ending in ``_at_end`` say the same when the result is written (they differ when a commit
    or an edit came during the run). ``started_utc`` and ``finished_utc`` bound the run;
    ``date_utc`` is ``finished_utc`` (as in files written before the start was recorded, whose
    commit is the one at their end; files written before the code-only count have no
    ``git_dirty_files`` and counted any tracked file, results and documents included).

    ``environment.code_source`` says where the commit came from: ``"git"`` (the checkout's
    ``.git``) or ``"code_stamp"`` (the start's :class:`CodeStamp`, on a GPU machine whose copy
    of ``.git`` may be stale; ``code_stamp`` then gives its file, full commit and time and
    ``matches_tree`` (:func:`drac_ssl.code_stamp.stamp_record`), the ``_at_end`` keys repeat
    the stamp's (the carried code does not change during a device run) and
    ``git_commit_checkout`` is what the copy's ``.git`` said). A stamp whose files did not
    match the tree is recorded in ``code_stamp`` too, with ``matches_tree: false`` and the
    files that differ, while the commit is git's (``code_source: "git"``).
    """
    from drac_ssl.io import atomic_write_json

    start = started or RUN_START
    env = _runtime.environment_info()
    finished = env.pop("date_utc")
    end_files = dirty_code_files()
    # drac_ssl.runtime reads the stamp too: its git_commit is then the stamp's, and the copy's
    # .git is in git_commit_checkout; the keys are set here from the start's stamp
    checkout = env.pop("git_commit_checkout", env["git_commit"])
    env.pop("code_stamp", None)
    env["git_commit_at_end"] = checkout
    env["git_commit"] = start.git_commit
    del env["git_dirty"]  # the whole tree's flag: replaced by the code-only one
    env.update(_dirty_record(start.git_dirty, start.git_dirty_files))
    env.update(_dirty_record(None if end_files is None else bool(end_files), end_files, "_at_end"))
    env["git_dirty_not_code"] = list(NOT_CODE)
    stamp = start.code_stamp
    env["code_source"] = "git" if stamp is None else "code_stamp"
    if stamp is not None:
        env["git_commit_checkout"] = env["git_commit_at_end"]
        env["git_commit_at_end"] = start.git_commit
        env.update(_dirty_record(start.git_dirty, start.git_dirty_files, "_at_end"))
        env["code_stamp"] = stamp_record(stamp)
    elif start.code_stamp_unmatched is not None:
        env["code_stamp"] = stamp_record(start.code_stamp_unmatched)
    record = {
        "benchmark": name,
        "command": env.pop("command"),
        "device": env.pop("device"),
        "date_utc": finished,
        "started_utc": start.started_utc,
        "finished_utc": finished,
        "threads": env.pop("threads"),
        "environment": env,
        **figures,
    }
    path = (out_dir or RESULTS) / f"{name}.json"
    atomic_write_json(path, record)
    print(f"[bench] wrote {path}")
    return path


OOF_KEPT_COLUMNS = ("id", "grade", "fold", "pred")
"""The columns of an out-of-fold CSV a result keeps beside the ``P0..P{K-1}`` probabilities
(:func:`keep_oof_copies`): what the out-of-fold figures and their bootstrap intervals are
computed from. ``score`` (the expected grade, a function of the probabilities) and the raw
outputs (``logit*``, ``raw_score``) are left out, which halves the file."""


OOF_UNIT_COLUMN = "ci_unit"
"""The column a kept out-of-fold copy adds after ``fold`` when the run's bootstrap resampled
units larger than an image (:func:`keep_oof_copies` ``units``): each image's unit as
:func:`drac_ssl.oof.patient_groups` names it (``patient:<id>``, ``group:<name>`` for near
twins the folds kept whole, ``image:<id>`` for an image alone in its unit)."""


def run_stages(run_dir: Path) -> dict[str, Any]:
    """The ``stages.json`` of a run a bench script made or was given (each stage's entry, by
    name: :func:`drac_ssl.run_state.read_stages_record`, strict).

    Raises:
        SystemExit: there is none (the run did not get as far as its first stage), or it is
            damaged or unreadable: the file, what is wrong and the fix, not a traceback."""
    from drac_ssl.config import ConfigError
    from drac_ssl.run_state import STAGES_RECORD, read_stages_record

    path = run_dir / STAGES_RECORD
    try:
        if not path.exists():  # a folder of that name: read_stages_record's OSError, said below
            raise SystemExit(f"[bench] {path}: no such file: {run_dir} is not a run folder of python -m "
                             "drac_ssl.train, or its training ended before its first stage")
        return read_stages_record(run_dir, strict=True)
    except ConfigError as exc:
        raise SystemExit(f"[bench] {exc}") from None
    except OSError as exc:
        raise SystemExit(f"[bench] {path}: cannot be read ({exc.strerror or exc})") from None


def oof_units(run_dir: Path) -> dict[str, str] | None:
    """Training image id -> the unit the fine-tuning of ``run_dir`` resampled for its bootstrap
    CIs (:func:`drac_ssl.oof.patient_groups` of the labelled rows of ``<run_dir>/data/
    manifest.csv``, as :mod:`drac_ssl.finetune` and :mod:`drac_ssl.compare` take them); None
    when every image is its own unit (no patient named, no near twins joined: RetinaMNIST's
    recipe) or the run has no manifest."""
    from drac_ssl.manifest import labelled_rows, read_manifest
    from drac_ssl.oof import patient_groups

    try:
        rows = labelled_rows(read_manifest(run_dir / "data" / "manifest.csv", ("id", "grade", "split", "fold")))
    except FileNotFoundError:
        return None
    groups = patient_groups(rows)
    return None if groups is None else {str(r["id"]): g for r, g in zip(rows, groups, strict=True)}


def oof_copy_path(out_dir: Path, name: str, label: str) -> Path:
    """Where a result ``name`` keeps the out-of-fold predictions of ``label`` (a variant,
    ``pixel_floor``, or ``<rule>_<variant>``): ``<out_dir>/<name>_oof_<label>.csv``."""
    return out_dir / f"{name}_oof_{label}.csv"


def keep_oof_copies(sources: Mapping[str, Path], out_dir: Path, name: str,
                    units: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Copy each out-of-fold CSV of ``sources`` (label -> a variant's ``finetune/<v>/oof.csv``
    or the pixel floor's ``pixel_floor_oof.csv``) beside the result file ``name``
    (:func:`oof_copy_path`), keeping the columns ``id``, ``grade``, ``fold``, ``P0..P{K-1}``
    and ``pred`` in the source's order and its rows as written, so that the result's figures and
    bootstrap intervals can be recomputed without a rerun (referee F1: no RetinaMNIST result had
    kept them). The copy is readable by :func:`drac_ssl.oof.read_oof`: its ids are the names
    themselves (a source's guard against spreadsheet formulas, ``'=a.png``, taken off as its
    record says: the copy has no record, so it is read as written; a copy with an id starting
    with ``'``, which no RetinaMNIST id does, is refused by ``read_oof`` rather than misread).

    ``units`` (:func:`oof_units`: image id -> its resampling unit), given when the run's
    bootstrap resampled patients or twin groups rather than images: the copy then has a
    :data:`OOF_UNIT_COLUMN` column after ``fold`` (after ``grade`` without one), so that such a
    cluster bootstrap can be recomputed from the copy too; without it the copies hold no unit
    and only an image bootstrap can be recomputed from them.

    Returns:
        label -> ``{"file": path (from the repository root when inside it), "rows": images,
        "columns": [...], "sha256": of the copy}``, for the result's ``oof_files``.

    Raises:
        ValueError: a source without ``id``, ``grade``, ``pred`` or ``P0`` / ``P1``, or with an
            id that ``units`` lacks, naming it.
        OSError: a source that cannot be read.
    """
    import csv
    import hashlib
    import io
    import re

    from drac_ssl.io import unguarded_cell
    from drac_ssl.oof import oof_cells_guarded

    kept: dict[str, dict[str, Any]] = {}
    for label, source in sources.items():
        with open(source, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        header = rows[0] if rows else []
        columns = [c for c in header if c in OOF_KEPT_COLUMNS or re.fullmatch(r"P\d+", c)]
        missing = [c for c in ("id", "grade", "pred", "P0", "P1") if c not in columns]
        if missing:
            raise ValueError(f"{source}: no {', '.join(missing)} column (header: {','.join(header)}); "
                             f"not an out-of-fold file of drac_ssl.finetune or bench.retinamnist")
        where = [header.index(c) for c in columns]
        body = [[row[i] for i in where] for row in rows[1:] if row]
        # the ids as the names themselves (a source guarded against spreadsheet formulas, '=a.png,
        # has a record saying so; the copy has none, so read_oof reads it as written: =a.png)
        key = columns.index("id")
        guarded = oof_cells_guarded(source)
        body = [[unguarded_cell(c, guarded=guarded) if i == key else c for i, c in enumerate(row)]
                for row in body]
        if units is not None:  # keyed by the manifest's ids
            images = [row[key] for row in body]
            lacking = [n for n in images if n not in units]
            if lacking:
                raise ValueError(f"{source}: image {lacking[0]!r} has no resampling unit in the run's "
                                 f"manifest ({len(lacking)} such); is it the run's out-of-fold file?")
            at = columns.index("fold") + 1 if "fold" in columns else columns.index("grade") + 1
            columns = [*columns[:at], OOF_UNIT_COLUMN, *columns[at:]]
            body = [[*row[:at], units[n], *row[at:]] for n, row in zip(images, body, strict=True)]
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(body)
        path = oof_copy_path(out_dir, name, label)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.getvalue(), encoding="utf-8")
        full = path.resolve()
        kept[label] = {"file": str(full.relative_to(REPO) if full.is_relative_to(REPO) else full),
                       "rows": len(body), "columns": columns,
                       "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return kept


NEIGHBOUR = """
import torch
torch.set_num_threads(1)
conv = torch.nn.Conv2d(64, 64, 3, padding=1)
x = torch.randn(8, 64, 56, 56)
with torch.inference_mode():
    while True:
        conv(x)
"""
NEIGHBOUR_NOTE = ("one other process keeping one core busy with single-threaded convolutions "
                  "(torch Conv2d 64->64, 8 x 64 x 56 x 56, in a loop), as another worker's job does")


def start_neighbour() -> subprocess.Popen[bytes]:
    """One process that keeps one core busy (single-threaded convolutions) until stopped."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", NEIGHBOUR], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.0)  # import torch and reach the loop
    if proc.poll() is not None:
        raise RuntimeError("the busy-neighbour process exited at once")
    return proc


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Terminate ``proc``; kill it if it has not exited after ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def busy_neighbour(on: bool = True) -> Iterator[subprocess.Popen[bytes] | None]:
    """:func:`start_neighbour` for the duration of the ``with`` block (nothing when not ``on``)."""
    proc = start_neighbour() if on else None
    try:
        yield proc
    finally:
        if proc is not None:
            stop_process(proc)


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


# --------------------------------------------------------------------------------------
# Smoke runs: any departure from a bench's full protocol


SMOKE_SUFFIX = "_smoke"


def smoke_result_name(default: str, reasons: Sequence[str], name: str | None = None, *,
                      out_dir: Path | None = None, file_prefix: str = "") -> str:
    """The result file's name: ``name`` when given (the caller chose it; a smoke run still
    records ``"smoke": true``), else ``default`` for the full protocol and ``default_smoke``
    when any of ``reasons`` departs from it, so a trial never replaces committed figures.

    With ``out_dir`` (where the result goes; the file is ``<file_prefix><name>.json``), a
    chosen ``name`` that would put a smoke run over a full protocol's figures (a file there
    without ``"smoke": true``) is refused before the run: SystemExit naming the file, the
    departures and the two ways out."""
    if name:
        target = out_dir / f"{file_prefix}{name}.json" if out_dir is not None else None
        if reasons and target is not None and target.is_file():
            try:
                held = json.loads(target.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                held = None
            if isinstance(held, dict) and held.get("smoke") is not True:
                raise SystemExit(
                    f"{target}: holds the full protocol's figures, and this run departs from it "
                    f"({'; '.join(reasons)}), so --name {name} would replace them with a smoke run's; "
                    f"fix: give another --name, or leave --name out to write "
                    f"{file_prefix}{default}{SMOKE_SUFFIX}.json")
        return name
    return default + SMOKE_SUFFIX if reasons and not default.endswith(SMOKE_SUFFIX) else default


def smoke_fields(reasons: Sequence[str]) -> dict[str, Any]:
    """``{"smoke": bool, "smoke_reasons": [...]}`` for a result file (``bench/summarize.py``
    leaves ``"smoke": true`` out of the README)."""
    return {"smoke": bool(reasons), "smoke_reasons": list(reasons)}


def shortened_settings(protocol: dict[str, Any], used: dict[str, Any]) -> list[str]:
    """The settings of ``used`` (a config as :func:`drac_ssl.config.to_dict` writes it) that
    do less than the ``protocol`` config does, each as ``"key=value (the protocol's: v)"``:
    fewer ``*.epochs``, a ``*.max_steps_per_epoch`` cap the protocol has not (or a lower
    one), fewer ``*.n_boot`` bootstrap draws, another ``data.dataset``. Empty: none."""
    old, new = dotted_settings(protocol), dotted_settings(used)
    out = []
    for key, value in new.items():
        was, leaf = old.get(key), key.rsplit(".", 1)[-1]
        if was == value or not isinstance(value, (int, float, str)) or isinstance(value, bool):
            continue
        if key == "data.dataset" or (
                leaf in ("epochs", "n_boot") and isinstance(was, (int, float)) and value < was) or (
                leaf == "max_steps_per_epoch" and value and (not was or value < was)):
            out.append(f"{key}={value} (the protocol's: {was})")
    return out


def weights_metadata(path: str | Path) -> dict[str, Any] | None:
    """The ``metadata.json`` pretraining writes beside a weights file (``path`` is the weights
    file, e.g. ``backbone.safetensors``), or None when it is absent, unreadable or not a JSON
    object. The one reader of that file in the bench scripts."""
    try:
        meta = json.loads(Path(path).with_name("metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def given_backbone_epochs(meta: dict[str, Any] | None) -> dict[str, Any]:
    """``{"evaluated_epoch", "evaluated_checkpoint", "epochs_run"}`` of a given backbone, from
    its :func:`weights_metadata`: the epoch (counted from 1) its ``best_epoch`` names, or None
    and "unknown" without readable metadata."""
    best = (meta or {}).get("best_epoch")
    return {"evaluated_epoch": None if best is None else int(best) + 1,
            "evaluated_checkpoint": "the epoch metadata.json beside the weights names (best_epoch)"
                                    if best is not None else "unknown (no readable metadata.json beside the weights)",
            "epochs_run": (meta or {}).get("epochs_run")}


def backbone_departures(path: str | Path, dataset: str, epochs: int) -> list[str]:
    """Why the backbone weights at ``path`` were not made by a bench's full pretraining on
    ``dataset`` for ``epochs`` epochs (empty: they were), read from the ``metadata.json``
    pretraining writes beside them: none there, another data set, a
    ``pretrain.max_steps_per_epoch`` cap, fewer epochs without an early stop, or views
    normalised with other statistics than ``dataset``'s own (:func:`other_statistics`)."""
    meta = weights_metadata(path)
    if meta is None:
        return [f"--backbone {path}: no readable metadata.json beside it (what made it is unknown)"]
    pre = (meta.get("config") or {}).get("pretrain") or {}
    made_on = ((meta.get("config") or {}).get("data") or {}).get("dataset")
    out = []
    if made_on != dataset:
        out.append(f"--backbone {path}: pretrained on {made_on}, not {dataset}")
    if pre.get("max_steps_per_epoch"):
        out.append(f"--backbone {path}: pretrain.max_steps_per_epoch={pre['max_steps_per_epoch']}")
    run = int(meta.get("epochs_run") or 0)
    if run < epochs and "early stopping" not in str(meta.get("stopped") or ""):
        out.append(f"--backbone {path}: {run} pretraining epoch(s), not {epochs}")
    if other := other_statistics(meta, dataset):
        out.append(f"--backbone {path}: {other}")
    return out


def other_statistics(meta: dict[str, Any], dataset: str) -> str:
    """"" when the ``input.normalization`` a backbone's ``metadata.json`` (``meta``) records is
    ``dataset``'s own (:func:`drac_ssl.datasets.normalization_for`, what the benches embed
    with) or is not recorded; else what differs, in words (a Fashion-MNIST backbone made before
    it had its own statistics recorded MNIST's)."""
    from drac_ssl.datasets import normalization_for

    then = (meta.get("input") or {}).get("normalization") if isinstance(meta.get("input"), dict) else None
    if not isinstance(then, dict):
        return ""
    try:
        mean, std = normalization_for(dataset)
        same = [float(v) for v in then.get("mean", [])] == list(mean) and \
            [float(v) for v in then.get("std", [])] == list(std)
    except (TypeError, ValueError):
        return ""
    if same:
        return ""
    return (f"pretrained on views normalised with mean {then.get('mean')} std {then.get('std')}, not "
            f"{dataset}'s mean {list(mean)} std {list(std)} that the bench embeds with")


def monitor_limit_overrides(eval_limit: int, overrides: Sequence[str]) -> list[str]:
    """``["pretrain.knn_limit=<eval_limit>"]`` when ``--eval-limit`` thins the evaluation and
    the command line does not set ``pretrain.knn_limit`` itself, else ``[]``: the k-NN monitor
    during pretraining then scores as few images as the evaluation (with ``knn_limit`` 0 it
    scored all 60k CIFAR-10 images before the first step, minutes of silence on a CPU)."""
    if not eval_limit or any(o.split("=", 1)[0].strip() == "pretrain.knn_limit" for o in overrides):
        return []
    return [f"pretrain.knn_limit={eval_limit}"]


def data_root(config: str | Path, data: str | None, overrides: Sequence[str]) -> str:
    """The one data path a bench pretrains and evaluates on: ``--data`` (``data``), else the
    command's ``data.root=`` override, else the config file's ``data.root`` (a relative one
    that does not exist from the current folder is read from the repository root, where the
    configs' ``../shared/...`` paths point). A config's ``../shared/data/...`` is read under
    :func:`shared_data_folder`, so ``DRAC_SSL_SHARED_DATA`` moves it as it moves every bench's
    data (it was ignored, the benches reading ``../shared/data`` whatever it said). Raises
    ValueError when ``--data`` and a ``data.root=`` override name different paths (which one
    was meant is unknown)."""
    given = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].strip() == "data.root"]
    if data and given and os.path.normpath(given[-1]) != os.path.normpath(data):
        raise ValueError(f"--data {data} and data.root={given[-1]} name different data; "
                         f"fix: give one of them (--data is the same as data.root=)")
    if data:
        return data
    if given:
        return given[-1]
    from drac_ssl.config import load_config

    root = str(load_config(config).data.root)
    shared = Path("..", "shared", "data")
    if root and Path(os.path.normpath(root)).parts[:3] == shared.parts:
        return str(shared_data_folder().joinpath(*Path(os.path.normpath(root)).parts[3:]))
    if root and not os.path.isabs(root) and not os.path.exists(root) and (REPO / root).exists():
        return os.path.normpath(REPO / root)
    return root
