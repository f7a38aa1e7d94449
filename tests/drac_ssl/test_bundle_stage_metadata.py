"""A pretraining (or UMM) ``metadata.json`` that is valid JSON but not an object stops a bundle
build with the file, what is wrong and the fix, not ``AttributeError: 'list' object has no
attribute 'get'`` (a reviewer's finding); without the file the bundle says "unknown"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.demo_bundle import build_demo_bundle
from drac_ssl.grading import bundle as bundles


@pytest.fixture()
def run(tmp_path: Path) -> tuple[Path, str]:
    """A run folder with fine-tuning outputs (the demo's), and its variant."""
    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    variant = json.loads((bundle_dir / "metadata.json").read_text())["variant"]
    assert variant in bundles.VARIANT_STAGE  # its backbone's stage metadata is read
    return tmp_path / "run", variant


@pytest.mark.parametrize("content", ["[1, 2]", "3", '"pretrain"', "null"])
def test_a_stage_metadata_that_is_not_an_object_is_a_clear_error(run: tuple[Path, str], content: str) -> None:
    run_dir, variant = run
    stage = run_dir / bundles.VARIANT_STAGE[variant]
    stage.mkdir(exist_ok=True)
    (stage / "metadata.json").write_text(content)
    kind = type(json.loads(content)).__name__
    with pytest.raises(bundles.BundleError) as caught:
        bundles.build_or_reuse_bundle(run_dir, variant, tmp := run_dir / "bundles" / "out")
    words = str(caught.value)
    assert words.startswith(f"{stage / 'metadata.json'}: the pretrained backbone's metadata is a {kind}, "
                            "not a JSON object\n  fix: "), words
    assert "restore it from a copy of the run, or rerun that stage" in words and "or delete it" in words
    assert not tmp.exists()  # nothing built

    (stage / "metadata.json").unlink()  # the fix taken: the build goes on, its pretraining unknown
    out, reused = bundles.build_or_reuse_bundle(run_dir, variant, tmp)
    assert not reused and json.loads((out / "metadata.json").read_text())["backbone_pretraining"] == {
        "stage": "unknown"}


def test_a_bundle_metadata_that_is_not_an_object_is_refused_by_the_loader(run: tuple[Path, str]) -> None:
    bundle_dir = run[0] / "bundle"
    (bundle_dir / "metadata.json").write_text("[]")
    with pytest.raises(bundles.BundleError, match=r"metadata.json: the bundle metadata is a list, not a JSON "
                                                  r"object\n  fix: "):
        bundles.load_bundle(bundle_dir)
