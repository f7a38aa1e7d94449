"""Coding rate and coding rate reduction (MCR^2).

Yu, Chan, You, Song, Ma, "Learning Diverse and Discriminative Representations via the
Principle of Maximal Coding Rate Reduction", NeurIPS 2020; used by UMM (methods.md
section 2) as the outer objective and as a label-free overfitting monitor.

For features ``Z`` of shape ``(m, d)`` (one row per sample, the transpose of the paper's
``d x m`` layout) and a precision ``eps``:

- coding rate       R(Z)   = 1/2 logdet(I_d + d / (m eps^2) Z^T Z)
- compressed rate   R_c    = sum_j tr(Pi_j) / (2m) * logdet(I_d + d / (tr(Pi_j) eps^2) Z^T Pi_j Z)
- rate reduction    Delta R = R - R_c  (>= 0 when every row's memberships sum to 1, by the
  concavity of logdet)

Convention: every ``eps2`` argument **is eps^2** (the paper's default eps^2 = 0.5, i.e.
eps ~ 0.71), not eps. Rows are L2-normalised first when ``normalize=True``, as MCR^2 does.

Self-supervised membership (the default): each image is its own group, formed by its two
views. A group of two rows ``a, b`` has the closed form
``logdet(I + c [a; b]^T [a; b]) = log((1 + c|a|^2)(1 + c|b|^2) - c^2 (a.b)^2)``, so R_c
costs O(n d) instead of n determinants of size d x d.

Everything is computed in at least float32 with autocast disabled, and logdets are taken
on the smaller of the ``d x d`` and ``m x m`` Gram matrices (Sylvester's identity
``logdet(I_d + c Z^T Z) = logdet(I_m + c Z Z^T)``) via a Cholesky factorisation (the
matrix is symmetric with eigenvalues >= 1, so it is always positive definite).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "RateReduction",
    "coding_rate",
    "compress_rate",
    "pair_compress_rate",
    "rate_reduction",
    "rate_reduction_general",
]


class RateReduction(NamedTuple):
    """``delta = total - compress``, each a 0-dim tensor (natural log, "nats")."""

    delta: Tensor
    total: Tensor
    compress: Tensor


def _as_float(z: Tensor) -> Tensor:
    return z if z.dtype == torch.float64 else z.float()


def _check_2d(z: Tensor, name: str = "z") -> None:
    if z.ndim != 2:
        raise ValueError(f"{name} must have shape (rows, dim), got {tuple(z.shape)}.")
    if z.shape[0] < 1:
        raise ValueError(f"{name} has no rows.")


def _check_eps2(eps2: float) -> None:
    if not eps2 > 0:
        raise ValueError(f"eps2 (= eps^2 of the coding rate) must be > 0, got {eps2}.")


def _logdet_identity_plus(z: Tensor, scale: Tensor | float) -> Tensor:
    """``logdet(I_d + scale * z^T z)`` for ``z`` of shape ``(..., m, d)``, batched.

    Uses the smaller Gram matrix (Sylvester) and a Cholesky factorisation.
    ``scale`` is a scalar or a tensor broadcastable to the batch shape ``(...)``.
    """
    m, d = z.shape[-2], z.shape[-1]
    gram = z.mT @ z if d <= m else z @ z.mT
    size = gram.shape[-1]
    if isinstance(scale, Tensor):
        scale = scale[..., None, None]
    eye = torch.eye(size, dtype=gram.dtype, device=gram.device)
    # cholesky_ex does not synchronise with the device to check for errors (plain cholesky
    # would, on every training step) and does not raise on non-finite input: a failed
    # factorisation gives NaN, which the training loop's non-finite check then reports.
    chol, info = torch.linalg.cholesky_ex(eye + scale * gram)
    logdet = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    return torch.where(info == 0, logdet, torch.full_like(logdet, float("nan")))


def coding_rate(z: Tensor, eps2: float = 0.5) -> Tensor:
    """Coding rate ``R(Z) = 1/2 logdet(I_d + d / (m eps^2) Z^T Z)``.

    Args:
        z: ``(m, d)`` features, one row per sample (not normalised here).
        eps2: eps^2, the squared precision (MCR^2 default 0.5).

    Returns:
        0-dim tensor (float32, or float64 for float64 input), differentiable.
    """
    _check_2d(z)
    _check_eps2(eps2)
    with torch.autocast(device_type=z.device.type, enabled=False):
        z = _as_float(z)
        m, d = z.shape
        return 0.5 * _logdet_identity_plus(z, d / (m * eps2))


def pair_compress_rate(z_a: Tensor, z_b: Tensor, eps2: float = 0.5) -> Tensor:
    """Compressed coding rate R_c where row ``i`` of ``z_a`` and of ``z_b`` form group ``i``.

    Hard membership, ``n`` groups of two among ``m = 2n`` rows: each group has weight
    ``tr(Pi_j) / (2m) = 2 / (2m)`` and scale ``c = d / (2 eps^2)``, and its logdet has the
    closed form ``log((1 + c|a|^2)(1 + c|b|^2) - c^2 (a.b)^2)``, evaluated as
    ``log1p(c(|a|^2 + |b|^2) + c^2 (|a|^2 |b|^2 - (a.b)^2))`` with the Gram determinant
    clamped at 0 (Cauchy-Schwarz). O(n d).

    Args:
        z_a, z_b: ``(n, d)`` features of the two views (not normalised here).
        eps2: eps^2.

    Returns:
        0-dim tensor ``R_c = 1/m sum_i logdet_i``.
    """
    _check_2d(z_a, "z_a")
    if z_a.shape != z_b.shape:
        raise ValueError(
            f"z_a and z_b must have the same shape (n, d), got {tuple(z_a.shape)} and "
            f"{tuple(z_b.shape)}."
        )
    _check_eps2(eps2)
    with torch.autocast(device_type=z_a.device.type, enabled=False):
        z_a, z_b = _as_float(z_a), _as_float(z_b)
        n, d = z_a.shape
        m = 2 * n
        c = d / (2.0 * eps2)
        aa = z_a.pow(2).sum(1)
        bb = z_b.pow(2).sum(1)
        ab = (z_a * z_b).sum(1)
        gram_det = (aa * bb - ab.pow(2)).clamp_min(0.0)
        logdets = torch.log1p(c * (aa + bb) + c * c * gram_det)
        return logdets.sum() * (2.0 / (2.0 * m))


def compress_rate(z: Tensor, membership: Tensor, eps2: float = 0.5) -> Tensor:
    """General compressed coding rate for a (hard or soft) membership matrix.

    ``R_c = sum_j tr(Pi_j) / (2m) * logdet(I_d + d / (tr(Pi_j) eps^2) Z^T Pi_j Z)`` with
    ``Pi_j = diag(membership[j])``. Groups with ``tr(Pi_j) = 0`` contribute nothing.

    Args:
        z: ``(m, d)`` features (not normalised here).
        membership: ``(k, m)`` non-negative weights, row ``j`` = group ``j``; hard 0/1 (bool
            or numeric) or soft. For Delta R >= 0 every column should sum to 1.
        eps2: eps^2.

    Returns:
        0-dim tensor. Cost: k Cholesky factorisations of size ``min(m, d)``.
    """
    _check_2d(z)
    _check_eps2(eps2)
    if membership.ndim != 2 or membership.shape[1] != z.shape[0]:
        raise ValueError(
            f"membership must have shape (groups, rows) = (k, {z.shape[0]}), got "
            f"{tuple(membership.shape)}."
        )
    with torch.autocast(device_type=z.device.type, enabled=False):
        z = _as_float(z)
        pi = membership.to(dtype=z.dtype, device=z.device)
        if bool((pi < 0).any()):
            raise ValueError("membership weights must be non-negative.")
        m, d = z.shape
        traces = pi.sum(1)  # (k,)
        keep = traces > 0
        pi, traces = pi[keep], traces[keep]
        weighted = pi.sqrt()[:, :, None] * z[None]  # (k, m, d): Z^T Pi Z = (sqrt(Pi)Z)^T(sqrt(Pi)Z)
        logdets = _logdet_identity_plus(weighted, d / (traces * eps2))
        return (traces / (2.0 * m) * logdets).sum()


def rate_reduction(
    z_a: Tensor, z_b: Tensor, eps2: float = 0.5, normalize: bool = True
) -> RateReduction:
    """Self-supervised rate reduction: the two views of each image form one group.

    Args:
        z_a, z_b: ``(n, d)`` features of the two views.
        eps2: eps^2.
        normalize: L2-normalise every row first (as MCR^2 does).

    Returns:
        :class:`RateReduction` with ``total = R([z_a; z_b])`` over the ``2n x d`` stack,
        ``compress`` = :func:`pair_compress_rate` and ``delta = total - compress``.
    """
    if normalize:
        z_a = F.normalize(_as_float(z_a), dim=1)
        z_b = F.normalize(_as_float(z_b), dim=1)
    compress = pair_compress_rate(z_a, z_b, eps2)
    total = coding_rate(torch.cat([z_a, z_b], dim=0), eps2)
    return RateReduction(total - compress, total, compress)


def rate_reduction_general(
    z: Tensor, membership: Tensor, eps2: float = 0.5, normalize: bool = True
) -> RateReduction:
    """Rate reduction for any membership matrix (reference for the closed form, soft groups).

    Args:
        z: ``(m, d)`` features.
        membership: ``(k, m)`` non-negative group weights (see :func:`compress_rate`).
        eps2: eps^2.
        normalize: L2-normalise every row first.

    Returns:
        :class:`RateReduction` of 0-dim tensors.
    """
    if normalize:
        z = F.normalize(_as_float(z), dim=1)
    compress = compress_rate(z, membership, eps2)
    total = coding_rate(z, eps2)
    return RateReduction(total - compress, total, compress)
