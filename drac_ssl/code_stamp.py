"""The code stamp: which code a run on a lent GPU machine ran, when the device copy's ``.git``
may name an older commit than the code carried there.

The GPU scripts' ``prepare`` step (``bench/gpu_lib.sh`` ``write_code_stamp``) writes, here, a
stamp (``.device_data/code_version.txt``: the commit, the time, the tracked files that differ
from the commit) and the sha256 of every tracked code file as it is now (``code_files.sha256``
beside it, ``sha256sum`` lines, paths relative to the repository root); both are carried to
the device with the data. There ``use_code_stamp`` checks the tree against the sums and
exports ``DRAC_SSL_CODE_STAMP`` (:data:`CODE_STAMP_ENV`) only when they match; a stamp that
does not match (written for other code) is named by :data:`CODE_STAMP_UNMATCHED_ENV` instead,
and the commit comes from git, as without a stamp.

Which files a stamp vouches for, one rule for both checks: the files listed in its
``code_files.sha256``, no more, no fewer. ``write_code_stamp`` lists the tracked files that
exist and are code (:func:`is_code`, applied by :func:`write_code_paths`: everything tracked
but result files, documents and the other :data:`NOT_CODE` paths, so ``drac_ssl/``,
``data_prep/``, ``configs/``, ``bench/*.py``, ``scripts/``, ``app/``, ``pyproject.toml``: all
a result's figures can depend on); the device's ``sha256sum -c`` (``use_code_stamp``, at the
run's start) and :func:`differing_files` (each bench and run folder, later in the run) check
exactly those lines. A result file, README or document edited after ``prepare`` (or written
by the run) leaves the stamp matching on both sides; any listed code file that differs or is
missing makes it unmatched on both. The stamp claims "this tree is ``commit`` plus the
``changed`` code files", and ``git_dirty`` of the records says whether code differed, so
code is what it checks.

Read by ``bench/common.py`` (the bench result files) and :func:`drac_ssl.runtime.environment_info`
(each run folder's environment) through :func:`stamps_from_env` and :func:`stamp_record`, so
both name the same code. This module imports nothing of the package (``bench`` imports it,
never the other way round).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

CODE_STAMP_ENV = "DRAC_SSL_CODE_STAMP"
"""Names a code stamp (:func:`read_code_stamp`) whose commit the result files and run folders
record instead of git's; set by the GPU scripts' ``run`` mode on the device only, when the
stamp's sums match the tree (unset or empty: git)."""

CODE_STAMP_UNMATCHED_ENV = "DRAC_SSL_CODE_STAMP_UNMATCHED"
"""Names a code stamp the GPU scripts found not to match the tree (some file's sha256 differs
from ``code_files.sha256``): not used for the commit, only recorded as not matching."""

SUMS_NAME = "code_files.sha256"
"""The sha256 lines of the tracked files, beside the stamp (``sha256sum`` format)."""

REPO = Path(__file__).resolve().parents[1]
"""The repository root this package runs from: the tree a stamp's sums are checked against."""

NOT_CODE = ("bench/results/*", "docs/*", "*.md", ".ci/*", ".gitignore")
"""Tracked paths whose changes leave a bench run's code committed (:func:`fnmatch.fnmatchcase`
patterns on repository-relative paths; ``*`` crosses folders): result files, figures and
submissions the benches write (a bench writing several result files saw its first as an
uncommitted change when writing the next), documentation, the CI entry point and
``.gitignore``, none of which a bench imports or reads. Everything else tracked (the
packages, ``bench/*.py``, ``configs/``, ``scripts/``, ``tests/``, ``pyproject.toml``) counts
as code: a checkout's dirty code files, a stamp's ``changed_code`` and the files a stamp's
sums list (:func:`write_code_paths`)."""

DIFFERING_SHOWN = 20
"""The most differing files a record names (``files_differing_count`` says how many)."""


def is_code(path: str) -> bool:
    """Whether a change to the repository-relative ``path`` changes the code a bench measures
    (not one of :data:`NOT_CODE`)."""
    return not any(fnmatch.fnmatchcase(path, pattern) for pattern in NOT_CODE)


def write_code_paths(source: BinaryIO, sink: BinaryIO) -> int:
    """Copy the NUL-terminated repository-relative paths of ``source`` (``git ls-files -z``)
    that are code (:func:`is_code`) to ``sink``, NUL-terminated, in order; returns how many.
    Paths are bytes as git gives them (decoded with :func:`os.fsdecode` only to match the
    patterns). ``bench/gpu_lib.sh`` ``write_code_stamp`` pipes the tracked files through this
    (``python -c``, stdlib only) to choose the files of ``code_files.sha256``, so that the
    file set has one definition, :data:`NOT_CODE`."""
    kept = [name for name in source.read().split(b"\0") if name and is_code(os.fsdecode(name))]
    sink.write(b"".join(name + b"\0" for name in kept))
    return len(kept)


