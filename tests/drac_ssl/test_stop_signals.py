"""Stopping a training by signal says one clean line and the signal's exit code (a careless-user
review, F6): SIGTERM to the process group printed torch's 20-line ``RuntimeError: DataLoader
worker (pid N) is killed by signal: Terminated`` before the "interrupted" line (the workers
died of it first); three quick Ctrl-C ended in a torch ``atexit`` traceback and exit -2, not
130. Now the data-loading workers ignore both signals (the main process ends them), a SIGTERM
exits 143 and a Ctrl-C 130, and a signal in the interpreter's teardown leaves at once with the
exit code already decided."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from drac_ssl.augment import seed_worker
from drac_ssl.starting import interrupt_exit_code, interrupts_deferred, sigterm_as_ctrl_c

REPO = Path(__file__).resolve().parents[2]


class _Handlers(torch.utils.data.Dataset):
    """Each item: whether this (worker) process ignores SIGINT and SIGTERM."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
                             signal.getsignal(signal.SIGTERM) is signal.SIG_IGN])


def test_the_data_loading_workers_ignore_ctrl_c_and_sigterm() -> None:
    loader = torch.utils.data.DataLoader(_Handlers(), batch_size=2, num_workers=1, worker_init_fn=seed_worker)
    assert next(iter(loader)).all()  # in the worker; the main process keeps its own handlers
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN


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
