"""docs/app.md's Python examples and the names it cites exist: a reader who copies an example
or looks up a name finds it (a review: the page's example said ``predict_file`` raises
InputRejected, but imported only Predictor, and ``from app.predict import InputRejected``
failed; it is defined in app/inputs.py)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "app.md"


def _python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.S | re.M)


def _imported(block: str) -> list[tuple[str, str]]:
    """(module, name) of each ``from MODULE import a, b`` line of ``block``."""
    found = []
    for module, names in re.findall(r"^\s*from ([\w.]+) import ([^#\n]+)", block, re.M):
        found += [(module, n.strip().split(" as ")[0]) for n in names.strip("() ").split(",") if n.strip()]
    return found


def _resolve(dotted: str) -> Any:
    """The object a dotted name names: its longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_every_name_the_examples_import_exists() -> None:
    blocks = _python_blocks()
    assert len(blocks) >= 2, "docs/app.md's Python examples were not found"
    missing = []
    for module, name in (pair for block in blocks for pair in _imported(block)):
        if module.split(".")[0] not in ("app", "drac_ssl", "data_prep"):
            continue  # gradio_client: another package's names
        if not hasattr(importlib.import_module(module), name):
            missing.append(f"from {module} import {name}")
    assert missing == []


def test_an_exception_an_example_names_is_imported_by_it() -> None:
    """A CamelCase name an example mentions, in code or comment (InputRejected), is imported by
    that example: catching what the comment says is raised then works as written."""
    for block in _python_blocks():
        imported = {name for _, name in _imported(block)}
        mentioned = set(re.findall(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b", block))
        assert mentioned <= imported, (sorted(mentioned - imported), block)
    from app.inputs import InputRejected
    from app.predict import InputRejected as from_predict
    from app.predict import __all__ as exported

    assert from_predict is InputRejected and "InputRejected" in exported


def test_every_dotted_name_the_page_cites_exists() -> None:
    """``app.inputs.check_gradable`` and the like, in the prose: each resolves."""
    cited = set(re.findall(r"`((?:app|drac_ssl|data_prep)(?:\.\w+)+)", PAGE.read_text(encoding="utf-8")))
    assert "app.inputs.check_gradable" in cited
    missing = []
    for dotted in sorted(cited):
        try:
            _resolve(dotted)
        except (ImportError, AttributeError) as exc:
            missing.append(f"{dotted}: {exc}")
    assert missing == []


def test_the_one_paragraph_names_every_grades_csv_name() -> None:
    """A review: "The app in one paragraph" named the flagged, incomplete and untrained-demo
    grades CSVs, not the phantom-demo and trial-run ones."""
    from app import server

    text = PAGE.read_text(encoding="utf-8")
    paragraph = text.split("## The app in one paragraph", 1)[1].split("\n## ", 1)[0]
    for name in (server.FLAGGED_CSV, server.DEMO_CSV, server.PHANTOM_CSV, server.TRIAL_CSV):
        assert f"`{name}`" in paragraph, name
    # /grade_batch's cells: equal probabilities rounded alike may not add up to exactly 100
    assert "rounded together to add up to 100, as numbers" not in " ".join(text.split())
