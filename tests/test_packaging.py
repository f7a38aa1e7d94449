"""pyproject.toml ships every config of ``configs/`` in the wheel, as ``drac_ssl/configs/*.yaml``.

A packaging trial: ``pip install .`` (or a wheel) carried no ``configs/``, so ``-c configs/X.yaml``
worked from a checkout only. The configs stay in ``configs/`` (one copy); pyproject.toml maps
that folder to the package ``drac_ssl.configs`` (``[tool.setuptools.package-dir]``) with
``*.yaml`` as its package data, and lists its packages (setuptools' ``packages.find`` cannot
rename a folder). These tests read the declarations, and setuptools' own mapping of them,
without building a wheel.
"""

from __future__ import annotations

import fnmatch
import tomllib
import warnings
from pathlib import Path

import pytest

from drac_ssl import config

REPO = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
CONFIGS_PACKAGE = "drac_ssl.configs"


def _packages_on_disk() -> set[str]:
    """Every folder of the three top-level packages with an ``__init__.py``, as a dotted name."""
    found = set()
    for top in ("drac_ssl", "data_prep", "app"):
        for init in (REPO / top).rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(REPO).parts))
    return found


def test_the_listed_packages_are_every_package_folder_and_the_configs() -> None:
    """A new sub-package left out of the list would be missing from the wheel (no error at the
    build), and a package listed that is gone fails the build."""
    listed = SETUPTOOLS["packages"]
    assert len(listed) == len(set(listed))
    assert set(listed) == _packages_on_disk() | {CONFIGS_PACKAGE}


def test_every_file_in_configs_is_declared_package_data_of_the_configs_package() -> None:
    assert SETUPTOOLS["package-dir"] == {CONFIGS_PACKAGE: "configs"}
    globs = SETUPTOOLS["package-data"][CONFIGS_PACKAGE]
    files = sorted(p.name for p in (REPO / "configs").iterdir())
    assert files and all(p.endswith(".yaml") for p in files), files
    left_out = [name for name in files if not any(fnmatch.fnmatch(name, g) for g in globs)]
    assert left_out == []


def test_the_code_reads_the_configs_where_the_wheel_puts_them() -> None:
    """The wheel's ``drac_ssl/configs`` (the package's dotted name as a folder) is
    config.INSTALLED_CONFIGS; a checkout (this one) reads configs/ itself."""
    assert config.INSTALLED_CONFIGS == REPO.joinpath(*CONFIGS_PACKAGE.split("."))
    assert config.CHECKOUT_CONFIGS == REPO / "configs"
    assert not config.INSTALLED_CONFIGS.exists()  # no second copy in the checkout
    assert config.PACKAGE_CONFIGS == REPO / "configs" and config.CHECKOUT == REPO


def test_setuptools_maps_every_config_into_the_wheels_configs_folder(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """setuptools' build_py, given pyproject.toml (validated by setuptools as it reads it), puts
    exactly configs/*.yaml under build/lib/drac_ssl/configs: its data-file mapping, computed
    without a build (nothing is written)."""
    pyprojecttoml = pytest.importorskip("setuptools.config.pyprojecttoml")
    from setuptools.dist import Distribution

    monkeypatch.chdir(REPO)  # setuptools reads package-dir relative to the current folder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dist = pyprojecttoml.apply_configuration(Distribution(), REPO / "pyproject.toml")
        dist.include_package_data = False  # the declared package data alone (no egg-info written)
        build_py = dist.get_command_obj("build_py")
        build_py.ensure_finalized()
        mapped = {package: (src, Path(build).relative_to(build_py.build_lib), sorted(names))
                  for package, src, build, names in build_py.data_files}
    assert mapped[CONFIGS_PACKAGE] == ("configs", Path("drac_ssl", "configs"),
                                       sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
