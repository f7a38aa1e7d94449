"""``python -m drac_ssl.export ARGS`` in a fresh interpreter that reports its exit code and the
heavy modules it loaded (torch, torchvision, matplotlib, gradio), for the tests that ``--score``
works without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

RUNNER = """
import json, runpy, sys
sys.argv = ["drac_ssl.export", *json.loads(sys.argv[1])]
try:
    runpy.run_module("drac_ssl.export", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as exc:
    code = exc.code
heavy = [m for m in ("torch", "torchvision", "matplotlib", "gradio") if m in sys.modules]
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def export_in_fresh_process(args: list[str]) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """The export run on ``args`` in a new Python from the repository root: ``({"code": exit
    code, "heavy": heavy modules loaded}, the finished process)`` (its stdout and stderr as text)."""
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    return json.loads(done.stderr.strip().splitlines()[-1]), done
