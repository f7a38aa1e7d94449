"""Prediction with a grading model or a bundle: preprocessing, TTA, the fold ensemble.

Inference only: nothing here trains, and nothing imports the cross-validation loop.

* :func:`read_image`: an image file in the model's channels (uint8 grey ``(H, W)`` or RGB
  ``(H, W, 3)``), decoded like the ingest, with what was converted;
  :func:`read_image_any`: the grey version of the same.
* :func:`conform_channels`: an array in the model's channels, saying what was converted.
* :func:`preprocess_image`: one image -> the model input ``(C, S, S)``: the ingest's cached
  copy made again (the recorded fundus crop / Graham filter, INTER_AREA resize to the
  cached source size: :func:`data_prep.cache.cache_rows`), then the training's evaluation
  transform (:meth:`drac_ssl.grading.model.InputSpec.eval_transform`). A row of the ingest
  cache (``ingested=True``) skips the first part: it already is that copy.
* :func:`predict_raw`: one model's raw outputs, the mean over the flips :data:`TTA_FLIPS`.
* :func:`predict_tensors` / :func:`predict_images`: a loaded bundle's fold ensemble with flip
  TTA, turned into probabilities, a score and a grade by its stored calibration.

Shared backbone: a bundle fine-tuned with ``finetune.freeze: frozen`` has one backbone for
every fold. :func:`drac_ssl.grading.bundle.load_bundle` makes the fold models hold one
backbone module when the folds' backbone tensors are bit-identical, and
:func:`predict_tensors` then runs it once per TTA view, feeding its feature map to every
fold head (``folds x`` fewer backbone passes). Otherwise (``freeze: last`` / ``all``) every
fold model runs on its own. Both give the same outputs: the shared path performs each fold
model's operations on the same batches in the same order (bit-identical on CPU).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from data_prep.cache import cache_rows, resize_gray
from data_prep.validate import convert_channels, inspect_image
from drac_ssl.augment import EvalDataset
from drac_ssl.grading.model import FEATURE_STAGE, GradingModel, InputSpec
from drac_ssl.models import Backbone

if TYPE_CHECKING:
    from drac_ssl.grading.bundle import Bundle

__all__ = [
    "FLIP_NAMES",
    "TTA_FLIPS",
    "conform_channels",
    "input_spec_of",
    "model_channels",
    "predict_images",
    "predict_raw",
    "predict_tensors",
    "preprocess_image",
    "read_image",
    "read_image_any",
]

TTA_FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))
"""Test-time augmentation: identity, horizontal, vertical, both flips (tensor dims)."""
FLIP_NAMES = {(): "identity", (-1,): "horizontal", (-2,): "vertical", (-2, -1): "both"}
PREDICT_BATCH = 64  # images per forward pass in predict_tensors (predict_raw's default)


# --------------------------------------------------------------------------------------
# Reading and preprocessing images


def read_image_any(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file (PNG, JPEG, TIFF, BMP; grey, RGB/RGBA or 16-bit) as uint8 grey ``(H, W)``.

    Decoded and converted exactly like the ingest of a 1-channel data set
    (:func:`data_prep.validate.inspect_image`: colour -> luminance, 16-bit -> value / 257).
    Raises FileNotFoundError for a missing file and ValueError (with what is wrong and how
    to fix it) for an unreadable one. For a colour model use :func:`read_image`.
    """
    return read_image(path, 1)[0]


