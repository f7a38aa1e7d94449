"""Whose commit a run records (a user's report): ``git -C <the installed drac_ssl>`` named the
commit of the user's own git project when drac_ssl was installed into a venv inside it, and
``environment.json``, report.md and the model card recorded it as drac_ssl's. git is now
trusted only for a checkout of drac_ssl (:func:`drac_ssl.runtime.code_source`); otherwise the
commit is unknown and ``code_source`` says what the package is.

Each case is a temporary git repository: the user's project, with a copy of the package (or a
link to one) where a venv or a vendored copy would put it."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_in_tests import NO_CONFIG, isolated_git, run_git, shut_out_git_config

from drac_ssl import runtime

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed: no "
                                "repository to wrap the package in")


def _git(repo: Path, *args: str) -> str:
    return isolated_git(repo, *args)


def _user_project(root: Path, pyproject_name: str = "my_clinic_study") -> tuple[Path, str]:
    """A user's git project with one commit; (its folder, its full commit)."""
    root.mkdir(parents=True)
    _git(root, "init", "-q")
    (root / "pyproject.toml").write_text(f'[project]\nname = "{pyproject_name}"\nversion = "1.0"\n')
    (root / "analysis.py").write_text("print('my study')\n")
    (root / ".gitignore").write_text(".venv/\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "the user's own work")
    return root, _git(root, "rev-parse", "HEAD")


def _copy_package(to: Path) -> Path:
    shutil.copytree(REPO / "drac_ssl", to, ignore=shutil.ignore_patterns("__pycache__"))
    return to


@pytest.fixture
def package_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Point :mod:`drac_ssl.runtime` at another package folder (as if that copy were imported)."""
    monkeypatch.delenv("DRAC_SSL_CODE_STAMP", raising=False)

    def point(folder: Path) -> None:
        monkeypatch.setattr(runtime, "_PACKAGE_DIR", str(folder))
        runtime.code_source.cache_clear()

    runtime.code_source.cache_clear()
    yield point
    runtime.code_source.cache_clear()


def _assert_unknown(commit: str, source: str) -> None:
    assert runtime.code_source() == source
    assert runtime.git_commit() == "unknown" and runtime.git_dirty() is None
    assert set(runtime.code_version()) == {"code_fingerprint"}  # no commit: the fingerprint alone
    origin = runtime.code_origin()
    assert origin["git_commit"] == "unknown" and origin["code_source"] == source, origin
    assert "distribution_version" in origin
    assert commit[:7] not in json.dumps(origin) and commit[:7] not in runtime.unknown_code_words()


def test_a_copy_in_a_venv_inside_the_users_repository_does_not_report_the_users_commit(
        tmp_path: Path, package_at) -> None:
    project, commit = _user_project(tmp_path / "project")
    site = project / ".venv" / "lib" / "python3.12" / "site-packages"
    package = _copy_package(site / "drac_ssl")
    package_at(package)
    _assert_unknown(commit, "installed package")
    # the venv tracked after all (git add -f): its path is not drac_ssl/__init__.py at the top
    _git(project, "add", "-f", ".venv")
    _git(project, "commit", "-q", "-m", "venv committed by mistake")
    _assert_unknown(_git(project, "rev-parse", "HEAD"), "installed package")
    assert "installed package" in runtime.unknown_code_words()
    from drac_ssl import report  # report.md's line on what wrote it

    (tmp_path / "run").mkdir()
    line = report.provenance_line(tmp_path / "run")
    assert "at commit unknown (an installed package, not a git checkout of drac_ssl" in line, line


def test_a_linked_or_vendored_source_tree_in_the_users_repository_is_not_trusted(
        tmp_path: Path, package_at) -> None:
    """A drac_ssl source tree (its pyproject.toml beside the package) tracked by the user's
    repository in a sub-folder, reached through a venv's symlink; and the package copied to the
    top level of a user's project (drac_ssl/__init__.py tracked there, the user's pyproject)."""
    project, _ = _user_project(tmp_path / "project")
    vendored = project / "third_party" / "drac_ssl_src"
    _copy_package(vendored / "drac_ssl")
    shutil.copyfile(REPO / "pyproject.toml", vendored / "pyproject.toml")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "vendor drac_ssl")
    commit = _git(project, "rev-parse", "HEAD")
    link = project / ".venv" / "lib" / "python3.12" / "site-packages" / "drac_ssl"
    link.parent.mkdir(parents=True)
    try:
        link.symlink_to(vendored / "drac_ssl", target_is_directory=True)
    except OSError:
        link = vendored / "drac_ssl"  # no symlinks here (Windows without the right): the tree itself
    package_at(link)
    _assert_unknown(commit, "untracked source tree")

    top, _ = _user_project(tmp_path / "top")
    _copy_package(top / "drac_ssl")
    _git(top, "add", "-A")
    _git(top, "commit", "-q", "-m", "copy drac_ssl in")
    package_at(top / "drac_ssl")
    _assert_unknown(_git(top, "rev-parse", "HEAD"), "installed package")


def _drac_ssl_checkout(tmp_path: Path) -> Path:
    """A git repository whose top level is a drac_ssl checkout (pyproject.toml, the package), one commit."""
    checkout = tmp_path / "drac_ssl_checkout"
    checkout.mkdir()
    _git(checkout, "init", "-q")
    shutil.copyfile(REPO / "pyproject.toml", checkout / "pyproject.toml")
    _copy_package(checkout / "drac_ssl")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "drac_ssl")
    return checkout


def test_a_checkout_of_drac_ssl_reports_its_commit(tmp_path: Path, package_at) -> None:
    """The control: a repository whose top level is a drac_ssl checkout (its pyproject.toml,
    drac_ssl/__init__.py tracked there) is asked, and its commit recorded."""
    checkout = _drac_ssl_checkout(tmp_path)
    commit = _git(checkout, "rev-parse", "HEAD")
    package_at(checkout / "drac_ssl")
    assert runtime.code_source() == "git"
    assert commit.startswith(runtime.git_commit()) and runtime.git_dirty() is False
    origin = runtime.code_origin()
    assert origin["code_source"] == "git" and commit.startswith(origin["git_commit"])
    version = runtime.code_version()
    assert version is not None and commit.startswith(version["git_commit"])


def test_an_imported_copy_in_a_users_venv_records_no_commit(tmp_path: Path) -> None:
    """As a user runs it: the copy in the venv is what Python imports (not this checkout)."""
    project, commit = _user_project(tmp_path / "project")
    site = project / ".venv" / "lib" / "python3.12" / "site-packages"
    _copy_package(site / "drac_ssl")
    code = ("import json, drac_ssl, drac_ssl.runtime as r\n"
            "print(json.dumps({'file': drac_ssl.__file__, 'origin': r.code_origin(), "
            "'version': r.code_version(), 'commit': r.git_commit()}))\n")
    env = {**os.environ, "PYTHONPATH": str(site), "NO_ALBUMENTATIONS_UPDATE": "1",
           **NO_CONFIG}
    env.pop("DRAC_SSL_CODE_STAMP", None)
    proc = subprocess.run([sys.executable, "-c", code], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    said = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(said["file"]).resolve().is_relative_to(site.resolve()), said["file"]
    assert said["commit"] == "unknown" and set(said["version"]) == {"code_fingerprint"}
    assert said["origin"]["code_source"] == "installed package"
    assert commit[:7] not in proc.stdout


def test_a_checkout_git_refuses_to_read_says_so_with_the_safe_directory_fix(
        tmp_path: Path, package_at, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F5: in a drac_ssl checkout owned by another account git exits 128 ("detected
    dubious ownership"); the run recorded "a drac_ssl source tree that is not a git checkout of
    its own" and another tree's installed version. git's refusal is played (root reads all)."""
    checkout = _drac_ssl_checkout(tmp_path)
    real_run = subprocess.run

    def refusing(args, *rest, **kwargs):  # type: ignore[no-untyped-def]
        if args and args[0] == "git":
            return subprocess.CompletedProcess(args, 128, "", f"fatal: detected dubious ownership in "
                                               f"repository at '{checkout}'\n")
        return real_run(args, *rest, **kwargs)

    monkeypatch.setattr(runtime.subprocess, "run", refusing)
    package_at(checkout / "drac_ssl")
    assert runtime.code_source() == "git refused"
    assert runtime.git_commit() == "unknown" and runtime.code_origin()["code_source"] == "git refused"
    words = runtime.unknown_code_words()
    assert "git refused to read" in words and "not a git checkout" not in words
    assert f"git config --global --add safe.directory {checkout.resolve()}" in words, words
    from drac_ssl import __version__

    # the version is this package's, not that of a distribution installed from another tree
    assert runtime.distribution_version(str(checkout / "drac_ssl")) == __version__
    # a source tree with no .git of its own is still an untracked one
    package_at(tmp_path / "plain" / "drac_ssl")
    _copy_package(tmp_path / "plain" / "drac_ssl")
    shutil.copyfile(REPO / "pyproject.toml", tmp_path / "plain" / "pyproject.toml")
    runtime.code_source.cache_clear()
    assert runtime.code_source() == "untracked source tree"


