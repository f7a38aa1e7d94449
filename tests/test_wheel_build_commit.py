"""A wheel carries the commit it was built from (a packaging review, F4): runs from installed
wheels recorded ``git_commit: unknown`` and ``distribution_version: 0.1.0`` alike, so wheels of
different commits could not be told apart. setup.py now writes ``drac_ssl/_build_info.py`` into
the wheel and the sdist, and ``environment.json`` records ``build_commit``.

Real builds (pip's ``wheel``, setuptools' PEP 517 ``build_sdist``; no network, no build
isolation: the venv's setuptools) of a copy of the package in a new git repository under
tmp_path, a few seconds each."""

from __future__ import annotations

import importlib.metadata
import json
import os
import runpy
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from git_in_tests import isolated_git
from package_tree import copy_sources

from drac_ssl import runtime

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "drac_ssl", "data_prep", "app",
           "configs", "docs")


def _git(repo: Path, *args: str) -> str:
    return isolated_git(repo, *args, user="builder")


def _checkout(root: Path) -> tuple[Path, str]:
    """A git checkout of this tree's package sources with one commit; (its folder, the commit)."""
    root.mkdir(parents=True)
    copy_sources(SOURCES, root)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "a release")
    return root, _git(root, "rev-parse", "HEAD")


def _setup_module() -> dict[str, Any]:
    return runpy.run_path(str(REPO / "setup.py"), run_name="drac_ssl_setup")  # setup() not run


def _wheel(source: Path, out: Path) -> Path:
    try:  # not importlib.util.find_spec: setuptools' distutils hook warns on a find_spec of pip
        importlib.metadata.distribution("pip")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("no pip in this interpreter")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--disable-pip-version-check", "-w", str(out), str(source)],
                   check=True, capture_output=True, text=True, timeout=300, cwd=source)
    wheel, = out.glob("drac_ssl-*.whl")
    return wheel


def _sdist(source: Path, out: Path) -> str:
    """setuptools' PEP 517 ``build_sdist`` (``python -m build``'s first step) in a process of its
    own; the archive's name."""
    done = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                           "print(build_meta.build_sdist(sys.argv[1]))", str(out)],
                          check=True, capture_output=True, text=True, timeout=300, cwd=source)
    return done.stdout.strip().splitlines()[-1]