def read_image(path: str | os.PathLike[str], channels: int) -> tuple[np.ndarray, list[str]]:
    """An image file in ``channels`` (1: uint8 grey ``(H, W)``, 3: RGB ``(H, W, 3)``) and the
    warnings of what was converted to get there (:func:`conform_channels`).

    Decoded like the ingest (:func:`data_prep.validate.inspect_image`: orientation, 16-bit
    -> 8-bit, palette / alpha ...). Raises FileNotFoundError for a missing file and
    ValueError (what is wrong, how to fix it) for an unreadable one.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such image file")
    decoded = inspect_image(p.read_bytes(), str(p), channels=None, expected_side=None)
    if decoded.pixels is None:
        raise ValueError("; ".join(problem.line for problem in decoded.problems)
                         or f"{p}: cannot be decoded as an image")
    return conform_channels(decoded.pixels, channels, p.name, colour=decoded.colour)


def model_channels(metadata: dict[str, Any]) -> int:
    """The channels a bundle's (or ``model.json``'s) model reads: 1 or 3."""
    section = metadata["input"] if "input" in metadata else metadata
    return int(section.get("channels", 1))


def conform_channels(image: np.ndarray, channels: int, name: str = "image",
                     colour: bool | None = None) -> tuple[np.ndarray, list[str]]:
    """``image`` (uint8 grey ``(H, W)`` / ``(H, W, 1)`` or RGB ``(H, W, 3)``) in the model's
    ``channels`` and a warning for each conversion; never converts silently.

    The rules are the ingest's (:func:`data_prep.validate.convert_channels`), so a file
    graded here reads as it would have read in training:

    * colour image, grey model (1 channel): converted to its luminance (ITU-R BT.601) with a
      warning; an RGB file whose three channels are identical loses nothing (no warning);
    * grey image, colour model (3 channels): replicated into three identical channels with
      a warning: the model was trained on colour photographs, and a grey image is outside
      what it saw (its grade is graded anyway, and says so).

    ``colour``: whether the channels differ (default: computed). Raises ValueError for an
    array that is not uint8 grey or RGB.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"{name}: expected a uint8 grey (H, W) or RGB (H, W, 3) image, got "
                         f"{array.dtype} {array.shape}.\n  fix: read files with "
                         f"drac_ssl.grading.predict.read_image")
    if channels not in (1, 3):
        raise ValueError(f"a model reads 1 or 3 channels, not {channels}")
    if (array.ndim == 2) == (channels == 1):
        return array, []
    if colour is None:
        colour = array.ndim == 3 and not (np.array_equal(array[..., 0], array[..., 1])
                                          and np.array_equal(array[..., 1], array[..., 2]))
    converted, _ = convert_channels(array, name, channels, bool(colour),
                                    "RGB" if array.ndim == 3 else "L")
    if channels == 1:
        if not colour:
            return converted, []  # an RGB file of a grey picture: nothing is lost
        return converted, [f"{name}: colour image converted to grey (luminance, ITU-R BT.601) for "
                           f"this 1-channel model, as the ingest converts colour files of a grey "
                           f"data set; the model never saw colour"]
    return converted, [f"{name}: grey image replicated to 3 identical channels for this colour "
                       f"model, as the ingest does for grey files of a colour data set; the model "
                       f"was trained on colour photographs, so its grade of a grey image is "
                       f"outside what it saw"]


@functools.lru_cache(maxsize=8)
def _eval_transform(spec: InputSpec) -> Any:
    return spec.eval_transform()


def input_spec_of(metadata: dict[str, Any]) -> InputSpec:
    """The :class:`InputSpec` of a bundle's ``metadata.json`` (or of its ``input`` section)."""
    return InputSpec.from_metadata(metadata["input"] if "input" in metadata else metadata)


