"""bench/gpu_check.sh, the one prepared GPU check of issue #15, tested on the CPU.

The shell flow (detached runner, time budget, epoch plan, skipped steps, what is copied to
$OUT) runs here in seconds with a stub interpreter that writes the result files the bench
scripts would write. The real thing, every step with tiny settings on the CPU
(``bash bench/gpu_check.sh cpu-smoke DIR``), takes about two minutes on a busy 2-core
machine: it runs only with DRAC_SSL_BENCH_SMOKE=1 (bench/GPU_CHECK.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench import gpu_check

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu_check.sh"
RunCheck = Callable[..., tuple[subprocess.CompletedProcess, list[list[str]]]]

STUB = r'''
import json, os, runpy, sys
from pathlib import Path
args = sys.argv[1:]
if args and args[0].endswith("gpu_check.py"):  # the real helper
    sys.argv = args
    runpy.run_path(args[0], run_name="__main__")
    sys.exit(0)
if args[:1] == ["-c"] or args[:2] == ["-m", "pip"]:
    print("stub:", " ".join(args)[:60])
    sys.exit(0)
module = args[1]
def opt(name):
    return args[args.index(name) + 1]
with open(os.environ["STUB_CALLS"], "a") as fh:
    fh.write(json.dumps(args) + "\n")
out, name = Path(opt("--out-dir")), opt("--name")
out.mkdir(parents=True, exist_ok=True)
device = {"device": "stub GPU"}
if module == "bench.pretrain_throughput":
    if os.environ.get("STUB_PROBE_FAILS"):
        sys.exit(1)
    rate = float(os.environ.get("STUB_RATE", "25900"))
    setting = {"batch_size": 512, "steps_per_epoch": 97, "real_pairs_per_s": rate, "ceiling_pairs_per_s": rate,
               "ratio": 1.0, "compiled": True, "first_step_s": 40.0, "host_syncs_in_step": "none"}
    if os.environ.get("STUB_COMPILE_ERROR"):
        setting.update(compiled=False, compile_error="InductorError: stub")
    (out / f"{name}.json").write_text(json.dumps({**device, "settings": {"cifar_gpu_aug": setting}}))
elif module == "bench.cifar10_vicreg":
    run = Path(opt("--run-dir")) / "pretrain"
    run.mkdir(parents=True, exist_ok=True)
    (run / "vicreg_model.safetensors").write_bytes(b"weights")
    (run / "metrics.jsonl").write_text('{"epoch": 0}\n')
    (out / f"{name}_curve.png").write_bytes(b"png")
    (out / f"{name}.json").write_text(json.dumps({**device, "epochs": int(opt("--epochs")), "batch_size": 512,
        "linear_probe_top1": 84.0, "knn_top1_k20": 82.0, "knn_top1_k200": 80.0, "pretrain_seconds": 230.0,
        "code_stamp_env": os.environ.get("DRAC_SSL_CODE_STAMP")}))
elif module == "bench.umm_ablation":
    (out / f"{name}.png").write_bytes(b"png")
    rows = {k: {"linear_probe_top1": 84.0, "knn_top1_k20": 82.0} for k in ("control", "umm")}
    (out / f"{name}.json").write_text(json.dumps({**device, "variants": rows, "gain_over_fair_control": {}}))
'''


@pytest.fixture
def run_check(run_with_stub_python: Callable[..., Any]) -> RunCheck:
    """``run_check(folder, mode, **env)``: bench/gpu_check.sh ``mode`` with the stub interpreter
    (tests/bench/conftest.py), its work folder, tag ``stubgpu``, CIFAR path and code stamp path
    (``GPU_CODE_STAMP``: none written unless a test writes it) in ``folder``."""
    def run(folder: Path, mode: list[str], **env: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
        return run_with_stub_python(SCRIPT, folder, STUB, mode, {
            "GPU_CHECK_WORK": str(folder / "work"), "GPU_CHECK_TAG": "stubgpu", "GPU_CHECK_INSTALL": "0",
            "GPU_CHECK_CIFAR": str(folder / "cifar10_jpeg.tar.xz"), "PYTHONPATH": str(REPO),
            "GPU_CODE_STAMP": str(folder / "code_version.txt"), **env})

    return run


def test_device_run_starts_a_detached_runner_and_copies_at_most_eight_files(tmp_path: Path, run_check: RunCheck) -> None:
    proc, calls = run_check(tmp_path, ["run"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "runner finished" in proc.stdout
    # no code stamp: the benches ask git, as before
    assert f"no {tmp_path / 'code_version.txt'}: the result files will name" in proc.stdout
    assert json.loads((tmp_path / "out" / "cifar10_vicreg_stubgpu.json").read_text())["code_stamp_env"] is None
    modules = [c[1] for c in calls]
    assert modules == ["bench.pretrain_throughput", "bench.cifar10_vicreg", "bench.umm_ablation"]
    cifar = calls[1]
    assert cifar[cifar.index("--epochs") + 1] == "100"  # 100 epochs fit at the H100 ceiling rate
    assert "pretrain.knn_every=5" in cifar
    umm = calls[2]
    assert umm[umm.index("--variants") + 1] == "control,umm" and "umm.max_steps_per_epoch=100" in umm
    out = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert out == sorted(["progress.log", "summary.txt", "gpu_check_stubgpu.tar.gz", "pretrain_throughput_stubgpu.json",
                          "cifar10_vicreg_stubgpu.json", "cifar10_vicreg_stubgpu_curve.png",
                          "umm_ablation_stubgpu.json", "umm_ablation_stubgpu.png"])
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in out)  # what the device tool brings back
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "cifar10 100 epochs (batch 512): linear 84.0 %" in summary and "umm control" in summary
    # a later 'wait' call on the finished runner copies the same files again
    proc, _ = run_check(tmp_path, ["wait", "5"])
    assert proc.returncode == 0 and "runner finished" in proc.stdout


def test_the_device_run_names_the_code_of_the_stamp_prepare_wrote(tmp_path: Path, run_check: RunCheck) -> None:
    """The device copy's .git named an earlier commit than the code sent: 'prepare' writes a
    code stamp (bench/gpu_lib.sh write_code_stamp) and the sums of the files, 'run' checks the
    tree against them and hands the stamp to the benches (DRAC_SSL_CODE_STAMP, read by
    bench/common.py) and the meta file names its commit. (Without a stamp: the first test; a
    tree that does not match: tests/bench/test_common.py.)"""
    import hashlib

    stamp = tmp_path / "code_version.txt"
    stamp.write_text("commit 0123456789abcdef0123456789abcdef01234567\nwritten_utc 2026-12-05T10:00:00Z\n"
                     "changed  M drac_ssl/model.py\n")
    digest = hashlib.sha256((REPO / "bench" / "gpu_lib.sh").read_bytes()).hexdigest()
    (tmp_path / "code_files.sha256").write_text(f"{digest}  bench/gpu_lib.sh\n")
    proc, _ = run_check(tmp_path, ["run"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "code stamp: commit 0123456, written 2026-12-05T10:00:00Z" in proc.stdout
    assert "matches the tree" in proc.stdout
    cifar = json.loads((tmp_path / "out" / "cifar10_vicreg_stubgpu.json").read_text())
    assert cifar["code_stamp_env"] == str(stamp)
    meta = (tmp_path / "work" / "res" / "meta_stubgpu.txt").read_text().splitlines()
    assert meta[:2] == [f"git: 0123456 (from {stamp}, written 2026-12-05T10:00:00Z)", "dirty: 1"]


def test_a_slow_probe_shortens_the_run_and_umm_waits_for_time(tmp_path: Path, run_check: RunCheck) -> None:
    proc, calls = run_check(tmp_path, ["run"], STUB_RATE="9000", GPU_CHECK_BUDGET_S="300", GPU_CHECK_UMM_MIN_S="400")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cifar = next(c for c in calls if c[1] == "bench.cifar10_vicreg")
    expected = gpu_check.plan({"settings": {"cifar_gpu_aug": {"steps_per_epoch": 97, "batch_size": 512,
                                                              "real_pairs_per_s": 9000}}}, 300 - 10)["epochs"]
    assert 10 <= int(cifar[cifar.index("--epochs") + 1]) <= expected < 100
    assert not any(c[1] == "bench.umm_ablation" for c in calls)
    assert "skip umm" in (tmp_path / "out" / "progress.log").read_text()


def test_a_failed_probe_falls_back_to_a_short_run(tmp_path: Path, run_check: RunCheck) -> None:
    proc, calls = run_check(tmp_path, ["run"], STUB_PROBE_FAILS="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cifar = next(c for c in calls if c[1] == "bench.cifar10_vicreg")
    assert cifar[cifar.index("--epochs") + 1] == "30"
    assert "no usable probe result" in (tmp_path / "out" / "progress.log").read_text()


def test_a_compiler_error_in_the_probe_turns_compile_off_for_the_run(tmp_path: Path, run_check: RunCheck) -> None:
    proc, calls = run_check(tmp_path, ["run"])
    assert "pretrain.compile=false" not in next(c for c in calls if c[1] == "bench.cifar10_vicreg")
    proc, calls = run_check(tmp_path / "again", ["run"], STUB_COMPILE_ERROR="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pretrain.compile=false" in next(c for c in calls if c[1] == "bench.cifar10_vicreg")
    assert "compile failed: InductorError: stub" in (tmp_path / "again" / "out" / "summary.txt").read_text()


def test_run_refuses_to_start_outside_the_device_tool(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    proc = subprocess.run(["bash", str(SCRIPT), "run"], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "OUT is unset" in proc.stdout


def test_run_refuses_an_empty_shared_data_variable(tmp_path: Path, run_check: RunCheck) -> None:
    proc, calls = run_check(tmp_path, ["run"], DRAC_SSL_SHARED_DATA=" ")
    assert proc.returncode == 2 and "DRAC_SSL_SHARED_DATA is set but empty" in proc.stdout
    assert calls == [] and not (tmp_path / "work").exists()


def test_plan_fits_the_epochs_in_the_time_left() -> None:
    probe = {"settings": {"cifar_gpu_aug": {"steps_per_epoch": 97, "batch_size": 512, "real_pairs_per_s": 24832}}}
    full = gpu_check.plan(probe, 400)
    assert full["epochs"] == 100 and full["predicted_epoch_s"] == pytest.approx(2.0 + gpu_check.PER_EPOCH_S)
    short = gpu_check.plan(probe, 200)
    assert short["epochs"] == int((200 - gpu_check.STARTUP_S - gpu_check.EVAL_S) // short["predicted_epoch_s"])
    assert gpu_check.plan(probe, 80)["epochs"] == 0  # not even 10 epochs


def test_fake_cifar_archive_reads_like_the_real_one(tmp_path: Path) -> None:
    from drac_ssl.datasets import load_cifar10

    path = gpu_check.fake_cifar(tmp_path / "cifar10_jpeg.tar.xz", train_per_class=3, test_per_class=2)
    train, test = load_cifar10(path, "train"), load_cifar10(path, "test")
    assert train.images.shape == (30, 32, 32, 3) and test.images.shape == (20, 32, 32, 3)
    assert sorted(set(train.labels.tolist())) == list(range(10))


@pytest.mark.skipif(os.environ.get("DRAC_SSL_BENCH_SMOKE") != "1",
                    reason="about two minutes on a 2-core CPU: set DRAC_SSL_BENCH_SMOKE=1 (bench/GPU_CHECK.md)")
def test_cpu_smoke_runs_every_step_and_writes_the_result_files(tmp_path: Path) -> None:
    proc = subprocess.run(["bash", str(SCRIPT), "cpu-smoke", str(tmp_path)], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = {p.name for p in (tmp_path / "out").iterdir()}
    for name in ("pretrain_throughput_cpu_smoke.json", "cifar10_vicreg_cpu_smoke.json", "umm_ablation_cpu_smoke.json"):
        assert name in out
    cifar = json.loads((tmp_path / "out" / "cifar10_vicreg_cpu_smoke.json").read_text())
    assert cifar["epochs"] == 2 and 0 <= cifar["linear_probe_top1"] <= 100


def test_the_gpu_scripts_share_one_copy_of_their_shell_functions(tmp_path: Path) -> None:
    """bench/gpu_lib.sh holds the functions both prepared GPU scripts use (log, step, ...):
    a script that defined its own copy again would let the two drift apart. Without the lib a
    script stops (exit 2) before doing anything, instead of running on with its functions
    missing."""
    definition = re.compile(r"^(\w+)\(\) \{", re.M)
    shared = set(definition.findall((REPO / "bench" / "gpu_lib.sh").read_text(encoding="utf-8")))
    assert {"log", "step", "runner_alive", "follow_progress"} <= shared
    (tmp_path / "bench").mkdir()
    for name in ("gpu_check.sh", "gpu_retinamnist.sh"):
        text = (REPO / "bench" / name).read_text(encoding="utf-8")
        assert '. "$REPO/bench/gpu_lib.sh" || exit 2' in text, name
        assert not shared & set(definition.findall(text)), name
        (tmp_path / "bench" / name).write_text(text, encoding="utf-8")  # a copy without gpu_lib.sh
        done = subprocess.run(["bash", str(tmp_path / "bench" / name), "prepare"], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "OUT": str(tmp_path / "out")})
        assert done.returncode == 2 and "gpu_lib.sh" in done.stderr, (name, done.stdout, done.stderr)
        assert not (tmp_path / ".device_data").exists(), name


@pytest.mark.parametrize("argv", [["plan", "--probe", "p.json", "--seconds", "60", "--max-ep", "5"],
                                  ["fake-cifar", "x.tar.gz", "--train-per", "2"]])
def test_each_sub_command_refuses_a_prefix_of_an_option(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A review: the sub-commands' parsers took ``--max-ep`` as ``--max-epochs``, though every bench
    command refuses an abbreviated option (docs/configuration.md)."""
    with pytest.raises(SystemExit) as stopped:
        gpu_check.main(argv)
    assert stopped.value.code == 2
    assert f"unrecognized arguments: {' '.join(argv[-2:])}" in capsys.readouterr().err
