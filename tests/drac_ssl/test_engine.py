"""The training engine (drac_ssl.engine) on a toy task: early stopping, exact resume,
checkpoint layout, non-finite stop (CPU, well under a second each)."""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from step_clock import StepClock

from drac_ssl import console
from drac_ssl import engine as engine_module
from drac_ssl.checkpoint import load_checkpoint
from drac_ssl.engine import Engine, Monitor, TrainingTask
from drac_ssl.runtime import StageInterrupted


def test_monitor_min_and_max_with_delta_and_patience() -> None:
    low = Monitor("loss", mode="min", min_delta=0.5, patience=2)
    assert [low.update(v, e) for e, v in enumerate([3.0, 2.8, 2.4, 1.0])] == [True, False, True, True]
    assert (low.best, low.best_epoch, low.bad_epochs) == (1.0, 3, 0)
    low.update(1.0, 4)
    assert not low.should_stop
    low.update(0.9, 5)  # not better by more than min_delta
    assert low.should_stop and "2 epochs" in low.reason
    high = Monitor("qwk", mode="max", patience=0)
    assert [high.update(v, e) for e, v in enumerate([-2.0, -2.0, 0.1])] == [True, False, True]
    high.update(0.0, 3)
    high.update(0.0, 4)
    assert not high.should_stop  # patience 0: never stops
    restored = Monitor("qwk", mode="max", state_key="best_qwk")
    restored.load_state_dict({**high.state_dict(), "best_qwk": 0.1})
    assert (restored.best, restored.best_epoch, restored.bad_epochs) == (0.1, 2, 2)
    with pytest.raises(ValueError, match="'min' or 'max'"):
        Monitor("x", mode="up")


class ToyTask(TrainingTask):
    """Linear regression by SGD on random batches drawn from the global torch RNG (so the
    test also sees whether the engine restores the RNG state on resume)."""

    keys = ("loss", "weight_norm")
    watched = ("loss",)
    steps_per_epoch = 3
    pairs_per_step = 4

    def __init__(self, poison_epoch: int | None = None) -> None:
        self.model = torch.nn.Linear(2, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.poison_epoch = poison_epoch
        self.closed = 0

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _ in range(self.steps_per_epoch):
            x = torch.randn(4, 2)
            yield x, x.sum(1, keepdim=True) * (1 + epoch)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.model(x), y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        if self.poison_epoch is not None and step >= self.poison_epoch * self.steps_per_epoch:
            loss = loss * math.nan
        return {"loss": loss, "weight_norm": self.model.weight.norm()}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])

    def best_state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict()}

    def close(self) -> None:
        self.closed += 1


def _engine(out: Path, epochs: int = 4, patience: int = 0, mode: str = "max") -> Engine:
    return Engine("toy", out, epochs=epochs, config={"toy": 1}, seed=3,
                  monitor=Monitor("loss", mode=mode, patience=patience, state_key="best_loss"))


def _run(out: Path, stop_after_epoch: int | None = None, **kwargs: Any) -> tuple[Engine, ToyTask, Any]:
    engine = _engine(out, **kwargs)
    task = ToyTask()  # after the engine: its seed decides the initial weights
    engine.resume(task)
    return engine, task, engine.run(task, stop_after_epoch)



