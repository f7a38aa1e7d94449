"""The supervised grading loss of the fine-tuning and its inverse-frequency class weights.

Pure functions (no device sync, no state): :mod:`drac_ssl.finetune` trains each fold's
:class:`~drac_ssl.grading.model.GradingModel` with :func:`grading_loss` and weights it with
:func:`class_weights_for` of the fold's training grades. Inference never needs them, so they
live here, not in :mod:`drac_ssl.grading` (docs/design.md: grading/ holds the graded model, no
training code).

* classification heads: cross-entropy of the logits ``(n, K)``, optionally weighted by class;
* the regression head: SmoothL1 (Huber with ``beta = 1``, :func:`torch.nn.functional.smooth_l1_loss`)
  of its single output to the grade as a number, the challenge winner's choice, each sample
  weighted by its grade's class weight.
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F
from torch import Tensor

__all__ = ["class_weights_for", "grading_loss"]


def grading_loss(output: Tensor, grade: Tensor, kind: str, class_weights: Tensor | None) -> Tensor:
    """Training loss, a 0-dim float32 tensor. ``output``: logits ``(n, K)`` (cross-entropy,
    weighted by class when ``class_weights`` ``(K,)`` is given) or a score ``(n, 1)``
    (SmoothL1 to the grade, each sample weighted by its class weight); ``grade``: ``(n,)``
    int64 grades in ``0 .. K-1``; ``kind``: the head's output, ``classification`` or
    (anything else) regression (:data:`drac_ssl.grading.model.HEADS`).

    Non-finite outputs are not refused: nothing is raised, the loss is then NaN or inf (one
    check here would cost a device sync per step). The fine-tuning reads the loss back every
    step anyway and stops the fold on a non-finite one (``FinetuneNonFiniteError`` of
    :mod:`drac_ssl.finetune`)."""
    if kind == "classification":
        return F.cross_entropy(output.float(), grade, weight=class_weights)
    per_sample = F.smooth_l1_loss(output[:, 0].float(), grade.float(), reduction="none")
    if class_weights is None:
        return per_sample.mean()
    w = class_weights[grade]
    return (per_sample * w).sum() / w.sum().clamp_min(1e-12)


def class_weights_for(grades: np.ndarray, num_grades: int | None = None) -> np.ndarray:
    """Inverse-frequency weights ``n / (K * count_k)`` ``(K,)`` float64 (1 for a grade absent
    from ``grades``); ``grades``: ``(n,)`` ints in ``0 .. K-1``; ``K = num_grades`` (default: the
    largest grade + 1; pass the data's K). Raises ValueError for a grade ``>= K``."""
    k = int(num_grades) if num_grades is not None else int(np.max(grades)) + 1
    if len(grades) and int(np.max(grades)) >= k:
        raise ValueError(f"grade {int(np.max(grades))} found, but the scale has {k} grades")
    counts = np.bincount(grades, minlength=k).astype(np.float64)
    return np.where(counts > 0, len(grades) / (k * np.maximum(counts, 1)), 1.0)
