"""The tests' git calls do not read the developer's git configuration (tests/helpers/git_in_tests.py):
a ``~/.gitconfig`` with ``[commit] gpgsign = true`` failed 11 bench tests (git commit exit 128)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from git_in_tests import isolated_git

TESTS = Path(__file__).resolve().parent
HELPER = TESTS / "helpers" / "git_in_tests.py"


def test_a_commit_succeeds_under_a_users_config_that_signs_every_commit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[commit]\n\tgpgsign = true\n[core]\n\tabbrev = 12\n", encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))  # as a git hook running pytest sets it
    repo = tmp_path / "repo"
    repo.mkdir()
    isolated_git(repo, "init", "-q")
    (repo / "a.txt").write_text("a\n", encoding="utf-8")
    isolated_git(repo, "add", "a.txt")
    isolated_git(repo, "commit", "-q", "-m", "one")
    assert len(isolated_git(repo, "log", "-1", "--format=%h")) == 7  # the user's core.abbrev unread
    assert not (tmp_path / "elsewhere").exists()


def test_every_git_call_of_the_tests_goes_through_the_helper() -> None:
    """A ``subprocess.run`` of git in a test reads the user's configuration."""
    direct = re.compile(r"""\[\s*["']git["']\s*,""")
    found = [f"{path.relative_to(TESTS)}:{n}" for path in sorted(TESTS.rglob("*.py")) if path != HELPER
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if direct.search(line)]
    assert found == [], f"run git with tests/helpers/git_in_tests.py's run_git/isolated_git: {found}"
