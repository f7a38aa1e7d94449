"""A low-memory tester: a ``MemoryError`` (safetensors' ``Cannot allocate memory`` in the export, a
stage's allocation) ended the training and the export in a raw traceback. Both now say one
``error:`` line naming the settings to lower and exit 2, as for every resource a command
cannot have (a full disk); the run folder records the stage as failed, so the same command
resumes. Every command run through :func:`drac_ssl.starting.run_command` has the same net."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from drac_ssl import export, starting, train


def _error_lines(err: str) -> list[str]:
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_training_out_of_memory_names_the_settings_to_lower(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError("Cannot allocate memory")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train, "run_pipeline", no_memory)  # a stage's allocation (stages.json: "failed")
    assert train.main(["run.device=cpu", "run.name=small"]) == 2
    [line] = _error_lines(capsys.readouterr().err)
    assert "out of memory (MemoryError: Cannot allocate memory)" in line
    # no stage marked it (the report, the checks before the stages): no stage's settings
    assert "outside the stages: close other programs" in line and "same command resumes" in line
    # invocations.jsonl's "ended" "exit_code" (a torchrun job reads it): 2, stop, not 1
    assert train._exit_code_of(MemoryError()) == 2


def _export_error_line(error: BaseException, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> str:
    """The one ``error:`` line of an export (exit 2) whose grading raises ``error``."""
    def no_memory(*args: object, **kwargs: object) -> int:
        raise error

    (tmp_path / "run").mkdir()
    (tmp_path / "images").mkdir()
    monkeypatch.setattr(export, "_predict_folder", no_memory)
    assert export.main([str(tmp_path / "run"), "--images", str(tmp_path / "images"),
                        "--out", str(tmp_path / "sub.csv"), "--device", "cpu"]) == 2
    [line] = _error_lines(capsys.readouterr().err)
    return line


def test_export_out_of_memory_names_what_helps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    line = _export_error_line(MemoryError("Cannot allocate memory (os error 12)"), tmp_path, monkeypatch, capsys)
    assert "out of memory (MemoryError: Cannot allocate memory (os error 12))" in line
    assert "--threads 1" in line and "--out is as it was" in line and "rerun the same command" in line


def test_run_command_says_a_memory_error_no_main_caught(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    def main() -> int:
        raise MemoryError

    monkeypatch.setattr(starting, "_OWN_PROCESS", [])
    with pytest.raises(SystemExit) as stopped:
        starting.run_command(main)
    assert stopped.value.code == starting.OUT_OF_MEMORY_EXIT == 2
    [line] = _error_lines(capsys.readouterr().err)
    assert line.startswith("error: out of memory (MemoryError): ") and "fix: " in line


_ENFORCE = ("[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't allocate memory: you tried "
            "to allocate 4831838208 bytes. Error code 12 (Cannot allocate memory)")


@pytest.mark.parametrize("exc", [
    MemoryError(), RuntimeError(_ENFORCE),
    RuntimeError("Caught MemoryError in DataLoader worker process 0.\nOriginal Traceback ..."),
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
], ids=["MemoryError", "cpu-allocator", "worker", "cuda"])
def test_torch_forms_of_out_of_memory_are_recognised(exc: BaseException) -> None:
    assert starting.is_out_of_memory(exc)
    assert train._exit_code_of(exc) == 2


@pytest.mark.parametrize("exc", [RuntimeError("DataLoader timed out after 600 seconds"),
                                 ValueError("memory"), RuntimeError("Caught KeyError in DataLoader worker")])
def test_other_errors_are_not_out_of_memory(exc: BaseException) -> None:
    assert not starting.is_out_of_memory(exc)


@pytest.mark.parametrize(("stage", "named", "not_named"), [
    ("ingest", ("data.workers", "data.cache_sizes"), ("pretrain.num_workers", "batch_size")),
    ("pretrain", ("pretrain.num_workers=0", "pretrain.batch_size", "pretrain.augment.image_size"), ("umm.", "finetune.")),
    ("umm", ("pretrain.num_workers=0", "umm.batch_size"), ("finetune.", "pretrain.batch_size")),
    ("finetune", ("pretrain.num_workers=0", "finetune.batch_size", "finetune.image_size"), ("umm.",)),
])
def test_training_out_of_memory_names_the_failing_stage_and_its_settings(
        stage: str, named: tuple[str, ...], not_named: tuple[str, ...], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def no_memory(*args: object, **kwargs: object) -> None:
        exc = RuntimeError(_ENFORCE)
        setattr(exc, train.FAILED_STAGE, stage)  # as _run_stages marks a stage's error
        raise exc

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train, "run_pipeline", no_memory)
    assert train.main(["run.device=cpu", "run.name=small"]) == 2
    [line] = _error_lines(capsys.readouterr().err)
    assert f"in stage {stage}: " in line and "DefaultCPUAllocator: can't allocate memory" in line
    assert all(word in line for word in named) and not any(word in line for word in not_named)


def test_export_says_torch_out_of_memory_of_a_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    line = _export_error_line(RuntimeError("Caught MemoryError in DataLoader worker process 0."),
                              tmp_path, monkeypatch, capsys)
    assert line.startswith("error: out of memory (RuntimeError: Caught MemoryError") and "--threads 1" in line


def test_run_command_says_cuda_out_of_memory(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    def main() -> int:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(starting, "_OWN_PROCESS", [])
    with pytest.raises(SystemExit) as stopped:
        starting.run_command(main)
    assert stopped.value.code == 2
    [line] = _error_lines(capsys.readouterr().err)
    assert line.startswith("error: out of GPU memory (OutOfMemoryError: CUDA out of memory") and "nvidia-smi" in line
