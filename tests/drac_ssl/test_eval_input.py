"""drac_ssl/eval_input.py: the deterministic model input that inference and the fine-tuning's
evaluation share (docs/design.md). Inference builds it from a bundle's recorded input format
without drac_ssl.augment; these tests hold it to the augmentation's own path, bit for bit."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from drac_ssl import augment, datasets, eval_input, finetune
from drac_ssl.augment import EvalDataset, build_eval_transform
from drac_ssl.grading.model import InputSpec
from drac_ssl.grading.predict import preprocess_image

SPECS = [
    InputSpec(channels=1, source_size=40, image_size=24, recipe="octa", mean=eval_input.OCTA_MEAN,
              std=eval_input.OCTA_STD),
    # recorded statistics other than the recipe's (a bundle keeps the ones it was trained with)
    InputSpec(channels=3, source_size=36, image_size=28, recipe="fundus", mean=(0.5, 0.4, 0.3),
              std=(0.2, 0.25, 0.3)),
    InputSpec(channels=1, source_size=28, image_size=28, recipe="fundus", mean=eval_input.FUNDUS_MEAN,
              std=eval_input.FUNDUS_STD),  # RGB statistics made grey (stats_for), no resize
]


@pytest.mark.parametrize("spec", SPECS, ids=["octa", "fundus-rgb", "fundus-grey"])
def test_inference_input_is_the_fine_tunings_eval_input_bit_for_bit(spec: InputSpec) -> None:
    rng = np.random.default_rng(0)
    shape = (spec.source_size, spec.source_size) + ((3,) if spec.channels == 3 else ())
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    kept = image.copy()
    training = build_eval_transform(finetune.spec_augment_config(spec), spec.channels, recipe=finetune.train_view_recipe(spec))
    expected, label = EvalDataset(image[None], training)[0]
    assert label == -1 and expected.shape == (spec.channels, spec.image_size, spec.image_size)
    got = eval_input.model_input(image, spec.eval_transform())
    assert got.dtype == torch.float32 and torch.equal(got, expected)
    # the whole inference path on an ingest cache row: the same tensor
    assert torch.equal(preprocess_image(image, spec.to_metadata(), ingested=True), expected)
    assert np.array_equal(image, kept)  # the caller's array is never written to


def test_a_recorded_recipe_or_crop_scale_no_training_makes_is_refused_as_before() -> None:
    """The inference transform no longer goes through augment.recipe_for, but keeps its checks:
    the same words for an edited metadata.json as the augmentation gives a config."""
    bad_recipe = InputSpec(channels=1, source_size=8, image_size=8, recipe="imagenet", mean=(0.5,),
                           std=(0.5,))
    said = "unknown augmentation recipe 'imagenet'; expected octa, fundus, cifar, mnist"
    with pytest.raises(ValueError, match=re.escape(said)):
        bad_recipe.eval_transform()
    with pytest.raises(ValueError, match=re.escape(said)):
        augment.recipe_for(finetune.spec_augment_config(bad_recipe))
    bad_scale = InputSpec(channels=1, source_size=8, image_size=8, recipe="octa", mean=(0.5,),
                          std=(0.5,), crop_scale=(0.5, 0.2))
    said = "augment.crop_scale must be [low, high] in (0, 1], got [0.5, 0.2]"
    with pytest.raises(ValueError, match=re.escape(said)):
        bad_scale.eval_transform()
    with pytest.raises(ValueError, match=re.escape(said)):
        augment.recipe_for(finetune.spec_augment_config(bad_scale))


def test_the_statistics_and_helpers_are_defined_once() -> None:
    """datasets and augment re-export the layer's names (their importers keep working), not
    copies of them."""
    assert datasets.normalization_for is eval_input.normalization_for
    assert datasets.OCTA_MEAN is eval_input.OCTA_MEAN and datasets.FUNDUS_STD is eval_input.FUNDUS_STD
    assert augment.stats_for is eval_input.stats_for and augment.RECIPES is eval_input.RECIPES
    assert eval_input.stats_for(eval_input.FUNDUS_MEAN, 1) == (pytest.approx(
        sum(w * v for w, v in zip(eval_input.LUMA, eval_input.FUNDUS_MEAN, strict=True))),)
    with pytest.raises(ValueError, match="no normalisation statistics for 'imagenet'"):
        eval_input.normalization_for("imagenet")
