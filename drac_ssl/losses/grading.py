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

__all__ = ["KINDS", "class_weights_for", "grading_loss"]


KINDS: tuple[str, ...] = ("classification", "regression")
"""The heads' outputs :func:`grading_loss` knows: the values of
:data:`drac_ssl.grading.model.HEADS` (a test holds the two equal; not imported, so the losses
reach no grading module)."""


def grading_loss(output: Tensor, grade: Tensor, kind: str, class_weights: Tensor | None) -> Tensor:
    """Training loss, a 0-dim float32 tensor. ``output``: logits ``(n, K)`` (cross-entropy,
    weighted by class when ``class_weights`` ``(K,)`` is given) or a score ``(n, 1)``
    (SmoothL1 to the grade, each sample weighted by its class weight; the weights, of any
    float dtype, are cast to the float32 of the output); ``grade``: ``(n,)``
    int64 grades in ``0 .. K-1``; ``kind``: the head's output, ``classification`` or
    ``regression`` (:data:`KINDS`, the values of :data:`drac_ssl.grading.model.HEADS`).

    Non-finite outputs are not refused: nothing is raised, the loss is then NaN or inf (one
    check here would cost a device sync per step). The fine-tuning reads the loss back every
    step anyway and stops the fold on a non-finite one (``FinetuneNonFiniteError`` of
    :mod:`drac_ssl.finetune`).

    Raises:
        ValueError: ``kind`` not one of :data:`KINDS` (a misspelt ``"classfication"`` was
            once computed as the regression loss); a ``regression`` output not of shape
            ``(n, 1)`` (an ``(n, K)`` output was once read by its first column only); shapes
            PyTorch's losses refuse are theirs (ValueError / RuntimeError / IndexError)."""
    if kind not in KINDS:
        raise ValueError(f"grading_loss: unknown kind {kind!r}; expected one of {', '.join(KINDS)} "
                         f"(the head's output: drac_ssl.grading.model.HEADS[head]).")
    if kind == "classification":
        logits = output.float()
        weight = None if class_weights is None else class_weights.to(logits.dtype)  # float64 weights: torch refused
        return F.cross_entropy(logits, grade, weight=weight)
    if output.ndim != 2 or output.shape[1] != 1:
        raise ValueError(f"grading_loss: kind 'regression' needs the head's single score of shape (n, 1); "
                         f"got an output of shape {tuple(output.shape)}: pass the regression head's output, "
                         f"or kind='classification' for logits (n, K).")
    per_sample = F.smooth_l1_loss(output[:, 0].float(), grade.float(), reduction="none")
    if class_weights is None:
        return per_sample.mean()
    w = class_weights.to(per_sample.dtype)[grade]  # float64 weights would make the loss float64
    return (per_sample * w).sum() / w.sum().clamp_min(1e-12)


def class_weights_for(grades: np.ndarray, num_grades: int | None = None) -> np.ndarray:
    """Inverse-frequency weights ``n / (K * count_k)`` ``(K,)`` float64 (1 for a grade absent
    from ``grades``); ``grades``: ``(n,)`` integers in ``0 .. K-1``; ``K = num_grades`` (default:
    the largest grade + 1; pass the data's K).

    Raises:
        TypeError: ``grades`` not of an integer dtype (floats, even ``1.0``, or booleans: pass
            ``grades.astype(np.int64)`` of whole grades).
        ValueError: ``grades`` not 1-D, a negative grade, a grade ``>= K``, ``num_grades`` < 1,
            or no grades without ``num_grades`` (K cannot be told)."""
    grades = np.asarray(grades)
    if grades.dtype == bool or not (np.issubdtype(grades.dtype, np.integer) or grades.size == 0):
        raise TypeError(f"class_weights_for needs integer grades; got dtype {grades.dtype}: pass "
                        f"grades.astype(np.int64) of whole grades 0 .. K-1.")
    if grades.ndim != 1:
        raise ValueError(f"class_weights_for needs grades of shape (n,); got {grades.shape}.")
    if num_grades is None and not len(grades):
        raise ValueError("class_weights_for got no grades and no num_grades: pass num_grades=K.")
    # the range is read in the grades' own dtype: a uint64 2**63 cast to int64 first wrapped
    # to a negative grade the caller never had
    lowest, highest = (int(np.min(grades)), int(np.max(grades))) if len(grades) else (0, -1)
    if num_grades is None and highest >= np.iinfo(np.int64).max:
        raise ValueError(f"grade {highest} found: no scale has that many grades; grades are 0 .. K-1 "
                         f"(pass num_grades=K).")
    k = int(num_grades) if num_grades is not None else highest + 1
    if k < 1:
        raise ValueError(f"class_weights_for needs num_grades >= 1, got {num_grades}.")
    if lowest < 0:
        raise ValueError(f"grade {lowest} found; grades are 0 .. {k - 1}")
    if highest >= k:
        raise ValueError(f"grade {highest} found, but the scale has {k} grades")
    grades = grades.astype(np.int64, copy=False)
    counts = np.bincount(grades, minlength=k).astype(np.float64)
    return np.where(counts > 0, len(grades) / (k * np.maximum(counts, 1)), 1.0)
