"""The preflight's warning when ``$TMPDIR`` is too long for the DataLoader workers' socket.

A CI run set ``TMPDIR`` to a pytest folder (78 bytes) for a run with a worker: the worker's
``pymp-XXXXXXXX/listener-XXXXXXXX`` socket under it passed Linux's 107-byte limit, its feeder
thread failed and the batch never arrived. The preflight now says so before any stage.
"""

from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path

import pytest

from drac_ssl import preflight
from drac_ssl.config import load_config

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the limit checked is Linux's")


def _warnings(monkeypatch: pytest.MonkeyPatch, folder: str, workers: int, stages: list[str]) -> list[str]:
    monkeypatch.setattr(tempfile, "tempdir", folder)  # what tempfile.gettempdir() returns
    cfg = load_config(None, [f"pretrain.num_workers={workers}"])
    findings = preflight._Findings(cfg, None)
    preflight._check_temp_dir_for_workers(findings, cfg, stages)
    return [f.line for f in findings.items]


def test_a_temporary_folder_too_long_for_the_workers_socket_is_warned_of(monkeypatch: pytest.MonkeyPatch) -> None:
    long = "/tmp/" + "x" * (preflight.SOCKET_PATH_MAX - preflight.WORKER_SOCKET_TAIL - 4)  # 76 bytes: one too many
    (line,) = _warnings(monkeypatch, long, 2, ["pretrain"])
    assert f"the temporary folder {long} is 76 bytes long" in line and "108 bytes, over Linux's 107" in line
    assert "export TMPDIR=/tmp (any folder of at most 75 bytes), or pretrain.num_workers=0" in line
    assert _warnings(monkeypatch, long[:-1], 2, ["pretrain"]) == []  # 75 bytes: the socket fits
    assert _warnings(monkeypatch, long, 0, ["pretrain"]) == []  # no worker, no socket
    assert _warnings(monkeypatch, long, 2, ["ingest"]) == []  # no training stage
    assert _warnings(monkeypatch, long, 2, ["finetune"]) != []


def test_the_limit_is_the_one_linux_enforces(tmp_path: Path) -> None:
    # a socket path of SOCKET_PATH_MAX bytes binds, one more does not (what the warning counts)
    folder = Path("/tmp") / f"s{tmp_path.name[:4]}"
    folder.mkdir(exist_ok=True)
    try:
        for size, binds in ((preflight.SOCKET_PATH_MAX, True), (preflight.SOCKET_PATH_MAX + 1, False)):
            path = str(folder / ("y" * (size - len(str(folder)) - 1)))
            assert len(path) == size
            with socket.socket(socket.AF_UNIX) as sock:
                try:
                    sock.bind(path)
                    bound = True
                except OSError:
                    bound = False
            Path(path).unlink(missing_ok=True)
            assert bound is binds, size
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
