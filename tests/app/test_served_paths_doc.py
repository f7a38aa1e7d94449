"""docs/app.md says that a result's links hold the server's working path (a review: it said the
page shows "never the server's path", while every picture's link reads
``/gradio_api/file=/tmp/drac_app_<pid>_<random>/drac_app_display_<random>/<token>_image.jpg``,
naming ``--temp-dir`` and the server's process id), and suggests a neutral ``--temp-dir``. That
the served pictures lie in that folder under ``python -m app`` is checked on a real server by
tests/app/test_app_workdir.py; here the page's example is checked against the code's names."""

from __future__ import annotations

import re
from pathlib import Path

from app.workdir import workdir_pid

PAGE = Path(__file__).resolve().parents[2] / "docs" / "app.md"


def _reach_paragraph() -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index("**What a logged-in user can reach.**")
    return " ".join(text[start:text.index("\n\n", start)].split())


def test_the_page_says_links_hold_the_working_path() -> None:
    said = _reach_paragraph()
    assert "never the server's path" not in said
    assert "The links themselves do hold a server path" in said
    assert "server's process id" in said and "neutral `--temp-dir`" in said


def test_the_pages_example_link_is_named_as_the_server_names_its_folders() -> None:
    (link,) = re.findall(r"`/gradio_api/file=(/[^`]+)`", _reach_paragraph())
    parts = Path(link).parts
    assert workdir_pid(parts[-3]) == 4711  # drac_app_<pid>_<random>: app.workdir's name
    source = (PAGE.parents[1] / "app" / "server.py").read_text(encoding="utf-8")
    prefix = re.search(r'TemporaryDirectory\(prefix="(drac_app_display_)"\)', source)
    assert prefix and parts[-2].startswith(prefix.group(1))  # _DisplayFiles' folder
    assert parts[-1] == "<token>_image.jpg"