def test_a_long_epoch_prints_a_progress_line_a_minute_into_a_log_and_none_on_a_terminal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: with the output going to a log (the progress bar off), a CPU epoch of MNIST
    printed nothing for 4-30+ minutes. Off a terminal, one plain line at most every 60 s says
    the step, pairs/s and time so far; on a terminal the bar says it and no line is printed.
    The epoch's figures are the same either way."""
    import sys

    monkeypatch.setattr(console, "progress_clock", StepClock(25.0))  # 25 s a read: ~a line every 3 steps
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    _, _, logged = _run(tmp_path / "log", epochs=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[toy] epoch")]
    progress = [line for line in lines if "step" in line]
    assert progress, lines
    assert progress[0].startswith("[toy] epoch 1/2: step ") and " of 3, " in progress[0], progress
    assert "pairs/s" in progress[0] and "s into the epoch" in progress[0], progress
    assert len(progress) <= 2 * 3  # at most one a step, and never two within 60 s of the clock
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    _, _, quiet = _run(tmp_path / "tty", epochs=2)
    assert not [line for line in capsys.readouterr().out.splitlines() if " step " in line]
    for a, b in zip(logged.history, quiet.history, strict=True):
        assert {k: a[k] for k in ("epoch", "step", "loss", "weight_norm")} == \
               {k: b[k] for k in ("epoch", "step", "loss", "weight_norm")}
    # a clock that barely moves: no line at all
    monkeypatch.setattr(console, "progress_clock", StepClock(0.001))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    _run(tmp_path / "fast", epochs=2)
    assert not [line for line in capsys.readouterr().out.splitlines() if " step " in line]


def test_interrupted_and_resumed_run_is_bit_identical(tmp_path: Path) -> None:
    _, straight_task, straight = _run(tmp_path / "straight")
    assert straight.stopped == "completed all epochs" and len(straight.history) == 4
    _, first_task, first = _run(tmp_path / "resumed", stop_after_epoch=1)
    assert first.stopped == "interrupted" and len(first.history) == 2 and first_task.closed == 1
    engine, task, resumed = _run(tmp_path / "resumed")
    assert engine.start_epoch == 2
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert {k: a[k] for k in ("epoch", "step", "loss", "weight_norm")} == \
               {k: b[k] for k in ("epoch", "step", "loss", "weight_norm")}
    assert torch.equal(straight_task.model.weight, task.model.weight)
    csv_lines = (tmp_path / "resumed" / "metrics.csv").read_text().splitlines()
    assert csv_lines[0] == "epoch,step,loss,weight_norm,seconds,pairs_per_second" and len(csv_lines) == 5


def test_a_resume_whose_best_checkpoint_is_gone_is_refused_not_exported_from_the_last_epoch(
        tmp_path: Path) -> None:
    """A trial deleted pretrain/checkpoints/best.pt of an interrupted run: the rerun exported
    the last epoch's weights as "best epoch 1", silently (UMM and fine-tuning built on them)."""
    _run(tmp_path / "run", stop_after_epoch=1)
    (tmp_path / "run" / "checkpoints" / "best.pt").unlink()
    engine, task = _engine(tmp_path / "run"), ToyTask()
    with pytest.raises(FileNotFoundError) as info:
        engine.resume(task)
    said = str(info.value)
    assert str(tmp_path / "run" / "checkpoints" / "best.pt") in said and "epoch" in said
    assert "fix:" in said and str(tmp_path / "run" / "checkpoints") in said

    class NoBest(ToyTask):  # a task that keeps no best.pt (UMM without its early stop) resumes
        def best_state(self) -> None:  # type: ignore[override]
            return None

    assert _engine(tmp_path / "run").resume(NoBest())


def test_checkpoint_keeps_the_keys_older_runs_resume_from(tmp_path: Path) -> None:
    _run(tmp_path, epochs=2)
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert {"model", "optimizer", "epoch", "step", "rng", "history", "best_loss", "best_epoch",
            "bad_epochs", "stopped", "config"} <= set(last)
    assert last["epoch"] == 1 and last["step"] == 6 and last["config"] == {"toy": 1}
    # the CPU threads that made the saved state: a resume compares against it, not against
    # an invocation that was interrupted before it saved anything
    assert last["threads"] == torch.get_num_threads()
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert set(best) == {"model", "epoch", "config"} and best["epoch"] == last["best_epoch"]


def test_an_early_stop_survives_an_interruption(tmp_path: Path) -> None:
    """Killed after the epoch that triggered early stopping: the resumed run stops too."""
    # the toy targets grow with the epoch, so its loss grows: every epoch after the first is worse
    _, _, straight = _run(tmp_path / "straight", epochs=6, patience=1, mode="min")
    assert straight.stopped.startswith("early stopping") and len(straight.history) == 2
    _run(tmp_path / "resumed", epochs=6, patience=1, mode="min", stop_after_epoch=1)
    _, _, resumed = _run(tmp_path / "resumed", epochs=6, patience=1, mode="min")
    assert resumed.stopped == straight.stopped and len(resumed.history) == 2


def test_patience_running_out_on_the_last_epoch_is_no_early_stop(tmp_path: Path) -> None:
    """A review: a run that stopped on its last scheduled epoch said ``epoch 12/12`` then
    ``early stopping: no improvement ...`` (in report.md too): it ran every epoch, so it did not
    stop early. It completed all epochs, and says why its best epoch is an earlier one."""
    # the toy's loss grows every epoch: with patience 1 the second epoch runs the patience out
    _, _, last = _run(tmp_path / "last", epochs=2, patience=1, mode="min")
    assert len(last.history) == 2 and last.best_epoch == 0
    assert last.stopped == "completed all epochs: no improvement of loss for 1 epochs", last.stopped
    _, _, early = _run(tmp_path / "early", epochs=3, patience=1, mode="min")  # one epoch unrun
    assert early.stopped == "early stopping: no improvement of loss for 1 epochs" and len(early.history) == 2
    # killed after that last epoch was saved: the resumed run says the same, training nothing
    _run(tmp_path / "resumed", epochs=2, patience=1, mode="min", stop_after_epoch=1)
    _, _, resumed = _run(tmp_path / "resumed", epochs=2, patience=1, mode="min")
    assert resumed.stopped == last.stopped and len(resumed.history) == 2


def test_non_finite_value_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    task = ToyTask(poison_epoch=1)
    with pytest.raises(RuntimeError, match="non-finite loss"):
        engine.run(task)
    assert task.closed == 1
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["epoch"] == 0
    # a review: a stop in the first epoch said 'the last good checkpoint ... is kept' of a file
    # that was never written
    with pytest.raises(RuntimeError) as first:
        _engine(tmp_path / "first").run(ToyTask(poison_epoch=0))
    assert "No checkpoint was written yet" in str(first.value) and "is kept" not in str(first.value)
    assert not (tmp_path / "first" / "checkpoints" / "last.pt").exists()


def test_a_stages_non_finite_error_is_left_to_its_command_to_print(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A stage's NonFiniteError is printed once, as its command's error: line (the engine printed
    it too, so python -m drac_ssl.train would have said it twice); any other is printed here."""
    from drac_ssl.runtime import NonFiniteError

    class StageTask(ToyTask):
        def non_finite(self, epoch: int, means: dict[str, float], bad: list[str], last: Path) -> Exception:
            return NonFiniteError(f"[toy] epoch {epoch + 1}: non-finite {', '.join(bad)}")

    capsys.readouterr()
    with pytest.raises(NonFiniteError, match=r"\[toy\] epoch 2: non-finite loss"):
        _engine(tmp_path / "stage").run(StageTask(poison_epoch=1))
    assert "non-finite" not in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="non-finite loss"):
        _engine(tmp_path / "plain").run(ToyTask(poison_epoch=1))
    assert "non-finite loss" in capsys.readouterr().out


class GuardedToyTask(ToyTask):
    """The toy task with a guard that refuses the epochs listed in ``refuse``."""

    def __init__(self, refuse: tuple[int, ...]) -> None:
        super().__init__()
        self.refuse = refuse

    def guard(self, epoch: int, row: dict[str, Any]) -> str | None:
        return f"guard: epoch {epoch + 1} refused" if epoch in self.refuse else None


def test_guard_stop_rolls_back_to_the_last_epoch_that_passed(tmp_path: Path) -> None:
    torch.manual_seed(1)
    task = GuardedToyTask(refuse=(2,))
    engine = Engine("toy", tmp_path, epochs=5, monitor=Monitor("loss"), config={}, seed=0)
    result = engine.run(task)
    assert result.stopped == "guard: epoch 3 refused" and len(result.history) == 3
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert state["epoch"] == 1 and state["stopped"] == result.stopped and len(state["history"]) == 3
    # the task holds epoch 2's weights again: those of a plain two-epoch run
    torch.manual_seed(1)
    reference = ToyTask()
    Engine("toy", tmp_path / "ref", epochs=2, monitor=Monitor("loss"), config={}, seed=0).run(reference)
    for key, value in reference.model.state_dict().items():
        assert torch.equal(task.model.state_dict()[key], value), key
    # the best epoch is never the refused one, and a rerun stops at once
    assert load_checkpoint(tmp_path / "checkpoints" / "best.pt")["epoch"] <= 1
    again = Engine("toy", tmp_path, epochs=5, monitor=Monitor("loss"), config={}, seed=0)
    assert again.resume(GuardedToyTask(refuse=())) and again.run(GuardedToyTask(refuse=())).stopped == result.stopped


def test_guard_refusing_the_first_epoch_restores_the_starting_state(tmp_path: Path) -> None:
    task = GuardedToyTask(refuse=(0,))
    start = {k: v.clone() for k, v in task.model.state_dict().items()}
    result = Engine("toy", tmp_path, epochs=3, monitor=Monitor("loss"), config={}, seed=0).run(task)
    assert result.stopped == "guard: epoch 1 refused" and len(result.history) == 1
    for key, value in start.items():
        assert torch.equal(task.model.state_dict()[key], value), key
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["epoch"] == -1


def test_checkpoint_every_n_epochs_keeps_the_best_weights_and_resumes_exactly(tmp_path: Path) -> None:
    # mode="min" on a loss that grows with the epoch: epoch 0 is the best, so best.pt must hold
    # epoch 0's weights although it is first written at epoch 2 (a device copy until then)
    def run(out: Path, stop_after_epoch: int | None = None) -> tuple[Engine, ToyTask, Any]:
        engine = Engine("toy", out, epochs=5, config={"toy": 1}, seed=3, checkpoint_every=3,
                        monitor=Monitor("loss", mode="min", state_key="best_loss"))
        task = ToyTask()
        engine.resume(task)
        return engine, task, engine.run(task, stop_after_epoch)

    _, epoch0_task, _ = run(tmp_path / "one", stop_after_epoch=0)
    epoch0_weight = epoch0_task.model.weight.detach().clone()
    assert not (tmp_path / "one" / "checkpoints" / "last.pt").exists()  # epoch 0 is not a checkpoint epoch
    assert len((tmp_path / "one" / "metrics.csv").read_text().splitlines()) == 2  # history: every epoch

    _, straight_task, straight = run(tmp_path / "straight")
    assert straight.best_epoch == 0
    last = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    assert last["epoch"] == 4  # the last epoch is always written
    best = load_checkpoint(tmp_path / "straight" / "checkpoints" / "best.pt")
    assert best["epoch"] == 0 and torch.equal(best["model"]["weight"], epoch0_weight)
    assert not torch.equal(straight_task.model.weight, epoch0_weight)

    _run_dir = tmp_path / "resumed"
    run(_run_dir, stop_after_epoch=3)  # killed after epoch 3: epoch 2 is the last one written
    assert load_checkpoint(_run_dir / "checkpoints" / "last.pt")["epoch"] == 2
    engine, task, resumed = run(_run_dir)
    assert engine.start_epoch == 3
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    assert torch.equal(task.model.weight, straight_task.model.weight)
    with pytest.raises(ValueError, match="checkpoint_every"):
        Engine("toy", tmp_path, epochs=1, config={}, seed=0, monitor=Monitor("loss"), checkpoint_every=0)


@pytest.mark.parametrize(("check_every", "steps_run"), [(2, 2), (0, 60)])
def test_mid_epoch_non_finite_check_is_optional(tmp_path: Path, check_every: int, steps_run: int) -> None:
    """Every ``check_every`` steps the engine reads the first watched sum and stops the epoch
    on NaN; with 0 it reads nothing inside the epoch (not even every 50 steps, the default)
    and still stops at the epoch's end."""
    engine = Engine("toy", tmp_path, epochs=2, config={}, seed=3, monitor=Monitor("loss"),
                    non_finite_check_every=check_every)
    task = ToyTask(poison_epoch=0)
    task.steps_per_epoch = 60
    steps = []
    original = task.step
    task.step = lambda batch, step: steps.append(step) or original(batch, step)  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="non-finite loss"):
        engine.run(task)
    assert len(steps) == steps_run
    assert not (tmp_path / "checkpoints" / "last.pt").exists()


class CtrlCTask(ToyTask):
    """Ctrl-C in a step of epoch ``epoch`` (0-based), as a user's key press lands."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.ctrl_c_epoch = epoch

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        if step == self.ctrl_c_epoch * self.steps_per_epoch + 1:
            raise KeyboardInterrupt
        return super().step(batch, step)


def test_ctrl_c_says_which_epoch_is_saved_and_where_the_rerun_resumes(tmp_path: Path) -> None:
    engine = _engine(tmp_path, epochs=20)
    with pytest.raises(StageInterrupted) as caught:  # in epoch 7: epochs 1..6 are in last.pt
        engine.run(CtrlCTask(epoch=6))
    assert (caught.value.saved, caught.value.resume) == ("epoch 6 of 20 saved", "resume from epoch 7")
    assert isinstance(caught.value, KeyboardInterrupt)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["epoch"] == 5
    resumed = _engine(tmp_path, epochs=20)
    resumed.resume(ToyTask())
    with pytest.raises(StageInterrupted) as caught:  # resumed, and interrupted before another save
        resumed.run(CtrlCTask(epoch=6))
    assert caught.value.saved == "epoch 6 of 20 saved"
    with pytest.raises(StageInterrupted) as caught:
        _engine(tmp_path / "fresh").run(CtrlCTask(epoch=0))
    assert (caught.value.saved, caught.value.resume) == ("no epoch saved yet", "start it again")


def test_ctrl_c_while_an_epoch_is_saved_waits_until_its_line_is_printed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The trial saw epoch 6 saved but its line never printed: a Ctrl-C between the checkpoint
    and the line now waits for the line, and the run stops right after it."""
    # Python's own Ctrl-C handler, as a terminal run has it (pytest started as a background job
    # of a script inherits SIGINT ignored)
    monkeypatch.setattr(engine_module, "write_history", _ctrl_c_after_the_checkpoint_of(2))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        engine = _engine(tmp_path, epochs=5)
        with pytest.raises(StageInterrupted) as caught:
            engine.run(ToyTask())
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, previous)
    assert caught.value.saved == "epoch 2 of 5 saved" and caught.value.resume == "resume from epoch 3"
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if line.startswith("loss ")]) == 2  # the saved epoch's line too