def preprocess_image(image: np.ndarray, metadata: dict[str, Any], ingested: bool = False) -> Tensor:
    """One uint8 image in the model's channels (grey ``(H, W)`` or RGB ``(H, W, 3)``) -> the
    model input ``(C, S, S)`` float32.

    Exactly the training's path: the ingest's cached copy made again from the image (the
    recorded crop to the fundus disc and Graham filter, when the data had them, around the
    INTER_AREA resize to the cached source size: :func:`data_prep.cache.cache_rows`; a plain
    resize, skipped for an image already at that size, otherwise), then
    :class:`~drac_ssl.augment.EvalDataset` with the evaluation transform (INTER_AREA resize
    to the model size, ``(x / 255 - mean) / std`` per channel). ``ingested``: ``image`` is a
    row of the ingest cache (already that copy; it must be at the source size).
    ``metadata``: a bundle's ``metadata.json`` (or its ``input`` section).

    Raises ValueError for an image in other channels than the model's (convert it
    explicitly with :func:`conform_channels` or read it with :func:`read_image`, which say
    what they converted) and for an ingested row of another size.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    channels = model_channels(metadata)
    want = "grey image (H, W)" if channels == 1 else "RGB image (H, W, 3)"
    has = 1 if array.ndim == 2 else (3 if array.ndim == 3 and array.shape[2] == 3 else 0)
    if array.dtype != np.uint8 or has != channels:
        raise ValueError(
            f"expected a uint8 {want} for this {channels}-channel model, got {array.dtype} "
            f"{array.shape}.\n  fix: read files with drac_ssl.grading.predict.read_image(path, "
            f"{channels}), or convert arrays with conform_channels(image, {channels}): both "
            f"convert colour and grey like the ingest and say so")
    spec = input_spec_of(metadata)
    size = (spec.source_size, spec.source_size)
    if ingested:
        if array.shape[:2] != size:
            raise ValueError(f"an ingest cache row must be {size[0]} x {size[1]} px (the model's "
                             f"source size), got {array.shape[:2]}")
    elif spec.replays_fundus_preprocessing:
        rows, _ = cache_rows(array, [spec.source_size], spec.cache_options(), "image")
        array = rows[spec.source_size]
    elif array.shape[:2] != size:
        array = resize_gray(array, spec.source_size)
    image_tensor, _ = EvalDataset(array[None], _eval_transform(spec))[0]
    return image_tensor

# --------------------------------------------------------------------------------------
# One model


@torch.no_grad()
def predict_raw(model: nn.Module, inputs: Tensor, tta: bool, device: torch.device,
                batch_size: int = 64, bf16: bool = False) -> np.ndarray:
    """Raw outputs ``(n, out)`` of ``model`` on preprocessed inputs ``(n, C, S, S)``: the
    mean over :data:`TTA_FLIPS` with ``tta``, else the identity view. Eval mode."""
    was_training = model.training
    model.eval()
    flips = TTA_FLIPS if tta else TTA_FLIPS[:1]
    out = []
    for start in range(0, len(inputs), batch_size):
        x = inputs[start:start + batch_size].to(device)
        acc = None
        for dims in flips:
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                y = model(x.flip(dims) if dims else x).float()
            acc = y if acc is None else acc + y
        assert acc is not None
        out.append((acc / len(flips)).cpu())
    model.train(was_training)
    return torch.cat(out).double().numpy() if out else np.zeros((0, 1))

# --------------------------------------------------------------------------------------
# The fold ensemble of a bundle


@torch.no_grad()
def _predict_raw_shared(models: Sequence[GradingModel], backbone: Backbone, inputs: Tensor,
                        tta: bool, device: torch.device, batch_size: int = PREDICT_BATCH
                        ) -> list[np.ndarray]:
    """``[predict_raw(model, inputs, tta, device, batch_size) for model in models]`` for fold
    models holding the one module ``backbone``: the backbone runs once per batch and view and
    every head reads its :data:`FEATURE_STAGE` map (:meth:`GradingModel.features_from_map`).
    Same batches, views, order of accumulation and dtypes as :func:`predict_raw`."""
    was_training = [model.training for model in models]
    for model in models:
        model.eval()
    flips = TTA_FLIPS if tta else TTA_FLIPS[:1]
    out: list[list[Tensor]] = [[] for _ in models]
    try:
        for start in range(0, len(inputs), batch_size):
            x = inputs[start:start + batch_size].to(device)
            acc: list[Tensor | None] = [None] * len(models)
            for dims in flips:
                fmap = backbone.forward_until(x.flip(dims) if dims else x, FEATURE_STAGE)
                for i, model in enumerate(models):
                    y = model.head(model.features_from_map(fmap)).float()
                    prev = acc[i]
                    acc[i] = y if prev is None else prev + y
            for i, total in enumerate(acc):
                assert total is not None
                out[i].append((total / len(flips)).cpu())
    finally:
        for model, training in zip(models, was_training, strict=True):
            model.train(training)
    return [torch.cat(parts).double().numpy() if parts else np.zeros((0, 1)) for parts in out]


def predict_tensors(bundle: Bundle, inputs: Tensor, tta: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(probs (n, K), score (n,), grade (n,))`` of the ensemble on preprocessed inputs.

    With a shared backbone (:attr:`Bundle.shared_backbone`) the backbone runs once per batch
    and TTA view for all fold heads; otherwise each fold model runs on its own. Same result.
    """
    shared = bundle.shared_backbone
    if shared is not None and len(bundle.models) > 1:
        raw = _predict_raw_shared(bundle.models, shared, inputs, tta, bundle.device)
    else:
        raw = [predict_raw(model, inputs, tta, bundle.device, batch_size=PREDICT_BATCH)
               for model in bundle.models]
    return bundle.calibration.decide(raw)


def predict_images(bundle: Bundle, images: Sequence[np.ndarray], tta: bool = True,
                   ingested: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Grade uint8 images in the model's channels (any size: preprocessed like the ingest;
    ``ingested``: rows of the ingest cache, see :func:`preprocess_image`).

    Returns ``probs`` ``(n, K)`` (rows sum to 1) and ``classes`` ``(n,)`` int64: the fold
    ensemble's calibrated probabilities and its grade (the calibration's decision: cut at
    the thresholds or argmax), with flip TTA when ``tta``.
    """
    if len(images) == 0:
        return np.zeros((0, bundle.calibration.num_grades)), np.zeros(0, dtype=np.int64)
    inputs = torch.stack([preprocess_image(image, bundle.metadata, ingested) for image in images])
    probs, _, grades = predict_tensors(bundle, inputs, tta)
    return probs, grades
