"""A cluster review (F2): with a read-only home every run's log got matplotlib's two warnings
("mkdir -p failed for path ~/.config/matplotlib", "Matplotlib created a temporary cache
directory ... set the MPLCONFIGDIR environment variable") and its font cache was rebuilt at
each start. Importing drac_ssl now sets MPLCONFIGDIR to a folder of this user's under the
temporary folder when matplotlib's default folders cannot be written, and keeps a value the
host set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import drac_ssl

REPO = Path(__file__).resolve().parents[2]


def _unwritable_home(tmp_path: Path) -> Path:
    """A home no account can make folders in, root included (a file stands where its parent
    would be: ``mkdir -p`` fails with ENOTDIR, as on a read-only mount with EROFS)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    return blocker / "home"


def test_a_run_with_an_unwritable_home_gets_no_matplotlib_warning(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env.update(HOME=str(_unwritable_home(tmp_path)), TMPDIR=str(scratch), PYTHONPATH=str(REPO))
    # the figures' module, as a run imports it after its pretraining
    script = "import os, drac_ssl.plots; print(os.environ['MPLCONFIGDIR'])"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    folder = Path(proc.stdout.strip())
    assert folder == scratch / f"drac_ssl-matplotlib-{os.getuid()}" and folder.is_dir()
    assert (folder.stat().st_mode & 0o777) == 0o700
    assert "matplotlib" not in proc.stderr.lower(), proc.stderr
    assert [p.name for p in scratch.iterdir()] == [folder.name]  # no matplotlib-XXXX of its own


def test_a_host_value_and_a_writable_home_are_left_as_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # gettempdir() reads TMPDIR again
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(_unwritable_home(tmp_path)))
    monkeypatch.setenv("MPLCONFIGDIR", "/srv/the-hosts-own")
    assert drac_ssl._matplotlib_config_dir() is None
    assert os.environ["MPLCONFIGDIR"] == "/srv/the-hosts-own"
    monkeypatch.delenv("MPLCONFIGDIR")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # writable: matplotlib's own ~/.config and ~/.cache
    assert drac_ssl._matplotlib_config_dir() is None and "MPLCONFIGDIR" not in os.environ
    # only the cache unwritable: the config folder named, which matplotlib reads its rc from
    monkeypatch.setenv("XDG_CACHE_HOME", str(_unwritable_home(tmp_path)))
    assert drac_ssl._matplotlib_config_dir() == str(home / ".config" / "matplotlib")
    assert os.environ["MPLCONFIGDIR"] == str(home / ".config" / "matplotlib")
    monkeypatch.delenv("MPLCONFIGDIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(_unwritable_home(tmp_path)))  # neither: the temporary one
    assert drac_ssl._matplotlib_config_dir() == str(tmp_path / f"drac_ssl-matplotlib-{os.getuid()}")
    assert os.environ["MPLCONFIGDIR"] == str(tmp_path / f"drac_ssl-matplotlib-{os.getuid()}")


def test_a_hosts_matplotlibrc_still_applies_when_only_the_cache_is_read_only(tmp_path: Path) -> None:
    """A review (F2): MPLCONFIGDIR names the config folder too, so pointing it at the temporary
    folder when only ``~/.cache`` was read-only silently dropped the host's ``matplotlibrc``."""
    home = tmp_path / "home"
    (home / ".config" / "matplotlib").mkdir(parents=True)
    (home / ".config" / "matplotlib" / "matplotlibrc").write_text("lines.linewidth: 7.25\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "MATPLOTLIBRC")}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env.update(HOME=str(home), XDG_CACHE_HOME=str(_unwritable_home(tmp_path)), TMPDIR=str(scratch),
               PYTHONPATH=str(REPO))
    script = "import drac_ssl, matplotlib; print(matplotlib.rcParams['lines.linewidth'])"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "7.25", (proc.stdout, proc.stderr)
    assert "matplotlib" not in proc.stderr.lower(), proc.stderr
    assert list(scratch.iterdir()) == []


def test_a_temporary_folder_others_may_write_is_not_used(no_home_folder: Path) -> None:
    """A review (F3): this user's own folder left mode 777 (a umask, a chmod) may hold files
    another account put there (a matplotlibrc, a font cache): not taken, matplotlib's own
    fall-back instead."""
    folder = no_home_folder
    folder.mkdir()
    folder.chmod(0o777)
    assert drac_ssl._matplotlib_config_dir() is None and "MPLCONFIGDIR" not in os.environ
    folder.chmod(0o700)  # private: taken
    assert drac_ssl._matplotlib_config_dir() == str(folder)


@pytest.fixture()
def no_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The private temporary folder's path (not made) for a process whose home cannot be
    written and which names no MPLCONFIGDIR or XDG folders: the one the function would take."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    monkeypatch.delenv("MPLCONFIGDIR", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(_unwritable_home(tmp_path)))
    return tmp_path / f"drac_ssl-matplotlib-{os.getuid()}"


def test_a_temporary_folder_its_group_may_write_or_read_is_not_used(no_home_folder: Path) -> None:
    """Catches a permission mask that checks only 'others' (mode & 0o007): a folder of mode
    0770 lets the group put a matplotlibrc there, and 0750 is not private either."""
    no_home_folder.mkdir()
    no_home_folder.chmod(0o770)
    assert drac_ssl._matplotlib_config_dir() is None and "MPLCONFIGDIR" not in os.environ
    no_home_folder.chmod(0o750)
    assert drac_ssl._matplotlib_config_dir() is None and "MPLCONFIGDIR" not in os.environ


def test_a_link_planted_at_the_temporary_folders_name_is_not_followed(no_home_folder: Path, tmp_path: Path) -> None:
    """Catches the folder checked with stat (which follows links) instead of lstat: a link at
    the folder's name to a private-looking folder of someone else's choosing is not taken."""
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    target.chmod(0o700)
    no_home_folder.symlink_to(target)
    assert drac_ssl._matplotlib_config_dir() is None and "MPLCONFIGDIR" not in os.environ


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="giving a folder to another account needs root")
def test_a_temporary_folder_of_another_account_is_not_used(no_home_folder: Path) -> None:
    """Catches a dropped owner check: a private (0700) folder of that name owned by another
    uid is another account's, whose matplotlibrc this process would read."""
    no_home_folder.mkdir(mode=0o700)
    no_home_folder.chmod(0o700)
    os.chown(no_home_folder, 54321, -1)
    assert drac_ssl._matplotlib_config_dir() is None and "MPLCONFIGDIR" not in os.environ
