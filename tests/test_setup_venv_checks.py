"""scripts/setup.sh checks the interpreter and an existing .venv before it installs (a packaging
review, F2): a first run with Python 3.10 made a 3.10 .venv that failed with "No matching
distribution found for numpy==..." and nothing said "needs Python >= 3.11"; a rerun with
PYTHON=python3.11 (README) reused that .venv and failed the same way; a .venv without pip
(Debian without python3-venv) gave "No module named pip" and a false "exact wheels could not be
installed". A second review: the fix in turn removed a working .venv, with all its owner had
installed in it, when PYTHON (often exported for other tools) named another Python >= 3.11, and
a .venv without pip (`uv venv` without --seed) whatever it held; now such a .venv is kept (a
note), pip comes from ensurepip, and a .venv is made again only when it holds nothing installed.

The script runs for real, in a copy of the repository's layout under tmp_path, with fake
interpreters: small bash scripts that say a version, make a "venv" (a copy of themselves) and
log every pip command instead of installing anything. Seconds, no network."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="setup.sh is a bash script")

FAKE_PYTHON = r"""#!/usr/bin/env bash
# a fake Python VERSION: says its version, makes a venv (a copy of itself), logs pip's commands
version=VERSION
echo "$(basename "$0") $version $*" >> "$FAKE_PYTHON_LOG"
case "$1" in
  --version) echo "Python $version.0" ;;
  -c) case "$2" in *version_info*) [[ "$2" == *platform* ]] && exit 1; echo "$version" ;; *) exit 1 ;; esac ;;
  -m) case "$2" in
        venv) dir=${@: -1}; mkdir -p "$dir/bin"; cp "$0" "$dir/bin/python"
              [ -n "${FAKE_VENV_WITHOUT_PIP:-}" ] && touch "$dir/no-pip"; exit 0 ;;
        pip) [ -f "$(dirname "$0")/../no-pip" ] && { echo "No module named pip" >&2; exit 1; }
             [ "$3" = --version ] && echo "pip 24.0 (python $version)"; exit 0 ;;
        ensurepip) [ -n "${FAKE_ENSUREPIP_FAILS:-}" ] && { echo "ensurepip is disabled" >&2; exit 1; }
                   rm -f "$(dirname "$0")/../no-pip"; exit 0 ;;
        *) exit 1 ;;
      esac ;;
  *) exit 1 ;;
esac
"""


def _tree(tmp_path: Path) -> Path:
    """The repository's layout as setup.sh reads it: the script, the pins, pyproject.toml."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
    for name in ("scripts/requirements-cpu.txt", "scripts/requirements-cpu.lock", "pyproject.toml"):
        (root / name).write_text(f"# {name}\n", encoding="utf-8")
    return root


