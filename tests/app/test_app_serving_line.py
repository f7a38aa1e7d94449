"""``python -m app`` says "serving on URL" only once that URL answers, and prints no gradio
hint to ``share=True`` (an option it does not have): a new user's report (F12) found curl
answered 000 for seconds after the line, and the hint printed though nothing is shared."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from app.demo_bundle import build_demo_bundle
from app.loopback import free_port

REPO = Path(__file__).resolve().parents[2]
SERVING = "serving on http://"
START_GUARD_S = 240  # a hung start fails the test instead of hanging it; not a speed check


def test_main_prints_the_serving_line_after_gradio_has_started_quietly(
        predictor: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """In process: when gradio's launch runs, the serving line is not out yet; launch is asked
    not to block (it returns once the server answers) and to print none of its own lines."""
    import gradio as gr

    from app.__main__ import main

    seen: list[tuple[dict, str]] = []

    def launch(self: gr.Blocks, **kwargs: Any) -> None:
        seen.append((kwargs, capsys.readouterr().out))

    monkeypatch.setattr(gr.Blocks, "launch", launch)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main's SIGTERM handler: not here
    assert main(["--bundle", str(predictor.path), "--port", "7997", "--threads", "1"]) == 0
    (kwargs, before), = seen
    assert kwargs["prevent_thread_lock"] is True and kwargs["quiet"] is True
    assert kwargs["share"] is False
    assert "[app] every image:" in before and SERVING not in before, before
    after = capsys.readouterr().out
    assert f"{SERVING}127.0.0.1:7997 (Ctrl-C stops)" in after, after


def test_main_says_the_bundles_caveat_at_start_up_in_the_exports_words(
        predictor: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Review F8: the app's start-up said "bundle ... (5 fold model(s)); serving on ..." of the
    phantom-trained default bundle without the caveat the export prints ("warning: Trained on
    phantom images ..."). It now prints the bundle's caveats (grading.bundle.grade_caveats, the
    export's and the page's source) after the serving line."""
    import json
    import shutil

    import gradio as gr

    from app.__main__ import main
    from drac_ssl.grading.bundle import grade_caveats

    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: None)
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    phantom = tmp_path / "phantom_bundle"
    shutil.copytree(predictor.path, phantom)
    meta = json.loads((phantom / "metadata.json").read_text())
    meta.pop("demo", None)
    meta["data"] = {"kind": "phantom"}
    (phantom / "metadata.json").write_text(json.dumps(meta))
    for bundle, first in ((predictor.path, "Untrained demo model"), (phantom, "Trained on phantom images")):
        capsys.readouterr()
        assert main(["--bundle", str(bundle), "--port", "7997", "--threads", "1"]) == 0
        out = capsys.readouterr().out
        caveats = grade_caveats(json.loads((Path(bundle) / "metadata.json").read_text()), plural=True)
        assert caveats and caveats[0].startswith(first), caveats
        said = [line for line in out.splitlines() if line.startswith("[app] warning: ")]
        assert said == [f"[app] warning: {c}" for c in caveats], out
        assert out.index(SERVING) < out.index(said[0])


def test_the_url_answers_as_soon_as_the_serving_line_is_out(tmp_path: Path) -> None:
    """One real ``python -m app``: GET the URL the moment the line appears (no polling); no
    ``share=True`` in anything it prints; SIGTERM stops it with exit code 0."""
    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=1)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--bundle", str(bundle), "--port", str(port),
         "--threads", "1", "--temp-dir", str(tmp_path)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        encoding="utf-8")
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    said: list[str] = []
    status = None
    try:
        while True:
            try:
                line = lines.get(timeout=START_GUARD_S)
            except queue.Empty:
                pytest.fail(f"no serving line within {START_GUARD_S} s:\n{''.join(said)}")
            if line is None:
                pytest.fail(f"the app exited ({proc.wait()}) before its serving line:\n{''.join(said)}")
            said.append(line)
            if SERVING in line:
                url = line.split("serving on ", 1)[1].split()[0]
                with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (loopback)
                    status = answer.status
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        reader.join(timeout=30)
    while (rest := lines.get_nowait() if not lines.empty() else None) is not None:
        said.append(rest)
    text = "".join(said)
    assert url == f"http://127.0.0.1:{port}", text
    assert status == 200, text
    assert "share=True" not in text and "Running on local URL" not in text, text
    assert code == 0, text


def test_an_interrupt_during_the_start_up_lines_drains_before_the_close(
        predictor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review (F3): a Ctrl-C / SIGTERM after the server started but before the app's wait
    (while it prints the bundle's caveats) reaches _run's own handler, which must drain the
    server once before closing it (requests may already run)."""
    from types import SimpleNamespace

    import app.__main__ as app_main
    import app.predict as app_predict
    import app.server as app_server
    import drac_ssl.grading.bundle as bundle_module

    def interrupted(*args: Any, **kwargs: Any) -> list[str]:
        raise KeyboardInterrupt

    events: list[str] = []
    demo = SimpleNamespace(close=lambda verbose=True: events.append("close"))
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main's SIGTERM handler: not here
    monkeypatch.setattr(app_predict, "Predictor", lambda *args, **kwargs: predictor)  # loaded once
    monkeypatch.setattr(app_server, "serve", lambda *args, **kwargs: demo)  # started, not served
    monkeypatch.setattr(bundle_module, "grade_caveats", interrupted)
    monkeypatch.setattr(app_main, "_drain", lambda served, *a, **k: events.append(
        "drain" if served is demo else "drain another") or True)
    monkeypatch.setattr(app_main, "_serve_until_stopped", lambda served: pytest.fail("not reached"))
    assert app_main.main(["--bundle", str(predictor.path), "--port", "7997", "--threads", "1"]) == 0
    assert events == ["drain", "close"]
