"""Stopping a training by signal says one clean line and the signal's exit code (a careless-user
review, F6): SIGTERM to the process group printed torch's 20-line ``RuntimeError: DataLoader
worker (pid N) is killed by signal: Terminated`` before the "interrupted" line (the workers
died of it first); three quick Ctrl-C ended in a torch ``atexit`` traceback and exit -2, not
130. Now the data-loading workers ignore Ctrl-C and exit quietly (status 0) on SIGTERM, a SIGTERM
exits 143 and a Ctrl-C 130, and a signal in the interpreter's teardown leaves at once with the
exit code already decided."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from drac_ssl.augment import seed_worker
from drac_ssl.starting import interrupt_exit_code, interrupts_deferred, sigterm_as_ctrl_c

REPO = Path(__file__).resolve().parents[2]


class _Handlers(torch.utils.data.Dataset):
    """Each item: whether this (worker) process ignores SIGINT, and whether it ignores SIGTERM
    or dies of it (the default action)."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
                             signal.getsignal(signal.SIGTERM) in (signal.SIG_IGN, signal.SIG_DFL)])


def test_the_data_loading_workers_ignore_ctrl_c_and_leave_quietly_on_sigterm() -> None:
    loader = torch.utils.data.DataLoader(_Handlers(), batch_size=2, num_workers=1, worker_init_fn=seed_worker)
    ignores_int, ignores_or_dies_of_term = next(iter(loader))[0].tolist()
    assert ignores_int and not ignores_or_dies_of_term  # in the worker
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN  # the main process keeps its own


_STUCK = """import sys, time, torch
from drac_ssl.augment import seed_worker
from drac_ssl.starting import interrupt_exit_code, sigterm_as_ctrl_c
from drac_ssl.train import exit_with
class Stuck(torch.utils.data.Dataset):
    def __len__(self): return 100
    def __getitem__(self, i):
        if i >= 2: time.sleep(3600)  # a worker stuck (a deadlocked decode)
        return torch.zeros(1)
def main():
    try:
        with sigterm_as_ctrl_c():
            for _ in torch.utils.data.DataLoader(Stuck(), batch_size=1, num_workers=1, worker_init_fn=seed_worker):
                print("batch", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        return interrupt_exit_code()
    return 0
exit_with(main())
"""


@pytest.mark.parametrize("to", ["group", "parent"])
def test_sigterm_ends_a_run_whose_worker_is_stuck_with_a_clean_exit(to: str) -> None:
    """A review: workers ignoring SIGTERM made a stuck worker (busy in its item when the run was
    stopped) unkillable by torch's ``terminate()``; the main process then waited in
    multiprocessing's ``join()`` forever, deaf to more signals. Now SIGTERM to the process group
    (``kill -TERM -PGID``) or to the main process alone ends it with 143, the interrupted line,
    no 'killed by signal' error and no worker left. And nothing left in ``$TMPDIR`` (a cluster
    review: each stopped run left the worker's ``pymp-XXXX/`` folder, holding the listener
    socket through which it handed its batches' shared memory over, since the worker's quick
    exit skipped multiprocessing's clean-up)."""
    # a short TMPDIR: the worker's listener socket lives in it (pymp-XXXX/listener-XXXX), and an
    # AF_UNIX path is at most 107 bytes; pytest's tmp_path under the CI's TMPDIR is too long for one
    short_tmp = Path(tempfile.mkdtemp(prefix="ss", dir="/tmp"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_ALBUMENTATIONS_UPDATE": "1", "TMPDIR": str(short_tmp)}
    proc = subprocess.Popen([sys.executable, "-c", _STUCK], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=REPO, start_new_session=True)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]  # two batches; the worker is stuck now
        assert lines == ["batch\n", "batch\n"], lines
        (os.killpg if to == "group" else os.kill)(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)  # a hang (the old code) fails here
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143, (proc.returncode, out)
    assert "interrupted" in out and "killed by signal" not in out and "Traceback" not in out, out
    left = subprocess.run(["ps", "-o", "pid=", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert left == [], left
    left_in_tmp = sorted(p.name for p in short_tmp.iterdir())
    shutil.rmtree(short_tmp, ignore_errors=True)
    assert left_in_tmp == [], "left in TMPDIR"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_the_exit_code_names_the_signal_that_stopped_it(signum: int, code: int) -> None:
    with sigterm_as_ctrl_c(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signum)  # the handler raises as os.kill returns
    assert interrupt_exit_code() == code
    with sigterm_as_ctrl_c(), pytest.raises(KeyboardInterrupt), interrupts_deferred():
        os.kill(os.getpid(), signum)  # held until the block ends, remembered as what it was
    assert interrupt_exit_code() == code


@pytest.mark.parametrize("code", [130, 143, 0])
def test_a_ctrl_c_in_the_teardown_leaves_with_the_decided_code_and_no_traceback(code: int) -> None:
    """An ``atexit`` handler interrupted by a late Ctrl-C (torch's own, in the review), and one
    in the interpreter's own teardown after it (where Python puts its handlers back to the
    default action: the review's exit -2)."""
    script = ("import atexit, os, signal, time\n"
              "from drac_ssl.train import exit_with\n"
              "class Late:\n"
              "    def __del__(self):\n"
              "        os.kill(os.getpid(), signal.SIGINT)\n"
              "late_in_teardown = Late()\n"
              "def late():\n"
              "    os.kill(os.getpid(), signal.SIGINT)\n"
              "    for _ in range(10**6): pass\n"
              "atexit.register(late)\n"
              f"exit_with({code})\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_ALBUMENTATIONS_UPDATE": "1"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "KeyboardInterrupt" not in proc.stderr, proc.stderr