def _installed(wheel: Path, site: Path) -> Path:
    """The wheel's files unpacked as an install would lay them out; its drac_ssl folder."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site / "drac_ssl"


def _metadata_version(site: Path) -> str:
    """The ``Version:`` of the drac_ssl distribution unpacked in ``site``."""
    dist, = importlib.metadata.distributions(name="drac_ssl", path=[str(site)])
    return dist.version


def test_a_wheel_from_a_checkout_records_its_commit_in_environment_json(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout, commit = _checkout(tmp_path / "checkout")
    package = _installed(_wheel(checkout, tmp_path / "dist"), tmp_path / "site")
    assert runtime.build_origin(str(package)) == {"build_commit": commit, "build_dirty": False}
    # F3: the wheel's version names the commit, and the installed __version__ (every command's
    # --version) is the metadata's
    version = f"0.1.0+1.g{commit[:7]}"  # the checkout's one commit, then its hash
    assert _metadata_version(package.parent) == version
    said = subprocess.run([sys.executable, "-c", "import drac_ssl.starting as s; print(s.version_words())"],
                          check=True, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(package.parent)})
    assert said.stdout.strip() == f"drac_ssl {version}"
    assert (package / "docs" / "running.md").is_file() and not (package / "docs" / "img").exists()
    assert not (checkout / "drac_ssl" / "_build_info.py").exists()  # the checkout is not written
    assert _git(checkout, "status", "--porcelain", "--untracked-files=no") == ""
    monkeypatch.delenv("DRAC_SSL_CODE_STAMP", raising=False)
    monkeypatch.setattr(runtime, "_PACKAGE_DIR", str(package))
    runtime.code_source.cache_clear()
    try:
        origin = runtime.code_origin()
        assert origin["code_source"] == "installed package" and origin["git_commit"] == "unknown"
        assert origin["build_commit"] == commit and origin["build_dirty"] is False
        json.dumps(origin)  # environment.json's fields
        # the installed wheel names the same code as the checkout it was built from (the
        # fingerprint leaves out the _build_info.py the build writes): a run made from either is
        # the same code to same_code (an upgrade review, F6)
        assert origin["code_fingerprint"] == runtime.source_fingerprint(checkout) == runtime.code_fingerprint()
        assert (package / "_build_info.py").is_file()
        monkeypatch.syspath_prepend(str(package.parent))  # as the install's process finds its metadata
        assert runtime.distribution_version() == version
        assert runtime.unknown_code_words().endswith(f"; drac_ssl {version})")  # the version names the commit
    finally:
        runtime.code_source.cache_clear()


def test_an_sdist_carries_the_commit_to_a_wheel_built_without_git(tmp_path: Path) -> None:
    """``python -m build`` builds the wheel from the unpacked sdist, where there is no git."""
    checkout, commit = _checkout(tmp_path / "checkout")
    (checkout / "drac_ssl" / "runtime.py").write_text("# changed\n", encoding="utf-8", newline="")
    name = _sdist(checkout, tmp_path / "sdist")
    with tarfile.open(tmp_path / "sdist" / name) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    unpacked, = (tmp_path / "unpacked").iterdir()
    assert runtime.build_origin(str(unpacked / "drac_ssl")) == {"build_commit": commit, "build_dirty": True}
    package = _installed(_wheel(unpacked, tmp_path / "dist"), tmp_path / "site")
    assert runtime.build_origin(str(package)) == {"build_commit": commit, "build_dirty": True}
    assert _metadata_version(package.parent) == f"0.1.0+1.g{commit[:7]}.dirty" == name.split("-")[1].removesuffix(".tar.gz")
    # the docs the messages cite reach the wheel through the sdist too (MANIFEST.in's graft)
    assert sorted(p.name for p in (package / "docs").iterdir()) == sorted(p.name for p in (REPO / "docs").glob("*.md"))
    assert runtime.build_commit_words(str(package)) == f"built from commit {commit[:7]} with uncommitted changes"


def test_no_commit_is_taken_from_another_projects_repository(tmp_path: Path) -> None:
    """An sdist unpacked inside a user's own git project: git would name the user's commit."""
    setup = _setup_module()
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine\n", encoding="utf-8")
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "the user's work")
    inside = project / "vendor" / "drac_ssl-0.1.0"
    (inside / "drac_ssl").mkdir(parents=True)
    assert setup["source_commit"](str(inside)) is None
    assert setup["source_commit"](str(tmp_path / "nowhere")) is None
    target = inside / "drac_ssl" / "_build_info.py"
    target.write_text(setup["build_info_text"]("a" * 40, False, 3), encoding="utf-8")
    assert setup["write_build_info"](str(target), str(inside)) is False  # the sdist's record kept
    assert runtime.build_origin(str(inside / "drac_ssl")) == {"build_commit": "a" * 40, "build_dirty": False}


def test_a_file_without_a_commit_is_no_build_record(tmp_path: Path) -> None:
    assert runtime.build_origin(str(tmp_path)) == {}
    for text in ("BUILD_COMMIT = 'unknown'\n", "BUILD_COMMIT = __import__('os').getcwd()\n", "BUILD_COMMIT = ("):
        (tmp_path / "_build_info.py").write_text(text, encoding="utf-8")
        assert runtime.build_origin(str(tmp_path)) == {}, text
    assert runtime.build_origin(str(REPO / "drac_ssl")) == {}  # a checkout: git names it


def test_a_wheel_built_without_git_names_no_commit_of_an_earlier_build(tmp_path: Path) -> None:
    """setuptools keeps ``build/lib`` between builds: a wheel built from the checkout once git
    is gone (a Docker build whose ``.dockerignore`` lists ``.git``; git refusing a checkout of
    another owner) carried the first build's record and named a commit it was not built from."""
    checkout, commit = _checkout(tmp_path / "checkout")
    first = _installed(_wheel(checkout, tmp_path / "dist1"), tmp_path / "site1")
    assert runtime.build_origin(str(first)) == {"build_commit": commit, "build_dirty": False}
    assert (checkout / "build" / "lib" / "drac_ssl" / "_build_info.py").is_file()  # the leftover
    shutil.rmtree(checkout / ".git")
    (checkout / "drac_ssl" / "runtime.py").write_text("# changed\n", encoding="utf-8", newline="")
    second = _wheel(checkout, tmp_path / "dist2")
    with zipfile.ZipFile(second) as archive:
        assert "drac_ssl/_build_info.py" not in archive.namelist()
    assert runtime.build_origin(str(_installed(second, tmp_path / "site2"))) == {}
