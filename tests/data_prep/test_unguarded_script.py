"""A script that calls the ingest at its top level, without ``if __name__ == "__main__":``
(a trial user's notebook-turned-script): each spawn-started worker imports the script and runs
the call again. The worker's call met the parent's lock and said "another ingest is writing into
this --out now", an ingest the user never started; it now says the cause and the two fixes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

import data_prep.pool as pool_module
from data_prep.pool import spawn_pool, top_level_rerun

REPO = Path(__file__).resolve().parents[2]


def test_an_unguarded_top_level_ingest_says_the_guard_not_the_lock(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    rows = ["image name,DR grade"]
    for i in range(8):
        cv2.imwrite(str(root / f"p{i}.png"), np.full((16, 16), 20 * i, np.uint8))
        rows.append(f"p{i}.png,{i % 2}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(f"""
        from data_prep import ingest
        from drac_ssl.config import DataConfig

        result = ingest.run(DataConfig(root={str(root)!r}, cache_sizes=[16], n_folds=2, workers=2),
                            {str(tmp_path / "out")!r}, verbose=False)
        print("ingested", result.n_train)
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and "ingested 8" in done.stdout, done.stderr  # the parent went on alone
    assert "another ingest is writing" not in done.stderr, done.stderr
    said = (f"{script}: data_prep.ingest.run runs at the top level of this script, not under "
            '`if __name__ == "__main__":`')
    assert done.stderr.count(said) == 1, done.stderr  # once, from the first worker: not once per worker
    assert "Traceback" not in done.stderr, done.stderr  # one line each, no worker's traceback
    assert ('-> put the call under `if __name__ == "__main__":`, or pass DataConfig(workers=1) '
            "(no worker processes)") in done.stderr, done.stderr
    assert ("note: the process pool failed (its workers stopped as they started: each imports this "
            "script again and met its top-level call") in done.stderr, done.stderr  # the cause, once


def test_train_main_run_pipeline_and_the_umm_stage_refuse_a_top_level_rerun(tmp_path: Path, monkeypatch,
                                                                            capsys) -> None:
    """In a worker importing a script that calls them at its top level (simulated:
    ``top_level_rerun`` says so): ``train.main`` (whose worker met its own parent's run, "this
    run is already running ... process NNN", returned 75 and ran the script's code after the
    call), ``run_pipeline`` (which raised RunBusy) and ``drac_ssl.umm.cli.main`` stop with
    SystemExit(1) before anything is read or written, so the script's code after the call does
    not run there; only the first of a parent's workers prints the line, the guard's words."""
    from drac_ssl import train
    from drac_ssl.config import load_config
    from drac_ssl.train import run_pipeline
    from drac_ssl.umm import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pool_module, "top_level_rerun", lambda: "/w/script.py")
    monkeypatch.setattr(pool_module, "_rerun_marker", lambda pid: tmp_path / f"marker-{pid}.txt")
    cfg = load_config("default", ["data.root=photos", "run.stages=[ingest]", "run.name=r"])
    fixes = {"drac_ssl.train.main": "data.workers=1 pretrain.num_workers=0",
             "drac_ssl.train.run_pipeline": "data.workers=1 and pretrain.num_workers=0",
             "drac_ssl.umm.cli.main": "pretrain.num_workers=0"}
    argv = ["-c", "default", "data.root=photos", "data.workers=2", "run.stages=[ingest]", "run.name=m"]
    for call, name in ((lambda: train.main(argv), "drac_ssl.train.main"),
                       (lambda: run_pipeline(cfg), "drac_ssl.train.run_pipeline"),
                       (lambda: cli.main(["runs/r"]), "drac_ssl.umm.cli.main")):
        (tmp_path / f"marker-{pool_module._top_pid()}.txt").unlink(missing_ok=True)  # another parent's workers
        for worker in range(2):  # two workers of one parent: the second is silent
            with pytest.raises(SystemExit) as stop:
                call()
            assert stop.value.code == 1
            err = capsys.readouterr().err
            if worker == 0:
                assert err.startswith(f"error: /w/script.py: {name} runs at the top level of this script, not "
                                      'under `if __name__ == "__main__":`'), err
                assert err.endswith(f"or pass {fixes[name]} (no worker processes)\n"), err
                assert err.count("\n") == 1 and "already running" not in err, err
            else:
                assert err == "", err
    assert not (tmp_path / "runs").exists()  # stopped before the run folder


