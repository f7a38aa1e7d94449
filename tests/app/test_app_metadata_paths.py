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


def test_the_shown_metadata_counts_the_hash_lists_instead_of_showing_them() -> None:
    """Review of the scorewarn merge (F8): the training and pretraining images' hash lists
    (up to a megabyte, and whether an image was in a private data.unlabelled pool) are shown as
    counts; the bundle's own metadata keeps them."""
    from drac_ssl.grading.training_images import pretraining_images_record, training_images_record

    trained, test, pool = ["a" * 64, "b" * 64], ["c" * 64], ["d" * 64, "e" * 64, "f" * 64]
    meta = {"variant": "vicreg", "training_images": training_images_record(trained),
            "pretraining_images": pretraining_images_record({"test": test, "unlabelled": pool},
                                                            stages="VICReg", test_read=True)}
    shown = shown_metadata(meta)
    assert shown["training_images"]["sha256_prefixes"] == "2 hashes, not shown"
    assert shown["pretraining_images"]["test_sha256_prefixes"] == "1 hash, not shown"
    assert shown["pretraining_images"]["unlabelled_sha256_prefixes"] == "3 hashes, not shown"
    assert shown["pretraining_images"]["unlabelled"] == 3 and shown["pretraining_images"]["stages"] == "VICReg"
    assert "dddddddd" not in json.dumps(shown) and "aaaaaaaa" not in json.dumps(shown)
    assert meta["pretraining_images"]["unlabelled_sha256_prefixes"].startswith("dddd")  # pure
