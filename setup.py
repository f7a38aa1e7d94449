"""The build's record of the commit it was built from, and the version naming it
(:func:`package_version`: ``0.1.0+57.g1a2b3c4``); everything else is in pyproject.toml.

A wheel installed from a checkout recorded ``git_commit: unknown`` and version 0.1.0 in every
run's ``environment.json``: wheels of different commits could not be told apart (a packaging
review, F4). A build from a git checkout of drac_ssl now writes ``drac_ssl/_build_info.py``
into the wheel (``build_py``) and into the sdist (``sdist``; a wheel built from that sdist,
where there is no git, copies it as a module of the package): the full commit and whether
tracked files differed from it, and the number of commits up to it. :func:`drac_ssl.runtime.build_origin` reads it, and
``environment.json`` records it as ``build_commit`` and ``build_dirty``. Never written into the
checkout itself (``.gitignore`` lists it all the same), nor for an editable install, which runs
from the checkout and is named by git. Standard library and setuptools only: no new build
dependency.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.abspath(__file__))
BUILD_INFO = os.path.join("drac_ssl", "_build_info.py")
"""Where the record lies in the wheel and the sdist, relative to their top folder."""


def source_commit(root: str = ROOT) -> tuple[str, bool | None, int | None] | None:
    """``(full commit, dirty, count)`` of the git checkout whose top folder is ``root``; dirty:
    whether tracked files differ from the commit (None when git would not say); count: the
    commits up to and including it (``git rev-list --count HEAD``), None in a shallow clone,
    whose history is cut (its count would be too small), or when git would not say. None when git is
    missing or fails, or ``root`` is not the top of its own repository (an sdist unpacked inside
    another project's repository: git would name that project's commit)."""
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                              timeout=30, check=False)

    try:
        top = git("rev-parse", "--show-toplevel")
        if top.returncode != 0 or os.path.realpath(top.stdout.strip()) != os.path.realpath(root):
            return None
        head = git("rev-parse", "--verify", "HEAD")
        if head.returncode != 0:  # a repository without a commit yet
            return None
        status = git("status", "--porcelain", "--untracked-files=no")
        shallow = git("rev-parse", "--is-shallow-repository")
        count = git("rev-list", "--count", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None
    counted = (int(count.stdout.strip()) if count.returncode == 0 and count.stdout.strip().isdigit()
               and shallow.returncode == 0 and shallow.stdout.strip() == "false" else None)
    return (head.stdout.strip(), (bool(status.stdout.strip()) if status.returncode == 0 else None),
            counted)


def base_version(root: str = ROOT) -> str:
    """The release part of the version: ``drac_ssl/__init__.py``'s ``__version__ = "..."``
    literal under ``root`` (read, not imported: the package needs what the build may lack)."""
    with open(os.path.join(root, "drac_ssl", "__init__.py"), encoding="utf-8") as fh:
        found = re.search(r'^__version__ = "([^"]+)"$', fh.read(), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no __version__ = \"...\" line in {root}/drac_ssl/__init__.py")
    return found.group(1)


def local_version(base: str, commit: str, dirty: bool | None, count: int | None) -> str:
    """``base`` with a PEP 440 local label naming the build's commit, after the number of
    commits up to it: ``0.1.0+57.g1a2b3c4``, and ``.dirty`` when tracked files differed from it
    (``0.1.0+57.g1a2b3c4.dirty``); ``0.1.0+g1a2b3c4`` when the count is unknown (a shallow
    clone), which sorts before every counted label. Every commit built as plain 0.1.0 (a
    packaging trial, F3): pip took a newer wheel for the installed one ("already installed with
    the same version") and wheel files of two commits collided. The count comes first because
    PEP 440 compares local labels segment by segment, a number as a number: with the commit's
    hash first (``+g3740114`` against ``+g22065ff``) versions sorted by hash text, and
    ``pip install --upgrade`` from a wheelhouse of several builds could keep an older one (a
    review, F2). The label stays local, not ``.postN`` or ``.devN``: the base stays
    ``__version__``'s release (a requirement ``drac_ssl==0.1.0`` still matches), pip does not
    take a build for a pre-release (``.devN``: left out without ``--pre`` beside a release), and
    no next release number is guessed; local labels cannot go to PyPI, where drac_ssl is not."""
    label = f"{count}.g{commit[:7]}" if count is not None else f"g{commit[:7]}"
    return f"{base}+{label}" + (".dirty" if dirty else "")


def recorded_build(root: str = ROOT) -> tuple[str, bool | None, int | None] | None:
    """``(commit, dirty, count)`` of the build record an sdist carries (``drac_ssl/_build_info.py``
    under ``root``, its literals read without importing it); None without one."""
    try:
        with open(os.path.join(root, BUILD_INFO), encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return None
    said = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) for target in node.targets
            if isinstance(target, ast.Name)}
    commit, dirty, count = said.get("BUILD_COMMIT"), said.get("BUILD_DIRTY"), said.get("BUILD_COUNT")
    # a full commit, the rule of drac_ssl.runtime.BUILD_COMMIT_PATTERN (the package is not imported here)
    if not isinstance(commit, str) or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
        return None
    counted = count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None
    return commit, dirty if isinstance(dirty, bool) else None, counted


def package_version(root: str = ROOT) -> str:
    """The version a build of ``root`` gets: :func:`local_version` of its git commit (a
    checkout), else of the commit an sdist recorded (a rebuild from the sdist: the same
    version as the sdist), else :func:`base_version` alone (no git, no record)."""
    base = base_version(root)
    record = source_commit(root) or recorded_build(root)
    return local_version(base, *record) if record else base


def build_info_text(commit: str, dirty: bool | None, count: int | None, root: str = ROOT) -> str:
    """The text of ``drac_ssl/_build_info.py``: literals that
    :func:`drac_ssl.runtime.build_origin` reads without importing the file, and the version
    (:func:`local_version`) that ``drac_ssl/__init__.py`` takes as ``__version__``, the one
    the wheel's metadata has."""
    return ('"""Written by setup.py when this wheel or sdist was built: the commit of the drac_ssl\n'
            'checkout it was built from (drac_ssl.runtime.build_origin reads it). Not in git."""\n\n'
            f"BUILD_COMMIT = {commit!r}\n"
            f"BUILD_DIRTY = {dirty!r}  # tracked files differed from the commit (None: unknown)\n"
            f"BUILD_COUNT = {count!r}  # commits up to it, git rev-list --count (None: a shallow clone)\n"
            f"BUILD_VERSION = {local_version(base_version(root), commit, dirty, count)!r}  # drac_ssl.__version__\n")


def write_build_info(path: str, root: str = ROOT) -> bool:
    """Write :func:`build_info_text` of ``root``'s commit to ``path``; False (nothing written,
    an existing file kept: the one an sdist carries) when ``root`` is no git checkout."""
    record = source_commit(root)
    if record is None:
        return False
    if os.path.lexists(path):
        os.remove(path)  # sdist's release tree hard-links the source files: never write through one
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(build_info_text(*record, root=root))
    return True


def record_build_info(build_lib: str, root: str = ROOT) -> None:
    """The commit record of a build whose package lies under ``build_lib``: written from
    ``root``'s git checkout; without git (a checkout copied without ``.git``, as a Docker build
    with ``.dockerignore`` listing it, or one git refuses for its owner), an earlier build's
    record left in ``build_lib`` (``build/lib``: setuptools keeps it between builds) is removed,
    or the wheel would name that build's commit. An sdist's own record, a module of ``root``'s
    package that ``build_py`` copied, is kept."""
    target = os.path.join(build_lib, BUILD_INFO)
    if write_build_info(target, root):
        return
    if not os.path.exists(os.path.join(root, BUILD_INFO)) and os.path.lexists(target):
        os.remove(target)


def command_classes() -> dict[str, type]:
    """setuptools' ``build_py`` and ``sdist``, each writing the commit after its own work.
    setuptools is imported here, not at the top: tests load this file's functions without it
    (setuptools would replace a distutils already imported)."""
    from setuptools.command.build_py import build_py
    from setuptools.command.sdist import sdist

    class BuildPyWithCommit(build_py):
        """``build_py``, then the commit into the built package (not for an editable install:
        it runs from the checkout, which git names)."""

        def run(self) -> None:
            super().run()
            if not self.editable_mode:
                record_build_info(self.build_lib)

    class SdistWithCommit(sdist):
        """``sdist``, with the commit in its tree: a wheel built from the sdist (no git there)
        carries it as a module of the package."""

        def make_release_tree(self, base_dir: str, files: list[str]) -> None:
            super().make_release_tree(base_dir, files)
            write_build_info(os.path.join(base_dir, BUILD_INFO))

    return {"build_py": BuildPyWithCommit, "sdist": SdistWithCommit}


SETUPTOOLS_NEEDED = 77
"""The oldest setuptools that reads pyproject.toml's ``license = "Apache-2.0"`` (a PEP 639
license expression) and ``license-files``; pyproject.toml's ``[build-system] requires`` says
the same to an isolated build."""


def check_setuptools(version: str) -> None:
    """Raise RuntimeError, saying what, why and how to fix, when setuptools ``version`` is older
    than :data:`SETUPTOOLS_NEEDED`. A build without isolation (``pip wheel --no-build-isolation``,
    ``python -m build --no-isolation``) uses the environment's setuptools, ignoring
    ``[build-system] requires``: setuptools < 77 stopped with "project.license must be valid
    exactly by one definition (2 matches found)", which names neither cause nor fix (a packaging
    review, F4). A version that does not start with a number is let through."""
    leading = version.split(".", 1)[0]
    if leading.isdigit() and int(leading) < SETUPTOOLS_NEEDED:
        raise RuntimeError(
            f"drac_ssl needs setuptools >= {SETUPTOOLS_NEEDED} to build, and this environment has "
            f"setuptools {version}: pyproject.toml's license is a PEP 639 license expression "
            f"(license = \"Apache-2.0\"), which older setuptools rejects (\"project.license must be "
            f"valid exactly by one definition\"). Fix: pip install 'setuptools>={SETUPTOOLS_NEEDED}' "
            f"in this environment, or build with isolation (leave out --no-build-isolation / "
            f"--no-isolation: pip and build then fetch a new enough setuptools)")


if __name__ == "__main__":  # setuptools' build backend runs this file as __main__
    import setuptools

    check_setuptools(setuptools.__version__)
    setuptools.setup(version=package_version(), cmdclass=command_classes())
