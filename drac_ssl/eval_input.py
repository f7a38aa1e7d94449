"""The deterministic model input, shared by training and inference: how a uint8 image becomes
the normalised tensor a model is fed, with no random operation.

A layer under both :mod:`drac_ssl.augment` (the training views and the fine-tuning's
evaluation path) and :mod:`drac_ssl.grading` (inference: :meth:`drac_ssl.grading.model.InputSpec.eval_transform`,
:func:`drac_ssl.grading.predict.preprocess_image`), so that grading a bundle imports neither
the training data layer (:mod:`drac_ssl.datasets`) nor the augmentation
(:mod:`drac_ssl.augment`), and both paths run the very same code:

* the normalisation statistics of each augmentation recipe and dataset name
  (:func:`normalization_for`; mean / std of pixel intensities in [0, 1] units, re-exported by
  :mod:`drac_ssl.datasets`) and their per-channel form for C channels (:func:`stats_for`);
* :func:`check_recipe`: the recipe names and crop scale an input format may record;
* :func:`eval_transform`: INTER_AREA resize to the model size, then ``(x / 255 - mean) / std``
  per channel (albumentations ``Resize`` + ``Normalize``, float32 ``(S, S)`` / ``(S, S, C)``);
* :func:`to_chw` and :func:`model_input`: that output as the ``(C, S, S)`` float32 tensor
  (what :class:`drac_ssl.augment.EvalDataset` yields for one image).

Imports only numpy at load time: albumentations, OpenCV and torch on first use (so importing
:mod:`drac_ssl.grading.model` now loads neither OpenCV nor :mod:`drac_ssl.datasets`, which it
did when it took the statistics from there; :mod:`drac_ssl.datasets` needs no torch).
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "FUNDUS_MEAN",
    "FUNDUS_STD",
    "LUMA",
    "MNIST_MEAN",
    "MNIST_STD",
    "OCTA_MEAN",
    "OCTA_STD",
    "RECIPES",
    "RECIPE_CHANNELS",
    "check_recipe",
    "eval_transform",
    "model_input",
    "normalization_for",
    "stats_for",
    "to_chw",
]

RECIPE_CHANNELS = {"octa": 1, "fundus": 3, "cifar": 3, "mnist": 1}
"""Each recipe's default channels (1: grey, its colour operations left out; 3: RGB colour),
used when the data's are not passed (:func:`drac_ssl.augment.view_transform`); the preflight
warns when the data's differ (a grey recipe on CIFAR-10)."""
RECIPES = tuple(RECIPE_CHANNELS)
"""The augmentation recipes (``AugmentConfig.recipe``; :func:`drac_ssl.augment.recipe_for`):
``("octa", "fundus", "cifar", "mnist")``, the keys of :data:`RECIPE_CHANNELS`."""
LUMA = (0.299, 0.587, 0.114)
"""RGB -> grey weights, ITU-R BT.601, as torchvision's ``rgb_to_grayscale``."""

# Normalisation constants (mean / std of pixel intensities in [0, 1] units)

# UW-OCTA, 1 channel. Computed once from the three real DRAC 2022 images
# shared/data/drac_samples/sample_{0,1,2}.png (1024 x 1024, 8-bit grey): all 3 x 1024^2
# pixels pooled at full resolution, divided by 255, population mean and std
# (0.35517, 0.23939). tests/drac_ssl/test_datasets.py recomputes them from the files.
OCTA_MEAN: tuple[float, ...] = (0.3552,)
OCTA_STD: tuple[float, ...] = (0.2394,)

# Colour fundus photographs, 3 channels (RGB). Computed once from the 1,200 labelled
# RetinaMNIST images (shared/data/retinamnist/retinamnist_public.npz, train_images +
# val_images, 28 x 28 RGB: real DeepDRiD fundus photographs with their black surround;
# no test image and no label used): all pixels pooled, divided by 255, population mean and
# std per channel (0.39742, 0.24459, 0.15542) / (0.29768, 0.20010, 0.15028).
# tests/drac_ssl/test_datasets.py recomputes them from the file. Used by the ``fundus``
# augmentation recipe (an input normalisation only: BatchNorm follows the first conv), with
# data.graham too: Graham-filtered images (the 30 APTOS samples: means 0.55 / 0.53 / 0.51, stds
# 0.09 / 0.07 / 0.04) are then not centred (docs/data.md, "Colour"); not changed (no run
# measured other statistics), pinned with the docs' figures by tests/drac_ssl/test_graham_normalisation.py.
FUNDUS_MEAN: tuple[float, ...] = (0.3974, 0.2446, 0.1554)
FUNDUS_STD: tuple[float, ...] = (0.2977, 0.2001, 0.1503)

