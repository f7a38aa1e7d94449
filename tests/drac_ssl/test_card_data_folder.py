"""The model card names the training data's folder, not its absolute path (security review
F6): the app shows the card to every user, and ``/home/dr_smith/study_2024/photos`` says more
than the model's reader needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.demo_bundle import build_demo_bundle
from drac_ssl.grading import bundle as bundles


@pytest.mark.parametrize("root, name", [
    ("/tmp/hosp/photos", "photos"), ("/tmp/hosp/photos/", "photos"), ("photos", "photos"),
    ("C:\\data\\hosp\\photos", "photos"), ("/data/retinamnist_public.npz", "retinamnist_public.npz"),
    ("", ""), (None, ""),
])
def test_data_folder_name(root: object, name: str) -> None:
    assert bundles.data_folder_name(root) == name


def test_the_card_says_the_data_folder_alone_and_metadata_keeps_the_root(tmp_path: Path) -> None:
    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    meta["data"] = {"kind": "plain", "root": "/tmp/hosp/photos", "n_train": 10}
    card = bundles._model_card(meta)
    assert "- Data: plain (photos); 10" in card
    assert "/tmp/hosp" not in card and "hosp" not in card
    assert meta["data"]["root"] == "/tmp/hosp/photos"  # the record is not changed by the card
    meta["data"] = {"kind": "plain", "n_train": 10}
    assert "- Data: plain (unknown root); 10" in bundles._model_card(meta)