def _ctrl_c_after_the_checkpoint_of(epochs: int) -> Any:
    """``write_history`` that sends this process SIGINT once ``epochs`` epochs are in
    ``last.pt`` and before that epoch's line is printed."""
    real = engine_module.write_history

    def write_history(out_dir: Path, history: list[dict[str, Any]]) -> None:
        real(out_dir, history)
        if len(history) == epochs:
            os.kill(os.getpid(), signal.SIGINT)

    return write_history


def test_ctrl_c_as_the_last_epoch_is_saved_says_the_training_finished(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review found "epoch 3 of 3 saved; resume from epoch 4" after a Ctrl-C during the last
    epoch's save: the rerun trains nothing, it only finishes the stage."""
    monkeypatch.setattr(engine_module, "write_history", _ctrl_c_after_the_checkpoint_of(3))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(StageInterrupted) as caught:
            _engine(tmp_path, epochs=3).run(ToyTask())
    finally:
        signal.signal(signal.SIGINT, previous)
    assert caught.value.saved == "training finished: epoch 3 of 3 saved"
    assert "no epoch is trained again" in caught.value.resume and "epoch 4" not in caught.value.resume


class MonitoredToyTask(ToyTask):
    """The toy task with a monitor measured after each epoch's steps (the weight's sum, a
    deterministic function of the weights); Ctrl-C inside it at epoch ``ctrl_c_epoch``."""

    def __init__(self, ctrl_c_epoch: int | None = None) -> None:
        super().__init__()
        self.ctrl_c_epoch = ctrl_c_epoch
        self.monitored: list[int] = []

    def epoch_monitors(self, epoch: int, row: dict[str, Any]) -> dict[str, Any]:
        if epoch == self.ctrl_c_epoch:
            self.ctrl_c_epoch = None
            raise KeyboardInterrupt
        self.monitored.append(epoch)
        return {"weight_sum": round(float(self.model.weight.detach().sum()), 6)}


def test_ctrl_c_in_a_monitor_keeps_the_finished_epoch_and_the_resume_is_exact(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial lost a whole epoch ("no epoch saved yet") to a Ctrl-C in the k-NN monitor run
    after the epoch's training: the trained epoch is now saved and its monitors run first on
    resume, so the history and weights are those of an uninterrupted run."""
    def run(out: Path, ctrl_c_epoch: int | None = None) -> tuple[Engine, MonitoredToyTask, Any]:
        engine = _engine(out)
        task = MonitoredToyTask(ctrl_c_epoch)  # after the engine: its seed decides the initial weights
        engine.resume(task)
        return engine, task, engine.run(task)

    _, straight_task, straight = run(tmp_path / "straight")
    with pytest.raises(StageInterrupted) as caught:
        run(tmp_path / "resumed", ctrl_c_epoch=2)
    assert (caught.value.saved, caught.value.resume) == ("epoch 3 of 4 saved", "resume from epoch 4")
    state = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert "its monitors run when it resumes" in capsys.readouterr().out
    engine, task, resumed = run(tmp_path / "resumed")
    assert task.monitored == [2, 3] and engine.start_epoch == 3
    assert [{k: v for k, v in r.items() if k not in ("seconds", "pairs_per_second")} for r in resumed.history] \
        == [{k: v for k, v in r.items() if k not in ("seconds", "pairs_per_second")} for r in straight.history]
    assert torch.equal(task.model.weight, straight_task.model.weight)
    assert load_checkpoint(tmp_path / "resumed" / "checkpoints" / "best.pt")["epoch"] == straight.best_epoch
    assert "monitors_pending" not in load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")


def test_metrics_csv_quotes_text_and_keeps_numeric_rows_as_they_were(tmp_path: Path) -> None:
    """Review (library calls) 6: metrics.csv was joined by hand, so a text value holding a
    comma split into two cells; csv.DictWriter quotes it. Numeric rows (ints, floats, None, a
    key a row lacks) are byte for byte what the hand-joined file held."""
    import csv

    numeric = [{"epoch": 0, "loss": 1.234567, "lr": 0.001, "knn_top1": None},
               {"epoch": 1, "loss": float("nan"), "lr": 1e-05, "val_auc": 0.75, "stopped": False}]
    engine_module.write_history(tmp_path, numeric)
    keys = ["epoch", "loss", "lr", "knn_top1", "val_auc", "stopped"]
    by_hand = "\n".join([",".join(keys), *(",".join("" if r.get(k) is None else str(r.get(k)) for k in keys)
                                          for r in numeric)]) + "\n"
    assert (tmp_path / "metrics.csv").read_text(encoding="utf-8") == by_hand
    engine_module.write_history(tmp_path, [{"epoch": 0, "note": 'resumed, lr "halved"', "loss": 0.5}])
    with open(tmp_path / "metrics.csv", newline="", encoding="utf-8") as fh:
        assert list(csv.reader(fh)) == [["epoch", "note", "loss"], ["0", 'resumed, lr "halved"', "0.5"]]


def test_max_monitor_needs_min_delta_above_the_best() -> None:
    """mode=max: a rise smaller than min_delta is not an improvement (mutation E05: best - min_delta)."""
    m = Monitor("qwk", mode="max", min_delta=0.1, patience=1)
    assert [m.update(v, e) for e, v in enumerate([0.5, 0.45, 0.55, 0.61])] == [True, False, False, True]


def test_min_monitor_needs_a_drop_of_more_than_min_delta() -> None:
    """mode=min: a drop of exactly min_delta is not an improvement (mutation E02: <= instead of <)."""
    m = Monitor("loss", mode="min", min_delta=0.25, patience=3)
    assert [m.update(v, e) for e, v in enumerate([1.0, 0.75, 0.5])] == [True, False, True]
    assert m.best == 0.5 and m.best_epoch == 2
