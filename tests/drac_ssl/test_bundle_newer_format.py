"""An editor's review (F2): a bundle made by a newer drac_ssl (format 'drac_ssl bundle v3')
was answered with the rebuild command of this version, and pasting it overwrote the newer
bundle with a v1 one. A newer format now says who made it and that drac_ssl needs upgrading;
an older or unknown one keeps the rebuild advice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drac_ssl import __version__
from drac_ssl.grading.bundle import load_bundle
from drac_ssl.grading.bundle_folder import BundleError


def _bundle(tmp_path: Path, fmt: str) -> Path:
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "metadata.json").write_text(json.dumps({"format": fmt, "package_version": "0.4.0"}))
    (folder / "MODEL_CARD.md").write_text("# card\n")
    return folder


def test_a_newer_bundle_asks_for_an_upgrade_not_a_rebuild(tmp_path: Path) -> None:
    with pytest.raises(BundleError) as said:
        load_bundle(_bundle(tmp_path, "drac_ssl bundle v3"))
    words = " ".join(str(said.value).split())
    assert "made by drac_ssl 0.4.0 (format v3)" in words
    assert f"this drac_ssl {__version__} reads v1 only" in words and "fix: upgrade drac_ssl" in words
    assert "build_bundle" not in words and "rebuild" not in words


@pytest.mark.parametrize("fmt", ["drac_ssl bundle v0", "something else"])
def test_an_older_or_unknown_bundle_keeps_the_rebuild_advice(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(BundleError) as said:
        load_bundle(_bundle(tmp_path, fmt))
    assert "rebuild it with this version of drac_ssl" in str(said.value) and "build_bundle" in str(said.value)
