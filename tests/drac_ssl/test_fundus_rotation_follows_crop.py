"""The fundus recipe's rotation follows the crop, as drac_ssl.augment's docstring and docs/data.md
("Colour") say, and the committed RetinaMNIST figures were made with (a carried gap: the order was
untested). On the CPU path the cropped view is rotated about its own centre, so its corners are
the constant fill even when the crop lies well inside the image; the device path samples the
rotated crop from the whole image, so its corners hold the image's own pixels unless the rotated
crop leaves the image. A change of either order (rotating the whole image before the crop) fails
here: the CPU corners would then be the image's."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from drac_ssl.augment import GpuTwoViewAugment, build_view_transform, recipe_for
from drac_ssl.config import AugmentConfig

SOURCE, SIZE, LEVEL, VIEWS = 128, 16, 200, 16


def _recipe():
    cfg = AugmentConfig(recipe="fundus", image_size=SIZE, source_size=SOURCE, crop_scale=[0.02, 0.02])
    recipe = dataclasses.replace(recipe_for(cfg).without_randomness(), crop_scale=(0.02, 0.02),
                                 crop_ratio=(1.0, 1.0), rotate_p=1.0, rotate_degrees=45.0)
    return cfg, recipe  # an 18-pixel crop of a 128-pixel image: nearly always well inside it


def _corner_levels(views: np.ndarray, recipe) -> np.ndarray:
    """The four corner pixels' first channel of normalised views ``(N, S, S, C)``, as 0..255."""
    levels = (views * np.asarray(recipe.std) + np.asarray(recipe.mean)) * 255
    return levels[:, [0, 0, -1, -1], [0, -1, 0, -1], 0]


def test_the_cpu_path_rotates_the_cropped_view_so_its_corners_are_the_fill() -> None:
    cfg, recipe = _recipe()
    assert recipe.fill == 0.0  # black without data.graham
    image = np.full((SOURCE, SOURCE, 3), LEVEL, np.uint8)  # all retina: a crop holds no black
    corners = np.stack([_corner_levels(build_view_transform(cfg, 3, recipe=recipe, seed=s)(image=image)["image"][None],
                                       recipe)[0] for s in range(VIEWS)])
    filled = (np.abs(corners) < 60).any(axis=1)  # a corner at (near) the black fill
    assert filled.sum() >= VIEWS * 3 // 4, corners  # 14 of 16 (a view turned a degree or two: none); rotating first: 2


def test_the_device_path_samples_the_rotated_crop_from_the_whole_image() -> None:
    cfg, recipe = _recipe()
    image = torch.full((VIEWS, 3, SOURCE, SOURCE), LEVEL, dtype=torch.uint8)
    a, _ = GpuTwoViewAugment(cfg, 3, recipe)(image, torch.Generator().manual_seed(0))
    corners = _corner_levels(a.permute(0, 2, 3, 1).numpy(), recipe)
    inside = (np.abs(corners - LEVEL) < 2).all(axis=1)  # every corner is the image's own level
    assert inside.sum() >= VIEWS * 3 // 4, corners  # 16 of 16 (a crop at the very edge leaves it)
