"""bench/gpu_retinamnist.sh, the prepared GPU run of RetinaMNIST's sixth hypothesis, tested on
the CPU in seconds with a stub interpreter (the real flow, tiny, is
``bash bench/gpu_retinamnist.sh cpu-smoke DIR``: about 6 minutes on the 2-core machine)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu_retinamnist.sh"
RunRm = Callable[..., tuple[subprocess.CompletedProcess, list[list[str]]]]

STUB = r'''
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
if args[:1] == ["-c"] or args[:2] == ["-m", "pip"]:
    sys.exit(0)
with open(os.environ["STUB_CALLS"], "a") as fh:
    fh.write(json.dumps(args) + "\n")
out = Path(args[args.index("--out-dir") + 1])
out.mkdir(parents=True, exist_ok=True)
epochs = args[args.index("--epochs") + 1]
(out / f"retinamnist_epochs{epochs}_gpu.json").write_text("{}")
print(f"[bench] stub {epochs}")
'''


@pytest.fixture
def run_rm(run_with_stub_python: Callable[..., Any]) -> RunRm:
    """``run_rm(folder, *mode, **env)``: bench/gpu_retinamnist.sh ``mode`` with the stub
    interpreter (tests/bench/conftest.py), its work folder in ``folder`` and a stub
    RetinaMNIST file under ``folder/device_data`` (``DRAC_SSL_SHARED_DATA``)."""
    def run(folder: Path, *mode: str, **env: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
        shared = folder / "device_data"
        (shared / "retinamnist").mkdir(parents=True, exist_ok=True)
        (shared / "retinamnist" / "retinamnist_public.npz").write_bytes(b"stub")
        return run_with_stub_python(SCRIPT, folder, STUB, mode, {
            "GPU_RM_WORK": str(folder / "work"), "GPU_RM_INSTALL": "0", "DRAC_SSL_SHARED_DATA": str(shared),
            "GPU_CODE_STAMP": str(folder / "code_version.txt"), **env})

    return run


def test_run_starts_both_arms_with_the_fixed_protocol_and_collects(tmp_path: Path, run_rm: RunRm) -> None:
    proc, calls = run_rm(tmp_path, "run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "runner finished" in proc.stdout
    assert [c[c.index("--epochs") + 1] for c in calls] == ["300", "20"]
    for call in calls:
        assert call[:2] == ["-m", "bench.retinamnist_epochs"]
        assert call[call.index("--seeds") + 1] == "10,11,12,13,14" and "--own-scratch" in call
        sets = [call[i + 1] for i, a in enumerate(call) if a == "--set"]
        assert "run.device=cuda" in sets and "pretrain.augment.on_gpu=true" in sets
    long_words, short_words = (c[c.index("--hypothesis") + 1] for c in calls)
    assert long_words.startswith("VICReg pretrained for 300 epochs") and short_words.startswith("none (descriptive")
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {"progress.log", "retinamnist_epochs300_gpu.json",
                                               "retinamnist_epochs20_gpu.json", "gpu_retinamnist_runs.tar.gz"}


def test_short_arm_is_skipped_when_too_little_time_is_left(tmp_path: Path, run_rm: RunRm) -> None:
    proc, calls = run_rm(tmp_path, "run", GPU_RM_BUDGET_S="100")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [c[c.index("--epochs") + 1] for c in calls] == ["300"]
    assert "skip short" in (tmp_path / "work" / "progress.log").read_text()


def test_device_modes_refuse_without_out_and_unknown_mode_prints_usage(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    for mode in ("run", "wait"):
        proc = subprocess.run(["bash", str(SCRIPT), mode], env=env, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2 and "OUT is unset" in proc.stdout
    proc = subprocess.run(["bash", str(SCRIPT), "nonsense"], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "prepare" in proc.stdout


def test_run_refuses_before_starting_when_the_data_was_not_carried(tmp_path: Path, run_rm: RunRm) -> None:
    """Without 'prepare' + carry the runner would install nothing and fail in its logs only,
    after device minutes were spent (review s53 F6): refused at once instead."""
    proc, calls = run_rm(tmp_path, "run", DRAC_SSL_SHARED_DATA=str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "prepare" in proc.stdout and "carry" in proc.stdout
    assert calls == [] and not (tmp_path / "work" / "progress.log").exists()


def test_an_empty_shared_data_variable_is_refused_not_taken_for_unset(tmp_path: Path, run_rm: RunRm) -> None:
    """${DRAC_SSL_SHARED_DATA:-...} took an empty value for unset; the benches and the tests
    refuse it, and so do the GPU scripts, before any device time is spent."""
    for mode in ("run", "cpu-smoke"):
        proc, calls = run_rm(tmp_path, mode, str(tmp_path / "smoke"), DRAC_SSL_SHARED_DATA="")
        assert proc.returncode == 2 and "DRAC_SSL_SHARED_DATA is set but empty" in proc.stdout, mode
        assert calls == [] and not (tmp_path / "work").exists()
