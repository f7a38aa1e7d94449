"""data_prep.pool: the ingest's and the phantom generator's workers never outlive the command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from data_prep.pool import spawn_pool

REPO = Path(__file__).resolve().parents[2]


def gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie nobody reaped counts as exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (OSError, IndexError):
        return False
    return state == "Z"


def wait_gone(pids: list[int], seconds: float = 30.0) -> list[int]:
    """The pids of ``pids`` still running after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [p for p in pids if not gone(p)]
        if not alive:
            return []
        time.sleep(0.2)
    return [p for p in pids if not gone(p)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kills and watches processes by pid (Linux)")
def test_a_worker_exits_when_the_command_is_killed(tmp_path: Path) -> None:
    # a command killed outright (kill -9, the OOM killer, a scheduler's limit) cannot shut its
    # pool down: a plain pool's worker stayed blocked for ever
    script = tmp_path / "command.py"
    script.write_text(textwrap.dedent("""
        import os, time
        from data_prep.pool import spawn_pool
        if __name__ == "__main__":
            with spawn_pool(1) as pool:
                print(pool.submit(os.getpid).result(), flush=True)
                pool.submit(time.sleep, 600)
                time.sleep(600)
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    worker = 0
    try:
        worker = int(command.stdout.readline())
        command.kill()
        command.wait(timeout=30)
        assert wait_gone([worker]) == [], "the worker outlived the killed command"
    finally:
        command.kill()
        if worker and not gone(worker):
            os.kill(worker, signal.SIGKILL)


def test_an_interrupt_cancels_the_queued_work() -> None:
    # leaving the block on Ctrl-C used to wait for every queued task to run
    with pytest.raises(KeyboardInterrupt):  # noqa: PT012 - the interrupt comes from the block
        with spawn_pool(1) as pool:
            futures = [pool.submit(time.sleep, 0.02) for _ in range(200)]
            futures[0].result()
            raise KeyboardInterrupt
    assert sum(f.cancelled() for f in futures) > 150
    assert all(f.done() for f in futures)


def test_a_worker_leaves_ctrl_c_to_the_command() -> None:
    # Ctrl-C in a terminal reaches every process of the group: the workers ignore it, so the
    # command alone decides what happens (and the ingest does not fall back to in-process work
    # because its pool broke)
    with spawn_pool(1) as pool:
        worker = pool.submit(os.getpid).result()
        try:
            pool.submit(os.kill, worker, signal.SIGINT).result()
        except KeyboardInterrupt:
            pytest.fail("the worker took the Ctrl-C")
        assert pool.submit(os.getpid).result() == worker


def test_the_initializer_runs_in_each_worker() -> None:
    with spawn_pool(1, initializer=_mark) as pool:
        assert pool.submit(os.getenv, "DRAC_SSL_POOL_TEST").result() == "1"


def _mark() -> None:
    os.environ["DRAC_SSL_POOL_TEST"] = "1"


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux /proc)."""
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(p) for p in (task / "children").read_text().split()]
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads child processes from /proc (Linux)")
def test_a_terminated_phantom_command_stops_its_workers_and_says_so(tmp_path: Path) -> None:
    # SIGTERM to the command alone (`kill PID`, `timeout`, a container stop) used to kill it
    # at once and leave its two spawn workers blocked for ever
    out = tmp_path / "phantom"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = subprocess.Popen(
        [sys.executable, "-m", "data_prep", "phantom", "--out", str(out), "--n-train", "60",
         "--n-test", "20", "--workers", "2"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not any(out.rglob("*.png")) and time.monotonic() < deadline and command.poll() is None:
            time.sleep(0.1)
        assert any(out.rglob("*.png")), "no phantom image was written in 120 s"
        workers = [p for p in children(command.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()]
        assert len(workers) == 2
        command.terminate()
        _, stderr = command.communicate(timeout=120)
        assert command.returncode == 143, stderr  # SIGTERM, as the training exits
        assert "interrupted: the phantom images written so far are kept" in stderr
        assert "Traceback" not in stderr
        assert wait_gone(workers) == [], "a worker outlived the terminated command"
        assert len(list(out.rglob("*.png"))) < 80  # the queued images were not all rendered
    finally:
        command.kill()
        for pid in workers:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
