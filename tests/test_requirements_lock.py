"""scripts/requirements-cpu.lock (the exact wheels setup.sh installs on the project's machines)
must agree with the version pins of scripts/requirements-cpu.txt: a pin changed without a new
lock would install the old version there, and the other way round."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _entries(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, rest = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name).lower()] = rest
    return pins


def test_every_pin_is_locked_at_its_version_and_every_lock_line_has_one_hash() -> None:
    pins = _entries(ROOT / "scripts" / "requirements-cpu.txt")
    lock = _entries(ROOT / "scripts" / "requirements-cpu.lock")
    assert pins, "no pins read"
    for name, version in pins.items():
        assert name in lock, f"{name} is pinned in requirements-cpu.txt but not locked: rerun scripts/lock_requirements.py"
        assert lock[name].split()[0] == version, (name, version, lock[name])
    for name, rest in lock.items():
        words = rest.split()
        assert len(words) == 2 and re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", words[1]), (name, rest)
    assert len(lock) > len(pins)  # the dependencies are locked too (hash mode needs every one)


def test_the_lock_writer_refuses_what_is_not_a_wheel(tmp_path: Path) -> None:
    (tmp_path / "numpy-2.4.6.tar.gz").write_bytes(b"x")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "lock_requirements.py"), str(tmp_path)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 2 and "not a wheel" in out.stderr, out.stderr
    assert not (tmp_path / "requirements-cpu.lock").exists()


def test_the_pins_install_the_setuptools_the_editable_install_builds_with() -> None:
    """scripts/setup.sh installs the package with ``pip install --no-build-isolation -e .``,
    which builds with the venv's own setuptools: a venv of Python 3.11 starts with 65.5, and
    pyproject.toml's build-system needs a newer one. A review: the branch that installs the
    version pins (requirements-cpu.txt, not the lock) left 65.5 there, and the install failed.
    The pins name a setuptools that satisfies the build-system's requirement."""
    import tomllib

    from packaging.requirements import Requirement

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    (needed,) = [Requirement(r) for r in requires if Requirement(r).name == "setuptools"]
    pinned = _entries(ROOT / "scripts" / "requirements-cpu.txt").get("setuptools")
    assert pinned is not None, "requirements-cpu.txt pins no setuptools: the fallback of setup.sh keeps the venv's"
    assert needed.specifier.contains(pinned), (pinned, str(needed))
    assert not needed.specifier.contains("65.5.0")  # what the pin is there for


def test_setup_installs_without_keeping_a_pip_cache() -> None:
    """Final review F4: the README's 7.7 GiB left out ~/.cache/pip, where a plain ``pip
    install`` keeps the CUDA torch and nvidia wheels (several GiB). Every install of setup.sh
    goes through ``pip_quiet``, which passes ``--no-cache-dir``; docs/running.md's paragraph on
    the disk command (1) leaves (once under the README's commands) says so."""
    root = Path(__file__).resolve().parents[1]
    setup = (root / "scripts" / "setup.sh").read_text(encoding="utf-8")
    body = setup[setup.index("pip_quiet() {"):]
    assert "-m pip install -q --disable-pip-version-check --no-cache-dir" in body[:body.index("}")]
    installs = [line for line in setup.splitlines() if "pip install" in line and not line.lstrip().startswith("#")]
    assert len(installs) == 1, installs  # no install around pip_quiet
    running = " ".join((root / "docs" / "running.md").read_text(encoding="utf-8").split())
    assert "installs with `pip install --no-cache-dir`, so `~/.cache/pip` keeps no second copy" in running