def _fake(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"python{version}"
    path.write_text(FAKE_PYTHON.replace("VERSION", version), encoding="utf-8")
    path.chmod(0o755)
    return path


def _venv(root: Path, version: str, *, owned: bool = False) -> None:
    """A fake .venv of Python ``version``; ``owned``: a package of its owner in its site-packages."""
    _fake(root / ".venv" / "bin", version).rename(root / ".venv" / "bin" / "python")
    if owned:
        (_site(root, version) / "owners_package").mkdir(parents=True)
        (_site(root, version) / "owners_package" / "__init__.py").write_text("", encoding="utf-8")


def _site(root: Path, version: str) -> Path:
    return root / ".venv" / "lib" / f"python{version}" / "site-packages"


def _no_ensurepip(tmp_path: Path) -> Path:
    """A folder for PYTHONPATH whose ``ensurepip`` fails as Debian's stripped one does."""
    folder = tmp_path / "no_ensurepip"
    (folder / "ensurepip").mkdir(parents=True)
    (folder / "ensurepip" / "__init__.py").write_text("", encoding="utf-8")
    (folder / "ensurepip" / "__main__.py").write_text('raise SystemExit("ensurepip is disabled here")\n',
                                                      encoding="utf-8")
    return folder


def _setup(root: Path, python: Path | None, **more: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """setup.sh run with PYTHON=python (None: not set) and the variables ``more``; its result
    and the fakes' log."""
    log = root / "calls.log"
    log.write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    env["FAKE_PYTHON_LOG"] = str(log)
    if python is not None:
        env["PYTHON"] = str(python)
    env.update(more)
    done = subprocess.run([str(BASH), str(root / "scripts" / "setup.sh")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    return done, log.read_text(encoding="utf-8").splitlines()


def _installs(calls: list[str]) -> list[str]:
    return [call for call in calls if " -m pip install " in call]


def test_python_3_10_is_refused_before_any_venv_is_made(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    done, calls = _setup(root, _fake(tmp_path / "bin", "3.10"))
    assert done.returncode == 1, done
    assert "drac_ssl needs Python >= 3.11" in done.stderr and "is 3.10" in done.stderr, done.stderr
    assert "PYTHON=python3.11 bash scripts/setup.sh" in done.stderr
    assert not (root / ".venv").exists() and not _installs(calls)


def test_a_venv_of_python_3_10_is_made_again_with_the_python_given(tmp_path: Path) -> None:
    """The README's rerun with PYTHON=python3.11 over a .venv of a first run with python3 3.10:
    the .venv is made again with it, said so, and the pins go into the new one."""
    root = _tree(tmp_path)
    _venv(root, "3.10")
    done, calls = _setup(root, _fake(tmp_path / "bin", "3.11"))
    assert done.returncode == 0, done
    assert "[setup] .venv is Python 3.10; drac_ssl needs Python >= 3.11" in done.stdout, done.stdout
    assert "making it again with" in done.stdout
    installs = _installs(calls)
    assert installs and all(call.startswith("python 3.11 ") for call in installs), calls
    assert (root / ".venv" / ".drac_ssl_stamp").is_file()


@pytest.mark.parametrize(("venv", "given", "note"), [
    ("3.11", "3.12", "[setup] note: .venv is Python 3.11, PYTHON={python} is 3.12: .venv kept; rm -rf .venv"),
    ("3.12", "3.11", "[setup] note: .venv is Python 3.12, PYTHON={python} is 3.11: .venv kept; rm -rf .venv"),
    ("3.11", "3.11", None)])  # the same version by another path than the .venv's
def test_a_working_venv_is_kept_whatever_python_python_names(
        tmp_path: Path, venv: str, given: str, note: str | None) -> None:
    """PYTHON is often exported for other tools: a .venv of Python >= 3.11 stays, with what was
    installed in it (the fix before removed it when PYTHON named another version); a note says
    how to change it."""
    root = _tree(tmp_path)
    _venv(root, venv, owned=True)
    python = _fake(tmp_path / "bin", given)
    done, calls = _setup(root, python)
    assert done.returncode == 0, done
    assert "making it again" not in done.stdout and not any(" -m venv " in call for call in calls), done.stdout
    if note is None:
        assert "note" not in done.stdout, done.stdout
    else:
        assert note.format(python=python) in done.stdout, done.stdout
    installs = _installs(calls)
    assert installs and all(call.startswith(f"python {venv} ") for call in installs), calls
    assert (_site(root, venv) / "owners_package" / "__init__.py").is_file()


def test_a_python_that_does_not_run_is_not_needed_by_a_usable_venv(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    first, _ = _setup(root, _fake(tmp_path / "bin", "3.11"))
    assert first.returncode == 0, first
    done, calls = _setup(root, tmp_path / "nowhere" / "python3.11")
    assert done.returncode == 0 and done.stdout.strip() == "[setup] .venv is up to date", done
    assert not _installs(calls)


def test_a_venv_without_pip_gets_it_from_ensurepip_and_is_kept(tmp_path: Path) -> None:
    """A .venv without pip, as `uv venv` (no --seed) makes it, with a package installed in it:
    ensurepip gives it pip, and it is kept, the package with it."""
    root = _tree(tmp_path)
    _venv(root, "3.11", owned=True)
    (root / ".venv" / "no-pip").touch()
    done, calls = _setup(root, None)
    assert done.returncode == 0, done
    assert "[setup] .venv has no pip: installing it with .venv/bin/python -m ensurepip" in done.stdout
    assert "making it again" not in done.stdout and "exact wheels" not in done.stdout + done.stderr
    assert any(call.startswith("python 3.11 -m ensurepip --upgrade") for call in calls), calls
    assert _installs(calls) and (_site(root, "3.11") / "owners_package" / "__init__.py").is_file()


def test_a_real_venv_without_pip_holding_packages_is_never_removed(tmp_path: Path) -> None:
    """``python -m venv --without-pip``, a package installed in it, ensurepip missing (Debian's
    python3 without python3-venv): stop and say how to fix it, the .venv untouched."""
    root = _tree(tmp_path)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True,
                   timeout=120)
    site, = (root / ".venv" / "lib").glob("python*/site-packages")
    (site / "owners_package").mkdir()
    (site / "owners_package" / "__init__.py").write_text("", encoding="utf-8")
    done, calls = _setup(root, _fake(tmp_path / "bin", f"{sys.version_info[0]}.{sys.version_info[1]}"),
                         PYTHONPATH=str(_no_ensurepip(tmp_path)))
    assert done.returncode == 1, done
    assert "[setup] error: .venv has no pip, and .venv/bin/python -m ensurepip could not install it" \
        " (ensurepip is disabled here)" in done.stderr, done.stderr
    assert "(owners_package)" in done.stderr and "rm -rf .venv" in done.stderr, done.stderr
    assert "apt install python3." in done.stderr and not _installs(calls)
    assert (site / "owners_package" / "__init__.py").is_file()


def test_a_real_venv_without_pip_and_without_packages_is_made_again(tmp_path: Path) -> None:
    """``python -m venv --without-pip`` holding nothing but uv's hook (`uv venv` puts it there),
    ensurepip missing: made again (said so) instead of "No module named pip" and a false note on
    the exact wheels."""
    root = _tree(tmp_path)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True,
                   timeout=120)
    site, = (root / ".venv" / "lib").glob("python*/site-packages")
    for name in ("_virtualenv.py", "_virtualenv.pth"):
        (site / name).write_text("", encoding="utf-8")
    done, calls = _setup(root, _fake(tmp_path / "bin", f"{sys.version_info[0]}.{sys.version_info[1]}"),
                         PYTHONPATH=str(_no_ensurepip(tmp_path)))
    assert done.returncode == 0, done
    assert "[setup] .venv has no pip, ensurepip could not install it (ensurepip is disabled here)" \
        in done.stdout and "making it again" in done.stdout, done.stdout
    assert "exact wheels" not in done.stdout + done.stderr
    assert _installs(calls) and os.access(root / ".venv" / "bin" / "python", os.X_OK)
    assert (root / ".venv" / "bin" / "python").read_text(encoding="utf-8").startswith("#!/usr/bin/env bash")


def test_a_good_venv_is_kept_and_a_second_run_installs_nothing(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    python = _fake(tmp_path / "bin", "3.11")
    first, calls = _setup(root, python)
    assert first.returncode == 0 and "[setup] creating .venv with Python 3.11.0" in first.stdout, first
    assert _installs(calls)
    second, calls = _setup(root, None)  # python3 of the machine: not asked, the .venv is fine
    assert second.returncode == 0 and second.stdout.strip() == "[setup] .venv is up to date", second
    assert not _installs(calls) and not any(" -m venv " in call for call in calls), calls


def test_a_new_venv_without_pip_stops_with_the_package_to_install(tmp_path: Path) -> None:
    """A venv module without ensurepip that still makes a .venv (no pip in it): stop, saying
    what to install, instead of pip's "No module named pip"."""
    root = _tree(tmp_path)
    done, calls = _setup(root, _fake(tmp_path / "bin", "3.11"), FAKE_VENV_WITHOUT_PIP="1")
    assert done.returncode == 1, done
    assert "[setup] error: the new .venv has no pip" in done.stderr, done.stderr
    assert "apt install python3.11-venv" in done.stderr and not _installs(calls)


def test_a_venv_folder_without_python_is_made_again(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / ".venv" / "lib").mkdir(parents=True)  # an interrupted first run
    done, calls = _setup(root, _fake(tmp_path / "bin", "3.11"))
    assert done.returncode == 0 and "[setup] .venv has no Python that runs" in done.stdout, done
    assert _installs(calls) and not (root / ".venv" / "lib").exists()