@dataclass(frozen=True)
class CodeStamp:
    """The code a checkout held when ``bash bench/gpu_check.sh prepare`` (or
    ``gpu_retinamnist.sh prepare``) ran, written by ``write_code_stamp`` of bench/gpu_lib.sh."""

    path: Path
    commit: str
    """Full commit hash (``git rev-parse HEAD``)."""
    written_utc: str
    """When the stamp was written (ISO 8601, UTC)."""
    changed_code: tuple[str, ...]
    """Tracked code files (:func:`is_code`) that differed from the commit, sorted."""
    matches_tree: bool | None = None
    """Whether every file listed in :data:`SUMS_NAME` beside the stamp (the tracked code files
    at ``prepare``) has its sha256 in the tree the package runs from (:data:`REPO`); None when
    there is no sums file (a stamp written before them: unchecked)."""
    differing: tuple[str, ...] = ()
    """The files of the sums whose sha256 differs or which are missing, sorted."""


def _sums_lines(text: str) -> list[tuple[str, str]]:
    """(sha256 hex, path) of ``sha256sum`` output lines: ``HASH  PATH`` or ``HASH *PATH``, a
    line starting with a backslash has ``\\\\`` and ``\\n`` escaped in its path."""
    out = []
    for line in text.splitlines():
        escaped = line.startswith("\\")
        line = line[1:] if escaped else line
        digest, path = line[:64], line[66:]
        if len(digest) != 64 or not path:
            continue
        if escaped:
            path = path.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
        out.append((digest.lower(), path))
    return out


def differing_files(sums: Path, tree: Path = REPO) -> list[str]:
    """The paths listed in the ``sha256sum`` file ``sums`` (relative to ``tree``) whose file in
    ``tree`` is missing or has another sha256, sorted; [] when all match. Exactly the files
    listed, as the device's ``sha256sum -c`` checks (the module's rule): ``write_code_stamp``
    lists code files only, so result files a run writes (``bench/results/``) and documents
    are not checked, here or there. (The sums of a ``prepare`` older than that rule list
    every tracked file, and are checked whole on both sides too.)

    Raises OSError when ``sums`` cannot be read."""
    differ = []
    for digest, path in _sums_lines(sums.read_text(encoding="utf-8", errors="surrogateescape")):
        try:
            got = hashlib.sha256((tree / path).read_bytes()).hexdigest()
        except OSError:
            got = ""
        if got != digest:
            differ.append(path)
    return sorted(differ)


def read_code_stamp(path: str | os.PathLike[str], tree: Path = REPO) -> CodeStamp:
    """Read a code stamp: text lines ``commit <full hash>``, ``written_utc <ISO 8601>`` and one
    ``changed XY PATH`` per tracked file that differed from the commit (``git status
    --porcelain -z`` v1 entries, one a line, paths unquoted; a quoted path of an older stamp
    is unquoted; ``#`` lines are comments). Result files, documents and other
    :data:`NOT_CODE` paths are left out of ``changed_code``. With :data:`SUMS_NAME` beside it,
    its files are checked against ``tree`` (``matches_tree``, ``differing``).

    Raises ValueError naming the file when it (or its sums) is unreadable or it has no
    ``commit`` line."""
    path = Path(path)
    fix = "fix: run 'bash bench/gpu_check.sh prepare' (or gpu_retinamnist.sh prepare) again, or unset " + CODE_STAMP_ENV
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"{path}: the code stamp {CODE_STAMP_ENV} names cannot be read ({exc}); {fix}") from None
    fields: dict[str, str] = {}
    changed = set()
    for line in lines:
        key, _, value = line.partition(" ")
        if key == "changed":
            name = value[3:]
            changed.add(name[1:-1] if len(name) > 1 and name[0] == name[-1] == '"' else name)
        elif key in ("commit", "written_utc"):
            fields[key] = value.strip()
    if not fields.get("commit"):
        raise ValueError(f"{path}: not a code stamp (no 'commit <hash>' line); {fix}")
    sums = path.with_name(SUMS_NAME)
    matches: bool | None = None
    differ: list[str] = []
    if sums.is_file():
        try:
            differ = differing_files(sums, tree)
        except OSError as exc:
            raise ValueError(f"{sums}: the code stamp's file sums cannot be read ({exc}); {fix}") from None
        matches = not differ
    return CodeStamp(path, fields["commit"], fields.get("written_utc", "unknown"),
                     tuple(sorted(p for p in changed if is_code(p))), matches, tuple(differ))


