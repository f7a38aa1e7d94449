"""A folder closed to this account, as another account's run folder (mode 0700) is, also where
the tests run as root (which every mode lets in): ``close_folder(monkeypatch, folder)`` makes
``os.stat``, ``os.lstat``, ``open``, ``os.open``, ``os.scandir`` and ``os.listdir`` raise
``PermissionError`` (EACCES) for anything inside ``folder``, and the listing of ``folder``
itself, and ``os.access`` of ``folder`` answer False, as the kernel does for a folder of mode
0700 owned by someone else. ``folder`` itself can still be looked at (``stat``, ``is_dir``),
as its parent is open."""

from __future__ import annotations

import builtins
import errno
import io
import os
from pathlib import Path
from typing import Any

import pytest


def close_folder(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Close ``folder`` (an existing folder) to this process for the rest of the test."""
    closed = os.path.abspath(folder)

    def inside(path: Any, itself: bool = False) -> bool:
        if isinstance(path, int):  # a file descriptor: already opened
            return False
        text = os.path.abspath(os.fsdecode(path))
        return text.startswith(closed + os.sep) or (itself and text == closed)

    def refuse(path: Any) -> PermissionError:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

    def guard(real: Any, itself: bool = False) -> Any:
        def call(path: Any, *args: Any, **kwargs: Any) -> Any:
            if inside(path, itself):
                raise refuse(path)
            return real(path, *args, **kwargs)
        return call

    real_access = os.access

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        if inside(path, itself=True):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "stat", guard(os.stat))
    monkeypatch.setattr(os, "lstat", guard(os.lstat))
    monkeypatch.setattr(os, "open", guard(os.open))
    monkeypatch.setattr(os, "scandir", guard(os.scandir, itself=True))
    monkeypatch.setattr(os, "listdir", guard(os.listdir, itself=True))
    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(builtins, "open", guard(builtins.open))
    monkeypatch.setattr(io, "open", guard(io.open))
