"""Where the tests find the team's real data (tests/helpers is on the test path:
``from shared_data import SHARED_DATA, need``).

The real samples (``drac_samples/``, ``aptos_samples/``, ``retinamnist/``, ``mnist/``, ...) are
not in the repository. The tests read them from:

- the folder the environment variable ``DRAC_SSL_SHARED_DATA`` names, when it is set (the
  ``data`` folder itself; a relative path is taken from the folder pytest starts in). Set
  but not a folder is an error that stops the run (tests/conftest.py): a typo must not turn
  every real-data test into a silent skip;
- else ``../shared/data`` beside the repository (``<repo>/../shared/data``).

A folder with a checksum list (``SHA256SUMS``, as the team's shared/data has) must hold every file
it lists: :func:`check_complete`, run once per session by tests/conftest.py, stops the run with the
missing names (a partial copy gave raw FileNotFoundError and IngestError failures, not skips). It
only looks for the files (a few dozen ``stat`` calls); ``sha256sum -c SHA256SUMS`` checks their bytes.

A test that needs a file that is not there (or a folder that holds no file) skips with :func:`missing_reason`'s words (where it
looked, and the variable that points elsewhere); tests/conftest.py counts those skips at the
end of the run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

ENV_VAR = "DRAC_SSL_SHARED_DATA"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_SHARED_DATA = REPO.parent / "shared" / "data"
# in every skip reason of a missing real-data file, and nowhere else: tests/conftest.py counts by it
MISSING_MARK = f"(real data absent; {ENV_VAR}"
CHECKSUM_LIST = "SHA256SUMS"
"""The data folder's list of its files, one ``<sha256>  <path>`` a line (``sha256sum``'s format;
a line that starts with ``\\`` has its name escaped, as sha256sum writes a name holding a backslash
or a newline)."""
_LISTED = re.compile(r"(?P<escaped>\\?)[0-9a-fA-F]{64} [ *](?P<path>.+)")
_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}
"""sha256sum's escapes in a name whose line starts with a backslash (a name holding ``\\``, a
newline or a carriage return): ``\\\\``, ``\\n``, ``\\r``."""


class SharedDataError(Exception):
    """``DRAC_SSL_SHARED_DATA`` is set but names no folder, or the data folder lacks files its
    checksum list names."""


def shared_data_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder of the real data: ``environ["DRAC_SSL_SHARED_DATA"]`` when set (``~`` expanded,
    a relative path made absolute from the current folder), else ``<repo>/../shared/data``
    (which may be absent: the tests that need it skip).

    Raises :class:`SharedDataError` when the variable is set (even empty) but is not a folder."""
    value = environ.get(ENV_VAR)
    if value is None:
        return DEFAULT_SHARED_DATA
    if not value.strip():
        raise SharedDataError(
            f"{ENV_VAR} is set but empty: set it to the folder that holds drac_samples/, "
            f"aptos_samples/, retinamnist/, ... (the team's shared/data), or unset it to read "
            f"{DEFAULT_SHARED_DATA}")
    folder = Path(value).expanduser().absolute()
    if not folder.is_dir():
        what = "a file, not a folder" if folder.exists() else "no such folder"
        raise SharedDataError(
            f"{ENV_VAR}={value} is {what} ({folder}): set it to the folder that holds "
            f"drac_samples/, aptos_samples/, retinamnist/, ... (the team's shared/data), or "
            f"unset it to read {DEFAULT_SHARED_DATA}")
    return folder


