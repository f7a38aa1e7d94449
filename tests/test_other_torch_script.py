"""scripts/test_other_torch.sh installs the requirement set it writes, and that set must be one
pip can resolve with the other torch. A trial on torch 2.11.0 / torchvision 0.26.0 stopped
with ResolutionImpossible before any test: the script swapped only the torch and torchvision
pins, kept the main pins' ``setuptools==84.2.1`` (there for setup.sh's editable install, which
this venv never does), and torch 2.11.0 requires ``setuptools<82``.

The script runs for real, in a copy of the files it reads under tmp_path, with a fake
interpreter (a bash script) that makes a "venv" (a copy of itself) and keeps the file pip is
given instead of installing it. Seconds, no network."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="test_other_torch.sh is a bash script")

# What torch 2.11.0's wheel declares (its METADATA, "Requires-Dist: setuptools<82"), and the
# setuptools pip chose under it in the trial's venv.
TORCH_2_11_SETUPTOOLS = Requirement("setuptools<82")
TRIAL_SETUPTOOLS = "81.0.0"

FAKE_PYTHON = r"""#!/usr/bin/env bash
# a fake Python: says a version, makes a venv (a copy of itself), keeps pip's -r file
echo "$*" >> "$FAKE_PYTHON_LOG"
case "$1" in
  --version) echo "Python 3.11.0" ;;
  -c) case "$2" in *version_info*) echo "3.11" ;; *) echo "[fake] torch, torchvision" ;; esac ;;
  -m) case "$2" in
        venv) dir=${@: -1}; mkdir -p "$dir/bin"; cp "$0" "$dir/bin/python" ;;
        pip) while [ $# -gt 0 ]; do [ "$1" = -r ] && cp "$2" "$FAKE_PIP_REQUIREMENTS"; shift; done ;;
        pytest) ;;
        *) exit 1 ;;
      esac ;;
  *) exit 1 ;;
esac
"""


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict[str, Requirement], list[str]]:
    """Runs a copy of the script (with the repository's pins) and returns the run, the
    requirements pip was given by name, and their lines."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for name in ("scripts/test_other_torch.sh", "scripts/requirements-cpu.txt"):
        shutil.copy(REPO / name, root / name)
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.write_text(FAKE_PYTHON, encoding="utf-8")
    fake.chmod(0o755)
    given = tmp_path / "pip-requirements.txt"
    env = {**os.environ, "PYTHON": str(fake), "FAKE_PYTHON_LOG": str(tmp_path / "log"),
           "FAKE_PIP_REQUIREMENTS": str(given)}
    done = subprocess.run([BASH, str(root / "scripts" / "test_other_torch.sh"), *args], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert given.exists(), f"pip was never given a requirement file:\n{done.stdout}{done.stderr}"
    lines = [ln.strip() for ln in given.read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    return done, {Requirement(ln).name.lower(): Requirement(ln) for ln in lines}, lines


def test_the_default_pairs_requirements_admit_the_setuptools_torch_2_11_requires(tmp_path: Path) -> None:
    """The set written for the default pair pins torch 2.11.0 / torchvision 0.26.0, pins no
    setuptools >= 82 (what torch 2.11.0 refuses), and admits the one the trial's venv got
    (81.0.0), which pyproject.toml's build-system (the wheel tests' --no-build-isolation
    builds) also admits. Fails on the script that kept setuptools==84.2.1."""
    _, reqs, _ = _run(tmp_path)
    assert (str(reqs["torch"].specifier), str(reqs["torchvision"].specifier)) == ("==2.11.0", "==0.26.0")
    setuptools = reqs.get("setuptools")
    assert setuptools is not None, "no setuptools requirement: the wheel-building tests need pyproject.toml's"
    pins = [s.version for s in setuptools.specifier if s.operator in ("==", "===")]
    assert not [v for v in pins if not TORCH_2_11_SETUPTOOLS.specifier.contains(v)], (
        f"{setuptools} pins a setuptools that torch 2.11.0 ({TORCH_2_11_SETUPTOOLS}) refuses: "
        f"pip stops with ResolutionImpossible")
    assert setuptools.specifier.contains(TRIAL_SETUPTOOLS), setuptools
    build = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    (needed,) = [Requirement(r) for r in build if Requirement(r).name == "setuptools"]
    assert needed.specifier.contains(TRIAL_SETUPTOOLS)
    # and no older setuptools than the build-system's (a bare venv starts with 65.5 on Python 3.11)
    assert not setuptools.specifier.contains("65.5.0") and setuptools.specifier == needed.specifier


def test_only_the_pair_and_setuptools_differ_from_the_main_pins(tmp_path: Path) -> None:
    """Every other line of scripts/requirements-cpu.txt reaches pip unchanged, for a pair given
    on the command line too; the main pins themselves keep setuptools==... for setup.sh."""
    _, _, lines = _run(tmp_path, "2.12.1", "0.27.1")
    main = [ln.strip() for ln in (REPO / "scripts" / "requirements-cpu.txt").read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]
    changed = {a: b for a, b in zip(main, lines, strict=True) if a != b}
    assert {Requirement(a).name for a in changed} == {"torch", "torchvision", "setuptools"}, changed
    assert "torch==2.12.1" in lines and "torchvision==0.27.1" in lines
    assert any(ln.startswith("setuptools==") for ln in main)
