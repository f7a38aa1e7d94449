"""A reader of the loader-stall change: a worker killed by the out-of-memory killer (SIGKILL)
while the main thread was in the training step, not in ``next()``, made torch's SIGCHLD handler
raise ``DataLoader worker (pid N) is killed by signal: Killed.`` there, past
:func:`drac_ssl.runtime.loader_batches`: a traceback, exit 1. The commands' nets now say it as
:class:`drac_ssl.runtime.LoaderStalled` (exit 2), and a worker killed by SIGBUS (Docker's 64 MB
``/dev/shm``) is said as too small a shared memory, not passed as a crash."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torchvision  # noqa: F401  (what the pipeline imports: loaded with the module, not in a test)

import data_prep.folds  # noqa: F401
import data_prep.ingest  # noqa: F401
import data_prep.phantom  # noqa: F401
from drac_ssl import finetune, runtime, starting, train

_KILLED = "DataLoader worker (pid 4242) is killed by signal: Killed. "
_BUS = "DataLoader worker (pid 4242) is killed by signal: Bus error. "


class _DiesAtFour(torch.utils.data.Dataset):
    """Items 0..7; the worker SIGKILLs itself at item 4 (as the out-of-memory killer would)."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        if key[0] == 4:
            os.kill(os.getpid(), signal.SIGKILL)
        return torch.zeros(1)


def _train_steps() -> None:
    """The first batch, then a training step that takes a while: the worker dies meanwhile."""
    batches = finetune._view_loader(SimpleNamespace(workers=1), _DiesAtFour(), np.arange(8), 0, 2)
    next(iter(batches))
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # torch's SIGCHLD handler raises in here, not in next()
        sum(range(1000))


def test_a_worker_killed_during_the_training_step_is_said_as_a_stall(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def pipeline(*args: object, **kwargs: object) -> None:
        try:
            _train_steps()
        except BaseException as exc:
            setattr(exc, train.FAILED_STAGE, "finetune")  # as _run_stages marks a stage's error
            raise

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train, "run_pipeline", pipeline)
    assert train.main(["run.device=cpu", "run.name=small"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert "the finetune stage's data loader" in line and "is killed by signal: Killed" in line
    assert "pretrain.num_workers=0" in line and "finetune.batch_size" in line


def test_run_command_says_a_killed_worker_with_the_stage_settings(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def main() -> int:
        raise RuntimeError(_KILLED)

    monkeypatch.setattr(starting, "_OWN_PROCESS", [])
    with pytest.raises(SystemExit) as stopped:
        starting.run_command(main, stage="umm")
    assert stopped.value.code == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: the umm stage's data loader") and "umm.batch_size" in line


def test_a_bus_error_is_said_as_too_small_a_shared_memory() -> None:
    stalled = runtime.as_loader_stalled(RuntimeError(_BUS), "pretrain")
    assert isinstance(stalled, runtime.LoaderStalled) and isinstance(stalled.__cause__, RuntimeError)
    words = str(stalled)
    assert "\n" not in words and "SIGBUS" in words and "/dev/shm" in words
    assert "pretrain.num_workers=0" in words and "--shm-size=1g" in words
    # by the worker's exit code where torch's words name no signal
    gone = RuntimeError("DataLoader worker (pid(s) 4242) exited unexpectedly")
    assert runtime.as_loader_stalled(gone, "pretrain", iterator=SimpleNamespace(
        _workers=[SimpleNamespace(exitcode=-signal.SIGBUS)])) is not None
    assert runtime.as_loader_stalled(gone, "pretrain", iterator=SimpleNamespace(
        _workers=[SimpleNamespace(exitcode=-signal.SIGSEGV)])) is None


@pytest.mark.parametrize("exc", [RuntimeError("DataLoader worker (pid 4242) is killed by signal: Segmentation fault. "),
                                 RuntimeError("shape mismatch"), ValueError(_KILLED)])
def test_crashes_and_other_errors_pass_as_they_are(exc: BaseException) -> None:
    assert runtime.as_loader_stalled(exc, "pretrain") is None


@pytest.mark.parametrize(("stage", "named", "not_named"), [
    ("umm", ("pretrain.num_workers=0", "umm.batch_size"), ("finetune.", "data.workers")),
    ("data_prep ingest", ("--workers", "--cache-sizes", "--out folder keeps"), ("data.workers", "pretrain.")),
])
def test_run_command_names_the_settings_of_its_stage_for_memory(
        stage: str, named: tuple[str, ...], not_named: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def main() -> int:
        raise MemoryError

    monkeypatch.setattr(starting, "_OWN_PROCESS", [])
    with pytest.raises(SystemExit):
        starting.run_command(main, stage=stage)
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: out of memory (MemoryError)")
    assert all(word in line for word in named) and not any(word in line for word in not_named)
    # one table: train's stage fixes and the loader's settings are read from it
    assert train.TRAIN_MEMORY_FIXES["umm"] == starting.MEMORY_FIXES["umm"]
    assert runtime.LOADER_SETTINGS is starting.LOADER_SETTINGS


def test_python_m_data_prep_ingest_runs_as_the_ingest_stage() -> None:
    from data_prep.__main__ import _stage_of

    assert _stage_of(["ingest", "--workers", "2"]) == "data_prep ingest"
    assert _stage_of(["flatten"]) is None


def test_a_stage_out_of_memory_names_that_stage_settings_end_to_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def ingest(cfg: object, run_dir: Path) -> dict[str, object]:
        return {}

    def pretrain(cfg: object, run_dir: Path) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't allocate memory")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(train.STAGES, "ingest", ingest)
    monkeypatch.setattr(train.preflight, "after_ingest", lambda *args: [])  # no decoded images to check
    monkeypatch.setitem(train.STAGES, "pretrain", pretrain)  # the pipeline marks the stage (FAILED_STAGE)
    assert train.main(["run.device=cpu", "run.name=small", "run.stages=[ingest,pretrain]"]) == 2
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert "in stage pretrain: " in line and "pretrain.batch_size" in line and "pretrain.augment.image_size" in line