def listed_files(folder: Path) -> list[str] | None:
    """The paths (relative to ``folder``) that ``folder/SHA256SUMS`` lists; None without that
    file. Raises :class:`SharedDataError` naming the line of one that is not ``<sha256>  <path>``,
    or when the list cannot be read (no permission, no UTF-8)."""
    listing = folder / CHECKSUM_LIST
    try:
        text = listing.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:  # PermissionError, a folder named so, bytes that are no UTF-8
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SharedDataError(
            f"the real data folder's checksum list {listing} cannot be read ({why}): make it readable "
            f"(`chmod a+r {listing}`), or point {ENV_VAR} at a copy of the data you can read") from None
    paths = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _LISTED.fullmatch(line)
        path = match and (_unescaped(match["path"]) if match["escaped"] else match["path"])
        if not path:
            raise SharedDataError(f"{listing}, line {number}: {line[:80]!r} is not '<sha256>  <path>' (sha256sum's "
                                  f"format): fix the line, or write the list again with sha256sum in that folder")
        paths.append(path)
    return paths


def _unescaped(name: str) -> str | None:
    """``name`` of a sha256sum line that starts with a backslash, its escapes undone; None when
    it holds an escape sha256sum does not write."""
    parts = re.split(r"(\\.?)", name)
    if any(part.startswith("\\") and part[1:] not in _ESCAPES for part in parts[1::2]):
        return None
    return "".join(_ESCAPES[part[1:]] if n % 2 else part for n, part in enumerate(parts))


def check_complete(folder: Path, show: int = 10) -> None:
    """Raises :class:`SharedDataError` when ``folder`` (an existing data folder) has a
    ``SHA256SUMS`` that lists files it does not hold (existence only, not the hashes); the message
    names the first ``show`` of them, how many, and how to fix it. No list: nothing is checked."""
    listed = listed_files(folder)
    if not listed:
        return
    missing = [path for path in listed if not (folder / path).is_file()]
    if not missing:
        return
    names = ", ".join(missing[:show]) + (f", ... ({len(missing) - show} more)" if len(missing) > show else "")
    source = f"{ENV_VAR}={os.environ[ENV_VAR]}" if ENV_VAR in os.environ else "../shared/data beside the repository"
    raise SharedDataError(
        f"the real data folder {folder} ({source}) is incomplete: {len(missing)} of the {len(listed)} files its "
        f"{CHECKSUM_LIST} lists are missing: {names}. Copy them from the team's shared data folder "
        f"(then `sha256sum -c {CHECKSUM_LIST}` in {folder} checks the copy), or point {ENV_VAR} at a complete "
        f"copy; without the real data, point {ENV_VAR} at an empty folder (the tests that need it skip)")


def where_words(environ: Mapping[str, str] = os.environ) -> str:
    """Where the data was looked for, and how to point elsewhere (the end of a skip reason)."""
    if environ.get(ENV_VAR) is not None:
        return f"{MISSING_MARK}={environ[ENV_VAR]} names a folder without it)"
    return (f"{MISSING_MARK} is unset and ../shared/data beside the repository lacks it; "
            f"set {ENV_VAR} to the data folder)")


def missing_reason(what: str, path: Path) -> str:
    """The skip reason of a test whose real ``what`` is not at ``path``."""
    return f"{what} not found at {path} {where_words()}"


def _absent(path: Path) -> bool:
    """No ``path``, or a folder that holds no file (a copy of the folders without their files)."""
    if path.is_dir():
        return not any(child.is_file() for child in path.rglob("*"))
    return not path.exists()


def need(path: Path, what: str) -> Path:
    """``path`` when it is a file or a folder holding at least one file; else skips the calling
    test with :func:`missing_reason` (the skip is reported at the caller's line, not here)."""
    __tracebackhide__ = True
    if _absent(path):
        pytest.skip(missing_reason(what, path))
    return path


def needs(path: Path, what: str) -> pytest.MarkDecorator:
    """A ``skipif`` mark for tests that need ``path`` as :func:`need` does (checked when the
    module is collected)."""
    return pytest.mark.skipif(_absent(path), reason=missing_reason(what, path))


try:
    SHARED_DATA = shared_data_folder()
except SharedDataError:  # tests/conftest.py stops the run with the message before any test module imports this
    SHARED_DATA = Path(os.environ.get(ENV_VAR, "")).expanduser().absolute()