def test_the_distribution_version_is_used_only_when_its_files_are_this_package(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package_at) -> None:
    import importlib.metadata

    from drac_ssl import __version__

    package_at(_copy_package(tmp_path / "site-packages" / "drac_ssl"))  # an installed package

    class Other:  # an editable install of another tree, of another version
        version = "9.9.9"
        files = ["drac_ssl/__init__.py"]

        @staticmethod
        def locate_file(name: str) -> Path:
            return Path("/elsewhere/src") / name

    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: Other)
    assert runtime.distribution_version() == __version__
    Other.locate_file = staticmethod(lambda name: Path(runtime._PACKAGE_DIR).parent / name)
    assert runtime.distribution_version() == "9.9.9"


def test_a_checkout_with_a_builds_egg_info_records_its_own_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package_at) -> None:
    """A review (F3): a wheel or sdist built in a checkout leaves ``drac_ssl.egg-info`` there
    (listing drac_ssl/__init__.py), which importlib.metadata finds from the current folder; a
    later run from the checkout recorded that build's version (another commit's) in
    environment.json. A source tree is named by its own ``__version__``."""
    from drac_ssl import __version__

    checkout = _drac_ssl_checkout(tmp_path)
    egg_info = checkout / "drac_ssl.egg-info"
    egg_info.mkdir()
    (egg_info / "PKG-INFO").write_text("Metadata-Version: 2.4\nName: drac_ssl\nVersion: 9.9.9\n", encoding="utf-8")
    (egg_info / "SOURCES.txt").write_text("pyproject.toml\ndrac_ssl/__init__.py\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(checkout))  # run from the checkout: its folder first on sys.path
    assert importlib.metadata.distribution("drac_ssl").version == "9.9.9"  # the stale record is found
    package_at(checkout / "drac_ssl")
    assert runtime.code_source() == "git"
    assert runtime.distribution_version() == __version__ != "9.9.9"
    assert runtime.code_origin()["distribution_version"] == __version__
    # the same tree copied without git (an untracked source tree, e.g. an unpacked sdist)
    shutil.rmtree(checkout / ".git")
    package_at(checkout / "drac_ssl")
    assert runtime.code_source() == "untracked source tree"
    assert runtime.distribution_version() == __version__


def test_a_dirty_checkout_records_the_full_commit_the_diffs_hash_and_the_changed_files(
        tmp_path: Path, package_at) -> None:
    """environment.json names the code exactly (an audit: a short commit and "dirty" could not
    tell two dirty runs of one commit apart): the full SHA always; with changes, the SHA-256
    of ``git diff HEAD`` and the changed and untracked files under the package folders."""
    checkout = _drac_ssl_checkout(tmp_path)
    (checkout / "docs").mkdir()
    (checkout / "docs" / "notes.md").write_text("notes\n")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "docs")
    commit = _git(checkout, "rev-parse", "HEAD")
    package_at(checkout / "drac_ssl")
    clean = runtime.code_origin()
    assert clean["git_commit_full"] == commit and len(commit) == 40
    assert commit.startswith(clean["git_commit"]) and clean["git_dirty"] is False
    assert "git_diff_sha256" not in clean and "git_changed_files" not in clean
    # a changed module, a new config (untracked) and a changed document
    module = checkout / "drac_ssl" / "metrics.py"
    module.write_text(module.read_text() + "\n# a local change\n")
    (checkout / "configs").mkdir()
    (checkout / "configs" / "mine.yaml").write_text("run:\n  seed: 1\n")
    (checkout / "docs" / "notes.md").write_text("other notes\n")
    dirty = runtime.code_origin()
    diff = run_git(checkout, "diff", "HEAD", "--binary", "--full-index", text=False).stdout
    assert dirty["git_dirty"] is True and dirty["git_commit_full"] == commit
    assert dirty["git_diff_sha256"] == hashlib.sha256(diff).hexdigest()
    assert dirty["git_changed_files"] == ["drac_ssl/metrics.py"]  # docs/ is no package folder
    assert dirty["git_untracked_files"] == ["configs/mine.yaml"]
    # another change to the same file: the same commit and flag, another hash
    module.write_text(module.read_text() + "# and another\n")
    assert runtime.code_origin()["git_diff_sha256"] != dirty["git_diff_sha256"]
    # only an untracked file under a package folder: git_dirty stays False as before (its
    # meaning is kept), the file is named, and there is no diff to hash
    _git(checkout, "checkout", "-q", "--", ".")
    untracked_only = runtime.code_origin()
    assert untracked_only["git_dirty"] is False and untracked_only["git_diff_sha256"] is None
    assert untracked_only["git_untracked_files"] == ["configs/mine.yaml"]
    assert untracked_only["git_changed_files"] == []
    json.dumps(untracked_only)  # environment.json can hold it


