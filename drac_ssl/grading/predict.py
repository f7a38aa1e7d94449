"""Prediction with a grading model or a bundle: preprocessing, TTA, the fold ensemble.

Inference only: nothing here trains, and nothing imports the cross-validation loop.

* :func:`read_image_any`: an image file as uint8 grey ``(H, W)``, decoded like the ingest.
* :func:`preprocess_image`: one image -> the model input ``(C, S, S)``: INTER_AREA resize to
  the cached source size (what the ingest stored), then the training's evaluation transform
  (:meth:`drac_ssl.grading.model.InputSpec.eval_transform`).
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

from data_prep.cache import resize_gray
from data_prep.validate import inspect_image
from drac_ssl import NUM_GRADES
from drac_ssl.augment import EvalDataset
from drac_ssl.grading.model import FEATURE_STAGE, GradingModel, InputSpec
from drac_ssl.models import Backbone

if TYPE_CHECKING:
    from drac_ssl.grading.bundle import Bundle

__all__ = [
    "FLIP_NAMES",
    "TTA_FLIPS",
    "input_spec_of",
    "predict_images",
    "predict_raw",
    "predict_tensors",
    "preprocess_image",
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

    Decoded and converted exactly like the ingest (:func:`data_prep.validate.inspect_image`:
    colour -> luminance, 16-bit -> value / 257). Raises FileNotFoundError for a missing
    file and ValueError (with what is wrong and how to fix it) for an unreadable one.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such image file")
    decoded = inspect_image(p.read_bytes(), str(p))
    if decoded.gray is None:
        raise ValueError("; ".join(problem.line for problem in decoded.problems)
                         or f"{p}: cannot be decoded as an image")
    return decoded.gray


@functools.lru_cache(maxsize=8)
def _eval_transform(spec: InputSpec) -> Any:
    return spec.eval_transform()


def input_spec_of(metadata: dict[str, Any]) -> InputSpec:
    """The :class:`InputSpec` of a bundle's ``metadata.json`` (or of its ``input`` section)."""
    return InputSpec.from_metadata(metadata["input"] if "input" in metadata else metadata)


def preprocess_image(image: np.ndarray, metadata: dict[str, Any]) -> Tensor:
    """One uint8 grey image ``(H, W)`` -> the model input ``(C, S, S)`` float32.

    Exactly the training's evaluation path: INTER_AREA resize to the cached source size
    (what the ingest stored; a no-op for an image already at that size), then
    :class:`~drac_ssl.augment.EvalDataset` with the evaluation transform (INTER_AREA resize
    to the model size, ``(x / 255 - mean) / std``). ``metadata``: a bundle's
    ``metadata.json`` (or its ``input`` section).
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8 or array.ndim != 2:
        raise ValueError(
            f"expected a uint8 grey image (H, W), got {array.dtype} {array.shape}.\n"
            f"  fix: read files with drac_ssl.grading.predict.read_image_any, which converts RGB and "
            f"16-bit images like the ingest does")
    spec = input_spec_of(metadata)
    if array.shape != (spec.source_size, spec.source_size):
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
    """``(probs (n, 3), score (n,), grade (n,))`` of the ensemble on preprocessed inputs.

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


def predict_images(bundle: Bundle, images: Sequence[np.ndarray], tta: bool = True
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Grade uint8 grey images ``(H, W)`` (any size: resized like the ingest).

    Returns ``probs`` ``(n, 3)`` (rows sum to 1) and ``classes`` ``(n,)`` int64: the fold
    ensemble's calibrated probabilities and thresholded grade, with flip TTA when ``tta``.
    """
    if len(images) == 0:
        return np.zeros((0, NUM_GRADES)), np.zeros(0, dtype=np.int64)
    inputs = torch.stack([preprocess_image(image, bundle.metadata) for image in images])
    probs, _, grades = predict_tensors(bundle, inputs, tta)
    return probs, grades
