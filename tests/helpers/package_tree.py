"""Shared by the tests that build the package or wrap it in a git repository of their own
(test_wheel_build_commit, test_sdist_contents): a copy of the package's source files (their git
calls: tests/helpers/git_in_tests.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository these tests run in."""


def copy_sources(names: Iterable[str], into: Path) -> Path:
    """Copies each of ``names`` (files and folders of the repository) into ``into``, leaving out
    ``__pycache__`` and a built ``_build_info.py``; returns ``into``."""
    for name in names:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__", "_build_info.py"))
        else:
            shutil.copyfile(source, into / name)
    return into
