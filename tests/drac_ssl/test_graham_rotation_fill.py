"""Rotated corners of Graham-filtered images (``data.graham``; a retinal-image review): the
fundus recipe rotates by any angle with a constant border; black (0) on an image whose
background is 128 is a hard false edge the filter left nowhere else, so with the filter on
both augmentation paths fill with 128 (:func:`drac_ssl.augment.graham_fill`), and without it
stay black as every committed run."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from drac_ssl.augment import GpuTwoViewAugment, build_view_transform, graham_fill, recipe_for
from drac_ssl.config import AugmentConfig, Config
from drac_ssl.pretrain import view_recipe

SIZE = 32


def _rotating(graham: bool):
    cfg = AugmentConfig(recipe="fundus", image_size=SIZE, source_size=SIZE, crop_scale=[1.0, 1.0])
    recipe = dataclasses.replace(recipe_for(cfg).without_randomness(), rotate_p=1.0, rotate_degrees=45.0,
                                 crop_ratio=(1.0, 1.0), jitter_p=0.0)
    return cfg, graham_fill(recipe, graham)


def _levels(view: np.ndarray, recipe) -> np.ndarray:
    """Normalised view (..., C) back to 0..255."""
    return (view * np.asarray(recipe.std) + np.asarray(recipe.mean)) * 255


def test_cpu_views_of_a_mid_grey_image_stay_mid_grey_with_the_filter_only() -> None:
    grey = np.full((SIZE, SIZE, 3), 128, np.uint8)  # a Graham-filtered image's background
    for graham in (True, False):
        cfg, recipe = _rotating(graham)
        transform = build_view_transform(cfg, 3, recipe=recipe, seed=1)
        levels = np.stack([_levels(transform(image=grey)["image"], recipe) for _ in range(4)])
        _check(levels, graham)


def _check(levels: np.ndarray, graham: bool) -> None:
    """``levels`` ``(N, S, S, C)``: a rotated corner is 128 with the filter, black (for some
    angle) without; the centre is the image's 128 either way."""
    corner = levels[:, 0, 0]
    if graham:
        assert np.abs(corner - 128).max() < 2, corner
    else:
        assert corner.min() < 20, corner
    assert np.abs(levels[:, SIZE // 2, SIZE // 2] - 128).max() < 2


def test_device_views_fill_the_corners_with_128_with_the_filter() -> None:
    grey = torch.full((4, 3, SIZE, SIZE), 128, dtype=torch.uint8)
    for graham in (True, False):
        cfg, recipe = _rotating(graham)
        a, _ = GpuTwoViewAugment(cfg, 3, recipe)(grey, torch.Generator().manual_seed(0))
        levels = _levels(a.permute(0, 2, 3, 1).numpy(), recipe)
        _check(levels, graham)  # the crop is the whole image: a rotated corner lies outside it


def test_the_pretraining_recipe_follows_data_graham() -> None:
    cfg = Config()
    cfg.pretrain.augment.recipe = "fundus"
    assert view_recipe(cfg).fill == 0.0
    cfg.data.graham = True
    assert view_recipe(cfg).fill == 128 / 255
    cfg.pretrain.augment.recipe = "octa"  # a reflected border: nothing to fill
    assert view_recipe(cfg).fill == 0.0


def test_the_fine_tuning_recipe_follows_the_specs_graham() -> None:
    from drac_ssl.finetune import train_view_recipe
    from drac_ssl.grading.model import InputSpec

    spec = InputSpec(channels=3, source_size=64, image_size=32, recipe="fundus", mean=(0.5,) * 3,
                     std=(0.25,) * 3)
    assert train_view_recipe(spec).fill == 0.0
    assert train_view_recipe(dataclasses.replace(spec, graham=True)).fill == 128 / 255


def test_the_device_fill_shifts_a_uint8_batchs_copy_in_place_and_leaves_a_float_batch_alone() -> None:
    # forward shifts its own float copy of a uint8 batch by the fill (no second copy of the
    # source batch); a caller's float batch is copied instead: the views are the same either way
    cfg, recipe = _rotating(True)
    aug = GpuTwoViewAugment(cfg, 3, recipe)
    batch = torch.randint(0, 256, (4, 3, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    floats = batch.float() / 255
    before = floats.clone()
    a = aug(batch, torch.Generator().manual_seed(0))
    b = aug(floats, torch.Generator().manual_seed(0))
    assert torch.equal(floats, before)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
