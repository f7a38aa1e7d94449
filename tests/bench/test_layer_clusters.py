"""bench.layer_clusters: per-stage features, cluster scores, subsampling, the figure and a
tiny end-to-end run on a fake 40-image data set (CPU, seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench import layer_clusters as lc
from drac_ssl import pretrain
from drac_ssl.checkpoint import save_weights
from drac_ssl.config import configured_channels, load_config
from drac_ssl.datasets import ArrayDataset
from drac_ssl.models import Backbone

CPU = torch.device("cpu")


def _images(n: int, size: int = 32, channels: int = 3, seed: int = 0) -> np.ndarray:
    shape = (n, size, size, channels) if channels == 3 else (n, size, size)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_stage_embeddings_one_matrix_per_stage_with_the_stage_widths() -> None:
    torch.manual_seed(0)
    backbone = Backbone("resnet18", in_channels=3, cifar_stem=True)
    images = _images(5)
    feats = lc.stage_embeddings(backbone, images, "cifar", 32, CPU, batch_size=2)
    assert list(feats) == list(backbone.stage_names)
    assert {k: v.shape for k, v in feats.items()} == {
        "stem": (5, 64), "layer1": (5, 64), "layer2": (5, 128), "layer3": (5, 256), "layer4": (5, 512)}
    assert all(v.dtype == np.float32 for v in feats.values())
    # the last stage is exactly what the package's own embedding gives (same preprocessing)
    ref = pretrain.embed_images(backbone, images, "cifar", 32, CPU, batch_size=2).numpy()
    np.testing.assert_allclose(feats["layer4"], ref, rtol=1e-5, atol=1e-5)
    assert backbone.training  # embed_images restores the mode


def test_stage_embeddings_resizes_grey_images_and_rejects_none() -> None:
    backbone = Backbone("resnet18", in_channels=1)
    feats = lc.stage_embeddings(backbone, _images(3, size=40, channels=1), "mnist", 32, CPU)
    assert feats["layer4"].shape == (3, 512)
    with pytest.raises(ValueError, match="at least one image"):
        lc.stage_embeddings(backbone, _images(0, channels=1), "mnist", 32, CPU)


def test_cluster_scores_prefer_separated_classes() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    separated = rng.normal(0, 0.1, (60, 4)) + labels[:, None] * 5.0
    mixed = rng.normal(0, 1.0, (60, 4))
    scores = lc.cluster_scores({"a": separated, "b": mixed}, labels)
    assert scores["a"]["dim"] == 4
    assert scores["a"]["davies_bouldin"] < scores["b"]["davies_bouldin"]
    assert scores["a"]["calinski_harabasz"] > 100 * scores["b"]["calinski_harabasz"]


def test_stratified_subsample_keeps_class_proportions() -> None:
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    idx = lc.stratified_subsample(labels, 10, seed=1)
    assert len(idx) == 10 and len(set(idx.tolist())) == 10 and (np.diff(idx) > 0).all()
    assert np.bincount(labels[idx]).tolist() == [5, 3, 2]
    odd = lc.stratified_subsample(labels, 7, seed=1)  # 3.5 / 2.1 / 1.4 -> largest remainders
    assert len(odd) == 7 and np.bincount(labels[odd]).tolist() == [4, 2, 1]
    assert lc.stratified_subsample(labels, 500).tolist() == list(range(100))


def test_load_backbone_takes_the_architecture_from_metadata(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = Backbone("resnet18", in_channels=3, cifar_stem=True)
    save_weights(tmp_path / "backbone.safetensors", source.state_dict())
    (tmp_path / "metadata.json").write_text(json.dumps({
        "architecture": {"backbone": "resnet18", "cifar_stem": True},
        "input": {"channels": 3, "size": [32, 32], "recipe": "cifar"}}))
    cfg = load_config(None, ["pretrain.augment.recipe=cifar", "pretrain.augment.image_size=32"])
    # the config describes another backbone (no CIFAR stem, 1 channel: in_channels 0 = the
    # data's, resolved without data to the grey default); the metadata wins
    assert not cfg.pretrain.backbone.cifar_stem and configured_channels(cfg) == 1
    backbone, info = lc.load_backbone(tmp_path / "backbone.safetensors", cfg)
    assert backbone.cifar_stem and backbone.in_channels == 3 and info["cifar_stem"]
    for k, v in source.state_dict().items():
        assert torch.equal(backbone.state_dict()[k], v), k
    rand, rinfo = lc.random_backbone(backbone, cfg, seed=0)
    assert rand.cifar_stem and rand.in_channels == 3 and rinfo["path"] is None


def test_main_writes_the_table_and_the_tsne_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    labels = np.repeat(np.arange(10), 4)
    fake = ArrayDataset(_images(40), labels, [f"class{k}" for k in range(10)], "fake-test")
    monkeypatch.setattr("drac_ssl.datasets.load_generic", lambda *a, **k: fake)
    torch.manual_seed(1)
    weights = tmp_path / "w" / "backbone.safetensors"
    save_weights(weights, Backbone("resnet18", in_channels=3, cifar_stem=True).state_dict())
    rc = lc.main(["--backbone", str(weights), "--config", str(lc.REPO / "configs" / "cifar10.yaml"),
                  "--data", str(tmp_path), "--device", "cpu", "--tsne-samples", "30",
                  "--tsne-pca-dims", "8", "--name", "t", "--out-dir", str(tmp_path / "out")])
    assert rc == 0
    result = json.loads((tmp_path / "out" / "layer_clusters_t.json").read_text())
    assert list(result["backbones"]) == ["random_init", "vicreg"]
    assert result["stages"] == ["stem", "layer1", "layer2", "layer3", "layer4"]
    layer4 = result["backbones"]["vicreg"]["layers"]["layer4"]
    assert layer4["dim"] == 512 and layer4["davies_bouldin"] > 0 and layer4["calinski_harabasz"] > 0
    assert result["images"] == 40 and result["tsne"]["samples"] == 30
    png = tmp_path / "out" / "layer_clusters_t_tsne.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_load_backbone_says_when_the_metadata_beside_the_weights_is_unreadable(tmp_path: Path) -> None:
    """It raised a JSONDecodeError; the config's architecture is used and a warning says why."""
    torch.manual_seed(0)
    save_weights(tmp_path / "backbone.safetensors", Backbone("resnet18", in_channels=1).state_dict())
    (tmp_path / "metadata.json").write_text("{cut off", encoding="utf-8")
    cfg = load_config(None, [])
    with pytest.warns(UserWarning, match=r"metadata\.json: unreadable.*the config's architecture"):
        backbone, info = lc.load_backbone(tmp_path / "backbone.safetensors", cfg)
    assert backbone.in_channels == 1 and info["metadata"] is None
