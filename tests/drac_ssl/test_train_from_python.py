"""``drac_ssl.train.main(argv)`` called from Python (a script, a notebook): the run records and
prints the command that does the same, ``PYTHON -m drac_ssl.train ARGV``, not the caller's
``sys.argv`` (trial user F4: ``.venv/bin/python ft.py`` was recorded, without data.root, and
its full run's command would have rerun the script), and the caller's CPU threads are given
back on return (they were left at the run's 1/1/1); ``drac_ssl.report.main(argv)``,
``drac_ssl.export.main(argv)`` and ``drac_ssl.umm.cli.main(argv)`` record their own command
too (export and UMM give the threads back as well), each in its own thread."""

from __future__ import annotations

import json
import shlex
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
import torch
from test_first_try import _photographs

from drac_ssl import report, run_state, runtime, train
from drac_ssl.trial_run import FIRST_TRY_OPTION


@pytest.fixture
def caller_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The caller's threads set to 2 (torch and OpenCV) before the call, put back after the
    test; the counts ``torch.set_num_interop_threads`` was called with, collected (the pool
    can be sized once per process: the test must not size this process's)."""
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    sized: list[int] = []
    monkeypatch.setattr(torch, "set_num_interop_threads", sized.append)
    torch.set_num_threads(2)
    cv2.setNumThreads(2)
    yield sized
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


@pytest.fixture
def from_a_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as ``python ft.py`` started it: its own command line names the script."""
    monkeypatch.setattr(sys, "argv", ["ft.py"])
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)


def test_a_run_called_from_python_records_its_own_command_and_gives_the_threads_back(
        tmp_path: Path, from_a_script: None, caller_threads: list[int],
        capsys: pytest.CaptureFixture[str]) -> None:
    before = runtime.thread_settings()
    root = _photographs(tmp_path / "photos IDRiD", 18)  # a space: the recorded word is quoted
    argv = ["-c", "fundus", FIRST_TRY_OPTION, f"data.root={root}", f"run.out_dir={tmp_path / 'runs'}",
            "run.name=ft", "data.workers=1", "pretrain.batch_size=16", "--threads", "1", "run.stages=[ingest]"]
    assert runtime.command_argv()[1:] == ["ft.py"]  # the script, outside the call
    assert train.main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    run_dir = tmp_path / "runs" / "ft"

    record = run_state.last_training(run_dir)
    assert record is not None
    assert record["argv"] == [runtime.interpreter_word(), "-m", "drac_ssl.train", *argv]
    assert shlex.split(record["command"]) == record["argv"]  # quoted for a shell: one word with its space
    assert f"'data.root={root}'" in record["command"]
    assert json.loads((run_dir / "environment.json").read_text())["argv"] == record["argv"]
    assert "ft.py" not in (run_dir / runtime.CONSOLE_LOG).read_text()  # its header line too
    assert "ft.py" not in out
    assert record["threads"]["torch_intra_op"] == 1  # the run ran with its own threads ...

    # ... and the command the first try printed for the full run is the train command, the
    # data.root kept: it trains, where the script's would have run the script again
    full = next(line for line in out.splitlines() if line.startswith("[train] next: the full run"))
    command = shlex.split(full.rsplit(": ", 1)[1])
    assert command[:3] == [runtime.interpreter_word(), "-m", "drac_ssl.train"]
    assert f"data.root={root}" in command and FIRST_TRY_OPTION not in command
    assert "pretrain.batch_size=16" in command and "run.name=ft-2" in command

    # the caller's threads as they were: torch's and OpenCV's given back, the inter-op pool
    # (sized once per process) never sized by a call from Python
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, 2)
    assert runtime.thread_settings()["policy"] == before["policy"]
    assert caller_threads == []
    assert runtime.command_argv()[1:] == ["ft.py"]  # the recorded command ends with the call

    # python -m drac_ssl.report's main, called from Python, records its own command alike
    assert report.main([str(run_dir)]) == 0
    last = json.loads((run_dir / runtime.INVOCATIONS).read_text().splitlines()[-1])
    assert last["tool"] == "drac_ssl.report"
    assert last["argv"] == [runtime.interpreter_word(), "-m", "drac_ssl.report", str(run_dir)]


def test_a_refused_run_gives_the_threads_back_too(tmp_path: Path, caller_threads: list[int],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever ends the call (a refusal, exit 2) gives the threads back."""
    assert train.main(["--threads", "1", f"run.out_dir={tmp_path}", "pretrain.lrr=0.1"]) == 2
    assert "pretrain.lrr" in capsys.readouterr().err
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, 2)
    assert caller_threads == []


