"""A dependency audit (F1, F3, F4): pyproject.toml ignored every DeprecationWarning in the tests
from the first commit, its numpy range admitted numpy 1 (tested nowhere; the [app] extra's pandas
needs numpy >= 2.0.2), and six libraries had no upper bound, so a new major (which removes what
the minors deprecated) would be installed untested."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
DEPRECATIONS = ("DeprecationWarning", "PendingDeprecationWarning", "FutureWarning")


def test_deprecations_fail_the_tests_and_each_ignore_names_what_it_ignores() -> None:
    filters = PYPROJECT["tool"]["pytest"]["ini_options"]["filterwarnings"]
    assert all(f"error::{category}" in filters for category in DEPRECATIONS), filters
    for entry in filters:
        action, message, category, module, *_ = [*entry.split(":"), "", "", "", ""]
        if action == "ignore" and category in DEPRECATIONS:
            # an ignore of a deprecation: only one library's message or module, never all
            assert message.strip() or module.strip(), entry


def test_numpy_1_is_not_admitted_and_each_library_stops_below_its_next_major() -> None:
    requirements = {Requirement(r).name: Requirement(r).specifier
                    for r in PYPROJECT["project"]["dependencies"]}
    assert "1.26.4" not in requirements["numpy"] and "2.0.2" in requirements["numpy"]
    for name, next_major in (("numpy", "3"), ("monai", "2"), ("scikit-learn", "2"), ("scipy", "2"),
                             ("matplotlib", "4"), ("opencv-python-headless", "6"), ("pillow", "13"),
                             ("albumentations", "3"), ("pyyaml", "7")):
        assert next_major not in requirements[name], (name, str(requirements[name]))
