"""Where uploads go: one private (0700) working folder per ``python -m app`` process, where
gradio's uploads and the app's derived files land, removed on SIGTERM; folders of dead servers
are removed at the next start, nothing else is touched."""

from __future__ import annotations

import fcntl
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.__main__ import main
from app.demo_bundle import build_demo_bundle
from app.loopback import free_port, wait_until_serving
from app.workdir import LOCK, PREFIX, private_workdir, remove_stale_workdirs, workdir_pid

REPO = Path(__file__).resolve().parents[2]


def _dead_pid() -> int:
    """The pid of a process of this user that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_private_workdir_is_0700_whatever_the_umask_points_gradio_at_it_and_goes(tmp_path: Path) -> None:
    before_env, before_tempdir = os.environ.get("GRADIO_TEMP_DIR"), tempfile.tempdir
    old_umask = os.umask(0)
    try:
        with pytest.raises(RuntimeError, match="boom"), private_workdir(tmp_path) as root:
            assert root.parent == tmp_path and workdir_pid(root.name) == os.getpid()
            assert _mode(root) == 0o700 and _mode(root / LOCK) == 0o600
            assert remove_stale_workdirs(tmp_path) == []  # its lock is held: never stale
            assert os.environ["GRADIO_TEMP_DIR"] == str(root) and tempfile.gettempdir() == str(root)
            (root / "sub").mkdir()
            (root / "sub" / "upload.png").write_bytes(b"x")
            raise RuntimeError("boom")  # however the block ends, the folder goes
    finally:
        os.umask(old_umask)
    assert not root.exists()
    assert os.environ.get("GRADIO_TEMP_DIR") == before_env and tempfile.tempdir == before_tempdir


def test_remove_stale_workdirs_only_removes_stopped_servers_folders(tmp_path: Path) -> None:
    dead = _dead_pid()
    stale = tmp_path / f"{PREFIX}{dead}_abc123"
    (stale / "hash").mkdir(parents=True)
    (stale / "hash" / "DOE_JANE_OD.png").write_bytes(b"x")
    own_earlier = tmp_path / f"{PREFIX}{os.getpid()}_old"  # pids repeat (containers)
    own_earlier.mkdir()
    keep = tmp_path / f"{PREFIX}{os.getpid()}_mine"
    keep.mkdir()
    live = tmp_path / f"{PREFIX}{os.getppid()}_live"  # a running process: its server may be live
    live.mkdir()
    others = [tmp_path / "drac_app_display_xyz", tmp_path / f"{PREFIX}x{dead}_a", tmp_path / "gradio"]
    for other in others:
        other.mkdir()
    held = tmp_path / f"{PREFIX}{dead}_held"  # a live server in another pid namespace: locked
    held.mkdir()
    reused = tmp_path / f"{PREFIX}{os.getppid()}_reused"  # its pid reused; its lock free
    reused.mkdir()
    (reused / LOCK).write_bytes(b"")
    an_hour_ago = time.time() - 3600
    os.utime(reused, (an_hour_ago, an_hour_ago))
    # a server starting this moment: its lock file made, not yet locked (a diff review's race)
    starting = tmp_path / f"{PREFIX}{os.getppid()}_starting"
    starting.mkdir()
    (starting / LOCK).write_bytes(b"")
    a_file = tmp_path / f"{PREFIX}{dead}_file"
    a_file.write_bytes(b"x")
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_bytes(b"x")
    link = tmp_path / f"{PREFIX}{dead}_link"
    link.symlink_to(target)

    fd = os.open(held / LOCK, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        removed = remove_stale_workdirs(tmp_path, keep=keep)
    finally:
        os.close(fd)

    assert sorted(removed) == sorted([stale, own_earlier, reused])
    assert not stale.exists() and not own_earlier.exists() and not reused.exists()
    for kept in (keep, live, starting, held, *others, a_file, link, target / "keep.txt"):
        assert kept.exists(), kept
    assert remove_stale_workdirs(tmp_path / "missing") == []


def test_temp_dir_that_is_not_a_folder_is_refused(tmp_path: Path, capsys) -> None:
    assert main(["--temp-dir", str(tmp_path / "missing"), "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--temp-dir" in err and "missing" in err and "fix:" in err
    assert list(tmp_path.iterdir()) == []


def test_uploads_land_in_the_private_folder_which_sigterm_removes(tmp_path: Path) -> None:
    """One real ``python -m app`` (umask 0): stale folders cleared at start, the upload and the
    derived files in the 0700 folder, and after SIGTERM the folder is gone and the exit code 0."""
    from gradio_client import Client, handle_file

    bundle = build_demo_bundle(tmp_path / "run", image_size=64, source_size=128, n_folds=1)
    base = tmp_path / "tmp"
    base.mkdir()
    stale = base / f"{PREFIX}{_dead_pid()}_abc123"
    stale.mkdir()
    (stale / "DOE_JANE_MRN0012345_OD.png").write_bytes(b"x")
    live = base / f"{PREFIX}{os.getpid()}_live"
    live.mkdir()
    image = tmp_path / "DOE_JANE_OD.png"
    ramp = np.add.outer(np.arange(128), np.arange(128)) // 2  # graded: not noise, not blank
    Image.fromarray((ramp + np.random.default_rng(0).integers(0, 40, (128, 128))).astype(np.uint8)).save(image)

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("GRADIO_TEMP_DIR", None)
    log = tmp_path / "app.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "--bundle", str(bundle), "--port", str(port), "--quiet",
             "--threads", "1", "--temp-dir", str(base)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, umask=0)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/", timeout=240, process=proc)
        workdirs = [p for p in base.iterdir() if workdir_pid(p.name) == proc.pid]
        assert len(workdirs) == 1, sorted(base.iterdir())
        root = workdirs[0]
        assert _mode(root) == 0o700
        assert not stale.exists() and live.exists()

        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        _markdown, _label, original, overlay, details = client.predict(
            handle_file(str(image)), api_name="/grade")
        assert "error" not in details
        uploads = list(root.rglob("DOE_JANE_OD.png"))
        assert uploads, "gradio's upload is not in the private folder"
        for shown in (original, overlay):  # the display copies gradio serves
            assert Path(shown["path"]).resolve().is_relative_to(root.resolve()), shown
        assert [p.name for p in base.iterdir() if p not in (root, live)] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    text = log.read_text(encoding="utf-8")
    assert code == 0, text
    assert not root.exists(), sorted(str(p) for p in root.rglob("*"))
    assert sorted(base.iterdir()) == [live]
    assert f"removed 1 working folder(s) that stopped servers left in {base}" in text
    assert f"kept in {root}" in text and "deleted when the server stops" in text
