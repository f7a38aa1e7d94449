"""Every ``gradio_client.Client`` the project makes, and the first one docs/app.md shows, names
its ``download_files`` folder (a security review): without it the client saves the pictures and
CSVs it receives under /tmp/gradio, readable by other local accounts and kept after the run.
The page's example also points Python's temp folder at that private folder while the client
downloads (a hospital trial, F3: gradio_client 2.7.2 writes each download to
``<temp>/<40 hex>/<name>``, mode 0755, before moving it, and leaves the folder behind); it is
run here by a client process against the app served in the test's process and leaves no such
folder in the temp folder."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _client_calls(path: Path) -> list[ast.Call]:
    text = path.read_text(encoding="utf-8")
    if "Client" not in text:
        return []  # a call it finds spells Client: none here, unparsed
    tree = ast.parse(text, filename=str(path))
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


TEMPDIR_LINES = ("system_temp, tempfile.tempdir = tempfile.tempdir, private",
                 "tempfile.tempdir = system_temp")
"""The example's two lines that point Python's temp folder at the private folder and back."""

RUN_EXAMPLE = """
import json, sys, tempfile
tempfile.tempdir = sys.argv[1]                   # the stand-in for the system temp folder
seen = {}
exec(compile(sys.stdin.read(), sys.argv[2], "exec"), seen)
print(json.dumps({"tempdir": tempfile.tempdir, "grade": "grade" in seen["details"],
                  "notes_csv": str(seen["notes_csv"])}))
"""
"""Runs the example given on stdin in a client process of its own, as a user's script runs: the
example moves ``tempfile.tempdir`` for its whole process, which in the server's process would
also move the folders gradio and the app check the served files against."""

CLIENT_GUARD_S = 240  # a hung client fails the test instead of hanging it; not a speed check


def _download_folders(folder: Path) -> list[str]:
    """The ``<40 hex>`` folders gradio_client 2.7.2 leaves in ``folder``, one per download."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"[0-9a-f]{40}", p.name))


def _run_client(example: str, name: str, stand_in: Path, work: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", RUN_EXAMPLE, str(stand_in), name], input=example,
                          cwd=work, capture_output=True, text=True, timeout=CLIENT_GUARD_S)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_the_pages_client_example_leaves_nothing_in_the_temp_folder(predictor: Any, tmp_path: Path) -> None:
    """The example, as the page prints it, run by a client process against the app served in
    this process (the module's tiny demo bundle) with a stand-in for the system temp folder: it
    grades one image and a batch, and afterwards no ``<40 hex>`` download folder is left there
    and ``tempfile.tempdir`` is the stand-in again. The same example without its two tempdir
    lines (the page before the fix) leaves such folders there: the check can fail."""
    from PIL import Image

    from app.loopback import free_port
    from app.server import AppSettings, serve
    from data_prep.phantom import phantom_image

    settings = AppSettings(port=free_port())
    work = tmp_path / "work"
    work.mkdir()
    for k, name in enumerate(("scan.png", "a.png", "b.png")):
        Image.fromarray(phantom_image(0, k, k, size=256)).save(work / name)  # the page's smallest side
    stand_in = tmp_path / "system_temp"
    stand_in.mkdir()
    example = _first_client_example().replace("http://127.0.0.1:7860/", f"http://127.0.0.1:{settings.port}/")
    assert f":{settings.port}/" in example and all(line in example for line in TEMPDIR_LINES)
    old_example = "\n".join(line for line in example.splitlines()
                            if not line.strip().startswith(TEMPDIR_LINES))
    demo = serve(predictor, settings, block=False, quiet=True)
    try:
        before_fix = _run_client(old_example, "docs/app.md before the fix", stand_in, work)
        left = _download_folders(stand_in)
        assert left, ("gradio_client left no <40 hex> folder in the temp folder: if it no longer "
                      "does, docs/app.md's reason for the tempdir lines is out of date")
        assert before_fix["tempdir"] == str(stand_in)
        for name in left:
            (stand_in / name).rmdir()  # empty, as the page says
        result = _run_client(example, "docs/app.md", stand_in, work)
    finally:
        demo.close()
    assert result["grade"] and result["notes_csv"].endswith("grades_with_notes.csv"), result
    assert _download_folders(stand_in) == []
    assert result["tempdir"] == str(stand_in)