def stamp_identity(path: str | os.PathLike[str], tree: Path = REPO) -> tuple[str, str, str]:
    """What a check of the stamp ``path`` against ``tree`` depends on, besides the tree's
    files: ``(absolute stamp path, tree, sha256 hex of the stamp's bytes and of its``
    :data:`SUMS_NAME` ``beside it)``, the sums read as empty when absent. Reads the two small
    files (the sums: ~100 bytes a file) and hashes no file of the tree. The content, not the
    modification time: a stamp rewritten within the file system's time granularity (a few
    ms) with the same size would otherwise keep its key.

    Raises OSError when the stamp cannot be read."""
    path = Path(path).absolute()
    digest = hashlib.sha256(path.read_bytes())
    digest.update(b"\0")
    try:
        digest.update(path.with_name(SUMS_NAME).read_bytes())
    except FileNotFoundError:
        digest.update(b"\0absent")
    except OSError:
        digest.update(b"\0unreadable")  # read_code_stamp raises its ValueError each time
    return str(path), str(tree), digest.hexdigest()


_VERIFIED: dict[tuple[str, str, str], CodeStamp] = {}
"""The stamps :func:`read_code_stamp_once` has read, by :func:`stamp_identity`."""


def read_code_stamp_once(path: str | os.PathLike[str], tree: Path = REPO) -> CodeStamp:
    """:func:`read_code_stamp`, checked against ``tree`` once per process for one content of
    the stamp and its sums (:func:`stamp_identity`): asked again while neither file changed, it
    returns the first answer without hashing the tree's ~450 files again; a stamp or sums file
    rewritten (another ``prepare``) is read and checked afresh. For questions asked often
    (:func:`drac_ssl.runtime.code_version`, before every pipeline stage): a stamp is used on a
    device copy, whose files do not change during the run, so a tree edited after the first
    check is not seen here (:func:`read_code_stamp` sees it). A stamp that cannot be read is
    not kept: each call raises.

    Raises ValueError as :func:`read_code_stamp` does."""
    try:
        key = stamp_identity(path, tree)
    except OSError:
        return read_code_stamp(path, tree)  # raises its ValueError naming the file
    stamp = _VERIFIED.get(key)
    if stamp is None:
        stamp = _VERIFIED[key] = read_code_stamp(path, tree)
    return stamp


def stamps_from_env(environ: Mapping[str, str] = os.environ, tree: Path = REPO,
                    read: Callable[[str, Path], CodeStamp] = read_code_stamp
                    ) -> tuple[CodeStamp | None, CodeStamp | None]:
    """``(used, unmatched)``: the stamp :data:`CODE_STAMP_ENV` names when its files match
    ``tree`` (or it has no sums: unchecked), whose commit then names the code; and a stamp
    found not to match (named by :data:`CODE_STAMP_UNMATCHED_ENV`, or by
    :data:`CODE_STAMP_ENV` when its sums differ), recorded only: the commit then comes from
    git. Either is None when not named (unset or blank). ``read`` reads a stamp:
    :func:`read_code_stamp` (checked each time) or :func:`read_code_stamp_once`.

    Raises ValueError (:func:`read_code_stamp`) for a stamp that cannot be read."""
    used = unmatched = None
    value = environ.get(CODE_STAMP_ENV, "").strip()
    if value:
        stamp = read(value, tree)
        if stamp.matches_tree is False:
            unmatched = stamp
        else:
            used = stamp
    other = environ.get(CODE_STAMP_UNMATCHED_ENV, "").strip()
    if other and unmatched is None:
        unmatched = read(other, tree)
    return used, unmatched


def stamp_record(stamp: CodeStamp) -> dict[str, Any]:
    """A result file's or run folder's ``code_stamp``: ``file``, ``commit`` (full),
    ``written_utc``, ``matches_tree`` (true, false, or null: no sums) and, when some file
    differs, ``files_differing`` (at most :data:`DIFFERING_SHOWN`) and
    ``files_differing_count``."""
    record: dict[str, Any] = {"file": str(stamp.path), "commit": stamp.commit, "written_utc": stamp.written_utc,
                              "matches_tree": stamp.matches_tree}
    if stamp.differing:
        record["files_differing"] = list(stamp.differing[:DIFFERING_SHOWN])
        record["files_differing_count"] = len(stamp.differing)
    return record
