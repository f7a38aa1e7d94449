"""The CPU thread policy (drac_ssl.runtime) and its use in every entry point (issue #14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
import torch

from drac_ssl import runtime
from tests.helpers.usable_cores import USABLE_2_OF_64, two_usable_of_64

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


def assert_threads(n: int) -> None:
    assert torch.get_num_threads() == n
    assert cv2.getNumThreads() == n


@pytest.mark.parametrize("cores, expected", [(1, 1), (2, 1), (3, 1), (4, 2), (6, 3), (8, 4), (64, 4)])
def test_default_is_half_the_cores_between_1_and_4(cores: int, expected: int) -> None:
    assert runtime.default_threads(cores) == expected


def test_explicit_setting_then_environment_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    info = runtime.apply_thread_policy(3)
    assert info["source"] == "setting" and info["threads"] == 3
    assert_threads(3)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert runtime.apply_thread_policy(0)["source"] == "OMP_NUM_THREADS"
    assert_threads(2)
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(runtime, "usable_cores", lambda: 10)
    info = runtime.apply_thread_policy(None)
    assert info["source"] == "default" and info["usable_cores"] == 10
    assert_threads(4)
    with pytest.raises(ValueError, match="run.threads|positive"):
        runtime.apply_thread_policy(-1)


@pytest.mark.parametrize("affinity, cpu_max", USABLE_2_OF_64)
def test_default_dataloader_workers_are_the_usable_cores_but_one(
        monkeypatch: pytest.MonkeyPatch, affinity: range, cpu_max: str) -> None:
    """Review (library calls) 2: pretrain.num_workers=-1 was os.cpu_count() - 1, the machine's
    CPUs, ignoring the affinity mask and the cgroup quota (63 workers on 2 usable cores)."""
    two_usable_of_64(monkeypatch, affinity, cpu_max)
    assert runtime.dataloader_workers(-1) == 1
    assert runtime.dataloader_workers(5) == 5 and runtime.dataloader_workers(0) == 0


def test_inter_op_pool_already_started_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(n: int) -> None:
        raise RuntimeError("cannot set number of interop threads after parallel work has started")

    monkeypatch.setattr(torch, "set_num_interop_threads", refuse)
    runtime.apply_thread_policy(2)
    assert_threads(2)


def test_train_applies_threads_and_records_them(tmp_path: Path) -> None:
    from drac_ssl import train

    # a run that does nothing: MNIST has no ingest (run.stages=[] is an error)
    args = [f"run.out_dir={tmp_path}", "data.dataset=mnist", "data.root=.", "run.stages=[ingest]", "run.device=cpu"]
    before = torch.get_num_threads(), cv2.getNumThreads()
    assert train.main(["--threads", "3", "run.name=a", *args]) == 0
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before  # the caller's, given back
    env = json.loads((tmp_path / "a" / "environment.json").read_text())
    assert env["threads"]["torch_intra_op"] == 3 and env["threads"]["opencv"] == 3
    assert env["threads"]["policy"] == "setting"
    # a dirty checkout (a code change not committed): its diff kept beside the run
    assert (env.get("code_patch") == "code.patch") == (tmp_path / "a" / "code.patch").is_file()
    assert ("code_patch" in env) == bool(env.get("git_diff_sha256")), env
    assert train.main(["run.threads=2", "run.name=b", *args]) == 0  # the config key
    assert json.loads((tmp_path / "b" / "environment.json").read_text())["threads"]["torch_intra_op"] == 2
    # a different thread count resumes the same run folder (speed, not results)
    assert train.main(["run.threads=1", "run.name=b", *args]) == 0
    assert train.main(["run.threads=-1", "run.name=c", *args]) == 2


def test_export_applies_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set first, before the arguments are judged (nothing to grade here: exit 2), and the
    caller's given back on return (``export.main(argv)`` called from Python)."""
    from drac_ssl import export

    seen: list[tuple[int, int]] = []
    judged = export.score_arguments_problem  # the first thing after the threads are set

    def spy(args: object) -> str | None:
        seen.append((torch.get_num_threads(), cv2.getNumThreads()))
        return judged(args)

    monkeypatch.setattr(export, "score_arguments_problem", spy)
    before = torch.get_num_threads(), cv2.getNumThreads()
    assert export.main(["--threads", "3"]) == 2
    assert seen == [(3, 3)]
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before


