"""The build's record of the commit it was built from; everything else is in pyproject.toml.

A wheel installed from a checkout recorded ``git_commit: unknown`` and version 0.1.0 in every
run's ``environment.json``: wheels of different commits could not be told apart (a packaging
review, F4). A build from a git checkout of drac_ssl now writes ``drac_ssl/_build_info.py``
into the wheel (``build_py``) and into the sdist (``sdist``; a wheel built from that sdist,
where there is no git, copies it as a module of the package): the full commit and whether
tracked files differed from it. :func:`drac_ssl.runtime.build_origin` reads it, and
``environment.json`` records it as ``build_commit`` and ``build_dirty``. Never written into the
checkout itself (``.gitignore`` lists it all the same), nor for an editable install, which runs
from the checkout and is named by git. Standard library and setuptools only: no new build
dependency.
"""

from __future__ import annotations

import os
import subprocess

ROOT = os.path.dirname(os.path.abspath(__file__))
BUILD_INFO = os.path.join("drac_ssl", "_build_info.py")
"""Where the record lies in the wheel and the sdist, relative to their top folder."""


def source_commit(root: str = ROOT) -> tuple[str, bool | None] | None:
    """``(full commit, dirty)`` of the git checkout whose top folder is ``root``; dirty: whether
    tracked files differ from the commit (None when git would not say). None when git is
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
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip(), (bool(status.stdout.strip()) if status.returncode == 0 else None)


def build_info_text(commit: str, dirty: bool | None) -> str:
    """The text of ``drac_ssl/_build_info.py``: two literals that
    :func:`drac_ssl.runtime.build_origin` reads without importing the file."""
    return ('"""Written by setup.py when this wheel or sdist was built: the commit of the drac_ssl\n'
            'checkout it was built from (drac_ssl.runtime.build_origin reads it). Not in git."""\n\n'
            f"BUILD_COMMIT = {commit!r}\n"
            f"BUILD_DIRTY = {dirty!r}  # tracked files differed from the commit (None: unknown)\n")


def write_build_info(path: str, root: str = ROOT) -> bool:
    """Write :func:`build_info_text` of ``root``'s commit to ``path``; False (nothing written,
    an existing file kept: the one an sdist carries) when ``root`` is no git checkout."""
    record = source_commit(root)
    if record is None:
        return False
    if os.path.lexists(path):
        os.remove(path)  # sdist's release tree hard-links the source files: never write through one
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(build_info_text(*record))
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
    setuptools.setup(cmdclass=command_classes())
