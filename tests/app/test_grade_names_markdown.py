"""A bundle's grade names (``class_names``) are shown in markdown on the page (its heading, the
batch table's key, the result heading): a third-party bundle's name such as
``![t](http://tracker.example/p.png)`` must not make every browser fetch a remote image."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

LINK = re.compile(r"(?<!\\)\]\(")
"""Markdown link or image syntax left working: a ``](`` not escaped."""

HOSTILE = "NPDR ![t](http://tracker.example/p.png) [x](http://tracker.example/) <img src=x>"


def test_hostile_grade_names_render_as_text_on_the_page(predictor: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from app.server import build_demo, grade_heading

    names = ["Normal", HOSTILE, "PDR"]
    monkeypatch.setattr(predictor, "class_names", names, raising=False)
    config = build_demo(predictor).get_config_file()
    rendered = [str(c["props"].get("value", "")) for c in config["components"]
                if c["type"] in ("markdown", "html")]
    shown = [text for text in rendered if "tracker.example" in text]
    assert shown, "the grade names are not on the page"
    for text in shown:
        assert not LINK.search(text) and "<img" not in text, text
    pred = SimpleNamespace(grade=1, grade_name=HOSTILE, probs=np.array([0.1, 0.8, 0.1]))
    for heading in (grade_heading(pred, [], False), grade_heading(pred, ["x"], False)):
        assert not LINK.search(heading) and "<img" not in heading, heading