# Standard per-channel statistics of the CIFAR-10 training set (std of pixels, not the
# often-copied (0.2023, 0.1994, 0.2010), which is a std of per-image means).
CIFAR10_MEAN: tuple[float, ...] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, ...] = (0.2470, 0.2435, 0.2616)

# Standard statistics of the MNIST / Fashion-MNIST training sets.
MNIST_MEAN: tuple[float, ...] = (0.1307,)
MNIST_STD: tuple[float, ...] = (0.3081,)
FASHION_MNIST_MEAN: tuple[float, ...] = (0.2860,)
FASHION_MNIST_STD: tuple[float, ...] = (0.3530,)

_NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "octa": (OCTA_MEAN, OCTA_STD),
    "drac": (OCTA_MEAN, OCTA_STD),
    "fundus": (FUNDUS_MEAN, FUNDUS_STD),
    "cifar": (CIFAR10_MEAN, CIFAR10_STD),
    "cifar10": (CIFAR10_MEAN, CIFAR10_STD),
    "mnist": (MNIST_MEAN, MNIST_STD),
    "fashion_mnist": (FASHION_MNIST_MEAN, FASHION_MNIST_STD),
}


def normalization_for(recipe: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(mean, std)`` in [0, 1] units for an augmentation recipe or a dataset name.

    ``recipe`` is one of ``octa | fundus | cifar | mnist`` (``AugmentConfig.recipe``) or a dataset
    name ``drac | cifar10 | mnist | fashion_mnist`` (``DataConfig.dataset``); the dataset
    name is the more precise choice for Fashion-MNIST, whose statistics differ from MNIST.
    Raises ValueError for any other name.
    """
    try:
        return _NORMALIZATION[recipe]
    except KeyError:
        raise ValueError(
            f"no normalisation statistics for {recipe!r}; "
            f"expected one of {', '.join(_NORMALIZATION)}"
        ) from None


def stats_for(values: tuple[float, ...], channels: int) -> tuple[float, ...]:
    """Per-channel statistics for ``channels``: as given when they match, a single value
    repeated, or the luma-weighted (BT.601) mean of RGB statistics for grey images."""
    if len(values) == channels:
        return tuple(values)
    if len(values) == 1:
        return tuple(values) * channels
    if len(values) == 3 and channels == 1:
        return (sum(w * v for w, v in zip(LUMA, values, strict=True)),)
    raise ValueError(f"cannot use {len(values)}-channel statistics for {channels} channels")


def check_recipe(recipe: str, crop_scale: Sequence[float]) -> None:
    """Raise ValueError for a recipe not in :data:`RECIPES` or a ``crop_scale`` (area
    fractions) that is not ``[low, high]`` with ``0 < low <= high <= 1``: the checks of
    :func:`drac_ssl.augment.recipe_for`, which a recorded input format passes too."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown augmentation recipe {recipe!r}; expected {', '.join(RECIPES)}")
    if len(crop_scale) != 2 or not 0 < crop_scale[0] <= crop_scale[1] <= 1:
        raise ValueError(f"augment.crop_scale must be [low, high] in (0, 1], got {crop_scale}")


_QUIET_IMPORT = threading.RLock()
"""Held while :func:`quiet_albumentations` imports albumentations with its one filter in place
(re-entrant: a call from inside that import gets the module being imported, as before)."""


