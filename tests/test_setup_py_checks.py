"""setup.py's own checks and version (a packaging trial): a build without isolation under
setuptools < 77 stopped with "project.license must be valid exactly by one definition (2 matches
found)", naming neither the cause nor the fix (F4). setup.py's functions are loaded without
running setup()."""

from __future__ import annotations

import runpy
import tomllib
from pathlib import Path
from typing import Any

import pytest

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
