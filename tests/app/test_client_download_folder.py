"""Every ``gradio_client.Client`` the project makes, and the first one docs/app.md shows, names
its ``download_files`` folder (a security review): without it the client saves the pictures and
CSVs it receives under /tmp/gradio, readable by other local accounts and kept after the run."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


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
    for block in with_client:  # every Client( call in the page's examples names the folder
        for call in re.findall(r"Client\([^)]*\)", block):
            assert "download_files" in call, call
    first_call = page.index("Client(")
    assert "download_files" in page[first_call:page.index(")", first_call)]
