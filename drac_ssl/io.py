"""Atomic file writes shared by every stage.

A write goes to a temporary file in the same folder, is flushed and fsynced, then moved into
place with ``os.replace`` (atomic on POSIX). A run killed mid-write leaves at most a
``.tmp-*`` file behind, never a half-written file under the real name that a later run
would trust.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# a value read from a JSON record (a monitor, a metric) as a finite float, or None: one rule
# with the figures report.md and compare write (drac_ssl.figures), re-exported for its readers
from drac_ssl.figures import finite_number as finite_number


def output_file_problem(path: str | os.PathLike[str], flag: str, example: str = "out.csv") -> str | None:
    """Why the command-line output file ``path`` (given with ``flag``, e.g. ``--out``) cannot
    be written, with the fix; None when it can be tried. Checked before the work that fills
    it, so a folder (or a path under a file) is refused up front, not at the final rename."""
    p = Path(path)
    if p.is_dir():
        return (f"{p}: {flag} is a folder; give a {Path(example).suffix} file path.\n  fix: "
                f"{flag} {p / example}")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                return (f"{p}: {flag} lies under {parent}, which is a file, not a folder.\n  "
                        f"fix: give a path in a folder, e.g. {flag} {parent.parent / example}")
            break
    return None


NO_SPACE_ERRNOS = frozenset(code for code in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", None))
                            if code is not None)
"""The ``errno`` values of a write cut short by the room for it: a full disk (``ENOSPC``), a
file-size limit (``EFBIG``: ``ulimit -f``, a file system's largest file) and a disk quota
(``EDQUOT``, where the platform has it)."""

NO_SPACE_WORDS = "the disk is full or a file-size limit (ulimit -f, a quota) was reached"
"""What :data:`NO_SPACE_ERRNOS` mean, in the words every stage's message uses."""


def bytes_words(n: int) -> str:
    """``n`` bytes as people read them, and exactly: ``2.9 GB (2,949,120,000 bytes)`` (powers
    of 1000): the ingest's disk estimate and the checkpoints' (:mod:`drac_ssl.checkpoint`)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n:,} bytes)"
    return f"{n} bytes"


def no_space(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` of :data:`NO_SPACE_ERRNOS` (a full disk, a file-size
    limit, a quota), or a ``RuntimeError`` of torch's zip writer that hides one
    (``[enforce fail at inline_container.cc...] unexpected pos``, ``file write failed``)."""
    if isinstance(exc, OSError):
        return exc.errno in NO_SPACE_ERRNOS
    text = str(exc)
    return isinstance(exc, RuntimeError) and "inline_container" in text and (
        "unexpected pos" in text or "write failed" in text)


NO_TEMP_FOLDER = "No usable temporary directory found"
"""The opening of :func:`tempfile.gettempdir`'s ``FileNotFoundError`` when no folder it tries
can take a file (torch asks for one at import): :func:`no_temp_folder_fix` answers it."""


def no_temp_folder_fix(exc: BaseException) -> str:
    """The fix for :data:`NO_TEMP_FOLDER` (``exc``: the error), "" for any other error. Python
    tries ``$TMPDIR``, ``/tmp``, ``/var/tmp``, ``/usr/tmp`` and the current folder by writing a
    small file in each: all failing means no file can be written at all (a file-size limit
    of 0, ``ulimit -f 0``; every one of those disks full or read-only)."""
    if not isinstance(exc, FileNotFoundError) or NO_TEMP_FOLDER not in str(exc):
        return ""
    return ("no file could be written in any temporary folder Python tried (listed above): the "
            "file-size limit is 0 (ulimit -f; raise it, e.g. ulimit -f unlimited), or those disks "
            "are full or read-only (free space, or set TMPDIR to a writable folder: TMPDIR=DIR "
            "COMMAND); then rerun the same command")


def fsync_folder(path: str | os.PathLike[str]) -> None:
    """Flush the folder ``path``'s entries to disk (``fsync`` of the folder itself), so that a
    rename into it (``os.replace``) survives a power cut, not only the renamed file's bytes
    (POSIX). Skipped where a folder cannot be opened or synced (Windows, some network and
    FUSE file systems answer ``EINVAL``/``EBADF``/``EACCES``): the rename stands, its
    durability is then the file system's."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(os.fspath(path), flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


WRITING = "drac_ssl_writing"
"""The attribute :func:`writing` sets on an ``OSError`` raised while a file was written: the
path of that file (:func:`written_file` reads it)."""


@contextlib.contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Within the block, an ``OSError`` is marked as raised while ``path`` was written
    (:func:`written_file`; the innermost mark is kept) and, when it names no file (a write cut
    short: ``ENOSPC``, ``EFBIG`` of ``ulimit -f``), given ``path`` as its ``filename``, so that
    its message names the file. A command tells by the mark a file it could not write from one
    it could not read, whose error it passes on as it is
    (:class:`drac_ssl.train.RunFolderWriteError`); wrap only what writes ``path``."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = os.fspath(path)
        if written_file(exc) is None:
            setattr(exc, WRITING, os.fspath(path))
        raise


def written_file(exc: BaseException) -> str | None:
    """The file (or folder) whose writing raised ``exc`` (:func:`writing`), or None when no
    writer marked it (a read, or a write outside every :func:`writing` block)."""
    path = getattr(exc, WRITING, None)
    return path if isinstance(path, str) else None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it, move it onto ``path``
    (``os.replace``) and fsync the folder (:func:`fsync_folder`: the rename survives a power cut).

    On an exception the temporary file is removed and ``path`` is left untouched; an
    ``OSError`` is marked as raised while writing ``path`` (:func:`writing`: given ``path`` as
    its ``filename`` when it names none, a write cut short by ``ENOSPC`` or ``EFBIG``), so that
    its message names the file it was writing. The block is the writing: read nothing in it.
    """
    final = Path(path)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    with writing(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
    fsync_folder(final.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


PEOPLE_CSV_ENCODING = "utf-8-sig"
"""The encoding of the CSVs written for people to open in a spreadsheet (the export's
``<stem>_notes.csv``, the app's ``grades_with_notes.csv``): UTF-8 with a byte-order mark, which
Excel needs to read UTF-8 on a Windows whose code page is not (German, French, Chinese). Every
file a program reads (submissions, the challenge's format) stays UTF-8 without it."""


FORMULA_CELL_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""The first characters that make a spreadsheet read a CSV cell as a formula, OWASP's list
(CSV injection): ``=``, ``+``, ``-``, ``@``, a tab and a carriage return."""


def guarded_cell(text: str) -> str:
    """``text`` as a cell of a CSV the package writes AND reads back (``data/manifest.csv``,
    ``finetune/<variant>/oof.csv``) that a spreadsheet shows as text: a ``'`` before a first
    character of :data:`FORMULA_CELL_STARTS` (``=HYPERLINK(1).png`` -> ``'=HYPERLINK(1).png``,
    OWASP's advice against CSV injection) and before a first ``'`` (``'a.png`` -> ``''a.png``),
    else ``text`` unchanged; so that :func:`unguarded_cell` gives every name back exactly."""
    return f"'{text}" if text[:1] in FORMULA_CELL_STARTS or text[:1] == "'" else text


def unguarded_cell(cell: str, *, guarded: bool) -> str:
    """The text :func:`guarded_cell` wrote as ``cell``: without its first ``'``, if any
    (``'=HYPERLINK(1).png`` -> ``=HYPERLINK(1).png``, ``''a.png`` -> ``'a.png``). ``guarded``
    False (a file written before the guard, whose record lacks :data:`GUARDED_CELLS_FIELD`:
    :func:`declares_guarded_cells`): ``cell`` itself, a first ``'`` included (``'c.png``).
    ``guarded`` has no default: each caller says what the CSV's record declares."""
    return cell[1:] if guarded and cell[:1] == "'" else cell


GUARDED_CELLS_FIELD = "formula_cells_guarded"
"""The field (``true``) of the JSON record beside a CSV the package writes and reads back that
says its text cells are :func:`guarded_cell`'s: ``ingest_summary.json`` for ``manifest.csv``,
``metrics.json`` for ``finetune/<variant>/oof.csv``. A file whose record lacks it was written
before the guard and is read exactly as written (``=a.png`` and ``'c.png`` are those names)."""


class CsvRecordMismatch(ValueError):
    """A CSV the package writes and reads back is not the file its JSON record describes (the
    record's SHA-256 of it differs): a run or ingest was interrupted between writing the two, or
    the CSV was edited since. The message names both files, what is wrong and the fix."""


def _has_quoted_cell(csv_path: str | os.PathLike[str]) -> bool:
    """Whether a cell of the CSV ``csv_path`` starts with ``'`` (quoted by the CSV writer or
    not); False for a file that cannot be read (its reader says why)."""
    try:
        text = Path(csv_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    try:  # the cells as the CSV reader splits them: a ,' inside a quoted cell starts no cell
        return any(cell.startswith("'") for row in csv.reader(io.StringIO(text)) for cell in row)
    except csv.Error:  # a damaged file: its reader says why
        return False


def declares_guarded_cells(record: str | os.PathLike[str], csv_path: str | os.PathLike[str],
                           digest_field: str, fix: str) -> bool:
    """Whether the JSON record ``record`` (``ingest_summary.json``, ``metrics.json``) says the
    CSV ``csv_path`` beside it holds :func:`guarded_cell`'s cells: :data:`GUARDED_CELLS_FIELD`
    true AND its ``digest_field`` (``manifest_sha256``, ``oof_sha256``) the SHA-256 of that very
    file. False for a record without the field or the digest (written before the guard) or
    unreadable, for a missing record beside a CSV without a cell starting with ``'`` (read alike
    guarded or not), and for a CSV that cannot be read (its reader says why).

    A CSV without its record is always an interrupted state, never a file written before the
    guard: the package writes each record after its CSV (the bench's pixel-floor file, written for
    two days without one, holds RetinaMNIST ids, none of which starts with ``'``), and a writer
    now removes the old record before rewriting the CSV. So a missing record is refused (below) when the
    CSV holds a cell starting with ``'``, which a guard may have written.

    Raises:
        CsvRecordMismatch: a cell of the CSV starts with ``'`` (so guarded or not reads
            differently) and the record is missing, or holds a digest other than the CSV's: a
            run or ingest was interrupted between writing the CSV and its record (killed, disk
            full), or the CSV was edited since; a guarded CSV read without its record's word
            would keep its guard's ``'`` as part of the names. ``fix`` (the command that
            rewrites both) ends the message.
    """
    record = Path(record)
    if not record.exists():
        if _has_quoted_cell(csv_path):
            raise CsvRecordMismatch(
                f"{csv_path}: its record {record} is missing, and a cell of the CSV starts with "
                f"' (a guard against a spreadsheet formula, or part of a name): a run or ingest "
                f"was interrupted between writing the CSV and its record, so its names cannot be "
                f"read safely.\n  fix: {fix}")
        return False
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    digest = data.get(digest_field) if isinstance(data, dict) else None
    if not isinstance(digest, str):
        return False
    try:
        actual = sha256_file(csv_path)
    except OSError:
        return False
    if actual != digest:
        # only a cell starting with ' reads differently guarded or not: without one the file is
        # read alike either way, and its reader's own checks say what else is wrong with it
        if not _has_quoted_cell(csv_path):
            return False
        raise CsvRecordMismatch(
            f"{csv_path}: not the file its record {record} describes (its SHA-256 {actual[:12]}... "
            f"is not the recorded {digest_field} {digest[:12]}...): the CSV and its record "
            f"disagree, because a run or ingest was interrupted between writing them (or the CSV "
            f"was edited since), so its names cannot be read safely.\n  fix: {fix}")
    return data.get(GUARDED_CELLS_FIELD) is True


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_path`) in ``encoding``: UTF-8 (no
    byte-order mark) for every file a program reads; ``utf-8-sig`` for a CSV written for people
    (the export's ``<stem>_notes.csv``, the app's ``grades_with_notes.csv``), whose byte-order
    mark tells Excel the file is UTF-8 (without it Excel on a German, French or Chinese Windows
    reads it in the local code page: ``Ã¼`` for ``ü``). Returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


PRIVATE_FOLDER_MODE = 0o700
"""The mode of a run folder made with ``run.private`` (the default): its owner alone may list,
read or enter it, so no other local account reaches the files inside, whatever their own modes."""

RUN_RECORDS = ("config.yaml", "stages.json")
"""Files whose presence says a run folder holds a run (``python -m drac_ssl.train`` writes
both): :func:`make_run_folder` leaves the mode of such a folder as it is."""


def make_run_folder(path: str | os.PathLike[str], private: bool = True) -> bool:
    """Make the run folder ``path`` when it is not there, and say whether it was made now.

    ``private`` (``run.private``): the folder itself is made with mode 0700
    (:data:`PRIVATE_FOLDER_MODE`; a umask can only take bits away, and none of the owner's
    are ever meant to be), so other local accounts cannot list or read what the stages write
    into it (the manifest's file names and patient column, the cached pixels, the
    out-of-fold grades), whatever those files' own modes; else the system's default (mode
    0777 less the umask, often 0755). Folders above it that are missing are made with the
    default mode. A folder already there that holds no run yet (no ``config.yaml`` nor
    ``stages.json``: a run is being started in it, e.g. after ``python -m data_prep ingest
    --out runs/NAME/data``, or a folder made by hand) is set to 0700 too when ``private``
    (skipped silently when this account may not change its mode); one holding a run (a
    resume) keeps its mode (``chmod 700 DIR`` closes an older run's). On Windows the mode is
    not applied (folders inherit their parent's access rules).

    Raises:
        FileExistsError: ``path`` is a file.
        OSError: it cannot be made (permissions, a full disk), marked as a write
            (:func:`written_file`).
    """
    path = Path(path)
    if path.is_dir():
        if private and not any((path / name).exists() for name in RUN_RECORDS):
            with contextlib.suppress(OSError):  # not this account's folder: its owner's choice
                path.chmod(PRIVATE_FOLDER_MODE)
        return False
    with writing(path):  # a folder that cannot be made is a write that failed (writing)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=PRIVATE_FOLDER_MODE if private else 0o777)
        except FileExistsError:
            if not path.is_dir():
                raise
            return False  # made meanwhile by another process (torchrun's, a second command)
    return True


def absolute_from(path: str, cwd: str | None = None) -> str:
    """``path`` (``~`` expanded) absolute and normalised (``os.path.normpath``: ``.``, ``..``
    and a trailing slash taken out as written), a relative one read from ``cwd``, the folder
    it was typed in (a run's: :func:`drac_ssl.run_state.made_in`); from the current folder
    when ``cwd`` is None or "". The one way a recorded folder's relative path setting
    (``data.root: ../shared/data``) is made absolute: the resume's comparison of
    ``config.yaml`` (:func:`drac_ssl.stage_settings.comparable`), the ingest's record
    (:class:`~drac_ssl.stage_settings.IngestRecord`), the preflight's not-applied pins, the
    in-place resume command (:func:`drac_ssl.run_state.resume_in_place_command`) and
    report.md's commands."""
    path = os.path.expanduser(path)
    return os.path.normpath(os.path.join(cwd, path) if cwd else os.path.abspath(path))


def same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether the paths ``a`` and ``b`` name the same file or folder however they are spelled
    (a symbolic link, ``..``, a relative path): :func:`os.path.samefile` when both exist (the
    same inode: links, bind mounts, another case on a case-insensitive disk), else their
    normalised real paths (:func:`os.path.realpath`, :func:`os.path.normcase`) compared. Never
    raises: a path that cannot be examined is compared by its real path. The one rule of the
    ingest's ``--out`` check (:func:`data_prep.ingest.out_in_use`), the resume's comparison of
    path settings (:mod:`drac_ssl.stage_settings`) and the export's own files."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except (OSError, ValueError):
        pass
    try:
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))
    except (OSError, ValueError):  # a NUL in a name: compared as written
        return os.path.normpath(os.fspath(a)) == os.path.normpath(os.fspath(b))


def _owner(path: str | os.PathLike[str]) -> str:
    """The account name owning ``path`` (its uid where no name is known; "" where the platform
    has no owners, or ``path`` cannot be looked at)."""
    try:
        uid = os.stat(path).st_uid
    except OSError:
        return ""
    try:
        import pwd  # POSIX only
    except ImportError:
        return ""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def closed_folder(path: str | os.PathLike[str]) -> Path | None:
    """The outermost folder on the way to ``path`` (``path`` itself included when it is a
    folder) that this account may not enter or list (no ``x`` or no ``r`` permission for it,
    :func:`os.access`), None when every one is open to it: a run folder of another account
    made with ``run.private`` (mode 0700) is the usual one."""
    p = Path(os.path.abspath(Path(path).expanduser()))
    for folder in [*reversed(p.parents), p]:
        try:
            is_folder = folder.is_dir()
        except OSError:
            return folder.parent if folder.parent != folder else None
        if is_folder and not (os.access(folder, os.X_OK) and os.access(folder, os.R_OK)):
            return folder
    return None


def access_fix(folder: str | os.PathLike[str], bits: str = "rX", everyone: bool = False) -> str:
    """The one wording of the commands that give other accounts access to ``folder`` (``bits``:
    ``rX`` to read, ``rwX`` to write): ``chgrp -R GROUP F && chmod -R g+rX F``, a group's
    accounts, as far as a run folder (mode 0700, it holds patient data: :func:`unreadable_words`)
    is opened; with ``everyone`` (a bundle copy, which holds no image, file name or patient ID:
    docs/deploying.md, :func:`drac_ssl.grading.bundle.unreadable_bundle_file`) first ``chmod -R
    a+rX F (every local account), or``. ``F`` is quoted for a POSIX shell."""
    import shlex

    quoted = shlex.quote(os.fsdecode(folder))
    group = f"chgrp -R GROUP {quoted} && chmod -R g+{bits} {quoted}"
    return f"chmod -R a+{bits} {quoted} (every local account), or {group}" if everyone else group


def unreadable_words(exc: OSError, path: str | os.PathLike[str] | None = None, what: str = "",
                     fix_more: str = "") -> str:
    """The message for ``exc``, an ``OSError`` raised while a file or folder was read (``path``;
    default: the one ``exc`` names) or written (its writer marked it, :func:`written_file`), as
    every command says it (exit 2, no traceback): the path, ``what`` it is (e.g. "the config
    file"), and for a permission refused (``PermissionError``) the folder closed to this account
    (:func:`closed_folder`) and its owner: "private to its owner" (run folders, a run's bundle
    and an ingest's ``--out`` are made mode 0700, ``run.private``, as they hold patient data),
    with the fixes: run the command as that account, or have it open the folder to a group
    (``chgrp -R GROUP``, ``chmod -R g+rX``; ``g+rwX`` for a write), plus ``fix_more`` (e.g.
    copying a bundle). Other errors (an I/O error) say the system's words and to check the disk."""
    import shlex

    written = written_file(exc)
    target = os.fsdecode(path) if path is not None else written if written is not None else (
        os.fsdecode(exc.filename) if exc.filename is not None else "a file")
    named = f"{target}{f' ({what})' if what else ''}"
    reason = exc.strerror or str(exc)
    verb, bits = ("write", "rwX") if written is not None else ("read", "rX")
    if not isinstance(exc, PermissionError):
        return (f"{named}: could not be {verb + ('ten' if written is not None else '')} ({reason}).\n  "
                f"fix: check that it is there and {verb}able and that its disk works (dmesg shows a "
                f"disk's errors), then rerun the same command" + (f"; {fix_more}" if fix_more else ""))
    more = f"; or {fix_more}" if fix_more else ""
    folder = closed_folder(target)
    if folder is None:  # the file (or its folder, for a write) itself: another account's, a 000 file
        folder = Path(target).parent if written is not None else None
    if folder is None:
        owner = _owner(target)
        by = f"; owner: {owner}" if owner else ""
        return (f"{named}: this account may not {verb} it ({reason}{by}).\n  fix: run the command as "
                f"{owner or 'its owner'}, or have {owner or 'its owner'} give access: "
                f"chmod g+{bits[:-1]} {shlex.quote(target)} (your group; chgrp GROUP first){more}")
    owner = _owner(folder)
    private = (f"{folder} is private to its owner{f' {owner}' if owner else ''} (mode 0700: run folders "
               f"and their bundles are made so, run.private=true by default, as they hold patient data)"
               if written is None else f"{folder} is not writable by this account"
               f"{f' (owner: {owner})' if owner else ''}")
    return (f"{named}: this account may not {verb} it ({reason}): {private}.\n  fix: run the command as "
            f"{owner or 'its owner'}; or, as {owner or 'its owner'}, open it to your group: "
            f"{access_fix(folder, bits)}{more}")


def readable_absolute(path: str | os.PathLike[str]) -> Path:
    """``path`` (``~`` expanded) as an absolute path with ``.`` and ``..`` taken out as written
    (``os.path.abspath``): ``repo/../d2/DRAC 2022`` from ``/tmp/repo`` is ``/tmp/d2/DRAC 2022``,
    the form messages, ``ingest_summary.json`` and the cache state record (``python -m
    data_prep ingest --root ../d2`` printed ``/tmp/repo/../d2/...``: a trial user's F6b).
    Symbolic links are kept as the user named them (``/data/drac`` stays ``/data/drac``, not
    its target on another volume, which ``Path.resolve`` would print and which changes when
    the link is pointed elsewhere).

    One case is different: a ``..`` that takes back a symbolic link (``link/..``) means the
    link target's parent to the system, so taking it out as written would name another
    folder. Then the path up to the last ``..`` is resolved (``os.path.realpath``: the folder
    the system opens) and the rest added as written. Which case applies is decided from the
    folders a ``..`` takes back, never from the last part, so a path whose last part does not
    exist yet (``--out ../link/../o`` before the ingest creates ``o``) is the same path after
    it is created (a review: the first run wrote ``s/o``, the second read ``s/vol/o``)."""
    absolute = Path(os.path.expanduser(os.fspath(path))).absolute()
    parts = absolute.parts
    kept: list[int] = []  # the parts no '..' has taken back yet, by index
    through_link = False  # a '..' took back a symbolic link: the written form is not the system's
    last_up = 0  # the index of the last '..'
    for index, part in enumerate(parts[1:], start=1):
        if part != "..":
            kept.append(index)
            continue
        last_up = index
        # until a link is taken back, the written prefix and the folder the system opens agree
        if kept and not through_link:
            through_link = os.path.islink(Path(*parts[:kept.pop() + 1]))
        elif kept:
            kept.pop()
    if not through_link:
        return Path(os.path.abspath(absolute))
    return Path(os.path.abspath(Path(os.path.realpath(Path(*parts[:last_up + 1])),
                                     *parts[last_up + 1:])))


def sha256_file(path: str | os.PathLike[str], on_block: Callable[[], None] | None = None,
                block_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks (``hashlib.file_digest``): a 45 MB
    ResNet-18 takes ~0.1 s. With ``on_block``, read ``block_bytes`` at a time and call it after
    each block (a progress count: ``ceil(size / block_bytes)`` calls); the digest is the same."""
    with open(path, "rb") as fh:
        if on_block is None:
            return hashlib.file_digest(fh, "sha256").hexdigest()
        digest = hashlib.sha256()
        while block := fh.read(block_bytes):
            digest.update(block)
            on_block()
        return digest.hexdigest()


def recorded_content(path: str | os.PathLike[str], size: int, sha256: str, mtime_ns: int,
                     restore_time: bool = True) -> tuple[str, bool]:
    """Whether the file ``path``, whose modification time is not the recorded ``mtime_ns`` (a
    copy without its time, :data:`drac_ssl.datasets.COPIED_WITHOUT_TIMES`), still holds the
    recorded bytes: ``(digest, time_restored)``, ``digest`` its hex SHA-256 (``""`` without a
    read when it does not hold ``size`` bytes) and ``time_restored`` whether its time was set
    back to ``mtime_ns``, which is tried only when the digest is ``sha256`` and ``restore_time``
    (as ``touch -d`` would; on the file descriptor hashed where the platform allows, keeping its
    access time; best effort: a read-only folder keeps its time and the next check hashes again),
    so that the next check needs only a stat. The one rule of the ingest's reuse of its cache
    (``data_prep.cache``) and the stages' reader of it (:func:`drac_ssl.datasets.check_cache_array`).

    Raises:
        OSError: the file cannot be opened or read."""
    with open(path, "rb") as fh:
        stat = os.fstat(fh.fileno())
        if stat.st_size != int(size):
            return "", False
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
        if digest != sha256 or not restore_time:
            return digest, False
        try:
            os.utime(fh.fileno() if os.utime in os.supports_fd else path, ns=(stat.st_atime_ns, int(mtime_ns)))
        except OSError:  # a read-only folder, another owner: hashed again next time
            return digest, False
        return digest, True


def safetensors_damage(path: str | os.PathLike[str]) -> str | None:
    """What is wrong with the safetensors file ``path`` as a file (safetensors' own words: cut
    short, ``incomplete metadata, file not fully covered``; a bad header; empty), None when it is
    whole. Reads its header alone (no tensor is loaded; opened for numpy, so torch is not
    imported: :mod:`drac_ssl.run_state` checks an older fold record's file with it before
    torch loads), so a build can check each file before it copies it. Raises PermissionError
    (and other OSErrors: missing, unreadable) as it is: not damage, the caller says whose
    access is missing."""
    from safetensors import SafetensorError, safe_open

    if Path(path).stat().st_size == 0:  # before safe_open: an empty file's error is an OSError
        return "the file is empty"
    try:
        with safe_open(str(path), framework="numpy"):
            return None
    except SafetensorError as exc:
        return str(exc)


ZIP_END_SPAN = 22 + 65535
"""Bytes at the end of a zip file that hold its end-of-central-directory record (22 bytes) and
the comment after it (at most 65535): :func:`zip_ends_whole` reads no more."""


def zip_ends_whole(path: str | os.PathLike[str]) -> bool:
    """Whether the file ``path`` ends as a whole zip file does: its end-of-central-directory
    record (``PK\\x05\\x06``) within its last :data:`ZIP_END_SPAN` bytes, where the record
    and its comment fit exactly to the end. ``torch.save`` writes a zip (a checkpoint ends with
    the record: no comment), so a checkpoint cut short (a truncated copy, a torn write) fails
    this; reads at most 64 KiB.

    Raises:
        OSError: the file cannot be read."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - ZIP_END_SPAN))
        tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    while at >= 0:
        if len(tail) - at >= 22 and at + 22 + int.from_bytes(tail[at + 20:at + 22], "little") == len(tail):
            return True
        at = tail.rfind(b"PK\x05\x06", 0, at)
    return False


ENDS_SPAN = 2**20
"""Bytes of each end :func:`ends_sha256` reads: 1 MiB."""


def ends_sha256(path: str | os.PathLike[str], span: int = ENDS_SPAN) -> str:
    """Hex SHA-256 of a file's first and last ``span`` bytes (1 MiB each; the whole file when
    it holds no more than ``2 * span``): a cheap fingerprint that reads at most 2 MiB,
    whatever the file's size (a 44 MB checkpoint: 5 ms measured on a loaded 2-core machine,
    against 96 ms for :func:`sha256_file` of it). It tells apart two files whose bytes differ at
    either end, not in their middle alone: two ``torch.save`` checkpoints of different epochs
    (the zip puts the pickled structure, with the epoch, step and history, first and the
    central directory, holding the CRC-32 of every record, last), but not a checkpoint altered
    in its middle, which keeps its ends (the CRC-32s are written, not checked, so they do not
    change): :data:`drac_ssl.run_state.CHECKPOINT_RECORD` records :func:`sha256_file` too.

    Raises:
        OSError: ``path`` cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        digest.update(fh.read(span))
        if size > 2 * span:
            fh.seek(size - span)
        digest.update(fh.read(span))
    return digest.hexdigest()


def read_json(path: str | os.PathLike[str]) -> Any:
    """The JSON value in ``path`` (UTF-8), whatever its type, or None when the file is missing or
    unreadable (OSError), not UTF-8 or not valid JSON (ValueError): for the readers of a run's
    records, which check the type of what they use (:func:`read_json_dict` when that is an
    object)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_json_dict(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when the file is missing or unreadable, is not
    valid JSON, or holds something other than an object (for optional records such as
    summaries and signatures, where "absent" and "damaged" both mean "recompute")."""
    data = read_json(path)
    return data if isinstance(data, dict) else None


def pid_alive(pid: int, platform: str = os.name) -> bool:
    """Whether process ``pid`` exists (of any user: one we may not signal or open counts as
    alive, so what it may still use is kept). POSIX: signal 0 (no signal is sent). Windows
    (``platform == "nt"``): never ``os.kill``, whose signal 0 there is ``CTRL_C_EVENT`` (it
    would interrupt the other process's console group); the process is looked up with
    ``OpenProcess`` / ``GetExitCodeProcess``."""
    if pid <= 0:
        return False
    if platform == "nt":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def jsonl_dicts(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The JSON objects of a ``.jsonl`` file (``path``), one per line, in their order; [] when the
    file is missing or unreadable (or not UTF-8). A line that is not a JSON object (cut by a
    crash, blank) is skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return []
    found = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict):
            found.append(line)
    return found


REFUSED_NOTE = "refused by the checks before any stage ran: nothing was run"
"""The ``"ended"`` ``"note"`` of a training refused by its checks in an existing run folder
(:func:`drac_ssl.train._record_refused`): its line is there for a torchrun job script, which
reads the file's last line for the exit code (2), and is no invocation of record otherwise
(:func:`invocations` leaves it out: it ran nothing, so the run's last training, its thread
count and library builds are the invocation before)."""


def invocations(path: str | os.PathLike[str], tool: str = "drac_ssl.train") -> list[dict[str, Any]]:
    """``tool``'s lines of a run's ``invocations.jsonl`` (``path``;
    :func:`drac_ssl.runtime.record_start`) in their order; [] when there is none or no readable
    file. A damaged line (cut by a crash) is skipped (:func:`jsonl_dicts`); a line without
    ``tool`` is a training's (older runs); a refused training's line (:data:`REFUSED_NOTE`) is
    left out."""
    return [line for line in jsonl_dicts(path) if line.get("tool", "drac_ssl.train") == tool
            and not (isinstance(line.get("ended"), dict) and line["ended"].get("note") == REFUSED_NOTE)]


def last_invocation(path: str | os.PathLike[str], tool: str = "drac_ssl.train") -> dict[str, Any] | None:
    """The last of ``tool``'s lines in a run's ``invocations.jsonl`` (:func:`invocations`);
    None when there is none or no readable file."""
    lines = invocations(path, tool)
    return lines[-1] if lines else None


def unended_invocation(path: str | os.PathLike[str], tool: str = "drac_ssl.train") -> dict[str, Any] | None:
    """The last of ``tool``'s lines in a run's ``invocations.jsonl`` (:func:`last_invocation`)
    when it has no ``ended`` and names its ``pid``: an invocation still running, or one killed
    too hard to say so; None otherwise (finished or interrupted, no such line, an older line
    without a pid, no readable file)."""
    last = last_invocation(path, tool)
    if last is None or "ended" in last or not isinstance(last.get("pid"), int):
        return None
    return last


def running_here(invocation: dict[str, Any] | None) -> bool:
    """Whether an invocation record (:func:`unended_invocation`) is of a process alive on this
    machine (its ``host``; a process of another machine cannot be checked: False)."""
    import platform

    return (invocation is not None and invocation.get("host") == platform.node()
            and pid_alive(int(invocation["pid"])))


def _windows_pid_alive(pid: int) -> bool:
    """Windows: whether process ``pid`` exists and has not exited (an existing process we may
    not open counts as alive, so its files are kept)."""
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32.OpenProcess.restype = ctypes.c_void_p  # a HANDLE: pointer-sized, not a C int
    kernel32.OpenProcess.argtypes = (ctypes.c_uint32, ctypes.c_int, ctypes.c_uint32)
    kernel32.GetExitCodeProcess.argtypes = (ctypes.c_void_p, ctypes.POINTER(ctypes.c_ulong))
    kernel32.CloseHandle.argtypes = (ctypes.c_void_p,)
    process_query_limited_information, still_active, error_access_denied = 0x1000, 259, 5
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        return ctypes.get_last_error() == error_access_denied  # type: ignore[attr-defined]
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


def try_lock(fd: int) -> bool:
    """Take an exclusive lock on the open file ``fd`` without waiting: True when taken (held
    until ``fd`` is closed or the process ends, however it ends: the kernel drops it), False
    when another open of the file holds it. POSIX: ``flock``; Windows: ``msvcrt.locking`` of
    the file's first byte."""
    if os.name == "nt":
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


_PID_TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)$")
"""A temporary of :func:`atomic_path` (``.NAME.tmp-PID``) or of the bundle's build
(``.bundle.tmp-PID/``, a folder, and the old bundle set aside while the new one is renamed
into place, ``.bundle.old.tmp-PID/``)."""
_UNNAMED_TEMPORARY = re.compile(r"^\.tmp[A-Za-z0-9]{6}$")
"""A temporary that ``safetensors.torch.save_file`` writes next to its target (``.tmpXXXXXX``,
then renamed): it names no process."""


def temporary_pid_alive(temporary: Path, platform: str = os.name) -> bool:
    """Whether the process that named ``temporary`` (``...tmp-PID``) still runs
    (:func:`pid_alive`; this process's own pid: an earlier process, not alive)."""
    pid = temporary.name.rsplit("-", 1)[-1]
    if not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    return pid_alive(int(pid), platform)


def remove_stale_temporaries(folder: str | os.PathLike[str], recursive: bool = False,
                             unnamed: bool = False) -> list[Path]:
    """Remove the temporaries that killed processes left in ``folder`` and return them (never
    trusted: a write that finished was renamed onto its real name).

    ``.NAME.tmp-PID`` files and folders whose ``PID`` no longer runs; with ``unnamed`` also
    safetensors' ``.tmpXXXXXX`` files, which name no process: only for a caller that knows no
    other process writes there (it holds the folder's lock). ``recursive``: in every folder
    below too (links are not followed). Anything else is never touched; a path that cannot be
    removed is skipped (the next start tries again)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    removed: list[Path] = []
    for here, dirs, files in os.walk(root):
        for name in [*files, *dirs]:
            path = Path(here) / name
            if _PID_TEMPORARY.match(name):
                if temporary_pid_alive(path):
                    continue
            elif not (unnamed and name in files and _UNNAMED_TEMPORARY.match(name)):
                continue
            if path.is_symlink() or path.is_file():
                with contextlib.suppress(OSError):
                    path.unlink()
            elif path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            if not path.exists() and not path.is_symlink():
                removed.append(path)
        dirs[:] = [d for d in dirs if (Path(here) / d) not in removed] if recursive else []
    return sorted(removed)


def flush_or_silence(stream: Any) -> None:
    """Flush ``stream`` (``sys.stdout`` before a command exits); one that can no longer be
    written (a full disk, a pipe whose reader left) is silenced (:func:`silence_stream`)
    instead of failing at the interpreter's shutdown."""
    if stream is None:
        return
    try:
        stream.flush()
    except OSError:
        silence_stream(stream)
    except ValueError:  # closed
        pass


def silence_stream(stream: Any) -> None:
    """Point the file descriptor under ``stream`` (``sys.stdout``) at ``os.devnull``, as
    Python's documentation advises after a ``BrokenPipeError``
    (https://docs.python.org/3/library/signal.html#note-on-sigpipe): what its buffer still
    holds, and what is printed later, goes nowhere instead of failing again at the
    interpreter's shutdown (an "Exception ignored" line and exit code 120). A stream with no
    file descriptor (a test's capture) is left as it is."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)


class StdoutUnwritable(ValueError):
    """The command's standard output could not be written (``> /dev/full``: a full disk;
    ``| head -1``: a reader that left): :func:`stdout_guarded` raises it, naming stdout, not a
    file the command read or wrote; the commands exit 2 on it (a ``ValueError``) with its words."""


def stdout_words(exc: OSError, done: str = "its files are not the problem") -> str:
    """``stdout could not be written (No space left on device) ...``, ``done`` (what was
    written all the same) and the fix."""
    return (f"stdout could not be written ({exc.strerror or type(exc).__name__}): what this "
            f"command printed there is lost ({done}).\n  fix: send stdout to "
            f"a disk with free space (> FILE) or to a reader that reads it to the end, then rerun "
            f"the same command")


class _GuardedStdout:
    """``stream`` whose ``write`` and ``flush`` raise :class:`StdoutUnwritable` for an
    ``OSError`` (once; the stream is silenced, :func:`silence_stream`, and written no more);
    ``quiet``: raise nothing, the stream silenced all the same (``failed`` says why)."""

    def __init__(self, stream: Any, quiet: bool = False) -> None:
        self._stream = stream
        self._quiet = quiet
        self.failed: OSError | None = None

    def _fail(self, exc: OSError) -> StdoutUnwritable:
        self.failed = exc
        silence_stream(self._stream)
        return StdoutUnwritable(stdout_words(exc))

    def write(self, text: str) -> int:
        if self.failed is not None:
            return len(text)
        try:
            return self._stream.write(text)
        except OSError as exc:
            said = self._fail(exc)
            if self._quiet:
                return len(text)
            raise said from None

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.failed is not None:
            return
        try:
            self._stream.flush()
        except OSError as exc:
            said = self._fail(exc)
            if not self._quiet:
                raise said from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def stdout_guarded() -> Iterator[None]:
    """Within the block, a ``print`` to ``sys.stdout`` that cannot be written raises
    :class:`StdoutUnwritable` (a ``ValueError``: the commands' ``error: ...``, exit 2) naming
    stdout, not the ``OSError`` a command's file handling would call "a file: could not be
    read"; the block's end flushes stdout, so that what is buffered fails here, not at the
    interpreter's shutdown (a traceback-like "Exception ignored" and exit 120). ``sys.stdout``
    is put back as it was when the block ends.

    Raises:
        StdoutUnwritable: stdout could not be written (ENOSPC, EPIPE, EIO)."""
    before = sys.stdout
    if before is None:
        yield
        return
    guard = _GuardedStdout(before)
    sys.stdout = guard
    try:
        yield
        guard.flush()
    finally:
        sys.stdout = before
        if guard.failed is None:  # an exception ended the block: what is buffered goes quietly
            flush_or_silence(before)


@contextlib.contextmanager
def stdout_survives() -> Iterator[Any]:
    """Within the block, a ``sys.stdout`` that can no longer be written (``> /dev/full``, ``|
    head -1``) is silenced (:func:`silence_stream`) and written no more, without an error: a
    training's stdout is its log, and :func:`drac_ssl.runtime.console_log` keeps the lines in
    ``console.log`` (and notes there that stdout became unwritable: the guard's ``failed``).
    ``sys.stdout`` is put back as it was when the block ends. Yields the guard, whose
    ``failed`` (the ``OSError``, or None) says after the block whether stdout failed (None
    for a stdout that is None)."""
    before = sys.stdout
    if before is None:
        yield None
        return
    guard = _GuardedStdout(before, quiet=True)
    sys.stdout = guard
    try:
        yield guard
    finally:
        with contextlib.suppress(ValueError):
            guard.flush()
        sys.stdout = before
