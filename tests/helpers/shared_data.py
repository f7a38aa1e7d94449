"""Where the tests find the team's real data (tests/helpers is on the test path:
``from shared_data import SHARED_DATA, need``).

The real samples (``drac_samples/``, ``aptos_samples/``, ``retinamnist/``, ``mnist/``, ...) are
not in the repository. The tests read them from:

- the folder the environment variable ``DRAC_SSL_SHARED_DATA`` names, when it is set (the
  ``data`` folder itself; a relative path is taken from the folder pytest starts in). Set
  but not a folder is an error that stops the run (tests/conftest.py): a typo must not turn
  every real-data test into a silent skip;
- else ``../shared/data`` beside the repository (``<repo>/../shared/data``).

A test that needs a file that is not there skips with :func:`missing_reason`'s words (where it
looked, and the variable that points elsewhere); tests/conftest.py counts those skips at the
end of the run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

ENV_VAR = "DRAC_SSL_SHARED_DATA"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_SHARED_DATA = REPO.parent / "shared" / "data"
# in every skip reason of a missing real-data file, and nowhere else: tests/conftest.py counts by it
MISSING_MARK = f"(real data absent; {ENV_VAR}"


class SharedDataError(Exception):
    """``DRAC_SSL_SHARED_DATA`` is set but names no folder."""


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


def where_words(environ: Mapping[str, str] = os.environ) -> str:
    """Where the data was looked for, and how to point elsewhere (the end of a skip reason)."""
    if environ.get(ENV_VAR) is not None:
        return f"{MISSING_MARK}={environ[ENV_VAR]} names a folder without it)"
    return (f"{MISSING_MARK} is unset and ../shared/data beside the repository lacks it; "
            f"set {ENV_VAR} to the data folder)")


def missing_reason(what: str, path: Path) -> str:
    """The skip reason of a test whose real ``what`` is not at ``path``."""
    return f"{what} not found at {path} {where_words()}"


def need(path: Path, what: str) -> Path:
    """``path`` when it exists; else skips the calling test with :func:`missing_reason` (the
    skip is reported at the caller's line, not here)."""
    __tracebackhide__ = True
    if not path.exists():
        pytest.skip(missing_reason(what, path))
    return path


def needs(path: Path, what: str) -> pytest.MarkDecorator:
    """A ``skipif`` mark for tests that need ``path`` (checked when the module is collected)."""
    return pytest.mark.skipif(not path.exists(), reason=missing_reason(what, path))


try:
    SHARED_DATA = shared_data_folder()
except SharedDataError:  # tests/conftest.py stops the run with the message before any test module imports this
    SHARED_DATA = Path(os.environ.get(ENV_VAR, "")).expanduser().absolute()
