"""What the sdist carries (a packaging review, F5): setuptools' default put 9 of tests/'s files
in it (``tests/test*.py``, useless without tests/helpers, docs/ and bench/) and left out
``scripts/requirements-cpu.txt``, the constraints file the README's install passes with ``-c``.
MANIFEST.in now prunes tests/ and includes the constraints. Checked on a real sdist
(setuptools' PEP 517 ``build_sdist``, ``python -m build``'s first step, in a process of its own;
no network) of a copy of the tree, and pyproject.toml's classifiers."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

from package_tree import copy_sources

REPO = Path(__file__).resolve().parents[1]
COPIED = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "drac_ssl", "data_prep",
          "app", "configs", "scripts", "tests", "docs")


def _sdist_names(tmp_path: Path) -> set[str]:
    tree = tmp_path / "tree"
    tree.mkdir()
    copy_sources(COPIED, tree)
    done = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                           "print(build_meta.build_sdist(sys.argv[1]))", str(tmp_path / "dist")],
                          check=True, capture_output=True, text=True, timeout=300, cwd=tree)
    name = done.stdout.strip().splitlines()[-1]
    with tarfile.open(tmp_path / "dist" / name) as archive:
        top = name.removesuffix(".tar.gz") + "/"
        return {member.name.removeprefix(top) for member in archive.getmembers() if member.isfile()}


def test_the_sdist_has_the_constraints_and_the_configs_and_no_stray_tests(tmp_path: Path) -> None:
    names = _sdist_names(tmp_path)
    assert {"scripts/requirements-cpu.txt", "scripts/requirements-cpu.lock", "pyproject.toml", "setup.py",
            "MANIFEST.in", "LICENSE", "README.md", "drac_ssl/__init__.py", "app/server.py",
            "data_prep/__main__.py"} <= names, sorted(names)
    configs = {f"configs/{p.name}" for p in (REPO / "configs").glob("*.yaml")}
    assert configs and configs <= names  # the wheel's drac_ssl/configs are built from these
    docs = {f"docs/{p.relative_to(REPO / 'docs')}" for p in (REPO / "docs").rglob("*") if p.is_file()}
    assert docs and docs <= names, sorted(docs - names)  # the docs the messages cite; and its drac_ssl/docs
    assert not [n for n in names if n.startswith("tests/")], sorted(n for n in names if n.startswith("tests/"))
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    packages = [n for n in names if n.endswith(".py") and n.split("/")[0] in ("drac_ssl", "data_prep", "app")]
    on_disk = [p for top in ("drac_ssl", "data_prep", "app") for p in (REPO / top).rglob("*.py")
               if "__pycache__" not in p.parts and p.name != "_build_info.py"]
    assert len(packages) == len(on_disk)  # every module of the three packages, no other file


def test_the_classifiers_say_the_pythons_audience_and_status() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    classifiers = project["classifiers"]
    assert project["requires-python"] == ">=3.11"
    assert {"Programming Language :: Python :: 3.11", "Programming Language :: Python :: 3.12",
            "Intended Audience :: Science/Research", "Intended Audience :: Healthcare Industry",
            "Topic :: Scientific/Engineering :: Medical Science Apps."} <= set(classifiers)
    assert sum(c.startswith("Development Status :: ") for c in classifiers) == 1
    assert sum(c.startswith("Operating System :: ") for c in classifiers) >= 1
    assert len(classifiers) == len(set(classifiers)) and classifiers == [c.strip() for c in classifiers]
