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
import importlib.util
import shutil
import sys
import tomllib
import types
import warnings
from pathlib import Path

import pytest

from drac_ssl import config
from tests.helpers.cited_docs import cited_docs

REPO = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
CONFIGS_PACKAGE = "drac_ssl.configs"
DOCS_PACKAGE = "drac_ssl.docs"


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
    assert set(listed) == _packages_on_disk() | {CONFIGS_PACKAGE, DOCS_PACKAGE}


def test_every_file_in_configs_is_declared_package_data_of_the_configs_package() -> None:
    assert SETUPTOOLS["package-dir"] == {CONFIGS_PACKAGE: "configs", DOCS_PACKAGE: "docs"}
    globs = SETUPTOOLS["package-data"][CONFIGS_PACKAGE]
    files = sorted(p.name for p in (REPO / "configs").iterdir())
    assert files and all(p.endswith(".yaml") for p in files), files
    left_out = [name for name in files if not any(fnmatch.fnmatch(name, g) for g in globs)]
    assert left_out == []


def test_every_doc_the_package_cites_exists_and_is_package_data_of_the_docs_package() -> None:
    """A packaging trial: the wheel and the sdist carried no docs/, while the installed --help
    texts, messages, the app page and the model card cite docs/<name>.md (13 files, 114 times);
    and data_prep/phantom.py cited a docs/octa.md this repository does not have. pyproject.toml
    maps docs/ to the package drac_ssl.docs (installed as drac_ssl/docs, where
    config.DOCS looks), its *.md as package data; MANIFEST.in grafts docs/ into the sdist."""
    cited = cited_docs()
    assert len(cited) >= 10, cited  # the pattern still finds the citations
    missing = {name: files for name, files in cited.items() if not (REPO / "docs" / name).is_file()}
    assert missing == {}
    assert SETUPTOOLS["package-dir"][DOCS_PACKAGE] == "docs"
    assert SETUPTOOLS["include-package-data"] is False  # the declared globs are the package data
    globs = SETUPTOOLS["package-data"][DOCS_PACKAGE]
    shipped = [p.name for p in (REPO / "docs").glob("*.md")]
    assert sorted(n for n in shipped if any(fnmatch.fnmatch(n, g) for g in globs)) == sorted(shipped)
    manifest = (REPO / "MANIFEST.in").read_text(encoding="utf-8").splitlines()
    assert "graft docs" in manifest


def test_the_docs_option_prints_where_this_copy_keeps_the_docs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``drac-ssl-train --docs [NAME]``: the docs folder (a checkout's docs/, an install's
    drac_ssl/docs) or one document's path; a name it lacks lists the names."""
    from drac_ssl.commands import train_parser

    assert config.DOCS == REPO / "docs" and config.docs_path() == REPO / "docs"
    for given in ("running", "running.md", "docs/running.md"):
        assert config.docs_path(given) == REPO / "docs" / "running.md"
    with pytest.raises(config.ConfigError, match="no document 'octa' in .*give one of app, cifar10_recipe"):
        config.docs_path("octa")
    for argv, printed in ((["--docs"], REPO / "docs"), (["--docs", "python"], REPO / "docs" / "python.md")):
        with pytest.raises(SystemExit) as done:
            train_parser().parse_args(argv)
        assert done.value.code == 0 and capsys.readouterr().out == f"{printed}\n"
    with pytest.raises(SystemExit) as done:
        train_parser().parse_args(["--docs", "octa"])
    assert done.value.code == 2 and "no document 'octa'" in capsys.readouterr().err
    package = tmp_path / "site" / "drac_ssl"  # an install: its own drac_ssl/docs
    shutil.copytree(REPO / "configs", package / "configs")
    module = _load_config_copy(package)
    assert module.DOCS == package / "docs"
    with pytest.raises(module.ConfigError, match="no documentation at .*reinstall"):
        module.docs_path()
    shutil.copytree(REPO / "docs", package / "docs", ignore=shutil.ignore_patterns("img"))
    assert module.docs_path("data") == package / "docs" / "data.md"


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
    # the docs the messages cite, as drac_ssl/docs/<name>.md (config.DOCS of an install)
    cited = set(cited_docs())
    assert mapped[DOCS_PACKAGE][:2] == ("docs", Path("drac_ssl", "docs"))
    assert cited and cited <= set(mapped[DOCS_PACKAGE][2]), cited - set(mapped[DOCS_PACKAGE][2])


