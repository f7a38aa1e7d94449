"""The ingest's fundus preprocessing (crop to the disc, Graham filter) replayed at inference:
an original file and its cache row reach the model as the same tensor (issue #12). Also the
``fundus`` augmentation recipe on colour and grey images, and small (28 px) inputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data_prep import ingest
from drac_ssl.augment import (
    GpuTwoViewAugment,
    build_eval_transform,
    build_view_transform,
    recipe_for,
)
from drac_ssl.config import AugmentConfig, DataConfig
from drac_ssl.datasets import FUNDUS_MEAN, FUNDUS_STD
from drac_ssl.grading.model import InputSpec
from drac_ssl.grading.predict import preprocess_image, read_image
from drac_ssl.scale import DEFAULT_PREPROCESSING, read_ingest_facts


def _fundus_file(path: Path, seed: int) -> np.ndarray:
    """A 90 x 120 RGB photograph: a textured disc off centre on a black surround."""
    rng = np.random.default_rng(seed)
    image = np.zeros((90, 120, 3), np.uint8)
    cv2.circle(image, (70, 45), 38, (180, 90, 50), -1)
    texture = rng.integers(-30, 30, image.shape)
    image = np.where(image > 0, np.clip(image + texture, 1, 255), 0).astype(np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return image


def test_crop_and_graham_are_replayed_from_the_recorded_settings(tmp_path: Path) -> None:
    root = tmp_path / "fundus"
    root.mkdir()
    names = [f"{i:02d}.png" for i in range(10)]
    for i, name in enumerate(names):
        _fundus_file(root / name, i)
    (root / "labels.csv").write_text("image name,DR grade\n" + "".join(
        f"{n},{i % 5}\n" for i, n in enumerate(names)))
    cfg = DataConfig(root=str(root), grades=["icdr"], channels="auto", fundus_crop=True,
                     graham=True, cache_sizes=[32], n_folds=2, workers=1)
    result = ingest.run(cfg, tmp_path / "data", verbose=False)
    facts = read_ingest_facts(tmp_path / "data")
    assert result.channels == 3 and facts.channels == 3 and facts.num_grades == 5
    # the keys under test written out, every other option at its default (a new option off by
    # default leaves this test as it is)
    assert facts.preprocessing == {**DEFAULT_PREPROCESSING, "fundus_crop": True, "graham": True,
                                   "graham_reflect_padding": True}
    spec = InputSpec(channels=3, source_size=32, image_size=24, recipe="fundus",
                     mean=FUNDUS_MEAN, std=FUNDUS_STD, **facts.preprocessing)  # as fine-tuning records it
    meta = {"input": spec.to_metadata()}
    assert InputSpec.from_metadata(meta["input"]) == spec
    cache = np.load(tmp_path / "data" / "cache" / "32px.npy")
    for name in names[:3]:
        row = cache[names.index(name)]
        pixels, warnings = read_image(root / name, 3)
        assert warnings == [] and pixels.shape == (90, 120, 3)
        x = preprocess_image(pixels, meta)
        assert x.shape == (3, 24, 24)
        assert torch.equal(x, preprocess_image(row, meta, ingested=True))
    plain = {"input": {k: v for k, v in meta["input"].items() if k != "ingest_preprocessing"}}
    assert not torch.equal(preprocess_image(pixels, plain), x)  # without the replay: another input
    with pytest.raises(ValueError, match="source size"):
        preprocess_image(pixels, meta, ingested=True)


def test_fundus_recipe_keeps_colour_and_rotates() -> None:
    cfg = AugmentConfig(recipe="fundus", image_size=28, source_size=28, crop_scale=[0.6, 1.0])
    recipe = recipe_for(cfg)
    assert recipe.gray_p == 0 and recipe.solarize_p == 0 and recipe.rotate_degrees == 180
    # no hue shift: hue carries the lesions (on RetinaMNIST even 0.02 of a turn cost AUC)
    assert recipe.jitter_hue == 0 and recipe.jitter_saturation <= 0.2 and recipe.border == "zeros"
    assert len(recipe.mean) == 3
    red = np.zeros((28, 28, 3), np.uint8)
    red[6:22, 6:22, 0] = 200
    transform = build_view_transform(cfg, 3, seed=0)
    views = [transform(image=red)["image"] for _ in range(20)]
    assert all(v.shape == (28, 28, 3) for v in views)
    # no greyscale: red stays red in every view (channel 0 above channels 1 and 2 where lit)
    for v in views:
        raw = v * np.array(FUNDUS_STD) + np.array(FUNDUS_MEAN)
        lit = raw[..., 0] > 0.3
        assert lit.any() and (raw[..., 0][lit] > raw[..., 1][lit] + 0.2).all()
    assert len({v.tobytes() for v in views}) > 15  # random views
    grey = build_view_transform(cfg, 1, seed=0)(image=red[..., 0])["image"]
    assert grey.shape == (28, 28)  # the grey part of the recipe on grey data
    evaluated = build_eval_transform(cfg, 3)(image=red)["image"]
    assert evaluated[10, 10, 0] == pytest.approx((200 / 255 - FUNDUS_MEAN[0]) / FUNDUS_STD[0], abs=1e-5)
    gpu = GpuTwoViewAugment(cfg, 3)
    a, b = gpu(torch.as_tensor(red).permute(2, 0, 1)[None].repeat(4, 1, 1, 1),
               generator=torch.Generator().manual_seed(0))
    assert a.shape == (4, 3, 28, 28) and not torch.equal(a, b)
