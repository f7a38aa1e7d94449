"""The tests' git calls do not read the developer's git configuration (tests/helpers/git_in_tests.py):
a ``~/.gitconfig`` with ``[commit] gpgsign = true`` failed 11 bench tests (git commit exit 128)."""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import pytest
from git_in_tests import isolated_git

TESTS = Path(__file__).resolve().parent
HELPER = TESTS / "helpers" / "git_in_tests.py"


def _is_git_program(text: str) -> bool:
    """``git``, a path ending in ``/git``, or a shell command line that starts with one."""
    first = text.strip().split(" ", 1)[0] if text.strip() else ""
    return first == "git" or first.endswith("/git")


def _names_bound_to_git(tree: ast.Module) -> set[str]:
    """Module-level names assigned a git constant (``GIT = "git"``, ``GIT = ["git", "-C", ...]``)."""
    names: set[str] = set()
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign) else [node.target]
                   if isinstance(node, ast.AnnAssign) and node.value is not None else [])
        if targets and _starts_with_git(node.value, names):
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names


def _starts_with_git(node: ast.expr | None, git_names: set[str]) -> bool:
    """Whether the program ``node`` (a call's first argument) names is git."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _is_git_program(node.value)
    if isinstance(node, ast.Name):
        return node.id in git_names
    if isinstance(node, (ast.List, ast.Tuple)):
        return bool(node.elts) and _starts_with_git(node.elts[0], git_names)
    if isinstance(node, ast.Starred):
        return _starts_with_git(node.value, git_names)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # ["git"] + args
        return _starts_with_git(node.left, git_names)
    if isinstance(node, ast.JoinedStr):  # f"git -C {repo} status"
        return bool(node.values) and _starts_with_git(node.values[0], git_names)
    if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)) and node.args:
        name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        return name == "split" and _starts_with_git(node.args[0], git_names)  # shlex.split("git ...")
    return False


RUNNERS = {"subprocess": None, "os": {"system", "popen"}}
"""Modules whose calls start a program: every function of subprocess, os.system and os.popen."""


def direct_git_calls(path: Path) -> list[int]:
    """The lines of ``path`` where a subprocess.* / os.system / os.popen call runs git (its first
    argument is, or begins with, "git" or a path ending in /git); docstrings and comments are no calls."""
    source = path.read_text(encoding="utf-8")
    if "git" not in source:  # no git call possible: not parsed (the check stays well under 2 s)
        return []
    tree = ast.parse(source, filename=str(path))
    git_names = _names_bound_to_git(tree)
    from_subprocess = {alias.asname or alias.name for node in ast.walk(tree)
                       if isinstance(node, ast.ImportFrom) and node.module == "subprocess" for alias in node.names}
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        runs = (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in RUNNERS
                and (RUNNERS[func.value.id] is None or func.attr in RUNNERS[func.value.id])
                or isinstance(func, ast.Name) and func.id in from_subprocess)
        program = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "args"), None)
        if runs and _starts_with_git(program, git_names):
            lines.append(node.lineno)
    return sorted(lines)


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


def test_a_checkout_owned_by_another_user_is_read_not_refused(tmp_path: Path) -> None:
    """With the global configuration went its ``safe.directory``: git refused a checkout owned
    by another user ("dubious ownership", exit 128) and tests skipped or passed on that."""
    if shutil.which("git") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs git and root (to give the repository to another user)")
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    isolated_git(repo, "init", "-q")
    (repo / "sub" / "a.txt").write_text("a\n", encoding="utf-8")
    isolated_git(repo, "add", "-A")
    isolated_git(repo, "commit", "-q", "-m", "one")
    for folder, _, files in os.walk(repo):
        for name in (folder, *(os.path.join(folder, f) for f in files)):
            os.chown(name, 65534, 65534)  # nobody's
    assert isolated_git(repo, "ls-files") == "sub/a.txt"
    assert isolated_git(repo / "sub", "ls-files") == "a.txt"


PROBE = '''"""A docstring that shows subprocess.run(["git", "status"]) is no call."""
import os
import shlex
import subprocess
from subprocess import check_output as out

GIT = "git"
args = ["status"]


def calls() -> None:
    # subprocess.run(["git", "status"]) in a comment is no call
    subprocess.run([GIT, "status"])  # direct
    subprocess.run(("git", "status"))  # direct
    subprocess.run(shlex.split("git status"))  # direct
    subprocess.run("git status", shell=True)  # direct
    subprocess.check_output(["git"] + args)  # direct
    subprocess.run(["git", "status"])  # direct
    subprocess.run(  # direct
        ["git", "status"])
    subprocess.run([  # direct
        "git", "status"])
    os.system("git status")  # direct
    os.popen("git log")  # direct
    subprocess.Popen(["/usr/bin/git", "status"])  # direct
    out(["git", "status"])  # direct
    subprocess.run(["nginx", "-t"])
    subprocess.run(["python", "-c", "print('git')"])
    os.system("echo git")
    print("git status")
'''


def test_the_check_finds_every_usual_form_of_a_direct_git_call_and_no_docstring_or_comment(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE, encoding="utf-8")
    marked = [n for n, line in enumerate(PROBE.splitlines(), 1) if line.endswith("# direct")]
    assert len(marked) == 12
    assert direct_git_calls(probe) == marked


def test_every_git_call_of_the_tests_goes_through_the_helper() -> None:
    """A ``subprocess.run`` of git in a test reads the user's configuration."""
    found = [f"{path.relative_to(TESTS)}:{n}" for path in sorted(TESTS.rglob("*.py")) if path != HELPER
             for n in direct_git_calls(path)]
    assert found == [], f"run git with tests/helpers/git_in_tests.py's run_git/isolated_git: {found}"
