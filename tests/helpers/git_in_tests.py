"""git as the tests run it: with no user or system configuration (tests/helpers is on the test
path: ``from git_in_tests import isolated_git``).

A developer's ``~/.gitconfig`` reached the tests' own git calls: ``[commit] gpgsign = true``
made every ``git commit`` of a test's small repository exit 128 (11 bench tests failed), and
other settings (``core.abbrev``, ``color.ui``, ``diff.noprefix``, ``log.showSignature``) change
what git prints. Every test that runs git goes through this module: no global
(``GIT_CONFIG_GLOBAL`` is the null device, which also hides ``~/.gitconfig`` and the XDG one)
and no system configuration (``GIT_CONFIG_NOSYSTEM``), a made-up author, no signing, and none of
the variables a git hook sets (``GIT_DIR``, ``GIT_INDEX_FILE``, ...) that would point the call at
another repository. With the global configuration goes its ``safe.directory``: :func:`run_git`
names the repository's top folder safe on the command line, so that a checkout owned by another
user (a container's mounted folder) is read rather than refused ("dubious ownership", exit 128).
Code under test that runs git itself sees the user's configuration unless the test calls
:func:`shut_out_git_config`, and git run by a script the test starts (``bash -c``, a package's
own ``git`` call) still reads the user's configuration under :func:`run_git` alone.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

NO_CONFIG = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
"""The environment variables that shut git's global and system configuration out."""

HOOK_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                  "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
                  "GIT_CONFIG_COUNT", "GIT_PREFIX")
"""Variables git sets for a hook (a pre-commit hook running pytest) that redirect a git call."""


def git_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``environ`` with :data:`NO_CONFIG` set and :data:`HOOK_VARIABLES` removed."""
    return {**{k: v for k, v in environ.items() if k not in HOOK_VARIABLES}, **NO_CONFIG}


def top_folder(repo: Path) -> str:
    """The real path of the folder at or above ``repo`` that holds ``.git`` (the one git checks
    the owner of); ``repo``'s real path when none does."""
    real = Path(os.path.realpath(repo))
    return str(next((folder for folder in (real, *real.parents) if (folder / ".git").exists()), real))


def run_git(repo: Path, *args: str, user: str = "user", check: bool = True, text: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess:
    """``git -C repo ARGS`` run under :func:`git_env` with author ``user`` and no signing; stdout
    and stderr captured (``str`` when ``text``, else ``bytes``); ``repo``'s :func:`top_folder` is a
    ``safe.directory`` whoever owns it. Raises CalledProcessError when ``check`` and git fails,
    FileNotFoundError when git is not installed."""
    return subprocess.run(["git", "-C", str(repo), "-c", f"safe.directory={top_folder(repo)}",
                           "-c", f"user.name={user}", "-c", f"user.email={user}@example.org", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", *args],
                          capture_output=True, text=text, check=check, env=git_env(), timeout=timeout)


def isolated_git(repo: Path, *args: str, user: str = "user") -> str:
    """:func:`run_git`'s stdout, stripped; raises CalledProcessError when git fails."""
    return run_git(repo, *args, user=user).stdout.strip()


def shut_out_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rest of the test (the code under test's own git calls included) under :func:`git_env`."""
    for name in HOOK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in NO_CONFIG.items():
        monkeypatch.setenv(name, value)
