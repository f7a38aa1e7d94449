"""Every ``gradio_client.Client`` the project makes, and the first one docs/app.md shows, names
its ``download_files`` folder (a security review): without it the client saves the pictures and
CSVs it receives under /tmp/gradio, readable by other local accounts and kept after the run.
The page's example also points Python's temp folder at that private folder while the client
downloads (a hospital trial, F3: gradio_client 2.7.2 writes each download to
``<temp>/<40 hex>/<name>``, mode 0755, before moving it, and leaves the folder behind); it is
run against a served app here and leaves nothing in the temp folder."""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
START_GUARD_S = 240  # a hung start fails the test instead of hanging it; not a speed check


def _client_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and (getattr(node.func, "id", None) == "Client" or getattr(node.func, "attr", None) == "Client")]


def test_every_client_the_code_makes_names_its_download_folder() -> None:
    seen: dict[str, int] = {}
    missing = []
    for folder in ("bench", "scripts", "tests", "app"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for call in _client_calls(path):
                where = f"{path.relative_to(REPO)}:{call.lineno}"
                seen[str(path.relative_to(REPO))] = seen.get(str(path.relative_to(REPO)), 0) + 1
                if not any(k.arg == "download_files" for k in call.keywords):
                    missing.append(where)
    assert missing == []
    assert seen.get("bench/app_load.py", 0) >= 3 and seen.get("tests/app/test_app_e2e.py", 0) >= 1


def test_the_pages_first_client_example_is_the_private_one() -> None:
    page = (REPO / "docs" / "app.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", page, re.S | re.M)
    with_client = [b for b in blocks if "Client(" in b]
    assert with_client, "docs/app.md shows no gradio_client example"
    first = with_client[0]
    assert "download_files=private" in first and "tempfile.mkdtemp()" in first
    assert "shutil.rmtree(private)" in first
    tempdir_set = first.index("system_temp, tempfile.tempdir = tempfile.tempdir, private")
    assert tempdir_set < first.index("Client(") and "tempfile.tempdir = system_temp" in first
    for block in with_client:  # every Client( call in the page's examples names the folder
        for call in re.findall(r"Client\([^)]*\)", block):
            assert "download_files" in call, call
    first_call = page.index("Client(")
    assert "download_files" in page[first_call:page.index(")", first_call)]


def _first_client_example() -> str:
    page = (REPO / "docs" / "app.md").read_text(encoding="utf-8")
    return next(b for b in re.findall(r"^```python\n(.*?)^```", page, re.S | re.M) if "Client(" in b)


def test_the_pages_client_example_leaves_nothing_in_the_temp_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example, as the page prints it, run against ``python -m app`` (a subprocess: its own
    files stay out of this process's temp folder) with a stand-in for the system temp folder:
    it grades one image and a batch, and afterwards that folder is empty (before the fix: an
    empty ``<40 hex>`` folder per download) and ``tempfile.tempdir`` is as it was."""
    from PIL import Image

    from app.demo_bundle import build_demo_bundle
    from app.loopback import free_port, wait_until_serving
    from data_prep.phantom import phantom_image

    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=1)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    server_temp = tmp_path / "server_temp"
    server_temp.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "--bundle", str(bundle), "--port", str(port), "--threads", "1",
         "--temp-dir", str(server_temp)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    work = tmp_path / "work"
    work.mkdir()
    for k, name in enumerate(("scan.png", "a.png", "b.png")):
        Image.fromarray(phantom_image(0, k, k, size=256)).save(work / name)  # the page's smallest side
    system_temp = tmp_path / "system_temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    monkeypatch.chdir(work)
    example = _first_client_example().replace("http://127.0.0.1:7860/", f"http://127.0.0.1:{port}/")
    assert f":{port}/" in example
    seen: dict[str, object] = {}
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/", timeout=START_GUARD_S, process=server)
        exec(compile(example, "docs/app.md", "exec"), seen)  # noqa: S102 (the page's own example)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert "grade" in seen["details"], seen["details"]  # type: ignore[operator]
    assert str(seen["notes_csv"]).endswith("grades_with_notes.csv"), seen["notes_csv"]
    assert sorted(p.name for p in system_temp.iterdir()) == []
    assert tempfile.tempdir == str(system_temp)
