"""Every command answers ``--version`` with the package's one version, ``drac_ssl VERSION``
(``drac_ssl.__version__``), as ``python -m MODULE`` and as its installed console script, before
anything heavy loads; the version and the dependency ranges of pyproject.toml have one source
each (a user's report: no ``--version`` anywhere, and an ``app`` extra, ``gradio>=5``, that
admitted a gradio the app crashes on)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import drac_ssl

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
HEAVY = ("torch", "torchvision", "matplotlib", "gradio", "monai", "albumentations", "sklearn")

MODULES = ("drac_ssl.train", "drac_ssl.export", "drac_ssl.report", "drac_ssl.compare",
           "drac_ssl.umm", "drac_ssl.submission", "data_prep", "app", "app.demo_bundle", "app.auth")
"""Every ``python -m`` command a user runs (``drac_ssl.settings_table``, a documentation
tool of the developers, is left out)."""

NOT_A_COMMAND = {"drac_ssl/settings_table.py"}
"""Source files that build an argument parser of no user-facing command."""

RUNNER = """
import contextlib, importlib, io, json, runpy, sys, tomllib
heavy, cases, results = {heavy!r}, json.loads(sys.argv[1]), []
scripts = tomllib.load(open("pyproject.toml", "rb"))["project"]["scripts"]
for kind, name in cases:
    sys.argv = [name, "--version"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if kind == "module":  # as python -m runs it: not yet imported (an earlier case's
                sys.modules.pop(name, None)  # import would make runpy warn, as python -m does not)
                runpy.run_module(name, run_name="__main__", alter_sys=True)
            else:  # what the installed console script runs: its entry, called
                module, _, entry = scripts[name].partition(":")
                getattr(importlib.import_module(module), entry)()
            code = "no exit"
        except SystemExit as stop:
            code = stop.code if stop.code is not None else 0
    results.append({{"case": [kind, name], "code": code, "out": out.getvalue(),
                    "err": err.getvalue()}})
loaded = sorted(n for n in heavy if n in sys.modules)
print(json.dumps({{"results": results, "loaded": loaded}}))
"""


def _run(cases: list[tuple[str, str]]) -> dict:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", RUNNER.format(heavy=HEAVY), json.dumps(cases)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_every_command_and_console_script_prints_the_one_version_before_heavy_imports() -> None:
    scripts = PYPROJECT["project"]["scripts"]
    assert {"drac-ssl-train", "drac-ssl-ingest", "drac-ssl-app", "drac-ssl-export",
            "drac-ssl-report", "drac-ssl-compare", "drac-ssl-demo-bundle"} <= set(scripts)
    cases = [("module", m) for m in MODULES] + [("script", s) for s in scripts]
    got = _run(cases)
    expected = f"drac_ssl {drac_ssl.__version__}\n"
    problems = [f"{kind} {name}: exit {r['code']}, said {r['out'] + r['err']!r}"
                for r in got["results"] for kind, name in [r["case"]]
                if r["code"] != 0 or r["out"] != expected or r["err"]]
    assert len(got["results"]) == len(cases)
    assert not problems, "\n".join(problems)
    assert got["loaded"] == [], f"--version imported {got['loaded']}"


def test_every_argument_parser_of_the_package_belongs_to_a_command_tested_above() -> None:
    """A new command (a new ``argparse.ArgumentParser(`` in the packages) must join
    :data:`MODULES`, and so get its ``--version`` checked."""
    covered = {m.replace(".", "/") for m in MODULES}
    found = []
    for package in ("drac_ssl", "data_prep", "app"):
        for path in sorted((REPO / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if re.search(r"\b(?:ArgumentParser|OverrideParser)\(", text):  # one is made here
                found.append(path.relative_to(REPO).as_posix())
    assert found, "no parser found: the search is broken"
    for rel in found:
        if rel in NOT_A_COMMAND or rel == "drac_ssl/commands.py":  # train/export/report/compare
            continue
        module = rel.removesuffix(".py").removesuffix("/__main__").removesuffix("/cli")
        assert module in covered, f"{rel} builds a parser: add its command to MODULES"


def test_the_version_has_one_source() -> None:
    """The build's version is setup.py's: ``drac_ssl.__version__``'s literal, read without
    importing the package (an import would need torch at build time), plus a local label of
    the build's commit (tests/test_setup_py_checks.py); a checkout's ``__version__`` is the
    literal (no build record in it)."""
    import ast
    import runpy

    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert "dynamic" not in PYPROJECT["tool"]["setuptools"]  # setup.py gives the version
    setup = runpy.run_path(str(REPO / "setup.py"), run_name="drac_ssl_setup")
    assert setup["base_version"](str(REPO)) == drac_ssl.__version__
    # what lets setup.py read it without an import: one assignment of a string literal
    tree = ast.parse((REPO / "drac_ssl" / "__init__.py").read_text(encoding="utf-8"))
    literals = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and [getattr(t, "id", None) for t in node.targets] == ["__version__"]
                and isinstance(node.value, ast.Constant)]
    assert literals == [drac_ssl.__version__]
    assert re.fullmatch(r"\d+\.\d+\.\d+", drac_ssl.__version__), drac_ssl.__version__


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "scripts" / "requirements-cpu.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def test_every_pinned_version_lies_in_pyprojects_range_and_the_app_extra_is_the_apps() -> None:
    """scripts/requirements-cpu.txt pins what is tested; pyproject.toml's ranges (the
    dependencies and every extra) must admit it, or ``pip install -c scripts/requirements-cpu.txt
    /path/to/drac_ssl`` (README, "Install into your own environment") has no solution. The
    ``app`` extra's gradio range is the one the app checks at start (:data:`app.GRADIO_RANGE`),
    and the extra declares what the app imports itself (markdown-it-py, which app/server.py
    imports and gradio brings only through typer and rich), nothing more."""
    from app import GRADIO_RANGE

    project = PYPROJECT["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        requirements += [Requirement(r) for r in extra]
    pins, checked = _pins(), 0
    for req in requirements:
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in pins:
            assert req.specifier.contains(pins[name], prereleases=True), (str(req), pins[name])
            checked += 1
    assert checked >= 15, f"only {checked} requirements were compared with a pin"
    app_extra = {Requirement(r).name: Requirement(r) for r in project["optional-dependencies"]["app"]}
    assert str(app_extra.pop("gradio").specifier) == str(Requirement(f"gradio{GRADIO_RANGE}").specifier)
    imported = {name: re.search(rf"^\s*(from|import) {module}\b", "\n".join(
        p.read_text(encoding="utf-8") for p in (REPO / "app").glob("*.py")), re.M) is not None
        for name, module in (("markdown-it-py", "markdown_it"),)}
    assert set(app_extra) == {name for name, found in imported.items() if found} == {"markdown-it-py"}
    assert pins["gradio"].startswith("6.31"), "the pin moved: move GRADIO_RANGE's lower end with it"


def test_the_licence_is_an_spdx_expression_with_its_file() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply" in text
    requires = PYPROJECT["build-system"]["requires"]
    assert any(Requirement(r).name == "setuptools" and Requirement(r).specifier.contains("77.0.0")
               and not Requirement(r).specifier.contains("76.1.0") for r in requires), requires


@pytest.mark.parametrize("command", ["ingest", "phantom", "flatten"])
def test_a_data_prep_sub_command_answers_version_too(
        command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F8: ``python -m data_prep ingest --version`` said "the following arguments are
    required" (exit 2): --version was the top-level parser's only."""
    from data_prep.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main([command, "--version"])
    said = capsys.readouterr()
    assert stop.value.code == 0, said.err
    assert said.out == f"drac_ssl {drac_ssl.__version__}\n" and "required" not in said.err