def test_umm_applies_threads_and_gives_the_callers_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Second read F6: ``python -m drac_ssl.umm`` checked ``run.threads`` but never set it
    (environment.json said the library defaults), though its main gave threads back. Set before
    the stage runs, said, and the caller's given back on return (``umm.cli.main(argv)``)."""
    from drac_ssl.runtime import thread_settings
    from drac_ssl.umm import cli as umm_cli
    from drac_ssl.umm import stage as umm_stage

    seen: list[tuple[int, int, str]] = []

    def spy(cfg: object, run_dir: Path, **kwargs: object) -> None:  # the stage, not run here
        settings = thread_settings()
        seen.append((settings["torch_intra_op"], settings["opencv"], settings["policy"]))

    monkeypatch.setattr(umm_stage, "run", spy)
    checkpoint = tmp_path / "vicreg_model.safetensors"
    # a safetensors header (the command checks the file's format first); never read: the stage is the spy
    checkpoint.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    before = torch.get_num_threads(), cv2.getNumThreads()
    assert umm_cli.main([str(checkpoint), "--run-dir", str(tmp_path / "run"), "run.device=cpu",
                         "run.threads=3"]) == 0
    assert seen == [(3, 3, "setting")]
    assert "[umm] CPU threads: 3 (setting; " in capsys.readouterr().out
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before


def test_app_applies_threads_before_loading_a_bundle(tmp_path: Path) -> None:
    """The threads are set before the bundle's models load; a bundle that is not there is
    refused before that, from its path alone (before torch and gradio would load)."""
    from app.__main__ import main

    bundle = tmp_path / "run" / "bundle"
    bundle.mkdir(parents=True)
    (bundle / "metadata.json").write_text("not json")  # found, then refused as it loads
    (bundle / "MODEL_CARD.md").write_text("# card")
    runtime.apply_thread_policy(1)
    assert main(["--threads", "3", "--runs-dir", str(tmp_path / "nowhere"),
                 "--temp-dir", str(tmp_path)]) == 2  # no bundle there: nothing applied
    assert_threads(1)
    assert main(["--threads", "3", "--bundle", str(tmp_path / "run"), "--temp-dir", str(tmp_path)]) == 2
    assert_threads(3)
    assert main(["--threads", "-2", "--runs-dir", str(tmp_path)]) == 2


def test_data_prep_applies_threads(tmp_path: Path) -> None:
    """Set before the ingest reads its root; a root that is not there is refused before.
    OpenCV's alone: the ingest runs no torch, and leaves torch's threads as they were (it
    does not import torch: tests/data_prep/test_ingest.py)."""
    from data_prep.__main__ import main

    runtime.apply_thread_policy(1)
    assert main(["ingest", "--threads", "3", "--root", str(tmp_path / "missing"),
                 "--out", str(tmp_path / "out")]) == 2
    assert_threads(1)
    (tmp_path / "empty").mkdir()
    assert main(["ingest", "--threads", "3", "--root", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "out")]) == 2  # no images there
    assert cv2.getNumThreads() == 3 and torch.get_num_threads() == 1


def test_the_policy_without_torch_gives_the_same_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """drac_ssl.cpu_threads (python -m data_prep's) counts as apply_thread_policy does."""
    from drac_ssl import cpu_threads

    assert cpu_threads.apply_opencv_threads(3) == {
        "threads": 3, "source": "setting", "usable_cores": runtime.usable_cores(), "opencv": 3}
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert cpu_threads.thread_count(0) == (2, "OMP_NUM_THREADS") == cpu_threads.thread_count(None)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert cpu_threads.thread_count(None, cores=10) == (4, "default")
    with pytest.raises(ValueError, match="positive"):
        cpu_threads.apply_opencv_threads(-1)


