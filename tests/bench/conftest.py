"""The bench scripts live in the repository's ``bench`` folder (not an installed package).

Fixtures: ``_one_thread`` (every test), ``run_with_stub_python`` (the prepared GPU scripts'
shell flow, run here with a stub interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny tensors: one thread is fastest (and far faster on a busy 2-core host)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


StubRun = Callable[[Path, Path, str, Sequence[str], Mapping[str, str]],
                   tuple[subprocess.CompletedProcess, list[list[str]]]]


@pytest.fixture
def run_with_stub_python() -> StubRun:
    """``run(script, folder, stub, args, env)``: ``bash script *args`` (a prepared GPU script,
    e.g. bench/gpu_check.sh) with ``PYTHON`` pointing at a stub interpreter that runs the
    Python source ``stub`` with the words it is given, so the script's shell flow (detached
    runner, time budget, what is copied to ``$OUT``) runs in seconds without torch or a GPU.

    In ``folder`` (made if absent): ``stub.py``, ``python`` (the executable wrapper),
    ``calls.jsonl`` (the stub appends one JSON list of its arguments per bench call, to the
    path in ``STUB_CALLS``) and ``out/`` (``OUT``, the device tool's result folder). ``env``
    is added to this process's environment last (it may override ``OUT``). Returns the
    finished process (stdout, stderr as text; 120 s limit) and the calls recorded, in order."""
    def run(script: Path, folder: Path, stub: str, args: Sequence[str],
            env: Mapping[str, str]) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
        folder.mkdir(parents=True, exist_ok=True)
        stub_file = folder / "stub.py"
        stub_file.write_text(stub, encoding="utf-8")
        python = folder / "python"
        python.write_text(f"#!/bin/sh\nexec {sys.executable} {stub_file} \"$@\"\n", encoding="utf-8")
        python.chmod(0o755)
        calls = folder / "calls.jsonl"
        full_env = {**os.environ, "PYTHON": str(python), "STUB_CALLS": str(calls), "OUT": str(folder / "out"), **env}
        proc = subprocess.run(["bash", str(script), *args], env=full_env, capture_output=True, text=True,
                              timeout=120)
        lines = calls.read_text(encoding="utf-8").splitlines() if calls.is_file() else []
        return proc, [json.loads(line) for line in lines]

    return run
