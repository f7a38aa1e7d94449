"""The page's banner names the bundle folder by its last component only (a trial: every user
read ``Bundle ../srv/drac/bundle``, where the server keeps it); the whole path stays in the
server's start-up line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.server import _banner, bundle_shown_name


def test_the_shown_name_is_the_last_component(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert bundle_shown_name("../srv/drac/bundle") == "bundle"
    assert bundle_shown_name("/srv/drac/bundle/") == "bundle"
    assert bundle_shown_name("runs/resume7/bundles/wide") == "wide"
    folder = tmp_path / "Doe_site" / "drac_bundle"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    assert bundle_shown_name(".") == "drac_bundle" and bundle_shown_name("..") == "Doe_site"


def test_the_banner_shows_no_folder_above_the_bundle(predictor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = predictor.path
    relative = os.path.relpath(path)  # as a user types it: ../../tmp/.../bundle
    monkeypatch.setattr(type(predictor), "path", property(lambda self: Path(relative)))
    banner = _banner(predictor)
    assert f"Bundle <code>{path.name}</code>: " in banner
    assert relative not in banner and str(path.parent) not in banner and str(path) not in banner
    # the model card's identity as before: its architecture, head, variant and fold count
    meta = predictor.metadata
    assert f"{meta['model']['arch']} + {meta['model']['head']} head, variant {meta['variant']}" in banner
