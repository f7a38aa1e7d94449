"""A SIGTERM that reaches ``python -m drac_ssl.train`` after the run finished (every stage done,
``invocations.jsonl``'s ``"ended": {"exit_code": 0}`` written) while it prints its last lines
(an MLOps review, J2): it said "interrupted: rerun the same command to resume" and exited 143,
which a job script requeues on, for a run with nothing left to do. Now the run's 0 stays the
command's, with one line that says so."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from data_prep.__main__ import main as data_prep_main
from drac_ssl import starting, train
from drac_ssl.trial_run import FIRST_TRY_OPTION


def _ingested(tmp_path: Path) -> Path:
    """A run folder holding only an ingest (2 folds, a 64 px cache) of 10 colour photographs,
    grades 0..4 in turn."""
    import cv2
    import numpy as np

    photos = tmp_path / "photos"
    photos.mkdir()
    rows = []
    for i in range(10):
        cv2.imwrite(str(photos / f"eye_{i:03d}.png"),
                    np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8))
        rows.append(f"eye_{i:03d}.png,{i % 5}")
    (photos / "labels.csv").write_text("image name,DR grade\n" + "\n".join(rows) + "\n")
    run_dir = tmp_path / "runs" / "mine"
    assert data_prep_main(["ingest", "--root", str(photos), "--out", str(run_dir / "data"), "--cache-sizes", "64",
                           "--grades", "icdr", "--workers", "1", "--folds", "2"]) == 0
    return run_dir


def test_a_sigterm_after_the_run_finished_keeps_its_exit_code_0(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = _ingested(tmp_path)
    monkeypatch.setattr(train, "_run_stages", lambda *args, **kwargs: None)  # the records, not the training

    def terminated(_run_dir: Path) -> str:  # the scheduler's SIGTERM, while the result line is made
        os.kill(os.getpid(), signal.SIGTERM)
        return "never said"

    monkeypatch.setattr(train, "result_line", terminated)
    capsys.readouterr()
    argv = ["-c", "fundus", FIRST_TRY_OPTION, f"run.out_dir={run_dir.parent}", "run.name=mine", "run.stages=[pretrain,umm,finetune,export]"]
    monkeypatch.setattr(sys, "argv", ["drac_ssl.train", *argv])  # the command's own process
    monkeypatch.setattr(starting, "_OWN_PROCESS", [])  # which command_main marks: this test's own
    try:
        code = train.command_main()
    except KeyboardInterrupt as exc:  # the interrupt's way: "rerun the same command", 143
        pytest.fail(f"the finished run was reported interrupted, exit {getattr(exc, 'exit_code', None)}")
    assert code == 0
    err = capsys.readouterr().err
    assert "[train] stopped after the run finished: nothing to rerun" in err
    assert "rerun the same command" not in err
    (line,) = [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert line["ended"]["exit_code"] == 0
    # called from Python (a notebook): the same words, then the interrupt raised again so that
    # "Interrupt kernel" stops "Run All"; its exit_code is the run's 0, not 143
    with pytest.raises(KeyboardInterrupt) as raised:
        train.main(argv)
    assert raised.value.exit_code == 0  # type: ignore[attr-defined]
    err = capsys.readouterr().err
    assert "[train] stopped after the run finished: nothing to rerun" in err
    assert "rerun the same command" not in err
    assert [json.loads(x)["ended"]["exit_code"] for x in (run_dir / "invocations.jsonl").read_text().splitlines()] == [0, 0]
    log = (run_dir / "console.log").read_text()
    assert "rerun the same command" not in log and "stopped after the run finished" in log
