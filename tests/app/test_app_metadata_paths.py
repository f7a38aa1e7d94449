"""The *Model card* tab shows ``metadata.json`` to every user: absolute paths are cut to their
last component there (a security review of the app: the data root named a user's home and a
study), while the bundle's own file keeps them."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("gradio")

from app.server import shown_metadata  # noqa: E402


def test_absolute_paths_in_the_shown_metadata_keep_only_their_last_component() -> None:
    meta = {
        "data": {"root": "/home/dr.x/study 7/photos", "kind": "plain"},
        "backbone_pretraining": {"training_data": "ingest at /srv/runs/r1/data, 41 images"},
        "windows": "C:\\Users\\drx\\scans",
        "grades": ["No DR", "Mild"],
        "ratio": "1/2 and/or 3/4",
        "n": 5,
        "comparison": {"secret": "/x/y"},
    }
    before = json.dumps(meta, sort_keys=True)
    shown = shown_metadata(meta)
    assert json.dumps(meta, sort_keys=True) == before  # pure
    assert "comparison" not in shown
    assert shown["data"] == {"root": "photos", "kind": "plain"}
    assert shown["backbone_pretraining"]["training_data"] == "ingest at data, 41 images"
    assert shown["windows"] == "scans"
    assert shown["ratio"] == "1/2 and/or 3/4" and shown["n"] == 5 and shown["grades"] == ["No DR", "Mild"]
    text = json.dumps(shown)
    assert "dr.x" not in text and "/srv" not in text and "Users" not in text
