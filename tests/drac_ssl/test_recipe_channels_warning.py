"""A grey augmentation recipe on colour data is warned of (course review F5).

``configs/cifar10.yaml pretrain.augment.recipe=octa`` (or ``mnist``) pretrained CIFAR-10's colour
photographs with a recipe made for grey images without a word. The preflight now warns (it does
not refuse: the run can go on), naming the recipe's channels, the data's and the colour recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl import preflight
from drac_ssl.augment import RECIPE_CHANNELS  # the recipes' own channels, as the views take them
from drac_ssl.config import PACKAGE_CONFIGS

GREY = [recipe for recipe, channels in RECIPE_CHANNELS.items() if channels == 1]


def _recipe_warnings(config: str, tmp_path: Path, *overrides: str) -> list[str]:
    cfg, sources, _ = preflight.read_config(PACKAGE_CONFIGS / config,
                                            [f"data.root={tmp_path}", "pretrain.knn_every=0", *overrides])
    found = preflight.check(cfg, tmp_path / "runs" / "x", sources, stages=["pretrain"])
    return [f.line for f in found if f.setting == "pretrain.augment.recipe" and f.severity == "warning"]


@pytest.mark.parametrize("recipe", GREY)
def test_a_grey_recipe_on_cifar10_is_warned_of_with_the_colour_recipe(tmp_path: Path, recipe: str) -> None:
    assert GREY == ["octa", "mnist"]
    said = _recipe_warnings("cifar10.yaml", tmp_path, f"pretrain.augment.recipe={recipe}")
    assert len(said) == 1, said
    assert f"the {recipe} recipe is made for grey (1 channel) images" in said[0], said
    assert "data.dataset=cifar10 images are RGB colour (3 channels)" in said[0], said
    assert "pretrain.augment.recipe=cifar (the colour recipe of configs/cifar10.yaml)" in said[0], said


def test_the_shipped_recipes_and_a_colour_recipe_on_mnist(tmp_path: Path) -> None:
    assert _recipe_warnings("cifar10.yaml", tmp_path) == []
    assert _recipe_warnings("mnist.yaml", tmp_path) == []
    said = _recipe_warnings("mnist.yaml", tmp_path, "pretrain.augment.recipe=cifar")
    assert len(said) == 1 and "pretrain.augment.recipe=mnist (the grey recipe of configs/mnist.yaml)" in said[0], said