def test_bench_scripts_apply_the_policy_and_record_threads(tmp_path: Path) -> None:
    """Importing bench.common applies the policy (OpenCV does not read OMP_NUM_THREADS, so its
    count shows the policy ran); write_result records the threads."""
    code = (
        "import json, sys, cv2, torch; from pathlib import Path; import bench.common as c; "
        "p = c.write_result('t', {}, Path(sys.argv[1])); r = json.loads(p.read_text()); "
        "print(torch.get_num_threads(), cv2.getNumThreads(), r['threads']['torch_intra_op'], "
        "r['threads']['policy'])"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "3", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split()[-4:] == ["3", "3", "3", "OMP_NUM_THREADS"]


def test_the_environment_record_says_whether_the_code_had_uncommitted_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from drac_ssl import runtime

    calls: list[list[str]] = []

    def fake_run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, stdout=" M drac_ssl/config.py\n", stderr="")

    monkeypatch.setattr(runtime.subprocess, "run", fake_run)
    assert runtime.git_dirty() is True
    assert "--untracked-files=no" in calls[-1]  # run folders and caches are not code changes
    monkeypatch.setattr(runtime.subprocess, "run",
                        lambda args, **kw: subprocess.CompletedProcess(args, 0, stdout="", stderr=""))
    assert runtime.git_dirty() is False
    monkeypatch.setattr(runtime.subprocess, "run",
                        lambda args, **kw: subprocess.CompletedProcess(args, 128, stdout="", stderr="no git"))
    assert runtime.git_dirty() is None  # not a checkout (an installed package): unknown


@pytest.mark.parametrize("value", ["３", "²", "٣"])
def test_omp_num_threads_in_other_than_ascii_digits_is_no_count(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-through: OMP_NUM_THREADS=² crashed thread_count (str.isdigit() is True for it,
    int() refuses it) and ３ was taken for 3, though every count the commands read is ASCII."""
    from drac_ssl import cpu_threads

    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert cpu_threads.thread_count(None, cores=4) == (cpu_threads.default_threads(4), "default")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu_threads.thread_count(None, cores=4) == (3, "OMP_NUM_THREADS")


def test_environment_records_what_decides_gpu_repeatability(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reproducibility review: that cuDNN determinism is not set and torch.compile is on by
    default on CUDA was said in docs/design.md only; environment.json now records both."""
    from drac_ssl import train
    from drac_ssl.config import load_config

    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    assert runtime.gpu_determinism() == {"cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
                                         "cudnn_benchmark": True,
                                         "deterministic_algorithms": torch.are_deterministic_algorithms_enabled()}
    assert runtime.environment_info()["gpu_determinism"]["cudnn_benchmark"] is True
    cpu = load_config(None, ["run.device=cpu"])
    assert train._torch_compile_record(cpu) == {"setting": "auto", "used": False}  # auto: CUDA only
    cpu.pretrain.compile = "true"
    assert train._torch_compile_record(cpu) == {"setting": "true", "used": True}
    cpu.run.device = "tpu"  # not a device this package runs on: unknown, not a failure
    assert train._torch_compile_record(cpu)["used"] is None


def test_the_recorded_thread_count_is_read_by_one_function() -> None:
    """A review: report.md's provenance (report._recorded_threads) and the resume's check
    (train._threads_of) each read ``threads.torch_intra_op``, two copies that could drift: a
    record one took for a count the other would not. One reader, in run_state, serves both."""
    from drac_ssl import report, run_state, train

    assert report.recorded_threads is run_state.recorded_threads is train.recorded_threads
    assert not hasattr(report, "_recorded_threads") and not hasattr(train, "_threads_of")
    read = run_state.recorded_threads
    assert read({"threads": {"torch_intra_op": 3}}) == 3
    assert [read(r) for r in (None, {}, {"threads": 3}, {"threads": {"torch_intra_op": True}},
                              {"threads": {"torch_intra_op": "3"}})] == [None] * 5
