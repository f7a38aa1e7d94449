"""The RetinaMNIST recipe (configs/retinamnist.yaml) and the settings it brought (issue #12):
pretraining with or without the test images, the preflight's pool, the shipped config on the
real file."""

from __future__ import annotations

from pathlib import Path

from fake_ingest import SOURCE_SIZE, make_fake_ingest
from shared_data import SHARED_DATA, needs

from drac_ssl import preflight, pretrain
from drac_ssl.config import load_config

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "retinamnist.yaml"
NPZ = SHARED_DATA / "retinamnist" / "retinamnist_public.npz"


def _cfg(*overrides: str):
    return load_config(None, [f"data.cache_sizes=[{SOURCE_SIZE}]", f"pretrain.augment.source_size={SOURCE_SIZE}",
                              "pretrain.augment.image_size=32", "finetune.image_size=32", "run.device=cpu",
                              *overrides])


def test_pretraining_pool_with_and_without_the_test_images(tmp_path: Path) -> None:
    data = make_fake_ingest(tmp_path)  # 30 labelled + 6 test images
    with_test = pretrain.load_pretrain_data(_cfg(), data)
    assert len(with_test.images) == 36 and "training and test images" in with_test.description
    without = pretrain.load_pretrain_data(_cfg("pretrain.use_test_images=false"), data)
    assert len(without.images) == 30
    assert "6 test images left out" in without.description
    # the labelled images are the same pixels in both pools (the cache rows are re-indexed)
    assert {bytes(im) for im in without.images} <= {bytes(im) for im in with_test.images}


def test_preflight_counts_the_pool_without_the_test_images(tmp_path: Path) -> None:
    make_fake_ingest(tmp_path / "run")
    args = ["pretrain.batch_size=32", "umm.batch_size=32", "run.stages=[pretrain,umm]"]
    found = {f.setting: f.line for f in preflight.check(_cfg(*args), tmp_path / "run", stages=["pretrain", "umm"])
             if f.severity == "error"}
    assert "pretrain.batch_size" not in found and "umm.batch_size" not in found  # 36 images
    cfg = _cfg(*args, "pretrain.use_test_images=false")
    found = {f.setting: f.line for f in preflight.check(cfg, tmp_path / "run", stages=["pretrain", "umm"])
             if f.severity == "error"}
    assert "larger than the 30 images" in found["pretrain.batch_size"]
    assert "less its 6 test images (pretrain.use_test_images=false)" in found["pretrain.batch_size"]
    assert "fix: pretrain.batch_size=16" in found["pretrain.batch_size"]
    assert "larger than the 30 images UMM draws from" in found["umm.batch_size"]


def test_the_recipe_says_what_the_issue_asks() -> None:
    cfg = load_config(CONFIG)
    assert cfg.data.layout == "medmnist" and cfg.data.channels == "3"
    assert list(cfg.data.grades) == ["No DR", "Mild", "Moderate", "Severe", "PDR"]
    assert cfg.finetune.keep == "last" and cfg.finetune.decision == "argmax"
    assert cfg.finetune.compare_scratch and cfg.umm.enabled
    assert cfg.run.stages == ["ingest", "pretrain", "umm", "finetune", "export"]


@needs(NPZ, "RetinaMNIST")
def test_the_recipe_passes_the_preflight_on_the_real_file(tmp_path: Path) -> None:
    cfg, sources, parsed = preflight.read_config(CONFIG, [f"data.root={NPZ}", "run.device=cpu"])
    assert parsed == []
    found = preflight.check(cfg, tmp_path / "runs" / "retinamnist", sources)
    assert [f.line for f in found if f.severity == "error"] == []
