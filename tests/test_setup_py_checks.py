"""setup.py's own checks and version (a packaging trial): a build without isolation under
setuptools < 77 stopped with "project.license must be valid exactly by one definition (2 matches
found)", naming neither the cause nor the fix (F4); every commit built as version 0.1.0 (F3).
setup.py's functions are loaded without
running setup()."""

from __future__ import annotations

import re
import runpy
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from git_in_tests import isolated_git

REPO = Path(__file__).resolve().parents[1]


def _setup_module() -> dict[str, Any]:
    return runpy.run_path(str(REPO / "setup.py"), run_name="drac_ssl_setup")  # setup() not run


def test_an_old_setuptools_is_refused_with_the_cause_and_the_fix() -> None:
    setup = _setup_module()
    with pytest.raises(RuntimeError) as info:
        setup["check_setuptools"]("76.1.0")
    words = str(info.value)
    assert "needs setuptools >= 77" in words and "setuptools 76.1.0" in words
    assert "PEP 639 license expression" in words
    assert "pip install 'setuptools>=77'" in words and "build with isolation" in words
    for version in ("77.0.0", "84.2.1", "100.0", "unknown"):
        setup["check_setuptools"](version)  # no error


def test_the_check_and_the_build_requirement_name_the_same_setuptools() -> None:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    assert f"setuptools>={_setup_module()['SETUPTOOLS_NEEDED']}" in requires


def _repo_with_package(root: Path) -> str:
    """A git repository at ``root`` holding ``drac_ssl/__init__.py`` (version 0.1.0), one commit."""
    (root / "drac_ssl").mkdir(parents=True)
    (root / "drac_ssl" / "__init__.py").write_text('__version__ = "0.1.0"\n', encoding="utf-8")
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "a release")):
        isolated_git(root, *args, user="builder")
    return isolated_git(root, "rev-parse", "HEAD")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_build_is_versioned_by_its_commit_and_an_sdist_keeps_that_version(tmp_path: Path) -> None:
    """F3: every commit built as 0.1.0, so pip kept an older wheel installed ("already installed
    with the same version") and wheels of two commits had one file name."""
    setup = _setup_module()
    root = tmp_path / "checkout"
    commit = _repo_with_package(root)
    assert setup["package_version"](str(root)) == f"0.1.0+1.g{commit[:7]}"
    (root / "drac_ssl" / "__init__.py").write_text('__version__ = "0.1.0"\nX = 1\n', encoding="utf-8")
    assert setup["package_version"](str(root)) == f"0.1.0+1.g{commit[:7]}.dirty"
    # an unpacked sdist: no git, the record its sdist carries names the same version
    sdist = tmp_path / "drac_ssl-0.1.0"
    (sdist / "drac_ssl").mkdir(parents=True)
    (sdist / "drac_ssl" / "__init__.py").write_text('__version__ = "0.1.0"\n', encoding="utf-8")
    assert setup["package_version"](str(sdist)) == "0.1.0"  # no git, no record: the plain version
    record = setup["build_info_text"](commit, True, 1, str(root))
    assert f"BUILD_VERSION = '0.1.0+1.g{commit[:7]}.dirty'" in record and "BUILD_COUNT = 1 " in record
    (sdist / "drac_ssl" / "_build_info.py").write_text(record, encoding="utf-8")
    assert setup["package_version"](str(sdist)) == f"0.1.0+1.g{commit[:7]}.dirty"
    # PEP 440's local label: ASCII letters and digits in segments joined by "."
    assert re.fullmatch(r"0\.1\.0\+[a-z0-9]+(\.[a-z0-9]+)*", setup["package_version"](str(sdist)))


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_checkout_s_commit_wins_over_a_stale_build_record(tmp_path: Path) -> None:
    """A checkout holding drac_ssl/_build_info.py of another commit (an earlier build's, not in
    git) is versioned by its own HEAD: the record is an sdist's, read only without git (a
    mutation audit M15: the record read first built every later commit as the old version)."""
    setup = _setup_module()
    root = tmp_path / "checkout"
    commit = _repo_with_package(root)
    stale = setup["build_info_text"]("0123456789abcdef0123456789abcdef01234567", False, 7, str(root))
    (root / "drac_ssl" / "_build_info.py").write_text(stale, encoding="utf-8")  # untracked
    assert setup["recorded_build"](str(root))[0].startswith("0123456")  # the record reads
    assert setup["package_version"](str(root)) == f"0.1.0+1.g{commit[:7]}"

