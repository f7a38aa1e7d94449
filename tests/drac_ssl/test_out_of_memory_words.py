"""A low-memory tester: a ``MemoryError`` (safetensors' ``Cannot allocate memory`` in the export, a
stage's allocation) ended the training and the export in a raw traceback. Both now say one
``error:`` line naming the settings to lower and exit 2, as for every resource a command
cannot have (a full disk); the run folder records the stage as failed, so the same command
resumes. Every command run through :func:`drac_ssl.starting.run_command` has the same net."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    assert all(word in line for word in ("pretrain.num_workers=0", "pretrain.batch_size", "finetune.image_size",
                                         "same command with it resumes", "run.reuse=RUN"))
    # invocations.jsonl's "ended" "exit_code" (a torchrun job reads it): 2, stop, not 1
    assert train._exit_code_of(MemoryError()) == 2


def test_export_out_of_memory_names_what_helps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    def no_memory(*args: object, **kwargs: object) -> int:
        raise MemoryError("Cannot allocate memory (os error 12)")

    (tmp_path / "run").mkdir()
    (tmp_path / "images").mkdir()
    monkeypatch.setattr(export, "_predict_folder", no_memory)
    assert export.main([str(tmp_path / "run"), "--images", str(tmp_path / "images"),
                        "--out", str(tmp_path / "sub.csv"), "--device", "cpu"]) == 2
    [line] = _error_lines(capsys.readouterr().err)
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