def quiet_albumentations() -> ModuleType:
    """``albumentations``, imported without the ``TqdmWarning: IProgress not found. Please
    update jupyter and ipywidgets`` a Jupyter kernel without ipywidgets printed during a
    training: albumentations imports huggingface_hub, whose ``tqdm.auto`` import warns so in a
    kernel; the package draws no notebook widget there (its bars are plain tqdm, on a terminal
    only: :func:`drac_ssl.console.progress_bar`).

    Once imported, the module is returned as it is (no warnings filter touched). The first
    import adds one ``ignore`` filter for that message (category ``tqdm.TqdmWarning``) to
    :data:`warnings.filters` and removes exactly that entry afterwards, under a lock: every
    other warning is kept, and filters other libraries install while albumentations loads
    (scipy's, say) stay in place (a ``warnings.catch_warnings`` block would drop them when it
    restores its snapshot of the process-wide list).

    Thread-safe: a caller waits for another thread's import to finish. sys.modules holds the
    module from the start of its import, so checking it before taking the lock handed a second
    thread a half-imported module (the app's two first requests at once: ``partially
    initialized module 'albumentations' has no attribute 'Compose'``)."""
    with _QUIET_IMPORT:  # an uncontended lock once imported: well under a microsecond
        if "albumentations" in sys.modules:
            # an import statement, not sys.modules' entry: it waits for an import of it begun
            # elsewhere than here (import's own per-module lock) to finish
            import albumentations

            return albumentations
        try:
            from tqdm.std import TqdmWarning as category
        except ImportError:  # no tqdm: nothing to silence but the same message
            category = Warning  # type: ignore[assignment,misc]
        # the entry warnings.filterwarnings inserts: (action, message, category, module, lineno)
        entry = ("ignore", re.compile("IProgress not found", re.I), category, None, 0)
        added = entry not in warnings.filters  # one the caller set stays theirs
        if added:
            warnings.filters.insert(0, entry)  # type: ignore[attr-defined]
            _warning_filters_changed()
        try:
            import albumentations
        finally:
            if added:
                with contextlib.suppress(ValueError):  # a warnings.resetwarnings() meanwhile
                    warnings.filters.remove(entry)  # type: ignore[attr-defined]
                _warning_filters_changed()
    return albumentations


def _warning_filters_changed() -> None:
    """Tell :mod:`warnings` its filter list changed (its "already warned" caches are reset),
    as :func:`warnings.filterwarnings` does; a no-op where the private hook is missing."""
    mutated = getattr(warnings, "_filters_mutated", None)
    if mutated is not None:
        mutated()


def eval_transform(image_size: int, channels: int, mean: tuple[float, ...],
                   std: tuple[float, ...]) -> Any:
    """Deterministic preprocessing for the fine-tuning's evaluation and inference (the k-NN
    monitor and the low-label bench use :func:`drac_ssl.augment.prepare_images`, whose
    antialiased bilinear resize differs slightly from this one's): an albumentations
    pipeline from uint8 ``(H, W)`` / ``(H, W, C)`` to float32 ``(S, S)`` / ``(S, S, C)``,
    ``S = image_size`` (pixels): resize with ``cv2.INTER_AREA`` (an exact copy when the size
    already matches, as for CIFAR-10 at 32 and MNIST at 28), then ``(x / 255 - mean) / std``
    per channel with ``mean`` / ``std`` in [0, 1] units (:func:`stats_for` of ``channels``).
    No random operation. Raises ValueError for statistics that do not fit ``channels``."""
    import cv2

    A = quiet_albumentations()  # noqa: N806 - albumentations' usual name

    return A.Compose(
        [
            A.Resize(image_size, image_size, interpolation=cv2.INTER_AREA),
            A.Normalize(mean=stats_for(mean, channels), std=stats_for(std, channels),
                        max_pixel_value=255.0),
        ]
    )


def to_chw(image: np.ndarray) -> Tensor:
    """float32 ``(H,W)`` or ``(H,W,C)`` -> contiguous tensor ``(C,H,W)`` (no RGB copies)."""
    import torch

    if image.ndim == 2:
        image = image[None]
    else:
        image = image.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))


def model_input(image: np.ndarray, transform: Any) -> Tensor:
    """One uint8 image ``(H, W)`` or ``(H, W, C)`` through ``transform`` (e.g.
    :func:`eval_transform`) -> the float32 tensor ``(C, S, S)``: a private copy of ``image`` is
    transformed (``image`` is never written to), as :class:`drac_ssl.augment.EvalDataset`
    does for each row."""
    return to_chw(transform(image=np.array(image))["image"])