def test_the_command_s_own_process_sizes_the_inter_op_pool(monkeypatch: pytest.MonkeyPatch,
                                                           caller_threads: list[int]) -> None:
    """``argv`` None (``python -m drac_ssl.train``, ``drac-ssl-train``): the thread policy
    sizes the inter-op pool as before, and the command recorded is the process's own."""
    monkeypatch.setattr(sys, "argv", ["drac_ssl/train.py", "pretrain.lrr=0.1", "--threads", "1"])
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    seen: list[list[str]] = []
    real = train._main

    def spy(*args: object, **kwargs: object) -> int:
        seen.append(runtime.command_argv())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train, "_main", spy)
    assert train.main() == 2
    assert caller_threads == [1]
    assert seen[0][1:] == ["drac_ssl/train.py", "pretrain.lrr=0.1", "--threads", "1"]


def test_two_runs_in_two_threads_each_record_their_own_command(monkeypatch: pytest.MonkeyPatch,
                                                               from_a_script: None,
                                                               caller_threads: list[int]) -> None:
    """The command a call records is its thread's own: two commands' work overlapping in two
    threads, and a third thread (an export or report beside a training) that gives no
    ``argv``, each see theirs, while both are inside and after the first has returned (a
    process-wide list gave every thread the last one entered, and the first to return took
    the other's away). A second ``train.main`` is refused while one runs (the test below), so
    the second thread runs ``_command``, main's work inside its one-training slot."""
    inside, first_out = threading.Barrier(3), threading.Barrier(2)
    seen: dict[str, list[list[str]]] = {"a": [], "b": [], "beside": []}

    def fake_main(overrides: list[str], *args: object, **kwargs: object) -> int:
        name = overrides[0].split("=")[1]
        inside.wait(timeout=30)  # both runs inside, and the thread beside them
        seen[name].append(runtime.command_argv())
        if name == "b":
            first_out.wait(timeout=30)  # a has returned
            seen[name].append(runtime.command_argv())
        return 0

    def beside() -> None:
        inside.wait(timeout=30)
        seen["beside"].append(runtime.command_argv())

    monkeypatch.setattr(train, "_main", fake_main)
    results: dict[str, int] = {}

    def run(name: str) -> None:
        results[name] = (train.main if name == "a" else train._command)([f"run.name={name}"])
        if name == "a":
            first_out.wait(timeout=30)

    threads = [threading.Thread(target=run, args=(name,)) for name in "ab"]
    threads.append(threading.Thread(target=beside))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == {"a": 0, "b": 0}
    python = runtime.interpreter_word()
    assert seen["a"] == [[python, "-m", "drac_ssl.train", "run.name=a"]]
    assert seen["b"] == [[python, "-m", "drac_ssl.train", "run.name=b"]] * 2
    assert seen["beside"] == [[python, "ft.py"]]
    assert runtime.command_argv() == [python, "ft.py"]


def test_an_export_called_from_python_records_its_own_command_and_gives_the_threads_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, from_a_script: None,
        caller_threads: list[int]) -> None:
    """``drac_ssl.export.main(argv)`` wrote the caller's ``ft.py`` into the run's
    invocations.jsonl and left the caller's threads at ``--threads``, its inter-op pool sized
    for good; now as ``train.main(argv)``. The variant's export itself is stood in for (what
    is checked is the command's wrapping, around whatever it grades)."""
    from drac_ssl import export

    run_dir = tmp_path / "run"
    (run_dir / "finetune").mkdir(parents=True)
    (run_dir / "finetune" / "summary.json").write_text("{}")
    (run_dir / "finetune" / "ensemble").mkdir()  # the variant the command checks it has
    (run_dir / "finetune" / "ensemble" / "model.json").write_text("{}")
    inside: list[tuple[int, int]] = []

    def exported(args: object, held: Path, reused: object = None) -> int:
        inside.append((torch.get_num_threads(), cv2.getNumThreads()))
        return 0

    monkeypatch.setattr(export, "_export_variant_held", exported)
    argv = [str(run_dir), "--variant", "ensemble", "--threads", "1"]
    assert export.main(argv) == 0
    line = json.loads((run_dir / runtime.INVOCATIONS).read_text().splitlines()[-1])
    assert line["tool"] == "drac_ssl.export"
    assert line["argv"] == [runtime.interpreter_word(), "-m", "drac_ssl.export", *argv]
    assert "ft.py" not in line["command"]
    assert inside == [(1, 1)]  # --threads 1 while it ran ...
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, 2)  # ... the caller's after
    assert caller_threads == []
    assert runtime.command_argv()[1:] == ["ft.py"]

    # the command's own process (argv None): its command line, and the inter-op pool sized
    monkeypatch.setattr(sys, "argv", ["drac_ssl/export.py", *argv])
    assert export.main() == 0
    line = json.loads((run_dir / runtime.INVOCATIONS).read_text().splitlines()[-1])
    assert line["argv"] == [runtime.interpreter_word(), "drac_ssl/export.py", *argv]
    assert caller_threads == [1]