def _load_config_copy(package: Path) -> types.ModuleType:
    """drac_ssl/config.py copied to ``package/config.py`` and imported from there (under its own
    module name), so that its module-level folders are computed where that copy lies, as they
    would be in an install laid out so."""
    package.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "drac_ssl" / "config.py", package / "config.py")
    name = f"_drac_ssl_config_copy_{len(package.parts)}_{abs(hash(str(package)))}"
    spec = importlib.util.spec_from_file_location(name, package / "config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def _checkout_pyproject(root: Path, name: str = "drac_ssl") -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n', encoding="utf-8")


def test_an_install_reads_its_own_configs_and_is_no_checkout(tmp_path: Path) -> None:
    """A review: the installed package's path was untested (making PACKAGE_CONFIGS the checkout's
    folder everywhere failed no test). A copy of the module in ``site/drac_ssl/`` beside a
    ``configs/`` with the shipped files: those are the configs, ``-c NAME`` reads them, and there
    is no checkout (a stray ``site/configs`` of another package is not read)."""
    package = tmp_path / "site" / "drac_ssl"
    shutil.copytree(REPO / "configs", package / "configs")
    (tmp_path / "site" / "configs").mkdir()  # another package's folder, no pyproject.toml
    module = _load_config_copy(package)
    assert module.PACKAGE_CONFIGS == package / "configs"
    assert module.CHECKOUT is None
    assert module.shipped_config_names() == sorted(p.stem for p in (REPO / "configs").glob("*.yaml"))
    assert module.config_file("drac") == package / "configs" / "drac.yaml"
    assert module.config_folders(package / "config.py") == (package / "configs", None, None)


def test_an_install_that_lost_its_configs_is_no_checkout(tmp_path: Path) -> None:
    """A review: CHECKOUT was set wherever the configs were not beside the package, so an
    install that lost drac_ssl/configs counted as a checkout (site-packages) and
    settings_table's install guard did not fire. Without a drac_ssl pyproject.toml above the
    package there is no checkout, and the configs are the install's own folder, missing (the
    errors name it), not a ``configs/`` beside the package that belongs to something else."""
    for root, pyproject in (("site", None), ("other_project", "my_clinic_study")):
        package = tmp_path / root / "drac_ssl"
        package.mkdir(parents=True)
        (tmp_path / root / "configs").mkdir()
        (tmp_path / root / "configs" / "drac.yaml").write_text("run:\n  name: theirs\n", encoding="utf-8")
        if pyproject:
            _checkout_pyproject(tmp_path / root, pyproject)
        module = _load_config_copy(package)
        assert (module.PACKAGE_CONFIGS, module.CHECKOUT) == (package / "configs", None), root
        assert module.shipped_config_names() == []
        with pytest.raises(module.ConfigError, match="no shipped configs here"):
            module.config_file("drac")


def test_a_checkout_reads_its_configs_folder_and_is_the_checkout(tmp_path: Path) -> None:
    """The module in ``repo/drac_ssl/`` with ``repo/pyproject.toml`` (the project drac_ssl) and
    ``repo/configs/``: a checkout (or an editable install), its configs that folder; without
    the configs folder it is no checkout either."""
    repo = tmp_path / "repo"
    _checkout_pyproject(repo)
    shutil.copytree(REPO / "configs", repo / "configs")
    module = _load_config_copy(repo / "drac_ssl")
    assert (module.PACKAGE_CONFIGS, module.CHECKOUT) == (repo / "configs", repo)
    assert module.config_folders(REPO / "drac_ssl" / "config.py") == (REPO / "configs", REPO, None)
    shutil.rmtree(repo / "configs")
    assert module.config_folders(repo / "drac_ssl" / "config.py") == (repo / "drac_ssl" / "configs", None, None)


def test_a_tree_copied_without_its_pyproject_names_the_configs_it_did_not_read(tmp_path: Path) -> None:
    """A review: a copy of the checkout's drac_ssl/ and configs/ without pyproject.toml is no
    checkout (deliberate), but every error then said the install lacked its configs and to
    reinstall, with ../configs/default.yaml beside the package. The errors name that folder,
    why it was not read, and the fixes: drac_ssl's pyproject.toml copied there, or -c its
    file by path; beside another project's pyproject.toml, the -c fix alone."""
    copy = tmp_path / "copy"
    shutil.copytree(REPO / "configs", copy / "configs")
    module = _load_config_copy(copy / "drac_ssl")
    assert (module.PACKAGE_CONFIGS, module.CHECKOUT) == (copy / "drac_ssl" / "configs", None)
    assert module.config_folders(copy / "drac_ssl" / "config.py").unread == copy / "configs"
    assert "lacks its shipped configs" not in module.NO_CONFIGS_WHY
    assert (f"a configs/ beside the package at {copy / 'configs'} was not read (no drac_ssl "
            f"pyproject.toml at {copy}" in module.NO_CONFIGS_WHY)
    by_path = f"-c {copy / 'configs' / 'drac.yaml'} (a config file by its path)"
    assert module.NO_CONFIGS_FIX == f"copy drac_ssl's pyproject.toml to {copy} (beside that configs/), or {by_path}"
    with pytest.raises(module.ConfigError) as info:
        module.config_file("drac")
    assert module.NO_CONFIGS_WHY in str(info.value) and module.NO_CONFIGS_FIX in str(info.value)
    assert "reinstall" not in str(info.value)
    with pytest.raises(module.ConfigError) as info:
        module.default_config_file()
    assert module.NO_CONFIGS_FIX in str(info.value) and "reinstall" not in str(info.value)
    assert "reinstall" not in module.list_configs_text() and by_path in module.list_configs_text()
    # the package copied into another project with a configs/default.yaml: not its pyproject to replace
    _checkout_pyproject(copy, "my_clinic_study")
    other = _load_config_copy(copy / "drac_ssl")
    assert "the pyproject.toml at" in other.NO_CONFIGS_WHY and "project 'my_clinic_study'" in other.NO_CONFIGS_WHY
    assert other.NO_CONFIGS_FIX == by_path
    # no default.yaml there: not drac_ssl's configs; the install's words
    (copy / "configs" / "default.yaml").unlink()
    (copy / "pyproject.toml").unlink()
    plain = _load_config_copy(copy / "drac_ssl")
    assert "lacks its shipped configs" in plain.NO_CONFIGS_WHY and "reinstall" in plain.NO_CONFIGS_FIX