@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_versions_of_successive_commits_order_as_the_commits(tmp_path: Path) -> None:
    """A review (F2): the label ``+g<hash>`` sorted by hash text, so pip kept 0.1.0+g3740114 over
    a later commit's 0.1.0+g22065ff and ``--upgrade`` from a wheelhouse of several builds
    installed an old one. The commit count comes first, compared as a number (PEP 440)."""
    version = pytest.importorskip("packaging.version")
    setup = _setup_module()
    root = tmp_path / "checkout"
    _repo_with_package(root)
    built = [setup["package_version"](str(root))]
    for n in range(2, 12):  # past 9 commits: 10 must not sort before 9, as text would
        (root / "drac_ssl" / "__init__.py").write_text(f'__version__ = "0.1.0"\nX = {n}\n', encoding="utf-8")
        if n == 11:
            built.append(setup["package_version"](str(root)))  # uncommitted changes on commit 10
            break
        isolated_git(root, "commit", "-q", "-am", f"change {n}", user="builder")
        built.append(setup["package_version"](str(root)))
    assert [v.split("+")[1].split(".")[0] for v in built[:-1]] == [str(n) for n in range(1, 11)]
    assert built[-1].endswith(".dirty")
    parsed = [version.Version(v) for v in built]  # every label parses, the dirty one too
    assert parsed == sorted(parsed) and len(set(parsed)) == len(parsed), built
    # whatever the hashes: an older commit's hash text greater than a later one's still sorts first
    assert version.Version("0.1.0+2.gffffff0") > version.Version(setup["local_version"]("0.1.0", "0" * 40, False, 1))
    # a shallow clone (count unknown) and the labels of earlier builds sort before any counted one
    assert version.Version(setup["local_version"]("0.1.0", "f" * 40, True, None)) < version.Version("0.1.0+1.g0000000")
    assert version.Version(setup["package_version"](str(root))) > version.Version("0.1.0")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_shallow_clone_names_no_commit_count(tmp_path: Path) -> None:
    """A shallow clone's ``git rev-list --count`` counts only the commits it fetched (1 with
    ``--depth 1``): a build of it would sort before older builds of a full clone. It gets no
    count (``0.1.0+g<hash>``), which sorts before every counted label, and says so."""
    setup = _setup_module()
    full = tmp_path / "full"
    _repo_with_package(full)
    (full / "drac_ssl" / "__init__.py").write_text('__version__ = "0.1.0"\nX = 2\n', encoding="utf-8")
    isolated_git(full, "commit", "-q", "-am", "second", user="builder")
    commit = isolated_git(full, "rev-parse", "HEAD")
    assert setup["package_version"](str(full)) == f"0.1.0+2.g{commit[:7]}"
    isolated_git(tmp_path, "clone", "-q", "--depth", "1", f"file://{full}", "shallow")
    assert setup["source_commit"](str(tmp_path / "shallow")) == (commit, False, None)
    assert setup["package_version"](str(tmp_path / "shallow")) == f"0.1.0+g{commit[:7]}"


def test_setup_py_and_the_package_read_one_build_record_alike(tmp_path: Path) -> None:
    """A final review (F5): setup.py's ``recorded_build`` took 7 to 64 hex digits as the commit,
    :func:`drac_ssl.runtime.build_origin` 40 or 64: an sdist whose record held a short commit
    was versioned by it while the installed package said its commit unknown. One rule, and the
    package reads the version setup.py recorded (``BUILD_VERSION``), as drac_ssl.__version__."""
    from drac_ssl import runtime

    setup = _setup_module()
    package = tmp_path / "drac_ssl"
    package.mkdir()
    (package / "__init__.py").write_text('__version__ = "0.1.0"\n', encoding="utf-8")
    for commit in ("0123456", "a" * 39, "a" * 40, "A" * 40, "b" * 64, "c" * 41):
        (package / "_build_info.py").write_text(setup["build_info_text"](commit, False, 3, str(tmp_path)),
                                                encoding="utf-8")
        record = setup["recorded_build"](str(tmp_path))
        origin = runtime.build_origin(str(package))
        assert (record is not None) == bool(origin) == (commit in ("a" * 40, "b" * 64)), commit
        assert record is None or (record[0] == origin["build_commit"] == commit
                                  and runtime.build_version(str(package)) == f"0.1.0+3.g{commit[:7]}")