def test_an_unguarded_top_level_phantom_says_the_guard(tmp_path: Path) -> None:
    """The phantom generator's worker ran the script's call again into the same folder (and
    would remove its temporary files); it is refused with the same words."""
    script = tmp_path / "unguarded_phantom.py"
    script.write_text(textwrap.dedent(f"""
        from data_prep import phantom

        phantom.generate({str(tmp_path / "phantom")!r}, n_train=2, n_test=1, workers=2, size=32, progress=False)
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode != 0, done.stderr  # the pool broke: no fallback for the phantom set
    assert (f"{script}: data_prep.phantom.generate runs at the top level of this script" in done.stderr
            and "or pass workers=1 (no worker processes)" in done.stderr), done.stderr


def test_a_call_in_a_workers_task_is_not_taken_for_one() -> None:
    """A deliberate call in a worker (a task, after the worker's start) is no top-level rerun."""
    assert top_level_rerun() is None
    with spawn_pool(1) as pool:
        assert pool.submit(top_level_rerun).result() is None


def test_a_pool_removes_its_marker_however_it_ends(tmp_path: Path, monkeypatch) -> None:
    """The marker a worker of this process wrote (its first to stop at the script's top-level
    call) goes with the pool's end, also when the block caught the broken pool itself or
    failed otherwise: left there, it made the next failure of this process within 60 s say
    "its workers stopped as they started" of a cause that was not."""
    from concurrent.futures.process import BrokenProcessPool

    marker = tmp_path / f"marker-{os.getpid()}.txt"
    monkeypatch.setattr(pool_module, "_rerun_marker", lambda pid: tmp_path / f"marker-{pid}.txt")
    with spawn_pool(1):  # no task submitted: no worker started
        marker.write_text("the words", encoding="utf-8")
        try:
            raise BrokenProcessPool("a worker stopped")
        except BrokenProcessPool:
            pass  # the caller went on in its own process
    assert not marker.exists()
    with pytest.raises(ValueError), spawn_pool(1):
        marker.write_text("the words", encoding="utf-8")
        raise ValueError("another error")
    assert not marker.exists()


def test_a_dataloader_that_lost_its_workers_so_says_the_cause(tmp_path: Path, monkeypatch, capsys) -> None:
    """Under the spawn start method the pretraining's DataLoader workers import the script too;
    stopped there, torch said only "DataLoader worker (pid 123) exited unexpectedly" with a
    traceback. ``train.main`` says it in one line, after the worker's, and returns 2."""
    from drac_ssl import train

    marker = tmp_path / f"marker-{os.getpid()}.txt"
    worker_says: list[str] = []

    def stopped(*args, **kwargs):  # the pretraining's DataLoader, its workers stopped at start
        for words in worker_says:
            marker.write_text(words, encoding="utf-8")
        raise RuntimeError("DataLoader worker (pid(s) 123) exited unexpectedly")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pool_module, "_rerun_marker", lambda pid: tmp_path / f"marker-{pid}.txt")
    monkeypatch.setattr(train, "_run_pipeline_stages", stopped)
    marker.write_text("a killed process's, of this id", encoding="utf-8")  # not this run's workers'
    # no worker said why: a dead worker of unknown cause, the loader's one line (mend_a80:
    # runtime.as_loader_stalled), not torch's traceback
    assert train.main(["-c", "default", "run.stages=[ingest]"]) == 2
    said = capsys.readouterr().err
    assert "a data loader: a worker process stopped and torch did not say why (DataLoader worker (pid(s) " \
           "123) exited unexpectedly;" in said and "fix: add pretrain.num_workers=0" in said
    assert "if that run goes through, a memory or pids limit is the likely cause" in said
    assert "Traceback" not in said and not marker.exists()
    worker_says.append("the words")  # a worker said why
    assert train.main(["-c", "default", "run.stages=[ingest]"]) == 2
    assert capsys.readouterr().err.endswith(
        "error: DataLoader worker (pid(s) 123) exited unexpectedly: its worker processes stopped as they "
        "started: each imports this script again and met its top-level call (the error above says the fix)\n")
    assert not marker.exists()

    def stopped_otherwise(*args, **kwargs):  # a worker said why, and the run ended another way
        marker.write_text("the words", encoding="utf-8")
        raise ValueError("a later error")

    monkeypatch.setattr(train, "_run_pipeline_stages", stopped_otherwise)
    assert train.main(["-c", "default", "run.stages=[ingest]"]) == 2
    assert not marker.exists()  # gone whatever ended the run


def test_forkserver_workers_leave_their_marker_for_the_top_process(tmp_path: Path) -> None:
    """Under the forkserver start method (Linux's default from Python 3.14) a worker's parent is
    the forkserver: keyed on it, the marker was never found by the process that started the pool
    (whose failure then said nothing of the cause) and stayed in the temporary folder. It is keyed
    on the top process now (``DRAC_SSL_TOP_PID``), found and removed."""
    script = tmp_path / "unguarded_forkserver.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        from data_prep.pool import refuse_top_level_rerun, top_level_rerun_said

        refuse_top_level_rerun("a.main", "workers=1")
        top_level_rerun_said()
        try:
            with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as pool:
                pool.submit(abs, 1).result()
        except BrokenProcessPool:
            print("said:", top_level_rerun_said() is not None, flush=True)
    """))
    # A short temporary folder, not one under tmp_path: the forkserver's socket lives there, and
    # under pytest's deep tmp_path (CI sets TMPDIR too) its path passed AF_UNIX's 108 bytes, the
    # forkserver did not start, and the test skipped itself for the wrong reason.
    temp = Path(tempfile.mkdtemp(prefix="fs"))
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(temp)}
        env.pop("DRAC_SSL_TOP_PID", None)
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=60)
        said = f"error: {script}: a.main runs at the top level of this script"
        if done.stdout == "" and said in done.stderr and "Traceback" not in done.stderr:
            # this Python's forkserver imported the script itself (and stopped there)
            pytest.skip(f"the forkserver preloads the main module here: {done.stderr[-300:]}")
        assert done.stdout == "said: True\n", done.stderr
        assert done.stderr.count(said) == 1, done.stderr  # once of the pool's workers
        assert [p.name for p in temp.rglob("*") if p.is_file()] == []  # no marker left behind
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def test_a_marker_is_never_written_or_read_through_a_link(tmp_path: Path, monkeypatch, capsys) -> None:
    """A link planted at a stale marker's name in a shared temporary folder was written through
    (``write_text``) by the worker: now the link is replaced, its target untouched, and the
    parent never reads through one."""
    monkeypatch.setattr(pool_module, "top_level_rerun", lambda: "/w/script.py")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("DRAC_SSL_TOP_PID", "4242")
    target = tmp_path / "victim.txt"
    target.write_text("keep me", encoding="utf-8")
    marker = pool_module._rerun_marker(4242)
    assert oct(marker.parent.stat().st_mode & 0o777) == "0o700"
    marker.symlink_to(target)
    os.utime(marker, (0, 0), follow_symlinks=False)  # a dead process's, long ago
    with pytest.raises(SystemExit):
        pool_module.refuse_top_level_rerun("a.main", "workers=1")
    assert target.read_text(encoding="utf-8") == "keep me"
    assert not marker.is_symlink() and "a.main runs at the top level" in marker.read_text(encoding="utf-8")
    assert capsys.readouterr().err.startswith("error: /w/script.py: a.main")
    here = pool_module._rerun_marker(os.getpid())
    here.unlink(missing_ok=True)
    here.symlink_to(target)
    assert pool_module.top_level_rerun_said() is None  # not read through the link
    assert not here.is_symlink()


def test_a_rerun_whose_script_is_not_on_the_stack_is_still_told(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation audit M54: a child importing its parent's main module by a path the stack does
    not show (no :mod:`multiprocessing.spawn` frame naming it) is still a top-level rerun,
    told as "the main script", not taken for none (None lets the rerun go on in every worker)."""
    from types import SimpleNamespace

    monkeypatch.setattr(pool_module.multiprocessing, "current_process", lambda: SimpleNamespace(_inheriting=True))
    assert top_level_rerun() == "the main script"


def test_a_top_pid_that_is_not_an_ascii_number_falls_back_to_the_parent(monkeypatch) -> None:
    """``str.isdigit`` takes ``²`` as a digit and ``int`` refuses it: the worker then died with a
    traceback instead of its one line. Only ASCII digits name the top process."""
    monkeypatch.setenv("DRAC_SSL_TOP_PID", "\u00b2")
    assert pool_module._top_pid() == os.getppid()
    monkeypatch.setenv("DRAC_SSL_TOP_PID", "4242")
    assert pool_module._top_pid() == 4242
