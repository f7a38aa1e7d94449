"""tests/conftest.py's ``_module_temp_folders_freed``: a test module's temporary folders go
when its last test ends, unless one of its tests failed (a run of the suite held 10-13 GB of
them until its end, and left them all after one failure)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SUITE_CONFTEST = Path(__file__).with_name("conftest.py")

MODULE = '''
import pytest

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("{name}_run")
    (folder / "checkpoint.pt").write_bytes(bytes(1000))
    return folder

def test_reads_the_run(run, tmp_path):
    (tmp_path / "copy.pt").write_bytes((run / "checkpoint.pt").read_bytes())
    assert {passes}
'''


def test_a_passed_modules_folders_go_at_its_end_a_failed_modules_stay(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('suite_conftest', {str(SUITE_CONFTEST)!r})\n"
        "suite = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(suite)\n"
        "_module_temp_folders_freed = getattr(suite, '_module_temp_folders_freed', None)\n")
    (tmp_path / "pytest.ini").write_text(f"[pytest]\npythonpath = {SUITE_CONFTEST.parent / 'helpers'}\n"
                                        "tmp_path_retention_policy = failed\n")
    (tmp_path / "test_passing.py").write_text(MODULE.format(name="passing", passes=True))
    (tmp_path / "test_failing.py").write_text(MODULE.format(name="failing", passes=False))
    base = tmp_path / "base"
    # --basetemp: pytest itself keeps the base folder at the end, passed or not
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"--basetemp={base}", "test_passing.py", "test_failing.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})  # 1 s less
    assert "1 failed, 1 passed" in proc.stdout, proc.stdout + proc.stderr
    left = sorted(path.name for path in base.iterdir() if not path.is_symlink())
    assert left == ["failing_run0", "test_reads_the_run1"], left  # run0: the passed test's, freed by pytest
    assert not any(path.name.startswith("passing") for path in base.iterdir()), list(base.iterdir())
