"""Shared by the tests that build the package or wrap it in a git repository of their own
(test_wheel_build_commit, test_sdist_contents, test_code_source): a git call that no user or
system git configuration reaches, and a copy of the package's source files."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository these tests run in."""


def isolated_git(repo: Path, *args: str, user: str = "user") -> str:
    """``git -C repo ARGS``'s stdout, stripped, with no system or global configuration, a made-up
    author (``user``) and no signing; raises CalledProcessError when git fails."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    out = subprocess.run(["git", "-C", str(repo), "-c", f"user.name={user}", "-c", f"user.email={user}@example.org",
                          "-c", "commit.gpgsign=false", *args],
                         capture_output=True, text=True, check=True, env=env, timeout=60)
    return out.stdout.strip()


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
