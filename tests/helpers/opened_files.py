"""Counting the times a test's code opens files of a given name, for the tests that a file is
read once per call chain (a bundle's ``metadata.json``, a notes file, a submission CSV;
tests/helpers is on the test path: ``from opened_files import count_opens``).

Every open of a file by path goes through :func:`io.open` (:meth:`pathlib.Path.read_text`,
``read_bytes`` and ``open`` call it; the built-in :func:`open` is the same function): both
names are wrapped for the test, by its ``monkeypatch``, and undone after it."""

from __future__ import annotations

import builtins
import io
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest


def count_opens(monkeypatch: pytest.MonkeyPatch, *names: str) -> Counter[Path]:
    """From now until the test ends, each open of a file whose name is one of ``names``
    (``"metadata.json"``), a failed one too, counted per file (its resolved path: the same file
    reached by two paths is one) in the Counter returned."""
    opened: Counter[Path] = Counter()
    real = io.open

    def counting(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | os.PathLike) and Path(file).name in names:
            opened[Path(file).resolve()] += 1
        return real(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting)
    monkeypatch.setattr(builtins, "open", counting)
    return opened