def test_a_umm_called_from_python_records_its_own_command_and_gives_the_threads_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, from_a_script: None,
        caller_threads: list[int], capsys: pytest.CaptureFixture[str]) -> None:
    """``drac_ssl.umm.cli.main(argv)`` wrote the caller's command into RUN/umm/environment.json
    (the stage's :func:`drac_ssl.runtime.environment_info`); the stage is stood in for by one
    that reads that record, sets threads (as a stage may) and is refused (exit 2): the threads
    are given back whatever ends the call."""
    from drac_ssl.umm import cli as umm_cli
    from drac_ssl.umm import stage as umm_stage

    checkpoint = tmp_path / "vicreg_model.safetensors"
    checkpoint.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")  # a safetensors header: passes the format check
    recorded: list[list[str]] = []

    def refused(cfg: object, run_dir: Path, checkpoint: Path, data_dir: Path) -> None:
        recorded.append(runtime.environment_info()["argv"])
        torch.set_num_threads(1)
        raise ValueError("umm.batch_size=64 is larger than the 8 images.\n  fix: umm.batch_size=8")

    monkeypatch.setattr(umm_stage, "run", refused)
    argv = [str(checkpoint), "--run-dir", str(tmp_path / "ablation"), "run.device=cpu"]
    assert umm_cli.main(argv) == 2
    assert "umm.batch_size=64 is larger" in capsys.readouterr().err
    assert recorded == [[runtime.interpreter_word(), "-m", "drac_ssl.umm", *argv]]
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, 2)
    assert runtime.command_argv()[1:] == ["ft.py"]


@pytest.mark.parametrize("kernel", ["launcher", "module"])
def test_main_without_argv_in_a_notebook_says_to_pass_argv(
        kernel: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A notebook review: ``drac_ssl.train.main()`` in a Jupyter kernel read the kernel's own
    ``sys.argv`` and said "unrecognized arguments: -f"; now it says to pass ``argv``. The kernel
    is told by its launcher (``sys.argv[0]``) or by ``ipykernel`` being loaded."""
    monkeypatch.setattr(train, "_command", lambda argv: pytest.fail("the command line was read"))
    if kernel == "launcher":
        monkeypatch.setattr(sys, "argv", ["/venv/lib/python3.11/site-packages/ipykernel_launcher.py", "-f",
                                          "/root/.local/share/jupyter/runtime/kernel-1.json"])
    else:
        monkeypatch.setattr(sys, "argv", ["pretrain.lr=0.1"])
        monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    with pytest.raises(SystemExit) as caught:
        train.main()
    err = capsys.readouterr().err
    assert caught.value.code == 2 and "called from a notebook: pass argv, e.g. " \
        "drac_ssl.train.main(['-c', 'fundus', '--first-try'])" in err, err
    assert "unrecognized arguments" not in err


def test_a_second_training_while_one_runs_in_this_process_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook review: two ``train.main`` calls at once in one process (a background
    thread, then a cell) were neither refused nor warned, and torch's thread count ended as
    the first to return left it (threads_kept given back out of order). The second call is
    refused before anything runs, naming the first; the slot is free again once it returns."""
    inside, release = threading.Event(), threading.Event()

    def fake_main(*args: object, **kwargs: object) -> int:
        inside.set()
        assert release.wait(timeout=30)
        return 0

    monkeypatch.setattr(train, "_main", fake_main)
    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(train.main(["run.name=a"])), name="background")
    first.start()
    try:
        assert inside.wait(timeout=30)
        with pytest.raises(train.TrainingInProgress, match=r"another training is running in this process "
                                                           r"\(thread 'background', argv \['run.name=a'\]\)") as caught:
            train.main(["run.name=b"])
        assert "fix: wait for it to return, or start a process per run" in str(caught.value)
    finally:
        release.set()
        first.join(timeout=30)
    assert results == [0]
    assert train.main(["run.name=c"]) == 0  # free again