def test_a_file_name_that_is_no_utf8_is_recorded_not_a_crash(tmp_path: Path, package_at,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A review, F1: one untracked file under drac_ssl/ whose name is no UTF-8 made
    environment_info() raise UnicodeDecodeError, so every run ended at its start. Its name is
    now kept with the odd byte written as ``\\xff``, and environment.json can hold it; a
    tracked one changed under ``core.quotepath=false`` (git prints its bytes raw) likewise."""
    checkout = _drac_ssl_checkout(tmp_path)
    tracked = os.path.join(os.fsencode(checkout), b"drac_ssl", b"old\xfe.py")
    with open(tracked, "wb") as fh:
        fh.write(b"x = 1\n")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "a file named in Latin-1")
    with open(tracked, "ab") as fh:
        fh.write(b"y = 2\n")
    with open(os.path.join(os.fsencode(checkout), b"drac_ssl", b"bad\xff.py"), "wb") as fh:
        fh.write(b"z = 3\n")
    config = tmp_path / "gitconfig"
    config.write_text("[core]\n\tquotepath = false\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    package_at(checkout / "drac_ssl")
    origin = runtime.code_origin()
    assert origin["git_dirty"] is True
    assert origin["git_untracked_files"] == ["drac_ssl/bad\\xff.py"]
    assert origin["git_changed_files"] == ["drac_ssl/old\\xfe.py"]
    json.dumps(origin, ensure_ascii=False).encode("utf-8")  # environment.json is written in UTF-8


_HOSTILE_GIT_CONFIG = """[color]
\tui = always
[diff]
\tnoprefix = true
\trenames = copies
\talgorithm = histogram
\tcontext = 9
\tinterHunkContext = 5
\tsuppressBlankEmpty = true
\torderFile = {order}
\texternal = {external}
[core]
\tabbrev = 12
\tattributesFile = {attributes}
\tquotePath = false
[diff "shout"]
\ttextconv = tr a-z A-Z <
"""


def test_the_diffs_hash_does_not_follow_the_users_git_configuration(
        tmp_path: Path, package_at, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review, F2: ``git diff HEAD --binary`` followed the user's git configuration
    (``color.ui=always``, ``diff.noprefix``, ``diff.renames=copies`` gave three hashes of one
    tree). Under a configuration that sets each such option, the hash is the one of a plain
    configuration, and is the SHA-256 of the diff with git's defaults and no rename detection."""
    checkout = _drac_ssl_checkout(tmp_path)
    module = checkout / "drac_ssl" / "metrics.py"
    lines = module.read_text().splitlines(keepends=True)
    module.write_text("".join(lines[:5] + ["\n", "# a local change\n", "\n"] + lines[5:] + ["# the end\n"]))
    _git(checkout, "mv", "drac_ssl/collapse.py", "drac_ssl/collapse_moved.py")
    (checkout / "drac_ssl" / "caf\u00e9.txt").write_text("accents\n")
    _git(checkout, "add", "drac_ssl/caf\u00e9.txt")
    package_at(checkout / "drac_ssl")
    shut_out_git_config(monkeypatch)
    plain = runtime.code_origin()["git_diff_sha256"]
    expected = run_git(checkout, "diff", "HEAD", "--binary", "--full-index", "--no-renames", text=False).stdout
    assert plain == hashlib.sha256(expected).hexdigest()
    (tmp_path / "order").write_text("drac_ssl/metrics.py\n")
    (tmp_path / "attributes").write_text("*.py diff=shout\n")
    external = tmp_path / "external.sh"
    external.write_text("#!/bin/sh\necho hostile\n")
    external.chmod(0o755)
    hostile = tmp_path / "hostile_gitconfig"
    hostile.write_text(_HOSTILE_GIT_CONFIG.format(order=tmp_path / "order", external=external,
                                                  attributes=tmp_path / "attributes"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(hostile))
    monkeypatch.setenv("GIT_DIFF_OPTS", "--unified=1")  # a final read, F2: it overrode --unified=3
    assert runtime.code_origin()["git_diff_sha256"] == plain


def test_the_diffs_options_are_ones_an_older_git_knows() -> None:
    """A final read, F1: ``--no-relative`` (git 2.28) made every diff "unavailable" on older
    gits (Ubuntu 20.04 has 2.25); settings that need a newer option go through ``git -c``,
    which an older git ignores when it does not know them."""
    assert "--no-relative" not in runtime.DIFF_ARGS
    assert "diff.relative=false" in runtime.DIFF_CONFIG
    assert "core.quotePath=true" in runtime.DIFF_CONFIG


def test_a_diff_git_cannot_give_is_unavailable_not_none(tmp_path: Path, package_at,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``git_diff_sha256`` None says only untracked files differ; when the diff itself fails
    (or times out) while files changed, it says ``"unavailable"`` (a review, F2)."""
    checkout = _drac_ssl_checkout(tmp_path)
    module = checkout / "drac_ssl" / "metrics.py"
    module.write_text(module.read_text() + "# a local change\n")
    package_at(checkout / "drac_ssl")
    asked = runtime._git_out

    def diff_fails(*args: str, **kwargs: object) -> object:
        return None if "--binary" in args else asked(*args, **kwargs)

    monkeypatch.setattr(runtime, "_git_out", diff_fails)
    origin = runtime.code_origin()
    assert origin["git_diff_sha256"] == "unavailable"
    assert origin["git_changed_files"] == ["drac_ssl/metrics.py"]


def test_a_dirty_checkouts_changes_are_saved_as_code_patch_up_to_a_cap(tmp_path: Path, package_at) -> None:
    """A reproducibility review: a dirty tree recorded git_diff_sha256 and the changed files'
    names, not the changes: the run's code could be told apart but not remade."""
    checkout = _drac_ssl_checkout(tmp_path)
    package_at(checkout / "drac_ssl")
    run = tmp_path / "run"
    run.mkdir()
    assert runtime.save_code_patch(run) is None and not (run / "code.patch").exists()  # clean: nothing
    module = checkout / "drac_ssl" / "metrics.py"
    original = module.read_bytes()
    module.write_text(module.read_text() + "# a local change\n")
    assert runtime.save_code_patch(run) == "code.patch"
    patch = (run / "code.patch").read_bytes()
    assert hashlib.sha256(patch).hexdigest() == runtime.code_origin()["git_diff_sha256"]
    module.write_bytes(original)  # the patch remakes the change on the commit
    _git(checkout, "apply", str(run / "code.patch"))
    assert module.read_text().endswith("# a local change\n")
    (run / "code.patch").unlink()
    # the patch is the diff git_diff_sha256 hashed (a final review, F6): an edit between the two
    # took another diff for code.patch
    module.write_text(module.read_text() + "# a local change\n")
    said = runtime.code_origin()["git_diff_sha256"]
    module.write_text(module.read_text() + "# an edit after the hash\n")
    assert runtime.save_code_patch(run, said) == "code.patch"
    assert hashlib.sha256((run / "code.patch").read_bytes()).hexdigest() == said
    assert [p.name for p in run.iterdir()] == ["code.patch"]  # no temporary file left
    module.write_bytes(original + b"# a local change\n")  # as the patch left it
    (run / "code.patch").unlink()
    assert runtime.save_code_patch(run, limit=10) == f"not saved: {len(patch) / 2**20:.1f} MiB, over the {10 / 2**20:g} MiB cap"
    assert not (run / "code.patch").exists()


def test_the_unknown_code_words_name_the_build_commit_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: an installed wheel's words said ``drac_ssl 0.1.0+g3740114; built from commit
    3740114``, the commit twice. The build's commit is said when the version does not name it."""
    commit = "3740114" + "d" * 33
    monkeypatch.setattr(runtime, "code_source", lambda package_dir=None: "installed package")
    for dirty, label in ((False, ""), (True, ".dirty")):
        monkeypatch.setattr(runtime, "build_origin", lambda package_dir=None, d=dirty: {
            "build_commit": commit, "build_dirty": d})
        built = f"0.1.0+57.g3740114{label}"  # the version the build recorded
        monkeypatch.setattr(runtime, "build_version", lambda package_dir=None, v=built: v)
        monkeypatch.setattr(runtime, "distribution_version", lambda package_dir=None, v=built: v)
        words = runtime.unknown_code_words()
        assert words.endswith(f"; drac_ssl {built})") and "built from" not in words, words
        # a version other than the build's (a wheel built before the label, or another commit's)
        for version in ("0.1.0", "0.1.0+58.g22065ff"):
            monkeypatch.setattr(runtime, "distribution_version", lambda package_dir=None, v=version: v)
            assert runtime.unknown_code_words().endswith(
                f"; drac_ssl {version}; built from commit 3740114{' with uncommitted changes' if dirty else ''})")
